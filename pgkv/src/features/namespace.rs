//! Namespaces: named key spaces with their own table, settings and limits,
//! registered in the database so every process sees the same set.
//!
//! Layout: one table per namespace (`kvns_<id>`, beside the store's table),
//! listed in the registry table `pgkv_namespaces`. A table of its own makes
//! isolation exact whatever bytes keys contain (no prefix to escape),
//! `delete_namespace` a `DROP TABLE` (no per-key work), and lets each
//! namespace be UNLOGGED or Regular with its own TTL strategy. A handle is a
//! [`Store`]: every command, records, `TypedStore` and transactions work on
//! it, over the same connections as the store it came from.

use std::time::{Duration, SystemTime};

use crate::call::batching::Batcher;
use crate::call::scope::ErrorScope;
use crate::call::written::Written;
use crate::call::{Conduit, Shared};
use crate::config::namespace::{LimitPolicy, NamespaceConfig};
use crate::config::{Config, TableType, TtlCleanupStrategy};
use crate::error::{Error, Result, read_error, write_error};
use crate::handle::route::Call;
use crate::handle::store::Store;
use crate::handle::transaction::Transaction;
use crate::sql::Statements;
use crate::sql::namespace::{
    EvictSql, RegistrySql, drop_ddl, limit_ddl, table_name, table_type_name, ttl_cleanup_name,
};

/// A namespace as the registry describes it: [`Store::namespaces`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NamespaceInfo {
    /// Its name.
    pub name: String,
    /// The settings it was created with.
    pub config: NamespaceConfig,
    /// When it was created (server time).
    pub created_at: SystemTime,
}

/// A registry row.
type Row = (
    i64,
    String,
    String,
    String,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    i64,
);

fn info_of(row: Row) -> (i64, NamespaceInfo) {
    let (id, name, table_type, ttl, policy, max_keys, max_bytes, max_age_us, created_at) = row;
    let config = NamespaceConfig {
        table_type: match table_type.as_str() {
            "regular" => TableType::Regular,
            _ => TableType::Unlogged,
        },
        ttl_cleanup_strategy: match ttl.as_str() {
            "manual" => TtlCleanupStrategy::Manual,
            "disabled" => TtlCleanupStrategy::Disabled,
            _ => TtlCleanupStrategy::OnRead,
        },
        policy: policy.map(|p| match p.as_str() {
            "evict" => LimitPolicy::Evict,
            _ => LimitPolicy::Reject,
        }),
        max_keys: max_keys.map(|n| n.unsigned_abs()),
        max_bytes: max_bytes.map(|n| n.unsigned_abs()),
        max_age: max_age_us.map(|us| Duration::from_micros(us.unsigned_abs())),
    };
    (
        id,
        NamespaceInfo {
            name,
            config,
            created_at: SystemTime::UNIX_EPOCH + Duration::from_micros(created_at.unsigned_abs()),
        },
    )
}

/// What a namespace handle knows beyond its table's statements and its
/// error scope, kept in its `Shared::extension`.
#[derive(Debug)]
pub(crate) struct NamespaceMeta {
    pub(crate) config: NamespaceConfig,
    /// For `Evict` namespaces.
    pub(crate) evict: Option<EvictSql>,
    /// The eviction lock's name (the table's).
    pub(crate) lock: String,
}

/// Longest namespace name.
const MAX_NAME: usize = 63;

/// Names follow the rules of table names: a plain identifier, so a name is
/// never something to escape (it is never spliced into SQL either).
fn check_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let plain = match chars.next() {
        Some(first) => {
            (first.is_ascii_alphabetic() || first == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        }
        None => false,
    };
    if !plain || name.len() > MAX_NAME {
        return Err(Error::InvalidConfig(format!(
            "namespace name {name:?} is not a plain identifier of at most {MAX_NAME} bytes \
             (letters, digits and '_', not starting with a digit)"
        )));
    }
    Ok(())
}

impl Store {
    /// The registry statements for this store's schema.
    fn registry(&self) -> RegistrySql {
        RegistrySql::new(&self.shared.sql.schema)
    }

