/* test_selector.c -- topic selectors: RFC 6570 expansions matched in
 * reverse, near misses, Mercure cases, malformed templates, bounded time. */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "selector.h"
#include "testlib.h"
#include "util.h"

struct match_case {
	const char *selector;
	const char *topic;
	bool want;
};

static void check_cases(const struct match_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char err[128] = "";
		struct selector *s = selector_compile(cases[i].selector, err, sizeof err);
		CHECK(s != NULL);
		if (!s) {
			fprintf(stderr, "  compiling \"%s\": %s\n", cases[i].selector, err);
			continue;
		}
		bool got = selector_match(s, cases[i].topic);
		CHECK(got == cases[i].want);
		if (got != cases[i].want)
			fprintf(stderr, "  \"%s\" vs \"%s\": want %s\n", cases[i].selector,
				cases[i].topic, cases[i].want ? "match" : "no match");
		selector_free(s);
	}
}

#define CHECK_CASES(c) check_cases(c, sizeof c / sizeof c[0])

/* RFC 6570 section 1.2: each level's examples, expansion against template.
 * Variables: var="value" hello="Hello World!" path="/foo/bar" x="1024"
 * y="768" empty="" list=(red,green,blue) keys=[(semi,;),(dot,.),(comma,,)]. */
static void test_rfc_levels(void)
{
	static const struct match_case cases[] = {
		/* Level 1 */
		{"{var}", "value", true},
		{"{hello}", "Hello%20World%21", true},
		/* Level 2 */
		{"{+var}", "value", true},
		{"{+hello}", "Hello%20World!", true},
		{"{+path}/here", "/foo/bar/here", true},
		{"here?ref={+path}", "here?ref=/foo/bar", true},
		{"X{#var}", "X#value", true},
		{"X{#hello}", "X#Hello%20World!", true},
		/* Level 3 */
		{"map?{x,y}", "map?1024,768", true},
		{"{x,hello,y}", "1024,Hello%20World%21,768", true},
		{"{+x,hello,y}", "1024,Hello%20World!,768", true},
		{"{+path,x}/here", "/foo/bar,1024/here", true},
		{"{#x,hello,y}", "#1024,Hello%20World!,768", true},
		{"{#path,x}/here", "#/foo/bar,1024/here", true},
		{"X{.var}", "X.value", true},
		{"X{.x,y}", "X.1024.768", true},
		{"{/var}", "/value", true},
		{"{/var,x}/here", "/value/1024/here", true},
		{"{;x,y}", ";x=1024;y=768", true},
		{"{;x,y,empty}", ";x=1024;y=768;empty", true},
		{"{?x,y}", "?x=1024&y=768", true},
		{"{?x,y,empty}", "?x=1024&y=768&empty=", true},
		{"?fixed=yes{&x}", "?fixed=yes&x=1024", true},
		{"{&x,y,empty}", "&x=1024&y=768&empty=", true},
		/* Level 4 */
		{"{var:3}", "val", true},
		{"{var:30}", "value", true},
		{"{list}", "red,green,blue", true},
		{"{list*}", "red,green,blue", true},
		{"{keys}", "semi,%3B,dot,.,comma,%2C", true},
		{"{keys*}", "semi=%3B,dot=.,comma=%2C", true},
		{"{+path:6}/here", "/foo/b/here", true},
		{"{+list}", "red,green,blue", true},
		{"{+list*}", "red,green,blue", true},
		{"{+keys}", "semi,;,dot,.,comma,,", true},
		{"{+keys*}", "semi=;,dot=.,comma=,", true},
		{"{#path:6}/here", "#/foo/b/here", true},
		{"{#list}", "#red,green,blue", true},
		{"{#list*}", "#red,green,blue", true},
		{"{#keys}", "#semi,;,dot,.,comma,,", true},
		{"{#keys*}", "#semi=;,dot=.,comma=,", true},
		{"X{.var:3}", "X.val", true},
		{"X{.list}", "X.red,green,blue", true},
		{"X{.list*}", "X.red.green.blue", true},
		{"X{.keys}", "X.semi,%3B,dot,.,comma,%2C", true},
		{"X{.keys*}", "X.semi=%3B.dot=..comma=%2C", true},
		{"{/var:1,var}", "/v/value", true},
		{"{/list}", "/red,green,blue", true},
		{"{/list*}", "/red/green/blue", true},
		{"{/list*,path:4}", "/red/green/blue/%2Ffoo", true},
		{"{/keys}", "/semi,%3B,dot,.,comma,%2C", true},
		{"{/keys*}", "/semi=%3B/dot=./comma=%2C", true},
		{"{;hello:5}", ";hello=Hello", true},
		{"{;list}", ";list=red,green,blue", true},
		{"{;list*}", ";list=red;list=green;list=blue", true},
		{"{;keys}", ";keys=semi,%3B,dot,.,comma,%2C", true},
		{"{;keys*}", ";semi=%3B;dot=.;comma=%2C", true},
		{"{?var:3}", "?var=val", true},
		{"{?list}", "?list=red,green,blue", true},
		{"{?list*}", "?list=red&list=green&list=blue", true},
		{"{?keys}", "?keys=semi,%3B,dot,.,comma,%2C", true},
		{"{?keys*}", "?semi=%3B&dot=.&comma=%2C", true},
		{"{&var:3}", "&var=val", true},
		{"{&list}", "&list=red,green,blue", true},
		{"{&list*}", "&list=red&list=green&list=blue", true},
		{"{&keys}", "&keys=semi,%3B,dot,.,comma,%2C", true},
		{"{&keys*}", "&semi=%3B&dot=.&comma=%2C", true},
	};
	CHECK_CASES(cases);
}

