//! What users hold: [`Store`](store::Store), [`Transaction`](transaction::Transaction),
//! the [`KvCommands`](commands::KvCommands) trait over both, typed handles,
//! records and page streams.

pub(crate) mod commands;
pub(crate) mod pages;
#[cfg(feature = "json")]
pub(crate) mod record;
pub(crate) mod route;
pub(crate) mod store;
pub(crate) mod transaction;
#[cfg(feature = "json")]
pub(crate) mod typed;
