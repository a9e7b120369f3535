//! The key/value operations, each written once against [`Conduit`] so that
//! `Store` (a pool checkout per call) and `Transaction` (its own connection)
//! share them. Every operation checks its input, then sends one statement.

use std::time::{Duration, SystemTime};

use sqlx::SqlStr;
use sqlx::postgres::types::PgInterval;

use crate::base::expiry::{self, ExpireWhen, Expiry};
use crate::base::input;
use crate::base::set_options::{SetExpiry, SetOptions, SetOutcome};
use crate::call::{Conduit, in_call_order, purging_read, routed};
use crate::error::{Error, Result, classify_counter, is_wrong_kind, read_error, write_error};
use crate::sql::{Sql, Statements};

/// Attempts at a read-modify-write that lost a race with a concurrent insert
/// of the same absent key. Each retry means another writer made progress.
const RACE_RETRIES: usize = 64;

/// The outcome of [`Store::compare_and_swap`](crate::Store::compare_and_swap).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CasResult {
    /// The value matched and was replaced (or, with `expected == None`, the key was created).
    Success,
    /// The key's live value differs from `expected` (or the key exists while
    /// `expected` was `None`); `current` is what it holds now.
    Mismatch {
        /// The value found, `None` only if the key was absent.
        current: Option<Vec<u8>>,
    },
    /// `expected` was `Some` and the key is absent (or expired).
    NotFound,
}

/// Picks one statement out of a table's set.
type Pick = fn(&Statements) -> &Sql;

/// Runs a `(key, value[, ttl])` write and returns how many rows it touched.
/// Input is checked first: nothing is sent for a bad key, value or TTL.
/// With `may_batch` (a plain SET or SET_EX), a call that finds every
/// connection busy is batched with others (see `call::routed`).
async fn write_entry(
    s: &mut impl Conduit,
    pick: Pick,
    may_batch: bool,
    key: &str,
    value: &[u8],
    ttl: Option<Duration>,
) -> Result<u64> {
    let (key, value) = s.shared().limits.entry(key, value)?;
    let ttl = ttl.map(input::ttl).transpose()?;
    if may_batch && routed::write(s, key, value, ttl).await? {
        return Ok(1);
    }
    let mut query = sqlx::query(pick(&s.shared().sql).query()).bind(key).bind(value);
    if let Some(ttl) = ttl {
        query = query.bind(ttl);
    }
    let done = query.execute(s.connection().await?).await.map_err(write_error)?;
    Ok(done.rows_affected())
}

/// Runs a `(key[, ttl])` write and returns how many rows it touched.
async fn write_key(s: &mut impl Conduit, pick: Pick, key: &str, ttl: Option<Duration>) -> Result<u64> {
    let key = s.shared().limits.key(key)?;
    let ttl = ttl.map(input::ttl).transpose()?;
    let mut query = sqlx::query(pick(&s.shared().sql).query()).bind(key);
    if let Some(ttl) = ttl {
        query = query.bind(ttl);
    }
    let done = query.execute(s.connection().await?).await.map_err(write_error)?;
    Ok(done.rows_affected())
}

pub(crate) async fn set(s: &mut impl Conduit, key: impl AsRef<str>, value: impl AsRef<[u8]>) -> Result<()> {
    write_entry(s, |q| &q.set, true, key.as_ref(), value.as_ref(), None)
        .await
        .map(drop)
}

pub(crate) async fn set_ex(
    s: &mut impl Conduit,
    key: impl AsRef<str>,
    value: impl AsRef<[u8]>,
    ttl: Duration,
) -> Result<()> {
    write_entry(s, |q| &q.set_ex, true, key.as_ref(), value.as_ref(), Some(ttl))
        .await
        .map(drop)
}

pub(crate) async fn set_nx(
    s: &mut impl Conduit,
    key: impl AsRef<str>,
    value: impl AsRef<[u8]>,
) -> Result<bool> {
    Ok(write_entry(s, |q| &q.set_nx, false, key.as_ref(), value.as_ref(), None).await? == 1)
}

