/* memory.h -- the memory store: every update held in this process, none
 * durable. The core's in-process test double (with hooks to inject
 * failures, hold completions and reset the feed), and a valid store for a
 * single-node hub that needs no durability. Loop thread only, but stats. */
#ifndef HUBD_STORE_MEMORY_H
#define HUBD_STORE_MEMORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

struct event_base;

struct store_memory_config {
	int64_t retain_count; /* keep at most this many updates; 0 = no cap */
	int64_t retain_age_s; /* drop updates older than this; 0 = no cap */
};

/* Opens an empty memory store (last_seq 0, last_id NULL); callbacks run
 * on base's loop, always from an event of its own, never inside a call
 * into the store. Positions are 1, 2, 3... in the order of the publish
 * calls. Close it from the loop, never from inside one of its own
 * callbacks (the store is freed under them). Returns NULL with a reason
 * in err when the store's events cannot be created (aborts on OOM). */
struct store *store_memory_open(struct event_base *base,
				const struct store_memory_config *cfg, char *err,
				size_t errlen);

/* ---- test hooks: s must come from store_memory_open ------------------- */

enum store_memory_op {
	STORE_MEMORY_PUBLISH,
	STORE_MEMORY_QUERY,
};

/* The next n operations of kind op (counted from now, in call order)
 * complete STORE_ERROR and store nothing; a failed publish keeps its
 * position (a hole). n <= 0 cancels failures not yet used. Cannot fail. */
void store_memory_fail(struct store *s, enum store_memory_op op, int n);

/* While paused, nothing queued completes: publishes are not committed (so
 * neither fed nor answered) and queries not answered. Unpausing completes
 * them in call order, from the loop, as if each ran alone: a query sees
 * exactly the publishes called before it. close ignores the pause.
 * Cannot fail. */
void store_memory_pause(struct store *s, bool paused);

/* Queues a call of the feed's reset callback (why is copied), in order
 * with the completions queued before it, as a shared store would make
 * after losing its log. What is stored is kept. Counts in stats.resets.
 * Cannot fail. */
void store_memory_reset_feed(struct store *s, const char *why);

#endif
