/* test_hub.c -- the core in-process: the hub, its streams, replay, the
 * slow-consumer cut, capacity, store failures, a feed reset and shutdown,
 * with Unix socketpairs standing in for the web server's connections.
 * Every case runs over the memory store (the test double, with its fault
 * hooks) and again over a real SQLite file (its own threads, so the races
 * are real ones). Each test drives the event loop itself until what it
 * waits for has happened, or fails at a deadline. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "ctl_proto.h"
#include "fcgi_decode.h"
#include "handover.h"
#include "handover_channel.h"
#include "hub.h"
#include "match.h"
#include "msg.h"
#include "settings.h"
#include "store/memory.h"
#include "store/redis.h"
#include "store/sqlite.h"
#include "redis_server.h"
#include "testlib.h"
#include "util.h"

#define DEADLINE_MS 10000 /* no wait in these tests takes this long */

/* ---- fixture: a hub on a store, driven by hand ---------------------------- */

struct fixture {
	struct event_base *base;
	struct settings cfg;
	struct store *store;
	struct hub *hub;
	char dir[256];
	char db[300];
	char prefix[32]; /* Redis keys */
};

/* The store the cases run on now (see STORE_VARIANTS). */
enum store_kind { ON_MEMORY, ON_SQLITE, ON_REDIS };
static enum store_kind on_store;
static int redis_prefix_no; /* each Redis case its own keys */

/* Opens the case's store: again on the same data when f has had one. */
static void fixture_open_store(struct fixture *f)
{
	char err[512] = "";
	if (on_store == ON_SQLITE) {
		struct store_sqlite_config sc = {.path = f->db, .sync_full = false};
		f->store = store_sqlite_open(f->base, &sc, err, sizeof err);
	} else if (on_store == ON_REDIS) {
		if (!f->prefix[0])
			snprintf(f->prefix, sizeof f->prefix, "hub%d", ++redis_prefix_no);
		struct store_redis_config rc = {.address = redis_addr, .prefix = f->prefix};
		f->store = store_redis_open(f->base, &rc, err, sizeof err);
	} else {
		struct store_memory_config mc = {0};
		f->store = store_memory_open(f->base, &mc, err, sizeof err);
	}
	if (!f->store) {
		fprintf(stderr, "opening the store: %s\n", err);
		exit(1);
	}
}

/* A hub with the default settings, changed by tune (may be NULL) first. */
static void fixture_init(struct fixture *f, void (*tune)(struct settings *))
{
	memset(f, 0, sizeof *f);
	signal(SIGPIPE, SIG_IGN); /* as hubd: a closed peer is an EPIPE */
	test_make_dir(f->dir, sizeof f->dir, "hub");
	snprintf(f->db, sizeof f->db, "%s/hub.db", f->dir);
	f->base = event_base_new();
	settings_defaults(&f->cfg);
	f->cfg.retry_lo_ms = f->cfg.retry_hi_ms = 0; /* no retry: line */
	if (tune)
		tune(&f->cfg);
	fixture_open_store(f);
	f->hub = hub_new(f->base, &f->cfg, f->store);
}

static void remove_db_files(const struct fixture *f)
{
	static const char *const suffix[] = {"", "-wal", "-shm"};
	char p[320];
	for (size_t i = 0; i < sizeof suffix / sizeof suffix[0]; i++) {
		snprintf(p, sizeof p, "%s%s", f->db, suffix[i]);
		unlink(p);
	}
	rmdir(f->dir);
}

/* Tears down as hubd's main does: store first (it answers what is
 * queued), then the hub. */
static void fixture_free(struct fixture *f)
{
	if (f->store)
		f->store->ops->close(f->store);
	hub_free(f->hub);
	event_base_free(f->base);
	settings_free(&f->cfg);
	remove_db_files(f);
}

/* Runs the loop until done(arg) or the deadline; returns done's last
 * answer. The store's threads finish on their own time: wait in poll,
 * not in a busy loop. */
static bool run_until(struct fixture *f, bool (*done)(void *), void *arg)
{
	int64_t end = mono_ms() + DEADLINE_MS;
	while (!done(arg)) {
		if (mono_ms() > end)
			return false;
		event_base_loop(f->base, EVLOOP_NONBLOCK);
		poll(NULL, 0, 1);
	}
	return true;
}

/* ---- a subscriber: the web server's end of the connection ----------------- */

struct peer {
	int fd;          /* our end; hubd has the other */
	int mode;        /* CTL_MODE_CGI or CTL_MODE_FCGI */
	struct buf raw;  /* every byte received */
	struct buf sse;  /* the response (FastCGI: the decoded STDOUT) */
	bool eof;
	bool ended;      /* FastCGI END_REQUEST seen */
};

