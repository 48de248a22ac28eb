/* fuzz_input.h -- what every fuzz target shares: FUZZ_ASSERT, and cutting
 * the fuzzer's bytes into NUL-separated pieces, each a malloc'ed copy of
 * its own size so that AddressSanitizer sees any read past its end; and
 * parsing the control fields the code under test built. Header-only,
 * included once per target. */
#ifndef HUBD_FUZZ_INPUT_H
#define HUBD_FUZZ_INPUT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_proto.h"

/* A property the code under test must hold: a report and abort(), which
 * libFuzzer records as a crash with the input that caused it. */
#define FUZZ_ASSERT(cond)                                                           \
	do {                                                                        \
		if (!(cond)) {                                                      \
			fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__,   \
				__LINE__, #cond);                                   \
			abort();                                                    \
		}                                                                   \
	} while (0)

/* libFuzzer calls it once per input; it returns 0. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_PARTS_MAX 16

/* Pieces of an input: s[i] holds len[i] bytes plus a NUL. */
struct fuzz_parts {
	char *s[FUZZ_PARTS_MAX];
	size_t len[FUZZ_PARTS_MAX];
	int n;
};

/* Cuts data at its first max - 1 NUL bytes into exactly max pieces (the
 * last one keeps the rest, NULs included; missing pieces are empty).
 * Cannot fail (aborts on OOM). Free with fuzz_parts_free. */
static inline void fuzz_split(const uint8_t *data, size_t size, int max, struct fuzz_parts *p)
{
	p->n = max;
	for (int i = 0; i < max; i++) {
		size_t n = size;
		if (i + 1 < max) {
			const uint8_t *z = memchr(data, 0, size);
			n = z ? (size_t)(z - data) : size;
		}
		p->s[i] = malloc(n + 1);
		if (!p->s[i])
			abort();
		if (n)
			memcpy(p->s[i], data, n);
		p->s[i][n] = '\0';
		p->len[i] = n;
		data += n;
		size -= n;
		if (size) { /* the NUL */
			data++;
			size--;
		}
	}
}

/* True when s[0..n) holds a control character (below 0x20, or 0x7f):
 * written here, apart from the code under test's own check. */
static inline bool fuzz_has_control(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return true;
	return false;
}

/* Moves the control payload p (built by the code under test) into *m and
 * parses its fields, which must be well formed. The caller clears m. */
static inline void fuzz_parse_payload(struct buf *p, struct ctl_msg *m)
{
	char err[160];
	memset(m, 0, offsetof(struct ctl_msg, fields));
	m->fd = -1;
	m->payload = buf_steal(p, &m->len);
	FUZZ_ASSERT(ctl_parse_fields(m, err, sizeof err) == 0);
}

static inline void fuzz_parts_free(struct fuzz_parts *p)
{
	for (int i = 0; i < p->n; i++)
		free(p->s[i]);
	p->n = 0;
}

#endif
