/* redis.c -- the Redis store (redis.h): the log is a Redis stream that
 * every node reads in order and feeds to its hub.
 *
 * Two connections on the loop thread (redis_conn.h: each with its own
 * deadline and reconnection): the command connection runs publishes (the
 * publish script, then WAIT when configured), queries (the query script,
 * batch after batch), the retention script once a second and a PING when
 * idle; the reader runs the read script from its cursor and, once it has
 * caught up, a blocking XREAD that only wakes it. While a connection is
 * down, publishes and queries answer STORE_ERROR (from an event, never
 * inside a call).
 *
 * Acknowledgements: a publish's callback runs once Redis has answered it
 * and the reader has fed its entry (or FEED_WAIT_MS has passed: it is
 * committed, the feed will come), in the order of the publish calls.
 * A dropped connection leaves a publish unanswered: STORE_ERROR, although
 * Redis may have stored it; the publisher's retry is then a duplicate. */
#include "config.h"

#include "redis.h"

#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "log.h"
#include "counters.h"
#include "query.h"
#include "redis_conn.h"
#include "redis_entry.h"
#include "redis_scripts.h"
#include "util.h"

#define EPOCH_2020_MS 1577836800000LL
#define SEQ_BITS 20
#define TICK_MS 250
#define PING_IDLE_MS 1000     /* an idle command connection is PINGed */
#define ANSWER_DEADLINE_MS 2000
#define BLOCK_MS 1000         /* the reader's XREAD BLOCK */
#define FEED_WAIT_MS 5000     /* an acknowledgement waits this long for the feed */
#define READ_BATCH 512
#define QUERY_BATCH 256
#define RETAIN_EVERY_MS 1000
#define OPEN_TIMEOUT_MS 3000
#define CLOSE_READS 64        /* read batches close feeds at most */

struct redis_store;

enum pub_state { PUB_SENT, PUB_ANSWERED, PUB_UNANSWERED };

/* A publish, from its call to its callback (the list pubs, in call order). */
struct pub {
	struct pub *next;
	struct msg *m;          /* the store's reference */
	store_publish_cb cb;
	void *arg;
	struct buf content;     /* its "c" string (redis_entry.h) */
	char time_text[24];
	enum pub_state state;
	enum store_status status;
	bool waiting;           /* for WAIT's answer */
	bool fed;               /* its entry was fed, or need not be waited for */
	store_pos pos;
	int64_t answered_ms;    /* mono */
};

/* A query being answered, batch after batch of entries (each batch one
 * query script run: atomic in Redis; between batches retention may remove
 * entries the next batch would have read, which only a query racing
 * retention at the oldest end of the log can see). */
struct qry {
	struct qry *next;       /* on failed_queries */
	struct redis_store *s;
	struct store_query *q;  /* the store's copy */
	bool all;
	struct store_page page;
	bool first;             /* the first batch: q->after_id applies */
	bool found;
	store_pos after_pos;    /* the position q->after_id names, when found */
	store_pos after;        /* the next batch starts after this */
	store_query_cb cb;
	void *arg;
};

/* A Lua script, and its SHA1: the connections run it by EVALSHA (every
 * new connection loads the scripts first: conn_made), the blocking
 * connection by EVAL. */
struct script {
	const char *text;
	char sha[41];
};

struct redis_store {
	struct store pub; /* first member: struct store * converts to this */
	struct script publish_sc, read_sc, query_sc, retain_sc;
	struct event_base *base;
	struct redis_address addr;
	char *prefix;
	char *key_log, *key_ids, *key_meta;
	int64_t retain_count, retain_age_s;
	int wait_replicas, wait_timeout_ms;
	/* The same as script and WAIT arguments, written once at open. */
	char retain_count_arg[24], retain_age_arg[24], wait_replicas_arg[16], wait_timeout_arg[16];
	char node_token[33];     /* random: this node's part of a new epoch */
	uint64_t proposals;      /* epochs proposed so far (next_epoch) */
	char epoch_proposal[64]; /* the last one */

	struct redis_conn cmd, reader;
	struct event *tick_ev, *defer_ev;
	int64_t retained_ms;     /* mono: the last retention run */
	bool closing;

	struct store_feed feed;
	char *epoch;             /* the log's epoch the feed follows */
	store_pos cursor;        /* the last entry fed */
	bool reading;            /* a read script is on its way on the reader's
				  * current connection (reader_next) */

	struct pub *pubs, *pubs_tail;
	struct qry *failed_queries; /* to answer STORE_ERROR from defer_ev */

	struct store_counters counts; /* for stats */
};

static const struct store_ops redis_ops;

/* ---- positions ---------------------------------------------------------- */

