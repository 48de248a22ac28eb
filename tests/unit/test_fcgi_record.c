/* test_fcgi_record.c -- FastCGI STDOUT/END_REQUEST framing. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "fcgi_record.h"
#include "testlib.h"

/* Decodes records from p, appending STDOUT content to out; returns the
 * number of records, -1 on a framing error. Sets *ended on END_REQUEST. */
static int decode(const unsigned char *p, size_t len, uint16_t want_id, struct buf *out, int *ended)
{
	int n = 0;
	*ended = 0;
	while (len > 0) {
		if (len < 8 || p[0] != 1)
			return -1;
		uint16_t id = (uint16_t)(p[2] << 8 | p[3]);
		size_t clen = (size_t)(p[4] << 8 | p[5]), pad = p[6];
		if (id != want_id || len < 8 + clen + pad || (8 + clen + pad) % 8 != 0)
			return -1;
		if (p[1] == FCGI_TYPE_STDOUT)
			buf_add(out, p + 8, clen);
		else if (p[1] == FCGI_TYPE_END_REQUEST && clen == 8)
			*ended = 1;
		else
			return -1;
		p += 8 + clen + pad;
		len -= 8 + clen + pad;
		n++;
	}
	return n;
}

static void test_small(void)
{
	struct buf b = {0}, out = {0};
	int ended;
	fcgi_append_stdout(&b, 1, "hello", 5);
	CHECK(b.len == 16);
	CHECK(b.len == fcgi_stdout_size(5));
	CHECK(decode((unsigned char *)b.p, b.len, 1, &out, &ended) == 1);
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
		int recs = decode((unsigned char *)b.p, b.len, 300, &out, &ended);
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
	CHECK(decode((unsigned char *)b.p, b.len, 1, &out, &ended) == 2);
	CHECK(ended && out.len == 0);
	/* appStatus 0, FCGI_REQUEST_COMPLETE */
	CHECK(memcmp(b.p + 16, "\0\0\0\0\0\0\0\0", 8) == 0);
	buf_free(&b);
	buf_free(&out);
}

TEST_MAIN(TEST(test_small), TEST(test_split_large), TEST(test_end))
