//! Model-based test: random sequences of `Store` operations (and
//! transactions of them) run against PostgreSQL and against a plain
//! in-memory model. Every result is compared with the model's after every
//! step, and so is the whole table (keys, values, which rows carry a TTL,
//! which rows are expired). proptest shrinks a failure to a minimal
//! sequence; the failure message also lists the sequence as it ran (with
//! the values the model resolved, e.g. which key `ExpireNth` expired, or
//! the glob a scan made from a live key). Scans with a Redis glob pattern
//! are checked against the model's own glob matcher (`glob`, `glob_match`).
//!
//! The clock: the server's clock cannot be controlled, so every TTL is hours
//! long (real time never matters) and expiry is an operation of its own,
//! `ExpireNth`, which moves the expiry of one key that has a TTL into the past
//! (`pgkv_suite::force_expire`) and marks it expired in the model.
//!
//! Size: by default 64 cases per cleanup strategy (`OnRead` and `Manual`,
//! whose observable behaviour must be identical), each of 1 to 40 steps
//! (about 1,300 steps per strategy, ~7 s in a debug build). The long form
//! sets `PGKV_MODEL_CASES` (cases per strategy) and `PGKV_MODEL_STEPS` (most
//! steps per case); 100,000 steps (about 5 minutes in a debug build):
//!
//! ```text
//! PGKV_MODEL_CASES=2500 PGKV_MODEL_STEPS=40 \
//!     scripts/with-postgres cargo test --test store model_ -- --nocapture
//! ```
//!
//! Each test prints how many cases and steps it ran; `PGKV_MODEL_STATS=1`
//! also prints how often each operation met each kind of outcome.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::RangeInclusive;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use pgkv::{CasResult, Error, ExpireWhen, Expiry, ScanOptions, SetOptions, Store, TtlCleanupStrategy};
use pgkv_suite::{force_expire, store_with, table_of};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::test_runner::{Config as RunnerConfig, TestCaseError, TestRunner};

/// Small limits, so that too-long keys and too-large values come up.
const MAX_KEY: usize = 12;
/// Large enough for the decimal text of any i64 (20 bytes).
const MAX_VALUE: usize = 24;
/// Longest TTL generated; real time never gets near it.
const MAX_HOURS: u64 = 48;

// ---------------------------------------------------------------------------
// Operations

/// A value, shown as a byte string in failure messages.
#[derive(Clone, PartialEq, Eq)]
struct Val(Vec<u8>);

impl fmt::Debug for Val {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "b\"{}\"", self.0.escape_ascii())
    }
}

impl AsRef<[u8]> for Val {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

#[derive(Debug, Clone, Default)]
struct Scan {
    prefix: Option<String>,
    /// A Redis glob (`ScanOptions::pattern`).
    pattern: Option<String>,
    /// Replace `pattern`, when the step runs, with one made by `from_key`
    /// from a live key (this one of them, this way, this character), so that
    /// it matches something in the small tables of a case.
    from_live: Option<(Index, usize, Index)>,
    after: Option<String>,
    limit: Option<u64>,
    offset: Option<u64>,
}

impl Scan {
    fn options(&self) -> ScanOptions {
        let mut o = ScanOptions::new();
        if let Some(p) = &self.prefix {
            o = o.prefix(p);
        }
        if let Some(p) = &self.pattern {
            o = o.pattern(p);
        }
        if let Some(a) = &self.after {
            o = o.after(a);
        }
        if let Some(l) = self.limit {
            o = o.limit(l);
        }
        if let Some(n) = self.offset {
            o = o.offset(n);
        }
        o
    }

    fn prefix(&self) -> &str {
        self.prefix.as_deref().unwrap_or("")
    }

    /// What the library checks before any SQL, in its order (`after` only
    /// where it counts: not for `count`). `Ok(false)`: no key can match (the
    /// pattern holds `[]`, or its literal start and the prefix disagree), so
    /// nothing is sent (and an aborted transaction does not answer 25P02).
    fn checks(&self, with_after: bool) -> Result<bool, Fail> {
        check_bound(self.prefix())?;
        if with_after && let Some(a) = &self.after {
            check_bound(a)?;
        }
        let Some(p) = &self.pattern else {
            return Ok(true);
        };
        check_bound(p)?;
        let g = glob(p).ok_or_else(|| Fail::InvalidPattern(p.clone()))?;
        let literal: String = g
            .iter()
            .map_while(|t| match t {
                G::Char(c) => Some(*c),
                _ => None,
            })
            .collect();
        let never = g.iter().any(|t| matches!(t, G::Set(false, m) if m.is_empty()));
        let prefix = self.prefix();
        Ok(!never && (literal.starts_with(prefix) || prefix.starts_with(&literal)))
    }

    /// Whether key `k` is selected (page aside): it starts with the prefix
    /// and matches the pattern whole. Only after `checks` passed.
    fn admits(&self, k: &str) -> bool {
        k.starts_with(self.prefix())
            && self.pattern.as_deref().is_none_or(|p| {
                let chars: Vec<char> = k.chars().collect();
                glob_match(&glob(p).expect("checked"), &chars)
            })
    }
}

// ---------------------------------------------------------------------------
// Globs: the model's own reading of Redis's patterns (stringmatchlen, on
// characters), written apart from the library's, which turns them into a
// key range and a regular expression.

/// One element of a glob.
#[derive(Debug, Clone, PartialEq, Eq)]
enum G {
    /// This character (`a`, or escaped: `\*`).
    Char(char),
    /// `?`
    One,
    /// `*`
    Run,
    /// `[...]`: negated or not; members as inclusive ranges, a lone
    /// character being a range of one.
    Set(bool, Vec<(char, char)>),
}

/// `p` read by Redis's rules (`[!` negates as `[^` does); `None` where Redis
/// would read past the end (an unterminated `[`, a trailing `\`), which the
/// library refuses.
fn glob(p: &str) -> Option<Vec<G>> {
    let cs: Vec<char> = p.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < cs.len() {
        i += 1;
        out.push(match cs[i - 1] {
            '*' => G::Run,
            '?' => G::One,
            '\\' => {
                let c = *cs.get(i)?;
                i += 1;
                G::Char(c)
            }
            '[' => {
                let negated = matches!(cs.get(i), Some('^' | '!'));
                if negated {
                    i += 1;
                }
                let mut members = Vec::new();
                loop {
                    // Redis's order: an escape, the closing `]`, a range
                    // (any character after `-` ends it, `]` included), one.
                    let c = *cs.get(i)?;
                    if c == '\\' && i + 1 < cs.len() {
                        members.push((cs[i + 1], cs[i + 1]));
                        i += 2;
                    } else if c == ']' {
                        i += 1;
                        break;
                    } else if i + 2 < cs.len() && cs[i + 1] == '-' {
                        let end = cs[i + 2];
                        members.push((c.min(end), c.max(end)));
                        i += 3;
                    } else {
                        members.push((c, c));
                        i += 1;
                    }
                }
                G::Set(negated, members)
            }
            c => G::Char(c),
        });
    }
    Some(out)
}

/// Whether the whole of `k` matches `g` (backtracking over `*`).
fn glob_match(g: &[G], k: &[char]) -> bool {
    match g.split_first() {
        None => k.is_empty(),
        Some((G::Run, rest)) => (0..=k.len()).any(|n| glob_match(rest, &k[n..])),
        Some((t, rest)) => k.split_first().is_some_and(|(c, k)| {
            let one = match t {
                G::Char(x) => x == c,
                G::Set(negated, members) => members.iter().any(|(lo, hi)| (lo..=hi).contains(&c)) != *negated,
                G::One | G::Run => true,
            };
            one && glob_match(rest, k)
        }),
    }
}

/// `compare_and_swap`'s expected value: the key's current value (resolved by
/// the model when the step runs, so swaps succeed often) or a literal.
#[derive(Debug, Clone)]
enum Expected {
    Current,
    Literal(Val),
}

#[derive(Debug, Clone, Copy)]
enum TxEnd {
    Commit,
    Rollback,
    /// Dropped without commit or rollback.
    Drop,
    /// `Store::transaction` with a closure returning `Ok`.
    Closure,
}

#[derive(Debug, Clone)]
enum Op {
    Set(String, Val),
    SetEx(String, Val, Duration),
    Get(String),
    GetString(String),
    GetOrErr(String),
    GetEx(String, Duration),
    Delete(String),
    Exists(String),
    SetNx(String, Val),
    SetNxEx(String, Val, Duration),
    Replace(String, Val),
    Increment(String, i64),
    Decrement(String, i64),
    CasAbsent(String, Val),
    CasPresent(String, Expected, Val),
    GetAndSet(String, Val),
    GetAndDelete(String),
    Expire(String, Duration),
    ExpireIf(String, Duration, ExpireWhen),
    Persist(String),
    Ttl(String),
    TtlStatus(String),
    GetPersist(String),
    Strlen(String),
    IncrementEx(String, i64, Duration),
    /// `increment_float` by a number with at most two decimals.
    IncrementFloat(String, f64),
    /// `expire_at` an instant `Duration` from now (resolved when it runs).
    ExpireAt(String, Duration, ExpireWhen),
    ExpireTime(String),
    SetWith(String, Val, SetWhen, SetTtl, bool),
    Append(String, Val),
    Rename(String, String),
    RenameNx(String, String),
    Copy(String, String, bool),
    SetManyNx(Vec<(String, Val)>),
    DeletePrefixAtomic(String),
    SetMany(Vec<(String, Val)>),
    SetManyEx(Vec<(String, Val)>, Duration),
    GetMany(Vec<String>),
    DeleteMany(Vec<String>),
    Keys(Scan),
    ScanKv(Scan),
    Count(Scan),
    DeletePrefix(String),
    /// Expire the n-th (modulo) key that has a live TTL; nothing if none has.
    ExpireNth(usize),
    /// `cleanup_expired`, then the raw row count must match the model.
    Cleanup,
    Tx(Vec<Op>, TxEnd),
}

/// `set_with`'s condition (NX / XX).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetWhen {
    Always,
    Nx,
    Xx,
}

