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

use sqlx::Executor;

use crate::call::batched::Coalescer;
use crate::call::{Call, Conduit, Shared};
use crate::config::{Config, TableType, TtlCleanupStrategy};
use crate::error::{Error, Result, read_error, sqlstate, write_error};
use crate::handle::store::Store;
use crate::handle::transaction::Transaction;
use crate::sql::Statements;
use crate::sql::namespace::{
    EvictSql, RegistrySql, drop_ddl, limit_ddl, table_name, table_type_name, ttl_cleanup_name,
};

/// What a namespace does when a write would take it past a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LimitPolicy {
    /// The write fails with [`Error::LimitExceeded`] and writes nothing
    /// (rkvs's `max_keys`; a byte quota). Exact under concurrency: writers
    /// are counted under one row lock per namespace, which also serialises
    /// them at commit (the price, measured in the README).
    Reject,
    /// Writes always succeed; the cleanup task (or
    /// [`Store::evict_now`]) deletes the oldest keys, by creation time, in
    /// bounded batches until the namespace is within its limits (Solid
    /// Cache's FIFO). Between passes the namespace can exceed its limits by
    /// the writes of one interval.
    Evict,
}

/// Settings of a new namespace, fixed at creation.
///
/// ```
/// use std::time::Duration;
/// use pgkv::{LimitPolicy, NamespaceConfig, TableType};
///
/// // A tenant that may hold 10,000 keys and 64 MiB, refusing writes beyond.
/// let quota = NamespaceConfig::new()
///     .table_type(TableType::Regular)
///     .policy(LimitPolicy::Reject)
///     .max_keys(10_000)
///     .max_bytes(64 << 20);
/// // A cache that keeps its newest 100,000 entries, none older than a day.
/// let cache = NamespaceConfig::new()
///     .policy(LimitPolicy::Evict)
///     .max_keys(100_000)
///     .max_age(Duration::from_secs(86_400));
/// # let _ = (quota, cache);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct NamespaceConfig {
    pub(crate) table_type: TableType,
    pub(crate) ttl_cleanup_strategy: TtlCleanupStrategy,
    pub(crate) policy: Option<LimitPolicy>,
    pub(crate) max_keys: Option<u64>,
    pub(crate) max_bytes: Option<u64>,
    pub(crate) max_age: Option<Duration>,
}

impl Default for NamespaceConfig {
    fn default() -> Self {
        NamespaceConfig::new()
    }
}

impl NamespaceConfig {
    /// An UNLOGGED namespace with the `OnRead` TTL strategy and no limits.
    pub fn new() -> Self {
        NamespaceConfig {
            table_type: TableType::Unlogged,
            ttl_cleanup_strategy: TtlCleanupStrategy::OnRead,
            policy: None,
            max_keys: None,
            max_bytes: None,
            max_age: None,
        }
    }

    /// UNLOGGED (default) or Regular: see [`TableType`].
    pub fn table_type(mut self, table_type: TableType) -> Self {
        self.table_type = table_type;
        self
    }

    /// Who deletes expired rows: see [`TtlCleanupStrategy`].
    pub fn ttl_cleanup_strategy(mut self, strategy: TtlCleanupStrategy) -> Self {
        self.ttl_cleanup_strategy = strategy;
        self
    }

    /// What happens at the limits below; required when one is set.
    pub fn policy(mut self, policy: LimitPolicy) -> Self {
        self.policy = Some(policy);
        self
    }

    /// Most keys (rows, expired ones included until deleted).
    pub fn max_keys(mut self, keys: u64) -> Self {
        self.max_keys = Some(keys);
        self
    }

    /// Most bytes of keys plus values (what the rows hold, not their size
    /// on disk).
    pub fn max_bytes(mut self, bytes: u64) -> Self {
        self.max_bytes = Some(bytes);
        self
    }

    /// Oldest a key may get, from its creation (`Evict` only).
    pub fn max_age(mut self, age: Duration) -> Self {
        self.max_age = Some(age);
        self
    }

