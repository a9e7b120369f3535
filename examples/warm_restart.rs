//! Warm restart of an UNLOGGED table: fill a store, snapshot it, empty the
//! table the way a crash does, start again, and see how much came back and
//! how fast, next to a cold start.
//!
//! ```text
//! scripts/with-postgres cargo run --example warm_restart
//! PGKV_ROWS=1000000 scripts/with-postgres cargo run --release --example warm_restart
//! ```
//!
//! Run through `scripts/with-postgres` (which starts a throwaway cluster and
//! says where it is), the example crashes that server for real with
//! `pg_ctl stop -m immediate` and starts it again: crash recovery resets
//! every UNLOGGED table to empty. Against a server of your own
//! (`DATABASE_URL` set, no `PGKV_PGDATA`) it never touches the server and
//! empties the table with `TRUNCATE` instead, the same end state.

use std::time::{Duration, Instant};

use pgkv::{Config, Store, WarmRestart};

/// A cache entry of 256 bytes, like the benchmarks'.
const VALUE: usize = 256;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    pgkv_suite::report(run().await)
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let url = pgkv_suite::example_database_url("warm_restart");
    let rows: usize = match std::env::var("PGKV_ROWS") {
        Ok(n) => n.parse()?,
        Err(_) => 100_000,
    };
    let config = Config::new(url).table_name("warm_restart_example");
    let dir = std::env::temp_dir().join(format!("pgkv-warm-restart-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;

    // 1. A service fills its cache.
    let store = Store::with_config(config.clone()).await?;
    store.delete_prefix("").await?;
    let value = pgkv_suite::sample_value(VALUE);
    let started = Instant::now();
    for chunk in (0..rows).collect::<Vec<_>>().chunks(1_000) {
        let items: Vec<(String, &[u8])> = chunk.iter().map(|i| (key(*i), &value[..])).collect();
        store.set_many(&items).await?;
    }
    store
        .set_ex(
            "session:short",
            "gone before the restart",
            Duration::from_millis(200),
        )
        .await?;
    store
        .set_ex("session:long", "still valid", Duration::from_secs(600))
        .await?;
    println!(
        "filled:   {rows} rows of {VALUE} bytes in {:.2?}",
        started.elapsed()
    );

    // 2. It snapshots the table (an autosave would do this periodically).
    let started = Instant::now();
    let info = store.save_snapshot(dir.join("cache.pgkv")).await?;
    let took = started.elapsed();
    println!(
        "snapshot: {} rows, {:.1} MB in {took:.2?} ({:.0} rows/s, {:.1} MB/s) -> {}",
        info.rows,
        info.bytes as f64 / 1e6,
        info.rows as f64 / took.as_secs_f64(),
        info.bytes as f64 / 1e6 / took.as_secs_f64(),
        info.path.display()
    );

    // 3. The server crashes: the UNLOGGED table comes back empty. Meanwhile
    //    the short session expires.
    while store.exists("session:short").await? {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    match Server::from_env() {
        Some(server) => {
            store.close().await;
            server.pg_ctl(&["stop", "-m", "immediate", "-w", "-t", "60"])?;
            let started = Instant::now();
            server.pg_ctl(&["start", "-w", "-t", "60"])?;
            println!(
                "crash:    pg_ctl stop -m immediate, then start: server back after {:.2?} of crash recovery",
                started.elapsed()
            );
        }
        None => {
            let table = "\"public\".\"warm_restart_example\"";
            sqlx::query(sqlx::AssertSqlSafe(format!("TRUNCATE {table}")))
                .execute(store.pool())
                .await?;
            store.close().await;
            println!("crash:    simulated with TRUNCATE (not the wrapper's own server)");
        }
    }
    let probe: Vec<String> = (0..1_000).map(|i| key(i * rows.max(1) / 1_000)).collect();

    // 4a. A cold start: the service is up at once, but every read misses.
    let started = Instant::now();
    let cold = Store::with_config(config.clone()).await?;
    let rows_after_crash = cold.count(pgkv::ScanOptions::new()).await?;
    let hits = hit_count(&cold, &probe).await?;
    println!(
        "cold start: up in {:.2?}, {rows_after_crash} rows in the table, {hits}/{} probe reads hit (every miss goes to the backend)",
        started.elapsed(),
        probe.len()
    );
    cold.close().await;

    // 4b. A warm start: load the newest snapshot before serving.
    let started = Instant::now();
    let warm = Store::with_config(config).await?;
    let restart = warm.warm_restart(&dir).await?;
    let ready = started.elapsed();
    let hits = hit_count(&warm, &probe).await?;
    match restart {
        WarmRestart::Restored { summary, .. } => println!(
            "warm start: serving hits after {ready:.2?}: {} rows back ({} expired on disk), \
             snapshot {:.1?} old; {hits}/{} probe reads hit ({:.0} rows/s, {:.1} MB/s loaded)",
            summary.restored,
            summary.expired,
            summary.age,
            probe.len(),
            summary.restored as f64 / ready.as_secs_f64(),
            info.bytes as f64 / 1e6 / ready.as_secs_f64(),
        ),
        other => println!("warm start: nothing restored: {other:?}"),
    }
    let left = warm.ttl("session:long").await?;
    println!(
        "session:long came back with {:.0?} left (10 minutes minus the snapshot's age); session:short: {:?}",
        left.unwrap_or_default(),
        warm.get_string("session:short").await?
    );
    warm.delete_prefix("").await?;
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

fn key(i: usize) -> String {
    format!("cache:{i:08}")
}

async fn hit_count(store: &Store, keys: &[String]) -> pgkv::Result<usize> {
    let found = store.get_many(keys).await?;
    Ok(found.iter().filter(|v| v.is_some()).count())
}

/// The throwaway server `scripts/with-postgres` started, from what it exports.
struct Server {
    bin: std::path::PathBuf,
    data: String,
    user: Option<String>,
    opts: String,
    log: String,
}

impl Server {
    fn from_env() -> Option<Server> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Some(Server {
            bin: var("PGKV_PG_BIN")?.into(),
            data: var("PGKV_PGDATA")?,
            user: var("PGKV_PG_USER"),
            opts: var("PGKV_PG_OPTS").unwrap_or_default(),
            log: var("PGKV_PG_LOG")?,
        })
    }

    /// `pg_ctl -D data -l log -o opts <args>`, as the server's user.
    fn pg_ctl(&self, args: &[&str]) -> Result<(), Box<dyn std::error::Error>> {
        let pg_ctl = self.bin.join("pg_ctl");
        let mut cmd = match &self.user {
            Some(user) => {
                let mut c = std::process::Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&pg_ctl);
                c
            }
            None => std::process::Command::new(&pg_ctl),
        };
        let status = cmd
            .args(["-D", &self.data, "-l", &self.log, "-o", &self.opts])
            .args(args)
            .current_dir(std::env::temp_dir())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .status()?;
        if !status.success() {
            return Err(format!("pg_ctl {args:?} failed ({status}); see {}", self.log).into());
        }
        Ok(())
    }
}
