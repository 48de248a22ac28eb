/* store_worker.c -- batch job thread with completions delivered to the
 * event loop through an eventfd. */
#include "config.h"

#include "worker.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "util.h"

struct store_worker {
	store_worker_run_fn run;
	store_worker_complete_fn complete;
	void *ctx;
	int tick_ms;

	pthread_mutex_t mu;
	pthread_cond_t cond; /* CLOCK_MONOTONIC; signalled on push and stop */
	/* Queued jobs, FIFO. Under mu. */
	struct store_job *head, **tail;
	/* Finished jobs waiting for complete(), FIFO. Under mu. */
	struct store_job *done_head, **done_tail;
	bool stopping;         /* under mu */
	bool drain;            /* under mu */
	atomic_bool cancelled; /* stop without drain was requested */

	pthread_t thread;
	bool running; /* thread started and not yet joined (loop thread) */
	int efd;
	struct event *ev;
};

/* Absolute CLOCK_MONOTONIC time ms from now, for pthread_cond_timedwait. */
static struct timespec deadline_after(int ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

static void *worker_main(void *arg)
{
	struct store_worker *w = arg;
	bool more = false; /* run() has background work left */

	pthread_mutex_lock(&w->mu);
	for (;;) {
		bool timed_out = false;
		if (!w->head && !w->stopping && !more) {
			if (w->tick_ms > 0) {
				struct timespec ts = deadline_after(w->tick_ms);
				while (!w->head && !w->stopping && !timed_out)
					timed_out = pthread_cond_timedwait(&w->cond, &w->mu, &ts) == ETIMEDOUT;
			} else {
				while (!w->head && !w->stopping)
					pthread_cond_wait(&w->cond, &w->mu);
			}
		}
		if (w->stopping && (!w->drain || !w->head))
			break;
		struct store_job *jobs = w->head;
		if (!jobs && !timed_out && !more)
			continue;
		w->head = NULL;
		w->tail = &w->head;
		pthread_mutex_unlock(&w->mu);

		more = w->run(w->ctx, jobs);

		pthread_mutex_lock(&w->mu);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

/* Loop thread: the eventfd became readable. Read it before taking the
 * list, so a completion queued after the read signals again. */
static void worker_on_event(evutil_socket_t fd, short what, void *arg)
{
	struct store_worker *w = arg;
	uint64_t n;
	ssize_t r = read(w->efd, &n, sizeof n);
	(void)r; /* EAGAIN: a spurious wake-up; the list may still hold jobs */
	store_worker_flush(w);
}

struct store_worker *store_worker_new(struct event_base *base,
				      store_worker_run_fn run,
				      store_worker_complete_fn complete,
				      void *ctx, int tick_ms, char *err,
				      size_t errlen)
{
	struct store_worker *w = xcalloc(1, sizeof *w);
	w->run = run;
	w->complete = complete;
	w->ctx = ctx;
	w->tick_ms = tick_ms;
	w->tail = &w->head;
	w->done_tail = &w->done_head;
	atomic_init(&w->cancelled, false);
	w->efd = -1;

	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&w->mu, NULL);

	w->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->efd < 0) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		goto fail;
	}
	w->ev = event_new(base, w->efd, EV_READ | EV_PERSIST, worker_on_event, w);
	if (!w->ev || event_add(w->ev, NULL) < 0) {
		snprintf(err, errlen, "cannot watch the worker's eventfd");
		goto fail;
	}

	/* The thread inherits this mask: signals go to the loop thread. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int rc = pthread_create(&w->thread, NULL, worker_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		snprintf(err, errlen, "pthread_create: %s", strerror(rc));
		goto fail;
	}
	w->running = true;
	return w;

fail:
	if (w->ev)
		event_free(w->ev);
	if (w->efd >= 0)
		close(w->efd);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cond);
	free(w);
	return NULL;
}

void store_worker_push(struct store_worker *w, struct store_job *job)
{
	job->next = NULL;
	pthread_mutex_lock(&w->mu);
	bool was_empty = !w->head;
	*w->tail = job;
	w->tail = &job->next;
	/* A thread that is busy finds the job when run() returns. */
	if (was_empty)
		pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->mu);
}

void store_worker_done(struct store_worker *w, struct store_job *job)
{
	job->next = NULL;
	pthread_mutex_lock(&w->mu);
	bool was_empty = !w->done_head;
	*w->done_tail = job;
	w->done_tail = &job->next;
	pthread_mutex_unlock(&w->mu);
	if (was_empty) {
		uint64_t one = 1;
		ssize_t r = write(w->efd, &one, sizeof one);
		(void)r; /* EAGAIN only at a counter of 2^64-2: already signalled */
	}
}

bool store_worker_cancelled(struct store_worker *w)
{
	return atomic_load_explicit(&w->cancelled, memory_order_relaxed);
}

struct store_job *store_worker_stop(struct store_worker *w, bool drain)
{
	if (!w->running)
		return NULL;
	if (!drain)
		atomic_store(&w->cancelled, true);
	pthread_mutex_lock(&w->mu);
	w->stopping = true;
	w->drain = drain;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thread, NULL);
	w->running = false;

	struct store_job *left = w->head;
	w->head = NULL;
	w->tail = &w->head;
	return left;
}

void store_worker_flush(struct store_worker *w)
{
	pthread_mutex_lock(&w->mu);
	struct store_job *job = w->done_head;
	w->done_head = NULL;
	w->done_tail = &w->done_head;
	pthread_mutex_unlock(&w->mu);

	while (job) {
		struct store_job *next = job->next;
		w->complete(w->ctx, job);
		job = next;
	}
}

void store_worker_free(struct store_worker *w)
{
	if (!w)
		return;
	struct store_job *left = store_worker_stop(w, true);
	(void)left; /* draining leaves nothing queued */
	store_worker_flush(w);
	event_free(w->ev);
	close(w->efd);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cond);
	free(w);
}
