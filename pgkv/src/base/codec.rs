//! How typed values become bytes: [`Codec`], and the codecs pgkv ships.
//!
//! JSON is the default everywhere (readable and queryable from SQL,
//! tolerant of added optional fields). [`Postcard`] is the compact binary
//! choice for serde types; [`Protobuf`] stores prost messages.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// Turns values of `T` into the bytes stored under a key, and back.
///
/// Used by [`TypedStore`](crate::TypedStore) (its third type parameter) and
/// by [`KvRecord`](crate::KvRecord) (`#[kv(codec = "postcard")]`). `key` is
/// passed so errors can name it; a value that does not decode is an
/// [`Error`], never a panic.
///
/// ```
/// use pgkv::{Codec, Error};
///
/// /// Values stored as UTF-8 text.
/// struct Utf8;
///
/// impl Codec<String> for Utf8 {
///     const NAME: &'static str = "utf8";
///     fn encode(_key: &str, value: &String) -> pgkv::Result<Vec<u8>> {
///         Ok(value.as_bytes().to_vec())
///     }
///     fn decode(key: &str, bytes: &[u8]) -> pgkv::Result<String> {
///         String::from_utf8(bytes.to_vec()).map_err(|e| Error::codec::<Self, String>(key, e))
///     }
/// }
/// ```
pub trait Codec<T>: Send + Sync + 'static {
    /// A short name for errors (`"json"`, `"postcard"`, `"protobuf"`).
    const NAME: &'static str;

    /// The bytes to store for `value` under `key`.
    fn encode(key: &str, value: &T) -> Result<Vec<u8>>;

    /// The value stored under `key`.
    fn decode(key: &str, bytes: &[u8]) -> Result<T>;
}

impl Error {
    /// A [`Error::Codec`] for a value of `T` under `key` that codec `C` could
    /// not encode or decode.
    pub fn codec<C: Codec<T>, T>(key: &str, source: impl std::error::Error + Send + Sync + 'static) -> Error {
        Error::Codec {
            key: key.to_owned(),
            type_name: std::any::type_name::<T>(),
            codec: C::NAME,
            source: Box::new(source),
        }
    }
}

/// JSON through serde_json: the default codec. Errors are
/// [`Error::Json`]; a NaN or infinite float is refused at encoding (JSON
/// cannot hold it and it would not read back).
#[derive(Debug, Clone, Copy, Default)]
pub struct Json;

impl<T: Serialize + DeserializeOwned> Codec<T> for Json {
    const NAME: &'static str = "json";

    fn encode(key: &str, value: &T) -> Result<Vec<u8>> {
        crate::base::json::encode(key, value)
    }

    fn decode(key: &str, bytes: &[u8]) -> Result<T> {
        crate::base::json::decode(key, bytes)
    }
}

/// [postcard](https://docs.rs/postcard): a compact binary encoding of serde
/// types (variable-length integers, no field names), with a documented,
/// stable wire format. Smaller and faster than JSON, but not readable from
/// SQL, and a struct's fields must keep their order and types: adding a
/// field makes older values fail to decode (an [`Error::Codec`]).
#[cfg(feature = "postcard")]
#[cfg_attr(docsrs, doc(cfg(feature = "postcard")))]
#[derive(Debug, Clone, Copy, Default)]
pub struct Postcard;

#[cfg(feature = "postcard")]
impl<T: Serialize + DeserializeOwned> Codec<T> for Postcard {
    const NAME: &'static str = "postcard";

    fn encode(key: &str, value: &T) -> Result<Vec<u8>> {
        postcard::to_allocvec(value).map_err(|e| Error::codec::<Self, T>(key, e))
    }

    fn decode(key: &str, bytes: &[u8]) -> Result<T> {
        // Trailing bytes mean the value was not written as `T`.
        match postcard::take_from_bytes(bytes) {
            Ok((value, [])) => Ok(value),
            Ok(_) => Err(Error::codec::<Self, T>(
                key,
                postcard::Error::DeserializeBadEncoding,
            )),
            Err(e) => Err(Error::codec::<Self, T>(key, e)),
        }
    }
}

/// Protocol Buffers through [prost](https://docs.rs/prost): any
/// `prost::Message`, for values shared with services in other languages.
///
/// ```no_run
/// # async fn demo(store: pgkv::Store) -> pgkv::Result<()> {
/// #[derive(Clone, PartialEq, prost::Message)]
/// struct User {
///     #[prost(string, tag = "1")]
///     name: String,
///     #[prost(uint32, tag = "2")]
///     visits: u32,
/// }
///
/// let users = store.typed_with::<User, pgkv::Protobuf>();
/// users.set("user:1", &User { name: "Ada".into(), visits: 1 }).await?;
/// let ada: Option<User> = users.get("user:1").await?;
/// # let _ = ada;
/// # Ok(())
/// # }
/// ```
#[cfg(feature = "prost")]
#[cfg_attr(docsrs, doc(cfg(feature = "prost")))]
#[derive(Debug, Clone, Copy, Default)]
pub struct Protobuf;

#[cfg(feature = "prost")]
impl<T: prost::Message + Default> Codec<T> for Protobuf {
    const NAME: &'static str = "protobuf";

    fn encode(_key: &str, value: &T) -> Result<Vec<u8>> {
        Ok(value.encode_to_vec())
    }

    fn decode(key: &str, bytes: &[u8]) -> Result<T> {
        T::decode(bytes).map_err(|e| Error::codec::<Self, T>(key, e))
    }
}
