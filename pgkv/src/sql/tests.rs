//! The checked-in text of every statement, and the DDL's shape.

use super::*;
use crate::config::TableType;

#[test]
fn identifiers_are_quoted() {
    assert_eq!(quote_ident("kv"), "\"kv\"");
    assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    assert_eq!(qualified_table(Some("cache"), "items"), "\"cache\".\"items\"");
    assert_eq!(qualified_table(None, "items"), "\"items\"");
}

#[test]
fn ddl_follows_the_table_type() {
    let unlogged = create_table_ddl(&Config::new("x"));
    assert!(unlogged.iter().any(|s| s.starts_with("CREATE UNLOGGED TABLE")));
    assert!(!unlogged.iter().any(|s| s.starts_with("CREATE SCHEMA")));
    let regular = create_table_ddl(&Config::new("x").table_type(TableType::Regular).schema("s"));
    assert!(regular.iter().any(|s| s.starts_with("CREATE TABLE")));
    assert!(regular[0].starts_with("CREATE SCHEMA IF NOT EXISTS \"s\""));
}

#[test]
fn disabled_strategy_never_reads_the_clock_in_filters() {
    let s = Statements::new(
        &Config::new("x").ttl_cleanup_strategy(TtlCleanupStrategy::Disabled),
        "public",
    );
    assert!(!s.get.pick(true).text().contains("statement_timestamp"));
    let s = Statements::new(
        &Config::new("x").ttl_cleanup_strategy(TtlCleanupStrategy::OnRead),
        "public",
    );
    assert!(s.get.pick(true).text().starts_with("WITH purged AS (DELETE"));
    let s = Statements::new(
        &Config::new("x").ttl_cleanup_strategy(TtlCleanupStrategy::Manual),
        "public",
    );
    assert!(!s.get.pick(true).text().contains("DELETE"));
}

#[test]
fn conflict_clauses_use_no_volatile_functions() {
    // The Citus rule: nothing but columns, EXCLUDED and parameters after ON CONFLICT.
    let s = Statements::new(&Config::new("x"), "public");
    for sql in [
        &s.set,
        &s.set_ex,
        &s.set_nx,
        &s.set_nx_ex,
        &s.set_many,
        &s.set_many_ex,
        &s.increment,
        &s.coord.lock_acquire,
        &s.coord.rate_fixed,
        &s.coord.rate_gcra,
    ] {
        let text = sql.text();
        let tail = &text[text.find("ON CONFLICT").expect("upsert")..];
        assert!(!tail.contains("statement_timestamp"), "{text}");
        assert!(!tail.contains("now()"), "{text}");
        assert!(!tail.contains("convert_"), "{text}");
    }
}

/// The checked-in text of every statement, per TTL strategy and table
/// type (`pgkv/sql/*.sql`), so a reviewer reads each statement whole and
/// sees its diff. `PGKV_SQL_OVERWRITE=1 cargo test -p pgkv sql` rewrites
/// the files after a deliberate change.
#[test]
fn statements_match_the_checked_in_snapshot() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sql");
    let overwrite = std::env::var_os("PGKV_SQL_OVERWRITE").is_some();
    let mut stale = Vec::new();
    for (file, strategy) in [
        ("on_read", TtlCleanupStrategy::OnRead),
        ("manual", TtlCleanupStrategy::Manual),
        ("disabled", TtlCleanupStrategy::Disabled),
    ] {
        let config = Config::new("x").ttl_cleanup_strategy(strategy);
        let mut text = format!(
            "-- Every statement pgkv sends for a table \"public\".\"kv_store\" under\n\
             -- TtlCleanupStrategy::{strategy:?}, as built by pgkv/src/sql.rs (generated:\n\
             -- PGKV_SQL_OVERWRITE=1 cargo test -p pgkv sql). One statement per call.\n"
        );
        let statements = Statements::new(&config, "public");
        for (name, sql) in every_statement(&statements) {
            text.push_str(&format!("\n-- {name}\n{};\n", sql.text()));
        }
        // Batches of concurrent calls (never on Citus, so not in
        // `every_statement`, whose routing tests/citus checks).
        let batched = &statements.coalesced;
        for (name, sql) in [
            ("batched exists (purging)", batched.exists.pick(true)),
            ("batched exists (read-only session)", batched.exists.pick(false)),
            ("batched set / set_ex", &batched.write),
            ("batched delete", &batched.delete),
        ] {
            text.push_str(&format!("\n-- {name}\n{};\n", sql.text()));
        }
        for (kind, table_type) in [("unlogged", TableType::Unlogged), ("regular", TableType::Regular)] {
            let label = format!("{table_type:?}");
            let config = config.clone().table_type(table_type);
            if strategy == TtlCleanupStrategy::OnRead {
                let ddl = format!(
                    "-- The statements a store with the default schema runs, in order and in one\n\
                     -- transaction, to create its table (TableType::{label}); schema_sql prints the\n\
                     -- same DDL without the lock.\n{}",
                    create_table_statements(&config, true)
                        .iter()
                        .map(|statement| format!("{statement};\n"))
                        .collect::<String>()
                );
                check(
                    &dir.join(format!("create_{kind}.sql")),
                    &ddl,
                    overwrite,
                    &mut stale,
                );
            }
        }
        check(&dir.join(format!("{file}.sql")), &text, overwrite, &mut stale);
    }
    // Scale-out: the DDL of a partitioned table and of a distributed
    // one, and what differs on Citus (the purges and the shard sweep).
    for (file, config, what) in [
        (
            "create_partitioned",
            Config::new("x").partitions(4),
            "Config::partitions(4)",
        ),
        (
            "create_citus",
            Config::new("x").citus(true),
            "Config::citus(true)",
        ),
    ] {
        let ddl = format!(
            "-- The DDL a store with {what} runs (one statement at a time on Citus);\n\
             -- schema_sql prints the same.\n{}",
            create_table_ddl(&config)
                .into_iter()
                .map(|s| s + ";\n")
                .collect::<String>()
        );
        check(&dir.join(format!("{file}.sql")), &ddl, overwrite, &mut stale);
    }
    let citus = Statements::new(&Config::new("x").citus(true), "public");
    let mut text = String::from(
        "-- Citus mode (TtlCleanupStrategy::OnRead): the statements that differ from on_read.sql.\n",
    );
    let plain = Statements::new(&Config::new("x"), "public");
    let before: std::collections::HashMap<String, String> = every_statement(&plain)
        .into_iter()
        .map(|(name, sql)| (name, sql.text().to_owned()))
        .collect();
    for (name, sql) in every_statement(&citus) {
        if before.get(&name).map(String::as_str) != Some(sql.text()) {
            text.push_str(&format!("\n-- {name}\n{};\n", sql.text()));
        }
    }
    text.push_str(&format!("\n-- shard_sweep\n{};\n", citus.shard_sweep.text()));
    check(&dir.join("citus_on_read.sql"), &text, overwrite, &mut stale);
    assert!(
        stale.is_empty(),
        "SQL changed: {stale:?}; review, then rerun with PGKV_SQL_OVERWRITE=1 to accept"
    );
}

fn check(path: &std::path::Path, want: &str, overwrite: bool, stale: &mut Vec<String>) {
    let have = std::fs::read_to_string(path).unwrap_or_default();
    if have == want {
        return;
    }
    if overwrite {
        std::fs::create_dir_all(path.parent().expect("a dir")).expect("create pgkv/sql");
        std::fs::write(path, want).expect("write the snapshot");
    } else {
        stale.push(path.display().to_string());
    }
}
