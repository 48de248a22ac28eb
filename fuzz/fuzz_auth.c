/* fuzz_auth.c -- fuzzes the token shape check and claims handling (auth.c): raw tokens, and claims JSON in tokens signed with a fixed test key. */
#include "config.h"

#include <jansson.h>
#include <jwt.h>
#include <stdbool.h>

#include "auth.h"
#include "fuzz_input.h"

/* Input: one byte choosing the mode, then the token or the claims JSON
 * (up to a NUL), then a topic for auth_can_publish. */
enum mode {
	RAW_HS256,    /* the bytes as a token, against an HS256 secret */
	RAW_RS256,    /* the same against an RSA public key */
	SIGNED,       /* the bytes as claims, signed with the secret */
	WRONG_KEY,    /* signed with another secret: refused */
	WRONG_ALG,    /* signed HS512 with the secret: refused */
	KEY_CHECK,    /* the bytes as a configured key */
	MODES
};

static const char secret[] = "fuzz-test-secret-0123456789abcdef";
static const char pem[] = "-----BEGIN PUBLIC KEY-----\n"
			  "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDWAQad9rG7vaCRrCJ2rkdxLpQ7\n"
			  "D7uT7nz0M8eh5r7oyi0oW2LN8KTAwTMJdWiDvcl82ixoFOEHVIq0aT4yLRFc4Uaa\n"
			  "tt6zfurr+UNzzi5ynTojL38xU+/Dc1W0Aq0dQDdqHbkipybYdCykVP0mF/zzQOhg\n"
			  "d+czh/UjxBSvQ5P/QwIDAQAB\n"
			  "-----END PUBLIC KEY-----\n";
#define NOW 1700000000

/* The claims JSON signed with alg and key, or NULL when libjwt does not
 * take the JSON as grants. */
static char *sign(const char *claims, jwt_alg_t alg, const char *key)
{
	jwt_t *jwt = NULL;
	char *tok = NULL;
	if (jwt_new(&jwt) != 0)
		abort();
	if (jwt_add_grants_json(jwt, claims) == 0 &&
	    jwt_set_alg(jwt, alg, (const unsigned char *)key, (int)strlen(key)) == 0)
		tok = jwt_encode_str(jwt);
	jwt_free(jwt);
	return tok;
}

/* What auth_verify must make of a date claim: 0 absent, -1 not a usable
 * number, else its value. */
static int64_t want_date(json_t *claims, const char *name)
{
	json_t *j = json_object_get(claims, name);
	if (!j)
		return 0;
	if (json_is_integer(j))
		return json_integer_value(j) < 0 ? -1 : json_integer_value(j);
	if (json_is_real(j)) {
		double d = json_real_value(j);
		return d >= 0 && d < 9223372036854775808.0 ? (int64_t)d : -1;
	}
	return -1;
}

/* True when j is absent or an array of at most 1024 strings equal to
 * got[0..n). Sets *ok false when it is not a usable selector list. */
static bool same_list(json_t *j, char **got, int n, bool *ok)
{
	if (!j)
		return n == 0;
	if (!json_is_array(j) || json_array_size(j) > 1024) {
		*ok = false;
		return true;
	}
	for (size_t i = 0; i < json_array_size(j); i++)
		if (!json_is_string(json_array_get(j, i))) {
			*ok = false;
			return true;
		}
	if ((size_t)n != json_array_size(j))
		return false;
	for (int i = 0; i < n; i++)
		if (strcmp(got[i], json_string_value(json_array_get(j, (size_t)i))) != 0)
			return false;
	return true;
}

/* Verifies a token signed over claims and compares the result with what
 * the claims say. */
