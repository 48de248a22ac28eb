/* utf8.c -- strict UTF-8 decoding and Mercure's character rules for topics
 * and matchers (see utf8.h). */
#include "config.h"

#include "utf8.h"

#include <stdio.h>

size_t utf8_decode(const char *s, size_t n, uint32_t *cp)
{
	const unsigned char *p = (const unsigned char *)s;
	uint32_t c = p[0];
	size_t len;
	uint32_t min;
	if (c < 0x80) {
		*cp = c;
		return 1;
	} else if (c >= 0xc2 && c <= 0xdf) {
		len = 2, min = 0x80, c &= 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3, min = 0x800, c &= 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4, min = 0x10000, c &= 0x07;
	} else {
		return 0; /* a continuation byte, 0xc0/0xc1 (overlong) or 0xf5.. */
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (p[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

/* General category Cf in Unicode 15.0.0 (DerivedGeneralCategory.txt), in
 * order: 21 ranges, 170 code points. Checked against ICU 72 (Unicode 15.0),
 * u_charType() == U_FORMAT_CHAR over every code point. Unicode 15.0 added
 * U+13439..U+1343F (Egyptian hieroglyph format controls) to Unicode 14's
 * set. */
static const struct {
	uint32_t lo, hi;
} format_ranges[] = {
	{0x00AD, 0x00AD},   /* SOFT HYPHEN */
	{0x0600, 0x0605},   /* ARABIC NUMBER SIGN..ARABIC NUMBER MARK ABOVE */
	{0x061C, 0x061C},   /* ARABIC LETTER MARK */
	{0x06DD, 0x06DD},   /* ARABIC END OF AYAH */
	{0x070F, 0x070F},   /* SYRIAC ABBREVIATION MARK */
	{0x0890, 0x0891},   /* ARABIC POUND MARK ABOVE..PIASTRE MARK ABOVE */
	{0x08E2, 0x08E2},   /* ARABIC DISPUTED END OF AYAH */
	{0x180E, 0x180E},   /* MONGOLIAN VOWEL SEPARATOR */
	{0x200B, 0x200F},   /* ZERO WIDTH SPACE..RIGHT-TO-LEFT MARK */
	{0x202A, 0x202E},   /* LEFT-TO-RIGHT EMBEDDING..RIGHT-TO-LEFT OVERRIDE */
	{0x2060, 0x2064},   /* WORD JOINER..INVISIBLE PLUS */
	{0x2066, 0x206F},   /* LEFT-TO-RIGHT ISOLATE..NOMINAL DIGIT SHAPES */
	{0xFEFF, 0xFEFF},   /* ZERO WIDTH NO-BREAK SPACE (BOM) */
	{0xFFF9, 0xFFFB},   /* INTERLINEAR ANNOTATION ANCHOR..TERMINATOR */
	{0x110BD, 0x110BD}, /* KAITHI NUMBER SIGN */
	{0x110CD, 0x110CD}, /* KAITHI NUMBER SIGN ABOVE */
	{0x13430, 0x1343F}, /* EGYPTIAN HIEROGLYPH VERTICAL JOINER..END WALLED ENCLOSURE */
	{0x1BCA0, 0x1BCA3}, /* SHORTHAND FORMAT LETTER OVERLAP..UP STEP */
	{0x1D173, 0x1D17A}, /* MUSICAL SYMBOL BEGIN BEAM..END PHRASE */
	{0xE0001, 0xE0001}, /* LANGUAGE TAG */
	{0xE0020, 0xE007F}, /* TAG SPACE..CANCEL TAG */
};

bool utf8_is_format(uint32_t cp)
{
	size_t lo = 0, hi = sizeof format_ranges / sizeof format_ranges[0];
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (cp < format_ranges[mid].lo)
			hi = mid;
		else if (cp > format_ranges[mid].hi)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

bool utf8_valid(const char *s, size_t n)
{
	uint32_t cp;
	for (size_t i = 0, len; i < n; i += len)
		if (!(len = utf8_decode(s + i, n - i, &cp)))
			return false;
	return true;
}

bool utf8_matcher_ok(const char *s, size_t n, char *err, size_t errlen)
{
	for (size_t i = 0; i < n;) {
		uint32_t cp;
		size_t len = utf8_decode(s + i, n - i, &cp);
		if (len == 0) {
			snprintf(err, errlen, "invalid UTF-8 at byte %zu", i);
			return false;
		}
		if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f)) {
			snprintf(err, errlen, "control character U+%04X at byte %zu", (unsigned)cp, i);
			return false;
		}
		if (utf8_is_format(cp)) {
			snprintf(err, errlen, "format character U+%04X at byte %zu", (unsigned)cp, i);
			return false;
		}
		i += len;
	}
	return true;
}
