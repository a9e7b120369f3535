//! Table creation, table types, migrations and pool sharing.

use pgkv::{Config, Store, TableType};
use pgkv_suite::{config, database_url, table_of, unique_table};
use sqlx::Executor;

async fn persistence(store: &Store) -> String {
    let table = table_of(store);
    sqlx::query_scalar::<_, i8>("SELECT relpersistence::\"char\" FROM pg_class WHERE oid = to_regclass($1)")
        .bind(&table)
        .fetch_one(store.pool())
        .await
        .map(|c| (c as u8 as char).to_string())
        .unwrap()
}

#[tokio::test]
async fn unlogged_by_default_regular_on_request() {
    let s = Store::with_config(config("schema_unlogged")).await.unwrap();
    assert_eq!(persistence(&s).await, "u");
    let s = Store::with_config(config("schema_regular").table_type(TableType::Regular))
        .await
        .unwrap();
    assert_eq!(persistence(&s).await, "p");
    s.set("k", "v").await.unwrap();
}

#[tokio::test]
async fn custom_schema_is_created_and_used() {
    let schema = unique_table("sch");
    let cfg = Config::new(database_url()).schema(&schema).table_name("items");
    let s = Store::with_config(cfg.clone()).await.unwrap();
    s.set("k", "v").await.unwrap();
    let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM \"{schema}\".items"
    )))
    .fetch_one(s.pool())
    .await
    .unwrap();
    assert_eq!(n, 1);
    // Starting again on an existing table is a no-op.
    let again = Store::with_config(cfg).await.unwrap();
    assert_eq!(again.get_string("k").await.unwrap().as_deref(), Some("v"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_instances_starting_at_once_agree() {
    let cfg = config("schema_race");
    let starts: Vec<_> = (0..8)
        .map(|_| tokio::spawn(Store::with_config(cfg.clone())))
        .collect();
    for s in starts {
        s.await.unwrap().expect("every instance starts");
    }
}

#[tokio::test]
async fn from_pool_shares_the_applications_pool() {
    let pool = sqlx::PgPool::connect(&database_url()).await.unwrap();
    let table = unique_table("frompool");
    let s = Store::from_pool(pool.clone(), Config::new("ignored://").table_name(&table))
        .await
        .unwrap();
    s.set("k", "v").await.unwrap();
    let v: Vec<u8> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT value FROM {table} WHERE key = 'k'"
    )))
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(v, b"v");
}

#[tokio::test]
async fn migrator_creates_the_default_table_where_search_path_points() {
    let schema = unique_table("mig");
    let admin = sqlx::PgPool::connect(&database_url()).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&admin)
        .await
        .unwrap();
    let options: sqlx::postgres::PgConnectOptions = database_url().parse().unwrap();
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect_with(options.options([("search_path", schema.as_str())]))
        .await
        .unwrap();
    pgkv::MIGRATOR.run(&pool).await.unwrap();
    let persistence: i8 = sqlx::query_scalar(
        "SELECT relpersistence::\"char\" FROM pg_class WHERE oid = to_regclass($1 || '.kv_store')",
    )
    .bind(&schema)
    .fetch_one(&admin)
    .await
    .unwrap();
    assert_eq!(persistence as u8, b'u');
    // The store uses it without creating anything.
    let s = Store::from_pool(
        pool.clone(),
        Config::new("").schema(&schema).auto_create_table(false),
    )
    .await
    .unwrap();
    s.set("k", "v").await.unwrap();
    assert!(s.exists("k").await.unwrap());
    // With the default schema it finds the same table through search_path,
    // with or without auto_create_table: no second table anywhere.
    for create in [false, true] {
        let default = Store::from_pool(pool.clone(), Config::new("").auto_create_table(create))
            .await
            .unwrap();
        assert_eq!(table_of(&default), format!("\"{schema}\".\"kv_store\""));
        assert_eq!(default.get_string("k").await.unwrap().as_deref(), Some("v"));
    }
}