store_pos store_redis_pos_from_id(const char *id, size_t len)
{
	uint64_t ms = 0, seq = 0;
	size_t i = 0, digits = 0;
	for (; i < len && id[i] >= '0' && id[i] <= '9' && digits < 19; i++, digits++)
		ms = ms * 10 + (uint64_t)(id[i] - '0');
	if (digits == 0 || i >= len || id[i] != '-')
		return 0;
	size_t j = ++i;
	for (digits = 0; i < len && id[i] >= '0' && id[i] <= '9' && digits < 19; i++, digits++)
		seq = seq * 10 + (uint64_t)(id[i] - '0');
	if (i == j || i != len || ms < (uint64_t)EPOCH_2020_MS)
		return 0;
	ms -= (uint64_t)EPOCH_2020_MS;
	if (ms >= (1ULL << (63 - SEQ_BITS)) || seq >= (1ULL << SEQ_BITS))
		return 0;
	return (store_pos)((ms << SEQ_BITS) | seq);
}

void store_redis_pos_to_id(store_pos pos, char *out)
{
	if (pos <= 0) {
		snprintf(out, STORE_REDIS_ID_MAX, "0-0");
		return;
	}
	snprintf(out, STORE_REDIS_ID_MAX, "%lld-%lld",
		 (long long)((pos >> SEQ_BITS) + EPOCH_2020_MS),
		 (long long)(pos & ((1LL << SEQ_BITS) - 1)));
}

/* The Redis time of the entry at pos, ms since the Unix epoch. */
static int64_t pos_time_ms(store_pos pos)
{
	return (pos >> SEQ_BITS) + EPOCH_2020_MS;
}

/* The epoch a script sets should the log have none: never one proposed
 * before, so that a log lost and begun again always has a new epoch. */
static const char *next_epoch(struct redis_store *s)
{
	snprintf(s->epoch_proposal, sizeof s->epoch_proposal, "%s-%llu", s->node_token,
		 (unsigned long long)++s->proposals);
	return s->epoch_proposal;
}

/* ---- replies ------------------------------------------------------------- */

/* Element i of an array reply, or NULL. */
static const redisReply *elem(const redisReply *r, size_t i)
{
	return r && r->type == REDIS_REPLY_ARRAY && i < r->elements ? r->element[i] : NULL;
}

static bool is_text(const redisReply *r)
{
	return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS);
}

/* Redis lost the scripts (SCRIPT FLUSH): c is dropped, and the new
 * connection loads them again. */
static void drop_if_noscript(struct redis_conn *c, const redisAsyncContext *ac,
			     const redisReply *r)
{
	const char *err = redis_reply_error(r);
	if (r && err && strncmp(err, "NOSCRIPT", 8) == 0 && redis_conn_current(c, ac))
		redis_conn_drop(c, "Redis no longer has hubd's scripts");
}

/* The position of a log entry ([id, [field, value, ...]]); 0 when its id
 * is not an entry id. */
static store_pos entry_pos(const redisReply *e)
{
	const redisReply *eid = elem(e, 0);
	return is_text(eid) ? store_redis_pos_from_id(eid->str, eid->len) : 0;
}

/* The update of log entry e, at position pos (entry_pos), or NULL (logged)
 * when the entry is not one of ours. */
static struct msg *entry_msg(const redisReply *e, store_pos pos)
{
	const redisReply *eid = elem(e, 0), *fields = elem(e, 1);
	const redisReply *i = NULL, *c = NULL, *ms = NULL;
	for (size_t k = 0; fields && k + 1 < fields->elements; k += 2) {
		const redisReply *f = fields->element[k], *v = fields->element[k + 1];
		if (!is_text(f) || !is_text(v) || f->len != (f->str[0] == 'm' ? 2u : 1u))
			continue;
		if (f->str[0] == 'i')
			i = v;
		else if (f->str[0] == 'c')
			c = v;
		else if (f->str[0] == 'm' && f->str[1] == 's')
			ms = v;
	}
	struct msg *m = pos && i && c && ms ?
		redis_entry_decode(i->str, i->len, c->str, c->len, ms->str, ms->len) : NULL;
	if (!m) {
		log_error("redis store: log entry %s is not a hubd update: skipped",
			  is_text(eid) ? eid->str : "?");
		return NULL;
	}
	m->seq = pos;
	return m;
}

/* ---- connections --------------------------------------------------------- */

static void reader_next(struct redis_store *s);
static void pubs_settle(struct redis_store *s);

/* redis_conn's callbacks: the store is connected while both connections
 * are up; a new reader connection starts reading (once there is a feed). */
static void conn_changed(struct redis_conn *c, void *arg)
{
	struct redis_store *s = arg;
	(void)c;
	store_counters_connected(&s->counts, s->cmd.up && s->reader.up);
	store_count_set(&s->counts.reconnects, s->cmd.reconnects + s->reader.reconnects);
}

/* SCRIPT LOAD's answer: a connection that cannot load them is no use. */
static void on_loaded(redisAsyncContext *ac, void *r, void *priv)
{
	struct redis_conn *c = redis_conn_answered(ac, r);
	(void)priv;
	if (r && redis_reply_error(r) && redis_conn_current(c, ac))
		redis_conn_drop(c, redis_reply_error(r));
}

static void conn_made(struct redis_conn *c, void *arg)
{
	struct redis_store *s = arg;
	const struct script *all[] = {&s->publish_sc, &s->read_sc, &s->query_sc, &s->retain_sc};
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
		const char *argv[3] = {"SCRIPT", "LOAD", all[i]->text};
		redis_conn_send(c, on_loaded, NULL, 3, argv, NULL);
	}
	if (c == &s->reader) {
		s->reading = false; /* nothing is on its way on a new connection */
		if (s->feed.update)
			reader_next(s);
	}
}

