/* sqlite.h -- the SQLite store: the embedded default, one node, one file in
 * WAL mode. A writer thread commits publishes in groups, a reader thread
 * answers queries; the loop thread never waits on the disk. */
#ifndef HUBD_STORE_SQLITE_H
#define HUBD_STORE_SQLITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

struct event_base;

struct store_sqlite_config {
	const char *path;        /* database file; created if missing */
	bool sync_full;          /* PRAGMA synchronous=FULL (else NORMAL) */
	int64_t retain_count;    /* keep at most this many updates; 0 = no cap */
	int64_t retain_age_s;    /* drop updates older than this; 0 = no cap */
	int max_batch;           /* publishes per transaction (group commit);
				  * <= 0 means 1000 */
};

/* Opens (creating and migrating as needed) the SQLite store at cfg->path
 * and starts its threads; callbacks run on base's loop. Positions are the
 * updates' row numbers (seq). Blocks while opening. Returns NULL with a
 * reason in err on failure. */
struct store *store_sqlite_open(struct event_base *base,
				const struct store_sqlite_config *cfg, char *err,
				size_t errlen);

#endif
