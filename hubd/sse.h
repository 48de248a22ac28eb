/* sse.h -- Server-Sent Events encoding. Pure functions: no I/O, no state. */
#ifndef HUBD_SSE_H
#define HUBD_SSE_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* Appends one event to out: "id: ID\n", "event: TYPE\n" when type is
 * non-NULL, "retry: N\n" when retry >= 0, then the data as "data: " lines
 * split on LF, CR and CRLF (an empty data yields one empty "data: " line;
 * an empty line inside data becomes an empty "data: " line), then "\n".
 * id and type must not hold CR or LF (the caller checked); if they do,
 * the line breaks are dropped rather than forging fields. Cannot fail. */
void sse_encode_event(struct buf *out, const char *id, const char *type,
		      int64_t retry, const char *data, size_t datalen);

/* Appends a comment line ":TEXT\n\n" (TEXT may be empty). Line breaks in
 * text are replaced by spaces. */
void sse_encode_comment(struct buf *out, const char *text);

#endif
