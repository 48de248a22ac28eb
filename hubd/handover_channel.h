/* handover_channel.h -- moving every open stream from one hubd to another
 * over an AF_UNIX SOCK_SEQPACKET connection (a live upgrade): the sender
 * writes CTL_HV_STREAMS messages, each with at most CTL_FDS_MAX (253)
 * descriptors and their records (handover.h) in RECORD fields, then
 * CTL_HV_END with the count; the receiver keeps what arrives until the end,
 * so that it can open the store (closed by the sender first) before it
 * adopts a single stream. Both sides block, within a deadline: the
 * sender's event loop must not run meanwhile (no write may follow the
 * records), the receiver's has not started. Loop thread of either hubd. */
#ifndef HUBD_HANDOVER_CHANNEL_H
#define HUBD_HANDOVER_CHANNEL_H

#include <stddef.h>

#include "handover.h"

struct hub;

/* Sends every stream of h (hub_export) over the blocking connection fd.
 * A batch holds at most CTL_FDS_MAX streams and about HANDOVER_BATCH_BYTES
 * of records, so the descriptors in flight stay far below the open-files
 * limit they count against. Returns the number of streams sent, or -1
 * with a reason in err (the receiver then has an incomplete set and must
 * give up; h is unchanged either way). */
int handover_send_streams(int fd, struct hub *h, char *err, size_t errlen);

/* What arrived: streams[i] with its descriptor fds[i] (owned until
 * adopted or cleared). */
struct handover_inbox {
	struct handover_stream *streams;
	int *fds;
	int n, cap;
};

/* Receives streams from fd until CTL_HV_END, every message checked (its
 * type, one record per descriptor, each record decoded, the count at the
 * end). Returns 0, or -1 with a reason in err (what arrived stays in in:
 * handover_inbox_clear closes it). */
int handover_receive_streams(int fd, struct handover_inbox *in, char *err, size_t errlen);
/* Closes the descriptors still held and frees in; in is left empty. */
void handover_inbox_clear(struct handover_inbox *in);

#define HANDOVER_BATCH_BYTES (4u * 1024 * 1024)

#endif
