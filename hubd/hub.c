/* hub.c -- subscribers (what each stream may receive, its topics, its
 * client), fan-out from the store's feed, publish, liveness and shutdown. */
#include "config.h"

#include "hub.h"

#include <errno.h>
#include <event2/event.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clients.h"
#include "handover.h"
#include "log.h"
#include "match.h"
#include "msg.h"
#include "replay.h"
#include "selector.h"
#include "settings.h"
#include "stream.h"
#include "subscriptions.h"
#include "liveness.h"
#include "topic.h"
/* Subscribers with URI-template selectors are linked under this topic
 * name, which no update can have (topics are never empty); every update
 * visits them and tests their templates. */
#define TEMPLATE_SUBSCRIBERS ""

/* A client at its cap gets its streams probed at most this often. */
#define CLIENT_PROBE_GAP_MS 1000

_Static_assert(MSG_MAX_TOPICS <= UINT8_MAX, "a stream counts its topic links in a uint8_t");


/* The per-client caps: streams per address, streams per token. */
enum { CAP_ADDRESS, CAP_TOKEN, NCAPS };

/* What only some subscribers have (sub_extra): the stream's extra part,
 * extended; kept for the stream's life. */
struct sub_extra {
	struct stream_extra stream; /* first member */
	char *id;                 /* subscriber id (subscriptions API), or NULL */
	char *payload;            /* its JWT's mercure.payload JSON, or NULL */
	struct topic_link *links; /* several topics: their links, or NULL */
	/* Its entries under the caps: its address's (max-streams-per-client)
	 * and its token's (max-streams-per-token), each with the list of that
	 * entry's streams. */
	struct cap_link {
		struct client *c;
		struct sub *prev, *next;
	} caps[NCAPS];
	uint8_t nlinks;           /* links[0..nlinks) are linked */
};

/* A subscriber: the hub's part of a stream (the stream set allocates it,
 * stream_set_config.stream_size). What a plain live stream needs is
 * here; the rest hangs off the stream's extra, NULL for most (SUB_X); the
 * link of a stream with one topic is inside. 184 bytes on 64-bit Linux:
 * one 192-byte malloc chunk. */
struct sub {
	struct stream stream;      /* first member */
	struct match_rules *rules; /* what it may receive; owned */
	struct replay *replay;     /* while replaying, else NULL */
	struct topic_link link;    /* its one topic's link (linked: link.topic) */
};

_Static_assert(sizeof(struct sub) <= 184, "a subscriber fits one 192-byte malloc chunk");

static struct sub *sub_of(struct stream *s)
{
	return (struct sub *)s;
}

/* The subscriber's extra part, or NULL when it has none. */
#define SUB_X(u) ((struct sub_extra *)(u)->stream.extra)

/* The subscriber's extra part, created zeroed on first use. */
static struct sub_extra *sub_extra(struct sub *u)
{
	return (struct sub_extra *)stream_extra(&u->stream);
}

/* Unlinks the subscriber from every topic it is linked under. */
static void unlink_topics(struct topic_registry *topics, struct sub *u)
{
	struct sub_extra *x = SUB_X(u);
	if (x && x->links) {
		for (int i = 0; i < x->nlinks; i++)
			topic_unsubscribe(topics, &x->links[i]);
		x->nlinks = 0;
	} else if (u->link.topic) {
		topic_unsubscribe(topics, &u->link);
	}
}

struct hub {
	struct event_base *base;
	const struct settings *cfg;
	struct store *store;
	struct topic_registry *topics;
	struct stream_set *streams;   /* every open stream (struct sub) */
	struct replay_env replay;     /* what the replays share */
	struct client_table *clients[NCAPS]; /* streams per address, per token (the caps) */
	struct liveness *liveness;    /* heartbeats, probes, sweeps, stall cut */
	store_pos last_seq; /* the last update the feed delivered */
	char *last_id;    /* its id, or NULL while the store is empty */
	int64_t started_ms;
	/* shutdown */
	bool shutting_down;
	bool handed_over; /* every stream went to another hubd (hub_forget_streams) */
	void (*done)(void *);
	void *done_arg;
	struct event *done_ev;
	struct event *deadline_ev;
	/* counters */
	uint64_t published, duplicates, conflicts, store_errors, deliveries;
	uint64_t streams_opened, streams_closed;
	uint64_t refused_capacity, refused_client, refused_token, feed_resets;
	uint64_t streams_adopted; /* taken over from a former hubd */
};

