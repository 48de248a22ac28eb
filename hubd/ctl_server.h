/* ctl_server.h -- the control socket's transport in hubd: the listening
 * AF_UNIX SOCK_SEQPACKET socket, one peer per client connection, datagram
 * reassembly with every check of ctl_proto, and queued non-blocking
 * replies. What a request means is decided by requests.c. */
#ifndef HUBD_CTL_SERVER_H
#define HUBD_CTL_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "ctl_proto.h"

struct event_base;
struct ctl_server;
struct ctl_peer;

/* Called for every complete, well-framed message. The handler takes over
 * m's contents (payload and fd) and must ctl_msg_clear it when done; it
 * answers with ctl_peer_reply*, now or later (holding a peer reference). */
typedef void (*ctl_handler_fn)(void *arg, struct ctl_peer *peer, struct ctl_msg *m);

/* Binds path (an existing socket file that nobody answers on is replaced;
 * one that answers is an error: another hubd runs), sets mode and, when
 * group is non-NULL, the group, and starts accepting. Returns NULL with a
 * reason in err on failure. */
struct ctl_server *ctl_server_listen(struct event_base *base, const char *path,
				     unsigned mode, const char *group,
				     size_t max_payload, ctl_handler_fn fn,
				     void *arg, char *err, size_t errlen);
/* Stops accepting and removes the socket file; open peers stay. */
void ctl_server_stop(struct ctl_server *s);
/* Closes every peer and frees the server. NULL is a no-op. */
void ctl_server_free(struct ctl_server *s);
/* Number of open peers. */
int ctl_server_peers(const struct ctl_server *s);

struct ctl_peer *ctl_peer_ref(struct ctl_peer *p);
void ctl_peer_unref(struct ctl_peer *p);
/* Queues a reply of type with the given encoded fields (copied; may be
 * NULL/0). Dropped silently when the peer has gone. Cannot fail. */
void ctl_peer_reply(struct ctl_peer *p, uint16_t type, uint32_t request, const void *fields,
		    size_t len);
/* ctl_peer_reply for CTL_OK. */
void ctl_peer_reply_ok(struct ctl_peer *p, uint32_t request, const void *fields, size_t len);
/* Queues a CTL_ERROR reply with STATUS and MESSAGE. */
void ctl_peer_reply_error(struct ctl_peer *p, uint32_t request, int status, const char *message);
/* Closes the peer after trying to send what is queued (protocol violation
 * or shutdown). reason goes to the log. */
void ctl_peer_close(struct ctl_peer *p, const char *reason);

#endif
