/* urlpattern_parts.c -- URL Pattern's tokenizer, pattern-string parser and
 * regular-expression generation (see urlpattern_parts.h). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "urlpattern_parts.h"

static int fail(char *err, size_t errlen, const char *why, size_t at)
{
	if (errlen)
		snprintf(err, errlen, "%s at byte %zu", why, at);
	return -1;
}

/* ---- tokenizer -------------------------------------------------------- */

struct tokenizer {
	const char *s;
	size_t n, i;
	bool strict;
	struct urlpattern_tokens *out;
	size_t cap;
	char *err;
	size_t errlen;
};

/* Bytes in the UTF-8 sequence starting with c (input is valid UTF-8). */
static size_t cp_len(unsigned char c)
{
	return c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
}

static void add_token(struct tokenizer *t, enum urlpattern_token_type type, size_t next,
		      size_t value_at, size_t value_len)
{
	if (t->out->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 16;
		t->out->t = xrealloc(t->out->t, t->cap * sizeof *t->out->t);
	}
	t->out->t[t->out->n++] = (struct urlpattern_token){
		.type = type, .index = t->i, .value = t->s + value_at, .len = value_len};
	t->i = next;
}

/* A tokenizing error: fatal when strict, else one invalid-char token. */
static int tok_error(struct tokenizer *t, size_t next, size_t value_at, const char *why)
{
	if (t->strict)
		return fail(t->err, t->errlen, why, t->i);
	add_token(t, UPT_INVALID, next, value_at, next - value_at);
	return 0;
}

static bool name_start(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '$';
}

static bool name_part(unsigned char c)
{
	return name_start(c) || (c >= '0' && c <= '9');
}

static int tok_name(struct tokenizer *t)
{
	size_t start = t->i + 1, j = start;
	while (j < t->n && (j == start ? name_start((unsigned char)t->s[j])
				       : name_part((unsigned char)t->s[j])))
		j++;
	if (j == start)
		return tok_error(t, start, t->i, "missing group name");
	add_token(t, UPT_NAME, j, start, j - start);
	return 0;
}

/* "(...)": balanced, ASCII, nested groups only "(?", not starting '?'. */
static int tok_regexp(struct tokenizer *t)
{
	size_t start = t->i + 1, j = start;
	int depth = 1;
	while (j < t->n) {
		unsigned char c = (unsigned char)t->s[j];
		if (c >= 0x80)
			return tok_error(t, start, t->i, "non-ASCII character in a regexp group");
		if (j == start && c == '?')
			return tok_error(t, start, t->i, "a regexp group may not start with '?'");
		if (c == '\\') {
			if (j + 1 >= t->n || (unsigned char)t->s[j + 1] >= 0x80)
				return tok_error(t, start, t->i, "bad escape in a regexp group");
			j += 2;
			continue;
		}
		if (c == ')' && --depth == 0) {
			j++;
			break;
		}
		if (c == '(') {
			depth++;
			if (j + 1 >= t->n || t->s[j + 1] != '?')
				return tok_error(t, start, t->i,
						 "a nested group in a regexp must be non-capturing \"(?\"");
		}
		j++;
	}
	if (depth != 0)
		return tok_error(t, start, t->i, "unbalanced regexp group");
	if (j - start - 1 == 0)
		return tok_error(t, start, t->i, "empty regexp group");
	add_token(t, UPT_REGEXP, j, start, j - start - 1);
	return 0;
}

