//! Runtime shapes: the same GETs driven the ways a program can drive them.

use std::fmt::Write as _;
use std::sync::Arc;

use pgkv::{Config, TableType};
use tokio::runtime::Runtime;

use crate::kind::Kind;
use crate::latency::{chunk_calls, timed};
use crate::report::header;
use crate::support::settings::Res;
use crate::support::stats::{fmt_us, stat};
use crate::systems::{Floor, Pgkv, open_pgkv, table_name};
use crate::work::{Op, Work};
use crate::{Env, SCAN_PREFIX};

#[derive(Clone, Copy)]
enum Shape {
    CurrentThread,
    MultiBlockOn,
    MultiSpawned,
}

impl Shape {
    const ALL: [Shape; 3] = [Shape::CurrentThread, Shape::MultiBlockOn, Shape::MultiSpawned];

    fn label(self) -> &'static str {
        match self {
            Shape::CurrentThread => "current-thread runtime (`#[tokio::main(flavor = \"current_thread\")]`)",
            Shape::MultiBlockOn => "multi-thread runtime, awaited in `main` itself (`#[tokio::main]`)",
            Shape::MultiSpawned => "multi-thread runtime, awaited in a spawned task",
        }
    }

    fn runtime(self) -> Res<Runtime> {
        let mut builder = match self {
            Shape::CurrentThread => tokio::runtime::Builder::new_current_thread(),
            Shape::MultiBlockOn | Shape::MultiSpawned => tokio::runtime::Builder::new_multi_thread(),
        };
        Ok(builder.enable_all().build()?)
    }
}

/// One shape's clients: a floor connection and a pgkv `Store` (on the tables
/// of the UNLOGGED pass), opened on that shape's runtime, whose I/O driver
/// they are registered with.
struct ShapeClients {
    floor: Floor,
    pgkv: Pgkv,
}

impl ShapeClients {
    async fn open(env: Arc<Env>) -> Res<ShapeClients> {
        let floor_table = table_name(Kind::Floor, TableType::Unlogged);
        let floor = Floor::connect(&env.pg_url, &floor_table, false, SCAN_PREFIX).await?;
        let config = Config::new(env.pg_url.clone()).table_name(&table_name(Kind::Pgkv, TableType::Unlogged));
        Ok(ShapeClients {
            floor,
            pgkv: open_pgkv(config).await?,
        })
    }

    /// One round of GET hits, floor then pgkv; the clients go back to the
    /// caller (a spawned task owns them while it runs).
    async fn round(mut self, work: Arc<Work>, n: usize, round: usize) -> Res<(ShapeClients, [Vec<u64>; 2])> {
        let calls = chunk_calls(&work, &[], Op::Get, n, 1_000 + round);
        let floor = timed(&mut self.floor, &calls, &work.value).await?;
        let pgkv = timed(&mut self.pgkv, &calls, &work.value).await?;
        Ok((self, [floor, pgkv]))
    }
}

/// The shapes take turns round by round (rotating order), like the systems
/// in the main passes, so the machine's noise hits each alike.
pub(crate) fn runtime_shapes(env: &Arc<Env>, work: &Arc<Work>) -> Res<String> {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut out = header(
        &["how the calls are driven"],
        ["floor GET (hit) µs", "pgkv 0.2 GET (hit) µs", "pgkv ÷ floor"],
    );
    eprintln!("compare: runtime shapes");
    let mut runtimes = Vec::new();
    for shape in Shape::ALL {
        let rt = shape.runtime()?;
        let clients = rt.block_on(ShapeClients::open(env.clone()))?;
        runtimes.push((shape, rt, Some(clients), [Vec::new(), Vec::new()]));
    }
    let per_round = env.iters.div_ceil(env.rounds);
    for round in 0..env.rounds {
        for j in 0..runtimes.len() {
            let idx = (j + round) % runtimes.len();
            let (shape, rt, clients, samples) = &mut runtimes[idx];
            let task = clients.take().expect("clients return after every round").round(
                work.clone(),
                per_round,
                round,
            );
            let (back, got) = match shape {
                Shape::MultiSpawned => rt.block_on(async { tokio::spawn(task).await? })?,
                _ => rt.block_on(task)?,
            };
            *clients = Some(back);
            for (all, new) in samples.iter_mut().zip(got) {
                all.extend(new);
            }
        }
    }
    for (shape, _, _, [floor, pgkv]) in runtimes {
        let (floor, pgkv) = (stat(floor), stat(pgkv));
        let _ = writeln!(
            out,
            "| {} | {} / {} | {} / {} | {:.2}× |",
            shape.label(),
            fmt_us(floor.median_us),
            fmt_us(floor.p99_us),
            fmt_us(pgkv.median_us),
            fmt_us(pgkv.p99_us),
            pgkv.median_us / floor.median_us
        );
    }
    let _ = write!(
        out,
        "\nMulti-thread runtimes have {workers} worker thread(s) here (tokio's default: the \
         CPUs this process may run on). Cells: median / p99 in µs.\n"
    );
    Ok(out)
}
