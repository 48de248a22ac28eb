/* topic.c -- hash table of topics with their subscriber links. */
#include "config.h"

#include "topic.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

struct topic_registry {
	struct topic **buckets;
	size_t nbuckets; /* a power of two */
	size_t ntopics;
};

/* FNV-1a: fast and good enough for topic strings. */
static unsigned hash_str(const char *s)
{
	unsigned h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

struct topic_registry *topic_registry_new(void)
{
	struct topic_registry *r = xcalloc(1, sizeof *r);
	r->nbuckets = 256;
	r->buckets = xcalloc(r->nbuckets, sizeof *r->buckets);
	return r;
}

static void topic_free(struct topic *t)
{
	free(t->name);
	free(t);
}

void topic_registry_free(struct topic_registry *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->nbuckets; i++) {
		struct topic *t = r->buckets[i];
		while (t) {
			struct topic *next = t->next;
			topic_free(t);
			t = next;
		}
	}
	free(r->buckets);
	free(r);
}

static struct topic *find_hashed(struct topic_registry *r, const char *name, unsigned h)
{
	for (struct topic *t = r->buckets[h & (r->nbuckets - 1)]; t; t = t->next)
		if (t->hash == h && strcmp(t->name, name) == 0)
			return t;
	return NULL;
}

struct topic *topic_find(struct topic_registry *r, const char *name)
{
	return find_hashed(r, name, hash_str(name));
}

static void grow(struct topic_registry *r)
{
	size_t n = r->nbuckets * 2;
	struct topic **b = xcalloc(n, sizeof *b);
	for (size_t i = 0; i < r->nbuckets; i++) {
		struct topic *t = r->buckets[i];
		while (t) {
			struct topic *next = t->next;
			t->next = b[t->hash & (n - 1)];
			b[t->hash & (n - 1)] = t;
			t = next;
		}
	}
	free(r->buckets);
	r->buckets = b;
	r->nbuckets = n;
}

void topic_subscribe(struct topic_registry *r, const char *name, void *sub, struct topic_link *l)
{
	unsigned h = hash_str(name);
	struct topic *t = find_hashed(r, name, h);
	if (!t) {
		if (r->ntopics + 1 > r->nbuckets)
			grow(r);
		t = xcalloc(1, sizeof *t);
		t->name = xstrdup(name);
		t->hash = h;
		struct topic **b = &r->buckets[h & (r->nbuckets - 1)];
		t->next = *b;
		*b = t;
		r->ntopics++;
	}
	l->topic = t;
	l->sub = sub;
	l->prev = NULL;
	l->next = t->links;
	if (t->links)
		t->links->prev = l;
	t->links = l;
	t->nlinks++;
}

void topic_unsubscribe(struct topic_registry *r, struct topic_link *l)
{
	struct topic *t = l->topic;
	if (l->prev)
		l->prev->next = l->next;
	else
		t->links = l->next;
	if (l->next)
		l->next->prev = l->prev;
	t->nlinks--;
	l->topic = NULL;
	l->prev = l->next = NULL;
	if (t->nlinks > 0)
		return;
	struct topic **p = &r->buckets[t->hash & (r->nbuckets - 1)];
	while (*p != t)
		p = &(*p)->next;
	*p = t->next;
	r->ntopics--;
	topic_free(t);
}

size_t topic_count(const struct topic_registry *r)
{
	return r->ntopics;
}
