/* memory.c -- the memory store: the updates in an array in position order
 * with a hash table from id to update, everything on the loop thread.
 *
 * Every operation is queued, in call order, on one list of operations;
 * an event made active with event_active() runs them later on the loop,
 * so no callback ever runs inside a call into the store. Publishes commit
 * when their turn comes (one commit per turn that stores something), so a
 * query sees exactly the publishes called before it.
 * Copies: the store keeps a copy of each stored update of its own (the
 * hub builds the encoding on the one it fed, which frees that one's
 * data), and answers queries with fresh copies the callback owns.
 * Retention: by count at each commit; by age at a commit that stores an
 * update already too old, and on a timer once a second. */
#include "config.h"

#include "memory.h"

#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "log.h"
#include "counters.h"
#include "query.h"
#include "util.h"

#define RETAIN_INTERVAL_MS 1000
#define INITIAL_BUCKETS 64

/* A stored update: the store's own copy, data kept. */
struct entry {
	struct msg *m;
	struct entry *hnext; /* the next in its hash bucket */
};

enum op_kind { OP_PUBLISH, OP_QUERY, OP_RESET };

/* A queued operation. */
struct op {
	struct op *next;
	enum op_kind kind;
	bool fail; /* complete STORE_ERROR (store_memory_fail) */
	void *arg;
	/* OP_PUBLISH: the store's reference to the publisher's update. */
	struct msg *m;
	store_publish_cb pcb;
	/* OP_QUERY: the store's copy of the query (store_query_copy). */
	struct store_query *q;
	bool all; /* a "*" topic */
	store_query_cb qcb;
	/* OP_RESET */
	char *why;
};

struct memory_store {
	struct store pub; /* first member: struct store * converts to this */
	int64_t retain_count;
	int64_t retain_age_s;

	/* The retained updates, oldest first: log[first .. first + n). */
	struct entry **log;
	size_t first, n, cap;
	/* id -> entry, chained; nbuckets a power of two. */
	struct entry **buckets;
	size_t nbuckets;

	struct op *head, *tail;  /* queued operations, in call order */
	struct event *run_ev;    /* runs them (event_active) */
	struct event *retain_ev; /* age retention tick; NULL without it */
	struct store_feed feed;
	store_pos next_seq; /* the last position handed out */
	int fail_publish, fail_query;
	bool paused;
	bool closing;

	struct store_counters counts; /* for stats */
};

static const struct store_ops memory_ops;

/* ---- the id table ------------------------------------------------------ */

/* FNV-1a. */
static size_t hash_id(const char *id)
{
	uint64_t h = 14695981039346656037u;
	for (const unsigned char *p = (const unsigned char *)id; *p; p++)
		h = (h ^ *p) * 1099511628211u;
	return (size_t)h;
}

static struct entry **bucket(struct memory_store *s, const char *id)
{
	return &s->buckets[hash_id(id) & (s->nbuckets - 1)];
}

static struct entry *id_find(struct memory_store *s, const char *id)
{
	for (struct entry *e = *bucket(s, id); e; e = e->hnext)
		if (strcmp(e->m->id, id) == 0)
			return e;
	return NULL;
}

/* Doubles the table once it holds more entries than buckets. */
static void id_grow(struct memory_store *s)
{
	size_t old = s->nbuckets;
	struct entry **ob = s->buckets;
	s->nbuckets = old * 2;
	s->buckets = xcalloc(s->nbuckets, sizeof *s->buckets);
	for (size_t i = 0; i < old; i++) {
		struct entry *e = ob[i], *next;
		for (; e; e = next) {
			next = e->hnext;
			struct entry **b = bucket(s, e->m->id);
			e->hnext = *b;
			*b = e;
		}
	}
	free(ob);
}

static void id_remove(struct memory_store *s, struct entry *e)
{
	struct entry **p = bucket(s, e->m->id);
	while (*p != e)
		p = &(*p)->hnext;
	*p = e->hnext;
}

/* ---- the log ----------------------------------------------------------- */

