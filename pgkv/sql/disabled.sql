-- Every statement pgkv sends for a table "public"."kv_store" under
-- TtlCleanupStrategy::Disabled, as built by pgkv/src/sql.rs (generated:
-- PGKV_SQL_OVERWRITE=1 cargo test -p pgkv sql). One statement per call.

-- get (purging)
SELECT value FROM "public"."kv_store" WHERE key = $1 AND TRUE;

-- get (read-only session)
SELECT value FROM "public"."kv_store" WHERE key = $1 AND TRUE;

-- exists (purging)
SELECT EXISTS (SELECT 1 FROM "public"."kv_store" WHERE key = $1 AND TRUE);

-- exists (read-only session)
SELECT EXISTS (SELECT 1 FROM "public"."kv_store" WHERE key = $1 AND TRUE);

-- ttl (purging)
SELECT expires_at - statement_timestamp() FROM "public"."kv_store" WHERE key = $1 AND TRUE;

-- ttl (read-only session)
SELECT expires_at - statement_timestamp() FROM "public"."kv_store" WHERE key = $1 AND TRUE;

-- get_many (purging)
SELECT key, value FROM "public"."kv_store" WHERE key = ANY((SELECT $1::text[])::text[]) AND TRUE;

-- get_many (read-only session)
SELECT key, value FROM "public"."kv_store" WHERE key = ANY((SELECT $1::text[])::text[]) AND TRUE;

-- set
INSERT INTO "public"."kv_store" AS kv (key, value, expires_at, created_at, updated_at) VALUES ($1, $2, NULL, statement_timestamp(), statement_timestamp()) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at, created_at = CASE WHEN FALSE THEN EXCLUDED.created_at ELSE kv.created_at END, updated_at = EXCLUDED.updated_at;

-- set_ex
INSERT INTO "public"."kv_store" AS kv (key, value, expires_at, created_at, updated_at) VALUES ($1, $2, statement_timestamp() + $3, statement_timestamp(), statement_timestamp()) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at, created_at = CASE WHEN FALSE THEN EXCLUDED.created_at ELSE kv.created_at END, updated_at = EXCLUDED.updated_at;

-- set_nx
INSERT INTO "public"."kv_store" AS kv (key, value, expires_at, created_at, updated_at) VALUES ($1, $2, NULL, statement_timestamp(), statement_timestamp()) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at, created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at WHERE FALSE;

-- set_nx_ex
INSERT INTO "public"."kv_store" AS kv (key, value, expires_at, created_at, updated_at) VALUES ($1, $2, statement_timestamp() + $3, statement_timestamp(), statement_timestamp()) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at, created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at WHERE FALSE;

-- replace
UPDATE "public"."kv_store" SET value = $2, updated_at = statement_timestamp() WHERE key = $1 AND TRUE;

-- delete
DELETE FROM "public"."kv_store" WHERE key = $1 RETURNING TRUE;

-- get_ex
UPDATE "public"."kv_store" SET expires_at = statement_timestamp() + $2 WHERE key = $1 AND TRUE RETURNING value;

-- get_persist
UPDATE "public"."kv_store" SET expires_at = NULL WHERE key = $1 AND TRUE RETURNING value;

-- persist
UPDATE "public"."kv_store" SET expires_at = NULL WHERE key = $1 AND expires_at IS NOT NULL AND TRUE;

-- set_many
INSERT INTO "public"."kv_store" AS kv (key, value, expires_at, created_at, updated_at) SELECT k, v, NULL, statement_timestamp(), statement_timestamp() FROM UNNEST($1::text[], $2::bytea[]) AS u(k, v) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at, created_at = CASE WHEN FALSE THEN EXCLUDED.created_at ELSE kv.created_at END, updated_at = EXCLUDED.updated_at;

-- set_many_ex
INSERT INTO "public"."kv_store" AS kv (key, value, expires_at, created_at, updated_at) SELECT k, v, statement_timestamp() + $3, statement_timestamp(), statement_timestamp() FROM UNNEST($1::text[], $2::bytea[]) AS u(k, v) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at, created_at = CASE WHEN FALSE THEN EXCLUDED.created_at ELSE kv.created_at END, updated_at = EXCLUDED.updated_at;

-- delete_many
WITH d AS (DELETE FROM "public"."kv_store" WHERE key IN (SELECT key FROM "public"."kv_store" WHERE key = ANY((SELECT $1::text[])::text[]) ORDER BY key FOR UPDATE) RETURNING expires_at) SELECT count(*) FROM d WHERE TRUE;

-- increment
INSERT INTO "public"."kv_store" AS kv (key, value, expires_at, created_at, updated_at) VALUES ($1, decode($2::bigint::text, 'escape'), NULL, statement_timestamp(), statement_timestamp()) ON CONFLICT (key) DO UPDATE SET value = CASE WHEN FALSE THEN EXCLUDED.value ELSE decode(((CASE WHEN encode(kv.value, 'escape') ~ '^(0|-?[1-9][0-9]*)$' THEN encode(kv.value, 'escape') ELSE 'x' || encode(kv.value, 'escape') END)::bigint + $2)::text, 'escape') END, expires_at = CASE WHEN FALSE THEN EXCLUDED.expires_at ELSE kv.expires_at END, created_at = CASE WHEN FALSE THEN EXCLUDED.created_at ELSE kv.created_at END, updated_at = EXCLUDED.updated_at RETURNING value;

-- increment_ex
INSERT INTO "public"."kv_store" AS kv (key, value, expires_at, created_at, updated_at) VALUES ($1, decode($2::bigint::text, 'escape'), statement_timestamp() + $3, statement_timestamp(), statement_timestamp()) ON CONFLICT (key) DO UPDATE SET value = CASE WHEN FALSE THEN EXCLUDED.value ELSE decode(((CASE WHEN encode(kv.value, 'escape') ~ '^(0|-?[1-9][0-9]*)$' THEN encode(kv.value, 'escape') ELSE 'x' || encode(kv.value, 'escape') END)::bigint + $2)::text, 'escape') END, expires_at = CASE WHEN FALSE THEN EXCLUDED.expires_at ELSE COALESCE(kv.expires_at, EXCLUDED.expires_at) END, created_at = CASE WHEN FALSE THEN EXCLUDED.created_at ELSE kv.created_at END, updated_at = EXCLUDED.updated_at RETURNING value;

-- increment_float
INSERT INTO "public"."kv_store" AS kv (key, value, expires_at, created_at, updated_at) VALUES ($1, decode(trim_scale($2::numeric)::text, 'escape'), NULL, statement_timestamp(), statement_timestamp()) ON CONFLICT (key) DO UPDATE SET value = CASE WHEN FALSE THEN EXCLUDED.value ELSE decode(trim_scale((CASE WHEN encode(kv.value, 'escape') ~ '^[-+]?([0-9]+([.][0-9]*)?|[.][0-9]+)([eE][-+]?[0-9]+)?$' THEN encode(kv.value, 'escape') ELSE 'x' || encode(kv.value, 'escape') END)::numeric + $2::numeric)::text, 'escape') END, expires_at = CASE WHEN FALSE THEN NULL ELSE kv.expires_at END, created_at = CASE WHEN FALSE THEN EXCLUDED.created_at ELSE kv.created_at END, updated_at = EXCLUDED.updated_at RETURNING value;

-- cas_absent
WITH cur AS (SELECT value, expires_at FROM "public"."kv_store" WHERE key = $1 FOR UPDATE), taken AS (UPDATE "public"."kv_store" SET value = $2, expires_at = NULL, created_at = statement_timestamp(), updated_at = statement_timestamp() FROM cur WHERE "public"."kv_store".key = $1 AND FALSE RETURNING 1), ins AS (INSERT INTO "public"."kv_store" AS kv (key, value, expires_at, created_at, updated_at) SELECT $1, $2, NULL, statement_timestamp(), statement_timestamp() WHERE NOT EXISTS (SELECT 1 FROM cur) ON CONFLICT (key) DO NOTHING RETURNING 1) SELECT EXISTS (SELECT 1 FROM taken) OR EXISTS (SELECT 1 FROM ins), (SELECT value FROM cur WHERE TRUE);

