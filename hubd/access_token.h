/* access_token.h -- verification of Mercure 1.0 access tokens: RFC 9068
 * JWT access tokens in compact JWS (jws.h), from trusted issuers each with
 * its own keys, carrying Mercure authorization details (RFC 9396).
 *
 * What is checked (the spec's "Token Validation" and "Authorization
 * Details"): at most AT_TOKEN_MAX bytes; strict base64url; header "alg" on
 * the caller's allowlist and fitting the key ("none" never); "typ" at+jwt
 * or application/at+jwt (case-insensitive); no "jwk", "jku", "x5u", "x5c"
 * or "crit" header; "iss" a configured issuer, compared exactly, and the
 * signature made by one of that issuer's keys only ("kid" picks among
 * them); "exp" present and in the future, "nbf" if present not in the
 * future; "aud" (a string or an array) holding the hub's resource
 * identifier; "sub", "client_id", "jti" strings and "iat" a number when
 * present (they are optional here: tokens in the wild lack some); then
 * every Mercure authorization detail must parse (see at_verify).
 *
 * Thread: the issuer set is built at start-up and immutable after; at_verify
 * runs on hubd's main loop thread (it only reads the set). */
#ifndef HUBD_ACCESS_TOKEN_H
#define HUBD_ACCESS_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "jws.h"

#define AT_TOKEN_MAX 8192        /* bytes of a token, at most */
#define AT_ISSUER_MAX 1024       /* bytes of an issuer identifier */
#define AT_ISSUER_KEYS_MAX 16    /* keys an issuer may have */
#define AT_DETAILS_MAX 32        /* entries of authorization_details */
#define AT_TOPICS_MAX 64         /* entries of a detail's "topics" */
#define AT_MATCH_MAX 2048        /* bytes of one topic matcher */

/* The Mercure authorization detail type (compared byte for byte). */
#define AT_DETAIL_TYPE "https://mercure.rocks/authorization-detail"

enum at_status {
	AT_OK = 0,
	/* Any validation failure. The hub answers 401 error="invalid_token"
	 * and tells the client nothing more; err holds why, for the log. */
	AT_INVALID_TOKEN = 1,
};

enum at_match_type {
	AT_MATCH_EXACT = 0, /* "exact", the default */
	AT_MATCH_URLPATTERN, /* "urlpattern" */
};

/* Actions of a grant, a bitmask; unknown action strings grant nothing. */
#define AT_ACTION_PUBLISH 1u
#define AT_ACTION_SUBSCRIBE 2u

struct at_topic {
	enum at_match_type type;
	char *match; /* valid UTF-8 (utf8_matcher_ok), 1..AT_MATCH_MAX bytes;
		      * "*" is the wildcard whatever the type */
};

/* One Mercure authorization detail. */
struct at_grant {
	unsigned actions; /* AT_ACTION_* */
	struct at_topic *topics;
	size_t ntopics;   /* 1..AT_TOPICS_MAX */
	char *payload;    /* the "payload" object as compact JSON, or NULL */
};

/* What a verified token says. Strings absent from the token are NULL, and
 * nbf and iat 0 when absent. */
struct at_claims {
	char *iss;
	char *sub;
	char *client_id;
	char *jti;
	int64_t exp;
	int64_t nbf;
	int64_t iat;
	enum jws_alg alg;
	struct at_grant *grants; /* in the token's order (first match wins for
				  * payloads), other detail types left out */
	size_t ngrants;
};

/* Frees c and everything in it; NULL is a no-op. */
void at_claims_free(struct at_claims *c);

/* A hook for the matchers of a token: returns false to refuse match (of
 * type), writing why to err. hubd uses it to refuse a urlpattern that does
 * not compile. Called for every matcher but the wildcard "*", after the
 * character checks; arg is the caller's. */
typedef bool (*at_check_fn)(void *arg, enum at_match_type type, const char *match, char *err,
			    size_t errlen);

/* The trusted issuers: identifiers and their keys. */
struct at_issuers;

/* An empty set. Cannot fail. */
struct at_issuers *at_issuers_new(void);
/* Frees s and its keys (secrets zeroed); NULL is a no-op. */
void at_issuers_free(struct at_issuers *s);
/* Adds the issuer iss (copied): 1..AT_ISSUER_MAX bytes of valid UTF-8
 * without controls, not in s already. Returns 0, or -1 with a reason in
 * err. */
int at_issuers_add(struct at_issuers *s, const char *iss, char *err, size_t errlen);
/* Adds a key to the issuer iss (added before) from text (len bytes,
 * borrowed: the caller read the file): a PEM public key or an HS256 secret,
 * as jws_key_public_new takes them; kid (copied; NULL: none) lets a
 * token's "kid" header pick it. Returns 0, or -1 with a clear reason in
 * err (unknown issuer, too many keys, a private key given by mistake, a
 * curve other than P-256, a short secret...). */
int at_issuers_add_key(struct at_issuers *s, const char *iss, const char *text, size_t len,
		       const char *kid, char *err, size_t errlen);
/* Moves every issuer of src (taken: freed in any case) into dst. When one
 * of them is in dst already, nothing is moved and -1 comes back with a
 * reason in err; else 0. */
int at_issuers_merge(struct at_issuers *dst, struct at_issuers *src, char *err, size_t errlen);
/* The number of issuers in s (0 for NULL). */
size_t at_issuers_count(const struct at_issuers *s);
/* Checks that every issuer in s has a key and can verify some algorithm
 * of algs (JWS_ALG_BIT mask): an issuer whose keys all need algorithms
 * left off the allowlist could never be trusted. Returns 0, or -1 naming
 * the issuer in err. */
int at_issuers_check(const struct at_issuers *s, unsigned algs, char *err, size_t errlen);

/* What a verification needs besides the token and the issuers. Borrowed
 * for the call. */
struct at_params {
	unsigned algs;        /* allowlist, a JWS_ALG_BIT mask */
	const char *resource; /* the hub's resource identifier, that "aud"
			       * must hold; NULL or "" refuses every token */
	int64_t now_s;        /* seconds since the epoch */
	at_check_fn check;    /* NULL: none */
	void *check_arg;
};

/* True when token[0..len) looks like an access token: its JOSE header
 * decodes and says typ at+jwt. Verifies nothing: it picks which draft's
 * rules a token is checked by. Cannot fail. */
bool at_is_access_token(const char *token, size_t len);

/* Verifies token (len bytes, borrowed, need not be NUL-terminated) against
 * the issuers s and p. On AT_OK, *out is a new at_claims the caller frees
 * with at_claims_free. On AT_INVALID_TOKEN, *out is NULL and err says why
 * (for the log only). Authorization details: "authorization_details"
 * absent grants nothing; present, it must be an array of at most
 * AT_DETAILS_MAX objects each with a string "type"; entries of other
 * types are left out; a Mercure entry must have a non-empty "actions"
 * array of strings ("publish", "subscribe"; others ignored), a non-empty
 * "topics" array of at most AT_TOPICS_MAX objects with a string "match"
 * (utf8_matcher_ok, at most AT_MATCH_MAX bytes) and an optional
 * "match_type" ("exact" or "urlpattern"), and an optional "payload"
 * object. Anything else makes the whole token invalid. */
enum at_status at_verify(const struct at_issuers *s, const struct at_params *p,
			 const char *token, size_t len, struct at_claims **out, char *err,
			 size_t errlen);

#endif
