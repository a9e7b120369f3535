//! Bad input, bad configuration and lost connections: typed errors, nothing
//! written, and a store that keeps working.

use std::time::Duration;

use pgkv::{Config, Error, MAX_TTL, ScanOptions, Store};
use pgkv_suite::{database_url, raw_row_count, store_with, unique_table};

async fn small() -> Store {
    store_with("err_input", |c| c.max_key_length(16).max_value_size(8)).await
}

/// Every single-key method with `key`, each checked by `expect`.
async fn every_key_method(s: &Store, key: &str, expect: fn(&Error) -> bool) {
    let t = Duration::from_secs(5);
    let results: Vec<(&str, Result<(), Error>)> = vec![
        ("set", s.set(key, "v").await),
        ("get", s.get(key).await.map(drop)),
        ("get_string", s.get_string(key).await.map(drop)),
        ("get_or_err", s.get_or_err(key).await.map(drop)),
        ("delete", s.delete(key).await.map(drop)),
        ("exists", s.exists(key).await.map(drop)),
        ("set_nx", s.set_nx(key, "v").await.map(drop)),
        ("replace", s.replace(key, "v").await.map(drop)),
        ("set_ex", s.set_ex(key, "v", t).await),
        ("set_nx_ex", s.set_nx_ex(key, "v", t).await.map(drop)),
        ("get_ex", s.get_ex(key, t).await.map(drop)),
        ("expire", s.expire(key, t).await.map(drop)),
        ("ttl", s.ttl(key).await.map(drop)),
        ("persist", s.persist(key).await.map(drop)),
        ("set_many", s.set_many(&[("fine", "v"), (key, "v")]).await),
        (
            "set_many_ex",
            s.set_many_ex(&[("fine", "v"), (key, "v")], t).await,
        ),
        ("get_many", s.get_many(&["fine", key]).await.map(drop)),
        ("delete_many", s.delete_many(&["fine", key]).await.map(drop)),
        ("increment", s.increment(key, 1).await.map(drop)),
        ("decrement", s.decrement(key, 1).await.map(drop)),
        (
            "compare_and_swap",
            s.compare_and_swap(key, None, "v").await.map(drop),
        ),
        (
            "compare_and_swap some",
            s.compare_and_swap(key, Some(b"v"), "w").await.map(drop),
        ),
        ("get_and_set", s.get_and_set(key, "v").await.map(drop)),
        ("get_and_delete", s.get_and_delete(key).await.map(drop)),
    ];
    for (method, result) in results {
        match result {
            Err(e) if expect(&e) => {}
            other => panic!("{method}({key:?}): unexpected {other:?}"),
        }
    }
}

#[tokio::test]
async fn bad_keys_are_rejected_by_every_method_and_write_nothing() {
    let s = small().await;
    every_key_method(&s, "", |e| matches!(e, Error::EmptyKey)).await;
    every_key_method(&s, "a\0b", |e| matches!(e, Error::KeyContainsNul { .. })).await;
    every_key_method(&s, "k23456789abcdefgh", |e| {
        matches!(e, Error::KeyTooLong { len: 17, max: 16, .. })
    })
    .await;
    assert_eq!(raw_row_count(&s).await, 0);
    // Messages name the problem.
    let e = s.get("k23456789abcdefgh").await.unwrap_err();
    assert!(e.to_string().contains("17 bytes"), "{e}");
    assert!(!e.is_recoverable() && !e.is_not_found());
    // The store still works.
    s.set("ok", "v").await.unwrap();
}

