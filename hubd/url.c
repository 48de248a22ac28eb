/* url.c -- the WHATWG URL parser for topics and URL patterns (see url.h). */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "url.h"
#include "url_host.h"
#include "utf8.h"

/* The URL being built: one growing buffer per component. */
struct builder {
	struct buf c[URL_NCOMPONENTS];
	bool special, file, opaque, host_null, query_null, hash_null;
	int port;
	char *err;
	size_t errlen;
};

static int cfail(char *err, size_t errlen, const char *why)
{
	if (errlen)
		snprintf(err, errlen, "%s", why);
	return -1;
}

static int fail(struct builder *b, const char *why)
{
	return cfail(b->err, b->errlen, why);
}

/* ---- character classes and encoding ---------------------------------- */

static bool is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static bool in_set(unsigned char c, enum url_encode_set set)
{
	if (c < 0x20 || c >= 0x7f)
		return true;
	switch (set) {
	case URL_ENC_C0:
		return false;
	case URL_ENC_FRAGMENT:
		return strchr(" \"<>`", c) != NULL;
	case URL_ENC_QUERY:
		return strchr(" \"#<>", c) != NULL;
	case URL_ENC_SPECIAL_QUERY:
		return strchr(" \"#<>'", c) != NULL;
	case URL_ENC_PATH:
		return strchr(" \"#<>?^`{}", c) != NULL;
	case URL_ENC_USERINFO:
		return strchr(" \"#<>?^`{}/:;=@[\\]|", c) != NULL;
	}
	return true;
}

void url_pct_encode(struct buf *out, const char *s, size_t n, enum url_encode_set set)
{
	static const char hex[] = "0123456789ABCDEF";
	buf_reserve(out, n);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c && in_set(c, set)) {
			char e[3] = {'%', hex[c >> 4], hex[c & 15]};
			buf_add(out, e, 3);
		} else if (c) {
			buf_addc(out, (char)c);
		} else {
			buf_add(out, "%00", 3);
		}
	}
}


/* ---- schemes and ports ------------------------------------------------ */

static const struct {
	const char *name;
	int port;
} special_schemes[] = {
	{"ftp", 21}, {"file", -1}, {"http", 80}, {"https", 443}, {"ws", 80}, {"wss", 443},
};

static int special_index(const char *s, size_t n)
{
	for (size_t i = 0; i < sizeof special_schemes / sizeof special_schemes[0]; i++)
		if (strlen(special_schemes[i].name) == n && memcmp(special_schemes[i].name, s, n) == 0)
			return (int)i;
	return -1;
}

bool url_scheme_is_special(const char *s, size_t n)
{
	return special_index(s, n) >= 0;
}

int url_default_port(const char *s, size_t n)
{
	int i = special_index(s, n);
	return i < 0 ? -1 : special_schemes[i].port;
}

/* The length of a scheme at s[0..n) followed by ':', or 0. */
static size_t scheme_len(const char *s, size_t n)
{
	if (n == 0 || !is_alpha((unsigned char)s[0]))
		return 0;
	for (size_t i = 1; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == ':')
			return i;
		if (!is_alpha(c) && !is_digit(c) && c != '+' && c != '-' && c != '.')
			return 0;
	}
	return 0;
}

/* A port's digits s[0..n) (all digits, n > 0) as a number, or -1 past
 * 65535. */
static int port_value(const char *s, size_t n)
{
	long v = 0;
	for (size_t i = 0; i < n; i++) {
		v = v * 10 + (s[i] - '0');
		if (v > 65535)
			return -1;
	}
	return (int)v;
}

static bool all_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!is_digit((unsigned char)s[i]))
			return false;
	return true;
}

/* ---- paths ------------------------------------------------------------ */

static bool ieq(const char *s, size_t n, const char *lit)
{
	if (strlen(lit) != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] + 32) : s[i];
		if (c != lit[i])
			return false;
	}
	return true;
}

static bool single_dot(const char *s, size_t n)
{
	return ieq(s, n, ".") || ieq(s, n, "%2e");
}

static bool double_dot(const char *s, size_t n)
{
	return ieq(s, n, "..") || ieq(s, n, ".%2e") || ieq(s, n, "%2e.") || ieq(s, n, "%2e%2e");
}

