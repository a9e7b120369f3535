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
//! increment, set_many, get_many, scan, expire_gt, match, increment_ex,
//! set_nx_get_ex or rename) loads 10,000 rows into a table of that system
//! (and the keys the op works on), makes that many calls one after another
//! and prints the mean time per call, e.g.
//! `PGKV_COMPARE_LOOP=pgkv:get:20000 strace -c -f target/release/deps/compare-…`.

mod growth;
mod kind;
mod latency;
mod report;
mod shapes;
mod systems;
mod throughput;
mod work;

/// The shared bench support (`benches/support/`): the files this bench uses.
#[path = "../support"]
mod support {
    pub(crate) mod mix;
    pub(crate) mod servers;
    pub(crate) mod settings;
    pub(crate) mod stats;
}

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pgkv::{Config, TableType, TtlCleanupStrategy};
use sqlx::{Connection, PgConnection};

use crate::growth::{growth, parse_sizes};
use crate::latency::{chunk_calls, latency_pass, own_keys, prepare};
use crate::report::{PassResult, describe_servers, notes, render, render_speedup, table_label};
use crate::shapes::runtime_shapes;
use crate::support::servers::sql;
use crate::support::settings::{BoxError, Res, env_parse};
use crate::systems::{Floor, Kv, drop_tables, floor_ddl, load, load_expiring, open_pgkv, perform, setup};
use crate::throughput::throughput_pass;
use crate::work::{Call, Op, Work};

/// Rows in every table before the measurements (`key:00000` … `key:09999`).
const ROWS: usize = 10_000;
/// Value size for every write.
const VALUE: usize = 256;
/// Items per SET_MANY / GET_MANY call, rows per scan page.
const BATCH: usize = 100;
/// Scans read pages of keys starting with this prefix (1,000 of the rows).
const SCAN_PREFIX: &str = "key:05";
/// Distinct counters INCREMENT (and INCREMENT_EX, on counters of its own)
/// cycles through.
const COUNTERS: usize = 100;
/// TTL INCREMENT_EX gives a counter it creates (later calls keep it).
const INCREMENT_TTL_SECS: u64 = 3_600;
/// Keys EXPIRE GT works on (`exp:00000` …), loaded with a TTL of
/// `LOADED_TTL_SECS`; each call asks for `GT_LONGER_SECS` (applies) or
/// `GT_SHORTER_SECS` (refused: the key already expires later), half and half.
const EXPIRING: usize = 1_000;
const LOADED_TTL_SECS: u64 = 3_600;
const GT_LONGER_SECS: u64 = 7_200;
const GT_SHORTER_SECS: u64 = 1_800;
/// MATCH pages read keys matching this glob: `key:0X5YY`, 1,000 of the
/// rows, 1 in 10 of its literal start's (`key:0`) range, which is every row.
const MATCH_PATTERN: &str = "key:0?5*";
/// The glob's literal start, and the regular expression pgkv binds for the
/// rest (`pgkv/src/pattern.rs`); the floor binds the same.
const MATCH_PREFIX: &str = "key:0";
const MATCH_REGEX: &str = r"^key\:0.5.*$";
/// TTL SET NX GET EX asks for. Its keys (`nx:00000` …, one per call of a
/// chunk) are reset before every chunk: the even ones live, with a TTL of
/// `LOADED_TTL_SECS` (NX refuses, the previous value comes back), the odd
/// ones absent (written).
const NX_TTL_SECS: u64 = 600;
/// RENAME moves values between `ren:000:a` and `ren:000:b`, … over this many
/// pairs of names, each holding one value (at its `a` name before every
/// chunk): every call moves a value to the name its pair does not use.
const RENAME_PAIRS: usize = 100;
/// Concurrent tasks (or threads) in the throughput test.
const TASKS: usize = 8;
/// Untimed calls before each timed chunk, after switching systems.
const WARMUP: usize = 50;

/// The run's settings, from the environment (see the module docs).
struct Env {
    pg_url: String,
    redis_url: String,
    iters: usize,
    rounds: usize,
    secs: f64,
    tables: Vec<TableType>,
    placement: String,
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
        "expire_gt" => Op::ExpireGt,
        "match" => Op::MatchScan,
        "increment_ex" => Op::IncrementEx,
        "set_nx_get_ex" => Op::SetNxGetEx,
        "rename" => Op::Rename,
        other => {
            return Err(format!(
                "PGKV_COMPARE_LOOP: unknown op {other:?} (set, get, increment, set_many, get_many, \
                 scan, expire_gt, match, increment_ex, set_nx_get_ex or rename)"
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
    let own = own_keys(op, calls + WARMUP, 0);
    let calls = chunk_calls(&work, &own, op, calls, 0);
    async fn run_loop<C: Kv>(
        c: &mut C,
        work: &Work,
        own: &[String],
        op: Op,
        calls: &[Call<'_>],
    ) -> Res<Duration> {
        load(c, work).await?;
        load_expiring(c, work).await?;
        prepare(c, work, op, own).await?;
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
                run_loop(&mut floor, &work, &own, op, &calls).await?
            }
            "pgkv" | "pgkvm" => {
                let mut config = Config::new(pg_url.clone()).table_name(&table);
                if system == "pgkvm" {
                    config = config.ttl_cleanup_strategy(TtlCleanupStrategy::Manual);
                }
                run_loop(&mut open_pgkv(config).await?, &work, &own, op, &calls).await?
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
        let latency = latency_pass(&rt, &mut sys, &work, env.rounds, per_round)?;
        let tput = throughput_pass(&rt, &env, &sys, &work)?;
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
    println!("\n{}", notes());
    println!("\n## pgkv 0.2 against pgkv 0.1 (times faster, same pass)\n");
    print!("{}", render_speedup(&results));
    if let Some(shapes) = shapes {
        println!("\n## GET under different runtime shapes (UNLOGGED tables)\n");
        print!("{shapes}");
    }
    println!("\nTotal run time: {:.0} s.", run_start.elapsed().as_secs_f64());
    Ok(())
}
