/* urlpattern.c -- URL Pattern matchers: components compiled from a pattern
 * string and a base URL, matched against parsed topics (see urlpattern.h). */
#include "config.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "urlpattern.h"
#include "urlpattern_parts.h"
#include "urlpattern_string.h"
#include "utf8.h"

enum kind {
	K_ANY,     /* a full wildcard: matches without a look */
	K_LITERAL, /* one fixed string: memcmp */
	K_REGEX,
};

struct component {
	enum kind kind;
	char *text; /* K_LITERAL */
	size_t len;
	pcre2_code *re; /* K_REGEX */
	char *lead;     /* K_REGEX: text every match starts with, or NULL */
	size_t lead_len;
};

struct urlpattern {
	struct component c[URL_NCOMPONENTS];
};

struct urlpattern_scratch {
	pcre2_match_data *md;
	pcre2_match_context *mc;
	pcre2_jit_stack *js;
	uint64_t aborted;
};

static const char *const component_names[URL_NCOMPONENTS] = {
	"protocol", "username", "password", "hostname", "port", "pathname", "search", "hash",
};

static int fail(char *err, size_t errlen, const char *why)
{
	if (errlen)
		snprintf(err, errlen, "%s", why);
	return -1;
}

static void *must(void *p)
{
	if (!p) {
		fprintf(stderr, "urlpattern: out of memory\n");
		abort();
	}
	return p;
}

/* ---- scratch ---------------------------------------------------------- */

struct urlpattern_scratch *urlpattern_scratch_new(void)
{
	struct urlpattern_scratch *s = xcalloc(1, sizeof *s);
	s->md = must(pcre2_match_data_create(1, NULL));
	s->mc = must(pcre2_match_context_create(NULL));
	s->js = must(pcre2_jit_stack_create(32 * 1024, URLPATTERN_JIT_STACK, NULL));
	pcre2_set_match_limit(s->mc, URLPATTERN_MATCH_LIMIT);
	pcre2_set_depth_limit(s->mc, URLPATTERN_DEPTH_LIMIT);
	pcre2_set_heap_limit(s->mc, URLPATTERN_HEAP_LIMIT_KIB);
	pcre2_jit_stack_assign(s->mc, NULL, s->js);
	return s;
}

void urlpattern_scratch_free(struct urlpattern_scratch *s)
{
	if (!s)
		return;
	pcre2_match_data_free(s->md);
	pcre2_match_context_free(s->mc);
	pcre2_jit_stack_free(s->js);
	free(s);
}

uint64_t urlpattern_scratch_aborted(const struct urlpattern_scratch *s)
{
	return s->aborted;
}

/* ---- component matching ----------------------------------------------- */

/* Whether s[0..n) starts with the text every match of c starts with. */
static bool lead_matches(const struct component *c, const char *s, size_t n)
{
	return n >= c->lead_len && (c->lead_len == 0 || memcmp(s, c->lead, c->lead_len) == 0);
}

static bool component_match(const struct component *c, const char *s, size_t n,
			    struct urlpattern_scratch *sc)
{
	if (c->kind == K_ANY)
		return true;
	if (c->kind == K_LITERAL)
		return n == c->len && memcmp(s, c->text, n) == 0;
	if (!lead_matches(c, s, n))
		return false;
	int rc = pcre2_match(c->re, (PCRE2_SPTR)s, n, 0, 0, sc->md, sc->mc);
	if (rc >= 0)
		return true;
	if (rc != PCRE2_ERROR_NOMATCH)
		sc->aborted++;
	return false;
}

static void component_free(struct component *c)
{
	free(c->text);
	free(c->lead);
	pcre2_code_free(c->re);
	memset(c, 0, sizeof *c);
}

/* ---- encoding callbacks ----------------------------------------------- */

struct compile_ctx {
	bool special;
	int groups;
};

static int enc_protocol(const char *s, size_t n, struct buf *out, void *ctx, char *err, size_t errlen)
{
	return url_canon_protocol(s, n, out, err, errlen);
}

