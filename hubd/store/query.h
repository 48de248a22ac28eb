/* query.h -- what every store does with a struct store_query it is given:
 * keep its own copy, normalised, until the query is answered, and build
 * the page of results by the same rules (store.h: filter, limit, byte
 * budget, encoding). */
#ifndef HUBD_STORE_QUERY_H
#define HUBD_STORE_QUERY_H

#include <stdbool.h>
#include <stddef.h>

#include "store.h"

/* A copy of q in one allocation (free() it): the topics and after_id
 * strings copied, ntopics and after_seq at least 0, limit clamped to
 * 1..limit_max; the filter and its argument are borrowed as store.h
 * says. *all (may be NULL) tells whether a topic is "*" (every update
 * matches). Cannot fail (aborts on OOM). Any thread. */
struct store_query *store_query_copy(const struct store_query *q, int limit_max, bool *all);

/* Whether m passes q's topic and private tests (all: q has a "*" topic,
 * as store_query_copy says). The filter is store_page_offer's. */
bool store_query_wants(const struct store_query *q, bool all, const struct msg *m);

/* The results of one query as a store builds them, oldest first, on the
 * thread that answers the query (one thread per page). */
struct store_page {
	const struct store_query *q; /* borrowed: the store's copy */
	struct msg **msgs;           /* one reference each, owned by the page */
	int n, cap;
	size_t bytes;  /* msg_mem of msgs[0..n) */
	bool done;     /* the limit or the byte budget is reached */
	bool has_more; /* a matching update was left out */
};

/* An empty page for q (kept by reference until the page is answered). */
void store_page_init(struct store_page *p, const struct store_query *q);

/* Offers m, a candidate in position order that passed the store's topic
 * and private tests; the page takes over the caller's reference. m is
 * dropped when q's filter refuses it, or when the page is full: limit
 * updates kept already, or m would take the page past q->max_bytes (the
 * first is always kept); both of these end the page (done, has_more).
 * Otherwise m is kept, encoded first (msg_sse) when q->encode -- the
 * caller must hold m alone. Returns !p->done: whether to offer more.
 * Cannot fail (aborts on OOM). */
bool store_page_offer(struct store_page *p, struct msg *m);

/* Drops everything kept (the query failed); the page stays usable. */
void store_page_clear(struct store_page *p);

/* Answers the query with the page and frees the page's array: cb (may
 * be NULL) takes over the references; on STORE_ERROR the page is cleared
 * first and cb gets no results, no has_more and after_found as store.h
 * says for an error (!q->after_id); after_pos (the position after_id
 * names) is passed on only when after_id was given and found, else 0. */
void store_page_answer(struct store_page *p, enum store_status status, bool after_found,
		       store_pos after_pos, store_query_cb cb, void *arg);

#endif
