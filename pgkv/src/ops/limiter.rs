//! Rate limiters in one statement per check: a fixed window (`INCR` with a
//! TTL set on the first hit) and GCRA, a smooth limiter with a burst.

use std::time::Duration;

use crate::base::input;
use crate::call::Conduit;
use crate::error::{Error, Result, is_wrong_kind, write_error};

/// The answer of a rate-limit check.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RateDecision {
    /// Whether this check was admitted (a denied check uses up nothing).
    pub allowed: bool,
    /// How many more checks would be admitted right now.
    pub remaining: u64,
    /// How long until the next check would be admitted: zero while
    /// `remaining` is above zero.
    pub retry_after: Duration,
}

/// A smooth limit for [`rate_limit_gcra`](crate::KvCommands::rate_limit_gcra):
/// `limit` checks per `period` on average, with up to `burst` admitted back
/// to back (GCRA, the generic cell rate algorithm: a token bucket of `burst`
/// tokens refilled one per `period / limit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    limit: u64,
    period: Duration,
    burst: u64,
}

impl Quota {
    /// `limit` per `period`, with a burst of `limit` (a full bucket).
    pub fn per(limit: u64, period: Duration) -> Quota {
        Quota {
            limit,
            period,
            burst: limit,
        }
    }

    /// Up to `burst` checks admitted back to back (at least 1).
    #[must_use]
    pub fn burst(mut self, burst: u64) -> Quota {
        self.burst = burst;
        self
    }

    /// The emission interval and tolerance in µs, and the tolerance as an
    /// interval (how long the state row must live).
    fn params(&self) -> Result<(i64, i64, sqlx::postgres::types::PgInterval)> {
        let invalid = |reason| Err(Error::InvalidRateLimit { reason });
        if self.limit == 0 {
            return invalid("the limit must be at least 1");
        }
        if self.burst == 0 {
            return invalid("the burst must be at least 1");
        }
        let period = input::ttl(self.period).map_err(|_| Error::InvalidRateLimit {
            reason: "the period must be longer than zero and at most pgkv::MAX_TTL",
        })?;
        // Rounded up: the limiter never admits more than asked.
        let interval = period.microseconds.unsigned_abs().div_ceil(self.limit);
        if interval == 0 {
            return invalid("more than one check per microsecond");
        }
        let tolerance = match interval.checked_mul(self.burst) {
            Some(t) if Duration::from_micros(t) <= crate::MAX_TTL => t,
            _ => return invalid("period / limit × burst is longer than pgkv::MAX_TTL"),
        };
        let as_interval = input::ttl(Duration::from_micros(tolerance))?;
        // Both fit in i64: MAX_TTL is about 3.2e16 µs.
        Ok((interval as i64, tolerance as i64, as_interval))
    }
}

fn state_error(e: sqlx::Error, key: &str, expected: &'static str) -> Error {
    if is_wrong_kind(&e) {
        Error::WrongKind {
            key: key.to_owned(),
            expected,
        }
    } else {
        write_error(e)
    }
}

pub(crate) async fn rate_limit(
    s: &mut impl Conduit,
    key: impl AsRef<str>,
    limit: u64,
    window: Duration,
) -> Result<RateDecision> {
    let key = s.shared().limits.key(key.as_ref())?;
    let window = input::ttl(window)?;
    let Ok(limit_sql) = i64::try_from(limit) else {
        return Err(Error::InvalidRateLimit {
            reason: "the limit is larger than i64::MAX",
        });
    };
    let limit_sql = limit_sql.min(i64::MAX - 1);
    let sql = s.shared().sql.coord.rate_fixed.query();
    let (count, left): (i64, Option<sqlx::postgres::types::PgInterval>) = sqlx::query_as(sql)
        .bind(key)
        .bind(limit_sql)
        .bind(window)
        .fetch_one(s.connection().await?)
        .await
        .map_err(|e| state_error(e, key, "a fixed-window counter"))?;
    let used = count.max(0).unsigned_abs();
    let allowed = used <= limit;
    let remaining = limit.saturating_sub(used);
    let retry_after = match (remaining, left) {
        (0, Some(left)) => input::remaining(left),
        _ => Duration::ZERO,
    };
    Ok(RateDecision {
        allowed,
        remaining,
        retry_after,
    })
}

pub(crate) async fn rate_limit_gcra(
    s: &mut impl Conduit,
    key: impl AsRef<str>,
    quota: Quota,
) -> Result<RateDecision> {
    let key = s.shared().limits.key(key.as_ref())?;
    let (interval, tolerance, lifetime) = quota.params()?;
    let sql = s.shared().sql.coord.rate_gcra.query();
    let state: String = sqlx::query_scalar(sql)
        .bind(key)
        .bind(interval)
        .bind(tolerance)
        .bind(lifetime)
        .fetch_one(s.connection().await?)
        .await
        .map_err(|e| state_error(e, key, "a GCRA limiter state"))?;
    let wrong = || Error::WrongKind {
        key: key.to_owned(),
        expected: "a GCRA limiter state",
    };
    let mut fields = state.split(' ').map(str::parse::<i64>);
    let (Some(Ok(tat)), Some(Ok(flag)), Some(Ok(now))) = (fields.next(), fields.next(), fields.next()) else {
        return Err(wrong());
    };
    // Admitted next when tat - t <= tolerance - T; `room` is how far from that.
    let ahead = tat.saturating_sub(now);
    let room = tolerance.saturating_sub(ahead);
    let remaining = if room < 0 {
        0
    } else {
        (room / interval).unsigned_abs()
    };
    let wait = ahead.saturating_sub(tolerance - interval);
    Ok(RateDecision {
        allowed: flag == 1,
        remaining,
        retry_after: Duration::from_micros(wait.max(0).unsigned_abs()),
    })
}
