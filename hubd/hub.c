/* hub.c -- streams, publish pipeline, fan-out, replay and shutdown. */
#include "config.h"

#include "hub.h"

#include <errno.h>
#include <event2/event.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "clients.h"
#include "log.h"
#include "match.h"
#include "msg.h"
#include "selector.h"
#include "settings.h"
#include "sub.h"
#include "subscriptions.h"
#include "surge.h"
#include "topic.h"

/* A replay page: at most this many updates, and at most a quarter of
 * max-queue in bytes (replay_page_bytes). */
#define REPLAY_PAGE 1000
/* Subscribers with URI-template selectors are linked under this topic
 * name, which no update can have (topics are never empty); every update
 * visits them and tests their templates. */
#define TEMPLATE_SUBSCRIBERS ""

/* The liveness walk (tick_cb) runs this often. */
#define TICK_MS 250
/* No stream written this recently is probed, but in a sweep. */
#define PROBE_MIN_IDLE_MS (TICK_MS + TICK_MS / 2)
/* A sweep probes every stream, however recently written: one written
 * just before its client left would be passed over and keep its place
 * until the next sweep or its heartbeat. */
#define SWEEP 0
/* A client at its cap gets its streams probed at most this often. */
#define CLIENT_PROBE_GAP_MS 1000

_Static_assert(MSG_MAX_TOPICS <= UINT8_MAX, "a stream counts its topic links in a uint8_t");

struct hub {
	struct event_base *base;
	const struct settings *cfg;
	struct store *store;
	struct topic_registry *topics;
	struct sub *subs, *subs_tail; /* every open stream, longest idle first */
	int nsubs;
	struct client_table *clients; /* streams per address (the per-client cap) */
	struct sub *dirty; /* streams with output to flush this loop turn */
	int watch_fd;      /* epoll set of the streams' descriptors */
	struct event *watch_ev;
	struct event *flush_ev;
	struct event *tick_ev;
	struct event *sweep_ev; /* a sweep at once, outside any stream's call */
	struct surge surge;
	int64_t probe_credit;   /* probes the budget allows now, in thousandths */
	struct sub **again;     /* probed last tick, to be probed once more (held) */
	size_t nagain, again_cap;
	store_pos last_seq; /* the last update the feed delivered */
	char *last_id;    /* its id, or NULL while the store is empty */
	int64_t started_ms;
	/* shutdown */
	bool shutting_down;
	void (*done)(void *);
	void *done_arg;
	struct event *done_ev;
	struct event *deadline_ev;
	/* counters */
	uint64_t published, duplicates, conflicts, store_errors, deliveries, replayed;
	uint64_t drops, streams_opened, streams_closed;
	uint64_t probes, stalled, refused_capacity, refused_client;
};

static void flush_cb(evutil_socket_t fd, short what, void *arg);
static void watch_cb(evutil_socket_t fd, short what, void *arg);
static void tick_cb(evutil_socket_t fd, short what, void *arg);
static void sweep_cb(evutil_socket_t fd, short what, void *arg);
static void done_cb(evutil_socket_t fd, short what, void *arg);
static void deadline_cb(evutil_socket_t fd, short what, void *arg);
static void feed_cb(void *arg, struct msg *m);

struct hub *hub_new(struct event_base *base, const struct settings *cfg,
		    struct store *store)
{
	struct hub *h = xcalloc(1, sizeof *h);
	h->base = base;
	h->cfg = cfg;
	h->store = store;
	h->topics = topic_registry_new();
	h->clients = clients_new();
	surge_init(&h->surge);
	h->last_seq = store->last_seq;
	h->last_id = store->last_id ? xstrdup(store->last_id) : NULL;
	store->ops->subscribe(store, &(struct store_feed){.update = feed_cb, .arg = h});
	h->started_ms = mono_ms();
	h->flush_ev = event_new(base, -1, 0, flush_cb, h);
	h->tick_ev = event_new(base, -1, EV_PERSIST, tick_cb, h);
	h->sweep_ev = event_new(base, -1, 0, sweep_cb, h);
	h->done_ev = event_new(base, -1, 0, done_cb, h);
	h->deadline_ev = event_new(base, -1, 0, deadline_cb, h);
	h->watch_fd = epoll_create1(EPOLL_CLOEXEC);
	if (h->watch_fd < 0)
		fatal("epoll_create1: %s", strerror(errno));
	h->watch_ev = event_new(base, h->watch_fd, EV_READ | EV_PERSIST, watch_cb, h);
	if (!h->flush_ev || !h->tick_ev || !h->sweep_ev || !h->done_ev || !h->deadline_ev || !h->watch_ev ||
	    event_add(h->watch_ev, NULL) < 0)
		fatal("cannot create the hub's events");
	struct timeval tv = {.tv_sec = 0, .tv_usec = TICK_MS * 1000};
	event_add(h->tick_ev, &tv);
	return h;
}

