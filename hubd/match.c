/* match.c -- a subscriber's delivery rules (see match.h). */
#include "config.h"

#include "match.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "msg.h"
#include "selector.h"
#include "url.h"
#include "urlpattern.h"
#include "util.h"

/* ---- the calling thread's URL pattern scratch --------------------------- */

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static unsigned long long aborted_by_gone_threads;
static pthread_mutex_t aborted_lock = PTHREAD_MUTEX_INITIALIZER;

/* A thread ends: its scratch goes, its count stays. */
static void scratch_release(void *p)
{
	pthread_mutex_lock(&aborted_lock);
	aborted_by_gone_threads += urlpattern_scratch_aborted(p);
	pthread_mutex_unlock(&aborted_lock);
	urlpattern_scratch_free(p);
}

static void scratch_key_make(void)
{
	if (pthread_key_create(&scratch_key, scratch_release) != 0)
		abort();
}

/* The calling thread's scratch, made on first use. */
static struct urlpattern_scratch *thread_scratch(void)
{
	pthread_once(&scratch_once, scratch_key_make);
	struct urlpattern_scratch *s = pthread_getspecific(scratch_key);
	if (!s) {
		s = urlpattern_scratch_new();
		if (pthread_setspecific(scratch_key, s) != 0)
			abort();
	}
	return s;
}

unsigned long long match_patterns_aborted(void)
{
	pthread_mutex_lock(&aborted_lock);
	unsigned long long n = aborted_by_gone_threads;
	pthread_mutex_unlock(&aborted_lock);
	/* The calling thread's own (the loop thread's, which asks). */
	pthread_once(&scratch_once, scratch_key_make);
	struct urlpattern_scratch *s = pthread_getspecific(scratch_key);
	return n + (s ? urlpattern_scratch_aborted(s) : 0);
}

/* ---- building ----------------------------------------------------------- */

/* Compiles m into *out; -1 with err for a URL pattern that does not. */
static int compile(const struct match_spec *m, const struct url *base, struct matcher *out,
		   char *err, size_t errlen)
{
	if (m->syntax == MATCH_TOPIC_SELECTOR) {
		out->sel = selector_parse(m->text);
	} else if (m->syntax == MATCH_EXACT || strcmp(m->text, "*") == 0) {
		out->sel = selector_exact(m->text);
	} else {
		out->up = urlpattern_compile(m->text, strlen(m->text), base, err, errlen);
		if (!out->up)
			return -1;
		out->text = xstrdup(m->text);
	}
	return 0;
}

struct match_rules *match_rules_build(const struct match_spec *topics, int ntopics,
				      const struct match_spec *allowed, int nallowed,
				      const struct url *base, char *err, size_t errlen)
{
	struct match_rules *r =
		xcalloc(1, sizeof *r + (size_t)(ntopics + nallowed) * sizeof r->m[0]);
	r->base = base;
	for (int i = 0; i < ntopics + nallowed; i++) {
		const struct match_spec *spec = i < ntopics ? &topics[i] : &allowed[i - ntopics];
		if (compile(spec, base, &r->m[i], err, errlen) < 0) {
			match_rules_free(r);
			return NULL;
		}
		i < ntopics ? r->ntopics++ : r->nallowed++;
	}
	for (int i = 0; i < ntopics; i++) {
		r->has_patterns |= match_rules_is_pattern(r, i);
		r->has_all |= r->m[i].sel && selector_kind(r->m[i].sel) == SELECTOR_ALL;
	}
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
	struct match_rules *r =
		match_rules_build(specs, ntopics, specs + ntopics, nallowed, NULL, NULL, 0);
	free(specs);
	return r;
}

void match_rules_free(struct match_rules *r)
{
	if (!r)
		return;
	for (int i = 0; i < r->ntopics + r->nallowed; i++) {
		selector_free(r->m[i].sel);
		urlpattern_free(r->m[i].up);
		free(r->m[i].text);
	}
	free(r);
}

const char *match_rules_text(const struct match_rules *r, int i)
{
	return r->m[i].sel ? selector_text(r->m[i].sel) : r->m[i].text;
}

const char *match_rules_type(const struct match_rules *r, int i)
{
	return r->m[i].up ? "urlpattern" : "exact";
}

enum match_syntax match_rules_syntax(const struct match_rules *r, int i)
{
	if (r->m[i].up)
		return MATCH_URLPATTERN;
	return selector_kind(r->m[i].sel) == SELECTOR_TEMPLATE ? MATCH_TOPIC_SELECTOR : MATCH_EXACT;
}

bool match_rules_is_pattern(const struct match_rules *r, int i)
{
	return !r->m[i].sel || selector_kind(r->m[i].sel) == SELECTOR_TEMPLATE;
}

int match_rules_store_topics(const struct match_rules *r, const char **names)
{
	if (r->has_all || r->has_patterns) {
		names[0] = "*";
		return 1;
	}
	for (int i = 0; i < r->ntopics; i++)
		names[i] = match_rules_text(r, i);
	return r->ntopics;
}

/* ---- matching ----------------------------------------------------------- */

/* True when one of the n matchers at mt matches a topic of m. */
static bool match_any(const struct match_rules *r, const struct matcher *mt, int n,
		      const struct msg *m)
{
	const struct msg_url *urls = NULL;
	for (int i = 0; i < n; i++) {
		for (int t = 0; t < m->ntopics; t++) {
			if (mt[i].sel) {
				if (selector_match(mt[i].sel, m->topics[t]))
					return true;
				continue;
			}
			/* The message parses its topics once, for every
			 * pattern of every subscriber. */
			if (!urls)
				urls = msg_topic_urls((struct msg *)m, r->base);
			if (urls[t].ok && urlpattern_match(mt[i].up, &urls[t].url, thread_scratch()))
				return true;
		}
	}
	return false;
}

bool match_rules_topic(const struct match_rules *r, const struct msg *m)
{
	return match_any(r, r->m, r->ntopics, m);
}

bool match_rules_may_see(const struct match_rules *r, const struct msg *m)
{
	return !m->priv || match_any(r, r->m + r->ntopics, r->nallowed, m);
}

bool match_rules_accept(const struct msg *m, const void *rules)
{
	const struct match_rules *r = rules;
	return match_rules_may_see(r, m) && match_rules_topic(r, m);
}

bool match_rules_allows(const struct match_rules *r, const char *topic)
{
	const char *topics[1] = {topic};
	struct msg *probe = msg_new("probe", topics, 1, NULL, -1, true, NULL, 0);
	bool ok = match_rules_may_see(r, probe);
	msg_unref(probe);
	return ok;
}
