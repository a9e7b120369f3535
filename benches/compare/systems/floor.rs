//! The floor: one connection, prepared statements, lean SQL.

use pgkv::TableType;
use sqlx::postgres::types::PgInterval;
use sqlx::{Connection, PgConnection, SqlStr};

use crate::support::servers::sql;
use crate::support::settings::Res;
use crate::{BATCH, INCREMENT_TTL_SECS, MATCH_PREFIX, MATCH_REGEX, NX_TTL_SECS};

use super::kv::{Kv, upper_bound};

pub(crate) struct FloorSql {
    set: SqlStr,
    get: SqlStr,
    delete: SqlStr,
    increment: SqlStr,
    set_many: SqlStr,
    get_many: SqlStr,
    scan: SqlStr,
    expire_gt: SqlStr,
    match_page: SqlStr,
    increment_ex: SqlStr,
    set_many_ex: SqlStr,
    pub(crate) set_nx_get_ex: SqlStr,
    pub(crate) rename: SqlStr,
    delete_many: SqlStr,
}

impl FloorSql {
    /// `on_read`: reads also delete the rows they meet that have expired, in
    /// the same statement, skipping rows another transaction holds locked,
    /// with the purge CTE pgkv's default `OnRead` strategy sends, to the
    /// letter (`pgkv/sql/on_read.sql`, "get (purging)").
    fn new(table: &str, on_read: bool) -> FloorSql {
        let t = format!("\"{table}\"");
        let live = "(expires_at IS NULL OR expires_at > statement_timestamp())";
        let purge = |filter: &str| {
            if on_read {
                format!(
                    "WITH purged AS (DELETE FROM {t} WHERE {filter} AND key IN (SELECT key FROM {t} WHERE {filter} \
                     AND expires_at <= statement_timestamp() FOR UPDATE SKIP LOCKED) \
                     AND expires_at <= statement_timestamp()) "
                )
            } else {
                String::new()
            }
        };
        FloorSql {
            set: sql(format!(
                "INSERT INTO {t} (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE \
                 SET value = EXCLUDED.value, expires_at = NULL, updated_at = EXCLUDED.updated_at"
            )),
            get: sql(format!(
                "{}SELECT value FROM {t} WHERE key = $1 AND {live}",
                purge("key = $1")
            )),
            delete: sql(format!("DELETE FROM {t} WHERE key = $1")),
            increment: sql(format!(
                "INSERT INTO {t} AS kv (key, value) VALUES ($1, decode($2::bigint::text, 'escape')) \
                 ON CONFLICT (key) DO UPDATE SET \
                 value = decode((encode(kv.value, 'escape')::bigint + $2::bigint)::text, 'escape'), \
                 updated_at = EXCLUDED.updated_at RETURNING value"
            )),
            set_many: sql(format!(
                "INSERT INTO {t} (key, value) SELECT * FROM UNNEST($1::text[], $2::bytea[]) \
                 ON CONFLICT (key) DO UPDATE \
                 SET value = EXCLUDED.value, expires_at = NULL, updated_at = EXCLUDED.updated_at"
            )),
            get_many: sql(format!(
                "{}SELECT key, value FROM {t} WHERE key = ANY($1) AND {live}",
                purge("key = ANY($1)")
            )),
            scan: sql(format!(
                "SELECT key, value FROM {t} WHERE key > $1 AND key < $2 AND {live} \
                 ORDER BY key LIMIT $3"
            )),
            // The next three: the statements pgkv sends, to the letter
            // (`pgkv/sql/on_read.sql` "expire Later", "keys_matching (key >
            // $1, key < $2)" and "increment_ex"; Manual's are the same), so
            // the floor is pgkv's SQL without pgkv.
            expire_gt: sql(format!(
                "UPDATE {t} SET expires_at = statement_timestamp() + $2 WHERE key = $1 AND {live} \
                 AND expires_at IS NOT NULL AND statement_timestamp() + $2 > expires_at"
            )),
            match_page: sql(format!(
                "SELECT key FROM {t} WHERE key > $1 AND key < $2 AND {live} AND key ~ $5 \
                 ORDER BY key LIMIT $3 OFFSET $4"
            )),
            increment_ex: sql(format!(
                "INSERT INTO {t} AS kv (key, value, expires_at, created_at, updated_at) \
                 VALUES ($1, decode($2::bigint::text, 'escape'), statement_timestamp() + $3, \
                 statement_timestamp(), statement_timestamp()) ON CONFLICT (key) DO UPDATE SET \
                 value = CASE WHEN kv.expires_at <= EXCLUDED.updated_at THEN EXCLUDED.value ELSE \
                 decode(((CASE WHEN encode(kv.value, 'escape') ~ '^(0|-?[1-9][0-9]*)$' \
                 THEN encode(kv.value, 'escape') ELSE 'x' || encode(kv.value, 'escape') END)::bigint \
                 + $2)::text, 'escape') END, \
                 expires_at = CASE WHEN kv.expires_at <= EXCLUDED.updated_at THEN EXCLUDED.expires_at \
                 ELSE COALESCE(kv.expires_at, EXCLUDED.expires_at) END, \
                 created_at = CASE WHEN kv.expires_at <= EXCLUDED.updated_at THEN EXCLUDED.created_at \
                 ELSE kv.created_at END, updated_at = EXCLUDED.updated_at RETURNING value"
            )),
            set_many_ex: sql(format!(
                "INSERT INTO {t} (key, value, expires_at) \
                 SELECT k, v, statement_timestamp() + $3 FROM UNNEST($1::text[], $2::bytea[]) AS u(k, v) \
                 ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at"
            )),
            // The next two: pgkv's statements to the letter too
            // (`pgkv/sql/on_read.sql` "set_with Absent EX GET" and "rename";
            // Manual's are the same), checked against those files before
            // anything is timed (`same_sql_as_pgkv`).
            set_nx_get_ex: sql(format!(
                "WITH cur AS (SELECT value, expires_at FROM {t} WHERE key = $1 FOR UPDATE), \
                 upd AS (UPDATE {t} SET value = $2, expires_at = statement_timestamp() + $3, \
                 created_at = CASE WHEN cur.expires_at <= statement_timestamp() THEN \
                 statement_timestamp() ELSE {t}.created_at END, updated_at = statement_timestamp() \
                 FROM cur WHERE {t}.key = $1 AND cur.expires_at <= statement_timestamp() RETURNING 1), \
                 ins AS (INSERT INTO {t} AS kv (key, value, expires_at, created_at, updated_at) \
                 SELECT $1, $2, statement_timestamp() + $3, statement_timestamp(), statement_timestamp() \
                 WHERE NOT EXISTS (SELECT 1 FROM cur) AND TRUE ON CONFLICT (key) DO NOTHING RETURNING 1) \
                 SELECT EXISTS (SELECT 1 FROM upd) OR EXISTS (SELECT 1 FROM ins), \
                 NOT EXISTS (SELECT 1 FROM cur) AND TRUE AND NOT EXISTS (SELECT 1 FROM ins), \
                 (SELECT value FROM cur WHERE (cur.expires_at IS NULL OR \
                 cur.expires_at > statement_timestamp()))"
            )),
            rename: sql(format!(
                "WITH locked AS (SELECT key FROM {t} WHERE key IN ($1, $2) ORDER BY key FOR UPDATE), \
                 src AS (DELETE FROM {t} WHERE key = $1 AND {live} AND EXISTS (SELECT 1 FROM locked) \
                 RETURNING value, expires_at), \
                 ins AS (INSERT INTO {t} AS kv (key, value, expires_at, created_at, updated_at) \
                 SELECT $2, value, expires_at, statement_timestamp(), statement_timestamp() FROM src \
                 ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at, \
                 created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at RETURNING 1) \
                 SELECT EXISTS (SELECT 1 FROM ins)"
            )),
            delete_many: sql(format!("DELETE FROM {t} WHERE key = ANY($1)")),
        }
    }
}

