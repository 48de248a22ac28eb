/* hub_handler.c -- hub.fcgi and hub.cgi: the web server's side of hubd.
 * Checks Mercure requests, answers bad ones itself, hands subscriber
 * connections (by descriptor) and publishes to hubd over the control
 * socket. One source, two programs: libfcgi tells FastCGI and CGI apart.
 * In FastCGI mode HUBD_THREADS threads each accept and serve one request
 * at a time, each over its own connection to hubd: a publish holds its
 * thread until hubd has committed it, and hubd can only commit together
 * the publishes that reach it together.
 *
 * A stream request that hubd cannot take now but will later (hubd down,
 * restarting, at capacity, the client over its own cap) gets the retry
 * answer (respond_refusal), which a browser's EventSource follows instead
 * of giving up. */
#include "config.h"

#include <errno.h>
#include <fastcgi.h>
#include <fcgiapp.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cors.h"
#include "ctl_client.h"
#include "ctl_proto.h"
#include "ctl_request.h"
#include "http_form.h"
#include "hub_params.h"
#include "mercure_form.h"
#include "msg.h"
#include "spawner.h"
#include "util.h"

#define DEFAULT_SOCKET "/run/hubd/hubd.sock"
#define DEFAULT_MAX_BODY 1114112u /* 1 MiB of data plus room for the form */
#define QUERY_MAX (64 * 1024)
#define CTL_TIMEOUT_MS 5000
#define DEFAULT_THREADS 4
#define MAX_THREADS 256
#define RETRY_MAX_MS 3600000 /* the longest HUBD_RETRY / HUBD_RETRY_BUSY */

static const char *prog = "hub.fcgi";
static const char *sock_path = DEFAULT_SOCKET;
static size_t max_body = DEFAULT_MAX_BODY;
static int nthreads = DEFAULT_THREADS;
static uint32_t stream_opts; /* CTL_STREAM_* for every subscribe */
static bool under_mod_fcgid; /* refuse every request: see spawner.h */
/* The retry answer's delay is drawn from these (ms): HUBD_RETRY when hubd
 * is unreachable or restarting, HUBD_RETRY_BUSY when it is at capacity or
 * the client is over its cap (429). */
static uint64_t retry_lo = 1000, retry_hi = 5000;
static uint64_t busy_lo = 5000, busy_hi = 30000;

/* One request in either mode. */
struct req {
	bool cgi;
	struct ctl_conn *hub; /* the serving thread's connection to hubd */
	FCGX_Request *fr;  /* FastCGI mode */
	const char *method;
	const char *path;
	bool stream;       /* a stream request: refusals go to respond_refusal */
	bool handed_over;  /* hubd owns the connection: write and finish nothing */
};

/* One line on stderr, control characters escaped, one write(2). */
static void hlog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void hlog(const char *fmt, ...)
{
	char text[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	struct buf b = {0};
	buf_printf(&b, "%s[%ld]: ", prog, (long)getpid());
	for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
		if (*p < 0x20 || *p == 0x7f || *p == '\\')
			buf_printf(&b, "\\x%02x", *p);
		else
			buf_addc(&b, (char)*p);
	}
	buf_addc(&b, '\n');
	ssize_t n = write(STDERR_FILENO, b.p, b.len);
	(void)n;
	buf_free(&b);
}

static const char *req_param(const struct req *r, const char *name)
{
	return r->cgi ? getenv(name) : FCGX_GetParam(name, r->fr->envp);
}

/* req_param as a hub_param_fn; arg is the struct req. */
static const char *param_of(void *arg, const char *name)
{
	return req_param(arg, name);
}

