/* url.h -- a WHATWG URL parser for topics and URL patterns: an absolute or
 * relative input, resolved against an optional base, split into the eight
 * components URL Pattern matches on.
 *
 * What it implements of the URL Living Standard (https://url.spec.whatwg.org/):
 * - leading and trailing C0 controls and spaces trimmed, tabs and newlines
 *   removed; schemes lowercased; special schemes (ftp, file, http, https,
 *   ws, wss) with their default ports, "\" as "/", an authority required;
 * - non-special URLs with an authority ("foo://h/p"), a path ("foo:/p") or
 *   an opaque path ("urn:isbn:1", "mailto:a@b");
 * - relative references against a base: scheme-relative ("//h/p"),
 *   path-absolute, path-relative, query-only, fragment-only;
 * - userinfo, ports (leading zeros, range 0-65535), dot segments ("." "..",
 *   and their "%2e" spellings in any case) removed;
 * - percent-encoding with the standard's C0 control, fragment, query,
 *   special-query, path and userinfo encode sets (each byte of a non-ASCII
 *   character, so every component here is ASCII);
 * - hosts (url_host.h): domains lowercased, forbidden code points refused,
 *   IPv4 in all its spellings, IPv6 with "::" and an embedded IPv4.
 *
 * Deliberate limits, each a parse failure (-1), never a guess:
 * - a non-ASCII domain (IDNA/UTS 46 is not implemented): a topic with one
 *   never matches a URL pattern, and a pattern with one does not compile;
 * - input that is not valid UTF-8, or longer than URL_MAX_LEN bytes;
 * - file URLs are parsed as special URLs with an optional host
 *   ("localhost" becomes empty); Windows drive letters get no special care.
 * The serialization's "/." before a path that would start with "//" is not
 * needed by the getters and is not written.
 */
#ifndef HUBD_URL_H
#define HUBD_URL_H

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

#define URL_MAX_LEN 16384 /* bytes of input */

/* The components URL Pattern's exec() reads, in the standard's order. */
enum url_component {
	URL_PROTOCOL, /* the scheme, without ':' */
	URL_USERNAME,
	URL_PASSWORD,
	URL_HOSTNAME, /* "" for a null host; IPv6 with its brackets */
	URL_PORT,     /* "" when absent or the scheme's default */
	URL_PATHNAME, /* the path serialized ("/a/b"), or the opaque path */
	URL_SEARCH,   /* the query, without '?' ("" when null) */
	URL_HASH,     /* the fragment, without '#' ("" when null) */
	URL_NCOMPONENTS
};

/* A parsed URL. Every component is a NUL-terminated ASCII string c[i] of
 * len[i] bytes, all in one allocation owned by the struct (url_clear).
 * Read-only once parsed: any number of threads may read it at once. */
struct url {
	char *mem;
	const char *c[URL_NCOMPONENTS];
	size_t len[URL_NCOMPONENTS];
	bool special;     /* a special scheme */
	bool opaque_path; /* "urn:..." style: URL_PATHNAME is not a list */
	bool host_null;   /* no authority at all (not even an empty host) */
	bool query_null;  /* no '?' (URL_SEARCH is "" either way) */
	bool hash_null;   /* no '#' */
	int port;         /* -1 when URL_PORT is "" */
};

/* Parses in[0..n) (borrowed; any bytes) against base (borrowed, may be
 * NULL: then in must be absolute) into *out, which the caller clears
 * with url_clear. Returns 0, or -1 with *out zeroed (nothing to clear)
 * and a reason in err (errlen bytes, may be 0) when the standard calls
 * the input a failure or it meets one of the limits above. Never reads
 * past in[n - 1]. Thread-safe (touches only its arguments). */
int url_parse(struct url *out, const char *in, size_t n, const struct url *base, char *err,
	      size_t errlen);

/* Releases what url_parse stored in u and zeroes it; a zeroed u is a
 * no-op. */
void url_clear(struct url *u);

/* True when u's pathname, with its percent-encoded unreserved characters
 * (ALPHA DIGIT - . _ ~, either hex case) decoded, equals prefix or starts
 * with prefix followed by '/': the Mercure test for a topic addressing
 * the hub's reserved path (prefix "/.well-known/mercure"). Dot segments
 * are already gone (url_parse removes them, "%2e" forms included). False
 * for an opaque path. Cannot fail. */
bool url_path_under(const struct url *u, const char *prefix);

/* The default port of a special scheme s[0..n) (80, 443, 21), or -1 when
 * it has none (file, or not special). */
int url_default_port(const char *s, size_t n);
/* True when s[0..n) is one of the six special schemes (lowercase). */
bool url_scheme_is_special(const char *s, size_t n);

/* The standard's percent-encode sets. */
enum url_encode_set {
	URL_ENC_C0,       /* C0 controls, DEL and non-ASCII */
	URL_ENC_FRAGMENT, /* C0 + space " < > ` */
	URL_ENC_QUERY,    /* C0 + space " # < > */
	URL_ENC_SPECIAL_QUERY, /* query + ' */
	URL_ENC_PATH,     /* query + ? ^ ` { } */
	URL_ENC_USERINFO, /* path + / : ; = @ [ \ ] | */
};
/* Appends s[0..n) to out with every byte in set percent-encoded ("%XX",
 * uppercase hex). Cannot fail. */
void url_pct_encode(struct buf *out, const char *s, size_t n, enum url_encode_set set);

/* The component canonicalizers URL Pattern applies to a pattern's fixed
 * text (its "encoding callbacks"): each appends s[0..n)'s canonical form
 * to out and returns 0, or returns -1 with a reason in err when the text
 * cannot stand in that component (a bad scheme character, a forbidden
 * host code point, a non-digit port). special says whether the pattern's
 * scheme is special. */
int url_canon_protocol(const char *s, size_t n, struct buf *out, char *err, size_t errlen);
int url_canon_userinfo(const char *s, size_t n, struct buf *out, char *err, size_t errlen);
int url_canon_hostname(const char *s, size_t n, bool special, struct buf *out, char *err,
		       size_t errlen);
int url_canon_port(const char *s, size_t n, struct buf *out, char *err, size_t errlen);
int url_canon_pathname(const char *s, size_t n, bool special, struct buf *out, char *err,
		       size_t errlen);
int url_canon_opaque_path(const char *s, size_t n, struct buf *out, char *err, size_t errlen);
int url_canon_search(const char *s, size_t n, bool special, struct buf *out, char *err,
		     size_t errlen);
int url_canon_hash(const char *s, size_t n, struct buf *out, char *err, size_t errlen);

/* The byte a "%XX" triplet at s[i] (i < n) encodes, or -1 when s[i] is
 * not '%' followed by two hex digits before n. */
int url_pct_byte(const char *s, size_t n, size_t i);


#endif
