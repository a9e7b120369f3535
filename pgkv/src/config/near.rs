//! The near-cache's settings (its runtime is `call::near`).

use std::time::Duration;

use crate::error::{Error, Result};

/// Settings of the near-cache ([`Config::near_cache`](crate::Config::near_cache)).
///
/// ```
/// use std::time::Duration;
/// use pgkv::NearCache;
///
/// let near = NearCache::new(["flags:", "config:"])
///     .capacity(10_000)
///     .max_staleness(Duration::from_secs(5));
/// # let _ = near;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct NearCache {
    pub(crate) prefixes: Vec<String>,
    pub(crate) capacity: usize,
    pub(crate) max_staleness: Duration,
    pub(crate) listen_url: Option<String>,
}

/// Most entries a near-cache may be configured to hold.
const MAX_CAPACITY: usize = 1 << 24;

impl NearCache {
    /// Near-caches the keys starting with any of `prefixes` (10,000
    /// entries, served for at most 5 s each).
    pub fn new<I, S>(prefixes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        NearCache {
            prefixes: prefixes.into_iter().map(Into::into).collect(),
            capacity: 10_000,
            max_staleness: Duration::from_secs(5),
            listen_url: None,
        }
    }

    /// Most entries held (at most 2^24); a full cache drops an arbitrary
    /// entry to make room.
    pub fn capacity(mut self, entries: usize) -> Self {
        self.capacity = entries;
        self
    }

    /// The longest an entry is served without asking the server again: the
    /// bound on staleness if notifications are delayed.
    pub fn max_staleness(mut self, staleness: Duration) -> Self {
        self.max_staleness = staleness;
        self
    }

    /// The URL of a direct connection for `LISTEN` (required with
    /// [`Config::transaction_pooler`](crate::Config::transaction_pooler): a
    /// transaction-mode pooler cannot keep a session listening).
    pub fn listen_url(mut self, url: &str) -> Self {
        self.listen_url = Some(url.to_owned());
        self
    }

    pub(crate) fn validate(&self, max_key_length: usize, pooler: bool) -> Result<()> {
        let invalid = |why: String| Err(Error::InvalidConfig(format!("near_cache: {why}")));
        if self.prefixes.is_empty() {
            return invalid("needs at least one prefix".into());
        }
        for prefix in &self.prefixes {
            if prefix.is_empty() {
                return invalid("an empty prefix would near-cache every key; list prefixes".into());
            }
            if prefix.contains('\0') || prefix.len() > max_key_length {
                return invalid(format!(
                    "prefix {prefix:?} contains NUL or is longer than max_key_length"
                ));
            }
        }
        if self.capacity == 0 || self.capacity > MAX_CAPACITY {
            return invalid(format!("capacity must be 1 to {MAX_CAPACITY}"));
        }
        if self.max_staleness.is_zero() {
            return invalid("max_staleness must be longer than zero".into());
        }
        if pooler && self.listen_url.is_none() {
            return invalid(
                "behind a transaction-mode pooler LISTEN needs a direct connection: set NearCache::listen_url"
                    .into(),
            );
        }
        Ok(())
    }
}
