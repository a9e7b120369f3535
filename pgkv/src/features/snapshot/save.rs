//! `Store::save_snapshot`: the table's live rows, from one `REPEATABLE READ`
//! snapshot, into a file written beside its final path and renamed over it.

use std::io::SeekFrom;
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::StreamExt;
use sqlx::PgConnection;
use sqlx::Row;
use tokio::io::{AsyncSeekExt, AsyncWrite, AsyncWriteExt, BufWriter};

use super::format::{CRC, Header};
use super::{SnapshotInfo, from_micros};
use crate::call::Shared;
use crate::conn::session::Session;
use crate::error::{Error, Result, read_error};

/// Large writes: the `COPY` stream arrives one row per message.
const WRITE_BUFFER: usize = 1 << 20;

/// `<path>.tmp`, in the same directory (so the rename is atomic).
pub(super) fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Where a save writes.
#[derive(Debug, Clone, Copy)]
pub(super) enum Target<'a> {
    /// This file.
    File(&'a Path),
    /// The autosave task: a file in `dir` named after the table and the
    /// snapshot time, written by one instance of the fleet at a time (a
    /// transaction-scoped advisory lock, held until the file is in place),
    /// and only when `dir` holds no snapshot of the table younger than
    /// `min_age` by the server's clock (another instance just wrote one).
    Fleet { dir: &'a Path, min_age: Duration },
}

pub(super) async fn save(shared: &Shared, path: &Path) -> Result<SnapshotInfo> {
    match save_to(shared, Target::File(path)).await? {
        Some(info) => Ok(info),
        None => unreachable!("a save to a file is never skipped"),
    }
}

/// Saves to `target`; `None` when a fleet save was skipped.
pub(super) async fn save_to(shared: &Shared, target: Target<'_>) -> Result<Option<SnapshotInfo>> {
    if let Target::File(path) = target
        && path.file_name().is_none()
    {
        return Err(Error::SnapshotIo {
            path: path.to_owned(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "the path names no file"),
        });
    }
    let sql = &shared.sql.snapshot;
    let mut session = Session::begin(&shared.conns, sql.begin_save.query()).await?;
    if let Target::Fleet { .. } = target {
        let row = session
            .fetch_one(
                sqlx::query(sql.autosave_lock.query()).bind(&shared.sql.collection),
                read_error,
            )
            .await?;
        let held: bool = row.try_get(0).map_err(read_error)?;
        if !held {
            session.abandon().await;
            return Ok(None);
        }
    }
    let row = session
        .fetch_one(sqlx::query(sql.save_count.query()), read_error)
        .await?;
    let rows: i64 = row.try_get(0).map_err(read_error)?;
    let taken_at_micros: i64 = row.try_get(1).map_err(read_error)?;
    let path = match target {
        Target::File(path) => path.to_owned(),
        Target::Fleet { dir, min_age } => {
            let min_age = i64::try_from(min_age.as_micros()).unwrap_or(i64::MAX);
            let newest = newest_taken_at(dir, &shared.sql.collection).await;
            if newest.is_some_and(|newest| newest > taken_at_micros.saturating_sub(min_age)) {
                session.abandon().await;
                return Ok(None);
            }
            dir.join(autosave_name(&shared.sql.collection, taken_at_micros))
        }
    };
    let header = Header {
        table: shared.sql.collection.clone(),
        rows: u64::try_from(rows).unwrap_or(0),
        taken_at_micros,
        payload_len: 0,
        payload_crc: 0,
    };
    let temp = temp_path(&path);
    let written = write(shared, &mut session, header, &path, &temp).await;
    if written.is_err() {
        // Best effort: the error that matters is the one being returned.
        let _ = tokio::fs::remove_file(&temp).await;
        return written.map(Some);
    }
    // The snapshot ends only now, so a fleet lock is held until the file is
    // in place for the next instance to see. The file is complete whatever
    // the end of a read-only transaction says (a failed one is rolled back
    // or its connection closed when the session drops).
    if let Err(e) = session.commit().await {
        tracing::debug!(target: "pgkv::snapshot", error = %e, "ending a save's snapshot failed after the file was written");
    }
    written.map(Some)
}

/// The file name an autosave gives a snapshot of `table` taken at `micros`:
/// names sort by time.
pub(super) fn autosave_name(table: &str, micros: i64) -> String {
    format!(
        "{}{:020}.{}",
        autosave_prefix(table),
        micros.max(0),
        super::warm::EXTENSION
    )
}

/// What every autosave file name of `table` starts with: the table's name
/// with anything but letters, digits, `_` and `.` replaced by `_`.
pub(super) fn autosave_prefix(table: &str) -> String {
    let safe: String = table
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{safe}-")
}

/// The header of the snapshot file at `path`, if it reads as one.
pub(super) async fn header_of(path: &Path) -> Option<Header> {
    let file = tokio::fs::File::open(path).await.ok()?;
    Header::read(&mut tokio::io::BufReader::new(file)).await.ok()
}

/// The snapshot time of the newest autosave of `table` in `dir` (headers
/// only; unreadable files are ignored).
async fn newest_taken_at(dir: &Path, table: &str) -> Option<i64> {
    let prefix = autosave_prefix(table);
    let mut entries = tokio::fs::read_dir(dir).await.ok()?;
    let mut newest = None;
    while let Ok(Some(entry)) = entries.next_entry().await {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !name.starts_with(&prefix) || !name.ends_with(&format!(".{}", super::warm::EXTENSION)) {
            continue;
        }
        if let Some(header) = header_of(&entry.path()).await
            && header.table == table
        {
            newest = newest.max(Some(header.taken_at_micros));
        }
    }
    newest
}

/// Streams the rows into `temp`, then fsyncs it, renames it over `path` and
/// fsyncs the directory. The session's snapshot stays open (the caller ends it).
async fn write(
    shared: &Shared,
    session: &mut Session,
    mut header: Header,
    path: &Path,
    temp: &Path,
) -> Result<SnapshotInfo> {
    let io = |source: std::io::Error| Error::SnapshotIo {
        path: path.to_owned(),
        source,
    };
    let sql = &shared.sql.snapshot;
    let file = tokio::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(temp)
        .await
        .map_err(io)?;
    let mut out = BufWriter::with_capacity(WRITE_BUFFER, file);
    // A placeholder of the final header's size; rewritten once the payload's
    // length and checksum are known.
    out.write_all(&header.encode()).await.map_err(io)?;

    let statement = sql.save_copy.query();
    let (streamed, clean) = stream_out(session.start_copy(), statement.as_str(), &mut out, path).await;
    session.copy_over(&streamed, clean);
    // A write error (a full disk) returns with the COPY unfinished: the
    // session closes the connection, which ends it.
    let (payload_len, payload_crc) = streamed?;

    header.payload_len = payload_len;
    header.payload_crc = payload_crc;
    out.flush().await.map_err(io)?;
    let mut file = out.into_inner();
    file.seek(SeekFrom::Start(0)).await.map_err(io)?;
    file.write_all(&header.encode()).await.map_err(io)?;
    file.sync_all().await.map_err(io)?;
    drop(file);
    tokio::fs::rename(temp, path).await.map_err(io)?;
    sync_dir(path).await.map_err(io)?;

    Ok(SnapshotInfo {
        path: path.to_owned(),
        table: header.table.clone(),
        rows: header.rows,
        bytes: header.len() + payload_len,
        taken_at: from_micros(header.taken_at_micros),
    })
}

/// Streams the `COPY` into `out`; returns the payload's length and
/// checksum, and whether the `COPY` ran to its end (the connection is then
/// ready for the next statement).
async fn stream_out(
    conn: &mut PgConnection,
    statement: &str,
    out: &mut (impl AsyncWrite + Unpin),
    path: &Path,
) -> (Result<(u64, u32)>, bool) {
    let mut stream = match conn.copy_out_raw(statement).await {
        Ok(stream) => stream,
        Err(e) => return (Err(read_error(e)), false),
    };
    let mut digest = CRC.digest();
    let mut len = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            // After an error from the server, sqlx reads its ready message.
            Err(e) => {
                let clean = matches!(e, sqlx::Error::Database(_));
                return (Err(read_error(e)), clean);
            }
        };
        digest.update(&chunk);
        len += chunk.len() as u64;
        if let Err(source) = out.write_all(&chunk).await {
            let e = Error::SnapshotIo {
                path: path.to_owned(),
                source,
            };
            return (Err(e), false);
        }
    }
    (Ok((len, digest.finalize())), true)
}

/// Makes the rename durable: the directory entry is synced too.
async fn sync_dir(path: &Path) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    tokio::fs::File::open(dir).await?.sync_all().await
}
