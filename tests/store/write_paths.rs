//! Every path that writes the table goes through the store's one exit
//! (`Shared::conclude`): the near-cache forgets what it held, so the store
//! reads its own writes at once, and a namespace's refusal is named
//! `LimitExceeded` whatever the path. The lists of writing commands come
//! from pgkv itself (`__private::write_commands`), so a new command without
//! a scenario here fails the suite.
//!
//! Also the get-or-compute lease as bookkeeping: it never takes a slot of a
//! namespace's quota, and any key `set` accepts is accepted.

use std::time::{Duration, SystemTime};

use pgkv::{
    BatchMode, ComputeOptions, Error, ExpireWhen, LimitPolicy, LoadMode, NamespaceConfig, NearCache, Quota,
    ScanOptions, SetOptions, Store, WarmRestart,
};
use pgkv_suite::{admin, config, table_of, unique_table};

use crate::near_cache::{Resume, channel, signal, wait_for};
use crate::snapshot::scratch;

const HOUR: Duration = Duration::from_secs(3600);

/// Commands a near-cached key can be written with, besides the list's
/// commands: the other public paths that write rows.
const OTHER_PATHS: &[&str] = &[
    "load_snapshot(Replace)",
    "load_snapshot(Merge)",
    "transaction commit",
    "transaction closure",
    "get_or_compute",
    "lock",
    "typed set",
    // Last: it needs a table without live rows.
    "warm_restart",
];

/// The live value of `key`, read with plain SQL beside the store: what
/// any read must answer.
async fn truth(s: &Store, key: &str) -> Option<Vec<u8>> {
    let sql = format!(
        "SELECT value FROM {} WHERE key = $1 AND (expires_at IS NULL OR expires_at > statement_timestamp())",
        table_of(s)
    );
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(key)
        .fetch_optional(&admin(s))
        .await
        .unwrap()
}