/// A TTL as pgkv binds it: an interval of microseconds.
fn interval(secs: u64) -> PgInterval {
    PgInterval {
        months: 0,
        days: 0,
        microseconds: i64::try_from(secs * 1_000_000).expect("a TTL of hours"),
    }
}

pub(crate) fn floor_ddl(table: &str, tt: TableType) -> String {
    let unlogged = if tt == TableType::Unlogged {
        "UNLOGGED "
    } else {
        ""
    };
    format!(
        "CREATE {unlogged}TABLE \"{table}\" (\
         key TEXT COLLATE \"C\" PRIMARY KEY, value BYTEA NOT NULL, expires_at TIMESTAMPTZ, \
         created_at TIMESTAMPTZ NOT NULL DEFAULT now(), updated_at TIMESTAMPTZ NOT NULL DEFAULT now()); \
         CREATE INDEX \"{table}_expires_at_idx\" ON \"{table}\" (expires_at) WHERE expires_at IS NOT NULL"
    )
}

pub(crate) struct Floor {
    pub(crate) conn: PgConnection,
    pub(crate) sql: FloorSql,
    /// Scans read keys below this bound (the scan prefix's upper bound).
    scan_upper: String,
    /// MATCH pages read keys below this bound (`MATCH_PREFIX`'s).
    match_upper: String,
}

impl Floor {
    pub(crate) async fn connect(url: &str, table: &str, on_read: bool, scan_prefix: &str) -> Res<Floor> {
        Ok(Floor {
            conn: PgConnection::connect(url).await?,
            sql: FloorSql::new(table, on_read),
            scan_upper: upper_bound(scan_prefix),
            match_upper: upper_bound(MATCH_PREFIX),
        })
    }
}

