-- Citus mode (TtlCleanupStrategy::OnRead): the statements that differ from on_read.sql.

-- get (purging)
WITH purged AS (DELETE FROM "public"."kv_store" WHERE key = $1 AND expires_at <= statement_timestamp()) SELECT value FROM "public"."kv_store" WHERE key = $1 AND (expires_at IS NULL OR expires_at > statement_timestamp());

-- exists (purging)
WITH purged AS (DELETE FROM "public"."kv_store" WHERE key = $1 AND expires_at <= statement_timestamp()) SELECT EXISTS (SELECT 1 FROM "public"."kv_store" WHERE key = $1 AND (expires_at IS NULL OR expires_at > statement_timestamp()));

-- ttl (purging)
WITH purged AS (DELETE FROM "public"."kv_store" WHERE key = $1 AND expires_at <= statement_timestamp()) SELECT expires_at - statement_timestamp() FROM "public"."kv_store" WHERE key = $1 AND (expires_at IS NULL OR expires_at > statement_timestamp());

-- get_many (purging)
SELECT key, value FROM "public"."kv_store" WHERE key = ANY($1) AND (expires_at IS NULL OR expires_at > statement_timestamp());

-- get_many (read-only session)
SELECT key, value FROM "public"."kv_store" WHERE key = ANY($1) AND (expires_at IS NULL OR expires_at > statement_timestamp());

-- delete
WITH d AS (DELETE FROM "public"."kv_store" WHERE key = $1 RETURNING expires_at) SELECT (expires_at IS NULL OR expires_at > statement_timestamp()) FROM d;

-- get_ex
WITH purged AS (DELETE FROM "public"."kv_store" WHERE key = $1 AND expires_at <= statement_timestamp()) UPDATE "public"."kv_store" SET expires_at = statement_timestamp() + $2 WHERE key = $1 AND (expires_at IS NULL OR expires_at > statement_timestamp()) RETURNING value;

-- get_persist
WITH purged AS (DELETE FROM "public"."kv_store" WHERE key = $1 AND expires_at <= statement_timestamp()) UPDATE "public"."kv_store" SET expires_at = NULL WHERE key = $1 AND (expires_at IS NULL OR expires_at > statement_timestamp()) RETURNING value;

-- delete_many
WITH d AS (DELETE FROM "public"."kv_store" WHERE key = ANY($1) RETURNING expires_at) SELECT count(*) FROM d WHERE (expires_at IS NULL OR expires_at > statement_timestamp());

-- cas_absent
WITH cur AS (SELECT value, expires_at, statement_timestamp() AS now FROM "public"."kv_store" WHERE key = $1 FOR UPDATE), taken AS (UPDATE "public"."kv_store" SET value = $2, expires_at = NULL, created_at = statement_timestamp(), updated_at = statement_timestamp() FROM cur WHERE "public"."kv_store".key = $1 AND cur.expires_at <= cur.now RETURNING 1) SELECT EXISTS (SELECT 1 FROM taken) OR FALSE, (SELECT value FROM cur WHERE (cur.expires_at IS NULL OR cur.expires_at > cur.now));

-- cas_present
WITH cur AS (SELECT value, expires_at, statement_timestamp() AS now FROM "public"."kv_store" WHERE key = $1 FOR UPDATE), upd AS (UPDATE "public"."kv_store" SET value = $3, updated_at = statement_timestamp() FROM cur WHERE "public"."kv_store".key = $1 AND (cur.expires_at IS NULL OR cur.expires_at > cur.now) AND cur.value = $2 RETURNING 1) SELECT EXISTS (SELECT 1 FROM upd), (SELECT value FROM cur WHERE (cur.expires_at IS NULL OR cur.expires_at > cur.now));

-- get_and_set
WITH cur AS (SELECT value, expires_at, statement_timestamp() AS now FROM "public"."kv_store" WHERE key = $1 FOR UPDATE), upd AS (UPDATE "public"."kv_store" SET value = $2, expires_at = NULL, created_at = CASE WHEN cur.expires_at <= cur.now THEN cur.now ELSE "public"."kv_store".created_at END, updated_at = statement_timestamp() FROM cur WHERE "public"."kv_store".key = $1 RETURNING 1) SELECT EXISTS (SELECT 1 FROM upd) OR FALSE, (SELECT value FROM cur WHERE (cur.expires_at IS NULL OR cur.expires_at > cur.now));

-- get_and_delete
WITH d AS (DELETE FROM "public"."kv_store" WHERE key = $1 RETURNING value, expires_at) SELECT CASE WHEN (expires_at IS NULL OR expires_at > statement_timestamp()) THEN value END FROM d;

-- append
INSERT INTO "public"."kv_store" AS kv (key, value, expires_at, created_at, updated_at) VALUES ($1, $2, NULL, statement_timestamp(), statement_timestamp()) ON CONFLICT (key) DO UPDATE SET value = CASE WHEN kv.expires_at <= EXCLUDED.updated_at THEN EXCLUDED.value ELSE kv.value || EXCLUDED.value END, expires_at = CASE WHEN kv.expires_at <= EXCLUDED.updated_at THEN NULL ELSE kv.expires_at END, created_at = CASE WHEN kv.expires_at <= EXCLUDED.updated_at THEN EXCLUDED.created_at ELSE kv.created_at END, updated_at = EXCLUDED.updated_at WHERE kv.expires_at <= EXCLUDED.updated_at OR octet_length(kv.value) + octet_length(EXCLUDED.value) <= $3 RETURNING octet_length(value)::bigint, NULL::bigint;

