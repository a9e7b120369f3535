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

#[tokio::test]
async fn rename_nx_moves_only_onto_an_absent_key() {
    let s = store("keys_renamenx").await;
    s.set_ex("a", "1", HOUR).await.unwrap();
    s.set("b", "2").await.unwrap();
    assert!(!s.rename_nx("a", "b").await.unwrap());
    assert_eq!(
        s.get_string("a").await.unwrap().as_deref(),
        Some("1"),
        "the source was lost"
    );
    assert_eq!(s.get_string("b").await.unwrap().as_deref(), Some("2"));
    assert!(s.rename_nx("a", "c").await.unwrap());
    assert!(matches!(s.ttl_status("c").await.unwrap(), Expiry::At(_)));
    assert_eq!(s.get("a").await.unwrap(), None);
    // An expired target counts as absent.
    s.set_ex("d", "old", HOUR).await.unwrap();
    force_expire(&s, "d").await;
    assert!(s.rename_nx("c", "d").await.unwrap());
    assert_eq!(s.get_string("d").await.unwrap().as_deref(), Some("1"));
    assert!(!s.rename_nx("missing", "e").await.unwrap());
    assert!(!s.rename_nx("d", "d").await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_rename_nx_onto_one_target_has_one_winner_and_loses_nothing() {
    let s = store_with("keys_renamenx_race", |c| c.max_connections(8)).await;
    for round in 0..10 {
        let target = format!("t{round}");
        let sources: Vec<String> = (0..6).map(|i| format!("s{round}_{i}")).collect();
        let items: Vec<(&str, &str)> = sources.iter().map(|k| (k.as_str(), k.as_str())).collect();
        s.set_many(&items).await.unwrap();
        let tasks: Vec<_> = sources
            .iter()
            .map(|src| {
                let (s, src, target) = (s.clone(), src.clone(), target.clone());
                tokio::spawn(async move { (s.rename_nx(&src, &target).await.unwrap(), src) })
            })
            .collect();
        let mut winners = Vec::new();
        for t in tasks {
            let (won, src) = t.await.unwrap();
            let left = s.get_string(&src).await.unwrap();
            if won {
                assert_eq!(left, None, "a winner's source is still there");
                winners.push(src);
            } else {
                assert_eq!(left.as_deref(), Some(src.as_str()), "a loser's source was lost");
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: {winners:?}");
        assert_eq!(s.get_string(&target).await.unwrap(), Some(winners[0].clone()));
    }
}

#[tokio::test]
async fn set_many_nx_is_all_or_nothing() {
    let s = store("keys_msetnx").await;
    assert!(s.set_many_nx(&[("a", "1"), ("b", "2")]).await.unwrap());
    assert!(!s.set_many_nx(&[("b", "x"), ("c", "3")]).await.unwrap());
    assert_eq!(s.get("c").await.unwrap(), None, "half a batch was written");
    assert_eq!(s.get_string("b").await.unwrap().as_deref(), Some("2"));
    // Expired keys count as absent; a repeated key: the last pair wins.
    s.set_ex("e", "old", HOUR).await.unwrap();
    force_expire(&s, "e").await;
    assert!(
        s.set_many_nx(&[("e", "1"), ("f", "2"), ("e", "3")])
            .await
            .unwrap()
    );
    assert_eq!(s.get_string("e").await.unwrap().as_deref(), Some("3"));
    assert!(s.set_many_nx::<&str, &str>(&[]).await.unwrap());
    assert!(matches!(
        s.set_many_nx(&[("ok", "1"), ("", "2")]).await,
        Err(Error::EmptyKey)
    ));
    assert_eq!(s.get("ok").await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_set_many_nx_never_writes_half_a_batch() {
    let s = store_with("keys_msetnx_race", |c| c.max_connections(8)).await;
    for round in 0..20 {
        let keys: Vec<String> = (0..4).map(|i| format!("r{round}k{i}")).collect();
        let tasks: Vec<_> = (0..6)
            .map(|t| {
                let (s, keys) = (s.clone(), keys.clone());
                tokio::spawn(async move {
                    // Overlapping batches: task t takes keys t % 4 and (t + 1) % 4.
                    let mine = [&keys[t % 4], &keys[(t + 1) % 4]];
                    let items: Vec<(&str, String)> =
                        mine.iter().map(|k| (k.as_str(), format!("task{t}"))).collect();
                    (t, s.set_many_nx(&items).await.unwrap())
                })
            })
            .collect();
        let mut won = Vec::new();
        for task in tasks {
            let (t, ok) = task.await.unwrap();
            if ok {
                won.push(t);
            }
        }
        // Each winner owns both of its keys; no key is owned by a loser.
        let values = s.get_many(&keys).await.unwrap();
        for t in &won {
            for k in [t % 4, (t + 1) % 4] {
                assert_eq!(
                    values[k].as_deref(),
                    Some(format!("task{t}").as_bytes()),
                    "round {round}"
                );
            }
        }
        let owners: usize = values.iter().flatten().count();
        assert_eq!(
            owners,
            won.len() * 2,
            "round {round}: a loser wrote part of its batch"
        );
    }
}
