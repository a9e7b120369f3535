//! Statistics over samples in nanoseconds (median, p99, p99.9, max), and the
//! number formats the reports print them in.

/// One set of samples, summed up; the times in microseconds.
#[derive(Default, Clone, Copy)]
#[allow(
    dead_code,
    reason = "each bench reports some of these figures (compare: the sample count; batching: p99.9 and max), and each bench is a crate of its own"
)]
pub(crate) struct Stat {
    pub(crate) median_us: f64,
    pub(crate) p99_us: f64,
    pub(crate) p999_us: f64,
    pub(crate) max_us: f64,
    /// How many samples there were.
    pub(crate) samples: usize,
}

/// The median (of an even count, the mean of the two middle samples) and the
/// percentiles by nearest rank (`sorted[ceil(n × p) - 1]`) of `ns`.
pub(crate) fn stat(mut ns: Vec<u64>) -> Stat {
    ns.sort_unstable();
    let n = ns.len();
    if n == 0 {
        return Stat::default();
    }
    let median = if n % 2 == 1 {
        ns[n / 2] as f64
    } else {
        (ns[n / 2 - 1] + ns[n / 2]) as f64 / 2.0
    };
    let pct = |p: f64| ns[((n as f64 * p).ceil() as usize).clamp(1, n) - 1] as f64;
    let (p99, p999) = (pct(0.99), pct(0.999));
    Stat {
        median_us: median / 1000.0,
        p99_us: p99 / 1000.0,
        p999_us: p999 / 1000.0,
        max_us: ns[n - 1] as f64 / 1000.0,
        samples: n,
    }
}

/// Microseconds: no decimals from 100 on, one below.
pub(crate) fn fmt_us(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// An integer with thousands separators (`1,234,567`).
pub(crate) fn fmt_int(v: u64) -> String {
    let s = v.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