/* Reads what has arrived (non-blocking); decodes FastCGI framing. */
static void peer_read(struct peer *p)
{
	char chunk[65536];
	for (;;) {
		ssize_t n = recv(p->fd, chunk, sizeof chunk, MSG_DONTWAIT);
		if (n > 0) {
			buf_add(&p->raw, chunk, (size_t)n);
			continue;
		}
		if (n == 0)
			p->eof = true;
		break;
	}
	if (p->mode == CTL_MODE_FCGI) {
		int ended = 0;
		p->sse.len = 0;
		if (fcgi_decode(p->raw.p, p->raw.len, 1, &p->sse, &ended, NULL) >= 0)
			p->ended = ended;
	} else {
		p->sse.len = 0;
		buf_add(&p->sse, p->raw.p ? p->raw.p : "", p->raw.len);
	}
	buf_addc(&p->sse, '\0');
	p->sse.len--;
}

static void peer_free(struct peer *p)
{
	if (p->fd >= 0)
		close(p->fd);
	buf_free(&p->raw);
	buf_free(&p->sse);
}

/* Subscribes a new peer to topic (and last_event_id, NULL for none), the
 * hub's end of the connection with a send buffer of sndbuf bytes (0: the
 * default); returns hub_subscribe's status. */
static int subscribe_sized(struct fixture *f, struct peer *p, int mode, const char *topic,
			   const char *last_event_id, const char *addr, int sndbuf)
{
	memset(p, 0, sizeof *p);
	p->mode = mode;
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		perror("socketpair");
		exit(1);
	}
	p->fd = sv[0];
	if (sndbuf > 0)
		setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
	const char *topics[1] = {topic};
	struct hub_sub_request req = {
		.fd = sv[1],
		.mode = mode,
		.request_id = 1,
		.rules = match_rules_new(topics, 1, NULL, 0),
		.last_event_id = last_event_id,
		.client_addr = addr,
	};
	char err[256];
	return hub_subscribe(f->hub, &req, err, sizeof err);
}

static int subscribe(struct fixture *f, struct peer *p, int mode, const char *topic,
		     const char *last_event_id, const char *addr)
{
	return subscribe_sized(f, p, mode, topic, last_event_id, addr, 0);
}

/* How many times needle occurs in the peer's response so far. */
static int count_of(struct peer *p, const char *needle)
{
	peer_read(p);
	int n = 0;
	for (const char *s = p->sse.p; s && (s = strstr(s, needle)); s += strlen(needle))
		n++;
	return n;
}

/* The ids of the events received, "id1,id2,...". */
static const char *ids_of(struct peer *p)
{
	static char out[4096];
	out[0] = '\0';
	peer_read(p);
	size_t len = 0;
	for (const char *s = p->sse.p; s && (s = strstr(s, "\nid: ")); s += 5) {
		const char *e = strchr(s + 5, '\n');
		if (!e)
			break;
		len += (size_t)snprintf(out + len, sizeof out - len, "%s%.*s", len ? "," : "",
					(int)(e - s - 5), s + 5);
	}
	return out;
}

struct wait_events {
	struct peer *p;
	int n;
};

static bool has_events(void *arg)
{
	struct wait_events *w = arg;
	return count_of(w->p, "\nid: ") >= w->n;
}

static bool peer_closed(void *arg)
{
	struct peer *p = arg;
	peer_read(p);
	return p->eof;
}

/* ---- publishing ------------------------------------------------------------ */

struct published {
	int n;
	int status[64];
};

static void on_published(void *arg, int status, const char *text)
{
	struct published *r = arg;
	if (r->n < 64)
		r->status[r->n] = status;
	r->n++;
}

static void publish(struct fixture *f, struct published *r, const char *id, const char *topic,
		    const char *data)
{
	const char *topics[1] = {topic};
	hub_publish(f->hub, msg_new(id, topics, 1, NULL, -1, false, data, strlen(data)),
		    on_published, r);
}

struct wait_count {
	int *n;
	int want;
};

static bool count_reached(void *arg)
{
	struct wait_count *w = arg;
	return *w->n >= w->want;
}

/* Publishes and waits for the answers: n updates id prefix1..prefixN. */
static void publish_n(struct fixture *f, const char *prefix, int first, int n, const char *topic)
{
	struct published r = {0};
	for (int i = 0; i < n; i++) {
		char id[32];
		snprintf(id, sizeof id, "%s%d", prefix, first + i);
		publish(f, &r, id, topic, "x");
	}
	CHECK(run_until(f, count_reached, &(struct wait_count){&r.n, n}));
	for (int i = 0; i < n && i < 64; i++)
		CHECK(r.status[i] == 200);
}

/* The value of counter name in hubctl stats' JSON, or -1. */
static long long stat_of(struct fixture *f, const char *name)
{
	struct buf b = {0}, key = {0};
	hub_stats_json(f->hub, &b);
	buf_printf(&key, "\"%s\":", name);
	buf_addc(&b, '\0');
	const char *at = strstr(b.p, key.p);
	long long v = at ? strtoll(at + key.len, NULL, 10) : -1;
	buf_free(&b);
	buf_free(&key);
	return v;
}

/* ---- tests ----------------------------------------------------------------- */

/* A live stream gets its topic's updates in order, nothing else, after
 * the response header. */