static void req_write(struct req *r, const char *p, size_t n)
{
	if (!r->cgi) {
		while (n > 0) {
			int k = n > INT_MAX ? INT_MAX : (int)n;
			if (FCGX_PutStr(p, k, r->fr->out) != k)
				return;
			p += k;
			n -= (size_t)k;
		}
		return;
	}
	while (n > 0) {
		ssize_t k = write(STDOUT_FILENO, p, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return;
		p += k;
		n -= (size_t)k;
	}
}

/* Reads at most n body bytes: the count, 0 at the end, -1 on an error. */
static long req_read(struct req *r, char *p, size_t n)
{
	if (!r->cgi) {
		int k = FCGX_GetStr(p, n > INT_MAX ? INT_MAX : (int)n, r->fr->in);
		if (k <= 0 && FCGX_GetError(r->fr->in) != 0)
			return -1;
		return k;
	}
	ssize_t k;
	do
		k = read(STDIN_FILENO, p, n);
	while (k < 0 && errno == EINTR);
	return k;
}

/* Writes a whole non-stream response. extra is "" or header lines, each
 * ending in CRLF, built only from constants and percent-encoded input. */
static void respond(struct req *r, int status, const char *ctype, const char *extra,
		    const char *body, size_t body_len)
{
	struct buf b = {0};
	buf_printf(&b,
		   "Status: %d %s\r\n"
		   "Content-Type: %s\r\n"
		   "Cache-Control: no-store\r\n"
		   "Content-Length: %zu\r\n"
		   "%s\r\n",
		   status, http_reason_phrase(status), ctype, body_len, extra);
	buf_add(&b, body, body_len);
	req_write(r, b.p, b.len);
	buf_free(&b);
}

/* A text/plain response: text (n bytes, any content: control characters
 * become spaces, at most 1000 bytes kept) plus a final newline. */
static void respond_textn(struct req *r, int status, const char *extra,
			  const char *text, size_t n)
{
	struct buf b = {0};
	http_text_body(&b, status, text, n);
	respond(r, status, "text/plain; charset=utf-8", extra, b.p, b.len);
	buf_free(&b);
}

static void respond_text(struct req *r, int status, const char *extra,
			 const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void respond_text(struct req *r, int status, const char *extra,
			 const char *fmt, ...)
{
	char text[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	respond_textn(r, status, extra, text, strlen(text));
}

/* True when the request's Accept header lists text/event-stream (any
 * case, parameters ignored) with a q other than 0: what EventSource in
 * browsers and in the common libraries sends. */
static bool accepts_event_stream(const struct req *r)
{
	const char *p = req_param(r, "HTTP_ACCEPT");
	static const char want[] = "text/event-stream";
	while (p && *p) {
		p += strspn(p, " \t,");
		size_t n = strcspn(p, ",");
		size_t type_len = strcspn(p, ";,");
		size_t t = type_len;
		while (t > 0 && (p[t - 1] == ' ' || p[t - 1] == '\t'))
			t--;
		if (t == sizeof want - 1 && strncasecmp(p, want, t) == 0) {
			/* "q=0", "q=0.0"...: not acceptable after all. */
			bool refused = false;
			for (const char *q = p + type_len; q < p + n; q++) {
				if (*q != ';')
					continue;
				q += 1 + strspn(q + 1, " \t");
				if ((*q == 'q' || *q == 'Q') && q[1] == '=' && q[2] == '0') {
					size_t z = 3;
					if (q[z] == '.')
						z += 1 + strspn(q + z + 1, "0");
					refused = q + z >= p + n || strchr(" \t;,", q[z]);
				}
			}
			if (!refused)
				return true;
		}
		p += n;
	}
	return false;
}

/* Answers a stream request that a later retry can cure: status 503 (hubd
 * unreachable, restarting, at capacity) or 429 (the client's own cap);
 * busy picks HUBD_RETRY_BUSY's delays over HUBD_RETRY's. extra: header
 * lines as respond takes them (hubd's CORS); text: the reason.
 *
 * A browser's EventSource (WHATWG HTML, "server-sent events") gives up for
 * good on any answer but a 200 text/event-stream, and reconnects, after
 * its reconnection time, when such a stream ends. So a client that accepts
 * text/event-stream gets a 200 stream carrying only "retry: N" (N drawn
 * from the range, so that clients refused together come back spread out),
 * a comment with the reason, and a "hubd-retry" event ({"status", "retry"})
 * for pages that want to show it (a plain page has no listener for it),
 * then the end of the stream: no id, so the client keeps its
 * Last-Event-ID and resumes where it was. The real status goes along as
 * X-Hubd-Status, with Retry-After (seconds). Any other client gets the
 * status itself, with Retry-After. */
static void respond_refusal(struct req *r, int status, bool busy, const char *extra,
			    const char *text, size_t n)
{
	uint64_t ms = busy ? random_between(busy_lo, busy_hi) : random_between(retry_lo, retry_hi);
	struct buf hdr = {0};
	buf_printf(&hdr, "Retry-After: %llu\r\n", (unsigned long long)((ms + 999) / 1000));
	buf_adds(&hdr, extra);
	if (!accepts_event_stream(r)) {
		respond_textn(r, status, hdr.p, text, n);
		buf_free(&hdr);
		return;
	}
	buf_printf(&hdr, "X-Hubd-Status: %d\r\n", status);
	struct buf reason = {0};
	http_text_body(&reason, status, text, n); /* one printable line, then LF */
	struct buf body = {0};
	buf_printf(&body, "retry: %llu\n: %.*s", (unsigned long long)ms, (int)reason.len, reason.p);
	buf_printf(&body, "event: hubd-retry\ndata: {\"status\":%d,\"retry\":%llu}\n\n", status,
		   (unsigned long long)ms);
	respond(r, 200, "text/event-stream", hdr.p, body.p, body.len);
	buf_free(&body);
	buf_free(&reason);
	buf_free(&hdr);
}

/* Appends CORS headers that let a page of the request's Origin (when it
 * sent one of at most 512 visible ASCII characters) read the answer, with
 * credentials. Only for the retry answer while hubd, which knows the
 * allowed origins, is unreachable: that answer holds nothing but a delay,
 * and a cross-origin EventSource that cannot read it gives up for good. */
static void add_any_origin(const struct req *r, struct buf *out)
{
	const char *o = req_param(r, "HTTP_ORIGIN");
	size_t n = o ? strlen(o) : 0;
	if (n == 0 || n > 512)
		return;
	for (size_t i = 0; i < n; i++)
		if (o[i] <= 0x20 || o[i] >= 0x7f)
			return;
	cors_headers("*", o, false, out);
}

static void respond_unavailable(struct req *r, enum ctl_client_result res,
				const char *why)
{
	hlog("%s %s: hubd %s: %s", r->method, r->path, ctl_client_result_name(res), why);
	static const char text[] = "hub unavailable";
	if (r->stream) {
		struct buf cors = {0};
		add_any_origin(r, &cors);
		respond_refusal(r, 503, false, cors.p ? cors.p : "", text, sizeof text - 1);
		buf_free(&cors);
	} else {
		respond_text(r, 503, "", "%s", text);
	}
}

/* Appends the response header lines hubd sent with a reply (its HEADERS
 * field: CORS) to out. Lines must be printable text each ending in CRLF;
 * anything else is dropped whole, so a reply can never split the
 * response. */
static void add_reply_headers(struct buf *out, const struct ctl_msg *reply)
{
	const struct ctl_field *h = ctl_find(reply, CTL_T_HEADERS);
	if (!h || h->len < 2 || h->val[h->len - 2] != '\r' || h->val[h->len - 1] != '\n')
		return;
	for (size_t i = 0; i < h->len; i++) {
		unsigned char c = (unsigned char)h->val[i];
		bool crlf = (c == '\r' && i + 1 < h->len && h->val[i + 1] == '\n') ||
			    (c == '\n' && i > 0 && h->val[i - 1] == '\r');
		if ((c < 0x20 || c == 0x7f) && !crlf) {
			hlog("hubd sent malformed response headers; dropped");
			return;
		}
	}
	buf_add(out, h->val, h->len);
}

/* Answers a CTL_ERROR reply: its STATUS with its MESSAGE as the body. */
static void respond_ctl_error(struct req *r, const struct ctl_msg *reply)
{
	int status = (int)ctl_client_status(reply);
	const struct ctl_field *m = ctl_find(reply, CTL_T_MESSAGE);
	if (status < 400) {
		hlog("hubd answered an error with status %d", status);
		status = 502;
	}
	struct buf extra = {0};
	add_reply_headers(&extra, reply);
	/* hubd sends a draft-08 request's challenge itself (RFC 6750). */
	if (status == 401 && !(extra.p && strstr(extra.p, "WWW-Authenticate:")))
		buf_adds(&extra, "WWW-Authenticate: Bearer realm=\"hubd\"\r\n");
	uint32_t retry = 0;
	const struct ctl_field *rf = ctl_find(reply, CTL_T_RETRY);
	if (rf && !ctl_field_u32(rf, &retry))
		retry = 0;
	if (r->stream && (status == 503 || status == 429)) {
		/* A refused stream is retried: soon when hubd says so (it
		 * shuts down, a new one is on its way: the short delays),
		 * else later (at capacity, over a client's cap: the long
		 * ones). */
		bool busy = retry != CTL_RETRY_SOON;
		respond_refusal(r, status, busy, extra.p ? extra.p : "", m ? m->val : "",
				m ? m->len : 0);
	} else {
		respond_textn(r, status, extra.p ? extra.p : "", m ? m->val : "", m ? m->len : 0);
	}
	buf_free(&extra);
}

enum body_result { BODY_OK, BODY_TOO_LARGE, BODY_SHORT, BODY_BAD_LENGTH, BODY_ERROR };

/* Reads the request body into b (or discards it when b is NULL), at most
 * limit bytes. FastCGI: to the end of the stream, so that nothing is left
 * in libfcgi's read-ahead. CGI: CONTENT_LENGTH bytes (a CGI script must
 * not read further); without one, a POST is read to EOF and other methods
 * not at all. */
static enum body_result read_body(struct req *r, struct buf *b, size_t limit)
{
	const char *cls = req_param(r, "CONTENT_LENGTH");
	uint64_t cl = 0;
	bool has_cl = cls && *cls;
	if (has_cl && !parse_digits(cls, UINT64_MAX, &cl))
		return BODY_BAD_LENGTH;
	if (has_cl && cl > limit)
		return BODY_TOO_LARGE;
	uint64_t want = UINT64_MAX;
	if (r->cgi)
		want = has_cl ? cl : strcmp(r->method, "POST") == 0 ? UINT64_MAX : 0;

	char tmp[8192];
	uint64_t total = 0;
	while (total < want) {
		size_t n = sizeof tmp;
		if (want - total < n)
			n = (size_t)(want - total);
		long k = req_read(r, tmp, n);
		if (k < 0)
			return BODY_ERROR;
		if (k == 0)
			break;
		total += (uint64_t)k;
		if (total > limit || (has_cl && total > cl))
			return BODY_TOO_LARGE;
		if (b)
			buf_add(b, tmp, (size_t)k);
	}
	if (has_cl && total < cl)
		return BODY_SHORT;
	return BODY_OK;
}

/* Answers a read_body failure. */
static void respond_body_error(struct req *r, enum body_result br, size_t limit)
{
	if (br == BODY_TOO_LARGE)
		respond_text(r, 413, "", "request body larger than %zu bytes", limit);
	else if (br == BODY_SHORT)
		respond_text(r, 400, "", "request body shorter than its Content-Length");
	else if (br == BODY_BAD_LENGTH)
		respond_text(r, 400, "", "bad Content-Length");
	else
		respond_text(r, 400, "", "could not read the request body");
}

/* Sends request type with payload p to hubd and waits for its reply.
 * Returns true with the reply in *reply (the caller clears it); on a
 * transport failure answers 503 itself and returns false. */
static bool call_hub(struct req *r, uint16_t type, const struct buf *p, int passfd,
		     struct ctl_msg *reply)
{
	char why[256];
	enum ctl_client_result res = ctl_conn_call(r->hub, type, p->p, p->len, passfd,
						   CTL_TIMEOUT_MS, reply, why, sizeof why);
	if (res != CTL_CLIENT_OK) {
		respond_unavailable(r, res, why);
		return false;
	}
	return true;
}

/* GET /.well-known/mercure: hand the connection to hubd. */
static void subscribe(struct req *r, const char *query, bool with_body)
{
	struct http_form q = {0}, bf = {0};
	struct ctl_subscribe sub = {.fd = -1};
	struct buf p = {0}, body = {0};
	struct ctl_msg reply;
	char err[256];
	/* QUERY: the matchers (too many for a URL) may come in a form body,
	 * read whole first; GET: a body is read and dropped below. */
	if (with_body) {
		/* The body is read first, even when it is refused: a CGI front
		 * (mod_cgid) cuts the answer of a script that leaves it unread. */
		enum body_result br = read_body(r, &body, QUERY_MAX);
		if (br != BODY_OK) {
			respond_body_error(r, br, QUERY_MAX);
			goto out;
		}
		if (!http_media_type_is(req_param(r, "CONTENT_TYPE"), MERCURE_FORM_TYPE)) {
			respond_text(r, 415, "", "Content-Type must be " MERCURE_FORM_TYPE);
			goto out;
		}
		if (http_form_parse(&bf, body.p ? body.p : "", body.len, err, sizeof err) < 0) {
			respond_text(r, 400, "", "malformed form: %s", err);
			goto out;
		}
	}
	int status = hub_params_subscribe(param_of, r, query, with_body ? &bf : NULL, &q, &sub, err,
					  sizeof err);
	size_t prefix = strlen(HUB_PARAMS_INVALID_REQUEST);
	if (status && strncmp(err, HUB_PARAMS_INVALID_REQUEST, prefix) == 0) {
		respond_text(r, status, "WWW-Authenticate: Bearer error=\"invalid_request\"\r\n",
			     "%s", err + prefix);
		goto out;
	}
	if (status) {
		respond_text(r, status, "", "%s", err);
		goto out;
	}
	r->stream = true;

	enum body_result br = with_body ? BODY_OK : read_body(r, NULL, max_body);
	if (br != BODY_OK) {
		respond_body_error(r, br, max_body);
		goto out;
	}

	/* Apache (mod_proxy_fcgi, mod_cgid) writes to the client from a thread
	 * that waits on hubd: the first write after the client left meets its
	 * reset, only the second fails and ends the request. */
	sub.stream_opts = stream_opts;
	const char *software = req_param(r, "SERVER_SOFTWARE");
	if (software && strncmp(software, "Apache", 6) == 0)
		sub.stream_opts |= CTL_STREAM_PROBE_TWICE;
	/* For hubd's per-client cap; anything but a short line is not an
	 * address and goes unsaid. */
	const char *addr = req_param(r, "REMOTE_ADDR");
	if (addr && strlen(addr) <= CTL_CLIENT_ADDR_MAX_LEN && !has_line_break(addr, strlen(addr)))
		sub.client_addr = xstrdup(addr);
	int passfd;
	if (r->cgi) {
		sub.mode = CTL_MODE_CGI;
		passfd = STDOUT_FILENO;
	} else {
		if (r->fr->keepConnection) {
			/* The connection would carry later requests too: it
			 * cannot be handed over (Apache: no enablereuse). */
			hlog("the web server keeps FastCGI connections open; "
			     "subscriptions need one connection per request");
			respond_text(r, 500, "", "FastCGI connection reuse is not supported");
			goto out;
		}
		sub.mode = CTL_MODE_FCGI;
		sub.fcgi_request_id = (uint16_t)r->fr->requestId;
		passfd = r->fr->ipcFd;
	}
	ctl_subscribe_encode(&sub, &p);

	if (!call_hub(r, CTL_SUBSCRIBE, &p, passfd, &reply))
		goto out;
	if (reply.type == CTL_OK) {
		/* hubd owns the stream now: close our copy without a word. */
		r->handed_over = true;
		if (!r->cgi) {
			FCGX_Detach(r->fr);
			FCGX_Free(r->fr, 1);
		}
	} else {
		respond_ctl_error(r, &reply);
	}
	ctl_msg_clear(&reply);
out:
	ctl_subscribe_clear(&sub);
	buf_free(&p);
	buf_free(&body);
	http_form_free(&q);
	http_form_free(&bf);
}

/* POST /.well-known/mercure: check the form, forward it to hubd. */
static void publish(struct req *r)
{
	struct buf body = {0};
	struct buf p = {0};
	struct http_form f = {0};
	struct ctl_publish pub = {0};
	struct ctl_msg reply;
	char why[256];
	if (!http_media_type_is(req_param(r, "CONTENT_TYPE"),
				MERCURE_FORM_TYPE)) {
		respond_text(r, 415, "", "Content-Type must be application/x-www-form-urlencoded");
		return;
	}
	enum body_result br = read_body(r, &body, max_body);
	if (br != BODY_OK) {
		respond_body_error(r, br, max_body);
		goto out;
	}
	if (http_form_parse(&f, body.p ? body.p : "", body.len, why, sizeof why) < 0) {
		respond_text(r, 400, "", "malformed form: %s", why);
		goto out;
	}
	int status = mercure_publish_form(&f, &pub, why, sizeof why);
	if (status) {
		respond_text(r, status, "", "%s", why);
		goto out;
	}
	mercure_credentials(&pub.cred, req_param(r, "HTTP_AUTHORIZATION"), NULL,
			    req_param(r, "HTTP_COOKIE"), req_param(r, "HTTP_ORIGIN"));
	pub.cred.hub_url = hub_params_hub_url(param_of, r);
	ctl_publish_encode(&pub, &p);

	if (!call_hub(r, CTL_PUBLISH, &p, -1, &reply))
		goto out;
	if (reply.type == CTL_OK) {
		const struct ctl_field *id = ctl_find(&reply, CTL_T_ID);
		if (id) {
			struct buf extra = {0};
			add_reply_headers(&extra, &reply);
			respond(r, 200, "text/plain; charset=utf-8", extra.p ? extra.p : "",
				id->val, id->len);
			buf_free(&extra);
		} else {
			hlog("hubd acknowledged a publish without an ID");
			respond_text(r, 502, "", "hub answered without an id");
		}
	} else {
		respond_ctl_error(r, &reply);
	}
	ctl_msg_clear(&reply);
out:
	ctl_publish_clear(&pub);
	http_form_free(&f);
	buf_free(&p);
	buf_free(&body);
}

/* GET /.well-known/mercure/history: one page of updates as JSON. */
static void history(struct req *r, const char *query)
{
	struct http_form q = {0};
	struct ctl_history h = {0};
	struct buf p = {0};
	struct ctl_msg reply;
	char err[256];
	int64_t limit;
	int status = hub_params_history(param_of, r, query, &q, &h, &limit, err, sizeof err);
	if (status) {
		respond_text(r, status, "", "%s", err);
		goto out;
	}
	ctl_history_encode(&h, &p);

	if (!call_hub(r, CTL_HISTORY, &p, -1, &reply))
		goto out;
	if (reply.type != CTL_OK) {
		respond_ctl_error(r, &reply);
		ctl_msg_clear(&reply);
		goto out;
	}
	const struct ctl_field *body = ctl_find(&reply, CTL_T_BODY);
	const struct ctl_field *next = ctl_find(&reply, CTL_T_NEXT);
	if (!body) {
		hlog("hubd answered a history request without a BODY");
		respond_text(r, 502, "", "hub answered without a body");
		ctl_msg_clear(&reply);
		goto out;
	}
	struct buf link = {0};
	if (next) {
		buf_adds(&link, "Link: <" HISTORY_PATH "?");
		for (const struct http_field *t = http_form_find(&q, "topic"); t;
		     t = http_form_next(&q, t, "topic")) {
			buf_adds(&link, "topic=");
			http_percent_encode(&link, t->value, t->value_len);
			buf_addc(&link, '&');
		}
		buf_adds(&link, "after=");
		http_percent_encode(&link, next->val, next->len);
		if (limit >= 0)
			buf_printf(&link, "&limit=%u", (unsigned)limit);
		buf_adds(&link, ">; rel=\"next\"\r\n");
	}
	add_reply_headers(&link, &reply);
	respond(r, 200, "application/json", link.p ? link.p : "", body->val, body->len);
	buf_free(&link);
	ctl_msg_clear(&reply);
out:
	ctl_history_clear(&h);
	buf_free(&p);
	http_form_free(&q);
}

/* GET /.well-known/mercure/subscriptions[/{topic}[/{subscriber}]]: the
 * active subscriptions as JSON-LD. rest: the path after SUBSCRIPTIONS_PATH
 * ("" or "/..."). */
static void subscriptions(struct req *r, const char *rest, const char *query)
{
	struct http_form q = {0};
	struct ctl_subscriptions sq = {0};
	struct buf p = {0};
	struct ctl_msg reply;
	char err[256];
	int status = hub_params_subscriptions(param_of, r, rest, query, &q, &sq, err, sizeof err);
	if (status) {
		respond_text(r, status, "", "%s", err);
		goto out;
	}
	ctl_subscriptions_encode(&sq, &p);
	if (!call_hub(r, CTL_SUBSCRIPTIONS, &p, -1, &reply))
		goto out;
	const struct ctl_field *body = ctl_find(&reply, CTL_T_BODY);
	if (reply.type == CTL_OK && body) {
		struct buf extra = {0};
		add_reply_headers(&extra, &reply);
		/* draft-07: JSON-LD; draft-08 (hubd says so): plain JSON. */
		const struct ctl_field *type = ctl_find(&reply, CTL_T_TYPE);
		bool json = type && type->len == 16 && memcmp(type->val, "application/json", 16) == 0;
		respond(r, 200, json ? "application/json" : "application/ld+json",
			extra.p ? extra.p : "", body->val, body->len);
		buf_free(&extra);
	} else {
		respond_ctl_error(r, &reply);
	}
	ctl_msg_clear(&reply);
out:
	ctl_subscriptions_clear(&sq);
	buf_free(&p);
	http_form_free(&q);
}

/* GET METADATA_PATH: the hub's RFC 9728 protected resource metadata, as
 * hubd writes it. */
static void metadata(struct req *r)
{
	struct buf p = {0};
	struct ctl_msg reply;
	char *hub_url = hub_params_hub_url(param_of, r);
	if (hub_url)
		ctl_put_str(&p, CTL_T_HUB_URL, hub_url);
	free(hub_url);
	mercure_put_credentials(&p, NULL, NULL, NULL, req_param(r, "HTTP_ORIGIN"));
	bool answered = call_hub(r, CTL_METADATA, &p, -1, &reply);
	buf_free(&p);
	if (!answered)
		return;
	const struct ctl_field *body = ctl_find(&reply, CTL_T_BODY);
	if (reply.type == CTL_OK && body) {
		struct buf extra = {0};
		add_reply_headers(&extra, &reply);
		respond(r, 200, "application/json", extra.p ? extra.p : "", body->val, body->len);
		buf_free(&extra);
	} else {
		respond_ctl_error(r, &reply);
	}
	ctl_msg_clear(&reply);
}

/* OPTIONS: a CORS preflight, answered 204 with what hubd allows. */
static void preflight(struct req *r)
{
	struct buf p = {0};
	struct ctl_msg reply;
	const char *origin = req_param(r, "HTTP_ORIGIN");
	mercure_put_credentials(&p, NULL, NULL, NULL, origin);
	bool answered = call_hub(r, CTL_PREFLIGHT, &p, -1, &reply);
	buf_free(&p);
	if (!answered)
		return;
	if (reply.type == CTL_OK) {
		struct buf extra = {0};
		buf_adds(&extra, "Allow: GET, POST, QUERY, OPTIONS\r\n");
		add_reply_headers(&extra, &reply);
		respond(r, 204, "text/plain; charset=utf-8", extra.p, "", 0);
		buf_free(&extra);
	} else {
		respond_ctl_error(r, &reply);
	}
	ctl_msg_clear(&reply);
}

static void handle(struct req *r)
{
	r->method = req_param(r, "REQUEST_METHOD");
	if (!r->method)
		r->method = "";
	const char *query = req_param(r, "QUERY_STRING");
	if (!query)
		query = "";
	char *path = hub_params_path(param_of, r);
	r->path = path;
	struct hub_target t = hub_params_route(path, r->method);
	if (under_mod_fcgid) {
		respond_text(r, 500, "", "%s", SPAWNER_MOD_FCGID_ERROR);
	} else if (strlen(query) > QUERY_MAX) {
		respond_text(r, 414, "", "query string longer than %d bytes", QUERY_MAX);
	} else if (t.route == HUB_ROUTE_SUBSCRIBE) {
		subscribe(r, query, t.body);
	} else if (t.route == HUB_ROUTE_PUBLISH) {
		publish(r);
	} else if (t.route == HUB_ROUTE_PREFLIGHT) {
		preflight(r);
	} else if (t.route == HUB_ROUTE_HISTORY) {
		history(r, query);
	} else if (t.route == HUB_ROUTE_SUBSCRIPTIONS) {
		subscriptions(r, t.rest, query);
	} else if (t.route == HUB_ROUTE_METADATA) {
		metadata(r);
	} else {
		respond_text(r, t.status, t.allow, "%s", t.text);
	}
	free(path);
}

/* The environment variable name as a number from 1 to max into *out;
 * unset or empty leaves *out alone, anything else is logged and ignored. */
static void env_number(const char *name, uint64_t max, uint64_t *out)
{
	const char *s = getenv(name);
	uint64_t v;
	if (!s || !*s)
		return;
	if (parse_digits(s, max, &v) && v > 0)
		*out = v;
	else
		hlog("ignoring %s=%s: not a number from 1 to %llu", name, s,
		     (unsigned long long)max);
}

/* The environment variable name as milliseconds "LO-HI" or "N" (at most
 * RETRY_MAX_MS) into *lo and *hi; unset or empty leaves them alone,
 * anything else is logged and ignored. */
static void env_range(const char *name, uint64_t *lo, uint64_t *hi)
{
	const char *s = getenv(name);
	if (s && *s && !parse_range(s, RETRY_MAX_MS, lo, hi))
		hlog("ignoring %s=%s: not milliseconds LO-HI or N, at most %d", name, s,
		     RETRY_MAX_MS);
}

/* Reads HUBD_SOCKET, HUBD_MAX_BODY, HUBD_THREADS, HUBD_X_ACCEL_BUFFERING,
 * HUBD_RETRY and HUBD_RETRY_BUSY from the environment. */
static void read_env(void)
{
	const char *s = getenv("HUBD_SOCKET");
	if (s && *s)
		sock_path = s;
	uint64_t v = max_body;
	env_number("HUBD_MAX_BODY", SIZE_MAX / 2, &v);
	max_body = (size_t)v;
	v = (uint64_t)nthreads;
	env_number("HUBD_THREADS", MAX_THREADS, &v);
	nthreads = (int)v;
	/* omit: streams go out without X-Accel-Buffering: no, which only
	 * nginx reads (see contrib/lighttpd/hubd.conf). */
	s = getenv("HUBD_X_ACCEL_BUFFERING");
	if (s && strcmp(s, "omit") == 0)
		stream_opts |= CTL_STREAM_NO_X_ACCEL;
	else if (s && *s && strcmp(s, "send") != 0)
		hlog("ignoring HUBD_X_ACCEL_BUFFERING=%s: not send or omit", s);
	env_range("HUBD_RETRY", &retry_lo, &retry_hi);
	env_range("HUBD_RETRY_BUSY", &busy_lo, &busy_hi);
}

/* One FastCGI worker: accepts requests on the listening socket and serves
 * them one after another over its own connection to hubd, until accepting
 * fails (the web server stops us: the main thread then ends the process).
 * Returns 0, or 1 when libfcgi cannot set up a request. */
static int serve_fastcgi(void)
{
	FCGX_Request fr;
	if (FCGX_InitRequest(&fr, FCGI_LISTENSOCK_FILENO, 0) != 0) {
		hlog("FCGX_InitRequest failed");
		return 1;
	}
	struct ctl_conn hub;
	ctl_conn_init(&hub, sock_path);
	for (;;) {
		int rc = FCGX_Accept_r(&fr);
		if (rc < 0) {
			/* -EINTR: the server is stopping us. */
			if (rc != -EINTR)
				hlog("FCGX_Accept_r failed (%d), exiting", rc);
			break;
		}
		struct req r = {.fr = &fr, .hub = &hub};
		handle(&r);
		/* After a handover, finishing would end hubd's stream. */
		if (!r.handed_over)
			FCGX_Finish_r(&fr);
	}
	ctl_conn_close(&hub);
	return 0;
}

/* An extra worker. It stops only when accepting fails for a reason other
 * than a signal (those reach the main thread): the process then ends, as
 * the single-threaded one did, and the web server starts a new one. */
static void *worker_main(void *unused)
{
	(void)unused;
	exit(serve_fastcgi());
}

/* Starts nthreads - 1 more workers; the calling thread is the last one.
 * The extra ones block the signals that stop the process, so those reach
 * the calling (main) thread: its accept fails, and returning from main
 * ends the process, requests in flight on other threads included, as a
 * signal's default action would. */
static void start_workers(void)
{
	sigset_t stop, old;
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGHUP);
	sigaddset(&stop, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &stop, &old);
	for (int i = 1; i < nthreads; i++) {
		pthread_t t;
		int rc = pthread_create(&t, NULL, worker_main, NULL);
		if (rc != 0) {
			hlog("cannot start worker thread %d of %d: %s", i + 1, nthreads,
			     strerror(rc));
			break;
		}
		pthread_detach(t);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	if (FCGX_Init() != 0) {
		hlog("FCGX_Init failed");
		return 1;
	}
	if (FCGX_IsCGI()) {
		prog = "hub.cgi";
		read_env();
		struct ctl_conn hub;
		ctl_conn_init(&hub, sock_path);
		struct req r = {.cgi = true, .hub = &hub};
		handle(&r);
		ctl_conn_close(&hub);
		return 0;
	}
	read_env();
	under_mod_fcgid = spawner_is_apache();
	if (under_mod_fcgid)
		hlog("%s", SPAWNER_MOD_FCGID_ERROR);
	start_workers();
	return serve_fastcgi();
}
