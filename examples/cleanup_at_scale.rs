//! The cleanup task at scale: 1,000,000 expired rows and 100,000 live rows
//! whose TTLs a concurrent writer keeps extending. Two cleanup tasks on two
//! stores (one table) must remove every expired row and no live one, while a
//! reader's `get` latency is measured, idle and during the sweep. Then the
//! same backlog is removed by the blog's single `DELETE ... WHERE expires_at
//! < now()` for comparison.
//!
//! ```text
//! scripts/with-postgres cargo run --release --example cleanup_at_scale [expired] [live]
//! ```
//! A benchmark, not a test: it reports, and exits non-zero only if a live row
//! was lost or an expired row survived.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use pgkv::{Config, ScanOptions, Store, TtlCleanupStrategy};

const HOUR: Duration = Duration::from_secs(3600);

#[tokio::main]
async fn main() -> std::process::ExitCode {
    pgkv_suite::report(run().await)
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let url = pgkv_suite::example_database_url("cleanup_at_scale");
    let mut args = std::env::args()
        .skip(1)
        .map(|a| a.parse::<i64>().expect("row counts are integers"));
    let expired = args.next().unwrap_or(1_000_000);
    let live = args.next().unwrap_or(100_000);
    let config = Config::new(url)
        .table_name("cleanup_scale")
        .ttl_cleanup_strategy(TtlCleanupStrategy::Manual)
        .max_connections(4);
    let a = Store::with_config(config.clone()).await?;
    let b = Store::with_config(config).await?;
    a.delete_prefix("").await?;

    println!("loading {expired} expired and {live} live rows ...");
    load(&a, expired, live).await?;
    analyze(&a).await?;

    let idle = read_latencies(&a, live, Duration::from_secs(5), None).await?;
    println!("reader, idle:           {}", idle.describe());

    // The writer keeps pushing the live rows' expiry forward throughout.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = tokio::spawn(extend_forever(a.clone(), live, stop.clone()));

    let started = Instant::now();
    let (ha, hb) = (
        a.spawn_cleanup(Duration::from_millis(50)),
        b.spawn_cleanup(Duration::from_millis(50)),
    );
    let swept = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (a, swept) = (a.clone(), swept.clone());
        tokio::spawn(async move {
            while raw_count(&a).await.unwrap_or(i64::MAX) > live {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            swept.store(true, Ordering::Relaxed);
        })
    };
    let busy = read_latencies(&a, live, Duration::from_secs(600), Some(swept.clone())).await?;
    watcher.await.expect("watcher");
    let sweep_time = started.elapsed();
    let (sa, sb) = (ha.stats(), hb.stats());
    ha.shutdown().await;
    hb.shutdown().await;
    stop.store(true, Ordering::Relaxed);
    let extensions = writer.await.expect("writer")?;

    let live_left = a.count(ScanOptions::new().prefix("live:")).await?;
    let rows_left = raw_count(&a).await?;
    println!("reader, during cleanup: {}", busy.describe());
    println!(
        "p99 ratio (during / idle): {:.2}",
        busy.p99().as_secs_f64() / idle.p99().as_secs_f64()
    );
    println!(
        "cleanup tasks: {} rows in {:.2} s = {:.0} rows/s (task A {} rows in {} passes, task B {} rows in {} passes); writer extended {} TTLs",
        sa.rows_deleted + sb.rows_deleted,
        sweep_time.as_secs_f64(),
        (sa.rows_deleted + sb.rows_deleted) as f64 / sweep_time.as_secs_f64(),
        sa.rows_deleted,
        sa.passes,
        sb.rows_deleted,
        sb.passes,
        extensions
    );
    println!("live rows left: {live_left} of {live}; rows left in table: {rows_left}");

    // The same backlog, deleted by one statement.
    a.delete_prefix("").await?;
    load(&a, expired, 0).await?;
    analyze(&a).await?;
    let started = Instant::now();
    let sql = format!("DELETE FROM {} WHERE expires_at < now()", table(&a));
    let deleted = sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(a.pool())
        .await?
        .rows_affected();
    let single = started.elapsed();
    println!(
        "single DELETE statement: {deleted} rows in {:.2} s = {:.0} rows/s",
        single.as_secs_f64(),
        deleted as f64 / single.as_secs_f64()
    );

    if live_left != live as u64 || rows_left != live {
        eprintln!("FAILED: a live row was lost or an expired row survived");
        std::process::exit(1);
    }
    Ok(())
}

fn table(store: &Store) -> String {
    let _ = store;
    "\"public\".\"cleanup_scale\"".to_owned()
}

async fn load(store: &Store, expired: i64, live: i64) -> Result<(), sqlx::Error> {
    let t = table(store);
    let sql = format!(
        "INSERT INTO {t} (key, value, expires_at) SELECT 'exp:' || g, convert_to(repeat('x', 100), 'UTF8'), \
         now() - interval '1 minute' FROM generate_series(1, $1) g"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(expired)
        .execute(store.pool())
        .await?;
    let sql = format!(
        "INSERT INTO {t} (key, value, expires_at) SELECT 'live:' || g, convert_to(repeat('x', 100), 'UTF8'), \
         now() + interval '2 minutes' FROM generate_series(1, $1) g"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(live)
        .execute(store.pool())
        .await?;
    Ok(())
}

async fn analyze(store: &Store) -> Result<(), sqlx::Error> {
    sqlx::query(sqlx::AssertSqlSafe(format!("VACUUM ANALYZE {}", table(store))))
        .execute(store.pool())
        .await?;
    Ok(())
}

async fn raw_count(store: &Store) -> Result<i64, sqlx::Error> {
    let sql = format!("SELECT count(*) FROM {}", table(store));
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .fetch_one(store.pool())
        .await
}

async fn extend_forever(store: Store, live: i64, stop: Arc<AtomicBool>) -> pgkv::Result<u64> {
    let mut n = 0u64;
    let mut i = 0i64;
    while !stop.load(Ordering::Relaxed) {
        i = i % live + 1;
        assert!(
            store.expire(format!("live:{i}"), HOUR).await?,
            "live:{i} vanished"
        );
        n += 1;
    }
    Ok(n)
}

struct Latencies(Vec<Duration>);

impl Latencies {
    fn pct(&self, p: f64) -> Duration {
        let mut v = self.0.clone();
        v.sort();
        v[((v.len() - 1) as f64 * p) as usize]
    }
    fn p99(&self) -> Duration {
        self.pct(0.99)
    }
    fn describe(&self) -> String {
        format!(
            "{} gets, median {:?}, p99 {:?}, max {:?}",
            self.0.len(),
            self.pct(0.5),
            self.p99(),
            self.pct(1.0)
        )
    }
}

/// `get`s of random live keys for `for_at_most`, or until `until` is set.
async fn read_latencies(
    store: &Store,
    live: i64,
    for_at_most: Duration,
    until: Option<Arc<AtomicBool>>,
) -> pgkv::Result<Latencies> {
    let deadline = Instant::now() + for_at_most;
    let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
    let mut samples = Vec::new();
    while Instant::now() < deadline && !until.as_ref().is_some_and(|u| u.load(Ordering::Relaxed)) {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let key = format!("live:{}", (seed % live as u64) + 1);
        let t = Instant::now();
        let v = store.get(&key).await?;
        samples.push(t.elapsed());
        assert!(v.is_some(), "{key} read as absent");
    }
    Ok(Latencies(samples))
}
