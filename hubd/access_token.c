/* access_token.c -- Mercure 1.0 access tokens: the issuer set, the JOSE
 * header profile, RFC 9068 claims and Mercure authorization details (see
 * access_token.h). Signatures are jws.c's. */
#include "config.h"

#include "access_token.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "utf8.h"
#include "util.h"

struct at_key {
	struct jws_key *key;
	char *kid; /* or NULL */
};

struct at_issuer {
	char *iss;
	struct at_key keys[AT_ISSUER_KEYS_MAX];
	size_t nkeys;
};

struct at_issuers {
	struct at_issuer *v;
	size_t n;
};

/* ---- the issuer set -------------------------------------------------- */

struct at_issuers *at_issuers_new(void)
{
	return xcalloc(1, sizeof(struct at_issuers));
}

void at_issuers_free(struct at_issuers *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++) {
		for (size_t k = 0; k < s->v[i].nkeys; k++) {
			jws_key_free(s->v[i].keys[k].key);
			free(s->v[i].keys[k].kid);
		}
		free(s->v[i].iss);
	}
	free(s->v);
	free(s);
}

static struct at_issuer *find_issuer(const struct at_issuers *s, const char *iss)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i].iss, iss) == 0)
			return &s->v[i];
	return NULL;
}

int at_issuers_add(struct at_issuers *s, const char *iss, char *err, size_t errlen)
{
	char why[128];
	size_t n = strlen(iss);
	if (n == 0 || n > AT_ISSUER_MAX) {
		snprintf(err, errlen, "an issuer identifier has 1 to %d bytes", AT_ISSUER_MAX);
		return -1;
	}
	if (!utf8_matcher_ok(iss, n, why, sizeof why)) {
		snprintf(err, errlen, "issuer \"%s\": %s", iss, why);
		return -1;
	}
	if (find_issuer(s, iss)) {
		snprintf(err, errlen, "issuer \"%s\" is given twice (one line an issuer, "
				      "with all its keys)", iss);
		return -1;
	}
	s->v = xrealloc(s->v, (s->n + 1) * sizeof *s->v);
	memset(&s->v[s->n], 0, sizeof s->v[s->n]);
	s->v[s->n++].iss = xstrdup(iss);
	return 0;
}

int at_issuers_add_key(struct at_issuers *s, const char *iss, const char *text, size_t len,
		       const char *kid, char *err, size_t errlen)
{
	struct at_issuer *is = find_issuer(s, iss);
	if (!is) {
		snprintf(err, errlen, "unknown issuer \"%s\"", iss);
		return -1;
	}
	if (is->nkeys == AT_ISSUER_KEYS_MAX) {
		snprintf(err, errlen, "issuer \"%s\" has more than %d keys", iss, AT_ISSUER_KEYS_MAX);
		return -1;
	}
	struct jws_key *k = jws_key_public_new(text, len, err, errlen);
	if (!k)
		return -1;
	is->keys[is->nkeys].key = k;
	is->keys[is->nkeys++].kid = kid ? xstrdup(kid) : NULL;
	return 0;
}

int at_issuers_merge(struct at_issuers *dst, struct at_issuers *src, char *err, size_t errlen)
{
	for (size_t i = 0; i < src->n; i++) {
		if (find_issuer(dst, src->v[i].iss)) {
			snprintf(err, errlen, "issuer \"%s\" is given twice (one line an issuer, "
					      "with all its keys)", src->v[i].iss);
			at_issuers_free(src);
			return -1;
		}
	}
	dst->v = xrealloc(dst->v, (dst->n + src->n + 1) * sizeof *dst->v);
	memcpy(dst->v + dst->n, src->v, src->n * sizeof *src->v);
	dst->n += src->n;
	free(src->v);
	free(src);
	return 0;
}

size_t at_issuers_count(const struct at_issuers *s)
{
	return s ? s->n : 0;
}

int at_issuers_check(const struct at_issuers *s, unsigned algs, char *err, size_t errlen)
{
	for (size_t i = 0; s && i < s->n; i++) {
		unsigned have = 0;
		for (size_t k = 0; k < s->v[i].nkeys; k++)
			have |= JWS_ALG_BIT(jws_key_alg(s->v[i].keys[k].key));
		if (!have) {
			snprintf(err, errlen, "issuer \"%s\" has no key", s->v[i].iss);
			return -1;
		}
		if (!(have & algs)) {
			char names[64];
			jws_algs_format(have, names, sizeof names);
			snprintf(err, errlen, "issuer \"%s\" has keys for %s only, which the "
					      "algorithm allowlist leaves out", s->v[i].iss, names);
			return -1;
		}
	}
	return 0;
}

/* ---- claims ---------------------------------------------------------- */

