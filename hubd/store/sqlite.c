/* sqlite.c -- the SQLite message store: a writer thread that group-
 * commits publishes and applies retention, a reader thread that answers
 * queries, each with its own connection to one WAL database.
 *
 * Appends: the writer takes every queued append, commits up to max_batch
 * of them per BEGIN IMMEDIATE ... COMMIT, and completes them in order.
 * WAL makes a commit one sequential write (plus an fsync with
 * synchronous=FULL); with NORMAL a commit is still in the OS before
 * COMMIT returns, so it survives the process being killed.
 * Queries: the reader runs each in one read transaction (one snapshot), so
 * a long history query never holds up a commit and retention cannot remove
 * rows in the middle of it.
 * Retention: after commits or on an idle tick, at most once a second,
 * deleting at most RETAIN_CHUNK rows per statement so a large backlog never
 * holds the write lock for long.
 * Checkpoints: not inside a commit, as SQLite's autocheckpoint would run
 * them (delaying the acknowledgement of the publishes that happened to
 * cross the threshold), but once the batch is completed, when the WAL has
 * grown past CHECKPOINT_FRAMES. */
#include "config.h"

#include "sqlite.h"

#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>
#include <jansson.h>
#include <sqlite3.h>

#include "log.h"
#include "counters.h"
#include "query.h"
#include "worker.h"
#include "util.h"

/* Generated from sql/NNNN_name.sql by sql/embed.sh: sql_migrations[i]
 * brings the schema from user_version i to i + 1. */
extern const char *const sql_migrations[];
extern const int sql_migrations_count;

#define DEFAULT_MAX_BATCH 1000
#define BUSY_TIMEOUT_MS 5000
#define RETAIN_INTERVAL_MS 1000 /* also the writer's idle tick */
#define RETAIN_CHUNK 10000      /* rows per retention statement */
#define CHECKPOINT_FRAMES 1000  /* WAL frames that call for a checkpoint
				 * (SQLite's autocheckpoint default) */
#define QUERY_LIMIT_MAX (INT_MAX - 1)

#define ROW_COLUMNS "seq, id, topics, type, retry, private, data, time"

struct append_job {
	struct store_job job; /* first member: the worker links jobs by it */
	struct msg *m;        /* the store's reference */
	store_publish_cb cb;
	void *arg;
	enum store_status status;
};

struct query_job {
	struct store_job job; /* first member */
	store_query_cb cb;
	void *arg;
	struct store_query *q; /* the store's copy (store_query_copy) */
	bool all;              /* a "*" topic: every update matches */

	/* Result, filled by the reader. */
	enum store_status status;
	struct store_page page;
	bool after_found;
	store_pos after_pos;       /* after_id's position, when found */
};

/* The writer's connection and statements; writer thread only after open. */
struct writer {
	sqlite3 *db;
	sqlite3_stmt *begin, *commit, *rollback;
	sqlite3_stmt *insert, *insert_topic, *same_row;
	sqlite3_stmt *expire_count, *expire_age;
	struct buf json;      /* scratch for the topics column */
	int64_t stored;       /* rows in updates */
	int64_t last_retain;  /* mono_ms() of the last retention pass */
	bool retain_more;     /* the last pass stopped at RETAIN_CHUNK */
	int wal_frames;       /* frames in the WAL after the last commit */
};

/* The reader's connection and statements; reader thread only after open. */
struct reader {
	sqlite3 *db;
	sqlite3_stmt *begin, *commit, *rollback;
	sqlite3_stmt *find_id, *all, *topic_seqs, *by_seq;
};

struct sqlite_store {
	struct store pub; /* first member: struct store * converts to this */
	char *path;
	int64_t retain_count;
	int64_t retain_age_s;
	int max_batch;

	struct writer w;
	struct reader r;
	struct store_worker *writer;
	struct store_worker *reader;
	bool closing; /* loop thread */
	store_pos next_seq;      /* loop thread: the last position handed out */
	struct store_feed feed;  /* loop thread */

	struct store_counters counts; /* for stats */
};

static const struct store_ops sqlite_ops;

/* ---- connections ------------------------------------------------------ */

static int db_exec(sqlite3 *db, const char *sql)
{
	return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

/* Prepares sql on db into *st (persistent: it lives as long as the
 * connection). Returns 0, or -1 with the reason in err. */
static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st, char *err,
		   size_t errlen)
{
	if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "preparing \"%s\": %s", sql, sqlite3_errmsg(db));
		return -1;
	}
	return 0;
}

