//! What the near-cache gives and costs, in one run:
//!
//! ```text
//! redis-server --port 6399 --save '' --appendonly no --daemonize yes   # optional
//! PGKV_REDIS_URL=redis://127.0.0.1:6399 scripts/with-postgres cargo bench --bench near_cache
//! ```
//!
//! 1. A hot GET: from the near-cache, from PostgreSQL (the same store's
//!    table, a key outside the near-cached prefixes) and, when
//!    `PGKV_REDIS_URL` is set, from Redis (one multiplexed connection);
//!    medians of interleaved rounds.
//! 2. From a write sent by another store (its round trip included) to the
//!    invalidation applied in the reading store: p50 and p99.
//! 3. Write throughput, 8 writer tasks for `PGKV_NEAR_BENCH_SECS` seconds
//!    (default 3) each: keys under a near-cached prefix (the trigger sends
//!    NOTIFY, whose commit takes a database-wide lock), keys outside it (the
//!    trigger only checks the prefix), and a table without the trigger.
//! 4. The hit ratio of a 95/5 read/write mix: 4 tasks on one store, 200,000
//!    operations on 1,000 near-cached keys, each a write with probability
//!    1/20 (the same sequence every run).

/// The shared bench support (`benches/support/`): the files this bench uses.
mod support {
    pub(crate) mod calls_per_second;
    pub(crate) mod database_url;
    pub(crate) mod durations;
}

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use pgkv::{Config, NearCache, Store};
use pgkv_suite::{sample_value, unique_table};

use crate::support::calls_per_second::calls_per_second;
use crate::support::database_url::database_url;
use crate::support::durations::{median, micros, percentile};

