//! Batches with a mode: all or nothing (the plain batch methods), or best
//! effort, which checks each item, sends every valid one in one statement
//! and reports the ones it refused, and why.

use crate::base::input::{BATCH_ITEM_OVERHEAD, MAX_BATCH_BYTES};
use crate::call::Conduit;
use crate::error::{Error, Result};
use crate::ops::kv;

/// How a batch treats items it cannot apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum BatchMode {
    /// Any invalid item fails the whole call before anything is sent, as the
    /// plain batch methods do; for `get_many_with`, a missing key fails it too
    /// ([`Error::NotFound`]).
    #[default]
    AllOrNothing,
    /// Invalid items (a bad key, a value too large, past the batch's byte
    /// cap) are refused one by one and the rest is sent, still in one
    /// statement. A namespace limit ([`Error::LimitExceeded`]) is checked per
    /// statement: a best-effort write that would pass it writes none of its
    /// items and reports each of them as refused with that error.
    BestEffort,
}

/// An item a best-effort batch did not apply.
#[derive(Debug)]
#[non_exhaustive]
pub struct Refused {
    /// Its position in the batch.
    pub index: usize,
    /// Its key.
    pub key: String,
    /// Why (the error the item alone would have got).
    pub error: Error,
}

/// What a batch write did.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct BatchReport {
    /// Items sent to the server (valid ones, a repeated key counted each time).
    pub processed: usize,
    /// Rows the statement changed: keys written (a repeated key once) or
    /// live keys deleted.
    pub applied: u64,
    /// Items refused, in batch order.
    pub refused: Vec<Refused>,
}

/// What a batch read found.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct BatchGet {
    /// Values aligned with the keys asked for (`None`: absent or refused).
    pub values: Vec<Option<Vec<u8>>>,
    /// Keys refused, in batch order.
    pub refused: Vec<Refused>,
}

/// Splits `items` into the valid ones (with their positions) and the
/// refused. `size` is an item's bytes towards the batch cap.
fn sift<'a, T: ?Sized>(
    items: impl Iterator<Item = (&'a str, &'a T)>,
    check: impl Fn(&str, &T) -> Result<usize>,
) -> (Vec<(&'a str, &'a T)>, Vec<Refused>) {
    let mut valid = Vec::new();
    let mut refused = Vec::new();
    let mut bytes = 0usize;
    for (index, (key, item)) in items.enumerate() {
        // Counted as the plain batch methods count it.
        let size_of = |size: usize| size.saturating_add(BATCH_ITEM_OVERHEAD);
        let fits = check(key, item).and_then(|size| match bytes.checked_add(size_of(size)) {
            Some(total) if total <= MAX_BATCH_BYTES => Ok(total),
            _ => Err(Error::BatchTooLarge {
                size: bytes.saturating_add(size_of(size)),
                max: MAX_BATCH_BYTES,
            }),
        });
        match fits {
            Ok(total) => {
                bytes = total;
                valid.push((key, item));
            }
            Err(error) => refused.push(Refused {
                index,
                key: key.to_owned(),
                error,
            }),
        }
    }
    (valid, refused)
}

/// A best-effort write that a namespace limit refused as a whole: each of
/// its items is reported with that error (outside a transaction, where the
/// failure aborted nothing the caller holds).
fn refused_by_limit<K: AsRef<str>>(
    s: &impl Conduit,
    error: Error,
    sent: &[K],
    positions: &[usize],
    report: &mut BatchReport,
) -> Result<()> {
    let error = s.shared().name_error(error);
    let Error::LimitExceeded {
        namespace,
        limit,
        max,
    } = &error
    else {
        return Err(error);
    };
    if s.in_transaction() {
        return Err(error);
    }
    for (key, &index) in sent.iter().zip(positions) {
        report.refused.push(Refused {
            index,
            key: key.as_ref().to_owned(),
            error: Error::LimitExceeded {
                namespace: namespace.clone(),
                limit,
                max: *max,
            },
        });
    }
    report.refused.sort_by_key(|r| r.index);
    report.processed = 0;
    Ok(())
}

