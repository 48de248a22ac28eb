/* fuzz_hub_params.c -- fuzzes hub.fcgi's FastCGI parameter handling (fcgi/hub_params.c): parameters to route and control fields. */
#include "config.h"

#include <fcgiapp.h>
#include <stdbool.h>

#include "ctl_proto.h"
#include "ctl_request.h"
#include "fuzz_input.h"
#include "hub_params.h"
#include "mercure_form.h"
#include "msg.h"
#include "utf8.h"

/* Input: NAME=VALUE parameters separated by NUL bytes, as the web server
 * sends them (REQUEST_METHOD=GET, QUERY_STRING=topic=a, ...). */

static const char *param(void *arg, const char *name)
{
	return FCGX_GetParam(name, arg);
}

/* Which tags each route's fields may hold, and at most how often. */
struct allow {
	uint16_t tag;
	int max;
};

static const struct allow subscribe_allows[] = {
	{CTL_T_TOPIC, MSG_MAX_TOPICS},       {CTL_T_MATCH_EXACT, MSG_MAX_TOPICS},
	{CTL_T_MATCH_URLPATTERN, MSG_MAX_TOPICS}, {CTL_T_LAST_EVENT_ID, 1},
	{CTL_T_AUTH, 1}, {CTL_T_AUTH_SOURCE, 1}, {CTL_T_ORIGIN, 1}, {CTL_T_MODE, 1},
	{CTL_T_COOKIE, 1}, {CTL_T_HUB_URL, 1}, {0, 0}};
static const struct allow history_allows[] = {
	{CTL_T_TOPIC, MSG_MAX_TOPICS}, {CTL_T_AFTER, 1},  {CTL_T_LIMIT, 1},  {CTL_T_HTTP, 1},
	{CTL_T_AUTH, 1},               {CTL_T_AUTH_SOURCE, 1}, {CTL_T_ORIGIN, 1},
	{CTL_T_COOKIE, 1},             {CTL_T_HUB_URL, 1},     {0, 0}};
static const struct allow credentials_allows[] = {
	{CTL_T_AUTH, 1}, {CTL_T_AUTH_SOURCE, 1}, {CTL_T_ORIGIN, 1}, {CTL_T_COOKIE, 1}, {0, 0}};
static const struct allow subscriptions_allows[] = {
	{CTL_T_TOPIC, 1}, {CTL_T_SUBSCRIBER, 1}, {CTL_T_THIRD_SEGMENT, 1}, {CTL_T_HTTP, 1},
	{CTL_T_AUTH, 1}, {CTL_T_AUTH_SOURCE, 1}, {CTL_T_ORIGIN, 1}, {CTL_T_COOKIE, 1},
	{CTL_T_HUB_URL, 1}, {0, 0}};

/* The fields in p are well formed and only those allows lists, each text
 * field free of what hubd would refuse, with at least min_topics TOPIC
 * and http HTTP fields; p is emptied. */