pub(crate) async fn set_nx_ex(
    s: &mut impl Conduit,
    key: impl AsRef<str>,
    value: impl AsRef<[u8]>,
    ttl: Duration,
) -> Result<bool> {
    Ok(write_entry(
        s,
        |q| &q.set_nx_ex,
        false,
        key.as_ref(),
        value.as_ref(),
        Some(ttl),
    )
    .await?
        == 1)
}

pub(crate) async fn replace(
    s: &mut impl Conduit,
    key: impl AsRef<str>,
    value: impl AsRef<[u8]>,
) -> Result<bool> {
    Ok(write_entry(s, |q| &q.replace, false, key.as_ref(), value.as_ref(), None).await? == 1)
}

pub(crate) async fn get(s: &mut impl Conduit, key: impl AsRef<str>) -> Result<Option<Vec<u8>>> {
    let key = s.shared().limits.key(key.as_ref())?;
    if let Some(value) = routed::get(s, key).await? {
        return Ok(value);
    }
    purging_read!(s, get, sqlx::query_scalar, fetch_optional, key)
}

pub(crate) async fn get_string(s: &mut impl Conduit, key: impl AsRef<str>) -> Result<Option<String>> {
    let key = key.as_ref();
    match get(s, key).await? {
        None => Ok(None),
        Some(bytes) => String::from_utf8(bytes)
            .map(Some)
            .map_err(|source| Error::InvalidUtf8 {
                key: key.to_owned(),
                source,
            }),
    }
}

pub(crate) async fn get_or_err(s: &mut impl Conduit, key: impl AsRef<str>) -> Result<Vec<u8>> {
    let key = key.as_ref();
    get(s, key)
        .await?
        .ok_or_else(|| Error::NotFound { key: key.to_owned() })
}

pub(crate) async fn exists(s: &mut impl Conduit, key: impl AsRef<str>) -> Result<bool> {
    let key = s.shared().limits.key(key.as_ref())?;
    if let Some(live) = routed::exists(s, key).await? {
        return Ok(live);
    }
    purging_read!(s, exists, sqlx::query_scalar, fetch_one, key)
}

pub(crate) async fn delete(s: &mut impl Conduit, key: impl AsRef<str>) -> Result<bool> {
    let key = s.shared().limits.key(key.as_ref())?;
    if let Some(removed) = routed::delete(s, key).await? {
        return Ok(removed);
    }
    let sql = s.shared().sql.delete.query();
    let live: Option<bool> = sqlx::query_scalar(sql)
        .bind(key)
        .fetch_optional(s.connection().await?)
        .await
        .map_err(write_error)?;
    Ok(live == Some(true))
}

pub(crate) async fn get_ex(
    s: &mut impl Conduit,
    key: impl AsRef<str>,
    ttl: Duration,
) -> Result<Option<Vec<u8>>> {
    let key = s.shared().limits.key(key.as_ref())?;
    let ttl = input::ttl(ttl)?;
    let sql = s.shared().sql.get_ex.query();
    sqlx::query_scalar(sql)
        .bind(key)
        .bind(ttl)
        .fetch_optional(s.connection().await?)
        .await
        .map_err(write_error)
}

pub(crate) async fn expire(s: &mut impl Conduit, key: impl AsRef<str>, ttl: Duration) -> Result<bool> {
    expire_if(s, key, ttl, ExpireWhen::Always).await
}

pub(crate) async fn expire_if(
    s: &mut impl Conduit,
    key: impl AsRef<str>,
    ttl: Duration,
    when: ExpireWhen,
) -> Result<bool> {
    let key = s.shared().limits.key(key.as_ref())?;
    let ttl = input::ttl(ttl)?;
    let sql = s.shared().sql.expire_in[when.index()].query();
    set_expiry(s, sql, key, ttl).await
}

