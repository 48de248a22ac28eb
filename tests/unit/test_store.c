/* test_store.c -- unit tests for what only the SQLite store does: group
 * commit, batch size, reopening, schema versions, durability across close
 * and SIGKILL, checkpoints. What every store does is in
 * test_store_contract.c. */
#include "config.h"

#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>
#include <sqlite3.h>

#include "msg.h"
#include "store/sqlite.h"
#include "testlib.h"
#include "store_fixture.h"
#include "util.h"

/* ---- tests ---------------------------------------------------------------- */

static void test_group_commit(void)
{
	struct event_base *base = fixture_begin();
	struct store *s = open_store(base, 0, 0);
	CHECK(s != NULL);
	if (s) {
		reset_cbs();
		append_n(s, "g", 0, 1000, "data");
		CHECK(run_until(base, &ncb, 1000));
		struct store_stats st;
		s->ops->stats(s, &st);
		printf("# 1000 appends in %lld commits\n", (long long)st.commits);
		CHECK(st.commits >= 1 && st.commits < 100);
		CHECK(st.appended == 1000);
		s->ops->close(s);
	}
	fixture_end(base);
}

static void test_max_batch(void)
{
	struct event_base *base = fixture_begin();
	struct store_sqlite_config cfg = {.path = dbpath, .max_batch = 10};
	char err[512] = "";
	struct store *s = store_sqlite_open(base, &cfg, err, sizeof err);
	CHECK(s != NULL);
	if (s) {
		reset_cbs();
		append_n(s, "b", 0, 100, "x");
		CHECK(run_until(base, &ncb, 100));
		struct store_stats st;
		s->ops->stats(s, &st);
		CHECK(st.commits >= 10);
		CHECK(st.appended == 100);
		s->ops->close(s);
	}
	fixture_end(base);
}

static void test_reopen(void)
{
	struct event_base *base = fixture_begin();
	struct store *s = open_store(base, 0, 0);
	CHECK(s != NULL);
	if (!s)
		goto out;
	reset_cbs();
	for (int i = 0; i < 5; i++) {
		char id[16];
		snprintf(id, sizeof id, "r%d", i + 1);
		append(s, mk(id, "t", NULL, false, id, strlen(id)), i);
	}
	CHECK(run_until(base, &ncb, 5));
	s->ops->close(s);

	s = open_store(base, 0, 0);
	CHECK(s != NULL);
	if (!s)
		goto out;
	CHECK(s->last_seq == 5);
	CHECK_STR_EQ(s->last_id, "r5");
	struct store_stats st;
	s->ops->stats(s, &st);
	CHECK(st.stored == 5 && st.appended == 0 && st.commits == 0);
	struct qres r;
	query(base, s, &r, "t", NULL, "r2", 0, 0, 100, false);
	CHECK_STR_EQ(seqs(&r), "3,4,5");
	if (r.n == 3)
		CHECK_MEM_EQ(r.msgs[2]->data, r.msgs[2]->datalen, "r5", (size_t)2);
	qres_clear(&r);
	s->ops->close(s);

	/* Retention empties the store: the highest seq is still remembered,
	 * so a restarted hub never reuses one. */
	s = open_store(base, 0, 1);
	CHECK(s != NULL);
	if (!s)
		goto out;
	reset_cbs();
	struct msg *m = mk("r6", "t", NULL, false, "", 0);
	m->time_ms = 1000;
	append(s, m, 0);
	CHECK(run_until(base, &ncb, 1));
	CHECK(run_until_stored(base, s, 0));
	s->ops->close(s);

	s = open_store(base, 0, 0);
	CHECK(s != NULL);
	if (s) {
		CHECK(s->last_seq == 6);
		CHECK(s->last_id == NULL);
		s->ops->close(s);
	}
out:
	fixture_end(base);
}

static void test_newer_schema_refused(void)
{
	dir_make();
	sqlite3 *db;
	CHECK(sqlite3_open(dbpath, &db) == SQLITE_OK);
	CHECK(sqlite3_exec(db, "PRAGMA user_version = 999", NULL, NULL, NULL) == SQLITE_OK);
	sqlite3_close(db);

	struct event_base *base = event_base_new();
	struct store_sqlite_config cfg = {.path = dbpath};
	char err[512] = "";
	struct store *s = store_sqlite_open(base, &cfg, err, sizeof err);
	CHECK(s == NULL);
	CHECK(strstr(err, "newer") != NULL);
	CHECK(strstr(err, "999") != NULL);
	if (s)
		s->ops->close(s);

	/* A path that cannot be opened fails cleanly too. */
	cfg.path = "/nonexistent-dir/hub.db";
	s = store_sqlite_open(base, &cfg, err, sizeof err);
	CHECK(s == NULL);
	CHECK(err[0] != '\0');
	fixture_end(base);
}

