/* subscriptions.h -- the Mercure subscriptions API's documents: the IRI of
 * a subscription and its object, as sent in the connect/disconnect updates
 * and in GET /.well-known/mercure/subscriptions: draft-07's JSON-LD
 * (/subscriptions/{topic}/{subscriber}) and draft-08's plain JSON
 * (/subscriptions/{match_type}/{match}/{subscriber}). Pure encoding. */
#ifndef HUBD_SUBSCRIPTIONS_H
#define HUBD_SUBSCRIPTIONS_H

#include <stdbool.h>

#include "util.h"

#define SUBSCRIPTIONS_PATH "/.well-known/mercure/subscriptions"

/* Appends SUBSCRIPTIONS_PATH, then "/" + topic and "/" + subscriber,
 * percent-encoded (all but RFC 3986 unreserved characters), for those that
 * are non-NULL (subscriber only after a topic). */
void subscriptions_iri(struct buf *out, const char *topic, const char *subscriber);

/* Appends the JSON-LD object of one subscription: id (its IRI), type
 * "Subscription", topic, subscriber, active, and payload (JSON text, or
 * NULL for none). with_context adds "@context". */
void subscriptions_object(struct buf *out, const char *topic, const char *subscriber,
			  bool active, const char *payload, bool with_context);

/* Draft-08: appends SUBSCRIPTIONS_PATH, then "/" + match_type, "/" +
 * match and "/" + subscriber, each percent-encoded once (all but RFC 3986
 * unreserved characters), for those that are non-NULL (each only after
 * the one before). */
void subscriptions_iri08(struct buf *out, const char *match_type, const char *match,
			 const char *subscriber);

/* Draft-08: appends the JSON document of one subscription: id (its IRI,
 * also the topic of its events), type "subscription", match_type, match,
 * subscriber, active, and payload (JSON text, or NULL for none). */
void subscriptions_object08(struct buf *out, const char *match_type, const char *match,
			    const char *subscriber, bool active, const char *payload);

#endif