/// `set_with`'s expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetTtl {
    Clear,
    In(Duration),
    /// An instant this far from now (resolved when it runs).
    At(Duration),
    Keep,
}

fn set_options(when: SetWhen, ttl: SetTtl, get: bool) -> SetOptions {
    let mut o = match when {
        SetWhen::Always => SetOptions::new(),
        SetWhen::Nx => SetOptions::new().only_if_absent(),
        SetWhen::Xx => SetOptions::new().only_if_present(),
    };
    o = match ttl {
        SetTtl::Clear => o,
        SetTtl::In(d) => o.expire_in(d),
        SetTtl::At(d) => o.expire_at(SystemTime::now() + d),
        SetTtl::Keep => o.keep_ttl(),
    };
    if get { o.previous() } else { o }
}

// ---------------------------------------------------------------------------
// Outcomes

#[derive(Debug, Clone, PartialEq)]
enum Cas {
    Success,
    Mismatch(Option<Val>),
    NotFound,
}

/// An error, reduced to what the model can predict (with the key it carries).
#[derive(Debug, Clone, PartialEq)]
enum Fail {
    EmptyKey,
    Nul(String),
    TooLong(usize),
    TooLarge(String),
    BadTtl,
    NotAnInteger(String),
    NotAFloat(String),
    Overflow(String),
    NotFound(String),
    InvalidUtf8(String),
    /// `Error::InvalidPattern`, with the pattern.
    InvalidPattern(String),
    /// SQLSTATE 25P02: a statement sent inside an aborted transaction.
    InFailedTx,
    /// `Error::TransactionAborted` from commit.
    TxAborted,
    /// Anything the model never predicts.
    Other(String),
}

#[derive(Debug, Clone, PartialEq)]
enum Out {
    Unit,
    Bool(bool),
    Value(Option<Val>),
    Text(Option<String>),
    Int(i64),
    Count(u64),
    Cas(Cas),
    Values(Vec<Option<Val>>),
    Keys(Vec<String>),
    Pairs(Vec<(String, Val)>),
    HasTtl(bool),
    /// `ttl_status`, `expire_time`: 0 missing, 1 persistent, 2 expires (in range).
    Status(u8),
    /// `increment_float`: the returned number's bits.
    Float(u64),
    /// `set_with`: written, and the previous value when asked for.
    SetWith(bool, Option<Val>),
    Err(Fail),
}

fn fail(e: Error) -> Fail {
    match e {
        Error::EmptyKey => Fail::EmptyKey,
        Error::KeyContainsNul { key } => Fail::Nul(key),
        Error::KeyTooLong { len, .. } => Fail::TooLong(len),
        Error::ValueTooLarge { key, .. } => Fail::TooLarge(key),
        Error::InvalidTtl { .. } => Fail::BadTtl,
        Error::NotAnInteger { key } => Fail::NotAnInteger(key),
        Error::NotAFloat { key } => Fail::NotAFloat(key),
        Error::Overflow { key } => Fail::Overflow(key),
        Error::NotFound { key } => Fail::NotFound(key),
        Error::InvalidUtf8 { key, .. } => Fail::InvalidUtf8(key),
        Error::InvalidPattern { pattern, .. } => Fail::InvalidPattern(pattern),
        Error::TransactionAborted => Fail::TxAborted,
        e if e.code() == Some("25P02") => Fail::InFailedTx,
        e => Fail::Other(format!("{e:?}")),
    }
}

fn out<T>(result: pgkv::Result<T>, f: impl FnOnce(T) -> Out) -> Out {
    match result {
        Ok(v) => f(v),
        Err(e) => Out::Err(fail(e)),
    }
}

fn val(v: Option<Vec<u8>>) -> Option<Val> {
    v.map(Val)
}

fn ttl_out(ttl: Option<Duration>) -> Out {
    match ttl {
        None => Out::HasTtl(false),
        Some(d) if !d.is_zero() && d <= Duration::from_secs(MAX_HOURS * 3600) => Out::HasTtl(true),
        Some(d) => Out::Err(Fail::Other(format!("ttl out of range: {d:?}"))),
    }
}

fn status(e: Expiry<Duration>) -> Out {
    match e {
        Expiry::Missing => Out::Status(0),
        Expiry::Persistent => Out::Status(1),
        Expiry::At(d) => match ttl_out(Some(d)) {
            Out::HasTtl(true) => Out::Status(2),
            other => other,
        },
        _ => Out::Err(Fail::Other(format!("unknown expiry {e:?}"))),
    }
}

fn expire_time(e: Expiry<SystemTime>) -> Out {
    match e {
        Expiry::Missing => Out::Status(0),
        Expiry::Persistent => Out::Status(1),
        Expiry::At(t) => match t.duration_since(SystemTime::now()) {
            Ok(left) => ttl_status_of(left),
            Err(_) => Out::Err(Fail::Other(format!("expiry in the past: {t:?}"))),
        },
        _ => Out::Err(Fail::Other(format!("unknown expiry {e:?}"))),
    }
}

fn ttl_status_of(left: Duration) -> Out {
    match ttl_out(Some(left)) {
        Out::HasTtl(true) => Out::Status(2),
        other => other,
    }
}

fn cas(r: CasResult) -> Out {
    Out::Cas(match r {
        CasResult::Success => Cas::Success,
        CasResult::Mismatch { current } => Cas::Mismatch(val(current)),
        CasResult::NotFound => Cas::NotFound,
    })
}

/// Runs one (resolved) key/value operation on a `&Store` or a `&mut Transaction`.
macro_rules! exec {
    ($target:expr, $op:expr) => {{
        let t = $target;
        match $op {
            Op::Set(k, v) => out(t.set(k, v).await, |()| Out::Unit),
            Op::SetEx(k, v, d) => out(t.set_ex(k, v, *d).await, |()| Out::Unit),
            Op::Get(k) => out(t.get(k).await, |v| Out::Value(val(v))),
            Op::GetString(k) => out(t.get_string(k).await, Out::Text),
            Op::GetOrErr(k) => out(t.get_or_err(k).await, |v| Out::Value(Some(Val(v)))),
            Op::GetEx(k, d) => out(t.get_ex(k, *d).await, |v| Out::Value(val(v))),
            Op::Delete(k) => out(t.delete(k).await, Out::Bool),
            Op::Exists(k) => out(t.exists(k).await, Out::Bool),
            Op::SetNx(k, v) => out(t.set_nx(k, v).await, Out::Bool),
            Op::SetNxEx(k, v, d) => out(t.set_nx_ex(k, v, *d).await, Out::Bool),
            Op::Replace(k, v) => out(t.replace(k, v).await, Out::Bool),
            Op::Increment(k, by) => out(t.increment(k, *by).await, Out::Int),
            Op::Decrement(k, by) => out(t.decrement(k, *by).await, Out::Int),
            Op::CasAbsent(k, v) => out(t.compare_and_swap(k, None, v).await, cas),
            Op::CasPresent(k, Expected::Literal(e), v) => {
                out(t.compare_and_swap(k, Some(e.0.as_slice()), v).await, cas)
            }
            Op::CasPresent(_, Expected::Current, _) => unreachable!("resolved by the model"),
            Op::GetAndSet(k, v) => out(t.get_and_set(k, v).await, |v| Out::Value(val(v))),
            Op::GetAndDelete(k) => out(t.get_and_delete(k).await, |v| Out::Value(val(v))),
            Op::Expire(k, d) => out(t.expire(k, *d).await, Out::Bool),
            Op::ExpireIf(k, d, when) => out(t.expire_if(k, *d, *when).await, Out::Bool),
            Op::Persist(k) => out(t.persist(k).await, Out::Bool),
            Op::Ttl(k) => out(t.ttl(k).await, ttl_out),
            Op::TtlStatus(k) => out(t.ttl_status(k).await, status),
            Op::GetPersist(k) => out(t.get_persist(k).await, |v| Out::Value(val(v))),
            Op::Strlen(k) => out(t.strlen(k).await, Out::Count),
            Op::IncrementEx(k, by, d) => out(t.increment_ex(k, *by, *d).await, Out::Int),
            Op::IncrementFloat(k, by) => out(t.increment_float(k, *by).await, |f| Out::Float(f.to_bits())),
            Op::SetMany(items) => out(t.set_many(items.as_slice()).await, |()| Out::Unit),
            Op::SetManyEx(items, d) => out(t.set_many_ex(items.as_slice(), *d).await, |()| Out::Unit),
            Op::GetMany(keys) => out(t.get_many(keys.as_slice()).await, |vs| {
                Out::Values(vs.into_iter().map(val).collect())
            }),
            Op::DeleteMany(keys) => out(t.delete_many(keys.as_slice()).await, Out::Count),
            Op::Keys(scan) => out(t.keys(scan.options()).await, Out::Keys),
            Op::ScanKv(scan) => out(t.scan(scan.options()).await, |kvs| {
                Out::Pairs(kvs.into_iter().map(|kv| (kv.key, Val(kv.value))).collect())
            }),
            Op::Count(scan) => out(t.count(scan.options()).await, Out::Count),
            Op::DeletePrefix(p) => out(t.delete_prefix(p).await, Out::Count),
            Op::DeletePrefixAtomic(p) => out(t.delete_prefix_atomic(p).await, Out::Count),
            Op::ExpireAt(k, d, when) => out(t.expire_at(k, SystemTime::now() + *d, *when).await, Out::Bool),
            Op::ExpireTime(k) => out(t.expire_time(k).await, expire_time),
            Op::SetWith(k, v, when, ttl, get) => {
                out(t.set_with(k, v, set_options(*when, *ttl, *get)).await, |o| {
                    Out::SetWith(o.written, val(o.previous))
                })
            }
            Op::Append(k, v) => out(t.append(k, v).await, Out::Count),
            Op::Rename(a, b) => out(t.rename(a, b).await, Out::Bool),
            Op::RenameNx(a, b) => out(t.rename_nx(a, b).await, Out::Bool),
            Op::Copy(a, b, replace) => out(t.copy(a, b, *replace).await, Out::Bool),
            Op::SetManyNx(items) => out(t.set_many_nx(items.as_slice()).await, Out::Bool),
            Op::ExpireNth(_) | Op::Cleanup | Op::Tx(..) => unreachable!("run by the driver"),
        }
    }};
}

