/* msg.c -- reference-counted updates with encodings built once. */
#include "config.h"

#include "msg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sse.h"
#include "util.h"

struct msg *msg_new(const char *id, const char *const *topics, int ntopics,
		    const char *type, int64_t retry, bool priv,
		    const char *data, size_t datalen)
{
	struct msg *m = xcalloc(1, sizeof *m);
	m->refs = 1;
	m->id = id ? xstrdup(id) : NULL;
	m->ntopics = ntopics;
	m->topics = xcalloc((size_t)ntopics, sizeof *m->topics);
	for (int i = 0; i < ntopics; i++)
		m->topics[i] = xstrdup(topics[i]);
	m->type = type ? xstrdup(type) : NULL;
	m->retry = retry;
	m->priv = priv;
	m->data = xmemdup(data ? data : "", data ? datalen : 0);
	m->datalen = data ? datalen : 0;
	return m;
}

void msg_set_id(struct msg *m, const char *id)
{
	free(m->id);
	m->id = xstrdup(id);
}

/* Random bytes from a per-thread pool refilled 256 bytes at a time, so
 * that making an id costs no system call. */
static void pool_random(unsigned char *out, size_t n)
{
	static _Thread_local unsigned char pool[256];
	static _Thread_local size_t left;
	while (n > 0) {
		if (left == 0) {
			if (!random_bytes(pool, sizeof pool)) {
				/* getrandom cannot fail once the pool is up; fall
				 * back to a time-and-counter mix just in case. */
				static _Thread_local uint64_t counter;
				for (size_t i = 0; i < sizeof pool; i += 8) {
					uint64_t x = ((uint64_t)now_ms() ^ (uint64_t)mono_ms() << 20) +
					     ++counter * 0x9e3779b97f4a7c15ull;
					memcpy(pool + i, &x, 8);
				}
			}
			left = sizeof pool;
		}
		size_t k = n < left ? n : left;
		memcpy(out, pool + sizeof pool - left, k);
		left -= k;
		out += k;
		n -= k;
	}
}

char *msg_make_id(void)
{
	/* UUIDv7 (RFC 9562): 48 bits of Unix time in ms, then 12 bits that
	 * count up within one ms (from a random start, so that they never
	 * wrap in practice; on overflow the ms is borrowed from the next one),
	 * then 62 random bits. Ids from one hubd thus only grow, even when
	 * the clock steps back: the store's unique index on ids gets its new
	 * entries at its right edge, so the updates of one commit share an
	 * index page instead of dirtying one random page each. */
	static _Thread_local uint64_t last_ms;
	static _Thread_local unsigned counter;
	unsigned char u[16];
	uint64_t ms = (uint64_t)now_ms();
	if (ms > last_ms) {
		unsigned char r[2];
		pool_random(r, sizeof r);
		last_ms = ms;
		counter = ((unsigned)r[0] << 8 | r[1]) & 0x7ff; /* room for 2048 more */
	} else if (++counter > 0xfff) {
		last_ms++;
		counter = 0;
	}
	for (int i = 0; i < 6; i++)
		u[i] = (unsigned char)(last_ms >> (40 - 8 * i));
	u[6] = (unsigned char)(0x70 | (counter >> 8)); /* version 7 */
	u[7] = (unsigned char)(counter & 0xff);
	pool_random(u + 8, 8);
	u[8] = (unsigned char)((u[8] & 0x3f) | 0x80); /* RFC 4122 variant */
	static const char hex[] = "0123456789abcdef";
	char *s = xmalloc(9 + 36 + 1);
	memcpy(s, "urn:uuid:", 9);
	char *p = s + 9;
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*p++ = '-';
		*p++ = hex[u[i] >> 4];
		*p++ = hex[u[i] & 0xf];
	}
	*p = '\0';
	return s;
}

struct msg *msg_ref(struct msg *m)
{
	m->refs++;
	return m;
}

void msg_unref(struct msg *m)
{
	if (!m || --m->refs > 0)
		return;
	free(m->id);
	for (int i = 0; i < m->ntopics; i++)
		free(m->topics[i]);
	free(m->topics);
	free(m->type);
	free(m->data);
	free(m->sse);
	if (m->urls) {
		for (int i = 0; i < m->ntopics; i++)
			url_clear(&m->urls[i].url);
		free(m->urls);
	}
	free(m);
}

const struct msg_url *msg_topic_urls(struct msg *m, const struct url *base)
{
	struct msg_url *have = __atomic_load_n(&m->urls, __ATOMIC_ACQUIRE);
	if (have)
		return have;
	struct msg_url *urls = xcalloc((size_t)m->ntopics, sizeof *urls);
	for (int i = 0; i < m->ntopics; i++)
		urls[i].ok = url_parse(&urls[i].url, m->topics[i], strlen(m->topics[i]), base,
				       NULL, 0) == 0;
	struct msg_url *expected = NULL;
	if (__atomic_compare_exchange_n(&m->urls, &expected, urls, false, __ATOMIC_ACQ_REL,
					__ATOMIC_ACQUIRE))
		return urls;
	for (int i = 0; i < m->ntopics; i++) /* another thread was first */
		url_clear(&urls[i].url);
	free(urls);
	return expected;
}

const char *msg_sse(struct msg *m, size_t *len)
{
	if (!m->sse) {
		struct buf b = {0};
		sse_encode_event(&b, m->id, m->type, m->retry, m->data, m->datalen);
		m->sse = buf_steal(&b, &m->sse_len);
		/* The buffer grew by doubling: give the slack back. */
		m->sse = xrealloc(m->sse, m->sse_len + 1);
		free(m->data);
		m->data = NULL;
		m->mem = msg_mem(m);
	}
	*len = m->sse_len;
	return m->sse;
}

size_t msg_mem(const struct msg *m)
{
	if (m->mem)
		return m->mem;
	size_t n = heap_size(sizeof *m) + heap_size((size_t)m->ntopics * sizeof *m->topics);
	for (int i = 0; i < m->ntopics; i++)
		n += heap_size(strlen(m->topics[i]) + 1);
	if (m->id)
		n += heap_size(strlen(m->id) + 1);
	if (m->type)
		n += heap_size(strlen(m->type) + 1);
	if (m->data)
		n += heap_size(m->datalen + 1);
	if (m->sse)
		n += heap_size(m->sse_len + 1);
	return n;
}

bool msg_has_topic(const struct msg *m, const char *topic)
{
	for (int i = 0; i < m->ntopics; i++)
		if (strcmp(m->topics[i], topic) == 0)
			return true;
	return false;
}
