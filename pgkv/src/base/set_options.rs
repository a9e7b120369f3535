//! Redis's `SET key value [NX|XX] [GET] [EX|PX|EXAT|PXAT|KEEPTTL]` as one
//! call: [`SetOptions`] says which, [`SetOutcome`] what happened.

use std::time::{Duration, SystemTime};

/// Options for [`set_with`](crate::KvCommands::set_with): every combination
/// Redis's `SET` allows, as one statement. The builder cannot express the
/// combinations Redis refuses (`NX` with `XX`, two expiries): the last call
/// of each kind wins.
///
/// ```
/// use std::time::Duration;
/// use pgkv::SetOptions;
///
/// // SET k v NX GET EX 60
/// let opts = SetOptions::new().only_if_absent().previous().expire_in(Duration::from_secs(60));
/// // SET k v XX (clears the TTL, as Redis does)
/// let opts = SetOptions::new().only_if_present();
/// // SET k v XX KEEPTTL (what `replace` does)
/// let opts = SetOptions::new().only_if_present().keep_ttl();
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[must_use]
pub struct SetOptions {
    pub(crate) when: SetWhen,
    pub(crate) expiry: SetExpiry,
    pub(crate) previous: bool,
}

/// Whether `SET` writes (`NX`/`XX`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum SetWhen {
    #[default]
    Always,
    Absent,
    Present,
}

/// The expiry a `SET` leaves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum SetExpiry {
    /// No expiry (plain `SET`).
    #[default]
    Clear,
    In(Duration),
    At(SystemTime),
    Keep,
}

impl SetWhen {
    pub(crate) const ALL: [SetWhen; 3] = [SetWhen::Always, SetWhen::Absent, SetWhen::Present];

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// The kinds of expiry, for picking a statement.
pub(crate) const EXPIRY_KINDS: usize = 4;

impl SetExpiry {
    pub(crate) fn kind(self) -> usize {
        match self {
            SetExpiry::Clear => 0,
            SetExpiry::In(_) => 1,
            SetExpiry::At(_) => 2,
            SetExpiry::Keep => 3,
        }
    }
}

impl SetOptions {
    /// A plain `SET`: write whatever is there, no expiry, no previous value.
    pub fn new() -> Self {
        Self::default()
    }

    /// Write only if the key is absent or expired (`NX`).
    #[doc(alias = "NX")]
    pub fn only_if_absent(mut self) -> Self {
        self.when = SetWhen::Absent;
        self
    }

    /// Write only if the key is present (`XX`).
    #[doc(alias = "XX")]
    pub fn only_if_present(mut self) -> Self {
        self.when = SetWhen::Present;
        self
    }

    /// Expire `ttl` from now, by the server's clock (`EX`, `PX`).
    #[doc(alias = "EX")]
    #[doc(alias = "PX")]
    pub fn expire_in(mut self, ttl: Duration) -> Self {
        self.expiry = SetExpiry::In(ttl);
        self
    }

    /// Expire at the instant `at` (`EXAT`, `PXAT`; microsecond precision).
    #[doc(alias = "EXAT")]
    #[doc(alias = "PXAT")]
    pub fn expire_at(mut self, at: SystemTime) -> Self {
        self.expiry = SetExpiry::At(at);
        self
    }

    /// Keep the key's current expiry (`KEEPTTL`); a key written afresh has none.
    #[doc(alias = "KEEPTTL")]
    pub fn keep_ttl(mut self) -> Self {
        self.expiry = SetExpiry::Keep;
        self
    }

    /// Also return the value the key held before (`GET`), whether or not
    /// this call wrote.
    #[doc(alias = "GET")]
    pub fn previous(mut self) -> Self {
        self.previous = true;
        self
    }
}

/// What [`set_with`](crate::KvCommands::set_with) did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SetOutcome {
    /// The value was written (false only when `NX`/`XX` said no).
    pub written: bool,
    /// With [`SetOptions::previous`]: the live value before this call,
    /// exactly, also under concurrent writers. Otherwise `None`.
    pub previous: Option<Vec<u8>>,
}
