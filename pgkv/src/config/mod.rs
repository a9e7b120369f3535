//! Store configuration: a by-value builder that never fails; everything is
//! checked once, by [`Config::validate`], when a store is created.

pub(crate) mod namespace;
pub(crate) mod near;

use std::fmt;
use std::time::Duration;

use crate::base::input::MAX_KEY_LENGTH;
use crate::error::{Error, Result};

/// How the table is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TableType {
    /// `CREATE UNLOGGED TABLE`: writes skip the write-ahead log, so they are
    /// several times cheaper, but the table is emptied after a crash and is not
    /// replicated to standbys. The right choice for a cache.
    #[default]
    Unlogged,
    /// An ordinary, crash-safe and replicated table.
    Regular,
}

/// What happens to rows whose TTL has passed.
///
/// Whatever the strategy (except `Disabled`), an expired key is absent for
/// every operation; the strategy only decides who deletes the row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TtlCleanupStrategy {
    /// A single-key or batch read that meets an expired row deletes it in the
    /// same statement (the expiry is re-checked in the `DELETE`, so a fresh
    /// concurrent write is never removed). Only rows it can lock without
    /// waiting are deleted (`SKIP LOCKED`), so a read never waits for a lock
    /// or deadlocks; on a read-only session (detected at start-up) reads do
    /// not delete at all. Scans and counts skip expired rows without deleting
    /// them: a sweep removes those.
    #[default]
    OnRead,
    /// Reads never delete; expired rows stay on disk, invisible, until
    /// [`Store::cleanup_expired`](crate::Store::cleanup_expired) removes them.
    Manual,
    /// Expiry is ignored by reads and writes: keys with a past TTL still read
    /// as present. The cleanup calls still delete them.
    Disabled,
}

/// Connection and table settings for a [`Store`](crate::Store).
///
/// ```
/// use std::time::Duration;
/// use pgkv::{Config, TableType};
///
/// let config = Config::new("postgres://localhost/app")
///     .table_name("sessions")
///     .table_type(TableType::Regular)
///     .max_connections(20)
///     .acquire_timeout(Duration::from_secs(5));
/// ```
#[derive(Clone)]
#[must_use]
pub struct Config {
    pub(crate) url: String,
    pub(crate) table_name: String,
    /// `None`: the connection's current schema.
    pub(crate) schema: Option<String>,
    /// `None`: not chosen, so an existing table is used as it is and a new
    /// one is UNLOGGED.
    pub(crate) table_type: Option<TableType>,
    pub(crate) auto_create_table: bool,
    pub(crate) ttl_cleanup_strategy: TtlCleanupStrategy,
    pub(crate) max_key_length: usize,
    pub(crate) max_value_size: usize,
    pub(crate) application_name: Option<String>,
    pub(crate) max_connections: u32,
    pub(crate) acquire_timeout: Duration,
    pub(crate) cleanup_batch_size: u32,
    pub(crate) idle_timeout: Duration,
    pub(crate) max_lifetime: Duration,
    pub(crate) transaction_pooler: bool,
    pub(crate) near_cache: Option<near::NearCache>,
    /// `None`: one plain table; `Some(n)`: hash-partitioned on `key` into `n`.
    pub(crate) partitions: Option<u32>,
    pub(crate) citus: bool,
    pub(crate) batch_concurrent_calls: bool,
}

/// Longest table name accepted: PostgreSQL truncates identifiers at 63 bytes,
/// and the index name adds `_expires_at_idx` (15 bytes) to the table name.
const MAX_TABLE_NAME: usize = 63 - "_expires_at_idx".len();
const MAX_SCHEMA_NAME: usize = 63;

/// The largest [`Config::max_value_size`] accepted: 512 MiB, as Redis's
/// strings. PostgreSQL refuses a protocol message over 1 GiB and builds each
/// row in memory whole, so this keeps a value of the full size (and a batch
/// made of one) comfortably storable and readable back.
pub const MAX_VALUE_SIZE: usize = 512 * 1024 * 1024;

/// The largest [`Config::max_connections`] accepted: PostgreSQL's own ceiling
/// on `max_connections` (2^18 - 1 backends).
pub const MAX_CONNECTIONS: u32 = (1 << 18) - 1;

/// The largest [`Config::partitions`] accepted. Every partition is a table
/// with two indexes, planned and locked by statements that do not name a
/// key; beyond about a thousand that overhead outgrows any gain.
pub const MAX_PARTITIONS: u32 = 1024;

