/* test_settings.c -- defaults, values, config file and command line, key
 * files (HS256 secrets and PEM public keys). */
#include "config.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "settings.h"
#include "testlib.h"
#include "util.h"

static void test_values(void)
{
	struct settings c;
	char err[256];
	settings_defaults(&c);
	CHECK(c.heartbeat_s == 20 && c.sync_full && c.allow_anonymous);
	CHECK(settings_set(&c, "heartbeat", "5", err, sizeof err) == 0 && c.heartbeat_s == 5);
	CHECK(settings_set(&c, "heartbeat", "0", err, sizeof err) == -1);
	CHECK(settings_set(&c, "heartbeat", "5s", err, sizeof err) == -1);
	CHECK(settings_set(&c, "heartbeat", "-1", err, sizeof err) == -1);
	CHECK(settings_set(&c, "heartbeat", "99999999999999999999999", err, sizeof err) == -1);
	CHECK(settings_set(&c, "retention-count", "0", err, sizeof err) == 0 && c.retain_count == 0);
	CHECK(settings_set(&c, "socket-mode", "0600", err, sizeof err) == 0 && c.socket_mode == 0600);
	CHECK(settings_set(&c, "socket-mode", "999", err, sizeof err) == -1);
	CHECK(settings_set(&c, "sync", "normal", err, sizeof err) == 0 && !c.sync_full);
	CHECK(settings_set(&c, "sync", "sometimes", err, sizeof err) == -1);
	CHECK(settings_set(&c, "anonymous", "no", err, sizeof err) == 0 && !c.allow_anonymous);
	CHECK(settings_set(&c, "log-level", "debug", err, sizeof err) == 0 && c.log_level == LOG_DEBUG);
	CHECK(settings_set(&c, "nope", "1", err, sizeof err) == -1 && strstr(err, "unknown"));
	char longpath[200];
	memset(longpath, 'a', sizeof longpath - 1);
	longpath[sizeof longpath - 1] = '\0';
	CHECK(settings_set(&c, "socket", longpath, err, sizeof err) == -1);
	CHECK(settings_set(&c, "publisher-key", "", err, sizeof err) == -1);
	CHECK(settings_set(&c, "publisher-key-file", "/nonexistent/key", err, sizeof err) == -1);
	settings_free(&c);
}

/* retry: a range of milliseconds or one value; 0 turns it off. */
static void test_retry(void)
{
	static const struct {
		const char *v;
		int ok;
		uint32_t lo, hi;
	} cases[] = {
		{"1000-5000", 1, 1000, 5000}, {"250", 1, 250, 250}, {"0", 1, 0, 0},
		{"0-3600000", 1, 0, 3600000}, {"7-7", 1, 7, 7}, {"5000-1000", 0, 0, 0},
		{"3600001", 0, 0, 0}, {"-5", 0, 0, 0}, {"5-", 0, 0, 0}, {"1-2-3", 0, 0, 0},
		{"", 0, 0, 0}, {"1 - 2", 0, 0, 0}, {"1s-2s", 0, 0, 0},
		{"000000000000000000000000001-2", 0, 0, 0},
	};
	struct settings c;
	char err[256];
	settings_defaults(&c);
	CHECK(c.retry_lo_ms == 1000 && c.retry_hi_ms == 5000);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		c.retry_lo_ms = c.retry_hi_ms = 42;
		int rc = settings_set(&c, "retry", cases[i].v, err, sizeof err);
		CHECK(rc == (cases[i].ok ? 0 : -1));
		if (cases[i].ok)
			CHECK(c.retry_lo_ms == cases[i].lo && c.retry_hi_ms == cases[i].hi);
		else
			CHECK(c.retry_lo_ms == 42 && c.retry_hi_ms == 42 && strstr(err, "retry"));
	}
	settings_free(&c);
}

/* random_between stays in its range, reaches both ends of a small one,
 * and does not repeat itself over a large one. */
static void test_random_between(void)
{
	bool lo = false, hi = false;
	for (int i = 0; i < 2000; i++) {
		uint64_t v = random_between(3, 5);
		CHECK(v >= 3 && v <= 5);
		lo |= v == 3;
		hi |= v == 5;
	}
	CHECK(lo && hi);
	CHECK(random_between(9, 9) == 9);
	uint64_t a = random_between(0, UINT64_MAX), b = random_between(0, UINT64_MAX);
	CHECK(a != b);
	CHECK(random_between(1000, 5000) >= 1000);
}

