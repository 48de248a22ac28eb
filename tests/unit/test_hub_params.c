/* test_hub_params.c -- hub.fcgi's request parameters to route and control
 * fields: paths, routes, and what subscribe, history and subscriptions
 * send to hubd or refuse. */
#include "config.h"

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_proto.h"
#include "ctl_request.h"
#include "hub_params.h"
#include "testlib.h"

/* Parameters as a NULL-terminated list of name, value pairs. */
static const char *param(void *arg, const char *name)
{
	const char *const *kv = arg;
	for (; kv[0]; kv += 2)
		if (strcmp(kv[0], name) == 0)
			return kv[1];
	return NULL;
}

static void test_path(void)
{
	const char *uri[] = {"REQUEST_URI", "/.well-known/mercure?topic=a", "SCRIPT_NAME", "/x", NULL};
	const char *cgi[] = {"SCRIPT_NAME", "/.well-known", "PATH_INFO", "/mercure", NULL};
	const char *none[] = {NULL};
	char *p = hub_params_path(param, uri);
	CHECK_STR_EQ(p, "/.well-known/mercure");
	free(p);
	p = hub_params_path(param, cgi);
	CHECK_STR_EQ(p, "/.well-known/mercure");
	free(p);
	p = hub_params_path(param, none);
	CHECK_STR_EQ(p, "");
	free(p);
}

static void test_hub_url(void)
{
	const char *tls[] = {"HTTPS", "on", "HTTP_HOST", "hub.example", "SERVER_PORT", "443", NULL};
	const char *port[] = {"HTTP_HOST", "hub.example:8080", "SERVER_PORT", "8080", NULL};
	const char *nginx[] = {"HTTP_HOST", "127.0.0.1", "SERVER_PORT", "34001", NULL};
	const char *v6[] = {"HTTP_HOST", "[::1]", "SERVER_PORT", "81", NULL};
	const char *name[] = {"SERVER_NAME", "h.example", "SERVER_PORT", "80",
			      "REQUEST_SCHEME", "http", NULL};
	const char *bad[] = {"HTTP_HOST", "a b", NULL};
	const char *const *in[] = {tls, port, nginx, v6, name, bad};
	const char *want[] = {"https://hub.example" HUB_PATH, "http://hub.example:8080" HUB_PATH,
			      "http://127.0.0.1:34001" HUB_PATH, "http://[::1]:81" HUB_PATH,
			      "http://h.example" HUB_PATH, NULL};
	for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
		char *u = hub_params_hub_url(param, (void *)in[i]);
		if (want[i])
			CHECK_STR_EQ(u, want[i]);
		else
			CHECK(u == NULL);
		free(u);
	}
}

struct route_case {
	const char *path, *method;
	enum hub_route route;
	int status;
	const char *rest;
};

static void test_route(void)
{
	static const struct route_case cases[] = {
		{HUB_PATH, "GET", HUB_ROUTE_SUBSCRIBE, 0, ""},
		{HUB_PATH, "QUERY", HUB_ROUTE_SUBSCRIBE, 0, ""},
		{HISTORY_PATH, "QUERY", HUB_ROUTE_REFUSED, 405, ""},
		{HUB_PATH, "POST", HUB_ROUTE_PUBLISH, 0, ""},
		{HUB_PATH, "OPTIONS", HUB_ROUTE_PREFLIGHT, 0, ""},
		{HUB_PATH, "PUT", HUB_ROUTE_REFUSED, 405, ""},
		{HUB_PATH, "", HUB_ROUTE_REFUSED, 405, ""},
		{HISTORY_PATH, "GET", HUB_ROUTE_HISTORY, 0, ""},
		{HISTORY_PATH, "POST", HUB_ROUTE_REFUSED, 405, ""},
		{SUBSCRIPTIONS_PATH, "GET", HUB_ROUTE_SUBSCRIPTIONS, 0, ""},
		{SUBSCRIPTIONS_PATH "/a/b", "GET", HUB_ROUTE_SUBSCRIPTIONS, 0, "/a/b"},
		{SUBSCRIPTIONS_PATH "x", "GET", HUB_ROUTE_REFUSED, 404, ""},
		{SUBSCRIPTIONS_PATH, "POST", HUB_ROUTE_REFUSED, 405, ""},
		{"/", "GET", HUB_ROUTE_REFUSED, 404, ""},
		{HUB_PATH "/", "GET", HUB_ROUTE_REFUSED, 404, ""},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct hub_target t = hub_params_route(cases[i].path, cases[i].method);
		CHECK(t.route == cases[i].route);
		CHECK_STR_EQ(t.rest, cases[i].rest);
		if (t.route == HUB_ROUTE_REFUSED) {
			CHECK(t.status == cases[i].status);
			CHECK(strlen(t.text) > 0);
			CHECK((t.status == 405) == (strncmp(t.allow, "Allow: ", 7) == 0));
		}
	}
}

