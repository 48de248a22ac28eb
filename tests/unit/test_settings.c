/* test_settings.c -- defaults, values, config file and command line, key
 * files (HS256 secrets and PEM public keys), the store's settings, the
 * Redis password file, and the Mercure 1.0 token settings (issuers and
 * their key files, algorithms, resource, cookie). */
#include "config.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "access_token.h"
#include "jws.h"
#include "log.h"
#include "settings.h"
#include "keygen.h"
#include "testlib.h"
#include "util.h"

static void test_values(void)
{
	struct settings c;
	char err[256];
	settings_defaults(&c);
	CHECK(c.heartbeat_s == 20 && c.sync_full && c.allow_anonymous);
	CHECK(settings_set(&c, "heartbeat", "5", err, sizeof err) == 0 && c.heartbeat_s == 5);
	CHECK(c.max_lifetime_s == 0);
	CHECK(c.draft07);
	CHECK(c.max_per_token == 0);
	CHECK(settings_set(&c, "max-streams-per-token", "3", err, sizeof err) == 0 &&
	      c.max_per_token == 3);
	CHECK(settings_set(&c, "draft-07", "no", err, sizeof err) == 0 && !c.draft07);
	CHECK(settings_set(&c, "draft-07", "maybe", err, sizeof err) == -1);
	CHECK(settings_set(&c, "max-stream-lifetime", "3600", err, sizeof err) == 0 &&
	      c.max_lifetime_s == 3600);
	CHECK(settings_set(&c, "max-stream-lifetime", "-1", err, sizeof err) == -1);
	CHECK(settings_set(&c, "max-stream-lifetime", "31536001", err, sizeof err) == -1);
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

/* store and the Redis keys: defaults, good values, bad values refused with
 * a message naming the key and the setting left as it was. */
static void test_store_settings(void)
{
	struct settings c;
	char err[256];
	settings_defaults(&c);
	CHECK(c.store == SETTINGS_STORE_SQLITE);
	CHECK_STR_EQ(c.redis_address, "127.0.0.1:6379");
	CHECK_STR_EQ(c.redis_prefix, "hubd");
	CHECK(c.redis_db == 0 && c.redis_password == NULL);
	CHECK(c.redis_wait_replicas == 0 && c.redis_wait_timeout_ms == 1000);

	CHECK(settings_set(&c, "store", "redis", err, sizeof err) == 0 && c.store == SETTINGS_STORE_REDIS);
	CHECK(settings_set(&c, "store", "sqlite", err, sizeof err) == 0 && c.store == SETTINGS_STORE_SQLITE);
	static const char *const bad_store[] = {"", "Redis", "memory", "redis ", "sqlite3"};
	for (size_t i = 0; i < sizeof bad_store / sizeof bad_store[0]; i++) {
		c.store = SETTINGS_STORE_REDIS;
		CHECK(settings_set(&c, "store", bad_store[i], err, sizeof err) == -1 &&
		      strstr(err, "store") && c.store == SETTINGS_STORE_REDIS);
	}

	static const char *const good_addr[] = {
		"127.0.0.1:6379", "redis.internal:7000", "redis", "10.0.0.5", "my-redis_1:1",
		"localhost:65535", "/run/redis/redis-server.sock", "/r"};
	for (size_t i = 0; i < sizeof good_addr / sizeof good_addr[0]; i++) {
		CHECK(settings_set(&c, "redis", good_addr[i], err, sizeof err) == 0);
		CHECK_STR_EQ(c.redis_address, good_addr[i]);
	}
	char longpath[120];
	memset(longpath, 'a', sizeof longpath - 1);
	longpath[0] = '/';
	longpath[sizeof longpath - 1] = '\0';
	static const char *const bad_addr[] = {
		"", ":6379", "host:", "host:0", "host:65536", "host:63 79", "host:-1", "host:port",
		"run/redis.sock", "a b:6379", "[::1]:6379", "::1", "host:6379:", "redis://host:6379"};
	for (size_t i = 0; i < sizeof bad_addr / sizeof bad_addr[0]; i++) {
		CHECK(settings_set(&c, "redis", bad_addr[i], err, sizeof err) == -1);
		CHECK(strstr(err, "redis") && !strstr(err, "redis-"));
		CHECK_STR_EQ(c.redis_address, "/r");
	}
	CHECK(settings_set(&c, "redis", longpath, err, sizeof err) == -1 && strstr(err, "redis: "));
	CHECK(settings_set(&c, "redis", "run/redis.sock", err, sizeof err) == -1 &&
	      strstr(err, "must start with /"));

	char p64[65], p65[66];
	memset(p64, 'p', 64);
	p64[64] = '\0';
	memset(p65, 'p', 65);
	p65[65] = '\0';
	static const char *const good_prefix[] = {"hubd", "a", "site-1:hub", "A.b_c:D-9"};
	for (size_t i = 0; i < sizeof good_prefix / sizeof good_prefix[0]; i++) {
		CHECK(settings_set(&c, "redis-prefix", good_prefix[i], err, sizeof err) == 0);
		CHECK_STR_EQ(c.redis_prefix, good_prefix[i]);
	}
	CHECK(settings_set(&c, "redis-prefix", p64, err, sizeof err) == 0);
	CHECK_STR_EQ(c.redis_prefix, p64);
	static const char *const bad_prefix[] = {"", "hub d", "hub{1}", "hub*", "hub/x", "h\xc3\xa9"};
	for (size_t i = 0; i < sizeof bad_prefix / sizeof bad_prefix[0]; i++) {
		CHECK(settings_set(&c, "redis-prefix", bad_prefix[i], err, sizeof err) == -1 &&
		      strstr(err, "redis-prefix"));
		CHECK_STR_EQ(c.redis_prefix, p64);
	}
	CHECK(settings_set(&c, "redis-prefix", p65, err, sizeof err) == -1 && strstr(err, "redis-prefix"));

	/* The numbers: both ends of each range, and one past them. */
	static const struct {
		const char *key, *v;
		int ok, want;
	} nums[] = {
		{"redis-db", "0", 1, 0}, {"redis-db", "15", 1, 15}, {"redis-db", "1000000", 1, 1000000},
		{"redis-db", "1000001", 0, 0}, {"redis-db", "-1", 0, 0}, {"redis-db", "x", 0, 0},
		{"redis-db", "", 0, 0},
		{"redis-wait-replicas", "0", 1, 0}, {"redis-wait-replicas", "64", 1, 64},
		{"redis-wait-replicas", "65", 0, 0}, {"redis-wait-replicas", "2 ", 0, 0},
		{"redis-wait-timeout", "1", 1, 1}, {"redis-wait-timeout", "60000", 1, 60000},
		{"redis-wait-timeout", "0", 0, 0}, {"redis-wait-timeout", "60001", 0, 0},
		{"redis-wait-timeout", "1s", 0, 0},
	};
	for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
		int *field = !strcmp(nums[i].key, "redis-db") ? &c.redis_db
			     : !strcmp(nums[i].key, "redis-wait-replicas") ? &c.redis_wait_replicas
									    : &c.redis_wait_timeout_ms;
		*field = 42;
		int rc = settings_set(&c, nums[i].key, nums[i].v, err, sizeof err);
		CHECK(rc == (nums[i].ok ? 0 : -1));
		if (nums[i].ok)
			CHECK(*field == nums[i].want);
		else
			CHECK(*field == 42 && strstr(err, nums[i].key));
	}

	/* The password is never taken inline. */
	CHECK(settings_set(&c, "redis-password", "s3cret", err, sizeof err) == -1 &&
	      strstr(err, "redis-password-file") && c.redis_password == NULL);
	settings_free(&c);

	/* From a config file and the command line (which wins). */
	char dir[] = "/tmp/hubd-settings-XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char conf[256];
	snprintf(conf, sizeof conf, "%s/hubd.conf", dir);
	FILE *f = fopen(conf, "w");
	fputs("store = redis\nredis = /run/redis.sock\nredis-prefix = site:a\nredis-db = 3\n"
	      "redis-wait-replicas = 1\nredis-wait-timeout = 250\n", f);
	fclose(f);
	settings_defaults(&c);
	char *argv[] = {"hubd", "-c", conf, "--redis", "10.1.2.3:6380", "--redis-wait-replicas=2", NULL};
	CHECK(settings_parse_args(&c, 6, argv, err, sizeof err) == 0);
	CHECK(c.store == SETTINGS_STORE_REDIS && c.redis_db == 3);
	CHECK_STR_EQ(c.redis_address, "10.1.2.3:6380");
	CHECK_STR_EQ(c.redis_prefix, "site:a");
	CHECK(c.redis_wait_replicas == 2 && c.redis_wait_timeout_ms == 250);
	settings_free(&c);
	f = fopen(conf, "w");
	fputs("store = redis\n\nredis-db = 16777216\n", f);
	fclose(f);
	settings_defaults(&c);
	CHECK(settings_load_file(&c, conf, err, sizeof err) == -1 && strstr(err, ":3:") &&
	      strstr(err, "redis-db"));
	settings_free(&c);
	settings_defaults(&c);
	char *inline_pw[] = {"hubd", "--redis-password", "s3cret", NULL};
	CHECK(settings_parse_args(&c, 3, inline_pw, err, sizeof err) == -1 &&
	      strstr(err, "redis-password-file"));
	CHECK(c.redis_password == NULL);
	settings_free(&c);
	unlink(conf);
	rmdir(dir);
}

