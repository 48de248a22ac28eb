/* loadgen.c -- epoll load generator for the hubd benchmarks: many SSE subscribers or HTTP publishers. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

/*
 * Message format shared by both modes: the publisher sends
 * data = "SEQ TIMESTAMP_NS STREAM", where STREAM names one publishing
 * connection and SEQ counts 0, 1, 2, ... on that connection. A connection
 * has at most one publish in flight, so the hub must deliver each stream in
 * order; TIMESTAMP_NS is CLOCK_REALTIME when the request was written.
 *
 * Two kinds of hub (--target):
 *   hubd   Mercure: GET PATH?topic=T (Accept: text/event-stream);
 *          POST PATH, form body topic=T&data=SEQ+TS+STREAM, Bearer JWT.
 *   nchan  nginx + Nchan: GET PATH?id=T (Accept: text/event-stream, the
 *          subscriber location's PATH); POST PATH?id=T (the publisher
 *          location's PATH), raw text/plain body "SEQ TS STREAM".
 * Both answer a publish with 2xx once accepted and stream SSE events whose
 * data is exactly what was published, so the checks below are the same.
 */

#define HDR_MAX (16 * 1024)      /* largest response header block accepted */
#define LINE_MAX_LEN (64 * 1024) /* longest SSE line kept; longer are cut */
#define DATA_KEEP 64             /* bytes of an event's data kept for parsing */
#define MAX_STREAMS 4096         /* highest STREAM number tracked + 1 */
#define RBUF_SIZE (256 * 1024)

/* ---- small helpers ------------------------------------------------------ */

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("loadgen: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(2);
}

static void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (!q)
		die("out of memory");
	return q;
}

static void *xcalloc(size_t count, size_t size)
{
	void *p = calloc(count ? count : 1, size ? size : 1);

	if (!p)
		die("out of memory");
	return p;
}

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t mono_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

static uint64_t real_ns(void)
{
	return clock_ns(CLOCK_REALTIME);
}

/* Appends the %-encoding of s (RFC 3986 unreserved kept) to out, which must
 * have room for 3 * strlen(s) + 1 bytes. */
static void url_encode(char *out, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_' || ch == '~') {
			*out++ = (char)ch;
		} else {
			*out++ = '%';
			*out++ = hex[ch >> 4];
			*out++ = hex[ch & 15];
		}
	}
	*out = '\0';
}

/* ---- latency histogram ---------------------------------------------------
 * Log-linear: values below 64 are exact, above that each power of two is cut
 * into 32 buckets (about 3% resolution). Values are microseconds. */

#define HIST_SUB_BITS 5
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_LINEAR (2 * HIST_SUB)
#define HIST_BUCKETS (HIST_LINEAR + (64 - HIST_SUB_BITS - 1) * HIST_SUB)

struct hist {
	uint64_t n;
	uint64_t max;
	uint64_t b[HIST_BUCKETS];
};

static unsigned hist_bucket(uint64_t v)
{
	unsigned e, sub;

	if (v < HIST_LINEAR)
		return (unsigned)v;
	e = 63u - (unsigned)__builtin_clzll(v);
	sub = (unsigned)(v >> (e - HIST_SUB_BITS)) & (HIST_SUB - 1);
	return HIST_LINEAR + (e - HIST_SUB_BITS - 1) * HIST_SUB + sub;
}

/* The middle of bucket i. */
static uint64_t hist_value(unsigned i)
{
	unsigned k, e, sub;
	uint64_t low, width;

	if (i < HIST_LINEAR)
		return i;
	k = i - HIST_LINEAR;
	e = k / HIST_SUB + HIST_SUB_BITS + 1;
	sub = k % HIST_SUB;
	low = (uint64_t)(HIST_SUB + sub) << (e - HIST_SUB_BITS);
	width = (uint64_t)1 << (e - HIST_SUB_BITS);
	return low + (width - 1) / 2;
}

static void hist_add(struct hist *h, uint64_t v)
{
	h->b[hist_bucket(v)]++;
	h->n++;
	if (v > h->max)
		h->max = v;
}

/* The p-quantile (0 < p <= 1) in the histogram's unit; 0 when empty. */
static uint64_t hist_quantile(const struct hist *h, double p)
{
	uint64_t want, seen = 0;
	unsigned i;

	if (h->n == 0)
		return 0;
	want = (uint64_t)(p * (double)h->n);
	if ((double)want < p * (double)h->n)
		want++;
	if (want == 0)
		want = 1;
	for (i = 0; i < HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= want) {
			uint64_t v = hist_value(i);

			return v > h->max ? h->max : v;
		}
	}
	return h->max;
}

/* CPU seconds (user + system) this process has used. */
static double cpu_seconds(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) < 0)
		return 0;
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static double us_to_ms(uint64_t us)
{
	return (double)us / 1000.0;
}

/* ---- configuration -------------------------------------------------------- */

enum mode { MODE_SUBSCRIBE, MODE_PUBLISH };
enum target { TARGET_HUBD, TARGET_NCHAN };

static struct {
	enum mode mode;
	enum target target;
	const char *last_event_id; /* sent as Last-Event-ID by subscribers */
	struct sockaddr_in dst;
	char host[300];   /* Host header value */
	char path[1024];  /* request path, no query */
	const char *topic;
	const char *topic_format; /* per-subscriber / per-publish topic, %d = index */
	long index_base;
	long topic_count;
	const char *status_file;
	bool reset_on_exit;
	const char *token;
	long count;
	double duration;
	long expect;
	long max_pending;
	double connect_timeout;
	const char *ready_file;
	bool hist;
	double rate;
	long conns;
	bool closed_loop;
	long total;
	long stream_base;
	struct in_addr src[256];
	int nsrc;
} cfg;

static volatile sig_atomic_t stop_flag;
static volatile sig_atomic_t status_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static void on_usr1(int sig)
{
	(void)sig;
	status_flag = 1;
}

/* The length of --topic-format with %d replaced by idx and %% by %, plus 1;
 * 0 when the format has another conversion. Writes it to out when out_cap
 * is large enough. */
static size_t format_topic(char *out, size_t out_cap, const char *fmt, long idx)
{
	char num[24];
	size_t n = 0, nl = (size_t)snprintf(num, sizeof num, "%ld", idx);

	for (const char *p = fmt; *p; p++) {
		const char *add = p;
		size_t len = 1;

		if (*p == '%') {
			if (p[1] == 'd') {
				add = num;
				len = nl;
			} else if (p[1] != '%') {
				return 0;
			}
			p++;
		}
		if (n + len < out_cap)
			memcpy(out + n, add, len);
		n += len;
	}
	if (n < out_cap)
		out[n] = '\0';
	return n + 1;
}

/* Room for the %-encoding of any topic --topic-format makes. */
static size_t topic_enc_cap(void)
{
	const char *t = cfg.topic_format ? cfg.topic_format : cfg.topic;
	size_t n = strlen(t) + 1, k = 0;

	for (const char *p = t; cfg.topic_format && *p; p++)
		if (p[0] == '%' && p[1] == 'd')
			k++;
	return 3 * (n + 24 * k) + 1;
}

/* ---- connections ---------------------------------------------------------- */

