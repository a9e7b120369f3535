//! The autosave task: a snapshot every interval into a directory, by one
//! instance of the fleet at a time, keeping the newest few files.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::watch;

use super::SnapshotInfo;
use super::save::{Target, autosave_prefix, header_of, save_to};
use crate::base::background::Background;
use crate::features::cleanup::Jitter;
use crate::handle::store::Store;

/// The shortest interval used; a zero interval would spin.
const MIN_INTERVAL: Duration = Duration::from_millis(10);

/// What [`Store::spawn_autosave`] does: where, how often, how many files to keep.
///
/// ```
/// use std::time::Duration;
/// use pgkv::AutosaveOptions;
///
/// let options = AutosaveOptions::new("/var/lib/app/snapshots")
///     .interval(Duration::from_secs(300))
///     .keep(3);
/// # let _ = options;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct AutosaveOptions {
    dir: PathBuf,
    interval: Duration,
    keep: usize,
}

impl AutosaveOptions {
    /// Snapshots into `dir` (which must exist) every 5 minutes, keeping the
    /// newest 3.
    pub fn new(dir: impl Into<PathBuf>) -> AutosaveOptions {
        AutosaveOptions {
            dir: dir.into(),
            interval: Duration::from_secs(300),
            keep: 3,
        }
    }

    /// Time between snapshots (±10 % jitter). Below 10 ms counts as 10 ms;
    /// above a century (up to `Duration::MAX`), as a century.
    pub fn interval(mut self, interval: Duration) -> AutosaveOptions {
        self.interval = interval.clamp(MIN_INTERVAL, crate::conn::FOREVER);
        self
    }

    /// How many of the task's files to keep, newest first (at least 1).
    pub fn keep(mut self, keep: usize) -> AutosaveOptions {
        self.keep = keep.max(1);
        self
    }
}

/// Totals of an autosave task since it started.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AutosaveStats {
    /// Snapshots written by this task.
    pub saves: u64,
    /// Ticks skipped because another instance was saving, or had just saved
    /// into the same directory.
    pub skipped: u64,
    /// Ticks that failed (the previous files are intact).
    pub failed: u64,
    /// The newest snapshot this task wrote.
    pub last_saved: Option<SnapshotInfo>,
    /// The error of the most recent failed tick.
    pub last_error: Option<String>,
}

/// Control of an autosave task started by [`Store::spawn_autosave`].
///
/// Dropping the handle leaves the task running; call
/// [`shutdown`](Self::shutdown) to stop it.
pub struct AutosaveHandle(Background<AutosaveStats>);

impl AutosaveHandle {
    /// Stops the task and waits for it. A snapshot in progress is finished
    /// first (an interrupted one would only leave a temporary file behind).
    pub async fn shutdown(self) {
        self.0.shutdown().await;
    }

    /// Totals so far.
    pub fn stats(&self) -> AutosaveStats {
        self.0.stats()
    }

    /// True once the task has stopped.
    pub fn is_finished(&self) -> bool {
        self.0.is_finished()
    }
}

impl fmt::Debug for AutosaveHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.debug("AutosaveHandle", f)
    }
}

