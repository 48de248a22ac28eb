/* publish_listener.c -- POST /.well-known/mercure over plain HTTP, straight
 * into hubd (see .h). evhttp parses HTTP and enforces the size limits and
 * timeouts; this file checks what the request asks for and turns it into
 * the control fields hub.fcgi would have sent. */
#include "config.h"

#include "publish_listener.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "ctl_proto.h"
#include "http_form.h"
#include "log.h"
#include "mercure_form.h"
#include "requests.h"
#include "util.h"

#define HUB_PATH "/.well-known/mercure"
#define MAX_HEADERS_SIZE (16 * 1024)
#define IDLE_TIMEOUT_S 60 /* a connection idle or stalled this long is closed */
#define LISTEN_BACKLOG 4096
#define ACCEPT_PAUSE_MS 1000 /* after accept fails (out of descriptors) */

struct publish_listener {
	struct event_base *base;
	struct evhttp *http;
	struct evhttp_bound_socket *bound; /* NULL once stopped */
	struct event *resume_ev;           /* re-enables accepting after a pause */
	struct requests *rq;
	int pending;                       /* publishes waiting for the store */
	bool stopped;                      /* new requests are refused (503) */
};

/* evhttp hands the listener's error callback its own pointer, not ours:
 * the one listener a hubd runs is found here. */
static struct publish_listener *the_listener;

/* One publish waiting for the store. */
struct pending_publish {
	struct publish_listener *l;
	struct evhttp_request *req;
};

/* Adds the header lines extra ("Name: value\r\n"..., built by hubd) to h. */
static void add_header_lines(struct evkeyvalq *h, const char *extra)
{
	while (extra && *extra) {
		size_t n = strcspn(extra, "\r"), colon = strcspn(extra, ":");
		if (colon < n) {
			char *name = xmemdup(extra, colon);
			const char *v = extra + colon + 1 + strspn(extra + colon + 1, " ");
			char *value = xmemdup(v, (size_t)(extra + n - v));
			evhttp_add_header(h, name, value);
			free(name);
			free(value);
		}
		extra += n + (extra[n] ? 2 : 0);
	}
}

/* Sends the whole answer: 200 with the update's id, or status with text
 * as a text/plain line; extra: more header lines, or NULL. */
static void answer_with(struct evhttp_request *req, int status, const char *text,
			const char *extra)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	evhttp_add_header(h, "Content-Type", "text/plain; charset=utf-8");
	evhttp_add_header(h, "Cache-Control", "no-store");
	add_header_lines(h, extra);
	if (status == 401 && !evhttp_find_header(h, "WWW-Authenticate"))
		evhttp_add_header(h, "WWW-Authenticate", "Bearer realm=\"hubd\"");
	if (status == 405)
		evhttp_add_header(h, "Allow", "POST");
	struct buf b = {0};
	if (status == 200)
		buf_adds(&b, text);
	else
		http_text_body(&b, status, text, strlen(text));
	struct evbuffer *body = evbuffer_new();
	if (!body)
		fatal("out of memory");
	evbuffer_add(body, b.p ? b.p : "", b.len);
	buf_free(&b);
	/* evhttp frees req here, also when its client has already gone. */
	evhttp_send_reply(req, status, http_reason_phrase(status), body);
	evbuffer_free(body);
}

static void answer(struct evhttp_request *req, int status, const char *text)
{
	answer_with(req, status, text, NULL);
}

static void publish_done(void *arg, int status, const char *text, const char *headers)
{
	struct pending_publish *pp = arg;
	pp->l->pending--;
	answer_with(pp->req, status, text, headers);
	free(pp);
}

/* The hub's URL as a request with this Host header (borrowed, may be
 * NULL) reached the listener (plain HTTP), or NULL for a missing or odd
 * one. Malloc'ed. */
static char *listener_hub_url(const char *host)
{
	if (!http_host_ok(host))
		return NULL;
	struct buf b = {0};
	buf_printf(&b, "http://%s%s", host, HUB_PATH);
	return buf_steal(&b, NULL);
}

/* Checks the request and fills pub (zeroed before the call; the caller
 * clears it either way). Returns 0, or the HTTP status to answer with a
 * reason in err. */
static int read_publish(struct evhttp_request *req, struct ctl_publish *pub, char *err,
			size_t errlen)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	if (!path || strcmp(path, HUB_PATH) != 0) {
		snprintf(err, errlen, "not found: this endpoint takes publishes at " HUB_PATH);
		return 404;
	}
	if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
		snprintf(err, errlen,
			 "this endpoint only takes publishes (POST); subscribe through the web server");
		return 405;
	}
	struct evkeyvalq *h = evhttp_request_get_input_headers(req);
	if (!http_media_type_is(evhttp_find_header(h, "Content-Type"), MERCURE_FORM_TYPE)) {
		snprintf(err, errlen, "Content-Type must be " MERCURE_FORM_TYPE);
		return 415;
	}
	struct http_form q = {0}, f = {0};
	char why[160];
	const char *query = evhttp_uri_get_query(uri);
	if (query && http_form_parse(&q, query, strlen(query), why, sizeof why) < 0) {
		snprintf(err, errlen, "malformed query string: %s", why);
		return 400;
	}
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	const char *body = len ? (const char *)evbuffer_pullup(in, -1) : "";
	int status = 0;
	if (http_form_parse(&f, body, len, why, sizeof why) < 0) {
		snprintf(err, errlen, "malformed form: %s", why);
		status = 400;
	} else {
		status = mercure_publish_form(&f, pub, err, errlen);
	}
	if (!status) {
		mercure_credentials(&pub->cred, evhttp_find_header(h, "Authorization"), &q,
				    evhttp_find_header(h, "Cookie"), evhttp_find_header(h, "Origin"));
		pub->cred.hub_url = listener_hub_url(evhttp_find_header(h, "Host"));
	}
	http_form_free(&f);
	http_form_free(&q);
	return status;
}

