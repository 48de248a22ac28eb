/* fuzz_selector.c -- fuzzes topic selector compilation and matching (selector.c, match.c): the input's template against the input's topic and against expansions of the template. */
#include "config.h"

#include <stdbool.h>

#include "fuzz_input.h"
#include "match.h"
#include "msg.h"
#include "selector.h"
#include "selector_ref.h"
#include "util.h"

/* Input: template \0 topic \0 four bytes choosing which variables the
 * expansion defines. */

/* Appends the RFC 6570 expansion of the expression e[0..n) (inside its
 * braces) to out: variable k is defined, as the string value, when bit k
 * (mod 32) of defined is set. value is unreserved characters and
 * pct-encoded triplets of ASCII; a prefix ":N" keeps N of them. */
static void expand_expr(struct buf *out, const char *e, size_t n, uint32_t defined,
			unsigned *k, const char *value)
{
	static const char ops[] = "+#./;?&";
	char op = n && strchr(ops, e[0]) ? e[0] : '\0';
	char first = op == '+' || op == '\0' ? '\0' : op;
	char sep = op == '.' || op == '/' || op == ';' ? op : op == '?' || op == '&' ? '&' : ',';
	bool named = op == ';' || op == '?' || op == '&';
	size_t i = op ? 1 : 0;
	bool any = false;
	while (i <= n) {
		size_t end = i;
		while (end < n && e[end] != ',')
			end++;
		size_t name_end = i;
		while (name_end < end && e[name_end] != ':' && e[name_end] != '*')
			name_end++;
		size_t vlen = strlen(value);
		if (name_end < end && e[name_end] == ':') {
			/* N characters: a pct-encoded triplet is one. */
			size_t prefix = (size_t)strtoul(e + name_end + 1, NULL, 10), chars = 0;
			for (vlen = 0; value[vlen] && chars < prefix; chars++)
				vlen += value[vlen] == '%' ? 3 : 1;
		}
		if (defined >> (*k % 32) & 1) {
			if (!any && first)
				buf_addc(out, first);
			else if (any)
				buf_addc(out, sep);
			any = true;
			if (named) {
				buf_add(out, e + i, name_end - i);
				if (vlen || op != ';')
					buf_addc(out, '=');
			}
			buf_add(out, value, vlen);
		}
		(*k)++;
		i = end + 1;
	}
}

/* The topic the template t expands to with the variables defined picks. */
static char *expand(const char *t, uint32_t defined, const char *value)
{
	struct buf out = {0};
	unsigned k = 0;
	for (const char *p = t; *p;) {
		if (*p != '{') {
			buf_addc(&out, *p++);
			continue;
		}
		const char *close = strchr(p, '}');
		FUZZ_ASSERT(close); /* it compiled */
		expand_expr(&out, p + 1, (size_t)(close - p - 1), defined, &k, value);
		p = close + 1;
	}
	buf_addc(&out, '\0');
	return buf_steal(&out, NULL);
}

/* Every byte of a topic a template matches comes from the template's
 * literal text or from what an expansion writes: unreserved, reserved and
 * '%' (soundness, where the expansions above check completeness). */
