/* auth_cache.c -- verified tokens remembered by their SHA-256 (see
 * auth_cache.h). */
#include "config.h"

#include "auth_cache.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

struct entry {
	bool used;
	unsigned char digest[SHA256_DIGEST_LENGTH];
	const char *key; /* identity only, never read */
	size_t keylen;
	struct auth_claims claims;
	uint64_t last_use;
};

struct auth_cache {
	EVP_MD *sha256;     /* fetched once: a fetch per digest costs more
			     * than the digest of a token */
	EVP_MD_CTX *ctx;
	struct entry *entries;
	int capacity;
	uint64_t clock; /* last_use stamps */
	uint64_t hits, misses;
};

struct auth_cache *auth_cache_new(int capacity)
{
	struct auth_cache *c = xcalloc(1, sizeof *c);
	c->capacity = capacity > 0 ? capacity : 1;
	c->entries = xcalloc((size_t)c->capacity, sizeof *c->entries);
	c->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	c->ctx = EVP_MD_CTX_new();
	if (!c->sha256 || !c->ctx)
		fatal("cannot set up SHA-256");
	return c;
}

void auth_cache_free(struct auth_cache *c)
{
	if (!c)
		return;
	for (int i = 0; i < c->capacity; i++)
		auth_claims_free(&c->entries[i].claims);
	free(c->entries);
	EVP_MD_CTX_free(c->ctx);
	EVP_MD_free(c->sha256);
	free(c);
}

/* digest = SHA-256(token). */
static void token_digest(struct auth_cache *c, const char *token,
			 unsigned char digest[SHA256_DIGEST_LENGTH])
{
	if (!EVP_DigestInit_ex2(c->ctx, c->sha256, NULL) ||
	    !EVP_DigestUpdate(c->ctx, token, strlen(token)) ||
	    !EVP_DigestFinal_ex(c->ctx, digest, NULL))
		fatal("SHA-256 failed");
}

/* Copies the string array src[0..n) into *dst (NULL when n is 0). */
static void copy_strings(char ***dst, char *const *src, int n)
{
	*dst = NULL;
	if (n <= 0)
		return;
	*dst = xcalloc((size_t)n, sizeof **dst);
	for (int i = 0; i < n; i++)
		(*dst)[i] = xstrdup(src[i]);
}

/* Fills *dst with a deep copy of *src. */
static void claims_copy(struct auth_claims *dst, const struct auth_claims *src)
{
	*dst = *src;
	copy_strings(&dst->publish, src->publish, src->npublish);
	copy_strings(&dst->subscribe, src->subscribe, src->nsubscribe);
	dst->payload = src->payload ? xstrdup(src->payload) : NULL;
}

/* The entry for digest and key, or NULL. */
static struct entry *find(struct auth_cache *c, const unsigned char *digest, const char *key,
			  size_t keylen)
{
	for (int i = 0; i < c->capacity; i++) {
		struct entry *e = &c->entries[i];
		if (e->used && e->key == key && e->keylen == keylen &&
		    memcmp(e->digest, digest, sizeof e->digest) == 0)
			return e;
	}
	return NULL;
}

/* A free entry, or the least recently used one, emptied. */
static struct entry *make_room(struct auth_cache *c)
{
	struct entry *victim = &c->entries[0];
	for (int i = 0; i < c->capacity; i++) {
		struct entry *e = &c->entries[i];
		if (!e->used)
			return e;
		if (e->last_use < victim->last_use)
			victim = e;
	}
	auth_claims_free(&victim->claims);
	victim->used = false;
	return victim;
}

enum auth_status auth_cache_verify(struct auth_cache *c, const char *token,
				   const char *key, size_t keylen, int64_t now_s,
				   struct auth_claims *out, char *err, size_t errlen)
{
	unsigned char digest[SHA256_DIGEST_LENGTH];
	token_digest(c, token, digest);
	struct entry *e = find(c, digest, key, keylen);
	if (e) {
		c->hits++;
		e->last_use = ++c->clock;
		memset(out, 0, sizeof *out);
		enum auth_status st = auth_check_time(e->claims.exp, e->claims.nbf, now_s, err,
						      errlen);
		if (st == AUTH_OK)
			claims_copy(out, &e->claims);
		return st;
	}
	c->misses++;
	enum auth_status st = auth_verify(token, key, keylen, now_s, out, err, errlen);
	if (st != AUTH_OK)
		return st;
	e = make_room(c);
	e->used = true;
	memcpy(e->digest, digest, sizeof digest);
	e->key = key;
	e->keylen = keylen;
	claims_copy(&e->claims, out);
	e->last_use = ++c->clock;
	return st;
}

uint64_t auth_cache_hits(const struct auth_cache *c)
{
	return c->hits;
}

uint64_t auth_cache_misses(const struct auth_cache *c)
{
	return c->misses;
}
