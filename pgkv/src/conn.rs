//! Connections: where each call gets one, how it is given back, what
//! happens to a connection whose statement was cut off, and how connections
//! the server has killed are thrown away.
//!
//! The store keeps its own stack of idle connections. sqlx's `PoolConnection`,
//! when dropped, spawns a task that pings the server before the connection can
//! be reused: a hidden round trip per call, and a connection unavailable
//! meanwhile. A [`Lease`] instead goes back onto the stack synchronously, with
//! no round trip, when its call finished cleanly.
//!
//! A call cancelled while its statement is on the wire (a `tokio::time::timeout`
//! that fires, a dropped future) leaves the server still working on it, and
//! its reply (possibly an error) still unread. sqlx would hand that reply to
//! the next query on the connection, and the next caller would first wait for
//! the old statement. Such a lease is never put back as it is: a background
//! task waits briefly for the statement to end, reads its reply, and only then
//! returns the connection; if it does not end in time (it is waiting for a
//! lock, say), the task cancels it on the server and closes the connection.

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};
use std::time::{Duration, Instant};

use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, Executor, PgConnection, PgPool, Postgres};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::Config;
use crate::error::{Error, Result, classify};

/// A connection borrowed from an application's pool and unused this long goes
/// back to it, so a store that was busy once does not keep connections the
/// application needs.
const IDLE_RETURN: Duration = Duration::from_secs(1);

/// How long a statement cut off by a cancelled call may take to finish by
/// itself before it is cancelled on the server. Ordinary statements end in
/// well under a millisecond; one still running after this is waiting for
/// something (a row lock, usually) and would hold the connection hostage.
const DRAIN_GRACE: Duration = Duration::from_millis(100);

/// Bound on opening the side connection that sends a cancel, and on the
/// cancelled statement's reply.
const CANCEL_DEADLINE: Duration = Duration::from_secs(5);

/// How long a dropped transaction's `ROLLBACK` may take before its
/// connection is closed instead.
const ROLLBACK_TIMEOUT: Duration = Duration::from_secs(5);

/// Timeouts longer than this are treated as this (about a century): sqlx and
/// `Instant` arithmetic overflow on `Duration::MAX`, and no caller can tell
/// the difference.
pub(crate) const FOREVER: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// Remembers when a call last lost its connection.
///
/// No connection is pinged before use (that would add a round trip to every
/// call). Instead, once a call has seen the server drop a connection, every
/// connection that sat idle since before that moment is pinged once on its
/// next checkout, and dropped if dead: after a server restart or
/// `pg_terminate_backend`, calls made one at a time see one failure, not one
/// per connection (calls already in flight at that moment fail too).
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
            .store(self.micros(Instant::now()).saturating_add(1), Ordering::Relaxed);
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
enum Link {
    Own(PgConnection),
    Borrowed(PoolConnection<Postgres>),
}

/// One server connection and what the store knows about it.
#[derive(Debug)]
struct Conn {
    link: Link,
    /// The server process, for cancelling a statement that was cut off.
    pid: i32,
    /// When it was opened (or checked out of the application's pool).
    born: Instant,
}

impl Conn {
    fn get(&mut self) -> &mut PgConnection {
        match &mut self.link {
            Link::Own(conn) => conn,
            Link::Borrowed(conn) => conn,
        }
    }

