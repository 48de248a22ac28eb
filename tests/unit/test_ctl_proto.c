/* test_ctl_proto.c -- control protocol: fields, fragments, fd passing, and
 * rejection of malformed and truncated datagrams. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ctl_proto.h"
#include "testlib.h"

static void pair(int sv[2])
{
	int rc = socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv);
	CHECK(rc == 0);
	int big = 1 << 20;
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
	setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
}

/* Receives datagrams from fd until a message completes or fails. */
static int receive(int fd, struct ctl_msg *m, char *err, size_t errlen)
{
	struct ctl_reader r = {0};
	char *dg = malloc(CTL_DATAGRAM_MAX);
	int rc;
	do {
		int passed;
		ssize_t n = ctl_recv_datagram(fd, dg, &passed);
		if (n <= 0) {
			snprintf(err, errlen, "recv: %zd %s", n, strerror(errno));
			rc = -2;
			break;
		}
		rc = ctl_reader_feed(&r, dg, (size_t)n, passed, 1 << 20, m, err, errlen);
	} while (rc == 0);
	ctl_reader_reset(&r);
	free(dg);
	return rc;
}

static void test_roundtrip_with_fd(void)
{
	int sv[2], p[2];
	pair(sv);
	CHECK(pipe(p) == 0);
	struct buf b = {0};
	ctl_put_str(&b, CTL_T_TOPIC, "a");
	ctl_put_str(&b, CTL_T_TOPIC, "b");
	ctl_put_u32(&b, CTL_T_MODE, CTL_MODE_FCGI);
	ctl_put(&b, CTL_T_DATA, "x\0y", 3);
	CHECK(ctl_send(sv[0], CTL_SUBSCRIBE, 42, b.p, b.len, p[1]) == 0);
	struct ctl_msg m;
	char err[128];
	CHECK(receive(sv[1], &m, err, sizeof err) == 1);
	CHECK(m.type == CTL_SUBSCRIBE && m.request == 42 && m.nfields == 4);
	CHECK(ctl_count(&m, CTL_T_TOPIC) == 2);
	uint32_t mode = 0;
	CHECK(ctl_field_u32(ctl_find(&m, CTL_T_MODE), &mode) && mode == CTL_MODE_FCGI);
	const struct ctl_field *d = ctl_find(&m, CTL_T_DATA);
	CHECK(d && d->len == 3 && memcmp(d->val, "x\0y", 3) == 0);
	CHECK(!ctl_field_u32(d, &mode));
	CHECK(m.fd >= 0 && (fcntl(m.fd, F_GETFD) & FD_CLOEXEC));
	/* The passed fd is the pipe's write end. */
	CHECK(write(m.fd, "z", 1) == 1);
	char c = 0;
	CHECK(read(p[0], &c, 1) == 1 && c == 'z');
	ctl_msg_clear(&m);
	CHECK(m.fd == -1 && m.payload == NULL);
	buf_free(&b);
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
}

static void test_fragments(void)
{
	int sv[2];
	pair(sv);
	size_t len = 200 * 1024;
	char *data = malloc(len);
	for (size_t i = 0; i < len; i++)
		data[i] = (char)(i * 13);
	struct buf b = {0};
	ctl_put(&b, CTL_T_DATA, data, len);
	ctl_put_str(&b, CTL_T_TOPIC, "t");
	CHECK(ctl_send(sv[0], CTL_PUBLISH, 7, b.p, b.len, -1) == 0);
	struct ctl_msg m;
	char err[128];
	CHECK(receive(sv[1], &m, err, sizeof err) == 1);
	const struct ctl_field *d = ctl_find(&m, CTL_T_DATA);
	CHECK(d && d->len == len && memcmp(d->val, data, len) == 0);
	CHECK(m.fd == -1);
	ctl_msg_clear(&m);

	/* Over the reassembly cap: rejected. */
	struct ctl_reader r = {0};
	CHECK(ctl_send(sv[0], CTL_PUBLISH, 8, b.p, b.len, -1) == 0);
	char *dg = malloc(CTL_DATAGRAM_MAX);
	int rc = 0, passed;
	while (rc == 0) {
		ssize_t n = ctl_recv_datagram(sv[1], dg, &passed);
		CHECK(n > 0);
		rc = ctl_reader_feed(&r, dg, (size_t)n, passed, 100 * 1024, &m, err, sizeof err);
	}
	CHECK(rc == -1 && strstr(err, "exceeds") && errno == EMSGSIZE);
	ctl_reader_reset(&r);
	/* Drain the rest of that message. */
	int fl = fcntl(sv[1], F_GETFL);
	fcntl(sv[1], F_SETFL, fl | O_NONBLOCK);
	while (ctl_recv_datagram(sv[1], dg, &passed) > 0)
		;
	free(dg);
	free(data);
	buf_free(&b);
	close(sv[0]);
	close(sv[1]);
}

/* Feeds one raw datagram to a fresh reader. */
static int feed_raw(const void *p, size_t len, int fd, char *err, size_t errlen)
{
	struct ctl_reader r = {0};
	struct ctl_msg m;
	int rc = ctl_reader_feed(&r, p, len, fd, 1 << 20, &m, err, errlen);
	if (rc == 1)
		ctl_msg_clear(&m);
	ctl_reader_reset(&r);
	return rc;
}

