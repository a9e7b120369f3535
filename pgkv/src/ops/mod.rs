//! One function per command, each written once against
//! [`Conduit`](crate::call::Conduit): check the input, send one statement.
//! Routes other than the plain statement (batching, the near-cache) are
//! entered through `call`; nothing here names them.

pub(crate) mod kv;
pub(crate) mod limiter;
pub(crate) mod lock;
pub(crate) mod modes;
pub(crate) mod scan;