#[tokio::test]
async fn the_default_schema_is_the_current_one() {
    let (schema, admin) = fresh_schema("cur").await;
    // search_path names a schema that does not exist first: the current
    // schema is the first one that does.
    let url = with_search_path(&format!("missing_{schema},{schema},public"));
    let table = unique_table("cur_table");
    let s = Store::with_config(Config::new(&url).table_name(&table))
        .await
        .unwrap();
    assert_eq!(table_of(&s), format!("\"{schema}\".\"{table}\""));
    s.set("k", "v").await.unwrap();
    let in_public: Option<String> = sqlx::query_scalar("SELECT to_regclass($1)::text")
        .bind(format!("public.{table}"))
        .fetch_one(&admin)
        .await
        .unwrap();
    assert_eq!(in_public, None, "a second table was created in public");
    // No schema on search_path exists: a clear error, nothing created.
    let nowhere = with_search_path(&format!("missing_{schema}"));
    let err = Store::with_config(Config::new(&nowhere).table_name(&table))
        .await
        .unwrap_err();
    assert!(matches!(err, pgkv::Error::InvalidConfig(_)), "{err:?}");
}

#[tokio::test]
async fn schema_sql_runs_and_is_idempotent() {
    let table = unique_table("ddl");
    let ddl = pgkv::schema_sql(&Config::new("").table_name(&table)).unwrap();
    let pool = sqlx::PgPool::connect(&database_url()).await.unwrap();
    for _ in 0..2 {
        sqlx::raw_sql(sqlx::AssertSqlSafe(ddl.clone()))
            .execute(&pool)
            .await
            .unwrap();
    }
    let s = Store::from_pool(pool, Config::new("").table_name(&table).auto_create_table(false))
        .await
        .unwrap();
    s.set("k", "v").await.unwrap();
}

#[test]
fn store_and_futures_are_send_and_sync() {
    fn send_sync_static<T: Clone + Send + Sync + 'static>() {}
    send_sync_static::<Store>();
    send_sync_static::<pgkv::CasResult>();
    send_sync_static::<pgkv::ScanOptions>();
    // Compiling this is the test: every future a Store returns is Send.
    fn _compile_time(s: &'static Store) {
        fn send<T: Send>(_: T) {}
        send(s.set("k", "v"));
        send(s.get("k"));
        send(s.increment("k", 1));
        send(s.compare_and_swap("k", None, "v"));
        send(s.scan(pgkv::ScanOptions::new()));
        send(s.begin());
        send(s.cleanup_expired());
        send(s.transaction(async |tx| tx.get("k").await));
    }
}

/// A table named like a system catalog or view is the store's own table in
/// the first user schema of `search_path`, never the system's relation,
/// with the default schema and with `pg_catalog` named first on the path.
#[tokio::test]
async fn a_table_named_like_a_catalog_is_a_table_of_its_own() {
    // Direct connections (search_path as a startup option), also in the
    // pooler's binary.
    let (schema, admin) = fresh_schema("cat").await;
    // pg_catalog first (explicitly), then a temporary schema, then ours.
    let path_first = with_search_path(&format!("pg_catalog,pg_temp,{schema}"));
    let path_only = with_search_path(&schema);
    for name in [
        "pg_class",
        "pg_settings",
        "pg_user",
        "pg_stat_activity",
        "tables",
        "columns",
    ] {
        for url in [&path_only, &path_first] {
            let s = Store::with_config(Config::new(url).table_name(name).max_connections(2))
                .await
                .unwrap_or_else(|e| panic!("{name} ({url}): {e}"));
            assert_eq!(table_of(&s), format!("\"{schema}\".\"{name}\""), "{name}");
            s.set("k", name).await.unwrap();
            assert_eq!(s.get_string("k").await.unwrap().as_deref(), Some(name));
        }
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM \"{schema}\".\"{name}\""
        )))
        .fetch_one(&admin)
        .await
        .unwrap();
        assert_eq!(n, 1, "{name}: one table, found again by the second store");
    }
    // Only system schemas on the path: a typed error, nothing created.
    let system_only = with_search_path("pg_catalog,information_schema");
    let err = Store::with_config(Config::new(&system_only).table_name("pg_class"))
        .await
        .unwrap_err();
    assert!(matches!(err, pgkv::Error::InvalidConfig(_)), "{err:?}");
}

/// A schema of this test's own, created, and a direct pool to create it with.
async fn fresh_schema(tag: &str) -> (String, sqlx::PgPool) {
    let schema = unique_table(tag);
    let admin = sqlx::PgPool::connect(&database_url()).await.unwrap();
    admin
        .execute(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .await
        .unwrap();
    (schema, admin)
}

/// `DATABASE_URL` with `search_path` set to `path` (comma-separated) for
/// every session.
fn with_search_path(path: &str) -> String {
    let url = database_url();
    let sep = if url.contains('?') { '&' } else { '?' };
    format!(
        "{url}{sep}options=-c%20search_path%3D{}",
        path.replace(',', "%2C")
    )
}
