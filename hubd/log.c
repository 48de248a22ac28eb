/* log.c -- timestamped, escaped log lines on stderr. */
#include "config.h"

#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static int current_level = LOG_INFO;
static const char *const level_names[] = {"error", "warn", "info", "debug"};

void log_set_level(int level)
{
	current_level = level;
}

int log_level_from_name(const char *name)
{
	for (int i = 0; i < 4; i++)
		if (strcasecmp(name, level_names[i]) == 0)
			return i;
	return -1;
}

static void log_v(int level, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void log_v(int level, const char *fmt, va_list ap)
{
	char text[2048], line[4096 + 64];
	vsnprintf(text, sizeof text, fmt, ap);

	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
	n += (size_t)snprintf(line + n, sizeof line - n, ".%03ldZ hubd[%d] %s: ",
			      ts.tv_nsec / 1000000, (int)getpid(), level_names[level]);
	for (const unsigned char *p = (const unsigned char *)text; *p && n < sizeof line - 6; p++) {
		if (*p < 0x20 || *p == 0x7f)
			n += (size_t)snprintf(line + n, sizeof line - n, "\\x%02x", *p);
		else
			line[n++] = (char)*p;
	}
	line[n++] = '\n';
	ssize_t w = write(STDERR_FILENO, line, n);
	(void)w;
}

void log_msg(int level, const char *fmt, ...)
{
	if (level > current_level)
		return;
	va_list ap;
	va_start(ap, fmt);
	log_v(level, fmt, ap);
	va_end(ap);
}

void fatal(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_v(LOG_ERROR, fmt, ap);
	va_end(ap);
	exit(1);
}