pub(crate) async fn expire_at(
    s: &mut impl Conduit,
    key: impl AsRef<str>,
    at: SystemTime,
    when: ExpireWhen,
) -> Result<bool> {
    let key = s.shared().limits.key(key.as_ref())?;
    let micros = expiry::unix_micros(at)?;
    let sql = s.shared().sql.expire_at[when.index()].query();
    set_expiry(s, sql, key, micros).await
}

/// Runs one of the EXPIRE family's statements: `$1` the key, `$2` the new
/// expiry (an interval or an instant); true if the key's expiry was set.
async fn set_expiry<T>(s: &mut impl Conduit, sql: SqlStr, key: &str, new: T) -> Result<bool>
where
    T: for<'q> sqlx::Encode<'q, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send,
{
    let done = sqlx::query(sql)
        .bind(key)
        .bind(new)
        .execute(s.connection().await?)
        .await
        .map_err(write_error)?;
    Ok(done.rows_affected() == 1)
}

pub(crate) async fn ttl_status(s: &mut impl Conduit, key: impl AsRef<str>) -> Result<Expiry<Duration>> {
    let key = s.shared().limits.key(key.as_ref())?;
    let row: Option<(bool, Option<PgInterval>)> =
        purging_read!(s, ttl_status, sqlx::query_as, fetch_optional, key)?;
    Ok(match row {
        None => Expiry::Missing,
        Some((true, _)) | Some((false, None)) => Expiry::Persistent,
        Some((false, Some(left))) => Expiry::At(input::remaining(left)),
    })
}

pub(crate) async fn expire_time(s: &mut impl Conduit, key: impl AsRef<str>) -> Result<Expiry<SystemTime>> {
    let key = s.shared().limits.key(key.as_ref())?;
    let row: Option<Option<i64>> = purging_read!(s, expire_time, sqlx::query_scalar, fetch_optional, key)?;
    Ok(match row {
        None => Expiry::Missing,
        Some(None) => Expiry::Persistent,
        Some(Some(micros)) => Expiry::At(expiry::from_unix_micros(micros)),
    })
}

pub(crate) async fn get_persist(s: &mut impl Conduit, key: impl AsRef<str>) -> Result<Option<Vec<u8>>> {
    let key = s.shared().limits.key(key.as_ref())?;
    let sql = s.shared().sql.get_persist.query();
    sqlx::query_scalar(sql)
        .bind(key)
        .fetch_optional(s.connection().await?)
        .await
        .map_err(write_error)
}

pub(crate) async fn strlen(s: &mut impl Conduit, key: impl AsRef<str>) -> Result<u64> {
    let key = s.shared().limits.key(key.as_ref())?;
    let len: Option<i64> = purging_read!(s, strlen, sqlx::query_scalar, fetch_optional, key)?;
    Ok(len.map_or(0, i64::unsigned_abs))
}

pub(crate) async fn ttl(s: &mut impl Conduit, key: impl AsRef<str>) -> Result<Option<Duration>> {
    let key = s.shared().limits.key(key.as_ref())?;
    let left: Option<Option<PgInterval>> = purging_read!(s, ttl, sqlx::query_scalar, fetch_optional, key)?;
    Ok(left.flatten().map(input::remaining))
}

pub(crate) async fn persist(s: &mut impl Conduit, key: impl AsRef<str>) -> Result<bool> {
    Ok(write_key(s, |q| &q.persist, key.as_ref(), None).await? == 1)
}

/// Validates a whole batch, keeps the last value of a repeated key, and sorts
/// by key: every batch then locks rows in the same order, so two concurrent
/// batches cannot deadlock.
fn batch_columns<'a, K: AsRef<str>, V: AsRef<[u8]>>(
    s: &impl Conduit,
    items: &'a [(K, V)],
) -> Result<(Vec<&'a str>, Vec<&'a [u8]>)> {
    let limits = s.shared().limits;
    let mut entries = items
        .iter()
        .map(|(key, value)| limits.entry(key.as_ref(), value.as_ref()))
        .collect::<Result<Vec<_>>>()?;
    input::check_batch_size(entries.iter().map(|(k, v)| k.len() + v.len()))?;
    // A stable sort keeps repeated keys in call order; the last one wins.
    entries.sort_by(|a, b| a.0.cmp(b.0));
    let mut keys = Vec::with_capacity(entries.len());
    let mut values = Vec::with_capacity(entries.len());
    for (i, (key, value)) in entries.iter().enumerate() {
        if entries.get(i + 1).is_none_or(|next| next.0 != *key) {
            keys.push(*key);
            values.push(*value);
        }
    }
    Ok((keys, values))
}

