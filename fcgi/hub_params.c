/* hub_params.c -- request parameters to route and control fields (see
 * hub_params.h). Pure functions. */
#include "config.h"

#include "hub_params.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ctl_proto.h"
#include "mercure_form.h"
#include "utf8.h"

/* Writes the reason for status into err and returns status. */
static int refuse(int status, char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int refuse(int status, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return status;
}

char *hub_params_path(hub_param_fn get, void *arg)
{
	const char *uri = get(arg, "REQUEST_URI");
	if (uri && *uri)
		return xmemdup(uri, strcspn(uri, "?"));
	const char *sn = get(arg, "SCRIPT_NAME");
	const char *pi = get(arg, "PATH_INFO");
	struct buf b = {0};
	buf_adds(&b, sn ? sn : "");
	buf_adds(&b, pi ? pi : "");
	return buf_steal(&b, NULL);
}

char *hub_params_hub_url(hub_param_fn get, void *arg)
{
	const char *https = get(arg, "HTTPS");
	const char *scheme = get(arg, "REQUEST_SCHEME");
	bool tls = https && (strcasecmp(https, "on") == 0 || strcmp(https, "1") == 0);
	if (!tls && scheme)
		tls = strcasecmp(scheme, "https") == 0;
	struct buf b = {0};
	buf_adds(&b, tls ? "https://" : "http://");
	const char *host = get(arg, "HTTP_HOST");
	const char *name = get(arg, "SERVER_NAME"), *port = get(arg, "SERVER_PORT");
	if (!http_host_ok(host))
		host = http_host_ok(name) ? name : NULL;
	if (!host) {
		buf_free(&b);
		return NULL;
	}
	buf_adds(&b, host);
	/* A host without a port (nginx passes Host so, and SERVER_NAME has
	 * none) is on the server's port, unless that is the scheme's. */
	const char *colon = strrchr(host, ':'), *bracket = strrchr(host, ']');
	bool has_port = colon && (!bracket || colon > bracket);
	if (!has_port && port && strspn(port, "0123456789") == strlen(port) && *port &&
	    strcmp(port, tls ? "443" : "80") != 0)
		buf_printf(&b, ":%s", port);
	buf_adds(&b, HUB_PATH);
	return buf_steal(&b, NULL);
}

/* The route for method on a path that takes GET (to get) and OPTIONS, and
 * POST when post is not REFUSED. */
static struct hub_target by_method(const char *method, enum hub_route get,
				   enum hub_route post, const char *allow)
{
	struct hub_target t = {.route = HUB_ROUTE_REFUSED, .rest = "", .status = 405,
			       .allow = allow, .text = "method not allowed"};
	if (strcmp(method, "GET") == 0)
		t.route = get;
	else if (strcmp(method, "POST") == 0 && post != HUB_ROUTE_REFUSED)
		t.route = post;
	else if (strcmp(method, "OPTIONS") == 0)
		t.route = HUB_ROUTE_PREFLIGHT;
	return t;
}

struct hub_target hub_params_route(const char *path, const char *method)
{
	size_t n = strlen(SUBSCRIPTIONS_PATH);
	if (strcmp(path, HUB_PATH) == 0 && strcmp(method, "QUERY") == 0)
		return (struct hub_target){.route = HUB_ROUTE_SUBSCRIBE, .rest = "", .body = true};
	if (strcmp(path, HUB_PATH) == 0)
		return by_method(method, HUB_ROUTE_SUBSCRIBE, HUB_ROUTE_PUBLISH,
				 "Allow: GET, POST, QUERY, OPTIONS\r\n");
	if (strncmp(path, SUBSCRIPTIONS_PATH, n) == 0 && (path[n] == '\0' || path[n] == '/')) {
		struct hub_target t = by_method(method, HUB_ROUTE_SUBSCRIPTIONS, HUB_ROUTE_REFUSED,
						"Allow: GET, OPTIONS\r\n");
		t.rest = path + n;
		return t;
	}
	if (strcmp(path, HISTORY_PATH) == 0)
		return by_method(method, HUB_ROUTE_HISTORY, HUB_ROUTE_REFUSED,
				 "Allow: GET, OPTIONS\r\n");
	if (strcmp(path, METADATA_PATH) == 0)
		return by_method(method, HUB_ROUTE_METADATA, HUB_ROUTE_REFUSED,
				 "Allow: GET, OPTIONS\r\n");
	return (struct hub_target){.route = HUB_ROUTE_REFUSED, .rest = "", .status = 404,
				   .allow = "", .text = "not found"};
}

/* Parses query into q; 400 when malformed. */
static int parse_query(const char *query, struct http_form *q, char *err, size_t errlen)
{
	char why[128];
	if (http_form_parse(q, query, strlen(query), why, sizeof why) < 0)
		return refuse(400, err, errlen, "malformed query string: %s", why);
	return 0;
}

/* The matcher kind a draft-08 parameter name selects: 1 and *kind set for
 * match and match_exact (exact) and match_urlpattern (a URL pattern,
 * compiled and checked by hubd); 0 for a name outside
 * the reserved match namespace; -1 for any other name in it (a name
 * starting with "match" in any case), which is refused. */
static int matcher_param(const char *name, size_t n, enum ctl_matcher_kind *kind)
{
	if (n < 5 || strncasecmp(name, "match", 5) != 0)
		return 0;
	if ((n == 5 && memcmp(name, "match", 5) == 0) ||
	    (n == 11 && memcmp(name, "match_exact", 11) == 0)) {
		*kind = CTL_MATCHER_EXACT;
		return 1;
	}
	if (n == 16 && memcmp(name, "match_urlpattern", 16) == 0) {
		*kind = CTL_MATCHER_URLPATTERN;
		return 1;
	}
	return -1;
}

/* Adds the matchers of q and b (NULL: none; a QUERY's body, as if its
 * pairs followed q's) to sub: topic parameters (draft-07) or match
 * parameters (draft-08), never both. 0 or 400. */
static int put_matchers(const struct http_form *q, const struct http_form *b,
			struct ctl_subscribe *sub, char *err, size_t errlen)
{
	size_t ntopics = http_form_count(q, "topic") + (b ? http_form_count(b, "topic") : 0);
	size_t nmatch = 0, nq = q->n, nall = q->n + (b ? b->n : 0);
	for (size_t i = 0; i < nall; i++) {
		const struct http_field *f = i < nq ? &q->fields[i] : &b->fields[i - nq];
		enum ctl_matcher_kind kind;
		int m = matcher_param(f->name, f->name_len, &kind);
		if (m < 0)
			return refuse(400, err, errlen,
				      "unknown matcher parameter (this hub takes match, "
				      "match_exact, match_urlpattern and topic)");
		if (m == 0)
			continue;
		if (ntopics > 0)
			return refuse(400, err, errlen, "topic (Mercure draft-07) and match "
				      "(draft-08) parameters cannot be mixed");
		if (++nmatch > CTL_MATCHERS_MAX)
			return refuse(400, err, errlen, "too many matchers (at most %d)",
				      CTL_MATCHERS_MAX);
		char why[96] = "";
		if (f->value_len == 0 || f->value_len > CTL_MATCHER_MAX_LEN ||
		    !utf8_matcher_ok(f->value, f->value_len, why, sizeof why))
			return refuse(400, err, errlen,
				      "a matcher must be 1 to %d bytes of UTF-8 without control "
				      "or format characters%s%s%s", CTL_MATCHER_MAX_LEN,
				      *why ? " (" : "", why, *why ? ")" : "");
		(void)ctl_subscribe_add_matcher(sub, kind, f->value, f->value_len);
	}
	if (nmatch > 0)
		return 0;
	if (b && http_form_count(b, "topic") > 0)
		return refuse(400, err, errlen, "topic parameters go in the query string");
	int status = mercure_check_topics(q, err, errlen);
	for (const struct http_field *t = http_form_find(q, "topic"); t && !status;
	     t = http_form_next(q, t, "topic"))
		(void)ctl_subscribe_add_matcher(sub, CTL_MATCHER_TOPIC, t->value, t->value_len);
	return status;
}

int hub_params_subscribe(hub_param_fn get, void *arg, const char *query,
			 const struct http_form *body, struct http_form *q,
			 struct ctl_subscribe *sub, char *err, size_t errlen)
{
	int status = parse_query(query, q, err, errlen);
	if (!status)
		status = put_matchers(q, body, sub, err, errlen);
	if (status)
		return status;
	bool draft08 = ctl_subscribe_is_draft08(sub);
	/* The header wins over the parameter: lastEventID in draft-07,
	 * last_event_id in draft-08 (the query's over a QUERY body's). */
	const char *hdr = get(arg, "HTTP_LAST_EVENT_ID");
	const char *name = draft08 ? "last_event_id" : "lastEventID";
	const struct http_field *le = http_form_find(q, name);
	if (!le && body)
		le = http_form_find(body, name);
	if (hdr || le) {
		const char *v = hdr ? hdr : le->value;
		size_t n = hdr ? strlen(hdr) : le->value_len;
		if (mercure_has_control(v, n))
			return refuse(400, err, errlen, "Last-Event-ID contains a control character");
		sub->last_event_id = xmemdup(v, n);
	}
	/* Draft-08 takes no token from the query string, and an
	 * Authorization header must be a Bearer token (RFC 6750's
	 * invalid_request otherwise). */
	const char *authorization = get(arg, "HTTP_AUTHORIZATION");
	if (draft08 && (http_form_find(q, "access_token") || http_form_find(q, "authorization") ||
			(body && (http_form_find(body, "access_token") ||
				  http_form_find(body, "authorization")))))
		return refuse(400, err, errlen, "%s", HUB_PARAMS_INVALID_REQUEST
			      "a token in the query string is not taken (Mercure 1.0): send it "
			      "in the Authorization header or the cookie");
	char *bearer = draft08 && authorization ? http_bearer_token(authorization) : NULL;
	bool bearer_ok = bearer != NULL;
	free(bearer);
	if (draft08 && authorization && !bearer_ok)
		return refuse(400, err, errlen, "%s", HUB_PARAMS_INVALID_REQUEST
			      "the Authorization header must be \"Bearer\" and a token");
	mercure_credentials(&sub->cred, authorization, draft08 ? NULL : q, get(arg, "HTTP_COOKIE"),
			    get(arg, "HTTP_ORIGIN"));
	sub->cred.hub_url = hub_params_hub_url(get, arg);
	return ctl_subscribe_check(sub, err, errlen);
}

int hub_params_history(hub_param_fn get, void *arg, const char *query,
		       struct http_form *q, struct ctl_history *h, int64_t *limit, char *err,
		       size_t errlen)
{
	*limit = -1;
	int status = parse_query(query, q, err, errlen);
	if (status)
		return status;
	if (http_form_count(q, "after") + http_form_count(q, "since") > 1 ||
	    http_form_count(q, "limit") > 1)
		return refuse(400, err, errlen, "give at most one after (or since) and one limit");
	status = mercure_take_topics(q, &h->topics, err, errlen);
	if (status)
		return status;
	const struct http_field *after = http_form_find(q, "after");
	if (!after)
		after = http_form_find(q, "since");
	if (after && after->value_len > 0)
		h->after = xmemdup(after->value, after->value_len);
	const struct http_field *lim = http_form_find(q, "limit");
	uint64_t v = 0;
	if (lim && (strlen(lim->value) != lim->value_len ||
		    !parse_digits(lim->value, UINT32_MAX, &v)))
		return refuse(400, err, errlen, "limit must be a number");
	if (lim) {
		h->limit = (uint32_t)v;
		*limit = (int64_t)v;
	}
	h->http = true;
	mercure_credentials(&h->cred, get(arg, "HTTP_AUTHORIZATION"), q, get(arg, "HTTP_COOKIE"),
			    get(arg, "HTTP_ORIGIN"));
	h->cred.hub_url = hub_params_hub_url(get, arg);
	return ctl_history_check(h, err, errlen);
}

/* Decodes the segments of rest ("/a/b/c") into seg[0..2]; 400 for a
 * malformed one, 404 for a fourth or a path that is no resource. */
static int path_segments(const char *rest, char *seg[3], char *err, size_t errlen)
{
	int nseg = 0;
	while (*rest == '/' && rest[1] && nseg < 4) {
		size_t n = strcspn(rest + 1, "/");
		if (nseg == 3)
			return refuse(404, err, errlen, "not found");
		if (!(seg[nseg] = http_path_decode(rest + 1, n)))
			return refuse(400, err, errlen, "malformed path segment");
		nseg++;
		rest += 1 + n;
	}
	if (*rest && strcmp(rest, "/") != 0)
		return refuse(404, err, errlen, "not found");
	return 0;
}

int hub_params_subscriptions(hub_param_fn get, void *arg, const char *rest,
			     const char *query, struct http_form *q, struct ctl_subscriptions *sq,
			     char *err, size_t errlen)
{
	char *seg[3] = {NULL, NULL, NULL};
	int status = parse_query(query, q, err, errlen);
	if (!status)
		status = path_segments(rest, seg, err, errlen);
	if (status) {
		for (int i = 0; i < 3; i++)
			free(seg[i]);
		return status;
	}
	sq->topic = seg[0];
	sq->subscriber = seg[1];
	sq->third = seg[2];
	sq->http = true;
	mercure_credentials(&sq->cred, get(arg, "HTTP_AUTHORIZATION"), q, get(arg, "HTTP_COOKIE"),
			    get(arg, "HTTP_ORIGIN"));
	sq->cred.hub_url = hub_params_hub_url(get, arg);
	return ctl_subscriptions_check(sq, err, errlen);
}