static void request_cb(struct evhttp_request *req, void *arg)
{
	struct publish_listener *l = arg;
	char err[256];
	struct ctl_publish pub = {0};
	if (l->stopped) {
		/* Stopping: the store may be closing. Keep-alive connections
		 * still bring requests; each gets a clear answer. */
		evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
		answer(req, 503, "hub is shutting down");
		return;
	}
	int status = read_publish(req, &pub, err, sizeof err);
	if (status) {
		log_debug("publish listener: %d %s", status, err);
		ctl_publish_clear(&pub);
		answer(req, status, err);
		return;
	}
	struct pending_publish *pp = xmalloc(sizeof *pp);
	pp->l = l;
	pp->req = req;
	l->pending++;
	requests_publish(l->rq, &pub, publish_done, pp);
}

static void resume_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct publish_listener *l = arg;
	if (l->bound)
		evconnlistener_enable(evhttp_bound_socket_get_listener(l->bound));
}

/* accept failed for a reason other than a retriable one: most likely out
 * of descriptors (EMFILE). Without a pause the listening socket would stay
 * readable and the loop would spin; a second later, try again. */
static void accept_error_cb(struct evconnlistener *lev, void *arg)
{
	(void)arg;
	struct publish_listener *l = the_listener;
	int e = EVUTIL_SOCKET_ERROR();
	log_warn("publish listener: cannot accept a connection: %s; pausing for %d ms",
		 evutil_socket_error_to_string(e), ACCEPT_PAUSE_MS);
	evconnlistener_disable(lev);
	struct timeval tv = {ACCEPT_PAUSE_MS / 1000, (ACCEPT_PAUSE_MS % 1000) * 1000};
	if (l)
		evtimer_add(l->resume_ev, &tv);
}

struct publish_listener *publish_listener_start(struct event_base *base, const char *addr,
						struct requests *rq, size_t max_body,
						char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	int sslen = (int)sizeof ss;
	if (the_listener) {
		snprintf(err, errlen, "a publish listener runs already");
		return NULL;
	}
	if (evutil_parse_sockaddr_port(addr, (struct sockaddr *)&ss, &sslen) < 0) {
		snprintf(err, errlen, "malformed address %s", addr);
		return NULL;
	}
	struct evconnlistener *lev = evconnlistener_new_bind(
		base, NULL, NULL,
		LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_DISABLED,
		LISTEN_BACKLOG, (struct sockaddr *)&ss, sslen);
	if (!lev) {
		snprintf(err, errlen, "cannot listen on %s: %s", addr,
			 evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		return NULL;
	}
	struct publish_listener *l = xcalloc(1, sizeof *l);
	l->base = base;
	l->rq = rq;
	l->http = evhttp_new(base);
	if (!l->http)
		fatal("out of memory");
	evhttp_set_gencb(l->http, request_cb, l);
	evhttp_set_max_body_size(l->http, (ev_ssize_t)max_body);
	evhttp_set_max_headers_size(l->http, MAX_HEADERS_SIZE);
	evhttp_set_timeout(l->http, IDLE_TIMEOUT_S);
	/* Every method reaches request_cb, which answers 405 with Allow. */
	evhttp_set_allowed_methods(l->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
						    EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
						    EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
						    EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
	l->bound = evhttp_bind_listener(l->http, lev);
	if (!l->bound)
		fatal("out of memory");
	evconnlistener_set_error_cb(lev, accept_error_cb);
	l->resume_ev = evtimer_new(base, resume_cb, l);
	if (!l->resume_ev)
		fatal("out of memory");
	the_listener = l;
	evconnlistener_enable(lev);
	return l;
}

void publish_listener_stop(struct publish_listener *l)
{
	if (!l)
		return;
	l->stopped = true;
	if (!l->bound)
		return;
	evtimer_del(l->resume_ev);
	evhttp_del_accept_socket(l->http, l->bound);
	l->bound = NULL;
}

void publish_listener_free(struct publish_listener *l)
{
	if (!l)
		return;
	publish_listener_stop(l);
	if (l->pending)
		log_error("publish listener freed with %d publishes pending", l->pending);
	evhttp_free(l->http);
	event_free(l->resume_ev);
	if (the_listener == l)
		the_listener = NULL;
	free(l);
}

int publish_listener_pending(const struct publish_listener *l)
{
	return l ? l->pending : 0;
}
