//! [`Session`]: a leased connection inside an explicit transaction, the one
//! way pgkv holds a transaction open across statements: a user's
//! `Transaction`, a snapshot's save or load, the near-cache's installation,
//! the table's creation.

use std::sync::Arc;

use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::Query;
use sqlx::{PgConnection, Postgres, SqlSafeStr};

use crate::conn::wire::Wire;
use crate::conn::{Connections, Lease};
use crate::error::{Error, Result};

/// A leased connection with an explicit transaction on it, from `BEGIN` to
/// [`commit`](Self::commit) or [`rollback`](Self::rollback).
///
/// Dropped before either completes (an error, or the call's future
/// cancelled), it leaves the connection to the lease's recovery: a statement
/// cut off is drained or cancelled on the server, the transaction rolled
/// back, before the connection is reused. In the middle of a `COPY` neither
/// works (the server keeps streaming, or waits for more data), so the
/// connection is closed instead, which ends the `COPY` and rolls its
/// transaction back on the server.
///
/// Behind a transaction-mode pooler the transaction also pins one server
/// connection, so unnamed statements sent through [`wire`](Self::wire) run
/// where they were parsed.
#[derive(Debug)]
pub(crate) struct Session {
    lease: Lease,
    /// A `COPY` is under way.
    streaming: bool,
}

impl Session {
    /// Leases a connection and opens a transaction with `begin` (`"BEGIN"`,
    /// or a statement naming an isolation level).
    pub(crate) async fn begin(conns: &Arc<Connections>, begin: impl SqlSafeStr) -> Result<Session> {
        let mut lease = conns.lease().await?;
        lease.begin_transaction(begin).await?;
        Ok(Session {
            lease,
            streaming: false,
        })
    }

    /// Runs a statement (or a script of several) without parameters that
    /// returns no rows, in the simple protocol.
    pub(crate) async fn execute(
        &mut self,
        statement: impl SqlSafeStr,
        classify: fn(sqlx::Error) -> Error,
    ) -> Result<u64> {
        self.lease.simple(statement, classify).await
    }

    /// The connection for one statement with parameters; hand its outcome
    /// to [`observe`](Self::observe).
    pub(crate) fn wire(&mut self) -> Wire<'_> {
        self.lease.wire()
    }

    /// Looks at a statement's outcome: a lost connection is not reused.
    pub(crate) fn observe<T>(&mut self, result: &Result<T>) {
        self.lease.observe(result);
    }

    /// Runs a statement that returns one row: `sqlx::query` of one of the
    /// statements in `sql/`, with its parameters bound.
    pub(crate) async fn fetch_one(
        &mut self,
        query: Query<'_, Postgres, PgArguments>,
        classify: fn(sqlx::Error) -> Error,
    ) -> Result<PgRow> {
        let result = query.fetch_one(self.wire()).await.map_err(classify);
        self.observe(&result);
        result
    }

    /// The connection, for a `COPY`: until [`copy_over`](Self::copy_over)
    /// says it ended cleanly, dropping the session closes the connection.
    pub(crate) fn start_copy(&mut self) -> &mut PgConnection {
        self.streaming = true;
        self.lease.for_statement()
    }

    /// The `COPY` has ended with `outcome`, which is looked at for a lost
    /// connection. `clean`: the server answered its end (a finish or an
    /// abort), so the connection is ready for the next statement; otherwise
    /// it is closed when the session drops.
    pub(crate) fn copy_over<T>(&mut self, outcome: &Result<T>, clean: bool) {
        self.lease.observe(outcome);
        if clean {
            self.streaming = false;
        }
    }

    /// Commits (`COMMIT` decides the writes: a lost connection is
    /// [`Error::OutcomeUnknown`]). After an error, dropping the session
    /// still rolls back whatever is open.
    pub(crate) async fn commit(&mut self) -> Result<()> {
        self.lease.end_transaction(true).await
    }

    /// Rolls back.
    pub(crate) async fn rollback(&mut self) -> Result<()> {
        self.lease.end_transaction(false).await
    }

    /// Rolls back now, so the locks go before the caller hears of the
    /// error; if that fails, the lease's recovery (or closing) does it.
    pub(crate) async fn abandon(mut self) {
        if !self.streaming {
            let _ = self.rollback().await;
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if self.streaming {
            self.lease.discard();
        }
    }
}