static void test_live_delivery(void)
{
	struct fixture f;
	fixture_init(&f, NULL);
	struct peer p;
	CHECK(subscribe(&f, &p, CTL_MODE_CGI, "a", NULL, NULL) == 0);
	struct published r = {0};
	publish(&f, &r, "a1", "a", "one");
	publish(&f, &r, "b1", "b", "other");
	publish(&f, &r, "a2", "a", "two\nlines");
	CHECK(run_until(&f, count_reached, &(struct wait_count){&r.n, 3}));
	CHECK(run_until(&f, has_events, &(struct wait_events){&p, 2}));
	CHECK_STR_EQ(ids_of(&p), "a1,a2");
	CHECK(strncmp(p.sse.p, "Status: 200 OK\r\nContent-Type: text/event-stream\r\n", 48) == 0);
	CHECK(strstr(p.sse.p, "data: two\ndata: lines\n\n") != NULL);
	CHECK(strstr(p.sse.p, "other") == NULL);
	CHECK(stat_of(&f, "deliveries") == 2);
	peer_free(&p);
	fixture_free(&f);
}

/* A FastCGI stream is framed as records for its request id, and ends
 * with an empty STDOUT and END_REQUEST at shutdown, after which every
 * stream is gone and done runs. */
static bool flag_set(void *arg)
{
	return *(bool *)arg;
}

static void set_flag(void *arg)
{
	*(bool *)arg = true;
}

static void test_fcgi_framing_and_shutdown(void)
{
	struct fixture f;
	fixture_init(&f, NULL);
	struct peer p, q;
	CHECK(subscribe(&f, &p, CTL_MODE_FCGI, "a", NULL, NULL) == 0);
	CHECK(subscribe(&f, &q, CTL_MODE_CGI, "a", NULL, NULL) == 0);
	publish_n(&f, "u", 1, 2, "a");
	CHECK(run_until(&f, has_events, &(struct wait_events){&p, 2}));
	CHECK_STR_EQ(ids_of(&p), "u1,u2");
	CHECK(!p.ended);
	bool done = false;
	hub_shutdown(f.hub, 5000, set_flag, &done);
	CHECK(run_until(&f, flag_set, &done));
	CHECK(run_until(&f, peer_closed, &p));
	CHECK(run_until(&f, peer_closed, &q));
	peer_read(&p);
	CHECK(p.ended);
	CHECK(stat_of(&f, "subscribers") == 0);
	/* A stream asked for while shutting down is refused with 503. */
	struct peer late;
	CHECK(subscribe(&f, &late, CTL_MODE_CGI, "a", NULL, NULL) == 503);
	peer_free(&late);
	peer_free(&p);
	peer_free(&q);
	fixture_free(&f);
}

/* Last-Event-ID: exactly the updates after it, then live ones, no gap and
 * no duplicate, also for updates published while the replay query is
 * out; the response names the newest stored id. */
static void test_replay_then_live(void)
{
	struct fixture f;
	fixture_init(&f, NULL);
	publish_n(&f, "h", 1, 5, "a");
	publish_n(&f, "o", 1, 2, "b");
	struct peer p;
	CHECK(subscribe(&f, &p, CTL_MODE_CGI, "a", "h2", NULL) == 0);
	/* Published before the replay's page can have come back. */
	struct published r = {0};
	publish(&f, &r, "l1", "a", "live");
	publish(&f, &r, "l2", "a", "live");
	CHECK(run_until(&f, has_events, &(struct wait_events){&p, 5}));
	CHECK(run_until(&f, count_reached, &(struct wait_count){&r.n, 2}));
	publish_n(&f, "l", 3, 1, "a");
	CHECK(run_until(&f, has_events, &(struct wait_events){&p, 6}));
	CHECK_STR_EQ(ids_of(&p), "h3,h4,h5,l1,l2,l3");
	CHECK(strstr(p.sse.p, "Last-Event-ID: o2\r\n") != NULL);
	CHECK(strstr(p.sse.p, "X-Hubd-Replay") == NULL);
	CHECK(stat_of(&f, "replayed") >= 3);
	peer_free(&p);
	fixture_free(&f);
}

/* An unknown Last-Event-ID replays all that is retained and says so. */
static void test_replay_unknown_id(void)
{
	struct fixture f;
	fixture_init(&f, NULL);
	publish_n(&f, "h", 1, 3, "a");
	struct peer p;
	CHECK(subscribe(&f, &p, CTL_MODE_CGI, "a", "nope", NULL) == 0);
	CHECK(run_until(&f, has_events, &(struct wait_events){&p, 3}));
	CHECK_STR_EQ(ids_of(&p), "h1,h2,h3");
	CHECK(strstr(p.sse.p, "X-Hubd-Replay: reset\r\n") != NULL);
	CHECK(strstr(p.sse.p, "event: hubd-replay-reset\ndata: {\"lastEventID\":\"nope\"}") != NULL);
	peer_free(&p);
	fixture_free(&f);
}

/* A reader that stops reading is cut once its queue passes max-queue,
 * counted as a drop; the others go on receiving. */
