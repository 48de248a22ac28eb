/* test_access_token.c -- Mercure 1.0 access tokens: strict base64url, the
 * Mercure character rules (utf8.c), keys of each algorithm made at test
 * time and their loading errors, the header profile, RFC 9068 claims,
 * every authorization-details rule, and tokens minted by at_mint (what
 * hubctl token --at prints) verifying. */
#include "config.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "access_token.h"
#include "at_mint.h"
#include "jws.h"
#include "keygen.h"
#include "testlib.h"
#include "utf8.h"

#define NOW 1800000000
#define ISS_A "https://issuer.example"
#define ISS_B "https://other.example"
#define ISS_RSA "https://rsa-only.example"
#define ISS_KID "https://kid.example"
#define RES "https://hub.example/.well-known/mercure"
#define SECRET "0123456789abcdef0123456789abcdef-test-secret"
#define MERCURE "\"type\":\"" AT_DETAIL_TYPE "\""

/* Keys made once in main: private (for signing) and public PEM texts. */
enum { K_RSA, K_EC, K_ED, K_ED_B, K_ED_STRAY, K_ED_K1, K_ED_K2, NKEYS };
static const char *const key_types[NKEYS] = {"RSA", "EC", "ED25519", "ED25519", "ED25519",
					     "ED25519", "ED25519"};
static char *pub_pem[NKEYS], *priv_pem[NKEYS];
static struct jws_key *signer[NKEYS], *hs_signer;
static struct at_issuers *issuers;

static void add_key(const char *iss, const char *text, const char *kid)
{
	char err[256];
	if (at_issuers_add_key(issuers, iss, text, strlen(text), kid, err, sizeof err) < 0) {
		fprintf(stderr, "setup: %s\n", err);
		exit(1);
	}
}

static void setup(void)
{
	char err[256];
	for (int i = 0; i < NKEYS; i++) {
		EVP_PKEY *k = test_keygen(key_types[i]);
		if (!k)
			exit(1);
		pub_pem[i] = test_key_pem(k, false);
		priv_pem[i] = test_key_pem(k, true);
		EVP_PKEY_free(k);
		signer[i] = jws_key_private_new(priv_pem[i], strlen(priv_pem[i]), err, sizeof err);
		if (!signer[i]) {
			fprintf(stderr, "setup: %s\n", err);
			exit(1);
		}
	}
	hs_signer = jws_key_private_new(SECRET, strlen(SECRET), err, sizeof err);
	issuers = at_issuers_new();
	if (at_issuers_add(issuers, ISS_A, err, sizeof err) < 0 ||
	    at_issuers_add(issuers, ISS_B, err, sizeof err) < 0 ||
	    at_issuers_add(issuers, ISS_RSA, err, sizeof err) < 0 ||
	    at_issuers_add(issuers, ISS_KID, err, sizeof err) < 0)
		exit(1);
	add_key(ISS_A, pub_pem[K_RSA], NULL);
	add_key(ISS_A, pub_pem[K_EC], NULL);
	add_key(ISS_A, pub_pem[K_ED], NULL);
	add_key(ISS_A, SECRET, NULL);
	add_key(ISS_B, pub_pem[K_ED_B], NULL);
	add_key(ISS_RSA, pub_pem[K_RSA], NULL);
	add_key(ISS_KID, pub_pem[K_ED_K1], "k1");
	add_key(ISS_KID, pub_pem[K_ED_K2], "k2");
}

static void teardown(void)
{
	for (int i = 0; i < NKEYS; i++) {
		free(pub_pem[i]);
		free(priv_pem[i]);
		jws_key_free(signer[i]);
	}
	jws_key_free(hs_signer);
	at_issuers_free(issuers);
}

/* Signs claims under header (NULL: {"alg": the key's, "typ": "at+jwt"}). */
static char *sign(const struct jws_key *key, const char *header, const char *claims)
{
	char h[256], err[256];
	if (!header) {
		snprintf(h, sizeof h, "{\"alg\":\"%s\",\"typ\":\"at+jwt\"}",
			 jws_alg_name(jws_key_alg(key)));
		header = h;
	}
	char *t = jws_sign(key, header, claims, err, sizeof err);
	if (!t)
		fprintf(stderr, "sign: %s\n", err);
	return t;
}

/* The usual claims with more members (a leading comma included) after them. */
static char *claims_with(const char *more)
{
	struct buf b = {0};
	buf_printf(&b, "{\"iss\":\"" ISS_A "\",\"aud\":\"" RES "\",\"exp\":%d%s}", NOW + 600, more);
	return buf_steal(&b, NULL);
}

static const struct at_params default_params = {
	.algs = JWS_ALGS_ALL,
	.resource = RES,
	.now_s = NOW,
};

static enum at_status verify_with(const struct at_params *p, const char *tok,
				  struct at_claims **c)
{
	char err[256] = "";
	enum at_status st = at_verify(issuers, p, tok, tok ? strlen(tok) : 0, c, err, sizeof err);
	if (st != AT_OK && !err[0])
		fprintf(stderr, "no reason given for a refusal\n");
	if (getenv("TEST_VERBOSE")) /* each refusal's reason */
		fprintf(stderr, "# %s\n", st == AT_OK ? "ok" : err);
	CHECK(st == AT_OK || (err[0] && *c == NULL));
	return st;
}

/* Verifies with the default parameters and frees the claims. */
static enum at_status verify(const char *tok)
{
	struct at_claims *c = NULL;
	enum at_status st = verify_with(&default_params, tok, &c);
	at_claims_free(c);
	return st;
}

/* Signs the usual claims + more with key and verifies. */
static enum at_status verify_claims(const struct jws_key *key, const char *more)
{
	char *claims = claims_with(more);
	char *t = sign(key, NULL, claims);
	enum at_status st = verify(t);
	free(t);
	free(claims);
	return st;
}

/* ---- base64url and UTF-8 --------------------------------------------- */

static void test_b64url(void)
{
	const char *in = "\xfb\xff\x00hello, world";
	for (size_t n = 0; n <= 15; n++) {
		struct buf e = {0}, d = {0};
		jws_b64url_encode(&e, in, n);
		CHECK(e.len == (n * 4 + 2) / 3);
		CHECK(!memchr(e.p, '=', e.len) && !memchr(e.p, '+', e.len) && !memchr(e.p, '/', e.len));
		CHECK(jws_b64url_decode(e.p, e.len, &d));
		CHECK_MEM_EQ(d.p, d.len, in, n);
		buf_free(&e);
		buf_free(&d);
	}
	static const char *const bad[] = {"aGk=", "aGk", "a+8", "a/8", "aG k", "a", "aGkx\n",
					  "aGl", /* unused bits set: "hi" is aGk */
					  "aGkx=", "AB", "A="};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct buf d = {0};
		bool ok = jws_b64url_decode(bad[i], strlen(bad[i]), &d);
		/* "aGk" is the one good text among them */
		CHECK(ok == (strcmp(bad[i], "aGk") == 0));
		if (!ok)
			CHECK(d.len == 0);
		buf_free(&d);
	}
}

