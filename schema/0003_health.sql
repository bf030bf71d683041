-- 0003_health: member-owned health records, the sync feed and idempotency keys.
--
-- Every member table carries member_id, and every primary key, unique constraint and foreign key
-- between member tables includes it, so the schema can later be distributed by member_id (Citus).
-- Catalog items are referenced by their catalog id; anything else goes through custom_item.
-- Aggregates only ever read the catalog id columns.
-- Runs inside the server's migration transaction: no BEGIN/COMMIT here.

-- Items a member named that are not in the catalog.
CREATE TABLE custom_item (
    member_id uuid NOT NULL REFERENCES account(id) ON DELETE CASCADE,
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    kind text NOT NULL CHECK (kind IN ('symptom', 'condition', 'medication')),
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (member_id, id),
    -- Target of the (member_id, custom_id, custom_kind) foreign keys: an entry can only use an
    -- item of its own kind.
    UNIQUE (member_id, id, kind)
);
CREATE UNIQUE INDEX custom_item_name_key ON custom_item (member_id, kind, lower(name));

CREATE TABLE member_profile (
    member_id uuid PRIMARY KEY REFERENCES account(id) ON DELETE CASCADE,
    birth_year int CHECK (birth_year BETWEEN 1900 AND 2100),
    sex_at_birth text CHECK (sex_at_birth IN ('female', 'male', 'intersex', 'unknown')),
    gender text CHECK (length(gender) <= 100),
    country char(2) CHECK (country ~ '^[A-Z]{2}$'),
    postal_prefix text CHECK (length(postal_prefix) <= 3),
    timezone text CHECK (length(timezone) <= 64),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE member_condition (
    member_id uuid NOT NULL REFERENCES account(id) ON DELETE CASCADE,
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    condition_id text REFERENCES catalog_condition(id),
    custom_id uuid,
    custom_kind text GENERATED ALWAYS AS ('condition') STORED,
    -- As the member gave it (YYYY, YYYY-MM or YYYY-MM-DD); diagnosed_date is the first day of that
    -- period, for queries, and must agree with it.
    diagnosed_on text CHECK (diagnosed_on ~ '^[0-9]{4}(-[0-9]{2}(-[0-9]{2})?)?$'),
    diagnosed_date date NOT NULL,
    status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'remission', 'resolved')),
    note text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (member_id, id),
    FOREIGN KEY (member_id, custom_id, custom_kind) REFERENCES custom_item(member_id, id, kind),
    CONSTRAINT member_condition_one_item CHECK (num_nonnulls(condition_id, custom_id) = 1),
    CONSTRAINT member_condition_diagnosed_match CHECK (
        diagnosed_on IS NULL
        OR to_char(diagnosed_date, 'YYYY-MM-DD')
           = diagnosed_on || substr('-01-01', length(diagnosed_on) - 3))
);
CREATE INDEX member_condition_catalog_idx ON member_condition (condition_id, diagnosed_date)
    WHERE condition_id IS NOT NULL;
CREATE INDEX member_condition_custom_idx ON member_condition (member_id, custom_id)
    WHERE custom_id IS NOT NULL;

CREATE TABLE symptom_entry (
    member_id uuid NOT NULL REFERENCES account(id) ON DELETE CASCADE,
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    symptom_id text REFERENCES catalog_symptom(id),
    custom_id uuid,
    custom_kind text GENERATED ALWAYS AS ('symptom') STORED,
    severity smallint NOT NULL CHECK (severity BETWEEN 0 AND 10),
    recorded_at timestamptz NOT NULL,
    duration_minutes int CHECK (duration_minutes >= 0),
    triggers text[],
    note text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (member_id, id),
    FOREIGN KEY (member_id, custom_id, custom_kind) REFERENCES custom_item(member_id, id, kind),
    CONSTRAINT symptom_entry_one_item CHECK (num_nonnulls(symptom_id, custom_id) = 1)
);
CREATE INDEX symptom_entry_member_time_idx ON symptom_entry (member_id, recorded_at);
CREATE INDEX symptom_entry_catalog_time_idx ON symptom_entry (symptom_id, recorded_at)
    WHERE symptom_id IS NOT NULL;
