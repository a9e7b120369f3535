//! The statements that carry the calls batched together by `coalesce`:
//! one per kind of call, each taking one array per argument.

use super::{ReadSql, Sql};

/// The batched forms of EXISTS, SET/SET_EX and DELETE (a batched GET is
/// the table's `get_many`).
#[derive(Debug)]
pub(crate) struct CoalescedSql {
    /// `$1` keys: the live ones that exist.
    pub(crate) exists: ReadSql,
    /// `$1` keys, `$2` values, `$3` TTLs (NULL: no expiry), sorted by key,
    /// each key once.
    pub(crate) write: Sql,
    /// `$1` keys, sorted: the ones whose removed row was live.
    pub(crate) delete: Sql,
}

/// The key array `$1` as multi-key reads and deletes (`get_many`,
/// `delete_many` and the batched forms here) use it: behind a scalar
/// subquery, so that the planner sees no more of it in a custom plan than in
/// a generic one. With `= ANY($1)` seen as a constant of the 2-6 keys a
/// batch usually holds, a custom plan is estimated cheaper than the generic
/// plan (which assumes 10 elements), so PostgreSQL never switches to the
/// generic plan and plans the statement again on every execution: for the
/// purging GET that is about 0.1 ms of planning, 3-4 times the execution
/// (pgbench, prepared, PostgreSQL 15: 3 keys 141 µs per statement, 39 µs
/// with the array hidden; 11 keys and more: the same either way). Over a
/// partitioned table the array stays visible: there the custom plan prunes
/// partitions by key, which a generic plan cannot do for `= ANY`; so it does
/// on Citus, whose router and pruning read the array.
pub(crate) fn key_array(visible: bool) -> &'static str {
    if visible {
        "$1"
    } else {
        "(SELECT $1::text[])::text[]"
    }
}

impl CoalescedSql {
    /// For the table `t`; `live` is its live-row condition, `insert` its
    /// `INSERT INTO ... AS kv (...)` head, `upsert` its SET conflict clause,
    /// `purge` its `OnRead` purge of the keys `keys` (or empty), `keys` the
    /// key array ([`key_array`]).
    pub(crate) fn new(
        t: &str,
        live: &str,
        insert: &str,
        upsert: &str,
        purge: &str,
        keys: &str,
    ) -> CoalescedSql {
        let now = "statement_timestamp()";
        CoalescedSql {
            exists: ReadSql::build(
                purge,
                format!("SELECT key FROM {t} WHERE key = ANY({keys}) AND {live}"),
            ),
            // Each row's TTL is its own: SET (NULL, no expiry) and SET_EX
            // calls share one statement.
            write: Sql::new(format!(
                "{insert} SELECT k, v, {now} + ttl, {now}, {now} \
                 FROM UNNEST($1::text[], $2::bytea[], $3::interval[]) AS u(k, v, ttl) {upsert}"
            )),
            // Rows are locked in key order, as every batch write does, so
            // batches cannot deadlock one another.
            delete: Sql::new(format!(
                "WITH d AS (DELETE FROM {t} WHERE key IN \
                 (SELECT key FROM {t} WHERE key = ANY({keys}) ORDER BY key FOR UPDATE) RETURNING key, expires_at) \
                 SELECT key FROM d WHERE {live}"
            )),
        }
    }
}
