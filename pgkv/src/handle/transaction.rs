//! `Transaction`: the same key/value methods as `Store`, on one connection
//! inside `BEGIN` ... `COMMIT`.

use std::fmt;
use std::sync::Arc;

use crate::base::observe::{self, Timer};
use crate::call::written::Written;
use crate::call::{Conduit, Shared};
use crate::conn::session::Session;
use crate::conn::wire::Wire;
use crate::error::{Error, Result};

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
    session: Session,
    state: State,
    /// The current call has sent a statement: an error now came from the
    /// server (or the link to it), not from checks before any SQL.
    sent: bool,
    /// What the transaction's commands wrote: forgotten again by the
    /// near-cache at commit, when other sessions can first see it.
    written: Written,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
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
        // From here on, dropping the session (error or cancellation) rolls
        // back unless `COMMIT` or `ROLLBACK` completed.
        let op = observe::op!("BEGIN");
        let span = observe::span(op, &shared.sql.collection);
        let timer = Timer::start(op, &span);
        let begun = observe::in_span(Session::begin(&shared.conns, "BEGIN"), span).await;
        timer.finish(&begun);
        Ok(Transaction {
            shared,
            session: begun?,
            state: State::Open,
            sent: false,
            written: Written::nothing(),
        })
    }

    /// Ends the transaction: `COMMIT`, or `ROLLBACK` when `commit` is
    /// false. A `COMMIT` decides whether the writes happen, so a connection
    /// lost before its reply is [`Error::OutcomeUnknown`], never a
    /// retryable error.
    async fn end(&mut self, commit: bool) -> Result<()> {
        self.sent = true;
        let op = if commit {
            observe::op!("COMMIT")
        } else {
            observe::op!("ROLLBACK")
        };
        let span = observe::span(op, &self.shared.sql.collection);
        let timer = Timer::start(op, &span);
        let session = &mut self.session;
        let ended = if commit {
            observe::in_span(session.commit(), span).await
        } else {
            observe::in_span(session.rollback(), span).await
        };
        timer.finish(&ended);
        self.observe(&ended);
        ended
    }

    /// Commits. If an earlier statement failed (so PostgreSQL aborted the
    /// transaction), rolls back instead and returns [`Error::TransactionAborted`].
    pub async fn commit(mut self) -> Result<()> {
        if self.state == State::Aborted {
            self.end(false).await?;
            self.state = State::Finished;
            return Err(Error::TransactionAborted);
        }
        let committed = self.end(true).await;
        // The transaction's writes are visible now (or may be).
        let written = std::mem::take(&mut self.written);
        self.shared.conclude(&written, committed)?;
        self.state = State::Finished;
        Ok(())
    }

    /// Rolls back every change made in the transaction.
    pub async fn rollback(mut self) -> Result<()> {
        self.end(false).await?;
        self.state = State::Finished;
        Ok(())
    }

    /// Runs a script of statements without parameters (DDL, in the simple
    /// protocol) inside the transaction: pgkv's own schema changes.
    pub(crate) async fn execute_script(&mut self, script: impl sqlx::SqlSafeStr) -> Result<()> {
        self.sent = true;
        let result = self
            .session
            .execute(script, crate::error::write_error)
            .await
            .map(drop);
        self.observe(&result);
        result
    }

    /// A command of the transaction wrote `written`.
    pub(crate) fn wrote(&mut self, written: Written) {
        self.written.add(written);
    }

    /// A command is about to run: nothing of it has been sent yet.
    pub(crate) fn start_call(&mut self) {
        self.sent = false;
    }

    /// Looks at a finished command's (or `BEGIN`/`COMMIT`/`ROLLBACK`'s)
    /// outcome: a lost connection is not reused, and a failed statement
    /// means the server has aborted the transaction.
    pub(crate) fn observe<T>(&mut self, result: &Result<T>) {
        self.session.observe(result);
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
        Ok(self.session.wire())
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

impl fmt::Debug for Transaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transaction")
            .field("table", &self.shared.sql.table)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}
