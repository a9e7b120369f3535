//! The expiry sweep and the background cleanup task.

use std::time::Duration;

use pgkv::{Store, TtlCleanupStrategy};
use pgkv_suite::{config, database_url, raw_row_count, store_with, table_of, unique_table};

const HOUR: Duration = Duration::from_secs(3600);

async fn manual(tag: &str, batch: u32) -> Store {
    store_with(tag, |c| {
        c.ttl_cleanup_strategy(TtlCleanupStrategy::Manual)
            .cleanup_batch_size(batch)
    })
    .await
}

/// Inserts `n` rows that expired a minute ago, in one statement.
async fn add_expired(s: &Store, prefix: &str, n: i64) {
    let sql = format!(
        "INSERT INTO {} (key, value, expires_at) SELECT $1 || g, 'x', now() - interval '1 minute' \
         FROM generate_series(1, $2) g",
        table_of(s)
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(prefix)
        .bind(n)
        .execute(&pgkv_suite::admin(s))
        .await
        .unwrap();
}

#[tokio::test]
async fn manual_sweep_deletes_in_batches_until_done() {
    let s = manual("cl_batches", 100).await;
    add_expired(&s, "e", 1_050).await;
    s.set_ex("live", "v", HOUR).await.unwrap();
    s.set("forever", "v").await.unwrap();
    assert_eq!(s.cleanup_expired().await.unwrap(), 1_050);
    assert_eq!(raw_row_count(&s).await, 2);
    assert_eq!(s.cleanup_expired().await.unwrap(), 0);
}

#[tokio::test]
async fn the_sweep_reads_the_partial_expiry_index() {
    let s = manual("cl_explain", 100).await;
    // Mostly rows without expiry, a few expired: the index is the way in.
    let table = table_of(&s);
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO {table} (key, value) SELECT 'k' || g, 'x' FROM generate_series(1, 20000) g"
    )))
    .execute(&pgkv_suite::admin(&s))
    .await
    .unwrap();
    add_expired(&s, "e", 50).await;
    sqlx::query(sqlx::AssertSqlSafe(format!("ANALYZE {table}")))
        .execute(&pgkv_suite::admin(&s))
        .await
        .unwrap();
    let plan = s.explain_cleanup().await.unwrap();
    assert!(plan.contains("_expires_at_idx"), "{plan}");
    assert!(
        !plan.contains(&format!("Seq Scan on {}", table.rsplit('.').next().unwrap())),
        "{plan}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_extended_during_a_sweep_survive() {
    let s = manual("cl_extend", 50).await;
    let keys: Vec<String> = (0..2_000).map(|i| format!("live{i:04}")).collect();
    let items: Vec<(String, &str)> = keys.iter().map(|k| (k.clone(), "v")).collect();
    add_expired(&s, "dead", 5_000).await;
    // Short TTLs that a writer keeps extending while the sweep runs.
    // On Citus a 2,000-key batch write through the coordinator alone can
    // outlast 300 ms (docs/guide/scaling_out.md), so the keys live longer
    // there and the check is that extended rows survive a concurrent sweep.
    let ttl = if pgkv_suite::through_citus() {
        Duration::from_secs(30)
    } else {
        Duration::from_millis(300)
    };
    s.set_many_ex(&items, ttl).await.unwrap();
    let writer = {
        let (s, keys) = (s.clone(), keys.clone());
        tokio::spawn(async move {
            for _ in 0..10 {
                for chunk in keys.chunks(200) {
                    for k in chunk {
                        s.expire(k, HOUR).await.unwrap();
                    }
                }
            }
        })
    };
    let mut deleted = 0;
    while !writer.is_finished() {
        deleted += s.cleanup_expired().await.unwrap();
    }
    writer.await.unwrap();
    deleted += s.cleanup_expired().await.unwrap();
    // Every live key either was extended in time, or expired for real first.
    let alive = s
        .get_many(&keys)
        .await
        .unwrap()
        .iter()
        .filter(|v| v.is_some())
        .count();
    assert_eq!(raw_row_count(&s).await as usize, alive, "nothing expired is left");
    assert_eq!(deleted as usize, 5_000 + (keys.len() - alive));
    // The writer extended each key ten times within a few seconds: a key it
    // extended before its 300 ms ran out must still be there.
    assert!(alive > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_cleaners_on_one_table_delete_everything_once() {
    let cfg = config("cl_two")
        .ttl_cleanup_strategy(TtlCleanupStrategy::Manual)
        .cleanup_batch_size(200);
    let a = Store::with_config(cfg.clone()).await.unwrap();
    let b = Store::with_config(cfg).await.unwrap();
    add_expired(&a, "e", 20_000).await;
    let live: Vec<(String, &str)> = (0..500).map(|i| (format!("live{i}"), "v")).collect();
    a.set_many_ex(&live, HOUR).await.unwrap();
    let ha = a.spawn_cleanup(Duration::from_millis(20));
    let hb = b.spawn_cleanup(Duration::from_millis(20));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while raw_row_count(&a).await > 500 {
        assert!(tokio::time::Instant::now() < deadline, "cleaners did not finish");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (sa, sb) = (ha.stats(), hb.stats());
    ha.shutdown().await;
    hb.shutdown().await;
    assert_eq!(sa.rows_deleted + sb.rows_deleted, 20_000, "{sa:?} {sb:?}");
    assert_eq!(sa.failed_passes + sb.failed_passes, 0);
    assert_eq!(
        a.count(pgkv::ScanOptions::new().prefix("live")).await.unwrap(),
        500
    );
}

#[tokio::test]
async fn stores_on_different_tables_clean_independently() {
    let a = manual("cl_ind_a", 100).await;
    let b = manual("cl_ind_b", 100).await;
    add_expired(&a, "e", 300).await;
    add_expired(&b, "e", 300).await;
    let (ha, hb) = (
        a.spawn_cleanup(Duration::from_millis(20)),
        b.spawn_cleanup(Duration::from_millis(20)),
    );
    for _ in 0..200 {
        if raw_row_count(&a).await == 0 && raw_row_count(&b).await == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!((raw_row_count(&a).await, raw_row_count(&b).await), (0, 0));
    ha.shutdown().await;
    hb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_mid_pass_is_prompt_and_leaves_no_transaction() {
    if pgkv_suite::not_through_pooler(
        "shutdown_mid_pass_is_prompt_and_leaves_no_transaction",
        "it finds its sessions in pg_stat_activity by application_name, which the pooler reassigns",
    ) {
        return;
    }
    let app = unique_table("cl_shut");
    let s = store_with("cl_shutdown", |c| {
        c.ttl_cleanup_strategy(TtlCleanupStrategy::Manual)
            .cleanup_batch_size(10)
            .application_name(&app)
    })
    .await;
    add_expired(&s, "e", 50_000).await;
    let handle = s.spawn_cleanup(Duration::from_millis(10));
    // Wait until the first pass is under way.
    while raw_row_count(&s).await == 50_000 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let started = std::time::Instant::now();
    handle.shutdown().await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "shutdown took {:?}",
        started.elapsed()
    );
    let left = raw_row_count(&s).await;
    assert!(left > 0, "the pass was interrupted, not finished");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let open: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND state LIKE 'idle in transaction%'",
    )
    .bind(&app)
    .fetch_one(&pgkv_suite::admin(&s))
    .await
    .unwrap();
    assert_eq!(open, 0);
    // Nothing is deleted after shutdown.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(raw_row_count(&s).await, left);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_task_survives_terminated_connections() {
    if pgkv_suite::not_through_pooler(
        "the_task_survives_terminated_connections",
        "it terminates server processes, which the pooler shares with other tests",
    ) {
        return;
    }
    let app = unique_table("cl_term");
    let s = store_with("cl_term", |c| {
        c.ttl_cleanup_strategy(TtlCleanupStrategy::Manual)
            .max_connections(2)
            .application_name(&app)
    })
    .await;
    // Rows are added and counted through a second store, whose connections survive.
    let observer = Store::with_config(
        pgkv::Config::new(database_url())
            .table_name(table_of(&s).rsplit('.').next().unwrap().trim_matches('"')),
    )
    .await
    .unwrap();
    let handle = s.spawn_cleanup(Duration::from_millis(20));
    let admin = sqlx::PgPool::connect(&database_url()).await.unwrap();
    for round in 0..3 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1")
            .bind(&app)
            .execute(&admin)
            .await
            .unwrap();
        add_expired(&observer, &format!("r{round}-"), 100).await;
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while raw_row_count(&observer).await > 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "round {round}: the task stopped cleaning"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    assert!(!handle.is_finished());
    let stats = handle.stats();
    assert_eq!(stats.rows_deleted, 300, "{stats:?}");
    handle.shutdown().await;
}

#[tokio::test]
async fn cleanup_task_is_a_spawnable_future() {
    let s = manual("cl_spawn", 100).await;
    add_expired(&s, "e", 10).await;
    let task = tokio::spawn(s.cleanup_task(Duration::from_millis(10)));
    for _ in 0..200 {
        if raw_row_count(&s).await == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(raw_row_count(&s).await, 0);
    task.abort();
}
