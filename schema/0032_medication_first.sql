-- 0032_medication_first: per member and catalog drug, the first start date. The treatment effect
-- compares each starter's symptom before and after the first start of the drug; it found that
-- start by probing each member's other records of the drug for an earlier one (an anti-join, one
-- index probe per starter: 23,404 for the benchmark's sertraline query at 1M, about a fifth of the
-- measure; docs/benchmarks.md, thirteenth round). It now reads this table's key range.
--
-- Exactness as member_facts (0022): medication_first_source is the definition; statement
-- triggers on medication recompute every member a statement touched, serialised per member so that
-- a recomputation sees a concurrent writer's committed records; tests/e2e/test_facts.c compares
-- the table with its definition after random changes. Runs inside the server's migration
-- transaction: no BEGIN/COMMIT here.

CREATE TABLE medication_first (
    medication_id text NOT NULL,
    member_id uuid NOT NULL,
    started_on date NOT NULL,
    PRIMARY KEY (medication_id, member_id)
);
CREATE INDEX medication_first_member_idx ON medication_first (member_id);

CREATE VIEW medication_first_source AS
SELECT medication_id, member_id, min(started_on) AS started_on
FROM medication
WHERE medication_id IS NOT NULL
GROUP BY medication_id, member_id;

-- Recomputes the rows of the given members: per-member locks for a few (in key order, so that
-- two statements over several members do not deadlock), the table for more (bulk loads). Each
-- statement below starts after its lock is granted, so in READ COMMITTED it sees what a writer
-- that held the lock committed.
CREATE FUNCTION medication_first_refresh(members uuid[]) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = public, pg_temp
SET plan_cache_mode = force_custom_plan
AS $$
DECLARE
    h int;
BEGIN
    IF members IS NULL OR cardinality(members) = 0 THEN
        RETURN;
    END IF;
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'medication records are changed in READ COMMITTED transactions only'
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF cardinality(members) > 64 THEN
        LOCK TABLE medication_first IN SHARE ROW EXCLUSIVE MODE;
    ELSE
        LOCK TABLE medication_first IN ROW EXCLUSIVE MODE;
        FOR h IN SELECT DISTINCT hashtext(m::text) FROM unnest(members) m ORDER BY 1 LOOP
            PERFORM pg_advisory_xact_lock(4032, h);
        END LOOP;
    END IF;
    DELETE FROM medication_first f
    USING (SELECT DISTINCT m FROM unnest(members) m) AS k(member_id)
    WHERE f.member_id = k.member_id;
    INSERT INTO medication_first (medication_id, member_id, started_on)
    SELECT m.medication_id, m.member_id, min(m.started_on)
    FROM medication m
    WHERE m.member_id = ANY (members) AND m.medication_id IS NOT NULL
    GROUP BY m.medication_id, m.member_id;
END
$$;
REVOKE EXECUTE ON FUNCTION medication_first_refresh(uuid[]) FROM PUBLIC;

CREATE FUNCTION medication_first_sync() RETURNS trigger
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
DECLARE
    members uuid[];
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        DELETE FROM medication_first;
        RETURN NULL;
    ELSIF TG_OP = 'INSERT' THEN
        SELECT array_agg(DISTINCT member_id) INTO members FROM new_rows;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(DISTINCT member_id) INTO members FROM old_rows;
    ELSE
        -- Only a change of drug, start date or owner moves a first start.
        SELECT array_agg(DISTINCT k.member_id) INTO members
        FROM (SELECT n.member_id FROM new_rows n JOIN old_rows o USING (member_id, id)
              WHERE (n.medication_id, n.started_on) IS DISTINCT FROM (o.medication_id, o.started_on)
              UNION ALL
              SELECT n.member_id FROM new_rows n
              WHERE NOT EXISTS (SELECT 1 FROM old_rows o WHERE o.member_id = n.member_id AND o.id = n.id)
              UNION ALL
              SELECT o.member_id FROM old_rows o
              WHERE NOT EXISTS (SELECT 1 FROM new_rows n WHERE n.member_id = o.member_id AND n.id = o.id)) k;
    END IF;
    PERFORM medication_first_refresh(members);
    RETURN NULL;
END
$$;

CREATE TRIGGER medication_first_insert AFTER INSERT ON medication
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION medication_first_sync();
CREATE TRIGGER medication_first_update AFTER UPDATE ON medication
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION medication_first_sync();
CREATE TRIGGER medication_first_delete AFTER DELETE ON medication
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION medication_first_sync();
CREATE TRIGGER medication_first_truncate AFTER TRUNCATE ON medication
    FOR EACH STATEMENT EXECUTE FUNCTION medication_first_sync();

LOCK TABLE medication IN SHARE MODE;
INSERT INTO medication_first SELECT * FROM medication_first_source ORDER BY 1, 2;
ANALYZE medication_first;

GRANT SELECT ON medication_first, medication_first_source TO cc_app;
