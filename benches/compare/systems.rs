//! The systems compared, behind one interface ([`Kv`]): the raw SQL floor,
//! pgkv 0.2, Redis and pgkv 0.1; and one pass's set of them, loaded.

use std::time::Duration;

use pgkv::{Config, ExpireWhen, ScanOptions, SetOptions, Store, TableType, TtlCleanupStrategy};
use pgkv_suite::XorShift;
use redis::aio::MultiplexedConnection;
use sqlx::postgres::types::PgInterval;
use sqlx::{AssertSqlSafe, Connection, PgConnection, SqlSafeStr, SqlStr};
use tokio::runtime::Runtime;

use crate::work::{Call, Work};
use crate::{
    BATCH, BoxError, Env, GT_LONGER_SECS, GT_SHORTER_SECS, INCREMENT_TTL_SECS, LOADED_TTL_SECS,
    MATCH_PATTERN, MATCH_PREFIX, MATCH_REGEX, NX_TTL_SECS, Res, SCAN_PREFIX, TASKS,
};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Kind {
    Floor,
    FloorOnRead,
    Pgkv,
    PgkvManual,
    Legacy,
    Redis,
}

impl Kind {
    pub(crate) const ALL: [Kind; 6] = [
        Kind::Floor,
        Kind::FloorOnRead,
        Kind::Pgkv,
        Kind::PgkvManual,
        Kind::Legacy,
        Kind::Redis,
    ];

    pub(crate) fn header(self) -> &'static str {
        match self {
            Kind::Floor => "floor (sqlx, 1 conn)",
            Kind::FloorOnRead => "floor, OnRead SQL",
            Kind::Pgkv => "pgkv 0.2 (OnRead)",
            Kind::PgkvManual => "pgkv 0.2, Manual TTL",
            Kind::Legacy => "pgkv 0.1",
            Kind::Redis => "Redis",
        }
    }

    fn tag(self) -> &'static str {
        match self {
            Kind::Floor => "floor",
            Kind::FloorOnRead => "flooro",
            Kind::Pgkv => "pgkv",
            Kind::PgkvManual => "pgkvm",
            Kind::Legacy => "legacy",
            Kind::Redis => "redis",
        }
    }

    /// What this system's factor is measured against: pgkv's default config
    /// against the floor doing the same SQL work, everything else against
    /// the plain floor.
    pub(crate) fn baseline(self) -> Kind {
        match self {
            Kind::Pgkv => Kind::FloorOnRead,
            _ => Kind::Floor,
        }
    }

    pub(crate) fn index(self) -> usize {
        Kind::ALL
            .iter()
            .position(|k| *k == self)
            .expect("every kind is listed")
    }
}

/// The async systems, behind one interface so that every timing loop and
/// every throughput client is written once.
pub(crate) trait Kv: Send {
    fn set(&mut self, key: &str, value: &[u8]) -> impl Future<Output = Res<()>> + Send;
    /// Whether the key was found.
    fn get(&mut self, key: &str) -> impl Future<Output = Res<bool>> + Send;
    /// Whether a key was removed.
    fn delete(&mut self, key: &str) -> impl Future<Output = Res<bool>> + Send;
    fn increment(&mut self, key: &str) -> impl Future<Output = Res<i64>> + Send;
    fn set_many(&mut self, keys: &[String], value: &[u8]) -> impl Future<Output = Res<()>> + Send;
    /// How many of the keys were found.
    fn get_many(&mut self, keys: &[String]) -> impl Future<Output = Res<usize>> + Send;
    /// Rows on the page after `after`.
    fn scan(&mut self, after: &str) -> impl Future<Output = Res<usize>> + Send;
    /// EXPIRE GT: whether the TTL was set.
    fn expire_gt(&mut self, key: &str, secs: u64) -> impl Future<Output = Res<bool>> + Send;
    /// The keys of the MATCH page after `after`.
    fn match_page(&mut self, after: &str) -> impl Future<Output = Res<Vec<String>>> + Send;
    /// INCREMENT_EX by 1 with a TTL of `INCREMENT_TTL_SECS`.
    fn increment_ex(&mut self, key: &str) -> impl Future<Output = Res<i64>> + Send;
    /// Writes `keys` with a TTL (loading only, untimed).
    fn set_many_ex(
        &mut self,
        keys: &[String],
        value: &[u8],
        secs: u64,
    ) -> impl Future<Output = Res<()>> + Send;
    /// SET NX GET EX `NX_TTL_SECS`: whether it wrote, and the live value
    /// the key held before.
    fn set_nx_get_ex(
        &mut self,
        key: &str,
        value: &[u8],
    ) -> impl Future<Output = Res<(bool, Option<Vec<u8>>)>> + Send;
    /// RENAME: whether `from` held a value (now at `to`).
    fn rename(&mut self, from: &str, to: &str) -> impl Future<Output = Res<bool>> + Send;
    /// Deletes `keys` (preparing chunks only, untimed).
    fn delete_many(&mut self, keys: &[String]) -> impl Future<Output = Res<()>> + Send;
}

