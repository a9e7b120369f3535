//! Faults: a server restart under load, a crash (and a warm restart from a
//! snapshot after one), a backend terminated mid-write and an exhausted
//! pool, each against a private PostgreSQL cluster this binary creates,
//! restarts, crashes and deletes (never the shared server in `DATABASE_URL`).
//!
//! Run it through `scripts/with-postgres cargo test --test faults`, which
//! exports the server binaries' location (`PGKV_PG_BIN`, and `PGKV_PG_USER`
//! for root); the cases run one after another in a single test.

mod cluster;
mod warm;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use pgkv::{Config, Error, Store, TableType};

use cluster::Cluster;

fn config(cluster: &Cluster, table: &str) -> Config {
    Config::new(cluster.url()).table_name(table)
}

async fn admin(cluster: &Cluster) -> sqlx::PgPool {
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(&cluster.url())
        .await
        .expect("admin connection")
}

async fn raw_count(pool: &sqlx::PgPool, table: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM public.{table}"
    )))
    .fetch_one(pool)
    .await
    .expect("count rows")
}

#[test]
fn reliability_under_server_faults() {
    let cluster = Arc::new(Cluster::start());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        pool_exhaustion(&cluster).await;
        terminated_backend(&cluster).await;
        restart_under_load(&cluster).await;
        crash_recovery(&cluster).await;
        warm::warm_restart_after_a_crash(&cluster).await;
    });
    drop(rt);
    drop(cluster);
}

// ---------------------------------------------------------------------------

/// With 2 connections both inside open transactions and a 1 s acquire
/// timeout, every call fails with `PoolTimedOut` after about 1 s, never
/// hangs, and works again once a transaction ends. (The deadline covers
/// opening the two connections too, so it is not shorter: a loaded machine
/// can take a few hundred ms to connect.)
async fn pool_exhaustion(cluster: &Cluster) {
    let timeout = Duration::from_secs(1);
    let s = Store::with_config(
        config(cluster, "pool_exhaustion")
            .max_connections(2)
            .acquire_timeout(timeout),
    )
    .await
    .unwrap();
    let mut tx1 = s.begin().await.unwrap();
    let tx2 = s.begin().await.unwrap();
    tx1.set("held", "1").await.unwrap();
    let mut waits = Vec::new();
    for call in 0..4 {
        let started = Instant::now();
        let bounded = tokio::time::timeout(Duration::from_secs(10), async {
            match call {
                0 => s.get("k").await.map(drop),
                1 => s.set("k", "v").await,
                2 => s.begin().await.map(drop),
                _ => s.cleanup_expired().await.map(drop),
            }
        })
        .await;
        let waited = started.elapsed();
        let err = bounded
            .expect("a call hung on an exhausted pool")
            .expect_err("no connection was free");
        assert!(matches!(err, Error::PoolTimedOut), "call {call}: {err:?}");
        assert!(err.is_recoverable());
        assert!(
            waited >= timeout - Duration::from_millis(10) && waited < timeout * 5,
            "call {call} waited {waited:?} for a {timeout:?} acquire timeout"
        );
        waits.push(waited);
    }
    tx1.commit().await.unwrap();
    assert_eq!(s.get_string("held").await.unwrap().as_deref(), Some("1"));
    tx2.rollback().await.unwrap();
    s.set("k", "v").await.unwrap();
    println!("faults: pool exhaustion: 4 calls timed out after {waits:?}");
}

// ---------------------------------------------------------------------------

