//! Opportunistic batching (#18), side by side with the floors and Redis, in
//! one run:
//!
//! ```text
//! scripts/with-postgres cargo bench --bench batching
//! ```
//!
//! It starts its own Redis (`redis-server` on a free loopback port,
//! persistence off, stopped at the end) unless `PGKV_REDIS_URL` points at
//! one. The latency part pins its client thread, PostgreSQL and Redis to CPU
//! 0 (`PGKV_BATCH_BENCH_PIN=<cpu>` or `off`; it needs the server that
//! `scripts/with-postgres` starts, and our own Redis), then unpins them; the
//! throughput part runs unpinned. The placement is printed.
//!
//! 1. Uncontended latency, on a current-thread tokio runtime: one caller,
//!    GET then SET, one call at a time, for pgkv (default config, batching
//!    on), pgkv with batching off, the sqlx floor (one `PgConnection`,
//!    prepared statements, the SQL a user would write), the raw
//!    tokio-postgres floor (one `Client`, statements prepared once: sqlx's
//!    own share), the sqlx floor running pgkv's own GET and SET statements
//!    (`pgkv/sql/on_read.sql`: what pgkv's SQL costs apart from its client)
//!    and Redis (one multiplexed connection). Rounds interleave
//!    the systems (rotating order), so noise hits each alike; ratios are to
//!    the floors of the same run.
//! 2. Throughput, on a multi-thread tokio runtime with 2 workers: 8, 32 and
//!    128 client tasks, 80 % GET / 20 % SET over 10k keys of 256-byte values,
//!    for the sqlx floor with one connection per task, pgkv on its default
//!    pool (`max_connections` 10) with batching on and off, and Redis (one
//!    multiplexed connection shared by every task). Every system runs each
//!    shape in rounds of rotating order. Server connections are counted in
//!    `pg_stat_activity` by `application_name` halfway through each run
//!    (pgkv's also by `Store::status().size`, sampled every 50 ms; Redis's
//!    by the named connections in `CLIENT LIST`), and pgkv's
//!    `batching_stats` are read before and after each run. Over each run's
//!    second half the CPU time of this process and of the server processes
//!    serving the measured connections (their PostgreSQL backends, or
//!    redis-server) is read from /proc, so the cost per call on each side
//!    shows. Each shape starts with an untimed warm-up round.
//!
//! Tunables (environment): `PGKV_BATCH_BENCH_SECS` (seconds per system,
//! shape and round, default 3), `PGKV_BATCH_BENCH_ROUNDS` (throughput
//! rounds, default 4: on a shared 2-core machine one round of 3 s can be
//! off by 2×), `PGKV_BATCH_BENCH_TASKS` (comma-separated task counts,
//! default `8,32,128`), `PGKV_BATCH_BENCH_ITERS` (timed calls per operation
//! and system, default 2000), `PGKV_BATCH_BENCH_LAT_ROUNDS` (latency
//! rounds, default 4) and `PGKV_BATCH_BENCH_ONLY` (`latency` or
//! `throughput`: that part alone). A full run takes about 3 minutes.

use std::fmt::Write as _;
use std::future::Future;
use std::io::{Read, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use pgkv::{BatchingStats, Config, Store};
use pgkv_suite::{XorShift, sample_value};
use redis::aio::MultiplexedConnection;
use sqlx::postgres::PgConnectOptions;
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, PgConnection, SqlSafeStr, SqlStr};
use tokio::runtime::Runtime;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Res<T> = Result<T, BoxError>;

/// Rows in every table (`key:00000` … `key:09999`).
const ROWS: usize = 10_000;
/// Value size of every row and write.
const VALUE: usize = 256;
/// Untimed calls before each timed latency chunk.
const WARMUP: usize = 50;
/// Untimed run of every system before each throughput shape's rounds.
const WARM_UP: Duration = Duration::from_millis(500);
/// Connections this bench keeps open besides the measured ones: the admin
/// connection, and the latency phase's (closed before the throughput).
const SPARE_CONNECTIONS: usize = 5;

fn env_parse<T: FromStr>(name: &str, default: T) -> Res<T> {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v
            .parse()
            .map_err(|_| format!("{name}={v:?} is not a valid value").into()),
        _ => Ok(default),
    }
}

struct Settings {
    secs: f64,
    rounds: usize,
    tasks: Vec<usize>,
    iters: usize,
    lat_rounds: usize,
    /// `latency` or `throughput`: only that part.
    only: Option<String>,
    /// The CPU the latency part pins everything to (`None`: unpinned).
    pin_cpu: Option<String>,
}