/* RFC 6570 section 3.2, the examples not already in section 1.2. Adds
 * count=(one,two,three) dom=(example,com) dub="me/too" half="50%"
 * who="fred" base="http://example.com/home/" v="6", undef and
 * empty_keys undefined. */
static void test_rfc_section3(void)
{
	static const struct match_case cases[] = {
		/* 3.2.1 */
		{"{count}", "one,two,three", true},
		{"{count*}", "one,two,three", true},
		{"{/count}", "/one,two,three", true},
		{"{/count*}", "/one/two/three", true},
		{"{;count}", ";count=one,two,three", true},
		{"{;count*}", ";count=one;count=two;count=three", true},
		{"{?count}", "?count=one,two,three", true},
		{"{?count*}", "?count=one&count=two&count=three", true},
		{"{&count*}", "&count=one&count=two&count=three", true},
		/* 3.2.2 */
		{"{half}", "50%25", true},
		{"O{empty}X", "OX", true},
		{"O{undef}X", "OX", true},
		{"{x,y}", "1024,768", true},
		{"?{x,empty}", "?1024,", true},
		{"?{x,undef}", "?1024", true},
		{"?{undef,y}", "?768", true},
		/* 3.2.3 */
		{"{+half}", "50%25", true},
		{"{base}index", "http%3A%2F%2Fexample.com%2Fhome%2Findex", true},
		{"{+base}index", "http://example.com/home/index", true},
		{"O{+empty}X", "OX", true},
		{"O{+undef}X", "OX", true},
		{"up{+path}{var}/here", "up/foo/barvalue/here", true},
		/* 3.2.4 */
		{"{#half}", "#50%25", true},
		{"foo{#empty}", "foo#", true},
		{"foo{#undef}", "foo", true},
		/* 3.2.5 */
		{"{.who}", ".fred", true},
		{"{.who,who}", ".fred.fred", true},
		{"{.half,who}", ".50%25.fred", true},
		{"www{.dom*}", "www.example.com", true},
		{"X{.empty}", "X.", true},
		{"X{.undef}", "X", true},
		{"X{.empty_keys}", "X", true},
		{"X{.empty_keys*}", "X", true},
		/* 3.2.6 */
		{"{/who}", "/fred", true},
		{"{/who,who}", "/fred/fred", true},
		{"{/half,who}", "/50%25/fred", true},
		{"{/who,dub}", "/fred/me%2Ftoo", true},
		{"{/var,empty}", "/value/", true},
		{"{/var,undef}", "/value", true},
		/* 3.2.7 */
		{"{;who}", ";who=fred", true},
		{"{;half}", ";half=50%25", true},
		{"{;empty}", ";empty", true},
		{"{;v,empty,who}", ";v=6;empty;who=fred", true},
		{"{;v,bar,who}", ";v=6;who=fred", true},
		{"{;x,y,undef}", ";x=1024;y=768", true},
		/* 3.2.8 */
		{"{?who}", "?who=fred", true},
		{"{?half}", "?half=50%25", true},
		{"{?x,y,undef}", "?x=1024&y=768", true},
		/* 3.2.9 */
		{"{&who}", "&who=fred", true},
		{"{&half}", "&half=50%25", true},
		/* 2.1: literals around an expression */
		{"'{count}'", "'one,two,three'", true},
	};
	CHECK_CASES(cases);
}