/* ---- the feed (the reader connection) ----------------------------------- */

/* The feed can no longer vouch for continuity (store.h). */
static void feed_reset(struct redis_store *s, const char *why)
{
	store_count(&s->counts.resets, 1);
	log_warn("redis store: %s", why);
	for (struct pub *p = s->pubs; p; p = p->next)
		p->fed = true; /* no position to wait for now */
	if (s->feed.reset)
		s->feed.reset(s->feed.arg, why);
}

/* Feeds a read script's answer ({epoch, trimmed, entries}); returns the
 * number of entries, or -1 when the answer is not one. */
static int feed_batch(struct redis_store *s, const redisReply *r)
{
	const redisReply *epoch = elem(r, 0), *trimmed = elem(r, 1), *entries = elem(r, 2);
	if (!is_text(epoch) || !is_text(trimmed) || !entries || entries->type != REDIS_REPLY_ARRAY)
		return -1;
	bool reset = false;
	if (!s->epoch || strcmp(s->epoch, epoch->str) != 0) {
		if (s->epoch) {
			feed_reset(s, "the Redis log was lost (its epoch changed): streams end and resume from history");
			reset = true;
		}
		free(s->epoch);
		s->epoch = xstrdup(epoch->str);
		s->cursor = 0;
	}
	store_pos cut = store_redis_pos_from_id(trimmed->str, trimmed->len);
	if (cut > s->cursor) {
		if (!reset)
			feed_reset(s, "retention removed updates this node had not read yet: streams end and resume from history");
		s->cursor = cut;
	}
	store_pos fed = 0;
	for (size_t i = 0; i < entries->elements; i++) {
		store_pos pos = entry_pos(entries->element[i]);
		if (pos <= s->cursor)
			continue; /* not after the cursor: no entry of this log */
		s->cursor = pos;
		struct msg *m = entry_msg(entries->element[i], pos);
		if (!m)
			continue;
		if (s->feed.update)
			s->feed.update(s->feed.arg, m);
		msg_unref(m);
		fed = pos;
	}
	if (fed) /* how late the batch's last update came: once a batch */
		store_count_set(&s->counts.lag_ms, now_ms() - pos_time_ms(fed));
	return (int)entries->elements;
}

static void on_read(redisAsyncContext *ac, void *r, void *priv);

/* XREAD woke (an entry came, or BLOCK_MS passed): the read script sent
 * right behind it reads what came (reader_block). */
static void on_wake(redisAsyncContext *ac, void *r, void *priv)
{
	struct redis_conn *c = redis_conn_answered(ac, r);
	(void)priv;
	if (r && redis_reply_error(r) && redis_conn_current(c, ac))
		redis_conn_drop(c, redis_reply_error(r));
}

/* The text of a read script run (argv[8]) for at most count entries
 * after the cursor: by EVALSHA (the connections) or EVAL (the blocking
 * one, when !by_sha); after and n are its buffers. */
static void read_argv(struct redis_store *s, bool by_sha, int count, const char **argv,
		      char after[STORE_REDIS_ID_MAX], char n[16])
{
	store_redis_pos_to_id(s->cursor, after);
	snprintf(n, 16, "%d", count);
	const char *a[8] = {by_sha ? "EVALSHA" : "EVAL", by_sha ? s->read_sc.sha : s->read_sc.text,
			    "2", s->key_log, s->key_meta, after, n, next_epoch(s)};
	memcpy(argv, a, sizeof a);
}

/* Reads the entries after the cursor (the read script). */
static void reader_next(struct redis_store *s)
{
	char after[STORE_REDIS_ID_MAX], n[16];
	const char *argv[8];
	read_argv(s, true, READ_BATCH, argv, after, n);
	s->reading = redis_conn_send(&s->reader, on_read, NULL, 8, argv, NULL);
}

/* Waits for an entry after the cursor: XREAD BLOCK, with the read script
 * queued right behind it, so that Redis runs the read the moment XREAD
 * returns, without a round trip in between. */
static void reader_block(struct redis_store *s)
{
	char after[STORE_REDIS_ID_MAX], ms[16];
	store_redis_pos_to_id(s->cursor, after);
	snprintf(ms, sizeof ms, "%d", BLOCK_MS);
	const char *argv[] = {"XREAD", "COUNT", "1", "BLOCK", ms, "STREAMS", s->key_log, after};
	if (redis_conn_send(&s->reader, on_wake, NULL, 8, argv, NULL))
		reader_next(s);
}

static void on_read(redisAsyncContext *ac, void *r, void *priv)
{
	struct redis_conn *c = redis_conn_answered(ac, r);
	struct redis_store *s = c->arg;
	(void)priv;
	if (!redis_conn_current(c, ac))
		return; /* a dropped connection's: the next one reads anew */
	s->reading = false;
	if (!r || s->closing)
		return;
	if (redis_reply_error(r)) {
		log_error("redis store: reading the log: %s", redis_reply_error(r));
		redis_conn_drop(c, "the read script failed");
		return;
	}
	int n = feed_batch(s, r);
	if (n < 0) {
		redis_conn_drop(c, "the read script answered something else");
		return;
	}
	pubs_settle(s);
	if (n == READ_BATCH)
		reader_next(s);
	else
		reader_block(s);
}

