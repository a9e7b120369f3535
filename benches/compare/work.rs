//! The workload: the operations measured, the rows and arguments every
//! system is given, and one call's arguments.

use pgkv_suite::{XorShift, sample_value};

use crate::systems::Kind;
use crate::{BATCH, COUNTERS, EXPIRING, MATCH_PATTERN, ROWS, Res, SCAN_PREFIX, VALUE};

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
}

impl Op {
    pub(crate) const ALL: [Op; 10] = [
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
    ];

    /// Whether `kind` has this operation: pgkv 0.1 has none of the Redis
    /// expiry family and no glob patterns (its cells read "n/a").
    pub(crate) fn runs_on(self, kind: Kind) -> bool {
        kind != Kind::Legacy || !matches!(self, Op::ExpireGt | Op::MatchScan | Op::IncrementEx)
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
}

impl Call<'_> {
    /// Checks what a call reported (hits, rows): every measured call must
    /// have done the full work, or the timing means nothing.
    pub(crate) fn check(&self, got: usize) -> Res<()> {
        let want = match self {
            Call::Get(_) | Call::Delete(_) => 1,
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
