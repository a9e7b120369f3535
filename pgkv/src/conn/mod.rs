//! Connections: where each call gets one, how it is given back, what
//! happens to a connection whose statement was cut off, and how connections
//! the server has killed are thrown away.
//!
//! The store's connections live in a [`deadpool`] pool of its own (sqlx's
//! `PoolConnection`, when dropped, spawns a task that pings the server before
//! the connection can be reused: a hidden round trip per call, and a
//! connection unavailable meanwhile). A [`Lease`] goes back to the pool
//! synchronously, with no round trip, when its call finished cleanly; the
//! [`Manager`] opens connections (or borrows them from an application's sqlx
//! pool) and, on checkout, refuses ones that are too old or, after a loss was
//! seen, dead.
//!
//! A call cancelled while its statement is on the wire (a `tokio::time::timeout`
//! that fires, a dropped future) leaves the server still working on it, and
//! its reply (possibly an error) still unread. sqlx would hand that reply to
//! the next query on the connection, and the next caller would first wait for
//! the old statement. Such a lease is never put back as it is: a background
//! task waits briefly for the statement to end, reads its reply, and only then
//! returns the connection; if it does not end in time (it is waiting for a
//! lock, say), the task cancels it on the server and closes the connection.

pub(crate) mod session;
pub(crate) mod wire;

use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

use deadpool::managed;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, Executor, PgConnection, PgPool, Postgres, SqlSafeStr};
use tokio::sync::Notify;

use crate::config::Config;
use crate::conn::wire::Wire;
use crate::error::{Error, Result, read_error, write_error};

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
    /// `None` only while being dropped.
    Borrowed(Option<PoolConnection<Postgres>>),
}

/// One server connection and what the store knows about it.
#[derive(Debug)]
pub(crate) struct Conn {
    link: Link,
    /// The server process, for cancelling a statement that was cut off;
    /// unknown behind a transaction-mode pooler.
    pid: Option<i32>,
    /// When it was opened (or checked out of the application's pool).
    born: Instant,
    /// When it last went back to the pool.
    idle_since: Instant,
}

impl Conn {
    fn get(&mut self) -> &mut PgConnection {
        match &mut self.link {
            Link::Own(conn) => conn,
            Link::Borrowed(Some(conn)) => conn,
            Link::Borrowed(None) => unreachable!("a borrowed connection is present until dropped"),
        }
    }

    fn is_borrowed(&self) -> bool {
        matches!(self.link, Link::Borrowed(_))
    }

    /// Makes dropping it close the connection: a borrowed one would
    /// otherwise go back to the application's pool as it is (sqlx checks it
    /// with a ping, which passes inside an open or aborted transaction).
    fn close_on_drop(&mut self) {
        if let Link::Borrowed(Some(conn)) = &mut self.link {
            conn.close_on_drop();
        }
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        // Dropping a socket is enough for our own connections: the server
        // ends the session. sqlx returns a pooled connection to its pool in a
        // spawned task, which needs a runtime; without one (the last store
        // handle dropped outside tokio), detach it and drop the socket.
        if let Link::Borrowed(conn) = &mut self.link
            && let Some(conn) = conn.take()
            && tokio::runtime::Handle::try_current().is_err()
        {
            drop(conn.detach());
        }
    }
}

/// Where new connections come from.
#[derive(Debug)]
enum Source {
    /// Opened by the store, with these options.
    Open(Box<PgConnectOptions>),
    /// Checked out of the application's pool.
    Borrow(PgPool),
}

/// Sizes and times of a store's connections, from its [`Config`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct PoolLimits {
    pub(crate) max: u32,
    pub(crate) acquire_timeout: Duration,
    pub(crate) idle_timeout: Duration,
    pub(crate) max_lifetime: Duration,
    /// Behind a transaction-mode pooler: no session state, no server pid.
    pub(crate) transaction_pooler: bool,
}