static int tok_one(struct tokenizer *t)
{
	char c = t->s[t->i];
	size_t one = cp_len((unsigned char)c);
	switch (c) {
	case '*':
		add_token(t, UPT_ASTERISK, t->i + 1, t->i, 1);
		return 0;
	case '+':
	case '?':
		add_token(t, UPT_MODIFIER, t->i + 1, t->i, 1);
		return 0;
	case '\\':
		if (t->i + 1 >= t->n)
			return tok_error(t, t->i + 1, t->i, "trailing backslash");
		one = cp_len((unsigned char)t->s[t->i + 1]);
		add_token(t, UPT_ESCAPED, t->i + 1 + one, t->i + 1, one);
		return 0;
	case '{':
		add_token(t, UPT_OPEN, t->i + 1, t->i, 1);
		return 0;
	case '}':
		add_token(t, UPT_CLOSE, t->i + 1, t->i, 1);
		return 0;
	case ':':
		return tok_name(t);
	case '(':
		return tok_regexp(t);
	default:
		add_token(t, UPT_CHAR, t->i + one, t->i, one);
		return 0;
	}
}

int urlpattern_parts_tokenize(const char *s, size_t n, bool strict, struct urlpattern_tokens *out,
			      char *err, size_t errlen)
{
	struct tokenizer t = {.s = s, .n = n, .strict = strict, .out = out, .err = err, .errlen = errlen};
	out->t = NULL;
	out->n = 0;
	while (t.i < n) {
		if (tok_one(&t) < 0) {
			urlpattern_parts_tokens_free(out);
			return -1;
		}
	}
	add_token(&t, UPT_END, n, n, 0);
	return 0;
}

void urlpattern_parts_tokens_free(struct urlpattern_tokens *t)
{
	free(t->t);
	t->t = NULL;
	t->n = 0;
}

/* ---- regexp check ----------------------------------------------------- */

/* Refuses PCRE-only syntax in a regexp group's value r[0..n). */
static int check_regexp(const char *r, size_t n, char *err, size_t errlen, size_t at)
{
	static const char escapes[] = "^$\\.*+?()[]{}|/-dDsSwWbBfnrtv0123456789xucpPk";
	if (n && r[0] == '*')
		return fail(err, errlen, "a regexp group may not start with '*'", at);
	for (size_t i = 0; i < n; i++) {
		if (r[i] == '\\') {
			if (i + 1 >= n || !strchr(escapes, r[i + 1]) || r[i + 1] == '\0')
				return fail(err, errlen, "unsupported escape in a regexp group", at);
			i++;
		} else if (r[i] == '(' && i + 1 < n && r[i + 1] == '?') {
			const char *g = r + i + 2;
			size_t left = n - i - 2;
			bool ok = (left >= 1 && strchr(":=!", g[0]) && g[0]) ||
				  (left >= 2 && g[0] == '<' &&
				   (g[1] == '=' || g[1] == '!' || name_start((unsigned char)g[1])));
			if (!ok)
				return fail(err, errlen, "unsupported group syntax in a regexp group", at);
		}
	}
	return 0;
}

/* ---- parser ----------------------------------------------------------- */

struct parser {
	const struct urlpattern_tokens *tokens;
	size_t i;
	const struct urlpattern_options *o;
	urlpattern_encode_fn encode;
	void *ctx;
	struct urlpattern_part_list *out;
	size_t cap;
	struct buf pending;
	unsigned next_name;
	char *err;
	size_t errlen;
};

static const struct urlpattern_token *try_consume(struct parser *p, enum urlpattern_token_type type)
{
	const struct urlpattern_token *t = &p->tokens->t[p->i];
	if (t->type != type)
		return NULL;
	p->i++;
	return t;
}

static const struct urlpattern_token *try_modifier(struct parser *p)
{
	const struct urlpattern_token *t = try_consume(p, UPT_MODIFIER);
	return t ? t : try_consume(p, UPT_ASTERISK);
}

static const struct urlpattern_token *try_regexp_or_wildcard(struct parser *p,
							     const struct urlpattern_token *name)
{
	const struct urlpattern_token *t = try_consume(p, UPT_REGEXP);
	if (!name && !t)
		t = try_consume(p, UPT_ASTERISK);
	return t;
}

