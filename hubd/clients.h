/* clients.h -- open streams per client address, for the per-client cap
 * (max-streams-per-client): one client must not take the hub's capacity.
 * An IPv4 address counts alone; an IPv6 address counts with its /64 (one
 * host gets a whole /64 and picks addresses in it freely). The address is
 * what the web server reports (REMOTE_ADDR): behind a proxy, have the front
 * set it from the proxy's forwarded header (lighttpd mod_extforward,
 * Apache mod_remoteip, nginx real_ip). Loop thread only. */
#ifndef HUBD_CLIENTS_H
#define HUBD_CLIENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sub;

/* One address (or /64) with at least one open stream. */
struct client {
	struct client *next; /* hash chain */
	struct sub *streams; /* its streams, through sub_extra's client links */
	uint32_t nstreams;
	int64_t probed_ms;   /* when its streams were last probed at the cap */
	char key[40];        /* the normalised address */
};

struct client_table;

/* An empty table. Cannot fail (aborts on OOM). */
struct client_table *clients_new(void);
/* Frees the table; every client must have been released. NULL: no-op. */
void clients_free(struct client_table *t);

/* Normalises addr (REMOTE_ADDR text: an IPv4 or IPv6 address) into key
 * (40 bytes): IPv4 as is, an IPv4-mapped IPv6 address as IPv4, IPv6 as its
 * /64 prefix. Returns false when addr is not an IP address (then the
 * caller applies no cap: e.g. a Unix-socket front). */
bool clients_key(const char *addr, char key[40]);
/* The client of key, created with no streams when absent. Cannot fail. */
struct client *clients_get(struct client_table *t, const char *key);
/* Forgets c when it has no streams left (call after the last one went). */
void clients_put(struct client_table *t, struct client *c);
/* Clients with at least one stream. */
size_t clients_count(const struct client_table *t);

#endif
