/* query.c -- a store's own copy of a query. */
#include "config.h"

#include "query.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

struct store_query *store_query_copy(const struct store_query *q, int limit_max, bool *all)
{
	int nt = q->ntopics > 0 ? q->ntopics : 0;
	size_t size = sizeof(struct store_query) + (size_t)nt * sizeof(const char *);
	for (int i = 0; i < nt; i++)
		size += strlen(q->topics[i]) + 1;
	if (q->after_id)
		size += strlen(q->after_id) + 1;
	struct store_query *c = xmalloc(size);
	*c = *q;
	const char **topics = (const char **)(c + 1);
	char *p = (char *)(topics + nt);
	if (all)
		*all = false;
	for (int i = 0; i < nt; i++) {
		size_t len = strlen(q->topics[i]) + 1;
		memcpy(p, q->topics[i], len);
		topics[i] = p;
		p += len;
		if (all && strcmp(topics[i], "*") == 0)
			*all = true;
	}
	c->topics = topics;
	c->ntopics = nt;
	if (q->after_id) {
		memcpy(p, q->after_id, strlen(q->after_id) + 1);
		c->after_id = p;
	}
	c->after_seq = q->after_seq > 0 ? q->after_seq : 0;
	c->limit = q->limit < 1 ? 1 : q->limit > limit_max ? limit_max : q->limit;
	return c;
}

bool store_query_wants(const struct store_query *q, bool all, const struct msg *m)
{
	if (m->priv && !q->include_private)
		return false;
	if (all)
		return true;
	for (int i = 0; i < q->ntopics; i++)
		if (msg_has_topic(m, q->topics[i]))
			return true;
	return false;
}

void store_page_init(struct store_page *p, const struct store_query *q)
{
	*p = (struct store_page){.q = q};
}

bool store_page_offer(struct store_page *p, struct msg *m)
{
	const struct store_query *q = p->q;
	if (p->done || (q->filter && !q->filter(m, q->filter_arg))) {
		msg_unref(m);
		return !p->done;
	}
	if (p->n >= q->limit) {
		p->done = p->has_more = true;
		msg_unref(m);
		return false;
	}
	if (q->encode) {
		size_t len;
		msg_sse(m, &len);
	}
	size_t mem = msg_mem(m);
	if (q->max_bytes && p->n > 0 && p->bytes + mem > q->max_bytes) {
		p->done = p->has_more = true;
		msg_unref(m);
		return false;
	}
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 16;
		p->msgs = xrealloc(p->msgs, (size_t)p->cap * sizeof *p->msgs);
	}
	p->msgs[p->n++] = m;
	p->bytes += mem;
	return true;
}

void store_page_clear(struct store_page *p)
{
	while (p->n > 0)
		msg_unref(p->msgs[--p->n]);
	p->bytes = 0;
	p->done = p->has_more = false;
}

void store_page_answer(struct store_page *p, enum store_status status, bool after_found,
		       store_pos after_pos, store_query_cb cb, void *arg)
{
	if (status != STORE_OK) {
		store_page_clear(p);
		after_found = !p->q->after_id;
	}
	if (status != STORE_OK || !after_found || !p->q->after_id)
		after_pos = 0;
	if (cb)
		cb(arg, status, p->msgs, p->n, after_found, after_pos, p->has_more);
	else
		store_page_clear(p);
	free(p->msgs);
	p->msgs = NULL;
	p->n = p->cap = 0;
}
