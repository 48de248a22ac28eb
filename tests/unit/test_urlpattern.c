/* test_urlpattern.c -- the URL parser (resolution, hosts, dot segments,
 * encoding, the reserved path) and URL Pattern matchers (the standard's
 * syntax, relative patterns and topics, canonicalization, refusals, the
 * cost limit), from the URL and URL Pattern standards' text and examples. */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testlib.h"
#include "url.h"
#include "urlpattern.h"
#include "urlpattern_parts.h"
#include "util.h"

#define HUB "https://hub.example/.well-known/mercure"

static struct url hub;

/* ---- url.c ------------------------------------------------------------ */

struct url_case {
	const char *input;
	const char *base; /* NULL: none */
	const char *want; /* "protocol|user|pass|host|port|path|search|hash"; NULL: failure */
};

static void check_url_cases(const struct url_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct url b = {0}, u;
		char err[128] = "";
		if (cases[i].base && url_parse(&b, cases[i].base, strlen(cases[i].base), NULL, err, sizeof err) < 0) {
			fprintf(stderr, "  base \"%s\": %s\n", cases[i].base, err);
			CHECK(0);
			continue;
		}
		int rc = url_parse(&u, cases[i].input, strlen(cases[i].input), cases[i].base ? &b : NULL,
				   err, sizeof err);
		if (!cases[i].want) {
			CHECK(rc == -1);
			if (rc == 0)
				fprintf(stderr, "  \"%s\" parsed, want failure\n", cases[i].input);
			url_clear(&u);
			url_clear(&b);
			continue;
		}
		CHECK(rc == 0);
		if (rc == 0) {
			struct buf got = {0};
			for (int k = 0; k < URL_NCOMPONENTS; k++)
				buf_printf(&got, "%s%s", k ? "|" : "", u.c[k]);
			CHECK_STR_EQ(got.p, cases[i].want);
			if (strcmp(got.p, cases[i].want) != 0)
				fprintf(stderr, "  input \"%s\"\n", cases[i].input);
			buf_free(&got);
		} else {
			fprintf(stderr, "  \"%s\": %s\n", cases[i].input, err);
		}
		url_clear(&u);
		url_clear(&b);
	}
}

#define CHECK_URLS(c) check_url_cases(c, sizeof c / sizeof c[0])

static void test_url_absolute(void)
{
	static const struct url_case cases[] = {
		{"https://EXAMPLE.com/a/b?x#y", NULL, "https|||example.com||/a/b|x|y"},
		{"HTTP://example.com:80/", NULL, "http|||example.com||/||"},
		{"https://example.com:8443", NULL, "https|||example.com|8443|/||"},
		{"https://example.com:0443/", NULL, "https|||example.com||/||"},
		{"wss://example.com:443/x", NULL, "wss|||example.com||/x||"},
		{"ftp://example.com:21/x", NULL, "ftp|||example.com||/x||"},
		{"https://u:p@h/", NULL, "https|u|p|h||/||"},
		{"https://a@b@h/", NULL, "https|a%40b||h||/||"},
		{"https://h:/", NULL, "https|||h||/||"},
		{"http:\\\\h\\a\\b", NULL, "http|||h||/a/b||"},
		{"https:h/x", NULL, "https|||h||/x||"},
		{" https://h/a\tb\n ", NULL, "https|||h||/ab||"},
		{"urn:isbn:0451450523", NULL, "urn|||||isbn:0451450523||"},
		{"mailto:a@b.example", NULL, "mailto|||||a@b.example||"},
		{"urn:a b?c", NULL, "urn|||||a b|c|"},
		{"urn:a ?c", NULL, "urn|||||a%20|c|"},
		{"urn:a ", NULL, "urn|||||a||"},
		{"foo://Host/p", NULL, "foo|||Host||/p||"},
		{"foo://h", NULL, "foo|||h||||"},
		{"foo:/p/../q", NULL, "foo|||||/q||"},
		{"file:///etc/x", NULL, "file|||||/etc/x||"},
		{"file://localhost/etc/x", NULL, "file|||||/etc/x||"},
		{"file://h/x", NULL, "file|||h||/x||"},
	};
	CHECK_URLS(cases);
}

