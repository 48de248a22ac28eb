/* authz.c -- a request's token, in either draft (see authz.h). */
#include "config.h"

#include "authz.h"

#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access_token.h"
#include "auth_cache.h"
#include "ctl_request.h"
#include "http_form.h"
#include "settings.h"
#include "urlpattern.h"
#include "util.h"

#define METADATA_PATH "/.well-known/oauth-protected-resource"

static void refusal(struct authz_refusal *r, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void refusal(struct authz_refusal *r, int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->text, sizeof r->text, fmt, ap);
	va_end(ap);
	r->status = status;
}

/* The resource a draft-08 token's aud must hold: the resource setting,
 * else the hub's URL as the request reached it. NULL: neither. */
static const char *resource_of(const struct authz_env *e, const struct ctl_credentials *c)
{
	return e->cfg->resource ? e->cfg->resource : c->hub_url;
}

/* RFC 9728: the metadata URL of resource "scheme://authority/path" is
 * "scheme://authority/.well-known/oauth-protected-resource/path".
 * Malloc'ed, or NULL when resource is NULL or has no authority. */
static char *metadata_url(const char *resource)
{
	const char *auth = resource ? strstr(resource, "://") : NULL;
	if (!auth)
		return NULL;
	size_t n = (size_t)(auth + 3 - resource) + strcspn(auth + 3, "/?#");
	struct buf b = {0};
	buf_add(&b, resource, n);
	buf_adds(&b, METADATA_PATH);
	buf_adds(&b, resource + n);
	return buf_steal(&b, NULL);
}

/* A draft-08 challenge line into r->headers: RFC 6750's Bearer with the
 * error code (NULL: none, for a missing token) and resource_metadata. */
static void challenge(struct authz_refusal *r, const char *error, const char *url)
{
	struct buf b = {0};
	buf_adds(&b, "WWW-Authenticate: Bearer");
	const char *sep = " ";
	if (error) {
		buf_printf(&b, " error=\"%s\"", error);
		sep = ", ";
	}
	if (url)
		buf_printf(&b, "%sresource_metadata=\"%s\"", sep, url);
	buf_adds(&b, "\r\n");
	free(r->headers);
	r->headers = buf_steal(&b, NULL);
}

void authz_refuse(const struct authz *a, int status, const char *error, const char *text,
		  struct authz_refusal *r)
{
	memset(r, 0, sizeof *r);
	refusal(r, status, "%s", text);
	if (a->draft == 8)
		challenge(r, error, a->challenge_url);
}

/* ---- finding the token --------------------------------------------------- */

/* key (33 bytes) gets the hex of the first 16 bytes of tok's SHA-256: the
 * token's name under the per-token cap, the token itself never kept. */
static void token_digest(const char *tok, size_t len, char key[33])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	static const char hex[] = "0123456789abcdef";
	if (!EVP_Digest(tok, len, md, &n, EVP_sha256(), NULL) || n < 16)
		abort(); /* out of memory in OpenSSL */
	for (int i = 0; i < 16; i++) {
		key[2 * i] = hex[md[i] >> 4];
		key[2 * i + 1] = hex[md[i] & 15];
	}
	key[32] = '\0';
}

/* The token c presents under *draft's rules into *tok (malloc'ed; NULL:
 * none) and *len; *cookie says it came in a cookie. *draft 0 (the request
 * does not say) becomes that of the token: a header token of typ at+jwt,
 * or one in the token-cookie, is draft-08; any other, or none, draft-07. */
static void find_token(const struct authz_env *e, const struct ctl_credentials *c, int *draft,
		       char **tok, size_t *len, bool *cookie)
{
	*tok = NULL;
	*len = 0;
	*cookie = false;
	bool header = c->token && c->source == CTL_AUTH_HEADER;
	if (*draft == 0 && c->token)
		*draft = header && at_is_access_token(c->token, c->token_len) ? 8 : 7;
	if (c->token && (*draft == 7 || header)) {
		*tok = xmemdup(c->token, c->token_len);
		*len = c->token_len;
		*cookie = c->source == CTL_AUTH_COOKIE;
		return;
	}
	if (*draft != 7 && c->cookie) {
		*tok = http_cookie_get(c->cookie, e->cfg->token_cookie);
		if (*tok && !**tok) {
			free(*tok);
			*tok = NULL;
		}
		*len = *tok ? strlen(*tok) : 0;
		*cookie = *tok != NULL;
		if (*tok)
			*draft = 8;
	}
	if (*draft == 0)
		*draft = 7;
}

/* ---- verification -------------------------------------------------------- */

/* at_verify's hook: a URL pattern grant must compile. */
static bool grant_compiles(void *arg, enum at_match_type type, const char *match, char *err,
			   size_t errlen)
{
	const struct authz_env *e = arg;
	return type != AT_MATCH_URLPATTERN ||
	       urlpattern_valid(match, strlen(match), e->hub_url, err, errlen);
}

static int verify08(const struct authz_env *e, const struct ctl_credentials *c,
		    const char *tok, size_t len, struct authz *out, struct authz_refusal *r)
{
	char why[256];
	struct at_params p = {
		.algs = e->cfg->token_algs,
		.resource = resource_of(e, c),
		.now_s = now_ms() / 1000,
		.check = grant_compiles,
		.check_arg = (void *)e,
	};
	if (at_verify(e->cfg->token_issuers, &p, tok, len, &out->c08, why, sizeof why) != AT_OK) {
		/* The client learns no more than invalid_token (RFC 6750). */
		refusal(r, 401, "invalid access token");
		challenge(r, "invalid_token", out->challenge_url);
		return 401;
	}
	out->exp_s = out->c08->exp;
	return 0;
}

