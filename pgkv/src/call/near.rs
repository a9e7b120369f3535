//! The near-cache: an in-process cache of hot keys under declared prefixes,
//! kept coherent by the server.
//!
//! A trigger on the table sends `pg_notify(channel, key)` for every row
//! written under a near-cached prefix (by pgkv or by anyone's plain SQL);
//! one `LISTEN` connection per store drops those keys from the cache. What
//! the cache cannot know, it does not serve:
//! - while the listener is not subscribed (starting, or its connection was
//!   lost), reads go to the server and nothing is cached; when it
//!   reconnects the cache starts empty;
//! - a value read from the server is cached only if its key was not
//!   invalidated since the read began (the read leaves a marker under the
//!   key, which an invalidation or a flush removes), so a notification
//!   racing the read cannot be overtaken by it, and one for another key does
//!   not stop it;
//! - an entry is served for at most `max_staleness`, and never past its
//!   row's expiry;
//! - a probe notification, sent from a store connection every quarter of
//!   `max_staleness`, measures the listener's lag: while one has been on
//!   its way longer than `max_staleness`, nothing is served or cached, and
//!   when it arrives the cache starts again empty;
//! - this store's own writes drop the keys they wrote when they return
//!   (the notification may still be on its way), so the store reads its
//!   own writes; a transaction's writes are dropped again at its commit. A
//!   write that cannot name its keys (a snapshot load, a command the list
//!   does not describe) empties the cache.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};

use crate::call::Conduit;
use crate::call::written::Written;
pub use crate::config::near::NearCache;
use crate::conn::Connections;
use crate::error::{Result, read_error};
use crate::sql::near::NearSql;

/// What a near-cache has done: [`Store::near_cache_stats`](crate::Store::near_cache_stats).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct NearCacheStats {
    /// Reads answered from the cache.
    pub hits: u64,
    /// Reads of near-cached keys that went to the server.
    pub misses: u64,
    /// Notifications applied (a key dropped, or everything after a TRUNCATE).
    pub invalidations: u64,
    /// Times the whole cache was emptied (listener lost or restarted, a
    /// write of this store that does not name its keys).
    pub flushes: u64,
    /// Keys (and prefixes) dropped because this store wrote them.
    pub own_writes: u64,
    /// The listener is subscribed, so the cache is in use.
    pub listening: bool,
    /// The listener lags: a probe notification has been on its way longer
    /// than `max_staleness`, so the cache is not used until it arrives.
    pub lagging: bool,
    /// Entries held.
    pub entries: usize,
}

enum Entry {
    /// A read of the key is under way: the one holding this token may
    /// cache what it fetched.
    Reading(u64),
    Cached {
        value: Option<Vec<u8>>,
        cached: Instant,
        /// When the row expires (local clock, from the server's remaining TTL).
        expires: Option<Instant>,
    },
}

/// A store's near-cache.
pub(crate) struct Near {
    pub(crate) sql: NearSql,
    prefixes: Vec<String>,
    capacity: usize,
    max_staleness: Duration,
    entries: Mutex<HashMap<String, Entry>>,
    /// The last token handed to a read (see [`Entry::Reading`]).
    reads: AtomicU64,
    listening: AtomicBool,
    /// The probe on its way: microseconds after `clock` when it was sent,
    /// plus one; 0 when none is.
    probe_sent: AtomicU64,
    lagging: AtomicBool,
    /// This store's probe notifications: apart from keys (it starts with
    /// a control character) and other stores' probes (a random token).
    probe_payload: String,
    clock: Instant,
    hits: AtomicU64,
    misses: AtomicU64,
    invalidations: AtomicU64,
    flushes: AtomicU64,
    own_writes: AtomicU64,
    /// Dropped with the store: stops the listener.
    closed: tokio::sync::watch::Sender<bool>,
}

