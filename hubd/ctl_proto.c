/* ctl_proto.c -- encoding, fragmentation, reassembly and checks of the
 * control protocol (see ctl_proto.h for the specification). Shared by hubd
 * and its clients; logs nothing, reports errors to the caller. */
#include "config.h"

#include "ctl_proto.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

void ctl_put(struct buf *b, uint16_t tag, const void *val, size_t len)
{
	struct ctl_field_header h = {.tag = tag, .reserved = 0, .len = (uint32_t)len};
	buf_add(b, &h, sizeof h);
	buf_add(b, val, len);
}

void ctl_put_str(struct buf *b, uint16_t tag, const char *s)
{
	ctl_put(b, tag, s, strlen(s));
}

void ctl_put_u32(struct buf *b, uint16_t tag, uint32_t v)
{
	ctl_put(b, tag, &v, sizeof v);
}

/* Sends one datagram: header + chunk, with the nfds descriptors of fds
 * attached when nfds > 0 (at most CTL_FDS_MAX). */
static int send_datagram(int fd, const struct ctl_header *h, const void *chunk,
			 size_t len, const int *fds, int nfds)
{
	struct iovec iov[2] = {
		{.iov_base = (void *)h, .iov_len = sizeof *h},
		{.iov_base = (void *)chunk, .iov_len = len},
	};
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * CTL_FDS_MAX)];
	} cbuf;
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = len ? 2 : 1};
	if (nfds > 0) {
		memset(&cbuf, 0, sizeof cbuf);
		mh.msg_control = cbuf.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
	}
	ssize_t n;
	do
		n = sendmsg(fd, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -1;
	if ((size_t)n != sizeof *h + len) {
		errno = EMSGSIZE;
		return -1;
	}
	return 0;
}

/* Sends fragments of payload from *offset on; the descriptors go with the
 * first. See ctl_send_some. */
static int send_fragments(int fd, uint16_t type, uint32_t request, const void *payload,
			  size_t len, size_t *offset, const int *fds, int nfds)
{
	const size_t chunk_max = CTL_DATAGRAM_MAX - sizeof(struct ctl_header);
	const char *p = payload;
	if (len > CTL_PAYLOAD_MAX || nfds < 0 || nfds > CTL_FDS_MAX) {
		errno = EMSGSIZE;
		return -1;
	}
	do {
		size_t left = len - *offset;
		size_t n = left > chunk_max ? chunk_max : left;
		struct ctl_header h = {
			.version = CTL_PROTOCOL_VERSION,
			.type = type,
			.flags = left > n ? CTL_F_MORE : 0,
			.request = request,
			.length = (uint32_t)n,
		};
		bool first = *offset == 0;
		if (send_datagram(fd, &h, p + *offset, n, fds, first ? nfds : 0) < 0)
			return (errno == EAGAIN || errno == EWOULDBLOCK) ? 1 : -1;
		*offset += n;
	} while (*offset < len);
	return 0;
}

int ctl_send_some(int fd, uint16_t type, uint32_t request, const void *payload,
		  size_t len, size_t *offset, int passfd)
{
	return send_fragments(fd, type, request, payload, len, offset, &passfd,
			      passfd >= 0 ? 1 : 0);
}

int ctl_send_fds(int fd, uint16_t type, uint32_t request, const void *payload, size_t len,
		 const int *fds, int nfds)
{
	size_t offset = 0;
	int rc = send_fragments(fd, type, request, payload, len, &offset, fds, nfds);
	if (rc == 1) {
		errno = EAGAIN;
		return -1;
	}
	return rc;
}

int ctl_send(int fd, uint16_t type, uint32_t request, const void *payload,
	     size_t len, int passfd)
{
	size_t offset = 0;
	int rc = ctl_send_some(fd, type, request, payload, len, &offset, passfd);
	if (rc == 1) {
		errno = EAGAIN;
		return -1;
	}
	return rc;
}

int ctl_parse_fields(struct ctl_msg *m, char *err, size_t errlen)
{
	size_t off = 0;
	m->nfields = 0;
	while (off < m->len) {
		struct ctl_field_header h;
		if (m->len - off < sizeof h) {
			snprintf(err, errlen, "truncated field header at offset %zu", off);
			return -1;
		}
		memcpy(&h, m->payload + off, sizeof h);
		off += sizeof h;
		if (h.tag == 0 || h.tag >= CTL_T_MAX_ || h.reserved != 0) {
			snprintf(err, errlen, "unknown field tag %u", (unsigned)h.tag);
			return -1;
		}
		if (h.len > m->len - off) {
			snprintf(err, errlen, "field %u overruns the message (%u bytes)",
				 (unsigned)h.tag, (unsigned)h.len);
			return -1;
		}
		if (m->nfields == CTL_FIELDS_MAX) {
			snprintf(err, errlen, "more than %d fields", CTL_FIELDS_MAX);
			return -1;
		}
		struct ctl_field *f = &m->fields[m->nfields++];
		f->tag = h.tag;
		f->len = h.len;
		f->val = m->payload + off;
		off += h.len;
	}
	return 0;
}

