/* handover.c -- encoding and checked decoding of a stream's hand-over
 * record (see handover.h). Host byte order: both ends run on one machine.
 *
 *   u8 phase, u8 mode, u16 request_id, u8 flags (HV_F_*),
 *   i64 resume_after, i64 idle_ms, i64 end_s,
 *   six optional strings: last_event_id, extra_headers, subscriber_id,
 *     payload, addr_key, token_key -- each u32 (length + 1; 0: none),
 *     then the bytes,
 *   u32 nmatchers, each: u8 syntax, u8 allowed (0/1), u32 length, bytes,
 *   u32 carry length, the carry's bytes.
 * Nothing may follow. */
#include "config.h"

#include "handover.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_proto.h"
#include "match.h"

#define HV_F_NO_X_ACCEL 0x1
#define HV_F_PROBE_TWICE 0x2
#define HV_F_DRAFT08 0x4
#define HV_F_CARRY_ENDS 0x8
#define HV_F_ALL 0xf

/* ---- writing ---------------------------------------------------------- */

static void put(struct buf *b, const void *p, size_t n)
{
	buf_add(b, p, n);
}

static void put_u32(struct buf *b, uint32_t v)
{
	put(b, &v, sizeof v);
}

static void put_i64(struct buf *b, int64_t v)
{
	put(b, &v, sizeof v);
}

static void put_opt_str(struct buf *b, const char *s)
{
	if (!s) {
		put_u32(b, 0);
		return;
	}
	size_t n = strlen(s);
	put_u32(b, (uint32_t)n + 1);
	put(b, s, n);
}

void handover_stream_encode(const struct handover_stream *st, struct buf *out)
{
	uint8_t head[5] = {st->phase, st->mode, 0, 0, 0};
	memcpy(head + 2, &st->request_id, sizeof st->request_id);
	head[4] = (uint8_t)((st->no_x_accel ? HV_F_NO_X_ACCEL : 0) |
			    (st->probe_twice ? HV_F_PROBE_TWICE : 0) |
			    (st->draft08 ? HV_F_DRAFT08 : 0) | (st->carry_ends ? HV_F_CARRY_ENDS : 0));
	put(out, head, sizeof head);
	put_i64(out, st->resume_after);
	put_i64(out, st->idle_ms);
	put_i64(out, st->end_s);
	put_opt_str(out, st->last_event_id);
	put_opt_str(out, st->extra_headers);
	put_opt_str(out, st->subscriber_id);
	put_opt_str(out, st->payload);
	put_opt_str(out, st->addr_key);
	put_opt_str(out, st->token_key);
	put_u32(out, (uint32_t)st->nmatchers);
	for (int i = 0; i < st->nmatchers; i++) {
		const struct handover_matcher *m = &st->matchers[i];
		uint8_t kind[2] = {m->syntax, m->allowed ? 1 : 0};
		put(out, kind, sizeof kind);
		put_u32(out, (uint32_t)strlen(m->text));
		put(out, m->text, strlen(m->text));
	}
	put_u32(out, (uint32_t)st->carry.len);
	put(out, st->carry.p ? st->carry.p : "", st->carry.len);
}

/* ---- reading ------------------------------------------------------------ */

struct reader {
	const char *p;
	size_t left;
	const char *fail; /* the first problem, or NULL */
};

static bool take(struct reader *r, void *out, size_t n, const char *what)
{
	if (r->fail)
		return false;
	if (r->left < n) {
		r->fail = what;
		return false;
	}
	memcpy(out, r->p, n);
	r->p += n;
	r->left -= n;
	return true;
}

/* n bytes as a NUL-terminated malloc'ed string; NUL inside is an error. */
static char *take_text(struct reader *r, size_t n, const char *what)
{
	if (r->fail)
		return NULL;
	if (r->left < n || memchr(r->p, '\0', n)) {
		r->fail = what;
		return NULL;
	}
	char *s = xmemdup(r->p, n);
	r->p += n;
	r->left -= n;
	return s;
}

static char *take_opt_str(struct reader *r, const char *what)
{
	uint32_t n1 = 0;
	if (!take(r, &n1, sizeof n1, what) || n1 == 0)
		return NULL;
	return take_text(r, n1 - 1, what);
}

