/* test_store_contract.c -- the store contract (store.h) as one table of
 * cases, each run against every store implementation: positions, the
 * feed, publisher retries, queries, retention, stats and close. Then the
 * memory store's test hooks. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "msg.h"
#include "store/memory.h"
#include "store/sqlite.h"
#include "testlib.h"
#include "store_fixture.h"
#include "util.h"

/* ---- contract cases --------------------------------------------------------
 * Each runs on a store opened just for it (with the row's retention) on a
 * fresh base; the runner closes the store after, unless the case does. */

static void c_append_order(struct event_base *base, struct store *s)
{
	CHECK(s->last_seq == 0);
	CHECK(s->last_id == NULL);
	append_n(s, "a", 0, 10, "x");
	CHECK(ncb == 0); /* never inside the call into the store */
	CHECK(run_until(base, &ncb, 10));
	for (int i = 0; i < 10; i++) {
		CHECK(order[i] == i);
		CHECK(status[i] == STORE_OK);
	}
	CHECK(last_pos == 10); /* positions 1, 2, 3... in call order */
	struct store_stats st;
	s->ops->stats(s, &st);
	CHECK(st.appended == 10);
	CHECK(st.stored == 10);
	CHECK(st.commits >= 1 && st.commits <= 10);
	CHECK(st.errors == 0 && st.expired == 0 && st.connected);
}

/* Many publishes queued at once (one group commit or several): callbacks
 * in call order, every one stored. */
static void c_many_in_order(struct event_base *base, struct store *s)
{
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
	CHECK(st.appended == 1000 && st.stored == 1000);
}

static void c_conflict(struct event_base *base, struct store *s)
{
	int nfed;
	feed_record(s, &nfed);
	append(s, mk("x1", "t", NULL, false, "1", 1), 0);
	append(s, mk("x2", "t", NULL, false, "2", 1), 1);
	append(s, mk("x1", "t", NULL, false, "3", 1), 2); /* same id */
	append(s, mk("x4", "t", NULL, false, "4", 1), 3);
	append(s, mk("x6", "t", NULL, false, "6", 1), 4);
	CHECK(nfed == 0);
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

	/* The very same update again (a publisher's retry): a duplicate,
	 * stored once; any difference is a conflict. */
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
	/* Type and retry count too. */
	const char *t[1] = {"t"};
	append(s, msg_new("z1", t, 1, "ev", 100, false, "z", 1), 12);
	append(s, msg_new("z1", t, 1, "ev", 100, false, "z", 1), 13);
	append(s, msg_new("z1", t, 1, "other", 100, false, "z", 1), 14);
	append(s, msg_new("z1", t, 1, "ev", -1, false, "z", 1), 15);
	CHECK(run_until(base, &ncb, 16));
	CHECK(status[12] == STORE_OK && status[13] == STORE_DUPLICATE);
	CHECK(status[14] == STORE_CONFLICT && status[15] == STORE_CONFLICT);

	/* The feed had every stored update, in order, once, each before its
	 * publish was answered; refused ones left holes. */
	CHECK_STR_EQ(fed, "1,2,4,5,11,13");
	CHECK(nfed == 6 && fed_before_cb == 6);

	struct store_stats st;
	s->ops->stats(s, &st);
	CHECK(st.appended == 6);
	CHECK(st.stored == 6);
	CHECK(st.errors == 0);

	struct qres r;
	query(base, s, &r, "*", NULL, NULL, 0, 0, 100, true);
	CHECK(r.status == STORE_OK);
	CHECK_STR_EQ(seqs(&r), "1,2,4,5,11,13");
	CHECK(r.n == 6 && r.msgs[0]->data[0] == '1');
	qres_clear(&r);
}

/* The hub builds the encoding on what the feed gave it (freeing its
 * data): the store's copy keeps the data, and query results are the
 * callback's own, fresh each time. */
static struct msg *fed_msg;
static void on_feed_encode(void *arg, struct msg *m)
{
	size_t len;
	msg_sse(m, &len);
	msg_unref(fed_msg);
	fed_msg = msg_ref(m);
	(*(int *)arg)++;
}

