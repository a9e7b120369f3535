//! The Redis expiry family: EXPIRE NX/XX/GT/LT, absolute expiry, a TTL that
//! tells missing from persistent, GETEX PERSIST, STRLEN, and INCRBY +
//! EXPIRE NX as one step. The expected outcomes of the conditions are the
//! ones redis-server 7.0.15 gives for the same calls.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pgkv::{Error, ExpireWhen, Expiry, KvCommands};
use pgkv_suite::{force_expire, raw_row_count, store};

const SECS: fn(u64) -> Duration = Duration::from_secs;

/// The TTL left, to the second (the calls take far less than a second).
async fn whole_secs(s: &pgkv::Store, key: &str) -> Option<u64> {
    s.ttl(key)
        .await
        .unwrap()
        .map(|d| (d + Duration::from_millis(500)).as_secs())
}

#[tokio::test]
async fn expire_conditions_follow_redis() {
    let s = store("exp_when").await;
    // (condition, applies to a key without expiry, 100 s -> 50 s, 100 s -> 200 s)
    let table = [
        (ExpireWhen::Always, true, true, true),
        (ExpireWhen::NoExpiry, true, false, false),
        (ExpireWhen::HasExpiry, false, true, true),
        (ExpireWhen::Later, false, false, true),
        (ExpireWhen::Sooner, true, true, false),
    ];
    for (when, on_persistent, to_sooner, to_later) in table {
        s.set("p", "x").await.unwrap();
        assert_eq!(
            s.expire_if("p", SECS(50), when).await.unwrap(),
            on_persistent,
            "{when:?} on persistent"
        );
        assert_eq!(whole_secs(&s, "p").await, on_persistent.then_some(50), "{when:?}");
        for (to, applies) in [(50, to_sooner), (200, to_later)] {
            s.set_ex("v", "x", SECS(100)).await.unwrap();
            assert_eq!(
                s.expire_if("v", SECS(to), when).await.unwrap(),
                applies,
                "{when:?} 100 -> {to}"
            );
            assert_eq!(
                whole_secs(&s, "v").await,
                Some(if applies { to } else { 100 }),
                "{when:?}"
            );
        }
        // A missing or expired key is never given an expiry.
        assert!(!s.expire_if("missing", SECS(5), when).await.unwrap());
        s.set_ex("gone", "x", SECS(100)).await.unwrap();
        force_expire(&s, "gone").await;
        assert!(
            !s.expire_if("gone", SECS(5), when).await.unwrap(),
            "{when:?} revived an expired key"
        );
        assert_eq!(s.get("gone").await.unwrap(), None);
    }
    assert!(matches!(
        s.expire_if("p", Duration::ZERO, ExpireWhen::Always).await,
        Err(Error::InvalidTtl { .. })
    ));
}

#[tokio::test]
async fn absolute_expiry_round_trips_and_a_past_time_expires_the_key() {
    let s = store("exp_at").await;
    s.set("k", "v").await.unwrap();
    let at = UNIX_EPOCH + Duration::from_micros(4_102_444_800_123_456); // 2100-01-01 + 123456 µs
    assert!(s.expire_at("k", at, ExpireWhen::Always).await.unwrap());
    assert_eq!(s.expire_time("k").await.unwrap(), Expiry::At(at));
    let Expiry::At(left) = s.ttl_status("k").await.unwrap() else {
        panic!("no TTL")
    };
    let expected = at.duration_since(SystemTime::now()).unwrap();
    assert!(left.abs_diff(expected) < SECS(60), "{left:?} vs {expected:?}");
    // GT with an earlier instant does nothing; LT does.
    let sooner = at - SECS(3600);
    assert!(!s.expire_at("k", sooner, ExpireWhen::Later).await.unwrap());
    assert!(s.expire_at("k", sooner, ExpireWhen::Sooner).await.unwrap());
    assert_eq!(s.expire_time("k").await.unwrap(), Expiry::At(sooner));

    // An instant already past: the key is expired, absent everywhere.
    assert!(
        s.expire_at("k", SystemTime::now() - SECS(1), ExpireWhen::Always)
            .await
            .unwrap()
    );
    assert_eq!(s.get("k").await.unwrap(), None);
    assert_eq!(s.ttl_status("k").await.unwrap(), Expiry::Missing);
    assert!(!s.expire_at("k", at, ExpireWhen::Always).await.unwrap());

    // Refused before any SQL, nothing written.
    s.set("z", "v").await.unwrap();
    let before_1970 = UNIX_EPOCH - SECS(1);
    assert!(matches!(
        s.expire_at("z", before_1970, ExpireWhen::Always).await,
        Err(Error::InvalidExpiryTime { .. })
    ));
    let too_far = SystemTime::now() + pgkv::MAX_TTL + SECS(86_400);
    assert!(matches!(
        s.expire_at("z", too_far, ExpireWhen::Always).await,
        Err(Error::InvalidExpiryTime { .. })
    ));
    assert_eq!(s.ttl_status("z").await.unwrap(), Expiry::Persistent);
}