static void test_url_relative(void)
{
	static const struct url_case cases[] = {
		{"/books/1", HUB, "https|||hub.example||/books/1||"},
		{"books/1", HUB, "https|||hub.example||/.well-known/books/1||"},
		{"./books/../x", HUB, "https|||hub.example||/.well-known/x||"},
		{"../../../x", HUB, "https|||hub.example||/x||"},
		{"//other.example/x", HUB, "https|||other.example||/x||"},
		{"?q=1", HUB, "https|||hub.example||/.well-known/mercure|q=1|"},
		{"#f", HUB, "https|||hub.example||/.well-known/mercure||f"},
		{"", HUB, "https|||hub.example||/.well-known/mercure||"},
		{"https:x", HUB, "https|||hub.example||/.well-known/x||"},
		{"http:x", HUB, "http|||x||/||"},
		{"\\x", HUB, "https|||hub.example||/x||"},
		{"#x", "urn:a:b", "urn|||||a:b||x"},
		{"x", "urn:a:b", NULL},
		{"x", NULL, NULL},
		{"/x", "foo://h/a/b", "foo|||h||/x||"},
		{"c", "foo://h/a/b", "foo|||h||/a/c||"},
	};
	CHECK_URLS(cases);
}

static void test_url_paths(void)
{
	static const struct url_case cases[] = {
		{"https://h/a/./b/../c", NULL, "https|||h||/a/c||"},
		{"https://h/a/%2e%2E/c", NULL, "https|||h||/c||"},
		{"https://h/a/.%2e", NULL, "https|||h||/||"},
		{"https://h/a/b/.", NULL, "https|||h||/a/b/||"},
		{"https://h/a/%2E/b", NULL, "https|||h||/a/b||"},
		{"https://h/a/..b", NULL, "https|||h||/a/..b||"},
		{"https://h/a b<>\"", NULL, "https|||h||/a%20b%3C%3E%22||"},
		{"https://h/^`{}|", NULL, "https|||h||/%5E%60%7B%7D|||"},
		{"https://h/\xc3\xa9", NULL, "https|||h||/%C3%A9||"},
		{"https://h/%zz%41", NULL, "https|||h||/%zz%41||"},
		{"https://h/?a b'<", NULL, "https|||h||/|a%20b%27%3C|"},
		{"foo://h/?'", NULL, "foo|||h||/|'|"},
		{"https://h/#a b`#", NULL, "https|||h||/||a%20b%60#"},
		{"https://h/?a?b#c?d", NULL, "https|||h||/|a?b|c?d"},
	};
	CHECK_URLS(cases);
}

static void test_url_hosts(void)
{
	static const struct url_case cases[] = {
		{"https://ex%41mple.com/", NULL, "https|||example.com||/||"},
		{"https://127.1/", NULL, "https|||127.0.0.1||/||"},
		{"https://0x7f.0.0.1/", NULL, "https|||127.0.0.1||/||"},
		{"https://0177.0.0.1./", NULL, "https|||127.0.0.1||/||"},
		{"https://4294967295/", NULL, "https|||255.255.255.255||/||"},
		{"https://4294967296/", NULL, NULL},
		{"https://999.1.1.1/", NULL, NULL},
		{"https://1.2.3.4.5/", NULL, NULL},
		{"https://0x/", NULL, "https|||0.0.0.0||/||"},
		{"https://a.0x/", NULL, NULL},
		{"https://a.1b/", NULL, "https|||a.1b||/||"},
		{"https://[0:0::1]/", NULL, "https|||[::1]||/||"},
		{"https://[2001:DB8:0:0:1:0:0:1]/", NULL, "https|||[2001:db8::1:0:0:1]||/||"},
		{"https://[::ffff:192.168.0.1]:8080/", NULL, "https|||[::ffff:c0a8:1]|8080|/||"},
		{"https://[1:2:3:4:5:6:7:8]/", NULL, "https|||[1:2:3:4:5:6:7:8]||/||"},
		{"https://[1::8]/", NULL, "https|||[1::8]||/||"},
		{"https://[::1/", NULL, NULL},
		{"https://[1:2:3:4:5:6:7:8:9]/", NULL, NULL},
		{"https://[::1.2.3]/", NULL, NULL},
		{"https://[::01.2.3.4]/", NULL, NULL},
		{"https://[:1]/", NULL, NULL},
		{"https://ex\xc3\xa4mple.com/", NULL, NULL},
		{"https://ex%C3%A4mple.com/", NULL, NULL},
		{"https://a b/", NULL, NULL},
		{"https://a%25b/", NULL, NULL},
		{"https://a<b/", NULL, NULL},
		{"https://h:99999/", NULL, NULL},
		{"https://h:8a/", NULL, NULL},
		{"https://u@/", NULL, NULL},
		{"https://:80/", NULL, NULL},
		{"https://", NULL, NULL},
		{"foo://:80/", NULL, NULL},
		{"foo://a%zz/", NULL, "foo|||a%zz||/||"},
		{"foo://a b/", NULL, NULL},
		{"\xff", NULL, NULL},
		{"https://h/\xc3", NULL, NULL},
		{"https://h/\xed\xa0\x80", NULL, NULL},
	};
	CHECK_URLS(cases);
}

