/* settings.c -- hubd's settings from defaults, a config file and argv. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <event2/util.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "settings.h"
#include "access_token.h"
#include "auth.h"
#include "jws.h"
#include "log.h"
#include "store/redis.h"
#include "utf8.h"
#include "util.h"




/* Frees a secret string, zeroing it first. NULL is a no-op. */
static void free_secret(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

void settings_defaults(struct settings *c)
{
	memset(c, 0, sizeof *c);
	c->socket_path = xstrdup("/run/hubd/hubd.sock");
	c->socket_mode = 0660;
	c->store = SETTINGS_STORE_SQLITE;
	c->db_path = xstrdup("/var/lib/hubd/hubd.db");
	c->sync_full = true;
	c->redis_address = xstrdup("127.0.0.1:6379");
	c->redis_prefix = xstrdup("hubd");
	c->redis_db = 0;
	c->redis_wait_replicas = 0;
	c->redis_wait_timeout_ms = 1000;
	c->heartbeat_s = 20;
	c->stall_timeout_s = 30;
	c->retry_lo_ms = 1000;
	c->retry_hi_ms = 5000;
	c->retain_count = 100000;
	c->retain_age_s = 7 * 24 * 3600;
	c->max_queue = 1024 * 1024;
	c->max_update = 1024 * 1024;
	c->history_limit = 1000;
	c->max_subscribers = 100000;
	c->token_algs = JWS_ALGS_ALL;
	c->token_cookie = xstrdup("__Secure-mercure_access_token");
	c->allow_anonymous = true;
	c->draft07 = true;
	c->log_level = LOG_INFO;
}

void settings_free(struct settings *c)
{
	free(c->socket_path);
	free(c->socket_group);
	free(c->db_path);
	free(c->redis_address);
	free(c->redis_prefix);
	free_secret(c->redis_password);
	free(c->publisher_key);
	free(c->subscriber_key);
	at_issuers_free(c->token_issuers);
	free(c->resource);
	free(c->token_cookie);
	free(c->pidfile);
	free(c->cors_origins);
	free(c->publish_origins);
	free(c->publish_listen);
	memset(c, 0, sizeof *c);
}

/* publish-listen: a numeric IPv4 address or an IPv6 one in brackets, and a
 * port: 127.0.0.1:3001, [::1]:3001. */
static int check_listen_address(const char *v, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	int len = (int)sizeof ss;
	if (evutil_parse_sockaddr_port(v, (struct sockaddr *)&ss, &len) < 0 ||
	    !strchr(v, ':') || (ss.ss_family == AF_INET && !((struct sockaddr_in *)&ss)->sin_port) ||
	    (ss.ss_family == AF_INET6 && !((struct sockaddr_in6 *)&ss)->sin6_port)) {
		snprintf(err, errlen,
			 "publish-listen: expected ADDRESS:PORT (127.0.0.1:3001 or [::1]:3001), got \"%s\"",
			 v);
		return -1;
	}
	return 0;
}

static void set_str(char **dst, const char *v)
{
	free(*dst);
	*dst = xstrdup(v);
}

static int parse_bool(const char *v, bool *out)
{
	if (!strcasecmp(v, "yes") || !strcasecmp(v, "true") || !strcasecmp(v, "on") || !strcmp(v, "1"))
		*out = true;
	else if (!strcasecmp(v, "no") || !strcasecmp(v, "false") || !strcasecmp(v, "off") || !strcmp(v, "0"))
		*out = false;
	else
		return -1;
	return 0;
}

#define KEY_FILE_MAX (1024 * 1024)
#define PASSWORD_FILE_MAX 4096

/* Reads the whole file at path, at most max bytes, into *b (empty on
 * entry; the caller frees it). what names the file in errors ("key file").
 * Returns 0, or -1 with a reason naming the file in err (b freed) when the
 * file cannot be read, is larger than max, or holds a NUL byte (the
 * contents are used as a C string, so they would be cut short there). */
static int read_small_file(const char *path, const char *what, size_t max, struct buf *b,
			   char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		snprintf(err, errlen, "cannot open %s %s: %s", what, path, strerror(errno));
		return -1;
	}
	char chunk[4096];
	size_t n;
	bool too_big = false;
	while (!too_big && (n = fread(chunk, 1, sizeof chunk, f)) > 0) {
		if (b->len + n > max)
			too_big = true;
		else
			buf_add(b, chunk, n);
	}
	int read_errno = ferror(f) ? errno : 0;
	fclose(f);
	bool has_nul = b->len > 0 && memchr(b->p, '\0', b->len);
	if (!read_errno && !too_big && !has_nul)
		return 0;
	if (read_errno)
		snprintf(err, errlen, "cannot read %s %s: %s", what, path, strerror(read_errno));
	else if (too_big)
		snprintf(err, errlen, "%s %s is larger than %zu bytes", what, path, max);
	else
		snprintf(err, errlen, "%s %s holds a NUL byte", what, path);
	buf_free(b);
	return -1;
}

