//! Fenced locks: tokens only grow (across release, expiry, deletion and a
//! table emptied as by a crash), one holder at a time under contention, and
//! only the current holder can release or extend.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use pgkv::{Error, FencingToken, KvCommands, Store};
use pgkv_suite::{config, store, table_of, unique_table};

const LEASE: Duration = Duration::from_secs(60);

/// Takes `key` from whoever holds it once its `lease` runs out: retries until
/// the grant, the event the test waits for.
async fn take_after_expiry(s: &Store, key: &str) -> pgkv::Lock {
    loop {
        if let Some(lock) = s.try_lock(key, LEASE).await.unwrap() {
            return lock;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_rounds_over_32_tasks_one_holder_at_a_time_tokens_increasing() {
    const TASKS: usize = 32;
    const ROUNDS: usize = 1_000;
    let s = store("lock_rounds").await;
    let claimed = Arc::new(AtomicUsize::new(0));
    let busy = Arc::new(AtomicBool::new(false));
    // Tokens in the order the critical sections ran (that order is the
    // lock's: each index is taken while holding it).
    let granted = Arc::new(std::sync::Mutex::new(vec![None; ROUNDS]));
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let (s, claimed, busy, granted) = (s.clone(), claimed.clone(), busy.clone(), granted.clone());
        tasks.push(tokio::spawn(async move {
            let mut rounds = 0;
            loop {
                let lock = s
                    .lock("job", LEASE, Duration::MAX)
                    .await
                    .unwrap()
                    .expect("waits without end");
                assert!(!busy.swap(true, Ordering::SeqCst), "two holders at once");
                let round = claimed.fetch_add(1, Ordering::SeqCst);
                let done = round >= ROUNDS;
                if !done {
                    // The guarded resource: written with the token, read back.
                    s.set("guarded", lock.token().to_string()).await.unwrap();
                    let read = s.get_string("guarded").await.unwrap();
                    assert_eq!(
                        read,
                        Some(lock.token().to_string()),
                        "another holder wrote meanwhile"
                    );
                    granted.lock().unwrap()[round] = Some(lock.token());
                    rounds += 1;
                }
                busy.store(false, Ordering::SeqCst);
                assert!(s.unlock(&lock).await.unwrap(), "the holder releases its own lock");
                if done {
                    return rounds;
                }
            }
        }));
    }
    let mut total = 0;
    for task in tasks {
        total += task.await.unwrap();
    }
    assert_eq!(total, ROUNDS);
    let granted: Vec<FencingToken> = granted.lock().unwrap().iter().map(|t| t.unwrap()).collect();
    assert_eq!(granted.len(), ROUNDS);
    for pair in granted.windows(2) {
        assert!(pair[0] < pair[1], "tokens went {} then {}", pair[0], pair[1]);
    }
}

#[tokio::test]
async fn a_holder_paused_past_its_lease_cannot_release_or_extend() {
    let s = store("lock_paused").await;
    let paused = s.try_lock("l", Duration::from_millis(1)).await.unwrap().unwrap();
    let next = take_after_expiry(&s, "l").await;
    assert!(next.token() > paused.token());
    assert!(!s.unlock(&paused).await.unwrap());
    assert!(!s.extend_lock(&paused, LEASE).await.unwrap());
    // The new holder still holds it.
    assert_eq!(s.try_lock("l", LEASE).await.unwrap(), None);
    assert!(s.extend_lock(&next, LEASE).await.unwrap());
    assert!(s.unlock(&next).await.unwrap());
    // Released once: a second release finds no lease.
    assert!(!s.unlock(&next).await.unwrap());
    let after = s.try_lock("l", LEASE).await.unwrap().unwrap();
    assert!(after.token() > next.token());
}

#[tokio::test]
async fn a_lease_that_ran_out_without_a_new_holder_cannot_be_extended() {
    let s = store("lock_lapsed").await;
    let lapsed = s.try_lock("l", Duration::from_millis(1)).await.unwrap().unwrap();
    let next = take_after_expiry(&s, "l").await;
    assert!(s.unlock(&next).await.unwrap());
    assert!(!s.extend_lock(&lapsed, LEASE).await.unwrap());
    assert!(!s.unlock(&lapsed).await.unwrap());
}

#[tokio::test]
async fn tokens_grow_across_release_deletion_and_an_emptied_table() {
    let s = store("lock_grow").await;
    let mut last = s.try_lock("a", LEASE).await.unwrap().unwrap().token();
    // A different lock of the same table: still above every earlier grant.
    let b = s.try_lock("b", LEASE).await.unwrap().unwrap();
    assert!(b.token() > last);
    assert!(s.unlock(&b).await.unwrap());
    last = b.token();
    let again = s.try_lock("b", LEASE).await.unwrap().unwrap();
    assert!(again.token() > last);
    last = again.token();
    // Someone deletes the lock row: the next grant is still higher.
    assert!(s.delete("b").await.unwrap());
    let fresh = s.try_lock("b", LEASE).await.unwrap().unwrap();
    assert!(fresh.token() > last);
    last = fresh.token();
    // An UNLOGGED table is emptied by a crash; TRUNCATE does the same to it.
    // The sequence is not part of the table, so tokens keep growing.
    let truncate = format!("TRUNCATE {}", table_of(&s));
    sqlx::query(sqlx::AssertSqlSafe(truncate))
        .execute(&pgkv_suite::admin(&s))
        .await
        .unwrap();
    let after_crash = s.try_lock("b", LEASE).await.unwrap().unwrap();
    assert!(after_crash.token() > last);
    assert_eq!(
        s.get_string("b")
            .await
            .unwrap()
            .map(|v| v.starts_with(&format!("{} ", after_crash.token()))),
        Some(true)
    );
}

#[tokio::test]
async fn a_lock_taken_in_a_transaction_holds_only_if_it_commits() {
    let s = store("lock_tx").await;
    let mut tx = s.begin().await.unwrap();
    let rolled_back = tx.try_lock("l", LEASE).await.unwrap().unwrap();
    tx.rollback().await.unwrap();
    assert!(!s.unlock(&rolled_back).await.unwrap());
    let committed = s
        .transaction(async |tx| tx.try_lock("l", LEASE).await)
        .await
        .unwrap()
        .unwrap();
    assert!(committed.token() > rolled_back.token());
    assert_eq!(s.try_lock("l", LEASE).await.unwrap(), None);
    // Generic code sees the same commands.
    async fn release(mut kv: impl KvCommands, lock: &pgkv::Lock) -> bool {
        kv.unlock(lock).await.unwrap()
    }
    assert!(release(&s, &committed).await);
}

#[tokio::test]
async fn bad_input_and_foreign_values_are_typed_errors_that_change_nothing() {
    let s = store("lock_bad").await;
    for ttl in [
        Duration::ZERO,
        Duration::MAX,
        pgkv::MAX_TTL + Duration::from_secs(1),
    ] {
        assert!(matches!(
            s.try_lock("l", ttl).await,
            Err(Error::InvalidTtl { .. })
        ));
    }
    assert!(matches!(s.try_lock("", LEASE).await, Err(Error::EmptyKey)));
    assert!(matches!(
        s.lock("l", Duration::ZERO, Duration::MAX).await,
        Err(Error::InvalidTtl { .. })
    ));
    assert!(!s.exists("l").await.unwrap());
    s.set("plain", "hello").await.unwrap();
    assert!(matches!(
        s.try_lock("plain", LEASE).await,
        Err(Error::WrongKind {
            expected: "a lock",
            ..
        })
    ));
    assert_eq!(s.get_string("plain").await.unwrap().as_deref(), Some("hello"));
    // An expired value of another kind is absent: the lock takes its place.
    s.set_ex("old", "x", Duration::from_secs(60)).await.unwrap();
    pgkv_suite::force_expire(&s, "old").await;
    let lock = s.try_lock("old", LEASE).await.unwrap().unwrap();
    assert_eq!(s.ttl("old").await.unwrap(), None, "a lock row never expires");
    let held = s.try_lock("l", LEASE).await.unwrap().unwrap();
    let extend = s.extend_lock(&held, Duration::ZERO).await;
    assert!(matches!(extend, Err(Error::InvalidTtl { .. })));
    assert!(s.unlock(&lock).await.unwrap());
    // A bounded wait on a held lock ends with None.
    assert_eq!(s.lock("l", LEASE, Duration::from_millis(20)).await.unwrap(), None);
    assert_eq!(s.lock("l", LEASE, Duration::ZERO).await.unwrap(), None);
}

#[tokio::test]
async fn a_table_made_before_locks_gets_its_sequence_or_a_clear_error() {
    let name = unique_table("lock_old");
    let first = Store::with_config(config("unused").table_name(&name))
        .await
        .unwrap();
    first.set("k", "v").await.unwrap();
    let drop = format!("DROP SEQUENCE \"{name}_fence_seq\"");
    sqlx::query(sqlx::AssertSqlSafe(drop))
        .execute(&pgkv_suite::admin(&first))
        .await
        .unwrap();
    // Not allowed to create anything: every other command works, locks say why.
    let strict = Store::with_config(config("unused").table_name(&name).auto_create_table(false))
        .await
        .unwrap();
    assert_eq!(strict.get_string("k").await.unwrap().as_deref(), Some("v"));
    match strict.try_lock("l", LEASE).await {
        Err(Error::FenceSequenceMissing { sequence: named }) => assert!(named.contains("_fence_seq")),
        other => panic!("expected FenceSequenceMissing, got {other:?}"),
    }
    assert!(!strict.exists("l").await.unwrap());
    // Inside a transaction the failure aborts it; the error is the same.
    let mut tx = strict.begin().await.unwrap();
    assert!(matches!(
        tx.try_lock("l", LEASE).await,
        Err(Error::FenceSequenceMissing { .. })
    ));
    assert!(matches!(tx.commit().await, Err(Error::TransactionAborted)));
    // Allowed (the default): the first lock creates the sequence.
    let lenient = Store::with_config(config("unused").table_name(&name))
        .await
        .unwrap();
    let lock = lenient.try_lock("l", LEASE).await.unwrap().unwrap();
    assert!(lenient.unlock(&lock).await.unwrap());
    assert!(strict.try_lock("l", LEASE).await.unwrap().unwrap().token() > lock.token());
}

#[tokio::test]
async fn the_migrations_and_schema_sql_create_the_sequence() {
    // The embedded migrations, in a schema of their own.
    let schema = unique_table("lock_mig");
    let admin = sqlx::PgPool::connect(&pgkv_suite::database_url()).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&admin)
        .await
        .unwrap();
    let options: sqlx::postgres::PgConnectOptions = pgkv_suite::database_url().parse().unwrap();
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect_with(options.options([("search_path", schema.as_str())]))
        .await
        .unwrap();
    pgkv::MIGRATOR.run(&pool).await.unwrap();
    let s = Store::from_pool(
        pool,
        pgkv::Config::new("").schema(&schema).auto_create_table(false),
    )
    .await
    .unwrap();
    let first = s.try_lock("l", LEASE).await.unwrap().unwrap();
    assert!(s.unlock(&first).await.unwrap());
    // schema_sql, run by hand.
    let table = unique_table("lock_ddl");
    let ddl = pgkv::schema_sql(&pgkv::Config::new("").table_name(&table)).unwrap();
    assert!(ddl.contains(&format!("CREATE SEQUENCE IF NOT EXISTS \"{table}_fence_seq\"")));
    sqlx::raw_sql(sqlx::AssertSqlSafe(ddl))
        .execute(&admin)
        .await
        .unwrap();
    let s = Store::from_pool(
        admin,
        pgkv::Config::new("").table_name(&table).auto_create_table(false),
    )
    .await
    .unwrap();
    assert!(s.try_lock("l", LEASE).await.unwrap().is_some());
}
