//! The store suite's core through PgBouncer in transaction mode
//! (`scripts/with-postgres --pooler` starts one and sets `PGKV_POOLER_URL`):
//! the same test modules as `tests/store`, compiled into a second binary whose
//! stores connect through the pooler with `Config::transaction_pooler(true)`
//! (`pgkv_suite::through_pooler` tells the modules apart by this binary's
//! name), plus the pooler-only checks in `pooler.rs`.
//!
//! Left out: modules that kill, restart or inspect server processes by pid
//! or `application_name` (a pooler hides both), and the pool-sizing tests
//! (the pooler, not the store, decides server connections).

#[path = "../store/basic.rs"]
mod basic;
#[path = "../store/batch.rs"]
mod batch;
#[path = "../store/batch_modes.rs"]
mod batch_modes;
#[path = "../store/batching.rs"]
mod batching;
#[path = "../store/cas.rs"]
mod cas;
#[path = "../store/cleanup.rs"]
mod cleanup;
#[path = "../store/codecs.rs"]
mod codecs;
#[path = "../store/commands.rs"]
mod commands;
#[path = "../store/compute.rs"]
mod compute;
#[path = "../store/concurrency.rs"]
mod concurrency;
#[path = "../store/counters.rs"]
mod counters;
#[path = "../store/expiry.rs"]
mod expiry;
#[path = "../store/keyops.rs"]
mod keyops;
#[path = "../store/limiter.rs"]
mod limiter;
#[path = "../store/locks.rs"]
mod locks;
#[path = "../store/model.rs"]
mod model;
#[path = "../store/namespaces.rs"]
mod namespaces;
#[path = "../store/pages.rs"]
mod pages;
#[path = "../store/records.rs"]
mod records;
#[path = "../store/scan.rs"]
mod scan;
#[path = "../store/set_options.rs"]
mod set_options;
#[path = "../store/snapshot.rs"]
mod snapshot;
#[path = "../store/ttl.rs"]
mod ttl;
#[path = "../store/tx.rs"]
mod tx;

mod pooler;