static void c_feed_encodes(struct event_base *base, struct store *s)
{
	int nfed = 0;
	fed_msg = NULL;
	s->ops->subscribe(s, &(struct store_feed){.update = on_feed_encode, .arg = &nfed});
	append(s, mk("e1", "t", NULL, false, "hello", 5), 0);
	CHECK(run_until(base, &ncb, 1));
	CHECK(nfed == 1 && fed_msg && fed_msg->data == NULL);

	struct qres r, r2;
	query(base, s, &r, "t", NULL, NULL, 0, 0, 10, false);
	query(base, s, &r2, "t", NULL, NULL, 0, 0, 10, false);
	CHECK(r.n == 1 && r2.n == 1);
	if (r.n == 1 && r2.n == 1) {
		CHECK(r.msgs[0] != fed_msg && r.msgs[0] != r2.msgs[0]);
		CHECK(r.msgs[0]->refs == 1);
		CHECK_MEM_EQ(r.msgs[0]->data, r.msgs[0]->datalen, "hello", (size_t)5);
		CHECK(r.msgs[0]->seq == 1 && r.msgs[0]->time_ms == fed_msg->time_ms);
	}
	qres_clear(&r);
	qres_clear(&r2);
	/* A replay page, encoded, leaves history its data. */
	const char *t[1] = {"t"};
	struct store_query q = {.topics = t, .ntopics = 1, .limit = 10, .encode = true};
	s->ops->query(s, &q, on_query, &r);
	CHECK(r.calls == 0); /* never inside the call into the store */
	CHECK(run_until(base, &r.calls, 1));
	CHECK(r.n == 1 && r.msgs[0]->sse && !r.msgs[0]->data);
	qres_clear(&r);
	query(base, s, &r, "t", NULL, NULL, 0, 0, 10, false);
	CHECK(r.n == 1 && r.msgs[0]->data && r.msgs[0]->datalen == 5);
	qres_clear(&r);
	msg_unref(fed_msg);
	fed_msg = NULL;
}

static void c_query(struct event_base *base, struct store *s)
{
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
	CHECK(r.after_found && r.after_pos == 3); /* the position u3 names */
	CHECK_STR_EQ(seqs(&r), "6,7");
	qres_clear(&r);

	query(base, s, &r, "c", NULL, "u3", 0, 0, 100, true);
	CHECK(r.after_found);
	CHECK_STR_EQ(seqs(&r), "4,6");
	qres_clear(&r);

	query(base, s, &r, "*", NULL, "u7", 0, 0, 100, false);
	CHECK(r.status == STORE_OK && r.after_found && r.n == 0 && !r.has_more);
	CHECK(r.after_pos == 7);
	qres_clear(&r);

	/* An unknown after_id: everything retained, and say so. */
	query(base, s, &r, "a", "b", "nope", 5, 0, 100, false);
	CHECK(r.status == STORE_OK);
	CHECK(!r.after_found && r.after_pos == 0);
	CHECK_STR_EQ(seqs(&r), "1,2,3,6,7");
	qres_clear(&r);

	/* after_seq */
	query(base, s, &r, "a", NULL, NULL, 2, 0, 100, false);
	CHECK(r.after_found && r.after_pos == 0); /* no after_id: no position */
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

}

static void c_data_roundtrip(struct event_base *base, struct store *s)
{
	size_t big_len = 200 * 1024;
	char *big = xmalloc(big_len);
	for (size_t i = 0; i < big_len; i++)
		big[i] = (char)((i * 7919u) >> 3); /* every byte value, NULs too */
	static const char nul[] = "a\0b\0\0c\r\n\0";
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
}

/* Waits until retention leaves `stored` updates, having removed
 * `expired`, and checks the positions of those left (all on topic "t"). */
static void check_retained(struct event_base *base, struct store *s, int64_t stored,
			   int64_t expired, const char *want)
{
	CHECK(run_until_stored(base, s, stored));
	struct store_stats st;
	s->ops->stats(s, &st);
	CHECK(st.expired == expired);
	struct qres r;
	query(base, s, &r, "t", NULL, NULL, 0, 0, 100, false);
	CHECK_STR_EQ(seqs(&r), want);
	qres_clear(&r);
}

static void c_retention_count(struct event_base *base, struct store *s)
{
	append_n(s, "c", 1, 25, "x");
	CHECK(run_until(base, &ncb, 25));
	check_retained(base, s, 10, 15, "16,17,18,19,20,21,22,23,24,25");
	struct qres r;
	/* A Last-Event-ID that retention removed: replay all retained. */
	query(base, s, &r, "t", NULL, "c3", 0, 0, 3, false);
	CHECK(!r.after_found);
	CHECK_STR_EQ(seqs(&r), "16,17,18");
	CHECK(r.has_more);
	qres_clear(&r);
}

static void c_retention_age(struct event_base *base, struct store *s)
{
	for (int i = 0; i < 10; i++) {
		char id[16];
		snprintf(id, sizeof id, "o%d", i + 1);
		struct msg *m = mk(id, "t", NULL, false, "x", 1);
		if (i % 2 == 0)
			m->time_ms = now_ms() - 2 * 3600 * 1000; /* two hours old */
		append(s, m, i);
	}
	CHECK(run_until(base, &ncb, 10));
	check_retained(base, s, 5, 5, "2,4,6,8,10");
}

