//! The SQL of the near-cache: the table of near-cached prefixes, the
//! trigger that notifies writes to keys under them, and the read that
//! fills the cache.

use super::{Sql, quote_ident};

/// The `LISTEN` channel of a table: a stable hash of its qualified name, so
/// every process derives the same one and it fits an identifier.
pub(crate) fn channel(collection: &str) -> String {
    // FNV-1a: stable across processes and Rust versions, unlike std's hasher.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in collection.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("pgkv_near_{hash:016x}")
}

/// The near-cache's statements for one table.
#[derive(Debug)]
pub(crate) struct NearSql {
    pub(crate) channel: String,
    /// Creates the prefix table, the trigger function and the triggers
    /// (idempotent, under the DDL lock).
    pub(crate) install: String,
    /// `$1`: the prefixes to add (text[]).
    pub(crate) add_prefixes: Sql,
    /// `$1` key: the live value and the microseconds it has left (NULL: no
    /// expiry), for filling the cache.
    pub(crate) fetch: Sql,
}

impl NearSql {
    /// For `table` (quoted, qualified) named `name` in `schema`; `expiry`:
    /// TTLs are enforced (not `TtlCleanupStrategy::Disabled`).
    pub(crate) fn new(schema: &str, name: &str, table: &str, collection: &str, expiry: bool) -> NearSql {
        let object = |suffix: &str| {
            format!(
                "{}.{}",
                quote_ident(schema),
                quote_ident(&format!("{name}{suffix}"))
            )
        };
        let prefixes = object("_near");
        let function = object("_near_notify");
        let channel = channel(collection);
        let row_trigger = quote_ident(&format!("{name}_near"));
        let truncate_trigger = quote_ident(&format!("{name}_near_truncate"));
        // The payload is the key; an empty payload (never a key: keys are
        // not empty) means "everything" (TRUNCATE).
        let install = format!(
            "SELECT pg_advisory_xact_lock({lock});\n\
             CREATE TABLE IF NOT EXISTS {prefixes} (prefix TEXT COLLATE \"C\" PRIMARY KEY);\n\
             CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $pgkv$\n\
             BEGIN\n    \
             IF TG_OP = 'TRUNCATE' THEN\n        \
             PERFORM pg_notify('{channel}', '');\n        \
             RETURN NULL;\n    \
             END IF;\n    \
             IF TG_OP <> 'INSERT' AND EXISTS (SELECT 1 FROM {prefixes} WHERE starts_with(OLD.key, prefix)) THEN\n        \
             PERFORM pg_notify('{channel}', OLD.key);\n    \
             END IF;\n    \
             IF TG_OP <> 'DELETE' AND (TG_OP = 'INSERT' OR NEW.key <> OLD.key)\n       \
             AND EXISTS (SELECT 1 FROM {prefixes} WHERE starts_with(NEW.key, prefix)) THEN\n        \
             PERFORM pg_notify('{channel}', NEW.key);\n    \
             END IF;\n    \
             RETURN NULL;\n\
             END\n\
             $pgkv$;\n\
             CREATE OR REPLACE TRIGGER {row_trigger} AFTER INSERT OR UPDATE OR DELETE ON {table} \
             FOR EACH ROW EXECUTE FUNCTION {function}();\n\
             CREATE OR REPLACE TRIGGER {truncate_trigger} AFTER TRUNCATE ON {table} \
             FOR EACH STATEMENT EXECUTE FUNCTION {function}();\n",
            lock = super::DDL_LOCK_KEY,
        );
        NearSql {
            channel,
            install,
            add_prefixes: Sql::new(format!(
                "INSERT INTO {prefixes} (prefix) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING"
            )),
            fetch: Sql::new(if expiry {
                format!(
                    "SELECT value, (extract(epoch FROM expires_at - statement_timestamp()) * 1000000)::bigint \
                     FROM {table} WHERE key = $1 AND (expires_at IS NULL OR expires_at > statement_timestamp())"
                )
            } else {
                format!("SELECT value, NULL::bigint FROM {table} WHERE key = $1")
            }),
        }
    }
}
