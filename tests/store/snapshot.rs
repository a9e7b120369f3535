//! Snapshots: save and load, both modes, absolute expiry, refused files,
//! loads that fail midway, point-in-time consistency under writers, and a
//! save that runs out of disk.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use pgkv::{
    AutosaveHandle, AutosaveOptions, AutosaveStats, Error, LoadMode, ScanOptions, SnapshotDefect,
    SnapshotInfo, Store, WarmRestart,
};
use pgkv_suite::{force_expire, store, store_with, table_of, unique_table};

const HOUR: Duration = Duration::from_secs(3600);

/// A directory of this test's own, removed with everything in it when the
/// test ends (also when it fails), so runs leave nothing in the temp dir.
pub(crate) fn scratch(tag: &str) -> Scratch {
    let dir = std::env::temp_dir().join(unique_table(tag));
    std::fs::create_dir_all(&dir).expect("create a scratch directory");
    Scratch(dir)
}

pub(crate) struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Every live key and value, in key order.
async fn contents(s: &Store) -> Vec<(String, Vec<u8>)> {
    s.scan(ScanOptions::new())
        .await
        .unwrap()
        .into_iter()
        .map(|kv| (kv.key, kv.value))
        .collect()
}

/// Each key's stored expiry, in microseconds since the epoch (None: none).
async fn expiries(s: &Store) -> Vec<(String, Option<i64>)> {
    let sql = format!(
        "SELECT key, (EXTRACT(EPOCH FROM expires_at) * 1000000)::bigint FROM {} ORDER BY key",
        table_of(s)
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .fetch_all(&pgkv_suite::admin(s))
        .await
        .unwrap()
}

async fn clear(s: &Store) {
    let sql = format!("DELETE FROM {}", table_of(s));
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(&pgkv_suite::admin(s))
        .await
        .unwrap();
}

fn defect(e: Error) -> SnapshotDefect {
    match e {
        Error::InvalidSnapshot { defect, .. } => defect,
        other => panic!("expected InvalidSnapshot, got {other:?}"),
    }
}

/// The header's length: 44 bytes plus the table name.
fn header_len(file: &[u8]) -> usize {
    44 + usize::from(u16::from_be_bytes([file[10], file[11]]))
}

/// Rewrites a snapshot file with `payload` and `rows`, with valid checksums
/// (by the format in pgkv/src/snapshot/format.rs), as a faulty writer could.
fn reseal(file: &[u8], payload: &[u8], rows: u64) -> Vec<u8> {
    let crc = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);
    let n = header_len(file) - 44;
    let mut out = file[..12].to_vec();
    out.extend_from_slice(&rows.to_be_bytes());
    out.extend_from_slice(&file[20..28]);
    out.extend_from_slice(&(payload.len() as u64).to_be_bytes());
    out.extend_from_slice(&crc.checksum(payload).to_be_bytes());
    out.extend_from_slice(&file[40..40 + n]);
    let header_crc = crc.checksum(&out);
    out.extend_from_slice(&header_crc.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// A store with a few rows of every kind, and its snapshot at `path`.
async fn saved(tag: &str, path: &Path) -> (Store, SnapshotInfo) {
    let s = store(tag).await;
    s.set("plain", "v").await.unwrap();
    s.set("binary", [0u8, 255, 1, 0]).await.unwrap();
    s.set("empty", "").await.unwrap();
    s.set_ex("ttl", "t", Duration::from_secs(600)).await.unwrap();
    s.set_ex("gone", "g", HOUR).await.unwrap();
    force_expire(&s, "gone").await;
    let info = s.save_snapshot(path).await.unwrap();
    (s, info)
}

#[tokio::test]
async fn a_snapshot_restores_the_live_rows_with_their_absolute_expiry() {
    let dir = scratch("snap_roundtrip");
    let path = dir.join("kv.snapshot");
    let (s, info) = saved("snap_roundtrip", &path).await;
    assert_eq!(info.rows, 4, "the expired row is not saved");
    assert_eq!(info.bytes, std::fs::metadata(&path).unwrap().len());
    assert!(!dir.join("kv.snapshot.tmp").exists());
    assert_eq!(SnapshotInfo::verify(&path).await.unwrap(), info);

    let before = contents(&s).await;
    let expiry_before: Vec<_> = expiries(&s)
        .await
        .into_iter()
        .filter(|(k, _)| k != "gone")
        .collect();
    clear(&s).await;
    let loaded = s.load_snapshot(&path, LoadMode::Replace).await.unwrap();
    assert_eq!(
        (
            loaded.rows_in_file,
            loaded.restored,
            loaded.expired,
            loaded.kept_existing
        ),
        (4, 4, 0, 0)
    );
    assert_eq!(loaded.taken_at, info.taken_at);
    assert_eq!(contents(&s).await, before);
    // The same absolute expiry, to the microsecond: the TTL left is what
    // was left at the snapshot minus the time since.
    assert_eq!(expiries(&s).await, expiry_before);
    let left = s.ttl("ttl").await.unwrap().expect("a TTL");
    assert!(left <= Duration::from_secs(600) && left > Duration::ZERO);
}

#[tokio::test]
async fn a_key_that_expired_on_disk_is_not_restored() {
    let dir = scratch("snap_expired");
    let path = dir.join("kv.snapshot");
    let s = store("snap_expired").await;
    s.set("stays", "v").await.unwrap();
    s.set_ex("short", "v", Duration::from_millis(300)).await.unwrap();
    let info = s.save_snapshot(&path).await.unwrap();
    assert_eq!(info.rows, 2);
    // Wait for the event (the server says the key has expired), not a time.
    while s.exists("short").await.unwrap() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    clear(&s).await;
    let loaded = s.load_snapshot(&path, LoadMode::Replace).await.unwrap();
    assert_eq!((loaded.restored, loaded.expired), (1, 1));
    assert_eq!(contents(&s).await, vec![("stays".to_owned(), b"v".to_vec())]);
}

#[tokio::test]
async fn merge_keeps_the_live_rows_written_after_the_snapshot() {
    let dir = scratch("snap_merge");
    let path = dir.join("kv.snapshot");
    let s = store("snap_merge").await;
    s.set_many(&[("a", "old"), ("b", "old"), ("e", "old")])
        .await
        .unwrap();
    s.save_snapshot(&path).await.unwrap();
    s.set("a", "new").await.unwrap(); // live and newer: kept
    s.delete("b").await.unwrap(); // gone since: restored
    s.set("c", "new").await.unwrap(); // not in the snapshot: untouched
    s.set_ex("e", "new", HOUR).await.unwrap();
    force_expire(&s, "e").await; // expired in the table: the snapshot's wins
    let loaded = s.load_snapshot(&path, LoadMode::Merge).await.unwrap();
    assert_eq!((loaded.restored, loaded.expired, loaded.kept_existing), (2, 0, 1));
    let want: Vec<(String, Vec<u8>)> = [("a", "new"), ("b", "old"), ("c", "new"), ("e", "old")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
        .collect();
    assert_eq!(contents(&s).await, want);
    assert_eq!(
        s.ttl("e").await.unwrap(),
        None,
        "e took the snapshot's (absent) expiry"
    );
}

#[tokio::test]
async fn replace_leaves_exactly_the_snapshot() {
    let dir = scratch("snap_replace");
    let path = dir.join("kv.snapshot");
    let s = store("snap_replace").await;
    s.set_many(&[("a", "old"), ("b", "old")]).await.unwrap();
    s.save_snapshot(&path).await.unwrap();
    s.set("a", "new").await.unwrap();
    s.set("c", "new").await.unwrap();
    let loaded = s.load_snapshot(&path, LoadMode::Replace).await.unwrap();
    assert_eq!((loaded.restored, loaded.kept_existing), (2, 0));
    let want: Vec<(String, Vec<u8>)> = vec![("a".into(), b"old".to_vec()), ("b".into(), b"old".to_vec())];
    assert_eq!(contents(&s).await, want);
}

#[tokio::test]
async fn an_empty_table_makes_a_loadable_empty_snapshot() {
    let dir = scratch("snap_empty");
    let path = dir.join("kv.snapshot");
    let s = store("snap_empty").await;
    assert_eq!(s.save_snapshot(&path).await.unwrap().rows, 0);
    s.set("a", "1").await.unwrap();
    let loaded = s.load_snapshot(&path, LoadMode::Merge).await.unwrap();
    assert_eq!(loaded.restored, 0);
    assert_eq!(s.get_string("a").await.unwrap().as_deref(), Some("1"));
    s.load_snapshot(&path, LoadMode::Replace).await.unwrap();
    assert!(contents(&s).await.is_empty());
}

/// Loads `bytes` as a snapshot into `s` in both modes and checks that it is
/// refused and that the table did not change; returns the error.
async fn refused_untouched(s: &Store, dir: &Path, name: &str, bytes: &[u8]) -> Error {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    let before = contents(s).await;
    let expiry_before = expiries(s).await;
    let mut errors = Vec::new();
    for mode in [LoadMode::Replace, LoadMode::Merge] {
        let e = s
            .load_snapshot(&path, mode)
            .await
            .expect_err("a bad snapshot is refused");
        assert_eq!(contents(s).await, before, "{name}: the table changed ({mode:?})");
        assert_eq!(
            expiries(s).await,
            expiry_before,
            "{name}: expiries changed ({mode:?})"
        );
        errors.push(e);
    }
    errors.pop().unwrap()
}

/// The table after `saved`, changed so that a wrongly applied load shows.
async fn changed_since(s: &Store) {
    s.set("plain", "changed since").await.unwrap();
    s.set("added", "since").await.unwrap();
    s.delete("binary").await.unwrap();
}

#[tokio::test]
async fn truncated_corrupted_and_foreign_files_are_refused_before_the_table_is_touched() {
    let dir = scratch("snap_bad");
    let path = dir.join("kv.snapshot");
    let (s, _) = saved("snap_bad", &path).await;
    changed_since(&s).await;
    let good = std::fs::read(&path).unwrap();
    let hl = header_len(&good);

    for cut in [0, 5, 20, hl - 1, hl, hl + 10, good.len() - 1] {
        let e = refused_untouched(&s, &dir, "cut", &good[..cut]).await;
        let d = defect(e);
        match cut {
            0 | 5 => assert_eq!(d, SnapshotDefect::NotASnapshot),
            _ if cut < hl => assert!(matches!(d, SnapshotDefect::Truncated { .. }), "{cut}: {d:?}"),
            _ => assert_eq!(
                d,
                SnapshotDefect::Truncated {
                    expected: (good.len() - hl) as u64,
                    found: (cut - hl) as u64
                }
            ),
        }
    }

    let mut flipped = good.clone();
    *flipped.last_mut().unwrap() ^= 0x40; // the COPY trailer
    let d = defect(refused_untouched(&s, &dir, "payload", &flipped).await);
    assert!(matches!(d, SnapshotDefect::ChecksumMismatch { .. }), "{d:?}");
    let mut flipped = good.clone();
    flipped[hl + 30] ^= 1;
    let d = defect(refused_untouched(&s, &dir, "payload2", &flipped).await);
    assert!(matches!(d, SnapshotDefect::ChecksumMismatch { .. }), "{d:?}");

    let mut header = good.clone();
    header[15] ^= 1; // the row count
    assert_eq!(
        defect(refused_untouched(&s, &dir, "header", &header).await),
        SnapshotDefect::HeaderCorrupted
    );

    let mut longer = good.clone();
    longer.extend_from_slice(b"more");
    assert_eq!(
        defect(refused_untouched(&s, &dir, "longer", &longer).await),
        SnapshotDefect::TrailingData
    );

    let mut v2 = good.clone();
    v2[9] = 2;
    assert_eq!(
        defect(refused_untouched(&s, &dir, "v2", &v2).await),
        SnapshotDefect::UnsupportedVersion {
            found: 2,
            supported: 1
        }
    );
    let mut v0 = good.clone();
    v0[8] = 0xff;
    assert!(matches!(
        defect(refused_untouched(&s, &dir, "vff", &v0).await),
        SnapshotDefect::UnsupportedVersion { found: 0xff01, .. }
    ));

    let d =
        defect(refused_untouched(&s, &dir, "text", b"hello, this is not a snapshot file at all, no").await);
    assert_eq!(d, SnapshotDefect::NotASnapshot);

    // A header that lies about the row count (checksums valid).
    let wrong_count = reseal(&good, &good[hl..], 99);
    assert_eq!(
        defect(refused_untouched(&s, &dir, "count", &wrong_count).await),
        SnapshotDefect::RowCountMismatch {
            expected: 99,
            found: 4
        }
    );

    // Another table's snapshot.
    let other = store("snap_other").await;
    other.set("x", "y").await.unwrap();
    let other_path = dir.join("other.snapshot");
    other.save_snapshot(&other_path).await.unwrap();
    let d = defect(refused_untouched(&s, &dir, "other", &std::fs::read(&other_path).unwrap()).await);
    assert!(matches!(d, SnapshotDefect::OtherTable { .. }), "{d:?}");
    assert_eq!(other.get_string("x").await.unwrap().as_deref(), Some("y"));

    // Missing files and paths that name no file are I/O errors.
    let missing = s
        .load_snapshot(dir.join("missing"), LoadMode::Merge)
        .await
        .unwrap_err();
    assert!(
        matches!(&missing, Error::SnapshotIo { source, .. } if source.kind() == std::io::ErrorKind::NotFound),
        "{missing:?}"
    );
    assert!(!missing.is_recoverable());
    let e = s.load_snapshot(&dir, LoadMode::Merge).await.unwrap_err();
    assert!(matches!(e, Error::SnapshotIo { .. }), "{e:?}");
    let e = s.save_snapshot("").await.unwrap_err();
    assert!(matches!(e, Error::SnapshotIo { .. }), "{e:?}");
    let e = s.save_snapshot(dir.join("no/such/dir/kv")).await.unwrap_err();
    assert!(matches!(e, Error::SnapshotIo { .. }), "{e:?}");
    // The store is fine after all of it.
    assert_eq!(s.get_string("added").await.unwrap().as_deref(), Some("since"));
}

#[tokio::test]
async fn a_load_that_fails_midway_leaves_the_table_as_it_was() {
    let dir = scratch("snap_midway");
    let path = dir.join("kv.snapshot");
    let (s, info) = saved("snap_midway", &path).await;
    changed_since(&s).await;
    let good = std::fs::read(&path).unwrap();
    let hl = header_len(&good);
    let payload = &good[hl..];
    // Binary COPY: a 19-byte header, the tuples, a 2-byte trailer.
    let tuples = &payload[19..payload.len() - 2];

    // Every row twice: the COPY succeeds, then (after Replace's DELETE) the
    // merge statement fails on the second copy of a key.
    let mut doubled = payload[..payload.len() - 2].to_vec();
    doubled.extend_from_slice(tuples);
    doubled.extend_from_slice(&payload[payload.len() - 2..]);
    let e = refused_untouched(&s, &dir, "doubled", &reseal(&good, &doubled, info.rows * 2)).await;
    assert!(matches!(e, Error::Database(_)), "{e:?}");
    assert_eq!(e.code(), Some("21000"), "{e:?}");

    // A row the server cannot read, after valid ones: the COPY fails midway.
    let mut broken = payload[..payload.len() - 2].to_vec();
    broken.extend_from_slice(&7i16.to_be_bytes());
    broken.extend_from_slice(&payload[payload.len() - 2..]);
    let e = refused_untouched(&s, &dir, "broken", &reseal(&good, &broken, info.rows + 1)).await;
    assert_eq!(e.code(), Some("22P04"), "{e:?}");

    // A NULL key: staged, then refused by the table's NOT NULL.
    let mut null_key = payload[..payload.len() - 2].to_vec();
    null_key.extend_from_slice(&3i16.to_be_bytes());
    null_key.extend_from_slice(&(-1i32).to_be_bytes());
    null_key.extend_from_slice(&1i32.to_be_bytes());
    null_key.push(b'v');
    null_key.extend_from_slice(&(-1i32).to_be_bytes());
    null_key.extend_from_slice(&payload[payload.len() - 2..]);
    let e = refused_untouched(&s, &dir, "null", &reseal(&good, &null_key, info.rows + 1)).await;
    assert_eq!(
        defect(e),
        SnapshotDefect::RowsOutOfLimits {
            count: 1,
            first: None
        }
    );

    // A value over this store's limit (a snapshot of a store configured
    // with a larger one): refused, nothing written.
    let small = store_with("snap_midway_small", |c| c.max_value_size(2)).await;
    small.set("x", "1").await.unwrap();
    let small_path = dir.join("small.pgkv");
    small.save_snapshot(&small_path).await.unwrap();
    small.set("x", "12").await.unwrap();
    let small_good = std::fs::read(&small_path).unwrap();
    let sp = &small_good[header_len(&small_good)..];
    // One more row: key "big", value "123" (3 bytes > 2).
    let mut big = sp[..sp.len() - 2].to_vec();
    big.extend_from_slice(&3i16.to_be_bytes());
    big.extend_from_slice(&3i32.to_be_bytes());
    big.extend_from_slice(b"big");
    big.extend_from_slice(&3i32.to_be_bytes());
    big.extend_from_slice(b"123");
    big.extend_from_slice(&(-1i32).to_be_bytes());
    big.extend_from_slice(&sp[sp.len() - 2..]);
    let e = refused_untouched(&small, &dir, "big", &reseal(&small_good, &big, 2)).await;
    assert_eq!(
        defect(e),
        SnapshotDefect::RowsOutOfLimits {
            count: 1,
            first: Some("big".into())
        }
    );
    assert_eq!(small.get_string("x").await.unwrap().as_deref(), Some("12"));

    // The connections are clean afterwards: a good load still works.
    let loaded = s.load_snapshot(&path, LoadMode::Replace).await.unwrap();
    assert_eq!(loaded.restored, 4);
}

/// Accounts with money moved between them by transactions: any consistent
/// view sums to the same total; a view mixing two moments usually does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_under_concurrent_writers_is_one_point_in_time() {
    if pgkv_suite::not_on_citus(
        "snapshot::a_snapshot_under_concurrent_writers_is_one_point_in_time",
        "Citus has no distributed snapshot: a save under concurrent multi-shard transactions \
         is not one point in time across shards (docs/guide/scaling_out.md)",
    ) {
        return;
    }
    const ACCOUNTS: usize = 40;
    const START: i64 = 1_000;
    let dir = scratch("snap_pit");
    let path = dir.join("kv.snapshot");
    let s = store_with("snap_pit", |c| c.max_connections(12)).await;
    let items: Vec<(String, String)> = (0..ACCOUNTS)
        .map(|i| (format!("acct:{i:03}"), START.to_string()))
        .collect();
    s.set_many(&items).await.unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let moves = Arc::new(AtomicU64::new(0));
    let progress = Arc::new(tokio::sync::Notify::new());
    let writers: Vec<_> = (0..6u64)
        .map(|w| {
            let (s, stop, moves, progress) = (s.clone(), stop.clone(), moves.clone(), progress.clone());
            tokio::spawn(async move {
                let mut rng = pgkv_suite::XorShift(w + 1);
                while !stop.load(Ordering::Relaxed) {
                    let from = format!("acct:{:03}", rng.below(ACCOUNTS));
                    let to = format!("acct:{:03}", rng.below(ACCOUNTS));
                    let amount = rng.below_u64(50) as i64 + 1;
                    // Deadlocks between opposite transfers are retried.
                    let done = s
                        .transaction(async |tx| {
                            tx.decrement(&from, amount).await?;
                            tx.increment(&to, amount).await?;
                            Ok(())
                        })
                        .await;
                    match done {
                        Ok(()) => {
                            moves.fetch_add(1, Ordering::Relaxed);
                            progress.notify_waiters();
                        }
                        Err(e) if e.is_recoverable() || e.code() == Some("40P01") => {}
                        Err(e) => panic!("transfer failed: {e}"),
                    }
                }
            })
        })
        .collect();

    // Snapshots while money moves: each after more transfers committed.
    let mut infos = Vec::new();
    for round in 0..3u64 {
        while moves.load(Ordering::Relaxed) < (round + 1) * 30 {
            let notified = progress.notified();
            if moves.load(Ordering::Relaxed) >= (round + 1) * 30 {
                break;
            }
            notified.await;
        }
        let snap = dir.join(format!("round{round}.snapshot"));
        infos.push((
            s.save_snapshot(&snap).await.unwrap(),
            moves.load(Ordering::Relaxed),
        ));
    }
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    let total = |rows: Vec<(String, Vec<u8>)>| -> i64 {
        rows.iter()
            .map(|(_, v)| std::str::from_utf8(v).unwrap().parse::<i64>().unwrap())
            .sum()
    };
    assert_eq!(total(contents(&s).await), START * ACCOUNTS as i64);
    let moved = moves.load(Ordering::Relaxed);
    assert!(moved >= 90, "{moved} transfers");

    // Each snapshot, loaded back, is a consistent view.
    for (info, _) in &infos {
        assert_eq!(info.rows, ACCOUNTS as u64);
        s.load_snapshot(&info.path, LoadMode::Replace).await.unwrap();
        let rows = contents(&s).await;
        assert_eq!(rows.len(), ACCOUNTS);
        assert_eq!(total(rows), START * ACCOUNTS as i64, "{:?}", info.path);
    }
    let _ = std::fs::copy(&infos[0].0.path, &path);
}

#[tokio::test]
async fn a_full_disk_during_a_save_leaves_the_previous_snapshot_intact() {
    let dir = scratch("snap_full");
    let path = dir.join("kv.snapshot");
    let s = store("snap_full").await;
    s.set("v", "first").await.unwrap();
    let first = s.save_snapshot(&path).await.unwrap();
    let first_bytes = std::fs::read(&path).unwrap();

    // More than the write buffer (1 MiB), so the write fails mid-COPY.
    let big: Vec<(String, Vec<u8>)> = (0..3000)
        .map(|i| (format!("big:{i:05}"), vec![b'x'; 1024]))
        .collect();
    s.set_many(&big).await.unwrap();
    s.set("v", "second").await.unwrap();
    // Every write to the temporary file fails with ENOSPC, as on a full disk.
    let temp = dir.join("kv.snapshot.tmp");
    std::os::unix::fs::symlink("/dev/full", &temp).unwrap();
    let e = s.save_snapshot(&path).await.unwrap_err();
    match &e {
        Error::SnapshotIo { source, .. } => assert_eq!(source.raw_os_error(), Some(28), "{e:?}"),
        other => panic!("expected SnapshotIo, got {other:?}"),
    }
    assert!(!e.is_recoverable());
    assert_eq!(std::fs::read(&path).unwrap(), first_bytes);
    assert_eq!(SnapshotInfo::verify(&path).await.unwrap(), first);
    assert!(
        !temp.exists() && temp.symlink_metadata().is_err(),
        "the temporary file is removed"
    );

    // The store is unharmed (the connection cut mid-COPY was closed), and
    // the previous snapshot loads.
    assert_eq!(s.get_string("v").await.unwrap().as_deref(), Some("second"));
    let loaded = s.load_snapshot(&path, LoadMode::Replace).await.unwrap();
    assert_eq!(loaded.restored, 1);
    assert_eq!(s.get_string("v").await.unwrap().as_deref(), Some("first"));
    // And a save with room works.
    s.set_many(&big).await.unwrap();
    assert_eq!(s.save_snapshot(&path).await.unwrap().rows, 3001);
}

#[tokio::test]
async fn a_cancelled_save_or_load_leaves_the_store_usable() {
    let dir = scratch("snap_cancel");
    let path = dir.join("kv.snapshot");
    let s = store_with("snap_cancel", |c| c.max_connections(1)).await;
    let big: Vec<(String, Vec<u8>)> = (0..5000)
        .map(|i| (format!("k:{i:05}"), vec![b'y'; 512]))
        .collect();
    s.set_many(&big).await.unwrap();
    let info = s.save_snapshot(&path).await.unwrap();
    // Cut off at a range of points (some before, some mid-stream).
    for micros in [0u64, 200, 1_000, 5_000, 20_000] {
        let _ = tokio::time::timeout(Duration::from_micros(micros), s.save_snapshot(&path)).await;
        let _ = tokio::time::timeout(
            Duration::from_micros(micros),
            s.load_snapshot(&path, LoadMode::Replace),
        )
        .await;
        // With one connection, this proves it came back clean (or was replaced).
        assert_eq!(s.get("k:00001").await.unwrap().map(|v| v.len()), Some(512));
        assert_eq!(s.count(ScanOptions::new()).await.unwrap(), 5000);
    }
    assert_eq!(SnapshotInfo::verify(&path).await.unwrap().rows, info.rows);
}

#[tokio::test]
async fn warm_restart_refills_an_empty_table_from_the_newest_valid_snapshot() {
    let dir = scratch("snap_warm");
    let s = store("snap_warm").await;
    s.set("k", "older").await.unwrap();
    s.save_snapshot(dir.join("a-older.pgkv")).await.unwrap();
    s.set("k", "newer").await.unwrap();
    s.set_ex("t", "ttl", HOUR).await.unwrap();
    let newest = s.save_snapshot(dir.join("b-newer.pgkv")).await.unwrap();
    // Newer still, but damaged: skipped and reported.
    s.set("k", "damaged").await.unwrap();
    let damaged = s.save_snapshot(dir.join("c-damaged.pgkv")).await.unwrap();
    let mut bytes = std::fs::read(&damaged.path).unwrap();
    *bytes.last_mut().unwrap() ^= 1;
    std::fs::write(&damaged.path, bytes).unwrap();
    // Another table's (newer) snapshot and a file of another name: ignored.
    let other = store("snap_warm_other").await;
    other.set("x", "y").await.unwrap();
    other.save_snapshot(dir.join("d-other.pgkv")).await.unwrap();
    std::fs::write(dir.join("notes.txt"), "not a snapshot").unwrap();

    assert_eq!(s.warm_restart(&dir).await.unwrap(), WarmRestart::NotEmpty);
    assert_eq!(s.get_string("k").await.unwrap().as_deref(), Some("damaged"));

    clear(&s).await; // what a crash leaves of an UNLOGGED table
    match s.warm_restart(&dir).await.unwrap() {
        WarmRestart::Restored { snapshot, summary } => {
            assert_eq!(snapshot, newest);
            assert_eq!((summary.rows_in_file, summary.restored), (2, 2));
        }
        other => panic!("expected Restored, got {other:?}"),
    }
    assert_eq!(s.get_string("k").await.unwrap().as_deref(), Some("newer"));
    assert!(s.ttl("t").await.unwrap().is_some());

    let empty = store("snap_warm_none").await;
    match empty.warm_restart(&dir).await.unwrap() {
        WarmRestart::NoSnapshot { refused } => assert_eq!(refused.len(), 1, "{refused:?}"),
        other => panic!("expected NoSnapshot, got {other:?}"),
    }
    assert_eq!(
        empty.warm_restart(dir.join("missing")).await.unwrap(),
        WarmRestart::NoSnapshot { refused: vec![] }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_starters_restore_once() {
    let dir = scratch("snap_fleet");
    let config = pgkv_suite::config("snap_fleet");
    let first = Store::with_config(config.clone()).await.unwrap();
    let items: Vec<(String, String)> = (0..500).map(|i| (format!("k:{i:03}"), format!("v{i}"))).collect();
    first.set_many(&items).await.unwrap();
    first.save_snapshot(dir.join("fleet.pgkv")).await.unwrap();
    clear(&first).await;

    let starters: Vec<_> = (0..6)
        .map(|_| {
            let (config, dir) = (config.clone(), dir.to_path_buf());
            tokio::spawn(async move {
                let s = Store::with_config(config).await.unwrap();
                s.warm_restart(&dir).await.unwrap()
            })
        })
        .collect();
    let mut restored = 0;
    for starter in starters {
        match starter.await.unwrap() {
            WarmRestart::Restored { summary, .. } => {
                restored += 1;
                assert_eq!(summary.restored, 500);
            }
            WarmRestart::NotEmpty => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(restored, 1, "exactly one starter loads");
    assert_eq!(first.count(ScanOptions::new()).await.unwrap(), 500);
}

/// Waits (on the task's own progress, not a clock) until `done` holds.
async fn until(handle: &AutosaveHandle, done: impl Fn(&AutosaveStats) -> bool) -> AutosaveStats {
    loop {
        let stats = handle.stats();
        if done(&stats) {
            return stats;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn autosaves(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".pgkv"))
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn autosave_writes_snapshots_and_keeps_the_newest() {
    let dir = scratch("snap_autosave");
    let s = store("snap_autosave").await;
    s.set("k", "v").await.unwrap();
    std::fs::write(dir.join("mine.pgkv.bak"), "not the task's").unwrap();
    let handle = s.spawn_autosave(
        AutosaveOptions::new(dir.to_path_buf())
            .interval(Duration::from_millis(20))
            .keep(2),
    );
    let stats = until(&handle, |st| st.saves >= 4).await;
    handle.shutdown().await;
    assert_eq!(stats.failed, 0, "{:?}", stats.last_error);
    let names = autosaves(&dir);
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(dir.join("mine.pgkv.bak").exists());
    let last = stats.last_saved.expect("a save");
    assert_eq!(last.rows, 1);
    clear(&s).await;
    match s.warm_restart(&dir).await.unwrap() {
        WarmRestart::Restored { summary, .. } => assert_eq!(summary.restored, 1),
        other => panic!("expected Restored, got {other:?}"),
    }
    assert_eq!(s.get_string("k").await.unwrap().as_deref(), Some("v"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autosave_has_one_writer_per_fleet() {
    let dir = scratch("snap_autosave_fleet");
    let config = pgkv_suite::config("snap_autosave_fleet");
    let a = Store::with_config(config.clone()).await.unwrap();
    let b = Store::with_config(config).await.unwrap();
    a.set("k", "v").await.unwrap();
    let interval = Duration::from_millis(100);
    let options = AutosaveOptions::new(dir.to_path_buf())
        .interval(interval)
        .keep(1000);
    let (ha, hb) = (a.spawn_autosave(options.clone()), b.spawn_autosave(options));
    // Until both tasks have ticked several times.
    let sa = until(&ha, |st| st.saves + st.skipped >= 6).await;
    let sb = until(&hb, |st| st.saves + st.skipped >= 6).await;
    ha.shutdown().await;
    hb.shutdown().await;
    assert_eq!((sa.failed, sb.failed), (0, 0));
    assert!(sa.saves + sb.saves >= 1, "{sa:?} {sb:?}");
    // Snapshots by the server's clock: never two within half an interval.
    let mut times = Vec::new();
    for name in autosaves(&dir) {
        times.push(SnapshotInfo::verify(dir.join(name)).await.unwrap().taken_at);
    }
    // The statistics were read before the tasks stopped, so a task may
    // have saved again since: at least as many files as saves counted.
    assert!(
        times.len() as u64 >= sa.saves + sb.saves,
        "{} files, {sa:?} {sb:?}",
        times.len()
    );
    for pair in times.windows(2) {
        let gap = pair[1].duration_since(pair[0]).unwrap();
        assert!(gap >= interval / 2, "two snapshots {gap:?} apart");
    }
}