static void shorten_path(struct buf *path)
{
	while (path->len > 0 && path->p[path->len - 1] != '/')
		path->len--;
	if (path->len > 0)
		path->len--;
	if (path->p)
		path->p[path->len] = '\0';
}

/* The path state over s[0..n): the text after the path's first slash,
 * each segment percent-encoded and appended as "/segment", dot segments
 * applied. */
static void path_state(struct buf *path, const char *s, size_t n, bool special)
{
	struct buf seg = {0};
	size_t i = 0;
	for (;;) {
		size_t j = i;
		while (j < n && s[j] != '/' && !(special && s[j] == '\\'))
			j++;
		bool last = j == n;
		seg.len = 0;
		url_pct_encode(&seg, s + i, j - i, URL_ENC_PATH);
		if (double_dot(seg.p, seg.len)) {
			shorten_path(path);
			if (last)
				buf_addc(path, '/');
		} else if (single_dot(seg.p, seg.len)) {
			if (last)
				buf_addc(path, '/');
		} else {
			buf_addc(path, '/');
			buf_add(path, seg.p, seg.len);
		}
		if (last)
			break;
		i = j + 1;
	}
	buf_free(&seg);
}

static bool is_slash(const struct builder *b, char c)
{
	return c == '/' || (b->special && c == '\\');
}

/* The path start state after an authority: s[0..n) begins with a slash
 * or is empty. */
static void path_start(struct builder *b, const char *s, size_t n)
{
	if (n == 0 && !b->special)
		return;
	if (n && is_slash(b, s[0])) {
		s++;
		n--;
	}
	path_state(&b->c[URL_PATHNAME], s, n, b->special);
}

/* ---- authority -------------------------------------------------------- */

static int set_port(struct builder *b, const char *s, size_t n)
{
	if (n == 0)
		return 0;
	if (!all_digits(s, n))
		return fail(b, "invalid port");
	int v = port_value(s, n);
	if (v < 0)
		return fail(b, "port out of range");
	const struct buf *scheme = &b->c[URL_PROTOCOL];
	if (v != url_default_port(scheme->p, scheme->len)) {
		b->port = v;
		buf_printf(&b->c[URL_PORT], "%d", v);
	}
	return 0;
}

/* host[:port] at s[0..n); creds says userinfo came before it. A file
 * URL's host may be empty, "localhost" is empty, and it has no port. */
static int host_port(struct builder *b, const char *s, size_t n, bool creds)
{
	size_t colon = n;
	int depth = 0;
	for (size_t i = 0; i < n && colon == n && !b->file; i++) {
		if (s[i] == '[')
			depth++;
		else if (s[i] == ']')
			depth--;
		else if (s[i] == ':' && depth == 0)
			colon = i;
	}
	b->host_null = false;
	if ((n == 0 && creds) || (colon == 0 && (colon < n || b->special) && !b->file))
		return fail(b, "missing host");
	if (b->file && (n == 0 || ieq(s, n, "localhost")))
		return 0;
	if (url_host_parse(s, colon, b->special, &b->c[URL_HOSTNAME], b->err, b->errlen) < 0)
		return -1;
	return colon < n ? set_port(b, s + colon + 1, n - colon - 1) : 0;
}

/* The authority at s[0..n) up to its end (a slash, or n); then the path.
 * Userinfo ends at the last '@', the username at its first ':'. */
static int authority(struct builder *b, const char *s, size_t n)
{
	size_t end = 0, at = SIZE_MAX;
	while (end < n && !is_slash(b, s[end]))
		end++;
	for (size_t i = 0; i < end; i++)
		if (s[i] == '@')
			at = i;
	size_t hp = 0;
	if (at != SIZE_MAX) {
		const char *colon = memchr(s, ':', at);
		size_t ulen = colon ? (size_t)(colon - s) : at;
		url_pct_encode(&b->c[URL_USERNAME], s, ulen, URL_ENC_USERINFO);
		if (colon)
			url_pct_encode(&b->c[URL_PASSWORD], colon + 1, at - ulen - 1, URL_ENC_USERINFO);
		hp = at + 1;
	}
	if (host_port(b, s + hp, end - hp, at != SIZE_MAX) < 0)
		return -1;
	path_start(b, s + end, n - end);
	return 0;
}