static int enc_userinfo(const char *s, size_t n, struct buf *out, void *ctx, char *err, size_t errlen)
{
	return url_canon_userinfo(s, n, out, err, errlen);
}

static int enc_hostname(const char *s, size_t n, struct buf *out, void *ctx, char *err, size_t errlen)
{
	const struct compile_ctx *cc = ctx;
	return url_canon_hostname(s, n, cc->special, out, err, errlen);
}

/* An IPv6 hostname pattern's text: hex digits, '[', ']' and ':' only,
 * lowercased. */
static int enc_ipv6(const char *s, size_t n, struct buf *out, void *ctx, char *err, size_t errlen)
{
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!strchr("0123456789abcdefABCDEF[]:", c) || !c)
			return fail(err, errlen, "invalid IPv6 hostname");
		buf_addc(out, (char)(c >= 'A' && c <= 'F' ? c + 32 : c));
	}
	return 0;
}

static int enc_port(const char *s, size_t n, struct buf *out, void *ctx, char *err, size_t errlen)
{
	return url_canon_port(s, n, out, err, errlen);
}

static int enc_pathname(const char *s, size_t n, struct buf *out, void *ctx, char *err, size_t errlen)
{
	return url_canon_pathname(s, n, true, out, err, errlen);
}

static int enc_opaque(const char *s, size_t n, struct buf *out, void *ctx, char *err, size_t errlen)
{
	return url_canon_opaque_path(s, n, out, err, errlen);
}

static int enc_search(const char *s, size_t n, struct buf *out, void *ctx, char *err, size_t errlen)
{
	const struct compile_ctx *cc = ctx;
	return url_canon_search(s, n, cc->special, out, err, errlen);
}

static int enc_hash(const char *s, size_t n, struct buf *out, void *ctx, char *err, size_t errlen)
{
	return url_canon_hash(s, n, out, err, errlen);
}

/* ---- component compilation -------------------------------------------- */

static bool is_ipv6_pattern(const char *s)
{
	return s[0] == '[' || strncmp(s, "{[", 2) == 0 || strncmp(s, "\\[", 2) == 0;
}

/* The encoding callback and options of component k. */
static urlpattern_encode_fn encoder_of(enum url_component k, const char *s,
				       const struct compile_ctx *cc, struct urlpattern_options *o)
{
	static const urlpattern_encode_fn plain[URL_NCOMPONENTS] = {
		enc_protocol, enc_userinfo, enc_userinfo, enc_hostname,
		enc_port,     enc_pathname, enc_search,   enc_hash,
	};
	*o = (struct urlpattern_options){0};
	if (k == URL_HOSTNAME) {
		o->delimiter = '.';
		return is_ipv6_pattern(s) ? enc_ipv6 : enc_hostname;
	}
	if (k == URL_PATHNAME && cc->special) {
		o->delimiter = o->prefix = '/';
		return enc_pathname;
	}
	return k == URL_PATHNAME ? enc_opaque : plain[k];
}

static int compile_regex(struct component *c, const struct buf *re, enum url_component k, char *err,
			 size_t errlen)
{
	int code;
	PCRE2_SIZE off;
	pcre2_compile_context *cc = must(pcre2_compile_context_create(NULL));
	pcre2_set_compile_extra_options(cc, PCRE2_EXTRA_ALT_BSUX);
	pcre2_set_parens_nest_limit(cc, 32);
	uint32_t opts = PCRE2_UTF | PCRE2_DOLLAR_ENDONLY | PCRE2_ALLOW_EMPTY_CLASS | PCRE2_ALT_BSUX |
			PCRE2_NEVER_BACKSLASH_C | PCRE2_MATCH_UNSET_BACKREF;
	c->re = pcre2_compile((PCRE2_SPTR)re->p, re->len, opts, &code, &off, cc);
	pcre2_compile_context_free(cc);
	if (!c->re) {
		PCRE2_UCHAR msg[120];
		pcre2_get_error_message(code, msg, sizeof msg);
		if (errlen)
			snprintf(err, errlen, "invalid regular expression in the %s: %s",
				 component_names[k], (const char *)msg);
		return -1;
	}
	c->kind = K_REGEX;
	pcre2_jit_compile(c->re, PCRE2_JIT_COMPLETE); /* the interpreter if it fails */
	return 0;
}

