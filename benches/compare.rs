//! pgkv side by side with the raw SQL floor, the pgkv 0.1 crate and Redis,
//! over identical workloads, in one run. Started by `bench/compare`, which
//! brings up a throwaway PostgreSQL and Redis on 127.0.0.1, pins everything
//! and passes the addresses in:
//!
//! ```text
//! bench/compare                       # the whole comparison, one command
//! bench/compare --layout split        # client on CPU 1 (also: same, free)
//! bench/compare --growth              # GET/SET/page cost at 10k, 1M, 10M rows
//! ```
//!
//! Run by hand it needs `DATABASE_URL` and `PGKV_COMPARE_REDIS_URL`; under a
//! plain `cargo bench` (which passes `--bench`) without them it says how to
//! run it and exits successfully, so `cargo bench` still runs the criterion
//! benchmarks.
//!
//! Systems, each holding the same rows (the SQL ones in tables of one schema,
//! except pgkv 0.1, which creates its own):
//! - floor: sqlx 0.9, one dedicated `PgConnection` (no pool), prepared
//!   statements, the leanest SQL for the same result;
//! - floor, OnRead SQL: the same connection code running pgkv's `OnRead`
//!   statements (reads carry the purge CTE), so pgkv's client cost can be
//!   told from the cost of the SQL it chose;
//! - pgkv: this crate's `Store` with its default config (`OnRead` TTL
//!   strategy), pool of 8; plus the same with the `Manual` strategy;
//! - pgkv 0.1: the synchronous crate from crates.io, on a plain thread;
//! - Redis: the `redis` crate, one multiplexed async connection.
//!
//! Every async system runs on one current-thread tokio runtime (each
//! measured call awaited inside `block_on`, like a task on any runtime); a
//! separate section measures GET under other runtime shapes. Latency rounds
//! interleave the systems (rotating order), so noise from the machine hits
//! each alike; ratios are to the floor of the same pass, except pgkv's
//! default (`OnRead`) config, which is compared with the floor running
//! `OnRead`'s SQL.
//!
//! Tunables (environment): `PGKV_COMPARE_ITERS` (timed calls per operation
//! and system, default 2000), `PGKV_COMPARE_ROUNDS` (interleaved rounds,
//! default 4), `PGKV_COMPARE_SECS` (throughput seconds per system, default
//! 5, split over 2 rounds), `PGKV_COMPARE_TABLES` (`unlogged,regular`),
//! `PGKV_COMPARE_PLACEMENT` (text describing the CPU layout, printed),
//! `PGKV_COMPARE_GROWTH` (comma-separated table sizes: measure growth
//! instead of the comparison).
//!
//! For profilers (perf, strace, callgrind) there is a bare loop mode that
//! needs only `DATABASE_URL`: `PGKV_COMPARE_LOOP=<floor|pgkv|pgkvm>:<op>:<calls>` (op: set, get,
//! increment, set_many, get_many or scan)
//! loads 10,000 rows into a table of that system, makes that many calls one
//! after another and prints the mean time per call, e.g.
//! `PGKV_COMPARE_LOOP=pgkv:get:20000 strace -c -f target/release/deps/compare-…`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use pgkv::{Config, ScanOptions, Store, TableType, TtlCleanupStrategy};
use pgkv_suite::{XorShift, sample_value};
use redis::aio::MultiplexedConnection;
use sqlx::{AssertSqlSafe, Connection, PgConnection, SqlSafeStr, SqlStr};
use tokio::runtime::Runtime;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Res<T> = Result<T, BoxError>;

/// Rows in every table before the measurements (`key:00000` … `key:09999`).
const ROWS: usize = 10_000;
/// Value size for every write.
const VALUE: usize = 256;
/// Items per SET_MANY / GET_MANY call, rows per scan page.
const BATCH: usize = 100;
/// Scans read pages of keys starting with this prefix (1,000 of the rows).
const SCAN_PREFIX: &str = "key:05";
/// Distinct counters INCREMENT cycles through.
const COUNTERS: usize = 100;
/// Concurrent tasks (or threads) in the throughput test.
const TASKS: usize = 8;
/// Untimed calls before each timed chunk, after switching systems.
const WARMUP: usize = 50;
/// A chunk (one system, one operation, one round) stops after this long
/// even if it has not made all its calls, so the run stays bounded.
const CHUNK_CAP: Duration = Duration::from_secs(6);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Op {
    Set,
    Get,
    Delete,
    Increment,
    SetMany,
    GetMany,
    Scan,
}

impl Op {
    const ALL: [Op; 7] = [
        Op::Set,
        Op::Get,
        Op::Delete,
        Op::Increment,
        Op::SetMany,
        Op::GetMany,
        Op::Scan,
    ];

    fn label(self) -> &'static str {
        match self {
            Op::Set => "SET",
            Op::Get => "GET (hit)",
            Op::Delete => "DELETE (hit)",
            Op::Increment => "INCREMENT",
            Op::SetMany => "SET_MANY(100)",
            Op::GetMany => "GET_MANY(100)",
            Op::Scan => "prefix page of 100",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Floor,
    FloorOnRead,
    Pgkv,
    PgkvManual,
    Legacy,
    Redis,
}

impl Kind {
    const ALL: [Kind; 6] = [
        Kind::Floor,
        Kind::FloorOnRead,
        Kind::Pgkv,
        Kind::PgkvManual,
        Kind::Legacy,
        Kind::Redis,
    ];

    fn header(self) -> &'static str {
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
    fn baseline(self) -> Kind {
        match self {
            Kind::Pgkv => Kind::FloorOnRead,
            _ => Kind::Floor,
        }
    }

    fn index(self) -> usize {
        Kind::ALL
            .iter()
            .position(|k| *k == self)
            .expect("every kind is listed")
    }
}

/// What every system is asked to do, prepared outside the timed region.
struct Work {
    keys: Vec<String>,
    counters: Vec<String>,
    value: Vec<u8>,
    /// First key index of the scan prefix, and how many keys it holds.
    scan_first: usize,
    scan_len: usize,
}

impl Work {
    fn new() -> Work {
        let keys: Vec<String> = (0..ROWS).map(|i| format!("key:{i:05}")).collect();
        let scan_first = keys
            .iter()
            .position(|k| k.starts_with(SCAN_PREFIX))
            .expect("prefix in range");
        let scan_len = keys.iter().filter(|k| k.starts_with(SCAN_PREFIX)).count();
        Work {
            keys,
            counters: (0..COUNTERS).map(|i| format!("ctr:{i:03}")).collect(),
            value: sample_value(VALUE),
            scan_first,
            scan_len,
        }
    }

