//! `Store::load_snapshot`: check the whole file, then stream it into a
//! staging table and merge it into the table, in one transaction.

use std::io::SeekFrom;
use std::path::Path;
use std::time::Duration;

use sqlx::PgConnection;
use sqlx::Row;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeekExt, BufReader};

use super::format::{CRC, Fault, Header, SnapshotDefect};
use super::{LoadMode, LoadSummary, from_micros};
use crate::call::Shared;
use crate::call::written::Written;
use crate::conn::session::Session;
use crate::error::{Error, Result, read_error};

/// Bytes read from the file (and sent in one `CopyData` message) at a time.
const CHUNK: usize = 1 << 20;

fn io_error(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |source| Error::SnapshotIo {
        path: path.to_owned(),
        source,
    }
}

fn refused(path: &Path, defect: SnapshotDefect) -> Error {
    Error::InvalidSnapshot {
        path: path.to_owned(),
        defect,
    }
}

/// Reads the whole file and checks it; with `table`, also that it is a
/// snapshot of that table (checked before the payload is read). Returns the
/// header and the file's size.
pub(super) async fn verify(path: &Path, table: Option<&str>) -> Result<(Header, u64)> {
    let file = tokio::fs::File::open(path).await.map_err(io_error(path))?;
    let mut reader = BufReader::with_capacity(CHUNK, file);
    let header = match Header::read(&mut reader).await {
        Ok(header) => header,
        Err(Fault::Io(e)) => return Err(io_error(path)(e)),
        Err(Fault::Defect(d)) => return Err(refused(path, d)),
    };
    if let Some(expected) = table
        && header.table != expected
    {
        return Err(refused(
            path,
            SnapshotDefect::OtherTable {
                found: header.table,
                expected: expected.to_owned(),
            },
        ));
    }
    let mut digest = CRC.digest();
    let mut read = 0u64;
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = reader.read(&mut buf).await.map_err(io_error(path))?;
        if n == 0 {
            break;
        }
        let left = header.payload_len - read;
        if n as u64 > left {
            return Err(refused(path, SnapshotDefect::TrailingData));
        }
        digest.update(&buf[..n]);
        read += n as u64;
    }
    if read < header.payload_len {
        return Err(refused(
            path,
            SnapshotDefect::Truncated {
                expected: header.payload_len,
                found: read,
            },
        ));
    }
    let found = digest.finalize();
    if found != header.payload_crc {
        return Err(refused(
            path,
            SnapshotDefect::ChecksumMismatch {
                expected: header.payload_crc,
                found,
            },
        ));
    }
    let size = header.len() + header.payload_len;
    Ok((header, size))
}

/// Loads a snapshot. With `only_if_empty` (warm restart), first takes the
/// table's restore lock and loads nothing (returns `None`) if the table
/// holds a live row by then. Every load (`load_snapshot`, warm restart,
/// autosave's) ends through [`Shared::conclude`], as a command does.
pub(super) async fn load(
    shared: &Shared,
    path: &Path,
    mode: LoadMode,
    only_if_empty: bool,
) -> Result<Option<LoadSummary>> {
    let loaded = load_in_transaction(shared, path, mode, only_if_empty).await;
    shared.conclude(&Written::everything(), loaded)
}

async fn load_in_transaction(
    shared: &Shared,
    path: &Path,
    mode: LoadMode,
    only_if_empty: bool,
) -> Result<Option<LoadSummary>> {
    let (header, _) = verify(path, Some(&shared.sql.collection)).await?;
    let sql = &shared.sql.snapshot;
    let mut session = Session::begin(&shared.conns, "BEGIN").await?;
    let filled = async {
        if only_if_empty {
            session
                .fetch_one(
                    sqlx::query(sql.restore_lock.query()).bind(&shared.sql.collection),
                    read_error,
                )
                .await?;
            let row = session
                .fetch_one(sqlx::query(sql.any_live.query()), read_error)
                .await?;
            let any: bool = row.try_get(0).map_err(read_error)?;
            if any {
                return Ok(None);
            }
        }
        fill(&mut session, shared, path, &header, mode).await.map(Some)
    }
    .await;
    match filled {
        Ok(Some(summary)) => {
            session.commit().await?;
            Ok(Some(summary))
        }
        Ok(None) => {
            session.abandon().await;
            Ok(None)
        }
        Err(e) => {
            session.abandon().await;
            Err(e)
        }
    }
}

