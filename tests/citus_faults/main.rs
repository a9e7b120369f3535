//! Faults and cluster changes on a Citus cluster (`scripts/with-citus cargo
//! test --test citus_faults`): a worker stopped mid-load (`worker.rs`) and a
//! shard moved with `block_writes` while reads go on (`shard_move.rs`), one
//! at a time. A binary of its own, since it stops a worker that every test
//! of `tests/citus` would share; run it after
//! that one (cargo runs test binaries one at a time, `citus` first).
//! Without a cluster (`PGKV_CITUS` unset) it holds one test that says
//! loudly that nothing ran.

#[cfg(not(pgkv_citus))]
#[test]
fn citus_faults() {
    // Written past the test harness's output capture, so it is seen.
    use std::io::Write as _;
    let _ = writeln!(
        std::io::stderr(),
        "NOT RUN: Citus fault tests: no Citus cluster (PGKV_CITUS is not set). \
         Run: scripts/with-citus cargo test --test citus_faults"
    );
}

#[cfg(pgkv_citus)]
mod shard_move;
#[cfg(pgkv_citus)]
mod worker;

/// The tests here change the cluster (a worker stopped, a shard moved):
/// one at a time.
#[cfg(pgkv_citus)]
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
