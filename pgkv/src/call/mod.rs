//! How an operation reaches the server: the state every call of one store
//! shares, and [`Conduit`], the trait each operation is written against once
//! so that `Store` (a connection per call) and `Transaction` (its own
//! connection) share every implementation.

pub(crate) mod batching;
pub(crate) mod flights;
pub(crate) mod near;
pub(crate) mod scope;
pub(crate) mod written;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::base::input::Limits;
use crate::call::batching::{BatchRoute, Batcher};
use crate::conn::wire::Wire;
use crate::conn::{Connections, Lease};
use crate::error::{Error, Result, read_error, refused_as_read_only};
use crate::sql::Statements;

/// What every call of one store needs: the connections, the table's
/// statements and the input limits.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) conns: Arc<Connections>,
    pub(crate) sql: Statements,
    pub(crate) limits: Limits,
    /// Rows per statement in an expiry sweep.
    pub(crate) cleanup_batch: i64,
    /// Reads delete the expired rows they meet (`OnRead`, on a session that
    /// can write). Turned off for good the first time the server says the
    /// session is read-only.
    purge_on_read: AtomicBool,
    /// Set on a handle on a key space of its own (a namespace's): how its
    /// errors are named.
    pub(crate) scope: Option<scope::ErrorScope>,
    /// What a feature keeps per handle (a namespace's eviction settings),
    /// opaque to the core.
    pub(crate) extension: Option<Arc<dyn std::any::Any + Send + Sync>>,
    /// The near-cache, when configured.
    pub(crate) near: Option<Arc<crate::call::near::Near>>,
    /// The get-or-compute loads running in this process, by key.
    pub(crate) flights: flights::Flights,
    /// Batching of concurrent calls (`None`: off).
    pub(crate) coalescer: Option<Batcher>,
    /// The store whose table holds pgkv's own rows for this handle
    /// (get-or-compute leases): set on a namespace's handle to the store it
    /// came from, so bookkeeping never counts against the namespace's
    /// limits nor is evicted by them. `None`: this handle's own table.
    pub(crate) bookkeeping: Option<Arc<Shared>>,
}

impl Shared {
    pub(crate) fn new(
        conns: Arc<Connections>,
        sql: Statements,
        limits: Limits,
        cleanup_batch: i64,
        purge_on_read: bool,
    ) -> Shared {
        Shared {
            conns,
            sql,
            limits,
            cleanup_batch,
            purge_on_read: AtomicBool::new(purge_on_read),
            scope: None,
            extension: None,
            near: None,
            flights: Default::default(),
            coalescer: None,
            bookkeeping: None,
        }
    }

    /// The handle whose table takes pgkv's own rows (see `bookkeeping`).
    pub(crate) fn bookkeeping(self: &Arc<Self>) -> &Arc<Shared> {
        self.bookkeeping.as_ref().unwrap_or(self)
    }

    /// The one way out of every path that may have written this store's
    /// table: a command, a transaction's `COMMIT`, a snapshot load, a warm
    /// restart. It applies the store's after-write effects (the near-cache
    /// forgets what `written` names, so the store reads its own writes at
    /// once) and names the server's errors for this handle (a namespace's
    /// limits, a deleted namespace). `written`: the live rows the path may
    /// have changed.
    ///
    /// An expiry sweep does not count as a write here: it removes only rows
    /// that are already absent to every read, the near-cache's copies
    /// included (they carry the row's expiry).
    pub(crate) fn conclude<T>(&self, written: &written::Written, result: Result<T>) -> Result<T> {
        if let Some(near) = &self.near {
            near.forget(written);
        }
        result.map_err(|e| self.name_error(e))
    }

    /// The server's error named for this handle (a key space's limits, its
    /// table gone); unchanged on a store's own handle.
    pub(crate) fn name_error(&self, e: Error) -> Error {
        match &self.scope {
            Some(scope) => e.in_key_space(&scope.name, scope.max_keys, scope.max_bytes),
            None => e,
        }
    }

    pub(crate) fn purges_on_read(&self) -> bool {
        self.purge_on_read.load(Ordering::Relaxed)
    }

    pub(crate) fn stop_purging_on_read(&self) {
        if self.purge_on_read.swap(false, Ordering::Relaxed) {
            tracing::info!(
                target: "pgkv::conn",
                table = %self.sql.table,
                "the session is read-only: reads no longer delete expired rows (the sweep will)"
            );
        }
    }
}

/// Where an operation sends its statements.
pub(crate) trait Conduit: Send {
    fn shared(&self) -> &Shared;

    /// The connection for the next statement.
    fn connection(&mut self) -> impl Future<Output = Result<Wire<'_>>> + Send;

    /// A failed statement can be sent again in another form (false inside a
    /// transaction, which the failure aborted), after [`resend`](Self::resend).
    fn can_resend(&self) -> bool;

