/* outq.c -- a stream's output queue: references queued, framed and written
 * with one writev (see outq.h). */
#include "config.h"

#include "outq.h"

#include <errno.h>
#include <event2/buffer.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "fcgi_record.h"
#include "log.h"
#include "msg.h"
#include "util.h"

#ifndef IOV_MAX
#define IOV_MAX 1024
#endif

/* One run of bytes of a planned write: a record header (hdr >= 0: index in
 * the plan's headers), padding, or content; content of an update keeps
 * the update (m) so that a backlog can reference it instead of copying. */
struct piece {
	const char *p;
	size_t len;
	struct msg *m;
	int hdr;
};

/* The plan of one write, reused from write to write (the loop thread is
 * the only writer): pieces in order, and the record headers they use. */
static struct {
	struct piece *pieces;
	size_t n, cap;
	unsigned char (*hdrs)[FCGI_RECORD_HEADER_LEN];
	size_t nhdrs, hdrcap;
	struct iovec *iov;
	size_t iovcap;
} plan;

static const char zeros[8];

void outq_init(struct outq *q, uint16_t request_id)
{
	memset(q, 0, sizeof *q);
	q->items = &q->one;
	q->cap = 1;
	q->request_id = request_id;
}

/* Back to the inline slot, freeing an array. */
static void items_to_inline(struct outq *q)
{
	if (q->items != &q->one)
		free(q->items);
	q->items = &q->one;
	q->cap = 1;
}

/* Drops the queued items (references and copies), keeping an array that a
 * steady flow of a few updates per turn reuses. */
static void release_items(struct outq *q)
{
	for (uint32_t i = 0; i < q->nitems; i++) {
		msg_unref(q->items[i].m);
		free(q->items[i].raw);
	}
	q->nitems = 0;
	q->items_len = 0;
	if (q->cap > 16) /* a burst made it large: give the memory back */
		items_to_inline(q);
}

void outq_clear(struct outq *q)
{
	release_items(q);
	items_to_inline(q);
	if (q->backlog)
		evbuffer_free(q->backlog);
	q->backlog = NULL;
}

static struct outq_item *new_item(struct outq *q)
{
	if (q->nitems == q->cap) {
		uint32_t cap = q->cap < 4 ? 4 : q->cap * 2;
		if (q->items == &q->one) {
			q->items = xmalloc((size_t)cap * sizeof *q->items);
			q->items[0] = q->one;
		} else {
			q->items = xrealloc(q->items, (size_t)cap * sizeof *q->items);
		}
		q->cap = cap;
	}
	return &q->items[q->nitems++];
}

void outq_add_msg(struct outq *q, struct msg *m)
{
	size_t len;
	msg_sse(m, &len);
	struct outq_item *it = new_item(q);
	it->m = msg_ref(m);
	it->raw = NULL;
	it->len = len;
	q->items_len += len;
}

void outq_add_sse(struct outq *q, const char *sse, size_t len)
{
	if (len == 0)
		return;
	struct outq_item *it = new_item(q);
	it->m = NULL;
	it->raw = xmemdup(sse, len);
	it->len = len;
	q->items_len += len;
}

size_t outq_backlog(const struct outq *q)
{
	return q->backlog ? evbuffer_get_length(q->backlog) : 0;
}

size_t outq_length(const struct outq *q)
{
	return outq_backlog(q) + q->items_len;
}

/* ---- planning ----------------------------------------------------------- */

static void add_piece(const char *p, size_t len, struct msg *m, int hdr)
{
	if (plan.n == plan.cap) {
		plan.cap = plan.cap ? plan.cap * 2 : 64;
		plan.pieces = xrealloc(plan.pieces, plan.cap * sizeof *plan.pieces);
	}
	plan.pieces[plan.n++] = (struct piece){.p = p, .len = len, .m = m, .hdr = hdr};
}

static int new_header(void)
{
	if (plan.nhdrs == plan.hdrcap) {
		plan.hdrcap = plan.hdrcap ? plan.hdrcap * 2 : 16;
		plan.hdrs = xrealloc(plan.hdrs, plan.hdrcap * sizeof *plan.hdrs);
	}
	add_piece(NULL, FCGI_RECORD_HEADER_LEN, NULL, (int)plan.nhdrs);
	return (int)plan.nhdrs++;
}

/* Fills in the header of the record that is open (hdr) now that its
 * content length is known, and pads it. */
static void close_record(const struct outq *q, int hdr, size_t content_len)
{
	uint8_t pad = fcgi_padding(content_len);
	fcgi_header(plan.hdrs[hdr], FCGI_TYPE_STDOUT, q->request_id, (uint16_t)content_len, pad);
	if (pad)
		add_piece(zeros, pad, NULL, -1);
}

/* Plans the write of q's items: FastCGI records of up to
 * FCGI_RECORD_MAX_CONTENT bytes of content, or the bare bytes for CGI. */