CREATE INDEX symptom_entry_custom_idx ON symptom_entry (member_id, custom_id)
    WHERE custom_id IS NOT NULL;

CREATE TABLE medication (
    member_id uuid NOT NULL REFERENCES account(id) ON DELETE CASCADE,
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    medication_id text REFERENCES catalog_medication(id),
    custom_id uuid,
    custom_kind text GENERATED ALWAYS AS ('medication') STORED,
    dose_amount numeric CHECK (dose_amount > 0),
    dose_unit text CHECK (dose_unit IN ('mg', 'mcg', 'g', 'ml', 'IU', 'units', 'puffs', 'tablets',
                                        'drops', 'patches')),
    freq_kind text NOT NULL CHECK (freq_kind IN ('times_per_day', 'every_n_days', 'as_needed')),
    freq_value int CHECK (freq_value > 0),
    started_on date NOT NULL,
    stopped_on date CHECK (stopped_on IS NULL OR stopped_on >= started_on),
    stop_reason text CHECK (stop_reason IN ('side_effects', 'not_effective', 'cost', 'remission',
                                            'doctor_advice', 'other')),
    -- A member_condition id. A composite foreign key cannot portably SET NULL only this column
    -- (Citus), so the service checks it and treats a dangling id as none.
    for_condition uuid,
    note text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (member_id, id),
    FOREIGN KEY (member_id, custom_id, custom_kind) REFERENCES custom_item(member_id, id, kind),
    CONSTRAINT medication_one_item CHECK (num_nonnulls(medication_id, custom_id) = 1),
    CONSTRAINT medication_freq_value_iff CHECK ((freq_kind = 'as_needed') = (freq_value IS NULL))
);
CREATE INDEX medication_catalog_start_idx ON medication (medication_id, started_on);
CREATE INDEX medication_custom_idx ON medication (member_id, custom_id) WHERE custom_id IS NOT NULL;

CREATE TABLE medication_dose (
    member_id uuid NOT NULL REFERENCES account(id) ON DELETE CASCADE,
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    medication_ref uuid NOT NULL,
    scheduled_at timestamptz,
    taken_at timestamptz,
    status text NOT NULL CHECK (status IN ('taken', 'skipped', 'late', 'missed')),
    reason text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (member_id, id),
    FOREIGN KEY (member_id, medication_ref) REFERENCES medication(member_id, id) ON DELETE CASCADE
);
CREATE INDEX medication_dose_schedule_idx ON medication_dose (member_id, medication_ref,
                                                              scheduled_at);

CREATE TABLE medication_evaluation (
    member_id uuid NOT NULL REFERENCES account(id) ON DELETE CASCADE,
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    medication_ref uuid NOT NULL,
    evaluated_on date NOT NULL,
    effectiveness text CHECK (effectiveness IN ('none', 'slight', 'moderate', 'major',
                                                'cant_tell')),
    adherence text CHECK (adherence IN ('always', 'usually', 'sometimes', 'never')),
    burden text CHECK (burden IN ('none', 'slight', 'moderate', 'major')),
    note text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (member_id, id),
    FOREIGN KEY (member_id, medication_ref) REFERENCES medication(member_id, id) ON DELETE CASCADE
);
CREATE INDEX medication_evaluation_ref_idx ON medication_evaluation (member_id, medication_ref,
                                                                     evaluated_on);

CREATE TABLE evaluation_side_effect (
    member_id uuid NOT NULL REFERENCES account(id) ON DELETE CASCADE,
    evaluation_ref uuid NOT NULL,
    ordinal smallint NOT NULL CHECK (ordinal >= 0),
    symptom_id text REFERENCES catalog_symptom(id),
    custom_id uuid,
    custom_kind text GENERATED ALWAYS AS ('symptom') STORED,
    severity text CHECK (severity IN ('none', 'mild', 'moderate', 'severe')),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (member_id, evaluation_ref, ordinal),
    FOREIGN KEY (member_id, evaluation_ref) REFERENCES medication_evaluation(member_id, id)
        ON DELETE CASCADE,
    FOREIGN KEY (member_id, custom_id, custom_kind) REFERENCES custom_item(member_id, id, kind),
    CONSTRAINT evaluation_side_effect_one_item CHECK (num_nonnulls(symptom_id, custom_id) = 1)
);
CREATE INDEX evaluation_side_effect_catalog_idx ON evaluation_side_effect (symptom_id)
    WHERE symptom_id IS NOT NULL;