    /// Gets ready to send a statement again after one failed: behind a
    /// transaction-mode pooler the failure aborted the call's own
    /// transaction, which is rolled back and begun again.
    fn resend(&mut self) -> impl Future<Output = Result<()>> + Send;

    /// Between the batches of a command that commits batch by batch
    /// (`delete_prefix`): behind a transaction-mode pooler, commits the
    /// command's own transaction and begins another, so its row locks are
    /// held one batch at a time as they are elsewhere.
    fn checkpoint(&mut self) -> impl Future<Output = Result<()>> + Send;

    /// The statements run in the caller's transaction, so a failed one has
    /// aborted work the caller will commit (false for a store's command,
    /// even behind a pooler, where its own transaction ends with it).
    fn in_transaction(&self) -> bool;

    /// For a command that may be batched with others (see `coalesce`),
    /// before its first statement: `None` when it runs alone (a free
    /// connection was found and is now the call's, or the handle does not
    /// batch), else the queue that will carry it.
    fn batch_route(&mut self) -> impl Future<Output = Result<Option<BatchRoute>>> + Send;
}

/// A single call's connection, leased on first use.
///
/// Finish it with [`finish`](Self::finish). Dropped without that (the call's
/// future was cancelled), the lease treats its statement as cut off and
/// cleans the connection up before anyone else gets it.
///
/// Behind a transaction-mode pooler the call runs inside its own `BEGIN` ...
/// `COMMIT` (see `wire`): `BEGIN` goes with the lease, `COMMIT` (or
/// `ROLLBACK` after an error) with `finish`.
#[derive(Debug)]
pub(crate) struct PooledCall<'a> {
    pub(crate) shared: &'a Arc<Shared>,
    lease: Option<Lease>,
}

impl<'a> PooledCall<'a> {
    pub(crate) fn new(shared: &'a Arc<Shared>) -> PooledCall<'a> {
        PooledCall { shared, lease: None }
    }

    /// Makes `lease` the call's connection, before its first statement.
    pub(crate) async fn start_with(&mut self, lease: Lease) -> Result<()> {
        debug_assert!(self.lease.is_none(), "a call has one connection");
        self.lease.insert(lease).begin_command().await
    }

    /// Ends the call: its statements are over, and a lost connection is not
    /// reused (and makes its idle siblings suspect).
    pub(crate) async fn finish<T>(mut self, result: Result<T>) -> Result<T> {
        match &mut self.lease {
            Some(lease) => lease.end_command(result).await,
            None => {
                if let Err(e) = &result
                    && e.is_connection_loss()
                {
                    self.shared.conns.mark_loss();
                }
                result
            }
        }
    }
}

impl Conduit for PooledCall<'_> {
    fn shared(&self) -> &Shared {
        self.shared
    }

    async fn connection(&mut self) -> Result<Wire<'_>> {
        let lease = match self.lease.take() {
            Some(lease) => lease,
            None => {
                if let Some(coalescer) = &self.shared.coalescer {
                    coalescer.settle().await;
                }
                let mut lease = self.shared.conns.lease().await?;
                lease.begin_command().await?;
                lease
            }
        };
        Ok(self.lease.insert(lease).wire())
    }

    fn can_resend(&self) -> bool {
        true
    }

    async fn resend(&mut self) -> Result<()> {
        match &mut self.lease {
            Some(lease) => lease.restart_command().await,
            None => Ok(()),
        }
    }

    async fn checkpoint(&mut self) -> Result<()> {
        match &mut self.lease {
            Some(lease) if lease.transaction_pooler() => {
                lease.end_command(Ok(())).await?;
                lease.begin_command().await
            }
            _ => Ok(()),
        }
    }

    fn in_transaction(&self) -> bool {
        false
    }

    async fn batch_route(&mut self) -> Result<Option<BatchRoute>> {
        let Some(coalescer) = &self.shared.coalescer else {
            return Ok(None);
        };
        if self.lease.is_some() {
            return Ok(None);
        }
        coalescer.settle().await;
        match self.shared.conns.try_lease().await? {
            Some(lease) => {
                self.start_with(lease).await?;
                Ok(None)
            }
            None => Ok(Some(BatchRoute::new(self.shared.clone()))),
        }
    }
}

pub(crate) mod routed {
    //! The routes a command may take instead of its own statement, entered
    //! here so that `ops` never names them: the near-cache (a `get` of a key
    //! under its prefixes, outside a transaction) and batching (a call that
    //! finds every connection busy joins the next batch of its kind). Each
    //! answers `None` (or `false`) when the command should send its statement.

    use sqlx::postgres::types::PgInterval;

    use super::{Conduit, near};
    use crate::error::Result;

