//! Criterion benchmarks of every pgkv operation group, one client, against a
//! real PostgreSQL.
//!
//! ```text
//! scripts/with-postgres cargo bench --bench ops
//! scripts/with-postgres cargo bench --bench ops -- get      # only the get group
//! ```
//!
//! Every benchmark runs on a current-thread tokio runtime (one `block_on`
//! per criterion sample), which is the latency a task on any tokio runtime
//! sees; calling `block_on` from a multi-thread runtime's main thread adds a
//! cross-thread wake-up per call and is not what these numbers show.
//!
//! Each run uses a fresh UNLOGGED table of its own (default `Config`, so the
//! default `OnRead` TTL strategy), prefilled with 10,000 keys of 256 bytes,
//! and drops it at the end. The comparison against the raw SQL floor, the
//! pgkv 0.1 crate and Redis is a separate runner: `bench/compare`.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use pgkv::{Config, KvRecord, ScanOptions, Store};
use pgkv_suite::{XorShift, sample_value as value};
use serde::{Deserialize, Serialize};
use tokio::runtime::Runtime;

/// Keys present in the table for the whole run (`key:00000` … `key:09999`).
const PREFILL: usize = 10_000;
/// Value size of the prefilled rows and of the fixed-size benchmarks.
const VALUE: usize = 256;

fn database_url() -> String {
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => {
            eprintln!(
                "DATABASE_URL is not set. These benchmarks need a PostgreSQL server; run them \
                 through the wrapper that starts a throwaway one:\n\n    \
                 scripts/with-postgres cargo bench --bench ops\n"
            );
            std::process::exit(2);
        }
    }
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn key(i: usize) -> String {
    format!("key:{i:05}")
}