/* redis-password-file: read when the setting is applied, trailing newlines
 * dropped; an unreadable, empty or oversized file is refused, naming the
 * key and the file; the last good one is kept. */
static void test_redis_password_file(void)
{
	char dir[] = "/tmp/hubd-settings-XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char path[256], other[256], conf[256];
	snprintf(path, sizeof path, "%s/redis.pass", dir);
	snprintf(other, sizeof other, "%s/missing.pass", dir);
	snprintf(conf, sizeof conf, "%s/hubd.conf", dir);
	struct settings c;
	char err[512];
	const char *key = "redis-password-file";

	settings_defaults(&c);
	write_file(path, "s3cret\n", 7);
	CHECK(settings_set(&c, key, path, err, sizeof err) == 0);
	CHECK_STR_EQ(c.redis_password, "s3cret");
	write_file(path, "  with spaces\r\n", 15);
	CHECK(settings_set(&c, key, path, err, sizeof err) == 0);
	CHECK_STR_EQ(c.redis_password, "  with spaces");
	write_file(path, "no-newline", 10);
	CHECK(settings_set(&c, key, path, err, sizeof err) == 0);
	CHECK_STR_EQ(c.redis_password, "no-newline");
	/* Read now: changing the file later changes nothing. */
	write_file(path, "changed\n", 8);
	CHECK_STR_EQ(c.redis_password, "no-newline");

	/* Missing, a directory, empty, only newlines, a NUL byte, too big. */
	CHECK(settings_set(&c, key, other, err, sizeof err) == -1 && strstr(err, key) &&
	      strstr(err, other));
	CHECK(settings_set(&c, key, dir, err, sizeof err) == -1 && strstr(err, key) && strstr(err, dir));
	write_file(path, "", 0);
	CHECK(settings_set(&c, key, path, err, sizeof err) == -1 && strstr(err, key) &&
	      strstr(err, path) && strstr(err, "empty"));
	write_file(path, "\n\r\n\n", 4);
	CHECK(settings_set(&c, key, path, err, sizeof err) == -1 && strstr(err, "empty"));
	write_file(path, "pass\0word", 9);
	CHECK(settings_set(&c, key, path, err, sizeof err) == -1 && strstr(err, key) &&
	      strstr(err, "NUL"));
	char big[4097];
	memset(big, 'p', sizeof big);
	write_file(path, big, sizeof big);
	CHECK(settings_set(&c, key, path, err, sizeof err) == -1 && strstr(err, key) &&
	      strstr(err, "larger"));
	CHECK_STR_EQ(c.redis_password, "no-newline");
	write_file(path, big, sizeof big - 1); /* 4096 bytes are allowed */
	CHECK(settings_set(&c, key, path, err, sizeof err) == 0);
	CHECK(c.redis_password && strlen(c.redis_password) == sizeof big - 1);
	settings_free(&c);
	CHECK(c.redis_password == NULL);

	/* Through a config file, with the line named on an error. */
	write_file(path, "from-file\n", 10);
	FILE *f = fopen(conf, "w");
	fprintf(f, "store = redis\nredis-password-file = %s\n", path);
	fclose(f);
	settings_defaults(&c);
	CHECK(settings_load_file(&c, conf, err, sizeof err) == 0);
	CHECK_STR_EQ(c.redis_password, "from-file");
	settings_free(&c);
	f = fopen(conf, "w");
	fprintf(f, "# redis\nredis-password-file = %s\n", other);
	fclose(f);
	settings_defaults(&c);
	CHECK(settings_load_file(&c, conf, err, sizeof err) == -1 && strstr(err, ":2:") &&
	      strstr(err, key) && strstr(err, other));
	CHECK(c.redis_password == NULL);
	settings_free(&c);

	unlink(path);
	unlink(conf);
	rmdir(dir);
}

