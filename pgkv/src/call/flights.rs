//! An in-process single-flight map: the loads running in this process, by
//! key, each with the outcome its waiters will share.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

/// A loader's error, shared by every caller that waited for it.
pub(crate) type SharedError = Arc<dyn std::error::Error + Send + Sync>;

/// What a load hands its in-process waiters: the value, or the loader's
/// error. (A load that ends otherwise, failing to write, panicking or
/// cancelled, hands them nothing, and they start over.)
pub(crate) type Outcome = Result<Vec<u8>, SharedError>;

#[derive(Debug)]
pub(crate) struct Flight {
    pub(crate) id: u64,
    pub(crate) outcome: watch::Receiver<Option<Outcome>>,
}

/// The loads in flight in this process, per store, by key (get-or-compute's
/// single flight).
#[derive(Debug, Default)]
pub(crate) struct Flights {
    pub(crate) by_key: Mutex<HashMap<String, Flight>>,
    pub(crate) next_id: AtomicU64,
}
