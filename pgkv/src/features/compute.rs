//! Get-or-compute without stampedes: of many callers missing the same key,
//! one runs the loader. In one process the others wait for its result (single
//! flight); across processes a short lease (`set_nx_ex` on
//! `pgkv:lease:<key>`) elects one loader and the others poll for its result
//! up to a bound. Optionally, stale-while-revalidate: a value is stored for
//! `ttl + grace`, and in its last `grace` it is served as it is while one
//! caller refreshes it.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use sqlx::postgres::types::PgInterval;
use tokio::sync::watch;

use crate::base::input;
use crate::base::observe::{self, Timer};
use crate::base::xorshift::XorShift;
use crate::base::xorshift::random;
use crate::call::written::Written;
use crate::call::{Conduit, Shared};
use crate::error::{Error, Result, read_error, write_error};
use crate::handle::commands::run;
use crate::handle::route::Call;
use crate::handle::store::Store;

use crate::call::flights::{Flight, Outcome, SharedError};

/// How [`Store::get_or_compute`] caches and coordinates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ComputeOptions {
    ttl: Duration,
    grace: Option<Duration>,
    lease: Duration,
    wait: Duration,
}

impl ComputeOptions {
    /// Cache the loader's value for `ttl`; a 10 s lease; others wait up to
    /// 10 s for another process's loader; no stale-while-revalidate.
    pub fn new(ttl: Duration) -> ComputeOptions {
        ComputeOptions {
            ttl,
            grace: None,
            lease: Duration::from_secs(10),
            wait: Duration::from_secs(10),
        }
    }

    /// Stale-while-revalidate: keep the value `grace` longer than `ttl`, and
    /// during that grace period serve it at once while one caller (the one
    /// that takes the lease) runs the loader and replaces it.
    #[must_use]
    pub fn stale_while_revalidate(mut self, grace: Duration) -> ComputeOptions {
        self.grace = Some(grace);
        self
    }

    /// How long a loader may hold the cross-process lease before others
    /// may take it over (default 10 s). Set it above the loader's run time.
    #[must_use]
    pub fn lease(mut self, lease: Duration) -> ComputeOptions {
        self.lease = lease;
        self
    }

    /// How long a caller polls for another process's loader before it runs
    /// its own loader anyway (default 10 s). `Duration::MAX`: no bound.
    #[must_use]
    pub fn wait(mut self, wait: Duration) -> ComputeOptions {
        self.wait = wait;
        self
    }
}

/// The lease row of `key`, in the bookkeeping table (see
/// [`Shared::bookkeeping`](crate::call::Shared)): `pgkv:lease:<key>` for a
/// store's own keys; for a namespace's keys, whose leases live in the table
/// of the store the namespace came from, `pgkv:lease@<table>:<key>` (a
/// namespace's `schema.table` never holds `:`, so no two keys share a lease).
fn lease_key(shared: &Shared, key: &str) -> String {
    match &shared.bookkeeping {
        None => format!("pgkv:lease:{key}"),
        Some(_) => format!("pgkv:lease@{}:{key}", shared.sql.collection),
    }
}

/// Takes the lease row `lease` for `ttl` if it is free: `set_nx_ex` without
/// the store's key-length limit, which is the caller's key's to meet (a
/// lease key is longer than the key it guards), one `INSERT`.
async fn take(s: &mut impl Conduit, lease: &str, owner: &str, ttl: Duration) -> Result<bool> {
    let ttl = input::ttl(ttl)?;
    let done = sqlx::query(s.shared().sql.set_nx_ex.query())
        .bind(lease)
        .bind(owner.as_bytes())
        .bind(ttl)
        .execute(s.connection().await?)
        .await
        .map_err(write_error)?;
    Ok(done.rows_affected() == 1)
}

/// First and longest pause between polls for another process's result.
const FIRST_POLL: Duration = Duration::from_millis(2);
const LONGEST_POLL: Duration = Duration::from_millis(50);

