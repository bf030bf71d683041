-- 0009_trials: clinical trial recruitment. Coordinators describe a trial (criteria in the cohort
-- language), an admin approves it with a privacy budget, feasibility counts are released with noise
-- against that budget, and invitations go to consenting members, who alone decide what the
-- coordinator learns about them (the `shared` snapshot on acceptance).
--
-- Invariants kept here rather than in every caller:
-- * changing trial_recruitment consent cancels the member's pending invitations that the consent
--   no longer permits (deferred to commit, so a grant changed as "supersede old, insert new" is
--   judged on its final state);
-- * closing a trial expires its pending invitations;
-- * every change to a trial's invitations bumps trial.invitation_version, the key of the cached
--   response totals, so new totals (and a new charge to the budget) happen once per change.
-- Runs inside the server's migration transaction: no BEGIN/COMMIT here.

CREATE TABLE trial (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    coordinator_id uuid NOT NULL REFERENCES account(id) ON DELETE CASCADE,
    title text NOT NULL CHECK (length(title) BETWEEN 1 AND 300),
    -- Drafts imported from ClinicalTrials.gov may lack a summary or a contact message; a trial
    -- needs both (and a site) before it can recruit.
    summary text NOT NULL DEFAULT '' CHECK (length(summary) <= 10000),
    nct_id text CHECK (nct_id ~ '^NCT[0-9]{8}$'),
    sponsor text NOT NULL CHECK (length(sponsor) BETWEEN 1 AND 300),
    commercial boolean NOT NULL,
    organisation_for_profit boolean NOT NULL,
    -- Catalog condition ids: the consent focus of every use of members' data for this trial.
    conditions text[] NOT NULL DEFAULT '{}' CHECK (consent_conditions_valid(conditions)),
    conditions_text text[] NOT NULL DEFAULT '{}'
        CHECK (coalesce(array_ndims(conditions_text), 1) = 1
               AND cardinality(conditions_text) <= 64),
    -- [{country, postal_prefix?}], validated by the service.
    sites jsonb NOT NULL DEFAULT '[]'
        CHECK (jsonb_typeof(sites) = 'array' AND jsonb_array_length(sites) <= 100),
    inclusion jsonb NOT NULL CHECK (jsonb_typeof(inclusion) = 'object'),
    exclusion jsonb CHECK (jsonb_typeof(exclusion) = 'object'),
    contact_message text NOT NULL DEFAULT '' CHECK (length(contact_message) <= 2000),
    categories int NOT NULL CHECK (categories BETWEEN 1 AND 31),
    healthy_volunteers boolean,
    eligibility_text text CHECK (length(eligibility_text) <= 65536),
    source text NOT NULL DEFAULT 'manual' CHECK (source IN ('manual', 'ctgov')),
    status text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'recruiting', 'closed')),
    -- Approval: who, when, until when, and the epsilon the trial may spend in all. Editing a
    -- draft's content withdraws the approval (the admin approved those criteria); spent epsilon
    -- stays spent.
    approved_at timestamptz,
    approved_by uuid,
    expires_on date,
    epsilon_budget numeric(8, 3) NOT NULL DEFAULT 0 CHECK (epsilon_budget BETWEEN 0 AND 100),
    epsilon_spent numeric(12, 3) NOT NULL DEFAULT 0 CHECK (epsilon_spent >= 0),
    invitation_version bigint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT trial_approval_whole CHECK ((approved_at IS NULL) = (expires_on IS NULL)),
    CONSTRAINT trial_recruiting_approved CHECK (status = 'draft' OR approved_at IS NOT NULL)
);
CREATE INDEX trial_coordinator_idx ON trial (coordinator_id, created_at DESC);
CREATE INDEX trial_status_idx ON trial (status, created_at DESC);

-- The budget ledger: one row per charge, in the transaction that releases the numbers.
CREATE TABLE trial_query (
    trial_id uuid NOT NULL REFERENCES trial(id) ON DELETE CASCADE,
    seq bigint GENERATED ALWAYS AS IDENTITY,
    kind text NOT NULL CHECK (kind IN ('feasibility', 'invitations', 'responses')),
    query_hash text NOT NULL CHECK (query_hash ~ '^[0-9a-f]{64}$'),
    epsilon numeric(8, 3) NOT NULL CHECK (epsilon > 0),
    at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (trial_id, seq)
);