-- rename
WITH lock1 AS (SELECT key FROM "public"."kv_store" WHERE key = LEAST($1 COLLATE "C", $2) FOR UPDATE), lock2 AS (SELECT key FROM "public"."kv_store" WHERE key = GREATEST($1 COLLATE "C", $2) FOR UPDATE), locked AS (SELECT key FROM lock1 UNION ALL SELECT key FROM lock2), src AS (DELETE FROM "public"."kv_store" WHERE key = $1 AND (expires_at IS NULL OR expires_at > statement_timestamp()) AND EXISTS (SELECT 1 FROM locked) RETURNING value, expires_at), ins AS (INSERT INTO "public"."kv_store" AS kv (key, value, expires_at, created_at, updated_at) SELECT $2, value, expires_at, statement_timestamp(), statement_timestamp() FROM src ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at, created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at RETURNING 1) SELECT EXISTS (SELECT 1 FROM ins);

-- rename_nx
WITH lock1 AS (SELECT key, expires_at FROM "public"."kv_store" WHERE key = LEAST($1 COLLATE "C", $2) FOR UPDATE), lock2 AS (SELECT key, expires_at FROM "public"."kv_store" WHERE key = GREATEST($1 COLLATE "C", $2) FOR UPDATE), locked AS (SELECT key, expires_at FROM lock1 UNION ALL SELECT key, expires_at FROM lock2), src AS (DELETE FROM "public"."kv_store" WHERE key = $1 AND (expires_at IS NULL OR expires_at > statement_timestamp()) AND EXISTS (SELECT 1 FROM locked) AND NOT EXISTS (SELECT 1 FROM locked WHERE key = $2 AND (locked.expires_at IS NULL OR locked.expires_at > statement_timestamp())) RETURNING value, expires_at), ins AS (INSERT INTO "public"."kv_store" AS kv (key, value, expires_at, created_at, updated_at) SELECT $2, value, expires_at, statement_timestamp(), statement_timestamp() FROM src ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at, created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at WHERE kv.expires_at <= EXCLUDED.updated_at RETURNING 1) SELECT EXISTS (SELECT 1 FROM ins), CASE WHEN EXISTS (SELECT 1 FROM src) AND NOT EXISTS (SELECT 1 FROM ins) THEN ('pgkv: a concurrent writer took the target ' || (SELECT count(*) FROM src))::int END;

-- copy
WITH lock1 AS (SELECT key FROM "public"."kv_store" WHERE key = LEAST($1 COLLATE "C", $2) FOR SHARE), lock2 AS (SELECT key FROM "public"."kv_store" WHERE key = GREATEST($1 COLLATE "C", $2) FOR SHARE), locked AS (SELECT key FROM lock1 UNION ALL SELECT key FROM lock2), src AS (SELECT value, expires_at FROM "public"."kv_store" WHERE key = $1 AND (expires_at IS NULL OR expires_at > statement_timestamp()) AND EXISTS (SELECT 1 FROM locked)), ins AS (INSERT INTO "public"."kv_store" AS kv (key, value, expires_at, created_at, updated_at) SELECT $2, value, expires_at, statement_timestamp(), statement_timestamp() FROM src ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at, created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at WHERE kv.expires_at <= EXCLUDED.updated_at RETURNING 1) SELECT EXISTS (SELECT 1 FROM ins);

-- copy (REPLACE)
WITH lock1 AS (SELECT key FROM "public"."kv_store" WHERE key = LEAST($1 COLLATE "C", $2) FOR SHARE), lock2 AS (SELECT key FROM "public"."kv_store" WHERE key = GREATEST($1 COLLATE "C", $2) FOR SHARE), locked AS (SELECT key FROM lock1 UNION ALL SELECT key FROM lock2), src AS (SELECT value, expires_at FROM "public"."kv_store" WHERE key = $1 AND (expires_at IS NULL OR expires_at > statement_timestamp()) AND EXISTS (SELECT 1 FROM locked)), ins AS (INSERT INTO "public"."kv_store" AS kv (key, value, expires_at, created_at, updated_at) SELECT $2, value, expires_at, statement_timestamp(), statement_timestamp() FROM src ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at, created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at WHERE TRUE RETURNING 1) SELECT EXISTS (SELECT 1 FROM ins);

-- lock_release
UPDATE "public"."kv_store" SET value = decode($2::text || ' 0 ' || $3, 'escape'), updated_at = statement_timestamp() WHERE key = $1 AND (expires_at IS NULL OR expires_at > statement_timestamp()) AND CASE WHEN split_part(encode(value, 'escape'), ' ', 1) = $2::text AND split_part(encode(value, 'escape'), ' ', 3) = $3 THEN split_part(encode(value, 'escape'), ' ', 2)::bigint END > (extract(epoch FROM statement_timestamp()) * 1000000)::bigint;

-- lock_extend
UPDATE "public"."kv_store" SET value = decode($2::text || ' ' || ((extract(epoch FROM statement_timestamp()) * 1000000)::bigint + $4)::text || ' ' || $3, 'escape'), updated_at = statement_timestamp() WHERE key = $1 AND (expires_at IS NULL OR expires_at > statement_timestamp()) AND CASE WHEN split_part(encode(value, 'escape'), ' ', 1) = $2::text AND split_part(encode(value, 'escape'), ' ', 3) = $3 THEN split_part(encode(value, 'escape'), ' ', 2)::bigint END > (extract(epoch FROM statement_timestamp()) * 1000000)::bigint;

-- snapshot: save_count
SELECT count(*), (EXTRACT(EPOCH FROM now()) * 1000000)::bigint FROM "public"."kv_store" WHERE (expires_at IS NULL OR expires_at > now()) AND key <> 'pgkv:cleanup-lease';

-- snapshot: save_copy
COPY (SELECT key, value, expires_at FROM "public"."kv_store" WHERE (expires_at IS NULL OR expires_at > now()) AND key <> 'pgkv:cleanup-lease') TO STDOUT (FORMAT binary);