/* Parses p as a control payload into m (m->payload owned by the test). */
static void parse(struct buf *p, struct ctl_msg *m)
{
	char err[128];
	memset(m, 0, offsetof(struct ctl_msg, fields));
	m->fd = -1;
	m->payload = buf_steal(p, &m->len);
	CHECK(ctl_parse_fields(m, err, sizeof err) == 0);
}

/* Encodes sub as hub.fcgi sends it, with a descriptor, and decodes it as
 * hubd does into *out: the two ends agree. */
static void round_trip(const struct ctl_subscribe *sub, struct ctl_subscribe *out)
{
	struct buf p = {0};
	struct ctl_msg m;
	char err[128];
	ctl_subscribe_encode(sub, &p);
	parse(&p, &m);
	m.type = CTL_SUBSCRIBE;
	m.fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	CHECK(ctl_request_check(&m, err, sizeof err) == 0);
	CHECK(ctl_subscribe_decode(&m, out, err, sizeof err) == 0);
	CHECK(out->fd >= 0);
	ctl_msg_clear(&m);
}

static void test_subscribe_draft07(void)
{
	const char *hdrs[] = {"HTTP_LAST_EVENT_ID", "e1", "HTTP_AUTHORIZATION", "Bearer t.o.k",
			      "HTTP_ORIGIN", "https://a.example", NULL};
	struct http_form q = {0};
	struct ctl_subscribe sub = {.fd = -1}, got;
	char err[256];
	CHECK(hub_params_subscribe(param, hdrs, "topic=a&topic=b%2Fc&lastEventID=e2", NULL, &q, &sub,
				   err, sizeof err) == 0);
	sub.mode = CTL_MODE_CGI;
	round_trip(&sub, &got);
	CHECK(got.nmatchers == 2 && !ctl_subscribe_is_draft08(&got));
	CHECK(got.matchers[1].kind == CTL_MATCHER_TOPIC);
	CHECK_STR_EQ(got.matchers[1].text, "b/c");
	CHECK_STR_EQ(got.last_event_id, "e1"); /* the header wins */
	CHECK(got.cred.token && got.cred.token_len == 5 && strcmp(got.cred.token, "t.o.k") == 0);
	CHECK(got.cred.source == CTL_AUTH_HEADER);
	CHECK_STR_EQ(got.cred.origin, "https://a.example");
	ctl_subscribe_clear(&got);
	ctl_subscribe_clear(&sub);
	http_form_free(&q);

	/* Draft-07 takes the token from the query. */
	const char *none[] = {NULL};
	CHECK(hub_params_subscribe(param, none, "topic=a&authorization=x.y.z&lastEventID=e2", NULL, &q,
				   &sub, err, sizeof err) == 0);
	CHECK(sub.cred.source == CTL_AUTH_QUERY);
	CHECK_STR_EQ(sub.last_event_id, "e2");
	ctl_subscribe_clear(&sub);
	http_form_free(&q);
}