    fn validate(&self) -> Result<()> {
        let invalid = |why: &str| Err(Error::InvalidConfig(format!("namespace: {why}")));
        for (name, limit) in [("max_keys", self.max_keys), ("max_bytes", self.max_bytes)] {
            match limit {
                Some(0) => return invalid(&format!("{name} must be at least 1")),
                Some(n) if i64::try_from(n).is_err() => {
                    return invalid(&format!("{name} {n} is larger than {}", i64::MAX));
                }
                _ => {}
            }
        }
        if let Some(age) = self.max_age {
            if age.as_micros() == 0 {
                return invalid("max_age must be at least 1 µs");
            }
            if age > crate::base::input::MAX_TTL {
                return invalid(&format!(
                    "max_age {age:?} is longer than pgkv::MAX_TTL (1,000 years)"
                ));
            }
        }
        let any_limit = self.max_keys.is_some() || self.max_bytes.is_some() || self.max_age.is_some();
        match self.policy {
            None if any_limit => invalid("a limit needs a policy (LimitPolicy::Reject or Evict)"),
            Some(_) if !any_limit => invalid("a policy needs a limit (max_keys, max_bytes or max_age)"),
            Some(LimitPolicy::Reject) if self.max_age.is_some() => {
                invalid("max_age needs LimitPolicy::Evict (a key's age is not a reason to refuse a write)")
            }
            _ => Ok(()),
        }
    }
}

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

/// What a namespace handle knows beyond its table's statements.
#[derive(Debug)]
pub(crate) struct NamespaceMeta {
    pub(crate) name: String,
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

impl Shared {
    /// Turns the server's errors about a namespace into typed ones: its
    /// table gone (deleted, maybe re-created under the same name with a new
    /// table) and its limits.
    pub(crate) fn explain(&self, e: Error) -> Error {
        let Some(ns) = &self.namespace else { return e };
        let limit = |limit: &'static str, max: Option<u64>| Error::LimitExceeded {
            namespace: ns.name.clone(),
            limit,
            max: max.unwrap_or(0),
        };
        let gone = || Error::NamespaceMissing {
            name: ns.name.clone(),
        };
        let database = match &e {
            Error::Database(db) | Error::OutcomeUnknown { source: db } => db,
            // Its table's fencing sequence is gone with the table.
            Error::FenceSequenceMissing { .. } => return gone(),
            _ => return e,
        };
        match sqlstate(database) {
            Some("KV001") => limit("max_keys", ns.config.max_keys),
            Some("KV002") => limit("max_bytes", ns.config.max_bytes),
            Some("42P01") => gone(),
            // A statement that waited for `DROP TABLE` finds the relation
            // gone by its OID.
            Some("XX000") if database.to_string().contains("could not open relation with OID") => gone(),
            _ => e,
        }
    }
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
            raw(&mut tx, registry.ensure.clone()).await?;
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
            raw(&mut tx, script).await?;
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
        let found = match call.finish(false, found).await {
            // No registry yet: no namespace either.
            Err(e) if e.code() == Some("42P01") => None,
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
        let rows = match call.finish(false, rows).await {
            Err(e) if e.code() == Some("42P01") => Vec::new(),
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
            raw(&mut tx, drop_ddl(&registry.schema, id)).await
        }
        .await;
        match removed {
            Ok(()) => tx.commit().await,
            Err(e) => {
                let _ = tx.rollback().await;
                // No registry at all: no such namespace.
                Err(match e.code() {
                    Some("42P01") => Error::NamespaceMissing {
                        name: name.to_owned(),
                    },
                    _ => e,
                })
            }
        }
    }

    /// The namespace this handle is for, if it is one.
    pub fn namespace_name(&self) -> Option<&str> {
        self.shared.namespace.as_ref().map(|ns| ns.name.as_str())
    }

    /// Runs one eviction pass now on an `Evict` namespace (what the cleanup
    /// task does each tick): deletes the oldest keys, in batches of
    /// [`cleanup_batch_size`](crate::Config::cleanup_batch_size), until the
    /// namespace is within its limits. Returns the keys deleted; 0 on any
    /// other handle, or when another instance is evicting right now.
    pub async fn evict_now(&self) -> Result<u64> {
        let Some(ns) = &self.shared.namespace else {
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
                let (held, deleted) = call.finish(true, result).await?;
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
                let (held, _, _, deleted) = call.finish(true, result).await?;
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
            shared.coalescer = Some(Coalescer::default());
        }
        // pgkv's own rows (get-or-compute leases) go to the table the
        // namespace came from: they never count against its limits.
        shared.bookkeeping = Some(base.bookkeeping().clone());
        shared.namespace = Some(NamespaceMeta {
            name,
            config,
            evict,
            lock: format!("{schema}.{table}"),
        });
        Store {
            shared: std::sync::Arc::new(shared),
        }
    }
}

/// Runs a script of statements without parameters (simple protocol) in `tx`.
async fn raw(tx: &mut Transaction, script: String) -> Result<()> {
    tx.connection()
        .await?
        .execute(sqlx::raw_sql(sqlx::AssertSqlSafe(script)))
        .await
        .map(drop)
        .map_err(write_error)
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