/* Runs a statement that returns one integer row (or none: *out = dflt).
 * Returns 0, or -1 with the reason in err. */
static int query_int(sqlite3 *db, const char *sql, int64_t dflt, int64_t *out,
		     char *err, size_t errlen)
{
	sqlite3_stmt *st;
	if (prepare(db, sql, &st, err, errlen) < 0)
		return -1;
	int rc = sqlite3_step(st);
	*out = dflt;
	if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
		*out = sqlite3_column_int64(st, 0);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		snprintf(err, errlen, "\"%s\": %s", sql, sqlite3_errmsg(db));
		sqlite3_finalize(st);
		return -1;
	}
	sqlite3_finalize(st);
	return 0;
}

/* Opens one connection with hubd's settings. The writer's creates the file
 * and switches it to WAL (a persistent setting); the reader's is
 * query_only. Both use SQLite's "unix-excl" VFS: the process takes one
 * exclusive lock on the database for as long as it has it open, and the
 * WAL index lives in its memory, so the connections of this process
 * coordinate without a system call, where the default VFS makes about six
 * fcntl() lock calls per transaction. One hubd owns a database anyway
 * (the .lock file); other processes (the sqlite3 shell) cannot open it
 * while hubd runs. Returns the connection, or NULL with the reason in
 * err. */
static sqlite3 *db_open(const char *path, bool writer, bool sync_full,
			char *err, size_t errlen)
{
	sqlite3 *db = NULL;
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
	if (writer)
		flags |= SQLITE_OPEN_CREATE;
	int rc = sqlite3_open_v2(path, &db, flags, "unix-excl");
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_db_config(db, SQLITE_DBCONFIG_DQS_DML, 0, (int *)NULL);
	sqlite3_db_config(db, SQLITE_DBCONFIG_DQS_DDL, 0, (int *)NULL);
	sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);

	const char *sync = sync_full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL";
	if (db_exec(db, "PRAGMA foreign_keys = ON") != SQLITE_OK ||
	    db_exec(db, sync) != SQLITE_OK ||
	    (!writer && db_exec(db, "PRAGMA query_only = ON") != SQLITE_OK)) {
		snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(db));
		goto fail;
	}
	if (writer) {
		/* After a checkpoint, cut a WAL that a burst made large. */
		if (db_exec(db, "PRAGMA journal_size_limit = 67108864") != SQLITE_OK) {
			snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(db));
			goto fail;
		}
		sqlite3_stmt *st;
		if (prepare(db, "PRAGMA journal_mode = WAL", &st, err, errlen) < 0)
			goto fail;
		rc = sqlite3_step(st);
		const unsigned char *mode = rc == SQLITE_ROW ? sqlite3_column_text(st, 0) : NULL;
		bool wal = mode && strcasecmp((const char *)mode, "wal") == 0;
		if (!wal)
			snprintf(err, errlen, "%s: cannot switch to WAL mode: %s", path,
				 mode ? (const char *)mode : sqlite3_errmsg(db));
		sqlite3_finalize(st);
		if (!wal)
			goto fail;
	}
	return db;

fail:
	sqlite3_close(db);
	return NULL;
}

/* Brings the schema up to sql_migrations_count, one transaction per
 * migration. Refuses a database from a newer hubd. Returns 0, or -1 with
 * the reason in err. */
static int migrate(sqlite3 *db, const char *path, char *err, size_t errlen)
{
	char e[512];
	for (;;) {
		int64_t version;
		if (db_exec(db, "BEGIN IMMEDIATE") != SQLITE_OK) {
			snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(db));
			return -1;
		}
		/* Read inside the write transaction: another process may have
		 * migrated the file since we looked. */
		if (query_int(db, "PRAGMA user_version", 0, &version, e, sizeof e) < 0) {
			snprintf(err, errlen, "%s: %s", path, e);
			goto fail;
		}
		if (version < 0 || version > sql_migrations_count) {
			snprintf(err, errlen,
				 "%s: database schema version %lld is newer than this hubd "
				 "knows (%d); refusing to open it",
				 path, (long long)version, sql_migrations_count);
			goto fail;
		}
		if (version == sql_migrations_count) {
			db_exec(db, "ROLLBACK");
			return 0;
		}
		char pragma[64];
		snprintf(pragma, sizeof pragma, "PRAGMA user_version = %lld", (long long)version + 1);
		if (db_exec(db, sql_migrations[version]) != SQLITE_OK ||
		    db_exec(db, pragma) != SQLITE_OK || db_exec(db, "COMMIT") != SQLITE_OK) {
			snprintf(err, errlen, "%s: migration %lld: %s", path,
				 (long long)version + 1, sqlite3_errmsg(db));
			goto fail;
		}
		log_info("store: %s: schema migrated to version %lld", path,
			 (long long)version + 1);
	}

