/* store_bench.c -- the stores alone, without hub, web server or HTTP
 * (make bench-store): acknowledged publishes per second through
 * store_ops.publish with 8 and with 64 publishes in flight, and the time
 * from a publish to its own feed delivery (p50, p99), for SQLite
 * (sync=full, a file in a temporary folder) and Redis (a redis-server of
 * its own on a free loopback port, appendfsync always: as durable), each
 * round interleaved, then the medians side by side. It measures and never
 * asserts: the exit status is 1 only when a store cannot be opened.
 *
 * Environment: STORE_BENCH_UPDATES (20000 a run), STORE_BENCH_ROUNDS (3). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "log.h"
#include "msg.h"
#include "store/redis.h"
#include "store/sqlite.h"
#include "util.h"

#include "testlib.h"
#include "redis_server.h"

#define MAX_UPDATES 200000

struct run {
	struct store *s;
	int total, in_flight, sent, done, failed;
	int64_t sent_us[MAX_UPDATES]; /* by update number */
	int64_t lat_us[MAX_UPDATES];  /* publish -> own feed delivery */
	int nlat;
};

static struct run R;

static int64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void publish_one(void);

static void on_published(void *arg, enum store_status st, struct msg *m)
{
	(void)arg;
	(void)m;
	R.done++;
	R.failed += st != STORE_OK;
	R.in_flight--;
}

static void on_fed(void *arg, struct msg *m)
{
	(void)arg;
	int n = atoi(m->id + 1); /* "u<number>" */
	if (n >= 0 && n < R.total && R.nlat < MAX_UPDATES)
		R.lat_us[R.nlat++] = mono_us() - R.sent_us[n];
}

static void publish_one(void)
{
	char id[32];
	snprintf(id, sizeof id, "u%d", R.sent);
	const char *topics[1] = {"https://example.com/bench"};
	static const char data[] = "{\"bench\":\"a small update, as a site sends\"}";
	struct msg *m = msg_new(id, topics, 1, NULL, -1, false, data, sizeof data - 1);
	R.sent_us[R.sent++] = mono_us();
	R.in_flight++;
	R.s->ops->publish(R.s, m, on_published, NULL);
	msg_unref(m);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

struct figures {
	double per_s, p50_ms, p99_ms;
};

/* One run: total publishes, at most in_flight unanswered at a time. */
static struct figures run_once(struct event_base *base, struct store *s, int total, int in_flight)
{
	memset(&R, 0, sizeof R);
	R.s = s;
	R.total = total;
	int64_t t0 = mono_us();
	while (R.done < total) {
		while (R.sent < total && R.in_flight < in_flight)
			publish_one();
		event_base_loop(base, EVLOOP_ONCE);
	}
	int64_t t1 = mono_us();
	struct figures f = {total * 1e6 / (double)(t1 - t0), 0, 0};
	qsort(R.lat_us, (size_t)R.nlat, sizeof R.lat_us[0], cmp_i64);
	if (R.nlat > 0) {
		f.p50_ms = R.lat_us[R.nlat / 2] / 1000.0;
		f.p99_ms = R.lat_us[(R.nlat * 99) / 100] / 1000.0;
	}
	if (R.failed)
		printf("# %d publishes failed\n", R.failed);
	return f;
}

static struct store *open_kind(struct event_base *base, int kind, const char *dir, int round)
{
	char err[512] = "", path[400], prefix[32];
	struct store *s;
	if (kind == 0) {
		snprintf(path, sizeof path, "%s/bench-%d.db", dir, round);
		struct store_sqlite_config c = {.path = path, .sync_full = true};
		s = store_sqlite_open(base, &c, err, sizeof err);
	} else {
		snprintf(prefix, sizeof prefix, "bench%d", round);
		struct store_redis_config c = {.address = redis_addr, .prefix = prefix};
		s = store_redis_open(base, &c, err, sizeof err);
	}
	if (!s) {
		fprintf(stderr, "store_bench: cannot open the %s store: %s\n",
			kind ? "redis" : "sqlite", err);
		exit(1);
	}
	struct store_feed feed = {on_fed, NULL, NULL};
	s->ops->subscribe(s, &feed);
	return s;
}

int main(void)
{
	const char *e = getenv("STORE_BENCH_UPDATES");
	int total = e ? atoi(e) : 20000;
	e = getenv("STORE_BENCH_ROUNDS");
	int rounds = e ? atoi(e) : 3;
	if (total < 100 || total > MAX_UPDATES || rounds < 1 || rounds > 20) {
		fprintf(stderr, "store_bench: STORE_BENCH_UPDATES 100..%d, STORE_BENCH_ROUNDS 1..20\n",
			MAX_UPDATES);
		return 1;
	}
	if (!redis_server_installed()) {
		fprintf(stderr, "store_bench: %s is not installed\n", REDIS_SERVER);
		return 1;
	}
	log_set_level(LOG_WARN);
	redis_server_begin();
	static const char *const kinds[2] = {"sqlite", "redis"};
	static const int flights[2] = {8, 64};
	double per_s[2][2][20], p50[2][2][20], p99[2][2][20];

	printf("store_bench: %d publishes a run, %d rounds; SQLite sync=full in %s, "
	       "redis-server 127.0.0.1:%d appendfsync always\n", total, rounds, redis_dir,
	       redis_port);
	for (int r = 0; r < rounds; r++)
		for (int f = 0; f < 2; f++)
			for (int k = 0; k < 2; k++) {
				struct event_base *base = event_base_new();
				struct store *s = open_kind(base, k, redis_dir, r * 2 + f);
				struct figures fig = run_once(base, s, total, flights[f]);
				s->ops->close(s);
				event_base_free(base);
				per_s[k][f][r] = fig.per_s;
				p50[k][f][r] = fig.p50_ms;
				p99[k][f][r] = fig.p99_ms;
				printf("round %d  %-6s %2d in flight: %8.0f publishes/s, own feed p50 "
				       "%.2f ms p99 %.2f ms\n", r + 1, kinds[k], flights[f], fig.per_s,
				       fig.p50_ms, fig.p99_ms);
				fflush(stdout);
			}
	printf("\nmedians of %d rounds          sqlite      redis   redis/sqlite\n", rounds);
	for (int f = 0; f < 2; f++) {
		double a = median(per_s[0][f], rounds), b = median(per_s[1][f], rounds);
		printf("publishes/s, %2d in flight + %10.0f %10.0f   x%.2f\n", flights[f], a, b, b / a);
		a = median(p50[0][f], rounds), b = median(p50[1][f], rounds);
		printf("feed p50 (ms), %2d in flight - %8.2f %10.2f   x%.2f\n", flights[f], a, b, b / a);
		a = median(p99[0][f], rounds), b = median(p99[1][f], rounds);
		printf("feed p99 (ms), %2d in flight - %8.2f %10.2f   x%.2f\n", flights[f], a, b, b / a);
	}
	return 0;
}
