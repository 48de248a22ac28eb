/* redis_entry.h -- how an update is kept in one entry of the Redis log:
 * fields "i" (the update's id), "c" (its content: topics, type, retry,
 * private flag and data, one binary-safe string) and "ms" (its publish
 * time). Two publishes are the same update exactly when their ids and
 * their "c" strings are equal (the publish script compares them in
 * Redis). Pure functions, any thread. */
#ifndef HUBD_STORE_REDIS_ENTRY_H
#define HUBD_STORE_REDIS_ENTRY_H

#include <stddef.h>
#include <stdint.h>

#include "msg.h"
#include "util.h"

/* Appends the "c" string of m to out: a list of items, each "LEN:BYTES"
 * ("-:" for a missing type): type, retry (decimal, -1 for none), private
 * ("0" or "1"), the number of topics, each topic, the data. Cannot fail. */
void redis_entry_content(struct buf *out, const struct msg *m);

/* Builds the update an entry holds, from its id, its "c" string and its
 * "ms" text (each len bytes, not NUL-terminated, any bytes). Returns a
 * message with one reference and time_ms set (seq left 0), or NULL when
 * any part is malformed: an empty id or one with a line break, content
 * that is not exactly the items above, no topic or more than
 * MSG_MAX_TOPICS, a time that is not a decimal. Cannot fail otherwise. */
struct msg *redis_entry_decode(const char *id, size_t idlen, const char *content,
			       size_t clen, const char *ms, size_t mslen);

#endif
