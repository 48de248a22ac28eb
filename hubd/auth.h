/* auth.h -- verification of Mercure JWTs (HS256 or RS256) and the checks on
 * their "mercure" claim. libjwt does the cryptography; this file decides
 * which algorithm a key calls for and what a verified token allows.
 *
 * A key is either a PEM public key (its text starts with "-----BEGIN PUBLIC
 * KEY-----" or "-----BEGIN RSA PUBLIC KEY-----"), for RS256 tokens only, or
 * anything else, an HS256 secret, for HS256 tokens only. */
#ifndef HUBD_AUTH_H
#define HUBD_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum auth_status {
	AUTH_OK = 0,
	AUTH_INVALID = 1, /* malformed, bad signature, or not the key's alg */
	AUTH_EXPIRED = 2, /* exp in the past, or nbf in the future */
};

/* What a verified token grants: selectors from mercure.publish and
 * mercure.subscribe (absent claim = none), and exp and nbf (0 when
 * absent). */
struct auth_claims {
	char **publish;
	int npublish;
	char **subscribe;
	int nsubscribe;
	char *payload; /* mercure.payload as JSON text, or NULL */
	int64_t exp;
	int64_t nbf;
};

/* True when key (keylen bytes, borrowed) is a PEM public key, that is, calls
 * for RS256; false for an HS256 secret. Looks at the text only. */
bool auth_key_is_pem(const char *key, size_t keylen);

/* Checks a configured key (keylen bytes, borrowed) before it is used: a PEM
 * public key must parse as an RSA public key, and any other key must not
 * hold a PEM block (a private key or a certificate given by mistake, or a
 * public key with text before it, would otherwise serve as an HS256
 * secret). Returns 0, or -1 with a reason in err. */
int auth_key_check(const char *key, size_t keylen, char *err, size_t errlen);

/* AUTH_OK when claims with exp and nbf (0: absent) are valid at now_s,
 * else AUTH_EXPIRED with a reason in err. The one time rule for a fresh
 * token and a remembered one (auth_cache). */
enum auth_status auth_check_time(int64_t exp, int64_t nbf, int64_t now_s, char *err,
				 size_t errlen);

/* Verifies token (NUL-terminated) with key (keylen bytes, borrowed: an RS256
 * PEM public key or an HS256 secret, see above) at time now_s (seconds since
 * the epoch) and fills *out (caller frees with auth_claims_free, also on
 * failure). Tokens signed with any algorithm but the key's, "none"
 * included, are AUTH_INVALID: so is an HS256 token whose secret is the text
 * of the configured PEM key. A "mercure" claim that is present but not an
 * object of string arrays is AUTH_INVALID. err gets a short reason on
 * failure (safe to show to the client). */
enum auth_status auth_verify(const char *token, const char *key, size_t keylen,
			     int64_t now_s, struct auth_claims *out, char *err,
			     size_t errlen);

/* True when a publish selector covers topic: "*", the topic itself, or
 * a URI template matching it (a malformed template counts as an exact
 * topic, as in the Mercure hub). */
bool auth_can_publish(const struct auth_claims *c, const char *topic);

/* Frees what auth_verify filled; the struct is left zeroed. */
void auth_claims_free(struct auth_claims *c);

#endif
