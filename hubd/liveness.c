/* liveness.c -- heartbeats as probes, sweeps in a surge, the stall cut. */
#include "config.h"

#include "liveness.h"

#include <event2/event.h>
#include <stdbool.h>
#include <stdlib.h>

#include "log.h"
#include "stream.h"
#include "surge.h"
#include "util.h"

/* The liveness walk (tick_cb) runs this often. */
#define TICK_MS 250
/* No stream written this recently is probed, but in a sweep. */
#define PROBE_MIN_IDLE_MS (TICK_MS + TICK_MS / 2)
/* A sweep probes every stream, however recently written: one written
 * just before its client left would be passed over and keep its place
 * until the next sweep or its heartbeat. */
#define SWEEP 0

struct liveness {
	struct stream_set *set;
	int64_t heartbeat_ms, stall_ms;
	struct event *tick_ev;
	struct event *sweep_ev; /* a sweep at once, outside any stream's call */
	struct surge surge;
	int64_t probe_credit;   /* probes the budget allows now, in thousandths */
	struct stream **again;  /* probed last tick, to be probed once more (held) */
	size_t nagain, again_cap;
	bool stopped;
	uint64_t probes, stalled;
};

static void tick_cb(evutil_socket_t fd, short what, void *arg);
static void sweep_cb(evutil_socket_t fd, short what, void *arg);

struct liveness *liveness_new(struct event_base *base, struct stream_set *set,
			      int heartbeat_s, int stall_timeout_s)
{
	struct liveness *l = xcalloc(1, sizeof *l);
	l->set = set;
	l->heartbeat_ms = (int64_t)heartbeat_s * 1000;
	l->stall_ms = (int64_t)stall_timeout_s * 1000;
	surge_init(&l->surge);
	l->tick_ev = event_new(base, -1, EV_PERSIST, tick_cb, l);
	l->sweep_ev = event_new(base, -1, 0, sweep_cb, l);
	if (!l->tick_ev || !l->sweep_ev)
		fatal("cannot create the liveness events");
	struct timeval tv = {.tv_sec = 0, .tv_usec = TICK_MS * 1000};
	event_add(l->tick_ev, &tv);
	return l;
}

/* Drops the streams held for a second probe. */
static void drop_again(struct liveness *l)
{
	for (size_t i = 0; i < l->nagain; i++)
		stream_unref(l->again[i]);
	free(l->again);
	l->again = NULL;
	l->nagain = l->again_cap = 0;
}

void liveness_stop(struct liveness *l)
{
	l->stopped = true;
	event_del(l->tick_ev);
	event_del(l->sweep_ev);
	drop_again(l);
}

void liveness_free(struct liveness *l)
{
	if (!l)
		return;
	drop_again(l);
	event_free(l->tick_ev);
	event_free(l->sweep_ev);
	free(l);
}

void liveness_stats(const struct liveness *l, struct liveness_stats *out)
{
	out->probes = l->probes;
	out->sweeps = l->surge.sweeps;
	out->stalled = l->stalled;
}

/* Probes s; a stream whose front needs a second write to notice that the
 * client left gets it at the next tick (a round trip later). */
void liveness_probe(struct liveness *l, struct stream *s)
{
	if (!stream_probe(s))
		return;
	l->probes++;
	if (!s->probe_twice)
		return;
	if (l->nagain == l->again_cap) {
		l->again_cap = l->again_cap ? l->again_cap * 2 : 64;
		l->again = xrealloc(l->again, l->again_cap * sizeof *l->again);
	}
	l->again[l->nagain++] = stream_ref(s);
}

/* The second write of last tick's probes (see probe). */
static void probe_again(struct liveness *l)
{
	struct stream **list = l->again;
	size_t n = l->nagain;
	l->again = NULL;
	l->nagain = l->again_cap = 0;
	for (size_t i = 0; i < n; i++) {
		if (stream_probe(list[i]))
			l->probes++;
		stream_unref(list[i]);
	}
	free(list);
}

