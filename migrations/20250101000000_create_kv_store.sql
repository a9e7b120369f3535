-- The default pgkv table. UNLOGGED: writes skip the WAL, so they are fast,
-- but the table is emptied after a crash and is not replicated. For a durable
-- store, create it without UNLOGGED (pgkv's `TableType::Regular`).
--
-- The name is unqualified on purpose: `search_path` decides the schema.
CREATE UNLOGGED TABLE IF NOT EXISTS kv_store (
    key        TEXT COLLATE "C" PRIMARY KEY,
    value      BYTEA NOT NULL,
    expires_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Only rows with a TTL are indexed: the cleanup sweep reads this index.
CREATE INDEX IF NOT EXISTS kv_store_expires_at_idx
    ON kv_store (expires_at)
    WHERE expires_at IS NOT NULL;