static void small_queue(struct settings *c)
{
	c->max_queue = 64 * 1024;
}

struct wait_stat {
	struct fixture *f;
	const char *name;
	long long want;
};

static bool stat_reached(void *arg)
{
	struct wait_stat *w = arg;
	return stat_of(w->f, w->name) >= w->want;
}

/* Publishes answered, while the fast reader keeps reading. */
struct wait_reading {
	int *n;
	int want;
	struct peer *reader;
};

static bool answered_reading(void *arg)
{
	struct wait_reading *w = arg;
	peer_read(w->reader);
	return *w->n >= w->want;
}

static void test_slow_consumer_cut(void)
{
	struct fixture f;
	fixture_init(&f, small_queue);
	struct peer slow, fast;
	CHECK(subscribe(&f, &slow, CTL_MODE_CGI, "a", NULL, NULL) == 0);
	CHECK(subscribe(&f, &fast, CTL_MODE_CGI, "a", NULL, NULL) == 0);
	char data[4096];
	memset(data, 'x', sizeof data - 1);
	data[sizeof data - 1] = '\0';
	/* Bursts well under max-queue (a burst lands in one loop turn), until
	 * more than the socket buffers and max-queue hold together. */
	int total = 0;
	for (int round = 0; round < 1000 && stat_of(&f, "drops") < 1; round++) {
		struct published r = {0};
		for (int i = 0; i < 10; i++) {
			char id[32];
			snprintf(id, sizeof id, "d%d", total++);
			publish(&f, &r, id, "a", data);
		}
		CHECK(run_until(&f, answered_reading, &(struct wait_reading){&r.n, 10, &fast}));
	}
	CHECK(run_until(&f, stat_reached, &(struct wait_stat){&f, "drops", 1}));
	CHECK(stat_of(&f, "drops") == 1);
	CHECK(run_until(&f, peer_closed, &slow));
	CHECK(run_until(&f, has_events, &(struct wait_events){&fast, total}));
	CHECK(stat_of(&f, "subscribers") == 1);
	peer_free(&slow);
	peer_free(&fast);
	fixture_free(&f);
}

/* The web server closing the connection closes the stream (the next loop
 * turn reaps it). */
static bool no_subscribers(void *arg)
{
	return stat_of(arg, "subscribers") == 0 && stat_of(arg, "streams_closed") == 1;
}

static void test_peer_close(void)
{
	struct fixture f;
	fixture_init(&f, NULL);
	struct peer p;
	CHECK(subscribe(&f, &p, CTL_MODE_FCGI, "a", NULL, NULL) == 0);
	CHECK(stat_of(&f, "subscribers") == 1);
	close(p.fd);
	p.fd = -1;
	CHECK(run_until(&f, no_subscribers, &f));
	/* Nothing is delivered to it any more. */
	publish_n(&f, "u", 1, 1, "a");
	CHECK(stat_of(&f, "deliveries") == 0);
	peer_free(&p);
	fixture_free(&f);
}

/* At max-subscribers: 503; at max-streams-per-client for one address:
 * 429, while another address still gets in. */
static void tight_caps(struct settings *c)
{
	c->max_subscribers = 3;
	c->max_per_client = 1;
}

static void test_caps(void)
{
	struct fixture f;
	fixture_init(&f, tight_caps);
	struct peer p[5];
	CHECK(subscribe(&f, &p[0], CTL_MODE_CGI, "a", NULL, "10.0.0.1") == 0);
	CHECK(subscribe(&f, &p[1], CTL_MODE_CGI, "a", NULL, "10.0.0.1") == 429);
	CHECK(subscribe(&f, &p[2], CTL_MODE_CGI, "a", NULL, "10.0.0.2") == 0);
	CHECK(subscribe(&f, &p[3], CTL_MODE_CGI, "a", NULL, "10.0.0.3") == 0);
	CHECK(subscribe(&f, &p[4], CTL_MODE_CGI, "a", NULL, "10.0.0.4") == 503);
	CHECK(stat_of(&f, "refused_client") == 1);
	CHECK(stat_of(&f, "refused_capacity") == 1);
	/* A refused stream's descriptor was closed. */
	CHECK(peer_closed(&p[1]) && peer_closed(&p[4]));
	for (int i = 0; i < 5; i++)
		peer_free(&p[i]);
	fixture_free(&f);
}

/* ---- memory store only: faults and races on demand ------------------------ */

/* A publish the store cannot take is answered 503 and delivered to
 * nobody; the next one goes through. */
static void test_store_failure_publish(void)
{
	struct fixture f;
	fixture_init(&f, NULL);
	struct peer p;
	CHECK(subscribe(&f, &p, CTL_MODE_CGI, "a", NULL, NULL) == 0);
	store_memory_fail(f.store, STORE_MEMORY_PUBLISH, 1);
	struct published r = {0};
	publish(&f, &r, "bad", "a", "x");
	publish(&f, &r, "good", "a", "x");
	CHECK(run_until(&f, count_reached, &(struct wait_count){&r.n, 2}));
	CHECK(r.status[0] == 503 && r.status[1] == 200);
	CHECK(run_until(&f, has_events, &(struct wait_events){&p, 1}));
	CHECK_STR_EQ(ids_of(&p), "good");
	CHECK(stat_of(&f, "store_errors") >= 1);
	peer_free(&p);
	fixture_free(&f);
}