// ---------------------------------------------------------------------------
// The model

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ttl {
    None,
    /// Expires at this instant of the model's clock, set when the operation
    /// ran (hours away, so it is never reached; it orders expiries for
    /// `ExpireIf`'s GT/LT as the server's `statement_timestamp()` does).
    Live(Instant),
    /// Past its expiry: absent for every operation, but maybe still on disk.
    Expired,
}

/// A TTL of `d` set now.
fn live_for(d: Duration) -> Ttl {
    Ttl::Live(Instant::now() + d)
}

#[derive(Debug, Clone)]
struct Entry {
    value: Vec<u8>,
    ttl: Ttl,
}

/// The rows the table should hold. Under `Manual` this is exact, expired rows
/// included (reads never delete); under `OnRead` a read may have deleted an
/// expired row the model still lists.
#[derive(Debug, Clone, Default)]
struct Model {
    rows: BTreeMap<String, Entry>,
}

/// Where a step runs: outside a transaction, or inside one that a server-side
/// error may have aborted.
#[derive(Debug, Clone, Copy, Default)]
struct Session {
    in_tx: bool,
    aborted: bool,
}

impl Session {
    /// A statement is about to be sent: inside an aborted transaction the
    /// server refuses it.
    fn sql(&self) -> Result<(), Fail> {
        if self.aborted {
            Err(Fail::InFailedTx)
        } else {
            Ok(())
        }
    }

    /// The server raised an error: a transaction is now aborted.
    fn server_error(&mut self, f: Fail) -> Fail {
        if self.in_tx {
            self.aborted = true;
        }
        f
    }
}

fn check_key(k: &str) -> Result<(), Fail> {
    if k.is_empty() {
        return Err(Fail::EmptyKey);
    }
    if k.len() > MAX_KEY {
        return Err(Fail::TooLong(k.len()));
    }
    if k.contains('\0') {
        return Err(Fail::Nul(k.to_owned()));
    }
    Ok(())
}

fn check_entry(k: &str, v: &Val) -> Result<(), Fail> {
    check_key(k)?;
    if v.0.len() > MAX_VALUE {
        return Err(Fail::TooLarge(k.to_owned()));
    }
    Ok(())
}

fn check_ttl(d: Duration) -> Result<(), Fail> {
    if d.is_zero() { Err(Fail::BadTtl) } else { Ok(()) }
}

fn check_bound(s: &str) -> Result<(), Fail> {
    if s.contains('\0') {
        Err(Fail::Nul(s.to_owned()))
    } else {
        Ok(())
    }
}

/// An exact decimal, enough for `increment_float`'s model: the stored
/// values the generators make (at most 20 digits, small exponents) and
/// increments with two decimals. `value * 10^-scale`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Decimal {
    value: i128,
    scale: u32,
}

impl Decimal {
    const ZERO: Decimal = Decimal { value: 0, scale: 0 };

    /// The grammar pgkv accepts (`^[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?$`);
    /// `None` for anything else, or beyond what i128 holds here.
    fn parse(text: &[u8]) -> Option<Decimal> {
        let text = std::str::from_utf8(text).ok()?;
        let (mantissa, exponent) = match text.find(['e', 'E']) {
            Some(at) => (&text[..at], Some(&text[at + 1..])),
            None => (text, None),
        };
        let (negative, digits) = match mantissa.as_bytes().first() {
            Some(b'-') => (true, &mantissa[1..]),
            Some(b'+') => (false, &mantissa[1..]),
            _ => (false, mantissa),
        };
        let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
        if whole.is_empty() && fraction.is_empty() {
            return None;
        }
        if !whole.bytes().chain(fraction.bytes()).all(|b| b.is_ascii_digit()) {
            return None;
        }
        let exponent: i32 = match exponent {
            None => 0,
            Some(e) => {
                let body = e.strip_prefix(['+', '-']).unwrap_or(e);
                if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                e.parse().ok()?
            }
        };
        let mut value: i128 = format!("{whole}{fraction}")
            .trim_start_matches('0')
            .parse()
            .unwrap_or(0);
        let mut scale = i32::try_from(fraction.len()).ok()? - exponent;
        while scale < 0 {
            value = value.checked_mul(10)?;
            scale += 1;
        }
        if negative {
            value = -value;
        }
        Some(Decimal {
            value,
            scale: u32::try_from(scale).ok()?,
        })
    }

    fn add(self, other: Decimal) -> Decimal {
        let scale = self.scale.max(other.scale);
        let widen = |d: Decimal| d.value * 10i128.pow(scale - d.scale);
        Decimal {
            value: widen(self) + widen(other),
            scale,
        }
    }
}

/// As PostgreSQL prints `trim_scale(numeric)`: no exponent, no trailing
/// fractional zeros, no `-0`.
impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (mut value, mut scale) = (self.value, self.scale);
        while scale > 0 && value % 10 == 0 {
            value /= 10;
            scale -= 1;
        }
        let digits = value.unsigned_abs().to_string();
        let sign = if value < 0 { "-" } else { "" };
        let scale = scale as usize;
        if scale == 0 {
            write!(f, "{sign}{digits}")
        } else if digits.len() > scale {
            let (whole, fraction) = digits.split_at(digits.len() - scale);
            write!(f, "{sign}{whole}.{fraction}")
        } else {
            write!(f, "{sign}0.{}{digits}", "0".repeat(scale - digits.len()))
        }
    }
}

/// Redis's grammar: `0` or `-?[1-9][0-9]*`, nothing else (no `-0`, no
/// leading zeros); digits beyond i64 overflow.
fn parse_counter(k: &str, v: &[u8]) -> Result<i64, Fail> {
    let digits = v.strip_prefix(b"-").unwrap_or(v);
    let canonical = match digits {
        [] => false,
        [b'0'] => digits.len() == v.len(),
        [first, rest @ ..] => (b'1'..=b'9').contains(first) && rest.iter().all(u8::is_ascii_digit),
    };
    if !canonical {
        return Err(Fail::NotAnInteger(k.to_owned()));
    }
    std::str::from_utf8(v)
        .expect("ASCII")
        .parse()
        .map_err(|_| Fail::Overflow(k.to_owned()))
}

impl Model {
    fn live(&self, k: &str) -> Option<&Entry> {
        self.rows.get(k).filter(|e| e.ttl != Ttl::Expired)
    }

    fn live_mut(&mut self, k: &str) -> Option<&mut Entry> {
        self.rows.get_mut(k).filter(|e| e.ttl != Ttl::Expired)
    }

    fn value(&self, k: &str) -> Option<Val> {
        self.live(k).map(|e| Val(e.value.clone()))
    }

    fn put(&mut self, k: &str, v: &Val, ttl: Ttl) {
        self.rows.insert(
            k.to_owned(),
            Entry {
                value: v.0.clone(),
                ttl,
            },
        );
    }

    fn live_pairs(&self) -> impl Iterator<Item = (&String, &Entry)> {
        self.rows.iter().filter(|(_, e)| e.ttl != Ttl::Expired)
    }

    /// Keys with a live TTL, in order: what `ExpireNth` picks from.
    fn with_ttl(&self) -> Vec<String> {
        self.live_pairs()
            .filter(|(_, e)| matches!(e.ttl, Ttl::Live(_)))
            .map(|(k, _)| k.clone())
            .collect()
    }

    fn expired(&self) -> usize {
        self.rows.values().filter(|e| e.ttl == Ttl::Expired).count()
    }

    /// The live keys a scan selects, in byte order (`String` orders by bytes).
    fn select(&self, scan: &Scan) -> Vec<(String, Val)> {
        let after = scan.after.as_deref();
        self.live_pairs()
            .filter(|(k, _)| scan.admits(k))
            .filter(|(k, _)| after.is_none_or(|a| k.as_bytes() > a.as_bytes()))
            .skip(usize::try_from(scan.offset.unwrap_or(0)).unwrap())
            .take(scan.limit.map_or(usize::MAX, |l| usize::try_from(l).unwrap()))
            .map(|(k, e)| (k.clone(), Val(e.value.clone())))
            .collect()
    }

