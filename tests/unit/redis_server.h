/* redis_server.h -- a real redis-server for unit tests: started on a free
 * loopback port in a temporary folder (append-only file, fsync always),
 * stopped by pid and removed at exit; redis_stop / redis_start stop it
 * and start it again on the same port and folder. run() sends the test's
 * own commands. Header-only (static), after testlib.h and util.h. */
#ifndef HUBD_REDIS_SERVER_H
#define HUBD_REDIS_SERVER_H

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "util.h"

#define REDIS_SERVER "/usr/bin/redis-server"
#define REDIS_WAIT_MS 10000

static pid_t redis_pid;
static int redis_port;
static char redis_dir[256];
static char redis_addr[64];

/* ---- the server --------------------------------------------------------- */

static inline int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof a;
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
		perror("free_port");
		exit(1);
	}
	close(fd);
	return ntohs(a.sin_port);
}

/* A blocking connection for the test's own commands, or NULL. */
static inline redisContext *admin(void)
{
	struct timeval tv = {2, 0};
	redisContext *c = redisConnectWithTimeout("127.0.0.1", redis_port, tv);
	if (c && c->err) {
		redisFree(c);
		return NULL;
	}
	return c;
}

/* Runs a command (printf-style, as redisCommand) and returns its integer
 * answer, or -1; a string answer is copied into out when given. */
static inline long long run(char *out, size_t outlen, const char *fmt, ...)
{
	redisContext *c = admin();
	long long v = -1;
	if (!c)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	redisReply *r = redisvCommand(c, fmt, ap);
	va_end(ap);
	if (r && r->type == REDIS_REPLY_INTEGER)
		v = r->integer;
	if (r && out && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS)) {
		snprintf(out, outlen, "%s", r->str);
		v = 0;
	}
	freeReplyObject(r);
	redisFree(c);
	return v;
}

static inline void redis_start(void)
{
	char port[16];
	snprintf(port, sizeof port, "%d", redis_port);
	redis_pid = fork();
	if (redis_pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 1);
		execl(REDIS_SERVER, REDIS_SERVER, "--port", port, "--bind", "127.0.0.1", "--save", "",
		      "--appendonly", "yes", "--appendfsync", "always", "--dir", redis_dir,
		      "--daemonize", "no", (char *)NULL);
		_exit(127);
	}
	int64_t end = mono_ms() + REDIS_WAIT_MS;
	char pong[16] = "";
	while (mono_ms() < end && (run(pong, sizeof pong, "PING") < 0 || strcmp(pong, "PONG")))
		usleep(20000);
	if (strcmp(pong, "PONG") != 0) {
		fprintf(stderr, "redis-server did not start on port %d\n", redis_port);
		kill(redis_pid, SIGKILL);
		exit(1);
	}
}

static inline void redis_stop(void)
{
	if (redis_pid <= 0)
		return;
	kill(redis_pid, SIGTERM);
	int st;
	while (waitpid(redis_pid, &st, 0) < 0 && errno == EINTR)
		;
	redis_pid = 0;
}

static inline bool redis_server_installed(void)
{
	return access(REDIS_SERVER, X_OK) == 0;
}

static inline void redis_server_cleanup(void)
{
	redis_stop();
	char p[400];
	snprintf(p, sizeof p, "rm -rf '%s'", redis_dir);
	if (system(p) != 0)
		fprintf(stderr, "cannot remove %s\n", redis_dir);
}

/* Starts the server (exit 1 when it does not come up); it is stopped and
 * its folder removed at exit. */
static inline void redis_server_begin(void)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(redis_dir, sizeof redis_dir, "%s/hubd-test-redis-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(redis_dir)) {
		perror("mkdtemp");
		exit(1);
	}
	redis_port = free_port();
	snprintf(redis_addr, sizeof redis_addr, "127.0.0.1:%d", redis_port);
	redis_start();
	atexit(redis_server_cleanup);
}

#endif
