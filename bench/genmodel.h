/* genmodel.h - the synthetic population behind carecommons-gen: who the members are (a plan per
 * member, drawn once) and what they record day by day (drawn on demand from per-member streams).
 *
 * Every random choice comes from a GSL generator seeded from (run seed, member index, stream), so
 * each table can be produced on its own, in any order, and the same seed gives the same rows.
 * Days are indices into the history: day 0 is the first day, day `days - 1` is yesterday (UTC);
 * negative days lie before the history (background medications, diagnoses).
 *
 * Model, in short:
 * - demographics: birth years 1940-2005 (peak around 1970-1985), sex, countries weighted;
 * - conditions by prevalence among members of a patient community (everyone has at least one);
 * - tracked symptoms per condition, each with a per-member baseline and AR(1) day-to-day
 *   fluctuation (gsl_ran_gaussian), rounded and clamped to 0..10; members log on most days;
 * - medications: background ones started years ago, and new ones started mid-history that lower
 *   the condition's symptoms (responders about 1.8 points, others about 0.3, ramping in over two
 *   weeks) and cause a side-effect symptom in some members, some of whom stop;
 * - doses for the last four weeks with per-member adherence, evaluations after a new start,
 *   goals with weekly progress, consents for research, trial recruitment and community use.
 *
 * Pure C and GSL; no global mutable state. */
#ifndef CC_BENCH_GENMODEL_H
#define CC_BENCH_GENMODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <gsl/gsl_rng.h>

#define GEN_MAX_CONDS 4
#define GEN_MAX_SYMS 8
#define GEN_MAX_MEDS 4
#define GEN_MAX_GRANTS 5
#define GEN_NO_STOP INT32_MAX
#define GEN_DOSE_DAYS 28 /* doses are recorded for the last four weeks only */
#define GEN_CUSTOM_SYMPTOM 255

/* Independent random streams of one member. */
enum gen_stream {
    GEN_S_PLAN = 1,
    GEN_S_SYMPTOMS,
    GEN_S_DOSES,
    GEN_S_EVALUATIONS,
    GEN_S_GOALS,
    GEN_S_TIMES,
};

/* Kinds of derived ids (gen_uuid). */
enum gen_id_kind {
    GEN_ID_ACCOUNT = 1,
    GEN_ID_CONDITION,
    GEN_ID_MEDICATION,
    GEN_ID_EVALUATION,
    GEN_ID_GOAL,
    GEN_ID_GRANT,
    GEN_ID_CUSTOM,
    GEN_ID_STAFF,
    GEN_ID_ENTRY,
    GEN_ID_DOSE,
    GEN_ID_PROGRESS,
};

struct gen_sym {
    uint8_t def;   /* index into gen_symptom_ids, or GEN_CUSTOM_SYMPTOM */
    int8_t cond;   /* condition slot it belongs to, -1 for a side effect */
    int8_t med;    /* medication slot that causes it (side effect), else -1 */
    float base;    /* baseline severity */
    float sigma;   /* day-to-day noise */
    float phi;     /* AR(1) coefficient */
    float weight;  /* share of a medication's effect it receives (0..1) */
    int32_t start; /* first day it can be recorded (side effects start after the medication) */
};

struct gen_med {
    uint8_t def;         /* index into the medication table (gen_med_info) */
    int8_t cond;         /* condition slot it treats */
    bool fresh;          /* started during the history */
    bool evaluated;      /* the member evaluates it */
    int32_t start;       /* started_on day */
    int32_t stop;        /* stopped_on day, or GEN_NO_STOP */
    uint8_t stop_reason; /* index into gen_stop_reasons when stopped */
    float effect;        /* full reduction of the condition's symptoms once ramped in */
    int8_t side;         /* symptom slot of its side effect, or -1 */
};

/* Consent grant as the generator stores it (version 2 when changed, v1 then superseded). */
struct gen_grant {
    uint8_t purpose; /* 0 research, 1 trial_recruitment, 2 community */
    bool deny;
    uint8_t categories;    /* consent.h bits */
    uint8_t categories_v1; /* categories of the superseded first version when versions == 2 */
    uint8_t versions;      /* 1 or 2 */
    bool disease_specific, non_commercial, not_for_profit_only;
    bool withdrawn, limited; /* limited: valid for two years */
    int32_t day;             /* day it was given (relative to history start; may be before) */
    int32_t changed_day, withdrawn_day;
};