static void check_signed(const char *claims, const char *topic)
{
	char *tok = sign(claims, JWT_ALG_HS256, secret);
	if (!tok)
		return;
	json_t *ref = json_loads(claims, JSON_REJECT_DUPLICATES, NULL);
	FUZZ_ASSERT(json_is_object(ref)); /* libjwt took it */
	struct auth_claims c;
	char err[128];
	enum auth_status st = auth_verify(tok, secret, strlen(secret), NOW, &c, err, sizeof err);

	enum auth_status want = AUTH_OK;
	int64_t exp = want_date(ref, "exp"), nbf = want_date(ref, "nbf");
	json_t *m = json_object_get(ref, "mercure");
	bool ok = true;
	if (strlen(tok) > 8192 || exp < 0 || nbf < 0)
		want = AUTH_INVALID;
	else if ((exp > 0 && exp <= NOW) || (nbf > 0 && nbf > NOW))
		want = AUTH_EXPIRED;
	else if (m && !json_is_object(m))
		want = AUTH_INVALID;
	if (want == AUTH_OK && m) {
		bool same = same_list(json_object_get(m, "publish"), c.publish, c.npublish, &ok);
		same = same_list(json_object_get(m, "subscribe"), c.subscribe, c.nsubscribe, &ok) &&
		       same;
		if (!ok)
			want = AUTH_INVALID;
		else if (st == AUTH_OK)
			FUZZ_ASSERT(same);
	}
	if (st != want)
		fprintf(stderr, "claims %s: status %d, expected %d (%s)\n", claims, st, want,
			st ? err : "");
	FUZZ_ASSERT(st == want);
	if (st == AUTH_OK) {
		FUZZ_ASSERT(c.exp == exp && c.nbf == nbf);
		json_t *p = m ? json_object_get(m, "payload") : NULL;
		FUZZ_ASSERT(!p == !c.payload);
		if (p) {
			json_t *got = json_loads(c.payload, JSON_DECODE_ANY, NULL);
			FUZZ_ASSERT(json_equal(got, p));
			json_decref(got);
		}
		for (int i = 0; i < c.npublish; i++)
			if (!strchr(c.publish[i], '{'))
				FUZZ_ASSERT(auth_can_publish(&c, c.publish[i]));
		(void)auth_can_publish(&c, topic);
	} else {
		FUZZ_ASSERT(err[0] != '\0');
	}
	auth_claims_free(&c);
	json_decref(ref);
	free(tok);
}

/* A token signed other than the secret and HS256 is refused. */
static void check_refused(const char *claims, jwt_alg_t alg, const char *key)
{
	char *tok = sign(claims, alg, key);
	if (!tok)
		return;
	struct auth_claims c;
	char err[128];
	FUZZ_ASSERT(auth_verify(tok, secret, strlen(secret), NOW, &c, err, sizeof err) ==
		    AUTH_INVALID);
	auth_claims_free(&c);
	free(tok);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	int mode = data[0] % MODES;
	struct fuzz_parts in;
	fuzz_split(data + 1, size - 1, 2, &in);
	struct auth_claims c;
	char err[128];
	switch (mode) {
	case RAW_HS256:
	case RAW_RS256: {
		const char *key = mode == RAW_HS256 ? secret : pem;
		enum auth_status st = auth_verify(in.s[0], key, strlen(key), NOW, &c, err, sizeof err);
		FUZZ_ASSERT(st == AUTH_OK || err[0] != '\0');
		if (st == AUTH_OK)
			(void)auth_can_publish(&c, in.s[1]);
		auth_claims_free(&c);
		break;
	}
	case SIGNED:
		check_signed(in.s[0], in.s[1]);
		break;
	case WRONG_KEY:
		check_refused(in.s[0], JWT_ALG_HS256, "another secret");
		break;
	case WRONG_ALG:
		check_refused(in.s[0], JWT_ALG_HS512, secret);
		break;
	case KEY_CHECK:
		if (auth_key_check(in.s[0], in.len[0], err, sizeof err) < 0)
			FUZZ_ASSERT(err[0] != '\0');
		break;
	}
	fuzz_parts_free(&in);
	return 0;
}
