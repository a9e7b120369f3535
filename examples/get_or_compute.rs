//! A cached expensive query without a stampede: 1,000 callers spread over
//! four stores (as four application processes would have) ask for the same
//! cold key at once; the query runs once. Then the cached value goes stale
//! and is served as it is while one caller refreshes it.
//!
//! ```text
//! scripts/with-postgres cargo run --example get_or_compute
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use pgkv::{ComputeOptions, Config, Store};
use pgkv_suite::{example_database_url, report};

/// The expensive query: a sum over a million generated rows.
async fn expensive_query(pool: &sqlx::PgPool) -> Result<Vec<u8>, sqlx::Error> {
    let total: i64 = sqlx::query_scalar("SELECT sum(g)::bigint FROM generate_series(1, 1000000) g")
        .fetch_one(pool)
        .await?;
    Ok(total.to_string().into_bytes())
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let url = example_database_url("get_or_compute");
    let mut stores = Vec::new();
    for _ in 0..4 {
        stores.push(Store::with_config(Config::new(url.as_str()).table_name("example_compute")).await?);
    }
    let runs = Arc::new(AtomicUsize::new(0));
    let opts = ComputeOptions::new(Duration::from_secs(60)).stale_while_revalidate(Duration::from_secs(60));

    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..1000 {
        let (store, runs) = (stores[i % 4].clone(), runs.clone());
        tasks.push(tokio::spawn(async move {
            let pool = store.pool().clone();
            store
                .get_or_compute("report:sum", opts, || async move {
                    runs.fetch_add(1, Ordering::SeqCst);
                    expensive_query(&pool).await
                })
                .await
        }));
    }
    let mut values = std::collections::BTreeSet::new();
    for t in tasks {
        values.insert(t.await??);
    }
    let values: Vec<String> = values
        .into_iter()
        .map(|v| String::from_utf8_lossy(&v).into_owned())
        .collect();
    println!(
        "1,000 callers in 4 stores on a cold key: the query ran {} time(s), everyone got {values:?}, in {:?}",
        runs.load(Ordering::SeqCst),
        started.elapsed()
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1);

    // Into the grace period: 30 s left of the 60 s grace.
    stores[0].expire("report:sum", Duration::from_secs(30)).await?;
    let mut tasks = Vec::new();
    for i in 0..100 {
        let (store, runs) = (stores[i % 4].clone(), runs.clone());
        tasks.push(tokio::spawn(async move {
            store
                .get_or_compute("report:sum", opts, || async move {
                    runs.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, std::io::Error>(b"refreshed".to_vec())
                })
                .await
        }));
    }
    let (mut stale, mut fresh) = (0, 0);
    for t in tasks {
        if t.await?? == b"refreshed" {
            fresh += 1;
        } else {
            stale += 1;
        }
    }
    println!(
        "stale value, 100 callers: {} refresh run(s); {stale} served the stale value, {fresh} the refreshed one",
        runs.load(Ordering::SeqCst) - 1
    );
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    sqlx::query("DROP TABLE example_compute")
        .execute(stores[0].pool())
        .await?;
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    report(run().await)
}
