//! get-or-compute: one loader per key per expiry among 100 callers in 4
//! stores, errors shared and not cached, panics and cancellation give the
//! lease back, stale-while-revalidate serves the old value during a refresh.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use pgkv::{ComputeOptions, Error, Store};
use pgkv_suite::{config, force_expire, unique_table};

const HOUR: Duration = Duration::from_secs(3600);

/// `n` stores on one fresh table, as `n` processes would have.
async fn stores(tag: &str, n: usize) -> Vec<Store> {
    let table = unique_table(tag);
    let mut all = Vec::new();
    for _ in 0..n {
        all.push(Store::with_config(config(tag).table_name(&table)).await.unwrap());
    }
    all
}

/// Waits until the lease of `key` is gone (given back by a spawned task).
async fn lease_given_back(s: &Store, key: &str) {
    let lease = format!("pgkv:lease:{key}");
    while s.exists(&lease).await.unwrap() {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// 100 callers over 4 stores, released together; returns their results.
async fn stampede(all: &[Store], key: &str, runs: &Arc<AtomicUsize>, value: &'static str) -> Vec<Vec<u8>> {
    let start = Arc::new(tokio::sync::Barrier::new(100));
    let mut tasks = Vec::new();
    for i in 0..100 {
        let (s, start, runs, key) = (
            all[i % all.len()].clone(),
            start.clone(),
            runs.clone(),
            key.to_owned(),
        );
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            s.get_or_set_with(&key, HOUR, || async move {
                runs.fetch_add(1, Ordering::SeqCst);
                // Long enough for every caller to find the load under way.
                tokio::time::sleep(Duration::from_millis(50)).await;
                Ok::<_, std::io::Error>(value.as_bytes().to_vec())
            })
            .await
            .unwrap()
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_callers_in_four_stores_run_the_loader_once_per_key_per_expiry() {
    let all = stores("gc_stampede", 4).await;
    for key in ["report:a", "report:b"] {
        let runs = Arc::new(AtomicUsize::new(0));
        let got = stampede(&all, key, &runs, "first").await;
        assert_eq!(
            runs.load(Ordering::SeqCst),
            1,
            "{key}: one loader for 100 callers"
        );
        assert!(got.iter().all(|v| v == b"first"));
        // The next expiry: one more run, and everyone sees the new value.
        force_expire(&all[0], key).await;
        let got = stampede(&all, key, &runs, "second").await;
        assert_eq!(
            runs.load(Ordering::SeqCst),
            2,
            "{key}: one more loader after expiry"
        );
        assert!(got.iter().all(|v| v == b"second"));
        assert!(!all[0].exists(format!("pgkv:lease:{key}")).await.unwrap());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_loader_error_reaches_its_callers_and_is_not_cached() {
    let all = stores("gc_error", 1).await;
    let s = &all[0];
    let runs = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (s, runs) = (s.clone(), runs.clone());
        tasks.push(tokio::spawn(async move {
            s.get_or_set_with("k", HOUR, || async move {
                runs.fetch_add(1, Ordering::SeqCst);
                Err::<Vec<u8>, _>(std::io::Error::other("upstream is down"))
            })
            .await
        }));
    }
    for t in tasks {
        match t.await.unwrap() {
            Err(Error::LoaderFailed { key, source }) => {
                assert_eq!(key, "k");
                assert_eq!(source.to_string(), "upstream is down");
            }
            other => panic!("expected LoaderFailed, got {other:?}"),
        }
    }
    assert!(runs.load(Ordering::SeqCst) >= 1);
    assert_eq!(s.get("k").await.unwrap(), None, "an error is not cached");
    assert!(
        !s.exists("pgkv:lease:k").await.unwrap(),
        "the lease was given back"
    );
    let v = s
        .get_or_set_with("k", HOUR, || async { Ok::<_, std::io::Error>("ok") })
        .await
        .unwrap();
    assert_eq!(v, b"ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_panicking_loader_gives_the_lease_back_and_leaves_no_waiter_hanging() {
    let all = stores("gc_panic", 1).await;
    let s = all[0].clone();
    let (started_tx, started) = tokio::sync::oneshot::channel();
    let (go_tx, go) = tokio::sync::oneshot::channel::<()>();
    let leader = {
        let s = s.clone();
        tokio::spawn(async move {
            s.get_or_set_with("k", HOUR, || async move {
                started_tx.send(()).unwrap();
                go.await.unwrap();
                panic!("the loader blew up");
                #[allow(unreachable_code)]
                Ok::<Vec<u8>, std::io::Error>(Vec::new())
            })
            .await
        })
    };
    started.await.unwrap();
    // The load is in flight: this caller waits for it (or, arriving after
    // the panic, loads itself); either way it gets a value.
    let waiter = {
        let s = s.clone();
        tokio::spawn(async move {
            s.get_or_set_with("k", HOUR, || async { Ok::<_, std::io::Error>("recovered") })
                .await
        })
    };
    go_tx.send(()).unwrap();
    assert!(leader.await.unwrap_err().is_panic());
    assert_eq!(waiter.await.unwrap().unwrap(), b"recovered");
    lease_given_back(&s, "k").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cancelled_load_gives_the_lease_back() {
    let all = stores("gc_cancel", 2).await;
    let (started_tx, started) = tokio::sync::oneshot::channel();
    let load = {
        let s = all[0].clone();
        tokio::spawn(async move {
            s.get_or_set_with("k", HOUR, || async move {
                started_tx.send(()).unwrap();
                std::future::pending::<Result<Vec<u8>, std::io::Error>>().await
            })
            .await
        })
    };
    started.await.unwrap();
    assert!(
        all[1].exists("pgkv:lease:k").await.unwrap(),
        "the loader holds the lease"
    );
    load.abort();
    assert!(load.await.unwrap_err().is_cancelled());
    lease_given_back(&all[1], "k").await;
    let runs = Arc::new(AtomicUsize::new(0));
    let r = runs.clone();
    let v = all[1]
        .get_or_set_with("k", HOUR, || async move {
            r.fetch_add(1, Ordering::SeqCst);
            Ok::<_, std::io::Error>("v")
        })
        .await
        .unwrap();
    assert_eq!((v.as_slice(), runs.load(Ordering::SeqCst)), (&b"v"[..], 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stale_values_are_served_while_one_caller_refreshes() {
    let all = stores("gc_swr", 4).await;
    let opts = ComputeOptions::new(HOUR).stale_while_revalidate(HOUR);
    let v = all[0]
        .get_or_compute("k", opts, || async { Ok::<_, std::io::Error>("v1") })
        .await
        .unwrap();
    assert_eq!(v, b"v1");
    // Stored for ttl + grace.
    let ttl = all[0].ttl("k").await.unwrap().unwrap();
    assert!(ttl > HOUR && ttl <= 2 * HOUR);
    // Into the grace period: 30 minutes left.
    assert!(all[0].expire("k", HOUR / 2).await.unwrap());
    let runs = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for i in 0..40 {
        let (s, runs) = (all[i % 4].clone(), runs.clone());
        tasks.push(tokio::spawn(async move {
            s.get_or_compute("k", opts, || async move {
                runs.fetch_add(1, Ordering::SeqCst);
                Ok::<_, std::io::Error>("v2")
            })
            .await
            .unwrap()
        }));
    }
    let mut refreshed = 0;
    for t in tasks {
        let v = t.await.unwrap();
        assert!(v == b"v1" || v == b"v2", "{v:?}");
        refreshed += usize::from(v == b"v2");
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1, "one refresh");
    assert!(refreshed >= 1);
    assert_eq!(all[0].get("k").await.unwrap().as_deref(), Some(&b"v2"[..]));
    assert!(all[0].ttl("k").await.unwrap().unwrap() > HOUR);
}

#[tokio::test]
async fn bad_options_are_typed_errors_and_run_no_loader() {
    let all = stores("gc_bad", 1).await;
    let s = &all[0];
    let never = || async { Ok::<_, std::io::Error>("x") };
    for opts in [
        ComputeOptions::new(Duration::ZERO),
        ComputeOptions::new(Duration::MAX),
        ComputeOptions::new(HOUR).lease(Duration::ZERO),
        ComputeOptions::new(HOUR).stale_while_revalidate(Duration::ZERO),
        ComputeOptions::new(pgkv::MAX_TTL).stale_while_revalidate(HOUR),
        ComputeOptions::new(HOUR).stale_while_revalidate(Duration::MAX),
    ] {
        assert!(
            matches!(
                s.get_or_compute("k", opts, never).await,
                Err(Error::InvalidTtl { .. })
            ),
            "{opts:?}"
        );
    }
    assert!(matches!(
        s.get_or_set_with("", HOUR, never).await,
        Err(Error::EmptyKey)
    ));
    // Over the key limit itself (a key within it is accepted, however close:
    // the lease row is not held to the caller's limit).
    let long = "k".repeat(1025);
    assert!(matches!(
        s.get_or_set_with(&long, HOUR, never).await,
        Err(Error::KeyTooLong { .. })
    ));
    assert_eq!(s.count(pgkv::ScanOptions::new()).await.unwrap(), 0);
}
