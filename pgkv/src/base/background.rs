//! A background task with a stop signal and statistics: what the handles of
//! the cleanup task and the autosave task share.

use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A spawned task, the sender of its stop signal and the statistics it
/// keeps up to date.
pub(crate) struct Background<S> {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    stats: Arc<Mutex<S>>,
}

impl<S: Clone + Default + Send + 'static> Background<S> {
    /// Spawns `run(stats, stopped)` on the current runtime; `stopped` turns
    /// true when [`shutdown`](Self::shutdown) is called.
    pub(crate) fn spawn<F, Fut>(run: F) -> Background<S>
    where
        F: FnOnce(Arc<Mutex<S>>, watch::Receiver<bool>) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (stop, stopped) = watch::channel(false);
        let stats = Arc::new(Mutex::new(S::default()));
        let task = tokio::spawn(run(stats.clone(), stopped));
        Background { stop, task, stats }
    }

    /// Signals the task to stop and waits for it.
    pub(crate) async fn shutdown(self) {
        // If the task is gone the send fails, which is fine.
        let _ = self.stop.send(true);
        // The tasks never panic; a JoinError could only mean the runtime is
        // shutting down, and then there is nothing left to stop.
        let _ = self.task.await;
    }

    pub(crate) fn stats(&self) -> S {
        self.stats.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    pub(crate) fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}

impl<S: Clone + Default + Send + fmt::Debug + 'static> Background<S> {
    /// The `Debug` output of the handle named `name`.
    pub(crate) fn debug(&self, name: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(name)
            .field("finished", &self.is_finished())
            .field("stats", &self.stats())
            .finish()
    }
}