static void done_cb(evutil_socket_t fd, short what, void *arg);
static void deadline_cb(evutil_socket_t fd, short what, void *arg);
static void feed_cb(void *arg, struct msg *m);
static void feed_reset_cb(void *arg, const char *why);
static void stream_drained_cb(void *owner, struct stream *s);
static void stream_closed_cb(void *owner, struct stream *s);
static void stream_release_cb(void *owner, struct stream *s);
static void replay_finished_cb(void *owner, struct stream *s);

struct hub *hub_new(struct event_base *base, const struct settings *cfg,
		    struct store *store)
{
	struct hub *h = xcalloc(1, sizeof *h);
	h->base = base;
	h->cfg = cfg;
	h->store = store;
	h->topics = topic_registry_new();
	for (int k = 0; k < NCAPS; k++)
		h->clients[k] = clients_new();
	h->last_seq = store->last_seq;
	h->last_id = store->last_id ? xstrdup(store->last_id) : NULL;
	store->ops->subscribe(store, &(struct store_feed){
		.update = feed_cb, .reset = feed_reset_cb, .arg = h});
	h->started_ms = mono_ms();
	struct stream_set_config sc = {
		.stream_size = sizeof(struct sub),
		.extra_size = sizeof(struct sub_extra),
		.max_queue = cfg->max_queue,
		.retry_lo_ms = cfg->retry_lo_ms,
		.retry_hi_ms = cfg->retry_hi_ms,
		.drained = stream_drained_cb,
		.closed = stream_closed_cb,
		.release = stream_release_cb,
		.owner = h,
	};
	h->streams = stream_set_new(base, &sc);
	h->replay = (struct replay_env){.store = store, .max_queue = cfg->max_queue,
					.finished = replay_finished_cb, .owner = h};
	h->liveness = liveness_new(base, h->streams, cfg->heartbeat_s, cfg->stall_timeout_s);
	h->done_ev = event_new(base, -1, 0, done_cb, h);
	h->deadline_ev = event_new(base, -1, 0, deadline_cb, h);
	if (!h->done_ev || !h->deadline_ev)
		fatal("cannot create the hub's events");
	return h;
}

void hub_free(struct hub *h)
{
	if (!h)
		return;
	liveness_free(h->liveness); /* first: it holds streams */
	h->liveness = NULL;
	stream_set_free(h->streams); /* closes and reaps every stream */
	event_free(h->done_ev);
	event_free(h->deadline_ev);
	topic_registry_free(h->topics);
	for (int k = 0; k < NCAPS; k++)
		clients_free(h->clients[k]);
	free(h->last_id);
	free(h);
}

struct store *hub_store(struct hub *h)
{
	return h->store;
}

bool hub_shutting_down(const struct hub *h)
{
	return h->shutting_down;
}

/* ---- streams ----------------------------------------------------------- */

static void announce(struct hub *h, struct sub *u, bool active);
static void start_response(struct hub *h, struct sub *u, const char *last_event_id);

/* Probes the streams of client c under cap k (at its cap: a browser that
 * keeps reconnecting leaves dead streams behind it), at most once a
 * second. */
static void probe_client(struct hub *h, int k, struct client *c, int64_t now)
{
	if (now - c->probed_ms < CLIENT_PROBE_GAP_MS)
		return;
	c->probed_ms = now;
	for (struct sub *u = c->streams; u; u = SUB_X(u)->caps[k].next)
		liveness_probe(h->liveness, &u->stream);
}

/* Takes a place for a new stream under cap k (limit streams per key; 0 or
 * no key: no cap). Returns the entry (NULL when no cap applies), or sets
 * *refused and probes the entry's streams. */
static struct client *client_take(struct hub *h, int k, const char *key, int limit,
				  bool *refused)
{
	*refused = false;
	if (limit == 0 || !key)
		return NULL;
	struct client *c = clients_get(h->clients[k], key);
	if (c->nstreams >= (uint32_t)limit) {
		probe_client(h, k, c, mono_ms());
		clients_put(h->clients[k], c);
		*refused = true;
		return NULL;
	}
	return c;
}

