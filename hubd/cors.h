/* cors.h -- cross-origin policy: which origins may use the hub from a
 * browser (CORS response headers) and which may publish with cookie
 * authentication (CSRF protection). Pure functions over the settings. */
#ifndef HUBD_CORS_H
#define HUBD_CORS_H

#include <stdbool.h>

#include "util.h"

/* True when origin is in list: origins separated by spaces or commas,
 * compared exactly (case-insensitively for the scheme and host), or "*"
 * for any. NULL or empty list, or NULL origin: false. */
bool cors_origin_listed(const char *list, const char *origin);

/* Appends the CORS response header lines (each ending in CRLF) for a
 * request from origin when list allows it: the origin echoed (a wildcard
 * list still echoes it: credentials are allowed, for cookies), credentials,
 * Vary: Origin, the headers a page may read; for a preflight also the
 * methods and request headers allowed. Appends nothing otherwise. hubd
 * and hub.fcgi (its retry answer) both use it. */
void cors_headers(const char *list, const char *origin, bool preflight, struct buf *out);

#endif