-- snapshot: clear
DELETE FROM "public"."kv_store" WHERE TRUE AND key <> 'pgkv:cleanup-lease';

-- snapshot: any_live
SELECT EXISTS (SELECT 1 FROM "public"."kv_store" WHERE (expires_at IS NULL OR expires_at > statement_timestamp()) AND key <> 'pgkv:cleanup-lease');

-- insert_absent
INSERT INTO "public"."kv_store" AS kv (key, value, expires_at, created_at, updated_at) VALUES ($1, $2, NULL, statement_timestamp(), statement_timestamp()) ON CONFLICT (key) DO NOTHING RETURNING 1;

-- insert_absent EX
INSERT INTO "public"."kv_store" AS kv (key, value, expires_at, created_at, updated_at) VALUES ($1, $2, statement_timestamp() + $3, statement_timestamp(), statement_timestamp()) ON CONFLICT (key) DO NOTHING RETURNING 1;

-- insert_absent EXAT
INSERT INTO "public"."kv_store" AS kv (key, value, expires_at, created_at, updated_at) VALUES ($1, $2, (timestamptz 'epoch' + $3::bigint * interval '1 microsecond'), statement_timestamp(), statement_timestamp()) ON CONFLICT (key) DO NOTHING RETURNING 1;

-- set_with Always no expiry
WITH cur AS (SELECT value, expires_at, statement_timestamp() AS now FROM "public"."kv_store" WHERE key = $1 FOR UPDATE), upd AS (UPDATE "public"."kv_store" SET value = $2, expires_at = NULL, created_at = CASE WHEN cur.expires_at <= cur.now THEN cur.now ELSE "public"."kv_store".created_at END, updated_at = statement_timestamp() FROM cur WHERE "public"."kv_store".key = $1 AND TRUE RETURNING 1) SELECT EXISTS (SELECT 1 FROM upd) OR FALSE, NOT EXISTS (SELECT 1 FROM cur) AND TRUE AND NOT FALSE, NULL::bytea;

-- set_with Always no expiry GET
WITH cur AS (SELECT value, expires_at, statement_timestamp() AS now FROM "public"."kv_store" WHERE key = $1 FOR UPDATE), upd AS (UPDATE "public"."kv_store" SET value = $2, expires_at = NULL, created_at = CASE WHEN cur.expires_at <= cur.now THEN cur.now ELSE "public"."kv_store".created_at END, updated_at = statement_timestamp() FROM cur WHERE "public"."kv_store".key = $1 AND TRUE RETURNING 1) SELECT EXISTS (SELECT 1 FROM upd) OR FALSE, NOT EXISTS (SELECT 1 FROM cur) AND TRUE AND NOT FALSE, (SELECT value FROM cur WHERE (cur.expires_at IS NULL OR cur.expires_at > cur.now));

-- set_with Always EX
WITH cur AS (SELECT value, expires_at, statement_timestamp() AS now FROM "public"."kv_store" WHERE key = $1 FOR UPDATE), upd AS (UPDATE "public"."kv_store" SET value = $2, expires_at = statement_timestamp() + $3, created_at = CASE WHEN cur.expires_at <= cur.now THEN cur.now ELSE "public"."kv_store".created_at END, updated_at = statement_timestamp() FROM cur WHERE "public"."kv_store".key = $1 AND TRUE RETURNING 1) SELECT EXISTS (SELECT 1 FROM upd) OR FALSE, NOT EXISTS (SELECT 1 FROM cur) AND TRUE AND NOT FALSE, NULL::bytea;

-- set_with Always EX GET
WITH cur AS (SELECT value, expires_at, statement_timestamp() AS now FROM "public"."kv_store" WHERE key = $1 FOR UPDATE), upd AS (UPDATE "public"."kv_store" SET value = $2, expires_at = statement_timestamp() + $3, created_at = CASE WHEN cur.expires_at <= cur.now THEN cur.now ELSE "public"."kv_store".created_at END, updated_at = statement_timestamp() FROM cur WHERE "public"."kv_store".key = $1 AND TRUE RETURNING 1) SELECT EXISTS (SELECT 1 FROM upd) OR FALSE, NOT EXISTS (SELECT 1 FROM cur) AND TRUE AND NOT FALSE, (SELECT value FROM cur WHERE (cur.expires_at IS NULL OR cur.expires_at > cur.now));

-- set_with Always EXAT
WITH cur AS (SELECT value, expires_at, statement_timestamp() AS now FROM "public"."kv_store" WHERE key = $1 FOR UPDATE), upd AS (UPDATE "public"."kv_store" SET value = $2, expires_at = (timestamptz 'epoch' + $3::bigint * interval '1 microsecond'), created_at = CASE WHEN cur.expires_at <= cur.now THEN cur.now ELSE "public"."kv_store".created_at END, updated_at = statement_timestamp() FROM cur WHERE "public"."kv_store".key = $1 AND TRUE RETURNING 1) SELECT EXISTS (SELECT 1 FROM upd) OR FALSE, NOT EXISTS (SELECT 1 FROM cur) AND TRUE AND NOT FALSE, NULL::bytea;

-- set_with Always EXAT GET
WITH cur AS (SELECT value, expires_at, statement_timestamp() AS now FROM "public"."kv_store" WHERE key = $1 FOR UPDATE), upd AS (UPDATE "public"."kv_store" SET value = $2, expires_at = (timestamptz 'epoch' + $3::bigint * interval '1 microsecond'), created_at = CASE WHEN cur.expires_at <= cur.now THEN cur.now ELSE "public"."kv_store".created_at END, updated_at = statement_timestamp() FROM cur WHERE "public"."kv_store".key = $1 AND TRUE RETURNING 1) SELECT EXISTS (SELECT 1 FROM upd) OR FALSE, NOT EXISTS (SELECT 1 FROM cur) AND TRUE AND NOT FALSE, (SELECT value FROM cur WHERE (cur.expires_at IS NULL OR cur.expires_at > cur.now));