static void test_file_and_args(void)
{
	char dir[] = "/tmp/hubd-settings-XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char conf[256], key[256];
	snprintf(conf, sizeof conf, "%s/hubd.conf", dir);
	snprintf(key, sizeof key, "%s/key", dir);
	FILE *f = fopen(key, "w");
	fputs("s3cret\n", f);
	fclose(f);
	f = fopen(conf, "w");
	fprintf(f, "# comment\n\nheartbeat = 7   # trailing\n db = /tmp/x.db\npublisher-key-file = %s\n", key);
	fclose(f);

	struct settings c;
	char err[256];
	settings_defaults(&c);
	char *argv[] = {"hubd", "--heartbeat", "9", "-c", conf, "--max-queue=65536", NULL};
	CHECK(settings_parse_args(&c, 6, argv, err, sizeof err) == 0);
	CHECK(c.heartbeat_s == 9); /* the command line wins */
	CHECK_STR_EQ(c.db_path, "/tmp/x.db");
	CHECK_STR_EQ(c.publisher_key, "s3cret");
	CHECK(c.max_queue == 65536);
	settings_free(&c);

	f = fopen(conf, "w");
	fputs("heartbeat = 7\nthis line is wrong\n", f);
	fclose(f);
	settings_defaults(&c);
	CHECK(settings_load_file(&c, conf, err, sizeof err) == -1 && strstr(err, ":2:"));
	settings_free(&c);

	settings_defaults(&c);
	char *bad[] = {"hubd", "--heartbeat", NULL};
	CHECK(settings_parse_args(&c, 2, bad, err, sizeof err) == -1);
	char *stray[] = {"hubd", "stray", NULL};
	CHECK(settings_parse_args(&c, 2, stray, err, sizeof err) == -1);
	settings_free(&c);

	unlink(conf);
	unlink(key);
	rmdir(dir);
}

/* Writes n bytes of data to path. */
static void write_file(const char *path, const char *data, size_t n)
{
	FILE *f = fopen(path, "wb");
	CHECK(f != NULL);
	if (!f)
		return;
	CHECK(fwrite(data, 1, n, f) == n);
	fclose(f);
}

/* A new RSA public key in PEM ("BEGIN PUBLIC KEY"), or with private, the
 * private key. */
static char *make_rsa_pem(bool private)
{
	EVP_PKEY *pkey = EVP_RSA_gen(1024);
	CHECK(pkey != NULL);
	BIO *bio = BIO_new(BIO_s_mem());
	if (private)
		CHECK(PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL) == 1);
	else
		CHECK(PEM_write_bio_PUBKEY(bio, pkey) == 1);
	char *data;
	long n = BIO_get_mem_data(bio, &data);
	char *s = malloc((size_t)n + 1);
	memcpy(s, data, (size_t)n);
	s[n] = '\0';
	BIO_free(bio);
	EVP_PKEY_free(pkey);
	return s;
}

