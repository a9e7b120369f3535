//! The SQL of namespaces: the registry table, the DDL of a namespace's
//! table, the usage triggers that enforce `Reject` limits, and the
//! statements of an eviction pass.
//!
//! A namespace's table is named by its registry id (`kvns_<id>`), never by
//! the namespace's name, so no name a user chooses is ever spliced into SQL,
//! and a namespace deleted and created again gets a new table: a handle to
//! the old one fails instead of writing into the new one's data.

use super::{Sql, quote_ident};
use crate::config::namespace::{LimitPolicy, NamespaceConfig};
use crate::config::{TableType, TtlCleanupStrategy};

/// The registry's table name, beside the store's table.
pub(crate) const REGISTRY: &str = "pgkv_namespaces";

/// The registry's DDL (idempotent), in `schema`, or unqualified (the schema
/// `search_path` names first, as in `migrations/`).
pub(crate) fn registry_ddl(schema: Option<&str>) -> String {
    let registry = super::qualified_table(schema, REGISTRY);
    format!(
        "CREATE TABLE IF NOT EXISTS {registry} (\n    \
         id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n    \
         name        TEXT COLLATE \"C\" NOT NULL UNIQUE,\n    \
         table_type  TEXT NOT NULL CHECK (table_type IN ('unlogged', 'regular')),\n    \
         ttl_cleanup TEXT NOT NULL CHECK (ttl_cleanup IN ('on_read', 'manual', 'disabled')),\n    \
         policy      TEXT CHECK (policy IN ('reject', 'evict')),\n    \
         max_keys    BIGINT CHECK (max_keys > 0),\n    \
         max_bytes   BIGINT CHECK (max_bytes > 0),\n    \
         max_age_us  BIGINT CHECK (max_age_us > 0),\n    \
         created_at  TIMESTAMPTZ NOT NULL DEFAULT now()\n)"
    )
}

/// The registry's statements, for one store's schema.
#[derive(Debug)]
pub(crate) struct RegistrySql {
    pub(crate) schema: String,
    /// Creates the registry if missing (with the DDL lock, as tables are).
    pub(crate) ensure: String,
    /// `$1` name, `$2` table type, `$3` TTL strategy, `$4` policy, `$5`
    /// max keys, `$6` max bytes, `$7` max age (µs): the new id, or nothing
    /// when the name is taken.
    pub(crate) insert: Sql,
    /// `$1` name: the namespace's row.
    pub(crate) find: Sql,
    /// Every namespace, by name.
    pub(crate) list: Sql,
    /// `$1` name: deletes the row, returning its id.
    pub(crate) remove: Sql,
}

/// The columns `find` and `list` return, in `NamespaceRow`'s order.
const COLUMNS: &str = "id, name::text, table_type, ttl_cleanup, policy, max_keys, max_bytes, max_age_us, \
     (extract(epoch FROM created_at) * 1000000)::bigint";

impl RegistrySql {
    pub(crate) fn new(schema: &str) -> RegistrySql {
        let registry = format!("{}.{}", quote_ident(schema), quote_ident(REGISTRY));
        RegistrySql {
            schema: schema.to_owned(),
            ensure: format!(
                "SELECT pg_advisory_xact_lock({});\n{};\n",
                super::DDL_LOCK_KEY,
                registry_ddl(Some(schema))
            ),
            insert: Sql::new(format!(
                "INSERT INTO {registry} (name, table_type, ttl_cleanup, policy, max_keys, max_bytes, max_age_us) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (name) DO NOTHING RETURNING id"
            )),
            find: Sql::new(format!("SELECT {COLUMNS} FROM {registry} WHERE name = $1")),
            list: Sql::new(format!("SELECT {COLUMNS} FROM {registry} ORDER BY name")),
            remove: Sql::new(format!("DELETE FROM {registry} WHERE name = $1 RETURNING id")),
        }
    }
}

/// The table that holds namespace `id`'s keys.
pub(crate) fn table_name(id: i64) -> String {
    format!("kvns_{id}")
}

/// The one-row table counting a `Reject` namespace's keys and bytes.
fn usage_table(schema: &str, id: i64) -> String {
    format!(
        "{}.{}",
        quote_ident(schema),
        quote_ident(&format!("kvns_{id}_usage"))
    )
}

/// How a key's row is counted against `max_bytes`: its key and value.
const ROW_BYTES: &str = "octet_length(key) + octet_length(value)";

