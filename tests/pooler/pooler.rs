//! What only a transaction-mode pooler shows: the typed error without the
//! switch, exact results when many clients share few server connections,
//! and a cancelled write that never commits.

use std::time::Duration;

use pgkv::{Config, Error, Store};
use pgkv_suite::{admin, config, database_url, pooler_url, store, table_of, unique_table};

/// The same database through PgBouncer with a single server connection
/// (`pgkv_single` in `scripts/with-postgres`), so every client shares it.
fn single_server_url() -> String {
    let url = pooler_url();
    let base = url.strip_suffix("/pgkv").expect("PGKV_POOLER_URL ends in /pgkv");
    format!("{base}/pgkv_single")
}

/// Waits until no statement on `table` is running on the server (other than
/// this check): then the fate of a write cut off on it is settled.
async fn nothing_runs_on(direct: &sqlx::PgPool, table: &str) {
    let running = format!(
        "SELECT count(*) FROM pg_stat_activity WHERE state <> 'idle' AND pid <> pg_backend_pid() AND query LIKE '%{}%'",
        table.replace('\'', "''")
    );
    loop {
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(running.clone()))
            .fetch_one(direct)
            .await
            .unwrap();
        if n == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn without_the_switch_a_store_gets_the_typed_error_that_names_it() {
    let table = unique_table("pool_noswitch");
    let named = || {
        Config::new(single_server_url())
            .table_name(&table)
            .max_connections(1)
    };
    // The first store prepares its statements, by name, on the one server
    // connection; the second one's first statement reuses a name.
    let first = Store::with_config(named())
        .await
        .expect("the first store connects");
    let second = Store::with_config(named()).await;
    let err = match second {
        Err(e) => e,
        Ok(second) => second
            .set("k", "v")
            .await
            .expect_err("a second named-statement client on one server connection must fail"),
    };
    assert!(matches!(err, Error::PoolerNeedsSwitch { .. }), "{err:?}");
    assert!(err.to_string().contains("transaction_pooler(true)"), "{err}");
    assert!(matches!(err.code(), Some("42P05" | "26000")), "{:?}", err.code());
    drop(first);

    // With the switch, any number of stores share the connection.
    let switched = || named().transaction_pooler(true);
    let a = Store::with_config(switched()).await.unwrap();
    let b = Store::with_config(switched()).await.unwrap();
    a.set("k", "from a").await.unwrap();
    assert_eq!(b.get_string("k").await.unwrap().as_deref(), Some("from a"));
}

/// sqlx's unnamed statements alone are not enough behind a pooler (the
/// statement and its execution can reach different server connections, and
/// a call then runs another client's statement): many clients, few server
/// connections, every result checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_clients_on_few_server_connections_each_get_their_own_results() {
    let s = pgkv_suite::store_with("pool_many", |c| c.max_connections(32)).await;
    let tasks: Vec<_> = (0..32)
        .map(|t| {
            let s = s.clone();
            tokio::spawn(async move {
                for i in 0..40 {
                    let key = format!("t{t}:{i}");
                    assert_eq!(s.get(&key).await.unwrap(), None, "{key}");
                    assert!(!s.exists(&key).await.unwrap(), "{key}");
                    s.set(&key, key.as_bytes()).await.unwrap();
                    assert_eq!(s.get(&key).await.unwrap().as_deref(), Some(key.as_bytes()));
                    assert_eq!(s.increment(format!("n{t}"), 1).await.unwrap(), i + 1);
                    assert!(s.delete(&key).await.unwrap(), "{key}");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    for t in 0..32 {
        assert_eq!(
            s.get_string(format!("n{t}")).await.unwrap().as_deref(),
            Some("40")
        );
    }
    assert_eq!(s.count(pgkv::ScanOptions::new()).await.unwrap(), 32);
}

/// A call cancelled while its write waits for a row lock: behind a pooler
/// the store cannot cancel the statement on the server (the pooler hides
/// which process runs it), so it closes the connection. The write ran in the
/// call's own transaction, which is never committed: once the lock is
/// released the value is still the old one, and the store keeps working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_write_behind_the_pooler_never_commits() {
    let s = store("pool_cancel").await;
    s.set("k", "old").await.unwrap();
    let table = table_of(&s);
    let direct = admin(&s);
    let mut locker = direct.begin().await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE {table} SET value = value WHERE key = 'k'"
    )))
    .execute(&mut *locker)
    .await
    .unwrap();

    let cut_off = tokio::time::timeout(Duration::from_millis(300), s.set("k", "new")).await;
    assert!(cut_off.is_err(), "the write must still be waiting for the lock");
    // The store is usable meanwhile (reads never wait for locks).
    assert_eq!(s.get_string("k").await.unwrap().as_deref(), Some("old"));

    // Wait until the cut-off statement is waiting on our lock, then let it go.
    let waiting = format!(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%{}%'",
        table.replace('\'', "''")
    );
    loop {
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(waiting.clone()))
            .fetch_one(&direct)
            .await
            .unwrap();
        if n == 1 {
            break;
        }
        assert_eq!(n, 0);
        tokio::task::yield_now().await;
    }
    locker.commit().await.unwrap();
    // Once no statement on the table is left running, the write's fate is settled.
    nothing_runs_on(&direct, &table).await;
    assert_eq!(s.get_string("k").await.unwrap().as_deref(), Some("old"));
    s.set("k", "newer").await.unwrap();
    assert_eq!(s.get_string("k").await.unwrap().as_deref(), Some("newer"));
}