    /// Closes the connection without reusing it.
    fn close(self) {
        match self.link {
            // Dropping the socket is enough: the server ends the session.
            Link::Own(conn) => drop(conn),
            // sqlx closes a pooled connection in a spawned task, which needs
            // a runtime; without one, detach it and drop the socket.
            Link::Borrowed(mut conn) => {
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
    /// Opened by the store, with these options. `app_pool` is
    /// `Store::pool()`, made on first use.
    Open {
        options: Box<PgConnectOptions>,
        app_pool: OnceLock<PgPool>,
        runtime: tokio::runtime::Handle,
    },
    /// Checked out of the application's pool (which is `Store::pool()`).
    Borrow(PgPool),
}

/// Sizes and times of a store's connections, from its [`Config`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct PoolLimits {
    pub(crate) max: u32,
    pub(crate) acquire_timeout: Duration,
    pub(crate) idle_timeout: Duration,
    pub(crate) max_lifetime: Duration,
}

impl PoolLimits {
    pub(crate) fn of(config: &Config) -> PoolLimits {
        PoolLimits {
            max: config.max_connections,
            acquire_timeout: config.acquire_timeout.min(FOREVER),
            idle_timeout: config.idle_timeout.min(FOREVER),
            max_lifetime: config.max_lifetime.min(FOREVER),
        }
    }
}

/// The store's connections: where they come from, and the stack of idle
/// ones ready for the next call.
#[derive(Debug)]
pub(crate) struct Connections {
    source: Source,
    /// Most recently used last: reuse keeps the warmest connections busy and
    /// lets the rest age out.
    idle: Mutex<Vec<Idle>>,
    /// One permit per connection the store may hold, so waiting for a
    /// connection never depends on the sqlx pool noticing our returns. A
    /// connection being recovered after a cancelled call keeps its permit.
    permits: Arc<Semaphore>,
    limits: PoolLimits,
    health: Health,
}

impl Connections {
    /// Connections the store opens itself with `options`.
    pub(crate) fn open(options: PgConnectOptions, limits: PoolLimits) -> Arc<Connections> {
        let source = Source::Open {
            options: Box::new(options),
            app_pool: OnceLock::new(),
            runtime: tokio::runtime::Handle::current(),
        };
        Connections::new(source, limits)
    }

    /// Connections checked out of an application's pool, at most `max` at once.
    pub(crate) fn borrow(pool: PgPool, limits: PoolLimits) -> Arc<Connections> {
        Connections::new(Source::Borrow(pool), limits)
    }

    fn new(source: Source, limits: PoolLimits) -> Arc<Connections> {
        let conns = Arc::new(Connections {
            source,
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(usize::try_from(limits.max).unwrap_or(usize::MAX))),
            limits,
            health: Health::new(),
        });
        // Idle connections are reaped on a timer, not only when another call
        // comes by: a store used once must still give its connections back.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(reap(Arc::downgrade(&conns), conns.reap_tick()));
        }
        conns
    }

    /// `Store::pool()`: the application's pool, or one of our own made on
    /// first use (so a store whose `pool()` is never called holds no second
    /// set of connections).
    pub(crate) fn pool(&self) -> &PgPool {
        match &self.source {
            Source::Borrow(pool) => pool,
            Source::Open {
                options,
                app_pool,
                runtime,
            } => app_pool.get_or_init(|| {
                // sqlx spawns the pool's maintenance task when it is made.
                let _entered = match tokio::runtime::Handle::try_current() {
                    Ok(_) => None,
                    Err(_) => Some(runtime.enter()),
                };
                PgPoolOptions::new()
                    .max_connections(self.limits.max)
                    .acquire_timeout(self.limits.acquire_timeout)
                    .idle_timeout(self.limits.idle_timeout)
                    .max_lifetime(self.limits.max_lifetime)
                    .connect_lazy_with((**options).clone())
            }),
        }
    }

    /// One connection for one call or one transaction. The whole checkout
    /// (waiting for a permit, checking a suspect connection, connecting)
    /// takes at most the acquire timeout, then fails with the recoverable
    /// `PoolTimedOut`.
    pub(crate) async fn lease(self: &Arc<Self>) -> Result<Lease> {
        match tokio::time::timeout(self.limits.acquire_timeout, self.lease_unbounded()).await {
            Ok(leased) => leased,
            Err(_) => Err(Error::PoolTimedOut),
        }
    }