static void plan_items(const struct outq *q)
{
	plan.n = plan.nhdrs = 0;
	int hdr = -1;
	size_t rec_len = 0;
	for (uint32_t i = 0; i < q->nitems; i++) {
		const struct outq_item *it = &q->items[i];
		size_t left = it->len;
		const char *p = it->m ? it->m->sse : it->raw;
		while (left > 0) {
			if (q->request_id && hdr < 0) {
				hdr = new_header();
				rec_len = 0;
			}
			size_t take = left;
			if (q->request_id && take > FCGI_RECORD_MAX_CONTENT - rec_len)
				take = FCGI_RECORD_MAX_CONTENT - rec_len;
			add_piece(p, take, it->m, -1);
			p += take;
			left -= take;
			rec_len += take;
			if (q->request_id && rec_len == FCGI_RECORD_MAX_CONTENT) {
				close_record(q, hdr, rec_len);
				hdr = -1;
			}
		}
	}
	if (hdr >= 0)
		close_record(q, hdr, rec_len);
	/* Headers live in their own array (it may have moved while growing). */
	for (size_t i = 0; i < plan.n; i++)
		if (plan.pieces[i].hdr >= 0)
			plan.pieces[i].p = (const char *)plan.hdrs[plan.pieces[i].hdr];
}

static void unref_msg_cb(const void *data, size_t len, void *arg)
{
	(void)data;
	(void)len;
	msg_unref(arg);
}

/* Appends the planned pieces from piece `from`, byte `off` on, to the
 * backlog: update content by reference, the rest copied. */
static void backlog_pieces(struct outq *q, size_t from, size_t off)
{
	if (!q->backlog && !(q->backlog = evbuffer_new()))
		fatal("out of memory");
	for (size_t i = from; i < plan.n; i++, off = 0) {
		const struct piece *pc = &plan.pieces[i];
		const char *p = pc->p + off;
		size_t len = pc->len - off;
		if (pc->m) {
			if (evbuffer_add_reference(q->backlog, p, len, unref_msg_cb, msg_ref(pc->m)) == 0)
				continue;
			msg_unref(pc->m); /* not added: libevent did not call the cleanup */
		}
		if (evbuffer_add(q->backlog, p, len) < 0)
			fatal("out of memory");
	}
}

/* Moves the items queued since the last write to the backlog, framed,
 * behind what waits there already. */
static void items_to_backlog(struct outq *q)
{
	if (q->nitems == 0)
		return;
	plan_items(q);
	backlog_pieces(q, 0, 0);
	release_items(q);
}

void outq_add_framed(struct outq *q, const void *p, size_t len)
{
	items_to_backlog(q);
	if (!q->backlog && !(q->backlog = evbuffer_new()))
		fatal("out of memory");
	if (evbuffer_add(q->backlog, p, len) < 0)
		fatal("out of memory");
}

/* ---- writing ------------------------------------------------------------ */

/* Writes the backlog until it is empty or the socket is full. */
static int write_backlog(struct outq *q, int fd, size_t *written)
{
	while (evbuffer_get_length(q->backlog) > 0) {
		int n = evbuffer_write(q->backlog, fd);
		if (n > 0) {
			*written += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n == 0)
			errno = EPIPE;
		return -1;
	}
	return 1;
}

/* Writes the planned pieces with writev, IOV_MAX at a time. Returns 1 when
 * all went out, 0 when the socket filled up, -1 on an error (errno); *at
 * and *off tell where the write stopped (piece, byte). */
static int write_pieces(int fd, size_t *written, size_t *at, size_t *off)
{
	if (plan.iovcap < plan.n) {
		plan.iovcap = plan.n;
		plan.iov = xrealloc(plan.iov, plan.iovcap * sizeof *plan.iov);
	}
	for (size_t i = 0; i < plan.n; i++)
		plan.iov[i] = (struct iovec){.iov_base = (void *)plan.pieces[i].p,
					     .iov_len = plan.pieces[i].len};
	size_t i = 0, o = 0;
	int rc = 1;
	while (i < plan.n) {
		/* The first iovec starts o bytes in. */
		struct iovec saved = plan.iov[i];
		plan.iov[i].iov_base = (char *)plan.iov[i].iov_base + o;
		plan.iov[i].iov_len -= o;
		size_t cnt = plan.n - i < IOV_MAX ? plan.n - i : IOV_MAX;
		size_t asked = 0;
		for (size_t j = i; j < i + cnt; j++)
			asked += plan.iov[j].iov_len;
		ssize_t n = writev(fd, &plan.iov[i], (int)cnt);
		plan.iov[i] = saved;
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EPIPE;
			rc = (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
			break;
		}
		*written += (size_t)n;
		size_t k = (size_t)n;
		while (i < plan.n && k > 0 && k >= plan.pieces[i].len - o) {
			k -= plan.pieces[i].len - o;
			o = 0;
			i++;
		}
		o += k;
		if ((size_t)n < asked) {
			rc = 0; /* a short write: the socket is full */
			break;
		}
	}
	*at = i;
	*off = o;
	return rc;
}

int outq_write(struct outq *q, int fd, size_t *written)
{
	*written = 0;
	if (outq_backlog(q) > 0) {
		/* Earlier bytes wait: the new ones go behind them. */
		items_to_backlog(q);
		int rc = write_backlog(q, fd, written);
		if (rc == 1) { /* caught up: most streams never need one again */
			evbuffer_free(q->backlog);
			q->backlog = NULL;
		}
		return rc;
	}
	if (q->nitems == 0)
		return 1;
	plan_items(q);
	size_t at = 0, off = 0;
	int rc = write_pieces(fd, written, &at, &off);
	/* The socket is full: keep the rest (not after an error: the stream
	 * is about to be closed). */
	if (rc == 0 && at < plan.n)
		backlog_pieces(q, at, off);
	release_items(q);
	return rc;
}
