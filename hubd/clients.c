/* clients.c -- open streams per client address: a chained hash table. */
#include "config.h"

#include "clients.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct client_table {
	struct client **buckets;
	size_t nbuckets; /* a power of two */
	size_t count;
	uint64_t seed;   /* random: addresses an attacker picks do not collide on purpose */
};

struct client_table *clients_new(void)
{
	struct client_table *t = xcalloc(1, sizeof *t);
	t->nbuckets = 64;
	t->buckets = xcalloc(t->nbuckets, sizeof *t->buckets);
	if (!random_bytes(&t->seed, sizeof t->seed))
		t->seed = (uint64_t)mono_ms() * 0x9E3779B97F4A7C15u;
	return t;
}

void clients_free(struct client_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nbuckets; i++) {
		for (struct client *c = t->buckets[i], *next; c; c = next) {
			next = c->next;
			free(c);
		}
	}
	free(t->buckets);
	free(t);
}

bool clients_key(const char *addr, char key[40])
{
	struct in_addr a4;
	struct in6_addr a6;
	if (!addr)
		return false;
	if (inet_pton(AF_INET, addr, &a4) == 1)
		return inet_ntop(AF_INET, &a4, key, 40) != NULL;
	if (inet_pton(AF_INET6, addr, &a6) != 1)
		return false;
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	if (memcmp(a6.s6_addr, mapped, sizeof mapped) == 0) {
		memcpy(&a4, a6.s6_addr + 12, 4);
		return inet_ntop(AF_INET, &a4, key, 40) != NULL;
	}
	memset(a6.s6_addr + 8, 0, 8);
	if (!inet_ntop(AF_INET6, &a6, key, 40 - 3))
		return false;
	strcat(key, "/64");
	return true;
}

/* FNV-1a over the key, mixed with the table's seed. */
static size_t bucket_of(const struct client_table *t, const char *key)
{
	uint64_t h = 0xcbf29ce484222325u ^ t->seed;
	for (const unsigned char *p = (const unsigned char *)key; *p; p++)
		h = (h ^ *p) * 0x100000001b3u;
	h ^= h >> 29;
	return (size_t)(h & (t->nbuckets - 1));
}

/* Doubles the bucket array once there are more clients than buckets. */
static void grow(struct client_table *t)
{
	struct client **old = t->buckets;
	size_t n = t->nbuckets;
	t->nbuckets *= 2;
	t->buckets = xcalloc(t->nbuckets, sizeof *t->buckets);
	for (size_t i = 0; i < n; i++) {
		for (struct client *c = old[i], *next; c; c = next) {
			next = c->next;
			size_t b = bucket_of(t, c->key);
			c->next = t->buckets[b];
			t->buckets[b] = c;
		}
	}
	free(old);
}

struct client *clients_get(struct client_table *t, const char *key)
{
	size_t b = bucket_of(t, key);
	for (struct client *c = t->buckets[b]; c; c = c->next)
		if (strcmp(c->key, key) == 0)
			return c;
	if (t->count >= t->nbuckets) {
		grow(t);
		b = bucket_of(t, key);
	}
	struct client *c = xcalloc(1, sizeof *c);
	snprintf(c->key, sizeof c->key, "%s", key);
	c->probed_ms = INT64_MIN / 2;
	c->next = t->buckets[b];
	t->buckets[b] = c;
	t->count++;
	return c;
}

void clients_put(struct client_table *t, struct client *c)
{
	if (c->nstreams > 0)
		return;
	for (struct client **pp = &t->buckets[bucket_of(t, c->key)]; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			t->count--;
			free(c);
			return;
		}
	}
}

size_t clients_count(const struct client_table *t)
{
	return t->count;
}
