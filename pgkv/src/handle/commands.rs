//! [`KvCommands`]: the key/value commands, one trait implemented by every
//! handle (`Store`, `&Store`, `Transaction`, `&mut Transaction`), so code can
//! be generic over where its commands run, as with redis-rs's
//! `AsyncCommands` or tokio-postgres's `GenericClient`.
//!
//! Each command is declared once, in the list at the bottom of this file:
//! its docs, its signature and the operation in `ops` that runs it. The
//! `commands!` macro writes from that one declaration the trait's provided
//! method and the inherent methods of `Store` and `Transaction` (so no import
//! is needed); a handle only says how a call reaches the server
//! ([`KvCommands::__call`]).

use std::future::Future;
use std::time::{Duration, SystemTime};

use crate::base::expiry::{ExpireWhen, Expiry};
use crate::base::observe::{self, Timer};
use crate::base::set_options::{SetOptions, SetOutcome};
use crate::call::written::Written;
use crate::call::{Conduit, Shared};
use crate::error::Result;
use crate::handle::route::Call;
use crate::handle::store::Store;
use crate::handle::transaction::Transaction;
use crate::ops::kv::{self, CasResult};
use crate::ops::limiter::{self, Quota, RateDecision};
use crate::ops::lock::{self, Lock};
use crate::ops::modes::{self, BatchGet, BatchMode, BatchReport};
use crate::ops::scan::{self, KeyValue, ScanOptions};

/// Starts `$call`, runs `$op` on it inside the command's span
/// and ends the call with the result (so a lost connection is noticed, and
/// a cancelled call's connection is cleaned up before reuse).
///
/// `writes = |shared| ...` names what the command writes (a
/// [`Written`]), computed before the arguments move into `$op`; without
/// it a command writes everything unless it is read-only.
macro_rules! run {
    ($call:expr, $name:expr, writes = $written:expr, $op:path, $($arg:expr),*) => {{
        let mut call = $call;
        let written: $crate::call::written::Written = ($written)(call.shared());
        let op = observe::op!($name);
        let span = observe::span(op, &call.shared().sql.collection);
        let timer = Timer::start(op, &span);
        let command = async move {
            let result = $op(&mut call, $($arg),*).await;
            timer.finish(&result);
            call.finish(written, result).await
        };
        observe::in_span(command, span)
    }};
    ($call:expr, $name:expr, $op:path, $($arg:expr),*) => {
        run!(
            $call,
            $name,
            writes = |_: &$crate::call::Shared| {
                $crate::call::written::Written::by_kind(observe::is_read_only($name))
            },
            $op,
            $($arg),*
        )
    };
}
pub(crate) use run;

impl KvCommands for Store {
    fn __call(&mut self) -> Call<'_> {
        Call::pooled(&self.shared)
    }
}

impl KvCommands for &Store {
    fn __call(&mut self) -> Call<'_> {
        Call::pooled(&self.shared)
    }
}

impl KvCommands for Transaction {
    fn __call(&mut self) -> Call<'_> {
        Call::transaction(self)
    }
}

impl KvCommands for &mut Transaction {
    fn __call(&mut self) -> Call<'_> {
        Call::transaction(self)
    }
}

/// Writes every command from its one declaration in the list below: the
/// [`KvCommands`] method (for generic code), and the inherent methods of
/// `Store` (`&self`) and `Transaction` (`&mut self`), so no import is needed,
/// all with the list's docs. Each runs its operation directly (an inherent
/// method does not go through the trait method), so a command's future is
/// not wrapped, and copied, once more.
/// What a command of the list writes, as `run!`'s `writes =` closure:
/// the list's `writes` clause, or by the command's kind without one.
macro_rules! writes {
    ($name:ident) => {
        |_: &Shared| Written::by_kind(observe::is_read_only(stringify!($name)))
    };
    ($name:ident, $w:ident($($warg:expr),*)) => {
        |shared: &Shared| Written::$w(shared, $($warg),*)
    };
}

