/* url_host.c -- the WHATWG URL host parser (see url_host.h). */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "url.h"
#include "url_host.h"

static int fail(char *err, size_t errlen, const char *why)
{
	if (errlen)
		snprintf(err, errlen, "%s", why);
	return -1;
}

/* Forbidden host code points (for opaque hosts; '%' is allowed there). */
static bool forbidden_host(unsigned char c)
{
	return c == 0 || c == '\t' || c == '\n' || c == '\r' || c == ' ' || c == '#' ||
	       c == '/' || c == ':' || c == '<' || c == '>' || c == '?' || c == '@' ||
	       c == '[' || c == '\\' || c == ']' || c == '^' || c == '|';
}

/* Forbidden domain code points: the above, C0 controls, '%' and DEL. */
static bool forbidden_domain(unsigned char c)
{
	return forbidden_host(c) || c < 0x20 || c == '%' || c == 0x7f;
}

/* ---- IPv6 ------------------------------------------------------------- */

/* The embedded dotted IPv4 at s[i..n) into pieces[*pi], pieces[*pi + 1]. */
static int ipv6_v4_tail(const char *s, size_t i, size_t n, uint16_t *pieces, int *pi)
{
	int seen = 0;
	if (*pi > 6)
		return -1;
	while (i < n) {
		int value = -1;
		if (seen > 0) {
			if (s[i] != '.' || seen >= 4)
				return -1;
			i++;
		}
		if (i >= n || s[i] < '0' || s[i] > '9')
			return -1;
		while (i < n && s[i] >= '0' && s[i] <= '9') {
			int d = s[i] - '0';
			if (value == 0)
				return -1; /* a leading zero */
			value = value < 0 ? d : value * 10 + d;
			if (value > 255)
				return -1;
			i++;
		}
		pieces[*pi] = (uint16_t)(pieces[*pi] * 0x100 + value);
		seen++;
		if (seen == 2 || seen == 4)
			(*pi)++;
	}
	return seen == 4 ? 0 : -1;
}

/* Parses s[0..n) (inside the brackets) into eight pieces. */
static int ipv6_parse(const char *s, size_t n, uint16_t pieces[8])
{
	int pi = 0, compress = -1;
	size_t i = 0;
	memset(pieces, 0, 8 * sizeof pieces[0]);
	if (i < n && s[i] == ':') {
		if (n < 2 || s[1] != ':')
			return -1;
		i = 2;
		compress = ++pi;
	}
	while (i < n) {
		if (pi == 8)
			return -1;
		if (s[i] == ':') {
			if (compress >= 0)
				return -1;
			i++;
			compress = ++pi;
			continue;
		}
		unsigned value = 0, len = 0;
		while (len < 4 && i < n && hex_value(s[i]) >= 0) {
			value = value * 16 + (unsigned)hex_value(s[i]);
			i++;
			len++;
		}
		if (i < n && s[i] == '.') {
			if (len == 0)
				return -1;
			if (ipv6_v4_tail(s, i - len, n, pieces, &pi) < 0)
				return -1;
			i = n;
			break;
		}
		if (i < n && s[i] == ':') {
			i++;
			if (i >= n)
				return -1;
		} else if (i < n) {
			return -1;
		}
		pieces[pi++] = (uint16_t)value;
	}
	if (compress >= 0) {
		int swaps = pi - compress;
		pi = 7;
		while (pi != 0 && swaps > 0) {
			uint16_t t = pieces[pi];
			pieces[pi] = pieces[compress + swaps - 1];
			pieces[compress + swaps - 1] = t;
			pi--;
			swaps--;
		}
	} else if (pi != 8) {
		return -1;
	}
	return 0;
}

/* The serialization: the first longest run of two or more zero pieces as
 * "::", hex in lowercase without leading zeros. */
static void ipv6_serialize(const uint16_t pieces[8], struct buf *out)
{
	int best = -1, best_len = 1;
	for (int i = 0; i < 8;) {
		int j = i;
		while (j < 8 && pieces[j] == 0)
			j++;
		if (j - i > best_len) {
			best = i;
			best_len = j - i;
		}
		i = j > i ? j : i + 1;
	}
	buf_addc(out, '[');
	bool ignore0 = false;
	for (int i = 0; i < 8; i++) {
		if (ignore0 && pieces[i] == 0)
			continue;
		ignore0 = false;
		if (i == best) {
			buf_adds(out, i == 0 ? "::" : ":");
			ignore0 = true;
			continue;
		}
		buf_printf(out, "%x", pieces[i]);
		if (i != 7)
			buf_addc(out, ':');
	}
	buf_addc(out, ']');
}

