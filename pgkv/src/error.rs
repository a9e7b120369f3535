//! The one error type of the crate, and the single place where SQLSTATE codes
//! are given a meaning.

use std::time::Duration;

/// `Result<T, pgkv::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in pgkv.
///
/// Callers rarely need to match variants: [`Error::is_not_found`] and
/// [`Error::is_recoverable`] answer the usual questions. Input errors
/// (the first group of variants) are raised before any SQL runs, so a
/// rejected call has changed nothing.
///
/// ```no_run
/// use std::time::Duration;
/// use pgkv::{Error, Store};
///
/// /// A read retried while the server restarts; reads are idempotent, so
/// /// even `OutcomeUnknown` may be retried (a write may not, blindly).
/// async fn read_retrying(store: &Store, key: &str) -> pgkv::Result<Option<Vec<u8>>> {
///     let mut attempts = 0;
///     loop {
///         match store.get(key).await {
///             Err(e) if e.is_recoverable() && attempts < 5 => {
///                 attempts += 1;
///                 tokio::time::sleep(Duration::from_millis(100 << attempts)).await;
///             }
///             other => return other,
///         }
///     }
/// }
///
/// # async fn demo(store: Store) {
/// match store.get_or_err("config").await {
///     Ok(bytes) => println!("{} bytes", bytes.len()),
///     Err(e) if e.is_not_found() => println!("no config yet"),
///     Err(Error::KeyTooLong { len, max, .. }) => println!("key of {len} bytes > {max}"),
///     Err(e) => eprintln!("error: {e}"), // Display carries the hints
/// }
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A key was the empty string.
    #[error("key is empty")]
    EmptyKey,

    /// A key (or scan bound) contained a NUL byte, which PostgreSQL `TEXT` cannot hold.
    #[error("key {key:?} contains a NUL byte")]
    KeyContainsNul {
        /// The offending key.
        key: String,
    },

    /// A key was longer than [`Config::max_key_length`](crate::Config::max_key_length).
    #[error("key is {len} bytes, longer than the limit of {max} (starts with {key_start:?})")]
    KeyTooLong {
        /// The first few characters of the key, enough to recognise it.
        key_start: String,
        /// The key's length in bytes.
        len: usize,
        /// The configured limit in bytes.
        max: usize,
    },

    /// A value was larger than [`Config::max_value_size`](crate::Config::max_value_size).
    #[error("value for key {key:?} is {size} bytes, larger than the limit of {max}")]
    ValueTooLarge {
        /// The key the value was meant for.
        key: String,
        /// The value's size in bytes.
        size: usize,
        /// The configured limit in bytes.
        max: usize,
    },

    /// A TTL was zero or longer than [`MAX_TTL`](crate::MAX_TTL).
    #[error("invalid TTL {ttl:?}: {reason}")]
    InvalidTtl {
        /// The TTL that was passed.
        ttl: Duration,
        /// Why it was rejected.
        reason: &'static str,
    },

    /// An absolute expiry time before 1970 or further ahead than
    /// [`MAX_TTL`](crate::MAX_TTL).
    #[error("invalid expiry time: {reason}")]
    InvalidExpiryTime {
        /// Why it was rejected.
        reason: &'static str,
    },

    /// `increment`/`decrement` met a value that is not a decimal integer
    /// (Redis's grammar: `0` or `-?[1-9][0-9]*`; no spaces, no `+`, no leading
    /// zeros, no `-0`).
    #[error("value of key {key:?} is not an integer")]
    NotAnInteger {
        /// The counter's key.
        key: String,
    },

    /// `increment_float` met a value that is not a decimal float (Redis's
    /// "value is not a valid float").
    #[error("value of key {key:?} is not a valid float")]
    NotAFloat {
        /// The key.
        key: String,
    },

    /// An integer operation would leave the range of `i64`, or a float
    /// increment is NaN or infinite.
    #[error("integer overflow on key {key:?}")]
    Overflow {
        /// The counter's key.
        key: String,
    },

    /// A value read as a string was not valid UTF-8.
    #[error("value of key {key:?} is not valid UTF-8")]
    InvalidUtf8 {
        /// The key that was read.
        key: String,
        /// Where the bytes stopped being UTF-8.
        #[source]
        source: std::string::FromUtf8Error,
    },

    /// A batch's keys and values together exceed
    /// [`MAX_BATCH_BYTES`](crate::MAX_BATCH_BYTES), more than PostgreSQL
    /// accepts in one statement; nothing was sent. Split the batch.
    #[error("batch is {size} bytes of keys and values, larger than the limit of {max}")]
    BatchTooLarge {
        /// The batch's size in bytes.
        size: usize,
        /// The limit in bytes.
        max: usize,
    },

    /// A glob given to [`ScanOptions::pattern`](crate::ScanOptions::pattern)
    /// cannot be read: a `[` class never closed by `]`, or a `\` with
    /// nothing after it to escape. (Redis reads past such a pattern's end
    /// instead; pgkv refuses it before any SQL is sent.)
    #[error("invalid pattern {pattern:?}: {reason}")]
    InvalidPattern {
        /// The pattern that was passed.
        pattern: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// A value could not be encoded to or decoded from JSON as the requested type.
    #[cfg(feature = "json")]
    #[error("value of key {key:?} does not convert to/from {type_name} as JSON")]
    Json {
        /// The key that was read or written.
        key: String,
        /// The Rust type involved.
        type_name: &'static str,
        /// What serde_json said.
        #[source]
        source: serde_json::Error,
    },

    /// A snapshot file could not be written or read: a missing file, a
    /// directory without write permission, a full disk. A failed save
    /// leaves the previous snapshot at that path as it was.
    #[error("snapshot file {path:?}: {source}")]
    SnapshotIo {
        /// The snapshot's path (a save writes `<path>.tmp` first).
        path: std::path::PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },

    /// A snapshot file was refused (truncated, corrupted, of an unknown
    /// format version, or of another table) before the table was touched.
    #[error("snapshot file {path:?} refused: {defect}")]
    InvalidSnapshot {
        /// The snapshot's path.
        path: std::path::PathBuf,
        /// What is wrong with it.
        defect: SnapshotDefect,
    },

    /// A value could not be encoded or decoded by a [`Codec`](crate::Codec)
    /// other than JSON (which reports [`Error::Json`]).
    #[error("value of key {key:?} does not convert to/from {type_name} with the {codec} codec")]
    Codec {
        /// The key that was read or written.
        key: String,
        /// The Rust type involved.
        type_name: &'static str,
        /// The codec's name ([`Codec::NAME`](crate::Codec::NAME)).
        codec: &'static str,
        /// What the codec said.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// The key does not exist (or has expired); see [`Error::is_not_found`].
    #[error("key {key:?} not found")]
    NotFound {
        /// The key that was looked up.
        key: String,
    },

    /// The [`Config`](crate::Config) is unusable; nothing was sent to the server.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),

    /// `auto_create_table(false)` was set and the table does not exist.
    #[error(
        "table {table} does not exist (auto_create_table is off: run the migrations or pgkv::schema_sql first)"
    )]
    TableMissing {
        /// The schema-qualified table name.
        table: String,
    },

    /// [`Config::citus`](crate::Config::citus) is on but the database has no
    /// `citus` extension; the store created nothing.
    #[error(
        "Config::citus is on, but the extension citus is not installed in this database \
         (CREATE EXTENSION citus on the coordinator, with citus in shared_preload_libraries); nothing was created"
    )]
    CitusMissing,

    /// Citus mode ([`Config::citus`](crate::Config::citus)): the operation
    /// has no form that works on a distributed table (namespaces rely on
    /// triggers, which Citus refuses there). Nothing was created or changed.
    #[error("{what} are not supported in Citus mode (Config::citus); nothing was created")]
    UnsupportedOnCitus {
        /// What was asked for, e.g. `"namespaces"`.
        what: &'static str,
    },

    /// Citus mode: a sweep's batch failed on at least one shard (a worker
    /// down, say); the shards that answered were swept. Recoverable: the
    /// next pass retries.
    #[error("the expiry sweep failed on a shard: {detail}")]
    ShardFailed {
        /// The first failing shard's error, as Citus reported it.
        detail: String,
    },

    /// The existing table is not of the [`TableType`](crate::TableType) the
    /// config asked for. Change the table (`ALTER TABLE ... SET LOGGED` or
    /// `SET UNLOGGED`, which rewrites it) or the config.
    #[error(
        "table {table} is {found:?} but the config asks for {wanted:?}; change it with ALTER TABLE {table} SET {hint}, or leave table_type unset to use it as it is"
    )]
    TableTypeMismatch {
        /// The schema-qualified table name.
        table: String,
        /// What the table is.
        found: crate::TableType,
        /// What the config asked for.
        wanted: crate::TableType,
        /// `LOGGED` or `UNLOGGED`: what `ALTER TABLE ... SET` needs.
        hint: &'static str,
    },

    /// The server could not be reached.
    #[error("could not connect to the server at {host}:{port}: {source}")]
    Connect {
        /// The host the URL names.
        host: String,
        /// The port.
        port: u16,
        /// What the driver reported.
        #[source]
        source: sqlx::Error,
    },

    /// [`Store::close`](crate::Store::close) was called: the store takes no more calls.
    #[error("the store has been closed")]
    Closed,

    /// No connection became free within [`Config::acquire_timeout`](crate::Config::acquire_timeout).
    #[error("no database connection became available within the acquire timeout")]
    PoolTimedOut,

    /// The server cancelled the statement (`statement_timeout`, `lock_timeout`,
    /// or an administrator's `pg_cancel_backend`).
    #[error("statement cancelled by the server: {source}")]
    Timeout {
        /// The database error (SQLSTATE 57014 or 55P03).
        #[source]
        source: sqlx::Error,
    },

    /// The connection was lost while a write was in flight: it may or may not
    /// have been applied. pgkv never retries such a call by itself.
    #[error("connection lost while the statement was in flight; its outcome is unknown: {source}")]
    OutcomeUnknown {
        /// What the driver reported.
        #[source]
        source: sqlx::Error,
    },

    /// A read-modify-write lost its race with concurrent writers of the same
    /// key too many times in a row; recoverable.
    #[error("key {key:?} is too contended: gave up after repeated races")]
    Contended {
        /// The contended key.
        key: String,
    },

    /// A statement inside the transaction failed, so PostgreSQL aborted the
    /// whole transaction; `commit` rolled it back instead.
    #[error("the transaction was aborted by an earlier error and has been rolled back")]
    TransactionAborted,

    /// The server answered the way a connection pooler in transaction mode
    /// does (PgBouncer, Supavisor, RDS Proxy): a prepared statement of this
    /// connection is missing (SQLSTATE `26000`) or another one holds its
    /// name (`42P05`), because consecutive transactions ran on different
    /// server connections. Set
    /// [`Config::transaction_pooler`](crate::Config::transaction_pooler).
    /// Nothing was written by the failed statement; the connection is closed.
    #[error(
        "the server is reached through a connection pooler in transaction mode (PgBouncer, Supavisor, \
         RDS Proxy), which does not keep prepared statements between transactions: set \
         Config::transaction_pooler(true) ({source})"
    )]
    PoolerNeedsSwitch {
        /// The database error (SQLSTATE 26000 or 42P05).
        #[source]
        source: sqlx::Error,
    },

    /// No namespace of this name (or it was deleted while this handle was
    /// in use: a namespace created again under the same name is a new one).
    #[error("namespace {name:?} does not exist")]
    NamespaceMissing {
        /// The namespace's name.
        name: String,
    },

    /// `create_namespace` with a name already taken.
    #[error("namespace {name:?} already exists")]
    NamespaceExists {
        /// The namespace's name.
        name: String,
    },

    /// A write to a namespace with [`LimitPolicy::Reject`](crate::LimitPolicy::Reject)
    /// would have taken it past a limit; it wrote nothing.
    #[error("namespace {namespace:?} is full: the write would exceed its {limit} of {max}")]
    LimitExceeded {
        /// The namespace's name.
        namespace: String,
        /// `"max_keys"` or `"max_bytes"`.
        limit: &'static str,
        /// The limit.
        max: u64,
    },

    /// A lock or rate-limiter command met a key holding something else (a
    /// value written by another command); nothing was changed.
    #[error("key {key:?} holds a value that is not {expected}")]
    WrongKind {
        /// The key.
        key: String,
        /// What the command expected to find there.
        expected: &'static str,
    },

    /// The sequence that hands out fencing tokens does not exist (a table
    /// created before pgkv had locks, with `auto_create_table(false)`).
    #[error(
        "the fencing-token sequence {sequence} does not exist: run the migrations or pgkv::schema_sql, or allow auto_create_table"
    )]
    FenceSequenceMissing {
        /// The sequence's qualified name.
        sequence: String,
    },

    /// A rate limit that cannot be enforced (a zero period, a rate too high
    /// for microsecond resolution, a zero burst, or numbers that overflow).
    #[error("invalid rate limit: {reason}")]
    InvalidRateLimit {
        /// Why it was rejected.
        reason: &'static str,
    },

    /// The loader of a get-or-compute failed; its error is shared by every
    /// caller that waited for it, and nothing was cached.
    #[error("the loader for key {key:?} failed: {source}")]
    LoaderFailed {
        /// The key being computed.
        key: String,
        /// The loader's error.
        #[source]
        source: std::sync::Arc<dyn std::error::Error + Send + Sync>,
    },

    /// Any other error from the database or the driver.
    #[error(transparent)]
    Database(sqlx::Error),
}

