//! Reliability under concurrency, cancellation, bad input and least
//! privilege. Sizes are bounded for CI; `PGKV_LONG=1` runs the long forms
//! (10,000 cancellations instead of 2,000; `PGKV_CANCEL_CALLS=n` for any n).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use pgkv::{Config, Error, KvRecord, ScanOptions, Store, TypedStore};
use pgkv_suite::{XorShift, database_url, raw_row_count, store_with, table_of, unique_table};
use serde::{Deserialize, Serialize};

fn long() -> bool {
    std::env::var("PGKV_LONG").is_ok_and(|v| v == "1")
}

// ---------------------------------------------------------------------------
// (a) keyset pagination during concurrent inserts and deletes

/// Pages through `k:` with `after` and limit 7 while other tasks insert and
/// delete keys in between the stable ones: every stable key comes back
/// exactly once per pass, in strictly ascending order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyset_scan_during_churn_returns_every_stable_key_once() {
    let s = store_with("rel_scan_churn", |c| c.max_connections(6)).await;
    let stable: Vec<String> = (0..200).map(|i| format!("k:{i:04}")).collect();
    let items: Vec<(&str, &str)> = stable.iter().map(|k| (k.as_str(), "stable")).collect();
    s.set_many(&items).await.unwrap();
    // Keys outside the prefix on both sides, which must never show up.
    s.set_many(&[("j", "x"), ("k;", "x"), ("k9", "x")]).await.unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let churned = Arc::new(AtomicU64::new(0));
    let churners: Vec<_> = (0..2u64)
        .map(|t| {
            let (s, stop, churned) = (s.clone(), stop.clone(), churned.clone());
            tokio::spawn(async move {
                let mut rng = XorShift(0x2545_F491_4F6C_DD1D ^ (t + 1));
                while !stop.load(Ordering::Relaxed) {
                    // Churn keys sort between stable ones ("k:0005" < "k:0005~" < "k:0006"),
                    // before the first and after the last.
                    let i = rng.below_u64(202);
                    let key = match i {
                        200 => "k:!".to_owned(),
                        201 => "k:9999".to_owned(),
                        _ => format!("k:{i:04}{}", ["~", "a", "_", "%"][rng.below_u64(4) as usize]),
                    };
                    match rng.below_u64(4) {
                        0 => s.set(&key, "churn").await.unwrap(),
                        1 => drop(s.delete(&key).await.unwrap()),
                        2 => {
                            let other = format!("k:{:04}~", rng.below_u64(200));
                            s.set_many(&[(key.as_str(), "c"), (other.as_str(), "c")])
                                .await
                                .unwrap();
                        }
                        _ => drop(s.delete_prefix(&key).await.unwrap()),
                    }
                    churned.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();

    let passes = 6;
    let mut pages = 0;
    for pass in 0..passes {
        let mut seen: Vec<String> = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut opts = ScanOptions::new().prefix("k:").limit(7);
            if let Some(a) = &after {
                opts = opts.after(a);
            }
            // Alternate keys() and scan(): both paginate the same way.
            let page: Vec<String> = if pass % 2 == 0 {
                s.keys(opts).await.unwrap()
            } else {
                s.scan(opts).await.unwrap().into_iter().map(|kv| kv.key).collect()
            };
            pages += 1;
            assert!(page.len() <= 7, "limit ignored: {page:?}");
            if page.is_empty() {
                break;
            }
            after = page.last().cloned();
            seen.extend(page);
            // At least one concurrent write lands between any two pages,
            // however the scheduler treats the churners on a loaded machine.
            let target = churned.load(Ordering::Relaxed) + 1;
            let deadline = Instant::now() + Duration::from_secs(10);
            while churned.load(Ordering::Relaxed) < target {
                assert!(Instant::now() < deadline, "the churners stalled");
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        assert!(
            seen.windows(2).all(|w| w[0].as_bytes() < w[1].as_bytes()),
            "pass {pass}: not strictly ascending (a duplicate or a step back)"
        );
        assert!(
            seen.iter().all(|k| k.starts_with("k:")),
            "pass {pass}: outside the prefix"
        );
        let seen_stable: Vec<&String> = seen.iter().filter(|k| stable.binary_search(k).is_ok()).collect();
        assert_eq!(
            seen_stable.len(),
            stable.len(),
            "pass {pass}: stable keys missing or repeated"
        );
    }
    stop.store(true, Ordering::Relaxed);
    for c in churners {
        c.await.expect("churner panicked");
    }
    assert!(pages > passes * 200 / 7);
    println!(
        "keyset scan: {passes} passes, {pages} pages, {} concurrent writes",
        churned.load(Ordering::Relaxed)
    );
}

// ---------------------------------------------------------------------------
// (b) 64 tasks × increments

/// 64 tasks × 1,000 increments of one counter: every returned value appears
/// exactly once and the final value is 64,000 (about 15 s in a debug build
/// on 2 cores, so the full form always runs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_tasks_increment_exactly() {
    let per_task: i64 = 1_000;
    let tasks: i64 = 64;
    let s = store_with("rel_incr64", |c| c.max_connections(16)).await;
    let started = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move {
                let mut seen = Vec::with_capacity(per_task as usize);
                for _ in 0..per_task {
                    seen.push(s.increment("hits", 1).await.expect("increment"));
                }
                seen
            })
        })
        .collect();
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await.expect("task panicked"));
    }
    let total = tasks * per_task;
    assert_eq!(all.len() as i64, total);
    all.sort_unstable();
    assert!(
        all.iter().copied().eq(1..=total),
        "returned values are not exactly 1..={total}"
    );
    assert_eq!(s.get_string("hits").await.unwrap(), Some(total.to_string()));
    println!(
        "increments: {tasks} × {per_task} = {total} in {:.1?}",
        started.elapsed()
    );
}