pub(crate) async fn set_many<K: AsRef<str>, V: AsRef<[u8]>>(
    s: &mut impl Conduit,
    items: &[(K, V)],
) -> Result<()> {
    let (keys, values) = batch_columns(s, items)?;
    if keys.is_empty() {
        return Ok(());
    }
    let sql = s.shared().sql.set_many.query();
    sqlx::query(sql)
        .bind(keys)
        .bind(values)
        .execute(s.connection().await?)
        .await
        .map_err(write_error)?;
    Ok(())
}

pub(crate) async fn set_many_ex<K: AsRef<str>, V: AsRef<[u8]>>(
    s: &mut impl Conduit,
    items: &[(K, V)],
    ttl: Duration,
) -> Result<()> {
    let (keys, values) = batch_columns(s, items)?;
    let ttl = input::ttl(ttl)?;
    if keys.is_empty() {
        return Ok(());
    }
    let sql = s.shared().sql.set_many_ex.query();
    sqlx::query(sql)
        .bind(keys)
        .bind(values)
        .bind(ttl)
        .execute(s.connection().await?)
        .await
        .map_err(write_error)?;
    Ok(())
}

/// Validates keys and returns them deduplicated and sorted.
fn batch_keys<'a, K: AsRef<str>>(s: &impl Conduit, keys: &'a [K]) -> Result<Vec<&'a str>> {
    let limits = s.shared().limits;
    let mut unique = keys
        .iter()
        .map(|k| limits.key(k.as_ref()))
        .collect::<Result<Vec<&str>>>()?;
    input::check_batch_size(unique.iter().map(|k| k.len()))?;
    unique.sort_unstable();
    unique.dedup();
    Ok(unique)
}

pub(crate) async fn get_many<K: AsRef<str>>(
    s: &mut impl Conduit,
    keys: &[K],
) -> Result<Vec<Option<Vec<u8>>>> {
    let unique = batch_keys(s, keys)?;
    if unique.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<(String, Vec<u8>)> = purging_read!(s, get_many, sqlx::query_as, fetch_all, &unique)?;
    Ok(in_call_order(keys, rows))
}

pub(crate) async fn delete_many<K: AsRef<str>>(s: &mut impl Conduit, keys: &[K]) -> Result<u64> {
    let unique = batch_keys(s, keys)?;
    if unique.is_empty() {
        return Ok(0);
    }
    let sql = s.shared().sql.delete_many.query();
    let live: i64 = sqlx::query_scalar(sql)
        .bind(unique)
        .fetch_one(s.connection().await?)
        .await
        .map_err(write_error)?;
    Ok(live.unsigned_abs())
}

pub(crate) async fn increment(s: &mut impl Conduit, key: impl AsRef<str>, by: i64) -> Result<i64> {
    count(s, key.as_ref(), by, None).await
}

pub(crate) async fn increment_ex(
    s: &mut impl Conduit,
    key: impl AsRef<str>,
    by: i64,
    ttl: Duration,
) -> Result<i64> {
    count(s, key.as_ref(), by, Some(ttl)).await
}

/// `increment`, and with `ttl` the variant that gives a counter starting
/// afresh that expiry (and leaves an existing one's alone).
async fn count(s: &mut impl Conduit, key: &str, by: i64, ttl: Option<Duration>) -> Result<i64> {
    let key = s.shared().limits.key(key)?;
    let ttl = ttl.map(input::ttl).transpose()?;
    let sql = match ttl {
        Some(_) => s.shared().sql.increment_ex.query(),
        None => s.shared().sql.increment.query(),
    };
    let mut query = sqlx::query_scalar(sql).bind(key).bind(by);
    if let Some(ttl) = ttl {
        query = query.bind(ttl);
    }
    let stored: Vec<u8> = query
        .fetch_one(s.connection().await?)
        .await
        .map_err(|e| classify_counter(e, key))?;
    // The statement wrote the decimal text of an i64, so this parses.
    std::str::from_utf8(&stored)
        .ok()
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| Error::NotAnInteger { key: key.to_owned() })
}

