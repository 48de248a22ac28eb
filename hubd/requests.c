/* requests.c -- control requests: checks, authorization, hub operations. */
#include "config.h"

#include "requests.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "authz.h"
#include "cors.h"
#include "ctl_request.h"
#include "hub.h"
#include "log.h"
#include "match.h"
#include "msg.h"
#include "settings.h"
#include "store/store.h"
#include "subscriptions.h"
#include "url.h"
#include "utf8.h"

#define HISTORY_BODY_MAX (8u * 1024 * 1024)
#define HUB_PATH_OF_LINK "/.well-known/mercure" /* no hub URL known: the path */

/* Where and how one request is answered: the peer (referenced), the
 * request id, and the CORS header lines every reply to it carries
 * (computed once from its ORIGIN). Lives on the stack for requests answered
 * at once, inside the context of those answered later. */
struct answer {
	struct ctl_peer *peer;  /* NULL: answered through done instead */
	requests_done_fn done;  /* publishes from the publish listener */
	void *done_arg;
	uint32_t request;
	char *origin;  /* the Origin request header, or NULL */
	char *headers; /* CORS lines, or NULL */
};

/* Sets a up for request (its id) from peer p (NULL: answered through
 * done), with the request's checked Origin (borrowed, or NULL). */
static void answer_init(struct answer *a, const struct requests *rq, struct ctl_peer *p,
			uint32_t request, const char *origin, bool preflight)
{
	a->peer = p ? ctl_peer_ref(p) : NULL;
	a->done = NULL;
	a->done_arg = NULL;
	a->request = request;
	a->origin = origin ? xstrdup(origin) : NULL;
	a->headers = NULL;
	struct buf b = {0};
	cors_headers(rq->cfg->cors_origins, a->origin, preflight, &b);
	if (b.len)
		a->headers = buf_steal(&b, NULL);
}

/* answer_init for the request m, with its ORIGIN field. */
static void answer_init_msg(struct answer *a, const struct requests *rq, struct ctl_peer *p,
			    const struct ctl_msg *m, bool preflight)
{
	struct ctl_credentials c;
	ctl_credentials_decode(m, &c);
	answer_init(a, rq, p, m->request, c.origin, preflight);
	ctl_credentials_clear(&c);
}

static void answer_done(struct answer *a)
{
	ctl_peer_unref(a->peer);
	free(a->origin);
	free(a->headers);
}

/* Sends CTL_OK with fields (may be empty) plus the CORS headers. */
static void answer_ok(const struct answer *a, struct buf *fields)
{
	if (a->headers)
		ctl_put_str(fields, CTL_T_HEADERS, a->headers);
	ctl_peer_reply(a->peer, CTL_OK, a->request, fields->p, fields->len);
}

/* Sends CTL_ERROR with status and text plus the CORS headers. */
/* Answers with an error status and text; retry (CTL_RETRY_*, 0: none)
 * says when a retry can cure it, for hub.fcgi's retry answer. */
static void answer_refusal(const struct answer *a, int status, const char *text,
			   uint32_t retry, const char *extra)
{
	struct buf h = {0};
	buf_adds(&h, a->headers ? a->headers : "");
	buf_adds(&h, extra ? extra : "");
	if (!a->peer) {
		a->done(a->done_arg, status, text, h.p);
		buf_free(&h);
		return;
	}
	struct buf b = {0};
	ctl_put_u32(&b, CTL_T_STATUS, (uint32_t)status);
	ctl_put_str(&b, CTL_T_MESSAGE, text);
	if (retry)
		ctl_put_u32(&b, CTL_T_RETRY, retry);
	if (h.len)
		ctl_put(&b, CTL_T_HEADERS, h.p, h.len);
	ctl_peer_reply(a->peer, CTL_ERROR, a->request, b.p, b.len);
	buf_free(&b);
	buf_free(&h);
}

static void answer_error(const struct answer *a, int status, const char *text)
{
	answer_refusal(a, status, text, 0, NULL);
}

