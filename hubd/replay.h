/* replay.h -- one stream's replay from history (a subscribe with
 * Last-Event-ID): the store is read in pages up to the last update the
 * feed had delivered when the replay began, while the live updates that
 * arrive meanwhile are held back, so the stream gets every update after
 * the one it names, in order, with no gap and no duplicate between
 * history and live; then the stream goes live. A replay paces itself so
 * that the stream stays within max-queue (see replay.c). Loop thread
 * only. */
#ifndef HUBD_REPLAY_H
#define HUBD_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

struct match_rules;
struct msg;
struct stream;
struct replay;

/* What every replay of one hub shares; the owner's, borrowed by each
 * replay for its life. */
struct replay_env {
	struct store *store;
	size_t max_queue;    /* the streams' limit (stream_set_config) */
	uint64_t replayed;   /* updates queued from history */
	uint64_t delivered;  /* held-back live updates queued at the end */
	/* A hand-over is being prepared: no replay asks the store for a page
	 * (each waits, replay_kick resumes it); inflight counts the pages out. */
	bool frozen;
	int inflight;
	/* The replay of s is over: the stream is live (or ending). The replay
	 * frees itself after this returns; the owner forgets its pointer.
	 * Not called for a replay that replay_start finished at once, nor
	 * after replay_cancel. */
	void (*finished)(void *owner, struct stream *s);
	void *owner;
};

/* Starts the replay of stream s (in STREAM_REPLAYING, response not
 * started) of every update after last_event_id ("earliest": from the
 * oldest retained) up to upto, the position of the last update the feed
 * delivered (upto_id its id, NULL when the store holds none), through the
 * store, with rules deciding what s may receive (borrowed: they must
 * outlive the replay). An id the store does not know makes the response
 * say so (X-Hubd-Replay: reset, a hubd-replay-reset event) and replays all
 * that is retained. An id the store knows but the feed has not delivered
 * yet (a shared store: another node's update) replays nothing: s goes live
 * after it, the feed's updates up to it skipped. upto 0 (the feed has
 * delivered nothing yet) replays all the store holds after the id.
 * Returns the replay, which holds a reference on s, or NULL when it is
 * over already ("earliest" with upto 0: s is live). Cannot fail (a store
 * error closes s later). */
struct replay *replay_start(struct replay_env *env, struct stream *s,
			    const struct match_rules *rules, const char *last_event_id,
			    store_pos upto, const char *upto_id);
/* Resumes stream s, whose response is under way already (taken over from
 * another hubd), after position after: every update after it up to upto
 * that rules accept, then live. No header, no reset event. Returns the
 * replay (as replay_start), or NULL when after >= upto (s is live). */
struct replay *replay_resume(struct replay_env *env, struct stream *s,
			     const struct match_rules *rules, store_pos after, store_pos upto);
/* Asks for the page a replay waits for, if it waits for one (after
 * env->frozen was cleared). */
void replay_kick(struct replay *r);
/* The Last-Event-ID a replay whose first page has not come back was
 * started with ("earliest" for all). */
const char *replay_requested_id(const struct replay *r);
/* Live update m (committed after upto) for the replaying stream: held back
 * until the replay is done (a reference), unless the replay covers it
 * already. When the hold-back would pin more than max_queue / 2, it is
 * dropped and the replay reads those updates from the store instead. */
void replay_hold(struct replay *r, struct msg *m);
/* The stream's queue shrank (stream_set_config.drained): asks for the next
 * page, or finishes the replay once it is written out. */
void replay_drained(struct replay *r);
/* The stream closed: drops what the replay holds; a page query still out
 * finishes the freeing when it returns. No callback follows. */
void replay_cancel(struct replay *r);

#endif
