/* authz.h -- who a request's token says the client is, and what it may
 * do, in either Mercure draft: a draft-07 JWT (auth.c: the "mercure"
 * claim, keys publisher-key / subscriber-key) or a draft-08 access token
 * (access_token.c: RFC 9068, issuers and authorization details). It finds
 * the token the request presented, picks the draft's rules, verifies it,
 * and words refusals the way the draft asks (draft-08: RFC 6750
 * WWW-Authenticate challenges). Loop thread; the env is immutable. */
#ifndef HUBD_AUTHZ_H
#define HUBD_AUTHZ_H

#include <stdbool.h>
#include <stdint.h>

#include "auth.h"
#include "match.h"

struct at_claims;
struct auth_cache;
struct ctl_credentials;
struct ctl_subscribe;
struct settings;
struct url;

/* What every check needs; borrowed, outlives the checks. */
struct authz_env {
	const struct settings *cfg; /* keys, issuers, algorithms, resource, cookie */
	struct auth_cache *tokens;  /* draft-07 tokens verified before */
	const struct url *hub_url;  /* the hub's URL: URL patterns' base */
};

/* The role a draft-07 token is checked for (which key). */
enum authz_role {
	AUTHZ_SUBSCRIBER,
	AUTHZ_PUBLISHER,
};

/* A checked request's authorization. */
struct authz {
	int draft;               /* 7 or 8: whose rules apply */
	bool has_token;          /* false: anonymous */
	bool via_cookie;         /* the token came in a cookie (CSRF rules) */
	int64_t exp_s;           /* the token's exp, 0: none */
	struct auth_claims c07;  /* draft-07 claims */
	struct at_claims *c08;   /* draft-08 claims, or NULL */
	char *challenge_url;     /* draft-08: the resource_metadata URL, or NULL */
	char token_key[33];      /* with a token: the hex of its SHA-256's first
				  * 16 bytes (the per-token cap), else "" */
};

/* A refusal to answer with. */
struct authz_refusal {
	int status;       /* 400, 401 or 403 */
	char text[256];   /* for the body, and the log */
	char *headers;    /* malloc'ed response header lines (WWW-Authenticate),
			   * or NULL */
};

/* Finds the token of c and checks it. draft: 7 or 8 (the request's own
 * protocol: a subscribe's matchers), or 0 (publish, history: the token
 * decides: typ at+jwt is draft-08). A draft-07 request takes the token of
 * the Authorization header, the authorization parameter or the
 * mercureAuthorization cookie; a draft-08 one that of the Authorization
 * header or of the token-cookie only. required: no token is a refusal
 * (401); else no token is anonymous. A token that is sent must be valid.
 * Returns 0 with *out filled (the caller clears it with authz_clear, also
 * on failure), or the status with *r filled (the caller frees r->headers). */
int authz_check(const struct authz_env *e, const struct ctl_credentials *c, int draft,
		enum authz_role role, bool required, struct authz *out, struct authz_refusal *r);

/* Fills *r for a refusal of a's request by status (400 or 403) with
 * error, the RFC 6750 code ("insufficient_scope", "invalid_request"),
 * used when a is draft-08, and text. */
void authz_refuse(const struct authz *a, int status, const char *error, const char *text,
		  struct authz_refusal *r);

/* The matchers a's token grants for reading private updates: draft-07
 * mercure.subscribe selectors, draft-08 the topics of its subscribe grants.
 * Returns a malloc'ed array of *n specs (texts borrowed from a), never
 * NULL. */
struct match_spec *authz_read_specs(const struct authz *a, int *n);

/* The rules of what a's token may publish (as allowed matchers: test a
 * topic with match_rules_allows): draft-07 mercure.publish selectors,
 * draft-08 the topics of its publish grants. NULL when a grant's URL
 * pattern does not compile (it was checked at verification: cannot
 * happen). */
struct match_rules *authz_publish_rules(const struct authz_env *e, const struct authz *a);

/* The payload for sub's subscription: draft-07 mercure.payload; draft-08
 * the payload of the first subscribe grant whose topics match one of sub's
 * matcher strings (taken as topics). Borrowed from a, or NULL. */
const char *authz_payload(const struct authz_env *e, const struct authz *a,
			  const struct ctl_subscribe *sub);

/* Frees what a holds; a is left zeroed. */
void authz_clear(struct authz *a);

#endif
