/* fcgi_record.c -- FastCGI record framing (pure; see fcgi_record.h). */
#include "config.h"

#include "fcgi_record.h"

#define FCGI_VERSION_1 1
#define FCGI_REQUEST_COMPLETE 0

void fcgi_header(unsigned char h[FCGI_RECORD_HEADER_LEN], uint8_t type, uint16_t request_id,
		 uint16_t content_len, uint8_t padding)
{
	h[0] = FCGI_VERSION_1;
	h[1] = type;
	h[2] = (unsigned char)(request_id >> 8);
	h[3] = (unsigned char)(request_id & 0xff);
	h[4] = (unsigned char)(content_len >> 8);
	h[5] = (unsigned char)(content_len & 0xff);
	h[6] = padding;
	h[7] = 0;
}

static void add_header(struct buf *out, uint8_t type, uint16_t request_id,
		       uint16_t content_len, uint8_t padding)
{
	unsigned char h[FCGI_RECORD_HEADER_LEN];
	fcgi_header(h, type, request_id, content_len, padding);
	buf_add(out, h, sizeof h);
}

uint8_t fcgi_padding(size_t content_len)
{
	return (uint8_t)((8 - (content_len % 8)) % 8);
}

void fcgi_append_end(struct buf *out, uint16_t request_id)
{
	/* FCGI_EndRequestBody: appStatus (4 bytes), protocolStatus, 3 reserved. */
	static const unsigned char body[8] = {0, 0, 0, 0, FCGI_REQUEST_COMPLETE, 0, 0, 0};
	add_header(out, FCGI_TYPE_STDOUT, request_id, 0, 0);
	add_header(out, FCGI_TYPE_END_REQUEST, request_id, sizeof body, 0);
	buf_add(out, body, sizeof body);
}