/* Appends e (ids unique: the caller checked) to the log and the table. */
static void log_append(struct memory_store *s, struct entry *e)
{
	if (s->first + s->n == s->cap) {
		if (s->first > 0 && s->first >= s->n) { /* half the room is behind */
			memmove(s->log, s->log + s->first, s->n * sizeof *s->log);
			s->first = 0;
		} else {
			s->cap = s->cap ? s->cap * 2 : 64;
			s->log = xrealloc(s->log, s->cap * sizeof *s->log);
		}
	}
	s->log[s->first + s->n++] = e;
	if (s->n > s->nbuckets)
		id_grow(s);
	struct entry **b = bucket(s, e->m->id);
	e->hnext = *b;
	*b = e;
}

static void entry_free(struct memory_store *s, struct entry *e)
{
	id_remove(s, e);
	msg_unref(e->m);
	free(e);
}

/* The index in the log of the first update positioned after pos. */
static size_t log_after(const struct memory_store *s, store_pos pos)
{
	size_t lo = 0, hi = s->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->log[s->first + mid]->m->seq <= pos)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void expired(struct memory_store *s, int64_t gone)
{
	store_count(&s->counts.expired, gone);
	store_count_set(&s->counts.stored, (int64_t)s->n);
}

/* Drops the oldest updates past retain_count. */
static void retain_count(struct memory_store *s)
{
	int64_t gone = 0;
	while (s->retain_count > 0 && (int64_t)s->n > s->retain_count) {
		entry_free(s, s->log[s->first++]);
		s->n--;
		gone++;
	}
	if (s->n == 0)
		s->first = 0;
	expired(s, gone);
}

/* Drops the updates older than retain_age_s (a scan: publish times need
 * not follow positions). */
static void retain_age(struct memory_store *s)
{
	if (s->retain_age_s <= 0)
		return;
	int64_t cutoff = now_ms() - s->retain_age_s * 1000;
	size_t kept = 0, n = s->n;
	for (size_t i = 0; i < n; i++) {
		struct entry *e = s->log[s->first + i];
		if (e->m->time_ms < cutoff)
			entry_free(s, e);
		else
			s->log[s->first + kept++] = e;
	}
	s->n = kept;
	expired(s, (int64_t)(n - kept));
}

static void on_retain(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	retain_age(arg);
}

/* ---- completing operations -------------------------------------------- */

