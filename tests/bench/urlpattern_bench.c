/* urlpattern_bench.c -- URL pattern matching alone: 10,000 compiled
 * patterns (named groups, wildcards, regexp groups, relative ones), and
 * for each of a few thousand topics the time to parse it and to match it
 * against all of them, as fan-out would. Measured, never asserted. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "url.h"
#include "urlpattern.h"
#include "util.h"

#define NPATTERNS 10000
#define NTOPICS 3000
#define HUB "https://hub.example/.well-known/mercure"

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Pattern i of the mix: a quarter each of a named group, a relative
 * pattern with a wildcard, a regexp group, and a named group under a
 * wildcard host. */
static int pattern_text(char *out, size_t n, int i)
{
	switch (i % 4) {
	case 0:
		return snprintf(out, n, "https://example.com/books%d/:id", i);
	case 1:
		return snprintf(out, n, "/users%d/:uid/*", i);
	case 2:
		return snprintf(out, n, "https://example.com/items%d/:id(\\d+)", i);
	default:
		return snprintf(out, n, "https://*.example.com/shop%d/:sku", i);
	}
}

/* Topic j: aimed at pattern (j * 7919) % NPATTERNS's family. */
static int topic_text(char *out, size_t n, int j)
{
	int i = (j * 7919) % NPATTERNS;
	switch (i % 4) {
	case 0:
		return snprintf(out, n, "https://example.com/books%d/%d", i, j);
	case 1:
		return snprintf(out, n, "/users%d/%d/profile/photo", i, j);
	case 2:
		return snprintf(out, n, "https://example.com/items%d/%d?ref=feed", i, j);
	default:
		return snprintf(out, n, "https://eu.example.com/shop%d/sku-%d", i, j);
	}
}

int main(void)
{
	struct url hub;
	char err[200], text[128];
	if (url_parse(&hub, HUB, strlen(HUB), NULL, err, sizeof err) < 0)
		return 1;
	struct urlpattern **pats = xcalloc(NPATTERNS, sizeof *pats);
	double t0 = now_ns();
	for (int i = 0; i < NPATTERNS; i++) {
		int len = pattern_text(text, sizeof text, i);
		pats[i] = urlpattern_compile(text, (size_t)len, &hub, err, sizeof err);
		if (!pats[i]) {
			fprintf(stderr, "%s: %s\n", text, err);
			return 1;
		}
	}
	double compile_us = (now_ns() - t0) / 1e3 / NPATTERNS;

	struct urlpattern_scratch *sc = urlpattern_scratch_new();
	double *match_ms = xcalloc(NTOPICS, sizeof *match_ms);
	double *parse_ns = xcalloc(NTOPICS, sizeof *parse_ns);
	long matches = 0;
	for (int j = 0; j < NTOPICS; j++) {
		int len = topic_text(text, sizeof text, j);
		struct url topic;
		double a = now_ns();
		if (url_parse(&topic, text, (size_t)len, &hub, err, sizeof err) < 0)
			return 1;
		double b = now_ns();
		for (int i = 0; i < NPATTERNS; i++)
			matches += urlpattern_match(pats[i], &topic, sc);
		double c = now_ns();
		parse_ns[j] = b - a;
		match_ms[j] = (c - b) / 1e6;
		url_clear(&topic);
	}
	qsort(match_ms, NTOPICS, sizeof *match_ms, cmp_double);
	qsort(parse_ns, NTOPICS, sizeof *parse_ns, cmp_double);
	double med = match_ms[NTOPICS / 2], p99 = match_ms[NTOPICS * 99 / 100];
	printf("urlpattern bench: %d patterns (1/4 each: named group, relative + wildcard, "
	       "regexp group \\d+, wildcard host), %d topics\n", NPATTERNS, NTOPICS);
	printf("  compile:           %8.2f us per pattern\n", compile_us);
	printf("  topic parse:       %8.0f ns median, %8.0f ns p99\n", parse_ns[NTOPICS / 2],
	       parse_ns[NTOPICS * 99 / 100]);
	printf("  match one update:  %8.3f ms median, %8.3f ms p99 (all %d patterns)\n", med, p99,
	       NPATTERNS);
	printf("  per pattern:       %8.1f ns median\n", med * 1e6 / NPATTERNS);
	printf("  matches: %ld (%.2f per topic), aborted at the limit: %llu\n", matches,
	       (double)matches / NTOPICS, (unsigned long long)urlpattern_scratch_aborted(sc));
	urlpattern_scratch_free(sc);
	for (int i = 0; i < NPATTERNS; i++)
		urlpattern_free(pats[i]);
	free(pats);
	free(match_ms);
	free(parse_ns);
	url_clear(&hub);
	return 0;
}
