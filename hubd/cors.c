/* cors.c -- CORS headers and the origin lists (see cors.h). */
#include "config.h"

#include "cors.h"

#include <string.h>
#include <strings.h>

bool cors_origin_listed(const char *list, const char *origin)
{
	if (!list || !origin || !*origin)
		return false;
	size_t olen = strlen(origin);
	const char *p = list;
	while (*p) {
		p += strspn(p, " ,\t");
		size_t n = strcspn(p, " ,\t");
		if (n == 1 && *p == '*')
			return true;
		if (n > 0 && n == olen && strncasecmp(p, origin, n) == 0)
			return true;
		p += n;
	}
	return false;
}

void cors_headers(const char *list, const char *origin, bool preflight, struct buf *out)
{
	if (!cors_origin_listed(list, origin) || has_line_break(origin, strlen(origin)))
		return;
	buf_printf(out,
		   "Access-Control-Allow-Origin: %s\r\n"
		   "Access-Control-Allow-Credentials: true\r\n"
		   "Vary: Origin\r\n",
		   origin);
	if (preflight)
		buf_adds(out, "Access-Control-Allow-Methods: GET, POST, QUERY, OPTIONS\r\n"
			      "Access-Control-Allow-Headers: Authorization, Cache-Control, "
			      "Content-Type, Last-Event-ID\r\n"
			      "Access-Control-Max-Age: 600\r\n");
	else
		buf_adds(out, "Access-Control-Expose-Headers: Last-Event-ID, Link, "
			      "X-Hubd-Replay, X-Hubd-Status, Retry-After\r\n");
}
