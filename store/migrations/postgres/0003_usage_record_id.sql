-- record_id makes writing usage records idempotent: the usage writer gives
-- every record a unique id and inserts with ON CONFLICT DO NOTHING, so a
-- batch retried after an ambiguous failure (a commit whose answer was lost)
-- or replayed from the spill file twice is stored once. Rows written before
-- this migration have no id (NULL, never in conflict).
ALTER TABLE usage ADD COLUMN record_id TEXT;
CREATE UNIQUE INDEX usage_record_id ON usage (record_id);
