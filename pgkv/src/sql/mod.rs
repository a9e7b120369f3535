//! Every SQL statement pgkv sends, built once per table when a store is
//! created and reused (as a prepared statement) for every call.
//!
//! This is the only module that splices identifiers into SQL, and it only
//! splices names that [`Config::validate`](crate::Config) accepted, quoted.
//!
//! Rules every statement follows (they keep one round trip per call and let
//! the same SQL run on Citus, where each single-key statement is routed to one
//! shard):
//! - single-key statements filter or insert on `key = $1`;
//! - the server's clock is read as `statement_timestamp()` in `VALUES`,
//!   `WHERE` and outer `SELECT`s only; inside `ON CONFLICT ... DO UPDATE` and
//!   `RETURNING` only immutable expressions over columns, `EXCLUDED.*` and
//!   parameters appear (the statement time is `EXCLUDED.updated_at` there);
//! - counters convert with `encode`/`decode(..., 'escape')`, which are immutable.
//!
//! What Citus (13.2) adds, so its forms (`Config::citus`) differ where noted
//! below, and `pgkv/sql/citus_on_read.sql` lists them:
//! - no clock read inside `CASE`/`COALESCE` of an `UPDATE` (a column that
//!   carries the time instead, `cur.now`);
//! - an `INSERT` inside a CTE is planned as separate steps, never routed:
//!   a routed `INSERT` is the whole statement;
//! - no `FOR UPDATE`/`FOR SHARE` over several shards (each key locks by a
//!   single-shard read of its own);
//! - no triggers on distributed tables (no namespaces).

use sqlx::{AssertSqlSafe, SqlStr};

use crate::base::expiry::ExpireWhen;
use crate::base::set_options::{EXPIRY_KINDS, SetOptions, SetWhen};
use crate::config::{Config, TtlCleanupStrategy};

pub(crate) mod batch;
pub(crate) mod coord;
pub(crate) mod namespace;
pub(crate) mod near;
pub(crate) mod schema;
pub(crate) mod snapshot;
#[cfg(test)]
mod tests;

pub(crate) use coord::{CoordSql, fence_sequence, lease_hidden, quote_literal};
pub(crate) use schema::{
    DDL_LOCK_KEY, create_table_ddl, create_table_statements, partition_names, startup_check,
};
pub(crate) use snapshot::SnapshotSql;

/// A statement ready to hand to `sqlx::query`. Cloning shares the text.
#[derive(Debug, Clone)]
pub(crate) struct Sql(SqlStr);

impl Sql {
    fn new(text: String) -> Sql {
        // The text is assembled below from fixed fragments and identifiers that
        // passed `Config::validate` and are quoted by `quote_ident`.
        let text: std::sync::Arc<str> = text.into();
        Sql(sqlx::SqlSafeStr::into_sql_str(AssertSqlSafe(text)))
    }

    /// The statement for `sqlx::query` (a cheap reference-count bump).
    pub(crate) fn query(&self) -> SqlStr {
        self.0.clone()
    }

    #[cfg(test)]
    pub(crate) fn text(&self) -> &str {
        self.0.as_str()
    }
}

/// The four shapes of a key-range statement: `key > $lower` or `key >= $lower`,
/// with or without `key < $upper`.
#[derive(Debug, Clone)]
pub(crate) struct RangeSql {
    inclusive_bounded: Sql,
    inclusive_open: Sql,
    exclusive_bounded: Sql,
    exclusive_open: Sql,
}

impl RangeSql {
    fn build(make: impl Fn(&str) -> String) -> RangeSql {
        RangeSql {
            inclusive_bounded: Sql::new(make("key >= $1 AND key < $2")),
            inclusive_open: Sql::new(make("key >= $1")),
            exclusive_bounded: Sql::new(make("key > $1 AND key < $2")),
            exclusive_open: Sql::new(make("key > $1")),
        }
    }

    /// Picks the statement; parameters after the bounds are numbered from
    /// `$3` in every shape (an open range simply never mentions `$2`, and the
    /// caller binds NULL there).
    pub(crate) fn pick(&self, inclusive: bool, bounded: bool) -> &Sql {
        match (inclusive, bounded) {
            (true, true) => &self.inclusive_bounded,
            (true, false) => &self.inclusive_open,
            (false, true) => &self.exclusive_bounded,
            (false, false) => &self.exclusive_open,
        }
    }
}

/// A read under `OnRead`, in two forms: one that also deletes the expired
/// rows it meets, and a plain one for sessions that cannot write (a
/// read-only role or a standby). Under other strategies both are plain.
#[derive(Debug, Clone)]
pub(crate) struct ReadSql {
    purging: Sql,
    plain: Sql,
}

impl ReadSql {
    fn build(purge: &str, read: String) -> ReadSql {
        ReadSql {
            purging: Sql::new(format!("{purge}{read}")),
            plain: Sql::new(read),
        }
    }

    pub(crate) fn pick(&self, purge: bool) -> &Sql {
        if purge { &self.purging } else { &self.plain }
    }
}

