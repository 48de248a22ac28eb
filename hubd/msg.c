/* msg.c -- reference-counted updates with encodings built once. */
#include "config.h"

#include "msg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fcgi_record.h"
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

char *msg_make_id(void)
{
	unsigned char u[16];
	if (!random_bytes(u, sizeof u)) {
		/* getrandom cannot fail for 16 bytes once the pool is up;
		 * fall back to a time-and-counter mix just in case. */
		static uint64_t counter;
		uint64_t a = (uint64_t)now_ms(), b = ++counter ^ (uint64_t)mono_ms() << 20;
		memcpy(u, &a, 8);
		memcpy(u + 8, &b, 8);
	}
	u[6] = (unsigned char)((u[6] & 0x0f) | 0x40); /* version 4 */
	u[8] = (unsigned char)((u[8] & 0x3f) | 0x80); /* RFC 4122 variant */
	char *s = xmalloc(9 + 36 + 1);
	int n = sprintf(s, "urn:uuid:");
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			s[n++] = '-';
		n += sprintf(s + n, "%02x", u[i]);
	}
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
	free(m->fcgi);
	free(m);
}

const char *msg_sse(struct msg *m, size_t *len)
{
	if (!m->sse) {
		struct buf b = {0};
		sse_encode_event(&b, m->id, m->type, m->retry, m->data, m->datalen);
		m->sse = buf_steal(&b, &m->sse_len);
	}
	*len = m->sse_len;
	return m->sse;
}

const char *msg_fcgi(struct msg *m, size_t *len)
{
	if (!m->fcgi) {
		size_t sse_len;
		const char *sse = msg_sse(m, &sse_len);
		struct buf b = {0};
		fcgi_append_stdout(&b, 1, sse, sse_len);
		m->fcgi = buf_steal(&b, &m->fcgi_len);
	}
	*len = m->fcgi_len;
	return m->fcgi;
}

bool msg_has_topic(const struct msg *m, const char *topic)
{
	for (int i = 0; i < m->ntopics; i++)
		if (strcmp(m->topics[i], topic) == 0)
			return true;
	return false;
}
