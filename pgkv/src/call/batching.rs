//! Opportunistic batching of concurrent calls.
//!
//! A GET, EXISTS, SET, SET_EX or DELETE of a store that finds a free
//! connection runs alone, exactly as without batching: no timer, no added
//! latency. One that finds every connection busy joins its kind's queue (a
//! lane) instead of the pool's. A task of the lane's, its flusher, waits for
//! the next free connection, takes every call queued by then and sends them
//! as one statement (`= ANY`, `UNNEST`), then hands each caller its own
//! result. Under load a connection thus carries many calls per round trip
//! instead of one.
//!
//! Each caller gets what its call alone would have returned at the instant
//! the batched statement ran, which lies between the call's start and its
//! return:
//! - input is checked before a call queues, so bad input never fails a
//!   neighbour;
//! - calls on one key in one batch take effect in arrival order: the last
//!   SET wins, and of two DELETEs the first reports the live row it removed
//!   and the second nothing;
//! - a caller cancelled while queued is dropped from the queue and never
//!   sent; one cancelled after its statement left has its result dropped;
//! - a failed statement fails exactly the calls it carried, each with the
//!   same error (`OutcomeUnknown` for writes whose fate is unknown).
//!
//! A write whose caller was cancelled after its batch was formed may still
//! land, as a cancelled call's statement already on the wire may. A call
//! running alone has sent its statement before its caller can see the
//! cancellation; a batch may be sent a moment later, by its flusher. So that
//! batching does not make a cut-off write likelier to land after the
//! caller's next command, every command of the store waits, before it takes
//! a connection, until batches carrying such writes have finished (at most
//! [`FENCE_WAIT`]: a batch held up by a lock whose owner waits for this
//! store must not deadlock it).
//!
//! Flushers are tasks of their own, so a cancelled caller never strands its
//! neighbours. At most one flusher per lane waits for a connection at a
//! time; one that has taken its batch lets the next one wait, so as many
//! batches run at once as connections free up.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use sqlx::postgres::types::PgInterval;
use tokio::sync::{Notify, oneshot};

use crate::call::{Conduit, in_call_order, purging_read};
use crate::call::{PooledCall, Shared};
use crate::error::{Error, Result, read_error, write_error};

/// Most calls one batched statement carries.
const MAX_CALLS: usize = 512;

/// Most key and value bytes one batched statement carries (a single call
/// larger than this still goes, alone).
const MAX_BYTES: usize = 1 << 20;

/// The longest a command waits for batches carrying writes whose callers
/// were cancelled (see the module's documentation).
pub(crate) const FENCE_WAIT: Duration = Duration::from_secs(1);

/// What batching has done: [`Store::batching_stats`](crate::Store::batching_stats).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct BatchingStats {
    /// Batched statements sent.
    pub batches: u64,
    /// Calls those statements carried.
    pub batched_calls: u64,
    /// Calls waiting in a queue right now for a connection.
    pub queued: usize,
}

/// The lanes of one store (or namespace) and their counters.
#[derive(Debug, Default)]
pub(crate) struct Batcher {
    get: Lane<Get>,
    exists: Lane<Exists>,
    write: Lane<Write>,
    delete: Lane<Delete>,
    batches: AtomicU64,
    batched_calls: AtomicU64,
    /// Batches in flight that carry a write whose caller was cancelled.
    orphaned: AtomicUsize,
    /// Signalled when `orphaned` drops to zero.
    settled: Notify,
}

impl Batcher {
    /// Before a command takes a connection: waits until no batch carrying
    /// a cancelled caller's write is in flight (at most [`FENCE_WAIT`]), so
    /// such a write never lands after this command.
    pub(crate) async fn settle(&self) {
        if self.orphaned.load(Ordering::Acquire) == 0 {
            return;
        }
        let settled = async {
            loop {
                let notified = self.settled.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if self.orphaned.load(Ordering::Acquire) == 0 {
                    return;
                }
                notified.await;
            }
        };
        let _ = tokio::time::timeout(FENCE_WAIT, settled).await;
    }

