/* selector.c -- topic selectors: RFC 6570 templates compiled to a small
 * automaton that matches topics without backtracking. */
#include "config.h"

#include "selector.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Byte classes, as bits of cmap[]. A CLASS instruction holds a mask of
 * these and accepts a byte whose entry shares a bit with it. */
enum {
	F_U = 1 << 0,     /* unreserved: ALPHA DIGIT - . _ ~ */
	F_R = 1 << 1,     /* reserved: gen-delims and sub-delims */
	F_HEX = 1 << 2,   /* HEXDIG, either case */
	F_LEAD = 1 << 3,  /* first hex digit of an octet that starts a character */
	F_CONT = 1 << 4,  /* first hex digit of a UTF-8 continuation octet (8-B) */
	F_COMMA = 1 << 5, /* ',' */
	F_SLASH = 1 << 6, /* '/' */
};

#define HEX_LEAD (F_U | F_HEX | F_LEAD)
#define HEX_CONT (F_U | F_HEX | F_CONT)

static const uint8_t cmap[256] = {
	['0' ... '7'] = HEX_LEAD,
	['8' ... '9'] = HEX_CONT,
	['A' ... 'B'] = HEX_CONT,
	['C' ... 'F'] = HEX_LEAD,
	['G' ... 'Z'] = F_U,
	['a' ... 'b'] = HEX_CONT,
	['c' ... 'f'] = HEX_LEAD,
	['g' ... 'z'] = F_U,
	['-'] = F_U, ['.'] = F_U, ['_'] = F_U, ['~'] = F_U,
	[':'] = F_R, ['/'] = F_R | F_SLASH, ['?'] = F_R, ['#'] = F_R,
	['['] = F_R, [']'] = F_R, ['@'] = F_R,
	['!'] = F_R, ['$'] = F_R, ['&'] = F_R, ['\''] = F_R, ['('] = F_R,
	[')'] = F_R, ['*'] = F_R, ['+'] = F_R, [','] = F_R | F_COMMA,
	[';'] = F_R, ['='] = F_R,
};

/* The automaton's instructions. BYTE and CLASS consume one byte of the
 * topic and continue at x; the others move without consuming. Every thread
 * carries a counter for prefix modifiers: CZERO resets it, CINC lets the
 * thread through only while the counter is below n, incrementing it.
 * Outside a prefix loop the counter is always 0. */
enum {
	I_BYTE,  /* arg: the byte; then x */
	I_CLASS, /* arg: a mask of F_ bits; then x */
	I_JMP,   /* to x */
	I_SPLIT, /* to x and to y */
	I_CZERO, /* then x */
	I_CINC,  /* then x */
	I_MATCH,
};

struct inst {
	uint8_t op;
	uint8_t arg;
	uint16_t n;
	uint32_t x, y;
};

/* An expression of a template matched by the greedy path (see struct
 * tmpl), and the literal that follows it in the template. */
struct piece {
	char first;   /* the operator's first character, or '\0' */
	uint8_t mask; /* the run's class */
	uint32_t lit; /* offset of the literal in text */
	uint32_t litlen;
};

/* A template's compiled form, apart from struct selector: most selectors
 * are exact topics, and every subscriber has at least one. */
struct tmpl {
	struct inst *prog;
	/* When every expression is a lone variable matching a run of one
	 * class ({id}, {+path}, {/id}) and the literal after each but the
	 * last starts with a byte the run cannot take, the topic splits in
	 * one greedy pass and the automaton is skipped. */
	struct piece *pieces;
	size_t len; /* of the text */
	uint32_t nprog;
	uint32_t npieces; /* 0: use prog */
	/* The literal bytes before the first and after the last expression
	 * are compared directly; prog matches what lies between. (A template
	 * has at most SELECTOR_MAX_LEN bytes.) */
	uint32_t head, tail;
};

/* One allocation with its text. */
struct selector {
	struct tmpl *t; /* templates only */
	uint8_t kind;   /* enum selector_kind */
	char text[];
};

/* ---- compiling ---------------------------------------------------------- */

struct builder {
	struct inst *prog;
	uint32_t n, cap;
	char *err;
	size_t errlen;
};

