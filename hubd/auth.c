/* auth.c -- Mercure JWT verification with libjwt, claims with jansson, and
 * the start-up check of PEM keys with OpenSSL. */
#include "config.h"

#include "auth.h"

#include <errno.h>
#include <jansson.h>
#include <jwt.h>
#include <limits.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "selector.h"
#include "util.h"

#define AUTH_TOKEN_MAX 8192

/* How a PEM public key starts: SubjectPublicKeyInfo, then PKCS#1. */
static const char *const pem_public_starts[] = {
	"-----BEGIN PUBLIC KEY-----",
	"-----BEGIN RSA PUBLIC KEY-----",
};

bool auth_key_is_pem(const char *key, size_t keylen)
{
	for (size_t i = 0; i < sizeof pem_public_starts / sizeof pem_public_starts[0]; i++) {
		size_t n = strlen(pem_public_starts[i]);
		if (keylen >= n && memcmp(key, pem_public_starts[i], n) == 0)
			return true;
	}
	return false;
}

/* OpenSSL's passphrase callback: a public key needs none, and the daemon
 * must never wait for one on its terminal. */
static int no_passphrase(char *buf, int size, int rwflag, void *arg)
{
	return -1;
}

int auth_key_check(const char *key, size_t keylen, char *err, size_t errlen)
{
	if (!key || keylen == 0 || keylen > INT_MAX) {
		snprintf(err, errlen, "the key is empty or too long");
		return -1;
	}
	if (!auth_key_is_pem(key, keylen)) {
		if (memmem(key, keylen, "-----BEGIN", 10)) {
			snprintf(err, errlen, "a PEM key must be an RSA public key, its first line "
				 "\"-----BEGIN PUBLIC KEY-----\" or \"-----BEGIN RSA PUBLIC KEY-----\"");
			return -1;
		}
		return 0; /* an HS256 secret */
	}
	/* The same reader libjwt uses, so what passes here verifies there. */
	BIO *bio = BIO_new_mem_buf(key, (int)keylen);
	if (!bio) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	ERR_clear_error();
	EVP_PKEY *pkey = PEM_read_bio_PUBKEY(bio, NULL, no_passphrase, NULL);
	BIO_free(bio);
	int rc = -1;
	if (!pkey)
		snprintf(err, errlen, "the PEM public key does not parse");
	else if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA)
		snprintf(err, errlen, "the PEM public key is not an RSA key, which RS256 needs");
	else
		rc = 0;
	EVP_PKEY_free(pkey);
	ERR_clear_error();
	return rc;
}

void auth_claims_free(struct auth_claims *c)
{
	for (int i = 0; i < c->npublish; i++)
		free(c->publish[i]);
	for (int i = 0; i < c->nsubscribe; i++)
		free(c->subscribe[i]);
	free(c->publish);
	free(c->subscribe);
	free(c->payload);
	memset(c, 0, sizeof *c);
}

/* Copies the string array j (NULL = absent) into *list. */
static int take_selectors(json_t *j, char ***list, int *n)
{
	if (!j)
		return 0;
	if (!json_is_array(j) || json_array_size(j) > 1024)
		return -1;
	size_t count = json_array_size(j);
	*list = xcalloc(count ? count : 1, sizeof **list);
	for (size_t i = 0; i < count; i++) {
		json_t *s = json_array_get(j, i);
		if (!json_is_string(s))
			return -1;
		(*list)[(*n)++] = xstrdup(json_string_value(s));
	}
	return 0;
}

/* Reads a numeric date claim; 0 when absent, -1 when not a number or
 * negative. A fraction is cut off; a real past int64_t's range is not a
 * date (converting it would be undefined), nor is one below 0 (it would
 * truncate to 0, "absent", where a negative integer is refused). */
static int64_t date_claim(jwt_t *jwt, const char *name)
{
	char *json = jwt_get_grants_json(jwt, name);
	if (!json)
		return 0;
	json_t *j = json_loads(json, JSON_DECODE_ANY, NULL);
	free(json);
	int64_t v = -1;
	if (json_is_integer(j))
		v = json_integer_value(j);
	else if (json_is_real(j) && json_real_value(j) >= 0 &&
		 json_real_value(j) < 9223372036854775808.0)
		v = (int64_t)json_real_value(j);
	json_decref(j);
	return v;
}