-- set_with Always KEEPTTL
WITH cur AS (SELECT value, expires_at, statement_timestamp() AS now FROM "public"."kv_store" WHERE key = $1 FOR UPDATE), upd AS (UPDATE "public"."kv_store" SET value = $2, expires_at = CASE WHEN (cur.expires_at IS NULL OR cur.expires_at > cur.now) THEN cur.expires_at END, created_at = CASE WHEN cur.expires_at <= cur.now THEN cur.now ELSE "public"."kv_store".created_at END, updated_at = statement_timestamp() FROM cur WHERE "public"."kv_store".key = $1 AND TRUE RETURNING 1) SELECT EXISTS (SELECT 1 FROM upd) OR FALSE, NOT EXISTS (SELECT 1 FROM cur) AND TRUE AND NOT FALSE, NULL::bytea;

-- set_with Always KEEPTTL GET
WITH cur AS (SELECT value, expires_at, statement_timestamp() AS now FROM "public"."kv_store" WHERE key = $1 FOR UPDATE), upd AS (UPDATE "public"."kv_store" SET value = $2, expires_at = CASE WHEN (cur.expires_at IS NULL OR cur.expires_at > cur.now) THEN cur.expires_at END, created_at = CASE WHEN cur.expires_at <= cur.now THEN cur.now ELSE "public"."kv_store".created_at END, updated_at = statement_timestamp() FROM cur WHERE "public"."kv_store".key = $1 AND TRUE RETURNING 1) SELECT EXISTS (SELECT 1 FROM upd) OR FALSE, NOT EXISTS (SELECT 1 FROM cur) AND TRUE AND NOT FALSE, (SELECT value FROM cur WHERE (cur.expires_at IS NULL OR cur.expires_at > cur.now));

-- set_with Absent no expiry
WITH cur AS (SELECT value, expires_at, statement_timestamp() AS now FROM "public"."kv_store" WHERE key = $1 FOR UPDATE), upd AS (UPDATE "public"."kv_store" SET value = $2, expires_at = NULL, created_at = CASE WHEN cur.expires_at <= cur.now THEN cur.now ELSE "public"."kv_store".created_at END, updated_at = statement_timestamp() FROM cur WHERE "public"."kv_store".key = $1 AND cur.expires_at <= cur.now RETURNING 1) SELECT EXISTS (SELECT 1 FROM upd) OR FALSE, NOT EXISTS (SELECT 1 FROM cur) AND TRUE AND NOT FALSE, NULL::bytea;

-- set_with Absent no expiry GET
WITH cur AS (SELECT value, expires_at, statement_timestamp() AS now FROM "public"."kv_store" WHERE key = $1 FOR UPDATE), upd AS (UPDATE "public"."kv_store" SET value = $2, expires_at = NULL, created_at = CASE WHEN cur.expires_at <= cur.now THEN cur.now ELSE "public"."kv_store".created_at END, updated_at = statement_timestamp() FROM cur WHERE "public"."kv_store".key = $1 AND cur.expires_at <= cur.now RETURNING 1) SELECT EXISTS (SELECT 1 FROM upd) OR FALSE, NOT EXISTS (SELECT 1 FROM cur) AND TRUE AND NOT FALSE, (SELECT value FROM cur WHERE (cur.expires_at IS NULL OR cur.expires_at > cur.now));

-- set_with Absent EX
WITH cur AS (SELECT value, expires_at, statement_timestamp() AS now FROM "public"."kv_store" WHERE key = $1 FOR UPDATE), upd AS (UPDATE "public"."kv_store" SET value = $2, expires_at = statement_timestamp() + $3, created_at = CASE WHEN cur.expires_at <= cur.now THEN cur.now ELSE "public"."kv_store".created_at END, updated_at = statement_timestamp() FROM cur WHERE "public"."kv_store".key = $1 AND cur.expires_at <= cur.now RETURNING 1) SELECT EXISTS (SELECT 1 FROM upd) OR FALSE, NOT EXISTS (SELECT 1 FROM cur) AND TRUE AND NOT FALSE, NULL::bytea;

-- set_with Absent EX GET
WITH cur AS (SELECT value, expires_at, statement_timestamp() AS now FROM "public"."kv_store" WHERE key = $1 FOR UPDATE), upd AS (UPDATE "public"."kv_store" SET value = $2, expires_at = statement_timestamp() + $3, created_at = CASE WHEN cur.expires_at <= cur.now THEN cur.now ELSE "public"."kv_store".created_at END, updated_at = statement_timestamp() FROM cur WHERE "public"."kv_store".key = $1 AND cur.expires_at <= cur.now RETURNING 1) SELECT EXISTS (SELECT 1 FROM upd) OR FALSE, NOT EXISTS (SELECT 1 FROM cur) AND TRUE AND NOT FALSE, (SELECT value FROM cur WHERE (cur.expires_at IS NULL OR cur.expires_at > cur.now));

-- set_with Absent EXAT
WITH cur AS (SELECT value, expires_at, statement_timestamp() AS now FROM "public"."kv_store" WHERE key = $1 FOR UPDATE), upd AS (UPDATE "public"."kv_store" SET value = $2, expires_at = (timestamptz 'epoch' + $3::bigint * interval '1 microsecond'), created_at = CASE WHEN cur.expires_at <= cur.now THEN cur.now ELSE "public"."kv_store".created_at END, updated_at = statement_timestamp() FROM cur WHERE "public"."kv_store".key = $1 AND cur.expires_at <= cur.now RETURNING 1) SELECT EXISTS (SELECT 1 FROM upd) OR FALSE, NOT EXISTS (SELECT 1 FROM cur) AND TRUE AND NOT FALSE, NULL::bytea;

