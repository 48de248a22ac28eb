/* replay.c -- a stream's replay from history, paced in pages, with the
 * live updates of the meantime held back.
 *
 * A replaying stream stays within max-queue (M) by construction, so a
 * reader that catches up at full speed is never cut and one that stops
 * reading pins at most M (plus one update larger than a page) until the
 * stall timeout cuts it (liveness.c):
 * - a page is at most M/4 bytes as outq_mem counts them (and REPLAY_PAGE
 *   updates; at least one, so a single huge update still moves);
 * - the next page is asked for only once the queue pins less than M/4;
 * - live updates held back meanwhile pin at most M/2; when one more would
 *   not fit, they are dropped and the replay reads them from the store
 *   (extend), where every one of them is already. */
#include "config.h"

#include "replay.h"

#include <stdlib.h>
#include <string.h>

#include "match.h"
#include "msg.h"
#include "stream.h"
#include "util.h"

/* A replay page: at most this many updates, and at most a quarter of
 * max-queue in bytes. */
#define REPLAY_PAGE 1000

struct replay {
	struct replay_env *env;
	struct stream *s;               /* a reference */
	const struct match_rules *rules; /* borrowed: the stream's */
	struct msg **pending; /* live updates held back, oldest first */
	int npending, pending_cap;
	size_t pending_mem;   /* what they pin, counted as outq_mem does */
	bool inflight;        /* a page query is out (it holds the replay) */
	bool again;           /* upto grew while it was: ask for more */
	bool more;            /* more pages follow once the queue drains */
	bool draining;        /* last page queued; live once it is written */
	bool cancelled;       /* the stream closed while a query was out */
	store_pos upto;       /* pages up to this position (inclusive) */
	store_pos cursor;     /* the next page starts after this position */
	store_pos page_upto;  /* the upto of the page that is out */
	char *after_id;       /* NULL after the first page */
	char *header_last_id; /* value for the Last-Event-ID response header
			       * (draft-07: the last id of the feed); draft-08
			       * streams: see cursor_header */
};

static void release_held(struct replay *r)
{
	for (int i = 0; i < r->npending; i++)
		msg_unref(r->pending[i]);
	r->npending = 0;
	r->pending_mem = 0;
}

static void replay_free(struct replay *r)
{
	release_held(r);
	free(r->pending);
	free(r->after_id);
	free(r->header_last_id);
	stream_unref(r->s);
	free(r);
}

/* True when the stream's queue is below the low-water mark. */
static bool wants_page(const struct replay *r)
{
	return stream_mem(r->s) < r->env->max_queue / 4;
}

static void page_cb(void *arg, enum store_status status, struct msg **msgs, int n,
		    bool after_found, store_pos after_pos, bool has_more);

static void query(struct replay *r)
{
	if (r->env->frozen) {
		r->more = true; /* replay_kick asks */
		return;
	}
	const struct match_rules *rules = r->rules;
	const char *names[MSG_MAX_TOPICS];
	bool priv = rules->nallowed > 0;
	/* Exact selectors use the store's topic index; templates need every
	 * update of the range, tested by the filter. */
	struct store_query q = {
		.topics = names,
		.ntopics = match_rules_store_topics(rules, names),
		.after_id = r->after_id,
		.after_seq = r->cursor,
		.upto_seq = r->upto,
		.limit = REPLAY_PAGE,
		.max_bytes = r->env->max_queue / 4,
		.encode = true,
		.include_private = priv,
		.filter = (priv || rules->has_patterns) ? match_rules_accept : NULL,
		.filter_arg = rules,
	};
	r->inflight = true;
	r->env->inflight++;
	r->more = false;
	r->again = false;
	r->page_upto = r->upto;
	r->env->store->ops->query(r->env->store, &q, page_cb, r);
}

/* Replay is over: what arrived live meanwhile follows, then live updates.
 * Frees r: the caller returns at once. */
static void finish(struct replay *r)
{
	struct stream *s = r->s;
	stream_go_live(s);
	for (int i = 0; i < r->npending; i++) {
		if (s->state == STREAM_LIVE && stream_queue_msg(s, r->pending[i]))
			r->env->delivered++;
	}
	r->env->finished(r->env->owner, s);
	replay_free(r);
}

/* A replay of s up to upto, holding a reference on s; no query yet. */
static struct replay *replay_new(struct replay_env *env, struct stream *s,
				 const struct match_rules *rules, store_pos upto)
{
	struct replay *r = xcalloc(1, sizeof *r);
	r->env = env;
	r->s = stream_ref(s);
	r->rules = rules;
	r->upto = upto;
	return r;
}

