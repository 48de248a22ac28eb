/* ctl_request.h -- control requests as typed structures. The rules of
 * ctl_proto.h (which fields a request type takes and how often, their
 * sizes and forms) live here once: hubd decodes each request into its
 * structure and checks it with them; its clients fill the same structure,
 * check it with the same function and encode it. Pure: no I/O, no
 * logging. Any thread (nothing shared). */
#ifndef HUBD_CTL_REQUEST_H
#define HUBD_CTL_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctl_proto.h"
#include "msg.h"
#include "util.h"

#define CTL_MATCHER_MAX_LEN 2048    /* a topic selector or matcher, bytes */
#define CTL_MATCHERS_MAX MSG_MAX_TOPICS /* matchers in one subscribe */
#define CTL_ID_MAX_LEN 1024         /* an update id, Last-Event-ID */
#define CTL_TYPE_MAX_LEN 256        /* an update's type */
#define CTL_CLIENT_ADDR_MAX_LEN 64
#define CTL_ORIGIN_MAX_LEN 512
#define CTL_COOKIE_MAX_LEN 8192
#define CTL_HUB_URL_MAX_LEN 1024

/* Checks the structure of m: every field is one its type takes, as often
 * as the type takes it, u32 fields are 4 bytes, and only a SUBSCRIBE
 * carries a descriptor. Returns 0, or -1 with the reason in err (hubd
 * answers 400 and closes the peer). */
int ctl_request_check(const struct ctl_msg *m, char *err, size_t errlen);

/* What a request says of its HTTP client's authorization: the token as
 * the client sent it (it may hold a NUL byte from a query's %00, for hubd
 * to refuse), where it was, and the Origin header. */
struct ctl_credentials {
	char *token;        /* malloc'ed, or NULL: none */
	size_t token_len;
	uint32_t source;    /* CTL_AUTH_*, with a token */
	char *origin;       /* malloc'ed, or NULL: none */
	char *cookie;       /* the Cookie header, malloc'ed, or NULL: none sent
			     * (only without an Authorization header) */
	char *hub_url;      /* the hub's URL as the request reached it, or NULL */
};

/* One subscription matcher, and the protocol it belongs to. */
enum ctl_matcher_kind {
	CTL_MATCHER_TOPIC,      /* draft-07 topic selector (TOPIC) */
	CTL_MATCHER_EXACT,      /* draft-08 exact matcher (MATCH_EXACT) */
	CTL_MATCHER_URLPATTERN, /* draft-08 URL pattern (MATCH_URLPATTERN) */
};

struct ctl_matcher {
	enum ctl_matcher_kind kind;
	char *text; /* malloc'ed, NUL-terminated */
};

/* CTL_SUBSCRIBE. */
struct ctl_subscribe {
	int fd;                      /* the client connection, or -1 */
	uint32_t mode;               /* CTL_MODE_FCGI or CTL_MODE_CGI */
	uint16_t fcgi_request_id;    /* FastCGI mode; 1 by default */
	uint32_t stream_opts;        /* CTL_STREAM_* */
	struct ctl_matcher matchers[CTL_MATCHERS_MAX];
	int nmatchers;
	char *last_event_id;         /* malloc'ed, or NULL: none sent */
	char *client_addr;           /* malloc'ed, or NULL */
	struct ctl_credentials cred;
};

/* True when s speaks draft-08 (its matchers are match* ones). */
bool ctl_subscribe_is_draft08(const struct ctl_subscribe *s);

/* Adds a matcher (text copied, n bytes). Returns 0, or -1 when s holds
 * CTL_MATCHERS_MAX already. */
int ctl_subscribe_add_matcher(struct ctl_subscribe *s, enum ctl_matcher_kind kind,
			      const char *text, size_t n);

/* Checks the values of s: 1..CTL_MATCHERS_MAX matchers of one protocol,
 * each 1..CTL_MATCHER_MAX_LEN bytes without NUL (draft-08 ones also
 * valid UTF-8 without control or format characters), a Last-Event-ID and
 * a client address of one line within their limits, the mode and stream
 * options known. Returns 0, or 400 with the reason in err. */
int ctl_subscribe_check(const struct ctl_subscribe *s, char *err, size_t errlen);

/* Decodes a SUBSCRIBE that passed ctl_request_check into *out (zeroed
 * first), taking m's descriptor. Returns 0; -1 when it is malformed in
 * structure (no descriptor, a bad mode or FastCGI request id: hubd answers
 * 400 and closes the peer); or 400 with the reason in err for a bad value
 * (ctl_subscribe_check). *out is filled as far as it got either way: the
 * caller clears it. */
int ctl_subscribe_decode(struct ctl_msg *m, struct ctl_subscribe *out, char *err,
			 size_t errlen);

/* Appends the fields of s (not its descriptor, which travels beside
 * them) to p. Cannot fail. */
void ctl_subscribe_encode(const struct ctl_subscribe *s, struct buf *p);

/* Frees what s holds and closes its descriptor; s is left zeroed, fd -1. */
void ctl_subscribe_clear(struct ctl_subscribe *s);

