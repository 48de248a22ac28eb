/* test_store_redis.c -- the Redis store against a real redis-server this
 * program starts (on a free loopback port, in a temporary folder) and
 * stops by pid: positions, the entry format, publish and feed, two nodes
 * on one log, the retry rule, queries, retention, the feed's resets (a
 * lost log, a cursor retention passed), Redis down and back, close.
 * Exits 77 (skipped) only when redis-server is not installed. */
#include "config.h"

#include <signal.h>

#include "testlib.h"
#include "store_fixture.h"
#include "redis_server.h"

#include "store/redis.h"
#include "store/redis_entry.h"

static int prefix_no; /* each case its own key prefix */
static char prefix[32];

/* ---- helpers ------------------------------------------------------------ */

static void next_prefix(void)
{
	snprintf(prefix, sizeof prefix, "t%d", ++prefix_no);
}

static struct store *open_redis(struct event_base *base, int64_t retain_count, int64_t retain_age_s)
{
	struct store_redis_config cfg = {
		.address = redis_addr,
		.prefix = prefix,
		.retain_count = retain_count,
		.retain_age_s = retain_age_s,
	};
	char err[512] = "";
	struct store *s = store_redis_open(base, &cfg, err, sizeof err);
	if (!s)
		fprintf(stderr, "store_redis_open: %s\n", err);
	return s;
}

/* One node's feed: the ids it was fed, in order, and its resets. */
struct node {
	struct store *s;
	char ids[4096];
	int nfed, nreset;
	store_pos last;
	bool in_order;
};

static void node_fed(void *arg, struct msg *m)
{
	struct node *n = arg;
	size_t len = strlen(n->ids);
	snprintf(n->ids + len, sizeof n->ids - len, "%s%s", len ? "," : "", m->id);
	if (m->seq <= n->last)
		n->in_order = false;
	n->last = m->seq;
	n->nfed++;
}

static void node_reset(void *arg, const char *why)
{
	struct node *n = arg;
	(void)why;
	n->nreset++;
	n->last = 0;
}

static struct node *node_open(struct event_base *base, int64_t retain_count, int64_t retain_age_s)
{
	struct node *n = xcalloc(1, sizeof *n);
	n->in_order = true;
	n->s = open_redis(base, retain_count, retain_age_s);
	CHECK(n->s != NULL);
	if (!n->s)
		exit(1);
	struct store_feed feed = {node_fed, node_reset, n};
	n->s->ops->subscribe(n->s, &feed);
	return n;
}

static void node_close(struct node *n)
{
	n->s->ops->close(n->s);
	free(n);
}

/* Publish callbacks: statuses by index, in the order they ran, and how
 * many stored updates fed_check's feed had delivered before their
 * callback ran (store.h: the feed first). */
static int npub;
static enum store_status pub_status[MAXCB];
static char pub_order[4096];
static struct node *fed_check;
static int fed_first;

static void on_pub(void *arg, enum store_status st, struct msg *m)
{
	int i = (int)(intptr_t)arg;
	size_t len = strlen(pub_order);
	snprintf(pub_order + len, sizeof pub_order - len, "%s%d", len ? "," : "", i);
	if (i >= 0 && i < MAXCB)
		pub_status[i] = st;
	if (st == STORE_OK && fed_check && m->seq > 0 && m->seq <= fed_check->last) {
		char want[64], have[4200];
		snprintf(want, sizeof want, ",%s,", m->id);
		snprintf(have, sizeof have, ",%s,", fed_check->ids);
		fed_first += strstr(have, want) != NULL;
	}
	npub++;
}

static void pubs_reset(void)
{
	npub = 0;
	fed_first = 0;
	fed_check = NULL;
	pub_order[0] = '\0';
	memset(pub_status, 0xff, sizeof pub_status);
}

