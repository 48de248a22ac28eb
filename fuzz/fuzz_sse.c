/* fuzz_sse.c -- fuzzes the SSE encoder (sse.c, and msg.c's encode-once msg_sse): the bytes must parse back, as an EventSource reads them, to exactly the event that was encoded. */
#include "config.h"

#include <stdbool.h>

#include "fuzz_input.h"
#include "msg.h"
#include "sse.h"

/* Input: one flags byte (bit 0: an id, bit 1: a type, bit 2: a retry),
 * then id \0 type \0 data (the rest, NUL bytes included). The retry is the
 * data's length times a thousand. */

/* s[0..n) without CR and LF, as the encoder writes a field. */
static char *strip_breaks(const char *s, size_t *n)
{
	char *out = malloc(strlen(s) + 1);
	FUZZ_ASSERT(out);
	size_t o = 0;
	for (; *s; s++)
		if (*s != '\r' && *s != '\n')
			out[o++] = *s;
	out[o] = '\0';
	*n = o;
	return out;
}

/* True when line[0..len) is the field name (with ": "); its value must
 * then be value without line breaks. */
static bool is_field(const char *line, size_t len, const char *name, const char *value)
{
	size_t nn = strlen(name), vn;
	if (len < nn || memcmp(line, name, nn) != 0)
		return false;
	char *v = strip_breaks(value, &vn);
	FUZZ_ASSERT(len - nn == vn && memcmp(line + nn, v, vn) == 0);
	free(v);
	return true;
}

/* data with every CRLF, CR and LF made one LF, as an EventSource joins
 * the data lines. */
static char *normalize(const char *data, size_t len, size_t *n)
{
	char *out = malloc(len + 1);
	FUZZ_ASSERT(out);
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		if (data[i] == '\r') {
			out[o++] = '\n';
			if (i + 1 < len && data[i + 1] == '\n')
				i++;
		} else {
			out[o++] = data[i];
		}
	}
	out[o] = '\0';
	*n = o;
	return out;
}

/* Checks the encoding e[0..n) of one event field by field: lines end in
 * LF only; the id, event and retry lines come first, in that order, once
 * each, with the expected values; then every line is "data: ..." and the
 * joined data is want; the event ends with one blank line. */
static void check_event(const char *e, size_t n, const char *id, const char *type,
			int64_t retry, const char *want, size_t wantlen)
{
	FUZZ_ASSERT(n >= 2 && e[n - 1] == '\n' && e[n - 2] == '\n');
	struct buf data = {0};
	size_t pos = 0, ndata = 0;
	int stage = 0; /* 0: before id, 1: before event, 2: before retry, 3: data */
	bool saw_id = false, saw_type = false, saw_retry = false;
	while (pos < n - 1) {
		const char *nl = memchr(e + pos, '\n', n - 1 - pos);
		FUZZ_ASSERT(nl);
		const char *line = e + pos;
		size_t len = (size_t)(nl - line);
		FUZZ_ASSERT(!memchr(line, '\r', len));
		FUZZ_ASSERT(len > 0); /* the only blank line is the last */
		if (stage < 1 && id && is_field(line, len, "id: ", id)) {
			stage = 1;
			saw_id = true;
		} else if (stage < 2 && type && is_field(line, len, "event: ", type)) {
			stage = 2;
			saw_type = true;
		} else if (stage < 3 && retry >= 0 && len >= 7 && memcmp(line, "retry: ", 7) == 0) {
			char num[32];
			int k = snprintf(num, sizeof num, "%lld", (long long)retry);
			FUZZ_ASSERT((size_t)k == len - 7 && memcmp(line + 7, num, (size_t)k) == 0);
			stage = 3;
			saw_retry = true;
		} else {
			FUZZ_ASSERT(len >= 6 && memcmp(line, "data: ", 6) == 0);
			if (ndata++)
				buf_addc(&data, '\n');
			buf_add(&data, line + 6, len - 6);
			stage = 3;
		}
		pos += len + 1;
	}
	FUZZ_ASSERT(pos == n - 1);
	FUZZ_ASSERT(saw_id == !!id && saw_type == !!type && saw_retry == (retry >= 0));
	FUZZ_ASSERT(ndata >= 1);
	FUZZ_ASSERT(data.len == wantlen && (wantlen == 0 || memcmp(data.p, want, wantlen) == 0));
	buf_free(&data);
}

int LLVMFuzzerTestOneInput(const uint8_t *raw, size_t size)
{
	if (size < 1)
		return 0;
	unsigned flags = raw[0];
	struct fuzz_parts in;
	fuzz_split(raw + 1, size - 1, 3, &in);
	const char *id = flags & 1 ? in.s[0] : NULL;
	const char *type = flags & 2 ? in.s[1] : NULL;
	const char *data = in.s[2];
	size_t datalen = in.len[2];
	int64_t retry = flags & 4 ? (int64_t)datalen * 1000 : -1;
	size_t wantlen;
	char *want = normalize(data, datalen, &wantlen);

	struct buf out = {0};
	buf_adds(&out, "x"); /* appends, never overwrites */
	sse_encode_event(&out, id, type, retry, data, datalen);
	FUZZ_ASSERT(out.p[0] == 'x');
	check_event(out.p + 1, out.len - 1, id, type, retry, want, wantlen);

	/* The encoding a message carries is the same bytes. */
	const char *topics[1] = {"t"};
	struct msg *m = msg_new(id ? id : "i", topics, 1, type, retry, false, data, datalen);
	size_t mlen;
	const char *enc = msg_sse(m, &mlen);
	if (id) {
		FUZZ_ASSERT(mlen == out.len - 1 && memcmp(enc, out.p + 1, mlen) == 0);
	} else {
		check_event(enc, mlen, "i", type, retry, want, wantlen);
	}
	msg_unref(m);
	buf_free(&out);

	/* A comment is one line and a blank one. */
	struct buf c = {0};
	sse_encode_comment(&c, data);
	FUZZ_ASSERT(c.len >= 3 && c.p[0] == ':' && c.p[c.len - 1] == '\n' && c.p[c.len - 2] == '\n');
	FUZZ_ASSERT(!memchr(c.p, '\r', c.len) && memchr(c.p, '\n', c.len) == c.p + c.len - 2);
	buf_free(&c);

	free(want);
	fuzz_parts_free(&in);
	return 0;
}