// ---------------------------------------------------------------------------
// (c) cancellation at random points

fn attempt_value(key: &str, attempt: u64) -> String {
    format!("{key}@{attempt}")
}

#[derive(Default)]
struct Ledger {
    /// Every value any attempt tried to write, per key.
    tried: BTreeMap<String, BTreeSet<String>>,
    increments_tried: u64,
    increments_done: u64,
    completed: u64,
    cancelled: u64,
    /// Errors from calls that completed (not cancelled).
    errors: Vec<String>,
}

/// The kinds of call the cancellation test cuts short.
const KINDS: u64 = 8;

/// One call of kind `kind` writing `v1` to `k1` and `v2` to `k2`; the
/// transactions also write `pair` to both `pa` and `pb`, always together.
///
/// Every transaction locks rows in one global order (`k1 <= k2 < pa < pb`),
/// as a well-behaved application does: with deadlock-prone orders, calls cut
/// short while they wait for a row lock leave their server backends waiting
/// (PostgreSQL notices a vanished client only once the wait ends), holding
/// their own locks, and the deadlock detector unwinds the pile one second
/// at a time.
async fn cancellable_call(
    s: Store,
    kind: u64,
    (k1, v1): (String, String),
    (k2, v2): (String, String),
    pair: String,
) -> pgkv::Result<()> {
    match kind {
        0 => s.set(&k1, &v1).await,
        1 => s.set_many(&[(&k1, &v1), (&k2, &v2)]).await,
        2 => s.get_and_set(&k1, &v1).await.map(drop),
        3 => {
            let mut tx = s.begin().await?;
            tx.set(&k1, &v1).await?;
            tx.set(&k2, &v2).await?;
            tx.set("pa", &pair).await?;
            tx.set("pb", &pair).await?;
            tx.commit().await
        }
        4 => {
            s.transaction(async |tx| {
                tx.set(&k1, &v1).await?;
                tx.set(&k2, &v2).await?;
                tx.set("pa", &pair).await?;
                tx.set("pb", &pair).await
            })
            .await
        }
        5 => {
            // Rolled back: writes nothing, wherever it is cancelled.
            let mut tx = s.begin().await?;
            tx.set(&k1, "never").await?;
            tx.set("pa", "never").await?;
            tx.rollback().await
        }
        6 => s.increment("ctr", 1).await.map(drop),
        _ => s.get(&k1).await.map(drop),
    }
}