static void test_utf8(void)
{
	static const struct {
		const char *s;
		bool ok;
	} cases[] = {
		{"https://example.com/books/1", true},
		{"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", true}, /* é € 😀 */
		{"\xc0\xaf", false},                  /* overlong '/' */
		{"\xe0\x80\xaf", false},              /* overlong, 3 bytes */
		{"\xed\xa0\x80", false},              /* a surrogate */
		{"\xf4\x90\x80\x80", false},          /* past U+10FFFF */
		{"\xe2\x82", false},                  /* truncated */
		{"\x80", false},                      /* lone continuation */
		{"\xff", false},
		{"a\tb", false},                      /* C0 */
		{"a\x7f", false},                     /* DEL */
		{"\xc2\x85", false},                  /* C1 NEL */
		{"\xc2\x9f", false},                  /* C1, last */
		{"\xc2\xa0", true},                   /* NBSP is Zs */
		{"\xc2\xad", false},                  /* U+00AD soft hyphen, Cf */
		{"a\xe2\x80\x8b" "b", false},         /* U+200B zero width space */
		{"\xe2\x80\xae", false},              /* U+202E RLO */
		{"\xef\xbb\xbf", false},              /* U+FEFF BOM */
		{"\xf3\xa0\x80\x81", false},          /* U+E0001 language tag */
		{"\xe2\x80\xa8", true},               /* U+2028 is Zl, not Cf */
		{"\xf0\x93\x90\xbf", false},          /* U+1343F, new in 15.0 */
		{"\xf0\x93\x91\x80", true},           /* U+13440 is Mn */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char err[128] = "";
		bool ok = utf8_matcher_ok(cases[i].s, strlen(cases[i].s), err, sizeof err);
		if (ok != cases[i].ok)
			fprintf(stderr, "utf8 case %zu: got %d (%s)\n", i, ok, err);
		CHECK(ok == cases[i].ok);
		CHECK(ok || err[0]);
	}
	CHECK(!utf8_matcher_ok("a\0b", 3, (char[64]){0}, 64));
	/* Every range's edges. */
	static const uint32_t in[] = {0xAD, 0x600, 0x605, 0x61C, 0x6DD, 0x70F, 0x890, 0x891,
				      0x8E2, 0x180E, 0x200B, 0x200F, 0x202A, 0x202E, 0x2060,
				      0x2064, 0x2066, 0x206F, 0xFEFF, 0xFFF9, 0xFFFB, 0x110BD,
				      0x110CD, 0x13430, 0x1343F, 0x1BCA0, 0x1BCA3, 0x1D173,
				      0x1D17A, 0xE0001, 0xE0020, 0xE007F};
	static const uint32_t out[] = {0xAC, 0xAE, 0x5FF, 0x606, 0x61B, 0x61D, 0x88F, 0x892,
				       0x180D, 0x180F, 0x200A, 0x2010, 0x2029, 0x202F, 0x2065,
				       0x2070, 0xFEFE, 0xFF00, 0xFFF8, 0xFFFC, 0x1342F, 0x13440,
				       0x1D172, 0x1D17B, 0xE0000, 0xE0002, 0xE001F, 0xE0080, 0x41};
	for (size_t i = 0; i < sizeof in / sizeof in[0]; i++)
		CHECK(utf8_is_format(in[i]));
	for (size_t i = 0; i < sizeof out / sizeof out[0]; i++)
		CHECK(!utf8_is_format(out[i]));
	int count = 0;
	for (uint32_t cp = 0; cp <= 0x10FFFF; cp++)
		count += utf8_is_format(cp);
	CHECK(count == 170); /* Unicode 15.0's Cf */
}

/* ---- keys ------------------------------------------------------------ */

/* at_issuers_add_key's outcome on text: 0 or -1 with want in the reason. */
static void check_key(const char *text, const char *want)
{
	struct at_issuers *s = at_issuers_new();
	char err[256] = "";
	CHECK(at_issuers_add(s, "https://i.example", err, sizeof err) == 0);
	int rc = at_issuers_add_key(s, "https://i.example", text, strlen(text), NULL, err, sizeof err);
	if (want) {
		CHECK(rc == -1);
		if (!strstr(err, want))
			fprintf(stderr, "key error \"%s\" lacks \"%s\"\n", err, want);
		CHECK(strstr(err, want) != NULL);
	} else {
		CHECK(rc == 0);
	}
	at_issuers_free(s);
}

