/* redis_conn.h -- one connection to Redis for the Redis store, on the loop
 * thread through hiredis's libevent adapter, that knows whether it works:
 * commands sent on it are counted until answered, and one left unanswered
 * past the deadline drops it (hiredis 0.14 has no command timeouts); a
 * dropped or lost connection is made again after a backoff (100 ms
 * doubling to 5 s, jittered), AUTH and SELECT queued first each time.
 * Also the blocking connection the store uses to open and to close. The
 * owner (the store) is told when a connection is made and when it goes
 * up or down, through the callbacks it gave. */
#ifndef HUBD_STORE_REDIS_CONN_H
#define HUBD_STORE_REDIS_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "redis.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

struct event_base;

/* Where Redis is and how to log in (owned by the store, shared). */
struct redis_address {
	char *text;     /* as configured, for logs */
	char *host;     /* NULL: text is a Unix socket path */
	int port;
	char *password; /* AUTH, or NULL */
	int db;         /* SELECT when not 0 */
};

/* Parses an address store_redis_address_check accepts ("host" means port
 * 6379) into a (its strings malloc'ed; redis_address_free). False with a
 * reason in err. */
bool redis_address_parse(struct redis_address *a, const char *text, const char *password,
			 int db, char *err, size_t errlen);
void redis_address_free(struct redis_address *a);

/* A blocking connection with AUTH and SELECT done, timeout_ms for every
 * command; NULL with a reason in err. The caller redisFree()s it. */
redisContext *redis_sync_connect(const struct redis_address *a, int timeout_ms, char *err,
				 size_t errlen);

struct redis_conn {
	const char *name;                /* for logs: "command", "log reader" */
	const struct redis_address *addr;
	struct event_base *base;
	int64_t deadline_ms;             /* an answer takes at most this long */
	/* Called with arg: made (a new connection exists and takes commands,
	 * sent once it is connected); changed (up went true or false). */
	void (*made)(struct redis_conn *c, void *arg);
	void (*changed)(struct redis_conn *c, void *arg);
	void *arg;
	bool closing;                    /* no more commands, no more logs */

	/* The connection's own state: read it, never write it. */
	redisAsyncContext *ac;           /* NULL while down */
	bool up;                         /* connected */
	bool was_up;                     /* a new connection is a reconnection */
	int outstanding;                 /* commands not answered yet */
	int64_t progress_ms;             /* mono: the last answer, or the first send since */
	int64_t retry_at_ms;             /* mono: when a down connection tries again */
	int backoff_ms;
	int64_t reconnects;
};

/* Sets c up (down, due to connect at once); the fields above the state
 * are the caller's to fill first. */
void redis_conn_init(struct redis_conn *c);

/* Connects c now (asynchronously). */
void redis_conn_connect(struct redis_conn *c);

/* Sends one command (argv, lens NULL for C strings); fn(ac, reply, priv)
 * gets NULL when the connection goes first. False (nothing sent, fn never
 * called) while c is down or closing. */
bool redis_conn_send(struct redis_conn *c, redisCallbackFn *fn, void *priv, int argc,
		     const char **argv, const size_t *lens);

/* Every reply callback calls this first with its reply: c has one
 * command fewer outstanding, and a good answer (not NULL, not an error)
 * proves the connection works: the backoff starts over. Returns the
 * connection (ac->data). */
struct redis_conn *redis_conn_answered(redisAsyncContext *ac, const redisReply *r);

/* Whether an answer is from c's current connection (not one dropped). */
bool redis_conn_current(const struct redis_conn *c, const redisAsyncContext *ac);

/* Drops c's connection: its unanswered commands get NULL now (not inside
 * a hiredis callback: then once it returns). Logs why unless closing. */
void redis_conn_drop(struct redis_conn *c, const char *why);

/* The tick: drops c past its deadline, connects it again when due. */
void redis_conn_watch(struct redis_conn *c, int64_t now_ms);

/* Why a reply is not an answer: "no answer (connection lost)" for NULL,
 * Redis's error text, or NULL for an answer. */
const char *redis_reply_error(const redisReply *r);

#endif
