/* test_outq.c -- a stream's output queue over a socketpair: updates queued
 * in one turn leave as one FastCGI record in one write, large ones split at
 * the record limit, CGI bytes unframed, the end of a response after what
 * was queued, and a full socket leaves the rest queued for the next write,
 * in order, with every message reference released at the end; writes that
 * stop anywhere (inside a record header, content or padding) resume the
 * framing exactly; and the memory the queue says it pins (outq_mem) is
 * what it pins, to the byte in its own bookkeeping and within a few per
 * cent of what glibc's malloc measures. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
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

/* Frees what a test used: the queue, its three buffers, the socket pair. */
static void finish(struct outq *q, struct buf *got, struct buf *out, struct buf *want,
		   int fds[2])
{
	outq_clear(q);
	buf_free(got);
	buf_free(out);
	buf_free(want);
	close(fds[0]);
	close(fds[1]);
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
	CHECK(outq_length(&q) > 5 && !outq_empty(&q));
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
	finish(&q, &got, &out, &want, fds);
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
	size_t left = outq_length(&q);
	CHECK(left > 0 && !outq_empty(&q));
	/* Turn two: queued behind the backlog, then the end of the response. */
	for (int i = 20; i < 40; i++)
		outq_add_msg(&q, ms[i]);
	CHECK(outq_length(&q) > left);
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
	finish(&q, &got, &out, &want, fds);
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

/* What q's bookkeeping should say it pins, from its items. */
static size_t expected_mem(const struct outq *q)
{
	size_t n = q->items == &q->one ? 0 : heap_size((size_t)q->cap * sizeof *q->items);
	for (uint32_t i = q->head; i < q->n; i++) {
		const struct outq_item *it = &q->items[i];
		n += it->kind == OUTQ_MSG ? msg_mem(it->m) : heap_size((size_t)it->len + 1);
	}
	return n - q->off;
}

/* Bytes of SSE text still queued, from the items. */
static size_t expected_len(const struct outq *q)
{
	size_t n = 0;
	for (uint32_t i = q->head; i < q->n; i++)
		n += q->items[i].len;
	return n - q->off;
}

/* The queue's writev, for the test below: while write_cap > 0, each call
 * takes at most write_cap bytes, as a socket with that much room would.
 * (Defined here, it is the one outq.c calls.) */
static size_t write_cap;

ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
	struct iovec cut[IOV_MAX];
	int n = 0;
	size_t left = write_cap ? write_cap : SIZE_MAX;
	for (int i = 0; i < cnt && i < IOV_MAX && left > 0; i++) {
		cut[n] = iov[i];
		if (cut[n].iov_len > left)
			cut[n].iov_len = left;
		left -= cut[n++].iov_len;
	}
	return syscall(SYS_writev, fd, cut, n);
}

/* Writes that stop anywhere: random sizes, and a socket that takes a
 * random number of bytes each time, often fewer than a record header.
 * Whatever happens, the bytes decode to exactly what was queued, and the
 * queue's bookkeeping stays exact. FastCGI and CGI. */
static void test_partial_writes_resume(void)
{
	srand(12345);
	for (int mode = 0; mode < 2; mode++) {
		uint16_t rid = mode == 0 ? 513 : 0;
		int fds[2];
		pair(fds, 4 << 20);
		struct outq q;
		outq_init(&q, rid);
		struct buf got = {0}, out = {0}, want = {0};
		int in_header = 0, in_padding = 0, rounds = 0;
		for (int k = 0; k < 20000; k++) {
			/* Mostly small, sometimes past a record's 65535 bytes;
			 * writes take more than that on average, so the queue
			 * keeps emptying and records stay short. */
			size_t len = (size_t)(rand() % 400 == 0 ? rand() % 140000 : rand() % 60) + 1;
			char *data = malloc(len);
			memset(data, 'a' + k % 26, len);
			char id[16];
			snprintf(id, sizeof id, "r%d", k);
			struct msg *m = make(id, data, len);
			free(data);
			if (k % 7 == 0) {
				outq_add_sse(&q, ":\n\n", 3);
				buf_adds(&want, ":\n\n");
			}
			outq_add_msg(&q, m);
			expect_sse(&want, &m, 1);
			msg_unref(m); /* the queue holds it alone now */
			if (rand() % 3 == 0)
				continue;
			write_cap = (size_t)(rand() % 3 == 0 ? rand() % 9 + 1 : rand() % 2000 + 1);
			size_t written;
			CHECK(outq_write(&q, fds[0], &written) >= 0);
			write_cap = 0;
			CHECK(written <= 2000);
			in_header += q.hdr_left > 0 && q.hdr_left < FCGI_RECORD_HEADER_LEN;
			in_padding += q.pad_left > 0 && q.rec_left == 0;
			CHECK(outq_mem(&q) == expected_mem(&q));
			CHECK(outq_length(&q) == expected_len(&q));
			drain(fds[1], &got);
		}
		size_t written;
		while (outq_write(&q, fds[0], &written) == 0 && rounds++ < 100000)
			drain(fds[1], &got);
		drain(fds[1], &got);
		CHECK(outq_empty(&q) && outq_mem(&q) == 0 && outq_length(&q) == 0);
		if (rid) {
			int ended;
			CHECK(decode(&got, rid, &out, &ended) > 0 && !ended);
			CHECK_MEM_EQ(out.p, out.len, want.p, want.len);
			/* The test is only worth something if writes stopped there. */
			CHECK(in_header > 0 && in_padding > 0);
			printf("# stopped inside a header %d times, inside padding %d times\n",
			       in_header, in_padding);
		} else {
			CHECK_MEM_EQ(got.p, got.len, want.p, want.len);
		}
		finish(&q, &got, &out, &want, fds);
	}
}

