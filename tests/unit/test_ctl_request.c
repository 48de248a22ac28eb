/* test_ctl_request.c -- the typed control requests: a publish encoded by a
 * client decodes to the same publish in hubd, and both ends refuse the
 * same values; the structural rules of every request type. */
#include "config.h"

#include <string.h>

#include "ctl_proto.h"
#include "ctl_request.h"
#include "testlib.h"

/* Encodes pub and decodes it back into *out as hubd does (max_data as
 * its max-update-size). Returns ctl_publish_decode's status, or -1 when
 * the structure is refused. */
static int publish_round_trip(const struct ctl_publish *pub, size_t max_data,
			      struct ctl_publish *out)
{
	struct buf b = {0};
	struct ctl_msg m;
	char err[160];
	ctl_publish_encode(pub, &b);
	memset(&m, 0, offsetof(struct ctl_msg, fields));
	m.fd = -1;
	m.type = CTL_PUBLISH;
	m.payload = buf_steal(&b, &m.len);
	if (!m.payload)
		m.payload = xstrdup("");
	memset(out, 0, sizeof *out);
	int status = ctl_parse_fields(&m, err, sizeof err) < 0 ||
				     ctl_request_check(&m, err, sizeof err) < 0
			     ? -1
			     : ctl_publish_decode(&m, out, max_data, err, sizeof err);
	ctl_msg_clear(&m);
	return status;
}

static void test_publish_round_trip(void)
{
	struct ctl_publish pub = {0}, got;
	ctl_topics_add(&pub.topics, "https://example.com/a", 21);
	ctl_topics_add(&pub.topics, "b", 1);
	pub.data = xmemdup("x\0y", 3);
	pub.data_len = 3;
	pub.id = xstrdup("urn:id:1");
	pub.type = xstrdup("t");
	pub.has_retry = true;
	pub.retry_ms = 2500;
	pub.priv = true;
	pub.http = true;
	pub.cred.token = xstrdup("a.b.c");
	pub.cred.token_len = 5;
	pub.cred.source = CTL_AUTH_HEADER;
	pub.cred.origin = xstrdup("https://o.example");
	CHECK(publish_round_trip(&pub, 1024, &got) == 0);
	CHECK(got.topics.n == 2);
	CHECK_STR_EQ(got.topics.v[0], "https://example.com/a");
	CHECK_MEM_EQ(got.data, got.data_len, "x\0y", 3);
	CHECK_STR_EQ(got.id, "urn:id:1");
	CHECK_STR_EQ(got.type, "t");
	CHECK(got.has_retry && got.retry_ms == 2500 && got.priv && got.http);
	CHECK_STR_EQ(got.cred.token, "a.b.c");
	CHECK(got.cred.source == CTL_AUTH_HEADER);
	CHECK_STR_EQ(got.cred.origin, "https://o.example");
	ctl_publish_clear(&got);
	/* Data over hubd's limit: 413. */
	CHECK(publish_round_trip(&pub, 2, &got) == 413);
	ctl_publish_clear(&got);
	ctl_publish_clear(&pub);
	CHECK(pub.topics.n == 0 && pub.data == NULL);
}

struct bad_publish {
	const char *id, *type, *topic;
	int status;
};

static void test_publish_refused(void)
{
	char long_id[CTL_ID_MAX_LEN + 2];
	memset(long_id, 'i', sizeof long_id - 1);
	long_id[sizeof long_id - 1] = '\0';
	char long_topic[CTL_MATCHER_MAX_LEN + 2];
	memset(long_topic, 't', sizeof long_topic - 1);
	long_topic[sizeof long_topic - 1] = '\0';
	const struct bad_publish cases[] = {
		{"#frag", NULL, "a", 400},   {"a\nb", NULL, "a", 400}, {"", NULL, "a", 400},
		{long_id, NULL, "a", 400},   {NULL, "a\rb", "a", 400}, {NULL, "", "a", 400},
		{NULL, NULL, long_topic, 400}, {NULL, NULL, "", 400}, {NULL, NULL, NULL, -1},
		{"ok", "ok", "a", 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct ctl_publish pub = {0}, got;
		char err[160];
		if (cases[i].topic)
			ctl_topics_add(&pub.topics, cases[i].topic, strlen(cases[i].topic));
		pub.id = cases[i].id ? xstrdup(cases[i].id) : NULL;
		pub.type = cases[i].type ? xstrdup(cases[i].type) : NULL;
		int want = cases[i].status;
		/* Both ends give the same answer: the client's check, and hubd's
		 * decode of what the client would have sent (no topic at all is
		 * a structural error there). */
		int client = ctl_publish_check(&pub, 1024, err, sizeof err);
		CHECK(client == (want < 0 ? 400 : want));
		int hubd = publish_round_trip(&pub, 1024, &got);
		if (hubd != want)
			fprintf(stderr, "case %zu: hubd %d, want %d\n", i, hubd, want);
		CHECK(hubd == want);
		ctl_publish_clear(&got);
		ctl_publish_clear(&pub);
	}
}

/* Structural rules: unknown types, fields a type does not take, counts,
 * u32 sizes, descriptors with anything but SUBSCRIBE. */
static void test_structure(void)
{
	struct ctl_msg m;
	char err[160];
	memset(&m, 0, offsetof(struct ctl_msg, fields));
	m.fd = -1;
	m.nfields = 0;
	m.type = CTL_STATS;
	CHECK(ctl_request_check(&m, err, sizeof err) == 0);
	m.type = 99;
	CHECK(ctl_request_check(&m, err, sizeof err) == -1);
	m.type = CTL_STATS;
	m.nfields = 1;
	m.fields[0] = (struct ctl_field){.tag = CTL_T_TOPIC, .len = 1, .val = "a"};
	CHECK(ctl_request_check(&m, err, sizeof err) == -1); /* STATS takes no TOPIC */
	m.type = CTL_HISTORY;
	CHECK(ctl_request_check(&m, err, sizeof err) == 0);
	m.fields[1] = (struct ctl_field){.tag = CTL_T_LIMIT, .len = 2, .val = "ab"};
	m.nfields = 2;
	CHECK(ctl_request_check(&m, err, sizeof err) == -1); /* a u32 of 2 bytes */
	m.nfields = 1;
	m.fd = 0;
	CHECK(ctl_request_check(&m, err, sizeof err) == -1); /* a descriptor with HISTORY */
	m.fd = -1;
	m.type = CTL_SUBSCRIBE;
	CHECK(ctl_request_check(&m, err, sizeof err) == -1); /* no MODE */
}

TEST_MAIN(TEST(test_publish_round_trip), TEST(test_publish_refused), TEST(test_structure))
