-- The namespace registry (pgkv's `Store::create_namespace`): one row per
-- namespace; each namespace's keys live in a table of its own, `kvns_<id>`,
-- created by the store when the namespace is created.
--
-- The name is unqualified on purpose: `search_path` decides the schema.
CREATE TABLE IF NOT EXISTS "pgkv_namespaces" (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        TEXT COLLATE "C" NOT NULL UNIQUE,
    table_type  TEXT NOT NULL CHECK (table_type IN ('unlogged', 'regular')),
    ttl_cleanup TEXT NOT NULL CHECK (ttl_cleanup IN ('on_read', 'manual', 'disabled')),
    policy      TEXT CHECK (policy IN ('reject', 'evict')),
    max_keys    BIGINT CHECK (max_keys > 0),
    max_bytes   BIGINT CHECK (max_bytes > 0),
    max_age_us  BIGINT CHECK (max_age_us > 0),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
