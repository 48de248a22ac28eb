/* test_auth.c -- JWT verification: valid, expired, wrong key, alg none,
 * other algorithms, malformed tokens and claims, topic coverage; RS256 with
 * RSA keys made at test time, algorithm confusion, the start-up key check;
 * the cache of verified tokens. */
#include "config.h"

#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/encoder.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "auth_cache.h"
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

/* Real-number dates (found by fuzz_auth: a real past int64_t's range was
 * converted to int64_t, undefined behaviour, and a negative fraction became
 * 0, a token that never expires). */
static void test_real_dates(void)
{
	static const struct {
		const char *claims;
		enum auth_status want;
		int64_t exp;
	} cases[] = {
		{"{\"exp\":1900000000.75}", AUTH_OK, 1900000000},
		{"{\"exp\":1700000000.5}", AUTH_EXPIRED, 0},
		{"{\"nbf\":1700000000.5}", AUTH_OK, 0},
		{"{\"exp\":1.8019e19}", AUTH_INVALID, 0},
		{"{\"exp\":1e300}", AUTH_INVALID, 0},
		{"{\"nbf\":18019000000000000000.5}", AUTH_INVALID, 0},
		{"{\"exp\":-0.5}", AUTH_INVALID, 0},
		{"{\"exp\":-90000000.0}", AUTH_INVALID, 0},
		{"{\"exp\":0.5}", AUTH_OK, 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct auth_claims c;
		char *t = make_token(JWT_ALG_HS256, KEY, cases[i].claims);
		CHECK(verify(t, &c) == cases[i].want);
		if (cases[i].want == AUTH_OK)
			CHECK(c.exp == cases[i].exp);
		auth_claims_free(&c);
		free(t);
	}
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

/* ---- RS256 ------------------------------------------------------------- */

/* A key pair in PEM: the private key (PKCS#8), the public key as
 * SubjectPublicKeyInfo ("BEGIN PUBLIC KEY") and as PKCS#1 ("BEGIN RSA PUBLIC
 * KEY"). */
struct pem_pair {
	char *priv, *pub, *pub_pkcs1;
};

/* Returns what bio holds as a new string. */
static char *bio_string(BIO *bio)
{
	char *data;
	long n = BIO_get_mem_data(bio, &data);
	char *s = malloc((size_t)n + 1);
	memcpy(s, data, (size_t)n);
	s[n] = '\0';
	BIO_free(bio);
	return s;
}

/* PEM of pkey's public half: "PEM"/"SubjectPublicKeyInfo" or
 * "PEM"/"type-specific" (PKCS#1 for RSA). */
static char *public_pem(EVP_PKEY *pkey, const char *structure)
{
	BIO *bio = BIO_new(BIO_s_mem());
	OSSL_ENCODER_CTX *ctx = OSSL_ENCODER_CTX_new_for_pkey(pkey, EVP_PKEY_PUBLIC_KEY, "PEM",
							      structure, NULL);
	int ok = ctx && OSSL_ENCODER_to_bio(ctx, bio) == 1;
	OSSL_ENCODER_CTX_free(ctx);
	CHECK(ok);
	return bio_string(bio);
}

/* A new key pair: RSA of the given bits, or EC P-256 when bits is 0. */
static struct pem_pair make_keys(unsigned bits)
{
	EVP_PKEY *pkey = bits ? EVP_RSA_gen(bits) : EVP_EC_gen("P-256");
	CHECK(pkey != NULL);
	struct pem_pair k;
	BIO *bio = BIO_new(BIO_s_mem());
	CHECK(PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL) == 1);
	k.priv = bio_string(bio);
	k.pub = public_pem(pkey, "SubjectPublicKeyInfo");
	k.pub_pkcs1 = bits ? public_pem(pkey, "type-specific") : NULL;
	EVP_PKEY_free(pkey);
	return k;
}

static void free_keys(struct pem_pair *k)
{
	free(k->priv);
	free(k->pub);
	free(k->pub_pkcs1);
}

static enum auth_status verify_with(const char *token, const char *key, struct auth_claims *c)
{
	char err[128];
	enum auth_status st = auth_verify(token, key, strlen(key), NOW, c, err, sizeof err);
	auth_claims_free(c);
	return st;
}

/* 1024 bits keep the test quick under valgrind; the size is not what is
 * tested. */
#define TEST_RSA_BITS 1024

static void test_rs256(void)
{
	struct pem_pair k = make_keys(TEST_RSA_BITS), other = make_keys(TEST_RSA_BITS);
	CHECK(strncmp(k.pub, "-----BEGIN PUBLIC KEY-----\n", 27) == 0);
	CHECK(strncmp(k.pub_pkcs1, "-----BEGIN RSA PUBLIC KEY-----\n", 31) == 0);
	CHECK(auth_key_is_pem(k.pub, strlen(k.pub)) && auth_key_is_pem(k.pub_pkcs1, strlen(k.pub_pkcs1)));
	CHECK(!auth_key_is_pem(KEY, strlen(KEY)) && !auth_key_is_pem(k.priv, strlen(k.priv)));
	const char *grants = "{\"mercure\":{\"publish\":[\"a\"],\"subscribe\":[\"s\",\"t\"]},"
			     "\"exp\":1900000000}";

	/* Valid, with either form of the public key. */
	char *t = make_token(JWT_ALG_RS256, k.priv, grants);
	CHECK(t != NULL);
	struct auth_claims c;
	char err[128];
	CHECK(auth_verify(t, k.pub, strlen(k.pub), NOW, &c, err, sizeof err) == AUTH_OK);
	CHECK(c.npublish == 1 && c.nsubscribe == 2 && c.exp == 1900000000);
	CHECK(auth_can_publish(&c, "a") && !auth_can_publish(&c, "b"));
	CHECK_STR_EQ(c.subscribe[1], "t");
	auth_claims_free(&c);
	CHECK(verify_with(t, k.pub_pkcs1, &c) == AUTH_OK);

	/* Another RSA key, an HS256 secret, the private key as the key. */
	CHECK(verify_with(t, other.pub, &c) == AUTH_INVALID);
	CHECK(verify_with(t, other.pub_pkcs1, &c) == AUTH_INVALID);
	CHECK(verify_with(t, KEY, &c) == AUTH_INVALID);
	CHECK(verify_with(t, k.priv, &c) == AUTH_INVALID);

	/* Payload swapped under the signature. */
	char *u = make_token(JWT_ALG_RS256, k.priv, "{\"mercure\":{\"publish\":[\"*\"]}}");
	char *dot_t = strrchr(t, '.'), *dot_u = strrchr(u, '.');
	size_t head = (size_t)(dot_u - u);
	char *forged = malloc(head + strlen(dot_t) + 1);
	memcpy(forged, u, head);
	strcpy(forged + head, dot_t);
	CHECK(verify_with(forged, k.pub, &c) == AUTH_INVALID);
	free(forged);
	free(u);
	free(t);

	/* Expired, not yet valid. */
	t = make_token(JWT_ALG_RS256, k.priv, "{\"exp\":1700000000}");
	CHECK(verify_with(t, k.pub, &c) == AUTH_EXPIRED);
	free(t);
	t = make_token(JWT_ALG_RS256, k.priv, "{\"nbf\":1900000000}");
	CHECK(verify_with(t, k.pub, &c) == AUTH_EXPIRED);
	free(t);

	/* The right RSA key, another RSA algorithm. */
	t = make_token(JWT_ALG_RS512, k.priv, grants);
	CHECK(verify_with(t, k.pub, &c) == AUTH_INVALID);
	free(t);

	/* An RS256 token where an HS256 secret is configured. */
	t = make_token(JWT_ALG_RS256, k.priv, grants);
	CHECK(verify_with(t, KEY, &c) == AUTH_INVALID);
	free(t);

	free_keys(&k);
	free_keys(&other);
}

/* Algorithm confusion: an HS256 token signed with the text of the public key
 * (which anybody may hold) as its secret. libjwt alone accepts it. */
static void test_alg_confusion(void)
{
	struct pem_pair k = make_keys(TEST_RSA_BITS);
	const char *keys[] = {k.pub, k.pub_pkcs1};
	for (size_t i = 0; i < 2; i++) {
		char *t = make_token(JWT_ALG_HS256, keys[i], "{\"mercure\":{\"publish\":[\"*\"]}}");
		jwt_t *jwt = NULL;
		CHECK(jwt_decode(&jwt, t, (const unsigned char *)keys[i], (int)strlen(keys[i])) == 0);
		CHECK(jwt && jwt_get_alg(jwt) == JWT_ALG_HS256); /* the attack works on libjwt */
		jwt_free(jwt);
		struct auth_claims c;
		char err[128];
		CHECK(auth_verify(t, keys[i], strlen(keys[i]), NOW, &c, err, sizeof err) == AUTH_INVALID);
		CHECK(c.npublish == 0 && strstr(err, "RS256"));
		auth_claims_free(&c);
		free(t);

		/* The same with HS512 and HS384. */
		t = make_token(JWT_ALG_HS512, keys[i], "{}");
		CHECK(verify_with(t, keys[i], &c) == AUTH_INVALID);
		free(t);
		t = make_token(JWT_ALG_HS384, keys[i], "{}");
		CHECK(verify_with(t, keys[i], &c) == AUTH_INVALID);
		free(t);
	}

	/* alg none, also where a PEM key is configured. */
	static const char *none_tokens[] = {
		"eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJtZXJjdXJlIjp7InB1Ymxpc2giOlsiKiJdfX0.",
		"eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJtZXJjdXJlIjp7InB1Ymxpc2giOlsiKiJdfX0",
		"eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJtZXJjdXJlIjp7InB1Ymxpc2giOlsiKiJdfX0.c2ln",
	};
	for (size_t i = 0; i < sizeof none_tokens / sizeof none_tokens[0]; i++) {
		struct auth_claims c;
		CHECK(verify_with(none_tokens[i], k.pub, &c) == AUTH_INVALID);
	}
	free_keys(&k);
}

static void test_key_check(void)
{
	struct pem_pair k = make_keys(TEST_RSA_BITS), ec = make_keys(0);
	char err[256];
	CHECK(auth_key_check(k.pub, strlen(k.pub), err, sizeof err) == 0);
	CHECK(auth_key_check(k.pub_pkcs1, strlen(k.pub_pkcs1), err, sizeof err) == 0);
	CHECK(auth_key_check(KEY, strlen(KEY), err, sizeof err) == 0);
	/* Without the final newline, as a one-line setting would strip it. */
	CHECK(auth_key_check(k.pub, strlen(k.pub) - 1, err, sizeof err) == 0);

	/* An EC public key: a PEM public key, but not RSA. */
	CHECK(auth_key_is_pem(ec.pub, strlen(ec.pub)));
	CHECK(auth_key_check(ec.pub, strlen(ec.pub), err, sizeof err) == -1 && strstr(err, "RSA"));

	/* PEM blocks that would otherwise be taken for HS256 secrets. */
	CHECK(auth_key_check(k.priv, strlen(k.priv), err, sizeof err) == -1 && strstr(err, "PEM"));
	CHECK(auth_key_check(ec.priv, strlen(ec.priv), err, sizeof err) == -1);
	char *indented = malloc(strlen(k.pub) + 2);
	indented[0] = '\n';
	strcpy(indented + 1, k.pub);
	CHECK(auth_key_check(indented, strlen(indented), err, sizeof err) == -1);
	free(indented);

	/* Broken PEM: a damaged body, cut short, no body, only the first line. */
	char *bad = strdup(k.pub);
	bad[40] = bad[40] == 'A' ? '!' : 'A';
	bad[41] = '*';
	CHECK(auth_key_check(bad, strlen(bad), err, sizeof err) == -1 && strstr(err, "parse"));
	free(bad);
	bad = strdup(k.pub);
	bad[strlen(bad) / 2] = '\0';
	CHECK(auth_key_check(bad, strlen(bad), err, sizeof err) == -1);
	free(bad);
	static const char *broken[] = {
		"-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n",
		"-----BEGIN PUBLIC KEY-----",
		"-----BEGIN RSA PUBLIC KEY-----\nAAAA\n-----END RSA PUBLIC KEY-----\n",
		"-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\n-----END PUBLIC KEY-----\n",
	};
	for (size_t i = 0; i < sizeof broken / sizeof broken[0]; i++)
		CHECK(auth_key_check(broken[i], strlen(broken[i]), err, sizeof err) == -1);
	CHECK(auth_key_check("", 0, err, sizeof err) == -1);

	/* A broken PEM key given anyway verifies nothing. */
	char *t = make_token(JWT_ALG_RS256, k.priv, "{}");
	struct auth_claims c;
	CHECK(verify_with(t, broken[3], &c) == AUTH_INVALID);
	CHECK(verify_with(t, ec.pub, &c) == AUTH_INVALID);
	free(t);

	free_keys(&k);
	free_keys(&ec);
}

/* The cache answers a token it verified before with the same claims,
 * re-checks exp and nbf, keeps per key, never remembers a failure, and
 * makes room by dropping the least recently used token. */
static void test_cache(void)
{
	char err[128];
	struct auth_cache *c = auth_cache_new(2);
	char *t = make_token(JWT_ALG_HS256, KEY,
			     "{\"mercure\":{\"publish\":[\"a\"],\"payload\":{\"u\":1}},\"exp\":1900000000}");
	struct auth_claims c1, c2;
	CHECK(auth_cache_verify(c, t, KEY, strlen(KEY), NOW, &c1, err, sizeof err) == AUTH_OK);
	CHECK(auth_cache_verify(c, t, KEY, strlen(KEY), NOW, &c2, err, sizeof err) == AUTH_OK);
	CHECK(auth_cache_hits(c) == 1 && auth_cache_misses(c) == 1);
	CHECK(c2.npublish == 1 && c2.exp == 1900000000 && c2.publish != c1.publish);
	CHECK_STR_EQ(c2.publish[0], "a");
	CHECK_STR_EQ(c2.payload, c1.payload);
	auth_claims_free(&c1);
	auth_claims_free(&c2);

	/* From the cache, but expired by now. */
	CHECK(auth_cache_verify(c, t, KEY, strlen(KEY), 1900000000, &c1, err, sizeof err) ==
	      AUTH_EXPIRED);
	auth_claims_free(&c1);

	/* Another key (another pointer) is another entry: checked in full. */
	const char *other = "another-key";
	CHECK(auth_cache_verify(c, t, other, strlen(other), NOW, &c1, err, sizeof err) ==
	      AUTH_INVALID);
	auth_claims_free(&c1);
	CHECK(auth_cache_verify(c, t, other, strlen(other), NOW, &c1, err, sizeof err) ==
	      AUTH_INVALID);
	auth_claims_free(&c1);
	CHECK(auth_cache_hits(c) == 2 && auth_cache_misses(c) == 3);

	/* A token not yet valid stays out of the cache until it is. */
	char *later = make_token(JWT_ALG_HS256, KEY, "{\"nbf\":1850000000}");
	CHECK(auth_cache_verify(c, later, KEY, strlen(KEY), NOW, &c1, err, sizeof err) ==
	      AUTH_EXPIRED);
	auth_claims_free(&c1);
	CHECK(auth_cache_verify(c, later, KEY, strlen(KEY), 1860000000, &c1, err, sizeof err) ==
	      AUTH_OK && c1.nbf == 1850000000);
	auth_claims_free(&c1);
	CHECK(auth_cache_verify(c, later, KEY, strlen(KEY), NOW, &c1, err, sizeof err) ==
	      AUTH_EXPIRED); /* cached, nbf checked again */
	auth_claims_free(&c1);
	CHECK(auth_cache_hits(c) == 3 && auth_cache_misses(c) == 5);

	/* Capacity 2: a third token evicts the least recently used (t). */
	char *third = make_token(JWT_ALG_HS256, KEY, "{\"sub\":\"3\"}");
	CHECK(auth_cache_verify(c, later, KEY, strlen(KEY), 1860000000, &c1, err, sizeof err) ==
	      AUTH_OK);
	auth_claims_free(&c1);
	CHECK(auth_cache_verify(c, third, KEY, strlen(KEY), NOW, &c1, err, sizeof err) == AUTH_OK);
	auth_claims_free(&c1);
	CHECK(auth_cache_hits(c) == 4 && auth_cache_misses(c) == 6);
	CHECK(auth_cache_verify(c, t, KEY, strlen(KEY), NOW, &c1, err, sizeof err) == AUTH_OK);
	auth_claims_free(&c1);
	CHECK(auth_cache_misses(c) == 7);

	auth_cache_free(c);
	auth_cache_free(NULL);
	free(t);
	free(later);
	free(third);
}

TEST_MAIN(TEST(test_valid), TEST(test_time), TEST(test_real_dates), TEST(test_rejected), TEST(test_bad_claims),
	  TEST(test_rs256), TEST(test_alg_confusion), TEST(test_key_check), TEST(test_cache))
