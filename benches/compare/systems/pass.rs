//! One pass: every system on tables of one type, loaded and checked to
//! agree before anything is timed.

use pgkv::{Config, Store, TableType, TtlCleanupStrategy};
use pgkv_suite::XorShift;
use sqlx::{Connection, PgConnection};
use tokio::runtime::Runtime;

use crate::kind::Kind;
use crate::support::servers::sql;
use crate::support::settings::{BoxError, Res};
use crate::work::Work;
use crate::{BATCH, Env, LOADED_TTL_SECS, SCAN_PREFIX, TASKS};

use super::floor::{Floor, FloorSql, floor_ddl};
use super::kv::Kv;
use super::legacy::{legacy_set_many, legacy_table_type};
use super::redis_sys::RedisSys;
use super::store::Pgkv;

pub(crate) struct Systems {
    pub(crate) floor: Floor,
    pub(crate) floor_on_read: Floor,
    pub(crate) pgkv: Pgkv,
    pub(crate) pgkv_manual: Pgkv,
    pub(crate) legacy: pgkv_legacy::Store,
    pub(crate) redis: RedisSys,
    pub(crate) tt: TableType,
    pub(crate) tables: Vec<String>,
}

pub(crate) fn table_name(kind: Kind, tt: TableType) -> String {
    let t = if tt == TableType::Unlogged { "u" } else { "r" };
    format!("pgkv_compare_{}_{t}_{}", kind.tag(), std::process::id())
}