fn settings() -> Res<Settings> {
    let tasks = std::env::var("PGKV_BATCH_BENCH_TASKS").unwrap_or_else(|_| "8,32,128".into());
    let tasks = tasks
        .split(',')
        .map(|t| {
            t.trim()
                .parse::<usize>()
                .map_err(|_| format!("bad task count {t:?}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Settings {
        secs: env_parse("PGKV_BATCH_BENCH_SECS", 3.0)?,
        rounds: env_parse("PGKV_BATCH_BENCH_ROUNDS", 4usize)?.max(1),
        tasks,
        iters: env_parse("PGKV_BATCH_BENCH_ITERS", 2_000usize)?.max(1),
        lat_rounds: env_parse("PGKV_BATCH_BENCH_LAT_ROUNDS", 4usize)?.max(1),
        only: std::env::var("PGKV_BATCH_BENCH_ONLY")
            .ok()
            .filter(|v| !v.is_empty()),
        pin_cpu: match std::env::var("PGKV_BATCH_BENCH_PIN") {
            Ok(v) if v == "off" => None,
            Ok(v) if !v.is_empty() => Some(v),
            _ => Some("0".to_owned()),
        },
    })
}

// ---------------------------------------------------------------------------
// Redis: our own server, persistence off.

struct RedisServer {
    url: String,
    /// The server we started (`None`: `PGKV_REDIS_URL`'s).
    child: Option<(Child, PathBuf)>,
}

impl RedisServer {
    fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|(child, _)| child.id())
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some((child, dir)) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn redis_pings(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    let mut buf = [0u8; 7];
    s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
}

fn start_redis() -> Res<RedisServer> {
    if let Ok(url) = std::env::var("PGKV_REDIS_URL")
        && !url.is_empty()
    {
        return Ok(RedisServer { url, child: None });
    }
    // A free port: the kernel's pick, released just before Redis binds it.
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let dir = std::env::temp_dir().join(format!("pgkv-batching-redis-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let child = Command::new("redis-server")
        .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
        .arg("--dir")
        .arg(&dir)
        .arg("--logfile")
        .arg(dir.join("redis.log"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("could not start redis-server (apt-get install redis-server): {e}"))?;
    let server = RedisServer {
        url: format!("redis://127.0.0.1:{port}/"),
        child: Some((child, dir)),
    };
    for _ in 0..100 {
        if redis_pings(port) {
            return Ok(server);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!("redis-server on port {port} did not answer PING").into())
}

// ---------------------------------------------------------------------------
// Placement. Unpinned, a connection's server process runs on the client's
// CPU or on the other one, and which it is sticks to the connection for
// seconds: round trips then differ by 2× between connections, whatever the
// system (seen here: the same floor 30 µs in one run, 70 µs in the next).
// So the latency part pins the client's thread, PostgreSQL (its backends are
// forked after this) and Redis to one CPU, as the issue's figures were, and
// unpins them after.

/// `taskset -pc <cpus> <pid>`; `all_threads` adds `-a`.
fn taskset(cpus: &str, pid: u32, all_threads: bool) -> Res<()> {
    let mut cmd = Command::new("taskset");
    if all_threads {
        cmd.arg("-a");
    }
    let out = cmd
        .args(["-pc", cpus, &pid.to_string()])
        .stdout(Stdio::null())
        .output()
        .map_err(|e| format!("taskset: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "taskset -pc {cpus} {pid}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )
        .into());
    }
    Ok(())
}

/// The processes to pin: this thread (the current-thread runtime's), the
/// postmaster (from `PGKV_PGDATA`, set by `scripts/with-postgres`) and our
/// Redis.
struct Placement {
    postmaster: Option<u32>,
    redis: Option<u32>,
}

impl Placement {
    fn find(redis: &RedisServer) -> Placement {
        let postmaster = std::env::var("PGKV_PGDATA").ok().and_then(|dir| {
            let pid = std::fs::read_to_string(PathBuf::from(dir).join("postmaster.pid")).ok()?;
            pid.lines().next()?.trim().parse().ok()
        });
        Placement {
            postmaster,
            redis: redis.pid(),
        }
    }

    /// Pins everything to `cpus` (`None`: back to every CPU); a description
    /// of what was done.
    fn pin(&self, cpus: Option<&str>) -> Res<String> {
        let (Some(postmaster), Some(redis)) = (self.postmaster, self.redis) else {
            return Err("needs PGKV_PGDATA (scripts/with-postgres) and a Redis of our own".into());
        };
        let all = format!(
            "0-{}",
            std::thread::available_parallelism().map_or(1, |n| n.get()) - 1
        );
        let cpus = cpus.unwrap_or(&all);
        // The main thread only: the multi-thread runtime's workers keep theirs.
        taskset(cpus, std::process::id(), false)?;
        taskset(cpus, postmaster, true)?;
        taskset(cpus, redis, true)?;
        Ok(format!(
            "client thread, postmaster (and the backends it forks after this) and redis-server pinned to CPU {cpus} (taskset)"
        ))
    }
}

// ---------------------------------------------------------------------------
// The systems, behind one interface.

trait Client: Send + 'static {
    fn get(&mut self, key: &str) -> impl Future<Output = Res<bool>> + Send;
    fn set(&mut self, key: &str, value: &[u8]) -> impl Future<Output = Res<()>> + Send;
}

fn sql(text: String) -> SqlStr {
    AssertSqlSafe(text).into_sql_str()
}

/// The statements a user would write.
fn floor_get(table: &str) -> String {
    format!("SELECT value FROM \"{table}\" WHERE key = $1")
}

fn floor_set(table: &str) -> String {
    format!(
        "INSERT INTO \"{table}\" (key, value) VALUES ($1, $2) \
         ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"
    )
}

/// sqlx, one dedicated connection, prepared statements (sqlx's per-connection
/// statement cache).
struct SqlxFloor {
    conn: PgConnection,
    get: SqlStr,
    set: SqlStr,
}

impl SqlxFloor {
    async fn connect(url: &str, table: &str, app: &str) -> Res<SqlxFloor> {
        SqlxFloor::with_sql(url, app, floor_get(table), floor_set(table)).await
    }

    async fn with_sql(url: &str, app: &str, get: String, set: String) -> Res<SqlxFloor> {
        let options = PgConnectOptions::from_str(url)?.application_name(app);
        Ok(SqlxFloor {
            conn: options.connect().await?,
            get: sql(get),
            set: sql(set),
        })
    }
}

/// pgkv's own GET (`OnRead`: it purges the key's row if expired) and SET
/// statements, to the letter, from `pgkv/sql/on_read.sql`, on `table`: the
/// floor running them shows what pgkv's SQL costs apart from its client.
fn pgkv_sql(table: &str) -> Res<(String, String)> {
    const ON_READ: &str = include_str!("../pgkv/sql/on_read.sql");
    let statement = |title: &str| -> Res<String> {
        let mut lines = ON_READ.lines().skip_while(|l| l.trim() != title);
        lines.next();
        let text = lines
            .next()
            .ok_or_else(|| format!("no {title:?} in pgkv/sql/on_read.sql"))?;
        Ok(text
            .trim_end_matches(';')
            .replace("\"public\".\"kv_store\"", &format!("\"public\".\"{table}\"")))
    };
    Ok((statement("-- get (purging)")?, statement("-- set")?))
}

impl Client for SqlxFloor {
    async fn get(&mut self, key: &str) -> Res<bool> {
        let value: Option<Vec<u8>> = sqlx::query_scalar(self.get.clone())
            .bind(key)
            .fetch_optional(&mut self.conn)
            .await?;
        Ok(value.is_some())
    }

    async fn set(&mut self, key: &str, value: &[u8]) -> Res<()> {
        sqlx::query(self.set.clone())
            .bind(key)
            .bind(value)
            .execute(&mut self.conn)
            .await?;
        Ok(())
    }
}

/// tokio-postgres, one client, the same statements prepared once.
struct TokioPgFloor {
    client: tokio_postgres::Client,
    get: tokio_postgres::Statement,
    set: tokio_postgres::Statement,
}

impl TokioPgFloor {
    async fn connect(url: &str, table: &str, app: &str) -> Res<TokioPgFloor> {
        let mut config = tokio_postgres::Config::from_str(url)?;
        config.application_name(app);
        let (client, connection) = config.connect(tokio_postgres::NoTls).await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                eprintln!("batching bench: tokio-postgres connection: {e}");
            }
        });
        let get = client.prepare(&floor_get(table)).await?;
        let set = client.prepare(&floor_set(table)).await?;
        Ok(TokioPgFloor { client, get, set })
    }
}

impl Client for TokioPgFloor {
    async fn get(&mut self, key: &str) -> Res<bool> {
        let row = self.client.query_opt(&self.get, &[&key]).await?;
        Ok(row.map(|r| r.get::<_, Vec<u8>>(0)).is_some())
    }

    async fn set(&mut self, key: &str, value: &[u8]) -> Res<()> {
        self.client.execute(&self.set, &[&key, &value]).await?;
        Ok(())
    }
}

struct Pgkv(Store);

impl Client for Pgkv {
    async fn get(&mut self, key: &str) -> Res<bool> {
        Ok(self.0.get(key).await?.is_some())
    }

    async fn set(&mut self, key: &str, value: &[u8]) -> Res<()> {
        Ok(self.0.set(key, value).await?)
    }
}

struct Redis(MultiplexedConnection);

impl Client for Redis {
    async fn get(&mut self, key: &str) -> Res<bool> {
        let value: Option<Vec<u8>> = redis::cmd("GET").arg(key).query_async(&mut self.0).await?;
        Ok(value.is_some())
    }

    async fn set(&mut self, key: &str, value: &[u8]) -> Res<()> {
        redis::cmd("SET")
            .arg(key)
            .arg(value)
            .query_async::<()>(&mut self.0)
            .await?;
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Set-up.

struct Names {
    floor: String,
    pgkv_on: String,
    pgkv_off: String,
}

impl Names {
    fn new() -> Names {
        let pid = std::process::id();
        Names {
            floor: format!("pgkv_batching_floor_{pid}"),
            pgkv_on: format!("pgkv_batching_on_{pid}"),
            pgkv_off: format!("pgkv_batching_off_{pid}"),
        }
    }
}

const APP_FLOOR: &str = "bench_floor";
const APP_TOKIO_PG: &str = "bench_tokio_pg";
const APP_PGKV_ON: &str = "bench_pgkv_on";
const APP_PGKV_OFF: &str = "bench_pgkv_off";
const REDIS_NAME: &str = "bench_redis";

/// pgkv's `Config` default (pool of 10, `OnRead` TTLs, a new table
/// UNLOGGED), batching on or off.
fn pgkv_config(url: &str, table: &str, batching: bool) -> Config {
    Config::new(url)
        .table_name(table)
        .application_name(if batching { APP_PGKV_ON } else { APP_PGKV_OFF })
        .batch_concurrent_calls(batching)
}

fn keys() -> Vec<String> {
    (0..ROWS).map(|i| format!("key:{i:05}")).collect()
}

/// Creates the floor's table (pgkv's own columns, UNLOGGED like pgkv's
/// default) and both pgkv tables, and loads the same rows into all of them
/// and into Redis.
async fn load(admin: &mut PgConnection, url: &str, names: &Names, redis_url: &str) -> Res<()> {
    let keys = keys();
    let value = sample_value(VALUE);
    let t = &names.floor;
    sqlx::raw_sql(sql(format!(
        "CREATE UNLOGGED TABLE \"{t}\" (key TEXT COLLATE \"C\" PRIMARY KEY, value BYTEA NOT NULL, \
         expires_at TIMESTAMPTZ, created_at TIMESTAMPTZ NOT NULL DEFAULT now(), \
         updated_at TIMESTAMPTZ NOT NULL DEFAULT now())"
    )))
    .execute(&mut *admin)
    .await?;
    let values: Vec<&[u8]> = vec![&value; ROWS];
    sqlx::query(sql(format!(
        "INSERT INTO \"{t}\" (key, value) SELECT * FROM UNNEST($1::text[], $2::bytea[])"
    )))
    .bind(&keys)
    .bind(&values)
    .execute(&mut *admin)
    .await?;
    for (table, batching) in [(&names.pgkv_on, true), (&names.pgkv_off, false)] {
        let store = Store::with_config(pgkv_config(url, table, batching)).await?;
        for chunk in keys.chunks(1_000) {
            let items: Vec<(&str, &[u8])> = chunk.iter().map(|k| (k.as_str(), &value[..])).collect();
            store.set_many(&items).await?;
        }
        store.close().await;
    }
    for table in [&names.floor, &names.pgkv_on, &names.pgkv_off] {
        sqlx::raw_sql(sql(format!("VACUUM ANALYZE \"{table}\"")))
            .execute(&mut *admin)
            .await?;
    }
    let mut r = redis::Client::open(redis_url)?
        .get_multiplexed_async_connection()
        .await?;
    redis::cmd("FLUSHALL").query_async::<()>(&mut r).await?;
    for chunk in keys.chunks(1_000) {
        let mut cmd = redis::cmd("MSET");
        for k in chunk {
            cmd.arg(k).arg(&value);
        }
        cmd.query_async::<()>(&mut r).await?;
    }
    Ok(())
}

async fn describe(admin: &mut PgConnection, redis_url: &str) -> Res<(String, usize)> {
    let version: String = sqlx::query_scalar("SELECT version()")
        .fetch_one(&mut *admin)
        .await?;
    let settings: Vec<(String, String)> = sqlx::query_as(
        "SELECT name, setting || coalesce(unit, '') FROM pg_settings WHERE name IN \
         ('shared_buffers', 'fsync', 'synchronous_commit', 'max_connections', 'jit') ORDER BY name",
    )
    .fetch_all(&mut *admin)
    .await?;
    let max_conns = settings
        .iter()
        .find(|(n, _)| n == "max_connections")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(100);
    let mut r = redis::Client::open(redis_url)?
        .get_multiplexed_async_connection()
        .await?;
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
    let _ = writeln!(
        out,
        "\n- Redis: {redis_version} (persistence off: save '', appendonly no), redis-rs, one multiplexed connection"
    );
    Ok((out, max_conns))
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cpus} CPUs ({cpu})")
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

// ---------------------------------------------------------------------------
// Statistics.

#[derive(Default, Clone, Copy)]
struct Stat {
    median_us: f64,
    p99_us: f64,
    p999_us: f64,
    max_us: f64,
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
    let pct = |p: f64| ns[((n as f64 * p).ceil() as usize).clamp(1, n) - 1] as f64;
    let (p99, p999) = (pct(0.99), pct(0.999));
    Stat {
        median_us: median / 1000.0,
        p99_us: p99 / 1000.0,
        p999_us: p999 / 1000.0,
        max_us: ns[n - 1] as f64 / 1000.0,
    }
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

// ---------------------------------------------------------------------------
// 1. Uncontended latency.

const LAT_SYSTEMS: [&str; 6] = [
    "sqlx floor",
    "tokio-postgres floor",
    "sqlx floor running pgkv's SQL",
    "pgkv, batching on",
    "pgkv, batching off",
    "Redis",
];

enum LatClient {
    Sqlx(SqlxFloor),
    TokioPg(TokioPgFloor),
    Pgkv(Pgkv),
    Redis(Redis),
}

impl LatClient {
    async fn get(&mut self, key: &str) -> Res<bool> {
        match self {
            LatClient::Sqlx(c) => c.get(key).await,
            LatClient::TokioPg(c) => c.get(key).await,
            LatClient::Pgkv(c) => c.get(key).await,
            LatClient::Redis(c) => c.get(key).await,
        }
    }

    async fn set(&mut self, key: &str, value: &[u8]) -> Res<()> {
        match self {
            LatClient::Sqlx(c) => c.set(key, value).await,
            LatClient::TokioPg(c) => c.set(key, value).await,
            LatClient::Pgkv(c) => c.set(key, value).await,
            LatClient::Redis(c) => c.set(key, value).await,
        }
    }
}

/// Per system (`LAT_SYSTEMS` order): GET and SET statistics.
fn latency(rt: &Runtime, url: &str, names: &Names, redis_url: &str, s: &Settings) -> Res<Vec<(Stat, Stat)>> {
    eprintln!("batching bench: uncontended latency");
    rt.block_on(async {
        let on = Store::with_config(pgkv_config(url, &names.pgkv_on, true)).await?;
        let off = Store::with_config(pgkv_config(url, &names.pgkv_off, false)).await?;
        let redis = redis::Client::open(redis_url)?
            .get_multiplexed_async_connection()
            .await?;
        let (pgkv_get, pgkv_set) = pgkv_sql(&names.floor)?;
        let mut clients = vec![
            LatClient::Sqlx(SqlxFloor::connect(url, &names.floor, APP_FLOOR).await?),
            LatClient::TokioPg(TokioPgFloor::connect(url, &names.floor, APP_TOKIO_PG).await?),
            LatClient::Sqlx(SqlxFloor::with_sql(url, APP_FLOOR, pgkv_get, pgkv_set).await?),
            LatClient::Pgkv(Pgkv(on.clone())),
            LatClient::Pgkv(Pgkv(off.clone())),
            LatClient::Redis(Redis(redis)),
        ];
        let keys = keys();
        let value = sample_value(VALUE);
        let per_round = s.iters.div_ceil(s.lat_rounds);
        let mut gets: Vec<Vec<u64>> = vec![Vec::new(); clients.len()];
        let mut sets: Vec<Vec<u64>> = vec![Vec::new(); clients.len()];
        let mut rng = XorShift(0x5eed_1a7e_0c1e_5001);
        for round in 0..s.lat_rounds {
            for j in 0..clients.len() {
                let idx = (j + round) % clients.len();
                let c = &mut clients[idx];
                // Each system reads and writes the same keys in the same order.
                let mut chunk_rng = XorShift(rng.next_u64() | 1);
                let picks: Vec<usize> = (0..WARMUP + per_round).map(|_| chunk_rng.below(ROWS)).collect();
                for (i, &k) in picks[..WARMUP].iter().enumerate() {
                    if i % 5 == 0 {
                        c.set(&keys[k], &value).await?;
                    } else {
                        c.get(&keys[k]).await?;
                    }
                }
                for &k in &picks[WARMUP..] {
                    let started = Instant::now();
                    let found = c.get(&keys[k]).await?;
                    gets[idx].push(started.elapsed().as_nanos() as u64);
                    assert!(found, "{} lost {}", LAT_SYSTEMS[idx], keys[k]);
                }
                for &k in &picks[WARMUP..] {
                    let started = Instant::now();
                    c.set(&keys[k], &value).await?;
                    sets[idx].push(started.elapsed().as_nanos() as u64);
                }
            }
        }
        let batched = on.batching_stats().map_or(0, |b| b.batched_calls);
        if batched > 0 {
            eprintln!("batching bench: {batched} calls were batched during the uncontended latency run");
        }
        drop(clients);
        on.close().await;
        off.close().await;
        // Let the dropped connections' tasks (tokio-postgres, Redis) end
        // while this runtime still runs them.
        tokio::time::sleep(Duration::from_millis(100)).await;
        Ok(gets
            .into_iter()
            .zip(sets)
            .map(|(g, s)| (stat(g), stat(s)))
            .collect())
    })
}

fn render_latency(stats: &[(Stat, Stat)], per_system: usize, rounds: usize) -> String {
    let mut out = format!(
        "## Uncontended latency: one caller, one call at a time ({per_system} timed calls per operation \
         and system in {rounds} interleaved rounds, +{WARMUP} untimed per chunk; current-thread tokio runtime)\n\n\
         | system | GET median | GET p99 | GET × sqlx floor | GET × tokio-postgres | GET × floor on pgkv's SQL | \
         SET median | SET p99 | SET × sqlx floor | SET × tokio-postgres | SET × floor on pgkv's SQL |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    );
    let (sqlx_floor, tpg, own_sql) = (stats[0], stats[1], stats[2]);
    for (name, (g, s)) in LAT_SYSTEMS.iter().zip(stats) {
        let _ = writeln!(
            out,
            "| {name} | {} µs | {} µs | {:.2} (p99 {:.2}) | {:.2} | {:.2} | {} µs | {} µs | {:.2} (p99 {:.2}) | {:.2} | {:.2} |",
            fmt_us(g.median_us),
            fmt_us(g.p99_us),
            g.median_us / sqlx_floor.0.median_us,
            g.p99_us / sqlx_floor.0.p99_us,
            g.median_us / tpg.0.median_us,
            g.median_us / own_sql.0.median_us,
            fmt_us(s.median_us),
            fmt_us(s.p99_us),
            s.median_us / sqlx_floor.1.median_us,
            s.p99_us / sqlx_floor.1.p99_us,
            s.median_us / tpg.1.median_us,
            s.median_us / own_sql.1.median_us,
        );
    }
    out
}

// ---------------------------------------------------------------------------
// 2. Throughput.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Sys {
    Floor,
    PgkvOn,
    PgkvOff,
    Redis,
}

impl Sys {
    const ALL: [Sys; 4] = [Sys::Floor, Sys::PgkvOn, Sys::PgkvOff, Sys::Redis];

    fn label(self) -> &'static str {
        match self {
            Sys::Floor => "sqlx floor (1 connection per task)",
            Sys::PgkvOn => "pgkv, default pool, batching on",
            Sys::PgkvOff => "pgkv, default pool, batching off",
            Sys::Redis => "Redis (1 multiplexed connection)",
        }
    }
}

/// One run of one system at one shape.
#[derive(Default, Clone)]
struct Run {
    calls: u64,
    secs: f64,
    errors: u64,
    first_error: Option<String>,
    /// Server connections halfway through.
    server_conns: i64,
    /// pgkv: the most open connections `Store::status` showed.
    pool_size_max: usize,
    batching: Option<BatchingStats>,
    /// Per-call time, ns.
    samples: Vec<u64>,
    /// CPU used in the run's second half.
    cpu: Cpu,
}

/// Client `t`'s call sequence.
fn mix_rng(t: usize) -> XorShift {
    XorShift(0x9e37_79b9_7f4a_7c15 ^ (t as u64 + 1))
}

struct TaskOut<C> {
    client: C,
    calls: u64,
    errors: u64,
    first_error: Option<String>,
    samples: Vec<u64>,
}

/// Everything a throughput run needs besides the clients.
struct Probe<'a> {
    admin: &'a mut PgConnection,
    app: Option<&'static str>,
    redis: Option<MultiplexedConnection>,
    redis_pid: Option<u32>,
    store: Option<Store>,
}

/// CPU time of a process (all its threads), in clock ticks.
fn proc_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command (which may hold spaces): state is the 3rd
    // field, utime the 14th, stime the 15th.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// CPU used during the second half of a run.
#[derive(Default, Clone, Copy)]
struct Cpu {
    secs: f64,
    calls: u64,
    /// Ticks of this process (the client).
    client: u64,
    /// Ticks of the server processes serving the measured connections
    /// (PostgreSQL backends, or redis-server).
    server: u64,
}

/// A snapshot for [`Cpu`].
struct CpuMark {
    at: Instant,
    calls: u64,
    client: u64,
    server: u64,
}

fn cpu_mark(pids: &[u32], calls: u64) -> CpuMark {
    CpuMark {
        at: Instant::now(),
        calls,
        client: proc_ticks(std::process::id()).unwrap_or(0),
        server: pids.iter().filter_map(|&p| proc_ticks(p)).sum(),
    }
}

fn cpu_between(a: &CpuMark, b: &CpuMark) -> Cpu {
    Cpu {
        secs: (b.at - a.at).as_secs_f64(),
        calls: b.calls - a.calls,
        client: b.client.saturating_sub(a.client),
        server: b.server.saturating_sub(a.server),
    }
}

/// The server processes of `app`'s connections.
async fn backend_pids(admin: &mut PgConnection, app: &str) -> Res<Vec<u32>> {
    let pids: Vec<i32> = sqlx::query_scalar("SELECT pid FROM pg_stat_activity WHERE application_name = $1")
        .bind(app)
        .fetch_all(admin)
        .await?;
    Ok(pids.into_iter().map(|p| p as u32).collect())
}

async fn run_clients<C: Client>(
    clients: Vec<C>,
    keys: &Arc<Vec<String>>,
    value: &Arc<Vec<u8>>,
    dur: Duration,
    probe: Probe<'_>,
) -> Res<(Vec<C>, Run)> {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let before = probe.store.as_ref().and_then(Store::batching_stats);
    let start = Instant::now();
    let handles: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(t, mut client)| {
            let (stop, done, keys, value) = (stop.clone(), done.clone(), keys.clone(), value.clone());
            tokio::spawn(async move {
                let mut rng = mix_rng(t);
                let (mut calls, mut errors, mut first_error) = (0u64, 0u64, None);
                let mut samples = Vec::with_capacity(1 << 14);
                while !stop.load(Ordering::Relaxed) {
                    let k = rng.below(ROWS);
                    let write = rng.below(10) < 2;
                    let started = Instant::now();
                    let result = if write {
                        client.set(&keys[k], &value).await
                    } else {
                        client.get(&keys[k]).await.map(|_| ())
                    };
                    samples.push(started.elapsed().as_nanos() as u64);
                    match result {
                        Ok(()) => {
                            calls += 1;
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => {
                            errors += 1;
                            first_error.get_or_insert_with(|| e.to_string());
                        }
                    }
                }
                TaskOut {
                    client,
                    calls,
                    errors,
                    first_error,
                    samples,
                }
            })
        })
        .collect();
    let mut run = Run::default();
    // Halfway: count the server connections; meanwhile sample pgkv's pool.
    let halfway = start + dur / 2;
    let end = start + dur;
    let mut counted = None;
    let mut pids = Vec::new();
    let mut probe = probe;
    loop {
        if let Some(store) = &probe.store {
            run.pool_size_max = run.pool_size_max.max(store.status().size);
        }
        let now = Instant::now();
        if now >= end {
            break;
        }
        if counted.is_none() && now >= halfway {
            if let Some(app) = probe.app {
                pids = backend_pids(probe.admin, app).await?;
                run.server_conns = pids.len() as i64;
            }
            if let Some(r) = probe.redis.as_mut() {
                let list: String = redis::cmd("CLIENT").arg("LIST").query_async(r).await?;
                let name = format!(" name={REDIS_NAME} ");
                run.server_conns = list.lines().filter(|l| l.contains(&name)).count() as i64;
                pids.extend(probe.redis_pid);
            }
            counted = Some(cpu_mark(&pids, done.load(Ordering::Relaxed)));
            continue;
        }
        tokio::time::sleep((end - now).min(Duration::from_millis(50))).await;
    }
    if let Some(mark) = &counted {
        run.cpu = cpu_between(mark, &cpu_mark(&pids, done.load(Ordering::Relaxed)));
    }
    stop.store(true, Ordering::Relaxed);
    // Calls in flight when the clock stops are counted: they finish within
    // a round trip (or a batch) of it.
    run.secs = start.elapsed().as_secs_f64();
    let mut clients = Vec::new();
    for h in handles {
        let out = h.await?;
        run.calls += out.calls;
        run.errors += out.errors;
        if run.first_error.is_none() {
            run.first_error = out.first_error;
        }
        run.samples.extend(out.samples);
        clients.push(out.client);
    }
    if let (Some(store), Some(before)) = (&probe.store, before) {
        let after = store.batching_stats().expect("batching on");
        run.batching = Some(delta(before, after));
    }
    Ok((clients, run))
}

fn delta(before: BatchingStats, after: BatchingStats) -> BatchingStats {
    let mut d = after;
    d.batches = after.batches - before.batches;
    d.batched_calls = after.batched_calls - before.batched_calls;
    d
}

/// The shapes' results: per shape, per `Sys::ALL` entry, one `Run` per round.
type Results = Vec<(usize, String, Vec<Vec<Run>>)>;

fn throughput(rt: &Runtime, url: &str, names: &Names, redis: &RedisServer, s: &Settings) -> Res<Results> {
    let (redis_url, redis_pid) = (redis.url.as_str(), redis.pid());
    rt.block_on(async {
        let keys = Arc::new(keys());
        let value = Arc::new(sample_value(VALUE));
        let mut admin = PgConnection::connect(url).await?;
        let on = Store::with_config(pgkv_config(url, &names.pgkv_on, true)).await?;
        let off = Store::with_config(pgkv_config(url, &names.pgkv_off, false)).await?;
        let mut redis = redis::Client::open(redis_url)?
            .get_multiplexed_async_connection()
            .await?;
        // Named, so that `CLIENT LIST` tells it from any other connection.
        redis::cmd("CLIENT")
            .arg("SETNAME")
            .arg(REDIS_NAME)
            .query_async::<()>(&mut redis)
            .await?;
        let dur = Duration::from_secs_f64(s.secs);
        let mut results = Vec::new();
        for &tasks in &s.tasks {
            eprintln!("batching bench: throughput, {tasks} tasks");
            let load = loadavg();
            let mut runs: Vec<Vec<Run>> = vec![Vec::new(); Sys::ALL.len()];
            // The floor's connections, one per task, opened before the clock
            // starts and kept for the shape's rounds.
            let mut floors = Vec::with_capacity(tasks);
            for _ in 0..tasks {
                floors.push(SqlxFloor::connect(url, &names.floor, APP_FLOOR).await?);
            }
            // Round 0 is an untimed warm-up (connections opened, statements
            // prepared), its results dropped.
            for round in 0..=s.rounds {
                let dur = if round == 0 { WARM_UP } else { dur };
                for j in 0..Sys::ALL.len() {
                    let idx = (j + round) % Sys::ALL.len();
                    let run = match Sys::ALL[idx] {
                        Sys::Floor => {
                            let probe = Probe {
                                admin: &mut admin,
                                app: Some(APP_FLOOR),
                                redis: None,
                                redis_pid: None,
                                store: None,
                            };
                            let (back, run) = run_clients(floors, &keys, &value, dur, probe).await?;
                            floors = back;
                            run
                        }
                        sys @ (Sys::PgkvOn | Sys::PgkvOff) => {
                            let store = if sys == Sys::PgkvOn { &on } else { &off };
                            let clients = (0..tasks).map(|_| Pgkv(store.clone())).collect();
                            let probe = Probe {
                                admin: &mut admin,
                                app: Some(if sys == Sys::PgkvOn {
                                    APP_PGKV_ON
                                } else {
                                    APP_PGKV_OFF
                                }),
                                redis: None,
                                redis_pid: None,
                                store: Some(store.clone()),
                            };
                            run_clients(clients, &keys, &value, dur, probe).await?.1
                        }
                        Sys::Redis => {
                            let clients = (0..tasks).map(|_| Redis(redis.clone())).collect();
                            let probe = Probe {
                                admin: &mut admin,
                                app: None,
                                redis: Some(redis.clone()),
                                redis_pid,
                                store: None,
                            };
                            run_clients(clients, &keys, &value, dur, probe).await?.1
                        }
                    };
                    if round == 0 {
                        continue;
                    }
                    if run.errors > 0 {
                        eprintln!(
                            "batching bench: {} at {tasks} tasks: {} errors, first: {}",
                            Sys::ALL[idx].label(),
                            run.errors,
                            run.first_error.as_deref().unwrap_or("?")
                        );
                    }
                    runs[idx].push(run);
                    // Let the server settle (autovacuum, checkpoints) alike for all.
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
            for floor in floors {
                floor.conn.close().await?;
            }
            results.push((tasks, load, runs));
        }
        on.close().await;
        off.close().await;
        admin.close().await?;
        Ok(results)
    })
}

fn ops(runs: &[Run]) -> f64 {
    let calls: u64 = runs.iter().map(|r| r.calls).sum();
    let secs: f64 = runs.iter().map(|r| r.secs).sum();
    calls as f64 / secs
}

fn render_throughput(results: &Results, s: &Settings) -> String {
    let mut out = format!(
        "## Throughput: 80 % GET / 20 % SET over {ROWS} keys ({VALUE}-byte values); multi-thread tokio \
         runtime, 2 workers; {} s per system, shape and round, {} rounds of rotating order after an untimed warm-up round of 0.5 s each\n",
        s.secs, s.rounds
    );
    for (tasks, load, runs) in results {
        let floor = ops(&runs[0]);
        let redis = ops(&runs[3]);
        let _ = write!(
            out,
            "\n### {tasks} client tasks (load average before: {load})\n\n| system | ops/s | per round | × floor | × Redis | server connections | \
             calls per batch (batched / all calls) | call p50 / p99 / p99.9 / max | errors |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|---:|\n"
        );
        for (sys, runs) in Sys::ALL.iter().zip(runs) {
            let o = ops(runs);
            let rounds: Vec<String> = runs
                .iter()
                .map(|r| fmt_int((r.calls as f64 / r.secs) as u64))
                .collect();
            let conns: Vec<String> = runs
                .iter()
                .map(|r| match sys {
                    Sys::PgkvOn | Sys::PgkvOff => format!("{} (pool ≤ {})", r.server_conns, r.pool_size_max),
                    _ => r.server_conns.to_string(),
                })
                .collect();
            let batching = match sys {
                Sys::PgkvOn => {
                    let (b, c): (u64, u64) = runs.iter().fold((0, 0), |(b, c), r| {
                        let st = r.batching.unwrap_or_default();
                        (b + st.batches, c + st.batched_calls)
                    });
                    let all: u64 = runs.iter().map(|r| r.calls + r.errors).sum();
                    if b == 0 {
                        "no batches".to_owned()
                    } else {
                        format!(
                            "{:.1} ({:.0} % of calls in {} batches)",
                            c as f64 / b as f64,
                            100.0 * c as f64 / all as f64,
                            fmt_int(b)
                        )
                    }
                }
                Sys::PgkvOff => "off".to_owned(),
                _ => "n/a".to_owned(),
            };
            let lat = stat(runs.iter().flat_map(|r| r.samples.iter().copied()).collect());
            let errors: u64 = runs.iter().map(|r| r.errors).sum();
            let _ = writeln!(
                out,
                "| {} | {} | {} | {:.2} | {:.2} | {} | {batching} | {} / {} / {} / {} µs | {errors} |",
                sys.label(),
                fmt_int(o as u64),
                rounds.join(", "),
                o / floor,
                o / redis,
                conns.join(", "),
                fmt_us(lat.median_us),
                fmt_us(lat.p99_us),
                fmt_us(lat.p999_us),
                fmt_us(lat.max_us),
            );
        }
        let tick = clock_tick();
        let _ = write!(
            out,
            "\nCPU in the second half of each run (all rounds; from /proc, {tick} ticks/s):\n\n\
             | system | client CPU (cores) | server CPU (cores) | client CPU per call | server CPU per call |\n\
             |---|---:|---:|---:|---:|\n"
        );
        for (sys, runs) in Sys::ALL.iter().zip(runs) {
            let sum = runs.iter().fold(Cpu::default(), |a, r| Cpu {
                secs: a.secs + r.cpu.secs,
                calls: a.calls + r.cpu.calls,
                client: a.client + r.cpu.client,
                server: a.server + r.cpu.server,
            });
            let cores = |ticks: u64| ticks as f64 / tick / sum.secs;
            let per_call = |ticks: u64| ticks as f64 / tick * 1e6 / sum.calls.max(1) as f64;
            let _ = writeln!(
                out,
                "| {} | {:.2} | {:.2} | {:.1} µs | {:.1} µs |",
                sys.label(),
                cores(sum.client),
                cores(sum.server),
                per_call(sum.client),
                per_call(sum.server),
            );
        }
    }
    out
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 if that fails).
fn clock_tick() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

// ---------------------------------------------------------------------------

fn main() {
    if let Err(e) = run() {
        eprintln!("batching bench: {e}");
        std::process::exit(1);
    }
}

fn run() -> Res<()> {
    let Some(url) = std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty()) else {
        eprintln!(
            "batching bench: needs DATABASE_URL; run it with\n    scripts/with-postgres cargo bench --bench batching"
        );
        return Ok(());
    };
    let mut s = settings()?;
    let run_start = Instant::now();
    let load_before = loadavg();
    let redis = start_redis()?;
    let names = Names::new();
    let lat_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let tp_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut admin = lat_rt.block_on(PgConnection::connect(&url))?;
    let (servers, max_conns) = lat_rt.block_on(describe(&mut admin, &redis.url))?;
    // The floor's connections, pgkv's two pools and ours must fit.
    let room = max_conns.saturating_sub(2 * 10 + SPARE_CONNECTIONS + 3);
    let before = s.tasks.clone();
    s.tasks.retain(|&t| t <= room);
    if s.tasks != before {
        eprintln!(
            "batching bench: max_connections={max_conns} leaves room for {room} floor connections: \
             running {:?} instead of {before:?}",
            s.tasks
        );
    }
    println!("# Opportunistic batching (#18): pgkv against the floors and Redis\n");
    print!("{servers}");
    println!(
        "- Machine: {}; load average at start {load_before}\n- Placement: throughput not pinned (client \
         runtime, PostgreSQL and Redis share both CPUs with whatever else runs); latency pinned to one CPU \
         (below)",
        machine()
    );
    println!(
        "- Floor SQL: `{}`; `{}`\n- pgkv: `Config` default (max_connections 10, OnRead TTLs: its GET \
         also purges an expired row it meets), batching on or off; tables UNLOGGED, {ROWS} rows each\n",
        floor_get("t"),
        floor_set("t")
    );

    eprintln!("batching bench: loading {ROWS} rows per system");
    lat_rt.block_on(load(&mut admin, &url, &names, &redis.url))?;
    if s.only.as_deref() != Some("throughput") {
        let placement = Placement::find(&redis);
        let pinned = match s.pin_cpu.as_deref() {
            Some(cpu) => match placement.pin(Some(cpu)) {
                Ok(what) => what,
                Err(e) => format!("not pinned ({e})"),
            },
            None => "not pinned (PGKV_BATCH_BENCH_PIN=off)".to_owned(),
        };
        let lat = latency(&lat_rt, &url, &names, &redis.url, &s);
        if s.pin_cpu.is_some() {
            placement.pin(None).ok();
        }
        let lat = lat?;
        println!(
            "{}",
            render_latency(&lat, s.iters.div_ceil(s.lat_rounds) * s.lat_rounds, s.lat_rounds)
        );
        println!("Placement: {pinned}.\n");
    }
    if s.only.as_deref() != Some("latency") {
        let tput = throughput(&tp_rt, &url, &names, &redis, &s)?;
        print!("{}", render_throughput(&tput, &s));
    }

    lat_rt.block_on(async {
        for t in [&names.floor, &names.pgkv_on, &names.pgkv_off] {
            sqlx::raw_sql(sql(format!("DROP TABLE IF EXISTS \"{t}\"")))
                .execute(&mut admin)
                .await?;
        }
        admin.close().await?;
        Ok::<_, BoxError>(())
    })?;
    println!(
        "\nLoad average at end: {}. Total run time: {:.0} s.",
        loadavg(),
        run_start.elapsed().as_secs_f64()
    );
    Ok(())
}