void hub_free(struct hub *h)
{
	if (!h)
		return;
	while (h->subs)
		sub_abort(h->subs, "hub freed");
	for (size_t i = 0; i < h->nagain; i++)
		sub_unref(h->again[i]);
	free(h->again);
	event_free(h->flush_ev);
	event_free(h->tick_ev);
	event_free(h->sweep_ev);
	event_free(h->done_ev);
	event_free(h->deadline_ev);
	event_free(h->watch_ev);
	close(h->watch_fd);
	topic_registry_free(h->topics);
	clients_free(h->clients);
	free(h->last_id);
	free(h);
}

struct event_base *hub_base(struct hub *h)
{
	return h->base;
}

int hub_watch_fd(const struct hub *h)
{
	return h->watch_fd;
}

struct store *hub_store(struct hub *h)
{
	return h->store;
}

bool hub_shutting_down(const struct hub *h)
{
	return h->shutting_down;
}

void hub_count_drop(struct hub *h)
{
	h->drops++;
}

size_t hub_max_queue(const struct hub *h)
{
	return h->cfg->max_queue;
}

const struct settings *hub_settings(const struct hub *h)
{
	return h->cfg;
}

void hub_mark_dirty(struct hub *h, struct sub *s)
{
	if (s->dirty || s->state == SUB_CLOSED)
		return;
	/* The first stream of a turn schedules the flush; a fan-out to many
	 * streams does not take the event base's lock once per stream. */
	if (!h->dirty)
		event_active(h->flush_ev, 0, 0);
	s->dirty = true;
	s->dirty_next = h->dirty;
	h->dirty = sub_ref(s);
}

/* Writes every stream that got output since the last turn: one writev per
 * stream per turn, however many updates a burst brought it. */
static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hub *h = arg;
	struct sub *s = h->dirty;
	h->dirty = NULL;
	while (s) {
		struct sub *next = s->dirty_next;
		s->dirty = false;
		s->dirty_next = NULL;
		sub_flush(s);
		sub_unref(s);
		s = next;
	}
}

/* The streams' epoll set is readable: hands what it reports to each
 * stream. A stream's turn may close others of the same batch, so every
 * one of them is held first. Level-triggered: what one turn leaves (more
 * than WATCH_ROUNDS batches) is reported again at the next. */
#define WATCH_BATCH 256
#define WATCH_ROUNDS 16
static void watch_cb(evutil_socket_t fd, short what, void *arg)
{
	struct epoll_event evs[WATCH_BATCH];
	for (int round = 0; round < WATCH_ROUNDS; round++) {
		int n = epoll_wait(fd, evs, WATCH_BATCH, 0);
		if (n < 0 && errno != EINTR)
			log_warn("epoll_wait: %s", strerror(errno));
		for (int i = 0; i < n; i++)
			sub_ref(evs[i].data.ptr);
		for (int i = 0; i < n; i++)
			sub_events(evs[i].data.ptr, evs[i].events);
		for (int i = 0; i < n; i++)
			sub_unref(evs[i].data.ptr);
		if (n < WATCH_BATCH)
			return;
	}
}

/* ---- replay ------------------------------------------------------------ */

/* A replaying stream stays within max-queue (M) by construction, so a
 * reader that catches up at full speed is never cut and one that stops
 * reading pins at most M (plus one update larger than a page) until the
 * stall timeout cuts it (walk):
 * - a page is at most M/4 bytes as outq_mem counts them (and REPLAY_PAGE
 *   updates; at least one, so a single huge update still moves);
 * - the next page is asked for only once the queue pins less than M/4;
 * - live updates held back meanwhile pin at most M/2; when one more would
 *   not fit, they are dropped and the replay reads them from the store
 *   (replay_extend), where every one of them is already. */
static size_t replay_page_bytes(const struct hub *h)
{
	return h->cfg->max_queue / 4;
}

