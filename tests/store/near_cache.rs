//! The near-cache: hits, invalidation by other programs' plain SQL, own
//! writes read at once, local TTLs, and no stale value once the listener's
//! connection is gone. Waits are on the cache's own counters (events), with
//! a deadline, never a fixed sleep.

use std::time::{Duration, Instant};

use pgkv::{Config, Error, NearCache, NearCacheStats, Store};
use pgkv_suite::{admin, config, table_of};

fn near_store_config(tag: &str) -> Config {
    config(tag).near_cache(NearCache::new(["flags:", "cfg:"]).max_staleness(Duration::from_secs(60)))
}

/// Waits until `ready` holds for the near-cache's stats.
pub(crate) async fn wait_for(
    s: &Store,
    what: &str,
    ready: impl Fn(&NearCacheStats) -> bool,
) -> NearCacheStats {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let stats = s.near_cache_stats().expect("a near-cache");
        if ready(&stats) {
            return stats;
        }
        assert!(Instant::now() < deadline, "waited 20 s for {what}: {stats:?}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// The listener's channel, as pgkv derives it (FNV-1a of `schema.table`).
pub(crate) fn channel(s: &Store) -> String {
    let collection = table_of(s).replace('"', "");
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in collection.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("pgkv_near_{hash:016x}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_sql_from_another_connection_invalidates() {
    let s = Store::with_config(near_store_config("near_sql")).await.unwrap();
    let ready = wait_for(&s, "the listener", |st| st.listening).await;
    s.set("flags:dark_mode", "off").await.unwrap();
    // The trigger notifies our own write too; once that has arrived, reads
    // can fill the cache.
    wait_for(&s, "our own write's notification", |st| {
        st.invalidations > ready.invalidations
    })
    .await;
    assert_eq!(
        s.get_string("flags:dark_mode").await.unwrap().as_deref(),
        Some("off")
    );
    let before = s.near_cache_stats().unwrap();
    assert_eq!(
        s.get_string("flags:dark_mode").await.unwrap().as_deref(),
        Some("off")
    );
    let after = s.near_cache_stats().unwrap();
    assert_eq!(after.hits, before.hits + 1, "the second read is a hit");
    // Another program changes the row with plain SQL.
    let sql = format!(
        "UPDATE {} SET value = 'on' WHERE key = 'flags:dark_mode'",
        table_of(&s)
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(&admin(&s))
        .await
        .unwrap();
    wait_for(&s, "the invalidation", |st| {
        st.invalidations > after.invalidations
    })
    .await;
    assert_eq!(
        s.get_string("flags:dark_mode").await.unwrap().as_deref(),
        Some("on")
    );
    // An absent key is cached as absent, and its creation invalidates that.
    assert_eq!(s.get("cfg:missing").await.unwrap(), None);
    let seen = s.near_cache_stats().unwrap();
    let sql = format!(
        "INSERT INTO {} (key, value) VALUES ('cfg:missing', 'now here')",
        table_of(&s)
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(&admin(&s))
        .await
        .unwrap();
    wait_for(&s, "the invalidation", |st| st.invalidations > seen.invalidations).await;
    assert_eq!(
        s.get_string("cfg:missing").await.unwrap().as_deref(),
        Some("now here")
    );
    // TRUNCATE empties the cache.
    let seen = s.near_cache_stats().unwrap();
    let sql = format!("TRUNCATE {}", table_of(&s));
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(&admin(&s))
        .await
        .unwrap();
    wait_for(&s, "the truncate", |st| st.invalidations > seen.invalidations).await;
    assert_eq!(s.get("flags:dark_mode").await.unwrap(), None);
}

#[tokio::test]
async fn own_writes_are_read_at_once() {
    let s = Store::with_config(near_store_config("near_own")).await.unwrap();
    wait_for(&s, "the listener", |st| st.listening).await;
    for i in 0..20 {
        s.set("flags:n", i.to_string()).await.unwrap();
        assert_eq!(s.get_string("flags:n").await.unwrap(), Some(i.to_string()));
        assert_eq!(s.get_string("flags:n").await.unwrap(), Some(i.to_string()));
    }
    assert_eq!(s.increment("flags:count", 1).await.unwrap(), 1);
    assert_eq!(s.get_string("flags:count").await.unwrap().as_deref(), Some("1"));
    assert_eq!(s.increment("flags:count", 1).await.unwrap(), 2);
    assert_eq!(s.get_string("flags:count").await.unwrap().as_deref(), Some("2"));
    // A transaction's writes: at commit.
    let mut tx = s.begin().await.unwrap();
    tx.set("flags:n", "tx").await.unwrap();
    assert_eq!(tx.get_string("flags:n").await.unwrap().as_deref(), Some("tx"));
    assert_eq!(s.get_string("flags:n").await.unwrap().as_deref(), Some("19"));
    tx.commit().await.unwrap();
    assert_eq!(s.get_string("flags:n").await.unwrap().as_deref(), Some("tx"));
    s.delete("flags:n").await.unwrap();
    assert_eq!(s.get("flags:n").await.unwrap(), None);
}

#[tokio::test]
async fn ttls_are_honoured_locally_and_other_keys_are_not_cached() {
    let s = Store::with_config(near_store_config("near_ttl")).await.unwrap();
    wait_for(&s, "the listener", |st| st.listening).await;
    s.set_ex("flags:short", "v", Duration::from_millis(300))
        .await
        .unwrap();
    assert!(s.get("flags:short").await.unwrap().is_some());
    // Served from the cache until the row's expiry, then not.
    while s.exists("flags:short").await.unwrap() {
        tokio::task::yield_now().await;
    }
    let started = Instant::now();
    assert_eq!(
        s.get("flags:short").await.unwrap(),
        None,
        "expired after {:?}",
        started.elapsed()
    );
    let before = s.near_cache_stats().unwrap();
    s.set("other:key", "v").await.unwrap();
    for _ in 0..3 {
        assert!(s.get("other:key").await.unwrap().is_some());
    }
    let after = s.near_cache_stats().unwrap();
    assert_eq!((after.hits, after.misses), (before.hits, before.misses));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_stale_value_once_the_listener_connection_is_gone() {
    let s = Store::with_config(near_store_config("near_kill")).await.unwrap();
    let listening = wait_for(&s, "the listener", |st| st.listening).await;
    s.set("cfg:mode", "a").await.unwrap();
    wait_for(&s, "our own write's notification", |st| {
        st.invalidations > listening.invalidations
    })
    .await;
    assert_eq!(s.get_string("cfg:mode").await.unwrap().as_deref(), Some("a"));
    assert_eq!(s.get_string("cfg:mode").await.unwrap().as_deref(), Some("a"));
    let ready = s.near_cache_stats().unwrap();
    assert_eq!(ready.entries, 1);
    let direct = admin(&s);
    let killed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1) t",
    )
    .bind(format!("pgkv-near {}", channel(&s)))
    .fetch_one(&direct)
    .await
    .unwrap();
    assert_eq!(killed, 1);
    // The listener notices and empties the cache.
    wait_for(&s, "the flush", |st| st.flushes > ready.flushes).await;
    let sql = format!("UPDATE {} SET value = 'b' WHERE key = 'cfg:mode'", table_of(&s));
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(&direct)
        .await
        .unwrap();
    // Whether or not the listener is back yet, the read is fresh.
    assert_eq!(s.get_string("cfg:mode").await.unwrap().as_deref(), Some("b"));
    let back = wait_for(&s, "the listener again", |st| st.listening).await;
    assert_eq!(s.get_string("cfg:mode").await.unwrap().as_deref(), Some("b"));
    // And invalidations flow again.
    let sql = format!("UPDATE {} SET value = 'c' WHERE key = 'cfg:mode'", table_of(&s));
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(&direct)
        .await
        .unwrap();
    wait_for(&s, "the invalidation", |st| st.invalidations > back.invalidations).await;
    assert_eq!(s.get_string("cfg:mode").await.unwrap().as_deref(), Some("c"));
}

#[tokio::test]
async fn bad_settings_are_refused() {
    for near in [
        NearCache::new(Vec::<String>::new()),
        NearCache::new([""]),
        NearCache::new(["a\0"]),
        NearCache::new(["a"]).capacity(0),
        NearCache::new(["a"]).capacity(usize::MAX),
        NearCache::new(["a"]).max_staleness(Duration::ZERO),
    ] {
        let err = Store::with_config(config("near_bad").near_cache(near.clone()))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InvalidConfig(_)), "{near:?}: {err:?}");
    }
    let err = Store::with_config(
        config("near_bad")
            .transaction_pooler(true)
            .near_cache(NearCache::new(["a"])),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidConfig(m) if m.contains("listen_url")),
        "{err:?}"
    );
}

/// Writes outside the prefixes notify nothing (the triggers' WHEN clauses):
/// notifications arrive in commit order, so once a marker's has arrived,
/// the other keys' would have too. A fresh table, so nothing else is pending.
#[tokio::test]
async fn writes_outside_the_prefixes_notify_nothing() {
    let s = Store::with_config(near_store_config("near_quiet")).await.unwrap();
    let quiet = wait_for(&s, "the listener", |st| st.listening).await;
    s.set("other:key", "v").await.unwrap();
    s.set_many(&[("other:a", "1"), ("other:b", "2")]).await.unwrap();
    s.delete("other:key").await.unwrap();
    s.set("flags:marker", "v").await.unwrap();
    let marked = wait_for(&s, "the marker", |st| st.invalidations > quiet.invalidations).await;
    assert_eq!(marked.invalidations, quiet.invalidations + 1);
}

/// Sends `signal` to a server process (the tests run on the server's
/// machine, as a user allowed to).
pub(crate) fn signal(pid: i32, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill {signal} {pid}");
}

/// Resumes a stopped server process however the test ends, so the server
/// can shut down.
pub(crate) struct Resume(pub(crate) i32);

impl Drop for Resume {
    fn drop(&mut self) {
        signal(self.0, "-CONT");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lagging_listener_stops_the_cache_until_it_catches_up() {
    let staleness = Duration::from_millis(400);
    let s =
        Store::with_config(config("near_lag").near_cache(NearCache::new(["cfg:"]).max_staleness(staleness)))
            .await
            .unwrap();
    wait_for(&s, "the listener", |st| st.listening).await;
    s.set("cfg:k", "a").await.unwrap();
    assert_eq!(s.get_string("cfg:k").await.unwrap().as_deref(), Some("a"));
    let direct = admin(&s);
    let pid: i32 = sqlx::query_scalar("SELECT pid FROM pg_stat_activity WHERE application_name = $1")
        .bind(format!("pgkv-near {}", channel(&s)))
        .fetch_one(&direct)
        .await
        .unwrap();
    // The listener's server process stops delivering notifications: a
    // write by plain SQL now never reaches the cache.
    signal(pid, "-STOP");
    let resume = Resume(pid);
    let sql = format!("UPDATE {} SET value = 'b' WHERE key = 'cfg:k'", table_of(&s));
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(&direct)
        .await
        .unwrap();
    // Within max_staleness a read may still serve 'a' (the documented
    // bound); once a probe is overdue, the cache is bypassed.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !s.near_cache_stats().unwrap().lagging {
        assert!(
            Instant::now() < deadline,
            "no lag seen: {:?}",
            s.near_cache_stats()
        );
        let read = s.get_string("cfg:k").await.unwrap();
        assert!(matches!(read.as_deref(), Some("a" | "b")), "{read:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let lagging = s.near_cache_stats().unwrap();
    assert_eq!(lagging.entries, 0, "emptied when the lag was seen");
    for _ in 0..5 {
        assert_eq!(s.get_string("cfg:k").await.unwrap().as_deref(), Some("b"));
    }
    let bypassed = s.near_cache_stats().unwrap();
    assert_eq!(bypassed.hits, lagging.hits, "nothing served while lagging");
    assert_eq!(bypassed.entries, 0, "nothing cached while lagging");

    drop(resume);
    // The overdue probe arrives: the cache is used again, from empty.
    wait_for(&s, "the listener to catch up", |st| !st.lagging).await;
    assert_eq!(s.get_string("cfg:k").await.unwrap().as_deref(), Some("b"));
    let refilled = s.near_cache_stats().unwrap();
    assert_eq!(s.get_string("cfg:k").await.unwrap().as_deref(), Some("b"));
    assert_eq!(
        s.near_cache_stats().unwrap().hits,
        refilled.hits + 1,
        "served from the cache again"
    );
}