struct reserved_case {
	const char *topic;
	bool want;
};

static void test_url_reserved_path(void)
{
	static const struct reserved_case cases[] = {
		{"/.well-known/mercure", true},
		{"/.well-known/mercure/subscriptions", true},
		{"/.well-known/mercure?x", true},
		{"mercure", true},
		{"mercure/x", true},
		{"/.well-known/%6Dercure/x", true},
		{"/.well-known/%6dercure", true},
		{"/%2Ewell-known/mercure", true},
		{"/.well-known/mercure/../mercure/x", true},
		{"/a/../.well-known/mercure", true},
		{"/.well-known/%2e%2e/.well-known/mercure", true},
		{"/.well-known/x/%2E%2e/mercure", true},
		{"https://other.example/.well-known/mercure", true},
		{"http://other.example/.well-known/mercure/x", true},
		{"\\.well-known\\mercure", true},
		{"/.well-known/mercurex", false},
		{"/.well-known/mercure%2Fx", false},
		{"/.WELL-KNOWN/mercure", false},
		{"/.well-known", false},
		{"/", false},
		{"urn:x:/.well-known/mercure", false},
		{"https://exa mple/.well-known/mercure", false},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct url u = {0};
		bool got = url_parse(&u, cases[i].topic, strlen(cases[i].topic), &hub, NULL, 0) == 0 &&
			   url_path_under(&u, "/.well-known/mercure");
		CHECK(got == cases[i].want);
		if (got != cases[i].want)
			fprintf(stderr, "  reserved \"%s\": want %d\n", cases[i].topic, cases[i].want);
		url_clear(&u);
	}
}

/* ---- urlpattern.c ----------------------------------------------------- */

struct match_case {
	const char *pattern;
	const char *topic;
	bool want;
};

static void check_match_cases(const struct match_case *cases, size_t n)
{
	struct urlpattern_scratch *sc = urlpattern_scratch_new();
	for (size_t i = 0; i < n; i++) {
		char err[200] = "";
		struct urlpattern *p = urlpattern_compile(cases[i].pattern, strlen(cases[i].pattern), &hub,
							  err, sizeof err);
		CHECK(p != NULL);
		if (!p) {
			fprintf(stderr, "  compiling \"%s\": %s\n", cases[i].pattern, err);
			continue;
		}
		bool got = urlpattern_match_string(p, cases[i].topic, strlen(cases[i].topic), &hub, sc);
		CHECK(got == cases[i].want);
		if (got != cases[i].want)
			fprintf(stderr, "  \"%s\" vs \"%s\": want %s\n", cases[i].pattern, cases[i].topic,
				cases[i].want ? "match" : "no match");
		urlpattern_free(p);
	}
	CHECK(urlpattern_scratch_aborted(sc) == 0);
	urlpattern_scratch_free(sc);
}

#define CHECK_MATCHES(c) check_match_cases(c, sizeof c / sizeof c[0])

static void test_named_groups(void)
{
	static const struct match_case cases[] = {
		{"https://example.com/books/:id", "https://example.com/books/1", true},
		{"https://example.com/books/:id", "https://example.com/books/abc-def", true},
		{"https://example.com/books/:id", "https://example.com/books/1/2", false},
		{"https://example.com/books/:id", "https://example.com/books/", false},
		{"https://example.com/books/:id", "https://example.com/books", false},
		{"https://example.com/books/:id", "https://example.com/books/1?x=y#z", true},
		{"https://example.com/books/:id", "http://example.com/books/1", false},
		{"https://example.com/books/:id", "https://example.com:8443/books/1", false},
		{"https://example.com/books/:id", "https://example.com:443/books/1", true},
		{"https://example.com/books/:id", "https://EXAMPLE.COM/books/1", true},
		{"https://example.com/books/:id", "https://example.com/Books/1", false},
		{"https://example.com/books/:id", "https://user@example.com/books/1", true},
		{"https://example.com/books/:id", "https://example.org/books/1", false},
		{"https://example.com/books/:id", "https://example.com/books/a%2Fb", true},
		{"https://example.com/:a/:b", "https://example.com/x/y", true},
		{"https://example.com/:a-:b", "https://example.com/x-y", true},
		{"https://example.com/:a.:ext", "https://example.com/file.txt", true},
		{"https://:sub.example.com/", "https://api.example.com/", true},
		{"https://:sub.example.com/", "https://a.b.example.com/", false},
		{"https://example.com/search?q=:term", "https://example.com/search?q=cats", true},
		{"https://example.com/search?q=:term", "https://example.com/search?x=cats", false},
		{"https://example.com/search?q=:term", "https://example.com/search", false},
		{"https://example.com/page#:section", "https://example.com/page#intro", true},
		{"https://example.com/page#:section", "https://example.com/page", false},
		{"https://example.com/:_$x1", "https://example.com/v", true},
	};
	CHECK_MATCHES(cases);
}