fail:
	if (!sqlite3_get_autocommit(db))
		db_exec(db, "ROLLBACK");
	return -1;
}

static int writer_prepare(struct writer *w, char *err, size_t errlen)
{
	if (prepare(w->db, "BEGIN IMMEDIATE", &w->begin, err, errlen) < 0 ||
	    prepare(w->db, "COMMIT", &w->commit, err, errlen) < 0 ||
	    prepare(w->db, "ROLLBACK", &w->rollback, err, errlen) < 0 ||
	    prepare(w->db,
		    "INSERT INTO updates (" ROW_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
		    " ON CONFLICT (id) DO NOTHING",
		    &w->insert, err, errlen) < 0 ||
	    prepare(w->db,
		    "INSERT INTO update_topics (topic, seq) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
		    &w->insert_topic, err, errlen) < 0 ||
	    prepare(w->db,
		    "SELECT 1 FROM updates WHERE id = ?1 AND topics = ?2 AND type IS ?3"
		    " AND retry IS ?4 AND private = ?5 AND data = ?6",
		    &w->same_row, err, errlen) < 0 ||
	    prepare(w->db,
		    "DELETE FROM updates WHERE seq IN"
		    " (SELECT seq FROM updates ORDER BY seq LIMIT ?1)",
		    &w->expire_count, err, errlen) < 0 ||
	    prepare(w->db,
		    "DELETE FROM updates WHERE seq IN"
		    " (SELECT seq FROM updates WHERE time < ?1 ORDER BY time LIMIT ?2)",
		    &w->expire_age, err, errlen) < 0)
		return -1;
	return 0;
}

static int reader_prepare(struct reader *r, char *err, size_t errlen)
{
	if (prepare(r->db, "BEGIN", &r->begin, err, errlen) < 0 ||
	    prepare(r->db, "COMMIT", &r->commit, err, errlen) < 0 ||
	    prepare(r->db, "ROLLBACK", &r->rollback, err, errlen) < 0 ||
	    prepare(r->db, "SELECT seq FROM updates WHERE id = ?1", &r->find_id, err, errlen) < 0 ||
	    prepare(r->db,
		    "SELECT " ROW_COLUMNS " FROM updates"
		    " WHERE seq > ?1 AND seq <= ?2 AND (?3 OR private = 0)"
		    " ORDER BY seq LIMIT ?4",
		    &r->all, err, errlen) < 0 ||
	    prepare(r->db,
		    "SELECT t.seq FROM update_topics AS t JOIN updates AS u ON u.seq = t.seq"
		    " WHERE t.topic = ?1 AND t.seq > ?2 AND t.seq <= ?3 AND (?4 OR u.private = 0)"
		    " ORDER BY t.seq LIMIT ?5",
		    &r->topic_seqs, err, errlen) < 0 ||
	    prepare(r->db, "SELECT " ROW_COLUMNS " FROM updates WHERE seq = ?1", &r->by_seq,
		    err, errlen) < 0)
		return -1;
	return 0;
}

static void writer_close(struct writer *w)
{
	sqlite3_stmt *sts[] = {w->begin, w->commit, w->rollback, w->insert,
			       w->insert_topic, w->same_row, w->expire_count, w->expire_age};
	for (size_t i = 0; i < sizeof sts / sizeof sts[0]; i++)
		sqlite3_finalize(sts[i]);
	if (w->db && sqlite3_close(w->db) != SQLITE_OK)
		log_error("store: closing the writer's connection: %s", sqlite3_errmsg(w->db));
	buf_free(&w->json);
}

static void reader_close(struct reader *r)
{
	sqlite3_stmt *sts[] = {r->begin, r->commit, r->rollback, r->find_id,
			       r->all, r->topic_seqs, r->by_seq};
	for (size_t i = 0; i < sizeof sts / sizeof sts[0]; i++)
		sqlite3_finalize(sts[i]);
	if (r->db && sqlite3_close(r->db) != SQLITE_OK)
		log_error("store: closing the reader's connection: %s", sqlite3_errmsg(r->db));
}

/* ---- writer thread ---------------------------------------------------- */

