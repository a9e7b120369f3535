//! APPEND, RENAME and COPY, with Redis's semantics (checked against
//! redis-server 7.0.15): expired keys are absent, the TTL travels with the
//! value, nothing half-happens.

use std::time::Duration;

use pgkv::{Error, Expiry};
use pgkv_suite::{force_expire, raw_row_count, store, store_with};

const HOUR: Duration = Duration::from_secs(3600);

#[tokio::test]
async fn append_creates_extends_and_keeps_the_ttl() {
    let s = store_with("keys_append", |c| c.max_value_size(8)).await;
    assert_eq!(s.append("k", "abc").await.unwrap(), 3);
    assert_eq!(s.append("k", "de").await.unwrap(), 5);
    assert_eq!(s.get_string("k").await.unwrap().as_deref(), Some("abcde"));
    assert_eq!(s.append("k", "").await.unwrap(), 5);
    // Over the limit: refused, nothing changed.
    let err = s.append("k", "fghi").await.unwrap_err();
    assert!(
        matches!(err, Error::ValueTooLarge { size: 9, max: 8, .. }),
        "{err:?}"
    );
    assert_eq!(s.get_string("k").await.unwrap().as_deref(), Some("abcde"));
    assert_eq!(s.append("k", "fgh").await.unwrap(), 8);
    // The TTL stays; an expired key starts afresh without one.
    s.set_ex("t", "x", HOUR).await.unwrap();
    assert_eq!(s.append("t", "y").await.unwrap(), 2);
    assert!(matches!(s.ttl_status("t").await.unwrap(), Expiry::At(_)));
    force_expire(&s, "t").await;
    assert_eq!(s.append("t", "new").await.unwrap(), 3);
    assert_eq!(s.get_string("t").await.unwrap().as_deref(), Some("new"));
    assert_eq!(s.ttl_status("t").await.unwrap(), Expiry::Persistent);
    assert!(matches!(
        s.append("z", "123456789").await,
        Err(Error::ValueTooLarge { .. })
    ));
    assert_eq!(s.get("z").await.unwrap(), None);
}

#[tokio::test]
async fn rename_moves_value_and_ttl_and_replaces_the_target() {
    let s = store("keys_rename").await;
    s.set_ex("a", "1", HOUR).await.unwrap();
    s.set("b", "old").await.unwrap();
    let Expiry::At(when) = s.expire_time("a").await.unwrap() else {
        panic!()
    };
    assert!(s.rename("a", "b").await.unwrap());
    assert_eq!(s.get("a").await.unwrap(), None);
    assert_eq!(s.get_string("b").await.unwrap().as_deref(), Some("1"));
    assert_eq!(
        s.expire_time("b").await.unwrap(),
        Expiry::At(when),
        "the TTL did not travel"
    );
    // A persistent source makes a persistent target.
    s.set("p", "2").await.unwrap();
    assert!(s.rename("p", "b").await.unwrap());
    assert_eq!(s.ttl_status("b").await.unwrap(), Expiry::Persistent);
    // Missing and expired sources: nothing happens.
    assert!(!s.rename("missing", "b").await.unwrap());
    s.set_ex("gone", "x", HOUR).await.unwrap();
    force_expire(&s, "gone").await;
    assert!(!s.rename("gone", "b").await.unwrap());
    assert_eq!(s.get_string("b").await.unwrap().as_deref(), Some("2"));
    // Onto itself: true when it exists, as Redis answers OK.
    assert!(s.rename("b", "b").await.unwrap());
    assert!(!s.rename("missing", "missing").await.unwrap());
    assert!(matches!(s.rename("b", "").await, Err(Error::EmptyKey)));
    assert_eq!(s.get_string("b").await.unwrap().as_deref(), Some("2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opposite_renames_never_deadlock_or_lose_a_value() {
    let s = store_with("keys_rename_race", |c| c.max_connections(8)).await;
    s.set_many(&[("x", "X"), ("y", "Y")]).await.unwrap();
    let mut handles = Vec::new();
    for i in 0..8 {
        let s = s.clone();
        handles.push(tokio::spawn(async move {
            for _ in 0..25 {
                let (from, to) = if i % 2 == 0 { ("x", "y") } else { ("y", "x") };
                s.rename(from, to).await.expect("no deadlock, no error");
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    // Every rename moves one value over the other: exactly one key is left,
    // holding one of the two values.
    let left = s.get_many(&["x", "y"]).await.unwrap();
    let present: Vec<_> = left.into_iter().flatten().collect();
    assert_eq!(present.len(), 1, "{present:?}");
    assert!(present[0] == b"X" || present[0] == b"Y");
    assert_eq!(raw_row_count(&s).await, 1);
}

#[tokio::test]
async fn copy_respects_replace_and_copies_the_ttl() {
    let s = store("keys_copy").await;
    s.set_ex("src", "v", HOUR).await.unwrap();
    assert!(s.copy("src", "dst", false).await.unwrap());
    assert_eq!(s.get_string("dst").await.unwrap().as_deref(), Some("v"));
    assert_eq!(
        s.expire_time("dst").await.unwrap(),
        s.expire_time("src").await.unwrap()
    );
    s.set("src", "w").await.unwrap();
    assert!(
        !s.copy("src", "dst", false).await.unwrap(),
        "copied over an existing key"
    );
    assert_eq!(s.get_string("dst").await.unwrap().as_deref(), Some("v"));
    assert!(s.copy("src", "dst", true).await.unwrap());
    assert_eq!(s.get_string("dst").await.unwrap().as_deref(), Some("w"));
    assert_eq!(s.ttl_status("dst").await.unwrap(), Expiry::Persistent);
    // An expired target counts as absent; an expired source as missing.
    s.set_ex("old", "x", HOUR).await.unwrap();
    force_expire(&s, "old").await;
    assert!(s.copy("dst", "old", false).await.unwrap());
    assert_eq!(s.get_string("old").await.unwrap().as_deref(), Some("w"));
    assert!(!s.copy("missing", "dst", true).await.unwrap());
    force_expire(&s, "src").await;
    assert!(!s.copy("src", "fresh", true).await.unwrap());
    assert_eq!(s.get("fresh").await.unwrap(), None);
    assert!(!s.copy("dst", "dst", true).await.unwrap());
}