    /// Creates the namespace `name` (registering it and creating its table
    /// in one transaction) and returns a handle to it. Fails with
    /// [`Error::NamespaceExists`] if the name is taken, and with
    /// [`Error::InvalidConfig`] for a bad name or settings (checked before
    /// any SQL). In Citus mode it fails with [`Error::UnsupportedOnCitus`]
    /// before any SQL: namespaces use triggers, which Citus refuses on
    /// distributed tables.
    ///
    /// ```no_run
    /// # async fn demo(store: pgkv::Store) -> pgkv::Result<()> {
    /// use pgkv::{LimitPolicy, NamespaceConfig};
    /// let tenant = store
    ///     .create_namespace("tenant_7", NamespaceConfig::new().policy(LimitPolicy::Reject).max_keys(100))
    ///     .await?;
    /// tenant.set("greeting", "hello").await?; // in tenant_7's table only
    /// # Ok(())
    /// # }
    /// ```
    pub async fn create_namespace(&self, name: &str, config: NamespaceConfig) -> Result<Store> {
        check_name(name)?;
        config.validate()?;
        if self.shared.sql.citus {
            // The limits' triggers are refused on distributed tables: say
            // so before anything (registry, table) is created.
            return Err(Error::UnsupportedOnCitus { what: "namespaces" });
        }
        let registry = self.registry();
        let mut tx = Transaction::begin(self.shared.clone()).await?;
        let created = async {
            tx.execute_script(sqlx::AssertSqlSafe(registry.ensure.clone()))
                .await?;
            let limit = |n: Option<u64>| n.map(|n| n as i64);
            let id: Option<i64> = sqlx::query_scalar(registry.insert.query())
                .bind(name)
                .bind(table_type_name(config.table_type))
                .bind(ttl_cleanup_name(config.ttl_cleanup_strategy))
                .bind(config.policy.map(|p| match p {
                    LimitPolicy::Reject => "reject",
                    LimitPolicy::Evict => "evict",
                }))
                .bind(limit(config.max_keys))
                .bind(limit(config.max_bytes))
                .bind(config.max_age.map(|a| a.as_micros() as i64))
                .fetch_optional(tx.connection().await?)
                .await
                .map_err(write_error)?;
            let Some(id) = id else {
                return Err(Error::NamespaceExists {
                    name: name.to_owned(),
                });
            };
            let schema = &registry.schema;
            let table = Config::default()
                .schema(schema)
                .table_name(&table_name(id))
                .table_type(config.table_type);
            let mut script = String::new();
            // The schema exists (the registry is in it): no CREATE SCHEMA,
            // which would need the database's CREATE privilege.
            // Without IF NOT EXISTS: a table or sequence already under the
            // new id's name (made by hand, or left by a dropped registry)
            // fails the creation instead of being adopted, and later dropped.
            for statement in crate::sql::create_table_ddl(&table)
                .into_iter()
                .filter(|s| !s.starts_with("CREATE SCHEMA"))
                .map(|s| match s.starts_with("CREATE ") {
                    true => s.replacen(" IF NOT EXISTS ", " ", 1),
                    false => s,
                })
                .chain(limit_ddl(schema, id, &config))
            {
                script.push_str(&statement);
                script.push_str(";\n");
            }
            tx.execute_script(sqlx::AssertSqlSafe(script)).await?;
            Ok(id)
        }
        .await;
        let id = match created {
            Ok(id) => id,
            Err(e) => {
                let _ = tx.rollback().await;
                return Err(e);
            }
        };
        tx.commit().await?;
        Ok(self.handle(id, name.to_owned(), config))
    }

    /// A handle to the existing namespace `name`: a [`Store`] on its table,
    /// sharing this store's connections. [`Error::NamespaceMissing`] if
    /// there is none.
    pub async fn namespace(&self, name: &str) -> Result<Store> {
        check_name(name)?;
        let registry = self.registry();
        let mut call = Call::pooled(&self.shared);
        let found = async {
            sqlx::query_as::<_, Row>(registry.find.query())
                .bind(name)
                .fetch_optional(call.connection().await?)
                .await
                .map_err(read_error)
        }
        .await;
        let found = match call.finish(Written::nothing(), found).await {
            // No registry yet: no namespace either.
            Err(e) if e.is_missing_relation() => None,
            other => other?,
        };
        let Some(row) = found else {
            return Err(Error::NamespaceMissing {
                name: name.to_owned(),
            });
        };
        let (id, info) = info_of(row);
        Ok(self.handle(id, info.name, info.config))
    }

