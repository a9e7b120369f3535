//! Snapshot save and load statements.

use super::*;

// ---------------------------------------------------------------------------
// Snapshots (`Store::save_snapshot`, `Store::load_snapshot`).
//
// These run on one connection inside one explicit transaction each, through
// the simple protocol for `COPY` (sqlx's `copy_out_raw`/`copy_in_raw` take
// text). They scan or fill the whole table, so the single-key Citus rules do
// not apply; the merge still takes the server's time in the `SELECT` list
// and refers to it as `EXCLUDED.*` inside `ON CONFLICT`.
// ---------------------------------------------------------------------------

/// The statements of a snapshot save and load for one table.
#[derive(Debug, Clone)]
pub(crate) struct SnapshotSql {
    /// One `REPEATABLE READ` snapshot for the count and the `COPY`: both see
    /// the same rows, and `now()` (the transaction's start) is the snapshot time.
    pub(crate) begin_save: Sql,
    /// Live rows at the snapshot time and that time, in microseconds since the Unix epoch.
    pub(crate) save_count: Sql,
    /// The live rows in PostgreSQL's binary `COPY` format.
    pub(crate) save_copy: Sql,
    /// The staging table: the session's own, dropped at commit (or rollback).
    pub(crate) create_stage: Sql,
    pub(crate) load_copy: Sql,
    /// The staged rows the store's API would refuse: no key, an empty key,
    /// a key longer than `$1` bytes, no value or a value larger than `$2`
    /// bytes. Returns how many, and the first such key (by key order).
    pub(crate) check_stage: Sql,
    /// `LoadMode::Replace`: empties the table inside the load's transaction.
    pub(crate) clear: Sql,
    /// The one statement that moves the staged rows into the table: rows
    /// whose expiry has passed by the server's clock now are left out, and a
    /// live row already in the table is kept (it was written after the
    /// snapshot was taken). Returns the rows written, the rows left out as
    /// expired, and the server time in microseconds since the Unix epoch.
    pub(crate) merge: Sql,
    /// Warm restart: one starter at a time per table (`$1` is the table's
    /// `schema.table`), held until the load's transaction ends, so the
    /// others then find the table filled.
    pub(crate) restore_lock: Sql,
    /// The autosave task: one instance of the fleet at a time (`$1` is the
    /// table's `schema.table`); taken without waiting, inside the save's
    /// snapshot, and held until its file is in place.
    pub(crate) autosave_lock: Sql,
    /// Whether the table has any live row (warm restart's emptiness test,
    /// run after the lock is held, so it sees what an earlier starter committed).
    pub(crate) any_live: Sql,
}

/// The staging table, always named through `pg_temp` so that no table of
/// the same name elsewhere on the `search_path` can stand in for it.
const SNAPSHOT_STAGE: &str = "pg_temp.pgkv_snapshot_stage";

/// Mixed into the hash of the table name that keys the warm-restart lock
/// (distinct from the cleanup task's).
const RESTORE_LOCK_SEED: i64 = 7_305_983_471_152_380_419;

/// Mixed into the hash of the table name that keys the autosave lock.
const AUTOSAVE_LOCK_SEED: i64 = 7_305_983_471_152_380_420;

/// Server time in microseconds since the Unix epoch (exact: `EXTRACT`
/// returns `numeric`).
pub(crate) fn epoch_micros(time: &str) -> String {
    format!("(EXTRACT(EPOCH FROM {time}) * 1000000)::bigint")
}

impl SnapshotSql {
    pub(crate) fn new(config: &Config, schema: &str) -> SnapshotSql {
        let t = qualified_table(Some(schema), &config.table_name);
        // A save filters on the transaction's `now()`, not the statement's
        // time, so the count and the COPY (two statements) agree exactly.
        let hidden = lease_hidden(config);
        let live_at_snapshot = match config.ttl_cleanup_strategy {
            TtlCleanupStrategy::Disabled => format!("TRUE{hidden}"),
            _ => format!("(expires_at IS NULL OR expires_at > now()){hidden}"),
        };
        let x = Expiry {
            strategy: config.ttl_cleanup_strategy,
            citus: config.citus,
        };
        let live = x.live("s.expires_at");
        let expired = x.conflict_expired();
        let now = "statement_timestamp()";
        SnapshotSql {
            begin_save: Sql::new("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY".to_owned()),
            save_count: Sql::new(format!(
                "SELECT count(*), {} FROM {t} WHERE {live_at_snapshot}",
                epoch_micros("now()")
            )),
            save_copy: Sql::new(format!(
                "COPY (SELECT key, value, expires_at FROM {t} WHERE {live_at_snapshot}) TO STDOUT (FORMAT binary)"
            )),
            create_stage: Sql::new(
                "CREATE TEMP TABLE pgkv_snapshot_stage (key TEXT COLLATE \"C\", value BYTEA, \
                 expires_at TIMESTAMPTZ) ON COMMIT DROP"
                    .to_owned(),
            ),
            load_copy: Sql::new(format!(
                "COPY {SNAPSHOT_STAGE} (key, value, expires_at) FROM STDIN (FORMAT binary)"
            )),
            check_stage: Sql::new(format!(
                "SELECT count(*), min(left(key, 64)) FROM {SNAPSHOT_STAGE} WHERE key IS NULL OR key = '' \
                 OR octet_length(key) > $1 OR value IS NULL OR octet_length(value) > $2"
            )),
            clear: Sql::new(if hidden.is_empty() {
                format!("DELETE FROM {t}")
            } else {
                format!("DELETE FROM {t} WHERE TRUE{hidden}")
            }),
            merge: Sql::new(format!(
                "WITH ins AS (INSERT INTO {t} AS kv (key, value, expires_at, created_at, updated_at) \
                 SELECT s.key, s.value, s.expires_at, {now}, {now} FROM {SNAPSHOT_STAGE} s WHERE {live} \
                 ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at, \
                 created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at WHERE {expired} RETURNING 1) \
                 SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM {SNAPSHOT_STAGE} s WHERE NOT {live}), {}",
                epoch_micros(now)
            )),
            restore_lock: Sql::new(format!(
                "SELECT pg_advisory_xact_lock(hashtextextended($1, {RESTORE_LOCK_SEED}))"
            )),
            autosave_lock: Sql::new(format!(
                "SELECT pg_try_advisory_xact_lock(hashtextextended($1, {AUTOSAVE_LOCK_SEED}))"
            )),
            any_live: Sql::new(format!(
                "SELECT EXISTS (SELECT 1 FROM {t} WHERE {}{hidden})",
                x.live("expires_at")
            )),
        }
    }
}
