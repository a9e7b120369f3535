//! Citus-only checks that leave the cluster as it is: every single-key
//! statement is router-executed (one task), the table is distributed as
//! promised, and the sweep works on shards.

use pgkv::sqlx::{self, Row as _};
use pgkv_suite::{admin, force_expire, store, table_of};

/// How a statement must be planned on Citus.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Routing {
    /// One task on the key's shard: router-executed. (`set_with`,
    /// `get_and_set` and `cas_absent` are too: on Citus they leave an
    /// absent key to `insert_absent`, since Citus plans an INSERT inside a
    /// CTE as steps of their own.)
    OneShard,
    /// Two keys (`rename`, `rename_nx`, `copy`): each key locked by a
    /// single-shard read of its own; every step one task, on the two keys'
    /// shards only.
    TwoKeys,
    /// Fans out by design, not checked here: batches (the shards of their
    /// keys), ranges, scans, counts, the sweeps (every shard), and the
    /// snapshot statements (transaction control, `COPY`, whole-table reads).
    FanOut,
}

fn routing(name: &str) -> Routing {
    const FAN_OUT: [&str; 13] = [
        "many",
        "cleanup",
        "keys",
        "scan",
        "count",
        "delete_range",
        "set_many_nx",
        "get_many",
        "delete_many",
        "set_many",
        "snapshot",
        "keys_matching",
        "scan_matching",
    ];
    if FAN_OUT.iter().any(|f| name.contains(f)) {
        Routing::FanOut
    } else if name.starts_with("rename") || name.starts_with("copy") {
        Routing::TwoKeys
    } else {
        Routing::OneShard
    }
}

/// The shard ids of `table` (unqualified, unquoted) that `plan` names, as
/// `<table>_<id>` relation names.
fn shards_in(plan: &str, table: &str) -> std::collections::BTreeSet<u64> {
    let prefix = format!("{table}_");
    let mut found = std::collections::BTreeSet::new();
    for (at, _) in plan.match_indices(&prefix) {
        let digits: String = plan[at + prefix.len()..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        if let Ok(id) = digits.parse() {
            found.insert(id);
        }
    }
    found
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
    let table = table_of(&store);
    let bare = table.rsplit('.').next().unwrap().trim_matches('"').to_owned();
    let mut checked = 0;
    let mut steps = 0;
    let mut failures = Vec::new();
    for (i, (name, text)) in pgkv::__private::statements(&store).into_iter().enumerate() {
        let routing = routing(&name);
        if routing == Routing::FanOut {
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
        let mut args: Vec<&str> = types.iter().map(|t| sample(t)).collect();
        if routing == Routing::TwoKeys {
            // Two keys on two shards (checked below).
            args[1] = "'k2'::text";
        }
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
        let shards = shards_in(&plan, &bare);
        let one_task_each = !counts.is_empty() && counts.iter().all(|&n| n == 1);
        let fine = match routing {
            Routing::OneShard => one_task_each && counts.len() == 1 && !plan.contains("intermediate_result"),
            Routing::TwoKeys => one_task_each && (1..=2).contains(&shards.len()),
            Routing::FanOut => unreachable!(),
        };
        if !fine {
            failures.push(format!(
                "{name} ({routing:?}): task counts {counts:?}, shards {shards:?}\n{text}\n{plan}"
            ));
        }
        if counts.len() > 1 {
            steps += 1;
        }
        checked += 1;
    }
    assert!(checked >= 60, "only {checked} single-key statements checked");
    assert!(
        failures.is_empty(),
        "{} of {checked} single-key statements are not planned as promised:\n{}",
        failures.len(),
        failures.join("\n")
    );
    use std::io::Write as _;
    let _ = writeln!(
        std::io::stderr(),
        "routing: {checked} statements checked: {} single-key ones router-executed as one task, \
         {steps} two-key ones in single-shard steps (Routing::TwoKeys)",
        checked - steps
    );
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
    assert_eq!(pgkv_suite::raw_row_count(&store).await, 0);
    let lease: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM {} WHERE key = $1",
        table_of(&store)
    )))
    .bind(pgkv::CLEANUP_LEASE_KEY)
    .fetch_one(&admin(&store))
    .await
    .unwrap();
    assert_eq!(lease, 0, "the lease row is gone after the pass");
}

/// A user never sees the lease row in scans, `keys`, counts, prefix deletes
/// or snapshots, while single-key calls do (a reserved key).
#[tokio::test]
async fn the_lease_row_is_hidden_from_scans_counts_and_prefix_deletes() {
    let store = store("citus_lease_hidden").await;
    store.set("a", b"1").await.unwrap();
    store
        .set_ex(
            pgkv::CLEANUP_LEASE_KEY,
            b"held",
            std::time::Duration::from_secs(600),
        )
        .await
        .unwrap();
    let all = pgkv::ScanOptions::new();
    assert_eq!(store.count(all.clone()).await.unwrap(), 1);
    assert_eq!(store.keys(all.clone()).await.unwrap(), ["a"]);
    assert_eq!(
        store
            .count(pgkv::ScanOptions::new().prefix("pgkv:"))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .count(pgkv::ScanOptions::new().pattern("*lease*"))
            .await
            .unwrap(),
        0
    );
    let dir = std::env::temp_dir().join(pgkv_suite::unique_table("citus_lease_snapshot"));
    std::fs::create_dir_all(&dir).unwrap();
    let saved = store.save_snapshot(dir.join("kv.snapshot")).await.unwrap();
    assert_eq!(saved.rows, 1, "the snapshot leaves the lease row out");
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(store.delete_prefix("").await.unwrap(), 1);
    store.set("b", b"2").await.unwrap();
    assert_eq!(store.delete_prefix_atomic("").await.unwrap(), 1);
    assert_eq!(
        store.get(pgkv::CLEANUP_LEASE_KEY).await.unwrap().as_deref(),
        Some(&b"held"[..]),
        "prefix deletes leave the lease row"
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

#[tokio::test]
async fn namespaces_are_refused_before_anything_is_created() {
    let schema = pgkv_suite::unique_table("citus_ns_schema");
    let store = pgkv_suite::store_with("citus_namespaces", |c| c.schema(&schema)).await;
    let err = store
        .create_namespace("tenant", pgkv::NamespaceConfig::new())
        .await
        .unwrap_err();
    assert!(
        matches!(err, pgkv::Error::UnsupportedOnCitus { what: "namespaces" }),
        "{err:?}"
    );
    assert!(!err.is_recoverable());
    let registry: Option<String> = sqlx::query_scalar("SELECT to_regclass($1)::text")
        .bind(format!("{schema}.pgkv_namespaces"))
        .fetch_one(&admin(&store))
        .await
        .unwrap();
    assert_eq!(registry, None, "no registry was created");
    assert!(store.namespaces().await.unwrap().is_empty());
    assert!(matches!(
        store.namespace("tenant").await.unwrap_err(),
        pgkv::Error::NamespaceMissing { .. }
    ));
}

#[tokio::test]
async fn explain_cleanup_shows_a_shard_batch_on_the_expiry_index() {
    let store = pgkv_suite::store_with("citus_explain", |c| {
        c.ttl_cleanup_strategy(pgkv::TtlCleanupStrategy::Manual)
    })
    .await;
    let plan = store.explain_cleanup().await.unwrap();
    assert!(plan.starts_with("Citus: one batch on shard "), "{plan}");
    assert!(plan.contains("_expires_at_idx"), "{plan}");
}
