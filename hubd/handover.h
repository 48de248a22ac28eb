/* handover.h -- the hand-over format: what one hubd tells the hubd that
 * takes over from it (a live upgrade) about each open stream, so that the
 * new one goes on writing the same response on the same descriptor with
 * nothing lost, repeated or reordered. The descriptor itself travels
 * beside the record (SCM_RIGHTS, ctl_send_fds); this is the state that
 * goes with it. doc/control-protocol.md describes the encoding; bump
 * HANDOVER_VERSION when it changes, and keep decoding the versions a hubd
 * may take over from. Pure: no I/O. Any thread. */
#ifndef HUBD_HANDOVER_H
#define HUBD_HANDOVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* The version of the format this hubd writes and reads. */
#define HANDOVER_VERSION 1

/* Where a stream stands. */
enum handover_phase {
	HANDOVER_NOT_STARTED = 1, /* waiting for its replay's first page: no
				   * byte of the response written or queued */
	HANDOVER_STREAMING = 2,   /* the response is under way: resume it
				   * after resume_after */
	HANDOVER_ENDING = 3,      /* the end of the response is due: write the
				   * carry, then the end (unless carried) */
};

/* One matcher of the stream's rules: enum match_syntax and its text. */
struct handover_matcher {
	uint8_t syntax;
	bool allowed; /* a token's grant (for private updates), not a topic matcher */
	char *text;   /* malloc'ed */
};

#define HANDOVER_MATCHERS_MAX 1024 /* topic matchers and grants, together */

struct handover_stream {
	uint8_t phase;          /* enum handover_phase */
	uint8_t mode;           /* CTL_MODE_FCGI or CTL_MODE_CGI */
	uint16_t request_id;    /* FastCGI request id */
	bool no_x_accel, probe_twice, draft08;
	bool carry_ends;        /* the carry holds the response's end */
	int64_t resume_after;   /* STREAMING: the position after which the
				 * stream takes updates again (the store's
				 * order, msg.seq) */
	int64_t idle_ms;        /* since its last write */
	int64_t end_s;          /* when it ends (token exp, lifetime); 0: never */
	char *last_event_id;    /* NOT_STARTED: what the client asked for
				 * ("earliest": all), or NULL */
	char *extra_headers;    /* NOT_STARTED: header lines still to send, or NULL */
	char *subscriber_id;    /* subscriptions API id, or NULL */
	char *payload;          /* its token's payload JSON, or NULL */
	char *addr_key;         /* its entry under max-streams-per-client, or NULL */
	char *token_key;        /* ... under max-streams-per-token, or NULL */
	struct handover_matcher *matchers; /* topic matchers first, then grants */
	int nmatchers;
	struct buf carry;       /* framed bytes to write before anything else */
};

/* Appends st's record to out. Cannot fail. */
void handover_stream_encode(const struct handover_stream *st, struct buf *out);
/* Decodes one record (p, len) into st (zeroed first; handover_stream_clear
 * it either way). Checks every length against the record, the phase and
 * mode values, the matcher count and that every text is a string without
 * NUL. Returns 0, or -1 with the reason in err. */
int handover_stream_decode(const char *p, size_t len, struct handover_stream *st, char *err,
			   size_t errlen);
/* Adds a matcher (text copied). */
void handover_stream_add_matcher(struct handover_stream *st, uint8_t syntax, bool allowed,
				 const char *text);
/* Frees what st holds; st is left zeroed. */
void handover_stream_clear(struct handover_stream *st);

#endif