-- set_with Absent EXAT GET
WITH cur AS (SELECT value, expires_at, statement_timestamp() AS now FROM "public"."kv_store" WHERE key = $1 FOR UPDATE), upd AS (UPDATE "public"."kv_store" SET value = $2, expires_at = (timestamptz 'epoch' + $3::bigint * interval '1 microsecond'), created_at = CASE WHEN cur.expires_at <= cur.now THEN cur.now ELSE "public"."kv_store".created_at END, updated_at = statement_timestamp() FROM cur WHERE "public"."kv_store".key = $1 AND cur.expires_at <= cur.now RETURNING 1) SELECT EXISTS (SELECT 1 FROM upd) OR FALSE, NOT EXISTS (SELECT 1 FROM cur) AND TRUE AND NOT FALSE, (SELECT value FROM cur WHERE (cur.expires_at IS NULL OR cur.expires_at > cur.now));

-- set_with Absent KEEPTTL
WITH cur AS (SELECT value, expires_at, statement_timestamp() AS now FROM "public"."kv_store" WHERE key = $1 FOR UPDATE), upd AS (UPDATE "public"."kv_store" SET value = $2, expires_at = CASE WHEN (cur.expires_at IS NULL OR cur.expires_at > cur.now) THEN cur.expires_at END, created_at = CASE WHEN cur.expires_at <= cur.now THEN cur.now ELSE "public"."kv_store".created_at END, updated_at = statement_timestamp() FROM cur WHERE "public"."kv_store".key = $1 AND cur.expires_at <= cur.now RETURNING 1) SELECT EXISTS (SELECT 1 FROM upd) OR FALSE, NOT EXISTS (SELECT 1 FROM cur) AND TRUE AND NOT FALSE, NULL::bytea;

-- set_with Absent KEEPTTL GET
WITH cur AS (SELECT value, expires_at, statement_timestamp() AS now FROM "public"."kv_store" WHERE key = $1 FOR UPDATE), upd AS (UPDATE "public"."kv_store" SET value = $2, expires_at = CASE WHEN (cur.expires_at IS NULL OR cur.expires_at > cur.now) THEN cur.expires_at END, created_at = CASE WHEN cur.expires_at <= cur.now THEN cur.now ELSE "public"."kv_store".created_at END, updated_at = statement_timestamp() FROM cur WHERE "public"."kv_store".key = $1 AND cur.expires_at <= cur.now RETURNING 1) SELECT EXISTS (SELECT 1 FROM upd) OR FALSE, NOT EXISTS (SELECT 1 FROM cur) AND TRUE AND NOT FALSE, (SELECT value FROM cur WHERE (cur.expires_at IS NULL OR cur.expires_at > cur.now));

-- set_with Present no expiry
WITH cur AS (SELECT value, expires_at, statement_timestamp() AS now FROM "public"."kv_store" WHERE key = $1 FOR UPDATE), upd AS (UPDATE "public"."kv_store" SET value = $2, expires_at = NULL, created_at = CASE WHEN cur.expires_at <= cur.now THEN cur.now ELSE "public"."kv_store".created_at END, updated_at = statement_timestamp() FROM cur WHERE "public"."kv_store".key = $1 AND (cur.expires_at IS NULL OR cur.expires_at > cur.now) RETURNING 1) SELECT EXISTS (SELECT 1 FROM upd) OR FALSE, NOT EXISTS (SELECT 1 FROM cur) AND FALSE AND NOT FALSE, NULL::bytea;

-- set_with Present no expiry GET
WITH cur AS (SELECT value, expires_at, statement_timestamp() AS now FROM "public"."kv_store" WHERE key = $1 FOR UPDATE), upd AS (UPDATE "public"."kv_store" SET value = $2, expires_at = NULL, created_at = CASE WHEN cur.expires_at <= cur.now THEN cur.now ELSE "public"."kv_store".created_at END, updated_at = statement_timestamp() FROM cur WHERE "public"."kv_store".key = $1 AND (cur.expires_at IS NULL OR cur.expires_at > cur.now) RETURNING 1) SELECT EXISTS (SELECT 1 FROM upd) OR FALSE, NOT EXISTS (SELECT 1 FROM cur) AND FALSE AND NOT FALSE, (SELECT value FROM cur WHERE (cur.expires_at IS NULL OR cur.expires_at > cur.now));

-- set_with Present EX
WITH cur AS (SELECT value, expires_at, statement_timestamp() AS now FROM "public"."kv_store" WHERE key = $1 FOR UPDATE), upd AS (UPDATE "public"."kv_store" SET value = $2, expires_at = statement_timestamp() + $3, created_at = CASE WHEN cur.expires_at <= cur.now THEN cur.now ELSE "public"."kv_store".created_at END, updated_at = statement_timestamp() FROM cur WHERE "public"."kv_store".key = $1 AND (cur.expires_at IS NULL OR cur.expires_at > cur.now) RETURNING 1) SELECT EXISTS (SELECT 1 FROM upd) OR FALSE, NOT EXISTS (SELECT 1 FROM cur) AND FALSE AND NOT FALSE, NULL::bytea;

-- set_with Present EX GET
WITH cur AS (SELECT value, expires_at, statement_timestamp() AS now FROM "public"."kv_store" WHERE key = $1 FOR UPDATE), upd AS (UPDATE "public"."kv_store" SET value = $2, expires_at = statement_timestamp() + $3, created_at = CASE WHEN cur.expires_at <= cur.now THEN cur.now ELSE "public"."kv_store".created_at END, updated_at = statement_timestamp() FROM cur WHERE "public"."kv_store".key = $1 AND (cur.expires_at IS NULL OR cur.expires_at > cur.now) RETURNING 1) SELECT EXISTS (SELECT 1 FROM upd) OR FALSE, NOT EXISTS (SELECT 1 FROM cur) AND FALSE AND NOT FALSE, (SELECT value FROM cur WHERE (cur.expires_at IS NULL OR cur.expires_at > cur.now));