/* Consecutive char and escaped-char tokens' values, appended to out. */
static void consume_text(struct parser *p, struct buf *out)
{
	for (;;) {
		const struct urlpattern_token *t = try_consume(p, UPT_CHAR);
		if (!t)
			t = try_consume(p, UPT_ESCAPED);
		if (!t)
			return;
		buf_add(out, t->value, t->len);
	}
}

static char *encoded(struct parser *p, const char *s, size_t n, int *rc)
{
	struct buf b = {0};
	if (n && p->encode(s, n, &b, p->ctx, p->err, p->errlen) < 0)
		*rc = -1;
	return buf_steal(&b, NULL);
}

static struct urlpattern_part *new_part(struct parser *p)
{
	if (p->out->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 8;
		p->out->p = xrealloc(p->out->p, p->cap * sizeof *p->out->p);
	}
	struct urlpattern_part *part = &p->out->p[p->out->n++];
	memset(part, 0, sizeof *part);
	return part;
}

static int too_many(struct parser *p)
{
	if (p->out->n < URLPATTERN_MAX_PARTS)
		return 0;
	return fail(p->err, p->errlen, "too many parts in a pattern component",
		    p->tokens->t[p->i ? p->i - 1 : 0].index);
}

static int fixed_part(struct parser *p, const char *s, size_t n, enum urlpattern_modifier m)
{
	int rc = too_many(p);
	if (rc < 0)
		return rc;
	struct urlpattern_part *part = new_part(p);
	part->type = UPP_FIXED;
	part->modifier = m;
	part->value = encoded(p, s, n, &rc);
	part->name = xstrdup("");
	part->prefix = xstrdup("");
	part->suffix = xstrdup("");
	return rc;
}

static int flush_pending(struct parser *p)
{
	if (p->pending.len == 0)
		return 0;
	int rc = fixed_part(p, p->pending.p, p->pending.len, UPM_NONE);
	p->pending.len = 0;
	return rc;
}

static enum urlpattern_modifier modifier_of(const struct urlpattern_token *t)
{
	if (!t)
		return UPM_NONE;
	return t->value[0] == '?' ? UPM_OPTIONAL : t->value[0] == '*' ? UPM_ZERO_OR_MORE : UPM_ONE_OR_MORE;
}

static bool duplicate_name(const struct parser *p, const char *name)
{
	for (size_t i = 0; i < p->out->n; i++)
		if (p->out->p[i].type != UPP_FIXED && strcmp(p->out->p[i].name, name) == 0)
			return true;
	return false;
}

static void segment_wildcard(const struct urlpattern_options *o, struct buf *out)
{
	buf_adds(out, "[^");
	if (o->delimiter) {
		if (strchr(".+*?^${}()[]|/\\", o->delimiter))
			buf_addc(out, '\\');
		buf_addc(out, o->delimiter);
	}
	buf_adds(out, "]+?");
}

/* The type and regexp value of a group: a segment wildcard when r is
 * NULL, a full wildcard for '*', else the regexp token's value. */
static int group_value(struct parser *p, const struct urlpattern_token *r, struct urlpattern_part *part)
{
	struct buf seg = {0};
	segment_wildcard(p->o, &seg);
	part->type = UPP_REGEXP;
	if (!r || (r->type == UPT_REGEXP && r->len == seg.len && memcmp(r->value, seg.p, seg.len) == 0)) {
		part->type = UPP_SEGMENT;
	} else if (r->type == UPT_ASTERISK || (r->len == 2 && memcmp(r->value, ".*", 2) == 0)) {
		part->type = UPP_FULL;
	}
	buf_free(&seg);
	if (part->type != UPP_REGEXP) {
		part->value = xstrdup("");
		return 0;
	}
	part->value = xmemdup(r->value, r->len);
	return check_regexp(r->value, r->len, p->err, p->errlen, r->index);
}