enum conn_state {
	ST_CLOSED,     /* no socket (publisher waiting to reconnect, or finished) */
	ST_CONNECTING, /* TCP connect in progress */
	ST_SENDING,    /* request partly written */
	ST_HEADERS,    /* waiting for the response header block */
	ST_BODY,       /* reading a response body (a stream for subscribers) */
	ST_IDLE,       /* publisher: connected, nothing in flight */
	ST_FAILED,     /* subscriber: never got a stream */
	ST_ENDED,      /* subscriber: had a stream, it ended */
};

enum body_mode { BODY_CHUNKED, BODY_LENGTH, BODY_EOF };

enum chunk_state { CH_SIZE, CH_EXT, CH_DATA, CH_DATA_END, CH_TRAILER, CH_TRAILER_LINE, CH_DONE };

/* Per-stream sequence tracking inside one subscriber. */
struct track {
	uint64_t top;    /* highest SEQ seen + 1; 0 when none seen */
	uint64_t window; /* bit i set: SEQ top-1-i was seen */
};

struct conn {
	int fd;
	enum conn_state state;
	uint32_t idx;
	uint64_t t_start; /* monotonic ns: connect start or request start */

	/* request being written */
	const char *out;
	size_t out_len, out_off;

	/* response */
	char *hdr; /* header bytes until the block is complete */
	size_t hdr_len;
	int status;
	bool conn_close;
	enum body_mode body;
	uint64_t body_left;
	enum chunk_state ch;
	uint64_t ch_size;

	/* SSE parser (subscribers) */
	char *line;
	size_t line_len, line_cap;
	bool skip_lf;
	bool have_data;
	uint8_t data_len;
	char data[DATA_KEEP + 1];

	/* sequence checks (subscribers) */
	struct track *tr;
	uint32_t ntr;
	uint64_t unique;
	uint64_t gaps;
	bool done; /* reached --expect */

	bool got_one; /* received at least one update */

	/* publisher */
	char *topic_enc; /* this request's topic (--topic-format) */
	char *req;
	size_t req_cap;
	uint64_t seq;
	uint32_t stream;
	uint64_t reconnect_at;
};

static int epfd;
static struct conn *conns;
static long nconns;
static char rbuf[RBUF_SIZE];
static char *sub_request;
static size_t sub_request_len;
static const char *body_topic_enc;

/* results */
static struct {
	long connected, failed, ended, pending, started, done, waiting;
	uint64_t connect_wall_start, connect_wall_end;
	struct hist connect;
	struct hist latency;
	struct hist latency_iv; /* since the last --status-file write */
	uint64_t iv_first, iv_last; /* CLOCK_REALTIME of its first and last update */
	uint64_t deliveries, other_events, bytes;
	uint64_t first_event_mono, last_done_mono; /* first update; last reaching --expect */
	long receivers; /* subscribers with at least one update */
	uint64_t duplicates, out_of_order;
	uint64_t first_delivery, last_delivery;
	char first_error[160];
	/* publisher */
	uint64_t published, acked, acked_in_time, errors;
	struct hist ack;
	uint64_t lag_max;
	long idle_n;
} R;

static struct conn **idle_stack;
static uint64_t pub_topic_next; /* publishes sent with --topic-format */

static void note_error(const char *what, int err)
{
	if (R.first_error[0])
		return;
	if (err)
		snprintf(R.first_error, sizeof R.first_error, "%s: %s", what, strerror(err));
	else
		snprintf(R.first_error, sizeof R.first_error, "%s", what);
}

static void conn_close_fd(struct conn *c)
{
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	free(c->hdr);
	c->hdr = NULL;
	c->hdr_len = 0;
}

/* Starts a non-blocking connect. Returns 0, or an errno value. */
static int conn_connect(struct conn *c)
{
	static unsigned next_src;
	struct epoll_event ev;
	int fd, one = 1;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errno;
	if (cfg.nsrc > 0) {
		struct sockaddr_in sa;

		memset(&sa, 0, sizeof sa);
		sa.sin_family = AF_INET;
		sa.sin_addr = cfg.src[next_src++ % (unsigned)cfg.nsrc];
		setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
		if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
			int err = errno;

			close(fd);
			return err;
		}
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(fd, (struct sockaddr *)&cfg.dst, sizeof cfg.dst) < 0 && errno != EINPROGRESS) {
		int err = errno;

		close(fd);
		return err;
	}
	memset(&ev, 0, sizeof ev);
	ev.events = EPOLLIN | EPOLLOUT;
	ev.data.ptr = c;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int err = errno;

		close(fd);
		return err;
	}
	c->fd = fd;
	c->state = ST_CONNECTING;
	c->t_start = mono_ns();
	return 0;
}

static void conn_want_write(struct conn *c, bool on)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof ev);
	ev.events = EPOLLIN | (on ? EPOLLOUT : 0);
	ev.data.ptr = c;
	epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Writes what is left of the request. Returns 1 when all is written, 0 when
 * the socket is full, -1 on error (errno set). */
static int conn_flush(struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			if (errno == EINTR)
				continue;
			return -1;
		}
		c->out_off += (size_t)n;
	}
	return 1;
}

static void resp_reset(struct conn *c)
{
	c->status = 0;
	c->conn_close = false;
	c->body = BODY_EOF;
	c->body_left = 0;
	c->ch = CH_SIZE;
	c->ch_size = 0;
}

/* Parses a complete header block (NUL-terminated, ends in CRLF CRLF). */
static int resp_parse_headers(struct conn *c, char *h)
{
	char *line, *save = NULL;
	bool chunked = false, have_len = false;
	uint64_t len = 0;

	resp_reset(c);
	line = strtok_r(h, "\r\n", &save);
	if (!line || strncmp(line, "HTTP/1.", 7) != 0)
		return -1;
	if (line[7] == '0')
		c->conn_close = true;
	{
		char *sp = strchr(line, ' ');

		if (!sp)
			return -1;
		c->status = atoi(sp + 1);
	}
	while ((line = strtok_r(NULL, "\r\n", &save)) != NULL) {
		char *colon = strchr(line, ':');
		char *v;

		if (!colon)
			continue;
		*colon = '\0';
		v = colon + 1;
		while (*v == ' ' || *v == '\t')
			v++;
		if (strcasecmp(line, "transfer-encoding") == 0 && strcasestr(v, "chunked"))
			chunked = true;
		else if (strcasecmp(line, "content-length") == 0) {
			have_len = true;
			len = strtoull(v, NULL, 10);
		} else if (strcasecmp(line, "connection") == 0) {
			if (strcasestr(v, "close"))
				c->conn_close = true;
			else if (strcasestr(v, "keep-alive"))
				c->conn_close = false;
		}
	}
	if (chunked) {
		c->body = BODY_CHUNKED;
	} else if (have_len) {
		c->body = BODY_LENGTH;
		c->body_left = len;
	} else if (c->status == 204 || c->status == 304 || c->status < 200) {
		c->body = BODY_LENGTH;
		c->body_left = 0;
	} else {
		c->body = BODY_EOF;
		c->conn_close = true;
	}
	return 0;
}

/* ---- subscriber side ------------------------------------------------------ */