/// The DDL beyond the plain store table that a namespace's limits need,
/// run in the same transaction as its creation.
pub(crate) fn limit_ddl(schema: &str, id: i64, config: &NamespaceConfig) -> Vec<String> {
    let table = format!("{}.{}", quote_ident(schema), quote_ident(&table_name(id)));
    match config.policy {
        None => Vec::new(),
        // Eviction reads the oldest rows first.
        Some(LimitPolicy::Evict) => vec![format!("CREATE INDEX ON {table} (created_at)")],
        Some(LimitPolicy::Reject) => {
            let usage = usage_table(schema, id);
            let unlogged = match config.table_type {
                // Emptied by a crash together with the keys it counts.
                TableType::Unlogged => "UNLOGGED ",
                TableType::Regular => "",
            };
            let function = format!(
                "{}.{}",
                quote_ident(schema),
                quote_ident(&format!("kvns_{id}_count"))
            );
            // Limits are numbers the registry checked (> 0), spliced as
            // literals so the trigger needs no lookup.
            let max_keys = config.max_keys.map_or("NULL".to_owned(), |n| n.to_string());
            let max_bytes = config.max_bytes.map_or("NULL".to_owned(), |n| n.to_string());
            vec![
                format!(
                    "CREATE {unlogged}TABLE {usage} (\n    \
                     id    BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (id),\n    \
                     keys  BIGINT NOT NULL,\n    \
                     bytes BIGINT NOT NULL\n)"
                ),
                // One statement-level trigger per write: the statement's
                // rows are counted from its transition tables, and the
                // usage row is updated once, under its row lock, so
                // concurrent writers are counted exactly.
                format!(
                    "CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $pgkv$\n\
                     DECLARE\n    \
                     dk BIGINT := 0;\n    \
                     db BIGINT := 0;\n    \
                     k BIGINT;\n    \
                     b BIGINT;\n\
                     BEGIN\n    \
                     IF TG_OP IN ('INSERT', 'UPDATE') THEN\n        \
                     SELECT dk + count(*), db + COALESCE(sum({ROW_BYTES}), 0) INTO dk, db FROM new_rows;\n    \
                     END IF;\n    \
                     IF TG_OP IN ('DELETE', 'UPDATE') THEN\n        \
                     SELECT dk - count(*), db - COALESCE(sum({ROW_BYTES}), 0) INTO dk, db FROM old_rows;\n    \
                     END IF;\n    \
                     IF dk = 0 AND db = 0 THEN\n        \
                     RETURN NULL;\n    \
                     END IF;\n    \
                     INSERT INTO {usage} AS u (id, keys, bytes) VALUES (TRUE, dk, db)\n        \
                     ON CONFLICT (id) DO UPDATE SET keys = u.keys + EXCLUDED.keys, bytes = u.bytes + EXCLUDED.bytes\n        \
                     RETURNING u.keys, u.bytes INTO k, b;\n    \
                     IF dk > 0 AND k > {max_keys} THEN\n        \
                     RAISE EXCEPTION USING ERRCODE = 'KV001', MESSAGE = 'pgkv: namespace over max_keys';\n    \
                     END IF;\n    \
                     IF db > 0 AND b > {max_bytes} THEN\n        \
                     RAISE EXCEPTION USING ERRCODE = 'KV002', MESSAGE = 'pgkv: namespace over max_bytes';\n    \
                     END IF;\n    \
                     RETURN NULL;\n\
                     END\n\
                     $pgkv$"
                ),
                format!(
                    "CREATE TRIGGER count_inserts AFTER INSERT ON {table} REFERENCING NEW TABLE AS new_rows \
                     FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
                ),
                format!(
                    "CREATE TRIGGER count_updates AFTER UPDATE ON {table} \
                     REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows \
                     FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
                ),
                format!(
                    "CREATE TRIGGER count_deletes AFTER DELETE ON {table} REFERENCING OLD TABLE AS old_rows \
                     FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
                ),
            ]
        }
    }
}

