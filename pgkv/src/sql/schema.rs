//! The table's DDL, for applications that run their own migrations.

use sqlx::migrate::Migrator;

use super::{fence_sequence, qualified_table, quote_ident};
use crate::config::{Config, TableType};
use crate::error::Result;

/// The migrations in the repository's `migrations/` folder, embedded: they
/// create the default UNLOGGED `kv_store` table and the namespace registry
/// (`pgkv_namespaces`) in the schema `search_path` names.
///
/// `MIGRATOR.run(&pool)` records its work in `_sqlx_migrations`. If your
/// application also runs its own sqlx migrations against that same table,
/// the two histories collide ("migration ... was previously applied but is
/// missing in the resolved migrations"). In that case either copy the file
/// from `migrations/` into your own migrations folder, or paste
/// [`schema_sql`] into one of your migrations, and keep
/// `auto_create_table(true)` (idempotent) or turn it off.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// The DDL that creates the table (and its schema and expiry index) that
/// `config` describes, and the namespace registry beside it
/// (`pgkv_namespaces`, see [`Store::create_namespace`](crate::Store::create_namespace);
/// left out with [`Config::citus`](crate::Config::citus), where there are no
/// namespaces), as one idempotent SQL script. Use it in your own
/// migration history instead of [`MIGRATOR`].
///
/// Fails only if the table or schema name is not a valid identifier.
///
/// Without [`Config::schema`](crate::Config::schema) the names are
/// unqualified, so the migration creates the table in the schema its
/// `search_path` names first (where a store with the default config looks
/// for it).
///
/// ```
/// let ddl = pgkv::schema_sql(&pgkv::Config::new("").table_name("sessions")).unwrap();
/// assert!(ddl.contains("CREATE UNLOGGED TABLE IF NOT EXISTS \"sessions\""));
/// let ddl = pgkv::schema_sql(&pgkv::Config::new("").schema("cache")).unwrap();
/// assert!(ddl.contains("CREATE UNLOGGED TABLE IF NOT EXISTS \"cache\".\"kv_store\""));
/// ```
pub fn schema_sql(config: &Config) -> Result<String> {
    config.validate()?;
    Ok(crate::sql::create_table_ddl(config)
        .into_iter()
        // No registry in Citus mode, which has no namespaces.
        .chain((!config.citus).then(|| crate::sql::namespace::registry_ddl(config.schema.as_deref())))
        .map(|statement| statement + ";\n")
        .collect())
}

/// Serialises table creation between instances starting at once.
pub(crate) const DDL_LOCK_KEY: i64 = 7_305_983_471_152_380_418;

/// The statements that create a table, run in order in one transaction:
/// the transaction-scoped advisory lock first makes instances that start
/// together take turns on the catalog. `create_schema`: as in [`table_ddl`].
pub(crate) fn create_table_statements(config: &Config, create_schema: bool) -> Vec<String> {
    let mut statements = vec![format!("SELECT pg_advisory_xact_lock({DDL_LOCK_KEY})")];
    statements.extend(table_ddl(config, create_schema));
    statements
}

/// The DDL that creates a configured table and its expiry index, idempotently.
pub(crate) fn create_table_ddl(config: &Config) -> Vec<String> {
    table_ddl(config, true)
}

/// [`create_table_ddl`]; without `create_schema`, no `CREATE SCHEMA` for
/// the configured schema, which is known to exist (the statement would need
/// the database's CREATE privilege even then).
pub(crate) fn table_ddl(config: &Config, create_schema: bool) -> Vec<String> {
    let table = qualified_table(config.schema.as_deref(), &config.table_name);
    let unlogged = match config.table_type.unwrap_or_default() {
        TableType::Unlogged => "UNLOGGED ",
        TableType::Regular => "",
    };
    let mut ddl = Vec::new();
    if let Some(schema) = &config.schema
        && create_schema
    {
        ddl.push(format!("CREATE SCHEMA IF NOT EXISTS {}", quote_ident(schema)));
    }
    // PostgreSQL 15 refuses UNLOGGED on a partitioned table and would not
    // pass it on anyway: each partition is created UNLOGGED itself.
    let (parent_unlogged, partitioned) = match config.partitions {
        Some(_) => ("", " PARTITION BY HASH (key)"),
        None => (unlogged, ""),
    };
    ddl.push(format!(
        "CREATE {parent_unlogged}TABLE IF NOT EXISTS {table} (\n    \
         key        TEXT COLLATE \"C\" PRIMARY KEY,\n    \
         value      BYTEA NOT NULL,\n    \
         expires_at TIMESTAMPTZ,\n    \
         created_at TIMESTAMPTZ NOT NULL DEFAULT now(),\n    \
         updated_at TIMESTAMPTZ NOT NULL DEFAULT now()\n){partitioned}"
    ));
    if let Some(n) = config.partitions {
        for (i, partition) in partition_names(config.schema.as_deref(), &config.table_name, n)
            .into_iter()
            .enumerate()
        {
            ddl.push(format!(
                "CREATE {unlogged}TABLE IF NOT EXISTS {partition} PARTITION OF {table} \
                 FOR VALUES WITH (MODULUS {n}, REMAINDER {i})"
            ));
        }
    }
    // The expiry index is found by what it is, not by its name: a name like
    // `t_expires_at_idx` may already belong to another table's relation, and
    // `CREATE INDEX IF NOT EXISTS name` would then silently create nothing.
    // Left unnamed, PostgreSQL picks `<table>_expires_at_idx`, or that name
    // with a number when it is taken.
    let has_index = expiry_index_exists(&format!("'{table}'::regclass"));
    // The fencing-token counter: an ordinary (WAL-logged) sequence even when
    // the table is UNLOGGED, so a crash that empties the table cannot make
    // tokens go backwards.
    ddl.push(format!(
        "CREATE SEQUENCE IF NOT EXISTS {}",
        fence_sequence(config.schema.as_deref(), &config.table_name)
    ));
    ddl.push(format!(
        "DO $pgkv$ BEGIN\n    \
         IF NOT {has_index} THEN\n        \
         CREATE INDEX ON {table} (expires_at) WHERE expires_at IS NOT NULL;\n    \
         END IF;\n\
         END $pgkv$"
    ));
    // Distributed last, so the index is created with the shards; a table
    // that is already distributed is left as it is.
    if config.citus {
        ddl.push(format!(
            "SELECT create_distributed_table('{table}', 'key') WHERE NOT EXISTS \
             (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = '{table}'::regclass)"
        ));
    }
    ddl
}

