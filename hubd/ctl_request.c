/* ctl_request.c -- control requests decoded, checked and encoded (see
 * ctl_request.h). */
#include "config.h"

#include "ctl_request.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mercure_form.h"
#include "utf8.h"

/* Which tags a request type takes, and how often (min..max). */
struct field_rule {
	uint16_t tag;
	int min, max;
};

static const struct field_rule subscribe_rules[] = {
	{CTL_T_TOPIC, 0, CTL_MATCHERS_MAX},
	{CTL_T_MATCH_EXACT, 0, CTL_MATCHERS_MAX},
	{CTL_T_MATCH_URLPATTERN, 0, CTL_MATCHERS_MAX},
	{CTL_T_LAST_EVENT_ID, 0, 1},
	{CTL_T_MODE, 1, 1},
	{CTL_T_FCGI_REQUEST_ID, 0, 1},
	{CTL_T_AUTH, 0, 1},
	{CTL_T_AUTH_SOURCE, 0, 1},
	{CTL_T_ORIGIN, 0, 1},
	{CTL_T_STREAM_OPTS, 0, 1},
	{CTL_T_CLIENT_ADDR, 0, 1},
	{CTL_T_COOKIE, 0, 1},
	{CTL_T_HUB_URL, 0, 1},
	{0, 0, 0},
};
static const struct field_rule publish_rules[] = {
	{CTL_T_TOPIC, 1, MSG_MAX_TOPICS}, {CTL_T_DATA, 0, 1}, {CTL_T_ID, 0, 1},
	{CTL_T_TYPE, 0, 1},               {CTL_T_RETRY, 0, 1}, {CTL_T_PRIVATE, 0, 1},
	{CTL_T_HTTP, 0, 1},               {CTL_T_AUTH, 0, 1},  {CTL_T_AUTH_SOURCE, 0, 1},
	{CTL_T_ORIGIN, 0, 1},             {CTL_T_COOKIE, 0, 1}, {CTL_T_HUB_URL, 0, 1},
	{0, 0, 0},
};
static const struct field_rule history_rules[] = {
	{CTL_T_TOPIC, 1, MSG_MAX_TOPICS}, {CTL_T_AFTER, 0, 1}, {CTL_T_LIMIT, 0, 1},
	{CTL_T_HTTP, 0, 1},               {CTL_T_AUTH, 0, 1},  {CTL_T_AUTH_SOURCE, 0, 1},
	{CTL_T_ORIGIN, 0, 1},             {CTL_T_COOKIE, 0, 1}, {CTL_T_HUB_URL, 0, 1},
	{0, 0, 0},
};
static const struct field_rule stats_rules[] = {{0, 0, 0}};
static const struct field_rule preflight_rules[] = {{CTL_T_ORIGIN, 0, 1}, {0, 0, 0}};
static const struct field_rule metadata_rules[] = {
	{CTL_T_HUB_URL, 0, 1}, {CTL_T_ORIGIN, 0, 1}, {0, 0, 0}};
static const struct field_rule subscriptions_rules[] = {
	{CTL_T_TOPIC, 0, 1},       {CTL_T_SUBSCRIBER, 0, 1}, {CTL_T_THIRD_SEGMENT, 0, 1},
	{CTL_T_HTTP, 0, 1},        {CTL_T_AUTH, 0, 1},
	{CTL_T_AUTH_SOURCE, 0, 1}, {CTL_T_ORIGIN, 0, 1},     {CTL_T_COOKIE, 0, 1},
	{CTL_T_HUB_URL, 0, 1},     {0, 0, 0},
};

/* The tags whose value is a u32. */
static const uint16_t u32_tags[] = {
	CTL_T_MODE, CTL_T_FCGI_REQUEST_ID, CTL_T_RETRY,       CTL_T_PRIVATE,
	CTL_T_HTTP, CTL_T_LIMIT,           CTL_T_AUTH_SOURCE, CTL_T_STREAM_OPTS,
};