/// Makes one call; returns the items it found, for [`Call::check`].
pub(crate) async fn perform<C: Kv>(c: &mut C, call: &Call<'_>, value: &[u8]) -> Res<usize> {
    Ok(match *call {
        Call::Set(k) => c.set(k, value).await.map(|()| 0)?,
        Call::Get(k) => usize::from(c.get(k).await?),
        Call::Delete(k) => usize::from(c.delete(k).await?),
        Call::Increment(k) => c.increment(k).await.map(|_| 0)?,
        Call::SetMany(keys) => c.set_many(keys, value).await.map(|()| 0)?,
        Call::GetMany(keys) => c.get_many(keys).await?,
        Call::Scan(after) => c.scan(after).await?,
        Call::ExpireGt(k, longer) => {
            let secs = if longer { GT_LONGER_SECS } else { GT_SHORTER_SECS };
            usize::from(c.expire_gt(k, secs).await?)
        }
        Call::MatchScan(after) => c.match_page(after).await?.len(),
        Call::IncrementEx(k) => c.increment_ex(k).await.map(|_| 0)?,
        Call::SetNxGetEx(k, _) => {
            let (written, previous) = c.set_nx_get_ex(k, value).await?;
            // NX: written exactly when there was no live value; the value
            // returned is the one prepared.
            if written == previous.is_some() || previous.as_deref().is_some_and(|p| p != value) {
                return Err(format!(
                    "SET NX GET EX on {k}: written {written}, previous value of {:?} bytes",
                    previous.map(|p| p.len())
                )
                .into());
            }
            usize::from(previous.is_some())
        }
        Call::Rename(from, to) => usize::from(c.rename(from, to).await?),
    })
}

/// The same for the synchronous pgkv 0.1, which cannot run inside a tokio
/// runtime (it blocks on one of its own in every call).
pub(crate) fn perform_legacy(s: &pgkv_legacy::Store, call: &Call<'_>, value: &[u8]) -> Res<usize> {
    Ok(match *call {
        Call::Set(k) => s.set(k, value).map(|()| 0)?,
        Call::Get(k) => usize::from(s.get(k)?.is_some()),
        Call::Delete(k) => usize::from(s.delete(k)?),
        Call::Increment(k) => s.increment(k, 1).map(|_| 0)?,
        Call::SetMany(keys) => legacy_set_many(s, keys, value).map(|()| 0)?,
        Call::GetMany(keys) => {
            let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
            s.get_many(&keys)?.len()
        }
        // 0.1 has no keyset pagination: its first page of the prefix (the
        // cheapest page it can read).
        Call::Scan(_) => {
            let opts = pgkv_legacy::ScanOptions::new().prefix(SCAN_PREFIX).limit(BATCH);
            s.scan(opts)?.len()
        }
        // Never asked (`Op::runs_on`): 0.1 has no such command.
        Call::ExpireGt(..)
        | Call::MatchScan(_)
        | Call::IncrementEx(_)
        | Call::SetNxGetEx(..)
        | Call::Rename(..) => {
            return Err("pgkv 0.1 has no EXPIRE GT, MATCH, INCREMENT_EX, SET options or RENAME".into());
        }
    })
}

// ---------------------------------------------------------------------------
// The floor: one connection, prepared statements, lean SQL.

struct FloorSql {
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
    set_nx_get_ex: SqlStr,
    rename: SqlStr,
    delete_many: SqlStr,
}