/// Why a snapshot file was refused. The table is never touched when a file
/// is refused for one of these reasons.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotDefect {
    /// The file does not start with pgkv's snapshot magic bytes.
    #[error("not a pgkv snapshot (wrong magic bytes)")]
    NotASnapshot,
    /// The file was written by a format version this build does not read.
    #[error("format version {found} is not supported (this build reads version {supported})")]
    UnsupportedVersion {
        /// The version in the file.
        found: u16,
        /// The version this build reads.
        supported: u16,
    },
    /// The file ends before its header or payload does.
    #[error("truncated: {found} bytes of payload where the header promises {expected}")]
    Truncated {
        /// Payload bytes the header announces (0 when the header itself is
        /// cut short).
        expected: u64,
        /// Payload bytes present (0 when the header itself is cut short).
        found: u64,
    },
    /// The file has bytes after the payload the header announces.
    #[error("unexpected bytes after the payload")]
    TrailingData,
    /// The header's own checksum does not match.
    #[error("the header is corrupted (checksum mismatch)")]
    HeaderCorrupted,
    /// The payload's checksum does not match the header's.
    #[error("the payload is corrupted (checksum {found:#010x}, header says {expected:#010x})")]
    ChecksumMismatch {
        /// The checksum in the header.
        expected: u32,
        /// The checksum of the bytes read.
        found: u32,
    },
    /// The snapshot is of another table.
    #[error("the snapshot is of table {found}, not {expected}")]
    OtherTable {
        /// The table named in the file (`schema.table`).
        found: String,
        /// The store's table (`schema.table`).
        expected: String,
    },
    /// The payload holds rows the store would refuse: a missing or empty
    /// key, a key longer than
    /// [`max_key_length`](crate::Config::max_key_length), a missing value or
    /// one larger than [`max_value_size`](crate::Config::max_value_size).
    #[error("{count} rows break the store's key or value limits (the first: key {first:?})")]
    RowsOutOfLimits {
        /// How many rows.
        count: u64,
        /// The first such row's key (its first 64 characters; `None` when it has none).
        first: Option<String>,
    },
    /// The payload held a different number of rows than the header says.
    #[error("the payload holds {found} rows where the header says {expected}")]
    RowCountMismatch {
        /// Rows the header announces.
        expected: u64,
        /// Rows the payload held.
        found: u64,
    },
}

