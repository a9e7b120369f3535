//! The fifteen failures an adversarial suite found (cancellation, lock
//! waits, commit outcomes, limits that panic), each as the exact scenario it
//! reported. Every test here failed before its fix.

use std::time::{Duration, Instant};

use pgkv::{Config, Error, KvRecord, MAX_CONNECTIONS, MAX_VALUE_SIZE, Store, TableType, TtlCleanupStrategy};
use pgkv_suite::{config, database_url, force_expire, raw_row_count, store_with, table_of, unique_table};
use serde::{Deserialize, Serialize};
use sqlx::{Connection, Executor, PgConnection};

/// Another session that holds row locks.
struct Locker(PgConnection);

impl Locker {
    /// Opens a transaction that holds `key` of `store`'s table `FOR UPDATE`.
    async fn hold(store: &Store, key: &str) -> Locker {
        let mut conn = PgConnection::connect(&database_url()).await.unwrap();
        conn.execute("BEGIN").await.unwrap();
        let sql = format!("SELECT 1 FROM {} WHERE key = $1 FOR UPDATE", table_of(store));
        let held = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(key)
            .execute(&mut conn)
            .await
            .unwrap();
        assert_eq!(held.rows_affected(), 1, "no row {key:?} to lock");
        Locker(conn)
    }

    async fn commit(mut self) {
        self.0.execute("COMMIT").await.unwrap();
    }
}

/// Waits (bounded) until no connection of `store` is checked out: the one a
/// cancelled call left behind has been cleaned up or closed.
async fn until_all_returned(store: &Store) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while store.status().idle < store.status().size {
        assert!(
            Instant::now() < deadline,
            "a connection was never given back: {:?}",
            store.status()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

// --- 1-5: cancellation and connection reuse ---------------------------------

/// 1. A call cancelled while its statement waits for a lock must not make
/// the next, unrelated call wait for that statement.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_call_does_not_make_the_next_call_wait() {
    let s = store_with("reg_cancel_wait", |c| c.max_connections(4)).await;
    s.set("locked", "old").await.unwrap();
    s.set("free", "v").await.unwrap();
    let locker = Locker::hold(&s, "locked").await;

    let cut = tokio::time::timeout(Duration::from_millis(300), s.set("locked", "new")).await;
    assert!(cut.is_err(), "the set should have waited for the lock");
    let got = tokio::time::timeout(Duration::from_secs(5), s.get("free"))
        .await
        .expect("get waited behind the cancelled statement");
    assert_eq!(got.unwrap().as_deref(), Some(&b"v"[..]));

    // The cut-off statement was cancelled on the server, not left to apply
    // once the lock is free.
    until_all_returned(&s).await;
    locker.commit().await;
    assert_eq!(s.get_string("locked").await.unwrap().as_deref(), Some("old"));
}

/// 2. The error of a cut-off statement must not be delivered to the next
/// caller on that connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_failing_call_does_not_fail_the_next_caller() {
    let s = store_with("reg_cancel_err", |c| c.max_connections(1)).await;
    s.set("txt", "not a number").await.unwrap();
    s.set("other", "v").await.unwrap();

    let locker = Locker::hold(&s, "txt").await;
    let cut = tokio::time::timeout(Duration::from_millis(300), s.increment("txt", 1)).await;
    assert!(cut.is_err());
    locker.commit().await;
    assert_eq!(s.increment("fresh", 1).await.unwrap(), 1);

    let locker = Locker::hold(&s, "txt").await;
    let cut = tokio::time::timeout(Duration::from_millis(300), s.increment("txt", 1)).await;
    assert!(cut.is_err());
    locker.commit().await;
    assert_eq!(s.get_string("other").await.unwrap().as_deref(), Some("v"));
    assert_eq!(
        s.get_string("txt").await.unwrap().as_deref(),
        Some("not a number")
    );
}