    /// Fixes what an operation leaves to the moment it runs.
    fn resolve(&self, op: &Op) -> Op {
        match op {
            Op::CasPresent(k, Expected::Current, v) => {
                let current = self.value(k).unwrap_or(Val(b"?".to_vec()));
                Op::CasPresent(k.clone(), Expected::Literal(current), v.clone())
            }
            Op::Keys(scan) => Op::Keys(self.resolve_scan(scan)),
            Op::ScanKv(scan) => Op::ScanKv(self.resolve_scan(scan)),
            Op::Count(scan) => Op::Count(self.resolve_scan(scan)),
            other => other.clone(),
        }
    }

    /// A scan's pattern made from a live key, if it asks for one and there is one.
    fn resolve_scan(&self, scan: &Scan) -> Scan {
        let mut scan = scan.clone();
        if let Some((nth, how, at)) = scan.from_live.take() {
            let live: Vec<&str> = self.live_pairs().map(|(k, _)| k.as_str()).collect();
            if !live.is_empty() {
                scan.pattern = Some(from_key(live[nth.index(live.len())], how, at));
            }
        }
        scan
    }

    fn apply(&mut self, op: &Op, s: &mut Session) -> Out {
        self.try_apply(op, s).unwrap_or_else(Out::Err)
    }

    /// `increment`, and with `ttl` `increment_ex`: a counter that starts
    /// afresh, or has no expiry, gets one; an existing expiry stays.
    fn increment(&mut self, k: &str, by: i64, ttl: Option<Duration>, s: &mut Session) -> Result<Out, Fail> {
        let next = match self.live(k) {
            None => by,
            Some(e) => {
                let n = parse_counter(k, &e.value).map_err(|f| s.server_error(f))?;
                n.checked_add(by)
                    .ok_or_else(|| s.server_error(Fail::Overflow(k.to_owned())))?
            }
        };
        let text = Val(next.to_string().into_bytes());
        match self.live_mut(k) {
            Some(e) => {
                e.value = text.0;
                if let (Some(d), Ttl::None) = (ttl, e.ttl) {
                    e.ttl = live_for(d);
                }
            }
            None => self.put(k, &text, ttl.map_or(Ttl::None, live_for)),
        }
        Ok(Out::Int(next))
    }

    fn try_apply(&mut self, op: &Op, s: &mut Session) -> Result<Out, Fail> {
        Ok(match op {
            Op::Set(k, v) => {
                check_entry(k, v)?;
                s.sql()?;
                self.put(k, v, Ttl::None);
                Out::Unit
            }
            Op::SetEx(k, v, d) => {
                check_entry(k, v)?;
                check_ttl(*d)?;
                s.sql()?;
                self.put(k, v, live_for(*d));
                Out::Unit
            }
            Op::Get(k) => {
                check_key(k)?;
                s.sql()?;
                Out::Value(self.value(k))
            }
            Op::GetString(k) => {
                check_key(k)?;
                s.sql()?;
                match self.value(k) {
                    None => Out::Text(None),
                    Some(v) => Out::Text(Some(
                        String::from_utf8(v.0).map_err(|_| Fail::InvalidUtf8(k.clone()))?,
                    )),
                }
            }
            Op::GetOrErr(k) => {
                check_key(k)?;
                s.sql()?;
                Out::Value(Some(self.value(k).ok_or_else(|| Fail::NotFound(k.clone()))?))
            }
            Op::GetEx(k, d) => {
                check_key(k)?;
                check_ttl(*d)?;
                s.sql()?;
                match self.live_mut(k) {
                    Some(e) => {
                        e.ttl = live_for(*d);
                        Out::Value(Some(Val(e.value.clone())))
                    }
                    None => Out::Value(None),
                }
            }
            Op::Delete(k) => {
                check_key(k)?;
                s.sql()?;
                let was_live = self.live(k).is_some();
                self.rows.remove(k);
                Out::Bool(was_live)
            }
            Op::Exists(k) => {
                check_key(k)?;
                s.sql()?;
                Out::Bool(self.live(k).is_some())
            }
            Op::SetNx(k, v) | Op::SetNxEx(k, v, _) => {
                check_entry(k, v)?;
                let ttl = match op {
                    Op::SetNxEx(_, _, d) => {
                        check_ttl(*d)?;
                        live_for(*d)
                    }
                    _ => Ttl::None,
                };
                s.sql()?;
                if self.live(k).is_some() {
                    Out::Bool(false)
                } else {
                    self.put(k, v, ttl);
                    Out::Bool(true)
                }
            }
            Op::Replace(k, v) => {
                check_entry(k, v)?;
                s.sql()?;
                match self.live_mut(k) {
                    Some(e) => {
                        e.value = v.0.clone();
                        Out::Bool(true)
                    }
                    None => Out::Bool(false),
                }
            }
            Op::Increment(k, by) => {
                check_key(k)?;
                s.sql()?;
                self.increment(k, *by, None, s)?
            }
            Op::IncrementEx(k, by, d) => {
                check_key(k)?;
                check_ttl(*d)?;
                s.sql()?;
                self.increment(k, *by, Some(*d), s)?
            }
            Op::IncrementFloat(k, by) => {
                check_key(k)?;
                s.sql()?;
                let current = match self.live(k) {
                    None => Decimal::ZERO,
                    Some(e) => {
                        Decimal::parse(&e.value).ok_or_else(|| s.server_error(Fail::NotAFloat(k.clone())))?
                    }
                };
                let by = Decimal::parse(by.to_string().as_bytes()).expect("generated increments parse");
                let text = current.add(by).to_string();
                let number: f64 = text.parse().expect("decimal text");
                match self.live_mut(k) {
                    Some(e) => e.value = text.into_bytes(),
                    None => self.put(k, &Val(text.into_bytes()), Ttl::None),
                }
                Out::Float(number.to_bits())
            }
            Op::Decrement(k, by) => {
                check_key(k)?;
                // Refused before any SQL: the negation of i64::MIN does not exist.
                let by = by.checked_neg().ok_or_else(|| Fail::Overflow(k.clone()))?;
                s.sql()?;
                self.increment(k, by, None, s)?
            }
            Op::CasAbsent(k, v) => {
                check_entry(k, v)?;
                s.sql()?;
                match self.value(k) {
                    Some(current) => Out::Cas(Cas::Mismatch(Some(current))),
                    None => {
                        self.put(k, v, Ttl::None);
                        Out::Cas(Cas::Success)
                    }
                }
            }
            Op::CasPresent(k, Expected::Literal(expected), v) => {
                check_entry(k, v)?;
                s.sql()?;
                match self.live_mut(k) {
                    None => Out::Cas(Cas::NotFound),
                    Some(e) if e.value == expected.0 => {
                        e.value = v.0.clone();
                        Out::Cas(Cas::Success)
                    }
                    Some(e) => Out::Cas(Cas::Mismatch(Some(Val(e.value.clone())))),
                }
            }
            Op::CasPresent(_, Expected::Current, _) => unreachable!("resolved first"),
            Op::GetAndSet(k, v) => {
                check_entry(k, v)?;
                s.sql()?;
                let old = self.value(k);
                self.put(k, v, Ttl::None);
                Out::Value(old)
            }
            Op::GetAndDelete(k) => {
                check_key(k)?;
                s.sql()?;
                let old = self.value(k);
                self.rows.remove(k);
                Out::Value(old)
            }
            Op::Expire(k, d) => {
                check_key(k)?;
                check_ttl(*d)?;
                s.sql()?;
                match self.live_mut(k) {
                    Some(e) => {
                        e.ttl = live_for(*d);
                        Out::Bool(true)
                    }
                    None => Out::Bool(false),
                }
            }
            Op::ExpireIf(k, d, when) => {
                check_key(k)?;
                check_ttl(*d)?;
                s.sql()?;
                let new = Instant::now() + *d;
                match self.live_mut(k) {
                    Some(e) => {
                        // No expiry counts as never expiring (Redis).
                        let applies = match (*when, e.ttl) {
                            (ExpireWhen::NoExpiry, ttl) => ttl == Ttl::None,
                            (ExpireWhen::HasExpiry, ttl) => ttl != Ttl::None,
                            (ExpireWhen::Later, Ttl::Live(cur)) => new > cur,
                            (ExpireWhen::Later, _) => false,
                            (ExpireWhen::Sooner, Ttl::Live(cur)) => new < cur,
                            (ExpireWhen::Sooner, _) => true,
                            _ => true,
                        };
                        if applies {
                            e.ttl = Ttl::Live(new);
                        }
                        Out::Bool(applies)
                    }
                    None => Out::Bool(false),
                }
            }
            Op::TtlStatus(k) => {
                check_key(k)?;
                s.sql()?;
                Out::Status(match self.live(k) {
                    None => 0,
                    Some(e) if e.ttl == Ttl::None => 1,
                    Some(_) => 2,
                })
            }
            Op::GetPersist(k) => {
                check_key(k)?;
                s.sql()?;
                match self.live_mut(k) {
                    Some(e) => {
                        e.ttl = Ttl::None;
                        Out::Value(Some(Val(e.value.clone())))
                    }
                    None => Out::Value(None),
                }
            }
            Op::Strlen(k) => {
                check_key(k)?;
                s.sql()?;
                Out::Count(self.live(k).map_or(0, |e| e.value.len() as u64))
            }
            Op::Persist(k) => {
                check_key(k)?;
                s.sql()?;
                match self.live_mut(k) {
                    Some(e) if matches!(e.ttl, Ttl::Live(_)) => {
                        e.ttl = Ttl::None;
                        Out::Bool(true)
                    }
                    _ => Out::Bool(false),
                }
            }
            Op::Ttl(k) => {
                check_key(k)?;
                s.sql()?;
                Out::HasTtl(self.live(k).is_some_and(|e| matches!(e.ttl, Ttl::Live(_))))
            }
            Op::SetMany(items) | Op::SetManyEx(items, _) => {
                for (k, v) in items {
                    check_entry(k, v)?;
                }
                let ttl = match op {
                    Op::SetManyEx(_, d) => {
                        check_ttl(*d)?;
                        live_for(*d)
                    }
                    _ => Ttl::None,
                };
                if items.is_empty() {
                    return Ok(Out::Unit);
                }
                s.sql()?;
                for (k, v) in items {
                    self.put(k, v, ttl);
                }
                Out::Unit
            }
            Op::GetMany(keys) => {
                for k in keys {
                    check_key(k)?;
                }
                if keys.is_empty() {
                    return Ok(Out::Values(Vec::new()));
                }
                s.sql()?;
                Out::Values(keys.iter().map(|k| self.value(k)).collect())
            }
            Op::DeleteMany(keys) => {
                for k in keys {
                    check_key(k)?;
                }
                if keys.is_empty() {
                    return Ok(Out::Count(0));
                }
                s.sql()?;
                let unique: BTreeSet<&String> = keys.iter().collect();
                let live = unique.iter().filter(|k| self.live(k).is_some()).count();
                for k in unique {
                    self.rows.remove(k);
                }
                Out::Count(live as u64)
            }
            Op::Keys(scan) | Op::ScanKv(scan) => {
                let found = if scan.checks(true)? {
                    s.sql()?;
                    self.select(scan)
                } else {
                    Vec::new()
                };
                match op {
                    Op::Keys(_) => Out::Keys(found.into_iter().map(|(k, _)| k).collect()),
                    _ => Out::Pairs(found),
                }
            }
            Op::Count(scan) => {
                // limit, offset and after are ignored.
                if !scan.checks(false)? {
                    return Ok(Out::Count(0));
                }
                s.sql()?;
                Out::Count(self.live_pairs().filter(|(k, _)| scan.admits(k)).count() as u64)
            }
            Op::ExpireAt(k, d, when) => {
                // The same rules as expire_if, with the instant given.
                let relative = Op::ExpireIf(k.clone(), *d, *when);
                return self.try_apply(&relative, s);
            }
            Op::ExpireTime(k) => {
                let status = Op::TtlStatus(k.clone());
                return self.try_apply(&status, s);
            }
            Op::SetWith(k, v, when, ttl, get) => {
                check_entry(k, v)?;
                match ttl {
                    SetTtl::In(d) | SetTtl::At(d) => check_ttl(*d)?,
                    SetTtl::Clear | SetTtl::Keep => {}
                }
                s.sql()?;
                let live = self.live(k).cloned();
                let writes = match when {
                    SetWhen::Always => true,
                    SetWhen::Nx => live.is_none(),
                    SetWhen::Xx => live.is_some(),
                };
                let previous = if *get {
                    live.as_ref().map(|e| Val(e.value.clone()))
                } else {
                    None
                };
                if writes {
                    let expiry = match ttl {
                        SetTtl::Clear => Ttl::None,
                        SetTtl::In(d) | SetTtl::At(d) => live_for(*d),
                        SetTtl::Keep => live.map_or(Ttl::None, |e| e.ttl),
                    };
                    self.put(k, v, expiry);
                }
                Out::SetWith(writes, previous)
            }
            Op::Append(k, v) => {
                check_entry(k, v)?;
                s.sql()?;
                match self.live_mut(k) {
                    Some(e) => {
                        if e.value.len() + v.0.len() > MAX_VALUE {
                            return Err(Fail::TooLarge(k.clone()));
                        }
                        e.value.extend_from_slice(&v.0);
                        Out::Count(e.value.len() as u64)
                    }
                    None => {
                        self.put(k, v, Ttl::None);
                        Out::Count(v.0.len() as u64)
                    }
                }
            }
            Op::Rename(from, to) | Op::RenameNx(from, to) | Op::Copy(from, to, _) => {
                check_key(from)?;
                check_key(to)?;
                let nx = match op {
                    Op::RenameNx(..) => true,
                    Op::Copy(_, _, replace) => !replace,
                    _ => false,
                };
                if from == to {
                    // No SQL: rename answers whether the key exists (Redis
                    // OK), rename_nx and copy refuse.
                    return Ok(match op {
                        Op::Rename(..) => {
                            s.sql()?;
                            Out::Bool(self.live(from).is_some())
                        }
                        _ => Out::Bool(false),
                    });
                }
                s.sql()?;
                let Some(source) = self.live(from).cloned() else {
                    return Ok(Out::Bool(false));
                };
                if nx && self.live(to).is_some() {
                    return Ok(Out::Bool(false));
                }
                if !matches!(op, Op::Copy(..)) {
                    self.rows.remove(from);
                }
                self.rows.insert(to.clone(), source);
                Out::Bool(true)
            }
            Op::SetManyNx(items) => {
                for (k, v) in items {
                    check_entry(k, v)?;
                }
                if items.is_empty() {
                    return Ok(Out::Bool(true));
                }
                s.sql()?;
                if items.iter().any(|(k, _)| self.live(k).is_some()) {
                    return Ok(Out::Bool(false));
                }
                for (k, v) in items {
                    self.put(k, v, Ttl::None);
                }
                Out::Bool(true)
            }
            Op::DeletePrefixAtomic(p) => {
                let batched = Op::DeletePrefix(p.clone());
                return self.try_apply(&batched, s);
            }
            Op::DeletePrefix(p) => {
                check_bound(p)?;
                s.sql()?;
                let live = self
                    .live_pairs()
                    .filter(|(k, _)| k.starts_with(p.as_str()))
                    .count();
                self.rows.retain(|k, _| !k.starts_with(p.as_str()));
                Out::Count(live as u64)
            }
            Op::ExpireNth(_) | Op::Cleanup | Op::Tx(..) => unreachable!("run by the driver"),
        })
    }
}

