//! Latency: timed single calls, in chunks (one system, one operation, one
//! round), interleaved so that the machine's noise hits every system alike.

use std::time::{Duration, Instant};

use pgkv_suite::XorShift;
use tokio::runtime::Runtime;

use crate::kind::Kind;
use crate::report::table_label;
use crate::support::settings::Res;
use crate::support::stats::{Stat, stat};
use crate::systems::{Kv, Systems, legacy_set_many, perform, perform_legacy};
use crate::work::{Call, Op, Work};
use crate::{BATCH, COUNTERS, EXPIRING, LOADED_TTL_SECS, RENAME_PAIRS, ROWS, WARMUP};

/// A chunk (one system, one operation, one round) stops after this long
/// even if it has not made all its calls, so the run stays bounded.
const CHUNK_CAP: Duration = Duration::from_secs(6);

/// Collects one chunk's samples, and says when the chunk's time is up.
struct Clock {
    chunk_start: Instant,
    samples: Vec<u64>,
}

impl Clock {
    fn new(n: usize) -> Clock {
        Clock {
            chunk_start: Instant::now(),
            samples: Vec::with_capacity(n),
        }
    }

    /// Records a call that started at `start`; false once the chunk cap is
    /// reached.
    fn record(&mut self, start: Instant) -> bool {
        self.samples.push(start.elapsed().as_nanos() as u64);
        self.chunk_start.elapsed() <= CHUNK_CAP
    }
}

/// Makes the first `WARMUP` calls untimed and times the rest; nanoseconds.
pub(crate) async fn timed<C: Kv>(c: &mut C, calls: &[Call<'_>], value: &[u8]) -> Res<Vec<u64>> {
    let (warmup, measured) = calls.split_at(WARMUP.min(calls.len()));
    for call in warmup {
        perform(c, call, value).await?;
    }
    let mut clock = Clock::new(measured.len());
    for call in measured {
        let start = Instant::now();
        let got = perform(c, call, value).await?;
        let more = clock.record(start);
        call.check(got)?;
        if !more {
            break;
        }
    }
    Ok(clock.samples)
}

fn timed_legacy(s: &pgkv_legacy::Store, calls: &[Call<'_>], value: &[u8]) -> Res<Vec<u64>> {
    let (warmup, measured) = calls.split_at(WARMUP.min(calls.len()));
    for call in warmup {
        perform_legacy(s, call, value)?;
    }
    let mut clock = Clock::new(measured.len());
    for call in measured {
        let start = Instant::now();
        let got = perform_legacy(s, call, value)?;
        let more = clock.record(start);
        call.check(got)?;
        if !more {
            break;
        }
    }
    Ok(clock.samples)
}

/// Per call `i`, the random choices (fixed by the seed, so every system gets
/// the same sequence).
pub(crate) fn choices(seed: u64, n: usize) -> Vec<usize> {
    let mut rng = XorShift(seed | 1);
    (0..n).map(|_| rng.below(usize::MAX)).collect()
}

/// The keys of a chunk's own (`calls` of them, one per call, prepared by
/// [`prepare`]): the rows DELETE removes, the keys SET NX GET EX is given;
/// none for the other operations.
pub(crate) fn own_keys(op: Op, calls: usize, round: usize) -> Vec<String> {
    match op {
        Op::Delete => (0..calls).map(|i| format!("del:{round}:{i:05}")).collect(),
        Op::SetNxGetEx => (0..calls).map(|i| format!("nx:{i:05}")).collect(),
        _ => Vec::new(),
    }
}

/// Before a chunk, untimed: DELETE's rows written; SET NX GET EX's keys
/// reset, the even ones live (with a TTL), the odd ones absent; RENAME's
/// values back at their `a` names, the `b` names free.
pub(crate) async fn prepare<C: Kv>(c: &mut C, work: &Work, op: Op, own: &[String]) -> Res<()> {
    match op {
        Op::Delete => {
            for chunk in own.chunks(1_000) {
                c.set_many(chunk, &work.value).await?;
            }
        }
        Op::SetNxGetEx => {
            for chunk in own.chunks(1_000) {
                c.delete_many(chunk).await?;
            }
            let live: Vec<String> = own.iter().step_by(2).cloned().collect();
            for chunk in live.chunks(1_000) {
                c.set_many_ex(chunk, &work.value, LOADED_TTL_SECS).await?;
            }
        }
        Op::Rename => {
            c.delete_many(&work.rename_b).await?;
            c.set_many(&work.rename_a, &work.value).await?;
        }
        _ => {}
    }
    Ok(())
}

/// The calls of one chunk: `WARMUP` untimed ones, then `n` timed ones;
/// `own` holds `n + WARMUP` keys where the operation has keys of its own
/// ([`own_keys`]), prepared by [`prepare`].
pub(crate) fn chunk_calls<'a>(
    work: &'a Work,
    own: &'a [String],
    op: Op,
    n: usize,
    round: usize,
) -> Vec<Call<'a>> {
    // The same call sequence for every system in this round.
    let seed = 0x5eed_0000 + (op as u64) * 1_000 + round as u64;
    // RENAME: which pairs hold their value at the `b` name (none after
    // `prepare`); each call moves it to the other name.
    let mut at_b = [false; RENAME_PAIRS];
    choices(seed, n + WARMUP)
        .into_iter()
        .enumerate()
        .map(|(i, pick)| match op {
            Op::Set => Call::Set(&work.keys[pick % ROWS]),
            Op::Get => Call::Get(&work.keys[pick % ROWS]),
            Op::Delete => Call::Delete(&own[i]),
            Op::Increment => Call::Increment(&work.counters[pick % COUNTERS]),
            Op::SetMany | Op::GetMany => {
                let start = pick % (ROWS - BATCH);
                let batch = &work.keys[start..start + BATCH];
                if op == Op::SetMany {
                    Call::SetMany(batch)
                } else {
                    Call::GetMany(batch)
                }
            }
            Op::Scan => Call::Scan(work.scan_after(&mut XorShift(pick as u64 | 1))),
            Op::ExpireGt => Call::ExpireGt(
                &work.expiring[pick % EXPIRING],
                (pick / EXPIRING).is_multiple_of(2),
            ),
            Op::MatchScan => Call::MatchScan(work.match_after(&mut XorShift(pick as u64 | 1))),
            Op::IncrementEx => Call::IncrementEx(&work.counters_ex[pick % COUNTERS]),
            // Live and absent keys alternate (`prepare`), each used once.
            Op::SetNxGetEx => Call::SetNxGetEx(&own[i], i.is_multiple_of(2)),
            Op::Rename => {
                let j = pick % RENAME_PAIRS;
                let (a, b) = (work.rename_a[j].as_str(), work.rename_b[j].as_str());
                at_b[j] = !at_b[j];
                if at_b[j] {
                    Call::Rename(a, b)
                } else {
                    Call::Rename(b, a)
                }
            }
        })
        .collect()
}