/// The value of `key` and the time it has left (`None`: no expiry), one
/// `SELECT`.
pub(crate) async fn read(s: &mut impl Conduit, key: &str) -> Result<Option<(Vec<u8>, Option<Duration>)>> {
    let sql = s.shared().sql.coord.compute_read.query();
    let row: Option<(Vec<u8>, Option<PgInterval>)> = sqlx::query_as(sql)
        .bind(key)
        .fetch_optional(s.connection().await?)
        .await
        .map_err(read_error)?;
    Ok(row.map(|(value, left)| (value, left.map(input::remaining))))
}

/// Deletes `key` only if it still holds `value` (a lease of ours), one
/// `DELETE`.
pub(crate) async fn delete_if_equals(s: &mut impl Conduit, key: &str, value: &[u8]) -> Result<bool> {
    let sql = s.shared().sql.coord.delete_if_equals.query();
    let done = sqlx::query(sql)
        .bind(key)
        .bind(value)
        .execute(s.connection().await?)
        .await
        .map_err(write_error)?;
    Ok(done.rows_affected() == 1)
}

/// This process's load of one key. Dropped (finished, failed, panicking or
/// cancelled) it leaves the in-process map, which wakes the waiters that got
/// no outcome, and gives back a lease still held (in a spawned task).
struct Leader {
    store: Store,
    key: String,
    id: u64,
    sender: watch::Sender<Option<Outcome>>,
    lease: Option<(String, String)>,
}

impl Leader {
    /// Joins the load of `key` in flight, or starts one.
    fn join_or_lead(
        store: &Store,
        key: &str,
    ) -> std::result::Result<Leader, watch::Receiver<Option<Outcome>>> {
        let flights = &store.shared.flights;
        let mut map = flights.by_key.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(flight) = map.get(key) {
            return Err(flight.outcome.clone());
        }
        let id = flights.next_id.fetch_add(1, Ordering::Relaxed);
        let (sender, outcome) = watch::channel(None);
        map.insert(key.to_owned(), Flight { id, outcome });
        Ok(Leader {
            store: store.clone(),
            key: key.to_owned(),
            id,
            sender,
            lease: None,
        })
    }

    /// Takes the cross-process lease; true if taken.
    async fn take_lease(&mut self, ttl: Duration) -> Result<bool> {
        let lease = lease_key(&self.store.shared, &self.key);
        let owner = format!("{:016x}", random());
        let home = self.store.shared.bookkeeping();
        let (key, value) = (lease.as_str(), owner.as_str());
        let taken = run!(
            Call::pooled(home),
            "compute_lease",
            writes = |shared| Written::key(shared, key),
            take,
            key,
            value,
            ttl
        )
        .await?;
        if taken {
            self.lease = Some((lease, owner));
        }
        Ok(taken)
    }

    /// Gives the lease back (if it is still ours).
    async fn release_lease(&mut self) -> Result<()> {
        if let Some((lease, owner)) = self.lease.take() {
            let shared = self.store.shared.bookkeeping();
            run!(
                Call::pooled(shared),
                "compute_release",
                writes = |shared| Written::key(shared, &lease),
                delete_if_equals,
                &lease,
                owner.as_bytes()
            )
            .await?;
        }
        Ok(())
    }

    fn publish(&self, outcome: Outcome) {
        self.sender.send_replace(Some(outcome));
    }
}

impl Drop for Leader {
    fn drop(&mut self) {
        let mut map = self
            .store
            .shared
            .flights
            .by_key
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if map.get(&self.key).is_some_and(|f| f.id == self.id) {
            map.remove(&self.key);
        }
        drop(map);
        if let Some((lease, owner)) = self.lease.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let store = self.store.clone();
            runtime.spawn(async move {
                let shared = store.shared.bookkeeping();
                let released = run!(
                    Call::pooled(shared),
                    "compute_release",
                    writes = |shared| Written::key(shared, &lease),
                    delete_if_equals,
                    &lease,
                    owner.as_bytes()
                )
                .await;
                if let Err(e) = released {
                    tracing::warn!(target: "pgkv", error = %e, "could not give back a get-or-compute lease; it expires by itself");
                }
            });
        }
    }
}