#[tokio::test]
async fn ttl_status_tells_missing_from_persistent() {
    let s = store("exp_status").await;
    assert_eq!(s.ttl_status("k").await.unwrap(), Expiry::Missing);
    assert_eq!(s.expire_time("k").await.unwrap(), Expiry::Missing);
    s.set("k", "v").await.unwrap();
    assert_eq!(s.ttl_status("k").await.unwrap(), Expiry::Persistent);
    assert_eq!(s.expire_time("k").await.unwrap(), Expiry::Persistent);
    s.set_ex("k", "v", SECS(30)).await.unwrap();
    match s.ttl_status("k").await.unwrap() {
        Expiry::At(left) => assert!(left <= SECS(30) && left > SECS(29), "{left:?}"),
        other => panic!("{other:?}"),
    }
    force_expire(&s, "k").await;
    assert_eq!(s.ttl_status("k").await.unwrap(), Expiry::Missing);
}

#[tokio::test]
async fn get_persist_reads_and_removes_the_expiry() {
    let s = store("exp_getpersist").await;
    s.set_ex("k", "v", SECS(30)).await.unwrap();
    assert_eq!(s.get_persist("k").await.unwrap().as_deref(), Some(&b"v"[..]));
    assert_eq!(s.ttl_status("k").await.unwrap(), Expiry::Persistent);
    assert_eq!(s.get_persist("missing").await.unwrap(), None);
    s.set_ex("gone", "v", SECS(30)).await.unwrap();
    force_expire(&s, "gone").await;
    assert_eq!(s.get_persist("gone").await.unwrap(), None);
    assert_eq!(
        s.get("gone").await.unwrap(),
        None,
        "GETEX PERSIST revived an expired key"
    );
}

#[tokio::test]
async fn strlen_counts_bytes_and_zero_for_missing() {
    let s = store("exp_strlen").await;
    assert_eq!(s.strlen("k").await.unwrap(), 0);
    s.set("k", "héllo").await.unwrap();
    assert_eq!(s.strlen("k").await.unwrap(), 6);
    s.set("empty", "").await.unwrap();
    assert_eq!(s.strlen("empty").await.unwrap(), 0);
    s.set_ex("gone", "abc", SECS(30)).await.unwrap();
    force_expire(&s, "gone").await;
    assert_eq!(s.strlen("gone").await.unwrap(), 0);
}

#[tokio::test]
async fn increment_ex_sets_the_ttl_once_per_window() {
    let s = store("exp_incr").await;
    assert_eq!(s.increment_ex("hits", 1, SECS(60)).await.unwrap(), 1);
    let Expiry::At(window_end) = s.expire_time("hits").await.unwrap() else {
        panic!("no TTL")
    };
    assert_eq!(s.increment_ex("hits", 2, SECS(600)).await.unwrap(), 3);
    assert_eq!(
        s.expire_time("hits").await.unwrap(),
        Expiry::At(window_end),
        "the window moved"
    );
    // The window ends: the next increment starts a new one.
    force_expire(&s, "hits").await;
    assert_eq!(s.increment_ex("hits", 1, SECS(60)).await.unwrap(), 1);
    assert!(whole_secs(&s, "hits").await == Some(60));
    // A counter without expiry gets one (EXPIRE NX); a bad value is refused.
    s.set("plain", "7").await.unwrap();
    assert_eq!(s.increment_ex("plain", 1, SECS(60)).await.unwrap(), 8);
    assert_eq!(whole_secs(&s, "plain").await, Some(60));
    s.set("txt", "007").await.unwrap();
    assert!(matches!(
        s.increment_ex("txt", 1, SECS(60)).await,
        Err(Error::NotAnInteger { .. })
    ));
    assert_eq!(s.ttl_status("txt").await.unwrap(), Expiry::Persistent);
    assert!(matches!(
        s.increment_ex("z", 1, Duration::ZERO).await,
        Err(Error::InvalidTtl { .. })
    ));
    assert_eq!(raw_row_count(&s).await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_increment_ex_counts_exactly_under_one_window() {
    let s = pgkv_suite::store_with("exp_incr_race", |c| c.max_connections(8)).await;
    let started = std::time::Instant::now();
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move {
                let mut seen = Vec::new();
                for _ in 0..50 {
                    seen.push(s.increment_ex("limit", 1, SECS(60)).await.unwrap());
                }
                seen
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort_unstable();
    assert!(
        all.iter().copied().eq(1..=800),
        "returned values are not exactly 1..=800"
    );
    // The window was opened by the first increment, so it has at most 60 s
    // left, less however long the increments took.
    let left = s.ttl("limit").await.unwrap().expect("the window has a TTL");
    assert!(left <= SECS(60), "{left:?}");
    assert!(left >= SECS(60).saturating_sub(started.elapsed()), "{left:?}");
}

#[tokio::test]
async fn the_expiry_family_runs_inside_a_transaction() {
    let s = store("exp_tx").await;
    s.set("k", "v").await.unwrap();
    let mut tx = s.begin().await.unwrap();
    assert!(tx.expire_if("k", SECS(40), ExpireWhen::NoExpiry).await.unwrap());
    assert_eq!(
        KvCommands::increment_ex(&mut tx, "n", 5, SECS(40)).await.unwrap(),
        5
    );
    assert!(matches!(tx.ttl_status("k").await.unwrap(), Expiry::At(_)));
    tx.rollback().await.unwrap();
    assert_eq!(s.ttl_status("k").await.unwrap(), Expiry::Persistent);
    assert_eq!(s.ttl_status("n").await.unwrap(), Expiry::Missing);
}