    /// A write of `batch` lost its caller.
    fn orphan(&self, batch: &BatchFence) {
        let mut state = lock(&batch.state);
        if !state.done && !state.orphaned {
            state.orphaned = true;
            self.orphaned.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// `batch` has finished (or was dropped).
    fn complete(&self, batch: &BatchFence) {
        let mut state = lock(&batch.state);
        state.done = true;
        if state.orphaned && self.orphaned.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.settled.notify_waiters();
        }
    }

    pub(crate) fn stats(&self) -> BatchingStats {
        BatchingStats {
            batches: self.batches.load(Ordering::Relaxed),
            batched_calls: self.batched_calls.load(Ordering::Relaxed),
            queued: self.get.len() + self.exists.len() + self.write.len() + self.delete.len(),
        }
    }
}

/// Locks a mutex that nothing panics while holding (a poisoned one is
/// still consistent).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A call queued for a connection.
struct Waiting<K: Kind> {
    item: K::Item,
    since: Instant,
    reply: oneshot::Sender<Result<K::Output>>,
    slot: Arc<Mutex<Slot>>,
}

/// Where a queued call stands, shared by its caller and the flusher that
/// takes it: the caller went away, or the batch that carries it.
#[derive(Debug, Default)]
struct Slot {
    cancelled: bool,
    batch: Option<Arc<BatchFence>>,
}

/// One batch in flight, as the callers that leave it see it.
#[derive(Debug, Default)]
struct BatchFence {
    state: Mutex<FenceState>,
}

#[derive(Debug, Default)]
struct FenceState {
    done: bool,
    /// A write of the batch lost its caller (counted in `Batcher::orphaned`).
    orphaned: bool,
}

/// The queue of one kind of call.
struct Lane<K: Kind> {
    state: Mutex<LaneState<K>>,
}

struct LaneState<K: Kind> {
    queue: VecDeque<Waiting<K>>,
    /// A flusher is waiting for a connection (or about to): set whenever
    /// the queue is not empty.
    flusher: bool,
}

impl<K: Kind> Default for Lane<K> {
    fn default() -> Self {
        Lane {
            state: Mutex::new(LaneState {
                queue: VecDeque::new(),
                flusher: false,
            }),
        }
    }
}

impl<K: Kind> std::fmt::Debug for Lane<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lane").field("queued", &self.len()).finish()
    }
}

impl<K: Kind> Lane<K> {
    fn lock(&self) -> MutexGuard<'_, LaneState<K>> {
        lock(&self.state)
    }

    fn len(&self) -> usize {
        self.lock().queue.len()
    }

    /// Queues a call; true if the caller must start a flusher.
    fn push(&self, waiting: Waiting<K>) -> bool {
        let mut state = self.lock();
        state.queue.push_back(waiting);
        !std::mem::replace(&mut state.flusher, true)
    }

    /// Takes the next batch off the queue, in arrival order, leaving out
    /// callers that went away. True with it: calls remain, and another
    /// flusher must wait for a connection for them.
    fn take(&self, fence: &Arc<BatchFence>) -> (Vec<Waiting<K>>, bool) {
        let mut state = self.lock();
        let mut batch = Vec::new();
        let mut bytes = 0usize;
        while let Some(next) = state.queue.front() {
            let size = K::bytes(&next.item);
            if !batch.is_empty() && (batch.len() == MAX_CALLS || bytes.saturating_add(size) > MAX_BYTES) {
                break;
            }
            let next = state.queue.pop_front().expect("just seen");
            // Decided under the slot's lock, which the caller takes when it
            // goes away: either it is skipped here, or it knows its batch.
            let mut slot = lock(&next.slot);
            if slot.cancelled || next.reply.is_closed() {
                continue;
            }
            slot.batch = Some(fence.clone());
            drop(slot);
            bytes = bytes.saturating_add(size);
            batch.push(next);
        }
        state.flusher = !state.queue.is_empty();
        (batch, state.flusher)
    }

    /// Takes the calls queued at or before `at` (their wait for a connection
    /// is over). True with them: calls remain, as in [`take`](Self::take).
    fn take_queued_by(&self, at: Instant) -> (Vec<Waiting<K>>, bool) {
        let mut state = self.lock();
        let mut expired = Vec::new();
        while state.queue.front().is_some_and(|w| w.since <= at) {
            expired.extend(state.queue.pop_front());
        }
        state.flusher = !state.queue.is_empty();
        (expired, state.flusher)
    }

    /// Empties the queue: its flusher is gone without having taken it.
    fn abandon(&self) {
        let mut state = self.lock();
        state.flusher = false;
        // Dropping the reply senders tells each caller.
        let orphans = std::mem::take(&mut state.queue);
        drop(state);
        drop(orphans);
    }
}

