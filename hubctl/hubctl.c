/* hubctl.c -- hubd's local administration tool: publish, read history and
 * statistics over the control socket, and mint tokens: draft-07 JWTs (HS256
 * or RS256) and Mercure 1.0 access tokens (token --at). */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <jwt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "at_mint.h"
#include "ctl_client.h"
#include "ctl_proto.h"
#include "ctl_request.h"
#include "jws.h"
#include "utf8.h"
#include "util.h"

#define DEFAULT_SOCKET "/run/hubd/hubd.sock"
#define TIMEOUT_MS 30000
#define MAX_TOPICS 64

enum { EXIT_HUB_ERROR = 1, EXIT_USAGE = 2, EXIT_UNREACHABLE = 3 };

static const char *sock_path = DEFAULT_SOCKET;

static const char usage_main[] =
	"usage: hubctl [-s SOCKET] COMMAND [OPTIONS]\n"
	"\n"
	"Commands:\n"
	"  publish   publish an update; prints its id\n"
	"  history   print retained updates as JSON\n"
	"  stats     print hubd's counters as JSON\n"
	"  token     print a JWT (HS256 or RS256) for publishers or subscribers;\n"
	"            with --at, a Mercure 1.0 access token\n"
	"\n"
	"Options:\n"
	"  -s, --socket SOCKET  hubd's control socket (default: $HUBD_SOCKET,\n"
	"                       else " DEFAULT_SOCKET ")\n"
	"  -h, --help           show this help ('hubctl COMMAND --help' for a command)\n"
	"  -V, --version        show the version\n"
	"\n"
	"Exit status: 0 ok, 1 hubd answered an error, 2 usage, 3 hubd unreachable.\n";

static const char usage_publish[] =
	"usage: hubctl publish -t TOPIC [-t TOPIC...] [-d DATA | -d - | -f FILE]\n"
	"                      [--id ID] [--type TYPE] [--retry MS] [--private]\n"
	"\n"
	"Publishes one update and prints the id hubd gave it.\n"
	"  -t, --topic TOPIC  a topic of the update (repeatable; the first is canonical)\n"
	"  -d, --data DATA    the update's data; '-' reads it from standard input\n"
	"  -f, --file FILE    read the data from FILE\n"
	"      --id ID        the update's id (default: hubd makes one)\n"
	"      --type TYPE    the SSE event type\n"
	"      --retry MS     the SSE reconnection time in milliseconds\n"
	"      --private      only subscribers authorised for a topic receive it\n";

static const char usage_history[] =
	"usage: hubctl history -t TOPIC [-t TOPIC...] [--after ID] [--limit N]\n"
	"\n"
	"Prints the retained updates of the topics (selectors) as a JSON array.\n"
	"When more follow, the id to pass as --after is printed on stderr.\n"
	"  -t, --topic TOPIC  a topic selector (repeatable)\n"
	"  -a, --after ID     start after the update with this id\n"
	"  -n, --limit N      at most N updates (hubd caps it)\n";

static const char usage_stats[] =
	"usage: hubctl stats\n"
	"\n"
	"Prints hubd's counters as a JSON object.\n";

static const char usage_token[] =
	"usage: hubctl token [--key KEY | --private-key-file PEM] [--publish SEL...]\n"
	"                    [--subscribe SEL...] [--payload JSON] [--exp SECONDS]\n"
	"\n"
	"Prints a JWT with the claim\n"
	"{\"mercure\":{\"publish\":[...],\"subscribe\":[...]}}.\n"
	"  -k, --key KEY        sign HS256 with this secret (default: $HUBD_JWT_KEY)\n"
	"  -K, --private-key-file PEM\n"
	"                       sign RS256 with this RSA private key instead\n"
	"  -P, --payload JSON   mercure.payload (any JSON value)\n"
	"  -p, --publish SEL    a topic selector the bearer may publish to (repeatable)\n"
	"  -S, --subscribe SEL  a topic selector for private updates (repeatable)\n"
	"  -e, --exp SECONDS    expire this many seconds from now (default: never)\n"
	"\n"
	"hubctl token --at ... prints a Mercure 1.0 access token instead (see\n"
	"'hubctl token --at --help').\n";