impl Store {
    /// Spawns the autosave task on the current tokio runtime: every
    /// `interval` (±10 % jitter) it writes a snapshot of the table into the
    /// directory as `<schema.table>-<server time in µs>.pgkv` (what
    /// [`warm_restart`](Self::warm_restart) looks for), then deletes the
    /// task's older files beyond [`keep`](AutosaveOptions::keep).
    ///
    /// One writer per fleet: each save takes a transaction-scoped advisory
    /// lock keyed on the table without waiting (an instance that finds it
    /// taken skips its tick), holds it until the file is in place, and
    /// skips the save when the directory already holds a snapshot of the
    /// table younger than half the interval (another instance sharing the
    /// directory just wrote one). Instances with directories of their own
    /// each keep their own files, but never snapshot at the same moment.
    /// A failed save is logged (`tracing`, target `pgkv::snapshot`) and
    /// retried at the next tick; the previous files stay intact.
    ///
    /// Cost per save: as [`save_snapshot`](Self::save_snapshot).
    ///
    /// # Panics
    /// When called outside a tokio runtime, as `tokio::spawn` does.
    ///
    /// ```no_run
    /// # async fn demo(store: pgkv::Store) {
    /// use std::time::Duration;
    /// use pgkv::AutosaveOptions;
    ///
    /// let autosave = store.spawn_autosave(
    ///     AutosaveOptions::new("/var/lib/app/snapshots").interval(Duration::from_secs(300)),
    /// );
    /// // ... serve ...
    /// autosave.shutdown().await;
    /// # }
    /// ```
    pub fn spawn_autosave(&self, options: AutosaveOptions) -> AutosaveHandle {
        let store = self.clone();
        AutosaveHandle(Background::spawn(move |stats, stopped| {
            run(store, options, stats, stopped)
        }))
    }
}

async fn run(
    store: Store,
    options: AutosaveOptions,
    stats: Arc<Mutex<AutosaveStats>>,
    mut stop: watch::Receiver<bool>,
) {
    let mut jitter = Jitter::new();
    let mut stoppable = true;
    loop {
        let nap = tokio::time::sleep(jitter.around(options.interval));
        if stoppable {
            tokio::select! {
                () = nap => {}
                changed = stop.changed() => match changed {
                    Ok(()) if *stop.borrow() => return,
                    Ok(()) => continue,
                    // The handle was dropped: nobody can ask to stop any more.
                    Err(_) => {
                        stoppable = false;
                        continue;
                    }
                },
            }
        } else {
            nap.await;
        }
        let target = Target::Fleet {
            dir: &options.dir,
            min_age: options.interval / 2,
        };
        let saved = save_to(&store.shared, target).await;
        let table = &store.shared.sql.collection;
        let pruned = match &saved {
            Ok(Some(_)) => prune(&options.dir, table, options.keep).await,
            _ => Ok(()),
        };
        let mut totals = stats.lock().unwrap_or_else(PoisonError::into_inner);
        match saved {
            Ok(Some(info)) => {
                tracing::debug!(target: "pgkv::snapshot", table = %table, path = %info.path.display(), rows = info.rows, "autosave");
                totals.saves += 1;
                totals.last_saved = Some(info);
            }
            Ok(None) => totals.skipped += 1,
            Err(e) => {
                tracing::warn!(target: "pgkv::snapshot", table = %table, error = %e, "autosave failed; retrying at the next tick");
                totals.failed += 1;
                totals.last_error = Some(e.to_string());
            }
        }
        if let Err(e) = pruned {
            tracing::warn!(target: "pgkv::snapshot", table = %table, error = %e, "autosave could not delete an old snapshot");
        }
    }
}

/// Deletes the task's files of `table` in `dir` beyond the newest `keep`
/// (names sort by snapshot time). Other files are never touched: a file
/// must have the task's name pattern and a header naming `table` (two
/// tables' names can map to the same file-name prefix).
async fn prune(dir: &Path, table: &str, keep: usize) -> std::io::Result<()> {
    let prefix = autosave_prefix(table);
    let suffix = format!(".{}", super::warm::EXTENSION);
    let mut names = Vec::new();
    let mut entries = tokio::fs::read_dir(dir).await?;
    while let Some(entry) = entries.next_entry().await? {
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        let ours = name.starts_with(&prefix)
            && name.ends_with(&suffix)
            && name[prefix.len()..name.len() - suffix.len()]
                .bytes()
                .all(|b| b.is_ascii_digit());
        if ours && header_of(&entry.path()).await.is_some_and(|h| h.table == table) {
            names.push(name);
        }
    }
    names.sort();
    let old = names.len().saturating_sub(keep);
    for name in &names[..old] {
        tokio::fs::remove_file(dir.join(name)).await?;
    }
    Ok(())
}
