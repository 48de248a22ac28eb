/* liveness.h -- every open stream written often enough: a heartbeat
 * comment spread evenly over the interval keeps proxies from timing out
 * and doubles as the probe that notices a client which left (the web
 * server relays the write and meets the client's reset, then closes the
 * stream, which hubd sees); a sweep probes every stream at once when a
 * surge of arrivals or departures shows that many clients are leaving
 * (surge.h); the stall cut closes a stream whose queued output has not
 * moved for the stall timeout. Works on the stream set's list by last
 * write, so its cost follows the probes, not the streams. Loop thread
 * only. */
#ifndef HUBD_LIVENESS_H
#define HUBD_LIVENESS_H

#include <stdint.h>

struct event_base;
struct stream;
struct stream_set;
struct liveness;

struct liveness_stats {
	uint64_t probes;  /* probes written */
	uint64_t sweeps;  /* sweeps of every stream */
	uint64_t stalled; /* streams cut by the stall timeout */
};

/* Starts the walk over set (borrowed: it must outlive the liveness):
 * every stream written at least once per heartbeat_s, stalls cut after
 * stall_timeout_s. Cannot fail (aborts when its events cannot be made). */
struct liveness *liveness_new(struct event_base *base, struct stream_set *set,
			      int heartbeat_s, int stall_timeout_s);
/* Stops the walk and drops the streams it holds. NULL: no-op. */
void liveness_free(struct liveness *l);
/* Stops probing and sweeping (shutdown); liveness_free still follows. */
void liveness_stop(struct liveness *l);

/* A stream opened / closed: counts toward a surge, which sweeps at once
 * (from its own event, never inside the caller's call). */
void liveness_note_arrival(struct liveness *l);
void liveness_note_departure(struct liveness *l);
/* Asks for a sweep soon (a subscriber was refused at capacity: dead
 * streams may be what fills the hub). */
void liveness_request_sweep(struct liveness *l);
/* Probes s now (and once more a tick later when its front needs two
 * writes to notice a departure, stream.probe_twice). */
void liveness_probe(struct liveness *l, struct stream *s);
void liveness_stats(const struct liveness *l, struct liveness_stats *out);

#endif