macro_rules! commands {
    ($(
        $(#[doc = $doc:literal])*
        fn $name:ident $(<$($g:ident),+>)? ($($arg:ident: $ty:ty),*) -> $ret:ty
            $(where { $($bounds:tt)* })? = $op:path $(, writes $w:ident($($warg:expr),*))?;
    )*) => {
        /// Every command's name, in the list's order.
        pub(crate) const COMMANDS: &[&str] = &[$(stringify!($name)),*];

        /// The key/value commands, for any handle: a [`Store`] (a pooled connection
        /// per command), a [`Transaction`] (its own connection), and what later
        /// handles add. Generic code takes `impl KvCommands` by value and is called
        /// with `&store` or `&mut tx`:
        ///
        /// ```no_run
        /// use pgkv::KvCommands;
        ///
        /// /// Counts a visit, wherever the caller runs its commands.
        /// async fn visit(mut kv: impl KvCommands, page: &str) -> pgkv::Result<i64> {
        ///     kv.increment(format!("visits:{page}"), 1).await
        /// }
        ///
        /// # async fn demo(store: pgkv::Store) -> pgkv::Result<()> {
        /// visit(&store, "home").await?;
        /// store
        ///     .transaction(async |tx| {
        ///         visit(&mut *tx, "checkout").await?;
        ///         tx.set("last-page", "checkout").await
        ///     })
        ///     .await?;
        /// # Ok(())
        /// # }
        /// ```
        ///
        /// Every command checks its input, then sends one statement (`delete_prefix`:
        /// one per batch); input errors are returned before anything is sent. The
        /// trait is implemented by pgkv's handles only.
        pub trait KvCommands: Send {
            /// How a command of this handle reaches the server. Not public API.
            #[doc(hidden)]
            fn __call(&mut self) -> Call<'_>;

            $(
                $(#[doc = $doc])*
                fn $name $(<$($g),+>)? (&mut self, $($arg: $ty),*) -> impl Future<Output = Result<$ret>> + Send
                    $(where $($bounds)*)?
                {
                    run!(self.__call(), stringify!($name), writes = writes!($name $(, $w($($warg),*))?), $op, $($arg),*)
                }
            )*
        }

        impl Store {
            $(
                $(#[doc = $doc])*
                pub fn $name $(<$($g),+>)? (&self, $($arg: $ty),*) -> impl Future<Output = Result<$ret>> + Send
                    $(where $($bounds)*)?
                {
                    run!(Call::pooled(&self.shared), stringify!($name), writes = writes!($name $(, $w($($warg),*))?), $op, $($arg),*)
                }
            )*
        }

        impl Transaction {
            $(
                $(#[doc = $doc])*
                pub fn $name $(<$($g),+>)? (&mut self, $($arg: $ty),*) -> impl Future<Output = Result<$ret>> + Send
                    $(where $($bounds)*)?
                {
                    run!(Call::transaction(self), stringify!($name), writes = writes!($name $(, $w($($warg),*))?), $op, $($arg),*)
                }
            )*
        }
    };
}

commands! {
    /// Stores `value` under `key`, replacing any value and clearing any TTL.
    ///
    /// One `INSERT ... ON CONFLICT DO UPDATE`.
    fn set(key: impl AsRef<str> + Send, value: impl AsRef<[u8]> + Send) -> () = kv::set, writes key(key.as_ref());
    /// The value of `key`, or `None` if it is absent or expired.
    ///
    /// One `SELECT` (under `OnRead`, it also deletes the row if it has expired
    /// and no other transaction holds it).
    fn get(key: impl AsRef<str> + Send) -> Option<Vec<u8>> = kv::get;
    /// The value of `key` as a `String`; invalid UTF-8 is an
    /// [`Error::InvalidUtf8`](crate::Error::InvalidUtf8), never replaced lossily.
    fn get_string(key: impl AsRef<str> + Send) -> Option<String> = kv::get_string;
    /// The value of `key`, or an error whose
    /// [`is_not_found`](crate::Error::is_not_found) is true.
    fn get_or_err(key: impl AsRef<str> + Send) -> Vec<u8> = kv::get_or_err;
    /// Deletes `key`; true if a live key was removed (an expired row is
    /// removed too, but reports false).
    fn delete(key: impl AsRef<str> + Send) -> bool = kv::delete, writes key(key.as_ref());
    /// True if `key` is present and not expired.
    fn exists(key: impl AsRef<str> + Send) -> bool = kv::exists;
    /// Stores `value` under `key` as Redis's `SET` with options does: `NX`/`XX`,
    /// `EX`/`PX`/`EXAT`/`PXAT`/`KEEPTTL` and `GET`, in any combination Redis
    /// allows, as one statement (see [`SetOptions`](crate::SetOptions)). The
    /// previous value, when asked for, is exactly the one replaced, also under
    /// concurrent writers.
    fn set_with(key: impl AsRef<str> + Send, value: impl AsRef<[u8]> + Send, opts: SetOptions) -> SetOutcome = kv::set_with, writes key(key.as_ref());
    /// Stores `value` only if `key` is absent (an expired key counts as
    /// absent); true if it was stored. Exactly one of many concurrent
    /// callers wins.
    fn set_nx(key: impl AsRef<str> + Send, value: impl AsRef<[u8]> + Send) -> bool = kv::set_nx, writes key(key.as_ref());
    /// Replaces the value only if `key` is present (memcached `replace`,
    /// Redis `SET XX KEEPTTL`): the TTL is kept. True if replaced.
    fn replace(key: impl AsRef<str> + Send, value: impl AsRef<[u8]> + Send) -> bool = kv::replace, writes key(key.as_ref());
    /// Stores `value` under `key`, expiring `ttl` from now (server clock).
    fn set_ex(key: impl AsRef<str> + Send, value: impl AsRef<[u8]> + Send, ttl: Duration) -> () = kv::set_ex, writes key(key.as_ref());
    /// `set_nx` with a TTL: the lock/lease primitive (Redis `SET NX EX`).
    fn set_nx_ex(key: impl AsRef<str> + Send, value: impl AsRef<[u8]> + Send, ttl: Duration) -> bool = kv::set_nx_ex, writes key(key.as_ref());
    /// Reads `key` and moves its expiry to now + `ttl` in the same
    /// statement (Redis `GETEX`): a sliding session.
    fn get_ex(key: impl AsRef<str> + Send, ttl: Duration) -> Option<Vec<u8>> = kv::get_ex, writes key(key.as_ref());
    /// Sets the expiry of an existing key to now + `ttl`; false if absent.
    fn expire(key: impl AsRef<str> + Send, ttl: Duration) -> bool = kv::expire, writes key(key.as_ref());
    /// Sets the expiry of an existing key to now + `ttl` if `when` holds
    /// (Redis `EXPIRE key ttl NX|XX|GT|LT`); true if it was set.
    fn expire_if(key: impl AsRef<str> + Send, ttl: Duration, when: ExpireWhen) -> bool = kv::expire_if, writes key(key.as_ref());
    /// Sets the expiry of an existing key to the instant `at` if `when` holds
    /// (Redis `PEXPIREAT`, microsecond precision); true if it was set. The
    /// server compares `at` with its own clock: a time already past leaves the
    /// key expired, absent for every command. A time before 1970 or beyond
    /// [`MAX_TTL`](crate::MAX_TTL) from now is
    /// [`Error::InvalidExpiryTime`](crate::Error::InvalidExpiryTime).
    fn expire_at(key: impl AsRef<str> + Send, at: SystemTime, when: ExpireWhen) -> bool = kv::expire_at, writes key(key.as_ref());
    /// Remaining time to live, never rounded up (microsecond precision);
    /// `None` if the key is absent or has no expiry (see
    /// [`ttl_status`](Self::ttl_status) to tell the two apart).
    fn ttl(key: impl AsRef<str> + Send) -> Option<Duration> = kv::ttl;
    /// The key's remaining time to live, telling a missing key from one that
    /// never expires in one statement (Redis `PTTL`: -2, -1, or the time).
    fn ttl_status(key: impl AsRef<str> + Send) -> Expiry<Duration> = kv::ttl_status;
    /// The instant the key expires, by the server's clock (Redis
    /// `PEXPIRETIME`), or why there is none.
    fn expire_time(key: impl AsRef<str> + Send) -> Expiry<SystemTime> = kv::expire_time;
    /// Reads `key` and removes its expiry in the same statement (Redis
    /// `GETEX key PERSIST`).
    fn get_persist(key: impl AsRef<str> + Send) -> Option<Vec<u8>> = kv::get_persist, writes key(key.as_ref());
    /// The length of the value in bytes; 0 for a missing key (Redis `STRLEN`).
    fn strlen(key: impl AsRef<str> + Send) -> u64 = kv::strlen;
    /// Removes the expiry of `key`; true if it had one.
    fn persist(key: impl AsRef<str> + Send) -> bool = kv::persist, writes key(key.as_ref());
    /// Stores every pair in one statement, all or nothing. A repeated
    /// key: the last pair wins. Any invalid item rejects the whole batch
    /// before anything is sent.
    fn set_many<K, V>(items: &[(K, V)]) -> () where { K: AsRef<str> + Sync, V: AsRef<[u8]> + Sync } = kv::set_many, writes items(items);
    /// Stores every pair only if none of the keys is present (Redis `MSETNX`):
    /// true if all were stored, false if none was. All or nothing also against
    /// concurrent writers (inside a transaction, losing that race aborts the
    /// transaction and is returned as the error). A repeated key: the last
    /// pair wins.
    fn set_many_nx<K, V>(items: &[(K, V)]) -> bool where { K: AsRef<str> + Sync, V: AsRef<[u8]> + Sync } = kv::set_many_nx, writes items(items);
    /// `set_many` with one TTL for every pair.
    fn set_many_ex<K, V>(items: &[(K, V)], ttl: Duration) -> () where { K: AsRef<str> + Sync, V: AsRef<[u8]> + Sync } = kv::set_many_ex, writes items(items);
    /// The values of `keys`, aligned with `keys` (duplicates included).
    fn get_many<K>(keys: &[K]) -> Vec<Option<Vec<u8>>> where { K: AsRef<str> + Sync } = kv::get_many;
    /// Deletes `keys`; returns how many live keys were removed.
    fn delete_many<K>(keys: &[K]) -> u64 where { K: AsRef<str> + Sync } = kv::delete_many, writes slice(keys);
    /// `set_many` with a [`BatchMode`]: `BestEffort` refuses invalid items
    /// one by one, writes the rest in one statement and reports each refusal
    /// (rkvs's batch report).
    fn set_many_with<K, V>(items: &[(K, V)], mode: BatchMode) -> BatchReport where { K: AsRef<str> + Sync, V: AsRef<[u8]> + Sync } = modes::set_many_with, writes items(items);
    /// `get_many` with a [`BatchMode`]: `AllOrNothing` also fails with
    /// [`Error::NotFound`](crate::Error::NotFound) when a key is absent;
    /// `BestEffort` refuses invalid keys one by one and reads the rest.
    fn get_many_with<K>(keys: &[K], mode: BatchMode) -> BatchGet where { K: AsRef<str> + Sync } = modes::get_many_with;
    /// `delete_many` with a [`BatchMode`]: `BestEffort` refuses invalid keys
    /// one by one and deletes the rest.
    fn delete_many_with<K>(keys: &[K], mode: BatchMode) -> BatchReport where { K: AsRef<str> + Sync } = modes::delete_many_with, writes slice(keys);
    /// Adds `by` to the integer stored at `key` and returns the result.
    /// An absent key starts at 0. The value is stored as ASCII decimal
    /// (`get_string` reads `"5"`); the TTL is kept. A value that is not
    /// not exactly Redis's integer grammar (`0` or `-?[1-9][0-9]*`: `007`, `-0`, `+5` and ` 5` are not integers) is [`Error::NotAnInteger`](crate::Error::NotAnInteger),
    /// leaving `i64` is [`Error::Overflow`](crate::Error::Overflow); either way the value is unchanged.
    fn increment(key: impl AsRef<str> + Send, by: i64) -> i64 = kv::increment, writes key(key.as_ref());
    /// `increment`, and a counter that starts afresh (absent or expired) gets
    /// the expiry now + `ttl`, which later increments leave alone: Redis
    /// `INCRBY` + `EXPIRE NX` as one atomic step, the fixed-window rate
    /// limiter.
    fn increment_ex(key: impl AsRef<str> + Send, by: i64, ttl: Duration) -> i64 = kv::increment_ex, writes key(key.as_ref());
    /// Adds `by` to the decimal number stored at `key` (Redis `INCRBYFLOAT`) and
    /// returns the result; an absent key starts at 0, the TTL is kept. The
    /// arithmetic is exact decimal (PostgreSQL `numeric`): `0.1` + `0.2` stores
    /// `"0.3"`, and `1e3` + `0.1` stores `"1000.1"` where Redis's long
    /// double gives `1000.09999999999999998`. A stored value that is not a
    /// plain decimal float (spaces, hex, `inf`, `nan`) is
    /// [`Error::NotAFloat`](crate::Error::NotAFloat); a NaN or infinite `by`
    /// is [`Error::Overflow`](crate::Error::Overflow); either way nothing changes.
    fn increment_float(key: impl AsRef<str> + Send, by: f64) -> f64 = kv::increment_float, writes key(key.as_ref());
    /// Subtracts `by`; the same rules as `increment`. `i64::MIN` is refused
    /// ([`Error::Overflow`](crate::Error::Overflow)), as Redis refuses `DECRBY` with it.
    fn decrement(key: impl AsRef<str> + Send, by: i64) -> i64 = kv::decrement, writes key(key.as_ref());
    /// Replaces the value with `new` only if it currently equals
    /// `expected`; `expected == None` means "only if absent". A
    /// successful swap of an existing key keeps its TTL.
    fn compare_and_swap(key: impl AsRef<str> + Send, expected: Option<&[u8]>, new: impl AsRef<[u8]> + Send) -> CasResult = kv::compare_and_swap, writes key(key.as_ref());
    /// Stores `value` and returns exactly the value it replaced, also
    /// when racing other writers; clears the TTL.
    fn get_and_set(key: impl AsRef<str> + Send, value: impl AsRef<[u8]> + Send) -> Option<Vec<u8>> = kv::get_and_set, writes key(key.as_ref());
    /// Appends `value` to the value of `key` (creating it if absent) and returns
    /// the new length in bytes; the TTL is kept (Redis `APPEND`). A result
    /// longer than `max_value_size` is
    /// [`Error::ValueTooLarge`](crate::Error::ValueTooLarge) and changes nothing.
    fn append(key: impl AsRef<str> + Send, value: impl AsRef<[u8]> + Send) -> u64 = kv::append, writes key(key.as_ref());
    /// Moves the value and expiry of `from` to `to`, replacing `to` (Redis
    /// `RENAME`); false if `from` is absent (Redis answers "no such key").
    /// Both rows are locked in key order, so opposite renames wait for each
    /// other rather than deadlock.
    fn rename(from: impl AsRef<str> + Send, to: impl AsRef<str> + Send) -> bool = kv::rename, writes keys([from.as_ref(), to.as_ref()]);
    /// `rename`, only if `to` is absent (Redis `RENAMENX`): true if renamed.
    /// All or nothing: if a concurrent writer creates `to` meanwhile, nothing
    /// is moved and the answer is false (inside a transaction that race aborts
    /// the transaction and is returned as the error).
    fn rename_nx(from: impl AsRef<str> + Send, to: impl AsRef<str> + Send) -> bool = kv::rename_nx, writes keys([from.as_ref(), to.as_ref()]);
    /// Copies the value and expiry of `from` to `to` (Redis `COPY`, with
    /// `REPLACE` when `replace`); false if `from` is absent, `to` exists and
    /// `replace` is false, or the two are the same key.
    fn copy(from: impl AsRef<str> + Send, to: impl AsRef<str> + Send, replace: bool) -> bool = kv::copy, writes keys([from.as_ref(), to.as_ref()]);
    /// Deletes `key` and returns its value; of many concurrent callers,
    /// exactly one gets it.
    fn get_and_delete(key: impl AsRef<str> + Send) -> Option<Vec<u8>> = kv::get_and_delete, writes key(key.as_ref());
    /// Keys matching `opts`, in ascending byte order. Reads a range of
    /// the primary key index (for a [`pattern`](crate::ScanOptions::pattern),
    /// the range of its literal start, filtered on the server).
    fn keys(opts: ScanOptions) -> Vec<String> = scan::keys;
    /// Keys and values matching `opts`, in ascending byte order.
    fn scan(opts: ScanOptions) -> Vec<KeyValue> = scan::scan;
    /// How many live keys match `opts`' prefix and pattern (limit, offset and after are ignored).
    fn count(opts: ScanOptions) -> u64 = scan::count;
    /// Deletes every key starting with `prefix` (`""` deletes every key) in
    /// batches of [`cleanup_batch_size`](crate::Config::cleanup_batch_size) rows
    /// in key order, one statement each; returns how many live keys were
    /// removed (expired rows are removed too, uncounted). Not atomic, unlike
    /// [`delete_prefix_atomic`](KvCommands::delete_prefix_atomic).
    ///
    /// When it returns `Ok`, every key under the prefix that existed when the
    /// call began and was not written again meanwhile is gone (revoking every
    /// session of a user leaves none behind). The batches first skip rows
    /// another session holds locked (a write in its open transaction), so the
    /// bulk of the work never waits; then one more pass over what they left,
    /// in batches that wait for those rows in key order. That wait is bounded
    /// by the session's `lock_timeout` (set it on the connection, e.g.
    /// `?options=-c%20lock_timeout%3D5s` in the URL): a row still held then
    /// ends the call with [`Error::Timeout`](crate::Error::Timeout). Without a
    /// `lock_timeout` (or `statement_timeout`) it waits as long as the holder
    /// keeps its transaction open.
    ///
    /// Each statement locks at most one batch of rows, briefly, so a prefix of
    /// millions of keys never holds millions of row locks, nor blocks writers
    /// of those keys (or runs into `statement_timeout`) for the whole deletion.
    /// The price:
    /// - outside a transaction each batch commits by itself: a call that fails
    ///   or is cancelled part way leaves the batches already run deleted;
    /// - keys inserted (or written again) while it runs may survive, when the
    ///   batches have already passed their place.
    ///
    /// Inside a [`Transaction`](crate::Transaction) the batches run in it and
    /// commit or roll back with it (its own uncommitted writes are deleted
    /// too).
    fn delete_prefix(prefix: &str) -> u64 = scan::delete_prefix, writes prefix(prefix);
    /// Deletes every key starting with `prefix` (`""` deletes every key) in one
    /// statement, all or nothing; returns how many live keys were removed
    /// (expired rows are removed too, uncounted).
    ///
    /// It waits for rows other sessions hold locked rather than skipping them,
    /// and holds the lock of every row it deletes until it commits (until the
    /// transaction ends, inside one): on a large prefix, one long statement that
    /// blocks every writer of those keys meanwhile and may run into
    /// `statement_timeout`. Keys inserted while it runs survive.
    /// [`delete_prefix`](Self::delete_prefix) bounds the lock footprint instead,
    /// deleting in batches.
    fn delete_prefix_atomic(prefix: &str) -> u64 = scan::delete_prefix_atomic, writes prefix(prefix);
    /// The server's `EXPLAIN` of the statement [`keys`](Self::keys)
    /// would run for `opts`: a diagnostic for checking index use.
    fn explain_keys(opts: ScanOptions) -> String = scan::explain_keys;
    /// Takes the lock `key` for `ttl` if it is free (never held, released,
    /// or its lease has run out), in one statement; `None` if another holder
    /// has it. The grant carries a [`FencingToken`](crate::FencingToken)
    /// strictly greater than every token granted before for this table's
    /// locks, drawn from a WAL-logged sequence, so it never goes backwards,
    /// not even when an UNLOGGED table is emptied by a crash. The lock row
    /// stays under `key` (without a TTL) after release, keeping the highest
    /// token next to it. A key that holds another kind of value is
    /// [`Error::WrongKind`](crate::Error::WrongKind). A concurrent acquirer
    /// granted in between can make this return `None` for a lock freed
    /// again at once. [`Store::lock`] waits with backoff. On a table created
    /// before pgkv had locks, the first call creates the token sequence
    /// (unless `auto_create_table` is off:
    /// [`Error::FenceSequenceMissing`](crate::Error::FenceSequenceMissing)).
    fn try_lock(key: impl AsRef<str> + Send, ttl: Duration) -> Option<Lock> = lock::try_lock, writes key(key.as_ref());
    /// Releases `lock`, checked in the statement: only the holder named by
    /// the lock's token and owner, while its lease lasts. False if the lease
    /// had run out (whether or not someone else holds the lock now, it is
    /// left alone). The token stays, so later grants still get higher ones.
    fn unlock(lock: &Lock) -> bool = lock::unlock, writes key(lock.key());
    /// Moves the lease of `lock` to now + `ttl`, with the same check as
    /// [`unlock`](Self::unlock); false if the lease had run out.
    fn extend_lock(lock: &Lock, ttl: Duration) -> bool = lock::extend_lock, writes key(lock.key());
    /// A fixed-window rate limit: admits at most `limit` checks of `key`
    /// per `window`, the window starting at the first check (Redis `INCR` +
    /// `EXPIRE NX`, as one statement). A denied check does not count, so the
    /// stored count never passes `limit + 1`. Exact under concurrency: each
    /// check locks the counter row. A key holding something else is
    /// [`Error::WrongKind`](crate::Error::WrongKind).
    fn rate_limit(key: impl AsRef<str> + Send, limit: u64, window: Duration) -> RateDecision = limiter::rate_limit, writes key(key.as_ref());
    /// A smooth rate limit (GCRA) in one statement: on average
    /// `quota`'s limit per period, at most its burst back to back, with no
    /// window edge where twice the limit gets through. The state is one
    /// row (`tat flag now` in µs) that expires when it no longer matters.
    fn rate_limit_gcra(key: impl AsRef<str> + Send, quota: Quota) -> RateDecision = limiter::rate_limit_gcra, writes key(key.as_ref());
}