/// All statements for one table and one TTL strategy.
#[derive(Debug)]
pub(crate) struct Statements {
    pub(crate) table: String,
    /// `schema.table` unquoted, as telemetry names it (`db.collection.name`).
    pub(crate) collection: String,
    /// The schema the table is in (unquoted).
    pub(crate) schema: String,
    pub(crate) set: Sql,
    pub(crate) set_ex: Sql,
    pub(crate) set_nx: Sql,
    pub(crate) set_nx_ex: Sql,
    pub(crate) replace: Sql,
    pub(crate) get: ReadSql,
    pub(crate) exists: ReadSql,
    pub(crate) delete: Sql,
    pub(crate) get_ex: Sql,
    /// `EXPIRE key ttl [NX|XX|GT|LT]`, by [`ExpireWhen::index`].
    pub(crate) expire_in: [Sql; 5],
    /// `PEXPIREAT key micros [NX|XX|GT|LT]`, by [`ExpireWhen::index`].
    pub(crate) expire_at: [Sql; 5],
    pub(crate) ttl_status: ReadSql,
    pub(crate) expire_time: ReadSql,
    pub(crate) get_persist: Sql,
    pub(crate) strlen: ReadSql,
    pub(crate) ttl: ReadSql,
    pub(crate) persist: Sql,
    pub(crate) set_many: Sql,
    pub(crate) set_many_ex: Sql,
    pub(crate) get_many: ReadSql,
    pub(crate) delete_many: Sql,
    pub(crate) increment: Sql,
    pub(crate) increment_ex: Sql,
    pub(crate) increment_float: Sql,
    pub(crate) cas_absent: Sql,
    pub(crate) cas_present: Sql,
    pub(crate) get_and_set: Sql,
    pub(crate) append: Sql,
    pub(crate) rename: Sql,
    pub(crate) rename_nx: Sql,
    pub(crate) set_many_nx: Sql,
    /// `COPY src dst`, without and with `REPLACE`.
    pub(crate) copy: [Sql; 2],
    /// `SET` with options, by [`Statements::set_with_index`].
    pub(crate) set_with: Vec<Sql>,
    /// Citus mode: inserts `$1` = `$2` if the key has no row at all, by
    /// expiry kind (`SetExpiry::kind`; `$3` the TTL or the absolute time),
    /// returning a row if it did. `set_with`, `get_and_set` and
    /// `cas_absent` leave an absent key to it there.
    pub(crate) insert_absent: [Sql; EXPIRY_KINDS],
    pub(crate) get_and_delete: Sql,
    /// The sweep's batches: one pair per partition, in partition order, or
    /// one for a plain table.
    pub(crate) sweeps: Vec<SweepSql>,
    /// Citus mode: one batch of at most `$1` expired rows on every shard at
    /// once (`run_command_on_shards`): the rows deleted, the most any shard
    /// deleted (below `$1`: every shard is done), and the first shard error.
    pub(crate) shard_sweep: Sql,
    /// Citus mode: `EXPLAIN (FORMAT YAML)` of one sweep batch of `$1` rows
    /// on the first shard, run on its worker: the shard id, whether it
    /// worked, and the plan (or the error).
    pub(crate) shard_explain: Sql,
    /// The store runs in Citus mode ([`Config::citus`]).
    pub(crate) citus: bool,
    pub(crate) keys: RangeSql,
    pub(crate) scan: RangeSql,
    pub(crate) count: RangeSql,
    /// `keys`, `scan` and `count` that also keep only the keys matching a
    /// regular expression (a glob pattern, translated): `$5` for a page,
    /// `$3` for a count.
    pub(crate) keys_matching: RangeSql,
    pub(crate) scan_matching: RangeSql,
    pub(crate) count_matching: RangeSql,
    /// The whole range in one statement (`delete_prefix_atomic`).
    pub(crate) delete_range: RangeSql,
    /// The first `$3` rows of the range that no other session holds
    /// (`delete_prefix`, one batch).
    pub(crate) delete_range_batch: RangeSql,
    /// The first `$3` rows of the range, waiting for rows other sessions
    /// hold (`delete_prefix`'s last pass, one batch).
    pub(crate) delete_range_batch_waiting: RangeSql,
    /// Fenced locks, rate limiters and get-or-compute (see [`CoordSql`]).
    pub(crate) coord: CoordSql,
    /// Snapshot save and load (the section at the end of this file).
    pub(crate) snapshot: SnapshotSql,
    /// The batched forms of concurrent calls (`coalesce`).
    pub(crate) coalesced: batch::CoalescedSql,
}

/// One batch of the expiry sweep on one table (a partition, or the table).
#[derive(Debug)]
pub(crate) struct SweepSql {
    /// `$1` rows at most: the rows deleted.
    pub(crate) batch: Sql,
    /// The same batch under the fleet lock (`$2` the table name, keying
    /// it): whether the lock was free, and the rows deleted.
    pub(crate) fleet_batch: Sql,
}

/// Mixed into the hash of the table name that keys the cleanup advisory
/// lock, so pgkv's locks do not collide with an application's own.
const CLEANUP_LOCK_SEED: i64 = 7_305_983_471_152_380_417;

/// Quotes an identifier the way PostgreSQL's `quote_ident` does.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The quoted table name, qualified with `schema` when there is one (an
/// unqualified name is resolved through `search_path`).
pub(crate) fn qualified_table(schema: Option<&str>, table: &str) -> String {
    match schema {
        Some(schema) => format!("{}.{}", quote_ident(schema), quote_ident(table)),
        None => quote_ident(table),
    }
}

/// The pieces of SQL that differ between TTL strategies.
pub(crate) struct Expiry {
    strategy: TtlCleanupStrategy,
    citus: bool,
}

impl Expiry {
    /// The row whose expiry column is `col` is live now.
    fn live(&self, col: &str) -> String {
        match self.strategy {
            TtlCleanupStrategy::Disabled => "TRUE".to_owned(),
            _ => format!("({col} IS NULL OR {col} > statement_timestamp())"),
        }
    }