-- cas_present
WITH cur AS (SELECT value, expires_at FROM "public"."kv_store" WHERE key = $1 FOR UPDATE), upd AS (UPDATE "public"."kv_store" SET value = $3, updated_at = statement_timestamp() FROM cur WHERE "public"."kv_store".key = $1 AND TRUE AND cur.value = $2 RETURNING 1) SELECT EXISTS (SELECT 1 FROM upd), (SELECT value FROM cur WHERE TRUE);

-- get_and_set
WITH cur AS (SELECT value, expires_at FROM "public"."kv_store" WHERE key = $1 FOR UPDATE), upd AS (UPDATE "public"."kv_store" SET value = $2, expires_at = NULL, created_at = CASE WHEN FALSE THEN statement_timestamp() ELSE "public"."kv_store".created_at END, updated_at = statement_timestamp() FROM cur WHERE "public"."kv_store".key = $1 RETURNING 1), ins AS (INSERT INTO "public"."kv_store" AS kv (key, value, expires_at, created_at, updated_at) SELECT $1, $2, NULL, statement_timestamp(), statement_timestamp() WHERE NOT EXISTS (SELECT 1 FROM cur) ON CONFLICT (key) DO NOTHING RETURNING 1) SELECT EXISTS (SELECT 1 FROM upd) OR EXISTS (SELECT 1 FROM ins), (SELECT value FROM cur WHERE TRUE);

-- get_and_delete
DELETE FROM "public"."kv_store" WHERE key = $1 RETURNING CASE WHEN TRUE THEN value END;

-- append
WITH up AS (INSERT INTO "public"."kv_store" AS kv (key, value, expires_at, created_at, updated_at) VALUES ($1, $2, NULL, statement_timestamp(), statement_timestamp()) ON CONFLICT (key) DO UPDATE SET value = CASE WHEN FALSE THEN EXCLUDED.value ELSE kv.value || EXCLUDED.value END, expires_at = CASE WHEN FALSE THEN NULL ELSE kv.expires_at END, created_at = CASE WHEN FALSE THEN EXCLUDED.created_at ELSE kv.created_at END, updated_at = EXCLUDED.updated_at WHERE FALSE OR octet_length(kv.value) + octet_length(EXCLUDED.value) <= $3 RETURNING octet_length(value)::bigint) SELECT (SELECT * FROM up), (SELECT octet_length(value)::bigint FROM "public"."kv_store" WHERE key = $1 AND TRUE);

-- rename
WITH locked AS (SELECT key FROM "public"."kv_store" WHERE key IN ($1, $2) ORDER BY key FOR UPDATE), src AS (DELETE FROM "public"."kv_store" WHERE key = $1 AND TRUE AND EXISTS (SELECT 1 FROM locked) RETURNING value, expires_at), ins AS (INSERT INTO "public"."kv_store" AS kv (key, value, expires_at, created_at, updated_at) SELECT $2, value, expires_at, statement_timestamp(), statement_timestamp() FROM src ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at, created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at RETURNING 1) SELECT EXISTS (SELECT 1 FROM ins);

-- rename_nx
WITH locked AS (SELECT key, expires_at FROM "public"."kv_store" WHERE key IN ($1, $2) ORDER BY key FOR UPDATE), src AS (DELETE FROM "public"."kv_store" WHERE key = $1 AND TRUE AND EXISTS (SELECT 1 FROM locked) AND NOT EXISTS (SELECT 1 FROM locked WHERE key = $2 AND TRUE) RETURNING value, expires_at), ins AS (INSERT INTO "public"."kv_store" AS kv (key, value, expires_at, created_at, updated_at) SELECT $2, value, expires_at, statement_timestamp(), statement_timestamp() FROM src ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at, created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at WHERE FALSE RETURNING 1) SELECT EXISTS (SELECT 1 FROM ins), CASE WHEN EXISTS (SELECT 1 FROM src) AND NOT EXISTS (SELECT 1 FROM ins) THEN ('pgkv: a concurrent writer took the target ' || (SELECT count(*) FROM src))::int END;

-- set_many_nx
WITH existing AS (SELECT 1 FROM "public"."kv_store" WHERE key = ANY($1) AND TRUE), ins AS (INSERT INTO "public"."kv_store" AS kv (key, value, expires_at, created_at, updated_at) SELECT k, v, NULL, statement_timestamp(), statement_timestamp() FROM UNNEST($1::text[], $2::bytea[]) AS u(k, v) WHERE NOT EXISTS (SELECT 1 FROM existing) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at, created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at WHERE FALSE RETURNING 1) SELECT EXISTS (SELECT 1 FROM ins), CASE WHEN NOT EXISTS (SELECT 1 FROM existing) AND (SELECT count(*) FROM ins) <> cardinality($1) THEN ('pgkv: a concurrent writer took a key ' || (SELECT count(*) FROM ins))::int END;

-- copy
WITH locked AS (SELECT key FROM "public"."kv_store" WHERE key IN ($1, $2) ORDER BY key FOR SHARE), src AS (SELECT value, expires_at FROM "public"."kv_store" WHERE key = $1 AND TRUE AND EXISTS (SELECT 1 FROM locked)), ins AS (INSERT INTO "public"."kv_store" AS kv (key, value, expires_at, created_at, updated_at) SELECT $2, value, expires_at, statement_timestamp(), statement_timestamp() FROM src ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at, created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at WHERE FALSE RETURNING 1) SELECT EXISTS (SELECT 1 FROM ins);

-- copy (REPLACE)
WITH locked AS (SELECT key FROM "public"."kv_store" WHERE key IN ($1, $2) ORDER BY key FOR SHARE), src AS (SELECT value, expires_at FROM "public"."kv_store" WHERE key = $1 AND TRUE AND EXISTS (SELECT 1 FROM locked)), ins AS (INSERT INTO "public"."kv_store" AS kv (key, value, expires_at, created_at, updated_at) SELECT $2, value, expires_at, statement_timestamp(), statement_timestamp() FROM src ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at, created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at WHERE TRUE RETURNING 1) SELECT EXISTS (SELECT 1 FROM ins);

-- cleanup_batch
DELETE FROM "public"."kv_store" WHERE ctid = ANY(ARRAY(SELECT ctid FROM "public"."kv_store" WHERE TRUE AND expires_at <= statement_timestamp() ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED)) AND expires_at <= statement_timestamp();

-- cleanup_fleet_batch
WITH fleet AS (SELECT pg_try_advisory_xact_lock(hashtextextended($2, 7305983471152380417)) AS held), gone AS (DELETE FROM "public"."kv_store" WHERE ctid = ANY(ARRAY(SELECT ctid FROM "public"."kv_store" WHERE (SELECT held FROM fleet) AND expires_at <= statement_timestamp() ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED)) AND expires_at <= statement_timestamp() RETURNING 1) SELECT (SELECT held FROM fleet), (SELECT count(*) FROM gone);

