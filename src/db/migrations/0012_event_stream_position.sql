-- The live stream's position of each event (src/stream/): the id of the transaction that stored
-- it and a sequence number. Readers take rows only below their snapshot's xmin (every
-- transaction with a smaller id has ended), in (commit_xid, commit_seq) order, so a reader never
-- passes a row that commits later with a smaller position: the order is gap-free and the same
-- for every reader, unlike the publisher-chosen `timestamp` or the id. Both are defaults, so
-- every writer fills them without naming them; rows moved between partitions keep theirs.
-- Existing rows get the migration's own transaction id (a one-time rewrite of the table).
CREATE SEQUENCE events_commit_seq;
ALTER TABLE events ADD COLUMN commit_xid xid8 NOT NULL DEFAULT pg_current_xact_id();
ALTER TABLE events ADD COLUMN commit_seq bigint NOT NULL DEFAULT nextval('events_commit_seq');
CREATE INDEX events_commit_position_idx ON events (commit_xid, commit_seq);