/* True when token is three non-empty base64url segments ("h.p.s"). libjwt
 * 1.10 reads and writes past a zero-byte buffer on an empty segment, so
 * nothing else reaches it. */
static bool token_well_formed(const char *token)
{
	int segments = 1;
	size_t seglen = 0;
	for (const char *p = token; *p; p++) {
		if (*p == '.') {
			if (seglen == 0)
				return false;
			segments++;
			seglen = 0;
		} else if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
			   (*p >= '0' && *p <= '9') || *p == '-' || *p == '_') {
			seglen++;
		} else {
			return false;
		}
	}
	return segments == 3 && seglen > 0;
}

enum auth_status auth_check_time(int64_t exp, int64_t nbf, int64_t now_s, char *err,
				 size_t errlen)
{
	if ((exp > 0 && exp <= now_s) || (nbf > 0 && nbf > now_s)) {
		snprintf(err, errlen, "token expired or not yet valid");
		return AUTH_EXPIRED;
	}
	return AUTH_OK;
}

enum auth_status auth_verify(const char *token, const char *key, size_t keylen,
			     int64_t now_s, struct auth_claims *out, char *err,
			     size_t errlen)
{
	memset(out, 0, sizeof *out);
	if (!key || keylen == 0 || keylen > INT_MAX) {
		snprintf(err, errlen, "no key is configured for this kind of token");
		return AUTH_INVALID;
	}
	if (strlen(token) > AUTH_TOKEN_MAX) {
		snprintf(err, errlen, "token too long");
		return AUTH_INVALID;
	}
	if (!token_well_formed(token)) {
		snprintf(err, errlen, "malformed token");
		return AUTH_INVALID;
	}
	/* libjwt verifies with whatever algorithm the token names, an HS256
	 * token against a PEM key included (its text as the secret): the
	 * algorithm is checked against the key's below, after decoding. */
	jwt_alg_t want = auth_key_is_pem(key, keylen) ? JWT_ALG_RS256 : JWT_ALG_HS256;
	jwt_t *jwt = NULL;
	if (jwt_decode(&jwt, token, (const unsigned char *)key, (int)keylen) != 0 || !jwt) {
		snprintf(err, errlen, "invalid token");
		return AUTH_INVALID;
	}
	enum auth_status st = AUTH_INVALID;
	if (jwt_get_alg(jwt) != want) {
		snprintf(err, errlen, "token algorithm must be %s", jwt_alg_str(want));
		goto done;
	}
	int64_t exp = date_claim(jwt, "exp"), nbf = date_claim(jwt, "nbf");
	if (exp < 0 || nbf < 0) {
		snprintf(err, errlen, "exp and nbf must be numbers");
		goto done;
	}
	if (auth_check_time(exp, nbf, now_s, err, errlen) != AUTH_OK) {
		st = AUTH_EXPIRED;
		goto done;
	}
	out->exp = exp;
	out->nbf = nbf;

	char *json = jwt_get_grants_json(jwt, "mercure");
	if (json) {
		json_t *m = json_loads(json, 0, NULL);
		free(json);
		int bad = !json_is_object(m) ||
			  take_selectors(json_object_get(m, "publish"), &out->publish, &out->npublish) < 0 ||
			  take_selectors(json_object_get(m, "subscribe"), &out->subscribe, &out->nsubscribe) < 0;
		json_t *payload = bad ? NULL : json_object_get(m, "payload");
		if (payload)
			out->payload = json_dumps(payload, JSON_COMPACT | JSON_ENCODE_ANY);
		json_decref(m);
		if (bad) {
			snprintf(err, errlen, "malformed mercure claim");
			goto done;
		}
	}
	st = AUTH_OK;
done:
	jwt_free(jwt);
	return st;
}

bool auth_can_publish(const struct auth_claims *c, const char *topic)
{
	for (int i = 0; i < c->npublish; i++) {
		struct selector *sel = selector_parse(c->publish[i]);
		bool ok = selector_match(sel, topic);
		selector_free(sel);
		if (ok)
			return true;
	}
	return false;
}
