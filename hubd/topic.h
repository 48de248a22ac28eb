/* topic.h -- the topic registry: which subscribers listen to which exact
 * topic, so that an update touches only its own subscribers. A hash table
 * of topics, each with a list of subscription links. The selector "*" is
 * kept as a topic of its own that every update also visits. */
#ifndef HUBD_TOPIC_H
#define HUBD_TOPIC_H

#include <stddef.h>

struct topic_link;

struct topic {
	char *name;
	struct topic_link *links; /* subscribers of this topic */
	size_t nlinks;
	struct topic *next;       /* hash chain */
	unsigned hash;
};

/* One subscriber's subscription to one topic: the subscriber's memory
 * (inside it, for one topic), linked into the registry while subscribed. */
struct topic_link {
	struct topic *topic;
	void *sub; /* the subscriber; borrowed */
	struct topic_link *prev, *next;
};

struct topic_registry;

/* Creates an empty registry. Cannot fail. */
struct topic_registry *topic_registry_new(void);
/* Frees the registry and every topic (links are their subscribers'). NULL
 * is a no-op. */
void topic_registry_free(struct topic_registry *r);

/* The topic called name, or NULL when nobody subscribes to it. */
struct topic *topic_find(struct topic_registry *r, const char *name);
/* Subscribes sub to name (copied), creating the topic as needed, through
 * the caller's link l, which must stay put until topic_unsubscribe.
 * Cannot fail. */
void topic_subscribe(struct topic_registry *r, const char *name, void *sub,
		     struct topic_link *l);
/* Unlinks l; a topic left without subscribers is freed. Never call while
 * iterating that topic's links. */
void topic_unsubscribe(struct topic_registry *r, struct topic_link *l);
/* Number of topics with at least one subscriber. */
size_t topic_count(const struct topic_registry *r);

#endif
