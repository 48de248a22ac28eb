/* worker.h -- a background thread that runs queued jobs in batches and
 * hands each finished job back to the libevent loop thread.
 *
 * A job is a struct store_job embedded in the owner's own job struct, so
 * queueing allocates nothing. The thread takes every queued job at once and
 * gives the whole FIFO list to run(), which may batch them (the SQLite
 * writer commits them in one transaction). run() passes each job, in any
 * grouping but in the order it wants them completed, to store_worker_done();
 * the loop thread then calls complete() for each, in that order.
 *
 * Completions reach the loop through an eventfd(2) watched by a persistent
 * read event on the base: the thread only write(2)s to the eventfd, so the
 * base needs no libevent threading support (evthread_use_pthreads is not
 * required), and any number of completions queued before the loop wakes
 * cost one wake-up. eventfd rather than a pipe: one descriptor, and its
 * counter cannot fill up the way a pipe buffer can. */
#ifndef HUBD_STORE_WORKER_H
#define HUBD_STORE_WORKER_H

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct store_worker;

/* Embed as a member of the owner's job; the worker links jobs through it. */
struct store_job {
	struct store_job *next;
};

/* Runs on the worker thread. jobs is a NULL-terminated FIFO list of every
 * job queued since the last call, or NULL for an idle tick (see tick_ms).
 * Every job must be passed to store_worker_done() exactly once before run
 * returns. Returns true when it has background work left (for example a
 * retention pass that stopped early): the worker then calls run(ctx, NULL)
 * again as soon as no jobs are waiting, instead of waiting for the next
 * tick. */
typedef bool (*store_worker_run_fn)(void *ctx, struct store_job *jobs);
/* Runs on the loop thread (or in store_worker_flush) once per finished job,
 * in store_worker_done() order. Usually frees the job. */
typedef void (*store_worker_complete_fn)(void *ctx, struct store_job *job);

/* Creates the worker and starts its thread (with every signal blocked).
 * When tick_ms > 0, run(ctx, NULL) is also called after tick_ms of
 * idleness. Completions are delivered on base's loop. Returns NULL with a
 * reason in err when the eventfd, the event or the thread cannot be
 * created. */
struct store_worker *store_worker_new(struct event_base *base,
				      store_worker_run_fn run,
				      store_worker_complete_fn complete,
				      void *ctx, int tick_ms, char *err,
				      size_t errlen);

/* Queues job (the worker borrows it until complete() is called). Any thread.
 * Cannot fail; must not be called after store_worker_stop(). */
void store_worker_push(struct store_worker *w, struct store_job *job);

/* Worker thread only (from run): job is finished; complete() will be
 * called for it on the loop thread. Cannot fail. */
void store_worker_done(struct store_worker *w, struct store_job *job);

/* True once store_worker_stop() has been called without drain; run() may
 * check it between jobs to finish the rest quickly (still passing each to
 * store_worker_done). Any thread. */
bool store_worker_cancelled(struct store_worker *w);

/* Stops the thread and joins it. With drain, every job queued before the
 * call is run first. Without, the job running now finishes and the jobs
 * not yet taken are returned as a FIFO list (ownership back to the caller,
 * who must dispose of them; complete() is not called for them). Returns
 * NULL when nothing was left. Completions already passed to
 * store_worker_done() stay pending: see store_worker_flush(). Blocks.
 * Loop thread; a second call returns NULL at once. */
struct store_job *store_worker_stop(struct store_worker *w, bool drain);

/* Calls complete() now, on the calling thread, for every finished job not
 * yet completed. Loop thread only (the loop need not be running). */
void store_worker_flush(struct store_worker *w);

/* Stops the thread if it still runs (draining), flushes pending
 * completions, then frees the event, the eventfd and w.
 * store_worker_free(NULL) is a no-op. Loop thread only. */
void store_worker_free(struct store_worker *w);

#endif
