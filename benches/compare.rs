//! pgkv side by side with the raw SQL floor, the pgkv 0.1 crate and Redis,
//! over identical workloads, in one run. Started by `bench/compare`, which
//! brings up a throwaway PostgreSQL and Redis on 127.0.0.1, pins everything
//! and passes the addresses in:
//!
//! ```text
//! bench/compare                       # the whole comparison, one command
//! ```
//!
//! Run by hand it needs `DATABASE_URL` and `PGKV_COMPARE_REDIS_URL`; under a
//! plain `cargo bench` (which passes `--bench`) without them it says how to
//! run it and exits successfully, so `cargo bench` still runs the criterion
//! benchmarks.
//!
//! Systems, each on its own table with the same schema and rows:
//! - floor: sqlx 0.9, one dedicated `PgConnection` (no pool), prepared
//!   statements, the leanest SQL for the same result;
//! - pgkv: this crate's `Store` with its default config (`OnRead` TTL
//!   strategy), pool of 8; plus the same with the `Manual` strategy, whose
//!   reads carry no purge CTE, to tell SQL cost from client cost;
//! - pgkv 0.1: the synchronous crate from crates.io, on a plain thread;
//! - Redis: the `redis` crate, one multiplexed async connection.
//!
//! Every async system runs on one current-thread tokio runtime (each
//! measured call awaited inside `block_on`, like a task on any runtime).
//! Latency rounds interleave the systems (rotating order), so noise from the
//! machine hits each alike; ratios are to the floor of the same pass.
//!
//! Tunables (environment): `PGKV_COMPARE_ITERS` (timed calls per operation
//! and system, default 2000), `PGKV_COMPARE_ROUNDS` (interleaved rounds,
//! default 4), `PGKV_COMPARE_SECS` (throughput seconds per system, default
//! 5, split over 2 rounds), `PGKV_COMPARE_TABLES` (`unlogged,regular`),
//! `PGKV_COMPARE_PLACEMENT` (text describing the CPU layout, printed).
//!
//! For profilers (perf, strace, callgrind) there is a bare loop mode that
//! needs only `DATABASE_URL`: `PGKV_COMPARE_LOOP=<floor|pgkv|pgkvm>:<get|set>:<calls>`
//! loads 10,000 rows into a table of that system, makes that many calls one
//! after another and prints the mean time per call, e.g.
//! `PGKV_COMPARE_LOOP=pgkv:get:20000 strace -c -f target/release/deps/compare-…`.

use std::error::Error;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use pgkv::{Config, ScanOptions, Store, TableType, TtlCleanupStrategy};
use redis::aio::MultiplexedConnection;
use sqlx::{AssertSqlSafe, Connection, PgConnection, SqlSafeStr, SqlStr};
use tokio::runtime::Runtime;

type Res<T> = Result<T, Box<dyn Error>>;

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
    Pgkv,
    PgkvManual,
    Legacy,
    Redis,
}

impl Kind {
    const ALL: [Kind; 5] = [
        Kind::Floor,
        Kind::Pgkv,
        Kind::PgkvManual,
        Kind::Legacy,
        Kind::Redis,
    ];

    fn header(self) -> &'static str {
        match self {
            Kind::Floor => "floor (sqlx, 1 conn)",
            Kind::Pgkv => "pgkv 0.2",
            Kind::PgkvManual => "pgkv 0.2, Manual TTL",
            Kind::Legacy => "pgkv 0.1",
            Kind::Redis => "Redis",
        }
    }

    fn tag(self) -> &'static str {
        match self {
            Kind::Floor => "floor",
            Kind::Pgkv => "pgkv",
            Kind::PgkvManual => "pgkvm",
            Kind::Legacy => "legacy",
            Kind::Redis => "redis",
        }
    }
}

