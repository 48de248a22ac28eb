/* test_outq.c -- a stream's output queue over a socketpair: updates queued
 * in one turn leave as one FastCGI record in one write, large ones split at
 * the record limit, CGI bytes unframed, the end of a response after what
 * was queued, and a full socket leaves a backlog that the next write sends
 * first, in order, with every message reference released at the end. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fcgi_record.h"
#include "msg.h"
#include "outq.h"
#include "fcgi_decode.h"
#include "testlib.h"

/* A non-blocking socketpair: fds[0] is the stream, fds[1] the reader. */
static void pair(int fds[2], int sndbuf)
{
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
	if (sndbuf > 0)
		setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
	fcntl(fds[0], F_SETFL, O_NONBLOCK);
	fcntl(fds[1], F_SETFL, O_NONBLOCK);
}

/* Reads everything available on fd into b. */
static void drain(int fd, struct buf *b)
{
	char tmp[65536];
	ssize_t n;
	while ((n = read(fd, tmp, sizeof tmp)) > 0)
		buf_add(b, tmp, (size_t)n);
}

/* Decodes FastCGI records from b: STDOUT content into out; returns the
 * number of STDOUT records with content, -1 on a framing error. *ended:
 * an END_REQUEST closed it. */
static int decode(const struct buf *b, uint16_t want_id, struct buf *out, int *ended)
{
	int with_content;
	if (fcgi_decode(b->p, b->len, want_id, out, ended, &with_content) < 0)
		return -1;
	return with_content;
}

static struct msg *make(const char *id, const char *data, size_t len)
{
	const char *topics[] = {"t"};
	return msg_new(id, topics, 1, NULL, -1, false, data, len);
}

/* What the SSE encodings of ms[0..n) are, one after the other. */
static void expect_sse(struct buf *want, struct msg **ms, int n)
{
	for (int i = 0; i < n; i++) {
		size_t l;
		const char *s = msg_sse(ms[i], &l);
		buf_add(want, s, l);
	}
}

static void test_one_record_per_write(void)
{
	int fds[2];
	pair(fds, 0);
	struct outq q;
	outq_init(&q, 7);
	struct msg *ms[3] = {make("a", "x", 1), make("b", "yy", 2), make("c", "zzz", 3)};
	outq_add_sse(&q, ":ok\n\n", 5);
	for (int i = 0; i < 3; i++)
		outq_add_msg(&q, ms[i]);
	CHECK(outq_length(&q) > 5 && outq_backlog(&q) == 0);
	size_t written;
	CHECK(outq_write(&q, fds[0], &written) == 1);
	CHECK(outq_length(&q) == 0);

	struct buf got = {0}, out = {0}, want = {0};
	int ended;
	drain(fds[1], &got);
	CHECK(got.len == written);
	CHECK(decode(&got, 7, &out, &ended) == 1 && !ended); /* one record */
	buf_adds(&want, ":ok\n\n");
	expect_sse(&want, ms, 3);
	CHECK_MEM_EQ(out.p, out.len, want.p, want.len);
	for (int i = 0; i < 3; i++) {
		CHECK(ms[i]->refs == 1); /* the queue let go */
		msg_unref(ms[i]);
	}
	outq_clear(&q);
	buf_free(&got);
	buf_free(&out);
	buf_free(&want);
	close(fds[0]);
	close(fds[1]);
}