static int group_name(struct parser *p, const struct urlpattern_token *name, struct urlpattern_part *part)
{
	if (name)
		part->name = xmemdup(name->value, name->len);
	else {
		char num[24];
		snprintf(num, sizeof num, "%u", p->next_name++);
		part->name = xstrdup(num);
	}
	p->out->n--; /* not yet among the parts for the duplicate check */
	bool dup = duplicate_name(p, part->name);
	p->out->n++;
	if (dup)
		return fail(p->err, p->errlen, "duplicate group name", name ? name->index : 0);
	return 0;
}

/* The standard's "add a part". */
static int add_part(struct parser *p, const char *prefix, size_t plen,
		    const struct urlpattern_token *name, const struct urlpattern_token *r,
		    const char *suffix, size_t slen, const struct urlpattern_token *mod)
{
	enum urlpattern_modifier m = modifier_of(mod);
	if (!name && !r && m == UPM_NONE) {
		buf_add(&p->pending, prefix, plen);
		return 0;
	}
	int rc = flush_pending(p);
	if (rc < 0)
		return rc;
	if (!name && !r)
		return plen ? fixed_part(p, prefix, plen, m) : 0;
	if ((rc = too_many(p)) < 0)
		return rc;
	struct urlpattern_part *part = new_part(p);
	part->modifier = m;
	part->prefix = encoded(p, prefix, plen, &rc);
	part->suffix = encoded(p, suffix, slen, &rc);
	if (rc < 0 || group_value(p, r, part) < 0 || group_name(p, name, part) < 0)
		return -1;
	return 0;
}

/* A name or regexp group, with the char before it as a prefix. */
static int plain_group(struct parser *p, const struct urlpattern_token *c,
		       const struct urlpattern_token *name, const struct urlpattern_token *r)
{
	const char *prefix = "";
	size_t plen = 0;
	if (c) {
		prefix = c->value;
		plen = c->len;
	}
	if (plen && !(plen == 1 && prefix[0] == p->o->prefix && p->o->prefix)) {
		buf_add(&p->pending, prefix, plen);
		plen = 0;
	}
	int rc = flush_pending(p);
	if (rc < 0)
		return rc;
	return add_part(p, prefix, plen, name, r, "", 0, try_modifier(p));
}

/* "{ prefix name regexp suffix }" modifier. */
static int brace_group(struct parser *p)
{
	struct buf prefix = {0}, suffix = {0};
	consume_text(p, &prefix);
	const struct urlpattern_token *name = try_consume(p, UPT_NAME);
	const struct urlpattern_token *r = try_regexp_or_wildcard(p, name);
	consume_text(p, &suffix);
	int rc;
	if (!try_consume(p, UPT_CLOSE))
		rc = fail(p->err, p->errlen, "expected '}'", p->tokens->t[p->i].index);
	else
		rc = add_part(p, prefix.p ? prefix.p : "", prefix.len, name, r,
			      suffix.p ? suffix.p : "", suffix.len, try_modifier(p));
	buf_free(&prefix);
	buf_free(&suffix);
	return rc;
}

static int parse_step(struct parser *p)
{
	const struct urlpattern_token *c = try_consume(p, UPT_CHAR);
	const struct urlpattern_token *name = try_consume(p, UPT_NAME);
	const struct urlpattern_token *r = try_regexp_or_wildcard(p, name);
	if (name || r)
		return plain_group(p, c, name, r);
	const struct urlpattern_token *fixed = c ? c : try_consume(p, UPT_ESCAPED);
	if (fixed) {
		buf_add(&p->pending, fixed->value, fixed->len);
		return 0;
	}
	if (try_consume(p, UPT_OPEN))
		return brace_group(p);
	int rc = flush_pending(p);
	if (rc < 0)
		return rc;
	if (!try_consume(p, UPT_END))
		return fail(p->err, p->errlen, "unexpected character", p->tokens->t[p->i].index);
	return 0;
}