/* Steps a statement that returns no rows, then resets it. Returns the
 * step's result code; after an error sqlite3_errmsg() still tells it. */
static int step_done(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc;
}

/* Binds m's stored content -- id, topics (json), type, retry, private,
 * data -- to parameters col..col+5 of st: the insert and the same-row
 * check take them in that order. Binds borrow m and json. */
static void bind_update(sqlite3_stmt *st, int col, const struct msg *m, const struct buf *json)
{
	sqlite3_bind_text(st, col, m->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, col + 1, json->p, (int)json->len, SQLITE_STATIC);
	if (m->type)
		sqlite3_bind_text(st, col + 2, m->type, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, col + 2);
	if (m->retry >= 0)
		sqlite3_bind_int64(st, col + 3, m->retry);
	else
		sqlite3_bind_null(st, col + 3);
	sqlite3_bind_int(st, col + 4, m->priv ? 1 : 0);
	/* A non-NULL pointer even for no bytes: NULL would bind SQL NULL. */
	sqlite3_bind_blob64(st, col + 5, m->data ? m->data : "", m->datalen, SQLITE_STATIC);
}

/* Inserts one update (inside the batch's transaction) and sets its
 * status. Returns false when the transaction can no longer commit. */
static bool writer_insert(struct sqlite_store *s, struct append_job *aj)
{
	struct writer *w = &s->w;
	const struct msg *m = aj->m;

	if (!m->id || m->seq <= 0 || m->ntopics < 1) {
		log_error("store: append of an update without id, seq or topic refused");
		aj->status = STORE_ERROR;
		return true;
	}
	w->json.len = 0;
	buf_addc(&w->json, '[');
	for (int i = 0; i < m->ntopics; i++) {
		if (i)
			buf_addc(&w->json, ',');
		buf_add_json_string(&w->json, m->topics[i], strlen(m->topics[i]));
	}
	buf_addc(&w->json, ']');

	sqlite3_stmt *st = w->insert;
	sqlite3_bind_int64(st, 1, m->seq);
	bind_update(st, 2, m, &w->json);
	sqlite3_bind_int64(st, 8, m->time_ms > 0 ? m->time_ms : now_ms());
	int rc = step_done(st);
	if (rc != SQLITE_DONE) {
		/* A constraint (a seq used twice) undoes only this statement. */
		if ((rc & 0xff) == SQLITE_CONSTRAINT && !sqlite3_get_autocommit(w->db)) {
			log_error("store: append of update %s (seq %lld): %s", m->id,
				  (long long)m->seq, sqlite3_errmsg(w->db));
			aj->status = STORE_ERROR;
			return true;
		}
		return false;
	}
	if (sqlite3_changes(w->db) == 0) {
		/* The id is taken: by the same update (a publisher retrying),
		 * or by another one. */
		sqlite3_stmt *q = w->same_row;
		bind_update(q, 1, m, &w->json);
		rc = sqlite3_step(q);
		sqlite3_reset(q);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			return false;
		aj->status = rc == SQLITE_ROW ? STORE_DUPLICATE : STORE_CONFLICT;
		return true;
	}
	for (int i = 0; i < m->ntopics; i++) {
		sqlite3_bind_text(w->insert_topic, 1, m->topics[i], -1, SQLITE_STATIC);
		sqlite3_bind_int64(w->insert_topic, 2, m->seq);
		if (step_done(w->insert_topic) != SQLITE_DONE)
			return false;
	}
	aj->status = STORE_OK;
	return true;
}

/* Commits the jobs of one batch (a NULL-terminated list) in one
 * transaction, or fails them all. */
static void writer_commit_batch(struct sqlite_store *s, struct store_job *batch)
{
	struct writer *w = &s->w;
	int64_t n = 0, inserted = 0, failed = 0;

	for (struct store_job *j = batch; j; j = j->next)
		n++;
	if (step_done(w->begin) != SQLITE_DONE)
		goto fail;
	for (struct store_job *j = batch; j; j = j->next)
		if (!writer_insert(s, (struct append_job *)j))
			goto fail;
	if (step_done(w->commit) != SQLITE_DONE)
		goto fail;

	for (struct store_job *j = batch; j; j = j->next) {
		enum store_status st = ((struct append_job *)j)->status;
		if (st == STORE_OK)
			inserted++;
		else if (st == STORE_ERROR)
			failed++;
	}
	w->stored += inserted;
	store_count_set(&s->counts.stored, w->stored);
	store_count(&s->counts.appended, inserted);
	store_count(&s->counts.errors, failed);
	store_count(&s->counts.commits, 1);
	return;

fail:
	log_error("store: committing %lld update(s) failed: %s", (long long)n,
		  sqlite3_errmsg(w->db));
	if (!sqlite3_get_autocommit(w->db) && step_done(w->rollback) != SQLITE_DONE)
		log_error("store: rollback failed: %s", sqlite3_errmsg(w->db));
	for (struct store_job *j = batch; j; j = j->next)
		((struct append_job *)j)->status = STORE_ERROR;
	store_count(&s->counts.errors, n);
}

