#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod call;
mod cleanup;
mod commands;
mod config;
mod conn;
mod error;
mod input;
#[cfg(feature = "json")]
mod json;
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
pub use crate::commands::KvCommands;
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

/// Support for `KvCommands` and the code `#[derive(KvRecord)]` generates.
/// Not public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::call::Call;
    #[cfg(feature = "json")]
    pub use crate::record::derive_support::*;
}

/// The sqlx crate pgkv is built on, so `PgPool` and friends match its version.
pub use sqlx;