/* Answers an authorization refusal (with its challenge) and frees it. */
static void answer_authz(const struct answer *a, struct authz_refusal *r)
{
	answer_refusal(a, r->status, r->text, 0, r->headers);
	free(r->headers);
	r->headers = NULL;
}

static struct authz_env env_of(const struct requests *rq)
{
	return (struct authz_env){.cfg = rq->cfg, .tokens = rq->tokens, .hub_url = rq->hub_url};
}

/* ---- subscribe --------------------------------------------------------- */

/* The match rules of a checked subscribe with its authorization, or NULL
 * with err for a URL pattern that does not compile. */
static struct match_rules *subscribe_rules(const struct requests *rq,
					   const struct ctl_subscribe *sub,
					   const struct authz *az, char *err, size_t errlen)
{
	static const enum match_syntax syntax_of[] = {
		[CTL_MATCHER_TOPIC] = MATCH_TOPIC_SELECTOR,
		[CTL_MATCHER_EXACT] = MATCH_EXACT,
		[CTL_MATCHER_URLPATTERN] = MATCH_URLPATTERN,
	};
	struct match_spec topics[CTL_MATCHERS_MAX];
	for (int i = 0; i < sub->nmatchers; i++)
		topics[i] = (struct match_spec){syntax_of[sub->matchers[i].kind],
						sub->matchers[i].text};
	int nallowed;
	struct match_spec *allowed = authz_read_specs(az, &nallowed);
	struct match_rules *r = match_rules_build(topics, sub->nmatchers, allowed, nallowed,
						  rq->hub_url, err, errlen);
	free(allowed);
	return r;
}

/* Opens the stream of a checked subscribe; answers it. */
static void open_stream(struct requests *rq, const struct answer *a, struct ctl_subscribe *sub,
			const struct authz *az)
{
	char err[256];
	struct match_rules *rules = subscribe_rules(rq, sub, az, err, sizeof err);
	if (!rules) {
		answer_error(a, 400, err);
		return;
	}
	struct authz_env env = env_of(rq);
	struct hub_sub_request req = {
		.fd = sub->fd,
		.mode = (int)sub->mode,
		.request_id = sub->fcgi_request_id,
		.no_x_accel = (sub->stream_opts & CTL_STREAM_NO_X_ACCEL) != 0,
		.probe_twice = (sub->stream_opts & CTL_STREAM_PROBE_TWICE) != 0,
		.draft08 = ctl_subscribe_is_draft08(sub),
		.rules = rules,
		.exp_s = az->exp_s,
		.last_event_id = sub->last_event_id,
		.extra_headers = a->headers,
		.payload = authz_payload(&env, az, sub),
		.client_addr = sub->client_addr,
		.token_key = az->has_token ? az->token_key : NULL,
	};
	sub->fd = -1; /* hub_subscribe takes it, and the rules */
	int status = hub_subscribe(rq->hub, &req, err, sizeof err);
	if (status == 503 || status == 429)
		answer_refusal(a, status, err,
			       hub_shutting_down(rq->hub) ? CTL_RETRY_SOON : CTL_RETRY_LATER, NULL);
	else if (status)
		answer_error(a, status, err);
	else /* the CORS headers go out on the stream itself */
		ctl_peer_reply(a->peer, CTL_OK, a->request, NULL, 0);
}

static void handle_subscribe(struct requests *rq, struct ctl_peer *p, struct ctl_msg *m)
{
	char err[256];
	struct ctl_subscribe sub;
	int status = ctl_subscribe_decode(m, &sub, err, sizeof err);
	if (status < 0) {
		ctl_peer_reply_error(p, m->request, 400, err);
		ctl_peer_close(p, "malformed subscribe");
		ctl_subscribe_clear(&sub);
		return;
	}
	struct answer a;
	answer_init(&a, rq, p, m->request, sub.cred.origin, false);
	struct authz az = {0};
	struct authz_refusal refused;
	struct authz_env env = env_of(rq);
	if (!status && !ctl_subscribe_is_draft08(&sub) && !rq->cfg->draft07) {
		status = 400;
		snprintf(err, sizeof err, "this hub speaks Mercure 1.0 (draft-08) only: subscribe "
			 "with match (or match_urlpattern), not topic");
	}
	if (status)
		answer_error(&a, status, err);
	else if (authz_check(&env, &sub.cred, ctl_subscribe_is_draft08(&sub) ? 8 : 7,
			     AUTHZ_SUBSCRIBER, !rq->cfg->allow_anonymous, &az, &refused))
		answer_authz(&a, &refused);
	else
		open_stream(rq, &a, &sub, &az);
	ctl_subscribe_clear(&sub);
	authz_clear(&az);
	answer_done(&a);
}

