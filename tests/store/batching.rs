//! Opportunistic batching (`Config::batch_concurrent_calls`): calls that find
//! every connection busy queue and go as one statement per kind. The tests
//! fill the pool with open transactions so that calls queue, wait until the
//! store reports them queued, then free connections; every result, and the
//! table afterwards, is checked exactly.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::time::Duration;

use pgkv::{Error, Store, Transaction};
use pgkv_suite::{XorShift, admin, not_through_pooler, store_with, table_of};
use tokio::task::JoinHandle;

/// A store of `connections` connections (batching is on by default).
async fn store(tag: &str, connections: u32) -> Store {
    store_with(tag, |c| c.max_connections(connections)).await
}

/// Takes every connection of the pool, each in an open transaction.
async fn fill_pool(s: &Store, connections: usize) -> Vec<Transaction> {
    let mut held = Vec::new();
    for _ in 0..connections {
        held.push(s.begin().await.expect("begin"));
    }
    held
}

fn queued(s: &Store) -> usize {
    s.batching_stats().expect("batching is on").queued
}

/// Waits until `n` calls are queued (the event the tests order calls by).
async fn until_queued(s: &Store, n: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while queued(s) != n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} calls queued, expected {n}",
            queued(s)
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Spawns `call` and waits until it has joined the queue.
async fn queue<T, F>(s: &Store, call: F) -> JoinHandle<T>
where
    T: Send + 'static,
    F: Future<Output = T> + Send + 'static,
{
    let before = queued(s);
    let handle = tokio::spawn(call);
    until_queued(s, before + 1).await;
    handle
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_alone_are_never_batched() {
    let s = store("batch_alone", 2).await;
    for i in 0..20 {
        s.set(format!("k{i}"), "v").await.unwrap();
        assert_eq!(s.get(format!("k{i}")).await.unwrap(), Some(b"v".to_vec()));
        assert!(s.exists(format!("k{i}")).await.unwrap());
        assert!(s.delete(format!("k{i}")).await.unwrap());
    }
    let stats = s.batching_stats().unwrap();
    assert_eq!((stats.batches, stats.batched_calls, stats.queued), (0, 0, 0));
    let off = store_with("batch_off", |c| c.batch_concurrent_calls(false)).await;
    assert_eq!(off.batching_stats(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_calls_go_as_one_statement_per_kind_each_with_its_own_result() {
    let s = store("batch_kinds", 2).await;
    for key in ["a", "b", "c", "gone"] {
        s.set(key, format!("{key}-old")).await.unwrap();
    }
    let held = fill_pool(&s, 2).await;

    let mut gets = Vec::new();
    for key in ["a", "b", "a", "missing", "c"] {
        let c = s.clone();
        gets.push((key, queue(&s, async move { c.get(key).await }).await));
    }
    let mut exists = Vec::new();
    for key in ["b", "missing", "b"] {
        let c = s.clone();
        exists.push((key, queue(&s, async move { c.exists(key).await }).await));
    }
    let mut writes = Vec::new();
    for (key, value) in [("new1", "n1"), ("new2", "n2")] {
        let c = s.clone();
        writes.push(queue(&s, async move { c.set(key, value).await }).await);
    }
    let c = s.clone();
    writes.push(
        queue(&s, async move {
            c.set_ex("temp", "t", Duration::from_secs(600)).await
        })
        .await,
    );
    let mut deletes = Vec::new();
    for key in ["gone", "never"] {
        let c = s.clone();
        deletes.push((key, queue(&s, async move { c.delete(key).await }).await));
    }
    assert_eq!(queued(&s), 13);

    drop(held);
    for (key, call) in gets {
        let expected = match key {
            "missing" => None,
            key => Some(format!("{key}-old").into_bytes()),
        };
        assert_eq!(call.await.unwrap().unwrap(), expected, "get {key}");
    }
    for (key, call) in exists {
        assert_eq!(call.await.unwrap().unwrap(), key != "missing", "exists {key}");
    }
    for call in writes {
        call.await.unwrap().unwrap();
    }
    for (key, call) in deletes {
        assert_eq!(call.await.unwrap().unwrap(), key == "gone", "delete {key}");
    }
    let stats = s.batching_stats().unwrap();
    assert_eq!((stats.batches, stats.batched_calls, stats.queued), (4, 13, 0));

    assert_eq!(s.get_string("new1").await.unwrap().as_deref(), Some("n1"));
    assert_eq!(s.get_string("new2").await.unwrap().as_deref(), Some("n2"));
    assert_eq!(s.get_string("temp").await.unwrap().as_deref(), Some("t"));
    assert_eq!(s.ttl("new1").await.unwrap(), None, "SET in a batch has no expiry");
    let left = s.ttl("temp").await.unwrap().expect("SET_EX in a batch expires");
    assert!(
        left > Duration::from_secs(590) && left <= Duration::from_secs(600),
        "{left:?}"
    );
    assert_eq!(s.get("gone").await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_on_one_key_in_one_batch_take_effect_in_arrival_order() {
    let s = store("batch_order", 1).await;
    s.set("d", "present").await.unwrap();
    s.set_ex("x", "old", Duration::from_secs(5)).await.unwrap();
    let held = fill_pool(&s, 1).await;

    let mut writes = Vec::new();
    let c = s.clone();
    writes.push(
        queue(&s, async move {
            c.set_ex("k", "first", Duration::from_secs(60)).await
        })
        .await,
    );
    let c = s.clone();
    writes.push(queue(&s, async move { c.set("k", "second").await }).await);
    let c = s.clone();
    writes.push(
        queue(&s, async move {
            c.set_ex("k", "third", Duration::from_secs(900)).await
        })
        .await,
    );
    let c = s.clone();
    writes.push(queue(&s, async move { c.set("x", "plain").await }).await);
    let c = s.clone();
    let first_delete = queue(&s, async move { c.delete("d").await }).await;
    let c = s.clone();
    let second_delete = queue(&s, async move { c.delete("d").await }).await;

    drop(held);
    for call in writes {
        call.await.unwrap().unwrap();
    }
    assert!(
        first_delete.await.unwrap().unwrap(),
        "the first DELETE removed the row"
    );
    assert!(!second_delete.await.unwrap().unwrap(), "the second found nothing");
    assert_eq!(s.get_string("k").await.unwrap().as_deref(), Some("third"));
    let left = s.ttl("k").await.unwrap().expect("the last write's TTL");
    assert!(left > Duration::from_secs(890), "{left:?}");
    assert_eq!(s.ttl("x").await.unwrap(), None, "a batched SET clears the TTL");
    assert_eq!(s.batching_stats().unwrap().batches, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_before_queueing_and_fails_no_neighbour() {
    let s = store_with("batch_input", |c| c.max_connections(1).max_value_size(16)).await;
    let held = fill_pool(&s, 1).await;
    let c = s.clone();
    let neighbour = queue(&s, async move { c.set("good", "value").await }).await;

    // Answered at once, though no connection is free: nothing queued.
    assert!(matches!(s.get("").await, Err(Error::EmptyKey)));
    assert!(matches!(
        s.set("k", vec![0u8; 17]).await,
        Err(Error::ValueTooLarge { .. })
    ));
    assert!(matches!(
        s.set_ex("k", "v", Duration::ZERO).await,
        Err(Error::InvalidTtl { .. })
    ));
    assert!(matches!(
        s.exists("a\0b").await,
        Err(Error::KeyContainsNul { .. })
    ));
    assert!(matches!(
        s.delete("x".repeat(2000)).await,
        Err(Error::KeyTooLong { .. })
    ));
    assert_eq!(queued(&s), 1);

    drop(held);
    neighbour.await.unwrap().unwrap();
    assert_eq!(s.get_string("good").await.unwrap().as_deref(), Some("value"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_cancelled_while_queued_is_never_sent() {
    let s = store("batch_cancel", 1).await;
    let held = fill_pool(&s, 1).await;
    let c = s.clone();
    let cancelled = queue(&s, async move { c.set("cancelled", "x").await }).await;
    let c = s.clone();
    let kept = queue(&s, async move { c.set("kept", "y").await }).await;
    let c = s.clone();
    let cancelled_read = queue(&s, async move { c.get("kept").await }).await;
    cancelled.abort();
    cancelled_read.abort();
    assert!(cancelled.await.unwrap_err().is_cancelled());
    assert!(cancelled_read.await.unwrap_err().is_cancelled());

    drop(held);
    kept.await.unwrap().unwrap();
    // Read before the check below: the read lane's flusher (whose batch was
    // empty) may still hold the one connection, and a read would queue.
    let stats = s.batching_stats().unwrap();
    assert_eq!(
        s.get("cancelled").await.unwrap(),
        None,
        "the cancelled SET was never sent"
    );
    assert_eq!(
        (stats.batches, stats.batched_calls),
        (1, 1),
        "one batch carried the one call still waiting; the cancelled read's batch was empty"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_batch_fails_exactly_the_calls_it_carried() {
    if not_through_pooler(
        "a_failed_batch_fails_exactly_the_calls_it_carried",
        "it terminates the batch's server process",
    ) {
        return;
    }
    let s = store("batch_fail", 2).await;
    s.set("reader", "r").await.unwrap();
    // A transaction holds the row lock the batch will wait for.
    let mut blocker = s.begin().await.unwrap();
    blocker.set("locked", "tx").await.unwrap();
    let other = s.begin().await.unwrap();

    let c = s.clone();
    let locked = queue(&s, async move { c.set("locked", "batch").await }).await;
    let c = s.clone();
    let beside = queue(&s, async move { c.set("beside", "batch").await }).await;
    let c = s.clone();
    let read = queue(&s, async move { c.get("reader").await }).await;

    // The write lane's flusher queued first, so it gets the freed
    // connection and its batch waits for the row lock.
    drop(other);
    let table = table_of(&s);
    let pid: i32 = loop {
        let waiting: Option<i32> = sqlx::query_scalar(
            "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%UNNEST%'",
        )
        .fetch_optional(&admin(&s))
        .await
        .unwrap();
        if let Some(pid) = waiting {
            break pid;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    let killed: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(pid)
        .fetch_one(&admin(&s))
        .await
        .unwrap();
    assert!(killed);

    for call in [locked, beside] {
        let e = call
            .await
            .unwrap()
            .expect_err("the batch's connection was terminated");
        assert!(matches!(e, Error::OutcomeUnknown { .. }), "{e:?}");
        assert!(e.is_recoverable());
    }
    // The read lane's batch ran on another connection, untouched.
    assert_eq!(read.await.unwrap().unwrap(), Some(b"r".to_vec()));
    blocker.rollback().await.unwrap();
    let rows: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM {table} WHERE key IN ('locked', 'beside')"
    )))
    .fetch_one(&admin(&s))
    .await
    .unwrap();
    assert_eq!(rows, 0, "the batch was one statement: nothing of it applied");
    s.set("after", "ok").await.unwrap();
    assert_eq!(s.get_string("after").await.unwrap().as_deref(), Some("ok"));
}

/// One task's own keys, as a model: what each key holds.
type Model = BTreeMap<String, Vec<u8>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_tasks_through_a_small_pool_agree_with_sequential_semantics() {
    let tasks = 32;
    let steps = 120;
    let s = store("batch_model", 2).await;
    let handles: Vec<JoinHandle<Model>> = (0..tasks)
        .map(|task| {
            let s = s.clone();
            tokio::spawn(async move {
                let mut rng = XorShift(0x9e37_79b9_7f4a_7c15 ^ (task as u64 + 1));
                let mut model = Model::new();
                for step in 0..steps {
                    let key = format!("t{task}:k{}", rng.below(4));
                    match rng.below(6) {
                        0 => {
                            let got = s.get(&key).await.unwrap();
                            assert_eq!(got.as_ref(), model.get(&key), "get {key} at {step}");
                        }
                        1 => {
                            let got = s.exists(&key).await.unwrap();
                            assert_eq!(got, model.contains_key(&key), "exists {key} at {step}");
                        }
                        2 => {
                            let value = format!("{key}={step}").into_bytes();
                            s.set(&key, &value).await.unwrap();
                            model.insert(key, value);
                        }
                        3 => {
                            let value = format!("{key}={step}").into_bytes();
                            s.set_ex(&key, &value, Duration::from_secs(600)).await.unwrap();
                            model.insert(key, value);
                        }
                        4 => {
                            let removed = s.delete(&key).await.unwrap();
                            assert_eq!(removed, model.remove(&key).is_some(), "delete {key} at {step}");
                        }
                        _ => {
                            // A shared key every task writes: a read returns
                            // some task's whole value.
                            let shared = format!("shared{}", rng.below(2));
                            if rng.below(2) == 0 {
                                s.set(&shared, format!("{shared}={task}")).await.unwrap();
                            } else if let Some(v) = s.get_string(&shared).await.unwrap() {
                                assert!(v.starts_with(&format!("{shared}=")), "{v}");
                            }
                        }
                    }
                }
                model
            })
        })
        .collect();
    let mut expected = Model::new();
    for handle in handles {
        expected.extend(handle.await.expect("task"));
    }
    let stats = s.batching_stats().unwrap();
    assert!(
        stats.batched_calls > 0,
        "32 tasks on 2 connections never queued: the batching path was not exercised"
    );
    let rows: Vec<(String, Vec<u8>)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT key, value FROM {} WHERE key LIKE 't%' ORDER BY key",
        table_of(&s)
    )))
    .fetch_all(&admin(&s))
    .await
    .unwrap();
    let table: Model = rows.into_iter().collect();
    assert_eq!(table, expected, "the table is what the tasks' models say");
    eprintln!(
        "batching model: {} calls carried by {} batches",
        stats.batched_calls, stats.batches
    );
}

/// What one key may hold: the value last seen or written by a call that
/// returned, or the write of any call that was cut off (it may have been
/// sent, and, like any statement already on the wire, may land after the
/// caller's next call).
#[derive(Debug, Default)]
struct Possible {
    now: Option<Vec<u8>>,
    pending: BTreeSet<Option<Vec<u8>>>,
}

impl Possible {
    fn allows(&self, value: &Option<Vec<u8>>) -> bool {
        self.now == *value || self.pending.contains(value)
    }

    fn settled(&mut self, value: Option<Vec<u8>>) {
        self.now = value;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_cancelled_at_random_points_never_get_or_leave_anything_wrong() {
    let tasks = 24;
    let steps = 150;
    let s = store("batch_cancel_random", 2).await;
    let handles: Vec<JoinHandle<(BTreeMap<String, Possible>, usize)>> = (0..tasks)
        .map(|task| {
            let s = s.clone();
            tokio::spawn(async move {
                let mut rng = XorShift(0xd1b5_4a32_d192_ed03 ^ (task as u64 + 1));
                let mut keys: BTreeMap<String, Possible> = BTreeMap::new();
                let mut cut = 0;
                for step in 0..steps {
                    let key = format!("t{task}:k{}", rng.below(3));
                    let p = keys.entry(key.clone()).or_default();
                    let budget = Duration::from_micros(rng.below_u64(400));
                    let value = format!("{key}={step}").into_bytes();
                    match rng.below(4) {
                        0 | 1 => match tokio::time::timeout(budget, s.get(&key)).await {
                            Ok(got) => {
                                let got = got.unwrap();
                                assert!(p.allows(&got), "get {key} at {step}: {got:?} not in {p:?}");
                                p.settled(got);
                            }
                            Err(_) => cut += 1,
                        },
                        2 => match tokio::time::timeout(budget, s.set(&key, &value)).await {
                            Ok(done) => {
                                done.unwrap();
                                p.settled(Some(value));
                            }
                            Err(_) => {
                                cut += 1;
                                p.pending.insert(Some(value));
                            }
                        },
                        _ => match tokio::time::timeout(budget, s.delete(&key)).await {
                            Ok(removed) => {
                                let removed = removed.unwrap();
                                let explained = if removed {
                                    p.now.is_some() || p.pending.iter().any(Option::is_some)
                                } else {
                                    p.allows(&None)
                                };
                                assert!(explained, "delete {key} at {step}: {removed} with {p:?}");
                                p.settled(None);
                            }
                            Err(_) => {
                                cut += 1;
                                p.pending.insert(None);
                            }
                        },
                    }
                }
                (keys, cut)
            })
        })
        .collect();
    let mut keys = BTreeMap::new();
    let mut cut = 0;
    for handle in handles {
        let (own, n) = handle.await.expect("task");
        keys.extend(own);
        cut += n;
    }
    // Every key's row is one its history allows, read through connections
    // that carried cut-off calls: none is left busy or broken.
    for (key, p) in &keys {
        let got = s
            .get(key)
            .await
            .expect("connections are clean after cancellations");
        assert!(p.allows(&got), "{key}: {got:?} not in {p:?}");
    }
    let stats = s.batching_stats().unwrap();
    eprintln!(
        "batching cancellations: {cut} calls cut off; {} calls carried by {} batches",
        stats.batched_calls, stats.batches
    );
    assert!(cut > 0 && stats.batched_calls > 0, "both paths were exercised");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_batch_unless_they_reject_writes_over_a_limit() {
    use pgkv::{LimitPolicy, NamespaceConfig};
    let s = store("batch_ns", 1).await;
    // Namespace names are per schema: unique ones, as the table names are.
    let evicting = s
        .create_namespace(
            &pgkv_suite::unique_table("evicting"),
            NamespaceConfig::new().policy(LimitPolicy::Evict).max_keys(100),
        )
        .await
        .unwrap();
    let rejecting = s
        .create_namespace(
            &pgkv_suite::unique_table("rejecting"),
            NamespaceConfig::new().policy(LimitPolicy::Reject).max_keys(1),
        )
        .await
        .unwrap();
    assert_eq!(rejecting.batching_stats(), None, "Reject: calls stay single");
    assert!(evicting.batching_stats().is_some());

    let held = fill_pool(&s, 1).await;
    let mut writes = Vec::new();
    for key in ["a", "b"] {
        let ns = evicting.clone();
        writes.push(queue(&evicting, async move { ns.set(key, key).await }).await);
    }
    drop(held);
    for call in writes {
        call.await.unwrap().unwrap();
    }
    assert_eq!(evicting.batching_stats().unwrap().batched_calls, 2);
    assert_eq!(evicting.get_string("b").await.unwrap().as_deref(), Some("b"));
    assert_eq!(
        s.get("b").await.unwrap(),
        None,
        "the namespace's batch wrote its own table"
    );
}