-- lock_acquire
INSERT INTO "public"."kv_store" AS kv (key, value, expires_at, created_at, updated_at) VALUES ($1, decode(nextval('"public"."kv_store_fence_seq"')::text || ' ' || ((extract(epoch FROM statement_timestamp()) * 1000000)::bigint + $3)::text || ' ' || $2, 'escape'), NULL, statement_timestamp(), statement_timestamp()) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, expires_at = NULL, created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at WHERE CASE WHEN FALSE THEN TRUE ELSE split_part(encode(kv.value, 'escape'), ' ', 2)::bigint <= split_part(encode(EXCLUDED.value, 'escape'), ' ', 2)::bigint - $3 AND split_part(encode(kv.value, 'escape'), ' ', 1)::bigint < split_part(encode(EXCLUDED.value, 'escape'), ' ', 1)::bigint END RETURNING split_part(encode(value, 'escape'), ' ', 1)::bigint;

-- lock_release
UPDATE "public"."kv_store" SET value = decode($2::text || ' 0 ' || $3, 'escape'), updated_at = statement_timestamp() WHERE key = $1 AND TRUE AND CASE WHEN split_part(encode(value, 'escape'), ' ', 1) = $2::text AND split_part(encode(value, 'escape'), ' ', 3) = $3 THEN split_part(encode(value, 'escape'), ' ', 2)::bigint > (extract(epoch FROM statement_timestamp()) * 1000000)::bigint ELSE FALSE END;

-- lock_extend
UPDATE "public"."kv_store" SET value = decode($2::text || ' ' || ((extract(epoch FROM statement_timestamp()) * 1000000)::bigint + $4)::text || ' ' || $3, 'escape'), updated_at = statement_timestamp() WHERE key = $1 AND TRUE AND CASE WHEN split_part(encode(value, 'escape'), ' ', 1) = $2::text AND split_part(encode(value, 'escape'), ' ', 3) = $3 THEN split_part(encode(value, 'escape'), ' ', 2)::bigint > (extract(epoch FROM statement_timestamp()) * 1000000)::bigint ELSE FALSE END;

-- rate_fixed
INSERT INTO "public"."kv_store" AS kv (key, value, expires_at, created_at, updated_at) VALUES ($1, decode('1', 'escape'), statement_timestamp() + $3, statement_timestamp(), statement_timestamp()) ON CONFLICT (key) DO UPDATE SET value = CASE WHEN FALSE THEN EXCLUDED.value ELSE decode(LEAST((CASE WHEN encode(kv.value, 'escape') ~ '^(0|-?[1-9][0-9]*)$' THEN encode(kv.value, 'escape') ELSE 'x' || encode(kv.value, 'escape') END)::bigint + 1, $2 + 1)::text, 'escape') END, expires_at = CASE WHEN FALSE THEN EXCLUDED.expires_at ELSE kv.expires_at END, created_at = CASE WHEN FALSE THEN EXCLUDED.created_at ELSE kv.created_at END, updated_at = EXCLUDED.updated_at RETURNING encode(value, 'escape')::bigint, expires_at - updated_at;

-- rate_gcra
INSERT INTO "public"."kv_store" AS kv (key, value, expires_at, created_at, updated_at) VALUES ($1, decode(((extract(epoch FROM statement_timestamp()) * 1000000)::bigint + $2)::text || ' 1 ' || (extract(epoch FROM statement_timestamp()) * 1000000)::bigint::text, 'escape'), statement_timestamp() + $4, statement_timestamp(), statement_timestamp()) ON CONFLICT (key) DO UPDATE SET value = CASE WHEN FALSE THEN EXCLUDED.value WHEN GREATEST(split_part(encode(kv.value, 'escape'), ' ', 1)::bigint, split_part(encode(EXCLUDED.value, 'escape'), ' ', 3)::bigint) + $2 - split_part(encode(EXCLUDED.value, 'escape'), ' ', 3)::bigint <= $3 THEN decode((GREATEST(split_part(encode(kv.value, 'escape'), ' ', 1)::bigint, split_part(encode(EXCLUDED.value, 'escape'), ' ', 3)::bigint) + $2)::text || ' 1 ' || split_part(encode(EXCLUDED.value, 'escape'), ' ', 3)::bigint::text, 'escape') ELSE decode(split_part(encode(kv.value, 'escape'), ' ', 1)::bigint::text || ' 0 ' || split_part(encode(EXCLUDED.value, 'escape'), ' ', 3)::bigint::text, 'escape') END, expires_at = EXCLUDED.expires_at, created_at = CASE WHEN FALSE THEN EXCLUDED.created_at ELSE kv.created_at END, updated_at = EXCLUDED.updated_at RETURNING encode(value, 'escape');

-- compute_read
SELECT value, expires_at - statement_timestamp() FROM "public"."kv_store" WHERE key = $1 AND TRUE;

-- delete_if_equals
DELETE FROM "public"."kv_store" WHERE key = $1 AND value = $2;

-- snapshot: begin_save
BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;

-- snapshot: save_count
SELECT count(*), (EXTRACT(EPOCH FROM now()) * 1000000)::bigint FROM "public"."kv_store" WHERE TRUE;

-- snapshot: save_copy
COPY (SELECT key, value, expires_at FROM "public"."kv_store" WHERE TRUE) TO STDOUT (FORMAT binary);

-- snapshot: create_stage
CREATE TEMP TABLE pgkv_snapshot_stage (key TEXT COLLATE "C", value BYTEA, expires_at TIMESTAMPTZ) ON COMMIT DROP;

-- snapshot: load_copy
COPY pg_temp.pgkv_snapshot_stage (key, value, expires_at) FROM STDIN (FORMAT binary);

-- snapshot: check_stage
SELECT count(*), min(left(key, 64)) FROM pg_temp.pgkv_snapshot_stage WHERE key IS NULL OR key = '' OR octet_length(key) > $1 OR value IS NULL OR octet_length(value) > $2;

-- snapshot: clear
DELETE FROM "public"."kv_store";

-- snapshot: merge
WITH ins AS (INSERT INTO "public"."kv_store" AS kv (key, value, expires_at, created_at, updated_at) SELECT s.key, s.value, s.expires_at, statement_timestamp(), statement_timestamp() FROM pg_temp.pgkv_snapshot_stage s WHERE TRUE ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at, created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at WHERE FALSE RETURNING 1) SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM pg_temp.pgkv_snapshot_stage s WHERE NOT TRUE), (EXTRACT(EPOCH FROM statement_timestamp()) * 1000000)::bigint;

-- snapshot: restore_lock
SELECT pg_advisory_xact_lock(hashtextextended($1, 7305983471152380419));

-- snapshot: autosave_lock
SELECT pg_try_advisory_xact_lock(hashtextextended($1, 7305983471152380420));

-- snapshot: any_live
SELECT EXISTS (SELECT 1 FROM "public"."kv_store" WHERE TRUE);

-- set_with Always no expiry
WITH cur AS (SELECT value, expires_at FROM "public"."kv_store" WHERE key = $1 FOR UPDATE), upd AS (UPDATE "public"."kv_store" SET value = $2, expires_at = NULL, created_at = CASE WHEN FALSE THEN statement_timestamp() ELSE "public"."kv_store".created_at END, updated_at = statement_timestamp() FROM cur WHERE "public"."kv_store".key = $1 AND TRUE RETURNING 1), ins AS (INSERT INTO "public"."kv_store" AS kv (key, value, expires_at, created_at, updated_at) SELECT $1, $2, NULL, statement_timestamp(), statement_timestamp() WHERE NOT EXISTS (SELECT 1 FROM cur) AND TRUE ON CONFLICT (key) DO NOTHING RETURNING 1) SELECT EXISTS (SELECT 1 FROM upd) OR EXISTS (SELECT 1 FROM ins), NOT EXISTS (SELECT 1 FROM cur) AND TRUE AND NOT EXISTS (SELECT 1 FROM ins), NULL::bytea;

