-- Citus mode (TtlCleanupStrategy::OnRead): the statements that differ from on_read.sql.

-- get (purging)
WITH purged AS (DELETE FROM "public"."kv_store" WHERE key = $1 AND expires_at <= statement_timestamp()) SELECT value FROM "public"."kv_store" WHERE key = $1 AND (expires_at IS NULL OR expires_at > statement_timestamp());

-- exists (purging)
WITH purged AS (DELETE FROM "public"."kv_store" WHERE key = $1 AND expires_at <= statement_timestamp()) SELECT EXISTS (SELECT 1 FROM "public"."kv_store" WHERE key = $1 AND (expires_at IS NULL OR expires_at > statement_timestamp()));

-- ttl (purging)
WITH purged AS (DELETE FROM "public"."kv_store" WHERE key = $1 AND expires_at <= statement_timestamp()) SELECT expires_at - statement_timestamp() FROM "public"."kv_store" WHERE key = $1 AND (expires_at IS NULL OR expires_at > statement_timestamp());

-- get_many (purging)
SELECT key, value FROM "public"."kv_store" WHERE key = ANY($1) AND (expires_at IS NULL OR expires_at > statement_timestamp());

-- delete
WITH d AS (DELETE FROM "public"."kv_store" WHERE key = $1 RETURNING expires_at) SELECT (expires_at IS NULL OR expires_at > statement_timestamp()) FROM d;

-- get_ex
WITH purged AS (DELETE FROM "public"."kv_store" WHERE key = $1 AND expires_at <= statement_timestamp()) UPDATE "public"."kv_store" SET expires_at = statement_timestamp() + $2 WHERE key = $1 AND (expires_at IS NULL OR expires_at > statement_timestamp()) RETURNING value;

-- get_persist
WITH purged AS (DELETE FROM "public"."kv_store" WHERE key = $1 AND expires_at <= statement_timestamp()) UPDATE "public"."kv_store" SET expires_at = NULL WHERE key = $1 AND (expires_at IS NULL OR expires_at > statement_timestamp()) RETURNING value;

-- delete_many
WITH d AS (DELETE FROM "public"."kv_store" WHERE key = ANY($1) RETURNING expires_at) SELECT count(*) FROM d WHERE (expires_at IS NULL OR expires_at > statement_timestamp());

-- get_and_delete
WITH d AS (DELETE FROM "public"."kv_store" WHERE key = $1 RETURNING value, expires_at) SELECT CASE WHEN (expires_at IS NULL OR expires_at > statement_timestamp()) THEN value END FROM d;

-- shard_sweep
SELECT COALESCE(sum(result::bigint) FILTER (WHERE success), 0)::bigint, COALESCE(max(result::bigint) FILTER (WHERE success), 0)::bigint, min(result) FILTER (WHERE NOT success) FROM run_command_on_shards('"public"."kv_store"', 'WITH d AS (DELETE FROM %1$s WHERE ctid = ANY(ARRAY(SELECT ctid FROM %1$s WHERE expires_at <= statement_timestamp() ORDER BY expires_at LIMIT ' || $1::bigint || ' FOR UPDATE SKIP LOCKED)) AND expires_at <= statement_timestamp() RETURNING 1) SELECT count(*) FROM d');