    /// Every namespace of this store's schema, by name.
    pub async fn namespaces(&self) -> Result<Vec<NamespaceInfo>> {
        let registry = self.registry();
        let mut call = Call::pooled(&self.shared);
        let rows = async {
            sqlx::query_as::<_, Row>(registry.list.query())
                .fetch_all(call.connection().await?)
                .await
                .map_err(read_error)
        }
        .await;
        let rows = match call.finish(Written::nothing(), rows).await {
            Err(e) if e.is_missing_relation() => Vec::new(),
            other => other?,
        };
        Ok(rows.into_iter().map(|row| info_of(row).1).collect())
    }

    /// Deletes the namespace `name` and all its keys (`DROP TABLE`: no
    /// per-key work), waiting for writes in flight to it to finish. Later
    /// calls through its handles fail with [`Error::NamespaceMissing`], also
    /// after a namespace of the same name is created again (it gets a new
    /// table). [`Error::NamespaceMissing`] if there is none.
    pub async fn delete_namespace(&self, name: &str) -> Result<()> {
        check_name(name)?;
        let registry = self.registry();
        let mut tx = Transaction::begin(self.shared.clone()).await?;
        let removed = async {
            let id: Option<i64> = sqlx::query_scalar(registry.remove.query())
                .bind(name)
                .fetch_optional(tx.connection().await?)
                .await
                .map_err(write_error)?;
            let Some(id) = id else {
                return Err(Error::NamespaceMissing {
                    name: name.to_owned(),
                });
            };
            tx.execute_script(sqlx::AssertSqlSafe(drop_ddl(&registry.schema, id)))
                .await
        }
        .await;
        match removed {
            Ok(()) => tx.commit().await,
            Err(e) => {
                let _ = tx.rollback().await;
                // No registry at all: no such namespace.
                Err(if e.is_missing_relation() {
                    Error::NamespaceMissing {
                        name: name.to_owned(),
                    }
                } else {
                    e
                })
            }
        }
    }

    /// This handle's namespace settings, on a namespace's handle.
    fn meta(&self) -> Option<&NamespaceMeta> {
        self.shared.extension.as_ref()?.downcast_ref()
    }

    /// The namespace this handle is for, if it is one.
    pub fn namespace_name(&self) -> Option<&str> {
        self.shared.scope.as_ref().map(|scope| scope.name.as_str())
    }

    /// Runs one eviction pass now on an `Evict` namespace (what the cleanup
    /// task does each tick): deletes the oldest keys, in batches of
    /// [`cleanup_batch_size`](crate::Config::cleanup_batch_size), until the
    /// namespace is within its limits. Returns the keys deleted; 0 on any
    /// other handle, or when another instance is evicting right now.
    pub async fn evict_now(&self) -> Result<u64> {
        let Some(ns) = self.meta() else {
            return Ok(0);
        };
        let Some(sql) = &ns.evict else { return Ok(0) };
        let batch = self.shared.cleanup_batch;
        let mut evicted = 0;
        if let Some(age) = ns.config.max_age {
            let age = age.as_micros() as i64;
            loop {
                let mut call = Call::pooled(&self.shared);
                let result = async {
                    sqlx::query_as::<_, (bool, i64)>(sql.over_age.query())
                        .bind(batch)
                        .bind(age)
                        .bind(&ns.lock)
                        .fetch_one(call.connection().await?)
                        .await
                        .map_err(write_error)
                }
                .await;
                // Eviction removes live rows: a write for the near-cache.
                let (held, deleted) = call.finish(Written::everything(), result).await?;
                evicted += deleted.unsigned_abs();
                if !held || deleted < batch {
                    break;
                }
            }
        }
        if ns.config.max_keys.is_some() || ns.config.max_bytes.is_some() {
            let limit = |n: Option<u64>| n.map(|n| n as i64);
            loop {
                let mut call = Call::pooled(&self.shared);
                let result = async {
                    sqlx::query_as::<_, (bool, i64, i64, i64)>(sql.over_size.query())
                        .bind(batch)
                        .bind(limit(ns.config.max_keys))
                        .bind(limit(ns.config.max_bytes))
                        .bind(&ns.lock)
                        .fetch_one(call.connection().await?)
                        .await
                        .map_err(write_error)
                }
                .await;
                let (held, _, _, deleted) = call.finish(Written::everything(), result).await?;
                evicted += deleted.unsigned_abs();
                if !held || deleted < batch {
                    break;
                }
            }
        }
        Ok(evicted)
    }