static size_t replay_hold_limit(const struct hub *h)
{
	return h->cfg->max_queue / 2;
}

/* True when the stream's queue is below the low-water mark. */
static bool replay_wants_page(const struct hub *h, const struct sub *s)
{
	return outq_mem(&s->out) < h->cfg->max_queue / 4;
}

static void replay_page_cb(void *arg, enum store_status status, struct msg **msgs,
			   int n, bool after_found, bool has_more);

static void replay_query(struct hub *h, struct sub *s)
{
	const struct match_rules *r = s->rules;
	struct sub_replay *rp = sub_replay(s);
	const char *names[MSG_MAX_TOPICS];
	bool priv = r->nallowed > 0;
	/* Exact selectors use the store's topic index; templates need every
	 * update of the range, tested by the filter. */
	struct store_query q = {
		.topics = names,
		.ntopics = match_rules_store_topics(r, names),
		.after_id = rp->after_id,
		.after_seq = rp->cursor,
		.upto_seq = rp->upto,
		.limit = REPLAY_PAGE,
		.max_bytes = replay_page_bytes(h),
		.encode = true,
		.include_private = priv,
		.filter = (priv || r->has_templates) ? match_rules_accept : NULL,
		.filter_arg = r,
	};
	rp->inflight = true;
	rp->more = false;
	rp->again = false;
	rp->page_upto = rp->upto;
	h->store->ops->query(h->store, &q, replay_page_cb, sub_ref(s));
}

/* Replay is over: what arrived live meanwhile follows, then live updates. */
static void replay_finish(struct hub *h, struct sub *s)
{
	s->state = SUB_LIVE;
	struct sub_replay *rp = s->replay;
	for (int i = 0; rp && i < rp->npending; i++) {
		if (s->state == SUB_LIVE && sub_queue_msg(s, rp->pending[i], h->cfg->max_queue))
			h->deliveries++;
	}
	sub_replay_free(s);
}

static void replay_page_cb(void *arg, enum store_status status, struct msg **msgs,
			   int n, bool after_found, bool has_more)
{
	struct sub *s = arg;
	struct hub *h = s->hub;
	if (s->replay)
		s->replay->inflight = false;
	if (s->state != SUB_REPLAYING || status != STORE_OK) {
		for (int i = 0; i < n; i++)
			msg_unref(msgs[i]);
		if (s->state == SUB_REPLAYING)
			sub_abort(s, "history unavailable");
		sub_unref(s);
		return;
	}
	struct sub_replay *rp = sub_replay(s);
	if (!s->headers_sent)
		sub_send_headers(s, rp->header_last_id, rp->after_id && !after_found, rp->after_id);
	free(rp->after_id);
	rp->after_id = NULL;
	/* The page covered everything up to its last update, or up to its
	 * upto when no more followed (also when it was empty). */
	rp->cursor = has_more && n > 0 ? msgs[n - 1]->seq : rp->page_upto;
	for (int i = 0; i < n; i++) {
		if (s->state == SUB_REPLAYING && sub_queue_msg(s, msgs[i], SIZE_MAX))
			h->replayed++;
		msg_unref(msgs[i]);
	}
	if (s->state == SUB_REPLAYING) {
		/* The stream stays in replay (paced by pages, not cut by the
		 * limit, live updates held back) until the replay is written
		 * out: a reader catching up is not a slow reader. The replay
		 * was extended while this page was out: more follows. */
		bool more = has_more || rp->again;
		if (!more && sub_queued(s) == 0)
			replay_finish(h, s);
		else if (!more)
			rp->draining = true; /* finishes in hub_sub_drained */
		else if (replay_wants_page(h, s))
			replay_query(h, s);
		else
			rp->more = true; /* resumes in hub_sub_drained */
	}
	sub_unref(s);
}

/* The hold-back is full: drops it, and replays up to seq (the update that
 * did not fit) from the store instead. */
static void replay_extend(struct hub *h, struct sub *s, int64_t seq)
{
	struct sub_replay *rp = sub_replay(s);
	sub_release_held(s);
	rp->upto = seq;
	if (rp->inflight) {
		rp->again = true; /* replay_page_cb asks for the rest */
		return;
	}
	rp->draining = false;
	rp->more = true;
	if (replay_wants_page(h, s))
		replay_query(h, s);
}

