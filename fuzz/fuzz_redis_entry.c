/* fuzz_redis_entry.c -- fuzzes the Redis log's entry decoder
 * (hubd/store/redis_entry.c): the content of an entry another program, or
 * a damaged log, may have written. */
#include "config.h"

#include "fuzz_input.h"
#include "msg.h"
#include "store/redis_entry.h"

/* Input: the "c" string, whole (NUL bytes included). An update it decodes
 * to, encoded again, decodes to the same update, and that encoding is
 * stable (encoding the second decode gives the same bytes). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *c = malloc(size ? size : 1);
	FUZZ_ASSERT(c);
	memcpy(c, data, size);
	struct msg *m = redis_entry_decode("urn:x", 5, c, size, "1700000000000", 13);
	free(c);
	if (!m)
		return 0;
	FUZZ_ASSERT(m->ntopics >= 1 && m->ntopics <= MSG_MAX_TOPICS);
	FUZZ_ASSERT(m->time_ms == 1700000000000 && strcmp(m->id, "urn:x") == 0);
	struct buf once = {0}, twice = {0};
	redis_entry_content(&once, m);
	struct msg *again = redis_entry_decode("urn:x", 5, once.p, once.len, "1", 1);
	FUZZ_ASSERT(again);
	FUZZ_ASSERT(again->ntopics == m->ntopics && again->priv == m->priv &&
		    again->retry == m->retry && again->datalen == m->datalen &&
		    memcmp(again->data, m->data, m->datalen) == 0);
	FUZZ_ASSERT((!again->type && !m->type) ||
		    (again->type && m->type && strcmp(again->type, m->type) == 0));
	for (int i = 0; i < m->ntopics; i++)
		FUZZ_ASSERT(strcmp(again->topics[i], m->topics[i]) == 0);
	redis_entry_content(&twice, again);
	FUZZ_ASSERT(twice.len == once.len && memcmp(twice.p, once.p, once.len) == 0);
	buf_free(&once);
	buf_free(&twice);
	msg_unref(again);
	msg_unref(m);
	return 0;
}