/* Links s into entry c's streams under cap k (c from client_take, or
 * NULL). */
static void client_link(struct sub *s, int k, struct client *c)
{
	if (!c)
		return;
	struct cap_link *l = &sub_extra(s)->caps[k];
	l->c = c;
	l->next = c->streams;
	if (c->streams)
		SUB_X(c->streams)->caps[k].prev = s;
	c->streams = s;
	c->nstreams++;
}

static void client_unlink(struct hub *h, struct sub *s)
{
	struct sub_extra *x = SUB_X(s);
	for (int k = 0; x && k < NCAPS; k++) {
		struct cap_link *l = &x->caps[k];
		struct client *c = l->c;
		if (!c)
			continue;
		if (l->prev)
			SUB_X(l->prev)->caps[k].next = l->next;
		else
			c->streams = l->next;
		if (l->next)
			SUB_X(l->next)->caps[k].prev = l->prev;
		memset(l, 0, sizeof *l);
		c->nstreams--;
		clients_put(h->clients[k], c);
	}
}

/* Links u under each of its selectors: exact topics and "*" in the index,
 * templates on their own list. A stream of one topic uses the link inside
 * it. */
static void link_topics(struct hub *h, struct sub *u)
{
	const struct match_rules *rules = u->rules;
	if (rules->ntopics == 1) {
		const char *name = match_rules_is_pattern(rules, 0) ? TEMPLATE_SUBSCRIBERS
								     : match_rules_text(rules, 0);
		topic_subscribe(h->topics, name, u, &u->link);
		return;
	}
	struct sub_extra *x = sub_extra(u);
	x->links = xcalloc((size_t)rules->ntopics, sizeof *x->links);
	for (int i = 0; i < rules->ntopics; i++) {
		const char *name = match_rules_is_pattern(rules, i) ? TEMPLATE_SUBSCRIBERS
								     : match_rules_text(rules, i);
		bool dup = false;
		for (int j = 0; j < x->nlinks && !dup; j++)
			dup = strcmp(x->links[j].topic->name, name) == 0;
		if (!dup)
			topic_subscribe(h->topics, name, u, &x->links[x->nlinks++]);
	}
}

/* Gives back the entries of got[] (from client_take) no stream took. */
static void clients_release(struct hub *h, struct client *got[NCAPS])
{
	for (int k = 0; k < NCAPS; k++)
		if (got[k])
			clients_put(h->clients[k], got[k]);
}

/* Whether req's stream may open; sets err and counts the refusal when not.
 * Returns 0, 503 or 429; got[] gets the entries of the caps that apply
 * (its address's, its token's). */
static int admit(struct hub *h, const struct hub_sub_request *req, struct client *got[NCAPS],
		 char *err, size_t errlen)
{
	static const char *const why[NCAPS] = {"too many streams from this address",
					       "too many streams with this token"};
	memset(got, 0, NCAPS * sizeof got[0]);
	if (h->shutting_down) {
		snprintf(err, errlen, "hub is shutting down");
		return 503;
	}
	if (stream_set_count(h->streams) >= h->cfg->max_subscribers) {
		/* Dead streams may be what fills the hub: sweep for them. */
		liveness_request_sweep(h->liveness);
		h->refused_capacity++;
		snprintf(err, errlen, "too many subscribers");
		return 503;
	}
	char addr[40];
	const char *keys[NCAPS] = {clients_key(req->client_addr, addr) ? addr : NULL,
				   req->token_key};
	const int limits[NCAPS] = {h->cfg->max_per_client, h->cfg->max_per_token};
	for (int k = 0; k < NCAPS; k++) {
		bool refused;
		got[k] = client_take(h, k, keys[k], limits[k], &refused);
		if (refused) {
			clients_release(h, got);
			memset(got, 0, NCAPS * sizeof got[0]);
			*(k == CAP_ADDRESS ? &h->refused_client : &h->refused_token) += 1;
			snprintf(err, errlen, "%s", why[k]);
			return 429;
		}
	}
	return 0;
}

