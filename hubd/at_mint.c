/* at_mint.c -- Mercure 1.0 access tokens built with jansson and signed with
 * jws.c (see at_mint.h). */
#include "config.h"

#include "at_mint.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "util.h"

/* A random version 4 UUID as "urn:uuid:...", into out (46 bytes). */
static bool random_urn_uuid(char out[46])
{
	unsigned char b[16];
	if (!random_bytes(b, sizeof b))
		return false;
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	snprintf(out, 46,
		 "urn:uuid:%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
		 b[13], b[14], b[15]);
	return true;
}

/* Appends a Mercure detail granting action on topics[0..n) to details. */
static bool add_detail(json_t *details, const char *action, const struct at_mint_topic *topics,
		       size_t n, json_t *payload)
{
	json_t *d = json_object(), *arr = json_array();
	json_object_set_new(d, "type", json_string(AT_DETAIL_TYPE));
	json_object_set_new(d, "actions", json_pack("[s]", action));
	json_object_set_new(d, "topics", arr);
	json_array_append_new(details, d);
	for (size_t i = 0; i < n; i++) {
		json_t *m = json_string(topics[i].match);
		if (!m)
			return false;
		json_array_append_new(arr, json_pack("{s:o,s:s}", "match", m, "match_type",
						     topics[i].type == AT_MATCH_URLPATTERN ? "urlpattern" : "exact"));
	}
	if (payload)
		json_object_set(d, "payload", payload);
	return true;
}

/* The claims of m as a JSON object, or NULL with a reason in err. */
static json_t *build_claims(const struct at_mint *m, char *err, size_t errlen)
{
	char sub[46], jti[46];
	if (!m->iss || !*m->iss || m->naud == 0 || m->ttl_s <= 0) {
		snprintf(err, errlen, "a token needs an issuer, an audience and a positive lifetime");
		return NULL;
	}
	if ((!m->sub && !random_urn_uuid(sub)) || !random_urn_uuid(jti)) {
		snprintf(err, errlen, "no random bytes for the token's identifiers");
		return NULL;
	}
	json_t *payload = NULL;
	if (m->payload) {
		payload = json_loads(m->payload, 0, NULL);
		if (!json_is_object(payload)) {
			json_decref(payload);
			snprintf(err, errlen, "the payload is not a JSON object");
			return NULL;
		}
	}
	json_t *c = json_object(), *aud = json_array(), *details = json_array();
	for (size_t i = 0; i < m->naud; i++)
		json_array_append_new(aud, json_string(m->aud[i]));
	json_object_set_new(c, "iss", json_string(m->iss));
	json_object_set(c, "aud", m->naud == 1 ? json_array_get(aud, 0) : aud);
	json_object_set_new(c, "sub", json_string(m->sub ? m->sub : sub));
	json_object_set_new(c, "client_id", json_string(m->client_id ? m->client_id : m->iss));
	json_object_set_new(c, "iat", json_integer((json_int_t)m->now_s));
	json_object_set_new(c, "exp", json_integer((json_int_t)(m->now_s + m->ttl_s)));
	json_object_set_new(c, "jti", json_string(jti));
	json_object_set_new(c, "authorization_details", details);
	bool ok = (m->npublish == 0 || add_detail(details, "publish", m->publish, m->npublish, NULL)) &&
		  (m->nsubscribe == 0 ||
		   add_detail(details, "subscribe", m->subscribe, m->nsubscribe, payload));
	/* json_string gives NULL for text that is not UTF-8: set_new skips it. */
	if (ok && json_object_size(c) != 8)
		ok = false;
	for (size_t i = 0; ok && i < json_array_size(aud); i++)
		ok = json_array_get(aud, i) != NULL;
	ok = ok && json_array_size(aud) == m->naud;
	json_decref(aud);
	json_decref(payload);
	if (!ok) {
		snprintf(err, errlen, "a claim or matcher is not valid UTF-8");
		json_decref(c);
		return NULL;
	}
	return c;
}

char *at_mint_sign(const struct at_mint *m, const struct jws_key *key, char *err,
		   size_t errlen)
{
	json_t *c = build_claims(m, err, errlen);
	if (!c)
		return NULL;
	json_t *h = json_pack("{s:s,s:s}", "alg", jws_alg_name(jws_key_alg(key)), "typ", "at+jwt");
	if (m->kid)
		json_object_set_new(h, "kid", json_string(m->kid));
	char *hs = json_dumps(h, JSON_COMPACT), *cs = json_dumps(c, JSON_COMPACT);
	char *tok = NULL;
	if (!hs || !cs || (m->kid && !json_object_get(h, "kid")))
		snprintf(err, errlen, "the kid is not valid UTF-8");
	else
		tok = jws_sign(key, hs, cs, err, errlen);
	free(hs);
	free(cs);
	json_decref(h);
	json_decref(c);
	return tok;
}
