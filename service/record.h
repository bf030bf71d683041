/* The member health record: row -> JSON for every resource, and the helpers the record handlers
 * (h_record.c) share with other modules (FHIR import/export, sharing, erasure). */
/* clang-format off */
/*
 * Row -> JSON: rec_<resource>_json(r, row) reads one row of a result whose leading columns are
 * exactly rec_<resource>_columns, selected FROM the resource's table under its own name (no alias:
 * the column list refers to it by name), e.g.
 *
 *     snprintf(sql, sizeof(sql), "SELECT %s FROM symptom_entry WHERE member_id = $1",
 *              rec_symptom_columns);
 *
 * Further columns after those are ignored. Each returns a new reference (NULL only when out of
 * memory). Times are RFC 3339 in UTC ("2026-11-21T07:30:00Z", fractional seconds only when
 * present), dates YYYY-MM-DD, absent optional values null. Catalog items show as their id string,
 * custom items as {"custom": "name"}.
 *
 *   resource    table                  JSON fields
 *   profile     member_profile         birth_year sex_at_birth gender country postal_prefix
 *                                      timezone
 *   condition   member_condition       id condition diagnosed_on status note
 *   symptom     symptom_entry          id symptom severity severity_label recorded_at
 *                                      duration_minutes triggers note
 *   medication  medication             id medication dose_amount dose_unit frequency started_on
 *                                      stopped_on stop_reason for_condition note
 *   dose        medication_dose        id medication_id scheduled_at taken_at status reason
 *   evaluation  medication_evaluation  id medication_id evaluated_on effectiveness side_effects
 *                                      adherence burden note
 *   goal        goal                   id title kind symptom medication target_value direction
 *                                      due_on status
 *   progress    goal_progress          id goal_id value recorded_at note
 *
 * and every one also created_at and updated_at. GET one of a medication adds "adherence"
 * (rec_medication_adherence), of a goal "latest_value", "percent_to_target" and "on_track"
 * (rec_goal_stats); lists, the changes feed and the export show the plain representation.
 */
/* clang-format on */
#ifndef CC_RECORD_H
#define CC_RECORD_H

#include "svc.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct db_conn;

/* The column lists as string literals, for SQL built at compile time. */
/* clang-format off */
#define REC_TS(c) "to_char(" c " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
#define REC_DATE(c) "to_char(" c ", 'YYYY-MM-DD')"
#define REC_CUSTOM_NAME(t) \
    "(SELECT ci.name FROM custom_item ci " \
    "WHERE ci.member_id = " t ".member_id AND ci.id = " t ".custom_id)"
#define REC_STAMPS(t) REC_TS(t ".created_at") ", " REC_TS(t ".updated_at")

#define REC_PROFILE_COLUMNS \
    "member_profile.birth_year, member_profile.sex_at_birth, member_profile.gender, " \
    "member_profile.country, member_profile.postal_prefix, member_profile.timezone, " \
    REC_STAMPS("member_profile")
#define REC_CONDITION_COLUMNS \
    "member_condition.id, member_condition.condition_id, " \
    REC_CUSTOM_NAME("member_condition") ", " \
    "coalesce(member_condition.diagnosed_on, " REC_DATE("member_condition.diagnosed_date") "), " \
    "member_condition.status, member_condition.note, " \
    REC_STAMPS("member_condition")
#define REC_SYMPTOM_COLUMNS \
    "symptom_entry.id, symptom_entry.symptom_id, " \
    REC_CUSTOM_NAME("symptom_entry") ", " \
    "symptom_entry.severity, " \
    REC_TS("symptom_entry.recorded_at") ", " \
    "symptom_entry.duration_minutes, array_to_json(symptom_entry.triggers)::text, " \
    "symptom_entry.note, " \
    REC_STAMPS("symptom_entry")
#define REC_MEDICATION_COLUMNS \
    "medication.id, medication.medication_id, " \
    REC_CUSTOM_NAME("medication") ", " \
    "medication.dose_amount::text, medication.dose_unit, medication.freq_kind, " \
    "medication.freq_value, " \
    REC_DATE("medication.started_on") ", " \
    REC_DATE("medication.stopped_on") ", " \
    "medication.stop_reason, " \
    "(SELECT mc.id FROM member_condition mc WHERE mc.member_id = medication.member_id " \
    "AND mc.id = medication.for_condition), " \
    "medication.note, " \
    REC_STAMPS("medication")
#define REC_DOSE_COLUMNS \
    "medication_dose.id, medication_dose.medication_ref, " \
    REC_TS("medication_dose.scheduled_at") ", " \
    REC_TS("medication_dose.taken_at") ", " \
    "medication_dose.status, medication_dose.reason, " \
    REC_STAMPS("medication_dose")
#define REC_EVALUATION_COLUMNS \
    "medication_evaluation.id, medication_evaluation.medication_ref, " \
    REC_DATE("medication_evaluation.evaluated_on") ", " \
    "medication_evaluation.effectiveness, medication_evaluation.adherence, " \
    "medication_evaluation.burden, medication_evaluation.note, " \
    "(SELECT coalesce(json_agg(json_build_array(se.symptom_id, ci.name, se.severity) " \
    "ORDER BY se.ordinal), '[]')::text FROM evaluation_side_effect se " \
    "LEFT JOIN custom_item ci ON ci.member_id = se.member_id AND ci.id = se.custom_id " \
    "WHERE se.member_id = medication_evaluation.member_id " \
    "AND se.evaluation_ref = medication_evaluation.id), " \
    REC_STAMPS("medication_evaluation")
