/* outq.c -- a stream's output queue: references queued, framed when
 * written, with one writev (see outq.h). */
#include "config.h"

#include "outq.h"

#include <errno.h>
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

/* The plan of one write (the loop thread is the only writer): the iovecs,
 * and the record headers they point to. Every record has a header and at
 * least one piece of content, so IOV_MAX pieces need fewer headers than
 * half as many, plus the one of a record a write stopped inside. */
static struct iovec iov[IOV_MAX];
static unsigned char hdrs[IOV_MAX / 2 + 2][FCGI_RECORD_HEADER_LEN];
static const char zeros[8];

void outq_init(struct outq *q, uint16_t request_id)
{
	memset(q, 0, sizeof *q);
	q->items = &q->one;
	q->cap = 1;
	q->request_id = request_id;
}

/* The memory an item pins while it waits (before any of it is written). */
static size_t item_mem(const struct outq_item *it)
{
	return it->kind == OUTQ_MSG ? msg_mem(it->m) : heap_size((size_t)it->len + 1);
}

static size_t array_mem(const struct outq *q)
{
	return q->items == &q->one ? 0 : heap_size((size_t)q->cap * sizeof *q->items);
}

static void item_free(struct outq_item *it)
{
	if (it->kind == OUTQ_MSG)
		msg_unref(it->m);
	else
		free(it->raw);
}

/* Back to the inline slot, freeing the array; the queue must be empty. */
static void items_to_inline(struct outq *q)
{
	q->mem -= array_mem(q);
	if (q->items != &q->one)
		free(q->items);
	q->items = &q->one;
	q->head = q->n = 0;
	q->cap = 1;
}

void outq_clear(struct outq *q)
{
	for (uint32_t i = q->head; i < q->n; i++)
		item_free(&q->items[i]);
	items_to_inline(q);
	q->off = 0;
	q->rec_left = 0;
	q->hdr_left = q->pad_left = 0;
	q->len = q->mem = 0;
}

/* A free slot at the end: moves the waiting items to the front of the
 * array when half of it is written already, else grows it. */
static struct outq_item *new_item(struct outq *q)
{
	if (q->head == q->n)
		q->head = q->n = 0;
	if (q->n == q->cap && q->head > 0 && q->head >= q->cap / 2) {
		memmove(q->items, q->items + q->head, (size_t)(q->n - q->head) * sizeof *q->items);
		q->n -= q->head;
		q->head = 0;
	}
	if (q->n == q->cap) {
		uint32_t cap = q->cap < 4 ? 4 : q->cap * 2;
		q->mem -= array_mem(q);
		if (q->items == &q->one) {
			q->items = xmalloc((size_t)cap * sizeof *q->items);
			q->items[0] = q->one;
		} else {
			q->items = xrealloc(q->items, (size_t)cap * sizeof *q->items);
		}
		q->cap = cap;
		q->mem += array_mem(q);
	}
	return &q->items[q->n++];
}

static void add_item(struct outq *q, struct outq_item it)
{
	*new_item(q) = it;
	q->len += it.len;
	q->mem += item_mem(&it);
}

/* An item's length: the encodings and copies hubd queues are far below
 * 4 GiB (outq.h); anything else is a broken invariant. */
static uint32_t item_len(size_t len)
{
	if (len > UINT32_MAX)
		fatal("output queue: a piece of %zu bytes", len);
	return (uint32_t)len;
}

void outq_add_msg(struct outq *q, struct msg *m)
{
	size_t len;
	msg_sse(m, &len);
	add_item(q, (struct outq_item){.m = msg_ref(m), .len = item_len(len), .kind = OUTQ_MSG});
}

static void add_copy(struct outq *q, const void *p, size_t len, enum outq_kind kind)
{
	add_item(q, (struct outq_item){.raw = xmemdup(p, len), .len = item_len(len),
				       .kind = (uint8_t)kind});
}

void outq_add_sse(struct outq *q, const char *sse, size_t len)
{
	if (len > 0)
		add_copy(q, sse, len, OUTQ_SSE);
}

void outq_add_framed(struct outq *q, const void *p, size_t len)
{
	if (len > 0)
		add_copy(q, p, len, OUTQ_FRAMED);
}

size_t outq_length(const struct outq *q)
{
	return q->len;
}

