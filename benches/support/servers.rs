//! The servers measured against: report header lines describing PostgreSQL
//! and Redis, and the statements built at run time that sqlx is handed.
//! Needs `settings.rs` in the same `support` module.

use std::fmt::Write as _;

use sqlx::{AssertSqlSafe, PgConnection, SqlSafeStr, SqlStr};

use super::settings::Res;

/// A statement built at run time (table names are the bench's own).
pub(crate) fn sql(text: String) -> SqlStr {
    AssertSqlSafe(text).into_sql_str()
}

/// `- PostgreSQL: <version>` and `- PostgreSQL settings: name=value …` (the
/// `settings` named, by name), without a final newline; and the settings'
/// values as read.
pub(crate) async fn describe_postgres(
    conn: &mut PgConnection,
    settings: &[&str],
) -> Res<(String, Vec<(String, String)>)> {
    let version: String = sqlx::query_scalar("SELECT version()")
        .fetch_one(&mut *conn)
        .await?;
    let values: Vec<(String, String)> = sqlx::query_as(
        "SELECT name, setting || coalesce(unit, '') FROM pg_settings WHERE name = ANY($1) ORDER BY name",
    )
    .bind(settings)
    .fetch_all(&mut *conn)
    .await?;
    let mut out = format!("- PostgreSQL: {version}\n- PostgreSQL settings:");
    for (name, value) in &values {
        let _ = write!(out, " {name}={value}");
    }
    Ok((out, values))
}

/// The version of the Redis at `url` (`INFO server`'s `redis_version`).
pub(crate) async fn redis_version(url: &str) -> Res<String> {
    let mut r = redis::Client::open(url)?
        .get_multiplexed_async_connection()
        .await?;
    let info: String = redis::cmd("INFO").arg("server").query_async(&mut r).await?;
    Ok(info
        .lines()
        .find_map(|l| l.strip_prefix("redis_version:"))
        .unwrap_or("unknown")
        .trim()
        .to_owned())
}