static void sub_record(struct conn *c, uint64_t seq, uint64_t stream, uint64_t ts, uint64_t now_real)
{
	struct track *t;
	uint64_t lat_us;

	lat_us = now_real > ts ? (now_real - ts) / 1000 : 0;
	hist_add(&R.latency, lat_us);
	hist_add(&R.latency_iv, lat_us);
	if (!R.iv_first)
		R.iv_first = now_real;
	R.iv_last = now_real;
	R.deliveries++;
	if (!R.first_event_mono)
		R.first_event_mono = mono_ns();
	if (!c->got_one) {
		c->got_one = true;
		R.receivers++;
	}
	if (!R.first_delivery)
		R.first_delivery = now_real;
	R.last_delivery = now_real;

	if (stream >= MAX_STREAMS) {
		R.other_events++;
		return;
	}
	if (stream >= c->ntr) {
		uint32_t n = (uint32_t)stream + 1;

		c->tr = xrealloc(c->tr, n * sizeof *c->tr);
		memset(c->tr + c->ntr, 0, (n - c->ntr) * sizeof *c->tr);
		c->ntr = n;
	}
	t = &c->tr[stream];
	if (seq >= t->top) {
		uint64_t shift = seq + 1 - t->top;

		c->gaps += seq - t->top;
		t->window = shift >= 64 ? 0 : t->window << shift;
		t->window |= 1;
		t->top = seq + 1;
		c->unique++;
	} else {
		uint64_t d = t->top - 1 - seq;

		if (d >= 64 || (t->window & ((uint64_t)1 << d))) {
			R.duplicates++;
		} else {
			t->window |= (uint64_t)1 << d;
			R.out_of_order++;
			c->unique++;
			if (c->gaps)
				c->gaps--;
		}
	}
	if (cfg.expect > 0 && !c->done && c->unique >= (uint64_t)cfg.expect) {
		c->done = true;
		R.done++;
		R.waiting--;
		R.last_done_mono = mono_ns();
	}
}

static uint64_t now_real_cached;

static void sse_dispatch(struct conn *c)
{
	char *p, *end;
	uint64_t seq, ts, stream = 0;

	if (!c->have_data)
		return;
	c->have_data = false;
	c->data[c->data_len] = '\0';
	c->data_len = 0;
	p = c->data;
	if (*p < '0' || *p > '9')
		goto other;
	seq = strtoull(p, &end, 10);
	if (*end != ' ')
		goto other;
	p = end + 1;
	ts = strtoull(p, &end, 10);
	if (end == p)
		goto other;
	if (*end == ' ') {
		p = end + 1;
		stream = strtoull(p, &end, 10);
		if (end == p)
			goto other;
	}
	sub_record(c, seq, stream, ts, now_real_cached);
	return;
other:
	R.other_events++;
}

static void sse_line(struct conn *c, const char *s, size_t n)
{
	const char *colon, *v;
	size_t flen, vlen;

	if (n == 0) {
		sse_dispatch(c);
		return;
	}
	if (s[0] == ':')
		return;
	colon = memchr(s, ':', n);
	flen = colon ? (size_t)(colon - s) : n;
	v = colon ? colon + 1 : s + n;
	vlen = colon ? n - flen - 1 : 0;
	if (vlen && *v == ' ') {
		v++;
		vlen--;
	}
	if (flen == 4 && memcmp(s, "data", 4) == 0) {
		if (c->have_data && c->data_len < DATA_KEEP)
			c->data[c->data_len++] = '\n';
		c->have_data = true;
		if (vlen > (size_t)(DATA_KEEP - c->data_len))
			vlen = (size_t)(DATA_KEEP - c->data_len);
		memcpy(c->data + c->data_len, v, vlen);
		c->data_len = (uint8_t)(c->data_len + vlen);
	}
}

static void line_append(struct conn *c, const char *p, size_t n)
{
	if (c->line_len + n > LINE_MAX_LEN)
		n = LINE_MAX_LEN - c->line_len;
	if (c->line_len + n > c->line_cap) {
		size_t cap = c->line_cap ? c->line_cap : 256;

		while (cap < c->line_len + n)
			cap *= 2;
		c->line = xrealloc(c->line, cap);
		c->line_cap = cap;
	}
	memcpy(c->line + c->line_len, p, n);
	c->line_len += n;
}

/* Feeds decoded stream bytes to the SSE parser (lines end in CR, LF or CRLF). */
static void sse_feed(struct conn *c, const char *p, size_t n)
{
	size_t i = 0;

	if (c->skip_lf && n > 0) {
		if (p[0] == '\n')
			i = 1;
		c->skip_lf = false;
	}
	while (i < n) {
		size_t j = i;

		while (j < n && p[j] != '\n' && p[j] != '\r')
			j++;
		if (j == n) {
			line_append(c, p + i, n - i);
			return;
		}
		if (c->line_len) {
			line_append(c, p + i, j - i);
			sse_line(c, c->line, c->line_len);
			c->line_len = 0;
		} else {
			sse_line(c, p + i, j - i);
		}
		if (p[j] == '\r') {
			if (j + 1 < n) {
				if (p[j + 1] == '\n')
					j++;
			} else {
				c->skip_lf = true;
			}
		}
		i = j + 1;
	}
}

/* ---- response bodies ------------------------------------------------------ */

static void body_sink(struct conn *c, const char *p, size_t n)
{
	if (cfg.mode == MODE_SUBSCRIBE)
		sse_feed(c, p, n);
}

static int chunk_size_line_end(struct conn *c)
{
	if (c->ch_size == 0)
		c->ch = CH_TRAILER;
	else
		c->ch = CH_DATA;
	return 0;
}

/* Decodes chunked transfer coding. Returns -1 on malformed input, 1 when the
 * last chunk and trailer were read (*used says how many bytes), else 0. */
static int chunk_feed(struct conn *c, const char *p, size_t n, size_t *used)
{
	size_t i = 0;

	while (i < n) {
		char ch = p[i];

		switch (c->ch) {
		case CH_SIZE:
			if (ch >= '0' && ch <= '9')
				c->ch_size = c->ch_size * 16 + (uint64_t)(ch - '0');
			else if (ch >= 'a' && ch <= 'f')
				c->ch_size = c->ch_size * 16 + (uint64_t)(ch - 'a' + 10);
			else if (ch >= 'A' && ch <= 'F')
				c->ch_size = c->ch_size * 16 + (uint64_t)(ch - 'A' + 10);
			else if (ch == ';' || ch == ' ' || ch == '\t')
				c->ch = CH_EXT;
			else if (ch == '\n')
				chunk_size_line_end(c);
			else if (ch != '\r')
				return -1;
			if (c->ch_size > ((uint64_t)1 << 40))
				return -1;
			i++;
			break;
		case CH_EXT:
			if (ch == '\n')
				chunk_size_line_end(c);
			i++;
			break;
		case CH_DATA: {
			size_t m = n - i;

			if (m > c->ch_size)
				m = (size_t)c->ch_size;
			body_sink(c, p + i, m);
			c->ch_size -= m;
			i += m;
			if (c->ch_size == 0)
				c->ch = CH_DATA_END;
			break;
		}
		case CH_DATA_END:
			if (ch == '\n') {
				c->ch = CH_SIZE;
				c->ch_size = 0;
			} else if (ch != '\r') {
				return -1;
			}
			i++;
			break;
		case CH_TRAILER:
			if (ch == '\n') {
				c->ch = CH_DONE;
				*used = i + 1;
				return 1;
			}
			if (ch != '\r')
				c->ch = CH_TRAILER_LINE;
			i++;
			break;
		case CH_TRAILER_LINE:
			if (ch == '\n')
				c->ch = CH_TRAILER;
			i++;
			break;
		case CH_DONE:
			*used = i;
			return 1;
		}
	}
	*used = n;
	return 0;
}

