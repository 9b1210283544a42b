-- The byte length of each event's JSON as GET /v1/events serves it (STORED_EVENT_JSON_SQL in
-- src/events/rows.ts), written with the row by the outbox. A page stops at a byte budget
-- (EVENTS_PAGE_MAX_BYTES): with the size stored, the page query sums sizes and writes the JSON
-- of the events it keeps only, instead of the JSON of every row it reads (up to limit + 1).
-- NULL for events stored before this column existed: the page query measures those itself.
-- A nullable column without a default: no rewrite of the partitions; partitions created later
-- (CREATE TABLE ... LIKE events) have it too, and rows moved into them keep their value.
ALTER TABLE events ADD COLUMN json_bytes integer;
