//! Real concurrent tasks against one key; every total is checked exactly.

use std::collections::BTreeSet;
use std::time::Duration;

use pgkv::{CasResult, Store};
use pgkv_suite::{force_expire, store_with};

async fn store(tag: &str) -> Store {
    store_with(tag, |c| c.max_connections(16)).await
}

/// Runs `f(i)` on `n` spawned tasks and collects their results.
async fn on_tasks<T, F, Fut>(n: usize, f: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    let handles: Vec<_> = (0..n).map(|i| tokio::spawn(f(i))).collect();
    let mut out = Vec::with_capacity(n);
    for h in handles {
        out.push(h.await.expect("task panicked"));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn increments_are_exact() {
    let s = store("conc_incr").await;
    let tasks = 32;
    let per_task = 50;
    let returned = on_tasks(tasks, |_| {
        let s = s.clone();
        async move {
            let mut seen = Vec::new();
            for _ in 0..per_task {
                seen.push(s.increment("hits", 1).await.unwrap());
            }
            seen
        }
    })
    .await;
    let all: BTreeSet<i64> = returned.into_iter().flatten().collect();
    let total = (tasks * per_task) as i64;
    assert_eq!(all, (1..=total).collect(), "every value returned exactly once");
    assert_eq!(s.get_string("hits").await.unwrap(), Some(total.to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_nx_has_exactly_one_winner_on_absent_and_expired_keys() {
    let s = store_with("conc_setnx", |c| {
        c.max_connections(16)
            .ttl_cleanup_strategy(pgkv::TtlCleanupStrategy::Manual)
    })
    .await;
    for round in 0..10 {
        let key = format!("lock:{round}");
        if round % 2 == 1 {
            // An expired lease still on disk must be up for grabs, once.
            s.set_ex(&key, "stale", Duration::from_secs(60)).await.unwrap();
            force_expire(&s, &key).await;
        }
        let wins = on_tasks(16, |i| {
            let (s, key) = (s.clone(), key.clone());
            async move {
                if i % 2 == 0 {
                    s.set_nx(&key, i.to_string()).await.unwrap()
                } else {
                    s.set_nx_ex(&key, i.to_string(), Duration::from_secs(30))
                        .await
                        .unwrap()
                }
            }
        })
        .await;
        let winners: Vec<usize> = wins
            .iter()
            .enumerate()
            .filter(|(_, w)| **w)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(winners.len(), 1, "round {round}: {winners:?}");
        assert_eq!(s.get_string(&key).await.unwrap(), Some(winners[0].to_string()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_and_delete_has_exactly_one_taker() {
    let s = store("conc_take").await;
    for round in 0..10 {
        s.set("job", format!("payload{round}")).await.unwrap();
        let taken = on_tasks(16, |_| {
            let s = s.clone();
            async move { s.get_and_delete("job").await.unwrap() }
        })
        .await;
        let takers: Vec<_> = taken.into_iter().flatten().collect();
        assert_eq!(takers, vec![format!("payload{round}").into_bytes()]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cas_retry_loops_lose_no_update() {
    let s = store("conc_cas").await;
    let tasks = 16;
    let per_task = 20;
    on_tasks(tasks, |_| {
        let s = s.clone();
        async move {
            for _ in 0..per_task {
                loop {
                    let current = s.get("n").await.unwrap();
                    let next = match &current {
                        None => 1,
                        Some(v) => std::str::from_utf8(v).unwrap().parse::<u64>().unwrap() + 1,
                    };
                    match s
                        .compare_and_swap("n", current.as_deref(), next.to_string())
                        .await
                        .unwrap()
                    {
                        CasResult::Success => break,
                        CasResult::Mismatch { .. } | CasResult::NotFound => continue,
                    }
                }
            }
        }
    })
    .await;
    assert_eq!(
        s.get_string("n").await.unwrap(),
        Some((tasks * per_task).to_string())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_and_set_returns_exactly_what_it_replaced() {
    let s = store("conc_getset").await;
    s.set("k", "initial").await.unwrap();
    let tasks = 16;
    let per_task = 25;
    let olds = on_tasks(tasks, |t| {
        let s = s.clone();
        async move {
            let mut olds = Vec::new();
            for i in 0..per_task {
                let old = s.get_and_set("k", format!("{t}:{i}")).await.unwrap();
                olds.push(String::from_utf8(old.expect("the key always exists")).unwrap());
            }
            olds
        }
    })
    .await;
    let mut seen: Vec<String> = olds.into_iter().flatten().collect();
    seen.push(s.get_string("k").await.unwrap().unwrap());
    seen.sort();
    let mut written: Vec<String> = (0..tasks)
        .flat_map(|t| (0..per_task).map(move |i| format!("{t}:{i}")))
        .collect();
    written.push("initial".into());
    written.sort();
    assert_eq!(seen, written, "each value replaced exactly once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_and_set_on_an_absent_key_race() {
    let s = store("conc_getset_absent").await;
    for round in 0..10 {
        let key = format!("k{round}");
        let olds = on_tasks(8, |t| {
            let (s, key) = (s.clone(), key.clone());
            async move { s.get_and_set(&key, t.to_string()).await.unwrap() }
        })
        .await;
        // Exactly one writer found the key absent; the others each replaced a distinct value.
        assert_eq!(olds.iter().filter(|o| o.is_none()).count(), 1, "round {round}");
        let mut values: Vec<Vec<u8>> = olds.into_iter().flatten().collect();
        values.push(s.get(&key).await.unwrap().unwrap());
        values.sort();
        let mut want: Vec<Vec<u8>> = (0..8).map(|t: i32| t.to_string().into_bytes()).collect();
        want.sort();
        assert_eq!(values, want);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opposite_order_batches_do_not_deadlock() {
    let s = store("conc_batches").await;
    let keys: Vec<String> = (0..200).map(|i| format!("k{i:03}")).collect();
    let results = on_tasks(8, |t| {
        let (s, keys) = (s.clone(), keys.clone());
        async move {
            for round in 0..10 {
                let mut items: Vec<(String, String)> =
                    keys.iter().map(|k| (k.clone(), format!("{t}"))).collect();
                if (t + round) % 2 == 1 {
                    items.reverse();
                }
                s.set_many(&items).await?;
                if t % 4 == 3 {
                    let mut ks = keys.clone();
                    ks.reverse();
                    s.delete_many(&ks).await?;
                }
            }
            Ok::<(), pgkv::Error>(())
        }
    })
    .await;
    for r in results {
        r.expect("no deadlock or other error reaches the caller");
    }
}
