//! The top floor: features built on the handles, each plugged in at the
//! core's named points (`Shared`'s hooks, the routes in `call`), never
//! named by the floors below: namespaces, get-or-compute, the expiry sweep,
//! snapshots.

pub(crate) mod cleanup;
pub(crate) mod compute;
pub(crate) mod lock;
pub(crate) mod namespace;
pub(crate) mod snapshot;