-- set_with Always no expiry GET
WITH cur AS (SELECT value, expires_at FROM "public"."kv_store" WHERE key = $1 FOR UPDATE), upd AS (UPDATE "public"."kv_store" SET value = $2, expires_at = NULL, created_at = CASE WHEN FALSE THEN statement_timestamp() ELSE "public"."kv_store".created_at END, updated_at = statement_timestamp() FROM cur WHERE "public"."kv_store".key = $1 AND TRUE RETURNING 1), ins AS (INSERT INTO "public"."kv_store" AS kv (key, value, expires_at, created_at, updated_at) SELECT $1, $2, NULL, statement_timestamp(), statement_timestamp() WHERE NOT EXISTS (SELECT 1 FROM cur) AND TRUE ON CONFLICT (key) DO NOTHING RETURNING 1) SELECT EXISTS (SELECT 1 FROM upd) OR EXISTS (SELECT 1 FROM ins), NOT EXISTS (SELECT 1 FROM cur) AND TRUE AND NOT EXISTS (SELECT 1 FROM ins), (SELECT value FROM cur WHERE TRUE);

-- set_with Always EX
WITH cur AS (SELECT value, expires_at FROM "public"."kv_store" WHERE key = $1 FOR UPDATE), upd AS (UPDATE "public"."kv_store" SET value = $2, expires_at = statement_timestamp() + $3, created_at = CASE WHEN FALSE THEN statement_timestamp() ELSE "public"."kv_store".created_at END, updated_at = statement_timestamp() FROM cur WHERE "public"."kv_store".key = $1 AND TRUE RETURNING 1), ins AS (INSERT INTO "public"."kv_store" AS kv (key, value, expires_at, created_at, updated_at) SELECT $1, $2, statement_timestamp() + $3, statement_timestamp(), statement_timestamp() WHERE NOT EXISTS (SELECT 1 FROM cur) AND TRUE ON CONFLICT (key) DO NOTHING RETURNING 1) SELECT EXISTS (SELECT 1 FROM upd) OR EXISTS (SELECT 1 FROM ins), NOT EXISTS (SELECT 1 FROM cur) AND TRUE AND NOT EXISTS (SELECT 1 FROM ins), NULL::bytea;

-- set_with Always EX GET
WITH cur AS (SELECT value, expires_at FROM "public"."kv_store" WHERE key = $1 FOR UPDATE), upd AS (UPDATE "public"."kv_store" SET value = $2, expires_at = statement_timestamp() + $3, created_at = CASE WHEN FALSE THEN statement_timestamp() ELSE "public"."kv_store".created_at END, updated_at = statement_timestamp() FROM cur WHERE "public"."kv_store".key = $1 AND TRUE RETURNING 1), ins AS (INSERT INTO "public"."kv_store" AS kv (key, value, expires_at, created_at, updated_at) SELECT $1, $2, statement_timestamp() + $3, statement_timestamp(), statement_timestamp() WHERE NOT EXISTS (SELECT 1 FROM cur) AND TRUE ON CONFLICT (key) DO NOTHING RETURNING 1) SELECT EXISTS (SELECT 1 FROM upd) OR EXISTS (SELECT 1 FROM ins), NOT EXISTS (SELECT 1 FROM cur) AND TRUE AND NOT EXISTS (SELECT 1 FROM ins), (SELECT value FROM cur WHERE TRUE);

-- set_with Always EXAT
WITH cur AS (SELECT value, expires_at FROM "public"."kv_store" WHERE key = $1 FOR UPDATE), upd AS (UPDATE "public"."kv_store" SET value = $2, expires_at = (timestamptz 'epoch' + $3::bigint * interval '1 microsecond'), created_at = CASE WHEN FALSE THEN statement_timestamp() ELSE "public"."kv_store".created_at END, updated_at = statement_timestamp() FROM cur WHERE "public"."kv_store".key = $1 AND TRUE RETURNING 1), ins AS (INSERT INTO "public"."kv_store" AS kv (key, value, expires_at, created_at, updated_at) SELECT $1, $2, (timestamptz 'epoch' + $3::bigint * interval '1 microsecond'), statement_timestamp(), statement_timestamp() WHERE NOT EXISTS (SELECT 1 FROM cur) AND TRUE ON CONFLICT (key) DO NOTHING RETURNING 1) SELECT EXISTS (SELECT 1 FROM upd) OR EXISTS (SELECT 1 FROM ins), NOT EXISTS (SELECT 1 FROM cur) AND TRUE AND NOT EXISTS (SELECT 1 FROM ins), NULL::bytea;

-- set_with Always EXAT GET
WITH cur AS (SELECT value, expires_at FROM "public"."kv_store" WHERE key = $1 FOR UPDATE), upd AS (UPDATE "public"."kv_store" SET value = $2, expires_at = (timestamptz 'epoch' + $3::bigint * interval '1 microsecond'), created_at = CASE WHEN FALSE THEN statement_timestamp() ELSE "public"."kv_store".created_at END, updated_at = statement_timestamp() FROM cur WHERE "public"."kv_store".key = $1 AND TRUE RETURNING 1), ins AS (INSERT INTO "public"."kv_store" AS kv (key, value, expires_at, created_at, updated_at) SELECT $1, $2, (timestamptz 'epoch' + $3::bigint * interval '1 microsecond'), statement_timestamp(), statement_timestamp() WHERE NOT EXISTS (SELECT 1 FROM cur) AND TRUE ON CONFLICT (key) DO NOTHING RETURNING 1) SELECT EXISTS (SELECT 1 FROM upd) OR EXISTS (SELECT 1 FROM ins), NOT EXISTS (SELECT 1 FROM cur) AND TRUE AND NOT EXISTS (SELECT 1 FROM ins), (SELECT value FROM cur WHERE TRUE);

-- set_with Always KEEPTTL
WITH cur AS (SELECT value, expires_at FROM "public"."kv_store" WHERE key = $1 FOR UPDATE), upd AS (UPDATE "public"."kv_store" SET value = $2, expires_at = CASE WHEN TRUE THEN cur.expires_at END, created_at = CASE WHEN FALSE THEN statement_timestamp() ELSE "public"."kv_store".created_at END, updated_at = statement_timestamp() FROM cur WHERE "public"."kv_store".key = $1 AND TRUE RETURNING 1), ins AS (INSERT INTO "public"."kv_store" AS kv (key, value, expires_at, created_at, updated_at) SELECT $1, $2, NULL, statement_timestamp(), statement_timestamp() WHERE NOT EXISTS (SELECT 1 FROM cur) AND TRUE ON CONFLICT (key) DO NOTHING RETURNING 1) SELECT EXISTS (SELECT 1 FROM upd) OR EXISTS (SELECT 1 FROM ins), NOT EXISTS (SELECT 1 FROM cur) AND TRUE AND NOT EXISTS (SELECT 1 FROM ins), NULL::bytea;

-- set_with Always KEEPTTL GET
WITH cur AS (SELECT value, expires_at FROM "public"."kv_store" WHERE key = $1 FOR UPDATE), upd AS (UPDATE "public"."kv_store" SET value = $2, expires_at = CASE WHEN TRUE THEN cur.expires_at END, created_at = CASE WHEN FALSE THEN statement_timestamp() ELSE "public"."kv_store".created_at END, updated_at = statement_timestamp() FROM cur WHERE "public"."kv_store".key = $1 AND TRUE RETURNING 1), ins AS (INSERT INTO "public"."kv_store" AS kv (key, value, expires_at, created_at, updated_at) SELECT $1, $2, NULL, statement_timestamp(), statement_timestamp() WHERE NOT EXISTS (SELECT 1 FROM cur) AND TRUE ON CONFLICT (key) DO NOTHING RETURNING 1) SELECT EXISTS (SELECT 1 FROM upd) OR EXISTS (SELECT 1 FROM ins), NOT EXISTS (SELECT 1 FROM cur) AND TRUE AND NOT EXISTS (SELECT 1 FROM ins), (SELECT value FROM cur WHERE TRUE);