#[tokio::test]
async fn oversized_values_and_bad_ttls_are_rejected() {
    let s = small().await;
    let big = "123456789";
    let too_big = |e: &Error| matches!(e, Error::ValueTooLarge { size: 9, max: 8, .. });
    assert!(too_big(&s.set("k", big).await.unwrap_err()));
    assert!(too_big(&s.set_nx("k", big).await.unwrap_err()));
    assert!(too_big(&s.replace("k", big).await.unwrap_err()));
    assert!(too_big(
        &s.set_ex("k", big, Duration::from_secs(1)).await.unwrap_err()
    ));
    assert!(too_big(
        &s.set_nx_ex("k", big, Duration::from_secs(1)).await.unwrap_err()
    ));
    assert!(too_big(&s.get_and_set("k", big).await.unwrap_err()));
    assert!(too_big(&s.compare_and_swap("k", None, big).await.unwrap_err()));
    assert!(too_big(&s.set_many(&[("k", big)]).await.unwrap_err()));
    for ttl in [Duration::ZERO, MAX_TTL + Duration::from_secs(1), Duration::MAX] {
        let bad = |e: &Error| matches!(e, Error::InvalidTtl { .. });
        assert!(bad(&s.set_ex("k", "v", ttl).await.unwrap_err()), "{ttl:?}");
        assert!(bad(&s.set_nx_ex("k", "v", ttl).await.unwrap_err()));
        assert!(bad(&s.get_ex("k", ttl).await.unwrap_err()));
        assert!(bad(&s.expire("k", ttl).await.unwrap_err()));
        assert!(bad(&s.set_many_ex(&[("k", "v")], ttl).await.unwrap_err()));
    }
    assert!(matches!(
        s.keys(ScanOptions::new().prefix("a\0")).await,
        Err(Error::KeyContainsNul { .. })
    ));
    assert!(matches!(
        s.scan(ScanOptions::new().after("a\0")).await,
        Err(Error::KeyContainsNul { .. })
    ));
    assert!(matches!(
        s.delete_prefix("\0").await,
        Err(Error::KeyContainsNul { .. })
    ));
    assert_eq!(raw_row_count(&s).await, 0);
    // Exactly at the limits is fine.
    s.set("k234567890123456", "12345678").await.unwrap();
    s.set_ex("k", "v", MAX_TTL).await.unwrap();
    assert!(s.ttl("k").await.unwrap().unwrap() > MAX_TTL - Duration::from_secs(60));
}

#[tokio::test]
async fn invalid_utf8_is_an_error_not_lossy() {
    let s = small().await;
    s.set("bin", [0xffu8, 0xfe]).await.unwrap();
    assert!(matches!(
        s.get_string("bin").await,
        Err(Error::InvalidUtf8 { .. })
    ));
    assert_eq!(s.get("bin").await.unwrap(), Some(vec![0xff, 0xfe]));
}

#[tokio::test]
async fn hostile_identifiers_never_reach_the_server() {
    let victim = unique_table("victim");
    let url = database_url();
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE TABLE {victim} (x int)")))
        .execute(&pool)
        .await
        .unwrap();
    let hostile = [
        format!("kv; DROP TABLE {victim}; --"),
        format!("kv\"; DROP TABLE {victim}; --"),
        "kv_store\" (key text); --".to_string(),
        "Robert'); DROP TABLE students;--".to_string(),
        "a.b".to_string(),
        String::new(),
    ];
    for name in &hostile {
        let err = Store::with_config(Config::new(&url).table_name(name))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InvalidConfig(_)), "{name:?}: {err:?}");
        let err = Store::with_config(Config::new(&url).schema(name))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InvalidConfig(_)), "{name:?}: {err:?}");
        let err = Store::from_pool(pool.clone(), Config::new("").table_name(name))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InvalidConfig(_)));
        assert!(pgkv::schema_sql(&Config::new("").table_name(name)).is_err());
    }
    let still_there: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(&victim)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(still_there);
}

#[tokio::test]
async fn config_errors_are_clear() {
    let err = Store::connect("not a url").await.unwrap_err();
    assert!(matches!(err, Error::InvalidConfig(_)), "{err:?}");
    let err = Store::with_config(Config::new(database_url()).max_connections(0))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("max_connections"), "{err}");
    let missing = unique_table("missing");
    let err = Store::with_config(
        Config::new(database_url())
            .table_name(&missing)
            .auto_create_table(false),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, Error::TableMissing { table } if table.contains(&missing)),
        "{err:?}"
    );
}