    async fn lease_unbounded(self: &Arc<Self>) -> Result<Lease> {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Error::Closed)?;
        while let Some(idle) = self.pop_idle() {
            let mut conn = idle.conn;
            if self.health.suspect(idle.since) && conn.get().ping().await.is_err() {
                conn.close();
                continue;
            }
            return Ok(self.lease_of(conn, permit));
        }
        let conn = self.connect().await?;
        Ok(self.lease_of(conn, permit))
    }

    async fn connect(&self) -> Result<Conn> {
        let mut link = match &self.source {
            Source::Open { options, .. } => Link::Own(
                PgConnection::connect_with(options)
                    .await
                    .map_err(|e| connect_error(e, options))?,
            ),
            Source::Borrow(pool) => Link::Borrowed(pool.acquire().await.map_err(|e| classify(e, false))?),
        };
        // sqlx keeps the backend's cancel key to itself, so ask for the
        // process id once per connection (not per call).
        let conn = match &mut link {
            Link::Own(conn) => conn,
            Link::Borrowed(conn) => &mut **conn,
        };
        let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(conn)
            .await
            .map_err(|e| classify(e, false))?;
        Ok(Conn {
            link,
            pid,
            born: Instant::now(),
        })
    }

    fn lease_of(self: &Arc<Self>, conn: Conn, permit: OwnedSemaphorePermit) -> Lease {
        Lease {
            conns: self.clone(),
            conn: Some(conn),
            in_flight: false,
            discard: false,
            roll_back: false,
            permit: Some(permit),
        }
    }

    fn pop_idle(&self) -> Option<Idle> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner).pop()
    }

    /// Puts a clean connection back on the stack, unless it has outlived
    /// `max_lifetime`.
    fn give_back(&self, conn: Conn) {
        if conn.born.elapsed() >= self.limits.max_lifetime {
            conn.close();
            return;
        }
        let idle = Idle {
            conn,
            since: Instant::now(),
        };
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(idle);
    }

    /// How long a connection may sit idle on the stack.
    fn idle_limit(&self, conn: &Conn) -> Duration {
        match conn.link {
            Link::Own(_) => self.limits.idle_timeout,
            Link::Borrowed(_) => IDLE_RETURN.min(self.limits.idle_timeout),
        }
    }

    fn reap_tick(&self) -> Duration {
        let shortest = match self.source {
            Source::Open { .. } => self.limits.idle_timeout.min(self.limits.max_lifetime),
            Source::Borrow(_) => IDLE_RETURN,
        };
        (shortest / 2).clamp(Duration::from_millis(100), Duration::from_secs(30))
    }

    /// Closes (or returns to the application's pool) the idle connections
    /// that sat unused too long or are too old.
    fn reap_idle(&self) {
        let now = Instant::now();
        let stale: Vec<Idle> = {
            let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
            idle.extract_if(.., |i| {
                now.duration_since(i.since) >= self.idle_limit(&i.conn)
                    || now.duration_since(i.conn.born) >= self.limits.max_lifetime
            })
            .collect()
        };
        // Closed outside the lock: sqlx's return path spawns a task.
        for Idle { conn, .. } in stale {
            conn.close();
        }
    }

    /// Records that a call saw the server drop a connection.
    pub(crate) fn mark_loss(&self) {
        self.health.mark_loss();
    }

    /// Connection counts right now.
    pub(crate) fn status(&self) -> (usize, usize, usize) {
        let idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner).len();
        let max = usize::try_from(self.limits.max).unwrap_or(usize::MAX);
        let in_use = max.saturating_sub(self.permits.available_permits());
        (in_use, idle, max)
    }

    /// Waits for every call in flight to give its connection back, then
    /// closes them all; later calls fail with [`Error::Closed`].
    pub(crate) async fn close(&self) {
        let all = self.limits.max;
        // Holding every permit means no call holds a connection; the permits
        // are forgotten, so nothing can take one again.
        if let Ok(permits) = self.permits.acquire_many(all).await {
            permits.forget();
        }
        self.permits.close();
        let idle = std::mem::take(&mut *self.idle.lock().unwrap_or_else(PoisonError::into_inner));
        for Idle { conn, .. } in idle {
            match conn.link {
                Link::Own(conn) => drop(conn.close().await),
                Link::Borrowed(conn) => drop(conn),
            }
        }
        if let Source::Open { app_pool, .. } = &self.source
            && let Some(pool) = app_pool.get()
        {
            pool.close().await;
        }
    }

    /// Options for a side connection that can cancel a statement.
    fn connect_options(&self) -> PgConnectOptions {
        match &self.source {
            Source::Open { options, .. } => (**options).clone(),
            Source::Borrow(pool) => (*pool.connect_options()).clone(),
        }
    }

    /// Brings a connection whose call ended abnormally back to a clean state,
    /// or closes it. `in_flight`: a statement may still be running or its
    /// reply unread; `roll_back`: a transaction may be open.
    async fn recover(&self, mut conn: Conn, in_flight: bool, roll_back: bool) -> Option<Conn> {
        if in_flight && !drain(conn.get(), DRAIN_GRACE).await {
            // Still running: stop it on the server, so it neither keeps its
            // locks nor applies later, then close. (Reusing the connection
            // instead would race the cancel signal against the next caller's
            // statement.)
            self.cancel(conn.pid).await;
            drain(conn.get(), CANCEL_DEADLINE).await;
            conn.close();
            return None;
        }
        if roll_back {
            let rolled_back = tokio::time::timeout(ROLLBACK_TIMEOUT, conn.get().execute("ROLLBACK")).await;
            if !matches!(rolled_back, Ok(Ok(_))) {
                conn.close();
                return None;
            }
        }
        Some(conn)
    }

    /// Asks the server to cancel whatever backend `pid` is running, from a
    /// short-lived side connection (sqlx exposes no cancel key). That
    /// connection is not counted against `max_connections`.
    async fn cancel(&self, pid: i32) {
        let options = self.connect_options();
        let cancel = async {
            let mut side = PgConnection::connect_with(&options).await?;
            let sent: bool = sqlx::query_scalar("SELECT pg_cancel_backend($1)")
                .bind(pid)
                .fetch_one(&mut side)
                .await?;
            let _ = side.close().await;
            Ok::<bool, sqlx::Error>(sent)
        };
        match tokio::time::timeout(CANCEL_DEADLINE, cancel).await {
            Ok(Ok(true)) => {}
            outcome => tracing::warn!(
                target: "pgkv::conn",
                pid,
                ?outcome,
                "could not cancel a statement cut off by a cancelled call; closing its connection"
            ),
        }
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

/// Reads whatever reply is pending on `conn` (the end of a statement that was
/// cut off, possibly its error) until the connection is idle. False if that
/// did not happen within `within` or the connection is broken.
async fn drain(conn: &mut PgConnection, within: Duration) -> bool {
    let settle = async {
        // A pending error comes out of the first ping; the second then finds
        // the connection idle. A third failure means the link itself is bad.
        for _ in 0..3 {
            if conn.ping().await.is_ok() {
                return true;
            }
        }
        false
    };
    tokio::time::timeout(within, settle).await.unwrap_or(false)
}

/// The idle reaper: runs while the store exists.
async fn reap(conns: Weak<Connections>, tick: Duration) {
    let mut ticks = tokio::time::interval(tick);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(conns) = conns.upgrade() else { return };
        if conns.permits.is_closed() {
            return;
        }
        conns.reap_idle();
    }
}

