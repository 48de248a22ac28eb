/* jws.c -- compact JWS signing and verification with OpenSSL 3 EVP, strict
 * base64url, and the keys of the four algorithms (see jws.h). */
#include "config.h"

#include "jws.h"

#include <limits.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/decoder.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ES256_HALF 32 /* bytes of r, and of s, in a JOSE ES256 signature */
#define HS256_SIZE 32
#define ED25519_SIG_SIZE 64
#define RSA_BITS_MIN 2048 /* RFC 7518 section 3.3 */
#define KEY_TEXT_MAX (1024 * 1024)

struct jws_key {
	enum jws_alg alg;
	EVP_PKEY *pkey;         /* RS256, ES256, EdDSA; NULL for HS256 */
	bool is_private;        /* pkey holds a private key: may sign */
	unsigned char *secret;  /* HS256 */
	size_t secret_len;
};

static const char *const alg_names[JWS_ALG_COUNT] = {
	[JWS_ALG_HS256] = "HS256",
	[JWS_ALG_RS256] = "RS256",
	[JWS_ALG_ES256] = "ES256",
	[JWS_ALG_EDDSA] = "EdDSA",
};

const char *jws_alg_name(enum jws_alg alg)
{
	return alg < JWS_ALG_COUNT ? alg_names[alg] : "?";
}

bool jws_alg_from_name(const char *name, enum jws_alg *out)
{
	for (int i = 0; i < JWS_ALG_COUNT; i++) {
		if (strcmp(name, alg_names[i]) == 0) {
			*out = (enum jws_alg)i;
			return true;
		}
	}
	return false;
}

int jws_algs_parse(const char *list, unsigned *mask, char *err, size_t errlen)
{
	unsigned m = 0;
	const char *p = list;
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		char name[16];
		enum jws_alg a;
		if (n == 0 || n >= sizeof name) {
			snprintf(err, errlen, "expected a comma-separated list of RS256, ES256, EdDSA, "
					      "HS256, got \"%s\"", list);
			return -1;
		}
		memcpy(name, p, n);
		name[n] = '\0';
		if (!jws_alg_from_name(name, &a)) {
			snprintf(err, errlen, "unknown algorithm \"%s\"%s (known: RS256, ES256, EdDSA, HS256)",
				 name, strcasecmp(name, "none") == 0 ? ", and never accepted" : "");
			return -1;
		}
		m |= JWS_ALG_BIT(a);
		if (!end)
			break;
		p = end + 1;
	}
	*mask = m;
	return 0;
}

void jws_algs_format(unsigned mask, char *out, size_t outlen)
{
	size_t used = 0;
	if (outlen)
		out[0] = '\0';
	for (int i = 0; i < JWS_ALG_COUNT; i++) {
		if (!(mask & JWS_ALG_BIT(i)))
			continue;
		int n = snprintf(out + used, outlen - used, "%s%s", used ? "," : "", alg_names[i]);
		if (n < 0 || (size_t)n >= outlen - used)
			return;
		used += (size_t)n;
	}
}

/* ---- base64url ------------------------------------------------------- */

static const char b64url_chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

void jws_b64url_encode(struct buf *b, const void *p, size_t n)
{
	const unsigned char *s = p;
	buf_reserve(b, (n + 2) / 3 * 4 + 1);
	size_t i = 0;
	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
		char q[4] = {b64url_chars[v >> 18], b64url_chars[(v >> 12) & 63],
			     b64url_chars[(v >> 6) & 63], b64url_chars[v & 63]};
		buf_add(b, q, 4);
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)s[i] << 16;
		char q[2] = {b64url_chars[v >> 18], b64url_chars[(v >> 12) & 63]};
		buf_add(b, q, 2);
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8;
		char q[3] = {b64url_chars[v >> 18], b64url_chars[(v >> 12) & 63],
			     b64url_chars[(v >> 6) & 63]};
		buf_add(b, q, 3);
	}
	if (n == 0)
		buf_add(b, "", 0);
}

/* The 6-bit value of base64url character c, or -1. */
static int b64url_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

