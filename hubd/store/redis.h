/* redis.h -- the Redis store: several hubd nodes share one Redis (7.0) as
 * their log. Every update is one entry of a Redis stream, added by one
 * Lua script that also applies the publisher's retry rule and retention
 * atomically; every node reads the stream in order and feeds every entry
 * -- its own and the other nodes' -- to its hub, so every node delivers
 * every update once, in the one order of the stream. Everything runs on
 * the loop thread through hiredis's libevent adapter: one connection for
 * commands, one for reading the log; liveness is the store's own
 * PING/deadline timer (hiredis 0.14 has no command timeouts), and a lost
 * connection is re-made with backoff while publishes and queries answer
 * STORE_ERROR at once.
 *
 * Keys, under the prefix P: P:log (the stream), P:ids (hash: update id ->
 * entry id), P:meta (hash: epoch, a token that changes when the log is
 * lost; trimmed, the newest entry retention removed). A node whose log's
 * epoch changed, or whose cursor retention passed, resets its feed
 * (store.h) instead of leaving a silent gap.
 *
 * Durability is Redis's: a publish is acknowledged once Redis has run its
 * script (and, with wait_replicas, once that many replicas have it); it
 * survives a Redis crash only with appendonly yes and appendfsync always
 * (everysec may lose the last second). doc/multi-node.md says more. */
#ifndef HUBD_STORE_REDIS_H
#define HUBD_STORE_REDIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

struct event_base;

struct store_redis_config {
	const char *address;     /* "host:port", "host" (port 6379) or a
				  * Unix socket path (starts with '/') */
	const char *prefix;      /* key prefix; NULL or "" means "hubd" */
	int db;                  /* SELECT db (0: the default) */
	const char *password;    /* AUTH password, or NULL */
	int64_t retain_count;    /* keep at most this many updates; 0 = no cap */
	int64_t retain_age_s;    /* drop updates older than this; 0 = no cap */
	int wait_replicas;       /* WAIT for this many replicas before an
				  * acknowledgement; 0: do not wait */
	int wait_timeout_ms;     /* WAIT's timeout (<= 0 means 1000) */
};

/* Connects to Redis, checks the log's epoch and finds the last entry
 * (store.last_seq/last_id), logs what Redis's persistence settings mean
 * for durability, and leaves the store running on base. Blocks while
 * opening (at most a few seconds: a Redis that does not answer is an
 * error). Returns NULL with a reason in err on failure. */
struct store *store_redis_open(struct event_base *base,
			       const struct store_redis_config *cfg, char *err,
			       size_t errlen);

/* Whether text is a Redis address as store_redis_config.address takes it:
 * "host:port" or "host" (a name or an IPv4 address: letters, digits, '.',
 * '-', '_'; port 1..65535), or an absolute Unix socket path of at most 107
 * bytes. False with the reason in err. Pure; any thread. */
bool store_redis_address_check(const char *text, char *err, size_t errlen);

/* Positions are Redis stream entry ids "ms-seq" mapped to one integer,
 * ((ms - 2020-01-01) << 20) | seq: increasing as the ids increase.
 * store_redis_pos_from_id returns 0 for text that is no entry id or one
 * outside that range; store_redis_pos_to_id writes "ms-seq" (out holds at
 * least STORE_REDIS_ID_MAX bytes). */
#define STORE_REDIS_ID_MAX 48
store_pos store_redis_pos_from_id(const char *id, size_t len);
void store_redis_pos_to_id(store_pos pos, char *out);

#endif