/// Writes `value` (expiring in an hour) under `key` with plain SQL, which
/// the near-cache cannot hear of while its listener is stopped.
async fn plant(s: &Store, key: &str, value: &str) {
    let sql = format!(
        "INSERT INTO {} (key, value, expires_at) VALUES ($1, $2, now() + interval '1 hour') \
         ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at",
        table_of(s)
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(key)
        .bind(value.as_bytes())
        .execute(&admin(s))
        .await
        .unwrap();
}

/// Runs the write path `path` on `key` (and `key:to` where it takes two).
/// `dir`: where snapshots go.
async fn write_through(s: &Store, path: &str, key: &str, dir: &std::path::Path) {
    let to = format!("{key}:to");
    let k = key;
    let v = "new";
    match path {
        "set" => s.set(k, v).await.unwrap(),
        "delete" => drop(s.delete(k).await.unwrap()),
        "set_with" => drop(s.set_with(k, v, SetOptions::new().previous()).await.unwrap()),
        "set_nx" => drop(s.set_nx(k, v).await.unwrap()),
        "replace" => drop(s.replace(k, v).await.unwrap()),
        "set_ex" => s.set_ex(k, v, HOUR).await.unwrap(),
        "set_nx_ex" => drop(s.set_nx_ex(k, v, HOUR).await.unwrap()),
        "get_ex" => drop(s.get_ex(k, 2 * HOUR).await.unwrap()),
        "expire" => drop(s.expire(k, 2 * HOUR).await.unwrap()),
        "expire_if" => drop(s.expire_if(k, 2 * HOUR, ExpireWhen::Always).await.unwrap()),
        "expire_at" => {
            let past = SystemTime::now() - Duration::from_secs(60);
            assert!(s.expire_at(k, past, ExpireWhen::Always).await.unwrap());
        }
        "get_persist" => drop(s.get_persist(k).await.unwrap()),
        "persist" => drop(s.persist(k).await.unwrap()),
        "set_many" => s.set_many(&[(k, v)]).await.unwrap(),
        "set_many_nx" => drop(s.set_many_nx(&[(k, v)]).await.unwrap()),
        "set_many_ex" => s.set_many_ex(&[(k, v)], HOUR).await.unwrap(),
        "delete_many" => drop(s.delete_many(&[k]).await.unwrap()),
        "set_many_with" => drop(s.set_many_with(&[(k, v)], BatchMode::BestEffort).await.unwrap()),
        "delete_many_with" => drop(s.delete_many_with(&[k], BatchMode::BestEffort).await.unwrap()),
        "increment" => drop(s.increment(k, 5).await.unwrap()),
        "increment_ex" => drop(s.increment_ex(k, 5, HOUR).await.unwrap()),
        "increment_float" => drop(s.increment_float(k, 0.5).await.unwrap()),
        "decrement" => drop(s.decrement(k, 5).await.unwrap()),
        "compare_and_swap" => drop(s.compare_and_swap(k, Some(b"old"), v).await.unwrap()),
        "get_and_set" => drop(s.get_and_set(k, v).await.unwrap()),
        "append" => drop(s.append(k, "+").await.unwrap()),
        "rename" => assert!(s.rename(k, &to).await.unwrap()),
        "rename_nx" => assert!(s.rename_nx(k, &to).await.unwrap()),
        "copy" => assert!(s.copy(&to, k, true).await.unwrap()),
        "get_and_delete" => drop(s.get_and_delete(k).await.unwrap()),
        "delete_prefix" => drop(s.delete_prefix(k).await.unwrap()),
        "delete_prefix_atomic" => drop(s.delete_prefix_atomic(k).await.unwrap()),
        "try_lock" => assert!(s.try_lock(k, HOUR).await.unwrap().is_some()),
        "unlock" | "extend_lock" => unreachable!("run with a lock of their own"),
        "rate_limit" => drop(s.rate_limit(k, 10, HOUR).await.unwrap()),
        "rate_limit_gcra" => drop(s.rate_limit_gcra(k, Quota::per(10, HOUR)).await.unwrap()),
        "load_snapshot(Replace)" | "load_snapshot(Merge)" => {
            let mode = if path.ends_with("(Replace)") {
                LoadMode::Replace
            } else {
                LoadMode::Merge
            };
            s.load_snapshot(dir.join("start.pgkv"), mode).await.unwrap();
        }
        "warm_restart" => {
            assert!(matches!(
                s.warm_restart(dir).await.unwrap(),
                WarmRestart::Restored { .. }
            ));
        }
        "transaction commit" => {
            let mut tx = s.begin().await.unwrap();
            tx.set(k, v).await.unwrap();
            // Read (and cached) from outside while the write is uncommitted.
            assert_eq!(s.get(k).await.unwrap().as_deref(), Some(&b"old"[..]));
            tx.commit().await.unwrap();
        }
        "transaction closure" => {
            s.transaction(async |tx| tx.set(k, v).await).await.unwrap();
        }
        "get_or_compute" => {
            let got = s
                .get_or_compute(k, ComputeOptions::new(HOUR), || async {
                    Ok::<_, std::io::Error>(b"computed".to_vec())
                })
                .await
                .unwrap();
            assert_eq!(got, b"computed");
        }
        "lock" => assert!(s.lock(k, HOUR, Duration::from_secs(5)).await.unwrap().is_some()),
        "typed set" => s.typed::<String>().set(k, &"typed".to_owned()).await.unwrap(),
        other => panic!("no write scenario for {other:?}: add one to tests/store/write_paths.rs"),
    }
}

/// How the key is laid out before the write: planted with plain SQL (the
/// near-cache does not hear of it) or absent.
fn seed(path: &str) -> Option<&'static str> {
    match path {
        "increment" | "increment_ex" | "increment_float" | "decrement" => Some("7"),
        // Absent keys: what these create (a cached "absent" must not survive).
        "set_nx" | "set_nx_ex" | "set_many_nx" | "try_lock" | "lock" | "rate_limit" | "rate_limit_gcra"
        | "get_or_compute" | "warm_restart" => None,
        _ => Some("old"),
    }
}

/// A store near-caching `k:` whose listener is subscribed.
async fn listening_store(tag: &str) -> Store {
    let s = Store::with_config(
        config(tag).near_cache(NearCache::new(["k:"]).max_staleness(10 * 60 * Duration::from_secs(1))),
    )
    .await
    .unwrap();
    wait_for(&s, "the listener", |st| st.listening).await;
    s
}

