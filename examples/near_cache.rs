//! A feature flag read through the near-cache: served from memory, changed
//! by plain SQL from another connection (as another program would), and
//! the next read seeing the change once the invalidation arrives.
//!
//! ```text
//! scripts/with-postgres cargo run --example near_cache
//! ```

use std::time::{Duration, Instant};

use pgkv::{Config, NearCache, Store};

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let url = pgkv_suite::example_database_url("near_cache");
    let store = Store::with_config(
        Config::new(&url)
            .table_name("near_cache_example")
            .near_cache(NearCache::new(["flags:"]).max_staleness(Duration::from_secs(30))),
    )
    .await?;
    // The listener subscribes in the background; until then reads go to the server.
    while !store.near_cache_stats().is_some_and(|s| s.listening) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Our own write's notification comes back too; wait for it to pass.
    let seen = store.near_cache_stats().unwrap_or_default().invalidations;
    store.set("flags:checkout_v2", "off").await?;
    while store.near_cache_stats().unwrap_or_default().invalidations == seen {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }

    let started = Instant::now();
    let first = store.get_string("flags:checkout_v2").await?;
    let from_server = started.elapsed();
    let started = Instant::now();
    let n = 100_000;
    for _ in 0..n {
        store.get_string("flags:checkout_v2").await?;
    }
    let per_hit = started.elapsed() / n;
    println!(
        "flags:checkout_v2 = {first:?}: first read {from_server:?} (server), then {per_hit:?} per read (near-cache)"
    );

    // Another program flips the flag with plain SQL.
    let mut other = <sqlx::PgConnection as sqlx::Connection>::connect(&url).await?;
    let before = store.near_cache_stats().unwrap_or_default().invalidations;
    let changed = Instant::now();
    sqlx::query("UPDATE near_cache_example SET value = 'on' WHERE key = 'flags:checkout_v2'")
        .execute(&mut other)
        .await?;
    while store.near_cache_stats().unwrap_or_default().invalidations == before {
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    let invalidated = changed.elapsed();
    let now = store.get_string("flags:checkout_v2").await?;
    println!(
        "after UPDATE by another connection: {now:?} (invalidation applied {invalidated:?} after the UPDATE was sent)"
    );
    assert_eq!(now.as_deref(), Some("on"));
    let stats = store.near_cache_stats().unwrap_or_default();
    println!(
        "near-cache: {} hits, {} misses, {} invalidations",
        stats.hits, stats.misses, stats.invalidations
    );
    sqlx::query("DROP TABLE near_cache_example")
        .execute(&mut other)
        .await?;
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    pgkv_suite::report(run().await)
}