int hub_subscribe(struct hub *h, const struct hub_sub_request *req, char *err, size_t errlen)
{
	liveness_note_arrival(h->liveness);
	struct client *got[NCAPS];
	int status = admit(h, req, got, err, errlen);
	if (status != 0) {
		close(req->fd);
		match_rules_free(req->rules);
		return status;
	}
	struct stream *s = stream_open(h->streams, req->fd, req->mode, req->request_id);
	if (!s) {
		match_rules_free(req->rules);
		clients_release(h, got);
		snprintf(err, errlen, "cannot watch the connection");
		return 503;
	}
	struct sub *u = sub_of(s);
	u->rules = req->rules;
	for (int k = 0; k < NCAPS; k++)
		client_link(u, k, got[k]);
	s->no_x_accel = req->no_x_accel;
	s->probe_twice = req->probe_twice;
	s->draft08 = req->draft08;
	if (req->extra_headers && *req->extra_headers)
		stream_extra(s)->headers = xstrdup(req->extra_headers);
	h->streams_opened++;
	link_topics(h, u);
	int64_t end_s = req->exp_s;
	if (h->cfg->max_lifetime_s > 0) {
		/* 90-100% of the lifetime, drawn per stream: streams opened
		 * together do not all end (and reconnect) together. */
		uint64_t life_ms = (uint64_t)h->cfg->max_lifetime_s * 1000;
		int64_t at_s = (now_ms() + (int64_t)random_between(life_ms - life_ms / 10, life_ms)) /
			       1000;
		if (end_s == 0 || at_s < end_s)
			end_s = at_s;
	}
	if (end_s > 0 && stream_expire_at(s, end_s) < 0) {
		stream_abort(s, "cannot set the expiry timer");
		snprintf(err, errlen, "cannot watch the token's expiry");
		return 503;
	}
	if (h->cfg->subscriptions) {
		struct sub_extra *x = sub_extra(u);
		x->id = msg_make_id();
		x->payload = req->payload ? xstrdup(req->payload) : NULL;
		announce(h, u, true);
	}
	start_response(h, u, req->last_event_id);
	return 0;
}

/* Starts the response of a new stream: live at once without
 * last_event_id, else after the replay of what follows it. */
static void start_response(struct hub *h, struct sub *u, const char *last_event_id)
{
	struct stream *s = &u->stream;
	if (!last_event_id) {
		s->last_seq = h->last_seq;
		stream_send_headers(s, NULL, false, NULL);
		stream_go_live(s);
		return;
	}
	/* Replay everything after last_event_id up to what the feed has
	 * delivered now; what it delivers from here on is held back until
	 * the replay is done (deliver). */
	u->replay = replay_start(&h->replay, s, u->rules, last_event_id, h->last_seq, h->last_id);
}

static void replay_finished_cb(void *owner, struct stream *s)
{
	sub_of(s)->replay = NULL;
}

static void stream_drained_cb(void *owner, struct stream *s)
{
	struct sub *u = sub_of(s);
	if (u->replay)
		replay_drained(u->replay);
}

/* A stream closed during the turn that just ended (stream.h): the hub
 * forgets it. */
static void stream_closed_cb(void *owner, struct stream *s)
{
	struct hub *h = owner;
	struct sub *u = sub_of(s);
	client_unlink(h, u);
	h->streams_closed++;
	if (!h->shutting_down && h->liveness)
		liveness_note_departure(h->liveness);
	if (SUB_X(u) && SUB_X(u)->id && !h->shutting_down && !h->handed_over)
		announce(h, u, false);
	unlink_topics(h->topics, u);
	if (u->replay) {
		replay_cancel(u->replay);
		u->replay = NULL;
	}
	if (h->shutting_down && stream_set_count(h->streams) == 0)
		event_active(h->done_ev, 0, 0);
}

/* The stream's last reference went: what the subscriber owns goes too. */
static void stream_release_cb(void *owner, struct stream *s)
{
	struct sub *u = sub_of(s);
	match_rules_free(u->rules);
	struct sub_extra *x = SUB_X(u);
	if (x) {
		free(x->id);
		free(x->payload);
		free(x->links);
	}
}

/* ---- fan-out ------------------------------------------------------------- */

static void deliver(struct hub *h, struct sub *u, struct msg *m)
{
	struct stream *s = &u->stream;
	if (s->state == STREAM_LIVE) {
		if (stream_queue_msg(s, m))
			h->deliveries++;
	} else if (s->state == STREAM_REPLAYING && u->replay) {
		replay_hold(u->replay, m);
	}
}

