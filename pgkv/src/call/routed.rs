//! The routes a command may take instead of its own statement, entered
//! here so that `ops` never names them: the near-cache (a `get` of a key
//! under its prefixes, outside a transaction) and batching (a call that
//! finds every connection busy joins the next batch of its kind). Each
//! answers `None` (or `false`) when the command should send its statement.

use sqlx::postgres::types::PgInterval;

use crate::call::{Conduit, near};
use crate::error::Result;

/// `get`: from the near-cache, or in a batch.
pub(crate) async fn get(s: &mut impl Conduit, key: &str) -> Result<Option<Option<Vec<u8>>>> {
    if let Some(cache) = s.shared().near.clone()
        && cache.covers(key)
        && !s.in_transaction()
    {
        return near::get(s, &cache, key).await.map(Some);
    }
    match s.batch_route().await? {
        Some(batch) => batch.get(key).await.map(Some),
        None => Ok(None),
    }
}

/// `exists`, in a batch.
pub(crate) async fn exists(s: &mut impl Conduit, key: &str) -> Result<Option<bool>> {
    match s.batch_route().await? {
        Some(batch) => batch.exists(key).await.map(Some),
        None => Ok(None),
    }
}

/// `delete`, in a batch.
pub(crate) async fn delete(s: &mut impl Conduit, key: &str) -> Result<Option<bool>> {
    match s.batch_route().await? {
        Some(batch) => batch.delete(key).await.map(Some),
        None => Ok(None),
    }
}

/// `set`/`set_ex` (checked key, value and TTL), in a batch: true if the
/// batch carried it.
pub(crate) async fn write(
    s: &mut impl Conduit,
    key: &str,
    value: &[u8],
    ttl: Option<PgInterval>,
) -> Result<bool> {
    match s.batch_route().await? {
        Some(batch) => batch.write(key, value, ttl).await.map(|()| true),
        None => Ok(false),
    }
}
