-- The statements a store with the default schema runs, in order and in one
-- transaction, to create its table (TableType::Unlogged); schema_sql prints the
-- same DDL without the lock.
SELECT pg_advisory_xact_lock(7305983471152380418);
CREATE UNLOGGED TABLE IF NOT EXISTS "kv_store" (
    key        TEXT COLLATE "C" PRIMARY KEY,
    value      BYTEA NOT NULL,
    expires_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE SEQUENCE IF NOT EXISTS "kv_store_fence_seq";
DO $pgkv$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] WHERE i.indrelid = '"kv_store"'::regclass AND i.indnatts = 1 AND a.attname = 'expires_at') THEN
        CREATE INDEX ON "kv_store" (expires_at) WHERE expires_at IS NOT NULL;
    END IF;
END $pgkv$;
