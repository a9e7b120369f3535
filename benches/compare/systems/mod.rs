//! The systems compared, behind one interface ([`Kv`]): the raw SQL floor,
//! pgkv 0.2, Redis and pgkv 0.1; and one pass's set of them, loaded. One
//! system per file; `pass.rs` sets them all up.

mod floor;
mod kv;
mod legacy;
mod pass;
mod redis_sys;
mod store;

pub(crate) use floor::{Floor, floor_ddl};
pub(crate) use kv::{Kv, perform};
pub(crate) use legacy::{legacy_set_many, legacy_table_type, perform_legacy};
pub(crate) use pass::{Systems, drop_tables, load, load_expiring, open_pgkv, setup, table_name};
pub(crate) use store::Pgkv;