/// The checked options: TTLs as they will be sent.
struct Checked {
    stored_ttl: Duration,
    grace: Option<Duration>,
    lease: Duration,
    wait: Duration,
}

fn check(opts: &ComputeOptions) -> Result<Checked> {
    input::ttl(opts.ttl)?;
    input::ttl(opts.lease)?;
    let stored_ttl = match opts.grace {
        None => opts.ttl,
        Some(grace) => {
            input::ttl(grace)?;
            let total = opts.ttl.checked_add(grace).unwrap_or(Duration::MAX);
            input::ttl(total)?;
            total
        }
    };
    Ok(Checked {
        stored_ttl,
        grace: opts.grace,
        lease: opts.lease,
        wait: opts.wait,
    })
}

impl Store {
    /// The value of `key`; on a miss, `loader`'s value, stored for `ttl`.
    /// Of many concurrent callers, one loader runs: in this process the
    /// others wait for it; in other processes (other stores) they wait for
    /// it up to 10 s. See [`get_or_compute`](Self::get_or_compute).
    ///
    /// ```no_run
    /// # async fn demo(store: pgkv::Store) -> pgkv::Result<()> {
    /// use std::time::Duration;
    ///
    /// let report = store
    ///     .get_or_set_with("report:daily", Duration::from_secs(300), || async {
    ///         // An expensive query; its error would reach every waiting caller.
    ///         Ok::<_, std::io::Error>(b"42 orders".to_vec())
    ///     })
    ///     .await?;
    /// # let _ = report;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn get_or_set_with<F, Fut, V, E>(
        &self,
        key: impl AsRef<str>,
        ttl: Duration,
        loader: F,
    ) -> Result<Vec<u8>>
    where
        F: FnOnce() -> Fut + Send,
        Fut: Future<Output = std::result::Result<V, E>> + Send,
        V: Into<Vec<u8>>,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        self.get_or_compute(key, ComputeOptions::new(ttl), loader).await
    }

    /// The value of `key`, computed by `loader` on a miss, without a
    /// stampede:
    /// - in this process, one caller per key runs its loader and the
    ///   others wait for its outcome (no database calls while they wait);
    /// - across processes, that caller first takes a lease
    ///   (`set_nx_ex` on `pgkv:lease:<key>` for [`lease`](ComputeOptions::lease);
    ///   on a namespace's handle the lease row lives in the table of the store
    ///   the namespace came from, so it never counts against the namespace's
    ///   keys or bytes, nor makes it evict; any key `set` accepts is
    ///   accepted, whatever its length);
    ///   a caller that finds the lease taken polls (the value, then the lease,
    ///   pausing 2 ms doubling to 50 ms) until the value appears, or takes the
    ///   lease when it is given back, or after
    ///   [`wait`](ComputeOptions::wait) runs its own loader anyway;
    /// - with [`stale_while_revalidate`](ComputeOptions::stale_while_revalidate),
    ///   the value is stored for `ttl + grace`; in its last `grace` callers get
    ///   it at once, except the one that takes the lease, which runs its loader
    ///   and returns (and stores) the new value.
    ///
    /// A loader's error is returned as [`Error::LoaderFailed`] to its caller
    /// and to the callers of this process that waited for it; nothing is
    /// cached and the lease is given back, so the next caller tries again. A
    /// loader that panics, or whose caller is cancelled, gives the lease back
    /// (from a spawned task) and its in-process waiters start over. A hit costs
    /// one `SELECT`; a load costs that, the lease, a second look, the write and
    /// the lease's release: five statements.
    pub async fn get_or_compute<F, Fut, V, E>(
        &self,
        key: impl AsRef<str>,
        opts: ComputeOptions,
        loader: F,
    ) -> Result<Vec<u8>>
    where
        F: FnOnce() -> Fut + Send,
        Fut: Future<Output = std::result::Result<V, E>> + Send,
        V: Into<Vec<u8>>,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let key = self.shared.limits.key(key.as_ref())?;
        let opts = check(&opts)?;
        // Decide who loads: return a value found (fresh, stale during a
        // refresh elsewhere, or another caller's outcome), or lead the load.
        let mut leader = loop {
            let found = self.read_cached(key).await?;
            let stale = match found {
                Some((value, left)) if !is_stale(left, opts.grace) => return Ok(value),
                Some((value, _)) => Some(value),
                None => None,
            };
            let mut leader = match (Leader::join_or_lead(self, key), stale) {
                (Ok(leader), stale) => (leader, stale),
                // Being refreshed in this process: serve the stale value.
                (Err(_), Some(stale)) => return Ok(stale),
                (Err(mut waiting), None) => {
                    if waiting.changed().await.is_ok()
                        && let Some(outcome) = waiting.borrow().clone()
                    {
                        return outcome.map_err(|source| Error::LoaderFailed {
                            key: key.to_owned(),
                            source,
                        });
                    }
                    // The load ended without an outcome: start over.
                    continue;
                }
            };
            match leader.1 {
                Some(stale) => {
                    if !leader.0.take_lease(opts.lease).await? {
                        return Ok(stale);
                    }
                    if let Some((value, left)) = self.read_cached(key).await?
                        && !is_stale(left, opts.grace)
                    {
                        leader.0.release_lease().await?;
                        return Ok(value);
                    }
                }
                None => {
                    if let Some(value) = self.wait_for_other_process(&mut leader.0, key, &opts).await? {
                        leader.0.publish(Ok(value.clone()));
                        return Ok(value);
                    }
                }
            }
            break leader.0;
        };
        let value: Vec<u8> = match loader().await {
            Ok(value) => value.into(),
            Err(e) => {
                let source: SharedError = Arc::from(e.into());
                leader.publish(Err(source.clone()));
                leader.release_lease().await?;
                return Err(Error::LoaderFailed {
                    key: key.to_owned(),
                    source,
                });
            }
        };
        self.set_ex(key, &value, opts.stored_ttl).await?;
        leader.publish(Ok(value.clone()));
        leader.release_lease().await?;
        Ok(value)
    }

    async fn read_cached(&self, key: &str) -> Result<Option<(Vec<u8>, Option<Duration>)>> {
        run!(Call::pooled(&self.shared), "compute_read", read, key).await
    }

    /// Takes the lease, or polls until another process's value appears
    /// (`Some`), the lease is ours, or the wait is over (`None`: load).
    async fn wait_for_other_process(
        &self,
        leader: &mut Leader,
        key: &str,
        opts: &Checked,
    ) -> Result<Option<Vec<u8>>> {
        let deadline = tokio::time::Instant::now().checked_add(opts.wait);
        let mut pause = FIRST_POLL;
        let mut rng = XorShift(random() | 1);
        loop {
            if leader.take_lease(opts.lease).await? {
                // Another loader may have finished just before: look again.
                return Ok(match self.read_cached(key).await? {
                    Some((value, left)) if !is_stale(left, opts.grace) => {
                        leader.release_lease().await?;
                        Some(value)
                    }
                    _ => None,
                });
            }
            if let Some((value, left)) = self.read_cached(key).await?
                && !is_stale(left, opts.grace)
            {
                return Ok(Some(value));
            }
            let now = tokio::time::Instant::now();
            let sleep = pause.mul_f64(0.5 + rng.unit());
            let sleep = match deadline {
                Some(deadline) if now >= deadline => return Ok(None),
                Some(deadline) => sleep.min(deadline - now),
                None => sleep,
            };
            tokio::time::sleep(sleep).await;
            pause = (pause * 2).min(LONGEST_POLL);
        }
    }
}

/// A value with `left` to live is stale once `left` is within the grace
/// period (a value without expiry never is).
fn is_stale(left: Option<Duration>, grace: Option<Duration>) -> bool {
    match (left, grace) {
        (Some(left), Some(grace)) => left <= grace,
        _ => false,
    }
}
