/* counters.h -- the figures a store keeps for store_ops.stats: written by
 * whichever of the store's threads does the work, read by stats from any
 * thread, without a lock (relaxed atomics: each figure is exact, the set
 * is not one snapshot). Header-only; every store embeds one. */
#ifndef HUBD_STORE_COUNTERS_H
#define HUBD_STORE_COUNTERS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "store.h"

/* One per store_stats figure (store.h says what each means). */
struct store_counters {
	_Atomic int64_t stored, commits, appended, expired, errors;
	_Atomic int64_t reconnects, resets, lag_ms;
	_Atomic bool connected;
};

/* Every figure 0; connected as given (true for an embedded store). */
static inline void store_counters_init(struct store_counters *c, bool connected)
{
	atomic_init(&c->stored, 0);
	atomic_init(&c->commits, 0);
	atomic_init(&c->appended, 0);
	atomic_init(&c->expired, 0);
	atomic_init(&c->errors, 0);
	atomic_init(&c->reconnects, 0);
	atomic_init(&c->resets, 0);
	atomic_init(&c->lag_ms, 0);
	atomic_init(&c->connected, connected);
}

static inline void store_count(_Atomic int64_t *figure, int64_t n)
{
	atomic_fetch_add_explicit(figure, n, memory_order_relaxed);
}

static inline void store_count_set(_Atomic int64_t *figure, int64_t v)
{
	atomic_store_explicit(figure, v, memory_order_relaxed);
}

/* Whether a network store answers now. */
static inline void store_counters_connected(struct store_counters *c, bool connected)
{
	atomic_store_explicit(&c->connected, connected, memory_order_relaxed);
}

/* Fills *out (store_ops.stats). */
static inline void store_counters_read(struct store_counters *c, struct store_stats *out)
{
	out->stored = atomic_load_explicit(&c->stored, memory_order_relaxed);
	out->commits = atomic_load_explicit(&c->commits, memory_order_relaxed);
	out->appended = atomic_load_explicit(&c->appended, memory_order_relaxed);
	out->expired = atomic_load_explicit(&c->expired, memory_order_relaxed);
	out->errors = atomic_load_explicit(&c->errors, memory_order_relaxed);
	out->reconnects = atomic_load_explicit(&c->reconnects, memory_order_relaxed);
	out->resets = atomic_load_explicit(&c->resets, memory_order_relaxed);
	out->lag_ms = atomic_load_explicit(&c->lag_ms, memory_order_relaxed);
	out->connected = atomic_load_explicit(&c->connected, memory_order_relaxed);
}

#endif