    /// Inside `ON CONFLICT DO UPDATE`: the existing row `kv` had expired when
    /// this statement started (`EXCLUDED.updated_at` is the statement time).
    fn conflict_expired(&self) -> &'static str {
        match self.strategy {
            TtlCleanupStrategy::Disabled => "FALSE",
            _ => "kv.expires_at <= EXCLUDED.updated_at",
        }
    }

    /// A leading CTE that deletes the expired rows a read is about to meet
    /// (`OnRead` only). It deletes only rows it can lock without waiting
    /// (`SKIP LOCKED`): a row another transaction holds (a writer about to
    /// replace it, say) is left to that writer or to the sweep, so a read
    /// never waits for a lock and never takes part in a deadlock. The DELETE
    /// re-checks the expiry on the row it locked.
    ///
    /// On Citus the locking subquery is planned as a query of its own over
    /// every shard, so there the purge is a plain single-shard DELETE (it
    /// may wait for a writer's row lock), and reads of several keys, which
    /// could then wait on several shards, do not purge.
    fn purge(&self, table: &str, key_filter: &str) -> String {
        match self.strategy {
            TtlCleanupStrategy::OnRead if self.citus && key_filter == "key = $1" => format!(
                "WITH purged AS (DELETE FROM {table} WHERE {key_filter} AND expires_at <= statement_timestamp()) "
            ),
            TtlCleanupStrategy::OnRead if self.citus => String::new(),
            // The key filter is repeated on the DELETE itself: over a
            // partitioned table it lets the planner keep to the key's
            // partition, where `key IN (subquery)` alone would visit all.
            TtlCleanupStrategy::OnRead => format!(
                "WITH purged AS (DELETE FROM {table} WHERE {key_filter} AND key IN (SELECT key FROM {table} \
                 WHERE {key_filter} AND expires_at <= statement_timestamp() FOR UPDATE SKIP LOCKED) \
                 AND expires_at <= statement_timestamp()) "
            ),
            _ => String::new(),
        }
    }
}

impl Statements {
    /// Which `set_with` statement `opts` needs.
    pub(crate) fn set_with_index(opts: &SetOptions) -> usize {
        (opts.when.index() * EXPIRY_KINDS + opts.expiry.kind()) * 2 + usize::from(opts.previous)
    }