/* The limit counts what a stopped stream really costs. A queue that its
 * socket stopped taking holds 5,000 small updates that nothing else
 * holds (the case of a stream whose reader stopped): the heap glibc
 * reports in use grows by what outq_mem says, within 5 per cent. The old
 * queue counted the SSE bytes only and let every update cost some 1.2 KB
 * of buffer chains besides: eight times what it counted. Skipped where
 * malloc is not glibc's (valgrind, AddressSanitizer). */
static void test_mem_is_real(void)
{
#if defined(__SANITIZE_ADDRESS__)
	puts("# skipped: AddressSanitizer's allocator");
	return;
#endif
	const char *vg = getenv("HUBD_VALGRIND");
	if (vg && strcmp(vg, "0") != 0) {
		puts("# skipped under valgrind");
		return;
	}
	int fds[2];
	pair(fds, 4096);
	struct outq q;
	outq_init(&q, 9);
	char data[100];
	memset(data, 'd', sizeof data);
	size_t before = mallinfo2().uordblks, written;
	for (int i = 0; i < 5000; i++) {
		char id[48];
		/* an id as long as hubd's own (urn:uuid:...) */
		snprintf(id, sizeof id, "urn:uuid:0190f3c2-7b4e-7abc-8def-%012d", i);
		const char *topics[] = {"https://example.com/books/1"};
		struct msg *m = msg_new(id, topics, 1, NULL, -1, false, data, sizeof data);
		m->seq = i + 1;
		outq_add_msg(&q, m);
		msg_unref(m);
		if (i % 10 == 9) /* a write per turn, as hubd's fan-out makes */
			CHECK(outq_write(&q, fds[0], &written) >= 0);
	}
	size_t real = mallinfo2().uordblks - before, counted = outq_mem(&q);
	printf("# 5000 stalled updates: heap +%zu bytes, outq_mem %zu (%.3f)\n", real, counted,
	       (double)real / (double)counted);
	CHECK(real <= counted + counted / 20 && counted <= real + real / 20);
	CHECK(outq_length(&q) > 0 && counted > outq_length(&q)); /* not only the SSE */
	outq_clear(&q);
	/* All of it given back (but what glibc's per-thread cache keeps). */
	CHECK(mallinfo2().uordblks < before + 64 * 1024);
	close(fds[0]);
	close(fds[1]);
}

/* outq_mem to the byte: a message counted in full by each queue that
 * holds it, copies with their allocation, the slot array once it exists,
 * the written part of the oldest item off; 0 when empty. */
static void test_mem_bookkeeping(void)
{
	struct outq a, b;
	outq_init(&a, 1);
	outq_init(&b, 0);
	CHECK(outq_mem(&a) == 0 && outq_empty(&a));
	struct msg *m = make("shared", "hello", 5);
	outq_add_msg(&a, m);
	CHECK(outq_mem(&a) == msg_mem(m)); /* the inline slot: no array */
	CHECK(m->data == NULL && m->sse != NULL); /* the encoding took the data's place */
	outq_add_msg(&b, m);
	CHECK(outq_mem(&b) == outq_mem(&a)); /* shared, counted by each */
	outq_add_sse(&a, ":ok\n\n", 5);
	CHECK(outq_mem(&a) == msg_mem(m) + heap_size(6) + heap_size(4 * sizeof(struct outq_item)));
	CHECK(outq_mem(&a) == expected_mem(&a));
	int fds[2];
	pair(fds, 0);
	size_t written;
	CHECK(outq_write(&a, fds[0], &written) == 1);
	/* Empty, but for the small array it keeps for the next turn. */
	CHECK(outq_mem(&a) == heap_size(4 * sizeof(struct outq_item)));
	CHECK(outq_length(&a) == 0 && outq_empty(&a));
	CHECK(m->refs == 2); /* a let go, b holds it */
	outq_clear(&b);
	CHECK(outq_mem(&b) == 0 && m->refs == 1);
	msg_unref(m);
	outq_clear(&a);
	close(fds[0]);
	close(fds[1]);
}

