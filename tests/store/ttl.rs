//! Expiry semantics: an expired key is absent for every operation, whatever
//! is on disk; only the strategy decides who deletes the row.

use std::time::Duration;

use pgkv::{CasResult, ScanOptions, TtlCleanupStrategy};
use pgkv_suite::{force_expire, raw_row_count, store, store_with};

const HOUR: Duration = Duration::from_secs(3600);

async fn manual() -> pgkv::Store {
    store_with("ttl_manual", |c| {
        c.ttl_cleanup_strategy(TtlCleanupStrategy::Manual)
    })
    .await
}

/// A store holding `key` = `value` whose expiry has passed (row still on disk).
async fn with_expired(key: &str, value: &str) -> pgkv::Store {
    let s = manual().await;
    s.set_ex(key, value, HOUR).await.unwrap();
    force_expire(&s, key).await;
    s
}

#[tokio::test]
async fn expired_rows_are_absent_for_reads() {
    let s = with_expired("k", "old").await;
    assert_eq!(s.get("k").await.unwrap(), None);
    assert_eq!(s.get_string("k").await.unwrap(), None);
    assert!(s.get_or_err("k").await.unwrap_err().is_not_found());
    assert!(!s.exists("k").await.unwrap());
    assert_eq!(s.ttl("k").await.unwrap(), None);
    assert_eq!(s.get_many(&["k", "k"]).await.unwrap(), vec![None, None]);
    assert_eq!(s.keys(ScanOptions::new()).await.unwrap(), Vec::<String>::new());
    assert!(s.scan(ScanOptions::new().prefix("k")).await.unwrap().is_empty());
    assert_eq!(s.count(ScanOptions::new()).await.unwrap(), 0);
    assert_eq!(s.get_ex("k", HOUR).await.unwrap(), None);
    // Manual: nothing was deleted by any of those reads.
    assert_eq!(raw_row_count(&s).await, 1);
}

#[tokio::test]
async fn expired_rows_are_absent_for_conditional_writes() {
    let s = with_expired("k", "old").await;
    assert!(!s.replace("k", "new").await.unwrap());
    assert!(!s.expire("k", HOUR).await.unwrap());
    assert!(!s.persist("k").await.unwrap());
    assert_eq!(
        s.compare_and_swap("k", Some(b"old"), "new").await.unwrap(),
        CasResult::NotFound
    );
    assert_eq!(s.get("k").await.unwrap(), None);

    assert!(s.set_nx("k", "fresh").await.unwrap());
    assert_eq!(s.get("k").await.unwrap(), Some(b"fresh".to_vec()));
    assert_eq!(
        s.ttl("k").await.unwrap(),
        None,
        "set_nx over an expired row starts fresh"
    );

    s.set_ex("k2", "old", HOUR).await.unwrap();
    force_expire(&s, "k2").await;
    assert!(s.set_nx_ex("k2", "lease", HOUR).await.unwrap());

    s.set_ex("k3", "old", HOUR).await.unwrap();
    force_expire(&s, "k3").await;
    assert_eq!(
        s.compare_and_swap("k3", None, "mine").await.unwrap(),
        CasResult::Success
    );
    assert_eq!(s.ttl("k3").await.unwrap(), None);
}

#[tokio::test]
async fn expired_rows_report_absent_to_destructive_calls() {
    let s = with_expired("k", "old").await;
    assert!(
        !s.delete("k").await.unwrap(),
        "delete of an expired key reports false"
    );
    assert_eq!(raw_row_count(&s).await, 0, "but the row is gone");

    s.set_ex("g", "old", HOUR).await.unwrap();
    force_expire(&s, "g").await;
    assert_eq!(s.get_and_delete("g").await.unwrap(), None);

    s.set_ex("s", "old", HOUR).await.unwrap();
    force_expire(&s, "s").await;
    assert_eq!(s.get_and_set("s", "new").await.unwrap(), None);
    assert_eq!(s.ttl("s").await.unwrap(), None);

    s.set_many_ex(&[("m1", "a"), ("m2", "b")], HOUR).await.unwrap();
    force_expire(&s, "m1").await;
    assert_eq!(s.delete_many(&["m1", "m2"]).await.unwrap(), 1);

    s.set_many_ex(&[("p:1", "a"), ("p:2", "b")], HOUR).await.unwrap();
    force_expire(&s, "p:1").await;
    assert_eq!(s.delete_prefix("p:").await.unwrap(), 1);
}

#[tokio::test]
async fn expired_counter_restarts_from_zero_without_ttl() {
    let s = manual().await;
    s.set_ex("c", "41", HOUR).await.unwrap();
    assert_eq!(s.increment("c", 1).await.unwrap(), 42);
    assert!(s.ttl("c").await.unwrap().is_some(), "increment keeps the TTL");
    force_expire(&s, "c").await;
    assert_eq!(s.increment("c", 1).await.unwrap(), 1);
    assert_eq!(s.ttl("c").await.unwrap(), None);
    // A non-integer that has expired is simply absent.
    s.set_ex("x", "not a number", HOUR).await.unwrap();
    force_expire(&s, "x").await;
    assert_eq!(s.decrement("x", 3).await.unwrap(), -3);
}

#[tokio::test]
async fn writes_over_expired_rows_start_fresh() {
    let s = manual().await;
    s.set_ex("k", "old", HOUR).await.unwrap();
    force_expire(&s, "k").await;
    s.set("k", "new").await.unwrap();
    assert_eq!(s.get("k").await.unwrap(), Some(b"new".to_vec()));
    assert_eq!(s.ttl("k").await.unwrap(), None);
}

