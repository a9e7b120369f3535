//! Coordination statements: fenced locks, rate limiters, get-or-compute.

use super::*;

// ---------------------------------------------------------------------------
// Coordination: fenced locks, rate limiters, get-or-compute (issue #15).
//
// These statements follow the rules at the top of this file. Times that must
// be compared inside `ON CONFLICT` travel as microseconds since the epoch
// inside `EXCLUDED.value` (computed in `VALUES` from `statement_timestamp()`),
// so the conflict clauses stay immutable. Text fields of a value are read
// with `split_part(encode(value, 'escape'), ' ', n)`.
// ---------------------------------------------------------------------------

/// The sequence that hands out fencing tokens for `table`: `<table>_fence_seq`
/// in the table's schema (a table name is at most 48 bytes, so the name is
/// never truncated).
pub(crate) fn fence_sequence(schema: Option<&str>, table: &str) -> String {
    qualified_table(schema, &format!("{table}_fence_seq"))
}

/// Citus mode: a filter that keeps the cleanup task's lease row
/// ([`CLEANUP_LEASE_KEY`](crate::CLEANUP_LEASE_KEY)) out of scans, counts,
/// prefix deletes and snapshots, so a user never sees pgkv's own row there.
/// Empty on one server, where there is no lease row.
pub(crate) fn lease_hidden(config: &Config) -> String {
    if config.citus {
        format!(" AND key <> {}", quote_literal(crate::CLEANUP_LEASE_KEY))
    } else {
        String::new()
    }
}

/// A SQL string literal (the names in it passed `Config::validate` already).
pub(crate) fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Field `n` (1-based) of the space-separated text in the bytea column `col`.
pub(crate) fn field(col: &str, n: u8) -> String {
    format!("split_part(encode({col}, 'escape'), ' ', {n})")
}

/// The server's clock in microseconds since the Unix epoch (outside
/// `ON CONFLICT` only: it reads `statement_timestamp()`).
pub(crate) const NOW_MICROS: &str = "(extract(epoch FROM statement_timestamp()) * 1000000)::bigint";

/// The statements of the coordination primitives, built once per store with
/// the rest.
#[derive(Debug)]
pub(crate) struct CoordSql {
    /// The sequence's qualified, quoted name, for error messages.
    pub(crate) sequence: String,
    /// `CREATE SEQUENCE IF NOT EXISTS` for a table created before locks
    /// existed; `None` when the config forbids creating objects.
    pub(crate) create_sequence: Option<Sql>,
    /// `$1` key, `$2` owner, `$3` lease in µs: the token if granted.
    pub(crate) lock_acquire: Sql,
    /// `$1` key, `$2` token, `$3` owner: one row if released.
    pub(crate) lock_release: Sql,
    /// `$1` key, `$2` token, `$3` owner, `$4` lease in µs: one row if extended.
    pub(crate) lock_extend: Sql,
    /// `$1` key, `$2` limit, `$3` window: the count (capped at limit + 1) and
    /// the time left in the window.
    pub(crate) rate_fixed: Sql,
    /// `$1` key, `$2` emission interval µs, `$3` tolerance µs, `$4` the same
    /// tolerance as an interval: the new state `tat flag now`.
    pub(crate) rate_gcra: Sql,
    /// `$1` key: the value and the time it has left (NULL: no expiry).
    pub(crate) compute_read: Sql,
    /// `$1` key, `$2` value: deletes the key only if it still holds `$2`.
    pub(crate) delete_if_equals: Sql,
}