static void test_wildcards(void)
{
	static const struct match_case cases[] = {
		{"https://example.com/books/*", "https://example.com/books/a/b", true},
		{"https://example.com/books/*", "https://example.com/books/", true},
		{"https://example.com/books/*", "https://example.com/books", false},
		{"https://*.example.com/*", "https://api.example.com/x", true},
		{"https://*.example.com/*", "https://a.b.example.com/", true},
		{"https://*.example.com/*", "https://example.com/x", false},
		{"*://*/*", "https://a/b", true},
		{"*://*/*", "foo://a/b", true},
		{"*://*/*", "urn:x", false},
		{"https://example.com/*.png", "https://example.com/a/b.png", true},
		{"https://example.com/*.png", "https://example.com/a/b.jpg", false},
		{"https://example.com/*/x/*", "https://example.com/a/x/b", true},
		/* ":uuid" is a named group: the scheme's colon must be escaped
		 * or followed by something that cannot start a name */
		{"urn\\:uuid\\:*", "urn:uuid:bb3de268-05b0-4c65-b44e-8f9acefc29d6", true},
		{"urn\\:uuid\\:*", "urn:isbn:1", false},
		{"urn:uuid:*", "urn:uuid:bb3de268", false},
		{"urn\\:*", "urn:a", true},
		{"urn:*", "urn:a:b", true},
		{"urn:*", "urx:a", false},
		{"https://example.com/", "https://example.com/?x", true},
		{"https://example.com", "https://example.com/anything/at/all", true},
		{"https://example.com/x?*", "https://example.com/x?a=b", true},
		{"https://example.com/x?", "https://example.com/x?a=b", false},
		{"https://example.com/x?", "https://example.com/x", true},
		{"https://example.com/x#", "https://example.com/x#y", false},
	};
	CHECK_MATCHES(cases);
}

static void test_regexp_groups(void)
{
	static const struct match_case cases[] = {
		{"https://example.com/books/:id(\\d+)", "https://example.com/books/42", true},
		{"https://example.com/books/:id(\\d+)", "https://example.com/books/4x", false},
		{"https://example.com/books/:id(\\d+)", "https://example.com/books/", false},
		{"https://example.com/books/(\\d+)", "https://example.com/books/7", true},
		{"https://example.com/:lang(en|fr)/docs", "https://example.com/fr/docs", true},
		{"https://example.com/:lang(en|fr)/docs", "https://example.com/de/docs", false},
		{"https://example.com/(.*)", "https://example.com/a/b", true},
		{"https://example.com/:x([a-z]+)", "https://example.com/abc", true},
		{"https://example.com/:x([a-z]+)", "https://example.com/ABC", false},
		{"https://example.com/:x([^])", "https://example.com/a", true},
		{"https://example.com/:x((?:ab)+)", "https://example.com/abab", true},
		{"https://example.com/:x(a(?=b).)", "https://example.com/ab", true},
		{"https://example.com/:x(\\w\\.\\w)", "https://example.com/a.b", true},
		{"https://example.com/:x(\\u0061)", "https://example.com/a", true},
		{"https://example.com/:x(\\u{62})", "https://example.com/b", true},
		{"https://example.com/:x((?<n>a)\\k<n>)", "https://example.com/aa", true},
		{"https://example.com/:x(\\d+)/:y([a-f0-9]{4})", "https://example.com/1/beef", true},
		{"https://example.com/:x(\\d+)/:y([a-f0-9]{4})", "https://example.com/1/bee", false},
		{"http{s}?://example.com/", "http://example.com/", true},
		{"http{s}?://example.com/", "https://example.com/", true},
		{"http{s}?://example.com/", "ftp://example.com/", false},
		{"(https|wss)://example.com/", "wss://example.com/", true},
		{"(https|wss)://example.com/", "ws://example.com/", false},
		{"https://example.com:(8080|9090)/", "https://example.com:9090/", true},
		{"https://example.com:(8080|9090)/", "https://example.com/", false},
	};
	CHECK_MATCHES(cases);
}

