//! What scaling out costs and buys, measured side by side in one run.
//!
//! On a Citus cluster (`scripts/with-citus`, which sets `PGKV_CITUS`): a
//! distributed table (`Config::citus(true)`) against a plain table on the
//! same coordinator, for single-key SET and GET and 100-key batches.
//! On one server (`scripts/with-postgres`): a table hash-partitioned into 16
//! (`Config::partitions(16)`) against one table, each loaded with
//! `PGKV_BENCH_ROWS` rows (default 200,000): GET and SET medians, and the
//! rate at which `cleanup_expired` removes half of them once expired.
//!
//! ```text
//! scripts/with-citus cargo run --release --example scale_out
//! scripts/with-postgres cargo run --release --example scale_out
//! ```
//! Medians of sequential calls from one task (the latency of one call), in
//! microseconds; the two stores are measured in alternating rounds so a
//! background hiccup hits both.

use std::time::{Duration, Instant};

use pgkv::{Config, Store};

const ROUNDS: usize = 5;
const CALLS: usize = 400;
const BATCH: usize = 100;
const BATCHES: usize = 40;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    pgkv_suite::report(run().await)
}

fn median(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64() * 1e6
}

/// Single-key SET, GET, then 100-key set_many / get_many latencies.
async fn measure(store: &Store, round: usize, out: &mut [Vec<Duration>; 4]) -> pgkv::Result<()> {
    let value = pgkv_suite::sample_value(100);
    for i in 0..CALLS {
        let key = format!("bench:{round}:{i}");
        let t = Instant::now();
        store.set(&key, &value).await?;
        out[0].push(t.elapsed());
    }
    for i in 0..CALLS {
        let key = format!("bench:{round}:{i}");
        let t = Instant::now();
        let got = store.get(&key).await?;
        out[1].push(t.elapsed());
        assert!(got.is_some());
    }
    for b in 0..BATCHES {
        let items: Vec<(String, &[u8])> = (0..BATCH)
            .map(|i| (format!("batch:{round}:{b}:{i}"), &value[..]))
            .collect();
        let keys: Vec<&String> = items.iter().map(|(k, _)| k).collect();
        let t = Instant::now();
        store.set_many(&items).await?;
        out[2].push(t.elapsed());
        let t = Instant::now();
        let got = store.get_many(&keys).await?;
        out[3].push(t.elapsed());
        assert_eq!(got.iter().flatten().count(), BATCH);
    }
    Ok(())
}

async fn compare(names: [&str; 2], stores: [&Store; 2]) -> pgkv::Result<()> {
    let mut results: [[Vec<Duration>; 4]; 2] = Default::default();
    for round in 0..ROUNDS {
        for (store, out) in stores.iter().zip(results.iter_mut()) {
            measure(store, round, out).await?;
        }
    }
    println!(
        "{:<22} {:>12} {:>12} {:>8}",
        "median, µs", names[0], names[1], "ratio"
    );
    for (i, op) in ["SET", "GET", "set_many (100)", "get_many (100)"]
        .iter()
        .enumerate()
    {
        let a = median(results[0][i].clone());
        let b = median(results[1][i].clone());
        println!("{op:<22} {a:>12.0} {b:>12.0} {:>8.2}", b / a);
    }
    Ok(())
}

/// Loads `rows` keys, half of them already expired.
async fn load(store: &Store, rows: usize) -> pgkv::Result<()> {
    let value = pgkv_suite::sample_value(100);
    for start in (0..rows).step_by(5_000) {
        let end = (start + 5_000).min(rows);
        let items: Vec<(String, &[u8])> = (start..end)
            .map(|i| (format!("row:{i:08}"), &value[..]))
            .collect();
        store.set_many_ex(&items, Duration::from_secs(3600)).await?;
    }
    Ok(())
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let url = pgkv_suite::example_database_url("scale_out");
    let citus = std::env::var_os("PGKV_CITUS").is_some_and(|v| !v.is_empty());
    if citus {
        let local = Store::with_config(Config::new(&url).table_name("bench_local")).await?;
        let spread =
            Store::with_config(Config::new(&url).table_name("bench_distributed").citus(true)).await?;
        for s in [&local, &spread] {
            s.delete_prefix_atomic("").await?;
        }
        println!("Citus: a plain table on the coordinator vs a distributed table (32 shards, 2 workers)\n");
        compare(["plain", "distributed"], [&local, &spread]).await?;
        return Ok(());
    }
    let rows: usize = std::env::var("PGKV_BENCH_ROWS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200_000);
    let one = Store::with_config(Config::new(&url).table_name("bench_one")).await?;
    let parts = Store::with_config(Config::new(&url).table_name("bench_parts").partitions(16)).await?;
    for s in [&one, &parts] {
        s.delete_prefix_atomic("").await?;
        load(s, rows).await?;
    }
    println!("one server: one table vs 16 hash partitions, {rows} rows each\n");
    compare(["one table", "16 parts"], [&one, &parts]).await?;
    // Expire half of each table, then sweep it.
    let pool = one.pool().clone();
    let mut rates = Vec::new();
    for (store, table) in [(&one, "bench_one"), (&parts, "bench_parts")] {
        let sql = format!(
            "UPDATE {table} SET expires_at = statement_timestamp() - interval '1 second' WHERE key LIKE 'row:%' AND right(key, 1) IN ('0','2','4','6','8')"
        );
        pgkv::sqlx::query(pgkv::sqlx::AssertSqlSafe(sql))
            .execute(&pool)
            .await?;
        let t = Instant::now();
        let deleted = store.cleanup_expired().await?;
        let secs = t.elapsed().as_secs_f64();
        rates.push((deleted, secs, deleted as f64 / secs));
    }
    println!(
        "\ncleanup_expired: one table {} rows in {:.2} s ({:.0} rows/s); 16 parts {} rows in {:.2} s ({:.0} rows/s)",
        rates[0].0, rates[0].1, rates[0].2, rates[1].0, rates[1].1, rates[1].2
    );
    Ok(())
}