/* Expansions that no assignment can produce. */
static void test_near_misses(void)
{
	static const struct match_case cases[] = {
		{"{var}", "Hello World!", false},      /* raw space and '!' */
		{"{var}", "a/b", false},               /* '/' is reserved */
		{"{var}", "50%", false},               /* truncated triplet */
		{"{var}", "50%2", false},
		{"{var}", "50%zz", false},
		{"{var}", "caf\xc3\xa9", false},       /* raw UTF-8 */
		{"{var}", "caf%C3%A9", true},
		{"{var}", "caf%c3%a9", true},          /* lower-case hex */
		{"{+hello}", "Hello World!", false},
		{"{+path}", "/foo bar", false},
		{"{+path}", "/foo%20bar", true},
		{"{x,y}", "1024/768", false},
		{"{var:3}", "valu", false},
		{"{var:3}", "", true},
		{"{var:1}", "%C3%A9", true},           /* one character, two octets */
		{"{var:1}", "%C3%A9x", false},
		{"{var:2}", "%41%42", true},
		{"{var:2}", "%41%42%43", false},
		{"{;hello:5}", ";hello=HelloW", false},
		{"{;hello:5}", ";hello=", false},      /* an empty string writes ";hello" */
		{"{;hello:5}", ";hello", true},
		{"X{.var:3}", "X.valu", false},
		{"{/var:1,var}", "/va/value", false},
		{"{/var}", "value", false},            /* missing '/' */
		{"{/var}", "/val/ue", false},
		{"{/list}", "/red/green", false},
		{"{/list*}", "/red/green", true},
		{"{.who}", "fred", false},
		{"{#var}", "value", false},
		{"{;x,y}", ";x=1024;z=768", false},
		{"{;x,y}", ";y=768", true},
		{"{;x,y}", ";y=768;x=1024", false},    /* order is fixed */
		{"{?x,y}", "?y=768&x=1024", false},
		{"{?x,y}", "?x=1024&y=768&z=1", false},
		{"{?x,y}", "?x=1024&&y=768", false},
		{"{?x}", "?x", false},                 /* '?' always writes '=' */
		{"{?x}", "?x=", true},
		{"{?x}", "?1024", false},
		{"{?x}", "", true},
		{"{;list*}", ";list=", false},         /* empty items write ";list" */
		{"{;list*}", ";list;list=a", true},
		{"{keys*}", "semi=%3B,dot", false},    /* neither a list nor pairs */
		{"{keys*}", "semi,dot", true},         /* a list */
		{"{keys*}", "semi=%3B", true},         /* one pair */
		{"{keys*}", "a=b=c", false},
		{"{keys}", "a=b", false},              /* '=' only when exploded */
		{"{?keys*}", "?a=1&b=2", true},
		{"{?keys*}", "?a&b=2", false},
		{"{;keys*}", ";a;b=2", true},
		{"{x,y}", ",", true},                  /* two empty strings */
		{"{x,y}", ",,", true},                 /* a list ("", "") then y="" */
		{"{/x,y}", "//", true},
		{"{/x,y}", "///", false},
		{"{/x*,y}", "///", true},              /* x=("", "") y="" */
		{"{.x}", "..", true},                  /* '.' is unreserved: x="." */
		{"{.x}", ".a/b", false},
		{"{#x}", "##", true},                  /* '#' is reserved: part of x */
	};
	CHECK_CASES(cases);
}