static void test_keys(void)
{
	for (int i = 0; i < NKEYS; i++) {
		check_key(pub_pem[i], NULL);
		check_key(priv_pem[i], "private key");
	}
	check_key(SECRET, NULL);
	check_key("short-secret", "at least 32");
	check_key("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "does not parse");
	check_key("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "certificate");
	check_key("text before -----BEGIN PUBLIC KEY-----", "does not parse");
	struct {
		const char *type, *want;
	} other[] = {{"P-384", "P-256"}, {"RSA1024", "1024 bits"}, {"ED448", "Ed448"},
		     {"X25519", "unsupported key type"}};
	for (size_t i = 0; i < sizeof other / sizeof other[0]; i++) {
		EVP_PKEY *k = test_keygen(other[i].type);
		CHECK(k != NULL);
		char *pem = test_key_pem(k, false);
		check_key(pem, other[i].want);
		free(pem);
		EVP_PKEY_free(k);
	}
	/* Two keys in one file. */
	struct buf two = {0};
	buf_printf(&two, "%s%s", pub_pem[K_ED], pub_pem[K_EC]);
	check_key(two.p, "2 PEM blocks");
	buf_free(&two);
	/* Signing needs the private key. */
	char err[256];
	struct jws_key *pub = jws_key_public_new(pub_pem[K_ED], strlen(pub_pem[K_ED]), err, sizeof err);
	CHECK(pub && jws_key_alg(pub) == JWS_ALG_EDDSA);
	CHECK(jws_sign(pub, "{}", "{}", err, sizeof err) == NULL && strstr(err, "private"));
	jws_key_free(pub);
	CHECK(jws_key_private_new(pub_pem[K_RSA], strlen(pub_pem[K_RSA]), err, sizeof err) == NULL);
	jws_key_free(NULL);
}

static void test_issuer_set(void)
{
	char err[256];
	struct at_issuers *s = at_issuers_new();
	CHECK(at_issuers_add(s, "", err, sizeof err) == -1);
	CHECK(at_issuers_add(s, "https://a\xe2\x80\x8b.example", err, sizeof err) == -1);
	CHECK(at_issuers_add(s, "https://a.example", err, sizeof err) == 0);
	CHECK(at_issuers_add(s, "https://a.example", err, sizeof err) == -1 && strstr(err, "twice"));
	CHECK(at_issuers_add_key(s, "https://b.example", SECRET, strlen(SECRET), NULL, err,
				 sizeof err) == -1 && strstr(err, "unknown issuer"));
	CHECK(at_issuers_check(s, JWS_ALGS_ALL, err, sizeof err) == -1 && strstr(err, "no key"));
	CHECK(at_issuers_add_key(s, "https://a.example", SECRET, strlen(SECRET), NULL, err,
				 sizeof err) == 0);
	CHECK(at_issuers_check(s, JWS_ALGS_ALL, err, sizeof err) == 0);
	CHECK(at_issuers_check(s, JWS_ALG_BIT(JWS_ALG_RS256), err, sizeof err) == -1 &&
	      strstr(err, "HS256"));
	for (int i = 1; i < AT_ISSUER_KEYS_MAX; i++)
		CHECK(at_issuers_add_key(s, "https://a.example", SECRET, strlen(SECRET), NULL, err,
					 sizeof err) == 0);
	CHECK(at_issuers_add_key(s, "https://a.example", SECRET, strlen(SECRET), NULL, err,
				 sizeof err) == -1);
	CHECK(at_issuers_count(s) == 1 && at_issuers_count(NULL) == 0);
	at_issuers_free(s);
	at_issuers_free(NULL);

	unsigned m = 0;
	CHECK(jws_algs_parse("RS256, ES256,EdDSA ,HS256", &m, err, sizeof err) == 0 &&
	      m == JWS_ALGS_ALL);
	CHECK(jws_algs_parse("EdDSA", &m, err, sizeof err) == 0 && m == JWS_ALG_BIT(JWS_ALG_EDDSA));
	CHECK(jws_algs_parse("none", &m, err, sizeof err) == -1 && strstr(err, "never"));
	CHECK(jws_algs_parse("eddsa", &m, err, sizeof err) == -1);
	CHECK(jws_algs_parse("RS256,", &m, err, sizeof err) == -1);
	CHECK(jws_algs_parse("", &m, err, sizeof err) == -1);
	CHECK(jws_algs_parse("HS512", &m, err, sizeof err) == -1);
	char names[64];
	jws_algs_format(JWS_ALG_BIT(JWS_ALG_RS256) | JWS_ALG_BIT(JWS_ALG_EDDSA), names, sizeof names);
	CHECK_STR_EQ(names, "RS256,EdDSA");
}

/* ---- signatures and the header --------------------------------------- */

static void test_each_alg(void)
{
	const struct jws_key *keys[] = {signer[K_RSA], signer[K_EC], signer[K_ED], hs_signer};
	const enum jws_alg algs[] = {JWS_ALG_RS256, JWS_ALG_ES256, JWS_ALG_EDDSA, JWS_ALG_HS256};
	char *claims = claims_with(",\"sub\":\"s1\",\"jti\":\"j1\",\"iat\":1799999999,"
				   "\"client_id\":\"c1\",\"nbf\":1799999000");
	for (size_t i = 0; i < 4; i++) {
		char *t = sign(keys[i], NULL, claims);
		struct at_claims *c = NULL;
		CHECK(verify_with(&default_params, t, &c) == AT_OK);
		CHECK(c && c->alg == algs[i] && c->exp == NOW + 600 && c->nbf == 1799999000 &&
		      c->iat == 1799999999 && c->ngrants == 0);
		if (c) {
			CHECK_STR_EQ(c->iss, ISS_A);
			CHECK_STR_EQ(c->sub, "s1");
			CHECK_STR_EQ(c->jti, "j1");
			CHECK_STR_EQ(c->client_id, "c1");
		}
		at_claims_free(c);
		/* Not on the allowlist: every alg but this one. */
		struct at_params p = default_params;
		p.algs = JWS_ALGS_ALL & ~JWS_ALG_BIT(algs[i]);
		c = NULL;
		CHECK(verify_with(&p, t, &c) == AT_INVALID_TOKEN);
		/* Tampered with: the payload's last character changed. */
		char *dot2 = strrchr(t, '.');
		dot2[-1] = dot2[-1] == 'Q' ? 'R' : 'Q';
		CHECK(verify(t) == AT_INVALID_TOKEN);
		free(t);
	}
	free(claims);
}

static void test_wrong_keys(void)
{
	char *claims = claims_with("");
	/* A key the issuer does not have. */
	char *t = sign(signer[K_ED_STRAY], NULL, claims);
	CHECK(verify(t) == AT_INVALID_TOKEN);
	free(t);
	/* Another trusted issuer's key, under ISS_A. */
	t = sign(signer[K_ED_B], NULL, claims);
	CHECK(verify(t) == AT_INVALID_TOKEN);
	free(t);
	/* ISS_A's key under ISS_B's name. */
	char b_claims[256];
	snprintf(b_claims, sizeof b_claims, "{\"iss\":\"" ISS_B "\",\"aud\":\"" RES "\",\"exp\":%d}",
		 NOW + 600);
	t = sign(signer[K_ED], NULL, b_claims);
	CHECK(verify(t) == AT_INVALID_TOKEN);
	free(t);
	t = sign(signer[K_ED_B], NULL, b_claims);
	CHECK(verify(t) == AT_OK);
	free(t);
	/* Another HS256 secret. */
	char err[128];
	struct jws_key *other = jws_key_private_new("another-secret-another-secret-00",
						    32, err, sizeof err);
	t = sign(other, NULL, claims);
	CHECK(verify(t) == AT_INVALID_TOKEN);
	free(t);
	jws_key_free(other);
	free(claims);
}

/* HS256 with the RSA public key's PEM text as the secret (algorithm
 * confusion), against an issuer with that RSA key only and one with an
 * HS256 secret too. */
static void test_alg_confusion(void)
{
	const char *isss[] = {ISS_RSA, ISS_A};
	for (size_t i = 0; i < 2; i++) {
		struct buf in = {0};
		char claims[256];
		snprintf(claims, sizeof claims, "{\"iss\":\"%s\",\"aud\":\"" RES "\",\"exp\":%d}",
			 isss[i], NOW + 600);
		const char *h = "{\"alg\":\"HS256\",\"typ\":\"at+jwt\"}";
		jws_b64url_encode(&in, h, strlen(h));
		buf_addc(&in, '.');
		jws_b64url_encode(&in, claims, strlen(claims));
		unsigned char mac[32];
		size_t maclen = 0;
		EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, pub_pem[K_RSA], strlen(pub_pem[K_RSA]),
			  (const unsigned char *)in.p, in.len, mac, sizeof mac, &maclen);
		buf_addc(&in, '.');
		jws_b64url_encode(&in, mac, maclen);
		CHECK(verify(in.p) == AT_INVALID_TOKEN);
		buf_free(&in);
	}
	/* An RS256 header over an Ed25519 signature, and the other way. */
	char *claims = claims_with("");
	char *t = sign(signer[K_ED], "{\"alg\":\"RS256\",\"typ\":\"at+jwt\"}", claims);
	CHECK(verify(t) == AT_INVALID_TOKEN);
	free(t);
	t = sign(signer[K_RSA], "{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\"}", claims);
	CHECK(verify(t) == AT_INVALID_TOKEN);
	free(t);
	free(claims);
}

static void test_alg_none(void)
{
	static const char *const headers[] = {
		"{\"alg\":\"none\",\"typ\":\"at+jwt\"}", "{\"alg\":\"NONE\",\"typ\":\"at+jwt\"}",
		"{\"typ\":\"at+jwt\"}", "{\"alg\":null,\"typ\":\"at+jwt\"}",
		"{\"alg\":\"HS512\",\"typ\":\"at+jwt\"}",
	};
	char *claims = claims_with("");
	for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++) {
		struct buf b = {0};
		jws_b64url_encode(&b, headers[i], strlen(headers[i]));
		buf_addc(&b, '.');
		jws_b64url_encode(&b, claims, strlen(claims));
		buf_addc(&b, '.');
		CHECK(verify(b.p) == AT_INVALID_TOKEN); /* empty signature */
		buf_adds(&b, "c2lnbmF0dXJl");
		CHECK(verify(b.p) == AT_INVALID_TOKEN);
		buf_free(&b);
	}
	free(claims);
}

