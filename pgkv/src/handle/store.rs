//! `Store`: the shared handle users hold, and how it starts up.

use std::fmt;
use std::sync::Arc;

use sqlx::PgPool;

use crate::base::input::Limits;
use crate::call::Shared;
use crate::call::batching::{Batcher, BatchingStats};
use crate::call::near::{Near, NearCache, NearCacheStats};
use crate::config::{Config, TableType, TtlCleanupStrategy};
use crate::conn::session::Session;
use crate::conn::{Connections, PoolLimits, open_connections};
use crate::error::{Error, Result, read_error, write_error};
use crate::handle::transaction::Transaction;
use crate::sql::near::NearSql;
use crate::sql::{Statements, create_table_statements, qualified_table, startup_check};

/// A key/value store in one PostgreSQL table.
///
/// `Store` is cheap to clone (an `Arc`): create one at startup and share it
/// between tasks. Each call checks out one pooled connection and runs one
/// statement on it; no call pings the server first.
///
/// ```no_run
/// # async fn demo() -> pgkv::Result<()> {
/// use std::time::Duration;
/// use pgkv::Store;
///
/// let store = Store::connect("postgres://localhost/app").await?;
/// store.set("greeting", "hello").await?;
/// assert_eq!(store.get_string("greeting").await?.as_deref(), Some("hello"));
/// store.set_ex("session:42", b"{}", Duration::from_secs(1800)).await?;
/// let visits = store.increment("visits", 1).await?;
/// # let _ = visits;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Store {
    pub(crate) shared: Arc<Shared>,
}

impl Store {
    /// Connects with the default [`Config`] for `url`, creating the
    /// `kv_store` table in the current schema if it does not exist.
    pub async fn connect(url: &str) -> Result<Store> {
        Store::with_config(Config::new(url)).await
    }

    /// Validates `config`, connects (the store opens up to `max_connections`
    /// connections of its own, as calls need them) and prepares the table.
    pub async fn with_config(config: Config) -> Result<Store> {
        config.validate()?;
        let conns = open_connections(&config)?;
        Store::start(conns, &config).await
    }

