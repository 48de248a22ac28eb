/* publish_listener.h -- hubd's own HTTP endpoint for publishers
 * (publish-listen = ADDR:PORT). An application server POSTs Mercure updates
 * to http://ADDR:PORT/.well-known/mercure straight to hubd, without the web
 * server and hub.fcgi in between: the same form, the same JWT and cookie
 * rules, the same checks and answers as the public endpoint (the request
 * becomes the same control fields: mercure_form.c, requests.c). Publishes
 * only: no subscriptions, history or CORS. Plain HTTP/1.1 with keep-alive
 * (libevent's evhttp): meant for loopback or an internal network. */
#ifndef HUBD_PUBLISH_LISTENER_H
#define HUBD_PUBLISH_LISTENER_H

#include <stddef.h>

struct event_base;
struct requests;
struct publish_listener;

/* Listens on addr ("127.0.0.1:3001", "[::1]:3001") and serves publishes
 * through rq (borrowed; must outlive the listener). Bodies longer than
 * max_body bytes are answered 413. Returns NULL with a reason in err when
 * the address is malformed or cannot be bound. */
struct publish_listener *publish_listener_start(struct event_base *base, const char *addr,
						struct requests *rq, size_t max_body,
						char *err, size_t errlen);

/* Stops accepting connections and answers every further request on the
 * open ones 503; pending publishes are still answered. */
void publish_listener_stop(struct publish_listener *l);

/* Closes every connection and frees l. Call it only when no publish is
 * pending any more (after the store has answered every queued append):
 * an answer to a freed listener's request would use freed memory. NULL is
 * a no-op. */
void publish_listener_free(struct publish_listener *l);

/* Publishes still waiting for the store's answer. */
int publish_listener_pending(const struct publish_listener *l);

#endif
