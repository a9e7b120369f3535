//! Namespaces: lifecycle, exact isolation, the full API on a handle, limits
//! that reject (exact under concurrency) or evict, and deletion under load.
//! Namespaces share one registry per schema, so every test names its own.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use pgkv::{
    Error, KvCommands, KvRecord, LimitPolicy, NamespaceConfig, ScanOptions, TableType, TtlCleanupStrategy,
};
use pgkv_suite::{admin, raw_row_count, store, table_of, unique_table};
use serde::{Deserialize, Serialize};

/// Namespaces do not exist on Citus (their limits use triggers, which
/// Citus refuses on distributed tables): there every test here says it did
/// not run, and `tests/citus/routing.rs` checks the typed error instead.
fn not_on_citus(test: &str) -> bool {
    pgkv_suite::not_on_citus(
        &format!("namespaces::{test}"),
        "namespaces are not supported on Citus (Error::UnsupportedOnCitus)",
    )
}

fn name(tag: &str) -> String {
    unique_table(tag)
}

fn reject(keys: u64) -> NamespaceConfig {
    NamespaceConfig::new().policy(LimitPolicy::Reject).max_keys(keys)
}

#[tokio::test]
async fn lifecycle_and_typed_errors() {
    if not_on_citus("lifecycle_and_typed_errors") {
        return;
    }
    let s = store("ns_life").await;
    let n = name("ns_life");
    assert!(matches!(
        s.namespace(&n).await,
        Err(Error::NamespaceMissing { .. })
    ));
    let ns = s
        .create_namespace(&n, NamespaceConfig::new().table_type(TableType::Regular))
        .await
        .unwrap();
    assert_eq!(ns.namespace_name(), Some(n.as_str()));
    assert_eq!(s.namespace_name(), None);
    let again = s.create_namespace(&n, NamespaceConfig::new()).await;
    assert!(matches!(again, Err(Error::NamespaceExists { name }) if name == n));
    ns.set("k", "v").await.unwrap();
    // Another handle (as another process would open it) sees the same keys.
    let opened = s.namespace(&n).await.unwrap();
    assert_eq!(opened.get_string("k").await.unwrap().as_deref(), Some("v"));
    let listed = s.namespaces().await.unwrap();
    let info = listed.iter().find(|i| i.name == n).expect("listed");
    assert_eq!(info.config, NamespaceConfig::new().table_type(TableType::Regular));
    // Regular as asked.
    let kind: String = sqlx::query_scalar(
        "SELECT c.relpersistence::text FROM pg_class c JOIN pgkv_namespaces r ON c.relname = 'kvns_' || r.id WHERE r.name = $1",
    )
    .bind(&n)
    .fetch_one(&admin(&s))
    .await
    .unwrap();
    assert_eq!(kind, "p");

    s.delete_namespace(&n).await.unwrap();
    assert!(matches!(
        s.delete_namespace(&n).await,
        Err(Error::NamespaceMissing { .. })
    ));
    assert!(matches!(
        s.namespace(&n).await,
        Err(Error::NamespaceMissing { .. })
    ));
    assert!(matches!(ns.get("k").await, Err(Error::NamespaceMissing { name }) if name == n));
    assert!(matches!(
        opened.set("k", "v").await,
        Err(Error::NamespaceMissing { .. })
    ));
    assert!(!s.namespaces().await.unwrap().iter().any(|i| i.name == n));
}

#[tokio::test]
async fn bad_names_and_configs_are_refused_before_sql() {
    if not_on_citus("bad_names_and_configs_are_refused_before_sql") {
        return;
    }
    let s = store("ns_bad").await;
    for bad in [
        "",
        "1a",
        "a-b",
        "x\"; DROP TABLE kv_store; --",
        "ünï",
        &"n".repeat(64),
    ] {
        assert!(
            matches!(
                s.create_namespace(bad, NamespaceConfig::new()).await,
                Err(Error::InvalidConfig(_))
            ),
            "{bad:?}"
        );
        assert!(
            matches!(s.namespace(bad).await, Err(Error::InvalidConfig(_))),
            "{bad:?}"
        );
        assert!(
            matches!(s.delete_namespace(bad).await, Err(Error::InvalidConfig(_))),
            "{bad:?}"
        );
    }
    let n = name("ns_bad");
    for config in [
        reject(0),
        NamespaceConfig::new().policy(LimitPolicy::Evict).max_bytes(0),
        NamespaceConfig::new().max_keys(5),
        NamespaceConfig::new().policy(LimitPolicy::Evict),
        NamespaceConfig::new()
            .policy(LimitPolicy::Evict)
            .max_age(Duration::MAX),
        NamespaceConfig::new()
            .policy(LimitPolicy::Evict)
            .max_keys(u64::MAX),
    ] {
        assert!(matches!(
            s.create_namespace(&n, config).await,
            Err(Error::InvalidConfig(_))
        ));
    }
    assert!(
        matches!(s.namespace(&n).await, Err(Error::NamespaceMissing { .. })),
        "nothing was created"
    );
}