struct gen_member {
    uint32_t idx; /* original index: seeds every stream and names the session token */
    uint8_t id[16];
    int32_t join; /* first day of recording */
    int16_t birth_year;
    uint8_t sex;     /* index into gen_sexes */
    uint8_t country; /* index into the country table */
    uint8_t postal;  /* 0 none, else a prefix index */
    uint8_t nconds, nsyms, nmeds, ngrants;
    uint8_t cond[GEN_MAX_CONDS];
    int32_t diag_day[GEN_MAX_CONDS];
    uint8_t diag_prec[GEN_MAX_CONDS]; /* 0 year, 1 month, 2 day */
    uint8_t cond_status[GEN_MAX_CONDS];
    struct gen_sym sym[GEN_MAX_SYMS];
    struct gen_med med[GEN_MAX_MEDS];
    struct gen_grant grant[GEN_MAX_GRANTS];
    float log_p;     /* chance of logging on a day */
    float adherence; /* chance of taking a scheduled dose */
    bool tracks_doses;
    int8_t goal; /* -1 none, 0 symptom target, 1 adherence */
    uint8_t goal_status;
    uint8_t evening; /* usual logging hour (UTC) */
};

/* Static tables (borrowed strings). */
extern const char *const gen_symptom_ids[];
extern const int gen_nsymptom_ids; /* entries of gen_symptom_ids */
extern const char *const gen_condition_ids[];
extern const char *const gen_sexes[];
extern const char *const gen_stop_reasons[];
extern const char *const gen_purposes[];

struct gen_med_info {
    const char *id;
    const char *unit;
    const char *amount;
    const char *freq_kind; /* times_per_day | every_n_days | as_needed */
    int freq_value;        /* 0 for as_needed */
};
const struct gen_med_info *gen_med_info(uint8_t def);

struct gen_country {
    const char *code;
    const char *timezone;
};
const struct gen_country *gen_country(uint8_t idx);
/* Postal prefix for a country's prefix index (1..), or NULL. Borrowed. */
const char *gen_postal(uint8_t country, uint8_t idx);

/* A generator for one member's stream: seed it from (seed, member, stream). */
void gen_rng_seed(gsl_rng *r, uint64_t seed, uint32_t member, enum gen_stream stream);

/* A version-4 UUID derived from its parts: the same parts give the same id. */
void gen_uuid(uint64_t seed, enum gen_id_kind kind, uint32_t member, uint32_t a, uint32_t b,
              uint8_t out[16]);

/* Draw member idx's plan for a history of `days` days. r is scratch (reseeded here). */
void gen_plan(struct gen_member *m, uint32_t idx, uint64_t seed, int days, int year_now,
              gsl_rng *r);

/* The severity effect of medication slot k on symptom slot s on day d (>= 0). */
double gen_med_effect(const struct gen_member *m, int k, int s, int32_t d);

/* Is medication slot k running on day d? */
bool gen_med_active(const struct gen_member *m, int k, int32_t d);

/* Symptom entries of member m, day by day from its join day to days - 1: calls emit for each
 * entry with the day, symptom slot, severity 0..10 and second of the day (UTC). r is reseeded. */
typedef int (*gen_symptom_fn)(void *ctx, const struct gen_member *m, int32_t day, int slot,
                              int severity, int second);
int gen_symptoms(const struct gen_member *m, uint64_t seed, int days, gsl_rng *r,
                 gen_symptom_fn emit, void *ctx);

/* Effectiveness of a medication as the member rates it on day d: 0 none, 1 slight, 2 moderate,
 * 3 major, 4 can't tell; burden 0..3; adherence label 0 always .. 3 never. */
int gen_rate_effect(const struct gen_member *m, int k, gsl_rng *r);
int gen_rate_adherence(const struct gen_member *m);

#endif
