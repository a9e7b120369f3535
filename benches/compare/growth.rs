//! Growth (`--growth`): GET, SET and a prefix page as one table grows.

use std::fmt::Write as _;

use pgkv::Config;
use pgkv_suite::sample_value;
use sqlx::{Connection, PgConnection};

use crate::latency::{choices, timed};
use crate::report::header;
use crate::support::servers::sql;
use crate::support::settings::{BoxError, Res};
use crate::support::stats::{Stat, fmt_int, fmt_us, stat};
use crate::systems::{Floor, drop_tables, open_pgkv};
use crate::work::Call;
use crate::{BATCH, VALUE, WARMUP};

/// Growth keys are `key:00000000` …; pages read the first 10,000 of them.
const GROWTH_PREFIX: &str = "key:0000";
const GROWTH_PREFIX_ROWS: usize = 10_000;

fn growth_key(i: usize) -> String {
    format!("key:{i:08}")
}

pub(crate) fn parse_sizes(text: &str) -> Res<Vec<usize>> {
    let sizes = text
        .split(',')
        .map(|s| s.trim().replace('_', "").parse::<usize>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("PGKV_COMPARE_GROWTH={text:?}: {e}"))?;
    if sizes.is_empty()
        || sizes.windows(2).any(|w| w[0] >= w[1])
        || sizes[0] < GROWTH_PREFIX_ROWS
        || sizes[sizes.len() - 1] > 100_000_000
    {
        return Err(format!(
            "PGKV_COMPARE_GROWTH={text:?}: expected increasing sizes from {GROWTH_PREFIX_ROWS} to 100000000"
        )
        .into());
    }
    Ok(sizes)
}

/// One size's medians: [floor, pgkv] for GET, SET, page.
struct GrowthRow {
    rows: usize,
    size: String,
    stats: [[Stat; 2]; 3],
}

pub(crate) fn growth(pg_url: &str, sizes: &[usize], iters: usize, rounds: usize) -> Res<String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let table = format!("pgkv_growth_{}", std::process::id());
    let value = sample_value(VALUE);
    let rows = rt.block_on(async {
        let mut admin = PgConnection::connect(pg_url).await?;
        drop_tables(&mut admin, std::slice::from_ref(&table)).await?;
        let mut pgkv = open_pgkv(Config::new(pg_url).table_name(&table)).await?;
        pgkv.scan_prefix = GROWTH_PREFIX.to_owned();
        let mut floor = Floor::connect(pg_url, &table, false, GROWTH_PREFIX).await?;
        let fill = sql(format!(
            "INSERT INTO \"{table}\" (key, value) \
             SELECT 'key:' || lpad(i::text, 8, '0'), $1 FROM generate_series($2::bigint, $3::bigint) AS i"
        ));
        let mut loaded = 0;
        let mut out = Vec::new();
        for &size in sizes {
            while loaded < size {
                let upto = (loaded + 1_000_000).min(size);
                sqlx::query(fill.clone())
                    .bind(&value)
                    .bind(loaded as i64)
                    .bind(upto as i64 - 1)
                    .execute(&mut admin)
                    .await?;
                loaded = upto;
                eprintln!("compare: growth: {loaded} rows loaded");
            }
            sqlx::query(sql(format!("VACUUM ANALYZE \"{table}\"")))
                .execute(&mut admin)
                .await?;
            let size_text: String =
                sqlx::query_scalar("SELECT pg_size_pretty(pg_total_relation_size($1::regclass))")
                    .bind(format!("\"{table}\""))
                    .fetch_one(&mut admin)
                    .await?;
            eprintln!("compare: growth: measuring at {size} rows ({size_text})");
            let per_round = iters.div_ceil(rounds);
            let mut samples: [[Vec<u64>; 2]; 3] = Default::default();
            for round in 0..rounds {
                let picks = choices(0x6077 + round as u64, per_round + WARMUP);
                let keys: Vec<String> = picks.iter().map(|p| growth_key(p % size)).collect();
                let afters: Vec<String> = picks
                    .iter()
                    .map(|p| growth_key(p % (GROWTH_PREFIX_ROWS - BATCH)))
                    .collect();
                let ops: [Vec<Call>; 3] = [
                    keys.iter().map(|k| Call::Get(k)).collect(),
                    keys.iter().map(|k| Call::Set(k)).collect(),
                    afters.iter().map(|k| Call::Scan(k)).collect(),
                ];
                for (calls, samples) in ops.iter().zip(&mut samples) {
                    // Alternate which system goes first.
                    if round % 2 == 0 {
                        samples[0].extend(timed(&mut floor, calls, &value).await?);
                        samples[1].extend(timed(&mut pgkv, calls, &value).await?);
                    } else {
                        samples[1].extend(timed(&mut pgkv, calls, &value).await?);
                        samples[0].extend(timed(&mut floor, calls, &value).await?);
                    }
                }
            }
            out.push(GrowthRow {
                rows: size,
                size: size_text,
                stats: samples.map(|pair| pair.map(stat)),
            });
        }
        drop_tables(&mut admin, std::slice::from_ref(&table)).await?;
        Ok::<_, BoxError>(out)
    })?;

    let mut out = header(
        &["rows", "table + indexes"],
        [
            "floor GET",
            "pgkv GET",
            "floor SET",
            "pgkv SET",
            "floor page of 100",
            "pgkv page of 100",
            "pgkv page ÷ pgkv GET",
        ],
    );
    for row in &rows {
        let _ = write!(out, "| {} | {} |", fmt_int(row.rows as u64), row.size);
        for pair in &row.stats {
            for s in pair {
                let _ = write!(out, " {} / {} |", fmt_us(s.median_us), fmt_us(s.p99_us));
            }
        }
        let _ = writeln!(
            out,
            " {:.2}× |",
            row.stats[2][1].median_us / row.stats[0][1].median_us
        );
    }
    if let (Some(first), Some(last)) = (rows.first(), rows.last()) {
        let ratio = |op: usize, sys: usize| last.stats[op][sys].median_us / first.stats[op][sys].median_us;
        let _ = write!(
            out,
            "\nLargest ÷ smallest table, medians: pgkv GET {:.2}×, pgkv SET {:.2}× \
             (floor GET {:.2}×, floor SET {:.2}×).\n",
            ratio(0, 1),
            ratio(1, 1),
            ratio(0, 0),
            ratio(1, 0)
        );
    }
    let _ = writeln!(
        out,
        "Cells: median / p99 in µs. One UNLOGGED table shared by both systems (pgkv's \
         default config, so its GET carries the OnRead purge; the floor's does not), \
         {VALUE}-byte values, random existing keys over the whole table (SET overwrites \
         them), pages of {BATCH} under prefix {GROWTH_PREFIX:?} after a random key; \
         {} timed calls per cell in {rounds} interleaved rounds.",
        iters.div_ceil(rounds) * rounds
    );
    Ok(out)
}