static void test_modifiers(void)
{
	static const struct match_case cases[] = {
		{"https://example.com/:a/:b?", "https://example.com/x", true},
		{"https://example.com/:a/:b?", "https://example.com/x/y", true},
		{"https://example.com/:a/:b?", "https://example.com/x/y/z", false},
		{"https://example.com/files/:path+", "https://example.com/files/a/b/c", true},
		{"https://example.com/files/:path+", "https://example.com/files", false},
		{"https://example.com/files/:path+", "https://example.com/files/", false},
		{"https://example.com/files/:path*", "https://example.com/files", true},
		{"https://example.com/files/:path*", "https://example.com/files/a/b", true},
		{"https://example.com/files/:path*", "https://example.com/filesx", false},
		{"https://example.com/x/(\\d+)?", "https://example.com/x", true},
		{"https://example.com/x/(\\d+)?", "https://example.com/x/5", true},
		{"https://example.com/x/(\\d+)+", "https://example.com/x/5/6", true},
		{"https://example.com/x/(\\d+)+", "https://example.com/x/5/a", false},
		{"https://example.com/x/**", "https://example.com/x/", true},
		{"https://example.com/x:y?", "https://example.com/x", true},
		{"https://example.com/x:y?", "https://example.com/xz", true},
	};
	CHECK_MATCHES(cases);
}

static void test_braces(void)
{
	static const struct match_case cases[] = {
		{"https://example.com/books{/old}?", "https://example.com/books", true},
		{"https://example.com/books{/old}?", "https://example.com/books/old", true},
		{"https://example.com/books{/old}?", "https://example.com/books/new", false},
		{"https://example.com/book{s}?", "https://example.com/book", true},
		{"https://example.com/book{s}?", "https://example.com/books", true},
		{"https://example.com/book{s}?", "https://example.com/bookss", false},
		{"https://example.com/{a}b", "https://example.com/ab", true},
		{"https://example.com/x{/:seg}+", "https://example.com/x/a/b", true},
		{"https://example.com/x{/:seg}+", "https://example.com/x", false},
		{"https://example.com/x{-:n}*", "https://example.com/x", true},
		{"https://example.com/x{-:n}*", "https://example.com/x-1-2-3", true},
		{"https://example.com/x{-:n}*", "https://example.com/x-", false},
		{"https://example.com/{:a.}?:b", "https://example.com/a.b", true},
		{"https://example.com/{:a.}?:b", "https://example.com/b", true},
		{"https://example.com/{(\\d+)-}+end", "https://example.com/1-2-end", true},
		{"https://{www.}?example.com/", "https://www.example.com/", true},
		{"https://{www.}?example.com/", "https://example.com/", true},
		{"https://{www.}?example.com/", "https://api.example.com/", false},
	};
	CHECK_MATCHES(cases);
}

static void test_escapes(void)
{
	static const struct match_case cases[] = {
		{"https://example.com/a\\:b", "https://example.com/a:b", true},
		{"https://example.com/a\\:b", "https://example.com/a", false},
		{"https://example.com/\\*", "https://example.com/*", true},
		{"https://example.com/\\*", "https://example.com/x", false},
		{"https://example.com/\\(x\\)", "https://example.com/(x)", true},
		{"https://example.com/a\\+", "https://example.com/a+", true},
		{"https://example.com/a\\+", "https://example.com/aa", false},
		{"https://example.com/\\{x\\}", "https://example.com/%7Bx%7D", true},
		{"https://example.com/a.b", "https://example.com/a.b", true},
		{"https://example.com/a.b", "https://example.com/axb", false},
		{"https://example.com/a|b", "https://example.com/a|b", true},
		{"https://example.com/[x]", "https://example.com/[x]", true},
		{"https://example.com/$^", "https://example.com/$%5E", true},
	};
	CHECK_MATCHES(cases);
}

