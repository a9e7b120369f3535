-- The counter behind pgkv's fencing tokens (`try_lock`/`lock`): an ordinary
-- sequence, WAL-logged even though kv_store is UNLOGGED, so a crash that
-- empties the table never makes tokens go backwards. Unqualified on purpose,
-- like kv_store: `search_path` decides the schema.
CREATE SEQUENCE IF NOT EXISTS kv_store_fence_seq;