/* A hand-over stops a queue anywhere (inside a record's header, content
 * or padding, inside an update, before the end of the response): what the
 * next process writes -- the carry, then every update from first_left on
 * again, then the end unless the carry held it -- continues the bytes
 * already written into a well-framed response with every update exactly
 * once, in order; and the old queue is left as it was. */
static void test_owed_resumes(void)
{
	srand(777);
	int stopped_in_record = 0, left_some = 0, carried_end = 0;
	for (int trial = 0; trial < 600; trial++) {
		uint16_t rid = trial % 5 == 4 ? 0 : (uint16_t)(1 + trial % 3);
		int fds[2];
		pair(fds, 4 << 20);
		struct outq q;
		outq_init(&q, rid);
		struct buf got = {0}, out = {0}, want = {0};
		static const char head[] = "Status: 200 OK\r\n\r\n:ok\n\n";
		outq_add_sse(&q, head, strlen(head));
		buf_adds(&want, head);
		enum { N = 40 };
		struct msg *ms[N];
		for (int k = 0; k < N; k++) {
			size_t len = (size_t)(rand() % 25 == 0 ? rand() % 70000 : rand() % 300) + 1;
			char *data = malloc(len);
			memset(data, 'a' + k % 26, len);
			char id[16];
			snprintf(id, sizeof id, "u%d", k);
			ms[k] = make(id, data, len);
			ms[k]->seq = 10 + 3 * k;
			free(data);
			outq_add_msg(&q, ms[k]);
		}
		expect_sse(&want, ms, N);
		bool end = trial % 2 == 0;
		if (end) {
			struct buf e = {0};
			fcgi_append_end(&e, rid ? rid : 1);
			if (rid)
				outq_add_framed(&q, e.p, e.len);
			buf_free(&e);
		}
		/* Some capped writes: the queue stops anywhere. */
		int writes = rand() % 12;
		for (int w = 0; w < writes; w++) {
			write_cap = (size_t)(rand() % 4 == 0 ? rand() % 9 + 1 : rand() % 30000 + 1);
			size_t written;
			CHECK(outq_write(&q, fds[0], &written) >= 0);
			write_cap = 0;
			drain(fds[1], &got);
		}
		stopped_in_record += q.rec_left > 0 || q.hdr_left > 0 || q.pad_left > 0;
		size_t len_before = outq_length(&q), mem_before = outq_mem(&q);
		struct outq_owed owed;
		outq_owed(&q, &owed);
		CHECK(outq_length(&q) == len_before && outq_mem(&q) == mem_before);
		left_some += owed.first_left != 0;
		carried_end += owed.ends;
		/* The next process's queue. */
		struct outq q2;
		outq_init(&q2, rid);
		outq_add_framed(&q2, owed.carry.p, owed.carry.len);
		for (int k = 0; k < N && owed.first_left; k++)
			if (ms[k]->seq >= owed.first_left)
				outq_add_msg(&q2, ms[k]);
		if (end && rid && !owed.ends) {
			struct buf e = {0};
			fcgi_append_end(&e, rid);
			outq_add_framed(&q2, e.p, e.len);
			buf_free(&e);
		}
		size_t written;
		int rounds = 0;
		while (outq_write(&q2, fds[0], &written) == 0 && rounds++ < 100000)
			drain(fds[1], &got);
		drain(fds[1], &got);
		if (rid) {
			int ended;
			CHECK(decode(&got, rid, &out, &ended) >= 0);
			CHECK(ended == end);
			CHECK_MEM_EQ(out.p, out.len, want.p, want.len);
		} else {
			CHECK_MEM_EQ(got.p, got.len, want.p, want.len);
		}
		for (int k = 0; k < N; k++)
			msg_unref(ms[k]);
		buf_free(&owed.carry);
		outq_clear(&q2);
		finish(&q, &got, &out, &want, fds);
	}
	printf("# hand-overs inside a record %d, with updates left out %d, carrying the end %d\n",
	       stopped_in_record, left_some, carried_end);
	/* Worth something only if every case came up. */
	CHECK(stopped_in_record > 20 && left_some > 20 && carried_end > 20);
}

TEST_MAIN(TEST(test_one_record_per_write), TEST(test_large_and_cgi),
	  TEST(test_backlog_and_end), TEST(test_errors_and_clear),
	  TEST(test_partial_writes_resume), TEST(test_mem_is_real),
	  TEST(test_mem_bookkeeping), TEST(test_owed_resumes))