static void test_relative_patterns(void)
{
	static const struct match_case cases[] = {
		{"/books/*", "https://hub.example/books/a/b", true},
		{"/books/*", "/books/a", true},
		{"/books/*", "https://example.com/books/a", false},
		{"/books/*", "http://hub.example/books/a", false},
		{"/books/*", "https://hub.example:8443/books/a", false},
		{"/books/*", "/books", false},
		{"/books/:id", "/books/1?x#y", true},
		{"books/:id", "https://hub.example/.well-known/books/1", true},
		{"books/:id", "/books/1", false},
		{"{/:lang}?/docs", "/docs", true},
		{"{/:lang}?/docs", "/en/docs", true},
		{"{/:lang}?/docs", "/en/fr/docs", false},
		{"{/:lang}?/docs", "https://example.com/docs", false},
		{"/.well-known/mercure/subscriptions/exact/:topic/:subscriber",
		 "/.well-known/mercure/subscriptions/exact/https%3A%2F%2Fexample.com%2Ffoo/urn%3Auuid%3Abb3de268",
		 true},
		{"/.well-known/mercure/subscriptions/exact/:topic/:subscriber",
		 "https://hub.example/.well-known/mercure/subscriptions/exact/a/b/c", false},
		{"*", "https://hub.example/.well-known/x", true},
		{"*", "https://example.com/x", false},
		{"?q=:v", "https://hub.example/.well-known/mercure?q=1", true},
		{"?q=:v", "https://hub.example/other?q=1", false},
		{"#:frag", "https://hub.example/.well-known/mercure#x", true},
		{"#:frag", "https://hub.example/.well-known/mercure?q#x", false},
		/* no scheme: all of it is a pathname */
		{"//other.example/*", "https://other.example/a", false},
		{"//other.example/*", "https://hub.example//other.example/a", true},
		{"https://hub.example/books/:id", "/books/1", true},
		{"https://hub.example/books/:id", "books/1", false},
	};
	CHECK_MATCHES(cases);
}

static void test_canonicalization(void)
{
	static const struct match_case cases[] = {
		{"https://EXAMPLE.com/x", "https://example.com/x", true},
		{"https://example.com/x", "https://ExAmPlE.CoM/x", true},
		{"HTTPS://example.com/x", "https://example.com/x", true},
		{"https://ex%41mple.com/x", "https://example.com/x", true},
		{"https://example.com:443/x", "https://example.com/x", true},
		/* the standard compares the written port with the default */
		{"https://example.com:0443/x", "https://example.com/x", false},
		{"http://example.com:80/x", "http://example.com/x", true},
		{"http://example.com/x", "http://example.com:80/x", true},
		{"https://example.com:8080/x", "https://example.com:8080/x", true},
		{"https://example.com:8080/x", "https://example.com/x", false},
		{"https://example.com:80/x", "https://example.com:80/x", true},
		{"https://example.com:80/x", "https://example.com/x", false},
		{"https://127.0.0.1/x", "https://127.1/x", true},
		{"https://[\\:\\:1]/x", "https://[0:0:0:0:0:0:0:1]/x", true},
		{"https://[\\:\\:1]:8080/x", "https://[::1]:8080/x", true},
		{"https://[\\:\\:AB]/x", "https://[::ab]/x", true},
		{"https://example.com/a/../b", "https://example.com/b", true},
		{"https://example.com/a/./b", "https://example.com/a/b", true},
		{"https://example.com/x", "https://example.com/y/../x", true},
		{"https://example.com/x", "https://example.com/y/%2e%2e/x", true},
		{"https://example.com/a b", "https://example.com/a%20b", true},
		{"https://example.com/a b", "https://example.com/a b", true},
		{"https://example.com/caf\xc3\xa9", "https://example.com/caf%C3%A9", true},
		{"https://example.com/caf\xc3\xa9", "https://example.com/caf\xc3\xa9", true},
		{"https://example.com/a%2Fb", "https://example.com/a/b", false},
		{"https://example.com/x?a b", "https://example.com/x?a%20b", true},
		{"https://example.com/x?it's", "https://example.com/x?it%27s", true},
		{"https://example.com/x#a b", "https://example.com/x#a%20b", true},
		{"https://example.com/x", " https://example.com/x\n", true},
		{"https://example.com/books/:id", "https://exa\xc3\xa4mple.com/books/1", false},
		{"https://example.com/books/:id", "https://[bad/books/1", false},
		{"https://example.com/books/:id", "not a url", false},
		{"https://example.com/books/:id", "\xff\xfe", false},
		/* ":p" is a group, so "u:p@" is a username pattern */
		{"https://u:p@example.com/x", "https://u:p@example.com/x", false},
		{"https://u:p@example.com/x", "https://uvw@example.com/x", true},
		{"https://u\\:p@example.com/x", "https://u:p@example.com/x", true},
		{"https://u\\:p@example.com/x", "https://u:q@example.com/x", false},
		{"https://:user@example.com/x", "https://bob@example.com/x", true},
		{"https://example.com/x", "https://bob@example.com/x", true},
		{"foo://Host/x", "foo://Host/x", true},
	};
	CHECK_MATCHES(cases);
}

