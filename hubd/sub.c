/* sub.c -- subscriber streams: output queue, limits, close detection. */
#include "config.h"

#include "sub.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ctl_proto.h"
#include "fcgi_record.h"
#include "hub.h"
#include "log.h"
#include "match.h"
#include "msg.h"
#include "settings.h"
#include "sse.h"
#include "topic.h"
#include "util.h"

/* Watches the stream's descriptor in the hub's epoll set (hub_watch_fd),
 * which the event loop sees as one event: a libevent event per stream cost
 * some 190 bytes of hubd's memory per idle stream (the event, its entry in
 * libevent's descriptor map and their allocation overhead), about a
 * quarter of all hubd spent on one. Level-triggered, as libevent was:
 * FastCGI mode reads, to notice the server closing the connection; write
 * interest only while output waits.
 *
 * CGI mode asks for no read interest at all: the fd may read EOF from the
 * start (Apache mod_cgid shuts its write side of the CGI's socket at once),
 * so reading tells nothing. epoll reports a hang-up or an error whatever
 * was asked for, which is what matters: EPOLLHUP on mod_cgid's socket and
 * EPOLLERR on lighttpd's pipe when the server closes its end; otherwise a
 * departed client behind mod_cgid is noticed only at the heartbeat after
 * the one that made Apache give up: three heartbeats. Returns -1 with
 * errno when epoll refuses (out of memory, fs.epoll.max_user_watches). */
static int sub_arm(struct sub *s, bool want_write)
{
	if (s->watched && s->want_write == want_write)
		return 0;
	struct epoll_event ev = {.events = s->mode == CTL_MODE_FCGI ? EPOLLIN : 0, .data.ptr = s};
	if (want_write)
		ev.events |= EPOLLOUT;
	if (epoll_ctl(hub_watch_fd(s->hub), s->watched ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, s->fd,
		      &ev) < 0)
		return -1;
	s->watched = true;
	s->want_write = want_write;
	return 0;
}

/* The stream's socket keeps the kernel's default send buffer
 * (net.core.wmem_default, 208 KiB of skb memory: a couple of hundred small
 * updates, since each write is one skb). It absorbs the bursts of a
 * front-end that reads late without hubd meeting EAGAIN (and re-arming
 * write interest); past it, hubd's own queue holds updates by reference
 * until max-queue cuts the stream. 16 KiB instead made no measurable
 * difference to CPU or latency with 10,000 streams behind a saturated
 * lighttpd, so the default stays. */
struct sub *sub_new(struct hub *hub, int fd, int mode, uint16_t request_id)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return NULL;
	}
	struct sub *s = xcalloc(1, sizeof *s);
	s->hub = hub;
	s->fd = fd;
	s->mode = (uint8_t)mode;
	s->refs = 1; /* the hub's */
	s->state = SUB_REPLAYING;
	outq_init(&s->out, mode == CTL_MODE_CGI ? 0 : request_id);
	s->last_write_ms = mono_ms();
	if (sub_arm(s, false) < 0) {
		int e = errno;
		close(fd);
		free(s);
		errno = e;
		return NULL;
	}
	return s;
}

struct sub *sub_ref(struct sub *s)
{
	s->refs++;
	return s;
}

void sub_replay_free(struct sub *s)
{
	struct sub_replay *r = s->replay;
	if (!r)
		return;
	for (int i = 0; i < r->npending; i++)
		msg_unref(r->pending[i]);
	free(r->pending);
	free(r->after_id);
	free(r->header_last_id);
	free(r);
	s->replay = NULL;
}

struct sub_replay *sub_replay(struct sub *s)
{
	if (!s->replay)
		s->replay = xcalloc(1, sizeof *s->replay);
	return s->replay;
}

struct sub_extra *sub_extra(struct sub *s)
{
	if (!s->extra)
		s->extra = xcalloc(1, sizeof *s->extra);
	return s->extra;
}

void sub_unref(struct sub *s)
{
	if (!s || --s->refs > 0)
		return;
	sub_replay_free(s);
	match_rules_free(s->rules);
	struct sub_extra *x = s->extra;
	if (x) {
		if (x->expiry)
			event_free(x->expiry);
		free(x->headers);
		free(x->id);
		free(x->payload);
		free(x->links);
		free(x);
	}
	outq_clear(&s->out);
	free(s);
}

