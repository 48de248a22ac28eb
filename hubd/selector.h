/* selector.h -- Mercure topic selectors: "*", exact topics and RFC 6570
 * URI templates, compiled once and matched against topics.
 *
 * A selector is "*" (every topic), a URI template when it contains a '{',
 * and otherwise an exact topic string. A template matches a topic when some
 * assignment of its variables (undefined, a string, a list or an
 * associative array, as RFC 6570 allows) expands to exactly that topic.
 * Levels 1 to 4 are supported: the operators none, + # . / ; ? &, several
 * variables per expression, the explode modifier '*' and prefixes ':N'.
 *
 * Matching runs a compiled automaton over the topic, one byte at a time,
 * keeping the set of live states (no backtracking): a match costs
 * O(topic length x template size) whatever the input, and allocates nothing
 * unless the template is unusually large. Templates whose expressions are
 * lone variables like {id}, {+path} or {/id}, each followed by a literal
 * that cannot continue it ("/books/{id}/reviews/{rid}"), skip the automaton:
 * the topic splits in one greedy pass.
 *
 * Deliberate simplifications:
 * - Each occurrence of a variable is matched on its own: "{x}/{x}" matches
 *   "a/b". Likewise a variable's type (string, list, associative array) is
 *   chosen per occurrence.
 * - Literal text in a template is compared byte for byte with the topic
 *   (RFC 6570 would pct-encode characters not allowed in a URI), and any
 *   byte but '{' and '}' is accepted as literal.
 * - Values must appear as the expansion writes them: unreserved characters
 *   (plus reserved ones for + and #) and pct-encoded triplets, with hex
 *   digits of either case. Raw non-ASCII bytes never match a variable.
 * - A prefix ":N" counts one character per unreserved/reserved byte or per
 *   pct-encoded triplet, except triplets of UTF-8 continuation bytes
 *   (%80-%BF), which are free; UTF-8 sequences are not validated.
 * - Keys of associative arrays are not empty.
 * - A string containing '{' that is not a valid template is an error here;
 *   the Mercure reference hub treats it as an exact topic instead. The
 *   caller chooses between rejecting it and comparing it with strcmp().
 * - A string without '{' is always exact, even with a stray '}'.
 */
#ifndef HUBD_SELECTOR_H
#define HUBD_SELECTOR_H

#include <stdbool.h>
#include <stddef.h>

#define SELECTOR_MAX_LEN 2048  /* bytes in a template */
#define SELECTOR_MAX_EXPRS 64  /* expressions in a template */

enum selector_kind {
	SELECTOR_ALL,      /* "*" */
	SELECTOR_EXACT,    /* a topic compared as is */
	SELECTOR_TEMPLATE, /* an RFC 6570 URI template */
};

/* Compiled and immutable: any number of threads may use one selector at
 * once, as long as none frees it meanwhile. */
struct selector;

/* Compiles text (copied). Returns NULL when text is a malformed template
 * (unbalanced braces, an empty expression, an unknown operator, a bad
 * variable name or modifier, more than SELECTOR_MAX_LEN bytes or
 * SELECTOR_MAX_EXPRS expressions) and writes a message naming the problem
 * and its byte offset into err (errlen bytes, always NUL-terminated; err
 * may be NULL). Never fails for "*" or a string without '{'. Aborts on
 * out-of-memory. The result is freed with selector_free(). */
struct selector *selector_compile(const char *text, char *err, size_t errlen);

/* Like selector_compile, but a malformed template becomes an exact
 * selector instead of an error, as the Mercure hub treats it. Cannot fail
 * (aborts on out-of-memory). */
struct selector *selector_parse(const char *text);

/* A draft-08 exact matcher for text (copied): "*" (every topic), else
 * the topic compared byte for byte, '{' or not. Cannot fail (aborts on
 * out-of-memory). */
struct selector *selector_exact(const char *text);

/* Frees s. NULL is a no-op. */
void selector_free(struct selector *s);

/* What kind of selector s is. Cannot fail. */
enum selector_kind selector_kind(const struct selector *s);

/* The text s was compiled from; borrowed, valid until selector_free(s). */
const char *selector_text(const struct selector *s);

/* True when topic (a NUL-terminated string, borrowed) matches s. Pure and
 * thread-safe; time is linear in strlen(topic) times the template's size.
 * Allocates (and frees) scratch only for templates of some 40 variables or
 * more, aborting on out-of-memory like xmalloc; cannot otherwise fail. */
bool selector_match(const struct selector *s, const char *topic);

#endif
