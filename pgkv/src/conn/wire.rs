//! How a statement goes on the wire: as a named prepared statement that the
//! connection caches (the default), or unnamed, for servers reached through
//! a transaction-mode connection pooler.
//!
//! Behind such a pooler (PgBouncer `pool_mode = transaction`, Supavisor, RDS
//! Proxy) consecutive transactions of one client connection run on
//! different server connections, so a statement prepared under a name by
//! one transaction is missing, or is another client's statement, in the
//! next. Unnamed statements alone do not fix that with sqlx: it sends
//! `Parse`/`Describe` and `Bind`/`Execute` as two exchanges, each ending in
//! `Sync`, and a pooler may hand the second to another server connection,
//! which then runs whatever unnamed statement another client parsed there
//! (measured with PgBouncer 1.18: half of 9,600 concurrent queries returned
//! another statement's result). So in that mode every statement is unnamed
//! AND runs inside a transaction, which pins one server connection from
//! `BEGIN` to `COMMIT` (see `call::PooledCall`).

use std::fmt;

use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use sqlx::postgres::{PgQueryResult, PgRow, PgStatement, PgTypeInfo};
use sqlx::{Either, Execute, Executor, PgConnection, Postgres, SqlStr};

/// A connection for one statement, sending it named or unnamed as the store
/// is configured. Passed by value to sqlx's `fetch_*`/`execute`, like the
/// `&mut PgConnection` it wraps.
pub(crate) struct Wire<'c> {
    conn: &'c mut PgConnection,
    /// Send every statement unnamed (transaction-pooler mode).
    unnamed: bool,
}

impl<'c> Wire<'c> {
    pub(crate) fn new(conn: &'c mut PgConnection, unnamed: bool) -> Wire<'c> {
        Wire { conn, unnamed }
    }
}

impl fmt::Debug for Wire<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wire")
            .field("unnamed", &self.unnamed)
            .finish_non_exhaustive()
    }
}

/// A query whose statement is sent unnamed (never cached) when asked.
struct Sent<E> {
    query: E,
    unnamed: bool,
}

impl<'q, E: Execute<'q, Postgres>> Execute<'q, Postgres> for Sent<E> {
    fn sql(self) -> SqlStr {
        self.query.sql()
    }

    fn statement(&self) -> Option<&PgStatement> {
        self.query.statement()
    }

    fn take_arguments(&mut self) -> Result<Option<sqlx::postgres::PgArguments>, sqlx::error::BoxDynError> {
        self.query.take_arguments()
    }

    fn persistent(&self) -> bool {
        !self.unnamed && self.query.persistent()
    }
}

impl<'c> Executor<'c> for Wire<'c> {
    type Database = Postgres;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, Result<Either<PgQueryResult, PgRow>, sqlx::Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Postgres>,
    {
        let unnamed = self.unnamed;
        self.conn.fetch_many(Sent { query, unnamed })
    }

    fn fetch_optional<'e, 'q: 'e, E>(self, query: E) -> BoxFuture<'e, Result<Option<PgRow>, sqlx::Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Postgres>,
    {
        let unnamed = self.unnamed;
        self.conn.fetch_optional(Sent { query, unnamed })
    }

    fn prepare_with<'e>(
        self,
        sql: SqlStr,
        parameters: &'e [PgTypeInfo],
    ) -> BoxFuture<'e, Result<PgStatement, sqlx::Error>>
    where
        'c: 'e,
    {
        self.conn.prepare_with(sql, parameters)
    }

    fn describe<'e>(self, sql: SqlStr) -> BoxFuture<'e, Result<sqlx::Describe<Postgres>, sqlx::Error>>
    where
        'c: 'e,
    {
        self.conn.describe(sql)
    }
}
