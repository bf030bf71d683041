-- 0004_consent: consent policies, members' consent grants (versioned), their history, the SQL form of
-- the consent rules, and the record of each use of a member's data.
--
-- The rules are those of consent/consent.h (rules 1-6); consent_permits and consent_permitted_members
-- below must agree with consent_evaluate exactly (tests/e2e/test_consent_sql.c checks this). The CHECK
-- constraints keep every stored grant valid under rule 6, so C never sees a grant SQL would read
-- differently: times are whole seconds from 2000 on (C counts whole seconds, and 0 means open-ended
-- there), condition lists are bounded and hold no NULL or empty ids, and the trigger below keeps a
-- member's active grants within CONSENT_MAX_GRANTS.
-- Runs inside the server's migration transaction: no BEGIN/COMMIT here.

-- The plain-language policy a grant was given under. Immutable once published: a receipt names the
-- version and the SHA-256 of its text, and both must stay checkable.
CREATE TABLE consent_policy (
    version int PRIMARY KEY CHECK (version BETWEEN 1 AND 1000000),
    purpose text NOT NULL DEFAULT 'all'
        CHECK (purpose IN ('all', 'research', 'trial_recruitment', 'community', 'share')),
    title text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    body text NOT NULL CHECK (length(body) BETWEEN 1 AND 100000),
    sha256 text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    published_at timestamptz NOT NULL DEFAULT now()
);

-- sha256 is always the digest of the UTF-8 body, whoever inserts the row.
CREATE FUNCTION consent_policy_digest() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        RAISE EXCEPTION 'consent policies are immutable; publish a new version'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    NEW.sha256 := encode(sha256(convert_to(NEW.body, 'UTF8')), 'hex');
    RETURN NEW;
END
$$;
CREATE TRIGGER consent_policy_digest BEFORE INSERT OR UPDATE ON consent_policy
    FOR EACH ROW EXECUTE FUNCTION consent_policy_digest();

INSERT INTO consent_policy (version, purpose, title, body, sha256)
VALUES (1, 'all', 'How CareCommons uses your health data', $policy$How CareCommons uses your health data (policy version 1)

CareCommons keeps the health record you write: your conditions, symptoms, medications, goals and a few
facts about you such as your year of birth and country. The record is yours. Nobody else sees or uses it
unless you say so here, and you can change or withdraw what you said at any time.

What you can say yes or no to
You give or refuse consent for one purpose at a time and for the kinds of data you choose:
demographics (year of birth, sex, country, first letters of your postcode), conditions, symptoms,
medications and goals. You can limit a yes to research about particular conditions, to non-commercial
work, or to organisations that do not make a profit. A "no" always wins over a "yes" for the same use.

Research
Approved researchers can ask questions about many members at once, such as "how common is fatigue among
people taking this medicine". They only ever get totals and averages for groups, with random noise added
and small groups hidden, never your record or anything that names you. Your data is counted only if you
said yes to research for the kinds of data the question needs.

Finding clinical trials (trial recruitment)
Trial coordinators can search for members who might fit a clinical trial. If you said yes, your record can
be matched against a trial's criteria and you may receive an invitation through CareCommons. The
coordinator does not learn who you are unless you answer the invitation yourself.

Community
If you say yes, what you chose can be shown in anonymous community summaries that other members see, for
example "members with migraine most often rate this medicine as moderately effective".

Sharing with people you choose
You can make a private link for a carer or a clinician that shows only the parts of your record you pick,
for as long as you pick. You can cancel the link at any time.

Your choices
Every consent you give, change or withdraw is recorded with the date and a signed receipt that you can
keep and check. A withdrawal takes effect at once for every question answered after it; results already
published cannot be recalled, but your data is not used again. You can see every use of your data on your
"data uses" page, download everything we hold about you, and delete your account.

We never sell your data, we never show it to advertisers, and no one at CareCommons reads your record to
make decisions about you. Contact: privacy@carecommons.example$policy$, '');