impl Config {
    /// Defaults for the database at `url` (not parsed until the store connects).
    pub fn new(url: impl Into<String>) -> Self {
        Config {
            url: url.into(),
            table_name: "kv_store".to_owned(),
            schema: None,
            table_type: None,
            auto_create_table: true,
            ttl_cleanup_strategy: TtlCleanupStrategy::OnRead,
            max_key_length: 1024,
            max_value_size: 100 * 1024 * 1024,
            application_name: None,
            max_connections: 10,
            acquire_timeout: Duration::from_secs(30),
            cleanup_batch_size: 5_000,
            idle_timeout: Duration::from_secs(10 * 60),
            max_lifetime: Duration::from_secs(30 * 60),
            transaction_pooler: false,
            near_cache: None,
            partitions: None,
            citus: false,
            batch_concurrent_calls: true,
        }
    }

    /// The table's name (default `kv_store`): letters, digits and `_`, not
    /// starting with a digit, at most 48 bytes.
    pub fn table_name(mut self, name: &str) -> Self {
        self.table_name = name.to_owned();
        self
    }

    /// The table's schema. By default the connection's current schema
    /// (`current_schema()`: the first schema on `search_path` that exists,
    /// usually `public`), which is also where `sqlx migrate run` puts the
    /// table; an existing table found through `search_path` is used where it
    /// is. When set, the schema is created if missing (with
    /// `auto_create_table`).
    pub fn schema(mut self, schema: &str) -> Self {
        self.schema = Some(schema.to_owned());
        self
    }

    /// Unlogged (the default for a new table) or regular; see [`TableType`].
    ///
    /// When set, the store checks an existing table against it and refuses
    /// to start with [`Error::TableTypeMismatch`](crate::Error::TableTypeMismatch)
    /// if it differs (durability asked for is never silently not delivered).
    /// When not set, an existing table is used whatever its type.
    pub fn table_type(mut self, table_type: TableType) -> Self {
        self.table_type = Some(table_type);
        self
    }

    /// Create the schema, table and index when the store starts (default
    /// true). With `false` the store checks that the table exists.
    pub fn auto_create_table(mut self, create: bool) -> Self {
        self.auto_create_table = create;
        self
    }

    /// Who deletes expired rows; see [`TtlCleanupStrategy`].
    pub fn ttl_cleanup_strategy(mut self, strategy: TtlCleanupStrategy) -> Self {
        self.ttl_cleanup_strategy = strategy;
        self
    }

    /// Longest key accepted, in bytes (default 1024, at most
    /// [`MAX_KEY_LENGTH`](crate::MAX_KEY_LENGTH) = 2,048).
    pub fn max_key_length(mut self, bytes: usize) -> Self {
        self.max_key_length = bytes;
        self
    }

    /// Largest value accepted, in bytes (default 100 MiB, at most
    /// [`MAX_VALUE_SIZE`](crate::MAX_VALUE_SIZE) = 512 MiB).
    pub fn max_value_size(mut self, bytes: usize) -> Self {
        self.max_value_size = bytes;
        self
    }

    /// `application_name` reported to the server (visible in `pg_stat_activity`).
    pub fn application_name(mut self, name: &str) -> Self {
        self.application_name = Some(name.to_owned());
        self
    }

    /// Most connections the store holds at once (default 10, at most
    /// [`MAX_CONNECTIONS`](crate::MAX_CONNECTIONS), PostgreSQL's own
    /// ceiling). The store opens them as calls need them.
    pub fn max_connections(mut self, n: u32) -> Self {
        self.max_connections = n;
        self
    }

