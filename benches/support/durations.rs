//! Statistics over `Duration` samples, for the benches that report medians
//! and percentiles of calls timed one by one.

use std::time::Duration;

/// The median of `samples`: `sorted[len / 2]` (of an even count, the upper
/// of the two middle samples). It is [`percentile`] 0.5, which picks the
/// same sample.
pub(crate) fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort_unstable();
    percentile(&samples, 0.5)
}

/// The sample at rank `p` (0 to 1) of `sorted`, nearest rank:
/// `sorted[round((len - 1) × p)]`.
pub(crate) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// `d` in microseconds.
pub(crate) fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