/* Skips the slashes (and backslashes) before a special URL's authority. */
static int special_authority(struct builder *b, const char *s, size_t n)
{
	size_t i = 0;
	while (i < n && (s[i] == '/' || s[i] == '\\'))
		i++;
	return authority(b, s + i, n - i);
}

/* ---- relative references ---------------------------------------------- */

static void copy_comp(struct builder *b, const struct url *base, enum url_component k)
{
	b->c[k].len = 0;
	buf_add(&b->c[k], base->c[k], base->len[k]);
}

static void copy_authority(struct builder *b, const struct url *base)
{
	copy_comp(b, base, URL_USERNAME);
	copy_comp(b, base, URL_PASSWORD);
	copy_comp(b, base, URL_HOSTNAME);
	copy_comp(b, base, URL_PORT);
	b->port = base->port;
	b->host_null = base->host_null;
}

/* The relative state: s[0..n) (before any '?' or '#') against base;
 * query says a '?' follows. */
static int relative(struct builder *b, const char *s, size_t n, const struct url *base,
		    bool query)
{
	if (n && is_slash(b, s[0])) {
		if (n > 1 && is_slash(b, s[1]))
			return b->special ? special_authority(b, s, n) : authority(b, s + 2, n - 2);
		copy_authority(b, base);
		path_state(&b->c[URL_PATHNAME], s + 1, n - 1, b->special);
		return 0;
	}
	copy_authority(b, base);
	copy_comp(b, base, URL_PATHNAME);
	if (n == 0) {
		if (!query) {
			copy_comp(b, base, URL_SEARCH);
			b->query_null = base->query_null;
		}
		return 0;
	}
	shorten_path(&b->c[URL_PATHNAME]);
	path_state(&b->c[URL_PATHNAME], s, n, b->special);
	return 0;
}

/* "file:" URLs: an optional host, then a path. */
static int file_url(struct builder *b, const char *s, size_t n, const struct url *base, bool query)
{
	bool file_base = base && base->len[URL_PROTOCOL] == 4 &&
			 memcmp(base->c[URL_PROTOCOL], "file", 4) == 0;
	b->c[URL_PROTOCOL].len = 0;
	buf_adds(&b->c[URL_PROTOCOL], "file");
	b->host_null = false;
	if (n > 1 && is_slash(b, s[0]) && is_slash(b, s[1]))
		return authority(b, s + 2, n - 2);
	if (file_base && !(n && is_slash(b, s[0])))
		return relative(b, s, n, base, query);
	if (file_base)
		copy_comp(b, base, URL_HOSTNAME);
	path_start(b, s, n);
	return 0;
}

/* ---- the parser ------------------------------------------------------- */

/* The input without leading and trailing C0 controls and spaces, and
 * without tabs and newlines. */
static void clean(struct buf *out, const char *in, size_t n)
{
	while (n && (unsigned char)in[0] <= 0x20) {
		in++;
		n--;
	}
	while (n && (unsigned char)in[n - 1] <= 0x20)
		n--;
	buf_reserve(out, n);
	for (size_t i = 0; i < n; i++)
		if (in[i] != '\t' && in[i] != '\n' && in[i] != '\r')
			buf_addc(out, in[i]);
}

/* An opaque path s[0..n); tail says a query or fragment follows (then a
 * last space is written %20, as the standard keeps it from being
 * trimmed). */
static void opaque_path(struct builder *b, const char *s, size_t n, bool tail)
{
	bool space = tail && n && s[n - 1] == ' ';
	url_pct_encode(&b->c[URL_PATHNAME], s, space ? n - 1 : n, URL_ENC_C0);
	if (space)
		buf_adds(&b->c[URL_PATHNAME], "%20");
	b->opaque = true;
}

