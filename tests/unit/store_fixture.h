/* store_fixture.h -- what the store tests share: a temporary folder
 * for SQLite files, store openers, updates, callbacks that record what a
 * store answered and fed, and loop runners. Header-only (static inline),
 * like testlib.h: include it once per test program, after testlib.h. */
#ifndef HUBD_STORE_FIXTURE_H
#define HUBD_STORE_FIXTURE_H

#include <dirent.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "msg.h"
#include "store/memory.h"
#include "store/sqlite.h"
#include "testlib.h"
#include "util.h"

#define WAIT_MS 10000 /* no single wait in these tests takes this long */
#define MAXCB 2048

static char dir[256];
static store_pos last_pos; /* the last position a publish was given */
static char dbpath[300];

/* ---- fixtures ----------------------------------------------------------- */

static inline void dir_make(void)
{
	test_make_dir(dir, sizeof dir, "store");
	snprintf(dbpath, sizeof dbpath, "%s/hub.db", dir);
	last_pos = 0;
}

static inline void dir_remove(void)
{
	DIR *d = opendir(dir);
	if (d) {
		struct dirent *e;
		char p[600];
		while ((e = readdir(d))) {
			if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
				continue;
			snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
			unlink(p);
		}
		closedir(d);
	}
	rmdir(dir);
}

/* A test's surroundings: a fresh temporary folder (dbpath in it), the
 * recorders below cleared, and a new base, which the test owns until it
 * hands it to fixture_end. */
static inline void reset_cbs(void);
static bool check_feed_order; /* append() uses on_append_fed */
static inline struct event_base *fixture_begin(void)
{
	dir_make();
	reset_cbs();
	check_feed_order = false;
	return event_base_new();
}

/* Frees base and removes the folder with what is in it. */
static inline void fixture_end(struct event_base *base)
{
	event_base_free(base);
	dir_remove();
}

/* Opens the SQLite store on dbpath (dir_make first), with the given
 * retention. Returns NULL (reason on stderr) on failure. */
static inline struct store *open_store(struct event_base *base, int64_t retain_count,
				       int64_t retain_age_s)
{
	struct store_sqlite_config cfg = {
		.path = dbpath,
		.sync_full = false,
		.retain_count = retain_count,
		.retain_age_s = retain_age_s,
		.max_batch = 0,
	};
	char err[512] = "";
	struct store *s = store_sqlite_open(base, &cfg, err, sizeof err);
	if (!s)
		fprintf(stderr, "store_sqlite_open: %s\n", err);
	else
		last_pos = s->last_seq;
	return s;
}

/* Opens an empty memory store with the given retention. */
static inline struct store *open_memory(struct event_base *base, int64_t retain_count,
					int64_t retain_age_s)
{
	struct store_memory_config cfg = {.retain_count = retain_count,
					  .retain_age_s = retain_age_s};
	char err[512] = "";
	struct store *s = store_memory_open(base, &cfg, err, sizeof err);
	if (!s)
		fprintf(stderr, "store_memory_open: %s\n", err);
	else
		last_pos = s->last_seq;
	return s;
}

/* An update; the store gives it its position when it is published. */
static inline struct msg *mk(const char *id, const char *t1, const char *t2,
			     bool priv, const char *data, size_t len)
{
	const char *topics[2] = {t1, t2};
	struct msg *m = msg_new(id, topics, t2 ? 2 : 1, NULL, -1, priv, data, len);
	m->time_ms = now_ms();
	return m;
}

/* ---- callbacks ------------------------------------------------------------ */

static int ncb;                    /* append callbacks so far */
static int order[MAXCB];           /* index of the append, by callback order */
static enum store_status status[MAXCB]; /* by append index */

static inline void reset_cbs(void)
{
	ncb = 0;
	memset(order, 0xff, sizeof order);
	memset(status, 0xff, sizeof status);
}

static inline void on_append(void *arg, enum store_status st, struct msg *m)
{
	int i = (int)(intptr_t)arg;
	if (ncb < MAXCB)
		order[ncb] = i;
	ncb++;
	if (i >= 0 && i < MAXCB)
		status[i] = st;
	CHECK(m != NULL);
}

/* Publishes m (the test's reference is dropped) with callback index i;
 * the store must have given it a position above every earlier one. */
static inline void on_append_fed(void *arg, enum store_status st, struct msg *m);
static inline void append(struct store *s, struct msg *m, int i)
{
	s->ops->publish(s, m, check_feed_order ? on_append_fed : on_append, (void *)(intptr_t)i);
	CHECK(m->seq > last_pos);
	last_pos = m->seq;
	msg_unref(m);
}

/* Appends n updates to topic "t" with seq 1..n, ids prefix + (first + i)
 * and the given data; callback index i. */
