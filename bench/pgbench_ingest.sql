-- pgbench baseline for POST /v1/me/symptoms: the statements the service runs for one request, sent
-- straight to PostgreSQL (run with -M prepared, as the service prepares its statements):
--   bearer token -> account (the token is hashed here, by the service in C), BEGIN, INSERT (the same
--   triggers fire) returning the response's columns, COMMIT. The service checks a catalog symptom
--   id in the database only the first time it sees it (ids are permanent), so that check is not
--   here. (The time format uses "." for ":" because pgbench would read ":MI" as a variable; the
--   work is the same.)
-- Variables: nsess (tokens 1..nsess exist), seed (carecommons-gen --seed).
\set i random(1, :nsess)
\set k random(1, 8)
\set sev random(0, 10)
SELECT a.id AS member, a.role AS role FROM session s JOIN account a ON a.id = s.account_id
 WHERE s.token_hash = encode(sha256(convert_to('ccbench-token-' || :seed::text || '-' || lpad(:i::text, 8, '0'), 'UTF8')), 'hex')
   AND s.revoked_at IS NULL AND s.expires_at > now() AND a.deleted_at IS NULL \gset
BEGIN;
INSERT INTO symptom_entry (member_id, id, symptom_id, custom_id, severity, recorded_at, duration_minutes, triggers, note)
VALUES (:member::uuid, gen_random_uuid(), (ARRAY['fatigue', 'headache', 'nausea', 'joint_pain', 'insomnia', 'dizziness', 'anxiety', 'cough'])[:k::int], NULL, :sev::smallint, now(), NULL, NULL, NULL)
RETURNING symptom_entry.id, symptom_entry.symptom_id,
       (SELECT ci.name FROM custom_item ci WHERE ci.member_id = symptom_entry.member_id AND ci.id = symptom_entry.custom_id),
       symptom_entry.severity, to_char(symptom_entry.recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24.MI.SS.US"Z"'),
       symptom_entry.duration_minutes, array_to_json(symptom_entry.triggers)::text, symptom_entry.note,
       to_char(symptom_entry.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24.MI.SS.US"Z"'),
       to_char(symptom_entry.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24.MI.SS.US"Z"');
COMMIT;