bool jws_b64url_decode(const char *s, size_t n, struct buf *out)
{
	if (n % 4 == 1)
		return false;
	size_t start = out->len;
	buf_reserve(out, n / 4 * 3 + 3);
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < n; i++) {
		int v = b64url_value((unsigned char)s[i]);
		if (v < 0)
			goto bad;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf_addc(out, (char)((acc >> bits) & 0xff));
		}
	}
	/* What is left are the unused low bits of the last character. */
	if (acc & ((1u << bits) - 1))
		goto bad;
	buf_add(out, "", 0);
	return true;
bad:
	out->len = start;
	if (out->p)
		out->p[start] = '\0';
	return false;
}

/* ---- keys ------------------------------------------------------------ */

/* OpenSSL's passphrase callback: hubd and hubctl never ask for one, and
 * must never wait for one on a terminal. */
static int no_passphrase(char *buf, int size, int rwflag, void *arg)
{
	(void)buf, (void)size, (void)rwflag, (void)arg;
	return -1;
}

/* The label of the first PEM block in text ("PUBLIC KEY") into label, and
 * the number of blocks. 0 blocks: not PEM. */
static int pem_blocks(const char *text, size_t len, char *label, size_t labellen)
{
	static const char begin[] = "-----BEGIN ";
	int count = 0;
	label[0] = '\0';
	const char *p = text, *end = text + len;
	while ((p = memmem(p, (size_t)(end - p), begin, sizeof begin - 1))) {
		p += sizeof begin - 1;
		const char *close = memmem(p, (size_t)(end - p), "-----", 5);
		if (count++ == 0 && close && (size_t)(close - p) < labellen) {
			memcpy(label, p, (size_t)(close - p));
			label[close - p] = '\0';
		}
	}
	if (count == 0 && memmem(text, len, "-----BEGIN", 10))
		count = 1; /* "-----BEGIN" without the space: a broken block */
	return count;
}

/* The algorithm pkey fits, or -1 with a reason in err. */
static int pkey_alg(EVP_PKEY *pkey, char *err, size_t errlen)
{
	if (EVP_PKEY_is_a(pkey, "RSA")) {
		int bits = EVP_PKEY_get_bits(pkey);
		if (bits < RSA_BITS_MIN) {
			snprintf(err, errlen, "the RSA key has %d bits; RS256 needs %d or more", bits,
				 RSA_BITS_MIN);
			return -1;
		}
		return JWS_ALG_RS256;
	}
	if (EVP_PKEY_is_a(pkey, "EC")) {
		char group[64] = "";
		size_t glen = 0;
		if (EVP_PKEY_get_group_name(pkey, group, sizeof group, &glen) != 1 ||
		    (strcmp(group, "prime256v1") != 0 && strcmp(group, "P-256") != 0)) {
			snprintf(err, errlen, "the EC key is on curve %s; ES256 needs P-256 (prime256v1)",
				 group[0] ? group : "(unnamed)");
			return -1;
		}
		return JWS_ALG_ES256;
	}
	if (EVP_PKEY_is_a(pkey, "ED25519"))
		return JWS_ALG_EDDSA;
	if (EVP_PKEY_is_a(pkey, "ED448")) {
		snprintf(err, errlen, "Ed448 keys are not supported: EdDSA here is Ed25519");
		return -1;
	}
	const char *name = EVP_PKEY_get0_type_name(pkey);
	snprintf(err, errlen, "unsupported key type %s: give an RSA, EC P-256 or Ed25519 key",
		 name ? name : "(unknown)");
	return -1;
}