/// The server could not read a stored value as the type a statement asked
/// for (22P02): a counter that is not a number, a lock or limiter row that
/// holds something else.
pub(crate) fn is_wrong_kind(e: &sqlx::Error) -> bool {
    sqlstate(e) == Some("22P02")
}

/// A relation the statement names does not exist (42P01): a table or
/// sequence not created yet, or dropped.
pub(crate) fn is_missing_relation(e: &sqlx::Error) -> bool {
    sqlstate(e) == Some("42P01")
}

/// The server refused a write because the session is read-only (25006: a
/// read-only role or database, or a hot standby).
pub(crate) fn refused_as_read_only(e: &sqlx::Error) -> bool {
    sqlstate(e) == Some("25006")
}

impl Error {
    /// The server's errors about a key space of its own (a namespace's
    /// table), named: its limits (`KV001`, `KV002`, raised by its usage
    /// triggers) and its table gone (deleted, maybe re-created under the
    /// same name with a new table). Other errors are returned as they are.
    /// A relation the failed statement named does not exist (42P01).
    pub(crate) fn is_missing_relation(&self) -> bool {
        self.code() == Some("42P01")
    }

    pub(crate) fn in_key_space(self, name: &str, max_keys: Option<u64>, max_bytes: Option<u64>) -> Error {
        let limit = |limit: &'static str, max: Option<u64>| Error::LimitExceeded {
            namespace: name.to_owned(),
            limit,
            max: max.unwrap_or(0),
        };
        let gone = || Error::NamespaceMissing {
            name: name.to_owned(),
        };
        let database = match &self {
            Error::Database(db) | Error::OutcomeUnknown { source: db } => db,
            // Its table's fencing sequence is gone with the table.
            Error::FenceSequenceMissing { .. } => return gone(),
            _ => return self,
        };
        match sqlstate(database) {
            Some("KV001") => limit("max_keys", max_keys),
            Some("KV002") => limit("max_bytes", max_bytes),
            Some("42P01") => gone(),
            // A statement that waited for `DROP TABLE` finds the relation
            // gone by its OID.
            Some("XX000") if database.to_string().contains("could not open relation with OID") => gone(),
            _ => self,
        }
    }
}

