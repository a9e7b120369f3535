//! JSON encoding shared by `TypedStore` and `KvRecord`: values stay readable
//! from SQL (`convert_from(value, 'UTF8')::jsonb`).
//!
//! serde_json writes a NaN or infinite float as `null`, which then reads back
//! as an error (or, inside an `Option`, as `None`): a value that does not
//! read back as it was written. Such values are refused at encoding instead.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

mod finite;

pub(crate) fn encode<T: Serialize>(key: &str, value: &T) -> Result<Vec<u8>> {
    let json_error = |source| Error::Json {
        key: key.to_owned(),
        type_name: std::any::type_name::<T>(),
        source,
    };
    finite::check(value).map_err(json_error)?;
    serde_json::to_vec(value).map_err(json_error)
}

pub(crate) fn decode<T: DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|source| Error::Json {
        key: key.to_owned(),
        type_name: std::any::type_name::<T>(),
        source,
    })
}
