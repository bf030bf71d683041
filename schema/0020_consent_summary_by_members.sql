-- The consent summary (0014) of a range of members, added by a bulk loader right after it has
-- copied their grants with the summary trigger off (bench/gen.c), in the same transaction, as
-- 0019 does for the symptom rollups. Before, consent_member_rebuild() after the load recomputed
-- every member on one core (79.9 s at 1M members). The rows are consent_member_source's, the
-- definition the trigger and the rebuild use; the range reaches the grants through their primary
-- key. Plain INSERT: a member that has rows already makes it fail instead of counting twice.
-- Returns the number of rows added. Owner only.
CREATE FUNCTION consent_member_add_members(lo uuid, hi uuid) RETURNS bigint
LANGUAGE sql
AS $$
    WITH added AS (
        INSERT INTO consent_member (member_id, purpose, cats_noncom_nonprofit,
                                    cats_noncom_forprofit, cats_com_nonprofit, cats_com_forprofit,
                                    conditions, from_max, until_min)
        SELECT member_id, purpose, cats_noncom_nonprofit, cats_noncom_forprofit,
               cats_com_nonprofit, cats_com_forprofit, conditions, from_max, until_min
        FROM consent_member_source
        WHERE member_id BETWEEN lo AND hi
        RETURNING 1
    )
    SELECT count(*) FROM added;
$$;
REVOKE EXECUTE ON FUNCTION consent_member_add_members(uuid, uuid) FROM PUBLIC;
