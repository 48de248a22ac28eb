/* unicode.h -- the one Unicode property hubd needs: whether a code point
 * is a format character (general category Cf), which Mercure draft-08
 * forbids in matchers, ids and types. Pure. */
#ifndef HUBD_UNICODE_H
#define HUBD_UNICODE_H

#include <stdbool.h>
#include <stdint.h>

/* True when code point c has general category Cf in Unicode 15.0 (soft
 * hyphen, zero-width and bidirectional controls, the byte order mark,
 * interlinear annotation, tag characters, ...). Cannot fail. */
bool unicode_is_format(uint32_t c);

#endif
