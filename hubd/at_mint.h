/* at_mint.h -- minting Mercure 1.0 access tokens (RFC 9068 JWT access
 * tokens with Mercure authorization details), signed with jws.c: what
 * `hubctl token --at` prints, and what the tests verify. */
#ifndef HUBD_AT_MINT_H
#define HUBD_AT_MINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "access_token.h"
#include "jws.h"

/* A matcher to grant; match_type is always written out. */
struct at_mint_topic {
	enum at_match_type type;
	const char *match;
};

/* What to put in a token. Everything is borrowed for the call. */
struct at_mint {
	const char *iss;            /* required */
	const char *const *aud;     /* at least one; one is written as a string */
	size_t naud;
	const char *sub;            /* NULL: a random urn:uuid */
	const char *client_id;      /* NULL: iss */
	const char *kid;            /* NULL: no kid header */
	int64_t now_s;              /* iat; exp = now_s + ttl_s */
	int64_t ttl_s;              /* > 0 */
	const struct at_mint_topic *publish; /* one detail with action publish */
	size_t npublish;
	const struct at_mint_topic *subscribe; /* one with subscribe */
	size_t nsubscribe;
	const char *payload;        /* a JSON object's text for the subscribe
				     * detail, or NULL */
};

/* Builds the claims of m (iss, aud, sub, client_id, iat, exp, a random
 * urn:uuid jti, authorization_details) with header {"alg": the key's,
 * "typ": "at+jwt", "kid"} and signs them with key (borrowed: a private key
 * or an HS256 secret). Returns the compact token (the caller frees it), or
 * NULL with a reason in err: a missing iss or aud, ttl_s not positive, a
 * matcher that is not valid UTF-8, a payload that is not a JSON object,
 * or a signing failure. */
char *at_mint_sign(const struct at_mint *m, const struct jws_key *key, char *err,
		   size_t errlen);

#endif
