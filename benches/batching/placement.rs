//! Placement. Unpinned, a connection's server process runs on the client's
//! CPU or on the other one, and which it is sticks to the connection for
//! seconds: round trips then differ by 2× between connections, whatever the
//! system (seen here: the same floor 30 µs in one run, 70 µs in the next).
//! So the latency part pins the client's thread, PostgreSQL (its backends are
//! forked after this) and Redis to one CPU, as the figures were, and
//! unpins them after.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::support::redis_server::RedisServer;
use crate::support::settings::Res;

/// `taskset -pc <cpus> <pid>`; `all_threads` adds `-a`.
fn taskset(cpus: &str, pid: u32, all_threads: bool) -> Res<()> {
    let mut cmd = Command::new("taskset");
    if all_threads {
        cmd.arg("-a");
    }
    let out = cmd
        .args(["-pc", cpus, &pid.to_string()])
        .stdout(Stdio::null())
        .output()
        .map_err(|e| format!("taskset: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "taskset -pc {cpus} {pid}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )
        .into());
    }
    Ok(())
}

/// The processes to pin: this thread (the current-thread runtime's), the
/// postmaster (from `PGKV_PGDATA`, set by `scripts/with-postgres`) and our
/// Redis.
pub(crate) struct Placement {
    postmaster: Option<u32>,
    redis: Option<u32>,
}

impl Placement {
    pub(crate) fn find(redis: &RedisServer) -> Placement {
        let postmaster = std::env::var("PGKV_PGDATA").ok().and_then(|dir| {
            let pid = std::fs::read_to_string(PathBuf::from(dir).join("postmaster.pid")).ok()?;
            pid.lines().next()?.trim().parse().ok()
        });
        Placement {
            postmaster,
            redis: redis.pid(),
        }
    }

    /// Pins everything to `cpus` (`None`: back to every CPU); a description
    /// of what was done.
    pub(crate) fn pin(&self, cpus: Option<&str>) -> Res<String> {
        let (Some(postmaster), Some(redis)) = (self.postmaster, self.redis) else {
            return Err("needs PGKV_PGDATA (scripts/with-postgres) and a Redis of our own".into());
        };
        let all = format!(
            "0-{}",
            std::thread::available_parallelism().map_or(1, |n| n.get()) - 1
        );
        let cpus = cpus.unwrap_or(&all);
        // The main thread only: the multi-thread runtime's workers keep theirs.
        taskset(cpus, std::process::id(), false)?;
        taskset(cpus, postmaster, true)?;
        taskset(cpus, redis, true)?;
        Ok(format!(
            "client thread, postmaster (and the backends it forks after this) and redis-server pinned to CPU {cpus} (taskset)"
        ))
    }
}