/// One chunk: `n` timed calls of `op` on system `kind`.
fn run_chunk(
    rt: &Runtime,
    sys: &mut Systems,
    work: &Work,
    kind: Kind,
    op: Op,
    n: usize,
    round: usize,
) -> Res<Vec<u64>> {
    // Keys of the chunk's own, prepared (untimed) just before it.
    let own = own_keys(op, n + WARMUP, round);
    let calls = chunk_calls(work, &own, op, n, round);
    let v = work.value.as_slice();
    async fn prepared_chunk<C: Kv>(
        c: &mut C,
        work: &Work,
        op: Op,
        own: &[String],
        calls: &[Call<'_>],
    ) -> Res<Vec<u64>> {
        prepare(c, work, op, own).await?;
        timed(c, calls, &work.value).await
    }
    match kind {
        Kind::Legacy => {
            // Of 0.1's operations (`Op::runs_on`), only DELETE has anything
            // to prepare.
            if op == Op::Delete {
                for chunk in own.chunks(1_000) {
                    legacy_set_many(&sys.legacy, chunk, v)?;
                }
            }
            timed_legacy(&sys.legacy, &calls, v)
        }
        Kind::Floor => rt.block_on(prepared_chunk(&mut sys.floor, work, op, &own, &calls)),
        Kind::FloorOnRead => rt.block_on(prepared_chunk(&mut sys.floor_on_read, work, op, &own, &calls)),
        Kind::Pgkv => rt.block_on(prepared_chunk(&mut sys.pgkv, work, op, &own, &calls)),
        Kind::PgkvManual => rt.block_on(prepared_chunk(&mut sys.pgkv_manual, work, op, &own, &calls)),
        Kind::Redis => rt.block_on(prepared_chunk(&mut sys.redis, work, op, &own, &calls)),
    }
}

/// The latency rounds of one pass: every operation, `rounds` rounds of
/// `per_round` timed calls per system, the systems' order rotating every
/// round; one `Stat` per `Kind::ALL` entry per operation (with no samples
/// where the system lacks the operation, see `Op::runs_on`).
pub(crate) fn latency_pass(
    rt: &Runtime,
    sys: &mut Systems,
    work: &Work,
    rounds: usize,
    per_round: usize,
) -> Res<Vec<(Op, Vec<Stat>)>> {
    let mut latency = Vec::new();
    for op in Op::ALL {
        eprintln!("compare: {} {}", table_label(sys.tt), op.label());
        let mut samples: Vec<Vec<u64>> = vec![Vec::new(); Kind::ALL.len()];
        for round in 0..rounds {
            // Rotate the order every round.
            for j in 0..Kind::ALL.len() {
                let idx = (j + round) % Kind::ALL.len();
                let kind = Kind::ALL[idx];
                if !op.runs_on(kind) {
                    continue;
                }
                let got = run_chunk(rt, sys, work, kind, op, per_round, round)?;
                samples[idx].extend(got);
            }
        }
        latency.push((op, samples.into_iter().map(stat).collect()));
    }
    Ok(latency)
}
