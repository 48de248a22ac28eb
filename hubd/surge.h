/* surge.h -- notices a storm of arriving or departing streams (a network
 * blip, a load-balancer failover, every browser reconnecting after a
 * deploy) and says when to sweep: probe every stream at once, so that
 * the streams of clients who left are released in about a second instead of
 * at their next background probe. Pure bookkeeping on times the caller
 * passes: no I/O, no clock, loop thread only.
 *
 * A surge is a count within the last second (arrivals, or departures the
 * probes uncover) of at least SURGE_FLOOR, at least one stream in
 * SURGE_SHARE of those open, and at least SURGE_FACTOR times the usual
 * per-second count (a slow moving average), so that steady churn, however
 * high, does not sweep every second. A refusal at capacity asks for a
 * sweep too (surge_request). Sweeps are at least SURGE_GAP_MS apart
 * (SURGE_REQUEST_GAP_MS for a request alone: clients retrying at capacity
 * must not have every stream probed each second), and further apart with
 * many streams, so that sweeps cost at most SURGE_MAX_PROBES probes a
 * second, however long a storm lasts. */
#ifndef HUBD_SURGE_H
#define HUBD_SURGE_H

#include <stdbool.h>
#include <stdint.h>

#define SURGE_FLOOR 8
#define SURGE_SHARE 256
#define SURGE_FACTOR 4
#define SURGE_GAP_MS 1000
#define SURGE_REQUEST_GAP_MS 5000
#define SURGE_MAX_PROBES 20000

/* One kind of event counted per second. */
struct surge_count {
	uint32_t cur, prev; /* this second's count, the last second's */
	uint32_t avg_x16;   /* moving average per second, times 16 */
};

struct surge {
	int64_t second;       /* the second cur counts (mono_ms / 1000) */
	struct surge_count arrivals, departures;
	int64_t last_sweep_ms;
	bool requested;       /* surge_request since the last sweep */
	uint64_t sweeps;      /* sweeps said yes to, for the stats */
};

/* Starts empty. Cannot fail. */
void surge_init(struct surge *s);
/* Counts one stream request (served or refused), or one stream that ended
 * without hubd ending it, at now_ms (monotonic). */
void surge_note_arrival(struct surge *s, int64_t now_ms);
void surge_note_departure(struct surge *s, int64_t now_ms);
/* Asks for a sweep at the next surge_should_sweep (a refusal at capacity:
 * the dead streams hubd still holds are what is in the way). */
void surge_request(struct surge *s);
/* True when a sweep is due now with nstreams open: a surge, or a request,
 * and the last sweep long enough ago (see above). A true answer starts the
 * gap. */
bool surge_should_sweep(struct surge *s, int64_t now_ms, int nstreams);

#endif