/* History that cannot be read closes the replaying stream, before any
 * response, so that its client retries; nothing is left linked. */
static void test_store_failure_replay(void)
{
	struct fixture f;
	fixture_init(&f, NULL);
	publish_n(&f, "h", 1, 2, "a");
	store_memory_fail(f.store, STORE_MEMORY_QUERY, 1);
	struct peer p;
	CHECK(subscribe(&f, &p, CTL_MODE_CGI, "a", "h1", NULL) == 0);
	CHECK(run_until(&f, peer_closed, &p));
	CHECK(p.raw.len == 0);
	CHECK(run_until(&f, no_subscribers, &f));
	publish_n(&f, "h", 3, 1, "a");
	CHECK(stat_of(&f, "deliveries") == 0);
	peer_free(&p);
	fixture_free(&f);
}

/* Updates committed while the replay's query waits are held back and
 * follow the history exactly once, in order, whatever the interleaving:
 * the store is held still so that they are surely in between. */
static void test_replay_race_held(void)
{
	struct fixture f;
	fixture_init(&f, NULL);
	publish_n(&f, "h", 1, 3, "a");
	struct peer p;
	store_memory_pause(f.store, true);
	CHECK(subscribe(&f, &p, CTL_MODE_CGI, "a", "h1", NULL) == 0);
	struct published r = {0};
	publish(&f, &r, "l1", "a", "x");
	publish(&f, &r, "l2", "a", "x");
	for (int i = 0; i < 5; i++)
		event_base_loop(f.base, EVLOOP_NONBLOCK);
	CHECK(r.n == 0 && p.raw.len == 0);
	store_memory_pause(f.store, false);
	CHECK(run_until(&f, has_events, &(struct wait_events){&p, 4}));
	CHECK(run_until(&f, count_reached, &(struct wait_count){&r.n, 2}));
	publish_n(&f, "l", 3, 1, "a");
	CHECK(run_until(&f, has_events, &(struct wait_events){&p, 5}));
	CHECK_STR_EQ(ids_of(&p), "h2,h3,l1,l2,l3");
	peer_free(&p);
	fixture_free(&f);
}

/* A feed reset (a shared store lost its log) ends every stream cleanly,
 * so that clients resume from history; new streams still open. */
static void test_feed_reset_ends_streams(void)
{
	struct fixture f;
	fixture_init(&f, NULL);
	struct peer p, q;
	CHECK(subscribe(&f, &p, CTL_MODE_FCGI, "a", NULL, NULL) == 0);
	CHECK(subscribe(&f, &q, CTL_MODE_CGI, "b", NULL, NULL) == 0);
	publish_n(&f, "u", 1, 1, "a");
	store_memory_reset_feed(f.store, "test");
	CHECK(run_until(&f, peer_closed, &p));
	CHECK(run_until(&f, peer_closed, &q));
	peer_read(&p);
	CHECK(p.ended);
	CHECK_STR_EQ(ids_of(&p), "u1");
	CHECK(stat_of(&f, "feed_resets") == 1);
	struct peer n;
	CHECK(subscribe(&f, &n, CTL_MODE_CGI, "a", NULL, NULL) == 0);
	publish_n(&f, "u", 2, 1, "a");
	CHECK(run_until(&f, has_events, &(struct wait_events){&n, 1}));
	CHECK_STR_EQ(ids_of(&n), "u2");
	peer_free(&n);
	peer_free(&p);
	peer_free(&q);
	fixture_free(&f);
}

/* ---- hand-over (live upgrade) ------------------------------------------------ */

/* Hands every stream of f's hub to a new hub on the same store, as a live
 * upgrade does between two processes: replays frozen and quiet, each
 * stream's record encoded and decoded again (handover.h) with a duplicate
 * of its descriptor, the old store closed before the new one opens, the
 * old hub forgetting its streams once the new one holds them. */
struct exported {
	struct buf records; /* u32 length, record; ... */
	int fds[16];        /* duplicates of the streams' descriptors */
	int n;
	int carried;        /* records with owed bytes */
	int not_started;    /* records of responses not started */
};

static void export_one(void *arg, int fd, const struct handover_stream *st)
{
	struct exported *e = arg;
	struct buf rec = {0};
	handover_stream_encode(st, &rec);
	uint32_t len = (uint32_t)rec.len;
	buf_add(&e->records, &len, sizeof len);
	buf_add(&e->records, rec.p, rec.len);
	buf_free(&rec);
	CHECK(e->n < 16);
	e->fds[e->n++] = dup(fd);
	e->carried += st->carry.len > 0;
	e->not_started += st->phase == HANDOVER_NOT_STARTED;
}

/* Returns how many records carried owed bytes; *not_started gets how
 * many responses had not started. */
