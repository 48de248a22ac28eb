/* store.h -- the message store interface: the message bus. The store, not
 * the hub, puts every update in its place in the order (its position,
 * msg.seq), commits it, and delivers every committed update -- those
 * published through this hub and, for a shared store, those of every other
 * node -- through one feed, in that order, once each; the hub fans out
 * from the feed alone. The hub talks to the store only through this struct
 * of function pointers; each backend is a file of its own beside this one
 * with its own constructor header (sqlite.h, memory.h, redis.h). Every
 * operation is asynchronous: it is queued and returns at once; its
 * callback runs later on the thread that runs the event loop given to the
 * store's constructor. The event loop never waits on the disk or the network.
 *
 * Positions (store_pos, kept in msg.seq) are the store's own: > 0,
 * increasing in the order of the feed, comparable with <, not dense (a
 * refused publish may leave a hole); their meaning is the backend's. The
 * hub only compares them, and hands them back in queries. */
#ifndef HUBD_STORE_H
#define HUBD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "msg.h"

struct event_base;
struct store;

/* A position in the store's order (see above); 0: before every update. */
typedef int64_t store_pos;

enum store_status {
	STORE_OK = 0,
	STORE_CONFLICT = 1, /* publish: an update with this id is stored already */
	STORE_ERROR = 2,    /* I/O or database error (logged by the store) */
	STORE_DUPLICATE = 3, /* publish: this very update (same id, topics, type,
			      * retry, private flag and data) is stored already:
			      * a publisher's retry; nothing new was stored */
};

/* Where the store delivers every committed update (store_ops.subscribe).
 * update(arg, m) runs on the loop thread for each, in position order,
 * exactly once, never from inside a call into the store; m is borrowed
 * (msg_ref it to keep it) and has its id, topics, position and time set.
 * The hub may build its encoding (msg_sse): nobody reads its data after
 * the feed. */
struct store_feed {
	void (*update)(void *arg, struct msg *m);
	/* The store can no longer vouch that the feed is gapless: the log
	 * was lost (a shared store restarted empty) or the updates after the
	 * feed's position were trimmed before this node read them. The feed
	 * goes on from a new position (every update after it, in order);
	 * what came in between is gone. Loop thread; why is for the log.
	 * NULL: nobody is told (the hub always sets it). */
	void (*reset)(void *arg, const char *why);
	void *arg;
};

/* A query for replay (subscribe with Last-Event-ID) or history.
 * Matches updates whose topics intersect topics[] (exact string matches; a
 * "*" entry matches every update), positioned after the update after_id
 * names, and at or before upto_seq when upto_seq > 0, private ones only
 * when include_private. Oldest first, at most limit (< 1 is taken as 1).
 * after_id NULL: after position after_seq (0: from the oldest retained).
 * after_id naming no retained update (unknown, or removed by retention) is
 * not an error: the query is answered STORE_OK with after_found = false and
 * the results start from the oldest retained update, so the hub replays
 * everything retained and can tell the client so. */
struct store_query {
	const char *const *topics; /* borrowed; copied by the store */
	int ntopics;
	const char *after_id;      /* borrowed; copied by the store */
	store_pos after_seq;
	store_pos upto_seq;
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

/* Publish completion: status STORE_OK (committed durably: it survives the
 * process being killed right after; the feed has delivered it, or will),
 * STORE_DUPLICATE or STORE_CONFLICT (nothing stored; the other publishes
 * of the same batch are not affected) or STORE_ERROR (not known to be
 * stored: a network store that lost its answer may have stored it, and
 * the publisher's retry is then STORE_DUPLICATE). The store held its
 * own reference to m until now and drops it after the callback returns.
 * Callbacks run in the order of the publish calls. */
typedef void (*store_publish_cb)(void *arg, enum store_status status, struct msg *m);

/* Query completion: msgs[0..n) oldest first, each with seq, id, topics,
 * type, retry, priv, time_ms and data as stored; the callback takes over
 * one reference on each message (and must msg_unref them) but not the
 * array, which the store frees after the callback returns. after_found
 * says whether after_id named a retained update (always true when after_id
 * was NULL; when false the results start from the oldest retained
 * update), and after_pos is that update's position (0 when after_id was
 * NULL or not found): on a shared store it may be past what this node's
 * feed has delivered yet. has_more: more matching updates exist past the last one
 * returned (within upto_seq). status is STORE_OK or STORE_ERROR; on
 * STORE_ERROR, n == 0. */
typedef void (*store_query_cb)(void *arg, enum store_status status,
			       struct msg **msgs, int n, bool after_found,
			       store_pos after_pos, bool has_more);

struct store_stats {
	int64_t stored;    /* updates in the store now */
	int64_t commits;   /* write transactions committed since open */
	int64_t appended;  /* updates published and stored since open */
	int64_t expired;   /* updates removed by retention since open */
	int64_t errors;    /* failed operations since open */
	/* A store on the network (0 / true for an embedded one): */
	int64_t reconnects; /* connections re-established since open */
	int64_t resets;     /* feed resets since open (store_feed.reset) */
	int64_t lag_ms;     /* how late the feed delivered its last update
			     * after the update's commit time */
	bool connected;     /* the store answers now */
};

struct store_ops {
	/* Queues m (the store takes a reference; m->id set by the caller, not
	 * yet shared) to be committed durably. Before it returns the store
	 * sets m->time_ms to the time of the publish when it is <= 0; it gives
	 * m its position (m->seq) before the feed and the callback see m, no
	 * later (an embedded store does it before returning; a network store
	 * learns it from the answer); it changes nothing else. Publishes
	 * queued together may commit together (group commit). Once committed,
	 * the update goes to the feed, then cb runs. Cannot fail to queue;
	 * failures are reported through cb. */
	void (*publish)(struct store *s, struct msg *m, store_publish_cb cb, void *arg);
	/* Sets the feed (copied); updates committed from now on go to it.
	 * Once, before the first publish. */
	void (*subscribe)(struct store *s, const struct store_feed *feed);
	/* Queues a query; q is copied, cb always called exactly once. */
	void (*query)(struct store *s, const struct store_query *q,
		      store_query_cb cb, void *arg);
	/* Fills *out; thread-safe, never blocks on the disk. */
	void (*stats)(struct store *s, struct store_stats *out);
	/* Loop thread, loop running or not. Finishes every queued publish
	 * (the feed and their callbacks run before it returns, with their
	 * real status),
	 * delivers finished queries, answers queries not yet started with
	 * STORE_ERROR, stops the threads, closes the database and frees s.
	 * Callbacks that run during close must not call the store. Blocks:
	 * for shutdown. */
	void (*close)(struct store *s);
};

struct store {
	const struct store_ops *ops;
	/* At open: the position the feed starts after (the last update
	 * committed before open, also when retention has removed it since; 0
	 * for an empty store), and the id of the newest retained update (NULL
	 * when none is retained). Owned by the store; not updated after open:
	 * the feed says what comes next. */
	store_pos last_seq;
	char *last_id;
	const char *name; /* "sqlite", "memory", "redis": for logs and stats */
};

#endif
