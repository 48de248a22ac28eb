/* fuzz_http_form.c -- fuzzes the form, query and cookie parsers (http_form.c) and the Mercure fields built from them (mercure_form.c). */
#include "config.h"

#include <stdbool.h>

#include "ctl_proto.h"
#include "ctl_request.h"
#include "fuzz_input.h"
#include "http_form.h"
#include "mercure_form.h"
#include "msg.h"

/* Input: form \0 Authorization \0 Cookie \0 Origin \0 a cookie name. */

static bool is_space(char c)
{
	return c == ' ' || c == '\t';
}

/* The fields in p (emptied), which must be well formed; the caller
 * clears the result. */
static struct ctl_msg parse_payload(struct buf *p)
{
	struct ctl_msg m;
	fuzz_parse_payload(p, &m);
	return m;
}

/* Every field of a parsed form, percent-encoded and joined again, parses
 * back to the same fields. */
static void check_form(const struct http_form *f, const char *s, size_t len)
{
	size_t amps = 0;
	for (size_t i = 0; i < len; i++)
		amps += s[i] == '&';
	FUZZ_ASSERT(f->n <= amps + 1);
	struct buf again = {0};
	for (size_t i = 0; i < f->n; i++) {
		const struct http_field *fl = &f->fields[i];
		FUZZ_ASSERT(fl->name[fl->name_len] == '\0' && fl->value[fl->value_len] == '\0');
		FUZZ_ASSERT(fl->name_len + fl->value_len <= len);
		if (i)
			buf_addc(&again, '&');
		http_percent_encode(&again, fl->name, fl->name_len);
		buf_addc(&again, '=');
		http_percent_encode(&again, fl->value, fl->value_len);
	}
	struct http_form g = {0};
	char err[128];
	FUZZ_ASSERT(http_form_parse(&g, again.p ? again.p : "", again.len, err, sizeof err) == 0);
	FUZZ_ASSERT(g.n == f->n);
	for (size_t i = 0; i < f->n && i < g.n; i++) {
		FUZZ_ASSERT(g.fields[i].name_len == f->fields[i].name_len &&
			    memcmp(g.fields[i].name, f->fields[i].name, g.fields[i].name_len) == 0);
		FUZZ_ASSERT(g.fields[i].value_len == f->fields[i].value_len &&
			    memcmp(g.fields[i].value, f->fields[i].value, g.fields[i].value_len) == 0);
	}
	/* Lookups agree with a walk over the fields. */
	size_t topics = 0;
	for (const struct http_field *t = http_form_find(f, "topic"); t; t = http_form_next(f, t, "topic"))
		topics++;
	FUZZ_ASSERT(topics == http_form_count(f, "topic"));
	http_form_free(&g);
	buf_free(&again);
}

/* The publish fields of a form: well formed, and only what the checks let
 * through. */
static void check_publish(const struct http_form *f)
{
	struct buf p = {0};
	struct ctl_publish pub = {0}, back;
	char err[160];
	err[0] = '\0';
	int st = mercure_publish_form(f, &pub, err, sizeof err);
	if (st) {
		FUZZ_ASSERT(st == 400 && err[0] != '\0');
		ctl_publish_clear(&pub);
		return;
	}
	ctl_publish_encode(&pub, &p);
	struct ctl_msg m = parse_payload(&p);
	/* What hub.fcgi sends, hubd takes, unchanged. */
	m.type = CTL_PUBLISH;
	FUZZ_ASSERT(ctl_request_check(&m, err, sizeof err) == 0);
	FUZZ_ASSERT(ctl_publish_decode(&m, &back, SIZE_MAX, err, sizeof err) == 0);
	FUZZ_ASSERT(back.topics.n == pub.topics.n && back.data_len == pub.data_len &&
		    back.priv == pub.priv && back.http && !back.id == !pub.id);
	ctl_publish_clear(&back);
	ctl_publish_clear(&pub);
	int ntopics = ctl_count(&m, CTL_T_TOPIC);
	FUZZ_ASSERT(ntopics >= 1 && ntopics <= MSG_MAX_TOPICS);
	FUZZ_ASSERT(ntopics == (int)http_form_count(f, "topic"));
	for (int i = 0; i < m.nfields; i++) {
		const struct ctl_field *fl = &m.fields[i];
		if (fl->tag == CTL_T_TOPIC)
			FUZZ_ASSERT(fl->len >= 1 && fl->len <= MERCURE_TOPIC_MAX_LEN &&
				    !fuzz_has_control(fl->val, fl->len));
		if (fl->tag == CTL_T_ID)
			FUZZ_ASSERT(fl->len >= 1 && fl->val[0] != '#' &&
				    !fuzz_has_control(fl->val, fl->len));
		if (fl->tag == CTL_T_TYPE)
			FUZZ_ASSERT(!fuzz_has_control(fl->val, fl->len));
		if (fl->tag == CTL_T_RETRY || fl->tag == CTL_T_PRIVATE || fl->tag == CTL_T_HTTP)
			FUZZ_ASSERT(fl->len == 4);
	}
	FUZZ_ASSERT(ctl_count(&m, CTL_T_HTTP) == 1 && ctl_count(&m, CTL_T_DATA) <= 1);
	ctl_msg_clear(&m);
}

