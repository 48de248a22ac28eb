/* stream.h -- subscriber streams and the set that owns them. A stream is
 * one SSE response hubd writes on a descriptor it was handed (a FastCGI
 * connection or a CGI stdout): its output queue with a hard limit, the
 * detection of the web server closing it, its state machine (replaying,
 * live, ending, closed) and its close. The stream set owns every open
 * stream: their descriptors in one epoll set, their order by last write
 * (for the liveness walk), the flush at the end of each loop turn, and the
 * deferred close: a stream closed anywhere (a failed write, the web server
 * hanging up, a limit) has its descriptor closed at once, but its owner
 * hears of it (closed callback) only at the end of the loop turn, never
 * inside another object's call chain. The owner embeds struct stream at
 * the start of its own per-stream struct (stream_set_config.stream_size)
 * and learns what happens through the callbacks it gave the set. Loop
 * thread only. */
#ifndef HUBD_STREAM_H
#define HUBD_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "outq.h"

struct event;
struct event_base;
struct msg;
struct stream_set;

enum stream_state {
	STREAM_REPLAYING, /* headers maybe not sent; the owner holds live updates */
	STREAM_LIVE,      /* updates are queued as they come */
	STREAM_ENDING,    /* the end of the response is queued; closes when sent */
	STREAM_CLOSED,    /* descriptor closed; waiting for the references */
};

/* What only some streams have (stream_extra); kept for the stream's life. */
struct stream_extra {
	struct event *expiry; /* ends the stream when its token expires */
	int64_t exp_s;        /* that token's exp (epoch seconds) */
	char *headers;        /* more response header lines (CORS) until sent */
};

struct stream {
	struct stream_set *set;
	struct stream *prev, *next;  /* the set's list, by last write: the
				      * longest idle first */
	struct stream *dirty_next;   /* the set's flush list */
	struct stream_extra *extra;  /* NULL unless needed */
	struct outq out;             /* framed with the FastCGI request id (0: CGI) */
	int64_t last_seq;            /* position of the last update queued */
	int64_t last_write_ms;       /* last time bytes left (mono_ms) */
	int fd;
	int refs;
	uint8_t mode;                /* CTL_MODE_FCGI or CTL_MODE_CGI */
	uint8_t state;               /* enum stream_state */
	bool watched : 1;            /* fd is in the set's epoll set */
	bool want_write : 1;         /* with write interest */
	bool dirty : 1;              /* on the set's flush list */
	bool headers_sent : 1;
	bool no_x_accel : 1;         /* headers without X-Accel-Buffering */
	bool probe_twice : 1;        /* the front needs two writes to notice a departure */
	bool draft08 : 1;            /* the client speaks Mercure draft-08 */
};

struct stream_set_config {
	/* The owner's per-stream struct, which begins with struct stream:
	 * stream_open allocates this much, zeroed. */
	size_t stream_size;
	/* The owner's extra struct, which begins with struct stream_extra:
	 * stream_extra allocates this much, zeroed (one allocation for both,
	 * and one pointer in the stream). */
	size_t extra_size;
	size_t max_queue;           /* bytes a live stream may pin (stream_mem) */
	uint32_t retry_lo_ms, retry_hi_ms; /* each stream opens with a retry:
					    * in this range; hi 0: none */
	/* A replaying stream wrote bytes (its queue shrank): the owner may
	 * queue more of its replay. Never called for other states. */
	void (*drained)(void *owner, struct stream *s);
	/* s closed during this loop turn (it is unlinked from the set
	 * already, its descriptor closed); the owner unlinks it from what it
	 * keeps. Runs at the end of the turn; the set drops its reference
	 * after it returns. */
	void (*closed)(void *owner, struct stream *s);
	/* The last reference went: frees what the owner's part and its extra
	 * part hold (not s or s->extra themselves). NULL: nothing to free. */
	void (*release)(void *owner, struct stream *s);
	void *owner;
};

/* Creates an empty set (cfg copied). Cannot fail (aborts when the epoll
 * set or the events cannot be created: start-up). */
struct stream_set *stream_set_new(struct event_base *base, const struct stream_set_config *cfg);
/* Closes every stream (their closed callbacks run before it returns) and
 * frees the set. NULL: no-op. */
