/* redis_scripts.h -- the Lua scripts the Redis store runs in Redis (EVAL),
 * each one atomic there. Keys, for the prefix P: P:log (the stream),
 * P:ids (hash: update id -> entry id), P:meta (hash: "epoch", a token
 * set when missing: a new one means the log was lost; "trimmed", the
 * newest entry id retention removed). Entries are redis_entry.h's. */
#ifndef HUBD_STORE_REDIS_SCRIPTS_H
#define HUBD_STORE_REDIS_SCRIPTS_H

/* KEYS log ids meta; ARGV id, content, time_ms, retain_count,
 * retain_age_ms, epoch. Applies the retry rule (an id stored already with
 * the same content: {"dup", entry id}; with other content: {"conflict",
 * entry id}), else adds the entry, then applies retention, which records
 * the newest entry it removed in meta's "trimmed": {"ok", entry id,
 * entries now, entries removed}. */
extern const char redis_script_publish[];

/* KEYS log meta; ARGV after (an entry id), count, epoch. The log's epoch
 * (set to ARGV's when missing), its "trimmed" ("" when none) and the
 * entries after `after`, at most count: {epoch, trimmed, entries}, all
 * read at one instant. */
extern const char redis_script_read[];

/* KEYS log ids; ARGV after_id (an update id, "" for none), after (an
 * entry id: used when after_id is ""), upto (an entry id or "+"), count.
 * {found, entries, named}: the entries after the entry after_id names
 * (found 1, named its entry id), or after `after` (found 1, named ""), or
 * from the oldest when after_id names no retained update (found 0); at
 * most count, none past upto. */
extern const char redis_script_query[];

/* KEYS log ids meta; ARGV retain_count, retain_age_ms. Retention alone
 * (the store runs it once a second): {entries now, entries removed}. */
extern const char redis_script_retain[];

/* Writes the SHA1 of script as 40 hex digits and a NUL (EVALSHA's name
 * for it). Cannot fail. */
void redis_script_sha1(const char *script, char out[41]);

#endif