static void check_bytes(const char *text, const char *topic)
{
	static const char written[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
				      "0123456789-._~:/?#[]@!$&'()*+,;=%";
	for (const char *p = topic; *p; p++)
		FUZZ_ASSERT(strchr(written, *p) || strchr(text, *p));
}

/* A near miss: a template with one expression, a lone variable with a
 * prefix ("L{x:N}R"), must not match L, N + 1 characters, R. */
static void check_prefix_bound(const struct selector *s, const char *text)
{
	const char *open = strchr(text, '{'), *close = strchr(text, '}');
	if (!open || !close || strchr(open + 1, '{'))
		return;
	const char *colon = memchr(open, ':', (size_t)(close - open));
	if (!colon || memchr(open, ',', (size_t)(close - open)) ||
	    strchr("+#./;?&", open[1]))
		return;
	unsigned long n = strtoul(colon + 1, NULL, 10);
	struct buf t = {0};
	buf_add(&t, text, (size_t)(open - text));
	for (unsigned long i = 0; i <= n; i++)
		buf_addc(&t, 'a');
	buf_adds(&t, close + 1);
	FUZZ_ASSERT(!selector_match(s, t.p));
	t.len -= strlen(close + 1) + 1; /* N characters: a match */
	buf_adds(&t, close + 1);
	FUZZ_ASSERT(selector_match(s, t.p));
	buf_free(&t);
}

/* The selector and the regular expression of selector_ref.h agree on
 * topic, and on x (an expansion, which must match). */
static void check_ref(const struct selector *s, const char *text, const char *topic,
		      const char *x)
{
	struct buf re = {0};
	regex_t rx;
	if (strlen(text) > 256 || !selector_ref_regex(text, &re) ||
	    regcomp(&rx, re.p, REG_EXTENDED | REG_NOSUB) != 0) {
		buf_free(&re);
		return;
	}
	bool want = regexec(&rx, topic, 0, NULL, 0) == 0;
	if (selector_match(s, topic) != want)
		fprintf(stderr, "template \"%s\" on \"%s\": selector %d, regex %d (%s)\n", text,
			topic, !want, want, re.p);
	FUZZ_ASSERT(selector_match(s, topic) == want);
	FUZZ_ASSERT(regexec(&rx, x, 0, NULL, 0) == 0);
	regfree(&rx);
	buf_free(&re);
}

/* Matching through a subscriber's rules agrees with the selector. */
static void check_rules(const char *text, const char *topic, bool want)
{
	const char *topics[1] = {text};
	char *allowed[1] = {(char *)text};
	struct match_rules *r = match_rules_new(topics, 1, allowed, 1);
	const char *ttopics[1] = {topic};
	struct msg *pub = msg_new("id", ttopics, 1, NULL, -1, false, "", 0);
	struct msg *priv = msg_new("id", ttopics, 1, NULL, -1, true, "", 0);
	FUZZ_ASSERT(match_rules_topic(r, pub) == want);
	FUZZ_ASSERT(match_rules_may_see(r, pub));
	FUZZ_ASSERT(match_rules_may_see(r, priv) == want);
	FUZZ_ASSERT(match_rules_accept(priv, r) == want);
	const char *names[MSG_MAX_TOPICS];
	int n = match_rules_store_topics(r, names);
	FUZZ_ASSERT(n == 1);
	FUZZ_ASSERT(strcmp(names[0], r->has_all || r->has_patterns ? "*" : text) == 0);
	msg_unref(pub);
	msg_unref(priv);
	match_rules_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_parts in;
	fuzz_split(data, size, 3, &in);
	const char *text = in.s[0], *topic = in.s[1];
	uint32_t bits = 0;
	memcpy(&bits, in.s[2], in.len[2] < 4 ? in.len[2] : 4);

	char err[128];
	memset(err, 'x', sizeof err);
	struct selector *s = selector_compile(text, err, sizeof err);
	if (!s) {
		FUZZ_ASSERT(strchr(text, '{') && strcmp(text, "*") != 0);
		FUZZ_ASSERT(memchr(err, '\0', sizeof err) && err[0] != '\0');
		s = selector_parse(text);
		FUZZ_ASSERT(selector_kind(s) == SELECTOR_EXACT);
	}
	FUZZ_ASSERT(strcmp(selector_text(s), text) == 0);
	bool m = selector_match(s, topic);
	switch (selector_kind(s)) {
	case SELECTOR_ALL:
		FUZZ_ASSERT(strcmp(text, "*") == 0 && m);
		break;
	case SELECTOR_EXACT:
		FUZZ_ASSERT(m == (strcmp(text, topic) == 0));
		FUZZ_ASSERT(selector_match(s, text));
		break;
	case SELECTOR_TEMPLATE: {
		/* A value made of the topic's bytes: unreserved ones as they
		 * are, the other printable ASCII ones pct-encoded. */
		char value[3 * 8 + 1];
		size_t vn = 0;
		for (const char *p = topic; *p && vn < 3 * 7; p++) {
			unsigned char c = (unsigned char)*p;
			if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			    (c >= '0' && c <= '9') || strchr("-._~", c))
				value[vn++] = (char)c;
			else if (c > 0x20 && c < 0x7f)
				vn += (size_t)snprintf(value + vn, 4, "%%%02X", c);
		}
		value[vn] = '\0';
		if (!vn)
			strcpy(value, "v");
		check_prefix_bound(s, text);
		const uint32_t picks[] = {0, UINT32_MAX, bits};
		for (size_t i = 0; i < sizeof picks / sizeof picks[0]; i++) {
			char *x = expand(text, picks[i], value);
			if (!selector_match(s, x)) {
				fprintf(stderr, "template \"%s\" does not match its expansion \"%s\"\n",
					text, x);
				FUZZ_ASSERT(!"a template matches its expansions");
			}
			if (i == 2)
				check_ref(s, text, topic, x);
			free(x);
		}
		break;
	}
	}
	FUZZ_ASSERT(selector_match(s, topic) == m);
	if (m && selector_kind(s) == SELECTOR_TEMPLATE)
		check_bytes(text, topic);
	check_rules(text, topic, m);
	selector_free(s);
	fuzz_parts_free(&in);
	return 0;
}