static void grant_free(struct at_grant *g)
{
	for (size_t i = 0; i < g->ntopics; i++)
		free(g->topics[i].match);
	free(g->topics);
	free(g->payload);
}

void at_claims_free(struct at_claims *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->ngrants; i++)
		grant_free(&c->grants[i]);
	free(c->grants);
	free(c->iss);
	free(c->sub);
	free(c->client_id);
	free(c->jti);
	free(c);
}

/* A JSON string's text, or NULL when j is not a string holding no NUL. */
static const char *plain_string(json_t *j)
{
	if (!json_is_string(j) || strlen(json_string_value(j)) != json_string_length(j))
		return NULL;
	return json_string_value(j);
}

/* Reads the NumericDate claim name of claims into *out: 0 when absent.
 * Returns false when present but not a non-negative number in range (a
 * fraction is cut off). */
static bool date_claim(json_t *claims, const char *name, int64_t *out)
{
	json_t *j = json_object_get(claims, name);
	*out = 0;
	if (!j)
		return true;
	if (json_is_integer(j) && json_integer_value(j) >= 0) {
		*out = json_integer_value(j);
		return true;
	}
	if (json_is_real(j) && json_real_value(j) >= 0 && json_real_value(j) < 9223372036854775808.0) {
		*out = (int64_t)json_real_value(j);
		return true;
	}
	return false;
}

/* Copies the optional string claim name into *out (NULL when absent).
 * False when present but not a string. */
static bool string_claim(json_t *claims, const char *name, char **out)
{
	json_t *j = json_object_get(claims, name);
	*out = NULL;
	if (!j)
		return true;
	const char *s = plain_string(j);
	if (!s)
		return false;
	*out = xstrdup(s);
	return true;
}

/* True when aud (a string or an array of strings) holds resource. */
static bool aud_holds(json_t *aud, const char *resource, char *err, size_t errlen)
{
	if (json_is_string(aud)) {
		if (strcmp(json_string_value(aud), resource) == 0)
			return true;
		snprintf(err, errlen, "aud is not this hub's resource identifier");
		return false;
	}
	if (!json_is_array(aud)) {
		snprintf(err, errlen, aud ? "aud is neither a string nor an array" : "no aud claim");
		return false;
	}
	bool found = false;
	size_t i;
	json_t *v;
	json_array_foreach(aud, i, v) {
		if (!json_is_string(v)) {
			snprintf(err, errlen, "aud holds a non-string");
			return false;
		}
		if (strcmp(json_string_value(v), resource) == 0)
			found = true;
	}
	if (!found)
		snprintf(err, errlen, "aud does not hold this hub's resource identifier");
	return found;
}

/* ---- authorization details ------------------------------------------ */

static bool parse_topic(json_t *t, const struct at_params *p, struct at_topic *out, char *err,
			size_t errlen)
{
	char why[160];
	if (!json_is_object(t)) {
		snprintf(err, errlen, "a topics entry is not an object");
		return false;
	}
	json_t *type = json_object_get(t, "match_type");
	out->type = AT_MATCH_EXACT;
	if (type) {
		const char *ts = plain_string(type);
		if (ts && strcmp(ts, "urlpattern") == 0)
			out->type = AT_MATCH_URLPATTERN;
		else if (!ts || strcmp(ts, "exact") != 0) {
			snprintf(err, errlen, "unsupported match_type");
			return false;
		}
	}
	json_t *m = json_object_get(t, "match");
	if (!json_is_string(m)) {
		snprintf(err, errlen, "a topics entry has no string match");
		return false;
	}
	const char *ms = json_string_value(m);
	size_t n = json_string_length(m);
	if (n == 0 || n > AT_MATCH_MAX) {
		snprintf(err, errlen, "a match has %zu bytes (1 to %d allowed)", n, AT_MATCH_MAX);
		return false;
	}
	if (!utf8_matcher_ok(ms, n, why, sizeof why)) {
		snprintf(err, errlen, "a match is refused: %s", why);
		return false;
	}
	if (p->check && strcmp(ms, "*") != 0 &&
	    !p->check(p->check_arg, out->type, ms, why, sizeof why)) {
		snprintf(err, errlen, "a match is refused: %s", why);
		return false;
	}
	out->match = xstrdup(ms);
	return true;
}

/* Parses the Mercure detail d into *g (zeroed on entry; the caller frees
 * it also on failure). */
