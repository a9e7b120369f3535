//! `KvRecord`: a serde type that knows its key prefix and TTL, the "Postgres
//! as a KV store with SQLx" pattern as a trait.

use std::future::Future;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::base::codec::{Codec, Json};
use crate::error::Result;
use crate::handle::commands::KvCommands;

/// A record stored as JSON under `PREFIX + key`, expiring after `TTL`.
///
/// Derive it (`#[derive(KvRecord)]` with `#[kv(prefix = "game-", ttl = 3600)]`)
/// or implement the two constants by hand. Every method is one statement,
/// and every returned future is `Send` (spawnable on tokio).
///
/// - **Key format**: [`key_format`](Self::key_format) turns the caller's key
///   into the stored key; by default `PREFIX` followed by the key. Override
///   it for another layout.
/// - **TTL**: `Some(d)` makes [`set_ex`](Self::set_ex) store with that
///   expiry and [`get_ex`](Self::get_ex) slide it; `None` stores without one.
/// - **Handles**: every method takes the handle to run on by value: `&store`
///   for a pooled connection, `&mut tx` inside a [`Transaction`](crate::Transaction)
///   (anything that implements [`KvCommands`]).
/// - **JSON**: values are serde_json text by default, so they stay readable
///   and queryable from SQL (`convert_from(value, 'UTF8')::jsonb`) and
///   survive adding optional fields. Another [`Codec`] is chosen by
///   overriding [`encode_value`](Self::encode_value) and
///   [`decode_value`](Self::decode_value), which the derive does for
///   `#[kv(codec = "postcard")]` (or `codec = path::To::YourCodec`).
///
/// ```no_run
/// use std::time::Duration;
/// use pgkv::KvRecord;
///
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct Game { id: u64, name: String }
///
/// impl KvRecord for Game {
///     const PREFIX: &'static str = "game-";
///     const TTL: Option<Duration> = Some(Duration::from_secs(3600));
/// }
///
/// # async fn demo(store: pgkv::Store) -> pgkv::Result<()> {
/// Game { id: 7, name: "Go".into() }.set_ex(&store, "7").await?;
/// let game = Game::get(&store, "7").await?;
/// # let _ = game;
/// # Ok(())
/// # }
/// ```
pub trait KvRecord: Serialize + DeserializeOwned + Send + Sync + Sized {
    /// Prepended to every key.
    const PREFIX: &'static str;
    /// Expiry applied by `set_ex` and `get_ex`; `None` for none.
    const TTL: Option<Duration>;

    /// The stored key for `key` (default: `PREFIX` + `key`).
    fn key_format(key: &str) -> String {
        let mut full = String::with_capacity(Self::PREFIX.len() + key.len());
        full.push_str(Self::PREFIX);
        full.push_str(key);
        full
    }

    /// The bytes stored for this record under `key` (default: JSON).
    fn encode_value(&self, key: &str) -> Result<Vec<u8>> {
        <Json as Codec<Self>>::encode(key, self)
    }

    /// The record stored as `bytes` under `key` (default: JSON).
    fn decode_value(key: &str, bytes: &[u8]) -> Result<Self> {
        <Json as Codec<Self>>::decode(key, bytes)
    }

    /// Stores this record under `key_format(key)` with `TTL`, through any
    /// handle: `&store`, or `&mut tx` inside a transaction.
    fn set_ex(&self, mut kv: impl KvCommands, key: &str) -> impl Future<Output = Result<()>> + Send {
        // Encoded before the future is built, so the future holds no `&Self`.
        let key = Self::key_format(key);
        let encoded = self.encode_value(&key);
        async move {
            let bytes = encoded?;
            match Self::TTL {
                Some(ttl) => kv.set_ex(&key, bytes, ttl).await,
                None => kv.set(&key, bytes).await,
            }
        }
    }

    /// The record under `key_format(key)`.
    fn get(mut kv: impl KvCommands, key: &str) -> impl Future<Output = Result<Option<Self>>> + Send {
        let key = Self::key_format(key);
        async move { decode_opt::<Self>(&key, kv.get(&key).await?) }
    }

    /// The record under `key_format(key)`, with its expiry reset to now +
    /// `TTL` in the same statement (a plain read when `TTL` is `None`).
    fn get_ex(mut kv: impl KvCommands, key: &str) -> impl Future<Output = Result<Option<Self>>> + Send {
        let key = Self::key_format(key);
        async move {
            let bytes = match Self::TTL {
                Some(ttl) => kv.get_ex(&key, ttl).await?,
                None => kv.get(&key).await?,
            };
            decode_opt::<Self>(&key, bytes)
        }
    }

    /// Reads and deletes the record atomically: of concurrent callers,
    /// exactly one gets it. A stored value that does not decode as `Self`
    /// has still been deleted; the [`Error::Json`](crate::Error::Json) says
    /// which key it was.
    fn get_del(mut kv: impl KvCommands, key: &str) -> impl Future<Output = Result<Option<Self>>> + Send {
        let key = Self::key_format(key);
        async move { decode_opt::<Self>(&key, kv.get_and_delete(&key).await?) }
    }

    /// Deletes the record; true if it existed.
    fn del(mut kv: impl KvCommands, key: &str) -> impl Future<Output = Result<bool>> + Send {
        let key = Self::key_format(key);
        async move { kv.delete(&key).await }
    }
}

fn decode_opt<R: KvRecord>(key: &str, bytes: Option<Vec<u8>>) -> Result<Option<R>> {
    bytes.map(|b| R::decode_value(key, &b)).transpose()
}

/// Support for the code `#[derive(KvRecord)]` generates, re-exported from
/// `pgkv::__private`. Not public API.
pub(crate) mod derive_support {
    pub use serde::Serialize;
    pub use serde::de::DeserializeOwned;

    pub use crate::base::codec::Codec;

    use std::future::Future;

    use crate::{KvCommands, KvRecord, Result};

    /// `record.save(kv)`: `set_ex` under the key field's `Display` text.
    pub fn save<'a, R: KvRecord>(
        record: &'a R,
        kv: impl KvCommands + 'a,
        key: &dyn std::fmt::Display,
    ) -> impl Future<Output = Result<()>> + Send + 'a {
        let key = key.to_string();
        async move { record.set_ex(kv, &key).await }
    }
}
