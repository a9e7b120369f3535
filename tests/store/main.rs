//! Integration tests against a live PostgreSQL (`DATABASE_URL`), one binary
//! with a module per area. Every test uses a table of its own.

mod basic;
mod batch;
mod batch_modes;
mod batching;
mod cas;
mod cleanup;
mod codecs;
mod commands;
mod compute;
mod concurrency;
mod counters;
mod errors;
mod expiry;
mod keyops;
mod limiter;
mod locks;
mod model;
mod namespaces;
mod near_cache;
mod pages;
mod partitions;
mod pool;
mod records;
mod regressions;
mod reliability;
mod scan;
mod schema;
mod set_options;
mod snapshot;
mod telemetry;
mod ttl;
mod tx;
mod write_paths;
