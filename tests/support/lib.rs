//! Helpers shared by pgkv's examples, integration tests and benchmarks.
//!
//! Tests never skip: without `DATABASE_URL` they fail and say how to run
//! them (`scripts/with-postgres cargo test --workspace`).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use pgkv::sqlx::PgPool;
use pgkv::sqlx::postgres::PgPoolOptions;
use pgkv::{Config, Store};

/// The server to test against, from `DATABASE_URL`.
pub fn database_url() -> String {
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "DATABASE_URL is not set. Run through the wrapper that starts a throwaway \
             PostgreSQL: scripts/with-postgres cargo test --workspace"
        ),
    }
}

/// True in the `pooler` test binary (tests/pooler), which runs store test
/// modules through PgBouncer in transaction mode: [`config`] then points
/// stores at `PGKV_POOLER_URL` with `Config::transaction_pooler(true)`.
/// Decided by the binary's name, since the modules are shared.
pub fn through_pooler() -> bool {
    static THROUGH_POOLER: OnceLock<bool> = OnceLock::new();
    *THROUGH_POOLER.get_or_init(|| {
        std::env::current_exe()
            .ok()
            .and_then(|exe| {
                exe.file_name()
                    .map(|name| name.to_string_lossy().starts_with("pooler-"))
            })
            .unwrap_or(false)
    })
}

/// True in the `citus` and `citus_faults` test binaries (tests/citus), which run store test
/// modules against a Citus cluster (`scripts/with-citus`): [`config`] then
/// turns on `Config::citus(true)`. Decided by the binary's name.
pub fn through_citus() -> bool {
    static THROUGH_CITUS: OnceLock<bool> = OnceLock::new();
    *THROUGH_CITUS.get_or_init(|| {
        std::env::current_exe()
            .ok()
            .and_then(|exe| {
                exe.file_name().map(|name| {
                    let name = name.to_string_lossy();
                    name.starts_with("citus-") || name.starts_with("citus_faults-")
                })
            })
            .unwrap_or(false)
    })
}

/// `PGKV_TEST_PARTITIONS=n`: every store the suite makes uses a table
/// hash-partitioned into `n` (`Config::partitions`), so the whole store
/// suite can be run against partitioned tables:
/// `PGKV_TEST_PARTITIONS=8 scripts/with-postgres cargo test --test store`.
pub fn test_partitions() -> Option<u32> {
    let n = std::env::var("PGKV_TEST_PARTITIONS").ok()?;
    Some(n.parse().expect("PGKV_TEST_PARTITIONS must be a partition count"))
}

/// PgBouncer in transaction mode in front of the test server, from
/// `PGKV_POOLER_URL` (set by `scripts/with-postgres --pooler`).
pub fn pooler_url() -> String {
    match std::env::var("PGKV_POOLER_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "PGKV_POOLER_URL is not set. The pooler tests need PgBouncer in transaction mode: \
             scripts/with-postgres --pooler cargo test --workspace"
        ),
    }
}

/// For a test that cannot run through a transaction-mode pooler (it kills
/// or inspects server processes, which the pooler shares between clients):
/// true in the pooler binary, after saying loudly that the test did not run.
pub fn not_through_pooler(test: &str, why: &str) -> bool {
    if through_pooler() {
        eprintln!("NOT RUN through the pooler: {test}: {why} (it runs in tests/store)");
    }
    through_pooler()
}

/// For a test whose subject does not exist or behaves otherwise on Citus
/// (documented in docs/guide/scaling_out.md): true in the Citus binaries,
/// after saying so past the test harness's output capture, so the skip is
/// seen and never passes silently.
pub fn not_on_citus(test: &str, why: &str) -> bool {
    if through_citus() {
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), "NOT RUN on Citus: {test}: {why}");
    }
    through_citus()
}

/// For raw SQL beside a store (checks, set-up): the store's own pool, or,
/// behind the pooler, a pool of direct connections to the same server.
pub fn admin(store: &Store) -> PgPool {
    if through_pooler() {
        PgPoolOptions::new()
            .max_connections(2)
            .connect_lazy(&database_url())
            .expect("DATABASE_URL parses")
    } else {
        store.pool().clone()
    }
}

