//! The throughput workload's call sequence: 80 % GET / 20 % SET over uniform
//! keys, one fixed sequence per client.

use pgkv_suite::XorShift;

/// Client `t`'s call sequence.
pub(crate) fn mix_rng(t: usize) -> XorShift {
    XorShift(0x9e37_79b9_7f4a_7c15 ^ (t as u64 + 1))
}

/// The next call of the mix over `rows` keys: which key, and whether it is
/// a SET.
pub(crate) fn mix_pick(rng: &mut XorShift, rows: usize) -> (usize, bool) {
    (rng.below(rows), rng.below(10) < 2)
}
