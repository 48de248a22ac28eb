/* requests.h -- what each control request means: field checks (sizes,
 * counts, line breaks), publisher authorization, and the hub operation it
 * turns into, with its reply. Transport is ctl_server.c's business. */
#ifndef HUBD_REQUESTS_H
#define HUBD_REQUESTS_H

#include "ctl_server.h"

struct hub;
struct settings;
struct auth_cache;

struct requests {
	struct hub *hub;
	const struct settings *cfg;
	struct auth_cache *tokens; /* tokens verified before */
};

/* A ctl_handler_fn; arg is a struct requests (borrowed, outlives every
 * peer). Takes m's contents. A structurally wrong message (a field the
 * type does not take, a field count out of range, a missing fd) is
 * answered 400 and closes the peer; a wrong value is answered with its
 * HTTP status and the peer stays. */
void requests_handle(void *arg, struct ctl_peer *peer, struct ctl_msg *m);

#endif
