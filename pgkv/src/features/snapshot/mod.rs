//! Snapshots of a store's table to a file, and loading them back: what an
//! UNLOGGED table needs to come back warm after a crash.
//!
//! A save streams the live rows out with `COPY ... TO STDOUT (FORMAT binary)`
//! inside one `REPEATABLE READ` transaction (a consistent point-in-time view
//! while writers carry on) into `<path>.tmp`, fsyncs it, renames it over
//! `path` and fsyncs the directory. A load checks the whole file first
//! (header, checksum, table), then streams it with `COPY ... FROM STDIN`
//! into a temporary staging table and moves the rows into the table with one
//! statement, all in one transaction: a load that fails at any point leaves
//! the table as it was. The file layout is in `format.rs`.

mod autosave;
mod format;
mod load;
mod save;
mod warm;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use self::autosave::{AutosaveHandle, AutosaveOptions, AutosaveStats};
pub use self::format::SnapshotDefect;
pub use self::warm::WarmRestart;
use crate::error::Result;
use crate::handle::store::Store;

/// How [`Store::load_snapshot`] combines a snapshot with the rows already in
/// the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LoadMode {
    /// The table ends up holding exactly the snapshot's rows that are still
    /// live: every existing row is deleted in the same transaction (rows
    /// written by other sessions while the load runs are kept).
    Replace,
    /// The snapshot's rows are added; where the table already has a live
    /// row for a key, that row wins, since it was written after the snapshot
    /// was taken. An expired row in the table is replaced by the snapshot's.
    Merge,
}

/// A snapshot file's header, from [`Store::save_snapshot`] or
/// [`SnapshotInfo::verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SnapshotInfo {
    /// Where the file is.
    pub path: PathBuf,
    /// The table it was taken of, `schema.table` (unquoted).
    pub table: String,
    /// Rows in the file: the rows that were live at `taken_at`.
    pub rows: u64,
    /// The file's size in bytes.
    pub bytes: u64,
    /// When the snapshot was taken, by the database server's clock.
    pub taken_at: SystemTime,
}

impl SnapshotInfo {
    /// Reads a snapshot file whole and checks it (format version, both
    /// checksums, length) without touching any table. Costs one read of the
    /// file; no database round trip.
    pub async fn verify(path: impl AsRef<Path>) -> Result<SnapshotInfo> {
        let path = path.as_ref();
        let (header, bytes) = load::verify(path, None).await?;
        Ok(SnapshotInfo {
            path: path.to_owned(),
            table: header.table,
            rows: header.rows,
            bytes,
            taken_at: from_micros(header.taken_at_micros),
        })
    }
}

/// What [`Store::load_snapshot`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoadSummary {
    /// Rows in the file.
    pub rows_in_file: u64,
    /// Rows written to the table.
    pub restored: u64,
    /// Rows left out because their expiry passed while the snapshot sat on
    /// disk.
    pub expired: u64,
    /// Rows left out because the table already had a live row for the key
    /// ([`LoadMode::Merge`], or a key written by another session during a
    /// [`LoadMode::Replace`]).
    pub kept_existing: u64,
    /// When the snapshot was taken, by the database server's clock.
    pub taken_at: SystemTime,
    /// How old the snapshot was when it was loaded, by the server's clock.
    pub age: Duration,
}

impl Store {
    /// Writes the table's live rows to a snapshot file at `path`.
    ///
    /// The rows are a consistent point-in-time view (one `REPEATABLE READ`
    /// transaction: writers carry on, and none of their later writes show
    /// up), streamed with `COPY` (never held in memory) into `<path>.tmp`,
    /// which is then fsynced and renamed over `path`, and the directory
    /// fsynced. If anything fails (a full disk, say) `path` still holds the
    /// previous snapshot, untouched, and the temporary file is removed.
    /// Expiry is kept as absolute server time.
    ///
    /// Cost: one pooled connection for the duration, two scans of the
    /// table (a count and the `COPY`) under one snapshot, which holds back
    /// vacuum on the table meanwhile; no locks that block writers. If the
    /// call is cancelled mid-stream, its connection is closed rather than
    /// reused (and `<path>.tmp` may be left behind; the next save replaces it).
    ///
    /// ```no_run
    /// # async fn demo(store: pgkv::Store) -> pgkv::Result<()> {
    /// let info = store.save_snapshot("/var/lib/app/cache.pgkv").await?;
    /// println!("{} rows, {} bytes", info.rows, info.bytes);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn save_snapshot(&self, path: impl AsRef<Path>) -> Result<SnapshotInfo> {
        save::save(&self.shared, path.as_ref()).await
    }

    /// Loads a snapshot written by [`save_snapshot`](Self::save_snapshot)
    /// of this same table (`schema.table`).
    ///
    /// The file is read twice: first whole, to check its format version,
    /// table and checksums (a bad file is refused with
    /// [`Error::InvalidSnapshot`](crate::Error::InvalidSnapshot) before any
    /// SQL is sent), then streamed with `COPY FROM STDIN` into a temporary
    /// staging table, from which one statement moves the rows into the
    /// table. All of it is one transaction: a load that fails at any point
    /// leaves the table as it was.
    ///
    /// A row whose expiry has passed by the server's clock at load time is
    /// not restored; the others keep their absolute expiry, so a key that
    /// had 10 minutes left when the snapshot was taken comes back with 10
    /// minutes minus the snapshot's age. See [`LoadMode`] for how the
    /// snapshot meets rows already in the table.
    ///
    /// Cost: one pooled connection, one transaction holding row locks on
    /// every row it writes (and, for [`LoadMode::Replace`], on every row it
    /// deletes) until it commits.
    ///
    /// ```no_run
    /// # async fn demo(store: pgkv::Store) -> pgkv::Result<()> {
    /// use pgkv::LoadMode;
    ///
    /// let loaded = store.load_snapshot("/var/lib/app/cache.pgkv", LoadMode::Merge).await?;
    /// println!("{} rows back, {:?} old", loaded.restored, loaded.age);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn load_snapshot(&self, path: impl AsRef<Path>, mode: LoadMode) -> Result<LoadSummary> {
        let loaded = load::load(&self.shared, path.as_ref(), mode, false).await?;
        Ok(loaded.expect("a load not limited to an empty table always loads"))
    }
}

/// Server time in microseconds since the Unix epoch, as a `SystemTime`.
fn from_micros(micros: i64) -> SystemTime {
    let magnitude = Duration::from_micros(micros.unsigned_abs());
    let time = if micros >= 0 {
        UNIX_EPOCH.checked_add(magnitude)
    } else {
        UNIX_EPOCH.checked_sub(magnitude)
    };
    time.unwrap_or(UNIX_EPOCH)
}