/* ---- publish ----------------------------------------------------------- */

static void published_cb(void *arg, int status, const char *text)
{
	struct answer *a = arg;
	if (status == 200 && !a->peer) {
		a->done(a->done_arg, status, text, NULL);
	} else if (status == 200) {
		struct buf b = {0};
		ctl_put_str(&b, CTL_T_ID, text);
		answer_ok(a, &b);
		buf_free(&b);
	} else {
		answer_error(a, status, text);
	}
	answer_done(a);
	free(a);
}

/* Draft-08's own rules for an update, whatever the token: no topic "*"
 * or under the hub's own path (after resolution against the hub's URL and
 * dot-segment removal), text without control or format characters, the
 * type "mercure" and the id "earliest" reserved, data in UTF-8. Returns 0,
 * or 400 with err. */
static int check_publish08(const struct requests *rq, const struct ctl_publish *pub,
			   char *err, size_t errlen)
{
	char why[96];
	const char *hub_path = rq->hub_url->c[URL_PATHNAME];
	for (int i = 0; i < pub->topics.n; i++) {
		const char *t = pub->topics.v[i];
		struct url u;
		if (strcmp(t, "*") == 0) {
			snprintf(err, errlen, "the topic * is the wildcard: it cannot be published");
			return 400;
		}
		if (!utf8_matcher_ok(t, strlen(t), why, sizeof why)) {
			snprintf(err, errlen, "a topic must be UTF-8 without control or format "
				 "characters (%s)", why);
			return 400;
		}
		if (url_parse(&u, t, strlen(t), rq->hub_url, NULL, 0) == 0) {
			bool reserved = url_path_under(&u, hub_path);
			url_clear(&u);
			if (reserved) {
				snprintf(err, errlen, "topics under %s are the hub's own", hub_path);
				return 400;
			}
		}
	}
	if ((pub->id && (strcmp(pub->id, "earliest") == 0 ||
			 !utf8_matcher_ok(pub->id, strlen(pub->id), NULL, 0))) ||
	    (pub->type && (strcmp(pub->type, "mercure") == 0 ||
			   !utf8_matcher_ok(pub->type, strlen(pub->type), NULL, 0)))) {
		snprintf(err, errlen, "the id earliest and the type mercure are reserved; neither "
			 "may hold control or format characters");
		return 400;
	}
	if (pub->data && !utf8_valid(pub->data, pub->data_len)) {
		snprintf(err, errlen, "data must be UTF-8");
		return 400;
	}
	return 0;
}

/* Over HTTP the publisher's token must cover every topic of the update
 * (draft-07: mercure.publish; draft-08: publish grants), and a draft-08
 * update must follow draft-08's rules. Returns 0, or the status with *r
 * filled. */
