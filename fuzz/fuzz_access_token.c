/* fuzz_access_token.c -- fuzzes Mercure 1.0 access-token verification
 * (hubd/access_token.c, hubd/jws.c) and the character rules (hubd/utf8.c):
 * raw tokens, claims and headers signed inside the target, base64url. */
#include "config.h"

#include <jansson.h>
#include <stdbool.h>

#include "access_token.h"
#include "fuzz_input.h"
#include "jws.h"
#include "utf8.h"

/* Input: one byte choosing the mode, then the mode's bytes. */
enum mode {
	RAW,     /* the bytes as a token */
	CLAIMS,  /* the bytes as claims JSON, signed with the secret */
	HEADER,  /* the bytes as a header JSON over good claims, signed */
	B64,     /* the bytes as base64url text */
	MATCHER, /* the bytes as a topic matcher */
	MODES
};

static const char secret[] = "fuzz-test-secret-0123456789abcdef";
#define ISS "https://issuer.example"
#define RES "https://hub.example/.well-known/mercure"
#define NOW 1800000000
static const char good_claims[] = "{\"iss\":\"" ISS "\",\"aud\":\"" RES "\",\"exp\":1900000000,"
				  "\"authorization_details\":[{\"type\":\"" AT_DETAIL_TYPE "\","
				  "\"actions\":[\"publish\"],\"topics\":[{\"match\":\"*\"}]}]}";

static struct at_issuers *issuers;
static struct jws_key *signer;

/* Refuses urlpatterns holding "((" as a compiler would. */
static bool check(void *arg, enum at_match_type type, const char *match, char *err,
		  size_t errlen)
{
	(void)arg;
	if (type == AT_MATCH_URLPATTERN && strstr(match, "((")) {
		snprintf(err, errlen, "does not compile");
		return false;
	}
	return true;
}

static const struct at_params params = {
	.algs = JWS_ALGS_ALL, .resource = RES, .now_s = NOW, .check = check,
};

static void init(void)
{
	char err[256];
	issuers = at_issuers_new();
	signer = jws_key_private_new(secret, strlen(secret), err, sizeof err);
	FUZZ_ASSERT(signer);
	FUZZ_ASSERT(at_issuers_add(issuers, ISS, err, sizeof err) == 0);
	FUZZ_ASSERT(at_issuers_add_key(issuers, ISS, secret, strlen(secret), NULL, err,
				       sizeof err) == 0);
}

/* What every verified token must hold, whatever its input. */
static void check_claims(const struct at_claims *c)
{
	char why[128];
	FUZZ_ASSERT(c->exp > NOW && c->nbf <= NOW && !strcmp(c->iss, ISS));
	FUZZ_ASSERT(c->alg == JWS_ALG_HS256 && c->ngrants <= AT_DETAILS_MAX);
	for (size_t i = 0; i < c->ngrants; i++) {
		const struct at_grant *g = &c->grants[i];
		FUZZ_ASSERT(g->ntopics >= 1 && g->ntopics <= AT_TOPICS_MAX);
		FUZZ_ASSERT((g->actions & ~(AT_ACTION_PUBLISH | AT_ACTION_SUBSCRIBE)) == 0);
		for (size_t t = 0; t < g->ntopics; t++) {
			const char *m = g->topics[t].match;
			size_t n = strlen(m);
			FUZZ_ASSERT(n >= 1 && n <= AT_MATCH_MAX && utf8_matcher_ok(m, n, why, sizeof why));
			FUZZ_ASSERT(!(g->topics[t].type == AT_MATCH_URLPATTERN && strstr(m, "((")));
		}
		if (g->payload) {
			json_t *p = json_loads(g->payload, 0, NULL);
			FUZZ_ASSERT(json_is_object(p));
			json_decref(p);
		}
	}
}

static enum at_status verify(const char *tok, size_t len)
{
	struct at_claims *c = NULL;
	char err[256] = "";
	enum at_status st = at_verify(issuers, &params, tok, len, &c, err, sizeof err);
	FUZZ_ASSERT(st == AT_OK ? c != NULL : c == NULL && err[0]);
	if (c)
		check_claims(c);
	at_claims_free(c);
	return st;
}

static void signed_token(const char *header, const char *claims)
{
	char err[256];
	char *tok = jws_sign(signer, header, claims, err, sizeof err);
	FUZZ_ASSERT(tok);
	enum at_status st = verify(tok, strlen(tok));
	if (claims != good_claims) {
		json_t *j = json_loads(claims, JSON_REJECT_DUPLICATES, NULL);
		if (!json_is_object(j) || !json_object_get(j, "exp"))
			FUZZ_ASSERT(st == AT_INVALID_TOKEN);
		json_decref(j);
	} else {
		json_t *h = json_loads(header, JSON_REJECT_DUPLICATES, NULL);
		const char *alg = json_string_value(json_object_get(h, "alg"));
		if (!alg || strcmp(alg, "HS256") != 0 || json_object_get(h, "jwk") ||
		    json_object_get(h, "crit") || json_object_get(h, "x5u") || !json_object_get(h, "typ"))
			FUZZ_ASSERT(st == AT_INVALID_TOKEN);
		json_decref(h);
	}
	/* The same token with its signature's first character changed. */
	char *dot = strrchr(tok, '.');
	dot[1] = dot[1] == 'A' ? 'B' : 'A';
	FUZZ_ASSERT(verify(tok, strlen(tok)) == AT_INVALID_TOKEN);
	free(tok);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!issuers)
		init();
	if (size < 1)
		return 0;
	int mode = data[0] % MODES;
	struct fuzz_parts in;
	fuzz_split(data + 1, size - 1, 1, &in);
	const char *s = in.s[0];
	size_t n = in.len[0];
	switch (mode) {
	case RAW:
		verify(s, n);
		break;
	case CLAIMS:
		if (!memchr(s, '\0', n))
			signed_token("{\"alg\":\"HS256\",\"typ\":\"at+jwt\"}", s);
		break;
	case HEADER:
		if (!memchr(s, '\0', n))
			signed_token(s, good_claims);
		break;
	case B64: {
		/* Strict: what decodes encodes back to the very same text. */
		struct buf d = {0}, e = {0};
		if (jws_b64url_decode(s, n, &d)) {
			jws_b64url_encode(&e, d.p, d.len);
			FUZZ_ASSERT(e.len == n && memcmp(e.p, s, n) == 0);
		}
		buf_free(&d);
		buf_free(&e);
		break;
	}
	case MATCHER: {
		char why[128];
		bool ok = utf8_matcher_ok(s, n, why, sizeof why);
		json_t *j = json_stringn(s, n); /* jansson's own UTF-8 check */
		if (ok)
			FUZZ_ASSERT(j != NULL && !fuzz_has_control(s, n));
		bool printable_ascii = true;
		for (size_t i = 0; i < n; i++)
			printable_ascii = printable_ascii && s[i] >= 0x20 && s[i] < 0x7f;
		if (printable_ascii)
			FUZZ_ASSERT(ok);
		json_decref(j);
		break;
	}
	}
	fuzz_parts_free(&in);
	return 0;
}