static void test_header(void)
{
	static const struct {
		const char *header;
		enum at_status want;
	} cases[] = {
		{"{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\"}", AT_OK},
		{"{\"alg\":\"EdDSA\",\"typ\":\"AT+JWT\"}", AT_OK},
		{"{\"alg\":\"EdDSA\",\"typ\":\"application/at+jwt\"}", AT_OK},
		{"{\"alg\":\"EdDSA\",\"typ\":\"application/AT+JWT\"}", AT_OK},
		{"{\"alg\":\"EdDSA\",\"typ\":\"Application/At+Jwt\"}", AT_OK},
		{"{\"alg\":\"EdDSA\"}", AT_INVALID_TOKEN},
		{"{\"alg\":\"EdDSA\",\"typ\":\"JWT\"}", AT_INVALID_TOKEN},
		{"{\"alg\":\"EdDSA\",\"typ\":\"application/jwt\"}", AT_INVALID_TOKEN},
		{"{\"alg\":\"EdDSA\",\"typ\":\"at+jwt \"}", AT_INVALID_TOKEN},
		{"{\"alg\":\"EdDSA\",\"typ\":\"application/application/at+jwt\"}", AT_INVALID_TOKEN},
		{"{\"alg\":\"EdDSA\",\"typ\":7}", AT_INVALID_TOKEN},
		{"{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\",\"jwk\":{\"kty\":\"OKP\"}}", AT_INVALID_TOKEN},
		{"{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\",\"jku\":\"https://evil.example/k\"}", AT_INVALID_TOKEN},
		{"{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\",\"x5u\":\"https://evil.example/c\"}", AT_INVALID_TOKEN},
		{"{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\",\"x5c\":[\"AAAA\"]}", AT_INVALID_TOKEN},
		{"{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\",\"crit\":[\"exp\"],\"exp\":1}", AT_INVALID_TOKEN},
		{"{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\",\"kid\":7}", AT_INVALID_TOKEN},
		{"{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\",\"kid\":\"unknown\"}", AT_OK},
		{"{\"alg\":\"EdDSA\",\"alg\":\"EdDSA\",\"typ\":\"at+jwt\"}", AT_INVALID_TOKEN},
		{"[\"EdDSA\"]", AT_INVALID_TOKEN},
		{"not json", AT_INVALID_TOKEN},
	};
	char *claims = claims_with("");
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *t = sign(signer[K_ED], cases[i].header, claims);
		enum at_status st = verify(t);
		if (st != cases[i].want)
			fprintf(stderr, "header %s: got %d\n", cases[i].header, st);
		CHECK(st == cases[i].want);
		free(t);
	}
	free(claims);
}

static void test_kid(void)
{
	char claims[256];
	snprintf(claims, sizeof claims, "{\"iss\":\"" ISS_KID "\",\"aud\":\"" RES "\",\"exp\":%d}",
		 NOW + 600);
	static const struct {
		int key;
		const char *kid;
		enum at_status want;
	} cases[] = {
		{K_ED_K2, "k2", AT_OK},
		{K_ED_K1, "k1", AT_OK},
		{K_ED_K2, NULL, AT_OK},           /* no hint: each key tried */
		{K_ED_K2, "other", AT_OK},        /* an unknown hint: the same */
		{K_ED_K2, "k1", AT_INVALID_TOKEN}, /* the hint names another key */
		{K_ED_STRAY, "k1", AT_INVALID_TOKEN},
		{K_ED_STRAY, NULL, AT_INVALID_TOKEN},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char h[128];
		if (cases[i].kid)
			snprintf(h, sizeof h, "{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\",\"kid\":\"%s\"}",
				 cases[i].kid);
		else
			snprintf(h, sizeof h, "{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\"}");
		char *t = sign(signer[cases[i].key], h, claims);
		CHECK(verify(t) == cases[i].want);
		free(t);
	}
}

static void test_malformed(void)
{
	char *claims = claims_with("");
	char *good = sign(hs_signer, NULL, claims);
	CHECK(verify(good) == AT_OK);
	const char *d1 = strchr(good, '.'), *d2 = strrchr(good, '.');
	size_t hl = (size_t)(d1 - good), pl = (size_t)(d2 - d1 - 1);
	/* H, P and S stand for the good token's segments. */
	static const char *const forms[] = {
		"H=.P.S", "H.P.S=", "H.P==.S", /* padding */
		"H .P.S", "H.P.S\n",           /* white space */
		"H.P.S.x", "HP.S", ".HP.S",     /* four segments, two, an empty header */
		"H+.P.S", "HA.P.S",             /* not base64url, a length of 4k+1 */
	};
	for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
		struct buf t = {0};
		for (const char *f = forms[i]; *f; f++) {
			if (*f == 'H')
				buf_add(&t, good, hl);
			else if (*f == 'P')
				buf_add(&t, d1 + 1, pl);
			else if (*f == 'S')
				buf_adds(&t, d2 + 1);
			else
				buf_addc(&t, *f);
		}
		CHECK(verify(t.p) == AT_INVALID_TOKEN);
		buf_free(&t);
	}
	/* The signature's last character with its unused bits set: the same
	 * bytes in a loose decoder, refused here. 32 bytes: 43 characters,
	 * the last holding 2 unused bits. */
	char t[2048];
	snprintf(t, sizeof t, "%s", good);
	char *last = t + strlen(t) - 1;
	const char *alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	int v = (int)(strchr(alphabet, *last) - alphabet);
	*last = alphabet[v | 1];
	if (v & 1)
		*last = alphabet[v & ~1];
	CHECK(verify(t) == AT_INVALID_TOKEN);
	CHECK(verify("") == AT_INVALID_TOKEN);
	CHECK(verify("..") == AT_INVALID_TOKEN);
	/* A NUL inside: the length given is the whole. */
	struct at_claims *c = NULL;
	char err[128];
	snprintf(t, sizeof t, "%s", good);
	t[5] = '\0';
	CHECK(at_verify(issuers, &default_params, t, strlen(good), &c, err, sizeof err) ==
	      AT_INVALID_TOKEN);
	free(good);
	free(claims);
}

