/* urlpattern_string.c -- URL Pattern's constructor string parser (see
 * urlpattern_string.h). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "urlpattern_parts.h"
#include "urlpattern_string.h"

enum state {
	S_INIT,
	S_PROTOCOL,
	S_AUTHORITY,
	S_USERNAME,
	S_PASSWORD,
	S_HOSTNAME,
	S_PORT,
	S_PATHNAME,
	S_SEARCH,
	S_HASH,
	S_DONE,
};

struct csp {
	const char *s;
	struct urlpattern_tokens tokens;
	struct urlpattern_init *result;
	size_t start, index, increment;
	int group_depth, ipv6_depth;
	bool special;
	enum state state;
};

/* The component a state fills, or -1. */
static int component_of(enum state s)
{
	static const int map[] = {
		[S_PROTOCOL] = URL_PROTOCOL, [S_USERNAME] = URL_USERNAME, [S_PASSWORD] = URL_PASSWORD,
		[S_HOSTNAME] = URL_HOSTNAME, [S_PORT] = URL_PORT,         [S_PATHNAME] = URL_PATHNAME,
		[S_SEARCH] = URL_SEARCH,     [S_HASH] = URL_HASH,
	};
	if (s == S_INIT || s == S_AUTHORITY || s == S_DONE)
		return -1;
	return map[s];
}

static const struct urlpattern_token *safe_token(const struct csp *p, size_t i)
{
	return &p->tokens.t[i < p->tokens.n ? i : p->tokens.n - 1];
}

static bool nonspecial_char(const struct csp *p, size_t i, char c)
{
	const struct urlpattern_token *t = safe_token(p, i);
	if (t->len != 1 || t->value[0] != c)
		return false;
	return t->type == UPT_CHAR || t->type == UPT_ESCAPED || t->type == UPT_INVALID;
}

static bool is_char(const struct csp *p, char c)
{
	return nonspecial_char(p, p->index, c);
}

/* A '?' that is not a modifier of what precedes it. */
static bool is_search_prefix(const struct csp *p)
{
	if (is_char(p, '?'))
		return true;
	const struct urlpattern_token *t = &p->tokens.t[p->index];
	if (t->len != 1 || t->value[0] != '?')
		return false;
	if (p->index == 0)
		return true;
	enum urlpattern_token_type prev = safe_token(p, p->index - 1)->type;
	return !(prev == UPT_NAME || prev == UPT_REGEXP || prev == UPT_CLOSE || prev == UPT_ASTERISK);
}

static char *component_string(const struct csp *p)
{
	size_t from = safe_token(p, p->start)->index, to = p->tokens.t[p->index].index;
	return xmemdup(p->s + from, to > from ? to - from : 0);
}

static void set_if_absent(struct csp *p, int k, const char *v)
{
	if (!p->result->c[k])
		p->result->c[k] = xstrdup(v);
}

static void change_state(struct csp *p, enum state next, size_t skip)
{
	int k = component_of(p->state);
	if (k >= 0) {
		free(p->result->c[k]);
		p->result->c[k] = component_string(p);
	}
	enum state s = p->state;
	if (s != S_INIT && next != S_DONE) {
		if (s <= S_PASSWORD && next >= S_PORT)
			set_if_absent(p, URL_HOSTNAME, "");
		if (s <= S_PORT && next >= S_SEARCH)
			set_if_absent(p, URL_PATHNAME, p->special ? "/" : "");
		if (s <= S_PATHNAME && next == S_HASH)
			set_if_absent(p, URL_SEARCH, "");
	}
	p->state = next;
	p->index += skip;
	p->start = p->index;
	p->increment = 0;
}

static void rewind_to(struct csp *p, enum state next)
{
	p->index = p->start;
	p->increment = 0;
	p->state = next;
}

static int protocol_suffix(struct csp *p, urlpattern_special_fn special, void *ctx, char *err,
			   size_t errlen)
{
	char *proto = component_string(p);
	int rc = special(proto, strlen(proto), ctx, err, errlen);
	free(proto);
	if (rc < 0)
		return -1;
	p->special = rc == 1;
	enum state next = S_PATHNAME;
	size_t skip = 1;
	if (nonspecial_char(p, p->index + 1, '/') && nonspecial_char(p, p->index + 2, '/')) {
		next = S_AUTHORITY;
		skip = 3;
	} else if (p->special) {
		next = S_AUTHORITY;
	}
	change_state(p, next, skip);
	return 0;
}