/* Reads one PEM public key from text, or NULL with a reason in err. */
static EVP_PKEY *read_public_pem(const char *text, size_t len, char *err, size_t errlen)
{
	char label[64];
	int blocks = pem_blocks(text, len, label, sizeof label);
	if (strstr(label, "PRIVATE KEY")) {
		snprintf(err, errlen, "this is a private key (%s); give its public key "
				      "(openssl pkey -in KEY -pubout)", label);
		return NULL;
	}
	if (strstr(label, "CERTIFICATE")) {
		snprintf(err, errlen, "this is a certificate; give its public key "
				      "(openssl x509 -in CERT -pubkey -noout)");
		return NULL;
	}
	if (strcmp(label, "PUBLIC KEY") != 0 && strcmp(label, "RSA PUBLIC KEY") != 0) {
		snprintf(err, errlen, "expected a PEM public key (\"-----BEGIN PUBLIC KEY-----\"), "
				      "got \"%s\"", label);
		return NULL;
	}
	if (blocks != 1) {
		snprintf(err, errlen, "the key file holds %d PEM blocks; give one key a file", blocks);
		return NULL;
	}
	EVP_PKEY *pkey = NULL;
	OSSL_DECODER_CTX *dctx = OSSL_DECODER_CTX_new_for_pkey(&pkey, "PEM", NULL, NULL,
							       EVP_PKEY_PUBLIC_KEY, NULL, NULL);
	const unsigned char *data = (const unsigned char *)text;
	size_t left = len;
	if (!dctx || OSSL_DECODER_from_data(dctx, &data, &left) != 1) {
		EVP_PKEY_free(pkey);
		pkey = NULL;
		snprintf(err, errlen, "the PEM public key does not parse");
	}
	OSSL_DECODER_CTX_free(dctx);
	return pkey;
}

/* Reads a PEM private key from text, or NULL with a reason in err. */
static EVP_PKEY *read_private_pem(const char *text, size_t len, char *err, size_t errlen)
{
	char label[64];
	pem_blocks(text, len, label, sizeof label);
	if (strstr(label, "PUBLIC KEY") || strstr(label, "CERTIFICATE")) {
		snprintf(err, errlen, "this is a public key or certificate (%s); signing needs "
				      "the private key", label);
		return NULL;
	}
	if (strcmp(label, "ENCRYPTED PRIVATE KEY") == 0 || memmem(text, len, "Proc-Type: 4,ENCRYPTED", 22)) {
		snprintf(err, errlen, "the private key is encrypted; give it unencrypted "
				      "(openssl pkey -in KEY -out PLAIN)");
		return NULL;
	}
	if (strcmp(label, "OPENSSH PRIVATE KEY") == 0) {
		snprintf(err, errlen, "this is an OpenSSH key; convert it to PEM "
				      "(ssh-keygen -p -m PKCS8 -f KEY)");
		return NULL;
	}
	BIO *bio = BIO_new_mem_buf(text, (int)len);
	if (!bio) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	EVP_PKEY *pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
	BIO_free(bio);
	if (!pkey)
		snprintf(err, errlen, "the PEM private key does not parse");
	return pkey;
}

static struct jws_key *key_new(const char *text, size_t len, bool is_private, char *err,
			       size_t errlen)
{
	if (!text || len == 0 || len > KEY_TEXT_MAX) {
		snprintf(err, errlen, "the key is empty or larger than %d bytes", KEY_TEXT_MAX);
		return NULL;
	}
	struct jws_key *k = xcalloc(1, sizeof *k);
	if (!memmem(text, len, "-----BEGIN", 10)) {
		if (len < JWS_HS256_SECRET_MIN) {
			snprintf(err, errlen, "the HS256 secret has %zu bytes; give at least %d "
					      "(RFC 7518 section 3.2)", len, JWS_HS256_SECRET_MIN);
			free(k);
			return NULL;
		}
		k->alg = JWS_ALG_HS256;
		k->secret = (unsigned char *)xmemdup(text, len);
		k->secret_len = len;
		return k;
	}
	ERR_clear_error();
	k->pkey = is_private ? read_private_pem(text, len, err, errlen)
			     : read_public_pem(text, len, err, errlen);
	int alg = k->pkey ? pkey_alg(k->pkey, err, errlen) : -1;
	ERR_clear_error();
	if (alg < 0) {
		jws_key_free(k);
		return NULL;
	}
	k->alg = (enum jws_alg)alg;
	k->is_private = is_private;
	return k;
}

struct jws_key *jws_key_public_new(const char *text, size_t len, char *err, size_t errlen)
{
	return key_new(text, len, false, err, errlen);
}

