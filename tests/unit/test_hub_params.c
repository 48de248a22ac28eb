/* test_hub_params.c -- hub.fcgi's request parameters to route and control
 * fields: paths, routes, and what subscribe, history and subscriptions
 * send to hubd or refuse. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "ctl_proto.h"
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

static void test_subscribe(void)
{
	const char *hdrs[] = {"HTTP_LAST_EVENT_ID", "e1", "HTTP_AUTHORIZATION", "Bearer t.o.k",
			      "HTTP_ORIGIN", "https://a.example", NULL};
	struct http_form q = {0};
	struct buf p = {0};
	char err[256];
	CHECK(hub_params_subscribe(param, hdrs, "topic=a&topic=b%2Fc&lastEventID=e2", &q, &p,
				   err, sizeof err) == 0);
	struct ctl_msg m;
	parse(&p, &m);
	CHECK(ctl_count(&m, CTL_T_TOPIC) == 2);
	const struct ctl_field *f = ctl_find(&m, CTL_T_LAST_EVENT_ID);
	CHECK(f && f->len == 2 && memcmp(f->val, "e1", 2) == 0); /* the header wins */
	f = ctl_find(&m, CTL_T_AUTH);
	CHECK(f && f->len == 5 && memcmp(f->val, "t.o.k", 5) == 0);
	uint32_t src = 0;
	CHECK(ctl_field_u32(ctl_find(&m, CTL_T_AUTH_SOURCE), &src) && src == CTL_AUTH_HEADER);
	CHECK(ctl_find(&m, CTL_T_ORIGIN) != NULL);
	ctl_msg_clear(&m);
	http_form_free(&q);

	static const char *const bad[] = {"", "topic=", "topic=a%", "topic=a&lastEventID=x%0Ay",
					  "topic=%01"};
	const char *none[] = {NULL};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err[0] = '\0';
		CHECK(hub_params_subscribe(param, none, bad[i], &q, &p, err, sizeof err) == 400);
		CHECK(err[0] != '\0');
		http_form_free(&q);
		buf_free(&p);
	}
}

static void test_history(void)
{
	const char *none[] = {NULL};
	struct http_form q = {0};
	struct buf p = {0};
	char err[256];
	int64_t limit = 0;
	CHECK(hub_params_history(param, none, "topic=a&since=x&limit=07", &q, &p, &limit, err,
				 sizeof err) == 0);
	CHECK(limit == 7);
	struct ctl_msg m;
	parse(&p, &m);
	uint32_t v = 0;
	CHECK(ctl_field_u32(ctl_find(&m, CTL_T_LIMIT), &v) && v == 7);
	CHECK(ctl_field_u32(ctl_find(&m, CTL_T_HTTP), &v) && v == 1);
	CHECK(ctl_find(&m, CTL_T_AFTER) && ctl_find(&m, CTL_T_AFTER)->len == 1);
	ctl_msg_clear(&m);
	http_form_free(&q);

	CHECK(hub_params_history(param, none, "topic=a", &q, &p, &limit, err, sizeof err) == 0);
	CHECK(limit == -1);
	http_form_free(&q);
	buf_free(&p);

	static const char *const bad[] = {"topic=a&after=1&since=2", "topic=a&limit=1&limit=2",
					  "topic=a&limit=x", "topic=a&limit=4294967296",
					  "topic=a&limit=1%002", "limit=1"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		CHECK(hub_params_history(param, none, bad[i], &q, &p, &limit, err, sizeof err) == 400);
		http_form_free(&q);
		buf_free(&p);
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
		{"/a/s1/x", 404, NULL, NULL},
		{"//a", 0, "", "a"}, /* an empty first segment is hubd's to refuse */
		{"/a%", 400, NULL, NULL},
		{"/a%00", 400, NULL, NULL},
	};
	const char *none[] = {NULL};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct http_form q = {0};
		struct buf p = {0};
		char err[256];
		int st = hub_params_subscriptions(param, none, cases[i].rest, "", &q, &p, err,
						  sizeof err);
		CHECK(st == cases[i].status);
		if (st == 0) {
			struct ctl_msg m;
			parse(&p, &m);
			const struct ctl_field *t = ctl_find(&m, CTL_T_TOPIC);
			const struct ctl_field *s = ctl_find(&m, CTL_T_SUBSCRIBER);
			CHECK(!t == !cases[i].topic);
			CHECK(!s == !cases[i].subscriber);
			if (t && cases[i].topic)
				CHECK_MEM_EQ(t->val, t->len, cases[i].topic, strlen(cases[i].topic));
			if (s && cases[i].subscriber)
				CHECK_MEM_EQ(s->val, s->len, cases[i].subscriber,
					     strlen(cases[i].subscriber));
			ctl_msg_clear(&m);
		}
		buf_free(&p);
		http_form_free(&q);
	}
}

TEST_MAIN(TEST(test_path), TEST(test_route), TEST(test_subscribe), TEST(test_history),
	  TEST(test_subscriptions))
