/* utf8.h -- strict UTF-8 decoding and the character rules Mercure sets for
 * topics and topic matchers: valid UTF-8, no C0 or C1 controls, no DEL, no
 * Unicode format characters (general category Cf, Unicode 15.0). */
#ifndef HUBD_UTF8_H
#define HUBD_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Decodes the UTF-8 sequence at s[0..n) (n > 0) into *cp and returns its
 * length in bytes (1 to 4), or 0 when it is not well-formed UTF-8 (RFC
 * 3629: no overlong forms, no surrogates, nothing past U+10FFFF, no
 * truncated sequence). Borrows s; cannot fail otherwise. */
size_t utf8_decode(const char *s, size_t n, uint32_t *cp);

/* True when s[0..n) is well-formed UTF-8 (utf8_decode's rules). Borrows s. */
bool utf8_valid(const char *s, size_t n);

/* True when cp is in general category Cf of Unicode 15.0 (a table of the
 * 21 ranges, 170 code points, in utf8.c). */
bool utf8_is_format(uint32_t cp);

/* True when s[0..n) is what Mercure allows in a topic or a matcher: valid
 * UTF-8 with no C0 control (U+0000..U+001F), DEL (U+007F), C1 control
 * (U+0080..U+009F) or Cf character. On false, err gets the reason and the
 * byte offset (for a log, not for the client). Borrows s. */
bool utf8_matcher_ok(const char *s, size_t n, char *err, size_t errlen);

#endif
