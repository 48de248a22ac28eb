/* ctl_client.h -- the client side of the control protocol: blocking
 * request/reply exchanges with hubd over its AF_UNIX SOCK_SEQPACKET socket,
 * on a connection kept open across requests (hub.fcgi) or opened for one
 * (hubctl, hub.cgi). Logs nothing: failures come back as a result code
 * plus a reason in the caller's buffer. */
#ifndef HUBD_CTL_CLIENT_H
#define HUBD_CTL_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "ctl_proto.h"

/* What became of an exchange. Only CTL_CLIENT_OK means that hubd answered;
 * the others mean no valid reply arrived. */
enum ctl_client_result {
	CTL_CLIENT_OK = 0,          /* a CTL_OK or CTL_ERROR reply arrived */
	CTL_CLIENT_UNREACHABLE = 1, /* no hubd there: no socket, refused, no permission */
	CTL_CLIENT_TIMEOUT = 2,     /* connect, send or reply took longer than allowed */
	CTL_CLIENT_PROTOCOL = 3,    /* hubd's reply broke the protocol */
	CTL_CLIENT_CLOSED = 4,      /* hubd closed the connection without a reply */
	CTL_CLIENT_LOCAL = 5,       /* the request could not be sent (too large, socket error) */
};

/* Connects to the socket at path, sends one request of type with payload
 * (fields built with ctl_put*) and, when passfd >= 0, that descriptor
 * (borrowed: the caller keeps and eventually closes its copy), then waits
 * for the reply. timeout_ms bounds the whole exchange (connect, send,
 * reply); < 0 waits without limit.
 *
 * Returns CTL_CLIENT_OK with the reply in *reply: type CTL_OK or CTL_ERROR,
 * the request id checked (a CTL_ERROR with id 0, hubd's answer to a message
 * it could not read, counts as the reply), no descriptor, and for CTL_ERROR
 * a u32 STATUS in 100..599. The caller owns the reply and releases it with ctl_msg_clear.
 * Otherwise returns another enum ctl_client_result with a one-line reason
 * in err and *reply left empty (ctl_msg_clear on it is harmless). The
 * connection is always closed before returning. */
enum ctl_client_result ctl_client_call(const char *path, uint16_t type,
				       const void *payload, size_t len, int passfd,
				       int timeout_ms, struct ctl_msg *reply,
				       char *err, size_t errlen);

/* A connection to hubd that stays open from one request to the next, so
 * that a busy handler does not connect (and hubd accept) once per request.
 * One exchange at a time: not for use by two threads at once. */
struct ctl_conn {
	const char *path;    /* hubd's socket; borrowed */
	int fd;              /* -1 while not connected */
	int send_timeout_ms; /* SO_SNDTIMEO last set on fd, 0: none */
	uint32_t next_request;
	char *dgram;         /* receive buffer, allocated on first use */
};

/* Prepares c for hubd's socket at path (borrowed: must outlive c);
 * connects nothing yet. Cannot fail. */
void ctl_conn_init(struct ctl_conn *c, const char *path);

/* ctl_client_call over c: connects first when c is not connected, else
 * reuses the connection. When hubd closed a reused connection while it
 * was idle (it restarted), the send fails before hubd saw anything; the
 * request then goes once more over a new connection. The connection is
 * kept after a clean exchange and closed after anything else (a late
 * reply must never answer the next request). Results and the reply as for
 * ctl_client_call. */
enum ctl_client_result ctl_conn_call(struct ctl_conn *c, uint16_t type,
				     const void *payload, size_t len, int passfd,
				     int timeout_ms, struct ctl_msg *reply,
				     char *err, size_t errlen);

/* Closes the connection and frees the buffer; c can be used again. */
void ctl_conn_close(struct ctl_conn *c);

/* The HTTP status a reply stands for: 200 for CTL_OK, the STATUS field for
 * CTL_ERROR. Only for replies that ctl_client_call accepted. */
uint32_t ctl_client_status(const struct ctl_msg *reply);

/* A short constant name for a result ("unreachable", "timeout", ...). */
const char *ctl_client_result_name(enum ctl_client_result r);

#endif