void hub_sub_drained(struct hub *h, struct sub *s)
{
	struct sub_replay *rp = s->replay;
	if (s->state != SUB_REPLAYING || !rp || rp->inflight)
		return;
	if (rp->draining && sub_queued(s) == 0)
		replay_finish(h, s);
	else if (rp->more && replay_wants_page(h, s))
		replay_query(h, s);
}

/* ---- streams ----------------------------------------------------------- */

static void announce(struct hub *h, struct sub *s, bool active);
static void probe(struct hub *h, struct sub *s);
static void sweep_if_surging(struct hub *h);

/* The stream list is kept in the order of the streams' last writes, so the
 * liveness walk finds every stream due for a probe at the head and stops
 * at the first that is not: its cost follows the probes, not the streams. */
static void list_append(struct hub *h, struct sub *s)
{
	s->next = NULL;
	s->prev = h->subs_tail;
	if (h->subs_tail)
		h->subs_tail->next = s;
	else
		h->subs = s;
	h->subs_tail = s;
}

static void list_remove(struct hub *h, struct sub *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		h->subs = s->next;
	if (s->next)
		s->next->prev = s->prev;
	else
		h->subs_tail = s->prev;
	s->prev = s->next = NULL;
}

void hub_sub_wrote(struct hub *h, struct sub *s)
{
	s->last_write_ms = mono_ms();
	if (s->state == SUB_CLOSED || h->subs_tail == s)
		return;
	list_remove(h, s);
	list_append(h, s);
}

/* Probes the streams of client c (at its cap: a browser that keeps
 * reconnecting leaves dead streams behind it), at most once a second. */
static void probe_client(struct hub *h, struct client *c, int64_t now)
{
	if (now - c->probed_ms < CLIENT_PROBE_GAP_MS)
		return;
	c->probed_ms = now;
	for (struct sub *s = c->streams; s; s = s->extra->client_next)
		probe(h, s);
}

/* Takes a place for a new stream from addr under the per-client cap.
 * Returns the client (NULL when no cap applies), or sets *refused. */
static struct client *client_take(struct hub *h, const char *addr, bool *refused)
{
	char key[40];
	*refused = false;
	if (h->cfg->max_per_client == 0 || !clients_key(addr, key))
		return NULL;
	struct client *c = clients_get(h->clients, key);
	if (c->nstreams >= (uint32_t)h->cfg->max_per_client) {
		probe_client(h, c, mono_ms());
		*refused = true;
		return NULL;
	}
	return c;
}

/* Links s into client c's streams (c from client_take, or NULL). */
static void client_link(struct sub *s, struct client *c)
{
	if (!c)
		return;
	struct sub_extra *x = sub_extra(s);
	x->client = c;
	x->client_next = c->streams;
	if (c->streams)
		c->streams->extra->client_prev = s;
	c->streams = s;
	c->nstreams++;
}

static void client_unlink(struct hub *h, struct sub *s)
{
	struct sub_extra *x = s->extra;
	if (!x || !x->client)
		return;
	struct client *c = x->client;
	if (x->client_prev)
		x->client_prev->extra->client_next = x->client_next;
	else
		c->streams = x->client_next;
	if (x->client_next)
		x->client_next->extra->client_prev = x->client_prev;
	x->client = NULL;
	x->client_prev = x->client_next = NULL;
	c->nstreams--;
	clients_put(h->clients, c);
}

