/* fuzz_urlpattern.c -- fuzzes URL parsing (hubd/url.c, url_host.c) and URL Pattern compilation and matching (hubd/urlpattern*.c): the input's pattern against the input's topic, both against the hub's URL. */
#include "config.h"

#include <stdbool.h>

#include "fuzz_input.h"
#include "url.h"
#include "urlpattern.h"
#include "urlpattern_parts.h"
#include "util.h"

/* Input: pattern \0 topic. */

#define HUB "https://hub.example/.well-known/mercure"

/* Every component url_parse writes is printable ASCII. */
static void check_components(const struct url *u)
{
	for (int k = 0; k < URL_NCOMPONENTS; k++) {
		FUZZ_ASSERT(strlen(u->c[k]) == u->len[k]);
		for (size_t i = 0; i < u->len[k]; i++)
			FUZZ_ASSERT(u->c[k][i] >= 0x20 && u->c[k][i] < 0x7f);
	}
}

/* The topic written back as a pattern string with every pattern syntax
 * character escaped: a pattern that must match the topic it came from. */
static void topic_as_pattern(const struct url *u, struct buf *out)
{
	urlpattern_parts_escape(out, u->c[URL_PROTOCOL], u->len[URL_PROTOCOL]);
	buf_adds(out, "\\://");
	if (u->len[URL_USERNAME] || u->len[URL_PASSWORD]) {
		urlpattern_parts_escape(out, u->c[URL_USERNAME], u->len[URL_USERNAME]);
		buf_adds(out, "\\:");
		urlpattern_parts_escape(out, u->c[URL_PASSWORD], u->len[URL_PASSWORD]);
		buf_addc(out, '@');
	}
	urlpattern_parts_escape(out, u->c[URL_HOSTNAME], u->len[URL_HOSTNAME]);
	if (u->len[URL_PORT]) {
		buf_adds(out, ":");
		buf_add(out, u->c[URL_PORT], u->len[URL_PORT]);
	}
	urlpattern_parts_escape(out, u->c[URL_PATHNAME], u->len[URL_PATHNAME]);
	buf_addc(out, '?');
	urlpattern_parts_escape(out, u->c[URL_SEARCH], u->len[URL_SEARCH]);
	buf_addc(out, '#');
	urlpattern_parts_escape(out, u->c[URL_HASH], u->len[URL_HASH]);
}

static void self_match(const struct url *topic, const struct url *hub,
		       struct urlpattern_scratch *sc)
{
	/* special URLs with a host: every component has a spelling there */
	if (!topic->special || topic->host_null || topic->len[URL_HOSTNAME] == 0 ||
	    memchr(topic->c[URL_HOSTNAME], '[', topic->len[URL_HOSTNAME]))
		return;
	struct buf pat = {0};
	topic_as_pattern(topic, &pat);
	char err[200];
	struct urlpattern *p = urlpattern_compile(pat.p, pat.len, hub, err, sizeof err);
	if (p) {
		FUZZ_ASSERT(urlpattern_match(p, topic, sc));
		urlpattern_free(p);
	} else {
		/* only the limits may refuse it */
		FUZZ_ASSERT(pat.len > URLPATTERN_MAX_LEN || strstr(err, "too many"));
	}
	buf_free(&pat);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct url hub;
	static struct urlpattern_scratch *sc;
	if (!sc) {
		FUZZ_ASSERT(url_parse(&hub, HUB, strlen(HUB), NULL, NULL, 0) == 0);
		sc = urlpattern_scratch_new();
	}
	struct fuzz_parts parts;
	fuzz_split(data, size, 2, &parts);
	char err[200];
	struct urlpattern *p = urlpattern_compile(parts.s[0], parts.len[0], &hub, err, sizeof err);
	FUZZ_ASSERT(p || err[0]);
	FUZZ_ASSERT(urlpattern_valid(parts.s[0], parts.len[0], &hub, err, sizeof err) == (p != NULL));
	struct url topic;
	if (url_parse(&topic, parts.s[1], parts.len[1], &hub, err, sizeof err) == 0) {
		check_components(&topic);
		if (p) {
			bool m = urlpattern_match(p, &topic, sc);
			FUZZ_ASSERT(m == urlpattern_match_string(p, parts.s[1], parts.len[1], &hub, NULL) ||
				    urlpattern_scratch_aborted(sc));
		}
		self_match(&topic, &hub, sc);
		url_clear(&topic);
	} else if (p) {
		FUZZ_ASSERT(!urlpattern_match_string(p, parts.s[1], parts.len[1], &hub, sc));
	}
	urlpattern_free(p);
	fuzz_parts_free(&parts);
	return 0;
}