/* ---- IPv4 ------------------------------------------------------------- */

/* One IPv4 part: decimal, 0x hex or 0 octal. -1 when not a number. */
static int ipv4_number(const char *s, size_t n, uint64_t *out)
{
	unsigned radix = 10;
	if (n == 0)
		return -1;
	if (n >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		radix = 16;
		s += 2;
		n -= 2;
	} else if (n >= 2 && s[0] == '0') {
		radix = 8;
		s++;
		n--;
	}
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		int d = hex_value(s[i]);
		if (d < 0 || (unsigned)d >= radix)
			return -1;
		if (v > UINT32_MAX)
			v = (uint64_t)UINT32_MAX + 1; /* too large whatever follows */
		else
			v = v * radix + (unsigned)d;
	}
	*out = v;
	return 0;
}

/* The standard's "ends in a number": the last label (a trailing empty one
 * dropped) is all digits or parses as an IPv4 number. */
static bool ends_in_number(const char *s, size_t n)
{
	if (n && s[n - 1] == '.')
		n--;
	size_t start = n;
	while (start > 0 && s[start - 1] != '.')
		start--;
	if (start == n)
		return false;
	bool digits = true;
	for (size_t i = start; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			digits = false;
	uint64_t v;
	return digits || ipv4_number(s + start, n - start, &v) == 0;
}

static int ipv4_parse(const char *s, size_t n, struct buf *out, char *err, size_t errlen)
{
	uint64_t parts[4];
	int count = 0;
	if (n && s[n - 1] == '.')
		n--; /* one trailing dot is allowed */
	size_t i = 0;
	while (i <= n) {
		size_t j = i;
		while (j < n && s[j] != '.')
			j++;
		if (count == 4 || ipv4_number(s + i, j - i, &parts[count]) < 0)
			return fail(err, errlen, "invalid IPv4 address");
		count++;
		i = j + 1;
	}
	for (int k = 0; k < count - 1; k++)
		if (parts[k] > 255)
			return fail(err, errlen, "IPv4 part out of range");
	if (parts[count - 1] >= (uint64_t)1 << (8 * (5 - count)))
		return fail(err, errlen, "IPv4 address out of range");
	uint64_t v = parts[count - 1];
	for (int k = 0; k < count - 1; k++)
		v += parts[k] << (8 * (3 - k));
	buf_printf(out, "%u.%u.%u.%u", (unsigned)(v >> 24) & 255, (unsigned)(v >> 16) & 255,
		   (unsigned)(v >> 8) & 255, (unsigned)v & 255);
	return 0;
}

/* ---- hosts ------------------------------------------------------------ */

static int opaque_host(const char *s, size_t n, struct buf *out, char *err, size_t errlen)
{
	for (size_t i = 0; i < n; i++)
		if (forbidden_host((unsigned char)s[i]))
			return fail(err, errlen, "forbidden host code point");
	url_pct_encode(out, s, n, URL_ENC_C0);
	return 0;
}

/* A special URL's domain: percent-decoded, ASCII only, lowercased. */
static int domain(const char *s, size_t n, struct buf *out, char *err, size_t errlen)
{
	struct buf d = {0};
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		int pct = url_pct_byte(s, n, i);
		if (pct >= 0) {
			c = (unsigned char)pct;
			i += 2;
		}
		if (c >= 0x80) {
			rc = fail(err, errlen, "non-ASCII host (IDNA is not supported)");
			break;
		}
		buf_addc(&d, (char)(c >= 'A' && c <= 'Z' ? c + 32 : c));
	}
	for (size_t i = 0; rc == 0 && i < d.len; i++)
		if (forbidden_domain((unsigned char)d.p[i]))
			rc = fail(err, errlen, "forbidden domain code point");
	if (rc == 0 && d.len == 0)
		rc = fail(err, errlen, "empty host");
	if (rc == 0 && ends_in_number(d.p, d.len))
		rc = ipv4_parse(d.p, d.len, out, err, errlen);
	else if (rc == 0)
		buf_add(out, d.p, d.len);
	buf_free(&d);
	return rc;
}

int url_host_parse(const char *s, size_t n, bool special, struct buf *out, char *err,
		   size_t errlen)
{
	if (n && s[0] == '[') {
		uint16_t pieces[8];
		if (n < 2 || s[n - 1] != ']' || ipv6_parse(s + 1, n - 2, pieces) < 0)
			return fail(err, errlen, "invalid IPv6 address");
		ipv6_serialize(pieces, out);
		return 0;
	}
	if (!special)
		return opaque_host(s, n, out, err, errlen);
	if (n == 0)
		return fail(err, errlen, "empty host");
	return domain(s, n, out, err, errlen);
}
