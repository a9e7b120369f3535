//! Two tenants in one database, each in a namespace of its own: `free`
//! may hold 5 keys and refuses writes beyond (`LimitPolicy::Reject`);
//! `cache` keeps its newest 5 keys and evicts the oldest (`LimitPolicy::Evict`).
//! Both get the same ten writes; the example prints what each kept.
//!
//! ```text
//! scripts/with-postgres cargo run --example namespaces
//! ```

use pgkv::{Error, LimitPolicy, NamespaceConfig, ScanOptions, Store};

async fn run() -> pgkv::Result<()> {
    let store = Store::connect(&pgkv_suite::example_database_url("namespaces")).await?;
    // Start from a clean slate when run twice against the same database.
    for name in ["free", "cache"] {
        match store.delete_namespace(name).await {
            Ok(()) | Err(Error::NamespaceMissing { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    let free = store
        .create_namespace(
            "free",
            NamespaceConfig::new().policy(LimitPolicy::Reject).max_keys(5),
        )
        .await?;
    let cache = store
        .create_namespace(
            "cache",
            NamespaceConfig::new().policy(LimitPolicy::Evict).max_keys(5),
        )
        .await?;

    for i in 1..=10 {
        let key = format!("item:{i:02}");
        match free.set(&key, format!("free {i}")).await {
            Ok(()) => println!("free : wrote   {key}"),
            Err(e @ Error::LimitExceeded { .. }) => println!("free : refused {key}: {e}"),
            Err(e) => return Err(e),
        }
        cache.set(&key, format!("cache {i}")).await?;
        println!("cache: wrote   {key}");
    }
    // The cleanup task evicts on its own; one pass now, for the example.
    let evicted = cache.evict_now().await?;

    let free_keys = free.keys(ScanOptions::new()).await?;
    let cache_keys = cache.keys(ScanOptions::new()).await?;
    println!(
        "\nfree  kept {} keys (the first five; the rest were refused): {free_keys:?}",
        free_keys.len()
    );
    println!(
        "cache kept {} keys (the newest five; {evicted} evicted): {cache_keys:?}",
        cache_keys.len()
    );
    // The namespaces are isolated from each other and from the store itself.
    println!(
        "the store's own table holds {} of these keys",
        store.count(ScanOptions::new().prefix("item:")).await?
    );
    for info in store.namespaces().await? {
        if ["free", "cache"].contains(&info.name.as_str()) {
            println!("registry: {} {:?}", info.name, info.config);
        }
    }
    assert_eq!(
        free_keys,
        (1..=5).map(|i| format!("item:{i:02}")).collect::<Vec<_>>()
    );
    assert_eq!(
        cache_keys,
        (6..=10).map(|i| format!("item:{i:02}")).collect::<Vec<_>>()
    );
    store.delete_namespace("free").await?;
    store.delete_namespace("cache").await?;
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    pgkv_suite::report(run().await)
}
