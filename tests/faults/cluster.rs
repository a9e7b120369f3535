//! A private, throwaway PostgreSQL cluster that the fault tests may restart
//! and crash: never the shared server in `DATABASE_URL`.
//!
//! It needs the server binaries: `PGKV_PG_BIN` (the bin dir holding `initdb`
//! and `pg_ctl`) and, when running as root, `PGKV_PG_USER` (the OS user to
//! run them as). `scripts/with-postgres` exports both when it starts its
//! own cluster, i.e. when `DATABASE_URL` is not already set.

use std::fs::OpenOptions;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug)]
pub(crate) struct Cluster {
    bin: PathBuf,
    /// Run server commands through `runuser -u <user>` (we are root).
    run_as: Option<String>,
    dir: PathBuf,
    data: PathBuf,
    log: PathBuf,
    opts: String,
    port: u16,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a free port")
        .port()
}

impl Cluster {
    /// initdb + start on a free 127.0.0.1 port, with `fsync=off` (speed)
    /// and `synchronous_commit` on (acknowledged commits survive a crash).
    pub(crate) fn start() -> Cluster {
        let Some(bin) = env("PGKV_PG_BIN") else {
            panic!(
                "PGKV_PG_BIN is not set. The fault tests start, restart and crash a private \
                 PostgreSQL cluster and need its server binaries: run them through \
                 `scripts/with-postgres cargo test --test faults` with DATABASE_URL unset \
                 (it exports PGKV_PG_BIN and PGKV_PG_USER), or set PGKV_PG_BIN (e.g. \
                 /usr/lib/postgresql/15/bin) and, as root, PGKV_PG_USER (e.g. postgres)."
            )
        };
        let bin = PathBuf::from(bin);
        assert!(
            bin.join("initdb").exists() && bin.join("pg_ctl").exists(),
            "PGKV_PG_BIN={} holds no initdb/pg_ctl",
            bin.display()
        );
        let run_as = if is_root() {
            Some(env("PGKV_PG_USER").unwrap_or_else(|| {
                panic!(
                    "running as root: set PGKV_PG_USER to the OS user that runs PostgreSQL \
                     (scripts/with-postgres exports it)"
                )
            }))
        } else {
            None
        };
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        // Under /tmp and short: the unix socket path is limited to ~107 bytes.
        let dir = PathBuf::from(format!("/tmp/pgkv-faults.{}.{nanos}", std::process::id()));
        std::fs::create_dir(&dir).expect("create the cluster dir");
        let mut cluster = Cluster {
            bin,
            run_as,
            data: dir.join("data"),
            log: dir.join("postgres.log"),
            dir,
            opts: String::new(),
            port: 0,
        };
        if let Some(user) = &cluster.run_as {
            let chown = Command::new("chown")
                .arg(format!("{user}:"))
                .arg(&cluster.dir)
                .status()
                .expect("chown");
            assert!(chown.success(), "chown {user}: {}", cluster.dir.display());
        }
        let data = cluster.data.clone();
        let initdb = |locale: &str| {
            cluster.server_cmd(
                "initdb",
                &[
                    "-D".as_ref(),
                    data.as_os_str(),
                    "-A".as_ref(),
                    "trust".as_ref(),
                    "-U".as_ref(),
                    "postgres".as_ref(),
                    "--encoding=UTF8".as_ref(),
                    locale.as_ref(),
                ],
            )
        };
        if !initdb("--locale=C.UTF-8") {
            let _ = std::fs::remove_dir_all(&cluster.data);
            assert!(
                initdb("--no-locale"),
                "initdb failed: {}",
                cluster.tail("commands.log")
            );
        }
        for attempt in 1..=5 {
            cluster.port = free_port();
            cluster.opts = format!(
                "-c listen_addresses=127.0.0.1 -c port={} -c unix_socket_directories={} \
                 -c fsync=off -c max_connections=100",
                cluster.port,
                cluster.dir.display()
            );
            if cluster.pg_ctl(&["start", "-w", "-t", "60"]) {
                return cluster;
            }
            eprintln!(
                "faults: start on port {} failed (attempt {attempt})",
                cluster.port
            );
        }
        panic!("PostgreSQL did not start: {}", cluster.tail("postgres.log"));
    }

    /// The cluster's `postgres` database as the `postgres` superuser.
    pub(crate) fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// `pg_ctl restart -m fast`: backends are told to stop (57P01), the
    /// server shuts down cleanly and comes back on the same port.
    pub(crate) fn restart_fast(&self) {
        assert!(
            self.pg_ctl(&["restart", "-m", "fast", "-w", "-t", "60"]),
            "restart failed: {}",
            self.tail("postgres.log")
        );
    }

    /// `pg_ctl stop -m immediate`: the server dies without a checkpoint, as
    /// in a crash; the next start runs crash recovery.
    pub(crate) fn crash(&self) {
        assert!(
            self.pg_ctl(&["stop", "-m", "immediate", "-w", "-t", "60"]),
            "immediate stop failed: {}",
            self.tail("postgres.log")
        );
    }

    pub(crate) fn start_again(&self) {
        assert!(
            self.pg_ctl(&["start", "-w", "-t", "60"]),
            "start after crash failed: {}",
            self.tail("postgres.log")
        );
    }

    /// Runs `pg_ctl -D data -l log -o opts <args>`. Always `-l`: without it
    /// the postmaster would keep our stdout/stderr open.
    fn pg_ctl(&self, args: &[&str]) -> bool {
        let mut all: Vec<&std::ffi::OsStr> = vec![
            "-D".as_ref(),
            self.data.as_os_str(),
            "-l".as_ref(),
            self.log.as_os_str(),
            "-o".as_ref(),
            self.opts.as_ref(),
        ];
        all.extend(args.iter().map(std::ffi::OsStr::new));
        self.server_cmd("pg_ctl", &all)
    }

    /// Runs a server binary as the server's user, output to commands.log.
    fn server_cmd(&self, program: &str, args: &[&std::ffi::OsStr]) -> bool {
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("commands.log"))
            .expect("open commands.log");
        let err = out.try_clone().expect("clone log handle");
        let program = self.bin.join(program);
        let mut cmd = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&program);
                c
            }
            None => Command::new(&program),
        };
        cmd.args(args)
            // As another user, initdb/pg_ctl complain about an unreadable cwd.
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .status()
            .unwrap_or_else(|e| panic!("run {}: {e}", program.display()))
            .success()
    }

    fn tail(&self, file: &str) -> String {
        let text = std::fs::read_to_string(self.dir.join(file)).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if !self.pg_ctl(&["stop", "-m", "immediate", "-w", "-t", "30"]) {
            // Never leave a postmaster running on a deleted data dir.
            if let Ok(pid) = std::fs::read_to_string(self.data.join("postmaster.pid"))
                && let Some(pid) = pid.lines().next()
            {
                let _ = Command::new("kill").args(["-KILL", pid.trim()]).status();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