impl PoolLimits {
    pub(crate) fn of(config: &Config) -> PoolLimits {
        PoolLimits {
            max: config.max_connections,
            acquire_timeout: config.acquire_timeout.min(FOREVER),
            idle_timeout: config.idle_timeout.min(FOREVER),
            max_lifetime: config.max_lifetime.min(FOREVER),
            transaction_pooler: config.transaction_pooler,
        }
    }
}

/// Makes and checks the store's connections for deadpool.
#[derive(Debug)]
pub(crate) struct Manager {
    source: Source,
    limits: PoolLimits,
    health: Health,
}

impl managed::Manager for Manager {
    type Type = Conn;
    type Error = Error;

    /// Boxed: connecting is rare, and its future (sqlx's connection set-up)
    /// is large; unboxed, it would sit inside every command's future and be
    /// copied with it.
    fn create(&self) -> impl Future<Output = Result<Conn>> + Send {
        Box::pin(self.connect())
    }

    /// No round trip unless a loss was seen since the connection went idle:
    /// then one ping, and a dead connection is dropped.
    async fn recycle(&self, conn: &mut Conn, _: &managed::Metrics) -> managed::RecycleResult<Error> {
        if conn.born.elapsed() >= self.limits.max_lifetime {
            return Err(managed::RecycleError::message("past max_lifetime"));
        }
        if self.health.suspect(conn.idle_since) && conn.get().ping().await.is_err() {
            return Err(managed::RecycleError::message("lost"));
        }
        Ok(())
    }
}

impl Manager {
    /// Opens a connection (or borrows one from the application's pool) and
    /// learns its server process id.
    async fn connect(&self) -> Result<Conn> {
        let mut link = match &self.source {
            Source::Open(options) => Link::Own(
                PgConnection::connect_with(options)
                    .await
                    .map_err(|e| connect_error(e, options))?,
            ),
            Source::Borrow(pool) => Link::Borrowed(Some(pool.acquire().await.map_err(read_error)?)),
        };
        let conn = match &mut link {
            Link::Own(conn) => conn,
            Link::Borrowed(conn) => conn.as_deref_mut().expect("just acquired"),
        };
        // sqlx keeps the backend's cancel key to itself, so ask for the
        // process id once per connection (not per call). Behind a
        // transaction-mode pooler the answer would name whichever server
        // process served this one query, so there is none to ask for.
        let pid = if self.limits.transaction_pooler {
            None
        } else {
            let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
                .fetch_one(conn)
                .await
                .map_err(read_error)?;
            Some(pid)
        };
        let now = Instant::now();
        Ok(Conn {
            link,
            pid,
            born: now,
            idle_since: now,
        })
    }
}

type Pool = managed::Pool<Manager>;
type Object = managed::Object<Manager>;

/// The store's connections: the pool, and for `Store::pool()` a sqlx pool
/// beside it.
#[derive(Debug)]
pub(crate) struct Connections {
    pool: Pool,
    /// `Store::pool()`: the application's pool, or one of our own made on
    /// first use (so a store whose `pool()` is never called holds no second
    /// set of connections).
    app_pool: OnceLock<PgPool>,
    /// For making `app_pool` outside the runtime.
    runtime: tokio::runtime::Handle,
    /// Signalled whenever a connection goes back to the pool or is closed,
    /// for `close()` to wait on.
    returned: Notify,
    /// `schema.table`, once the store knows it: the label of the pool gauges.
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub(crate) collection: OnceLock<String>,
}

impl Connections {
    /// Connections the store opens itself with `options`.
    pub(crate) fn open(options: PgConnectOptions, limits: PoolLimits) -> Result<Arc<Connections>> {
        Connections::new(Source::Open(Box::new(options)), limits, OnceLock::new())
    }

    /// Connections checked out of an application's pool, at most `max` at once.
    pub(crate) fn borrow(pool: PgPool, limits: PoolLimits) -> Result<Arc<Connections>> {
        let app_pool = OnceLock::from(pool.clone());
        Connections::new(Source::Borrow(pool), limits, app_pool)
    }

