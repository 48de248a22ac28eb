/* http_form.c -- form/query parsing, cookies, bearer tokens, media types
 * and percent-encoding (see http_form.h). Pure functions. */
#include "config.h"

#include "http_form.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Decodes s[0..len) into out (room for len bytes) and NUL-terminates it.
 * base is the offset of s in the whole input, for the error message.
 * Returns the decoded length, or -1 with a reason in err. */
static long decode(const char *s, size_t len, char *out, size_t base, bool plus_is_space,
		   char *err, size_t errlen)
{
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '+' && plus_is_space) {
			out[o++] = ' ';
		} else if (s[i] == '%') {
			int hi = len - i >= 3 ? hex_value(s[i + 1]) : -1;
			int lo = len - i >= 3 ? hex_value(s[i + 2]) : -1;
			if (hi < 0 || lo < 0) {
				snprintf(err, errlen, "malformed percent escape at offset %zu",
					 base + i);
				return -1;
			}
			out[o++] = (char)(hi * 16 + lo);
			i += 2;
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = '\0';
	return (long)o;
}

int http_form_parse(struct http_form *f, const char *s, size_t len, char *err,
		    size_t errlen)
{
	size_t nseg = 1;
	for (size_t i = 0; i < len; i++)
		nseg += s[i] == '&';
	f->fields = xcalloc(nseg, sizeof *f->fields);
	f->arena_ = xmalloc(len + 2 * nseg + 1);
	f->n = 0;

	char *a = f->arena_;
	size_t pos = 0;
	while (pos <= len) {
		const char *seg = s + pos;
		const char *amp = memchr(seg, '&', len - pos);
		size_t seglen = amp ? (size_t)(amp - seg) : len - pos;
		if (seglen > 0) {
			const char *eq = memchr(seg, '=', seglen);
			size_t nlen = eq ? (size_t)(eq - seg) : seglen;
			struct http_field *fl = &f->fields[f->n];
			long d = decode(seg, nlen, a, pos, true, err, errlen);
			if (d < 0)
				goto fail;
			fl->name = a;
			fl->name_len = (size_t)d;
			a += d + 1;
			if (eq) {
				size_t voff = nlen + 1;
				d = decode(seg + voff, seglen - voff, a, pos + voff, true, err, errlen);
				if (d < 0)
					goto fail;
			} else {
				*a = '\0';
				d = 0;
			}
			fl->value = a;
			fl->value_len = (size_t)d;
			a += d + 1;
			f->n++;
		}
		pos += seglen + 1;
	}
	return 0;
fail:
	http_form_free(f);
	return -1;
}

void http_form_free(struct http_form *f)
{
	free(f->fields);
	free(f->arena_);
	f->fields = NULL;
	f->arena_ = NULL;
	f->n = 0;
}

static bool field_is(const struct http_field *fl, const char *name)
{
	size_t n = strlen(name);
	return fl->name_len == n && memcmp(fl->name, name, n) == 0;
}

const struct http_field *http_form_next(const struct http_form *f,
					const struct http_field *prev,
					const char *name)
{
	size_t i = prev ? (size_t)(prev - f->fields) + 1 : 0;
	for (; i < f->n; i++)
		if (field_is(&f->fields[i], name))
			return &f->fields[i];
	return NULL;
}

const struct http_field *http_form_find(const struct http_form *f, const char *name)
{
	return http_form_next(f, NULL, name);
}

size_t http_form_count(const struct http_form *f, const char *name)
{
	size_t n = 0;
	for (size_t i = 0; i < f->n; i++)
		n += field_is(&f->fields[i], name);
	return n;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t';
}

char *http_cookie_get(const char *header, const char *name)
{
	if (!header)
		return NULL;
	size_t nlen = strlen(name);
	const char *p = header;
	while (*p) {
		const char *end = strchr(p, ';');
		if (!end)
			end = p + strlen(p);
		while (p < end && is_space(*p))
			p++;
		const char *eq = memchr(p, '=', (size_t)(end - p));
		if (eq) {
			const char *ne = eq;
			while (ne > p && is_space(ne[-1]))
				ne--;
			if ((size_t)(ne - p) == nlen && memcmp(p, name, nlen) == 0) {
				const char *v = eq + 1, *ve = end;
				while (v < ve && is_space(*v))
					v++;
				while (ve > v && is_space(ve[-1]))
					ve--;
				if (ve - v >= 2 && *v == '"' && ve[-1] == '"') {
					v++;
					ve--;
				}
				return xmemdup(v, (size_t)(ve - v));
			}
		}
		p = *end ? end + 1 : end;
	}
	return NULL;
}

char *http_bearer_token(const char *header)
{
	if (!header)
		return NULL;
	while (is_space(*header))
		header++;
	if (strncasecmp(header, "Bearer", 6) != 0 || !is_space(header[6]))
		return NULL;
	const char *t = header + 6;
	while (is_space(*t))
		t++;
	size_t n = strlen(t);
	while (n > 0 && is_space(t[n - 1]))
		n--;
	if (n == 0)
		return NULL;
	return xmemdup(t, n);
}

bool http_media_type_is(const char *content_type, const char *type)
{
	if (!content_type)
		return false;
	const char *p = content_type;
	while (is_space(*p))
		p++;
	size_t n = strcspn(p, ";");
	while (n > 0 && is_space(p[n - 1]))
		n--;
	return n == strlen(type) && strncasecmp(p, type, n) == 0;
}

void http_percent_encode(struct buf *out, const char *s, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	buf_reserve(out, len);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
		    c == '~') {
			buf_addc(out, (char)c);
		} else {
			char e[3] = {'%', hex[c >> 4], hex[c & 15]};
			buf_add(out, e, sizeof e);
		}
	}
}

char *http_path_decode(const char *s, size_t len)
{
	char *out = xmalloc(len + 1);
	char err[64];
	long n = decode(s, len, out, 0, false, err, sizeof err);
	if (n < 0 || memchr(out, '\0', (size_t)n)) {
		free(out);
		return NULL;
	}
	return out;
}

const char *http_reason_phrase(int status)
{
	switch (status) {
	case 200: return "OK";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	}
	return status < 500 ? "Client Error" : "Server Error";
}

void http_text_body(struct buf *out, int status, const char *text, size_t n)
{
	size_t start = out->len;
	if (n > 1000)
		n = 1000;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)text[i];
		buf_addc(out, c < 0x20 || c == 0x7f ? ' ' : (char)c);
	}
	if (out->len == start)
		buf_adds(out, http_reason_phrase(status));
	buf_addc(out, '\n');
}

bool http_host_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	return n > 0 && n <= 255 &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]") == n;
}
