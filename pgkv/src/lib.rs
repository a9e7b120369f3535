//! A key-value store and cache on the PostgreSQL you already run, for async
//! Rust (sqlx 0.9 + tokio): caches, sessions, rate limiters, locks and job
//! state without adding Redis.
//!
//! ```no_run
//! use std::time::Duration;
//! use pgkv::Store;
//!
//! # async fn demo() -> pgkv::Result<()> {
//! // Creates the UNLOGGED table `kv_store` in the current schema if missing.
//! let store = Store::connect("postgres://app@localhost/app").await?;
//! store.set("greeting", "hello").await?;
//! store.set_ex("session:42", b"{}", Duration::from_secs(1800)).await?;
//! let visits = store.increment("visits", 1).await?;
//! let got_lock = store.set_nx_ex("lock:job", "worker-7", Duration::from_secs(30)).await?;
//! # let _ = (visits, got_lock);
//! # Ok(())
//! # }
//! ```
//!
//! # Handles
//! - [`Store`]: cheap to clone; each command checks out one pooled
//!   connection and sends one statement.
//! - [`Transaction`] (from [`Store::begin`] or [`Store::transaction`]): the
//!   same commands on one connection inside `BEGIN` ... `COMMIT`; dropped
//!   unfinished, it rolls back.
//! - [`KvCommands`]: the commands as one trait implemented by every handle,
//!   for code that should not care where it runs (`&store`, `&mut tx`).
//! - Namespaces ([`Store::create_namespace`], [`Store::namespace`]): a
//!   `Store` on a key space of its own, with its own table type and
//!   [`LimitPolicy`] (reject writes past a quota, or evict the oldest keys).
//!
//! # Under load
//! When every connection is busy, concurrent `get`, `exists`, `set`,
//! `set_ex` and `delete` calls queue and go as one statement per kind, each
//! caller with its own result ([`Config::batch_concurrent_calls`],
//! [`Store::batching_stats`]). Hot, read-mostly keys can be served from
//! memory by a near-cache the server keeps coherent ([`Config::near_cache`]).
//!
//! # Values
//! Values are bytes (`impl AsRef<[u8]>`); with the `json` feature (default),
//! [`TypedStore<T>`](TypedStore) stores serde values as JSON, and
//! [`KvRecord`] (derivable with the `derive` feature) gives a type a key
//! prefix and a TTL: `#[derive(KvRecord)] #[kv(prefix = "game-", ttl = 3600)]`.
//!
//! # Coordination
//! Locks with fencing tokens ([`KvCommands::try_lock`], [`Store::lock`]),
//! rate limiters in one statement per check ([`KvCommands::rate_limit`],
//! [`KvCommands::rate_limit_gcra`]) and get-or-compute without stampedes
//! ([`Store::get_or_compute`]).
//!
//! # Expiry
//! TTLs run on the server's clock. An expired key is absent for every
//! command at once; [`TtlCleanupStrategy`] decides who deletes the row, and
//! [`Store::spawn_cleanup`] runs a background sweep.
//!
//! # Snapshots
//! [`Store::save_snapshot`] and [`Store::load_snapshot`] keep an UNLOGGED
//! table's contents in a file; [`Store::warm_restart`] refills an empty table
//! at start-up and [`Store::spawn_autosave`] writes snapshots periodically.
//!
//! # Errors
//! One [`Error`] enum. Ask [`Error::is_recoverable`] and
//! [`Error::is_not_found`] rather than matching; [`Error::OutcomeUnknown`]
//! marks a write whose connection died in flight, which pgkv never retries.
//! Bad input is refused before any SQL is sent.
//!
//! # Features
//! | feature | default | adds |
//! |---|---|---|
//! | `json` | yes | [`TypedStore`] and the [`KvRecord`] trait (serde, serde_json) |
//! | `derive` | yes | `#[derive(KvRecord)]` (implies `json`) |
//! | `tls-rustls` | no | TLS to the server with rustls |
//! | `tls-native-tls` | no | TLS to the server with the platform's library |
//! | `postcard` | no | the `Postcard` [`Codec`]: compact binary values |
//! | `prost` | no | the `Protobuf` [`Codec`] for prost messages |
//!
//! The [`guide`] has a page per topic: [`guide::semantics`],
//! [`guide::trade_offs`] (UNLOGGED or Regular, cleanup strategies),
//! [`guide::coming_from_redis`], [`guide::poolers`], [`guide::scaling_out`]
//! and more.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod guide;

