/* requests.h -- what each control request means: field checks (sizes,
 * counts, line breaks), publisher authorization, and the hub operation it
 * turns into, with its reply. Transport is ctl_server.c's business. */
#ifndef HUBD_REQUESTS_H
#define HUBD_REQUESTS_H

#include "ctl_request.h"
#include "ctl_server.h"

struct hub;
struct settings;
struct auth_cache;

struct url;

struct requests {
	struct hub *hub;
	const struct settings *cfg;
	struct auth_cache *tokens; /* draft-07 tokens verified before */
	const struct url *hub_url; /* the hub's URL (resource, or the default):
				    * URL patterns' base, the reserved path */
};

/* A ctl_handler_fn; arg is a struct requests (borrowed, outlives every
 * peer). Takes m's contents. A structurally wrong message (a field the
 * type does not take, a field count out of range, a missing fd) is
 * answered 400 and closes the peer; a wrong value is answered with its
 * HTTP status and the peer stays. */
void requests_handle(void *arg, struct ctl_peer *peer, struct ctl_msg *m);

/* How a publish that did not come over the control socket is answered:
 * status 200 with the update's id as text, or an HTTP error status with
 * its reason and headers (NULL, or response header lines each ending in
 * CRLF: CORS, a WWW-Authenticate challenge). Both borrowed for the call. */
typedef void (*requests_done_fn)(void *arg, int status, const char *text, const char *headers);

/* Checks, authorizes and performs the publish pub exactly as a
 * CTL_PUBLISH from hub.fcgi (pub as mercure_publish_form and
 * mercure_credentials fill it). Takes pub's contents (pub is left
 * cleared). done(arg) is called exactly once, at once (a refused publish)
 * or when the store has the update. */
void requests_publish(struct requests *rq, struct ctl_publish *pub, requests_done_fn done,
		      void *arg);

#endif
