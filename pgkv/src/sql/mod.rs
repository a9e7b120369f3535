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
use crate::config::{Config, TableType, TtlCleanupStrategy};

pub(crate) mod batch;
pub(crate) mod namespace;
pub(crate) mod near;
pub(crate) mod schema;

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

/// Serialises table creation between instances starting at once.
pub(crate) const DDL_LOCK_KEY: i64 = 7_305_983_471_152_380_418;

/// The DDL as one script for the simple protocol, which runs it as one
/// implicit transaction: the transaction-scoped advisory lock at its head
/// makes instances that start together take turns on the catalog.
/// `create_schema`: as in [`table_ddl`].
pub(crate) fn create_table_script(config: &Config, create_schema: bool) -> String {
    let mut script = format!("SELECT pg_advisory_xact_lock({DDL_LOCK_KEY});\n");
    for statement in table_ddl(config, create_schema) {
        script.push_str(&statement);
        script.push_str(";\n");
    }
    script
}

/// The DDL that creates a configured table and its expiry index, idempotently.
pub(crate) fn create_table_ddl(config: &Config) -> Vec<String> {
    table_ddl(config, true)
}

/// [`create_table_ddl`]; without `create_schema`, no `CREATE SCHEMA` for
/// the configured schema, which is known to exist (the statement would need
/// the database's CREATE privilege even then).
pub(crate) fn table_ddl(config: &Config, create_schema: bool) -> Vec<String> {
    let table = qualified_table(config.schema.as_deref(), &config.table_name);
    let unlogged = match config.table_type.unwrap_or_default() {
        TableType::Unlogged => "UNLOGGED ",
        TableType::Regular => "",
    };
    let mut ddl = Vec::new();
    if let Some(schema) = &config.schema
        && create_schema
    {
        ddl.push(format!("CREATE SCHEMA IF NOT EXISTS {}", quote_ident(schema)));
    }
    // PostgreSQL 15 refuses UNLOGGED on a partitioned table and would not
    // pass it on anyway: each partition is created UNLOGGED itself.
    let (parent_unlogged, partitioned) = match config.partitions {
        Some(_) => ("", " PARTITION BY HASH (key)"),
        None => (unlogged, ""),
    };
    ddl.push(format!(
        "CREATE {parent_unlogged}TABLE IF NOT EXISTS {table} (\n    \
         key        TEXT COLLATE \"C\" PRIMARY KEY,\n    \
         value      BYTEA NOT NULL,\n    \
         expires_at TIMESTAMPTZ,\n    \
         created_at TIMESTAMPTZ NOT NULL DEFAULT now(),\n    \
         updated_at TIMESTAMPTZ NOT NULL DEFAULT now()\n){partitioned}"
    ));
    if let Some(n) = config.partitions {
        for (i, partition) in partition_names(config.schema.as_deref(), &config.table_name, n)
            .into_iter()
            .enumerate()
        {
            ddl.push(format!(
                "CREATE {unlogged}TABLE IF NOT EXISTS {partition} PARTITION OF {table} \
                 FOR VALUES WITH (MODULUS {n}, REMAINDER {i})"
            ));
        }
    }
    // The expiry index is found by what it is, not by its name: a name like
    // `t_expires_at_idx` may already belong to another table's relation, and
    // `CREATE INDEX IF NOT EXISTS name` would then silently create nothing.
    // Left unnamed, PostgreSQL picks `<table>_expires_at_idx`, or that name
    // with a number when it is taken.
    let has_index = expiry_index_exists(&format!("'{table}'::regclass"));
    // The fencing-token counter: an ordinary (WAL-logged) sequence even when
    // the table is UNLOGGED, so a crash that empties the table cannot make
    // tokens go backwards.
    ddl.push(format!(
        "CREATE SEQUENCE IF NOT EXISTS {}",
        fence_sequence(config.schema.as_deref(), &config.table_name)
    ));
    ddl.push(format!(
        "DO $pgkv$ BEGIN\n    \
         IF NOT {has_index} THEN\n        \
         CREATE INDEX ON {table} (expires_at) WHERE expires_at IS NOT NULL;\n    \
         END IF;\n\
         END $pgkv$"
    ));
    // Distributed last, so the index is created with the shards; a table
    // that is already distributed is left as it is.
    if config.citus {
        ddl.push(format!(
            "SELECT create_distributed_table('{table}', 'key') WHERE NOT EXISTS \
             (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = '{table}'::regclass)"
        ));
    }
    ddl
}

