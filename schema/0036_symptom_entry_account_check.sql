-- 0036_symptom_entry_account_check: symptom_entry's foreign key to account becomes one check per
-- statement, as 0030 did for its catalog key. The key's trigger ran once per row: 0.72-0.74 ms of
-- a warm 100-entry batch insert's 3.4 ms at 1M members, all for the one owner a batch has.
--
-- What the key did, and what does it now:
-- 1. A new or updated entry's member is an account: symptom_entry_catalog_check(), the statement
--    trigger of 0030, counts the statement's distinct members in the same pass as its catalog
--    check and finds their accounts. The error is the key's (23503).
-- 2. It holds those accounts FOR KEY SHARE until commit, as the key's check did: one lookup when
--    the statement has one owner (every API write), else in id order (two statements over the same
--    accounts cannot deadlock). An erasure deleting one of them waits for the writer; then its
--    delete below sees the writer's committed entries. A writer that comes after an erasure's
--    delete waits for it and then finds no account: its statement fails. Locking needs UPDATE on
--    account, which the service role has; the function runs as the writer, like 0030's.
-- 3. ON DELETE CASCADE: account_symptom_entry_erase deletes an erased account's entries in the
--    same statement (TRUNCATE: all of them), as the owner, as the key's cascade did. Their own
--    triggers still run: the rollups lose the entries, and the change feed writes nothing for an
--    account that is gone (0030).
-- A single-entry insert costs what it did with the key (3,000 in a loop: 0.27-0.28 ms each either
-- way; a general count-and-lock path cost 0.30); a 100-entry batch 1.0-1.2 ms less
-- (docs/benchmarks.md, fifteenth round). Runs inside the server's migration transaction.

ALTER TABLE symptom_entry DROP CONSTRAINT symptom_entry_member_id_fkey;

CREATE OR REPLACE FUNCTION symptom_entry_catalog_check() RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    bad text;
    lo uuid;
    want bigint;
    held bigint;
BEGIN
    SELECT (SELECT n.symptom_id FROM new_rows n
            WHERE n.symptom_id IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM catalog_symptom c WHERE c.id = n.symptom_id)
            LIMIT 1),
           count(DISTINCT e.member_id), (SELECT n.member_id FROM new_rows n LIMIT 1)
    INTO bad, want, lo FROM new_rows e;
    IF bad IS NOT NULL THEN
        RAISE foreign_key_violation USING
            MESSAGE = 'insert or update on table "symptom_entry" violates its catalog check',
            DETAIL = format('Key (symptom_id)=(%s) is not present in table "catalog_symptom".', bad);
    END IF;
    IF want = 1 THEN
        PERFORM 1 FROM account a WHERE a.id = lo FOR KEY SHARE;
        IF FOUND THEN
            RETURN NULL;
        END IF;
    ELSIF want > 1 THEN
        SELECT count(*) INTO held
        FROM (SELECT 1 FROM account a WHERE a.id IN (SELECT n.member_id FROM new_rows n)
              ORDER BY a.id FOR KEY SHARE OF a) x;
        IF held = want THEN
            RETURN NULL;
        END IF;
    ELSE
        RETURN NULL;
    END IF;
    SELECT n.member_id::text INTO bad FROM new_rows n
    WHERE NOT EXISTS (SELECT 1 FROM account a WHERE a.id = n.member_id) LIMIT 1;
    RAISE foreign_key_violation USING
        MESSAGE = 'insert or update on table "symptom_entry" violates its account check',
        DETAIL = format('Key (member_id)=(%s) is not present in table "account".', bad);
END
$$;

CREATE FUNCTION account_symptom_entry_erase() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        TRUNCATE symptom_entry;
    ELSE
        DELETE FROM symptom_entry e USING gone g WHERE e.member_id = g.id;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER account_symptom_entry_erase AFTER DELETE ON account
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION account_symptom_entry_erase();
CREATE TRIGGER account_symptom_entry_truncate AFTER TRUNCATE ON account
    FOR EACH STATEMENT EXECUTE FUNCTION account_symptom_entry_erase();