/* ---- publishes ------------------------------------------------------------ */

static void pub_free(struct pub *p)
{
	msg_unref(p->m);
	buf_free(&p->content);
	free(p);
}

/* Runs the callbacks of the publishes that are done, in call order: the
 * first one not done yet holds the others back. */
static void pubs_settle(struct redis_store *s)
{
	int64_t now = mono_ms();
	struct pub *p;
	while ((p = s->pubs) && p->state == PUB_ANSWERED && !p->waiting &&
	       (p->status != STORE_OK || p->fed || p->pos <= s->cursor || !s->feed.update ||
		now - p->answered_ms >= FEED_WAIT_MS)) {
		if (!(s->pubs = p->next))
			s->pubs_tail = NULL;
		if (p->status == STORE_ERROR)
			store_count(&s->counts.errors, 1);
		if (p->cb)
			p->cb(p->arg, p->status, p->m);
		pub_free(p);
	}
}

static void pub_answered(struct pub *p, enum store_status status)
{
	p->state = PUB_ANSWERED;
	p->status = status;
	p->answered_ms = mono_ms();
}

/* Counts what a script says retention left (len) and removed. */
static void retained(struct redis_store *s, const redisReply *len, const redisReply *removed)
{
	if (len && len->type == REDIS_REPLY_INTEGER)
		store_count_set(&s->counts.stored, len->integer);
	if (removed && removed->type == REDIS_REPLY_INTEGER && removed->integer > 0)
		store_count(&s->counts.expired, removed->integer);
}

/* Reads the publish script's answer into p ({"ok"|"dup"|"conflict",
 * entry id[, entries]}). */
static void pub_read_reply(struct redis_store *s, struct pub *p, const redisReply *r)
{
	const char *err = redis_reply_error(r);
	const redisReply *what = elem(r, 0), *eid = elem(r, 1), *len = elem(r, 2),
			 *removed = elem(r, 3);
	if (err || !is_text(what) || !is_text(eid)) {
		log_error("redis store: publish of %s failed: %s", p->m->id,
			  err ? err : "the script answered something else");
		pub_answered(p, STORE_ERROR);
		return;
	}
	if (strcmp(what->str, "ok") == 0) {
		p->pos = store_redis_pos_from_id(eid->str, eid->len);
		if (!p->pos) {
			log_error("redis store: publish of %s: entry id %s is out of range",
				  p->m->id, eid->str);
			pub_answered(p, STORE_ERROR);
			return;
		}
		p->m->seq = p->pos;
		store_count(&s->counts.appended, 1);
		store_count(&s->counts.commits, 1);
		retained(s, len, removed);
		pub_answered(p, STORE_OK);
	} else {
		pub_answered(p, strcmp(what->str, "dup") == 0 ? STORE_DUPLICATE : STORE_CONFLICT);
	}
}

static void on_published(redisAsyncContext *ac, void *r, void *priv)
{
	struct redis_conn *c = redis_conn_answered(ac, r);
	struct redis_store *s = c->arg;
	struct pub *p = priv;
	if (!r) { /* the connection went: stored or not, nobody knows */
		p->waiting = false;
		if (s->closing)
			p->state = PUB_UNANSWERED;
		else
			pub_answered(p, STORE_ERROR);
	} else {
		pub_read_reply(s, p, r);
		drop_if_noscript(c, ac, r);
	}
	pubs_settle(s);
}

/* Reads WAIT's answer (how many replicas have the publish) into p: a
 * stored update too few replicas have is not acknowledged. */
static void pub_read_waited(struct redis_store *s, struct pub *p, const redisReply *rep)
{
	p->waiting = false;
	if (p->state == PUB_ANSWERED && (p->status == STORE_OK || p->status == STORE_DUPLICATE) &&
	    (!rep || rep->type != REDIS_REPLY_INTEGER || rep->integer < s->wait_replicas)) {
		log_warn("redis store: %s is stored but only %lld of %d replicas have it in time",
			 p->m->id, rep && rep->type == REDIS_REPLY_INTEGER ? rep->integer : 0LL,
			 s->wait_replicas);
		p->status = STORE_ERROR;
	}
}

static void on_waited(redisAsyncContext *ac, void *r, void *priv)
{
	struct redis_conn *c = redis_conn_answered(ac, r);
	pub_read_waited(c->arg, priv, r);
	pubs_settle(c->arg);
}

/* The publish script's arguments for p (argv[12], lens[12]): EVALSHA, or
 * EVAL (the blocking connection) when !by_sha. */