impl std::fmt::Debug for Near {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Near")
            .field("prefixes", &self.prefixes)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Drop for Near {
    fn drop(&mut self) {
        let _ = self.closed.send(true);
    }
}

impl Near {
    pub(crate) fn new(config: &NearCache, sql: NearSql) -> Near {
        Near {
            sql,
            prefixes: config.prefixes.clone(),
            capacity: config.capacity,
            max_staleness: config.max_staleness,
            entries: Mutex::new(HashMap::new()),
            reads: AtomicU64::new(0),
            listening: AtomicBool::new(false),
            probe_sent: AtomicU64::new(0),
            lagging: AtomicBool::new(false),
            probe_payload: format!("\u{1}pgkv-probe {:016x}", probe_token()),
            clock: Instant::now(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            invalidations: AtomicU64::new(0),
            flushes: AtomicU64::new(0),
            own_writes: AtomicU64::new(0),
            closed: tokio::sync::watch::channel(false).0,
        }
    }

    pub(crate) fn covers(&self, key: &str) -> bool {
        self.prefixes.iter().any(|p| key.starts_with(p.as_str()))
    }

    /// Some key under `prefix` may be near-cached.
    pub(crate) fn overlaps(&self, prefix: &str) -> bool {
        self.prefixes
            .iter()
            .any(|p| prefix.starts_with(p.as_str()) || p.starts_with(prefix))
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The cached value of `key` (`Some(None)`: cached as absent), if it may
    /// be served.
    pub(crate) fn lookup(&self, key: &str) -> Option<Option<Vec<u8>>> {
        let now = Instant::now();
        if !self.serving(now) {
            return None;
        }
        let mut entries = self.entries();
        let fresh = match entries.get(key)? {
            Entry::Reading(_) => return None,
            Entry::Cached { cached, expires, .. } => {
                now.duration_since(*cached) < self.max_staleness && expires.is_none_or(|at| now < at)
            }
        };
        if !fresh {
            entries.remove(key);
            return None;
        }
        self.hits.fetch_add(1, Ordering::Relaxed);
        match entries.get(key) {
            Some(Entry::Cached { value, .. }) => Some(value.clone()),
            _ => None,
        }
    }

    /// A read of `key` goes to the server: pass the token to
    /// [`fill`](Self::fill) with what it fetched.
    pub(crate) fn begin_read(&self, key: &str) -> u64 {
        self.misses.fetch_add(1, Ordering::Relaxed);
        let token = self.reads.fetch_add(1, Ordering::Relaxed) + 1;
        let mut entries = self.entries();
        self.make_room(&mut entries, key);
        entries.insert(key.to_owned(), Entry::Reading(token));
        token
    }

    /// Caches what the read holding `token` fetched, unless `key` was
    /// invalidated (or the cache flushed) since it began, or the listener is
    /// not subscribed.
    pub(crate) fn fill(&self, token: u64, key: &str, value: Option<Vec<u8>>, left: Option<Duration>) {
        let now = Instant::now();
        let mut entries = self.entries();
        // Checked under the lock that invalidations also take.
        if !matches!(entries.get(key), Some(Entry::Reading(t)) if *t == token) {
            return;
        }
        if !self.serving(now) {
            entries.remove(key);
            return;
        }
        entries.insert(
            key.to_owned(),
            Entry::Cached {
                value,
                cached: now,
                expires: left.map(|left| now + left),
            },
        );
    }

    /// At capacity, drops some other entry so `key` fits.
    fn make_room(&self, entries: &mut HashMap<String, Entry>, key: &str) {
        if entries.len() >= self.capacity
            && !entries.contains_key(key)
            && let Some(victim) = entries.keys().next().cloned()
        {
            entries.remove(&victim);
        }
    }

    /// The cache may be used: the listener is subscribed and keeping up.
    /// The first read to find a probe overdue marks the listener lagging
    /// and empties the cache.
    fn serving(&self, now: Instant) -> bool {
        if !self.listening.load(Ordering::Acquire) || self.lagging.load(Ordering::Acquire) {
            return false;
        }
        let sent = self.probe_sent.load(Ordering::Acquire);
        if sent == 0 || self.micros(now) < (sent - 1).saturating_add(micros(self.max_staleness)) {
            return true;
        }
        if !self.lagging.swap(true, Ordering::AcqRel) {
            self.flush();
            tracing::warn!(
                target: "pgkv::near_cache",
                max_staleness = ?self.max_staleness,
                "near-cache listener lags (a probe notification is overdue); cache emptied and bypassed until it arrives"
            );
        }
        false
    }

    fn micros(&self, at: Instant) -> u64 {
        micros(at.saturating_duration_since(self.clock))
    }

    /// A notification arrived: a probe of ours (the listener keeps up) or a
    /// key that changed.
    fn notified(&self, payload: &str) {
        if payload == self.probe_payload {
            self.probe_sent.store(0, Ordering::Release);
            if self.lagging.load(Ordering::Acquire) {
                // What was cached before the lag may have been missed.
                self.flush();
                self.lagging.store(false, Ordering::Release);
            }
        } else {
            self.invalidate(payload);
        }
    }

    /// A notification: `key` changed ("" means everything).
    fn invalidate(&self, key: &str) {
        let mut entries = self.entries();
        if key.is_empty() {
            entries.clear();
        } else {
            entries.remove(key);
        }
        self.invalidations.fetch_add(1, Ordering::Relaxed);
    }

    /// This store wrote `written`: drop it, so the store's next read goes
    /// to the server (the notification may still be on its way), and keep
    /// reads of it already under way from caching what they fetched before
    /// (their markers go too).
    pub(crate) fn forget(&self, written: &Written) {
        if written.all {
            return self.flush();
        }
        if written.is_empty() {
            return;
        }
        let mut entries = self.entries();
        for key in &written.keys {
            entries.remove(key);
        }
        if !written.prefixes.is_empty() {
            entries.retain(|key, _| !written.prefixes.iter().any(|p| key.starts_with(p.as_str())));
        }
        let dropped = written.keys.len() + written.prefixes.len();
        self.own_writes
            .fetch_add(u64::try_from(dropped).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// Empties the cache (a lost or restarted listener, a write that does
    /// not name its keys).
    pub(crate) fn flush(&self) {
        let mut entries = self.entries();
        entries.clear();
        self.flushes.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn stats(&self) -> NearCacheStats {
        NearCacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            invalidations: self.invalidations.load(Ordering::Relaxed),
            flushes: self.flushes.load(Ordering::Relaxed),
            own_writes: self.own_writes.load(Ordering::Relaxed),
            listening: self.listening.load(Ordering::Acquire),
            lagging: self.lagging.load(Ordering::Acquire),
            entries: self
                .entries()
                .values()
                .filter(|e| matches!(e, Entry::Cached { .. }))
                .count(),
        }
    }

    /// Starts the listener task; it ends when the store is dropped. Its
    /// session's `application_name` is `pgkv-near <channel>`.
    pub(crate) fn spawn_listener(self: &Arc<Self>, options: PgConnectOptions) {
        let closed = self.closed.subscribe();
        tokio::spawn(listen(Arc::downgrade(self), options, closed));
    }

    /// Starts the task that sends probe notifications through the store's
    /// connections; it ends when the store is dropped.
    pub(crate) fn spawn_prober(self: &Arc<Self>, conns: Arc<Connections>) {
        let closed = self.closed.subscribe();
        tokio::spawn(probe(Arc::downgrade(self), conns, closed));
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// A token no other store (or process) draws.
fn probe_token() -> u64 {
    crate::base::xorshift::random()
}

/// The prober: while the listener is subscribed and no probe is on its way,
/// sends one every quarter of `max_staleness` (at least 10 ms, at most 1 s
/// apart), from a store connection, as an ordinary writer's notification
/// travels. The clock starts when the connection is in hand, so a busy pool
/// never looks like a lagging listener.
async fn probe(near: Weak<Near>, conns: Arc<Connections>, mut closed: tokio::sync::watch::Receiver<bool>) {
    let every = match near.upgrade() {
        Some(near) => (near.max_staleness / 4).clamp(Duration::from_millis(10), Duration::from_secs(1)),
        None => return,
    };
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = closed.changed() => return,
        }
        let Some(near) = near.upgrade() else { return };
        if !near.listening.load(Ordering::Acquire) || near.probe_sent.load(Ordering::Acquire) != 0 {
            continue;
        }
        let sent = async {
            let mut lease = conns.lease().await?;
            lease.begin_command().await?;
            near.probe_sent
                .store(near.micros(Instant::now()).saturating_add(1), Ordering::Release);
            let result = sqlx::query(near.sql.probe.query())
                .bind(&near.sql.channel)
                .bind(&near.probe_payload)
                .execute(lease.wire())
                .await
                .map(drop)
                .map_err(crate::error::write_error);
            lease.end_command(result).await
        };
        let sent = tokio::select! {
            sent = sent => sent,
            _ = closed.changed() => return,
        };
        if let Err(error) = sent {
            // Not sent (or not known to be): nothing to wait for.
            near.probe_sent.store(0, Ordering::Release);
            tracing::debug!(target: "pgkv::near_cache", %error, "near-cache probe not sent");
        }
    }
}

/// Shortest and longest wait between reconnection attempts.
const RETRY: (Duration, Duration) = (Duration::from_millis(50), Duration::from_secs(5));

/// The listener: subscribes, applies notifications, and on any failure
/// stops the cache from being used, empties it and starts again.
async fn listen(near: Weak<Near>, options: PgConnectOptions, mut closed: tokio::sync::watch::Receiver<bool>) {
    let mut retry = RETRY.0;
    loop {
        let Some(channel) = near.upgrade().map(|n| n.sql.channel.clone()) else {
            return;
        };
        let session = async {
            let pool = PgPoolOptions::new()
                .max_connections(1)
                .connect_lazy_with(options.clone().application_name(&format!("pgkv-near {channel}")));
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen(&channel).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        let subscribed = tokio::select! {
            subscribed = session => subscribed,
            _ = closed.changed() => return,
        };
        let mut listener = match subscribed {
            Ok(listener) => listener,
            Err(error) => {
                tracing::warn!(target: "pgkv::near_cache", %error, "near-cache listener could not subscribe; retrying");
                tokio::select! {
                    () = tokio::time::sleep(retry) => {}
                    _ = closed.changed() => return,
                }
                retry = (retry * 2).min(RETRY.1);
                continue;
            }
        };
        retry = RETRY.0;
        {
            let Some(near) = near.upgrade() else { return };
            // Whatever happened before this subscription is unknown,
            // and so is the fate of a probe sent before it.
            near.flush();
            near.probe_sent.store(0, Ordering::Release);
            near.lagging.store(false, Ordering::Release);
            near.listening.store(true, Ordering::Release);
        }
        loop {
            let received = tokio::select! {
                received = listener.try_recv() => received,
                _ = closed.changed() => return,
            };
            let Some(near) = near.upgrade() else { return };
            match received {
                Ok(Some(notification)) => near.notified(notification.payload()),
                // The connection is gone: notifications were missed.
                Ok(None) | Err(_) => {
                    near.listening.store(false, Ordering::Release);
                    near.flush();
                    tracing::warn!(target: "pgkv::near_cache", "near-cache listener lost its connection; cache emptied, reconnecting");
                    break;
                }
            }
        }
    }
}

/// `get` of a near-cached key: from the cache, or from the server (value
/// and time left, one statement) into the cache.
pub(crate) async fn get(s: &mut impl Conduit, near: &Near, key: &str) -> Result<Option<Vec<u8>>> {
    if let Some(hit) = near.lookup(key) {
        return Ok(hit);
    }
    let token = near.begin_read(key);
    let row: Option<(Vec<u8>, Option<i64>)> = sqlx::query_as(near.sql.fetch.query())
        .bind(key)
        .fetch_optional(s.connection().await?)
        .await
        .map_err(read_error)?;
    let (value, left) = match row {
        Some((value, left)) => (
            Some(value),
            left.map(|us| Duration::from_micros(us.max(0).unsigned_abs())),
        ),
        None => (None, None),
    };
    near.fill(token, key, value.clone(), left);
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listening_cache() -> Near {
        let sql = NearSql::new("public", "kv", "\"public\".\"kv\"", "public.kv", true);
        let near = Near::new(&NearCache::new(["k:"]), sql);
        near.listening.store(true, Ordering::Release);
        near
    }

    fn read(near: &Near, key: &str, value: &str) {
        let token = near.begin_read(key);
        near.fill(token, key, Some(value.into()), None);
    }

    #[test]
    fn a_read_overtaken_by_its_keys_invalidation_caches_nothing() {
        let near = listening_cache();
        let token = near.begin_read("k:a");
        near.invalidate("k:a");
        near.fill(token, "k:a", Some(b"old".to_vec()), None);
        assert_eq!(near.lookup("k:a"), None);
        // Its own write, or a flush, also stops it.
        let token = near.begin_read("k:a");
        near.forget(&Written {
            keys: vec!["k:a".into()],
            ..Written::nothing()
        });
        near.fill(token, "k:a", Some(b"old".to_vec()), None);
        assert_eq!(near.lookup("k:a"), None);
        let token = near.begin_read("k:a");
        near.flush();
        near.fill(token, "k:a", Some(b"old".to_vec()), None);
        assert_eq!(near.lookup("k:a"), None);
    }

    #[test]
    fn another_keys_invalidation_does_not_stop_a_read() {
        let near = listening_cache();
        read(&near, "k:b", "b");
        let token = near.begin_read("k:a");
        near.invalidate("k:b");
        near.forget(&Written {
            prefixes: vec!["k:c".into()],
            ..Written::nothing()
        });
        near.fill(token, "k:a", Some(b"a".to_vec()), None);
        assert_eq!(near.lookup("k:a"), Some(Some(b"a".to_vec())));
        assert_eq!(near.lookup("k:b"), None);
        // Of two reads of one key, the later one fills.
        let first = near.begin_read("k:d");
        let second = near.begin_read("k:d");
        near.fill(first, "k:d", Some(b"1".to_vec()), None);
        assert_eq!(near.lookup("k:d"), None);
        near.fill(second, "k:d", Some(b"2".to_vec()), None);
        assert_eq!(near.lookup("k:d"), Some(Some(b"2".to_vec())));
        assert_eq!(near.stats().entries, 2);
    }
}