/// 3. A transaction dropped while a statement waits for a lock must release
/// the locks it already holds, without waiting for the other session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_blocked_transaction_releases_its_locks() {
    let s = store_with("reg_tx_drop", |c| c.max_connections(4)).await;
    s.set_many(&[("x", "0"), ("hot", "0")]).await.unwrap();
    let locker = Locker::hold(&s, "hot").await;

    let mut tx = s.begin().await.unwrap();
    tx.set("x", "in tx").await.unwrap();
    let cut = tokio::time::timeout(Duration::from_millis(200), tx.set("hot", "in tx")).await;
    assert!(cut.is_err());
    drop(tx);

    // The other session still holds "hot": x must be free anyway.
    tokio::time::timeout(Duration::from_secs(10), s.set("x", "after"))
        .await
        .expect("x is still locked by the dropped transaction")
        .unwrap();
    locker.commit().await;
    assert_eq!(s.get_string("x").await.unwrap().as_deref(), Some("after"));
    assert_eq!(s.get_string("hot").await.unwrap().as_deref(), Some("0"));
}

/// 4. A COMMIT whose connection is killed before its reply is
/// `OutcomeUnknown`: a caller retrying recoverable errors must not apply the
/// transaction twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_killed_in_flight_is_outcome_unknown() {
    let app = unique_table("reg_commit_kill");
    let s = store_with("reg_commit_kill", |c| c.application_name(&app)).await;
    let table = table_of(&s);
    let admin = sqlx::PgPool::connect(&database_url()).await.unwrap();
    // A deferred trigger makes COMMIT slow: it runs at commit time.
    let function = format!("\"{app}_slow\"");
    for ddl in [
        format!(
            "CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN PERFORM pg_sleep(30); RETURN NULL; END $$"
        ),
        format!(
            "CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT OR UPDATE ON {table} \
             DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION {function}()"
        ),
    ] {
        admin.execute(sqlx::AssertSqlSafe(ddl)).await.unwrap();
    }

    let mut tx = s.begin().await.unwrap();
    tx.set("k", "v").await.unwrap();
    let commit = tokio::spawn(tx.commit());
    // Kill the backend once it is running the COMMIT.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let killed: Option<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE application_name = $1 AND state = 'active' AND query = 'COMMIT'",
        )
        .bind(&app)
        .fetch_optional(&admin)
        .await
        .unwrap();
        if killed == Some(true) {
            break;
        }
        assert!(Instant::now() < deadline, "the COMMIT never showed up");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let outcome = commit.await.unwrap();
    assert!(
        matches!(outcome, Err(Error::OutcomeUnknown { .. })),
        "{outcome:?}"
    );
    admin
        .execute(sqlx::AssertSqlSafe(format!(
            "DROP TABLE {table}; DROP FUNCTION {function}()"
        )))
        .await
        .unwrap();
}

/// 5. A store on an application's pool gives its idle connections back on
/// a timer, not only when another call comes by.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_pool_gives_the_last_idle_connection_back() {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(10))
        .connect(&database_url())
        .await
        .unwrap();
    let s = Store::from_pool(
        pool.clone(),
        Config::new("").table_name(&unique_table("reg_from_pool")),
    )
    .await
    .unwrap();
    s.set("k", "v").await.unwrap();
    // The store keeps the connection about a second, then hands it back.
    let one: i32 = sqlx::query_scalar("SELECT 1").fetch_one(&pool).await.unwrap();
    assert_eq!(one, 1);
    // And borrows it again when called.
    assert_eq!(s.get_string("k").await.unwrap().as_deref(), Some("v"));
    s.delete_prefix("").await.unwrap();
}

// --- 6-8: reads never wait for a lock ----------------------------------------