static void pub_argv(struct redis_store *s, struct pub *p, bool by_sha, const char **argv,
		     size_t *lens)
{
	const char *a[11] = {by_sha ? "EVALSHA" : "EVAL",
			     by_sha ? s->publish_sc.sha : s->publish_sc.text, "3", s->key_log, s->key_ids,
			     s->key_meta, p->m->id, p->content.p, p->time_text, s->retain_count_arg,
			     s->retain_age_arg};
	for (int i = 0; i < 11; i++) {
		argv[i] = a[i];
		lens[i] = strlen(a[i]);
	}
	lens[7] = p->content.len;
	argv[11] = next_epoch(s);
	lens[11] = strlen(argv[11]);
}

static void wait_argv(struct redis_store *s, const char **argv)
{
	argv[0] = "WAIT";
	argv[1] = s->wait_replicas_arg;
	argv[2] = s->wait_timeout_arg;
}

static void defer(struct redis_store *s)
{
	event_active(s->defer_ev, 0, 0);
}

static void redis_publish(struct store *st, struct msg *m, store_publish_cb cb, void *arg)
{
	struct redis_store *s = (struct redis_store *)st;
	struct pub *p = xcalloc(1, sizeof *p);
	p->m = msg_ref(m);
	p->cb = cb;
	p->arg = arg;
	if (m->time_ms <= 0)
		m->time_ms = now_ms();
	snprintf(p->time_text, sizeof p->time_text, "%lld", (long long)m->time_ms);
	if (s->pubs_tail)
		s->pubs_tail->next = p;
	else
		s->pubs = p;
	s->pubs_tail = p;

	if (!m->id || m->ntopics < 1) {
		log_error("store: append of an update without id or topic refused");
		pub_answered(p, STORE_ERROR);
		defer(s);
		return;
	}
	redis_entry_content(&p->content, m);
	const char *argv[12];
	size_t lens[12];
	pub_argv(s, p, true, argv, lens);
	if (!redis_conn_send(&s->cmd, on_published, p, 12, argv, lens)) {
		if (s->closing)
			log_error("store: append during close refused");
		pub_answered(p, STORE_ERROR);
		defer(s);
		return;
	}
	if (s->wait_replicas > 0) {
		const char *wargv[3];
		wait_argv(s, wargv);
		p->waiting = redis_conn_send(&s->cmd, on_waited, p, 3, wargv, NULL);
	}
}

/* Sets the feed and starts the reader (it reads nobody's entries before). */
static void redis_subscribe(struct store *st, const struct store_feed *feed)
{
	struct redis_store *s = (struct redis_store *)st;
	s->feed = *feed;
	if (s->feed.update && s->reader.ac && !s->reading)
		reader_next(s);
}

/* ---- queries -------------------------------------------------------------- */

static void qry_answer(struct qry *x, enum store_status status)
{
	if (status == STORE_ERROR)
		store_count(&x->s->counts.errors, 1);
	store_page_answer(&x->page, status, x->found, x->after_pos, x->cb, x->arg);
	free(x->q);
	free(x);
}

/* Answers x STORE_ERROR from the next turn (never inside a call). */
static void qry_fail_later(struct qry *x)
{
	x->next = x->s->failed_queries;
	x->s->failed_queries = x;
	defer(x->s);
}

static void on_queried(redisAsyncContext *ac, void *r, void *priv);

/* Asks for the next batch of x's entries; false when c is down. */
static bool qry_send(struct qry *x)
{
	struct redis_store *s = x->s;
	char after[STORE_REDIS_ID_MAX], upto[STORE_REDIS_ID_MAX], n[16];
	store_redis_pos_to_id(x->after, after);
	if (x->q->upto_seq > 0)
		store_redis_pos_to_id(x->q->upto_seq, upto);
	else
		snprintf(upto, sizeof upto, "+");
	snprintf(n, sizeof n, "%d", QUERY_BATCH);
	const char *argv[] = {"EVALSHA", s->query_sc.sha, "2", s->key_log, s->key_ids,
			      x->first && x->q->after_id ? x->q->after_id : "", after, upto, n};
	return redis_conn_send(&s->cmd, on_queried, x, 9, argv, NULL);
}

static void on_queried(redisAsyncContext *ac, void *r, void *priv)
{
	struct redis_conn *c = redis_conn_answered(ac, r);
	struct qry *x = priv;
	const redisReply *found = elem(r, 0), *entries = elem(r, 1), *named = elem(r, 2);
	if (!r || redis_reply_error(r) || !found || found->type != REDIS_REPLY_INTEGER || !entries ||
	    entries->type != REDIS_REPLY_ARRAY) {
		log_error("redis store: query failed: %s",
			  redis_reply_error(r) ? redis_reply_error(r) : "the script answered something else");
		qry_answer(x, STORE_ERROR);
		drop_if_noscript(c, ac, r);
		return;
	}
	if (x->first) {
		x->found = found->integer != 0;
		if (x->found && x->q->after_id && is_text(named))
			x->after_pos = store_redis_pos_from_id(named->str, named->len);
	}
	x->first = false;
	bool more = true;
	for (size_t i = 0; i < entries->elements && more; i++) {
		store_pos pos = entry_pos(entries->element[i]);
		if (pos > x->after)
			x->after = pos;
		struct msg *m = entry_msg(entries->element[i], pos);
		if (!m)
			continue;
		if (store_query_wants(x->q, x->all, m))
			more = store_page_offer(&x->page, m);
		else
			msg_unref(m);
	}
	if (!more || entries->elements < QUERY_BATCH)
		qry_answer(x, STORE_OK);
	else if (!qry_send(x))
		qry_answer(x, STORE_ERROR);
}