impl Kv for Floor {
    async fn set(&mut self, key: &str, value: &[u8]) -> Res<()> {
        sqlx::query(self.sql.set.clone())
            .bind(key)
            .bind(value)
            .execute(&mut self.conn)
            .await?;
        Ok(())
    }

    async fn get(&mut self, key: &str) -> Res<bool> {
        let value: Option<Vec<u8>> = sqlx::query_scalar(self.sql.get.clone())
            .bind(key)
            .fetch_optional(&mut self.conn)
            .await?;
        Ok(value.is_some())
    }

    async fn delete(&mut self, key: &str) -> Res<bool> {
        let done = sqlx::query(self.sql.delete.clone())
            .bind(key)
            .execute(&mut self.conn)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn increment(&mut self, key: &str) -> Res<i64> {
        let bytes: Vec<u8> = sqlx::query_scalar(self.sql.increment.clone())
            .bind(key)
            .bind(1i64)
            .fetch_one(&mut self.conn)
            .await?;
        Ok(std::str::from_utf8(&bytes)?.parse()?)
    }

    async fn set_many(&mut self, keys: &[String], value: &[u8]) -> Res<()> {
        let values: Vec<&[u8]> = vec![value; keys.len()];
        sqlx::query(self.sql.set_many.clone())
            .bind(keys)
            .bind(values)
            .execute(&mut self.conn)
            .await?;
        Ok(())
    }

    async fn get_many(&mut self, keys: &[String]) -> Res<usize> {
        let rows: Vec<(String, Vec<u8>)> = sqlx::query_as(self.sql.get_many.clone())
            .bind(keys)
            .fetch_all(&mut self.conn)
            .await?;
        Ok(rows.len())
    }

    async fn scan(&mut self, after: &str) -> Res<usize> {
        let rows: Vec<(String, Vec<u8>)> = sqlx::query_as(self.sql.scan.clone())
            .bind(after)
            .bind(&self.scan_upper)
            .bind(BATCH as i64)
            .fetch_all(&mut self.conn)
            .await?;
        Ok(rows.len())
    }

    async fn expire_gt(&mut self, key: &str, secs: u64) -> Res<bool> {
        let done = sqlx::query(self.sql.expire_gt.clone())
            .bind(key)
            .bind(interval(secs))
            .execute(&mut self.conn)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn match_page(&mut self, after: &str) -> Res<Vec<String>> {
        // pgkv's parameters: the range, LIMIT and OFFSET, the regex.
        Ok(sqlx::query_scalar(self.sql.match_page.clone())
            .bind(after)
            .bind(&self.match_upper)
            .bind(Some(BATCH as i64))
            .bind(0i64)
            .bind(MATCH_REGEX)
            .fetch_all(&mut self.conn)
            .await?)
    }

    async fn increment_ex(&mut self, key: &str) -> Res<i64> {
        let bytes: Vec<u8> = sqlx::query_scalar(self.sql.increment_ex.clone())
            .bind(key)
            .bind(1i64)
            .bind(interval(INCREMENT_TTL_SECS))
            .fetch_one(&mut self.conn)
            .await?;
        Ok(std::str::from_utf8(&bytes)?.parse()?)
    }

    async fn set_many_ex(&mut self, keys: &[String], value: &[u8], secs: u64) -> Res<()> {
        let values: Vec<&[u8]> = vec![value; keys.len()];
        sqlx::query(self.sql.set_many_ex.clone())
            .bind(keys)
            .bind(values)
            .bind(interval(secs))
            .execute(&mut self.conn)
            .await?;
        Ok(())
    }
    async fn set_nx_get_ex(&mut self, key: &str, value: &[u8]) -> Res<(bool, Option<Vec<u8>>)> {
        // pgkv's parameters: key, value, the TTL as an interval.
        let (written, raced, previous): (bool, bool, Option<Vec<u8>>) =
            sqlx::query_as(self.sql.set_nx_get_ex.clone())
                .bind(key)
                .bind(value)
                .bind(interval(NX_TTL_SECS))
                .fetch_one(&mut self.conn)
                .await?;
        // The second column: a concurrent writer inserted the key between
        // the statement's snapshot and its INSERT, so nothing was decided;
        // pgkv sends the statement again then (up to 64 times). A single
        // connection cannot race, so here it must be false.
        if raced {
            return Err(format!("the floor's SET NX GET EX on {key} raced on one connection").into());
        }
        Ok((written, previous))
    }

    async fn rename(&mut self, from: &str, to: &str) -> Res<bool> {
        Ok(sqlx::query_scalar(self.sql.rename.clone())
            .bind(from)
            .bind(to)
            .fetch_one(&mut self.conn)
            .await?)
    }

    async fn delete_many(&mut self, keys: &[String]) -> Res<()> {
        sqlx::query(self.sql.delete_many.clone())
            .bind(keys)
            .execute(&mut self.conn)
            .await?;
        Ok(())
    }
}