void stream_set_free(struct stream_set *set);
/* Open streams (not closed; the ones closing this turn are not counted). */
int stream_set_count(const struct stream_set *set);
/* The longest idle open stream (follow ->next), or NULL. */
struct stream *stream_set_first(const struct stream_set *set);
/* Live streams cut for pinning more than max_queue, since creation. */
uint64_t stream_set_drops(const struct stream_set *set);
/* Runs the closed callbacks of the streams closed so far this turn now
 * (for a shutdown deadline, or before freeing). */
void stream_set_reap(struct stream_set *set);

/* Opens a stream on fd (taken: closed by the stream, also on failure) in
 * state STREAM_REPLAYING, makes fd non-blocking and watches it for the
 * peer closing (FastCGI: read-EOF; CGI: hang-up or error only). The set
 * holds one reference until the stream is closed and reaped. Returns NULL
 * with errno when fd cannot be watched. */
struct stream *stream_open(struct stream_set *set, int fd, int mode, uint16_t request_id);
struct stream *stream_ref(struct stream *s);
/* Drops a reference; frees at zero (release callback first). NULL: no-op. */
void stream_unref(struct stream *s);
/* The stream's extra fields (extra_size bytes, the owner's after
 * struct stream_extra), created zeroed on first use. Cannot fail. */
struct stream_extra *stream_extra(struct stream *s);

/* Queues the response header block (with the extra headers, which it
 * frees), the opening comment and the retry: line. last_id: value of the
 * Last-Event-ID response header (Mercure-Last-Event-ID for a draft-08
 * stream) or NULL for none; reset: the requested
 * Last-Event-ID was unknown (adds X-Hubd-Replay: reset and the
 * hubd-replay-reset event naming requested_id). */
void stream_send_headers(struct stream *s, const char *last_id, bool reset,
			 const char *requested_id);
/* Counts idle_ms since the stream's last write (a stream taken over). */
void stream_set_idle(struct stream *s, int64_t idle_ms);
/* Takes over a response another hubd wrote until now (a live upgrade):
 * queues its owed bytes (carry: framed already, copied), marks the header
 * block sent, and counts idle_ms since its last write. ended: the carry
 * holds the end of the response: the stream is ENDING and closes once it
 * is written. */
void stream_take_over(struct stream *s, const void *carry, size_t len, int64_t idle_ms,
		      bool ended);
/* Queues update m (by reference, no copy) unless it was queued already
 * (m->seq <= last_seq) or the stream is ending or closed. A live stream
 * that pins more than max_queue (what the socket could not take from
 * earlier turns) is closed instead and counted as a drop; a replaying one
 * is not limited (its owner paces it). Returns true when queued. */
bool stream_queue_msg(struct stream *s, struct msg *m);
/* Queues raw SSE bytes (copied), framed for the stream's mode. */
void stream_queue_sse(struct stream *s, const char *sse, size_t len);
/* Replay is over: the stream takes live updates from now on. */
void stream_go_live(struct stream *s);
/* Bytes waiting in the output queue. */
size_t stream_queued(const struct stream *s);
/* The memory the output queue pins (outq_mem). */
size_t stream_mem(const struct stream *s);

/* Ends the stream cleanly at epoch second exp_s (its token's exp).
 * Returns -1 when the timer cannot be set. */
int stream_expire_at(struct stream *s, int64_t exp_s);
/* Writes a probe (an SSE comment) unless output is queued already or the
 * response has not started: the web server relays it to the client, and
 * a client that left answers with a reset, which makes the server close
 * the stream; the set then sees the close. Returns true when queued. */
bool stream_probe(struct stream *s);
/* Ends the response cleanly: queues the end of the stream (FastCGI: an
 * empty FCGI_STDOUT and END_REQUEST), closes once it is written. */
void stream_end(struct stream *s);
/* Closes the stream now (client gone, too slow, shutdown deadline):
 * closes fd and drops queued output; the owner's closed callback follows
 * at the end of the turn. Safe to call twice. reason is for the debug
 * log. */
void stream_abort(struct stream *s, const char *reason);

#endif