/* ---- publisher side ------------------------------------------------------- */

/* Idle publishing connections form a FIFO, so each is reused in turn and
 * none sits idle long enough for the server's keep-alive timeout. */
static void pub_idle_push(struct conn *c)
{
	c->state = ST_IDLE;
	idle_stack[R.idle_n++] = c;
}

static struct conn *pub_idle_pop(void)
{
	struct conn *c = idle_stack[0];

	R.idle_n--;
	memmove(idle_stack, idle_stack + 1, (size_t)R.idle_n * sizeof *idle_stack);
	return c;
}

static void pub_idle_remove(struct conn *c)
{
	for (long i = 0; i < R.idle_n; i++)
		if (idle_stack[i] == c) {
			R.idle_n--;
			memmove(idle_stack + i, idle_stack + i + 1,
				(size_t)(R.idle_n - i) * sizeof *idle_stack);
			return;
		}
}

static void pub_schedule_reconnect(struct conn *c, uint64_t delay_ns)
{
	conn_close_fd(c);
	c->state = ST_CLOSED;
	c->reconnect_at = mono_ns() + delay_ns;
}

static void pub_conn_lost(struct conn *c, const char *what, int err)
{
	note_error(what, err);
	if (c->state == ST_SENDING || c->state == ST_HEADERS || c->state == ST_BODY)
		R.errors++; /* the publish in flight is not acknowledged */
	pub_schedule_reconnect(c, 20 * 1000000ull);
}

static uint64_t pub_deadline_ns;

static void pub_response_done(struct conn *c)
{
	uint64_t now = mono_ns();

	if (c->status >= 200 && c->status < 300) {
		R.acked++;
		if (now <= pub_deadline_ns)
			R.acked_in_time++;
		hist_add(&R.ack, (now - c->t_start) / 1000);
	} else {
		char what[64];

		snprintf(what, sizeof what, "HTTP status %d", c->status);
		note_error(what, 0);
		R.errors++;
	}
	if (c->conn_close)
		pub_schedule_reconnect(c, 0);
	else
		pub_idle_push(c);
}

/* Builds and starts one publish on an idle connection. */
static void pub_send(struct conn *c)
{
	char body[256];
	size_t body_len;
	const char *topic_enc = body_topic_enc;
	int hl;
	int r;

	if (cfg.topic_format) {
		/* Publish k (over all connections) goes to topic --index-base +
		 * k mod --topic-count. */
		long idx = cfg.index_base + (long)(pub_topic_next++ % (uint64_t)cfg.topic_count);
		size_t cap = topic_enc_cap();
		char *t = xcalloc(1, cap);

		if (!c->topic_enc)
			c->topic_enc = xcalloc(1, cap);
		format_topic(t, cap, cfg.topic_format, idx);
		url_encode(c->topic_enc, t);
		free(t);
		topic_enc = c->topic_enc;
	}
	if (cfg.target == TARGET_NCHAN) {
		/* Nchan: the channel in the query, the message as the body. */
		body_len = (size_t)snprintf(body, sizeof body, "%" PRIu64 " %" PRIu64 " %" PRIu32,
					    c->seq, real_ns(), c->stream);
		hl = snprintf(c->req, c->req_cap,
			      "POST %s?id=%s HTTP/1.1\r\nHost: %s\r\n"
			      "Content-Type: text/plain\r\n"
			      "Content-Length: %zu\r\n\r\n"
			      "%s",
			      cfg.path, topic_enc, cfg.host, body_len, body);
	} else {
		body_len = (size_t)snprintf(body, sizeof body, "&data=%" PRIu64 "+%" PRIu64 "+%" PRIu32,
					    c->seq, real_ns(), c->stream);
		hl = snprintf(c->req, c->req_cap,
			      "POST %s HTTP/1.1\r\nHost: %s\r\n"
			      "Content-Type: application/x-www-form-urlencoded\r\n"
			      "Authorization: Bearer %s\r\n"
			      "Content-Length: %zu\r\n\r\n"
			      "topic=%s%s",
			      cfg.path, cfg.host, cfg.token ? cfg.token : "",
			      strlen("topic=") + strlen(topic_enc) + body_len, topic_enc, body);
	}
	if (hl < 0 || (size_t)hl >= c->req_cap)
		die("request too long");
	c->seq++;
	R.published++;
	c->out = c->req;
	c->out_len = (size_t)hl;
	c->out_off = 0;
	c->t_start = mono_ns();
	c->state = ST_SENDING;
	r = conn_flush(c);
	if (r < 0) {
		pub_conn_lost(c, "send", errno);
	} else if (r == 1) {
		c->state = ST_HEADERS;
	} else {
		conn_want_write(c, true);
	}
}

/* ---- reading -------------------------------------------------------------- */

static void sub_fail(struct conn *c, const char *what, int err)
{
	note_error(what, err);
	conn_close_fd(c);
	if (c->state == ST_BODY) {
		c->state = ST_ENDED;
		R.ended++;
		if (cfg.expect > 0 && !c->done)
			R.waiting--;
	} else {
		c->state = ST_FAILED;
		R.failed++;
		R.pending--;
	}
}

static void conn_lost(struct conn *c, const char *what, int err)
{
	if (cfg.mode == MODE_SUBSCRIBE)
		sub_fail(c, what, err);
	else
		pub_conn_lost(c, what, err);
}

static void on_headers_done(struct conn *c)
{
	if (cfg.mode == MODE_SUBSCRIBE) {
		if (c->status != 200) {
			char what[64];

			snprintf(what, sizeof what, "subscribe: HTTP status %d", c->status);
			c->state = ST_HEADERS;
			sub_fail(c, what, 0);
			return;
		}
		c->state = ST_BODY;
		R.connected++;
		R.pending--;
		if (cfg.expect > 0)
			R.waiting++;
		R.connect_wall_end = mono_ns();
		hist_add(&R.connect, (R.connect_wall_end - c->t_start) / 1000);
	} else {
		c->state = ST_BODY;
	}
}

/* Handles body bytes. Returns false when c was closed or reset. */
static bool body_feed(struct conn *c, const char *p, size_t n)
{
	size_t used = 0;
	int r;

	switch (c->body) {
	case BODY_CHUNKED:
		r = chunk_feed(c, p, n, &used);
		if (r < 0) {
			conn_lost(c, "bad chunked encoding", 0);
			return false;
		}
		if (r == 0)
			return true;
		break;
	case BODY_LENGTH:
		used = n < c->body_left ? n : (size_t)c->body_left;
		body_sink(c, p, used);
		c->body_left -= used;
		if (c->body_left > 0)
			return true;
		break;
	case BODY_EOF:
		body_sink(c, p, n);
		return true;
	}
	/* the response body is complete */
	if (cfg.mode == MODE_SUBSCRIBE) {
		sub_fail(c, "stream ended by server", 0);
		return false;
	}
	pub_response_done(c);
	return false;
}