static void redis_query(struct store *st, const struct store_query *q, store_query_cb cb,
			void *arg)
{
	struct redis_store *s = (struct redis_store *)st;
	struct qry *x = xcalloc(1, sizeof *x);
	x->s = s;
	x->q = store_query_copy(q, INT_MAX, &x->all);
	store_page_init(&x->page, x->q);
	x->first = true;
	x->found = true;
	x->after = x->q->after_seq;
	x->cb = cb;
	x->arg = arg;
	if (!qry_send(x))
		qry_fail_later(x);
}

/* ---- the tick and the deferred answers ------------------------------------ */

static void on_retained(redisAsyncContext *ac, void *r, void *priv)
{
	struct redis_conn *c = redis_conn_answered(ac, r);
	const redisReply *rep = r;
	(void)priv;
	if (elem(rep, 0)) {
		retained(c->arg, elem(rep, 0), elem(rep, 1));
	} else if (rep) {
		log_error("redis store: retention failed: %s",
			  redis_reply_error(rep) ? redis_reply_error(rep) : "unexpected answer");
		drop_if_noscript(c, ac, rep);
	}
}

static void on_pong(redisAsyncContext *ac, void *r, void *priv)
{
	struct redis_conn *c = redis_conn_answered(ac, r);
	(void)priv;
	if (r && redis_reply_error(r) && redis_conn_current(c, ac))
		redis_conn_drop(c, redis_reply_error(r));
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct redis_store *s = arg;
	int64_t now = mono_ms();
	(void)fd;
	(void)what;
	redis_conn_watch(&s->cmd, now);
	redis_conn_watch(&s->reader, now);
	if (s->cmd.up && s->cmd.outstanding == 0 && now - s->cmd.progress_ms >= PING_IDLE_MS) {
		const char *argv[1] = {"PING"};
		redis_conn_send(&s->cmd, on_pong, NULL, 1, argv, NULL);
	}
	if (s->reader.up && !s->reading && s->feed.update)
		reader_next(s); /* a failed send left the reader idle */
	if (s->cmd.up && now - s->retained_ms >= RETAIN_EVERY_MS) {
		const char *argv[] = {"EVALSHA", s->retain_sc.sha, "3", s->key_log, s->key_ids,
				      s->key_meta, s->retain_count_arg, s->retain_age_arg};
		s->retained_ms = now;
		redis_conn_send(&s->cmd, on_retained, NULL, 8, argv, NULL);
	}
	pubs_settle(s);
}

/* Answers what could not be sent: failed queries, refused publishes. */
static void on_defer(evutil_socket_t fd, short what, void *arg)
{
	struct redis_store *s = arg;
	(void)fd;
	(void)what;
	struct qry *x = s->failed_queries;
	s->failed_queries = NULL;
	while (x) {
		struct qry *next = x->next;
		qry_answer(x, STORE_ERROR);
		x = next;
	}
	pubs_settle(s);
}

static void redis_stats(struct store *st, struct store_stats *out)
{
	struct redis_store *s = (struct redis_store *)st;
	store_counters_read(&s->counts, out);
}

/* ---- the blocking connection (open and close) ------------------------------ */

/* Runs one command on a blocking connection; the reply (free it), or NULL
 * with err set when there is none or it is an error. */
static redisReply *sync_command(redisContext *c, int argc, const char **argv,
				const size_t *lens, char *err, size_t errlen)
{
	redisReply *r = redisCommandArgv(c, argc, argv, lens);
	const char *e = r ? redis_reply_error(r) : c->errstr;
	if (e) {
		snprintf(err, errlen, "%s: %s", argv[0], e);
		freeReplyObject(r);
		return NULL;
	}
	return r;
}

/* The value of one CONFIG GET parameter, or "?" when not allowed. */
static void config_value(redisContext *c, const char *name, char *out, size_t outlen)
{
	char err[256];
	const char *argv[3] = {"CONFIG", "GET", name};
	redisReply *r = sync_command(c, 3, argv, NULL, err, sizeof err);
	const redisReply *v = elem(r, 1);
	snprintf(out, outlen, "%s", is_text(v) ? v->str : "?");
	freeReplyObject(r);
}

/* Logs what survives what, from Redis's persistence settings. */
static void log_durability(struct redis_store *s, redisContext *c)
{
	char aof[16], fsync[16];
	config_value(c, "appendonly", aof, sizeof aof);
	config_value(c, "appendfsync", fsync, sizeof fsync);
	const char *means;
	if (strcmp(aof, "yes") == 0 && strcmp(fsync, "always") == 0)
		means = "an acknowledged update survives a crash of Redis or of its machine";
	else if (strcmp(aof, "yes") == 0)
		means = "a crash of Redis's machine may lose up to the last second of acknowledged updates (appendfsync always would not)";
	else if (strcmp(aof, "no") == 0)
		means = "acknowledged updates live in Redis's memory and snapshots only: a Redis crash or restart may lose them (the nodes then reset their streams)";
	else
		means = "unknown (CONFIG GET is not allowed): see doc/multi-node.md";
	log_info("redis store at %s, keys %s:*, appendonly %s, appendfsync %s: %s%s", s->addr.text,
		 s->prefix, aof, fsync, means,
		 s->wait_replicas > 0 ? "; publishes also wait for replicas (WAIT)" : "");
}