size_t sub_queued(const struct sub *s)
{
	return outq_length(&s->out);
}

void sub_queue_sse(struct sub *s, const char *sse, size_t len)
{
	if (s->state == SUB_CLOSED || len == 0)
		return;
	outq_add_sse(&s->out, sse, len);
	hub_mark_dirty(s->hub, s);
}

void sub_send_headers(struct sub *s, const char *last_id, bool reset,
		      const char *requested_id)
{
	struct buf b = {0};
	buf_adds(&b, "Status: 200 OK\r\n"
		     "Content-Type: text/event-stream\r\n"
		     "Cache-Control: no-cache\r\n");
	/* For nginx, as the front or a proxy in front of it: stream, do not
	 * buffer. The operator of a front that no nginx stands before may
	 * leave it out (hub.fcgi's HUBD_X_ACCEL_BUFFERING=omit): lighttpd
	 * keeps every response header of an open stream, 0.22 KB each. */
	if (!s->no_x_accel)
		buf_adds(&b, "X-Accel-Buffering: no\r\n");
	if (last_id)
		buf_printf(&b, "Last-Event-ID: %s\r\n", last_id);
	if (reset)
		buf_adds(&b, "X-Hubd-Replay: reset\r\n");
	if (s->extra && s->extra->headers) {
		buf_adds(&b, s->extra->headers);
		free(s->extra->headers);
		s->extra->headers = NULL;
	}
	buf_adds(&b, "\r\n");
	sse_encode_comment(&b, "ok");
	/* A reconnection delay of its own for every stream, so that the
	 * clients of streams that end together (hubd restarting) do not all
	 * come back in the same instant. */
	const struct settings *cfg = hub_settings(s->hub);
	if (cfg->retry_hi_ms > 0)
		buf_printf(&b, "retry: %llu\n\n",
			   (unsigned long long)random_between(cfg->retry_lo_ms, cfg->retry_hi_ms));
	if (reset) {
		struct buf data = {0};
		buf_adds(&data, "{\"lastEventID\":");
		buf_add_json_string(&data, requested_id, strlen(requested_id));
		buf_adds(&data, "}");
		sse_encode_event(&b, NULL, "hubd-replay-reset", -1, data.p, data.len);
		buf_free(&data);
	}
	s->headers_sent = true;
	sub_queue_sse(s, b.p, b.len);
	buf_free(&b);
}

/* True (and the stream aborted) when its unsent backlog passed the limit:
 * the reader cannot keep up. Replay paces itself and is exempt. */
static bool over_limit(struct sub *s, size_t backlog, size_t max_queue)
{
	if (s->state == SUB_REPLAYING || backlog <= max_queue)
		return false;
	hub_count_drop(s->hub);
	sub_abort(s, "output queue over its limit (slow reader)");
	return true;
}

bool sub_queue_msg(struct sub *s, struct msg *m, size_t max_queue)
{
	if (s->state == SUB_CLOSED || s->state == SUB_ENDING || m->seq <= s->last_seq)
		return false;
	/* What is still queued from earlier turns could not be written. */
	if (over_limit(s, sub_queued(s), max_queue))
		return false;
	s->last_seq = m->seq;
	outq_add_msg(&s->out, m);
	hub_mark_dirty(s->hub, s);
	return true;
}

bool sub_hold(struct sub *s, struct msg *m, size_t limit)
{
	struct sub_replay *r = sub_replay(s);
	if (m->seq <= s->last_seq || (r->npending > 0 && r->pending[r->npending - 1]->seq >= m->seq))
		return true; /* held already (it matched through another topic) */
	if (r->pending_bytes + m->datalen > limit)
		return false;
	if (r->npending == r->pending_cap) {
		r->pending_cap = r->pending_cap ? r->pending_cap * 2 : 8;
		r->pending = xrealloc(r->pending, (size_t)r->pending_cap * sizeof *r->pending);
	}
	r->pending[r->npending++] = msg_ref(m);
	r->pending_bytes += m->datalen;
	return true;
}

