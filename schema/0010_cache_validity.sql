-- A cached research or feasibility answer is reused only while it would be computed the same way:
-- the data version is unchanged (0008), it is still the same UTC day (ages and "within the last N
-- days" windows move with the date), and no consent grant started or ended in between (a grant that
-- expires changes no row, but the members it covered must stop being counted at once).
CREATE INDEX consent_grant_valid_until_idx ON consent_grant (valid_until) WHERE valid_until IS NOT NULL;
CREATE INDEX consent_grant_valid_from_idx ON consent_grant (valid_from);

CREATE FUNCTION cache_still_valid(computed_at timestamptz) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT (computed_at AT TIME ZONE 'UTC')::date = (now() AT TIME ZONE 'UTC')::date
       AND NOT EXISTS (SELECT 1 FROM consent_grant
                       WHERE valid_until > computed_at AND valid_until <= now())
       AND NOT EXISTS (SELECT 1 FROM consent_grant
                       WHERE valid_from > computed_at AND valid_from <= now())
$$;

GRANT EXECUTE ON FUNCTION cache_still_valid(timestamptz) TO cc_app;