/* Refuses a Redis older than 6.2 (exclusive XRANGE bounds, XADD ids). */
static bool check_version(redisContext *c, char *err, size_t errlen)
{
	const char *argv[2] = {"INFO", "server"};
	redisReply *r = sync_command(c, 2, argv, NULL, err, errlen);
	if (!r)
		return false;
	const char *v = r->str ? strstr(r->str, "redis_version:") : NULL;
	int major = 0, minor = 0;
	bool ok = v && sscanf(v + 14, "%d.%d", &major, &minor) == 2 &&
		(major > 6 || (major == 6 && minor >= 2));
	if (!ok)
		snprintf(err, errlen, "Redis 6.2 or newer is needed (found %d.%d)", major, minor);
	freeReplyObject(r);
	return ok;
}

/* Reads the log's epoch (making it this node's when there is none), its
 * trimmed mark and its newest entry: where the feed starts. */
static bool read_start(struct redis_store *s, redisContext *c, char *err, size_t errlen)
{
	char after[STORE_REDIS_ID_MAX], n[16];
	const char *argv[8];
	read_argv(s, false, 0, argv, after, n); /* COUNT 0: epoch and trimmed alone */
	redisReply *r = sync_command(c, 8, argv, NULL, err, errlen);
	const redisReply *epoch = elem(r, 0), *trimmed = elem(r, 1);
	if (!is_text(epoch) || !is_text(trimmed)) {
		if (r)
			snprintf(err, errlen, "the read script answered something else");
		freeReplyObject(r);
		return false;
	}
	s->epoch = xstrdup(epoch->str);
	s->cursor = store_redis_pos_from_id(trimmed->str, trimmed->len);
	freeReplyObject(r);

	const char *last[] = {"XREVRANGE", s->key_log, "+", "-", "COUNT", "1"};
	r = sync_command(c, 6, last, NULL, err, errlen);
	if (!r)
		return false;
	const redisReply *e = elem(r, 0);
	if (e) {
		struct msg *m = entry_msg(e, entry_pos(e));
		if (m && m->seq > s->cursor)
			s->cursor = m->seq;
		if (m)
			s->pub.last_id = xstrdup(m->id);
		msg_unref(m);
	}
	freeReplyObject(r);
	s->pub.last_seq = s->cursor;
	return true;
}

/* Close: asks Redis again, on a blocking connection, for the publishes the
 * dropped connection left unanswered (the retry rule makes a repeat
 * harmless: stored already, it answers "dup"), then feeds what the log
 * holds after the cursor, so that every publish has its real status and
 * its entry went to the feed before its callback. */
static void close_finish(struct redis_store *s)
{
	char err[256];
	redisContext *c = NULL;
	bool any = false;
	for (struct pub *p = s->pubs; p; p = p->next)
		any |= p->state != PUB_ANSWERED || (p->status == STORE_OK && !p->fed);
	if (any)
		c = redis_sync_connect(&s->addr, OPEN_TIMEOUT_MS, err, sizeof err);
	for (struct pub *p = s->pubs; p; p = p->next) {
		if (p->state == PUB_ANSWERED)
			continue;
		const char *argv[12];
		size_t lens[12];
		pub_argv(s, p, false, argv, lens);
		redisReply *r = c ? redisCommandArgv(c, 12, argv, lens) : NULL;
		if (r)
			pub_read_reply(s, p, r);
		else
			pub_answered(p, STORE_ERROR);
		freeReplyObject(r);
		if (c && s->wait_replicas > 0) {
			const char *wargv[3];
			wait_argv(s, wargv);
			r = redisCommandArgv(c, 3, wargv, NULL);
			pub_read_waited(s, p, r);
			freeReplyObject(r);
		}
	}
	for (int i = 0; c && i < CLOSE_READS; i++) {
		char after[STORE_REDIS_ID_MAX], n[16];
		const char *argv[8];
		read_argv(s, false, READ_BATCH, argv, after, n);
		redisReply *r = sync_command(c, 8, argv, NULL, err, sizeof err);
		int got = r ? feed_batch(s, r) : -1;
		freeReplyObject(r);
		if (got < READ_BATCH)
			break;
	}
	if (c)
		redisFree(c);
	else if (any)
		log_error("redis store: closing: %s", err);
	for (struct pub *p = s->pubs; p; p = p->next)
		p->fed = true; /* fed above, or never will be by this node */
	pubs_settle(s);
}

static void store_free(struct redis_store *s)
{
	if (s->tick_ev)
		event_free(s->tick_ev);
	if (s->defer_ev)
		event_free(s->defer_ev);
	redis_address_free(&s->addr);
	free(s->prefix);
	free(s->key_log);
	free(s->key_ids);
	free(s->key_meta);
	free(s->epoch);
	free(s->pub.last_id);
	free(s);
}

