//! Part 2, throughput, on a multi-thread tokio runtime: many client tasks,
//! the 80 % GET / 20 % SET mix, every system in rounds of rotating order,
//! with the server connections, pgkv's batching and the CPU on both sides
//! counted.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use pgkv::{BatchingStats, Store};
use pgkv_suite::sample_value;
use redis::aio::MultiplexedConnection;
use sqlx::{Connection, PgConnection};
use tokio::runtime::Runtime;

use crate::clients::{Client, Pgkv, Redis, SqlxFloor};
use crate::cpu::{Cpu, clock_tick, cpu_between, cpu_mark};
use crate::setup::{APP_FLOOR, APP_PGKV_OFF, APP_PGKV_ON, Names, REDIS_NAME, keys, pgkv_config};
use crate::support::host::loadavg;
use crate::support::mix::{mix_pick, mix_rng};
use crate::support::redis_server::RedisServer;
use crate::support::settings::Res;
use crate::support::stats::{fmt_int, fmt_us, stat};
use crate::{ROWS, Settings, VALUE, WARM_UP};

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
pub(crate) struct Run {
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
                    let (k, write) = mix_pick(&mut rng, ROWS);
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
pub(crate) type Results = Vec<(usize, String, Vec<Vec<Run>>)>;

pub(crate) fn throughput(
    rt: &Runtime,
    url: &str,
    names: &Names,
    redis: &RedisServer,
    s: &Settings,
) -> Res<Results> {
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

pub(crate) fn render_throughput(results: &Results, s: &Settings) -> String {
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