#[tokio::test]
async fn on_read_deletes_what_it_meets() {
    let s = store("ttl_onread").await;
    s.set_ex("a", "1", HOUR).await.unwrap();
    s.set_ex("b", "1", HOUR).await.unwrap();
    s.set_ex("c", "1", HOUR).await.unwrap();
    s.set("live", "1").await.unwrap();
    for k in ["a", "b", "c"] {
        force_expire(&s, k).await;
    }
    assert_eq!(raw_row_count(&s).await, 4);
    assert_eq!(s.get("a").await.unwrap(), None);
    assert_eq!(raw_row_count(&s).await, 3);
    assert!(!s.exists("b").await.unwrap());
    assert_eq!(raw_row_count(&s).await, 2);
    assert_eq!(
        s.get_many(&["c", "live"]).await.unwrap(),
        vec![None, Some(b"1".to_vec())]
    );
    // On Citus batch reads do not purge (docs/guide/scaling_out.md): `c` stays
    // for the sweep.
    let left = if pgkv_suite::through_citus() { 2 } else { 1 };
    assert_eq!(raw_row_count(&s).await, left);
}

#[tokio::test]
async fn manual_cleanup_removes_only_expired_rows() {
    let s = manual().await;
    for i in 0..20 {
        s.set_ex(format!("e{i}"), "x", HOUR).await.unwrap();
        force_expire(&s, &format!("e{i}")).await;
    }
    s.set_ex("keep", "x", HOUR).await.unwrap();
    s.set("forever", "x").await.unwrap();
    assert_eq!(s.cleanup_expired().await.unwrap(), 20);
    assert_eq!(raw_row_count(&s).await, 2);
    assert_eq!(s.cleanup_expired().await.unwrap(), 0);
}

#[tokio::test]
async fn disabled_ignores_expiry_but_cleanup_still_deletes() {
    let s = store_with("ttl_disabled", |c| {
        c.ttl_cleanup_strategy(TtlCleanupStrategy::Disabled)
    })
    .await;
    s.set_ex("k", "v", HOUR).await.unwrap();
    force_expire(&s, "k").await;
    assert_eq!(s.get("k").await.unwrap(), Some(b"v".to_vec()));
    assert!(s.exists("k").await.unwrap());
    assert!(!s.set_nx("k", "other").await.unwrap());
    assert_eq!(s.ttl("k").await.unwrap(), Some(Duration::ZERO));
    assert_eq!(s.count(ScanOptions::new()).await.unwrap(), 1);
    assert_eq!(s.cleanup_expired().await.unwrap(), 1);
    assert_eq!(s.get("k").await.unwrap(), None);
}

#[tokio::test]
async fn real_expiry_on_the_server_clock() {
    let s = store("ttl_real").await;
    s.set_ex("short", "v", Duration::from_millis(200)).await.unwrap();
    assert_eq!(s.get("short").await.unwrap(), Some(b"v".to_vec()));
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(s.get("short").await.unwrap(), None);
}

#[tokio::test]
async fn ttl_is_precise_and_never_rounded_up() {
    let s = store("ttl_precise").await;
    let ttl = Duration::from_millis(90_500);
    s.set_ex("k", "v", ttl).await.unwrap();
    let left = s.ttl("k").await.unwrap().unwrap();
    assert!(left <= ttl, "{left:?} > {ttl:?}");
    assert!(ttl - left < Duration::from_secs(5), "{left:?}");
    s.expire("k", Duration::from_micros(2_000_001)).await.unwrap();
    let left = s.ttl("k").await.unwrap().unwrap();
    assert!(left <= Duration::from_micros(2_000_001));
}

#[tokio::test]
async fn get_ex_slides_and_replace_keeps_ttl() {
    let s = store("ttl_slide").await;
    s.set_ex("k", "v", Duration::from_secs(10)).await.unwrap();
    assert_eq!(s.get_ex("k", HOUR).await.unwrap(), Some(b"v".to_vec()));
    assert!(s.ttl("k").await.unwrap().unwrap() > Duration::from_secs(3500));
    assert!(s.replace("k", "w").await.unwrap());
    assert!(
        s.ttl("k").await.unwrap().unwrap() > Duration::from_secs(3500),
        "replace keeps TTL"
    );
    assert_eq!(
        s.compare_and_swap("k", Some(b"w"), "x").await.unwrap(),
        CasResult::Success
    );
    assert!(s.ttl("k").await.unwrap().is_some(), "CAS keeps TTL");
    s.set("k", "y").await.unwrap();
    assert_eq!(s.ttl("k").await.unwrap(), None, "set clears TTL");
    s.expire("k", HOUR).await.unwrap();
    assert_eq!(s.get_and_set("k", "z").await.unwrap(), Some(b"y".to_vec()));
    assert_eq!(s.ttl("k").await.unwrap(), None, "get_and_set clears TTL");
}

#[tokio::test]
async fn time_inside_a_transaction_is_per_statement() {
    let s = store("ttl_tx").await;
    let mut tx = s.begin().await.unwrap();
    tx.set_ex("k", "v", Duration::from_millis(150)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // transaction_timestamp() would still say the key is live.
    assert_eq!(tx.get("k").await.unwrap(), None);
    tx.commit().await.unwrap();
}
