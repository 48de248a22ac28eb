/* keygen.h -- keys made at test time with OpenSSL, and their PEM text:
 * for the tests of token verification and of the key settings.
 * Header-only, included once per test program. */
#ifndef HUBD_KEYGEN_H
#define HUBD_KEYGEN_H

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdbool.h>
#include <string.h>

/* A new key: "RSA" (2048 bits), "RSA1024", "EC" (P-256), "P-384", or an
 * OpenSSL key type name ("ED25519", "ED448", "X25519"). NULL on failure. */
static inline EVP_PKEY *test_keygen(const char *type)
{
	if (!strcmp(type, "RSA"))
		return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	if (!strcmp(type, "RSA1024"))
		return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	if (!strcmp(type, "EC"))
		return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (!strcmp(type, "P-384"))
		return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	return EVP_PKEY_Q_keygen(NULL, NULL, type);
}

/* pkey's public key as PEM ("BEGIN PUBLIC KEY"), or with priv its private
 * key (PKCS#8, unencrypted), in a new string the caller frees. */
static inline char *test_key_pem(EVP_PKEY *pkey, bool priv)
{
	BIO *bio = BIO_new(BIO_s_mem());
	if (priv)
		PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL);
	else
		PEM_write_bio_PUBKEY(bio, pkey);
	char *data;
	long n = BIO_get_mem_data(bio, &data);
	char *s = strndup(data, (size_t)n);
	BIO_free(bio);
	return s;
}

#endif