// ---------------------------------------------------------------------------
// Strategies

static ALPHABET: [char; 8] = ['a', 'b', '%', '_', '\\', 'é', '日', '\u{10FFFF}'];

fn word(len: RangeInclusive<usize>) -> impl Strategy<Value = String> {
    vec(select(&ALPHABET[..]), len).prop_map(|cs| cs.into_iter().collect())
}

/// Keys that collide and share prefixes, with `%`, `_`, `\\` and multi-byte
/// characters.
/// The first six are the hottest.
static HOT_KEYS: [&str; 16] = [
    "a",
    "ab",
    "a%",
    "é",
    "\u{10FFFF}",
    "_",
    "b",
    "aa",
    "a_",
    "a\\",
    "%",
    "\\",
    "é日",
    "日",
    "a\u{10FFFF}",
    "\u{10FFFF}a",
];

/// Mostly keys from a small set, so operations collide; now and then any
/// word of the alphabet (up to 16 bytes, the limit being 12), the empty key
/// or a key with a NUL.
fn key() -> BoxedStrategy<String> {
    prop_oneof![
        16 => select(&HOT_KEYS[..6]).prop_map(str::to_owned),
        6 => select(&HOT_KEYS[6..]).prop_map(str::to_owned),
        2 => word(1..=4),
        1 => Just(String::new()),
        1 => select(vec!["a\0", "\0", "日\0b"]).prop_map(str::to_owned),
    ]
    .boxed()
}

fn value() -> BoxedStrategy<Val> {
    let text = |s: &'static str| s.as_bytes().to_vec();
    prop_oneof![
        4 => select(vec!["", "x", "y", "xy", "0", "1", "-1", "42"]).prop_map(text),
        3 => (-5i64..=5).prop_map(|n| n.to_string().into_bytes()),
        2 => vec(any::<u8>(), 0..=6),
        1 => select(vec![
            "9223372036854775807",
            "9223372036854775806",
            "-9223372036854775808",
            "-9223372036854775807",
        ])
        .prop_map(text),
        1 => select(vec![" 1", "+1", "1e3", "-", "01", "-0", "007", "00", "1.0", "99999999999999999999", "0x10", "1\n"])
            .prop_map(text),
        1 => vec(any::<u8>(), MAX_VALUE + 1..=MAX_VALUE + 2),
    ]
    .prop_map(Val)
    .boxed()
}

/// Amounts for increment/decrement, overflow included. `i64::MIN` for
/// `decrement` only outside transactions (see
/// `decrement_of_i64_min_does_not_abort_a_transaction`).
fn amount(min_ok: bool) -> BoxedStrategy<i64> {
    let lowest = if min_ok { i64::MIN } else { i64::MIN + 1 };
    prop_oneof![
        8 => -3i64..=3,
        1 => Just(i64::MAX),
        1 => Just(lowest),
        1 => Just(i64::MAX - 1),
    ]
    .boxed()
}

/// Hours, so real time never matters; now and then zero (rejected).
/// A whole number of hours, never zero: for absolute expiry times, where
/// "now" is a valid (already expired) instant rather than an invalid TTL.
fn hours() -> BoxedStrategy<Duration> {
    (1..=MAX_HOURS)
        .prop_map(|h| Duration::from_secs(h * 3600))
        .boxed()
}