/* What follows the scheme's ':' in an absolute URL, up to any '?'. */
static int after_scheme(struct builder *b, const char *s, size_t n, const struct url *base,
			bool query, bool tail)
{
	const struct buf *sc = &b->c[URL_PROTOCOL];
	if (b->file)
		return file_url(b, s, n, base, query);
	if (b->special) {
		bool same = base && base->len[URL_PROTOCOL] == sc->len &&
			    memcmp(base->c[URL_PROTOCOL], sc->p, sc->len) == 0;
		if (same && !(n > 1 && s[0] == '/' && s[1] == '/'))
			return relative(b, s, n, base, query);
		return special_authority(b, s, n);
	}
	if (n > 1 && s[0] == '/' && s[1] == '/')
		return authority(b, s + 2, n - 2);
	if (n && s[0] == '/') {
		path_state(&b->c[URL_PATHNAME], s + 1, n - 1, false);
		return 0;
	}
	opaque_path(b, s, n, tail);
	return 0;
}

/* A reference without a scheme, against base. */
static int no_scheme(struct builder *b, const char *s, size_t n, const struct url *base,
		     bool query)
{
	if (!base)
		return fail(b, "relative URL without a base");
	if (base->opaque_path && (n || query))
		return fail(b, "relative URL against an opaque base");
	buf_add(&b->c[URL_PROTOCOL], base->c[URL_PROTOCOL], base->len[URL_PROTOCOL]);
	b->special = base->special;
	b->file = b->special && url_default_port(base->c[URL_PROTOCOL], base->len[URL_PROTOCOL]) < 0;
	if (base->opaque_path) {
		copy_comp(b, base, URL_PATHNAME);
		copy_comp(b, base, URL_SEARCH);
		b->query_null = base->query_null;
		b->opaque = true;
		return 0;
	}
	if (b->file)
		return file_url(b, s, n, base, query);
	return relative(b, s, n, base, query);
}

/* Packs the components into one allocation. */
static void pack(struct builder *b, struct url *out)
{
	size_t total = 0;
	for (int k = 0; k < URL_NCOMPONENTS; k++)
		total += b->c[k].len + 1;
	out->mem = xmalloc(total);
	char *p = out->mem;
	for (int k = 0; k < URL_NCOMPONENTS; k++) {
		if (b->c[k].len)
			memcpy(p, b->c[k].p, b->c[k].len);
		p[b->c[k].len] = '\0';
		out->c[k] = p;
		out->len[k] = b->c[k].len;
		p += b->c[k].len + 1;
	}
	out->special = b->special;
	out->opaque_path = b->opaque;
	out->host_null = b->host_null;
	out->query_null = b->query_null;
	out->hash_null = b->hash_null;
	out->port = b->port;
}

static int parse_clean(struct builder *b, const char *s, size_t n, const struct url *base)
{
	const char *hash = memchr(s, '#', n);
	size_t main_n = hash ? (size_t)(hash - s) : n;
	const char *q = memchr(s, '?', main_n);
	size_t before_q = q ? (size_t)(q - s) : main_n;
	size_t sl = scheme_len(s, before_q);
	int rc;
	if (sl) {
		for (size_t i = 0; i < sl; i++)
			buf_addc(&b->c[URL_PROTOCOL], (char)(s[i] | (is_alpha((unsigned char)s[i]) ? 0x20 : 0)));
		b->special = url_scheme_is_special(b->c[URL_PROTOCOL].p, sl);
		b->file = b->special && url_default_port(b->c[URL_PROTOCOL].p, sl) < 0;
		rc = after_scheme(b, s + sl + 1, before_q - sl - 1, base, q != NULL, q || hash);
	} else {
		rc = no_scheme(b, s, before_q, base, q != NULL);
	}
	if (rc < 0)
		return -1;
	if (q) {
		b->c[URL_SEARCH].len = 0;
		url_pct_encode(&b->c[URL_SEARCH], q + 1, main_n - before_q - 1,
			       b->special ? URL_ENC_SPECIAL_QUERY : URL_ENC_QUERY);
		b->query_null = false;
	}
	if (hash) {
		url_pct_encode(&b->c[URL_HASH], hash + 1, n - main_n - 1, URL_ENC_FRAGMENT);
		b->hash_null = false;
	}
	return 0;
}

