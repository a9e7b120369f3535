//! The statements that carry the calls batched together by `coalesce`:
//! one per kind of call, each taking one array per argument.

use super::{ReadSql, Sql};

/// The batched forms of GET, EXISTS, SET/SET_EX and DELETE.
#[derive(Debug)]
pub(crate) struct CoalescedSql {
    /// `$1` keys: the live ones that exist (GET uses the table's `get_many`).
    pub(crate) exists: ReadSql,
    /// `$1` keys, `$2` values, `$3` TTLs (NULL: no expiry), sorted by key,
    /// each key once.
    pub(crate) write: Sql,
    /// `$1` keys, sorted: the ones whose removed row was live.
    pub(crate) delete: Sql,
}

impl CoalescedSql {
    /// For the table `t`; `live` is its live-row condition, `insert` its
    /// `INSERT INTO ... AS kv (...)` head, `upsert` its SET conflict clause,
    /// `purge` its `OnRead` purge of the keys `$1` (or empty).
    pub(crate) fn new(t: &str, live: &str, insert: &str, upsert: &str, purge: &str) -> CoalescedSql {
        let now = "statement_timestamp()";
        CoalescedSql {
            exists: ReadSql::build(
                purge,
                format!("SELECT key FROM {t} WHERE key = ANY($1) AND {live}"),
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
                 (SELECT key FROM {t} WHERE key = ANY($1) ORDER BY key FOR UPDATE) RETURNING key, expires_at) \
                 SELECT key FROM d WHERE {live}"
            )),
        }
    }
}
