/* util.c -- allocation wrappers, growable buffer, time and string helpers. */
#include "config.h"

#include "util.h"
#include "utf8.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

static void oom(size_t n)
{
	fprintf(stderr, "out of memory allocating %zu bytes\n", n);
	abort();
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		oom(n);
	return p;
}

void *xcalloc(size_t count, size_t size)
{
	void *p = calloc(count ? count : 1, size ? size : 1);
	if (!p)
		oom(count * size);
	return p;
}

void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		oom(n);
	return q;
}

char *xstrdup(const char *s)
{
	return xmemdup(s, strlen(s));
}

char *xmemdup(const void *p, size_t n)
{
	char *q = xmalloc(n + 1);
	if (n)
		memcpy(q, p, n);
	q[n] = '\0';
	return q;
}

void buf_reserve(struct buf *b, size_t extra)
{
	size_t need = b->len + extra + 1;
	if (need <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap *= 2;
	b->p = xrealloc(b->p, cap);
	b->cap = cap;
}

void buf_add(struct buf *b, const void *data, size_t n)
{
	buf_reserve(b, n);
	if (n)
		memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void buf_adds(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

void buf_addc(struct buf *b, char c)
{
	buf_add(b, &c, 1);
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	buf_reserve(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void buf_free(struct buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

char *buf_steal(struct buf *b, size_t *len)
{
	char *p = b->p ? b->p : xstrdup("");
	if (len)
		*len = b->len;
	b->p = NULL;
	b->len = b->cap = 0;
	return p;
}

int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool has_line_break(const char *s, size_t n)
{
	return memchr(s, '\n', n) != NULL || memchr(s, '\r', n) != NULL;
}

bool parse_digits(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	if (!s || !*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		unsigned d = (unsigned)(*s - '0');
		if (v > (max - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

void buf_add_json_string(struct buf *b, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	buf_reserve(b, n + 2);
	buf_addc(b, '"');
	for (size_t i = 0; i < n;) {
		unsigned char c = u[i];
		if (c == '"' || c == '\\') {
			buf_addc(b, '\\');
			buf_addc(b, (char)c);
			i++;
		} else if (c < 0x20 || c == 0x7f) {
			switch (c) {
			case '\n': buf_adds(b, "\\n"); break;
			case '\r': buf_adds(b, "\\r"); break;
			case '\t': buf_adds(b, "\\t"); break;
			default: buf_printf(b, "\\u%04x", c); break;
			}
			i++;
		} else {
			uint32_t cp;
			size_t len = utf8_decode(s + i, n - i, &cp);
			if (len == 0) {
				buf_adds(b, "\\ufffd");
				i++;
			} else {
				buf_add(b, u + i, len);
				i += len;
			}
		}
	}
	buf_addc(b, '"');
}

bool random_bytes(void *p, size_t n)
{
	unsigned char *q = p;
	while (n > 0) {
		ssize_t r = getrandom(q, n, 0);
		if (r < 0)
			return false;
		q += r;
		n -= (size_t)r;
	}
	return true;
}

bool parse_range(const char *s, uint64_t max, uint64_t *lo, uint64_t *hi)
{
	char first[24];
	const char *dash = s ? strchr(s, '-') : NULL;
	uint64_t a, b;
	if (!dash) {
		if (!parse_digits(s, max, &a))
			return false;
		*lo = *hi = a;
		return true;
	}
	size_t n = (size_t)(dash - s);
	if (n == 0 || n >= sizeof first)
		return false;
	memcpy(first, s, n);
	first[n] = '\0';
	if (!parse_digits(first, max, &a) || !parse_digits(dash + 1, max, &b) || a > b)
		return false;
	*lo = a;
	*hi = b;
	return true;
}

uint64_t random_between(uint64_t lo, uint64_t hi)
{
	uint64_t r;
	if (!random_bytes(&r, sizeof r))
		r = (uint64_t)mono_ms() * 0x9e3779b97f4a7c15u + (uint64_t)now_ms();
	uint64_t span = hi - lo;
	/* The modulo's bias is below 2^-40 for any span a delay has. */
	return span == UINT64_MAX ? r : lo + r % (span + 1);
}