impl Error {
    /// True when the key was absent: [`Store::get_or_err`](crate::Store::get_or_err).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound { .. })
    }

    /// True when trying again may succeed: refused or reset connections, I/O
    /// errors, SQLSTATE class 08, `57P01`–`57P03` (server shutting down or
    /// restarting), pool time-outs, serialization failures (`40001`) and
    /// deadlocks (`40P01`).
    ///
    /// [`Error::OutcomeUnknown`] is recoverable too, but a write that failed
    /// that way may already have happened: retry only idempotent calls.
    pub fn is_recoverable(&self) -> bool {
        match self {
            Error::PoolTimedOut
            | Error::OutcomeUnknown { .. }
            | Error::Contended { .. }
            | Error::ShardFailed { .. }
            | Error::Connect { .. } => true,
            Error::Database(e) => is_recoverable_sqlx(e),
            _ => false,
        }
    }

    /// The SQLSTATE code when the server reported one (e.g. `"40001"`).
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Database(e)
            | Error::Timeout { source: e }
            | Error::OutcomeUnknown { source: e }
            | Error::PoolerNeedsSwitch { source: e }
            | Error::Connect { source: e, .. } => sqlstate(e),
            _ => None,
        }
    }

    /// True when the error means the connection itself is gone, so the
    /// connection must not be reused and its idle siblings are suspect.
    pub(crate) fn is_connection_loss(&self) -> bool {
        match self {
            // The connection's statement cache no longer matches the
            // server connection behind the pooler: it must not be reused.
            Error::OutcomeUnknown { .. } | Error::PoolerNeedsSwitch { .. } => true,
            Error::Database(e) => is_connection_loss_sqlx(e),
            _ => false,
        }
    }

    pub(crate) fn key_too_long(key: &str, max: usize) -> Error {
        Error::KeyTooLong {
            key_start: key.chars().take(32).collect(),
            len: key.len(),
            max,
        }
    }
}