pub(crate) fn sql(text: String) -> SqlStr {
    AssertSqlSafe(text).into_sql_str()
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

/// The smallest string above every key with `prefix` (ASCII prefixes here).
fn upper_bound(prefix: &str) -> String {
    let mut bytes = prefix.as_bytes().to_vec();
    let last = bytes.pop().expect("non-empty prefix");
    bytes.push(last + 1);
    String::from_utf8(bytes).expect("ascii")
}

pub(crate) struct Floor {
    pub(crate) conn: PgConnection,
    sql: FloorSql,
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

// ---------------------------------------------------------------------------
// pgkv 0.2.

pub(crate) struct Pgkv {
    pub(crate) store: Store,
    pub(crate) scan_prefix: String,
}

fn items<'a>(keys: &'a [String], value: &'a [u8]) -> Vec<(&'a str, &'a [u8])> {
    keys.iter().map(|k| (k.as_str(), value)).collect()
}

impl Kv for Pgkv {
    async fn set(&mut self, key: &str, value: &[u8]) -> Res<()> {
        Ok(self.store.set(key, value).await?)
    }

    async fn get(&mut self, key: &str) -> Res<bool> {
        Ok(self.store.get(key).await?.is_some())
    }

    async fn delete(&mut self, key: &str) -> Res<bool> {
        Ok(self.store.delete(key).await?)
    }

    async fn increment(&mut self, key: &str) -> Res<i64> {
        Ok(self.store.increment(key, 1).await?)
    }

    async fn set_many(&mut self, keys: &[String], value: &[u8]) -> Res<()> {
        Ok(self.store.set_many(&items(keys, value)).await?)
    }

    async fn get_many(&mut self, keys: &[String]) -> Res<usize> {
        Ok(self.store.get_many(keys).await?.len())
    }

    async fn scan(&mut self, after: &str) -> Res<usize> {
        let opts = ScanOptions::new()
            .prefix(&self.scan_prefix)
            .after(after)
            .limit(BATCH as u64);
        Ok(self.store.scan(opts).await?.len())
    }

    async fn expire_gt(&mut self, key: &str, secs: u64) -> Res<bool> {
        Ok(self
            .store
            .expire_if(key, Duration::from_secs(secs), ExpireWhen::Later)
            .await?)
    }

    async fn match_page(&mut self, after: &str) -> Res<Vec<String>> {
        let opts = ScanOptions::new()
            .pattern(MATCH_PATTERN)
            .limit(BATCH as u64)
            .after(after);
        Ok(self.store.keys(opts).await?)
    }

    async fn increment_ex(&mut self, key: &str) -> Res<i64> {
        Ok(self
            .store
            .increment_ex(key, 1, Duration::from_secs(INCREMENT_TTL_SECS))
            .await?)
    }

    async fn set_many_ex(&mut self, keys: &[String], value: &[u8], secs: u64) -> Res<()> {
        Ok(self
            .store
            .set_many_ex(&items(keys, value), Duration::from_secs(secs))
            .await?)
    }
    async fn set_nx_get_ex(&mut self, key: &str, value: &[u8]) -> Res<(bool, Option<Vec<u8>>)> {
        let opts = SetOptions::new()
            .only_if_absent()
            .previous()
            .expire_in(Duration::from_secs(NX_TTL_SECS));
        let outcome = self.store.set_with(key, value, opts).await?;
        Ok((outcome.written, outcome.previous))
    }

    async fn rename(&mut self, from: &str, to: &str) -> Res<bool> {
        Ok(self.store.rename(from, to).await?)
    }

    async fn delete_many(&mut self, keys: &[String]) -> Res<()> {
        self.store.delete_many(keys).await?;
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Redis: one multiplexed connection; the scan reads a sorted-set index.

/// One round trip: the next `ARGV[3]` keys of the index after `ARGV[1]`
/// (exclusive) and below `ARGV[2]` (exclusive), with their values, in key
/// order: the same keyset page the SQL systems read.
const REDIS_SCAN: &str = r"
local keys = redis.call('ZRANGEBYLEX', KEYS[1], '(' .. ARGV[1], '(' .. ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
if #keys == 0 then return {} end
local values = redis.call('MGET', unpack(keys))
local out = {}
for i, k in ipairs(keys) do
  out[2 * i - 1] = k
  out[2 * i] = values[i]
end
return out
";
const REDIS_INDEX: &str = "pgkv-compare:index";

/// One round trip: the next `ARGV[3]` keys of the index after `ARGV[1]`
/// (exclusive) and below `ARGV[2]` (exclusive) that Lua pattern `ARGV[4]`
/// finds, in key order, read from the index 256 at a time: the same keyset
/// page of matching keys pgkv's MATCH reads (keys only, like `Store::keys`).
/// Redis's own `SCAN cursor MATCH p COUNT n` is unordered and returns
/// however many of `n` slots matched, so it cannot read this page.
const REDIS_MATCH: &str = r"
local want = tonumber(ARGV[3])
local from = '(' .. ARGV[1]
local out = {}
while #out < want do
  local keys = redis.call('ZRANGEBYLEX', KEYS[1], from, '(' .. ARGV[2], 'LIMIT', 0, 256)
  if #keys == 0 then break end
  for _, k in ipairs(keys) do
    if string.find(k, ARGV[4]) then
      out[#out + 1] = k
      if #out == want then break end
    end
  end
  from = '(' .. keys[#keys]
end
return out
";
/// `MATCH_PATTERN` (`key:0?5*`) as a Lua pattern, by hand: anchored at the
/// start, `.` for `?`, nothing for the final `*`.
const MATCH_LUA: &str = "^key:0.5";

pub(crate) struct RedisSys {
    conn: MultiplexedConnection,
    scan: redis::Script,
    scan_upper: String,
    scan_match: redis::Script,
    match_upper: String,
}

impl RedisSys {
    async fn connect(url: &str) -> Res<RedisSys> {
        let client = redis::Client::open(url)?;
        Ok(RedisSys {
            conn: client.get_multiplexed_async_connection().await?,
            scan: redis::Script::new(REDIS_SCAN),
            scan_upper: upper_bound(SCAN_PREFIX),
            scan_match: redis::Script::new(REDIS_MATCH),
            match_upper: upper_bound(MATCH_PREFIX),
        })
    }

    /// Another handle on the same multiplexed connection.
    pub(crate) fn share(&self) -> RedisSys {
        RedisSys {
            conn: self.conn.clone(),
            scan: redis::Script::new(REDIS_SCAN),
            scan_upper: self.scan_upper.clone(),
            scan_match: redis::Script::new(REDIS_MATCH),
            match_upper: self.match_upper.clone(),
        }
    }

    async fn index(&mut self, keys: &[String]) -> Res<()> {
        let mut cmd = redis::cmd("ZADD");
        cmd.arg(REDIS_INDEX);
        for k in keys {
            cmd.arg(0).arg(k);
        }
        cmd.query_async::<()>(&mut self.conn).await?;
        Ok(())
    }
}

impl Kv for RedisSys {
    async fn set(&mut self, key: &str, value: &[u8]) -> Res<()> {
        redis::cmd("SET")
            .arg(key)
            .arg(value)
            .query_async::<()>(&mut self.conn)
            .await?;
        Ok(())
    }

    async fn get(&mut self, key: &str) -> Res<bool> {
        let value: Option<Vec<u8>> = redis::cmd("GET").arg(key).query_async(&mut self.conn).await?;
        Ok(value.is_some())
    }

    async fn delete(&mut self, key: &str) -> Res<bool> {
        let n: i64 = redis::cmd("DEL").arg(key).query_async(&mut self.conn).await?;
        Ok(n == 1)
    }

    async fn increment(&mut self, key: &str) -> Res<i64> {
        Ok(redis::cmd("INCRBY")
            .arg(key)
            .arg(1)
            .query_async(&mut self.conn)
            .await?)
    }

    async fn set_many(&mut self, keys: &[String], value: &[u8]) -> Res<()> {
        let mut cmd = redis::cmd("MSET");
        for k in keys {
            cmd.arg(k).arg(value);
        }
        cmd.query_async::<()>(&mut self.conn).await?;
        Ok(())
    }

    async fn get_many(&mut self, keys: &[String]) -> Res<usize> {
        let values: Vec<Option<Vec<u8>>> = redis::cmd("MGET").arg(keys).query_async(&mut self.conn).await?;
        Ok(values.iter().filter(|v| v.is_some()).count())
    }

    async fn scan(&mut self, after: &str) -> Res<usize> {
        let flat: Vec<Vec<u8>> = self
            .scan
            .key(REDIS_INDEX)
            .arg(after)
            .arg(&self.scan_upper)
            .arg(BATCH)
            .invoke_async(&mut self.conn)
            .await?;
        Ok(flat.len() / 2)
    }

    async fn expire_gt(&mut self, key: &str, secs: u64) -> Res<bool> {
        let n: i64 = redis::cmd("EXPIRE")
            .arg(key)
            .arg(secs)
            .arg("GT")
            .query_async(&mut self.conn)
            .await?;
        Ok(n == 1)
    }

    async fn match_page(&mut self, after: &str) -> Res<Vec<String>> {
        Ok(self
            .scan_match
            .key(REDIS_INDEX)
            .arg(after)
            .arg(&self.match_upper)
            .arg(BATCH)
            .arg(MATCH_LUA)
            .invoke_async(&mut self.conn)
            .await?)
    }

    async fn increment_ex(&mut self, key: &str) -> Res<i64> {
        // MULTI, INCRBY, EXPIRE NX, EXEC: one round trip, atomic.
        let (n,): (i64,) = redis::pipe()
            .atomic()
            .cmd("INCRBY")
            .arg(key)
            .arg(1)
            .cmd("EXPIRE")
            .arg(key)
            .arg(INCREMENT_TTL_SECS)
            .arg("NX")
            .ignore()
            .query_async(&mut self.conn)
            .await?;
        Ok(n)
    }

    async fn set_many_ex(&mut self, keys: &[String], value: &[u8], secs: u64) -> Res<()> {
        let mut pipe = redis::pipe();
        for k in keys {
            pipe.cmd("SET").arg(k).arg(value).arg("EX").arg(secs).ignore();
        }
        pipe.query_async::<()>(&mut self.conn).await?;
        Ok(())
    }
    async fn set_nx_get_ex(&mut self, key: &str, value: &[u8]) -> Res<(bool, Option<Vec<u8>>)> {
        // The previous value, or nil; NX writes exactly when it was nil.
        let previous: Option<Vec<u8>> = redis::cmd("SET")
            .arg(key)
            .arg(value)
            .arg("NX")
            .arg("GET")
            .arg("EX")
            .arg(NX_TTL_SECS)
            .query_async(&mut self.conn)
            .await?;
        Ok((previous.is_none(), previous))
    }

    async fn rename(&mut self, from: &str, to: &str) -> Res<bool> {
        // OK, or the error "no such key".
        redis::cmd("RENAME")
            .arg(from)
            .arg(to)
            .query_async::<()>(&mut self.conn)
            .await?;
        Ok(true)
    }

    async fn delete_many(&mut self, keys: &[String]) -> Res<()> {
        redis::cmd("DEL")
            .arg(keys)
            .query_async::<()>(&mut self.conn)
            .await?;
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// pgkv 0.1 (synchronous).

pub(crate) fn legacy_table_type(tt: TableType) -> pgkv_legacy::TableType {
    if tt == TableType::Unlogged {
        pgkv_legacy::TableType::Unlogged
    } else {
        pgkv_legacy::TableType::Regular
    }
}

pub(crate) fn legacy_set_many(store: &pgkv_legacy::Store, keys: &[String], value: &[u8]) -> Res<()> {
    store.set_many(&items(keys, value))?;
    Ok(())
}

// ---------------------------------------------------------------------------
// One pass: every system on tables of one type.

pub(crate) struct Systems {
    pub(crate) floor: Floor,
    pub(crate) floor_on_read: Floor,
    pub(crate) pgkv: Pgkv,
    pub(crate) pgkv_manual: Pgkv,
    pub(crate) legacy: pgkv_legacy::Store,
    pub(crate) redis: RedisSys,
    pub(crate) tt: TableType,
    pub(crate) tables: Vec<String>,
}

pub(crate) fn table_name(kind: Kind, tt: TableType) -> String {
    let t = if tt == TableType::Unlogged { "u" } else { "r" };
    format!("pgkv_compare_{}_{t}_{}", kind.tag(), std::process::id())
}

pub(crate) async fn drop_tables(conn: &mut PgConnection, tables: &[String]) -> Res<()> {
    for t in tables {
        sqlx::query(sql(format!("DROP TABLE IF EXISTS \"{t}\"")))
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Writes every key of `work` through `c`, 1,000 at a time.
pub(crate) async fn load<C: Kv>(c: &mut C, work: &Work) -> Res<()> {
    for chunk in work.keys.chunks(1_000) {
        c.set_many(chunk, &work.value).await?;
    }
    Ok(())
}

/// Writes the keys EXPIRE GT works on, with a TTL of `LOADED_TTL_SECS`.
pub(crate) async fn load_expiring<C: Kv>(c: &mut C, work: &Work) -> Res<()> {
    for chunk in work.expiring.chunks(1_000) {
        c.set_many_ex(chunk, &work.value, LOADED_TTL_SECS).await?;
    }
    Ok(())
}

/// Before anything is timed: the floors, pgkv and Redis read the same MATCH
/// pages (the floor's regex and Redis's Lua pattern are written by hand
/// from the glob pgkv is given).
async fn same_match_pages(
    work: &Work,
    floors: &mut [&mut Floor],
    pgkv: &mut Pgkv,
    redis: &mut RedisSys,
) -> Res<()> {
    let mut rng = XorShift(0x3a7c4);
    for _ in 0..5 {
        let after = work.match_after(&mut rng);
        let want = pgkv.match_page(after).await?;
        if want.len() != BATCH {
            return Err(format!("pgkv's MATCH page after {after} has {} keys", want.len()).into());
        }
        for floor in floors.iter_mut() {
            if floor.match_page(after).await? != want {
                return Err(format!("the floor's MATCH page after {after} differs from pgkv's").into());
            }
        }
        if redis.match_page(after).await? != want {
            return Err(format!("Redis's MATCH page after {after} differs from pgkv's").into());
        }
    }
    Ok(())
}

/// pgkv's generated statements (`pgkv/sql/*.sql`, one per call, each under
/// a `-- name` line, for a table `"public"."kv_store"`).
const PGKV_ON_READ_SQL: &str = include_str!("../../pgkv/sql/on_read.sql");
const PGKV_MANUAL_SQL: &str = include_str!("../../pgkv/sql/manual.sql");

/// Before anything is timed: the floor's SET NX GET EX and RENAME are the
/// statements pgkv sends (OnRead and Manual alike) for the floor's table,
/// to the letter.
fn same_sql_as_pgkv(floor: &FloorSql, table: &str) -> Res<()> {
    for (file, name) in [(PGKV_ON_READ_SQL, "on_read.sql"), (PGKV_MANUAL_SQL, "manual.sql")] {
        for (section, mine) in [
            ("set_with Absent EX GET", &floor.set_nx_get_ex),
            ("rename", &floor.rename),
        ] {
            let mut lines = file.lines().skip_while(|l| *l != format!("-- {section}"));
            let theirs = lines
                .nth(1)
                .ok_or_else(|| format!("pgkv/sql/{name} has no section {section:?}"))?;
            let theirs = theirs
                .strip_suffix(';')
                .unwrap_or(theirs)
                .replace("\"public\".\"kv_store\"", &format!("\"{table}\""));
            if mine.as_str() != theirs {
                return Err(format!(
                    "the floor's statement for {section:?} is not pgkv's (pgkv/sql/{name}):\n  \
                     floor: {}\n  pgkv:  {theirs}",
                    mine.as_str()
                )
                .into());
            }
        }
    }
    Ok(())
}

/// Before anything is timed: every system answers SET NX GET EX and RENAME
/// alike, on probe keys of its own (removed afterwards).
async fn same_set_nx_and_rename<C: Kv>(c: &mut C, name: &str, value: &[u8]) -> Res<()> {
    let keys = ["probe:nx", "probe:a", "probe:b"].map(String::from);
    let [nx, a, b] = &keys;
    c.delete_many(&keys).await?;
    let got = [
        c.set_nx_get_ex(nx, value).await?,
        c.set_nx_get_ex(nx, b"other").await?,
    ];
    if got != [(true, None), (false, Some(value.to_vec()))] {
        return Err(format!("{name}: SET NX GET EX answered {got:?}").into());
    }
    c.set_many(std::slice::from_ref(a), value).await?;
    let moved = [
        c.rename(a, b).await?,
        c.rename(b, a).await?,
        c.rename(a, b).await?,
    ];
    let (at_a, at_b) = (c.get(a).await?, c.get(b).await?);
    if moved != [true; 3] || at_a || !at_b {
        return Err(format!("{name}: RENAME answered {moved:?}, then {a} found {at_a}, {b} {at_b}").into());
    }
    c.delete_many(&keys).await
}

pub(crate) async fn open_pgkv(config: Config) -> Res<Pgkv> {
    Ok(Pgkv {
        store: Store::with_config(config).await?,
        scan_prefix: SCAN_PREFIX.to_owned(),
    })
}

pub(crate) fn setup(rt: &Runtime, env: &Env, tt: TableType, work: &Work) -> Res<Systems> {
    let tables: Vec<String> = Kind::ALL
        .iter()
        .filter(|k| **k != Kind::Redis)
        .map(|k| table_name(*k, tt))
        .collect();
    let (floor, floor_on_read, pgkv, pgkv_manual, redis) = rt.block_on(async {
        let mut conn = PgConnection::connect(&env.pg_url).await?;
        drop_tables(&mut conn, &tables).await?;
        let mut floors = Vec::new();
        for (kind, on_read) in [(Kind::Floor, false), (Kind::FloorOnRead, true)] {
            let table = table_name(kind, tt);
            sqlx::raw_sql(sql(floor_ddl(&table, tt)))
                .execute(&mut conn)
                .await?;
            let mut floor = Floor::connect(&env.pg_url, &table, on_read, SCAN_PREFIX).await?;
            same_sql_as_pgkv(&floor.sql, &table)?;
            load(&mut floor, work).await?;
            load_expiring(&mut floor, work).await?;
            floors.push(floor);
        }
        conn.close().await?;

        let config = |kind: Kind| {
            Config::new(env.pg_url.clone())
                .table_name(&table_name(kind, tt))
                .table_type(tt)
                .max_connections(TASKS as u32)
        };
        let mut pgkv = open_pgkv(config(Kind::Pgkv)).await?;
        let mut pgkv_manual =
            open_pgkv(config(Kind::PgkvManual).ttl_cleanup_strategy(TtlCleanupStrategy::Manual)).await?;
        load(&mut pgkv, work).await?;
        load(&mut pgkv_manual, work).await?;
        load_expiring(&mut pgkv, work).await?;
        load_expiring(&mut pgkv_manual, work).await?;

        let mut redis = RedisSys::connect(&env.redis_url).await?;
        redis::cmd("FLUSHDB").query_async::<()>(&mut redis.conn).await?;
        load(&mut redis, work).await?;
        load_expiring(&mut redis, work).await?;
        for chunk in work.keys.chunks(1_000) {
            redis.index(chunk).await?;
        }
        let mut floor_on_read = floors.pop().expect("two floors");
        let mut floor = floors.pop().expect("two floors");
        same_match_pages(work, &mut [&mut floor, &mut floor_on_read], &mut pgkv, &mut redis).await?;
        let v = &work.value;
        same_set_nx_and_rename(&mut floor, Kind::Floor.header(), v).await?;
        same_set_nx_and_rename(&mut floor_on_read, Kind::FloorOnRead.header(), v).await?;
        same_set_nx_and_rename(&mut pgkv, Kind::Pgkv.header(), v).await?;
        same_set_nx_and_rename(&mut pgkv_manual, Kind::PgkvManual.header(), v).await?;
        same_set_nx_and_rename(&mut redis, Kind::Redis.header(), v).await?;
        Ok::<_, BoxError>((floor, floor_on_read, pgkv, pgkv_manual, redis))
    })?;

    // Outside any runtime: the 0.1 crate runs its own inside every call.
    let legacy = pgkv_legacy::Store::with_config(
        pgkv_legacy::Config::new(env.pg_url.clone())
            .table_name(table_name(Kind::Legacy, tt))
            .table_type(legacy_table_type(tt)),
    )?;
    for chunk in work.keys.chunks(1_000) {
        legacy_set_many(&legacy, chunk, &work.value)?;
    }

    let mut systems = Systems {
        floor,
        floor_on_read,
        pgkv,
        pgkv_manual,
        legacy,
        redis,
        tt,
        tables,
    };
    rt.block_on(async {
        for t in &systems.tables {
            sqlx::query(sql(format!("VACUUM ANALYZE \"{t}\"")))
                .execute(&mut systems.floor.conn)
                .await?;
        }
        Ok::<_, BoxError>(())
    })?;
    Ok(systems)
}
