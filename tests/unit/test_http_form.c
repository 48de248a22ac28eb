/* test_http_form.c -- unit tests for hubd/http_form.c: form parsing,
 * cookies, bearer tokens, media types and percent-encoding; and the
 * credentials mercure_form.c takes from them. */
#include "config.h"

#include <stdlib.h>

#include "ctl_proto.h"
#include "http_form.h"
#include "mercure_form.h"
#include "testlib.h"

/* A parse case: the input and the expected fields in order (values may
 * hold NULs, so each has an explicit length), or ok = 0 for an input that
 * must be rejected. */
struct pair {
	const char *name;
	const char *value;
	size_t value_len;
};
struct parse_case {
	const char *in;
	int ok;
	size_t n;
	struct pair want[4];
};

#define P(n, v) {n, v, sizeof(v) - 1}

static const struct parse_case parse_cases[] = {
	{"", 1, 0, {{0}}},
	{"&&&", 1, 0, {{0}}},
	{"a=1", 1, 1, {P("a", "1")}},
	{"a=1&b=2", 1, 2, {P("a", "1"), P("b", "2")}},
	{"a=1&&b=2&", 1, 2, {P("a", "1"), P("b", "2")}},
	{"a", 1, 1, {P("a", "")}},
	{"a=", 1, 1, {P("a", "")}},
	{"=x", 1, 1, {P("", "x")}},
	{"a=b=c", 1, 1, {P("a", "b=c")}},
	{"t=a+b%20c", 1, 1, {P("t", "a b c")}},
	{"t=%2B%2b%26%3D", 1, 1, {P("t", "++&=")}},
	{"d=x%00y", 1, 1, {P("d", "x\0y")}},
	{"d=%0D%0A", 1, 1, {P("d", "\r\n")}},
	{"d=%ff%FE", 1, 1, {P("d", "\xff\xfe")}},
	{"to%70ic=x&topic=y", 1, 2, {P("topic", "x"), P("topic", "y")}},
	{"a=%E2%82%AC", 1, 1, {P("a", "\xe2\x82\xac")}},
	{"a=;b", 1, 1, {P("a", ";b")}},
	/* malformed escapes */
	{"a=%", 0, 0, {{0}}},
	{"a=%4", 0, 0, {{0}}},
	{"a=%4&b=1", 0, 0, {{0}}},
	{"a=%zz", 0, 0, {{0}}},
	{"a=%g0", 0, 0, {{0}}},
	{"a=%0g", 0, 0, {{0}}},
	{"%=1", 0, 0, {{0}}},
	{"ok=1&bad=%%41", 0, 0, {{0}}},
	{"a=%-1", 0, 0, {{0}}},
};

static void test_parse_table(void)
{
	for (size_t i = 0; i < sizeof parse_cases / sizeof parse_cases[0]; i++) {
		const struct parse_case *c = &parse_cases[i];
		struct http_form f = {0};
		char err[128] = "";
		int rc = http_form_parse(&f, c->in, strlen(c->in), err, sizeof err);
		if (!c->ok) {
			CHECK(rc == -1);
			CHECK(err[0] != '\0');
			CHECK(f.n == 0 && f.fields == NULL);
			continue;
		}
		CHECK(rc == 0);
		CHECK(f.n == c->n);
		if (rc != 0 || f.n != c->n) {
			fprintf(stderr, "  case %zu: \"%s\" (%s)\n", i, c->in, err);
			http_form_free(&f);
			continue;
		}
		for (size_t k = 0; k < c->n; k++) {
			const struct http_field *fl = &f.fields[k];
			CHECK_MEM_EQ(fl->name, fl->name_len, c->want[k].name,
				     strlen(c->want[k].name));
			CHECK_MEM_EQ(fl->value, fl->value_len, c->want[k].value,
				     c->want[k].value_len);
			CHECK(fl->name[fl->name_len] == '\0');
			CHECK(fl->value[fl->value_len] == '\0');
		}
		http_form_free(&f);
	}
}

static void test_parse_not_nul_terminated(void)
{
	/* the input is a length-bounded slice: bytes past len are not read */
	const char in[] = "a=1&b=%41XYZ";
	struct http_form f = {0};
	char err[64];
	CHECK(http_form_parse(&f, in, 9, err, sizeof err) == 0);
	CHECK(f.n == 2);
	if (f.n == 2)
		CHECK_MEM_EQ(f.fields[1].value, f.fields[1].value_len, "A", (size_t)1);
	http_form_free(&f);

	/* a truncated escape at the slice's end is malformed */
	CHECK(http_form_parse(&f, in, 8, err, sizeof err) == -1);
	CHECK(strstr(err, "offset 6") != NULL);
}