/* Probes the streams idle for at least due_ms, and up to budget more of
 * the longest idle (but none written in the last PROBE_MIN_IDLE_MS), and cuts
 * those whose queued output has not moved for the stall timeout (checked
 * as streams come due: a stall is noticed within a heartbeat after the
 * timeout, at the latest). The walk goes from the longest idle and stops
 * at the first stream that is due for nothing. A stream with output queued is not probed (its own bytes
 * will tell); one whose response has not started (its replay query is
 * out) is passed. */
static void walk(struct liveness *l, int64_t now, int64_t due_ms, int64_t *budget_p)
{
	int64_t budget = *budget_p;
	int64_t stall_ms = l->stall_ms;
	int64_t min_idle = due_ms < PROBE_MIN_IDLE_MS ? due_ms : PROBE_MIN_IDLE_MS;
	for (struct stream *s = stream_set_first(l->set), *next; s; s = next) {
		next = s->next;
		int64_t idle = now - s->last_write_ms;
		if (idle < min_idle || (idle < due_ms && budget <= 0))
			break;
		if (!s->headers_sent)
			continue;
		if (stream_queued(s) > 0) {
			if (idle >= stall_ms) {
				l->stalled++;
				stream_abort(s, "no output written for the stall timeout");
			}
		} else if (idle >= due_ms || budget > 0) {
			liveness_probe(l, s);
			budget -= idle < due_ms;
		}
	}
	*budget_p = budget;
}

/* Every TICK_MS. Every stream is written at least once a heartbeat: the
 * longest idle streams get a comment, spread evenly over the interval (a
 * budget of nsubs / heartbeat probes a second, counted in thousandths so
 * that a few streams are not probed every tick), which keeps proxies from
 * timing out and doubles as the probe that notices a client which left
 * (the web server relays the write and meets the client's reset). When
 * the probes, or arrivals, show a surge, or a subscriber was refused at
 * capacity, every stream is probed at once (a sweep). */
static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct liveness *l = arg;
	int64_t now = mono_ms();
	probe_again(l);
	int64_t interval_ms = l->heartbeat_ms;
	int64_t per_tick = (int64_t)stream_set_count(l->set) * TICK_MS * 1000 / interval_ms;
	l->probe_credit += per_tick;
	if (l->probe_credit > per_tick + 1000) /* no hoarding while none is due */
		l->probe_credit = per_tick + 1000;
	int64_t budget = l->probe_credit / 1000, before = budget;
	int64_t due_ms = interval_ms - TICK_MS / 2; /* due within this tick: now */
	if (surge_should_sweep(&l->surge, now, stream_set_count(l->set))) {
		log_debug("a surge of streams: probing every stream");
		due_ms = SWEEP;
	}
	walk(l, now, due_ms, &budget);
	l->probe_credit -= (before - budget) * 1000;
}

/* Checks for a surge as each arrival or departure is counted (called from
 * inside a stream's close, so the sweep itself waits for sweep_cb), so
 * that a storm is swept at once rather than at the next tick. */
static void sweep_if_surging(struct liveness *l)
{
	if (!l->stopped && surge_should_sweep(&l->surge, mono_ms(), stream_set_count(l->set))) {
		log_debug("a surge of streams: probing every stream");
		event_active(l->sweep_ev, 0, 0);
	}
}

static void sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	struct liveness *l = arg;
	int64_t no_budget = 0;
	if (!l->stopped)
		walk(l, mono_ms(), SWEEP, &no_budget);
}

void liveness_note_arrival(struct liveness *l)
{
	surge_note_arrival(&l->surge, mono_ms());
	sweep_if_surging(l);
}

void liveness_note_departure(struct liveness *l)
{
	if (l->stopped)
		return;
	surge_note_departure(&l->surge, mono_ms());
	sweep_if_surging(l);
}

void liveness_request_sweep(struct liveness *l)
{
	surge_request(&l->surge);
}
