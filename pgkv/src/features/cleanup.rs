//! Deleting expired rows: the on-demand sweep and the background task.
//!
//! Both delete in bounded batches (`LIMIT n FOR UPDATE SKIP LOCKED` on the
//! partial expiry index, the expiry re-checked in the DELETE itself), one
//! autocommit statement per batch, so a sweep never holds a long transaction
//! and can be cancelled between any two statements. A partitioned table is
//! swept one partition after the other; on Citus every shard runs the same
//! bounded batch on itself, all shards at once (`run_command_on_shards`).

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::base::background::Background;
use crate::base::xorshift::{XorShift, random};
use crate::call::Conduit;
use crate::call::written::Written;
use crate::error::{Result, read_error, write_error};
use crate::handle::route::Call;
use crate::handle::store::Store;

/// What one pass of the cleanup task did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PassSummary {
    /// Expired rows deleted.
    pub rows_deleted: u64,
    /// Rows deleted to keep a namespace with
    /// [`LimitPolicy::Evict`](crate::LimitPolicy::Evict) within its limits.
    pub rows_evicted: u64,
    /// DELETE statements run.
    pub batches: u64,
    /// How long the pass took.
    pub duration: Duration,
    /// Another instance held the fleet lock, so this pass stopped early (or
    /// did nothing): that instance is doing the work.
    pub yielded: bool,
    /// The error that ended the pass early, if any; the task carries on at
    /// the next tick.
    pub error: Option<String>,
}

/// Totals since a cleanup task started, plus its last pass.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CleanupStats {
    /// Passes finished (successful or not).
    pub passes: u64,
    /// Passes that ended with an error.
    pub failed_passes: u64,
    /// Expired rows deleted by all passes.
    pub rows_deleted: u64,
    /// Rows evicted by all passes (`Evict` namespaces).
    pub rows_evicted: u64,
    /// The most recent pass.
    pub last_pass: Option<PassSummary>,
}

/// Control of a cleanup task started by [`Store::spawn_cleanup`].
///
/// Dropping the handle leaves the task running (like dropping a tokio
/// `JoinHandle`); call [`shutdown`](Self::shutdown) to stop it.
///
/// ```no_run
/// # async fn demo(store: pgkv::Store) {
/// use std::time::Duration;
///
/// let cleanup = store.spawn_cleanup(Duration::from_secs(60));
/// // ... serve requests ...
/// let stats = cleanup.stats();
/// println!("{} expired rows deleted in {} passes", stats.rows_deleted, stats.passes);
/// cleanup.shutdown().await; // stops after the batch in flight
/// # }
/// ```
pub struct CleanupHandle(Background<CleanupStats>);

impl CleanupHandle {
    /// Stops the task and waits for it. A pass in progress stops after the
    /// batch statement in flight (each batch is its own autocommit
    /// statement, so no transaction is left open and nothing runs after this
    /// returns).
    pub async fn shutdown(self) {
        // The task checks the flag between batches and while it sleeps, so
        // it stops within one batch's time.
        self.0.shutdown().await;
    }

    /// Totals so far and a summary of the last pass.
    pub fn stats(&self) -> CleanupStats {
        self.0.stats()
    }

    /// True once the task has stopped.
    pub fn is_finished(&self) -> bool {
        self.0.is_finished()
    }
}

impl fmt::Debug for CleanupHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.debug("CleanupHandle", f)
    }
}

/// Citus mode: the key of the lease row that lets one cleanup task of a
/// fleet run a pass at a time (advisory locks are per node there, so they
/// cannot). The row is a key of the table, with a TTL, reserved for pgkv:
/// scans, `keys`, counts, `delete_prefix` and snapshots leave it out (in
/// Citus mode), while `get` and the other single-key calls see it.
pub const CLEANUP_LEASE_KEY: &str = "pgkv:cleanup-lease";

/// The shortest interval used; a zero interval would spin.
const MIN_INTERVAL: Duration = Duration::from_millis(10);

/// The longest interval used (about a century): longer ones, up to
/// `Duration::MAX`, mean "practically never" and are treated as this, so the
/// jitter arithmetic cannot overflow.
const MAX_INTERVAL: Duration = crate::conn::FOREVER;