pub(crate) async fn drop_tables(conn: &mut PgConnection, tables: &[String]) -> Res<()> {
    for t in tables {
        sqlx::query(sql(format!("DROP TABLE IF EXISTS \"{t}\"")))
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Writes every key of `work` through `c`, 1,000 at a time.
pub(crate) async fn load<C: Kv>(c: &mut C, work: &Work) -> Res<()> {
    for chunk in work.keys.chunks(1_000) {
        c.set_many(chunk, &work.value).await?;
    }
    Ok(())
}

/// Writes the keys EXPIRE GT works on, with a TTL of `LOADED_TTL_SECS`.
pub(crate) async fn load_expiring<C: Kv>(c: &mut C, work: &Work) -> Res<()> {
    for chunk in work.expiring.chunks(1_000) {
        c.set_many_ex(chunk, &work.value, LOADED_TTL_SECS).await?;
    }
    Ok(())
}

/// Before anything is timed: the floors, pgkv and Redis read the same MATCH
/// pages (the floor's regex and Redis's Lua pattern are written by hand
/// from the glob pgkv is given).
async fn same_match_pages(
    work: &Work,
    floors: &mut [&mut Floor],
    pgkv: &mut Pgkv,
    redis: &mut RedisSys,
) -> Res<()> {
    let mut rng = XorShift(0x3a7c4);
    for _ in 0..5 {
        let after = work.match_after(&mut rng);
        let want = pgkv.match_page(after).await?;
        if want.len() != BATCH {
            return Err(format!("pgkv's MATCH page after {after} has {} keys", want.len()).into());
        }
        for floor in floors.iter_mut() {
            if floor.match_page(after).await? != want {
                return Err(format!("the floor's MATCH page after {after} differs from pgkv's").into());
            }
        }
        if redis.match_page(after).await? != want {
            return Err(format!("Redis's MATCH page after {after} differs from pgkv's").into());
        }
    }
    Ok(())
}

/// pgkv's generated statements (`pgkv/sql/*.sql`, one per call, each under
/// a `-- name` line, for a table `"public"."kv_store"`).
const PGKV_ON_READ_SQL: &str = include_str!("../../../pgkv/sql/on_read.sql");
const PGKV_MANUAL_SQL: &str = include_str!("../../../pgkv/sql/manual.sql");

/// Before anything is timed: the floor's SET NX GET EX and RENAME are the
/// statements pgkv sends (OnRead and Manual alike) for the floor's table,
/// to the letter.
fn same_sql_as_pgkv(floor: &FloorSql, table: &str) -> Res<()> {
    for (file, name) in [(PGKV_ON_READ_SQL, "on_read.sql"), (PGKV_MANUAL_SQL, "manual.sql")] {
        for (section, mine) in [
            ("set_with Absent EX GET", &floor.set_nx_get_ex),
            ("rename", &floor.rename),
        ] {
            let mut lines = file.lines().skip_while(|l| *l != format!("-- {section}"));
            let theirs = lines
                .nth(1)
                .ok_or_else(|| format!("pgkv/sql/{name} has no section {section:?}"))?;
            let theirs = theirs
                .strip_suffix(';')
                .unwrap_or(theirs)
                .replace("\"public\".\"kv_store\"", &format!("\"{table}\""));
            if mine.as_str() != theirs {
                return Err(format!(
                    "the floor's statement for {section:?} is not pgkv's (pgkv/sql/{name}):\n  \
                     floor: {}\n  pgkv:  {theirs}",
                    mine.as_str()
                )
                .into());
            }
        }
    }
    Ok(())
}

/// Before anything is timed: every system answers SET NX GET EX and RENAME
/// alike, on probe keys of its own (removed afterwards).
async fn same_set_nx_and_rename<C: Kv>(c: &mut C, name: &str, value: &[u8]) -> Res<()> {
    let keys = ["probe:nx", "probe:a", "probe:b"].map(String::from);
    let [nx, a, b] = &keys;
    c.delete_many(&keys).await?;
    let got = [
        c.set_nx_get_ex(nx, value).await?,
        c.set_nx_get_ex(nx, b"other").await?,
    ];
    if got != [(true, None), (false, Some(value.to_vec()))] {
        return Err(format!("{name}: SET NX GET EX answered {got:?}").into());
    }
    c.set_many(std::slice::from_ref(a), value).await?;
    let moved = [
        c.rename(a, b).await?,
        c.rename(b, a).await?,
        c.rename(a, b).await?,
    ];
    let (at_a, at_b) = (c.get(a).await?, c.get(b).await?);
    if moved != [true; 3] || at_a || !at_b {
        return Err(format!("{name}: RENAME answered {moved:?}, then {a} found {at_a}, {b} {at_b}").into());
    }
    c.delete_many(&keys).await
}

pub(crate) async fn open_pgkv(config: Config) -> Res<Pgkv> {
    Ok(Pgkv {
        store: Store::with_config(config).await?,
        scan_prefix: SCAN_PREFIX.to_owned(),
    })
}

pub(crate) fn setup(rt: &Runtime, env: &Env, tt: TableType, work: &Work) -> Res<Systems> {
    let tables: Vec<String> = Kind::ALL
        .iter()
        .filter(|k| **k != Kind::Redis)
        .map(|k| table_name(*k, tt))
        .collect();
    let (floor, floor_on_read, pgkv, pgkv_manual, redis) = rt.block_on(async {
        let mut conn = PgConnection::connect(&env.pg_url).await?;
        drop_tables(&mut conn, &tables).await?;
        let mut floors = Vec::new();
        for (kind, on_read) in [(Kind::Floor, false), (Kind::FloorOnRead, true)] {
            let table = table_name(kind, tt);
            sqlx::raw_sql(sql(floor_ddl(&table, tt)))
                .execute(&mut conn)
                .await?;
            let mut floor = Floor::connect(&env.pg_url, &table, on_read, SCAN_PREFIX).await?;
            same_sql_as_pgkv(&floor.sql, &table)?;
            load(&mut floor, work).await?;
            load_expiring(&mut floor, work).await?;
            floors.push(floor);
        }
        conn.close().await?;

        let config = |kind: Kind| {
            Config::new(env.pg_url.clone())
                .table_name(&table_name(kind, tt))
                .table_type(tt)
                .max_connections(TASKS as u32)
        };
        let mut pgkv = open_pgkv(config(Kind::Pgkv)).await?;
        let mut pgkv_manual =
            open_pgkv(config(Kind::PgkvManual).ttl_cleanup_strategy(TtlCleanupStrategy::Manual)).await?;
        load(&mut pgkv, work).await?;
        load(&mut pgkv_manual, work).await?;
        load_expiring(&mut pgkv, work).await?;
        load_expiring(&mut pgkv_manual, work).await?;

        let mut redis = RedisSys::connect(&env.redis_url).await?;
        redis::cmd("FLUSHDB").query_async::<()>(&mut redis.conn).await?;
        load(&mut redis, work).await?;
        load_expiring(&mut redis, work).await?;
        for chunk in work.keys.chunks(1_000) {
            redis.index(chunk).await?;
        }
        let mut floor_on_read = floors.pop().expect("two floors");
        let mut floor = floors.pop().expect("two floors");
        same_match_pages(work, &mut [&mut floor, &mut floor_on_read], &mut pgkv, &mut redis).await?;
        let v = &work.value;
        same_set_nx_and_rename(&mut floor, Kind::Floor.header(), v).await?;
        same_set_nx_and_rename(&mut floor_on_read, Kind::FloorOnRead.header(), v).await?;
        same_set_nx_and_rename(&mut pgkv, Kind::Pgkv.header(), v).await?;
        same_set_nx_and_rename(&mut pgkv_manual, Kind::PgkvManual.header(), v).await?;
        same_set_nx_and_rename(&mut redis, Kind::Redis.header(), v).await?;
        Ok::<_, BoxError>((floor, floor_on_read, pgkv, pgkv_manual, redis))
    })?;

    // Outside any runtime: the 0.1 crate runs its own inside every call.
    let legacy = pgkv_legacy::Store::with_config(
        pgkv_legacy::Config::new(env.pg_url.clone())
            .table_name(table_name(Kind::Legacy, tt))
            .table_type(legacy_table_type(tt)),
    )?;
    for chunk in work.keys.chunks(1_000) {
        legacy_set_many(&legacy, chunk, &work.value)?;
    }

    let mut systems = Systems {
        floor,
        floor_on_read,
        pgkv,
        pgkv_manual,
        legacy,
        redis,
        tt,
        tables,
    };
    rt.block_on(async {
        for t in &systems.tables {
            sqlx::query(sql(format!("VACUUM ANALYZE \"{t}\"")))
                .execute(&mut systems.floor.conn)
                .await?;
        }
        Ok::<_, BoxError>(())
    })?;
    Ok(systems)
}
