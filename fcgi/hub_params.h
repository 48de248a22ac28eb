/* hub_params.h -- the pure half of hub.fcgi / hub.cgi: a request's CGI or
 * FastCGI parameters (REQUEST_METHOD, REQUEST_URI, QUERY_STRING, the
 * HTTP_* headers) turned into the endpoint it asks for and the control
 * fields hubd gets for it. No I/O, no logging: every refusal is an HTTP
 * status with its reason, which the handler answers. Reading the body and
 * talking to hubd stay in hub_handler.c. */
#ifndef HUBD_HUB_PARAMS_H
#define HUBD_HUB_PARAMS_H

#include <stdint.h>

#include "ctl_request.h"
#include "http_form.h"
#include "util.h"

#define HUB_PATH "/.well-known/mercure"
#define HISTORY_PATH "/.well-known/mercure/history"
#define SUBSCRIPTIONS_PATH "/.well-known/mercure/subscriptions"
/* RFC 9728: the protected resource metadata of HUB_PATH. */
#define METADATA_PATH "/.well-known/oauth-protected-resource/.well-known/mercure"

/* Looks up the request parameter name: its value (borrowed, valid for the
 * request), or NULL when the request has none. FCGX_GetParam or getenv. */
typedef const char *(*hub_param_fn)(void *arg, const char *name);

enum hub_route {
	HUB_ROUTE_SUBSCRIBE,     /* GET (or QUERY, with a form body) HUB_PATH */
	HUB_ROUTE_PUBLISH,       /* POST HUB_PATH */
	HUB_ROUTE_PREFLIGHT,     /* OPTIONS on any of the four paths */
	HUB_ROUTE_HISTORY,       /* GET HISTORY_PATH */
	HUB_ROUTE_SUBSCRIPTIONS, /* GET SUBSCRIPTIONS_PATH[/...] */
	HUB_ROUTE_METADATA,      /* GET METADATA_PATH */
	HUB_ROUTE_REFUSED,       /* answered with status (and allow) */
};

/* Where a request goes. */
struct hub_target {
	enum hub_route route;
	const char *rest;  /* SUBSCRIPTIONS: the path after SUBSCRIPTIONS_PATH
			    * ("" or "/..."), borrowed from the path */
	int status;        /* REFUSED: 404, or 405 */
	const char *allow; /* REFUSED: "" or the Allow header line (static) */
	const char *text;  /* REFUSED: the answer's text (static) */
	bool body;         /* SUBSCRIBE: a QUERY, its parameters also in the body */
};

/* The request's path: REQUEST_URI up to its '?', else SCRIPT_NAME +
 * PATH_INFO. Returns a malloc'ed string (the caller frees it); cannot
 * fail (aborts on OOM). */
char *hub_params_path(hub_param_fn get, void *arg);

/* The hub's URL as this request reached it: "https://" when HTTPS is on
 * (or REQUEST_SCHEME says https), else "http://", then the Host header
 * (else SERVER_NAME), with SERVER_PORT when it has no port of its own and
 * that is not the scheme's, then HUB_PATH. (Behind a proxy that changes
 * the port, set hubd's resource instead.)
 * Returns a malloc'ed string, or NULL when neither names a plausible
 * host. Cannot fail otherwise. */
char *hub_params_hub_url(hub_param_fn get, void *arg);

/* The endpoint path (borrowed) and method (borrowed; "" when absent) ask
 * for. Cannot fail. */
struct hub_target hub_params_route(const char *path, const char *method);

/* How a refusal's text starts when the token's presentation is what is
 * wrong: the handler then adds RFC 6750's challenge with
 * error="invalid_request" (and leaves this prefix out of the body). */
#define HUB_PARAMS_INVALID_REQUEST "invalid_request: "

/* The subscribe a request asks for, from query (borrowed) parsed into q
 * (empty before the call), with body (NULL, or a QUERY request's form
 * body, parsed: its pairs count as if they followed the query's; the
 * query's last_event_id wins over the body's) and the Last-Event-ID, Authorization, Cookie and
 * Origin headers, into sub (zeroed, fd -1, before the call): its matchers
 * (topic parameters: Mercure draft-07; match and match_exact: draft-08;
 * never both), its Last-Event-ID (the header, else lastEventID in draft-07
 * or last_event_id in draft-08) and its credentials (draft-08: none from
 * the query). The handler adds the mode and the rest. Returns 0, or 400
 * with the answer's text in err; q and sub then hold whatever was done so
 * far: the caller frees both either way. */
int hub_params_subscribe(hub_param_fn get, void *arg, const char *query,
			 const struct http_form *body, struct http_form *q,
			 struct ctl_subscribe *sub, char *err, size_t errlen);

/* The history request a request asks for, from query parsed into q as
 * above, into h (zeroed before the call): topics, after (or since),
 * limit, http, credentials. *limit gets the limit parameter, or -1 when
 * there is none. Returns 0 or 400 as above; the caller clears h. */
int hub_params_history(hub_param_fn get, void *arg, const char *query,
		       struct http_form *q, struct ctl_history *h, int64_t *limit, char *err,
		       size_t errlen);

/* The subscriptions request, from rest (a hub_target's) and query parsed
 * into q as above, into sq (zeroed before the call): the topic and
 * subscriber from the percent-decoded path segments, http, credentials.
 * Returns 0, or 400 (a malformed segment or query) or 404 (more segments,
 * or a path that is no resource) with the text in err; the caller clears
 * sq. */
int hub_params_subscriptions(hub_param_fn get, void *arg, const char *rest,
			     const char *query, struct http_form *q, struct ctl_subscriptions *sq,
			     char *err, size_t errlen);

#endif
