/* test_fcgi_record.c -- FastCGI STDOUT/END_REQUEST framing. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "fcgi_record.h"
#include "fcgi_decode.h"
#include "testlib.h"

static void test_small(void)
{
	struct buf b = {0}, out = {0};
	int ended;
	fcgi_append_stdout(&b, 1, "hello", 5);
	CHECK(b.len == 16);
	CHECK(b.len == fcgi_stdout_size(5));
	CHECK(fcgi_decode(b.p, b.len, 1, &out, &ended, NULL) == 1);
	CHECK_MEM_EQ(out.p, out.len, "hello", (size_t)5);
	CHECK(!ended);
	buf_free(&b);
	buf_free(&out);
	fcgi_append_stdout(&b, 1, "x", 0);
	CHECK(b.len == 0 && fcgi_stdout_size(0) == 0);
	buf_free(&b);
}

static void test_split_large(void)
{
	static const size_t sizes[] = {65535, 65536, 131070, 200 * 1024, 8};
	for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
		size_t len = sizes[k];
		char *data = malloc(len);
		for (size_t i = 0; i < len; i++)
			data[i] = (char)(i * 7);
		struct buf b = {0}, out = {0};
		int ended;
		fcgi_append_stdout(&b, 300, data, len);
		CHECK(b.len == fcgi_stdout_size(len));
		int recs = fcgi_decode(b.p, b.len, 300, &out, &ended, NULL);
		CHECK(recs == (int)((len + 65534) / 65535));
		CHECK_MEM_EQ(out.p, out.len, data, len);
		buf_free(&b);
		buf_free(&out);
		free(data);
	}
}

static void test_end(void)
{
	struct buf b = {0}, out = {0};
	int ended;
	fcgi_append_end(&b, 1);
	CHECK(b.len == 8 + 16);
	CHECK(fcgi_decode(b.p, b.len, 1, &out, &ended, NULL) == 2);
	CHECK(ended && out.len == 0);
	/* appStatus 0, FCGI_REQUEST_COMPLETE */
	CHECK(memcmp(b.p + 16, "\0\0\0\0\0\0\0\0", 8) == 0);
	buf_free(&b);
	buf_free(&out);
}

TEST_MAIN(TEST(test_small), TEST(test_split_large), TEST(test_end))