static void publish(struct store *s, const char *id, const char *topic, const char *data, int i)
{
	struct msg *m = mk(id, topic, NULL, false, data, strlen(data));
	s->ops->publish(s, m, on_pub, (void *)(intptr_t)i);
	msg_unref(m);
}

/* The ids of a query result, "a,b,c". */
static const char *ids(const struct qres *r)
{
	static char out[2048];
	size_t n = 0;
	out[0] = '\0';
	for (int i = 0; i < r->n && i < 64 && n < sizeof out - 64; i++)
		n += (size_t)snprintf(out + n, sizeof out - n, "%s%s", i ? "," : "", r->msgs[i]->id);
	return out;
}

/* ---- cases ---------------------------------------------------------------- */

static void t_positions(void)
{
	char id[STORE_REDIS_ID_MAX];
	store_pos p = store_redis_pos_from_id("1577836800001-5", 15);
	CHECK(p == ((1LL << 20) | 5));
	store_redis_pos_to_id(p, id);
	CHECK_STR_EQ(id, "1577836800001-5");
	CHECK(store_redis_pos_from_id("1765000000000-0", 15) <
	      store_redis_pos_from_id("1765000000000-1", 15));
	CHECK(store_redis_pos_from_id("1765000000000-1048575", 21) <
	      store_redis_pos_from_id("1765000000001-0", 15));
	const char *bad[] = {"", "abc", "1-2", "1577836800001-", "-5", "1577836800001-5x",
			     "1577836800001-1048576", "0-0", "99999999999999999999-0"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CHECK(store_redis_pos_from_id(bad[i], strlen(bad[i])) == 0);
	store_redis_pos_to_id(0, id);
	CHECK_STR_EQ(id, "0-0");
}

static void t_entry_format(void)
{
	const char *topics[2] = {"https://e.com/a", "b\nc"};
	static const char data[] = "line1\nline2\0after";
	struct msg *m = msg_new("urn:x:1", topics, 2, "ev", 1500, true, data, sizeof data - 1);
	struct buf c = {0};
	redis_entry_content(&c, m);
	struct msg *d = redis_entry_decode("urn:x:1", 7, c.p, c.len, "1700000000000", 13);
	CHECK(d != NULL);
	if (d) {
		CHECK_STR_EQ(d->id, "urn:x:1");
		CHECK(d->ntopics == 2 && d->priv && d->retry == 1500 && d->time_ms == 1700000000000);
		CHECK_STR_EQ(d->topics[1], "b\nc");
		CHECK_STR_EQ(d->type, "ev");
		CHECK_MEM_EQ(d->data, d->datalen, data, sizeof data - 1);
	}
	msg_unref(d);
	/* every cut of the content, and a byte more, is refused */
	for (size_t n = 0; n < c.len; n++)
		CHECK(redis_entry_decode("i", 1, c.p, n, "1", 1) == NULL);
	buf_addc(&c, 'x');
	CHECK(redis_entry_decode("i", 1, c.p, c.len, "1", 1) == NULL);
	buf_free(&c);
	/* items back to back: type, retry, private, topics, each topic, data */
	const char *bad[] = {"-:2:-11:01:00:", "-:2:-11:02:651:t0:", "-:2:-11:21:11:t0:",
			     "-:2:-11:01:1-:0:", "-:x:", "-:2:-11:01:111:t0:",
			     "-:2:-11:01:11:t", "-:2:-x1:01:11:t0:"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CHECK(redis_entry_decode("i", 1, bad[i], strlen(bad[i]), "1", 1) == NULL);
	const char *good = "-:2:-11:01:11:t0:";
	struct msg *g = redis_entry_decode("i", 1, good, strlen(good), "1", 1);
	CHECK(g && !g->type && g->retry == -1 && !g->priv && g->datalen == 0);
	msg_unref(g);
	CHECK(redis_entry_decode("", 0, good, strlen(good), "1", 1) == NULL);
	CHECK(redis_entry_decode("a\nb", 3, good, strlen(good), "1", 1) == NULL);
	CHECK(redis_entry_decode("i", 1, good, strlen(good), "1x", 2) == NULL);
	msg_unref(m);
}

static void t_publish_feed(void)
{
	struct event_base *base = fixture_begin();
	next_prefix();
	pubs_reset();
	struct node *a = node_open(base, 0, 0);
	CHECK(a->s->last_seq == 0 && a->s->last_id == NULL);
	fed_check = a;
	for (int i = 0; i < 5; i++) {
		char id[16];
		snprintf(id, sizeof id, "p%d", i);
		publish(a->s, id, "t", "data", i);
	}
	CHECK(npub == 0); /* never inside the call */
	CHECK(run_until(base, &npub, 5));
	CHECK_STR_EQ(pub_order, "0,1,2,3,4");
	for (int i = 0; i < 5; i++)
		CHECK(pub_status[i] == STORE_OK);
	CHECK(fed_first == 5);
	CHECK_STR_EQ(a->ids, "p0,p1,p2,p3,p4");
	CHECK(a->in_order);
	struct qres r;
	query(base, a->s, &r, "t", NULL, NULL, 0, 0, 10, false);
	CHECK(r.status == STORE_OK && r.n == 5 && !r.has_more && r.after_found);
	CHECK_STR_EQ(ids(&r), "p0,p1,p2,p3,p4");
	CHECK(r.n == 5 && r.msgs[4]->datalen == 4 && memcmp(r.msgs[4]->data, "data", 4) == 0);
	CHECK(r.n == 5 && r.msgs[4]->seq == a->last);
	qres_clear(&r);
	struct store_stats st;
	a->s->ops->stats(a->s, &st);
	CHECK(st.appended == 5 && st.stored == 5 && st.connected);
	node_close(a);

	/* a new node starts after the last entry */
	struct node *b = node_open(base, 0, 0);
	CHECK(b->s->last_id && strcmp(b->s->last_id, "p4") == 0);
	node_close(b);
	fixture_end(base);
}

static void t_two_nodes(void)
{
	struct event_base *base = fixture_begin();
	next_prefix();
	pubs_reset();
	struct node *a = node_open(base, 0, 0), *b = node_open(base, 0, 0);
	for (int i = 0; i < 40; i++) {
		char id[16];
		snprintf(id, sizeof id, "n%d", i);
		publish(i % 2 ? b->s : a->s, id, "t", "x", i);
	}
	CHECK(run_until(base, &npub, 40));
	CHECK(run_until(base, &a->nfed, 40));
	CHECK(run_until(base, &b->nfed, 40));
	CHECK(a->nfed == 40 && b->nfed == 40);
	CHECK_STR_EQ(a->ids, b->ids);
	CHECK(a->in_order && b->in_order);
	for (int i = 0; i < 40; i++)
		CHECK(pub_status[i] == STORE_OK);
	node_close(a);
	node_close(b);
	fixture_end(base);
}

static void t_retry_rule(void)
{
	struct event_base *base = fixture_begin();
	next_prefix();
	pubs_reset();
	struct node *a = node_open(base, 0, 0), *b = node_open(base, 0, 0);
	publish(a->s, "same", "t", "one", 0);
	CHECK(run_until(base, &npub, 1));
	publish(b->s, "same", "t", "one", 1);
	publish(b->s, "same", "t", "two", 2);
	struct msg *m = mk("same", "other", NULL, false, "one", 3);
	a->s->ops->publish(a->s, m, on_pub, (void *)(intptr_t)3);
	msg_unref(m);
	CHECK(run_until(base, &npub, 4));
	CHECK(pub_status[0] == STORE_OK && pub_status[1] == STORE_DUPLICATE);
	CHECK(pub_status[2] == STORE_CONFLICT && pub_status[3] == STORE_CONFLICT);
	publish(a->s, "after", "t", "x", 4);
	CHECK(run_until(base, &b->nfed, 2));
	CHECK_STR_EQ(b->ids, "same,after");
	node_close(a);
	node_close(b);
	fixture_end(base);
}

static bool even_filter(const struct msg *m, const void *arg)
{
	(void)arg;
	return (m->id[strlen(m->id) - 1] - '0') % 2 == 0;
}

static void t_query(void)
{
	struct event_base *base = fixture_begin();
	next_prefix();
	pubs_reset();
	struct node *a = node_open(base, 0, 0);
	for (int i = 0; i < 8; i++) {
		char id[16];
		snprintf(id, sizeof id, "q%d", i);
		publish(a->s, id, i % 2 ? "odd" : "even", "x", i);
	}
	struct msg *p = mk("priv", "even", NULL, true, "secret", 6);
	a->s->ops->publish(a->s, p, on_pub, (void *)(intptr_t)8);
	msg_unref(p);
	CHECK(run_until(base, &npub, 9));
	struct qres r;
	query(base, a->s, &r, "*", NULL, "q1", 0, 0, 1, false);
	store_pos q2_pos = r.n == 1 ? r.msgs[0]->seq : 0; /* q2, right after q1 */
	qres_clear(&r);
	query(base, a->s, &r, "even", NULL, "q2", 0, 0, 10, false);
	CHECK(r.after_found && !r.has_more);
	CHECK(q2_pos > 0 && r.after_pos == q2_pos); /* the position q2 names */
	CHECK_STR_EQ(ids(&r), "q4,q6");
	qres_clear(&r);
	query(base, a->s, &r, "even", NULL, "q2", 0, 0, 10, true);
	CHECK_STR_EQ(ids(&r), "q4,q6,priv");
	qres_clear(&r);
	query(base, a->s, &r, "*", NULL, "gone", 0, 0, 3, false);
	CHECK(!r.after_found && r.has_more && r.after_pos == 0);
	CHECK_STR_EQ(ids(&r), "q0,q1,q2");
	store_pos upto = r.n == 3 ? r.msgs[2]->seq : 0;
	store_pos after = r.n == 3 ? r.msgs[0]->seq : 0;
	qres_clear(&r);
	query(base, a->s, &r, "*", NULL, NULL, after, upto, 10, false);
	CHECK(r.after_found && !r.has_more);
	CHECK_STR_EQ(ids(&r), "q1,q2");
	qres_clear(&r);
	query(base, a->s, &r, "odd", "even", NULL, 0, 0, 2, false);
	CHECK(r.has_more);
	CHECK_STR_EQ(ids(&r), "q0,q1");
	qres_clear(&r);

	const char *all[1] = {"*"};
	struct store_query q = {.topics = all, .ntopics = 1, .limit = 10, .filter = even_filter,
				.encode = true};
	memset(&r, 0, sizeof r);
	a->s->ops->query(a->s, &q, on_query, &r);
	CHECK(run_until(base, &r.calls, 1));
	CHECK_STR_EQ(ids(&r), "q0,q2,q4,q6");
	CHECK(r.n == 4 && r.msgs[0]->sse && !r.msgs[0]->data);
	qres_clear(&r);
	node_close(a);
	fixture_end(base);
}

static void t_retention(void)
{
	struct event_base *base = fixture_begin();
	next_prefix();
	pubs_reset();
	struct node *a = node_open(base, 3, 0);
	for (int i = 0; i < 10; i++) { /* one at a time: the node reads each in time */
		char id[16];
		snprintf(id, sizeof id, "r%d", i);
		publish(a->s, id, "t", "x", i);
		CHECK(run_until(base, &npub, i + 1));
	}
	struct qres r;
	query(base, a->s, &r, "t", NULL, "r1", 0, 0, 10, false);
	CHECK(!r.after_found);
	CHECK_STR_EQ(ids(&r), "r7,r8,r9");
	qres_clear(&r);
	CHECK(run(NULL, 0, "HLEN %s:ids", prefix) == 3);
	CHECK(run(NULL, 0, "XLEN %s:log", prefix) == 3);
	struct store_stats st;
	a->s->ops->stats(a->s, &st);
	CHECK(st.expired == 7 && st.stored == 3);
	/* an id retention removed may be used again */
	publish(a->s, "r0", "t", "new", 10);
	CHECK(run_until(base, &npub, 11));
	CHECK(pub_status[10] == STORE_OK);
	CHECK_STR_EQ(a->ids, "r0,r1,r2,r3,r4,r5,r6,r7,r8,r9,r0");
	CHECK(a->nreset == 0);
	node_close(a);

	/* by age: an entry older than the age goes at the next run */
	next_prefix();
	struct node *b = node_open(base, 0, 1);
	char old_id[64];
	snprintf(old_id, sizeof old_id, "%lld-0", (long long)(now_ms() - 60000));
	char added[64] = "";
	CHECK(run(added, sizeof added, "XADD %s:log %s i old c -:2:-11:01:11:t0: ms 1", prefix,
		  old_id) == 0 && strcmp(added, old_id) == 0);
	CHECK(run(NULL, 0, "HSET %s:ids old %s", prefix, old_id) == 1);
	int64_t end = mono_ms() + WAIT_MS;
	while (run(NULL, 0, "XLEN %s:log", prefix) != 0 && mono_ms() < end)
		event_base_loop(base, EVLOOP_ONCE);
	CHECK(run(NULL, 0, "XLEN %s:log", prefix) == 0);
	CHECK(run(NULL, 0, "HLEN %s:ids", prefix) == 0);
	node_close(b);
	fixture_end(base);
}

/* A node that did not read while retention removed what it had not read
 * resets its feed, then goes on with what is retained. */
static void t_trimmed_reset(void)
{
	struct event_base *base = fixture_begin(), *slow_base = event_base_new();
	next_prefix();
	pubs_reset();
	struct node *a = node_open(base, 3, 0), *slow = node_open(slow_base, 3, 0);
	for (int i = 0; i < 8; i++) {
		char id[16];
		snprintf(id, sizeof id, "s%d", i);
		publish(a->s, id, "t", "x", i);
		CHECK(run_until(base, &npub, i + 1));
	}
	CHECK(run_until(slow_base, &slow->nfed, 3));
	CHECK(slow->nreset == 1);
	CHECK_STR_EQ(slow->ids, "s5,s6,s7");
	CHECK(a->nreset == 0 && a->nfed == 8);
	struct store_stats st;
	slow->s->ops->stats(slow->s, &st);
	CHECK(st.resets == 1);
	node_close(a);
	node_close(slow);
	event_base_free(slow_base);
	fixture_end(base);
}

/* A lost log (FLUSHALL here, a Redis restarted empty in life) is a reset,
 * not a silent gap, however the next entries are numbered. */
static void t_lost_log(void)
{
	struct event_base *base = fixture_begin();
	next_prefix();
	pubs_reset();
	struct node *a = node_open(base, 0, 0), *b = node_open(base, 0, 0);
	publish(a->s, "before", "t", "x", 0);
	CHECK(run_until(base, &b->nfed, 1));
	char ok[8] = "";
	CHECK(run(ok, sizeof ok, "FLUSHALL") == 0 && strcmp(ok, "OK") == 0);
	publish(a->s, "after", "t", "x", 1);
	CHECK(run_until(base, &b->nfed, 2));
	CHECK(run_until(base, &a->nfed, 2));
	CHECK(a->nreset == 1 && b->nreset == 1);
	CHECK_STR_EQ(b->ids, "before,after");
	CHECK_STR_EQ(a->ids, "before,after");
	node_close(a);
	node_close(b);
	fixture_end(base);
}

/* Redis stops: publishes and queries fail fast, the store says it is not
 * connected; Redis returns: the store reconnects and the feed goes on from
 * its cursor. */
static void t_down_and_back(void)
{
	struct event_base *base = fixture_begin();
	next_prefix();
	pubs_reset();
	struct node *a = node_open(base, 0, 0), *b = node_open(base, 0, 0);
	publish(a->s, "d0", "t", "x", 0);
	CHECK(run_until(base, &b->nfed, 1));
	redis_stop();
	int64_t t0 = mono_ms();
	publish(a->s, "d1", "t", "x", 1);
	CHECK(run_until(base, &npub, 2));
	CHECK(pub_status[1] == STORE_ERROR);
	CHECK(mono_ms() - t0 < 3000);
	struct qres r;
	query(base, b->s, &r, "t", NULL, NULL, 0, 0, 10, false);
	CHECK(r.status == STORE_ERROR && r.n == 0);
	qres_clear(&r);
	struct store_stats st;
	a->s->ops->stats(a->s, &st);
	CHECK(!st.connected);

	redis_start();
	int64_t end = mono_ms() + WAIT_MS;
	do {
		event_base_loop(base, EVLOOP_ONCE);
		a->s->ops->stats(a->s, &st);
	} while (!st.connected && mono_ms() < end);
	CHECK(st.connected && st.reconnects >= 1);
	publish(a->s, "d2", "t", "x", 2);
	CHECK(run_until(base, &npub, 3));
	CHECK(pub_status[2] == STORE_OK);
	CHECK(run_until(base, &b->nfed, 2));
	CHECK_STR_EQ(b->ids, "d0,d2");
	CHECK(b->nreset == 0);
	node_close(a);
	node_close(b);
	fixture_end(base);
}

/* Close answers every publish with its real status, its entry fed first. */
static void t_close_drains(void)
{
	struct event_base *base = fixture_begin();
	next_prefix();
	pubs_reset();
	struct node *a = node_open(base, 0, 0);
	for (int i = 0; i < 20; i++) {
		char id[16];
		snprintf(id, sizeof id, "c%d", i);
		publish(a->s, id, "t", "x", i);
	}
	a->s->ops->close(a->s);
	CHECK(npub == 20);
	for (int i = 0; i < 20; i++)
		CHECK(pub_status[i] == STORE_OK || pub_status[i] == STORE_DUPLICATE);
	CHECK(a->nfed == 20);
	free(a);
	CHECK(run(NULL, 0, "XLEN %s:log", prefix) == 20);
	fixture_end(base);
}

/* Redis forgets the scripts (SCRIPT FLUSH): the next publish fails, the
 * connection is made again with the scripts loaded, and the store goes on. */
static void t_script_flush(void)
{
	struct event_base *base = fixture_begin();
	next_prefix();
	pubs_reset();
	struct node *a = node_open(base, 0, 0);
	publish(a->s, "f0", "t", "x", 0);
	CHECK(run_until(base, &npub, 1));
	char ok[16] = "";
	CHECK(run(ok, sizeof ok, "SCRIPT FLUSH") == 0);
	publish(a->s, "f1", "t", "x", 1);
	CHECK(run_until(base, &npub, 2));
	CHECK(pub_status[0] == STORE_OK && pub_status[1] == STORE_ERROR);
	int64_t end = mono_ms() + WAIT_MS;
	while (pub_status[2] != STORE_OK && mono_ms() < end) {
		publish(a->s, "f1", "t", "x", 2);
		int want = npub + 1;
		CHECK(run_until(base, &npub, want));
	}
	CHECK(pub_status[2] == STORE_OK);
	CHECK(run_until(base, &a->nfed, 2));
	CHECK_STR_EQ(a->ids, "f0,f1");
	node_close(a);
	fixture_end(base);
}

/* An entry that is not a hubd update is skipped; the feed goes on. */
static void t_foreign_entry(void)
{
	struct event_base *base = fixture_begin();
	next_prefix();
	pubs_reset();
	struct node *a = node_open(base, 0, 0);
	char added[64] = "";
	CHECK(run(added, sizeof added, "XADD %s:log * i x c garbage ms 1", prefix) == 0 &&
	      store_redis_pos_from_id(added, strlen(added)) > 0);
	publish(a->s, "real", "t", "x", 0);
	CHECK(run_until(base, &a->nfed, 1));
	CHECK_STR_EQ(a->ids, "real");
	node_close(a);
	fixture_end(base);
}

/* With wait_replicas, a publish is acknowledged once a replica has it; a
 * replica gone makes it STORE_ERROR (stored, not replicated in time), and
 * so is a retry while it stays gone; once a replica is back, the retry is
 * acknowledged as a duplicate. */
static void t_wait_replicas(void)
{
	CHECK(redis_replica_start());
	struct event_base *base = fixture_begin();
	next_prefix();
	pubs_reset();
	struct store_redis_config cfg = {.address = redis_addr, .prefix = prefix,
					 .wait_replicas = 1, .wait_timeout_ms = 1000};
	char err[256] = "";
	struct store *s = store_redis_open(base, &cfg, err, sizeof err);
	CHECK(s != NULL);
	if (s) {
		publish(s, "w0", "t", "x", 0);
		CHECK(run_until(base, &npub, 1));
		CHECK(pub_status[0] == STORE_OK);
		redis_replica_stop();
		publish(s, "w1", "t", "x", 1);
		CHECK(run_until(base, &npub, 2));
		CHECK(pub_status[1] == STORE_ERROR);
		publish(s, "w1", "t", "x", 2); /* a retry: stored, still not replicated */
		CHECK(run_until(base, &npub, 3));
		CHECK(pub_status[2] == STORE_ERROR);
		CHECK(redis_replica_start());
		publish(s, "w1", "t", "x", 3); /* replicated now: acknowledged */
		CHECK(run_until(base, &npub, 4));
		CHECK(pub_status[3] == STORE_DUPLICATE);
		s->ops->close(s);
	}
	redis_replica_stop();
	fixture_end(base);
}

static void t_bad_address(void)
{
	struct event_base *base = event_base_new();
	char err[256] = "";
	struct store_redis_config cfg = {.address = "127.0.0.1:notaport"};
	CHECK(store_redis_open(base, &cfg, err, sizeof err) == NULL && strstr(err, "address"));
	char addr[32];
	snprintf(addr, sizeof addr, "127.0.0.1:%d", free_port());
	cfg.address = addr;
	CHECK(store_redis_open(base, &cfg, err, sizeof err) == NULL && strstr(err, "connect"));
	cfg.address = redis_addr;
	cfg.password = "wrong";
	CHECK(store_redis_open(base, &cfg, err, sizeof err) == NULL && strstr(err, "AUTH"));
	event_base_free(base);
}

int main(void)
{
	if (!redis_server_installed()) {
		puts("# SKIPPED: " REDIS_SERVER " is not installed (apt-get install redis-server)");
		return 77;
	}
	signal(SIGPIPE, SIG_IGN);
	redis_server_begin();

	static const struct test_case_ cases[] = {		{"positions", t_positions},
		{"entry_format", t_entry_format},
		{"publish_feed", t_publish_feed},
		{"two_nodes", t_two_nodes},
		{"retry_rule", t_retry_rule},
		{"query", t_query},
		{"retention", t_retention},
		{"trimmed_reset", t_trimmed_reset},
		{"lost_log", t_lost_log},
		{"down_and_back", t_down_and_back},
		{"close_drains", t_close_drains},
		{"script_flush", t_script_flush},
		{"foreign_entry", t_foreign_entry},
		{"wait_replicas", t_wait_replicas},
		{"bad_address", t_bad_address},
	};
	return test_run_cases(cases, sizeof cases / sizeof cases[0]);
}