void handover_stream_add_matcher(struct handover_stream *st, uint8_t syntax, bool allowed,
				 const char *text)
{
	st->matchers = xrealloc(st->matchers, (size_t)(st->nmatchers + 1) * sizeof *st->matchers);
	st->matchers[st->nmatchers++] =
		(struct handover_matcher){.syntax = syntax, .allowed = allowed, .text = xstrdup(text)};
}

int handover_stream_decode(const char *p, size_t len, struct handover_stream *st, char *err,
			   size_t errlen)
{
	memset(st, 0, sizeof *st);
	struct reader r = {.p = p, .left = len};
	uint8_t head[5];
	int64_t when[3];
	if (take(&r, head, sizeof head, "header") && take(&r, when, sizeof when, "times")) {
		st->phase = head[0];
		st->mode = head[1];
		memcpy(&st->request_id, head + 2, sizeof st->request_id);
		st->no_x_accel = head[4] & HV_F_NO_X_ACCEL;
		st->probe_twice = head[4] & HV_F_PROBE_TWICE;
		st->draft08 = head[4] & HV_F_DRAFT08;
		st->carry_ends = head[4] & HV_F_CARRY_ENDS;
		st->resume_after = when[0];
		st->idle_ms = when[1];
		st->end_s = when[2];
		if (st->phase < HANDOVER_NOT_STARTED || st->phase > HANDOVER_ENDING)
			r.fail = "phase";
		else if (st->mode != CTL_MODE_FCGI && st->mode != CTL_MODE_CGI)
			r.fail = "mode";
		else if (head[4] & ~HV_F_ALL)
			r.fail = "flags";
		else if (st->resume_after < 0 || st->idle_ms < 0 || st->end_s < 0)
			r.fail = "times";
	}
	st->last_event_id = take_opt_str(&r, "last_event_id");
	st->extra_headers = take_opt_str(&r, "extra_headers");
	st->subscriber_id = take_opt_str(&r, "subscriber_id");
	st->payload = take_opt_str(&r, "payload");
	st->addr_key = take_opt_str(&r, "addr_key");
	st->token_key = take_opt_str(&r, "token_key");
	uint32_t n = 0;
	if (take(&r, &n, sizeof n, "matcher count") && (n == 0 || n > HANDOVER_MATCHERS_MAX))
		r.fail = "matcher count";
	bool grants = false; /* topic matchers first, then grants */
	for (uint32_t i = 0; i < n && !r.fail; i++) {
		uint8_t kind[2];
		uint32_t tlen = 0;
		if (!take(&r, kind, sizeof kind, "matcher") || !take(&r, &tlen, sizeof tlen, "matcher"))
			break;
		if (kind[0] > MATCH_URLPATTERN || kind[1] > 1 || tlen == 0 || (grants && !kind[1])) {
			r.fail = "matcher";
			break;
		}
		grants |= kind[1];
		char *text = take_text(&r, tlen, "matcher");
		if (!text)
			break;
		st->matchers = xrealloc(st->matchers, (size_t)(st->nmatchers + 1) * sizeof *st->matchers);
		st->matchers[st->nmatchers++] = (struct handover_matcher){
			.syntax = kind[0], .allowed = kind[1], .text = text};
	}
	uint32_t clen = 0;
	if (take(&r, &clen, sizeof clen, "carry")) {
		if (r.left < clen)
			r.fail = "carry";
		else
			buf_add(&st->carry, r.p, clen);
		if (!r.fail) {
			r.p += clen;
			r.left -= clen;
		}
	}
	if (!r.fail && r.left)
		r.fail = "trailing bytes";
	if (!r.fail && st->nmatchers > 0 && st->matchers[0].allowed)
		r.fail = "no topic matcher";
	if (r.fail) {
		snprintf(err, errlen, "malformed stream record (%s)", r.fail);
		return -1;
	}
	return 0;
}

void handover_stream_clear(struct handover_stream *st)
{
	free(st->last_event_id);
	free(st->extra_headers);
	free(st->subscriber_id);
	free(st->payload);
	free(st->addr_key);
	free(st->token_key);
	for (int i = 0; i < st->nmatchers; i++)
		free(st->matchers[i].text);
	free(st->matchers);
	buf_free(&st->carry);
	memset(st, 0, sizeof *st);
}