static void test_key_files(void)
{
	char dir[] = "/tmp/hubd-settings-XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char path[256], conf[256];
	snprintf(path, sizeof path, "%s/key.pem", dir);
	snprintf(conf, sizeof conf, "%s/hubd.conf", dir);
	struct settings c;
	char err[512];

	/* A PEM public key comes back byte for byte, final newline included. */
	char *pem = make_rsa_pem(false);
	write_file(path, pem, strlen(pem));
	settings_defaults(&c);
	CHECK(settings_set(&c, "publisher-key-file", path, err, sizeof err) == 0);
	CHECK(settings_set(&c, "subscriber-key-file", path, err, sizeof err) == 0);
	CHECK_STR_EQ(c.publisher_key, pem);
	CHECK_STR_EQ(c.subscriber_key, pem);
	settings_free(&c);

	/* The same through a config file. */
	FILE *f = fopen(conf, "w");
	fprintf(f, "subscriber-key-file = %s\n", path);
	fclose(f);
	settings_defaults(&c);
	CHECK(settings_load_file(&c, conf, err, sizeof err) == 0);
	CHECK_STR_EQ(c.subscriber_key, pem);
	settings_free(&c);

	/* With CRLF line ends. */
	char crlf[4096];
	size_t crlf_len = 0;
	for (const char *p = pem; *p && crlf_len + 2 < sizeof crlf; p++) {
		if (*p == '\n')
			crlf[crlf_len++] = '\r';
		crlf[crlf_len++] = *p;
	}
	crlf[crlf_len] = '\0';
	write_file(path, crlf, crlf_len);
	settings_defaults(&c);
	CHECK(settings_set(&c, "publisher-key-file", path, err, sizeof err) == 0);
	CHECK_STR_EQ(c.publisher_key, crlf);
	settings_free(&c);

	/* A damaged PEM key is refused at start-up, naming the option and file. */
	char *bad = strdup(pem);
	bad[50] = bad[50] == '#' ? '$' : '#';
	write_file(path, bad, strlen(bad));
	settings_defaults(&c);
	CHECK(settings_set(&c, "publisher-key-file", path, err, sizeof err) == -1);
	CHECK(strstr(err, "publisher-key-file") && strstr(err, path) && strstr(err, "PEM"));
	CHECK(c.publisher_key == NULL);
	f = fopen(conf, "w");
	fprintf(f, "# keys\n\nsubscriber-key-file = %s\n", path);
	fclose(f);
	CHECK(settings_load_file(&c, conf, err, sizeof err) == -1 && strstr(err, ":3:") &&
	      strstr(err, path));
	CHECK(c.subscriber_key == NULL);
	settings_free(&c);
	free(bad);

	/* Cut short. */
	write_file(path, pem, strlen(pem) / 2);
	settings_defaults(&c);
	CHECK(settings_set(&c, "subscriber-key-file", path, err, sizeof err) == -1 &&
	      strstr(err, path));
	settings_free(&c);

	/* A private key, or text before the public key, is no HS256 secret. */
	char *priv = make_rsa_pem(true);
	write_file(path, priv, strlen(priv));
	settings_defaults(&c);
	CHECK(settings_set(&c, "publisher-key-file", path, err, sizeof err) == -1 &&
	      strstr(err, path));
	free(priv);
	char *lead = malloc(strlen(pem) + 16);
	sprintf(lead, "my key:\n%s", pem);
	write_file(path, lead, strlen(lead));
	CHECK(settings_set(&c, "publisher-key-file", path, err, sizeof err) == -1);
	free(lead);

	/* A PEM key as a plain value is checked the same way. */
	CHECK(settings_set(&c, "publisher-key", pem, err, sizeof err) == 0);
	CHECK_STR_EQ(c.publisher_key, pem);
	CHECK(settings_set(&c, "subscriber-key", "-----BEGIN PUBLIC KEY-----", err, sizeof err) == -1);
	CHECK(c.subscriber_key == NULL);
	settings_free(&c);

	/* HS256 secrets: trailing newlines dropped, the rest kept. */
	write_file(path, "  two words \r\n\n", 15);
	settings_defaults(&c);
	CHECK(settings_set(&c, "publisher-key-file", path, err, sizeof err) == 0);
	CHECK_STR_EQ(c.publisher_key, "  two words ");
	/* Empty, only newlines, a NUL byte, over 1 MiB, a directory. */
	write_file(path, "", 0);
	CHECK(settings_set(&c, "publisher-key-file", path, err, sizeof err) == -1 && strstr(err, "empty"));
	write_file(path, "\n\r\n", 3);
	CHECK(settings_set(&c, "publisher-key-file", path, err, sizeof err) == -1 && strstr(err, "empty"));
	write_file(path, "abc\0def", 7);
	CHECK(settings_set(&c, "publisher-key-file", path, err, sizeof err) == -1 && strstr(err, "NUL"));
	size_t big = 1024 * 1024 + 1;
	char *huge = malloc(big);
	memset(huge, 'k', big);
	write_file(path, huge, big);
	CHECK(settings_set(&c, "publisher-key-file", path, err, sizeof err) == -1 && strstr(err, "larger"));
	write_file(path, huge, big - 1); /* exactly 1 MiB is allowed */
	CHECK(settings_set(&c, "publisher-key-file", path, err, sizeof err) == 0);
	CHECK(c.publisher_key && strlen(c.publisher_key) == big - 1);
	free(huge);
	CHECK(settings_set(&c, "publisher-key-file", dir, err, sizeof err) == -1 && strstr(err, dir));
	settings_free(&c);

	free(pem);
	unlink(path);
	unlink(conf);
	rmdir(dir);
}

TEST_MAIN(TEST(test_values), TEST(test_retry), TEST(test_random_between), TEST(test_file_and_args),
	  TEST(test_key_files))