/// 6. Under `OnRead`, reading an expired key that a writer's open
/// transaction holds returns at once (as under `Manual`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_of_an_expired_key_does_not_wait_for_a_writer() {
    let s = store_with("reg_read_wait", |c| {
        c.ttl_cleanup_strategy(TtlCleanupStrategy::OnRead)
    })
    .await;
    let hour = Duration::from_secs(3600);
    s.set_ex("k", "old", hour).await.unwrap();
    force_expire(&s, "k").await;
    let mut tx = s.begin().await.unwrap();
    tx.set("k", "new").await.unwrap();

    let bound = Duration::from_secs(5);
    let get = tokio::time::timeout(bound, s.get("k")).await.expect("get waited");
    assert_eq!(get.unwrap(), None);
    let many = tokio::time::timeout(bound, s.get_many(&["k", "k"]))
        .await
        .expect("get_many waited");
    assert_eq!(many.unwrap(), vec![None, None]);
    let exists = tokio::time::timeout(bound, s.exists("k"))
        .await
        .expect("exists waited");
    assert!(!exists.unwrap());
    let ttl = tokio::time::timeout(bound, s.ttl("k")).await.expect("ttl waited");
    assert_eq!(ttl.unwrap(), None);

    tx.commit().await.unwrap();
    assert_eq!(s.get_string("k").await.unwrap().as_deref(), Some("new"));
}

/// 7. Two transactions that each wrote over an expired row and then read
/// the other's key must not deadlock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crossing_reads_do_not_deadlock() {
    let s = store_with("reg_deadlock", |c| c.max_connections(4)).await;
    let hour = Duration::from_secs(3600);
    s.set_many_ex(&[("k1", "old"), ("k2", "old")], hour)
        .await
        .unwrap();
    force_expire(&s, "k1").await;
    force_expire(&s, "k2").await;

    let mut a = s.begin().await.unwrap();
    let mut b = s.begin().await.unwrap();
    a.set("k1", "a").await.unwrap();
    b.set("k2", "b").await.unwrap();
    let (read_a, read_b) = tokio::join!(a.get("k2"), b.get("k1"));
    assert_eq!(read_a.unwrap(), None);
    assert_eq!(read_b.unwrap(), None);
    a.commit().await.unwrap();
    b.commit().await.unwrap();
    assert_eq!(
        s.get_many(&["k1", "k2"]).await.unwrap(),
        vec![Some(b"a".to_vec()), Some(b"b".to_vec())]
    );
}

/// 8. A read-only session can read under `OnRead` (the reads fall back to
/// plain SELECTs, and expired keys are still absent).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_session_can_read_under_on_read() {
    let writer = store_with("reg_read_only", |c| c).await;
    let hour = Duration::from_secs(3600);
    writer.set_many(&[("a", "1"), ("b", "2")]).await.unwrap();
    writer.set_ex("gone", "x", hour).await.unwrap();
    force_expire(&writer, "gone").await;

    let url = database_url();
    let sep = if url.contains('?') { '&' } else { '?' };
    let read_only_url = format!("{url}{sep}options=-c%20default_transaction_read_only%3Don");
    let table = table_of(&writer);
    let name = table.trim_start_matches("\"public\".\"").trim_end_matches('"');
    let reader = Store::with_config(Config::new(read_only_url).table_name(name))
        .await
        .unwrap();
    assert_eq!(reader.get_string("a").await.unwrap().as_deref(), Some("1"));
    assert_eq!(reader.get("gone").await.unwrap(), None);
    assert_eq!(
        reader.get_many(&["a", "gone", "b"]).await.unwrap(),
        vec![Some(b"1".to_vec()), None, Some(b"2".to_vec())]
    );
    assert!(reader.exists("b").await.unwrap());
    assert!(!reader.exists("gone").await.unwrap());
    assert_eq!(reader.ttl("a").await.unwrap(), None);
    assert_eq!(reader.count(pgkv::ScanOptions::new()).await.unwrap(), 2);
    let tx_read = reader.transaction(async |tx| tx.get("a").await).await.unwrap();
    assert_eq!(tx_read.as_deref(), Some(&b"1"[..]));
    // Writes are refused by the server, as they should be.
    assert_eq!(reader.set("c", "3").await.unwrap_err().code(), Some("25006"));
    // The expired row is still there for a writer's sweep.
    assert_eq!(raw_row_count(&writer).await, 3);
}