    fn new(source: Source, limits: PoolLimits, app_pool: OnceLock<PgPool>) -> Result<Arc<Connections>> {
        let manager = Manager {
            source,
            limits,
            health: Health::new(),
        };
        let pool = Pool::builder(manager)
            .max_size(usize::try_from(limits.max).unwrap_or(usize::MAX))
            // The most recently used first: reuse keeps the warmest
            // connections busy and lets the rest age out.
            .queue_mode(managed::QueueMode::Lifo)
            .build()
            .map_err(|e| Error::InvalidConfig(format!("connection pool: {e}")))?;
        let conns = Arc::new(Connections {
            pool,
            app_pool,
            runtime: tokio::runtime::Handle::current(),
            returned: Notify::new(),
            collection: OnceLock::new(),
        });
        // Idle connections are reaped on a timer, not only when another call
        // comes by: a store used once must still give its connections back.
        conns
            .runtime
            .spawn(reap(Arc::downgrade(&conns), conns.reap_tick()));
        Ok(conns)
    }

    fn manager(&self) -> &Manager {
        self.pool.manager()
    }

    /// `Store::pool()`.
    pub(crate) fn pool(&self) -> &PgPool {
        self.app_pool.get_or_init(|| {
            let Source::Open(options) = &self.manager().source else {
                unreachable!("a borrowing store is given its pool at creation")
            };
            let limits = self.manager().limits;
            // sqlx spawns the pool's maintenance task when it is made.
            let _entered = match tokio::runtime::Handle::try_current() {
                Ok(_) => None,
                Err(_) => Some(self.runtime.enter()),
            };
            PgPoolOptions::new()
                .max_connections(limits.max)
                .acquire_timeout(limits.acquire_timeout)
                .idle_timeout(limits.idle_timeout)
                .max_lifetime(limits.max_lifetime)
                .connect_lazy_with((**options).clone())
        })
    }

    /// One connection for one call or one transaction. The whole checkout
    /// (waiting for a free slot, checking a suspect connection, connecting)
    /// takes at most the acquire timeout, then fails with the recoverable
    /// `PoolTimedOut`.
    pub(crate) async fn lease(self: &Arc<Self>) -> Result<Lease> {
        let checkout = tokio::time::timeout(self.manager().limits.acquire_timeout, self.pool.get());
        let object = match checkout.await {
            Ok(Ok(object)) => object,
            Ok(Err(managed::PoolError::Backend(e))) => return Err(e),
            Ok(Err(managed::PoolError::Closed)) => return Err(Error::Closed),
            // No deadpool timeouts or hooks are configured; the outer
            // deadline is the only one.
            Ok(Err(_)) | Err(_) => return Err(Error::PoolTimedOut),
        };
        Ok(self.leased(object))
    }

    /// A connection if one is free now (idle, or a slot to open one in),
    /// without waiting for a busy one: `None` if every slot is taken.
    /// Opening a connection still takes at most the acquire timeout.
    pub(crate) async fn try_lease(self: &Arc<Self>) -> Result<Option<Lease>> {
        let now = managed::Timeouts {
            wait: Some(Duration::ZERO),
            ..managed::Timeouts::new()
        };
        let checkout =
            tokio::time::timeout(self.manager().limits.acquire_timeout, self.pool.timeout_get(&now));
        let object = match checkout.await {
            Ok(Ok(object)) => object,
            Ok(Err(managed::PoolError::Timeout(managed::TimeoutType::Wait))) => return Ok(None),
            Ok(Err(managed::PoolError::Backend(e))) => return Err(e),
            Ok(Err(managed::PoolError::Closed)) => return Err(Error::Closed),
            Ok(Err(_)) | Err(_) => return Err(Error::PoolTimedOut),
        };
        Ok(Some(self.leased(object)))
    }

