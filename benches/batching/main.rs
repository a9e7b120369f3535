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
//!
//! The parts: `latency.rs` (1) and `throughput.rs` (2), over the systems in
//! `clients.rs`, loaded by `setup.rs`; `placement.rs` pins, `cpu.rs` reads
//! /proc. Statistics, the Redis launcher and the report's header lines are
//! the benches' shared support (`benches/support/`).

mod clients;
mod cpu;
mod latency;
mod placement;
mod setup;
mod throughput;

/// The shared bench support (`benches/support/`): the files this bench uses.
#[path = "../support"]
mod support {
    pub(crate) mod database_url;
    pub(crate) mod host;
    pub(crate) mod mix;
    pub(crate) mod redis_server;
    pub(crate) mod servers;
    pub(crate) mod settings;
    pub(crate) mod stats;
}

use std::time::{Duration, Instant};

use sqlx::{Connection, PgConnection};

use crate::clients::{floor_get, floor_set};
use crate::latency::{latency, render_latency};
use crate::placement::Placement;
use crate::setup::{Names, describe, load};
use crate::support::database_url::database_url;
use crate::support::host::{loadavg, machine};
use crate::support::redis_server::start_redis;
use crate::support::servers::sql;
use crate::support::settings::{BoxError, Res, env_parse};
use crate::throughput::{render_throughput, throughput};

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

/// The run's settings, from the environment (see the crate docs).
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

fn main() {
    if let Err(e) = run() {
        eprintln!("batching bench: {e}");
        std::process::exit(1);
    }
}

fn run() -> Res<()> {
    let Some(url) = database_url("batching") else {
        return Ok(());
    };
    let mut s = settings()?;
    let run_start = Instant::now();
    let load_before = loadavg();
    let redis = start_redis("batching")?;
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
