/* selector_ref.h -- a second reading of selector.h's matching rules, for
 * fuzz_selector: a template written as a POSIX extended regular
 * expression, so that libc's regexec can judge the automaton and the
 * greedy path on any topic, near misses included. Header-only. */
#ifndef HUBD_SELECTOR_REF_H
#define HUBD_SELECTOR_REF_H

#include <regex.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Byte classes as bracket expressions (']' first, '-' last). */
#define REF_U "A-Za-z0-9._~"
#define REF_R "]:/?#[@!$&'()*+,;="
#define REF_HEX "[0-9A-Fa-f]"
#define REF_LEAD "%%[0-7C-Fc-f]" REF_HEX /* a triplet that starts a character (printf) */
#define REF_CONT "%%[89ABab]" REF_HEX    /* a UTF-8 continuation triplet (printf) */

enum { REF_PLAIN, REF_COMMA, REF_SLASH, REF_RESERVED }; /* what a run takes */

static inline const char *ref_class(int cls)
{
	switch (cls) {
	case REF_COMMA: return "[" REF_U ",-]";
	case REF_SLASH: return "[" REF_U "/-]";
	case REF_RESERVED: return "[" REF_R REF_U "-]";
	}
	return "[" REF_U "-]";
}

/* Encoded characters of class cls: any number (at least one when
 * nonempty), at most max counted ones when max > 0, where a continuation
 * triplet counts for nothing. */
static inline void ref_run(struct buf *re, int cls, bool nonempty, unsigned max)
{
	const char *c = ref_class(cls);
	if (!max) {
		buf_printf(re, "(%s|%%" REF_HEX REF_HEX ")%c", c, nonempty ? '+' : '*');
		return;
	}
	if (!nonempty) {
		buf_printf(re, "(" REF_CONT ")*((%s|" REF_LEAD ")(" REF_CONT ")*){0,%u}", c, max);
		return;
	}
	buf_printf(re, "((" REF_CONT ")+((%s|" REF_LEAD ")(" REF_CONT ")*){0,%u}|", c, max);
	buf_printf(re, "(" REF_CONT ")*((%s|" REF_LEAD ")(" REF_CONT ")*){1,%u})", c, max);
}

/* One byte, as itself. */
static inline void ref_byte(struct buf *re, char c)
{
	if (strchr(".[]()*+?{}|^$\\", c))
		buf_addc(re, '\\');
	buf_addc(re, c);
}

struct ref_var {
	const char *name;
	size_t len;
	unsigned prefix;
	bool explode;
};

/* What one defined variable expands to under operator op. */
static inline void ref_var(struct buf *re, char op, const struct ref_var *v)
{
	bool named = op == ';' || op == '?' || op == '&';
	char sep = op == '.' || op == '/' || op == ';' ? op : named ? '&' : ',';
	if (op == '+' || op == '#') {
		ref_run(re, REF_RESERVED, false, v->prefix);
	} else if (!named && v->prefix) {
		ref_run(re, REF_PLAIN, false, v->prefix);
	} else if (!named && !v->explode) {
		ref_run(re, REF_COMMA, false, 0);
	} else if (!named) {
		/* A string or list, or key=value pairs joined by sep. */
		buf_adds(re, "(");
		ref_run(re, sep == ',' ? REF_COMMA : sep == '/' ? REF_SLASH : REF_PLAIN, false, 0);
		buf_adds(re, "|");
		for (int k = 0; k < 2; k++) {
			if (k) {
				buf_adds(re, "(");
				ref_byte(re, sep);
			}
			ref_run(re, REF_PLAIN, true, 0);
			buf_adds(re, "=");
			ref_run(re, REF_PLAIN, false, 0);
		}
		buf_adds(re, ")*)");
	} else if (v->explode) {
		/* Items key[=value] joined by sep. */
		for (int k = 0; k < 2; k++) {
			if (k) {
				buf_adds(re, "(");
				ref_byte(re, sep);
			}
			ref_run(re, REF_PLAIN, true, 0);
			buf_adds(re, op == ';' ? "(=" : "=");
			ref_run(re, REF_PLAIN, op == ';', 0);
			if (op == ';')
				buf_adds(re, ")?");
		}
		buf_adds(re, ")*");
	} else {
		for (size_t i = 0; i < v->len; i++)
			ref_byte(re, v->name[i]);
		int cls = v->prefix ? REF_PLAIN : REF_COMMA;
		buf_adds(re, op == ';' ? "(=" : "=");
		ref_run(re, cls, op == ';' && v->prefix, v->prefix);
		if (op == ';')
			buf_adds(re, ")?");
	}
}

/* The variables of an expression, each defined or not: the first
 * defined one comes after the operator's first character, the others
 * after its separator. */
static inline void ref_vars(struct buf *re, char op, const struct ref_var *vars, int n)
{
	bool named = op == ';' || op == '?' || op == '&';
	char first = op == '+' || !op ? '\0' : op;
	char sep = op == '.' || op == '/' || op == ';' ? op : named ? '&' : ',';
	buf_adds(re, "(");
	for (int j = 0; j < n; j++) {
		if (j)
			buf_adds(re, "|");
		if (first)
			ref_byte(re, first);
		ref_var(re, op, &vars[j]);
		for (int k = j + 1; k < n; k++) {
			buf_adds(re, "(");
			ref_byte(re, sep);
			ref_var(re, op, &vars[k]);
			buf_adds(re, ")?");
		}
	}
	buf_adds(re, ")?");
}

/* Writes the template text (one that selector_compile took) as an
 * anchored regular expression into re. Returns false, with nothing to
 * compare, when it is too big for this check: an expression of more than
 * 6 variables or a prefix over 32. */
static inline bool selector_ref_regex(const char *text, struct buf *re)
{
	buf_addc(re, '^');
	for (const char *p = text; *p;) {
		if (*p != '{') {
			ref_byte(re, *p++);
			continue;
		}
		const char *close = strchr(p, '}');
		const char *e = p + 1;
		char op = strchr("+#./;?&", *e) ? *e++ : '\0';
		struct ref_var vars[6];
		int n = 0;
		while (e <= close) {
			const char *end = e;
			while (end < close && *end != ',')
				end++;
			if (n == 6)
				return false;
			struct ref_var *v = &vars[n++];
			v->name = e;
			v->len = strcspn(e, ":*,}");
			v->prefix = e[v->len] == ':' ? (unsigned)strtoul(e + v->len + 1, NULL, 10) : 0;
			v->explode = e[v->len] == '*';
			if (v->prefix > 32)
				return false;
			e = end + 1;
		}
		ref_vars(re, op, vars, n);
		p = close + 1;
	}
	buf_addc(re, '$');
	return true;
}

#endif
