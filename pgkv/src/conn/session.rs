//! The one connection a save or a load runs on, and what becomes of it when
//! the call ends early.

use std::sync::Arc;

use sqlx::PgConnection;
use sqlx::postgres::PgRow;

use crate::conn::{Connections, Lease};
use crate::error::{Error, Result};
use crate::sql::Sql;

/// A leased connection with an explicit transaction on it.
///
/// Dropped early (an error, or the call's future cancelled), it leaves the
/// connection to the lease's recovery: a statement cut off is drained or
/// cancelled on the server, an open transaction rolled back. In the middle
/// of a `COPY` neither works (the server keeps streaming, or waits for more
/// data), so the connection is closed instead, which ends the `COPY` and
/// rolls its transaction back on the server.
#[derive(Debug)]
pub(crate) struct Session {
    lease: Lease,
    /// `BEGIN` was sent and no `COMMIT`/`ROLLBACK` completed.
    open: bool,
    /// A `COPY` is under way.
    streaming: bool,
}

impl Session {
    /// Leases a connection and starts a transaction with `begin`.
    pub(crate) async fn begin(conns: &Arc<Connections>, begin: &Sql) -> Result<Session> {
        let lease = conns.lease().await?;
        let mut session = Session {
            lease,
            open: true,
            streaming: false,
        };
        session.execute(begin, crate::error::read_error).await?;
        Ok(session)
    }

    /// Runs a statement without parameters that returns no rows, in the
    /// simple protocol: one exchange, so `BEGIN` itself cannot be split
    /// across server connections behind a transaction-mode pooler.
    pub(crate) async fn execute(&mut self, sql: &Sql, classify: fn(sqlx::Error) -> Error) -> Result<u64> {
        let result = sqlx::raw_sql(sql.query())
            .execute(self.lease.wire())
            .await
            .map(|done| done.rows_affected())
            .map_err(classify);
        self.lease.observe(&result);
        result
    }

    /// Runs a statement that returns one row.
    pub(crate) async fn fetch_one(&mut self, sql: &Sql, classify: fn(sqlx::Error) -> Error) -> Result<PgRow> {
        let result = sqlx::query(sql.query())
            .fetch_one(self.lease.wire())
            .await
            .map_err(classify);
        self.lease.observe(&result);
        result
    }

    /// Runs a statement with one text parameter that returns one row.
    pub(crate) async fn fetch_one_with(
        &mut self,
        sql: &Sql,
        param: &str,
        classify: fn(sqlx::Error) -> Error,
    ) -> Result<PgRow> {
        let result = sqlx::query(sql.query())
            .bind(param)
            .fetch_one(self.lease.wire())
            .await
            .map_err(classify);
        self.lease.observe(&result);
        result
    }

    /// Runs a statement with two integer parameters that returns one row.
    pub(crate) async fn fetch_one_with_limits(
        &mut self,
        sql: &Sql,
        first: i64,
        second: i64,
        classify: fn(sqlx::Error) -> Error,
    ) -> Result<PgRow> {
        let result = sqlx::query(sql.query())
            .bind(first)
            .bind(second)
            .fetch_one(self.lease.wire())
            .await
            .map_err(classify);
        self.lease.observe(&result);
        result
    }

    /// The connection, for a `COPY`: until [`copy_ended`](Self::copy_ended),
    /// dropping the session closes the connection.
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
    /// [`Error::OutcomeUnknown`]).
    pub(crate) async fn commit(mut self, commit: &Sql) -> Result<()> {
        self.execute(commit, crate::error::write_error).await?;
        self.open = false;
        Ok(())
    }

    /// Rolls back now, so the locks go before the caller hears of the
    /// error; if that fails, the lease's recovery (or closing) does it.
    pub(crate) async fn abandon(mut self, rollback: &Sql) {
        if !self.streaming && self.execute(rollback, crate::error::read_error).await.is_ok() {
            self.open = false;
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if self.streaming {
            self.lease.discard();
        } else if self.open {
            self.lease.roll_back_on_drop();
        }
    }
}
