/* ctl_client.c -- one blocking request/reply exchange with hubd over the
 * control socket (see ctl_client.h). */
#include "config.h"

#include "ctl_client.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

/* Milliseconds left until deadline (< 0 deadline = no limit: returns -1). */
static int remaining_ms(int64_t deadline)
{
	if (deadline < 0)
		return -1;
	int64_t left = deadline - mono_ms();
	if (left <= 0)
		return 0;
	return left > 0x7fffffff ? 0x7fffffff : (int)left;
}

/* Sets the socket's send timeout to what is left (connect on an AF_UNIX
 * socket honours SO_SNDTIMEO too). Returns false when no time is left. */
static bool set_send_timeout(int fd, int64_t deadline)
{
	if (deadline < 0)
		return true;
	int ms = remaining_ms(deadline);
	if (ms == 0)
		return false;
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	return true;
}

static enum ctl_client_result connect_to(const char *path, int64_t deadline,
					 int *fdp, char *err, size_t errlen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t plen = strlen(path);
	if (plen == 0 || plen >= sizeof sa.sun_path) {
		snprintf(err, errlen, "socket path is empty or longer than %zu bytes",
			 sizeof sa.sun_path - 1);
		return CTL_CLIENT_UNREACHABLE;
	}
	memcpy(sa.sun_path, path, plen + 1);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return CTL_CLIENT_LOCAL;
	}
	if (!set_send_timeout(fd, deadline)) {
		close(fd);
		snprintf(err, errlen, "timed out before connecting to %s", path);
		return CTL_CLIENT_TIMEOUT;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		int e = errno;
		close(fd);
		if (e == EAGAIN || e == EINPROGRESS) {
			snprintf(err, errlen, "connect %s: timed out (hubd's backlog is full)",
				 path);
			return CTL_CLIENT_TIMEOUT;
		}
		snprintf(err, errlen, "connect %s: %s", path, strerror(e));
		return CTL_CLIENT_UNREACHABLE;
	}
	*fdp = fd;
	return CTL_CLIENT_OK;
}

/* Checks that a complete message is a valid reply to request. A CTL_ERROR
 * with request id 0 is hubd's answer to a message it could not even read
 * (too large, malformed): with one request per connection, it is ours. */
static enum ctl_client_result check_reply(const struct ctl_msg *m, uint32_t request,
					  char *err, size_t errlen)
{
	if (m->request != request && !(m->request == 0 && m->type == CTL_ERROR)) {
		snprintf(err, errlen, "reply to request %u, expected %u",
			 (unsigned)m->request, (unsigned)request);
		return CTL_CLIENT_PROTOCOL;
	}
	if (m->fd >= 0) {
		snprintf(err, errlen, "reply carries a descriptor");
		return CTL_CLIENT_PROTOCOL;
	}
	if (m->type == CTL_OK)
		return CTL_CLIENT_OK;
	if (m->type != CTL_ERROR) {
		snprintf(err, errlen, "reply of type %u", (unsigned)m->type);
		return CTL_CLIENT_PROTOCOL;
	}
	uint32_t status;
	if (!ctl_field_u32(ctl_find(m, CTL_T_STATUS), &status) || status < 100 ||
	    status > 599) {
		snprintf(err, errlen, "error reply without a valid STATUS");
		return CTL_CLIENT_PROTOCOL;
	}
	return CTL_CLIENT_OK;
}

/* Receives datagrams until one whole reply is there. dgram is a
 * CTL_DATAGRAM_MAX scratch buffer. */
static enum ctl_client_result await_reply(int fd, uint32_t request, int64_t deadline,
					  char *dgram, struct ctl_msg *reply, char *err,
					  size_t errlen)
{
	struct ctl_reader rd = {.fd = -1};
	enum ctl_client_result res;
	for (;;) {
		int ms = remaining_ms(deadline);
		if (ms == 0) {
			snprintf(err, errlen, "no reply from hubd in time");
			res = CTL_CLIENT_TIMEOUT;
			break;
		}
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int pr = poll(&p, 1, ms);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr < 0) {
			snprintf(err, errlen, "poll: %s", strerror(errno));
			res = CTL_CLIENT_LOCAL;
			break;
		}
		if (pr == 0)
			continue; /* the deadline check above decides */
		int passed = -1;
		ssize_t n = ctl_recv_datagram(fd, dgram, &passed);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n < 0 && errno == EPROTO) {
			snprintf(err, errlen, "bad datagram from hubd (truncated or bad control data)");
			res = CTL_CLIENT_PROTOCOL;
			break;
		}
		if (n < 0 && errno != ECONNRESET) {
			snprintf(err, errlen, "recvmsg: %s", strerror(errno));
			res = CTL_CLIENT_LOCAL;
			break;
		}
		if (n <= 0) {
			snprintf(err, errlen, "hubd closed the connection without a reply");
			res = CTL_CLIENT_CLOSED;
			break;
		}
		char why[160];
		int fr = ctl_reader_feed(&rd, dgram, (size_t)n, passed, CTL_PAYLOAD_MAX,
					 reply, why, sizeof why);
		if (fr < 0) {
			snprintf(err, errlen, "bad reply from hubd: %s", why);
			res = CTL_CLIENT_PROTOCOL;
			break;
		}
		if (fr == 0)
			continue;
		res = check_reply(reply, request, err, errlen);
		if (res != CTL_CLIENT_OK)
			ctl_msg_clear(reply);
		break;
	}
	ctl_reader_reset(&rd);
	return res;
}