int urlpattern_parts_parse(const char *s, size_t n, const struct urlpattern_options *o,
			   urlpattern_encode_fn encode, void *ctx, struct urlpattern_part_list *out,
			   char *err, size_t errlen)
{
	struct urlpattern_tokens tokens;
	out->p = NULL;
	out->n = 0;
	if (urlpattern_parts_tokenize(s, n, true, &tokens, err, errlen) < 0)
		return -1;
	struct parser p = {.tokens = &tokens, .o = o, .encode = encode, .ctx = ctx, .out = out,
			   .err = err, .errlen = errlen};
	int rc = 0;
	while (rc == 0 && p.i < tokens.n)
		rc = parse_step(&p);
	buf_free(&p.pending);
	urlpattern_parts_tokens_free(&tokens);
	if (rc < 0)
		urlpattern_parts_free(out);
	return rc;
}

void urlpattern_parts_free(struct urlpattern_part_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->p[i].value);
		free(l->p[i].name);
		free(l->p[i].prefix);
		free(l->p[i].suffix);
	}
	free(l->p);
	l->p = NULL;
	l->n = 0;
}

/* ---- regular expression generation ------------------------------------ */

static void escape_regexp(struct buf *out, const char *s)
{
	for (; *s; s++) {
		if (strchr(".+*?^${}()[]|/\\", *s))
			buf_addc(out, '\\');
		buf_addc(out, *s);
	}
}

static const char *modifier_str(enum urlpattern_modifier m)
{
	return m == UPM_OPTIONAL ? "?" : m == UPM_ZERO_OR_MORE ? "*" : m == UPM_ONE_OR_MORE ? "+" : "";
}

static void group_regexp(const struct urlpattern_part *part, const struct urlpattern_options *o,
			 struct buf *out)
{
	struct buf v = {0};
	if (part->type == UPP_SEGMENT)
		segment_wildcard(o, &v);
	else if (part->type == UPP_FULL)
		buf_adds(&v, ".*");
	else
		buf_adds(&v, part->value);
	const char *m = modifier_str(part->modifier);
	bool single = part->modifier == UPM_NONE || part->modifier == UPM_OPTIONAL;
	if (!part->prefix[0] && !part->suffix[0]) {
		buf_printf(out, single ? "(%s)%s" : "((?:%s)%s)", v.p, m);
	} else if (single) {
		buf_adds(out, "(?:");
		escape_regexp(out, part->prefix);
		buf_printf(out, "(%s)", v.p);
		escape_regexp(out, part->suffix);
		buf_printf(out, ")%s", m);
	} else {
		buf_adds(out, "(?:");
		escape_regexp(out, part->prefix);
		buf_printf(out, "((?:%s)(?:", v.p);
		escape_regexp(out, part->suffix);
		escape_regexp(out, part->prefix);
		buf_printf(out, "(?:%s))*)", v.p);
		escape_regexp(out, part->suffix);
		buf_adds(out, part->modifier == UPM_ZERO_OR_MORE ? ")?" : ")");
	}
	buf_free(&v);
}

void urlpattern_parts_regexp(const struct urlpattern_part_list *l,
			     const struct urlpattern_options *o, struct buf *out)
{
	buf_addc(out, '^');
	for (size_t i = 0; i < l->n; i++) {
		const struct urlpattern_part *part = &l->p[i];
		if (part->type != UPP_FIXED) {
			group_regexp(part, o, out);
		} else if (part->modifier == UPM_NONE) {
			escape_regexp(out, part->value);
		} else {
			buf_adds(out, "(?:");
			escape_regexp(out, part->value);
			buf_printf(out, ")%s", modifier_str(part->modifier));
		}
	}
	buf_addc(out, '$');
}

void urlpattern_parts_escape(struct buf *out, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (strchr("+*?:{}()\\", s[i]) && s[i])
			buf_addc(out, '\\');
		buf_addc(out, s[i]);
	}
}
