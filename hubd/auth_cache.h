/* auth_cache.h -- tokens verified once, remembered: a publisher (or a page
 * opening streams) that sends the same JWT with every request pays for its
 * signature check and the parsing of its claims once, not per request.
 *
 * An entry is found by the SHA-256 of the token and the key it was
 * verified with, never by the token's bytes: a comparison of those would
 * take longer the more of a guessed token matches a valid one. Only valid
 * tokens are remembered, the least recently used making room; exp and nbf
 * are checked again on every use. Not thread-safe (the loop thread's). */
#ifndef HUBD_AUTH_CACHE_H
#define HUBD_AUTH_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "auth.h"

struct auth_cache;

/* A cache of at most capacity tokens (at least 1). Cannot fail (aborts on
 * OOM). */
struct auth_cache *auth_cache_new(int capacity);
/* Frees c and its entries. NULL is a no-op. */
void auth_cache_free(struct auth_cache *c);

/* auth_verify(token, key, keylen, now_s, out, err, errlen) with the same
 * contract and results, answered from the cache when this token was found
 * valid with this key (the same pointer and length: keys do not change
 * while hubd runs) before. *out is the caller's copy either way. */
enum auth_status auth_cache_verify(struct auth_cache *c, const char *token,
				   const char *key, size_t keylen, int64_t now_s,
				   struct auth_claims *out, char *err, size_t errlen);

/* Counters for tests and stats: answers from the cache, and full checks. */
uint64_t auth_cache_hits(const struct auth_cache *c);
uint64_t auth_cache_misses(const struct auth_cache *c);

#endif