/* Handles received bytes. Returns false when c was closed or reset. */
static bool conn_feed(struct conn *c, const char *p, size_t n)
{
	if (c->state == ST_HEADERS || c->state == ST_SENDING) {
		size_t old = c->hdr_len, from, k;
		size_t take = n;
		char *end;

		if (old + take > HDR_MAX)
			take = HDR_MAX - old;
		if (!c->hdr)
			c->hdr = xrealloc(NULL, HDR_MAX + 1);
		memcpy(c->hdr + old, p, take);
		c->hdr_len = old + take;
		c->hdr[c->hdr_len] = '\0';
		from = old > 3 ? old - 3 : 0;
		end = memmem(c->hdr + from, c->hdr_len - from, "\r\n\r\n", 4);
		if (!end) {
			if (c->hdr_len >= HDR_MAX) {
				conn_lost(c, "response header too large", 0);
				return false;
			}
			return true;
		}
		k = (size_t)(end - c->hdr) + 4; /* header length */
		c->hdr[k] = '\0';
		if (resp_parse_headers(c, c->hdr) < 0) {
			conn_lost(c, "bad response header", 0);
			return false;
		}
		free(c->hdr);
		c->hdr = NULL;
		c->hdr_len = 0;
		on_headers_done(c);
		if (c->state != ST_BODY)
			return false;
		p += k - old;
		n -= k - old;
		if (c->body == BODY_LENGTH && c->body_left == 0)
			return body_feed(c, p, 0);
	}
	if (c->state != ST_BODY)
		return n == 0; /* bytes nobody asked for */
	if (n == 0)
		return true;
	return body_feed(c, p, n);
}

static void conn_read(struct conn *c)
{
	for (;;) {
		ssize_t n = read(c->fd, rbuf, sizeof rbuf);

		if (n > 0) {
			now_real_cached = real_ns();
			R.bytes += (uint64_t)n;
			if (!conn_feed(c, rbuf, (size_t)n))
				return;
			if ((size_t)n < sizeof rbuf)
				return;
			continue;
		}
		if (n == 0) {
			if (cfg.mode == MODE_PUBLISH && c->state == ST_BODY && c->body == BODY_EOF) {
				pub_response_done(c); /* conn_close is set: reconnects */
				return;
			}
			if (cfg.mode == MODE_PUBLISH && c->state == ST_IDLE) {
				/* the server closed a keep-alive connection between requests */
				pub_idle_remove(c);
				pub_schedule_reconnect(c, 0);
				return;
			}
			conn_lost(c, "connection closed by server", 0);
			return;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return;
		if (errno == EINTR)
			continue;
		if (cfg.mode == MODE_PUBLISH && c->state == ST_IDLE) {
			pub_idle_remove(c);
			pub_schedule_reconnect(c, 20 * 1000000ull);
			return;
		}
		conn_lost(c, "read", errno);
		return;
	}
}

/* A subscribe request for the %-encoded topic (hubd) or channel id
 * (Nchan) q, with --last-event-id when given; *len gets its length. */
static char *sub_request_build(const char *q, size_t *len)
{
	char *req;
	int n;

	n = asprintf(&req,
		     "GET %s?%s=%s HTTP/1.1\r\nHost: %s\r\n"
		     "Accept: text/event-stream\r\nCache-Control: no-cache\r\n%s%s%s\r\n",
		     cfg.path, cfg.target == TARGET_NCHAN ? "id" : "topic", q, cfg.host,
		     cfg.last_event_id ? "Last-Event-ID: " : "",
		     cfg.last_event_id ? cfg.last_event_id : "", cfg.last_event_id ? "\r\n" : "");
	if (n < 0)
		die("out of memory");
	*len = (size_t)n;
	return req;
}

/* The subscribe request of c: the shared one, or with --topic-format its
 * own topic (index --index-base + c's number). */
static void sub_request_for(struct conn *c)
{
	size_t tcap;
	char *t, *q;

	if (!cfg.topic_format) {
		c->out = sub_request;
		c->out_len = sub_request_len;
		return;
	}
	if (!c->req) {
		tcap = topic_enc_cap();
		t = xcalloc(1, tcap);
		q = xcalloc(1, tcap);
		format_topic(t, tcap, cfg.topic_format, cfg.index_base + (long)c->idx);
		url_encode(q, t);
		c->req = sub_request_build(q, &c->req_cap);
		free(t);
		free(q);
	}
	c->out = c->req;
	c->out_len = c->req_cap;
}

static void on_event(struct conn *c, uint32_t ev)
{
	if (c->state == ST_CONNECTING) {
		int err = 0;
		socklen_t len = sizeof err;

		if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err) {
			conn_lost(c, "connect", err);
			return;
		}
		if (cfg.mode == MODE_SUBSCRIBE) {
			sub_request_for(c);
			c->out_off = 0;
			c->state = ST_SENDING;
		} else {
			conn_want_write(c, false);
			pub_idle_push(c);
			return;
		}
	}
	if (c->state == ST_SENDING && (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
		int r = conn_flush(c);

		if (r < 0) {
			conn_lost(c, "send", errno);
			return;
		}
		if (r == 1) {
			c->state = ST_HEADERS;
			conn_want_write(c, false);
		}
	}
	if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR))
		conn_read(c);
}

/* ---- the two modes -------------------------------------------------------- */

static void raise_fd_limit(long need)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		die("getrlimit: %s", strerror(errno));
	if ((rlim_t)need > rl.rlim_cur && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	if ((rlim_t)need > rl.rlim_cur)
		die("need %ld descriptors, limit is %llu: use several processes",
		    need, (unsigned long long)rl.rlim_cur);
}

static void write_ready_file(void)
{
	char tmp[1100];
	FILE *f;

	if (!cfg.ready_file)
		return;
	snprintf(tmp, sizeof tmp, "%s.tmp", cfg.ready_file);
	f = fopen(tmp, "w");
	if (!f)
		die("%s: %s", tmp, strerror(errno));
	fprintf(f, "{\"connected\": %ld, \"failed\": %ld}\n", R.connected, R.failed);
	fclose(f);
	if (rename(tmp, cfg.ready_file) < 0)
		die("rename %s: %s", tmp, strerror(errno));
}

/* The sequence gaps every subscriber sees so far (see print_subscribe_report). */
static uint64_t total_gaps(void)
{
	uint64_t g = 0;

	for (long i = 0; i < nconns; i++)
		g += conns[i].gaps;
	return g;
}

/* , "NAME": [[value_us, count], ...] for the non-empty buckets of h. */
static void write_hist(FILE *f, const char *name, const struct hist *h)
{
	bool first = true;

	fprintf(f, ", \"%s\": [", name);
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		if (!h->b[i])
			continue;
		fprintf(f, "%s[%" PRIu64 ", %" PRIu64 "]", first ? "" : ", ", hist_value(i), h->b[i]);
		first = false;
	}
	fprintf(f, "]");
}

/* --status-file, written on SIGUSR1: the counters so far, so a driver can
 * check deliveries between phases of a run without stopping the process. */
