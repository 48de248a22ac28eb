/* settings.h -- hubd's settings: defaults, the command line and the config
 * file. Config file lines are "key = value" with the same keys as the long
 * options (without "--"); '#' starts a comment; the command line wins over
 * the file. */
#ifndef HUBD_SETTINGS_H
#define HUBD_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct at_issuers;

/* Where updates are kept (store = ...). */
enum settings_store {
	SETTINGS_STORE_SQLITE = 0, /* sqlite: one node, one file (db = ...) */
	SETTINGS_STORE_REDIS,      /* redis: several nodes share one Redis */
};

struct settings {
	char *socket_path;      /* socket = /run/hubd/hubd.sock */
	unsigned socket_mode;   /* socket-mode = 0660 (octal) */
	char *socket_group;     /* socket-group = (none: the process's group) */
	enum settings_store store; /* store = sqlite | redis */
	char *db_path;          /* db = /var/lib/hubd/hubd.db */
	bool sync_full;         /* sync = full | normal */
	char *redis_address;    /* redis = 127.0.0.1:6379 (host:port, host, or an
				 * absolute Unix socket path) */
	char *redis_prefix;     /* redis-prefix = hubd (1..64 of [A-Za-z0-9_.:-]) */
	int redis_db;           /* redis-db = 0 (0..1000000) */
	char *redis_password;   /* redis-password-file = PATH: the password read
				 * from it when the setting is applied (none);
				 * never given inline */
	int redis_wait_replicas; /* redis-wait-replicas = 0 (0..64) */
	int redis_wait_timeout_ms; /* redis-wait-timeout = 1000 (ms, 1..60000) */
	int heartbeat_s;        /* heartbeat = 20 (seconds, 1..3600) */
	int stall_timeout_s;    /* stall-timeout = 30 (seconds, 1..3600): a stream
				 * whose queued output does not move is cut */
	uint32_t retry_lo_ms;   /* retry = 1000-5000: every stream opens with */
	uint32_t retry_hi_ms;   /* "retry: N", N drawn from the range (ms; 0 = none) */
	int64_t retain_count;   /* retention-count = 100000 (0 = unlimited) */
	int64_t retain_age_s;   /* retention-age = 604800 (seconds; 0 = unlimited) */
	size_t max_queue;       /* max-queue = 1048576 (bytes queued per stream) */
	size_t max_update;      /* max-update-size = 1048576 (bytes of data) */
	int history_limit;      /* history-limit = 1000 (max updates per page) */
	int max_subscribers;    /* max-subscribers = 100000 */
	int max_per_client;     /* max-streams-per-client = 0 (0: no cap) */
	int max_per_token;      /* max-streams-per-token = 0 (0: no cap) */
	int max_lifetime_s;     /* max-stream-lifetime = 0 (seconds, 0: none): a
				 * stream ends cleanly after 90-100% of it */
	char *publisher_key;    /* publisher-key = HS256 secret, or -file (also
				 * an RSA public key, PEM: RS256) */
	char *subscriber_key;   /* subscriber-key = the same for subscribers */
	struct at_issuers *token_issuers; /* token-issuer = ISSUER [KID=]KEYFILE...:
				 * Mercure 1.0 access-token issuers, one line
				 * each, keys read when the setting is applied
				 * (NULL: none) */
	unsigned token_algs;    /* token-algorithms = RS256,ES256,EdDSA,HS256
				 * (JWS_ALG_BIT mask) */
	char *resource;         /* resource = URL: the hub's resource identifier,
				 * that a token's aud must hold (NULL: the
				 * caller derives it from the request) */
	char *token_cookie;     /* token-cookie = __Secure-mercure_access_token */
	bool allow_anonymous;   /* anonymous = yes | no */
	bool draft07;           /* draft-07 = yes | no: also serve Mercure
				 * draft-07 (topic subscriptions, JWTs with a
				 * mercure claim) next to draft-08 */
	char *cors_origins;     /* cors-origins = origins allowed cross-origin
				 * (space-separated, or *); none by default */
	bool subscriptions;     /* subscriptions = yes | no (the subscriptions
				 * API and its connect/disconnect updates) */
	char *publish_origins;  /* publish-origins = origins allowed to publish
				 * with cookie auth (space-separated, or *) */
	char *publish_listen;   /* publish-listen = ADDR:PORT of hubd's own HTTP
				 * endpoint for publishers (none: off) */
	char *pidfile;          /* pidfile = (none) */
	int log_level;          /* log-level = info (error|warn|info|debug) */
};

/* Fills c with the defaults. Cannot fail. */
void settings_defaults(struct settings *c);
/* Applies one "key = value" setting. Returns 0, or -1 with a reason in err
 * (unknown key, bad value, a key or password file that cannot be read or
 * is empty, or a key that fails auth_key_check, with the option and the
 * file named). A file setting reads its file now: the file's contents, not
 * its name, are kept; token-issuer parses its keys now too (at_issuers),
 * and on failure adds nothing. */
int settings_set(struct settings *c, const char *key, const char *value,
	       char *err, size_t errlen);
/* Reads a config file. Returns 0, or -1 with "path:line: reason" in err. */
int settings_load_file(struct settings *c, const char *path, char *err, size_t errlen);
/* Parses argv: -c/--config FILE first (loaded before the other options),
 * then --key value or --key=value for every key above, -h/--help,
 * -V/--version. Returns 0 to run, 1 when help or version was printed (exit
 * 0), -1 with a reason in err. */
int settings_parse_args(struct settings *c, int argc, char **argv, char *err,
		      size_t errlen);
/* Frees the strings (the Redis password zeroed first); c is left zeroed. */
void settings_free(struct settings *c);
/* Prints the usage text to f. */
void settings_usage(void *f);

#endif