struct jws_key *jws_key_private_new(const char *text, size_t len, char *err, size_t errlen)
{
	return key_new(text, len, true, err, errlen);
}

void jws_key_free(struct jws_key *key)
{
	if (!key)
		return;
	EVP_PKEY_free(key->pkey);
	if (key->secret) {
		OPENSSL_cleanse(key->secret, key->secret_len);
		free(key->secret);
	}
	free(key);
}

enum jws_alg jws_key_alg(const struct jws_key *key)
{
	return key->alg;
}

/* ---- signatures ------------------------------------------------------ */

/* The digest alg signs with: SHA-256, or none for EdDSA (Ed25519 hashes
 * inside). */
static const EVP_MD *alg_md(enum jws_alg alg)
{
	return alg == JWS_ALG_EDDSA ? NULL : EVP_sha256();
}

static bool hmac_sha256(const struct jws_key *key, const void *in, size_t n,
			unsigned char out[HS256_SIZE])
{
	size_t outlen = 0;
	return EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key->secret, key->secret_len, in, n,
			 out, HS256_SIZE, &outlen) != NULL &&
	       outlen == HS256_SIZE;
}

/* JOSE's ES256 signature r||s (64 bytes) as the DER ECDSA-Sig-Value EVP
 * takes, appended to der. */
static bool es256_raw_to_der(const unsigned char *raw, struct buf *der)
{
	ECDSA_SIG *s = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(raw, ES256_HALF, NULL);
	BIGNUM *ss = BN_bin2bn(raw + ES256_HALF, ES256_HALF, NULL);
	bool ok = false;
	if (s && r && ss && ECDSA_SIG_set0(s, r, ss) == 1) {
		r = ss = NULL; /* s owns them */
		int n = i2d_ECDSA_SIG(s, NULL);
		if (n > 0) {
			buf_reserve(der, (size_t)n);
			unsigned char *p = (unsigned char *)der->p + der->len;
			ok = i2d_ECDSA_SIG(s, &p) == n;
			if (ok)
				der->len += (size_t)n;
		}
	}
	BN_free(r);
	BN_free(ss);
	ECDSA_SIG_free(s);
	return ok;
}

/* The DER signature EVP made as JOSE's r||s, appended to raw. */
static bool es256_der_to_raw(const unsigned char *der, size_t n, struct buf *raw)
{
	const unsigned char *p = der;
	ECDSA_SIG *s = d2i_ECDSA_SIG(NULL, &p, (long)n);
	if (!s)
		return false;
	unsigned char out[2 * ES256_HALF];
	const BIGNUM *r, *ss;
	ECDSA_SIG_get0(s, &r, &ss);
	bool ok = BN_bn2binpad(r, out, ES256_HALF) == ES256_HALF &&
		  BN_bn2binpad(ss, out + ES256_HALF, ES256_HALF) == ES256_HALF;
	ECDSA_SIG_free(s);
	if (ok)
		buf_add(raw, out, sizeof out);
	return ok;
}

/* Signs in[0..n) with key's private key; appends the EVP signature. */
static bool evp_sign(const struct jws_key *key, const void *in, size_t n, struct buf *sig)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	size_t len = 0;
	bool ok = ctx && EVP_DigestSignInit(ctx, NULL, alg_md(key->alg), NULL, key->pkey) == 1 &&
		  EVP_DigestSign(ctx, NULL, &len, in, n) == 1;
	if (ok) {
		buf_reserve(sig, len);
		ok = EVP_DigestSign(ctx, (unsigned char *)sig->p + sig->len, &len, in, n) == 1;
		if (ok)
			sig->len += len;
	}
	EVP_MD_CTX_free(ctx);
	return ok;
}

static bool evp_verify(const struct jws_key *key, const void *in, size_t n,
		       const unsigned char *sig, size_t siglen)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	bool ok = ctx && EVP_DigestVerifyInit(ctx, NULL, alg_md(key->alg), NULL, key->pkey) == 1 &&
		  EVP_DigestVerify(ctx, sig, siglen, in, n) == 1;
	EVP_MD_CTX_free(ctx);
	return ok;
}