impl Store {
    /// Deletes every expired row now, whatever the cleanup strategy, and
    /// returns how many it deleted. Runs batches of
    /// [`cleanup_batch_size`](crate::Config::cleanup_batch_size) rows, one
    /// statement each, until a batch comes back short. Rows that another
    /// session holds locked are skipped; it does not wait for the cleanup
    /// task of another instance, and does not take its lock.
    ///
    /// A partitioned table is swept partition by partition. On Citus each
    /// statement deletes up to the batch size on every shard at once, until
    /// every shard's batch comes back short; a shard that fails ends the
    /// sweep with [`Error::ShardFailed`](crate::Error::ShardFailed).
    pub async fn cleanup_expired(&self) -> Result<u64> {
        let batch = self.shared.cleanup_batch.unsigned_abs();
        let mut total = 0;
        if self.shared.sql.citus {
            loop {
                let mut call = Call::pooled(&self.shared);
                let result = shard_sweep_batch(&mut call).await;
                let (deleted, most) = call.finish(Written::nothing(), result).await?;
                total += deleted;
                if most < batch {
                    return Ok(total);
                }
                tokio::task::yield_now().await;
            }
        }
        for target in 0..self.shared.sql.sweeps.len() {
            loop {
                // A checkout (and, behind a transaction-mode pooler, a
                // transaction) per batch: row locks are held one batch at a time.
                let mut call = Call::pooled(&self.shared);
                let result = sweep_batch(&mut call, target).await;
                let deleted = call.finish(Written::nothing(), result).await?;
                total += deleted;
                if deleted < batch {
                    break;
                }
                tokio::task::yield_now().await;
            }
        }
        Ok(total)
    }

    /// The background cleanup loop, for `tokio::spawn`:
    ///
    /// ```no_run
    /// # async fn demo(store: pgkv::Store) {
    /// use std::time::Duration;
    /// tokio::spawn(store.cleanup_task(Duration::from_secs(60)));
    /// # }
    /// ```
    ///
    /// Every `interval` (±10 % jitter, so a fleet started together does not
    /// stampede) it runs one pass of batched deletes. Intervals below 10 ms
    /// are treated as 10 ms; above a century (up to `Duration::MAX`), as a
    /// century. Across all instances
    /// that share the table, one pass runs at a time (a transaction-scoped
    /// advisory lock keyed on the table); the others find the lock taken and
    /// wait for their next tick. A failed pass is logged (`tracing`, target
    /// `pgkv::cleanup`) and retried at the next tick; the future never
    /// completes and never panics. To stop it, use
    /// [`spawn_cleanup`](Self::spawn_cleanup) instead, or abort the task.
    pub fn cleanup_task(&self, interval: Duration) -> impl Future<Output = ()> + Send + 'static {
        let store = self.clone();
        let stats = Arc::new(Mutex::new(CleanupStats::default()));
        // Nobody can stop this one: the sender is dropped, and `run` treats a
        // closed channel as "never stop".
        let (_, never) = watch::channel(false);
        async move { run(store, interval, stats, never).await }
    }

    /// Spawns [`cleanup_task`](Self::cleanup_task) on the current tokio
    /// runtime and returns a handle to stop it and read its statistics.
    ///
    /// # Panics
    /// When called outside a tokio runtime, as `tokio::spawn` does.
    pub fn spawn_cleanup(&self, interval: Duration) -> CleanupHandle {
        let store = self.clone();
        CleanupHandle(Background::spawn(move |stats, stopped| {
            run(store, interval, stats, stopped)
        }))
    }

    /// The server's `EXPLAIN` of one cleanup batch: a diagnostic showing
    /// that the sweep reads the partial index on `expires_at`. On Citus it
    /// is the `EXPLAIN (FORMAT YAML)` of one shard's batch, run on that
    /// shard's worker (the sweep runs the same batch on every shard).
    pub async fn explain_cleanup(&self) -> Result<String> {
        let mut call = Call::pooled(&self.shared);
        let result = explain_batch(&mut call).await;
        call.finish(Written::nothing(), result).await
    }
}

async fn explain_batch(s: &mut impl Conduit) -> Result<String> {
    if s.shared().sql.citus {
        let sql = s.shared().sql.shard_explain.query();
        let (shard, worked, plan) = sqlx::query_as::<_, (i64, bool, Option<String>)>(sql)
            .bind(s.shared().cleanup_batch)
            .fetch_one(s.connection().await?)
            .await
            .map_err(read_error)?;
        let plan = plan.unwrap_or_default();
        if !worked {
            return Err(crate::Error::ShardFailed { detail: plan });
        }
        return Ok(format!(
            "Citus: one batch on shard {shard}, as its worker plans it (every shard runs the same batch):\n{plan}"
        ));
    }
    let explain = format!("EXPLAIN {}", s.shared().sql.sweeps[0].batch.query().as_str());
    let batch = s.shared().cleanup_batch;
    let lines: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(explain))
        .bind(batch)
        .fetch_all(s.connection().await?)
        .await
        .map_err(read_error)?;
    Ok(lines.into_iter().map(|(l,)| l).collect::<Vec<_>>().join("\n"))
}

