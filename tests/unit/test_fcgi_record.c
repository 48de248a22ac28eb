/* test_fcgi_record.c -- FastCGI record headers and the END_REQUEST framing. */
#include "config.h"

#include <string.h>

#include "fcgi_record.h"
#include "fcgi_decode.h"
#include "testlib.h"

/* A record header, byte for byte; the framing of whole queues (records
 * split at 65535 bytes, padding, other request ids) is test_outq's. */
static void test_header_and_padding(void)
{
	unsigned char h[FCGI_RECORD_HEADER_LEN];
	fcgi_header(h, FCGI_TYPE_STDOUT, 300, 65535, 1);
	CHECK(memcmp(h, "\x01\x06\x01\x2c\xff\xff\x01\x00", 8) == 0);
	CHECK(fcgi_padding(0) == 0 && fcgi_padding(1) == 7 && fcgi_padding(5) == 3);
	CHECK(fcgi_padding(8) == 0 && fcgi_padding(65535) == 1);
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

TEST_MAIN(TEST(test_header_and_padding), TEST(test_end))
