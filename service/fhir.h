/* FHIR R4 mapping helpers: our record <-> FHIR resources, without the database. h_fhir.c does the
 * reading and writing; everything here is pure and thread-safe, so each mapping is one table.
 *
 * Export (our value -> FHIR):
 * - sex_at_birth female, male, intersex, unknown -> Patient.gender female, male, other, unknown.
 * - Condition status active, remission, resolved -> clinicalStatus (the same condition-clinical
 *   codes).
 * - Medication: stopped_on empty or after today -> active; else completed when there is no
 *   stop_reason or it is "remission" (the course ended), stopped for any other stop_reason. The
 *   stop_reason goes into statusReason text as our code.
 * - Goal status active, achieved, abandoned -> lifecycleStatus active, completed, cancelled.
 * - Dose units mg, mcg, g, ml, IU -> UCUM mg, ug, g, mL, [iU]; the other units are text only.
 *
 * Import (FHIR -> our value):
 * - Patient.gender female, male, unknown as is, other -> intersex (the inverse of the export); the
 *   US Core birth-sex extension (F, M, UNK), when present, wins over gender. birthDate -> its year
 *   (YYYY, YYYY-MM or YYYY-MM-DD), 1900 .. this year.
 * - clinicalStatus active, recurrence, relapse -> active; remission -> remission; inactive,
 * resolved
 *   -> resolved; absent or other -> active.
 * - Onset: onsetDateTime, else onsetPeriod.start, else recordedDate: its date part at the precision
 *   given (YYYY, YYYY-MM or YYYY-MM-DD), not after today.
 * - started_on: MedicationStatement effectivePeriod.start, effectiveDateTime, dateAsserted;
 *   MedicationRequest authoredOn, dosageInstruction[0].timing.repeat.boundsPeriod.start. A partial
 *   date means its first day.
 * - stopped_on, only for status stopped or completed: effectivePeriod.end (statement) or
 *   boundsPeriod.end (request) when not before started_on; then stop_reason from statusReason text
 *   when it is one of our codes (as exported).
 * - Dose: dosage[0].doseAndRate[0].doseQuantity when 0 < value <= 100000 and its unit (UCUM code,
 *   else unit text, case-insensitive) is one of ours; otherwise no dose (amount and unit empty),
 *   the documented default.
 * - Frequency from timing.repeat: periodUnit d with period 1 -> times_per_day frequency; d with
 *   frequency 1 and period n -> every_n_days n; h -> times_per_day 24 * frequency / period when
 *   whole; wk with frequency 1 -> every_n_days 7 * period. Otherwise as_needed when
 *   asNeededBoolean is true, else times_per_day 1.
 * - Severity: Observation valueInteger 0..10, or valueQuantity.value 0..10 rounded to nearest.
 * - recorded_at: effectiveDateTime, effectivePeriod.start, effectiveInstant or issued: a timestamp
 *   with an offset, or a full date (taken as 00:00 UTC); at most 24 h ahead.
 *
 * Strings handed back are borrowed from the resource (or static) unless said otherwise. */
#ifndef CC_FHIR_H
#define CC_FHIR_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FHIR_SYS_ICD10 "http://hl7.org/fhir/sid/icd-10"
#define FHIR_SYS_ICD10CM "http://hl7.org/fhir/sid/icd-10-cm"
#define FHIR_SYS_SNOMED "http://snomed.info/sct"
#define FHIR_SYS_RXNORM "http://www.nlm.nih.gov/research/umls/rxnorm"
#define FHIR_SYS_UCUM "http://unitsofmeasure.org"
#define FHIR_SYS_CLINICAL "http://terminology.hl7.org/CodeSystem/condition-clinical"
#define FHIR_SYS_OBS_CATEGORY "http://terminology.hl7.org/CodeSystem/observation-category"
#define FHIR_SYS_GOAL_ACHIEVEMENT "http://terminology.hl7.org/CodeSystem/goal-achievement"
#define FHIR_EXT_BIRTHSEX "http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex"

#define FHIR_MAX_CODES 16   /* codes of one system kept from one CodeableConcept */
#define FHIR_NAME_MAX 200   /* characters in a custom item's name (custom_item.name) */
#define FHIR_ICD_MAX 40     /* lookup candidates kept from a CodeableConcept's ICD-10 codings */
#define FHIR_ARRAY_MAX 2048 /* bytes of a Postgres array literal built from codes */

/* ---- export ---- */

/* Borrowed static strings; "unknown" / NULL for values outside the tables above. */
const char *fhir_gender(const char *sex_at_birth);
const char *fhir_goal_lifecycle(const char *status);
/* today is "YYYY-MM-DD"; stopped_on and stop_reason may be NULL or "". */
const char *fhir_medication_status(const char *stopped_on, const char *stop_reason,
                                   const char *today);