static void test_find_count_next(void)
{
	const char in[] = "topic=a&data=x&topic=b&topicx=c&topic=";
	struct http_form f = {0};
	char err[64];
	CHECK(http_form_parse(&f, in, strlen(in), err, sizeof err) == 0);
	CHECK(http_form_count(&f, "topic") == 3);
	CHECK(http_form_count(&f, "data") == 1);
	CHECK(http_form_count(&f, "nope") == 0);
	CHECK(http_form_find(&f, "nope") == NULL);
	const struct http_field *t = http_form_find(&f, "topic");
	CHECK(t && strcmp(t->value, "a") == 0);
	t = http_form_next(&f, t, "topic");
	CHECK(t && strcmp(t->value, "b") == 0);
	t = http_form_next(&f, t, "topic");
	CHECK(t && t->value_len == 0);
	CHECK(http_form_next(&f, t, "topic") == NULL);

	/* a name with a NUL does not match its prefix */
	struct http_form g = {0};
	CHECK(http_form_parse(&g, "topic%00x=1", 11, err, sizeof err) == 0);
	CHECK(http_form_count(&g, "topic") == 0);
	http_form_free(&g);
	http_form_free(&f);
	http_form_free(&f); /* freeing twice is harmless */
}

static void test_parse_large(void)
{
	struct buf b = {0};
	for (int i = 0; i < 5000; i++)
		buf_printf(&b, "%sk%d=%%41%d", i ? "&" : "", i, i);
	struct http_form f = {0};
	char err[64];
	CHECK(http_form_parse(&f, b.p, b.len, err, sizeof err) == 0);
	CHECK(f.n == 5000);
	if (f.n == 5000)
		CHECK_STR_EQ(f.fields[4999].value, "A4999");
	http_form_free(&f);
	buf_free(&b);
}

struct cookie_case {
	const char *header;
	const char *name;
	const char *want; /* NULL = not found */
};

static const struct cookie_case cookie_cases[] = {
	{"mercureAuthorization=abc", "mercureAuthorization", "abc"},
	{"a=1; mercureAuthorization=abc.def; b=2", "mercureAuthorization", "abc.def"},
	{"a=1;mercureAuthorization=x", "mercureAuthorization", "x"},
	{"  mercureAuthorization = x  ; a=1", "mercureAuthorization", "x"},
	{"mercureAuthorization=\"quoted\"", "mercureAuthorization", "quoted"},
	{"mercureAuthorization=", "mercureAuthorization", ""},
	{"mercureAuthorization=first; mercureAuthorization=second", "mercureAuthorization", "first"},
	{"xmercureAuthorization=no", "mercureAuthorization", NULL},
	{"mercureAuthorizationx=no", "mercureAuthorization", NULL},
	{"mercureauthorization=no", "mercureAuthorization", NULL},
	{"mercureAuthorization", "mercureAuthorization", NULL},
	{"", "mercureAuthorization", NULL},
	{";;;", "mercureAuthorization", NULL},
	{"a=1;", "a", "1"},
	{"a=\"", "a", "\""},
	{NULL, "a", NULL},
};

static void test_cookie_table(void)
{
	for (size_t i = 0; i < sizeof cookie_cases / sizeof cookie_cases[0]; i++) {
		const struct cookie_case *c = &cookie_cases[i];
		char *got = http_cookie_get(c->header, c->name);
		if (c->want)
			CHECK_STR_EQ(got, c->want);
		else
			CHECK(got == NULL);
		free(got);
	}
}

struct bearer_case {
	const char *header;
	const char *want;
};

static const struct bearer_case bearer_cases[] = {
	{"Bearer abc.def.ghi", "abc.def.ghi"},
	{"bearer abc", "abc"},
	{"BEARER   abc  ", "abc"},
	{"\tBearer\tabc", "abc"},
	{"Bearer", NULL},
	{"Bearer ", NULL},
	{"Bearerabc", NULL},
	{"Basic dXNlcjpwYXNz", NULL},
	{"", NULL},
	{NULL, NULL},
};

static void test_bearer_table(void)
{
	for (size_t i = 0; i < sizeof bearer_cases / sizeof bearer_cases[0]; i++) {
		const struct bearer_case *c = &bearer_cases[i];
		char *got = http_bearer_token(c->header);
		if (c->want)
			CHECK_STR_EQ(got, c->want);
		else
			CHECK(got == NULL);
		free(got);
	}
}