/* A new key of type (test_keygen's names) as PEM, public or private. */
static char *make_pem(const char *type, bool private)
{
	EVP_PKEY *pkey = test_keygen(type);
	CHECK(pkey != NULL);
	char *s = test_key_pem(pkey, private);
	EVP_PKEY_free(pkey);
	return s;
}

static void test_token_settings(void)
{
	char dir[256], ed[300], ed2[300], secret[300], priv[300], p384[300], conf[300], v[1200];
	test_make_dir(dir, sizeof dir, "settings-token");
	snprintf(ed, sizeof ed, "%s/ed.pem", dir);
	snprintf(ed2, sizeof ed2, "%s/ed2.pem", dir);
	snprintf(secret, sizeof secret, "%s/hs.key", dir);
	snprintf(priv, sizeof priv, "%s/priv.pem", dir);
	snprintf(p384, sizeof p384, "%s/p384.pem", dir);
	snprintf(conf, sizeof conf, "%s/hubd.conf", dir);
	char *pem = make_pem("ED25519", false), *pem2 = make_pem("ED25519", false);
	char *privpem = make_pem("ED25519", true), *ecpem = make_pem("P-384", false);
	write_file(ed, pem, strlen(pem));
	write_file(ed2, pem2, strlen(pem2));
	write_file(priv, privpem, strlen(privpem));
	write_file(p384, ecpem, strlen(ecpem));
	write_file(secret, "0123456789abcdef0123456789abcdef\n", 33);
	struct settings c;
	char err[1024];

	/* Defaults. */
	settings_defaults(&c);
	CHECK(c.token_issuers == NULL && c.resource == NULL && c.token_algs == JWS_ALGS_ALL);
	CHECK_STR_EQ(c.token_cookie, "__Secure-mercure_access_token");

	/* Issuers: one line each, several keys, a kid. */
	snprintf(v, sizeof v, "https://a.example %s k2=%s %s", ed, ed2, secret);
	CHECK(settings_set(&c, "token-issuer", v, err, sizeof err) == 0);
	snprintf(v, sizeof v, "https://b.example\t%s", ed2);
	CHECK(settings_set(&c, "token-issuer", v, err, sizeof err) == 0);
	CHECK(at_issuers_count(c.token_issuers) == 2);
	CHECK(at_issuers_check(c.token_issuers, c.token_algs, err, sizeof err) == 0);
	/* The same issuer twice: refused, nothing added. */
	snprintf(v, sizeof v, "https://a.example %s", ed);
	CHECK(settings_set(&c, "token-issuer", v, err, sizeof err) == -1 && strstr(err, "twice"));
	CHECK(at_issuers_count(c.token_issuers) == 2);
	/* Errors name the option, the issuer and the file. */
	static const struct {
		const char *fmt, *want;
	} bad[] = {
		{"https://c.example", "no key file"},
		{"", "expected ISSUER"},
		{"https://c.example %s/missing.pem", "missing.pem"},
		{"https://c.example PRIV", "private key"},
		{"https://c.example P384", "P-256"},
		{"https://c.example =ED", "KID=PATH"},
		{"https://c.example ED ED ED ED ED ED ED ED ED ED ED ED ED ED ED ED ED", "at most 16"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct buf b = {0};
		for (const char *f = bad[i].fmt; *f; f++) {
			if (!strncmp(f, "%s", 2)) {
				buf_adds(&b, dir);
				f++;
			} else if (!strncmp(f, "PRIV", 4)) {
				buf_adds(&b, priv);
				f += 3;
			} else if (!strncmp(f, "P384", 4)) {
				buf_adds(&b, p384);
				f += 3;
			} else if (!strncmp(f, "ED", 2)) {
				buf_adds(&b, ed);
				f++;
			} else {
				buf_addc(&b, *f);
			}
		}
		buf_add(&b, "", 0);
		CHECK(settings_set(&c, "token-issuer", b.p, err, sizeof err) == -1);
		if (!strstr(err, bad[i].want) || !strstr(err, "token-issuer"))
			fprintf(stderr, "token-issuer \"%s\": %s\n", b.p, err);
		CHECK(strstr(err, bad[i].want) && strstr(err, "token-issuer"));
		buf_free(&b);
	}
	CHECK(at_issuers_count(c.token_issuers) == 2);

	/* Algorithms. */
	CHECK(settings_set(&c, "token-algorithms", "EdDSA, ES256", err, sizeof err) == 0);
	CHECK(c.token_algs == (JWS_ALG_BIT(JWS_ALG_EDDSA) | JWS_ALG_BIT(JWS_ALG_ES256)));
	CHECK(settings_set(&c, "token-algorithms", "none", err, sizeof err) == -1 &&
	      strstr(err, "token-algorithms"));
	CHECK(settings_set(&c, "token-algorithms", "HS384", err, sizeof err) == -1);
	CHECK(settings_set(&c, "token-algorithms", "", err, sizeof err) == -1);
	CHECK(c.token_algs == (JWS_ALG_BIT(JWS_ALG_EDDSA) | JWS_ALG_BIT(JWS_ALG_ES256)));

	/* Resource. */
	CHECK(settings_set(&c, "resource", "https://hub.example/.well-known/mercure", err,
			   sizeof err) == 0);
	CHECK_STR_EQ(c.resource, "https://hub.example/.well-known/mercure");
	CHECK(settings_set(&c, "resource", "urn:example:hub", err, sizeof err) == 0);
	static const char *const bad_res[] = {"/.well-known/mercure", "hub.example", "https://h/#x",
					      "https://h/ x", "1http://h/", "https://h/\x01"};
	for (size_t i = 0; i < sizeof bad_res / sizeof bad_res[0]; i++)
		CHECK(settings_set(&c, "resource", bad_res[i], err, sizeof err) == -1 &&
		      strstr(err, "resource"));
	CHECK_STR_EQ(c.resource, "urn:example:hub");
	CHECK(settings_set(&c, "resource", "", err, sizeof err) == 0 && c.resource == NULL);

	/* Cookie name. */
	CHECK(settings_set(&c, "token-cookie", "mercureAuthorization", err, sizeof err) == 0);
	CHECK_STR_EQ(c.token_cookie, "mercureAuthorization");
	CHECK(settings_set(&c, "token-cookie", "a=b", err, sizeof err) == -1);
	CHECK(settings_set(&c, "token-cookie", "a b", err, sizeof err) == -1);
	CHECK(settings_set(&c, "token-cookie", "", err, sizeof err) == -1);
	CHECK(settings_set(&c, "token-cookie", "a;b", err, sizeof err) == -1);
	settings_free(&c);

	/* Through a config file: the line is named. */
	FILE *f = fopen(conf, "w");
	fprintf(f, "token-issuer = https://a.example %s\ntoken-algorithms = EdDSA\n"
		   "resource = https://hub.example/.well-known/mercure\n"
		   "token-issuer = https://b.example %s\n", ed, priv);
	fclose(f);
	settings_defaults(&c);
	CHECK(settings_load_file(&c, conf, err, sizeof err) == -1 && strstr(err, ":4:") &&
	      strstr(err, priv) && strstr(err, "private key"));
	CHECK(at_issuers_count(c.token_issuers) == 1);
	settings_free(&c);
	/* An issuer with only an HS256 secret, and HS256 left out: settings
	 * take it; at_issuers_check (main.c, at start-up) refuses it. */
	f = fopen(conf, "w");
	fprintf(f, "token-issuer = https://a.example %s\ntoken-algorithms = EdDSA,RS256\n", secret);
	fclose(f);
	settings_defaults(&c);
	CHECK(settings_load_file(&c, conf, err, sizeof err) == 0);
	CHECK(at_issuers_check(c.token_issuers, c.token_algs, err, sizeof err) == -1 &&
	      strstr(err, "https://a.example") && strstr(err, "HS256"));
	settings_free(&c);

	free(pem);
	free(pem2);
	free(privpem);
	free(ecpem);
	unlink(ed);
	unlink(ed2);
	unlink(secret);
	unlink(priv);
	unlink(p384);
	unlink(conf);
	rmdir(dir);
}

TEST_MAIN(TEST(test_values), TEST(test_retry), TEST(test_random_between), TEST(test_file_and_args),
	  TEST(test_key_files), TEST(test_store_settings), TEST(test_redis_password_file),
	  TEST(test_token_settings))
