#![doc = include_str!("../../README.md")]
#![forbid(unsafe_code)]

mod config;
mod conn;
mod error;
mod input;
mod methods;
mod ops;
mod scan;
mod schema;
mod sql;
mod store;
mod transaction;

pub use crate::config::{Config, TableType, TtlCleanupStrategy};
pub use crate::error::{Error, Result};
pub use crate::input::MAX_TTL;
pub use crate::ops::CasResult;
pub use crate::scan::{KeyValue, ScanOptions};
pub use crate::schema::{MIGRATOR, schema_sql};
pub use crate::store::Store;
pub use crate::transaction::Transaction;

/// The sqlx crate pgkv is built on, so `PgPool` and friends match its version.
pub use sqlx;