/* Runs one deletion statement (already bound), accounting for the rows it
 * removed. Returns the number removed, or -1 (logged). */
static int64_t writer_expire(struct sqlite_store *s, sqlite3_stmt *st, const char *what)
{
	if (step_done(st) != SQLITE_DONE) {
		log_error("store: retention by %s: %s", what, sqlite3_errmsg(s->w.db));
		store_count(&s->counts.errors, 1);
		return -1;
	}
	int64_t gone = sqlite3_changes(s->w.db);
	s->w.stored -= gone;
	store_count_set(&s->counts.stored, s->w.stored);
	store_count(&s->counts.expired, gone);
	return gone;
}

/* Applies retention when due. Returns true when rows beyond RETAIN_CHUNK
 * are still to go. */
static bool writer_retain(struct sqlite_store *s)
{
	struct writer *w = &s->w;
	if (s->retain_count <= 0 && s->retain_age_s <= 0)
		return false;
	int64_t now = mono_ms();
	if (!w->retain_more && w->last_retain && now - w->last_retain < RETAIN_INTERVAL_MS)
		return false;
	w->last_retain = now;
	w->retain_more = false;

	if (s->retain_count > 0 && w->stored > s->retain_count) {
		int64_t excess = w->stored - s->retain_count;
		int64_t chunk = excess < RETAIN_CHUNK ? excess : RETAIN_CHUNK;
		sqlite3_bind_int64(w->expire_count, 1, chunk);
		if (writer_expire(s, w->expire_count, "count") == chunk && excess > chunk)
			w->retain_more = true;
	}
	if (s->retain_age_s > 0) {
		sqlite3_bind_int64(w->expire_age, 1, now_ms() - s->retain_age_s * 1000);
		sqlite3_bind_int64(w->expire_age, 2, RETAIN_CHUNK);
		if (writer_expire(s, w->expire_age, "age") == RETAIN_CHUNK)
			w->retain_more = true;
	}
	return w->retain_more;
}

/* sqlite3_wal_hook: notes the WAL's size after each commit (the hook
 * replaces SQLite's autocheckpoint; writer_checkpoint acts on it). */
static int wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
	(void)db;
	(void)name;
	((struct writer *)arg)->wal_frames = frames;
	return SQLITE_OK;
}

/* Copies the WAL back into the database once it has grown past
 * CHECKPOINT_FRAMES, without waiting for readers (PASSIVE: what a query
 * still reads stays for the next time). */
static void writer_checkpoint(struct sqlite_store *s)
{
	struct writer *w = &s->w;
	if (w->wal_frames < CHECKPOINT_FRAMES)
		return;
	w->wal_frames = 0;
	int rc = sqlite3_wal_checkpoint_v2(w->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
		log_error("store: checkpoint: %s", sqlite3_errmsg(w->db));
		store_count(&s->counts.errors, 1);
	}
}

static bool writer_run(void *ctx, struct store_job *jobs)
{
	struct sqlite_store *s = ctx;

	while (jobs) {
		struct store_job *batch = jobs, *last = jobs;
		for (int n = 1; n < s->max_batch && last->next; n++)
			last = last->next;
		jobs = last->next;
		last->next = NULL;

		writer_commit_batch(s, batch);
		while (batch) {
			struct store_job *next = batch->next;
			store_worker_done(s->writer, batch);
			batch = next;
		}
	}
	writer_checkpoint(s);
	return writer_retain(s);
}

/* ---- reader thread ---------------------------------------------------- */

/* Decodes the current row (ROW_COLUMNS) into a new message. Returns NULL
 * when the row is malformed. */
static struct msg *row_to_msg(sqlite3_stmt *st)
{
	const char *id = (const char *)sqlite3_column_text(st, 1);
	const char *tjson = (const char *)sqlite3_column_text(st, 2);
	size_t tlen = (size_t)sqlite3_column_bytes(st, 2);
	if (!id || !tjson)
		return NULL;