/// What `delete_namespace` drops: the table (its indexes and triggers go
/// with it), a `Reject` namespace's usage table and trigger function, and
/// the table's fencing-token sequence.
pub(crate) fn drop_ddl(schema: &str, id: i64) -> String {
    let table = format!("{}.{}", quote_ident(schema), quote_ident(&table_name(id)));
    let usage = usage_table(schema, id);
    let function = format!(
        "{}.{}",
        quote_ident(schema),
        quote_ident(&format!("kvns_{id}_count"))
    );
    let fence = super::fence_sequence(Some(schema), &table_name(id));
    format!(
        "DROP TABLE IF EXISTS {table};\nDROP TABLE IF EXISTS {usage};\nDROP FUNCTION IF EXISTS {function}();\n\
         DROP SEQUENCE IF EXISTS {fence};\n"
    )
}

/// Mixed into the advisory-lock key of a namespace's eviction, so one
/// instance of a fleet evicts at a time (concurrent passes would each see
/// the same excess and together delete too much).
const EVICT_LOCK_SEED: i64 = 7_305_983_471_152_380_421;

/// The statements of one eviction pass over a namespace's table, oldest
/// rows (by `created_at`: first written, FIFO) first. Each takes the
/// fleet's eviction lock for itself (`$4`/`$3`: the lock's name) and does
/// nothing when another instance holds it.
#[derive(Debug)]
pub(crate) struct EvictSql {
    /// One batch for `max_entries`/`max_bytes`: `$1` most rows, `$2` max
    /// entries, `$3` max bytes (NULL: no such limit), `$4` lock name. Counts
    /// the table (one scan per batch, none per write), then deletes the
    /// oldest rows that bring it under both limits. Returns (lock held,
    /// rows before, bytes before, rows deleted).
    pub(crate) over_size: Sql,
    /// One batch for `max_age`: `$1` most rows created more than `$2` µs
    /// ago, `$3` lock name. Returns (lock held, rows deleted).
    pub(crate) over_age: Sql,
}

impl EvictSql {
    pub(crate) fn new(table: &str) -> EvictSql {
        let fleet = format!(
            "fleet AS (SELECT pg_try_advisory_xact_lock(hashtextextended(${{lock}}, {EVICT_LOCK_SEED})) AS held)"
        );
        EvictSql {
            over_size: Sql::new(
                format!(
                    "WITH {fleet}, \
                 usage AS (SELECT count(*) AS n, COALESCE(sum({ROW_BYTES}), 0)::bigint AS b FROM {table} \
                 WHERE (SELECT held FROM fleet)), \
                 oldest AS (SELECT ctid, created_at, {ROW_BYTES} AS bytes FROM {table} \
                 WHERE (SELECT held FROM fleet) ORDER BY created_at LIMIT $1), \
                 ranked AS (SELECT ctid, row_number() OVER w AS i, sum(bytes) OVER w - bytes AS before \
                 FROM oldest WINDOW w AS (ORDER BY created_at ROWS UNBOUNDED PRECEDING)), \
                 gone AS (DELETE FROM {table} WHERE ctid IN (SELECT ctid FROM ranked, usage \
                 WHERE i <= usage.n - COALESCE($2::bigint, usage.n) \
                 OR ($3::bigint IS NOT NULL AND before < usage.b - $3::bigint)) RETURNING 1) \
                 SELECT (SELECT held FROM fleet), COALESCE((SELECT n FROM usage), 0), \
                 COALESCE((SELECT b FROM usage), 0), (SELECT count(*) FROM gone)"
                )
                .replace("${lock}", "$4"),
            ),
            over_age: Sql::new(
                format!(
                    "WITH {fleet}, \
                 gone AS (DELETE FROM {table} WHERE ctid = ANY(ARRAY(SELECT ctid FROM {table} \
                 WHERE (SELECT held FROM fleet) \
                 AND created_at < statement_timestamp() - $2::bigint * interval '1 microsecond' \
                 ORDER BY created_at LIMIT $1 FOR UPDATE SKIP LOCKED)) RETURNING 1) \
                 SELECT (SELECT held FROM fleet), (SELECT count(*) FROM gone)"
                )
                .replace("${lock}", "$3"),
            ),
        }
    }
}

/// How the registry spells a table type.
pub(crate) fn table_type_name(t: TableType) -> &'static str {
    match t {
        TableType::Unlogged => "unlogged",
        TableType::Regular => "regular",
    }
}

/// How the registry spells a TTL strategy.
pub(crate) fn ttl_cleanup_name(s: TtlCleanupStrategy) -> &'static str {
    match s {
        TtlCleanupStrategy::OnRead => "on_read",
        TtlCleanupStrategy::Manual => "manual",
        TtlCleanupStrategy::Disabled => "disabled",
    }
}
