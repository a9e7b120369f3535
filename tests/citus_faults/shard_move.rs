//! A shard moved to the other worker (`citus_move_shard_placement` with
//! `shard_transfer_mode => 'block_writes'`, the mode UNLOGGED shards need)
//! while reads go on: plain reads (`TtlCleanupStrategy::Manual`) of the
//! moving shard's keys keep answering, with the right values, before, while
//! the move waits for an open write, and after, and nothing is lost. An
//! `OnRead` get is a write (its purge is a `DELETE`): it waits like one.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use pgkv::sqlx;
use pgkv_suite::{admin, table_of};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shard_moved_with_block_writes_keeps_serving_reads() {
    let _serial = crate::SERIAL.lock().await;
    let config =
        pgkv_suite::config("citus_shard_move").ttl_cleanup_strategy(pgkv::TtlCleanupStrategy::Manual);
    let store = pgkv::Store::with_config(config.clone()).await.unwrap();
    let on_read = pgkv::Store::with_config(config.ttl_cleanup_strategy(pgkv::TtlCleanupStrategy::OnRead))
        .await
        .unwrap();
    let table = table_of(&store);
    let pool = admin(&store);
    let keys: Vec<String> = (0..300).map(|i| format!("m{i}")).collect();
    for key in &keys {
        store.set(key, key.as_bytes()).await.unwrap();
    }
    // The shard of `m0`, the worker it is on, and the other one.
    let (shard, from): (i64, i32) = sqlx::query_as(
        "SELECT shardid, nodeport FROM citus_shards \
         WHERE shardid = get_shard_id_for_distribution_column($1::regclass, $2::text)",
    )
    .bind(&table)
    .bind(&keys[0])
    .fetch_one(&pool)
    .await
    .unwrap();
    let to: i32 = sqlx::query_scalar(
        "SELECT nodeport FROM pg_dist_node WHERE noderole = 'primary' AND groupid > 0 AND nodeport <> $1",
    )
    .bind(from)
    .fetch_one(&pool)
    .await
    .unwrap();
    let mut on_shard = Vec::new();
    for key in &keys {
        let id: i64 =
            sqlx::query_scalar("SELECT get_shard_id_for_distribution_column($1::regclass, $2::text)")
                .bind(&table)
                .bind(key)
                .fetch_one(&pool)
                .await
                .unwrap();
        if id == shard {
            on_shard.push(key.clone());
        }
    }
    assert!(!on_shard.is_empty());

    // A write in an open transaction holds the shard: the move waits for it.
    let mut tx = store.begin().await.unwrap();
    tx.set(&on_shard[0], "held").await.unwrap();

    // Readers of the moving shard's keys, until the move is over.
    let done = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicU64::new(0));
    let reader = {
        let (store, keys, done, reads) = (store.clone(), on_shard.clone(), done.clone(), reads.clone());
        tokio::spawn(async move {
            let mut wrong = Vec::new();
            while !done.load(Ordering::Relaxed) {
                for key in &keys {
                    match store.get(key).await {
                        Ok(Some(v)) if v == key.as_bytes() => {}
                        other => wrong.push(format!("{key}: {other:?}")),
                    }
                    reads.fetch_add(1, Ordering::Relaxed);
                }
            }
            wrong
        })
    };
    let mover = {
        let pool = pool.clone();
        tokio::spawn(async move {
            sqlx::query(
                "SELECT citus_move_shard_placement($1, '127.0.0.1', $2, '127.0.0.1', $3, \
                 shard_transfer_mode => 'block_writes')",
            )
            .bind(shard)
            .bind(from)
            .bind(to)
            .execute(&pool)
            .await
        })
    };
    // The move is under way: waiting for the open write.
    until_waiting_on_a_lock(
        &pool,
        "SELECT citus_move_shard_placement%",
        &mover,
        "the move did not wait for the open write",
    )
    .await;
    // Reads of the shard answer while the move is pending.
    let before = reads.load(Ordering::Relaxed);
    while reads.load(Ordering::Relaxed) < before + 2 * on_shard.len() as u64 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(!mover.is_finished(), "the move went ahead of the open write");
    // An OnRead get of the shard waits behind the move, as a write does.
    let purging = {
        let (s, key) = (on_read.clone(), on_shard[on_shard.len() - 1].clone());
        tokio::spawn(async move { s.get(&key).await })
    };
    until_waiting_on_a_lock(
        &pool,
        "WITH purged AS (DELETE%",
        &purging,
        "an OnRead get did not wait",
    )
    .await;
    tx.rollback().await.unwrap();
    mover.await.unwrap().expect("the move");
    let last = &on_shard[on_shard.len() - 1];
    assert_eq!(purging.await.unwrap().unwrap().as_deref(), Some(last.as_bytes()));
    let during = reads.load(Ordering::Relaxed);
    // A few more rounds after the move.
    while reads.load(Ordering::Relaxed) < during + on_shard.len() as u64 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    done.store(true, Ordering::Relaxed);
    let wrong = reader.await.unwrap();
    assert!(wrong.is_empty(), "reads failed or were wrong: {wrong:?}");

    let now_on: i32 = sqlx::query_scalar("SELECT nodeport FROM citus_shards WHERE shardid = $1")
        .bind(shard)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(now_on, to, "the shard moved");
    let all = store.get_many(&keys).await.unwrap();
    for (key, value) in keys.iter().zip(&all) {
        assert_eq!(value.as_deref(), Some(key.as_bytes()), "{key} after the move");
    }
    store.set(&on_shard[0], "after").await.unwrap();
    assert_eq!(
        store.get_string(&on_shard[0]).await.unwrap().as_deref(),
        Some("after")
    );
    use std::io::Write as _;
    let _ = writeln!(
        std::io::stderr(),
        "shard move: shard {shard} ({} keys) moved from port {from} to {to}; {} reads, none failed",
        on_shard.len(),
        reads.load(Ordering::Relaxed)
    );
}

/// Waits until a session running a statement that matches `query` (a LIKE
/// pattern) waits for a lock; fails with `why` if `task` ends first.
async fn until_waiting_on_a_lock<T>(
    pool: &sqlx::PgPool,
    query: &str,
    task: &tokio::task::JoinHandle<T>,
    why: &str,
) {
    loop {
        let waiting: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE $1)",
        )
        .bind(query)
        .fetch_one(pool)
        .await
        .unwrap();
        if waiting {
            return;
        }
        assert!(!task.is_finished(), "{why}: it ended without waiting");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