/* Delivers m to the streams linked under name that may see it (and, for
 * the template list, whose selectors match it). Streams close only at the
 * end of the turn, so the links stay put meanwhile. */
static void fan_out_topic(struct hub *h, const char *name, struct msg *m, bool test_topic)
{
	struct topic *t = topic_find(h->topics, name);
	if (!t)
		return;
	for (struct topic_link *l = t->links; l; l = l->next) {
		struct sub *u = l->sub;
		if (m->seq <= u->stream.last_seq || !match_rules_may_see(u->rules, m))
			continue;
		if (test_topic && !match_rules_topic(u->rules, m))
			continue;
		deliver(h, u, m);
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

/* The store lost continuity (store_feed.reset): updates may be missing
 * between what each stream got and what the feed delivers next. Every
 * stream ends cleanly; its client reconnects with Last-Event-ID and the
 * replay says what it can (a reset, when its id is gone). */
static void feed_reset_cb(void *arg, const char *why)
{
	struct hub *h = arg;
	log_warn("the store's feed was reset (%s): ending %d streams so that they resume from history",
		 why, stream_set_count(h->streams));
	h->feed_resets++;
	h->last_seq = 0;
	free(h->last_id);
	h->last_id = NULL;
	for (struct stream *s = stream_set_first(h->streams); s; s = s->next)
		stream_end(s);
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

/* ---- hand-over (live upgrade) ----------------------------------------------- */

/* Describes stream s for the hubd that takes it over (handover.h), as it
 * stands now; changes nothing. */
static void export_stream(struct hub *h, struct sub *u, struct handover_stream *st)
{
	struct stream *s = &u->stream;
	struct sub_extra *x = SUB_X(u);
	memset(st, 0, sizeof *st);
	st->mode = s->mode;
	st->request_id = s->out.request_id;
	st->no_x_accel = s->no_x_accel;
	st->probe_twice = s->probe_twice;
	st->draft08 = s->draft08;
	st->idle_ms = mono_ms() - s->last_write_ms;
	if (st->idle_ms < 0)
		st->idle_ms = 0;
	st->end_s = x && x->stream.expiry ? x->stream.exp_s : 0;
	if (x) {
		st->subscriber_id = x->id ? xstrdup(x->id) : NULL;
		st->payload = x->payload ? xstrdup(x->payload) : NULL;
		if (x->caps[CAP_ADDRESS].c)
			st->addr_key = xstrdup(x->caps[CAP_ADDRESS].c->key);
		if (x->caps[CAP_TOKEN].c)
			st->token_key = xstrdup(x->caps[CAP_TOKEN].c->key);
	}
	for (int i = 0; i < u->rules->ntopics + u->rules->nallowed; i++)
		handover_stream_add_matcher(st, (uint8_t)match_rules_syntax(u->rules, i),
					    i >= u->rules->ntopics, match_rules_text(u->rules, i));
	if (s->state == STREAM_REPLAYING && !s->headers_sent) {
		/* Nothing of the response exists yet: the next hubd starts it. */
		st->phase = HANDOVER_NOT_STARTED;
		st->last_event_id = xstrdup(u->replay ? replay_requested_id(u->replay) : "earliest");
		if (x && x->stream.headers)
			st->extra_headers = xstrdup(x->stream.headers);
		return;
	}
	struct outq_owed owed;
	outq_owed(&s->out, &owed);
	st->carry = owed.carry;
	st->carry_ends = owed.ends;
	st->phase = s->state == STREAM_ENDING ? HANDOVER_ENDING : HANDOVER_STREAMING;
	/* Where it resumes: before the first update left out; else a live
	 * stream was offered every update the feed delivered, a replaying
	 * one has those up to the last it queued. */
	if (owed.first_left)
		st->resume_after = owed.first_left - 1;
	else
		st->resume_after = s->state == STREAM_LIVE ? h->last_seq : s->last_seq;
}

void hub_export(struct hub *h, hub_export_fn each, void *arg)
{
	for (struct stream *s = stream_set_first(h->streams); s; s = s->next) {
		struct handover_stream st;
		export_stream(h, sub_of(s), &st);
		each(arg, s->fd, &st);
		handover_stream_clear(&st);
	}
}

void hub_freeze(struct hub *h, bool on)
{
	h->replay.frozen = on;
	if (on)
		return;
	for (struct stream *s = stream_set_first(h->streams); s; s = s->next)
		if (sub_of(s)->replay)
			replay_kick(sub_of(s)->replay);
}

bool hub_quiet(const struct hub *h)
{
	return h->replay.inflight == 0;
}

void hub_forget_streams(struct hub *h)
{
	h->handed_over = true;
	liveness_stop(h->liveness);
	while (stream_set_first(h->streams))
		stream_abort(stream_set_first(h->streams), "handed over");
	stream_set_reap(h->streams);
}

/* Links u under cap k's entry key (a stream taken over: no limit). */
static int adopt_cap(struct hub *h, struct sub *u, int k, const char *key)
{
	if (!key)
		return 0;
	if (strlen(key) >= sizeof ((struct client *)0)->key)
		return -1;
	client_link(u, k, clients_get(h->clients[k], key));
	return 0;
}

int hub_adopt(struct hub *h, int fd, const struct handover_stream *st, const struct url *base,
	      char *err, size_t errlen)
{
	struct match_spec topics[HANDOVER_MATCHERS_MAX], allowed[HANDOVER_MATCHERS_MAX];
	int ntopics = 0, nallowed = 0;
	for (int i = 0; i < st->nmatchers; i++) {
		struct match_spec m = {(enum match_syntax)st->matchers[i].syntax, st->matchers[i].text};
		if (st->matchers[i].allowed)
			allowed[nallowed++] = m;
		else if (nallowed == 0 && ntopics < MSG_MAX_TOPICS)
			topics[ntopics++] = m;
		else
			ntopics = 0; /* out of order, or too many */
	}
	struct match_rules *rules =
		ntopics ? match_rules_build(topics, ntopics, allowed, nallowed, base, err, errlen) : NULL;
	if (!rules) {
		if (!ntopics)
			snprintf(err, errlen, "the stream's topic matchers are missing or misordered");
		close(fd);
		return -1;
	}
	struct stream *s = stream_open(h->streams, fd, st->mode, st->request_id);
	if (!s) {
		snprintf(err, errlen, "cannot watch the connection: %s", strerror(errno));
		match_rules_free(rules);
		return -1;
	}
	struct sub *u = sub_of(s);
	u->rules = rules;
	s->no_x_accel = st->no_x_accel;
	s->probe_twice = st->probe_twice;
	s->draft08 = st->draft08;
	if (adopt_cap(h, u, CAP_ADDRESS, st->addr_key) < 0 ||
	    adopt_cap(h, u, CAP_TOKEN, st->token_key) < 0) {
		snprintf(err, errlen, "a cap key is too long");
		stream_abort(s, "bad hand-over record");
		return -1;
	}
	if (st->subscriber_id) {
		sub_extra(u)->id = xstrdup(st->subscriber_id);
		sub_extra(u)->payload = st->payload ? xstrdup(st->payload) : NULL;
	}
	link_topics(h, u);
	if (st->end_s > 0 && stream_expire_at(s, st->end_s) < 0) {
		snprintf(err, errlen, "cannot set the expiry timer");
		stream_abort(s, "cannot set the expiry timer");
		return -1;
	}
	h->streams_adopted++;
	if (st->phase == HANDOVER_NOT_STARTED) {
		stream_set_idle(s, st->idle_ms);
		if (st->extra_headers && *st->extra_headers)
			stream_extra(s)->headers = xstrdup(st->extra_headers);
		start_response(h, u, st->last_event_id);
		return 0;
	}
	stream_take_over(s, st->carry.p, st->carry.len, st->idle_ms,
			 st->phase == HANDOVER_ENDING && st->carry_ends);
	s->last_seq = st->resume_after;
	if (st->phase == HANDOVER_ENDING) {
		stream_end(s); /* no-op when the carry held the end */
		return 0;
	}
	if (st->resume_after > h->last_seq) {
		/* The store holds less than the former hubd had sent: the feed
		 * cannot continue this stream without a gap. Its client
		 * reconnects and the replay says what it can. */
		stream_end(s);
		return 0;
	}
	u->replay = replay_resume(&h->replay, s, u->rules, st->resume_after, h->last_seq);
	return 0;
}

/* ---- subscriptions API ---------------------------------------------------- */

static void announced_cb(void *arg, int status, const char *text)
{
	if (status != 200)
		log_warn("subscription update not published: %s", text);
}

/* Publishes, for each topic selector of u, the private update that says it
 * became active (or inactive), on the subscription's own IRI. */
static void announce(struct hub *h, struct sub *u, bool active)
{
	for (int i = 0; i < u->rules->ntopics; i++) {
		const char *m = match_rules_text(u->rules, i), *id = SUB_X(u)->id;
		const char *type = match_rules_type(u->rules, i);
		struct buf iri = {0}, doc = {0};
		/* Draft-08: on /subscriptions/{match_type}/{match}/{subscriber},
		 * with the hub's own event type; draft-07: /{topic}/{subscriber}. */
		if (u->stream.draft08) {
			subscriptions_iri08(&iri, type, m, id);
			subscriptions_object08(&doc, type, m, id, active, SUB_X(u)->payload);
		} else {
			subscriptions_iri(&iri, m, id);
			subscriptions_object(&doc, m, id, active, SUB_X(u)->payload, true);
		}
		const char *topics[1] = {iri.p};
		hub_publish(h, msg_new(NULL, topics, 1, u->stream.draft08 ? "mercure" : NULL, -1, true,
				       doc.p, doc.len),
			    announced_cb, NULL);
		buf_free(&iri);
		buf_free(&doc);
	}
}

/* The active subscriptions of one draft matching the filter (NULLs:
 * any): draft-07 by topic (a), draft-08 by match type (a) and matcher (b);
 * and by subscriber. One subscription's object goes to out and 200 comes
 * back when subscriber is given (404 when none); else the objects, comma
 * separated, go to list and their count comes back. */
static int each_subscription(struct hub *h, bool draft08, const char *a, const char *b,
			     const char *subscriber, struct buf *out, struct buf *list)
{
	int n = 0;
	for (struct stream *s = stream_set_first(h->streams); s; s = s->next) {
		const struct sub *u = sub_of(s);
		const struct sub_extra *x = SUB_X(u);
		if (!x || !x->id || s->state == STREAM_ENDING || (draft08 && !s->draft08) ||
		    (subscriber && strcmp(x->id, subscriber) != 0))
			continue;
		for (int i = 0; i < u->rules->ntopics; i++) {
			const char *m = match_rules_text(u->rules, i);
			const char *type = match_rules_type(u->rules, i);
			if (a && (draft08 ? strcmp(type, a) != 0 || strcmp(m, b) != 0 : strcmp(m, a) != 0))
				continue;
			struct buf *to = subscriber ? out : list;
			if (!subscriber && n)
				buf_addc(to, ',');
			n++;
			if (draft08)
				subscriptions_object08(to, type, m, x->id, true, x->payload);
			else
				subscriptions_object(to, m, x->id, true, x->payload, subscriber != NULL);
			if (subscriber)
				return 200;
		}
	}
	return subscriber ? 404 : n;
}

int hub_subscriptions_json(struct hub *h, const char *topic, const char *subscriber,
			   struct buf *out)
{
	if (!h->cfg->subscriptions)
		return 404;
	struct buf list = {0}, iri = {0};
	int n = each_subscription(h, false, topic, NULL, subscriber, out, &list);
	if (subscriber) {
		buf_free(&list);
		return n;
	}
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

int hub_subscriptions_json08(struct hub *h, const char *match_type, const char *match,
			     const char *subscriber, struct buf *out)
{
	if (!h->cfg->subscriptions)
		return 404;
	struct buf list = {0}, iri = {0};
	int n = each_subscription(h, true, match_type, match, subscriber, out, &list);
	if (subscriber) {
		buf_free(&list);
		return n;
	}
	subscriptions_iri08(&iri, match_type, match, NULL);
	buf_adds(out, "{\"id\":");
	buf_add_json_string(out, iri.p, iri.len);
	buf_adds(out, ",\"type\":\"subscriptions\",\"subscriptions\":[");
	buf_add(out, list.p ? list.p : "", list.len);
	buf_adds(out, "]}");
	buf_free(&iri);
	buf_free(&list);
	return 200;
}

const char *hub_last_id(const struct hub *h)
{
	return h->last_id;
}

/* ---- stats, shutdown ------------------------------------------------------ */

void hub_stats_json(struct hub *h, struct buf *out)
{
	struct store_stats st;
	h->store->ops->stats(h->store, &st);
	struct liveness_stats ls;
	liveness_stats(h->liveness, &ls);
	buf_printf(out,
		   "{\"subscribers\":%d,\"topics\":%zu,\"updates_stored\":%" PRId64
		   ",\"updates_published\":%" PRIu64 ",\"deliveries\":%" PRIu64
		   ",\"replayed\":%" PRIu64 ",\"drops\":%" PRIu64
		   ",\"duplicates\":%" PRIu64 ",\"conflicts\":%" PRIu64 ",\"store_errors\":%" PRIu64
		   ",\"streams_opened\":%" PRIu64 ",\"streams_closed\":%" PRIu64
		   ",\"probes\":%" PRIu64 ",\"sweeps\":%" PRIu64 ",\"stalled\":%" PRIu64
		   ",\"refused_capacity\":%" PRIu64 ",\"refused_client\":%" PRIu64
		   ",\"refused_token\":%" PRIu64
		   ",\"clients\":%zu"
		   ",\"commits\":%" PRId64 ",\"expired\":%" PRId64
		   ",\"store\":\"%s\",\"store_connected\":%s,\"store_reconnects\":%" PRId64
		   ",\"store_lag_ms\":%" PRId64 ",\"feed_resets\":%" PRIu64
		   ",\"last_id\":",
		   stream_set_count(h->streams), topic_count(h->topics) - (topic_find(h->topics, TEMPLATE_SUBSCRIBERS) != NULL),
		   st.stored, h->published,
		   h->deliveries + h->replay.delivered, h->replay.replayed,
		   stream_set_drops(h->streams), h->duplicates, h->conflicts,
		   h->store_errors + (uint64_t)st.errors, h->streams_opened,
		   h->streams_closed, ls.probes, ls.sweeps, ls.stalled,
		   h->refused_capacity, h->refused_client, h->refused_token,
		   clients_count(h->clients[CAP_ADDRESS]),
		   st.commits, st.expired, h->store->name ? h->store->name : "?",
		   st.connected ? "true" : "false", st.reconnects, st.lag_ms, h->feed_resets);
	if (h->last_id)
		buf_add_json_string(out, h->last_id, strlen(h->last_id));
	else
		buf_adds(out, "null");
	/* URL pattern matches cut off by the cost limit (each counted as no
	 * match): a pattern someone should look at. */
	buf_printf(out, ",\"urlpattern_aborted\":%llu,\"uptime_s\":%" PRId64,
		   match_patterns_aborted(), (mono_ms() - h->started_ms) / 1000);
	/* Who serves: a live upgrade changes the process, not the streams. */
	buf_printf(out, ",\"streams_adopted\":%" PRIu64 ",\"pid\":%d,\"version\":\"%s\""
			",\"handover_version\":%d}",
		   h->streams_adopted, (int)getpid(), PACKAGE_VERSION, HANDOVER_VERSION);
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
	if (stream_set_count(h->streams) > 0)
		log_warn("shutdown: cutting %d streams that did not finish in time", stream_set_count(h->streams));
	while (stream_set_first(h->streams))
		stream_abort(stream_set_first(h->streams), "shutdown deadline");
	stream_set_reap(h->streams);
	event_active(h->done_ev, 0, 0);
}

void hub_shutdown(struct hub *h, int deadline_ms, void (*done)(void *), void *arg)
{
	h->shutting_down = true;
	h->done = done;
	h->done_arg = arg;
	liveness_stop(h->liveness);
	for (struct stream *s = stream_set_first(h->streams); s; s = s->next)
		stream_end(s);
	if (stream_set_count(h->streams) == 0) {
		event_active(h->done_ev, 0, 0);
		return;
	}
	struct timeval tv = {.tv_sec = deadline_ms / 1000, .tv_usec = (deadline_ms % 1000) * 1000};
	event_add(h->deadline_ev, &tv);
}
