//! Warm restart: at start-up, an empty UNLOGGED table (what a crash leaves)
//! is refilled from the newest valid snapshot, by one starter of the fleet.

use std::path::{Path, PathBuf};

use super::{LoadMode, LoadSummary, SnapshotInfo, load};
use crate::error::{Error, Result};
use crate::handle::store::Store;

/// The file name ending [`Store::warm_restart`] looks for (and the
/// autosave task writes).
pub(crate) const EXTENSION: &str = "pgkv";

/// What [`Store::warm_restart`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WarmRestart {
    /// The table was empty and this call loaded `snapshot` into it.
    Restored {
        /// The snapshot that was loaded (the newest valid one).
        snapshot: SnapshotInfo,
        /// What the load did, including the snapshot's age.
        summary: LoadSummary,
    },
    /// The table already held live rows (it survived, or another starter
    /// restored it first): nothing was loaded.
    NotEmpty,
    /// No valid snapshot of this table was found: nothing was loaded.
    NoSnapshot {
        /// Files that looked like snapshots but were refused (corrupted,
        /// truncated, another format version), with why.
        refused: Vec<(PathBuf, String)>,
    },
}

impl Store {
    /// The opt-in start-up rule for UNLOGGED tables: if the table holds no
    /// live row, loads the newest valid snapshot of this table found in
    /// `dir` (files named `*.pgkv`, as the autosave task writes them;
    /// snapshots of other tables, and damaged ones, are skipped), and logs
    /// what came back and how old it was.
    ///
    /// Once per fleet: starters that call this at the same time take turns
    /// on a transaction-scoped advisory lock, and each checks the table's
    /// emptiness again once it holds the lock, so the first loads and the
    /// others find the rows and return [`WarmRestart::NotEmpty`]. Call it
    /// before serving traffic: a row written meanwhile makes the table
    /// non-empty.
    ///
    /// Cost: reads every candidate file whole once (to pick the newest
    /// valid one), then one [`load_snapshot`](Self::load_snapshot).
    ///
    /// ```no_run
    /// # async fn demo(store: pgkv::Store) -> pgkv::Result<()> {
    /// use pgkv::WarmRestart;
    ///
    /// match store.warm_restart("/var/lib/app/snapshots").await? {
    ///     WarmRestart::Restored { summary, .. } => {
    ///         println!("{} keys back, {:?} old", summary.restored, summary.age)
    ///     }
    ///     WarmRestart::NotEmpty => println!("the table survived"),
    ///     WarmRestart::NoSnapshot { .. } => println!("cold start"),
    ///     _ => {}
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn warm_restart(&self, dir: impl AsRef<Path>) -> Result<WarmRestart> {
        let dir = dir.as_ref();
        let table = &self.shared.sql.collection;
        let (newest, mut refused) = newest_snapshot(dir, table).await?;
        let Some(snapshot) = newest else {
            tracing::info!(target: "pgkv::snapshot", table = %table, dir = %dir.display(), "warm restart: no snapshot to load");
            return Ok(WarmRestart::NoSnapshot { refused });
        };
        match load::load(&self.shared, &snapshot.path, LoadMode::Merge, true).await {
            Ok(None) => Ok(WarmRestart::NotEmpty),
            Ok(Some(summary)) => {
                tracing::info!(
                    target: "pgkv::snapshot",
                    table = %table,
                    path = %snapshot.path.display(),
                    restored = summary.restored,
                    expired = summary.expired,
                    age_secs = summary.age.as_secs_f64(),
                    "warm restart: table refilled from a snapshot"
                );
                Ok(WarmRestart::Restored { snapshot, summary })
            }
            // The file changed or vanished since it was checked: report it
            // like any other refused file rather than failing start-up.
            Err(e @ (Error::InvalidSnapshot { .. } | Error::SnapshotIo { .. })) => {
                refused.push((snapshot.path.clone(), e.to_string()));
                Ok(WarmRestart::NoSnapshot { refused })
            }
            Err(e) => Err(e),
        }
    }
}

/// The newest valid snapshot of `table` in `dir`, and the candidates refused.
async fn newest_snapshot(dir: &Path, table: &str) -> Result<(Option<SnapshotInfo>, Vec<(PathBuf, String)>)> {
    let io = |source| Error::SnapshotIo {
        path: dir.to_owned(),
        source,
    };
    let mut entries = match tokio::fs::read_dir(dir).await {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((None, Vec::new())),
        Err(e) => return Err(io(e)),
    };
    let mut newest: Option<SnapshotInfo> = None;
    let mut refused = Vec::new();
    while let Some(entry) = entries.next_entry().await.map_err(io)? {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some(EXTENSION) {
            continue;
        }
        match SnapshotInfo::verify(&path).await {
            Ok(info) if info.table == table => {
                if newest.as_ref().is_none_or(|n| info.taken_at > n.taken_at) {
                    newest = Some(info);
                }
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(target: "pgkv::snapshot", path = %path.display(), error = %e, "warm restart: skipping a snapshot");
                refused.push((path, e.to_string()));
            }
        }
    }
    Ok((newest, refused))
}
