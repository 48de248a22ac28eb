/* urlpattern.h -- WHATWG URL Pattern matchers for Mercure's
 * match_urlpattern: a pattern string compiled once (against the hub's URL
 * for relative patterns), then matched against parsed topics.
 *
 * A pattern string ("https://example.com/books/:id", "/books/" "*",
 * "{/:lang}?/docs", "https://example.com/books/:id(\\d+)") is cut into its
 * eight components by the standard's constructor string parser
 * (urlpattern_string.h); each component's pattern string becomes a part
 * list and, where it has structure, the standard's regular expression
 * (urlpattern_parts.h), compiled with PCRE2 in UTF mode (JIT when it
 * compiles). Missing components are "*"; a relative pattern takes what it
 * lacks from the base URL as the standard's "process a URLPatternInit"
 * says; a special scheme's default port is "". ignoreCase does not exist
 * in string form and is never enabled.
 *
 * Matching a topic (a struct url from url_parse) compares component by
 * component: a fixed string with memcmp, a full wildcard not at all, the
 * rest with its regex under a cost limit (URLPATTERN_MATCH_LIMIT steps,
 * URLPATTERN_DEPTH_LIMIT depth, URLPATTERN_HEAP_LIMIT_KIB of heap, a JIT
 * stack of at most URLPATTERN_JIT_STACK bytes), per component. A match
 * that meets a limit is aborted and is no match, and the scratch counts
 * it (urlpattern_scratch_aborted) so the hub can report it.
 *
 * Deviations from the standard: those of url.h (no IDNA: a non-ASCII
 * hostname in a pattern does not compile) and of urlpattern_parts.h
 * (ASCII group names; regexp groups limited to JavaScript syntax that
 * PCRE2 reads alike). Host and search text in a pattern are canonicalized
 * for the pattern's own scheme (special or not), where the standard uses
 * a special dummy URL. The base URL serves relative patterns only (those
 * without a scheme), as Mercure says; the standard also resolves an
 * absolute pattern's relative pathname against it ("urn:*" would become
 * the base's directory followed by "*"). Limits: URLPATTERN_MAX_LEN bytes of pattern,
 * URLPATTERN_MAX_PARTS parts per component (urlpattern_parts.h),
 * URLPATTERN_MAX_GROUPS groups in all.
 *
 * Threads: a compiled pattern is immutable; any number of threads may
 * match with it at once (fan-out on the main loop, replay on the store
 * thread). The PCRE2 match data, match context and JIT stack live in a
 * struct urlpattern_scratch, which belongs to one thread at a time: keep
 * one per thread.
 */
#ifndef HUBD_URLPATTERN_H
#define HUBD_URLPATTERN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "url.h"

#define URLPATTERN_MAX_LEN 2048
#define URLPATTERN_MAX_GROUPS 32
#define URLPATTERN_MATCH_LIMIT 100000
#define URLPATTERN_DEPTH_LIMIT 1000
#define URLPATTERN_HEAP_LIMIT_KIB 1024
#define URLPATTERN_JIT_STACK (256 * 1024)

struct urlpattern;
struct urlpattern_scratch;

/* Compiles the pattern string s[0..n) (borrowed; any bytes) against
 * base (borrowed, used only during the call; NULL: relative patterns are
 * refused). Returns the compiled pattern (free with urlpattern_free), or
 * NULL with a reason in err (errlen bytes) for anything the standard calls
 * a TypeError (a bad token, an unbalanced '{' or '(', a duplicate group
 * name, a regexp that does not compile, a component text that cannot be
 * canonicalized, a relative pattern without a base), for invalid UTF-8,
 * and for the limits above. Aborts on OOM. Thread-safe. */
struct urlpattern *urlpattern_compile(const char *s, size_t n, const struct url *base, char *err,
				      size_t errlen);

/* True when s[0..n) compiles against base (urlpattern_compile's
 * failures, reason in err): for the 400 answer to a bad matcher. */
bool urlpattern_valid(const char *s, size_t n, const struct url *base, char *err, size_t errlen);

/* Frees p; NULL is a no-op. Not while another thread matches with it. */
void urlpattern_free(struct urlpattern *p);

/* A thread's match state. Aborts on OOM; free with urlpattern_scratch_free
 * (NULL is a no-op). */
struct urlpattern_scratch *urlpattern_scratch_new(void);
void urlpattern_scratch_free(struct urlpattern_scratch *s);
/* Matches aborted at a limit (or by a PCRE2 error) through s so far. */
uint64_t urlpattern_scratch_aborted(const struct urlpattern_scratch *s);

/* True when the parsed topic (borrowed) matches p in every component.
 * scratch is the calling thread's (NULL: one made and freed for this call,
 * slower). An aborted component match is false and is counted. Cannot
 * fail otherwise. */
bool urlpattern_match(const struct urlpattern *p, const struct url *topic,
		      struct urlpattern_scratch *scratch);

/* Parses topic[0..n) against base (url_parse) and matches it: false when
 * it does not parse, as Mercure requires. */
bool urlpattern_match_string(const struct urlpattern *p, const char *topic, size_t n,
			     const struct url *base, struct urlpattern_scratch *scratch);

#endif
