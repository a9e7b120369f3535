//! `Transaction`: the same key/value methods as `Store`, on one connection
//! inside `BEGIN` ... `COMMIT`.

use std::fmt;
use std::sync::Arc;

use sqlx::Executor;

use crate::base::observe::{self, Timer};
use crate::call::{Conduit, Shared};
use crate::conn::Lease;
use crate::conn::wire::Wire;
use crate::error::{Error, Result, read_error, write_error};

/// A database transaction (READ COMMITTED) with the key/value methods of
/// [`Store`](crate::Store), taking `&mut self`.
///
/// Finish it with [`commit`](Self::commit) or [`rollback`](Self::rollback).
/// Dropped without either (or dropped while `BEGIN`/`COMMIT` is in flight, as
/// when its future is cancelled), it rolls back: a background `ROLLBACK`
/// runs before the connection is used again (it is closed instead if that
/// fails or takes over 5 s), so no later caller can inherit an open or
/// aborted transaction.
///
/// Time inside a transaction is still each statement's own
/// `statement_timestamp()`, so TTLs behave as outside one.
///
/// ```no_run
/// # async fn demo(store: pgkv::Store) -> pgkv::Result<()> {
/// // Move a job from the queue to the in-progress set, or neither.
/// let mut tx = store.begin().await?;
/// if let Some(job) = tx.get_and_delete("queue:42").await? {
///     tx.set("running:42", &job).await?;
/// }
/// tx.commit().await?;
///
/// // The same with the closure form: Err rolls back.
/// store
///     .transaction(async |tx| {
///         let n = tx.increment("jobs:started", 1).await?;
///         tx.set("jobs:last", n.to_string()).await
///     })
///     .await?;
/// # Ok(())
/// # }
/// ```
pub struct Transaction {
    shared: Arc<Shared>,
    conn: Lease,
    state: State,
    /// The current call has sent a statement: an error now came from the
    /// server (or the link to it), not from checks before any SQL.
    sent: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// `BEGIN` has not completed.
    Starting,
    Open,
    /// A statement failed: the server has aborted the transaction.
    Aborted,
    /// `COMMIT`/`ROLLBACK` completed; the connection is clean.
    Finished,
}

impl Transaction {
    pub(crate) async fn begin(shared: Arc<Shared>) -> Result<Transaction> {
        if let Some(coalescer) = &shared.coalescer {
            coalescer.settle().await;
        }
        let conn = shared.conns.lease().await?;
        // From here on, dropping `tx` (error or cancellation) rolls back
        // unless the state reaches `Finished`.
        let mut tx = Transaction {
            shared,
            conn,
            state: State::Starting,
            sent: false,
        };
        tx.simple("BEGIN", false).await?;
        tx.state = State::Open;
        Ok(tx)
    }

    /// Sends `BEGIN`, `COMMIT` or `ROLLBACK`. `decisive`: the statement
    /// decides whether the transaction's writes happen, so a connection lost
    /// before its reply is [`Error::OutcomeUnknown`], never a retryable error.
    async fn simple(&mut self, statement: &'static str, decisive: bool) -> Result<()> {
        self.sent = true;
        let op = match statement {
            "BEGIN" => observe::op!("BEGIN"),
            "COMMIT" => observe::op!("COMMIT"),
            _ => observe::op!("ROLLBACK"),
        };
        let span = observe::span(op, &self.shared.sql.collection);
        let timer = Timer::start(op, &span);
        let sent = self.conn.for_statement().execute(statement);
        let result = observe::in_span(sent, span).await.map(drop).map_err(if decisive {
            write_error
        } else {
            read_error
        });
        timer.finish(&result);
        self.observe(&result);
        result
    }

    /// Commits. If an earlier statement failed (so PostgreSQL aborted the
    /// transaction), rolls back instead and returns [`Error::TransactionAborted`].
    pub async fn commit(mut self) -> Result<()> {
        if self.state == State::Aborted {
            self.simple("ROLLBACK", false).await?;
            self.state = State::Finished;
            return Err(Error::TransactionAborted);
        }
        let committed = self.simple("COMMIT", true).await;
        // The transaction's writes are visible now (or may be).
        self.shared.conclude(true, committed)?;
        self.state = State::Finished;
        Ok(())
    }

    /// Rolls back every change made in the transaction.
    pub async fn rollback(mut self) -> Result<()> {
        self.simple("ROLLBACK", false).await?;
        self.state = State::Finished;
        Ok(())
    }

    /// A command is about to run: nothing of it has been sent yet.
    pub(crate) fn start_call(&mut self) {
        self.sent = false;
    }

    /// Looks at a finished command's (or `BEGIN`/`COMMIT`/`ROLLBACK`'s)
    /// outcome: a lost connection is not reused, and a failed statement
    /// means the server has aborted the transaction.
    pub(crate) fn observe<T>(&mut self, result: &Result<T>) {
        self.conn.observe(result);
        if let Err(e) = result {
            // Input errors are raised before any SQL (`sent` is false
            // then). Once a statement was sent, any error means the server
            // aborted the transaction, except the few raised after a
            // statement that succeeded. Listing those (not the failures)
            // keeps a new kind of failure on the safe side: `commit` then
            // rolls back and says so, instead of reporting success for a
            // transaction the server rolled back (its COMMIT answers
            // ROLLBACK without an error).
            let after_success = matches!(
                e,
                Error::InvalidUtf8 { .. }
                    | Error::NotFound { .. }
                    | Error::Contended { .. }
                    | Error::ValueTooLarge { .. }
            );
            if self.sent && !after_success && self.state == State::Open {
                self.state = State::Aborted;
            }
        }
    }
}

impl Conduit for Transaction {
    fn shared(&self) -> &Shared {
        &self.shared
    }

    async fn connection(&mut self) -> Result<Wire<'_>> {
        self.sent = true;
        Ok(self.conn.wire())
    }

    fn can_resend(&self) -> bool {
        false
    }

    fn in_transaction(&self) -> bool {
        true
    }

    /// Never asked for: a transaction cannot resend (`can_resend` is false).
    async fn resend(&mut self) -> Result<()> {
        Ok(())
    }

    /// The caller's transaction decides when its batches commit.
    async fn checkpoint(&mut self) -> Result<()> {
        Ok(())
    }

    /// A transaction's commands run on its own connection, never batched.
    async fn batch_route(&mut self) -> Result<Option<crate::call::batching::BatchRoute>> {
        Ok(None)
    }
}

impl Drop for Transaction {
    fn drop(&mut self) {
        if self.state != State::Finished {
            self.conn.roll_back_on_drop();
        }
    }
}

impl fmt::Debug for Transaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transaction")
            .field("table", &self.shared.sql.table)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}