-- set_with Present EXAT
WITH cur AS (SELECT value, expires_at, statement_timestamp() AS now FROM "public"."kv_store" WHERE key = $1 FOR UPDATE), upd AS (UPDATE "public"."kv_store" SET value = $2, expires_at = (timestamptz 'epoch' + $3::bigint * interval '1 microsecond'), created_at = CASE WHEN cur.expires_at <= cur.now THEN cur.now ELSE "public"."kv_store".created_at END, updated_at = statement_timestamp() FROM cur WHERE "public"."kv_store".key = $1 AND (cur.expires_at IS NULL OR cur.expires_at > cur.now) RETURNING 1) SELECT EXISTS (SELECT 1 FROM upd) OR FALSE, NOT EXISTS (SELECT 1 FROM cur) AND FALSE AND NOT FALSE, NULL::bytea;

-- set_with Present EXAT GET
WITH cur AS (SELECT value, expires_at, statement_timestamp() AS now FROM "public"."kv_store" WHERE key = $1 FOR UPDATE), upd AS (UPDATE "public"."kv_store" SET value = $2, expires_at = (timestamptz 'epoch' + $3::bigint * interval '1 microsecond'), created_at = CASE WHEN cur.expires_at <= cur.now THEN cur.now ELSE "public"."kv_store".created_at END, updated_at = statement_timestamp() FROM cur WHERE "public"."kv_store".key = $1 AND (cur.expires_at IS NULL OR cur.expires_at > cur.now) RETURNING 1) SELECT EXISTS (SELECT 1 FROM upd) OR FALSE, NOT EXISTS (SELECT 1 FROM cur) AND FALSE AND NOT FALSE, (SELECT value FROM cur WHERE (cur.expires_at IS NULL OR cur.expires_at > cur.now));

-- set_with Present KEEPTTL
WITH cur AS (SELECT value, expires_at, statement_timestamp() AS now FROM "public"."kv_store" WHERE key = $1 FOR UPDATE), upd AS (UPDATE "public"."kv_store" SET value = $2, expires_at = CASE WHEN (cur.expires_at IS NULL OR cur.expires_at > cur.now) THEN cur.expires_at END, created_at = CASE WHEN cur.expires_at <= cur.now THEN cur.now ELSE "public"."kv_store".created_at END, updated_at = statement_timestamp() FROM cur WHERE "public"."kv_store".key = $1 AND (cur.expires_at IS NULL OR cur.expires_at > cur.now) RETURNING 1) SELECT EXISTS (SELECT 1 FROM upd) OR FALSE, NOT EXISTS (SELECT 1 FROM cur) AND FALSE AND NOT FALSE, NULL::bytea;

-- set_with Present KEEPTTL GET
WITH cur AS (SELECT value, expires_at, statement_timestamp() AS now FROM "public"."kv_store" WHERE key = $1 FOR UPDATE), upd AS (UPDATE "public"."kv_store" SET value = $2, expires_at = CASE WHEN (cur.expires_at IS NULL OR cur.expires_at > cur.now) THEN cur.expires_at END, created_at = CASE WHEN cur.expires_at <= cur.now THEN cur.now ELSE "public"."kv_store".created_at END, updated_at = statement_timestamp() FROM cur WHERE "public"."kv_store".key = $1 AND (cur.expires_at IS NULL OR cur.expires_at > cur.now) RETURNING 1) SELECT EXISTS (SELECT 1 FROM upd) OR FALSE, NOT EXISTS (SELECT 1 FROM cur) AND FALSE AND NOT FALSE, (SELECT value FROM cur WHERE (cur.expires_at IS NULL OR cur.expires_at > cur.now));

-- keys (key >= $1, key < $2)
SELECT key FROM "public"."kv_store" WHERE key >= $1 AND key < $2 AND key <> 'pgkv:cleanup-lease' AND (expires_at IS NULL OR expires_at > statement_timestamp()) ORDER BY key LIMIT $3 OFFSET $4;

-- keys (key >= $1)
SELECT key FROM "public"."kv_store" WHERE key >= $1 AND key <> 'pgkv:cleanup-lease' AND (expires_at IS NULL OR expires_at > statement_timestamp()) ORDER BY key LIMIT $3 OFFSET $4;

-- keys (key > $1, key < $2)
SELECT key FROM "public"."kv_store" WHERE key > $1 AND key < $2 AND key <> 'pgkv:cleanup-lease' AND (expires_at IS NULL OR expires_at > statement_timestamp()) ORDER BY key LIMIT $3 OFFSET $4;

-- keys (key > $1)
SELECT key FROM "public"."kv_store" WHERE key > $1 AND key <> 'pgkv:cleanup-lease' AND (expires_at IS NULL OR expires_at > statement_timestamp()) ORDER BY key LIMIT $3 OFFSET $4;

-- scan (key >= $1, key < $2)
SELECT key, value FROM "public"."kv_store" WHERE key >= $1 AND key < $2 AND key <> 'pgkv:cleanup-lease' AND (expires_at IS NULL OR expires_at > statement_timestamp()) ORDER BY key LIMIT $3 OFFSET $4;

-- scan (key >= $1)
SELECT key, value FROM "public"."kv_store" WHERE key >= $1 AND key <> 'pgkv:cleanup-lease' AND (expires_at IS NULL OR expires_at > statement_timestamp()) ORDER BY key LIMIT $3 OFFSET $4;

