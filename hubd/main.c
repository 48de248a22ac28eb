/* main.c -- hubd: settings, start-up, the event loop, signals, shutdown. */
#include "config.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <unistd.h>

#include "access_token.h"
#include "auth_cache.h"
#include "url.h"
#include "ctl_server.h"
#include "hub.h"
#include "log.h"
#include "publish_listener.h"
#include "requests.h"
#include "settings.h"
#include "store/redis.h"
#include "store/sqlite.h"

#define SHUTDOWN_DEADLINE_MS 5000
#define TOKEN_CACHE_SIZE 64 /* distinct valid tokens remembered */
#define DEFAULT_HUB_URL "http://localhost/.well-known/mercure" /* without resource */

struct daemon {
	struct event_base *base;
	struct settings cfg;
	struct store *store;
	struct hub *hub;
	struct ctl_server *ctl;
	struct publish_listener *publish; /* NULL unless publish-listen is set */
	struct requests requests;
	struct url hub_url;     /* requests.hub_url */
	struct event *sigterm_ev, *sigint_ev;
	bool stopping;
};

/* Descriptors hubd keeps for everything but streams (store, sockets,
 * publish-listener connections, control peers). */
#define FDS_RESERVED 256

/* Streams need descriptors: take the whole hard limit, and keep
 * max-subscribers within it, so that a stream over the limit is refused
 * with an answer rather than failing to be received at all. */
static void raise_fd_limit(struct settings *cfg)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			log_warn("cannot raise the open files limit: %s", strerror(errno));
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	log_info("open files limit: %llu", (unsigned long long)rl.rlim_cur);
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur > 2 * FDS_RESERVED &&
	    (rlim_t)cfg->max_subscribers > rl.rlim_cur - FDS_RESERVED) {
		cfg->max_subscribers = (int)(rl.rlim_cur - FDS_RESERVED);
		log_info("max-subscribers lowered to %d: the open files limit is %llu",
			 cfg->max_subscribers, (unsigned long long)rl.rlim_cur);
	}
}

static void write_pidfile(const char *path)
{
	FILE *f = fopen(path, "w");
	if (!f)
		fatal("cannot write pidfile %s: %s", path, strerror(errno));
	fprintf(f, "%d\n", (int)getpid());
	fclose(f);
}

/* One hubd per database: two would hand out the same update seqs. The
 * lock is held by the open descriptor until the process exits. */
static void lock_database(const char *db_path)
{
	char path[4096];
	snprintf(path, sizeof path, "%s.lock", db_path);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		fatal("cannot open %s: %s", path, strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) < 0)
		fatal("%s is locked: another hubd uses this database", path);
}

/* Writes what the settings' store is, for the log: "sqlite PATH" or
 * "redis ADDRESS prefix PREFIX" (and " db N" when not 0). */
static void describe_store(const struct settings *cfg, char *out, size_t outlen)
{
	if (cfg->store == SETTINGS_STORE_REDIS) {
		int n = snprintf(out, outlen, "redis %s prefix %s", cfg->redis_address,
				 cfg->redis_prefix);
		if (cfg->redis_db && n >= 0 && (size_t)n < outlen)
			snprintf(out + n, outlen - (size_t)n, " db %d", cfg->redis_db);
	} else {
		snprintf(out, outlen, "sqlite %s", cfg->db_path);
	}
}

/* Opens the store the settings name on base: SQLite (the database locked
 * for this process first) or Redis. Fatal, with the reason, when it
 * cannot be opened. */
static struct store *open_store(struct event_base *base, const struct settings *cfg,
				const char *desc)
{
	char err[512];
	struct store *st;
	if (cfg->store == SETTINGS_STORE_REDIS) {
		struct store_redis_config rc = {
			.address = cfg->redis_address,
			.prefix = cfg->redis_prefix,
			.db = cfg->redis_db,
			.password = cfg->redis_password,
			.retain_count = cfg->retain_count,
			.retain_age_s = cfg->retain_age_s,
			.wait_replicas = cfg->redis_wait_replicas,
			.wait_timeout_ms = cfg->redis_wait_timeout_ms,
		};
		st = store_redis_open(base, &rc, err, sizeof err);
	} else {
		lock_database(cfg->db_path);
		struct store_sqlite_config sc = {
			.path = cfg->db_path,
			.sync_full = cfg->sync_full,
			.retain_count = cfg->retain_count,
			.retain_age_s = cfg->retain_age_s,
			.max_batch = 1000,
		};
		st = store_sqlite_open(base, &sc, err, sizeof err);
	}
	if (!st)
		fatal("cannot open the store %s: %s", desc, err);
	return st;
}

/* The Mercure 1.0 token issuers the settings built (keys parsed there,
 * with the file named on an error): fatal when one of them could verify
 * no token under token-algorithms. Logs what is trusted. */
