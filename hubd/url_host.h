/* url_host.h -- the WHATWG URL standard's host parser: domains, IPv4 in
 * every spelling the standard accepts, IPv6, and opaque hosts. */
#ifndef HUBD_URL_HOST_H
#define HUBD_URL_HOST_H

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

/* Parses the host text s[0..n) (borrowed) of a special (special = true)
 * or non-special URL and appends its serialization to out: a domain
 * percent-decoded and ASCII-lowercased, an IPv4 address as four decimal
 * numbers, an IPv6 address in brackets in its shortest form, an opaque
 * host percent-encoded. Returns 0, or -1 with a reason in err when the
 * standard calls it a failure, or when a domain holds a non-ASCII
 * character (no IDNA here). out may then hold part of an answer. An empty
 * s is a failure for a special URL and "" otherwise. Thread-safe. */
int url_host_parse(const char *s, size_t n, bool special, struct buf *out, char *err,
		   size_t errlen);

#endif
