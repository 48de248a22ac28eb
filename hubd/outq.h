/* outq.h -- a stream's output queue. Updates are queued by reference to the
 * message's SSE encoding (built once, shared by every stream), other SSE
 * text (headers, comments) by copy, and nothing is framed until the queue
 * is written. A write frames everything queued since the last one as few
 * FastCGI STDOUT records as the 65535-byte content limit allows (CGI: no
 * framing at all), builds the record headers on the stack and hands it all
 * to the kernel with one writev: a burst of updates costs one write and one
 * record per stream, and queueing and writing an update allocates nothing.
 * What the socket does not take goes to a backlog (still by reference)
 * that the next write sends first. Loop thread only. */
#ifndef HUBD_OUTQ_H
#define HUBD_OUTQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct msg;
struct evbuffer;

/* One queued piece of SSE text: an update (m, referenced) or a copy (raw). */
struct outq_item {
	struct msg *m;
	char *raw;
	size_t len;
};

struct outq {
	struct outq_item *items;  /* queued since the last write, oldest first:
				   * &one, or an array once a turn queues more */
	struct outq_item one;     /* room for one without an allocation */
	uint32_t nitems, cap;
	size_t items_len;         /* SSE bytes in items */
	struct evbuffer *backlog; /* framed bytes a write left; NULL until needed */
	uint16_t request_id;      /* FastCGI request id to frame with; 0: CGI */
};

/* Sets up an empty queue for a FastCGI stream with request_id (1..65535),
 * or for a CGI stream (request_id 0: bytes go out unframed). Allocates
 * nothing (a stream that gets one update per loop turn never does);
 * cannot fail. q points into itself from then on: never copy or move it. */
void outq_init(struct outq *q, uint16_t request_id);
/* Drops everything queued (releasing message references) and frees the
 * queue's memory; q is then empty and may be used again. */
void outq_clear(struct outq *q);

/* Queues update m's SSE encoding by reference (takes its own reference on
 * m). Cannot fail (aborts on OOM). */
void outq_add_msg(struct outq *q, struct msg *m);
/* Queues len bytes of SSE text (copied). len 0 queues nothing. */
void outq_add_sse(struct outq *q, const char *sse, size_t len);
/* Queues bytes that are already framed (the FastCGI end of a response;
 * copied) after everything queued so far. */
void outq_add_framed(struct outq *q, const void *p, size_t len);

/* Bytes that earlier writes could not send (framing included). */
size_t outq_backlog(const struct outq *q);
/* Everything waiting: the backlog plus the SSE bytes queued since
 * (framing not counted). 0 when the queue is empty. */
size_t outq_length(const struct outq *q);

/* Writes what is queued to the non-blocking fd, the backlog first, as much
 * as it takes; *written gets the bytes sent. Returns 1 when the queue is
 * empty now, 0 when the socket is full (the rest stays in the backlog:
 * wait for writability), -1 on an error with errno set (EINTR is retried). */
int outq_write(struct outq *q, int fd, size_t *written);

#endif