int url_parse(struct url *out, const char *in, size_t n, const struct url *base, char *err,
	      size_t errlen)
{
	struct builder b = {.port = -1, .host_null = true, .query_null = true, .hash_null = true,
			    .err = err, .errlen = errlen};
	memset(out, 0, sizeof *out);
	if (n > URL_MAX_LEN)
		return fail(&b, "URL too long");
	if (!utf8_valid(in, n))
		return fail(&b, "URL is not valid UTF-8");
	struct buf s = {0};
	clean(&s, in, n);
	int rc = parse_clean(&b, s.p ? s.p : "", s.len, base);
	if (rc == 0)
		pack(&b, out);
	buf_free(&s);
	for (int k = 0; k < URL_NCOMPONENTS; k++)
		buf_free(&b.c[k]);
	return rc;
}

void url_clear(struct url *u)
{
	free(u->mem);
	memset(u, 0, sizeof *u);
}

/* ---- the reserved path ------------------------------------------------ */

int url_pct_byte(const char *s, size_t n, size_t i)
{
	if (s[i] != '%' || i + 2 >= n || hex_value(s[i + 1]) < 0 || hex_value(s[i + 2]) < 0)
		return -1;
	return hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]);
}

bool url_path_under(const struct url *u, const char *prefix)
{
	if (u->opaque_path)
		return false;
	const char *p = u->c[URL_PATHNAME];
	size_t n = u->len[URL_PATHNAME], k = 0, plen = strlen(prefix);
	for (size_t i = 0; i < n; i++, k++) {
		char c = p[i];
		int pct = url_pct_byte(p, n, i);
		if (pct >= 0) {
			char d = (char)pct;
			if (is_alpha((unsigned char)d) || is_digit((unsigned char)d) || (d && strchr("-._~", d))) {
				c = d;
				i += 2;
			}
		}
		if (k == plen)
			return c == '/';
		if (c != prefix[k])
			return false;
	}
	return k == plen;
}

/* ---- canonicalizers for patterns ------------------------------------- */

int url_canon_protocol(const char *s, size_t n, struct buf *out, char *err, size_t errlen)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		bool ok = is_alpha(c) || (i > 0 && (is_digit(c) || c == '+' || c == '-' || c == '.'));
		if (!ok)
			return cfail(err, errlen, "invalid protocol");
		buf_addc(out, (char)(is_alpha(c) ? c | 0x20 : c));
	}
	return 0;
}

int url_canon_userinfo(const char *s, size_t n, struct buf *out, char *err, size_t errlen)
{
	url_pct_encode(out, s, n, URL_ENC_USERINFO);
	return 0;
}

int url_canon_hostname(const char *s, size_t n, bool special, struct buf *out, char *err,
		       size_t errlen)
{
	if (n == 0)
		return 0;
	return url_host_parse(s, n, special, out, err, errlen);
}

int url_canon_port(const char *s, size_t n, struct buf *out, char *err, size_t errlen)
{
	if (n == 0)
		return 0;
	if (!all_digits(s, n))
		return cfail(err, errlen, "invalid port");
	int v = port_value(s, n);
	if (v < 0)
		return cfail(err, errlen, "port out of range");
	buf_printf(out, "%d", v);
	return 0;
}

int url_canon_pathname(const char *s, size_t n, bool special, struct buf *out, char *err,
		       size_t errlen)
{
	if (n == 0)
		return 0;
	bool slash = s[0] == '/';
	struct buf in = {0}, path = {0};
	if (!slash)
		buf_adds(&in, "/-");
	buf_add(&in, s, n);
	path_state(&path, in.p + 1, in.len - 1, special);
	size_t skip = slash ? 0 : 2;
	if (path.len > skip)
		buf_add(out, path.p + skip, path.len - skip);
	buf_free(&in);
	buf_free(&path);
	return 0;
}

int url_canon_opaque_path(const char *s, size_t n, struct buf *out, char *err, size_t errlen)
{
	url_pct_encode(out, s, n, URL_ENC_C0);
	return 0;
}

int url_canon_search(const char *s, size_t n, bool special, struct buf *out, char *err,
		     size_t errlen)
{
	url_pct_encode(out, s, n, special ? URL_ENC_SPECIAL_QUERY : URL_ENC_QUERY);
	return 0;
}

int url_canon_hash(const char *s, size_t n, struct buf *out, char *err, size_t errlen)
{
	url_pct_encode(out, s, n, URL_ENC_FRAGMENT);
	return 0;
}
