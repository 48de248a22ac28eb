/* ctl_server.c -- listening control socket, peers, framing and replies. */
#include "config.h"

#include "ctl_server.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <grp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define PEER_DATAGRAMS_PER_EVENT 32

struct reply {
	struct reply *next;
	uint16_t type;
	uint32_t request;
	char *payload;
	size_t len, off;
};

struct ctl_peer {
	struct ctl_server *server;
	struct ctl_peer *prev, *next;
	int fd;
	int refs;
	bool closed;
	bool want_write;
	struct event *ev;
	struct ctl_reader reader;
	struct reply *replies, **replies_tail;
};

struct ctl_server {
	struct event_base *base;
	int fd;
	char *path;
	struct event *accept_ev;
	size_t max_payload;
	ctl_handler_fn fn;
	void *arg;
	struct ctl_peer *peers;
	int npeers;
	char *datagram; /* CTL_DATAGRAM_MAX receive buffer, shared */
};

static void peer_event_cb(evutil_socket_t fd, short what, void *arg);

static void peer_arm(struct ctl_peer *p, bool want_write)
{
	if (p->closed || (p->want_write == want_write && event_pending(p->ev, EV_READ, NULL)))
		return;
	event_del(p->ev);
	p->want_write = want_write;
	event_assign(p->ev, p->server->base, p->fd,
		     EV_READ | EV_PERSIST | (want_write ? EV_WRITE : 0), peer_event_cb, p);
	event_add(p->ev, NULL);
}

struct ctl_peer *ctl_peer_ref(struct ctl_peer *p)
{
	p->refs++;
	return p;
}

static void free_replies(struct ctl_peer *p)
{
	while (p->replies) {
		struct reply *r = p->replies;
		p->replies = r->next;
		free(r->payload);
		free(r);
	}
	p->replies_tail = &p->replies;
}

void ctl_peer_unref(struct ctl_peer *p)
{
	if (!p || --p->refs > 0)
		return;
	free_replies(p);
	ctl_reader_reset(&p->reader);
	event_free(p->ev);
	free(p);
}

/* Sends queued replies until done or the socket is full. Returns -1 when
 * the peer failed (closed by now). */
static int peer_send(struct ctl_peer *p)
{
	while (p->replies) {
		struct reply *r = p->replies;
		int rc = ctl_send_some(p->fd, r->type, r->request, r->payload, r->len, &r->off, -1);
		if (rc == 1) {
			peer_arm(p, true);
			return 0;
		}
		if (rc < 0) {
			ctl_peer_close(p, strerror(errno));
			return -1;
		}
		p->replies = r->next;
		if (!p->replies)
			p->replies_tail = &p->replies;
		free(r->payload);
		free(r);
	}
	peer_arm(p, false);
	return 0;
}

static void queue_reply(struct ctl_peer *p, uint16_t type, uint32_t request,
			const void *payload, size_t len)
{
	if (p->closed)
		return;
	struct reply *r = xcalloc(1, sizeof *r);
	r->type = type;
	r->request = request;
	r->payload = xmemdup(payload ? payload : "", len);
	r->len = len;
	*p->replies_tail = r;
	p->replies_tail = &r->next;
	if (p->replies == r)
		peer_send(p);
}

void ctl_peer_reply(struct ctl_peer *p, uint16_t type, uint32_t request, const void *fields,
		    size_t len)
{
	queue_reply(p, type, request, fields, len);
}

void ctl_peer_reply_ok(struct ctl_peer *p, uint32_t request, const void *fields, size_t len)
{
	queue_reply(p, CTL_OK, request, fields, len);
}

void ctl_peer_reply_error(struct ctl_peer *p, uint32_t request, int status, const char *message)
{
	struct buf b = {0};
	ctl_put_u32(&b, CTL_T_STATUS, (uint32_t)status);
	if (message)
		ctl_put_str(&b, CTL_T_MESSAGE, message);
	queue_reply(p, CTL_ERROR, request, b.p, b.len);
	buf_free(&b);
}

void ctl_peer_close(struct ctl_peer *p, const char *reason)
{
	if (p->closed)
		return;
	if (reason)
		log_info("control peer fd %d closed: %s", p->fd, reason);
	p->closed = true;
	event_del(p->ev);
	close(p->fd);
	p->fd = -1;
	struct ctl_server *s = p->server;
	if (p->prev)
		p->prev->next = p->next;
	else
		s->peers = p->next;
	if (p->next)
		p->next->prev = p->prev;
	s->npeers--;
	ctl_peer_unref(p); /* the server's reference */
}

