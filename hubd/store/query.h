/* query.h -- what every store does with a struct store_query it is given:
 * keep its own copy, normalised, until the query is answered. */
#ifndef HUBD_STORE_QUERY_H
#define HUBD_STORE_QUERY_H

#include <stdbool.h>

#include "store.h"

/* A copy of q in one allocation (free() it): the topics and after_id
 * strings copied, ntopics and after_seq at least 0, limit clamped to
 * 1..limit_max; the filter and its argument are borrowed as store.h
 * says. *all (may be NULL) tells whether a topic is "*" (every update
 * matches). Cannot fail (aborts on OOM). Any thread. */
struct store_query *store_query_copy(const struct store_query *q, int limit_max, bool *all);

#endif