	json_error_t jerr;
	json_t *arr = json_loadb(tjson, tlen, 0, &jerr);
	size_t nt = json_is_array(arr) ? json_array_size(arr) : 0;
	if (nt < 1 || nt > MSG_MAX_TOPICS) {
		json_decref(arr);
		return NULL;
	}
	const char *topics[MSG_MAX_TOPICS];
	for (size_t i = 0; i < nt; i++) {
		topics[i] = json_string_value(json_array_get(arr, i));
		if (!topics[i]) {
			json_decref(arr);
			return NULL;
		}
	}

	const char *type = sqlite3_column_type(st, 3) == SQLITE_NULL
				   ? NULL
				   : (const char *)sqlite3_column_text(st, 3);
	int64_t retry = sqlite3_column_type(st, 4) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 4);
	bool priv = sqlite3_column_int(st, 5) != 0;
	const void *data = sqlite3_column_blob(st, 6);
	size_t datalen = (size_t)sqlite3_column_bytes(st, 6);

	struct msg *m = msg_new(id, topics, (int)nt, type, retry, priv,
				data ? data : "", data ? datalen : 0);
	m->seq = sqlite3_column_int64(st, 0);
	m->time_ms = sqlite3_column_int64(st, 7);
	json_decref(arr);
	return m;
}

static int cmp_seq(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* The seqs of the first `want` matching updates: at most `want` per topic,
 * merged and deduplicated, then cut to `want`. The union's first `want`
 * lie within each topic's first `want`, so the result is exact while the
 * cost stays bounded by ntopics * want index entries. Returns the count
 * (seqs in *out, malloc'ed), or -1 on a database error. */
static int topic_seqs(struct reader *r, const struct store_query *q, int64_t after,
		      int64_t upto, int want, int64_t **out)
{
	int64_t *seqs = NULL;
	size_t n = 0, cap = 0;
	int rc = SQLITE_DONE;

	for (int i = 0; i < q->ntopics && rc == SQLITE_DONE; i++) {
		sqlite3_stmt *st = r->topic_seqs;
		sqlite3_bind_text(st, 1, q->topics[i], -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, after);
		sqlite3_bind_int64(st, 3, upto);
		sqlite3_bind_int(st, 4, q->include_private);
		sqlite3_bind_int(st, 5, want);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			if (n == cap) {
				cap = cap ? cap * 2 : 64;
				seqs = xrealloc(seqs, cap * sizeof *seqs);
			}
			seqs[n++] = sqlite3_column_int64(st, 0);
		}
		sqlite3_reset(st);
	}
	if (rc != SQLITE_DONE) {
		free(seqs);
		return -1;
	}
	if (n > 1)
		qsort(seqs, n, sizeof *seqs, cmp_seq);
	size_t u = 0;
	for (size_t i = 0; i < n && u < (size_t)want; i++)
		if (u == 0 || seqs[i] != seqs[u - 1])
			seqs[u++] = seqs[i];
	*out = seqs;
	return (int)u;
}

/* Answers one query in one read transaction. */
static void reader_query(struct sqlite_store *s, struct query_job *qj)
{
	struct reader *r = &s->r;
	const struct store_query *q = qj->q;
	struct store_page *page = &qj->page;
	int want = q->limit + 1;
	int64_t after = q->after_seq;
	int64_t upto = q->upto_seq > 0 ? q->upto_seq : INT64_MAX;
	int64_t *seqs = NULL;
	const char *bad = NULL;
	int rc;

	store_page_init(page, q);
	qj->after_found = true;
	if (step_done(r->begin) != SQLITE_DONE)
		goto fail;
	if (q->after_id) {
		sqlite3_bind_text(r->find_id, 1, q->after_id, -1, SQLITE_STATIC);
		rc = sqlite3_step(r->find_id);
		if (rc == SQLITE_ROW)
			after = qj->after_pos = sqlite3_column_int64(r->find_id, 0);
		sqlite3_reset(r->find_id);
		if (rc == SQLITE_DONE) {
			qj->after_found = false;
			after = 0;
		} else if (rc != SQLITE_ROW) {
			goto fail;
		}
	}

	/* Candidates come in batches of `want` from `after` on (one more
	 * than the limit, so that has_more is known); the filter may drop
	 * some, so batches repeat until the page is done or the candidates
	 * run out. */
	for (;;) {
		int fetched = 0;
		if (qj->all) {
			sqlite3_stmt *st = r->all;
			sqlite3_bind_int64(st, 1, after);
			sqlite3_bind_int64(st, 2, upto);
			sqlite3_bind_int(st, 3, q->include_private);
			sqlite3_bind_int(st, 4, want);
			while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
				struct msg *m = row_to_msg(st);
				if (!m) {
					bad = "malformed row";
					break;
				}
				fetched++;
				after = m->seq;
				if (!store_page_offer(page, m))
					break;
			}
			sqlite3_reset(st);
			if (bad || (rc != SQLITE_DONE && !page->done))
				goto fail;
		} else {
			free(seqs);
			seqs = NULL;
			int ns = topic_seqs(r, q, after, upto, want, &seqs);
			if (ns < 0)
				goto fail;
			for (int i = 0; i < ns; i++) {
				sqlite3_bind_int64(r->by_seq, 1, seqs[i]);
				rc = sqlite3_step(r->by_seq);
				struct msg *m = rc == SQLITE_ROW ? row_to_msg(r->by_seq) : NULL;
				sqlite3_reset(r->by_seq);
				if (rc == SQLITE_ROW && !m)
					bad = "malformed row";
				if (!m)
					goto fail; /* the snapshot holds every seq just found */
				after = m->seq;
				if (!store_page_offer(page, m))
					break;
			}
			fetched = ns;
		}
		if (page->done || fetched < want || !q->filter)
			break;
	}
	if (step_done(r->commit) != SQLITE_DONE)
		goto fail;

	free(seqs);
	qj->status = STORE_OK;
	return;

fail:
	log_error("store: query failed: %s", bad ? bad : sqlite3_errmsg(r->db));
	if (!sqlite3_get_autocommit(r->db))
		step_done(r->rollback);
	free(seqs);
	store_page_clear(page);
	qj->status = STORE_ERROR;
	store_count(&s->counts.errors, 1);
}