static const char usage_token_at[] =
	"usage: hubctl token --at --issuer ISS --audience AUD --key-file FILE\n"
	"                    [--alg ALG] [--kid KID] [--publish MATCH...]\n"
	"                    [--publish-urlpattern PATTERN...] [--subscribe MATCH...]\n"
	"                    [--subscribe-urlpattern PATTERN...] [--payload JSON]\n"
	"                    [--sub SUB] [--client-id ID] [--ttl SECONDS]\n"
	"\n"
	"Prints a Mercure 1.0 access token (RFC 9068, typ at+jwt) with iss, aud,\n"
	"sub, client_id, iat, exp, jti and authorization_details: one detail for\n"
	"the publish matchers, one for the subscribe matchers (with the payload).\n"
	"  -i, --issuer ISS     the iss claim: an issuer hubd trusts (token-issuer)\n"
	"  -a, --audience AUD   the aud claim: the hub's resource identifier\n"
	"                       (repeatable: an array)\n"
	"  -f, --key-file FILE  a PEM private key (RSA: RS256, EC P-256: ES256,\n"
	"                       Ed25519: EdDSA) or an HS256 secret of 32 bytes or more\n"
	"      --alg ALG        fail unless the key signs with ALG (RS256, ES256,\n"
	"                       EdDSA, HS256)\n"
	"      --kid KID        the kid header, naming the key to hubd\n"
	"  -p, --publish MATCH  an exact topic matcher to publish to (repeatable;\n"
	"                       * for every topic)\n"
	"      --publish-urlpattern PATTERN\n"
	"                       a URL Pattern matcher to publish to (repeatable)\n"
	"  -S, --subscribe MATCH, --subscribe-urlpattern PATTERN\n"
	"                       the same for private updates to receive\n"
	"  -P, --payload JSON   a JSON object for the subscribe detail\n"
	"      --sub SUB        the sub claim (default: a random urn:uuid)\n"
	"      --client-id ID   the client_id claim (default: the issuer)\n"
	"  -e, --ttl SECONDS    expire this many seconds from now (default: 3600)\n";

/* Replaces *dst with a copy of s (NULL: none). */
static void set_text(char **dst, const char *s)
{
	free(*dst);
	*dst = s ? xstrdup(s) : NULL;
}