pub(crate) fn sqlstate(e: &sqlx::Error) -> Option<&str> {
    match e {
        sqlx::Error::Database(db) => match db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
            Some(pg) => Some(pg.code()),
            None => db
                .try_downcast_ref::<SharedDbError>()
                .and_then(|shared| shared.code.as_deref()),
        },
        _ => None,
    }
}

fn is_connection_loss_sqlx(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::Protocol(_) | sqlx::Error::WorkerCrashed => {
            true
        }
        sqlx::Error::Database(_) => matches!(
            sqlstate(e),
            Some(code) if code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03")
        ),
        _ => false,
    }
}

fn is_recoverable_sqlx(e: &sqlx::Error) -> bool {
    is_connection_loss_sqlx(e)
        || matches!(e, sqlx::Error::PoolTimedOut)
        || matches!(sqlstate(e), Some("40001" | "40P01"))
}

/// Classifies the error of a statement that changes nothing (a read, a
/// `BEGIN`, a check): a lost connection stays a recoverable `Database` error.
pub(crate) fn read_error(e: sqlx::Error) -> Error {
    classify(e, false)
}

/// Classifies the error of a statement that may have changed data (a write,
/// a `COMMIT`): a connection lost before the reply is
/// [`Error::OutcomeUnknown`], since the write may or may not have happened.
pub(crate) fn write_error(e: sqlx::Error) -> Error {
    classify(e, true)
}