/// One kind of call that can be batched.
trait Kind: Sized + Send + 'static {
    /// A call's input, already checked.
    type Item: Send + Sync + 'static;
    /// A call's result.
    type Output: Send + 'static;
    /// The kind changes data: a caller whose batch vanished mid-flight
    /// cannot know whether its write happened.
    const WRITES: bool;

    fn lane(coalescer: &Batcher) -> &Lane<Self>;

    fn bytes(item: &Self::Item) -> usize;

    /// Sends `items` as one statement on `call`: one output per item, in order.
    fn run(
        call: &mut PooledCall<'_>,
        items: &[Self::Item],
    ) -> impl Future<Output = Result<Vec<Self::Output>>> + Send;
}

/// A batchable call's way to its lane, for a call that found no free
/// connection ([`Conduit::coalesce`]).
#[derive(Debug)]
pub(crate) struct BatchRoute(Arc<Shared>);

impl BatchRoute {
    pub(crate) fn new(shared: Arc<Shared>) -> BatchRoute {
        BatchRoute(shared)
    }

    pub(crate) async fn get(self, key: &str) -> Result<Option<Vec<u8>>> {
        self.submit::<Get>(key.to_owned()).await
    }

    pub(crate) async fn exists(self, key: &str) -> Result<bool> {
        self.submit::<Exists>(key.to_owned()).await
    }

    pub(crate) async fn write(self, key: &str, value: &[u8], ttl: Option<PgInterval>) -> Result<()> {
        self.submit::<Write>((key.to_owned(), value.to_vec(), ttl)).await
    }

    pub(crate) async fn delete(self, key: &str) -> Result<bool> {
        self.submit::<Delete>(key.to_owned()).await
    }

    /// Queues the call and waits for its result. Dropping the future
    /// removes the call from the queue (or drops its result).
    async fn submit<K: Kind>(self, item: K::Item) -> Result<K::Output> {
        let (reply, result) = oneshot::channel();
        let slot = Arc::new(Mutex::new(Slot::default()));
        let waiting = Waiting {
            item,
            since: Instant::now(),
            reply,
            slot: slot.clone(),
        };
        let Some(coalescer) = &self.0.coalescer else {
            unreachable!("a queue is handed out only by a store that batches")
        };
        let mut leaving = Leaving {
            coalescer,
            slot,
            writes: K::WRITES,
            armed: true,
        };
        if K::lane(coalescer).push(waiting) {
            spawn_flusher::<K>(self.0.clone());
        }
        let result = result.await;
        leaving.armed = false;
        match result {
            Ok(result) => result,
            Err(_) => Err(vanished(K::WRITES)),
        }
    }
}

/// A queued call's caller going away before its result came: the call is
/// skipped if not yet taken; a write already in a batch makes the store's
/// next commands wait for that batch (`Batcher::settle`).
struct Leaving<'a> {
    coalescer: &'a Batcher,
    slot: Arc<Mutex<Slot>>,
    writes: bool,
    armed: bool,
}

impl Drop for Leaving<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let mut slot = lock(&self.slot);
        slot.cancelled = true;
        if self.writes
            && let Some(batch) = &slot.batch
        {
            self.coalescer.orphan(batch);
        }
    }
}

/// Marks its batch finished when dropped, however the flusher ends.
struct InFlight<'a> {
    coalescer: &'a Batcher,
    batch: Arc<BatchFence>,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.coalescer.complete(&self.batch);
    }
}

/// The error of a call whose flusher was stopped (its runtime shut down).
/// A write's fate is then unknown; a read's error is recoverable.
fn vanished(writes: bool) -> Error {
    let io = std::io::Error::other("the task sending the batched statement was stopped (runtime shut down)");
    let e = sqlx::Error::Io(io);
    if writes { write_error(e) } else { read_error(e) }
}

/// Empties the lane if its flusher is dropped before taking its batch (its
/// runtime shut down), so no caller waits for a flusher that is gone.
struct FlusherGuard<'a, K: Kind> {
    lane: &'a Lane<K>,
    armed: bool,
}

