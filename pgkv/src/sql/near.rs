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
    /// Takes the DDL lock and creates the prefix table (idempotent); then
    /// `add_prefixes`, then `install`, in one transaction.
    pub(crate) prepare: String,
    /// Creates the trigger function and the triggers from the prefix table.
    pub(crate) install: String,
    /// `$1`: the prefixes to add (text[]).
    pub(crate) add_prefixes: Sql,
    /// `$1` key: the live value and the microseconds it has left (NULL: no
    /// expiry), for filling the cache.
    pub(crate) fetch: Sql,
    /// `$1` channel, `$2` payload: a probe of the listener's lag.
    pub(crate) probe: Sql,
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
        // The payload is the key; an empty payload (never a key: keys are
        // not empty) means "everything" (TRUNCATE). The triggers' WHEN
        // clauses hold the declared prefixes, so a write to any other key
        // never calls the function: they are rebuilt from the prefix table
        // (quoted by the server, `%L`) whenever a store installs them.
        let when = |column: &str| {
            format!(
                "(SELECT string_agg(format('starts_with({column}.key, %L)', prefix), ' OR ') FROM {prefixes})"
            )
        };
        let prepare = format!(
            "SELECT pg_advisory_xact_lock({lock});\n\
             CREATE TABLE IF NOT EXISTS {prefixes} (prefix TEXT COLLATE \"C\" PRIMARY KEY);\n",
            lock = super::DDL_LOCK_KEY,
        );
        let install = format!(
            "CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $pgkv$\n\
             BEGIN\n    \
             IF TG_OP = 'TRUNCATE' THEN\n        \
             PERFORM pg_notify('{channel}', '');\n    \
             ELSIF TG_OP = 'INSERT' THEN\n        \
             PERFORM pg_notify('{channel}', NEW.key);\n    \
             ELSIF TG_OP = 'DELETE' THEN\n        \
             PERFORM pg_notify('{channel}', OLD.key);\n    \
             ELSE\n        \
             PERFORM pg_notify('{channel}', OLD.key);\n        \
             IF NEW.key <> OLD.key THEN\n            \
             PERFORM pg_notify('{channel}', NEW.key);\n        \
             END IF;\n    \
             END IF;\n    \
             RETURN NULL;\n\
             END\n\
             $pgkv$;\n\
             DO $pgkv$ BEGIN\n    \
             EXECUTE format('CREATE OR REPLACE TRIGGER {inserts} AFTER INSERT ON {table_q} FOR EACH ROW WHEN (%s) \
             EXECUTE FUNCTION {function_q}()', {when_new});\n    \
             EXECUTE format('CREATE OR REPLACE TRIGGER {updates} AFTER UPDATE ON {table_q} FOR EACH ROW WHEN (%s OR %s) \
             EXECUTE FUNCTION {function_q}()', {when_old}, {when_new});\n    \
             EXECUTE format('CREATE OR REPLACE TRIGGER {deletes} AFTER DELETE ON {table_q} FOR EACH ROW WHEN (%s) \
             EXECUTE FUNCTION {function_q}()', {when_old});\n\
             END $pgkv$;\n\
             CREATE OR REPLACE TRIGGER {truncates} AFTER TRUNCATE ON {table} \
             FOR EACH STATEMENT EXECUTE FUNCTION {function}();\n",
            inserts = quote_ident(&format!("{name}_near_ins")),
            updates = quote_ident(&format!("{name}_near_upd")),
            deletes = quote_ident(&format!("{name}_near_del")),
            truncates = quote_ident(&format!("{name}_near_trunc")),
            // Inside a format() string literal: quotes doubled.
            table_q = table.replace('\'', "''"),
            function_q = function.replace('\'', "''"),
            when_new = when("NEW"),
            when_old = when("OLD"),
        );
        NearSql {
            channel,
            prepare,
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
            probe: Sql::new("SELECT pg_notify($1, $2)".to_owned()),
        }
    }
}
