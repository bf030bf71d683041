-- 0008_research: research studies, their privacy budget and its ledger, cached answers, the data
-- version that decides when a cached answer is still valid, and one data_use row per member per study.
-- Runs inside the server's migration transaction: no BEGIN/COMMIT here.

-- A researcher's study. Approval sets the budget (epsilon, summed over every released measure) and the
-- date the study expires on (queries are answered while now() is before expires_on 00:00 UTC).
-- conditions are catalog condition ids: the consent focus of a disease-specific study (empty for
-- general research).
CREATE TABLE study (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    researcher_id uuid NOT NULL REFERENCES account(id) ON DELETE CASCADE,
    title text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    description text NOT NULL CHECK (length(description) BETWEEN 1 AND 5000),
    purpose text NOT NULL CHECK (purpose IN ('general_research', 'disease_specific')),
    conditions text[] NOT NULL DEFAULT '{}' CHECK (consent_conditions_valid(conditions)),
    commercial boolean NOT NULL,
    organisation_for_profit boolean NOT NULL,
    categories int NOT NULL CHECK (categories BETWEEN 1 AND 31), -- consent.h category bits
    irb_reference text CHECK (length(irb_reference) BETWEEN 1 AND 200),
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'rejected')),
    epsilon_budget numeric(6, 3) CHECK (epsilon_budget BETWEEN 0.1 AND 20),
    epsilon_spent numeric(6, 3) NOT NULL DEFAULT 0 CHECK (epsilon_spent >= 0),
    expires_on date,
    reject_reason text CHECK (length(reject_reason) BETWEEN 1 AND 1000),
    decided_by uuid,
    decided_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT study_conditions_purpose CHECK (
        (purpose = 'disease_specific') = (cardinality(conditions) > 0)),
    CONSTRAINT study_approved_whole CHECK (
        (status = 'approved') = (epsilon_budget IS NOT NULL AND expires_on IS NOT NULL)),
    CONSTRAINT study_rejected_reason CHECK ((status = 'rejected') = (reject_reason IS NOT NULL)),
    -- The budget can never be overspent, whatever writes the row.
    CONSTRAINT study_within_budget CHECK (epsilon_spent <= coalesce(epsilon_budget, 0))
);
CREATE INDEX study_researcher_idx ON study (researcher_id, created_at DESC, id DESC);
CREATE INDEX study_status_idx ON study (status, created_at DESC, id DESC);

-- The budget ledger: one row per query, in the transaction that releases its numbers. A repeat
-- answered from the cache costs nothing and is recorded with epsilon 0 and cached true.
CREATE TABLE study_query (
    study_id uuid NOT NULL REFERENCES study(id) ON DELETE CASCADE,
    seq int NOT NULL CHECK (seq > 0),
    query_hash text NOT NULL CHECK (query_hash ~ '^[0-9a-f]{64}$'),
    epsilon numeric(6, 3) NOT NULL CHECK (epsilon >= 0),
    cached boolean NOT NULL,
    at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (study_id, seq),
    CONSTRAINT study_query_cached_free CHECK (cached = (epsilon = 0))
);

-- The last released answer per study and canonical query, valid while the data version it was computed
-- at is still current. Holds only released (noised, suppressed, rounded) numbers.
CREATE TABLE study_cache (
    study_id uuid NOT NULL REFERENCES study(id) ON DELETE CASCADE,
    query_hash text NOT NULL CHECK (query_hash ~ '^[0-9a-f]{64}$'),
    data_version bigint NOT NULL,
    response text NOT NULL CHECK (length(response) <= 4194304),
    at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (study_id, query_hash)
);

-- The data version: every statement that changes a health record, a profile, a consent or an account
-- takes a new value (statement-level triggers, so a bulk ingest pays once per statement, not per row).
-- A query reads last_value at its start; its cached answer is reused only while that is unchanged.
-- Benign race: a transaction that took its value before the read but commits after the query's
-- snapshot is not in the answer, yet the answer carries its version, so until the next change the
-- cached answer can be older than the committed data; it is never newer, and never mixes studies.
CREATE SEQUENCE data_version_seq;

CREATE FUNCTION cc_bump_data_version() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM nextval('data_version_seq');
    RETURN NULL;
END
$$;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['account', 'member_profile', 'custom_item', 'member_condition',
                             'symptom_entry', 'medication', 'medication_dose', 'medication_evaluation',
                             'evaluation_side_effect', 'goal', 'goal_progress', 'consent_grant']
    LOOP
        EXECUTE format('CREATE TRIGGER %I AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON %I '
                       'FOR EACH STATEMENT EXECUTE FUNCTION cc_bump_data_version()',
                       t || '_data_version', t);
    END LOOP;
END
$$;

-- One data_use row per member per study: a repeat use moves `at` forward (upsert on this index).
CREATE UNIQUE INDEX data_use_study_member_key ON data_use (member_id, object_id) WHERE kind = 'study';

GRANT SELECT, INSERT, UPDATE ON study TO cc_app;
GRANT SELECT, INSERT ON study_query TO cc_app;
GRANT SELECT, INSERT, UPDATE ON study_cache TO cc_app;
GRANT USAGE, SELECT ON SEQUENCE data_version_seq TO cc_app;
GRANT UPDATE (at, title) ON data_use TO cc_app;
