/* testlib.h -- a minimal unit-test harness: CHECK records a failure and
 * goes on; TEST_MAIN runs the listed tests and prints "N passed, N failed"
 * (exit status 1 on any failure). Header-only, one per test program. */
#ifndef HUBD_TESTLIB_H
#define HUBD_TESTLIB_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int test_failures_ __attribute__((unused));
static int test_checks_ __attribute__((unused));

#define CHECK(cond)                                                                 \
	do {                                                                        \
		test_checks_++;                                                     \
		if (!(cond)) {                                                      \
			test_failures_++;                                           \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
		}                                                                   \
	} while (0)

#define CHECK_STR_EQ(a, b)                                                          \
	do {                                                                        \
		const char *a_ = (a), *b_ = (b);                                    \
		test_checks_++;                                                     \
		if (!a_ || !b_ || strcmp(a_, b_) != 0) {                            \
			test_failures_++;                                           \
			fprintf(stderr, "%s:%d: expected \"%s\", got \"%s\"\n", __FILE__, \
				__LINE__, b_ ? b_ : "(null)", a_ ? a_ : "(null)");  \
		}                                                                   \
	} while (0)

#define CHECK_MEM_EQ(a, alen, b, blen)                                              \
	do {                                                                        \
		test_checks_++;                                                     \
		if ((alen) != (blen) || memcmp((a), (b), (alen)) != 0) {            \
			test_failures_++;                                           \
			fprintf(stderr, "%s:%d: bytes differ (%zu vs %zu)\n", __FILE__, \
				__LINE__, (size_t)(alen), (size_t)(blen));          \
		}                                                                   \
	} while (0)

struct test_case_ {
	const char *name;
	void (*fn)(void);
};

/* Runs cases[0..n) in order, printing "ok - name" or "not ok - name" for
 * each and the totals; returns main's exit status (1 on any failure). For
 * a main that sets something up first; TEST_MAIN is the usual main. */
static inline int test_run_cases(const struct test_case_ *cases, size_t n)
{
	int passed = 0, failed = 0;
	for (size_t i = 0; i < n; i++) {
		int before = test_failures_;
		cases[i].fn();
		if (test_failures_ == before) {
			passed++;
			printf("ok - %s\n", cases[i].name);
		} else {
			failed++;
			printf("not ok - %s\n", cases[i].name);
		}
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}

#define TEST_MAIN(...)                                                              \
	int main(void)                                                              \
	{                                                                           \
		static const struct test_case_ cases[] = {__VA_ARGS__};             \
		return test_run_cases(cases, sizeof cases / sizeof cases[0]);       \
	}
#define TEST(fn) {#fn, fn}

/* Makes a new temporary folder $TMPDIR/hubd-test-NAME-XXXXXX (/tmp when
 * TMPDIR is unset) and writes its path to out; exits the program when it
 * cannot. */
static inline void test_make_dir(char *out, size_t outlen, const char *name)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(out, outlen, "%s/hubd-test-%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", name);
	if (!mkdtemp(out)) {
		perror("mkdtemp");
		exit(1);
	}
}

#endif