static void check_credentials(const char *auth, const struct http_form *q, const char *cookie,
			      const char *origin)
{
	struct buf p = {0};
	mercure_put_credentials(&p, auth, q, cookie, origin);
	struct ctl_msg m = parse_payload(&p);
	const struct ctl_field *a = ctl_find(&m, CTL_T_AUTH);
	uint32_t src = 0;
	bool has_src = ctl_field_u32(ctl_find(&m, CTL_T_AUTH_SOURCE), &src);
	FUZZ_ASSERT(!a == !has_src);
	FUZZ_ASSERT(!a || (a->len > 0 && src >= CTL_AUTH_HEADER && src <= CTL_AUTH_COOKIE));
	const struct ctl_field *o = ctl_find(&m, CTL_T_ORIGIN);
	FUZZ_ASSERT(!o || (o->len > 0 && o->len <= MERCURE_ORIGIN_MAX_LEN &&
			   !fuzz_has_control(o->val, o->len)));
	/* The Cookie header itself, for hubd's draft-08 cookie, only without
	 * an Authorization header's token. */
	const struct ctl_field *c = ctl_find(&m, CTL_T_COOKIE);
	FUZZ_ASSERT(!c || (src != CTL_AUTH_HEADER && c->len > 0 && c->len <= CTL_COOKIE_MAX_LEN &&
			   !fuzz_has_control(c->val, c->len)));
	FUZZ_ASSERT(m.nfields <= 4);
	ctl_msg_clear(&m);
}

/* The header helpers on one string: what they return lies inside it and
 * is trimmed as documented. */
static void check_headers(const char *auth, const char *cookie, const char *name)
{
	char *tok = http_bearer_token(auth);
	if (tok) {
		size_t n = strlen(tok);
		FUZZ_ASSERT(n > 0 && !is_space(tok[0]) && !is_space(tok[n - 1]));
		FUZZ_ASSERT(strstr(auth, tok) != NULL);
		free(tok);
	}
	char *v = http_cookie_get(cookie, name);
	if (v) {
		FUZZ_ASSERT(strstr(cookie, v) != NULL && !strchr(v, ';'));
		free(v);
	}
	(void)http_media_type_is(cookie, MERCURE_FORM_TYPE);
}

/* Percent-encoding is safe in a URL and a header, and decodes back. */
static void check_encoding(const char *s, size_t len)
{
	struct buf e = {0};
	http_percent_encode(&e, s, len);
	for (size_t i = 0; i < e.len; i++)
		FUZZ_ASSERT(e.p[i] > 0x20 && e.p[i] < 0x7f && e.p[i] != '&' && e.p[i] != '=' &&
			    e.p[i] != '+');
	char *d = http_path_decode(e.p ? e.p : "", e.len);
	FUZZ_ASSERT(!d == (memchr(s, '\0', len) != NULL));
	FUZZ_ASSERT(!d || (strlen(d) == len && memcmp(d, s, len) == 0));
	free(d);
	buf_free(&e);
	d = http_path_decode(s, len);
	FUZZ_ASSERT(!d || strlen(d) <= len);
	free(d);

	struct buf t = {0};
	http_text_body(&t, 400, s, len);
	FUZZ_ASSERT(t.len >= 2 && t.p[t.len - 1] == '\n' && t.len <= 1001);
	for (size_t i = 0; i + 1 < t.len; i++)
		FUZZ_ASSERT((unsigned char)t.p[i] >= 0x20 && t.p[i] != 0x7f);
	buf_free(&t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_parts in;
	fuzz_split(data, size, 5, &in);
	struct http_form f = {0};
	char err[128];
	err[0] = '\0';
	if (http_form_parse(&f, in.s[0], in.len[0], err, sizeof err) == 0) {
		check_form(&f, in.s[0], in.len[0]);
		check_publish(&f);
		check_credentials(in.s[1], &f, in.s[2], in.s[3]);
	} else {
		FUZZ_ASSERT(err[0] != '\0' && f.n == 0 && f.fields == NULL);
		check_credentials(in.s[1], NULL, in.s[2], in.s[3]);
	}
	http_form_free(&f);
	check_headers(in.s[1], in.s[2], in.len[4] ? in.s[4] : MERCURE_COOKIE_NAME);
	check_encoding(in.s[4], in.len[4]);
	fuzz_parts_free(&in);
	return 0;
}