    /// How long a call (and `connect`) may take to get a connection, waiting
    /// for a free one and connecting included, before failing with a
    /// recoverable [`Error::PoolTimedOut`] (default 30 s). Any duration is
    /// accepted; beyond a century it means "wait indefinitely".
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.acquire_timeout = timeout;
        self
    }

    /// Rows deleted per statement by the expiry sweeps (`cleanup_expired`
    /// and the cleanup task) and by
    /// [`delete_prefix`](crate::KvCommands::delete_prefix), which deletes a
    /// prefix in batches of this many keys (default 5,000). Smaller batches
    /// hold fewer row locks at a time; larger ones finish a big backlog in
    /// fewer round trips.
    pub fn cleanup_batch_size(mut self, rows: u32) -> Self {
        self.cleanup_batch_size = rows;
        self
    }

    /// How long a connection the store opened may sit unused before it is
    /// closed (default 10 minutes). Connections borrowed through
    /// [`Store::from_pool`](crate::Store::from_pool) go back to the
    /// application's pool after about a second unused, whatever this says.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Age at which a connection is closed rather than reused (default 30
    /// minutes), so server-side memory and a changed DNS answer or failover
    /// are picked up. A connection in use is closed when it comes back.
    pub fn max_lifetime(mut self, lifetime: Duration) -> Self {
        self.max_lifetime = lifetime;
        self
    }

    /// Batch concurrent calls when every connection is busy (default on).
    ///
    /// A `get`, `exists`, `set`, `set_ex` or `delete` of a store that finds
    /// a free connection runs alone, as it would without batching: no timer,
    /// no added latency. One that finds all [`max_connections`](Self::max_connections)
    /// busy queues instead; the next connection to come free takes every
    /// queued call of that kind and sends them as one statement, handing each
    /// caller its own result. Under load, a connection then carries many
    /// calls per round trip instead of one.
    ///
    /// Each caller still gets what its call alone would have returned at
    /// some instant between its start and its return: bad input is refused
    /// before the call queues; calls on one key in one batch take effect in
    /// arrival order; a caller cancelled while queued is never sent; a failed
    /// statement fails exactly the calls it carried, with the same error
    /// (`OutcomeUnknown` for writes whose fate is unknown). Not batched:
    /// commands inside a transaction, read-modify-write commands, reads of
    /// near-cached keys, namespaces with [`LimitPolicy::Reject`](crate::LimitPolicy::Reject)
    /// (one write over the limit would fail its neighbours) and
    /// [`citus`](Self::citus) mode (a batch fans out over shards).
    /// [`Store::batching_stats`](crate::Store::batching_stats) counts what
    /// was batched.
    pub fn batch_concurrent_calls(mut self, on: bool) -> Self {
        self.batch_concurrent_calls = on;
        self
    }

    /// The server is reached through a connection pooler in transaction
    /// mode (PgBouncer `pool_mode = transaction`, Supavisor, RDS Proxy, the
    /// "pooled" URL of most managed services); default false.
    ///
    /// Such a pooler gives each transaction whichever server connection is
    /// free, so nothing may outlive a transaction. With this switch on:
    /// - every statement is sent unnamed (never a prepared statement kept on
    ///   the server), and every command runs in its own `BEGIN` ... `COMMIT`
    ///   so that its statement's two protocol exchanges reach the same server
    ///   connection: 4 round trips per command instead of 1 (sqlx offers no
    ///   single-exchange form; see the guide's [poolers](crate::guide::poolers) page);
    /// - a statement cut off by a cancelled call is not cancelled on the
    ///   server (the pooler hides which server process runs it): its
    ///   connection is closed, and the pooler ends the server side;
    /// - transactions, the cleanup task and its fleet-wide lock work as
    ///   usual (the lock is transaction-scoped).
    ///
    /// Without it, a store behind such a pooler fails with
    /// [`Error::PoolerNeedsSwitch`](crate::Error::PoolerNeedsSwitch) when the
    /// pooler's symptoms show, and can run another client's statement before
    /// they do: always turn it on for a transaction-mode pooler. A
    /// session-mode pooler needs nothing.
    pub fn transaction_pooler(mut self, on: bool) -> Self {
        self.transaction_pooler = on;
        self
    }

    /// An in-process near-cache for keys under the given prefixes, kept
    /// coherent by a trigger and one `LISTEN` connection; see
    /// [`NearCache`](crate::NearCache) and the guide's [near-cache](crate::guide::near_cache) page.
    pub fn near_cache(mut self, near: near::NearCache) -> Self {
        self.near_cache = Some(near);
        self
    }

    /// Creates the table hash-partitioned on `key` into `n` partitions
    /// (`1..=`[`MAX_PARTITIONS`](crate::MAX_PARTITIONS)), named
    /// `<table>_p0` ... `<table>_p<n-1>`, each UNLOGGED or regular as
    /// [`table_type`](Self::table_type) says (PostgreSQL 15 does not pass
    /// UNLOGGED from a partitioned table to its partitions, so each is
    /// created so), each with its own partial index on `expires_at`.
    ///
    /// A single-key call touches one partition, found by the planner from
    /// `key = $1`; scans, counts and prefix deletes read every partition;
    /// the expiry sweeps go partition by partition. Smaller tables mean
    /// smaller indexes and autovacuum runs that each cover one partition.
    ///
    /// An existing table must have the same layout: a store refuses to start
    /// with [`Error::InvalidConfig`](crate::Error::InvalidConfig) when the
    /// table it finds is partitioned differently (or not at all). Not
    /// combinable with [`citus`](Self::citus) yet.
    pub fn partitions(mut self, n: u32) -> Self {
        self.partitions = Some(n);
        self
    }

    /// Citus mode (default false): the table is a Citus distributed table,
    /// hash-distributed on `key`.
    ///
    /// With it on, a store that creates its table distributes it with
    /// `create_distributed_table(table, 'key')` (and [`schema_sql`](crate::schema_sql)
    /// prints that call); the DDL is sent one statement at a time; reads
    /// under [`OnRead`](crate::TtlCleanupStrategy::OnRead) purge an expired
    /// key with a plain single-shard `DELETE` (which may wait for a writer's
    /// row lock, where the one-server form skips locked rows) and batch reads
    /// do not purge; the sweeps run a bounded batch on every shard at once
    /// (`run_command_on_shards`); and the cleanup task's one-pass-at-a-time
    /// rule uses a lease row, the key [`CLEANUP_LEASE_KEY`](crate::CLEANUP_LEASE_KEY),
    /// written with `SET NX EX`, because advisory locks are per node.
    ///
    /// The store checks at start-up that the `citus` extension is installed
    /// in the database, and fails with
    /// [`Error::CitusMissing`](crate::Error::CitusMissing) before creating
    /// anything if it is not.
    pub fn citus(mut self, on: bool) -> Self {
        self.citus = on;
        self
    }

    /// Checks every setting; run by the store before it connects.
    pub(crate) fn validate(&self) -> Result<()> {
        check_identifier("table name", &self.table_name, MAX_TABLE_NAME)?;
        if let Some(schema) = &self.schema {
            check_identifier("schema", schema, MAX_SCHEMA_NAME)?;
        }
        if self.max_key_length == 0 {
            return Err(Error::InvalidConfig("max_key_length must be at least 1".into()));
        }
        if self.max_key_length > MAX_KEY_LENGTH {
            return Err(Error::InvalidConfig(format!(
                "max_key_length {} exceeds pgkv::MAX_KEY_LENGTH ({MAX_KEY_LENGTH} bytes, what a primary-key index entry holds)",
                self.max_key_length
            )));
        }
        if self.max_value_size == 0 {
            return Err(Error::InvalidConfig("max_value_size must be at least 1".into()));
        }
        if self.max_value_size > MAX_VALUE_SIZE {
            return Err(Error::InvalidConfig(format!(
                "max_value_size {} exceeds pgkv::MAX_VALUE_SIZE ({MAX_VALUE_SIZE} bytes, 512 MiB)",
                self.max_value_size
            )));
        }
        if self.max_connections == 0 {
            return Err(Error::InvalidConfig("max_connections must be at least 1".into()));
        }
        if self.max_connections > MAX_CONNECTIONS {
            return Err(Error::InvalidConfig(format!(
                "max_connections {} exceeds pgkv::MAX_CONNECTIONS ({MAX_CONNECTIONS}, PostgreSQL's own limit)",
                self.max_connections
            )));
        }
        for (name, value) in [
            ("idle_timeout", self.idle_timeout),
            ("max_lifetime", self.max_lifetime),
        ] {
            if value.is_zero() {
                return Err(Error::InvalidConfig(format!("{name} must be longer than zero")));
            }
        }
        if self.acquire_timeout.is_zero() {
            return Err(Error::InvalidConfig(
                "acquire_timeout must be longer than zero".into(),
            ));
        }
        if self.cleanup_batch_size == 0 {
            return Err(Error::InvalidConfig(
                "cleanup_batch_size must be at least 1".into(),
            ));
        }
        if let Some(near) = &self.near_cache {
            near.validate(self.max_key_length, self.transaction_pooler)?;
        }
        if let Some(n) = self.partitions {
            if n == 0 || n > MAX_PARTITIONS {
                return Err(Error::InvalidConfig(format!(
                    "partitions must be between 1 and pgkv::MAX_PARTITIONS ({MAX_PARTITIONS}); got {n}"
                )));
            }
            if self.citus {
                return Err(Error::InvalidConfig(
                    "partitions and citus cannot be combined (a distributed table is already split into shards)".into(),
                ));
            }
        }
        if let Some(name) = &self.application_name
            && name.contains('\0')
        {
            return Err(Error::InvalidConfig(
                "application_name contains a NUL byte".into(),
            ));
        }
        Ok(())
    }
}