    fn leased(self: &Arc<Self>, object: Object) -> Lease {
        Lease {
            conns: self.clone(),
            conn: Some(object),
            in_flight: false,
            discard: false,
            roll_back: false,
        }
    }

    /// Behind a transaction-mode pooler (`Config::transaction_pooler`).
    pub(crate) fn transaction_pooler(&self) -> bool {
        self.manager().limits.transaction_pooler
    }

    /// Records that a call saw the server drop a connection.
    pub(crate) fn mark_loss(&self) {
        self.manager().health.mark_loss();
    }

    fn reap_tick(&self) -> Duration {
        let limits = self.manager().limits;
        let shortest = match self.manager().source {
            Source::Open(_) => limits.idle_timeout.min(limits.max_lifetime),
            Source::Borrow(_) => IDLE_RETURN,
        };
        (shortest / 2).clamp(Duration::from_millis(100), Duration::from_secs(30))
    }

    /// Closes (or returns to the application's pool) the idle connections
    /// that sat unused too long or are too old.
    fn reap_idle(&self) {
        let limits = self.manager().limits;
        let removed = self.pool.retain(|conn, _| {
            let idle_limit = if conn.is_borrowed() {
                IDLE_RETURN.min(limits.idle_timeout)
            } else {
                limits.idle_timeout
            };
            conn.idle_since.elapsed() < idle_limit && conn.born.elapsed() < limits.max_lifetime
        });
        // The removed connections close here, outside the pool's lock.
        drop(removed);
    }

    /// Connection counts right now: (open, idle, waiting, max).
    pub(crate) fn status(&self) -> (usize, usize, usize, usize) {
        let status = self.pool.status();
        let max = usize::try_from(self.manager().limits.max).unwrap_or(usize::MAX);
        (status.size, status.available, status.waiting, max)
    }

    /// Stops new checkouts, waits for every call in flight to give its
    /// connection back, and closes them all.
    pub(crate) async fn close(&self) {
        self.pool.close();
        loop {
            let returned = self.returned.notified();
            tokio::pin!(returned);
            returned.as_mut().enable();
            if self.pool.status().size == 0 {
                break;
            }
            returned.await;
        }
        if let Source::Open(_) = self.manager().source
            && let Some(pool) = self.app_pool.get()
        {
            pool.close().await;
        }
    }

    /// Options for a side connection that can cancel a statement.
    pub(crate) fn connect_options(&self) -> PgConnectOptions {
        match &self.manager().source {
            Source::Open(options) => (**options).clone(),
            Source::Borrow(pool) => (*pool.connect_options()).clone(),
        }
    }