-- set_with Absent no expiry
WITH cur AS (SELECT value, expires_at FROM "public"."kv_store" WHERE key = $1 FOR UPDATE), upd AS (UPDATE "public"."kv_store" SET value = $2, expires_at = NULL, created_at = CASE WHEN FALSE THEN statement_timestamp() ELSE "public"."kv_store".created_at END, updated_at = statement_timestamp() FROM cur WHERE "public"."kv_store".key = $1 AND FALSE RETURNING 1), ins AS (INSERT INTO "public"."kv_store" AS kv (key, value, expires_at, created_at, updated_at) SELECT $1, $2, NULL, statement_timestamp(), statement_timestamp() WHERE NOT EXISTS (SELECT 1 FROM cur) AND TRUE ON CONFLICT (key) DO NOTHING RETURNING 1) SELECT EXISTS (SELECT 1 FROM upd) OR EXISTS (SELECT 1 FROM ins), NOT EXISTS (SELECT 1 FROM cur) AND TRUE AND NOT EXISTS (SELECT 1 FROM ins), NULL::bytea;

-- set_with Absent no expiry GET
WITH cur AS (SELECT value, expires_at FROM "public"."kv_store" WHERE key = $1 FOR UPDATE), upd AS (UPDATE "public"."kv_store" SET value = $2, expires_at = NULL, created_at = CASE WHEN FALSE THEN statement_timestamp() ELSE "public"."kv_store".created_at END, updated_at = statement_timestamp() FROM cur WHERE "public"."kv_store".key = $1 AND FALSE RETURNING 1), ins AS (INSERT INTO "public"."kv_store" AS kv (key, value, expires_at, created_at, updated_at) SELECT $1, $2, NULL, statement_timestamp(), statement_timestamp() WHERE NOT EXISTS (SELECT 1 FROM cur) AND TRUE ON CONFLICT (key) DO NOTHING RETURNING 1) SELECT EXISTS (SELECT 1 FROM upd) OR EXISTS (SELECT 1 FROM ins), NOT EXISTS (SELECT 1 FROM cur) AND TRUE AND NOT EXISTS (SELECT 1 FROM ins), (SELECT value FROM cur WHERE TRUE);

-- set_with Absent EX
WITH cur AS (SELECT value, expires_at FROM "public"."kv_store" WHERE key = $1 FOR UPDATE), upd AS (UPDATE "public"."kv_store" SET value = $2, expires_at = statement_timestamp() + $3, created_at = CASE WHEN FALSE THEN statement_timestamp() ELSE "public"."kv_store".created_at END, updated_at = statement_timestamp() FROM cur WHERE "public"."kv_store".key = $1 AND FALSE RETURNING 1), ins AS (INSERT INTO "public"."kv_store" AS kv (key, value, expires_at, created_at, updated_at) SELECT $1, $2, statement_timestamp() + $3, statement_timestamp(), statement_timestamp() WHERE NOT EXISTS (SELECT 1 FROM cur) AND TRUE ON CONFLICT (key) DO NOTHING RETURNING 1) SELECT EXISTS (SELECT 1 FROM upd) OR EXISTS (SELECT 1 FROM ins), NOT EXISTS (SELECT 1 FROM cur) AND TRUE AND NOT EXISTS (SELECT 1 FROM ins), NULL::bytea;

-- set_with Absent EX GET
WITH cur AS (SELECT value, expires_at FROM "public"."kv_store" WHERE key = $1 FOR UPDATE), upd AS (UPDATE "public"."kv_store" SET value = $2, expires_at = statement_timestamp() + $3, created_at = CASE WHEN FALSE THEN statement_timestamp() ELSE "public"."kv_store".created_at END, updated_at = statement_timestamp() FROM cur WHERE "public"."kv_store".key = $1 AND FALSE RETURNING 1), ins AS (INSERT INTO "public"."kv_store" AS kv (key, value, expires_at, created_at, updated_at) SELECT $1, $2, statement_timestamp() + $3, statement_timestamp(), statement_timestamp() WHERE NOT EXISTS (SELECT 1 FROM cur) AND TRUE ON CONFLICT (key) DO NOTHING RETURNING 1) SELECT EXISTS (SELECT 1 FROM upd) OR EXISTS (SELECT 1 FROM ins), NOT EXISTS (SELECT 1 FROM cur) AND TRUE AND NOT EXISTS (SELECT 1 FROM ins), (SELECT value FROM cur WHERE TRUE);

-- set_with Absent EXAT
WITH cur AS (SELECT value, expires_at FROM "public"."kv_store" WHERE key = $1 FOR UPDATE), upd AS (UPDATE "public"."kv_store" SET value = $2, expires_at = (timestamptz 'epoch' + $3::bigint * interval '1 microsecond'), created_at = CASE WHEN FALSE THEN statement_timestamp() ELSE "public"."kv_store".created_at END, updated_at = statement_timestamp() FROM cur WHERE "public"."kv_store".key = $1 AND FALSE RETURNING 1), ins AS (INSERT INTO "public"."kv_store" AS kv (key, value, expires_at, created_at, updated_at) SELECT $1, $2, (timestamptz 'epoch' + $3::bigint * interval '1 microsecond'), statement_timestamp(), statement_timestamp() WHERE NOT EXISTS (SELECT 1 FROM cur) AND TRUE ON CONFLICT (key) DO NOTHING RETURNING 1) SELECT EXISTS (SELECT 1 FROM upd) OR EXISTS (SELECT 1 FROM ins), NOT EXISTS (SELECT 1 FROM cur) AND TRUE AND NOT EXISTS (SELECT 1 FROM ins), NULL::bytea;

-- set_with Absent EXAT GET
WITH cur AS (SELECT value, expires_at FROM "public"."kv_store" WHERE key = $1 FOR UPDATE), upd AS (UPDATE "public"."kv_store" SET value = $2, expires_at = (timestamptz 'epoch' + $3::bigint * interval '1 microsecond'), created_at = CASE WHEN FALSE THEN statement_timestamp() ELSE "public"."kv_store".created_at END, updated_at = statement_timestamp() FROM cur WHERE "public"."kv_store".key = $1 AND FALSE RETURNING 1), ins AS (INSERT INTO "public"."kv_store" AS kv (key, value, expires_at, created_at, updated_at) SELECT $1, $2, (timestamptz 'epoch' + $3::bigint * interval '1 microsecond'), statement_timestamp(), statement_timestamp() WHERE NOT EXISTS (SELECT 1 FROM cur) AND TRUE ON CONFLICT (key) DO NOTHING RETURNING 1) SELECT EXISTS (SELECT 1 FROM upd) OR EXISTS (SELECT 1 FROM ins), NOT EXISTS (SELECT 1 FROM cur) AND TRUE AND NOT EXISTS (SELECT 1 FROM ins), (SELECT value FROM cur WHERE TRUE);

-- set_with Absent KEEPTTL
WITH cur AS (SELECT value, expires_at FROM "public"."kv_store" WHERE key = $1 FOR UPDATE), upd AS (UPDATE "public"."kv_store" SET value = $2, expires_at = CASE WHEN TRUE THEN cur.expires_at END, created_at = CASE WHEN FALSE THEN statement_timestamp() ELSE "public"."kv_store".created_at END, updated_at = statement_timestamp() FROM cur WHERE "public"."kv_store".key = $1 AND FALSE RETURNING 1), ins AS (INSERT INTO "public"."kv_store" AS kv (key, value, expires_at, created_at, updated_at) SELECT $1, $2, NULL, statement_timestamp(), statement_timestamp() WHERE NOT EXISTS (SELECT 1 FROM cur) AND TRUE ON CONFLICT (key) DO NOTHING RETURNING 1) SELECT EXISTS (SELECT 1 FROM upd) OR EXISTS (SELECT 1 FROM ins), NOT EXISTS (SELECT 1 FROM cur) AND TRUE AND NOT EXISTS (SELECT 1 FROM ins), NULL::bytea;