static inline void append_n(struct store *s, const char *prefix, int first, int n, const char *data)
{
	for (int i = 0; i < n; i++) {
		char id[32];
		snprintf(id, sizeof id, "%s%d", prefix, first + i);
		append(s, mk(id, "t", NULL, false, data, strlen(data)), i);
	}
}

struct qres {
	int calls;
	enum store_status status;
	struct msg *msgs[64];
	int n;
	bool after_found;
	store_pos after_pos;
	bool has_more;
};

static inline void on_query(void *arg, enum store_status st, struct msg **msgs, int n,
		     bool after_found, store_pos after_pos, bool has_more)
{
	struct qres *r = arg;
	r->calls++;
	r->status = st;
	r->n = n;
	r->after_found = after_found;
	r->after_pos = after_pos;
	r->has_more = has_more;
	for (int i = 0; i < n; i++) {
		if (i < 64)
			r->msgs[i] = msgs[i];
		else
			msg_unref(msgs[i]);
	}
}

static inline void qres_clear(struct qres *r)
{
	for (int i = 0; i < r->n && i < 64; i++)
		msg_unref(r->msgs[i]);
	memset(r, 0, sizeof *r);
}

static inline void on_tick(evutil_socket_t fd, short what, void *arg)
{
}

/* Runs the loop until *counter >= target or WAIT_MS pass. */
static inline bool run_until(struct event_base *base, const int *counter, int target)
{
	struct timeval tv = {0, 10000};
	struct event *tick = event_new(base, -1, EV_PERSIST, on_tick, NULL);
	event_add(tick, &tv);
	int64_t end = mono_ms() + WAIT_MS;
	while (*counter < target && mono_ms() < end)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(tick);
	return *counter >= target;
}

/* Runs the loop until the store holds `stored` updates or WAIT_MS pass. */
static inline bool run_until_stored(struct event_base *base, struct store *s, int64_t stored)
{
	struct timeval tv = {0, 10000};
	struct event *tick = event_new(base, -1, EV_PERSIST, on_tick, NULL);
	event_add(tick, &tv);
	int64_t end = mono_ms() + WAIT_MS;
	struct store_stats st;
	for (;;) {
		s->ops->stats(s, &st);
		if (st.stored == stored || mono_ms() >= end)
			break;
		event_base_loop(base, EVLOOP_ONCE);
	}
	event_free(tick);
	return st.stored == stored;
}

/* Runs one query to completion. */
static inline void query(struct event_base *base, struct store *s, struct qres *r,
		  const char *t1, const char *t2, const char *after_id,
		  int64_t after_seq, int64_t upto_seq, int limit, bool priv)
{
	const char *topics[2] = {t1, t2};
	struct store_query q = {
		.topics = topics,
		.ntopics = t2 ? 2 : 1,
		.after_id = after_id,
		.after_seq = after_seq,
		.upto_seq = upto_seq,
		.limit = limit,
		.include_private = priv,
	};
	memset(r, 0, sizeof *r);
	s->ops->query(s, &q, on_query, r);
	CHECK(run_until(base, &r->calls, 1));
	CHECK(r->calls == 1);
}

/* The seqs of a result as "1,2,3" for easy comparison. */
static inline const char *seqs(const struct qres *r)
{
	static char out[1024];
	size_t n = 0;
	out[0] = '\0';
	for (int i = 0; i < r->n && i < 64 && n < sizeof out - 24; i++)
		n += (size_t)snprintf(out + n, sizeof out - n, "%s%lld", i ? "," : "",
				      (long long)r->msgs[i]->seq);
	return out;
}

/* ---- the feed ------------------------------------------------------------- */

/* What the feed delivered: the positions, and whether each came before
 * its publish's callback. */
static char fed[256];
static store_pos fed_last; /* the last position fed */
static inline void on_feed(void *arg, struct msg *m)
{
	size_t len = strlen(fed);
	snprintf(fed + len, sizeof fed - len, "%s%lld", len ? "," : "", (long long)m->seq);
	fed_last = m->seq;
	(*(int *)arg)++;
}

/* A callback that checks that the feed had a stored update first. */
static int fed_before_cb;
static inline void on_append_fed(void *arg, enum store_status st, struct msg *m)
{
	fed_before_cb += st == STORE_OK && fed_last == m->seq;
	on_append(arg, st, m);
}

/* Subscribes the recorders above to s's feed, counting into *nfed, and
 * makes append() check that each update was fed before its callback. */
static inline void feed_record(struct store *s, int *nfed)
{
	*nfed = 0;
	fed[0] = '\0';
	fed_before_cb = 0;
	fed_last = 0;
	s->ops->subscribe(s, &(struct store_feed){.update = on_feed, .arg = nfed});
	check_feed_order = true;
}

#endif
