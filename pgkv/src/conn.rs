//! Connections: where each call gets one, how it is given back, and how
//! connections the server has killed are thrown away.
//!
//! The store keeps its own stack of idle connections. sqlx's `PoolConnection`,
//! when dropped, spawns a task that pings the server before the connection can
//! be reused: a hidden round trip per call, and a connection unavailable
//! meanwhile. A [`Lease`] instead goes back onto the stack synchronously, with
//! no round trip.
//!
//! A store made by `connect`/`with_config` opens its connections itself, and
//! `Store::pool()` is a separate, lazily connecting sqlx pool for the
//! application's own queries, so neither starves the other. A store made by
//! `from_pool` checks its connections out of the application's pool and hands
//! them back after a second unused.

use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, Executor, PgConnection, PgPool, Postgres};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::Config;
use crate::error::{Error, Result, classify};
use crate::input::Limits;
use crate::sql::Statements;

/// A connection borrowed from an application's pool and unused this long goes
/// back to it, so a store that was busy once does not keep connections the
/// application needs.
const IDLE_RETURN: Duration = Duration::from_secs(1);

/// What every call of one store needs: the connections, the table's
/// statements and the input limits.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) conns: Arc<Connections>,
    pub(crate) sql: Statements,
    pub(crate) limits: Limits,
    /// Rows per statement in an expiry sweep.
    pub(crate) cleanup_batch: i64,
}

/// Remembers when a call last lost its connection.
///
/// No connection is pinged before use (that would add a round trip to every
/// call). Instead, once a call has seen the server drop a connection, every
/// connection that sat idle since before that moment is pinged once on its
/// next checkout, and dropped if dead: after a server restart or
/// `pg_terminate_backend`, one call fails, not one per connection.
#[derive(Debug)]
struct Health {
    epoch: Instant,
    /// Microseconds after `epoch` of the last loss, plus one; 0 = never.
    last_loss: AtomicU64,
}

impl Health {
    fn new() -> Health {
        Health {
            epoch: Instant::now(),
            last_loss: AtomicU64::new(0),
        }
    }

    fn micros(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_micros()).unwrap_or(u64::MAX)
    }

    fn mark_loss(&self) {
        self.last_loss
            .store(self.micros(Instant::now()) + 1, Ordering::Relaxed);
    }

    /// A connection last used at `idle_since` was already idle when a loss was seen.
    fn suspect(&self, idle_since: Instant) -> bool {
        let loss = self.last_loss.load(Ordering::Relaxed);
        loss != 0 && self.micros(idle_since) < loss
    }
}

/// A connection the store opened itself, or one checked out of an
/// application's pool.
#[derive(Debug)]
enum Conn {
    Own(PgConnection),
    Borrowed(PoolConnection<Postgres>),
}

impl Conn {
    fn get(&mut self) -> &mut PgConnection {
        match self {
            Conn::Own(conn) => conn,
            Conn::Borrowed(conn) => conn,
        }
    }

    /// Closes the connection without reusing it.
    fn close(self) {
        match self {
            // Dropping the socket is enough: the server ends the session.
            Conn::Own(conn) => drop(conn),
            // sqlx closes a pooled connection in a spawned task, which needs
            // a runtime; without one, detach it and drop the socket.
            Conn::Borrowed(mut conn) => {
                if tokio::runtime::Handle::try_current().is_ok() {
                    conn.close_on_drop();
                } else {
                    drop(conn.detach());
                }
            }
        }
    }
}

#[derive(Debug)]
struct Idle {
    conn: Conn,
    since: Instant,
}

/// Where new connections come from.
#[derive(Debug)]
enum Source {
    /// Opened by the store, with these options.
    Open(Box<PgConnectOptions>),
    /// Checked out of the application's pool.
    Borrow,
}

/// The store's connections: where they come from, and the stack of idle
/// ones ready for the next call.
#[derive(Debug)]
pub(crate) struct Connections {
    /// `Store::pool()`: the application's pool, or a lazy one of our own.
    pool: PgPool,
    source: Source,
    /// Most recently used last: reuse keeps the warmest connections busy and
    /// lets the rest age out back to the pool.
    idle: Mutex<Vec<Idle>>,
    /// One permit per connection the store may hold, so waiting for a
    /// connection never depends on the sqlx pool noticing our returns.
    permits: Arc<Semaphore>,
    acquire_timeout: Duration,
    health: Health,
}

