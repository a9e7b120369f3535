//! Throughput: 8 concurrent clients, 80 % GET / 20 % SET over the 10k keys.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use pgkv::TableType;
use tokio::runtime::Runtime;

use crate::kind::Kind;
use crate::report::table_label;
use crate::support::mix::{mix_pick, mix_rng};
use crate::support::settings::{BoxError, Res};
use crate::systems::{Floor, Kv, Pgkv, Systems, legacy_table_type, table_name};
use crate::work::Work;
use crate::{Env, ROWS, SCAN_PREFIX, TASKS};

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
                    let (k, write) = mix_pick(&mut rng, ROWS);
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
                    let (k, write) = mix_pick(&mut rng, ROWS);
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

/// The throughput of one pass: every system for `env.secs` in 2 rounds
/// (rotating order); ops/s, one per `Kind::ALL` entry.
pub(crate) fn throughput_pass(rt: &Runtime, env: &Env, sys: &Systems, work: &Arc<Work>) -> Res<Vec<u64>> {
    eprintln!("compare: {} throughput", table_label(sys.tt));
    let half = Duration::from_secs_f64(env.secs / 2.0);
    let mut tput = vec![0u64; Kind::ALL.len()];
    for round in 0..2 {
        for j in 0..Kind::ALL.len() {
            let idx = (j + round) % Kind::ALL.len();
            tput[idx] += throughput(rt, env, sys, work, Kind::ALL[idx], half)?;
        }
    }
    Ok(tput.into_iter().map(|t| t / 2).collect())
}