fn ttl() -> BoxedStrategy<Duration> {
    prop_oneof![
        12 => (1..=MAX_HOURS).prop_map(|h| Duration::from_secs(h * 3600)),
        1 => Just(Duration::ZERO),
    ]
    .boxed()
}

fn prefix() -> BoxedStrategy<String> {
    prop_oneof![
        2 => Just(String::new()),
        4 => word(1..=1),
        2 => word(2..=2),
        1 => Just("a\0".to_owned()),
    ]
    .boxed()
}

fn after() -> BoxedStrategy<String> {
    prop_oneof![
        4 => select(&HOT_KEYS[..]).prop_map(str::to_owned),
        2 => word(1..=2),
        1 => Just(String::new()),
        1 => Just("%\0".to_owned()),
    ]
    .boxed()
}

/// The key alphabet without `\\`, which a glob reads as an escape.
static LITERALS: [char; 7] = ['a', 'b', '%', '_', 'é', '日', '\u{10FFFF}'];

/// Globs over the key alphabet, so that they match the keys: half made from
/// a key, mostly one of the hottest (see `from_key`), some shaped like the keys (a literal start,
/// up to two pieces, often a final `*`), the rest 0 to 4 random pieces. A piece is a literal (`%` and `_` among them, not special in a glob),
/// `*`, `?`, a class (members and ranges of the alphabet, ranges in either
/// order, `^` or `!`, escapes, `-` and `]` where Redis reads them), an escape,
/// `[]` or `[^]`; some pieces leave the pattern unterminated (`[`, a
/// trailing `\`) unless a later one closes it. Now and then a pattern
/// that is invalid whatever the keys, or holds a NUL.
fn pattern() -> BoxedStrategy<String> {
    let member = prop_oneof![
        3 => select(vec!["a", "b", "a-b", "%-a"]).prop_map(str::to_owned),
        6 => select(&ALPHABET[..]).prop_map(String::from),
        3 => (select(&ALPHABET[..]), select(&ALPHABET[..])).prop_map(|(a, b)| format!("{a}-{b}")),
        2 => select(vec!["\\]", "\\-", "\\\\", "-", "a-]", "^", "!", "*", "?", "["]).prop_map(str::to_owned),
    ];
    let class = (select(vec!["", "", "", "^", "!"]), vec(member, 1..=3))
        .prop_map(|(negated, members)| format!("[{negated}{}]", members.concat()));
    let piece = prop_oneof![
        10 => select(&LITERALS[..]).prop_map(String::from),
        6 => Just("*".to_owned()),
        3 => Just("?".to_owned()),
        4 => class,
        2 => select(vec!["\\*", "\\?", "\\[", "\\]", "\\a", "\\\\", "\\%", "\\日"]).prop_map(str::to_owned),
        1 => select(vec!["[]", "[^]", "[!]"]).prop_map(str::to_owned),
        2 => select(vec!["[", "[a", "[^", "[\\]", "\\"]).prop_map(str::to_owned),
    ]
    .boxed();
    let start = select(vec!["", "a", "a", "a", "é", "_", "%", "b", "\u{10FFFF}"]);
    let shaped = (start, vec(piece.clone(), 0..=2), select(vec!["", "*", "*"]))
        .prop_map(|(start, pieces, end)| format!("{start}{}{end}", pieces.concat()));
    let hot = prop_oneof![3 => select(&HOT_KEYS[..6]), 1 => select(&HOT_KEYS[6..])];
    let from_key = (hot, 0..9usize, any::<Index>()).prop_map(|(k, how, at)| from_key(k, how, at));
    prop_oneof![
        20 => from_key,
        12 => shaped,
        8 => vec(piece, 0..=4).prop_map(|pieces| pieces.concat()),
        2 => select(vec!["a[", "a*[^", "[a-", "[\\]", "a\\", "?\\", "[]a["]).prop_map(str::to_owned),
        1 => select(vec!["a\0*", "*\0"]).prop_map(str::to_owned),
    ]
    .boxed()
}

/// A glob made from key `k` (its `\` escaped), which that key matches:
/// `k*`, its first character and `*`, `*` and its last character, `k`
/// itself, or `k` with one character as `?`, in a class (`[cb]`), outside a
/// negated one (`[^x]`, `[!x]`), or in a range (`[c-a]`, either order).
fn from_key(k: &str, how: usize, at: Index) -> String {
    let mut parts: Vec<String> = k
        .chars()
        .map(|c| {
            if c == '\\' {
                "\\\\".to_owned()
            } else {
                c.to_string()
            }
        })
        .collect();
    let n = parts.len();
    let i = at.index(n);
    let other = if parts[i] == "a" { 'b' } else { 'a' };
    match how {
        0 => parts.push("*".to_owned()),
        1 => {
            parts.truncate(1);
            parts.push("*".to_owned());
        }
        2 => {
            parts.drain(..n - 1);
            parts.insert(0, "*".to_owned());
        }
        3 => {}
        4 => parts[i] = "?".to_owned(),
        5 => parts[i] = format!("[{}b]", parts[i]),
        6 => parts[i] = format!("[^{other}]"),
        7 => parts[i] = format!("[!{other}]"),
        _ => parts[i] = format!("[{}-a]", parts[i]),
    }
    parts.concat()
}

/// Scans: a prefix, or a pattern (then a prefix only now and then, as most
/// pairs disagree and select nothing), and a page.
fn scan() -> BoxedStrategy<Scan> {
    let selection = prop_oneof![
        3 => proptest::option::weighted(0.7, prefix()).prop_map(|p| (p, None)),
        2 => (proptest::option::weighted(0.25, prefix()), pattern()).prop_map(|(p, g)| (p, Some(g))),
    ];
    let from_live = (any::<Index>(), 0..9usize, any::<Index>());
    (
        selection,
        proptest::option::weighted(0.5, from_live),
        proptest::option::weighted(0.4, after()),
        proptest::option::weighted(0.5, 0u64..=5),
        proptest::option::weighted(0.2, 0u64..=3),
    )
        .prop_map(|((prefix, pattern), from_live, after, limit, offset)| Scan {
            from_live: from_live.filter(|_| pattern.is_some()),
            prefix,
            pattern,
            after,
            limit,
            offset,
        })
        .boxed()
}

fn expected() -> BoxedStrategy<Expected> {
    prop_oneof![3 => Just(Expected::Current), 1 => value().prop_map(Expected::Literal)].boxed()
}

/// The key/value operations (everything but expiry, cleanup and transactions).
fn kv_op(in_tx: bool) -> BoxedStrategy<Op> {
    let items = || vec((key(), value()), 0..=4);
    prop_oneof![
        4 => (key(), value()).prop_map(|(k, v)| Op::Set(k, v)),
        3 => (key(), value(), ttl()).prop_map(|(k, v, d)| Op::SetEx(k, v, d)),
        3 => key().prop_map(Op::Get),
        1 => key().prop_map(Op::GetString),
        1 => key().prop_map(Op::GetOrErr),
        2 => (key(), ttl()).prop_map(|(k, d)| Op::GetEx(k, d)),
        2 => key().prop_map(Op::Delete),
        2 => key().prop_map(Op::Exists),
        2 => (key(), value()).prop_map(|(k, v)| Op::SetNx(k, v)),
        2 => (key(), value(), ttl()).prop_map(|(k, v, d)| Op::SetNxEx(k, v, d)),
        2 => (key(), value()).prop_map(|(k, v)| Op::Replace(k, v)),
        3 => (key(), amount(true)).prop_map(|(k, by)| Op::Increment(k, by)),
        1 => (key(), amount(!in_tx)).prop_map(|(k, by)| Op::Decrement(k, by)),
        2 => (key(), value()).prop_map(|(k, v)| Op::CasAbsent(k, v)),
        3 => (key(), expected(), value()).prop_map(|(k, e, v)| Op::CasPresent(k, e, v)),
        2 => (key(), value()).prop_map(|(k, v)| Op::GetAndSet(k, v)),
        2 => key().prop_map(Op::GetAndDelete),
        2 => (key(), ttl()).prop_map(|(k, d)| Op::Expire(k, d)),
        2 => key().prop_map(Op::Persist),
        2 => key().prop_map(Op::Ttl),
        2 => (key(), ttl(), expire_when()).prop_map(|(k, d, w)| Op::ExpireIf(k, d, w)),
        1 => key().prop_map(Op::TtlStatus),
        1 => key().prop_map(Op::GetPersist),
        1 => key().prop_map(Op::Strlen),
        2 => (key(), amount(true), ttl()).prop_map(|(k, by, d)| Op::IncrementEx(k, by, d)),
        2 => (key(), -500i32..=500).prop_map(|(k, c)| Op::IncrementFloat(k, f64::from(c) / 100.0)),
        1 => (key(), hours(), expire_when()).prop_map(|(k, d, w)| Op::ExpireAt(k, d, w)),
        1 => key().prop_map(Op::ExpireTime),
        3 => (key(), value(), set_when(), set_ttl(), any::<bool>())
            .prop_map(|(k, v, w, t, g)| Op::SetWith(k, v, w, t, g)),
        1 => (key(), value()).prop_map(|(k, v)| Op::Append(k, v)),
        2 => (key(), key()).prop_map(|(a, b)| Op::Rename(a, b)),
        1 => (key(), key()).prop_map(|(a, b)| Op::RenameNx(a, b)),
        1 => (key(), key(), any::<bool>()).prop_map(|(a, b, r)| Op::Copy(a, b, r)),
        1 => items().prop_map(Op::SetManyNx),
        1 => prefix().prop_map(Op::DeletePrefixAtomic),
        2 => items().prop_map(Op::SetMany),
        1 => (items(), ttl()).prop_map(|(i, d)| Op::SetManyEx(i, d)),
        2 => vec(key(), 0..=4).prop_map(Op::GetMany),
        1 => vec(key(), 0..=4).prop_map(Op::DeleteMany),
        2 => scan().prop_map(Op::Keys),
        2 => scan().prop_map(Op::ScanKv),
        1 => scan().prop_map(Op::Count),
        1 => prefix().prop_map(Op::DeletePrefix),
    ]
    .boxed()
}

