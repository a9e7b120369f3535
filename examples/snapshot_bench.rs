//! The figures in docs/performance.md's Snapshots and Codecs sections: snapshot and
//! load rates for a table of 256-byte values, a reader's latency while a
//! snapshot runs (against the same reader with no snapshot running), and
//! codec encode/decode times and sizes against JSON.
//!
//! ```text
//! PGKV_ROWS=1000000 scripts/with-postgres cargo run --release --example snapshot_bench
//! ```
//!
//! Medians of each figure over the repetitions it says; one run, both sides
//! of every comparison measured in the same process, one after the other.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use pgkv::{Codec, Config, Json, LoadMode, Postcard, Protobuf, Store};
use pgkv_suite::XorShift;
use serde::{Deserialize, Serialize};

const VALUE: usize = 256;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> std::process::ExitCode {
    pgkv_suite::report(run().await)
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let url = pgkv_suite::example_database_url("snapshot_bench");
    let rows: i64 = match std::env::var("PGKV_ROWS") {
        Ok(n) => n.parse()?,
        Err(_) => 100_000,
    };
    let store = Store::with_config(Config::new(url).table_name("snapshot_bench")).await?;
    let table = "\"public\".\"snapshot_bench\"";
    let dir = std::env::temp_dir().join(format!("pgkv-snapshot-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("bench.pgkv");

    sqlx::query(sqlx::AssertSqlSafe(format!("TRUNCATE {table}")))
        .execute(store.pool())
        .await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO {table} (key, value) SELECT 'key:' || lpad(g::text, 8, '0'), \
         convert_to(repeat('a', {VALUE}), 'UTF8') FROM generate_series(1, $1) g"
    )))
    .bind(rows)
    .execute(store.pool())
    .await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("VACUUM ANALYZE {table}")))
        .execute(store.pool())
        .await?;
    println!("table: {rows} rows of {VALUE}-byte values");

    // Reader latency with no snapshot running, then while snapshots run.
    let idle = read_latencies(&store, rows, None).await?;
    let mut saves = Vec::new();
    let busy = {
        let stop = Arc::new(AtomicBool::new(false));
        let reader = {
            let (store, stop) = (store.clone(), stop.clone());
            tokio::spawn(async move { read_latencies(&store, rows, Some(stop)).await })
        };
        for _ in 0..3 {
            let started = Instant::now();
            let info = store.save_snapshot(&path).await?;
            saves.push((started.elapsed(), info));
        }
        stop.store(true, Ordering::Relaxed);
        reader.await??
    };
    println!(
        "reader get(): idle p50 {:?} p99 {:?} ({} reads); during snapshots p50 {:?} p99 {:?} ({} reads); p99 ratio {:.2}",
        pct(&idle, 50.0),
        pct(&idle, 99.0),
        idle.len(),
        pct(&busy, 50.0),
        pct(&busy, 99.0),
        busy.len(),
        pct(&busy, 99.0).as_secs_f64() / pct(&idle, 99.0).as_secs_f64()
    );
    let mut save_times: Vec<Duration> = saves.iter().map(|(d, _)| *d).collect();
    let info = &saves[0].1;
    let save = median(&mut save_times);
    println!(
        "save: median {save:?} of 3: {:.0} rows/s, {:.1} MB/s; file {:.1} MB ({} rows)",
        info.rows as f64 / save.as_secs_f64(),
        info.bytes as f64 / 1e6 / save.as_secs_f64(),
        info.bytes as f64 / 1e6,
        info.rows
    );

    let mut loads = Vec::new();
    for _ in 0..3 {
        sqlx::query(sqlx::AssertSqlSafe(format!("TRUNCATE {table}")))
            .execute(store.pool())
            .await?;
        let started = Instant::now();
        let loaded = store.load_snapshot(&path, LoadMode::Replace).await?;
        loads.push(started.elapsed());
        assert_eq!(loaded.restored, info.rows);
    }
    let load = median(&mut loads);
    println!(
        "load (into the emptied table, Replace): median {load:?} of 3: {:.0} rows/s, {:.1} MB/s",
        info.rows as f64 / load.as_secs_f64(),
        info.bytes as f64 / 1e6 / load.as_secs_f64()
    );
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE {table}")))
        .execute(store.pool())
        .await?;
    std::fs::remove_dir_all(&dir)?;

    codecs();
    Ok(())
}

