//! Transactions: commit, rollback, drop, the closure form, and cancellation.

use std::time::Duration;

use pgkv::Error;
use pgkv_suite::store_with;

async fn store(tag: &str) -> pgkv::Store {
    // A small pool makes a poisoned connection come back quickly.
    store_with(tag, |c| c.max_connections(2)).await
}

#[tokio::test]
async fn commit_rollback_and_drop() {
    let s = store("tx_basic").await;
    let mut tx = s.begin().await.unwrap();
    tx.set("a", "1").await.unwrap();
    assert_eq!(tx.get("a").await.unwrap(), Some(b"1".to_vec()));
    assert_eq!(s.get("a").await.unwrap(), None, "not visible before commit");
    tx.commit().await.unwrap();
    assert_eq!(s.get("a").await.unwrap(), Some(b"1".to_vec()));

    let mut tx = s.begin().await.unwrap();
    tx.set("a", "2").await.unwrap();
    tx.delete("a").await.unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(s.get("a").await.unwrap(), Some(b"1".to_vec()));

    let mut tx = s.begin().await.unwrap();
    tx.set("a", "3").await.unwrap();
    drop(tx);
    assert_eq!(
        s.get("a").await.unwrap(),
        Some(b"1".to_vec()),
        "dropped = rolled back"
    );
}

#[tokio::test]
async fn closure_commits_on_ok_and_rolls_back_on_err() {
    let s = store("tx_closure").await;
    let n = s
        .transaction(async |tx| {
            tx.set("x", "1").await?;
            tx.increment("n", 5).await
        })
        .await
        .unwrap();
    assert_eq!(n, 5);
    assert_eq!(s.get_string("x").await.unwrap().as_deref(), Some("1"));

    let err = s
        .transaction(async |tx| -> pgkv::Result<()> {
            tx.set("x", "2").await?;
            tx.set("y", "2").await?;
            tx.get_or_err("missing").await?;
            Ok(())
        })
        .await
        .unwrap_err();
    assert!(err.is_not_found());
    assert_eq!(s.get_string("x").await.unwrap().as_deref(), Some("1"));
    assert_eq!(s.get("y").await.unwrap(), None);
}

#[tokio::test]
async fn a_failed_statement_aborts_and_commit_says_so() {
    let s = store("tx_aborted").await;
    s.set("text", "abc").await.unwrap();
    let mut tx = s.begin().await.unwrap();
    tx.set("a", "1").await.unwrap();
    assert!(matches!(
        tx.increment("text", 1).await,
        Err(Error::NotAnInteger { .. })
    ));
    let err = tx.commit().await.unwrap_err();
    assert!(matches!(err, Error::TransactionAborted), "{err:?}");
    assert_eq!(s.get("a").await.unwrap(), None);
    // An input error is caught before SQL and does not abort the transaction.
    let mut tx = s.begin().await.unwrap();
    assert!(matches!(tx.set("", "1").await, Err(Error::EmptyKey)));
    tx.set("b", "1").await.unwrap();
    tx.commit().await.unwrap();
    assert!(s.exists("b").await.unwrap());
}

#[tokio::test]
async fn transactions_serialise_on_rows() {
    let s = store_with("tx_locks", |c| c.max_connections(4)).await;
    s.set("k", "0").await.unwrap();
    let mut tx = s.begin().await.unwrap();
    assert_eq!(tx.increment("k", 1).await.unwrap(), 1);
    let other = {
        let s = s.clone();
        tokio::spawn(async move { s.increment("k", 10).await.unwrap() })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!other.is_finished(), "the row lock holds the other writer");
    tx.commit().await.unwrap();
    assert_eq!(other.await.unwrap(), 11);
}

#[tokio::test]
async fn spawned_transaction_closure_is_send() {
    let s = store("tx_send").await;
    let handle = tokio::spawn({
        let s = s.clone();
        async move { s.transaction(async |tx| tx.set("k", "v").await).await }
    });
    handle.await.unwrap().unwrap();
    assert!(s.exists("k").await.unwrap());
}

