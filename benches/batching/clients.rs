//! The systems, behind one interface ([`Client`]): the sqlx floor (also
//! running pgkv's own SQL), the tokio-postgres floor, pgkv and Redis.

use std::future::Future;
use std::str::FromStr;

use pgkv::Store;
use redis::aio::MultiplexedConnection;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, PgConnection, SqlStr};

use crate::support::servers::sql;
use crate::support::settings::Res;

pub(crate) trait Client: Send + 'static {
    fn get(&mut self, key: &str) -> impl Future<Output = Res<bool>> + Send;
    fn set(&mut self, key: &str, value: &[u8]) -> impl Future<Output = Res<()>> + Send;
}

/// The statements a user would write.
pub(crate) fn floor_get(table: &str) -> String {
    format!("SELECT value FROM \"{table}\" WHERE key = $1")
}

pub(crate) fn floor_set(table: &str) -> String {
    format!(
        "INSERT INTO \"{table}\" (key, value) VALUES ($1, $2) \
         ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"
    )
}

/// sqlx, one dedicated connection, prepared statements (sqlx's per-connection
/// statement cache).
pub(crate) struct SqlxFloor {
    pub(crate) conn: PgConnection,
    get: SqlStr,
    set: SqlStr,
}

impl SqlxFloor {
    pub(crate) async fn connect(url: &str, table: &str, app: &str) -> Res<SqlxFloor> {
        SqlxFloor::with_sql(url, app, floor_get(table), floor_set(table)).await
    }

    pub(crate) async fn with_sql(url: &str, app: &str, get: String, set: String) -> Res<SqlxFloor> {
        let options = PgConnectOptions::from_str(url)?.application_name(app);
        Ok(SqlxFloor {
            conn: options.connect().await?,
            get: sql(get),
            set: sql(set),
        })
    }
}

/// pgkv's own GET (`OnRead`: it purges the key's row if expired) and SET
/// statements, to the letter, from `pgkv/sql/on_read.sql`, on `table`: the
/// floor running them shows what pgkv's SQL costs apart from its client.
pub(crate) fn pgkv_sql(table: &str) -> Res<(String, String)> {
    const ON_READ: &str = include_str!("../../pgkv/sql/on_read.sql");
    let statement = |title: &str| -> Res<String> {
        let mut lines = ON_READ.lines().skip_while(|l| l.trim() != title);
        lines.next();
        let text = lines
            .next()
            .ok_or_else(|| format!("no {title:?} in pgkv/sql/on_read.sql"))?;
        Ok(text
            .trim_end_matches(';')
            .replace("\"public\".\"kv_store\"", &format!("\"public\".\"{table}\"")))
    };
    Ok((statement("-- get (purging)")?, statement("-- set")?))
}

impl Client for SqlxFloor {
    async fn get(&mut self, key: &str) -> Res<bool> {
        let value: Option<Vec<u8>> = sqlx::query_scalar(self.get.clone())
            .bind(key)
            .fetch_optional(&mut self.conn)
            .await?;
        Ok(value.is_some())
    }

    async fn set(&mut self, key: &str, value: &[u8]) -> Res<()> {
        sqlx::query(self.set.clone())
            .bind(key)
            .bind(value)
            .execute(&mut self.conn)
            .await?;
        Ok(())
    }
}

/// tokio-postgres, one client, the same statements prepared once.
pub(crate) struct TokioPgFloor {
    client: tokio_postgres::Client,
    get: tokio_postgres::Statement,
    set: tokio_postgres::Statement,
}

impl TokioPgFloor {
    pub(crate) async fn connect(url: &str, table: &str, app: &str) -> Res<TokioPgFloor> {
        let mut config = tokio_postgres::Config::from_str(url)?;
        config.application_name(app);
        let (client, connection) = config.connect(tokio_postgres::NoTls).await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                eprintln!("batching bench: tokio-postgres connection: {e}");
            }
        });
        let get = client.prepare(&floor_get(table)).await?;
        let set = client.prepare(&floor_set(table)).await?;
        Ok(TokioPgFloor { client, get, set })
    }
}

impl Client for TokioPgFloor {
    async fn get(&mut self, key: &str) -> Res<bool> {
        let row = self.client.query_opt(&self.get, &[&key]).await?;
        Ok(row.map(|r| r.get::<_, Vec<u8>>(0)).is_some())
    }

    async fn set(&mut self, key: &str, value: &[u8]) -> Res<()> {
        self.client.execute(&self.set, &[&key, &value]).await?;
        Ok(())
    }
}

pub(crate) struct Pgkv(pub(crate) Store);

impl Client for Pgkv {
    async fn get(&mut self, key: &str) -> Res<bool> {
        Ok(self.0.get(key).await?.is_some())
    }

    async fn set(&mut self, key: &str, value: &[u8]) -> Res<()> {
        Ok(self.0.set(key, value).await?)
    }
}

pub(crate) struct Redis(pub(crate) MultiplexedConnection);

impl Client for Redis {
    async fn get(&mut self, key: &str) -> Res<bool> {
        let value: Option<Vec<u8>> = redis::cmd("GET").arg(key).query_async(&mut self.0).await?;
        Ok(value.is_some())
    }

    async fn set(&mut self, key: &str, value: &[u8]) -> Res<()> {
        redis::cmd("SET")
            .arg(key)
            .arg(value)
            .query_async::<()>(&mut self.0)
            .await?;
        Ok(())
    }
}