    /// The statements for `config`'s table in `schema` (the one the store
    /// found or created it in).
    pub(crate) fn new(config: &Config, schema: &str) -> Statements {
        let t = qualified_table(Some(schema), &config.table_name);
        let x = Expiry {
            strategy: config.ttl_cleanup_strategy,
            citus: config.citus,
        };
        let live = x.live("expires_at");
        let expired = x.conflict_expired();
        let purge_one = x.purge(&t, "key = $1");
        // Multi-key reads and deletes name their key array as `key_array`
        // says (hidden from the planner where that helps).
        let key_array = batch::key_array(config.partitions.is_some() || config.citus);
        let purge_many = x.purge(&t, &format!("key = ANY({key_array})"));

        let insert = format!("INSERT INTO {t} AS kv (key, value, expires_at, created_at, updated_at)");
        let now = "statement_timestamp()";
        let expires = "statement_timestamp() + $3";
        // An absolute expiry: `$3` microseconds after the Unix epoch.
        let at = "(timestamptz 'epoch' + $3::bigint * interval '1 microsecond')";
        // A write over an expired row starts a fresh row: new created_at.
        let upsert = format!(
            "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, \
             expires_at = EXCLUDED.expires_at, \
             created_at = CASE WHEN {expired} THEN EXCLUDED.created_at ELSE kv.created_at END, \
             updated_at = EXCLUDED.updated_at"
        );
        let take_expired = format!(
            "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, \
             expires_at = EXCLUDED.expires_at, created_at = EXCLUDED.created_at, \
             updated_at = EXCLUDED.updated_at WHERE {expired}"
        );
        let values = |exp: &str| format!("VALUES ($1, $2, {exp}, {now}, {now})");
        let from_arrays = |exp: &str| {
            format!("SELECT k, v, {exp}, {now}, {now} FROM UNNEST($1::text[], $2::bytea[]) AS u(k, v)")
        };

        // Counters: the stored bytes must be a decimal integer by Redis's
        // grammar (`0` or `-?[1-9][0-9]*`: no sign on zero, no leading
        // zeros). `bigint` input would also accept spaces, '+' and leading
        // zeros, so the text is checked first; anything else is made unparseable ('x' prefix) so the
        // cast fails with 22P02, and overflow fails with 22003.
        // `expiry` is what a new (or expired-and-replaced) counter expires
        // at; `kept` what an existing live counter's expiry becomes.
        let counter = |expiry: &str, kept: &str| {
            let digits = "encode(kv.value, 'escape')";
            format!(
                "{insert} VALUES ($1, decode($2::bigint::text, 'escape'), {expiry}, {now}, {now}) \
                 ON CONFLICT (key) DO UPDATE SET \
                 value = CASE WHEN {expired} THEN EXCLUDED.value ELSE decode(((CASE WHEN {digits} ~ '^(0|-?[1-9][0-9]*)$' \
                 THEN {digits} ELSE 'x' || {digits} END)::bigint + $2)::text, 'escape') END, \
                 expires_at = CASE WHEN {expired} THEN EXCLUDED.expires_at ELSE {kept} END, \
                 created_at = CASE WHEN {expired} THEN EXCLUDED.created_at ELSE kv.created_at END, \
                 updated_at = EXCLUDED.updated_at \
                 RETURNING value"
            )
        };

        // The EXPIRE family: one statement per condition, for a relative
        // TTL (`$2` an interval) and for an absolute time (`$2` microseconds
        // since the Unix epoch).
        let expire_family = |new: &str| {
            ExpireWhen::ALL.map(|when| {
                let condition = when.condition(new);
                Sql::new(format!(
                    "UPDATE {t} SET expires_at = {new} WHERE key = $1 AND {live} AND {condition}"
                ))
            })
        };

        // Read-modify-write statements lock the current row first (`FOR
        // UPDATE` returns the newest committed version), so the value they
        // report is exactly the one they replaced. When the key was absent
        // and someone inserts it concurrently, the INSERT does nothing and the
        // caller retries: `written` is then false and `current` NULL.
        //
        // On Citus a `CASE` that reads the clock is refused in an UPDATE
        // ("non-IMMUTABLE functions are not allowed in CASE or COALESCE
        // statements"): there `cur` also carries the statement time read on
        // the key's worker (`cur.now`), and every test of `cur` uses it.
        let locked = if config.citus {
            format!(
                "WITH cur AS (SELECT value, expires_at, statement_timestamp() AS now FROM {t} WHERE key = $1 FOR UPDATE)"
            )
        } else {
            format!("WITH cur AS (SELECT value, expires_at FROM {t} WHERE key = $1 FOR UPDATE)")
        };
        let cur_now = if config.citus { "cur.now" } else { now };
        let cur_live = match config.ttl_cleanup_strategy {
            TtlCleanupStrategy::Disabled => "TRUE".to_owned(),
            _ if config.citus => "(cur.expires_at IS NULL OR cur.expires_at > cur.now)".to_owned(),
            _ => x.live("cur.expires_at"),
        };
        // The insert of an absent key, a CTE `ins` after the others. Citus
        // plans an INSERT inside a CTE as separate steps (measured 32x the
        // time of a plain table's), so there the statement leaves an absent
        // key alone (`ins` is empty: `inserted` is FALSE) and reports it
        // absent; the caller then sends `insert_absent`, a single-shard
        // statement of its own, and starts over if that finds a row.
        let ins = |expiry: &str, may_insert: &str| {
            if config.citus {
                String::new()
            } else {
                format!(
                    ", ins AS ({insert} SELECT $1, $2, {expiry}, {now}, {now} \
                     WHERE NOT EXISTS (SELECT 1 FROM cur){may_insert} ON CONFLICT (key) DO NOTHING RETURNING 1)"
                )
            }
        };
        let inserted = if config.citus {
            "FALSE"
        } else {
            "EXISTS (SELECT 1 FROM ins)"
        };
        let insert_if_absent = ins("NULL", "");
        let cur_expired = match config.ttl_cleanup_strategy {
            TtlCleanupStrategy::Disabled => "FALSE".to_owned(),
            _ => format!("cur.expires_at <= {cur_now}"),
        };

        // Victims are located by physical address (ctid): the DELETE then
        // reads each row directly instead of probing the primary key again,
        // which measured 7x faster per batch (11 ms instead of 77 ms for
        // 5,000 rows). The addresses come from the same statement, under the
        // rows' locks, so they cannot go stale.
        // (One partition at a time: ctids are unique only within one.)
        let victims = |t: &str, gate: &str| {
            format!(
                "ctid = ANY(ARRAY(SELECT ctid FROM {t} WHERE {gate} AND expires_at <= {now} \
                 ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED))"
            )
        };
        let swept = match config.partitions {
            Some(n) => partition_names(Some(schema), &config.table_name, n),
            None => vec![t.clone()],
        };

        // The CTE `locked`: the rows of `$1` and `$2` (columns `cols`),
        // locked in key order (`mode`: FOR UPDATE or FOR SHARE).
        let lock_two = |cols: &str, mode: &str| {
            if config.citus {
                format!(
                    "lock1 AS (SELECT {cols} FROM {t} WHERE key = LEAST($1 COLLATE \"C\", $2) {mode}), \
                     lock2 AS (SELECT {cols} FROM {t} WHERE key = GREATEST($1 COLLATE \"C\", $2) {mode}), \
                     locked AS (SELECT {cols} FROM lock1 UNION ALL SELECT {cols} FROM lock2)"
                )
            } else {
                format!("locked AS (SELECT {cols} FROM {t} WHERE key IN ($1, $2) ORDER BY key {mode})")
            }
        };
        // One sweep batch on one Citus shard, as the text of a command for
        // `run_command_on_shards` (a string literal being built: `%1$s` is
        // the shard's name, and `$1`, the batch size, is spliced in as an
        // integer).
        let shard_batch = "DELETE FROM %1$s WHERE ctid = ANY(ARRAY(\
             SELECT ctid FROM %1$s WHERE expires_at <= statement_timestamp() ORDER BY expires_at LIMIT ' \
             || $1::bigint || ' FOR UPDATE SKIP LOCKED)) AND expires_at <= statement_timestamp()";
        let hidden = lease_hidden(config);
        let delete_batch = |bounds: &str, lock: &str| {
            format!(
                "WITH batch AS (SELECT key FROM {t} WHERE {bounds}{hidden} ORDER BY key LIMIT $3{lock}), \
                 d AS (DELETE FROM {t} WHERE key = ANY(ARRAY(SELECT key FROM batch)) RETURNING expires_at) \
                 SELECT (SELECT count(*) FROM batch), (SELECT max(key) FROM batch), \
                 (SELECT count(*) FROM d WHERE {live})"
            )
        };
        let page = " ORDER BY key LIMIT $3 OFFSET $4";
        let range = |select: &str, tail: &str| {
            let t = t.clone();
            let select = select.to_owned();
            let tail = tail.to_owned();
            let live = live.clone();
            let hidden = hidden.clone();
            move |bounds: &str| format!("{select} FROM {t} WHERE {bounds}{hidden} AND {live}{tail}")
        };

        Statements {
            snapshot: SnapshotSql::new(config, schema),
            coalesced: batch::CoalescedSql::new(&t, &live, &insert, &upsert, &purge_many, key_array),
            table: t.clone(),
            collection: format!("{schema}.{}", config.table_name),
            schema: schema.to_owned(),
            set: Sql::new(format!("{insert} {} {upsert}", values("NULL"))),
            set_ex: Sql::new(format!("{insert} {} {upsert}", values(expires))),
            set_nx: Sql::new(format!("{insert} {} {take_expired}", values("NULL"))),
            set_nx_ex: Sql::new(format!("{insert} {} {take_expired}", values(expires))),
            replace: Sql::new(format!(
                "UPDATE {t} SET value = $2, updated_at = {now} WHERE key = $1 AND {live}"
            )),
            get: ReadSql::build(
                &purge_one,
                format!("SELECT value FROM {t} WHERE key = $1 AND {live}"),
            ),
            exists: ReadSql::build(
                &purge_one,
                format!("SELECT EXISTS (SELECT 1 FROM {t} WHERE key = $1 AND {live})"),
            ),
            // A plain DELETE that says whether the removed row was live: no
            // CTE, which measured about 10 % slower on the server.
            // Citus refuses the clock in RETURNING: there the DELETE
            // returns the expiry and an outer SELECT (same shard) reads it.
            delete: Sql::new(if config.citus {
                format!("WITH d AS (DELETE FROM {t} WHERE key = $1 RETURNING expires_at) SELECT {live} FROM d")
            } else {
                format!("DELETE FROM {t} WHERE key = $1 RETURNING {live}")
            }),
            get_ex: Sql::new(format!(
                "{purge_one}UPDATE {t} SET expires_at = statement_timestamp() + $2 \
                 WHERE key = $1 AND {live} RETURNING value"
            )),
            expire_in: expire_family("statement_timestamp() + $2"),
            expire_at: expire_family(&at.replace("$3", "$2")),
            ttl_status: ReadSql::build(
                &purge_one,
                format!(
                    "SELECT expires_at IS NULL, expires_at - statement_timestamp() FROM {t} WHERE key = $1 AND {live}"
                ),
            ),
            expire_time: ReadSql::build(
                &purge_one,
                format!(
                    "SELECT (extract(epoch FROM expires_at) * 1000000)::bigint FROM {t} WHERE key = $1 AND {live}"
                ),
            ),
            get_persist: Sql::new(format!(
                "{purge_one}UPDATE {t} SET expires_at = NULL WHERE key = $1 AND {live} RETURNING value"
            )),
            strlen: ReadSql::build(
                &purge_one,
                format!("SELECT octet_length(value)::bigint FROM {t} WHERE key = $1 AND {live}"),
            ),
            ttl: ReadSql::build(
                &purge_one,
                format!("SELECT expires_at - statement_timestamp() FROM {t} WHERE key = $1 AND {live}"),
            ),
            persist: Sql::new(format!(
                "UPDATE {t} SET expires_at = NULL WHERE key = $1 AND expires_at IS NOT NULL AND {live}"
            )),
            set_many: Sql::new(format!("{insert} {} {upsert}", from_arrays("NULL"))),
            set_many_ex: Sql::new(format!("{insert} {} {upsert}", from_arrays(expires))),
            get_many: ReadSql::build(
                &purge_many,
                format!("SELECT key, value FROM {t} WHERE key = ANY({key_array}) AND {live}"),
            ),
            // Rows are locked in key order (the same order set_many writes
            // in), so two batches over the same keys cannot deadlock.
            // On Citus a locking subquery over several shards is refused;
            // there a multi-shard DELETE takes its shards' locks in shard
            // order itself.
            delete_many: Sql::new(if config.citus {
                format!(
                    "WITH d AS (DELETE FROM {t} WHERE key = ANY($1) RETURNING expires_at) \
                     SELECT count(*) FROM d WHERE {live}"
                )
            } else {
                format!(
                    "WITH d AS (DELETE FROM {t} WHERE key IN \
                     (SELECT key FROM {t} WHERE key = ANY({key_array}) ORDER BY key FOR UPDATE) RETURNING expires_at) \
                     SELECT count(*) FROM d WHERE {live}"
                )
            }),
            increment: Sql::new(counter("NULL", "kv.expires_at")),
            // INCRBY + EXPIRE NX as one step (the rate-limit pattern): the
            // TTL is set when the counter starts, never moved afterwards.
            increment_ex: Sql::new(counter(
                "statement_timestamp() + $3",
                "COALESCE(kv.expires_at, EXCLUDED.expires_at)",
            )),
            // INCRBYFLOAT, in exact decimal arithmetic (numeric): `$2` is the
            // increment's shortest decimal text. The stored text must be a
            // plain decimal float (sign, digits, point, exponent; no spaces,
            // no hex, no inf/nan), else it is made unparseable (22P02).
            increment_float: {
                let text = "encode(kv.value, 'escape')";
                Sql::new(format!(
                    "{insert} VALUES ($1, decode(trim_scale($2::numeric)::text, 'escape'), NULL, {now}, {now}) \
                     ON CONFLICT (key) DO UPDATE SET \
                     value = CASE WHEN {expired} THEN EXCLUDED.value ELSE decode(trim_scale((CASE WHEN {text} ~ \
                     '^[-+]?([0-9]+([.][0-9]*)?|[.][0-9]+)([eE][-+]?[0-9]+)?$' THEN {text} ELSE 'x' || {text} END)::numeric \
                     + $2::numeric)::text, 'escape') END, \
                     expires_at = CASE WHEN {expired} THEN NULL ELSE kv.expires_at END, \
                     created_at = CASE WHEN {expired} THEN EXCLUDED.created_at ELSE kv.created_at END, \
                     updated_at = EXCLUDED.updated_at \
                     RETURNING value"
                ))
            },
            cas_absent: Sql::new(format!(
                "{locked}, \
                 taken AS (UPDATE {t} SET value = $2, expires_at = NULL, created_at = {now}, updated_at = {now} \
                 FROM cur WHERE {t}.key = $1 AND {cur_expired} RETURNING 1){insert_if_absent} \
                 SELECT EXISTS (SELECT 1 FROM taken) OR {inserted}, \
                 (SELECT value FROM cur WHERE {cur_live})"
            )),
            cas_present: Sql::new(format!(
                "{locked}, \
                 upd AS (UPDATE {t} SET value = $3, updated_at = {now} \
                 FROM cur WHERE {t}.key = $1 AND {cur_live} AND cur.value = $2 RETURNING 1) \
                 SELECT EXISTS (SELECT 1 FROM upd), (SELECT value FROM cur WHERE {cur_live})"
            )),
            get_and_set: Sql::new(format!(
                "{locked}, \
                 upd AS (UPDATE {t} SET value = $2, expires_at = NULL, \
                 created_at = CASE WHEN {cur_expired} THEN {cur_now} ELSE {t}.created_at END, updated_at = {now} \
                 FROM cur WHERE {t}.key = $1 RETURNING 1){insert_if_absent} \
                 SELECT EXISTS (SELECT 1 FROM upd) OR {inserted}, \
                 (SELECT value FROM cur WHERE {cur_live})"
            )),
            set_with: {
                // Every `SET` option combination, one statement each, in the
                // order `set_with_index` reads them. The current row is
                // locked first, so NX/XX decide on the newest committed
                // version and GET reports exactly what was replaced; a key
                // inserted concurrently while absent makes `raced` true, and
                // the caller sends the statement again.
                let mut all = Vec::with_capacity(SetWhen::ALL.len() * EXPIRY_KINDS * 2);
                for when in SetWhen::ALL {
                    let (take_row, may_insert) = match when {
                        SetWhen::Always => ("TRUE".to_owned(), "TRUE"),
                        SetWhen::Absent => (cur_expired.clone(), "TRUE"),
                        SetWhen::Present => (cur_live.clone(), "FALSE"),
                    };
                    for kind in 0..EXPIRY_KINDS {
                        let (on_insert, on_update) = match kind {
                            0 => ("NULL".to_owned(), "NULL".to_owned()),
                            1 => (expires.to_owned(), expires.to_owned()),
                            2 => (at.to_owned(), at.to_owned()),
                            _ => (
                                "NULL".to_owned(),
                                format!("CASE WHEN {cur_live} THEN cur.expires_at END"),
                            ),
                        };
                        for previous in [false, true] {
                            let previous = if previous {
                                format!("(SELECT value FROM cur WHERE {cur_live})")
                            } else {
                                "NULL::bytea".to_owned()
                            };
                            all.push(Sql::new(format!(
                                "{locked}, \
                                 upd AS (UPDATE {t} SET value = $2, expires_at = {on_update}, \
                                 created_at = CASE WHEN {cur_expired} THEN {cur_now} ELSE {t}.created_at END, updated_at = {now} \
                                 FROM cur WHERE {t}.key = $1 AND {take_row} RETURNING 1){ins} \
                                 SELECT EXISTS (SELECT 1 FROM upd) OR {inserted}, \
                                 NOT EXISTS (SELECT 1 FROM cur) AND {may_insert} AND NOT {inserted}, \
                                 {previous}",
                                ins = ins(&on_insert, &format!(" AND {may_insert}")),
                            )));
                        }
                    }
                }
                all
            },
            // Citus mode: the insert the statements above leave to a
            // statement of their own, by expiry kind (`$3` as in `set_with`).
            insert_absent: [
                "NULL".to_owned(),
                expires.to_owned(),
                at.to_owned(),
                "NULL".to_owned(),
            ]
            .map(|expiry| {
                Sql::new(format!(
                    "{insert} {} ON CONFLICT (key) DO NOTHING RETURNING 1",
                    values(&expiry)
                ))
            }),
            // APPEND: creates the key, keeps the TTL; refuses (no row
            // returned) a result over the size limit `$3`. The second column
            // is the length before, from the statement's snapshot, for the
            // error message.
            //
            // Citus plans an INSERT inside a CTE as separate steps: there the
            // upsert is the whole statement (one shard), and the length
            // before is read by a second statement only when the append is
            // refused (`ops::append`), for the error message.
            append: Sql::new({
                let upsert = format!(
                    "{insert} VALUES ($1, $2, NULL, {now}, {now}) \
                     ON CONFLICT (key) DO UPDATE SET \
                     value = CASE WHEN {expired} THEN EXCLUDED.value ELSE kv.value || EXCLUDED.value END, \
                     expires_at = CASE WHEN {expired} THEN NULL ELSE kv.expires_at END, \
                     created_at = CASE WHEN {expired} THEN EXCLUDED.created_at ELSE kv.created_at END, \
                     updated_at = EXCLUDED.updated_at \
                     WHERE {expired} OR octet_length(kv.value) + octet_length(EXCLUDED.value) <= $3 \
                     RETURNING octet_length(value)::bigint"
                );
                if config.citus {
                    format!("{upsert}, NULL::bigint")
                } else {
                    format!(
                        "WITH up AS ({upsert}) \
                         SELECT (SELECT * FROM up), (SELECT octet_length(value)::bigint FROM {t} WHERE key = $1 AND {live})"
                    )
                }
            }),
            // RENAME and COPY [REPLACE]: two keys, so both rows are locked in
            // key order first (two renames in opposite directions then wait
            // for each other instead of deadlocking). The destination's
            // expiry is the source's (an absolute instant: the TTL moves).
            //
            // On Citus the two keys are generally on two shards, and a
            // locking read over several shards is refused: there each key is
            // locked by a single-shard read of its own, in key order
            // (`lock_two`). Citus runs such a statement as single-shard steps
            // in one distributed transaction (still one statement, atomic).
            rename: Sql::new(format!(
                "WITH {}, \
                 src AS (DELETE FROM {t} WHERE key = $1 AND {live} AND EXISTS (SELECT 1 FROM locked) \
                 RETURNING value, expires_at), \
                 ins AS ({insert} SELECT $2, value, expires_at, {now}, {now} FROM src \
                 ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at, \
                 created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at RETURNING 1) \
                 SELECT EXISTS (SELECT 1 FROM ins)",
                lock_two("key", "FOR UPDATE")
            )),
            // RENAMENX and MSETNX must be all or nothing. A target inserted
            // by a concurrent transaction after this statement's snapshot
            // would make the insert skip it (DO UPDATE ... WHERE expired)
            // while the rest went ahead; the last column then casts a
            // non-number to int, which fails (22P02) and rolls the whole
            // statement back. The caller reports that as "not done".
            rename_nx: Sql::new(format!(
                "WITH {}, \
                 src AS (DELETE FROM {t} WHERE key = $1 AND {live} AND EXISTS (SELECT 1 FROM locked) \
                 AND NOT EXISTS (SELECT 1 FROM locked WHERE key = $2 AND {locked_live}) \
                 RETURNING value, expires_at), \
                 ins AS ({insert} SELECT $2, value, expires_at, {now}, {now} FROM src \
                 ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at, \
                 created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at WHERE {expired} RETURNING 1) \
                 SELECT EXISTS (SELECT 1 FROM ins), \
                 CASE WHEN EXISTS (SELECT 1 FROM src) AND NOT EXISTS (SELECT 1 FROM ins) \
                 THEN ('pgkv: a concurrent writer took the target ' || (SELECT count(*) FROM src))::int END",
                lock_two("key, expires_at", "FOR UPDATE"),
                locked_live = x.live("locked.expires_at")
            )),
            set_many_nx: Sql::new(format!(
                "WITH existing AS (SELECT 1 FROM {t} WHERE key = ANY($1) AND {live}), \
                 ins AS ({insert} SELECT k, v, NULL, {now}, {now} FROM UNNEST($1::text[], $2::bytea[]) AS u(k, v) \
                 WHERE NOT EXISTS (SELECT 1 FROM existing) \
                 ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at, \
                 created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at WHERE {expired} RETURNING 1) \
                 SELECT EXISTS (SELECT 1 FROM ins), \
                 CASE WHEN NOT EXISTS (SELECT 1 FROM existing) AND (SELECT count(*) FROM ins) <> cardinality($1) \
                 THEN ('pgkv: a concurrent writer took a key ' || (SELECT count(*) FROM ins))::int END"
            )),
            copy: [false, true].map(|replace| {
                let take = if replace { "TRUE" } else { expired };
                Sql::new(format!(
                    "WITH {}, \
                     src AS (SELECT value, expires_at FROM {t} WHERE key = $1 AND {live} AND EXISTS (SELECT 1 FROM locked)), \
                     ins AS ({insert} SELECT $2, value, expires_at, {now}, {now} FROM src \
                     ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at, \
                     created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at WHERE {take} RETURNING 1) \
                     SELECT EXISTS (SELECT 1 FROM ins)",
                    lock_two("key", "FOR SHARE")
                ))
            }),
            // NULL when the removed row had expired.
            get_and_delete: Sql::new(if config.citus {
                format!(
                    "WITH d AS (DELETE FROM {t} WHERE key = $1 RETURNING value, expires_at) \
                     SELECT CASE WHEN {live} THEN value END FROM d"
                )
            } else {
                format!("DELETE FROM {t} WHERE key = $1 RETURNING CASE WHEN {live} THEN value END")
            }),
            // The sweep walks the partial expiry index in bounded batches and
            // skips rows other sessions hold; the outer DELETE re-checks the
            // expiry so a row extended meanwhile survives.
            sweeps: swept
                .iter()
                .map(|t| SweepSql {
                    batch: Sql::new(format!(
                        "DELETE FROM {t} WHERE {victims} AND expires_at <= {now}",
                        victims = victims(t, "TRUE")
                    )),
            // The background task's batch also takes the fleet lock, for this
            // statement's implicit transaction only: while one instance's
            // pass runs, the others' batches find the lock taken and stop.
            // (A session-level lock would stick to a pooled connection.)
                    fleet_batch: Sql::new(format!(
                        "WITH fleet AS (SELECT pg_try_advisory_xact_lock(hashtextextended($2, {CLEANUP_LOCK_SEED})) AS held), \
                         gone AS (DELETE FROM {t} WHERE {victims} AND expires_at <= {now} RETURNING 1) \
                         SELECT (SELECT held FROM fleet), (SELECT count(*) FROM gone)",
                        victims = victims(t, "(SELECT held FROM fleet)")
                    )),
                })
                .collect(),
            // Each shard runs the one-server batch on itself (`%1$s` is the
            // shard's name), all shards in parallel; the batch size is
            // spliced into the command as an integer.
            shard_sweep: Sql::new(format!(
                "SELECT COALESCE(sum(result::bigint) FILTER (WHERE success), 0)::bigint, \
                 COALESCE(max(result::bigint) FILTER (WHERE success), 0)::bigint, \
                 min(result) FILTER (WHERE NOT success) \
                 FROM run_command_on_shards({table}, 'WITH d AS ({shard_batch} RETURNING 1) \
                 SELECT count(*) FROM d')",
                table = quote_literal(&t)
            )),
            // `EXPLAIN` returns one row per line, and `run_command_on_shards`
            // one value per shard: YAML is the plan in one value.
            shard_explain: Sql::new(format!(
                "SELECT shardid, success, result \
                 FROM run_command_on_shards({table}, 'EXPLAIN (FORMAT YAML) {shard_batch}') \
                 ORDER BY shardid LIMIT 1",
                table = quote_literal(&t)
            )),
            citus: config.citus,
            keys: RangeSql::build(range("SELECT key", page)),
            scan: RangeSql::build(range("SELECT key, value", page)),
            count: RangeSql::build(range("SELECT count(*)", "")),
            // The pattern's regular expression is a parameter, applied to
            // the rows of the range (the column is COLLATE "C": ranges in
            // the expression compare code points).
            keys_matching: RangeSql::build(range("SELECT key", &format!(" AND key ~ $5{page}"))),
            scan_matching: RangeSql::build(range("SELECT key, value", &format!(" AND key ~ $5{page}"))),
            count_matching: RangeSql::build(range("SELECT count(*)", " AND key ~ $3")),
            delete_range: RangeSql::build(|bounds: &str| {
                format!(
                    "WITH d AS (DELETE FROM {t} WHERE {bounds}{hidden} RETURNING expires_at) \
                     SELECT count(*) FROM d WHERE {live}"
                )
            }),
            coord: CoordSql::new(config, schema, &t, &x),
            // One batch: the first `$3` rows of the range in key order that
            // no other session holds (`SKIP LOCKED`: never waits), deleted
            // by key, so a row updated since the statement began is still
            // found (through its newest version). It reports the rows it
            // locked (fewer than `$3`: the range is done), the last of their
            // keys (the next batch starts after it) and how many were live.
            //
            // Citus refuses a locking read over several shards: there the
            // batch is read without locks, and its DELETE (on the shards of
            // the batch's keys) waits for a row another session holds
            // instead of skipping it.
            delete_range_batch: RangeSql::build(|bounds: &str| {
                let lock = if config.citus { "" } else { " FOR UPDATE SKIP LOCKED" };
                delete_batch(bounds, lock)
            }),
            // `delete_prefix`'s last pass over what the batches left: the
            // same batch, waiting for rows other sessions hold (in key
            // order, bounded by `lock_timeout`). Never sent on Citus, whose
            // batches wait already: there it is the batch itself.
            delete_range_batch_waiting: RangeSql::build(|bounds: &str| {
                let lock = if config.citus { "" } else { " FOR UPDATE" };
                delete_batch(bounds, lock)
            }),
        }
    }
}

