/* msg.h -- an update: immutable once published (but that its encoding,
 * built once, replaces its data), reference-counted, and encoded once as
 * SSE bytes no matter how many subscribers receive it (each stream frames
 * those bytes itself when it writes: outq.h). */
#ifndef HUBD_MSG_H
#define HUBD_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "url.h"

#define MSG_MAX_TOPICS 64

/* A topic parsed as a URL (for URL pattern matchers). */
struct msg_url {
	struct url url; /* when ok */
	bool ok;        /* false: the topic is no URL reference (no pattern
			 * matches it) */
};

struct msg {
	int refs;
	int64_t seq;     /* hub-wide order, assigned at publish; 0 = not yet */
	char *id;        /* never NULL once published; no CR/LF, not "#..." */
	char **topics;   /* ntopics >= 1; topics[0] is the canonical topic */
	int ntopics;
	char *type;      /* SSE "event:" or NULL */
	int64_t retry;   /* SSE "retry:" in ms, or -1 for none */
	bool priv;       /* Mercure private update */
	int64_t time_ms; /* publish time, ms since the epoch */
	char *data;      /* NUL-terminated copy, datalen excludes the NUL;
			  * NULL once the encoding is built (msg_sse) */
	size_t datalen;  /* the data's length, also after that */

	/* The SSE encoding, built on first use by msg_sse(); it takes the
	 * data's place, so a delivered update is held once, not twice. */
	char *sse;
	size_t sse_len;
	size_t mem;      /* msg_mem once the encoding is built (fixed from then
			  * on), else 0 */
	struct msg_url *urls; /* the topics as URLs, parsed on first need
			       * (msg_topic_urls), or NULL */
};

/* Creates a message with one reference. Every string argument is copied;
 * id may be NULL (set later with msg_set_id), type may be NULL. Cannot
 * fail (aborts on OOM). */
struct msg *msg_new(const char *id, const char *const *topics, int ntopics,
		    const char *type, int64_t retry, bool priv,
		    const char *data, size_t datalen);
/* Replaces the id (copies). Only before the message is shared. */
void msg_set_id(struct msg *m, const char *id);
/* Makes a hub-chosen id: "urn:uuid:" + a time-ordered (v7) UUID; the ids
 * one thread makes only grow (in byte order). Returns a malloc'ed string;
 * cannot fail. */
char *msg_make_id(void);

/* The topics of m (ntopics entries) parsed as URL references against base
 * (borrowed: the hub's URL, the same for every caller), parsed once, on the
 * first call, and kept with m. Safe on any thread that holds a reference
 * (two threads racing to parse keep one result). Cannot fail (aborts on
 * OOM). */
const struct msg_url *msg_topic_urls(struct msg *m, const struct url *base);

struct msg *msg_ref(struct msg *m);
/* Drops one reference; frees at zero. msg_unref(NULL) is a no-op. */
void msg_unref(struct msg *m);

/* The update as SSE event bytes (id, event, retry, data lines, blank line).
 * Built once, owned by the message, valid while the caller holds a ref.
 * Building it frees m->data (NULL from then on): call it only on a message
 * whose data nobody reads again, one that is stored and is now delivered
 * (fan-out, replay), never on one that history will show. Whoever holds
 * the message alone may call it on any thread (the store's reader does,
 * for replay pages); once the message is shared, the loop thread only. */
const char *msg_sse(struct msg *m, size_t *len);

/* The heap memory m holds now, an estimate: the struct, its id, type and
 * topics, its data or its encoding (whichever it has, or both), each with
 * glibc's per-allocation overhead (heap_size). A stream that queues m
 * counts all of it (outq.h), twice per delivery: once the encoding is
 * built the figure is kept (m->mem), so the fan-out does not add it up
 * again for every stream. Cannot fail. */
size_t msg_mem(const struct msg *m);

/* True when any of the message's topics equals topic. */
bool msg_has_topic(const struct msg *m, const char *topic);

#endif
