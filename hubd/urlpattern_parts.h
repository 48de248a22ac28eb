/* urlpattern_parts.h -- the URL Pattern standard's pattern-string layer:
 * the tokenizer, the parser of one component's pattern string into a part
 * list, and the regular expression generated from a part list
 * (https://urlpattern.spec.whatwg.org/, "Parsing pattern strings" and
 * "Converting part lists to regular expressions").
 *
 * Strings are UTF-8 (the caller checks validity); "code points" below are
 * UTF-8 sequences. Deviations, each an error rather than a guess:
 * - group names are ASCII identifiers ([A-Za-z_$][A-Za-z0-9_$]*), not the
 *   full Unicode ID_Start/ID_Continue sets;
 * - a regexp group may use only the JavaScript syntax that PCRE2 reads the
 *   same way: escapes \d \D \w \W \s \S \b \B \f \n \r \t \v \0, \cX,
 *   \xHH, \uHHHH, \u{...}, \p{..} \P{..}, \k<name>, back references \1..\9
 *   and escaped syntax characters; groups "(?:" "(?=" "(?!" "(?<=" "(?<!"
 *   and "(?<name>". PCRE-only forms ((*VERB), (?R), (?i), \K, \Q...) are
 *   refused, so a pattern means what it means in a browser.
 * Every function is thread-safe: it touches only its arguments.
 */
#ifndef HUBD_URLPATTERN_PARTS_H
#define HUBD_URLPATTERN_PARTS_H

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

#define URLPATTERN_MAX_PARTS 64 /* parts in one component */

enum urlpattern_token_type {
	UPT_OPEN,     /* { */
	UPT_CLOSE,    /* } */
	UPT_REGEXP,   /* (...) */
	UPT_NAME,     /* :name */
	UPT_CHAR,
	UPT_ESCAPED,  /* \x */
	UPT_MODIFIER, /* ? or + */
	UPT_ASTERISK, /* * */
	UPT_END,
	UPT_INVALID,  /* lenient tokenizing only */
};

struct urlpattern_token {
	enum urlpattern_token_type type;
	size_t index;      /* byte offset of the token in the input */
	const char *value; /* borrowed from the input */
	size_t len;
};

struct urlpattern_tokens {
	struct urlpattern_token *t;
	size_t n; /* the last one is UPT_END */
};

/* Tokenizes s[0..n) (borrowed: the tokens point into it). strict: a
 * tokenizing error fails (-1, reason in err); otherwise it becomes an
 * UPT_INVALID token of one code point. Free with
 * urlpattern_parts_tokens_free. Aborts on OOM. */
int urlpattern_parts_tokenize(const char *s, size_t n, bool strict, struct urlpattern_tokens *out,
			      char *err, size_t errlen);
void urlpattern_parts_tokens_free(struct urlpattern_tokens *t);

enum urlpattern_part_type { UPP_FIXED, UPP_REGEXP, UPP_SEGMENT, UPP_FULL };
enum urlpattern_modifier { UPM_NONE, UPM_OPTIONAL, UPM_ZERO_OR_MORE, UPM_ONE_OR_MORE };

struct urlpattern_part {
	enum urlpattern_part_type type;
	enum urlpattern_modifier modifier;
	char *value; /* fixed text (encoded) or a regexp; "" otherwise */
	char *name;
	char *prefix, *suffix; /* encoded */
};

struct urlpattern_part_list {
	struct urlpattern_part *p;
	size_t n;
};

/* A component's options: its delimiter and prefix code points ('\0' for
 * none). Hostname: '.', none; pathname: '/', '/'; others: none, none. */
struct urlpattern_options {
	char delimiter;
	char prefix;
};

/* A component's encoding callback: appends the canonical form of
 * s[0..n) to out, or returns -1 with a reason in err. */
typedef int (*urlpattern_encode_fn)(const char *s, size_t n, struct buf *out, void *ctx,
				    char *err, size_t errlen);

/* Parses the pattern string s[0..n) (borrowed) into *out (copies what it
 * keeps; free with urlpattern_parts_free). Returns 0, or -1 with a
 * reason in err for anything the standard calls a TypeError (a bad
 * token, a missing '}', a duplicate name, an encoding failure) and for
 * more than URLPATTERN_MAX_PARTS parts or a refused regexp. */
int urlpattern_parts_parse(const char *s, size_t n, const struct urlpattern_options *o,
			   urlpattern_encode_fn encode, void *ctx, struct urlpattern_part_list *out,
			   char *err, size_t errlen);
void urlpattern_parts_free(struct urlpattern_part_list *l);

/* Appends the standard's regular expression for l ("^...$", to be
 * compiled with JavaScript semantics) to out. Cannot fail. */
void urlpattern_parts_regexp(const struct urlpattern_part_list *l,
			     const struct urlpattern_options *o, struct buf *out);

/* Appends s[0..n) to out with the characters the standard's "escape a
 * pattern string" escapes (+ * ? : { } ( ) \) prefixed by '\'. */
void urlpattern_parts_escape(struct buf *out, const char *s, size_t n);

#endif