static void test_media_type(void)
{
	const char *form = "application/x-www-form-urlencoded";
	CHECK(http_media_type_is("application/x-www-form-urlencoded", form));
	CHECK(http_media_type_is("Application/X-WWW-Form-URLEncoded", form));
	CHECK(http_media_type_is("application/x-www-form-urlencoded; charset=UTF-8", form));
	CHECK(http_media_type_is("application/x-www-form-urlencoded;charset=utf-8", form));
	CHECK(http_media_type_is(" application/x-www-form-urlencoded ", form));
	CHECK(!http_media_type_is("application/x-www-form-urlencodedx", form));
	CHECK(!http_media_type_is("application/x-www-form", form));
	CHECK(!http_media_type_is("multipart/form-data; boundary=x", form));
	CHECK(!http_media_type_is("", form));
	CHECK(!http_media_type_is(NULL, form));
}

static void test_percent_encode(void)
{
	struct buf b = {0};
	http_percent_encode(&b, "AZaz09-._~", 10);
	CHECK_STR_EQ(b.p, "AZaz09-._~");
	buf_free(&b);
	http_percent_encode(&b, "a b/c?d=e&f#g%h+", 16);
	CHECK_STR_EQ(b.p, "a%20b%2Fc%3Fd%3De%26f%23g%25h%2B");
	buf_free(&b);
	http_percent_encode(&b, "\r\n\0\xff<>\"", 7);
	CHECK_STR_EQ(b.p, "%0D%0A%00%FF%3C%3E%22");
	buf_free(&b);
	http_percent_encode(&b, "", 0);
	CHECK(b.len == 0);
	buf_free(&b);

	/* round trip through the parser */
	const char raw[] = "urn:uuid:1234 \x01\xe2\x82\xac&=%";
	buf_adds(&b, "v=");
	http_percent_encode(&b, raw, sizeof raw - 1);
	struct http_form f = {0};
	char err[64];
	CHECK(http_form_parse(&f, b.p, b.len, err, sizeof err) == 0);
	CHECK(f.n == 1);
	if (f.n == 1)
		CHECK_MEM_EQ(f.fields[0].value, f.fields[0].value_len, raw, sizeof raw - 1);
	http_form_free(&f);
	buf_free(&b);
}

/* Error bodies: control characters never reach the client (a reason
 * cannot split the response), long reasons are cut, an empty one is the
 * status's phrase. */
static void test_text_body(void)
{
	struct buf b = {0};
	http_text_body(&b, 400, "bad\r\nX-Forged: 1\0!", 18);
	CHECK_MEM_EQ(b.p, b.len, "bad  X-Forged: 1 !\n", 19);
	buf_free(&b);
	http_text_body(&b, 404, "", 0);
	CHECK_STR_EQ(b.p, "Not Found\n");
	buf_free(&b);
	char longer[1500];
	memset(longer, 'x', sizeof longer);
	http_text_body(&b, 413, longer, sizeof longer);
	CHECK(b.len == 1001 && b.p[1000] == '\n');
	buf_free(&b);
	CHECK_STR_EQ(http_reason_phrase(415), "Unsupported Media Type");
	CHECK_STR_EQ(http_reason_phrase(418), "Client Error");
	CHECK_STR_EQ(http_reason_phrase(599), "Server Error");
}

/* The token of ?authorization= goes whole, a %00 in it included (found by
 * fuzz_http_form: it was cut at the NUL, so "%00x" sent an empty token,
 * which hubd takes for an anonymous subscriber, and "tok%00x" sent "tok"). */
static void test_credentials_token_with_nul(void)
{
	static const struct {
		const char *query;
		const char *tok;
		size_t len;
	} cases[] = {
		{"authorization=%00x", "\0x", 2},
		{"authorization=a.b.c%00x", "a.b.c\0x", 7},
		{"authorization=a.b.c", "a.b.c", 5},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct http_form q = {0};
		struct buf p = {0};
		char err[128];
		CHECK(http_form_parse(&q, cases[i].query, strlen(cases[i].query), err, sizeof err) == 0);
		mercure_put_credentials(&p, NULL, &q, NULL, NULL);
		struct ctl_msg m = {.fd = -1};
		m.payload = buf_steal(&p, &m.len);
		CHECK(ctl_parse_fields(&m, err, sizeof err) == 0);
		const struct ctl_field *a = ctl_find(&m, CTL_T_AUTH);
		CHECK(a != NULL);
		if (a)
			CHECK_MEM_EQ(a->val, a->len, cases[i].tok, cases[i].len);
		uint32_t src = 0;
		CHECK(ctl_field_u32(ctl_find(&m, CTL_T_AUTH_SOURCE), &src) && src == CTL_AUTH_QUERY);
		ctl_msg_clear(&m);
		http_form_free(&q);
	}
}

TEST_MAIN(TEST(test_parse_table), TEST(test_parse_not_nul_terminated),
	  TEST(test_find_count_next), TEST(test_parse_large), TEST(test_cookie_table),
	  TEST(test_bearer_table), TEST(test_media_type), TEST(test_percent_encode),
	  TEST(test_text_body), TEST(test_credentials_token_with_nul))
