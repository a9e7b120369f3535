//! What namespaces and their limits cost, in one run:
//!
//! ```text
//! scripts/with-postgres cargo bench --bench namespaces
//! ```
//!
//! 1. SET latency (median, interleaved rounds) in the store's own table, in
//!    a namespace without limits, in an `Evict` namespace (an index on
//!    `created_at`) and in a `Reject` namespace (statement triggers that
//!    count every write under one row lock).
//! 2. Eviction under load: an `Evict` namespace capped at 100,000 keys,
//!    filled, then written at about 10,000 new keys/s (batches of 50 every
//!    5 ms) while its cleanup task runs every 200 ms and a reader measures
//!    GET latency; the peak key count (sampled every 50 ms) and the reader's
//!    p50/p99.
//! 3. `delete_namespace` of a namespace holding 1,000,000 keys.
//!
//! Tunables: `PGKV_NS_BENCH_ITERS` (calls per system per round, default
//! 2000), `PGKV_NS_BENCH_SECS` (load seconds, default 10),
//! `PGKV_NS_BENCH_DELETE_ROWS` (default 1,000,000). Without `DATABASE_URL`
//! it says how to run it and exits successfully.

/// The shared bench support (`benches/support/`): the files this bench uses.
mod support {
    pub(crate) mod database_url;
    pub(crate) mod durations;
}

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

use pgkv::{LimitPolicy, NamespaceConfig, Store};
use pgkv_suite::{XorShift, sample_value, table_of, unique_table};

use crate::support::database_url::database_url;
use crate::support::durations::{median, micros, percentile};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn set_latency(base: &Store, iters: usize) -> Vec<(String, Store)> {
    let tag = unique_table("nsb");
    let plain = base
        .create_namespace(&format!("{tag}_plain"), NamespaceConfig::new())
        .await
        .unwrap();
    let evict = base
        .create_namespace(
            &format!("{tag}_evict"),
            NamespaceConfig::new()
                .policy(LimitPolicy::Evict)
                .max_keys(1_000_000_000),
        )
        .await
        .unwrap();
    let reject = base
        .create_namespace(
            &format!("{tag}_reject"),
            NamespaceConfig::new()
                .policy(LimitPolicy::Reject)
                .max_keys(1_000_000_000),
        )
        .await
        .unwrap();
    let systems = vec![
        ("store's table".to_owned(), base.clone()),
        ("namespace, no limit".to_owned(), plain),
        ("namespace, Evict".to_owned(), evict),
        ("namespace, Reject".to_owned(), reject),
    ];
    let value = sample_value(256);
    let rounds = 4;
    let mut samples: Vec<Vec<Duration>> = vec![Vec::new(); systems.len()];
    for round in 0..rounds {
        for offset in 0..systems.len() {
            let i = (round + offset) % systems.len();
            let mut rng = XorShift(11 + round as u64);
            for _ in 0..iters {
                // Half new keys, half overwrites: both paths of the upsert.
                let key = format!("k{}", rng.below_u64(iters as u64 * 2));
                let started = Instant::now();
                systems[i].1.set(&key, &value).await.unwrap();
                samples[i].push(started.elapsed());
            }
        }
    }
    println!(
        "\n## SET latency (median of {} calls, 256-byte values)\n",
        iters * rounds
    );
    println!("| where | median | × no-limit namespace |\n|---|---:|---:|");
    let medians: Vec<Duration> = samples.into_iter().map(median).collect();
    for ((name, _), m) in systems.iter().zip(&medians) {
        println!(
            "| {name} | {:.1} µs | {:.2} |",
            micros(*m),
            m.as_secs_f64() / medians[1].as_secs_f64()
        );
    }
    systems
}