int hub_subscribe(struct hub *h, const struct hub_sub_request *req, char *err, size_t errlen)
{
	struct match_rules *rules = req->rules;
	const char *last_event_id = req->last_event_id;
	surge_note_arrival(&h->surge, mono_ms());
	sweep_if_surging(h);
	bool over_client_cap = false;
	struct client *client = NULL;
	if (!h->shutting_down && h->nsubs >= h->cfg->max_subscribers) {
		/* Dead streams may be what fills the hub: sweep for them. */
		surge_request(&h->surge);
		h->refused_capacity++;
	} else if (!h->shutting_down) {
		client = client_take(h, req->client_addr, &over_client_cap);
		h->refused_client += over_client_cap;
	}
	if (h->shutting_down || h->nsubs >= h->cfg->max_subscribers || over_client_cap) {
		close(req->fd);
		match_rules_free(rules);
		snprintf(err, errlen, "%s",
			 h->shutting_down ? "hub is shutting down"
			 : over_client_cap ? "too many streams from this address"
					   : "too many subscribers");
		return over_client_cap ? 429 : 503;
	}
	struct sub *s = sub_new(h, req->fd, req->mode, req->request_id);
	if (!s) {
		match_rules_free(rules);
		if (client)
			clients_put(h->clients, client);
		snprintf(err, errlen, "cannot watch the connection");
		return 503;
	}
	s->rules = rules;
	client_link(s, client);
	s->no_x_accel = req->no_x_accel;
	s->probe_twice = req->probe_twice;
	if (req->extra_headers && *req->extra_headers)
		sub_extra(s)->headers = xstrdup(req->extra_headers);
	list_append(h, s);
	h->nsubs++;
	h->streams_opened++;
	if (req->exp_s > 0 && sub_expire_at(s, req->exp_s) < 0) {
		sub_abort(s, "cannot set the expiry timer");
		snprintf(err, errlen, "cannot watch the token's expiry");
		return 503;
	}
	if (h->cfg->subscriptions) {
		struct sub_extra *x = sub_extra(s);
		x->id = msg_make_id();
		x->payload = req->payload ? xstrdup(req->payload) : NULL;
		announce(h, s, true);
	}

	/* Exact topics and "*" in the index, templates on their own list. A
	 * stream of one topic uses the link inside it. */
	struct topic_link *links = &s->link;
	if (rules->ntopics > 1)
		links = sub_extra(s)->links = xcalloc((size_t)rules->ntopics, sizeof *links);
	for (int i = 0; i < rules->ntopics; i++) {
		const char *name = selector_kind(rules->sels[i]) == SELECTOR_TEMPLATE
					   ? TEMPLATE_SUBSCRIBERS
					   : selector_text(rules->sels[i]);
		bool dup = false;
		for (int j = 0; j < s->nlinks && !dup; j++)
			dup = strcmp(links[j].topic->name, name) == 0;
		if (!dup)
			topic_subscribe(h->topics, name, s, &links[s->nlinks++]);
	}

	if (!last_event_id) {
		s->state = SUB_LIVE;
		s->last_seq = h->last_seq;
		sub_send_headers(s, NULL, false, NULL);
		return 0;
	}
	/* Replay everything after last_event_id up to what is committed now;
	 * updates committed from here on are held back until it is done. */
	s->state = SUB_REPLAYING;
	struct sub_replay *rp = sub_replay(s);
	rp->upto = h->last_seq;
	rp->header_last_id = xstrdup(h->last_id ? h->last_id : "earliest");
	bool earliest = strcmp(last_event_id, "earliest") == 0;
	if (h->last_seq == 0) {
		/* Nothing stored: an id other than "earliest" is unknown. */
		sub_send_headers(s, rp->header_last_id, !earliest, last_event_id);
		replay_finish(h, s);
		return 0;
	}
	if (!earliest)
		rp->after_id = xstrdup(last_event_id);
	replay_query(h, s);
	return 0;
}

void hub_sub_closed(struct hub *h, struct sub *s)
{
	list_remove(h, s);
	client_unlink(h, s);
	h->nsubs--;
	h->streams_closed++;
	if (!h->shutting_down) {
		surge_note_departure(&h->surge, mono_ms());
		sweep_if_surging(h);
	}
	if (s->extra && s->extra->id && !h->shutting_down)
		announce(h, s, false);
	struct topic_link *links = sub_links(s);
	for (int i = 0; i < s->nlinks; i++)
		topic_unsubscribe(h->topics, &links[i]);
	s->nlinks = 0;
	if (s->replay) {
		for (int i = 0; i < s->replay->npending; i++)
			msg_unref(s->replay->pending[i]);
		s->replay->npending = 0;
	}
	if (h->shutting_down && h->nsubs == 0)
		event_active(h->done_ev, 0, 0);
	sub_unref(s); /* the hub's reference */
}

/* ---- publish ----------------------------------------------------------- */

static void deliver(struct hub *h, struct sub *s, struct msg *m)
{
	if (s->state == SUB_LIVE) {
		if (sub_queue_msg(s, m, h->cfg->max_queue))
			h->deliveries++;
	} else if (s->state == SUB_REPLAYING) {
		if (!sub_hold(s, m, replay_hold_limit(h)))
			replay_extend(h, s, m->seq);
	}
}

/* Delivers m to the streams linked under name that may see it (and, for
 * the template list, whose selectors match it). */
