/* test_sse.c -- SSE encoding: fields, line splitting, comments, msg cache. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "msg.h"
#include "sse.h"
#include "testlib.h"

static char *encode(const char *id, const char *type, int64_t retry, const char *data, size_t len)
{
	struct buf b = {0};
	sse_encode_event(&b, id, type, retry, data, len);
	return buf_steal(&b, NULL);
}

struct line_case {
	const char *data;
	const char *want;
};

static void test_lines(void)
{
	static const struct line_case cases[] = {
		{"", "id: 1\ndata: \n\n"},
		{"hello", "id: 1\ndata: hello\n\n"},
		{"a\nb", "id: 1\ndata: a\ndata: b\n\n"},
		{"a\rb", "id: 1\ndata: a\ndata: b\n\n"},
		{"a\r\nb", "id: 1\ndata: a\ndata: b\n\n"},
		{"a\n\nb", "id: 1\ndata: a\ndata: \ndata: b\n\n"},
		{"a\r\n\r\nb", "id: 1\ndata: a\ndata: \ndata: b\n\n"},
		{"a\n", "id: 1\ndata: a\ndata: \n\n"},
		{"\n", "id: 1\ndata: \ndata: \n\n"},
		{"a\r", "id: 1\ndata: a\ndata: \n\n"},
		{"a\n\rb", "id: 1\ndata: a\ndata: \ndata: b\n\n"},
		{": not a comment", "id: 1\ndata: : not a comment\n\n"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *got = encode("1", NULL, -1, cases[i].data, strlen(cases[i].data));
		CHECK_STR_EQ(got, cases[i].want);
		free(got);
	}
}

static void test_fields(void)
{
	char *got = encode("urn:x", "book", 1500, "x", 1);
	CHECK_STR_EQ(got, "id: urn:x\nevent: book\nretry: 1500\ndata: x\n\n");
	free(got);
	/* Line breaks in id/type must never forge fields. */
	got = encode("a\nevent: evil", "t\r\ndata: x", -1, "y", 1);
	CHECK_STR_EQ(got, "id: aevent: evil\nevent: tdata: x\ndata: y\n\n");
	free(got);
	struct buf b = {0};
	sse_encode_comment(&b, "");
	sse_encode_comment(&b, "hi\nthere");
	CHECK_STR_EQ(b.p, ":\n\n:hi there\n\n");
	buf_free(&b);
}

static void test_large_data(void)
{
	size_t len = 200 * 1024;
	char *data = malloc(len);
	for (size_t i = 0; i < len; i++)
		data[i] = (i % 1000 == 999) ? '\n' : (char)('a' + i % 26);
	char *got = encode("big", NULL, -1, data, len);
	/* Reassemble the data from the data: lines and compare. */
	struct buf back = {0};
	const char *p = got + strlen("id: big\n");
	int lines = 0;
	while (strncmp(p, "data: ", 6) == 0) {
		const char *nl = strchr(p, '\n');
		if (lines++)
			buf_addc(&back, '\n');
		buf_add(&back, p + 6, (size_t)(nl - p - 6));
		p = nl + 1;
	}
	CHECK(strcmp(p, "\n") == 0);
	CHECK_MEM_EQ(back.p, back.len, data, len);
	CHECK(lines == (int)(len / 1000) + 1);
	buf_free(&back);
	free(got);
	free(data);
}

static void test_msg_encodings_cached(void)
{
	const char *topics[] = {"a", "b"};
	struct msg *m = msg_new("id1", topics, 2, NULL, -1, false, "x\ny", 3);
	size_t l1, l2;
	const char *s1 = msg_sse(m, &l1);
	const char *s2 = msg_sse(m, &l2);
	CHECK(s1 == s2 && l1 == l2);
	CHECK_MEM_EQ(s1, l1, "id: id1\ndata: x\ndata: y\n\n", strlen("id: id1\ndata: x\ndata: y\n\n"));
	CHECK(msg_has_topic(m, "b") && !msg_has_topic(m, "c"));
	msg_unref(m);

	/* UUIDv7, RFC 4122 variant, and every id greater than the last. */
	char *id = msg_make_id();
	CHECK(strncmp(id, "urn:uuid:", 9) == 0 && strlen(id) == 45 && id[9 + 14] == '7');
	CHECK(strchr("89ab", id[9 + 19]) != NULL);
	for (int i = 0; i < 10000; i++) {
		char *next = msg_make_id();
		CHECK(strcmp(id, next) < 0);
		free(id);
		id = next;
	}
	free(id);
}

TEST_MAIN(TEST(test_lines), TEST(test_fields), TEST(test_large_data),
	  TEST(test_msg_encodings_cached))
