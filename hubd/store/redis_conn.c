/* redis_conn.c -- a connection to Redis that knows whether it works
 * (redis_conn.h). */
#include "config.h"

#include "redis_conn.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <hiredis/adapters/libevent.h>

#include "log.h"
#include "util.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000

bool store_redis_address_check(const char *v, char *err, size_t errlen)
{
	if (v[0] == '/') {
		if (strlen(v) < 108)
			return true;
		snprintf(err, errlen, "a Unix socket path must be at most 107 bytes");
		return false;
	}
	const char *colon = strrchr(v, ':');
	size_t hlen = colon ? (size_t)(colon - v) : strlen(v);
	bool ok = hlen > 0;
	for (size_t i = 0; ok && i < hlen; i++)
		ok = isalnum((unsigned char)v[i]) || v[i] == '.' || v[i] == '-' || v[i] == '_';
	uint64_t port;
	if (ok && colon)
		ok = parse_digits(colon + 1, 65535, &port) && port > 0;
	if (!ok)
		snprintf(err, errlen,
			 "expected HOST:PORT, HOST or an absolute Unix socket path, got \"%s\"%s", v,
			 strchr(v, '/') ? " (a socket path must start with /)" : "");
	return ok;
}

bool redis_address_parse(struct redis_address *a, const char *text, const char *password,
			 int db, char *err, size_t errlen)
{
	char why[256];
	memset(a, 0, sizeof *a);
	if (!store_redis_address_check(text, why, sizeof why)) {
		snprintf(err, errlen, "bad Redis address: %s", why);
		return false;
	}
	if (text[0] != '/') {
		const char *colon = strrchr(text, ':');
		uint64_t port = 6379;
		if (colon)
			parse_digits(colon + 1, 65535, &port); /* checked above */
		a->host = colon ? xmemdup(text, (size_t)(colon - text)) : xstrdup(text);
		a->port = (int)port;
	}
	a->text = xstrdup(text);
	a->password = password ? xstrdup(password) : NULL;
	a->db = db;
	return true;
}

void redis_address_free(struct redis_address *a)
{
	free(a->text);
	free(a->host);
	free(a->password);
	memset(a, 0, sizeof *a);
}

const char *redis_reply_error(const redisReply *r)
{
	if (!r)
		return "no answer (connection lost)";
	return r->type == REDIS_REPLY_ERROR ? r->str : NULL;
}

redisContext *redis_sync_connect(const struct redis_address *a, int timeout_ms, char *err,
				 size_t errlen)
{
	struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
	redisContext *c = a->host ? redisConnectWithTimeout(a->host, a->port, tv) :
		redisConnectUnixWithTimeout(a->text, tv);
	if (!c || c->err) {
		snprintf(err, errlen, "cannot connect to Redis at %s: %s", a->text,
			 c ? c->errstr : "out of memory");
		redisFree(c);
		return NULL;
	}
	redisSetTimeout(c, tv);
	char db[16];
	snprintf(db, sizeof db, "%d", a->db);
	const char *auth[2] = {"AUTH", a->password}, *sel[2] = {"SELECT", db};
	for (int i = 0; i < 2; i++) {
		if ((i == 0 && !a->password) || (i == 1 && !a->db))
			continue;
		redisReply *r = redisCommandArgv(c, 2, i == 0 ? auth : sel, NULL);
		const char *e = r ? redis_reply_error(r) : c->errstr;
		if (e) {
			snprintf(err, errlen, "Redis at %s refused %s: %s", a->text,
				 i == 0 ? "AUTH" : "SELECT", e);
			freeReplyObject(r);
			redisFree(c);
			return NULL;
		}
		freeReplyObject(r);
	}
	return c;
}

void redis_conn_init(struct redis_conn *c)
{
	c->ac = NULL;
	c->up = c->was_up = false;
	c->outstanding = 0;
	c->backoff_ms = BACKOFF_MIN_MS;
	c->retry_at_ms = 0;
	c->reconnects = 0;
}

/* The connection is gone (dropped or lost): try again after the backoff. */
static void went_down(struct redis_conn *c)
{
	bool was = c->up;
	c->up = false;
	c->outstanding = 0;
	int jitter = (int)random_between(0, (uint64_t)c->backoff_ms / 4);
	c->retry_at_ms = mono_ms() + c->backoff_ms + jitter;
	c->backoff_ms = c->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : c->backoff_ms * 2;
	if (was && c->changed)
		c->changed(c, c->arg);
}

