/* jws.h -- JSON Web Signatures (RFC 7515) in compact serialization with
 * OpenSSL 3 EVP: strict base64url, the four algorithms hubd knows (HS256,
 * RS256, ES256, EdDSA with Ed25519), their keys, signing and verifying.
 * Shared by hubd (verification of access tokens) and hubctl (minting).
 *
 * A key fits exactly one algorithm: an HS256 secret HS256, an RSA key
 * RS256, an EC P-256 key ES256, an Ed25519 key EdDSA. Signing and
 * verifying refuse any other pairing, so a token cannot choose how its key
 * is used (no algorithm confusion). Thread: keys are immutable once made
 * and may be used from any thread. */
#ifndef HUBD_JWS_H
#define HUBD_JWS_H

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

enum jws_alg {
	JWS_ALG_HS256 = 0,
	JWS_ALG_RS256,
	JWS_ALG_ES256,
	JWS_ALG_EDDSA,
	JWS_ALG_COUNT
};

/* A set of algorithms as a bitmask: JWS_ALG_BIT(JWS_ALG_RS256) | ... */
#define JWS_ALG_BIT(a) (1u << (a))
#define JWS_ALGS_ALL ((1u << JWS_ALG_COUNT) - 1)

/* The JOSE name ("HS256", "RS256", "ES256", "EdDSA"). Cannot fail. */
const char *jws_alg_name(enum jws_alg alg);
/* The algorithm named name, compared exactly (JOSE names are
 * case-sensitive; "none" is no algorithm). Returns false when unknown. */
bool jws_alg_from_name(const char *name, enum jws_alg *out);
/* Parses a comma-separated list of algorithm names (spaces around names
 * allowed, at least one) into *mask. Returns 0, or -1 with a reason naming
 * the offending name in err. */
int jws_algs_parse(const char *list, unsigned *mask, char *err, size_t errlen);
/* Writes the names in mask to out, comma-separated ("RS256,ES256"). */
void jws_algs_format(unsigned mask, char *out, size_t outlen);

/* Appends base64url (RFC 4648 section 5, no padding) of p[0..n) to b.
 * Cannot fail. */
void jws_b64url_encode(struct buf *b, const void *p, size_t n);
/* Decodes s[0..n), strict base64url: only [A-Za-z0-9_-], no padding, no
 * white space, no length of 4k+1, and the unused bits of the last
 * character zero (one text per byte string). Appends the bytes to out
 * (NUL-terminated past its length). Returns false, out unchanged in
 * length, on anything else. */
bool jws_b64url_decode(const char *s, size_t n, struct buf *out);

struct jws_key;

/* The smallest HS256 secret taken: 32 bytes, the hash's size (RFC 7518
 * section 3.2). */
#define JWS_HS256_SECRET_MIN 32

/* Makes a key from text (len bytes, borrowed; the caller read the file):
 * a PEM public key ("-----BEGIN PUBLIC KEY-----", or "-----BEGIN RSA
 * PUBLIC KEY-----") of RSA (2048 bits or more), EC P-256 or Ed25519; or,
 * when the text holds no PEM block, an HS256 secret of at least
 * JWS_HS256_SECRET_MIN bytes, used byte for byte. Returns NULL with a clear
 * reason in err otherwise: a private key or a certificate given by
 * mistake, another EC curve, Ed448, a short RSA key or secret, text that
 * does not parse. Free with jws_key_free. */
struct jws_key *jws_key_public_new(const char *text, size_t len, char *err, size_t errlen);
/* The same for signing: a PEM private key (PKCS#8 "PRIVATE KEY", or "RSA
 * PRIVATE KEY" / "EC PRIVATE KEY"; not encrypted) of the same types, or an
 * HS256 secret as above. */
struct jws_key *jws_key_private_new(const char *text, size_t len, char *err, size_t errlen);
/* Frees key; NULL is a no-op. A secret is zeroed first. */
void jws_key_free(struct jws_key *key);
/* The one algorithm key fits. */
enum jws_alg jws_key_alg(const struct jws_key *key);

/* Signs "B64(header_json).B64(payload_json)" with key (borrowed; a private
 * key or a secret) under the key's algorithm and returns the compact JWS
 * as a new string (the caller frees it). The header must already name
 * that algorithm: it is not read here. Returns NULL with a reason in err
 * when key is a public key or OpenSSL fails. */
char *jws_sign(const struct jws_key *key, const char *header_json, const char *payload_json,
	       char *err, size_t errlen);

/* True when sig[0..siglen) is a valid signature by key (borrowed) under
 * alg over input[0..n). False when alg is not the key's algorithm, when
 * the signature has the wrong size (HS256 32 bytes, ES256 64 bytes r||s,
 * EdDSA 64 bytes) or does not verify. HS256 compares in constant time. */
bool jws_verify(const struct jws_key *key, enum jws_alg alg, const void *input, size_t n,
		const unsigned char *sig, size_t siglen);

/* A compact JWS cut into its parts by jws_split: the decoded header,
 * payload and signature (each NUL-terminated past its length), and the
 * length of the signing input (header "." payload) at the token's start. */
struct jws_parts {
	struct buf header;
	struct buf payload;
	struct buf sig;
	size_t signing_input_len;
};

/* Splits token[0..len) into three base64url segments and decodes them
 * into *out (zeroed first; free with jws_parts_free, also on failure).
 * Returns false with a reason in err when there are not exactly three
 * segments, the header, payload or signature is empty, or a segment is not
 * strict base64url. */
bool jws_split(const char *token, size_t len, struct jws_parts *out, char *err,
	       size_t errlen);
/* Frees what jws_split filled; the parts are left empty. */
void jws_parts_free(struct jws_parts *p);

#endif
