/* subscriptions.c -- subscription IRIs and JSON-LD objects. */
#include "config.h"

#include "subscriptions.h"

#include <string.h>

#define MERCURE_CONTEXT "https://mercure.rocks/"

static void add_encoded(struct buf *out, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		    *p == '-' || *p == '.' || *p == '_' || *p == '~') {
			buf_addc(out, (char)*p);
		} else {
			buf_addc(out, '%');
			buf_addc(out, hex[*p >> 4]);
			buf_addc(out, hex[*p & 15]);
		}
	}
}

/* The members both drafts end a subscription's object with, and its end. */
static void add_end(struct buf *out, const char *subscriber, bool active, const char *payload)
{
	buf_adds(out, ",\"subscriber\":");
	buf_add_json_string(out, subscriber, strlen(subscriber));
	buf_printf(out, ",\"active\":%s", active ? "true" : "false");
	if (payload)
		buf_printf(out, ",\"payload\":%s", payload);
	buf_addc(out, '}');
}

void subscriptions_iri(struct buf *out, const char *topic, const char *subscriber)
{
	buf_adds(out, SUBSCRIPTIONS_PATH);
	if (!topic)
		return;
	buf_addc(out, '/');
	add_encoded(out, topic);
	if (!subscriber)
		return;
	buf_addc(out, '/');
	add_encoded(out, subscriber);
}

void subscriptions_object(struct buf *out, const char *topic, const char *subscriber,
			  bool active, const char *payload, bool with_context)
{
	struct buf iri = {0};
	subscriptions_iri(&iri, topic, subscriber);
	buf_addc(out, '{');
	if (with_context)
		buf_adds(out, "\"@context\":\"" MERCURE_CONTEXT "\",");
	buf_adds(out, "\"id\":");
	buf_add_json_string(out, iri.p, iri.len);
	buf_adds(out, ",\"type\":\"Subscription\",\"topic\":");
	buf_add_json_string(out, topic, strlen(topic));
	add_end(out, subscriber, active, payload);
	buf_free(&iri);
}

void subscriptions_iri08(struct buf *out, const char *match_type, const char *match,
			 const char *subscriber)
{
	const char *parts[3] = {match_type, match, subscriber};
	buf_adds(out, SUBSCRIPTIONS_PATH);
	for (int i = 0; i < 3 && parts[i]; i++) {
		buf_addc(out, '/');
		add_encoded(out, parts[i]);
	}
}

void subscriptions_object08(struct buf *out, const char *match_type, const char *match,
			    const char *subscriber, bool active, const char *payload)
{
	struct buf iri = {0};
	subscriptions_iri08(&iri, match_type, match, subscriber);
	buf_adds(out, "{\"id\":");
	buf_add_json_string(out, iri.p, iri.len);
	buf_adds(out, ",\"type\":\"subscription\",\"match_type\":");
	buf_add_json_string(out, match_type, strlen(match_type));
	buf_adds(out, ",\"match\":");
	buf_add_json_string(out, match, strlen(match));
	add_end(out, subscriber, active, payload);
	buf_free(&iri);
}