    /// Brings a connection whose call ended abnormally back to a clean state,
    /// or reports that it must be closed. `in_flight`: a statement may still
    /// be running or its reply unread; `roll_back`: a transaction may be open.
    async fn recover(&self, conn: &mut Conn, in_flight: bool, roll_back: bool) -> bool {
        if in_flight && !drain(conn.get(), DRAIN_GRACE).await {
            // Still running: stop it on the server, so it neither keeps its
            // locks nor applies later, then close. (Reusing the connection
            // instead would race the cancel signal against the next caller's
            // statement.) Behind a pooler the server process is unknown:
            // closing (`close_one`, which really closes a borrowed
            // connection too) makes the pooler drop its server connection,
            // and the server rolls the command's transaction back.
            if let Some(pid) = conn.pid {
                self.cancel(pid).await;
                drain(conn.get(), CANCEL_DEADLINE).await;
            }
            return false;
        }
        if roll_back {
            let rolled_back = tokio::time::timeout(ROLLBACK_TIMEOUT, conn.get().execute("ROLLBACK")).await;
            if !matches!(rolled_back, Ok(Ok(_))) {
                return false;
            }
        }
        true
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

    /// Gives a clean connection back to the pool.
    fn give_back(&self, mut object: Object) {
        object.idle_since = Instant::now();
        drop(object);
        self.returned.notify_waiters();
    }

    /// Closes a connection and frees its slot.
    fn close_one(&self, object: Object) {
        let mut conn = Object::take(object);
        conn.close_on_drop();
        drop(conn);
        self.returned.notify_waiters();
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
        if conns.pool.is_closed() {
            return;
        }
        conns.reap_idle();
        #[cfg(feature = "metrics")]
        if let Some(collection) = conns.collection.get() {
            let (size, idle, waiting, _) = conns.status();
            crate::base::observe::pool_gauges(collection, size, idle, waiting);
        }
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
        // PgBouncer refuses start-up parameters it does not know; pgkv sends
        // none of those itself, but the URL's `options` may.
        sqlx::Error::Database(db) if db.message().contains("unsupported startup parameter") => {
            Error::InvalidConfig(format!(
                "the connection pooler refused a start-up parameter ({}): add it to the \
                 pooler's ignore_startup_parameters (PgBouncer) or remove it from the URL",
                db.message()
            ))
        }
        other => read_error(other),
    }
}

/// A connection checked out for one call or one transaction; it goes back
/// to the pool when dropped, once known to be clean.
#[derive(Debug)]
pub(crate) struct Lease {
    conns: Arc<Connections>,
    /// Holds the connection's slot in the pool until dropped.
    conn: Option<Object>,
    /// A statement was handed this connection and has not been seen to end.
    in_flight: bool,
    discard: bool,
    roll_back: bool,
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
    fn roll_back_on_drop(&mut self) {
        self.roll_back = true;
    }

    /// The transaction that [`roll_back_on_drop`](Self::roll_back_on_drop)
    /// guarded has ended: the connection is clean again.
    fn transaction_ended(&mut self) {
        self.roll_back = false;
    }

    /// Whether statements go unnamed and commands run in their own
    /// transaction (behind a transaction-mode pooler).
    pub(crate) fn transaction_pooler(&self) -> bool {
        self.conns.transaction_pooler()
    }

    /// The connection for a statement about to be sent, sending it as the
    /// store is configured (unnamed behind a transaction-mode pooler).
    pub(crate) fn wire(&mut self) -> Wire<'_> {
        let unnamed = self.transaction_pooler();
        Wire::new(self.for_statement(), unnamed)
    }

    /// Runs `statement`, without parameters (one statement or a script of
    /// several), in the simple protocol: one `Query` message answered up to
    /// `ReadyForQuery`, so behind a transaction-mode pooler it cannot be
    /// split across server connections. The error is classified by
    /// `classify`, and the outcome observed.
    pub(crate) async fn simple(
        &mut self,
        statement: impl SqlSafeStr,
        classify: fn(sqlx::Error) -> Error,
    ) -> Result<u64> {
        let result = self
            .for_statement()
            .execute(sqlx::raw_sql(statement))
            .await
            .map(|done| done.rows_affected())
            .map_err(classify);
        self.observe(&result);
        result
    }

    /// Opens a transaction with `begin` (`BEGIN`, or one with an isolation
    /// level). Until [`end_transaction`](Self::end_transaction) succeeds,
    /// dropping the lease rolls it back before the connection is reused.
    /// Every explicit transaction pgkv runs starts here: a
    /// [`Session`](session::Session)'s, and a command's own behind a
    /// transaction-mode pooler.
    pub(crate) async fn begin_transaction(&mut self, begin: impl SqlSafeStr) -> Result<()> {
        self.roll_back_on_drop();
        self.simple(begin, read_error).await.map(drop)
    }

    /// Ends the transaction [`begin_transaction`](Self::begin_transaction)
    /// opened: `COMMIT`, or `ROLLBACK` when `commit` is false. The `COMMIT`
    /// decides whether the writes happen, so a connection lost before its
    /// reply is [`Error::OutcomeUnknown`].
    pub(crate) async fn end_transaction(&mut self, commit: bool) -> Result<()> {
        let (statement, classify): (&'static str, fn(sqlx::Error) -> Error) = if commit {
            ("COMMIT", write_error)
        } else {
            ("ROLLBACK", read_error)
        };
        self.simple(statement, classify).await?;
        self.transaction_ended();
        Ok(())
    }