async fn eviction_under_load(base: &Store, secs: f64) {
    const CAP: u64 = 100_000;
    let name = unique_table("nsb_load");
    let ns = base
        .create_namespace(
            &name,
            NamespaceConfig::new().policy(LimitPolicy::Evict).max_keys(CAP),
        )
        .await
        .unwrap();
    let value = sample_value(256);
    let fill: Vec<(String, &[u8])> = (0..CAP).map(|i| (format!("fill{i:06}"), &value[..])).collect();
    for chunk in fill.chunks(2_000) {
        ns.set_many(chunk).await.unwrap();
    }
    let cleanup = ns.spawn_cleanup(Duration::from_millis(200));
    let stop = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicI64::new(0));
    let sampler = {
        let (stop, peak, admin, table) = (stop.clone(), peak.clone(), base.pool().clone(), table_of(&ns));
        tokio::spawn(async move {
            let count = format!("SELECT count(*) FROM {table}");
            while !stop.load(Ordering::Relaxed) {
                let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(count.clone()))
                    .fetch_one(&admin)
                    .await
                    .unwrap();
                peak.fetch_max(n, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let reader = {
        let (stop, ns) = (stop.clone(), ns.clone());
        tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut rng = XorShift(5);
            while !stop.load(Ordering::Relaxed) {
                let key = format!("fill{:06}", rng.below_u64(CAP));
                let started = Instant::now();
                ns.get(&key).await.unwrap();
                latencies.push(started.elapsed());
            }
            latencies
        })
    };
    let started = Instant::now();
    let mut written = 0u64;
    let mut tick = tokio::time::interval(Duration::from_millis(5));
    while started.elapsed().as_secs_f64() < secs {
        tick.tick().await;
        let batch: Vec<(String, &[u8])> = (0..50)
            .map(|i| (format!("new{:08}", written + i), &value[..]))
            .collect();
        ns.set_many(&batch).await.unwrap();
        written += 50;
    }
    let elapsed = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    sampler.await.unwrap();
    let mut latencies = reader.await.unwrap();
    latencies.sort_unstable();
    let stats = cleanup.stats();
    cleanup.shutdown().await;
    let after = ns.count(pgkv::ScanOptions::new()).await.unwrap();
    println!("\n## Eviction under load (cap {CAP} keys, cleanup task every 200 ms)\n");
    println!("| writes/s | peak keys | overshoot | evicted | keys after | reader GETs | GET p50 | GET p99 |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    let peak = peak.load(Ordering::Relaxed);
    println!(
        "| {:.0} | {peak} | {:.1} % | {} | {after} | {} | {:.1} µs | {:.1} µs |",
        written as f64 / elapsed,
        (peak as f64 / CAP as f64 - 1.0) * 100.0,
        stats.rows_evicted,
        latencies.len(),
        micros(percentile(&latencies, 0.5)),
        micros(percentile(&latencies, 0.99)),
    );
    base.delete_namespace(&name).await.unwrap();
}

async fn delete_big(base: &Store, rows: u64) {
    let name = unique_table("nsb_big");
    let ns = base
        .create_namespace(&name, NamespaceConfig::new())
        .await
        .unwrap();
    let fill = format!(
        "INSERT INTO {} (key, value) SELECT 'k' || g, convert_to(repeat('v', 256), 'UTF8') FROM generate_series(1, {rows}) g",
        table_of(&ns)
    );
    let filled = Instant::now();
    sqlx::query(sqlx::AssertSqlSafe(fill))
        .execute(base.pool())
        .await
        .unwrap();
    let fill_time = filled.elapsed();
    let started = Instant::now();
    base.delete_namespace(&name).await.unwrap();
    let took = started.elapsed();
    println!("\n## delete_namespace\n");
    println!("| keys | delete_namespace | (filling it took) |\n|---:|---:|---:|");
    println!(
        "| {rows} | {:.1} ms | {:.1} s |",
        took.as_secs_f64() * 1e3,
        fill_time.as_secs_f64()
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let Some(url) = database_url("namespaces") else {
        return;
    };
    let base = Store::with_config(
        pgkv::Config::new(url)
            .table_name(&unique_table("nsb_base"))
            .max_connections(8),
    )
    .await
    .unwrap();
    println!("# Namespaces and their limits");
    let systems = set_latency(&base, env_or("PGKV_NS_BENCH_ITERS", 2_000)).await;
    for (_, ns) in systems.iter().skip(1) {
        base.delete_namespace(ns.namespace_name().unwrap()).await.unwrap();
    }
    eviction_under_load(&base, env_or("PGKV_NS_BENCH_SECS", 10.0)).await;
    delete_big(&base, env_or("PGKV_NS_BENCH_DELETE_ROWS", 1_000_000)).await;
}
