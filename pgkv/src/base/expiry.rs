//! The expiry vocabulary of Redis's EXPIRE family: conditions on setting a
//! TTL, absolute expiry times, and a TTL answer that tells a missing key from
//! one without expiry.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::base::input::MAX_TTL;
use crate::error::{Error, Result};

/// When [`expire_if`](crate::KvCommands::expire_if) and
/// [`expire_at`](crate::KvCommands::expire_at) set the expiry: Redis's
/// `EXPIRE` options. A key without expiry counts as expiring never (as in
/// Redis: `GT` never applies to it, `LT` always does).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ExpireWhen {
    /// Whatever the current expiry (plain `EXPIRE`).
    #[default]
    Always,
    /// Only if the key has no expiry (`NX`).
    NoExpiry,
    /// Only if the key already has an expiry (`XX`).
    HasExpiry,
    /// Only if the new expiry is later than the current one (`GT`).
    Later,
    /// Only if the new expiry is sooner than the current one, or there is
    /// none (`LT`).
    Sooner,
}

impl ExpireWhen {
    pub(crate) const ALL: [ExpireWhen; 5] = [
        ExpireWhen::Always,
        ExpireWhen::NoExpiry,
        ExpireWhen::HasExpiry,
        ExpireWhen::Later,
        ExpireWhen::Sooner,
    ];

    pub(crate) fn index(self) -> usize {
        match self {
            ExpireWhen::Always => 0,
            ExpireWhen::NoExpiry => 1,
            ExpireWhen::HasExpiry => 2,
            ExpireWhen::Later => 3,
            ExpireWhen::Sooner => 4,
        }
    }

    /// The SQL condition, for a new expiry given by the expression `new`.
    pub(crate) fn condition(self, new: &str) -> String {
        match self {
            ExpireWhen::Always => "TRUE".to_owned(),
            ExpireWhen::NoExpiry => "expires_at IS NULL".to_owned(),
            ExpireWhen::HasExpiry => "expires_at IS NOT NULL".to_owned(),
            ExpireWhen::Later => format!("expires_at IS NOT NULL AND {new} > expires_at"),
            ExpireWhen::Sooner => format!("(expires_at IS NULL OR {new} < expires_at)"),
        }
    }
}

/// A key's expiry, as Redis's `PTTL`/`PEXPIRETIME` tell it in one reply
/// (-2 missing, -1 no expiry, else the value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Expiry<T> {
    /// The key is absent (or expired).
    Missing,
    /// The key exists and never expires.
    Persistent,
    /// The key expires: the time left
    /// ([`ttl_status`](crate::KvCommands::ttl_status)) or the instant
    /// ([`expire_time`](crate::KvCommands::expire_time)).
    At(T),
}

/// Microseconds since the Unix epoch of `at`, for an absolute expiry. Times
/// before 1970 are refused; so are times further ahead than [`MAX_TTL`]
/// from now (by this machine's clock: the server's may differ a little).
pub(crate) fn unix_micros(at: SystemTime) -> Result<i64> {
    let Ok(since_epoch) = at.duration_since(UNIX_EPOCH) else {
        return Err(Error::InvalidExpiryTime {
            reason: "before 1970-01-01 (the Unix epoch)",
        });
    };
    let horizon = SystemTime::now()
        .checked_add(MAX_TTL)
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .unwrap_or(Duration::MAX);
    if since_epoch > horizon {
        return Err(Error::InvalidExpiryTime {
            reason: "further ahead than pgkv::MAX_TTL (1,000 years)",
        });
    }
    // Fits: 1,000 years ahead is about 3.4e16 µs.
    Ok(i64::try_from(since_epoch.as_micros()).unwrap_or(i64::MAX))
}

/// The instant `micros` microseconds after the Unix epoch.
pub(crate) fn from_unix_micros(micros: i64) -> SystemTime {
    match u64::try_from(micros) {
        Ok(after) => UNIX_EPOCH + Duration::from_micros(after),
        Err(_) => UNIX_EPOCH - Duration::from_micros(micros.unsigned_abs()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_times_are_checked() {
        assert!(unix_micros(UNIX_EPOCH - Duration::from_secs(1)).is_err());
        assert!(unix_micros(SystemTime::now() + MAX_TTL + Duration::from_secs(3600)).is_err());
        assert_eq!(
            unix_micros(UNIX_EPOCH + Duration::from_micros(1_500_000)).unwrap(),
            1_500_000
        );
        let now = SystemTime::now();
        let back = from_unix_micros(unix_micros(now).unwrap());
        assert!(now.duration_since(back).unwrap() < Duration::from_micros(1));
    }
}