-- Condition lists (grant restrictions and use focus) as consent.h accepts them: a one-dimensional array
-- of at most CONSENT_MAX_CONDITIONS ids, each 1..CONSENT_MAX_CONDITION_ID bytes, none NULL.
CREATE FUNCTION consent_conditions_valid(c text[]) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT c IS NOT NULL
       AND coalesce(array_ndims(c), 1) = 1
       AND cardinality(c) <= 32
       AND NOT EXISTS (SELECT 1 FROM unnest(c) AS x WHERE x IS NULL OR octet_length(x) NOT BETWEEN 1 AND 128)
$$;

-- One row per version of a grant. id is the grant's identity across versions; only the latest version is
-- active, withdrawn or expired, earlier ones are superseded. categories is the consent.h bit set.
-- valid_until is exclusive (NULL: open-ended).
CREATE TABLE consent_grant (
    member_id uuid NOT NULL REFERENCES account(id) ON DELETE CASCADE,
    id uuid NOT NULL,
    version int NOT NULL CHECK (version BETWEEN 1 AND 1000),
    effect text NOT NULL CHECK (effect IN ('permit', 'deny')),
    purpose text NOT NULL CHECK (purpose IN ('research', 'trial_recruitment', 'community', 'share')),
    categories int NOT NULL CHECK (categories BETWEEN 1 AND 31),
    conditions text[] NOT NULL DEFAULT '{}' CHECK (consent_conditions_valid(conditions)),
    non_commercial boolean NOT NULL DEFAULT false,
    not_for_profit_only boolean NOT NULL DEFAULT false,
    valid_from timestamptz NOT NULL
        CHECK (valid_from >= '2000-01-01T00:00:00Z' AND valid_from < '2200-01-01T00:00:00Z'
               AND extract(epoch FROM valid_from) = trunc(extract(epoch FROM valid_from))),
    valid_until timestamptz
        CHECK (valid_until > valid_from AND valid_until <= '2200-01-02T00:00:00Z'
               AND extract(epoch FROM valid_until) = trunc(extract(epoch FROM valid_until))),
    status text NOT NULL CHECK (status IN ('active', 'withdrawn', 'expired', 'superseded')),
    policy_version int NOT NULL REFERENCES consent_policy(version),
    created_at timestamptz NOT NULL DEFAULT now(),
    withdrawn_at timestamptz,
    PRIMARY KEY (member_id, id, version),
    CONSTRAINT consent_grant_withdrawn_at CHECK ((status = 'withdrawn') = (withdrawn_at IS NOT NULL))
);
-- At most one current (not superseded) version per grant.
CREATE UNIQUE INDEX consent_grant_current_key ON consent_grant (member_id, id)
    WHERE status <> 'superseded';
-- consent_permitted_members: every active grant of one purpose.
CREATE INDEX consent_grant_active_purpose_idx ON consent_grant (purpose, member_id)
    WHERE status = 'active';

-- Rule 6 rejects an evaluation over more than CONSENT_MAX_GRANTS (1024) grants; the service evaluates a
-- member's active grants, so no member may hold more. The advisory lock serialises concurrent inserts
-- for one member so the count is exact.
CREATE FUNCTION consent_grant_limit() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF NEW.status = 'active'
       AND (TG_OP = 'INSERT' OR OLD.status <> 'active' OR OLD.member_id <> NEW.member_id) THEN
        PERFORM pg_advisory_xact_lock(4004, hashtext(NEW.member_id::text));
        IF (SELECT count(*) FROM consent_grant WHERE member_id = NEW.member_id AND status = 'active') >= 1024 THEN
            RAISE EXCEPTION 'a member may hold at most 1024 active consent grants'
                USING ERRCODE = 'check_violation';
        END IF;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER consent_grant_limit BEFORE INSERT OR UPDATE ON consent_grant
    FOR EACH ROW EXECUTE FUNCTION consent_grant_limit();

