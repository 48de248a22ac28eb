/* fuzz_handover.c -- fuzzes the hand-over record decoder (handover.c),
 * which a taking-over hubd runs on what the former hubd sent: any bytes
 * are decoded or refused without a crash or a read past the record; a
 * record it decodes encodes back to the very same bytes, and decodes
 * again to the same record. */
#include "config.h"

#include "fuzz_input.h"
#include "handover.h"

static bool same(const struct handover_stream *a, const struct handover_stream *b)
{
	bool eq = a->phase == b->phase && a->mode == b->mode && a->request_id == b->request_id &&
		  a->no_x_accel == b->no_x_accel && a->probe_twice == b->probe_twice &&
		  a->draft08 == b->draft08 && a->carry_ends == b->carry_ends &&
		  a->resume_after == b->resume_after && a->idle_ms == b->idle_ms &&
		  a->end_s == b->end_s && a->nmatchers == b->nmatchers &&
		  a->carry.len == b->carry.len &&
		  (a->carry.len == 0 || memcmp(a->carry.p, b->carry.p, a->carry.len) == 0);
	for (int i = 0; eq && i < a->nmatchers; i++)
		eq = a->matchers[i].syntax == b->matchers[i].syntax &&
		     a->matchers[i].allowed == b->matchers[i].allowed &&
		     strcmp(a->matchers[i].text, b->matchers[i].text) == 0;
	return eq;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A copy of its own size: a read past the record is seen. */
	char *p = malloc(size ? size : 1);
	FUZZ_ASSERT(p);
	memcpy(p, data, size);
	struct handover_stream st, again;
	char err[128];
	if (handover_stream_decode(p, size, &st, err, sizeof err) == 0) {
		FUZZ_ASSERT(st.nmatchers >= 1 && st.nmatchers <= HANDOVER_MATCHERS_MAX);
		FUZZ_ASSERT(!st.matchers[0].allowed);
		struct buf b = {0};
		handover_stream_encode(&st, &b);
		FUZZ_ASSERT(b.len == size && memcmp(b.p, p, size) == 0);
		FUZZ_ASSERT(handover_stream_decode(b.p, b.len, &again, err, sizeof err) == 0);
		FUZZ_ASSERT(same(&st, &again));
		handover_stream_clear(&again);
		buf_free(&b);
	} else {
		FUZZ_ASSERT(strstr(err, "malformed stream record") == err);
	}
	handover_stream_clear(&st);
	free(p);
	return 0;
}