static void redis_close(struct store *st)
{
	struct redis_store *s = (struct redis_store *)st;
	s->closing = s->cmd.closing = s->reader.closing = true;
	event_del(s->tick_ev);
	redis_conn_drop(&s->reader, "closing");
	redis_conn_drop(&s->cmd, "closing");
	close_finish(s);
	on_defer(-1, 0, s);
	store_free(s);
}

static const struct store_ops redis_ops = {
	.publish = redis_publish,
	.subscribe = redis_subscribe,
	.query = redis_query,
	.stats = redis_stats,
	.close = redis_close,
};

/* ---- open ------------------------------------------------------------------- */

static char *key(const char *prefix, const char *name)
{
	struct buf b = {0};
	buf_printf(&b, "%s:%s", prefix, name);
	return buf_steal(&b, NULL);
}

static void conn_init(struct redis_store *s, struct redis_conn *c, const char *name,
		      int64_t deadline)
{
	c->name = name;
	c->addr = &s->addr;
	c->base = s->base;
	c->deadline_ms = deadline;
	c->made = conn_made;
	c->changed = conn_changed;
	c->arg = s;
	redis_conn_init(c);
}

struct store *store_redis_open(struct event_base *base, const struct store_redis_config *cfg,
			       char *err, size_t errlen)
{
	struct redis_store *s = xcalloc(1, sizeof *s);
	s->pub.ops = &redis_ops;
	s->pub.name = "redis";
	s->base = base;
	s->prefix = xstrdup(cfg->prefix && *cfg->prefix ? cfg->prefix : "hubd");
	s->retain_count = cfg->retain_count > 0 ? cfg->retain_count : 0;
	s->retain_age_s = cfg->retain_age_s > 0 ? cfg->retain_age_s : 0;
	s->wait_replicas = cfg->wait_replicas > 0 ? cfg->wait_replicas : 0;
	s->wait_timeout_ms = cfg->wait_timeout_ms > 0 ? cfg->wait_timeout_ms : 1000;
	snprintf(s->retain_count_arg, sizeof s->retain_count_arg, "%lld", (long long)s->retain_count);
	snprintf(s->retain_age_arg, sizeof s->retain_age_arg, "%lld",
		 (long long)s->retain_age_s * 1000);
	snprintf(s->wait_replicas_arg, sizeof s->wait_replicas_arg, "%d", s->wait_replicas);
	snprintf(s->wait_timeout_arg, sizeof s->wait_timeout_arg, "%d", s->wait_timeout_ms);
	s->publish_sc.text = redis_script_publish;
	s->read_sc.text = redis_script_read;
	s->query_sc.text = redis_script_query;
	s->retain_sc.text = redis_script_retain;
	redis_script_sha1(redis_script_publish, s->publish_sc.sha);
	redis_script_sha1(redis_script_read, s->read_sc.sha);
	redis_script_sha1(redis_script_query, s->query_sc.sha);
	redis_script_sha1(redis_script_retain, s->retain_sc.sha);
	s->key_log = key(s->prefix, "log");
	s->key_ids = key(s->prefix, "ids");
	s->key_meta = key(s->prefix, "meta");
	uint8_t rnd[16];
	if (!random_bytes(rnd, sizeof rnd))
		for (size_t i = 0; i < sizeof rnd; i++)
			rnd[i] = (uint8_t)random_between(0, 255);
	for (size_t i = 0; i < sizeof rnd; i++)
		snprintf(s->node_token + 2 * i, 3, "%02x", rnd[i]);
	conn_init(s, &s->cmd, "command",
		  ANSWER_DEADLINE_MS + (s->wait_replicas ? s->wait_timeout_ms : 0));
	conn_init(s, &s->reader, "log reader", ANSWER_DEADLINE_MS + BLOCK_MS);
	store_counters_init(&s->counts, false);

	if (!redis_address_parse(&s->addr, cfg->address && *cfg->address ? cfg->address :
				 "127.0.0.1:6379", cfg->password, cfg->db, err, errlen)) {
		store_free(s);
		return NULL;
	}
	redisContext *c = redis_sync_connect(&s->addr, OPEN_TIMEOUT_MS, err, errlen);
	if (!c || !check_version(c, err, errlen) || !read_start(s, c, err, errlen)) {
		if (c)
			redisFree(c);
		store_free(s);
		return NULL;
	}
	log_durability(s, c);
	redisFree(c);

	s->tick_ev = event_new(base, -1, EV_PERSIST, on_tick, s);
	s->defer_ev = event_new(base, -1, 0, on_defer, s);
	struct timeval tv = {0, TICK_MS * 1000};
	if (!s->tick_ev || !s->defer_ev || event_add(s->tick_ev, &tv) < 0) {
		snprintf(err, errlen, "redis store: cannot create its events");
		store_free(s);
		return NULL;
	}
	s->retained_ms = mono_ms();
	redis_conn_connect(&s->cmd);
	redis_conn_connect(&s->reader);
	return &s->pub;
}