    /// The key a scan page starts strictly after: a full page always follows.
    fn scan_after(&self, rng: &mut XorShift) -> &str {
        &self.keys[self.scan_first + rng.below(self.scan_len - BATCH)]
    }
}

/// One call's arguments, chosen before the clock starts.
enum Call<'a> {
    Set(&'a str),
    Get(&'a str),
    Delete(&'a str),
    Increment(&'a str),
    SetMany(&'a [String]),
    GetMany(&'a [String]),
    /// A page of the system's scan prefix, strictly after this key.
    Scan(&'a str),
}

impl Call<'_> {
    /// Checks what a call reported (hits, rows): every measured call must
    /// have done the full work, or the timing means nothing.
    fn check(&self, got: usize) -> Res<()> {
        let want = match self {
            Call::Get(_) | Call::Delete(_) => 1,
            Call::GetMany(_) | Call::Scan(_) => BATCH,
            Call::Set(_) | Call::Increment(_) | Call::SetMany(_) => return Ok(()),
        };
        if got == want {
            Ok(())
        } else {
            Err(format!("a measured call found {got} items, expected {want}").into())
        }
    }
}

/// The async systems, behind one interface so that every timing loop and
/// every throughput client is written once.
trait Kv: Send {
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
}

/// Makes one call; returns the items it found, for [`Call::check`].
async fn perform<C: Kv>(c: &mut C, call: &Call<'_>, value: &[u8]) -> Res<usize> {
    Ok(match *call {
        Call::Set(k) => c.set(k, value).await.map(|()| 0)?,
        Call::Get(k) => usize::from(c.get(k).await?),
        Call::Delete(k) => usize::from(c.delete(k).await?),
        Call::Increment(k) => c.increment(k).await.map(|_| 0)?,
        Call::SetMany(keys) => c.set_many(keys, value).await.map(|()| 0)?,
        Call::GetMany(keys) => c.get_many(keys).await?,
        Call::Scan(after) => c.scan(after).await?,
    })
}

/// The same for the synchronous pgkv 0.1, which cannot run inside a tokio
/// runtime (it blocks on one of its own in every call).
fn perform_legacy(s: &pgkv_legacy::Store, call: &Call<'_>, value: &[u8]) -> Res<usize> {
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
}

fn sql(text: String) -> SqlStr {
    AssertSqlSafe(text).into_sql_str()
}

impl FloorSql {
    /// `on_read`: reads also delete the rows they meet that have expired, in
    /// the same statement, as pgkv's default `OnRead` strategy does.
    fn new(table: &str, on_read: bool) -> FloorSql {
        let t = format!("\"{table}\"");
        let live = "(expires_at IS NULL OR expires_at > statement_timestamp())";
        let purge = |filter: &str| {
            if on_read {
                format!(
                    "WITH purged AS (DELETE FROM {t} WHERE {filter} \
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
        }
    }
}

fn floor_ddl(table: &str, tt: TableType) -> String {
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

struct Floor {
    conn: PgConnection,
    sql: FloorSql,
    /// Scans read keys below this bound (the scan prefix's upper bound).
    scan_upper: String,
}

impl Floor {
    async fn connect(url: &str, table: &str, on_read: bool, scan_prefix: &str) -> Res<Floor> {
        Ok(Floor {
            conn: PgConnection::connect(url).await?,
            sql: FloorSql::new(table, on_read),
            scan_upper: upper_bound(scan_prefix),
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
}

// ---------------------------------------------------------------------------
// pgkv 0.2.

struct Pgkv {
    store: Store,
    scan_prefix: String,
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

struct RedisSys {
    conn: MultiplexedConnection,
    scan: redis::Script,
    scan_upper: String,
}

impl RedisSys {
    /// Another handle on the same multiplexed connection.
    fn share(&self) -> RedisSys {
        RedisSys {
            conn: self.conn.clone(),
            scan: redis::Script::new(REDIS_SCAN),
            scan_upper: self.scan_upper.clone(),
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
}

// ---------------------------------------------------------------------------
// pgkv 0.1 (synchronous).

fn legacy_table_type(tt: TableType) -> pgkv_legacy::TableType {
    if tt == TableType::Unlogged {
        pgkv_legacy::TableType::Unlogged
    } else {
        pgkv_legacy::TableType::Regular
    }
}

fn legacy_set_many(store: &pgkv_legacy::Store, keys: &[String], value: &[u8]) -> Res<()> {
    store.set_many(&items(keys, value))?;
    Ok(())
}

// ---------------------------------------------------------------------------
// One pass: every system on tables of one type.

struct Systems {
    floor: Floor,
    floor_on_read: Floor,
    pgkv: Pgkv,
    pgkv_manual: Pgkv,
    legacy: pgkv_legacy::Store,
    redis: RedisSys,
    tt: TableType,
    tables: Vec<String>,
}

fn table_name(kind: Kind, tt: TableType) -> String {
    let t = if tt == TableType::Unlogged { "u" } else { "r" };
    format!("pgkv_compare_{}_{t}_{}", kind.tag(), std::process::id())
}

async fn drop_tables(conn: &mut PgConnection, tables: &[String]) -> Res<()> {
    for t in tables {
        sqlx::query(sql(format!("DROP TABLE IF EXISTS \"{t}\"")))
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Writes every key of `work` through `c`, 1,000 at a time.
async fn load<C: Kv>(c: &mut C, work: &Work) -> Res<()> {
    for chunk in work.keys.chunks(1_000) {
        c.set_many(chunk, &work.value).await?;
    }
    Ok(())
}

async fn open_pgkv(config: Config) -> Res<Pgkv> {
    Ok(Pgkv {
        store: Store::with_config(config).await?,
        scan_prefix: SCAN_PREFIX.to_owned(),
    })
}

fn setup(rt: &Runtime, env: &Env, tt: TableType, work: &Work) -> Res<Systems> {
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
            load(&mut floor, work).await?;
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

        let client = redis::Client::open(env.redis_url.as_str())?;
        let mut redis = RedisSys {
            conn: client.get_multiplexed_async_connection().await?,
            scan: redis::Script::new(REDIS_SCAN),
            scan_upper: upper_bound(SCAN_PREFIX),
        };
        redis::cmd("FLUSHDB").query_async::<()>(&mut redis.conn).await?;
        load(&mut redis, work).await?;
        for chunk in work.keys.chunks(1_000) {
            redis.index(chunk).await?;
        }
        let floor_on_read = floors.pop().expect("two floors");
        let floor = floors.pop().expect("two floors");
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

/// Collects one chunk's samples, and says when the chunk's time is up.
struct Clock {
    chunk_start: Instant,
    samples: Vec<u64>,
}

impl Clock {
    fn new(n: usize) -> Clock {
        Clock {
            chunk_start: Instant::now(),
            samples: Vec::with_capacity(n),
        }
    }

    /// Records a call that started at `start`; false once the chunk cap is
    /// reached.
    fn record(&mut self, start: Instant) -> bool {
        self.samples.push(start.elapsed().as_nanos() as u64);
        self.chunk_start.elapsed() <= CHUNK_CAP
    }
}

/// Makes the first `WARMUP` calls untimed and times the rest; nanoseconds.
async fn timed<C: Kv>(c: &mut C, calls: &[Call<'_>], value: &[u8]) -> Res<Vec<u64>> {
    let (warmup, measured) = calls.split_at(WARMUP.min(calls.len()));
    for call in warmup {
        perform(c, call, value).await?;
    }
    let mut clock = Clock::new(measured.len());
    for call in measured {
        let start = Instant::now();
        let got = perform(c, call, value).await?;
        let more = clock.record(start);
        call.check(got)?;
        if !more {
            break;
        }
    }
    Ok(clock.samples)
}

fn timed_legacy(s: &pgkv_legacy::Store, calls: &[Call<'_>], value: &[u8]) -> Res<Vec<u64>> {
    let (warmup, measured) = calls.split_at(WARMUP.min(calls.len()));
    for call in warmup {
        perform_legacy(s, call, value)?;
    }
    let mut clock = Clock::new(measured.len());
    for call in measured {
        let start = Instant::now();
        let got = perform_legacy(s, call, value)?;
        let more = clock.record(start);
        call.check(got)?;
        if !more {
            break;
        }
    }
    Ok(clock.samples)
}

/// Per call `i`, the random choices (fixed by the seed, so every system gets
/// the same sequence).
fn choices(seed: u64, n: usize) -> Vec<usize> {
    let mut rng = XorShift(seed | 1);
    (0..n).map(|_| rng.below(usize::MAX)).collect()
}

/// The calls of one chunk: `WARMUP` untimed ones, then `n` timed ones.
fn chunk_calls<'a>(work: &'a Work, doomed: &'a [String], op: Op, n: usize, round: usize) -> Vec<Call<'a>> {
    // The same call sequence for every system in this round.
    let seed = 0x5eed_0000 + (op as u64) * 1_000 + round as u64;
    choices(seed, n + WARMUP)
        .into_iter()
        .enumerate()
        .map(|(i, pick)| match op {
            Op::Set => Call::Set(&work.keys[pick % ROWS]),
            Op::Get => Call::Get(&work.keys[pick % ROWS]),
            Op::Delete => Call::Delete(&doomed[i]),
            Op::Increment => Call::Increment(&work.counters[pick % COUNTERS]),
            Op::SetMany | Op::GetMany => {
                let start = pick % (ROWS - BATCH);
                let batch = &work.keys[start..start + BATCH];
                if op == Op::SetMany {
                    Call::SetMany(batch)
                } else {
                    Call::GetMany(batch)
                }
            }
            Op::Scan => Call::Scan(work.scan_after(&mut XorShift(pick as u64 | 1))),
        })
        .collect()
}

/// One chunk: `n` timed calls of `op` on system `kind`.
fn run_chunk(
    rt: &Runtime,
    sys: &mut Systems,
    work: &Work,
    kind: Kind,
    op: Op,
    n: usize,
    round: usize,
) -> Res<Vec<u64>> {
    // DELETE removes rows written (untimed) just before the chunk.
    let doomed: Vec<String> = if op == Op::Delete {
        (0..n + WARMUP).map(|i| format!("del:{round}:{i:05}")).collect()
    } else {
        Vec::new()
    };
    let calls = chunk_calls(work, &doomed, op, n, round);
    let v = work.value.as_slice();
    async fn prepared_chunk<C: Kv>(
        c: &mut C,
        doomed: &[String],
        calls: &[Call<'_>],
        v: &[u8],
    ) -> Res<Vec<u64>> {
        for chunk in doomed.chunks(1_000) {
            c.set_many(chunk, v).await?;
        }
        timed(c, calls, v).await
    }
    match kind {
        Kind::Legacy => {
            for chunk in doomed.chunks(1_000) {
                legacy_set_many(&sys.legacy, chunk, v)?;
            }
            timed_legacy(&sys.legacy, &calls, v)
        }
        Kind::Floor => rt.block_on(prepared_chunk(&mut sys.floor, &doomed, &calls, v)),
        Kind::FloorOnRead => rt.block_on(prepared_chunk(&mut sys.floor_on_read, &doomed, &calls, v)),
        Kind::Pgkv => rt.block_on(prepared_chunk(&mut sys.pgkv, &doomed, &calls, v)),
        Kind::PgkvManual => rt.block_on(prepared_chunk(&mut sys.pgkv_manual, &doomed, &calls, v)),
        Kind::Redis => rt.block_on(prepared_chunk(&mut sys.redis, &doomed, &calls, v)),
    }
}

// ---------------------------------------------------------------------------
// Throughput: 8 concurrent clients, 80 % GET / 20 % SET over the 10k keys.

/// Client `t`'s call sequence.
fn mix_rng(t: usize) -> XorShift {
    XorShift(0x9e37_79b9_7f4a_7c15 ^ (t as u64 + 1))
}

/// The next call of the mix: which key, and whether it is a SET.
fn mix_pick(rng: &mut XorShift) -> (usize, bool) {
    (rng.below(ROWS), rng.below(10) < 2)
}

/// Runs one task per client on the current runtime for `dur`; calls per
/// second over all of them.
async fn throughput_async<C: Kv + 'static>(clients: Vec<C>, work: &Arc<Work>, dur: Duration) -> Res<u64> {
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let handles: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(t, mut c)| {
            let (stop, work) = (stop.clone(), work.clone());
            tokio::spawn(async move {
                let mut rng = mix_rng(t);
                let mut calls = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let (k, write) = mix_pick(&mut rng);
                    if write {
                        c.set(&work.keys[k], &work.value).await?;
                    } else {
                        c.get(&work.keys[k]).await?;
                    }
                    calls += 1;
                }
                Ok::<u64, BoxError>(calls)
            })
        })
        .collect();
    tokio::time::sleep(dur).await;
    stop.store(true, Ordering::Relaxed);
    // Calls still in flight when the clock stops are counted: they finish
    // within a round trip of it.
    let secs = start.elapsed().as_secs_f64();
    let mut calls = 0;
    for h in handles {
        calls += h.await??;
    }
    Ok((calls as f64 / secs) as u64)
}

/// pgkv 0.1: one thread and one `Store` per client.
fn throughput_legacy(env: &Env, tt: TableType, work: &Arc<Work>, dur: Duration) -> Res<u64> {
    let stop = Arc::new(AtomicBool::new(false));
    let total = Arc::new(AtomicU64::new(0));
    let table = table_name(Kind::Legacy, tt);
    // Connections are opened before the clock starts.
    let barrier = Arc::new(Barrier::new(TASKS + 1));
    let handles: Vec<_> = (0..TASKS)
        .map(|t| {
            let config = pgkv_legacy::Config::new(env.pg_url.clone())
                .table_name(table.clone())
                .table_type(legacy_table_type(tt));
            let (stop, total, work, barrier) = (stop.clone(), total.clone(), work.clone(), barrier.clone());
            std::thread::spawn(move || -> Result<(), String> {
                let store = pgkv_legacy::Store::with_config(config);
                barrier.wait();
                let store = store.map_err(|e| e.to_string())?;
                let mut rng = mix_rng(t);
                let mut calls = 0;
                while !stop.load(Ordering::Relaxed) {
                    let (k, write) = mix_pick(&mut rng);
                    let key = &work.keys[k];
                    if write {
                        store.set(key, &work.value).map_err(|e| e.to_string())?;
                    } else {
                        store.get(key).map_err(|e| e.to_string())?;
                    }
                    calls += 1;
                }
                total.fetch_add(calls, Ordering::Relaxed);
                Ok(())
            })
        })
        .collect();
    barrier.wait();
    let start = Instant::now();
    std::thread::sleep(dur);
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.join().map_err(|_| "legacy client thread panicked")??;
    }
    let secs = start.elapsed().as_secs_f64();
    Ok((total.load(Ordering::Relaxed) as f64 / secs) as u64)
}

fn throughput(
    rt: &Runtime,
    env: &Env,
    sys: &Systems,
    work: &Arc<Work>,
    kind: Kind,
    dur: Duration,
) -> Res<u64> {
    if kind == Kind::Legacy {
        return throughput_legacy(env, sys.tt, work, dur);
    }
    rt.block_on(async {
        // Clients are connected before the clock starts.
        let pgkv = |p: &Pgkv| {
            (0..TASKS)
                .map(|_| Pgkv {
                    store: p.store.clone(),
                    scan_prefix: p.scan_prefix.clone(),
                })
                .collect::<Vec<_>>()
        };
        match kind {
            Kind::Legacy => Err("pgkv 0.1 runs on threads, not on the runtime".into()),
            Kind::Floor | Kind::FloorOnRead => {
                let mut floors = Vec::new();
                for _ in 0..TASKS {
                    let on_read = kind == Kind::FloorOnRead;
                    floors.push(
                        Floor::connect(&env.pg_url, &table_name(kind, sys.tt), on_read, SCAN_PREFIX).await?,
                    );
                }
                throughput_async(floors, work, dur).await
            }
            Kind::Pgkv => throughput_async(pgkv(&sys.pgkv), work, dur).await,
            Kind::PgkvManual => throughput_async(pgkv(&sys.pgkv_manual), work, dur).await,
            Kind::Redis => throughput_async((0..TASKS).map(|_| sys.redis.share()).collect(), work, dur).await,
        }
    })
}

// ---------------------------------------------------------------------------
// Results.

#[derive(Default, Clone)]
struct Stat {
    median_us: f64,
    p99_us: f64,
    samples: usize,
}

fn stat(mut ns: Vec<u64>) -> Stat {
    ns.sort_unstable();
    let n = ns.len();
    if n == 0 {
        return Stat::default();
    }
    let median = if n % 2 == 1 {
        ns[n / 2] as f64
    } else {
        (ns[n / 2 - 1] + ns[n / 2]) as f64 / 2.0
    };
    let p99 = ns[((n as f64 * 0.99).ceil() as usize).clamp(1, n) - 1] as f64;
    Stat {
        median_us: median / 1000.0,
        p99_us: p99 / 1000.0,
        samples: n,
    }
}

struct PassResult {
    tt: TableType,
    /// Per operation, one `Stat` per `Kind::ALL` entry.
    latency: Vec<(Op, Vec<Stat>)>,
    /// Ops/s, one per `Kind::ALL` entry.
    throughput: Vec<u64>,
}

fn fmt_us(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn fmt_int(v: u64) -> String {
    let s = v.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn table_label(tt: TableType) -> &'static str {
    if tt == TableType::Unlogged {
        "UNLOGGED"
    } else {
        "Regular"
    }
}

/// A markdown table header: the given leading columns, then one right-aligned
/// column per name.
fn header<'a>(lead: &[&str], cols: impl IntoIterator<Item = &'a str>) -> String {
    let cols: Vec<&str> = cols.into_iter().collect();
    let mut out = format!("| {} |", lead.join(" | "));
    for c in &cols {
        let _ = write!(out, " {c} |");
    }
    out.push_str("\n|");
    out.push_str(&"---|".repeat(lead.len()));
    out.push_str(&"---:|".repeat(cols.len()));
    out.push('\n');
    out
}

fn render(results: &[PassResult], iters: usize) -> String {
    let mut out = header(&["table", "operation"], Kind::ALL.map(Kind::header));
    let mut short = Vec::new();
    for pass in results {
        for (op, stats) in &pass.latency {
            let _ = write!(out, "| {} | {} µs |", table_label(pass.tt), op.label());
            for (k, s) in Kind::ALL.iter().zip(stats) {
                if s.samples < iters {
                    short.push(format!(
                        "{} / {} / {}: {} samples (chunk time cap)",
                        table_label(pass.tt),
                        op.label(),
                        k.header(),
                        s.samples
                    ));
                }
                let _ = write!(out, " {} / {}", fmt_us(s.median_us), fmt_us(s.p99_us));
                if *k != Kind::Floor {
                    let base = stats[k.baseline().index()].median_us;
                    let _ = write!(out, " ({:.2}×)", s.median_us / base);
                }
                out.push_str(" |");
            }
            out.push('\n');
        }
        let _ = write!(
            out,
            "| {} | throughput, {TASKS} clients, 80 % GET / 20 % SET, ops/s |",
            table_label(pass.tt)
        );
        for (k, ops) in Kind::ALL.iter().zip(&pass.throughput) {
            let _ = write!(out, " {}", fmt_int(*ops));
            if *k != Kind::Floor {
                let base = pass.throughput[k.baseline().index()] as f64;
                let _ = write!(out, " ({:.2}×)", *ops as f64 / base);
            }
            out.push_str(" |");
        }
        out.push('\n');
    }
    if !short.is_empty() {
        out.push_str("\nFewer samples than asked:\n");
        for s in short {
            let _ = writeln!(out, "- {s}");
        }
    }
    out
}

/// How many times faster pgkv 0.2 is than pgkv 0.1 (median ÷ median,
/// throughput ÷ throughput), per table type and operation.
fn render_speedup(results: &[PassResult]) -> String {
    let mine = [Kind::Pgkv, Kind::PgkvManual];
    let mut out = header(&["table", "operation"], mine.map(Kind::header));
    let legacy = Kind::Legacy.index();
    for pass in results {
        for (op, stats) in &pass.latency {
            let _ = write!(out, "| {} | {} |", table_label(pass.tt), op.label());
            for k in mine {
                let _ = write!(
                    out,
                    " {:.2}× |",
                    stats[legacy].median_us / stats[k.index()].median_us
                );
            }
            out.push('\n');
        }
        let _ = write!(out, "| {} | throughput |", table_label(pass.tt));
        for k in mine {
            let _ = write!(
                out,
                " {:.2}× |",
                pass.throughput[k.index()] as f64 / pass.throughput[legacy] as f64
            );
        }
        out.push('\n');
    }
    out
}

// ---------------------------------------------------------------------------
// Runtime shapes: the same GETs driven the ways a program can drive them.

#[derive(Clone, Copy)]
enum Shape {
    CurrentThread,
    MultiBlockOn,
    MultiSpawned,
}

impl Shape {
    const ALL: [Shape; 3] = [Shape::CurrentThread, Shape::MultiBlockOn, Shape::MultiSpawned];

    fn label(self) -> &'static str {
        match self {
            Shape::CurrentThread => "current-thread runtime (`#[tokio::main(flavor = \"current_thread\")]`)",
            Shape::MultiBlockOn => "multi-thread runtime, awaited in `main` itself (`#[tokio::main]`)",
            Shape::MultiSpawned => "multi-thread runtime, awaited in a spawned task",
        }
    }

    fn runtime(self) -> Res<Runtime> {
        let mut builder = match self {
            Shape::CurrentThread => tokio::runtime::Builder::new_current_thread(),
            Shape::MultiBlockOn | Shape::MultiSpawned => tokio::runtime::Builder::new_multi_thread(),
        };
        Ok(builder.enable_all().build()?)
    }
}

/// One shape's clients: a floor connection and a pgkv `Store` (on the tables
/// of the UNLOGGED pass), opened on that shape's runtime, whose I/O driver
/// they are registered with.
struct ShapeClients {
    floor: Floor,
    pgkv: Pgkv,
}

impl ShapeClients {
    async fn open(env: Arc<Env>) -> Res<ShapeClients> {
        let floor_table = table_name(Kind::Floor, TableType::Unlogged);
        let floor = Floor::connect(&env.pg_url, &floor_table, false, SCAN_PREFIX).await?;
        let config = Config::new(env.pg_url.clone()).table_name(&table_name(Kind::Pgkv, TableType::Unlogged));
        Ok(ShapeClients {
            floor,
            pgkv: open_pgkv(config).await?,
        })
    }

    /// One round of GET hits, floor then pgkv; the clients go back to the
    /// caller (a spawned task owns them while it runs).
    async fn round(mut self, work: Arc<Work>, n: usize, round: usize) -> Res<(ShapeClients, [Vec<u64>; 2])> {
        let calls = chunk_calls(&work, &[], Op::Get, n, 1_000 + round);
        let floor = timed(&mut self.floor, &calls, &work.value).await?;
        let pgkv = timed(&mut self.pgkv, &calls, &work.value).await?;
        Ok((self, [floor, pgkv]))
    }
}

/// The shapes take turns round by round (rotating order), like the systems
/// in the main passes, so the machine's noise hits each alike.
fn runtime_shapes(env: &Arc<Env>, work: &Arc<Work>) -> Res<String> {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut out = header(
        &["how the calls are driven"],
        ["floor GET (hit) µs", "pgkv 0.2 GET (hit) µs", "pgkv ÷ floor"],
    );
    eprintln!("compare: runtime shapes");
    let mut runtimes = Vec::new();
    for shape in Shape::ALL {
        let rt = shape.runtime()?;
        let clients = rt.block_on(ShapeClients::open(env.clone()))?;
        runtimes.push((shape, rt, Some(clients), [Vec::new(), Vec::new()]));
    }
    let per_round = env.iters.div_ceil(env.rounds);
    for round in 0..env.rounds {
        for j in 0..runtimes.len() {
            let idx = (j + round) % runtimes.len();
            let (shape, rt, clients, samples) = &mut runtimes[idx];
            let task = clients.take().expect("clients return after every round").round(
                work.clone(),
                per_round,
                round,
            );
            let (back, got) = match shape {
                Shape::MultiSpawned => rt.block_on(async { tokio::spawn(task).await? })?,
                _ => rt.block_on(task)?,
            };
            *clients = Some(back);
            for (all, new) in samples.iter_mut().zip(got) {
                all.extend(new);
            }
        }
    }
    for (shape, _, _, [floor, pgkv]) in runtimes {
        let (floor, pgkv) = (stat(floor), stat(pgkv));
        let _ = writeln!(
            out,
            "| {} | {} / {} | {} / {} | {:.2}× |",
            shape.label(),
            fmt_us(floor.median_us),
            fmt_us(floor.p99_us),
            fmt_us(pgkv.median_us),
            fmt_us(pgkv.p99_us),
            pgkv.median_us / floor.median_us
        );
    }
    let _ = write!(
        out,
        "\nMulti-thread runtimes have {workers} worker thread(s) here (tokio's default: the \
         CPUs this process may run on). Cells: median / p99 in µs.\n"
    );
    Ok(out)
}

// ---------------------------------------------------------------------------
// Growth: GET, SET and a prefix page as one table grows.

/// Growth keys are `key:00000000` …; pages read the first 10,000 of them.
const GROWTH_PREFIX: &str = "key:0000";
const GROWTH_PREFIX_ROWS: usize = 10_000;

fn growth_key(i: usize) -> String {
    format!("key:{i:08}")
}

fn parse_sizes(text: &str) -> Res<Vec<usize>> {
    let sizes = text
        .split(',')
        .map(|s| s.trim().replace('_', "").parse::<usize>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("PGKV_COMPARE_GROWTH={text:?}: {e}"))?;
    if sizes.is_empty()
        || sizes.windows(2).any(|w| w[0] >= w[1])
        || sizes[0] < GROWTH_PREFIX_ROWS
        || sizes[sizes.len() - 1] > 100_000_000
    {
        return Err(format!(
            "PGKV_COMPARE_GROWTH={text:?}: expected increasing sizes from {GROWTH_PREFIX_ROWS} to 100000000"
        )
        .into());
    }
    Ok(sizes)
}

/// One size's medians: [floor, pgkv] for GET, SET, page.
struct GrowthRow {
    rows: usize,
    size: String,
    stats: [[Stat; 2]; 3],
}

fn growth(pg_url: &str, sizes: &[usize], iters: usize, rounds: usize) -> Res<String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let table = format!("pgkv_growth_{}", std::process::id());
    let value = sample_value(VALUE);
    let rows = rt.block_on(async {
        let mut admin = PgConnection::connect(pg_url).await?;
        drop_tables(&mut admin, std::slice::from_ref(&table)).await?;
        let mut pgkv = open_pgkv(Config::new(pg_url).table_name(&table)).await?;
        pgkv.scan_prefix = GROWTH_PREFIX.to_owned();
        let mut floor = Floor::connect(pg_url, &table, false, GROWTH_PREFIX).await?;
        let fill = sql(format!(
            "INSERT INTO \"{table}\" (key, value) \
             SELECT 'key:' || lpad(i::text, 8, '0'), $1 FROM generate_series($2::bigint, $3::bigint) AS i"
        ));
        let mut loaded = 0;
        let mut out = Vec::new();
        for &size in sizes {
            while loaded < size {
                let upto = (loaded + 1_000_000).min(size);
                sqlx::query(fill.clone())
                    .bind(&value)
                    .bind(loaded as i64)
                    .bind(upto as i64 - 1)
                    .execute(&mut admin)
                    .await?;
                loaded = upto;
                eprintln!("compare: growth: {loaded} rows loaded");
            }
            sqlx::query(sql(format!("VACUUM ANALYZE \"{table}\"")))
                .execute(&mut admin)
                .await?;
            let size_text: String =
                sqlx::query_scalar("SELECT pg_size_pretty(pg_total_relation_size($1::regclass))")
                    .bind(format!("\"{table}\""))
                    .fetch_one(&mut admin)
                    .await?;
            eprintln!("compare: growth: measuring at {size} rows ({size_text})");
            let per_round = iters.div_ceil(rounds);
            let mut samples: [[Vec<u64>; 2]; 3] = Default::default();
            for round in 0..rounds {
                let picks = choices(0x6077 + round as u64, per_round + WARMUP);
                let keys: Vec<String> = picks.iter().map(|p| growth_key(p % size)).collect();
                let afters: Vec<String> = picks
                    .iter()
                    .map(|p| growth_key(p % (GROWTH_PREFIX_ROWS - BATCH)))
                    .collect();
                let ops: [Vec<Call>; 3] = [
                    keys.iter().map(|k| Call::Get(k)).collect(),
                    keys.iter().map(|k| Call::Set(k)).collect(),
                    afters.iter().map(|k| Call::Scan(k)).collect(),
                ];
                for (calls, samples) in ops.iter().zip(&mut samples) {
                    // Alternate which system goes first.
                    if round % 2 == 0 {
                        samples[0].extend(timed(&mut floor, calls, &value).await?);
                        samples[1].extend(timed(&mut pgkv, calls, &value).await?);
                    } else {
                        samples[1].extend(timed(&mut pgkv, calls, &value).await?);
                        samples[0].extend(timed(&mut floor, calls, &value).await?);
                    }
                }
            }
            out.push(GrowthRow {
                rows: size,
                size: size_text,
                stats: samples.map(|pair| pair.map(stat)),
            });
        }
        drop_tables(&mut admin, std::slice::from_ref(&table)).await?;
        Ok::<_, BoxError>(out)
    })?;

    let mut out = header(
        &["rows", "table + indexes"],
        [
            "floor GET",
            "pgkv GET",
            "floor SET",
            "pgkv SET",
            "floor page of 100",
            "pgkv page of 100",
            "pgkv page ÷ pgkv GET",
        ],
    );
    for row in &rows {
        let _ = write!(out, "| {} | {} |", fmt_int(row.rows as u64), row.size);
        for pair in &row.stats {
            for s in pair {
                let _ = write!(out, " {} / {} |", fmt_us(s.median_us), fmt_us(s.p99_us));
            }
        }
        let _ = writeln!(
            out,
            " {:.2}× |",
            row.stats[2][1].median_us / row.stats[0][1].median_us
        );
    }
    if let (Some(first), Some(last)) = (rows.first(), rows.last()) {
        let ratio = |op: usize, sys: usize| last.stats[op][sys].median_us / first.stats[op][sys].median_us;
        let _ = write!(
            out,
            "\nLargest ÷ smallest table, medians: pgkv GET {:.2}×, pgkv SET {:.2}× \
             (floor GET {:.2}×, floor SET {:.2}×).\n",
            ratio(0, 1),
            ratio(1, 1),
            ratio(0, 0),
            ratio(1, 0)
        );
    }
    let _ = writeln!(
        out,
        "Cells: median / p99 in µs. One UNLOGGED table shared by both systems (pgkv's \
         default config, so its GET carries the OnRead purge; the floor's does not), \
         {VALUE}-byte values, random existing keys over the whole table (SET overwrites \
         them), pages of {BATCH} under prefix {GROWTH_PREFIX:?} after a random key; \
         {} timed calls per cell in {rounds} interleaved rounds.",
        iters.div_ceil(rounds) * rounds
    );
    Ok(out)
}

// ---------------------------------------------------------------------------

struct Env {
    pg_url: String,
    redis_url: String,
    iters: usize,
    rounds: usize,
    secs: f64,
    tables: Vec<TableType>,
    placement: String,
}

fn env_parse<T: std::str::FromStr>(name: &str, default: T) -> Res<T> {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v
            .parse()
            .map_err(|_| format!("{name}={v:?} is not a valid value").into()),
        _ => Ok(default),
    }
}

fn read_env() -> Res<Option<Env>> {
    let pg_url = std::env::var("DATABASE_URL").unwrap_or_default();
    let redis_url = std::env::var("PGKV_COMPARE_REDIS_URL").unwrap_or_default();
    if pg_url.is_empty() || redis_url.is_empty() {
        let hint = "The comparison needs a PostgreSQL and a Redis on 127.0.0.1; run it with\n\n    \
                    bench/compare\n\n(which starts both, pins them and passes DATABASE_URL and \
                    PGKV_COMPARE_REDIS_URL).";
        if std::env::args().any(|a| a == "--bench") {
            // Under a plain `cargo bench`: the criterion benches still run.
            println!("compare: skipped. {hint}");
            return Ok(None);
        }
        return Err(hint.into());
    }
    let tables = std::env::var("PGKV_COMPARE_TABLES").unwrap_or_else(|_| "unlogged,regular".into());
    let tables = tables
        .split(',')
        .map(|t| match t.trim().to_ascii_lowercase().as_str() {
            "unlogged" => Ok(TableType::Unlogged),
            "regular" => Ok(TableType::Regular),
            other => Err(format!("unknown table type {other:?} in PGKV_COMPARE_TABLES")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(Env {
        pg_url,
        redis_url,
        iters: env_parse("PGKV_COMPARE_ITERS", 2_000usize)?.max(1),
        rounds: env_parse("PGKV_COMPARE_ROUNDS", 4usize)?.max(1),
        secs: env_parse("PGKV_COMPARE_SECS", 5.0f64)?,
        tables,
        placement: std::env::var("PGKV_COMPARE_PLACEMENT").unwrap_or_else(|_| "not pinned".into()),
    }))
}

fn describe_servers(rt: &Runtime, env: &Env) -> Res<String> {
    rt.block_on(async {
        let mut conn = PgConnection::connect(&env.pg_url).await?;
        let version: String = sqlx::query_scalar("SELECT version()")
            .fetch_one(&mut conn)
            .await?;
        let settings: Vec<(String, String)> = sqlx::query_as(
            "SELECT name, setting || coalesce(unit, '') FROM pg_settings WHERE name IN \
             ('shared_buffers', 'fsync', 'synchronous_commit', 'wal_level', 'max_connections', \
             'full_page_writes', 'jit', 'lc_collate') ORDER BY name",
        )
        .fetch_all(&mut conn)
        .await?;
        conn.close().await?;
        let client = redis::Client::open(env.redis_url.as_str())?;
        let mut r = client.get_multiplexed_async_connection().await?;
        let info: String = redis::cmd("INFO").arg("server").query_async(&mut r).await?;
        let redis_version = info
            .lines()
            .find_map(|l| l.strip_prefix("redis_version:"))
            .unwrap_or("unknown")
            .trim()
            .to_owned();
        let mut out = format!("- PostgreSQL: {version}\n- PostgreSQL settings:");
        for (name, value) in settings {
            let _ = write!(out, " {name}={value}");
        }
        let _ = write!(
            out,
            "\n- Redis: {redis_version} (persistence off: save '', appendonly no)\n"
        );
        Ok(out)
    })
}

/// The bare loop for profilers (see the module docs).
fn profile_loop(spec: &str) -> Res<()> {
    let parts: Vec<&str> = spec.split(':').collect();
    let [system, op, calls] = parts[..] else {
        return Err(format!("PGKV_COMPARE_LOOP={spec:?}: expected <system>:<op>:<calls>").into());
    };
    let calls: usize = calls.parse()?;
    let op = match op {
        "set" => Op::Set,
        "get" => Op::Get,
        "increment" => Op::Increment,
        "set_many" => Op::SetMany,
        "get_many" => Op::GetMany,
        "scan" => Op::Scan,
        other => {
            return Err(format!(
                "PGKV_COMPARE_LOOP: unknown op {other:?} (set, get, increment, set_many, get_many or scan)"
            )
            .into());
        }
    };
    let pg_url = std::env::var("DATABASE_URL").map_err(|_| "PGKV_COMPARE_LOOP needs DATABASE_URL")?;
    let work = Work::new();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let table = format!("pgkv_profile_{system}_{}", std::process::id());
    let calls = chunk_calls(&work, &[], op, calls, 0);
    async fn run_loop<C: Kv>(c: &mut C, work: &Work, calls: &[Call<'_>]) -> Res<Duration> {
        load(c, work).await?;
        let start = Instant::now();
        for call in calls {
            std::hint::black_box(perform(c, call, &work.value).await?);
        }
        Ok(start.elapsed())
    }
    let elapsed = rt.block_on(async {
        let mut admin = PgConnection::connect(&pg_url).await?;
        let elapsed = match system {
            "floor" => {
                sqlx::raw_sql(sql(floor_ddl(&table, TableType::Unlogged)))
                    .execute(&mut admin)
                    .await?;
                let mut floor = Floor::connect(&pg_url, &table, false, SCAN_PREFIX).await?;
                run_loop(&mut floor, &work, &calls).await?
            }
            "pgkv" | "pgkvm" => {
                let mut config = Config::new(pg_url.clone()).table_name(&table);
                if system == "pgkvm" {
                    config = config.ttl_cleanup_strategy(TtlCleanupStrategy::Manual);
                }
                run_loop(&mut open_pgkv(config).await?, &work, &calls).await?
            }
            other => return Err(format!("PGKV_COMPARE_LOOP: unknown system {other:?}").into()),
        };
        drop_tables(&mut admin, std::slice::from_ref(&table)).await?;
        Ok::<_, BoxError>(elapsed)
    })?;
    println!(
        "{system} {}: {} calls in {:.3} s, {:.1} µs per call",
        op.label(),
        calls.len(),
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e6 / calls.len() as f64
    );
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("compare: {e}");
        std::process::exit(1);
    }
}

fn run() -> Res<()> {
    if let Ok(spec) = std::env::var("PGKV_COMPARE_LOOP") {
        return profile_loop(&spec);
    }
    let Some(env) = read_env()? else {
        return Ok(());
    };
    let env = Arc::new(env);
    if let Ok(sizes) = std::env::var("PGKV_COMPARE_GROWTH") {
        let sizes = parse_sizes(&sizes)?;
        let run_start = Instant::now();
        println!("- Placement: {}\n", env.placement);
        print!("{}", growth(&env.pg_url, &sizes, env.iters, env.rounds)?);
        println!("Total run time: {:.0} s.", run_start.elapsed().as_secs_f64());
        return Ok(());
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let work = Arc::new(Work::new());
    let run_start = Instant::now();

    let mut header = describe_servers(&rt, &env)?;
    let _ = write!(
        header,
        "- Placement: {}\n- Client: one current-thread tokio runtime for every async system; \
         pgkv 0.1 on plain threads\n- Workload: {ROWS} rows of {VALUE}-byte values per table; \
         {} timed calls per operation and system in {} interleaved rounds (+{WARMUP} untimed \
         calls per round); throughput {:.1} s per system in 2 rounds\n",
        env.placement, env.iters, env.rounds, env.secs
    );
    print!("{header}");

    let per_round = env.iters.div_ceil(env.rounds);
    let mut results = Vec::new();
    let mut shapes = None;
    for &tt in &env.tables {
        eprintln!(
            "compare: {} tables: loading {ROWS} rows per system",
            table_label(tt)
        );
        let mut sys = setup(&rt, &env, tt, &work)?;
        let mut latency = Vec::new();
        for op in Op::ALL {
            eprintln!("compare: {} {}", table_label(tt), op.label());
            let mut samples: Vec<Vec<u64>> = vec![Vec::new(); Kind::ALL.len()];
            for round in 0..env.rounds {
                // Rotate the order every round.
                for j in 0..Kind::ALL.len() {
                    let idx = (j + round) % Kind::ALL.len();
                    let kind = Kind::ALL[idx];
                    let got = run_chunk(&rt, &mut sys, &work, kind, op, per_round, round)?;
                    samples[idx].extend(got);
                }
            }
            latency.push((op, samples.into_iter().map(stat).collect()));
        }
        eprintln!("compare: {} throughput", table_label(tt));
        let half = Duration::from_secs_f64(env.secs / 2.0);
        let mut tput = vec![0u64; Kind::ALL.len()];
        for round in 0..2 {
            for j in 0..Kind::ALL.len() {
                let idx = (j + round) % Kind::ALL.len();
                tput[idx] += throughput(&rt, &env, &sys, &work, Kind::ALL[idx], half)?;
            }
        }
        let tput = tput.into_iter().map(|t| t / 2).collect();
        results.push(PassResult {
            tt,
            latency,
            throughput: tput,
        });
        if tt == TableType::Unlogged {
            shapes = Some(runtime_shapes(&env, &work)?);
        }
        let tables = std::mem::take(&mut sys.tables);
        rt.block_on(drop_tables(&mut sys.floor.conn, &tables))?;
        drop(sys);
    }

    println!();
    print!("{}", render(&results, per_round * env.rounds));
    println!(
        "\nCells: median / p99 in µs (throughput: ops/s); (×) = median ÷ the baseline's median \
         in the same pass (throughput: ops/s ÷ the baseline's). The baseline of pgkv 0.2 \
         (OnRead) is the floor running OnRead's SQL (the same SQL work); the baseline of every \
         other system, the floor running OnRead's SQL included, is the plain floor.\n\
         Systems: floor = sqlx 0.9, one dedicated PgConnection, prepared statements, upsert \
         ON CONFLICT, UNNEST arrays, key-range scan, no TTL purge; floor, OnRead SQL = the same, \
         but GET and GET_MANY carry the purge CTE pgkv's OnRead strategy sends (DELETE the \
         expired row in the same statement); pgkv 0.2 = Store, default Config (OnRead), pool of \
         {TASKS}; pgkv 0.2 Manual TTL = the same with TtlCleanupStrategy::Manual (reads carry \
         no purge); pgkv 0.1 = the synchronous crate (its own table schema: key TEXT in the \
         database collation), on a plain thread, scan = its first page of the prefix (no keyset \
         pagination); Redis = one multiplexed connection, SET/GET/DEL/INCRBY/MSET/MGET, scan = \
         one EVALSHA running ZRANGEBYLEX on a sorted-set index + MGET (ordered keyset page with \
         values, one round trip).\n\
         Throughput: {TASKS} tasks sharing one client (floors: {TASKS} dedicated connections; \
         pgkv: one Store; pgkv 0.1: {TASKS} threads, one Store each; Redis: one multiplexed \
         connection), uniform keys over the {ROWS} rows.\n\
         Scan: a page of {BATCH} rows under prefix {SCAN_PREFIX:?} (1,000 of the {ROWS} rows), \
         after a random key."
    );
    println!("\n## pgkv 0.2 against pgkv 0.1 (times faster, same pass)\n");
    print!("{}", render_speedup(&results));
    if let Some(shapes) = shapes {
        println!("\n## GET under different runtime shapes (UNLOGGED tables)\n");
        print!("{shapes}");
    }
    println!("\nTotal run time: {:.0} s.", run_start.elapsed().as_secs_f64());
    Ok(())
}
