/* test_store.c -- unit tests for the SQLite store: group commit, conflicts,
 * queries, retention, reopening, schema versions, close and checkpoints. */
#include "config.h"

#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>
#include <sqlite3.h>

#include "msg.h"
#include "store/sqlite.h"
#include "testlib.h"
#include "util.h"

#define WAIT_MS 10000 /* no single wait in these tests takes this long */
#define MAXCB 2048

static char dir[256];
static store_pos last_pos; /* the last position a publish was given */
static char dbpath[300];

/* ---- fixtures ----------------------------------------------------------- */

static void dir_make(void)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(dir, sizeof dir, "%s/hubd-test-store-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		exit(1);
	}
	snprintf(dbpath, sizeof dbpath, "%s/hub.db", dir);
	last_pos = 0;
}

static void dir_remove(void)
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

static struct store *open_store(struct event_base *base, int64_t retain_count,
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

/* An update; the store gives it its position when it is published. */
static struct msg *mk(const char *id, const char *t1, const char *t2,
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

static void reset_cbs(void)
{
	ncb = 0;
	memset(order, 0xff, sizeof order);
	memset(status, 0xff, sizeof status);
}

static void on_append(void *arg, enum store_status st, struct msg *m)
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
static bool check_feed_order; /* use on_append_fed */
static void on_append_fed(void *arg, enum store_status st, struct msg *m);
static void append(struct store *s, struct msg *m, int i)
{
	s->ops->publish(s, m, check_feed_order ? on_append_fed : on_append, (void *)(intptr_t)i);
	CHECK(m->seq > last_pos);
	last_pos = m->seq;
	msg_unref(m);
}

/* Appends n updates to topic "t" with seq 1..n, ids prefix + (first + i)
 * and the given data; callback index i. */
static void append_n(struct store *s, const char *prefix, int first, int n, const char *data)
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
	bool has_more;
};

static void on_query(void *arg, enum store_status st, struct msg **msgs, int n,
		     bool after_found, bool has_more)
{
	struct qres *r = arg;
	r->calls++;
	r->status = st;
	r->n = n;
	r->after_found = after_found;
	r->has_more = has_more;
	for (int i = 0; i < n; i++) {
		if (i < 64)
			r->msgs[i] = msgs[i];
		else
			msg_unref(msgs[i]);
	}
}

static void qres_clear(struct qres *r)
{
	for (int i = 0; i < r->n && i < 64; i++)
		msg_unref(r->msgs[i]);
	memset(r, 0, sizeof *r);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
}

/* Runs the loop until *counter >= target or WAIT_MS pass. */
static bool run_until(struct event_base *base, const int *counter, int target)
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
static bool run_until_stored(struct event_base *base, struct store *s, int64_t stored)
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
static void query(struct event_base *base, struct store *s, struct qres *r,
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
static const char *seqs(const struct qres *r)
{
	static char out[1024];
	size_t n = 0;
	out[0] = '\0';
	for (int i = 0; i < r->n && i < 64 && n < sizeof out - 24; i++)
		n += (size_t)snprintf(out + n, sizeof out - n, "%s%lld", i ? "," : "",
				      (long long)r->msgs[i]->seq);
	return out;
}

/* ---- tests ---------------------------------------------------------------- */

static void test_append_order(void)
{
	dir_make();
	struct event_base *base = event_base_new();
	struct store *s = open_store(base, 0, 0);
	CHECK(s != NULL);
	if (s) {
		CHECK(s->last_seq == 0);
		CHECK(s->last_id == NULL);
		reset_cbs();
		append_n(s, "a", 0, 10, "x");
		CHECK(run_until(base, &ncb, 10));
		for (int i = 0; i < 10; i++) {
			CHECK(order[i] == i);
			CHECK(status[i] == STORE_OK);
		}
		struct store_stats st;
		s->ops->stats(s, &st);
		CHECK(st.appended == 10);
		CHECK(st.stored == 10);
		CHECK(st.commits >= 1 && st.commits <= 10);
		CHECK(st.errors == 0);
		s->ops->close(s);
	}
	event_base_free(base);
	dir_remove();
}

static void test_group_commit(void)
{
	dir_make();
	struct event_base *base = event_base_new();
	struct store *s = open_store(base, 0, 0);
	CHECK(s != NULL);
	if (s) {
		reset_cbs();
		append_n(s, "g", 0, 1000, "data");
		CHECK(run_until(base, &ncb, 1000));
		bool in_order = true, all_ok = true;
		for (int i = 0; i < 1000; i++) {
			in_order = in_order && order[i] == i;
			all_ok = all_ok && status[i] == STORE_OK;
		}
		CHECK(in_order);
		CHECK(all_ok);
		struct store_stats st;
		s->ops->stats(s, &st);
		printf("# 1000 appends in %lld commits\n", (long long)st.commits);
		CHECK(st.commits >= 1 && st.commits < 100);
		CHECK(st.appended == 1000);
		s->ops->close(s);
	}
	event_base_free(base);
	dir_remove();
}

static void test_max_batch(void)
{
	dir_make();
	struct event_base *base = event_base_new();
	struct store_sqlite_config cfg = {.path = dbpath, .max_batch = 10};
	char err[512] = "";
	struct store *s = store_sqlite_open(base, &cfg, err, sizeof err);
	CHECK(s != NULL);
	if (s) {
		reset_cbs();
		append_n(s, "b", 0, 100, "x");
		CHECK(run_until(base, &ncb, 100));
		struct store_stats st;
		s->ops->stats(s, &st);
		CHECK(st.commits >= 10);
		CHECK(st.appended == 100);
		s->ops->close(s);
	}
	event_base_free(base);
	dir_remove();
}

/* What the feed delivered: the positions, and whether each came before
 * its publish's callback. */
static char fed[256];
static store_pos fed_last; /* the last position fed */
static void on_feed(void *arg, struct msg *m)
{
	size_t len = strlen(fed);
	snprintf(fed + len, sizeof fed - len, "%s%lld", len ? "," : "", (long long)m->seq);
	fed_last = m->seq;
	(*(int *)arg)++;
}

/* A callback that checks that the feed had a stored update first. */
static int fed_before_cb;
static void on_append_fed(void *arg, enum store_status st, struct msg *m)
{
	fed_before_cb += st == STORE_OK && fed_last == m->seq;
	on_append(arg, st, m);
}

static void test_conflict(void)
{
	dir_make();
	struct event_base *base = event_base_new();
	struct store *s = open_store(base, 0, 0);
	CHECK(s != NULL);
	if (s) {
		int nfed = 0;
		fed[0] = '\0';
		fed_before_cb = 0;
		fed_last = 0;
		s->ops->subscribe(s, &(struct store_feed){.update = on_feed, .arg = &nfed});
		check_feed_order = true;
		reset_cbs();
		append(s, mk("x1", "t", NULL, false, "1", 1), 0);
		append(s, mk("x2", "t", NULL, false, "2", 1), 1);
		append(s, mk("x1", "t", NULL, false, "3", 1), 2); /* same id */
		append(s, mk("x4", "t", NULL, false, "4", 1), 3);
		append(s, mk("x6", "t", NULL, false, "6", 1), 4);
		CHECK(run_until(base, &ncb, 5));
		CHECK(status[0] == STORE_OK);
		CHECK(status[1] == STORE_OK);
		CHECK(status[2] == STORE_CONFLICT);
		CHECK(status[3] == STORE_OK);
		CHECK(status[4] == STORE_OK);
		for (int i = 0; i < 5; i++)
			CHECK(order[i] == i);

		/* Against an update committed earlier, alone in its batch. */
		append(s, mk("x2", "t", NULL, false, "7", 1), 5);
		CHECK(run_until(base, &ncb, 6));
		CHECK(status[5] == STORE_CONFLICT);

		/* The very same update again (a publisher's retry): a
		 * duplicate, stored once; any difference is a conflict. */
		append(s, mk("x2", "t", NULL, false, "2", 1), 6);
		append(s, mk("x2", "u", NULL, false, "2", 1), 7);
		append(s, mk("x2", "t", NULL, true, "2", 1), 8);
		append(s, mk("x2", "t", "u", false, "2", 1), 9);
		CHECK(run_until(base, &ncb, 10));
		CHECK(status[6] == STORE_DUPLICATE);
		CHECK(status[7] == STORE_CONFLICT);
		CHECK(status[8] == STORE_CONFLICT);
		CHECK(status[9] == STORE_CONFLICT);
		/* Within one batch: the first stores, the retry is a duplicate. */
		append(s, mk("y1", "t", NULL, false, "y", 1), 10);
		append(s, mk("y1", "t", NULL, false, "y", 1), 11);
		CHECK(run_until(base, &ncb, 12));
		CHECK(status[10] == STORE_OK && status[11] == STORE_DUPLICATE);

		/* The feed had every stored update, in order, once, each
		 * before its publish was answered; refused ones left holes. */
		CHECK_STR_EQ(fed, "1,2,4,5,11");
		CHECK(nfed == 5 && fed_before_cb == 5);
		check_feed_order = false;

		struct store_stats st;
		s->ops->stats(s, &st);
		CHECK(st.appended == 5);
		CHECK(st.stored == 5);
		CHECK(st.errors == 0);

		struct qres r;
		query(base, s, &r, "*", NULL, NULL, 0, 0, 100, true);
		CHECK(r.status == STORE_OK);
		CHECK_STR_EQ(seqs(&r), "1,2,4,5,11");
		CHECK(r.n == 5 && r.msgs[0]->data[0] == '1');
		qres_clear(&r);
		s->ops->close(s);
	}
	event_base_free(base);
	dir_remove();
}

static void test_query(void)
{
	dir_make();
	struct event_base *base = event_base_new();
	struct store *s = open_store(base, 0, 0);
	CHECK(s != NULL);
	if (!s)
		goto out;
	reset_cbs();
	append(s, mk("u1", "a", NULL, false, "1", 1), 0);
	append(s, mk("u2", "b", NULL, false, "2", 1), 1);
	append(s, mk("u3", "a", "b", false, "3", 1), 2);
	append(s, mk("u4", "c", NULL, true, "4", 1), 3);
	append(s, mk("u5", "a", NULL, true, "5", 1), 4);
	append(s, mk("u6", "b", "c", false, "6", 1), 5);
	const char *tt[1] = {"a"};
	struct msg *m7 = msg_new("u7", tt, 1, "greeting", 2500, false, "seven", 5);
	m7->time_ms = 1234567;
	append(s, m7, 6);
	CHECK(run_until(base, &ncb, 7));

	struct qres r;
	query(base, s, &r, "a", NULL, NULL, 0, 0, 100, false);
	CHECK(r.status == STORE_OK && r.after_found && !r.has_more);
	CHECK_STR_EQ(seqs(&r), "1,3,7");
	if (r.n == 3) {
		struct msg *m = r.msgs[2];
		CHECK_STR_EQ(m->id, "u7");
		CHECK(m->ntopics == 1);
		CHECK_STR_EQ(m->topics[0], "a");
		CHECK_STR_EQ(m->type, "greeting");
		CHECK(m->retry == 2500);
		CHECK(!m->priv);
		CHECK(m->time_ms == 1234567);
		CHECK_MEM_EQ(m->data, m->datalen, "seven", (size_t)5);
		m = r.msgs[1];
		CHECK(m->ntopics == 2);
		CHECK_STR_EQ(m->topics[0], "a");
		CHECK_STR_EQ(m->topics[1], "b");
		CHECK(m->type == NULL);
		CHECK(m->retry == -1);
	}
	qres_clear(&r);

	query(base, s, &r, "a", NULL, NULL, 0, 0, 100, true);
	CHECK_STR_EQ(seqs(&r), "1,3,5,7");
	if (r.n == 4)
		CHECK(r.msgs[2]->priv);
	qres_clear(&r);

	query(base, s, &r, "a", "b", NULL, 0, 0, 100, false);
	CHECK_STR_EQ(seqs(&r), "1,2,3,6,7");
	qres_clear(&r);

	query(base, s, &r, "*", NULL, NULL, 0, 0, 100, false);
	CHECK_STR_EQ(seqs(&r), "1,2,3,6,7");
	qres_clear(&r);

	query(base, s, &r, "zzz", "*", NULL, 0, 0, 100, true);
	CHECK_STR_EQ(seqs(&r), "1,2,3,4,5,6,7");
	qres_clear(&r);

	query(base, s, &r, "zzz", NULL, NULL, 0, 0, 100, true);
	CHECK(r.status == STORE_OK && r.n == 0 && !r.has_more);
	qres_clear(&r);

	/* after_id */
	query(base, s, &r, "*", NULL, "u3", 0, 0, 100, false);
	CHECK(r.after_found);
	CHECK_STR_EQ(seqs(&r), "6,7");
	qres_clear(&r);

	query(base, s, &r, "c", NULL, "u3", 0, 0, 100, true);
	CHECK(r.after_found);
	CHECK_STR_EQ(seqs(&r), "4,6");
	qres_clear(&r);

	query(base, s, &r, "*", NULL, "u7", 0, 0, 100, false);
	CHECK(r.status == STORE_OK && r.after_found && r.n == 0 && !r.has_more);
	qres_clear(&r);

	/* An unknown after_id: everything retained, and say so. */
	query(base, s, &r, "a", "b", "nope", 5, 0, 100, false);
	CHECK(r.status == STORE_OK);
	CHECK(!r.after_found);
	CHECK_STR_EQ(seqs(&r), "1,2,3,6,7");
	qres_clear(&r);

	/* after_seq */
	query(base, s, &r, "a", NULL, NULL, 2, 0, 100, false);
	CHECK(r.after_found);
	CHECK_STR_EQ(seqs(&r), "3,7");
	qres_clear(&r);

	/* upto_seq */
	query(base, s, &r, "*", NULL, NULL, 0, 3, 100, false);
	CHECK_STR_EQ(seqs(&r), "1,2,3");
	CHECK(!r.has_more);
	qres_clear(&r);

	query(base, s, &r, "a", "b", "u1", 0, 6, 100, false);
	CHECK_STR_EQ(seqs(&r), "2,3,6");
	qres_clear(&r);

	/* limit and has_more */
	query(base, s, &r, "*", NULL, NULL, 0, 0, 2, false);
	CHECK_STR_EQ(seqs(&r), "1,2");
	CHECK(r.has_more);
	qres_clear(&r);

	query(base, s, &r, "*", NULL, NULL, 0, 2, 2, false);
	CHECK_STR_EQ(seqs(&r), "1,2");
	CHECK(!r.has_more);
	qres_clear(&r);

	query(base, s, &r, "a", "b", NULL, 0, 0, 3, false);
	CHECK_STR_EQ(seqs(&r), "1,2,3");
	CHECK(r.has_more);
	qres_clear(&r);

	query(base, s, &r, "a", "b", "u3", 0, 0, 2, false);
	CHECK_STR_EQ(seqs(&r), "6,7");
	CHECK(!r.has_more);
	qres_clear(&r);

	query(base, s, &r, "a", NULL, NULL, 0, 0, 0, true); /* limit < 1: one */
	CHECK_STR_EQ(seqs(&r), "1");
	CHECK(r.has_more);
	qres_clear(&r);

	s->ops->close(s);
out:
	event_base_free(base);
	dir_remove();
}

static void test_data_roundtrip(void)
{
	dir_make();
	struct event_base *base = event_base_new();
	struct store *s = open_store(base, 0, 0);
	CHECK(s != NULL);
	if (!s)
		goto out;
	size_t big_len = 200 * 1024;
	char *big = xmalloc(big_len);
	for (size_t i = 0; i < big_len; i++)
		big[i] = (char)((i * 7919u) >> 3); /* every byte value, NULs too */
	static const char nul[] = "a\0b\0\0c\r\n\0";
	reset_cbs();
	append(s, mk("nul", "d", NULL, false, nul, sizeof nul), 0);
	append(s, mk("big", "d", NULL, false, big, big_len), 1);
	append(s, mk("empty", "d", NULL, false, "", 0), 2);
	CHECK(run_until(base, &ncb, 3));
	CHECK(status[0] == STORE_OK && status[1] == STORE_OK && status[2] == STORE_OK);

	struct qres r;
	query(base, s, &r, "d", NULL, NULL, 0, 0, 10, false);
	CHECK(r.n == 3);
	if (r.n == 3) {
		CHECK_MEM_EQ(r.msgs[0]->data, r.msgs[0]->datalen, nul, sizeof nul);
		CHECK_MEM_EQ(r.msgs[1]->data, r.msgs[1]->datalen, big, big_len);
		CHECK(r.msgs[2]->datalen == 0 && r.msgs[2]->data && r.msgs[2]->data[0] == '\0');
	}
	qres_clear(&r);
	free(big);
	s->ops->close(s);
out:
	event_base_free(base);
	dir_remove();
}

static void test_retention_count(void)
{
	dir_make();
	struct event_base *base = event_base_new();
	struct store *s = open_store(base, 10, 0);
	CHECK(s != NULL);
	if (!s)
		goto out;
	reset_cbs();
	append_n(s, "c", 1, 25, "x");
	CHECK(run_until(base, &ncb, 25));
	CHECK(run_until_stored(base, s, 10));
	struct store_stats st;
	s->ops->stats(s, &st);
	CHECK(st.expired == 15);

	struct qres r;
	query(base, s, &r, "*", NULL, NULL, 0, 0, 100, false);
	CHECK_STR_EQ(seqs(&r), "16,17,18,19,20,21,22,23,24,25");
	qres_clear(&r);
	/* A Last-Event-ID that retention removed: replay all retained. */
	query(base, s, &r, "t", NULL, "c3", 0, 0, 3, false);
	CHECK(!r.after_found);
	CHECK_STR_EQ(seqs(&r), "16,17,18");
	CHECK(r.has_more);
	qres_clear(&r);
	s->ops->close(s);
out:
	event_base_free(base);
	dir_remove();
}

static void test_retention_age(void)
{
	dir_make();
	struct event_base *base = event_base_new();
	struct store *s = open_store(base, 0, 3600);
	CHECK(s != NULL);
	if (!s)
		goto out;
	reset_cbs();
	for (int i = 0; i < 10; i++) {
		char id[16];
		snprintf(id, sizeof id, "o%d", i + 1);
		struct msg *m = mk(id, "t", NULL, false, "x", 1);
		if (i % 2 == 0)
			m->time_ms = now_ms() - 2 * 3600 * 1000; /* two hours old */
		append(s, m, i);
	}
	CHECK(run_until(base, &ncb, 10));
	CHECK(run_until_stored(base, s, 5));
	struct store_stats st;
	s->ops->stats(s, &st);
	CHECK(st.expired == 5);

	struct qres r;
	query(base, s, &r, "t", NULL, NULL, 0, 0, 100, false);
	CHECK_STR_EQ(seqs(&r), "2,4,6,8,10");
	qres_clear(&r);
	s->ops->close(s);
out:
	event_base_free(base);
	dir_remove();
}

static void test_reopen(void)
{
	dir_make();
	struct event_base *base = event_base_new();
	struct store *s = open_store(base, 0, 0);
	CHECK(s != NULL);
	if (!s)
		goto out;
	reset_cbs();
	for (int i = 0; i < 5; i++) {
		char id[16];
		snprintf(id, sizeof id, "r%d", i + 1);
		append(s, mk(id, "t", NULL, false, id, strlen(id)), i);
	}
	CHECK(run_until(base, &ncb, 5));
	s->ops->close(s);

	s = open_store(base, 0, 0);
	CHECK(s != NULL);
	if (!s)
		goto out;
	CHECK(s->last_seq == 5);
	CHECK_STR_EQ(s->last_id, "r5");
	struct store_stats st;
	s->ops->stats(s, &st);
	CHECK(st.stored == 5 && st.appended == 0 && st.commits == 0);
	struct qres r;
	query(base, s, &r, "t", NULL, "r2", 0, 0, 100, false);
	CHECK_STR_EQ(seqs(&r), "3,4,5");
	if (r.n == 3)
		CHECK_MEM_EQ(r.msgs[2]->data, r.msgs[2]->datalen, "r5", (size_t)2);
	qres_clear(&r);
	s->ops->close(s);

	/* Retention empties the store: the highest seq is still remembered,
	 * so a restarted hub never reuses one. */
	s = open_store(base, 0, 1);
	CHECK(s != NULL);
	if (!s)
		goto out;
	reset_cbs();
	struct msg *m = mk("r6", "t", NULL, false, "", 0);
	m->time_ms = 1000;
	append(s, m, 0);
	CHECK(run_until(base, &ncb, 1));
	CHECK(run_until_stored(base, s, 0));
	s->ops->close(s);

	s = open_store(base, 0, 0);
	CHECK(s != NULL);
	if (s) {
		CHECK(s->last_seq == 6);
		CHECK(s->last_id == NULL);
		s->ops->close(s);
	}
out:
	event_base_free(base);
	dir_remove();
}

static void test_newer_schema_refused(void)
{
	dir_make();
	sqlite3 *db;
	CHECK(sqlite3_open(dbpath, &db) == SQLITE_OK);
	CHECK(sqlite3_exec(db, "PRAGMA user_version = 999", NULL, NULL, NULL) == SQLITE_OK);
	sqlite3_close(db);

	struct event_base *base = event_base_new();
	struct store_sqlite_config cfg = {.path = dbpath};
	char err[512] = "";
	struct store *s = store_sqlite_open(base, &cfg, err, sizeof err);
	CHECK(s == NULL);
	CHECK(strstr(err, "newer") != NULL);
	CHECK(strstr(err, "999") != NULL);
	if (s)
		s->ops->close(s);

	/* A path that cannot be opened fails cleanly too. */
	cfg.path = "/nonexistent-dir/hub.db";
	s = store_sqlite_open(base, &cfg, err, sizeof err);
	CHECK(s == NULL);
	CHECK(err[0] != '\0');
	event_base_free(base);
	dir_remove();
}

static void test_close_drains(void)
{
	dir_make();
	struct event_base *base = event_base_new();
	struct store *s = open_store(base, 0, 0);
	CHECK(s != NULL);
	if (!s)
		goto out;
	reset_cbs();
	append_n(s, "q", 1, 500, "x");
	struct qres r[3];
	memset(r, 0, sizeof r);
	const char *topics[1] = {"t"};
	struct store_query q = {.topics = topics, .ntopics = 1, .limit = 10};
	for (int i = 0; i < 3; i++)
		s->ops->query(s, &q, on_query, &r[i]);
	s->ops->close(s); /* the loop never ran */
	CHECK(ncb == 500);
	bool in_order = true, all_ok = true;
	for (int i = 0; i < 500; i++) {
		in_order = in_order && order[i] == i;
		all_ok = all_ok && status[i] == STORE_OK;
	}
	CHECK(in_order);
	CHECK(all_ok);
	for (int i = 0; i < 3; i++) {
		CHECK(r[i].calls == 1);
		CHECK(r[i].status == STORE_OK || (r[i].status == STORE_ERROR && r[i].n == 0));
		qres_clear(&r[i]);
	}

	s = open_store(base, 0, 0);
	CHECK(s != NULL);
	if (s) {
		CHECK(s->last_seq == 500);
		CHECK_STR_EQ(s->last_id, "q500");
		struct store_stats st;
		s->ops->stats(s, &st);
		CHECK(st.stored == 500);
		s->ops->close(s);
	}
out:
	event_base_free(base);
	dir_remove();
}

/* Child of test_durable_kill: appends, reports on fd once every callback
 * said STORE_OK, then waits to be killed. */
static void durable_child(int fd)
{
	struct event_base *base = event_base_new();
	struct store_sqlite_config cfg = {.path = dbpath, .sync_full = true};
	char err[512];
	struct store *s = store_sqlite_open(base, &cfg, err, sizeof err);
	if (!s)
		_exit(2);
	reset_cbs();
	append_n(s, "k", 1, 100, "x");
	run_until(base, &ncb, 100);
	for (int i = 0; i < 100; i++)
		if (status[i] != STORE_OK)
			_exit(3);
	if (write(fd, "k", 1) != 1)
		_exit(4);
	for (;;)
		pause();
}

/* Updates acknowledged STORE_OK survive SIGKILL right after. */
static void test_durable_kill(void)
{
	dir_make();
	int p[2];
	CHECK(pipe(p) == 0);
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		durable_child(p[1]);
	}
	close(p[1]);
	char c = 0;
	CHECK(pid > 0 && read(p[0], &c, 1) == 1 && c == 'k');
	close(p[0]);
	if (pid > 0)
		kill(pid, SIGKILL);
	int wstatus = 0;
	CHECK(pid > 0 && waitpid(pid, &wstatus, 0) == pid);
	CHECK(WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL);

	struct event_base *base = event_base_new();
	struct store *s = open_store(base, 0, 0);
	CHECK(s != NULL);
	if (s) {
		CHECK(s->last_seq == 100);
		CHECK_STR_EQ(s->last_id, "k100");
		struct store_stats st;
		s->ops->stats(s, &st);
		CHECK(st.stored == 100);
		s->ops->close(s);
	}
	event_base_free(base);
	dir_remove();
}

/* Keeps updates whose seq is a multiple of *(int *)arg. */
static bool keep_multiple(const struct msg *m, const void *arg)
{
	return m->seq % *(const int *)arg == 0;
}

static void test_query_filter(void)
{
	dir_make();
	struct event_base *base = event_base_new();
	struct store *s = open_store(base, 0, 0);
	CHECK(s != NULL);
	if (!s)
		goto out;
	reset_cbs();
	char id[16];
	for (int i = 1; i <= 40; i++) {
		snprintf(id, sizeof id, "f%d", i);
		append(s, mk(id, i % 2 ? "odd" : "even", "all", i == 20, "x", 1), i - 1);
	}
	CHECK(run_until(base, &ncb, 40));

	/* The filter drops most candidates: pages still fill up. */
	int every = 7;
	const char *all[1] = {"*"};
	struct store_query q = {.topics = all, .ntopics = 1, .limit = 3,
				.filter = keep_multiple, .filter_arg = &every};
	struct qres r = {0};
	s->ops->query(s, &q, on_query, &r);
	CHECK(run_until(base, &r.calls, 1));
	CHECK_STR_EQ(seqs(&r), "7,14,21");
	CHECK(r.has_more);
	qres_clear(&r);

	/* Through the topic index, after a seq, with a private row (20)
	 * left out before the filter sees it. */
	const char *even[1] = {"even"};
	every = 4;
	q = (struct store_query){.topics = even, .ntopics = 1, .after_seq = 8, .limit = 10,
				 .filter = keep_multiple, .filter_arg = &every};
	s->ops->query(s, &q, on_query, &r);
	CHECK(run_until(base, &r.calls, 1));
	CHECK_STR_EQ(seqs(&r), "12,16,24,28,32,36,40");
	CHECK(!r.has_more);
	qres_clear(&r);

	/* A filter that keeps nothing ends the scan with an empty page. */
	every = 1000;
	q.after_seq = 0;
	s->ops->query(s, &q, on_query, &r);
	CHECK(run_until(base, &r.calls, 1));
	CHECK(r.status == STORE_OK && r.n == 0 && !r.has_more);
	qres_clear(&r);
	s->ops->close(s);
out:
	event_base_free(base);
	dir_remove();
}

/* Replay pages sized in bytes: a page stops before the update that would
 * pass max_bytes (msg_mem of each, encoded on the store's thread), always
 * holds at least one, and says more follow; without a budget, limit alone
 * counts. Both paths: every update ("*") and the topic index. */
static void test_query_bytes(void)
{
	dir_make();
	struct event_base *base = event_base_new();
	struct store *s = open_store(base, 0, 0);
	CHECK(s != NULL);
	if (!s)
		goto out;
	reset_cbs();
	char id[16], data[1000];
	memset(data, 'b', sizeof data);
	for (int i = 1; i <= 10; i++) {
		snprintf(id, sizeof id, "b%d", i);
		append(s, mk(id, "t", NULL, false, data, sizeof data), i - 1);
	}
	CHECK(run_until(base, &ncb, 10));
	const char *all[1] = {"*"}, *t[1] = {"t"};
	for (int path = 0; path < 2; path++) {
		struct store_query q = {.topics = path ? t : all, .ntopics = 1, .limit = 100,
					.max_bytes = 4000, .encode = true};
		struct qres r = {0};
		s->ops->query(s, &q, on_query, &r);
		CHECK(run_until(base, &r.calls, 1));
		CHECK_STR_EQ(seqs(&r), "1,2,3");
		CHECK(r.has_more);
		size_t total = 0;
		for (int i = 0; i < r.n; i++) {
			CHECK(r.msgs[i]->sse != NULL && r.msgs[i]->data == NULL);
			total += msg_mem(r.msgs[i]);
		}
		CHECK(total <= 4000 && total + msg_mem(r.msgs[0]) > 4000);
		qres_clear(&r);
		/* A budget below one update: that one, and more follow. */
		q.max_bytes = 10;
		q.after_seq = 8;
		s->ops->query(s, &q, on_query, &r);
		CHECK(run_until(base, &r.calls, 1));
		CHECK_STR_EQ(seqs(&r), "9");
		CHECK(r.has_more);
		qres_clear(&r);
		/* The last one: no more. */
		q.after_seq = 9;
		s->ops->query(s, &q, on_query, &r);
		CHECK(run_until(base, &r.calls, 1));
		CHECK_STR_EQ(seqs(&r), "10");
		CHECK(!r.has_more);
		qres_clear(&r);
	}
	/* History: no budget, no encoding, the data as stored. */
	struct qres r = {0};
	query(base, s, &r, "t", NULL, NULL, 0, 0, 100, false);
	CHECK(r.n == 10 && !r.has_more && r.msgs[0]->data && r.msgs[0]->datalen == sizeof data);
	qres_clear(&r);
	s->ops->close(s);
out:
	event_base_free(base);
	dir_remove();
}

/* Commits one at a time, each a few WAL frames: the writer checkpoints
 * after the commits that take the WAL past 1000 frames, so the WAL file
 * (reused from its start after each checkpoint) stays near 1000 frames
 * of 4 KiB instead of growing with every commit. */
static void test_checkpoint(void)
{
	dir_make();
	struct event_base *base = event_base_new();
	struct store *s = open_store(base, 0, 0);
	CHECK(s != NULL);
	if (!s)
		goto out;
	reset_cbs();
	for (int i = 0; i < 1500; i++) {
		char id[16];
		snprintf(id, sizeof id, "k%d", i + 1);
		append(s, mk(id, "t", NULL, false, "x", 1), i);
		CHECK(run_until(base, &ncb, i + 1));
	}
	char wal[320];
	snprintf(wal, sizeof wal, "%s-wal", dbpath);
	struct stat st;
	CHECK(stat(wal, &st) == 0);
	CHECK(st.st_size > 0 && st.st_size < 1200 * (4096 + 24));
	struct store_stats ss;
	s->ops->stats(s, &ss);
	CHECK(ss.stored == 1500 && ss.commits == 1500 && ss.errors == 0);
	s->ops->close(s);
out:
	event_base_free(base);
	dir_remove();
}

TEST_MAIN(TEST(test_append_order), TEST(test_group_commit), TEST(test_max_batch),
	  TEST(test_conflict), TEST(test_query), TEST(test_query_filter), TEST(test_query_bytes), TEST(test_data_roundtrip),
	  TEST(test_retention_count), TEST(test_retention_age), TEST(test_reopen),
	  TEST(test_newer_schema_refused), TEST(test_close_drains),
	  TEST(test_durable_kill), TEST(test_checkpoint))