#[tokio::test]
async fn isolation_is_exact_whatever_the_keys_hold() {
    if not_on_citus("isolation_is_exact_whatever_the_keys_hold") {
        return;
    }
    let s = store("ns_iso").await;
    let (na, nb) = (name("ns_iso_a"), name("ns_iso_b"));
    let a = s.create_namespace(&na, NamespaceConfig::new()).await.unwrap();
    let b = s.create_namespace(&nb, NamespaceConfig::new()).await.unwrap();
    // Keys that would fool a prefix layout: separators, LIKE wildcards,
    // control bytes, the other namespace's name.
    let keys = ["k", "%", "_", "a:b", "\u{1}x", &format!("{nb}:k"), "ns:\u{7f}"];
    for (i, key) in keys.iter().enumerate() {
        s.set(key, format!("base{i}")).await.unwrap();
        a.set(key, format!("a{i}")).await.unwrap();
    }
    b.set("only_b", "b").await.unwrap();
    for (i, key) in keys.iter().enumerate() {
        assert_eq!(a.get_string(key).await.unwrap(), Some(format!("a{i}")));
        assert_eq!(s.get_string(key).await.unwrap(), Some(format!("base{i}")));
        assert_eq!(b.get(key).await.unwrap(), None);
    }
    assert_eq!(a.count(ScanOptions::new()).await.unwrap(), keys.len() as u64);
    assert_eq!(b.count(ScanOptions::new()).await.unwrap(), 1);
    assert_eq!(
        b.keys(ScanOptions::new()).await.unwrap(),
        vec!["only_b".to_owned()]
    );
    assert_eq!(a.delete_prefix("").await.unwrap(), keys.len() as u64);
    assert_eq!(s.count(ScanOptions::new()).await.unwrap(), keys.len() as u64);
    assert_eq!(b.count(ScanOptions::new()).await.unwrap(), 1);
    assert_eq!(s.cleanup_expired().await.unwrap(), 0);
    s.delete_namespace(&na).await.unwrap();
    s.delete_namespace(&nb).await.unwrap();
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, KvRecord)]
#[kv(prefix = "player:", ttl = 60)]
struct Player {
    #[kv(key)]
    id: u32,
    score: i64,
}

#[tokio::test]
async fn a_handle_has_the_whole_api() {
    if not_on_citus("a_handle_has_the_whole_api") {
        return;
    }
    let s = store("ns_api").await;
    let n = name("ns_api");
    let ns = s.create_namespace(&n, NamespaceConfig::new()).await.unwrap();
    // Records, typed values, generic code over the trait, transactions.
    Player { id: 1, score: 7 }.save(&ns).await.unwrap();
    assert_eq!(
        Player::get(&ns, "1").await.unwrap(),
        Some(Player { id: 1, score: 7 })
    );
    assert_eq!(Player::get(&s, "1").await.unwrap(), None);
    ns.typed::<Vec<u8>>().set("bytes", &vec![1, 2]).await.unwrap();
    assert_eq!(
        ns.typed::<Vec<u8>>().get("bytes").await.unwrap(),
        Some(vec![1, 2])
    );
    async fn bump(mut kv: impl KvCommands) -> pgkv::Result<i64> {
        kv.increment("n", 5).await
    }
    assert_eq!(bump(&ns).await.unwrap(), 5);
    ns.transaction(async |tx| {
        tx.increment("n", 1).await?;
        tx.set("in_tx", "yes").await
    })
    .await
    .unwrap();
    assert_eq!(ns.get_string("n").await.unwrap().as_deref(), Some("6"));
    assert_eq!(s.get("n").await.unwrap(), None);
    assert!(ns.set_nx_ex("lock", "me", Duration::from_secs(30)).await.unwrap());
    assert!(
        !ns.set_nx_ex("lock", "you", Duration::from_secs(30))
            .await
            .unwrap()
    );
    s.delete_namespace(&n).await.unwrap();
}

