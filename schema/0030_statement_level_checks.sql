-- Per-row work on the symptom write path, done once per statement instead. EXPLAIN ANALYZE of a
-- 100-entry insert (10k members, one warm session, 25 runs): 6.6 ms, of which the change-feed
-- trigger 1.9-2.0 (half of it change_log's own foreign-key check, one per feed row), the catalog
-- foreign key 0.7-0.8 (one lookup per entry) (docs/benchmarks.md, eleventh round).
--
-- 1. The feed's INSERT is static SQL, so plpgsql keeps its plan; it was built with format() and
--    planned again on every statement.
-- 2. change_log loses its foreign key to account. Every feed row is written by a trigger on a
--    member table in the same statement as the member's row, and every one of those tables still
--    checks the member's account (and keeps it locked against erasure until commit); a delete's
--    feed row is written only while the account exists. What the key still did was the cascade:
--    an account's feed now goes with it through account_feed_erase.
-- 3. symptom_entry's catalog foreign key becomes one anti-join per statement. Catalog ids are
--    permanent (catalog_symptom_permanent refuses deleting or renaming one), so the check needs no
--    lock on the catalog row: nothing can remove it before the entry commits.

CREATE OR REPLACE FUNCTION cc_log_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- plpgsql compiles this function once per trigger, so the column named in each branch exists
    -- wherever that branch runs (member_profile's id is its member_id). A table keyed otherwise
    -- needs a branch of its own.
    IF TG_ARGV[1] NOT IN ('id', 'member_id') THEN
        RAISE EXCEPTION 'cc_log_changes: no branch for id column %', TG_ARGV[1];
    END IF;
    IF TG_OP = 'DELETE' THEN
        IF TG_ARGV[1] = 'id' THEN
            INSERT INTO change_log (member_id, resource, resource_id, op)
            SELECT o.member_id, TG_ARGV[0], o.id, 'delete' FROM old_rows o
            WHERE EXISTS (SELECT 1 FROM account a WHERE a.id = o.member_id);
        ELSE
            INSERT INTO change_log (member_id, resource, resource_id, op)
            SELECT o.member_id, TG_ARGV[0], o.member_id, 'delete' FROM old_rows o
            WHERE EXISTS (SELECT 1 FROM account a WHERE a.id = o.member_id);
        END IF;
    ELSIF TG_ARGV[1] = 'id' THEN
        INSERT INTO change_log (member_id, resource, resource_id, op)
        SELECT n.member_id, TG_ARGV[0], n.id, 'upsert' FROM new_rows n;
    ELSE
        INSERT INTO change_log (member_id, resource, resource_id, op)
        SELECT n.member_id, TG_ARGV[0], n.member_id, 'upsert' FROM new_rows n;
    END IF;
    RETURN NULL;
END
$$;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_trigger WHERE tgfoid = 'cc_log_changes'::regproc
               AND tgargs <> '' AND NOT (encode(tgargs, 'escape') ~ '\\000(id|member_id)\\000$')) THEN
        RAISE EXCEPTION 'cc_log_changes: a trigger names an id column other than id or member_id';
    END IF;
END
$$;

ALTER TABLE change_log DROP CONSTRAINT change_log_member_id_fkey;

-- After the statement, so the member's rows (whose own feed triggers write nothing once the
-- account is gone) have been removed by their cascades first. SECURITY DEFINER, as the foreign
-- key's cascade ran as the owner.
CREATE FUNCTION account_feed_erase() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        TRUNCATE change_log;
    ELSE
        DELETE FROM change_log c USING gone g WHERE c.member_id = g.id;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER account_feed_erase AFTER DELETE ON account REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION account_feed_erase();
CREATE TRIGGER account_feed_truncate AFTER TRUNCATE ON account
    FOR EACH STATEMENT EXECUTE FUNCTION account_feed_erase();

-- Catalog ids are referenced without a lock from here on: never removed, never renamed. (A
-- symptom leaves the catalog's suggestions some other way; its past entries keep their id.)
CREATE FUNCTION catalog_symptom_permanent() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE foreign_key_violation USING MESSAGE = format('catalog symptom %s is permanent', OLD.id);
END
$$;
CREATE TRIGGER catalog_symptom_permanent BEFORE DELETE OR UPDATE OF id ON catalog_symptom
    FOR EACH ROW EXECUTE FUNCTION catalog_symptom_permanent();
CREATE TRIGGER catalog_symptom_no_truncate BEFORE TRUNCATE ON catalog_symptom
    FOR EACH STATEMENT EXECUTE FUNCTION catalog_symptom_permanent();

ALTER TABLE symptom_entry DROP CONSTRAINT symptom_entry_symptom_id_fkey;

-- The statement's new catalog symptom ids, each looked up once. The error is the one the foreign
-- key raised (23503), so callers see no difference.
CREATE FUNCTION symptom_entry_catalog_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad text;
BEGIN
    SELECT n.symptom_id INTO bad FROM new_rows n
    WHERE n.symptom_id IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM catalog_symptom c WHERE c.id = n.symptom_id)
    LIMIT 1;
    IF FOUND THEN
        RAISE foreign_key_violation USING
            MESSAGE = 'insert or update on table "symptom_entry" violates its catalog check',
            DETAIL = format('Key (symptom_id)=(%s) is not present in table "catalog_symptom".', bad);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER symptom_entry_catalog_insert AFTER INSERT ON symptom_entry
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION symptom_entry_catalog_check();
CREATE TRIGGER symptom_entry_catalog_update AFTER UPDATE ON symptom_entry
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION symptom_entry_catalog_check();
