//! A worker stopped (`pg_ctl stop -m immediate`, a crash) while tasks write:
//! calls on its shards fail with a recoverable error, calls on the other
//! worker's shards keep working, and after a restart its UNLOGGED shards are
//! empty.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use pgkv_suite::{admin, store_with, table_of};

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run through scripts/with-citus"))
}

/// `pg_ctl` on worker `n`'s data dir, as the cluster's OS user.
fn pg_ctl(n: usize, args: &[&str]) {
    let data = env("PGKV_CITUS_WORKER_DATA");
    let data = data.split(' ').nth(n).expect("two workers");
    let pg_ctl = format!("{}/pg_ctl", env("PGKV_PG_BIN"));
    let mut cmd = Command::new("runuser");
    cmd.args(["-u", &env("PGKV_PG_USER"), "--", &pg_ctl, "-D", data])
        .args(args);
    let out = cmd.output().expect("run pg_ctl");
    assert!(
        out.status.success(),
        "pg_ctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_worker_fails_its_shards_only_and_comes_back_empty() {
    let _serial = crate::SERIAL.lock().await;
    let store = store_with("citus_worker_down", |c| c.max_connections(16)).await;
    let table = table_of(&store);
    let keys: Vec<String> = (0..200).map(|i| format!("k{i}")).collect();
    for key in &keys {
        store.set(key, b"v").await.unwrap();
    }
    // Which worker holds each key.
    let worker0_port: i32 = env("PGKV_CITUS_WORKER_URLS")
        .split(' ')
        .next()
        .and_then(|u| u.rsplit(':').next())
        .and_then(|p| p.split('/').next())
        .and_then(|p| p.parse().ok())
        .expect("worker 0's port");
    let mut on0 = Vec::new();
    let mut on1 = Vec::new();
    for key in &keys {
        let port: i32 = sqlx::query_scalar(
            "SELECT nodeport FROM citus_shards \
             WHERE shardid = get_shard_id_for_distribution_column($1::regclass, $2::text)",
        )
        .bind(&table)
        .bind(key)
        .fetch_one(&admin(&store))
        .await
        .unwrap();
        if port == worker0_port {
            on0.push(key.clone())
        } else {
            on1.push(key.clone())
        }
    }
    assert!(
        !on0.is_empty() && !on1.is_empty(),
        "{} / {}",
        on0.len(),
        on1.len()
    );

    // Load on the other worker's keys while worker 0 goes down.
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let mut load = Vec::new();
    for chunk in on1.chunks(on1.len().div_ceil(4)) {
        let (store, chunk, stop, written) = (store.clone(), chunk.to_vec(), stop.clone(), written.clone());
        load.push(tokio::spawn(async move {
            let mut failures = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                for key in &chunk {
                    match store.set(key, b"w").await {
                        Ok(()) => {
                            written.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => failures.push(e.to_string()),
                    }
                }
            }
            failures
        }));
    }
    pg_ctl(0, &["-m", "immediate", "-w", "stop"]);
    let before = written.load(Ordering::Relaxed);

    // Worker 0's keys fail, with a recoverable error.
    let err = store.get(&on0[0]).await.unwrap_err();
    eprintln!("a key on the stopped worker: {err}");
    assert!(err.is_recoverable(), "{err:?}");
    let err = store.set(&on0[0], b"x").await.unwrap_err();
    assert!(err.is_recoverable(), "{err:?}");
    // Worker 1's keys keep working, for this task and for the load.
    for key in &on1 {
        assert!(store.get(key).await.unwrap().is_some());
    }
    while written.load(Ordering::Relaxed) < before + 100 {
        tokio::task::yield_now().await;
    }
    stop.store(true, Ordering::Relaxed);
    for task in load {
        let failures = task.await.unwrap();
        assert!(
            failures.is_empty(),
            "writes to the live worker failed: {failures:?}"
        );
    }

    // Restarted, worker 0's UNLOGGED shards are empty; worker 1's are intact.
    let log = env("PGKV_PG_LOG_0");
    let opts = env("PGKV_PG_OPTS_0");
    pg_ctl(0, &["-l", &log, "-o", &opts, "-w", "start"]);
    let mut attempts = 0;
    let found = loop {
        match store.get(&on0[0]).await {
            Ok(v) => break v,
            Err(e) if e.is_recoverable() && attempts < 100 => {
                attempts += 1;
                tokio::task::yield_now().await;
            }
            Err(e) => panic!("worker 0 did not come back: {e}"),
        }
    };
    assert_eq!(found, None, "the crashed worker's UNLOGGED shard is empty");
    let left = store.get_many(&on0).await.unwrap();
    assert!(left.iter().all(Option::is_none), "every key on worker 0 is gone");
    let kept = store.get_many(&on1).await.unwrap();
    assert!(kept.iter().all(Option::is_some), "worker 1 lost nothing");
    eprintln!(
        "worker down: {} keys on the stopped worker lost, {} on the other kept, {} writes during the outage",
        on0.len(),
        on1.len(),
        written.load(Ordering::Relaxed) - before
    );
}
