//! `#[derive(KvRecord)]` for pgkv. Use it through `pgkv` (`use pgkv::KvRecord;`).
