//! `TypedStore<T>`: the raw commands with values of one type, encoded by a
//! [`Codec`] (JSON by default), over a store or inside a transaction.

use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::base::codec::{Codec, Json};
use crate::error::Result;
use crate::handle::commands::KvCommands;
use crate::handle::store::Store;
use crate::handle::transaction::Transaction;

/// A view of a [`Store`] (or of a [`Transaction`]) whose values are `T`,
/// stored as JSON, or with another [`Codec`] `C` (from
/// [`Store::typed_with`]).
///
/// Each method is the raw command of the same name plus serde_json, so each
/// is one statement. A stored value that does not decode as `T` is an
/// [`Error::Json`](crate::Error::Json) naming the key, never a panic; a value
/// JSON cannot represent exactly (a NaN or infinite float) is refused at
/// `set` with the same error.
///
/// ```no_run
/// # async fn demo(store: pgkv::Store) -> pgkv::Result<()> {
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct Profile { name: String, visits: u32 }
///
/// let profiles = store.typed::<Profile>();
/// profiles.set("user:1", &Profile { name: "Ada".into(), visits: 1 }).await?;
/// let ada: Option<Profile> = profiles.get("user:1").await?;
///
/// // The same view inside a transaction (its methods take `&mut self`).
/// let mut tx = store.begin().await?;
/// let mut in_tx = tx.typed::<Profile>();
/// in_tx.set("user:2", &Profile { name: "Grace".into(), visits: 1 }).await?;
/// tx.commit().await?;
/// # let _ = ada;
/// # Ok(())
/// # }
/// ```
pub struct TypedStore<T, H = Store, C = Json> {
    kv: H,
    // `fn() -> (T, C)`: the view neither owns a `T` nor restricts Send/Sync.
    _values: PhantomData<fn() -> (T, C)>,
}

impl Store {
    /// A view of this store whose values are `T`, as JSON.
    pub fn typed<T: Serialize + DeserializeOwned>(&self) -> TypedStore<T> {
        TypedStore::new(self)
    }

    /// A view of this store whose values are `T`, encoded with `C`:
    /// `store.typed_with::<Profile, pgkv::Postcard>()`.
    pub fn typed_with<T, C: Codec<T>>(&self) -> TypedStore<T, Store, C> {
        TypedStore {
            kv: self.clone(),
            _values: PhantomData,
        }
    }
}

impl Transaction {
    /// A view of this transaction whose values are `T`, as JSON.
    pub fn typed<T: Serialize + DeserializeOwned>(&mut self) -> TypedStore<T, &mut Transaction> {
        TypedStore {
            kv: self,
            _values: PhantomData,
        }
    }

    /// A view of this transaction whose values are `T`, encoded with `C`.
    pub fn typed_with<T, C: Codec<T>>(&mut self) -> TypedStore<T, &mut Transaction, C> {
        TypedStore {
            kv: self,
            _values: PhantomData,
        }
    }
}

impl<T: Serialize + DeserializeOwned> TypedStore<T> {
    /// A view of `store` (cloned: it shares the pool), as JSON.
    pub fn new(store: &Store) -> Self {
        TypedStore {
            kv: store.clone(),
            _values: PhantomData,
        }
    }
}

impl<T, C: Codec<T>> TypedStore<T, Store, C> {
    /// A view of `store` (cloned: it shares the pool) with codec `C`.
    pub fn with_codec(store: &Store) -> Self {
        TypedStore {
            kv: store.clone(),
            _values: PhantomData,
        }
    }

    /// Stores `value` under `key`; clears any TTL.
    pub async fn set(&self, key: impl AsRef<str>, value: &T) -> Result<()> {
        set::<T, C>(&self.kv, key.as_ref(), value).await
    }

    /// The value under `key`, decoded.
    pub async fn get(&self, key: impl AsRef<str>) -> Result<Option<T>> {
        get::<T, C>(&self.kv, key.as_ref()).await
    }

    /// Stores `value` under `key`, expiring after `ttl`.
    pub async fn set_ex(&self, key: impl AsRef<str>, value: &T, ttl: Duration) -> Result<()> {
        set_ex::<T, C>(&self.kv, key.as_ref(), value, ttl).await
    }

    /// Reads `key` and moves its expiry to now + `ttl` (one statement).
    pub async fn get_ex(&self, key: impl AsRef<str>, ttl: Duration) -> Result<Option<T>> {
        get_ex::<T, C>(&self.kv, key.as_ref(), ttl).await
    }

    /// Deletes `key`; true if a live key was removed.
    pub async fn delete(&self, key: impl AsRef<str>) -> Result<bool> {
        self.kv.delete(key.as_ref()).await
    }

    /// The values of `keys`, aligned with `keys`.
    pub async fn get_many<K: AsRef<str> + Sync>(&self, keys: &[K]) -> Result<Vec<Option<T>>> {
        get_many::<T, C>(&self.kv, keys).await
    }

    /// Stores every pair in one statement, all or nothing.
    pub async fn set_many<K: AsRef<str>>(&self, items: &[(K, T)]) -> Result<()> {
        set_many::<T, C>(&self.kv, items).await
    }

