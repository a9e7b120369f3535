//! Rate limiters: exact admitted counts under concurrency, the decision's
//! numbers, window reset, and bad limits refused before any SQL.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use pgkv::{Error, Quota, RateDecision, Store};
use pgkv_suite::{force_expire, store};

const HOUR: Duration = Duration::from_secs(3600);

/// `tasks` × `checks` concurrent checks; how many were admitted.
async fn admitted<F, Fut>(s: &Store, tasks: usize, checks: usize, check: F) -> u64
where
    F: Fn(Store) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = RateDecision> + Send,
{
    let count = Arc::new(AtomicU64::new(0));
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let (s, count, check) = (s.clone(), count.clone(), check.clone());
        handles.push(tokio::spawn(async move {
            for _ in 0..checks {
                if check(s.clone()).await.allowed {
                    count.fetch_add(1, Ordering::SeqCst);
                }
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    count.load(Ordering::SeqCst)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fixed_window_admits_exactly_its_limit_under_concurrency() {
    let s = store("rl_fixed").await;
    let got = admitted(&s, 16, 25, |s| async move {
        s.rate_limit("api", 37, HOUR).await.unwrap()
    })
    .await;
    assert_eq!(got, 37);
    let last = s.rate_limit("api", 37, HOUR).await.unwrap();
    assert!(!last.allowed);
    assert_eq!(last.remaining, 0);
    assert!(last.retry_after > Duration::ZERO && last.retry_after <= HOUR);
    // Denied checks do not count: the counter stops at limit + 1.
    assert_eq!(s.get_string("api").await.unwrap().as_deref(), Some("38"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gcra_admits_exactly_its_burst_under_concurrency() {
    let s = store("rl_gcra").await;
    // One check per 6 minutes on average: nothing refills during the test.
    let quota = Quota::per(10, HOUR).burst(25);
    let got = admitted(&s, 16, 25, move |s| async move {
        s.rate_limit_gcra("api", quota).await.unwrap()
    })
    .await;
    assert_eq!(got, 25);
    let last = s.rate_limit_gcra("api", quota).await.unwrap();
    assert!(!last.allowed);
    assert_eq!(last.remaining, 0);
    assert!(last.retry_after > Duration::ZERO && last.retry_after <= Duration::from_secs(360));
}

#[tokio::test]
async fn a_fixed_window_counts_down_and_starts_afresh_after_its_window() {
    let s = store("rl_window").await;
    let d = s.rate_limit("k", 3, HOUR).await.unwrap();
    assert_eq!((d.allowed, d.remaining, d.retry_after), (true, 2, Duration::ZERO));
    let d = s.rate_limit("k", 3, HOUR).await.unwrap();
    assert_eq!((d.allowed, d.remaining), (true, 1));
    let d = s.rate_limit("k", 3, HOUR).await.unwrap();
    assert_eq!((d.allowed, d.remaining), (true, 0));
    assert!(d.retry_after > Duration::ZERO && d.retry_after <= HOUR);
    let d = s.rate_limit("k", 3, HOUR).await.unwrap();
    assert_eq!((d.allowed, d.remaining), (false, 0));
    // The TTL was set by the first check only.
    let ttl = s.ttl("k").await.unwrap().unwrap();
    assert!(ttl <= HOUR);
    force_expire(&s, "k").await;
    let d = s.rate_limit("k", 3, HOUR).await.unwrap();
    assert_eq!((d.allowed, d.remaining), (true, 2));
    // A limit of 0 admits nothing.
    let d = s.rate_limit("none", 0, HOUR).await.unwrap();
    assert_eq!((d.allowed, d.remaining), (false, 0));
    // Works inside a transaction too, and rolls back with it.
    let mut tx = s.begin().await.unwrap();
    assert!(tx.rate_limit("tx", 1, HOUR).await.unwrap().allowed);
    tx.rollback().await.unwrap();
    assert!(s.rate_limit("tx", 1, HOUR).await.unwrap().allowed);
}

#[tokio::test]
async fn gcra_decisions_count_down_the_burst_then_say_when_to_retry() {
    let s = store("rl_gcra_seq").await;
    // 3 per hour: one every 20 minutes, 3 at once.
    let quota = Quota::per(3, HOUR);
    for remaining in [2, 1, 0] {
        let d = s.rate_limit_gcra("k", quota).await.unwrap();
        assert!(d.allowed);
        assert_eq!(d.remaining, remaining);
        if remaining > 0 {
            assert_eq!(d.retry_after, Duration::ZERO);
        }
    }
    let d = s.rate_limit_gcra("k", quota).await.unwrap();
    assert!(!d.allowed);
    assert_eq!(d.remaining, 0);
    let twenty = Duration::from_secs(1200);
    assert!(
        d.retry_after > Duration::ZERO && d.retry_after <= twenty,
        "{:?}",
        d.retry_after
    );
    // The state lives no longer than it matters (the tolerance: an hour).
    assert!(s.ttl("k").await.unwrap().unwrap() <= HOUR);
    // Once the state has expired the full burst is back.
    force_expire(&s, "k").await;
    assert_eq!(s.rate_limit_gcra("k", quota).await.unwrap().remaining, 2);
}

#[tokio::test]
async fn bad_limits_and_foreign_values_are_typed_errors_that_change_nothing() {
    let s = store("rl_bad").await;
    let invalid = |r: pgkv::Result<RateDecision>| matches!(r, Err(Error::InvalidRateLimit { .. }));
    assert!(invalid(s.rate_limit_gcra("k", Quota::per(0, HOUR)).await));
    assert!(invalid(
        s.rate_limit_gcra("k", Quota::per(5, HOUR).burst(0)).await
    ));
    assert!(invalid(
        s.rate_limit_gcra("k", Quota::per(5, Duration::ZERO)).await
    ));
    assert!(invalid(
        s.rate_limit_gcra("k", Quota::per(5, Duration::MAX)).await
    ));
    assert!(invalid(
        s.rate_limit_gcra("k", Quota::per(u64::MAX, Duration::from_secs(1)))
            .await
    ));
    assert!(invalid(
        s.rate_limit_gcra("k", Quota::per(1, pgkv::MAX_TTL).burst(u64::MAX))
            .await
    ));
    assert!(invalid(
        s.rate_limit_gcra("k", Quota::per(1, HOUR).burst(u64::MAX)).await
    ));
    assert!(invalid(s.rate_limit("k", u64::MAX, HOUR).await));
    for window in [Duration::ZERO, Duration::MAX] {
        assert!(matches!(
            s.rate_limit("k", 5, window).await,
            Err(Error::InvalidTtl { .. })
        ));
    }
    assert!(matches!(s.rate_limit("", 5, HOUR).await, Err(Error::EmptyKey)));
    assert!(!s.exists("k").await.unwrap());
    // The largest limit that fits is fine.
    assert!(s.rate_limit("big", i64::MAX as u64, HOUR).await.unwrap().allowed);
    s.set("text", "hello").await.unwrap();
    assert!(matches!(
        s.rate_limit("text", 5, HOUR).await,
        Err(Error::WrongKind { .. })
    ));
    assert!(matches!(
        s.rate_limit_gcra("text", Quota::per(5, HOUR)).await,
        Err(Error::WrongKind { .. })
    ));
    assert_eq!(s.get_string("text").await.unwrap().as_deref(), Some("hello"));
}