    /// Uses an application's existing pool. `config`'s URL and application
    /// name are not used (start from [`Config::default`], which has none);
    /// the store checks out at most `max_connections` of the pool's
    /// connections at once (waiting at most `acquire_timeout`), and hands
    /// idle ones back to the pool after about a second.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use pgkv::{Config, Store};
    ///
    /// let pool = sqlx::PgPool::connect("postgres://app@localhost/app").await?;
    /// let store = Store::from_pool(pool.clone(), Config::default().table_name("cache")).await?;
    /// store.set("k", "v").await?;
    /// // The application keeps using its pool as before.
    /// let n: i64 = sqlx::query_scalar("SELECT count(*) FROM cache").fetch_one(&pool).await?;
    /// # let _ = n;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn from_pool(pool: PgPool, config: Config) -> Result<Store> {
        config.validate()?;
        let conns = Connections::borrow(pool, PoolLimits::of(&config))?;
        Store::start(conns, &config).await
    }

    async fn start(conns: Arc<Connections>, config: &Config) -> Result<Store> {
        let Prepared {
            schema,
            read_only,
            partitions,
        } = prepare_table(&conns, config).await?;
        let limits = Limits {
            max_key_length: config.max_key_length,
            max_value_size: config.max_value_size,
        };
        let purge_on_read = config.ttl_cleanup_strategy == TtlCleanupStrategy::OnRead && !read_only;
        let mut shared = Shared::new(
            conns,
            Statements::new(
                &Config {
                    partitions,
                    ..config.clone()
                },
                &schema,
            ),
            limits,
            i64::from(config.cleanup_batch_size),
            purge_on_read,
        );
        let _ = shared.conns.collection.set(shared.sql.collection.clone());
        // On Citus a batch would fan out over the shards: calls stay single.
        if config.batch_concurrent_calls && !config.citus {
            shared.coalescer = Some(Batcher::default());
        }
        if let Some(near) = &config.near_cache {
            shared.near = Some(install_near_cache(&shared, config, near).await?);
        }
        Ok(Store {
            shared: Arc::new(shared),
        })
    }

    /// Connection counts right now: see [`PoolStatus`].
    pub fn status(&self) -> PoolStatus {
        let (size, idle, waiting, max) = self.shared.conns.status();
        PoolStatus {
            size,
            idle,
            waiting,
            max,
        }
    }

    /// Closes the store gracefully: waits for the calls and transactions in
    /// flight (on every clone of this handle) to give their connections
    /// back, then closes every connection, including [`pool`](Self::pool)'s
    /// if the store made it. Later calls fail with [`Error::Closed`]. A store
    /// made by [`from_pool`](Self::from_pool) returns its connections to
    /// your pool and leaves the pool open.
    ///
    /// On a namespace's handle ([`Store::namespace`]) it does nothing: the
    /// connections belong to the store the handle came from.
    pub async fn close(&self) {
        if self.shared.scope.is_some() {
            return;
        }
        self.shared.conns.close().await;
    }

    /// A sqlx pool on the same database, for queries of your own.
    ///
    /// For a store made by [`connect`](Self::connect) or
    /// [`with_config`](Self::with_config) it is a separate pool (same
    /// options, size and timeouts), made on the first call of this method
    /// and connecting only when used, so your queries and the store's calls
    /// never wait for each other. For [`from_pool`](Self::from_pool) it is
    /// the pool you passed in.
    ///
    /// It is a plain sqlx pool: behind a transaction-mode pooler
    /// ([`Config::transaction_pooler`](crate::Config::transaction_pooler))
    /// its prepared statements meet the problem that switch solves for the
    /// store, so run your queries there inside explicit transactions and
    /// with `.persistent(false)`, or through a direct connection.
    pub fn pool(&self) -> &PgPool {
        self.shared.conns.pool()
    }

    /// What the near-cache has done (`None` without
    /// [`Config::near_cache`](crate::Config::near_cache)).
    pub fn near_cache_stats(&self) -> Option<NearCacheStats> {
        self.shared.near.as_ref().map(|near| near.stats())
    }

    /// What batching of concurrent calls has done (`None` when it is off:
    /// [`Config::batch_concurrent_calls`](crate::Config::batch_concurrent_calls)).
    pub fn batching_stats(&self) -> Option<BatchingStats> {
        self.shared.coalescer.as_ref().map(|c| c.stats())
    }

    /// Starts a transaction on one pooled connection. See [`Transaction`].
    pub async fn begin(&self) -> Result<Transaction> {
        Transaction::begin(self.shared.clone()).await
    }

    /// Runs `f` in one transaction: committed if it returns `Ok`, rolled back
    /// (and the error returned) if it returns `Err`.
    ///
    /// ```no_run
    /// # async fn demo(store: pgkv::Store) -> pgkv::Result<()> {
    /// let moved = store
    ///     .transaction(async |tx| {
    ///         let value = tx.get_and_delete("inbox:1").await?;
    ///         if let Some(v) = &value {
    ///             tx.set("archive:1", v).await?;
    ///         }
    ///         Ok(value.is_some())
    ///     })
    ///     .await?;
    /// # let _ = moved;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn transaction<T, F>(&self, f: F) -> Result<T>
    where
        F: AsyncFnOnce(&mut Transaction) -> Result<T>,
    {
        let mut tx = self.begin().await?;
        match f(&mut tx).await {
            Ok(value) => {
                tx.commit().await?;
                Ok(value)
            }
            Err(e) => {
                // The closure's error is the one worth reporting. If the
                // rollback fails, the transaction's drop retries it in the
                // background (or closes the connection, which also rolls back).
                let _ = tx.rollback().await;
                Err(e)
            }
        }
    }
}

/// Installs the near-cache's trigger and prefixes and starts its listener.
async fn install_near_cache(shared: &Shared, config: &Config, near: &NearCache) -> Result<Arc<Near>> {
    let sql = NearSql::new(
        &shared.sql.schema,
        &config.table_name,
        &shared.sql.table,
        &shared.sql.collection,
        config.ttl_cleanup_strategy != TtlCleanupStrategy::Disabled,
    );
    // One transaction of its own (which also pins one server connection
    // behind a transaction-mode pooler): the prefixes must be in the table
    // when the triggers are built from it.
    let mut session = Session::begin(&shared.conns, "BEGIN").await?;
    session
        .execute(sqlx::AssertSqlSafe(sql.prepare.clone()), write_error)
        .await?;
    let added = sqlx::query(sql.add_prefixes.query())
        .bind(&near.prefixes)
        .execute(session.wire())
        .await
        .map(drop)
        .map_err(write_error);
    session.observe(&added);
    added?;
    session
        .execute(sqlx::AssertSqlSafe(sql.install.clone()), write_error)
        .await?;
    session.commit().await?;
    let options = match &near.listen_url {
        Some(url) => url
            .parse()
            .map_err(|e| Error::InvalidConfig(format!("near_cache: the listen URL does not parse: {e}")))?,
        None => shared.conns.connect_options(),
    };
    let near = Arc::new(Near::new(near, sql));
    near.spawn_listener(options);
    near.spawn_prober(shared.conns.clone());
    Ok(near)
}

/// What start-up learned about the table and the session.
struct Prepared {
    /// The schema the table is in.
    schema: String,
    read_only: bool,
    /// The partition count of the table as found (or as created).
    partitions: Option<u32>,
}

