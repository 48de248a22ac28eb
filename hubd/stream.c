/* stream.c -- subscriber streams and their set: output queue, limits,
 * close detection, the flush each turn and the deferred close. */
#include "config.h"

#include "stream.h"

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
#include "log.h"
#include "msg.h"
#include "sse.h"
#include "util.h"

struct stream_set {
	struct event_base *base;
	struct stream_set_config cfg;
	struct stream *head, *tail; /* open streams, longest idle first */
	int count;
	struct stream *dirty;       /* streams with output to flush this turn */
	struct stream **closing;    /* closed this turn, the set's references */
	size_t nclosing, closing_cap;
	int watch_fd;               /* epoll set of the streams' descriptors */
	struct event *watch_ev, *flush_ev, *reap_ev;
	uint64_t drops;
};

static void flush_cb(evutil_socket_t fd, short what, void *arg);
static void watch_cb(evutil_socket_t fd, short what, void *arg);
static void reap_cb(evutil_socket_t fd, short what, void *arg);
static void stream_events(struct stream *s, uint32_t events);
static void stream_flush(struct stream *s);

/* ---- the set ------------------------------------------------------------ */

struct stream_set *stream_set_new(struct event_base *base, const struct stream_set_config *cfg)
{
	struct stream_set *set = xcalloc(1, sizeof *set);
	set->base = base;
	set->cfg = *cfg;
	if (set->cfg.stream_size < sizeof(struct stream))
		set->cfg.stream_size = sizeof(struct stream);
	if (set->cfg.extra_size < sizeof(struct stream_extra))
		set->cfg.extra_size = sizeof(struct stream_extra);
	set->watch_fd = epoll_create1(EPOLL_CLOEXEC);
	if (set->watch_fd < 0)
		fatal("epoll_create1: %s", strerror(errno));
	set->watch_ev = event_new(base, set->watch_fd, EV_READ | EV_PERSIST, watch_cb, set);
	set->flush_ev = event_new(base, -1, 0, flush_cb, set);
	set->reap_ev = event_new(base, -1, 0, reap_cb, set);
	if (!set->watch_ev || !set->flush_ev || !set->reap_ev || event_add(set->watch_ev, NULL) < 0)
		fatal("cannot create the stream set's events");
	return set;
}

void stream_set_free(struct stream_set *set)
{
	if (!set)
		return;
	while (set->head)
		stream_abort(set->head, "hub freed");
	stream_set_reap(set);
	flush_cb(-1, 0, set); /* drops the flush list's references */
	free(set->closing);
	event_free(set->watch_ev);
	event_free(set->flush_ev);
	event_free(set->reap_ev);
	close(set->watch_fd);
	free(set);
}

int stream_set_count(const struct stream_set *set)
{
	return set->count;
}

struct stream *stream_set_first(const struct stream_set *set)
{
	return set->head;
}

uint64_t stream_set_drops(const struct stream_set *set)
{
	return set->drops;
}

/* The list is kept in the order of the streams' last writes, so the
 * liveness walk finds every stream due for a probe at the head and stops
 * at the first that is not: its cost follows the probes, not the streams. */
static void list_append(struct stream_set *set, struct stream *s)
{
	s->next = NULL;
	s->prev = set->tail;
	if (set->tail)
		set->tail->next = s;
	else
		set->head = s;
	set->tail = s;
}

static void list_remove(struct stream_set *set, struct stream *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		set->head = s->next;
	if (s->next)
		s->next->prev = s->prev;
	else
		set->tail = s->prev;
	s->prev = s->next = NULL;
}

/* Bytes left: s is idle since now, the last of the list. */
static void note_write(struct stream *s)
{
	struct stream_set *set = s->set;
	s->last_write_ms = mono_ms();
	if (s->state == STREAM_CLOSED || set->tail == s)
		return;
	list_remove(set, s);
	list_append(set, s);
}

static void mark_dirty(struct stream *s)
{
	struct stream_set *set = s->set;
	if (s->dirty || s->state == STREAM_CLOSED)
		return;
	/* The first stream of a turn schedules the flush; a fan-out to many
	 * streams does not take the event base's lock once per stream. */
	if (!set->dirty)
		event_active(set->flush_ev, 0, 0);
	s->dirty = true;
	s->dirty_next = set->dirty;
	set->dirty = stream_ref(s);
}