/* The topics of a PUBLISH or a HISTORY: 1..MSG_MAX_TOPICS strings of
 * 1..CTL_MATCHER_MAX_LEN bytes without NUL (a publish's first is its
 * canonical topic; a history request's are topic selectors). */
struct ctl_topics {
	char *v[MSG_MAX_TOPICS]; /* malloc'ed */
	int n;
};

/* Adds a topic (n bytes, copied). Returns 0, or -1 when t holds
 * MSG_MAX_TOPICS already. */
int ctl_topics_add(struct ctl_topics *t, const char *text, size_t n);

/* CTL_PUBLISH. */
struct ctl_publish {
	struct ctl_topics topics;
	char *data;                   /* malloc'ed (may hold any byte), or NULL */
	size_t data_len;
	char *id;                     /* malloc'ed, or NULL: the hub makes one */
	char *type;                   /* malloc'ed, or NULL */
	bool has_retry;
	uint32_t retry_ms;
	bool priv;
	bool http;                    /* came over HTTP: a publisher token is due */
	struct ctl_credentials cred;
};

/* Checks the values of p: its topics; an id of one line, 1..CTL_ID_MAX_LEN
 * bytes, not starting with '#'; a type of one line, 1..CTL_TYPE_MAX_LEN
 * bytes; data of at most max_data bytes. Returns 0, 413 (data) or 400,
 * with the reason in err. */
int ctl_publish_check(const struct ctl_publish *p, size_t max_data, char *err, size_t errlen);

/* Decodes a PUBLISH that passed ctl_request_check into *out (zeroed
 * first) and checks it (max_data as above). Returns 0, 400 or 413 with the
 * reason in err; *out is filled as far as it got: the caller clears it. */
int ctl_publish_decode(const struct ctl_msg *m, struct ctl_publish *out, size_t max_data,
		       char *err, size_t errlen);

/* Appends the fields of p to b. Cannot fail. */
void ctl_publish_encode(const struct ctl_publish *p, struct buf *b);

/* Frees what p holds; p is left zeroed. */
void ctl_publish_clear(struct ctl_publish *p);

/* CTL_HISTORY. */
struct ctl_history {
	struct ctl_topics topics;     /* topic selectors */
	char *after;                  /* malloc'ed update id, or NULL: from the oldest */
	uint32_t limit;               /* 0: hubd's history-limit */
	bool http;                    /* came over HTTP: the token decides */
	struct ctl_credentials cred;
};

/* Checks the values of h: its topics, and an after of one line,
 * 1..CTL_ID_MAX_LEN bytes. Returns 0, or 400 with the reason in err. */
int ctl_history_check(const struct ctl_history *h, char *err, size_t errlen);
/* Decodes a HISTORY that passed ctl_request_check into *out (zeroed
 * first) and checks it. Returns 0, or 400; the caller clears *out. */
int ctl_history_decode(const struct ctl_msg *m, struct ctl_history *out, char *err,
		       size_t errlen);
/* Appends the fields of h to b. Cannot fail. */
void ctl_history_encode(const struct ctl_history *h, struct buf *b);
/* Frees what h holds; h is left zeroed. */
void ctl_history_clear(struct ctl_history *h);

/* CTL_SUBSCRIPTIONS: the path segments after /subscriptions, decoded
 * (draft-07: topic, subscriber; draft-08: match_type, match, subscriber). */
struct ctl_subscriptions {
	char *topic;                  /* malloc'ed first segment, or NULL: all */
	char *subscriber;             /* malloc'ed second, or NULL; only with a topic */
	char *third;                  /* malloc'ed third, or NULL; only after both */
	bool http;
	struct ctl_credentials cred;
};

/* Checks the values of s: a topic of 1..CTL_MATCHER_MAX_LEN bytes, a
 * subscriber only with a topic, of 1..CTL_MATCHER_MAX_LEN bytes (a draft-08
 * matcher), a third only after both, of one line, 1..CTL_ID_MAX_LEN bytes.
 * Returns 0, or 400 with the reason in err. */
int ctl_subscriptions_check(const struct ctl_subscriptions *s, char *err, size_t errlen);
/* Decodes a SUBSCRIPTIONS that passed ctl_request_check into *out (zeroed
 * first) and checks it. Returns 0, or 400; the caller clears *out. */
int ctl_subscriptions_decode(const struct ctl_msg *m, struct ctl_subscriptions *out,
			     char *err, size_t errlen);
/* Appends the fields of s to b. Cannot fail. */
void ctl_subscriptions_encode(const struct ctl_subscriptions *s, struct buf *b);
/* Frees what s holds; s is left zeroed. */
void ctl_subscriptions_clear(struct ctl_subscriptions *s);

/* Decodes m's AUTH, AUTH_SOURCE, ORIGIN, COOKIE and HUB_URL into *out
 * (zeroed first; an origin, cookie or hub URL that is not printable text
 * within its limit is taken as none). Cannot fail. */
void ctl_credentials_decode(const struct ctl_msg *m, struct ctl_credentials *out);
/* Appends c's fields to p. Cannot fail. */
void ctl_credentials_encode(const struct ctl_credentials *c, struct buf *p);
/* Frees what c holds; c is left zeroed. */
void ctl_credentials_clear(struct ctl_credentials *c);

#endif
