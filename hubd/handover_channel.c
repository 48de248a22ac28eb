/* handover_channel.c -- every stream from one hubd to the next, in
 * batches of descriptors and records (see handover_channel.h). */
#include "config.h"

#include "handover_channel.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl_proto.h"
#include "hub.h"

/* ---- sending ------------------------------------------------------------- */

struct sender {
	int fd;
	struct buf payload;      /* the batch's RECORD fields */
	int fds[CTL_FDS_MAX];    /* borrowed from the hub */
	int n;                   /* streams in the batch */
	int sent;                /* streams in the batches sent */
	uint32_t batches;
	char *err;
	size_t errlen;
	bool failed;
};

static void send_batch(struct sender *s)
{
	if (s->failed || s->n == 0)
		return;
	if (ctl_send_fds(s->fd, CTL_HV_STREAMS, ++s->batches, s->payload.p, s->payload.len, s->fds,
			 s->n) < 0) {
		snprintf(s->err, s->errlen, "sending %d streams: %s", s->n, strerror(errno));
		s->failed = true;
	}
	s->sent += s->n;
	s->n = 0;
	s->payload.len = 0;
}

static void add_stream(void *arg, int fd, const struct handover_stream *st)
{
	struct sender *s = arg;
	if (s->failed)
		return;
	struct buf rec = {0};
	handover_stream_encode(st, &rec);
	if (s->n == CTL_FDS_MAX || (s->n > 0 && s->payload.len + rec.len > HANDOVER_BATCH_BYTES))
		send_batch(s);
	if (rec.len + 64 > CTL_PAYLOAD_MAX) {
		snprintf(s->err, s->errlen, "a stream's record is %zu bytes, more than a message holds",
			 rec.len);
		s->failed = true;
	}
	ctl_put(&s->payload, CTL_T_RECORD, rec.p, rec.len);
	s->fds[s->n++] = fd;
	buf_free(&rec);
}

int handover_send_streams(int fd, struct hub *h, char *err, size_t errlen)
{
	struct sender s = {.fd = fd, .err = err, .errlen = errlen};
	hub_export(h, add_stream, &s);
	send_batch(&s);
	buf_free(&s.payload);
	if (s.failed)
		return -1;
	struct buf end = {0};
	ctl_put_u32(&end, CTL_T_COUNT, (uint32_t)s.sent);
	int rc = ctl_send_fds(fd, CTL_HV_END, ++s.batches, end.p, end.len, NULL, 0);
	buf_free(&end);
	if (rc < 0) {
		snprintf(err, errlen, "sending the end of the streams: %s", strerror(errno));
		return -1;
	}
	return s.sent;
}

/* ---- receiving ------------------------------------------------------------ */

void handover_inbox_clear(struct handover_inbox *in)
{
	for (int i = 0; i < in->n; i++) {
		handover_stream_clear(&in->streams[i]);
		if (in->fds[i] >= 0)
			close(in->fds[i]);
	}
	free(in->streams);
	free(in->fds);
	memset(in, 0, sizeof *in);
}

static void inbox_add(struct handover_inbox *in, int fd, struct handover_stream *st)
{
	if (in->n == in->cap) {
		in->cap = in->cap ? in->cap * 2 : 256;
		in->streams = xrealloc(in->streams, (size_t)in->cap * sizeof *in->streams);
		in->fds = xrealloc(in->fds, (size_t)in->cap * sizeof *in->fds);
	}
	in->streams[in->n] = *st;
	in->fds[in->n++] = fd;
}

/* Receives one whole message: its descriptors (first fragment only) into
 * fds[0..*nfds). Returns 1 with *m filled, or -1 with err. */
static int receive_message(int fd, char *dgram, struct ctl_msg *m, int *fds, int *nfds, char *err,
			   size_t errlen)
{
	struct ctl_reader r = {0};
	*nfds = 0;
	int rc;
	do {
		int got[CTL_FDS_MAX], ngot = 0;
		ssize_t n = ctl_recv_datagram_fds(fd, dgram, got, CTL_FDS_MAX, &ngot);
		if (n <= 0) {
			snprintf(err, errlen, "%s", n == 0 ? "the other hubd closed the connection"
							   : strerror(errno));
			rc = -1;
			break;
		}
		if (ngot > 0 && r.active) {
			snprintf(err, errlen, "descriptors on a continuation fragment");
			for (int i = 0; i < ngot; i++)
				close(got[i]);
			rc = -1;
			break;
		}
		memcpy(fds + *nfds, got, (size_t)ngot * sizeof *got);
		*nfds += ngot;
		rc = ctl_reader_feed(&r, dgram, (size_t)n, -1, CTL_PAYLOAD_MAX, m, err, errlen);
	} while (rc == 0);
	ctl_reader_reset(&r);
	if (rc < 0) {
		for (int i = 0; i < *nfds; i++)
			close(fds[i]);
		*nfds = 0;
	}
	return rc;
}

/* Takes one CTL_HV_STREAMS message into in (its descriptors taken). */
static int take_batch(struct handover_inbox *in, const struct ctl_msg *m, int *fds, int nfds,
		      char *err, size_t errlen)
{
	int records = ctl_count(m, CTL_T_RECORD);
	if (records != nfds || m->nfields != records || nfds == 0) {
		snprintf(err, errlen, "a batch of %d records came with %d descriptors", records, nfds);
		for (int i = 0; i < nfds; i++)
			close(fds[i]);
		return -1;
	}
	for (int i = 0; i < nfds; i++) {
		struct handover_stream st;
		const struct ctl_field *f = &m->fields[i];
		if (handover_stream_decode(f->val, f->len, &st, err, errlen) < 0) {
			handover_stream_clear(&st);
			for (int k = i; k < nfds; k++)
				close(fds[k]);
			return -1;
		}
		inbox_add(in, fds[i], &st);
	}
	return 0;
}

int handover_receive_streams(int fd, struct handover_inbox *in, char *err, size_t errlen)
{
	char *dgram = xmalloc(CTL_DATAGRAM_MAX);
	int *fds = xmalloc(CTL_FDS_MAX * sizeof *fds);
	int rc = -1;
	for (;;) {
		struct ctl_msg m;
		int nfds;
		if (receive_message(fd, dgram, &m, fds, &nfds, err, errlen) < 0)
			break;
		if (m.type == CTL_HV_STREAMS) {
			int ok = take_batch(in, &m, fds, nfds, err, errlen);
			ctl_msg_clear(&m);
			if (ok < 0)
				break;
			continue;
		}
		uint32_t count = 0;
		bool end = m.type == CTL_HV_END && nfds == 0 &&
			   ctl_field_u32(ctl_find(&m, CTL_T_COUNT), &count);
		for (int i = 0; i < nfds; i++)
			close(fds[i]);
		ctl_msg_clear(&m);
		if (!end)
			snprintf(err, errlen, "unexpected message type 0x%x", (unsigned)m.type);
		else if (count != (uint32_t)in->n)
			snprintf(err, errlen, "%u streams announced, %d received", (unsigned)count, in->n);
		else
			rc = 0;
		break;
	}
	free(fds);
	free(dgram);
	return rc;
}