/* Writes every stream that got output since the last turn: one writev per
 * stream per turn, however many updates a burst brought it. */
static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct stream_set *set = arg;
	struct stream *s = set->dirty;
	set->dirty = NULL;
	while (s) {
		struct stream *next = s->dirty_next;
		s->dirty = false;
		s->dirty_next = NULL;
		stream_flush(s);
		stream_unref(s);
		s = next;
	}
}

/* The streams' epoll set is readable: hands what it reports to each
 * stream. A stream's turn may close others of the same batch, so every
 * one of them is held first. Level-triggered: what one turn leaves (more
 * than WATCH_ROUNDS batches) is reported again at the next. */
#define WATCH_BATCH 256
#define WATCH_ROUNDS 16
static void watch_cb(evutil_socket_t fd, short what, void *arg)
{
	struct epoll_event evs[WATCH_BATCH];
	for (int round = 0; round < WATCH_ROUNDS; round++) {
		int n = epoll_wait(fd, evs, WATCH_BATCH, 0);
		if (n < 0 && errno != EINTR)
			log_warn("epoll_wait: %s", strerror(errno));
		for (int i = 0; i < n; i++)
			stream_ref(evs[i].data.ptr);
		for (int i = 0; i < n; i++)
			stream_events(evs[i].data.ptr, evs[i].events);
		for (int i = 0; i < n; i++)
			stream_unref(evs[i].data.ptr);
		if (n < WATCH_BATCH)
			return;
	}
}

void stream_set_reap(struct stream_set *set)
{
	/* A closed callback may close more streams: they join a new list. */
	while (set->nclosing > 0) {
		struct stream **list = set->closing;
		size_t n = set->nclosing;
		set->closing = NULL;
		set->nclosing = set->closing_cap = 0;
		for (size_t i = 0; i < n; i++) {
			if (set->cfg.closed)
				set->cfg.closed(set->cfg.owner, list[i]);
			stream_unref(list[i]); /* the set's reference */
		}
		free(list);
	}
}

/* The end of the turn in which streams closed: their owner hears of it. */
static void reap_cb(evutil_socket_t fd, short what, void *arg)
{
	stream_set_reap(arg);
}

/* ---- one stream ----------------------------------------------------------- */

/* Watches the stream's descriptor in the set's epoll set,
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
static int stream_arm(struct stream *s, bool want_write)
{
	if (s->watched && s->want_write == want_write)
		return 0;
	struct epoll_event ev = {.events = s->mode == CTL_MODE_FCGI ? EPOLLIN : 0, .data.ptr = s};
	if (want_write)
		ev.events |= EPOLLOUT;
	if (epoll_ctl(s->set->watch_fd, s->watched ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, s->fd,
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
struct stream *stream_open(struct stream_set *set, int fd, int mode, uint16_t request_id)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return NULL;
	}
	struct stream *s = xcalloc(1, set->cfg.stream_size);
	s->set = set;
	s->fd = fd;
	s->mode = (uint8_t)mode;
	s->refs = 1; /* the set's */
	s->state = STREAM_REPLAYING;
	outq_init(&s->out, mode == CTL_MODE_CGI ? 0 : request_id);
	s->last_write_ms = mono_ms();
	if (stream_arm(s, false) < 0) {
		int e = errno;
		close(fd);
		free(s);
		errno = e;
		return NULL;
	}
	list_append(set, s);
	set->count++;
	return s;
}

struct stream *stream_ref(struct stream *s)
{
	s->refs++;
	return s;
}

struct stream_extra *stream_extra(struct stream *s)
{
	if (!s->extra)
		s->extra = xcalloc(1, s->set->cfg.extra_size);
	return s->extra;
}

void stream_unref(struct stream *s)
{
	if (!s || --s->refs > 0)
		return;
	if (s->set->cfg.release)
		s->set->cfg.release(s->set->cfg.owner, s);
	struct stream_extra *x = s->extra;
	if (x) {
		if (x->expiry)
			event_free(x->expiry);
		free(x->headers);
		free(x);
	}
	outq_clear(&s->out);
	free(s);
}

size_t stream_queued(const struct stream *s)
{
	return outq_length(&s->out);
}

