/* fuzz_ctl_reader.c -- fuzzes the control protocol reader (ctl_reader_feed, ctl_parse_fields) as hubd's ctl_server.c feeds it. */
#include "config.h"

#include <fcntl.h>
#include <stdbool.h>
#include <unistd.h>

#include "ctl_proto.h"
#include "fuzz_input.h"

/* Input: one byte choosing the payload cap, then datagrams, each one
 * flags byte (bit 0: a descriptor comes with it), a 16-bit little-endian
 * length and that many bytes (fewer at the end of the input). */

#define FDS_MAX 64

static int fds[FDS_MAX];
static int nfds;

/* A fresh descriptor to pass with a datagram, remembered to check that
 * the reader closes or hands on every one. */
static int new_fd(void)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	FUZZ_ASSERT(fd >= 0);
	if (nfds < FDS_MAX)
		fds[nfds++] = fd;
	return fd;
}

/* Whether payload p[0..n) is a valid field sequence, walked here apart
 * from ctl_parse_fields: tags 1 .. CTL_T_MAX_ - 1, reserved 0, each field
 * inside the payload, at most CTL_FIELDS_MAX of them. */
static bool fields_valid(const char *p, size_t n)
{
	int count = 0;
	for (size_t off = 0; off < n; count++) {
		struct ctl_field_header h;
		if (n - off < sizeof h || count == CTL_FIELDS_MAX)
			return false;
		memcpy(&h, p + off, sizeof h);
		off += sizeof h;
		if (h.tag == 0 || h.tag >= CTL_T_MAX_ || h.reserved || h.len > n - off)
			return false;
		off += h.len;
	}
	return true;
}

/* The properties of a complete message m made of the given fragments. */
static void check_msg(const struct ctl_msg *m, uint16_t type, uint32_t request,
		      size_t total, int fd, size_t max_payload)
{
	FUZZ_ASSERT(m->type == type && m->request == request);
	FUZZ_ASSERT(m->len == total && m->len <= max_payload);
	FUZZ_ASSERT(m->fd == fd);
	FUZZ_ASSERT(m->len == 0 || m->payload[m->len] == '\0');
	FUZZ_ASSERT(m->nfields >= 0 && m->nfields <= CTL_FIELDS_MAX);
	/* The fields tile the payload: encoding them again gives it back. */
	struct buf b = {0};
	for (int i = 0; i < m->nfields; i++) {
		const struct ctl_field *f = &m->fields[i];
		FUZZ_ASSERT(f->tag > 0 && f->tag < CTL_T_MAX_);
		FUZZ_ASSERT(f->val >= m->payload && f->val + f->len <= m->payload + m->len);
		ctl_put(&b, f->tag, f->val, f->len);
		FUZZ_ASSERT(ctl_find(m, f->tag) != NULL && ctl_count(m, f->tag) >= 1);
		uint32_t v;
		FUZZ_ASSERT(ctl_field_u32(f, &v) == (f->len == 4));
		char *s = ctl_field_str(f);
		FUZZ_ASSERT(memcmp(s, f->val, f->len) == 0 && s[f->len] == '\0');
		free(s);
	}
	FUZZ_ASSERT(b.len == m->len && (m->len == 0 || memcmp(b.p, m->payload, m->len) == 0));
	buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t max_payload = (size_t)64 << (data[0] & 7); /* 64 B .. 8 KiB */
	data++;
	size--;
	nfds = 0;
	struct ctl_reader r = {0};
	/* What the reader should hold: the open message's first fragment. */
	bool open_msg = false;
	uint16_t type = 0;
	uint32_t request = 0;
	size_t total = 0;
	int first_fd = -1;
	struct buf acc = {0}; /* the open message's payload so far */
	while (size >= 3) {
		bool pass = data[0] & 1;
		size_t len = (size_t)data[1] | (size_t)data[2] << 8;
		data += 3;
		size -= 3;
		if (len > size)
			len = size;
		/* A copy of exactly the datagram's size, as recvmsg fills. */
		char *dg = malloc(len ? len : 1);
		FUZZ_ASSERT(dg);
		memcpy(dg, data, len);
		data += len;
		size -= len;
		int fd = pass ? new_fd() : -1;

		struct ctl_header h;
		bool hdr = len >= sizeof h;
		if (hdr)
			memcpy(&h, dg, sizeof h);
		/* What the reader must do, by the specification in ctl_proto.h. */
		bool ok = hdr && h.version == CTL_PROTOCOL_VERSION && h.length == len - sizeof h &&
			  !(h.flags & ~(uint32_t)CTL_F_MORE) &&
			  (!open_msg || (h.type == type && h.request == request && fd == -1)) &&
			  (open_msg ? total : 0) + h.length <= max_payload;
		if (ok && !(h.flags & CTL_F_MORE)) {
			struct buf whole = {0};
			if (open_msg)
				buf_add(&whole, acc.p, acc.len);
			buf_add(&whole, dg + sizeof h, h.length);
			ok = fields_valid(whole.p, whole.len);
			buf_free(&whole);
		}
		struct ctl_msg m;
		char err[160];
		err[0] = '\0';
		int rc = ctl_reader_feed(&r, dg, len, fd, max_payload, &m, err, sizeof err);
		FUZZ_ASSERT(rc >= -1 && rc <= 1);
		FUZZ_ASSERT((rc >= 0) == ok);
		if (rc < 0) {
			FUZZ_ASSERT(err[0] != '\0');
			FUZZ_ASSERT(!r.active && r.fd == -1);
			open_msg = false;
		} else {
			FUZZ_ASSERT(hdr && h.version == CTL_PROTOCOL_VERSION);
			FUZZ_ASSERT(h.length == len - sizeof h);
			if (!open_msg) {
				open_msg = true;
				type = h.type;
				request = h.request;
				total = 0;
				first_fd = fd;
				acc.len = 0;
			} else {
				FUZZ_ASSERT(fd == -1 && h.type == type && h.request == request);
			}
			total += h.length;
			buf_add(&acc, dg + sizeof h, h.length);
			FUZZ_ASSERT(rc == ((h.flags & CTL_F_MORE) ? 0 : 1));
			if (rc == 1) {
				check_msg(&m, type, request, total, first_fd, max_payload);
				ctl_msg_clear(&m);
				FUZZ_ASSERT(m.fd == -1 && m.payload == NULL);
				open_msg = false;
			}
		}
		FUZZ_ASSERT(r.active == open_msg);
		free(dg);
	}
	ctl_reader_reset(&r);
	buf_free(&acc);
	/* Every descriptor passed in was closed by the reader or the message. */
	for (int i = 0; i < nfds; i++)
		FUZZ_ASSERT(fcntl(fds[i], F_GETFD) == -1);
	return 0;
}