CREATE INDEX evaluation_side_effect_custom_idx ON evaluation_side_effect (member_id, custom_id)
    WHERE custom_id IS NOT NULL;

CREATE TABLE goal (
    member_id uuid NOT NULL REFERENCES account(id) ON DELETE CASCADE,
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    title text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    kind text NOT NULL CHECK (kind IN ('symptom_target', 'adherence', 'custom')),
    symptom_id text REFERENCES catalog_symptom(id),
    -- A medication id; plain column for the same reason as medication.for_condition.
    medication_ref uuid,
    target_value numeric NOT NULL,
    direction text NOT NULL CHECK (direction IN ('decrease', 'increase')),
    due_on date,
    status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'achieved', 'abandoned')),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (member_id, id)
);

CREATE TABLE goal_progress (
    member_id uuid NOT NULL REFERENCES account(id) ON DELETE CASCADE,
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    goal_ref uuid NOT NULL,
    value numeric NOT NULL,
    recorded_at timestamptz NOT NULL,
    note text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (member_id, id),
    FOREIGN KEY (member_id, goal_ref) REFERENCES goal(member_id, id) ON DELETE CASCADE
);
CREATE INDEX goal_progress_goal_idx ON goal_progress (member_id, goal_ref, recorded_at);

-- The sync feed: one row per change to a member's records, in seq order. Written by the triggers
-- below.
CREATE TABLE change_log (
    member_id uuid NOT NULL REFERENCES account(id) ON DELETE CASCADE,
    seq bigint GENERATED ALWAYS AS IDENTITY,
    resource text NOT NULL CHECK (resource IN ('profile', 'condition', 'symptom', 'medication',
                                               'dose', 'evaluation', 'goal', 'progress')),
    resource_id uuid NOT NULL,
    op text NOT NULL CHECK (op IN ('upsert', 'delete')),
    at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (member_id, seq)
);

CREATE TABLE idempotency_key (
    member_id uuid NOT NULL REFERENCES account(id) ON DELETE CASCADE,
    key text NOT NULL CHECK (length(key) BETWEEN 1 AND 200),
    request_hash text NOT NULL,
    status int NOT NULL,
    response text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (member_id, key)
);
CREATE INDEX idempotency_key_created_idx ON idempotency_key (created_at);

-- Change feed trigger. TG_ARGV[0] is the resource name, TG_ARGV[1] the column holding its id.
CREATE FUNCTION cc_log_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    IF TG_OP = 'DELETE' THEN
        r := OLD;
        -- When the account itself is deleted its feed goes with it, and a new row would violate the
        -- change_log foreign key.
        IF NOT EXISTS (SELECT 1 FROM account WHERE id = OLD.member_id) THEN
            RETURN NULL;
        END IF;
    ELSE
        r := NEW;
    END IF;
    INSERT INTO change_log (member_id, resource, resource_id, op)
    VALUES (r.member_id, TG_ARGV[0], (to_jsonb(r) ->> TG_ARGV[1])::uuid,
            CASE TG_OP WHEN 'DELETE' THEN 'delete' ELSE 'upsert' END);
    RETURN NULL;
END
$$;

-- Side effects are part of their evaluation: a change is an upsert of the evaluation, except when
-- the evaluation (its delete is already in the feed) or the account is gone.
CREATE FUNCTION cc_log_side_effect_change() RETURNS trigger LANGUAGE plpgsql AS $$
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
    INSERT INTO change_log (member_id, resource, resource_id, op)
    VALUES (r.member_id, 'evaluation', r.evaluation_ref, 'upsert');
    RETURN NULL;
END
$$;