/// xorshift64: the same call sequence for every system.
#[derive(Clone)]
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
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
            value: (0..VALUE).map(|i| b'a' + (i % 26) as u8).collect(),
            scan_first,
            scan_len,
        }
    }

    /// The key a scan page starts strictly after: a full page always follows.
    fn scan_after(&self, rng: &mut Rng) -> &str {
        &self.keys[self.scan_first + rng.below(self.scan_len - BATCH)]
    }
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
    fn new(table: &str) -> FloorSql {
        let t = format!("\"{table}\"");
        let live = "(expires_at IS NULL OR expires_at > now())";
        FloorSql {
            set: sql(format!(
                "INSERT INTO {t} (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE \
                 SET value = EXCLUDED.value, expires_at = NULL, updated_at = EXCLUDED.updated_at"
            )),
            get: sql(format!("SELECT value FROM {t} WHERE key = $1 AND {live}")),
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
                "SELECT key, value FROM {t} WHERE key = ANY($1) AND {live}"
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
}

impl Floor {
    async fn set(&mut self, key: &str, value: &[u8]) -> Res<()> {
        sqlx::query(self.sql.set.clone())
            .bind(key)
            .bind(value)
            .execute(&mut self.conn)
            .await?;
        Ok(())
    }

    async fn get(&mut self, key: &str) -> Res<Option<Vec<u8>>> {
        Ok(sqlx::query_scalar(self.sql.get.clone())
            .bind(key)
            .fetch_optional(&mut self.conn)
            .await?)
    }

    async fn delete(&mut self, key: &str) -> Res<bool> {
        let done = sqlx::query(self.sql.delete.clone())
            .bind(key)
            .execute(&mut self.conn)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn increment(&mut self, key: &str, by: i64) -> Res<i64> {
        let bytes: Vec<u8> = sqlx::query_scalar(self.sql.increment.clone())
            .bind(key)
            .bind(by)
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

    async fn get_many(&mut self, keys: &[String]) -> Res<Vec<(String, Vec<u8>)>> {
        Ok(sqlx::query_as(self.sql.get_many.clone())
            .bind(keys)
            .fetch_all(&mut self.conn)
            .await?)
    }

    async fn scan(&mut self, after: &str, upper: &str, limit: i64) -> Res<Vec<(String, Vec<u8>)>> {
        Ok(sqlx::query_as(self.sql.scan.clone())
            .bind(after)
            .bind(upper)
            .bind(limit)
            .fetch_all(&mut self.conn)
            .await?)
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
}

impl RedisSys {
    async fn set(&mut self, key: &str, value: &[u8]) -> Res<()> {
        redis::cmd("SET")
            .arg(key)
            .arg(value)
            .query_async::<()>(&mut self.conn)
            .await?;
        Ok(())
    }

    async fn get(&mut self, key: &str) -> Res<Option<Vec<u8>>> {
        Ok(redis::cmd("GET").arg(key).query_async(&mut self.conn).await?)
    }

    async fn delete(&mut self, key: &str) -> Res<bool> {
        let n: i64 = redis::cmd("DEL").arg(key).query_async(&mut self.conn).await?;
        Ok(n == 1)
    }

    async fn increment(&mut self, key: &str, by: i64) -> Res<i64> {
        Ok(redis::cmd("INCRBY")
            .arg(key)
            .arg(by)
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

    async fn get_many(&mut self, keys: &[String]) -> Res<Vec<Option<Vec<u8>>>> {
        Ok(redis::cmd("MGET").arg(keys).query_async(&mut self.conn).await?)
    }

    async fn scan(&mut self, after: &str, upper: &str, limit: usize) -> Res<Vec<Vec<u8>>> {
        Ok(self
            .scan
            .key(REDIS_INDEX)
            .arg(after)
            .arg(upper)
            .arg(limit)
            .invoke_async(&mut self.conn)
            .await?)
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
    let items: Vec<(&str, &[u8])> = keys.iter().map(|k| (k.as_str(), value)).collect();
    store.set_many(&items)?;
    Ok(())
}

// ---------------------------------------------------------------------------
// One pass: every system on tables of one type.

struct Systems {
    floor: Floor,
    pgkv: Store,
    pgkv_manual: Store,
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

fn setup(rt: &Runtime, env: &Env, tt: TableType, work: &Work) -> Res<Systems> {
    let tables: Vec<String> = Kind::ALL
        .iter()
        .filter(|k| **k != Kind::Redis)
        .map(|k| table_name(*k, tt))
        .collect();
    let (floor, pgkv, pgkv_manual, redis) = rt.block_on(async {
        let mut conn = PgConnection::connect(&env.pg_url).await?;
        drop_tables(&mut conn, &tables).await?;
        let floor_table = table_name(Kind::Floor, tt);
        sqlx::raw_sql(sql(floor_ddl(&floor_table, tt)))
            .execute(&mut conn)
            .await?;
        let mut floor = Floor {
            conn,
            sql: FloorSql::new(&floor_table),
        };
        for chunk in work.keys.chunks(1_000) {
            floor.set_many(chunk, &work.value).await?;
        }

        let config = |kind: Kind| {
            Config::new(env.pg_url.clone())
                .table_name(&table_name(kind, tt))
                .table_type(tt)
                .max_connections(TASKS as u32)
        };
        let pgkv = Store::with_config(config(Kind::Pgkv)).await?;
        let pgkv_manual =
            Store::with_config(config(Kind::PgkvManual).ttl_cleanup_strategy(TtlCleanupStrategy::Manual))
                .await?;
        for store in [&pgkv, &pgkv_manual] {
            for chunk in work.keys.chunks(1_000) {
                let items: Vec<(&str, &[u8])> = chunk
                    .iter()
                    .map(|k| (k.as_str(), work.value.as_slice()))
                    .collect();
                store.set_many(&items).await?;
            }
        }

        let client = redis::Client::open(env.redis_url.as_str())?;
        let mut redis = RedisSys {
            conn: client.get_multiplexed_async_connection().await?,
            scan: redis::Script::new(REDIS_SCAN),
        };
        redis::cmd("FLUSHDB").query_async::<()>(&mut redis.conn).await?;
        for chunk in work.keys.chunks(1_000) {
            redis.set_many(chunk, &work.value).await?;
            redis.index(chunk).await?;
        }
        Ok::<_, Box<dyn Error>>((floor, pgkv, pgkv_manual, redis))
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
        Ok::<_, Box<dyn Error>>(())
    })?;
    Ok(systems)
}

/// Times calls `0..n` of `call` (after `WARMUP` untimed ones); nanoseconds.
async fn timed_async(n: usize, mut call: impl AsyncFnMut(usize) -> Res<()>) -> Res<Vec<u64>> {
    for i in 0..WARMUP {
        call(n + i).await?;
    }
    let chunk_start = Instant::now();
    let mut samples = Vec::with_capacity(n);
    for i in 0..n {
        let start = Instant::now();
        call(i).await?;
        samples.push(start.elapsed().as_nanos() as u64);
        if chunk_start.elapsed() > CHUNK_CAP {
            break;
        }
    }
    Ok(samples)
}

fn timed_sync(n: usize, mut call: impl FnMut(usize) -> Res<()>) -> Res<Vec<u64>> {
    for i in 0..WARMUP {
        call(n + i)?;
    }
    let chunk_start = Instant::now();
    let mut samples = Vec::with_capacity(n);
    for i in 0..n {
        let start = Instant::now();
        call(i)?;
        samples.push(start.elapsed().as_nanos() as u64);
        if chunk_start.elapsed() > CHUNK_CAP {
            break;
        }
    }
    Ok(samples)
}

/// Per call `i`, the random choices (fixed by the seed, so every system gets
/// the same sequence).
fn choices(seed: u64, n: usize) -> Vec<usize> {
    let mut rng = Rng(seed | 1);
    (0..n).map(|_| rng.below(usize::MAX)).collect()
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
    // The same call sequence for every system in this round.
    let seed = 0x5eed_0000 + (op as u64) * 1_000 + round as u64;
    let picks = choices(seed, n + WARMUP);
    let upper = upper_bound(SCAN_PREFIX);
    let key = |i: usize| work.keys[picks[i] % ROWS].as_str();
    let counter = |i: usize| work.counters[picks[i] % COUNTERS].as_str();
    let batch = |i: usize| {
        let start = picks[i] % (ROWS - BATCH);
        &work.keys[start..start + BATCH]
    };
    let after = |i: usize| {
        let mut r = Rng(picks[i] as u64 | 1);
        work.scan_after(&mut r).to_owned()
    };
    // DELETE removes rows written (untimed) just before the chunk.
    let doomed: Vec<String> = if op == Op::Delete {
        (0..n + WARMUP).map(|i| format!("del:{round}:{i:05}")).collect()
    } else {
        Vec::new()
    };
    let v = work.value.as_slice();

    match kind {
        Kind::Legacy => {
            let s = &sys.legacy;
            if op == Op::Delete {
                for chunk in doomed.chunks(1_000) {
                    legacy_set_many(s, chunk, v)?;
                }
            }
            timed_sync(n, |i| {
                match op {
                    Op::Set => s.set(key(i), v)?,
                    Op::Get => {
                        assert!(s.get(key(i))?.is_some());
                    }
                    Op::Delete => {
                        assert!(s.delete(&doomed[i])?);
                    }
                    Op::Increment => {
                        s.increment(counter(i), 1)?;
                    }
                    Op::SetMany => legacy_set_many(s, batch(i), v)?,
                    Op::GetMany => {
                        let keys: Vec<&str> = batch(i).iter().map(String::as_str).collect();
                        assert_eq!(s.get_many(&keys)?.len(), BATCH);
                    }
                    Op::Scan => {
                        // 0.1 has no keyset pagination: its first page of the
                        // prefix (the cheapest page it can read).
                        let opts = pgkv_legacy::ScanOptions::new().prefix(SCAN_PREFIX).limit(BATCH);
                        assert_eq!(s.scan(opts)?.len(), BATCH);
                    }
                }
                Ok(())
            })
        }
        Kind::Floor => rt.block_on(async {
            let f = &mut sys.floor;
            if op == Op::Delete {
                for chunk in doomed.chunks(1_000) {
                    f.set_many(chunk, v).await?;
                }
            }
            timed_async(n, async |i| {
                match op {
                    Op::Set => f.set(key(i), v).await?,
                    Op::Get => {
                        assert!(f.get(key(i)).await?.is_some());
                    }
                    Op::Delete => {
                        assert!(f.delete(&doomed[i]).await?);
                    }
                    Op::Increment => {
                        f.increment(counter(i), 1).await?;
                    }
                    Op::SetMany => f.set_many(batch(i), v).await?,
                    Op::GetMany => {
                        assert_eq!(f.get_many(batch(i)).await?.len(), BATCH);
                    }
                    Op::Scan => {
                        let page = f.scan(&after(i), &upper, BATCH as i64).await?;
                        assert_eq!(page.len(), BATCH);
                    }
                }
                Ok(())
            })
            .await
        }),
        Kind::Pgkv | Kind::PgkvManual => rt.block_on(async {
            let s = if kind == Kind::Pgkv {
                &sys.pgkv
            } else {
                &sys.pgkv_manual
            };
            if op == Op::Delete {
                for chunk in doomed.chunks(1_000) {
                    let items: Vec<(&str, &[u8])> = chunk.iter().map(|k| (k.as_str(), v)).collect();
                    s.set_many(&items).await?;
                }
            }
            timed_async(n, async |i| {
                match op {
                    Op::Set => s.set(key(i), v).await?,
                    Op::Get => {
                        assert!(s.get(key(i)).await?.is_some());
                    }
                    Op::Delete => {
                        assert!(s.delete(&doomed[i]).await?);
                    }
                    Op::Increment => {
                        s.increment(counter(i), 1).await?;
                    }
                    Op::SetMany => {
                        let items: Vec<(&str, &[u8])> = batch(i).iter().map(|k| (k.as_str(), v)).collect();
                        s.set_many(&items).await?;
                    }
                    Op::GetMany => {
                        assert_eq!(s.get_many(batch(i)).await?.len(), BATCH);
                    }
                    Op::Scan => {
                        let opts = ScanOptions::new()
                            .prefix(SCAN_PREFIX)
                            .after(&after(i))
                            .limit(BATCH as u64);
                        assert_eq!(s.scan(opts).await?.len(), BATCH);
                    }
                }
                Ok(())
            })
            .await
        }),
        Kind::Redis => rt.block_on(async {
            let r = &mut sys.redis;
            if op == Op::Delete {
                for chunk in doomed.chunks(1_000) {
                    r.set_many(chunk, v).await?;
                }
            }
            timed_async(n, async |i| {
                match op {
                    Op::Set => r.set(key(i), v).await?,
                    Op::Get => {
                        assert!(r.get(key(i)).await?.is_some());
                    }
                    Op::Delete => {
                        assert!(r.delete(&doomed[i]).await?);
                    }
                    Op::Increment => {
                        r.increment(counter(i), 1).await?;
                    }
                    Op::SetMany => r.set_many(batch(i), v).await?,
                    Op::GetMany => {
                        assert_eq!(r.get_many(batch(i)).await?.len(), BATCH);
                    }
                    Op::Scan => {
                        let flat = r.scan(&after(i), &upper, BATCH).await?;
                        assert_eq!(flat.len(), 2 * BATCH);
                    }
                }
                Ok(())
            })
            .await
        }),
    }
}

// ---------------------------------------------------------------------------
// Throughput: 8 concurrent clients, 80 % GET / 20 % SET over the 10k keys.

/// One client's loop until `stop`; returns calls made.
fn mix_pick(rng: &mut Rng) -> (usize, bool) {
    (rng.below(ROWS), rng.below(10) < 2)
}

fn throughput(
    rt: &Runtime,
    env: &Env,
    sys: &mut Systems,
    work: &Arc<Work>,
    kind: Kind,
    dur: Duration,
) -> Res<u64> {
    let stop = Arc::new(AtomicBool::new(false));
    let total = Arc::new(AtomicU64::new(0));
    match kind {
        Kind::Legacy => {
            let tt = legacy_table_type(sys.tt);
            let table = table_name(Kind::Legacy, sys.tt);
            // Connections are opened before the clock starts.
            let barrier = Arc::new(Barrier::new(TASKS + 1));
            let handles: Vec<_> = (0..TASKS)
                .map(|t| {
                    let config = pgkv_legacy::Config::new(env.pg_url.clone())
                        .table_name(table.clone())
                        .table_type(tt);
                    let (stop, total, work, barrier) =
                        (stop.clone(), total.clone(), work.clone(), barrier.clone());
                    std::thread::spawn(move || -> Result<(), String> {
                        let store = pgkv_legacy::Store::with_config(config);
                        barrier.wait();
                        let store = store.map_err(|e| e.to_string())?;
                        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (t as u64 + 1));
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
        _ => rt.block_on(async {
            // Clients are connected before the clock starts.
            let mut floors = Vec::new();
            if kind == Kind::Floor {
                let table = table_name(Kind::Floor, sys.tt);
                for _ in 0..TASKS {
                    floors.push(Floor {
                        conn: PgConnection::connect(&env.pg_url).await?,
                        sql: FloorSql::new(&table),
                    });
                }
            }
            let start = Instant::now();
            let mut handles = Vec::new();
            for t in 0..TASKS {
                let (stop, work) = (stop.clone(), work.clone());
                let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (t as u64 + 1));
                let handle = match kind {
                    Kind::Floor => {
                        let mut f = floors.pop().expect("one connection per task");
                        tokio::spawn(async move {
                            let mut calls = 0u64;
                            while !stop.load(Ordering::Relaxed) {
                                let (k, write) = mix_pick(&mut rng);
                                if write {
                                    f.set(&work.keys[k], &work.value)
                                        .await
                                        .map_err(|e| e.to_string())?;
                                } else {
                                    f.get(&work.keys[k]).await.map_err(|e| e.to_string())?;
                                }
                                calls += 1;
                            }
                            f.conn.close().await.map_err(|e| e.to_string())?;
                            Ok::<u64, String>(calls)
                        })
                    }
                    Kind::Pgkv | Kind::PgkvManual => {
                        let s = if kind == Kind::Pgkv {
                            sys.pgkv.clone()
                        } else {
                            sys.pgkv_manual.clone()
                        };
                        tokio::spawn(async move {
                            let mut calls = 0u64;
                            while !stop.load(Ordering::Relaxed) {
                                let (k, write) = mix_pick(&mut rng);
                                if write {
                                    s.set(&work.keys[k], &work.value)
                                        .await
                                        .map_err(|e| e.to_string())?;
                                } else {
                                    s.get(&work.keys[k]).await.map_err(|e| e.to_string())?;
                                }
                                calls += 1;
                            }
                            Ok::<u64, String>(calls)
                        })
                    }
                    _ => {
                        let mut r = RedisSys {
                            conn: sys.redis.conn.clone(),
                            scan: redis::Script::new(REDIS_SCAN),
                        };
                        tokio::spawn(async move {
                            let mut calls = 0u64;
                            while !stop.load(Ordering::Relaxed) {
                                let (k, write) = mix_pick(&mut rng);
                                if write {
                                    r.set(&work.keys[k], &work.value)
                                        .await
                                        .map_err(|e| e.to_string())?;
                                } else {
                                    r.get(&work.keys[k]).await.map_err(|e| e.to_string())?;
                                }
                                calls += 1;
                            }
                            Ok::<u64, String>(calls)
                        })
                    }
                };
                handles.push(handle);
            }
            tokio::time::sleep(dur).await;
            stop.store(true, Ordering::Relaxed);
            // Calls still in flight when the clock stops are counted: they
            // finish within a round trip of it.
            let secs = start.elapsed().as_secs_f64();
            let mut calls = 0;
            for h in handles {
                calls += h.await??;
            }
            Ok::<u64, Box<dyn Error>>((calls as f64 / secs) as u64)
        }),
    }
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
    latency: Vec<(Op, Vec<Stat>)>,
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

fn render(results: &[PassResult], iters: usize) -> String {
    let mut out = String::new();
    let _ = write!(out, "| table | operation |");
    for k in Kind::ALL {
        let _ = write!(out, " {} |", k.header());
    }
    out.push('\n');
    out.push_str("|---|---|");
    for _ in Kind::ALL {
        out.push_str("---:|");
    }
    out.push('\n');
    let mut short = Vec::new();
    for pass in results {
        for (op, stats) in &pass.latency {
            let _ = write!(out, "| {} | {} µs |", table_label(pass.tt), op.label());
            let floor = stats[0].median_us;
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
                if *k == Kind::Floor {
                    let _ = write!(out, " {} / {} |", fmt_us(s.median_us), fmt_us(s.p99_us));
                } else {
                    let _ = write!(
                        out,
                        " {} / {} ({:.2}×) |",
                        fmt_us(s.median_us),
                        fmt_us(s.p99_us),
                        s.median_us / floor
                    );
                }
            }
            out.push('\n');
        }
        let _ = write!(
            out,
            "| {} | throughput, {TASKS} clients, 80 % GET / 20 % SET, ops/s |",
            table_label(pass.tt)
        );
        let floor = pass.throughput[0] as f64;
        for (k, ops) in Kind::ALL.iter().zip(&pass.throughput) {
            if *k == Kind::Floor {
                let _ = write!(out, " {} |", fmt_int(*ops));
            } else {
                let _ = write!(out, " {} ({:.2}×) |", fmt_int(*ops), *ops as f64 / floor);
            }
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
    let write = match op {
        "get" => false,
        "set" => true,
        other => return Err(format!("PGKV_COMPARE_LOOP: unknown op {other:?} (get or set)").into()),
    };
    let pg_url = std::env::var("DATABASE_URL").map_err(|_| "PGKV_COMPARE_LOOP needs DATABASE_URL")?;
    let work = Work::new();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let table = format!("pgkv_profile_{system}_{}", std::process::id());
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let elapsed = rt.block_on(async {
        let mut admin = PgConnection::connect(&pg_url).await?;
        let elapsed = match system {
            "floor" => {
                sqlx::raw_sql(sql(floor_ddl(&table, TableType::Unlogged)))
                    .execute(&mut admin)
                    .await?;
                let mut f = Floor {
                    conn: PgConnection::connect(&pg_url).await?,
                    sql: FloorSql::new(&table),
                };
                for chunk in work.keys.chunks(1_000) {
                    f.set_many(chunk, &work.value).await?;
                }
                let start = Instant::now();
                for _ in 0..calls {
                    let key = &work.keys[rng.below(ROWS)];
                    if write {
                        f.set(key, &work.value).await?;
                    } else {
                        std::hint::black_box(f.get(key).await?);
                    }
                }
                start.elapsed()
            }
            "pgkv" | "pgkvm" => {
                let mut config = Config::new(pg_url.clone()).table_name(&table);
                if system == "pgkvm" {
                    config = config.ttl_cleanup_strategy(TtlCleanupStrategy::Manual);
                }
                let store = Store::with_config(config).await?;
                for chunk in work.keys.chunks(1_000) {
                    let items: Vec<(&str, &[u8])> = chunk
                        .iter()
                        .map(|k| (k.as_str(), work.value.as_slice()))
                        .collect();
                    store.set_many(&items).await?;
                }
                let start = Instant::now();
                for _ in 0..calls {
                    let key = &work.keys[rng.below(ROWS)];
                    if write {
                        store.set(key, &work.value).await?;
                    } else {
                        std::hint::black_box(store.get(key).await?);
                    }
                }
                start.elapsed()
            }
            other => return Err(format!("PGKV_COMPARE_LOOP: unknown system {other:?}").into()),
        };
        drop_tables(&mut admin, std::slice::from_ref(&table)).await?;
        Ok::<_, Box<dyn Error>>(elapsed)
    })?;
    println!(
        "{system} {op}: {calls} calls in {:.3} s, {:.1} µs per call",
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e6 / calls as f64
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
                tput[idx] += throughput(&rt, &env, &mut sys, &work, Kind::ALL[idx], half)?;
            }
        }
        let tput = tput.into_iter().map(|t| t / 2).collect();
        results.push(PassResult {
            tt,
            latency,
            throughput: tput,
        });
        let tables = std::mem::take(&mut sys.tables);
        rt.block_on(drop_tables(&mut sys.floor.conn, &tables))?;
        drop(sys);
    }

    println!();
    print!("{}", render(&results, per_round * env.rounds));
    println!(
        "\nCells: median / p99 in µs (throughput: ops/s); (×) = median ÷ the floor's median \
         in the same pass (throughput: ops/s ÷ the floor's).\n\
         Systems: floor = sqlx 0.9, one dedicated PgConnection, prepared statements, upsert \
         ON CONFLICT, UNNEST arrays, key-range scan, no TTL purge; pgkv 0.2 = Store, default \
         Config (OnRead TTL: reads also delete an expired row), pool of {TASKS}; pgkv 0.2 Manual \
         TTL = the same with TtlCleanupStrategy::Manual; pgkv 0.1 = the synchronous crate \
         (its own table schema: key TEXT in the database collation), on a plain thread, scan = \
         its first page of the prefix (no keyset pagination); Redis = one multiplexed \
         connection, SET/GET/DEL/INCRBY/MSET/MGET, scan = one EVALSHA running ZRANGEBYLEX on a \
         sorted-set index + MGET (ordered keyset page with values, one round trip).\n\
         Throughput: {TASKS} tasks sharing one client (floor: {TASKS} dedicated connections; \
         pgkv: one Store; pgkv 0.1: {TASKS} threads, one Store each; Redis: one multiplexed \
         connection), uniform keys over the {ROWS} rows.\n\
         Scan: a page of {BATCH} rows under prefix {SCAN_PREFIX:?} (1,000 of the {ROWS} rows), \
         after a random key.\n\
         Total run time: {:.0} s.",
        run_start.elapsed().as_secs_f64()
    );
    Ok(())
}