static void test_size_cap(void)
{
	/* A long sub: below the cap, and past it. */
	for (int round = 0; round < 2; round++) {
		size_t n = round == 0 ? 5500 : 6200;
		char *sub = malloc(n + 1);
		memset(sub, 'x', n);
		sub[n] = '\0';
		struct buf more = {0};
		buf_printf(&more, ",\"sub\":\"%s\"", sub);
		char *claims = claims_with(more.p);
		char *t = sign(hs_signer, NULL, claims);
		CHECK((strlen(t) <= AT_TOKEN_MAX) == (round == 0));
		CHECK(verify(t) == (round == 0 ? AT_OK : AT_INVALID_TOKEN));
		free(t);
		free(claims);
		buf_free(&more);
		free(sub);
	}
}

/* ---- claims ---------------------------------------------------------- */

static void test_claims(void)
{
	static const struct {
		const char *claims;
		enum at_status want;
	} cases[] = {
		{"{\"iss\":\"" ISS_A "\",\"aud\":\"" RES "\",\"exp\":1800000600}", AT_OK},
		/* exp */
		{"{\"iss\":\"" ISS_A "\",\"aud\":\"" RES "\"}", AT_INVALID_TOKEN},
		{"{\"iss\":\"" ISS_A "\",\"aud\":\"" RES "\",\"exp\":1700000000}", AT_INVALID_TOKEN},
		{"{\"iss\":\"" ISS_A "\",\"aud\":\"" RES "\",\"exp\":1800000000}", AT_INVALID_TOKEN},
		{"{\"iss\":\"" ISS_A "\",\"aud\":\"" RES "\",\"exp\":\"1900000000\"}", AT_INVALID_TOKEN},
		{"{\"iss\":\"" ISS_A "\",\"aud\":\"" RES "\",\"exp\":-1}", AT_INVALID_TOKEN},
		{"{\"iss\":\"" ISS_A "\",\"aud\":\"" RES "\",\"exp\":1e300}", AT_INVALID_TOKEN},
		{"{\"iss\":\"" ISS_A "\",\"aud\":\"" RES "\",\"exp\":1800000600.5}", AT_OK},
		/* nbf, iat */
		{"{\"iss\":\"" ISS_A "\",\"aud\":\"" RES "\",\"exp\":1800000600,\"nbf\":1800000001}", AT_INVALID_TOKEN},
		{"{\"iss\":\"" ISS_A "\",\"aud\":\"" RES "\",\"exp\":1800000600,\"nbf\":1800000000}", AT_OK},
		{"{\"iss\":\"" ISS_A "\",\"aud\":\"" RES "\",\"exp\":1800000600,\"nbf\":\"x\"}", AT_INVALID_TOKEN},
		{"{\"iss\":\"" ISS_A "\",\"aud\":\"" RES "\",\"exp\":1800000600,\"iat\":\"x\"}", AT_INVALID_TOKEN},
		/* aud */
		{"{\"iss\":\"" ISS_A "\",\"exp\":1800000600}", AT_INVALID_TOKEN},
		{"{\"iss\":\"" ISS_A "\",\"aud\":\"https://other-hub.example/\",\"exp\":1800000600}", AT_INVALID_TOKEN},
		{"{\"iss\":\"" ISS_A "\",\"aud\":\"" RES "/\",\"exp\":1800000600}", AT_INVALID_TOKEN},
		{"{\"iss\":\"" ISS_A "\",\"aud\":[\"https://x.example\",\"" RES "\"],\"exp\":1800000600}", AT_OK},
		{"{\"iss\":\"" ISS_A "\",\"aud\":[\"https://x.example\"],\"exp\":1800000600}", AT_INVALID_TOKEN},
		{"{\"iss\":\"" ISS_A "\",\"aud\":[],\"exp\":1800000600}", AT_INVALID_TOKEN},
		{"{\"iss\":\"" ISS_A "\",\"aud\":[\"" RES "\",7],\"exp\":1800000600}", AT_INVALID_TOKEN},
		{"{\"iss\":\"" ISS_A "\",\"aud\":{\"" RES "\":1},\"exp\":1800000600}", AT_INVALID_TOKEN},
		/* iss */
		{"{\"aud\":\"" RES "\",\"exp\":1800000600}", AT_INVALID_TOKEN},
		{"{\"iss\":\"https://unknown.example\",\"aud\":\"" RES "\",\"exp\":1800000600}", AT_INVALID_TOKEN},
		{"{\"iss\":\"" ISS_A "/\",\"aud\":\"" RES "\",\"exp\":1800000600}", AT_INVALID_TOKEN},
		{"{\"iss\":\"HTTPS://ISSUER.EXAMPLE\",\"aud\":\"" RES "\",\"exp\":1800000600}", AT_INVALID_TOKEN},
		{"{\"iss\":[\"" ISS_A "\"],\"aud\":\"" RES "\",\"exp\":1800000600}", AT_INVALID_TOKEN},
		/* optional strings: absent is fine, another type is not */
		{"{\"iss\":\"" ISS_A "\",\"aud\":\"" RES "\",\"exp\":1800000600,\"sub\":7}", AT_INVALID_TOKEN},
		{"{\"iss\":\"" ISS_A "\",\"aud\":\"" RES "\",\"exp\":1800000600,\"client_id\":null}", AT_INVALID_TOKEN},
		{"{\"iss\":\"" ISS_A "\",\"aud\":\"" RES "\",\"exp\":1800000600,\"jti\":{}}", AT_INVALID_TOKEN},
		/* the claims themselves */
		{"{\"iss\":\"" ISS_A "\",\"iss\":\"" ISS_A "\",\"aud\":\"" RES "\",\"exp\":1800000600}", AT_INVALID_TOKEN},
		{"[1]", AT_INVALID_TOKEN},
		{"{\"iss\":\"" ISS_A "\",\"aud\":\"" RES "\",\"exp\":1800000600", AT_INVALID_TOKEN},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *t = sign(signer[K_EC], NULL, cases[i].claims);
		enum at_status st = verify(t);
		if (st != cases[i].want)
			fprintf(stderr, "claims %s: got %d\n", cases[i].claims, st);
		CHECK(st == cases[i].want);
		free(t);
	}
	/* Without sub, jti, iat and client_id: valid, and they stay NULL/0. */
	char *claims = claims_with("");
	char *t = sign(signer[K_EC], NULL, claims);
	struct at_claims *c = NULL;
	CHECK(verify_with(&default_params, t, &c) == AT_OK);
	CHECK(c && !c->sub && !c->jti && !c->client_id && c->iat == 0 && c->nbf == 0);
	at_claims_free(c);
	/* No resource identifier given: every token refused. */
	struct at_params p = default_params;
	p.resource = "";
	c = NULL;
	CHECK(verify_with(&p, t, &c) == AT_INVALID_TOKEN);
	p.resource = NULL;
	CHECK(verify_with(&p, t, &c) == AT_INVALID_TOKEN);
	/* No issuers at all. */
	char err[128];
	CHECK(at_verify(NULL, &default_params, t, strlen(t), &c, err, sizeof err) ==
	      AT_INVALID_TOKEN && c == NULL);
	free(t);
	free(claims);
}

