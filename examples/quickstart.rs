//! A tour of pgkv's raw-byte store: strings and bytes, TTLs, counters, a
//! lock, compare-and-swap, batches, prefix scans and a transaction.
//!
//! ```text
//! scripts/with-postgres cargo run --example quickstart
//! ```
//! (or `DATABASE_URL=postgres://... cargo run --example quickstart`)

use std::time::Duration;

use pgkv::{CasResult, Config, ScanOptions, Store};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    pgkv_suite::report(run().await)
}

async fn run() -> pgkv::Result<()> {
    let url = pgkv_suite::example_database_url("quickstart");
    // One Store per process; clone it into tasks. The table (UNLOGGED by
    // default) is created if missing.
    let store = Store::with_config(Config::new(url).table_name("quickstart")).await?;
    store.delete_prefix("").await?; // start from an empty table on every run

    // Plain values: anything that is AsRef<str> or AsRef<[u8]>.
    store.set("greeting", "hello, postgres").await?;
    println!("greeting          = {:?}", store.get_string("greeting").await?);
    store.set("blob", [0u8, 159, 146, 150]).await?;
    println!("blob              = {:?}", store.get("blob").await?);

    // TTLs run on the server's clock.
    store
        .set_ex("otp:alice", "493817", Duration::from_secs(300))
        .await?;
    println!("otp:alice ttl     = {:?}", store.ttl("otp:alice").await?);

    // Counters, as in Redis INCRBY: stored as decimal text.
    for _ in 0..3 {
        store.increment("page:/home:views", 1).await?;
    }
    println!(
        "views             = {:?}",
        store.get_string("page:/home:views").await?
    );

    // A lease: only one worker gets it until it expires.
    let first = store
        .set_nx_ex("lock:report", "worker-1", Duration::from_secs(30))
        .await?;
    let second = store
        .set_nx_ex("lock:report", "worker-2", Duration::from_secs(30))
        .await?;
    println!("lock taken        = worker-1: {first}, worker-2: {second}");

    // Optimistic concurrency with compare-and-swap.
    store.set("config:version", "1").await?;
    match store.compare_and_swap("config:version", Some(b"1"), "2").await? {
        CasResult::Success => println!("config:version    = bumped to 2"),
        CasResult::Mismatch { current } => println!("config:version    = lost the race to {current:?}"),
        CasResult::NotFound => println!("config:version    = gone"),
    }

    // Batches are one statement each, all or nothing.
    let users: Vec<(String, String)> = (1..=5)
        .map(|i| (format!("user:{i:03}"), format!("name {i}")))
        .collect();
    store.set_many(&users).await?;
    println!(
        "get_many          = {:?}",
        store.get_many(&["user:001", "user:404"]).await?
    );

    // Prefix scans walk the primary key; page with `after`.
    let page = store.keys(ScanOptions::new().prefix("user:").limit(2)).await?;
    let next = store
        .keys(
            ScanOptions::new()
                .prefix("user:")
                .limit(2)
                .after(page.last().unwrap()),
        )
        .await?;
    println!("pages             = {page:?} then {next:?}");
    println!(
        "count user:*      = {}",
        store.count(ScanOptions::new().prefix("user:")).await?
    );

    // A transaction: both writes or neither.
    store
        .transaction(async |tx| {
            let name = tx.get_and_delete("user:001").await?;
            tx.set("archived:user:001", name.unwrap_or_default()).await?;
            Ok(())
        })
        .await?;
    println!(
        "archived          = {:?}",
        store.get_string("archived:user:001").await?
    );

    // Expired rows are invisible at once; this deletes them from disk.
    println!("expired rows gone = {}", store.cleanup_expired().await?);
    Ok(())
}