/// One batch of the manual sweep on sweep target `target` (a partition, or
/// the table): the number of rows it deleted.
async fn sweep_batch(s: &mut impl Conduit, target: usize) -> Result<u64> {
    let sql = s.shared().sql.sweeps[target].batch.query();
    let deleted = sqlx::query(sql)
        .bind(s.shared().cleanup_batch)
        .execute(s.connection().await?)
        .await
        .map_err(write_error)?
        .rows_affected();
    Ok(deleted)
}

/// One Citus batch on every shard: the rows deleted, and the most deleted
/// on one shard.
async fn shard_sweep_batch(s: &mut impl Conduit) -> Result<(u64, u64)> {
    let sql = s.shared().sql.shard_sweep.query();
    let (deleted, most, failed) = sqlx::query_as::<_, (i64, i64, Option<String>)>(sql)
        .bind(s.shared().cleanup_batch)
        .fetch_one(s.connection().await?)
        .await
        .map_err(write_error)?;
    if let Some(detail) = failed {
        return Err(crate::Error::ShardFailed { detail });
    }
    Ok((deleted.unsigned_abs(), most.unsigned_abs()))
}

/// True once `shutdown` has been asked for.
fn stop_requested(stop: &watch::Receiver<bool>) -> bool {
    *stop.borrow()
}

/// One pass of the task: like [`sweep`], but each batch also takes the
/// fleet lock, and the pass ends when another instance holds it (or when
/// the task is asked to stop).
async fn fleet_pass(store: &Store, stop: &watch::Receiver<bool>) -> PassSummary {
    let started = Instant::now();
    let mut summary = PassSummary {
        rows_deleted: 0,
        rows_evicted: 0,
        batches: 0,
        duration: Duration::ZERO,
        yielded: false,
        error: None,
    };
    let shared = &store.shared;
    if shared.sql.citus {
        citus_pass(store, stop, &mut summary).await;
        summary.duration = started.elapsed();
        return summary;
    }
    let mut target = 0;
    while !stop_requested(stop) && target < shared.sql.sweeps.len() {
        // A fresh checkout per batch: the connection goes back to the pool
        // between batches, so the sweep never starves the application.
        let mut call = Call::pooled(shared);
        let result = async {
            let sql = shared.sql.sweeps[target].fleet_batch.query();
            sqlx::query_as::<_, (bool, i64)>(sql)
                .bind(shared.cleanup_batch)
                .bind(&shared.sql.table)
                .fetch_one(call.connection().await?)
                .await
                .map_err(write_error)
        }
        .await;
        let result = call.finish(Written::nothing(), result).await;
        match result {
            Err(e) => {
                summary.error = Some(e.to_string());
                break;
            }
            Ok((false, _)) => {
                summary.yielded = true;
                break;
            }
            Ok((true, deleted)) => {
                summary.batches += 1;
                summary.rows_deleted += deleted.unsigned_abs();
                if deleted < shared.cleanup_batch {
                    // This partition (or the table) is done.
                    target += 1;
                }
            }
        }
        tokio::task::yield_now().await;
    }
    summary.duration = started.elapsed();
    summary
}

/// How long a Citus pass's lease lasts: a task that dies mid-pass holds
/// off the others for this long at most. A pass that outlives it lets a
/// second one start, which is harmless (both delete only expired rows).
const LEASE: Duration = Duration::from_secs(60);

/// A Citus pass: under the lease row, batches on every shard until each
/// shard's batch comes back short. The lease is taken with the store's own
/// `SET NX EX` and given back (deleted only while it still holds this
/// pass's token) at the end.
async fn citus_pass(store: &Store, stop: &watch::Receiver<bool>, summary: &mut PassSummary) {
    let token = format!("{:016x}", Jitter::new().0.next_u64());
    match store.set_nx_ex(CLEANUP_LEASE_KEY, token.as_bytes(), LEASE).await {
        Err(e) => {
            summary.error = Some(e.to_string());
            return;
        }
        Ok(false) => {
            summary.yielded = true;
            return;
        }
        Ok(true) => {}
    }
    let batch = store.shared.cleanup_batch.unsigned_abs();
    while !stop_requested(stop) {
        let mut call = Call::pooled(&store.shared);
        let result = shard_sweep_batch(&mut call).await;
        match call.finish(Written::nothing(), result).await {
            Err(e) => {
                summary.error = Some(e.to_string());
                break;
            }
            Ok((deleted, most)) => {
                summary.batches += 1;
                summary.rows_deleted += deleted;
                if most < batch {
                    break;
                }
            }
        }
        tokio::task::yield_now().await;
    }
    let mut call = Call::pooled(&store.shared);
    let result =
        crate::features::compute::delete_if_equals(&mut call, CLEANUP_LEASE_KEY, token.as_bytes()).await;
    if let Err(e) = call.finish(Written::nothing(), result).await
        && summary.error.is_none()
    {
        summary.error = Some(e.to_string());
    }
}

