/* mercure_form.c -- Mercure request pieces to control fields (see .h). */
#include "config.h"

#include "mercure_form.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ctl_proto.h"
#include "ctl_request.h"
#include "msg.h"

bool mercure_has_control(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return true;
	return false;
}

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return 400;
}

int mercure_check_topics(const struct http_form *f, char *err, size_t errlen)
{
	size_t n = http_form_count(f, "topic");
	if (n == 0)
		return fail(err, errlen, "missing topic");
	if (n > MSG_MAX_TOPICS)
		return fail(err, errlen, "too many topics (at most %d)", MSG_MAX_TOPICS);
	for (const struct http_field *t = http_form_find(f, "topic"); t;
	     t = http_form_next(f, t, "topic"))
		if (t->value_len == 0 || t->value_len > MERCURE_TOPIC_MAX_LEN ||
		    mercure_has_control(t->value, t->value_len))
			return fail(err, errlen,
				    "a topic must be 1 to %d bytes without control characters",
				    MERCURE_TOPIC_MAX_LEN);
	return 0;
}

int mercure_take_topics(const struct http_form *f, struct ctl_topics *out, char *err,
			size_t errlen)
{
	int status = mercure_check_topics(f, err, errlen);
	for (const struct http_field *t = http_form_find(f, "topic"); t && !status;
	     t = http_form_next(f, t, "topic"))
		(void)ctl_topics_add(out, t->value, t->value_len);
	return status;
}

/* The fields publish takes at most once. */
static const char *const single_fields[] = {"data", "id", "type", "retry", "private"};

static bool value_is(const struct http_field *f, const char *s)
{
	return f->value_len == strlen(s) && strncasecmp(f->value, s, f->value_len) == 0;
}

/* "private" is on unless empty, "off", "false" or "0". */
static bool is_true(const struct http_field *f)
{
	return f->value_len > 0 && !value_is(f, "off") && !value_is(f, "false") &&
	       !value_is(f, "0");
}

int mercure_publish_form(const struct http_form *f, struct ctl_publish *out, char *err,
			 size_t errlen)
{
	for (size_t i = 0; i < sizeof single_fields / sizeof single_fields[0]; i++)
		if (http_form_count(f, single_fields[i]) > 1)
			return fail(err, errlen, "duplicate field: %s", single_fields[i]);
	int status = mercure_take_topics(f, &out->topics, err, errlen);
	if (status)
		return status;

	const struct http_field *fl = http_form_find(f, "data");
	if (fl) {
		out->data = xmemdup(fl->value, fl->value_len);
		out->data_len = fl->value_len;
	}
	fl = http_form_find(f, "id");
	if (fl && fl->value_len > 0) {
		if (fl->value[0] == '#' || mercure_has_control(fl->value, fl->value_len))
			return fail(err, errlen,
				    "id must not start with '#' or contain control characters");
		out->id = xmemdup(fl->value, fl->value_len);
	}
	fl = http_form_find(f, "type");
	if (fl && fl->value_len > 0) {
		if (mercure_has_control(fl->value, fl->value_len))
			return fail(err, errlen, "type must not contain control characters");
		out->type = xmemdup(fl->value, fl->value_len);
	}
	fl = http_form_find(f, "retry");
	if (fl && fl->value_len > 0) {
		uint64_t retry;
		if (strlen(fl->value) != fl->value_len ||
		    !parse_digits(fl->value, UINT32_MAX, &retry))
			return fail(err, errlen, "retry must be a number of milliseconds");
		out->has_retry = true;
		out->retry_ms = (uint32_t)retry;
	}
	fl = http_form_find(f, "private");
	out->priv = fl && is_true(fl);
	out->http = true;
	return ctl_publish_check(out, SIZE_MAX, err, errlen);
}

/* The token (malloc'ed, or NULL when there is none), its length in *len
 * (a query parameter may hold %00: the token is sent whole, for hubd to
 * refuse, never cut short) and where it was. */
static char *find_token(const char *authorization, const struct http_form *q,
			const char *cookie, size_t *len, uint32_t *source)
{
	char *tok = http_bearer_token(authorization);
	*source = CTL_AUTH_HEADER;
	if (tok) {
		*len = strlen(tok);
		return tok;
	}
	const struct http_field *a = q ? http_form_find(q, "authorization") : NULL;
	*source = CTL_AUTH_QUERY;
	if (a && a->value_len > 0) {
		*len = a->value_len;
		return xmemdup(a->value, a->value_len);
	}
	tok = http_cookie_get(cookie, MERCURE_COOKIE_NAME);
	*source = CTL_AUTH_COOKIE;
	if (tok && !*tok) {
		free(tok);
		tok = NULL;
	}
	*len = tok ? strlen(tok) : 0;
	return tok;
}

void mercure_credentials(struct ctl_credentials *out, const char *authorization,
			 const struct http_form *q, const char *cookie, const char *origin)
{
	memset(out, 0, sizeof *out);
	out->token = find_token(authorization, q, cookie, &out->token_len, &out->source);
	if (!out->token)
		out->source = 0;
	/* Without an Authorization header, hubd may find a draft-08 token in
	 * its own cookie (token-cookie), whose name only it knows. */
	if (cookie && *cookie && out->source != CTL_AUTH_HEADER &&
	    strlen(cookie) <= CTL_COOKIE_MAX_LEN && !mercure_has_control(cookie, strlen(cookie)))
		out->cookie = xstrdup(cookie);
	if (origin && *origin && strlen(origin) <= MERCURE_ORIGIN_MAX_LEN &&
	    !mercure_has_control(origin, strlen(origin)))
		out->origin = xstrdup(origin);
}

void mercure_put_credentials(struct buf *p, const char *authorization,
			     const struct http_form *q, const char *cookie,
			     const char *origin)
{
	struct ctl_credentials c;
	mercure_credentials(&c, authorization, q, cookie, origin);
	ctl_credentials_encode(&c, p);
	ctl_credentials_clear(&c);
}
