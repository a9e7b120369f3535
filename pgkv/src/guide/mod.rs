//! The user guide: how pgkv behaves and how to use each part of it, one page
//! per topic. These modules hold documentation only.
//!
//! - [`api_tour`]: the command set in one example, and the
//!   [`KvCommands`](crate::KvCommands) trait.
//! - [`semantics`]: the server's clock, expired keys, input limits, locking,
//!   scans, counters and errors.
//! - [`trade_offs`]: UNLOGGED or Regular, the cleanup strategies, PostgreSQL
//!   instead of Redis.
//! - [`coming_from_redis`]: every Redis command and its counterpart.
//! - [`locks_limits_compute`]: fenced locks, rate limiters, get-or-compute.
//! - [`namespaces`]: key spaces with their own table and limits.
//! - [`near_cache`]: hot keys served from memory, kept coherent.
//! - [`expiry_cleanup`]: who deletes expired rows; the cleanup task.
//! - [`snapshots`]: save, load, warm restart, autosave.
//! - [`codecs_and_records`]: codecs, [`KvRecord`](crate::KvRecord) and
//!   [`TypedStore`](crate::TypedStore).
//! - [`migrations`]: sqlx migrations, your own migration history, the schema.
//! - [`connections_and_batching`]: the pool, cancelled calls, batching under
//!   load, transactions.
//! - [`poolers`]: behind PgBouncer and other transaction-mode poolers.
//! - [`scaling_out`]: hash partitions and Citus.
//! - [`observability`]: tracing spans and metrics.
//! - [`security`]: names, privileges, TLS.
//!
//! Benchmark figures are in the repository's
//! [`docs/performance.md`](https://github.com/pgkv-rs/pgkv/blob/main/docs/performance.md),
//! and what the test suite covers in
//! [`docs/reliability.md`](https://github.com/pgkv-rs/pgkv/blob/main/docs/reliability.md).

#[doc = include_str!("../../docs/guide/api_tour.md")]
pub mod api_tour {}

#[doc = include_str!("../../docs/guide/semantics.md")]
pub mod semantics {}

#[doc = include_str!("../../docs/guide/trade_offs.md")]
pub mod trade_offs {}

#[doc = include_str!("../../docs/guide/coming_from_redis.md")]
pub mod coming_from_redis {}

#[doc = include_str!("../../docs/guide/locks_limits_compute.md")]
pub mod locks_limits_compute {}

#[doc = include_str!("../../docs/guide/namespaces.md")]
pub mod namespaces {}

#[doc = include_str!("../../docs/guide/near_cache.md")]
pub mod near_cache {}

#[doc = include_str!("../../docs/guide/expiry_cleanup.md")]
pub mod expiry_cleanup {}

#[doc = include_str!("../../docs/guide/snapshots.md")]
pub mod snapshots {}

#[doc = include_str!("../../docs/guide/codecs_and_records.md")]
pub mod codecs_and_records {}

#[doc = include_str!("../../docs/guide/migrations.md")]
pub mod migrations {}

#[doc = include_str!("../../docs/guide/connections_and_batching.md")]
pub mod connections_and_batching {}

#[doc = include_str!("../../docs/guide/poolers.md")]
pub mod poolers {}

#[doc = include_str!("../../docs/guide/scaling_out.md")]
pub mod scaling_out {}

#[doc = include_str!("../../docs/guide/observability.md")]
pub mod observability {}

#[doc = include_str!("../../docs/guide/security.md")]
pub mod security {}
