/* fcgi_record.h -- FastCGI record framing (FCGI_STDOUT, FCGI_END_REQUEST).
 * Pure functions: no I/O. Connection handling lives elsewhere. */
#ifndef HUBD_FCGI_RECORD_H
#define HUBD_FCGI_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define FCGI_RECORD_HEADER_LEN 8
#define FCGI_RECORD_MAX_CONTENT 65535
#define FCGI_TYPE_END_REQUEST 3
#define FCGI_TYPE_STDOUT 6

/* Appends the end of a response: an empty FCGI_STDOUT record, then
 * FCGI_END_REQUEST with appStatus 0 and FCGI_REQUEST_COMPLETE. */
void fcgi_append_end(struct buf *out, uint16_t request_id);

/* Writes the 8-byte header of one record into h. Streams frame their
 * content at write time with it (outq.c: records of at most
 * FCGI_RECORD_MAX_CONTENT bytes, padded with fcgi_padding). */
void fcgi_header(unsigned char h[FCGI_RECORD_HEADER_LEN], uint8_t type, uint16_t request_id,
		 uint16_t content_len, uint8_t padding);
/* The padding that makes content_len + padding a multiple of 8. */
uint8_t fcgi_padding(size_t content_len);

#endif