void stream_queue_sse(struct stream *s, const char *sse, size_t len)
{
	if (s->state == STREAM_CLOSED || len == 0)
		return;
	outq_add_sse(&s->out, sse, len);
	mark_dirty(s);
}

void stream_send_headers(struct stream *s, const char *last_id, bool reset,
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
		buf_printf(&b, "%s: %s\r\n", s->draft08 ? "Mercure-Last-Event-ID" : "Last-Event-ID",
			   last_id);
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
	const struct stream_set_config *cfg = &s->set->cfg;
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
	stream_queue_sse(s, b.p, b.len);
	buf_free(&b);
}

void stream_set_idle(struct stream *s, int64_t idle_ms)
{
	s->last_write_ms = mono_ms() - idle_ms;
}

void stream_take_over(struct stream *s, const void *carry, size_t len, int64_t idle_ms,
		      bool ended)
{
	s->headers_sent = true;
	stream_set_idle(s, idle_ms);
	if (len > 0) {
		outq_add_framed(&s->out, carry, len);
		mark_dirty(s);
	}
	if (ended) {
		s->state = STREAM_ENDING;
		mark_dirty(s);
	}
}

size_t stream_mem(const struct stream *s)
{
	return outq_mem(&s->out);
}

/* True (and the stream aborted) when what it pins passed the limit: the
 * reader cannot keep up. A replaying stream is kept under the limit by
 * its replay instead (replay.c: pages sized in bytes, asked for only below a
 * low-water mark; the hold-back bounded): cutting it would cut a reader
 * that catches up at full speed whenever one page holds an update larger
 * than the limit; one that stops reading is cut for making no progress
 * (the stall timeout, liveness.c). */
static bool over_limit(struct stream *s)
{
	if (s->state == STREAM_REPLAYING || stream_mem(s) <= s->set->cfg.max_queue)
		return false;
	s->set->drops++;
	stream_abort(s, "output queue over its limit (slow reader)");
	return true;
}

bool stream_queue_msg(struct stream *s, struct msg *m)
{
	if (s->state == STREAM_CLOSED || s->state == STREAM_ENDING || m->seq <= s->last_seq)
		return false;
	/* What is still queued from earlier turns could not be written. */
	if (over_limit(s))
		return false;
	s->last_seq = m->seq;
	outq_add_msg(&s->out, m);
	mark_dirty(s);
	return true;
}

void stream_go_live(struct stream *s)
{
	if (s->state == STREAM_REPLAYING)
		s->state = STREAM_LIVE;
}

/* Tells the owner that a replaying stream's queue shrank. */
static void drained(struct stream *s)
{
	if (s->state == STREAM_REPLAYING && s->set->cfg.drained)
		s->set->cfg.drained(s->set->cfg.owner, s);
}

/* Writes as much as the socket takes now (see stream_flush). */
static void write_out(struct stream *s)
{
	size_t written;
	int rc = outq_write(&s->out, s->fd, &written);
	if (written > 0)
		note_write(s);
	if (rc == 0) {
		if (over_limit(s))
			return;
		if (stream_arm(s, true) < 0)
			stream_abort(s, strerror(errno));
		else if (written > 0)
			drained(s); /* below the replay's low-water mark? */
		return;
	}
	if (rc < 0) {
		stream_abort(s, errno == EPIPE ? "connection closed" : strerror(errno));
		return;
	}
	if (s->state == STREAM_ENDING) {
		stream_abort(s, "response ended");
		return;
	}
	if (stream_arm(s, false) < 0) {
		stream_abort(s, strerror(errno));
		return;
	}
	drained(s);
}

/* Writes as much of the queue as the socket takes now; waits for
 * writability for the rest (while it waits, only applies the limit: the
 * write follows from stream_events). Closes the stream on a write error
 * or over the limit. */
static void stream_flush(struct stream *s)
{
	if (s->state == STREAM_CLOSED)
		return;
	/* The socket was full at the last write and epoll says when it takes
	 * more (stream_events): writing now would only fail, after planning a
	 * write of up to IOV_MAX pieces of a long queue, once per update for
	 * every stopped stream. Only the limit applies meanwhile. */
	if (s->want_write) {
		over_limit(s);
		return;
	}
	write_out(s);
}