/// Every statement of `s`, named, in declaration order (both forms of a
/// read, every shape of a range).
pub(crate) fn every_statement(s: &Statements) -> Vec<(String, &Sql)> {
    let mut all: Vec<(String, &Sql)> = Vec::new();
    let plain = [
        ("set", &s.set),
        ("set_ex", &s.set_ex),
        ("set_nx", &s.set_nx),
        ("set_nx_ex", &s.set_nx_ex),
        ("replace", &s.replace),
        ("delete", &s.delete),
        ("get_ex", &s.get_ex),
        ("get_persist", &s.get_persist),
        ("persist", &s.persist),
        ("set_many", &s.set_many),
        ("set_many_ex", &s.set_many_ex),
        ("delete_many", &s.delete_many),
        ("increment", &s.increment),
        ("increment_ex", &s.increment_ex),
        ("increment_float", &s.increment_float),
        ("cas_absent", &s.cas_absent),
        ("cas_present", &s.cas_present),
        ("get_and_set", &s.get_and_set),
        ("get_and_delete", &s.get_and_delete),
        ("append", &s.append),
        ("rename", &s.rename),
        ("rename_nx", &s.rename_nx),
        ("set_many_nx", &s.set_many_nx),
        ("copy", &s.copy[0]),
        ("copy (REPLACE)", &s.copy[1]),
        ("cleanup_batch", &s.sweeps[0].batch),
        ("cleanup_fleet_batch", &s.sweeps[0].fleet_batch),
        ("lock_acquire", &s.coord.lock_acquire),
        ("lock_release", &s.coord.lock_release),
        ("lock_extend", &s.coord.lock_extend),
        ("rate_fixed", &s.coord.rate_fixed),
        ("rate_gcra", &s.coord.rate_gcra),
        ("compute_read", &s.coord.compute_read),
        ("delete_if_equals", &s.coord.delete_if_equals),
        ("snapshot: begin_save", &s.snapshot.begin_save),
        ("snapshot: save_count", &s.snapshot.save_count),
        ("snapshot: save_copy", &s.snapshot.save_copy),
        ("snapshot: create_stage", &s.snapshot.create_stage),
        ("snapshot: load_copy", &s.snapshot.load_copy),
        ("snapshot: check_stage", &s.snapshot.check_stage),
        ("snapshot: clear", &s.snapshot.clear),
        ("snapshot: merge", &s.snapshot.merge),
        ("snapshot: restore_lock", &s.snapshot.restore_lock),
        ("snapshot: autosave_lock", &s.snapshot.autosave_lock),
        ("snapshot: any_live", &s.snapshot.any_live),
    ];
    for (name, read) in [
        ("get", &s.get),
        ("exists", &s.exists),
        ("ttl", &s.ttl),
        ("get_many", &s.get_many),
    ] {
        all.push((format!("{name} (purging)"), read.pick(true)));
        all.push((format!("{name} (read-only session)"), read.pick(false)));
    }
    all.extend(plain.into_iter().map(|(name, sql)| (name.to_owned(), sql)));
    if s.citus {
        // Sent in Citus mode only.
        for (name, sql) in ["insert_absent", "insert_absent EX", "insert_absent EXAT"]
            .into_iter()
            .zip(&s.insert_absent)
        {
            all.push((name.to_owned(), sql));
        }
    }
    for (i, sql) in s.set_with.iter().enumerate() {
        let when = SetWhen::ALL[i / (EXPIRY_KINDS * 2)];
        let expiry = ["no expiry", "EX", "EXAT", "KEEPTTL"][i / 2 % EXPIRY_KINDS];
        let get = if i % 2 == 1 { " GET" } else { "" };
        all.push((format!("set_with {when:?} {expiry}{get}"), sql));
    }
    for when in ExpireWhen::ALL {
        all.push((format!("expire {when:?}"), &s.expire_in[when.index()]));
        all.push((format!("expire_at {when:?}"), &s.expire_at[when.index()]));
    }
    for (name, range) in [
        ("keys", &s.keys),
        ("scan", &s.scan),
        ("count", &s.count),
        ("keys_matching", &s.keys_matching),
        ("scan_matching", &s.scan_matching),
        ("count_matching", &s.count_matching),
        ("delete_range", &s.delete_range),
        ("delete_range_batch", &s.delete_range_batch),
        ("delete_range_batch_waiting", &s.delete_range_batch_waiting),
    ] {
        for (inclusive, bounded) in [(true, true), (true, false), (false, true), (false, false)] {
            let shape = format!(
                "{name} (key {} $1{})",
                if inclusive { ">=" } else { ">" },
                if bounded { ", key < $2" } else { "" }
            );
            all.push((shape, range.pick(inclusive, bounded)));
        }
    }
    all
}