/* Keeps updates whose seq is a multiple of *(int *)arg. */
static bool keep_multiple(const struct msg *m, const void *arg)
{
	return m->seq % *(const int *)arg == 0;
}

static void c_query_filter(struct event_base *base, struct store *s)
{
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
}

/* Replay pages sized in bytes: a page stops before the update that would
 * pass max_bytes (msg_mem of each, encoded), always holds at least one,
 * and says more follow; without a budget, limit alone counts. Both ways of
 * matching: every update ("*") and by topic. */
static void c_query_bytes(struct event_base *base, struct store *s)
{
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
}

/* Close answers what is queued, the loop never having run: publishes
 * with their real status, fed first; queries answered (STORE_OK when they
 * ran, else STORE_ERROR with nothing). */
static void c_close_drains(struct event_base *base, struct store *s)
{
	int nfed;
	feed_record(s, &nfed);
	append_n(s, "q", 1, 500, "x");
	append(s, mk("q7", "t", NULL, false, "y", 1), 500); /* a conflict */
	struct qres r[3];
	memset(r, 0, sizeof r);
	const char *topics[1] = {"t"};
	struct store_query q = {.topics = topics, .ntopics = 1, .limit = 10};
	for (int i = 0; i < 3; i++)
		s->ops->query(s, &q, on_query, &r[i]);
	s->ops->close(s);
	CHECK(ncb == 501);
	bool in_order = true, all_ok = true;
	for (int i = 0; i < 500; i++) {
		in_order = in_order && order[i] == i;
		all_ok = all_ok && status[i] == STORE_OK;
	}
	CHECK(in_order);
	CHECK(all_ok);
	CHECK(order[500] == 500 && status[500] == STORE_CONFLICT);
	CHECK(nfed == 500 && fed_before_cb == 500);
	for (int i = 0; i < 3; i++) {
		CHECK(r[i].calls == 1);
		CHECK(r[i].status == STORE_OK || (r[i].status == STORE_ERROR && r[i].n == 0));
		qres_clear(&r[i]);
	}
}

/* ---- the memory store's test hooks ---------------------------------------- */

static void m_fail(struct event_base *base, struct store *s)
{
	int nfed;
	feed_record(s, &nfed);
	check_feed_order = false; /* failed publishes are not fed */
	store_memory_fail(s, STORE_MEMORY_PUBLISH, 2);
	append_n(s, "f", 0, 3, "x");
	CHECK(run_until(base, &ncb, 3));
	CHECK(status[0] == STORE_ERROR && status[1] == STORE_ERROR && status[2] == STORE_OK);
	CHECK_STR_EQ(fed, "3"); /* the failed ones left holes */

	store_memory_fail(s, STORE_MEMORY_QUERY, 1);
	struct qres r;
	query(base, s, &r, "*", NULL, "f2", 0, 0, 10, false);
	CHECK(r.status == STORE_ERROR && r.n == 0);
	qres_clear(&r);
	query(base, s, &r, "*", NULL, NULL, 0, 0, 10, false);
	CHECK(r.status == STORE_OK);
	CHECK_STR_EQ(seqs(&r), "3");
	qres_clear(&r);

	/* n <= 0 cancels what is left. */
	store_memory_fail(s, STORE_MEMORY_PUBLISH, 5);
	store_memory_fail(s, STORE_MEMORY_PUBLISH, 0);
	append(s, mk("f9", "t", NULL, false, "x", 1), 3);
	CHECK(run_until(base, &ncb, 4));
	CHECK(status[3] == STORE_OK);
	struct store_stats st;
	s->ops->stats(s, &st);
	CHECK(st.errors == 3 && st.appended == 2 && st.stored == 2);
}

/* Runs the loop a few turns without blocking. */
static void spin(struct event_base *base)
{
	for (int i = 0; i < 5; i++)
		event_base_loop(base, EVLOOP_NONBLOCK);
}

/* Paused, nothing completes; unpaused, everything in call order: the
 * query sees exactly the publishes called before it. */