    /// Starts a command outside a transaction. Behind a transaction-mode
    /// pooler, opens the command's own transaction (see `wire`): ended by
    /// [`end_command`](Self::end_command), or rolled back if the lease is
    /// dropped first.
    pub(crate) async fn begin_command(&mut self) -> Result<()> {
        if !self.transaction_pooler() {
            return Ok(());
        }
        self.begin_transaction("BEGIN").await
    }

    /// After a failed statement of a command started with
    /// [`begin_command`](Self::begin_command): behind a transaction-mode
    /// pooler, rolls its aborted transaction back and begins another.
    pub(crate) async fn restart_command(&mut self) -> Result<()> {
        if !self.transaction_pooler() {
            return Ok(());
        }
        self.end_transaction(false).await?;
        self.begin_command().await
    }

    /// Ends a command started with [`begin_command`](Self::begin_command)
    /// and returns its result. Behind a transaction-mode pooler: `COMMIT`
    /// after success, `ROLLBACK` after an error. A connection lost before
    /// the `COMMIT`'s reply is [`Error::OutcomeUnknown`] (for a read too:
    /// the lease cannot tell which it ran).
    pub(crate) async fn end_command<T>(&mut self, result: Result<T>) -> Result<T> {
        self.observe(&result);
        if !self.transaction_pooler() || self.discard {
            return result;
        }
        match self.end_transaction(result.is_ok()).await {
            Ok(()) => result,
            // The command's own error says more than its rollback's.
            Err(_) if result.is_err() => result,
            Err(e) => Err(e),
        }
    }

    /// Records that the server dropped this connection: it is discarded, and
    /// its idle siblings will be checked before their next use.
    pub(crate) fn lost(&mut self) {
        self.conns.mark_loss();
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
        match self.conn.as_deref().map(|c| &c.link) {
            Some(Link::Own(conn)) => conn,
            Some(Link::Borrowed(Some(conn))) => conn,
            _ => unreachable!("a lease holds its connection until dropped"),
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
        let Some(object) = self.conn.take() else { return };
        if self.discard {
            self.conns.close_one(object);
            return;
        }
        if !self.in_flight && !self.roll_back {
            self.conns.give_back(object);
            return;
        }
        // Recovery runs in a task that keeps the connection's slot, so the
        // connection is not handed out until it is clean. Closing instead
        // would make every cancelled call cost a new connection, and callers
        // that keep cancelling would then spend their time budgets
        // reconnecting and starve everyone else.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.conns.close_one(object);
            return;
        };
        let conns = self.conns.clone();
        let (in_flight, roll_back) = (self.in_flight, self.roll_back);
        runtime.spawn(async move {
            let mut object = object;
            if conns.recover(&mut object, in_flight, roll_back).await {
                conns.give_back(object);
            } else {
                conns.close_one(object);
            }
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
    // sqlx sends `extra_float_digits` at start-up, which PgBouncer refuses
    // (08P01 "unsupported startup parameter") unless told to ignore it. No
    // pgkv statement returns a float as text, and since PostgreSQL 12 the
    // server's default already prints floats exactly, so leave it out.
    options = options.extra_float_digits(None);
    // A partitioned table: generic plans, which prune partitions when they
    // run (0.01 ms), where PostgreSQL 15 otherwise plans every call afresh
    // (0.15-0.25 ms); GET at 10M rows in 16 partitions went from 5.1x one
    // table's time to 1.45x (`docs/performance.md`, scale-out). Not behind a pooler,
    // which refuses start-up options.
    if config.partitions.is_some() && !config.transaction_pooler {
        options = options.options([("plan_cache_mode", "force_generic_plan")]);
    }
    Connections::open(options, PoolLimits::of(config))
}