static int hand_over(struct fixture *f, int *not_started)
{
	hub_freeze(f->hub, true);
	CHECK(run_until(f, (bool (*)(void *))hub_quiet, f->hub));
	struct exported e = {0};
	hub_export(f->hub, export_one, &e);
	struct hub *old = f->hub;
	f->store->ops->close(f->store);
	fixture_open_store(f);
	f->hub = hub_new(f->base, &f->cfg, f->store);
	size_t off = 0;
	for (int i = 0; i < e.n; i++) {
		uint32_t len;
		memcpy(&len, e.records.p + off, sizeof len);
		off += sizeof len;
		struct handover_stream st;
		char err[256];
		CHECK(handover_stream_decode(e.records.p + off, len, &st, err, sizeof err) == 0);
		off += len;
		CHECK(hub_adopt(f->hub, e.fds[i], &st, NULL, err, sizeof err) == 0);
		handover_stream_clear(&st);
	}
	hub_forget_streams(old);
	hub_free(old);
	buf_free(&e.records);
	CHECK(stat_of(f, "streams_adopted") == e.n);
	*not_started = e.not_started;
	return e.carried;
}

static bool peer_has_all(void *arg)
{
	struct wait_events *w = arg;
	return count_of(w->p, "\nid: ") >= w->n;
}

/* Streams taken over go on as if nothing happened: live ones in either
 * framing, one whose reader stopped (its queue stopped inside a record,
 * with updates waiting), one with nothing for it yet, one not started
 * (its replay frozen before its first page): each gets every update
 * exactly once, in order, in one response, well framed, with no reconnect;
 * a stream ending is ended. */
static void test_handover_streams(void)
{
	struct fixture f;
	fixture_init(&f, NULL);
	struct peer live, cgi, stalled, idle, late;
	CHECK(subscribe(&f, &live, CTL_MODE_FCGI, "t", NULL, NULL) == 0);
	CHECK(subscribe(&f, &cgi, CTL_MODE_CGI, "t", NULL, NULL) == 0);
	CHECK(subscribe_sized(&f, &stalled, CTL_MODE_FCGI, "t", NULL, NULL, 4096) == 0);
	CHECK(subscribe(&f, &idle, CTL_MODE_FCGI, "none", NULL, NULL) == 0);
	/* The stalled reader's connection takes little (and it reads
	 * nothing until the end): its queue stops inside a record. */
	struct published r = {0};
	char *big = malloc(30000);
	memset(big, 'x', 29999);
	big[29999] = '\0';
	for (int i = 1; i <= 10; i++) {
		char id[16];
		snprintf(id, sizeof id, "a%d", i);
		publish(&f, &r, id, "t", i % 3 ? "small" : big);
	}
	CHECK(run_until(&f, count_reached, &(struct wait_count){&r.n, 10}));
	CHECK(run_until(&f, peer_has_all, &(struct wait_events){&live, 10}));
	CHECK(run_until(&f, peer_has_all, &(struct wait_events){&cgi, 10}));
	/* Frozen first: the late stream's replay asks for nothing. */
	hub_freeze(f.hub, true);
	CHECK(subscribe(&f, &late, CTL_MODE_FCGI, "t", "a3", NULL) == 0);
	int not_started;
	/* The stalled stream owes bytes (it stopped inside a record), and the
	 * late one has not started: both paths are taken. */
	CHECK(hand_over(&f, &not_started) >= 1 && not_started == 1);
	r.n = 0;
	for (int i = 11; i <= 20; i++) {
		char id[16];
		snprintf(id, sizeof id, "a%d", i);
		publish(&f, &r, id, "t", i % 3 ? "small" : big);
	}
	CHECK(run_until(&f, count_reached, &(struct wait_count){&r.n, 10}));
	for (int i = 0; i < 10; i++)
		CHECK(r.status[i] == 200);
	struct peer *all[] = {&live, &cgi, &stalled};
	for (int i = 0; i < 3; i++) {
		CHECK(run_until(&f, peer_has_all, &(struct wait_events){all[i], 20}));
		CHECK_STR_EQ(ids_of(all[i]), "a1,a2,a3,a4,a5,a6,a7,a8,a9,a10,a11,a12,a13,a14,a15,"
					     "a16,a17,a18,a19,a20");
		CHECK(count_of(all[i], "Status: 200") == 1 && !all[i]->eof && !all[i]->ended);
	}
	CHECK(run_until(&f, peer_has_all, &(struct wait_events){&late, 17}));
	CHECK_STR_EQ(ids_of(&late), "a4,a5,a6,a7,a8,a9,a10,a11,a12,a13,a14,a15,a16,a17,a18,a19,a20");
	CHECK(count_of(&late, "Status: 200") == 1);
	CHECK(count_of(&idle, "\nid: ") == 0 && count_of(&idle, "Status: 200") == 1 && !idle.eof);
	/* The new hub serves them to the end: a clean shutdown ends each. */
	bool done = false;
	hub_shutdown(f.hub, 5000, set_flag, &done);
	CHECK(run_until(&f, flag_set, &done));
	struct peer *every[] = {&live, &stalled, &idle, &late};
	for (int i = 0; i < 4; i++) {
		CHECK(run_until(&f, peer_closed, every[i]));
		CHECK(every[i]->ended);
	}
	free(big);
	peer_free(&live);
	peer_free(&cgi);
	peer_free(&stalled);
	peer_free(&idle);
	peer_free(&late);
	fixture_free(&f);
}

