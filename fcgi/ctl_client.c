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

static uint32_t next_request_id = 1;

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

/* Receives datagrams until one whole reply is there. */
static enum ctl_client_result await_reply(int fd, uint32_t request, int64_t deadline,
					  struct ctl_msg *reply, char *err,
					  size_t errlen)
{
	struct ctl_reader rd = {.fd = -1};
	char *dgram = xmalloc(CTL_DATAGRAM_MAX);
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
	free(dgram);
	return res;
}

enum ctl_client_result ctl_client_call(const char *path, uint16_t type,
				       const void *payload, size_t len, int passfd,
				       int timeout_ms, struct ctl_msg *reply,
				       char *err, size_t errlen)
{
	int64_t deadline = timeout_ms < 0 ? -1 : mono_ms() + timeout_ms;
	memset(reply, 0, offsetof(struct ctl_msg, fields));
	reply->nfields = 0;
	reply->fd = -1;

	int fd = -1;
	enum ctl_client_result res = connect_to(path, deadline, &fd, err, errlen);
	if (res != CTL_CLIENT_OK)
		return res;

	uint32_t request = next_request_id++;
	if (next_request_id == 0)
		next_request_id = 1;
	if (!set_send_timeout(fd, deadline)) {
		snprintf(err, errlen, "timed out before sending");
		close(fd);
		return CTL_CLIENT_TIMEOUT;
	}
	if (ctl_send(fd, type, request, payload, len, passfd) < 0) {
		int e = errno;
		if (e == EAGAIN || e == EWOULDBLOCK) {
			close(fd);
			snprintf(err, errlen, "timed out sending the request");
			return CTL_CLIENT_TIMEOUT;
		}
		snprintf(err, errlen, "send: %s", strerror(e));
		if (e != EPIPE && e != ECONNRESET) {
			close(fd);
			return CTL_CLIENT_LOCAL;
		}
		/* hubd may have answered early (say, 413) and closed: its
		 * reply is still queued. Without one, this is "closed". */
	}
	res = await_reply(fd, request, deadline, reply, err, errlen);
	close(fd);
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