static void test_mercure(void)
{
	static const struct match_case cases[] = {
		{"https://example.com/books/{id}", "https://example.com/books/1", true},
		{"https://example.com/books/{id}", "https://example.com/books/978-3-16", true},
		{"https://example.com/books/{id}", "https://example.com/books/1/reviews", false},
		{"https://example.com/books/{id}", "https://example.com/authors/1", false},
		{"https://example.com/books/{id}", "https://example.com/books/", true},
		{"https://example.com/books/{id}", "https://example.com/books", false},
		{"https://example.com/books/{id}", "https://example.com/books/1?x", false},
		{"https://example.com/books/{id}.jsonld", "https://example.com/books/1.jsonld", true},
		{"https://example.com/books/{id}.jsonld", "https://example.com/books/1.json", false},
		{"https://example.com/{+path}", "https://example.com/a/b/c?x=1&y=2#frag", true},
		{"https://example.com/{+path}", "https://example.com/", true},
		{"https://example.com/{+path}", "https://example.org/a", false},
		{"https://example.com/users/{user}/books/{book}", "https://example.com/users/kev/books/3", true},
		{"https://example.com/users/{user}/books/{book}", "https://example.com/users/kev/x/books/3", false},
		{"urn:{ns}:{id}", "urn:book:1", true},
		{"urn:{ns}:{id}", "urn:book:1:2", false},
		{"*", "https://example.com/anything", true},
		{"*", "", true},
		{"*", "*", true},
		{"https://example.com/books/1", "https://example.com/books/1", true},
		{"https://example.com/books/1", "https://example.com/books/10", false},
		{"https://example.com/books/1", "https://example.com/books/", false},
		{"a.b", "a.b", true},
		{"a.b", "axb", false},
		{"a+b", "a+b", true},
		{"a+b", "aab", false},
		{"(x)", "(x)", true},
		{"(x)", "x", false},
		{"[y]", "[y]", true},
		{"[y]", "y", false},
		{"a\\b", "a\\b", true},
		{"a\\b", "ab", false},
		{"a\\b", "a\\\\b", false},
		{"^a$", "^a$", true},
		{"^a$", "a", false},
		{"a}b", "a}b", true},                  /* no '{': an exact topic */
		{"", "", true},
		{"", "a", false},
		/* Metacharacters in a template's literals are literal too. */
		{"https://example.com/a.b/{id}", "https://example.com/a.b/1", true},
		{"https://example.com/a.b/{id}", "https://example.com/aXb/1", false},
		{"(x)[y]{id}*+?", "(x)[y]7*+?", true},
		{"(x)[y]{id}*+?", "x[y]7*+?", false},
		{"a\\b{x}c\\d", "a\\b1c\\d", true},
		{"a\\b{x}c\\d", "ab1cd", false},
		/* Literal parts between expressions. */
		{"{a}-{b}", "x-y", true},
		{"{a}-{b}", "x-y-z", true},            /* '-' is unreserved */
		{"{a}/{b}", "x/y/z", false},
		{"{a}/{b}/", "x/y/", true},
		{"ab{x}ab", "ab", false},              /* head and tail overlap */
		{"ab{x}ab", "abab", true},
		{"ab{x}ab", "aba", false},
	};
	CHECK_CASES(cases);
}

static void test_kinds(void)
{
	char err[128];
	struct selector *s = selector_compile("*", err, sizeof err);
	CHECK(s && selector_kind(s) == SELECTOR_ALL);
	CHECK_STR_EQ(selector_text(s), "*");
	selector_free(s);
	s = selector_compile("https://example.com/books/1", err, sizeof err);
	CHECK(s && selector_kind(s) == SELECTOR_EXACT);
	CHECK_STR_EQ(selector_text(s), "https://example.com/books/1");
	selector_free(s);
	s = selector_compile("https://example.com/books/{id}", err, sizeof err);
	CHECK(s && selector_kind(s) == SELECTOR_TEMPLATE);
	CHECK_STR_EQ(selector_text(s), "https://example.com/books/{id}");
	selector_free(s);
	s = selector_compile("**", NULL, 0);
	CHECK(s && selector_kind(s) == SELECTOR_EXACT);
	CHECK(!selector_match(s, "a"));
	CHECK(selector_match(s, "**"));
	selector_free(s);
	selector_free(NULL);
	/* A plain string is never rejected, however long or odd. */
	char big[5000];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	big[10] = '}';
	s = selector_compile(big, NULL, 0);
	CHECK(s && selector_kind(s) == SELECTOR_EXACT && selector_match(s, big));
	selector_free(s);
}

