//! The interface every async system implements, and one call made through
//! it.

use crate::support::settings::Res;
use crate::work::Call;
use crate::{GT_LONGER_SECS, GT_SHORTER_SECS};

/// The async systems, behind one interface so that every timing loop and
/// every throughput client is written once.
pub(crate) trait Kv: Send {
    fn set(&mut self, key: &str, value: &[u8]) -> impl Future<Output = Res<()>> + Send;
    /// Whether the key was found.
    fn get(&mut self, key: &str) -> impl Future<Output = Res<bool>> + Send;
    /// Whether a key was removed.
    fn delete(&mut self, key: &str) -> impl Future<Output = Res<bool>> + Send;
    fn increment(&mut self, key: &str) -> impl Future<Output = Res<i64>> + Send;
    fn set_many(&mut self, keys: &[String], value: &[u8]) -> impl Future<Output = Res<()>> + Send;
    /// How many of the keys were found.
    fn get_many(&mut self, keys: &[String]) -> impl Future<Output = Res<usize>> + Send;
    /// Rows on the page after `after`.
    fn scan(&mut self, after: &str) -> impl Future<Output = Res<usize>> + Send;
    /// EXPIRE GT: whether the TTL was set.
    fn expire_gt(&mut self, key: &str, secs: u64) -> impl Future<Output = Res<bool>> + Send;
    /// The keys of the MATCH page after `after`.
    fn match_page(&mut self, after: &str) -> impl Future<Output = Res<Vec<String>>> + Send;
    /// INCREMENT_EX by 1 with a TTL of `INCREMENT_TTL_SECS`.
    fn increment_ex(&mut self, key: &str) -> impl Future<Output = Res<i64>> + Send;
    /// Writes `keys` with a TTL (loading only, untimed).
    fn set_many_ex(
        &mut self,
        keys: &[String],
        value: &[u8],
        secs: u64,
    ) -> impl Future<Output = Res<()>> + Send;
    /// SET NX GET EX `NX_TTL_SECS`: whether it wrote, and the live value
    /// the key held before.
    fn set_nx_get_ex(
        &mut self,
        key: &str,
        value: &[u8],
    ) -> impl Future<Output = Res<(bool, Option<Vec<u8>>)>> + Send;
    /// RENAME: whether `from` held a value (now at `to`).
    fn rename(&mut self, from: &str, to: &str) -> impl Future<Output = Res<bool>> + Send;
    /// Deletes `keys` (preparing chunks only, untimed).
    fn delete_many(&mut self, keys: &[String]) -> impl Future<Output = Res<()>> + Send;
}

/// Makes one call; returns the items it found, for [`Call::check`].
pub(crate) async fn perform<C: Kv>(c: &mut C, call: &Call<'_>, value: &[u8]) -> Res<usize> {
    Ok(match *call {
        Call::Set(k) => c.set(k, value).await.map(|()| 0)?,
        Call::Get(k) => usize::from(c.get(k).await?),
        Call::Delete(k) => usize::from(c.delete(k).await?),
        Call::Increment(k) => c.increment(k).await.map(|_| 0)?,
        Call::SetMany(keys) => c.set_many(keys, value).await.map(|()| 0)?,
        Call::GetMany(keys) => c.get_many(keys).await?,
        Call::Scan(after) => c.scan(after).await?,
        Call::ExpireGt(k, longer) => {
            let secs = if longer { GT_LONGER_SECS } else { GT_SHORTER_SECS };
            usize::from(c.expire_gt(k, secs).await?)
        }
        Call::MatchScan(after) => c.match_page(after).await?.len(),
        Call::IncrementEx(k) => c.increment_ex(k).await.map(|_| 0)?,
        Call::SetNxGetEx(k, _) => {
            let (written, previous) = c.set_nx_get_ex(k, value).await?;
            // NX: written exactly when there was no live value; the value
            // returned is the one prepared.
            if written == previous.is_some() || previous.as_deref().is_some_and(|p| p != value) {
                return Err(format!(
                    "SET NX GET EX on {k}: written {written}, previous value of {:?} bytes",
                    previous.map(|p| p.len())
                )
                .into());
            }
            usize::from(previous.is_some())
        }
        Call::Rename(from, to) => usize::from(c.rename(from, to).await?),
    })
}

/// `keys`, each with `value`, as the `(key, value)` pairs pgkv takes.
pub(crate) fn items<'a>(keys: &'a [String], value: &'a [u8]) -> Vec<(&'a str, &'a [u8])> {
    keys.iter().map(|k| (k.as_str(), value)).collect()
}

/// The smallest string above every key with `prefix` (ASCII prefixes here).
pub(crate) fn upper_bound(prefix: &str) -> String {
    let mut bytes = prefix.as_bytes().to_vec();
    let last = bytes.pop().expect("non-empty prefix");
    bytes.push(last + 1);
    String::from_utf8(bytes).expect("ascii")
}