bool outq_empty(const struct outq *q)
{
	return q->head == q->n && q->rec_left == 0 && q->hdr_left == 0 && q->pad_left == 0;
}

size_t outq_mem(const struct outq *q)
{
	return q->mem;
}

/* ---- framing ------------------------------------------------------------ */

static const char *item_bytes(const struct outq_item *it)
{
	return it->kind == OUTQ_MSG ? it->m->sse : it->raw;
}

/* True when the item at i goes out as it is: no record around it. */
static bool unframed(const struct outq *q, uint32_t i)
{
	return q->request_id == 0 || q->items[i].kind == OUTQ_FRAMED;
}

/* The content length of a record that starts at item i, byte off: the SSE
 * items from there up to a framed item or the end, at most
 * FCGI_RECORD_MAX_CONTENT. Called alike when planning a write and when
 * accounting for it, with the queue unchanged between, so both see the
 * same records. */
static uint16_t record_len(const struct outq *q, uint32_t i, uint32_t off)
{
	size_t len = 0;
	for (; i < q->n && !unframed(q, i) && len < FCGI_RECORD_MAX_CONTENT; i++, off = 0)
		len += q->items[i].len - off;
	return (uint16_t)(len < FCGI_RECORD_MAX_CONTENT ? len : FCGI_RECORD_MAX_CONTENT);
}

/* Where a write is, in the queue and in its record (see struct outq). */
struct cursor {
	uint32_t i, off;
	uint16_t rec_left;
	uint8_t hdr_left, pad_left;
};

/* Opens the record that starts at the cursor. */
static void open_record(const struct outq *q, struct cursor *c)
{
	c->rec_left = record_len(q, c->i, c->off);
	c->pad_left = fcgi_padding(c->rec_left);
	c->hdr_left = FCGI_RECORD_HEADER_LEN;
}

/* Takes up to max bytes of item data at the cursor (an open record's
 * content, or an unframed item): the pointer and length of the run. */
static size_t take_item(const struct outq *q, struct cursor *c, size_t max, const char **p)
{
	const struct outq_item *it = &q->items[c->i];
	size_t k = it->len - c->off;
	if (c->rec_left && k > c->rec_left)
		k = c->rec_left;
	if (k > max)
		k = max;
	*p = item_bytes(it) + c->off;
	c->off += (uint32_t)k;
	if (c->rec_left)
		c->rec_left -= (uint16_t)k;
	if (c->off == it->len) {
		c->i++;
		c->off = 0;
	}
	return k;
}

/* Plans a write from the queue's state: at most IOV_MAX pieces. Returns
 * their count; *bytes gets their total. */
static int plan_write(const struct outq *q, size_t *bytes)
{
	struct cursor c = {q->head, q->off, q->rec_left, q->hdr_left, q->pad_left};
	int n = 0, nh = 0;
	size_t total = 0;
	while (n < IOV_MAX) {
		const char *p;
		size_t k;
		if (c.hdr_left) {
			/* The header of the record at the cursor (all of it, or
			 * what an earlier write left). */
			if (n + 2 > IOV_MAX)
				break;
			unsigned char *h = hdrs[nh++];
			fcgi_header(h, FCGI_TYPE_STDOUT, q->request_id, c.rec_left, c.pad_left);
			p = (const char *)h + FCGI_RECORD_HEADER_LEN - c.hdr_left;
			k = c.hdr_left;
			c.hdr_left = 0;
		} else if (c.rec_left) {
			k = take_item(q, &c, SIZE_MAX, &p);
		} else if (c.pad_left) {
			p = zeros;
			k = c.pad_left;
			c.pad_left = 0;
		} else if (c.i == q->n) {
			break;
		} else if (unframed(q, c.i)) {
			k = take_item(q, &c, SIZE_MAX, &p);
		} else {
			open_record(q, &c);
			continue;
		}
		iov[n++] = (struct iovec){.iov_base = (void *)p, .iov_len = k};
		total += k;
	}
	*bytes = total;
	return n;
}

/* ---- what a hand-over carries --------------------------------------------- */

/* Appends len bytes of SSE text to out framed as FastCGI STDOUT records
 * of their own (request_id 0: raw, for CGI). */
