/* fcgi_decode.h -- the unit tests' FastCGI record reader: checks the
 * framing hubd writes and collects the STDOUT content. */
#ifndef HUBD_TEST_FCGI_DECODE_H
#define HUBD_TEST_FCGI_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include "fcgi_record.h"
#include "util.h"

/* Decodes the records in p[0..len): each must be version 1, for want_id,
 * padded to 8 bytes, and STDOUT or an 8-byte END_REQUEST (which sets
 * *ended). STDOUT content is appended to out; *content_records (may be
 * NULL) counts the STDOUT records that carry content. Returns the number
 * of records, -1 on a framing error. */
static inline int fcgi_decode(const void *data, size_t len, uint16_t want_id, struct buf *out,
			      int *ended, int *content_records)
{
	const unsigned char *p = data;
	int n = 0, with_content = 0;
	*ended = 0;
	while (len > 0) {
		if (len < 8 || p[0] != 1)
			return -1;
		uint16_t id = (uint16_t)(p[2] << 8 | p[3]);
		size_t clen = (size_t)(p[4] << 8 | p[5]), pad = p[6];
		if (id != want_id || len < 8 + clen + pad || (clen + pad) % 8 != 0)
			return -1;
		if (p[1] == FCGI_TYPE_STDOUT) {
			buf_add(out, p + 8, clen);
			with_content += clen > 0;
		} else if (p[1] == FCGI_TYPE_END_REQUEST && clen == 8) {
			*ended = 1;
		} else {
			return -1;
		}
		p += 8 + clen + pad;
		len -= 8 + clen + pad;
		n++;
	}
	if (content_records)
		*content_records = with_content;
	return n;
}

#endif