/* Drops trailing newlines (LF or CRLF) from b. */
static void strip_newlines(struct buf *b)
{
	while (b->len > 0 && (b->p[b->len - 1] == '\n' || b->p[b->len - 1] == '\r'))
		b->p[--b->len] = '\0';
}

/* Reads the whole key file at path into a new string (the caller frees it).
 * A PEM file (one that starts with "-----BEGIN") is kept byte for byte;
 * trailing newlines are dropped from anything else, an HS256 secret.
 * Returns NULL with a reason naming the file in err when the file cannot be
 * read, is empty, is larger than KEY_FILE_MAX, or holds a NUL byte. */
static char *read_key_file(const char *path, char *err, size_t errlen)
{
	struct buf b = {0};
	if (read_small_file(path, "key file", KEY_FILE_MAX, &b, err, errlen) < 0)
		return NULL;
	if (b.len < 10 || memcmp(b.p, "-----BEGIN", 10) != 0)
		strip_newlines(&b);
	if (b.len == 0) {
		buf_free(&b);
		snprintf(err, errlen, "key file %s is empty", path);
		return NULL;
	}
	return buf_steal(&b, NULL);
}

/* Reads the Redis password from the file at path into a new string (the
 * caller frees it), trailing newlines dropped. Returns NULL with a reason
 * naming key and the file in err when the file cannot be read, is empty
 * (or only newlines), is larger than PASSWORD_FILE_MAX, or holds a NUL
 * byte. */
static char *read_password_file(const char *key, const char *path, char *err, size_t errlen)
{
	struct buf b = {0};
	char why[512];
	if (read_small_file(path, "password file", PASSWORD_FILE_MAX, &b, why, sizeof why) < 0) {
		snprintf(err, errlen, "%s: %s", key, why);
		return NULL;
	}
	strip_newlines(&b);
	if (b.len == 0) {
		buf_free(&b);
		snprintf(err, errlen, "%s: password file %s is empty", key, path);
		return NULL;
	}
	return buf_steal(&b, NULL);
}

#define TOKEN_ISSUER_KEYS_MAX 16 /* key files on one token-issuer line */

/* token-issuer = ISSUER [KID=]KEYFILE...: reads each key file (a PEM public
 * key or an HS256 secret, as read_key_file reads it) and adds the issuer
 * with its keys to c->token_issuers, or nothing. A KEYFILE of the form
 * KID=PATH (no '/' before the '=') gives the key a kid. */