static void test_malformed(void)
{
	char err[128];
	struct ctl_header h = {.version = CTL_PROTOCOL_VERSION, .type = CTL_PUBLISH, .length = 0};
	unsigned char dg[256];

	CHECK(feed_raw(&h, 5, -1, err, sizeof err) == -1); /* short header */
	struct ctl_header bad = h;
	bad.version = 99;
	CHECK(feed_raw(&bad, sizeof bad, -1, err, sizeof err) == -1 && strstr(err, "version"));
	bad = h;
	bad.length = 10; /* says 10, has 0 */
	CHECK(feed_raw(&bad, sizeof bad, -1, err, sizeof err) == -1);
	bad = h;
	bad.flags = 0x80;
	CHECK(feed_raw(&bad, sizeof bad, -1, err, sizeof err) == -1 && strstr(err, "flags"));
	CHECK(feed_raw(&h, sizeof h, -1, err, sizeof err) == 1); /* empty payload is well-framed */

	/* Field overrunning the payload. */
	struct ctl_field_header f = {.tag = CTL_T_TOPIC, .len = 100};
	h.length = sizeof f + 4;
	memcpy(dg, &h, sizeof h);
	memcpy(dg + sizeof h, &f, sizeof f);
	memcpy(dg + sizeof h + sizeof f, "abcd", 4);
	CHECK(feed_raw(dg, sizeof h + sizeof f + 4, -1, err, sizeof err) == -1 && strstr(err, "overruns"));
	/* Unknown tag. */
	f.tag = 999;
	f.len = 4;
	memcpy(dg + sizeof h, &f, sizeof f);
	CHECK(feed_raw(dg, sizeof h + sizeof f + 4, -1, err, sizeof err) == -1 && strstr(err, "unknown"));
	/* Truncated field header. */
	h.length = 3;
	memcpy(dg, &h, sizeof h);
	CHECK(feed_raw(dg, sizeof h + 3, -1, err, sizeof err) == -1 && strstr(err, "truncated"));
	/* Non-zero reserved. */
	f.tag = CTL_T_TOPIC;
	f.reserved = 1;
	h.length = sizeof f + 4;
	memcpy(dg, &h, sizeof h);
	memcpy(dg + sizeof h, &f, sizeof f);
	CHECK(feed_raw(dg, sizeof h + sizeof f + 4, -1, err, sizeof err) == -1);

	/* Too many fields. */
	struct buf b = {0};
	for (int i = 0; i < CTL_FIELDS_MAX + 1; i++)
		ctl_put(&b, CTL_T_TOPIC, "", 0);
	struct ctl_msg m = {.payload = buf_steal(&b, &m.len), .fd = -1};
	CHECK(ctl_parse_fields(&m, err, sizeof err) == -1 && strstr(err, "more than"));
	ctl_msg_clear(&m);

	/* A rejected datagram closes the fd that came with it. */
	int p[2];
	CHECK(pipe(p) == 0);
	bad = h;
	bad.version = 0;
	CHECK(feed_raw(&bad, sizeof bad, p[1], err, sizeof err) == -1);
	CHECK(fcntl(p[1], F_GETFD) == -1 && errno == EBADF);
	close(p[0]);
}

static void test_fragment_rules(void)
{
	char err[128];
	struct ctl_reader r = {0};
	struct ctl_msg m;
	struct ctl_header h = {.version = CTL_PROTOCOL_VERSION, .type = CTL_PUBLISH,
			       .flags = CTL_F_MORE, .request = 1, .length = 0};
	CHECK(ctl_reader_feed(&r, (char *)&h, sizeof h, -1, 1 << 20, &m, err, sizeof err) == 0);
	struct ctl_header other = h;
	other.request = 2;
	CHECK(ctl_reader_feed(&r, (char *)&other, sizeof other, -1, 1 << 20, &m, err, sizeof err) == -1);
	ctl_reader_reset(&r);

	/* An fd on a continuation fragment is refused and closed. */
	int p[2];
	CHECK(pipe(p) == 0);
	CHECK(ctl_reader_feed(&r, (char *)&h, sizeof h, -1, 1 << 20, &m, err, sizeof err) == 0);
	h.flags = 0;
	CHECK(ctl_reader_feed(&r, (char *)&h, sizeof h, p[1], 1 << 20, &m, err, sizeof err) == -1);
	CHECK(fcntl(p[1], F_GETFD) == -1);
	ctl_reader_reset(&r);
	close(p[0]);
}