-- scan (key > $1, key < $2)
SELECT key, value FROM "public"."kv_store" WHERE key > $1 AND key < $2 AND key <> 'pgkv:cleanup-lease' AND (expires_at IS NULL OR expires_at > statement_timestamp()) ORDER BY key LIMIT $3 OFFSET $4;

-- scan (key > $1)
SELECT key, value FROM "public"."kv_store" WHERE key > $1 AND key <> 'pgkv:cleanup-lease' AND (expires_at IS NULL OR expires_at > statement_timestamp()) ORDER BY key LIMIT $3 OFFSET $4;

-- count (key >= $1, key < $2)
SELECT count(*) FROM "public"."kv_store" WHERE key >= $1 AND key < $2 AND key <> 'pgkv:cleanup-lease' AND (expires_at IS NULL OR expires_at > statement_timestamp());

-- count (key >= $1)
SELECT count(*) FROM "public"."kv_store" WHERE key >= $1 AND key <> 'pgkv:cleanup-lease' AND (expires_at IS NULL OR expires_at > statement_timestamp());

-- count (key > $1, key < $2)
SELECT count(*) FROM "public"."kv_store" WHERE key > $1 AND key < $2 AND key <> 'pgkv:cleanup-lease' AND (expires_at IS NULL OR expires_at > statement_timestamp());

-- count (key > $1)
SELECT count(*) FROM "public"."kv_store" WHERE key > $1 AND key <> 'pgkv:cleanup-lease' AND (expires_at IS NULL OR expires_at > statement_timestamp());

-- keys_matching (key >= $1, key < $2)
SELECT key FROM "public"."kv_store" WHERE key >= $1 AND key < $2 AND key <> 'pgkv:cleanup-lease' AND (expires_at IS NULL OR expires_at > statement_timestamp()) AND key ~ $5 ORDER BY key LIMIT $3 OFFSET $4;

-- keys_matching (key >= $1)
SELECT key FROM "public"."kv_store" WHERE key >= $1 AND key <> 'pgkv:cleanup-lease' AND (expires_at IS NULL OR expires_at > statement_timestamp()) AND key ~ $5 ORDER BY key LIMIT $3 OFFSET $4;

-- keys_matching (key > $1, key < $2)
SELECT key FROM "public"."kv_store" WHERE key > $1 AND key < $2 AND key <> 'pgkv:cleanup-lease' AND (expires_at IS NULL OR expires_at > statement_timestamp()) AND key ~ $5 ORDER BY key LIMIT $3 OFFSET $4;

-- keys_matching (key > $1)
SELECT key FROM "public"."kv_store" WHERE key > $1 AND key <> 'pgkv:cleanup-lease' AND (expires_at IS NULL OR expires_at > statement_timestamp()) AND key ~ $5 ORDER BY key LIMIT $3 OFFSET $4;

-- scan_matching (key >= $1, key < $2)
SELECT key, value FROM "public"."kv_store" WHERE key >= $1 AND key < $2 AND key <> 'pgkv:cleanup-lease' AND (expires_at IS NULL OR expires_at > statement_timestamp()) AND key ~ $5 ORDER BY key LIMIT $3 OFFSET $4;

-- scan_matching (key >= $1)
SELECT key, value FROM "public"."kv_store" WHERE key >= $1 AND key <> 'pgkv:cleanup-lease' AND (expires_at IS NULL OR expires_at > statement_timestamp()) AND key ~ $5 ORDER BY key LIMIT $3 OFFSET $4;

-- scan_matching (key > $1, key < $2)
SELECT key, value FROM "public"."kv_store" WHERE key > $1 AND key < $2 AND key <> 'pgkv:cleanup-lease' AND (expires_at IS NULL OR expires_at > statement_timestamp()) AND key ~ $5 ORDER BY key LIMIT $3 OFFSET $4;

-- scan_matching (key > $1)
SELECT key, value FROM "public"."kv_store" WHERE key > $1 AND key <> 'pgkv:cleanup-lease' AND (expires_at IS NULL OR expires_at > statement_timestamp()) AND key ~ $5 ORDER BY key LIMIT $3 OFFSET $4;

-- count_matching (key >= $1, key < $2)
SELECT count(*) FROM "public"."kv_store" WHERE key >= $1 AND key < $2 AND key <> 'pgkv:cleanup-lease' AND (expires_at IS NULL OR expires_at > statement_timestamp()) AND key ~ $3;

-- count_matching (key >= $1)
SELECT count(*) FROM "public"."kv_store" WHERE key >= $1 AND key <> 'pgkv:cleanup-lease' AND (expires_at IS NULL OR expires_at > statement_timestamp()) AND key ~ $3;

-- count_matching (key > $1, key < $2)
SELECT count(*) FROM "public"."kv_store" WHERE key > $1 AND key < $2 AND key <> 'pgkv:cleanup-lease' AND (expires_at IS NULL OR expires_at > statement_timestamp()) AND key ~ $3;

-- count_matching (key > $1)
SELECT count(*) FROM "public"."kv_store" WHERE key > $1 AND key <> 'pgkv:cleanup-lease' AND (expires_at IS NULL OR expires_at > statement_timestamp()) AND key ~ $3;

-- delete_range (key >= $1, key < $2)
WITH d AS (DELETE FROM "public"."kv_store" WHERE key >= $1 AND key < $2 AND key <> 'pgkv:cleanup-lease' RETURNING expires_at) SELECT count(*) FROM d WHERE (expires_at IS NULL OR expires_at > statement_timestamp());

-- delete_range (key >= $1)
WITH d AS (DELETE FROM "public"."kv_store" WHERE key >= $1 AND key <> 'pgkv:cleanup-lease' RETURNING expires_at) SELECT count(*) FROM d WHERE (expires_at IS NULL OR expires_at > statement_timestamp());