static bool reader_run(void *ctx, struct store_job *jobs)
{
	struct sqlite_store *s = ctx;
	while (jobs) {
		struct store_job *next = jobs->next;
		struct query_job *qj = (struct query_job *)jobs;
		if (store_worker_cancelled(s->reader))
			qj->status = STORE_ERROR; /* closing: not started */
		else
			reader_query(s, qj);
		store_worker_done(s->reader, jobs);
		jobs = next;
	}
	return false;
}

/* ---- loop thread ------------------------------------------------------ */

static void append_complete(void *ctx, struct store_job *job)
{
	struct sqlite_store *s = ctx;
	struct append_job *aj = (struct append_job *)job;
	if (aj->status == STORE_OK && s->feed.update)
		s->feed.update(s->feed.arg, aj->m);
	if (aj->cb)
		aj->cb(aj->arg, aj->status, aj->m);
	msg_unref(aj->m);
	free(aj);
}

static void query_complete(void *ctx, struct store_job *job)
{
	struct query_job *qj = (struct query_job *)job;
	store_page_answer(&qj->page, qj->status, qj->after_found, qj->after_pos, qj->cb, qj->arg);
	free(qj->q);
	free(qj);
}

/* Positions are handed out here, on the loop thread, in the order of the
 * calls: the writer commits in that order, and the feed follows it. */
static void sqlite_publish(struct store *st, struct msg *m, store_publish_cb cb, void *arg)
{
	struct sqlite_store *s = (struct sqlite_store *)st;
	m->seq = ++s->next_seq;
	if (m->time_ms <= 0)
		m->time_ms = now_ms();
	if (s->closing) {
		log_error("store: append during close refused");
		if (cb)
			cb(arg, STORE_ERROR, m);
		return;
	}
	struct append_job *aj = xcalloc(1, sizeof *aj);
	aj->m = msg_ref(m);
	aj->cb = cb;
	aj->arg = arg;
	aj->status = STORE_ERROR;
	store_worker_push(s->writer, &aj->job);
}

static void sqlite_query(struct store *st, const struct store_query *q,
			 store_query_cb cb, void *arg)
{
	struct sqlite_store *s = (struct sqlite_store *)st;
	struct query_job *qj = xcalloc(1, sizeof *qj);
	qj->q = store_query_copy(q, QUERY_LIMIT_MAX, &qj->all);
	store_page_init(&qj->page, qj->q);
	qj->cb = cb;
	qj->arg = arg;
	qj->status = STORE_ERROR;

	if (s->closing) {
		log_error("store: query during close refused");
		query_complete(s, &qj->job);
		return;
	}
	store_worker_push(s->reader, &qj->job);
}

