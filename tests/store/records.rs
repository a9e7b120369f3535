//! KvRecord, #[derive(KvRecord)] and TypedStore against PostgreSQL.