/// 64 tasks race to add keys to a namespace with room for 100: exactly 100
/// are written, and every other call got `LimitExceeded`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reject_is_exact_under_concurrency() {
    if not_on_citus("reject_is_exact_under_concurrency") {
        return;
    }
    let s = pgkv_suite::store_with("ns_race", |c| c.max_connections(16)).await;
    let n = name("ns_race");
    let ns = s.create_namespace(&n, reject(100)).await.unwrap();
    let (written, refused) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let tasks: Vec<_> = (0..64)
        .map(|t| {
            let (ns, written, refused) = (ns.clone(), written.clone(), refused.clone());
            tokio::spawn(async move {
                for i in 0..4 {
                    match ns.set(format!("t{t}:{i}"), "v").await {
                        Ok(()) => written.fetch_add(1, Ordering::Relaxed),
                        Err(Error::LimitExceeded {
                            limit: "max_keys",
                            max: 100,
                            ..
                        }) => refused.fetch_add(1, Ordering::Relaxed),
                        Err(e) => panic!("unexpected {e:?}"),
                    };
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(written.load(Ordering::Relaxed), 100);
    assert_eq!(refused.load(Ordering::Relaxed), 156);
    assert_eq!(raw_row_count(&ns).await, 100);
    // Full: overwriting an existing key is fine, a new key is not, and a
    // delete makes room for exactly one.
    let existing = ns.keys(ScanOptions::new().limit(1)).await.unwrap().remove(0);
    ns.set(&existing, "overwritten").await.unwrap();
    assert!(matches!(
        ns.set("new", "v").await,
        Err(Error::LimitExceeded { .. })
    ));
    let batch = [("new1", "v"), ("new2", "v")];
    assert!(matches!(
        ns.set_many(&batch).await,
        Err(Error::LimitExceeded { .. })
    ));
    assert!(ns.delete(&existing).await.unwrap());
    assert!(
        matches!(ns.set_many(&batch).await, Err(Error::LimitExceeded { .. })),
        "room for one, not two"
    );
    assert_eq!(
        ns.get("new1").await.unwrap(),
        None,
        "a refused batch writes nothing"
    );
    ns.set("new1", "v").await.unwrap();
    assert_eq!(raw_row_count(&ns).await, 100);
    // Inside a transaction the refusal aborts it.
    let mut tx = ns.begin().await.unwrap();
    assert!(matches!(
        tx.set("new3", "v").await,
        Err(Error::LimitExceeded { .. })
    ));
    assert!(matches!(tx.commit().await, Err(Error::TransactionAborted)));
    s.delete_namespace(&n).await.unwrap();
}

#[tokio::test]
async fn a_byte_quota_counts_keys_and_values() {
    if not_on_citus("a_byte_quota_counts_keys_and_values") {
        return;
    }
    let s = store("ns_bytes").await;
    let n = name("ns_bytes");
    let ns = s
        .create_namespace(
            &n,
            NamespaceConfig::new().policy(LimitPolicy::Reject).max_bytes(100),
        )
        .await
        .unwrap();
    ns.set("a", vec![0u8; 49]).await.unwrap(); // 50 bytes
    ns.set("b", vec![0u8; 49]).await.unwrap(); // 100 bytes: exactly full
    let err = ns.set("c", "").await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::LimitExceeded {
                limit: "max_bytes",
                max: 100,
                ..
            }
        ),
        "{err:?}"
    );
    // Growing a value past the quota is refused; shrinking one makes room.
    assert!(matches!(
        ns.set("a", vec![0u8; 50]).await,
        Err(Error::LimitExceeded { .. })
    ));
    assert_eq!(ns.strlen("a").await.unwrap(), 49);
    ns.set("a", vec![0u8; 9]).await.unwrap(); // 10 bytes
    ns.set("c", vec![0u8; 39]).await.unwrap(); // 40 bytes: full again
    assert!(matches!(
        ns.append("c", "x").await,
        Err(Error::LimitExceeded { .. })
    ));
    s.delete_namespace(&n).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evict_keeps_the_newest_within_the_limits() {
    if not_on_citus("evict_keeps_the_newest_within_the_limits") {
        return;
    }
    let s = pgkv_suite::store_with("ns_evict", |c| c.cleanup_batch_size(40)).await;
    let n = name("ns_evict");
    let ns = s
        .create_namespace(
            &n,
            NamespaceConfig::new().policy(LimitPolicy::Evict).max_keys(100),
        )
        .await
        .unwrap();
    // One statement per key: each gets its own creation time, in order.
    for i in 0..250 {
        ns.set(format!("k{i:03}"), "v").await.unwrap();
    }
    assert_eq!(raw_row_count(&ns).await, 250, "writes always succeed");
    assert_eq!(ns.evict_now().await.unwrap(), 150);
    let kept = ns.keys(ScanOptions::new()).await.unwrap();
    let newest: Vec<String> = (150..250).map(|i| format!("k{i:03}")).collect();
    assert_eq!(kept, newest);
    assert_eq!(ns.evict_now().await.unwrap(), 0);
    // Other handles: nothing to evict.
    assert_eq!(s.evict_now().await.unwrap(), 0);

    // The cleanup task evicts by itself.
    for i in 250..300 {
        ns.set(format!("k{i:03}"), "v").await.unwrap();
    }
    let handle = ns.spawn_cleanup(Duration::from_millis(20));
    while handle.stats().rows_evicted < 50 {
        assert_eq!(handle.stats().failed_passes, 0, "{:?}", handle.stats());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    handle.shutdown().await;
    assert_eq!(raw_row_count(&ns).await, 100);
    assert_eq!(ns.get("k199").await.unwrap(), None);
    assert!(ns.exists("k200").await.unwrap());
    s.delete_namespace(&n).await.unwrap();
}

#[tokio::test]
async fn evict_by_bytes_and_by_age() {
    if not_on_citus("evict_by_bytes_and_by_age") {
        return;
    }
    let s = store("ns_evict2").await;
    let nb = name("ns_evict_bytes");
    let by_bytes = s
        .create_namespace(
            &nb,
            NamespaceConfig::new().policy(LimitPolicy::Evict).max_bytes(1_000),
        )
        .await
        .unwrap();
    for i in 0..30 {
        by_bytes.set(format!("k{i:02}"), vec![0u8; 97]).await.unwrap(); // 100 bytes each
    }
    assert_eq!(by_bytes.evict_now().await.unwrap(), 20);
    let kept = by_bytes.keys(ScanOptions::new()).await.unwrap();
    assert_eq!(kept, (20..30).map(|i| format!("k{i:02}")).collect::<Vec<_>>());

    let na = name("ns_evict_age");
    let by_age = s
        .create_namespace(
            &na,
            NamespaceConfig::new()
                .policy(LimitPolicy::Evict)
                .max_age(Duration::from_secs(3600))
                .ttl_cleanup_strategy(TtlCleanupStrategy::Manual),
        )
        .await
        .unwrap();
    for i in 0..10 {
        by_age.set(format!("k{i}"), "v").await.unwrap();
    }
    // Age five keys by two hours.
    let sql = format!(
        "UPDATE {} SET created_at = created_at - interval '2 hours' WHERE key < 'k5'",
        table_of(&by_age)
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(&admin(&s))
        .await
        .unwrap();
    assert_eq!(by_age.evict_now().await.unwrap(), 5);
    assert_eq!(by_age.count(ScanOptions::new()).await.unwrap(), 5);
    assert!(by_age.exists("k5").await.unwrap());
    s.delete_namespace(&nb).await.unwrap();
    s.delete_namespace(&na).await.unwrap();
}

/// A writer keeps writing while the namespace is deleted and created again
/// under the same name: after the delete it gets `NamespaceMissing`, never
/// another error, and none of its writes lands in the new namespace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_under_a_writer_never_leaks_into_a_new_namespace() {
    if not_on_citus("deleting_under_a_writer_never_leaks_into_a_new_namespace") {
        return;
    }
    let s = store("ns_del").await;
    let n = name("ns_del");
    let old = s.create_namespace(&n, NamespaceConfig::new()).await.unwrap();
    let writes = Arc::new(AtomicU64::new(0));
    let writer = {
        let (old, writes) = (old.clone(), writes.clone());
        tokio::spawn(async move {
            let mut i = 0u64;
            loop {
                match old.set(format!("w{i}"), "old").await {
                    Ok(()) => writes.fetch_add(1, Ordering::Relaxed),
                    Err(Error::NamespaceMissing { .. }) => return i,
                    Err(e) => panic!("unexpected {e:?}"),
                };
                i += 1;
            }
        })
    };
    while writes.load(Ordering::Relaxed) < 20 {
        tokio::task::yield_now().await;
    }
    s.delete_namespace(&n).await.unwrap();
    let new = s.create_namespace(&n, NamespaceConfig::new()).await.unwrap();
    let stopped_at = writer.await.unwrap();
    assert!(stopped_at >= 20);
    assert!(matches!(
        old.set("late", "old").await,
        Err(Error::NamespaceMissing { .. })
    ));
    assert_eq!(new.count(ScanOptions::new()).await.unwrap(), 0);
    assert_eq!(raw_row_count(&new).await, 0);
    s.delete_namespace(&n).await.unwrap();
}

/// Review findings: closing a handle leaves the store alone; a `Reject`
/// namespace's reads never wait for its writers; locks on a deleted
/// namespace say so and create nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handles_close_nothing_reads_never_wait_and_deleted_namespaces_stay_deleted() {
    if not_on_citus("handles_close_nothing_reads_never_wait_and_deleted_namespaces_stay_deleted") {
        return;
    }
    let s = store("ns_review").await;
    let n = name("ns_review");
    let ns = s.create_namespace(&n, reject(10)).await.unwrap();
    ns.close().await;
    ns.set("e", "v").await.unwrap();
    s.set("k", "v").await.unwrap();

    // A writer holds the namespace's usage row in an open transaction; a
    // read that meets an expired row does not wait for it.
    pgkv_suite::force_expire(&ns, "e").await;
    let mut writer = ns.begin().await.unwrap();
    writer.set("w", "v").await.unwrap();
    let read = tokio::time::timeout(Duration::from_secs(5), ns.get("e")).await;
    assert!(matches!(read, Ok(Ok(None))), "{read:?}");
    writer.commit().await.unwrap();

    let lock_sequences = |n: &str| {
        format!(
            "SELECT count(*) FROM pg_class c JOIN pgkv_namespaces r ON c.relname = 'kvns_' || r.id || '_fence_seq' WHERE r.name = '{n}'"
        )
    };
    let before: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(lock_sequences(&n)))
        .fetch_one(&admin(&s))
        .await
        .unwrap();
    assert_eq!(before, 1, "the namespace has its fencing sequence");
    let table = table_of(&ns);
    s.delete_namespace(&n).await.unwrap();
    assert!(matches!(
        ns.try_lock("l", Duration::from_secs(5)).await,
        Err(Error::NamespaceMissing { .. })
    ));
    let seq = format!("{}_fence_seq\"", table.trim_end_matches('"'));
    let left: Option<String> = sqlx::query_scalar("SELECT to_regclass($1)::text")
        .bind(&seq)
        .fetch_one(&admin(&s))
        .await
        .unwrap();
    assert_eq!(left, None, "no sequence was created for the deleted namespace");
}

/// A namespace's handle is a store: it snapshots and restores its own keys
/// only, and a `Reject` namespace's load is counted against its limit.
#[tokio::test]
async fn a_namespace_snapshots_its_own_keys() {
    if not_on_citus("a_namespace_snapshots_its_own_keys") {
        return;
    }
    let s = store("ns_snap").await;
    let n = name("ns_snap");
    let ns = s.create_namespace(&n, reject(3)).await.unwrap();
    ns.set_many(&[("a", "1"), ("b", "2")]).await.unwrap();
    s.set("base", "x").await.unwrap();
    let path = std::env::temp_dir().join(format!("{n}.pgkv"));
    let info = ns.save_snapshot(&path).await.unwrap();
    assert_eq!(info.rows, 2);
    ns.delete_many(&["a", "b"]).await.unwrap();
    ns.load_snapshot(&path, pgkv::LoadMode::Replace).await.unwrap();
    assert_eq!(
        ns.get_many(&["a", "b"]).await.unwrap(),
        vec![Some(b"1".to_vec()), Some(b"2".to_vec())]
    );
    assert_eq!(s.get_string("base").await.unwrap().as_deref(), Some("x"));
    // Two keys back in a namespace with room for three: one more fits, two do not.
    ns.set("c", "3").await.unwrap();
    assert!(matches!(ns.set("d", "4").await, Err(Error::LimitExceeded { .. })));
    std::fs::remove_file(&path).unwrap();
    s.delete_namespace(&n).await.unwrap();
}