-- The history: one event per grant, change (each a new version), withdrawal or expiry, with the id and
-- the signed JWS of the receipt the member was given.
CREATE TABLE consent_event (
    member_id uuid NOT NULL REFERENCES account(id) ON DELETE CASCADE,
    seq bigint GENERATED ALWAYS AS IDENTITY,
    grant_id uuid NOT NULL,
    version int NOT NULL,
    event text NOT NULL CHECK (event IN ('granted', 'changed', 'withdrawn', 'expired')),
    at timestamptz NOT NULL DEFAULT now(),
    receipt_id uuid,
    receipt text CHECK (length(receipt) <= 65536),
    PRIMARY KEY (member_id, seq),
    FOREIGN KEY (member_id, grant_id, version) REFERENCES consent_grant (member_id, id, version)
        ON DELETE CASCADE
);
-- Each version is created once and ends at most once.
CREATE UNIQUE INDEX consent_event_version_key ON consent_event (member_id, grant_id, version)
    WHERE event IN ('granted', 'changed');
CREATE UNIQUE INDEX consent_event_end_key ON consent_event (member_id, grant_id, version)
    WHERE event IN ('withdrawn', 'expired');
CREATE UNIQUE INDEX consent_event_receipt_key ON consent_event (receipt_id);

-- ---- The consent rules in SQL (consent.h rules 1-5; rule 6 for the use's arguments) ----

-- Rule 6 for a use: false for anything consent_evaluate would call invalid. A NULL focus is a general
-- use (no focus), like a NULL array with n = 0 in C.
CREATE FUNCTION consent_use_valid(p_purpose text, p_categories int, p_commercial boolean,
                                  p_for_profit boolean, p_focus text[], p_at timestamptz)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT coalesce(p_purpose IN ('research', 'trial_recruitment', 'community', 'share')
                    AND p_categories BETWEEN 1 AND 31
                    AND p_commercial IS NOT NULL AND p_for_profit IS NOT NULL AND p_at IS NOT NULL
                    AND consent_conditions_valid(coalesce(p_focus, '{}')), false)
$$;

-- Rule 1: in force at p_at.
CREATE FUNCTION consent_in_force(g_status text, g_from timestamptz, g_until timestamptz, p_at timestamptz)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT g_status = 'active' AND g_from <= p_at AND (g_until IS NULL OR p_at < g_until)
$$;

-- Rule 3 a-c, for a PERMIT already known to be in force, of the use's purpose and sharing a category.
CREATE FUNCTION consent_permit_covers(g_conditions text[], g_non_commercial boolean,
                                      g_not_for_profit_only boolean, p_commercial boolean,
                                      p_for_profit boolean, p_focus text[])
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT (cardinality(g_conditions) = 0
            OR (cardinality(coalesce(p_focus, '{}')) > 0 AND coalesce(p_focus, '{}') <@ g_conditions))
       AND NOT (g_non_commercial AND p_commercial)
       AND NOT (g_not_for_profit_only AND p_for_profit)
$$;

-- Rule 4 a-c, for a DENY likewise.
CREATE FUNCTION consent_deny_covers(g_conditions text[], g_non_commercial boolean,
                                    g_not_for_profit_only boolean, p_commercial boolean,
                                    p_for_profit boolean, p_focus text[])
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT (cardinality(g_conditions) = 0 OR coalesce(p_focus, '{}') && g_conditions)
       AND (NOT g_non_commercial OR p_commercial)
       AND (NOT g_not_for_profit_only OR p_for_profit)
$$;

-- Rule 5 for one member: every category of the use is covered by some permit and by no deny.
-- bit_or of the covering grants' categories gives, per category, "some grant covers it".
CREATE FUNCTION consent_permits(p_member uuid, p_purpose text, p_categories int, p_commercial boolean,
                                p_for_profit boolean, p_focus text[], p_at timestamptz)
RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT consent_use_valid(p_purpose, p_categories, p_commercial, p_for_profit, p_focus, p_at)
       AND coalesce(bit_or(g.categories) FILTER (
               WHERE g.effect = 'permit'
                 AND consent_permit_covers(g.conditions, g.non_commercial, g.not_for_profit_only,
                                           p_commercial, p_for_profit, p_focus)), 0)
           & p_categories = p_categories
       AND coalesce(bit_or(g.categories) FILTER (
               WHERE g.effect = 'deny'
                 AND consent_deny_covers(g.conditions, g.non_commercial, g.not_for_profit_only,
                                         p_commercial, p_for_profit, p_focus)), 0)
           & p_categories = 0
    FROM consent_grant g
    WHERE g.member_id = p_member
      AND g.purpose = p_purpose
      AND g.status = 'active'
      AND consent_in_force(g.status, g.valid_from, g.valid_until, p_at)
      AND g.categories & p_categories <> 0
$$;

-- The same rule for every member at once, set-based: one pass over the purpose's active grants
-- (consent_grant_active_purpose_idx), grouped per member. Members without a grant of this purpose have
-- no permit, so they are rightly absent.
CREATE FUNCTION consent_permitted_members(p_purpose text, p_categories int, p_commercial boolean,
                                          p_for_profit boolean, p_focus text[], p_at timestamptz)
RETURNS SETOF uuid
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT g.member_id
    FROM consent_grant g
    WHERE consent_use_valid(p_purpose, p_categories, p_commercial, p_for_profit, p_focus, p_at)
      AND g.purpose = p_purpose
      AND g.status = 'active'
      AND consent_in_force(g.status, g.valid_from, g.valid_until, p_at)
      AND g.categories & p_categories <> 0
    GROUP BY g.member_id
    HAVING coalesce(bit_or(g.categories) FILTER (
               WHERE g.effect = 'permit'
                 AND consent_permit_covers(g.conditions, g.non_commercial, g.not_for_profit_only,
                                           p_commercial, p_for_profit, p_focus)), 0)
           & p_categories = p_categories
       AND coalesce(bit_or(g.categories) FILTER (
               WHERE g.effect = 'deny'
                 AND consent_deny_covers(g.conditions, g.non_commercial, g.not_for_profit_only,
                                         p_commercial, p_for_profit, p_focus)), 0)
           & p_categories = 0
$$;

-- Every use of a member's data: one row per member included in a released research aggregate or a
-- recruitment search (written by the research and trials code), shown to the member newest first.
CREATE TABLE data_use (
    member_id uuid NOT NULL REFERENCES account(id) ON DELETE CASCADE,
    seq bigint GENERATED ALWAYS AS IDENTITY,
    kind text NOT NULL CHECK (kind IN ('study', 'trial')),
    object_id uuid NOT NULL,
    title text NOT NULL CHECK (length(title) BETWEEN 1 AND 300),
    purpose text NOT NULL CHECK (purpose IN ('research', 'trial_recruitment', 'community', 'share')),
    categories int NOT NULL CHECK (categories BETWEEN 1 AND 31),
    at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (member_id, seq)
);
CREATE INDEX data_use_member_at_idx ON data_use (member_id, at DESC, seq DESC);

-- Policies are published by migrations; grants and events are written by the service (never deleted:
-- only erasure of the account removes them, by cascade); data uses are appended.
GRANT SELECT ON consent_policy TO cc_app;
GRANT SELECT, INSERT, UPDATE ON consent_grant, consent_event TO cc_app;
GRANT SELECT, INSERT ON data_use TO cc_app;
GRANT EXECUTE ON FUNCTION consent_conditions_valid(text[]),
    consent_use_valid(text, int, boolean, boolean, text[], timestamptz),
    consent_in_force(text, timestamptz, timestamptz, timestamptz),
    consent_permit_covers(text[], boolean, boolean, boolean, boolean, text[]),
    consent_deny_covers(text[], boolean, boolean, boolean, boolean, text[]),
    consent_permits(uuid, text, int, boolean, boolean, text[], timestamptz),
    consent_permitted_members(text, int, boolean, boolean, text[], timestamptz) TO cc_app;