static void test_subscribe_draft08(void)
{
	const char *none[] = {NULL};
	struct http_form q = {0};
	struct ctl_subscribe sub = {.fd = -1}, got;
	char err[256];
	/* match and match_exact are exact matchers; a '{' is a character;
	 * lastEventID and authorization are no draft-08 parameters. */
	CHECK(hub_params_subscribe(param, none,
				   "match=https%3A%2F%2Fa.example%2Fx&match_exact=%7Bid%7D"
				   "&match=%F0%9F%98%80&last_event_id=e2&lastEventID=e3"
				   "&match_urlpattern=%2Fbooks%2F%3Aid&other=1",
				   NULL, &q, &sub, err, sizeof err) == 0);
	sub.mode = CTL_MODE_FCGI;
	sub.fcgi_request_id = 1;
	round_trip(&sub, &got);
	CHECK(got.nmatchers == 4 && ctl_subscribe_is_draft08(&got));
	CHECK(got.matchers[3].kind == CTL_MATCHER_URLPATTERN);
	CHECK_STR_EQ(got.matchers[3].text, "/books/:id");
	CHECK(got.matchers[0].kind == CTL_MATCHER_EXACT && got.matchers[1].kind == CTL_MATCHER_EXACT);
	CHECK_STR_EQ(got.matchers[0].text, "https://a.example/x");
	CHECK_STR_EQ(got.matchers[1].text, "{id}");
	CHECK_STR_EQ(got.last_event_id, "e2");
	CHECK(got.cred.token == NULL);
	ctl_subscribe_clear(&got);
	ctl_subscribe_clear(&sub);
	http_form_free(&q);

	/* A token in the query string, or an Authorization header that is no
	 * Bearer token: RFC 6750's invalid_request. */
	const char *basic[] = {"HTTP_AUTHORIZATION", "Basic dTpw", NULL};
	const char *const presented[] = {"match=a&authorization=x.y.z", "match=a&access_token=x"};
	for (size_t i = 0; i < 2; i++) {
		CHECK(hub_params_subscribe(param, none, presented[i], NULL, &q, &sub, err, sizeof err) ==
		      400);
		CHECK(strncmp(err, HUB_PARAMS_INVALID_REQUEST, strlen(HUB_PARAMS_INVALID_REQUEST)) == 0);
		ctl_subscribe_clear(&sub);
		http_form_free(&q);
	}
	CHECK(hub_params_subscribe(param, basic, "match=a", NULL, &q, &sub, err, sizeof err) == 400);
	CHECK(strncmp(err, HUB_PARAMS_INVALID_REQUEST, strlen(HUB_PARAMS_INVALID_REQUEST)) == 0);
	ctl_subscribe_clear(&sub);
	http_form_free(&q);
	/* ... which draft-07 leaves as it was. */
	CHECK(hub_params_subscribe(param, basic, "topic=a", NULL, &q, &sub, err, sizeof err) == 0);
	ctl_subscribe_clear(&sub);
	http_form_free(&q);

	/* QUERY: the body's pairs count too; the query's last_event_id wins. */
	struct http_form body = {0};
	char why[64];
	static const char form[] = "match=b&match_urlpattern=%2Fx%2F%3Aid&last_event_id=body";
	CHECK(http_form_parse(&body, form, strlen(form), why, sizeof why) == 0);
	CHECK(hub_params_subscribe(param, none, "match=a&last_event_id=query", &body, &q, &sub, err,
				   sizeof err) == 0);
	CHECK(sub.nmatchers == 3 && sub.matchers[2].kind == CTL_MATCHER_URLPATTERN);
	CHECK_STR_EQ(sub.last_event_id, "query");
	ctl_subscribe_clear(&sub);
	http_form_free(&q);
	CHECK(hub_params_subscribe(param, none, "", &body, &q, &sub, err, sizeof err) == 0);
	CHECK_STR_EQ(sub.last_event_id, "body");
	ctl_subscribe_clear(&sub);
	http_form_free(&q);
	http_form_free(&body);
	static const char *const bad_bodies[] = {"topic=a", "match=a&topic=b", "match=a&authorization=t",
						 "matchx=a"};
	for (size_t i = 0; i < sizeof bad_bodies / sizeof bad_bodies[0]; i++) {
		CHECK(http_form_parse(&body, bad_bodies[i], strlen(bad_bodies[i]), why,
				      sizeof why) == 0);
		CHECK(hub_params_subscribe(param, none, i == 0 ? "topic=x" : "match=x", &body, &q, &sub,
					   err, sizeof err) == 400);
		ctl_subscribe_clear(&sub);
		http_form_free(&q);
		http_form_free(&body);
	}

	/* The header wins over last_event_id. */
	const char *hdr[] = {"HTTP_LAST_EVENT_ID", "e1", NULL};
	CHECK(hub_params_subscribe(param, hdr, "match=a&last_event_id=e2", NULL, &q, &sub, err,
				   sizeof err) == 0);
	CHECK_STR_EQ(sub.last_event_id, "e1");
	ctl_subscribe_clear(&sub);
	http_form_free(&q);
}

/* What hubd makes of a SUBSCRIBE built by hand: -1 (malformed, the peer
 * is closed), or the status ctl_subscribe_decode gives. */