static bool parse_detail(json_t *d, const struct at_params *p, struct at_grant *g, char *err,
			 size_t errlen)
{
	json_t *actions = json_object_get(d, "actions");
	if (!json_is_array(actions) || json_array_size(actions) == 0) {
		snprintf(err, errlen, "a Mercure detail needs a non-empty actions array");
		return false;
	}
	size_t i;
	json_t *v;
	json_array_foreach(actions, i, v) {
		const char *a = plain_string(v);
		if (!a) {
			snprintf(err, errlen, "an action is not a string");
			return false;
		}
		if (strcmp(a, "publish") == 0)
			g->actions |= AT_ACTION_PUBLISH;
		else if (strcmp(a, "subscribe") == 0)
			g->actions |= AT_ACTION_SUBSCRIBE;
	}
	json_t *topics = json_object_get(d, "topics");
	if (!json_is_array(topics) || json_array_size(topics) == 0) {
		snprintf(err, errlen, "a Mercure detail needs a non-empty topics array");
		return false;
	}
	if (json_array_size(topics) > AT_TOPICS_MAX) {
		snprintf(err, errlen, "a Mercure detail has more than %d topics", AT_TOPICS_MAX);
		return false;
	}
	g->topics = xcalloc(json_array_size(topics), sizeof *g->topics);
	json_array_foreach(topics, i, v) {
		if (!parse_topic(v, p, &g->topics[i], err, errlen))
			return false;
		g->ntopics++;
	}
	json_t *payload = json_object_get(d, "payload");
	if (payload) {
		if (!json_is_object(payload)) {
			snprintf(err, errlen, "a payload is not an object");
			return false;
		}
		g->payload = json_dumps(payload, JSON_COMPACT);
		if (!g->payload)
			abort(); /* out of memory, as xmalloc */
	}
	return true;
}

/* Fills c->grants from the claims' authorization_details. */
static bool parse_details(json_t *claims, const struct at_params *p, struct at_claims *c,
			  char *err, size_t errlen)
{
	json_t *details = json_object_get(claims, "authorization_details");
	if (!details)
		return true;
	if (!json_is_array(details)) {
		snprintf(err, errlen, "authorization_details is not an array");
		return false;
	}
	if (json_array_size(details) > AT_DETAILS_MAX) {
		snprintf(err, errlen, "more than %d authorization details", AT_DETAILS_MAX);
		return false;
	}
	c->grants = xcalloc(json_array_size(details) + 1, sizeof *c->grants);
	size_t i;
	json_t *d;
	json_array_foreach(details, i, d) {
		const char *type = json_is_object(d) ? plain_string(json_object_get(d, "type")) : NULL;
		if (!type) {
			snprintf(err, errlen, "an authorization detail is not an object with a string type");
			return false;
		}
		if (strcmp(type, AT_DETAIL_TYPE) != 0)
			continue;
		struct at_grant *g = &c->grants[c->ngrants++];
		if (!parse_detail(d, p, g, err, errlen))
			return false;
	}
	return true;
}

/* ---- verification ---------------------------------------------------- */

/* True when the JOSE header h says typ at+jwt (or application/at+jwt),
 * case-insensitively. */
static bool typ_is_at_jwt(json_t *h)
{
	const char *typ = plain_string(json_object_get(h, "typ"));
	if (typ && strncasecmp(typ, "application/", 12) == 0)
		typ += 12;
	return typ && strcasecmp(typ, "at+jwt") == 0;
}

bool at_is_access_token(const char *token, size_t len)
{
	const char *dot = memchr(token, '.', len);
	size_t n = dot ? (size_t)(dot - token) : len;
	struct buf hdr = {0};
	bool yes = false;
	if (n < len && len <= AT_TOKEN_MAX && jws_b64url_decode(token, n, &hdr)) {
		json_t *h = json_loadb(hdr.p ? hdr.p : "", hdr.len, JSON_REJECT_DUPLICATES, NULL);
		yes = json_is_object(h) && typ_is_at_jwt(h);
		json_decref(h);
	}
	buf_free(&hdr);
	return yes;
}

/* Checks the JOSE header h: alg on the allowlist (into *alg), typ, no key
 * material or critical extensions; *kid the kid or NULL. */
static bool check_header(json_t *h, const struct at_params *p, enum jws_alg *alg,
			 const char **kid, char *err, size_t errlen)
{
	static const char *const refused[] = {"jwk", "jku", "x5u", "x5c", "crit"};
	if (!json_is_object(h)) {
		snprintf(err, errlen, "the header is not a JSON object");
		return false;
	}
	const char *name = plain_string(json_object_get(h, "alg"));
	if (!name || !jws_alg_from_name(name, alg)) {
		snprintf(err, errlen, "alg is missing or unknown");
		return false;
	}
	if (!(p->algs & JWS_ALG_BIT(*alg))) {
		snprintf(err, errlen, "alg %s is not on the allowlist", name);
		return false;
	}
	if (!typ_is_at_jwt(h)) {
		snprintf(err, errlen, "typ is not at+jwt");
		return false;
	}
	for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
		if (json_object_get(h, refused[i])) {
			snprintf(err, errlen, "the header has \"%s\"", refused[i]);
			return false;
		}
	}
	json_t *k = json_object_get(h, "kid");
	*kid = k ? plain_string(k) : NULL;
	if (k && !*kid) {
		snprintf(err, errlen, "kid is not a string");
		return false;
	}
	return true;
}