/* ---- hand-over between two processes ---------------------------------------- */

#define ACROSS_STREAMS 300 /* more than one batch of CTL_FDS_MAX */

static bool readable(void *arg)
{
	struct pollfd p = {.fd = *(int *)arg, .events = POLLIN};
	return poll(&p, 1, 0) == 1;
}

/* The new process: reads the database's path, receives the streams over
 * chan, opens the store the former one closed, adopts them, publishes
 * a3, a4, b3, b4, c3 and c4, says so ('p') and serves until told to stop
 * ('s'); then shuts down cleanly. Never returns. */
static void take_over_child(int chan)
{
	struct handover_inbox in = {0};
	char err[256], db[300] = "";
	if (read(chan, db, sizeof db - 1) <= 0)
		_exit(2);
	if (handover_receive_streams(chan, &in, err, sizeof err) < 0 || in.n != ACROSS_STREAMS) {
		fprintf(stderr, "child: receiving: %s (%d streams)\n", err, in.n);
		_exit(2);
	}
	struct fixture g;
	memset(&g, 0, sizeof g);
	snprintf(g.db, sizeof g.db, "%s", db);
	g.base = event_base_new();
	settings_defaults(&g.cfg);
	g.cfg.retry_lo_ms = g.cfg.retry_hi_ms = 0;
	fixture_open_store(&g);
	g.hub = hub_new(g.base, &g.cfg, g.store);
	for (int i = 0; i < in.n; i++) {
		int fd = in.fds[i];
		in.fds[i] = -1;
		if (hub_adopt(g.hub, fd, &in.streams[i], NULL, err, sizeof err) < 0) {
			fprintf(stderr, "child: adopting: %s\n", err);
			_exit(3);
		}
	}
	handover_inbox_clear(&in);
	publish_n(&g, "a", 3, 2, "t0");
	publish_n(&g, "b", 3, 2, "t1");
	publish_n(&g, "c", 3, 2, "t2");
	CHECK(write(chan, "p", 1) == 1);
	CHECK(run_until(&g, readable, &chan));
	bool done = false;
	hub_shutdown(g.hub, 5000, set_flag, &done);
	CHECK(run_until(&g, flag_set, &done));
	g.store->ops->close(g.store);
	hub_free(g.hub);
	event_base_free(g.base);
	settings_free(&g.cfg);
	_exit(test_failures_ ? 1 : 0);
}

struct peers_wait {
	struct peer *p;
	int n, events;
};

static bool all_have(void *arg)
{
	struct peers_wait *w = arg;
	for (int i = 0; i < w->n; i++)
		if (count_of(&w->p[i], "\nid: ") < w->events)
			return false;
	return true;
}

static bool all_closed(void *arg)
{
	struct peers_wait *w = arg;
	for (int i = 0; i < w->n; i++)
		if (!peer_closed(&w->p[i]))
			return false;
	return true;
}

/* The real thing, short of the control socket: a second process, forked
 * before any stream exists, gets 300 streams (two batches of
 * descriptors) over a SEQPACKET connection, opens the SQLite store this
 * one closed, and serves them on. The streams differ (three topics, two
 * framings), so a descriptor paired with another's record shows; every
 * stream gets its topic's four updates exactly once, in order, in the one
 * response it had, and the new process ends them cleanly. */
