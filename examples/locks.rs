//! A locked job runner that uses fencing tokens.
//!
//! Workers take the lock `lock:job:nightly` before running the job, and the
//! job's output goes to a table of the application's own (`job_output`)
//! with a guarded write: `... WHERE fence < $token`. One worker is paused
//! past its lease (as by a long GC pause or a stalled VM); another takes
//! the lock over and writes. When the paused worker wakes up it still
//! believes it holds the lock, but its write is refused by the token, and
//! it can neither release nor extend the new holder's lock.
//!
//! ```text
//! scripts/with-postgres cargo run --example locks
//! ```

use std::time::Duration;

use pgkv::{Config, Lock, Store, TableType};
use pgkv_suite::{example_database_url, report};

const LOCK: &str = "lock:job:nightly";

/// The guarded write: accepted only with a token above every one written
/// before. Returns whether it was accepted.
async fn write_output(pool: &sqlx::PgPool, lock: &Lock, output: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO job_output (job, output, fence) VALUES ('nightly', $1, $2) \
         ON CONFLICT (job) DO UPDATE SET output = EXCLUDED.output, fence = EXCLUDED.fence \
         WHERE job_output.fence < EXCLUDED.fence",
    )
    .bind(output)
    .bind(lock.token())
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let url = example_database_url("locks");
    // Regular: the locks and the job's table survive a restart. (On an
    // UNLOGGED table the lock rows vanish in a crash, but tokens still only
    // grow: they come from a WAL-logged sequence.)
    let store = Store::with_config(
        Config::new(url)
            .table_name("example_locks")
            .table_type(TableType::Regular),
    )
    .await?;
    let pool = store.pool().clone();
    sqlx::query("DROP TABLE IF EXISTS job_output")
        .execute(&pool)
        .await?;
    sqlx::query(
        "CREATE TABLE job_output (job text PRIMARY KEY, output text NOT NULL, fence bigint NOT NULL)",
    )
    .execute(&pool)
    .await?;

    // A few ordinary runs: each takes the lock, writes, releases.
    let mut tokens = Vec::new();
    for run in 1..=3 {
        let lock = store
            .lock(LOCK, Duration::from_secs(30), Duration::from_secs(5))
            .await?
            .ok_or("the lock stayed busy")?;
        let accepted = write_output(&pool, &lock, &format!("run {run}")).await?;
        println!("run {run}: token {} wrote its output: {accepted}", lock.token());
        tokens.push(lock.token().get());
        store.unlock(&lock).await?;
    }
    assert!(tokens.windows(2).all(|w| w[0] < w[1]));
    println!("tokens only grow: {tokens:?}");
    // Failed attempts draw from the sequence too, so tokens have gaps.

    // Worker A takes the lock with a short lease and is paused past it.
    let a = store
        .try_lock(LOCK, Duration::from_millis(200))
        .await?
        .ok_or("lock busy")?;
    println!("worker A holds token {} and pauses", a.token());
    // Worker B waits for the lock and gets it when A's lease runs out.
    let b = store
        .lock(LOCK, Duration::from_secs(30), Duration::from_secs(10))
        .await?
        .ok_or("B never got the lock")?;
    println!("worker B took over with token {}", b.token());
    let b_wrote = write_output(&pool, &b, "written by B").await?;
    // A wakes up, still believing it holds the lock.
    let a_wrote = write_output(&pool, &a, "written by A after its lease").await?;
    let a_released = store.unlock(&a).await?;
    let a_extended = store.extend_lock(&a, Duration::from_secs(30)).await?;
    println!("B's write accepted: {b_wrote}");
    println!("A's late write accepted: {a_wrote} (refused by the fence)");
    println!("A could release B's lock: {a_released}; extend it: {a_extended}");
    let output: String = sqlx::query_scalar("SELECT output FROM job_output WHERE job = 'nightly'")
        .fetch_one(&pool)
        .await?;
    println!("job_output holds: {output:?}");
    assert!(b_wrote && !a_wrote && !a_released && !a_extended);
    assert_eq!(output, "written by B");
    println!("B releases: {}", store.unlock(&b).await?);

    sqlx::query("DROP TABLE job_output").execute(&pool).await?;
    sqlx::query("DROP TABLE example_locks").execute(&pool).await?;
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    report(run().await)
}
