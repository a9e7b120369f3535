//! The store's connection pool: status, graceful close, idle timeout and
//! max lifetime.

use std::time::{Duration, Instant};

use pgkv::Error;
use pgkv_suite::store_with;

/// Waits (bounded) until `done` holds.
async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_counts_connections_and_close_waits_for_calls_in_flight() {
    let s = store_with("pool_close", |c| c.max_connections(3)).await;
    s.set("k", "0").await.unwrap();
    let status = s.status();
    assert_eq!(
        (status.size, status.idle, status.waiting, status.max),
        (1, 1, 0, 3)
    );

    let mut tx = s.begin().await.unwrap();
    tx.set("k", "in tx").await.unwrap();
    assert_eq!(s.status().idle, 0);
    let closing = tokio::spawn({
        let s = s.clone();
        async move { s.close().await }
    });
    // New calls are refused as soon as close starts; the transaction in
    // flight finishes.
    let refused = loop {
        match s.get("k").await {
            Err(Error::Closed) => break true,
            Ok(_) => tokio::task::yield_now().await,
            Err(other) => panic!("{other:?}"),
        }
    };
    assert!(refused);
    assert!(
        !closing.is_finished(),
        "close returned with a transaction in flight"
    );
    tx.commit().await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), closing)
        .await
        .expect("close waits only for calls in flight")
        .unwrap();
    assert_eq!(s.status().size, 0);
    assert!(matches!(s.begin().await, Err(Error::Closed)));

    let check = store_with("pool_close", |c| c).await;
    let table = pgkv_suite::table_of(&s);
    let value: Vec<u8> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT value FROM {table} WHERE key = 'k'"
    )))
    .fetch_one(check.pool())
    .await
    .unwrap();
    assert_eq!(value, b"in tx");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_close_after_the_idle_timeout() {
    let s = store_with("pool_idle", |c| c.idle_timeout(Duration::from_millis(200))).await;
    let (a, b) = tokio::join!(s.set("a", "1"), s.set("b", "2"));
    a.unwrap();
    b.unwrap();
    assert!(s.status().size >= 1);
    until("idle connections are closed", || s.status().size == 0).await;
    // And the store opens a new one when called again.
    assert_eq!(s.get_string("a").await.unwrap().as_deref(), Some("1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_replaced_after_their_max_lifetime() {
    // The idle timeout (10 minutes by default) cannot be what retires it.
    let s = store_with("pool_lifetime", |c| c.max_lifetime(Duration::from_millis(300))).await;
    s.set("k", "v").await.unwrap();
    assert_eq!(s.status().size, 1);
    until("the old connection is retired", || s.status().size == 0).await;
    assert_eq!(s.get_string("k").await.unwrap().as_deref(), Some("v"));
    assert_eq!(s.status().size, 1);
}
