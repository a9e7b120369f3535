#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod call;
mod cleanup;
mod config;
mod conn;
mod error;
mod input;
#[cfg(feature = "json")]
mod json;
mod methods;
mod ops;
#[cfg(feature = "json")]
mod record;
mod scan;
mod schema;
mod sql;
mod store;
mod transaction;
#[cfg(feature = "json")]
mod typed;

pub use crate::cleanup::{CleanupHandle, CleanupStats, PassSummary};
pub use crate::config::{Config, MAX_CONNECTIONS, MAX_VALUE_SIZE, TableType, TtlCleanupStrategy};
pub use crate::error::{Error, Result};
pub use crate::input::{MAX_BATCH_BYTES, MAX_KEY_LENGTH, MAX_TTL};
pub use crate::ops::CasResult;
#[cfg(feature = "json")]
pub use crate::record::KvRecord;
pub use crate::scan::{KeyValue, ScanOptions};
pub use crate::schema::{MIGRATOR, schema_sql};
pub use crate::store::{PoolStatus, Store};
pub use crate::transaction::Transaction;
#[cfg(feature = "json")]
pub use crate::typed::TypedStore;
/// `#[derive(KvRecord)]`: see the [`KvRecord`](trait@KvRecord) trait.
#[cfg(feature = "derive")]
pub use pgkv_derive::KvRecord;

#[cfg(feature = "json")]
#[doc(hidden)]
pub use crate::record::__private;

/// The sqlx crate pgkv is built on, so `PgPool` and friends match its version.
pub use sqlx;