/* K_ANY, K_LITERAL, or K_REGEX for l. */
static enum kind kind_of(const struct urlpattern_part_list *l)
{
	if (l->n == 0 || (l->n == 1 && l->p[0].type == UPP_FIXED && l->p[0].modifier == UPM_NONE))
		return K_LITERAL;
	if (l->n == 1 && l->p[0].type == UPP_FULL && !l->p[0].prefix[0] && !l->p[0].suffix[0])
		return K_ANY;
	return K_REGEX;
}

/* The fixed text every match of l starts with: the leading fixed parts,
 * then the prefix of a first group that must occur once or more. */
static void leading_text(const struct urlpattern_part_list *l, struct component *c)
{
	struct buf b = {0};
	size_t i = 0;
	for (; i < l->n && l->p[i].type == UPP_FIXED && l->p[i].modifier == UPM_NONE; i++)
		buf_adds(&b, l->p[i].value);
	if (i < l->n && l->p[i].type != UPP_FIXED &&
	    (l->p[i].modifier == UPM_NONE || l->p[i].modifier == UPM_ONE_OR_MORE))
		buf_adds(&b, l->p[i].prefix);
	c->lead_len = b.len;
	c->lead = b.len ? buf_steal(&b, NULL) : NULL;
	buf_free(&b);
}

static int count_groups(const struct urlpattern_part_list *l, struct compile_ctx *cc, char *err,
			size_t errlen)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->p[i].type != UPP_FIXED)
			cc->groups++;
	if (cc->groups > URLPATTERN_MAX_GROUPS)
		return fail(err, errlen, "too many groups in the pattern");
	return 0;
}

static int compile_component(struct component *c, const char *s, enum url_component k,
			     struct compile_ctx *cc, char *err, size_t errlen)
{
	struct urlpattern_options o;
	urlpattern_encode_fn enc = encoder_of(k, s, cc, &o);
	struct urlpattern_part_list l;
	char why[160] = "";
	if (urlpattern_parts_parse(s, strlen(s), &o, enc, cc, &l, why, sizeof why) < 0) {
		if (errlen)
			snprintf(err, errlen, "invalid %s \"%.64s\": %s", component_names[k], s, why);
		return -1;
	}
	int rc = count_groups(&l, cc, err, errlen);
	c->kind = kind_of(&l);
	if (rc == 0 && c->kind == K_LITERAL) {
		c->text = xstrdup(l.n ? l.p[0].value : "");
		c->len = strlen(c->text);
	} else if (rc == 0 && c->kind == K_REGEX) {
		struct buf re = {0};
		urlpattern_parts_regexp(&l, &o, &re);
		leading_text(&l, c);
		rc = compile_regex(c, &re, k, err, errlen);
		buf_free(&re);
	}
	urlpattern_parts_free(&l);
	return rc;
}

/* Whether the compiled protocol component matches a special scheme. */
static bool matches_special(const struct component *c)
{
	static const char *const schemes[] = {"ftp", "file", "http", "https", "ws", "wss"};
	struct urlpattern_scratch *sc = c->kind == K_REGEX ? urlpattern_scratch_new() : NULL;
	bool yes = false;
	for (size_t i = 0; i < sizeof schemes / sizeof schemes[0] && !yes; i++)
		yes = component_match(c, schemes[i], strlen(schemes[i]), sc);
	urlpattern_scratch_free(sc);
	return yes;
}