void sub_flush(struct sub *s)
{
	if (s->state == SUB_CLOSED)
		return;
	size_t written;
	int rc = outq_write(&s->out, s->fd, &written);
	if (written > 0)
		hub_sub_wrote(s->hub, s);
	if (rc == 0) {
		if (!over_limit(s, sub_queued(s), hub_max_queue(s->hub)) && sub_arm(s, true) < 0)
			sub_abort(s, strerror(errno));
		return;
	}
	if (rc < 0) {
		sub_abort(s, errno == EPIPE ? "connection closed" : strerror(errno));
		return;
	}
	if (s->state == SUB_ENDING) {
		sub_abort(s, "response ended");
		return;
	}
	if (sub_arm(s, false) < 0) {
		sub_abort(s, strerror(errno));
		return;
	}
	hub_sub_drained(s->hub, s);
}

bool sub_probe(struct sub *s)
{
	if (s->state == SUB_CLOSED || s->state == SUB_ENDING || !s->headers_sent ||
	    sub_queued(s) > 0)
		return false;
	sub_queue_sse(s, ":\n\n", 3);
	return true;
}

void sub_end(struct sub *s)
{
	if (s->state == SUB_CLOSED || s->state == SUB_ENDING)
		return;
	if (!s->headers_sent)
		sub_send_headers(s, NULL, false, NULL);
	if (s->mode == CTL_MODE_FCGI) {
		struct buf b = {0};
		fcgi_append_end(&b, s->out.request_id);
		outq_add_framed(&s->out, b.p, b.len);
		buf_free(&b);
	}
	s->state = SUB_ENDING;
	hub_mark_dirty(s->hub, s);
}

/* libevent's timers run on CLOCK_MONOTONIC_COARSE, which lags the wall
 * clock by up to a scheduler tick, so the timer can fire a few ms before
 * exp: a request right after the stream ended would still find the token
 * valid. Until the wall clock has reached exp, wait out the rest. */
static void expiry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sub *s = arg;
	if (now_ms() < s->extra->exp_s * 1000 && sub_expire_at(s, s->extra->exp_s) == 0)
		return;
	log_debug("stream fd %d: the subscriber's token expired", s->fd);
	sub_end(s);
}

int sub_expire_at(struct sub *s, int64_t exp_s)
{
	struct sub_extra *x = sub_extra(s);
	x->exp_s = exp_s;
	/* libevent counts timeouts from the time it cached when the loop
	 * woke up; a slow turn would make the stream end early. */
	event_base_update_cache_time(hub_base(s->hub));
	int64_t ms = exp_s * 1000 - now_ms();
	struct timeval tv = {.tv_sec = ms > 0 ? ms / 1000 : 0,
			     .tv_usec = ms > 0 ? (ms % 1000) * 1000 : 0};
	if (!x->expiry)
		x->expiry = evtimer_new(hub_base(s->hub), expiry_cb, s);
	return x->expiry ? evtimer_add(x->expiry, &tv) : -1;
}

void sub_abort(struct sub *s, const char *reason)
{
	if (s->state == SUB_CLOSED)
		return;
	log_debug("stream fd %d closed: %s", s->fd, reason);
	s->state = SUB_CLOSED;
	/* (close alone would do while no other descriptor shares the file) */
	if (s->watched)
		epoll_ctl(hub_watch_fd(s->hub), EPOLL_CTL_DEL, s->fd, NULL);
	s->watched = false;
	if (s->extra && s->extra->expiry)
		evtimer_del(s->extra->expiry);
	/* Drop queued data now: it holds message references. */
	outq_clear(&s->out);
	close(s->fd);
	s->fd = -1;
	hub_sub_closed(s->hub, s); /* unlinks and drops the hub's reference */
}

void sub_events(struct sub *s, uint32_t events)
{
	if (s->state == SUB_CLOSED)
		return;
	if (s->mode != CTL_MODE_FCGI) {
		/* CGI mode (see sub_arm): only a hang-up or an error counts. */
		if (events & (EPOLLHUP | EPOLLERR)) {
			sub_abort(s, "the web server closed the stream");
			return;
		}
	} else if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		/* The web server sends nothing after the request: data is
		 * discarded, EOF or an error means it closed the connection. */
		char scratch[512];
		ssize_t n = recv(s->fd, scratch, sizeof scratch, 0);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
			sub_abort(s, n == 0 ? "peer closed" : strerror(errno));
			return;
		}
	}
	if (events & EPOLLOUT)
		sub_flush(s);
}
