//! Locks with fencing tokens: a lease on a key that only its holder can
//! release or extend, and a number that grows with every grant so the
//! resource the lock protects can refuse a holder whose lease ran out.
//!
//! The lock row is `token lease_until_µs owner` under the lock's key, with no
//! TTL: it stays after release so the highest token of the name stays next
//! to it. Tokens come from a WAL-logged sequence, `<table>_fence_seq`.

use std::fmt;
use std::time::Duration;

use sqlx::postgres::{PgArgumentBuffer, PgTypeInfo};
use sqlx::{Postgres, encode::IsNull, error::BoxDynError};

use crate::base::input;
use crate::base::xorshift::random;
use crate::call::Conduit;
use crate::error::{Error, Result, is_missing_relation, is_wrong_kind, write_error};

/// A fencing token: strictly greater than every token granted before it for
/// the same lock (and for every other lock of the same table). Pass it to the
/// resource the lock protects, which keeps the highest token it has seen and
/// refuses writes carrying a lower one. It binds as a `BIGINT` in sqlx:
///
/// ```no_run
/// # async fn demo(store: pgkv::Store, pool: sqlx::PgPool) -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
///
/// // Once: CREATE TABLE reports (id int PRIMARY KEY, body text, fence bigint NOT NULL DEFAULT 0)
/// if let Some(lock) = store.try_lock("lock:report:7", Duration::from_secs(30)).await? {
///     let done = sqlx::query(
///         "UPDATE reports SET body = $2, fence = $3 WHERE id = $1 AND fence < $3",
///     )
///     .bind(7)
///     .bind("rebuilt")
///     .bind(lock.token())
///     .execute(&pool)
///     .await?;
///     if done.rows_affected() == 0 {
///         // A later holder has written already: this one's lease had run out.
///     }
///     store.unlock(&lock).await?;
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FencingToken(i64);

impl FencingToken {
    /// The token as a number (always positive).
    pub fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for FencingToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl sqlx::Type<Postgres> for FencingToken {
    fn type_info() -> PgTypeInfo {
        <i64 as sqlx::Type<Postgres>>::type_info()
    }
}

impl sqlx::Encode<'_, Postgres> for FencingToken {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> std::result::Result<IsNull, BoxDynError> {
        <i64 as sqlx::Encode<'_, Postgres>>::encode_by_ref(&self.0, buf)
    }
}

/// A granted lock: its key, its fencing token and the random owner id that,
/// with the token, names this grant. Dropping it does not release the lock
/// (the lease then runs out); release it with
/// [`unlock`](crate::KvCommands::unlock).
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "a lock is held until its lease ends or it is unlocked"]
pub struct Lock {
    key: String,
    token: FencingToken,
    owner: String,
}

impl Lock {
    /// The lock's key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// This grant's fencing token.
    pub fn token(&self) -> FencingToken {
        self.token
    }

    /// The random id of this grant's holder (16 hex digits).
    pub fn owner(&self) -> &str {
        &self.owner
    }
}

/// A fresh owner id. The token tells grants apart already; the owner id
/// makes a forged or mistyped `Lock` useless too.
fn new_owner() -> String {
    format!("{:016x}", random())
}

/// A lease in whole microseconds, checked as every TTL is.
fn lease_micros(ttl: Duration) -> Result<i64> {
    Ok(input::ttl(ttl)?.microseconds)
}

/// The error of a lock statement: a key holding something else, or the
/// sequence missing.
fn lock_error(s: &impl Conduit, e: sqlx::Error, key: &str) -> Error {
    if is_wrong_kind(&e) {
        Error::WrongKind {
            key: key.to_owned(),
            expected: "a lock",
        }
    } else if is_missing_relation(&e) {
        Error::FenceSequenceMissing {
            sequence: s.shared().sql.coord.sequence.clone(),
        }
    } else {
        write_error(e)
    }
}

pub(crate) async fn try_lock(
    s: &mut impl Conduit,
    key: impl AsRef<str>,
    ttl: Duration,
) -> Result<Option<Lock>> {
    let key = s.shared().limits.key(key.as_ref())?;
    let lease = lease_micros(ttl)?;
    let owner = new_owner();
    let mut created = false;
    loop {
        let sql = s.shared().sql.coord.lock_acquire.query();
        let granted: std::result::Result<Option<i64>, sqlx::Error> = sqlx::query_scalar(sql)
            .bind(key)
            .bind(&owner)
            .bind(lease)
            .fetch_optional(s.connection().await?)
            .await;
        match granted {
            Ok(token) => {
                return Ok(token.map(|token| Lock {
                    key: key.to_owned(),
                    token: FencingToken(token),
                    owner,
                }));
            }
            // A table made before locks existed: create the sequence once,
            // when allowed and when the failure did not abort a transaction.
            Err(e) if is_missing_relation(&e) && !created && s.can_resend() => {
                let Some(create) = s.shared().sql.coord.create_sequence.as_ref().map(|c| c.query()) else {
                    return Err(lock_error(s, e, key));
                };
                s.resend().await?;
                sqlx::query(create)
                    .execute(s.connection().await?)
                    .await
                    .map_err(write_error)?;
                created = true;
            }
            Err(e) => return Err(lock_error(s, e, key)),
        }
    }
}

pub(crate) async fn unlock(s: &mut impl Conduit, lock: &Lock) -> Result<bool> {
    let key = s.shared().limits.key(&lock.key)?;
    let sql = s.shared().sql.coord.lock_release.query();
    let done = sqlx::query(sql)
        .bind(key)
        .bind(lock.token.0)
        .bind(&lock.owner)
        .execute(s.connection().await?)
        .await
        .map_err(|e| lock_error(s, e, key))?;
    Ok(done.rows_affected() == 1)
}

pub(crate) async fn extend_lock(s: &mut impl Conduit, lock: &Lock, ttl: Duration) -> Result<bool> {
    let key = s.shared().limits.key(&lock.key)?;
    let lease = lease_micros(ttl)?;
    let sql = s.shared().sql.coord.lock_extend.query();
    let done = sqlx::query(sql)
        .bind(key)
        .bind(lock.token.0)
        .bind(&lock.owner)
        .bind(lease)
        .execute(s.connection().await?)
        .await
        .map_err(|e| lock_error(s, e, key))?;
    Ok(done.rows_affected() == 1)
}