static int decode_by_hand(const char *const *fields, bool with_fd)
{
	struct buf p = {0};
	struct ctl_msg m;
	struct ctl_subscribe sub;
	char err[128];
	for (; fields[0]; fields += 2)
		ctl_put_str(&p, (uint16_t)atoi(fields[0]), fields[1]);
	ctl_put_u32(&p, CTL_T_MODE, CTL_MODE_CGI);
	parse(&p, &m);
	m.type = CTL_SUBSCRIBE;
	m.fd = with_fd ? open("/dev/null", O_RDONLY | O_CLOEXEC) : -1;
	int status = ctl_request_check(&m, err, sizeof err);
	if (status == 0) {
		status = ctl_subscribe_decode(&m, &sub, err, sizeof err);
		ctl_subscribe_clear(&sub);
	}
	ctl_msg_clear(&m);
	return status;
}

/* hubd checks what it is sent with the rules hub.fcgi applies. */
static void test_subscribe_decode(void)
{
#define T_ "1"
#define E_ "24"
#define U_ "25"
	const char *const ok[] = {E_, "a", E_, "b", NULL};
	const char *const none[] = {NULL};
	const char *const mixed[] = {T_, "a", E_, "b", NULL};
	const char *const format[] = {E_, "a\xe2\x80\x8b", NULL};
	const char *const bad_utf8[] = {U_, "\xff", NULL};
	const char *const topic_ctl[] = {T_, "a\x01", NULL}; /* draft-07: only NUL is hubd's */
	CHECK(decode_by_hand(ok, true) == 0);
	CHECK(decode_by_hand(ok, false) == -1);
	CHECK(decode_by_hand(none, true) == -1);
	CHECK(decode_by_hand(mixed, true) == 400);
	CHECK(decode_by_hand(format, true) == 400);
	CHECK(decode_by_hand(bad_utf8, true) == 400);
	CHECK(decode_by_hand(topic_ctl, true) == 0);
	const char *many[2 * (CTL_MATCHERS_MAX + 1) + 1];
	for (int i = 0; i <= CTL_MATCHERS_MAX; i++) {
		many[2 * i] = E_;
		many[2 * i + 1] = "x";
	}
	many[2 * (CTL_MATCHERS_MAX + 1)] = NULL;
	CHECK(decode_by_hand(many, true) == -1);
	many[2 * CTL_MATCHERS_MAX] = NULL;
	CHECK(decode_by_hand(many, true) == 0);
#undef T_
#undef E_
#undef U_
}

/* A query of n match parameters, each a matcher of len bytes. */
static char *many_matchers(int n, size_t len)
{
	struct buf b = {0};
	for (int i = 0; i < n; i++) {
		buf_adds(&b, i ? "&match=" : "match=");
		for (size_t k = 0; k < len; k++)
			buf_addc(&b, 'a' + (char)(i % 26));
	}
	return buf_steal(&b, NULL);
}

static void test_subscribe_refused(void)
{
	char *too_many = many_matchers(CTL_MATCHERS_MAX + 1, 3);
	char *too_long = many_matchers(1, CTL_MATCHER_MAX_LEN + 1);
	char *most = many_matchers(CTL_MATCHERS_MAX, CTL_MATCHER_MAX_LEN);
	const char *const bad[] = {
		"", "topic=", "topic=a%", "topic=a&lastEventID=x%0Ay", "topic=%01",
		"match_foo=a", "MATCH=a", "Match_exact=a", "matchx=a", "match_EXACT=a",
		"match_urlpattern_x=a", "topic=a&match=b", "match=b&topic=a", "match=",
		"match", "match=a%E2%80%8Bb", /* U+200B zero width space (Cf) */
		"match=%C2%85", /* U+0085 (C1) */ "match=%7F", "match=%FF", "match=%ED%A0%80",
		"match=%C0%AF", /* overlong */ "match=%F4%90%80%80", /* > U+10FFFF */
		"match=%EF%BB%BF", /* U+FEFF (Cf) */ "match=a&last_event_id=x%0Ay",
		too_many, too_long,
	};
	const char *none[] = {NULL};
	struct http_form q = {0};
	struct ctl_subscribe sub = {.fd = -1};
	char err[256];
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err[0] = '\0';
		int status = hub_params_subscribe(param, none, bad[i], NULL, &q, &sub, err, sizeof err);
		if (status != 400)
			fprintf(stderr, "case %zu (%.40s): %d\n", i, bad[i], status);
		CHECK(status == 400);
		CHECK(err[0] != '\0');
		ctl_subscribe_clear(&sub);
		http_form_free(&q);
	}
	/* At the limits: taken. */
	CHECK(hub_params_subscribe(param, none, most, NULL, &q, &sub, err, sizeof err) == 0);
	CHECK(sub.nmatchers == CTL_MATCHERS_MAX);
	ctl_subscribe_clear(&sub);
	http_form_free(&q);
	free(too_many);
	free(too_long);
	free(most);
}

