//! The markdown report: its tables, its notes and its lines about the
//! servers.

use std::fmt::Write as _;

use pgkv::TableType;
use sqlx::{Connection, PgConnection};
use tokio::runtime::Runtime;

use crate::kind::Kind;
use crate::support::servers::{describe_postgres, redis_version};
use crate::support::settings::Res;
use crate::support::stats::{Stat, fmt_int, fmt_us};
use crate::work::Op;
use crate::{
    BATCH, COUNTERS, EXPIRING, Env, GT_LONGER_SECS, GT_SHORTER_SECS, INCREMENT_TTL_SECS, LOADED_TTL_SECS,
    MATCH_PATTERN, MATCH_PREFIX, NX_TTL_SECS, RENAME_PAIRS, ROWS, SCAN_PREFIX, TASKS, VALUE,
};

pub(crate) struct PassResult {
    pub(crate) tt: TableType,
    /// Per operation, one `Stat` per `Kind::ALL` entry.
    pub(crate) latency: Vec<(Op, Vec<Stat>)>,
    /// Ops/s, one per `Kind::ALL` entry.
    pub(crate) throughput: Vec<u64>,
}

pub(crate) fn table_label(tt: TableType) -> &'static str {
    if tt == TableType::Unlogged {
        "UNLOGGED"
    } else {
        "Regular"
    }
}

/// A markdown table header: the given leading columns, then one right-aligned
/// column per name.
pub(crate) fn header<'a>(lead: &[&str], cols: impl IntoIterator<Item = &'a str>) -> String {
    let cols: Vec<&str> = cols.into_iter().collect();
    let mut out = format!("| {} |", lead.join(" | "));
    for c in &cols {
        let _ = write!(out, " {c} |");
    }
    out.push_str("\n|");
    out.push_str(&"---|".repeat(lead.len()));
    out.push_str(&"---:|".repeat(cols.len()));
    out.push('\n');
    out
}

pub(crate) fn render(results: &[PassResult], iters: usize) -> String {
    let mut out = header(&["table", "operation"], Kind::ALL.map(Kind::header));
    let mut short = Vec::new();
    for pass in results {
        for (op, stats) in &pass.latency {
            let _ = write!(out, "| {} | {} µs |", table_label(pass.tt), op.label());
            for (k, s) in Kind::ALL.iter().zip(stats) {
                if !op.runs_on(*k) {
                    out.push_str(" n/a |");
                    continue;
                }
                if s.samples < iters {
                    short.push(format!(
                        "{} / {} / {}: {} samples (chunk time cap)",
                        table_label(pass.tt),
                        op.label(),
                        k.header(),
                        s.samples
                    ));
                }
                let _ = write!(out, " {} / {}", fmt_us(s.median_us), fmt_us(s.p99_us));
                if *k != Kind::Floor {
                    let base = stats[k.baseline().index()].median_us;
                    let _ = write!(out, " ({:.2}×)", s.median_us / base);
                }
                out.push_str(" |");
            }
            out.push('\n');
        }
        let _ = write!(
            out,
            "| {} | throughput, {TASKS} clients, 80 % GET / 20 % SET, ops/s |",
            table_label(pass.tt)
        );
        for (k, ops) in Kind::ALL.iter().zip(&pass.throughput) {
            let _ = write!(out, " {}", fmt_int(*ops));
            if *k != Kind::Floor {
                let base = pass.throughput[k.baseline().index()] as f64;
                let _ = write!(out, " ({:.2}×)", *ops as f64 / base);
            }
            out.push_str(" |");
        }
        out.push('\n');
    }
    if !short.is_empty() {
        out.push_str("\nFewer samples than asked:\n");
        for s in short {
            let _ = writeln!(out, "- {s}");
        }
    }
    out
}