/// Checks the table (creating it and its expiry index if allowed).
///
/// The catalog is read first: `CREATE ... IF NOT EXISTS` would take a lock
/// that waits for every open transaction writing to the table, so an
/// instance starting next to busy ones would stall on it.
async fn prepare_table(conns: &Arc<Connections>, config: &Config) -> Result<Prepared> {
    let found = inspect_table(conns, config).await?;
    // A configured schema is used as it is (and created if missing); by
    // default, the first user schema of `search_path` (never a system one).
    let Some(schema) = found.schema.clone() else {
        return Err(Error::InvalidConfig(
            "no schema to put the table in: search_path names no user schema that exists \
             (system schemas such as pg_catalog are never used); set Config::schema"
                .into(),
        ));
    };
    let (persistence, has_index, read_only) = (found.kind, found.has_index, found.read_only);
    let table = qualified_table(Some(&schema), &config.table_name);
    if config.citus && !found.citus {
        return Err(Error::CitusMissing);
    }
    // Without Config::partitions an existing table is used as it is (its
    // partitions, if any, are swept one by one); with it, the layout must match.
    let partitions = match found.partitions {
        Some(n) => Some(u32::try_from(n).unwrap_or(u32::MAX)),
        None if persistence.is_some() => None,
        None => config.partitions,
    };
    let prepared = Prepared {
        schema,
        read_only,
        partitions,
    };
    if let (Some(found), Some(wanted)) = (persistence, config.table_type)
        && found != wanted
    {
        let hint = match wanted {
            TableType::Regular => "LOGGED",
            TableType::Unlogged => "UNLOGGED",
        };
        return Err(Error::TableTypeMismatch {
            table,
            found,
            wanted,
            hint,
        });
    }
    if persistence.is_some() && config.partitions.is_some() && partitions != config.partitions {
        let shape = |n: Option<u32>| match n {
            Some(n) => format!("hash-partitioned into {n}"),
            None => "not partitioned".to_owned(),
        };
        return Err(Error::InvalidConfig(format!(
            "table {table} is {}, but Config::partitions asks for a table {}",
            shape(partitions),
            shape(config.partitions),
        )));
    }
    if persistence.is_some() && (has_index || !config.auto_create_table) {
        if !has_index {
            tracing::warn!(
                target: "pgkv::conn",
                %table,
                "the table has no index on expires_at: expiry sweeps will scan the whole table"
            );
        }
        return Ok(prepared);
    }
    if !config.auto_create_table {
        return Err(Error::TableMissing { table });
    }
    // Created where the statements will look for it: qualified with the
    // schema chosen (unqualified, a name like `pg_class` would resolve into
    // `pg_catalog`). `CREATE SCHEMA` only for a configured schema that is
    // missing: it needs the database's CREATE privilege even when the
    // schema exists.
    let create_schema = !found.schema_exists;
    let create = Config {
        schema: Some(prepared.schema.clone()),
        ..config.clone()
    };
    // One statement at a time, in one transaction that starts with the DDL
    // lock: Citus passes each DDL statement's text on to the workers and
    // refuses a text holding several ("cannot insert multiple commands into
    // a prepared statement"). A failure midway leaves the session to roll
    // the transaction back.
    let mut session = Session::begin(conns, "BEGIN").await?;
    for statement in create_table_statements(&create, create_schema) {
        session
            .execute(sqlx::AssertSqlSafe(statement), read_error)
            .await?;
    }
    session.commit().await?;
    Ok(prepared)
}

/// The start-up check's answer.
struct Found {
    /// `None` if the table is missing.
    kind: Option<TableType>,
    has_index: bool,
    read_only: bool,
    /// Where the table is, or where it would be created.
    schema: Option<String>,
    /// Its partition count when it is partitioned.
    partitions: Option<i64>,
    /// The `citus` extension is installed.
    citus: bool,
    /// `schema` exists.
    schema_exists: bool,
}

async fn inspect_table(conns: &Arc<Connections>, config: &Config) -> Result<Found> {
    let mut conn = conns.lease().await?;
    conn.begin_command().await?;
    type Row = (
        Option<String>,
        bool,
        bool,
        Option<String>,
        Option<i64>,
        bool,
        bool,
    );
    let result = sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(startup_check()))
        .bind(config.schema.as_deref())
        .bind(&config.table_name)
        .fetch_one(conn.wire())
        .await
        .map_err(read_error);
    let (persistence, has_index, read_only, schema, partitions, citus, schema_exists) =
        conn.end_command(result).await?;
    let kind = persistence.map(|p| match p.as_str() {
        "u" => TableType::Unlogged,
        _ => TableType::Regular,
    });
    Ok(Found {
        kind,
        has_index,
        read_only,
        schema,
        partitions,
        citus,
        schema_exists,
    })
}

/// How many connections a [`Store`] holds: [`Store::status`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolStatus {
    /// Open connections, in use or idle (a connection being cleaned up after
    /// a cancelled call counts as in use).
    pub size: usize,
    /// Open connections waiting for the next call.
    pub idle: usize,
    /// Calls waiting for a connection.
    pub waiting: usize,
    /// The most the store may hold: `max_connections`.
    pub max: usize,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("table", &self.shared.sql.table)
            .finish_non_exhaustive()
    }
}
