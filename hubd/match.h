/* match.h -- what one subscriber may receive: the topic matchers it asked
 * for (draft-07 topic selectors, draft-08 exact matchers and URL patterns)
 * and, for private updates, the matchers its token grants (draft-07:
 * mercure.subscribe selectors; draft-08: the topics of its subscribe
 * authorization details). Immutable once built, so the fan-out (loop
 * thread) and replay/history filters (store thread) can share it. */
#ifndef HUBD_MATCH_H
#define HUBD_MATCH_H

#include <stdbool.h>
#include <stddef.h>

struct msg;
struct selector;
struct url;
struct urlpattern;

/* How a matcher's text is read. */
enum match_syntax {
	MATCH_TOPIC_SELECTOR, /* draft-07 topic selector: "*", an RFC 6570
			       * template (with '{'), else an exact topic */
	MATCH_EXACT,          /* draft-08 exact matcher: "*", else the topic
			       * byte for byte */
	MATCH_URLPATTERN,     /* draft-08 URL pattern ("*": every topic),
			       * relative ones against the hub's URL */
};

/* One matcher to compile: its syntax and text (borrowed). */
struct match_spec {
	enum match_syntax syntax;
	const char *text;
};

/* A compiled matcher: a selector (exact, template or "*"), or a URL
 * pattern. */
struct matcher {
	struct selector *sel;   /* or NULL for a URL pattern */
	struct urlpattern *up;  /* a URL pattern, or NULL */
	char *text;             /* a URL pattern's text (selectors keep theirs) */
};

struct match_rules {
	int ntopics;        /* the request's topic matchers */
	int nallowed;       /* what the token grants, for private updates */
	bool has_patterns;  /* a topic matcher is a URI template or URL pattern */
	bool has_all;       /* a topic matcher is "*" */
	const struct url *base; /* the hub's URL (borrowed, outlives the rules) */
	/* The ntopics topic matchers, then the nallowed allowed ones: one
	 * allocation with the rules (every stream has one). */
	struct matcher m[];
};

/* Compiles the topic matchers and the allowed ones (texts copied); URL
 * patterns and relative topics are resolved against base (borrowed: the
 * hub's URL, the same for every rule set, living as long as they do). A
 * malformed URI template is taken as an exact topic, as the Mercure hub
 * does. Returns NULL with a reason in err when a URL pattern does not
 * compile (then a 400); cannot fail otherwise (aborts on OOM). */
struct match_rules *match_rules_build(const struct match_spec *topics, int ntopics,
				      const struct match_spec *allowed, int nallowed,
				      const struct url *base, char *err, size_t errlen);
/* match_rules_build for draft-07 topic selectors only; cannot fail. */
struct match_rules *match_rules_new(const char *const *topics, int ntopics,
				    char *const *allowed, int nallowed);
/* NULL is a no-op. */
void match_rules_free(struct match_rules *r);

/* The text topic matcher i (0 <= i < ntopics) was built from. */
const char *match_rules_text(const struct match_rules *r, int i);
/* Draft-08's name of topic matcher i's type: "urlpattern" for a URL
 * pattern, else "exact". */
const char *match_rules_type(const struct match_rules *r, int i);
/* The syntax that rebuilds matcher i (0 <= i < ntopics + nallowed) from
 * its text (match_rules_text) with the same meaning: a URL pattern, an
 * RFC 6570 template, else an exact topic or "*". */
enum match_syntax match_rules_syntax(const struct match_rules *r, int i);
/* True when topic matcher i must be tried on every update (a template or
 * a URL pattern), false when it names one topic, or "*", for the index. */
bool match_rules_is_pattern(const struct match_rules *r, int i);

/* True when a topic of m matches a topic matcher. */
bool match_rules_topic(const struct match_rules *r, const struct msg *m);
/* True when m is public, or a topic of m matches an allowed matcher. */
bool match_rules_may_see(const struct match_rules *r, const struct msg *m);
/* Both of the above; the signature of a store_query filter (arg is the
 * rules). Thread-safe. */
bool match_rules_accept(const struct msg *m, const void *rules);

/* True when the one topic (borrowed) matches an allowed matcher of r (a
 * grant check: may a publisher publish it, may a reader read it). Parses
 * the topic for URL patterns each call. */
bool match_rules_allows(const struct match_rules *r, const char *topic);

/* The topics that narrow a store query for these rules, into names
 * (MSG_MAX_TOPICS entries, borrowed from r): "*" alone when a matcher is
 * "*" or a pattern (the filter decides), else every exact topic. Returns
 * how many. */
int match_rules_store_topics(const struct match_rules *r, const char **names);

/* Matches that a URL pattern's cost limit cut short, on every thread so
 * far (each counts as no match). */
unsigned long long match_patterns_aborted(void);

#endif