async fn run(
    store: Store,
    interval: Duration,
    stats: Arc<Mutex<CleanupStats>>,
    mut stop: watch::Receiver<bool>,
) {
    let interval = interval.clamp(MIN_INTERVAL, MAX_INTERVAL);
    let mut jitter = Jitter::new();
    let mut stoppable = true;
    loop {
        let nap = tokio::time::sleep(jitter.around(interval));
        if stoppable {
            tokio::select! {
                () = nap => {}
                changed = stop.changed() => match changed {
                    Ok(()) if stop_requested(&stop) => return,
                    Ok(()) => continue,
                    // The sender is gone: nobody can ask to stop any more.
                    Err(_) => {
                        stoppable = false;
                        continue;
                    }
                },
            }
        } else {
            nap.await;
        }
        let mut summary = fleet_pass(&store, &stop).await;
        // An `Evict` namespace is then brought within its limits.
        if summary.error.is_none() && !stop_requested(&stop) {
            match store.evict_now().await {
                Ok(evicted) => summary.rows_evicted = evicted,
                Err(e) => summary.error = Some(e.to_string()),
            }
        }
        match &summary.error {
            Some(error) => tracing::warn!(
                target: "pgkv::cleanup",
                table = %store.shared.sql.table,
                %error,
                rows_deleted = summary.rows_deleted,
                "cleanup pass failed; retrying at the next tick"
            ),
            None => tracing::debug!(
                target: "pgkv::cleanup",
                table = %store.shared.sql.table,
                rows_deleted = summary.rows_deleted,
                rows_evicted = summary.rows_evicted,
                batches = summary.batches,
                yielded = summary.yielded,
                duration_ms = u64::try_from(summary.duration.as_millis()).unwrap_or(u64::MAX),
                "cleanup pass"
            ),
        }
        #[cfg(feature = "metrics")]
        crate::base::observe::cleanup_pass(
            &store.shared.sql.collection,
            summary.rows_deleted,
            summary.error.is_some(),
        );
        let mut totals = stats.lock().unwrap_or_else(PoisonError::into_inner);
        totals.passes += 1;
        totals.failed_passes += u64::from(summary.error.is_some());
        totals.rows_deleted += summary.rows_deleted;
        totals.rows_evicted += summary.rows_evicted;
        totals.last_pass = Some(summary);
    }
}

/// The interval's jitter: it needs to differ between instances, not to be
/// unpredictable.
pub(crate) struct Jitter(XorShift);

impl Jitter {
    pub(crate) fn new() -> Jitter {
        // Tasks started in the same instant still differ: `random` mixes a
        // per-process counter and the process id into the clock.
        Jitter(XorShift(random() | 1))
    }

    /// `interval` scaled by a factor in [0.9, 1.1].
    pub(crate) fn around(&mut self, interval: Duration) -> Duration {
        interval.mul_f64(0.9 + 0.2 * self.0.unit())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_never_overflows_and_differs_between_tasks() {
        let mut j = Jitter::new();
        for _ in 0..1000 {
            let d = j.around(MAX_INTERVAL);
            assert!(d >= MAX_INTERVAL.mul_f64(0.9) && d <= MAX_INTERVAL.mul_f64(1.1));
        }
        let firsts: std::collections::BTreeSet<Duration> = (0..16)
            .map(|_| Jitter::new().around(Duration::from_secs(60)))
            .collect();
        assert!(firsts.len() > 1, "16 tasks started together got one jitter");
    }

    #[test]
    fn jitter_stays_within_ten_percent() {
        let mut j = Jitter::new();
        let base = Duration::from_secs(60);
        let samples: Vec<Duration> = (0..1000).map(|_| j.around(base)).collect();
        assert!(
            samples
                .iter()
                .all(|d| *d >= base.mul_f64(0.9) && *d <= base.mul_f64(1.1))
        );
        assert!(samples.iter().any(|d| *d < base) && samples.iter().any(|d| *d > base));
    }
}