impl<K: Kind> Drop for FlusherGuard<'_, K> {
    fn drop(&mut self) {
        if self.armed {
            self.lane.abandon();
        }
    }
}

/// Starts a flusher for the lane of `K`. (A plain function, so that
/// `flush`, which starts the next flusher, is not a future that contains
/// itself.)
fn spawn_flusher<K: Kind>(shared: Arc<Shared>) {
    tokio::spawn(flush::<K>(shared));
}

/// A lane's flusher: waits for a connection, takes the queued calls and
/// sends them as one statement.
async fn flush<K: Kind>(shared: Arc<Shared>) {
    let Some(coalescer) = &shared.coalescer else {
        return;
    };
    let lane = K::lane(coalescer);
    let mut guard = FlusherGuard { lane, armed: true };
    let started = Instant::now();
    let lease = shared.conns.lease().await;
    let in_flight = InFlight {
        coalescer,
        batch: Arc::new(BatchFence::default()),
    };
    let (batch, more) = match &lease {
        // The calls that have waited the whole acquire timeout fail as a
        // call waiting in the pool would; later ones keep their place.
        Err(Error::PoolTimedOut) => lane.take_queued_by(started),
        _ => lane.take(&in_flight.batch),
    };
    guard.armed = false;
    if more {
        spawn_flusher::<K>(shared.clone());
    }
    if batch.is_empty() {
        return;
    }
    let (items, replies): (Vec<K::Item>, Vec<Reply<K>>) =
        batch.into_iter().map(|w| (w.item, w.reply)).unzip();
    let lease = match lease {
        Ok(lease) => lease,
        Err(e) => return deliver::<K>(replies, Err(e)),
    };
    coalescer.batches.fetch_add(1, Ordering::Relaxed);
    coalescer
        .batched_calls
        .fetch_add(u64::try_from(items.len()).unwrap_or(u64::MAX), Ordering::Relaxed);
    let mut call = PooledCall::new(&shared);
    let result = async {
        call.start_with(lease).await?;
        K::run(&mut call, &items).await
    }
    .await;
    let result = call.finish(result).await;
    drop(in_flight);
    deliver::<K>(replies, result);
}

type Reply<K> = oneshot::Sender<Result<<K as Kind>::Output>>;

/// Hands each caller its result: its own output, or the error (a copy for
/// all but one of them).
fn deliver<K: Kind>(replies: Vec<Reply<K>>, result: Result<Vec<K::Output>>) {
    match result {
        Ok(outputs) => {
            debug_assert_eq!(outputs.len(), replies.len());
            for (reply, output) in replies.into_iter().zip(outputs) {
                let _ = reply.send(Ok(output));
            }
        }
        Err(e) => {
            let copies = replies.len().saturating_sub(1);
            let mut errors: Vec<Error> = (0..copies).map(|_| e.replicate()).collect();
            errors.push(e);
            for (reply, error) in replies.into_iter().zip(errors) {
                let _ = reply.send(Err(error));
            }
        }
    }
}

/// GET: the table's `get_many` (its key array hidden from the planner:
/// `sql::coalesce::key_array`).
#[derive(Debug)]
struct Get;

impl Kind for Get {
    type Item = String;
    type Output = Option<Vec<u8>>;
    const WRITES: bool = false;

    fn lane(coalescer: &Batcher) -> &Lane<Self> {
        &coalescer.get
    }

    fn bytes(key: &String) -> usize {
        key.len()
    }

    async fn run(call: &mut PooledCall<'_>, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>> {
        let unique = sorted_unique(keys);
        let rows: Vec<(String, Vec<u8>)> = purging_read!(call, get_many, sqlx::query_as, fetch_all, &unique)?;
        Ok(in_call_order(keys, rows))
    }
}

/// EXISTS: the live keys among those asked for.
#[derive(Debug)]
struct Exists;

impl Kind for Exists {
    type Item = String;
    type Output = bool;
    const WRITES: bool = false;

    fn lane(coalescer: &Batcher) -> &Lane<Self> {
        &coalescer.exists
    }

    fn bytes(key: &String) -> usize {
        key.len()
    }