/// Operations and transactions cancelled at random points, while another
/// task writes the same keys in transactions that hold their row locks for a
/// while (so some calls are cut short while they wait for a lock):
/// afterwards no connection is left inside a transaction, no call ever met an
/// aborted transaction, every key holds its initial value or one that some
/// attempt wrote, and pairs written together in a transaction still agree.
/// Bounded: 2,000 calls; `PGKV_LONG=1`: 10,000; `PGKV_CANCEL_CALLS=n`: n.
///
/// Timeouts are uniform in 0-5 ms, stretched to 1.5 × the slowest kind of
/// call (measured first) when the machine is slower than that, so that
/// cancellations land all along the calls, not only at their start.
///
/// One task cancels. With two or more, the pool collapses (see
/// `cancelled_transactions_do_not_starve_other_callers`): each cancelled
/// transaction closes its connection, reconnecting takes longer than the
/// timeouts, and the cancelled connection attempts pile up on the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_calls_leave_no_transaction_and_no_torn_value() {
    let total: u64 = match std::env::var("PGKV_CANCEL_CALLS") {
        Ok(n) => n.parse().expect("PGKV_CANCEL_CALLS is a number"),
        Err(_) if long() => 10_000,
        Err(_) => 2_000,
    };
    let workers = 1u64;
    let app = unique_table("rel_cancel");
    let s = store_with("rel_cancel", |c| c.max_connections(3).application_name(&app)).await;
    let keys: Vec<String> = (0..6).map(|i| format!("c{i}")).collect();
    let init = |k: &str| format!("{k}@init");
    for k in &keys {
        s.set(k, init(k)).await.unwrap();
    }
    s.set_many(&[("pa", "init"), ("pb", "init")]).await.unwrap();
    s.set("ctr", "0").await.unwrap();

    let ledger = Arc::new(std::sync::Mutex::new(Ledger::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let contender = {
        let (s, keys, ledger, stop) = (s.clone(), keys.clone(), ledger.clone(), stop.clone());
        tokio::spawn(async move {
            let mut rng = XorShift(0xD1B5_4A32_D192_ED03);
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let mut k1 = keys[rng.below_u64(keys.len() as u64) as usize].clone();
                let mut k2 = keys[rng.below_u64(keys.len() as u64) as usize].clone();
                if k2 < k1 {
                    std::mem::swap(&mut k1, &mut k2);
                }
                let (v1, v2) = (format!("{k1}@w{n}"), format!("{k2}@w{n}"));
                {
                    let mut l = ledger.lock().unwrap();
                    l.tried.entry(k1.clone()).or_default().insert(v1.clone());
                    l.tried.entry(k2.clone()).or_default().insert(v2.clone());
                }
                s.transaction(async |tx| {
                    tx.set(&k1, &v1).await?;
                    tx.set(&k2, &v2).await?;
                    // Hold the row locks for a while.
                    tokio::time::sleep(Duration::from_millis(rng.below_u64(3))).await;
                    Ok(())
                })
                .await
                .expect("the uncancelled writer never fails");
            }
            n
        })
    };
    // Calibration: how long each kind of call takes here, uncancelled, with
    // the contender running.
    let mut times = Vec::new();
    for kind in 0..KINDS {
        for _ in 0..7 {
            let t = Instant::now();
            let k = |k: &str| (k.to_owned(), init(k));
            cancellable_call(s.clone(), kind, k("c0"), k("c1"), "init".to_owned())
                .await
                .unwrap();
            times.push(t.elapsed());
        }
    }
    times.sort();
    let typical = times[times.len() / 2];
    s.set("ctr", "0").await.unwrap();
    // Timeouts spread over 0 to 1.5x the typical call, so a good share of
    // calls is cut short wherever they are: with a fixed 0-5 ms range, fast
    // calls on a quiet machine finished before almost every timeout.
    let span = Duration::from_micros(200).max(typical * 3 / 2);
    let span_us = u64::try_from(span.as_micros()).unwrap();
    let started = Instant::now();

    let handles: Vec<_> = (0..workers)
        .map(|w| {
            let (s, keys, ledger) = (s.clone(), keys.clone(), ledger.clone());
            tokio::spawn(async move {
                let mut rng = XorShift(0x9E37_79B9_7F4A_7C15 ^ (w + 1).wrapping_mul(0x1000_0001));
                for n in 0..total / workers {
                    let attempt = n * workers + w;
                    let budget = Duration::from_micros(rng.below_u64(span_us + 1));
                    let mut k1 = keys[rng.below_u64(keys.len() as u64) as usize].clone();
                    let mut k2 = keys[rng.below_u64(keys.len() as u64) as usize].clone();
                    if k2 < k1 {
                        std::mem::swap(&mut k1, &mut k2);
                    }
                    let (v1, v2) = (attempt_value(&k1, attempt), attempt_value(&k2, attempt));
                    let kind = rng.below_u64(KINDS);
                    {
                        // Recorded before the call: a cancelled write may still land.
                        let mut l = ledger.lock().unwrap();
                        match kind {
                            0 | 2 => drop(l.tried.entry(k1.clone()).or_default().insert(v1.clone())),
                            1 | 3 | 4 => {
                                l.tried.entry(k1.clone()).or_default().insert(v1.clone());
                                l.tried.entry(k2.clone()).or_default().insert(v2.clone());
                            }
                            6 => l.increments_tried += 1,
                            _ => {}
                        }
                    }
                    let call = cancellable_call(s.clone(), kind, (k1, v1), (k2, v2), format!("p@{attempt}"));
                    let result = tokio::time::timeout(budget, call).await;
                    if result.is_err() {
                        // A cancelled call usually costs its connection, and
                        // reconnecting takes longer than the budget: without
                        // this, the pool stays empty, nearly every
                        // cancellation lands in connection setup, and the
                        // server drowns in abandoned backend start-ups. Wait
                        // for a connection (no timeout) so that cancellations
                        // cut into BEGIN, statements and COMMIT.
                        drop(s.pool().acquire().await.expect("reconnect"));
                    }
                    let mut l = ledger.lock().unwrap();
                    match result {
                        Err(_) => l.cancelled += 1,
                        Ok(Ok(())) => {
                            l.completed += 1;
                            if kind == 6 {
                                l.increments_done += 1;
                            }
                        }
                        Ok(Err(e)) => {
                            l.completed += 1;
                            l.errors.push(format!("{e} / {e:?}"));
                        }
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.await.expect("worker panicked");
    }
    stop.store(true, Ordering::Relaxed);
    let contended = contender.await.expect("contender panicked");
    let elapsed = started.elapsed();
    let l = std::mem::take(&mut *ledger.lock().unwrap());

    // No call that completed failed, least of all on an aborted transaction.
    assert!(
        !l.errors
            .iter()
            .any(|e| e.contains("current transaction is aborted") || e.contains("25P02")),
        "a call met an aborted transaction: {:?}",
        l.errors
    );
    assert!(l.errors.is_empty(), "completed calls failed: {:?}", l.errors);

    // Cancelled connections are closed in the background: give them a moment.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let stuck: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 \
             AND state LIKE 'idle in transaction%'",
        )
        .bind(&app)
        .fetch_one(s.pool())
        .await
        .unwrap();
        if stuck == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{stuck} connections left inside a transaction"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Every key holds its initial value or one that some attempt wrote.
    for k in &keys {
        let v = s.get_string(k).await.unwrap().expect("never deleted");
        let tried = l.tried.get(k).cloned().unwrap_or_default();
        assert!(
            v == init(k) || tried.contains(&v),
            "{k} holds {v:?}, which nobody wrote"
        );
    }
    // Pairs written only together, in transactions, agree.
    let pa = s.get_string("pa").await.unwrap().unwrap();
    let pb = s.get_string("pb").await.unwrap().unwrap();
    assert_eq!(pa, pb, "a transaction was torn");
    assert_ne!(pa, "never", "a rolled-back write survived");
    // The counter: every acknowledged increment, and no phantom ones.
    let ctr: u64 = s.get_string("ctr").await.unwrap().unwrap().parse().unwrap();
    assert!(
        (l.increments_done..=l.increments_tried).contains(&ctr),
        "counter {ctr} outside {}..={}",
        l.increments_done,
        l.increments_tried
    );
    // Every pooled connection works, and the store does.
    let mut conns = Vec::new();
    for _ in 0..3 {
        let mut c = s.pool().acquire().await.unwrap();
        let one: i32 = sqlx::query_scalar("SELECT 1").fetch_one(&mut *c).await.unwrap();
        assert_eq!(one, 1);
        conns.push(c);
    }
    drop(conns);
    s.transaction(async |tx| tx.set("pa", "done").await)
        .await
        .unwrap();
    assert_eq!(s.get_string("pa").await.unwrap().as_deref(), Some("done"));
    println!(
        "cancellation: {total} calls with timeouts 0-{span:.1?}, {} cancelled, {} completed, \
         counter {ctr} ({} acknowledged of {} tried), {contended} contending transactions, \
         in {elapsed:.1?}",
        l.cancelled, l.completed, l.increments_done, l.increments_tried
    );
    assert!(
        l.cancelled >= total / 20,
        "too few cancellations to mean anything: {}",
        l.cancelled
    );
    assert!(
        l.completed >= total / 20,
        "too few completions to mean anything: {}",
        l.completed
    );
}

/// Callers that cut transactions short must not starve everyone else.
///
/// Regression test: a cancelled transaction used to close its connection, so
/// the next call had to reconnect; a reconnect takes longer than a 0-5 ms
/// timeout, so those callers abandoned connection attempts one after another
/// and a plain `get` from a third task waited 4-7 s behind them. A dropped
/// transaction now rolls back in the background and its connection is
/// reused. The bound below is a liveness check, generous for a busy machine,
/// not a performance target.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_transactions_do_not_starve_other_callers() {
    let s = store_with("rel_cancel_storm", |c| c.max_connections(4)).await;
    s.set_many(&[("a", "0"), ("b", "0"), ("r", "0")]).await.unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let cancellers: Vec<_> = (0..2u64)
        .map(|w| {
            let (s, stop) = (s.clone(), stop.clone());
            tokio::spawn(async move {
                let mut rng = XorShift(0xA076_1D64_78BD_642F ^ (w + 1));
                while !stop.load(Ordering::Relaxed) {
                    let budget = Duration::from_micros(rng.below_u64(5_001));
                    let s = s.clone();
                    let tx = async move {
                        let mut tx = s.begin().await?;
                        tx.set("a", "1").await?;
                        tx.set("b", "1").await?;
                        tx.commit().await
                    };
                    let _ = tokio::time::timeout(budget, tx).await;
                }
            })
        })
        .collect();
    let mut slowest = Duration::ZERO;
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let t = Instant::now();
        let read = tokio::time::timeout(Duration::from_secs(10), s.get("r")).await;
        assert!(matches!(read, Ok(Ok(Some(_)))), "{read:?}");
        slowest = slowest.max(t.elapsed());
    }
    stop.store(true, Ordering::Relaxed);
    for c in cancellers {
        c.await.unwrap();
    }
    assert!(
        slowest < Duration::from_secs(2),
        "a plain get waited {slowest:?} behind cancelled transactions"
    );
}

// ---------------------------------------------------------------------------
// (d) bad input through the typed and record layers

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Note {
    text: String,
}

fn note(len: usize) -> Note {
    Note {
        text: "x".repeat(len),
    }
}

/// Stores under the key exactly as given: an empty key stays empty.
#[derive(Debug, Serialize, Deserialize)]
struct Verbatim {
    n: u8,
}

impl KvRecord for Verbatim {
    const PREFIX: &'static str = "";
    const TTL: Option<Duration> = Some(Duration::from_secs(3600));
    fn key_format(key: &str) -> String {
        key.to_owned()
    }
}

/// A key layout that puts a NUL in every key.
#[derive(Debug, Serialize, Deserialize)]
struct NulLayout {
    n: u8,
}

impl KvRecord for NulLayout {
    const PREFIX: &'static str = "nul:";
    const TTL: Option<Duration> = None;
    fn key_format(key: &str) -> String {
        format!("{}{key}\0", Self::PREFIX)
    }
}

/// A long prefix: short keys already exceed the store's 16-byte limit.
#[derive(Debug, Serialize, Deserialize, KvRecord)]
#[kv(prefix = "a-very-long-prefix:", ttl = 60)]
struct LongPrefix {
    #[kv(key)]
    id: u32,
}

/// The record's key field is a string that may be anything.
#[derive(Debug, Serialize, Deserialize, KvRecord)]
#[kv(prefix = "u:")]
struct User {
    #[kv(key)]
    name: String,
}

fn assert_rejected<T: std::fmt::Debug>(what: &str, result: pgkv::Result<T>, expect: fn(&Error) -> bool) {
    match result {
        Err(e) if expect(&e) => assert!(!e.is_recoverable(), "{what}: {e:?} is not recoverable"),
        other => panic!("{what}: unexpected {other:?}"),
    }
}

#[tokio::test]
async fn bad_input_through_typed_and_record_layers_writes_nothing() {
    let s = store_with("rel_bad_typed", |c| c.max_key_length(16).max_value_size(32)).await;
    let typed: TypedStore<Note> = s.typed();
    let hour = Duration::from_secs(3600);
    let empty = |e: &Error| matches!(e, Error::EmptyKey);
    let nul = |e: &Error| matches!(e, Error::KeyContainsNul { .. });
    let long = |e: &Error| matches!(e, Error::KeyTooLong { max: 16, .. });
    let large = |e: &Error| matches!(e, Error::ValueTooLarge { max: 32, .. });
    let bad_ttl = |e: &Error| matches!(e, Error::InvalidTtl { .. });
    let too_long_key = "k".repeat(17);
    // `{"text":"…"}` is 11 bytes plus the text: 21 characters fit in 32, 22 do not.
    assert_eq!(serde_json::to_vec(&note(21)).unwrap().len(), 32);

    for (key, expect) in [
        ("", empty as fn(&Error) -> bool),
        ("a\0b", nul),
        (too_long_key.as_str(), long),
    ] {
        assert_rejected("typed set", typed.set(key, &note(1)).await, expect);
        assert_rejected("typed set_ex", typed.set_ex(key, &note(1), hour).await, expect);
        assert_rejected("typed get", typed.get(key).await, expect);
        assert_rejected("typed get_ex", typed.get_ex(key, hour).await, expect);
        assert_rejected("typed delete", typed.delete(key).await, expect);
        assert_rejected("typed get_and_delete", typed.get_and_delete(key).await, expect);
        assert_rejected("typed get_many", typed.get_many(&["fine", key]).await, expect);
        assert_rejected(
            "typed set_many",
            typed.set_many(&[("fine", note(1)), (key, note(1))]).await,
            expect,
        );
    }
    // An encoded value one byte over the limit, alone and in a batch.
    assert_rejected("typed set big", typed.set("k", &note(22)).await, large);
    assert_rejected(
        "typed set_ex big",
        typed.set_ex("k", &note(22), hour).await,
        large,
    );
    assert_rejected(
        "typed set_many big",
        typed.set_many(&[("fine", note(1)), ("k", note(22))]).await,
        large,
    );
    assert_rejected(
        "typed set_ex ttl 0",
        typed.set_ex("k", &note(1), Duration::ZERO).await,
        bad_ttl,
    );
    assert_rejected(
        "typed get_ex ttl 0",
        typed.get_ex("k", Duration::ZERO).await,
        bad_ttl,
    );

    // Records whose key layout yields an invalid key.
    let v = Verbatim { n: 1 };
    assert_rejected("record set_ex empty", v.set_ex(&s, "").await, empty);
    assert_rejected("record get empty", Verbatim::get(&s, "").await, empty);
    assert_rejected("record get_ex empty", Verbatim::get_ex(&s, "").await, empty);
    assert_rejected("record get_del empty", Verbatim::get_del(&s, "").await, empty);
    assert_rejected("record del empty", Verbatim::del(&s, "").await, empty);
    let n = NulLayout { n: 1 };
    assert_rejected("record set_ex nul", n.set_ex(&s, "1").await, nul);
    assert_rejected("record get nul", NulLayout::get(&s, "1").await, nul);
    assert_rejected("record get_ex nul", NulLayout::get_ex(&s, "1").await, nul);
    assert_rejected("record get_del nul", NulLayout::get_del(&s, "1").await, nul);
    assert_rejected("record del nul", NulLayout::del(&s, "1").await, nul);
    let lp = LongPrefix { id: 7 };
    assert_rejected("record save long", lp.save(&s).await, long);
    assert_rejected("record get long", LongPrefix::get(&s, "7").await, long);
    assert_rejected("record get_ex long", LongPrefix::get_ex(&s, "7").await, long);
    let u = User { name: "a\0".into() };
    assert_rejected("record save nul field", u.save(&s).await, nul);
    let u = User { name: "x".repeat(15) };
    assert_rejected("record save long field", u.save(&s).await, long);

    assert_eq!(raw_row_count(&s).await, 0, "a rejected call wrote something");
    // The store, and both layers, still work.
    typed.set("k", &note(21)).await.unwrap();
    assert_eq!(typed.get("k").await.unwrap(), Some(note(21)));
    User { name: "ada".into() }.save(&s).await.unwrap();
    assert!(User::get(&s, "ada").await.unwrap().is_some());
    assert_eq!(raw_row_count(&s).await, 2);
}

// ---------------------------------------------------------------------------
// (e) least privilege

/// `url` with its user replaced by `user` (and any password dropped).
fn url_for_user(url: &str, user: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL with a scheme");
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    format!("{scheme}://{user}@{host}{tail}")
}

async fn admin_exec(pool: &sqlx::PgPool, sql: String) {
    sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
        .execute(pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// A role that may only SELECT/INSERT/UPDATE/DELETE on a table created by
/// the owner (with `pgkv::schema_sql`) runs every operation, the cleanup
/// sweep, the cleanup task and transactions; asked to create a missing table
/// it gets a clear permission error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn least_privilege_role_runs_every_operation() {
    let url = database_url();
    let owner = sqlx::PgPool::connect(&url).await.unwrap();
    let table = unique_table("rel_lp");
    let role = format!("pgkv_app_{}", &table[2..]);
    let config = Config::new("").table_name(&table);
    // DDL by the owner, as an application's migration would.
    sqlx::raw_sql(sqlx::AssertSqlSafe(pgkv::schema_sql(&config).unwrap()))
        .execute(&owner)
        .await
        .unwrap();
    admin_exec(&owner, format!("CREATE ROLE {role} LOGIN")).await;
    admin_exec(
        &owner,
        format!("GRANT SELECT, INSERT, UPDATE, DELETE ON public.{table} TO {role}"),
    )
    .await;

    let app_url = url_for_user(&url, &role);
    let result = tokio::spawn({
        let (app_url, table) = (app_url.clone(), table.clone());
        async move { run_as_app(&app_url, &table).await }
    })
    .await;

    // Clean up before reporting: roles are cluster-wide.
    admin_exec(&owner, format!("DROP TABLE public.{table}")).await;
    admin_exec(&owner, format!("DROP OWNED BY {role}")).await;
    admin_exec(&owner, format!("DROP ROLE {role}")).await;
    if let Err(panic) = result {
        std::panic::resume_unwind(panic.into_panic());
    }
}

async fn run_as_app(app_url: &str, table: &str) {
    let hour = Duration::from_secs(3600);
    // The role really is unprivileged: no DDL.
    let probe = sqlx::PgPool::connect(app_url)
        .await
        .expect("connect as the app role");
    let who: (String, bool) =
        sqlx::query_as("SELECT current_user::text, rolsuper FROM pg_roles WHERE rolname = current_user")
            .fetch_one(&probe)
            .await
            .unwrap();
    assert!(who.0.starts_with("pgkv_app_") && !who.1, "{who:?}");
    let ddl = sqlx::query("CREATE TABLE public.pgkv_lp_probe (x int)")
        .execute(&probe)
        .await;
    assert!(
        ddl.is_err(),
        "the role can create tables: the test proves nothing"
    );
    probe.close().await;

    let s = Store::with_config(
        Config::new(app_url)
            .table_name(table)
            .auto_create_table(false)
            .ttl_cleanup_strategy(pgkv::TtlCleanupStrategy::Manual)
            .max_connections(3),
    )
    .await
    .expect("store as the app role");
    s.set("a", "1").await.unwrap();
    assert_eq!(s.get("a").await.unwrap(), Some(b"1".to_vec()));
    assert_eq!(s.get_string("a").await.unwrap().as_deref(), Some("1"));
    assert_eq!(s.get_or_err("a").await.unwrap(), b"1");
    assert!(s.exists("a").await.unwrap());
    assert!(s.set_nx("b", "2").await.unwrap());
    assert!(s.replace("b", "3").await.unwrap());
    s.set_ex("c", "x", hour).await.unwrap();
    assert!(s.set_nx_ex("d", "x", hour).await.unwrap());
    assert_eq!(s.get_ex("d", hour).await.unwrap(), Some(b"x".to_vec()));
    assert!(s.expire("a", hour).await.unwrap());
    assert!(s.ttl("a").await.unwrap().is_some());
    assert!(s.persist("a").await.unwrap());
    s.set_many(&[("m1", "1"), ("m2", "2")]).await.unwrap();
    s.set_many_ex(&[("m3", "3")], hour).await.unwrap();
    assert_eq!(
        s.get_many(&["m1", "zz", "m3"]).await.unwrap(),
        vec![Some(b"1".to_vec()), None, Some(b"3".to_vec())]
    );
    assert_eq!(s.delete_many(&["m1", "m2"]).await.unwrap(), 2);
    assert_eq!(s.increment("n", 5).await.unwrap(), 5);
    assert_eq!(s.decrement("n", 2).await.unwrap(), 3);
    assert_eq!(
        s.compare_and_swap("n", Some(b"3"), "10").await.unwrap(),
        pgkv::CasResult::Success
    );
    assert_eq!(
        s.compare_and_swap("new", None, "v").await.unwrap(),
        pgkv::CasResult::Success
    );
    assert_eq!(s.get_and_set("new", "w").await.unwrap(), Some(b"v".to_vec()));
    assert_eq!(s.get_and_delete("new").await.unwrap(), Some(b"w".to_vec()));
    assert_eq!(s.keys(ScanOptions::new().prefix("m")).await.unwrap(), vec!["m3"]);
    assert_eq!(s.scan(ScanOptions::new().after("m")).await.unwrap().len(), 2);
    assert_eq!(s.count(ScanOptions::new()).await.unwrap(), 6);
    assert!(
        s.explain_keys(ScanOptions::new().prefix("m"))
            .await
            .unwrap()
            .contains("Scan")
    );
    assert_eq!(s.delete_prefix("m").await.unwrap(), 1);
    assert!(s.delete("d").await.unwrap());
    // Expired rows, removed by the sweep and by the task (advisory lock included).
    s.set_ex("e1", "x", hour).await.unwrap();
    s.set_ex("e2", "x", hour).await.unwrap();
    pgkv_suite::force_expire(&s, "e1").await;
    assert_eq!(s.cleanup_expired().await.unwrap(), 1);
    pgkv_suite::force_expire(&s, "e2").await;
    let handle = s.spawn_cleanup(Duration::from_millis(20));
    let deadline = Instant::now() + Duration::from_secs(10);
    while handle.stats().rows_deleted < 1 {
        assert!(
            Instant::now() < deadline,
            "the cleanup task deleted nothing: {:?}",
            handle.stats()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stats = handle.stats();
    assert_eq!(stats.failed_passes, 0, "{stats:?}");
    handle.shutdown().await;
    // Transactions, committed and rolled back.
    s.transaction(async |tx| {
        tx.set("t1", "1").await?;
        tx.increment("n", 1).await
    })
    .await
    .unwrap();
    let mut tx = s.begin().await.unwrap();
    tx.set("t2", "2").await.unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(s.get_string("t1").await.unwrap().as_deref(), Some("1"));
    assert_eq!(s.get("t2").await.unwrap(), None);
    assert_eq!(s.get_string("n").await.unwrap().as_deref(), Some("11"));

    // The default auto_create_table(true) also works once the table exists:
    // the store reads the catalog instead of running DDL.
    let s2 = Store::with_config(Config::new(app_url).table_name(table).max_connections(1))
        .await
        .expect("auto_create_table(true) on an existing table needs no DDL privilege");
    assert_eq!(s2.get_string("t1").await.unwrap().as_deref(), Some("1"));
    s2.pool().close().await;

    // Asked to create a missing table, the role gets a clear error.
    let missing_name = unique_table("rel_lp_missing");
    let missing = missing_name.clone();
    let err = Store::with_config(Config::new(app_url).table_name(&missing).max_connections(1))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("42501"), "{err:?}");
    assert!(err.to_string().contains("permission denied"), "{err}");
    assert!(!err.is_recoverable());
    let missing = Store::with_config(
        Config::new(app_url)
            .table_name(&missing)
            .auto_create_table(false)
            .max_connections(1),
    )
    .await
    .unwrap_err();
    assert!(matches!(missing, Error::TableMissing { .. }), "{missing:?}");
    // The failed attempt created nothing.
    let created: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(format!("public.{missing_name}"))
        .fetch_one(s.pool())
        .await
        .unwrap();
    assert!(!created, "a table was created by a role without CREATE");
    assert_eq!(table_of(&s), format!("\"public\".\"{table}\""));
    s.pool().close().await;
}

/// Asking for TLS from a build without a TLS feature is a clear error at
/// connect time, never a silent plaintext connection. (The throwaway test
/// server has no certificate, so with a TLS feature it fails too, saying the
/// server does not support TLS.)
#[tokio::test]
async fn sslmode_require_never_falls_back_to_plaintext() {
    let url = database_url();
    let sep = if url.contains('?') { '&' } else { '?' };
    let err = Store::connect(&format!("{url}{sep}sslmode=require"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("TLS"), "{err}");
}

#[test]
fn url_rewriting() {
    assert_eq!(
        url_for_user("postgres://postgres@127.0.0.1:5499/pgkv", "app"),
        "postgres://app@127.0.0.1:5499/pgkv"
    );
    assert_eq!(
        url_for_user("postgresql://u:p@h/db?sslmode=disable", "app"),
        "postgresql://app@h/db?sslmode=disable"
    );
    assert_eq!(url_for_user("postgres://h:1/db", "app"), "postgres://app@h:1/db");
}
