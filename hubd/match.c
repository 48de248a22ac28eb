/* match.c -- a subscriber's delivery rules (see match.h). */
#include "config.h"

#include "match.h"

#include <stdlib.h>

#include "msg.h"
#include "selector.h"
#include "util.h"

static struct selector *compile(const struct match_spec *m)
{
	return m->syntax == MATCH_EXACT ? selector_exact(m->text) : selector_parse(m->text);
}

struct match_rules *match_rules_build(const struct match_spec *topics, int ntopics,
				      const struct match_spec *allowed, int nallowed)
{
	struct match_rules *r =
		xcalloc(1, sizeof *r + (size_t)(ntopics + nallowed) * sizeof r->sels[0]);
	r->ntopics = ntopics;
	r->nallowed = nallowed;
	for (int i = 0; i < ntopics; i++) {
		r->sels[i] = compile(&topics[i]);
		enum selector_kind k = selector_kind(r->sels[i]);
		r->has_templates |= k == SELECTOR_TEMPLATE;
		r->has_all |= k == SELECTOR_ALL;
	}
	for (int i = 0; i < nallowed; i++)
		r->sels[ntopics + i] = compile(&allowed[i]);
	return r;
}

struct match_rules *match_rules_new(const char *const *topics, int ntopics,
				    char *const *allowed, int nallowed)
{
	struct match_spec *specs = xcalloc((size_t)(ntopics + nallowed) + 1, sizeof *specs);
	for (int i = 0; i < ntopics; i++)
		specs[i] = (struct match_spec){MATCH_TOPIC_SELECTOR, topics[i]};
	for (int i = 0; i < nallowed; i++)
		specs[ntopics + i] = (struct match_spec){MATCH_TOPIC_SELECTOR, allowed[i]};
	struct match_rules *r = match_rules_build(specs, ntopics, specs + ntopics, nallowed);
	free(specs);
	return r;
}

void match_rules_free(struct match_rules *r)
{
	if (!r)
		return;
	for (int i = 0; i < r->ntopics + r->nallowed; i++)
		selector_free(r->sels[i]);
	free(r);
}

int match_rules_store_topics(const struct match_rules *r, const char **names)
{
	if (r->has_all || r->has_templates) {
		names[0] = "*";
		return 1;
	}
	for (int i = 0; i < r->ntopics; i++)
		names[i] = selector_text(r->sels[i]);
	return r->ntopics;
}

bool match_any(struct selector *const *sels, int n, const struct msg *m)
{
	for (int i = 0; i < n; i++)
		for (int t = 0; t < m->ntopics; t++)
			if (selector_match(sels[i], m->topics[t]))
				return true;
	return false;
}

bool match_rules_topic(const struct match_rules *r, const struct msg *m)
{
	return match_any(r->sels, r->ntopics, m);
}

bool match_rules_may_see(const struct match_rules *r, const struct msg *m)
{
	return !m->priv || match_any(r->sels + r->ntopics, r->nallowed, m);
}

bool match_rules_accept(const struct msg *m, const void *rules)
{
	const struct match_rules *r = rules;
	return match_rules_may_see(r, m) && match_rules_topic(r, m);
}
