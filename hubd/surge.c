/* surge.c -- storms of arriving and departing streams, and when to sweep. */
#include "config.h"

#include "surge.h"

#include <string.h>

void surge_init(struct surge *s)
{
	memset(s, 0, sizeof *s);
	s->last_sweep_ms = INT64_MIN / 2;
}

/* Moves the per-second counts forward to now's second: each second that
 * ended folds into the moving average (weight 1/16: about a 16-second
 * memory), clipped to twice the average (or SURGE_FLOOR), so that a storm
 * does not raise the bar for the next one while steady churn, however
 * high, is learnt within a minute or two. */
static void advance(struct surge *s, int64_t now_ms)
{
	int64_t sec = now_ms / 1000;
	struct surge_count *counts[2] = {&s->arrivals, &s->departures};
	for (int64_t n = sec - s->second; n > 0 && n <= 64; n--) {
		for (int i = 0; i < 2; i++) {
			struct surge_count *c = counts[i];
			uint32_t avg = c->avg_x16 / 16, clip = avg * 2 > SURGE_FLOOR ? avg * 2 : SURGE_FLOOR;
			c->avg_x16 = c->avg_x16 - c->avg_x16 / 16 + (c->cur < clip ? c->cur : clip);
			c->prev = c->cur;
			c->cur = 0;
		}
	}
	if (sec - s->second > 64) /* idle for a minute or more: forget */
		for (int i = 0; i < 2; i++)
			memset(counts[i], 0, sizeof *counts[i]);
	s->second = sec;
}

void surge_note_arrival(struct surge *s, int64_t now_ms)
{
	advance(s, now_ms);
	s->arrivals.cur++;
}

void surge_note_departure(struct surge *s, int64_t now_ms)
{
	advance(s, now_ms);
	s->departures.cur++;
}

void surge_request(struct surge *s)
{
	s->requested = true;
}

/* The count of the last 1000 ms: this second's, plus the part of the last
 * second that is still within the window. */
static uint32_t last_second(const struct surge_count *c, int64_t now_ms)
{
	int64_t into = now_ms % 1000;
	return c->cur + (uint32_t)(((int64_t)c->prev * (1000 - into) + 999) / 1000);
}

static bool surging(const struct surge_count *c, int64_t now_ms, int nstreams)
{
	uint32_t n = last_second(c, now_ms);
	uint64_t usual = (uint64_t)c->avg_x16 / 16 * SURGE_FACTOR;
	return n >= SURGE_FLOOR && n >= (uint32_t)(nstreams / SURGE_SHARE) && n >= usual;
}

bool surge_should_sweep(struct surge *s, int64_t now_ms, int nstreams)
{
	int64_t gap = (int64_t)nstreams * 1000 / SURGE_MAX_PROBES;
	if (gap < SURGE_GAP_MS)
		gap = SURGE_GAP_MS;
	int64_t since = now_ms - s->last_sweep_ms;
	if (since < gap)
		return false;
	advance(s, now_ms);
	bool surge = surging(&s->arrivals, now_ms, nstreams) ||
		     surging(&s->departures, now_ms, nstreams);
	if (!surge && !(s->requested && since >= SURGE_REQUEST_GAP_MS))
		return false;
	s->requested = false;
	s->last_sweep_ms = now_ms;
	s->sweeps++;
	return true;
}