void ctl_reader_reset(struct ctl_reader *r)
{
	buf_free(&r->acc);
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
	r->active = false;
}

int ctl_reader_feed(struct ctl_reader *r, const char *data, size_t len, int fd,
		    size_t max_payload, struct ctl_msg *out, char *err,
		    size_t errlen)
{
	struct ctl_header h;
	bool oversize = false;
	if (!r->active)
		r->fd = -1; /* a zeroed reader has fd 0: not ours */
	if (len < sizeof h) {
		snprintf(err, errlen, "datagram of %zu bytes is shorter than a header", len);
		goto fail;
	}
	memcpy(&h, data, sizeof h);
	if (h.version != CTL_PROTOCOL_VERSION) {
		snprintf(err, errlen, "protocol version %u, expected %u",
			 (unsigned)h.version, (unsigned)CTL_PROTOCOL_VERSION);
		goto fail;
	}
	if (h.length != len - sizeof h) {
		snprintf(err, errlen, "header says %u payload bytes, datagram has %zu",
			 (unsigned)h.length, len - sizeof h);
		goto fail;
	}
	if (h.flags & ~(uint32_t)CTL_F_MORE) {
		snprintf(err, errlen, "unknown flags 0x%x", (unsigned)h.flags);
		goto fail;
	}
	if (r->active) {
		if (h.type != r->type || h.request != r->request) {
			snprintf(err, errlen, "fragment of another message while one is open");
			goto fail;
		}
		if (fd >= 0) {
			snprintf(err, errlen, "descriptor passed on a continuation fragment");
			goto fail;
		}
	} else {
		r->active = true;
		r->type = h.type;
		r->request = h.request;
		r->fd = fd;
		fd = -1;
	}
	if (r->acc.len + h.length > max_payload) {
		snprintf(err, errlen, "message exceeds %zu bytes", max_payload);
		oversize = true;
		goto fail;
	}
	buf_add(&r->acc, data + sizeof h, h.length);
	if (h.flags & CTL_F_MORE)
		return 0;

	memset(out, 0, offsetof(struct ctl_msg, fields));
	out->nfields = 0;
	out->type = r->type;
	out->request = r->request;
	out->payload = buf_steal(&r->acc, &out->len);
	out->fd = r->fd;
	r->fd = -1;
	r->active = false;
	if (ctl_parse_fields(out, err, errlen) < 0) {
		ctl_msg_clear(out);
		errno = EPROTO;
		return -1;
	}
	return 1;
fail:
	if (fd >= 0)
		close(fd);
	ctl_reader_reset(r);
	errno = oversize ? EMSGSIZE : EPROTO;
	return -1;
}

ssize_t ctl_recv_datagram_fds(int fd, char *data, int *fds, int maxfds, int *nfds)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * (CTL_FDS_MAX + 4))];
	} cbuf;
	struct iovec iov = {.iov_base = data, .iov_len = CTL_DATAGRAM_MAX};
	struct msghdr mh = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = cbuf.buf,
		/* Room for a few more than asked for, so that a sender passing
		 * too many is seen (and its extra descriptors closed) rather
		 * than cut off silently. */
		.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)(maxfds + 4)),
	};
	*nfds = 0;
	ssize_t n;
	do
		n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -1;

	int seen = 0;
	bool bad = (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
			bad = true;
			continue;
		}
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int got;
			memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof got);
			if (seen++ < maxfds)
				fds[(*nfds)++] = got;
			else
				close(got);
		}
	}
	if (seen > maxfds)
		bad = true;
	if (bad) {
		for (int i = 0; i < *nfds; i++)
			close(fds[i]);
		*nfds = 0;
		errno = EPROTO;
		return -1;
	}
	return n;
}

ssize_t ctl_recv_datagram(int fd, char *data, int *passed_fd)
{
	int nfds;
	*passed_fd = -1;
	ssize_t n = ctl_recv_datagram_fds(fd, data, passed_fd, 1, &nfds);
	if (nfds == 0)
		*passed_fd = -1; /* none came, or it was closed (EPROTO) */
	return n;
}

const struct ctl_field *ctl_find(const struct ctl_msg *m, uint16_t tag)
{
	for (int i = 0; i < m->nfields; i++)
		if (m->fields[i].tag == tag)
			return &m->fields[i];
	return NULL;
}

int ctl_count(const struct ctl_msg *m, uint16_t tag)
{
	int n = 0;
	for (int i = 0; i < m->nfields; i++)
		n += m->fields[i].tag == tag;
	return n;
}

bool ctl_field_u32(const struct ctl_field *f, uint32_t *out)
{
	if (!f || f->len != sizeof(uint32_t))
		return false;
	memcpy(out, f->val, sizeof *out);
	return true;
}

char *ctl_field_str(const struct ctl_field *f)
{
	return xmemdup(f->val, f->len);
}

void ctl_msg_clear(struct ctl_msg *m)
{
	free(m->payload);
	m->payload = NULL;
	m->len = 0;
	m->nfields = 0;
	if (m->fd >= 0)
		close(m->fd);
	m->fd = -1;
}