/// Distinct keys for write benchmarks across the whole run.
fn fresh_key(tag: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("{tag}:{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Writes `keys` with `VALUE`-byte values in batches of 1,000 (untimed setup).
async fn fill(store: &Store, keys: &[String]) {
    let v = value(VALUE);
    for chunk in keys.chunks(1_000) {
        let items: Vec<(&str, &[u8])> = chunk.iter().map(|k| (k.as_str(), v.as_slice())).collect();
        store.set_many(&items).await.expect("prefill");
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Profile {
    id: u64,
    name: String,
    email: String,
    tags: Vec<String>,
    score: f64,
}

fn profile(id: u64) -> Profile {
    Profile {
        id,
        name: format!("user number {id}"),
        email: format!("user{id}@example.com"),
        tags: vec!["alpha".into(), "beta".into(), "gamma".into()],
        score: id as f64 * 1.5,
    }
}

/// The blog-style record, derived.
#[derive(Debug, Clone, Serialize, Deserialize, KvRecord)]
#[kv(prefix = "game-", ttl = 3600)]
struct Game {
    #[kv(key)]
    id: u64,
    name: String,
    genre: String,
}

fn bench_single_key(c: &mut Criterion, rt: &Runtime, store: &Store) {
    let mut g = c.benchmark_group("set");
    for size in [64usize, 256, 4096] {
        let v = value(size);
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_with_input(BenchmarkId::from_parameter(format!("{size}B")), &v, |b, v| {
            let mut cycle = XorShift(0x9e37_79b9_7f4a_7c15);
            b.to_async(rt).iter(|| {
                let k = key(cycle.below(PREFILL));
                async move { store.set(k, v).await.expect("set") }
            });
        });
    }
    g.finish();

    let mut g = c.benchmark_group("get");
    g.bench_function("hit", |b| {
        let mut cycle = XorShift(0x2545_f491_4f6c_dd1d);
        b.to_async(rt).iter(|| {
            let k = key(cycle.below(PREFILL));
            async move { black_box(store.get(k).await.expect("get").expect("hit")) }
        });
    });
    g.bench_function("miss", |b| {
        let mut cycle = XorShift(0x2545_f491_4f6c_dd1d);
        b.to_async(rt).iter(|| {
            let k = format!("absent:{}", cycle.below(PREFILL));
            async move { black_box(store.get(k).await.expect("get")) }
        });
    });
    g.finish();

    let mut g = c.benchmark_group("delete");
    g.bench_function("hit", |b| {
        b.to_async(rt).iter_custom(|iters| async move {
            // Every timed call deletes a row that exists.
            let keys: Vec<String> = (0..iters).map(|_| fresh_key("del")).collect();
            fill(store, &keys).await;
            let start = Instant::now();
            for k in &keys {
                black_box(store.delete(k).await.expect("delete"));
            }
            start.elapsed()
        });
    });
    g.finish();

    let mut g = c.benchmark_group("exists");
    g.bench_function("hit", |b| {
        let mut cycle = XorShift(0x1234_5678_9abc_def1);
        b.to_async(rt).iter(|| {
            let k = key(cycle.below(PREFILL));
            async move { black_box(store.exists(k).await.expect("exists")) }
        });
    });
    g.finish();

    let mut g = c.benchmark_group("increment");
    g.bench_function("by_1", |b| {
        let mut cycle = XorShift(0x0bad_cafe_dead_beef);
        b.to_async(rt).iter(|| {
            // 100 counters: the same rows are updated over and over.
            let k = format!("counter:{}", cycle.below(100));
            async move { black_box(store.increment(k, 1).await.expect("increment")) }
        });
    });
    g.finish();

    let mut g = c.benchmark_group("set_ex");
    let v = value(VALUE);
    g.bench_function("256B_1h", |b| {
        let mut cycle = XorShift(0x5555_aaaa_3333_cccc);
        b.to_async(rt).iter(|| {
            let k = format!("ttl:{}", cycle.below(PREFILL));
            let v = &v;
            async move {
                store
                    .set_ex(k, v, Duration::from_secs(3600))
                    .await
                    .expect("set_ex")
            }
        });
    });
    g.finish();
}

fn bench_batches(c: &mut Criterion, rt: &Runtime, store: &Store) {
    let v = value(VALUE);
    for (name, sizes) in [
        ("set_many", [10usize, 100, 1000]),
        ("get_many", [10, 100, 1000]),
        ("delete_many", [10, 100, 1000]),
    ] {
        let mut g = c.benchmark_group(name);
        g.sampling_mode(SamplingMode::Flat);
        for n in sizes {
            g.throughput(Throughput::Elements(n as u64));
            g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| match name {
                "set_many" => {
                    let mut cycle = XorShift(0x0123_4567_89ab_cdef);
                    b.to_async(rt).iter(|| {
                        let start = cycle.below(PREFILL - n);
                        let keys: Vec<String> = (start..start + n).map(key).collect();
                        let v = &v;
                        async move {
                            let items: Vec<(&str, &[u8])> =
                                keys.iter().map(|k| (k.as_str(), v.as_slice())).collect();
                            store.set_many(&items).await.expect("set_many")
                        }
                    });
                }
                "get_many" => {
                    let mut cycle = XorShift(0x0fed_cba9_8765_4321);
                    b.to_async(rt).iter(|| {
                        let start = cycle.below(PREFILL - n);
                        let keys: Vec<String> = (start..start + n).map(key).collect();
                        async move { black_box(store.get_many(&keys).await.expect("get_many")) }
                    });
                }
                _ => {
                    b.to_async(rt).iter_custom(|iters| async move {
                        let batches: Vec<Vec<String>> = (0..iters)
                            .map(|_| (0..n).map(|_| fresh_key("delmany")).collect())
                            .collect();
                        fill(store, &batches.concat()).await;
                        let start = Instant::now();
                        for keys in &batches {
                            black_box(store.delete_many(keys).await.expect("delete_many"));
                        }
                        start.elapsed()
                    });
                }
            });
        }
        g.finish();
    }
}

fn bench_scan(c: &mut Criterion, rt: &Runtime, store: &Store) {
    let mut g = c.benchmark_group("scan");
    g.throughput(Throughput::Elements(100));
    g.bench_function("prefix_page_100_after", |b| {
        let mut cycle = XorShift(0x7777_1111_2222_3333);
        b.to_async(rt).iter(|| {
            // A page of 100 inside the 10k-row prefix, keyset-paginated.
            let after = key(cycle.below(PREFILL - 200));
            async move {
                let opts = ScanOptions::new().prefix("key:").after(&after).limit(100);
                let page = store.scan(opts).await.expect("scan");
                assert_eq!(page.len(), 100);
                black_box(page)
            }
        });
    });
    g.bench_function("keys_page_100_after", |b| {
        let mut cycle = XorShift(0x4444_9999_8888_6666);
        b.to_async(rt).iter(|| {
            let after = key(cycle.below(PREFILL - 200));
            async move {
                let opts = ScanOptions::new().prefix("key:").after(&after).limit(100);
                black_box(store.keys(opts).await.expect("keys"))
            }
        });
    });
    g.finish();
}

fn bench_typed(c: &mut Criterion, rt: &Runtime, store: &Store) {
    let typed = store.typed::<Profile>();
    rt.block_on(async {
        for i in 0..1_000u64 {
            typed
                .set(format!("profile:{i}"), &profile(i))
                .await
                .expect("typed set");
        }
        for i in 0..1_000u64 {
            let g = Game {
                id: i,
                name: format!("game {i}"),
                genre: "puzzle".into(),
            };
            g.set_ex(store, &i.to_string()).await.expect("record set_ex");
        }
    });

    let mut g = c.benchmark_group("typed");
    g.bench_function("set", |b| {
        let mut cycle = XorShift(0x1111_2222_3333_4444);
        b.to_async(rt).iter(|| {
            let i = cycle.below(1_000) as u64;
            let p = profile(i);
            let typed = &typed;
            async move { typed.set(format!("profile:{i}"), &p).await.expect("typed set") }
        });
    });
    g.bench_function("get", |b| {
        let mut cycle = XorShift(0x5555_6666_7777_8888);
        b.to_async(rt).iter(|| {
            let k = format!("profile:{}", cycle.below(1_000));
            let typed = &typed;
            async move { black_box(typed.get(k).await.expect("typed get").expect("hit")) }
        });
    });
    g.finish();

    let mut g = c.benchmark_group("record");
    g.bench_function("set_ex", |b| {
        let mut cycle = XorShift(0x9999_aaaa_bbbb_cccc);
        b.to_async(rt).iter(|| {
            let i = cycle.below(1_000) as u64;
            let game = Game {
                id: i,
                name: format!("game {i}"),
                genre: "puzzle".into(),
            };
            async move { game.set_ex(store, &i.to_string()).await.expect("record set_ex") }
        });
    });
    g.bench_function("get", |b| {
        let mut cycle = XorShift(0xdddd_eeee_ffff_1111);
        b.to_async(rt).iter(|| {
            let id = cycle.below(1_000).to_string();
            async move { black_box(Game::get(store, &id).await.expect("record get").expect("hit")) }
        });
    });
    g.finish();
}

fn bench_mixed(c: &mut Criterion, rt: &Runtime, store: &Store) {
    let v = value(VALUE);
    let mut g = c.benchmark_group("mixed");
    g.bench_function("80get_20set", |b| {
        let mut cycle = XorShift(0x3141_5926_5358_9793);
        b.to_async(rt).iter(|| {
            let k = key(cycle.below(PREFILL));
            let write = cycle.below(10) < 2;
            let v = &v;
            async move {
                if write {
                    store.set(k, v).await.expect("set");
                } else {
                    black_box(store.get(k).await.expect("get"));
                }
            }
        });
    });
    g.finish();
}

fn main() {
    let url = database_url();
    let rt = runtime();
    let table = format!("bench_ops_{}", std::process::id());
    let store = rt
        .block_on(Store::with_config(Config::new(url).table_name(&table)))
        .expect("connect to DATABASE_URL");
    rt.block_on(async {
        let keys: Vec<String> = (0..PREFILL).map(key).collect();
        fill(&store, &keys).await;
        sqlx::query(sqlx::AssertSqlSafe(format!("ANALYZE \"{table}\"")))
            .execute(store.pool())
            .await
            .expect("analyze");
    });

    // Short defaults so the whole run stays within a few minutes on 2 cores;
    // command-line options (`-- --measurement-time 10`) still override them.
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30)
        .configure_from_args();
    bench_single_key(&mut c, &rt, &store);
    bench_batches(&mut c, &rt, &store);
    bench_scan(&mut c, &rt, &store);
    bench_typed(&mut c, &rt, &store);
    bench_mixed(&mut c, &rt, &store);
    c.final_summary();

    rt.block_on(async {
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE IF EXISTS \"{table}\"")))
            .execute(store.pool())
            .await
            .expect("drop the benchmark table");
    });
}