static int check_publisher(const struct requests *rq, const struct ctl_publish *pub,
			   const char *origin, struct authz_refusal *r)
{
	memset(r, 0, sizeof *r);
	if (!pub->http)
		return 0; /* local administrator, trusted by socket permissions */
	struct authz az;
	struct authz_env env = env_of(rq);
	char err[256];
	int status = authz_check(&env, &pub->cred, 0, AUTHZ_PUBLISHER, true, &az, r);
	if (status) {
		authz_clear(&az);
		return status;
	}
	/* A browser sends cookies along on any site's request: a publish
	 * authorized by a cookie must come from a page of a listed origin
	 * (CSRF protection). */
	if (az.via_cookie && !cors_origin_listed(rq->cfg->publish_origins, origin)) {
		snprintf(err, sizeof err, "publishing with cookie authorization is not allowed from %s",
			 origin ? "this origin" : "a request without an Origin header");
		authz_refuse(&az, 403, "insufficient_scope", err, r);
		status = 403;
	} else if (az.draft == 8 && (status = check_publish08(rq, pub, err, sizeof err))) {
		authz_refuse(&az, 400, NULL, err, r);
		free(r->headers); /* a bad update, not a bad token: no challenge */
		r->headers = NULL;
	} else {
		struct match_rules *may = authz_publish_rules(&env, &az);
		for (int i = 0; !status && i < pub->topics.n; i++) {
			if (!may || !match_rules_allows(may, pub->topics.v[i])) {
				authz_refuse(&az, 403, "insufficient_scope",
					     "the token does not allow publishing to this topic", r);
				status = 403;
			}
		}
		match_rules_free(may);
	}
	authz_clear(&az);
	return status;
}

/* Authorizes and performs the checked publish pub, answered through a
 * (malloc'ed, freed once answered). */
static void publish(struct requests *rq, struct answer *a, const struct ctl_publish *pub)
{
	struct authz_refusal refused;
	if (check_publisher(rq, pub, a->origin, &refused)) {
		answer_authz(a, &refused);
		answer_done(a);
		free(a);
		return;
	}
	struct msg *msg = msg_new(pub->id, (const char *const *)pub->topics.v, pub->topics.n,
				  pub->type, pub->has_retry ? (int64_t)pub->retry_ms : -1, pub->priv,
				  pub->data, pub->data_len);
	hub_publish(rq->hub, msg, published_cb, a);
}

static void handle_publish(struct requests *rq, struct ctl_peer *p, struct ctl_msg *m)
{
	char err[256];
	struct ctl_publish pub;
	int status = ctl_publish_decode(m, &pub, rq->cfg->max_update, err, sizeof err);
	struct answer *a = xmalloc(sizeof *a);
	answer_init(a, rq, p, m->request, pub.cred.origin, false);
	if (status) {
		answer_error(a, status, err);
		answer_done(a);
		free(a);
	} else {
		publish(rq, a, &pub);
	}
	ctl_publish_clear(&pub);
}

void requests_publish(struct requests *rq, struct ctl_publish *pub, requests_done_fn done,
		      void *arg)
{
	char err[200];
	int status = ctl_publish_check(pub, rq->cfg->max_update, err, sizeof err);
	if (status) {
		done(arg, status, err, NULL);
	} else {
		struct answer *a = xmalloc(sizeof *a);
		answer_init(a, rq, NULL, 0, pub->cred.origin, false);
		a->done = done;
		a->done_arg = arg;
		publish(rq, a, pub);
	}
	ctl_publish_clear(pub);
}

/* ---- history ----------------------------------------------------------- */

struct history_reply {
	struct answer a;
	bool asked_after;
	struct match_rules *rules; /* the query's filter_arg */
};

static void add_time(struct buf *b, int64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	char s[32];
	gmtime_r(&t, &tm);
	strftime(s, sizeof s, "%Y-%m-%dT%H:%M:%S", &tm);
	buf_printf(b, "\"%s.%03dZ\"", s, (int)(ms % 1000));
}

/* Appends one update as a JSON object. */
static void add_update_json(struct buf *b, const struct msg *m)
{
	buf_adds(b, "{\"id\":");
	buf_add_json_string(b, m->id, strlen(m->id));
	buf_adds(b, ",\"topics\":[");
	for (int i = 0; i < m->ntopics; i++) {
		if (i)
			buf_addc(b, ',');
		buf_add_json_string(b, m->topics[i], strlen(m->topics[i]));
	}
	buf_adds(b, "],\"type\":");
	if (m->type)
		buf_add_json_string(b, m->type, strlen(m->type));
	else
		buf_adds(b, "null");
	buf_adds(b, ",\"data\":");
	buf_add_json_string(b, m->data, m->datalen);
	buf_adds(b, ",\"time\":");
	add_time(b, m->time_ms);
	buf_addc(b, '}');
}

