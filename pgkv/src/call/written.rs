//! [`Written`]: what a path that ended through [`Shared::conclude`] may have
//! changed, so the after-write effects (the near-cache forgetting what this
//! store wrote) touch only that.
//!
//! A command says which keys it writes in the one command list
//! (`handle/commands.rs`, `writes ...`); a command that says nothing and is
//! not read-only counts as [`Written::everything`], so a new command is
//! safe before it is precise.

use crate::call::Shared;

/// Keys and key ranges a path may have changed. Only what a near-cache
/// covers is kept: with no near-cache configured this is always empty, and
/// building it costs a branch.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Written {
    /// Anything may have changed (a snapshot load, a multi-key command that
    /// does not name its keys).
    pub(crate) all: bool,
    /// Keys written, each under a near-cached prefix.
    pub(crate) keys: Vec<String>,
    /// Every key under these prefixes may have changed.
    pub(crate) prefixes: Vec<String>,
}

/// More keys than this in one path: forget everything instead of each.
const MOST_KEYS: usize = 1024;

impl Written {
    /// Nothing was written (a read, a sweep of rows already absent to reads).
    pub(crate) fn nothing() -> Written {
        Written::default()
    }

    /// Anything may have been written.
    pub(crate) fn everything() -> Written {
        Written {
            all: true,
            ..Written::default()
        }
    }

    /// Nothing for a read-only command, everything for any other: what a
    /// command that does not name its keys in the list gets.
    pub(crate) fn by_kind(read_only: bool) -> Written {
        if read_only {
            Written::nothing()
        } else {
            Written::everything()
        }
    }

    /// `key` (kept only if `shared`'s near-cache covers it).
    pub(crate) fn key(shared: &Shared, key: &str) -> Written {
        Written::keys(shared, [key])
    }

    /// Each of `keys` that `shared`'s near-cache covers.
    pub(crate) fn keys<'k>(shared: &Shared, keys: impl IntoIterator<Item = &'k str>) -> Written {
        let mut written = Written::nothing();
        if let Some(near) = &shared.near {
            for key in keys {
                if near.covers(key) {
                    written.keys.push(key.to_owned());
                }
            }
        }
        written.bounded()
    }

    /// The keys of `items` (a batch of `(key, value)` pairs).
    pub(crate) fn items<K: AsRef<str>, V>(shared: &Shared, items: &[(K, V)]) -> Written {
        Written::keys(shared, items.iter().map(|(k, _)| k.as_ref()))
    }

    /// The keys of a slice.
    pub(crate) fn slice<K: AsRef<str>>(shared: &Shared, keys: &[K]) -> Written {
        Written::keys(shared, keys.iter().map(AsRef::as_ref))
    }

    /// Every key under `prefix` (kept only if it can overlap a near-cached
    /// prefix).
    pub(crate) fn prefix(shared: &Shared, prefix: &str) -> Written {
        let mut written = Written::nothing();
        if let Some(near) = &shared.near
            && near.overlaps(prefix)
        {
            written.prefixes.push(prefix.to_owned());
        }
        written
    }

    /// Adds what `other` wrote (a transaction's commands, seen at commit).
    pub(crate) fn add(&mut self, other: Written) {
        self.all |= other.all;
        if self.all {
            self.keys.clear();
            self.prefixes.clear();
            return;
        }
        self.keys.extend(other.keys);
        self.prefixes.extend(other.prefixes);
        let bounded = std::mem::take(self).bounded();
        *self = bounded;
    }

    /// Nothing to forget.
    pub(crate) fn is_empty(&self) -> bool {
        !self.all && self.keys.is_empty() && self.prefixes.is_empty()
    }

    fn bounded(self) -> Written {
        if self.keys.len() + self.prefixes.len() > MOST_KEYS {
            Written::everything()
        } else {
            self
        }
    }
}