pub(crate) async fn set_many_with<K: AsRef<str>, V: AsRef<[u8]>>(
    s: &mut impl Conduit,
    items: &[(K, V)],
    mode: BatchMode,
) -> Result<BatchReport> {
    let unique = |keys: &mut Vec<&str>| {
        keys.sort_unstable();
        keys.dedup();
        keys.len() as u64
    };
    if mode == BatchMode::AllOrNothing {
        kv::set_many(s, items).await?;
        let mut keys: Vec<&str> = items.iter().map(|(k, _)| k.as_ref()).collect();
        return Ok(BatchReport {
            processed: items.len(),
            applied: unique(&mut keys),
            refused: Vec::new(),
        });
    }
    let limits = s.shared().limits;
    let (valid, refused) = sift(
        items.iter().map(|(k, v)| (k.as_ref(), v.as_ref())),
        |key, value| limits.entry(key, value).map(|_| key.len() + value.len()),
    );
    let positions: Vec<usize> = positions_of(items.len(), &refused);
    let mut report = BatchReport {
        processed: valid.len(),
        applied: 0,
        refused,
    };
    match kv::set_many(s, &valid).await {
        Ok(()) => {
            let mut keys: Vec<&str> = valid.iter().map(|(k, _)| *k).collect();
            report.applied = unique(&mut keys);
        }
        Err(e) => {
            let keys: Vec<&str> = valid.iter().map(|(k, _)| *k).collect();
            refused_by_limit(s, e, &keys, &positions, &mut report)?;
        }
    }
    Ok(report)
}

pub(crate) async fn get_many_with<K: AsRef<str>>(
    s: &mut impl Conduit,
    keys: &[K],
    mode: BatchMode,
) -> Result<BatchGet> {
    if mode == BatchMode::AllOrNothing {
        let values = kv::get_many(s, keys).await?;
        if let Some(missing) = values.iter().position(Option::is_none) {
            return Err(Error::NotFound {
                key: keys[missing].as_ref().to_owned(),
            });
        }
        return Ok(BatchGet {
            values,
            refused: Vec::new(),
        });
    }
    let limits = s.shared().limits;
    let (valid, refused) = sift(keys.iter().map(|k| (k.as_ref(), k.as_ref())), |key, _| {
        limits.key(key).map(str::len)
    });
    let positions = positions_of(keys.len(), &refused);
    let asked: Vec<&str> = valid.iter().map(|(k, _)| *k).collect();
    let found = kv::get_many(s, &asked).await?;
    let mut values = vec![None; keys.len()];
    for (value, index) in found.into_iter().zip(positions) {
        values[index] = value;
    }
    Ok(BatchGet { values, refused })
}

pub(crate) async fn delete_many_with<K: AsRef<str>>(
    s: &mut impl Conduit,
    keys: &[K],
    mode: BatchMode,
) -> Result<BatchReport> {
    if mode == BatchMode::AllOrNothing {
        let deleted = kv::delete_many(s, keys).await?;
        return Ok(BatchReport {
            processed: keys.len(),
            applied: deleted,
            refused: Vec::new(),
        });
    }
    let limits = s.shared().limits;
    let (valid, refused) = sift(keys.iter().map(|k| (k.as_ref(), k.as_ref())), |key, _| {
        limits.key(key).map(str::len)
    });
    let asked: Vec<&str> = valid.iter().map(|(k, _)| *k).collect();
    let deleted = kv::delete_many(s, &asked).await?;
    Ok(BatchReport {
        processed: asked.len(),
        applied: deleted,
        refused,
    })
}

/// The positions of the items not refused, in order.
fn positions_of(len: usize, refused: &[Refused]) -> Vec<usize> {
    let mut skip = refused.iter().map(|r| r.index).peekable();
    (0..len)
        .filter(|i| {
            if skip.peek() == Some(i) {
                skip.next();
                false
            } else {
                true
            }
        })
        .collect()
}