pub(crate) async fn increment_float(s: &mut impl Conduit, key: impl AsRef<str>, by: f64) -> Result<f64> {
    let key = s.shared().limits.key(key.as_ref())?;
    if !by.is_finite() {
        return Err(Error::Overflow { key: key.to_owned() });
    }
    // Rust's shortest round-tripping decimal: 0.1 is sent as "0.1".
    let by = by.to_string();
    let sql = s.shared().sql.increment_float.query();
    let stored: Vec<u8> = sqlx::query_scalar(sql)
        .bind(key)
        .bind(&by)
        .fetch_one(s.connection().await?)
        .await
        .map_err(|e| {
            if is_wrong_kind(&e) {
                Error::NotAFloat { key: key.to_owned() }
            } else {
                write_error(e)
            }
        })?;
    // The stored text is the exact decimal; its f64 is the nearest double
    // (a value beyond f64's range reads as infinite).
    std::str::from_utf8(&stored)
        .ok()
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| Error::NotAFloat { key: key.to_owned() })
}

/// Like Redis `DECRBY`, subtracting `i64::MIN` is refused outright: its
/// negation does not exist.
pub(crate) async fn decrement(s: &mut impl Conduit, key: impl AsRef<str>, by: i64) -> Result<i64> {
    let key = key.as_ref();
    s.shared().limits.key(key)?;
    match by.checked_neg() {
        Some(negated) => increment(s, key, negated).await,
        None => Err(Error::Overflow { key: key.to_owned() }),
    }
}

pub(crate) async fn compare_and_swap(
    s: &mut impl Conduit,
    key: impl AsRef<str>,
    expected: Option<&[u8]>,
    new: impl AsRef<[u8]>,
) -> Result<CasResult> {
    let (key, new) = s.shared().limits.entry(key.as_ref(), new.as_ref())?;
    if let Some(expected) = expected {
        let sql = s.shared().sql.cas_present.query();
        let (swapped, current): (bool, Option<Vec<u8>>) = sqlx::query_as(sql)
            .bind(key)
            .bind(expected)
            .bind(new)
            .fetch_one(s.connection().await?)
            .await
            .map_err(write_error)?;
        return Ok(match (swapped, current) {
            (true, _) => CasResult::Success,
            (false, None) => CasResult::NotFound,
            (false, current) => CasResult::Mismatch { current },
        });
    }
    for _ in 0..RACE_RETRIES {
        let sql = s.shared().sql.cas_absent.query();
        let (created, current): (bool, Option<Vec<u8>>) = sqlx::query_as(sql)
            .bind(key)
            .bind(new)
            .fetch_one(s.connection().await?)
            .await
            .map_err(write_error)?;
        match (created, current) {
            (true, _) => return Ok(CasResult::Success),
            (false, Some(current)) => {
                return Ok(CasResult::Mismatch {
                    current: Some(current),
                });
            }
            // Absent on Citus (see `insert_absent`), or inserted
            // concurrently after this statement's snapshot: look again.
            (false, None) => {
                if insert_absent(s, key, new, SetExpiry::Clear).await? {
                    return Ok(CasResult::Success);
                }
                continue;
            }
        }
    }
    Err(Error::Contended { key: key.to_owned() })
}

