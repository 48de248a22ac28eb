/* hub.h -- the hub: the subscribers of every open stream (the stream set,
 * stream.h, owns the streams themselves), the topic registry, the publish
 * pipeline (the store orders and commits; the hub fans out from the
 * store's feed), replay from history (replay.h), liveness (every stream
 * written often enough that a departed client is noticed: probes,
 * heartbeats, sweeps in a surge, the stall cut), the per-client cap,
 * counters and the graceful shutdown. All of it runs on the event loop
 * thread. */
#ifndef HUBD_HUB_H
#define HUBD_HUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"
#include "util.h"

struct event_base;
struct settings;
struct msg;
struct match_rules;

struct hub;

/* Creates the hub; cfg and store are borrowed and must outlive it. Starts
 * the heartbeat timer. Cannot fail (aborts on OOM). */
struct hub *hub_new(struct event_base *base, const struct settings *cfg,
		    struct store *store);
/* Frees the hub; every stream must be closed (hub_shutdown). NULL: no-op. */
void hub_free(struct hub *h);

/* A new stream. */
struct hub_sub_request {
	int fd;                    /* taken (closed on failure too) */
	int mode;                  /* CTL_MODE_FCGI or CTL_MODE_CGI */
	uint16_t request_id;       /* FastCGI request id */
	bool no_x_accel;           /* headers without X-Accel-Buffering */
	bool probe_twice;          /* every probe written twice (CTL_STREAM_PROBE_TWICE) */
	bool draft08;              /* the client speaks Mercure draft-08 */
	struct match_rules *rules; /* what it may receive; taken */
	int64_t exp_s;             /* its JWT's exp (the stream ends then), 0: never */
	const char *last_event_id; /* Last-Event-ID / lastEventID (draft-07) /
				    * last_event_id (draft-08), or NULL when the
				    * client sent none ("earliest": all) */
	const char *extra_headers; /* response header lines, or NULL; copied */
	const char *payload;       /* mercure.payload JSON, or NULL; copied */
	const char *client_addr;   /* the client's address (REMOTE_ADDR), or NULL */
	const char *token_key;     /* a digest of its token (the per-token cap),
				    * or NULL: none */
};

/* Opens the stream req describes. Returns 0, or an HTTP status with a
 * reason in err: 503 (shutting down, at max-subscribers: then every idle
 * stream is probed soon, to release those whose clients left) or 429 (its
 * address has max-streams-per-client open, or its token
 * max-streams-per-token: their idle ones are probed). */
int hub_subscribe(struct hub *h, const struct hub_sub_request *req, char *err, size_t errlen);

/* Appends the JSON-LD document of the active subscriptions -- all, those
 * of the topic selector topic, or the one of topic and subscriber -- to
 * out. Returns 200, or 404 when the subscriptions API is off or the one
 * subscription asked for does not exist. */
int hub_subscriptions_json(struct hub *h, const char *topic, const char *subscriber,
			   struct buf *out);

/* Draft-08's document of the active draft-08 subscriptions -- all, those
 * of match_type and match (both or neither), or the one of match_type,
 * match and subscriber -- appended to out (plain JSON). Returns 200, or
 * 404 when the API is off or the one subscription does not exist. */
int hub_subscriptions_json08(struct hub *h, const char *match_type, const char *match,
			     const char *subscriber, struct buf *out);

/* The id of the last update the feed delivered, or NULL (borrowed, valid
 * until the next one). */
const char *hub_last_id(const struct hub *h);

/* Called once per publish with status 200 (then text is the id), 409
 * (duplicate id) or 500/503, text a reason. */
typedef void (*hub_publish_cb)(void *arg, int status, const char *text);
/* Publishes m (takes the caller's reference): gives it a hub id when it
 * has none and hands it to the store, which orders and commits it and
 * delivers it through its feed, from which the hub fans it out; then cb
 * runs. m must already be validated. */
void hub_publish(struct hub *h, struct msg *m, hub_publish_cb cb, void *arg);

/* The store, for history queries. */
struct store *hub_store(struct hub *h);
/* Appends the counters as a JSON object to out. */
void hub_stats_json(struct hub *h, struct buf *out);

/* ---- hand-over (a live upgrade: handover.h) ---- */
struct handover_stream;
struct url;
/* Called for each open stream: its descriptor (still the hub's) and its
 * record (valid for the call). */
typedef void (*hub_export_fn)(void *arg, int fd, const struct handover_stream *st);
/* Describes every open stream, longest idle first, for the hubd that
 * takes over; changes nothing (the hub serves on if the hand-over fails).
 * Nothing must run on the loop between the export and hub_forget_streams
 * or the resumption of service: a write would be lost to the records. */
void hub_export(struct hub *h, hub_export_fn each, void *arg);
/* on: no replay asks the store for a page from now on (a hand-over is
 * being prepared: the store is to close); off: the waiting ones ask. */
void hub_freeze(struct hub *h, bool on);
/* True when no replay's page query is out (frozen, the store may close). */
bool hub_quiet(const struct hub *h);
/* The streams are the new hubd's now: closes the hub's copies of their
 * descriptors without writing a byte or announcing anything. */
void hub_forget_streams(struct hub *h);
/* Takes over the stream st describes on fd (taken: closed on failure),
 * rules built against base (the hub's URL). It goes on where the former
 * hubd stopped: the carry first, then every update after its position
 * from the store (this hub's feed must start where the former one's
 * ended, or later), then live. Returns 0, or -1 with a reason in err. */
int hub_adopt(struct hub *h, int fd, const struct handover_stream *st, const struct url *base,
	      char *err, size_t errlen);

/* Stops new streams, ends every open stream cleanly, and calls done(arg)
 * once all are closed or after deadline_ms (the rest are cut). */
void hub_shutdown(struct hub *h, int deadline_ms, void (*done)(void *), void *arg);
bool hub_shutting_down(const struct hub *h);


#endif