static int verify07(const struct authz_env *e, const char *tok, size_t len, enum authz_role role,
		    struct authz *out, struct authz_refusal *r)
{
	const char *key = role == AUTHZ_PUBLISHER ? e->cfg->publisher_key : e->cfg->subscriber_key;
	if (!key) {
		refusal(r, 401, "no key is configured to verify this token");
		return 401;
	}
	if (strlen(tok) != len) { /* ?authorization=...%00...: not cut short */
		refusal(r, 401, "malformed token");
		return 401;
	}
	enum auth_status st = auth_cache_verify(e->tokens, tok, key, strlen(key), now_ms() / 1000,
						&out->c07, r->text, sizeof r->text);
	if (st != AUTH_OK) {
		r->status = 401;
		return 401;
	}
	out->exp_s = out->c07.exp;
	return 0;
}

int authz_check(const struct authz_env *e, const struct ctl_credentials *c, int draft,
		enum authz_role role, bool required, struct authz *out, struct authz_refusal *r)
{
	memset(out, 0, sizeof *out);
	memset(r, 0, sizeof *r);
	/* With draft-07 off, every token is checked as a draft-08 one. */
	out->draft = !e->cfg->draft07 ? 8 : draft;
	char *tok;
	size_t len;
	find_token(e, c, &out->draft, &tok, &len, &out->via_cookie);
	if (out->draft == 8)
		out->challenge_url = metadata_url(resource_of(e, c));
	out->has_token = tok != NULL;
	if (tok)
		token_digest(tok, len, out->token_key);
	int status = 0;
	if (!tok && required) {
		refusal(r, 401, out->draft == 8 ? "an access token is required"
						: "a JWT is required (Authorization: Bearer)");
		if (out->draft == 8)
			challenge(r, NULL, out->challenge_url);
		status = 401;
	} else if (tok) {
		status = out->draft == 8 ? verify08(e, c, tok, len, out, r)
					 : verify07(e, tok, len, role, out, r);
	}
	free(tok);
	return status;
}

void authz_clear(struct authz *a)
{
	auth_claims_free(&a->c07);
	at_claims_free(a->c08);
	free(a->challenge_url);
	memset(a, 0, sizeof *a);
}

/* ---- what a token allows ------------------------------------------------- */

/* The specs of the topics of a's draft-08 grants with action, or of the
 * draft-07 selectors sels[0..nsels), into a new array of *n. */
static struct match_spec *grant_specs(const struct authz *a, unsigned action, char *const *sels,
				      int nsels, int *n)
{
	size_t cap = (size_t)nsels + 1;
	for (size_t g = 0; a->c08 && g < a->c08->ngrants; g++)
		cap += a->c08->grants[g].ntopics;
	struct match_spec *specs = xcalloc(cap, sizeof *specs);
	*n = 0;
	if (a->draft == 7) {
		for (int i = 0; i < nsels; i++)
			specs[(*n)++] = (struct match_spec){MATCH_TOPIC_SELECTOR, sels[i]};
		return specs;
	}
	for (size_t g = 0; a->c08 && g < a->c08->ngrants; g++) {
		const struct at_grant *gr = &a->c08->grants[g];
		for (size_t t = 0; (gr->actions & action) && t < gr->ntopics; t++)
			specs[(*n)++] = (struct match_spec){
				gr->topics[t].type == AT_MATCH_URLPATTERN ? MATCH_URLPATTERN
									  : MATCH_EXACT,
				gr->topics[t].match};
	}
	return specs;
}

struct match_spec *authz_read_specs(const struct authz *a, int *n)
{
	return grant_specs(a, AT_ACTION_SUBSCRIBE, a->c07.subscribe, a->c07.nsubscribe, n);
}

struct match_rules *authz_publish_rules(const struct authz_env *e, const struct authz *a)
{
	int n;
	struct match_spec *specs =
		grant_specs(a, AT_ACTION_PUBLISH, a->c07.publish, a->c07.npublish, &n);
	struct match_rules *r = match_rules_build(NULL, 0, specs, n, e->hub_url, NULL, 0);
	free(specs);
	return r;
}

/* True when grant g's topics match one of sub's matcher strings. */
static bool grant_covers(const struct authz_env *e, const struct at_grant *g,
			 const struct ctl_subscribe *sub)
{
	struct match_spec specs[AT_TOPICS_MAX];
	size_t n = g->ntopics < AT_TOPICS_MAX ? g->ntopics : AT_TOPICS_MAX;
	for (size_t t = 0; t < n; t++)
		specs[t] = (struct match_spec){g->topics[t].type == AT_MATCH_URLPATTERN
						       ? MATCH_URLPATTERN
						       : MATCH_EXACT,
					       g->topics[t].match};
	struct match_rules *r = match_rules_build(NULL, 0, specs, (int)n, e->hub_url, NULL, 0);
	bool yes = false;
	for (int i = 0; r && !yes && i < sub->nmatchers; i++)
		yes = match_rules_allows(r, sub->matchers[i].text);
	match_rules_free(r);
	return yes;
}

const char *authz_payload(const struct authz_env *e, const struct authz *a,
			  const struct ctl_subscribe *sub)
{
	if (a->draft == 7)
		return a->c07.payload;
	for (size_t g = 0; a->c08 && g < a->c08->ngrants; g++) {
		const struct at_grant *gr = &a->c08->grants[g];
		if ((gr->actions & AT_ACTION_SUBSCRIBE) && grant_covers(e, gr, sub))
			return gr->payload;
	}
	return NULL;
}
