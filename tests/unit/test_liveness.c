/* test_liveness.c -- the pure parts of noticing departed clients: when a
 * surge of arrivals or departures calls for a sweep (surge.c), and how
 * client addresses are counted for the per-client cap (clients.c). */
#include "config.h"

#include <stdlib.h>

#include "clients.h"
#include "surge.h"
#include "testlib.h"

/* A storm from quiet: SURGE_FLOOR departures within a second sweep once,
 * and not again before SURGE_GAP_MS. */
static void test_surge_storm_sweeps_once_per_gap(void)
{
	struct surge s;
	surge_init(&s);
	int64_t t = 100000;
	CHECK(!surge_should_sweep(&s, t, 1000));
	for (int i = 0; i < SURGE_FLOOR - 1; i++)
		surge_note_departure(&s, t + i);
	CHECK(!surge_should_sweep(&s, t + 50, 1000));
	surge_note_departure(&s, t + 60);
	CHECK(surge_should_sweep(&s, t + 70, 1000));
	surge_note_departure(&s, t + 80);
	CHECK(!surge_should_sweep(&s, t + 90, 1000)); /* within the gap */
	for (int i = 0; i < 40; i++)
		surge_note_arrival(&s, t + SURGE_GAP_MS + i);
	CHECK(surge_should_sweep(&s, t + SURGE_GAP_MS + 100, 1000));
	CHECK(s.sweeps == 2);
}

/* The window is the last 1000 ms: a few events a second never sweep, and
 * a count spread over two seconds is weighed by what is still in it. */
static void test_surge_window(void)
{
	struct surge s;
	surge_init(&s);
	int64_t t = 500000;
	for (int sec = 0; sec < 30; sec++) {
		for (int i = 0; i < SURGE_FLOOR / 2; i++)
			surge_note_departure(&s, t + sec * 1000 + i * 10);
		CHECK(!surge_should_sweep(&s, t + sec * 1000 + 900, 100));
	}
	/* Half of the floor at the end of one second, half at the start of
	 * the next: together within one window. */
	surge_init(&s);
	for (int i = 0; i < SURGE_FLOOR / 2; i++)
		surge_note_departure(&s, t + 990);
	for (int i = 0; i < SURGE_FLOOR / 2; i++)
		surge_note_departure(&s, t + 1010);
	CHECK(surge_should_sweep(&s, t + 1020, 100));
}

/* Steady high churn is learnt: after a minute at 20 times the floor per
 * second, that rate no longer sweeps; four times it does. A storm alone
 * does not raise the bar for the next. */
static void test_surge_learns_steady_churn(void)
{
	struct surge s;
	surge_init(&s);
	int64_t t = 1000000;
	int sweeps_late = 0;
	for (int sec = 0; sec < 240; sec++) {
		for (int i = 0; i < 20 * SURGE_FLOOR; i++)
			surge_note_arrival(&s, t + sec * 1000 + i);
		bool sw = surge_should_sweep(&s, t + sec * 1000 + 999, 100);
		if (sec >= 180)
			sweeps_late += sw;
	}
	CHECK(sweeps_late == 0);
	int64_t u = t + 240 * 1000;
	for (int i = 0; i < 100 * SURGE_FLOOR; i++)
		surge_note_arrival(&s, u + i / 10);
	CHECK(surge_should_sweep(&s, u + 999, 100));

	surge_init(&s);
	for (int i = 0; i < 1000; i++)
		surge_note_departure(&s, t + i / 4);
	CHECK(surge_should_sweep(&s, t + 300, 1000));
	for (int i = 0; i < SURGE_FLOOR; i++)
		surge_note_departure(&s, t + 5000 + i);
	CHECK(surge_should_sweep(&s, t + 5100, 1000));
}

/* A share of the open streams is needed too: 8 departures among a
 * million streams are churn, not a storm. A request sweeps regardless. */