struct bad_case {
	const char *pattern;
	const char *why; /* a word the message must hold */
};

static void test_refused_patterns(void)
{
	static const struct bad_case cases[] = {
		{"https://example.com/:id(", "regexp"},
		{"https://example.com/:id(\\d+", "unbalanced"},
		{"https://example.com/{abc", "'}'"},
		{"https://example.com/abc}", "unexpected"},
		{"https://example.com/{a{b}}", "'}'"},
		{"https://example.com/:id(a(b)c)", "non-capturing"},
		{"https://example.com/(?=x)", "regexp"},
		{"https://example.com/{?}x", "'}'"},
		{"https://example.com/:id/:id", "duplicate"},
		{"https://example.com/:0", "name"},
		{"https://example.com/:", "name"},
		{"https://example.com/:\xc3\xa9", "name"},
		{"https://example.com/()", "empty"},
		{"https://example.com/([)", "regular expression"},
		{"https://example.com/(a{2,1})", "regular expression"},
		{"https://example.com/(\\K)", "escape"},
		{"https://example.com/(\\Qa\\E)", "escape"},
		{"https://example.com/(*FAIL)", "'*'"},
		{"https://example.com/(a(?R))", "group syntax"},
		{"https://example.com/(a(?i)b)", "group syntax"},
		{"https://example.com/(a(?#x)b)", "group syntax"},
		{"https://example.com/(\xc3\xa9)", "ASCII"},
		{"https://example.com/\\", "backslash"},
		{"https://exa mple.com/", "hostname"},
		{"https://exa<mple.com/", "hostname"},
		{"https://ex\xc3\xa4mple.com/", "IDNA"},
		{"https://example.com:8a/", "port"},
		{"https://example.com:99999/", "port"},
		{"ht tp://x/", "protocol"},
		{"1http://x/", "protocol"},
		{"https://[\\:\\:g]/", "IPv6"},
		{"https://example.com/\xff", "UTF-8"},
		{"https://example.com/:a{", "'}'"},
		{"https://example.com/{:a:b}", "'}'"},
		{"https://example.com/{*:a}", "'}'"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char err[200] = "";
		const char *s = cases[i].pattern;
		bool valid = urlpattern_valid(s, strlen(s), &hub, err, sizeof err);
		CHECK(!valid);
		CHECK(strstr(err, cases[i].why) != NULL);
		if (valid || !strstr(err, cases[i].why))
			fprintf(stderr, "  \"%s\": valid=%d err=\"%s\" (want \"%s\")\n", s, valid, err,
				cases[i].why);
	}
}

static void test_limits(void)
{
	char err[200] = "";
	CHECK(!urlpattern_valid("/books/:id", 10, NULL, err, sizeof err));
	CHECK(strstr(err, "base") != NULL);
	CHECK(urlpattern_valid("https://example.com/:id", 23, NULL, err, sizeof err));

	struct buf b = {0};
	buf_adds(&b, "https://example.com/");
	while (b.len <= URLPATTERN_MAX_LEN)
		buf_adds(&b, "aaaaaaaa");
	CHECK(!urlpattern_valid(b.p, b.len, &hub, err, sizeof err));
	CHECK(strstr(err, "too long") != NULL);
	b.len = 0;
	buf_adds(&b, "https://example.com");
	for (int i = 0; i < URLPATTERN_MAX_GROUPS + 1; i++)
		buf_printf(&b, "/:g%d", i);
	CHECK(!urlpattern_valid(b.p, b.len, &hub, err, sizeof err));
	CHECK(strstr(err, "groups") != NULL);
	b.len = 0;
	buf_adds(&b, "https://example.com/");
	for (int i = 0; i < URLPATTERN_MAX_PARTS + 1; i++)
		buf_adds(&b, "{a}?");
	CHECK(!urlpattern_valid(b.p, b.len, &hub, err, sizeof err));
	CHECK(strstr(err, "too many parts") != NULL);
	buf_free(&b);
	/* NUL bytes: in a topic's path they are encoded, in a host refused */
	struct urlpattern *p = urlpattern_compile("https://example.com/*", 21, &hub, err, sizeof err);
	CHECK(p != NULL);
	CHECK(urlpattern_match_string(p, "https://example.com/a\0b", 23, &hub, NULL));
	CHECK(!urlpattern_match_string(p, "https://exa\0mple.com/", 21, &hub, NULL));
	urlpattern_free(p);
}

static double now_sec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Catastrophic backtracking inside a component is cut off by the limit:
 * no match, counted, and quick. */
static void test_pathological_regexp(void)
{
	static const char *const patterns[] = {
		"https://example.com/:x((?:a+)+b)",
		"https://example.com/:x((?:a|a)*b)",
		"https://example.com/:x((?:.*a){12}b)",
	};
	struct buf topic = {0};
	buf_adds(&topic, "https://example.com/");
	for (int i = 0; i < 40; i++)
		buf_addc(&topic, 'a');
	buf_adds(&topic, "!b");
	struct urlpattern_scratch *sc = urlpattern_scratch_new();
	for (size_t i = 0; i < sizeof patterns / sizeof patterns[0]; i++) {
		char err[200] = "";
		struct urlpattern *p = urlpattern_compile(patterns[i], strlen(patterns[i]), &hub, err, sizeof err);
		CHECK(p != NULL);
		if (!p) {
			fprintf(stderr, "  %s: %s\n", patterns[i], err);
			continue;
		}
		uint64_t before = urlpattern_scratch_aborted(sc);
		double t0 = now_sec();
		CHECK(!urlpattern_match_string(p, topic.p, topic.len, &hub, sc));
		double ms = (now_sec() - t0) * 1000;
		CHECK(urlpattern_scratch_aborted(sc) == before + 1);
		CHECK(ms < 250);
		if (ms >= 250 || urlpattern_scratch_aborted(sc) != before + 1)
			fprintf(stderr, "  %s: %.1f ms, aborted %llu\n", patterns[i], ms,
				(unsigned long long)urlpattern_scratch_aborted(sc));
		/* the same pattern still matches what it should */
		CHECK(urlpattern_match_string(p, "https://example.com/aaaaaaaaaaaab", 33, &hub, sc));
		urlpattern_free(p);
	}
	urlpattern_scratch_free(sc);
	buf_free(&topic);
}

/* One compiled pattern, two threads matching with it at once, each with
 * its own scratch. */
struct thread_arg {
	const struct urlpattern *p;
	int matched;
};

static void *match_loop(void *arg)
{
	struct thread_arg *a = arg;
	struct urlpattern_scratch *sc = urlpattern_scratch_new();
	for (int i = 0; i < 20000; i++) {
		char topic[64];
		int n = snprintf(topic, sizeof topic, "https://example.com/books/%d", i);
		a->matched += urlpattern_match_string(a->p, topic, (size_t)n, &hub, sc);
		a->matched += urlpattern_match_string(a->p, "https://example.com/books/x", 27, &hub, sc);
	}
	urlpattern_scratch_free(sc);
	return NULL;
}

static void test_two_threads(void)
{
	char err[200];
	struct urlpattern *p = urlpattern_compile("https://example.com/books/:id(\\d+)", 34, &hub, err, sizeof err);
	CHECK(p != NULL);
	if (!p)
		return;
	struct thread_arg a = {p, 0}, b = {p, 0};
	pthread_t ta, tb;
	CHECK(pthread_create(&ta, NULL, match_loop, &a) == 0);
	CHECK(pthread_create(&tb, NULL, match_loop, &b) == 0);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	CHECK(a.matched == 20000 && b.matched == 20000);
	urlpattern_free(p);
}

int main(void)
{
	if (url_parse(&hub, HUB, strlen(HUB), NULL, NULL, 0) < 0) {
		fprintf(stderr, "cannot parse %s\n", HUB);
		return 1;
	}
	static const struct test_case_ cases[] = {
		TEST(test_url_absolute),
		TEST(test_url_relative),
		TEST(test_url_paths),
		TEST(test_url_hosts),
		TEST(test_url_reserved_path),
		TEST(test_named_groups),
		TEST(test_wildcards),
		TEST(test_regexp_groups),
		TEST(test_modifiers),
		TEST(test_braces),
		TEST(test_escapes),
		TEST(test_relative_patterns),
		TEST(test_canonicalization),
		TEST(test_refused_patterns),
		TEST(test_limits),
		TEST(test_pathological_regexp),
		TEST(test_two_threads),
	};
	int rc = test_run_cases(cases, sizeof cases / sizeof cases[0]);
	url_clear(&hub);
	return rc;
}