static void test_handover_across_processes(void)
{
	/* Forked first: SQLite's state must not cross a fork (hubd execs). */
	int chan[2];
	CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, chan) == 0);
	fflush(stdout);
	pid_t child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		close(chan[0]);
		take_over_child(chan[1]);
	}
	close(chan[1]);
	struct fixture f;
	fixture_init(&f, NULL);
	CHECK(write(chan[0], f.db, strlen(f.db)) == (ssize_t)strlen(f.db));
	struct peer *peers = calloc(ACROSS_STREAMS, sizeof *peers);
	for (int i = 0; i < ACROSS_STREAMS; i++)
		CHECK(subscribe(&f, &peers[i], i % 2 ? CTL_MODE_CGI : CTL_MODE_FCGI,
				(const char *[]){"t0", "t1", "t2"}[i % 3], NULL, NULL) == 0);
	publish_n(&f, "a", 1, 2, "t0");
	publish_n(&f, "b", 1, 2, "t1");
	publish_n(&f, "c", 1, 2, "t2");
	struct peers_wait w = {peers, ACROSS_STREAMS, 2};
	CHECK(run_until(&f, all_have, &w));
	hub_freeze(f.hub, true);
	CHECK(run_until(&f, (bool (*)(void *))hub_quiet, f.hub));
	f.store->ops->close(f.store);
	f.store = NULL;
	char err[256] = "";
	int sent = handover_send_streams(chan[0], f.hub, err, sizeof err);
	CHECK(sent == ACROSS_STREAMS);
	if (sent != ACROSS_STREAMS)
		fprintf(stderr, "sending: %s\n", err);
	hub_forget_streams(f.hub);
	/* The child published the rest and serves it. */
	CHECK(run_until(&f, readable, &chan[0]));
	char c = 0;
	CHECK(read(chan[0], &c, 1) == 1 && c == 'p');
	w.events = 4;
	CHECK(run_until(&f, all_have, &w));
	int right = 0;
	for (int i = 0; i < ACROSS_STREAMS; i++) {
		static const char *const want[] = {"a1,a2,a3,a4", "b1,b2,b3,b4", "c1,c2,c3,c4"};
		right += strcmp(ids_of(&peers[i]), want[i % 3]) == 0 &&
			 count_of(&peers[i], "Status: 200") == 1 && !peers[i].eof;
	}
	CHECK(right == ACROSS_STREAMS);
	CHECK(write(chan[0], "s", 1) == 1);
	CHECK(run_until(&f, all_closed, &w));
	int ended = 0;
	for (int i = 0; i < ACROSS_STREAMS; i += 2)
		ended += peers[i].ended;
	CHECK(ended == ACROSS_STREAMS / 2);
	int status = -1;
	CHECK(waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	for (int i = 0; i < ACROSS_STREAMS; i++)
		peer_free(&peers[i]);
	free(peers);
	close(chan[0]);
	fixture_free(&f);
}

/* A case over the memory store; and over the memory store, then over
 * SQLite, then over Redis (a redis-server of this program's own: main). */
#define MEMORY_VARIANT(fn)            \
	static void fn##_memory(void) \
	{                             \
		on_store = ON_MEMORY; \
		fn();                 \
	}
/* Over SQLite and Redis only (cases that reopen the store). */
#define REOPENED_STORE_VARIANTS(fn)   \
	static void fn##_sqlite(void) \
	{                             \
		on_store = ON_SQLITE; \
		fn();                 \
	}                             \
	static void fn##_redis(void)  \
	{                             \
		on_store = ON_REDIS;  \
		fn();                 \
	}
#define STORE_VARIANTS(fn) MEMORY_VARIANT(fn) REOPENED_STORE_VARIANTS(fn)
#define EVERY_STORE(fn) {#fn " (memory)", fn##_memory}, {#fn " (sqlite)", fn##_sqlite}, \
		 {#fn " (redis)", fn##_redis}
/* A case of the memory store alone (its hooks). */
#define MEMORY_ONLY(fn) {#fn " (memory)", fn##_memory}

STORE_VARIANTS(test_live_delivery)
STORE_VARIANTS(test_fcgi_framing_and_shutdown)
STORE_VARIANTS(test_replay_then_live)
STORE_VARIANTS(test_replay_unknown_id)
STORE_VARIANTS(test_slow_consumer_cut)
STORE_VARIANTS(test_peer_close)
STORE_VARIANTS(test_caps)
MEMORY_VARIANT(test_store_failure_publish)
MEMORY_VARIANT(test_store_failure_replay)
MEMORY_VARIANT(test_replay_race_held)
MEMORY_VARIANT(test_feed_reset_ends_streams)
REOPENED_STORE_VARIANTS(test_handover_streams)
static void test_handover_across_processes_sqlite(void)
{
	on_store = ON_SQLITE;
	test_handover_across_processes();
}

/* The cases over Redis need a redis-server: this program starts its own
 * (redis_server.h); without one installed they are skipped, loudly. */
int main(void)
{
	static const struct test_case_ cases[] = {EVERY_STORE(test_live_delivery),
	  EVERY_STORE(test_fcgi_framing_and_shutdown),
	  EVERY_STORE(test_replay_then_live),
	  EVERY_STORE(test_replay_unknown_id),
	  EVERY_STORE(test_slow_consumer_cut),
	  EVERY_STORE(test_peer_close),
	  EVERY_STORE(test_caps),
	  MEMORY_ONLY(test_store_failure_publish),
	  MEMORY_ONLY(test_store_failure_replay),
	  MEMORY_ONLY(test_replay_race_held),
	  MEMORY_ONLY(test_feed_reset_ends_streams),
	  {"test_handover_streams (sqlite)", test_handover_streams_sqlite},
	  {"test_handover_streams (redis)", test_handover_streams_redis},
	  {"test_handover_across_processes (sqlite)", test_handover_across_processes_sqlite}};
	static struct test_case_ runnable[sizeof cases / sizeof cases[0]];
	size_t n = 0, skipped = 0;
	bool redis = redis_server_installed();
	if (redis)
		redis_server_begin();
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		if (!redis && strstr(cases[i].name, "(redis)"))
			skipped++;
		else
			runnable[n++] = cases[i];
	}
	if (skipped)
		printf("# SKIPPED %zu cases over Redis: " REDIS_SERVER " is not installed\n", skipped);
	return test_run_cases(runnable, n);
}