static void write_status_file(void)
{
	char tmp[1100];
	FILE *f;

	if (!cfg.status_file)
		return;
	snprintf(tmp, sizeof tmp, "%s.tmp", cfg.status_file);
	f = fopen(tmp, "w");
	if (!f)
		die("%s: %s", tmp, strerror(errno));
	fprintf(f, "{\"connected\": %ld, \"failed\": %ld, \"disconnected\": %ld, "
		   "\"deliveries\": %" PRIu64 ", \"duplicates\": %" PRIu64 ", "
		   "\"out_of_order\": %" PRIu64 ", \"other_events\": %" PRIu64 ", "
		   "\"receivers\": %ld, \"gaps\": %" PRIu64 ", ",
		R.connected, R.failed, R.ended, R.deliveries, R.duplicates, R.out_of_order,
		R.other_events, R.receivers, total_gaps());
	/* The latency of the updates received since the previous status
	 * write (then reset), so a driver can measure phases of one run. */
	fprintf(f, "\"iv_n\": %" PRIu64 ", \"iv_p50_ms\": %.3f, \"iv_p99_ms\": %.3f, "
		   "\"iv_max_ms\": %.3f, \"iv_first_ns\": %" PRIu64 ", \"iv_last_ns\": %" PRIu64,
		R.latency_iv.n, us_to_ms(hist_quantile(&R.latency_iv, 0.50)),
		us_to_ms(hist_quantile(&R.latency_iv, 0.99)), us_to_ms(R.latency_iv.max),
		R.iv_first, R.iv_last);
	if (cfg.hist)
		write_hist(f, "iv_hist_us", &R.latency_iv);
	fprintf(f, "}\n");
	memset(&R.latency_iv, 0, sizeof R.latency_iv);
	R.iv_first = R.iv_last = 0;
	fclose(f);
	if (rename(tmp, cfg.status_file) < 0)
		die("rename %s: %s", tmp, strerror(errno));
}

static void json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20 || ch > 0x7e)
			fputc('?', f);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

static int run_loop_once(int timeout_ms)
{
	struct epoll_event evs[512];
	int n, i;

	n = epoll_wait(epfd, evs, 512, timeout_ms);
	if (n < 0) {
		if (errno == EINTR)
			return 0;
		die("epoll_wait: %s", strerror(errno));
	}
	for (i = 0; i < n; i++)
		on_event(evs[i].data.ptr, evs[i].events);
	return n;
}

static void run_subscribe(void)
{
	uint64_t t0 = mono_ns(), deadline, ct_ns, last_check = 0;
	long next = 0;
	bool ready = false;
	char *q;
	size_t qcap;
	int err;

	raise_fd_limit(cfg.count + 64);
	conns = xcalloc((size_t)cfg.count, sizeof *conns);
	nconns = cfg.count;
	for (long i = 0; i < nconns; i++) {
		conns[i].fd = -1;
		conns[i].idx = (uint32_t)i;
	}
	qcap = 3 * strlen(cfg.topic) + 1;
	q = xcalloc(1, qcap);
	url_encode(q, cfg.topic);
	sub_request = sub_request_build(q, &sub_request_len);
	free(q);
	deadline = t0 + (uint64_t)(cfg.duration * 1e9);
	R.connect_wall_start = t0;
	ct_ns = (uint64_t)(cfg.connect_timeout * 1e9);

	while (!stop_flag) {
		uint64_t now = mono_ns();

		if (status_flag) {
			status_flag = 0;
			write_status_file();
		}
		while (next < nconns && R.pending < cfg.max_pending) {
			struct conn *c = &conns[next++];

			R.started++;
			R.pending++;
			err = conn_connect(c);
			if (err) {
				c->state = ST_FAILED;
				R.failed++;
				R.pending--;
				note_error("connect", err);
			}
		}
		if (!ready && next == nconns && R.pending == 0) {
			ready = true;
			write_ready_file();
		}
		if (now >= deadline)
			break;
		if (ready && R.connected - R.ended <= 0 && nconns > 0)
			break; /* nobody left to listen */
		if (ready && cfg.expect > 0 && R.waiting == 0)
			break; /* every live subscriber has all it expected */
		if (!ready && now - last_check > 100 * 1000000ull) {
			last_check = now;
			for (long i = 0; i < next; i++) {
				struct conn *c = &conns[i];

				if ((c->state == ST_CONNECTING || c->state == ST_SENDING ||
				     c->state == ST_HEADERS) && now > c->t_start + ct_ns) {
					c->state = ST_HEADERS;
					sub_fail(c, "connect timeout", 0);
				}
			}
		}
		run_loop_once(100);
	}
	if (!ready)
		write_ready_file();
}

/* --reset-on-exit: closes every stream with a TCP reset instead of a FIN.
 * A web server that does not read a streaming request's connection sees a
 * reset at once (EPOLLHUP/EPOLLERR), a FIN only when it next writes; the
 * hub then keeps the stream until its next heartbeat. */
static void reset_all(void)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	for (long i = 0; i < nconns; i++) {
		if (conns[i].fd < 0)
			continue;
		setsockopt(conns[i].fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
		close(conns[i].fd);
		conns[i].fd = -1;
	}
}

static void print_subscribe_report(double elapsed)
{
	uint64_t missing = 0;
	double span, per_s = 0;
	FILE *f = stdout;

	for (long i = 0; i < nconns; i++) {
		struct conn *c = &conns[i];

		if (c->state != ST_BODY && c->state != ST_ENDED)
			continue;
		if (cfg.expect > 0)
			missing += c->unique < (uint64_t)cfg.expect ? (uint64_t)cfg.expect - c->unique : 0;
		else
			missing += c->gaps;
	}
	span = (double)(R.last_delivery - R.first_delivery) / 1e9;
	if (span > 0)
		per_s = (double)R.deliveries / span;
	fprintf(f, "{\"mode\": \"subscribe\", \"requested\": %ld, \"connected\": %ld, \"failed\": %ld, "
		   "\"disconnected\": %ld, \"connect_ms\": %.1f, \"connect_p50_ms\": %.3f, "
		   "\"connect_p99_ms\": %.3f, \"connect_max_ms\": %.3f, ",
		nconns, R.connected, R.failed, R.ended,
		R.connected ? (double)(R.connect_wall_end - R.connect_wall_start) / 1e6 : 0.0,
		us_to_ms(hist_quantile(&R.connect, 0.50)), us_to_ms(hist_quantile(&R.connect, 0.99)),
		us_to_ms(R.connect.max));
	fprintf(f, "\"deliveries\": %" PRIu64 ", \"deliveries_per_s\": %.1f, "
		   "\"latency_p50_ms\": %.3f, \"latency_p90_ms\": %.3f, \"latency_p99_ms\": %.3f, "
		   "\"latency_max_ms\": %.3f, \"missing\": %" PRIu64 ", \"duplicates\": %" PRIu64 ", "
		   "\"out_of_order\": %" PRIu64 ", \"other_events\": %" PRIu64 ", \"bytes\": %" PRIu64 ", "
		   "\"receivers\": %ld, \"elapsed_s\": %.3f, \"cpu_s\": %.3f, \"first_error\": ",
		R.deliveries, per_s,
		us_to_ms(hist_quantile(&R.latency, 0.50)), us_to_ms(hist_quantile(&R.latency, 0.90)),
		us_to_ms(hist_quantile(&R.latency, 0.99)), us_to_ms(R.latency.max),
		missing, R.duplicates, R.out_of_order, R.other_events, R.bytes, R.receivers, elapsed,
		cpu_seconds());
	json_string(f, R.first_error);
	/* From the first connect to the first update received, and to the
	 * moment the last subscriber had --expect updates (e.g. a replay). */
	fprintf(f, ", \"first_event_ms\": %.3f, \"complete_ms\": %.3f, \"completed\": %ld",
		R.first_event_mono ? (double)(R.first_event_mono - R.connect_wall_start) / 1e6 : -1.0,
		R.last_done_mono && R.done == R.connected
			? (double)(R.last_done_mono - R.connect_wall_start) / 1e6 : -1.0,
		R.done);
	if (cfg.hist) {
		write_hist(f, "latency_hist_us", &R.latency);
		fprintf(f, ", \"latency_max_us\": %" PRIu64, R.latency.max);
	}
	fprintf(f, "}\n");
	fflush(f);
}