/// The quoted names of the `n` hash partitions of `table` (`<table>_p<i>`),
/// in `schema` when there is one.
pub(crate) fn partition_names(schema: Option<&str>, table: &str, n: u32) -> Vec<String> {
    (0..n)
        .map(|i| qualified_table(schema, &format!("{table}_p{i}")))
        .collect()
}

/// SQL that is true when the table `regclass` has an index on `expires_at`
/// alone (the one the sweeps read).
pub(crate) fn expiry_index_exists(regclass: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM pg_index i JOIN pg_attribute a \
         ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] \
         WHERE i.indrelid = {regclass} AND i.indnatts = 1 AND a.attname = 'expires_at')"
    )
}

/// The start-up check, for the table `$2` in the schema `$1` (NULL: the
/// first user schema of `search_path` that holds such a table, else the
/// first user schema of `search_path`, where it would be created). A user
/// schema is any but the system's (`pg_catalog`, `information_schema`,
/// `pg_toast`, temporary schemas), so a table named like a catalog
/// (`pg_class`) is the store's own, never the system's.
///
/// It returns the table's persistence (`p` regular, `u` unlogged; NULL when
/// there is no such table), whether its expiry index exists, whether this
/// session is read-only (a read-only role or database, or a standby), the
/// schema chosen (NULL if there is none), its partition count (NULL: not
/// partitioned), whether the `citus` extension is installed, and whether
/// that schema exists. A partitioned table's persistence is its partitions'
/// (`p` if any is regular).
pub(crate) fn startup_check() -> String {
    let has_index = expiry_index_exists("c.oid");
    let partitions = "(SELECT p.relpersistence::text FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhrelid \
         WHERE i.inhparent = c.oid ORDER BY p.relpersistence LIMIT 1)";
    format!(
        "WITH candidate AS (SELECT n.oid, n.nspname::text AS name, s.pos \
         FROM unnest(CASE WHEN $1::text IS NULL THEN current_schemas(false) ELSE ARRAY[$1::name] END) \
         WITH ORDINALITY AS s(name, pos) JOIN pg_namespace n ON n.nspname = s.name \
         WHERE $1::text IS NOT NULL OR (n.nspname NOT IN ('pg_catalog', 'information_schema') \
         AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)')), \
         found AS (SELECT c.oid, c.relkind, c.relpersistence, k.name FROM candidate k \
         JOIN pg_class c ON c.relnamespace = k.oid AND c.relname = $2 AND c.relkind IN ('r', 'p') \
         ORDER BY k.pos LIMIT 1), \
         place AS (SELECT COALESCE((SELECT name FROM found), (SELECT name FROM candidate ORDER BY pos LIMIT 1), $1::text) AS name) \
         SELECT CASE WHEN c.relkind = 'p' THEN COALESCE({partitions}, c.relpersistence::text) \
         ELSE c.relpersistence::text END, {has_index}, current_setting('transaction_read_only') = 'on', \
         place.name, \
         CASE WHEN c.relkind = 'p' THEN (SELECT count(*) FROM pg_inherits i WHERE i.inhparent = c.oid) END, \
         EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus'), \
         EXISTS (SELECT 1 FROM pg_namespace n WHERE n.nspname = place.name) \
         FROM place LEFT JOIN found c ON TRUE"
    )
}

#[cfg(test)]
mod tests {
    /// The migration that creates the namespace registry is the DDL the
    /// store runs, unqualified.
    #[test]
    fn the_registry_migration_matches_the_store() {
        let migration = include_str!("../../migrations/20261205000000_create_namespace_registry.sql");
        let ddl = crate::sql::namespace::registry_ddl(None);
        assert!(
            migration.contains(&format!("{ddl};")),
            "migration:\n{migration}\nstore:\n{ddl}"
        );
    }
}