static int usage_error(const char *usage, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int usage_error(const char *usage, const char *fmt, ...)
{
	if (fmt) {
		va_list ap;
		va_start(ap, fmt);
		fputs("hubctl: ", stderr);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
		va_end(ap);
	}
	fputs(usage, stderr);
	return EXIT_USAGE;
}

/* Reads all of f into b. Returns false (errno set) on a read error or
 * when more than max bytes come. */
static bool read_all(FILE *f, struct buf *b, size_t max)
{
	char tmp[65536];
	size_t n;
	while ((n = fread(tmp, 1, sizeof tmp, f)) > 0) {
		if (b->len + n > max) {
			errno = EFBIG;
			return false;
		}
		buf_add(b, tmp, n);
	}
	return !ferror(f);
}

/* Writes n bytes to stdout, then a newline unless they end in one. */
static void print_body(const char *p, size_t n)
{
	fwrite(p, 1, n, stdout);
	if (n == 0 || p[n - 1] != '\n')
		fputc('\n', stdout);
}

/* Sends one request and waits for its reply. Returns 0 with the reply in
 * *reply (type CTL_OK), or the exit status after printing why. */
static int call(uint16_t type, const struct buf *payload, struct ctl_msg *reply)
{
	char why[256];
	enum ctl_client_result res =
		ctl_client_call(sock_path, type, payload->p, payload->len, -1, TIMEOUT_MS,
				reply, why, sizeof why);
	if (res != CTL_CLIENT_OK) {
		fprintf(stderr, "hubctl: %s\n", why);
		return EXIT_UNREACHABLE;
	}
	if (reply->type == CTL_OK)
		return 0;
	const struct ctl_field *m = ctl_find(reply, CTL_T_MESSAGE);
	char *msg = m ? ctl_field_str(m) : xstrdup("");
	for (char *c = msg; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = ' ';
	fprintf(stderr, "hubctl: hubd answered %u: %s\n",
		(unsigned)ctl_client_status(reply), msg);
	free(msg);
	ctl_msg_clear(reply);
	return EXIT_HUB_ERROR;
}

static int cmd_publish(int argc, char **argv)
{
	enum { O_ID = 256, O_TYPE, O_RETRY, O_PRIVATE };
	static const struct option opts[] = {
		{"topic", required_argument, NULL, 't'},
		{"data", required_argument, NULL, 'd'},
		{"file", required_argument, NULL, 'f'},
		{"id", required_argument, NULL, O_ID},
		{"type", required_argument, NULL, O_TYPE},
		{"retry", required_argument, NULL, O_RETRY},
		{"private", no_argument, NULL, O_PRIVATE},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	struct buf p = {0}, data = {0};
	struct ctl_publish pub = {0};
	const char *data_arg = NULL, *file = NULL;
	uint64_t retry = 0;
	int c, rc;
	char why[200];
	while ((c = getopt_long(argc, argv, "t:d:f:h", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			if (ctl_topics_add(&pub.topics, optarg, strlen(optarg)) < 0) {
				rc = usage_error(usage_publish, "give 1 to %d topics with -t", MAX_TOPICS);
				goto out;
			}
			break;
		case 'd': data_arg = optarg; break;
		case 'f': file = optarg; break;
		case O_ID: set_text(&pub.id, optarg); break;
		case O_TYPE: set_text(&pub.type, optarg); break;
		case O_RETRY:
			if (!parse_digits(optarg, UINT32_MAX, &retry)) {
				rc = usage_error(usage_publish, "--retry takes milliseconds");
				goto out;
			}
			pub.has_retry = true;
			pub.retry_ms = (uint32_t)retry;
			break;
		case O_PRIVATE: pub.priv = true; break;
		case 'h':
			fputs(usage_publish, stdout);
			rc = 0;
			goto out;
		default:
			rc = usage_error(usage_publish, NULL);
			goto out;
		}
	}
	if (optind < argc) {
		rc = usage_error(usage_publish, "unexpected argument: %s", argv[optind]);
		goto out;
	}
	if (data_arg && file) {
		rc = usage_error(usage_publish, "give either -d or -f, not both");
		goto out;
	}
	/* hubd's own checks (its data limit aside): a clear message here. */
	if (ctl_publish_check(&pub, SIZE_MAX, why, sizeof why)) {
		rc = usage_error(usage_publish, "%s", why);
		goto out;
	}
	if (file || (data_arg && strcmp(data_arg, "-") == 0)) {
		FILE *f = file ? fopen(file, "rb") : stdin;
		const char *name = file ? file : "standard input";
		if (!f) {
			fprintf(stderr, "hubctl: %s: %s\n", name, strerror(errno));
			rc = EXIT_HUB_ERROR;
			goto out;
		}
		bool ok = read_all(f, &data, CTL_PAYLOAD_MAX / 2);
		int e = errno;
		if (file)
			fclose(f);
		if (!ok) {
			fprintf(stderr, "hubctl: %s: %s\n", name, strerror(e));
			rc = EXIT_HUB_ERROR;
			goto out;
		}
		pub.data = buf_steal(&data, &pub.data_len);
		if (!pub.data)
			pub.data = xstrdup("");
	} else if (data_arg) {
		set_text(&pub.data, data_arg);
		pub.data_len = strlen(data_arg);
	}
	ctl_publish_encode(&pub, &p);

	struct ctl_msg reply;
	rc = call(CTL_PUBLISH, &p, &reply);
	if (rc == 0) {
		const struct ctl_field *f = ctl_find(&reply, CTL_T_ID);
		if (f) {
			print_body(f->val, f->len);
		} else {
			fprintf(stderr, "hubctl: hubd acknowledged without an id\n");
			rc = EXIT_UNREACHABLE;
		}
		ctl_msg_clear(&reply);
	}
out:
	ctl_publish_clear(&pub);
	buf_free(&p);
	buf_free(&data);
	return rc;
}

static int cmd_history(int argc, char **argv)
{
	static const struct option opts[] = {
		{"topic", required_argument, NULL, 't'},
		{"after", required_argument, NULL, 'a'},
		{"since", required_argument, NULL, 'a'},
		{"limit", required_argument, NULL, 'n'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	struct buf p = {0};
	struct ctl_history h = {0};
	uint64_t limit = 0;
	int c, rc;
	char why[200];
	while ((c = getopt_long(argc, argv, "t:a:n:h", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			if (ctl_topics_add(&h.topics, optarg, strlen(optarg)) < 0) {
				rc = usage_error(usage_history, "give 1 to %d topics with -t", MAX_TOPICS);
				goto out;
			}
			break;
		case 'a': set_text(&h.after, *optarg ? optarg : NULL); break;
		case 'n':
			if (!parse_digits(optarg, UINT32_MAX, &limit)) {
				rc = usage_error(usage_history, "--limit takes a number");
				goto out;
			}
			h.limit = (uint32_t)limit;
			break;
		case 'h':
			fputs(usage_history, stdout);
			rc = 0;
			goto out;
		default:
			rc = usage_error(usage_history, NULL);
			goto out;
		}
	}
	if (optind < argc) {
		rc = usage_error(usage_history, "unexpected argument: %s", argv[optind]);
		goto out;
	}
	if (ctl_history_check(&h, why, sizeof why)) {
		rc = usage_error(usage_history, "%s", why);
		goto out;
	}
	ctl_history_encode(&h, &p);

	struct ctl_msg reply;
	rc = call(CTL_HISTORY, &p, &reply);
	if (rc == 0) {
		const struct ctl_field *body = ctl_find(&reply, CTL_T_BODY);
		const struct ctl_field *next = ctl_find(&reply, CTL_T_NEXT);
		print_body(body ? body->val : "[]", body ? body->len : 2);
		if (next) {
			char *s = ctl_field_str(next);
			fflush(stdout);
			fprintf(stderr, "next: %s\n", s);
			free(s);
		}
		ctl_msg_clear(&reply);
	}
out:
	ctl_history_clear(&h);
	buf_free(&p);
	return rc;
}

static int cmd_stats(int argc, char **argv)
{
	static const struct option opts[] = {
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'h') {
			fputs(usage_stats, stdout);
			return 0;
		}
		return usage_error(usage_stats, NULL);
	}
	if (optind < argc)
		return usage_error(usage_stats, "unexpected argument: %s", argv[optind]);
	struct buf p = {0};
	struct ctl_msg reply;
	int rc = call(CTL_STATS, &p, &reply);
	if (rc == 0) {
		const struct ctl_field *body = ctl_find(&reply, CTL_T_BODY);
		print_body(body ? body->val : "{}", body ? body->len : 2);
		ctl_msg_clear(&reply);
	}
	return rc;
}

/* Appends s to arr as a JSON string; false when s is not valid UTF-8. */
static bool add_selector(json_t *arr, const char *s)
{
	json_t *v = json_string(s);
	if (!v)
		return false;
	json_array_append_new(arr, v);
	return true;
}

/* Reads a signing key from path: a PEM private key kept byte for byte, or
 * an HS256 secret with its trailing newlines dropped. NULL after saying
 * why. */
static struct jws_key *read_signing_key(const char *path)
{
	FILE *f = fopen(path, "rb");
	struct buf b = {0};
	char why[256];
	if (!f || !read_all(f, &b, 1024 * 1024) || b.len == 0) {
		fprintf(stderr, "hubctl: cannot read %s: %s\n", path,
			f && b.len == 0 && !ferror(f) ? "empty file" : strerror(errno));
		if (f)
			fclose(f);
		buf_free(&b);
		return NULL;
	}
	fclose(f);
	if (!memmem(b.p, b.len, "-----BEGIN", 10))
		while (b.len > 0 && (b.p[b.len - 1] == '\n' || b.p[b.len - 1] == '\r'))
			b.p[--b.len] = '\0';
	struct jws_key *k = jws_key_private_new(b.p, b.len, why, sizeof why);
	explicit_bzero(b.p, b.len);
	buf_free(&b);
	if (!k)
		fprintf(stderr, "hubctl: %s: %s\n", path, why);
	return k;
}

/* Adds match of type to list (n entries, at most AT_TOPICS_MAX), after the
 * checks hubd makes on it. Returns false after saying why. */
static bool add_matcher(struct at_mint_topic *list, size_t *n, enum at_match_type type,
			const char *match)
{
	char why[128];
	if (*n == AT_TOPICS_MAX) {
		usage_error(usage_token_at, "at most %d publish and %d subscribe matchers",
			    AT_TOPICS_MAX, AT_TOPICS_MAX);
		return false;
	}
	if (!*match || strlen(match) > AT_MATCH_MAX ||
	    !utf8_matcher_ok(match, strlen(match), why, sizeof why)) {
		usage_error(usage_token_at, "matcher \"%s\": %s", match,
			    *match && strlen(match) <= AT_MATCH_MAX ? why : "1 to 2048 bytes");
		return false;
	}
	list[(*n)++] = (struct at_mint_topic){type, match};
	return true;
}

/* hubctl token --at: a Mercure 1.0 access token. */
static int cmd_token_at(int argc, char **argv)
{
	enum { O_AT = 256, O_ALG, O_KID, O_PUB_UP, O_SUB_UP, O_SUB, O_CLIENT };
	static const struct option opts[] = {
		{"at", no_argument, NULL, O_AT},
		{"issuer", required_argument, NULL, 'i'},
		{"audience", required_argument, NULL, 'a'},
		{"key-file", required_argument, NULL, 'f'},
		{"alg", required_argument, NULL, O_ALG},
		{"kid", required_argument, NULL, O_KID},
		{"publish", required_argument, NULL, 'p'},
		{"publish-urlpattern", required_argument, NULL, O_PUB_UP},
		{"subscribe", required_argument, NULL, 'S'},
		{"subscribe-urlpattern", required_argument, NULL, O_SUB_UP},
		{"payload", required_argument, NULL, 'P'},
		{"sub", required_argument, NULL, O_SUB},
		{"client-id", required_argument, NULL, O_CLIENT},
		{"ttl", required_argument, NULL, 'e'},
		{"exp", required_argument, NULL, 'e'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	static struct at_mint_topic pub[AT_TOPICS_MAX], sub[AT_TOPICS_MAX];
	const char *aud[16];
	const char *key_file = NULL, *alg_name = NULL;
	struct at_mint m = {.publish = pub, .subscribe = sub, .aud = aud, .ttl_s = 3600};
	uint64_t ttl;
	int c;
	while ((c = getopt_long(argc, argv, "i:a:f:p:S:P:e:h", opts, NULL)) != -1) {
		switch (c) {
		case O_AT: break;
		case 'i': m.iss = optarg; break;
		case 'a':
			if (m.naud == sizeof aud / sizeof aud[0])
				return usage_error(usage_token_at, "at most 16 audiences");
			aud[m.naud++] = optarg;
			break;
		case 'f': key_file = optarg; break;
		case O_ALG: alg_name = optarg; break;
		case O_KID: m.kid = optarg; break;
		case 'p':
		case O_PUB_UP:
			if (!add_matcher(pub, &m.npublish, c == 'p' ? AT_MATCH_EXACT : AT_MATCH_URLPATTERN,
					 optarg))
				return EXIT_USAGE;
			break;
		case 'S':
		case O_SUB_UP:
			if (!add_matcher(sub, &m.nsubscribe, c == 'S' ? AT_MATCH_EXACT : AT_MATCH_URLPATTERN,
					 optarg))
				return EXIT_USAGE;
			break;
		case 'P': m.payload = optarg; break;
		case O_SUB: m.sub = optarg; break;
		case O_CLIENT: m.client_id = optarg; break;
		case 'e':
			if (!parse_digits(optarg, (uint64_t)INT32_MAX * 100, &ttl) || ttl == 0)
				return usage_error(usage_token_at, "--ttl takes a positive number of seconds");
			m.ttl_s = (int64_t)ttl;
			break;
		case 'h':
			fputs(usage_token_at, stdout);
			return 0;
		default:
			return usage_error(usage_token_at, NULL);
		}
	}
	if (optind < argc)
		return usage_error(usage_token_at, "unexpected argument: %s", argv[optind]);
	if (!m.iss || !*m.iss || m.naud == 0 || !key_file)
		return usage_error(usage_token_at, "give --issuer, --audience and --key-file");
	if (m.payload && m.nsubscribe == 0)
		return usage_error(usage_token_at, "--payload goes with --subscribe");
	enum jws_alg want;
	if (alg_name && !jws_alg_from_name(alg_name, &want))
		return usage_error(usage_token_at, "--alg takes RS256, ES256, EdDSA or HS256");
	struct jws_key *key = read_signing_key(key_file);
	if (!key)
		return EXIT_HUB_ERROR;
	int rc = 0;
	char why[256];
	char *tok = NULL;
	m.now_s = (int64_t)time(NULL);
	if (alg_name && jws_key_alg(key) != want) {
		fprintf(stderr, "hubctl: %s signs with %s, not %s\n", key_file,
			jws_alg_name(jws_key_alg(key)), alg_name);
		rc = EXIT_USAGE;
	} else if (!(tok = at_mint_sign(&m, key, why, sizeof why))) {
		fprintf(stderr, "hubctl: could not make the token: %s\n", why);
		rc = EXIT_HUB_ERROR;
	} else {
		printf("%s\n", tok);
	}
	free(tok);
	jws_key_free(key);
	return rc;
}

static int cmd_token(int argc, char **argv)
{
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (strcmp(argv[i], "--at") == 0)
			return cmd_token_at(argc, argv);

	static const struct option opts[] = {
		{"key", required_argument, NULL, 'k'},
		{"private-key-file", required_argument, NULL, 'K'},
		{"payload", required_argument, NULL, 'P'},
		{"publish", required_argument, NULL, 'p'},
		{"subscribe", required_argument, NULL, 'S'},
		{"exp", required_argument, NULL, 'e'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const char *key = getenv("HUBD_JWT_KEY");
	const char *pem_file = NULL;
	char *pem = NULL;
	size_t pem_len = 0;
	json_t *claims = json_object();
	json_t *mercure = json_object();
	json_t *pub = json_array(), *sub = json_array();
	json_object_set_new(mercure, "publish", pub);
	json_object_set_new(mercure, "subscribe", sub);
	json_object_set_new(claims, "mercure", mercure);
	uint64_t exp = 0;
	bool has_exp = false;
	int c, rc = 0;
	jwt_t *jwt = NULL;
	char *grants = NULL, *token = NULL;
	while ((c = getopt_long(argc, argv, "k:K:P:p:S:e:h", opts, NULL)) != -1) {
		switch (c) {
		case 'k': key = optarg; break;
		case 'K': pem_file = optarg; break;
		case 'P': {
			json_t *v = json_loads(optarg, JSON_DECODE_ANY, NULL);
			if (!v) {
				rc = usage_error(usage_token, "--payload is not valid JSON");
				goto out;
			}
			json_object_set_new(mercure, "payload", v);
			break;
		}
		case 'p':
		case 'S':
			if (!add_selector(c == 'p' ? pub : sub, optarg)) {
				rc = usage_error(usage_token, "selector is not valid UTF-8");
				goto out;
			}
			break;
		case 'e':
			if (!parse_digits(optarg, (uint64_t)INT32_MAX * 100, &exp)) {
				rc = usage_error(usage_token, "--exp takes a number of seconds");
				goto out;
			}
			has_exp = true;
			break;
		case 'h':
			fputs(usage_token, stdout);
			goto out;
		default:
			rc = usage_error(usage_token, NULL);
			goto out;
		}
	}
	if (optind < argc) {
		rc = usage_error(usage_token, "unexpected argument: %s", argv[optind]);
		goto out;
	}
	if (pem_file) {
		FILE *f = fopen(pem_file, "r");
		struct buf b = {0};
		char chunk[4096];
		size_t n;
		while (f && (n = fread(chunk, 1, sizeof chunk, f)) > 0 && b.len < 1024 * 1024)
			buf_add(&b, chunk, n);
		if (f)
			fclose(f);
		if (!f || b.len == 0) {
			buf_free(&b);
			fprintf(stderr, "hubctl: cannot read %s\n", pem_file);
			rc = EXIT_USAGE;
			goto out;
		}
		pem = buf_steal(&b, &pem_len);
	} else if (!key || !*key) {
		rc = usage_error(usage_token, "no key: give --key or set HUBD_JWT_KEY");
		goto out;
	}
	if (has_exp)
		json_object_set_new(claims, "exp",
				    json_integer((json_int_t)time(NULL) + (json_int_t)exp));
	grants = json_dumps(claims, JSON_COMPACT);
	if (!grants || jwt_new(&jwt) != 0 || jwt_add_grants_json(jwt, grants) != 0 ||
	    (pem ? jwt_set_alg(jwt, JWT_ALG_RS256, (const unsigned char *)pem, (int)pem_len)
		 : jwt_set_alg(jwt, JWT_ALG_HS256, (const unsigned char *)key, (int)strlen(key))) != 0 ||
	    !(token = jwt_encode_str(jwt))) {
		fprintf(stderr, "hubctl: could not make the token\n");
		rc = EXIT_HUB_ERROR;
		goto out;
	}
	printf("%s\n", token);
out:
	free(token);
	free(grants);
	free(pem);
	jwt_free(jwt);
	json_decref(claims);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"socket", required_argument, NULL, 's'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{0},
	};
	const char *env = getenv("HUBD_SOCKET");
	if (env && *env)
		sock_path = env;
	int c;
	while ((c = getopt_long(argc, argv, "+s:hV", opts, NULL)) != -1) {
		switch (c) {
		case 's': sock_path = optarg; break;
		case 'h': fputs(usage_main, stdout); return 0;
		case 'V': printf("hubctl %s\n", PACKAGE_VERSION); return 0;
		default: return usage_error(usage_main, NULL);
		}
	}
	if (optind >= argc)
		return usage_error(usage_main, "no command given");
	const char *cmd = argv[optind];
	int sub_argc = argc - optind;
	char **sub_argv = argv + optind;
	optind = 0; /* restart getopt for the command's options */

	int rc;
	if (strcmp(cmd, "publish") == 0)
		rc = cmd_publish(sub_argc, sub_argv);
	else if (strcmp(cmd, "history") == 0)
		rc = cmd_history(sub_argc, sub_argv);
	else if (strcmp(cmd, "stats") == 0)
		rc = cmd_stats(sub_argc, sub_argv);
	else if (strcmp(cmd, "token") == 0)
		rc = cmd_token(sub_argc, sub_argv);
	else if (strcmp(cmd, "help") == 0) {
		fputs(usage_main, stdout);
		rc = 0;
	} else
		rc = usage_error(usage_main, "unknown command: %s", cmd);
	if (fflush(stdout) != 0 && rc == 0) {
		fprintf(stderr, "hubctl: writing output: %s\n", strerror(errno));
		rc = EXIT_HUB_ERROR;
	}
	return rc;
}