#define REC_GOAL_COLUMNS \
    "goal.id, goal.title, goal.kind, goal.symptom_id, " \
    "(SELECT m.id FROM medication m WHERE m.member_id = goal.member_id " \
    "AND m.id = goal.medication_ref), " \
    "goal.target_value::text, goal.direction, " \
    REC_DATE("goal.due_on") ", " \
    "goal.status, " \
    REC_STAMPS("goal")
#define REC_PROGRESS_COLUMNS \
    "goal_progress.id, goal_progress.goal_ref, goal_progress.value::text, " \
    REC_TS("goal_progress.recorded_at") ", " \
    "goal_progress.note, " \
    REC_STAMPS("goal_progress")
/* clang-format on */

extern const char *const rec_profile_columns;
extern const char *const rec_condition_columns;
extern const char *const rec_symptom_columns;
extern const char *const rec_medication_columns;
extern const char *const rec_dose_columns;
extern const char *const rec_evaluation_columns;
extern const char *const rec_goal_columns;
extern const char *const rec_progress_columns;

/* New references (see above). */
json_t *rec_profile_json(PGresult *r, int row);
json_t *rec_condition_json(PGresult *r, int row);
json_t *rec_symptom_json(PGresult *r, int row);
json_t *rec_medication_json(PGresult *r, int row);
json_t *rec_dose_json(PGresult *r, int row);
json_t *rec_evaluation_json(PGresult *r, int row);
json_t *rec_goal_json(PGresult *r, int row);
json_t *rec_progress_json(PGresult *r, int row);

/* Severity words, the one mapping table (record.c). rec_severity_from_label: none 0, mild 2,
 * moderate 5, severe 7, very_severe 9; -1 for anything else. rec_severity_label: the band of 0..10
 * (0 none, 1-3 mild, 4-6 moderate, 7-8 severe, 9-10 very_severe) as a borrowed static string, NULL
 * outside 0..10. */
int rec_severity_from_label(const char *label);
const char *rec_severity_label(int severity);

/* Is code an assigned ISO 3166-1 alpha-2 country code (upper case)? */
bool rec_country_valid(const char *code);
/* Is name an IANA time zone: a sane relative name of a TZif file under /usr/share/zoneinfo? */
bool rec_timezone_valid(const char *name);

/* "2026-11-21T07:30:00.120000Z" (to_char with .US) -> the same without trailing fractional zeros,
 * as a new JSON string; null for NULL. */
json_t *rec_time_json(PGresult *r, int row, int col);

/* Opaque cursors: base64url of the fields joined by '|', plus a check that binds them to scope, so
 * an edited cursor or one from another listing is refused. The check is a truncated SHA-256, not a
 * secret: it catches edits, not forgeries, which is enough because every query a cursor feeds is
 * scoped to the caller. rec_cursor_encode writes a
 * NUL-terminated cursor into out (at least REC_CURSOR_MAX bytes); returns 0, or -1 when it does not
 * fit. rec_cursor_decode splits a cursor back into at most nmax fields (each at most 63 bytes, into
 * fields[i][64]); returns the number of fields, or -1 when the cursor is malformed or its check
 * fails. */
#define REC_CURSOR_MAX 256
int rec_cursor_encode(const char *scope, const char *const *fields, int n, char *out);
int rec_cursor_decode(const char *scope, const char *cursor, char fields[][64], int nmax);

/* Goal arithmetic over progress points (t in seconds, ascending; v values). percent_to_target:
 * progress from the first value to the target in percent, clamped 0..100 (when the first value
 * already meets the target: 100 if the latest still does, else 0). on_track: the least-squares line
 * value ~ t (gsl_fit_linear) reaches the target by due (when has_due) or slopes toward it
 * (otherwise). Outputs: *latest and *percent valid when n >= 1 (return bit 1), *on_track when n >=
 * 3 and the fit is defined (return bit 2). */
#define REC_GOAL_PERCENT 1
#define REC_GOAL_TRACK 2
int rec_goal_stats(const double *t, const double *v, size_t n, double target, bool decrease,
                   bool has_due, double due, double *latest, double *percent, bool *on_track);

/* Adherence of one of the member's medications over the last 7 and 30 days:
 * {"last_7_days": {taken, late, skipped, missed, rate}, "last_30_days": {...}}, a dose counting
 * when its scheduled_at or taken_at lies in (now - window, now]; rate = (taken + late) / counted,
 * null when none. New reference, or NULL on a database error. */
json_t *rec_medication_adherence(struct db_conn *db, const char *member_id,
                                 const char *medication_id);

/* Export hook: called by GET /v1/me/export with the finished export object (borrowed) to add
 * sections owned by other modules: "consents" (every grant with its history). Returns 0, or -1 on
 * failure (the export then answers 500). */
int rec_export_extra(struct svc_req *req, json_t *out);

#endif
