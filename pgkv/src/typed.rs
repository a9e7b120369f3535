//! `TypedStore<T>`: the raw store with JSON-encoded values of one type.

use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::Result;
use crate::json::{decode, decode_opt, encode};
use crate::store::Store;

/// A view of a [`Store`] whose values are `T`, stored as JSON.
///
/// Each method is the raw method of the same name plus serde_json, so each is
/// one statement. A stored value that does not decode as `T` is an
/// [`Error::Json`](crate::Error::Json) naming the key, never a panic.
///
/// ```no_run
/// # async fn demo(store: pgkv::Store) -> pgkv::Result<()> {
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct Profile { name: String, visits: u32 }
///
/// let profiles = store.typed::<Profile>();
/// profiles.set("user:1", &Profile { name: "Ada".into(), visits: 1 }).await?;
/// let ada: Option<Profile> = profiles.get("user:1").await?;
/// # let _ = ada;
/// # Ok(())
/// # }
/// ```
pub struct TypedStore<T> {
    store: Store,
    // `fn() -> T`: the view neither owns a `T` nor restricts Send/Sync.
    _values: PhantomData<fn() -> T>,
}

impl Store {
    /// A view of this store whose values are `T`, as JSON.
    pub fn typed<T: Serialize + DeserializeOwned>(&self) -> TypedStore<T> {
        TypedStore::new(self)
    }
}

impl<T: Serialize + DeserializeOwned> TypedStore<T> {
    /// A view of `store` (cloned: it shares the pool).
    pub fn new(store: &Store) -> Self {
        TypedStore {
            store: store.clone(),
            _values: PhantomData,
        }
    }

    /// Stores `value` under `key`; clears any TTL.
    pub async fn set(&self, key: impl AsRef<str>, value: &T) -> Result<()> {
        let key = key.as_ref();
        self.store.set(key, encode(key, value)?).await
    }

    /// The value under `key`, decoded.
    pub async fn get(&self, key: impl AsRef<str>) -> Result<Option<T>> {
        let key = key.as_ref();
        decode_opt(key, self.store.get(key).await?)
    }

    /// Stores `value` under `key`, expiring after `ttl`.
    pub async fn set_ex(&self, key: impl AsRef<str>, value: &T, ttl: Duration) -> Result<()> {
        let key = key.as_ref();
        self.store.set_ex(key, encode(key, value)?, ttl).await
    }

    /// Reads `key` and moves its expiry to now + `ttl` (one statement).
    pub async fn get_ex(&self, key: impl AsRef<str>, ttl: Duration) -> Result<Option<T>> {
        let key = key.as_ref();
        decode_opt(key, self.store.get_ex(key, ttl).await?)
    }

    /// Deletes `key`; true if a live key was removed.
    pub async fn delete(&self, key: impl AsRef<str>) -> Result<bool> {
        self.store.delete(key).await
    }

    /// The values of `keys`, aligned with `keys`.
    pub async fn get_many<K: AsRef<str>>(&self, keys: &[K]) -> Result<Vec<Option<T>>> {
        let values = self.store.get_many(keys).await?;
        keys.iter()
            .zip(values)
            .map(|(key, bytes)| decode_opt(key.as_ref(), bytes))
            .collect()
    }

    /// Stores every pair in one statement, all or nothing.
    pub async fn set_many<K: AsRef<str>>(&self, items: &[(K, T)]) -> Result<()> {
        let encoded = items
            .iter()
            .map(|(key, value)| Ok((key.as_ref(), encode(key.as_ref(), value)?)))
            .collect::<Result<Vec<_>>>()?;
        self.store.set_many(&encoded).await
    }

    /// Deletes `key` and returns its decoded value. If the stored value does
    /// not decode, it has still been deleted and the error says so.
    pub async fn get_and_delete(&self, key: impl AsRef<str>) -> Result<Option<T>> {
        let key = key.as_ref();
        match self.store.get_and_delete(key).await? {
            None => Ok(None),
            Some(bytes) => decode(key, &bytes).map(Some),
        }
    }
}

impl<T> Clone for TypedStore<T> {
    fn clone(&self) -> Self {
        TypedStore {
            store: self.store.clone(),
            _values: PhantomData,
        }
    }
}

impl<T> fmt::Debug for TypedStore<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TypedStore")
            .field("type", &std::any::type_name::<T>())
            .field("store", &self.store)
            .finish()
    }
}