fn classify(e: sqlx::Error, in_flight_write: bool) -> Error {
    match e {
        sqlx::Error::PoolTimedOut => Error::PoolTimedOut,
        _ if matches!(sqlstate(&e), Some("57014" | "55P03")) => Error::Timeout { source: e },
        // Statement names are only ever sent by sqlx's own statement cache,
        // so these two mean the session changed under it: a pooler.
        _ if matches!(sqlstate(&e), Some("26000" | "42P05")) => Error::PoolerNeedsSwitch { source: e },
        _ if in_flight_write && is_connection_loss_sqlx(&e) => Error::OutcomeUnknown { source: e },
        _ => Error::Database(e),
    }
}

/// Counter errors: the SQL casts the stored text to `bigint`, so these two
/// SQLSTATEs name the user's mistake rather than ours.
pub(crate) fn classify_counter(e: sqlx::Error, key: &str) -> Error {
    match sqlstate(&e) {
        Some("22P02") => Error::NotAnInteger { key: key.to_owned() },
        Some("22003") => Error::Overflow { key: key.to_owned() },
        _ => write_error(e),
    }
}

/// A database error shared by every call one batched statement carried
/// (see `coalesce`): the server's SQLSTATE, message and error kind, which
/// are what pgkv and its callers classify by. sqlx's own error types cannot
/// be cloned, so every caller but one gets this copy.
#[derive(Debug)]
pub(crate) struct SharedDbError {
    message: String,
    code: Option<String>,
    kind: sqlx::error::ErrorKind,
    constraint: Option<String>,
    table: Option<String>,
}