static void test_large_and_cgi(void)
{
	/* 150,000 bytes of data: three records (65535 + 65535 + rest). */
	size_t big = 150000;
	char *data = malloc(big);
	memset(data, 'd', big);
	struct msg *m = make("big", data, big);
	int fds[2];
	pair(fds, 4 << 20);
	struct outq q;
	outq_init(&q, 1);
	outq_add_msg(&q, m);
	size_t written;
	struct buf got = {0}, out = {0}, want = {0};
	int rc;
	while ((rc = outq_write(&q, fds[0], &written)) == 0) {
		drain(fds[1], &got);
	}
	CHECK(rc == 1);
	drain(fds[1], &got);
	int ended;
	CHECK(decode(&got, 1, &out, &ended) == 3);
	expect_sse(&want, &m, 1);
	CHECK_MEM_EQ(out.p, out.len, want.p, want.len);
	outq_clear(&q);

	/* CGI: the bare bytes. */
	got.len = 0;
	outq_init(&q, 0);
	outq_add_sse(&q, ":ok\n\n", 5);
	outq_add_msg(&q, m);
	while ((rc = outq_write(&q, fds[0], &written)) == 0)
		drain(fds[1], &got);
	CHECK(rc == 1);
	drain(fds[1], &got);
	buf_free(&want);
	buf_adds(&want, ":ok\n\n");
	expect_sse(&want, &m, 1);
	CHECK_MEM_EQ(got.p, got.len, want.p, want.len);
	outq_clear(&q);
	CHECK(m->refs == 1);
	msg_unref(m);
	free(data);
	buf_free(&got);
	buf_free(&out);
	buf_free(&want);
	close(fds[0]);
	close(fds[1]);
}

static void test_backlog_and_end(void)
{
	int fds[2];
	pair(fds, 4096); /* fills up quickly */
	struct outq q;
	outq_init(&q, 300);
	char data[3000];
	memset(data, 'x', sizeof data);
	struct msg *ms[40];
	for (int i = 0; i < 40; i++) {
		char id[16];
		snprintf(id, sizeof id, "m%d", i);
		ms[i] = make(id, data, sizeof data);
	}
	size_t written;
	/* Turn one: more than the socket takes. */
	for (int i = 0; i < 20; i++)
		outq_add_msg(&q, ms[i]);
	CHECK(outq_write(&q, fds[0], &written) == 0);
	CHECK(outq_backlog(&q) > 0 && outq_backlog(&q) == outq_length(&q));
	/* Turn two: queued behind the backlog, then the end of the response. */
	for (int i = 20; i < 40; i++)
		outq_add_msg(&q, ms[i]);
	CHECK(outq_length(&q) > outq_backlog(&q));
	static const char end[] = "END";
	outq_add_framed(&q, end, 3);
	struct buf got = {0}, out = {0}, want = {0};
	int rc, rounds = 0;
	while ((rc = outq_write(&q, fds[0], &written)) == 0 && rounds++ < 10000)
		drain(fds[1], &got);
	CHECK(rc == 1 && outq_length(&q) == 0);
	drain(fds[1], &got);
	CHECK(got.len > 3 && memcmp(got.p + got.len - 3, "END", 3) == 0);
	got.len -= 3;
	int ended;
	CHECK(decode(&got, 300, &out, &ended) >= 2);
	expect_sse(&want, ms, 40);
	CHECK_MEM_EQ(out.p, out.len, want.p, want.len);
	for (int i = 0; i < 40; i++) {
		CHECK(ms[i]->refs == 1);
		msg_unref(ms[i]);
	}
	outq_clear(&q);
	buf_free(&got);
	buf_free(&out);
	buf_free(&want);
	close(fds[0]);
	close(fds[1]);
}

static void test_errors_and_clear(void)
{
	signal(SIGPIPE, SIG_IGN); /* as in hubd */
	int fds[2];
	pair(fds, 0);
	struct outq q;
	outq_init(&q, 1);
	struct msg *m = make("a", "x", 1);
	outq_add_msg(&q, m);
	close(fds[1]);
	size_t written;
	CHECK(outq_write(&q, fds[0], &written) == -1 && errno == EPIPE);
	outq_add_msg(&q, m);
	outq_add_sse(&q, ":\n\n", 3);
	outq_clear(&q);
	CHECK(m->refs == 1 && outq_length(&q) == 0);
	outq_clear(&q); /* twice is fine */
	msg_unref(m);
	close(fds[0]);
}

TEST_MAIN(TEST(test_one_record_per_write), TEST(test_large_and_cgi),
	  TEST(test_backlog_and_end), TEST(test_errors_and_clear))