static void frame_run(struct buf *out, uint16_t request_id, const char *p, size_t len)
{
	if (request_id == 0) {
		buf_add(out, p, len);
		return;
	}
	while (len > 0) {
		size_t k = len < FCGI_RECORD_MAX_CONTENT ? len : FCGI_RECORD_MAX_CONTENT;
		unsigned char h[FCGI_RECORD_HEADER_LEN];
		uint8_t pad = fcgi_padding(k);
		fcgi_header(h, FCGI_TYPE_STDOUT, request_id, (uint16_t)k, pad);
		buf_add(out, h, sizeof h);
		buf_add(out, p, k);
		buf_add(out, zeros, pad);
		p += k;
		len -= k;
	}
}

void outq_owed(const struct outq *q, struct outq_owed *owed)
{
	memset(owed, 0, sizeof *owed);
	struct cursor c = {q->head, q->off, q->rec_left, q->hdr_left, q->pad_left};
	/* The record a write stopped inside, as the next write would have
	 * finished it. */
	if (c.hdr_left) {
		unsigned char h[FCGI_RECORD_HEADER_LEN];
		fcgi_header(h, FCGI_TYPE_STDOUT, q->request_id, c.rec_left, c.pad_left);
		buf_add(&owed->carry, h + FCGI_RECORD_HEADER_LEN - c.hdr_left, c.hdr_left);
	}
	while (c.rec_left) {
		const char *p;
		size_t k = take_item(q, &c, SIZE_MAX, &p);
		buf_add(&owed->carry, p, k);
	}
	buf_add(&owed->carry, zeros, c.pad_left);
	/* Then item by item, each in records of its own, up to the first
	 * update not yet started. */
	for (; c.i < q->n; c.i++, c.off = 0) {
		const struct outq_item *it = &q->items[c.i];
		if (it->kind == OUTQ_MSG && c.off == 0) {
			owed->first_left = it->m->seq;
			return;
		}
		const char *p = item_bytes(it) + c.off;
		size_t k = it->len - c.off;
		if (it->kind == OUTQ_FRAMED) {
			buf_add(&owed->carry, p, k);
			owed->ends = true;
		} else {
			frame_run(&owed->carry, q->request_id, p, k);
		}
	}
}

/* Drops the oldest item, written in full. */
static void release_head(struct outq *q)
{
	struct outq_item *it = &q->items[q->head++];
	q->mem -= item_mem(it) - it->len; /* its bytes went as they were written */
	item_free(it);
	q->off = 0;
}

/* Accounts for up to n bytes of items written at the cursor: releases the
 * oldest item once all of it went. Returns the bytes taken. */
static size_t consume_item(struct outq *q, struct cursor *c, size_t n)
{
	const char *p;
	uint32_t i = c->i;
	size_t k = take_item(q, c, n, &p);
	q->len -= k;
	q->mem -= k;
	q->off = c->off;
	if (c->i != i)
		release_head(q);
	return k;
}

/* Accounts for n bytes written: the same walk as plan_write, applied to
 * the queue. */
static void consume(struct outq *q, size_t n)
{
	struct cursor c = {q->head, q->off, q->rec_left, q->hdr_left, q->pad_left};
	while (n > 0) {
		size_t k;
		if (c.hdr_left) {
			k = n < c.hdr_left ? n : c.hdr_left;
			c.hdr_left -= (uint8_t)k;
		} else if (c.rec_left) {
			k = consume_item(q, &c, n);
		} else if (c.pad_left) {
			k = n < c.pad_left ? n : c.pad_left;
			c.pad_left -= (uint8_t)k;
		} else if (c.i == q->n) {
			break; /* cannot happen: n bytes were planned */
		} else if (unframed(q, c.i)) {
			k = consume_item(q, &c, n);
		} else {
			open_record(q, &c);
			continue;
		}
		n -= k;
	}
	q->rec_left = c.rec_left;
	q->hdr_left = c.hdr_left;
	q->pad_left = c.pad_left;
}

int outq_write(struct outq *q, int fd, size_t *written)
{
	*written = 0;
	while (!outq_empty(q)) {
		size_t asked;
		int cnt = plan_write(q, &asked);
		ssize_t n = writev(fd, iov, cnt);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EPIPE;
			return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
		}
		*written += (size_t)n;
		consume(q, (size_t)n);
		if ((size_t)n < asked)
			return 0; /* a short write: the socket is full */
	}
	/* Caught up: a burst made the array large, give the memory back. */
	if (q->cap > 16)
		items_to_inline(q);
	return 1;
}
