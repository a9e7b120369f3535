//! [`Store::lock`]: `try_lock` retried with backoff until granted or the
//! wait is over (the lock commands themselves are `ops::lock`).

use std::time::Duration;

use crate::base::xorshift::{XorShift, random};
use crate::error::Result;
use crate::handle::store::Store;
use crate::ops::lock::Lock;

/// First and longest pause between attempts of [`Store::lock`].
const FIRST_PAUSE: Duration = Duration::from_millis(2);
const LONGEST_PAUSE: Duration = Duration::from_millis(100);

impl Store {
    /// [`try_lock`](crate::KvCommands::try_lock), retried until granted or
    /// until `wait` has passed (then `None`): pauses start at 2 ms and double
    /// up to 100 ms, each with random jitter so waiters do not retry in step.
    /// One statement per attempt; `Duration::MAX` waits without end. The
    /// lease `ttl` is checked before anything is sent.
    ///
    /// ```no_run
    /// # async fn demo(store: pgkv::Store) -> pgkv::Result<()> {
    /// use std::time::Duration;
    ///
    /// let lease = Duration::from_secs(30);
    /// if let Some(lock) = store.lock("lock:nightly", lease, Duration::from_secs(5)).await? {
    ///     println!("holding token {}", lock.token());
    ///     // ... work, passing lock.token() to what it writes ...
    ///     store.unlock(&lock).await?;
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn lock(&self, key: impl AsRef<str>, ttl: Duration, wait: Duration) -> Result<Option<Lock>> {
        let key = key.as_ref();
        let deadline = tokio::time::Instant::now().checked_add(wait);
        let mut pause = FIRST_PAUSE;
        let mut rng = XorShift(random() | 1);
        loop {
            if let Some(lock) = self.try_lock(key, ttl).await? {
                return Ok(Some(lock));
            }
            let jittered = pause.mul_f64(0.5 + rng.unit());
            let now = tokio::time::Instant::now();
            let sleep = match deadline {
                Some(deadline) if now >= deadline => return Ok(None),
                Some(deadline) => jittered.min(deadline - now),
                None => jittered,
            };
            tokio::time::sleep(sleep).await;
            pause = (pause * 2).min(LONGEST_PAUSE);
        }
    }
}
