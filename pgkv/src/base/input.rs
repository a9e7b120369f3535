//! Checks on user input, run before any SQL so a rejected call changes nothing.

use std::time::Duration;

use sqlx::postgres::types::PgInterval;

use crate::error::{Error, Result};

/// Longest TTL accepted: 1,000 years. Far beyond any cache's needs, and far
/// inside what a PostgreSQL timestamp can hold.
pub const MAX_TTL: Duration = Duration::from_secs(1000 * 366 * 24 * 60 * 60);

/// The most bytes of keys and values one batch call (`set_many`,
/// `get_many`, ...) may carry: 768 MiB. PostgreSQL refuses a protocol
/// message over 1 GiB (and drops the connection), so a larger batch is
/// refused with [`Error::BatchTooLarge`] before anything is sent.
pub const MAX_BATCH_BYTES: usize = 768 * 1024 * 1024;

/// The largest [`Config::max_key_length`](crate::Config::max_key_length)
/// accepted: 2,048 bytes. A primary-key B-tree entry holds at most about
/// 2.7 kB, so longer keys could never be stored.
pub const MAX_KEY_LENGTH: usize = 2048;

/// Bytes a batch item adds to the statement besides its key and value
/// (array element lengths).
pub(crate) const BATCH_ITEM_OVERHEAD: usize = 8;

/// Refuses a batch whose items add up to more than [`MAX_BATCH_BYTES`].
pub(crate) fn check_batch_size(sizes: impl Iterator<Item = usize>) -> Result<()> {
    let size = sizes.fold(0usize, |total, n| {
        total.saturating_add(n).saturating_add(BATCH_ITEM_OVERHEAD)
    });
    if size > MAX_BATCH_BYTES {
        return Err(Error::BatchTooLarge {
            size,
            max: MAX_BATCH_BYTES,
        });
    }
    Ok(())
}

/// The per-store size limits from the [`Config`](crate::Config).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) max_key_length: usize,
    pub(crate) max_value_size: usize,
}

impl Limits {
    pub(crate) fn key<'k>(&self, key: &'k str) -> Result<&'k str> {
        if key.is_empty() {
            return Err(Error::EmptyKey);
        }
        if key.len() > self.max_key_length {
            return Err(Error::key_too_long(key, self.max_key_length));
        }
        check_no_nul(key)?;
        Ok(key)
    }

    pub(crate) fn value<'v>(&self, key: &str, value: &'v [u8]) -> Result<&'v [u8]> {
        if value.len() > self.max_value_size {
            return Err(Error::ValueTooLarge {
                key: key.to_owned(),
                size: value.len(),
                max: self.max_value_size,
            });
        }
        Ok(value)
    }

    /// A key and its value.
    pub(crate) fn entry<'a>(&self, key: &'a str, value: &'a [u8]) -> Result<(&'a str, &'a [u8])> {
        let key = self.key(key)?;
        Ok((key, self.value(key, value)?))
    }
}

/// Scan bounds are not keys (`""` is a valid prefix), but they are bound as
/// `TEXT`, which cannot hold NUL.
pub(crate) fn check_no_nul(s: &str) -> Result<()> {
    if s.contains('\0') {
        return Err(Error::KeyContainsNul { key: s.to_owned() });
    }
    Ok(())
}

/// Converts a TTL to the interval bound into SQL. Sub-microsecond parts round
/// up, so a non-zero TTL never becomes "already expired".
pub(crate) fn ttl(ttl: Duration) -> Result<PgInterval> {
    if ttl.is_zero() {
        return Err(Error::InvalidTtl {
            ttl,
            reason: "a TTL must be longer than zero",
        });
    }
    if ttl > MAX_TTL {
        return Err(Error::InvalidTtl {
            ttl,
            reason: "longer than pgkv::MAX_TTL (1,000 years)",
        });
    }
    let micros = ttl.as_nanos().div_ceil(1_000);
    Ok(PgInterval {
        months: 0,
        days: 0,
        // Fits: MAX_TTL is about 3.2e16 µs.
        microseconds: i64::try_from(micros).expect("MAX_TTL fits in i64 microseconds"),
    })
}

/// Converts the interval `expires_at - statement_timestamp()` back to a
/// remaining TTL. Timestamp differences carry days and microseconds, never
/// months; a non-positive interval (only possible when expiry is disabled)
/// reads as zero.
pub(crate) fn remaining(interval: PgInterval) -> Duration {
    let micros = i64::from(interval.days) * 86_400_000_000 + interval.microseconds;
    Duration::from_micros(u64::try_from(micros).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_key_length: 8,
        max_value_size: 4,
    };

    #[test]
    fn keys() {
        assert!(matches!(LIMITS.key(""), Err(Error::EmptyKey)));
        assert!(matches!(LIMITS.key("a\0b"), Err(Error::KeyContainsNul { .. })));
        assert!(matches!(
            LIMITS.key("123456789"),
            Err(Error::KeyTooLong { len: 9, max: 8, .. })
        ));
        // The limit is in bytes, not characters.
        assert!(LIMITS.key("ééééé").is_err());
        assert_eq!(LIMITS.key("12345678").unwrap(), "12345678");
    }

    #[test]
    fn values() {
        assert!(matches!(
            LIMITS.value("k", b"12345"),
            Err(Error::ValueTooLarge { size: 5, max: 4, .. })
        ));
        assert!(LIMITS.value("k", b"1234").is_ok());
        assert!(LIMITS.value("k", b"").is_ok());
    }

    #[test]
    fn ttls() {
        assert!(matches!(ttl(Duration::ZERO), Err(Error::InvalidTtl { .. })));
        assert!(ttl(MAX_TTL + Duration::from_nanos(1)).is_err());
        assert!(ttl(Duration::MAX).is_err());
        assert_eq!(ttl(Duration::from_nanos(1)).unwrap().microseconds, 1);
        assert_eq!(ttl(Duration::from_millis(1500)).unwrap().microseconds, 1_500_000);
        assert!(ttl(MAX_TTL).is_ok());
    }

    #[test]
    fn remaining_never_rounds_up() {
        let i = PgInterval {
            months: 0,
            days: 1,
            microseconds: 999,
        };
        assert_eq!(remaining(i), Duration::from_micros(86_400_000_999));
        let negative = PgInterval {
            months: 0,
            days: 0,
            microseconds: -5,
        };
        assert_eq!(remaining(negative), Duration::ZERO);
    }
}