    /// Deletes `key` and returns its decoded value. If the stored value does
    /// not decode, it has still been deleted and the error says so.
    pub async fn get_and_delete(&self, key: impl AsRef<str>) -> Result<Option<T>> {
        get_and_delete::<T, C>(&self.kv, key.as_ref()).await
    }
}

/// The same commands inside a transaction; see the methods of
/// `TypedStore<T, Store>` for what each does.
impl<T, C: Codec<T>> TypedStore<T, &mut Transaction, C> {
    /// Stores `value` under `key`; clears any TTL.
    pub async fn set(&mut self, key: impl AsRef<str>, value: &T) -> Result<()> {
        set::<T, C>(&mut *self.kv, key.as_ref(), value).await
    }

    /// The value under `key`, decoded.
    pub async fn get(&mut self, key: impl AsRef<str>) -> Result<Option<T>> {
        get::<T, C>(&mut *self.kv, key.as_ref()).await
    }

    /// Stores `value` under `key`, expiring after `ttl`.
    pub async fn set_ex(&mut self, key: impl AsRef<str>, value: &T, ttl: Duration) -> Result<()> {
        set_ex::<T, C>(&mut *self.kv, key.as_ref(), value, ttl).await
    }

    /// Reads `key` and moves its expiry to now + `ttl` (one statement).
    pub async fn get_ex(&mut self, key: impl AsRef<str>, ttl: Duration) -> Result<Option<T>> {
        get_ex::<T, C>(&mut *self.kv, key.as_ref(), ttl).await
    }

    /// Deletes `key`; true if a live key was removed.
    pub async fn delete(&mut self, key: impl AsRef<str>) -> Result<bool> {
        self.kv.delete(key.as_ref()).await
    }

    /// The values of `keys`, aligned with `keys`.
    pub async fn get_many<K: AsRef<str> + Sync>(&mut self, keys: &[K]) -> Result<Vec<Option<T>>> {
        get_many::<T, C>(&mut *self.kv, keys).await
    }

    /// Stores every pair in one statement, all or nothing.
    pub async fn set_many<K: AsRef<str>>(&mut self, items: &[(K, T)]) -> Result<()> {
        set_many::<T, C>(&mut *self.kv, items).await
    }

    /// Deletes `key` and returns its decoded value (deleted even if it does
    /// not decode).
    pub async fn get_and_delete(&mut self, key: impl AsRef<str>) -> Result<Option<T>> {
        get_and_delete::<T, C>(&mut *self.kv, key.as_ref()).await
    }
}

// Each typed command once, over any handle and codec.

async fn set<T, C: Codec<T>>(mut kv: impl KvCommands, key: &str, value: &T) -> Result<()> {
    let bytes = C::encode(key, value)?;
    kv.set(key, bytes).await
}

async fn set_ex<T, C: Codec<T>>(mut kv: impl KvCommands, key: &str, value: &T, ttl: Duration) -> Result<()> {
    let bytes = C::encode(key, value)?;
    kv.set_ex(key, bytes, ttl).await
}

fn decode_opt<T, C: Codec<T>>(key: &str, bytes: Option<Vec<u8>>) -> Result<Option<T>> {
    bytes.map(|b| C::decode(key, &b)).transpose()
}

async fn get<T, C: Codec<T>>(mut kv: impl KvCommands, key: &str) -> Result<Option<T>> {
    decode_opt::<T, C>(key, kv.get(key).await?)
}

async fn get_ex<T, C: Codec<T>>(mut kv: impl KvCommands, key: &str, ttl: Duration) -> Result<Option<T>> {
    decode_opt::<T, C>(key, kv.get_ex(key, ttl).await?)
}

async fn get_many<T, C: Codec<T>>(
    mut kv: impl KvCommands,
    keys: &[impl AsRef<str> + Sync],
) -> Result<Vec<Option<T>>> {
    let values = kv.get_many(keys).await?;
    keys.iter()
        .zip(values)
        .map(|(key, bytes)| decode_opt::<T, C>(key.as_ref(), bytes))
        .collect()
}

async fn set_many<T, C: Codec<T>>(mut kv: impl KvCommands, items: &[(impl AsRef<str>, T)]) -> Result<()> {
    let encoded = items
        .iter()
        .map(|(key, value)| Ok((key.as_ref(), C::encode(key.as_ref(), value)?)))
        .collect::<Result<Vec<_>>>()?;
    kv.set_many(&encoded).await
}

async fn get_and_delete<T, C: Codec<T>>(mut kv: impl KvCommands, key: &str) -> Result<Option<T>> {
    decode_opt::<T, C>(key, kv.get_and_delete(key).await?)
}

impl<T, H: Clone, C> Clone for TypedStore<T, H, C> {
    fn clone(&self) -> Self {
        TypedStore {
            kv: self.kv.clone(),
            _values: PhantomData,
        }
    }
}

impl<T, H: fmt::Debug, C> fmt::Debug for TypedStore<T, H, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TypedStore")
            .field("type", &std::any::type_name::<T>())
            .field("codec", &std::any::type_name::<C>())
            .field("handle", &self.kv)
            .finish()
    }
}