mod base;
mod call;
mod config;
mod conn;
mod error;
mod features;
mod handle;
mod ops;
mod sql;

#[cfg(feature = "postcard")]
pub use crate::base::codec::Postcard;
#[cfg(feature = "prost")]
pub use crate::base::codec::Protobuf;
#[cfg(feature = "json")]
#[cfg_attr(docsrs, doc(cfg(feature = "json")))]
pub use crate::base::codec::{Codec, Json};
pub use crate::base::expiry::{ExpireWhen, Expiry};
pub use crate::base::input::{MAX_BATCH_BYTES, MAX_KEY_LENGTH, MAX_TTL};
pub use crate::base::set_options::{SetOptions, SetOutcome};
pub use crate::call::batching::BatchingStats;
pub use crate::call::near::{NearCache, NearCacheStats};
pub use crate::config::namespace::{LimitPolicy, NamespaceConfig};
pub use crate::config::{
    Config, MAX_CONNECTIONS, MAX_PARTITIONS, MAX_VALUE_SIZE, TableType, TtlCleanupStrategy,
};
pub use crate::error::{Error, Result};
pub use crate::features::cleanup::{CLEANUP_LEASE_KEY, CleanupHandle, CleanupStats, PassSummary};
pub use crate::features::compute::ComputeOptions;
pub use crate::features::namespace::NamespaceInfo;
pub use crate::features::snapshot::{
    AutosaveHandle, AutosaveOptions, AutosaveStats, LoadMode, LoadSummary, SnapshotDefect, SnapshotInfo,
    WarmRestart,
};
pub use crate::handle::commands::KvCommands;
#[cfg(feature = "json")]
#[cfg_attr(docsrs, doc(cfg(feature = "json")))]
pub use crate::handle::record::KvRecord;
pub use crate::handle::store::{PoolStatus, Store};
pub use crate::handle::transaction::Transaction;
#[cfg(feature = "json")]
#[cfg_attr(docsrs, doc(cfg(feature = "json")))]
pub use crate::handle::typed::TypedStore;
pub use crate::ops::kv::CasResult;
pub use crate::ops::limiter::{Quota, RateDecision};
pub use crate::ops::lock::{FencingToken, Lock};
pub use crate::ops::modes::{BatchGet, BatchMode, BatchReport, Refused};
pub use crate::ops::scan::{KeyValue, ScanOptions};
pub use crate::sql::schema::{MIGRATOR, schema_sql};
/// `#[derive(KvRecord)]`: see the [`KvRecord`](trait@KvRecord) trait.
#[cfg(feature = "derive")]
#[cfg_attr(docsrs, doc(cfg(feature = "derive")))]
pub use pgkv_derive::KvRecord;

/// The README's examples, compiled as doctests (not shown in the docs).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// Support for `KvCommands` and the code `#[derive(KvRecord)]` generates.
/// Not public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::base::xorshift::XorShift;
    #[cfg(feature = "json")]
    pub use crate::handle::record::derive_support::*;
    pub use crate::handle::route::Call;
    /// The commands that may write (every command but the read-only ones):
    /// the store suite checks that each applies the after-write effects.
    pub fn write_commands() -> Vec<&'static str> {
        crate::handle::commands::COMMANDS
            .iter()
            .copied()
            .filter(|name| !crate::base::observe::is_read_only(name))
            .collect()
    }
    /// Every statement a store sends, named (tests/citus checks their routing).
    pub fn statements(store: &crate::Store) -> Vec<(String, String)> {
        crate::sql::every_statement(&store.shared.sql)
            .into_iter()
            .map(|(name, sql)| (name, sql.query().as_str().to_owned()))
            .collect()
    }
}

/// The sqlx crate pgkv is built on, so `PgPool` and friends match its version.
pub use sqlx;