/// The quoted names of the `n` hash partitions of `table` (`<table>_p<i>`),
/// in `schema` when there is one.
pub(crate) fn partition_names(schema: Option<&str>, table: &str, n: u32) -> Vec<String> {
    (0..n)
        .map(|i| qualified_table(schema, &format!("{table}_p{i}")))
        .collect()
}

/// SQL that is true when the table `regclass` has an index on `expires_at`
/// alone (the one the sweeps read).
fn expiry_index_exists(regclass: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM pg_index i JOIN pg_attribute a \
         ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] \
         WHERE i.indrelid = {regclass} AND i.indnatts = 1 AND a.attname = 'expires_at')"
    )
}

/// The start-up check, for the table `$2` in the schema `$1` (NULL: the
/// first user schema of `search_path` that holds such a table, else the
/// first user schema of `search_path`, where it would be created). A user
/// schema is any but the system's (`pg_catalog`, `information_schema`,
/// `pg_toast`, temporary schemas), so a table named like a catalog
/// (`pg_class`) is the store's own, never the system's.
///
/// It returns the table's persistence (`p` regular, `u` unlogged; NULL when
/// there is no such table), whether its expiry index exists, whether this
/// session is read-only (a read-only role or database, or a standby), the
/// schema chosen (NULL if there is none), its partition count (NULL: not
/// partitioned), whether the `citus` extension is installed, and whether
/// that schema exists. A partitioned table's persistence is its partitions'
/// (`p` if any is regular).
pub(crate) fn startup_check() -> String {
    let has_index = expiry_index_exists("c.oid");
    let partitions = "(SELECT p.relpersistence::text FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhrelid \
         WHERE i.inhparent = c.oid ORDER BY p.relpersistence LIMIT 1)";
    format!(
        "WITH candidate AS (SELECT n.oid, n.nspname::text AS name, s.pos \
         FROM unnest(CASE WHEN $1::text IS NULL THEN current_schemas(false) ELSE ARRAY[$1::name] END) \
         WITH ORDINALITY AS s(name, pos) JOIN pg_namespace n ON n.nspname = s.name \
         WHERE $1::text IS NOT NULL OR (n.nspname NOT IN ('pg_catalog', 'information_schema') \
         AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)')), \
         found AS (SELECT c.oid, c.relkind, c.relpersistence, k.name FROM candidate k \
         JOIN pg_class c ON c.relnamespace = k.oid AND c.relname = $2 AND c.relkind IN ('r', 'p') \
         ORDER BY k.pos LIMIT 1), \
         place AS (SELECT COALESCE((SELECT name FROM found), (SELECT name FROM candidate ORDER BY pos LIMIT 1), $1::text) AS name) \
         SELECT CASE WHEN c.relkind = 'p' THEN COALESCE({partitions}, c.relpersistence::text) \
         ELSE c.relpersistence::text END, {has_index}, current_setting('transaction_read_only') = 'on', \
         place.name, \
         CASE WHEN c.relkind = 'p' THEN (SELECT count(*) FROM pg_inherits i WHERE i.inhparent = c.oid) END, \
         EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus'), \
         EXISTS (SELECT 1 FROM pg_namespace n WHERE n.nspname = place.name) \
         FROM place LEFT JOIN found c ON TRUE"
    )
}