-- One invitation per member and trial. candidate_id is what the coordinator sees of an accepting
-- member; the member id never leaves the service. shared holds exactly the fields the member chose
-- to share, copied at acceptance.
CREATE TABLE trial_invitation (
    member_id uuid NOT NULL REFERENCES account(id) ON DELETE CASCADE,
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    trial_id uuid NOT NULL REFERENCES trial(id) ON DELETE CASCADE,
    candidate_id uuid NOT NULL DEFAULT gen_random_uuid(),
    message text CHECK (length(message) <= 2000),
    status text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'accepted', 'declined', 'cancelled', 'expired')),
    shared jsonb CHECK (jsonb_typeof(shared) = 'object'),
    created_at timestamptz NOT NULL DEFAULT now(),
    responded_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (member_id, id),
    CONSTRAINT trial_invitation_once UNIQUE (trial_id, member_id),
    CONSTRAINT trial_invitation_shared CHECK ((status = 'accepted') = (shared IS NOT NULL)),
    CONSTRAINT trial_invitation_responded
        CHECK ((status IN ('accepted', 'declined')) = (responded_at IS NOT NULL))
);
CREATE UNIQUE INDEX trial_invitation_id_key ON trial_invitation (id);
CREATE UNIQUE INDEX trial_invitation_candidate_key ON trial_invitation (trial_id, candidate_id);
-- The monthly cap counts a member's invitations of the last 30 days.
CREATE INDEX trial_invitation_member_recent_idx ON trial_invitation (member_id, created_at);
CREATE INDEX trial_invitation_trial_status_idx ON trial_invitation (trial_id, status);

-- A feasibility answer, reused at no cost while the query (criteria, consent terms, epsilon, site
-- countries: query_hash) and the data (data_version_seq, schema/0008_research.sql) are unchanged,
-- as research reuses its answers: asking again yields the same numbers, never fresh noise.
CREATE TABLE trial_feasibility_cache (
    trial_id uuid NOT NULL REFERENCES trial(id) ON DELETE CASCADE,
    query_hash text NOT NULL CHECK (query_hash ~ '^[0-9a-f]{64}$'),
    data_version bigint NOT NULL,
    body jsonb NOT NULL CHECK (jsonb_typeof(body) = 'object'),
    at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (trial_id, query_hash)
);

-- One data_use row per member per trial: a repeat use moves `at` forward (upsert on this index).
CREATE UNIQUE INDEX data_use_trial_member_key ON data_use (member_id, object_id)
    WHERE kind = 'trial';

-- The released response totals of a trial, valid while invitation_version is unchanged.
CREATE TABLE trial_response_release (
    trial_id uuid PRIMARY KEY REFERENCES trial(id) ON DELETE CASCADE,
    invitation_version bigint NOT NULL,
    body jsonb NOT NULL CHECK (jsonb_typeof(body) = 'object'),
    released_at timestamptz NOT NULL DEFAULT now()
);

CREATE TRIGGER trial_touch BEFORE UPDATE ON trial
    FOR EACH ROW EXECUTE FUNCTION cc_touch_updated_at();
CREATE TRIGGER trial_invitation_touch BEFORE UPDATE ON trial_invitation
    FOR EACH ROW EXECUTE FUNCTION cc_touch_updated_at();

-- Statement-level so inviting a thousand members bumps each trial once.
CREATE FUNCTION trial_invitation_bump() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    UPDATE trial SET invitation_version = invitation_version + 1
    WHERE id IN (SELECT DISTINCT trial_id FROM changed_rows);
    RETURN NULL;
END
$$;
CREATE TRIGGER trial_invitation_bump_insert AFTER INSERT ON trial_invitation
    REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION trial_invitation_bump();
CREATE TRIGGER trial_invitation_bump_update AFTER UPDATE ON trial_invitation
    REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION trial_invitation_bump();
CREATE TRIGGER trial_invitation_bump_delete AFTER DELETE ON trial_invitation
    REFERENCING OLD TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION trial_invitation_bump();

-- Closing a trial expires what is still pending.
CREATE FUNCTION trial_closed() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    UPDATE trial_invitation SET status = 'expired'
    WHERE trial_id = NEW.id AND status = 'pending';
    RETURN NULL;
END
$$;
CREATE TRIGGER trial_closed AFTER UPDATE OF status ON trial
    FOR EACH ROW WHEN (NEW.status = 'closed' AND OLD.status <> 'closed')
    EXECUTE FUNCTION trial_closed();

-- A trial_recruitment grant was given, changed, withdrawn or expired: cancel the member's pending
-- invitations whose trial the member's consent no longer permits (the same consent_permits the
-- invitations were chosen by). A constraint trigger deferred to commit sees the final grants.
CREATE FUNCTION trial_consent_changed() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    UPDATE trial_invitation i SET status = 'cancelled'
    FROM trial t
    WHERE i.member_id = NEW.member_id
      AND i.status = 'pending'
      AND t.id = i.trial_id
      AND NOT consent_permits(NEW.member_id, 'trial_recruitment', t.categories, t.commercial,
                              t.organisation_for_profit, t.conditions, now());
    RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER trial_consent_changed AFTER INSERT OR UPDATE ON consent_grant
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.purpose = 'trial_recruitment')
    EXECUTE FUNCTION trial_consent_changed();

GRANT SELECT, INSERT, UPDATE ON trial, trial_invitation, trial_response_release,
    trial_feasibility_cache TO cc_app;
GRANT SELECT, INSERT ON trial_query TO cc_app;
GRANT EXECUTE ON FUNCTION trial_invitation_bump(), trial_closed(), trial_consent_changed()
    TO cc_app;