/* True when a datagram (not just the end of the stream) waits on fd. */
static bool datagram_waiting(int fd)
{
	char c;
	return recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

void ctl_conn_init(struct ctl_conn *c, const char *path)
{
	c->path = path;
	c->fd = -1;
	c->send_timeout_ms = 0;
	c->next_request = 1;
	c->dgram = NULL;
}

/* Drops the connection (it is in an unknown state), keeping the buffer. */
static void conn_drop(struct ctl_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

void ctl_conn_close(struct ctl_conn *c)
{
	conn_drop(c);
	free(c->dgram);
	c->dgram = NULL;
}

/* Connects c when it is not connected. */
static enum ctl_client_result conn_connect(struct ctl_conn *c, int64_t deadline,
					   char *err, size_t errlen)
{
	if (c->fd >= 0)
		return CTL_CLIENT_OK;
	enum ctl_client_result res = connect_to(c->path, deadline, &c->fd, err, errlen);
	/* connect_to set SO_SNDTIMEO to what is left */
	c->send_timeout_ms = deadline < 0 ? 0 : remaining_ms(deadline);
	return res;
}

/* Sends one request on c. Returns 0, or -1 with errno. The send may block
 * only while hubd's receive queue is full; SO_SNDTIMEO bounds it by what
 * is left of the deadline (set again only when that changed by more than
 * 50 ms, so a reused connection costs no extra system call), or not at
 * all without a deadline. */
static int conn_send(struct ctl_conn *c, uint32_t request, uint16_t type,
		     const void *payload, size_t len, int passfd, int64_t deadline)
{
	if (deadline >= 0) {
		int ms = remaining_ms(deadline);
		if (ms == 0) {
			errno = EAGAIN;
			return -1;
		}
		if (c->send_timeout_ms == 0 || c->send_timeout_ms > ms + 50 ||
		    c->send_timeout_ms < ms - 50) {
			set_send_timeout(c->fd, deadline);
			c->send_timeout_ms = ms;
		}
	} else if (c->send_timeout_ms != 0) {
		struct timeval none = {0, 0};
		setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &none, sizeof none);
		c->send_timeout_ms = 0;
	}
	return ctl_send(c->fd, type, request, payload, len, passfd);
}

enum ctl_client_result ctl_conn_call(struct ctl_conn *c, uint16_t type,
				     const void *payload, size_t len, int passfd,
				     int timeout_ms, struct ctl_msg *reply,
				     char *err, size_t errlen)
{
	int64_t deadline = timeout_ms < 0 ? -1 : mono_ms() + timeout_ms;
	memset(reply, 0, offsetof(struct ctl_msg, fields));
	reply->nfields = 0;
	reply->fd = -1;
	if (!c->dgram)
		c->dgram = xmalloc(CTL_DATAGRAM_MAX);

	bool reused = c->fd >= 0;
	enum ctl_client_result res = conn_connect(c, deadline, err, errlen);
	if (res != CTL_CLIENT_OK)
		return res;
	uint32_t request = c->next_request++;
	if (c->next_request == 0)
		c->next_request = 1;

	int rc = conn_send(c, request, type, payload, len, passfd, deadline);
	if (rc < 0 && reused && (errno == EPIPE || errno == ECONNRESET || errno == ENOTCONN) &&
	    !datagram_waiting(c->fd)) {
		/* hubd closed the connection while it was idle (it restarted,
		 * or dropped a peer): nothing of this request reached it, so
		 * send it again on a new connection. */
		conn_drop(c);
		if ((res = conn_connect(c, deadline, err, errlen)) != CTL_CLIENT_OK)
			return res;
		rc = conn_send(c, request, type, payload, len, passfd, deadline);
	}
	if (rc < 0) {
		int e = errno;
		if (e == EAGAIN || e == EWOULDBLOCK) {
			conn_drop(c);
			snprintf(err, errlen, "timed out sending the request");
			return CTL_CLIENT_TIMEOUT;
		}
		snprintf(err, errlen, "send: %s", strerror(e));
		if (e != EPIPE && e != ECONNRESET) {
			conn_drop(c);
			return CTL_CLIENT_LOCAL;
		}
		/* hubd may have answered early (say, 413) and closed: its
		 * reply is still queued. Without one, this is "closed". */
	}
	res = await_reply(c->fd, request, deadline, c->dgram, reply, err, errlen);
	/* Keep the connection only after a clean exchange: after anything
	 * else a late reply could still arrive and answer the next request.
	 * A reply with request id 0 means hubd closed its end. */
	if (res != CTL_CLIENT_OK || rc < 0 || reply->request == 0)
		conn_drop(c);
	return res;
}

enum ctl_client_result ctl_client_call(const char *path, uint16_t type,
				       const void *payload, size_t len, int passfd,
				       int timeout_ms, struct ctl_msg *reply,
				       char *err, size_t errlen)
{
	struct ctl_conn c;
	ctl_conn_init(&c, path);
	enum ctl_client_result res =
		ctl_conn_call(&c, type, payload, len, passfd, timeout_ms, reply, err, errlen);
	ctl_conn_close(&c);
	return res;
}

uint32_t ctl_client_status(const struct ctl_msg *reply)
{
	uint32_t status = 500;
	if (reply->type == CTL_OK)
		return 200;
	ctl_field_u32(ctl_find(reply, CTL_T_STATUS), &status);
	return status;
}

const char *ctl_client_result_name(enum ctl_client_result r)
{
	switch (r) {
	case CTL_CLIENT_OK: return "ok";
	case CTL_CLIENT_UNREACHABLE: return "unreachable";
	case CTL_CLIENT_TIMEOUT: return "timeout";
	case CTL_CLIENT_PROTOCOL: return "protocol error";
	case CTL_CLIENT_CLOSED: return "closed";
	case CTL_CLIENT_LOCAL: return "local error";
	}
	return "unknown";
}
