//! Client tasks run against a deadline, their calls counted.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Spawns `tasks` tasks, task `t` being `task(t, done)`, which makes calls
/// until a deadline of its caller's and adds one to `done` per call; waits
/// for them all; the calls per second over `secs`.
pub(crate) async fn calls_per_second<T, F>(tasks: usize, secs: f64, mut task: T) -> f64
where
    T: FnMut(usize, Arc<AtomicU64>) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    let done = Arc::new(AtomicU64::new(0));
    let handles: Vec<_> = (0..tasks).map(|t| tokio::spawn(task(t, done.clone()))).collect();
    for handle in handles {
        handle.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / secs
}