static void test_surge_share_and_request(void)
{
	struct surge s;
	surge_init(&s);
	int64_t t = 2000000;
	for (int i = 0; i < SURGE_FLOOR; i++)
		surge_note_departure(&s, t + i);
	CHECK(!surge_should_sweep(&s, t + 100, 1000000));
	surge_request(&s);
	CHECK(surge_should_sweep(&s, t + 200, 1000));
	CHECK(!surge_should_sweep(&s, t + SURGE_GAP_MS + 300, 1000));
	/* Requests again and again (clients retrying at capacity): a sweep
	 * every SURGE_REQUEST_GAP_MS, not every second. */
	int sweeps = 0;
	for (int64_t ms = 1000; ms <= 20000; ms += 250) {
		surge_request(&s);
		sweeps += surge_should_sweep(&s, t + 200 + ms, 1000);
	}
	CHECK(sweeps == 20000 / SURGE_REQUEST_GAP_MS);
}

/* With many streams, storms sweep less often: at most SURGE_MAX_PROBES
 * probes a second. */
static void test_surge_cost_bound(void)
{
	struct surge s;
	surge_init(&s);
	int64_t t = 3000000;
	int n = 5 * SURGE_MAX_PROBES, sweeps = 0;
	for (int64_t ms = 0; ms < 20000; ms += 100) {
		for (int i = 0; i < n / 100; i++)
			surge_note_departure(&s, t + ms);
		sweeps += surge_should_sweep(&s, t + ms + 50, n);
	}
	CHECK(sweeps >= 3 && sweeps <= 20000 / (n * 1000 / SURGE_MAX_PROBES));
}

static void test_clients_key(void)
{
	char k[40];
	CHECK(clients_key("192.0.2.7", k));
	CHECK_STR_EQ(k, "192.0.2.7");
	CHECK(clients_key("::ffff:192.0.2.7", k));
	CHECK_STR_EQ(k, "192.0.2.7");
	CHECK(clients_key("2001:db8:1:2:aaaa:bbbb:cccc:dddd", k));
	CHECK_STR_EQ(k, "2001:db8:1:2::/64");
	char k2[40];
	CHECK(clients_key("2001:0db8:0001:0002:0:0:0:1", k2));
	CHECK_STR_EQ(k2, k);
	CHECK(!clients_key("", k));
	CHECK(!clients_key("unix:/run/x", k));
	CHECK(!clients_key("192.0.2.300", k));
	CHECK(!clients_key("192.0.2.7 ", k));
	CHECK(!clients_key(NULL, k));
}

/* Many addresses in and out: each found again, the table empties. */
static void test_clients_table(void)
{
	struct client_table *t = clients_new();
	enum { N = 5000 };
	struct client **cs = calloc(N, sizeof *cs);
	for (int i = 0; i < N; i++) {
		char key[40];
		snprintf(key, sizeof key, "10.%d.%d.%d", i >> 16, (i >> 8) & 255, i & 255);
		cs[i] = clients_get(t, key);
		cs[i]->nstreams = 1;
	}
	CHECK(clients_count(t) == N);
	bool same = true;
	for (int i = 0; i < N; i++) {
		char key[40];
		snprintf(key, sizeof key, "10.%d.%d.%d", i >> 16, (i >> 8) & 255, i & 255);
		same &= clients_get(t, key) == cs[i];
	}
	CHECK(same);
	CHECK(clients_count(t) == N);
	clients_put(t, cs[0]); /* still has a stream: kept */
	CHECK(clients_count(t) == N);
	for (int i = 0; i < N; i++) {
		cs[i]->nstreams = 0;
		clients_put(t, cs[i]);
	}
	CHECK(clients_count(t) == 0);
	free(cs);
	clients_free(t);
	clients_free(NULL);
}

TEST_MAIN({"surge_storm_sweeps_once_per_gap", test_surge_storm_sweeps_once_per_gap},
	  {"surge_window", test_surge_window},
	  {"surge_learns_steady_churn", test_surge_learns_steady_churn},
	  {"surge_share_and_request", test_surge_share_and_request},
	  {"surge_cost_bound", test_surge_cost_bound},
	  {"clients_key", test_clients_key}, {"clients_table", test_clients_table})