fn set_when() -> BoxedStrategy<SetWhen> {
    select(vec![SetWhen::Always, SetWhen::Nx, SetWhen::Xx]).boxed()
}

fn set_ttl() -> BoxedStrategy<SetTtl> {
    prop_oneof![
        2 => Just(SetTtl::Clear),
        2 => ttl().prop_map(SetTtl::In),
        1 => hours().prop_map(SetTtl::At),
        2 => Just(SetTtl::Keep),
    ]
    .boxed()
}

fn expire_when() -> BoxedStrategy<ExpireWhen> {
    select(vec![
        ExpireWhen::Always,
        ExpireWhen::NoExpiry,
        ExpireWhen::HasExpiry,
        ExpireWhen::Later,
        ExpireWhen::Sooner,
    ])
    .boxed()
}

fn op() -> BoxedStrategy<Op> {
    let tx_end = select(vec![TxEnd::Commit, TxEnd::Rollback, TxEnd::Drop, TxEnd::Closure]);
    prop_oneof![
        20 => kv_op(false),
        2 => any::<usize>().prop_map(Op::ExpireNth),
        1 => Just(Op::Cleanup),
        2 => (vec(kv_op(true), 1..=5), tx_end).prop_map(|(ops, end)| Op::Tx(ops, end)),
    ]
    .boxed()
}

// ---------------------------------------------------------------------------
// The driver

fn env_number(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
        Err(_) => default,
    }
}

/// What one test ran: steps, operations inside transactions, and (with
/// `PGKV_MODEL_STATS=1`) how often each operation met each kind of outcome.
#[derive(Default)]
struct Stats {
    steps: AtomicU64,
    tx_ops: AtomicU64,
    coverage: Mutex<BTreeMap<String, u64>>,
}

fn name_of<T: fmt::Debug>(x: &T) -> String {
    let shown = format!("{x:?}");
    let end = shown.find(['(', ' ', '{']).unwrap_or(shown.len());
    shown[..end].to_owned()
}

fn note(stats: &Stats, op: &Op, got: &Out) {
    if std::env::var_os("PGKV_MODEL_STATS").is_none() {
        return;
    }
    let name = match op {
        Op::Keys(scan) | Op::ScanKv(scan) | Op::Count(scan) if scan.pattern.is_some() => {
            format!("{}+pattern", name_of(op))
        }
        _ => name_of(op),
    };
    let outcome = match got {
        Out::Err(f) => format!("Err({})", name_of(f)),
        Out::Bool(b) => format!("Bool({b})"),
        Out::Value(v) => format!("Value({})", if v.is_some() { "Some" } else { "None" }),
        Out::Cas(c) => format!("Cas({})", name_of(c)),
        Out::Count(n) => format!("Count({})", if *n == 0 { "0" } else { ">0" }),
        Out::Keys(k) => format!("Keys({})", if k.is_empty() { "0" } else { ">0" }),
        Out::Pairs(p) => format!("Pairs({})", if p.is_empty() { "0" } else { ">0" }),
        other => name_of(other),
    };
    let mut map = stats
        .coverage
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    *map.entry(format!("{name} -> {outcome}")).or_default() += 1;
}

/// Checks the whole table against the model.
async fn check_table(
    s: &Store,
    model: &Model,
    strategy: TtlCleanupStrategy,
    history: &[String],
) -> Result<(), TestCaseError> {
    let sql = format!(
        "SELECT key, value, expires_at IS NOT NULL, \
         (expires_at IS NULL OR expires_at > statement_timestamp()) FROM {} ORDER BY key",
        table_of(s)
    );
    let rows: Vec<(String, Vec<u8>, bool, bool)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .fetch_all(&pgkv_suite::admin(s))
        .await
        .map_err(|e| TestCaseError::fail(format!("reading the table: {e}")))?;
    let db_live: Vec<(&str, Val, bool)> = rows
        .iter()
        .filter(|r| r.3)
        .map(|r| (r.0.as_str(), Val(r.1.clone()), r.2))
        .collect();
    let model_live: Vec<(&str, Val, bool)> = model
        .live_pairs()
        .map(|(k, e)| (k.as_str(), Val(e.value.clone()), matches!(e.ttl, Ttl::Live(_))))
        .collect();
    prop_assert_eq!(
        &db_live,
        &model_live,
        "live rows differ after:\n{}",
        history.join("\n")
    );
    for (k, v, _, _) in rows.iter().filter(|r| !r.3) {
        let known = model
            .rows
            .get(k)
            .is_some_and(|e| e.ttl == Ttl::Expired && e.value == *v);
        prop_assert!(
            known,
            "unexpected expired row {k:?} after:\n{}",
            history.join("\n")
        );
    }
    if strategy == TtlCleanupStrategy::Manual {
        // Reads never delete: every expired row the model lists is still there.
        let db_expired = rows.iter().filter(|r| !r.3).count();
        prop_assert_eq!(
            db_expired,
            model.expired(),
            "expired rows after:\n{}",
            history.join("\n")
        );
    }
    Ok(())
}

async fn run_tx(
    stats: &Stats,
    s: &Store,
    model: &mut Model,
    ops: &[Op],
    end: TxEnd,
    history: &mut Vec<String>,
) -> Result<(), TestCaseError> {
    // The model runs first, resolving each step against its own view.
    let mut view = model.clone();
    let mut session = Session {
        in_tx: true,
        aborted: false,
    };
    let mut concrete = Vec::new();
    let mut wants = Vec::new();
    for op in ops {
        let op = view.resolve(op);
        wants.push(view.apply(&op, &mut session));
        concrete.push(op);
    }
    let mut gots = Vec::new();
    let ended: pgkv::Result<()> = match end {
        TxEnd::Closure => {
            s.transaction(async |tx| {
                for op in &concrete {
                    gots.push(exec!(&mut *tx, op));
                }
                Ok(())
            })
            .await
        }
        _ => {
            let mut tx = s
                .begin()
                .await
                .map_err(|e| TestCaseError::fail(format!("begin: {e}")))?;
            for op in &concrete {
                gots.push(exec!(&mut tx, op));
            }
            match end {
                TxEnd::Commit => tx.commit().await,
                TxEnd::Rollback => tx.rollback().await,
                _ => {
                    drop(tx);
                    Ok(())
                }
            }
        }
    };
    stats.tx_ops.fetch_add(ops.len() as u64, Ordering::Relaxed);
    history.push(format!("  begin ({end:?})"));
    for (i, (op, (got, want))) in concrete.iter().zip(gots.iter().zip(&wants)).enumerate() {
        note(stats, op, got);
        history.push(format!("    {op:?} -> {got:?}"));
        prop_assert_eq!(
            got,
            want,
            "tx step {} differs; history:\n{}",
            i,
            history.join("\n")
        );
    }
    let commits = matches!(end, TxEnd::Commit | TxEnd::Closure);
    let want_end = if commits && session.aborted {
        Err(Fail::TxAborted)
    } else {
        Ok(())
    };
    let got_end = ended.map_err(fail);
    history.push(format!("  end -> {got_end:?}"));
    let ended = got_end.clone().map_or_else(Out::Err, |()| Out::Unit);
    note(stats, &Op::Tx(Vec::new(), end), &ended);
    prop_assert_eq!(
        &got_end,
        &want_end,
        "transaction end; history:\n{}",
        history.join("\n")
    );
    if commits && !session.aborted {
        *model = view;
    }
    Ok(())
}

async fn drive(
    stats: &Stats,
    s: &Store,
    strategy: TtlCleanupStrategy,
    ops: &[Op],
) -> Result<(), TestCaseError> {
    let mut model = Model::default();
    let mut history = Vec::new();
    for op in ops {
        stats.steps.fetch_add(1, Ordering::Relaxed);
        match op {
            Op::ExpireNth(n) => {
                let candidates = model.with_ttl();
                if candidates.is_empty() {
                    history.push("ExpireNth: no key has a TTL".to_owned());
                } else {
                    let k = &candidates[n % candidates.len()];
                    force_expire(s, k).await;
                    model.rows.get_mut(k).expect("listed").ttl = Ttl::Expired;
                    history.push(format!("ExpireNow({k:?})"));
                    note(stats, op, &Out::Unit);
                }
            }
            Op::Cleanup => {
                let expired = model.expired() as u64;
                let deleted = s
                    .cleanup_expired()
                    .await
                    .map_err(|e| TestCaseError::fail(format!("cleanup_expired: {e}")))?;
                history.push(format!("Cleanup -> {deleted}"));
                note(stats, op, &Out::Count(deleted));
                if strategy == TtlCleanupStrategy::Manual {
                    prop_assert_eq!(deleted, expired, "history:\n{}", history.join("\n"));
                } else {
                    // Reads may have deleted some of them already.
                    prop_assert!(deleted <= expired, "history:\n{}", history.join("\n"));
                }
                model.rows.retain(|_, e| e.ttl != Ttl::Expired);
                let raw = pgkv_suite::raw_row_count(s).await;
                prop_assert_eq!(raw, model.rows.len() as i64, "history:\n{}", history.join("\n"));
            }
            Op::Tx(ops, end) => run_tx(stats, s, &mut model, ops, *end, &mut history).await?,
            op => {
                let op = model.resolve(op);
                let want = model.apply(&op, &mut Session::default());
                let got = exec!(s, &op);
                note(stats, &op, &got);
                history.push(format!("{op:?} -> {got:?}"));
                prop_assert_eq!(&got, &want, "last step differs; history:\n{}", history.join("\n"));
            }
        }
        check_table(s, &model, strategy, &history).await?;
    }
    Ok(())
}

