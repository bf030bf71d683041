-- 0005_audit_share: the tamper-evident audit trail and share links for caregivers and clinicians.
-- Runs inside the server's migration transaction: no BEGIN/COMMIT here.

-- The audit trail. One row per audited action, hash-chained: hash covers the row and the previous
-- row's hash, so changing, removing or reordering a row breaks the chain from that row on
-- (GET /v1/admin/audit/verify). actor_id has no foreign key: rows outlive accounts (after erasure
-- the id resolves to nobody). Rows hold who, what, which object and when, never health values.
--
-- seq is gapless: audit_append assigns max(seq) + 1 under a transaction-level advisory lock, so a
-- rolled-back request leaves no hole and a missing seq always means a removed row. (An identity
-- column would leave a hole for every rolled-back transaction.)
--
-- The CHECKs keep the canonical form below unambiguous: no field but details may contain '|',
-- empty strings stand only for NULL, and prev_hash is fixed-length hex.
CREATE TABLE audit_log (
    seq         bigint PRIMARY KEY CHECK (seq > 0),
    at          timestamptz NOT NULL,
    actor_id    uuid,
    actor_role  text CHECK (actor_role ~ '^[a-z]{1,32}$'),
    action      text NOT NULL CHECK (action ~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$'
                                     AND length(action) <= 64),
    object_type text NOT NULL CHECK (object_type ~ '^[a-z][a-z0-9_]{0,63}$'),
    object_id   text CHECK (length(object_id) BETWEEN 1 AND 200 AND strpos(object_id, '|') = 0),
    details     jsonb CHECK (jsonb_typeof(details) = 'object' AND length(details::text) <= 4096),
    prev_hash   text NOT NULL CHECK (prev_hash ~ '^[0-9a-f]{64}$'),
    hash        text NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$')
);
CREATE INDEX audit_log_actor_idx ON audit_log (actor_id, seq) WHERE actor_id IS NOT NULL;
CREATE INDEX audit_log_action_idx ON audit_log (action, seq);
CREATE INDEX audit_log_at_idx ON audit_log (at);

-- The one definition of a row's hash, used by audit_append and by verification:
--   sha256_hex(utf8(seq|at|actor_id|actor_role|action|object_type|object_id|details|prev_hash))
-- with '|' between fields, at as UTC ISO 8601 with microseconds ("2026-01-31T08:30:00.123456Z"),
-- details as jsonb::text (jsonb's canonical text: keys sorted, no duplicates), '' for each NULL.
CREATE FUNCTION audit_row_hash(p_seq bigint, p_at timestamptz, p_actor uuid, p_role text,
                               p_action text, p_otype text, p_oid text, p_details jsonb,
                               p_prev text)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog
AS $$
    SELECT encode(sha256(convert_to(
        p_seq::text || '|' ||
        to_char(p_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') || '|' ||
        coalesce(p_actor::text, '') || '|' ||
        coalesce(p_role, '') || '|' ||
        p_action || '|' ||
        p_otype || '|' ||
        coalesce(p_oid, '') || '|' ||
        coalesce(p_details::text, '') || '|' ||
        p_prev, 'UTF8')), 'hex')
$$;

-- Append one row, chained to the latest. The advisory lock serialises appends until the appending
-- transaction ends, so the row read here is the latest committed one and the next appender sees
-- ours. Requires READ COMMITTED (the server's default): under a transaction snapshot a concurrent
-- append would surface as a duplicate seq, and the transaction fails rather than forking the chain.
CREATE FUNCTION audit_append(p_actor uuid, p_role text, p_action text, p_otype text, p_oid text,
                             p_details jsonb)
RETURNS bigint
LANGUAGE plpgsql SECURITY INVOKER
SET search_path = pg_catalog, public
AS $$
DECLARE
    v_seq  bigint;
    v_prev text;
    v_at   timestamptz;
BEGIN
    PERFORM pg_advisory_xact_lock(1635083380); -- 'audt'
    SELECT seq, hash INTO v_seq, v_prev FROM audit_log ORDER BY seq DESC LIMIT 1;
    IF NOT FOUND THEN
        v_seq := 0;
        v_prev := repeat('0', 64);
    END IF;
    v_seq := v_seq + 1;
    -- The time the row joins the chain, so at never decreases along seq.
    v_at := clock_timestamp();
    INSERT INTO audit_log (seq, at, actor_id, actor_role, action, object_type, object_id, details,
                           prev_hash, hash)
    VALUES (v_seq, v_at, p_actor, p_role, p_action, p_otype, p_oid, p_details, v_prev,
            audit_row_hash(v_seq, v_at, p_actor, p_role, p_action, p_otype, p_oid, p_details,
                           v_prev));
    RETURN v_seq;
END
$$;

-- Append-only for everyone, the owner included. (A superuser can still skip triggers with
-- session_replication_role = replica; verification catches what that changes.)
CREATE FUNCTION audit_log_immutable() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only' USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_immutable();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_immutable();

REVOKE ALL ON audit_log FROM PUBLIC;
GRANT SELECT, INSERT ON audit_log TO cc_app;
REVOKE ALL ON FUNCTION audit_append(uuid, text, text, text, text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit_append(uuid, text, text, text, text, jsonb) TO cc_app;

-- Share links: a member lets a caregiver or clinician read chosen categories until expires_at.
-- The token is the credential, stored only as its SHA-256. Erasing the member removes the links
-- (cascade); their audit rows remain. token_hash is unique on its own (a link is found by its
-- token alone), the one key here without member_id.
CREATE TABLE share (
    member_id      uuid NOT NULL REFERENCES account (id) ON DELETE CASCADE,
    id             uuid NOT NULL DEFAULT gen_random_uuid(),
    token_hash     text NOT NULL UNIQUE CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    label          text NOT NULL CHECK (length(label) BETWEEN 1 AND 100),
    categories     int NOT NULL CHECK (categories BETWEEN 1 AND 31), -- consent.h category bits
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL,
    revoked_at     timestamptz,
    last_access_at timestamptz,
    access_count   bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (member_id, id)
);

GRANT SELECT, INSERT, UPDATE, DELETE ON share TO cc_app;
