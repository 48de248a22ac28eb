/* store.h -- the message store interface. The hub talks to history only
 * through this struct of function pointers, so another backend (Redis) is a
 * new file, not a change to the hub. Every operation is asynchronous: it is
 * queued and returns at once; its callback runs later on the thread that
 * runs the event loop given to the store's constructor. The event loop
 * never waits on the disk. */
#ifndef HUBD_STORE_H
#define HUBD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "msg.h"

struct event_base;
struct store;

enum store_status {
	STORE_OK = 0,
	STORE_CONFLICT = 1, /* append: an update with this id is stored already */
	STORE_ERROR = 2,    /* I/O or database error (logged by the store) */
	STORE_DUPLICATE = 3, /* append: this very update (same id, topics, type,
			      * retry, private flag and data) is stored already:
			      * a publisher's retry; nothing new was stored */
};

struct store_config {
	const char *path;        /* database file; created if missing */
	bool sync_full;          /* PRAGMA synchronous=FULL (else NORMAL) */
	int64_t retain_count;    /* keep at most this many updates; 0 = no cap */
	int64_t retain_age_s;    /* drop updates older than this; 0 = no cap */
	int max_batch;           /* appends per transaction (group commit);
				  * <= 0 means 1000 */
};

/* A query for replay (subscribe with Last-Event-ID) or history.
 * Matches updates whose topics intersect topics[] (exact string matches; a
 * "*" entry matches every update), with seq > the seq of after_id, and
 * seq <= upto_seq when upto_seq > 0, private ones only when
 * include_private. Oldest first, at most limit (< 1 is taken as 1).
 * after_id NULL: seq > after_seq (after_seq 0: from the oldest retained).
 * after_id naming no retained update (unknown, or removed by retention) is
 * not an error: the query is answered STORE_OK with after_found = false and
 * the results start from the oldest retained update, so the hub replays
 * everything retained and can tell the client so. */
struct store_query {
	const char *const *topics; /* borrowed; copied by the store */
	int ntopics;
	const char *after_id;      /* borrowed; copied by the store */
	int64_t after_seq;
	int64_t upto_seq;
	int limit;
	/* A byte budget (0: none): the page stops before the update that
	 * would take the results past max_bytes of msg_mem, and has_more is
	 * then true; the first update is always returned, however large, so
	 * a page never comes back empty while updates remain. */
	size_t max_bytes;
	/* The results are for delivery (replay): each comes with its SSE
	 * encoding built on the store's thread (msg_sse) and no data (NULL).
	 * max_bytes then counts them as encoded. History leaves it false. */
	bool encode;
	bool include_private;
	/* Optional: a further test of each candidate (one that passed the
	 * topic and private checks above), run on the store's own thread;
	 * only kept updates count toward limit. It must be thread-safe and
	 * may read only data behind filter_arg that stays unchanged until the
	 * query's callback has run. NULL keeps every candidate. */
	bool (*filter)(const struct msg *m, const void *filter_arg);
	const void *filter_arg;
};

/* Append completion: status STORE_OK (committed durably: it survives the
 * process being killed right after), STORE_DUPLICATE or STORE_CONFLICT
 * (nothing stored; the other appends of the same batch are not affected)
 * or STORE_ERROR. The
 * store held its own reference to m until now and drops it after the
 * callback returns. Callbacks run in the order of the append calls. */
typedef void (*store_append_cb)(void *arg, enum store_status status, struct msg *m);

/* Query completion: msgs[0..n) oldest first, each with seq, id, topics,
 * type, retry, priv, time_ms and data as stored; the callback takes over
 * one reference on each message (and must msg_unref them) but not the
 * array, which the store frees after the callback returns. after_found
 * says whether after_id named a retained update (always true when after_id
 * was NULL; when false the results start from the oldest retained
 * update). has_more: more matching updates exist past the last one
 * returned (within upto_seq). status is STORE_OK or STORE_ERROR; on
 * STORE_ERROR, n == 0. */
typedef void (*store_query_cb)(void *arg, enum store_status status,
			       struct msg **msgs, int n, bool after_found,
			       bool has_more);

struct store_stats {
	int64_t stored;    /* updates in the store now */
	int64_t commits;   /* write transactions committed since open */
	int64_t appended;  /* updates appended since open */
	int64_t expired;   /* updates removed by retention since open */
	int64_t errors;    /* failed operations since open */
};

struct store_ops {
	/* Queues m (the store takes a reference) for a durable append in the
	 * order of calls. m->seq (> 0, increasing) and m->id are set by the
	 * caller; m->time_ms is stored as given (<= 0: the time of the
	 * append). The store never modifies m. Appends queued together commit
	 * in one transaction. Cannot fail to queue; failures are reported
	 * through cb. */
	void (*append)(struct store *s, struct msg *m, store_append_cb cb, void *arg);
	/* Queues a query; q is copied, cb always called exactly once. */
	void (*query)(struct store *s, const struct store_query *q,
		      store_query_cb cb, void *arg);
	/* Fills *out; thread-safe, never blocks on the disk. */
	void (*stats)(struct store *s, struct store_stats *out);
	/* Loop thread, loop running or not. Finishes every queued append
	 * (their callbacks run before it returns, with their real status),
	 * delivers finished queries, answers queries not yet started with
	 * STORE_ERROR, stops the threads, closes the database and frees s.
	 * Callbacks that run during close must not call the store. Blocks:
	 * for shutdown. */
	void (*close)(struct store *s);
};

struct store {
	const struct store_ops *ops;
	/* At open: the highest seq ever stored, also when retention has
	 * removed it since (0 for a new database), so new seqs start above
	 * it; and the id of the newest retained update (NULL when none is
	 * retained). Owned by the store; not updated after open. */
	int64_t last_seq;
	char *last_id;
};

/* Opens (creating and migrating as needed) the SQLite store at cfg->path
 * and starts its threads; callbacks run on base's loop. Blocks while
 * opening. Returns NULL with a reason in err on failure. */
struct store *store_sqlite_open(struct event_base *base,
				const struct store_config *cfg, char *err,
				size_t errlen);

#endif