static void fan_out_topic(struct hub *h, const char *name, struct msg *m, bool test_topic)
{
	struct topic *t = topic_find(h->topics, name);
	if (!t)
		return;
	/* A stream is linked to a topic once, so aborting the current one
	 * never frees the saved next link. */
	for (struct topic_link *l = t->links, *next; l; l = next) {
		next = l->next;
		struct sub *s = l->sub;
		if (m->seq <= s->last_seq || !match_rules_may_see(s->rules, m))
			continue;
		if (test_topic && !match_rules_topic(s->rules, m))
			continue;
		deliver(h, s, m);
	}
}

/* Queues m for every stream it matches; streams are written when the loop
 * turn ends (flush_cb). Exact topics cost one lookup each, whatever the
 * number of subscribers; template subscribers are tested one by one. */
static void fan_out(struct hub *h, struct msg *m)
{
	for (int i = 0; i < m->ntopics; i++)
		fan_out_topic(h, m->topics[i], m, false);
	fan_out_topic(h, "*", m, false);
	fan_out_topic(h, TEMPLATE_SUBSCRIBERS, m, true);
}

struct publish_ctx {
	struct hub *hub;
	hub_publish_cb cb;
	void *arg;
};

/* Every committed update, in the store's order: this node's own and, on a
 * shared store, every other node's. */
static void feed_cb(void *arg, struct msg *m)
{
	struct hub *h = arg;
	h->last_seq = m->seq;
	free(h->last_id);
	h->last_id = xstrdup(m->id);
	fan_out(h, m);
}

/* A publish of this node was answered by the store (its update, when
 * stored, went to the feed already or will: it is fanned out there). */
static void published_cb(void *arg, enum store_status status, struct msg *m)
{
	struct publish_ctx *ctx = arg;
	struct hub *h = ctx->hub;
	if (status == STORE_OK) {
		h->published++;
		ctx->cb(ctx->arg, 200, m->id);
	} else if (status == STORE_DUPLICATE) {
		/* A publisher retried an update that is stored already:
		 * acknowledge it again, deliver it no second time. */
		h->duplicates++;
		ctx->cb(ctx->arg, 200, m->id);
	} else if (status == STORE_CONFLICT) {
		h->conflicts++;
		ctx->cb(ctx->arg, 409, "another update with this id is already stored");
	} else {
		h->store_errors++;
		ctx->cb(ctx->arg, 503, "the update could not be stored");
	}
	free(ctx);
}

void hub_publish(struct hub *h, struct msg *m, hub_publish_cb cb, void *arg)
{
	if (!m->id)
		m->id = msg_make_id();
	struct publish_ctx *ctx = xmalloc(sizeof *ctx);
	ctx->hub = h;
	ctx->cb = cb;
	ctx->arg = arg;
	h->store->ops->publish(h->store, m, published_cb, ctx);
	msg_unref(m);
}

/* ---- subscriptions API ---------------------------------------------------- */

static void announced_cb(void *arg, int status, const char *text)
{
	if (status != 200)
		log_warn("subscription update not published: %s", text);
}

/* Publishes, for each topic selector of s, the private update that says it
 * became active (or inactive), on the subscription's own IRI. */
static void announce(struct hub *h, struct sub *s, bool active)
{
	for (int i = 0; i < s->rules->ntopics; i++) {
		const char *topic = selector_text(s->rules->sels[i]);
		struct buf iri = {0}, doc = {0};
		subscriptions_iri(&iri, topic, s->extra->id);
		subscriptions_object(&doc, topic, s->extra->id, active, s->extra->payload, true);
		const char *topics[1] = {iri.p};
		hub_publish(h, msg_new(NULL, topics, 1, NULL, -1, true, doc.p, doc.len),
			    announced_cb, NULL);
		buf_free(&iri);
		buf_free(&doc);
	}
}