static void test_recv_checks(void)
{
	int sv[2];
	pair(sv);
	/* A datagram larger than CTL_DATAGRAM_MAX is truncated: EPROTO. */
	size_t big = CTL_DATAGRAM_MAX + 100;
	char *p = calloc(1, big);
	CHECK(send(sv[0], p, big, 0) == (ssize_t)big);
	char *dg = malloc(CTL_DATAGRAM_MAX);
	int fd;
	errno = 0;
	CHECK(ctl_recv_datagram(sv[1], dg, &fd) == -1 && errno == EPROTO && fd == -1);

	/* Two descriptors in one datagram: EPROTO, both closed. */
	int a[2], b[2];
	CHECK(pipe(a) == 0 && pipe(b) == 0);
	int fds[2] = {a[1], b[1]};
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof fds)];
	} cbuf;
	struct iovec iov = {.iov_base = "x", .iov_len = 1};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf.buf,
			    .msg_controllen = sizeof cbuf.buf};
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof fds);
	memcpy(CMSG_DATA(c), fds, sizeof fds);
	CHECK(sendmsg(sv[0], &mh, 0) == 1);
	close(a[1]);
	close(b[1]);
	errno = 0;
	CHECK(ctl_recv_datagram(sv[1], dg, &fd) == -1 && errno == EPROTO && fd == -1);
	/* Both received copies were closed: the read ends see EOF. */
	char ch;
	CHECK(read(a[0], &ch, 1) == 0 && read(b[0], &ch, 1) == 0);
	close(a[0]);
	close(b[0]);

	close(sv[0]);
	CHECK(ctl_recv_datagram(sv[1], dg, &fd) == 0);
	close(sv[1]);
	free(dg);
	free(p);
}

/* Descriptors open in this process (a leak check). */
static int open_fds(void)
{
	int n = 0;
	for (int fd = 0; fd < 4096; fd++)
		n += fcntl(fd, F_GETFD) >= 0;
	return n;
}

/* A whole batch of CTL_FDS_MAX descriptors (what a hand-over sends) goes
 * with the first fragment of a fragmented message and arrives in order;
 * one more than the receiver takes is refused, every copy closed. */
static void test_many_fds(void)
{
	int sv[2];
	pair(sv);
	int before = open_fds();
	int pipes[CTL_FDS_MAX][2], ends[CTL_FDS_MAX];
	for (int i = 0; i < CTL_FDS_MAX; i++) {
		CHECK(pipe(pipes[i]) == 0);
		ends[i] = pipes[i][1];
	}
	size_t len = 3 * CTL_DATAGRAM_MAX; /* several fragments */
	char *payload = malloc(len);
	for (size_t i = 0; i < len; i++)
		payload[i] = (char)(i * 7);
	struct buf b = {0};
	ctl_put(&b, CTL_T_BODY, payload, len);
	CHECK(ctl_send_fds(sv[0], CTL_OK, 9, b.p, b.len, ends, CTL_FDS_MAX) == 0);
	errno = 0;
	CHECK(ctl_send_fds(sv[0], CTL_OK, 9, b.p, b.len, ends, CTL_FDS_MAX + 1) == -1 &&
	      errno == EMSGSIZE);

	char *dg = malloc(CTL_DATAGRAM_MAX);
	int got[CTL_FDS_MAX], ngot = 0, frags = 0;
	struct ctl_reader r = {0};
	struct ctl_msg m;
	char err[128];
	int rc;
	do {
		int fds[CTL_FDS_MAX], n = 0;
		ssize_t k = ctl_recv_datagram_fds(sv[1], dg, fds, CTL_FDS_MAX, &n);
		CHECK(k > 0);
		CHECK(frags == 0 ? n == CTL_FDS_MAX : n == 0);
		for (int i = 0; i < n; i++)
			got[ngot++] = fds[i];
		frags++;
		rc = ctl_reader_feed(&r, dg, (size_t)k, -1, 1 << 20, &m, err, sizeof err);
	} while (rc == 0);
	CHECK(rc == 1 && frags == 4 && ngot == CTL_FDS_MAX);
	const struct ctl_field *f = ctl_find(&m, CTL_T_BODY);
	CHECK(f && f->len == len && memcmp(f->val, payload, len) == 0);
	/* In order: descriptor i is pipe i's write end. */
	for (int i = 0; i < CTL_FDS_MAX; i++) {
		char c = (char)i, back = 0;
		CHECK(fcntl(got[i], F_GETFD) & FD_CLOEXEC);
		CHECK(write(got[i], &c, 1) == 1);
		CHECK(read(pipes[i][0], &back, 1) == 1 && back == c);
		close(got[i]);
	}
	ctl_msg_clear(&m);
	ctl_reader_reset(&r);

	/* Three descriptors to a receiver that takes two: EPROTO, all closed. */
	CHECK(ctl_send_fds(sv[0], CTL_OK, 10, NULL, 0, ends, 3) == 0);
	int two[2], n2 = -1;
	errno = 0;
	CHECK(ctl_recv_datagram_fds(sv[1], dg, two, 2, &n2) == -1 && errno == EPROTO && n2 == 0);
	for (int i = 0; i < CTL_FDS_MAX; i++) {
		close(pipes[i][0]);
		close(pipes[i][1]);
	}
	CHECK(open_fds() == before);
	buf_free(&b);
	free(payload);
	free(dg);
	close(sv[0]);
	close(sv[1]);
}

TEST_MAIN(TEST(test_roundtrip_with_fd), TEST(test_fragments), TEST(test_malformed),
	  TEST(test_fragment_rules), TEST(test_recv_checks), TEST(test_many_fds))
