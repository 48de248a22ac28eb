/* test_auth.c -- JWT verification: valid, expired, wrong key, alg none,
 * other algorithms, malformed tokens and claims, topic coverage. */
#include "config.h"

#include <jwt.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "testlib.h"

#define KEY "test-key-0123456789"
#define NOW 1800000000

/* Makes a token with libjwt: grants_json as the payload. */
static char *make_token(jwt_alg_t alg, const char *key, const char *grants_json)
{
	jwt_t *jwt = NULL;
	jwt_new(&jwt);
	if (grants_json)
		jwt_add_grants_json(jwt, grants_json);
	jwt_set_alg(jwt, alg, (const unsigned char *)key, key ? (int)strlen(key) : 0);
	char *t = jwt_encode_str(jwt);
	jwt_free(jwt);
	return t;
}

static enum auth_status verify(const char *token, struct auth_claims *c)
{
	char err[128];
	return auth_verify(token, KEY, strlen(KEY), NOW, c, err, sizeof err);
}

static void test_valid(void)
{
	char *t = make_token(JWT_ALG_HS256, KEY,
			     "{\"mercure\":{\"publish\":[\"a\",\"b\"],\"subscribe\":[\"*\"]},\"exp\":1900000000}");
	struct auth_claims c;
	CHECK(verify(t, &c) == AUTH_OK);
	CHECK(c.npublish == 2 && c.nsubscribe == 1 && c.exp == 1900000000);
	CHECK(auth_can_publish(&c, "a") && auth_can_publish(&c, "b"));
	CHECK(!auth_can_publish(&c, "c") && !auth_can_publish(&c, "a/"));
	auth_claims_free(&c);
	CHECK(c.publish == NULL && c.npublish == 0);
	free(t);

	t = make_token(JWT_ALG_HS256, KEY, "{\"mercure\":{\"publish\":[\"*\"]}}");
	CHECK(verify(t, &c) == AUTH_OK && auth_can_publish(&c, "anything"));
	auth_claims_free(&c);
	free(t);

	/* No mercure claim: valid token that grants nothing. */
	t = make_token(JWT_ALG_HS256, KEY, "{\"sub\":\"x\"}");
	CHECK(verify(t, &c) == AUTH_OK && !auth_can_publish(&c, "a"));
	auth_claims_free(&c);
	free(t);
}

static void test_time(void)
{
	struct auth_claims c;
	char *t = make_token(JWT_ALG_HS256, KEY, "{\"mercure\":{\"publish\":[\"*\"]},\"exp\":1700000000}");
	CHECK(verify(t, &c) == AUTH_EXPIRED);
	auth_claims_free(&c);
	free(t);
	t = make_token(JWT_ALG_HS256, KEY, "{\"mercure\":{\"publish\":[\"*\"]},\"exp\":1800000000}");
	CHECK(verify(t, &c) == AUTH_EXPIRED); /* exp == now is expired */
	auth_claims_free(&c);
	free(t);
	t = make_token(JWT_ALG_HS256, KEY, "{\"mercure\":{\"publish\":[\"*\"]},\"nbf\":1900000000}");
	CHECK(verify(t, &c) == AUTH_EXPIRED);
	auth_claims_free(&c);
	free(t);
	t = make_token(JWT_ALG_HS256, KEY, "{\"exp\":\"soon\"}");
	CHECK(verify(t, &c) == AUTH_INVALID);
	auth_claims_free(&c);
	free(t);
}

static void test_rejected(void)
{
	struct auth_claims c;
	char *t = make_token(JWT_ALG_HS256, "another-key", "{\"mercure\":{\"publish\":[\"*\"]}}");
	CHECK(verify(t, &c) == AUTH_INVALID);
	auth_claims_free(&c);
	free(t);

	t = make_token(JWT_ALG_HS512, KEY, "{\"mercure\":{\"publish\":[\"*\"]}}");
	CHECK(verify(t, &c) == AUTH_INVALID);
	auth_claims_free(&c);
	free(t);

	/* alg none: {"alg":"none","typ":"JWT"}.{"mercure":{"publish":["*"]}}. */
	static const char *none_tokens[] = {
		"eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJtZXJjdXJlIjp7InB1Ymxpc2giOlsiKiJdfX0.",
		"eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJtZXJjdXJlIjp7InB1Ymxpc2giOlsiKiJdfX0",
		"eyJhbGciOiJOT05FIiwidHlwIjoiSldUIn0.eyJtZXJjdXJlIjp7InB1Ymxpc2giOlsiKiJdfX0.",
	};
	for (size_t i = 0; i < sizeof none_tokens / sizeof none_tokens[0]; i++) {
		CHECK(verify(none_tokens[i], &c) == AUTH_INVALID);
		auth_claims_free(&c);
	}

	static const char *garbage[] = {"", "x", "a.b", "a.b.c", "...", "eyJ.eyJ.sig",
					"\xff\xfe.\x01.\x02", "..", "eyJhbGciOiJIUzI1NiJ9..",
					"eyJhbGciOiJIUzI1NiJ9..c2ln", ".e30.c2ln", "a.b.c.d",
					"eyJhbGciOiJIUzI1NiJ9.e30.c2ln=", "eyJ hbGc.e30.c2ln"};
	for (size_t i = 0; i < sizeof garbage / sizeof garbage[0]; i++) {
		CHECK(verify(garbage[i], &c) == AUTH_INVALID);
		auth_claims_free(&c);
	}

	/* Signature of another token pasted onto a tampered payload. */
	t = make_token(JWT_ALG_HS256, KEY, "{\"mercure\":{\"publish\":[\"a\"]}}");
	char *u = make_token(JWT_ALG_HS256, KEY, "{\"mercure\":{\"publish\":[\"*\"]}}");
	char *dot_t = strrchr(t, '.'), *dot_u = strrchr(u, '.');
	size_t head = (size_t)(dot_u - u);
	char *forged = malloc(head + strlen(dot_t) + 1);
	memcpy(forged, u, head);
	strcpy(forged + head, dot_t);
	CHECK(verify(forged, &c) == AUTH_INVALID);
	auth_claims_free(&c);
	free(forged);
	free(t);
	free(u);

	/* Oversized token. */
	char *huge = malloc(20000);
	memset(huge, 'a', 19999);
	huge[19999] = '\0';
	CHECK(verify(huge, &c) == AUTH_INVALID);
	auth_claims_free(&c);
	free(huge);

	/* No key configured. */
	char err[64];
	t = make_token(JWT_ALG_HS256, KEY, "{}");
	CHECK(auth_verify(t, NULL, 0, NOW, &c, err, sizeof err) == AUTH_INVALID);
	auth_claims_free(&c);
	free(t);
}

static void test_bad_claims(void)
{
	static const char *claims[] = {
		"{\"mercure\":\"all\"}",
		"{\"mercure\":{\"publish\":\"*\"}}",
		"{\"mercure\":{\"publish\":[1,2]}}",
		"{\"mercure\":{\"subscribe\":{\"a\":1}}}",
	};
	for (size_t i = 0; i < sizeof claims / sizeof claims[0]; i++) {
		struct auth_claims c;
		char *t = make_token(JWT_ALG_HS256, KEY, claims[i]);
		CHECK(verify(t, &c) == AUTH_INVALID);
		auth_claims_free(&c);
		free(t);
	}
}

TEST_MAIN(TEST(test_valid), TEST(test_time), TEST(test_rejected), TEST(test_bad_claims))