int hub_subscriptions_json(struct hub *h, const char *topic, const char *subscriber,
			   struct buf *out)
{
	if (!h->cfg->subscriptions)
		return 404;
	struct buf list = {0};
	int n = 0;
	for (struct sub *s = h->subs; s; s = s->next) {
		const struct sub_extra *x = s->extra;
		if (!x || !x->id || s->state == SUB_CLOSED || s->state == SUB_ENDING)
			continue;
		if (subscriber && strcmp(x->id, subscriber) != 0)
			continue;
		for (int i = 0; i < s->rules->ntopics; i++) {
			const char *t = selector_text(s->rules->sels[i]);
			if (topic && strcmp(t, topic) != 0)
				continue;
			if (subscriber) { /* one subscription: the object itself */
				subscriptions_object(out, t, x->id, true, x->payload, true);
				buf_free(&list);
				return 200;
			}
			if (n++)
				buf_addc(&list, ',');
			subscriptions_object(&list, t, x->id, true, x->payload, false);
		}
	}
	if (subscriber) {
		buf_free(&list);
		return 404;
	}
	struct buf iri = {0};
	subscriptions_iri(&iri, topic, NULL);
	buf_adds(out, "{\"@context\":\"https://mercure.rocks/\",\"id\":");
	buf_add_json_string(out, iri.p, iri.len);
	buf_adds(out, ",\"type\":\"Subscriptions\",\"lastEventID\":");
	const char *last = h->last_id ? h->last_id : "earliest";
	buf_add_json_string(out, last, strlen(last));
	buf_adds(out, ",\"subscriptions\":[");
	buf_add(out, list.p ? list.p : "", list.len);
	buf_adds(out, "]}");
	buf_free(&iri);
	buf_free(&list);
	return 200;
}

/* ---- heartbeat, stats, shutdown ------------------------------------------ */

/* Probes s; a stream whose front needs a second write to notice that the
 * client left gets it at the next tick (a round trip later). */
static void probe(struct hub *h, struct sub *s)
{
	if (!sub_probe(s))
		return;
	h->probes++;
	if (!s->probe_twice)
		return;
	if (h->nagain == h->again_cap) {
		h->again_cap = h->again_cap ? h->again_cap * 2 : 64;
		h->again = xrealloc(h->again, h->again_cap * sizeof *h->again);
	}
	h->again[h->nagain++] = sub_ref(s);
}

/* The second write of last tick's probes (see probe). */
static void probe_again(struct hub *h)
{
	struct sub **list = h->again;
	size_t n = h->nagain;
	h->again = NULL;
	h->nagain = h->again_cap = 0;
	for (size_t i = 0; i < n; i++) {
		if (sub_probe(list[i]))
			h->probes++;
		sub_unref(list[i]);
	}
	free(list);
}

/* Probes the streams idle for at least due_ms, and up to budget more of
 * the longest idle (but none written in the last PROBE_MIN_IDLE_MS), and cuts
 * those whose queued output has not moved for the stall timeout (checked
 * as streams come due: a stall is noticed within a heartbeat after the
 * timeout, at the latest). The walk goes from the longest idle and stops
 * at the first stream that is due for nothing. A stream with output queued is not probed (its own bytes
 * will tell); one whose response has not started (its replay query is
 * out) is passed. */
static void walk(struct hub *h, int64_t now, int64_t due_ms, int64_t *budget_p)
{
	int64_t budget = *budget_p;
	int64_t stall_ms = (int64_t)h->cfg->stall_timeout_s * 1000;
	int64_t min_idle = due_ms < PROBE_MIN_IDLE_MS ? due_ms : PROBE_MIN_IDLE_MS;
	for (struct sub *s = h->subs, *next; s; s = next) {
		next = s->next;
		int64_t idle = now - s->last_write_ms;
		if (idle < min_idle || (idle < due_ms && budget <= 0))
			break;
		if (s->state == SUB_CLOSED || !s->headers_sent)
			continue;
		if (sub_queued(s) > 0) {
			if (idle >= stall_ms) {
				h->stalled++;
				sub_abort(s, "no output written for the stall timeout");
			}
		} else if (idle >= due_ms || budget > 0) {
			probe(h, s);
			budget -= idle < due_ms;
		}
	}
	*budget_p = budget;
}

/* Every TICK_MS. Every stream is written at least once a heartbeat: the
 * longest idle streams get a comment, spread evenly over the interval (a
 * budget of nsubs / heartbeat probes a second, counted in thousandths so
 * that a few streams are not probed every tick), which keeps proxies from
 * timing out and doubles as the probe that notices a client which left
 * (the web server relays the write and meets the client's reset). When
 * the probes, or arrivals, show a surge, or a subscriber was refused at
 * capacity, every stream is probed at once (a sweep). */