/* True when one of the issuer's keys for alg signed the token. With a kid
 * that names some of them, only those are tried. */
static bool signature_ok(const struct at_issuer *is, enum jws_alg alg, const char *kid,
			 const char *token, const struct jws_parts *parts)
{
	bool kid_known = false;
	for (size_t i = 0; kid && i < is->nkeys; i++)
		if (is->keys[i].kid && strcmp(is->keys[i].kid, kid) == 0 &&
		    jws_key_alg(is->keys[i].key) == alg)
			kid_known = true;
	for (size_t i = 0; i < is->nkeys; i++) {
		const struct at_key *k = &is->keys[i];
		if (jws_key_alg(k->key) != alg ||
		    (kid_known && (!k->kid || strcmp(k->kid, kid) != 0)))
			continue;
		if (jws_verify(k->key, alg, token, parts->signing_input_len,
			       (const unsigned char *)parts->sig.p, parts->sig.len))
			return true;
	}
	return false;
}

/* Checks the claims once the signature holds, filling c. */
static bool check_claims(json_t *claims, const struct at_params *p, struct at_claims *c,
			 char *err, size_t errlen)
{
	if (!date_claim(claims, "exp", &c->exp) || !date_claim(claims, "nbf", &c->nbf) ||
	    !date_claim(claims, "iat", &c->iat)) {
		snprintf(err, errlen, "exp, nbf or iat is not a number");
		return false;
	}
	if (!json_object_get(claims, "exp")) {
		snprintf(err, errlen, "no exp claim");
		return false;
	}
	if (c->exp <= p->now_s) {
		snprintf(err, errlen, "the token has expired");
		return false;
	}
	if (c->nbf > p->now_s) {
		snprintf(err, errlen, "the token is not valid yet (nbf)");
		return false;
	}
	if (!p->resource || !*p->resource) {
		snprintf(err, errlen, "no resource identifier to check aud against");
		return false;
	}
	if (!aud_holds(json_object_get(claims, "aud"), p->resource, err, errlen))
		return false;
	if (!string_claim(claims, "sub", &c->sub) ||
	    !string_claim(claims, "client_id", &c->client_id) ||
	    !string_claim(claims, "jti", &c->jti)) {
		snprintf(err, errlen, "sub, client_id or jti is not a string");
		return false;
	}
	return parse_details(claims, p, c, err, errlen);
}

enum at_status at_verify(const struct at_issuers *s, const struct at_params *p,
			 const char *token, size_t len, struct at_claims **out, char *err,
			 size_t errlen)
{
	*out = NULL;
	if (len > AT_TOKEN_MAX) {
		snprintf(err, errlen, "the token is longer than %d bytes", AT_TOKEN_MAX);
		return AT_INVALID_TOKEN;
	}
	struct jws_parts parts;
	json_t *h = NULL, *claims = NULL;
	struct at_claims *c = NULL;
	enum at_status st = AT_INVALID_TOKEN;
	enum jws_alg alg;
	const char *kid;
	if (!jws_split(token, len, &parts, err, errlen))
		goto done;
	h = json_loadb(parts.header.p, parts.header.len, JSON_REJECT_DUPLICATES, NULL);
	if (!check_header(h, p, &alg, &kid, err, errlen))
		goto done;
	claims = json_loadb(parts.payload.p, parts.payload.len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(claims)) {
		snprintf(err, errlen, "the claims are not a JSON object");
		goto done;
	}
	const char *iss = plain_string(json_object_get(claims, "iss"));
	const struct at_issuer *is = iss && s ? find_issuer(s, iss) : NULL;
	if (!is) {
		snprintf(err, errlen, iss ? "iss is not a trusted issuer" : "no string iss claim");
		goto done;
	}
	if (!signature_ok(is, alg, kid, token, &parts)) {
		snprintf(err, errlen, "no %s key of the issuer verifies the signature",
			 jws_alg_name(alg));
		goto done;
	}
	c = xcalloc(1, sizeof *c);
	c->alg = alg;
	c->iss = xstrdup(iss);
	if (!check_claims(claims, p, c, err, errlen))
		goto done;
	*out = c;
	c = NULL;
	st = AT_OK;
done:
	at_claims_free(c);
	json_decref(claims);
	json_decref(h);
	jws_parts_free(&parts);
	return st;
}