/* The constructor string parser's question about its protocol. */
static int special_cb(const char *s, size_t n, void *ctx, char *err, size_t errlen)
{
	struct compile_ctx cc = {0};
	struct component c = {0};
	char *text = xmemdup(s, n);
	int rc = compile_component(&c, text, URL_PROTOCOL, &cc, err, errlen);
	if (rc == 0)
		rc = matches_special(&c);
	component_free(&c);
	free(text);
	return rc;
}

/* ---- the pattern's components from the string and the base ------------ */

struct init_out {
	struct buf c[URL_NCOMPONENTS];
	bool set[URL_NCOMPONENTS];
};

static void set_escaped(struct init_out *o, enum url_component k, const struct url *base)
{
	o->c[k].len = 0;
	urlpattern_parts_escape(&o->c[k], base->c[k], base->len[k]);
	o->set[k] = true;
}

/* The standard's "is an absolute pathname" for a pattern. */
static bool absolute_pathname(const char *s)
{
	return s[0] == '/' || strncmp(s, "\\/", 2) == 0 || strncmp(s, "{/", 2) == 0;
}

/* "process a URLPatternInit" for a pattern: what the base lends, the
 * string's own components, a relative pathname resolved. */
static void process_init(const struct urlpattern_init *in, const struct url *base,
			 struct init_out *o)
{
	if (base) {
		/* component k comes from the base when the string gives none
		 * of protocol, hostname, port, ... up to k */
		static const enum url_component order[] = {URL_PROTOCOL, URL_HOSTNAME, URL_PORT,
							   URL_PATHNAME, URL_SEARCH,   URL_HASH};
		bool given = false;
		for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
			given = given || in->c[order[i]];
			if (!given)
				set_escaped(o, order[i], base);
		}
	}
	for (int k = 0; k < URL_NCOMPONENTS; k++) {
		if (!in->c[k])
			continue;
		o->c[k].len = 0;
		buf_adds(&o->c[k], in->c[k]);
		o->set[k] = true;
	}
	const char *path = in->c[URL_PATHNAME];
	if (path && base && !base->opaque_path && !absolute_pathname(path)) {
		struct buf b = {0};
		urlpattern_parts_escape(&b, base->c[URL_PATHNAME], base->len[URL_PATHNAME]);
		char *slash = b.p ? strrchr(b.p, '/') : NULL;
		if (slash) {
			b.len = (size_t)(slash - b.p) + 1;
			buf_adds(&b, path);
			buf_free(&o->c[URL_PATHNAME]);
			o->c[URL_PATHNAME] = b;
		} else {
			buf_free(&b);
		}
	}
	for (int k = 0; k < URL_NCOMPONENTS; k++)
		if (!o->set[k])
			buf_adds(&o->c[k], "*");
		else if (!o->c[k].p)
			buf_adds(&o->c[k], "");
}

/* A special scheme's default port, written out, is "". */
static void drop_default_port(struct init_out *o)
{
	const struct buf *proto = &o->c[URL_PROTOCOL], *port = &o->c[URL_PORT];
	int def = url_default_port(proto->p, proto->len);
	char digits[8];
	snprintf(digits, sizeof digits, "%d", def);
	if (def >= 0 && strcmp(port->p, digits) == 0)
		o->c[URL_PORT].len = 0, o->c[URL_PORT].p[0] = '\0';
}

static int compile_all(struct urlpattern *p, struct init_out *o, char *err, size_t errlen)
{
	struct compile_ctx cc = {0};
	if (compile_component(&p->c[URL_PROTOCOL], o->c[URL_PROTOCOL].p, URL_PROTOCOL, &cc, err,
			      errlen) < 0)
		return -1;
	cc.special = matches_special(&p->c[URL_PROTOCOL]);
	for (int k = URL_USERNAME; k < URL_NCOMPONENTS; k++)
		if (compile_component(&p->c[k], o->c[k].p, (enum url_component)k, &cc, err, errlen) < 0)
			return -1;
	return 0;
}