static bool same_str(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

/* True when m is the very update st stores (a publisher's retry). */
static bool same_update(const struct msg *st, const struct msg *m)
{
	if (st->ntopics != m->ntopics || !same_str(st->type, m->type) ||
	    (st->retry < 0 ? -1 : st->retry) != (m->retry < 0 ? -1 : m->retry) ||
	    st->priv != m->priv || st->datalen != m->datalen ||
	    (m->datalen && (!m->data || memcmp(st->data, m->data, m->datalen) != 0)))
		return false;
	for (int i = 0; i < m->ntopics; i++)
		if (strcmp(st->topics[i], m->topics[i]) != 0)
			return false;
	return true;
}

/* A fresh copy of a stored update, with one reference for the caller. */
static struct msg *copy_update(const struct msg *st)
{
	struct msg *c = msg_new(st->id, (const char *const *)st->topics, st->ntopics,
				st->type, st->retry, st->priv, st->data ? st->data : "",
				st->data ? st->datalen : 0);
	c->seq = st->seq;
	c->time_ms = st->time_ms;
	return c;
}

/* Stores the update of a publish op, or says why not. */
static enum store_status commit(struct memory_store *s, const struct op *o)
{
	const struct msg *m = o->m;
	if (o->fail)
		return STORE_ERROR;
	if (!m->id || m->ntopics < 1) {
		log_error("store: append of an update without id or topic refused");
		return STORE_ERROR;
	}
	struct entry *e = id_find(s, m->id);
	if (e)
		return same_update(e->m, m) ? STORE_DUPLICATE : STORE_CONFLICT;
	e = xcalloc(1, sizeof *e);
	e->m = copy_update(m);
	log_append(s, e);
	store_count(&s->counts.appended, 1);
	if (s->retain_age_s > 0 && m->time_ms < now_ms() - s->retain_age_s * 1000)
		retain_age(s); /* stored already too old: not kept till the tick */
	retain_count(s);
	store_count_set(&s->counts.stored, (int64_t)s->n);
	return STORE_OK;
}

/* Commits a publish op, feeds the update when stored, then answers. */
static void complete_publish(struct memory_store *s, struct op *o, bool *committed)
{
	enum store_status st = commit(s, o);
	if (st == STORE_ERROR)
		store_count(&s->counts.errors, 1);
	if (st == STORE_OK) {
		*committed = true;
		if (s->feed.update)
			s->feed.update(s->feed.arg, o->m);
	}
	if (o->pcb)
		o->pcb(o->arg, st, o->m);
}

/* Answers a query op against what is stored now (STORE_ERROR when it is
 * failed or the store is closing). */
static void complete_query(struct memory_store *s, struct op *o)
{
	const struct store_query *q = o->q;
	struct store_page page;
	bool found = true;

	store_page_init(&page, q);
	if (o->fail || s->closing) {
		store_count(&s->counts.errors, 1);
		store_page_answer(&page, STORE_ERROR, false, 0, o->qcb, o->arg);
		return;
	}
	store_pos after = q->after_seq;
	if (q->after_id) {
		struct entry *e = id_find(s, q->after_id);
		found = e != NULL;
		after = e ? e->m->seq : 0;
	}
	for (size_t i = log_after(s, after); i < s->n; i++) {
		const struct msg *st = s->log[s->first + i]->m;
		if (q->upto_seq > 0 && st->seq > q->upto_seq)
			break;
		if (store_query_wants(q, o->all, st) && !store_page_offer(&page, copy_update(st)))
			break;
	}
	store_page_answer(&page, STORE_OK, found, after, o->qcb, o->arg);
}

static void op_free(struct op *o)
{
	msg_unref(o->m);
	free(o->q);
	free(o->why);
	free(o);
}
/* Completes one op (taken off the queue). */
static void complete(struct memory_store *s, struct op *o, bool *committed)
{
	switch (o->kind) {
	case OP_PUBLISH:
		complete_publish(s, o, committed);
		break;
	case OP_QUERY:
		complete_query(s, o);
		break;
	case OP_RESET:
		store_count(&s->counts.resets, 1);
		if (s->feed.reset)
			s->feed.reset(s->feed.arg, o->why);
		break;
	}
	op_free(o);
}

static struct op *pop(struct memory_store *s)
{
	struct op *o = s->head;
	if (o && !(s->head = o->next))
		s->tail = NULL;
	return o;
}

/* run_ev: completes the ops queued before this turn, in order; those the
 * callbacks queue wait for the next turn, so a callback that publishes
 * again cannot keep the loop here. */
static void on_run(evutil_socket_t fd, short what, void *arg)
{
	struct memory_store *s = arg;
	(void)fd;
	(void)what;
	struct op *last = s->tail;
	bool committed = false, done = !last;
	while (!done && !s->paused) {
		struct op *o = pop(s);
		done = o == last;
		complete(s, o, &committed);
	}
	if (committed)
		store_count(&s->counts.commits, 1);
	if (s->head && !s->paused)
		event_active(s->run_ev, 0, 0);
}

/* Queues o and makes sure a turn will run it. */
static void push(struct memory_store *s, struct op *o)
{
	if (s->tail)
		s->tail->next = o;
	else
		s->head = o;
	s->tail = o;
	if (!s->paused)
		event_active(s->run_ev, 0, 0);
}

/* Takes one failure of a kind, when any is due. */
static bool take_fail(int *left)
{
	if (*left <= 0)
		return false;
	(*left)--;
	return true;
}

/* ---- store_ops ---------------------------------------------------------- */

static void memory_publish(struct store *st, struct msg *m, store_publish_cb cb, void *arg)
{
	struct memory_store *s = (struct memory_store *)st;
	m->seq = ++s->next_seq;
	if (m->time_ms <= 0)
		m->time_ms = now_ms();
	if (s->closing) {
		log_error("store: append during close refused");
		store_count(&s->counts.errors, 1);
		if (cb)
			cb(arg, STORE_ERROR, m);
		return;
	}
	struct op *o = xcalloc(1, sizeof *o);
	o->kind = OP_PUBLISH;
	o->m = msg_ref(m);
	o->pcb = cb;
	o->arg = arg;
	o->fail = take_fail(&s->fail_publish);
	push(s, o);
}

static void memory_subscribe(struct store *st, const struct store_feed *feed)
{
	((struct memory_store *)st)->feed = *feed;
}

static void memory_query(struct store *st, const struct store_query *q,
			 store_query_cb cb, void *arg)
{
	struct memory_store *s = (struct memory_store *)st;
	struct op *o = xcalloc(1, sizeof *o);
	o->kind = OP_QUERY;
	o->q = store_query_copy(q, INT_MAX, &o->all);
	o->qcb = cb;
	o->arg = arg;
	o->fail = take_fail(&s->fail_query);
	if (s->closing) {
		log_error("store: query during close refused");
		complete(s, o, &(bool){false});
		return;
	}
	push(s, o);
}

static void memory_stats(struct store *st, struct store_stats *out)
{
	struct memory_store *s = (struct memory_store *)st;
	store_counters_read(&s->counts, out);
}

static void store_free(struct memory_store *s)
{
	for (size_t i = 0; i < s->n; i++) {
		msg_unref(s->log[s->first + i]->m);
		free(s->log[s->first + i]);
	}
	free(s->log);
	free(s->buckets);
	if (s->run_ev)
		event_free(s->run_ev);
	if (s->retain_ev)
		event_free(s->retain_ev);
	free(s);
}

/* Completes every queued op now, paused or not: publishes commit (feed
 * first, then their callbacks), queries are answered STORE_ERROR. */
static void memory_close(struct store *st)
{
	struct memory_store *s = (struct memory_store *)st;
	bool committed = false;
	s->closing = true;
	for (struct op *o; (o = pop(s));)
		complete(s, o, &committed);
	if (committed)
		store_count(&s->counts.commits, 1);
	store_free(s);
}

static const struct store_ops memory_ops = {
	.publish = memory_publish,
	.subscribe = memory_subscribe,
	.query = memory_query,
	.stats = memory_stats,
	.close = memory_close,
};

/* ---- open and test hooks ------------------------------------------------ */

struct store *store_memory_open(struct event_base *base,
				const struct store_memory_config *cfg, char *err,
				size_t errlen)
{
	struct memory_store *s = xcalloc(1, sizeof *s);
	s->pub.ops = &memory_ops;
	s->pub.name = "memory";
	s->retain_count = cfg->retain_count;
	s->retain_age_s = cfg->retain_age_s;
	s->nbuckets = INITIAL_BUCKETS;
	s->buckets = xcalloc(s->nbuckets, sizeof *s->buckets);
	store_counters_init(&s->counts, true);

	s->run_ev = event_new(base, -1, 0, on_run, s);
	if (s->run_ev && s->retain_age_s > 0) {
		struct timeval tv = {RETAIN_INTERVAL_MS / 1000, 0};
		s->retain_ev = event_new(base, -1, EV_PERSIST, on_retain, s);
		if (s->retain_ev && event_add(s->retain_ev, &tv) < 0) {
			event_free(s->retain_ev);
			s->retain_ev = NULL;
		}
	}
	if (!s->run_ev || (s->retain_age_s > 0 && !s->retain_ev)) {
		snprintf(err, errlen, "memory store: cannot create its events");
		store_free(s);
		return NULL;
	}
	return &s->pub;
}

void store_memory_fail(struct store *st, enum store_memory_op op, int n)
{
	struct memory_store *s = (struct memory_store *)st;
	int *left = op == STORE_MEMORY_PUBLISH ? &s->fail_publish : &s->fail_query;
	*left = n > 0 ? n : 0;
}

void store_memory_pause(struct store *st, bool paused)
{
	struct memory_store *s = (struct memory_store *)st;
	s->paused = paused;
	if (!paused && s->head)
		event_active(s->run_ev, 0, 0);
}

void store_memory_reset_feed(struct store *st, const char *why)
{
	struct memory_store *s = (struct memory_store *)st;
	struct op *o = xcalloc(1, sizeof *o);
	o->kind = OP_RESET;
	o->why = xstrdup(why ? why : "reset");
	push(s, o);
}
