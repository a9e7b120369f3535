//! Set-up: the tables' and connections' names, the rows every system is
//! loaded with, and the report's lines about the servers.

use std::fmt::Write as _;

use pgkv::{Config, Store};
use pgkv_suite::sample_value;
use sqlx::PgConnection;

use crate::support::servers::{describe_postgres, redis_version, sql};
use crate::support::settings::Res;
use crate::{ROWS, VALUE};

pub(crate) struct Names {
    pub(crate) floor: String,
    pub(crate) pgkv_on: String,
    pub(crate) pgkv_off: String,
}

impl Names {
    pub(crate) fn new() -> Names {
        let pid = std::process::id();
        Names {
            floor: format!("pgkv_batching_floor_{pid}"),
            pgkv_on: format!("pgkv_batching_on_{pid}"),
            pgkv_off: format!("pgkv_batching_off_{pid}"),
        }
    }
}

pub(crate) const APP_FLOOR: &str = "bench_floor";
pub(crate) const APP_TOKIO_PG: &str = "bench_tokio_pg";
pub(crate) const APP_PGKV_ON: &str = "bench_pgkv_on";
pub(crate) const APP_PGKV_OFF: &str = "bench_pgkv_off";
pub(crate) const REDIS_NAME: &str = "bench_redis";

/// pgkv's `Config` default (pool of 10, `OnRead` TTLs, a new table
/// UNLOGGED), batching on or off.
pub(crate) fn pgkv_config(url: &str, table: &str, batching: bool) -> Config {
    Config::new(url)
        .table_name(table)
        .application_name(if batching { APP_PGKV_ON } else { APP_PGKV_OFF })
        .batch_concurrent_calls(batching)
}

pub(crate) fn keys() -> Vec<String> {
    (0..ROWS).map(|i| format!("key:{i:05}")).collect()
}

/// Creates the floor's table (pgkv's own columns, UNLOGGED like pgkv's
/// default) and both pgkv tables, and loads the same rows into all of them
/// and into Redis.
pub(crate) async fn load(admin: &mut PgConnection, url: &str, names: &Names, redis_url: &str) -> Res<()> {
    let keys = keys();
    let value = sample_value(VALUE);
    let t = &names.floor;
    sqlx::raw_sql(sql(format!(
        "CREATE UNLOGGED TABLE \"{t}\" (key TEXT COLLATE \"C\" PRIMARY KEY, value BYTEA NOT NULL, \
         expires_at TIMESTAMPTZ, created_at TIMESTAMPTZ NOT NULL DEFAULT now(), \
         updated_at TIMESTAMPTZ NOT NULL DEFAULT now())"
    )))
    .execute(&mut *admin)
    .await?;
    let values: Vec<&[u8]> = vec![&value; ROWS];
    sqlx::query(sql(format!(
        "INSERT INTO \"{t}\" (key, value) SELECT * FROM UNNEST($1::text[], $2::bytea[])"
    )))
    .bind(&keys)
    .bind(&values)
    .execute(&mut *admin)
    .await?;
    for (table, batching) in [(&names.pgkv_on, true), (&names.pgkv_off, false)] {
        let store = Store::with_config(pgkv_config(url, table, batching)).await?;
        for chunk in keys.chunks(1_000) {
            let items: Vec<(&str, &[u8])> = chunk.iter().map(|k| (k.as_str(), &value[..])).collect();
            store.set_many(&items).await?;
        }
        store.close().await;
    }
    for table in [&names.floor, &names.pgkv_on, &names.pgkv_off] {
        sqlx::raw_sql(sql(format!("VACUUM ANALYZE \"{table}\"")))
            .execute(&mut *admin)
            .await?;
    }
    let mut r = redis::Client::open(redis_url)?
        .get_multiplexed_async_connection()
        .await?;
    redis::cmd("FLUSHALL").query_async::<()>(&mut r).await?;
    for chunk in keys.chunks(1_000) {
        let mut cmd = redis::cmd("MSET");
        for k in chunk {
            cmd.arg(k).arg(&value);
        }
        cmd.query_async::<()>(&mut r).await?;
    }
    Ok(())
}

/// The report's lines about PostgreSQL (version, settings) and Redis; and
/// PostgreSQL's `max_connections`.
pub(crate) async fn describe(admin: &mut PgConnection, redis_url: &str) -> Res<(String, usize)> {
    let (mut out, settings) = describe_postgres(
        admin,
        &[
            "shared_buffers",
            "fsync",
            "synchronous_commit",
            "max_connections",
            "jit",
        ],
    )
    .await?;
    let max_conns = settings
        .iter()
        .find(|(n, _)| n == "max_connections")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(100);
    let redis_version = redis_version(redis_url).await?;
    let _ = writeln!(
        out,
        "\n- Redis: {redis_version} (persistence off: save '', appendonly no), redis-rs, one multiplexed connection"
    );
    Ok((out, max_conns))
}