static const struct field_rule *rules_of(uint16_t type)
{
	switch (type) {
	case CTL_SUBSCRIBE: return subscribe_rules;
	case CTL_PUBLISH: return publish_rules;
	case CTL_HISTORY: return history_rules;
	case CTL_STATS: return stats_rules;
	case CTL_PREFLIGHT: return preflight_rules;
	case CTL_SUBSCRIPTIONS: return subscriptions_rules;
	case CTL_METADATA: return metadata_rules;
	default: return NULL;
	}
}

static int fail(int status, char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int fail(int status, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return status;
}

int ctl_request_check(const struct ctl_msg *m, char *err, size_t errlen)
{
	const struct field_rule *rules = rules_of(m->type);
	if (!rules)
		return fail(-1, err, errlen, "unknown request type %u", (unsigned)m->type);
	for (int i = 0; i < m->nfields; i++) {
		const struct field_rule *r = rules;
		while (r->tag && r->tag != m->fields[i].tag)
			r++;
		if (!r->tag)
			return fail(-1, err, errlen, "field %u not allowed in message type %u",
				    (unsigned)m->fields[i].tag, (unsigned)m->type);
	}
	for (const struct field_rule *r = rules; r->tag; r++) {
		int n = ctl_count(m, r->tag);
		if (n < r->min || n > r->max)
			return fail(-1, err, errlen, "field %u appears %d times (allowed %d to %d)",
				    (unsigned)r->tag, n, r->min, r->max);
	}
	for (size_t i = 0; i < sizeof u32_tags / sizeof u32_tags[0]; i++) {
		const struct ctl_field *f = ctl_find(m, u32_tags[i]);
		if (f && f->len != 4)
			return fail(-1, err, errlen, "field %u must be 4 bytes",
				    (unsigned)u32_tags[i]);
	}
	if (m->type != CTL_SUBSCRIBE && m->fd >= 0)
		return fail(-1, err, errlen, "a descriptor was passed with request type %u",
			    (unsigned)m->type);
	int nmatchers = ctl_count(m, CTL_T_TOPIC) + ctl_count(m, CTL_T_MATCH_EXACT) +
			ctl_count(m, CTL_T_MATCH_URLPATTERN);
	if (m->type == CTL_SUBSCRIBE && (nmatchers < 1 || nmatchers > CTL_MATCHERS_MAX))
		return fail(-1, err, errlen, "a subscribe takes 1 to %d topics or matchers, not %d",
			    CTL_MATCHERS_MAX, nmatchers);
	return 0;
}

/* ---- credentials --------------------------------------------------------- */

/* A copy of m's tag field when it is 1..max bytes without control
 * characters, else NULL. */
static char *printable_field(const struct ctl_msg *m, uint16_t tag, size_t max)
{
	const struct ctl_field *f = ctl_find(m, tag);
	if (f && f->len > 0 && f->len <= max && !mercure_has_control(f->val, f->len))
		return ctl_field_str(f);
	return NULL;
}

void ctl_credentials_decode(const struct ctl_msg *m, struct ctl_credentials *out)
{
	memset(out, 0, sizeof *out);
	const struct ctl_field *f = ctl_find(m, CTL_T_AUTH);
	if (f && f->len > 0) {
		out->token = ctl_field_str(f);
		out->token_len = f->len;
		if (!ctl_field_u32(ctl_find(m, CTL_T_AUTH_SOURCE), &out->source))
			out->source = 0;
	}
	out->origin = printable_field(m, CTL_T_ORIGIN, CTL_ORIGIN_MAX_LEN);
	out->cookie = printable_field(m, CTL_T_COOKIE, CTL_COOKIE_MAX_LEN);
	out->hub_url = printable_field(m, CTL_T_HUB_URL, CTL_HUB_URL_MAX_LEN);
}

void ctl_credentials_encode(const struct ctl_credentials *c, struct buf *p)
{
	if (c->token) {
		ctl_put(p, CTL_T_AUTH, c->token, c->token_len);
		ctl_put_u32(p, CTL_T_AUTH_SOURCE, c->source);
	}
	if (c->origin)
		ctl_put_str(p, CTL_T_ORIGIN, c->origin);
	if (c->cookie)
		ctl_put_str(p, CTL_T_COOKIE, c->cookie);
	if (c->hub_url)
		ctl_put_str(p, CTL_T_HUB_URL, c->hub_url);
}

void ctl_credentials_clear(struct ctl_credentials *c)
{
	free(c->token);
	free(c->origin);
	free(c->cookie);
	free(c->hub_url);
	memset(c, 0, sizeof *c);
}

/* ---- subscribe ----------------------------------------------------------- */

/* The tag of each matcher kind, in enum order. */
static const uint16_t matcher_tags[] = {CTL_T_TOPIC, CTL_T_MATCH_EXACT, CTL_T_MATCH_URLPATTERN};

bool ctl_subscribe_is_draft08(const struct ctl_subscribe *s)
{
	return s->nmatchers > 0 && s->matchers[0].kind != CTL_MATCHER_TOPIC;
}

int ctl_subscribe_add_matcher(struct ctl_subscribe *s, enum ctl_matcher_kind kind,
			      const char *text, size_t n)
{
	if (s->nmatchers == CTL_MATCHERS_MAX)
		return -1;
	s->matchers[s->nmatchers].kind = kind;
	s->matchers[s->nmatchers].text = xmemdup(text, n);
	s->nmatchers++;
	return 0;
}

/* A string of one line within max bytes, without NUL; empty when
 * allow_empty. */
static bool line_ok(const char *s, size_t max, bool allow_empty)
{
	size_t n = strlen(s);
	return n <= max && (n > 0 || allow_empty) && !has_line_break(s, n);
}

/* Checks matcher i of s; 0 or 400 with err. */
static int check_matcher(const struct ctl_subscribe *s, int i, char *err, size_t errlen)
{
	const struct ctl_matcher *mt = &s->matchers[i];
	size_t n = strlen(mt->text);
	if (n == 0 || n > CTL_MATCHER_MAX_LEN)
		return fail(400, err, errlen, "a topic or matcher must be 1 to %d bytes",
			    CTL_MATCHER_MAX_LEN);
	if ((mt->kind == CTL_MATCHER_TOPIC) != (s->matchers[0].kind == CTL_MATCHER_TOPIC))
		return fail(400, err, errlen,
			    "topic (Mercure draft-07) and match parameters (draft-08) cannot be mixed");
	char why[96];
	if (mt->kind != CTL_MATCHER_TOPIC && !utf8_matcher_ok(mt->text, n, why, sizeof why))
		return fail(400, err, errlen,
			    "a matcher must be UTF-8 without control or format characters (%s)",
			    why);
	return 0;
}

int ctl_subscribe_check(const struct ctl_subscribe *s, char *err, size_t errlen)
{
	if (s->nmatchers == 0)
		return fail(400, err, errlen, "missing topic (or match)");
	for (int i = 0; i < s->nmatchers; i++) {
		int status = check_matcher(s, i, err, errlen);
		if (status)
			return status;
	}
	if (s->last_event_id && !line_ok(s->last_event_id, CTL_ID_MAX_LEN, true))
		return fail(400, err, errlen, "Last-Event-ID too long or not one line");
	if (s->client_addr && !line_ok(s->client_addr, CTL_CLIENT_ADDR_MAX_LEN, false))
		return fail(400, err, errlen, "client address too long or not one line");
	return 0;
}

/* Copies the text field f into *out unless it holds a NUL byte. */
static bool take_text(const struct ctl_field *f, char **out)
{
	if (memchr(f->val, '\0', f->len))
		return false;
	*out = ctl_field_str(f);
	return true;
}

/* The matchers of m, in their order, into out; 400 for one holding NUL. */
static int decode_matchers(const struct ctl_msg *m, struct ctl_subscribe *out, char *err,
			   size_t errlen)
{
	for (int i = 0; i < m->nfields; i++) {
		const struct ctl_field *f = &m->fields[i];
		for (size_t k = 0; k < sizeof matcher_tags / sizeof matcher_tags[0]; k++) {
			if (f->tag != matcher_tags[k])
				continue;
			if (memchr(f->val, '\0', f->len))
				return fail(400, err, errlen, "a topic or matcher holds a NUL byte");
			if (ctl_subscribe_add_matcher(out, (enum ctl_matcher_kind)k, f->val,
						      f->len) < 0)
				return fail(400, err, errlen, "too many topics or matchers (at most %d)",
					    CTL_MATCHERS_MAX);
		}
	}
	return 0;
}

int ctl_subscribe_decode(struct ctl_msg *m, struct ctl_subscribe *out, char *err,
			 size_t errlen)
{
	memset(out, 0, sizeof *out);
	out->fd = m->fd;
	m->fd = -1;
	uint32_t reqid = 1;
	if (!ctl_field_u32(ctl_find(m, CTL_T_MODE), &out->mode))
		out->mode = 0;
	(void)ctl_field_u32(ctl_find(m, CTL_T_FCGI_REQUEST_ID), &reqid);
	(void)ctl_field_u32(ctl_find(m, CTL_T_STREAM_OPTS), &out->stream_opts);
	if (out->fd < 0)
		return fail(-1, err, errlen, "subscribe needs the connection's descriptor");
	if ((out->mode != CTL_MODE_FCGI && out->mode != CTL_MODE_CGI) || reqid == 0 ||
	    reqid > 65535 ||
	    (out->stream_opts & ~(uint32_t)(CTL_STREAM_NO_X_ACCEL | CTL_STREAM_PROBE_TWICE)))
		return fail(-1, err, errlen, "bad mode, FastCGI request id or stream options");
	out->fcgi_request_id = (uint16_t)reqid;
	ctl_credentials_decode(m, &out->cred);
	const struct ctl_field *lei = ctl_find(m, CTL_T_LAST_EVENT_ID);
	const struct ctl_field *addr = ctl_find(m, CTL_T_CLIENT_ADDR);
	if ((lei && !take_text(lei, &out->last_event_id)) ||
	    (addr && !take_text(addr, &out->client_addr)))
		return fail(400, err, errlen, "Last-Event-ID or client address holds a NUL byte");
	int status = decode_matchers(m, out, err, errlen);
	return status ? status : ctl_subscribe_check(out, err, errlen);
}

void ctl_subscribe_encode(const struct ctl_subscribe *s, struct buf *p)
{
	for (int i = 0; i < s->nmatchers; i++)
		ctl_put_str(p, matcher_tags[s->matchers[i].kind], s->matchers[i].text);
	if (s->last_event_id)
		ctl_put_str(p, CTL_T_LAST_EVENT_ID, s->last_event_id);
	ctl_put_u32(p, CTL_T_MODE, s->mode);
	if (s->mode == CTL_MODE_FCGI)
		ctl_put_u32(p, CTL_T_FCGI_REQUEST_ID, s->fcgi_request_id);
	if (s->stream_opts)
		ctl_put_u32(p, CTL_T_STREAM_OPTS, s->stream_opts);
	if (s->client_addr)
		ctl_put_str(p, CTL_T_CLIENT_ADDR, s->client_addr);
	ctl_credentials_encode(&s->cred, p);
}

void ctl_subscribe_clear(struct ctl_subscribe *s)
{
	for (int i = 0; i < s->nmatchers; i++)
		free(s->matchers[i].text);
	free(s->last_event_id);
	free(s->client_addr);
	ctl_credentials_clear(&s->cred);
	if (s->fd >= 0)
		close(s->fd);
	memset(s, 0, sizeof *s);
	s->fd = -1;
}

/* ---- topics ------------------------------------------------------------- */

int ctl_topics_add(struct ctl_topics *t, const char *text, size_t n)
{
	if (t->n == MSG_MAX_TOPICS)
		return -1;
	t->v[t->n++] = xmemdup(text, n);
	return 0;
}

/* 0, or 400 with err: none, or one empty or too long. */
static int topics_check(const struct ctl_topics *t, char *err, size_t errlen)
{
	if (t->n == 0)
		return fail(400, err, errlen, "missing topic");
	for (int i = 0; i < t->n; i++) {
		size_t n = strlen(t->v[i]);
		if (n == 0 || n > CTL_MATCHER_MAX_LEN)
			return fail(400, err, errlen, "a topic must be 1 to %d bytes",
				    CTL_MATCHER_MAX_LEN);
	}
	return 0;
}

/* The TOPIC fields of m into t; 400 for one holding NUL. (Their count is
 * ctl_request_check's.) */
static int topics_decode(const struct ctl_msg *m, struct ctl_topics *t, char *err,
			 size_t errlen)
{
	for (int i = 0; i < m->nfields; i++) {
		const struct ctl_field *f = &m->fields[i];
		if (f->tag != CTL_T_TOPIC)
			continue;
		if (memchr(f->val, '\0', f->len))
			return fail(400, err, errlen, "a topic holds a NUL byte");
		(void)ctl_topics_add(t, f->val, f->len);
	}
	return 0;
}

static void topics_encode(const struct ctl_topics *t, struct buf *b)
{
	for (int i = 0; i < t->n; i++)
		ctl_put_str(b, CTL_T_TOPIC, t->v[i]);
}

static void topics_clear(struct ctl_topics *t)
{
	for (int i = 0; i < t->n; i++)
		free(t->v[i]);
	t->n = 0;
}

/* ---- publish ------------------------------------------------------------- */

int ctl_publish_check(const struct ctl_publish *p, size_t max_data, char *err, size_t errlen)
{
	int status = topics_check(&p->topics, err, errlen);
	if (status)
		return status;
	if (p->data && p->data_len > max_data)
		return fail(413, err, errlen, "data is larger than %zu bytes", max_data);
	if (p->id && (!line_ok(p->id, CTL_ID_MAX_LEN, false) || p->id[0] == '#'))
		return fail(400, err, errlen,
			    "id must be 1 to %d bytes on one line and not start with #",
			    CTL_ID_MAX_LEN);
	if (p->type && !line_ok(p->type, CTL_TYPE_MAX_LEN, false))
		return fail(400, err, errlen, "type must be 1 to %d bytes on one line",
			    CTL_TYPE_MAX_LEN);
	return 0;
}

int ctl_publish_decode(const struct ctl_msg *m, struct ctl_publish *out, size_t max_data,
		       char *err, size_t errlen)
{
	memset(out, 0, sizeof *out);
	int status = topics_decode(m, &out->topics, err, errlen);
	if (status)
		return status;
	const struct ctl_field *f;
	if ((f = ctl_find(m, CTL_T_DATA))) {
		out->data = ctl_field_str(f);
		out->data_len = f->len;
	}
	if (((f = ctl_find(m, CTL_T_ID)) && !take_text(f, &out->id)) ||
	    ((f = ctl_find(m, CTL_T_TYPE)) && !take_text(f, &out->type)))
		return fail(400, err, errlen, "id or type holds a NUL byte");
	out->has_retry = ctl_field_u32(ctl_find(m, CTL_T_RETRY), &out->retry_ms);
	uint32_t v;
	out->priv = ctl_field_u32(ctl_find(m, CTL_T_PRIVATE), &v) && v != 0;
	out->http = ctl_field_u32(ctl_find(m, CTL_T_HTTP), &v) && v != 0;
	ctl_credentials_decode(m, &out->cred);
	return ctl_publish_check(out, max_data, err, errlen);
}

void ctl_publish_encode(const struct ctl_publish *p, struct buf *b)
{
	topics_encode(&p->topics, b);
	if (p->data)
		ctl_put(b, CTL_T_DATA, p->data, p->data_len);
	if (p->id)
		ctl_put_str(b, CTL_T_ID, p->id);
	if (p->type)
		ctl_put_str(b, CTL_T_TYPE, p->type);
	if (p->has_retry)
		ctl_put_u32(b, CTL_T_RETRY, p->retry_ms);
	if (p->priv)
		ctl_put_u32(b, CTL_T_PRIVATE, 1);
	if (p->http)
		ctl_put_u32(b, CTL_T_HTTP, 1);
	ctl_credentials_encode(&p->cred, b);
}

void ctl_publish_clear(struct ctl_publish *p)
{
	topics_clear(&p->topics);
	free(p->data);
	free(p->id);
	free(p->type);
	ctl_credentials_clear(&p->cred);
	memset(p, 0, sizeof *p);
}

/* ---- history ------------------------------------------------------------- */

int ctl_history_check(const struct ctl_history *h, char *err, size_t errlen)
{
	int status = topics_check(&h->topics, err, errlen);
	if (!status && h->after && !line_ok(h->after, CTL_ID_MAX_LEN, false))
		status = fail(400, err, errlen, "after must be an update id");
	return status;
}

int ctl_history_decode(const struct ctl_msg *m, struct ctl_history *out, char *err,
		       size_t errlen)
{
	memset(out, 0, sizeof *out);
	int status = topics_decode(m, &out->topics, err, errlen);
	if (status)
		return status;
	const struct ctl_field *f = ctl_find(m, CTL_T_AFTER);
	if (f && !take_text(f, &out->after))
		return fail(400, err, errlen, "after must be an update id");
	uint32_t v;
	if (!ctl_field_u32(ctl_find(m, CTL_T_LIMIT), &out->limit))
		out->limit = 0;
	out->http = ctl_field_u32(ctl_find(m, CTL_T_HTTP), &v) && v != 0;
	ctl_credentials_decode(m, &out->cred);
	return ctl_history_check(out, err, errlen);
}

void ctl_history_encode(const struct ctl_history *h, struct buf *b)
{
	topics_encode(&h->topics, b);
	if (h->after)
		ctl_put_str(b, CTL_T_AFTER, h->after);
	if (h->limit)
		ctl_put_u32(b, CTL_T_LIMIT, h->limit);
	if (h->http)
		ctl_put_u32(b, CTL_T_HTTP, 1);
	ctl_credentials_encode(&h->cred, b);
}

void ctl_history_clear(struct ctl_history *h)
{
	topics_clear(&h->topics);
	free(h->after);
	ctl_credentials_clear(&h->cred);
	memset(h, 0, sizeof *h);
}

/* ---- subscriptions ------------------------------------------------------- */

int ctl_subscriptions_check(const struct ctl_subscriptions *s, char *err, size_t errlen)
{
	size_t n = s->topic ? strlen(s->topic) : 0, k = s->subscriber ? strlen(s->subscriber) : 0;
	if ((s->topic && (n == 0 || n > CTL_MATCHER_MAX_LEN)) ||
	    (s->subscriber && (!s->topic || k == 0 || k > CTL_MATCHER_MAX_LEN ||
			       mercure_has_control(s->subscriber, k))) ||
	    (s->third && (!s->subscriber || !line_ok(s->third, CTL_ID_MAX_LEN, false))))
		return fail(400, err, errlen, "a subscriber needs a topic; both must be short text");
	return 0;
}

int ctl_subscriptions_decode(const struct ctl_msg *m, struct ctl_subscriptions *out,
			     char *err, size_t errlen)
{
	memset(out, 0, sizeof *out);
	const struct ctl_field *t = ctl_find(m, CTL_T_TOPIC), *sb = ctl_find(m, CTL_T_SUBSCRIBER);
	const struct ctl_field *th = ctl_find(m, CTL_T_THIRD_SEGMENT);
	if ((t && !take_text(t, &out->topic)) || (sb && !take_text(sb, &out->subscriber)) ||
	    (th && !take_text(th, &out->third)))
		return fail(400, err, errlen, "a topic or subscriber holds a NUL byte");
	uint32_t v;
	out->http = ctl_field_u32(ctl_find(m, CTL_T_HTTP), &v) && v != 0;
	ctl_credentials_decode(m, &out->cred);
	return ctl_subscriptions_check(out, err, errlen);
}

void ctl_subscriptions_encode(const struct ctl_subscriptions *s, struct buf *b)
{
	if (s->topic)
		ctl_put_str(b, CTL_T_TOPIC, s->topic);
	if (s->subscriber)
		ctl_put_str(b, CTL_T_SUBSCRIBER, s->subscriber);
	if (s->third)
		ctl_put_str(b, CTL_T_THIRD_SEGMENT, s->third);
	if (s->http)
		ctl_put_u32(b, CTL_T_HTTP, 1);
	ctl_credentials_encode(&s->cred, b);
}

void ctl_subscriptions_clear(struct ctl_subscriptions *s)
{
	free(s->topic);
	free(s->subscriber);
	free(s->third);
	ctl_credentials_clear(&s->cred);
	memset(s, 0, sizeof *s);
}