struct replay *replay_start(struct replay_env *env, struct stream *s,
			    const struct match_rules *rules, const char *last_event_id,
			    store_pos upto, const char *upto_id)
{
	bool earliest = strcmp(last_event_id, "earliest") == 0;
	/* Draft-07: the Last-Event-ID response header names the last update
	 * the hub had. Draft-08: Mercure-Last-Event-ID names the update before
	 * the first one sent -- "earliest" unless the id named one the store
	 * holds (page_cb), when it is that id. */
	const char *header_id = s->draft08 ? "earliest" : upto_id ? upto_id : "earliest";
	if (upto == 0 && earliest) {
		/* The feed has delivered nothing yet: nothing to replay. (A
		 * real id is still looked up: on a shared store it may be an
		 * update of another node's this node's feed has not delivered
		 * yet; upto 0 then asks for everything after it.) */
		stream_send_headers(s, header_id, false, last_event_id);
		stream_go_live(s);
		return NULL;
	}
	struct replay *r = replay_new(env, s, rules, upto);
	r->header_last_id = xstrdup(header_id);
	if (!earliest)
		r->after_id = xstrdup(last_event_id);
	query(r);
	return r;
}

struct replay *replay_resume(struct replay_env *env, struct stream *s,
			     const struct match_rules *rules, store_pos after, store_pos upto)
{
	if (after >= upto) {
		stream_go_live(s);
		return NULL;
	}
	struct replay *r = replay_new(env, s, rules, upto);
	r->cursor = after;
	query(r);
	return r;
}

void replay_kick(struct replay *r)
{
	if (!r->inflight && !r->cancelled && r->more && wants_page(r))
		query(r);
}

const char *replay_requested_id(const struct replay *r)
{
	return r->after_id ? r->after_id : "earliest";
}

static void page_cb(void *arg, enum store_status status, struct msg **msgs, int n,
		    bool after_found, store_pos after_pos, bool has_more)
{
	struct replay *r = arg;
	struct stream *s = r->s;
	r->inflight = false;
	r->env->inflight--;
	if (r->cancelled || s->state != STREAM_REPLAYING || status != STORE_OK) {
		for (int i = 0; i < n; i++)
			msg_unref(msgs[i]);
		if (r->cancelled)
			replay_free(r);
		else if (s->state == STREAM_REPLAYING) /* its close cancels r */
			stream_abort(s, "history unavailable");
		else
			finish(r); /* the stream is ending */
		return;
	}
	if (!s->headers_sent) {
		bool found = r->after_id && after_found;
		stream_send_headers(s, s->draft08 && found ? r->after_id : r->header_last_id,
				    r->after_id && !after_found, r->after_id);
	}
	/* The client has every update up to the one it named -- also those
	 * this node's feed has not delivered yet (a shared store: it came
	 * from another node): none of them is queued again, live or held. */
	if (r->after_id && after_found && after_pos > s->last_seq)
		s->last_seq = after_pos;
	free(r->after_id);
	r->after_id = NULL;
	/* The page covered everything up to its last update, or up to its
	 * upto when no more followed (also when it was empty). */
	r->cursor = has_more && n > 0 ? msgs[n - 1]->seq : r->page_upto;
	if (r->cursor < s->last_seq)
		r->cursor = s->last_seq;
	for (int i = 0; i < n; i++) {
		if (stream_queue_msg(s, msgs[i]))
			r->env->replayed++;
		msg_unref(msgs[i]);
	}
	/* The stream stays in replay (paced by pages, not cut by the limit,
	 * live updates held back) until the replay is written out: a reader
	 * catching up is not a slow reader. The replay was extended while
	 * this page was out: more follows. */
	bool more = has_more || r->again;
	if (!more && stream_queued(s) == 0)
		finish(r);
	else if (!more)
		r->draining = true; /* finishes in replay_drained */
	else if (wants_page(r))
		query(r);
	else
		r->more = true; /* resumes in replay_drained */
}

/* The hold-back is full: drops it, and replays up to pos (the update that
 * did not fit) from the store instead. */
static void extend(struct replay *r, store_pos pos)
{
	release_held(r);
	r->upto = pos;
	if (r->inflight) {
		r->again = true; /* page_cb asks for the rest */
		return;
	}
	r->draining = false;
	r->more = true;
	if (wants_page(r))
		query(r);
}

void replay_hold(struct replay *r, struct msg *m)
{
	if (m->seq <= r->s->last_seq || m->seq <= r->upto ||
	    (r->npending > 0 && r->pending[r->npending - 1]->seq >= m->seq))
		return; /* replayed, or held already (another topic matched) */
	/* Counted as the queue counts it (outq_mem), and its slot. */
	size_t mem = msg_mem(m) + sizeof *r->pending;
	if (r->pending_mem + mem > r->env->max_queue / 2) {
		extend(r, m->seq);
		return;
	}
	if (r->npending == r->pending_cap) {
		r->pending_cap = r->pending_cap ? r->pending_cap * 2 : 8;
		r->pending = xrealloc(r->pending, (size_t)r->pending_cap * sizeof *r->pending);
	}
	r->pending[r->npending++] = msg_ref(m);
	r->pending_mem += mem;
}

void replay_drained(struct replay *r)
{
	if (r->inflight || r->s->state != STREAM_REPLAYING)
		return;
	if (r->draining && stream_queued(r->s) == 0)
		finish(r);
	else if (r->more && wants_page(r))
		query(r);
}

void replay_cancel(struct replay *r)
{
	release_held(r);
	if (r->inflight)
		r->cancelled = true; /* page_cb frees it */
	else
		replay_free(r);
}
