/* ctl_proto.h -- the control protocol between hubd and its local clients
 * (hub.fcgi / hub.cgi, hubctl), spoken over an AF_UNIX SOCK_SEQPACKET
 * socket. This header is the specification; doc/control-protocol.md
 * explains it in prose.
 *
 * Bump CTL_PROTOCOL_VERSION if anything below changes meaning.
 *
 * Framing: every datagram starts with a struct ctl_header (host byte order:
 * both ends are on one machine). A message whose payload does not fit in
 * one datagram is sent as fragments: every fragment but the last has
 * CTL_F_MORE set; all carry the same type and request id; a passed file
 * descriptor travels with the first fragment only. A datagram is at most
 * CTL_DATAGRAM_MAX bytes; a reassembled payload at most CTL_PAYLOAD_MAX.
 *
 * Payload: a sequence of fields, each a struct ctl_field_header followed by
 * len bytes. Tags may repeat where noted (TOPIC). Strings are sent without
 * NUL; u32 fields are exactly 4 bytes. An unknown tag, a truncated field, a
 * field the message type does not take, or a missing required field makes
 * the message malformed: hubd answers CTL_ERROR (status 400) where it can
 * and closes that peer only.
 *
 * Requests and replies (c = client, d = hubd). Each request gets exactly
 * one reply carrying its request id; replies may come out of order. A
 * message hubd cannot read at all (bad framing, too large) is answered
 * with CTL_ERROR carrying request id 0 (status 400, or 413 when too large)
 * and the connection is closed.
 *
 *   CTL_SUBSCRIBE  c->d  + one fd (SCM_RIGHTS) -- the client connection.
 *       Its matchers, 1..MSG_MAX_TOPICS in all, of one protocol: TOPIC
 *       fields (draft-07 topic selectors: exact, RFC 6570 template or
 *       "*"), or MATCH_EXACT and MATCH_URLPATTERN fields (draft-08
 *       matchers: exact, byte for byte, or "*"; a WHATWG URL pattern); the
 *       protocol of the request is that of its matchers. LAST_EVENT_ID
 *       (0..1; the client sent a Last-Event-ID header, or a lastEventID
 *       (draft-07) or last_event_id (draft-08) parameter), MODE (u32: 1 =
 *       FastCGI, the fd is the FastCGI connection; 2 = CGI, raw bytes),
 *       FCGI_REQUEST_ID (u32, FastCGI mode; the request id to frame with),
 *       AUTH (0..1: the subscriber's JWT, for private updates),
 *       STREAM_OPTS (0..1, u32: CTL_STREAM_* bits; set by the client's
 *       operator for its web server).
 *       Reply: CTL_OK once hubd owns the fd; the client then closes its own
 *       copy without writing anything. CTL_ERROR: the client answers the
 *       HTTP request itself with STATUS.
 *   CTL_PUBLISH    c->d
 *       TOPIC (1..MSG_MAX_TOPICS, first canonical), DATA (0..1), ID (0..1),
 *       TYPE (0..1), RETRY (0..1, u32 ms), PRIVATE (0..1, u32 0/1),
 *       HTTP (0..1, u32 1: the request came over HTTP and must carry a
 *       publisher JWT in AUTH; without HTTP the client is trusted as a local
 *       administrator by virtue of socket permissions), AUTH (0..1).
 *       Reply: CTL_OK with ID, sent only after the update is committed to
 *       the store. CTL_ERROR with STATUS 400/401/403/409/413/503.
 *   CTL_HISTORY    c->d
 *       TOPIC (1..MSG_MAX_TOPICS), AFTER (0..1, an update id; absent = from
 *       the oldest retained), LIMIT (0..1, u32; capped by hubd), HTTP, AUTH.
 *       Reply: CTL_OK with BODY (a JSON array of {id, topics, type, data,
 *       time}) and NEXT (0..1: the id to pass as AFTER for the next page,
 *       present when more updates follow). CTL_ERROR STATUS 404 when AFTER
 *       names no retained update.
 *   CTL_STATS      c->d  (no fields)
 *       Reply: CTL_OK with BODY, a JSON object of counters.
 *   CTL_SUBSCRIPTIONS c->d  TOPIC (0..1), SUBSCRIBER (0..1), THIRD_SEGMENT
 *       (0..1), HTTP, AUTH, AUTH_SOURCE, ORIGIN: the active subscriptions,
 *       when the subscriptions API is on. The fields are the decoded path
 *       segments after /subscriptions, in order; the token's draft says
 *       what they are: draft-07 /{topic}/{subscriber} (two at most),
 *       draft-08 /{match_type}/{match}/{subscriber}.
 *       Reply: CTL_OK with BODY (draft-07 JSON-LD; draft-08 JSON, TYPE
 *       then says "application/json"), and HEADERS (draft-08: the Link
 *       header with the last event id); CTL_ERROR 404 when it is off or
 *       the subscription is unknown, 401/403 without authorization.
 *   CTL_PREFLIGHT  c->d  ORIGIN (0..1): a CORS preflight (HTTP OPTIONS).
 *       Reply: CTL_OK with HEADERS (0..1) for a 204 answer.
 *   CTL_METADATA   c->d  HUB_URL (0..1), ORIGIN (0..1): the RFC 9728
 *       protected resource metadata of the hub (draft-08 discovery).
 *       Reply: CTL_OK with BODY (a JSON object); CTL_ERROR 404 when hubd
 *       knows no resource (no resource setting, no HUB_URL).
 *
 *   SUBSCRIBE, PUBLISH, HISTORY and SUBSCRIPTIONS coming over HTTP may
 *   carry COOKIE (0..1, the Cookie request header, at most 8 KiB, when the
 *   request has no Authorization header: hubd looks up the draft-08
 *   token-cookie in it) and HUB_URL (0..1, the hub's URL as the request
 *   reached it, "scheme://host[:port]/.well-known/mercure": the resource a
 *   draft-08 token's aud must hold when resource is not set).
 *   SUBSCRIBE, PUBLISH and HISTORY coming over HTTP also carry ORIGIN
 *   (0..1, the Origin request header) and, with AUTH, AUTH_SOURCE (u32,
 *   CTL_AUTH_*). hubd decides the CORS and CSRF policy: its replies to them
 *   (CTL_OK and CTL_ERROR) may carry HEADERS, response header lines each
 *   ending in CRLF, which the client adds to its HTTP response as they
 *   are; for a stream, hubd writes them itself.
 *   CTL_OK         d->c  fields per request above.
 *   CTL_ERROR      d->c  STATUS (u32, an HTTP status code), MESSAGE
 *       (0..1, one line of text for the HTTP body / hubctl's stderr).
 */