/// Cancels operations and transactions at random points (timeouts of 0 to
/// 3 ms) and checks that every pooled connection is still usable afterwards:
/// no connection may come back from the pool inside a transaction. This is
/// the regression test for sqlx's `Pool::begin` cancellation bug (sqlx
/// issue #4393): pgkv closes a connection whose BEGIN or COMMIT did not
/// complete instead of returning it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancellation_never_poisons_the_pool() {
    let s = store_with("tx_cancel", |c| {
        c.max_connections(2).application_name("pgkv_tx_cancel")
    })
    .await;
    s.set("k", "0").await.unwrap();
    let table = pgkv_suite::table_of(&s);
    let mut observer = {
        use sqlx::Connection;
        sqlx::PgConnection::connect(&pgkv_suite::database_url())
            .await
            .unwrap()
    };
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for i in 0..1_000u64 {
        let budget = Duration::from_micros(next() % 3_000);
        let s2 = s.clone();
        // Every write also marks its own key `ack{i}`: a cut-off write of
        // an earlier iteration may still land on "k" after a later one was
        // acknowledged (its statement was already on the wire), but never
        // on this iteration's key.
        let ack = format!("ack{i}");
        let work = async move {
            match i % 4 {
                0 => {
                    let mut tx = s2.begin().await?;
                    tx.set("k", i.to_string()).await?;
                    tx.set(&ack, i.to_string()).await?;
                    tx.commit().await
                }
                1 => {
                    s2.transaction(async |tx| {
                        tx.set("k", i.to_string()).await?;
                        tx.set(&ack, i.to_string()).await
                    })
                    .await
                }
                2 => {
                    s2.set("k", i.to_string()).await?;
                    s2.set(&ack, i.to_string()).await
                }
                _ => s2.get("k").await.map(drop),
            }
        };
        // A write the store acknowledged must be visible to everyone at once:
        // one that landed in a transaction left open on a pooled connection
        // would not be.
        if let Ok(Ok(())) = tokio::time::timeout(budget, work).await
            && i % 4 != 3
        {
            let seen: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT convert_from(value, 'UTF8') FROM {table} WHERE key = $1"
            )))
            .bind(format!("ack{i}"))
            .fetch_optional(&mut observer)
            .await
            .unwrap();
            assert_eq!(
                seen,
                Some(i.to_string()),
                "iteration {i}: acknowledged write not visible"
            );
        }
    }
    // Closing a cancelled connection happens in a background task: give it a moment.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stuck: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgkv_tx_cancel' \
         AND state LIKE 'idle in transaction%'",
    )
    .fetch_one(&pgkv_suite::admin(&s))
    .await
    .unwrap();
    assert_eq!(stuck, 0, "connections left inside a transaction");
    // Both of the store's connections can write (an aborted transaction could
    // not, and one stuck inside a transaction would hide the write).
    for round in 0..5 {
        let (mut t1, mut t2) = (s.begin().await.unwrap(), s.begin().await.unwrap());
        t1.set(format!("probe1:{round}"), "x").await.unwrap();
        t2.set(format!("probe2:{round}"), "x").await.unwrap();
        t1.commit().await.unwrap();
        t2.commit().await.unwrap();
        assert!(s.exists(format!("probe1:{round}")).await.unwrap());
        assert!(s.exists(format!("probe2:{round}")).await.unwrap());
    }
    // And the store works, with a value from some completed write.
    let v: i64 = s.get_string("k").await.unwrap().unwrap().parse().unwrap();
    assert!((0..1_000).contains(&v));
    s.transaction(async |tx| tx.set("k", "done").await).await.unwrap();
    assert_eq!(s.get_string("k").await.unwrap().as_deref(), Some("done"));
}

/// Found by the model-based test: a float increment refused by the server
/// aborts the transaction, and commit must say so (before the fix it
/// returned Ok while the server rolled everything back).
#[tokio::test]
async fn a_refused_float_increment_aborts_and_commit_says_so() {
    let s = pgkv_suite::store("tx_float_abort").await;
    s.set("f", "not a float").await.unwrap();
    let mut tx = s.begin().await.unwrap();
    tx.set("written", "in tx").await.unwrap();
    assert!(matches!(
        tx.increment_float("f", 1.0).await,
        Err(pgkv::Error::NotAFloat { .. })
    ));
    assert!(matches!(tx.commit().await, Err(pgkv::Error::TransactionAborted)));
    assert_eq!(s.get("written").await.unwrap(), None);
}