-- updated_at follows every update unless the statement sets it itself.
CREATE FUNCTION cc_touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at THEN
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER member_profile_log AFTER INSERT OR UPDATE OR DELETE ON member_profile
    FOR EACH ROW EXECUTE FUNCTION cc_log_change('profile', 'member_id');
CREATE TRIGGER member_condition_log AFTER INSERT OR UPDATE OR DELETE ON member_condition
    FOR EACH ROW EXECUTE FUNCTION cc_log_change('condition', 'id');
CREATE TRIGGER symptom_entry_log AFTER INSERT OR UPDATE OR DELETE ON symptom_entry
    FOR EACH ROW EXECUTE FUNCTION cc_log_change('symptom', 'id');
CREATE TRIGGER medication_log AFTER INSERT OR UPDATE OR DELETE ON medication
    FOR EACH ROW EXECUTE FUNCTION cc_log_change('medication', 'id');
CREATE TRIGGER medication_dose_log AFTER INSERT OR UPDATE OR DELETE ON medication_dose
    FOR EACH ROW EXECUTE FUNCTION cc_log_change('dose', 'id');
CREATE TRIGGER medication_evaluation_log AFTER INSERT OR UPDATE OR DELETE ON medication_evaluation
    FOR EACH ROW EXECUTE FUNCTION cc_log_change('evaluation', 'id');
CREATE TRIGGER evaluation_side_effect_log AFTER INSERT OR UPDATE OR DELETE ON evaluation_side_effect
    FOR EACH ROW EXECUTE FUNCTION cc_log_side_effect_change();
CREATE TRIGGER goal_log AFTER INSERT OR UPDATE OR DELETE ON goal
    FOR EACH ROW EXECUTE FUNCTION cc_log_change('goal', 'id');
CREATE TRIGGER goal_progress_log AFTER INSERT OR UPDATE OR DELETE ON goal_progress
    FOR EACH ROW EXECUTE FUNCTION cc_log_change('progress', 'id');

CREATE TRIGGER custom_item_touch BEFORE UPDATE ON custom_item
    FOR EACH ROW EXECUTE FUNCTION cc_touch_updated_at();
CREATE TRIGGER member_profile_touch BEFORE UPDATE ON member_profile
    FOR EACH ROW EXECUTE FUNCTION cc_touch_updated_at();
CREATE TRIGGER member_condition_touch BEFORE UPDATE ON member_condition
    FOR EACH ROW EXECUTE FUNCTION cc_touch_updated_at();
CREATE TRIGGER symptom_entry_touch BEFORE UPDATE ON symptom_entry
    FOR EACH ROW EXECUTE FUNCTION cc_touch_updated_at();
CREATE TRIGGER medication_touch BEFORE UPDATE ON medication
    FOR EACH ROW EXECUTE FUNCTION cc_touch_updated_at();
CREATE TRIGGER medication_dose_touch BEFORE UPDATE ON medication_dose
    FOR EACH ROW EXECUTE FUNCTION cc_touch_updated_at();
CREATE TRIGGER medication_evaluation_touch BEFORE UPDATE ON medication_evaluation
    FOR EACH ROW EXECUTE FUNCTION cc_touch_updated_at();
CREATE TRIGGER evaluation_side_effect_touch BEFORE UPDATE ON evaluation_side_effect
    FOR EACH ROW EXECUTE FUNCTION cc_touch_updated_at();
CREATE TRIGGER goal_touch BEFORE UPDATE ON goal
    FOR EACH ROW EXECUTE FUNCTION cc_touch_updated_at();
CREATE TRIGGER goal_progress_touch BEFORE UPDATE ON goal_progress
    FOR EACH ROW EXECUTE FUNCTION cc_touch_updated_at();

GRANT SELECT, INSERT, UPDATE, DELETE ON custom_item, member_profile, member_condition,
    symptom_entry, medication, medication_dose, medication_evaluation, evaluation_side_effect, goal,
    goal_progress, change_log, idempotency_key TO cc_app;
GRANT USAGE ON SEQUENCE change_log_seq_seq TO cc_app;