async fn run_case(stats: &Stats, strategy: TtlCleanupStrategy, ops: &[Op]) -> Result<(), TestCaseError> {
    let s = store_with("model", |c| {
        c.ttl_cleanup_strategy(strategy)
            .max_key_length(MAX_KEY)
            .max_value_size(MAX_VALUE)
            .max_connections(2)
    })
    .await;
    let result = drive(stats, &s, strategy, ops).await;
    let drop_table = format!("DROP TABLE {}", table_of(&s));
    let admin = pgkv_suite::admin(&s);
    sqlx::query(sqlx::AssertSqlSafe(drop_table))
        .execute(&admin)
        .await
        .expect("drop the case's table");
    admin.close().await;
    s.close().await;
    result
}

fn run_model(strategy: TtlCleanupStrategy) {
    let cases = env_number("PGKV_MODEL_CASES", 64);
    let steps = env_number("PGKV_MODEL_STEPS", 40).max(1);
    let mut runner = TestRunner::new(RunnerConfig {
        cases: u32::try_from(cases).expect("PGKV_MODEL_CASES fits in u32"),
        max_shrink_iters: 500,
        // A failure prints its minimal sequence; nothing is written to the tree.
        failure_persistence: None,
        ..RunnerConfig::default()
    });
    let started = Instant::now();
    let stats = Stats::default();
    let result = runner.run(&vec(op(), 1..=steps), |ops| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(run_case(&stats, strategy, &ops))
    });
    println!(
        "model {strategy:?}: {cases} cases, {} steps (+{} inside transactions) in {:.1?}",
        stats.steps.load(Ordering::Relaxed),
        stats.tx_ops.load(Ordering::Relaxed),
        started.elapsed()
    );
    if std::env::var_os("PGKV_MODEL_STATS").is_some() {
        let map = stats
            .coverage
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (what, n) in map.iter() {
            println!("{n:>8}  {what}");
        }
    }
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[test]
fn model_on_read() {
    run_model(TtlCleanupStrategy::OnRead);
}

#[test]
fn model_manual() {
    run_model(TtlCleanupStrategy::Manual);
}

/// The model itself, on a hand-written sequence: guards against a model that
/// agrees with the store by being wrong the same way.
#[test]
fn model_self_check() {
    let mut m = Model::default();
    let s = &mut Session::default();
    let v = |s: &str| Val(s.as_bytes().to_vec());
    assert_eq!(m.apply(&Op::Increment("n".into(), 5), s), Out::Int(5));
    assert_eq!(
        m.apply(&Op::Set("m".into(), v("9223372036854775807")), s),
        Out::Unit
    );
    assert_eq!(
        m.apply(&Op::Increment("m".into(), 1), s),
        Out::Err(Fail::Overflow("m".into()))
    );
    assert_eq!(m.apply(&Op::Set("t".into(), v("+1")), s), Out::Unit);
    assert_eq!(
        m.apply(&Op::Decrement("t".into(), 1), s),
        Out::Err(Fail::NotAnInteger("t".into()))
    );
    assert_eq!(
        m.apply(&Op::SetEx("e".into(), v("x"), Duration::from_secs(3600)), s),
        Out::Unit
    );
    m.rows.get_mut("e").unwrap().ttl = Ttl::Expired;
    assert_eq!(m.apply(&Op::Get("e".into()), s), Out::Value(None));
    assert_eq!(m.apply(&Op::SetNx("e".into(), v("y")), s), Out::Bool(true));
    assert_eq!(m.apply(&Op::Persist("e".into()), s), Out::Bool(false));
    let all = Scan {
        after: Some("e".into()),
        limit: Some(1),
        ..Scan::default()
    };
    assert_eq!(m.apply(&Op::Keys(all), s), Out::Keys(vec!["m".into()]));
    assert_eq!(
        m.apply(&Op::Set("a\0".into(), v("x")), s),
        Out::Err(Fail::Nul("a\0".into()))
    );
    assert_eq!(m.apply(&Op::Get(String::new()), s), Out::Err(Fail::EmptyKey));
    // The limit is in bytes: 12 is fine, 13 is not.
    assert_eq!(m.apply(&Op::Get("日日日日".into()), s), Out::Value(None));
    assert_eq!(
        m.apply(&Op::Get("日日日日a".into()), s),
        Out::Err(Fail::TooLong(13))
    );
}

/// The model's glob reader and matcher on cases checked by hand against
/// Redis's rules (and the library's documented differences: characters,
/// not bytes; `[!a]` negates; what Redis reads past the end is refused).
#[test]
fn model_glob_self_check() {
    let m = |p: &str, k: &str| glob_match(&glob(p).expect("valid"), &k.chars().collect::<Vec<_>>());
    let yes = [
        ("*", "a"),
        ("a*", "a"),
        ("a*", "ab%"),
        ("*b", "ab"),
        ("a*b*c", "aXbYbc"),
        ("a?c", "abc"),
        ("?", "日"),
        ("??", "é日"),
        ("[abc]", "b"),
        ("[z-a]", "m"),
        ("[a-z]", "a"),
        ("[^a]", "b"),
        ("[!a]", "b"),
        ("a[^]b", "a日b"),
        ("\\*", "*"),
        ("\\a", "a"),
        ("\\\\", "\\"),
        ("[\\]]", "]"),
        ("[a-]]", "_"),
        ("[-a]", "-"),
        ("[a\\-z]", "-"),
        ("%_", "%_"),
        ("[é-日]", "日"),
        ("[^é]", "\u{10FFFF}"),
    ];
    for (p, k) in yes {
        assert!(m(p, k), "{p:?} should match {k:?}");
    }
    let no = [
        ("", "a"),
        ("a", "ab"),
        ("a?c", "ac"),
        ("?", "ab"),
        ("[abc]", "d"),
        ("[^a]", "a"),
        ("[!a]", "a"),
        ("a[]b", "ab"),
        ("[]", "]"),
        ("\\*", "a"),
        ("[a-]]", "b"),
        ("_", "a"),
        ("%", "ab"),
        ("*a", "ab"),
        ("[a\\-z]", "b"),
        ("[]-a]", "a"),
    ];
    for (p, k) in no {
        assert!(!m(p, k), "{p:?} should not match {k:?}");
    }
    for p in [
        "[", "a[bc", "[^", "[!", "[\\]", "[a-]", "abc\\", "[]a[", "\\", "*[a-",
    ] {
        assert_eq!(glob(p), None, "{p:?} is unterminated");
    }
    // `[]]`: the empty class, then `]`; `]` right after `[^` closes too.
    assert_eq!(glob("[]]"), Some(vec![G::Set(false, vec![]), G::Char(']')]));
    assert_eq!(glob("[^]]"), Some(vec![G::Set(true, vec![]), G::Char(']')]));
    // What a scan sends: nothing when the pattern's literal start and the
    // prefix disagree or a class is empty; an invalid pattern fails first.
    let scan = |prefix: &str, pattern: &str| Scan {
        prefix: Some(prefix.into()),
        pattern: Some(pattern.into()),
        ..Scan::default()
    };
    assert_eq!(scan("ab", "a*").checks(true), Ok(true));
    assert_eq!(scan("a", "ab?").checks(true), Ok(true));
    assert_eq!(scan("b", "a*").checks(true), Ok(false));
    assert_eq!(scan("", "*[]").checks(true), Ok(false));
    assert_eq!(scan("", "[^]").checks(true), Ok(true));
    assert_eq!(
        scan("b", "a[").checks(true),
        Err(Fail::InvalidPattern("a[".into()))
    );
    assert_eq!(scan("a\0", "[").checks(true), Err(Fail::Nul("a\0".into())));
}

/// A client-side rejection inside a transaction must not abort it:
/// `decrement(key, i64::MIN)` is refused before any SQL (its negation does
/// not exist), yet the transaction marks itself aborted and `commit` rolls
/// back the earlier, successful write.
#[tokio::test]
async fn decrement_of_i64_min_does_not_abort_a_transaction() {
    let s = pgkv_suite::store("model_decr_min").await;
    let mut tx = s.begin().await.unwrap();
    tx.set("a", "1").await.unwrap();
    assert!(matches!(
        tx.decrement("n", i64::MIN).await,
        Err(Error::Overflow { .. })
    ));
    tx.commit().await.expect("nothing failed on the server");
    assert_eq!(s.get("a").await.unwrap(), Some(b"1".to_vec()));
}
