//! The store suite on a Citus cluster (`scripts/with-citus cargo test --test
//! citus`): the same test modules as `tests/store`, compiled into a second
//! binary whose stores use `Config::citus(true)` on the coordinator
//! (`pgkv_suite::through_citus` tells the modules apart by this binary's
//! name), plus the Citus-only checks in `routing.rs`.
//!
//! Without a cluster (`PGKV_CITUS` unset, as in CI, which cannot fetch
//! Citus) this binary holds one test, which says loudly that nothing ran.
//! Status (Citus 13.2.2, 2 workers; see the README's "Scaling out"): of
//! 142 tests run (two slow ones skipped), 109 pass and 33 fail, all for the
//! reasons listed in the README's operations table: `set_with`,
//! `get_and_set` and lock release/extend read the clock inside `CASE`
//! (refused); `rename`, `copy`, batched `delete_prefix` and
//! `explain_cleanup` lock rows over several shards (refused); namespaces
//! use triggers (refused); and tests that count raw rows after the cleanup
//! task see its lease row. `routing::every_single_key_statement_runs_on_one_shard`
//! fails for the same statements (27 of 64 refused, `cas_absent` and
//! `append` planned in three single-shard steps); the other 35 are routed.
//!
//! A worker stopped mid-load is checked in `tests/citus_faults` (a binary
//! of its own, so it does not disturb this one's tests); shard moves with
//! `block_writes` are not checked yet.
//!
//! Left out: modules that kill or restart the server or inspect server
//! processes (`errors`, `pool`, `reliability`, `regressions`, `telemetry`,
//! `schema`: one server's process model and catalog), as in tests/pooler.

#[cfg(not(pgkv_citus))]
#[test]
fn citus_suite() {
    // Written past the test harness's output capture, so it is seen.
    use std::io::Write as _;
    let _ = writeln!(
        std::io::stderr(),
        "NOT RUN: the store suite on Citus and the routing checks: no Citus cluster \
         (PGKV_CITUS is not set). Run: scripts/with-citus cargo test --test citus"
    );
}

#[cfg(pgkv_citus)]
#[path = "../store/basic.rs"]
mod basic;
#[cfg(pgkv_citus)]
#[path = "../store/batch.rs"]
mod batch;
#[cfg(pgkv_citus)]
#[path = "../store/batch_modes.rs"]
mod batch_modes;
#[cfg(pgkv_citus)]
#[path = "../store/cas.rs"]
mod cas;
#[cfg(pgkv_citus)]
#[path = "../store/cleanup.rs"]
mod cleanup;
#[cfg(pgkv_citus)]
#[path = "../store/commands.rs"]
mod commands;
#[cfg(pgkv_citus)]
#[path = "../store/compute.rs"]
mod compute;
#[cfg(pgkv_citus)]
#[path = "../store/concurrency.rs"]
mod concurrency;
#[cfg(pgkv_citus)]
#[path = "../store/counters.rs"]
mod counters;
#[cfg(pgkv_citus)]
#[path = "../store/expiry.rs"]
mod expiry;
#[cfg(pgkv_citus)]
#[path = "../store/keyops.rs"]
mod keyops;
#[cfg(pgkv_citus)]
#[path = "../store/limiter.rs"]
mod limiter;
#[cfg(pgkv_citus)]
#[path = "../store/locks.rs"]
mod locks;
#[cfg(pgkv_citus)]
#[path = "../store/model.rs"]
mod model;
#[cfg(pgkv_citus)]
#[path = "../store/namespaces.rs"]
mod namespaces;
#[cfg(pgkv_citus)]
#[path = "../store/pages.rs"]
mod pages;
#[cfg(pgkv_citus)]
#[path = "../store/records.rs"]
mod records;
#[cfg(pgkv_citus)]
#[path = "../store/scan.rs"]
mod scan;
#[cfg(pgkv_citus)]
#[path = "../store/set_options.rs"]
mod set_options;
#[cfg(pgkv_citus)]
#[path = "../store/ttl.rs"]
mod ttl;
#[cfg(pgkv_citus)]
#[path = "../store/tx.rs"]
mod tx;

#[cfg(pgkv_citus)]
mod routing;
