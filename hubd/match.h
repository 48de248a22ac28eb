/* match.h -- what one subscriber may receive: the topic selectors it asked
 * for and, for private updates, the selectors its JWT's mercure.subscribe
 * claim grants. Immutable once built, so the fan-out (loop thread) and
 * replay/history filters (store thread) can share it. */
#ifndef HUBD_MATCH_H
#define HUBD_MATCH_H

#include <stdbool.h>
#include <stddef.h>

struct msg;
struct selector;

struct match_rules {
	int ntopics;        /* from the request's topic parameters */
	int nallowed;       /* mercure.subscribe: for private updates */
	bool has_templates; /* a topic selector is a URI template */
	bool has_all;       /* a topic selector is "*" */
	/* The ntopics topic selectors, then the nallowed allowed ones: one
	 * allocation with the rules (every stream has one). */
	struct selector *sels[];
};

/* How a matcher's text is read. */
enum match_syntax {
	MATCH_TOPIC_SELECTOR, /* draft-07 topic selector: "*", an RFC 6570
			       * template (with '{'), else an exact topic */
	MATCH_EXACT,          /* draft-08 exact matcher: "*", else the topic
			       * byte for byte */
};

/* One matcher to compile: its syntax and text (borrowed). */
struct match_spec {
	enum match_syntax syntax;
	const char *text;
};

/* Compiles the topic matchers and the allowed ones (texts copied). A
 * malformed URI template is taken as an exact topic, as the Mercure hub
 * does. Cannot fail (aborts on OOM). */
struct match_rules *match_rules_build(const struct match_spec *topics, int ntopics,
				      const struct match_spec *allowed, int nallowed);
/* match_rules_build for draft-07 topic selectors only. */
struct match_rules *match_rules_new(const char *const *topics, int ntopics,
				    char *const *allowed, int nallowed);
/* NULL is a no-op. */
void match_rules_free(struct match_rules *r);

/* True when a topic of m matches a topic selector. */
bool match_rules_topic(const struct match_rules *r, const struct msg *m);
/* True when m is public, or a topic of m matches an allowed selector. */
bool match_rules_may_see(const struct match_rules *r, const struct msg *m);
/* Both of the above; the signature of a store_query filter (arg is the
 * rules). Thread-safe. */
bool match_rules_accept(const struct msg *m, const void *rules);

/* The topics that narrow a store query for these rules, into names
 * (MSG_MAX_TOPICS entries, borrowed from r): "*" alone when a selector is
 * "*" or a template (the filter decides), else every exact topic. Returns
 * how many. */
int match_rules_store_topics(const struct match_rules *r, const char **names);

/* True when some topic of m matches one of sels[0..n). */
bool match_any(struct selector *const *sels, int n, const struct msg *m);

#endif
