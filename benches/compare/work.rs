//! The workload: the operations measured, the rows and arguments every
//! system is given, and one call's arguments.

use pgkv_suite::{XorShift, sample_value};

use crate::kind::Kind;
use crate::support::settings::Res;
use crate::{BATCH, COUNTERS, EXPIRING, MATCH_PATTERN, RENAME_PAIRS, ROWS, SCAN_PREFIX, VALUE};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Op {
    Set,
    Get,
    Delete,
    Increment,
    SetMany,
    GetMany,
    Scan,
    /// `expire_if(key, ttl, ExpireWhen::Later)`, Redis's `EXPIRE key secs GT`.
    ExpireGt,
    /// A page of keys matching `MATCH_PATTERN`.
    MatchScan,
    /// `increment_ex(key, 1, ttl)`, Redis's `INCRBY` + `EXPIRE NX`.
    IncrementEx,
    /// `set_with(key, value, only_if_absent().previous().expire_in(ttl))`,
    /// Redis's `SET key value NX GET EX secs`: half the calls on a live key
    /// (refused, the previous value returned), half on an absent one
    /// (written).
    SetNxGetEx,
    /// `rename(from, to)`, Redis's `RENAME`: every call moves a value.
    Rename,
}

impl Op {
    pub(crate) const ALL: [Op; 12] = [
        Op::Set,
        Op::Get,
        Op::Delete,
        Op::Increment,
        Op::SetMany,
        Op::GetMany,
        Op::Scan,
        Op::ExpireGt,
        Op::MatchScan,
        Op::IncrementEx,
        Op::SetNxGetEx,
        Op::Rename,
    ];

    /// Whether `kind` has this operation: pgkv 0.1 has none of the Redis
    /// expiry family, no glob patterns, no SET options and no RENAME (its
    /// cells read "n/a").
    pub(crate) fn runs_on(self, kind: Kind) -> bool {
        kind != Kind::Legacy
            || !matches!(
                self,
                Op::ExpireGt | Op::MatchScan | Op::IncrementEx | Op::SetNxGetEx | Op::Rename
            )
    }

    pub(crate) fn label(self) -> &'static str {
        match self {
            Op::Set => "SET",
            Op::Get => "GET (hit)",
            Op::Delete => "DELETE (hit)",
            Op::Increment => "INCREMENT",
            Op::SetMany => "SET_MANY(100)",
            Op::GetMany => "GET_MANY(100)",
            Op::Scan => "prefix page of 100",
            Op::ExpireGt => "EXPIRE GT on keys with a TTL (half extend it, half refused)",
            Op::MatchScan => "MATCH key:0?5* page of 100 keys (1 key in 10 matches)",
            Op::IncrementEx => "INCREMENT_EX (INCRBY + EXPIRE NX; TTL kept)",
            Op::SetNxGetEx => {
                "SET NX GET EX (half on a live key: refused, previous value returned; half on an \
                 absent key: written)"
            }
            Op::Rename => {
                const _: () = assert!(VALUE == 256, "the RENAME label says 256 bytes");
                "RENAME (every call moves a 256-byte value to a free name)"
            }
        }
    }
}

/// What every system is asked to do, prepared outside the timed region.
pub(crate) struct Work {
    pub(crate) keys: Vec<String>,
    pub(crate) counters: Vec<String>,
    /// The counters INCREMENT_EX cycles through (apart from INCREMENT's,
    /// which carry no TTL).
    pub(crate) counters_ex: Vec<String>,
    /// Keys loaded with a TTL, for EXPIRE GT.
    pub(crate) expiring: Vec<String>,
    /// The pairs of names RENAME moves values between: `rename_a[j]` and
    /// `rename_b[j]`, the value at the `a` name before every chunk.
    pub(crate) rename_a: Vec<String>,
    pub(crate) rename_b: Vec<String>,
    pub(crate) value: Vec<u8>,
    /// First key index of the scan prefix, and how many keys it holds.
    scan_first: usize,
    scan_len: usize,
    /// Indexes into `keys` of the keys `MATCH_PATTERN` matches, in order.
    matching: Vec<usize>,
}

