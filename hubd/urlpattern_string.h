/* urlpattern_string.h -- URL Pattern's constructor string parser: one
 * pattern string ("https://:host.example.com/books/:id?*") cut into its
 * per-component pattern strings, as the standard's "parse a constructor
 * string" does (https://urlpattern.spec.whatwg.org/#constructor-string-parsing). */
#ifndef HUBD_URLPATTERN_STRING_H
#define HUBD_URLPATTERN_STRING_H

#include <stdbool.h>
#include <stddef.h>

#include "url.h"

/* The components a pattern string gave, indexed by enum url_component:
 * each a malloc'ed NUL-terminated pattern string, or NULL when absent. */
struct urlpattern_init {
	char *c[URL_NCOMPONENTS];
};

/* Says whether the protocol pattern string s[0..n) matches one of the
 * special schemes: -1 when it does not compile (reason in err), else 0
 * or 1. */
typedef int (*urlpattern_special_fn)(const char *s, size_t n, void *ctx, char *err,
				     size_t errlen);

/* Parses s[0..n) (borrowed; valid UTF-8) into *out (zeroed first; clear
 * with urlpattern_init_clear). special decides the protocol question the
 * parser asks. Returns 0, or -1 with a reason in err when the protocol
 * pattern does not compile. Tokenizing is lenient here, as the standard
 * has it: a bad token fails later, when its component compiles. */
int urlpattern_string_parse(const char *s, size_t n, urlpattern_special_fn special, void *ctx,
			    struct urlpattern_init *out, char *err, size_t errlen);

/* Frees the strings in init and zeroes it. */
void urlpattern_init_clear(struct urlpattern_init *init);

#endif