/// The cleanup task and the manual sweep through the pooler: every expired
/// row deleted, live ones kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cleanup_task_sweeps_through_the_pooler() {
    let s = Store::with_config(
        config("pool_sweep")
            .ttl_cleanup_strategy(pgkv::TtlCleanupStrategy::Manual)
            .cleanup_batch_size(100),
    )
    .await
    .unwrap();
    let expired: Vec<(String, &str)> = (0..1_000).map(|i| (format!("e{i}"), "v")).collect();
    s.set_many_ex(&expired, Duration::from_millis(1)).await.unwrap();
    let live: Vec<(String, &str)> = (0..50).map(|i| (format!("l{i}"), "v")).collect();
    s.set_many_ex(&live, Duration::from_secs(3600)).await.unwrap();
    // The TTL of 1 ms has passed once the server's clock says so.
    while s.exists("e0").await.unwrap() {
        tokio::task::yield_now().await;
    }
    let handle = s.spawn_cleanup(Duration::from_millis(10));
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while handle.stats().rows_deleted < 1_000 {
        assert_eq!(handle.stats().failed_passes, 0, "{:?}", handle.stats());
        assert!(std::time::Instant::now() < deadline, "{:?}", handle.stats());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let stats = handle.stats();
    handle.shutdown().await;
    assert_eq!(stats.rows_deleted, 1_000, "{stats:?}");
    assert_eq!(stats.failed_passes, 0, "{stats:?}");
    assert_eq!(pgkv_suite::raw_row_count(&s).await, 50);
    assert_eq!(s.cleanup_expired().await.unwrap(), 0);
    assert_eq!(s.count(pgkv::ScanOptions::new()).await.unwrap(), 50);
}

#[test]
fn the_suite_really_goes_through_the_pooler() {
    assert!(pgkv_suite::through_pooler());
    assert_ne!(pooler_url(), database_url());
}

/// A store made with `from_pool` borrows the application's connections: a
/// call cancelled while its write waits for a lock must not give the
/// connection back to the application inside its transaction (the
/// application's next transaction would commit the cancelled write).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_write_never_rides_back_into_the_application_pool() {
    let app_pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&pooler_url())
        .await
        .unwrap();
    let s = Store::from_pool(
        app_pool.clone(),
        Config::default()
            .table_name(&unique_table("pool_borrow"))
            .transaction_pooler(true)
            .max_connections(1),
    )
    .await
    .unwrap();
    s.set("x", "old").await.unwrap();
    let table = table_of(&s);
    let direct = admin(&s);
    let mut locker = direct.begin().await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE {table} SET value = value WHERE key = 'x'"
    )))
    .execute(&mut *locker)
    .await
    .unwrap();
    let cut_off = tokio::time::timeout(Duration::from_millis(50), s.set("x", "ghost")).await;
    assert!(cut_off.is_err());
    // The store's clean-up ends with the connection closed, not returned.
    while s.status().size > 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The application's own transaction, on its (only) pooled connection.
    let mut app = app_pool.begin().await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "INSERT INTO {table} (key, value) VALUES ('app', 'a')"
    )))
    .execute(&mut *app)
    .await
    .unwrap();
    app.commit().await.unwrap();
    locker.commit().await.unwrap();
    // Once nothing runs on the table any more, the cut-off write's fate is settled.
    nothing_runs_on(&direct, &table).await;
    let x: Vec<u8> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT value FROM {table} WHERE key = 'x'"
    )))
    .fetch_one(&direct)
    .await
    .unwrap();
    assert_eq!(x, b"old", "the cancelled write was committed");
    let app_row: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM {table} WHERE key = 'app'"
    )))
    .fetch_one(&direct)
    .await
    .unwrap();
    assert_eq!(app_row, 1, "the application's own write was committed");
}

/// Behind the pooler the near-cache listens on a direct connection of its
/// own (`NearCache::listen_url`), and invalidations flow as without it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_near_cache_listens_on_its_own_direct_connection() {
    let s = Store::with_config(
        config("pool_near").near_cache(pgkv::NearCache::new(["flags:"]).listen_url(&database_url())),
    )
    .await
    .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let stats = || s.near_cache_stats().expect("a near-cache");
    while !stats().listening {
        assert!(std::time::Instant::now() < deadline, "{:?}", stats());
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let before = stats().invalidations;
    s.set("flags:a", "1").await.unwrap();
    while stats().invalidations == before {
        assert!(std::time::Instant::now() < deadline, "{:?}", stats());
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert_eq!(s.get_string("flags:a").await.unwrap().as_deref(), Some("1"));
    let hits = stats().hits;
    assert_eq!(s.get_string("flags:a").await.unwrap().as_deref(), Some("1"));
    assert_eq!(stats().hits, hits + 1);
    let seen = stats().invalidations;
    let sql = format!("UPDATE {} SET value = '2' WHERE key = 'flags:a'", table_of(&s));
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(&admin(&s))
        .await
        .unwrap();
    while stats().invalidations == seen {
        assert!(std::time::Instant::now() < deadline, "{:?}", stats());
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert_eq!(s.get_string("flags:a").await.unwrap().as_deref(), Some("2"));
}