/// Identifiers are restricted to a plain ASCII shape (and quoted as well when
/// used), so no configured name can change the meaning of a statement.
fn check_identifier(what: &str, name: &str, max: usize) -> Result<()> {
    let mut chars = name.chars();
    let well_formed = match chars.next() {
        Some(first) => {
            (first.is_ascii_alphabetic() || first == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        }
        None => false,
    };
    if !well_formed {
        return Err(Error::InvalidConfig(format!(
            "{what} {name:?} is not a plain identifier (letters, digits and '_', not starting with a digit)"
        )));
    }
    if name.len() > max {
        return Err(Error::InvalidConfig(format!(
            "{what} {name:?} is {} bytes; the limit is {max}",
            name.len()
        )));
    }
    Ok(())
}

/// The defaults with no URL: for [`Store::from_pool`](crate::Store::from_pool),
/// which uses the pool's own connection options.
impl Default for Config {
    fn default() -> Self {
        Config::new("")
    }
}

impl fmt::Debug for Config {
    // The URL may carry a password; show everything else.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("url", &"<redacted>")
            .field("table_name", &self.table_name)
            .field("schema", &self.schema)
            .field("table_type", &self.table_type)
            .field("auto_create_table", &self.auto_create_table)
            .field("ttl_cleanup_strategy", &self.ttl_cleanup_strategy)
            .field("max_key_length", &self.max_key_length)
            .field("max_value_size", &self.max_value_size)
            .field("application_name", &self.application_name)
            .field("max_connections", &self.max_connections)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("cleanup_batch_size", &self.cleanup_batch_size)
            .field("idle_timeout", &self.idle_timeout)
            .field("max_lifetime", &self.max_lifetime)
            .field("transaction_pooler", &self.transaction_pooler)
            .field("near_cache", &self.near_cache.as_ref().map(|n| &n.prefixes))
            .field("partitions", &self.partitions)
            .field("citus", &self.citus)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_checked() {
        assert!(Config::new("x").validate().is_ok());
        for bad in ["", "1abc", "a-b", "kv; DROP TABLE x", "a\"b", "tábla", "a b"] {
            let err = Config::new("x").table_name(bad).validate().unwrap_err();
            assert!(matches!(err, Error::InvalidConfig(_)), "{bad:?} accepted");
            let err = Config::new("x").schema(bad).validate().unwrap_err();
            assert!(matches!(err, Error::InvalidConfig(_)), "{bad:?} accepted");
        }
        let long = "t".repeat(MAX_TABLE_NAME + 1);
        assert!(Config::new("x").table_name(&long).validate().is_err());
        assert!(Config::new("x").table_name(&long[1..]).validate().is_ok());
    }

    #[test]
    fn limits_are_checked() {
        assert!(Config::new("x").max_connections(0).validate().is_err());
        assert!(Config::new("x").max_key_length(0).validate().is_err());
        assert!(Config::new("x").max_value_size(0).validate().is_err());
        assert!(
            Config::new("x")
                .max_value_size(MAX_VALUE_SIZE + 1)
                .validate()
                .is_err()
        );
        assert!(Config::new("x").max_value_size(MAX_VALUE_SIZE).validate().is_ok());
        assert!(Config::new("x").max_connections(u32::MAX).validate().is_err());
        assert!(
            Config::new("x")
                .max_connections(MAX_CONNECTIONS)
                .validate()
                .is_ok()
        );
        assert!(Config::new("x").acquire_timeout(Duration::MAX).validate().is_ok());
        assert!(Config::new("x").idle_timeout(Duration::ZERO).validate().is_err());
        assert!(
            Config::new("x")
                .acquire_timeout(Duration::ZERO)
                .validate()
                .is_err()
        );
    }

    #[test]
    fn partition_counts_are_checked() {
        for bad in [0, MAX_PARTITIONS + 1, u32::MAX] {
            let err = Config::new("x").partitions(bad).validate().unwrap_err();
            assert!(matches!(err, Error::InvalidConfig(_)), "{bad} accepted");
        }
        assert!(Config::new("x").partitions(1).validate().is_ok());
        assert!(Config::new("x").partitions(MAX_PARTITIONS).validate().is_ok());
        let err = Config::new("x").partitions(4).citus(true).validate().unwrap_err();
        assert!(matches!(err, Error::InvalidConfig(_)));
    }

    #[test]
    fn debug_hides_the_url() {
        let shown = format!("{:?}", Config::new("postgres://u:secret@h/db"));
        assert!(!shown.contains("secret"));
    }
}