bool stream_probe(struct stream *s)
{
	if (s->state == STREAM_CLOSED || s->state == STREAM_ENDING || !s->headers_sent ||
	    stream_queued(s) > 0)
		return false;
	stream_queue_sse(s, ":\n\n", 3);
	return true;
}

void stream_end(struct stream *s)
{
	if (s->state == STREAM_CLOSED || s->state == STREAM_ENDING)
		return;
	if (!s->headers_sent)
		stream_send_headers(s, NULL, false, NULL);
	if (s->mode == CTL_MODE_FCGI) {
		struct buf b = {0};
		fcgi_append_end(&b, s->out.request_id);
		outq_add_framed(&s->out, b.p, b.len);
		buf_free(&b);
	}
	s->state = STREAM_ENDING;
	mark_dirty(s);
}

/* libevent's timers run on CLOCK_MONOTONIC_COARSE, which lags the wall
 * clock by up to a scheduler tick, so the timer can fire a few ms before
 * exp: a request right after the stream ended would still find the token
 * valid. Until the wall clock has reached exp, wait out the rest. */
static void expiry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct stream *s = arg;
	if (now_ms() < s->extra->exp_s * 1000 && stream_expire_at(s, s->extra->exp_s) == 0)
		return;
	log_debug("stream fd %d: its end of life (token exp or max-stream-lifetime)", s->fd);
	stream_end(s);
}

int stream_expire_at(struct stream *s, int64_t exp_s)
{
	struct stream_extra *x = stream_extra(s);
	x->exp_s = exp_s;
	/* libevent counts timeouts from the time it cached when the loop
	 * woke up; a slow turn would make the stream end early. */
	event_base_update_cache_time(s->set->base);
	int64_t ms = exp_s * 1000 - now_ms();
	struct timeval tv = {.tv_sec = ms > 0 ? ms / 1000 : 0,
			     .tv_usec = ms > 0 ? (ms % 1000) * 1000 : 0};
	if (!x->expiry)
		x->expiry = evtimer_new(s->set->base, expiry_cb, s);
	return x->expiry ? evtimer_add(x->expiry, &tv) : -1;
}

void stream_abort(struct stream *s, const char *reason)
{
	if (s->state == STREAM_CLOSED)
		return;
	log_debug("stream fd %d closed: %s", s->fd, reason);
	s->state = STREAM_CLOSED;
	/* (close alone would do while no other descriptor shares the file) */
	if (s->watched)
		epoll_ctl(s->set->watch_fd, EPOLL_CTL_DEL, s->fd, NULL);
	s->watched = false;
	if (s->extra && s->extra->expiry)
		evtimer_del(s->extra->expiry);
	/* Drop queued data now: it holds message references. */
	outq_clear(&s->out);
	close(s->fd);
	s->fd = -1;
	/* The owner hears of it at the end of the turn (reap_cb), with the
	 * set's reference, which moves to the closing list. */
	struct stream_set *set = s->set;
	list_remove(set, s);
	set->count--;
	if (set->nclosing == set->closing_cap) {
		set->closing_cap = set->closing_cap ? set->closing_cap * 2 : 16;
		set->closing = xrealloc(set->closing, set->closing_cap * sizeof *set->closing);
	}
	if (set->nclosing == 0)
		event_active(set->reap_ev, 0, 0);
	set->closing[set->nclosing++] = s;
}

/* What epoll reported for the stream's fd (watch_cb holds a reference
 * meanwhile): reads and discards, notices the peer closing, writes when
 * output waits. */
static void stream_events(struct stream *s, uint32_t events)
{
	if (s->state == STREAM_CLOSED)
		return;
	if (s->mode != CTL_MODE_FCGI) {
		/* CGI mode (see stream_arm): only a hang-up or an error counts. */
		if (events & (EPOLLHUP | EPOLLERR)) {
			stream_abort(s, "the web server closed the stream");
			return;
		}
	} else if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		/* The web server sends nothing after the request: data is
		 * discarded, EOF or an error means it closed the connection. */
		char scratch[512];
		ssize_t n = recv(s->fd, scratch, sizeof scratch, 0);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
			stream_abort(s, n == 0 ? "peer closed" : strerror(errno));
			return;
		}
	}
	if (events & EPOLLOUT)
		write_out(s);
}