    /// A handle on namespace `id`'s table, sharing this store's connections.
    fn handle(&self, id: i64, name: String, config: NamespaceConfig) -> Store {
        let base = &self.shared;
        let schema = base.sql.schema.clone();
        let table = table_name(id);
        let mut statements = Statements::new(
            &Config::default()
                .table_name(&table)
                .ttl_cleanup_strategy(config.ttl_cleanup_strategy),
            &schema,
        );
        // The namespace's sequence was made with its table: a missing one
        // means the namespace is gone, never something to create again.
        statements.coord.create_sequence = None;
        let evict = (config.policy == Some(LimitPolicy::Evict)).then(|| EvictSql::new(&statements.table));
        // A `Reject` namespace's deletes update its usage row, under a row
        // lock: a read that purged expired rows would wait for writers (and
        // could deadlock with them), so its expired rows are left to the
        // sweep; reads still skip them.
        let purge_on_read = config.ttl_cleanup_strategy == TtlCleanupStrategy::OnRead
            && config.policy != Some(LimitPolicy::Reject)
            && base.purges_on_read();
        let mut shared = Shared::new(
            base.conns.clone(),
            statements,
            base.limits,
            base.cleanup_batch,
            purge_on_read,
        );
        // A batch that would pass a Reject limit fails every call it
        // carries, where alone some would have fit: those calls stay single.
        if base.coalescer.is_some() && config.policy != Some(LimitPolicy::Reject) {
            shared.coalescer = Some(Batcher::default());
        }
        // pgkv's own rows (get-or-compute leases) go to the table the
        // namespace came from: they never count against its limits.
        shared.bookkeeping = Some(base.bookkeeping().clone());
        shared.scope = Some(ErrorScope {
            name,
            max_keys: config.max_keys,
            max_bytes: config.max_bytes,
        });
        shared.extension = Some(std::sync::Arc::new(NamespaceMeta {
            config,
            evict,
            lock: format!("{schema}.{table}"),
        }));
        Store {
            shared: std::sync::Arc::new(shared),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_plain_identifiers() {
        for bad in [
            "",
            "1a",
            "a-b",
            "a b",
            "x\"; DROP TABLE t; --",
            "ä",
            &"n".repeat(64),
        ] {
            assert!(matches!(check_name(bad), Err(Error::InvalidConfig(_))), "{bad:?}");
        }
        for good in ["a", "_", "tenant_7", &"n".repeat(63)] {
            assert!(check_name(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn configs_are_checked() {
        let bad = [
            NamespaceConfig::new().max_keys(10),
            NamespaceConfig::new().policy(LimitPolicy::Reject),
            NamespaceConfig::new().policy(LimitPolicy::Reject).max_keys(0),
            NamespaceConfig::new().policy(LimitPolicy::Evict).max_bytes(0),
            NamespaceConfig::new()
                .policy(LimitPolicy::Evict)
                .max_keys(u64::MAX),
            NamespaceConfig::new()
                .policy(LimitPolicy::Evict)
                .max_age(Duration::ZERO),
            NamespaceConfig::new()
                .policy(LimitPolicy::Evict)
                .max_age(Duration::MAX),
            NamespaceConfig::new()
                .policy(LimitPolicy::Reject)
                .max_age(Duration::from_secs(1)),
        ];
        for config in bad {
            assert!(
                matches!(config.validate(), Err(Error::InvalidConfig(_))),
                "{config:?}"
            );
        }
        assert!(NamespaceConfig::new().validate().is_ok());
        assert!(
            NamespaceConfig::new()
                .policy(LimitPolicy::Evict)
                .max_keys(u64::try_from(i64::MAX).unwrap())
                .validate()
                .is_ok()
        );
    }
}
