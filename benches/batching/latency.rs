//! Part 1, uncontended latency, on a current-thread tokio runtime: one
//! caller, GET then SET, one call at a time, every system in rounds of
//! rotating order.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use pgkv::Store;
use pgkv_suite::{XorShift, sample_value};
use tokio::runtime::Runtime;

use crate::clients::{Client, Pgkv, Redis, SqlxFloor, TokioPgFloor, pgkv_sql};
use crate::setup::{APP_FLOOR, APP_TOKIO_PG, Names, keys, pgkv_config};
use crate::support::settings::Res;
use crate::support::stats::{Stat, fmt_us, stat};
use crate::{ROWS, Settings, VALUE, WARMUP};

const LAT_SYSTEMS: [&str; 6] = [
    "sqlx floor",
    "tokio-postgres floor",
    "sqlx floor running pgkv's SQL",
    "pgkv, batching on",
    "pgkv, batching off",
    "Redis",
];

enum LatClient {
    Sqlx(SqlxFloor),
    TokioPg(TokioPgFloor),
    Pgkv(Pgkv),
    Redis(Redis),
}

impl LatClient {
    async fn get(&mut self, key: &str) -> Res<bool> {
        match self {
            LatClient::Sqlx(c) => c.get(key).await,
            LatClient::TokioPg(c) => c.get(key).await,
            LatClient::Pgkv(c) => c.get(key).await,
            LatClient::Redis(c) => c.get(key).await,
        }
    }

    async fn set(&mut self, key: &str, value: &[u8]) -> Res<()> {
        match self {
            LatClient::Sqlx(c) => c.set(key, value).await,
            LatClient::TokioPg(c) => c.set(key, value).await,
            LatClient::Pgkv(c) => c.set(key, value).await,
            LatClient::Redis(c) => c.set(key, value).await,
        }
    }
}

/// Per system (`LAT_SYSTEMS` order): GET and SET statistics.
pub(crate) fn latency(
    rt: &Runtime,
    url: &str,
    names: &Names,
    redis_url: &str,
    s: &Settings,
) -> Res<Vec<(Stat, Stat)>> {
    eprintln!("batching bench: uncontended latency");
    rt.block_on(async {
        let on = Store::with_config(pgkv_config(url, &names.pgkv_on, true)).await?;
        let off = Store::with_config(pgkv_config(url, &names.pgkv_off, false)).await?;
        let redis = redis::Client::open(redis_url)?
            .get_multiplexed_async_connection()
            .await?;
        let (pgkv_get, pgkv_set) = pgkv_sql(&names.floor)?;
        let mut clients = vec![
            LatClient::Sqlx(SqlxFloor::connect(url, &names.floor, APP_FLOOR).await?),
            LatClient::TokioPg(TokioPgFloor::connect(url, &names.floor, APP_TOKIO_PG).await?),
            LatClient::Sqlx(SqlxFloor::with_sql(url, APP_FLOOR, pgkv_get, pgkv_set).await?),
            LatClient::Pgkv(Pgkv(on.clone())),
            LatClient::Pgkv(Pgkv(off.clone())),
            LatClient::Redis(Redis(redis)),
        ];
        let keys = keys();
        let value = sample_value(VALUE);
        let per_round = s.iters.div_ceil(s.lat_rounds);
        let mut gets: Vec<Vec<u64>> = vec![Vec::new(); clients.len()];
        let mut sets: Vec<Vec<u64>> = vec![Vec::new(); clients.len()];
        let mut rng = XorShift(0x5eed_1a7e_0c1e_5001);
        for round in 0..s.lat_rounds {
            for j in 0..clients.len() {
                let idx = (j + round) % clients.len();
                let c = &mut clients[idx];
                // Each system reads and writes the same keys in the same order.
                let mut chunk_rng = XorShift(rng.next_u64() | 1);
                let picks: Vec<usize> = (0..WARMUP + per_round).map(|_| chunk_rng.below(ROWS)).collect();
                for (i, &k) in picks[..WARMUP].iter().enumerate() {
                    if i % 5 == 0 {
                        c.set(&keys[k], &value).await?;
                    } else {
                        c.get(&keys[k]).await?;
                    }
                }
                for &k in &picks[WARMUP..] {
                    let started = Instant::now();
                    let found = c.get(&keys[k]).await?;
                    gets[idx].push(started.elapsed().as_nanos() as u64);
                    assert!(found, "{} lost {}", LAT_SYSTEMS[idx], keys[k]);
                }
                for &k in &picks[WARMUP..] {
                    let started = Instant::now();
                    c.set(&keys[k], &value).await?;
                    sets[idx].push(started.elapsed().as_nanos() as u64);
                }
            }
        }
        let batched = on.batching_stats().map_or(0, |b| b.batched_calls);
        if batched > 0 {
            eprintln!("batching bench: {batched} calls were batched during the uncontended latency run");
        }
        drop(clients);
        on.close().await;
        off.close().await;
        // Let the dropped connections' tasks (tokio-postgres, Redis) end
        // while this runtime still runs them.
        tokio::time::sleep(Duration::from_millis(100)).await;
        Ok(gets
            .into_iter()
            .zip(sets)
            .map(|(g, s)| (stat(g), stat(s)))
            .collect())
    })
}

pub(crate) fn render_latency(stats: &[(Stat, Stat)], per_system: usize, rounds: usize) -> String {
    let mut out = format!(
        "## Uncontended latency: one caller, one call at a time ({per_system} timed calls per operation \
         and system in {rounds} interleaved rounds, +{WARMUP} untimed per chunk; current-thread tokio runtime)\n\n\
         | system | GET median | GET p99 | GET × sqlx floor | GET × tokio-postgres | GET × floor on pgkv's SQL | \
         SET median | SET p99 | SET × sqlx floor | SET × tokio-postgres | SET × floor on pgkv's SQL |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    );
    let (sqlx_floor, tpg, own_sql) = (stats[0], stats[1], stats[2]);
    for (name, (g, s)) in LAT_SYSTEMS.iter().zip(stats) {
        let _ = writeln!(
            out,
            "| {name} | {} µs | {} µs | {:.2} (p99 {:.2}) | {:.2} | {:.2} | {} µs | {} µs | {:.2} (p99 {:.2}) | {:.2} | {:.2} |",
            fmt_us(g.median_us),
            fmt_us(g.p99_us),
            g.median_us / sqlx_floor.0.median_us,
            g.p99_us / sqlx_floor.0.p99_us,
            g.median_us / tpg.0.median_us,
            g.median_us / own_sql.0.median_us,
            fmt_us(s.median_us),
            fmt_us(s.p99_us),
            s.median_us / sqlx_floor.1.median_us,
            s.p99_us / sqlx_floor.1.p99_us,
            s.median_us / tpg.1.median_us,
            s.median_us / own_sql.1.median_us,
        );
    }
    out
}