/* Publishes queued when close is called, the loop never having run,
 * are committed: they are there when the file is opened again. */
static void test_close_durable(void)
{
	struct event_base *base = fixture_begin();
	struct store *s = open_store(base, 0, 0);
	CHECK(s != NULL);
	if (!s)
		goto out;
	reset_cbs();
	append_n(s, "q", 1, 500, "x");
	s->ops->close(s);
	CHECK(ncb == 500);

	s = open_store(base, 0, 0);
	CHECK(s != NULL);
	if (s) {
		CHECK(s->last_seq == 500);
		CHECK_STR_EQ(s->last_id, "q500");
		struct store_stats st;
		s->ops->stats(s, &st);
		CHECK(st.stored == 500);
		s->ops->close(s);
	}
out:
	fixture_end(base);
}

/* Child of test_durable_kill: appends, reports on fd once every callback
 * said STORE_OK, then waits to be killed. */
static void durable_child(int fd)
{
	struct event_base *base = event_base_new();
	struct store_sqlite_config cfg = {.path = dbpath, .sync_full = true};
	char err[512];
	struct store *s = store_sqlite_open(base, &cfg, err, sizeof err);
	if (!s)
		_exit(2);
	reset_cbs();
	append_n(s, "k", 1, 100, "x");
	run_until(base, &ncb, 100);
	for (int i = 0; i < 100; i++)
		if (status[i] != STORE_OK)
			_exit(3);
	if (write(fd, "k", 1) != 1)
		_exit(4);
	for (;;)
		pause();
}

/* Updates acknowledged STORE_OK survive SIGKILL right after. */
static void test_durable_kill(void)
{
	dir_make();
	int p[2];
	CHECK(pipe(p) == 0);
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		durable_child(p[1]);
	}
	close(p[1]);
	char c = 0;
	CHECK(pid > 0 && read(p[0], &c, 1) == 1 && c == 'k');
	close(p[0]);
	if (pid > 0)
		kill(pid, SIGKILL);
	int wstatus = 0;
	CHECK(pid > 0 && waitpid(pid, &wstatus, 0) == pid);
	CHECK(WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL);

	struct event_base *base = event_base_new();
	struct store *s = open_store(base, 0, 0);
	CHECK(s != NULL);
	if (s) {
		CHECK(s->last_seq == 100);
		CHECK_STR_EQ(s->last_id, "k100");
		struct store_stats st;
		s->ops->stats(s, &st);
		CHECK(st.stored == 100);
		s->ops->close(s);
	}
	fixture_end(base);
}

/* Commits one at a time, each a few WAL frames: the writer checkpoints
 * after the commits that take the WAL past 1000 frames, so the WAL file
 * (reused from its start after each checkpoint) stays near 1000 frames
 * of 4 KiB instead of growing with every commit. */
static void test_checkpoint(void)
{
	struct event_base *base = fixture_begin();
	struct store *s = open_store(base, 0, 0);
	CHECK(s != NULL);
	if (!s)
		goto out;
	reset_cbs();
	for (int i = 0; i < 1500; i++) {
		char id[16];
		snprintf(id, sizeof id, "k%d", i + 1);
		append(s, mk(id, "t", NULL, false, "x", 1), i);
		CHECK(run_until(base, &ncb, i + 1));
	}
	char wal[320];
	snprintf(wal, sizeof wal, "%s-wal", dbpath);
	struct stat st;
	CHECK(stat(wal, &st) == 0);
	CHECK(st.st_size > 0 && st.st_size < 1200 * (4096 + 24));
	struct store_stats ss;
	s->ops->stats(s, &ss);
	CHECK(ss.stored == 1500 && ss.commits == 1500 && ss.errors == 0);
	s->ops->close(s);
out:
	fixture_end(base);
}

TEST_MAIN(TEST(test_group_commit), TEST(test_max_batch), TEST(test_reopen),
	  TEST(test_newer_schema_refused), TEST(test_close_durable),
	  TEST(test_durable_kill), TEST(test_checkpoint))
