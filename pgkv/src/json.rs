//! JSON encoding shared by `TypedStore` and `KvRecord`: values stay readable
//! from SQL (`convert_from(value, 'UTF8')::jsonb`).

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

pub(crate) fn encode<T: Serialize>(key: &str, value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|source| Error::Json {
        key: key.to_owned(),
        type_name: std::any::type_name::<T>(),
        source,
    })
}

pub(crate) fn decode<T: DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|source| Error::Json {
        key: key.to_owned(),
        type_name: std::any::type_name::<T>(),
        source,
    })
}

pub(crate) fn decode_opt<T: DeserializeOwned>(key: &str, bytes: Option<Vec<u8>>) -> Result<Option<T>> {
    bytes.map(|b| decode(key, &b)).transpose()
}