char *jws_sign(const struct jws_key *key, const char *header_json, const char *payload_json,
	       char *err, size_t errlen)
{
	if (key->alg != JWS_ALG_HS256 && !key->is_private) {
		snprintf(err, errlen, "signing needs a private key or an HS256 secret");
		return NULL;
	}
	struct buf out = {0}, sig = {0}, der = {0};
	jws_b64url_encode(&out, header_json, strlen(header_json));
	buf_addc(&out, '.');
	jws_b64url_encode(&out, payload_json, strlen(payload_json));
	bool ok;
	ERR_clear_error();
	if (key->alg == JWS_ALG_HS256) {
		unsigned char mac[HS256_SIZE];
		ok = hmac_sha256(key, out.p, out.len, mac);
		if (ok)
			buf_add(&sig, mac, sizeof mac);
		OPENSSL_cleanse(mac, sizeof mac);
	} else if (key->alg == JWS_ALG_ES256) {
		ok = evp_sign(key, out.p, out.len, &der) &&
		     es256_der_to_raw((const unsigned char *)der.p, der.len, &sig);
	} else {
		ok = evp_sign(key, out.p, out.len, &sig);
	}
	ERR_clear_error();
	buf_free(&der);
	if (!ok) {
		snprintf(err, errlen, "OpenSSL could not sign with the %s key", jws_alg_name(key->alg));
		buf_free(&sig);
		buf_free(&out);
		return NULL;
	}
	buf_addc(&out, '.');
	jws_b64url_encode(&out, sig.p, sig.len);
	buf_free(&sig);
	return buf_steal(&out, NULL);
}

bool jws_verify(const struct jws_key *key, enum jws_alg alg, const void *input, size_t n,
		const unsigned char *sig, size_t siglen)
{
	if (alg != key->alg)
		return false;
	bool ok = false;
	ERR_clear_error();
	switch (alg) {
	case JWS_ALG_HS256: {
		unsigned char mac[HS256_SIZE];
		ok = siglen == HS256_SIZE && hmac_sha256(key, input, n, mac) &&
		     CRYPTO_memcmp(mac, sig, HS256_SIZE) == 0;
		OPENSSL_cleanse(mac, sizeof mac);
		break;
	}
	case JWS_ALG_ES256: {
		struct buf der = {0};
		ok = siglen == 2 * ES256_HALF && es256_raw_to_der(sig, &der) &&
		     evp_verify(key, input, n, (const unsigned char *)der.p, der.len);
		buf_free(&der);
		break;
	}
	case JWS_ALG_EDDSA:
		ok = siglen == ED25519_SIG_SIZE && evp_verify(key, input, n, sig, siglen);
		break;
	case JWS_ALG_RS256:
		ok = siglen == (size_t)EVP_PKEY_get_size(key->pkey) &&
		     evp_verify(key, input, n, sig, siglen);
		break;
	default:
		break;
	}
	ERR_clear_error();
	return ok;
}

/* ---- compact serialization ------------------------------------------ */

bool jws_split(const char *token, size_t len, struct jws_parts *out, char *err,
	       size_t errlen)
{
	memset(out, 0, sizeof *out);
	const char *dot1 = memchr(token, '.', len);
	const char *dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
	if (!dot2 || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token))) {
		snprintf(err, errlen, "not three dot-separated segments");
		return false;
	}
	const char *end = token + len;
	if (dot1 == token || dot2 == dot1 + 1 || dot2 + 1 == end) {
		snprintf(err, errlen, "an empty segment (no signature?)");
		return false;
	}
	if (!jws_b64url_decode(token, (size_t)(dot1 - token), &out->header) ||
	    !jws_b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), &out->payload) ||
	    !jws_b64url_decode(dot2 + 1, (size_t)(end - dot2 - 1), &out->sig)) {
		snprintf(err, errlen, "a segment is not strict base64url");
		return false;
	}
	out->signing_input_len = (size_t)(dot2 - token);
	return true;
}

void jws_parts_free(struct jws_parts *p)
{
	buf_free(&p->header);
	buf_free(&p->payload);
	buf_free(&p->sig);
	p->signing_input_len = 0;
}
