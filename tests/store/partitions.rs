//! `Config::partitions`: hash partitions on `key`, each UNLOGGED or regular
//! with its own expiry index, swept partition by partition.

use std::time::Duration;

use pgkv::{Config, Error, Store, TableType};
use pgkv_suite::{admin, config, force_expire, raw_row_count, store_with, table_of};

/// (partition name, persistence, has an expiry index) for each partition.
async fn partitions_of(store: &Store) -> Vec<(String, String, bool)> {
    sqlx::query_as(
        "SELECT p.relname::text, p.relpersistence::text, EXISTS (SELECT 1 FROM pg_index i \
         JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] \
         WHERE i.indrelid = p.oid AND a.attname = 'expires_at' AND i.indpred IS NOT NULL) \
         FROM pg_inherits h JOIN pg_class p ON p.oid = h.inhrelid \
         WHERE h.inhparent = $1::regclass ORDER BY p.relname",
    )
    .bind(table_of(store))
    .fetch_all(&admin(store))
    .await
    .expect("read the partitions")
}

/// The table's unqualified name.
fn bare(store: &Store) -> String {
    let table = table_of(store);
    table.rsplit('.').next().unwrap().trim_matches('"').to_owned()
}

#[tokio::test]
async fn each_partition_is_unlogged_or_regular_with_its_own_expiry_index() {
    let unlogged = store_with("part_unlogged", |c| c.partitions(4)).await;
    let parts = partitions_of(&unlogged).await;
    assert_eq!(parts.len(), 4);
    assert!(parts.iter().all(|(_, p, index)| p == "u" && *index), "{parts:?}");
    let regular = store_with("part_regular", |c| c.partitions(3).table_type(TableType::Regular)).await;
    let parts = partitions_of(&regular).await;
    assert_eq!(parts.len(), 3);
    assert!(parts.iter().all(|(_, p, index)| p == "p" && *index), "{parts:?}");
    // A second store on the same table with the same config starts.
    let again = Config::new(pgkv_suite::database_url())
        .table_name(&bare(&unlogged))
        .partitions(4)
        .table_type(TableType::Unlogged);
    Store::with_config(again).await.expect("same layout");
}

#[tokio::test]
async fn the_sweep_empties_every_partition_in_bounded_batches() {
    let store = store_with("part_sweep", |c| c.partitions(8).cleanup_batch_size(7)).await;
    let keys: Vec<String> = (0..300).map(|i| format!("k{i}")).collect();
    for key in &keys {
        store.set_ex(key, b"v", Duration::from_secs(3600)).await.unwrap();
    }
    store.set("keep", b"v").await.unwrap();
    for key in &keys {
        force_expire(&store, key).await;
    }
    assert_eq!(store.cleanup_expired().await.unwrap(), 300);
    assert_eq!(raw_row_count(&store).await, 1);
    // Every partition held some of them (300 keys over 8 partitions).
    assert!(partitions_of(&store).await.len() == 8);
    // The task sweeps all partitions as well.
    for key in &keys[..50] {
        store.set_ex(key, b"v", Duration::from_secs(3600)).await.unwrap();
        force_expire(&store, key).await;
    }
    let task = store.spawn_cleanup(Duration::from_millis(10));
    while task.stats().rows_deleted < 50 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    task.shutdown().await;
    assert_eq!(raw_row_count(&store).await, 1);
}

#[tokio::test]
async fn bad_partition_counts_and_other_layouts_are_refused() {
    for n in [0, pgkv::MAX_PARTITIONS + 1, u32::MAX] {
        let err = Store::with_config(config("part_bad").partitions(n))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InvalidConfig(_)), "{n}: {err:?}");
    }
    let plain = pgkv_suite::store("part_plain").await;
    let name = bare(&plain);
    let err = Store::with_config(config("x").table_name(&name).partitions(4))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidConfig(m) if m.contains("not partitioned")),
        "{err:?}"
    );
    let four = store_with("part_four", |c| c.partitions(4)).await;
    let name = bare(&four);
    let err = Store::with_config(config("x").table_name(&name).partitions(8))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidConfig(m) if m.contains("into 4")),
        "{err:?}"
    );
    // Without the option the table is used as it is found.
    let found = Store::with_config(Config::new(pgkv_suite::database_url()).table_name(&name))
        .await
        .unwrap();
    found.set("k", b"v").await.unwrap();
    assert_eq!(four.get("k").await.unwrap().as_deref(), Some(&b"v"[..]));
}

#[tokio::test]
async fn schema_sql_creates_the_same_partitions() {
    let config = config("part_schema_sql").partitions(5);
    let ddl = pgkv::schema_sql(&config).unwrap();
    assert_eq!(ddl.matches("PARTITION OF").count(), 5);
    assert_eq!(ddl.matches("CREATE UNLOGGED TABLE").count(), 5);
    let probe = pgkv_suite::store("part_schema_probe").await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(ddl))
        .execute(&admin(&probe))
        .await
        .unwrap();
    let store = Store::with_config(config)
        .await
        .expect("the migrated table is accepted");
    assert_eq!(partitions_of(&store).await.len(), 5);
}
