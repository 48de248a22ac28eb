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
#include "topic.h"

struct hub;
struct client;
struct msg;
struct event;

enum sub_state {
	SUB_REPLAYING, /* headers maybe not sent; live updates held in pending */
	SUB_LIVE,      /* updates are queued as they come */
	SUB_ENDING,    /* the end of the response is queued; closes when sent */
	SUB_CLOSED,    /* fd closed, unlinked from the hub; waiting for refs */
};

/* Replay from history, and the live updates that arrive meanwhile: only
 * while a stream replays (sub_replay), freed when it goes live. */
struct sub_replay {
	struct msg **pending; /* live updates held back, oldest first */
	int npending, pending_cap;
	size_t pending_bytes;
	bool inflight;        /* a page query is out */
	bool more;            /* more pages follow once the queue drains */
	bool draining;        /* last page queued; live once it is written */
	int64_t upto;         /* pages up to this seq (inclusive) */
	char *after_id;       /* NULL after the first page */
	char *header_last_id; /* value for the Last-Event-ID response header */
};

/* What only some streams have (sub_extra); kept for the stream's life. */
struct sub_extra {
	struct event *expiry; /* ends the stream when its JWT expires */
	int64_t exp_s;        /* that JWT's exp (epoch seconds) */
	char *headers;        /* more response header lines (CORS) until sent */
	char *id;             /* subscriber id (subscriptions API), or NULL */
	char *payload;        /* its JWT's mercure.payload JSON, or NULL */
	struct topic_link *links; /* several topics: their links, or NULL */
	struct client *client;    /* its address's entry (max-streams-per-client) */
	struct sub *client_prev, *client_next; /* that client's streams */
};

/* Every open stream costs one of these (and its match_rules): what a
 * plain live stream needs is here, the rest hangs off replay and extra,
 * NULL for most, and the link of a stream with one topic is inside
 * (sub_links). 184 bytes on 64-bit Linux: one 192-byte malloc chunk. */
struct sub {
	struct hub *hub;
	struct sub *prev, *next;   /* the hub's list of every open stream, by
				    * last write: the longest idle first */
	struct sub *dirty_next;    /* the hub's flush list */
	struct match_rules *rules; /* what it may receive; owned */
	struct sub_replay *replay; /* while replaying, else NULL */
	struct sub_extra *extra;   /* NULL unless needed */
	struct topic_link link;    /* its one topic's link (see sub_links) */
	struct outq out;           /* framed with the FastCGI request id (0: CGI) */
	int64_t last_seq;          /* highest update seq queued (no duplicates) */
	int64_t last_write_ms;     /* last time bytes left (mono_ms) */
	int fd;
	int refs;
	uint8_t nlinks;
	uint8_t mode;              /* CTL_MODE_FCGI or CTL_MODE_CGI */
	uint8_t state;             /* enum sub_state */
	bool watched : 1;          /* fd is in the hub's epoll set */
	bool want_write : 1;       /* with write interest */
	bool dirty : 1;            /* on the hub's flush list */
	bool headers_sent : 1;
	bool no_x_accel : 1;       /* headers without X-Accel-Buffering */
	bool probe_twice : 1;      /* the front needs two writes to notice a departure */
};

/* Creates a stream on fd (taken: closed by the stream) and makes fd
 * non-blocking. Watches fd in the hub's epoll set for the peer closing
 * (FastCGI: read-EOF; CGI: hang-up or error only). Returns NULL with errno
 * when fd cannot be watched; fd is then closed. The caller adds it to the
 * hub and links topics. */
struct sub *sub_new(struct hub *hub, int fd, int mode, uint16_t request_id);

struct sub *sub_ref(struct sub *s);
/* The stream's replay state, or its extra fields, created empty on first
 * use. Cannot fail (aborts on OOM). */
struct sub_replay *sub_replay(struct sub *s);
struct sub_extra *sub_extra(struct sub *s);
/* Replay is over: frees its state (releasing held-back updates). */
void sub_replay_free(struct sub *s);
/* The stream's nlinks topic links: its own link, or extra->links. */
static inline struct topic_link *sub_links(struct sub *s)
{
	return s->extra && s->extra->links ? s->extra->links : &s->link;
}
/* Drops a reference; frees at zero (the stream must be closed by then). */
void sub_unref(struct sub *s);

/* Queues the response header block (with the extra headers, which it
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

/* Writes a probe (an SSE comment) unless output is queued already: the web
 * server relays it to the client, and a client that left answers with a
 * reset, which makes the server close the stream; hubd then sees the close.
 * Returns true when a probe was queued. */
bool sub_probe(struct sub *s);

/* Ends the response cleanly: queues the end of the stream (FastCGI: an
 * empty FCGI_STDOUT and END_REQUEST), closes once it is written. */
void sub_end(struct sub *s);
/* Closes the stream now (client gone, too slow, shutdown deadline):
 * closes fd, unlinks from topics and the hub, drops the hub's reference.
 * Safe to call twice. reason is for the debug log. */
void sub_abort(struct sub *s, const char *reason);

#endif