/// A refused or failed connection attempt, naming where it went (never the
/// password).
fn connect_error(e: sqlx::Error, options: &PgConnectOptions) -> Error {
    match e {
        sqlx::Error::Io(io) => Error::Connect {
            host: options.get_host().to_owned(),
            port: options.get_port(),
            source: sqlx::Error::Io(io),
        },
        other => classify(other, false),
    }
}

/// A connection checked out for one call or one transaction; it goes back
/// to the store's idle stack when dropped, once known to be clean.
#[derive(Debug)]
pub(crate) struct Lease {
    conns: Arc<Connections>,
    conn: Option<Conn>,
    /// A statement was handed this connection and has not been seen to end.
    in_flight: bool,
    discard: bool,
    roll_back: bool,
    /// Held until the connection is back on the stack (or closed).
    permit: Option<OwnedSemaphorePermit>,
}

impl Lease {
    /// The connection, for a statement about to be sent. Until
    /// [`settled`](Self::settled) is called, dropping the lease treats the
    /// statement as cut off.
    pub(crate) fn for_statement(&mut self) -> &mut PgConnection {
        self.in_flight = true;
        &mut *self
    }

    /// The statements sent so far have ended (successfully or not).
    pub(crate) fn settled(&mut self) {
        self.in_flight = false;
    }

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

    /// Looks at a finished call's outcome: a lost connection is not reused,
    /// and makes its idle siblings suspect.
    pub(crate) fn observe<T>(&mut self, result: &Result<T>) {
        self.settled();
        if let Err(e) = result
            && e.is_connection_loss()
        {
            self.lost();
        }
    }
}

impl Deref for Lease {
    type Target = PgConnection;

    fn deref(&self) -> &PgConnection {
        match self.conn.as_ref().map(|c| &c.link) {
            Some(Link::Own(conn)) => conn,
            Some(Link::Borrowed(conn)) => conn,
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

impl Drop for Lease {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        if self.discard {
            conn.close();
            return;
        }
        if !self.in_flight && !self.roll_back {
            self.conns.give_back(conn);
            return;
        }
        // Recovery runs in a task that keeps this lease's permit, so the
        // connection is not handed out until it is clean. Closing instead
        // would make every cancelled call cost a new connection, and callers
        // that keep cancelling would then spend their time budgets
        // reconnecting and starve everyone else.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            conn.close();
            return;
        };
        let conns = self.conns.clone();
        let permit = self.permit.take();
        let (in_flight, roll_back) = (self.in_flight, self.roll_back);
        runtime.spawn(async move {
            if let Some(conn) = conns.recover(conn, in_flight, roll_back).await {
                conns.give_back(conn);
            }
            drop(permit);
        });
    }
}

/// The connections of a store made from a config, opened by the store.
pub(crate) fn open_connections(config: &Config) -> Result<Arc<Connections>> {
    let mut options: PgConnectOptions = config
        .url
        .parse()
        // The URL may hold a password, so it is not repeated in the message.
        .map_err(|e| Error::InvalidConfig(format!("the database URL does not parse: {e}")))?;
    if let Some(name) = &config.application_name {
        options = options.application_name(name);
    }
    Ok(Connections::open(options, PoolLimits::of(config)))
}