pub(crate) async fn get_and_set(
    s: &mut impl Conduit,
    key: impl AsRef<str>,
    value: impl AsRef<[u8]>,
) -> Result<Option<Vec<u8>>> {
    let (key, value) = s.shared().limits.entry(key.as_ref(), value.as_ref())?;
    for _ in 0..RACE_RETRIES {
        let sql = s.shared().sql.get_and_set.query();
        let (written, old): (bool, Option<Vec<u8>>) = sqlx::query_as(sql)
            .bind(key)
            .bind(value)
            .fetch_one(s.connection().await?)
            .await
            .map_err(write_error)?;
        if written {
            return Ok(old);
        }
        if insert_absent(s, key, value, SetExpiry::Clear).await? {
            return Ok(None);
        }
    }
    Err(Error::Contended { key: key.to_owned() })
}

/// Citus mode: the read-modify-write statements leave a key with no row at
/// all to this one (see `Statements::insert_absent`): inserts `key` with
/// `expiry`, and says whether it did (false: a row appeared meanwhile, so
/// the caller starts over). Elsewhere it does nothing and says false.
async fn insert_absent(s: &mut impl Conduit, key: &str, value: &[u8], expiry: SetExpiry) -> Result<bool> {
    if !s.shared().sql.citus {
        return Ok(false);
    }
    let sql = s.shared().sql.insert_absent[expiry.kind()].query();
    let mut query = sqlx::query(sql).bind(key).bind(value);
    match expiry {
        SetExpiry::In(ttl) => query = query.bind(input::ttl(ttl)?),
        SetExpiry::At(at) => query = query.bind(expiry::unix_micros(at)?),
        SetExpiry::Clear | SetExpiry::Keep => {}
    }
    let inserted = query
        .fetch_optional(s.connection().await?)
        .await
        .map_err(write_error)?;
    Ok(inserted.is_some())
}

pub(crate) async fn set_with(
    s: &mut impl Conduit,
    key: impl AsRef<str>,
    value: impl AsRef<[u8]>,
    opts: SetOptions,
) -> Result<SetOutcome> {
    let (key, value) = s.shared().limits.entry(key.as_ref(), value.as_ref())?;
    // Checked before any SQL, like every other TTL.
    let ttl = match opts.expiry {
        SetExpiry::In(ttl) => Some(input::ttl(ttl)?),
        _ => None,
    };
    let at = match opts.expiry {
        SetExpiry::At(at) => Some(expiry::unix_micros(at)?),
        _ => None,
    };
    let index = Statements::set_with_index(&opts);
    for _ in 0..RACE_RETRIES {
        let sql = s.shared().sql.set_with[index].query();
        let mut query = sqlx::query_as(sql).bind(key).bind(value);
        if let Some(ttl) = ttl {
            query = query.bind(ttl);
        }
        if let Some(at) = at {
            query = query.bind(at);
        }
        let (written, raced, previous): (bool, bool, Option<Vec<u8>>) = query
            .fetch_one(s.connection().await?)
            .await
            .map_err(write_error)?;
        if !raced {
            return Ok(SetOutcome { written, previous });
        }
        if insert_absent(s, key, value, opts.expiry).await? {
            return Ok(SetOutcome {
                written: true,
                previous: None,
            });
        }
    }
    Err(Error::Contended { key: key.to_owned() })
}

pub(crate) async fn append(
    s: &mut impl Conduit,
    key: impl AsRef<str>,
    value: impl AsRef<[u8]>,
) -> Result<u64> {
    let (key, value) = s.shared().limits.entry(key.as_ref(), value.as_ref())?;
    let max = s.shared().limits.max_value_size;
    let sql = s.shared().sql.append.query();
    // (The Citus form returns no row when it refuses.)
    let (len, before): (Option<i64>, Option<i64>) = sqlx::query_as(sql)
        .bind(key)
        .bind(value)
        .bind(i64::try_from(max).unwrap_or(i64::MAX))
        .fetch_optional(s.connection().await?)
        .await
        .map_err(write_error)?
        .unwrap_or((None, None));
    // Citus: the refusing statement does not read the length before (see
    // `sql.rs`); read it now, for the error message only.
    let before = match (len, before) {
        (None, None) => {
            let sql = s.shared().sql.strlen.pick(false).query();
            sqlx::query_scalar(sql)
                .bind(key)
                .fetch_optional(s.connection().await?)
                .await
                .map_err(read_error)?
        }
        _ => before,
    };
    match len {
        Some(len) => Ok(len.unsigned_abs()),
        None => Err(Error::ValueTooLarge {
            key: key.to_owned(),
            size: usize::try_from(before.unwrap_or(0).unsigned_abs())
                .unwrap_or(usize::MAX)
                .saturating_add(value.len()),
            max,
        }),
    }
}