-- delete_range (key > $1, key < $2)
WITH d AS (DELETE FROM "public"."kv_store" WHERE key > $1 AND key < $2 AND key <> 'pgkv:cleanup-lease' RETURNING expires_at) SELECT count(*) FROM d WHERE (expires_at IS NULL OR expires_at > statement_timestamp());

-- delete_range (key > $1)
WITH d AS (DELETE FROM "public"."kv_store" WHERE key > $1 AND key <> 'pgkv:cleanup-lease' RETURNING expires_at) SELECT count(*) FROM d WHERE (expires_at IS NULL OR expires_at > statement_timestamp());

-- delete_range_batch (key >= $1, key < $2)
WITH batch AS (SELECT key FROM "public"."kv_store" WHERE key >= $1 AND key < $2 AND key <> 'pgkv:cleanup-lease' ORDER BY key LIMIT $3), d AS (DELETE FROM "public"."kv_store" WHERE key = ANY(ARRAY(SELECT key FROM batch)) RETURNING expires_at) SELECT (SELECT count(*) FROM batch), (SELECT max(key) FROM batch), (SELECT count(*) FROM d WHERE (expires_at IS NULL OR expires_at > statement_timestamp()));

-- delete_range_batch (key >= $1)
WITH batch AS (SELECT key FROM "public"."kv_store" WHERE key >= $1 AND key <> 'pgkv:cleanup-lease' ORDER BY key LIMIT $3), d AS (DELETE FROM "public"."kv_store" WHERE key = ANY(ARRAY(SELECT key FROM batch)) RETURNING expires_at) SELECT (SELECT count(*) FROM batch), (SELECT max(key) FROM batch), (SELECT count(*) FROM d WHERE (expires_at IS NULL OR expires_at > statement_timestamp()));

-- delete_range_batch (key > $1, key < $2)
WITH batch AS (SELECT key FROM "public"."kv_store" WHERE key > $1 AND key < $2 AND key <> 'pgkv:cleanup-lease' ORDER BY key LIMIT $3), d AS (DELETE FROM "public"."kv_store" WHERE key = ANY(ARRAY(SELECT key FROM batch)) RETURNING expires_at) SELECT (SELECT count(*) FROM batch), (SELECT max(key) FROM batch), (SELECT count(*) FROM d WHERE (expires_at IS NULL OR expires_at > statement_timestamp()));

-- delete_range_batch (key > $1)
WITH batch AS (SELECT key FROM "public"."kv_store" WHERE key > $1 AND key <> 'pgkv:cleanup-lease' ORDER BY key LIMIT $3), d AS (DELETE FROM "public"."kv_store" WHERE key = ANY(ARRAY(SELECT key FROM batch)) RETURNING expires_at) SELECT (SELECT count(*) FROM batch), (SELECT max(key) FROM batch), (SELECT count(*) FROM d WHERE (expires_at IS NULL OR expires_at > statement_timestamp()));

-- delete_range_batch_waiting (key >= $1, key < $2)
WITH batch AS (SELECT key FROM "public"."kv_store" WHERE key >= $1 AND key < $2 AND key <> 'pgkv:cleanup-lease' ORDER BY key LIMIT $3), d AS (DELETE FROM "public"."kv_store" WHERE key = ANY(ARRAY(SELECT key FROM batch)) RETURNING expires_at) SELECT (SELECT count(*) FROM batch), (SELECT max(key) FROM batch), (SELECT count(*) FROM d WHERE (expires_at IS NULL OR expires_at > statement_timestamp()));

-- delete_range_batch_waiting (key >= $1)
WITH batch AS (SELECT key FROM "public"."kv_store" WHERE key >= $1 AND key <> 'pgkv:cleanup-lease' ORDER BY key LIMIT $3), d AS (DELETE FROM "public"."kv_store" WHERE key = ANY(ARRAY(SELECT key FROM batch)) RETURNING expires_at) SELECT (SELECT count(*) FROM batch), (SELECT max(key) FROM batch), (SELECT count(*) FROM d WHERE (expires_at IS NULL OR expires_at > statement_timestamp()));

-- delete_range_batch_waiting (key > $1, key < $2)
WITH batch AS (SELECT key FROM "public"."kv_store" WHERE key > $1 AND key < $2 AND key <> 'pgkv:cleanup-lease' ORDER BY key LIMIT $3), d AS (DELETE FROM "public"."kv_store" WHERE key = ANY(ARRAY(SELECT key FROM batch)) RETURNING expires_at) SELECT (SELECT count(*) FROM batch), (SELECT max(key) FROM batch), (SELECT count(*) FROM d WHERE (expires_at IS NULL OR expires_at > statement_timestamp()));

-- delete_range_batch_waiting (key > $1)
WITH batch AS (SELECT key FROM "public"."kv_store" WHERE key > $1 AND key <> 'pgkv:cleanup-lease' ORDER BY key LIMIT $3), d AS (DELETE FROM "public"."kv_store" WHERE key = ANY(ARRAY(SELECT key FROM batch)) RETURNING expires_at) SELECT (SELECT count(*) FROM batch), (SELECT max(key) FROM batch), (SELECT count(*) FROM d WHERE (expires_at IS NULL OR expires_at > statement_timestamp()));

-- shard_sweep
SELECT COALESCE(sum(result::bigint) FILTER (WHERE success), 0)::bigint, COALESCE(max(result::bigint) FILTER (WHERE success), 0)::bigint, min(result) FILTER (WHERE NOT success) FROM run_command_on_shards('"public"."kv_store"', 'WITH d AS (DELETE FROM %1$s WHERE ctid = ANY(ARRAY(SELECT ctid FROM %1$s WHERE expires_at <= statement_timestamp() ORDER BY expires_at LIMIT ' || $1::bigint || ' FOR UPDATE SKIP LOCKED)) AND expires_at <= statement_timestamp() RETURNING 1) SELECT count(*) FROM d');
