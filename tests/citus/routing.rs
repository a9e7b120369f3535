//! Citus-only checks that leave the cluster as it is: every single-key
//! statement is router-executed (one task), the table is distributed as
//! promised, and the sweep works on shards.

use pgkv::sqlx::{self, Row as _};
use pgkv_suite::{admin, force_expire, store, table_of};

/// Statements that name one key and must run on one shard. The others fan
/// out by design: two-key ones (`rename`, `copy`: two shards), batches (the
/// shards of their keys), ranges, scans, counts and the sweeps (every shard).
fn single_key(name: &str) -> bool {
    const FAN_OUT: [&str; 12] = [
        "many",
        "rename",
        "copy",
        "cleanup",
        "keys",
        "scan",
        "count",
        "delete_range",
        "set_many_nx",
        "get_many",
        "delete_many",
        "set_many",
    ];
    !FAN_OUT.iter().any(|f| name.contains(f))
}

/// A literal of the parameter type `ty`, for `EXPLAIN EXECUTE`.
fn sample(ty: &str) -> &'static str {
    match ty {
        "text" => "'k'::text",
        "bytea" => "'\\x31'::bytea",
        "bigint" => "1::bigint",
        "integer" => "1",
        "double precision" => "1::float8",
        "numeric" => "1::numeric",
        "interval" => "interval '1 hour'",
        "boolean" => "true",
        "text[]" => "'{k}'::text[]",
        "bytea[]" => "ARRAY['\\x31'::bytea]",
        other => panic!("no sample value for parameter type {other}: add one"),
    }
}

/// The `Task Count` lines of an EXPLAIN: one per distributed step.
fn task_counts(plan: &str) -> Vec<u64> {
    plan.lines()
        .filter_map(|l| l.trim().strip_prefix("Task Count: "))
        .map(|n| n.trim().parse().expect("a task count"))
        .collect()
}

#[tokio::test]
async fn every_single_key_statement_runs_on_one_shard() {
    let store = store("citus_routing").await;
    let pool = admin(&store);
    let mut conn = pool.acquire().await.expect("a connection");
    let mut checked = 0;
    let mut failures = Vec::new();
    for (i, (name, text)) in pgkv::__private::statements(&store).into_iter().enumerate() {
        if !single_key(&name) {
            continue;
        }
        let probe = format!("probe_{i}");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("PREPARE {probe} AS {text}")))
            .execute(&mut *conn)
            .await
            .unwrap_or_else(|e| panic!("PREPARE {name}: {e}\n{text}"));
        let types: Vec<String> = sqlx::query_scalar(
            "SELECT t::regtype::text FROM pg_prepared_statements, unnest(parameter_types) AS t \
             WHERE name = $1",
        )
        .bind(&probe)
        .fetch_all(&mut *conn)
        .await
        .expect("parameter types");
        let args: Vec<&str> = types.iter().map(|t| sample(t)).collect();
        let explain = format!("EXPLAIN EXECUTE {probe}({})", args.join(", "));
        let rows = match sqlx::raw_sql(sqlx::AssertSqlSafe(explain))
            .fetch_all(&mut *conn)
            .await
        {
            Ok(rows) => rows,
            Err(e) => {
                failures.push(format!("{name}: EXPLAIN fails: {e}\n{text}"));
                checked += 1;
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DEALLOCATE {probe}")))
                    .execute(&mut *conn)
                    .await
                    .expect("DEALLOCATE");
                continue;
            }
        };
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DEALLOCATE {probe}")))
            .execute(&mut *conn)
            .await
            .expect("DEALLOCATE");
        let plan: String = rows.iter().map(|r| r.get::<String, _>(0) + "\n").collect();
        let counts = task_counts(&plan);
        if counts.is_empty() || counts.iter().any(|&n| n != 1) || plan.contains("intermediate_result") {
            failures.push(format!("{name}: task counts {counts:?}\n{text}\n{plan}"));
        }
        checked += 1;
    }
    assert!(checked >= 60, "only {checked} single-key statements checked");
    assert!(
        failures.is_empty(),
        "{} of {checked} single-key statements are not router-executed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!("routing: {checked} single-key statements, each one task");
}