    async fn run(call: &mut PooledCall<'_>, keys: &[String]) -> Result<Vec<bool>> {
        let unique = sorted_unique(keys);
        let mut found: Vec<String> = exists_each(call, &unique).await?;
        found.sort_unstable();
        Ok(keys.iter().map(|key| found.binary_search(key).is_ok()).collect())
    }
}

/// SET and SET_EX: one upsert, each row with its own TTL.
#[derive(Debug)]
struct Write;

impl Kind for Write {
    /// Key, value, TTL (`None`: no expiry, as SET).
    type Item = (String, Vec<u8>, Option<PgInterval>);
    type Output = ();
    const WRITES: bool = true;

    fn lane(coalescer: &Batcher) -> &Lane<Self> {
        &coalescer.write
    }

    fn bytes((key, value, _): &Self::Item) -> usize {
        key.len().saturating_add(value.len())
    }

    async fn run(call: &mut PooledCall<'_>, items: &[Self::Item]) -> Result<Vec<()>> {
        // In key order (the lock order of every batch write), and of one
        // key's writes only the last to arrive: it is what applying them
        // in arrival order leaves.
        let mut order: Vec<usize> = (0..items.len()).collect();
        order.sort_by(|&a, &b| items[a].0.cmp(&items[b].0));
        let mut keys = Vec::with_capacity(items.len());
        let mut values = Vec::with_capacity(items.len());
        let mut ttls = Vec::with_capacity(items.len());
        for (at, &i) in order.iter().enumerate() {
            let (key, value, ttl) = &items[i];
            if order.get(at + 1).is_some_and(|&next| items[next].0 == *key) {
                continue;
            }
            keys.push(key.as_str());
            values.push(value.as_slice());
            ttls.push(*ttl);
        }
        write_each(call, &keys, &values, &ttls).await?;
        Ok(vec![(); items.len()])
    }
}

/// DELETE: of one key's calls, the first to arrive reports the live row.
#[derive(Debug)]
struct Delete;

impl Kind for Delete {
    type Item = String;
    type Output = bool;
    const WRITES: bool = true;

    fn lane(coalescer: &Batcher) -> &Lane<Self> {
        &coalescer.delete
    }

    fn bytes(key: &String) -> usize {
        key.len()
    }

    async fn run(call: &mut PooledCall<'_>, keys: &[String]) -> Result<Vec<bool>> {
        let unique = sorted_unique(keys);
        let mut removed: Vec<String> = delete_each(call, &unique).await?;
        removed.sort_unstable();
        let mut reported = vec![false; removed.len()];
        Ok(keys
            .iter()
            .map(|key| match removed.binary_search(key) {
                Ok(i) => !std::mem::replace(&mut reported[i], true),
                Err(_) => false,
            })
            .collect())
    }
}

/// The batched EXISTS: which of `keys` (checked, sorted,
/// each once) are live.
async fn exists_each(s: &mut impl Conduit, keys: &[&str]) -> Result<Vec<String>> {
    purging_read!(s, coalesced.exists, sqlx::query_scalar, fetch_all, keys)
}

/// The batched SET/SET_EX: `keys` checked, sorted and each
/// once, each row with its own TTL (`None`: no expiry).
async fn write_each(
    s: &mut impl Conduit,
    keys: &[&str],
    values: &[&[u8]],
    ttls: &[Option<PgInterval>],
) -> Result<()> {
    let sql = s.shared().sql.coalesced.write.query();
    sqlx::query(sql)
        .bind(keys)
        .bind(values)
        .bind(ttls)
        .execute(s.connection().await?)
        .await
        .map_err(write_error)?;
    Ok(())
}

/// The batched DELETE: removes `keys` (checked, sorted, each
/// once) and returns those whose removed row was live.
async fn delete_each(s: &mut impl Conduit, keys: &[&str]) -> Result<Vec<String>> {
    let sql = s.shared().sql.coalesced.delete.query();
    sqlx::query_scalar(sql)
        .bind(keys)
        .fetch_all(s.connection().await?)
        .await
        .map_err(write_error)
}

/// The keys sorted, each once.
fn sorted_unique(keys: &[String]) -> Vec<&str> {
    let mut unique: Vec<&str> = keys.iter().map(String::as_str).collect();
    unique.sort_unstable();
    unique.dedup();
    unique
}