-- set_with Absent KEEPTTL GET
WITH cur AS (SELECT value, expires_at FROM "public"."kv_store" WHERE key = $1 FOR UPDATE), upd AS (UPDATE "public"."kv_store" SET value = $2, expires_at = CASE WHEN TRUE THEN cur.expires_at END, created_at = CASE WHEN FALSE THEN statement_timestamp() ELSE "public"."kv_store".created_at END, updated_at = statement_timestamp() FROM cur WHERE "public"."kv_store".key = $1 AND FALSE RETURNING 1), ins AS (INSERT INTO "public"."kv_store" AS kv (key, value, expires_at, created_at, updated_at) SELECT $1, $2, NULL, statement_timestamp(), statement_timestamp() WHERE NOT EXISTS (SELECT 1 FROM cur) AND TRUE ON CONFLICT (key) DO NOTHING RETURNING 1) SELECT EXISTS (SELECT 1 FROM upd) OR EXISTS (SELECT 1 FROM ins), NOT EXISTS (SELECT 1 FROM cur) AND TRUE AND NOT EXISTS (SELECT 1 FROM ins), (SELECT value FROM cur WHERE TRUE);

-- set_with Present no expiry
WITH cur AS (SELECT value, expires_at FROM "public"."kv_store" WHERE key = $1 FOR UPDATE), upd AS (UPDATE "public"."kv_store" SET value = $2, expires_at = NULL, created_at = CASE WHEN FALSE THEN statement_timestamp() ELSE "public"."kv_store".created_at END, updated_at = statement_timestamp() FROM cur WHERE "public"."kv_store".key = $1 AND TRUE RETURNING 1), ins AS (INSERT INTO "public"."kv_store" AS kv (key, value, expires_at, created_at, updated_at) SELECT $1, $2, NULL, statement_timestamp(), statement_timestamp() WHERE NOT EXISTS (SELECT 1 FROM cur) AND FALSE ON CONFLICT (key) DO NOTHING RETURNING 1) SELECT EXISTS (SELECT 1 FROM upd) OR EXISTS (SELECT 1 FROM ins), NOT EXISTS (SELECT 1 FROM cur) AND FALSE AND NOT EXISTS (SELECT 1 FROM ins), NULL::bytea;

-- set_with Present no expiry GET
WITH cur AS (SELECT value, expires_at FROM "public"."kv_store" WHERE key = $1 FOR UPDATE), upd AS (UPDATE "public"."kv_store" SET value = $2, expires_at = NULL, created_at = CASE WHEN FALSE THEN statement_timestamp() ELSE "public"."kv_store".created_at END, updated_at = statement_timestamp() FROM cur WHERE "public"."kv_store".key = $1 AND TRUE RETURNING 1), ins AS (INSERT INTO "public"."kv_store" AS kv (key, value, expires_at, created_at, updated_at) SELECT $1, $2, NULL, statement_timestamp(), statement_timestamp() WHERE NOT EXISTS (SELECT 1 FROM cur) AND FALSE ON CONFLICT (key) DO NOTHING RETURNING 1) SELECT EXISTS (SELECT 1 FROM upd) OR EXISTS (SELECT 1 FROM ins), NOT EXISTS (SELECT 1 FROM cur) AND FALSE AND NOT EXISTS (SELECT 1 FROM ins), (SELECT value FROM cur WHERE TRUE);

-- set_with Present EX
WITH cur AS (SELECT value, expires_at FROM "public"."kv_store" WHERE key = $1 FOR UPDATE), upd AS (UPDATE "public"."kv_store" SET value = $2, expires_at = statement_timestamp() + $3, created_at = CASE WHEN FALSE THEN statement_timestamp() ELSE "public"."kv_store".created_at END, updated_at = statement_timestamp() FROM cur WHERE "public"."kv_store".key = $1 AND TRUE RETURNING 1), ins AS (INSERT INTO "public"."kv_store" AS kv (key, value, expires_at, created_at, updated_at) SELECT $1, $2, statement_timestamp() + $3, statement_timestamp(), statement_timestamp() WHERE NOT EXISTS (SELECT 1 FROM cur) AND FALSE ON CONFLICT (key) DO NOTHING RETURNING 1) SELECT EXISTS (SELECT 1 FROM upd) OR EXISTS (SELECT 1 FROM ins), NOT EXISTS (SELECT 1 FROM cur) AND FALSE AND NOT EXISTS (SELECT 1 FROM ins), NULL::bytea;

-- set_with Present EX GET
WITH cur AS (SELECT value, expires_at FROM "public"."kv_store" WHERE key = $1 FOR UPDATE), upd AS (UPDATE "public"."kv_store" SET value = $2, expires_at = statement_timestamp() + $3, created_at = CASE WHEN FALSE THEN statement_timestamp() ELSE "public"."kv_store".created_at END, updated_at = statement_timestamp() FROM cur WHERE "public"."kv_store".key = $1 AND TRUE RETURNING 1), ins AS (INSERT INTO "public"."kv_store" AS kv (key, value, expires_at, created_at, updated_at) SELECT $1, $2, statement_timestamp() + $3, statement_timestamp(), statement_timestamp() WHERE NOT EXISTS (SELECT 1 FROM cur) AND FALSE ON CONFLICT (key) DO NOTHING RETURNING 1) SELECT EXISTS (SELECT 1 FROM upd) OR EXISTS (SELECT 1 FROM ins), NOT EXISTS (SELECT 1 FROM cur) AND FALSE AND NOT EXISTS (SELECT 1 FROM ins), (SELECT value FROM cur WHERE TRUE);

-- set_with Present EXAT
WITH cur AS (SELECT value, expires_at FROM "public"."kv_store" WHERE key = $1 FOR UPDATE), upd AS (UPDATE "public"."kv_store" SET value = $2, expires_at = (timestamptz 'epoch' + $3::bigint * interval '1 microsecond'), created_at = CASE WHEN FALSE THEN statement_timestamp() ELSE "public"."kv_store".created_at END, updated_at = statement_timestamp() FROM cur WHERE "public"."kv_store".key = $1 AND TRUE RETURNING 1), ins AS (INSERT INTO "public"."kv_store" AS kv (key, value, expires_at, created_at, updated_at) SELECT $1, $2, (timestamptz 'epoch' + $3::bigint * interval '1 microsecond'), statement_timestamp(), statement_timestamp() WHERE NOT EXISTS (SELECT 1 FROM cur) AND FALSE ON CONFLICT (key) DO NOTHING RETURNING 1) SELECT EXISTS (SELECT 1 FROM upd) OR EXISTS (SELECT 1 FROM ins), NOT EXISTS (SELECT 1 FROM cur) AND FALSE AND NOT EXISTS (SELECT 1 FROM ins), NULL::bytea;

-- set_with Present EXAT GET
WITH cur AS (SELECT value, expires_at FROM "public"."kv_store" WHERE key = $1 FOR UPDATE), upd AS (UPDATE "public"."kv_store" SET value = $2, expires_at = (timestamptz 'epoch' + $3::bigint * interval '1 microsecond'), created_at = CASE WHEN FALSE THEN statement_timestamp() ELSE "public"."kv_store".created_at END, updated_at = statement_timestamp() FROM cur WHERE "public"."kv_store".key = $1 AND TRUE RETURNING 1), ins AS (INSERT INTO "public"."kv_store" AS kv (key, value, expires_at, created_at, updated_at) SELECT $1, $2, (timestamptz 'epoch' + $3::bigint * interval '1 microsecond'), statement_timestamp(), statement_timestamp() WHERE NOT EXISTS (SELECT 1 FROM cur) AND FALSE ON CONFLICT (key) DO NOTHING RETURNING 1) SELECT EXISTS (SELECT 1 FROM upd) OR EXISTS (SELECT 1 FROM ins), NOT EXISTS (SELECT 1 FROM cur) AND FALSE AND NOT EXISTS (SELECT 1 FROM ins), (SELECT value FROM cur WHERE TRUE);