pub(crate) async fn rename(s: &mut impl Conduit, from: impl AsRef<str>, to: impl AsRef<str>) -> Result<bool> {
    let limits = s.shared().limits;
    let (from, to) = (limits.key(from.as_ref())?, limits.key(to.as_ref())?);
    if from == to {
        // Redis: renaming a key to itself succeeds if it exists.
        return exists(s, from).await;
    }
    let sql = s.shared().sql.rename.query();
    sqlx::query_scalar(sql)
        .bind(from)
        .bind(to)
        .fetch_one(s.connection().await?)
        .await
        .map_err(write_error)
}

/// Runs an all-or-nothing statement (`rename_nx`, `set_many_nx`) whose
/// guard column fails with 22P02 when a concurrent writer took a target key:
/// the statement rolled back, and the answer is "not done". Inside a
/// transaction the failure has aborted it, so it is returned as the error.
async fn guarded(
    s: &mut impl Conduit,
    query: sqlx::query::QueryAs<'_, sqlx::Postgres, (bool, Option<i32>), sqlx::postgres::PgArguments>,
) -> Result<bool> {
    match query.fetch_one(s.connection().await?).await {
        Ok((done, _)) => Ok(done),
        Err(e) if is_wrong_kind(&e) && !s.in_transaction() => Ok(false),
        Err(e) => Err(write_error(e)),
    }
}

pub(crate) async fn rename_nx(
    s: &mut impl Conduit,
    from: impl AsRef<str>,
    to: impl AsRef<str>,
) -> Result<bool> {
    let limits = s.shared().limits;
    let (from, to) = (limits.key(from.as_ref())?, limits.key(to.as_ref())?);
    if from == to {
        // Redis: RENAMENX onto itself does nothing and answers 0.
        return Ok(false);
    }
    let sql = s.shared().sql.rename_nx.query();
    guarded(s, sqlx::query_as(sql).bind(from).bind(to)).await
}

pub(crate) async fn set_many_nx<K: AsRef<str>, V: AsRef<[u8]>>(
    s: &mut impl Conduit,
    items: &[(K, V)],
) -> Result<bool> {
    let (keys, values) = batch_columns(s, items)?;
    if keys.is_empty() {
        return Ok(true);
    }
    let sql = s.shared().sql.set_many_nx.query();
    guarded(s, sqlx::query_as(sql).bind(keys).bind(values)).await
}

pub(crate) async fn copy(
    s: &mut impl Conduit,
    from: impl AsRef<str>,
    to: impl AsRef<str>,
    replace: bool,
) -> Result<bool> {
    let limits = s.shared().limits;
    let (from, to) = (limits.key(from.as_ref())?, limits.key(to.as_ref())?);
    if from == to {
        // Redis refuses COPY onto the same key.
        return Ok(false);
    }
    let sql = s.shared().sql.copy[usize::from(replace)].query();
    sqlx::query_scalar(sql)
        .bind(from)
        .bind(to)
        .fetch_one(s.connection().await?)
        .await
        .map_err(write_error)
}

pub(crate) async fn get_and_delete(s: &mut impl Conduit, key: impl AsRef<str>) -> Result<Option<Vec<u8>>> {
    let key = s.shared().limits.key(key.as_ref())?;
    let sql = s.shared().sql.get_and_delete.query();
    let removed: Option<Option<Vec<u8>>> = sqlx::query_scalar(sql)
        .bind(key)
        .fetch_optional(s.connection().await?)
        .await
        .map_err(write_error)?;
    Ok(removed.flatten())
}