#[tokio::test]
async fn the_table_is_distributed_on_key() {
    let store = store("citus_distributed").await;
    let table = table_of(&store);
    let (method, column, shards): (String, String, i64) = sqlx::query_as(
        "SELECT p.partmethod::text, column_to_column_name(p.logicalrelid, p.partkey), \
         (SELECT count(*) FROM pg_dist_shard s WHERE s.logicalrelid = p.logicalrelid) \
         FROM pg_dist_partition p WHERE p.logicalrelid = $1::regclass",
    )
    .bind(&table)
    .fetch_one(&admin(&store))
    .await
    .expect("the table is in pg_dist_partition");
    assert_eq!((method.as_str(), column.as_str()), ("h", "key"));
    assert_eq!(shards, 32);
}

#[tokio::test]
async fn the_sweep_empties_every_shard_in_bounded_batches() {
    let store = pgkv_suite::store_with("citus_sweep", |c| c.cleanup_batch_size(3)).await;
    let keys: Vec<String> = (0..200).map(|i| format!("k{i}")).collect();
    for key in &keys {
        store
            .set_ex(key, b"v", std::time::Duration::from_secs(3600))
            .await
            .unwrap();
    }
    store.set("keep", b"v").await.unwrap();
    for key in &keys {
        force_expire(&store, key).await;
    }
    assert_eq!(store.cleanup_expired().await.unwrap(), 200);
    assert_eq!(pgkv_suite::raw_row_count(&store).await, 1);
    assert_eq!(store.get("keep").await.unwrap().as_deref(), Some(&b"v"[..]));
}

#[tokio::test]
async fn the_cleanup_task_takes_the_lease_row() {
    let store = store("citus_lease").await;
    store
        .set_ex("gone", b"v", std::time::Duration::from_secs(3600))
        .await
        .unwrap();
    force_expire(&store, "gone").await;
    // Another instance's pass holds the lease: this one yields.
    assert!(
        store
            .set_nx_ex(
                pgkv::CLEANUP_LEASE_KEY,
                b"other",
                std::time::Duration::from_secs(600)
            )
            .await
            .unwrap()
    );
    let task = store.spawn_cleanup(std::time::Duration::from_millis(10));
    let mut seen = 0;
    while seen == 0 {
        tokio::task::yield_now().await;
        seen = task.stats().passes;
    }
    let stats = task.stats();
    assert!(stats.last_pass.as_ref().unwrap().yielded, "{stats:?}");
    assert_eq!(stats.rows_deleted, 0);
    // The lease given back, the next pass sweeps.
    store.delete(pgkv::CLEANUP_LEASE_KEY).await.unwrap();
    while task.stats().rows_deleted == 0 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    task.shutdown().await;
    assert_eq!(
        pgkv_suite::raw_row_count(&store).await,
        0,
        "the lease row is gone after the pass"
    );
}

#[tokio::test]
async fn a_store_without_the_extension_fails_and_creates_nothing() {
    // The coordinator has Citus; a database without the extension is made here.
    let url = pgkv_suite::database_url();
    let pool = admin(&store("citus_missing_probe").await);
    let db = format!("nocitus_{}", std::process::id());
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}")))
        .execute(&pool)
        .await
        .unwrap();
    let other = format!("{}/{db}", url.rsplit_once('/').unwrap().0);
    let err = pgkv::Store::with_config(pgkv::Config::new(&other).citus(true).table_name("kv"))
        .await
        .unwrap_err();
    assert!(matches!(err, pgkv::Error::CitusMissing), "{err:?}");
    assert!(!err.is_recoverable());
    let check = pgkv::sqlx::PgPool::connect(&other).await.unwrap();
    let found: Option<String> = sqlx::query_scalar("SELECT to_regclass('kv')::text")
        .fetch_one(&check)
        .await
        .unwrap();
    assert_eq!(found, None, "nothing was created");
    check.close().await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE {db}")))
        .execute(&pool)
        .await
        .unwrap();
}
