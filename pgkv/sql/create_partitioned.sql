-- The DDL a store with Config::partitions(4) runs (one statement at a time on Citus);
-- schema_sql prints the same.
CREATE TABLE IF NOT EXISTS "kv_store" (
    key        TEXT COLLATE "C" PRIMARY KEY,
    value      BYTEA NOT NULL,
    expires_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
) PARTITION BY HASH (key);
CREATE UNLOGGED TABLE IF NOT EXISTS "kv_store_p0" PARTITION OF "kv_store" FOR VALUES WITH (MODULUS 4, REMAINDER 0);
CREATE UNLOGGED TABLE IF NOT EXISTS "kv_store_p1" PARTITION OF "kv_store" FOR VALUES WITH (MODULUS 4, REMAINDER 1);
CREATE UNLOGGED TABLE IF NOT EXISTS "kv_store_p2" PARTITION OF "kv_store" FOR VALUES WITH (MODULUS 4, REMAINDER 2);
CREATE UNLOGGED TABLE IF NOT EXISTS "kv_store_p3" PARTITION OF "kv_store" FOR VALUES WITH (MODULUS 4, REMAINDER 3);
CREATE SEQUENCE IF NOT EXISTS "kv_store_fence_seq";
DO $pgkv$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] WHERE i.indrelid = '"kv_store"'::regclass AND i.indnatts = 1 AND a.attname = 'expires_at') THEN
        CREATE INDEX ON "kv_store" (expires_at) WHERE expires_at IS NOT NULL;
    END IF;
END $pgkv$;
