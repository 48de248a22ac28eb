/* auth.h -- verification of Mercure JWTs (HS256) and the checks on their
 * "mercure" claim. libjwt does the cryptography; this file decides what a
 * verified token allows. */
#ifndef HUBD_AUTH_H
#define HUBD_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum auth_status {
	AUTH_OK = 0,
	AUTH_INVALID = 1, /* malformed, bad signature, or an alg other than HS256 */
	AUTH_EXPIRED = 2, /* exp in the past, or nbf in the future */
};

/* What a verified token grants: selectors from mercure.publish and
 * mercure.subscribe (absent claim = none), and exp (0 when absent). */
struct auth_claims {
	char **publish;
	int npublish;
	char **subscribe;
	int nsubscribe;
	int64_t exp;
};

/* Verifies token (NUL-terminated) with the HS256 key (keylen bytes) at
 * time now_s (seconds since the epoch) and fills *out (caller frees with
 * auth_claims_free, also on failure). Tokens signed with any other
 * algorithm, "none" included, are AUTH_INVALID. A "mercure" claim that is
 * present but not an object of string arrays is AUTH_INVALID. err gets a
 * short reason on failure (safe to show to the client). */
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