#ifndef HUBD_CTL_PROTO_H
#define HUBD_CTL_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util.h"

#define CTL_PROTOCOL_VERSION 2
#define CTL_DATAGRAM_MAX 65536           /* header included */
#define CTL_PAYLOAD_MAX (32u * 1024 * 1024) /* reassembled, all fragments */
#define CTL_FIELDS_MAX 256               /* fields in one message */
#define CTL_FDS_MAX 253                  /* descriptors with one datagram (the
					  * kernel's SCM_MAX_FD) */

enum ctl_type {
	CTL_SUBSCRIBE = 1,
	CTL_PUBLISH = 2,
	CTL_HISTORY = 3,
	CTL_STATS = 4,
	CTL_PREFLIGHT = 5,
	CTL_SUBSCRIPTIONS = 6,
	CTL_METADATA = 7,
	CTL_OK = 0x100,
	CTL_ERROR = 0x101,
	/* The hand-over between two hubds (handover_channel.h), never on a
	 * client's connection: */
	CTL_HV_STREAMS = 0x200, /* RECORD per stream, its descriptor beside */
	CTL_HV_END = 0x201,     /* COUNT: the streams sent in all */
};

enum ctl_tag {
	CTL_T_TOPIC = 1,
	CTL_T_DATA = 2,
	CTL_T_ID = 3,
	CTL_T_TYPE = 4,
	CTL_T_RETRY = 5,
	CTL_T_PRIVATE = 6,
	CTL_T_LAST_EVENT_ID = 7,
	CTL_T_MODE = 8,
	CTL_T_FCGI_REQUEST_ID = 9,
	CTL_T_AUTH = 10,
	CTL_T_LIMIT = 11,
	CTL_T_AFTER = 12,
	CTL_T_STATUS = 13,
	CTL_T_MESSAGE = 14,
	CTL_T_BODY = 15,
	CTL_T_NEXT = 16,
	CTL_T_HTTP = 17,
	CTL_T_ORIGIN = 18,
	CTL_T_AUTH_SOURCE = 19,
	CTL_T_HEADERS = 20,
	CTL_T_SUBSCRIBER = 21,
	CTL_T_STREAM_OPTS = 22,
	CTL_T_CLIENT_ADDR = 23,
	CTL_T_MATCH_EXACT = 24,
	CTL_T_MATCH_URLPATTERN = 25,
	CTL_T_COOKIE = 26,
	CTL_T_HUB_URL = 27,
	CTL_T_THIRD_SEGMENT = 28,
	CTL_T_RECORD = 29, /* a hand-over record (handover.h) */
	CTL_T_COUNT = 30,  /* u32 */
	CTL_T_MAX_ = 31
};

