/* outq.h -- a stream's output queue. Updates are queued by reference to the
 * message's SSE encoding (built once, shared by every stream), other SSE
 * text (headers, comments) by copy, and nothing is framed until the queue
 * is written. A write frames everything waiting as few FastCGI STDOUT
 * records as the 65535-byte content limit allows (CGI: no framing at all),
 * builds the record headers on the stack and hands it all to the kernel
 * with one writev: a burst of updates costs one write and one record per
 * stream. What the socket does not take simply stays queued, still by
 * reference and still unframed: the queue remembers only how much of the
 * record it was in the middle of is still owed. So a queued update costs
 * one 16-byte slot whatever happens to the socket, and the queue knows
 * exactly what it pins (outq_mem). Loop thread only. */
#ifndef HUBD_OUTQ_H
#define HUBD_OUTQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct msg;

enum outq_kind {
	OUTQ_MSG,    /* an update's SSE encoding, referenced */
	OUTQ_SSE,    /* SSE text, a copy; framed when written */
	OUTQ_FRAMED, /* bytes framed already (the FastCGI end), a copy */
};

/* One queued piece. An update's length fits: its encoding is at most
 * about 7 x max-update-size (16 MiB at most) bytes. */
struct outq_item {
	union {
		struct msg *m; /* OUTQ_MSG: the queue's reference */
		char *raw;     /* the copies: owned */
	};
	uint32_t len;
	uint8_t kind; /* enum outq_kind */
};

struct outq {
	struct outq_item *items; /* items[head..n) wait, oldest first: &one,
				  * or an array once more than one waits */
	struct outq_item one;    /* room for one without an allocation */
	uint32_t head, n, cap;
	uint32_t off;            /* bytes of items[head] written already */
	uint16_t request_id;     /* FastCGI request id to frame with; 0: CGI */
	/* The FastCGI record a write stopped inside: content bytes it still
	 * owes (taken from the items in order), header bytes not yet written
	 * (0..8; the header is rebuilt from rec_left and pad_left), padding
	 * bytes not yet written. All 0 between records. */
	uint16_t rec_left;
	uint8_t hdr_left, pad_left;
	size_t len; /* bytes waiting: see outq_length */
	size_t mem; /* memory pinned: see outq_mem */
};

/* Sets up an empty queue for a FastCGI stream with request_id (1..65535),
 * or for a CGI stream (request_id 0: bytes go out unframed). Allocates
 * nothing (a stream that gets one update per write never does); cannot
 * fail. q points into itself from then on: never copy or move it. */
void outq_init(struct outq *q, uint16_t request_id);
/* Drops everything queued (releasing message references) and frees the
 * queue's memory; q is then empty and may be used again. A record a
 * write stopped inside is forgotten: only for a stream being closed. */
void outq_clear(struct outq *q);

/* Queues update m's SSE encoding by reference (takes its own reference on
 * m; builds the encoding, msg_sse, if it was not). Cannot fail (aborts on
 * OOM). */
void outq_add_msg(struct outq *q, struct msg *m);
/* Queues len bytes of SSE text (copied). len 0 queues nothing. */
void outq_add_sse(struct outq *q, const char *sse, size_t len);
/* Queues bytes that are already framed (the FastCGI end of a response;
 * copied) after everything queued so far. */
void outq_add_framed(struct outq *q, const void *p, size_t len);

/* Bytes waiting: the SSE text and framed bytes not yet written (record
 * framing not counted). 0 when nothing waits. */
size_t outq_length(const struct outq *q);
/* True when nothing at all waits (not even the rest of a record). */
bool outq_empty(const struct outq *q);
/* The memory the queue pins, in bytes: every queued message counted in
 * full with msg_mem (a message shared with other streams is counted by
 * each: each of them keeps it alive), less the bytes of the oldest that
 * were written already; each copy with its allocation overhead; the slot
 * array once one is allocated. What it leaves out: the written part of
 * the one update a write stopped inside (at most one update), and struct
 * outq itself (inside the stream). The limit on a stream (max-queue)
 * applies to this. */
size_t outq_mem(const struct outq *q);

/* What a queue still owes its stream when the stream is handed to another
 * process (a live upgrade, handover.h) with no write in between. */
struct outq_owed {
	/* Bytes to write first, framed already (FastCGI records, or raw
	 * bytes for CGI): the rest of the record a write stopped inside, the
	 * rest of the item it stopped in, and every item before the first
	 * update not yet started -- the response's header block and comments
	 * included. Ends on a record boundary. Owned by the caller. */
	struct buf carry;
	/* The position (msg.seq) of the first update left out, 0 when none
	 * was: it and every later one must be sent again, from the store. */
	int64_t first_left;
	/* The carry holds a framed item: the end of the response. */
	bool ends;
};
/* Fills *owed (zeroed first) from q without changing q: the stream can
 * go on from the same queue when the hand-over fails. Cannot fail. */
void outq_owed(const struct outq *q, struct outq_owed *owed);

/* Writes what is queued to the non-blocking fd, as much as it takes;
 * *written gets the bytes sent. Returns 1 when the queue is empty now, 0
 * when the socket is full (the rest stays queued: wait for writability),
 * -1 on an error with errno set (EINTR is retried). */
int outq_write(struct outq *q, int fd, size_t *written);

#endif
