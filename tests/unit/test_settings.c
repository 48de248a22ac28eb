/* test_settings.c -- defaults, values, config file and command line. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "settings.h"
#include "testlib.h"

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

TEST_MAIN(TEST(test_values), TEST(test_file_and_args))
