//! The settings of a namespace (the feature itself is `features::namespace`).

use std::time::Duration;

use crate::config::{TableType, TtlCleanupStrategy};
use crate::error::{Error, Result};

/// What a namespace does when a write would take it past a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LimitPolicy {
    /// The write fails with [`Error::LimitExceeded`] and writes nothing
    /// (rkvs's `max_keys`; a byte quota). Exact under concurrency: writers
    /// are counted under one row lock per namespace, which also serialises
    /// them at commit (the price is measured in `docs/performance.md`).
    Reject,
    /// Writes always succeed; the cleanup task (or
    /// [`Store::evict_now`](crate::Store::evict_now)) deletes the oldest keys, by creation time, in
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

    pub(crate) fn validate(&self) -> Result<()> {
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