/* ---- authorization details ------------------------------------------ */

#define DETAIL(actions, topics) "{" MERCURE ",\"actions\":" actions ",\"topics\":" topics "}"
#define DETAILS(list) ",\"authorization_details\":[" list "]"

static void test_details(void)
{
	static const struct {
		const char *more;
		enum at_status want;
		size_t ngrants;
	} cases[] = {
		{"", AT_OK, 0},
		{DETAILS(), AT_OK, 0},
		{DETAILS(DETAIL("[\"publish\"]", "[{\"match\":\"https://a.example/1\"}]")), AT_OK, 1},
		{DETAILS(DETAIL("[\"subscribe\",\"publish\"]", "[{\"match\":\"*\"}]")), AT_OK, 1},
		/* other detail types are left out */
		{DETAILS("{\"type\":\"https://other.example/detail\",\"actions\":7}"), AT_OK, 0},
		{DETAILS("{\"type\":\"https://mercure.rocks/authorization-detail/\"},"
			 DETAIL("[\"publish\"]", "[{\"match\":\"x\"}]")), AT_OK, 1},
		{DETAILS("{\"type\":\"HTTPS://MERCURE.ROCKS/AUTHORIZATION-DETAIL\"}"), AT_OK, 0},
		{DETAILS("{\"actions\":[\"publish\"]}"), AT_INVALID_TOKEN, 0},
		{DETAILS("{\"type\":7}"), AT_INVALID_TOKEN, 0},
		{DETAILS("\"" AT_DETAIL_TYPE "\""), AT_INVALID_TOKEN, 0},
		{",\"authorization_details\":{}", AT_INVALID_TOKEN, 0},
		{",\"authorization_details\":\"publish\"", AT_INVALID_TOKEN, 0},
		/* actions */
		{DETAILS(DETAIL("[\"publish\",\"frobnicate\"]", "[{\"match\":\"x\"}]")), AT_OK, 1},
		{DETAILS(DETAIL("[\"frobnicate\"]", "[{\"match\":\"x\"}]")), AT_OK, 1},
		{DETAILS(DETAIL("[\"publish\",7]", "[{\"match\":\"x\"}]")), AT_INVALID_TOKEN, 0},
		{DETAILS(DETAIL("[null]", "[{\"match\":\"x\"}]")), AT_INVALID_TOKEN, 0},
		{DETAILS(DETAIL("[]", "[{\"match\":\"x\"}]")), AT_INVALID_TOKEN, 0},
		{DETAILS(DETAIL("\"publish\"", "[{\"match\":\"x\"}]")), AT_INVALID_TOKEN, 0},
		{DETAILS("{" MERCURE ",\"topics\":[{\"match\":\"x\"}]}"), AT_INVALID_TOKEN, 0},
		/* topics */
		{DETAILS("{" MERCURE ",\"actions\":[\"publish\"]}"), AT_INVALID_TOKEN, 0},
		{DETAILS(DETAIL("[\"publish\"]", "[]")), AT_INVALID_TOKEN, 0},
		{DETAILS(DETAIL("[\"publish\"]", "{\"match\":\"x\"}")), AT_INVALID_TOKEN, 0},
		{DETAILS(DETAIL("[\"publish\"]", "[\"x\"]")), AT_INVALID_TOKEN, 0},
		{DETAILS(DETAIL("[\"publish\"]", "[{\"match\":\"x\"},7]")), AT_INVALID_TOKEN, 0},
		{DETAILS(DETAIL("[\"publish\"]", "[{\"match_type\":\"exact\"}]")), AT_INVALID_TOKEN, 0},
		{DETAILS(DETAIL("[\"publish\"]", "[{\"match\":7}]")), AT_INVALID_TOKEN, 0},
		{DETAILS(DETAIL("[\"publish\"]", "[{\"match\":\"\"}]")), AT_INVALID_TOKEN, 0},
		{DETAILS(DETAIL("[\"publish\"]", "[{\"match\":\"x\",\"match_type\":\"exact\"}]")), AT_OK, 1},
		{DETAILS(DETAIL("[\"publish\"]", "[{\"match\":\"/b/:id\",\"match_type\":\"urlpattern\"}]")), AT_OK, 1},
		{DETAILS(DETAIL("[\"publish\"]", "[{\"match\":\"x\",\"match_type\":\"regex\"}]")), AT_INVALID_TOKEN, 0},
		{DETAILS(DETAIL("[\"publish\"]", "[{\"match\":\"x\",\"match_type\":\"Exact\"}]")), AT_INVALID_TOKEN, 0},
		{DETAILS(DETAIL("[\"publish\"]", "[{\"match\":\"x\",\"match_type\":\"uri_template\"}]")), AT_INVALID_TOKEN, 0},
		{DETAILS(DETAIL("[\"publish\"]", "[{\"match\":\"x\",\"match_type\":null}]")), AT_INVALID_TOKEN, 0},
		/* an unknown match_type in a later detail spoils the earlier ones */
		{DETAILS(DETAIL("[\"publish\"]", "[{\"match\":\"*\"}]") ","
			 DETAIL("[\"subscribe\"]", "[{\"match\":\"x\",\"match_type\":\"glob\"}]")), AT_INVALID_TOKEN, 0},
		/* matcher characters */
		{DETAILS(DETAIL("[\"publish\"]", "[{\"match\":\"a\\u200bb\"}]")), AT_INVALID_TOKEN, 0},
		{DETAILS(DETAIL("[\"publish\"]", "[{\"match\":\"a\xe2\x80\x8e" "b\"}]")), AT_INVALID_TOKEN, 0},
		{DETAILS(DETAIL("[\"publish\"]", "[{\"match\":\"a\\ufeff\"}]")), AT_INVALID_TOKEN, 0},
		{DETAILS(DETAIL("[\"publish\"]", "[{\"match\":\"a\\u0085\"}]")), AT_INVALID_TOKEN, 0},
		{DETAILS(DETAIL("[\"publish\"]", "[{\"match\":\"a\\u007f\"}]")), AT_INVALID_TOKEN, 0},
		{DETAILS(DETAIL("[\"publish\"]", "[{\"match\":\"a\\nb\"}]")), AT_INVALID_TOKEN, 0},
		{DETAILS(DETAIL("[\"publish\"]", "[{\"match\":\"a\\u0000b\"}]")), AT_INVALID_TOKEN, 0},
		{DETAILS(DETAIL("[\"publish\"]", "[{\"match\":\"a\\ud800b\"}]")), AT_INVALID_TOKEN, 0},
		{DETAILS(DETAIL("[\"publish\"]", "[{\"match\":\"a\xff" "b\"}]")), AT_INVALID_TOKEN, 0},
		{DETAILS(DETAIL("[\"publish\"]", "[{\"match\":\"a\xc0\xaf" "b\"}]")), AT_INVALID_TOKEN, 0},
		{DETAILS(DETAIL("[\"publish\"]", "[{\"match\":\"caf\\u00e9 \\ud83d\\ude00\"}]")), AT_OK, 1},
		/* payload */
		{DETAILS("{" MERCURE ",\"actions\":[\"subscribe\"],\"topics\":[{\"match\":\"*\"}],"
			 "\"payload\":{\"a\":[1,2]}}"), AT_OK, 1},
		{DETAILS("{" MERCURE ",\"actions\":[\"subscribe\"],\"topics\":[{\"match\":\"*\"}],"
			 "\"payload\":[1]}"), AT_INVALID_TOKEN, 0},
		{DETAILS("{" MERCURE ",\"actions\":[\"subscribe\"],\"topics\":[{\"match\":\"*\"}],"
			 "\"payload\":\"text\"}"), AT_INVALID_TOKEN, 0},
		{DETAILS("{" MERCURE ",\"actions\":[\"subscribe\"],\"topics\":[{\"match\":\"*\"}],"
			 "\"payload\":null}"), AT_INVALID_TOKEN, 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *claims = claims_with(cases[i].more);
		char *t = sign(signer[K_ED], NULL, claims);
		struct at_claims *c = NULL;
		enum at_status st = verify_with(&default_params, t, &c);
		if (st != cases[i].want)
			fprintf(stderr, "details case %zu %s: got %d\n", i, cases[i].more, st);
		CHECK(st == cases[i].want);
		if (st == AT_OK)
			CHECK(c->ngrants == cases[i].ngrants);
		at_claims_free(c);
		free(t);
		free(claims);
	}
}

static void test_details_parsed(void)
{
	char *claims = claims_with(DETAILS(
		"{\"type\":\"https://other.example\"},"
		"{" MERCURE ",\"actions\":[\"subscribe\",\"x\"],\"topics\":[{\"match\":\"https://a/1\"},"
		"{\"match\":\"https://a/:id\",\"match_type\":\"urlpattern\"}],\"payload\":{ \"k\" : \"v\" }},"
		DETAIL("[\"publish\"]", "[{\"match\":\"*\",\"match_type\":\"exact\"}]") ","
		DETAIL("[\"x\"]", "[{\"match\":\"y\"}]")));
	char *t = sign(signer[K_ED], NULL, claims);
	struct at_claims *c = NULL;
	CHECK(verify_with(&default_params, t, &c) == AT_OK);
	CHECK(c && c->ngrants == 3);
	if (c && c->ngrants == 3) {
		CHECK(c->grants[0].actions == AT_ACTION_SUBSCRIBE && c->grants[0].ntopics == 2);
		CHECK(c->grants[0].topics[0].type == AT_MATCH_EXACT);
		CHECK_STR_EQ(c->grants[0].topics[0].match, "https://a/1");
		CHECK(c->grants[0].topics[1].type == AT_MATCH_URLPATTERN);
		CHECK_STR_EQ(c->grants[0].topics[1].match, "https://a/:id");
		CHECK_STR_EQ(c->grants[0].payload, "{\"k\":\"v\"}");
		CHECK(c->grants[1].actions == AT_ACTION_PUBLISH && !c->grants[1].payload);
		CHECK_STR_EQ(c->grants[1].topics[0].match, "*");
		CHECK(c->grants[2].actions == 0); /* nothing known: grants nothing */
	}
	at_claims_free(c);
	at_claims_free(NULL);
	free(t);
	free(claims);
}

/* A detail list of n copies of one, a topics list of n, a match of n bytes. */
static char *repeat(const char *first, const char *item, size_t n, const char *last)
{
	struct buf b = {0};
	buf_adds(&b, first);
	for (size_t i = 0; i < n; i++) {
		if (i)
			buf_addc(&b, ',');
		buf_adds(&b, item);
	}
	buf_adds(&b, last);
	return buf_steal(&b, NULL);
}

static void test_caps(void)
{
	for (int over = 0; over < 2; over++) {
		const char *d = DETAIL("[\"publish\"]", "[{\"match\":\"x\"}]");
		char *more = repeat(",\"authorization_details\":[", d, AT_DETAILS_MAX + over, "]");
		CHECK(verify_claims(signer[K_ED], more) == (over ? AT_INVALID_TOKEN : AT_OK));
		free(more);
		/* Other types count towards the cap too. */
		more = repeat(",\"authorization_details\":[", "{\"type\":\"o\"}", AT_DETAILS_MAX + over, "]");
		CHECK(verify_claims(signer[K_ED], more) == (over ? AT_INVALID_TOKEN : AT_OK));
		free(more);
		more = repeat(",\"authorization_details\":[{" MERCURE ",\"actions\":[\"publish\"],\"topics\":[",
			      "{\"match\":\"x\"}", AT_TOPICS_MAX + over, "]}]");
		CHECK(verify_claims(signer[K_ED], more) == (over ? AT_INVALID_TOKEN : AT_OK));
		free(more);
		more = repeat(",\"authorization_details\":[{" MERCURE ",\"actions\":[\"publish\"],\"topics\":[{\"match\":\"",
			      "", 0, "");
		char *m = malloc(AT_MATCH_MAX + 2);
		memset(m, 'm', AT_MATCH_MAX + over);
		m[AT_MATCH_MAX + over] = '\0';
		struct buf b = {0};
		buf_printf(&b, "%s%s\"}]}]", more, m);
		CHECK(verify_claims(signer[K_ED], b.p) == (over ? AT_INVALID_TOKEN : AT_OK));
		buf_free(&b);
		free(m);
		free(more);
	}
}

/* The hook: refuses urlpatterns holding "((", counts the calls. */
static bool refuse_parens(void *arg, enum at_match_type type, const char *match, char *err,
			  size_t errlen)
{
	(*(int *)arg)++;
	if (type == AT_MATCH_URLPATTERN && strstr(match, "((")) {
		snprintf(err, errlen, "does not compile");
		return false;
	}
	return true;
}

static void test_check_hook(void)
{
	int calls = 0;
	struct at_params p = default_params;
	p.check = refuse_parens;
	p.check_arg = &calls;
	static const struct {
		const char *topics;
		enum at_status want;
		int calls;
	} cases[] = {
		{"[{\"match\":\"/a/:id\",\"match_type\":\"urlpattern\"}]", AT_OK, 1},
		{"[{\"match\":\"/a/((\",\"match_type\":\"urlpattern\"}]", AT_INVALID_TOKEN, 1},
		{"[{\"match\":\"/a/((\"}]", AT_OK, 1}, /* exact: fine */
		{"[{\"match\":\"*\",\"match_type\":\"urlpattern\"},{\"match\":\"b\"}]", AT_OK, 1},
		{"[{\"match\":\"a\\u200b\",\"match_type\":\"urlpattern\"}]", AT_INVALID_TOKEN, 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct buf more = {0};
		buf_printf(&more, DETAILS("{" MERCURE ",\"actions\":[\"subscribe\"],\"topics\":%s}"),
			   cases[i].topics);
		char *claims = claims_with(more.p);
		char *t = sign(signer[K_ED], NULL, claims);
		struct at_claims *c = NULL;
		calls = 0;
		CHECK(verify_with(&p, t, &c) == cases[i].want);
		CHECK(calls == cases[i].calls);
		at_claims_free(c);
		free(t);
		free(claims);
		buf_free(&more);
	}
}

/* ---- minting --------------------------------------------------------- */

static void test_mint_round_trip(void)
{
	const struct jws_key *keys[] = {signer[K_RSA], signer[K_EC], signer[K_ED], hs_signer};
	const char *aud[] = {"https://elsewhere.example", RES};
	const struct at_mint_topic pub[] = {{AT_MATCH_EXACT, "https://a.example/1"},
					    {AT_MATCH_URLPATTERN, "https://a.example/b/:id"}};
	const struct at_mint_topic sub[] = {{AT_MATCH_EXACT, "*"}};
	for (size_t i = 0; i < 4; i++) {
		struct at_mint m = {
			.iss = ISS_A, .aud = aud, .naud = 2, .now_s = NOW - 10, .ttl_s = 60,
			.publish = pub, .npublish = 2, .subscribe = sub, .nsubscribe = 1,
			.payload = "{\"user\":\"u1\"}", .kid = i == 0 ? "rsa-1" : NULL,
		};
		char err[256];
		char *t = at_mint_sign(&m, keys[i], err, sizeof err);
		CHECK(t != NULL);
		struct at_claims *c = NULL;
		CHECK(verify_with(&default_params, t, &c) == AT_OK);
		if (c) {
			CHECK(c->exp == NOW + 50 && c->iat == NOW - 10);
			CHECK(c->sub && !strncmp(c->sub, "urn:uuid:", 9) && strlen(c->sub) == 45);
			CHECK(c->jti && !strncmp(c->jti, "urn:uuid:", 9) && strcmp(c->jti, c->sub));
			CHECK_STR_EQ(c->client_id, ISS_A);
			CHECK(c->ngrants == 2);
			CHECK(c->grants[0].actions == AT_ACTION_PUBLISH && c->grants[0].ntopics == 2);
			CHECK(c->grants[0].topics[1].type == AT_MATCH_URLPATTERN);
			CHECK_STR_EQ(c->grants[0].topics[1].match, "https://a.example/b/:id");
			CHECK(!c->grants[0].payload);
			CHECK(c->grants[1].actions == AT_ACTION_SUBSCRIBE);
			CHECK_STR_EQ(c->grants[1].payload, "{\"user\":\"u1\"}");
		}
		at_claims_free(c);
		/* Expired a minute later. */
		struct at_params late = default_params;
		late.now_s = NOW + 60;
		c = NULL;
		CHECK(verify_with(&late, t, &c) == AT_INVALID_TOKEN);
		free(t);
	}
	/* One audience: a string; given sub and client_id. */
	struct at_mint m = {.iss = ISS_B, .aud = (const char *[]){RES}, .naud = 1, .now_s = NOW,
			    .ttl_s = 5, .sub = "me", .client_id = "app"};
	char err[256];
	char *t = at_mint_sign(&m, signer[K_ED_B], err, sizeof err);
	struct at_claims *c = NULL;
	CHECK(verify_with(&default_params, t, &c) == AT_OK);
	CHECK(c && c->ngrants == 0 && !strcmp(c->sub, "me") && !strcmp(c->client_id, "app"));
	at_claims_free(c);
	free(t);
	/* What minting refuses. */
	m.payload = "[1]";
	CHECK(at_mint_sign(&m, signer[K_ED_B], err, sizeof err) == NULL && strstr(err, "payload"));
	m.payload = NULL;
	m.ttl_s = 0;
	CHECK(at_mint_sign(&m, signer[K_ED_B], err, sizeof err) == NULL);
	m.ttl_s = 5;
	m.subscribe = (const struct at_mint_topic[]){{AT_MATCH_EXACT, "\xff"}};
	m.nsubscribe = 1;
	CHECK(at_mint_sign(&m, signer[K_ED_B], err, sizeof err) == NULL && strstr(err, "UTF-8"));
}

/* The built hubctl (HUBD_BUILDDIR, as make check sets it) mints a token
 * that verifies: with an Ed25519 key file and with an HS256 secret file. */
static void test_hubctl_mints(void)
{
	const char *bd = getenv("HUBD_BUILDDIR");
	if (!bd || !*bd) {
		printf("# HUBD_BUILDDIR unset: hubctl not run\n");
		return;
	}
	char dir[256];
	test_make_dir(dir, sizeof dir, "access-token");
	const char *texts[] = {priv_pem[K_ED], SECRET "\n"};
	for (int i = 0; i < 2; i++) {
		char path[512], cmd[2048], tok[AT_TOKEN_MAX + 2] = "";
		snprintf(path, sizeof path, "%s/key%d", dir, i);
		FILE *f = fopen(path, "w");
		CHECK(f != NULL);
		if (!f)
			return;
		fputs(texts[i], f);
		fclose(f);
		snprintf(cmd, sizeof cmd,
			 "'%s/hubctl/hubctl' token --at --issuer '" ISS_A "' --audience '" RES "' "
			 "--key-file '%s' --subscribe-urlpattern 'https://a.example/:id' "
			 "--publish 'https://a.example/1' --payload '{\"p\":1}' --sub me --ttl 600",
			 bd, path);
		FILE *p = popen(cmd, "r");
		CHECK(p && fgets(tok, sizeof tok, p));
		CHECK(p && pclose(p) == 0);
		tok[strcspn(tok, "\n")] = '\0';
		struct at_params now = default_params;
		now.now_s = time(NULL);
		struct at_claims *c = NULL;
		CHECK(verify_with(&now, tok, &c) == AT_OK);
		CHECK(c && c->ngrants == 2 && !strcmp(c->sub, "me") &&
		      c->alg == (i ? JWS_ALG_HS256 : JWS_ALG_EDDSA));
		if (c && c->ngrants == 2) {
			CHECK(c->grants[1].topics[0].type == AT_MATCH_URLPATTERN);
			CHECK_STR_EQ(c->grants[1].payload, "{\"p\":1}");
		}
		at_claims_free(c);
		remove(path);
	}
	rmdir(dir);
}

int main(void)
{
	static const struct test_case_ cases[] = {
		TEST(test_b64url), TEST(test_utf8), TEST(test_keys), TEST(test_issuer_set),
		TEST(test_each_alg), TEST(test_wrong_keys), TEST(test_alg_confusion),
		TEST(test_alg_none), TEST(test_header), TEST(test_kid), TEST(test_malformed),
		TEST(test_size_cap), TEST(test_claims), TEST(test_details),
		TEST(test_details_parsed), TEST(test_caps), TEST(test_check_hook),
		TEST(test_mint_round_trip), TEST(test_hubctl_mints),
	};
	setup();
	int rc = test_run_cases(cases, sizeof cases / sizeof cases[0]);
	teardown();
	return rc;
}
