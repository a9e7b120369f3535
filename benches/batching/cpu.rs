//! CPU time from /proc: of this process (the client) and of the server
//! processes serving the measured connections, over part of a run.

use std::process::Command;
use std::time::Instant;

/// CPU time of a process (all its threads), in clock ticks.
fn proc_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command (which may hold spaces): state is the 3rd
    // field, utime the 14th, stime the 15th.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// CPU used during the second half of a run.
#[derive(Default, Clone, Copy)]
pub(crate) struct Cpu {
    pub(crate) secs: f64,
    pub(crate) calls: u64,
    /// Ticks of this process (the client).
    pub(crate) client: u64,
    /// Ticks of the server processes serving the measured connections
    /// (PostgreSQL backends, or redis-server).
    pub(crate) server: u64,
}

/// A snapshot for [`Cpu`].
pub(crate) struct CpuMark {
    at: Instant,
    calls: u64,
    client: u64,
    server: u64,
}

pub(crate) fn cpu_mark(pids: &[u32], calls: u64) -> CpuMark {
    CpuMark {
        at: Instant::now(),
        calls,
        client: proc_ticks(std::process::id()).unwrap_or(0),
        server: pids.iter().filter_map(|&p| proc_ticks(p)).sum(),
    }
}

pub(crate) fn cpu_between(a: &CpuMark, b: &CpuMark) -> Cpu {
    Cpu {
        secs: (b.at - a.at).as_secs_f64(),
        calls: b.calls - a.calls,
        client: b.client.saturating_sub(a.client),
        server: b.server.saturating_sub(a.server),
    }
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 if that fails).
pub(crate) fn clock_tick() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}