struct urlpattern *urlpattern_compile(const char *s, size_t n, const struct url *base, char *err,
				      size_t errlen)
{
	if (errlen)
		err[0] = '\0';
	if (n > URLPATTERN_MAX_LEN) {
		fail(err, errlen, "URL pattern too long");
		return NULL;
	}
	if (!utf8_valid(s, n)) {
		fail(err, errlen, "URL pattern is not valid UTF-8");
		return NULL;
	}
	struct urlpattern_init init;
	if (urlpattern_string_parse(s, n, special_cb, NULL, &init, err, errlen) < 0)
		return NULL;
	if (!init.c[URL_PROTOCOL] && !base) {
		urlpattern_init_clear(&init);
		fail(err, errlen, "relative URL pattern without a base URL");
		return NULL;
	}
	/* only a relative pattern takes from the base (Mercure's rule): the
	 * standard would also prefix an absolute non-special pattern's
	 * relative pathname ("urn:*") with the base's directory */
	struct init_out o = {0};
	process_init(&init, init.c[URL_PROTOCOL] ? NULL : base, &o);
	urlpattern_init_clear(&init);
	drop_default_port(&o);
	struct urlpattern *p = xcalloc(1, sizeof *p);
	int rc = compile_all(p, &o, err, errlen);
	for (int k = 0; k < URL_NCOMPONENTS; k++)
		buf_free(&o.c[k]);
	if (rc < 0) {
		urlpattern_free(p);
		return NULL;
	}
	return p;
}

bool urlpattern_valid(const char *s, size_t n, const struct url *base, char *err, size_t errlen)
{
	struct urlpattern *p = urlpattern_compile(s, n, base, err, errlen);
	urlpattern_free(p);
	return p != NULL;
}

void urlpattern_free(struct urlpattern *p)
{
	if (!p)
		return;
	for (int k = 0; k < URL_NCOMPONENTS; k++)
		component_free(&p->c[k]);
	free(p);
}

/* ---- matching --------------------------------------------------------- */

/* Cheapest first: fixed strings, then the fixed text regexes start with,
 * then the regexes, the pathname (the most selective) first. */
static bool match_with(const struct urlpattern *p, const struct url *t,
		       struct urlpattern_scratch *sc)
{
	static const enum url_component order[URL_NCOMPONENTS] = {
		URL_PATHNAME, URL_HOSTNAME, URL_SEARCH,   URL_HASH,
		URL_PROTOCOL, URL_PORT,     URL_USERNAME, URL_PASSWORD,
	};
	for (int k = 0; k < URL_NCOMPONENTS; k++)
		if (p->c[k].kind != K_REGEX && !component_match(&p->c[k], t->c[k], t->len[k], sc))
			return false;
	for (int k = 0; k < URL_NCOMPONENTS; k++)
		if (p->c[k].kind == K_REGEX && !lead_matches(&p->c[k], t->c[k], t->len[k]))
			return false;
	for (int i = 0; i < URL_NCOMPONENTS; i++) {
		enum url_component k = order[i];
		if (p->c[k].kind == K_REGEX && !component_match(&p->c[k], t->c[k], t->len[k], sc))
			return false;
	}
	return true;
}

bool urlpattern_match(const struct urlpattern *p, const struct url *topic,
		      struct urlpattern_scratch *scratch)
{
	if (scratch)
		return match_with(p, topic, scratch);
	struct urlpattern_scratch *sc = urlpattern_scratch_new();
	bool yes = match_with(p, topic, sc);
	urlpattern_scratch_free(sc);
	return yes;
}

bool urlpattern_match_string(const struct urlpattern *p, const char *topic, size_t n,
			     const struct url *base, struct urlpattern_scratch *scratch)
{
	struct url u;
	if (url_parse(&u, topic, n, base, NULL, 0) < 0)
		return false;
	bool yes = urlpattern_match(p, &u, scratch);
	url_clear(&u);
	return yes;
}