impl std::fmt::Display for SharedDbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SharedDbError {}

impl sqlx::error::DatabaseError for SharedDbError {
    fn message(&self) -> &str {
        &self.message
    }

    fn code(&self) -> Option<std::borrow::Cow<'_, str>> {
        self.code.as_deref().map(std::borrow::Cow::Borrowed)
    }

    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }

    fn constraint(&self) -> Option<&str> {
        self.constraint.as_deref()
    }

    fn table(&self) -> Option<&str> {
        self.table.as_deref()
    }

    fn kind(&self) -> sqlx::error::ErrorKind {
        match self.kind {
            sqlx::error::ErrorKind::UniqueViolation => sqlx::error::ErrorKind::UniqueViolation,
            sqlx::error::ErrorKind::ForeignKeyViolation => sqlx::error::ErrorKind::ForeignKeyViolation,
            sqlx::error::ErrorKind::NotNullViolation => sqlx::error::ErrorKind::NotNullViolation,
            sqlx::error::ErrorKind::CheckViolation => sqlx::error::ErrorKind::CheckViolation,
            sqlx::error::ErrorKind::ExclusionViolation => sqlx::error::ErrorKind::ExclusionViolation,
            _ => sqlx::error::ErrorKind::Other,
        }
    }
}

/// A copy of a driver error that keeps what classifies it: the variant, the
/// SQLSTATE and message of a database error, the kind and text of an I/O
/// error. Anything else becomes a protocol error with the same text.
fn replicate_sqlx(e: &sqlx::Error) -> sqlx::Error {
    match e {
        sqlx::Error::Database(db) => sqlx::Error::Database(Box::new(SharedDbError {
            message: db.message().to_owned(),
            code: db.code().map(|code| code.into_owned()),
            kind: db.kind(),
            constraint: db.constraint().map(str::to_owned),
            table: db.table().map(str::to_owned),
        })),
        sqlx::Error::Io(io) => sqlx::Error::Io(std::io::Error::new(io.kind(), io.to_string())),
        sqlx::Error::PoolTimedOut => sqlx::Error::PoolTimedOut,
        sqlx::Error::PoolClosed => sqlx::Error::PoolClosed,
        sqlx::Error::WorkerCrashed => sqlx::Error::WorkerCrashed,
        sqlx::Error::RowNotFound => sqlx::Error::RowNotFound,
        other => sqlx::Error::Protocol(other.to_string()),
    }
}

impl Error {
    /// A copy of an error that several calls share (the failure of one
    /// batched statement that carried them all), of the same variant and,
    /// for database errors, the same SQLSTATE and message. Only the errors
    /// a statement can end with are copied field for field; any other is
    /// carried as its text.
    pub(crate) fn replicate(&self) -> Error {
        match self {
            Error::Database(e) => Error::Database(replicate_sqlx(e)),
            Error::Timeout { source } => Error::Timeout {
                source: replicate_sqlx(source),
            },
            Error::OutcomeUnknown { source } => Error::OutcomeUnknown {
                source: replicate_sqlx(source),
            },
            Error::PoolerNeedsSwitch { source } => Error::PoolerNeedsSwitch {
                source: replicate_sqlx(source),
            },
            Error::Connect { host, port, source } => Error::Connect {
                host: host.clone(),
                port: *port,
                source: replicate_sqlx(source),
            },
            Error::Closed => Error::Closed,
            Error::PoolTimedOut => Error::PoolTimedOut,
            Error::TransactionAborted => Error::TransactionAborted,
            Error::InvalidConfig(text) => Error::InvalidConfig(text.clone()),
            Error::TableMissing { table } => Error::TableMissing { table: table.clone() },
            Error::FenceSequenceMissing { sequence } => Error::FenceSequenceMissing {
                sequence: sequence.clone(),
            },
            other => Error::Database(sqlx::Error::Protocol(other.to_string())),
        }
    }
}
