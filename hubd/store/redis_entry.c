/* redis_entry.c -- the Redis log's entry format (redis_entry.h). */
#include "config.h"

#include "redis_entry.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void add_item(struct buf *out, const char *p, size_t n)
{
	buf_printf(out, "%zu:", n);
	buf_add(out, p, n);
}

void redis_entry_content(struct buf *out, const struct msg *m)
{
	char num[32];
	if (m->type)
		add_item(out, m->type, strlen(m->type));
	else
		buf_adds(out, "-:");
	add_item(out, num, (size_t)snprintf(num, sizeof num, "%lld",
					    (long long)(m->retry < 0 ? -1 : m->retry)));
	add_item(out, m->priv ? "1" : "0", 1);
	add_item(out, num, (size_t)snprintf(num, sizeof num, "%d", m->ntopics));
	for (int i = 0; i < m->ntopics; i++)
		add_item(out, m->topics[i], strlen(m->topics[i]));
	add_item(out, m->data ? m->data : "", m->data ? m->datalen : 0);
}

/* A cursor over a content string. */
struct reader {
	const char *p, *end;
};

/* Takes the next item: *item and *n, or *item NULL for "-:". False when
 * the text there is no item. */
static bool next_item(struct reader *r, const char **item, size_t *n)
{
	if (r->end - r->p >= 2 && r->p[0] == '-' && r->p[1] == ':') {
		r->p += 2;
		*item = NULL;
		*n = 0;
		return true;
	}
	size_t len = 0;
	const char *p = r->p;
	for (; p < r->end && *p >= '0' && *p <= '9'; p++) {
		if (p - r->p >= 10) /* no item is 10 GB long */
			return false;
		len = len * 10 + (size_t)(*p - '0');
	}
	if (p == r->p || p == r->end || *p != ':' || (size_t)(r->end - p - 1) < len)
		return false;
	*item = p + 1;
	*n = len;
	r->p = p + 1 + len;
	return true;
}

/* A copy of an item that must be text: no NUL inside, present. */
static char *text_item(struct reader *r, bool may_be_missing, bool *ok)
{
	const char *item;
	size_t n;
	if (!next_item(r, &item, &n) || (!item && !may_be_missing) ||
	    (item && memchr(item, '\0', n))) {
		*ok = false;
		return NULL;
	}
	return item ? xmemdup(item, n) : NULL;
}

/* A whole decimal p[0..n) in [lo, hi] (a leading '-' allowed) into *out. */
static bool parse_int(const char *p, size_t n, int64_t lo, int64_t hi, int64_t *out)
{
	bool neg = n > 0 && p[0] == '-';
	if (n == (size_t)neg || n - neg > 18) /* 18 digits cannot overflow */
		return false;
	int64_t v = 0;
	for (size_t i = neg; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		v = v * 10 + (p[i] - '0');
	}
	v = neg ? -v : v;
	if (v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

/* An item that is a whole decimal in [lo, hi]. */
static bool number_item(struct reader *r, int64_t lo, int64_t hi, int64_t *out)
{
	const char *item;
	size_t n;
	return next_item(r, &item, &n) && item && parse_int(item, n, lo, hi, out);
}

struct msg *redis_entry_decode(const char *id, size_t idlen, const char *content,
			       size_t clen, const char *ms, size_t mslen)
{
	struct reader r = {content, content + clen};
	char *topics[MSG_MAX_TOPICS];
	int64_t retry, priv, ntopics, time_ms;
	struct msg *m = NULL;
	bool ok = true;
	int got = 0;

	if (idlen == 0 || memchr(id, '\0', idlen) || has_line_break(id, idlen))
		return NULL;
	if (!parse_int(ms, mslen, 0, INT64_MAX, &time_ms))
		return NULL;

	char *type = text_item(&r, true, &ok);
	if (ok && number_item(&r, -1, INT64_MAX, &retry) && number_item(&r, 0, 1, &priv) &&
	    number_item(&r, 1, MSG_MAX_TOPICS, &ntopics)) {
		while (ok && got < ntopics) {
			topics[got] = text_item(&r, false, &ok);
			if (ok)
				got++;
		}
		const char *data;
		size_t datalen;
		if (ok && next_item(&r, &data, &datalen) && data && r.p == r.end) {
			char *ids = xmemdup(id, idlen);
			m = msg_new(ids, (const char *const *)topics, got, type, retry,
				    priv != 0, data, datalen);
			m->time_ms = time_ms;
			free(ids);
		}
	}
	for (int i = 0; i < got; i++)
		free(topics[i]);
	free(type);
	return m;
}
