/* util.h -- allocation wrappers, a growable byte buffer and small helpers
 * shared by hubd, hub.fcgi and hubctl. */
#ifndef HUBD_UTIL_H
#define HUBD_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Allocation that cannot usefully fail: on out-of-memory these print a
 * message and abort(), so callers need no NULL checks. */
void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xmemdup(const void *p, size_t n); /* copies n bytes and adds a NUL */
/* What malloc(n) takes from the heap on 64-bit glibc: n plus the 8-byte
 * chunk header, rounded up to 16, at least 32 (0 for 0). An estimate for
 * memory accounting (outq, msg); other allocators differ a little. */
static inline size_t heap_size(size_t n)
{
	size_t c = (n + 8 + 15) & ~(size_t)15;
	return n == 0 ? 0 : c < 32 ? 32 : c;
}

/* A growable byte buffer. Zero-initialise ({0}) before use; buf_free()
 * releases the memory and leaves an empty buffer. The contents are always
 * NUL-terminated past len once anything was added. Cannot fail (aborts on
 * OOM). */
struct buf {
	char *p;
	size_t len;
	size_t cap;
};
void buf_reserve(struct buf *b, size_t extra);
void buf_add(struct buf *b, const void *data, size_t n); /* copies */
void buf_adds(struct buf *b, const char *s);              /* copies */
void buf_addc(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_free(struct buf *b);
/* Hands the bytes to the caller (who must free() them) and empties b. */
char *buf_steal(struct buf *b, size_t *len);

/* Milliseconds since the Unix epoch (CLOCK_REALTIME). */
int64_t now_ms(void);
/* Milliseconds from CLOCK_MONOTONIC. */
int64_t mono_ms(void);

/* The value of the hex digit c (either case), or -1. */
int hex_value(char c);

/* True when s has a CR or LF in its first n bytes. */
bool has_line_break(const char *s, size_t n);

/* Parses a whole decimal string of digits only into *out (no sign, no
 * spaces, no overflow past max). Returns false on anything else. */
bool parse_digits(const char *s, uint64_t max, uint64_t *out);

/* Appends s to b as a JSON string literal (with quotes), escaping as JSON
 * requires; invalid UTF-8 bytes become U+FFFD. */
void buf_add_json_string(struct buf *b, const char *s, size_t n);

/* Writes n random bytes from getrandom(2). Returns false on failure. */
bool random_bytes(void *p, size_t n);

/* Parses a range "LO-HI" or a single value "N" (LO = HI = N), each a whole
 * decimal number as parse_digits takes it, with LO <= HI <= max, into *lo
 * and *hi. Returns false on anything else, leaving both alone. */
bool parse_range(const char *s, uint64_t max, uint64_t *lo, uint64_t *hi);

/* A number drawn evenly from [lo, hi] (lo <= hi), for jitter: reconnection
 * delays that must not come in step. From getrandom(2), or from the clock
 * when that fails; not for secrets. Cannot fail. */
uint64_t random_between(uint64_t lo, uint64_t hi);

#endif