/* The end token: what the state machine does when the input runs out;
 * returns true when parsing is over. */
static bool at_end(struct csp *p)
{
	if (p->state == S_INIT) {
		p->index = p->start;
		p->increment = 0;
		if (is_char(p, '#'))
			change_state(p, S_HASH, 1);
		else if (is_search_prefix(p))
			change_state(p, S_SEARCH, 1);
		else
			change_state(p, S_PATHNAME, 0);
		return false;
	}
	if (p->state == S_AUTHORITY) {
		rewind_to(p, S_HOSTNAME);
		return false;
	}
	change_state(p, S_DONE, 0);
	return true;
}

/* A '?' or '#' that starts the search or the hash. */
static void search_or_hash(struct csp *p)
{
	if (is_search_prefix(p))
		change_state(p, S_SEARCH, 1);
	else if (is_char(p, '#'))
		change_state(p, S_HASH, 1);
}

static void host_step(struct csp *p)
{
	if (is_char(p, '['))
		p->ipv6_depth++;
	else if (is_char(p, ']'))
		p->ipv6_depth--;
	else if (is_char(p, ':') && p->ipv6_depth == 0)
		change_state(p, S_PORT, 1);
	else if (is_char(p, '/'))
		change_state(p, S_PATHNAME, 0);
	else
		search_or_hash(p);
}

static int step(struct csp *p, urlpattern_special_fn special, void *ctx, char *err, size_t errlen)
{
	switch (p->state) {
	case S_INIT:
		if (is_char(p, ':'))
			rewind_to(p, S_PROTOCOL);
		break;
	case S_PROTOCOL:
		if (is_char(p, ':'))
			return protocol_suffix(p, special, ctx, err, errlen);
		break;
	case S_AUTHORITY:
		if (is_char(p, '@'))
			rewind_to(p, S_USERNAME);
		else if (is_char(p, '/') || is_search_prefix(p) || is_char(p, '#'))
			rewind_to(p, S_HOSTNAME);
		break;
	case S_USERNAME:
		if (is_char(p, ':'))
			change_state(p, S_PASSWORD, 1);
		else if (is_char(p, '@'))
			change_state(p, S_HOSTNAME, 1);
		break;
	case S_PASSWORD:
		if (is_char(p, '@'))
			change_state(p, S_HOSTNAME, 1);
		break;
	case S_HOSTNAME:
		host_step(p);
		break;
	case S_PORT:
		if (is_char(p, '/'))
			change_state(p, S_PATHNAME, 0);
		else
			search_or_hash(p);
		break;
	case S_PATHNAME:
		search_or_hash(p);
		break;
	case S_SEARCH:
		if (is_char(p, '#'))
			change_state(p, S_HASH, 1);
		break;
	case S_HASH:
	case S_DONE:
		break;
	}
	return 0;
}

static int run(struct csp *p, urlpattern_special_fn special, void *ctx, char *err, size_t errlen)
{
	while (p->index < p->tokens.n) {
		enum urlpattern_token_type type = p->tokens.t[p->index].type;
		p->increment = 1;
		if (type == UPT_END) {
			if (at_end(p))
				break;
		} else if (type == UPT_OPEN) {
			p->group_depth++;
		} else if (p->group_depth > 0 && type != UPT_CLOSE) {
			/* inside a group: nothing separates components */
		} else {
			if (p->group_depth > 0)
				p->group_depth--;
			if (step(p, special, ctx, err, errlen) < 0)
				return -1;
		}
		p->index += p->increment;
	}
	if (p->result->c[URL_HOSTNAME])
		set_if_absent(p, URL_PORT, "");
	return 0;
}

int urlpattern_string_parse(const char *s, size_t n, urlpattern_special_fn special, void *ctx,
			    struct urlpattern_init *out, char *err, size_t errlen)
{
	struct csp p = {.s = s, .result = out, .state = S_INIT};
	memset(out, 0, sizeof *out);
	urlpattern_parts_tokenize(s, n, false, &p.tokens, err, errlen);
	int rc = run(&p, special, ctx, err, errlen);
	urlpattern_parts_tokens_free(&p.tokens);
	if (rc < 0)
		urlpattern_init_clear(out);
	return rc;
}

void urlpattern_init_clear(struct urlpattern_init *init)
{
	for (int k = 0; k < URL_NCOMPONENTS; k++)
		free(init->c[k]);
	memset(init, 0, sizeof *init);
}