static void history_cb(void *arg, enum store_status status, struct msg **msgs, int n,
		       bool after_found, store_pos after_pos, bool has_more)
{
	struct history_reply *r = arg;
	(void)after_pos;
	if (status != STORE_OK) {
		answer_error(&r->a, 503, "history unavailable");
	} else if (r->asked_after && !after_found) {
		answer_error(&r->a, 404, "no retained update has that id");
	} else {
		struct buf body = {0};
		const char *next = NULL;
		buf_addc(&body, '[');
		for (int i = 0; i < n; i++) {
			if (i > 0 && body.len > HISTORY_BODY_MAX) {
				next = msgs[i - 1]->id; /* the page is full */
				break;
			}
			if (i)
				buf_addc(&body, ',');
			add_update_json(&body, msgs[i]);
		}
		buf_addc(&body, ']');
		if (!next && has_more && n > 0)
			next = msgs[n - 1]->id;
		struct buf b = {0};
		ctl_put(&b, CTL_T_BODY, body.p, body.len);
		if (next)
			ctl_put_str(&b, CTL_T_NEXT, next);
		answer_ok(&r->a, &b);
		buf_free(&b);
		buf_free(&body);
	}
	for (int i = 0; i < n; i++)
		msg_unref(msgs[i]);
	answer_done(&r->a);
	match_rules_free(r->rules);
	free(r);
}

static void handle_history(struct requests *rq, struct ctl_peer *p, struct ctl_msg *m)
{
	char err[256];
	struct ctl_history h;
	int status = ctl_history_decode(m, &h, err, sizeof err);
	struct history_reply *r = xcalloc(1, sizeof *r);
	answer_init(&r->a, rq, p, m->request, h.cred.origin, false);
	/* Over HTTP the reader's token decides which private updates it sees;
	 * a local administrator sees them all. */
	struct authz az = {0};
	struct authz_refusal refused;
	struct authz_env env = env_of(rq);
	if (status) {
		answer_error(&r->a, status, err);
	} else if (h.http && authz_check(&env, &h.cred, 0, AUTHZ_SUBSCRIBER,
					 !rq->cfg->allow_anonymous, &az, &refused)) {
		answer_authz(&r->a, &refused);
	} else {
		static const struct match_spec everything = {MATCH_TOPIC_SELECTOR, "*"};
		struct match_spec topics[MSG_MAX_TOPICS];
		for (int i = 0; i < h.topics.n; i++)
			topics[i] = (struct match_spec){MATCH_TOPIC_SELECTOR, h.topics.v[i]};
		int nallowed = 1;
		struct match_spec *allowed = h.http ? authz_read_specs(&az, &nallowed) : NULL;
		r->rules = match_rules_build(topics, h.topics.n, h.http ? allowed : &everything,
					     nallowed, rq->hub_url, err, sizeof err);
		free(allowed);
		if (!r->rules)
			answer_error(&r->a, 400, err);
	}
	authz_clear(&az);
	if (!r->rules) {
		ctl_history_clear(&h);
		answer_done(&r->a);
		free(r);
		return;
	}
	uint32_t limit = h.limit;
	if (limit == 0 || limit > (uint32_t)rq->cfg->history_limit)
		limit = (uint32_t)rq->cfg->history_limit;
	const char *names[MSG_MAX_TOPICS];
	struct store_query q = {
		.topics = names,
		.ntopics = match_rules_store_topics(r->rules, names),
		.after_id = h.after,
		.limit = (int)limit,
		.include_private = r->rules->nallowed > 0,
		.filter = match_rules_accept,
		.filter_arg = r->rules,
	};
	r->asked_after = h.after != NULL;
	struct store *store = hub_store(rq->hub);
	store->ops->query(store, &q, history_cb, r);
	ctl_history_clear(&h);
}

/* Where a subscriptions API request points, in its draft. */
struct subs_target {
	bool draft08;
	const char *match_type, *match, *subscriber; /* draft-08 */
	const char *topic;                           /* draft-07, and subscriber */
};