static int set_token_issuer(struct settings *c, const char *value, char *err, size_t errlen)
{
	char *copy = xstrdup(value), *save = NULL, why[512];
	const char *iss = strtok_r(copy, " \t", &save);
	struct at_issuers *line = at_issuers_new();
	int nkeys = 0, rc = -1;
	if (!iss) {
		snprintf(err, errlen, "token-issuer: expected ISSUER KEYFILE [KEYFILE...]");
		goto out;
	}
	if (at_issuers_add(line, iss, why, sizeof why) < 0) {
		snprintf(err, errlen, "token-issuer: %s", why);
		goto out;
	}
	for (char *arg; (arg = strtok_r(NULL, " \t", &save)); nkeys++) {
		char *eq = strchr(arg, '='), *slash = strchr(arg, '/');
		const char *kid = NULL, *path = arg;
		if (eq && (!slash || eq < slash)) {
			*eq = '\0';
			kid = arg;
			path = eq + 1;
		}
		if (nkeys == TOKEN_ISSUER_KEYS_MAX || !*path || (kid && !*kid)) {
			snprintf(err, errlen, "token-issuer: %s: expected at most %d key files, each "
					      "PATH or KID=PATH", iss, TOKEN_ISSUER_KEYS_MAX);
			goto out;
		}
		char *key = read_key_file(path, why, sizeof why);
		if (!key) {
			snprintf(err, errlen, "token-issuer: %s: %s", iss, why);
			goto out;
		}
		int added = at_issuers_add_key(line, iss, key, strlen(key), kid, why, sizeof why);
		explicit_bzero(key, strlen(key));
		free(key);
		if (added < 0) {
			snprintf(err, errlen, "token-issuer: %s: %s: %s", iss, path, why);
			goto out;
		}
	}
	if (nkeys == 0) {
		snprintf(err, errlen, "token-issuer: %s: no key file (ISSUER KEYFILE [KEYFILE...])", iss);
		goto out;
	}
	if (!c->token_issuers)
		c->token_issuers = at_issuers_new();
	rc = at_issuers_merge(c->token_issuers, line, why, sizeof why);
	line = NULL;
	if (rc < 0)
		snprintf(err, errlen, "token-issuer: %s", why);
out:
	at_issuers_free(line);
	free(copy);
	return rc;
}

/* resource: empty (derived from the request), or an absolute URI without
 * a fragment (RFC 8707 section 2) of printable characters. */
static int check_resource(const char *v, char *err, size_t errlen)
{
	char why[128];
	size_t n = strlen(v), scheme = 0;
	if (n == 0)
		return 0;
	while (scheme < n && (isalpha((unsigned char)v[scheme]) ||
			      (scheme > 0 && (isdigit((unsigned char)v[scheme]) || strchr("+-.", v[scheme])))))
		scheme++;
	bool ok = scheme > 0 && v[scheme] == ':' && !strchr(v, '#') && !strpbrk(v, " \t") &&
		  utf8_matcher_ok(v, n, why, sizeof why);
	if (!ok) {
		snprintf(err, errlen, "resource: expected an absolute URL without a fragment, such as "
				      "https://hub.example.com/.well-known/mercure, got \"%s\"", v);
		return -1;
	}
	return 0;
}

/* token-cookie: a cookie name, 1 to 128 token characters (RFC 6265). */
static int check_cookie_name(const char *v, char *err, size_t errlen)
{
	size_t n = strlen(v);
	bool ok = n >= 1 && n <= 128;
	for (size_t i = 0; ok && i < n; i++)
		ok = isalnum((unsigned char)v[i]) || strchr("!#$%&'*+-.^_`|~", v[i]);
	if (!ok) {
		snprintf(err, errlen, "token-cookie: expected a cookie name (letters, digits and "
				      "!#$%%&'*+-.^_`|~), got \"%s\"", v);
		return -1;
	}
	return 0;
}

/* redis: an address the Redis store takes (store_redis_address_check). */
static int check_redis_address(const char *v, char *err, size_t errlen)
{
	char why[256];
	if (store_redis_address_check(v, why, sizeof why))
		return 0;
	snprintf(err, errlen, "redis: %s", why);
	return -1;
}

/* redis-prefix: 1 to 64 of [A-Za-z0-9_.:-]. */
static int check_redis_prefix(const char *v, char *err, size_t errlen)
{
	size_t n = strlen(v);
	bool ok = n >= 1 && n <= 64;
	for (size_t i = 0; ok && i < n; i++)
		ok = isalnum((unsigned char)v[i]) || strchr("_.:-", v[i]);
	if (!ok) {
		snprintf(err, errlen,
			 "redis-prefix: expected 1 to 64 letters, digits or _ . : -, got \"%s\"", v);
		return -1;
	}
	return 0;
}

