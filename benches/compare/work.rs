//! The workload: the operations measured, the rows and arguments every
//! system is given, and one call's arguments.

use pgkv_suite::{XorShift, sample_value};

use crate::{BATCH, COUNTERS, ROWS, Res, SCAN_PREFIX, VALUE};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Op {
    Set,
    Get,
    Delete,
    Increment,
    SetMany,
    GetMany,
    Scan,
}

impl Op {
    pub(crate) const ALL: [Op; 7] = [
        Op::Set,
        Op::Get,
        Op::Delete,
        Op::Increment,
        Op::SetMany,
        Op::GetMany,
        Op::Scan,
    ];

    pub(crate) fn label(self) -> &'static str {
        match self {
            Op::Set => "SET",
            Op::Get => "GET (hit)",
            Op::Delete => "DELETE (hit)",
            Op::Increment => "INCREMENT",
            Op::SetMany => "SET_MANY(100)",
            Op::GetMany => "GET_MANY(100)",
            Op::Scan => "prefix page of 100",
        }
    }
}

/// What every system is asked to do, prepared outside the timed region.
pub(crate) struct Work {
    pub(crate) keys: Vec<String>,
    pub(crate) counters: Vec<String>,
    pub(crate) value: Vec<u8>,
    /// First key index of the scan prefix, and how many keys it holds.
    scan_first: usize,
    scan_len: usize,
}

impl Work {
    pub(crate) fn new() -> Work {
        let keys: Vec<String> = (0..ROWS).map(|i| format!("key:{i:05}")).collect();
        let scan_first = keys
            .iter()
            .position(|k| k.starts_with(SCAN_PREFIX))
            .expect("prefix in range");
        let scan_len = keys.iter().filter(|k| k.starts_with(SCAN_PREFIX)).count();
        Work {
            keys,
            counters: (0..COUNTERS).map(|i| format!("ctr:{i:03}")).collect(),
            value: sample_value(VALUE),
            scan_first,
            scan_len,
        }
    }

    /// The key a scan page starts strictly after: a full page always follows.
    pub(crate) fn scan_after(&self, rng: &mut XorShift) -> &str {
        &self.keys[self.scan_first + rng.below(self.scan_len - BATCH)]
    }
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
}

impl Call<'_> {
    /// Checks what a call reported (hits, rows): every measured call must
    /// have done the full work, or the timing means nothing.
    pub(crate) fn check(&self, got: usize) -> Res<()> {
        let want = match self {
            Call::Get(_) | Call::Delete(_) => 1,
            Call::GetMany(_) | Call::Scan(_) => BATCH,
            Call::Set(_) | Call::Increment(_) | Call::SetMany(_) => return Ok(()),
        };
        if got == want {
            Ok(())
        } else {
            Err(format!("a measured call found {got} items, expected {want}").into())
        }
    }
}
