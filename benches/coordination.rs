//! The coordination primitives against the plain commands they replace, in
//! one run, side by side (issue #15's measurements):
//!
//! - a lock round, `try_lock` + `unlock`, against `set_nx_ex` + `delete`;
//! - a rate-limit check, `rate_limit` (fixed window) and `rate_limit_gcra`,
//!   against one `increment`;
//! - a stampede: 1,000 callers over 4 stores (as 4 processes would have) on
//!   one cold key with `get_or_set_with`: loader runs, wall time, and the
//!   database statements sent (counted through pgkv's `metrics` counters).
//!
//! ```text
//! scripts/with-postgres cargo bench --bench coordination
//! ```
//!
//! Latencies are one client on a current-thread runtime, calls awaited one
//! after another; the compared operations alternate call by call, so noise
//! hits both alike. `PGKV_COORD_ITERS` sets the timed rounds (default 2000).

/// The shared bench support (`benches/support/`): the files this bench uses.
mod support {
    pub(crate) mod durations;
}

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use pgkv::{Config, Quota, Store};

use crate::support::durations::{median, micros};

const HOUR: Duration = Duration::from_secs(3600);

fn database_url() -> Option<String> {
    std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty())
}

fn us(d: Duration) -> String {
    format!("{:.1} µs", micros(d))
}

/// Times `a` and `b` alternately, `iters` times each (after a warm-up).
async fn side_by_side<A, FA, B, FB>(iters: usize, mut a: A, mut b: B) -> (Duration, Duration)
where
    A: FnMut(usize) -> FA,
    FA: Future<Output = ()>,
    B: FnMut(usize) -> FB,
    FB: Future<Output = ()>,
{
    for i in 0..iters / 10 {
        a(i).await;
        b(i).await;
    }
    let (mut ta, mut tb) = (Vec::with_capacity(iters), Vec::with_capacity(iters));
    for i in 0..iters {
        let start = Instant::now();
        a(i).await;
        ta.push(start.elapsed());
        let start = Instant::now();
        b(i).await;
        tb.push(start.elapsed());
    }
    (median(ta), median(tb))
}

/// Statements pgkv sent since the last snapshot.
fn statements(snapshotter: &Snapshotter) -> u64 {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter(|(key, ..)| key.key().name() == "pgkv_commands_total")
        .map(|(.., value)| match value {
            DebugValue::Counter(n) => n,
            _ => 0,
        })
        .sum()
}

async fn stampede(stores: &[Store], key: &str, loader_time: Duration) -> (usize, Duration) {
    let runs = Arc::new(AtomicUsize::new(0));
    let start_line = Arc::new(tokio::sync::Barrier::new(1001));
    let mut tasks = Vec::new();
    for i in 0..1000 {
        let (store, runs, start_line, key) = (
            stores[i % 4].clone(),
            runs.clone(),
            start_line.clone(),
            key.to_owned(),
        );
        tasks.push(tokio::spawn(async move {
            start_line.wait().await;
            store
                .get_or_set_with(&key, HOUR, || async move {
                    runs.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(loader_time).await;
                    Ok::<_, std::io::Error>(b"computed".to_vec())
                })
                .await
                .expect("get_or_set_with")
        }));
    }
    start_line.wait().await;
    let started = Instant::now();
    for t in tasks {
        t.await.expect("caller");
    }
    (runs.load(Ordering::SeqCst), started.elapsed())
}

fn main() {
    let Some(url) = database_url() else {
        eprintln!("DATABASE_URL is not set: scripts/with-postgres cargo bench --bench coordination");
        return;
    };
    let iters: usize = std::env::var("PGKV_COORD_ITERS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2000);
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder.install().expect("the only recorder");

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let config = Config::new(url.as_str()).table_name("bench_coordination").max_connections(8);
        let store = Store::with_config(config.clone()).await.expect("connect");
        let version: String = sqlx::query_scalar("SHOW server_version")
            .fetch_one(store.pool())
            .await
            .expect("version");
        println!("PostgreSQL {version}, UNLOGGED table, default config (OnRead), {iters} timed rounds, medians");

        let s = &store;
        let (plain, lock) = side_by_side(
            iters,
            |_| async move {
                assert!(s.set_nx_ex("plain-lock", "me", HOUR).await.unwrap());
                assert!(s.delete("plain-lock").await.unwrap());
            },
            |_| async move {
                let lock = s.try_lock("fenced-lock", HOUR).await.unwrap().expect("free");
                assert!(s.unlock(&lock).await.unwrap());
            },
        )
        .await;
        println!(
            "lock round: set_nx_ex + delete {} | try_lock + unlock {} | ratio {:.2}",
            us(plain),
            us(lock),
            lock.as_secs_f64() / plain.as_secs_f64()
        );

        let (incr, fixed) = side_by_side(
            iters,
            |_| async move {
                s.increment("counter", 1).await.unwrap();
            },
            |_| async move {
                s.rate_limit("limit:fixed", u64::MAX >> 1, HOUR).await.unwrap();
            },
        )
        .await;
        let quota = Quota::per(1_000_000, Duration::from_secs(1)).burst(1_000_000);
        let (incr2, gcra) = side_by_side(
            iters,
            |_| async move {
                s.increment("counter", 1).await.unwrap();
            },
            |_| async move {
                s.rate_limit_gcra("limit:gcra", quota).await.unwrap();
            },
        )
        .await;
        println!(
            "limiter check: increment {} | rate_limit {} (ratio {:.2}) || increment {} | rate_limit_gcra {} (ratio {:.2})",
            us(incr),
            us(fixed),
            fixed.as_secs_f64() / incr.as_secs_f64(),
            us(incr2),
            us(gcra),
            gcra.as_secs_f64() / incr2.as_secs_f64()
        );
        sqlx::query("DROP TABLE bench_coordination").execute(store.pool()).await.ok();
    });

    // The stampede on a multi-thread runtime, as a server would run it.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let config = Config::new(url.as_str()).table_name("bench_stampede").max_connections(8);
        let mut stores = Vec::new();
        for _ in 0..4 {
            stores.push(Store::with_config(config.clone()).await.expect("connect"));
        }
        for loader_time in [Duration::ZERO, Duration::from_millis(100)] {
            let mut times = Vec::new();
            let mut calls = Vec::new();
            for round in 0..5 {
                statements(&snapshotter);
                let (runs, took) = stampede(&stores, &format!("cold:{loader_time:?}:{round}"), loader_time).await;
                calls.push(statements(&snapshotter));
                assert_eq!(runs, 1, "one loader run");
                times.push(took);
            }
            calls.sort_unstable();
            println!(
                "stampede, 1,000 callers in 4 stores (pools of 8), loader of {loader_time:?}: loader runs 1 (each of 5 rounds), \
                 median wall time {:?}, statements median {} (min {}, max {})",
                median(times),
                calls[calls.len() / 2],
                calls[0],
                calls[calls.len() - 1]
            );
        }
        sqlx::query("DROP TABLE bench_stampede").execute(stores[0].pool()).await.ok();
    });
}