-- set_with Present KEEPTTL
WITH cur AS (SELECT value, expires_at FROM "public"."kv_store" WHERE key = $1 FOR UPDATE), upd AS (UPDATE "public"."kv_store" SET value = $2, expires_at = CASE WHEN TRUE THEN cur.expires_at END, created_at = CASE WHEN FALSE THEN statement_timestamp() ELSE "public"."kv_store".created_at END, updated_at = statement_timestamp() FROM cur WHERE "public"."kv_store".key = $1 AND TRUE RETURNING 1), ins AS (INSERT INTO "public"."kv_store" AS kv (key, value, expires_at, created_at, updated_at) SELECT $1, $2, NULL, statement_timestamp(), statement_timestamp() WHERE NOT EXISTS (SELECT 1 FROM cur) AND FALSE ON CONFLICT (key) DO NOTHING RETURNING 1) SELECT EXISTS (SELECT 1 FROM upd) OR EXISTS (SELECT 1 FROM ins), NOT EXISTS (SELECT 1 FROM cur) AND FALSE AND NOT EXISTS (SELECT 1 FROM ins), NULL::bytea;

-- set_with Present KEEPTTL GET
WITH cur AS (SELECT value, expires_at FROM "public"."kv_store" WHERE key = $1 FOR UPDATE), upd AS (UPDATE "public"."kv_store" SET value = $2, expires_at = CASE WHEN TRUE THEN cur.expires_at END, created_at = CASE WHEN FALSE THEN statement_timestamp() ELSE "public"."kv_store".created_at END, updated_at = statement_timestamp() FROM cur WHERE "public"."kv_store".key = $1 AND TRUE RETURNING 1), ins AS (INSERT INTO "public"."kv_store" AS kv (key, value, expires_at, created_at, updated_at) SELECT $1, $2, NULL, statement_timestamp(), statement_timestamp() WHERE NOT EXISTS (SELECT 1 FROM cur) AND FALSE ON CONFLICT (key) DO NOTHING RETURNING 1) SELECT EXISTS (SELECT 1 FROM upd) OR EXISTS (SELECT 1 FROM ins), NOT EXISTS (SELECT 1 FROM cur) AND FALSE AND NOT EXISTS (SELECT 1 FROM ins), (SELECT value FROM cur WHERE TRUE);

-- expire Always
UPDATE "public"."kv_store" SET expires_at = statement_timestamp() + $2 WHERE key = $1 AND TRUE AND TRUE;

-- expire_at Always
UPDATE "public"."kv_store" SET expires_at = (timestamptz 'epoch' + $2::bigint * interval '1 microsecond') WHERE key = $1 AND TRUE AND TRUE;

-- expire NoExpiry
UPDATE "public"."kv_store" SET expires_at = statement_timestamp() + $2 WHERE key = $1 AND TRUE AND expires_at IS NULL;

-- expire_at NoExpiry
UPDATE "public"."kv_store" SET expires_at = (timestamptz 'epoch' + $2::bigint * interval '1 microsecond') WHERE key = $1 AND TRUE AND expires_at IS NULL;

-- expire HasExpiry
UPDATE "public"."kv_store" SET expires_at = statement_timestamp() + $2 WHERE key = $1 AND TRUE AND expires_at IS NOT NULL;

-- expire_at HasExpiry
UPDATE "public"."kv_store" SET expires_at = (timestamptz 'epoch' + $2::bigint * interval '1 microsecond') WHERE key = $1 AND TRUE AND expires_at IS NOT NULL;

-- expire Later
UPDATE "public"."kv_store" SET expires_at = statement_timestamp() + $2 WHERE key = $1 AND TRUE AND expires_at IS NOT NULL AND statement_timestamp() + $2 > expires_at;

-- expire_at Later
UPDATE "public"."kv_store" SET expires_at = (timestamptz 'epoch' + $2::bigint * interval '1 microsecond') WHERE key = $1 AND TRUE AND expires_at IS NOT NULL AND (timestamptz 'epoch' + $2::bigint * interval '1 microsecond') > expires_at;

-- expire Sooner
UPDATE "public"."kv_store" SET expires_at = statement_timestamp() + $2 WHERE key = $1 AND TRUE AND (expires_at IS NULL OR statement_timestamp() + $2 < expires_at);

-- expire_at Sooner
UPDATE "public"."kv_store" SET expires_at = (timestamptz 'epoch' + $2::bigint * interval '1 microsecond') WHERE key = $1 AND TRUE AND (expires_at IS NULL OR (timestamptz 'epoch' + $2::bigint * interval '1 microsecond') < expires_at);

-- keys (key >= $1, key < $2)
SELECT key FROM "public"."kv_store" WHERE key >= $1 AND key < $2 AND TRUE ORDER BY key LIMIT $3 OFFSET $4;

-- keys (key >= $1)
SELECT key FROM "public"."kv_store" WHERE key >= $1 AND TRUE ORDER BY key LIMIT $3 OFFSET $4;

-- keys (key > $1, key < $2)
SELECT key FROM "public"."kv_store" WHERE key > $1 AND key < $2 AND TRUE ORDER BY key LIMIT $3 OFFSET $4;

-- keys (key > $1)
SELECT key FROM "public"."kv_store" WHERE key > $1 AND TRUE ORDER BY key LIMIT $3 OFFSET $4;

-- scan (key >= $1, key < $2)
SELECT key, value FROM "public"."kv_store" WHERE key >= $1 AND key < $2 AND TRUE ORDER BY key LIMIT $3 OFFSET $4;

-- scan (key >= $1)
SELECT key, value FROM "public"."kv_store" WHERE key >= $1 AND TRUE ORDER BY key LIMIT $3 OFFSET $4;

-- scan (key > $1, key < $2)
SELECT key, value FROM "public"."kv_store" WHERE key > $1 AND key < $2 AND TRUE ORDER BY key LIMIT $3 OFFSET $4;

-- scan (key > $1)
SELECT key, value FROM "public"."kv_store" WHERE key > $1 AND TRUE ORDER BY key LIMIT $3 OFFSET $4;

-- count (key >= $1, key < $2)
SELECT count(*) FROM "public"."kv_store" WHERE key >= $1 AND key < $2 AND TRUE;

-- count (key >= $1)
SELECT count(*) FROM "public"."kv_store" WHERE key >= $1 AND TRUE;

-- count (key > $1, key < $2)
SELECT count(*) FROM "public"."kv_store" WHERE key > $1 AND key < $2 AND TRUE;

-- count (key > $1)
SELECT count(*) FROM "public"."kv_store" WHERE key > $1 AND TRUE;

-- keys_matching (key >= $1, key < $2)
SELECT key FROM "public"."kv_store" WHERE key >= $1 AND key < $2 AND TRUE AND key ~ $5 ORDER BY key LIMIT $3 OFFSET $4;

-- keys_matching (key >= $1)
SELECT key FROM "public"."kv_store" WHERE key >= $1 AND TRUE AND key ~ $5 ORDER BY key LIMIT $3 OFFSET $4;

-- keys_matching (key > $1, key < $2)
SELECT key FROM "public"."kv_store" WHERE key > $1 AND key < $2 AND TRUE AND key ~ $5 ORDER BY key LIMIT $3 OFFSET $4;