static void peer_read(struct ctl_peer *p)
{
	struct ctl_server *s = p->server;
	for (int i = 0; i < PEER_DATAGRAMS_PER_EVENT && !p->closed; i++) {
		int fd = -1;
		ssize_t n = ctl_recv_datagram(p->fd, s->datagram, &fd);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n == 0) {
			ctl_peer_close(p, NULL);
			return;
		}
		if (n < 0) {
			ctl_peer_close(p, errno == EPROTO ? "bad datagram (truncated, or unexpected ancillary data)"
							  : strerror(errno));
			return;
		}
		struct ctl_msg m;
		char err[160];
		int rc = ctl_reader_feed(&p->reader, s->datagram, (size_t)n, fd, s->max_payload,
					 &m, err, sizeof err);
		if (rc < 0) {
			ctl_peer_reply_error(p, 0, errno == EMSGSIZE ? 413 : 400, err);
			ctl_peer_close(p, err);
			return;
		}
		if (rc == 1)
			s->fn(s->arg, p, &m);
	}
}

static void peer_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ctl_peer *p = ctl_peer_ref(arg);
	if ((what & EV_WRITE) && !p->closed)
		peer_send(p);
	if ((what & EV_READ) && !p->closed)
		peer_read(p);
	ctl_peer_unref(p);
}

static void accept_cb(evutil_socket_t lfd, short what, void *arg)
{
	struct ctl_server *s = arg;
	for (int i = 0; i < 64; i++) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
			    errno != ECONNABORTED)
				log_warn("control socket accept: %s", strerror(errno));
			return;
		}
		struct ctl_peer *p = xcalloc(1, sizeof *p);
		p->server = s;
		p->fd = fd;
		p->refs = 1;
		p->replies_tail = &p->replies;
		p->reader.fd = -1;
		p->ev = event_new(s->base, -1, 0, peer_event_cb, p);
		if (!p->ev) {
			close(fd);
			free(p);
			return;
		}
		p->next = s->peers;
		if (s->peers)
			s->peers->prev = p;
		s->peers = p;
		s->npeers++;
		p->want_write = true; /* forces the first arm */
		peer_arm(p, false);
	}
}

/* True when something accepts connections on path. */
static bool socket_in_use(const char *path)
{
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
	bool used = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
	close(fd);
	return used;
}

struct ctl_server *ctl_server_listen(struct event_base *base, const char *path,
				     unsigned mode, const char *group,
				     size_t max_payload, ctl_handler_fn fn,
				     void *arg, char *err, size_t errlen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof sa.sun_path) {
		snprintf(err, errlen, "socket path too long (at most %zu bytes)", sizeof sa.sun_path - 1);
		return NULL;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	struct stat st;
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "%s exists and is not a socket", path);
			return NULL;
		}
		if (socket_in_use(path)) {
			snprintf(err, errlen, "%s is in use: is another hubd running?", path);
			return NULL;
		}
		unlink(path);
	}
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return NULL;
	}
	mode_t old = umask(0177);
	int rc = bind(fd, (struct sockaddr *)&sa, sizeof sa);
	umask(old);
	if (rc < 0 || listen(fd, 512) < 0) {
		snprintf(err, errlen, "bind/listen %s: %s", path, strerror(errno));
		close(fd);
		return NULL;
	}
	if (group) {
		struct group *g = getgrnam(group);
		if (!g || chown(path, (uid_t)-1, g->gr_gid) < 0) {
			snprintf(err, errlen, "cannot give %s to group %s: %s", path, group,
				 g ? strerror(errno) : "no such group");
			close(fd);
			unlink(path);
			return NULL;
		}
	}
	if (chmod(path, (mode_t)mode) < 0) {
		snprintf(err, errlen, "chmod %s: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		return NULL;
	}
	struct ctl_server *s = xcalloc(1, sizeof *s);
	s->base = base;
	s->fd = fd;
	s->path = xstrdup(path);
	s->max_payload = max_payload;
	s->fn = fn;
	s->arg = arg;
	s->datagram = xmalloc(CTL_DATAGRAM_MAX);
	s->accept_ev = event_new(base, fd, EV_READ | EV_PERSIST, accept_cb, s);
	if (!s->accept_ev || event_add(s->accept_ev, NULL) < 0)
		fatal("cannot watch the control socket");
	return s;
}

void ctl_server_stop(struct ctl_server *s)
{
	if (!s || s->fd < 0)
		return;
	event_del(s->accept_ev);
	close(s->fd);
	s->fd = -1;
	unlink(s->path);
}

void ctl_server_free(struct ctl_server *s)
{
	if (!s)
		return;
	ctl_server_stop(s);
	while (s->peers)
		ctl_peer_close(s->peers, NULL);
	event_free(s->accept_ev);
	free(s->datagram);
	free(s->path);
	free(s);
}

int ctl_server_peers(const struct ctl_server *s)
{
	return s->npeers;
}