async fn wait_listening(s: &Store) {
    while !s.near_cache_stats().is_some_and(|st| st.listening) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn throughput(store: &Store, prefix: &str, secs: f64) -> f64 {
    let value = Arc::new(sample_value(256));
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    calls_per_second(8, secs, |t, done| {
        let (store, value, prefix) = (store.clone(), value.clone(), prefix.to_owned());
        async move {
            let mut i = 0u64;
            while Instant::now() < deadline {
                store
                    .set(format!("{prefix}{t}:{}", i % 1000), &*value)
                    .await
                    .unwrap();
                i += 1;
                done.fetch_add(1, Ordering::Relaxed);
            }
        }
    })
    .await
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let Some(url) = database_url("near_cache") else {
        return;
    };
    let secs: f64 = std::env::var("PGKV_NEAR_BENCH_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3.0);
    let table = unique_table("near_bench");
    let near_config = || {
        Config::new(&url)
            .table_name(&table)
            .max_connections(8)
            .near_cache(NearCache::new(["hot:"]).max_staleness(Duration::from_secs(60)))
    };
    let reader = Store::with_config(near_config()).await.unwrap();
    let writer = Store::with_config(near_config()).await.unwrap();
    let plain = Store::with_config(
        Config::new(&url)
            .table_name(&unique_table("near_bench_plain"))
            .max_connections(8),
    )
    .await
    .unwrap();
    wait_listening(&reader).await;
    wait_listening(&writer).await;
    let value = sample_value(256);
    reader.set("hot:flag", &value).await.unwrap();
    reader.set("cold:flag", &value).await.unwrap();
    // Let our own write's notification pass, then fill the cache.
    tokio::time::sleep(Duration::from_millis(50)).await;
    reader.get("hot:flag").await.unwrap();
    let mut redis = match std::env::var("PGKV_REDIS_URL") {
        Ok(url) if !url.is_empty() => {
            let client = redis::Client::open(url).unwrap();
            let mut conn = client.get_multiplexed_async_connection().await.unwrap();
            let _: () = redis::cmd("SET")
                .arg("hot:flag")
                .arg(&value)
                .query_async(&mut conn)
                .await
                .unwrap();
            Some(conn)
        }
        _ => None,
    };

    println!("# Near-cache, 256-byte values");
    let (rounds, per_round) = (5, 20_000);
    let mut near_samples = Vec::new();
    let mut pg_samples = Vec::new();
    let mut redis_samples = Vec::new();
    for _ in 0..rounds {
        for _ in 0..per_round {
            let started = Instant::now();
            let got = reader.get("hot:flag").await.unwrap();
            near_samples.push(started.elapsed());
            assert!(got.is_some());
        }
        for _ in 0..per_round / 10 {
            let started = Instant::now();
            reader.get("cold:flag").await.unwrap();
            pg_samples.push(started.elapsed());
        }
        if let Some(conn) = redis.as_mut() {
            for _ in 0..per_round / 10 {
                let started = Instant::now();
                let got: Option<Vec<u8>> = redis::cmd("GET").arg("hot:flag").query_async(conn).await.unwrap();
                redis_samples.push(started.elapsed());
                assert!(got.is_some());
            }
        }
    }
    let stats = reader.near_cache_stats().unwrap();
    let near = median(near_samples);
    let pg = median(pg_samples);
    println!("\n## Hot GET (median)\n\n| source | median | × near-cache |\n|---|---:|---:|");
    println!("| near-cache | {:.3} µs | 1 |", micros(near));
    println!(
        "| PostgreSQL (pgkv GET) | {:.1} µs | {:.0} |",
        micros(pg),
        pg.as_secs_f64() / near.as_secs_f64()
    );
    if !redis_samples.is_empty() {
        let r = median(redis_samples);
        println!(
            "| Redis GET | {:.1} µs | {:.0} |",
            micros(r),
            r.as_secs_f64() / near.as_secs_f64()
        );
    }
    println!(
        "\nnear-cache hits {} / misses {} during the run",
        stats.hits, stats.misses
    );

    // Invalidation latency: another store writes; the reader applies it.
    let mut delays = Vec::new();
    for i in 0..300 {
        let before = reader.near_cache_stats().unwrap().invalidations;
        // From just before the write is sent: its own round trip included.
        let committed = Instant::now();
        writer.set("hot:flag", format!("v{i}")).await.unwrap();
        while reader.near_cache_stats().unwrap().invalidations == before {
            tokio::task::yield_now().await;
        }
        delays.push(committed.elapsed());
    }
    delays.sort_unstable();
    println!(
        "\n## Write sent by another store to invalidation applied (300 writes, the write's own round trip included)\n\n| p50 | p99 | max |\n|---:|---:|---:|\n| {:.0} µs | {:.0} µs | {:.0} µs |",
        micros(percentile(&delays, 0.5)),
        micros(percentile(&delays, 0.99)),
        micros(percentile(&delays, 1.0))
    );

    println!(
        "\n## Write throughput, 8 tasks, {secs} s each\n\n| keys | writes/s | × no trigger |\n|---|---:|---:|"
    );
    let base = throughput(&plain, "cold:", secs).await;
    let cold = throughput(&writer, "cold:", secs).await;
    let hot = throughput(&writer, "hot:w", secs).await;
    println!("| table without the trigger | {base:.0} | 1.00 |");
    println!(
        "| outside the near-cached prefixes (prefix check only) | {cold:.0} | {:.2} |",
        cold / base
    );
    println!(
        "| under a near-cached prefix (NOTIFY at commit) | {hot:.0} | {:.2} |",
        hot / base
    );
    mixed_hit_ratio(&reader).await;
    for s in [&reader, &plain] {
        let drop_table = format!("DROP TABLE {}", pgkv_suite::table_of(s));
        sqlx::query(sqlx::AssertSqlSafe(drop_table))
            .execute(s.pool())
            .await
            .unwrap();
    }
}

/// Section 4: a 95/5 read/write mix from 4 tasks of one store; the hit
/// ratio it reaches. Every task draws its operations from its own seeded
/// generator, so each run replays the same sequence.
async fn mixed_hit_ratio(store: &Store) {
    const KEYS: u64 = 1_000;
    const OPS_PER_TASK: u64 = 50_000;
    let filled = store.near_cache_stats().unwrap().invalidations;
    for k in 0..KEYS {
        store.set(format!("hot:mix:{k}"), "v").await.unwrap();
    }
    // Let the fill's notifications pass, so they do not count against the mix.
    while store.near_cache_stats().unwrap().invalidations < filled + KEYS {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let before = store.near_cache_stats().unwrap();
    let started = Instant::now();
    let tasks: Vec<_> = (0..4u64)
        .map(|t| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut x = 0x9e37_79b9_7f4a_7c15_u64 ^ (t + 1);
                for _ in 0..OPS_PER_TASK {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let key = format!("hot:mix:{}", x % KEYS);
                    if (x >> 32).is_multiple_of(20) {
                        store.set(&key, "w").await.unwrap();
                    } else {
                        store.get(&key).await.unwrap();
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let elapsed = started.elapsed();
    let after = store.near_cache_stats().unwrap();
    let hits = after.hits - before.hits;
    let misses = after.misses - before.misses;
    println!(
        "\n## 95/5 read/write mix, 4 tasks, {} operations on {KEYS} near-cached keys\n\n\
         | hits | misses | hit ratio | operations/s |\n|---:|---:|---:|---:|\n\
         | {hits} | {misses} | {:.3} | {:.0} |",
        4 * OPS_PER_TASK,
        hits as f64 / (hits + misses).max(1) as f64,
        (4 * OPS_PER_TASK) as f64 / elapsed.as_secs_f64()
    );
}
