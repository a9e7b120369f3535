//! `set_with`: every combination of Redis's SET options, against the
//! outcome redis-server 7.0.15 gives (NX/XX decide on the live key; GET
//! returns the live value before the call whether or not it wrote; KEEPTTL
//! keeps a live key's expiry; plain SET and XX clear it).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pgkv::{Error, Expiry, SetOptions};
use pgkv_suite::{force_expire, store};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Before {
    Absent,
    Persistent,
    Volatile,
    Expired,
}

#[derive(Debug, Clone, Copy)]
enum When {
    Always,
    Nx,
    Xx,
}

#[derive(Debug, Clone, Copy)]
enum Ttl {
    Clear,
    In,
    At,
    Keep,
}

const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(86_400);
/// 2100-01-01T00:00:00.000123Z: microseconds survive the round trip.
fn at() -> SystemTime {
    UNIX_EPOCH + Duration::from_micros(4_102_444_800_000_123)
}

fn options(when: When, ttl: Ttl, get: bool) -> SetOptions {
    let mut o = SetOptions::new();
    o = match when {
        When::Always => o,
        When::Nx => o.only_if_absent(),
        When::Xx => o.only_if_present(),
    };
    o = match ttl {
        Ttl::Clear => o,
        Ttl::In => o.expire_in(DAY),
        Ttl::At => o.expire_at(at()),
        Ttl::Keep => o.keep_ttl(),
    };
    if get { o.previous() } else { o }
}

/// The key's expiry afterwards, coarsely: none, about an hour (the one set
/// before), about a day (`EX`), or exactly `at()`.
#[derive(Debug, PartialEq)]
enum After {
    Missing,
    Persistent,
    AnHour,
    ADay,
    At,
}

async fn after(s: &pgkv::Store, key: &str) -> After {
    match s.expire_time(key).await.unwrap() {
        Expiry::Missing => After::Missing,
        Expiry::Persistent => After::Persistent,
        Expiry::At(t) if t == at() => After::At,
        Expiry::At(t) => {
            let left = t.duration_since(SystemTime::now()).unwrap_or_default();
            if left.abs_diff(HOUR) < Duration::from_secs(60) {
                After::AnHour
            } else if left.abs_diff(DAY) < Duration::from_secs(60) {
                After::ADay
            } else {
                panic!("unexpected expiry {left:?}")
            }
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn every_set_option_combination_behaves_as_redis() {
    let s = store("setopt_all").await;
    let mut n = 0;
    for before in [
        Before::Absent,
        Before::Persistent,
        Before::Volatile,
        Before::Expired,
    ] {
        for when in [When::Always, When::Nx, When::Xx] {
            for ttl in [Ttl::Clear, Ttl::In, Ttl::At, Ttl::Keep] {
                for get in [false, true] {
                    n += 1;
                    let key = format!("k{n}");
                    match before {
                        Before::Absent => {}
                        Before::Persistent => s.set(&key, "old").await.unwrap(),
                        Before::Volatile => s.set_ex(&key, "old", HOUR).await.unwrap(),
                        Before::Expired => {
                            s.set_ex(&key, "old", HOUR).await.unwrap();
                            force_expire(&s, &key).await;
                        }
                    }
                    let live = matches!(before, Before::Persistent | Before::Volatile);
                    let writes = match when {
                        When::Always => true,
                        When::Nx => !live,
                        When::Xx => live,
                    };
                    let case = format!("{before:?} {when:?} {ttl:?} get={get}");
                    let got = s.set_with(&key, "new", options(when, ttl, get)).await.unwrap();
                    let previous = (get && live).then(|| b"old".to_vec());
                    assert_eq!((got.written, got.previous), (writes, previous), "{case}");
                    let value = s.get_string(&key).await.unwrap();
                    let expiry = after(&s, &key).await;
                    if writes {
                        assert_eq!(value.as_deref(), Some("new"), "{case}");
                        let want = match (ttl, before) {
                            (Ttl::Clear, _) => After::Persistent,
                            (Ttl::In, _) => After::ADay,
                            (Ttl::At, _) => After::At,
                            (Ttl::Keep, Before::Volatile) => After::AnHour,
                            (Ttl::Keep, _) => After::Persistent,
                        };
                        assert_eq!(expiry, want, "{case}");
                    } else {
                        let (want_value, want_expiry) = match before {
                            Before::Persistent => (Some("old"), After::Persistent),
                            Before::Volatile => (Some("old"), After::AnHour),
                            Before::Absent | Before::Expired => (None, After::Missing),
                        };
                        assert_eq!(value.as_deref(), want_value, "{case}");
                        assert_eq!(expiry, want_expiry, "{case}");
                    }
                }
            }
        }
    }
    assert_eq!(n, 96);
}

#[tokio::test]
async fn bad_options_are_refused_before_any_sql() {
    let s = store("setopt_bad").await;
    let zero = SetOptions::new().expire_in(Duration::ZERO);
    assert!(matches!(
        s.set_with("k", "v", zero).await,
        Err(Error::InvalidTtl { .. })
    ));
    let past_epoch = SetOptions::new().expire_at(UNIX_EPOCH - Duration::from_secs(1));
    assert!(matches!(
        s.set_with("k", "v", past_epoch).await,
        Err(Error::InvalidExpiryTime { .. })
    ));
    assert!(matches!(
        s.set_with("", "v", SetOptions::new()).await,
        Err(Error::EmptyKey)
    ));
    assert_eq!(s.get("k").await.unwrap(), None);
    // The last call of each kind wins: NX then XX is XX.
    let xx = SetOptions::new().only_if_absent().only_if_present();
    assert!(!s.set_with("k", "v", xx).await.unwrap().written);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_nx_get_has_one_winner_and_exact_previous_values() {
    let s = pgkv_suite::store_with("setopt_race", |c| c.max_connections(8)).await;
    for round in 0..10 {
        let key = format!("lock{round}");
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let (s, key) = (s.clone(), key.clone());
                tokio::spawn(async move {
                    let opts = SetOptions::new().only_if_absent().previous().expire_in(HOUR);
                    (i, s.set_with(&key, format!("owner{i}"), opts).await.unwrap())
                })
            })
            .collect();
        let mut winners = Vec::new();
        let mut seen = Vec::new();
        for t in tasks {
            let (i, outcome) = t.await.unwrap();
            if outcome.written {
                winners.push(i);
                assert_eq!(outcome.previous, None, "the winner saw a previous value");
            } else {
                seen.push(outcome.previous.expect("a loser sees the winner's value"));
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: {winners:?}");
        let owner = format!("owner{}", winners[0]).into_bytes();
        assert!(seen.iter().all(|v| *v == owner), "a loser saw another value");
    }
}