/// For the examples: `DATABASE_URL`, or (when unset) a message saying how
/// to run `example` against a throwaway PostgreSQL, and exit code 2.
pub fn example_database_url(example: &str) -> String {
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => {
            eprintln!(
                "DATABASE_URL is not set. Run this example through the wrapper that starts a \
                 throwaway PostgreSQL:\n\n    scripts/with-postgres cargo run --example {example}\n\n\
                 or set DATABASE_URL=postgres://user@host/db to use your own server."
            );
            std::process::exit(2);
        }
    }
}

/// An example's exit: on error, the error's message and its causes (its
/// `Display` text, which carries the hints, not its `Debug` form), and exit
/// code 1.
pub fn report<E: Into<Box<dyn std::error::Error>>>(result: Result<(), E>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            let e: Box<dyn std::error::Error> = e.into();
            eprintln!("error: {e}");
            let mut source = e.source();
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
            std::process::ExitCode::FAILURE
        }
    }
}

/// A table name no other test in this run uses, so tests can run in parallel.
pub fn unique_table(tag: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let tag: String = tag
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(24)
        .collect();
    format!("t_{tag}_{}_{n}", std::process::id())
}

/// A config for a fresh table of its own.
pub fn config(tag: &str) -> Config {
    let config = if through_pooler() {
        Config::new(pooler_url()).transaction_pooler(true)
    } else {
        Config::new(database_url())
    };
    let config = config.table_name(&unique_table(tag)).max_connections(8);
    let config = if through_citus() {
        config.citus(true)
    } else {
        config
    };
    match test_partitions() {
        Some(n) if !through_citus() => config.partitions(n),
        _ => config,
    }
}

/// A store on a fresh table of its own.
pub async fn store(tag: &str) -> Store {
    Store::with_config(config(tag))
        .await
        .expect("connect to DATABASE_URL")
}

/// A store on a fresh table, with the config adjusted by `adjust`.
pub async fn store_with(tag: &str, adjust: impl FnOnce(Config) -> Config) -> Store {
    Store::with_config(adjust(config(tag)))
        .await
        .expect("connect to DATABASE_URL")
}

/// The quoted table name of a store (from its Debug output, which names it).
pub fn table_of(store: &Store) -> String {
    let shown = format!("{store:?}");
    let start = shown.find("table: \"").expect("Debug names the table") + "table: \"".len();
    let end = shown[start..].rfind('"').expect("closing quote") + start;
    shown[start..end].replace("\\\"", "\"")
}

/// Moves the expiry of `key` into the past, so expired-row handling can be
/// tested without sleeping.
pub async fn force_expire(store: &Store, key: &str) {
    let sql = format!(
        "UPDATE {} SET expires_at = statement_timestamp() - interval '1 second' WHERE key = $1",
        table_of(store)
    );
    let done = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(key)
        .execute(&admin(store))
        .await
        .expect("force expiry");
    assert_eq!(done.rows_affected(), 1, "force_expire: no row for {key:?}");
}

/// Rows physically in the table, expired or not, except pgkv's own lease
/// row ([`pgkv::CLEANUP_LEASE_KEY`], which a cleanup task on Citus writes
/// while a pass runs and which no user call counts either).
pub async fn raw_row_count(store: &Store) -> i64 {
    let sql = format!("SELECT count(*) FROM {} WHERE key <> $1", table_of(store));
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(pgkv::CLEANUP_LEASE_KEY)
        .fetch_one(&admin(store))
        .await
        .expect("count rows")
}

/// xorshift64, the project's one generator (pgkv's cleanup jitter uses
/// it too): every system and every run gets the same calls.
pub use pgkv::__private::XorShift;

/// A `len`-byte value of printable letters, the same in every benchmark.
pub fn sample_value(len: usize) -> Vec<u8> {
    (0..len).map(|i| b'a' + (i % 26) as u8).collect()
}