static void m_pause(struct event_base *base, struct store *s)
{
	int nfed;
	feed_record(s, &nfed);
	store_memory_pause(s, true);
	append_n(s, "p", 1, 2, "x");
	struct qres r = {0};
	const char *all[1] = {"*"};
	struct store_query q = {.topics = all, .ntopics = 1, .limit = 10};
	s->ops->query(s, &q, on_query, &r);
	append(s, mk("p3", "t", NULL, false, "x", 1), 2);
	spin(base);
	CHECK(ncb == 0 && nfed == 0 && r.calls == 0);
	store_memory_pause(s, false);
	CHECK(run_until(base, &ncb, 3));
	CHECK(r.calls == 1);
	CHECK_STR_EQ(seqs(&r), "1,2");
	CHECK(!r.has_more);
	CHECK_STR_EQ(fed, "1,2,3");
	CHECK(fed_before_cb == 3);
	qres_clear(&r);

	/* Close ignores the pause. */
	store_memory_pause(s, true);
	append(s, mk("p4", "t", NULL, false, "x", 1), 3);
	s->ops->query(s, &q, on_query, &r);
	s->ops->close(s);
	CHECK(ncb == 4 && status[3] == STORE_OK && nfed == 4);
	CHECK(r.calls == 1 && r.status == STORE_ERROR && r.n == 0);
}

static char resets[128];
static void on_reset(void *arg, const char *why)
{
	size_t len = strlen(resets);
	snprintf(resets + len, sizeof resets - len, "[%s after %lld]", why, (long long)fed_last);
}

/* A reset comes from the loop, in order with the feed. */
static void m_reset_feed(struct event_base *base, struct store *s)
{
	int nfed = 0;
	resets[0] = '\0';
	fed[0] = '\0';
	fed_last = 0;
	s->ops->subscribe(s, &(struct store_feed){.update = on_feed, .reset = on_reset,
						  .arg = &nfed});
	append(s, mk("r1", "t", NULL, false, "x", 1), 0);
	store_memory_reset_feed(s, "log lost");
	append(s, mk("r2", "t", NULL, false, "x", 1), 1);
	CHECK(nfed == 0 && resets[0] == '\0');
	CHECK(run_until(base, &ncb, 2));
	CHECK_STR_EQ(resets, "[log lost after 1]");
	CHECK_STR_EQ(fed, "1,2");
	struct store_stats st;
	s->ops->stats(s, &st);
	CHECK(st.resets == 1 && st.stored == 2);
}

/* ---- the runner ------------------------------------------------------------ */

struct store_kind {
	const char *name;
	struct store *(*open)(struct event_base *base, int64_t retain_count,
			      int64_t retain_age_s);
};

static const struct store_kind kinds[] = {
	{"memory", open_memory},
	{"sqlite", open_store}, /* a file in a temporary folder */
};

struct contract_case {
	const char *name;
	void (*fn)(struct event_base *base, struct store *s);
	int64_t retain_count, retain_age_s;
	bool closes; /* the case closes the store itself */
};

static const struct contract_case contract[] = {
	{"append_order", c_append_order, 0, 0, false},
	{"many_in_order", c_many_in_order, 0, 0, false},
	{"conflict", c_conflict, 0, 0, false},
	{"feed_encodes", c_feed_encodes, 0, 0, false},
	{"query", c_query, 0, 0, false},
	{"query_filter", c_query_filter, 0, 0, false},
	{"query_bytes", c_query_bytes, 0, 0, false},
	{"data_roundtrip", c_data_roundtrip, 0, 0, false},
	{"retention_count", c_retention_count, 10, 0, false},
	{"retention_age", c_retention_age, 0, 3600, false},
	{"close_drains", c_close_drains, 0, 0, true},
};

static const struct contract_case memory_only[] = {
	{"fail", m_fail, 0, 0, false},
	{"pause", m_pause, 0, 0, true},
	{"reset_feed", m_reset_feed, 0, 0, false},
};

/* Runs one case on a fresh store of kind k. Returns true when it passed. */
static bool run_case(const struct store_kind *k, const struct contract_case *c)
{
	int before = test_failures_;
	struct event_base *base = fixture_begin();
	struct store *s = k->open(base, c->retain_count, c->retain_age_s);
	CHECK(s != NULL);
	if (s) {
		c->fn(base, s);
		if (!c->closes)
			s->ops->close(s);
	}
	fixture_end(base);
	printf("%s - %s: %s\n", test_failures_ == before ? "ok" : "not ok", k->name, c->name);
	return test_failures_ == before;
}

int main(void)
{
	int passed = 0, failed = 0;
	for (size_t i = 0; i < sizeof contract / sizeof contract[0]; i++)
		for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
			run_case(&kinds[k], &contract[i]) ? passed++ : failed++;
	for (size_t i = 0; i < sizeof memory_only / sizeof memory_only[0]; i++)
		run_case(&kinds[0], &memory_only[i]) ? passed++ : failed++;
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