static void fail(struct builder *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct builder *b, const char *fmt, ...)
{
	if (!b->err || b->errlen == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(b->err, b->errlen, fmt, ap);
	va_end(ap);
}

/* A byte for an error message: itself when printable, else a hex escape. */
static const char *show(unsigned char c, char out[8])
{
	if (c > 0x20 && c < 0x7f)
		snprintf(out, 8, "'%c'", c);
	else
		snprintf(out, 8, "0x%02x", c);
	return out;
}

static uint32_t emit(struct builder *b, int op, unsigned arg, unsigned n, uint32_t x, uint32_t y)
{
	if (b->n == b->cap) {
		b->cap = b->cap ? b->cap * 2 : 64;
		b->prog = xrealloc(b->prog, b->cap * sizeof *b->prog);
	}
	if (op != I_JMP && op != I_SPLIT)
		x = b->n + 1;
	b->prog[b->n] = (struct inst){.op = (uint8_t)op, .arg = (uint8_t)arg, .n = (uint16_t)n, .x = x, .y = y};
	return b->n++;
}

static void emit_lit(struct builder *b, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		emit(b, I_BYTE, (unsigned char)s[i], 0, 0, 0);
}

/* One encoded character: a byte of class mask, or a pct-encoded triplet.
 * With max > 0 each counts against the prefix, except triplets of UTF-8
 * continuation octets. */
static void emit_unit(struct builder *b, unsigned mask, unsigned max)
{
	uint32_t split = emit(b, I_SPLIT, 0, 0, b->n + 1, 0);
	if (max)
		emit(b, I_CINC, 0, max, 0, 0);
	emit(b, I_CLASS, mask, 0, 0, 0);
	uint32_t j1 = emit(b, I_JMP, 0, 0, 0, 0);
	b->prog[split].y = b->n;
	emit(b, I_BYTE, '%', 0, 0, 0);
	uint32_t j2 = 0;
	if (max) {
		uint32_t s2 = emit(b, I_SPLIT, 0, 0, b->n + 1, 0);
		emit(b, I_CLASS, F_LEAD, 0, 0, 0);
		emit(b, I_CINC, 0, max, 0, 0);
		emit(b, I_CLASS, F_HEX, 0, 0, 0);
		j2 = emit(b, I_JMP, 0, 0, 0, 0);
		b->prog[s2].y = b->n;
		emit(b, I_CLASS, F_CONT, 0, 0, 0);
	} else {
		emit(b, I_CLASS, F_HEX, 0, 0, 0);
	}
	emit(b, I_CLASS, F_HEX, 0, 0, 0);
	b->prog[j1].x = b->n;
	if (max)
		b->prog[j2].x = b->n;
}

/* Any number of encoded characters of class mask (at least one when
 * nonempty), at most max of them when max > 0. */
static void emit_run(struct builder *b, unsigned mask, bool nonempty, unsigned max)
{
	if (max)
		emit(b, I_CZERO, 0, 0, 0, 0);
	if (nonempty)
		emit_unit(b, mask, max);
	uint32_t loop = emit(b, I_SPLIT, 0, 0, b->n + 1, 0);
	emit_unit(b, mask, max);
	emit(b, I_JMP, 0, 0, loop, 0);
	b->prog[loop].y = b->n;
	if (max)
		emit(b, I_CZERO, 0, 0, 0, 0);
}

/* The operators of RFC 6570 section 3.2 and how their expansions look. */
struct opdef {
	char op;       /* '\0' for simple string expansion */
	char first;    /* written before the first defined variable, or '\0' */
	char sep;      /* between defined variables and exploded items */
	bool named;    /* name=value pairs */
	bool ifemp_eq; /* an empty value still writes "name=" */
	bool reserved; /* reserved characters pass unencoded */
};

static const struct opdef opdefs[] = {
	{'\0', '\0', ',', false, false, false},
	{'+', '\0', ',', false, false, true},
	{'#', '#', ',', false, false, true},
	{'.', '.', '.', false, false, false},
	{'/', '/', '/', false, false, false},
	{';', ';', ';', true, false, false},
	{'?', '?', '&', true, true, false},
	{'&', '&', '&', true, true, false},
};

struct varspec {
	const char *name;
	size_t len;
	unsigned prefix; /* 0: none */
	bool explode;
};

/* An exploded variable of an unnamed operator: a string or a list
 * (items joined by sep) or an associative array (key=value joined by sep). */
static void emit_exploded(struct builder *b, const struct opdef *op)
{
	unsigned list = F_U | (op->sep == ',' ? F_COMMA : op->sep == '/' ? F_SLASH : 0);
	uint32_t split = emit(b, I_SPLIT, 0, 0, b->n + 1, 0);
	emit_run(b, list, false, 0);
	uint32_t done = emit(b, I_JMP, 0, 0, 0, 0);
	uint32_t pair = b->n;
	b->prog[split].y = pair;
	emit_run(b, F_U, true, 0);
	emit(b, I_BYTE, '=', 0, 0, 0);
	emit_run(b, F_U, false, 0);
	uint32_t more = emit(b, I_SPLIT, 0, 0, b->n + 1, 0);
	emit(b, I_BYTE, (unsigned char)op->sep, 0, 0, 0);
	emit(b, I_JMP, 0, 0, pair, 0);
	b->prog[more].y = b->n;
	b->prog[done].x = b->n;
}

/* An exploded variable of ; ? &: items name[=value] (list) or
 * key[=value] (associative array) joined by sep. A list's items all carry
 * the variable's name, which is just one possible key, so keys are free. */
static void emit_named_exploded(struct builder *b, const struct opdef *op)
{
	uint32_t item = b->n;
	emit_run(b, F_U, true, 0);
	if (op->ifemp_eq) {
		emit(b, I_BYTE, '=', 0, 0, 0);
		emit_run(b, F_U, false, 0);
	} else {
		/* ";": an empty value writes the key alone. */
		uint32_t split = emit(b, I_SPLIT, 0, 0, b->n + 1, 0);
		emit(b, I_BYTE, '=', 0, 0, 0);
		emit_run(b, F_U, true, 0);
		b->prog[split].y = b->n;
	}
	uint32_t more = emit(b, I_SPLIT, 0, 0, b->n + 1, 0);
	emit(b, I_BYTE, (unsigned char)op->sep, 0, 0, 0);
	emit(b, I_JMP, 0, 0, item, 0);
	b->prog[more].y = b->n;
}

/* What one defined variable can expand to under op. */
static void emit_varspec(struct builder *b, const struct opdef *op, const struct varspec *v)
{
	if (op->reserved) {
		/* Every separator is a reserved character: all shapes are
		 * runs of unreserved, reserved and pct-encoded. */
		emit_run(b, F_U | F_R, false, v->prefix);
		return;
	}
	if (!op->named) {
		if (v->prefix)
			emit_run(b, F_U, false, v->prefix);
		else if (!v->explode)
			emit_run(b, F_U | F_COMMA, false, 0); /* string, or list/pairs joined by ',' */
		else
			emit_exploded(b, op);
		return;
	}
	if (v->explode) {
		emit_named_exploded(b, op);
		return;
	}
	/* name=value, where a list or pairs are joined by ','; prefixes only
	 * apply to strings. */
	unsigned mask = v->prefix ? F_U : F_U | F_COMMA;
	emit_lit(b, v->name, v->len);
	if (op->ifemp_eq) {
		emit(b, I_BYTE, '=', 0, 0, 0);
		emit_run(b, mask, false, v->prefix);
	} else {
		/* ";": an empty string writes the name alone; "name=" is left
		 * for a list of one empty item, which cannot take a prefix. */
		uint32_t split = emit(b, I_SPLIT, 0, 0, b->n + 1, 0);
		emit(b, I_BYTE, '=', 0, 0, 0);
		emit_run(b, mask, v->prefix > 0, v->prefix);
		b->prog[split].y = b->n;
	}
}

static bool is_varchar(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

static bool is_hex(unsigned char c)
{
	return cmap[c] & F_HEX;
}

/* varchar = ALPHA / DIGIT / "_" / pct-encoded, at p[*i]. */
static bool parse_varchar(const char *p, size_t n, size_t *i)
{
	if (*i < n && is_varchar((unsigned char)p[*i])) {
		(*i)++;
		return true;
	}
	if (*i + 2 < n && p[*i] == '%' && is_hex((unsigned char)p[*i + 1]) &&
	    is_hex((unsigned char)p[*i + 2])) {
		*i += 3;
		return true;
	}
	return false;
}

/* Parses the varspec at text[*i], stopping at '}'. */
static bool parse_varspec(struct builder *b, const char *text, size_t end, size_t *i, struct varspec *v)
{
	char c[8];
	*v = (struct varspec){.name = text + *i};
	if (!parse_varchar(text, end, i)) {
		if (*i == end || text[*i] == ',')
			fail(b, "empty variable name at offset %zu", *i);
		else
			fail(b, "invalid character %s in variable name at offset %zu",
			     show((unsigned char)text[*i], c), *i);
		return false;
	}
	while (*i < end) {
		if (text[*i] == '.') {
			(*i)++;
			if (!parse_varchar(text, end, i)) {
				fail(b, "bad variable name: '.' must sit between characters at offset %zu", *i - 1);
				return false;
			}
		} else if (!parse_varchar(text, end, i)) {
			break;
		}
	}
	v->len = (size_t)(text + *i - v->name);
	if (*i < end && text[*i] == ':') {
		size_t start = ++(*i);
		unsigned len = 0;
		while (*i < end && text[*i] >= '0' && text[*i] <= '9' && *i - start < 4)
			len = len * 10 + (unsigned)(text[(*i)++] - '0');
		if (*i == start || text[start] == '0' ||
		    (*i < end && text[*i] >= '0' && text[*i] <= '9')) {
			fail(b, "prefix length must be 1 to 9999 at offset %zu", start);
			return false;
		}
		v->prefix = len;
	} else if (*i < end && text[*i] == '*') {
		(*i)++;
		v->explode = true;
	}
	if (*i < end && text[*i] != ',') {
		fail(b, "unexpected %s after variable at offset %zu", show((unsigned char)text[*i], c), *i);
		return false;
	}
	return true;
}

/* Compiles the expression text[start..end) (inside the braces). Defined
 * variables are written in order, the first after op->first, the others
 * after op->sep; undefined ones are skipped. Per variable i the program
 * has "nothing written yet" (B_i) and "something written" (A_i) entries,
 * both leading to one copy of the variable's matcher: linear size. */
static bool compile_expr(struct builder *b, const char *text, size_t start, size_t end,
			 const struct opdef **opp, struct varspec *last, unsigned *nvars)
{
	const struct opdef *op = &opdefs[0];
	size_t i = start;
	char c[8];
	for (size_t k = 1; k < sizeof opdefs / sizeof opdefs[0]; k++)
		if (text[i] == opdefs[k].op) {
			op = &opdefs[k];
			i++;
			break;
		}
	if (op == &opdefs[0] && strchr("=,!@|", text[i])) {
		fail(b, "reserved operator %s at offset %zu", show((unsigned char)text[i], c), i);
		return false;
	}
	uint32_t skip_b = UINT32_MAX, skip_a = UINT32_MAX, done = UINT32_MAX;
	for (unsigned nvar = 0;; nvar++) {
		struct varspec v;
		if (!parse_varspec(b, text, end, &i, &v))
			return false;
		uint32_t bi = b->n;
		if (nvar > 0)
			b->prog[skip_b].y = bi;
		skip_b = emit(b, I_SPLIT, 0, 0, bi + 1, 0);
		if (op->first)
			emit(b, I_BYTE, (unsigned char)op->first, 0, 0, 0);
		if (nvar > 0) {
			uint32_t to_m = emit(b, I_JMP, 0, 0, 0, 0);
			uint32_t ai = b->n;
			if (nvar > 1)
				b->prog[skip_a].y = ai;
			b->prog[done].x = ai;
			skip_a = emit(b, I_SPLIT, 0, 0, ai + 1, 0);
			emit(b, I_BYTE, (unsigned char)op->sep, 0, 0, 0);
			b->prog[to_m].x = b->n;
		}
		emit_varspec(b, op, &v);
		done = emit(b, I_JMP, 0, 0, 0, 0);
		*last = v;
		*nvars = nvar + 1;
		if (i == end)
			break;
		i++; /* ',' */
	}
	*opp = op;
	b->prog[skip_b].y = b->n;
	if (skip_a != UINT32_MAX)
		b->prog[skip_a].y = b->n;
	b->prog[done].x = b->n;
	return true;
}

/* Records an expression for the greedy path; false when it does not fit:
 * several variables, a name, a prefix, explode (but for + and #), or
 * right after another expression. */
static bool add_piece(struct tmpl *t, const struct opdef *op, const struct varspec *v, unsigned nvars)
{
	if (nvars != 1 || op->named || v->prefix || (v->explode && !op->reserved))
		return false;
	if (t->npieces > 0 && t->pieces[t->npieces - 1].litlen == 0)
		return false;
	if (!t->pieces)
		t->pieces = xmalloc(SELECTOR_MAX_EXPRS * sizeof *t->pieces);
	t->pieces[t->npieces++] = (struct piece){
		.first = op->first,
		.mask = op->reserved ? F_U | F_R : F_U | F_COMMA,
	};
	return true;
}

/* Records the literal after the latest expression; false when the run
 * before it could also take its first byte, or the operator's first
 * character could begin it, which would make the split ambiguous. */
static bool add_literal(struct tmpl *t, const char *text, size_t off, size_t len)
{
	if (t->npieces == 0)
		return false;
	struct piece *p = &t->pieces[t->npieces - 1];
	unsigned char c = (unsigned char)text[off];
	if ((cmap[c] & p->mask) || c == '%' || c == (unsigned char)p->first)
		return false;
	p->lit = (uint32_t)off;
	p->litlen = (uint32_t)len;
	return true;
}

static bool compile_template(struct selector *s, struct builder *b)
{
	const char *t = s->text;
	struct tmpl *tp = s->t;
	size_t i = 0, nexpr = 0, after_last = 0;
	bool simple = true;
	if (tp->len > SELECTOR_MAX_LEN) {
		fail(b, "template longer than %d bytes", SELECTOR_MAX_LEN);
		return false;
	}
	while (i < tp->len) {
		if (t[i] == '}') {
			fail(b, "unbalanced '}' at offset %zu", i);
			return false;
		}
		if (t[i] != '{') {
			size_t k = i;
			while (k < tp->len && t[k] != '{' && t[k] != '}')
				k++;
			/* The literals before the first and after the last
			 * expression are compared outside the automaton. */
			if (nexpr > 0 && k < tp->len) {
				emit_lit(b, t + i, k - i);
				simple = simple && add_literal(tp, t, i, k - i);
			}
			i = k;
			continue;
		}
		size_t open = i++;
		while (i < tp->len && t[i] != '}' && t[i] != '{')
			i++;
		if (i == tp->len || t[i] == '{') {
			fail(b, "unterminated expression at offset %zu", open);
			return false;
		}
		if (i == open + 1) {
			fail(b, "empty expression at offset %zu", open);
			return false;
		}
		if (++nexpr > SELECTOR_MAX_EXPRS) {
			fail(b, "more than %d expressions", SELECTOR_MAX_EXPRS);
			return false;
		}
		if (nexpr == 1)
			tp->head = (uint32_t)open;
		const struct opdef *op;
		struct varspec v;
		unsigned nvars;
		if (!compile_expr(b, t, open + 1, i, &op, &v, &nvars))
			return false;
		simple = simple && add_piece(tp, op, &v, nvars);
		after_last = ++i;
	}
	tp->tail = (uint32_t)(tp->len - after_last);
	emit(b, I_MATCH, 0, 0, 0, 0);
	if (!simple) {
		free(tp->pieces);
		tp->pieces = NULL;
		tp->npieces = 0;
	}
	return true;
}

/* Points every jump straight at the first instruction that is not a JMP,
 * so that matching does not walk chains of them. */
static void thread_jumps(struct inst *prog, uint32_t n)
{
	for (uint32_t pc = 0; pc < n; pc++) {
		uint32_t *to[2] = {&prog[pc].x, prog[pc].op == I_SPLIT ? &prog[pc].y : NULL};
		if (prog[pc].op == I_MATCH)
			continue;
		for (int k = 0; k < 2; k++)
			for (uint32_t hops = 0; to[k] && prog[*to[k]].op == I_JMP && hops < n; hops++)
				*to[k] = prog[*to[k]].x;
	}
}

/* A selector of kind for text (copied), with nothing compiled yet. */
static struct selector *selector_alloc(const char *text, enum selector_kind kind)
{
	size_t len = strlen(text);
	struct selector *s = xcalloc(1, offsetof(struct selector, text) + len + 1);
	memcpy(s->text, text, len + 1);
	s->kind = (uint8_t)kind;
	return s;
}

struct selector *selector_compile(const char *text, char *err, size_t errlen)
{
	struct selector *s = selector_alloc(text, SELECTOR_EXACT);
	if (strcmp(text, "*") == 0) {
		s->kind = SELECTOR_ALL;
		return s;
	}
	if (!strchr(text, '{'))
		return s;
	s->kind = SELECTOR_TEMPLATE;
	s->t = xcalloc(1, sizeof *s->t);
	s->t->len = strlen(text);
	struct builder b = {.err = err, .errlen = errlen};
	if (!compile_template(s, &b)) {
		free(b.prog);
		selector_free(s);
		return NULL;
	}
	thread_jumps(b.prog, b.n);
	s->t->prog = xrealloc(b.prog, b.n * sizeof *b.prog);
	s->t->nprog = b.n;
	return s;
}

struct selector *selector_parse(const char *text)
{
	struct selector *s = selector_compile(text, NULL, 0);
	return s ? s : selector_alloc(text, SELECTOR_EXACT);
}

struct selector *selector_exact(const char *text)
{
	return selector_alloc(text, strcmp(text, "*") == 0 ? SELECTOR_ALL : SELECTOR_EXACT);
}

void selector_free(struct selector *s)
{
	if (!s)
		return;
	if (s->t) {
		free(s->t->prog);
		free(s->t->pieces);
		free(s->t);
	}
	free(s);
}

enum selector_kind selector_kind(const struct selector *s)
{
	return (enum selector_kind)s->kind;
}

const char *selector_text(const struct selector *s)
{
	return s->text;
}

/* ---- matching ----------------------------------------------------------- */

/* A live state: an instruction and the smallest prefix counter any thread
 * reached it with. A prefix loop only ever bounds its counter from above,
 * so the thread with the smallest counter can do all the others can. */
struct entry {
	uint32_t pc;
	uint16_t cnt;
	uint16_t queued; /* on the stack, waiting for its moves */
};

struct list {
	struct entry *e;
	uint32_t n;
};

/* Per-call scratch, each array nprog long: two lists, and for the list
 * being built the generation each pc was last added in and its index. */
struct scratch {
	struct list a, b;
	uint32_t *gen, *idx, *stack;
	uint32_t cur, sp;
};

static bool is_epsilon(int op)
{
	return op == I_JMP || op == I_SPLIT || op == I_CZERO || op == I_CINC;
}

/* Puts pc in l with counter cnt, unless it is there with a smaller or
 * equal counter; queues it for its moves. Stack entries are distinct, so
 * the stack never holds more than nprog. */
static inline void offer(const struct tmpl *tp, struct scratch *m, struct list *l, uint32_t pc, unsigned cnt)
{
	struct entry *e;
	if (m->gen[pc] == m->cur) {
		e = &l->e[m->idx[pc]];
		if (e->cnt <= cnt)
			return;
		e->cnt = (uint16_t)cnt;
		if (e->queued)
			return;
	} else {
		m->gen[pc] = m->cur;
		m->idx[pc] = l->n;
		e = &l->e[l->n++];
		e->pc = pc;
		e->cnt = (uint16_t)cnt;
		e->queued = 0;
	}
	if (is_epsilon(tp->prog[pc].op)) {
		e->queued = 1;
		m->stack[m->sp++] = pc;
	}
}

/* Adds pc and everything reachable from it without consuming a byte. */
static void add(const struct tmpl *tp, struct scratch *m, struct list *l, uint32_t pc, unsigned cnt)
{
	offer(tp, m, l, pc, cnt);
	while (m->sp) {
		uint32_t p = m->stack[--m->sp];
		struct entry *e = &l->e[m->idx[p]];
		const struct inst *in = &tp->prog[p];
		unsigned c = e->cnt;
		e->queued = 0;
		switch (in->op) {
		case I_JMP:
			offer(tp, m, l, in->x, c);
			break;
		case I_SPLIT:
			offer(tp, m, l, in->x, c);
			offer(tp, m, l, in->y, c);
			break;
		case I_CZERO:
			offer(tp, m, l, in->x, 0);
			break;
		case I_CINC:
			if (c < in->n)
				offer(tp, m, l, in->x, c + 1);
			break;
		}
	}
}

static bool run(const struct tmpl *tp, struct scratch *m, const unsigned char *p, size_t n)
{
	struct list *cl = &m->a, *nl = &m->b;
	memset(m->gen, 0, tp->nprog * sizeof *m->gen);
	m->cur = 1;
	m->sp = 0;
	cl->n = 0;
	add(tp, m, cl, 0, 0);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = p[i];
		unsigned f = cmap[c];
		m->cur++;
		nl->n = 0;
		for (uint32_t j = 0; j < cl->n; j++) {
			const struct entry *e = &cl->e[j];
			const struct inst *in = &tp->prog[e->pc];
			if ((in->op == I_BYTE && in->arg == c) || (in->op == I_CLASS && (f & in->arg)))
				add(tp, m, nl, in->x, e->cnt);
		}
		if (nl->n == 0)
			return false;
		struct list *t = cl;
		cl = nl;
		nl = t;
	}
	for (uint32_t j = 0; j < cl->n; j++)
		if (tp->prog[cl->e[j].pc].op == I_MATCH)
			return true;
	return false;
}

/* Skips a run of encoded characters of class mask from p[i]. */
static size_t skip_run(const unsigned char *p, size_t i, size_t n, unsigned mask)
{
	while (i < n) {
		if (cmap[p[i]] & mask)
			i++;
		else if (p[i] == '%' && i + 2 < n && is_hex(p[i + 1]) && is_hex(p[i + 2]))
			i += 3;
		else
			break;
	}
	return i;
}

/* The greedy path (see struct piece). A variable is defined when its
 * operator's first character is there (always, without one); its run then
 * takes all it can, since the next literal cannot start inside it. */
static bool run_pieces(const struct tmpl *tp, const char *text, const unsigned char *p, size_t n)
{
	size_t i = 0;
	for (uint32_t k = 0; k < tp->npieces; k++) {
		const struct piece *pc = &tp->pieces[k];
		if (!pc->first)
			i = skip_run(p, i, n, pc->mask);
		else if (i < n && p[i] == (unsigned char)pc->first)
			i = skip_run(p, i + 1, n, pc->mask);
		if (k + 1 == tp->npieces)
			break;
		if (n - i < pc->litlen || memcmp(p + i, text + pc->lit, pc->litlen) != 0)
			return false;
		i += pc->litlen;
	}
	return i == n;
}

/* Templates up to this many instructions (some 40 plain variables, fewer
 * exploded ones) match with scratch on the stack, 14 KB; larger ones
 * allocate it per call. */
#define SMALL_PROG 512

bool selector_match(const struct selector *s, const char *topic)
{
	if (s->kind == SELECTOR_ALL)
		return true;
	if (s->kind == SELECTOR_EXACT)
		return strcmp(s->text, topic) == 0;
	const struct tmpl *t = s->t;
	size_t n = strlen(topic);
	if (n < t->head + t->tail || memcmp(topic, s->text, t->head) != 0 ||
	    memcmp(topic + n - t->tail, s->text + t->len - t->tail, t->tail) != 0)
		return false;
	const unsigned char *mid = (const unsigned char *)topic + t->head;
	size_t midlen = n - t->head - t->tail;
	if (t->npieces)
		return run_pieces(t, s->text, mid, midlen);
	struct scratch m;
	if (t->nprog <= SMALL_PROG) {
		struct entry ea[SMALL_PROG], eb[SMALL_PROG];
		uint32_t gen[SMALL_PROG], idx[SMALL_PROG], stack[SMALL_PROG];
		m = (struct scratch){.a = {ea, 0}, .b = {eb, 0}, .gen = gen, .idx = idx, .stack = stack};
		return run(t, &m, mid, midlen);
	}
	size_t np = t->nprog;
	char *mem = xmalloc(np * (2 * sizeof(struct entry) + 3 * sizeof(uint32_t)));
	m = (struct scratch){
		.a = {(struct entry *)mem, 0},
		.b = {(struct entry *)mem + np, 0},
		.gen = (uint32_t *)(mem + 2 * np * sizeof(struct entry)),
	};
	m.idx = m.gen + np;
	m.stack = m.idx + np;
	bool ok = run(t, &m, mid, midlen);
	free(mem);
	return ok;
}