-- keys_matching (key > $1)
SELECT key FROM "public"."kv_store" WHERE key > $1 AND TRUE AND key ~ $5 ORDER BY key LIMIT $3 OFFSET $4;

-- scan_matching (key >= $1, key < $2)
SELECT key, value FROM "public"."kv_store" WHERE key >= $1 AND key < $2 AND TRUE AND key ~ $5 ORDER BY key LIMIT $3 OFFSET $4;

-- scan_matching (key >= $1)
SELECT key, value FROM "public"."kv_store" WHERE key >= $1 AND TRUE AND key ~ $5 ORDER BY key LIMIT $3 OFFSET $4;

-- scan_matching (key > $1, key < $2)
SELECT key, value FROM "public"."kv_store" WHERE key > $1 AND key < $2 AND TRUE AND key ~ $5 ORDER BY key LIMIT $3 OFFSET $4;

-- scan_matching (key > $1)
SELECT key, value FROM "public"."kv_store" WHERE key > $1 AND TRUE AND key ~ $5 ORDER BY key LIMIT $3 OFFSET $4;

-- count_matching (key >= $1, key < $2)
SELECT count(*) FROM "public"."kv_store" WHERE key >= $1 AND key < $2 AND TRUE AND key ~ $3;

-- count_matching (key >= $1)
SELECT count(*) FROM "public"."kv_store" WHERE key >= $1 AND TRUE AND key ~ $3;

-- count_matching (key > $1, key < $2)
SELECT count(*) FROM "public"."kv_store" WHERE key > $1 AND key < $2 AND TRUE AND key ~ $3;

-- count_matching (key > $1)
SELECT count(*) FROM "public"."kv_store" WHERE key > $1 AND TRUE AND key ~ $3;

-- delete_range (key >= $1, key < $2)
WITH d AS (DELETE FROM "public"."kv_store" WHERE key >= $1 AND key < $2 RETURNING expires_at) SELECT count(*) FROM d WHERE TRUE;

-- delete_range (key >= $1)
WITH d AS (DELETE FROM "public"."kv_store" WHERE key >= $1 RETURNING expires_at) SELECT count(*) FROM d WHERE TRUE;

-- delete_range (key > $1, key < $2)
WITH d AS (DELETE FROM "public"."kv_store" WHERE key > $1 AND key < $2 RETURNING expires_at) SELECT count(*) FROM d WHERE TRUE;

-- delete_range (key > $1)
WITH d AS (DELETE FROM "public"."kv_store" WHERE key > $1 RETURNING expires_at) SELECT count(*) FROM d WHERE TRUE;

-- delete_range_batch (key >= $1, key < $2)
WITH batch AS (SELECT key FROM "public"."kv_store" WHERE key >= $1 AND key < $2 ORDER BY key LIMIT $3 FOR UPDATE SKIP LOCKED), d AS (DELETE FROM "public"."kv_store" WHERE key = ANY(ARRAY(SELECT key FROM batch)) RETURNING expires_at) SELECT (SELECT count(*) FROM batch), (SELECT max(key) FROM batch), (SELECT count(*) FROM d WHERE TRUE);

-- delete_range_batch (key >= $1)
WITH batch AS (SELECT key FROM "public"."kv_store" WHERE key >= $1 ORDER BY key LIMIT $3 FOR UPDATE SKIP LOCKED), d AS (DELETE FROM "public"."kv_store" WHERE key = ANY(ARRAY(SELECT key FROM batch)) RETURNING expires_at) SELECT (SELECT count(*) FROM batch), (SELECT max(key) FROM batch), (SELECT count(*) FROM d WHERE TRUE);

-- delete_range_batch (key > $1, key < $2)
WITH batch AS (SELECT key FROM "public"."kv_store" WHERE key > $1 AND key < $2 ORDER BY key LIMIT $3 FOR UPDATE SKIP LOCKED), d AS (DELETE FROM "public"."kv_store" WHERE key = ANY(ARRAY(SELECT key FROM batch)) RETURNING expires_at) SELECT (SELECT count(*) FROM batch), (SELECT max(key) FROM batch), (SELECT count(*) FROM d WHERE TRUE);

-- delete_range_batch (key > $1)
WITH batch AS (SELECT key FROM "public"."kv_store" WHERE key > $1 ORDER BY key LIMIT $3 FOR UPDATE SKIP LOCKED), d AS (DELETE FROM "public"."kv_store" WHERE key = ANY(ARRAY(SELECT key FROM batch)) RETURNING expires_at) SELECT (SELECT count(*) FROM batch), (SELECT max(key) FROM batch), (SELECT count(*) FROM d WHERE TRUE);

-- delete_range_batch_waiting (key >= $1, key < $2)
WITH batch AS (SELECT key FROM "public"."kv_store" WHERE key >= $1 AND key < $2 ORDER BY key LIMIT $3 FOR UPDATE), d AS (DELETE FROM "public"."kv_store" WHERE key = ANY(ARRAY(SELECT key FROM batch)) RETURNING expires_at) SELECT (SELECT count(*) FROM batch), (SELECT max(key) FROM batch), (SELECT count(*) FROM d WHERE TRUE);

-- delete_range_batch_waiting (key >= $1)
WITH batch AS (SELECT key FROM "public"."kv_store" WHERE key >= $1 ORDER BY key LIMIT $3 FOR UPDATE), d AS (DELETE FROM "public"."kv_store" WHERE key = ANY(ARRAY(SELECT key FROM batch)) RETURNING expires_at) SELECT (SELECT count(*) FROM batch), (SELECT max(key) FROM batch), (SELECT count(*) FROM d WHERE TRUE);

-- delete_range_batch_waiting (key > $1, key < $2)
WITH batch AS (SELECT key FROM "public"."kv_store" WHERE key > $1 AND key < $2 ORDER BY key LIMIT $3 FOR UPDATE), d AS (DELETE FROM "public"."kv_store" WHERE key = ANY(ARRAY(SELECT key FROM batch)) RETURNING expires_at) SELECT (SELECT count(*) FROM batch), (SELECT max(key) FROM batch), (SELECT count(*) FROM d WHERE TRUE);

-- delete_range_batch_waiting (key > $1)
WITH batch AS (SELECT key FROM "public"."kv_store" WHERE key > $1 ORDER BY key LIMIT $3 FOR UPDATE), d AS (DELETE FROM "public"."kv_store" WHERE key = ANY(ARRAY(SELECT key FROM batch)) RETURNING expires_at) SELECT (SELECT count(*) FROM batch), (SELECT max(key) FROM batch), (SELECT count(*) FROM d WHERE TRUE);

-- batched exists (purging)
SELECT key FROM "public"."kv_store" WHERE key = ANY((SELECT $1::text[])::text[]) AND TRUE;

-- batched exists (read-only session)
SELECT key FROM "public"."kv_store" WHERE key = ANY((SELECT $1::text[])::text[]) AND TRUE;

-- batched set / set_ex
INSERT INTO "public"."kv_store" AS kv (key, value, expires_at, created_at, updated_at) SELECT k, v, statement_timestamp() + ttl, statement_timestamp(), statement_timestamp() FROM UNNEST($1::text[], $2::bytea[], $3::interval[]) AS u(k, v, ttl) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at, created_at = CASE WHEN FALSE THEN EXCLUDED.created_at ELSE kv.created_at END, updated_at = EXCLUDED.updated_at;

-- batched delete
WITH d AS (DELETE FROM "public"."kv_store" WHERE key IN (SELECT key FROM "public"."kv_store" WHERE key = ANY((SELECT $1::text[])::text[]) ORDER BY key FOR UPDATE) RETURNING key, expires_at) SELECT key FROM d WHERE TRUE;
