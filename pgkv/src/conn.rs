//! Connections: building the pool, handing one connection to each call, and
//! throwing away connections the server has killed.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool, Postgres};

use crate::config::Config;
use crate::error::{Error, Result, classify};
use crate::input::Limits;
use crate::sql::Statements;

/// What every call of one store needs: the pool, the table's statements and
/// the input limits.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) pool: PgPool,
    pub(crate) sql: Statements,
    pub(crate) limits: Limits,
    pub(crate) health: Arc<Health>,
    /// Rows per statement in an expiry sweep.
    pub(crate) cleanup_batch: i64,
}

/// Remembers when a call last lost its connection.
///
/// The pool does not ping connections before handing them out (that would
/// add a round trip to every call). Instead, once a call has seen the server
/// drop a connection, every connection that sat idle since before that moment
/// is pinged once on its next checkout, and dropped if dead: after a server
/// restart or `pg_terminate_backend`, one call fails, not one per connection.
#[derive(Debug)]
pub(crate) struct Health {
    epoch: Instant,
    /// Milliseconds after `epoch` of the last loss, plus one; 0 = never.
    last_loss: AtomicU64,
}

impl Health {
    pub(crate) fn new() -> Health {
        Health {
            epoch: Instant::now(),
            last_loss: AtomicU64::new(0),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    pub(crate) fn mark_loss(&self) {
        self.last_loss.store(self.now_ms() + 1, Ordering::Relaxed);
    }

    /// A connection idle for `idle_for` was already idle when a loss was seen.
    fn suspect(&self, idle_for: Duration) -> bool {
        let loss = self.last_loss.load(Ordering::Relaxed);
        if loss == 0 {
            return false;
        }
        let last_used = self
            .now_ms()
            .saturating_sub(u64::try_from(idle_for.as_millis()).unwrap_or(u64::MAX));
        // `<=` with millisecond resolution: a connection returned in the same
        // millisecond is pinged needlessly, which is harmless.
        last_used <= loss
    }
}

/// Builds the store's own pool from a config.
pub(crate) async fn connect_pool(config: &Config, health: Arc<Health>) -> Result<PgPool> {
    let mut options: PgConnectOptions = config
        .url
        .parse()
        // The URL may hold a password, so it is not repeated in the message.
        .map_err(|e| Error::InvalidConfig(format!("the database URL does not parse: {e}")))?;
    if let Some(name) = &config.application_name {
        options = options.application_name(name);
    }
    PgPoolOptions::new()
        .max_connections(config.max_connections)
        .acquire_timeout(config.acquire_timeout)
        .test_before_acquire(false)
        .before_acquire(move |conn, meta| {
            let suspect = health.suspect(meta.idle_for);
            Box::pin(async move {
                if suspect {
                    // An error closes this connection and the pool tries the next one.
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
        .connect_with(options)
        .await
        .map_err(|e| classify(e, false))
}

/// Where an operation gets its connection: the pool (one checkout per call)
/// or an open transaction. Each operation is written once against this trait.
pub(crate) trait Session: Send {
    fn shared(&self) -> &Shared;

    /// The connection for the next statement.
    fn connection(&mut self) -> impl Future<Output = Result<&mut PgConnection>> + Send;
}

/// A single call's checkout from the pool.
pub(crate) struct PoolSession<'a> {
    shared: &'a Shared,
    conn: Option<PoolConnection<Postgres>>,
}

impl<'a> PoolSession<'a> {
    pub(crate) fn new(shared: &'a Shared) -> PoolSession<'a> {
        PoolSession { shared, conn: None }
    }

    /// Looks at a call's outcome: a lost connection is not returned to the
    /// pool, and makes its idle siblings suspect.
    pub(crate) fn settle<T>(mut self, result: &Result<T>) {
        if let Err(e) = result
            && e.is_connection_loss()
        {
            self.shared.health.mark_loss();
            if let Some(conn) = &mut self.conn {
                conn.close_on_drop();
            }
        }
    }
}

impl Session for PoolSession<'_> {
    fn shared(&self) -> &Shared {
        self.shared
    }

    async fn connection(&mut self) -> Result<&mut PgConnection> {
        let conn = match self.conn.take() {
            Some(conn) => conn,
            None => acquire(&self.shared.pool).await?,
        };
        Ok(&mut **self.conn.insert(conn))
    }
}

pub(crate) async fn acquire(pool: &PgPool) -> Result<PoolConnection<Postgres>> {
    pool.acquire().await.map_err(|e| classify(e, false))
}