// --- 9-15: limits and configuration ------------------------------------------

/// 9. `acquire_timeout(Duration::MAX)` is accepted and nothing panics.
#[tokio::test]
async fn an_unbounded_acquire_timeout_does_not_panic() {
    let s = store_with("reg_acquire_max", |c| c.acquire_timeout(Duration::MAX)).await;
    s.set("k", "v").await.unwrap();
    let one: i32 = sqlx::query_scalar("SELECT 1").fetch_one(s.pool()).await.unwrap();
    assert_eq!(one, 1);
    assert_eq!(s.get_string("k").await.unwrap().as_deref(), Some("v"));
}

/// 10. `max_connections(u32::MAX)` is refused before anything is
/// allocated; the largest accepted size works, `pool()` included.
#[tokio::test]
async fn max_connections_beyond_postgres_is_refused() {
    let err = Store::with_config(config("reg_max_conns").max_connections(u32::MAX))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidConfig(_)), "{err:?}");
    let s = store_with("reg_max_conns", |c| c.max_connections(MAX_CONNECTIONS)).await;
    s.set("k", "v").await.unwrap();
    let one: i32 = sqlx::query_scalar("SELECT 1").fetch_one(s.pool()).await.unwrap();
    assert_eq!(one, 1);
    assert_eq!(s.status().max, MAX_CONNECTIONS as usize);
}

/// 11. Cleanup tasks with `Duration::MAX` never panic in their jitter, and
/// tasks started together do not share one.
#[tokio::test]
async fn cleanup_tasks_with_duration_max_do_not_panic() {
    let s = store_with("reg_cleanup_max", |c| c).await;
    // About half of these panicked at their first poll.
    for _ in 0..64 {
        let first_poll = tokio::time::timeout(Duration::from_millis(1), s.cleanup_task(Duration::MAX)).await;
        assert!(first_poll.is_err(), "the task never completes");
    }
    let handles: Vec<_> = (0..8).map(|_| s.spawn_cleanup(Duration::MAX)).collect();
    for handle in handles {
        assert!(!handle.is_finished());
        handle.shutdown().await;
    }
}

/// 12. The value-size cap is reachable: a value of exactly `MAX_VALUE_SIZE`
/// round-trips; beyond the cap the config is refused, and a batch over the
/// protocol's limit is refused before any SQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_value_size_cap_is_reachable() {
    let err = Store::with_config(config("reg_value_cap").max_value_size((1 << 30) - 1))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidConfig(_)), "{err:?}");

    let s = store_with("reg_value_cap", |c| c.max_value_size(MAX_VALUE_SIZE)).await;
    let mut big = vec![0u8; MAX_VALUE_SIZE];
    big[0] = 1;
    big[MAX_VALUE_SIZE - 1] = 2;
    s.set("big", &big).await.unwrap();
    let back = s.get("big").await.unwrap().expect("stored");
    assert!(back == big, "the value read back differs");
    drop(back);

    big.push(0);
    let err = s.set("bigger", &big).await.unwrap_err();
    assert!(matches!(err, Error::ValueTooLarge { .. }), "{err:?}");
    big.pop();
    let err = s.set_many(&[("a", &big), ("b", &big)]).await.unwrap_err();
    assert!(matches!(err, Error::BatchTooLarge { .. }), "{err:?}");
    assert_eq!(raw_row_count(&s).await, 1);
}

