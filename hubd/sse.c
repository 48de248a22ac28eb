/* sse.c -- Server-Sent Events encoding (pure; see sse.h). */
#include "config.h"

#include "sse.h"

#include <inttypes.h>
#include <string.h>

/* Appends "name: value\n" with any CR/LF in value left out. */
static void add_field(struct buf *out, const char *name, const char *value)
{
	buf_adds(out, name);
	buf_adds(out, ": ");
	for (const char *p = value; *p; p++)
		if (*p != '\r' && *p != '\n')
			buf_addc(out, *p);
	buf_addc(out, '\n');
}

void sse_encode_event(struct buf *out, const char *id, const char *type,
		      int64_t retry, const char *data, size_t datalen)
{
	buf_reserve(out, datalen + 64);
	if (id)
		add_field(out, "id", id);
	if (type)
		add_field(out, "event", type);
	if (retry >= 0)
		buf_printf(out, "retry: %" PRId64 "\n", retry);

	/* One "data: " line per line of data; CRLF, CR and LF end a line. */
	size_t start = 0;
	for (size_t i = 0; i <= datalen; i++) {
		if (i < datalen && data[i] != '\r' && data[i] != '\n')
			continue;
		buf_add(out, "data: ", 6);
		buf_add(out, data + start, i - start);
		buf_addc(out, '\n');
		if (i < datalen && data[i] == '\r' && i + 1 < datalen && data[i + 1] == '\n')
			i++;
		start = i + 1;
	}
	buf_addc(out, '\n');
}

void sse_encode_comment(struct buf *out, const char *text)
{
	buf_addc(out, ':');
	for (const char *p = text; *p; p++)
		buf_addc(out, (*p == '\r' || *p == '\n') ? ' ' : *p);
	buf_add(out, "\n\n", 2);
}
