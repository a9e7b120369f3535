//! The error scope of a handle on a key space of its own: what the store's
//! one exit needs to name the server's refusals for it.

/// A scoped handle's name and limits, as its errors report them.
#[derive(Debug, Clone)]
pub(crate) struct ErrorScope {
    /// The key space's name, as the user gave it.
    pub(crate) name: String,
    pub(crate) max_keys: Option<u64>,
    pub(crate) max_bytes: Option<u64>,
}