impl Work {
    pub(crate) fn new() -> Work {
        let keys: Vec<String> = (0..ROWS).map(|i| format!("key:{i:05}")).collect();
        let scan_first = keys
            .iter()
            .position(|k| k.starts_with(SCAN_PREFIX))
            .expect("prefix in range");
        let scan_len = keys.iter().filter(|k| k.starts_with(SCAN_PREFIX)).count();
        let matching: Vec<usize> = (0..keys.len()).filter(|&i| glob_matches(&keys[i])).collect();
        assert!(matching.len() > BATCH, "{MATCH_PATTERN} matches too few rows");
        Work {
            keys,
            counters: (0..COUNTERS).map(|i| format!("ctr:{i:03}")).collect(),
            counters_ex: (0..COUNTERS).map(|i| format!("ctrx:{i:03}")).collect(),
            expiring: (0..EXPIRING).map(|i| format!("exp:{i:05}")).collect(),
            rename_a: (0..RENAME_PAIRS).map(|j| format!("ren:{j:03}:a")).collect(),
            rename_b: (0..RENAME_PAIRS).map(|j| format!("ren:{j:03}:b")).collect(),
            value: sample_value(VALUE),
            scan_first,
            scan_len,
            matching,
        }
    }

    /// The key a scan page starts strictly after: a full page always follows.
    pub(crate) fn scan_after(&self, rng: &mut XorShift) -> &str {
        &self.keys[self.scan_first + rng.below(self.scan_len - BATCH)]
    }

    /// The key a MATCH page starts strictly after: a matching key with a
    /// full page of matches after it (which the server finds among about
    /// ten times as many rows of the pattern's key range).
    pub(crate) fn match_after(&self, rng: &mut XorShift) -> &str {
        &self.keys[self.matching[rng.below(self.matching.len() - BATCH)]]
    }
}

/// `MATCH_PATTERN` (`key:0?5*`), by hand: `key:0`, any one character, `5`.
fn glob_matches(key: &str) -> bool {
    let chars: Vec<char> = key.chars().collect();
    key.starts_with("key:0") && chars.len() >= 7 && chars[6] == '5'
}

/// One call's arguments, chosen before the clock starts.
pub(crate) enum Call<'a> {
    Set(&'a str),
    Get(&'a str),
    Delete(&'a str),
    Increment(&'a str),
    SetMany(&'a [String]),
    GetMany(&'a [String]),
    /// A page of the system's scan prefix, strictly after this key.
    Scan(&'a str),
    /// EXPIRE GT on a key with a TTL: the longer TTL (which applies) or the
    /// shorter one (refused: the key expires later than that already).
    ExpireGt(&'a str, bool),
    /// A page of keys matching `MATCH_PATTERN`, strictly after this key.
    MatchScan(&'a str),
    IncrementEx(&'a str),
    /// SET NX GET EX on a key that is live (true: refused, the previous value
    /// returned) or absent (false: written).
    SetNxGetEx(&'a str, bool),
    /// RENAME from, to; `from` holds a value and `to` is free.
    Rename(&'a str, &'a str),
}

impl Call<'_> {
    /// Checks what a call reported (hits, rows): every measured call must
    /// have done the full work, or the timing means nothing.
    pub(crate) fn check(&self, got: usize) -> Res<()> {
        let want = match self {
            Call::Get(_) | Call::Delete(_) | Call::Rename(..) => 1,
            // The previous values returned: one on a live key, none on an
            // absent one (`perform` checks it agrees with what was written).
            Call::SetNxGetEx(_, live) => usize::from(*live),
            Call::GetMany(_) | Call::Scan(_) | Call::MatchScan(_) => BATCH,
            // The shorter TTL never applies; the longer one does, except on
            // Redis when the same key was extended in the same millisecond.
            Call::ExpireGt(_, false) => 0,
            Call::Set(_)
            | Call::Increment(_)
            | Call::SetMany(_)
            | Call::ExpireGt(_, true)
            | Call::IncrementEx(_) => return Ok(()),
        };
        if got == want {
            Ok(())
        } else {
            Err(format!("a measured call found {got} items, expected {want}").into())
        }
    }
}
