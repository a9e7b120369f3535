//! Redis: one multiplexed connection; the scan reads a sorted-set index.

use redis::aio::MultiplexedConnection;

use crate::support::settings::Res;
use crate::{BATCH, INCREMENT_TTL_SECS, MATCH_PREFIX, NX_TTL_SECS, SCAN_PREFIX};

use super::kv::{Kv, upper_bound};

/// One round trip: the next `ARGV[3]` keys of the index after `ARGV[1]`
/// (exclusive) and below `ARGV[2]` (exclusive), with their values, in key
/// order: the same keyset page the SQL systems read.
const REDIS_SCAN: &str = r"
local keys = redis.call('ZRANGEBYLEX', KEYS[1], '(' .. ARGV[1], '(' .. ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
if #keys == 0 then return {} end
local values = redis.call('MGET', unpack(keys))
local out = {}
for i, k in ipairs(keys) do
  out[2 * i - 1] = k
  out[2 * i] = values[i]
end
return out
";
const REDIS_INDEX: &str = "pgkv-compare:index";

/// One round trip: the next `ARGV[3]` keys of the index after `ARGV[1]`
/// (exclusive) and below `ARGV[2]` (exclusive) that Lua pattern `ARGV[4]`
/// finds, in key order, read from the index 256 at a time: the same keyset
/// page of matching keys pgkv's MATCH reads (keys only, like `Store::keys`).
/// Redis's own `SCAN cursor MATCH p COUNT n` is unordered and returns
/// however many of `n` slots matched, so it cannot read this page.
const REDIS_MATCH: &str = r"
local want = tonumber(ARGV[3])
local from = '(' .. ARGV[1]
local out = {}
while #out < want do
  local keys = redis.call('ZRANGEBYLEX', KEYS[1], from, '(' .. ARGV[2], 'LIMIT', 0, 256)
  if #keys == 0 then break end
  for _, k in ipairs(keys) do
    if string.find(k, ARGV[4]) then
      out[#out + 1] = k
      if #out == want then break end
    end
  end
  from = '(' .. keys[#keys]
end
return out
";
/// `MATCH_PATTERN` (`key:0?5*`) as a Lua pattern, by hand: anchored at the
/// start, `.` for `?`, nothing for the final `*`.
const MATCH_LUA: &str = "^key:0.5";

pub(crate) struct RedisSys {
    pub(crate) conn: MultiplexedConnection,
    scan: redis::Script,
    scan_upper: String,
    scan_match: redis::Script,
    match_upper: String,
}

impl RedisSys {
    pub(crate) async fn connect(url: &str) -> Res<RedisSys> {
        let client = redis::Client::open(url)?;
        Ok(RedisSys {
            conn: client.get_multiplexed_async_connection().await?,
            scan: redis::Script::new(REDIS_SCAN),
            scan_upper: upper_bound(SCAN_PREFIX),
            scan_match: redis::Script::new(REDIS_MATCH),
            match_upper: upper_bound(MATCH_PREFIX),
        })
    }

    /// Another handle on the same multiplexed connection.
    pub(crate) fn share(&self) -> RedisSys {
        RedisSys {
            conn: self.conn.clone(),
            scan: redis::Script::new(REDIS_SCAN),
            scan_upper: self.scan_upper.clone(),
            scan_match: redis::Script::new(REDIS_MATCH),
            match_upper: self.match_upper.clone(),
        }
    }

    pub(crate) async fn index(&mut self, keys: &[String]) -> Res<()> {
        let mut cmd = redis::cmd("ZADD");
        cmd.arg(REDIS_INDEX);
        for k in keys {
            cmd.arg(0).arg(k);
        }
        cmd.query_async::<()>(&mut self.conn).await?;
        Ok(())
    }
}

impl Kv for RedisSys {
    async fn set(&mut self, key: &str, value: &[u8]) -> Res<()> {
        redis::cmd("SET")
            .arg(key)
            .arg(value)
            .query_async::<()>(&mut self.conn)
            .await?;
        Ok(())
    }

    async fn get(&mut self, key: &str) -> Res<bool> {
        let value: Option<Vec<u8>> = redis::cmd("GET").arg(key).query_async(&mut self.conn).await?;
        Ok(value.is_some())
    }

    async fn delete(&mut self, key: &str) -> Res<bool> {
        let n: i64 = redis::cmd("DEL").arg(key).query_async(&mut self.conn).await?;
        Ok(n == 1)
    }

    async fn increment(&mut self, key: &str) -> Res<i64> {
        Ok(redis::cmd("INCRBY")
            .arg(key)
            .arg(1)
            .query_async(&mut self.conn)
            .await?)
    }

    async fn set_many(&mut self, keys: &[String], value: &[u8]) -> Res<()> {
        let mut cmd = redis::cmd("MSET");
        for k in keys {
            cmd.arg(k).arg(value);
        }
        cmd.query_async::<()>(&mut self.conn).await?;
        Ok(())
    }

    async fn get_many(&mut self, keys: &[String]) -> Res<usize> {
        let values: Vec<Option<Vec<u8>>> = redis::cmd("MGET").arg(keys).query_async(&mut self.conn).await?;
        Ok(values.iter().filter(|v| v.is_some()).count())
    }

    async fn scan(&mut self, after: &str) -> Res<usize> {
        let flat: Vec<Vec<u8>> = self
            .scan
            .key(REDIS_INDEX)
            .arg(after)
            .arg(&self.scan_upper)
            .arg(BATCH)
            .invoke_async(&mut self.conn)
            .await?;
        Ok(flat.len() / 2)
    }

    async fn expire_gt(&mut self, key: &str, secs: u64) -> Res<bool> {
        let n: i64 = redis::cmd("EXPIRE")
            .arg(key)
            .arg(secs)
            .arg("GT")
            .query_async(&mut self.conn)
            .await?;
        Ok(n == 1)
    }

    async fn match_page(&mut self, after: &str) -> Res<Vec<String>> {
        Ok(self
            .scan_match
            .key(REDIS_INDEX)
            .arg(after)
            .arg(&self.match_upper)
            .arg(BATCH)
            .arg(MATCH_LUA)
            .invoke_async(&mut self.conn)
            .await?)
    }

    async fn increment_ex(&mut self, key: &str) -> Res<i64> {
        // MULTI, INCRBY, EXPIRE NX, EXEC: one round trip, atomic.
        let (n,): (i64,) = redis::pipe()
            .atomic()
            .cmd("INCRBY")
            .arg(key)
            .arg(1)
            .cmd("EXPIRE")
            .arg(key)
            .arg(INCREMENT_TTL_SECS)
            .arg("NX")
            .ignore()
            .query_async(&mut self.conn)
            .await?;
        Ok(n)
    }

    async fn set_many_ex(&mut self, keys: &[String], value: &[u8], secs: u64) -> Res<()> {
        let mut pipe = redis::pipe();
        for k in keys {
            pipe.cmd("SET").arg(k).arg(value).arg("EX").arg(secs).ignore();
        }
        pipe.query_async::<()>(&mut self.conn).await?;
        Ok(())
    }
    async fn set_nx_get_ex(&mut self, key: &str, value: &[u8]) -> Res<(bool, Option<Vec<u8>>)> {
        // The previous value, or nil; NX writes exactly when it was nil.
        let previous: Option<Vec<u8>> = redis::cmd("SET")
            .arg(key)
            .arg(value)
            .arg("NX")
            .arg("GET")
            .arg("EX")
            .arg(NX_TTL_SECS)
            .query_async(&mut self.conn)
            .await?;
        Ok((previous.is_none(), previous))
    }

    async fn rename(&mut self, from: &str, to: &str) -> Res<bool> {
        // OK, or the error "no such key".
        redis::cmd("RENAME")
            .arg(from)
            .arg(to)
            .query_async::<()>(&mut self.conn)
            .await?;
        Ok(true)
    }

    async fn delete_many(&mut self, keys: &[String]) -> Res<()> {
        redis::cmd("DEL")
            .arg(keys)
            .query_async::<()>(&mut self.conn)
            .await?;
        Ok(())
    }
}