/* The target of sq under az's draft into *t and its IRI into iri (the
 * topic a token must grant); 404 for a draft-08 path that is no
 * resource (one segment, an unknown matcher type), a draft-07 one with
 * three segments. */
static int subs_target(const struct ctl_subscriptions *sq, const struct authz *az,
		       struct subs_target *t, struct buf *iri)
{
	memset(t, 0, sizeof *t);
	t->draft08 = az->draft == 8;
	if (!t->draft08) {
		if (sq->third)
			return 404;
		t->topic = sq->topic;
		t->subscriber = sq->subscriber;
		subscriptions_iri(iri, t->topic, t->subscriber);
		return 0;
	}
	if ((sq->topic && !sq->subscriber) ||
	    (sq->topic && strcmp(sq->topic, "exact") != 0 && strcmp(sq->topic, "urlpattern") != 0))
		return 404;
	t->match_type = sq->topic;
	t->match = sq->subscriber;
	t->subscriber = sq->third;
	subscriptions_iri08(iri, t->match_type, t->match, t->subscriber);
	return 0;
}

/* The Link header of a draft-08 subscriptions answer: the hub, with the
 * cursor to subscribe to its events from. */
static char *subs_link(const struct requests *rq, const struct ctl_subscriptions *sq)
{
	const char *hub = rq->cfg->resource ? rq->cfg->resource : sq->cred.hub_url;
	const char *last = hub_last_id(rq->hub);
	struct buf b = {0};
	buf_printf(&b, "Link: <%s>; rel=\"mercure\"; last-event-id=\"%s\"; type=\"mercure\"; "
		       "content-type=\"application/json\"\r\n",
		   hub ? hub : HUB_PATH_OF_LINK, last ? last : "earliest");
	return buf_steal(&b, NULL);
}

/* The subscriptions API. Over HTTP the reader needs a token whose
 * subscribe matchers cover the IRI asked for (as Mercure does: e.g.
 * "/.well-known/mercure/subscriptions{/topic}{/subscriber}"); the token's
 * draft says which API it is. */
static void handle_subscriptions(struct requests *rq, struct ctl_peer *p, struct ctl_msg *m)
{
	char err[256];
	struct ctl_subscriptions sq;
	int status = ctl_subscriptions_decode(m, &sq, err, sizeof err);
	struct answer a;
	answer_init(&a, rq, p, m->request, sq.cred.origin, false);
	struct buf iri = {0}, body = {0};
	struct authz az = {0};
	struct authz_refusal refused = {0};
	struct subs_target t = {0};
	struct authz_env env = env_of(rq);
	if (!status && !rq->cfg->subscriptions) {
		status = 404;
		snprintf(err, sizeof err, "the subscriptions API is off (subscriptions = no)");
	} else if (!status && sq.http) {
		status = authz_check(&env, &sq.cred, 0, AUTHZ_SUBSCRIBER, true, &az, &refused);
	} else if (!status) {
		az.draft = sq.third ? 8 : 7; /* a local reader: the path says */
	}
	if (!status && (status = subs_target(&sq, &az, &t, &iri)))
		snprintf(err, sizeof err, "not found");
	if (!status && sq.http) {
		int n;
		struct match_spec *allowed = authz_read_specs(&az, &n);
		struct match_rules *r = match_rules_build(NULL, 0, allowed, n, rq->hub_url, NULL, 0);
		free(allowed);
		if (!r || !match_rules_allows(r, iri.p)) {
			snprintf(err, sizeof err, "the token does not cover %s", iri.p);
			authz_refuse(&az, 403, "insufficient_scope", err, &refused);
			status = 403;
		}
		match_rules_free(r);
	}
	if (!status)
		status = t.draft08 ? hub_subscriptions_json08(rq->hub, t.match_type, t.match,
							      t.subscriber, &body)
				   : hub_subscriptions_json(rq->hub, t.topic, t.subscriber, &body);
	if (status == 200) {
		struct buf b = {0};
		ctl_put(&b, CTL_T_BODY, body.p, body.len);
		if (t.draft08) {
			char *link = subs_link(rq, &sq);
			struct buf h = {0};
			buf_adds(&h, a.headers ? a.headers : "");
			buf_adds(&h, link);
			ctl_put_str(&b, CTL_T_TYPE, "application/json");
			ctl_put(&b, CTL_T_HEADERS, h.p, h.len);
			free(link);
			buf_free(&h);
			ctl_peer_reply(a.peer, CTL_OK, a.request, b.p, b.len);
		} else {
			answer_ok(&a, &b);
		}
		buf_free(&b);
	} else if (refused.status) {
		answer_authz(&a, &refused);
	} else {
		answer_error(&a, status, status == 404 && rq->cfg->subscriptions
						 ? "no such subscription" : err);
	}
	authz_clear(&az);
	buf_free(&iri);
	buf_free(&body);
	ctl_subscriptions_clear(&sq);
	answer_done(&a);
}