/* UCUM code of one of our dose units, or NULL when it has none. */
const char *fhir_ucum(const char *unit);

/* {"system", "code", "display"?}: a new reference. display may be NULL. */
json_t *fhir_coding(const char *system, const char *code, const char *display);
/* {"reference": "urn:uuid:<id>"}: a new reference. */
json_t *fhir_ref(const char *id);
/* A JSON number from a numeric's text ("500", "0.25"): integer when it has no fraction, else real.
 * New reference, or NULL when text is not a finite number. */
json_t *fhir_number(const char *text);
/* Append {"fullUrl": "urn:uuid:<id>", "resource": resource} to entries. resource is stolen (also on
 * failure). Returns 0 or -1. */
int fhir_entry_add(json_t *entries, const char *id, json_t *resource);
/* Trim a Postgres timestamp text "...SS.ffffffZ" in place to drop trailing fractional zeros (and
 * the point when nothing is left), so it stays a valid FHIR dateTime/instant. */
void fhir_trim_fraction(char *ts);

/* ---- import ---- */

/* The codes of a CodeableConcept. ICD-10 codes become lookup candidates, most specific first, each
 * code followed by its ancestors: "E11.65" -> E11.65, E11.6, E11; "E1165" is read as E11.65. text
 * is CodeableConcept.text, else the first coding's display: trimmed, 1..FHIR_NAME_MAX characters,
 * copied. */
struct fhir_codes {
    char icd10[FHIR_ICD_MAX][16];
    int n_icd10;
    char snomed[FHIR_MAX_CODES][24];
    int n_snomed;
    char rxnorm[FHIR_MAX_CODES][16];
    int n_rxnorm;
    char text[FHIR_NAME_MAX * 4 + 1]; /* "" when none */
};

/* Parse a CodeableConcept (may be NULL or not an object: no codes). Codings with malformed codes
 * are ignored. */
void fhir_codes_parse(const json_t *concept, struct fhir_codes *out);
/* Postgres text[] literal ("{a,b}") of n codes stored stride bytes apart from codes (a field of
 * fhir_codes). Codes are restricted to [A-Z0-9.], so they need no quoting. Returns 0, or -1 when it
 * does not fit in out[FHIR_ARRAY_MAX]. */
int fhir_array_literal(const char *codes, int n, size_t stride, char *out);

struct fhir_patient {
    int birth_year;           /* 0 when not given */
    const char *sex_at_birth; /* static; NULL when not given */
};

struct fhir_condition {
    struct fhir_codes code;
    char diagnosed_on[11];   /* YYYY, YYYY-MM or YYYY-MM-DD */
    char diagnosed_date[11]; /* its first day, YYYY-MM-DD */
    const char *status;      /* static */
};

struct fhir_medication {
    struct fhir_codes code;
    char started_on[11];
    char stopped_on[11];     /* "" when not known */
    char dose_amount[32];    /* "" when no dose */
    const char *dose_unit;   /* static; NULL when no dose */
    const char *freq_kind;   /* static: times_per_day, every_n_days or as_needed */
    int freq_value;          /* 0 for as_needed */
    const char *stop_reason; /* static; NULL unless stopped_on is known */
    const char *reason_ref;  /* reasonReference[0].reference, borrowed; NULL when none */
};

struct fhir_observation {
    int severity;
    char recorded_at[40]; /* RFC 3339 with an offset */
};

/* Each returns 0 with *out filled, or -1 with *reason (a static string, no health data) saying why
 * the resource cannot be imported. this_year, today ("YYYY-MM-DD") and now (unix seconds) are the
 * caller's clock, so results are reproducible. */
int fhir_patient_parse(const json_t *res, int this_year, struct fhir_patient *out,
                       const char **reason);
int fhir_condition_parse(const json_t *res, const char *today, struct fhir_condition *out,
                         const char **reason);
/* request: a MedicationRequest (else a MedicationStatement). medication: the Medication resource
 * that medicationReference points to, when the caller found it in the bundle (borrowed, may be
 * NULL); contained "#id" references are resolved here. */
int fhir_medication_parse(const json_t *res, bool request, const json_t *medication,
                          struct fhir_medication *out, const char **reason);
int fhir_observation_parse(const json_t *res, int64_t now, struct fhir_observation *out,
                           const char **reason);

/* The string at key if it is one, holds no NUL and is at most maxlen bytes; else NULL. Borrowed. */
const char *fhir_str(const json_t *obj, const char *key, size_t maxlen);
/* ref->reference of the Reference at key (borrowed), or NULL. */
const char *fhir_reference(const json_t *obj, const char *key);
/* Is s a FHIR id ([A-Za-z0-9-.]{1,64})? */
bool fhir_is_id(const char *s);

#endif
