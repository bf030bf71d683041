-- 0038_change_log_per_statement: one feed row per statement and member, holding the ids it changed,
-- instead of one row per changed row. A 100-entry batch wrote 100 change_log rows and 200 index
-- entries: 0.71 ms of a 3.3 ms insert. As one row holding 100 ids it takes 0.12-0.13 ms
-- (docs/benchmarks.md, eighteenth round).
--
-- A feed position is now (txid, seq, ordinal in resource_ids); the service's cursors carry all
-- three, and a cursor given out before this migration (txid, seq) means "after that whole row",
-- which is what it meant then, as every older row holds one id. The feed is read only by
-- (member_id, txid, seq), so that becomes the primary key and the old (member_id, seq) key goes.
-- Runs inside the server's migration transaction.

ALTER TABLE change_log ADD COLUMN resource_ids uuid[];
UPDATE change_log SET resource_ids = ARRAY[resource_id];
ALTER TABLE change_log DROP COLUMN resource_id;
ALTER TABLE change_log
    ALTER COLUMN resource_ids SET NOT NULL,
    ADD CONSTRAINT change_log_resource_ids_check
        CHECK (cardinality(resource_ids) >= 1 AND array_ndims(resource_ids) = 1
               AND array_position(resource_ids, NULL) IS NULL);
ALTER TABLE change_log DROP CONSTRAINT change_log_pkey;
DROP INDEX change_log_member_txid_idx;
ALTER TABLE change_log ADD PRIMARY KEY (member_id, txid, seq);

-- The same feed as 0030's: upserts of every new or updated row, deletes while the account exists.
-- Rows of one statement are grouped by member (a member's API request touches only its own rows).
CREATE OR REPLACE FUNCTION cc_log_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_ARGV[1] NOT IN ('id', 'member_id') THEN
        RAISE EXCEPTION 'cc_log_changes: no branch for id column %', TG_ARGV[1];
    END IF;
    IF TG_OP = 'DELETE' THEN
        IF TG_ARGV[1] = 'id' THEN
            INSERT INTO change_log (member_id, resource, resource_ids, op)
            SELECT o.member_id, TG_ARGV[0], array_agg(o.id), 'delete' FROM old_rows o
            WHERE EXISTS (SELECT 1 FROM account a WHERE a.id = o.member_id)
            GROUP BY o.member_id;
        ELSE
            INSERT INTO change_log (member_id, resource, resource_ids, op)
            SELECT o.member_id, TG_ARGV[0], ARRAY[o.member_id], 'delete' FROM old_rows o
            WHERE EXISTS (SELECT 1 FROM account a WHERE a.id = o.member_id);
        END IF;
    ELSIF TG_ARGV[1] = 'id' THEN
        INSERT INTO change_log (member_id, resource, resource_ids, op)
        SELECT n.member_id, TG_ARGV[0], array_agg(n.id), 'upsert' FROM new_rows n
        GROUP BY n.member_id;
    ELSE
        INSERT INTO change_log (member_id, resource, resource_ids, op)
        SELECT n.member_id, TG_ARGV[0], ARRAY[n.member_id], 'upsert' FROM new_rows n;
    END IF;
    RETURN NULL;
END
$$;

-- 0003's side-effect trigger, writing the new column.
CREATE OR REPLACE FUNCTION cc_log_side_effect_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    IF TG_OP = 'DELETE' THEN
        r := OLD;
    ELSE
        r := NEW;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM account WHERE id = r.member_id)
       OR NOT EXISTS (SELECT 1 FROM medication_evaluation
                      WHERE member_id = r.member_id AND id = r.evaluation_ref) THEN
        RETURN NULL;
    END IF;
    INSERT INTO change_log (member_id, resource, resource_ids, op)
    VALUES (r.member_id, 'evaluation', ARRAY[r.evaluation_ref], 'upsert');
    RETURN NULL;
END
$$;

-- 0003's row trigger function, unused since 0011, would write a column that is gone.
DROP FUNCTION cc_log_change();