/// `get` latencies of random keys, for 3 s or until `stop`.
async fn read_latencies(
    store: &Store,
    rows: i64,
    stop: Option<Arc<AtomicBool>>,
) -> pgkv::Result<Vec<Duration>> {
    let mut rng = XorShift(42);
    let mut out = Vec::new();
    let began = Instant::now();
    loop {
        match &stop {
            Some(stop) if stop.load(Ordering::Relaxed) => break,
            None if began.elapsed() >= Duration::from_secs(3) => break,
            _ => {}
        }
        let key = format!("key:{:08}", rng.below_u64(rows as u64) + 1);
        let started = Instant::now();
        black_box(store.get(&key).await?);
        out.push(started.elapsed());
    }
    Ok(out)
}

fn pct(sample: &[Duration], p: f64) -> Duration {
    let mut sorted = sample.to_vec();
    sorted.sort();
    sorted[((sorted.len() - 1) as f64 * p / 100.0).round() as usize]
}

fn median(sample: &mut [Duration]) -> Duration {
    sample.sort();
    sample[sample.len() / 2]
}

/// A realistic session record.
#[derive(Clone, PartialEq, Serialize, Deserialize, prost::Message)]
struct Session {
    #[prost(uint64, tag = "1")]
    user_id: u64,
    #[prost(string, tag = "2")]
    name: String,
    #[prost(string, tag = "3")]
    email: String,
    #[prost(string, repeated, tag = "4")]
    roles: Vec<String>,
    #[prost(int64, tag = "5")]
    created_at: i64,
    #[prost(uint32, tag = "6")]
    visits: u32,
    #[prost(bool, tag = "7")]
    admin: bool,
    #[prost(string, tag = "8")]
    locale: String,
}

fn codecs() {
    let session = Session {
        user_id: 4_211_987_654,
        name: "Ada Lovelace".into(),
        email: "ada@example.org".into(),
        roles: vec!["reader".into(), "writer".into(), "billing".into()],
        created_at: 1_764_806_400_000,
        visits: 1_207,
        admin: false,
        locale: "en-GB".into(),
    };
    const N: u32 = 200_000;
    fn measure<C: Codec<Session>>(session: &Session) -> (usize, Duration, Duration) {
        let bytes = C::encode("k", session).expect("encodes");
        let mut enc = Vec::new();
        let mut dec = Vec::new();
        for _ in 0..5 {
            let started = Instant::now();
            for _ in 0..N {
                black_box(C::encode("k", black_box(session)).expect("encodes"));
            }
            enc.push(started.elapsed() / N);
            let started = Instant::now();
            for _ in 0..N {
                black_box(C::decode("k", black_box(&bytes)).expect("decodes"));
            }
            dec.push(started.elapsed() / N);
        }
        (bytes.len(), median(&mut enc), median(&mut dec))
    }
    let json = measure::<Json>(&session);
    for (name, (size, enc, dec)) in [
        ("json", json),
        ("postcard", measure::<Postcard>(&session)),
        ("protobuf", measure::<Protobuf>(&session)),
    ] {
        println!(
            "codec {name:9} {size:4} bytes ({:.2}x json), encode {enc:?} ({:.2}x), decode {dec:?} ({:.2}x); median of 5 x {N}",
            size as f64 / json.0 as f64,
            enc.as_secs_f64() / json.1.as_secs_f64(),
            dec.as_secs_f64() / json.2.as_secs_f64()
        );
    }
}