/* AUTH_SOURCE: where the HTTP request carried its token. */
#define CTL_AUTH_HEADER 1 /* Authorization: Bearer */
#define CTL_AUTH_QUERY 2  /* the authorization query parameter */
#define CTL_AUTH_COOKIE 3 /* the mercureAuthorization cookie */

/* STREAM_OPTS: the stream's header block leaves out X-Accel-Buffering. */
#define CTL_STREAM_NO_X_ACCEL 0x1
/* STREAM_OPTS: the front notices a departed client only at its second
 * write after the client left (Apache: the first meets the client's reset),
 * so every probe is written twice. */
#define CTL_STREAM_PROBE_TWICE 0x2

/* RETRY in an ERROR reply to SUBSCRIBE: the refusal is one a retry cures,
 * soon (hubd is shutting down: a new one is on its way) or later (at
 * capacity, or the client over its own cap). */
#define CTL_RETRY_SOON 1
#define CTL_RETRY_LATER 2

#define CTL_MODE_FCGI 1
#define CTL_MODE_CGI 2
#define CTL_F_MORE 0x1

struct ctl_header {
	uint16_t version; /* CTL_PROTOCOL_VERSION */
	uint16_t type;    /* enum ctl_type */
	uint32_t flags;   /* CTL_F_MORE */
	uint32_t request; /* chosen by the client, echoed in the reply */
	uint32_t length;  /* payload bytes in this datagram */
};

struct ctl_field_header {
	uint16_t tag; /* enum ctl_tag */
	uint16_t reserved; /* 0 */
	uint32_t len;
};

/* A field of a parsed message: a view into the message's payload. */
struct ctl_field {
	uint16_t tag;
	uint32_t len;
	const char *val;
};

/* A whole message, reassembled. */
struct ctl_msg {
	uint16_t type;
	uint32_t request;
	char *payload; /* owned; NUL-terminated past len for convenience */
	size_t len;
	struct ctl_field fields[CTL_FIELDS_MAX];
	int nfields;
	int fd; /* passed descriptor, or -1; owned by whoever holds the msg */
};

/* Building a message. ctl_begin resets b and writes nothing yet (the
 * header is added by ctl_send per fragment). The put functions append one
 * field; none can fail. */
void ctl_put(struct buf *b, uint16_t tag, const void *val, size_t len);
void ctl_put_str(struct buf *b, uint16_t tag, const char *s);
void ctl_put_u32(struct buf *b, uint16_t tag, uint32_t v);

