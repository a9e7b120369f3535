//! What a transaction-mode pooler costs: pgkv straight to PostgreSQL against
//! pgkv through PgBouncer (`pool_mode = transaction`), in one run.
//!
//! ```text
//! scripts/with-postgres --pooler cargo bench --bench pooler
//! ```
//!
//! Latency (median per call, rounds interleaved so machine noise hits every
//! system alike) for GET and SET:
//! - direct: the default config (named, prepared statements; one round trip);
//! - direct, pooler mode: `transaction_pooler(true)` against the server
//!   itself, so the mode's own cost (unnamed statements in a transaction of
//!   their own) is seen without PgBouncer's hop;
//! - PgBouncer: `transaction_pooler(true)` through PgBouncer.
//!
//! Throughput: 32 client tasks, 80 % GET / 20 % SET over 10,000 keys, for
//! `PGKV_POOLER_BENCH_SECS` seconds (default 5) per system, with the server
//! connections each used.
//!
//! Without `DATABASE_URL` and `PGKV_POOLER_URL` it says how to run it and
//! exits successfully, so a plain `cargo bench` still runs the others.

/// The shared bench support (`benches/support/`): the files this bench uses.
mod support {
    pub(crate) mod calls_per_second;
    pub(crate) mod durations;
}

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use pgkv::{Config, Store};
use pgkv_suite::{XorShift, sample_value, unique_table};

use crate::support::calls_per_second::calls_per_second;
use crate::support::durations::{median, micros};

const KEYS: u64 = 10_000;
const TASKS: usize = 32;

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

struct System {
    name: &'static str,
    store: Store,
}

async fn latency(systems: &[System], iters: usize, rounds: usize) {
    let value = sample_value(256);
    println!(
        "\n## Latency, one call at a time (median of {} calls)\n",
        iters * rounds
    );
    println!("| op | system | median | × direct |\n|---|---|---:|---:|");
    for op in ["GET", "SET"] {
        let mut samples: Vec<Vec<Duration>> = vec![Vec::new(); systems.len()];
        for round in 0..rounds {
            for offset in 0..systems.len() {
                let i = (round + offset) % systems.len();
                let store = &systems[i].store;
                let mut rng = XorShift(7 + round as u64);
                for _ in 0..iters {
                    let key = format!("k{}", rng.next_u64() % KEYS);
                    let started = Instant::now();
                    match op {
                        "GET" => drop(store.get(&key).await.unwrap()),
                        _ => store.set(&key, &value).await.unwrap(),
                    }
                    samples[i].push(started.elapsed());
                }
            }
        }
        let medians: Vec<Duration> = samples.into_iter().map(median).collect();
        for (system, m) in systems.iter().zip(&medians) {
            println!(
                "| {op} | {} | {:.1} µs | {:.2} |",
                system.name,
                micros(*m),
                m.as_secs_f64() / medians[0].as_secs_f64()
            );
        }
    }
}

async fn throughput(system: &System, secs: f64) -> f64 {
    let value = Arc::new(sample_value(256));
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    calls_per_second(TASKS, secs, |t, done| {
        let (store, value) = (system.store.clone(), value.clone());
        async move {
            let mut rng = XorShift(100 + t as u64);
            while Instant::now() < deadline {
                let n = rng.next_u64();
                let key = format!("k{}", n % KEYS);
                if n.is_multiple_of(5) {
                    store.set(&key, &*value).await.unwrap();
                } else {
                    drop(store.get(&key).await.unwrap());
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
        }
    })
    .await
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let (Some(direct_url), Some(pooler_url)) = (env("DATABASE_URL"), env("PGKV_POOLER_URL")) else {
        eprintln!(
            "pooler bench: needs DATABASE_URL and PGKV_POOLER_URL; run it with\n    scripts/with-postgres --pooler cargo bench --bench pooler"
        );
        return;
    };
    let iters: usize = env("PGKV_POOLER_BENCH_ITERS")
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    let secs: f64 = env("PGKV_POOLER_BENCH_SECS")
        .and_then(|v| v.parse().ok())
        .unwrap_or(5.0);
    let table = unique_table("pooler_bench");
    let config = |url: &str| Config::new(url).table_name(&table).max_connections(TASKS as u32);
    let systems = vec![
        System {
            name: "direct",
            store: Store::with_config(config(&direct_url)).await.unwrap(),
        },
        System {
            name: "direct, pooler mode",
            store: Store::with_config(config(&direct_url).transaction_pooler(true))
                .await
                .unwrap(),
        },
        System {
            name: "PgBouncer",
            store: Store::with_config(config(&pooler_url).transaction_pooler(true))
                .await
                .unwrap(),
        },
    ];
    let value = sample_value(256);
    let rows: Vec<(String, &[u8])> = (0..KEYS).map(|i| (format!("k{i}"), &value[..])).collect();
    for chunk in rows.chunks(1_000) {
        systems[0].store.set_many(chunk).await.unwrap();
    }
    println!("# pgkv behind PgBouncer (transaction mode), 256-byte values, {KEYS} keys");
    latency(&systems, iters, 4).await;

    println!("\n## Throughput, {TASKS} tasks, 80 % GET / 20 % SET, {secs} s each\n");
    println!("| system | ops/s | × direct | store's connections |\n|---|---:|---:|---:|");
    let mut first = None;
    for system in &systems {
        let rate = throughput(system, secs).await;
        let base = *first.get_or_insert(rate);
        let conns = system.store.status().size;
        println!("| {} | {rate:.0} | {:.2} | {conns} |", system.name, rate / base);
    }
    println!(
        "\nDirect, each store connection is a server connection; behind PgBouncer the \
         server connections are its pool (default_pool_size = 8 in scripts/with-postgres)."
    );
    let drop_table = format!("DROP TABLE {table}");
    sqlx::query(sqlx::AssertSqlSafe(drop_table))
        .execute(systems[0].store.pool())
        .await
        .unwrap();
}
