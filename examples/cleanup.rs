//! The background TTL cleanup task, blog style: `tokio::spawn` it once at
//! startup and forget it; or keep a handle to stop it and read its stats.
//!
//! ```text
//! scripts/with-postgres cargo run --example cleanup
//! ```

use std::time::Duration;

use pgkv::{Config, ScanOptions, Store, TtlCleanupStrategy};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    pgkv_suite::report(run().await)
}

async fn run() -> pgkv::Result<()> {
    let url = pgkv_suite::example_database_url("cleanup");
    // Manual: reads never delete, so expired rows pile up until a sweep.
    let store = Store::with_config(
        Config::new(url)
            .table_name("cleanup_example")
            .ttl_cleanup_strategy(TtlCleanupStrategy::Manual)
            .cleanup_batch_size(1_000),
    )
    .await?;
    store.delete_prefix("").await?;

    // The blog pattern: one line at startup. The future never completes.
    tokio::spawn(store.cleanup_task(Duration::from_secs(60)));

    // Or keep a handle: stop it cleanly and read what it did.
    let handle = store.spawn_cleanup(Duration::from_millis(200));

    let items: Vec<(String, String)> = (0..5_000)
        .map(|i| (format!("cache:{i}"), "x".repeat(64)))
        .collect();
    store.set_many_ex(&items, Duration::from_millis(100)).await?;
    store.set("config:motd", "hello").await?;
    println!("written: 5000 entries with a 100 ms TTL, 1 without");

    tokio::time::sleep(Duration::from_millis(150)).await;
    println!(
        "live keys after 150 ms: {}",
        store.count(ScanOptions::new()).await?
    );

    tokio::time::sleep(Duration::from_millis(600)).await;
    let stats = handle.stats();
    println!(
        "cleanup task: {} passes, {} rows deleted; last pass: {:?}",
        stats.passes, stats.rows_deleted, stats.last_pass
    );
    handle.shutdown().await;
    println!(
        "stopped; nothing left to sweep: {} rows",
        store.cleanup_expired().await?
    );
    Ok(())
}