/// The notes under the main table: what the cells, the baselines and the
/// systems are.
pub(crate) fn notes() -> String {
    format!(
        "Cells: median / p99 in µs (throughput: ops/s); (×) = median ÷ the baseline's median \
         in the same pass (throughput: ops/s ÷ the baseline's). The baseline of pgkv 0.2 \
         (OnRead) is the floor running OnRead's SQL (the same SQL work); the baseline of every \
         other system, the floor running OnRead's SQL included, is the plain floor.\n\
         Systems: floor = sqlx 0.9, one dedicated PgConnection, prepared statements, upsert \
         ON CONFLICT, UNNEST arrays, key-range scan, no TTL purge; floor, OnRead SQL = the same, \
         but GET and GET_MANY carry the purge CTE pgkv's OnRead strategy sends (DELETE the \
         expired row in the same statement, unless another transaction holds its lock); \
         pgkv 0.2 = Store, default Config (OnRead), pool of {TASKS}; pgkv 0.2 Manual TTL = the \
         same with TtlCleanupStrategy::Manual (reads carry no purge); pgkv 0.1 = the \
         synchronous crate (its own table schema: key TEXT in the \
         database collation), on a plain thread, scan = its first page of the prefix (no keyset \
         pagination); Redis = one multiplexed connection, SET/GET/DEL/INCRBY/MSET/MGET, scan = \
         one EVALSHA running ZRANGEBYLEX on a sorted-set index + MGET (ordered keyset page with \
         values, one round trip).\n\
         Throughput: {TASKS} tasks sharing one client (floors: {TASKS} dedicated connections; \
         pgkv: one Store; pgkv 0.1: {TASKS} threads, one Store each; Redis: one multiplexed \
         connection), uniform keys over the {ROWS} rows.\n\
         Scan: a page of {BATCH} rows under prefix {SCAN_PREFIX:?} (1,000 of the {ROWS} rows), \
         after a random key.\n\
         Redis-family rows: the floors send pgkv's own statements for them, to the letter \
         (pgkv/sql/on_read.sql \"expire Later\", \"keys_matching\", \"increment_ex\", \
         \"set_with Absent EX GET\", \"rename\"; OnRead and Manual send the same, without a \
         purge; the last two checked against the files before timing), so the ratio is pgkv's \
         client cost alone; pgkv 0.1 has none of these commands (n/a). EXPIRE GT: {EXPIRING} keys loaded with a \
         TTL of {LOADED_TTL_SECS} s, each call asks for {GT_LONGER_SECS} s (applies) or \
         {GT_SHORTER_SECS} s (refused), half and half; pgkv: expire_if(key, ttl, \
         ExpireWhen::Later); Redis: EXPIRE key secs GT. MATCH: Store::keys with \
         pattern({MATCH_PATTERN:?}), limit {BATCH}, after a random matching key: the server \
         reads the pattern's literal-start range ({MATCH_PREFIX:?}, every row here) and keeps \
         the keys the regex matches, about ten rows per match; Redis = one EVALSHA walking the \
         sorted-set index with ZRANGEBYLEX, 256 at a time, keeping the keys a Lua pattern \
         equivalent to the glob finds (SCAN ... MATCH ... COUNT is unordered and returns no \
         fixed page, so it cannot read the same page); all three checked to return the same \
         pages before timing. INCREMENT_EX: increment_ex(key, 1, {INCREMENT_TTL_SECS} s) over \
         {COUNTERS} counters of its own (the first call creates each with the TTL, the rest \
         keep it); Redis = MULTI, INCRBY, EXPIRE NX, EXEC in one pipeline.\n\
         SET NX GET EX: set_with(key, value, SetOptions::new().only_if_absent().previous()\
         .expire_in({NX_TTL_SECS} s)) on keys of its own, one per call, reset (untimed) before \
         every chunk: the even ones live (TTL {LOADED_TTL_SECS} s), the odd ones absent, so \
         calls alternate between refused (the previous {VALUE}-byte value returned) and written \
         (no previous value), each checked; the floor binds the TTL as pgkv does (an interval \
         of microseconds) and checks the statement's \"raced\" column, on which pgkv sends it \
         again (it cannot race on one connection: checked false); Redis = SET key value NX GET \
         EX {NX_TTL_SECS}. RENAME: rename(from, to) over {RENAME_PAIRS} pairs of names, each \
         holding one {VALUE}-byte value (at its first name before every chunk); each call \
         moves a random pair's value to its free name (a → b, later b → a), so every call \
         succeeds and moves a value: both rows locked in key order, the source row deleted, \
         the target upserted, in one statement; Redis = RENAME from to."
    )
}

/// How many times faster pgkv 0.2 is than pgkv 0.1 (median ÷ median,
/// throughput ÷ throughput), per table type and operation.
pub(crate) fn render_speedup(results: &[PassResult]) -> String {
    let mine = [Kind::Pgkv, Kind::PgkvManual];
    let mut out = header(&["table", "operation"], mine.map(Kind::header));
    let legacy = Kind::Legacy.index();
    for pass in results {
        for (op, stats) in &pass.latency {
            let _ = write!(out, "| {} | {} |", table_label(pass.tt), op.label());
            for k in mine {
                if !op.runs_on(Kind::Legacy) {
                    out.push_str(" n/a |");
                    continue;
                }
                let _ = write!(
                    out,
                    " {:.2}× |",
                    stats[legacy].median_us / stats[k.index()].median_us
                );
            }
            out.push('\n');
        }
        let _ = write!(out, "| {} | throughput |", table_label(pass.tt));
        for k in mine {
            let _ = write!(
                out,
                " {:.2}× |",
                pass.throughput[k.index()] as f64 / pass.throughput[legacy] as f64
            );
        }
        out.push('\n');
    }
    out
}

/// The report's lines about the servers: PostgreSQL's version and settings,
/// Redis's version.
pub(crate) fn describe_servers(rt: &Runtime, env: &Env) -> Res<String> {
    rt.block_on(async {
        let mut conn = PgConnection::connect(&env.pg_url).await?;
        let (mut out, _) = describe_postgres(
            &mut conn,
            &[
                "shared_buffers",
                "fsync",
                "synchronous_commit",
                "wal_level",
                "max_connections",
                "full_page_writes",
                "jit",
                "lc_collate",
            ],
        )
        .await?;
        conn.close().await?;
        let redis_version = redis_version(env.redis_url.as_str()).await?;
        let _ = write!(
            out,
            "\n- Redis: {redis_version} (persistence off: save '', appendonly no)\n"
        );
        Ok(out)
    })
}