struct bad_case {
	const char *selector;
	const char *err; /* expected start of the message */
};

static void test_malformed(void)
{
	static const struct bad_case cases[] = {
		{"{", "unterminated expression at offset 0"},
		{"a{b", "unterminated expression at offset 1"},
		{"a{b{c}}", "unterminated expression at offset 1"},
		{"{a}}", "unbalanced '}' at offset 3"},
		{"}{a}", "unbalanced '}' at offset 0"},
		{"{a}b}", "unbalanced '}' at offset 4"},
		{"x{}", "empty expression at offset 1"},
		{"{+}", "empty variable name at offset 2"},
		{"{a,}", "empty variable name at offset 3"},
		{"{a,,b}", "empty variable name at offset 3"},
		{"{,a}", "reserved operator ',' at offset 1"},
		{"{=a}", "reserved operator '=' at offset 1"},
		{"{!a}", "reserved operator '!' at offset 1"},
		{"{@a}", "reserved operator '@' at offset 1"},
		{"{|a}", "reserved operator '|' at offset 1"},
		{"{$a}", "invalid character '$' in variable name at offset 1"},
		{"{a b}", "unexpected 0x20 after variable at offset 2"},
		{"{a-b}", "unexpected '-' after variable at offset 2"},
		{"{-a}", "invalid character '-' in variable name at offset 1"},
		{"{a.}", "bad variable name: '.' must sit between characters at offset 2"},
		{"{a..b}", "bad variable name: '.' must sit between characters at offset 2"},
		{"{.a.}", "bad variable name: '.' must sit between characters at offset 3"},
		{"{%zz}", "invalid character '%' in variable name at offset 1"},
		{"{a%4}", "unexpected '%' after variable at offset 2"},
		{"{a:}", "prefix length must be 1 to 9999 at offset 3"},
		{"{a:0}", "prefix length must be 1 to 9999 at offset 3"},
		{"{a:012}", "prefix length must be 1 to 9999 at offset 3"},
		{"{a:10000}", "prefix length must be 1 to 9999 at offset 3"},
		{"{a:x}", "prefix length must be 1 to 9999 at offset 3"},
		{"{a:3*}", "unexpected '*' after variable at offset 4"},
		{"{a*:3}", "unexpected ':' after variable at offset 3"},
		{"{a**}", "unexpected '*' after variable at offset 3"},
		{"{a}{b,c:5x}", "unexpected 'x' after variable at offset 9"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char err[128] = "";
		struct selector *s = selector_compile(cases[i].selector, err, sizeof err);
		CHECK(s == NULL);
		CHECK_STR_EQ(err, cases[i].err);
		selector_free(s);
	}
	/* Valid edge cases of the grammar. */
	static const char *const good[] = {
		"{a.b}", "{A_1.b2}", "{%41b}", "{a:9999}", "{a:1,b*,c}", "{+a,b:2}", "{a}{b}",
	};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		char err[128] = "";
		struct selector *s = selector_compile(good[i], err, sizeof err);
		CHECK(s != NULL);
		if (!s)
			fprintf(stderr, "  \"%s\": %s\n", good[i], err);
		selector_free(s);
	}
	/* Limits: 2048 bytes and 64 expressions. */
	char t[4096];
	memset(t, 'a', sizeof t);
	memcpy(t, "{x}", 3);
	t[SELECTOR_MAX_LEN] = '\0';
	struct selector *s = selector_compile(t, NULL, 0);
	CHECK(s != NULL);
	selector_free(s);
	t[SELECTOR_MAX_LEN] = 'a';
	t[SELECTOR_MAX_LEN + 1] = '\0';
	char err[128] = "";
	s = selector_compile(t, err, sizeof err);
	CHECK(s == NULL);
	CHECK_STR_EQ(err, "template longer than 2048 bytes");
	struct buf b = {0};
	for (int i = 0; i < SELECTOR_MAX_EXPRS; i++)
		buf_adds(&b, "{x}");
	s = selector_compile(b.p, NULL, 0);
	CHECK(s != NULL);
	selector_free(s);
	buf_adds(&b, "{x}");
	s = selector_compile(b.p, err, sizeof err);
	CHECK(s == NULL);
	CHECK_STR_EQ(err, "more than 64 expressions");
	buf_free(&b);
	/* A small error buffer is truncated, never overrun. */
	char small[8];
	memset(small, 'Z', sizeof small);
	CHECK(selector_compile("{", small, 5) == NULL);
	CHECK_STR_EQ(small, "unte");
	CHECK(small[5] == 'Z');
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Patterns that take exponential time with naive backtracking: many
 * adjacent expressions that can each take any share of the topic, and a
 * literal the topic lacks. */
static void test_pathological(void)
{
	struct buf tpl = {0}, topic = {0};
	for (int i = 0; i < 63; i++)
		buf_printf(&tpl, "{+v%d}", i);
	buf_adds(&tpl, "!{+z}");
	for (int i = 0; i < 1000; i++)
		buf_addc(&topic, 'a');
	struct selector *s = selector_compile(tpl.p, NULL, 0);
	CHECK(s != NULL);
	double t0 = now_s();
	CHECK(s && !selector_match(s, topic.p));
	topic.p[500] = '!';
	CHECK(s && selector_match(s, topic.p));
	double t1 = now_s();
	printf("# 64 adjacent {+v} against 1000 bytes: %.2f ms for two matches\n", (t1 - t0) * 1e3);
	CHECK(t1 - t0 < 2.0); /* generous: valgrind; backtracking would take years */
	selector_free(s);

	/* One expression with many variables and separators; and prefixes. */
	buf_free(&tpl);
	buf_adds(&tpl, "{/");
	for (int i = 0; i < 100; i++)
		buf_printf(&tpl, "%sv%d*", i ? "," : "", i);
	buf_adds(&tpl, "}x{z}");
	buf_free(&topic);
	for (int i = 0; i < 500; i++)
		buf_addc(&topic, '/');
	buf_adds(&topic, "y");
	s = selector_compile(tpl.p, NULL, 0);
	CHECK(s != NULL);
	t0 = now_s();
	CHECK(s && !selector_match(s, topic.p));
	topic.p[topic.len - 1] = 'x';
	CHECK(s && selector_match(s, topic.p));
	t1 = now_s();
	printf("# {/v0*,...,v99*}x{z} against 500 bytes: %.2f ms for two matches\n", (t1 - t0) * 1e3);
	CHECK(t1 - t0 < 2.0);
	selector_free(s);

	buf_free(&tpl);
	for (int i = 0; i < 64; i++)
		buf_printf(&tpl, "{v%d:9999}", i);
	buf_free(&topic);
	for (int i = 0; i < 700; i++)
		buf_adds(&topic, "%41");
	buf_adds(&topic, "/");
	s = selector_compile(tpl.p, NULL, 0);
	CHECK(s != NULL);
	t0 = now_s();
	CHECK(s && !selector_match(s, topic.p));
	topic.len--;
	topic.p[topic.len] = '\0';
	CHECK(s && selector_match(s, topic.p));
	t1 = now_s();
	printf("# 64 {v:9999} against 2100 bytes: %.2f ms for two matches\n", (t1 - t0) * 1e3);
	CHECK(t1 - t0 < 2.0);
	selector_free(s);
	buf_free(&tpl);
	buf_free(&topic);
}

/* Templates of lone simple variables split the topic greedily instead of
 * running the automaton. Appending "{;zz}" forces the automaton without
 * changing the result for topics without ';': both must agree. */
static void test_greedy_agrees(void)
{
	static const char *const tpls[] = {
		"a/{x}/b", "{x}/{y}", "{+p}/{x}", "{/x}/{.y}", "{#f}", "{.x}:{y}", "{x}?{y}",
		"{/x}x", "{x}#{+y}", "{/x}/", "{.x}/{/y}", "{x},{y}", "{+x}-", "/{x}=",
	};
	static const char alphabet[] = "ab/.%4F#?:,=-";
	unsigned seed = 12345, mismatches = 0;
	for (size_t t = 0; t < sizeof tpls / sizeof tpls[0]; t++) {
		char forced[64];
		snprintf(forced, sizeof forced, "%s{;zz}", tpls[t]);
		struct selector *a = selector_compile(tpls[t], NULL, 0);
		struct selector *b = selector_compile(forced, NULL, 0);
		CHECK(a && b);
		if (!a || !b)
			continue;
		for (int k = 0; k < 3000; k++) {
			char topic[16];
			seed = seed * 1103515245u + 12345u;
			size_t len = (seed >> 16) % 10;
			for (size_t i = 0; i < len; i++) {
				seed = seed * 1103515245u + 12345u;
				topic[i] = alphabet[(seed >> 16) % (sizeof alphabet - 1)];
			}
			topic[len] = '\0';
			if (selector_match(a, topic) != selector_match(b, topic) && mismatches++ < 5)
				fprintf(stderr, "  \"%s\" vs \"%s\": shortcut and automaton differ\n",
					tpls[t], topic);
		}
		selector_free(a);
		selector_free(b);
	}
	CHECK(mismatches == 0);
}

/* Large templates take the allocating path; results must not differ. */
static void test_large_program(void)
{
	struct buf tpl = {0};
	buf_adds(&tpl, "https://example.com/");
	for (int i = 0; i < 40; i++)
		buf_printf(&tpl, "{;a%d,b%d}", i, i);
	buf_adds(&tpl, "{?q*}");
	struct selector *s = selector_compile(tpl.p, NULL, 0);
	CHECK(s != NULL);
	CHECK(selector_match(s, "https://example.com/;a0=1;b0;a39=x?q=1&r=2"));
	CHECK(!selector_match(s, "https://example.com/;a0=1;b0;a40=x?q=1&r=2"));
	CHECK(!selector_match(s, "https://example.com/;b0;a0"));
	selector_free(s);
	buf_free(&tpl);
}

/* One compiled selector shared by several threads. */
struct shared {
	struct selector *s;
	int errors;
};

static void *worker(void *arg)
{
	struct shared *sh = arg;
	int errors = 0;
	for (int i = 0; i < 20000; i++) {
		char topic[64];
		snprintf(topic, sizeof topic, "https://example.com/books/%d%s", i, i % 3 ? "" : "/x");
		if (selector_match(sh->s, topic) != (i % 3 != 0))
			errors++;
	}
	__atomic_add_fetch(&sh->errors, errors, __ATOMIC_RELAXED);
	return NULL;
}

static void test_threads(void)
{
	struct shared sh = {selector_compile("https://example.com/books/{id}", NULL, 0), 0};
	pthread_t th[4];
	for (int i = 0; i < 4; i++)
		CHECK(pthread_create(&th[i], NULL, worker, &sh) == 0);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	CHECK(sh.errors == 0);
	selector_free(sh.s);
}

/* selector_parse: a malformed template is an exact topic (as in Mercure). */
static void test_parse_fallback(void)
{
	struct selector *s = selector_parse("https://example.com/{broken");
	CHECK(selector_kind(s) == SELECTOR_EXACT);
	CHECK(selector_match(s, "https://example.com/{broken"));
	CHECK(!selector_match(s, "https://example.com/x"));
	selector_free(s);
	s = selector_parse("https://example.com/{id}");
	CHECK(selector_kind(s) == SELECTOR_TEMPLATE && selector_match(s, "https://example.com/7"));
	selector_free(s);
	s = selector_parse("*");
	CHECK(selector_kind(s) == SELECTOR_ALL && selector_match(s, "anything"));
	selector_free(s);
}

TEST_MAIN(TEST(test_rfc_levels), TEST(test_rfc_section3), TEST(test_near_misses), TEST(test_mercure),
	  TEST(test_kinds), TEST(test_malformed), TEST(test_pathological), TEST(test_greedy_agrees), TEST(test_large_program),
	  TEST(test_threads), TEST(test_parse_fallback))