#[tokio::test]
async fn pool_exhaustion_times_out_recoverably() {
    // Long enough to open a connection on a loaded machine: the deadline
    // covers connecting too.
    let s = store_with("err_pool", |c| {
        c.max_connections(1).acquire_timeout(Duration::from_secs(2))
    })
    .await;
    s.set("warm", "x").await.unwrap();
    let tx = s.begin().await.unwrap();
    let started = std::time::Instant::now();
    let err = s.get("k").await.unwrap_err();
    assert!(matches!(err, Error::PoolTimedOut), "{err:?}");
    assert!(err.is_recoverable());
    // Bounded by the acquire timeout, not hanging (generous upper bound: shared machines).
    assert!(started.elapsed() < Duration::from_secs(10));
    drop(tx);
    s.set("k", "v").await.unwrap();
}

/// A store on the same table whose connections carry a server setting.
async fn same_table_with_setting(s: &Store, setting: &str, value: &str) -> Store {
    let options: sqlx::postgres::PgConnectOptions = database_url().parse().unwrap();
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_with(options.options([(setting, value)]))
        .await
        .unwrap();
    let table = pgkv_suite::table_of(s);
    let name = table.trim_start_matches("\"public\".\"").trim_end_matches('"');
    Store::from_pool(pool, Config::new("").table_name(name))
        .await
        .unwrap()
}

#[tokio::test]
async fn statement_and_lock_timeouts_are_timeout_errors() {
    let s = store_with("err_timeouts", |c| c.max_connections(2)).await;
    s.set("k", "v").await.unwrap();
    let mut holder = s.begin().await.unwrap();
    holder.set("k", "held").await.unwrap();

    let impatient = same_table_with_setting(&s, "lock_timeout", "50ms").await;
    let err = impatient.set("k", "mine").await.unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    assert_eq!(err.code(), Some("55P03"));

    let hurried = same_table_with_setting(&s, "statement_timeout", "50ms").await;
    let err = hurried.increment("k", 1).await.unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    assert_eq!(err.code(), Some("57014"));

    holder.rollback().await.unwrap();
    assert_eq!(s.get_string("k").await.unwrap().as_deref(), Some("v"));
    impatient.set("k", "mine").await.unwrap();
    assert_eq!(s.get_string("k").await.unwrap().as_deref(), Some("mine"));
}

#[tokio::test]
async fn terminated_connections_cost_at_most_one_failed_call() {
    let app = unique_table("term");
    let s = store_with("err_term", |c| c.max_connections(6).application_name(&app)).await;
    // Open several connections.
    let warm: Vec<_> = (0..6)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move {
                let mut tx = s.begin().await.unwrap();
                tx.set(format!("w{i}"), "v").await.unwrap();
                tokio::time::sleep(Duration::from_millis(100)).await;
                tx.commit().await.unwrap();
            })
        })
        .collect();
    for w in warm {
        w.await.unwrap();
    }
    for round in 0..3 {
        let admin = sqlx::PgPool::connect(&database_url()).await.unwrap();
        let killed: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE application_name = $1) t",
        )
        .bind(&app)
        .fetch_one(&admin)
        .await
        .unwrap();
        assert!(killed >= 1, "round {round}: nothing to terminate");
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut failures = Vec::new();
        for i in 0..30 {
            let result = if i % 2 == 0 {
                s.get("w0").await.map(drop)
            } else {
                s.set("x", "1").await
            };
            if let Err(e) = result {
                assert!(e.is_recoverable(), "{e:?}");
                failures.push(e);
            }
        }
        assert!(
            failures.len() <= 1,
            "round {round}: {} calls failed: {failures:?}",
            failures.len()
        );
        assert_eq!(s.get_string("w0").await.unwrap().as_deref(), Some("v"));
    }
}

#[tokio::test]
async fn a_refused_connection_names_host_and_port_and_no_password() {
    // A port nobody listens on: bind one, note it, close it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://app:hunter2@127.0.0.1:{port}/app");
    let err = Store::with_config(Config::new(&url).acquire_timeout(std::time::Duration::from_secs(5)))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Connect { port: p, .. } if p == port),
        "{err:?}"
    );
    let shown = err.to_string();
    assert!(shown.contains(&format!("127.0.0.1:{port}")), "{shown}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(err.is_recoverable());
}
