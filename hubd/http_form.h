/* http_form.h -- pure HTTP helpers for the handler: form and query-string
 * parsing, Cookie and Authorization header lookup, media types and
 * percent-encoding. No I/O, no logging. */
#ifndef HUBD_HTTP_FORM_H
#define HUBD_HTTP_FORM_H

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

/* One decoded name=value pair. Both strings are NUL-terminated past their
 * length but may contain NUL bytes themselves: always use the lengths. */
struct http_field {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
};

/* A parsed application/x-www-form-urlencoded body or query string. The
 * fields point into one arena owned by the form. Zero-initialise ({0}). */
struct http_form {
	struct http_field *fields;
	size_t n;
	char *arena_;
};

/* Parses s[0..len) ("a=1&b=2"): '&' separates pairs, the first '=' ends the
 * name, '+' decodes to a space, %XX to the byte XX. Empty pairs ("a&&b")
 * are skipped; a pair without '=' has an empty value. A '%' that is not
 * followed by two hex digits is an error. Copies what it needs from s.
 * Returns 0, or -1 with a reason in err and f left empty. f must be empty
 * (zeroed or freed) before the call. Cannot fail otherwise (aborts on
 * OOM). */
int http_form_parse(struct http_form *f, const char *s, size_t len, char *err,
		    size_t errlen);
/* Frees the fields; leaves f empty. http_form_free on an empty form is a
 * no-op. */
void http_form_free(struct http_form *f);

/* The first field called name (compared byte for byte, whole length), or
 * NULL. The result is borrowed from f. */
const struct http_field *http_form_find(const struct http_form *f, const char *name);
/* The next field called name after prev (NULL starts from the beginning),
 * or NULL when there is none. Borrowed from f. */
const struct http_field *http_form_next(const struct http_form *f,
					const struct http_field *prev,
					const char *name);
/* How many fields are called name. */
size_t http_form_count(const struct http_form *f, const char *name);

/* Finds the cookie called name in a Cookie header value ("a=1; b=2"):
 * pairs are separated by ';', whitespace around them is ignored, a value
 * in double quotes loses its quotes, the first match wins. No decoding.
 * Returns a malloc'ed copy of the value (the caller frees it), or NULL when
 * header is NULL or has no such cookie. */
char *http_cookie_get(const char *header, const char *name);

/* True when s (may be NULL) is a plausible Host header, host[:port]:
 * 1..255 bytes of letters, digits and . - : [ ] (an IPv6 literal in
 * brackets). Cannot fail. */
bool http_host_ok(const char *s);

/* The token of an "Authorization: Bearer TOKEN" header value (scheme
 * compared case-insensitively, spaces around the token ignored). Returns a
 * malloc'ed copy (the caller frees it), or NULL when header is NULL, is
 * another scheme, or has an empty token. */
char *http_bearer_token(const char *header);

/* True when the Content-Type header value names the media type type
 * (compared case-insensitively, whitespace and any ";" parameters after
 * it ignored). False for NULL. */
bool http_media_type_is(const char *content_type, const char *type);

/* Appends s[0..len) to out percent-encoded: every byte except the RFC 3986
 * unreserved characters (ALPHA DIGIT - . _ ~) becomes %XX (upper case), so
 * the result is safe in a URL query value and in a header. Copies. */
void http_percent_encode(struct buf *out, const char *s, size_t len);

/* Percent-decodes a URL path segment s[0..len) ('+' stays '+'). Returns a
 * malloc'ed NUL-terminated copy, or NULL for a malformed escape or an
 * encoded NUL byte. */
char *http_path_decode(const char *s, size_t len);

/* The reason phrase of an HTTP status ("Not Found"); a generic one for a
 * status it does not know. Static storage. */
const char *http_reason_phrase(int status);

/* Appends the body of a text/plain error answer to out: text[0..n) with
 * every control character turned into a space, at most 1000 bytes of it,
 * the reason phrase of status when text is empty, and a final newline. */
void http_text_body(struct buf *out, int status, const char *text, size_t n);

#endif
