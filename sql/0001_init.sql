-- 0001_init.sql -- the first schema: updates, and an index of them by topic.
--
-- updates.seq is the hub-wide order the hub assigns at publish.
-- AUTOINCREMENT makes SQLite remember the highest seq ever stored (in
-- sqlite_sequence) even after retention has deleted it, so a restarted hub
-- never hands out a seq again.
CREATE TABLE updates (
	seq INTEGER PRIMARY KEY AUTOINCREMENT,
	id TEXT NOT NULL UNIQUE,
	topics TEXT NOT NULL,    -- JSON array of strings; the first is canonical
	type TEXT,               -- SSE "event:", or NULL
	retry INTEGER,           -- SSE "retry:" in ms, or NULL
	private INTEGER NOT NULL, -- 0 or 1
	data BLOB NOT NULL,      -- exact bytes, NULs included
	time INTEGER NOT NULL    -- publish time, ms since the epoch
);

-- Retention by age deletes the oldest rows by time.
CREATE INDEX updates_time ON updates(time);

-- One row per (topic, update): per-topic history is a range scan.
CREATE TABLE update_topics (
	topic TEXT NOT NULL,
	seq INTEGER NOT NULL REFERENCES updates(seq) ON DELETE CASCADE,
	PRIMARY KEY (topic, seq)
) WITHOUT ROWID;

-- The cascade (and the foreign key check) finds children by seq.
CREATE INDEX update_topics_seq ON update_topics(seq);