/// Waits for a backend of `app` blocked on a lock, and terminates it.
async fn terminate_blocked(admin: &sqlx::PgPool, app: &str) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let pid: Option<i32> = sqlx::query_scalar(
            "SELECT pid FROM pg_stat_activity WHERE application_name = $1 \
             AND wait_event_type = 'Lock' LIMIT 1",
        )
        .bind(app)
        .fetch_optional(admin)
        .await
        .unwrap();
        if let Some(pid) = pid {
            let done: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
                .bind(pid)
                .fetch_one(admin)
                .await
                .unwrap();
            assert!(done, "could not terminate {pid}");
            return pid;
        }
        assert!(
            Instant::now() < deadline,
            "no backend of {app} ever waited on a lock"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A write blocked on a row lock whose backend is terminated: the call
/// reports `OutcomeUnknown` (recoverable), pgkv does not retry it, and the
/// next call succeeds. A read terminated the same way is recoverable but
/// not `OutcomeUnknown`.
async fn terminated_backend(cluster: &Cluster) {
    let app = "pgkv_faults_term";
    let admin = admin(cluster).await;
    let s = Store::with_config(
        config(cluster, "terminated")
            .max_connections(4)
            .application_name(app),
    )
    .await
    .unwrap();
    s.set("k", "orig").await.unwrap();
    s.set("n", "5").await.unwrap();
    let writes: [(&str, &str); 5] = [
        ("set", "k"),
        ("increment", "n"),
        ("get_and_set", "k"),
        ("delete", "k"),
        ("compare_and_swap", "k"),
    ];
    for (name, key) in writes {
        let before = s.get(key).await.unwrap();
        // Another transaction holds the row lock, so the write waits.
        let mut holder = s.begin().await.unwrap();
        holder.set(key, "held").await.unwrap();
        let writer = {
            let s = s.clone();
            tokio::spawn(async move {
                match name {
                    "set" => s.set(key, "new").await,
                    "increment" => s.increment(key, 1).await.map(drop),
                    "get_and_set" => s.get_and_set(key, "new").await.map(drop),
                    "delete" => s.delete(key).await.map(drop),
                    _ => s.compare_and_swap(key, Some(b"orig"), "new").await.map(drop),
                }
            })
        };
        terminate_blocked(&admin, app).await;
        let err = tokio::time::timeout(Duration::from_secs(10), writer)
            .await
            .expect("the terminated call returned")
            .unwrap()
            .expect_err("its backend was terminated");
        assert!(matches!(err, Error::OutcomeUnknown { .. }), "{name}: {err:?}");
        assert!(err.is_recoverable(), "{name}: {err:?}");
        holder.rollback().await.unwrap();
        // Not retried behind the caller's back: the value stays as it was.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(s.get(key).await.unwrap(), before, "{name} was retried");
        s.set("after", name).await.expect("the next call succeeds");
    }

    // A read, blocked by a table lock, terminated: recoverable, not "unknown".
    let mut locker = admin.begin().await.unwrap();
    sqlx::query("LOCK TABLE public.terminated IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *locker)
        .await
        .unwrap();
    let reader = {
        let s = s.clone();
        tokio::spawn(async move { s.get("k").await })
    };
    terminate_blocked(&admin, app).await;
    let err = tokio::time::timeout(Duration::from_secs(10), reader)
        .await
        .expect("the terminated read returned")
        .unwrap()
        .expect_err("its backend was terminated");
    assert!(err.is_recoverable(), "{err:?}");
    assert!(
        !matches!(err, Error::OutcomeUnknown { .. }),
        "a read is not a write: {err:?}"
    );
    locker.rollback().await.unwrap();
    assert_eq!(s.get_string("k").await.unwrap().as_deref(), Some("orig"));
    println!("faults: pg_terminate_backend: 5 blocked writes reported OutcomeUnknown, 1 read recoverable");
}

// ---------------------------------------------------------------------------

#[derive(Debug, Default)]
struct Load {
    calls: u64,
    errors: Vec<(Instant, String, bool)>,
    last_ok: Option<Instant>,
    increments_acked: i64,
    increments_unknown: i64,
}

/// `pg_ctl restart -m fast` while 8 tasks call set/get/increment: calls
/// fail with recoverable errors during the outage, and every task succeeds
/// again within a few seconds of the restart, on the same `Store`.
async fn restart_under_load(cluster: &Arc<Cluster>) {
    let s = Store::with_config(
        config(cluster, "restart_load")
            .table_type(TableType::Regular)
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(2)),
    )
    .await
    .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = (0..8)
        .map(|t| {
            let (s, stop) = (s.clone(), stop.clone());
            tokio::spawn(async move {
                let mut load = Load::default();
                let (key, ctr) = (format!("k{t}"), format!("ctr{t}"));
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    load.calls += 1;
                    let result = match n % 3 {
                        0 => s.set(&key, n.to_string()).await,
                        1 => s.get(&key).await.map(drop),
                        _ => match s.increment(&ctr, 1).await {
                            Ok(_) => {
                                load.increments_acked += 1;
                                Ok(())
                            }
                            Err(e) => {
                                load.increments_unknown += 1;
                                Err(e)
                            }
                        },
                    };
                    match result {
                        Ok(()) => load.last_ok = Some(Instant::now()),
                        Err(e) => {
                            load.errors
                                .push((Instant::now(), format!("{e:?}"), e.is_recoverable()));
                            // Back off a little, as a client would.
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                }
                load
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let restart_began = Instant::now();
    let c = cluster.clone();
    tokio::task::spawn_blocking(move || c.restart_fast())
        .await
        .unwrap();
    let back = Instant::now();
    tokio::time::sleep(Duration::from_secs(4)).await;
    stop.store(true, Ordering::Relaxed);
    let mut loads = Vec::new();
    for t in tasks {
        loads.push(t.await.expect("load task panicked"));
    }

    let errors: Vec<_> = loads.iter().flat_map(|l| &l.errors).collect();
    assert!(
        !errors.is_empty(),
        "the restart went unnoticed: the test proves nothing"
    );
    for (_, e, recoverable) in &errors {
        assert!(recoverable, "not recoverable: {e}");
    }
    let recovery = Duration::from_secs(3);
    for (t, l) in loads.iter().enumerate() {
        let last_ok = l.last_ok.expect("the task never succeeded");
        assert!(last_ok > back, "task {t} never succeeded after the restart");
        if let Some((last_err, e, _)) = l.errors.last() {
            assert!(
                *last_err < back + recovery,
                "task {t} still failed {:?} after the restart: {e}",
                last_err.duration_since(back)
            );
        }
    }
    // Counters: every acknowledged increment is there, and no more than the
    // ones whose outcome is unknown on top.
    for (t, l) in loads.iter().enumerate() {
        let value: i64 = s
            .get_string(format!("ctr{t}"))
            .await
            .unwrap()
            .unwrap_or_else(|| "0".into())
            .parse()
            .unwrap();
        assert!(
            (l.increments_acked..=l.increments_acked + l.increments_unknown).contains(&value),
            "ctr{t} = {value}, acknowledged {}, unknown {}",
            l.increments_acked,
            l.increments_unknown
        );
    }
    let mut kinds: Vec<String> = errors
        .iter()
        .map(|(_, e, _)| e.split([' ', '(', '{']).next().unwrap_or("").to_owned())
        .collect();
    kinds.sort();
    kinds.dedup();
    let last_error = errors.iter().map(|(at, _, _)| *at).max().unwrap();
    println!(
        "faults: restart under load: {} calls, {} failed (kinds {kinds:?}), restart took {:?}, \
         last failure {:?} after the server was back",
        loads.iter().map(|l| l.calls).sum::<u64>(),
        errors.len(),
        back - restart_began,
        last_error.saturating_duration_since(back)
    );
}

// ---------------------------------------------------------------------------

/// `pg_ctl stop -m immediate` + start: an UNLOGGED table comes back empty and
/// usable; a regular table has every write acknowledged before the crash,
/// including writes acknowledged while the crash was happening.
async fn crash_recovery(cluster: &Arc<Cluster>) {
    let unlogged_cfg = || config(cluster, "crash_unlogged").max_connections(4);
    let regular_cfg = || {
        config(cluster, "crash_regular")
            .table_type(TableType::Regular)
            .max_connections(8)
    };
    let unlogged = Store::with_config(unlogged_cfg()).await.unwrap();
    let regular = Store::with_config(regular_cfg()).await.unwrap();
    for i in 0..1_000 {
        let (k, v) = (format!("key{i:04}"), format!("value{i}"));
        unlogged.set(&k, &v).await.unwrap();
        regular.set(&k, &v).await.unwrap();
    }
    // Fencing tokens granted (and released) before the crash; each table
    // has its own sequence.
    let mut last_token = [0, 0];
    for _ in 0..20 {
        for (i, s) in [&unlogged, &regular].into_iter().enumerate() {
            let lock = s
                .try_lock("lock", Duration::from_secs(60))
                .await
                .unwrap()
                .unwrap();
            assert!(lock.token().get() > last_token[i]);
            last_token[i] = lock.token().get();
            assert!(s.unlock(&lock).await.unwrap());
        }
    }
    // Writers still running when the server dies: whatever they saw
    // acknowledged must survive.
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|t| {
            let (s, stop) = (regular.clone(), stop.clone());
            tokio::spawn(async move {
                let mut acked = Vec::new();
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let k = format!("live{t}:{n}");
                    match s.set(&k, n.to_string()).await {
                        Ok(()) => acked.push((k, n)),
                        Err(e) => {
                            assert!(e.is_recoverable(), "{e:?}");
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                }
                acked
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let c = cluster.clone();
    tokio::task::spawn_blocking(move || c.crash()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    let mut acked = Vec::new();
    for w in writers {
        acked.extend(w.await.expect("writer panicked"));
    }
    let c = cluster.clone();
    tokio::task::spawn_blocking(move || c.start_again())
        .await
        .unwrap();

    // Fresh stores, as an application restarting with the server would.
    let admin = admin(cluster).await;
    let unlogged2 = Store::with_config(unlogged_cfg())
        .await
        .expect("the unlogged table is usable");
    assert_eq!(
        raw_count(&admin, "crash_unlogged").await,
        0,
        "an UNLOGGED table is emptied by a crash"
    );
    unlogged2.set("after", "crash").await.unwrap();
    // The lock rows are gone with the table, the sequence is not: tokens
    // keep growing.
    let after = unlogged2
        .try_lock("lock", Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    assert!(
        after.token().get() > last_token[0],
        "{} after {}",
        after.token(),
        last_token[0]
    );
    assert_eq!(
        unlogged2.get_string("after").await.unwrap().as_deref(),
        Some("crash")
    );

    let regular2 = Store::with_config(regular_cfg()).await.unwrap();
    let regular_after = regular2
        .try_lock("lock", Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    assert!(regular_after.token().get() > last_token[1]);
    let keys: Vec<String> = (0..1_000).map(|i| format!("key{i:04}")).collect();
    let values = regular2.get_many(&keys).await.unwrap();
    for (i, v) in values.iter().enumerate() {
        assert_eq!(
            v.as_deref(),
            Some(format!("value{i}").as_bytes()),
            "key{i:04} lost"
        );
    }
    let live_keys: Vec<&String> = acked.iter().map(|(k, _)| k).collect();
    let live = regular2.get_many(&live_keys).await.unwrap();
    for ((k, n), v) in acked.iter().zip(&live) {
        assert_eq!(
            v.as_deref(),
            Some(n.to_string().as_bytes()),
            "{k} was acknowledged, then lost"
        );
    }

    // The stores from before the crash recover by themselves: after at most
    // one failed call (each store finds its dead connections once).
    let regular_failures = recover(&regular, "key0000", Some(&b"value0"[..])).await;
    let unlogged_failures = recover(&unlogged, "key0000", None).await;
    println!(
        "faults: crash: 1,000 + {} acknowledged writes all survived in the regular table; \
         the unlogged table came back empty and usable; fencing tokens went from {} before to {} after (unlogged); the old stores failed {regular_failures} and \
         {unlogged_failures} time(s) before working again",
        acked.len(),
        last_token[0],
        after.token()
    );
}

/// Calls `get(key)` on a store whose server crashed until it works; returns
/// how many calls failed (at most one is allowed).
async fn recover(s: &Store, key: &str, want: Option<&[u8]>) -> u32 {
    let mut failures = 0;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match s.get(key).await {
            Ok(v) => {
                assert_eq!(v.as_deref(), want);
                break;
            }
            Err(e) => {
                assert!(e.is_recoverable(), "{e:?}");
                failures += 1;
                assert!(Instant::now() < deadline, "the old store never recovered: {e:?}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    assert!(
        failures <= 1,
        "the old store failed {failures} times after the crash"
    );
    failures
}
