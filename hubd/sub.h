/* sub.h -- one subscriber stream: the descriptor hubd writes the SSE
 * response to (a FastCGI connection or a CGI stdout), its output queue with
 * a hard limit, disconnect detection, the replay hold-back, and the clean
 * or abrupt close. Subscribers never free themselves inside their own
 * callbacks: sub_abort unlinks at once and the memory goes with the last
 * reference. */
#ifndef HUBD_SUB_H
#define HUBD_SUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "outq.h"

struct hub;
struct msg;
struct event;
struct topic_link;

enum sub_state {
	SUB_REPLAYING, /* headers maybe not sent; live updates held in pending */
	SUB_LIVE,      /* updates are queued as they come */
	SUB_ENDING,    /* the end of the response is queued; closes when sent */
	SUB_CLOSED,    /* fd closed, unlinked from the hub; waiting for refs */
};

struct sub {
	struct hub *hub;
	int fd;
	uint8_t mode;        /* CTL_MODE_FCGI or CTL_MODE_CGI */
	uint8_t state;       /* enum sub_state */
	bool watched;        /* fd is in the hub's epoll set */
	bool want_write;     /* with write interest */
	bool dirty;          /* on the hub's flush list */
	bool headers_sent;
	uint16_t request_id; /* FastCGI request id to frame with */
	int refs;
	struct outq out;
	int64_t last_seq;    /* highest update seq queued (no duplicates) */
	int64_t last_write_ms;
	struct match_rules *rules; /* what it may receive; owned */
	struct event *expiry;      /* ends the stream when its JWT expires */
	int64_t exp_s;             /* that JWT's exp (epoch seconds) */
	struct topic_link **links;
	int nlinks;
	/* Live updates that arrive while replaying, oldest first. */
	struct msg **pending;
	int npending, pending_cap;
	size_t pending_bytes;
	/* Replay from history: pages up to replay_upto (inclusive). */
	bool replay_inflight; /* a page query is out */
	bool replay_more;     /* more pages follow once the queue drains */
	bool replay_draining; /* last page queued; live once it is written */
	int64_t replay_upto;
	char *replay_after_id; /* NULL after the first page */
	char *header_last_id;  /* value for the Last-Event-ID response header */
	char *extra_headers;   /* more response header lines (CORS), or NULL */
	char *id;              /* subscriber id (subscriptions API), or NULL */
	char *payload;         /* its JWT's mercure.payload JSON, or NULL */
	struct sub *prev, *next;  /* the hub's list of every open stream */
	struct sub *dirty_next;   /* the hub's flush list */
};

/* Creates a stream on fd (taken: closed by the stream) and makes fd
 * non-blocking. Watches fd in the hub's epoll set for the peer closing
 * (FastCGI: read-EOF; CGI: hang-up or error only). Returns NULL with errno
 * when fd cannot be watched; fd is then closed. The caller adds it to the
 * hub and links topics. */
struct sub *sub_new(struct hub *hub, int fd, int mode, uint16_t request_id);

struct sub *sub_ref(struct sub *s);
/* Drops a reference; frees at zero (the stream must be closed by then). */
void sub_unref(struct sub *s);

/* Queues the response header block (with s->extra_headers, which it
 * frees) and the opening comment. last_id:
 * value of the Last-Event-ID response header or NULL for none; reset: the
 * requested Last-Event-ID was unknown (adds X-Hubd-Replay: reset and the
 * hubd-replay-reset event naming requested_id). */
void sub_send_headers(struct sub *s, const char *last_id, bool reset,
		      const char *requested_id);
/* Queues update m (by reference, no copy) unless it was queued already
 * (m->seq <= last_seq). The hard limit max_queue applies to the backlog the
 * socket could not take: a live stream is aborted (and counted as a drop)
 * when that backlog passes it, here or in sub_flush. Returns true when
 * queued. */
bool sub_queue_msg(struct sub *s, struct msg *m, size_t max_queue);
/* Queues raw SSE bytes (copied), framed for the stream's mode. */
void sub_queue_sse(struct sub *s, const char *sse, size_t len);
/* What epoll reported for the stream's fd (the hub's loop, which holds a
 * reference meanwhile): reads and discards, notices the peer closing,
 * writes when output waits. */
void sub_events(struct sub *s, uint32_t events);
/* Writes as much of the queue as the socket takes now; waits for
 * writability for the rest. Aborts the stream on a write error. */
void sub_flush(struct sub *s);
/* Bytes waiting in the output queue. */
size_t sub_queued(const struct sub *s);

/* Holds back live update m while replaying (takes a reference). Returns
 * false when the hold-back passes limit bytes (the caller aborts). */
bool sub_hold(struct sub *s, struct msg *m, size_t limit);

/* Ends the stream cleanly at epoch second exp_s (its JWT's exp). Returns
 * -1 when the timer cannot be set. */
int sub_expire_at(struct sub *s, int64_t exp_s);

/* Ends the response cleanly: queues the end of the stream (FastCGI: an
 * empty FCGI_STDOUT and END_REQUEST), closes once it is written. */
void sub_end(struct sub *s);
/* Closes the stream now (client gone, too slow, shutdown deadline):
 * closes fd, unlinks from topics and the hub, drops the hub's reference.
 * Safe to call twice. reason is for the debug log. */
void sub_abort(struct sub *s, const char *reason);

#endif