/* Sends payload as one message of type/request on a blocking fd, in as
 * many fragments as it needs; passfd >= 0 is passed with the first
 * fragment. Returns 0, or -1 with errno set (EAGAIN if the fd is
 * non-blocking and full: use ctl_send_some there). */
int ctl_send(int fd, uint16_t type, uint32_t request, const void *payload,
	     size_t len, int passfd);
/* ctl_send with the nfds (0..CTL_FDS_MAX) descriptors of fds passed with
 * the first fragment (borrowed: the caller closes its copies). Blocking
 * fd. Returns 0, or -1 with errno. While they are in flight the
 * descriptors count against the sender's open-files limit (ETOOMANYREFS). */
int ctl_send_fds(int fd, uint16_t type, uint32_t request, const void *payload, size_t len,
		 const int *fds, int nfds);
/* The same for a non-blocking fd, resumable: sends fragments from *offset
 * (0 at first) on, advancing it. Returns 0 when all is sent, 1 when the
 * socket is full (call again with the same arguments when writable), -1
 * on error with errno set. */
int ctl_send_some(int fd, uint16_t type, uint32_t request, const void *payload,
		  size_t len, size_t *offset, int passfd);

/* Parses payload (already reassembled; the msg takes ownership of the
 * malloc'ed payload pointer in m->payload, len in m->len) into m->fields.
 * Checks every field header against the payload bounds, the tag range and
 * CTL_FIELDS_MAX. Returns 0, or -1 with a reason in err. */
int ctl_parse_fields(struct ctl_msg *m, char *err, size_t errlen);

/* Reassembly of fragments received one datagram at a time. Zero-initialise,
 * then feed each datagram with ctl_reader_feed. */
struct ctl_reader {
	struct buf acc;
	bool active;
	uint16_t type;
	uint32_t request;
	int fd;
};
/* Feeds one datagram (data/len as received, fd = descriptor received with
 * it or -1; ownership of fd passes to the reader). Returns 1 when a message
 * is complete (moved into *out, which owns payload and fd; fields parsed),
 * 0 when more fragments are needed, -1 on a protocol error (reason in err,
 * errno EMSGSIZE when the message passes max_payload, EPROTO otherwise; any
 * held fd is closed). max_payload caps the reassembled size. */
int ctl_reader_feed(struct ctl_reader *r, const char *data, size_t len, int fd,
		    size_t max_payload, struct ctl_msg *out, char *err,
		    size_t errlen);
void ctl_reader_reset(struct ctl_reader *r);

/* Receives one datagram with at most one SCM_RIGHTS descriptor into
 * data (CTL_DATAGRAM_MAX bytes). Checks MSG_TRUNC, MSG_CTRUNC, that any
 * control message is SCM_RIGHTS with exactly one fd; received fds are
 * close-on-exec. Returns the datagram length (0 = peer closed), or -1 with
 * errno (EAGAIN when non-blocking and nothing is there; EPROTO for a bad
 * datagram, with any received fds closed). */
ssize_t ctl_recv_datagram(int fd, char *data, int *passed_fd);
/* The same, for up to maxfds (1..CTL_FDS_MAX) descriptors in one
 * datagram: they go to fds[0..*nfds), close-on-exec. More than maxfds is
 * EPROTO, every received descriptor closed. */
ssize_t ctl_recv_datagram_fds(int fd, char *data, int *fds, int maxfds, int *nfds);

/* Field access on a parsed message. ctl_find returns the first field with
 * tag or NULL; ctl_count counts them. ctl_field_u32 reads a u32 field
 * (false when the length is not 4). ctl_field_str returns a malloc'ed
 * NUL-terminated copy. */
const struct ctl_field *ctl_find(const struct ctl_msg *m, uint16_t tag);
int ctl_count(const struct ctl_msg *m, uint16_t tag);
bool ctl_field_u32(const struct ctl_field *f, uint32_t *out);
char *ctl_field_str(const struct ctl_field *f);

/* Frees the payload and closes a held fd; leaves m empty (fd = -1). */
void ctl_msg_clear(struct ctl_msg *m);

#endif