static void check_token_issuers(const struct settings *cfg)
{
	char err[512], algs[64];
	if (at_issuers_check(cfg->token_issuers, cfg->token_algs, err, sizeof err) < 0)
		fatal("token-issuer: %s", err);
	if (at_issuers_count(cfg->token_issuers) == 0)
		return;
	jws_algs_format(cfg->token_algs, algs, sizeof algs);
	log_info("access tokens: %zu issuer(s), algorithms %s, resource %s",
		 at_issuers_count(cfg->token_issuers), algs,
		 cfg->resource ? cfg->resource : "(from each request)");
}

static void shutdown_done(void *arg)
{
	struct daemon *d = arg;
	event_base_loopexit(d->base, NULL);
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;
	if (d->stopping) {
		log_warn("second signal: exiting now");
		event_base_loopbreak(d->base);
		return;
	}
	d->stopping = true;
	log_info("signal %d: stopping (ending %s streams cleanly)", (int)sig, "all");
	ctl_server_stop(d->ctl);
	publish_listener_stop(d->publish);
	hub_shutdown(d->hub, SHUTDOWN_DEADLINE_MS, shutdown_done, d);
}

int main(int argc, char **argv)
{
	struct daemon d = {0};
	char err[512];

	settings_defaults(&d.cfg);
	int rc = settings_parse_args(&d.cfg, argc, argv, err, sizeof err);
	if (rc != 0)
		settings_free(&d.cfg);
	if (rc == 1)
		return 0;
	if (rc < 0) {
		fprintf(stderr, "hubd: %s\n", err);
		return 2;
	}
	log_set_level(d.cfg.log_level);
	check_token_issuers(&d.cfg);
	signal(SIGPIPE, SIG_IGN);
	raise_fd_limit(&d.cfg);
	if (evthread_use_pthreads() < 0)
		fatal("libevent thread support is unavailable");

	d.base = event_base_new();
	if (!d.base)
		fatal("cannot create the event loop");

	char store_desc[512];
	describe_store(&d.cfg, store_desc, sizeof store_desc);
	d.store = open_store(d.base, &d.cfg, store_desc);
	d.hub = hub_new(d.base, &d.cfg, d.store);
	d.requests.hub = d.hub;
	d.requests.cfg = &d.cfg;
	d.requests.tokens = auth_cache_new(TOKEN_CACHE_SIZE);
	/* The hub's URL, for URL patterns and the reserved path: the
	 * resource when it is set, else a stand-in (relative patterns and
	 * topics then still resolve alike). */
	const char *hub_url = d.cfg.resource ? d.cfg.resource : DEFAULT_HUB_URL;
	if (url_parse(&d.hub_url, hub_url, strlen(hub_url), NULL, err, sizeof err) < 0)
		fatal("resource: %s: %s", hub_url, err);
	d.requests.hub_url = &d.hub_url;
	size_t max_payload = d.cfg.max_update + 256 * 1024;
	d.ctl = ctl_server_listen(d.base, d.cfg.socket_path, d.cfg.socket_mode, d.cfg.socket_group,
				  max_payload, requests_handle, &d.requests, err, sizeof err);
	if (!d.ctl)
		fatal("control socket: %s", err);
	if (d.cfg.publish_listen) {
		/* A form percent-encodes: room for every data byte as %XX. */
		size_t max_body = 3 * d.cfg.max_update + 64 * 1024;
		d.publish = publish_listener_start(d.base, d.cfg.publish_listen, &d.requests,
						   max_body, err, sizeof err);
		if (!d.publish)
			fatal("publish-listen: %s", err);
		log_info("taking publishes over HTTP on %s", d.cfg.publish_listen);
	}
	if (d.cfg.pidfile)
		write_pidfile(d.cfg.pidfile);

	d.sigterm_ev = evsignal_new(d.base, SIGTERM, signal_cb, &d);
	d.sigint_ev = evsignal_new(d.base, SIGINT, signal_cb, &d);
	event_add(d.sigterm_ev, NULL);
	event_add(d.sigint_ev, NULL);
	signal(SIGHUP, SIG_IGN);

	log_info("hubd %s listening on %s, store %s (last update %s)", PACKAGE_VERSION,
		 d.cfg.socket_path, store_desc, d.store->last_id ? d.store->last_id : "none");
	event_base_dispatch(d.base);

	/* Teardown: the store drains queued appends and answers them (the
	 * hub and the peers are still there to take the answers), then the
	 * rest in reverse order. */
	ctl_server_stop(d.ctl);
	publish_listener_stop(d.publish);
	d.store->ops->close(d.store);
	/* Closing the store answered the last publishes: one more pass of the
	 * loop writes those answers out before their connections close. */
	if (d.publish)
		event_base_loop(d.base, EVLOOP_NONBLOCK);
	publish_listener_free(d.publish);
	hub_free(d.hub);
	ctl_server_free(d.ctl);
	auth_cache_free(d.requests.tokens);
	url_clear(&d.hub_url);
	event_free(d.sigterm_ev);
	event_free(d.sigint_ev);
	event_base_free(d.base);
	if (d.cfg.pidfile)
		unlink(d.cfg.pidfile);
	log_info("hubd stopped");
	settings_free(&d.cfg);
	return 0;
}