    /// `get`: from the near-cache, or in a batch.
    pub(crate) async fn get(s: &mut impl Conduit, key: &str) -> Result<Option<Option<Vec<u8>>>> {
        if let Some(cache) = s.shared().near.clone()
            && cache.covers(key)
            && !s.in_transaction()
        {
            return near::get(s, &cache, key).await.map(Some);
        }
        match s.batch_route().await? {
            Some(batch) => batch.get(key).await.map(Some),
            None => Ok(None),
        }
    }

    /// `exists`, in a batch.
    pub(crate) async fn exists(s: &mut impl Conduit, key: &str) -> Result<Option<bool>> {
        match s.batch_route().await? {
            Some(batch) => batch.exists(key).await.map(Some),
            None => Ok(None),
        }
    }

    /// `delete`, in a batch.
    pub(crate) async fn delete(s: &mut impl Conduit, key: &str) -> Result<Option<bool>> {
        match s.batch_route().await? {
            Some(batch) => batch.delete(key).await.map(Some),
            None => Ok(None),
        }
    }

    /// `set`/`set_ex` (checked key, value and TTL), in a batch: true if the
    /// batch carried it.
    pub(crate) async fn write(
        s: &mut impl Conduit,
        key: &str,
        value: &[u8],
        ttl: Option<PgInterval>,
    ) -> Result<bool> {
        match s.batch_route().await? {
            Some(batch) => batch.write(key, value, ttl).await.map(|()| true),
            None => Ok(false),
        }
    }
}

/// The outcome of a read that may carry the `OnRead` purge. A read-only
/// session refuses the purge's DELETE (25006): purging stops for the whole
/// store, and `None` asks the caller to send the plain read instead (when
/// it can: inside a transaction the failure has aborted it).
pub(crate) fn purge_outcome<T>(
    s: &impl Conduit,
    purge: &mut bool,
    result: Result<T, sqlx::Error>,
) -> Option<Result<T>> {
    match result {
        Err(e) if *purge && refused_as_read_only(&e) => {
            s.shared().stop_purging_on_read();
            *purge = false;
            if s.can_resend() {
                None
            } else {
                Some(Err(read_error(e)))
            }
        }
        result => Some(result.map_err(read_error)),
    }
}

/// Sends the read `sql.$read` (with the `OnRead` purge while the session
/// may write), binding `$bind`, and fetches with `$fetch`; sends the plain
/// form once if the server refuses the purge. Evaluates to the result.
macro_rules! purging_read {
    ($s:ident, $($read:ident).+, $query:path, $fetch:ident, $bind:expr) => {{
        let mut purge = $s.shared().purges_on_read();
        loop {
            let sql = $s.shared().sql.$($read).+.pick(purge).query();
            let result = $query(sql).bind($bind).$fetch($s.connection().await?).await;
            if let Some(outcome) = $crate::call::purge_outcome($s, &mut purge, result) {
                break outcome;
            }
            $s.resend().await?;
        }
    }};
}
pub(crate) use purging_read;

/// Lines the rows a batch read found up with the keys asked for. Sorting
/// and binary search beat a hash map at batch sizes; each value moves to
/// its key's last mention and is copied only for a key asked for twice.
pub(crate) fn in_call_order<K: AsRef<str>>(
    keys: &[K],
    mut rows: Vec<(String, Vec<u8>)>,
) -> Vec<Option<Vec<u8>>> {
    rows.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let mut out = vec![None; keys.len()];
    let mut moved_to: Vec<Option<usize>> = vec![None; rows.len()];
    for (i, key) in keys.iter().enumerate().rev() {
        let Ok(row) = rows.binary_search_by(|(k, _)| k.as_str().cmp(key.as_ref())) else {
            continue;
        };
        out[i] = match moved_to[row] {
            None => {
                moved_to[row] = Some(i);
                Some(std::mem::take(&mut rows[row].1))
            }
            Some(later) => out[later].clone(),
        };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::in_call_order;

    fn row(key: &str, value: &str) -> (String, Vec<u8>) {
        (key.to_owned(), value.as_bytes().to_vec())
    }

    #[test]
    fn batch_reads_line_up_with_the_keys_asked_for() {
        // Rows arrive in any order; keys repeat and some are missing.
        let rows = vec![row("c", "3"), row("a", "1"), row("b", "2")];
        let keys = ["b", "zz", "a", "b", "c", "b", ""];
        let got = in_call_order(&keys, rows);
        let want: Vec<Option<Vec<u8>>> = [Some("2"), None, Some("1"), Some("2"), Some("3"), Some("2"), None]
            .iter()
            .map(|v| v.map(|v| v.as_bytes().to_vec()))
            .collect();
        assert_eq!(got, want);
        assert_eq!(in_call_order(&["x"], Vec::new()), vec![None]);
    }
}
