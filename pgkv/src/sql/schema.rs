//! The table's DDL, for applications that run their own migrations.

use sqlx::migrate::Migrator;

use crate::config::Config;
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

#[cfg(test)]
mod tests {
    /// The migration that creates the namespace registry is the DDL the
    /// store runs, unqualified.
    #[test]
    fn the_registry_migration_matches_the_store() {
        let migration = include_str!("../migrations/20261205000000_create_namespace_registry.sql");
        let ddl = crate::sql::namespace::registry_ddl(None);
        assert!(
            migration.contains(&format!("{ddl};")),
            "migration:\n{migration}\nstore:\n{ddl}"
        );
    }
}