/// Everything of a load between `BEGIN` and `COMMIT`.
async fn fill(
    session: &mut Session,
    shared: &Shared,
    path: &Path,
    header: &Header,
    mode: LoadMode,
) -> Result<LoadSummary> {
    let sql = &shared.sql.snapshot;
    session.execute(sql.create_stage.query(), read_error).await?;

    let mut file = tokio::fs::File::open(path).await.map_err(io_error(path))?;
    file.seek(SeekFrom::Start(header.len()))
        .await
        .map_err(io_error(path))?;
    let mut payload = file.take(header.payload_len);
    let statement = sql.load_copy.query();
    let (sent, clean) = send_payload(
        session.start_copy(),
        statement.as_str(),
        &mut payload,
        header,
        path,
    )
    .await;
    session.copy_over(&sent, clean);
    let copied = sent?;
    if copied != header.rows {
        return Err(refused(
            path,
            SnapshotDefect::RowCountMismatch {
                expected: header.rows,
                found: copied,
            },
        ));
    }

    let limit = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
    let row = session
        .fetch_one(
            sqlx::query(sql.check_stage.query())
                .bind(limit(shared.limits.max_key_length))
                .bind(limit(shared.limits.max_value_size)),
            read_error,
        )
        .await?;
    let bad: i64 = row.try_get(0).map_err(read_error)?;
    if bad > 0 {
        let first: Option<String> = row.try_get(1).map_err(read_error)?;
        return Err(refused(
            path,
            SnapshotDefect::RowsOutOfLimits {
                count: u64::try_from(bad).unwrap_or(0),
                first,
            },
        ));
    }
    if mode == LoadMode::Replace {
        session.execute(sql.clear.query(), read_error).await?;
    }
    let row = session
        .fetch_one(sqlx::query(sql.merge.query()), read_error)
        .await?;
    let restored: i64 = row.try_get(0).map_err(read_error)?;
    let expired: i64 = row.try_get(1).map_err(read_error)?;
    let now_micros: i64 = row.try_get(2).map_err(read_error)?;
    let restored = u64::try_from(restored).unwrap_or(0);
    let expired = u64::try_from(expired).unwrap_or(0);
    let age = u64::try_from(now_micros.saturating_sub(header.taken_at_micros)).unwrap_or(0);
    Ok(LoadSummary {
        rows_in_file: header.rows,
        restored,
        expired,
        kept_existing: header.rows.saturating_sub(restored).saturating_sub(expired),
        taken_at: from_micros(header.taken_at_micros),
        age: Duration::from_micros(age),
    })
}

/// Sends the payload with `COPY FROM STDIN`, checksumming it again on the
/// way: a file changed since it was verified is refused (the `COPY` is
/// aborted) before anything is committed. Returns the rows copied, and
/// whether the server answered the `COPY`'s end (the connection is then
/// ready for the next statement).
async fn send_payload(
    conn: &mut PgConnection,
    statement: &str,
    payload: &mut (impl AsyncRead + Unpin),
    header: &Header,
    path: &Path,
) -> (Result<u64>, bool) {
    let mut copy = match conn.copy_in_raw(statement).await {
        Ok(copy) => copy,
        Err(e) => return (Err(read_error(e)), false),
    };
    let mut digest = CRC.digest();
    let mut sent = 0u64;
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match payload.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => n,
            // The COPY stays open: the connection is closed, which aborts it.
            Err(e) => return (Err(io_error(path)(e)), false),
        };
        digest.update(&buf[..n]);
        sent += n as u64;
        if let Err(e) = copy.send(&buf[..n]).await {
            return (Err(read_error(e)), false);
        }
    }
    let found = digest.finalize();
    if sent != header.payload_len || found != header.payload_crc {
        let aborted = copy
            .abort("pgkv: the snapshot file changed while it was loaded")
            .await;
        let defect = if sent != header.payload_len {
            SnapshotDefect::Truncated {
                expected: header.payload_len,
                found: sent,
            }
        } else {
            SnapshotDefect::ChecksumMismatch {
                expected: header.payload_crc,
                found,
            }
        };
        return match aborted {
            Ok(()) => (Err(refused(path, defect)), true),
            Err(e) => (Err(read_error(e)), false),
        };
    }
    // A payload the server cannot read fails here, after the server has
    // answered: the connection is clean (its transaction aborted).
    match copy.finish().await {
        Ok(rows) => (Ok(rows), true),
        Err(e) => {
            let clean = matches!(e, sqlx::Error::Database(_));
            (Err(read_error(e)), clean)
        }
    }
}