/* Closed loop: another publish is due until --duration ends or, with
 * --total, that many were sent. */
static bool closed_loop_more(uint64_t now, uint64_t end_send)
{
	return now < end_send && (cfg.total <= 0 || R.published < (uint64_t)cfg.total);
}

static void run_publish(void)
{
	uint64_t t0, end_send, hard_end, interval_ns = 0;
	uint64_t total = 0, sent_sched = 0;
	char *q;
	size_t qcap;

	raise_fd_limit(cfg.conns + 64);
	conns = xcalloc((size_t)cfg.conns, sizeof *conns);
	nconns = cfg.conns;
	idle_stack = xcalloc((size_t)nconns, sizeof *idle_stack);
	qcap = 3 * strlen(cfg.topic) + 1;
	q = xcalloc(1, qcap);
	url_encode(q, cfg.topic);
	body_topic_enc = q;
	for (long i = 0; i < nconns; i++) {
		struct conn *c = &conns[i];
		int err;

		c->fd = -1;
		c->idx = (uint32_t)i;
		c->stream = (uint32_t)(cfg.stream_base + i);
		c->req_cap = 1024 + strlen(cfg.path) + strlen(cfg.host) +
			     (cfg.topic_format ? topic_enc_cap() : strlen(q)) +
			     (cfg.token ? strlen(cfg.token) : 0);
		c->req = xcalloc(1, c->req_cap);
		err = conn_connect(c);
		if (err) {
			note_error("connect", err);
			c->state = ST_CLOSED;
			c->reconnect_at = mono_ns() + 20 * 1000000ull;
		}
	}
	if (!cfg.closed_loop) {
		total = cfg.total > 0 ? (uint64_t)cfg.total : (uint64_t)(cfg.rate * cfg.duration + 0.5);
		interval_ns = (uint64_t)(1e9 / cfg.rate);
	}
	t0 = mono_ns();
	end_send = t0 + (uint64_t)(cfg.duration * 1e9);
	pub_deadline_ns = end_send;
	hard_end = end_send + 10ull * 1000000000u;

	while (!stop_flag) {
		uint64_t now = mono_ns();
		int timeout = 100;
		bool busy = false;

		for (long i = 0; i < nconns; i++) {
			struct conn *c = &conns[i];
			bool want = cfg.closed_loop ? closed_loop_more(now, end_send) : sent_sched < total;

			if (c->state != ST_CLOSED || !c->reconnect_at || !want)
				continue;
			if (now >= c->reconnect_at) {
				int err = conn_connect(c);

				c->reconnect_at = 0;
				if (err) {
					note_error("connect", err);
					c->reconnect_at = now + 20 * 1000000ull;
				}
			} else {
				timeout = 10;
			}
		}
		if (cfg.closed_loop) {
			while (closed_loop_more(now, end_send) && R.idle_n > 0)
				pub_send(pub_idle_pop());
		} else {
			while (sent_sched < total && R.idle_n > 0) {
				uint64_t due = t0 + sent_sched * interval_ns;

				if (due > now) {
					uint64_t wait_ms = (due - now + 999999) / 1000000;

					if (wait_ms < (uint64_t)timeout)
						timeout = (int)wait_ms;
					break;
				}
				if (now - due > R.lag_max)
					R.lag_max = now - due;
				sent_sched++;
				pub_send(pub_idle_pop());
			}
		}
		for (long i = 0; i < nconns; i++)
			if (conns[i].state == ST_SENDING || conns[i].state == ST_HEADERS ||
			    conns[i].state == ST_BODY)
				busy = true;
		if (!busy && (cfg.closed_loop ? !closed_loop_more(now, end_send) : sent_sched >= total))
			break;
		if (now >= hard_end)
			break;
		run_loop_once(timeout);
	}
}

static void print_publish_report(double elapsed)
{
	bool timed = cfg.closed_loop && cfg.total <= 0; /* ran for --duration */
	double rate_window = timed ? cfg.duration : elapsed;

	printf("{\"mode\": \"publish\", \"closed_loop\": %s, \"conns\": %ld, \"published\": %" PRIu64
	       ", \"acked\": %" PRIu64 ", \"errors\": %" PRIu64 ", \"publishes_per_s\": %.1f, "
	       "\"ack_p50_ms\": %.3f, \"ack_p90_ms\": %.3f, \"ack_p99_ms\": %.3f, \"ack_max_ms\": %.3f, "
	       "\"schedule_lag_max_ms\": %.3f, \"elapsed_s\": %.3f, \"cpu_s\": %.3f, \"first_error\": ",
	       cfg.closed_loop ? "true" : "false", nconns, R.published, R.acked, R.errors,
	       rate_window > 0 ? (double)(timed ? R.acked_in_time : R.acked) / rate_window : 0.0,
	       us_to_ms(hist_quantile(&R.ack, 0.50)), us_to_ms(hist_quantile(&R.ack, 0.90)),
	       us_to_ms(hist_quantile(&R.ack, 0.99)), us_to_ms(R.ack.max),
	       (double)R.lag_max / 1e6, elapsed, cpu_seconds());
	json_string(stdout, R.first_error);
	printf("}\n");
	fflush(stdout);
}

/* ---- command line ---------------------------------------------------------- */

static void usage(void)
{
	fputs("usage:\n"
	      "  loadgen subscribe --url http://HOST:PORT[/path] --topic T --count N\n"
	      "          [--source 127.0.0.2,127.0.0.3] [--duration S] [--expect K]\n"
	      "          [--max-pending P] [--connect-timeout S] [--ready-file F] [--hist]\n"
	      "          [--topic-format FMT [--index-base B]] [--status-file F] [--reset-on-exit]\n"
	      "          [--last-event-id ID]\n"
	      "  loadgen publish --url URL --topic T --token JWT --rate R --duration S\n"
	      "          [--conns C] [--total N] [--stream-base B] [--source ...]\n"
	      "          [--topic-format FMT [--index-base B] [--topic-count K]]\n"
	      "  loadgen publish --url URL --topic T --token JWT --closed-loop --conns C --duration S\n"
	      "          [--total N] ...\n"
	      "Every mode takes --target hubd (default: Mercure, PATH?topic=T, form POST\n"
	      "with a JWT) or --target nchan (nginx + Nchan: PATH?id=T for both, the\n"
	      "subscriber or publisher location's PATH; raw body; no token).\n"
	      "--topic-format: subscriber i (publish k) uses FMT with %d replaced by\n"
	      "B + i (B + k mod K) and %% by %; SIGUSR1 writes --status-file.\n"
	      "Prints one JSON line with the results on stdout; never asserts.\n",
	      stderr);
	exit(2);
}

