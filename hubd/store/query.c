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