/* RFC 9728: the hub's protected resource metadata (draft-08 discovery). */
static void handle_metadata(struct requests *rq, struct ctl_peer *p, struct ctl_msg *m)
{
	struct ctl_credentials c;
	ctl_credentials_decode(m, &c);
	struct answer a;
	answer_init(&a, rq, p, m->request, c.origin, false);
	const char *resource = rq->cfg->resource ? rq->cfg->resource : c.hub_url;
	if (!resource) {
		answer_error(&a, 404, "no resource: set resource in hubd's settings");
	} else {
		struct buf body = {0}, b = {0};
		buf_adds(&body, "{\"resource\":");
		buf_add_json_string(&body, resource, strlen(resource));
		buf_adds(&body, ",\"authorization_details_types_supported\":"
				"[\"https://mercure.rocks/authorization-detail\"]"
				",\"bearer_methods_supported\":[\"header\"]"
				",\"mercure_cookie\":");
		buf_add_json_string(&body, rq->cfg->token_cookie, strlen(rq->cfg->token_cookie));
		buf_adds(&body, ",\"mercure_matcher_types_supported\":[\"exact\",\"urlpattern\"]");
		if (rq->cfg->subscriptions)
			buf_adds(&body, ",\"mercure_subscriptions\":true");
		buf_adds(&body, "}");
		ctl_put(&b, CTL_T_BODY, body.p, body.len);
		answer_ok(&a, &b);
		buf_free(&b);
		buf_free(&body);
	}
	ctl_credentials_clear(&c);
	answer_done(&a);
}

/* A CORS preflight: the headers for a 204. */
static void handle_preflight(struct requests *rq, struct ctl_peer *p, struct ctl_msg *m)
{
	struct answer a;
	struct buf b = {0};
	answer_init_msg(&a, rq, p, m, true);
	answer_ok(&a, &b);
	buf_free(&b);
	answer_done(&a);
}

/* ---- dispatch ---------------------------------------------------------- */

void requests_handle(void *arg, struct ctl_peer *p, struct ctl_msg *m)
{
	struct requests *rq = arg;
	char err[200];
	err[0] = '\0';
	(void)ctl_request_check(m, err, sizeof err);
	if (err[0]) {
		ctl_peer_reply_error(p, m->request, 400, err);
		ctl_peer_close(p, err);
		ctl_msg_clear(m);
		return;
	}
	ctl_peer_ref(p);
	switch (m->type) {
	case CTL_SUBSCRIBE: handle_subscribe(rq, p, m); break;
	case CTL_PUBLISH: handle_publish(rq, p, m); break;
	case CTL_HISTORY: handle_history(rq, p, m); break;
	case CTL_PREFLIGHT: handle_preflight(rq, p, m); break;
	case CTL_SUBSCRIPTIONS: handle_subscriptions(rq, p, m); break;
	case CTL_METADATA: handle_metadata(rq, p, m); break;
	case CTL_STATS: {
		struct buf body = {0}, b = {0};
		hub_stats_json(rq->hub, &body);
		ctl_put(&b, CTL_T_BODY, body.p, body.len);
		ctl_peer_reply_ok(p, m->request, b.p, b.len);
		buf_free(&body);
		buf_free(&b);
		break;
	}
	}
	ctl_peer_unref(p);
	ctl_msg_clear(m);
}