/// The pieces of SQL that differ between TTL strategies.
struct Expiry {
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
fn lease_hidden(config: &Config) -> String {
    if config.citus {
        format!(" AND key <> {}", quote_literal(crate::CLEANUP_LEASE_KEY))
    } else {
        String::new()
    }
}

/// A SQL string literal (the names in it passed `Config::validate` already).
fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Field `n` (1-based) of the space-separated text in the bytea column `col`.
fn field(col: &str, n: u8) -> String {
    format!("split_part(encode({col}, 'escape'), ' ', {n})")
}

/// The server's clock in microseconds since the Unix epoch (outside
/// `ON CONFLICT` only: it reads `statement_timestamp()`).
const NOW_MICROS: &str = "(extract(epoch FROM statement_timestamp()) * 1000000)::bigint";

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
    fn new(config: &Config, schema: &str, t: &str, x: &Expiry) -> CoordSql {
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

// ---------------------------------------------------------------------------
// Snapshots (`Store::save_snapshot`, `Store::load_snapshot`).
//
// These run on one connection inside one explicit transaction each, through
// the simple protocol for `COPY` (sqlx's `copy_out_raw`/`copy_in_raw` take
// text). They scan or fill the whole table, so the single-key Citus rules do
// not apply; the merge still takes the server's time in the `SELECT` list
// and refers to it as `EXCLUDED.*` inside `ON CONFLICT`.
// ---------------------------------------------------------------------------

/// The statements of a snapshot save and load for one table.
#[derive(Debug, Clone)]
pub(crate) struct SnapshotSql {
    /// One `REPEATABLE READ` snapshot for the count and the `COPY`: both see
    /// the same rows, and `now()` (the transaction's start) is the snapshot time.
    pub(crate) begin_save: Sql,
    /// Live rows at the snapshot time and that time, in microseconds since the Unix epoch.
    pub(crate) save_count: Sql,
    /// The live rows in PostgreSQL's binary `COPY` format.
    pub(crate) save_copy: Sql,
    pub(crate) begin_load: Sql,
    /// The staging table: the session's own, dropped at commit (or rollback).
    pub(crate) create_stage: Sql,
    pub(crate) load_copy: Sql,
    /// The staged rows the store's API would refuse: no key, an empty key,
    /// a key longer than `$1` bytes, no value or a value larger than `$2`
    /// bytes. Returns how many, and the first such key (by key order).
    pub(crate) check_stage: Sql,
    /// `LoadMode::Replace`: empties the table inside the load's transaction.
    pub(crate) clear: Sql,
    /// The one statement that moves the staged rows into the table: rows
    /// whose expiry has passed by the server's clock now are left out, and a
    /// live row already in the table is kept (it was written after the
    /// snapshot was taken). Returns the rows written, the rows left out as
    /// expired, and the server time in microseconds since the Unix epoch.
    pub(crate) merge: Sql,
    /// Warm restart: one starter at a time per table (`$1` is the table's
    /// `schema.table`), held until the load's transaction ends, so the
    /// others then find the table filled.
    pub(crate) restore_lock: Sql,
    /// The autosave task: one instance of the fleet at a time (`$1` is the
    /// table's `schema.table`); taken without waiting, inside the save's
    /// snapshot, and held until its file is in place.
    pub(crate) autosave_lock: Sql,
    /// Whether the table has any live row (warm restart's emptiness test,
    /// run after the lock is held, so it sees what an earlier starter committed).
    pub(crate) any_live: Sql,
    pub(crate) commit: Sql,
    pub(crate) rollback: Sql,
}

/// The staging table, always named through `pg_temp` so that no table of
/// the same name elsewhere on the `search_path` can stand in for it.
const SNAPSHOT_STAGE: &str = "pg_temp.pgkv_snapshot_stage";

/// Mixed into the hash of the table name that keys the warm-restart lock
/// (distinct from the cleanup task's).
const RESTORE_LOCK_SEED: i64 = 7_305_983_471_152_380_419;

/// Mixed into the hash of the table name that keys the autosave lock.
const AUTOSAVE_LOCK_SEED: i64 = 7_305_983_471_152_380_420;

/// Server time in microseconds since the Unix epoch (exact: `EXTRACT`
/// returns `numeric`).
fn epoch_micros(time: &str) -> String {
    format!("(EXTRACT(EPOCH FROM {time}) * 1000000)::bigint")
}

impl SnapshotSql {
    pub(crate) fn new(config: &Config, schema: &str) -> SnapshotSql {
        let t = qualified_table(Some(schema), &config.table_name);
        // A save filters on the transaction's `now()`, not the statement's
        // time, so the count and the COPY (two statements) agree exactly.
        let hidden = lease_hidden(config);
        let live_at_snapshot = match config.ttl_cleanup_strategy {
            TtlCleanupStrategy::Disabled => format!("TRUE{hidden}"),
            _ => format!("(expires_at IS NULL OR expires_at > now()){hidden}"),
        };
        let x = Expiry {
            strategy: config.ttl_cleanup_strategy,
            citus: config.citus,
        };
        let live = x.live("s.expires_at");
        let expired = x.conflict_expired();
        let now = "statement_timestamp()";
        SnapshotSql {
            begin_save: Sql::new("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY".to_owned()),
            save_count: Sql::new(format!(
                "SELECT count(*), {} FROM {t} WHERE {live_at_snapshot}",
                epoch_micros("now()")
            )),
            save_copy: Sql::new(format!(
                "COPY (SELECT key, value, expires_at FROM {t} WHERE {live_at_snapshot}) TO STDOUT (FORMAT binary)"
            )),
            begin_load: Sql::new("BEGIN".to_owned()),
            create_stage: Sql::new(
                "CREATE TEMP TABLE pgkv_snapshot_stage (key TEXT COLLATE \"C\", value BYTEA, \
                 expires_at TIMESTAMPTZ) ON COMMIT DROP"
                    .to_owned(),
            ),
            load_copy: Sql::new(format!(
                "COPY {SNAPSHOT_STAGE} (key, value, expires_at) FROM STDIN (FORMAT binary)"
            )),
            check_stage: Sql::new(format!(
                "SELECT count(*), min(left(key, 64)) FROM {SNAPSHOT_STAGE} WHERE key IS NULL OR key = '' \
                 OR octet_length(key) > $1 OR value IS NULL OR octet_length(value) > $2"
            )),
            clear: Sql::new(if hidden.is_empty() {
                format!("DELETE FROM {t}")
            } else {
                format!("DELETE FROM {t} WHERE TRUE{hidden}")
            }),
            merge: Sql::new(format!(
                "WITH ins AS (INSERT INTO {t} AS kv (key, value, expires_at, created_at, updated_at) \
                 SELECT s.key, s.value, s.expires_at, {now}, {now} FROM {SNAPSHOT_STAGE} s WHERE {live} \
                 ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at, \
                 created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at WHERE {expired} RETURNING 1) \
                 SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM {SNAPSHOT_STAGE} s WHERE NOT {live}), {}",
                epoch_micros(now)
            )),
            restore_lock: Sql::new(format!(
                "SELECT pg_advisory_xact_lock(hashtextextended($1, {RESTORE_LOCK_SEED}))"
            )),
            autosave_lock: Sql::new(format!(
                "SELECT pg_try_advisory_xact_lock(hashtextextended($1, {AUTOSAVE_LOCK_SEED}))"
            )),
            any_live: Sql::new(format!(
                "SELECT EXISTS (SELECT 1 FROM {t} WHERE {}{hidden})",
                x.live("expires_at")
            )),
            commit: Sql::new("COMMIT".to_owned()),
            rollback: Sql::new("ROLLBACK".to_owned()),
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
        ("snapshot: begin_load", &s.snapshot.begin_load),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_ident("kv"), "\"kv\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(qualified_table(Some("cache"), "items"), "\"cache\".\"items\"");
        assert_eq!(qualified_table(None, "items"), "\"items\"");
    }

    #[test]
    fn ddl_follows_the_table_type() {
        let unlogged = create_table_ddl(&Config::new("x"));
        assert!(unlogged.iter().any(|s| s.starts_with("CREATE UNLOGGED TABLE")));
        assert!(!unlogged.iter().any(|s| s.starts_with("CREATE SCHEMA")));
        let regular = create_table_ddl(&Config::new("x").table_type(TableType::Regular).schema("s"));
        assert!(regular.iter().any(|s| s.starts_with("CREATE TABLE")));
        assert!(regular[0].starts_with("CREATE SCHEMA IF NOT EXISTS \"s\""));
    }

    #[test]
    fn disabled_strategy_never_reads_the_clock_in_filters() {
        let s = Statements::new(
            &Config::new("x").ttl_cleanup_strategy(TtlCleanupStrategy::Disabled),
            "public",
        );
        assert!(!s.get.pick(true).text().contains("statement_timestamp"));
        let s = Statements::new(
            &Config::new("x").ttl_cleanup_strategy(TtlCleanupStrategy::OnRead),
            "public",
        );
        assert!(s.get.pick(true).text().starts_with("WITH purged AS (DELETE"));
        let s = Statements::new(
            &Config::new("x").ttl_cleanup_strategy(TtlCleanupStrategy::Manual),
            "public",
        );
        assert!(!s.get.pick(true).text().contains("DELETE"));
    }

    #[test]
    fn conflict_clauses_use_no_volatile_functions() {
        // The Citus rule: nothing but columns, EXCLUDED and parameters after ON CONFLICT.
        let s = Statements::new(&Config::new("x"), "public");
        for sql in [
            &s.set,
            &s.set_ex,
            &s.set_nx,
            &s.set_nx_ex,
            &s.set_many,
            &s.set_many_ex,
            &s.increment,
            &s.coord.lock_acquire,
            &s.coord.rate_fixed,
            &s.coord.rate_gcra,
        ] {
            let text = sql.text();
            let tail = &text[text.find("ON CONFLICT").expect("upsert")..];
            assert!(!tail.contains("statement_timestamp"), "{text}");
            assert!(!tail.contains("now()"), "{text}");
            assert!(!tail.contains("convert_"), "{text}");
        }
    }

    /// The checked-in text of every statement, per TTL strategy and table
    /// type (`pgkv/sql/*.sql`), so a reviewer reads each statement whole and
    /// sees its diff. `PGKV_SQL_OVERWRITE=1 cargo test -p pgkv sql` rewrites
    /// the files after a deliberate change.
    #[test]
    fn statements_match_the_checked_in_snapshot() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sql");
        let overwrite = std::env::var_os("PGKV_SQL_OVERWRITE").is_some();
        let mut stale = Vec::new();
        for (file, strategy) in [
            ("on_read", TtlCleanupStrategy::OnRead),
            ("manual", TtlCleanupStrategy::Manual),
            ("disabled", TtlCleanupStrategy::Disabled),
        ] {
            let config = Config::new("x").ttl_cleanup_strategy(strategy);
            let mut text = format!(
                "-- Every statement pgkv sends for a table \"public\".\"kv_store\" under\n\
                 -- TtlCleanupStrategy::{strategy:?}, as built by pgkv/src/sql.rs (generated:\n\
                 -- PGKV_SQL_OVERWRITE=1 cargo test -p pgkv sql). One statement per call.\n"
            );
            let statements = Statements::new(&config, "public");
            for (name, sql) in every_statement(&statements) {
                text.push_str(&format!("\n-- {name}\n{};\n", sql.text()));
            }
            // Batches of concurrent calls (never on Citus, so not in
            // `every_statement`, whose routing tests/citus checks).
            let batched = &statements.coalesced;
            for (name, sql) in [
                ("batched exists (purging)", batched.exists.pick(true)),
                ("batched exists (read-only session)", batched.exists.pick(false)),
                ("batched set / set_ex", &batched.write),
                ("batched delete", &batched.delete),
            ] {
                text.push_str(&format!("\n-- {name}\n{};\n", sql.text()));
            }
            for (kind, table_type) in [("unlogged", TableType::Unlogged), ("regular", TableType::Regular)] {
                let label = format!("{table_type:?}");
                let config = config.clone().table_type(table_type);
                if strategy == TtlCleanupStrategy::OnRead {
                    let ddl = format!(
                        "-- The script a store with the default schema runs to create its table\n\
                         -- (TableType::{label}); schema_sql prints the same DDL without the lock.\n{}",
                        create_table_script(&config, true)
                    );
                    check(
                        &dir.join(format!("create_{kind}.sql")),
                        &ddl,
                        overwrite,
                        &mut stale,
                    );
                }
            }
            check(&dir.join(format!("{file}.sql")), &text, overwrite, &mut stale);
        }
        // Scale-out: the DDL of a partitioned table and of a distributed
        // one, and what differs on Citus (the purges and the shard sweep).
        for (file, config, what) in [
            (
                "create_partitioned",
                Config::new("x").partitions(4),
                "Config::partitions(4)",
            ),
            (
                "create_citus",
                Config::new("x").citus(true),
                "Config::citus(true)",
            ),
        ] {
            let ddl = format!(
                "-- The DDL a store with {what} runs (one statement at a time on Citus);\n\
                 -- schema_sql prints the same.\n{}",
                create_table_ddl(&config)
                    .into_iter()
                    .map(|s| s + ";\n")
                    .collect::<String>()
            );
            check(&dir.join(format!("{file}.sql")), &ddl, overwrite, &mut stale);
        }
        let citus = Statements::new(&Config::new("x").citus(true), "public");
        let mut text = String::from(
            "-- Citus mode (TtlCleanupStrategy::OnRead): the statements that differ from on_read.sql.\n",
        );
        let plain = Statements::new(&Config::new("x"), "public");
        let before: std::collections::HashMap<String, String> = every_statement(&plain)
            .into_iter()
            .map(|(name, sql)| (name, sql.text().to_owned()))
            .collect();
        for (name, sql) in every_statement(&citus) {
            if before.get(&name).map(String::as_str) != Some(sql.text()) {
                text.push_str(&format!("\n-- {name}\n{};\n", sql.text()));
            }
        }
        text.push_str(&format!("\n-- shard_sweep\n{};\n", citus.shard_sweep.text()));
        check(&dir.join("citus_on_read.sql"), &text, overwrite, &mut stale);
        assert!(
            stale.is_empty(),
            "SQL changed: {stale:?}; review, then rerun with PGKV_SQL_OVERWRITE=1 to accept"
        );
    }

    fn check(path: &std::path::Path, want: &str, overwrite: bool, stale: &mut Vec<String>) {
        let have = std::fs::read_to_string(path).unwrap_or_default();
        if have == want {
            return;
        }
        if overwrite {
            std::fs::create_dir_all(path.parent().expect("a dir")).expect("create pgkv/sql");
            std::fs::write(path, want).expect("write the snapshot");
        } else {
            stale.push(path.display().to_string());
        }
    }
}