/// Stops the server process of `s`'s listener (`SIGSTOP`) until the guard drops.
async fn stop_listener(s: &Store) -> Resume {
    let pid: i32 = sqlx::query_scalar("SELECT pid FROM pg_stat_activity WHERE application_name = $1")
        .bind(format!("pgkv-near {}", channel(s)))
        .fetch_one(&admin(s))
        .await
        .unwrap();
    signal(pid, "-STOP");
    Resume(pid)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_write_path_is_read_at_once_through_a_near_cache_whose_listener_is_stopped() {
    if pgkv_suite::not_through_pooler(
        "write_paths::near_cache",
        "it stops the listener's server process by pid",
    ) {
        return;
    }
    let dir = scratch("wp_near");
    let s = listening_store("wp_near").await;
    // The snapshot the loads bring back: every key of the table as "start".
    plant(&s, "k:snap", "start").await;
    s.save_snapshot(dir.join("start.pgkv")).await.unwrap();
    s.delete("k:snap").await.unwrap();

    // From here no notification reaches the cache: only the store's own
    // after-write effect can keep it right.
    let _resume = stop_listener(&s).await;

    let mut paths: Vec<&str> = pgkv::__private::write_commands();
    paths.extend(OTHER_PATHS);
    let mut checked = 0;
    for (i, path) in paths.iter().copied().enumerate() {
        let key = match path {
            // Snapshot loads bring back the snapshot's key.
            p if p.starts_with("load_snapshot") || p == "warm_restart" => "k:snap".to_owned(),
            _ => format!("k:{i}"),
        };
        if path == "warm_restart" {
            sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {}", table_of(&s))))
                .execute(&admin(&s))
                .await
                .unwrap();
        }
        if path == "copy" {
            plant(&s, &format!("{key}:to"), "copied").await;
        }
        let lock = match path {
            "unlock" | "extend_lock" => Some(s.try_lock(&key, HOUR).await.unwrap().expect("free")),
            _ => None,
        };
        if let Some(value) = seed(path)
            && lock.is_none()
        {
            plant(&s, &key, value).await;
        }
        // Cached: the second read is a hit.
        let before = s.get(&key).await.unwrap();
        let hits = s.near_cache_stats().unwrap().hits;
        assert_eq!(s.get(&key).await.unwrap(), before, "{path}");
        let cached = s.near_cache_stats().unwrap();
        assert_eq!(
            cached.hits,
            hits + 1,
            "{path}: the key is served from the near-cache"
        );

        match (path, &lock) {
            ("unlock", Some(lock)) => assert!(s.unlock(lock).await.unwrap()),
            ("extend_lock", Some(lock)) => assert!(s.extend_lock(lock, 2 * HOUR).await.unwrap()),
            _ => write_through(&s, path, &key, &dir).await,
        }
        let after = s.near_cache_stats().unwrap();
        assert!(
            after.flushes + after.own_writes > cached.flushes + cached.own_writes,
            "{path}: the write did not reach the near-cache"
        );
        assert_eq!(
            s.get(&key).await.unwrap(),
            truth(&s, &key).await,
            "{path}: the store does not read its own write"
        );
        if matches!(path, "rename" | "rename_nx" | "copy") {
            let to = format!("{key}:to");
            assert_eq!(s.get(&to).await.unwrap(), truth(&s, &to).await, "{path} (target)");
        }
        checked += 1;
    }
    assert_eq!(checked, paths.len());
    assert!(!s.near_cache_stats().unwrap().lagging, "ran within max_staleness");
}

/// Reads `key` twice and says whether the second read was a near-cache hit.
async fn served_from_cache(s: &Store, key: &str) -> bool {
    s.get(key).await.unwrap();
    still_cached(s, key).await
}

/// Whether `key` is still cached: one read, a hit or not.
async fn still_cached(s: &Store, key: &str) -> bool {
    let hits = s.near_cache_stats().unwrap().hits;
    s.get(key).await.unwrap();
    s.near_cache_stats().unwrap().hits == hits + 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_writes_drop_only_the_keys_they_wrote() {
    if pgkv_suite::not_through_pooler(
        "write_paths::own_writes_drop_only_the_keys_they_wrote",
        "it stops the listener's server process by pid",
    ) {
        return;
    }
    let dir = scratch("wp_keys");
    let s = listening_store("wp_keys").await;
    for key in ["k:a", "k:b", "k:c:1", "k:d:1"] {
        plant(&s, key, "old").await;
    }
    s.save_snapshot(dir.join("all.pgkv")).await.unwrap();
    // Only the store's own after-write effect reaches the cache now.
    let _resume = stop_listener(&s).await;
    for key in ["k:a", "k:b", "k:c:1", "k:d:1"] {
        assert!(served_from_cache(&s, key).await, "{key} cached");
    }
    let start = s.near_cache_stats().unwrap();

    // One key: the others stay.
    s.set("k:a", "new").await.unwrap();
    assert!(still_cached(&s, "k:b").await);
    assert!(still_cached(&s, "k:c:1").await);
    assert_eq!(s.get("k:a").await.unwrap().as_deref(), Some(&b"new"[..]));
    // A transaction's key, at its commit too.
    let mut tx = s.begin().await.unwrap();
    tx.set("k:b", "tx").await.unwrap();
    tx.commit().await.unwrap();
    assert!(still_cached(&s, "k:c:1").await);
    assert_eq!(s.get("k:b").await.unwrap().as_deref(), Some(&b"tx"[..]));
    // A prefix: what is under it goes, the rest stays.
    assert_eq!(s.delete_prefix("k:c:").await.unwrap(), 1);
    assert!(still_cached(&s, "k:d:1").await);
    assert_eq!(s.get("k:c:1").await.unwrap(), None);
    // A batch names its keys.
    s.set_many(&[("k:a", "m"), ("k:b", "m")]).await.unwrap();
    assert!(still_cached(&s, "k:d:1").await);
    assert_eq!(s.get("k:a").await.unwrap().as_deref(), Some(&b"m"[..]));
    // A key outside the near-cache's prefixes drops nothing.
    let outside = s.near_cache_stats().unwrap();
    s.set("elsewhere", "x").await.unwrap();
    let after = s.near_cache_stats().unwrap();
    assert_eq!(after.own_writes, outside.own_writes);
    assert_eq!(after.flushes, outside.flushes);
    assert!(still_cached(&s, "k:d:1").await);
    // No flush so far: each write dropped its own keys (set, tx set twice
    // (statement and commit), the prefix, two batch keys).
    let named = s.near_cache_stats().unwrap();
    assert_eq!(named.flushes, start.flushes);
    assert_eq!(named.own_writes, start.own_writes + 6);
    // A snapshot load names no keys: everything goes.
    s.load_snapshot(dir.join("all.pgkv"), LoadMode::Replace)
        .await
        .unwrap();
    assert_eq!(s.near_cache_stats().unwrap().flushes, named.flushes + 1);
    assert!(!still_cached(&s, "k:d:1").await);
    assert_eq!(s.get("k:a").await.unwrap().as_deref(), Some(&b"old"[..]));
}

/// The keys of namespace `ns` as pgkv's registry names its table, read
/// with plain SQL (pgkv's own rows included, which scans would show too).
async fn rows_in(s: &Store, ns: &Store) -> Vec<String> {
    let table = table_of(ns);
    let sql = format!("SELECT key FROM {table} ORDER BY key");
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .fetch_all(&admin(s))
        .await
        .unwrap()
}

fn limit_exceeded(path: &str, result: pgkv::Result<()>, limit: &str) {
    match result {
        Err(Error::LimitExceeded { limit: l, .. }) if l == limit => {}
        other => panic!("{path}: expected LimitExceeded {{ limit: {limit:?} }}, got {other:?}"),
    }
}

/// A write that would take one more key (on the absent key `key`), or
/// `None` for paths that never add a key.
async fn add_a_key(s: &Store, path: &str, key: &str) -> Option<pgkv::Result<()>> {
    let k = key;
    let v = "v";
    let held = "a";
    Some(match path {
        "set" => s.set(k, v).await,
        "set_with" => s.set_with(k, v, SetOptions::new()).await.map(drop),
        "set_nx" => s.set_nx(k, v).await.map(drop),
        "set_ex" => s.set_ex(k, v, HOUR).await,
        "set_nx_ex" => s.set_nx_ex(k, v, HOUR).await.map(drop),
        "set_many" => s.set_many(&[(k, v)]).await,
        "set_many_nx" => s.set_many_nx(&[(k, v)]).await.map(drop),
        "set_many_ex" => s.set_many_ex(&[(k, v)], HOUR).await,
        "set_many_with" => s
            .set_many_with(&[(k, v)], BatchMode::AllOrNothing)
            .await
            .map(drop),
        "increment" => s.increment(k, 1).await.map(drop),
        "increment_ex" => s.increment_ex(k, 1, HOUR).await.map(drop),
        "increment_float" => s.increment_float(k, 1.0).await.map(drop),
        "decrement" => s.decrement(k, 1).await.map(drop),
        "compare_and_swap" => s.compare_and_swap(k, None, v).await.map(drop),
        "get_and_set" => s.get_and_set(k, v).await.map(drop),
        "append" => s.append(k, v).await.map(drop),
        "copy" => s.copy(held, k, false).await.map(drop),
        "try_lock" => s.try_lock(k, HOUR).await.map(drop),
        "rate_limit" => s.rate_limit(k, 10, HOUR).await.map(drop),
        "rate_limit_gcra" => s.rate_limit_gcra(k, Quota::per(10, HOUR)).await.map(drop),
        "transaction" => {
            let mut tx = s.begin().await.unwrap();
            let result = tx.set(k, v).await;
            tx.rollback().await.unwrap();
            result
        }
        "get_or_compute" => s
            .get_or_compute(k, ComputeOptions::new(HOUR), || async {
                Ok::<_, std::io::Error>(b"computed".to_vec())
            })
            .await
            .map(drop),
        // Never more keys than before.
        "delete"
        | "replace"
        | "get_ex"
        | "expire"
        | "expire_if"
        | "expire_at"
        | "get_persist"
        | "persist"
        | "delete_many"
        | "delete_many_with"
        | "rename"
        | "rename_nx"
        | "get_and_delete"
        | "delete_prefix"
        | "delete_prefix_atomic"
        | "unlock"
        | "extend_lock" => return None,
        other => panic!("no namespace-limit scenario for {other:?}: add one to tests/store/write_paths.rs"),
    })
}

/// A write that makes the value (or key) of the held key `a` one byte
/// longer, or `None` for paths that never grow it.
async fn grow_a_byte(s: &Store, path: &str, value: &str) -> Option<pgkv::Result<()>> {
    let longer = format!("{value}+");
    let k = "a";
    Some(match path {
        "set" => s.set(k, &longer).await,
        "set_with" => s.set_with(k, &longer, SetOptions::new()).await.map(drop),
        "replace" => s.replace(k, &longer).await.map(drop),
        "set_ex" => s.set_ex(k, &longer, HOUR).await,
        "set_many" => s.set_many(&[(k, &longer)]).await,
        "set_many_ex" => s.set_many_ex(&[(k, &longer)], HOUR).await,
        "set_many_with" => s
            .set_many_with(&[(k, &longer)], BatchMode::AllOrNothing)
            .await
            .map(drop),
        "compare_and_swap" => s
            .compare_and_swap(k, Some(value.as_bytes()), &longer)
            .await
            .map(drop),
        "get_and_set" => s.get_and_set(k, &longer).await.map(drop),
        "append" => s.append(k, "+").await.map(drop),
        "rename" => s.rename(k, "ab").await.map(drop),
        "rename_nx" => s.rename_nx(k, "ab").await.map(drop),
        _ => return None,
    })
}

#[tokio::test]
async fn every_write_refused_by_a_namespace_limit_is_limit_exceeded() {
    if pgkv_suite::not_on_citus(
        "write_paths::namespace_limits",
        "namespaces are not supported on Citus (Error::UnsupportedOnCitus)",
    ) {
        return;
    }
    let dir = scratch("wp_limits");
    let s = pgkv_suite::store("wp_limits").await;
    let keys = s
        .create_namespace(
            &unique_table("wp_keys"),
            NamespaceConfig::new().policy(LimitPolicy::Reject).max_keys(3),
        )
        .await
        .unwrap();
    // A snapshot of three keys, then a namespace holding two others.
    keys.set_many(&[("x", "1"), ("y", "2"), ("z", "3")])
        .await
        .unwrap();
    keys.save_snapshot(dir.join("three.pgkv")).await.unwrap();
    keys.delete_many(&["x", "y", "z"]).await.unwrap();
    keys.set_many(&[("a", "1"), ("b", "2")]).await.unwrap();
    let refused = keys.load_snapshot(dir.join("three.pgkv"), LoadMode::Merge).await;
    limit_exceeded("load_snapshot(Merge)", refused.map(drop), "max_keys");
    assert_eq!(
        keys.keys(ScanOptions::new()).await.unwrap(),
        ["a", "b"],
        "nothing loaded"
    );
    keys.set("c", "3").await.unwrap();

    let mut paths = pgkv::__private::write_commands();
    paths.extend(["transaction", "get_or_compute"]);
    let mut refusals = 0;
    for path in &paths {
        if let Some(result) = add_a_key(&keys, path, "new").await {
            limit_exceeded(path, result, "max_keys");
            refusals += 1;
        }
    }
    assert_eq!(keys.keys(ScanOptions::new()).await.unwrap(), ["a", "b", "c"]);

    let value = "0123456789";
    let bytes = s
        .create_namespace(
            &unique_table("wp_bytes"),
            // Exactly full: key "a" (1 byte) and its 10-byte value.
            NamespaceConfig::new().policy(LimitPolicy::Reject).max_bytes(11),
        )
        .await
        .unwrap();
    bytes.set("a", value).await.unwrap();
    let mut grown = 0;
    for path in &paths {
        if let Some(result) = grow_a_byte(&bytes, path, value).await {
            limit_exceeded(path, result, "max_bytes");
            grown += 1;
        }
    }
    assert_eq!(bytes.get_string("a").await.unwrap().as_deref(), Some(value));
    assert!(refusals >= 20 && grown >= 10, "{refusals} {grown}");
}

#[tokio::test]
async fn get_or_compute_takes_no_slot_of_a_namespace_quota() {
    if pgkv_suite::not_on_citus(
        "write_paths::compute_quota",
        "namespaces are not supported on Citus (Error::UnsupportedOnCitus)",
    ) {
        return;
    }
    let s = pgkv_suite::store("wp_quota").await;
    let opts = ComputeOptions::new(HOUR);
    // Reject, by keys and by bytes: the value fills the last slot exactly.
    for config in [
        NamespaceConfig::new().policy(LimitPolicy::Reject).max_keys(2),
        // "held" + "1" (5 bytes), "second" + "computed" (14 bytes).
        NamespaceConfig::new()
            .policy(LimitPolicy::Reject)
            .max_bytes(5 + 14),
    ] {
        let ns = s
            .create_namespace(&unique_table("wp_quota"), config)
            .await
            .unwrap();
        ns.set("held", "1").await.unwrap();
        let got = ns
            .get_or_compute("second", opts, || async {
                // While the loader runs its lease is held: not in the namespace.
                Ok::<_, std::io::Error>(b"computed".to_vec())
            })
            .await
            .unwrap();
        assert_eq!(got, b"computed");
        assert_eq!(rows_in(&s, &ns).await, ["held", "second"]);
    }
    // Evict at its cap: computing a key evicts no user key for a lease.
    let ns = s
        .create_namespace(
            &unique_table("wp_evict"),
            NamespaceConfig::new().policy(LimitPolicy::Evict).max_keys(2),
        )
        .await
        .unwrap();
    ns.set_many(&[("a", "1"), ("b", "2")]).await.unwrap();
    let inside = ns.clone();
    let base = s.clone();
    let got = ns
        .get_or_compute("b:copy", opts, || async move {
            // The lease is held now: it is in the store's table, not the namespace's.
            let rows = rows_in(&base, &inside).await;
            assert_eq!(rows, ["a", "b"], "the lease is not a row of the namespace");
            let leases = base.keys(ScanOptions::new().prefix("pgkv:lease@")).await.unwrap();
            assert_eq!(leases.len(), 1, "{leases:?}");
            assert!(leases[0].ends_with(":b:copy"), "{leases:?}");
            Ok::<_, std::io::Error>(b"3".to_vec())
        })
        .await
        .unwrap();
    assert_eq!(got, b"3");
    // The lease is given back.
    assert!(
        s.keys(ScanOptions::new().prefix("pgkv:lease@"))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn get_or_compute_accepts_every_key_set_accepts() {
    let s = Store::with_config(config("wp_keylen").max_key_length(64))
        .await
        .unwrap();
    let key = "k".repeat(64);
    let got = s
        .get_or_compute(&key, ComputeOptions::new(HOUR), || async {
            Ok::<_, std::io::Error>(b"v".to_vec())
        })
        .await
        .unwrap();
    assert_eq!(got, b"v");
    assert_eq!(s.get(&key).await.unwrap().as_deref(), Some(&b"v"[..]));
    // One byte over is the caller's own key, named as such.
    let over = "k".repeat(65);
    match s
        .get_or_compute(&over, ComputeOptions::new(HOUR), || async {
            Ok::<_, std::io::Error>(b"v".to_vec())
        })
        .await
    {
        Err(Error::KeyTooLong { key_start, len, max }) => {
            assert!(key_start.starts_with("kkk"), "{key_start}");
            assert_eq!((len, max), (65, 64));
        }
        other => panic!("expected KeyTooLong, got {other:?}"),
    }
}