static void parse_url(const char *url)
{
	const char *p, *slash, *colon;
	char host[256];
	size_t hlen;
	long port = 80;
	struct addrinfo hints, *ai;
	int r;

	if (strncmp(url, "http://", 7) != 0)
		die("--url must start with http://");
	p = url + 7;
	slash = strchr(p, '/');
	hlen = slash ? (size_t)(slash - p) : strlen(p);
	if (hlen == 0 || hlen >= sizeof host)
		die("bad --url host");
	memcpy(host, p, hlen);
	host[hlen] = '\0';
	snprintf(cfg.host, sizeof cfg.host, "%s", host);
	colon = strrchr(host, ':');
	if (colon) {
		port = strtol(colon + 1, NULL, 10);
		host[colon - host] = '\0';
	}
	if (port <= 0 || port > 65535)
		die("bad --url port");
	snprintf(cfg.path, sizeof cfg.path, "%s", slash && slash[1] ? slash : "/.well-known/mercure");
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_INET;
	hints.ai_socktype = SOCK_STREAM;
	r = getaddrinfo(host, NULL, &hints, &ai);
	if (r != 0)
		die("%s: %s", host, gai_strerror(r));
	memcpy(&cfg.dst, ai->ai_addr, sizeof cfg.dst);
	cfg.dst.sin_port = htons((uint16_t)port);
	freeaddrinfo(ai);
}

static void parse_sources(const char *list)
{
	char *copy = strdup(list), *tok, *save = NULL;

	if (!copy)
		die("out of memory");
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (cfg.nsrc >= (int)(sizeof cfg.src / sizeof cfg.src[0]))
			die("too many --source addresses");
		if (inet_pton(AF_INET, tok, &cfg.src[cfg.nsrc]) != 1)
			die("bad --source address '%s'", tok);
		cfg.nsrc++;
	}
	free(copy);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "url", required_argument, NULL, 'u' },
		{ "topic", required_argument, NULL, 't' },
		{ "count", required_argument, NULL, 'n' },
		{ "source", required_argument, NULL, 's' },
		{ "duration", required_argument, NULL, 'd' },
		{ "expect", required_argument, NULL, 'e' },
		{ "max-pending", required_argument, NULL, 'p' },
		{ "connect-timeout", required_argument, NULL, 'T' },
		{ "ready-file", required_argument, NULL, 'r' },
		{ "hist", no_argument, NULL, 'H' },
		{ "token", required_argument, NULL, 'k' },
		{ "rate", required_argument, NULL, 'R' },
		{ "conns", required_argument, NULL, 'c' },
		{ "closed-loop", no_argument, NULL, 'C' },
		{ "total", required_argument, NULL, 'N' },
		{ "stream-base", required_argument, NULL, 'b' },
		{ "topic-format", required_argument, NULL, 'f' },
		{ "index-base", required_argument, NULL, 'i' },
		{ "topic-count", required_argument, NULL, 'K' },
		{ "status-file", required_argument, NULL, 'S' },
		{ "reset-on-exit", no_argument, NULL, 'X' },
		{ "target", required_argument, NULL, 'g' },
		{ "last-event-id", required_argument, NULL, 'L' },
		{ NULL, 0, NULL, 0 },
	};
	const char *url = NULL;
	struct sigaction sa;
	uint64_t t0;
	int o;

	if (argc < 2)
		usage();
	if (strcmp(argv[1], "subscribe") == 0)
		cfg.mode = MODE_SUBSCRIBE;
	else if (strcmp(argv[1], "publish") == 0)
		cfg.mode = MODE_PUBLISH;
	else
		usage();
	cfg.topic = "https://bench.example/t";
	cfg.count = 1;
	cfg.duration = 10;
	cfg.max_pending = 200;
	cfg.connect_timeout = 10;
	cfg.conns = 1;
	cfg.topic_count = 1;
	optind = 2;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'u': url = optarg; break;
		case 't': cfg.topic = optarg; break;
		case 'n': cfg.count = strtol(optarg, NULL, 10); break;
		case 's': parse_sources(optarg); break;
		case 'd': cfg.duration = strtod(optarg, NULL); break;
		case 'e': cfg.expect = strtol(optarg, NULL, 10); break;
		case 'p': cfg.max_pending = strtol(optarg, NULL, 10); break;
		case 'T': cfg.connect_timeout = strtod(optarg, NULL); break;
		case 'r': cfg.ready_file = optarg; break;
		case 'H': cfg.hist = true; break;
		case 'k': cfg.token = optarg; break;
		case 'R': cfg.rate = strtod(optarg, NULL); break;
		case 'c': cfg.conns = strtol(optarg, NULL, 10); break;
		case 'C': cfg.closed_loop = true; break;
		case 'N': cfg.total = strtol(optarg, NULL, 10); break;
		case 'b': cfg.stream_base = strtol(optarg, NULL, 10); break;
		case 'f': cfg.topic_format = optarg; break;
		case 'i': cfg.index_base = strtol(optarg, NULL, 10); break;
		case 'K': cfg.topic_count = strtol(optarg, NULL, 10); break;
		case 'S': cfg.status_file = optarg; break;
		case 'X': cfg.reset_on_exit = true; break;
		case 'g':
			if (strcmp(optarg, "hubd") == 0 || strcmp(optarg, "mercure") == 0)
				cfg.target = TARGET_HUBD;
			else if (strcmp(optarg, "nchan") == 0)
				cfg.target = TARGET_NCHAN;
			else
				die("--target must be hubd or nchan");
			break;
		case 'L': cfg.last_event_id = optarg; break;
		default: usage();
		}
	}
	if (!url || optind != argc)
		usage();
	parse_url(url);
	if (cfg.count < 0 || cfg.conns < 1 || cfg.duration <= 0 || cfg.max_pending < 1)
		die("bad numeric option");
	if (cfg.mode == MODE_PUBLISH && !cfg.closed_loop && cfg.rate <= 0)
		die("publish needs --rate R or --closed-loop");
	if (cfg.topic_format && (format_topic(NULL, 0, cfg.topic_format, 0) == 0 ||
				 !strstr(cfg.topic_format, "%d")))
		die("--topic-format needs %%d (the index) and no other %% conversion but %%%%");
	if (cfg.topic_count < 1 || cfg.index_base < 0)
		die("bad --topic-count or --index-base");

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0)
		die("epoll_create1: %s", strerror(errno));
	t0 = mono_ns();
	if (cfg.mode == MODE_SUBSCRIBE) {
		run_subscribe();
		print_subscribe_report((double)(mono_ns() - t0) / 1e9);
		if (cfg.reset_on_exit)
			reset_all();
	} else {
		run_publish();
		print_publish_report((double)(mono_ns() - t0) / 1e9);
	}
	return 0;
}