/* Encodes what hub.fcgi built with encode, and decodes it as hubd does
 * with decode (type: the request type): the status of the decode. */
#define ROUND_TRIP(type_, encode, decode, in, out)                                  \
	({                                                                          \
		struct buf b_ = {0};                                                \
		struct ctl_msg m_;                                                  \
		char e_[128];                                                       \
		encode((in), &b_);                                                  \
		parse(&b_, &m_);                                                    \
		m_.type = (type_);                                                  \
		int st_ = ctl_request_check(&m_, e_, sizeof e_) < 0                  \
				  ? -1                                              \
				  : decode(&m_, (out), e_, sizeof e_);              \
		ctl_msg_clear(&m_);                                                 \
		st_;                                                                \
	})

static void test_history(void)
{
	const char *none[] = {NULL};
	struct http_form q = {0};
	struct ctl_history h = {0}, got;
	char err[256];
	int64_t limit = 0;
	CHECK(hub_params_history(param, none, "topic=a&since=x&limit=07", &q, &h, &limit, err,
				 sizeof err) == 0);
	CHECK(limit == 7);
	CHECK(ROUND_TRIP(CTL_HISTORY, ctl_history_encode, ctl_history_decode, &h, &got) == 0);
	CHECK(got.limit == 7 && got.http && got.topics.n == 1);
	CHECK_STR_EQ(got.after, "x");
	ctl_history_clear(&got);
	ctl_history_clear(&h);
	http_form_free(&q);

	CHECK(hub_params_history(param, none, "topic=a", &q, &h, &limit, err, sizeof err) == 0);
	CHECK(limit == -1 && h.limit == 0 && h.after == NULL);
	ctl_history_clear(&h);
	http_form_free(&q);

	static const char *const bad[] = {"topic=a&after=1&since=2", "topic=a&limit=1&limit=2",
					  "topic=a&limit=x", "topic=a&limit=4294967296",
					  "topic=a&limit=1%002", "limit=1", "topic=a&after=x%0Ay"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		CHECK(hub_params_history(param, none, bad[i], &q, &h, &limit, err, sizeof err) == 400);
		ctl_history_clear(&h);
		http_form_free(&q);
	}
}

struct subs_case {
	const char *rest;
	int status;
	const char *topic, *subscriber;
};

static void test_subscriptions(void)
{
	static const struct subs_case cases[] = {
		{"", 0, NULL, NULL},
		{"/", 0, NULL, NULL},
		{"/a%2Fb", 0, "a/b", NULL},
		{"/a/s1", 0, "a", "s1"},
		{"/a/s1/", 0, "a", "s1"},
		{"/exact/a/s1", 0, "exact", "a"}, /* draft-08: a third segment */
		{"/a/s1/x/y", 404, NULL, NULL},
		{"//a", 400, NULL, NULL}, /* an empty topic */
		{"/a%", 400, NULL, NULL},
		{"/a%00", 400, NULL, NULL},
		{"/a/s%0A1", 400, NULL, NULL}, /* a subscriber of two lines */
	};
	const char *none[] = {NULL};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct http_form q = {0};
		struct ctl_subscriptions sq = {0}, got;
		char err[256];
		int st = hub_params_subscriptions(param, none, cases[i].rest, "", &q, &sq, err,
						  sizeof err);
		if (st != cases[i].status)
			fprintf(stderr, "case %zu (%s): %d\n", i, cases[i].rest, st);
		CHECK(st == cases[i].status);
		if (st == 0) {
			CHECK(ROUND_TRIP(CTL_SUBSCRIPTIONS, ctl_subscriptions_encode,
					 ctl_subscriptions_decode, &sq, &got) == 0);
			CHECK(!got.topic == !cases[i].topic && got.http);
			CHECK(!got.subscriber == !cases[i].subscriber);
			if (got.topic && cases[i].topic)
				CHECK_STR_EQ(got.topic, cases[i].topic);
			if (got.subscriber && cases[i].subscriber)
				CHECK_STR_EQ(got.subscriber, cases[i].subscriber);
			ctl_subscriptions_clear(&got);
		}
		ctl_subscriptions_clear(&sq);
		http_form_free(&q);
	}
}

TEST_MAIN(TEST(test_path), TEST(test_hub_url), TEST(test_route), TEST(test_subscribe_draft07),
	  TEST(test_subscribe_draft08), TEST(test_subscribe_refused),
	  TEST(test_subscribe_decode), TEST(test_history),
	  TEST(test_subscriptions))