impl Connections {
    /// Connections the store opens itself with `options`; `pool` is only
    /// for `Store::pool()`.
    pub(crate) fn open(
        options: PgConnectOptions,
        pool: PgPool,
        max: u32,
        timeout: Duration,
    ) -> Arc<Connections> {
        Connections::new(pool, Source::Open(Box::new(options)), max, timeout)
    }

    /// Connections checked out of an application's pool, at most `max` at once.
    pub(crate) fn borrow(pool: PgPool, max: u32, timeout: Duration) -> Arc<Connections> {
        Connections::new(pool, Source::Borrow, max, timeout)
    }

    fn new(pool: PgPool, source: Source, max: u32, acquire_timeout: Duration) -> Arc<Connections> {
        Arc::new(Connections {
            pool,
            source,
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(usize::try_from(max).unwrap_or(usize::MAX))),
            acquire_timeout,
            health: Health::new(),
        })
    }

    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// One connection for one call or one transaction. Waits at most the
    /// acquire timeout, then fails with the recoverable `PoolTimedOut`.
    pub(crate) async fn lease(self: &Arc<Self>) -> Result<Lease> {
        let waiting = tokio::time::timeout(self.acquire_timeout, self.permits.clone().acquire_owned());
        let permit = match waiting.await {
            Ok(Ok(permit)) => permit,
            // Timed out, or (never, as the semaphore is not closed) closed.
            Ok(Err(_)) | Err(_) => return Err(Error::PoolTimedOut),
        };
        while let Some(idle) = self.pop_idle() {
            let mut conn = idle.conn;
            if self.health.suspect(idle.since) && conn.get().ping().await.is_err() {
                conn.close();
                continue;
            }
            return Ok(self.lease_of(conn, permit));
        }
        let conn = match &self.source {
            Source::Open(options) => {
                match tokio::time::timeout(self.acquire_timeout, PgConnection::connect_with(options)).await {
                    Ok(connected) => Conn::Own(connected.map_err(|e| classify(e, false))?),
                    Err(_) => return Err(Error::PoolTimedOut),
                }
            }
            Source::Borrow => Conn::Borrowed(self.pool.acquire().await.map_err(|e| classify(e, false))?),
        };
        Ok(self.lease_of(conn, permit))
    }

    fn lease_of(self: &Arc<Self>, conn: Conn, permit: OwnedSemaphorePermit) -> Lease {
        Lease {
            conns: self.clone(),
            conn: Some(conn),
            discard: false,
            roll_back: false,
            permit: Some(permit),
        }
    }

    fn pop_idle(&self) -> Option<Idle> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner).pop()
    }

    /// Puts a connection back on the stack; a borrowed connection idle for
    /// a while goes back to the application's pool.
    fn give_back(&self, conn: Conn) {
        let now = Instant::now();
        let stale = {
            let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
            idle.push(Idle { conn, since: now });
            match idle.first() {
                Some(Idle {
                    conn: Conn::Borrowed(_),
                    since,
                }) if now.duration_since(*since) > IDLE_RETURN => Some(idle.remove(0)),
                _ => None,
            }
        };
        // Dropped outside the lock: sqlx's return path spawns a task.
        drop(stale);
    }
}

impl Drop for Connections {
    fn drop(&mut self) {
        // A `PoolConnection` dropped outside a tokio runtime panics (sqlx
        // spawns its return task). When the last store handle goes away
        // outside one, close the idle connections directly instead.
        if tokio::runtime::Handle::try_current().is_err() {
            let idle = std::mem::take(self.idle.get_mut().unwrap_or_else(PoisonError::into_inner));
            for Idle { conn, .. } in idle {
                conn.close();
            }
        }
    }
}

/// A connection checked out for one call or one transaction; it goes back
/// to the store's idle stack when dropped, unless marked for discarding.
///
/// A call cancelled mid-statement returns its connection with the reply
/// still pending; sqlx reads and discards that reply before the next
/// statement on it, so the next caller is not confused by it.
#[derive(Debug)]
pub(crate) struct Lease {
    conns: Arc<Connections>,
    conn: Option<Conn>,
    discard: bool,
    roll_back: bool,
    /// Held until the connection is back on the stack (or closed).
    permit: Option<OwnedSemaphorePermit>,
}

impl Lease {
    /// Closes the connection instead of reusing it.
    pub(crate) fn discard(&mut self) {
        self.discard = true;
    }

