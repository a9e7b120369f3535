//! What scaling out costs and buys, measured side by side in one run.
//!
//! On a Citus cluster (`scripts/with-citus`, which sets `PGKV_CITUS`): a
//! distributed table (`Config::citus(true)`) against a plain table on the
//! same coordinator, for single-key SET, GET, `set_with` (SET with options,
//! which Citus plans as single-shard steps) and 100-key batches.
//! On one server (`scripts/with-postgres`): a table hash-partitioned into 16
//! (`Config::partitions(16)`) against one table, each loaded with
//! `PGKV_BENCH_ROWS` rows (default 200,000; half of them already expired),
//! written server-side by one `INSERT ... SELECT generate_series` each:
//! GET and SET medians, the rate at which `cleanup_expired` removes the
//! expired half, and how long `VACUUM` takes on each table after the load
//! and after the sweep (the work an autovacuum run does, unthrottled;
//! autovacuum is turned off on the bench tables so it cannot do it first).
//!
//! ```text
//! scripts/with-citus cargo run --release --example scale_out
//! PGKV_BENCH_ROWS=10000000 scripts/with-postgres cargo run --release --example scale_out
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

const OPS: [&str; 5] = ["SET", "GET", "set_many (100)", "get_many (100)", "set_with (EX)"];

/// Single-key SET, GET, then 100-key set_many / get_many latencies, then
/// SET with an expiry through `set_with`.
async fn measure(store: &Store, round: usize, out: &mut [Vec<Duration>; 5]) -> pgkv::Result<()> {
    let value = pgkv_suite::sample_value(100);
    for i in 0..CALLS {
        let key = format!("bench:{round}:{i}");
        let t = Instant::now();
        store.set(&key, &value).await?;
        out[0].push(t.elapsed());
    }
    let opts = pgkv::SetOptions::new().expire_in(Duration::from_secs(3600));
    for i in 0..CALLS {
        let key = format!("bench:{round}:{i}");
        let t = Instant::now();
        store.set_with(&key, &value, opts).await?;
        out[4].push(t.elapsed());
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
    let mut results: [[Vec<Duration>; 5]; 2] = Default::default();
    for round in 0..ROUNDS {
        for (store, out) in stores.iter().zip(results.iter_mut()) {
            measure(store, round, out).await?;
        }
    }
    println!(
        "{:<22} {:>12} {:>12} {:>8}",
        "median, µs", names[0], names[1], "ratio"
    );
    for (i, op) in OPS.iter().enumerate() {
        let a = median(results[0][i].clone());
        let b = median(results[1][i].clone());
        println!("{op:<22} {a:>12.0} {b:>12.0} {:>8.2}", b / a);
    }
    Ok(())
}

/// Loads `rows` keys `row:00000000`... with 100-byte values into `table`,
/// server-side, the even ones already expired; returns the seconds taken.
async fn load(pool: &pgkv::sqlx::PgPool, table: &str, rows: usize) -> Result<f64, pgkv::sqlx::Error> {
    let value = String::from_utf8(pgkv_suite::sample_value(100)).expect("letters");
    let sql = format!(
        "INSERT INTO {table} (key, value, expires_at) SELECT 'row:' || lpad(g::text, 8, '0'), \
         convert_to('{value}', 'UTF8'), CASE WHEN g % 2 = 0 THEN now() - interval '1 second' \
         ELSE now() + interval '1 hour' END FROM generate_series(0, {rows} - 1) g"
    );
    let t = Instant::now();
    pgkv::sqlx::raw_sql(pgkv::sqlx::AssertSqlSafe(sql))
        .execute(pool)
        .await?;
    Ok(t.elapsed().as_secs_f64())
}

/// `VACUUM` of each of `tables` in turn: the total and the longest, in
/// seconds.
async fn vacuum(pool: &pgkv::sqlx::PgPool, tables: &[String]) -> Result<(f64, f64), pgkv::sqlx::Error> {
    let (mut total, mut longest) = (0.0, 0.0_f64);
    for table in tables {
        let t = Instant::now();
        pgkv::sqlx::raw_sql(pgkv::sqlx::AssertSqlSafe(format!("VACUUM {table}")))
            .execute(pool)
            .await?;
        let secs = t.elapsed().as_secs_f64();
        total += secs;
        longest = longest.max(secs);
    }
    Ok((total, longest))
}

/// The relations that hold `table`'s rows: its partitions, or itself.
fn leaves(table: &str, partitions: Option<u32>) -> Vec<String> {
    match partitions {
        Some(n) => (0..n).map(|i| format!("{table}_p{i}")).collect(),
        None => vec![table.to_owned()],
    }
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
    const PARTS: u32 = 16;
    let one = Store::with_config(Config::new(&url).table_name("bench_one")).await?;
    let parts = Store::with_config(Config::new(&url).table_name("bench_parts").partitions(PARTS)).await?;
    let pool = one.pool().clone();
    let tables = [("bench_one", None), ("bench_parts", Some(PARTS))];
    let mut loaded = Vec::new();
    let mut after_load = Vec::new();
    for (table, partitions) in tables {
        for leaf in leaves(table, partitions) {
            let sql = format!("TRUNCATE {leaf}; ALTER TABLE {leaf} SET (autovacuum_enabled = false)");
            pgkv::sqlx::raw_sql(pgkv::sqlx::AssertSqlSafe(sql))
                .execute(&pool)
                .await?;
        }
        loaded.push(load(&pool, table, rows).await?);
        pgkv::sqlx::raw_sql(pgkv::sqlx::AssertSqlSafe(format!("ANALYZE {table}")))
            .execute(&pool)
            .await?;
        after_load.push(vacuum(&pool, &leaves(table, partitions)).await?);
    }
    println!(
        "one server: one table vs {PARTS} hash partitions, {rows} rows each (half expired), \
         loaded in {:.1} s and {:.1} s\n",
        loaded[0], loaded[1]
    );
    compare(["one table", "16 parts"], [&one, &parts]).await?;
    // Sweep the expired half of each table, then vacuum what it left.
    let mut rates = Vec::new();
    let mut after_sweep = Vec::new();
    for ((table, partitions), store) in tables.into_iter().zip([&one, &parts]) {
        let t = Instant::now();
        let deleted = store.cleanup_expired().await?;
        let secs = t.elapsed().as_secs_f64();
        rates.push((deleted, secs, deleted as f64 / secs));
        after_sweep.push(vacuum(&pool, &leaves(table, partitions)).await?);
    }
    println!(
        "\ncleanup_expired: one table {} rows in {:.2} s ({:.0} rows/s); 16 parts {} rows in {:.2} s ({:.0} rows/s)",
        rates[0].0, rates[0].1, rates[0].2, rates[1].0, rates[1].1, rates[1].2
    );
    for (when, v) in [("after the load", &after_load), ("after the sweep", &after_sweep)] {
        println!(
            "VACUUM {when}: one table {:.2} s; 16 parts {:.2} s in all, the longest partition {:.2} s",
            v[0].0, v[1].0, v[1].1
        );
    }
    Ok(())
}