impl CoordSql {
    pub(crate) fn new(config: &Config, schema: &str, t: &str, x: &Expiry) -> CoordSql {
        let sequence = fence_sequence(Some(schema), &config.table_name);
        let live = x.live("expires_at");
        let expired = x.conflict_expired();
        let insert = format!("INSERT INTO {t} AS kv (key, value, expires_at, created_at, updated_at)");
        let now = "statement_timestamp()";

        // A lock row holds `token lease_until_µs owner` and never expires:
        // it stays after release (lease 0) so the highest token granted for
        // the name stays next to it. A grant needs the lease to have ended
        // AND the new token to be above the stored one: a token drawn from
        // the sequence before a later-drawn one was granted is refused
        // rather than granted out of order.
        let (kv_token, kv_lease) = (field("kv.value", 1), field("kv.value", 2));
        let (new_token, new_lease) = (field("EXCLUDED.value", 1), field("EXCLUDED.value", 2));
        let lock_acquire = format!(
            "{insert} VALUES ($1, decode(nextval({seq})::text || ' ' || ({NOW_MICROS} + $3)::text || ' ' || $2, 'escape'), \
             NULL, {now}, {now}) \
             ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, expires_at = NULL, \
             created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at \
             WHERE CASE WHEN {expired} THEN TRUE \
             ELSE {kv_lease}::bigint <= {new_lease}::bigint - $3 AND {kv_token}::bigint < {new_token}::bigint END \
             RETURNING {token}::bigint",
            seq = quote_literal(&sequence),
            token = field("value", 1),
        );
        // Only the holder named by token and owner, while its lease lasts.
        // (The `CASE` keeps the lease field of a value that is not a lock
        // from being cast. Citus refuses a clock read inside `CASE`: there
        // the `CASE` yields the lease, or NULL, and the clock is compared
        // outside it.)
        let holder = if config.citus {
            format!(
                "key = $1 AND {live} AND CASE WHEN {tok} = $2::text AND {owner} = $3 \
                 THEN {lease}::bigint END > {NOW_MICROS}",
                tok = field("value", 1),
                owner = field("value", 3),
                lease = field("value", 2),
            )
        } else {
            format!(
                "key = $1 AND {live} AND CASE WHEN {tok} = $2::text AND {owner} = $3 \
                 THEN {lease}::bigint > {NOW_MICROS} ELSE FALSE END",
                tok = field("value", 1),
                owner = field("value", 3),
                lease = field("value", 2),
            )
        };
        CoordSql {
            create_sequence: config
                .auto_create_table
                .then(|| Sql::new(format!("CREATE SEQUENCE IF NOT EXISTS {sequence}"))),
            lock_acquire: Sql::new(lock_acquire),
            lock_release: Sql::new(format!(
                "UPDATE {t} SET value = decode($2::text || ' 0 ' || $3, 'escape'), updated_at = {now} WHERE {holder}"
            )),
            lock_extend: Sql::new(format!(
                "UPDATE {t} SET value = decode($2::text || ' ' || ({NOW_MICROS} + $4)::text || ' ' || $3, 'escape'), \
                 updated_at = {now} WHERE {holder}"
            )),
            // INCR + EXPIRE NX, counting no further than limit + 1 (a denied
            // check changes nothing a later check could notice).
            rate_fixed: Sql::new({
                let digits = "encode(kv.value, 'escape')";
                format!(
                    "{insert} VALUES ($1, decode('1', 'escape'), {now} + $3, {now}, {now}) \
                     ON CONFLICT (key) DO UPDATE SET \
                     value = CASE WHEN {expired} THEN EXCLUDED.value ELSE decode(LEAST((CASE WHEN {digits} ~ '^(0|-?[1-9][0-9]*)$' \
                     THEN {digits} ELSE 'x' || {digits} END)::bigint + 1, $2 + 1)::text, 'escape') END, \
                     expires_at = CASE WHEN {expired} THEN EXCLUDED.expires_at ELSE kv.expires_at END, \
                     created_at = CASE WHEN {expired} THEN EXCLUDED.created_at ELSE kv.created_at END, \
                     updated_at = EXCLUDED.updated_at \
                     RETURNING encode(value, 'escape')::bigint, expires_at - updated_at"
                )
            }),
            // GCRA: the row holds `tat flag now`: the theoretical arrival
            // time in µs, whether the last check was admitted, and when it
            // ran (µs). A check is admitted when max(tat, now) + T - now <=
            // tolerance; then tat moves on by T. `EXCLUDED.value` is the
            // state of a fresh key (tat = now + T) and carries now, so the
            // conflict clause needs no clock. The row expires once its tat
            // has passed, when it is the same as absent.
            rate_gcra: Sql::new({
                let old_tat = format!("{}::bigint", field("kv.value", 1));
                let ex_now = format!("{}::bigint", field("EXCLUDED.value", 3));
                format!(
                    "{insert} VALUES ($1, decode(({NOW_MICROS} + $2)::text || ' 1 ' || {NOW_MICROS}::text, 'escape'), \
                     {now} + $4, {now}, {now}) \
                     ON CONFLICT (key) DO UPDATE SET \
                     value = CASE WHEN {expired} THEN EXCLUDED.value \
                     WHEN GREATEST({old_tat}, {ex_now}) + $2 - {ex_now} <= $3 \
                     THEN decode((GREATEST({old_tat}, {ex_now}) + $2)::text || ' 1 ' || {ex_now}::text, 'escape') \
                     ELSE decode({old_tat}::text || ' 0 ' || {ex_now}::text, 'escape') END, \
                     expires_at = EXCLUDED.expires_at, \
                     created_at = CASE WHEN {expired} THEN EXCLUDED.created_at ELSE kv.created_at END, \
                     updated_at = EXCLUDED.updated_at \
                     RETURNING encode(value, 'escape')"
                )
            }),
            compute_read: Sql::new(format!(
                "SELECT value, expires_at - {now} FROM {t} WHERE key = $1 AND {live}"
            )),
            delete_if_equals: Sql::new(format!("DELETE FROM {t} WHERE key = $1 AND value = $2")),
            sequence,
        }
    }
}
