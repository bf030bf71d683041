-- pgbench baseline for POST /v1/me/symptoms: the statements the service runs for one request, sent
-- straight to PostgreSQL (run with -M prepared, as the service prepares its statements):
--   bearer token -> account (the token is hashed here, by the service in C), BEGIN, catalog check,
--   INSERT (the same triggers fire), read the row back for the response, COMMIT. (The time format
--   uses "." for ":" because pgbench would read ":MI" as a variable; the work is the same.)
-- Variables: nsess (tokens 1..nsess exist), seed (carecommons-gen --seed).
\set i random(1, :nsess)
\set k random(1, 8)
\set sev random(0, 10)
SELECT a.id AS member, a.role AS role FROM session s JOIN account a ON a.id = s.account_id
 WHERE s.token_hash = encode(sha256(convert_to('ccbench-token-' || :seed::text || '-' || lpad(:i::text, 8, '0'), 'UTF8')), 'hex')
   AND s.revoked_at IS NULL AND s.expires_at > now() AND a.deleted_at IS NULL \gset
BEGIN;
SELECT id FROM catalog_symptom WHERE id = ANY(ARRAY[(ARRAY['fatigue', 'headache', 'nausea', 'joint_pain', 'insomnia', 'dizziness', 'anxiety', 'cough'])[:k::int]]);
INSERT INTO symptom_entry (member_id, id, symptom_id, custom_id, severity, recorded_at, duration_minutes, triggers, note)
VALUES (:member::uuid, gen_random_uuid(), (ARRAY['fatigue', 'headache', 'nausea', 'joint_pain', 'insomnia', 'dizziness', 'anxiety', 'cough'])[:k::int], NULL, :sev::smallint, now(), NULL, NULL, NULL)
RETURNING id AS entry \gset
SELECT e.id, e.symptom_id, (SELECT ci.name FROM custom_item ci WHERE ci.member_id = e.member_id AND ci.id = e.custom_id),
       e.severity, to_char(e.recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24.MI.SS.US"Z"'), e.duration_minutes,
       array_to_json(e.triggers)::text, e.note, to_char(e.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24.MI.SS.US"Z"'),
       to_char(e.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24.MI.SS.US"Z"')
  FROM symptom_entry e WHERE e.member_id = :member::uuid AND e.id = :entry::uuid;
COMMIT;