void redis_conn_drop(struct redis_conn *c, const char *why)
{
	redisAsyncContext *ac = c->ac;
	if (!ac)
		return;
	if (!c->closing)
		log_warn("redis store: dropping the %s connection: %s", c->name, why);
	c->ac = NULL;
	went_down(c);
	redisAsyncFree(ac);
}

bool redis_conn_send(struct redis_conn *c, redisCallbackFn *fn, void *priv, int argc,
		     const char **argv, const size_t *lens)
{
	if (!c->ac || c->closing)
		return false;
	if (redisAsyncCommandArgv(c->ac, fn, priv, argc, argv, lens) != REDIS_OK)
		return false;
	if (c->outstanding++ == 0)
		c->progress_ms = mono_ms();
	return true;
}

struct redis_conn *redis_conn_answered(redisAsyncContext *ac, const redisReply *r)
{
	struct redis_conn *c = ac->data;
	if (c->ac == ac && c->outstanding > 0) {
		c->outstanding--;
		c->progress_ms = mono_ms();
	}
	if (c->ac == ac && r && r->type != REDIS_REPLY_ERROR)
		c->backoff_ms = BACKOFF_MIN_MS;
	return c;
}

bool redis_conn_current(const struct redis_conn *c, const redisAsyncContext *ac)
{
	return c->ac == ac;
}

/* AUTH and SELECT answers: an error drops the connection. */
static void on_setup(redisAsyncContext *ac, void *r, void *priv)
{
	struct redis_conn *c = redis_conn_answered(ac, r);
	const char *err = redis_reply_error(r);
	(void)priv;
	if (!r || !redis_conn_current(c, ac))
		return;
	if (err) {
		log_error("redis store: %s (the %s connection)", err, c->name);
		redis_conn_drop(c, "Redis refused its setup");
	}
}

static void on_connect(const redisAsyncContext *ac, int status)
{
	struct redis_conn *c = ac->data;
	if (c->ac != ac)
		return;
	if (status != REDIS_OK) {
		if (!c->closing && c->was_up)
			log_warn("redis store: cannot connect the %s connection to %s: %s", c->name,
				 c->addr->text, ac->errstr);
		c->ac = NULL; /* hiredis frees it */
		went_down(c);
		return;
	}
	if (c->was_up) {
		c->reconnects++;
		log_info("redis store: the %s connection to %s is back", c->name, c->addr->text);
	}
	c->was_up = c->up = true;
	if (c->changed)
		c->changed(c, c->arg);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
	struct redis_conn *c = ac->data;
	(void)status;
	if (c->ac != ac)
		return; /* dropped by redis_conn_drop, which said so */
	if (!c->closing)
		log_warn("redis store: lost the %s connection to %s: %s", c->name, c->addr->text,
			 ac->errstr && *ac->errstr ? ac->errstr : "closed");
	c->ac = NULL;
	went_down(c);
}

void redis_conn_connect(struct redis_conn *c)
{
	const struct redis_address *a = c->addr;
	redisAsyncContext *ac = a->host ? redisAsyncConnect(a->host, a->port) :
		redisAsyncConnectUnix(a->text);
	if (!ac || ac->err) {
		if (ac) {
			if (!c->closing && c->was_up)
				log_warn("redis store: cannot connect to %s: %s", a->text, ac->errstr);
			redisAsyncFree(ac);
		}
		went_down(c);
		return;
	}
	ac->data = c;
	c->ac = ac;
	c->outstanding = 0;
	if (redisLibeventAttach(ac, c->base) != REDIS_OK) {
		redis_conn_drop(c, "cannot attach to the event loop");
		return;
	}
	redisAsyncSetConnectCallback(ac, on_connect);
	redisAsyncSetDisconnectCallback(ac, on_disconnect);
	if (a->password) {
		const char *argv[2] = {"AUTH", a->password};
		redis_conn_send(c, on_setup, NULL, 2, argv, NULL);
	}
	if (a->db) {
		char db[16];
		snprintf(db, sizeof db, "%d", a->db);
		const char *argv[2] = {"SELECT", db};
		redis_conn_send(c, on_setup, NULL, 2, argv, NULL);
	}
	if (c->made)
		c->made(c, c->arg);
}

void redis_conn_watch(struct redis_conn *c, int64_t now)
{
	if (c->ac && c->outstanding > 0 && now - c->progress_ms > c->deadline_ms) {
		char why[96];
		snprintf(why, sizeof why, "Redis did not answer for %lld ms",
			 (long long)(now - c->progress_ms));
		redis_conn_drop(c, why);
	}
	if (!c->ac && !c->closing && now >= c->retry_at_ms)
		redis_conn_connect(c);
}