/// 13. A relation already named `<table>_expires_at_idx` does not leave the
/// store's table without its expiry index.
#[tokio::test]
async fn the_expiry_index_is_made_even_when_its_name_is_taken() {
    let name = unique_table("reg_idx");
    let first = Store::with_config(config("x").table_name(&format!("{name}_expires_at_idx")))
        .await
        .unwrap();
    let second = Store::with_config(config("x").table_name(&name)).await.unwrap();
    let indexed: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_index i JOIN pg_attribute a \
         ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] \
         WHERE i.indrelid = to_regclass($1) AND a.attname = 'expires_at')",
    )
    .bind(table_of(&second))
    .fetch_one(second.pool())
    .await
    .unwrap();
    assert!(indexed, "{name} has no expiry index");
    assert!(second.explain_cleanup().await.unwrap().contains("Index"));
    drop(first);
}

/// 14. Asking for a Regular table over an existing UNLOGGED one (and the
/// reverse) is refused with a typed error; leaving the type unset uses the
/// table as it is.
#[tokio::test]
async fn a_table_of_the_wrong_type_is_refused() {
    let name = unique_table("reg_type");
    let unlogged = Store::with_config(config("x").table_name(&name)).await.unwrap();
    unlogged.set("k", "v").await.unwrap();
    let err = Store::with_config(config("x").table_name(&name).table_type(TableType::Regular))
        .await
        .unwrap_err();
    match &err {
        Error::TableTypeMismatch { found, wanted, .. } => {
            assert_eq!((*found, *wanted), (TableType::Unlogged, TableType::Regular));
            assert!(err.to_string().contains("SET LOGGED"), "{err}");
        }
        other => panic!("{other:?}"),
    }
    let as_is = Store::with_config(config("x").table_name(&name)).await.unwrap();
    assert_eq!(as_is.get_string("k").await.unwrap().as_deref(), Some("v"));

    let regular_name = unique_table("reg_type_regular");
    let regular = Config::new(database_url())
        .table_name(&regular_name)
        .table_type(TableType::Regular);
    Store::with_config(regular).await.unwrap();
    let err = Store::with_config(
        config("x")
            .table_name(&regular_name)
            .table_type(TableType::Unlogged),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            Error::TableTypeMismatch {
                found: TableType::Regular,
                ..
            }
        ),
        "{err:?}"
    );
}

#[derive(Debug, Serialize, Deserialize, PartialEq, pgkv::KvRecord)]
#[kv(prefix = "reading:")]
struct Reading {
    #[kv(key)]
    id: u32,
    celsius: f64,
}

/// 15. A value JSON cannot hold (NaN, infinities) is refused at `set`, not
/// stored as `null` to read back as an error or as `None`.
#[tokio::test]
async fn non_finite_floats_are_refused_at_set() {
    let s = store_with("reg_nan", |c| c).await;
    let floats = s.typed::<f64>();
    let err = floats.set("nan", &f64::NAN).await.unwrap_err();
    assert!(matches!(err, Error::Json { .. }), "{err:?}");
    let maybe = s.typed::<Option<f64>>();
    let err = maybe.set("inf", &Some(f64::INFINITY)).await.unwrap_err();
    assert!(matches!(err, Error::Json { .. }), "{err:?}");
    let err = maybe
        .set_many(&[("ok", Some(1.5)), ("neg", Some(f64::NEG_INFINITY))])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Json { .. }), "{err:?}");
    let record = Reading {
        id: 1,
        celsius: f64::NAN,
    };
    assert!(matches!(record.save(&s).await, Err(Error::Json { .. })));
    assert_eq!(raw_row_count(&s).await, 0, "a refused value was stored");

    // Finite values, including the extremes, read back equal.
    floats.set("max", &f64::MAX).await.unwrap();
    assert_eq!(floats.get("max").await.unwrap(), Some(f64::MAX));
    maybe.set("none", &None).await.unwrap();
    assert_eq!(maybe.get("none").await.unwrap(), Some(None));
    let record = Reading {
        id: 2,
        celsius: -40.0,
    };
    record.save(&s).await.unwrap();
    assert_eq!(Reading::get(&s, "2").await.unwrap(), Some(record));
}