/* Parses value as a whole number in [lo, hi] into *n. */
static int parse_num(const char *key, const char *value, uint64_t lo,
		     uint64_t hi, uint64_t *n, char *err, size_t errlen)
{
	if (!parse_digits(value, hi, n) || *n < lo) {
		snprintf(err, errlen, "%s: expected a number from %llu to %llu, got \"%s\"",
			 key, (unsigned long long)lo, (unsigned long long)hi, value);
		return -1;
	}
	return 0;
}

int settings_set(struct settings *c, const char *key, const char *value,
	       char *err, size_t errlen)
{
	uint64_t n;

	if (!strcmp(key, "socket")) {
		if (strlen(value) >= 108 || !*value) {
			snprintf(err, errlen, "socket: path must be 1 to 107 bytes");
			return -1;
		}
		set_str(&c->socket_path, value);
	} else if (!strcmp(key, "socket-mode")) {
		char *end;
		errno = 0;
		unsigned long m = strtoul(value, &end, 8);
		if (!*value || *end || errno || m > 0777) {
			snprintf(err, errlen, "socket-mode: expected octal like 0660, got \"%s\"", value);
			return -1;
		}
		c->socket_mode = (unsigned)m;
	} else if (!strcmp(key, "socket-group")) {
		set_str(&c->socket_group, value);
	} else if (!strcmp(key, "store")) {
		if (!strcmp(value, "sqlite"))
			c->store = SETTINGS_STORE_SQLITE;
		else if (!strcmp(value, "redis"))
			c->store = SETTINGS_STORE_REDIS;
		else {
			snprintf(err, errlen, "store: expected sqlite or redis, got \"%s\"", value);
			return -1;
		}
	} else if (!strcmp(key, "db")) {
		set_str(&c->db_path, value);
	} else if (!strcmp(key, "redis")) {
		if (check_redis_address(value, err, errlen) < 0)
			return -1;
		set_str(&c->redis_address, value);
	} else if (!strcmp(key, "redis-prefix")) {
		if (check_redis_prefix(value, err, errlen) < 0)
			return -1;
		set_str(&c->redis_prefix, value);
	} else if (!strcmp(key, "redis-db")) {
		if (parse_num(key, value, 0, 1000000, &n, err, errlen) < 0)
			return -1;
		c->redis_db = (int)n;
	} else if (!strcmp(key, "redis-password-file")) {
		char *pw = read_password_file(key, value, err, errlen);
		if (!pw)
			return -1;
		free_secret(c->redis_password);
		c->redis_password = pw;
	} else if (!strcmp(key, "redis-password")) {
		/* On a command line it would be visible in ps. */
		snprintf(err, errlen, "redis-password: not accepted inline; put the password in a file "
				      "and give redis-password-file");
		return -1;
	} else if (!strcmp(key, "redis-wait-replicas")) {
		if (parse_num(key, value, 0, 64, &n, err, errlen) < 0)
			return -1;
		c->redis_wait_replicas = (int)n;
	} else if (!strcmp(key, "redis-wait-timeout")) {
		if (parse_num(key, value, 1, 60000, &n, err, errlen) < 0)
			return -1;
		c->redis_wait_timeout_ms = (int)n;
	} else if (!strcmp(key, "sync")) {
		if (!strcmp(value, "full"))
			c->sync_full = true;
		else if (!strcmp(value, "normal"))
			c->sync_full = false;
		else {
			snprintf(err, errlen, "sync: expected full or normal, got \"%s\"", value);
			return -1;
		}
	} else if (!strcmp(key, "heartbeat")) {
		if (parse_num(key, value, 1, 3600, &n, err, errlen) < 0)
			return -1;
		c->heartbeat_s = (int)n;
	} else if (!strcmp(key, "stall-timeout")) {
		if (parse_num(key, value, 1, 3600, &n, err, errlen) < 0)
			return -1;
		c->stall_timeout_s = (int)n;
	} else if (!strcmp(key, "max-stream-lifetime")) {
		if (parse_num(key, value, 0, 31536000, &n, err, errlen) < 0)
			return -1;
		c->max_lifetime_s = (int)n;
	} else if (!strcmp(key, "max-streams-per-token")) {
		if (parse_num(key, value, 0, 10000000, &n, err, errlen) < 0)
			return -1;
		c->max_per_token = (int)n;
	} else if (!strcmp(key, "max-streams-per-client")) {
		if (parse_num(key, value, 0, 10000000, &n, err, errlen) < 0)
			return -1;
		c->max_per_client = (int)n;
	} else if (!strcmp(key, "retry")) {
		uint64_t lo, hi;
		if (!parse_range(value, 3600000, &lo, &hi)) {
			snprintf(err, errlen,
				 "retry: expected milliseconds LO-HI or N, at most 3600000, got \"%s\"",
				 value);
			return -1;
		}
		c->retry_lo_ms = (uint32_t)lo;
		c->retry_hi_ms = (uint32_t)hi;
	} else if (!strcmp(key, "retention-count")) {
		if (parse_num(key, value, 0, INT64_MAX, &n, err, errlen) < 0)
			return -1;
		c->retain_count = (int64_t)n;
	} else if (!strcmp(key, "retention-age")) {
		if (parse_num(key, value, 0, INT64_MAX / 1000, &n, err, errlen) < 0)
			return -1;
		c->retain_age_s = (int64_t)n;
	} else if (!strcmp(key, "max-queue")) {
		if (parse_num(key, value, 4096, (uint64_t)1 << 32, &n, err, errlen) < 0)
			return -1;
		c->max_queue = (size_t)n;
	} else if (!strcmp(key, "max-update-size")) {
		if (parse_num(key, value, 1, 16u * 1024 * 1024, &n, err, errlen) < 0)
			return -1;
		c->max_update = (size_t)n;
	} else if (!strcmp(key, "history-limit")) {
		if (parse_num(key, value, 1, 100000, &n, err, errlen) < 0)
			return -1;
		c->history_limit = (int)n;
	} else if (!strcmp(key, "max-subscribers")) {
		if (parse_num(key, value, 1, 10000000, &n, err, errlen) < 0)
			return -1;
		c->max_subscribers = (int)n;
	} else if (!strcmp(key, "publisher-key") || !strcmp(key, "subscriber-key")) {
		if (!*value) {
			snprintf(err, errlen, "%s: empty key", key);
			return -1;
		}
		char why[256];
		if (auth_key_check(value, strlen(value), why, sizeof why) < 0) {
			snprintf(err, errlen, "%s: %s", key, why);
			return -1;
		}
		set_str(key[0] == 'p' ? &c->publisher_key : &c->subscriber_key, value);
	} else if (!strcmp(key, "publisher-key-file") || !strcmp(key, "subscriber-key-file")) {
		char *k = read_key_file(value, err, errlen);
		if (!k)
			return -1;
		char why[256];
		if (auth_key_check(k, strlen(k), why, sizeof why) < 0) {
			snprintf(err, errlen, "%s: %s: %s", key, value, why);
			free(k);
			return -1;
		}
		char **dst = key[0] == 'p' ? &c->publisher_key : &c->subscriber_key;
		free(*dst);
		*dst = k;
	} else if (!strcmp(key, "token-issuer")) {
		if (set_token_issuer(c, value, err, errlen) < 0)
			return -1;
	} else if (!strcmp(key, "token-algorithms")) {
		char why[256];
		if (jws_algs_parse(value, &c->token_algs, why, sizeof why) < 0) {
			snprintf(err, errlen, "token-algorithms: %s", why);
			return -1;
		}
	} else if (!strcmp(key, "resource")) {
		if (check_resource(value, err, errlen) < 0)
			return -1;
		free(c->resource);
		c->resource = *value ? xstrdup(value) : NULL;
	} else if (!strcmp(key, "token-cookie")) {
		if (check_cookie_name(value, err, errlen) < 0)
			return -1;
		set_str(&c->token_cookie, value);
	} else if (!strcmp(key, "anonymous")) {
		if (parse_bool(value, &c->allow_anonymous) < 0) {
			snprintf(err, errlen, "anonymous: expected yes or no, got \"%s\"", value);
			return -1;
		}
	} else if (!strcmp(key, "draft-07")) {
		if (parse_bool(value, &c->draft07) < 0) {
			snprintf(err, errlen, "draft-07: expected yes or no, got \"%s\"", value);
			return -1;
		}
	} else if (!strcmp(key, "subscriptions")) {
		if (parse_bool(value, &c->subscriptions) < 0) {
			snprintf(err, errlen, "subscriptions: expected yes or no, got \"%s\"", value);
			return -1;
		}
	} else if (!strcmp(key, "cors-origins") || !strcmp(key, "publish-origins")) {
		for (const char *p = value; *p; p++) {
			if ((unsigned char)*p < 0x20 || *p == 0x7f) {
				snprintf(err, errlen, "%s: control character in the origin list", key);
				return -1;
			}
		}
		set_str(key[0] == 'c' ? &c->cors_origins : &c->publish_origins, value);
	} else if (!strcmp(key, "publish-listen")) {
		if (check_listen_address(value, err, errlen) < 0)
			return -1;
		set_str(&c->publish_listen, value);
	} else if (!strcmp(key, "pidfile")) {
		set_str(&c->pidfile, value);
	} else if (!strcmp(key, "log-level")) {
		int l = log_level_from_name(value);
		if (l < 0) {
			snprintf(err, errlen, "log-level: expected error, warn, info or debug, got \"%s\"", value);
			return -1;
		}
		c->log_level = l;
	} else {
		snprintf(err, errlen, "unknown setting \"%s\"", key);
		return -1;
	}
	return 0;
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

int settings_load_file(struct settings *c, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	char line[4096], sub[512];
	int lineno = 0, rc = 0;
	while (fgets(line, sizeof line, f)) {
		lineno++;
		if (!strchr(line, '\n') && !feof(f)) {
			snprintf(err, errlen, "%s:%d: line too long", path, lineno);
			rc = -1;
			break;
		}
		char *hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		char *s = trim(line);
		if (!*s)
			continue;
		char *eq = strchr(s, '=');
		if (!eq) {
			snprintf(err, errlen, "%s:%d: expected \"key = value\"", path, lineno);
			rc = -1;
			break;
		}
		*eq = '\0';
		if (settings_set(c, trim(s), trim(eq + 1), sub, sizeof sub) < 0) {
			snprintf(err, errlen, "%s:%d: %s", path, lineno, sub);
			rc = -1;
			break;
		}
	}
	fclose(f);
	return rc;
}

void settings_usage(void *fp)
{
	FILE *f = fp;
	fprintf(f,
		"usage: hubd [-c FILE] [--KEY VALUE ...]\n"
		"Server-Sent Events hub (Mercure protocol) behind lighttpd or Apache.\n\n"
		"  -c, --config FILE          read settings from FILE (key = value lines)\n"
		"  --socket PATH              control socket (/run/hubd/hubd.sock)\n"
		"  --socket-mode MODE         its permissions, octal (0660)\n"
		"  --socket-group GROUP       its group (the web server's)\n"
		"  --store sqlite|redis       where updates are kept: SQLite, one node, or\n"
		"                             Redis, shared by several nodes (sqlite)\n"
		"  --db PATH                  SQLite database (/var/lib/hubd/hubd.db)\n"
		"  --sync full|normal         SQLite synchronous mode (full)\n"
		"  --redis ADDRESS            Redis: HOST:PORT, HOST or /SOCKET (127.0.0.1:6379)\n"
		"  --redis-prefix PREFIX      prefix of hubd's Redis keys (hubd)\n"
		"  --redis-db N               Redis database number (0)\n"
		"  --redis-password-file FILE Redis AUTH password, read from FILE (none)\n"
		"  --redis-wait-replicas N    acknowledge a publish once N replicas have it (0)\n"
		"  --redis-wait-timeout MS    ... waiting at most this long for them (1000)\n"
		"  --heartbeat SECONDS        every stream is written this often, at least:\n"
		"                             keeps proxies open, notices departed clients (20)\n"
		"  --stall-timeout SECONDS    cut a stream whose output does not move (30)\n"
		"  --retry LO-HI              ms; each stream opens with a retry: in it (1000-5000)\n"
		"  --retention-count N        updates kept at most, 0 = no cap (100000)\n"
		"  --retention-age SECONDS    updates kept at most this long, 0 = forever (604800)\n"
		"  --max-queue BYTES          bytes queued per stream before it is cut (1048576)\n"
		"  --max-update-size BYTES    largest update data accepted (1048576)\n"
		"  --history-limit N          most updates per history page (1000)\n"
		"  --max-subscribers N        open streams at most (100000)\n"
		"  --max-streams-per-client N open streams per client address, 0 = no cap (0)\n"
		"  --max-streams-per-token N  open streams per token, 0 = no cap (0)\n"
		"  --max-stream-lifetime SECONDS  end each stream cleanly after 90-100%% of\n"
		"                             this, 0 = never (0): clients reconnect\n"
		"  --publisher-key KEY        HS256 secret for publisher JWTs\n"
		"  --publisher-key-file FILE  ... read from FILE, or an RSA public key (PEM): RS256\n"
		"  --subscriber-key KEY       HS256 secret for subscriber JWTs\n"
		"  --subscriber-key-file FILE ... read from FILE, or an RSA public key (PEM): RS256\n"
		"  --token-issuer 'ISS FILE...' a Mercure 1.0 token issuer and its key files\n"
		"                             (PEM public keys or HS256 secrets; KID=FILE\n"
		"                             names a key); repeat for more issuers\n"
		"  --token-algorithms LIST    algorithms taken (RS256,ES256,EdDSA,HS256)\n"
		"  --resource URL             the hub's resource identifier, the tokens' aud\n"
		"                             (none: derived from the request)\n"
		"  --token-cookie NAME        cookie holding the access token\n"
		"                             (__Secure-mercure_access_token)\n"
		"  --anonymous yes|no         allow subscribers without a JWT (yes)\n"
		"  --cors-origins 'O1 O2'     origins allowed cross-origin (or *; none)\n"
		"  --publish-origins 'O1 O2'  origins allowed to publish with cookie auth (none)\n"
		"  --subscriptions yes|no     the subscriptions API and its events (no)\n"
		"  --draft-07 yes|no          also serve Mercure draft-07 clients (yes)\n"
		"  --publish-listen ADDR:PORT also take publishes over HTTP here, directly (off)\n"
		"  --pidfile FILE             write the process id here\n"
		"  --log-level LEVEL          error, warn, info or debug (info)\n"
		"  -h, --help                 this text\n"
		"  -V, --version              the version\n");
}

int settings_parse_args(struct settings *c, int argc, char **argv, char *err,
		      size_t errlen)
{
	/* The config file first, so that the command line wins. */
	for (int i = 1; i < argc; i++) {
		const char *file = NULL;
		if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) && i + 1 < argc)
			file = argv[++i];
		else if (!strncmp(argv[i], "--config=", 9))
			file = argv[i] + 9;
		if (file && settings_load_file(c, file, err, errlen) < 0)
			return -1;
	}
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			settings_usage(stdout);
			return 1;
		}
		if (!strcmp(a, "-V") || !strcmp(a, "--version")) {
			printf("hubd %s\n", PACKAGE_VERSION);
			return 1;
		}
		if (!strcmp(a, "-c") || !strcmp(a, "--config")) {
			i++;
			continue;
		}
		if (!strncmp(a, "--config=", 9))
			continue;
		if (strncmp(a, "--", 2) != 0 || !a[2]) {
			snprintf(err, errlen, "unexpected argument \"%s\" (try --help)", a);
			return -1;
		}
		char key[64];
		const char *value;
		const char *eq = strchr(a + 2, '=');
		size_t klen = eq ? (size_t)(eq - (a + 2)) : strlen(a + 2);
		if (klen >= sizeof key) {
			snprintf(err, errlen, "unknown option \"%s\"", a);
			return -1;
		}
		memcpy(key, a + 2, klen);
		key[klen] = '\0';
		if (eq) {
			value = eq + 1;
		} else if (i + 1 < argc) {
			value = argv[++i];
		} else {
			snprintf(err, errlen, "option --%s needs a value", key);
			return -1;
		}
		if (settings_set(c, key, value, err, errlen) < 0)
			return -1;
	}
	return 0;
}