static void check_fields(struct buf *p, const struct allow *allows, int min_topics, int http)
{
	struct ctl_msg m;
	fuzz_parse_payload(p, &m);
	for (int i = 0; i < m.nfields; i++) {
		const struct ctl_field *f = &m.fields[i];
		const struct allow *a = allows;
		while (a->tag && a->tag != f->tag)
			a++;
		FUZZ_ASSERT(a->tag);
		FUZZ_ASSERT(ctl_count(&m, f->tag) <= a->max);
		switch (f->tag) {
		case CTL_T_MATCH_EXACT:
		case CTL_T_MATCH_URLPATTERN:
			FUZZ_ASSERT(utf8_matcher_ok(f->val, f->len, NULL, 0));
			/* fall through */
		case CTL_T_TOPIC:
			FUZZ_ASSERT(f->len <= MERCURE_TOPIC_MAX_LEN || !min_topics);
			/* fall through */
		case CTL_T_SUBSCRIBER:
			FUZZ_ASSERT(!memchr(f->val, '\0', f->len));
			break;
		case CTL_T_LAST_EVENT_ID:
		case CTL_T_ORIGIN:
		case CTL_T_COOKIE:
		case CTL_T_HUB_URL:
			FUZZ_ASSERT(!fuzz_has_control(f->val, f->len));
			break;
		case CTL_T_LIMIT:
		case CTL_T_MODE:
		case CTL_T_HTTP:
		case CTL_T_AUTH_SOURCE:
			FUZZ_ASSERT(f->len == 4);
			break;
		}
	}
	FUZZ_ASSERT(ctl_count(&m, CTL_T_TOPIC) >= min_topics);
	FUZZ_ASSERT(ctl_count(&m, CTL_T_HTTP) == http);
	ctl_msg_clear(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_parts in;
	fuzz_split(data, size, FUZZ_PARTS_MAX, &in);
	char *envp[FUZZ_PARTS_MAX + 1];
	int n = 0;
	for (int i = 0; i < in.n; i++)
		if (strchr(in.s[i], '='))
			envp[n++] = in.s[i];
	envp[n] = NULL;

	char *path = hub_params_path(param, envp);
	const char *uri = param(envp, "REQUEST_URI");
	FUZZ_ASSERT(!uri || !*uri || !strchr(path, '?'));
	const char *method = param(envp, "REQUEST_METHOD");
	struct hub_target t = hub_params_route(path, method ? method : "");
	const char *query = param(envp, "QUERY_STRING");
	if (!query)
		query = "";
	struct http_form q = {0};
	struct buf p = {0};
	struct ctl_subscribe sub = {.fd = -1};
	struct ctl_history h = {0};
	struct ctl_subscriptions sq = {0};
	char err[256];
	err[0] = '\0';
	int64_t limit = 0;
	int st = 0;
	switch (t.route) {
	case HUB_ROUTE_SUBSCRIBE:
		FUZZ_ASSERT(strcmp(path, HUB_PATH) == 0 &&
			    (strcmp(method, "GET") == 0) != (strcmp(method, "QUERY") == 0) &&
			    t.body == (strcmp(method, "QUERY") == 0));
		st = hub_params_subscribe(param, envp, query, NULL, &q, &sub, err, sizeof err);
		if (!st) {
			/* What hub.fcgi sends, hubd's checks take. */
			sub.mode = CTL_MODE_CGI;
			FUZZ_ASSERT(sub.nmatchers >= 1 && ctl_subscribe_check(&sub, err, sizeof err) == 0);
			FUZZ_ASSERT(!ctl_subscribe_is_draft08(&sub) || !sub.cred.token ||
				    sub.cred.source != CTL_AUTH_QUERY);
			ctl_subscribe_encode(&sub, &p);
			check_fields(&p, subscribe_allows, 0, 0);
		}
		ctl_subscribe_clear(&sub);
		break;
	case HUB_ROUTE_HISTORY:
		FUZZ_ASSERT(strcmp(path, HISTORY_PATH) == 0 && strcmp(method, "GET") == 0);
		st = hub_params_history(param, envp, query, &q, &h, &limit, err, sizeof err);
		if (!st) {
			FUZZ_ASSERT(limit >= -1 && limit <= UINT32_MAX);
			FUZZ_ASSERT((limit >= 0) == (http_form_count(&q, "limit") == 1));
			FUZZ_ASSERT(ctl_history_check(&h, err, sizeof err) == 0);
			ctl_history_encode(&h, &p);
			check_fields(&p, history_allows, 1, 1);
		}
		ctl_history_clear(&h);
		break;
	case HUB_ROUTE_SUBSCRIPTIONS:
		FUZZ_ASSERT(strncmp(path, SUBSCRIPTIONS_PATH, strlen(SUBSCRIPTIONS_PATH)) == 0);
		FUZZ_ASSERT(t.rest == path + strlen(SUBSCRIPTIONS_PATH));
		st = hub_params_subscriptions(param, envp, t.rest, query, &q, &sq, err, sizeof err);
		if (!st) {
			FUZZ_ASSERT(ctl_subscriptions_check(&sq, err, sizeof err) == 0);
			ctl_subscriptions_encode(&sq, &p);
			check_fields(&p, subscriptions_allows, 0, 1);
		}
		ctl_subscriptions_clear(&sq);
		break;
	case HUB_ROUTE_PUBLISH:
		FUZZ_ASSERT(strcmp(path, HUB_PATH) == 0 && strcmp(method, "POST") == 0);
		mercure_put_credentials(&p, param(envp, "HTTP_AUTHORIZATION"), NULL,
					param(envp, "HTTP_COOKIE"), param(envp, "HTTP_ORIGIN"));
		check_fields(&p, credentials_allows, 0, 0);
		break;
	case HUB_ROUTE_METADATA:
		FUZZ_ASSERT(strcmp(path, METADATA_PATH) == 0 && strcmp(method, "GET") == 0);
		break;
	case HUB_ROUTE_PREFLIGHT:
		FUZZ_ASSERT(strcmp(method, "OPTIONS") == 0);
		break;
	case HUB_ROUTE_REFUSED:
		FUZZ_ASSERT(t.status == 404 || t.status == 405);
		FUZZ_ASSERT(t.text && t.text[0] && t.allow);
		break;
	}
	if (st)
		FUZZ_ASSERT((st == 400 || st == 404) && err[0] != '\0');
	http_form_free(&q);
	buf_free(&p);
	free(path);
	fuzz_parts_free(&in);
	return 0;
}