static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hub *h = arg;
	int64_t now = mono_ms();
	probe_again(h);
	int64_t interval_ms = (int64_t)h->cfg->heartbeat_s * 1000;
	int64_t per_tick = (int64_t)h->nsubs * TICK_MS * 1000 / interval_ms;
	h->probe_credit += per_tick;
	if (h->probe_credit > per_tick + 1000) /* no hoarding while none is due */
		h->probe_credit = per_tick + 1000;
	int64_t budget = h->probe_credit / 1000, before = budget;
	int64_t due_ms = interval_ms - TICK_MS / 2; /* due within this tick: now */
	if (surge_should_sweep(&h->surge, now, h->nsubs)) {
		log_debug("a surge of streams: probing every stream");
		due_ms = SWEEP;
	}
	walk(h, now, due_ms, &budget);
	h->probe_credit -= (before - budget) * 1000;
}

/* Checks for a surge as each arrival or departure is counted (called from
 * inside a stream's close, so the sweep itself waits for sweep_cb), so
 * that a storm is swept at once rather than at the next tick. */
static void sweep_if_surging(struct hub *h)
{
	if (!h->shutting_down && surge_should_sweep(&h->surge, mono_ms(), h->nsubs)) {
		log_debug("a surge of streams: probing every stream");
		event_active(h->sweep_ev, 0, 0);
	}
}

static void sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hub *h = arg;
	int64_t no_budget = 0;
	if (!h->shutting_down)
		walk(h, mono_ms(), SWEEP, &no_budget);
}

void hub_stats_json(struct hub *h, struct buf *out)
{
	struct store_stats st;
	h->store->ops->stats(h->store, &st);
	buf_printf(out,
		   "{\"subscribers\":%d,\"topics\":%zu,\"updates_stored\":%" PRId64
		   ",\"updates_published\":%" PRIu64 ",\"deliveries\":%" PRIu64
		   ",\"replayed\":%" PRIu64 ",\"drops\":%" PRIu64
		   ",\"duplicates\":%" PRIu64 ",\"conflicts\":%" PRIu64 ",\"store_errors\":%" PRIu64
		   ",\"streams_opened\":%" PRIu64 ",\"streams_closed\":%" PRIu64
		   ",\"probes\":%" PRIu64 ",\"sweeps\":%" PRIu64 ",\"stalled\":%" PRIu64
		   ",\"refused_capacity\":%" PRIu64 ",\"refused_client\":%" PRIu64
		   ",\"clients\":%zu"
		   ",\"commits\":%" PRId64 ",\"expired\":%" PRId64
		   ",\"last_id\":",
		   h->nsubs, topic_count(h->topics) - (topic_find(h->topics, TEMPLATE_SUBSCRIBERS) != NULL),
		   st.stored, h->published,
		   h->deliveries, h->replayed, h->drops, h->duplicates, h->conflicts,
		   h->store_errors + (uint64_t)st.errors, h->streams_opened,
		   h->streams_closed, h->probes, h->surge.sweeps, h->stalled,
		   h->refused_capacity, h->refused_client, clients_count(h->clients),
		   st.commits, st.expired);
	if (h->last_id)
		buf_add_json_string(out, h->last_id, strlen(h->last_id));
	else
		buf_adds(out, "null");
	buf_printf(out, ",\"uptime_s\":%" PRId64 "}", (mono_ms() - h->started_ms) / 1000);
}

static void done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hub *h = arg;
	event_del(h->deadline_ev);
	if (h->done) {
		void (*done)(void *) = h->done;
		h->done = NULL;
		done(h->done_arg);
	}
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hub *h = arg;
	if (h->nsubs > 0)
		log_warn("shutdown: cutting %d streams that did not finish in time", h->nsubs);
	while (h->subs)
		sub_abort(h->subs, "shutdown deadline");
	event_active(h->done_ev, 0, 0);
}

void hub_shutdown(struct hub *h, int deadline_ms, void (*done)(void *), void *arg)
{
	h->shutting_down = true;
	h->done = done;
	h->done_arg = arg;
	event_del(h->tick_ev);
	for (struct sub *s = h->subs; s; s = s->next)
		sub_end(s);
	if (h->nsubs == 0) {
		event_active(h->done_ev, 0, 0);
		return;
	}
	struct timeval tv = {.tv_sec = deadline_ms / 1000, .tv_usec = (deadline_ms % 1000) * 1000};
	event_add(h->deadline_ev, &tv);
}
