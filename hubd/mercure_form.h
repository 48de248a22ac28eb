/* mercure_form.h -- what the pieces of a Mercure HTTP request mean, turned
 * into control-protocol fields. Shared by the two places that take Mercure
 * requests over HTTP: hub.fcgi (behind the web server) and hubd's own
 * publish listener (publish_listener.c). Pure: no I/O, no logging; every
 * check that has an HTTP answer returns it, so both answer alike. */
#ifndef HUBD_MERCURE_FORM_H
#define HUBD_MERCURE_FORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctl_request.h"
#include "http_form.h"
#include "util.h"

#define MERCURE_TOPIC_MAX_LEN CTL_MATCHER_MAX_LEN
#define MERCURE_ORIGIN_MAX_LEN CTL_ORIGIN_MAX_LEN
#define MERCURE_COOKIE_NAME "mercureAuthorization"
#define MERCURE_FORM_TYPE "application/x-www-form-urlencoded"

/* True when the n bytes at s hold a control character (NUL included). */
bool mercure_has_control(const char *s, size_t n);

/* Checks the "topic" fields of f: 0, or 400 with a reason in err (none,
 * too many, an empty, too long or control-character topic). */
int mercure_check_topics(const struct http_form *f, char *err, size_t errlen);

/* Adds every "topic" field of f to out, after mercure_check_topics.
 * Returns 0, or its 400 (out then holds nothing new). */
int mercure_take_topics(const struct http_form *f, struct ctl_topics *out, char *err,
			size_t errlen);

/* Fills out (zeroed before the call) from a publish form body f: its
 * topics, data, id, type, retry, private, and http (the update came over
 * HTTP: hubd demands a publisher token); the credentials are the caller's.
 * Returns 0, or 400 with a reason in err (duplicate single field, bad
 * topic, id starting with '#', a control character in id or type, retry
 * not a number, what ctl_publish_check refuses); out then holds what was
 * done so far: the caller clears it either way. */
int mercure_publish_form(const struct http_form *f, struct ctl_publish *out, char *err,
			 size_t errlen);

/* Appends the request's credentials to p for hubd's decisions: the token
 * (AUTH) with where it came from (AUTH_SOURCE), looked up in the
 * Authorization header value (Bearer), then the "authorization" parameter
 * of the query q (when q is not NULL), then the mercureAuthorization cookie
 * of the Cookie header value; and the Origin header (ORIGIN) when it is
 * printable and not longer than MERCURE_ORIGIN_MAX_LEN. The token goes
 * as the client sent it, a NUL byte from a query's %00 included, for hubd
 * to refuse. Any argument may be NULL. Cannot fail. */
void mercure_put_credentials(struct buf *p, const char *authorization,
			     const struct http_form *q, const char *cookie,
			     const char *origin);
/* The same credentials into *out (zeroed first; the caller clears it with
 * ctl_credentials_clear), and, when there is no Authorization header, the
 * Cookie header itself (cookie), where hubd looks for a draft-08 token.
 * Cannot fail. */
void mercure_credentials(struct ctl_credentials *out, const char *authorization,
			 const struct http_form *q, const char *cookie, const char *origin);

#endif