static void sqlite_subscribe(struct store *st, const struct store_feed *feed)
{
	((struct sqlite_store *)st)->feed = *feed;
}

static void sqlite_stats(struct store *st, struct store_stats *out)
{
	struct sqlite_store *s = (struct sqlite_store *)st;
	store_counters_read(&s->counts, out);
}

/* Frees everything; the threads must be stopped (or never started). */
static void store_free(struct sqlite_store *s)
{
	store_worker_free(s->reader);
	store_worker_free(s->writer);
	reader_close(&s->r);
	writer_close(&s->w);
	free(s->pub.last_id);
	free(s->path);
	free(s);
}

static void sqlite_close(struct store *st)
{
	struct sqlite_store *s = (struct sqlite_store *)st;
	s->closing = true;

	/* Queries first, so the reader is not busy while appends drain. */
	struct store_job *left = store_worker_stop(s->reader, false);
	store_worker_stop(s->writer, true);
	store_worker_flush(s->writer);
	store_worker_flush(s->reader);
	while (left) {
		struct store_job *next = left->next;
		query_complete(s, left); /* status is still STORE_ERROR */
		left = next;
	}
	store_free(s);
}

static const struct store_ops sqlite_ops = {
	.publish = sqlite_publish,
	.subscribe = sqlite_subscribe,
	.query = sqlite_query,
	.stats = sqlite_stats,
	.close = sqlite_close,
};

/* ---- open ------------------------------------------------------------- */

/* Reads last_seq, last_id and the row count. Returns 0, or -1 with err. */
static int load_state(struct sqlite_store *s, char *err, size_t errlen)
{
	sqlite3 *db = s->w.db;
	int64_t max_seq, ever;
	if (query_int(db, "SELECT max(seq) FROM updates", 0, &max_seq, err, errlen) < 0 ||
	    query_int(db, "SELECT seq FROM sqlite_sequence WHERE name = 'updates'", 0, &ever,
		      err, errlen) < 0 ||
	    query_int(db, "SELECT count(*) FROM updates", 0, &s->w.stored, err, errlen) < 0)
		return -1;
	s->pub.last_seq = ever > max_seq ? ever : max_seq;
	s->next_seq = s->pub.last_seq;
	store_count_set(&s->counts.stored, s->w.stored);

	if (max_seq > 0) {
		sqlite3_stmt *st;
		if (prepare(db, "SELECT id FROM updates WHERE seq = ?1", &st, err, errlen) < 0)
			return -1;
		sqlite3_bind_int64(st, 1, max_seq);
		if (sqlite3_step(st) == SQLITE_ROW)
			s->pub.last_id = xstrdup((const char *)sqlite3_column_text(st, 0));
		sqlite3_finalize(st);
	}
	return 0;
}

struct store *store_sqlite_open(struct event_base *base,
				const struct store_sqlite_config *cfg, char *err,
				size_t errlen)
{
	struct sqlite_store *s = xcalloc(1, sizeof *s);
	char e[512];

	s->pub.ops = &sqlite_ops;
	s->pub.name = "sqlite";
	s->path = xstrdup(cfg->path);
	s->retain_count = cfg->retain_count;
	s->retain_age_s = cfg->retain_age_s;
	s->max_batch = cfg->max_batch > 0 ? cfg->max_batch : DEFAULT_MAX_BATCH;
	store_counters_init(&s->counts, true);

	if (!(s->w.db = db_open(s->path, true, cfg->sync_full, err, errlen)) ||
	    migrate(s->w.db, s->path, err, errlen) < 0 ||
	    !(s->r.db = db_open(s->path, false, cfg->sync_full, err, errlen)))
		goto fail;
	sqlite3_wal_hook(s->w.db, wal_hook, &s->w);
	if (writer_prepare(&s->w, e, sizeof e) < 0 || reader_prepare(&s->r, e, sizeof e) < 0 ||
	    load_state(s, e, sizeof e) < 0) {
		snprintf(err, errlen, "%s: %s", s->path, e);
		goto fail;
	}

	int tick = s->retain_count > 0 || s->retain_age_s > 0 ? RETAIN_INTERVAL_MS : 0;
	s->writer = store_worker_new(base, writer_run, append_complete, s, tick, e, sizeof e);
	if (s->writer)
		s->reader = store_worker_new(base, reader_run, query_complete, s, 0, e, sizeof e);
	if (!s->reader) {
		snprintf(err, errlen, "%s: %s", s->path, e);
		goto fail;
	}
	return &s->pub;

fail:
	store_free(s);
	return NULL;
}