    /// Rolls back whatever transaction may be open before the connection is
    /// reused: used when a transaction is dropped unfinished (or its `BEGIN`
    /// or `COMMIT` was cancelled midway).
    pub(crate) fn roll_back_on_drop(&mut self) {
        self.roll_back = true;
    }

    /// Records that the server dropped this connection: it is discarded, and
    /// its idle siblings will be checked before their next use.
    pub(crate) fn lost(&mut self) {
        self.conns.health.mark_loss();
        self.discard();
    }
}

impl Deref for Lease {
    type Target = PgConnection;

    fn deref(&self) -> &PgConnection {
        match &self.conn {
            Some(Conn::Own(conn)) => conn,
            Some(Conn::Borrowed(conn)) => conn,
            None => unreachable!("a lease holds its connection until dropped"),
        }
    }
}

impl DerefMut for Lease {
    fn deref_mut(&mut self) -> &mut PgConnection {
        match &mut self.conn {
            Some(conn) => conn.get(),
            None => unreachable!("a lease holds its connection until dropped"),
        }
    }
}

/// How long a dropped transaction's `ROLLBACK` may take before its
/// connection is closed instead (the statement in flight may be waiting for a
/// lock).
const ROLLBACK_TIMEOUT: Duration = Duration::from_secs(5);

impl Drop for Lease {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        if self.discard {
            conn.close();
            return;
        }
        if !self.roll_back {
            self.conns.give_back(conn);
            return;
        }
        // Closing instead would make every cancelled transaction cost a new
        // connection, and callers that keep cancelling would then spend
        // their time budgets reconnecting and starve everyone else. The
        // ROLLBACK runs in a task that keeps this lease's permit, so the
        // connection is not handed out until it is clean.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            conn.close();
            return;
        };
        let conns = self.conns.clone();
        let permit = self.permit.take();
        runtime.spawn(async move {
            let mut conn = conn;
            let rolled_back = tokio::time::timeout(ROLLBACK_TIMEOUT, conn.get().execute("ROLLBACK")).await;
            if matches!(rolled_back, Ok(Ok(_))) {
                conns.give_back(conn);
            } else {
                conn.close();
            }
            drop(permit);
        });
    }
}

/// The connections of a store made from a config: opened by the store, with
/// a lazily connecting sqlx pool beside them for `Store::pool()`.
pub(crate) fn open_connections(config: &Config) -> Result<Arc<Connections>> {
    let mut options: PgConnectOptions = config
        .url
        .parse()
        // The URL may hold a password, so it is not repeated in the message.
        .map_err(|e| Error::InvalidConfig(format!("the database URL does not parse: {e}")))?;
    if let Some(name) = &config.application_name {
        options = options.application_name(name);
    }
    let pool = PgPoolOptions::new()
        .max_connections(config.max_connections)
        .acquire_timeout(config.acquire_timeout)
        .connect_lazy_with(options.clone());
    Ok(Connections::open(
        options,
        pool,
        config.max_connections,
        config.acquire_timeout,
    ))
}

/// Where an operation gets its connection: a lease per call, or an open
/// transaction. Each operation is written once against this trait.
pub(crate) trait Session: Send {
    fn shared(&self) -> &Shared;

    /// The connection for the next statement.
    fn connection(&mut self) -> impl Future<Output = Result<&mut PgConnection>> + Send;
}

/// A single call's connection, leased on first use.
pub(crate) struct PoolSession<'a> {
    shared: &'a Shared,
    lease: Option<Lease>,
}

impl<'a> PoolSession<'a> {
    pub(crate) fn new(shared: &'a Shared) -> PoolSession<'a> {
        PoolSession { shared, lease: None }
    }

    /// Looks at a call's outcome: a lost connection is not reused, and makes
    /// its idle siblings suspect.
    pub(crate) fn settle<T>(mut self, result: &Result<T>) {
        if let Err(e) = result
            && e.is_connection_loss()
        {
            match &mut self.lease {
                Some(lease) => lease.lost(),
                None => self.shared.conns.health.mark_loss(),
            }
        }
    }
}

impl Session for PoolSession<'_> {
    fn shared(&self) -> &Shared {
        self.shared
    }

    async fn connection(&mut self) -> Result<&mut PgConnection> {
        let lease = match self.lease.take() {
            Some(lease) => lease,
            None => self.shared.conns.lease().await?,
        };
        Ok(&mut **self.lease.insert(lease))
    }
}
