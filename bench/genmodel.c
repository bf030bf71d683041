/* The synthetic population model; see genmodel.h. */
#include "genmodel.h"

#include <math.h>
#include <string.h>

#include <gsl/gsl_randist.h>

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Symptoms the model uses, by catalog id (schema/0002_catalog.sql). */
enum {
    S_FATIGUE,
    S_NUMBNESS,
    S_SPASTICITY,
    S_BALANCE,
    S_COGNITIVE,
    S_THIRST,
    S_URINARY,
    S_NEUROPATHIC,
    S_DEPRESSED,
    S_INSOMNIA,
    S_ANXIETY,
    S_CONCENTRATION,
    S_HEADACHE,
    S_NAUSEA,
    S_LIGHT,
    S_DIZZINESS,
    S_BREATH,
    S_WHEEZING,
    S_COUGH,
    S_CHEST,
    S_JOINT_PAIN,
    S_STIFFNESS,
    S_SWELLING,
    S_ABDOMINAL,
    S_DIARRHEA,
    S_WEIGHT_LOSS,
    S_CHRONIC_PAIN,
    S_SLEEP,
    S_FLUSHING,
    S_SEXUAL,
    S_TINGLING,
    S_CONSTIPATION,
    S_HOARSE,
    S_MOOD,
    S_TREMOR,
    S_HAIR_LOSS,
    S_RASH,
    S_WEIGHT_GAIN,
    S_DRY_COUGH,
    S_FOOT_SWELLING,
    S_DROWSY,
    S_PALPITATIONS,
    S_N
};

const char *const gen_symptom_ids[] = {
    "fatigue",
    "numbness",
    "spasticity",
    "balance_problems",
    "cognitive_impairment",
    "excessive_thirst",
    "urinary_frequency",
    "neuropathic_pain",
    "depressed_mood",
    "insomnia",
    "anxiety",
    "poor_concentration",
    "headache",
    "nausea",
    "light_sensitivity",
    "dizziness",
    "shortness_of_breath",
    "wheezing",
    "cough",
    "chest_tightness",
    "joint_pain",
    "joint_stiffness",
    "swelling",
    "abdominal_pain",
    "diarrhea",
    "weight_loss",
    "chronic_pain",
    "sleep_disturbance",
    "flushing",
    "sexual_dysfunction",
    "tingling",
    "constipation",
    "hoarseness",
    "mood_changes",
    "tremor",
    "hair_loss",
    "rash",
    "weight_gain",
    "dry_cough",
    "foot_swelling",
    "drowsiness",
    "palpitations",
};
_Static_assert(NELEM(gen_symptom_ids) == S_N, "one id per symptom");
const int gen_nsymptom_ids = S_N;

const char *const gen_sexes[] = {"female", "male", "intersex", "unknown"};
const char *const gen_stop_reasons[] = {"side_effects", "not_effective", "cost", "doctor_advice"};
const char *const gen_purposes[] = {"research", "trial_recruitment", "community"};

/* Medications: what they are for, how they are taken and which side effect they may cause. */
struct med_def {
    struct gen_med_info info;
    float side_p; /* chance of the side effect in a member who starts it */
    uint8_t side;
};

enum {
    M_OCRELIZUMAB,
    M_DIMETHYL_FUMARATE,
    M_FINGOLIMOD,
    M_BACLOFEN,
    M_METFORMIN,
    M_EMPAGLIFLOZIN,
    M_SEMAGLUTIDE,
    M_SERTRALINE,
    M_ESCITALOPRAM,
    M_BUPROPION,
    M_TOPIRAMATE,
    M_ERENUMAB,
    M_SUMATRIPTAN,
    M_FLUTICASONE,
    M_MONTELUKAST,
    M_ALBUTEROL,
    M_METHOTREXATE,
    M_ADALIMUMAB,
    M_HYDROXYCHLOROQUINE,
    M_INFLIXIMAB,
    M_AZATHIOPRINE,
    M_BUDESONIDE,
    M_LISINOPRIL,
    M_AMLODIPINE,
    M_DULOXETINE,
    M_PREGABALIN,
    M_N
};

static const struct med_def meds[M_N] = {
    [M_OCRELIZUMAB] = {{"ocrelizumab", "mg", "600", "every_n_days", 182}, 0.10f, S_RASH},
    [M_DIMETHYL_FUMARATE] = {{"dimethyl_fumarate", "mg", "240", "times_per_day", 2},
                             0.35f,
                             S_FLUSHING},
    [M_FINGOLIMOD] = {{"fingolimod", "mg", "0.5", "times_per_day", 1}, 0.15f, S_HEADACHE},
    [M_BACLOFEN] = {{"baclofen", "mg", "10", "times_per_day", 3}, 0.30f, S_DROWSY},
    [M_METFORMIN] = {{"metformin", "mg", "500", "times_per_day", 2}, 0.25f, S_DIARRHEA},
    [M_EMPAGLIFLOZIN] = {{"empagliflozin", "mg", "10", "times_per_day", 1}, 0.10f, S_URINARY},
    [M_SEMAGLUTIDE] = {{"semaglutide", "mg", "1", "every_n_days", 7}, 0.40f, S_NAUSEA},
    [M_SERTRALINE] = {{"sertraline", "mg", "50", "times_per_day", 1}, 0.25f, S_NAUSEA},
    [M_ESCITALOPRAM] = {{"escitalopram", "mg", "10", "times_per_day", 1}, 0.20f, S_SEXUAL},
    [M_BUPROPION] = {{"bupropion", "mg", "150", "times_per_day", 1}, 0.20f, S_INSOMNIA},
    [M_TOPIRAMATE] = {{"topiramate", "mg", "50", "times_per_day", 2}, 0.30f, S_TINGLING},
    [M_ERENUMAB] = {{"erenumab", "mg", "70", "every_n_days", 28}, 0.15f, S_CONSTIPATION},
    [M_SUMATRIPTAN] = {{"sumatriptan", "mg", "50", "as_needed", 0}, 0.08f, S_CHEST},
    [M_FLUTICASONE] = {{"fluticasone", "mcg", "250", "times_per_day", 2}, 0.10f, S_HOARSE},
    [M_MONTELUKAST] = {{"montelukast", "mg", "10", "times_per_day", 1}, 0.08f, S_MOOD},
    [M_ALBUTEROL] = {{"albuterol", "puffs", "2", "as_needed", 0}, 0.15f, S_TREMOR},
    [M_METHOTREXATE] = {{"methotrexate", "mg", "15", "every_n_days", 7}, 0.30f, S_NAUSEA},
    [M_ADALIMUMAB] = {{"adalimumab", "mg", "40", "every_n_days", 14}, 0.08f, S_RASH},
    [M_HYDROXYCHLOROQUINE] = {{"hydroxychloroquine", "mg", "200", "times_per_day", 2},
                              0.10f,
                              S_NAUSEA},
    [M_INFLIXIMAB] = {{"infliximab", "mg", "400", "every_n_days", 56}, 0.08f, S_RASH},
    [M_AZATHIOPRINE] = {{"azathioprine", "mg", "100", "times_per_day", 1}, 0.20f, S_NAUSEA},
    [M_BUDESONIDE] = {{"budesonide", "mg", "9", "times_per_day", 1}, 0.15f, S_WEIGHT_GAIN},
    [M_LISINOPRIL] = {{"lisinopril", "mg", "10", "times_per_day", 1}, 0.12f, S_DRY_COUGH},
    [M_AMLODIPINE] = {{"amlodipine", "mg", "5", "times_per_day", 1}, 0.10f, S_FOOT_SWELLING},
    [M_DULOXETINE] = {{"duloxetine", "mg", "60", "times_per_day", 1}, 0.25f, S_NAUSEA},
    [M_PREGABALIN] = {{"pregabalin", "mg", "75", "times_per_day", 2}, 0.30f, S_DIZZINESS},
};

/* Conditions: prevalence among members, typical symptoms with baseline severity, treatments. */
struct cond_def {
    const char *id;
    float prevalence;
    uint8_t nsym;
    uint8_t sym[5];
    float base[5];
    float sigma; /* headache-like conditions swing more */
    uint8_t nmed;
    uint8_t med[4];
};

static const struct cond_def conds[] = {
    {"multiple_sclerosis",
     0.10f,
     5,
     {S_FATIGUE, S_NUMBNESS, S_SPASTICITY, S_BALANCE, S_COGNITIVE},
     {6.0f, 4.0f, 4.5f, 4.0f, 3.5f},
     1.0f,
     4,
     {M_OCRELIZUMAB, M_DIMETHYL_FUMARATE, M_FINGOLIMOD, M_BACLOFEN}},
    {"type_2_diabetes",
     0.12f,
     4,
     {S_FATIGUE, S_THIRST, S_URINARY, S_NEUROPATHIC},
     {4.0f, 3.0f, 3.0f, 3.5f},
     0.9f,
     3,
     {M_METFORMIN, M_EMPAGLIFLOZIN, M_SEMAGLUTIDE}},
    {"depression",
     0.18f,
     5,
     {S_DEPRESSED, S_FATIGUE, S_INSOMNIA, S_ANXIETY, S_CONCENTRATION},
     {6.0f, 5.0f, 5.0f, 5.0f, 4.5f},
     1.1f,
     3,
     {M_SERTRALINE, M_ESCITALOPRAM, M_BUPROPION}},
    {"migraine",
     0.15f,
     4,
     {S_HEADACHE, S_NAUSEA, S_LIGHT, S_DIZZINESS},
     {4.5f, 2.5f, 3.5f, 2.0f},
     2.0f,
     3,
     {M_TOPIRAMATE, M_ERENUMAB, M_SUMATRIPTAN}},
    {"asthma",
     0.12f,
     4,
     {S_BREATH, S_WHEEZING, S_COUGH, S_CHEST},
     {4.0f, 3.5f, 4.0f, 3.0f},
     1.2f,
     3,
     {M_FLUTICASONE, M_MONTELUKAST, M_ALBUTEROL}},
    {"rheumatoid_arthritis",
     0.07f,
     4,
     {S_JOINT_PAIN, S_STIFFNESS, S_FATIGUE, S_SWELLING},
     {6.0f, 6.0f, 5.0f, 4.0f},
     1.0f,
     3,
     {M_METHOTREXATE, M_ADALIMUMAB, M_HYDROXYCHLOROQUINE}},
    {"crohns_disease",
     0.05f,
     4,
     {S_ABDOMINAL, S_DIARRHEA, S_FATIGUE, S_WEIGHT_LOSS},
     {5.0f, 5.0f, 5.0f, 2.0f},
     1.3f,
     4,
     {M_ADALIMUMAB, M_INFLIXIMAB, M_AZATHIOPRINE, M_BUDESONIDE}},
    {"hypertension",
     0.15f,
     2,
     {S_HEADACHE, S_DIZZINESS},
     {2.0f, 2.0f},
     0.8f,
     2,
     {M_LISINOPRIL, M_AMLODIPINE}},
    {"fibromyalgia",
     0.06f,
     4,
     {S_CHRONIC_PAIN, S_FATIGUE, S_SLEEP, S_CONCENTRATION},
     {6.0f, 6.0f, 5.0f, 4.0f},
     1.1f,
     2,
     {M_DULOXETINE, M_PREGABALIN}},
};
#define NCONDS NELEM(conds)

const char *const gen_condition_ids[] = {
    "multiple_sclerosis",   "type_2_diabetes", "depression",   "migraine",     "asthma",
    "rheumatoid_arthritis", "crohns_disease",  "hypertension", "fibromyalgia",
};
_Static_assert(NELEM(gen_condition_ids) == NELEM(conds), "one id per condition");

/* Countries, weighted as an English-language launch might look. */
static const struct {
    struct gen_country c;
    unsigned weight;
    const char *postal[4];
} countries[] = {
    {{"US", "America/New_York"}, 300, {"100", "941", "606", "770"}},
    {{"GB", "Europe/London"}, 250, {"SW1", "M1", "EH1", "B15"}},
    {{"CA", "America/Toronto"}, 60, {"M5V", "H2X", "V6B", NULL}},
    {{"DE", "Europe/Berlin"}, 60, {"101", "803", "204", NULL}},
    {{"AU", "Australia/Sydney"}, 50, {"200", "300", NULL, NULL}},
    {{"FR", "Europe/Paris"}, 50, {"750", "690", NULL, NULL}},
    {{"IE", "Europe/Dublin"}, 30, {"D02", "T12", NULL, NULL}},
    {{"NL", "Europe/Amsterdam"}, 30, {"101", "301", NULL, NULL}},
    {{"ES", "Europe/Madrid"}, 30, {"280", "080", NULL, NULL}},
    {{"IT", "Europe/Rome"}, 30, {"001", "201", NULL, NULL}},
    {{"SE", "Europe/Stockholm"}, 20, {"111", NULL, NULL, NULL}},
    {{"NZ", "Pacific/Auckland"}, 15, {"101", NULL, NULL, NULL}},
    {{"IN", "Asia/Kolkata"}, 40, {"110", "400", NULL, NULL}},
    {{"ZA", "Africa/Johannesburg"}, 15, {"200", NULL, NULL, NULL}},
    {{"BR", "America/Sao_Paulo"}, 20, {"010", NULL, NULL, NULL}},
};

const struct gen_med_info *gen_med_info(uint8_t def)
{
    return def < M_N ? &meds[def].info : NULL;
}

const struct gen_country *gen_country(uint8_t idx)
{
    return idx < NELEM(countries) ? &countries[idx].c : NULL;
}

const char *gen_postal(uint8_t country, uint8_t idx)
{
    if (country >= NELEM(countries) || idx < 1 || idx > 4)
        return NULL;
    return countries[country].postal[idx - 1];
}

/* splitmix64: a well-mixed 64-bit value from a counter. */
static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

void gen_rng_seed(gsl_rng *r, uint64_t seed, uint32_t member, enum gen_stream stream)
{
    uint64_t s = mix64(seed ^ mix64(((uint64_t)member << 8) | (uint64_t)stream));
    /* gsl_rng_set treats 0 as its default seed; keep streams distinct. */
    gsl_rng_set(r, (unsigned long)(s | 1));
}

void gen_uuid(uint64_t seed, enum gen_id_kind kind, uint32_t member, uint32_t a, uint32_t b,
              uint8_t out[16])
{
    uint64_t h = mix64(mix64(mix64(mix64(mix64(seed) ^ (uint64_t)kind) ^ member) ^ a) ^ b);
    uint64_t l = mix64(h ^ 0x5bd1e9955bd1e995ULL);
    for (int i = 0; i < 8; i++) {
        out[i] = (uint8_t)(h >> (56 - 8 * i));
        out[8 + i] = (uint8_t)(l >> (56 - 8 * i));
    }
    out[6] = (uint8_t)((out[6] & 0x0f) | 0x40);
    out[8] = (uint8_t)((out[8] & 0x3f) | 0x80);
}

static double clampd(double x, double lo, double hi)
{
    return x < lo ? lo : x > hi ? hi : x;
}

static int uniform_int(gsl_rng *r, int lo, int hi)
{
    return lo + (int)gsl_rng_uniform_int(r, (unsigned long)(hi - lo + 1));
}

static int add_sym(struct gen_member *m, uint8_t def, int8_t cond, float base, float sigma,
                   float weight, int32_t start)
{
    for (int i = 0; i < m->nsyms; i++)
        if (m->sym[i].def == def && def != GEN_CUSTOM_SYMPTOM) {
            if (cond >= 0 && m->sym[i].weight < weight)
                m->sym[i].weight = weight;
            return i;
        }
    if (m->nsyms >= GEN_MAX_SYMS)
        return -1;
    struct gen_sym *s = &m->sym[m->nsyms];
    s->def = def;
    s->cond = cond;
    s->med = -1;
    s->base = base;
    s->sigma = sigma;
    s->phi = 0.7f;
    s->weight = weight;
    s->start = start;
    return m->nsyms++;
}

static void plan_demographics(struct gen_member *m, gsl_rng *r)
{
    unsigned total = 0, pick;
    size_t i;

    /* Most members were born 1955-1995; the range is 1940-2005. */
    m->birth_year = (int16_t)clampd(floor(1975.0 + gsl_ran_gaussian(r, 14.0)), 1940, 2005);
    double u = gsl_rng_uniform(r);
    m->sex = u < 0.56 ? 0 : u < 0.99 ? 1 : u < 0.993 ? 2 : 3;
    for (i = 0; i < NELEM(countries); i++)
        total += countries[i].weight;
    pick = (unsigned)gsl_rng_uniform_int(r, total);
    for (i = 0; i < NELEM(countries) - 1 && pick >= countries[i].weight; i++)
        pick -= countries[i].weight;
    m->country = (uint8_t)i;
    m->postal = 0;
    if (gsl_rng_uniform(r) < 0.6) {
        int n = 0;
        while (n < 4 && countries[i].postal[n])
            n++;
        m->postal = (uint8_t)(1 + gsl_rng_uniform_int(r, (unsigned long)n));
    }
}

static void plan_conditions(struct gen_member *m, gsl_rng *r, int year_now)
{
    m->nconds = 0;
    for (size_t c = 0; c < NCONDS && m->nconds < GEN_MAX_CONDS; c++)
        if (gsl_rng_uniform(r) < conds[c].prevalence)
            m->cond[m->nconds++] = (uint8_t)c;
    if (m->nconds == 0) {
        /* Everyone here lives with something: draw one by prevalence. */
        double total = 0, pick;
        size_t c;
        for (c = 0; c < NCONDS; c++)
            total += conds[c].prevalence;
        pick = gsl_rng_uniform(r) * total;
        for (c = 0; c < NCONDS - 1 && pick >= conds[c].prevalence; c++)
            pick -= conds[c].prevalence;
        m->cond[m->nconds++] = (uint8_t)c;
    }
    for (int k = 0; k < m->nconds; k++) {
        /* Diagnosed between age 15 and today, at least 200 days ago. */
        int age = year_now - m->birth_year;
        int max_back = age > 16 ? (age - 15) * 365 : 400;
        m->diag_day[k] = -uniform_int(r, 200, max_back > 200 ? max_back : 201);
        double u = gsl_rng_uniform(r);
        m->diag_prec[k] = u < 0.5 ? 0 : u < 0.8 ? 1 : 2;
        u = gsl_rng_uniform(r);
        m->cond_status[k] = u < 0.9 ? 0 : u < 0.97 ? 1 : 2;
    }
}

static void plan_symptoms(struct gen_member *m, gsl_rng *r)
{
    m->nsyms = 0;
    for (int k = 0; k < m->nconds; k++) {
        const struct cond_def *c = &conds[m->cond[k]];
        for (int j = 0; j < c->nsym; j++) {
            /* The first symptom is always tracked, each other one by a few members. */
            if (j > 0 && gsl_rng_uniform(r) >= 0.15)
                continue;
            float base = (float)clampd(c->base[j] + gsl_ran_gaussian(r, 1.3), 0.5, 9.5);
            add_sym(m, c->sym[j], (int8_t)k, base, c->sigma, j == 0 ? 1.0f : 0.6f, m->join);
        }
    }
    if (gsl_rng_uniform(r) < 0.02)
        add_sym(m, GEN_CUSTOM_SYMPTOM, -1, (float)clampd(4.0 + gsl_ran_gaussian(r, 1.5), 1, 9),
                1.0f, 0.0f, m->join);
}

static bool has_med(const struct gen_member *m, uint8_t def)
{
    for (int i = 0; i < m->nmeds; i++)
        if (m->med[i].def == def)
            return true;
    return false;
}

static void plan_meds(struct gen_member *m, gsl_rng *r, int days)
{
    m->nmeds = 0;
    for (int k = 0; k < m->nconds && m->nmeds < GEN_MAX_MEDS; k++) {
        const struct cond_def *c = &conds[m->cond[k]];
        for (int fresh = 0; fresh < 2 && m->nmeds < GEN_MAX_MEDS; fresh++) {
            if (gsl_rng_uniform(r) >= (fresh ? 0.35 : 0.5))
                continue;
            uint8_t def = c->med[gsl_rng_uniform_int(r, c->nmed)];
            if (has_med(m, def))
                continue;
            struct gen_med *md = &m->med[m->nmeds];
            memset(md, 0, sizeof(*md));
            md->def = def;
            md->cond = (int8_t)k;
            md->fresh = fresh;
            md->stop = GEN_NO_STOP;
            md->side = -1;
            md->evaluated = fresh ? gsl_rng_uniform(r) < 0.8 : gsl_rng_uniform(r) < 0.3;
            if (!fresh) {
                /* Taken for months or years already: its effect is in the baseline. */
                md->start = -uniform_int(r, 30, 2000);
                m->nmeds++;
                continue;
            }
            md->start = uniform_int(r, (int)(days * 0.3), (int)(days * 0.7));
            bool responder = gsl_rng_uniform(r) < 0.6;
            md->effect = (float)clampd(
                responder ? 1.8 + gsl_ran_gaussian(r, 0.6) : 0.3 + gsl_ran_gaussian(r, 0.3), 0, 4);
            if (gsl_rng_uniform(r) < meds[def].side_p) {
                int32_t at = md->start + uniform_int(r, 2, 10);
                int s =
                    add_sym(m, meds[def].side, -1,
                            (float)clampd(4.0 + gsl_ran_gaussian(r, 1.2), 1.5, 8), 1.0f, 0.0f, at);
                /* A symptom the member already tracks for a condition is reported as a side
                 * effect but keeps its own course. */
                if (s >= 0) {
                    if (m->sym[s].cond < 0 && m->sym[s].med < 0)
                        m->sym[s].med = (int8_t)m->nmeds;
                    md->side = (int8_t)s;
                }
            }
            if (md->side >= 0 && gsl_rng_uniform(r) < 0.35) {
                md->stop = md->start + uniform_int(r, 14, 60);
                md->stop_reason = 0;
            } else if (!responder && gsl_rng_uniform(r) < 0.3) {
                md->stop = md->start + uniform_int(r, 40, 90);
                md->stop_reason = 1;
            } else if (gsl_rng_uniform(r) < 0.03) {
                md->stop = md->start + uniform_int(r, 20, 80);
                md->stop_reason = (uint8_t)(2 + gsl_rng_uniform_int(r, 2));
            }
            if (md->stop != GEN_NO_STOP && md->stop >= days)
                md->stop = GEN_NO_STOP; /* would stop in the future: still running */
            m->nmeds++;
        }
    }
}

static void plan_grants(struct gen_member *m, gsl_rng *r, int days)
{
    m->ngrants = 0;
    /* Research: about 70% permit; a few deny goals; some are disease-specific or limited. */
    for (int purpose = 0; purpose < 3; purpose++) {
        double p = purpose == 0 ? 0.70 : purpose == 1 ? 0.50 : 0.25;
        if (gsl_rng_uniform(r) >= p)
            continue;
        struct gen_grant *g = &m->grant[m->ngrants++];
        memset(g, 0, sizeof(*g));
        g->purpose = (uint8_t)purpose;
        double u = gsl_rng_uniform(r);
        if (purpose == 2)
            g->categories = 7;
        else
            g->categories = u < 0.65 ? 31 : u < 0.85 ? 15 : u < 0.95 ? 7 : 13;
        g->versions = 1;
        g->disease_specific = purpose < 2 && gsl_rng_uniform(r) < (purpose == 0 ? 0.12 : 0.2);
        g->non_commercial = gsl_rng_uniform(r) < 0.35;
        g->not_for_profit_only = gsl_rng_uniform(r) < 0.10;
        g->limited = gsl_rng_uniform(r) < 0.10;
        g->day = m->join - uniform_int(r, 0, 3);
        if (gsl_rng_uniform(r) < 0.05) {
            g->versions = 2;
            g->categories_v1 = g->categories == 31 ? 15 : 31;
            g->changed_day = m->join + uniform_int(r, 1, 60);
            if (g->changed_day >= days)
                g->versions = 1; /* the change would lie in the future */
        }
        if (gsl_rng_uniform(r) < (purpose == 0 ? 0.06 : 0.05)) {
            g->withdrawn = true;
            g->withdrawn_day =
                (g->versions == 2 ? g->changed_day : m->join) + uniform_int(r, 1, 60);
            if (g->withdrawn_day >= days)
                g->withdrawn = false;
        }
    }
    if (m->ngrants < GEN_MAX_GRANTS && gsl_rng_uniform(r) < 0.03) {
        struct gen_grant *g = &m->grant[m->ngrants++];
        memset(g, 0, sizeof(*g));
        g->purpose = 0;
        g->deny = true;
        g->categories = 16; /* goals */
        g->versions = 1;
        g->day = m->join;
    }
}

void gen_plan(struct gen_member *m, uint32_t idx, uint64_t seed, int days, int year_now, gsl_rng *r)
{
    memset(m, 0, sizeof(*m));
    m->idx = idx;
    gen_uuid(seed, GEN_ID_ACCOUNT, idx, 0, 0, m->id);
    gen_rng_seed(r, seed, idx, GEN_S_PLAN);
    /* Most members were here from the start; a fifth joined later. */
    m->join = gsl_rng_uniform(r) < 0.8 ? 0 : uniform_int(r, 1, days / 2 > 1 ? days / 2 : 1);
    plan_demographics(m, r);
    plan_conditions(m, r, year_now);
    plan_symptoms(m, r);
    plan_meds(m, r, days);
    /* Logging habits: most log on most days, some only now and then. */
    double u = gsl_rng_uniform(r);
    m->log_p = (float)(u < 0.7 ? 0.75 + 0.2 * gsl_rng_uniform(r) : 0.2 + 0.5 * gsl_rng_uniform(r));
    u = gsl_rng_uniform(r);
    m->adherence = (float)(u < 0.7   ? 0.9 + 0.09 * gsl_rng_uniform(r)
                           : u < 0.9 ? 0.7 + 0.2 * gsl_rng_uniform(r)
                                     : 0.3 + 0.4 * gsl_rng_uniform(r));
    m->tracks_doses = m->nmeds > 0 && gsl_rng_uniform(r) < 0.35;
    u = gsl_rng_uniform(r);
    m->goal = u < 0.21 ? 0 : u < 0.30 && m->nmeds > 0 ? 1 : -1;
    u = gsl_rng_uniform(r);
    m->goal_status = u < 0.7 ? 0 : u < 0.9 ? 1 : 2;
    m->evening = (uint8_t)uniform_int(r, 17, 22);
    plan_grants(m, r, days);
}

bool gen_med_active(const struct gen_member *m, int k, int32_t d)
{
    const struct gen_med *md = &m->med[k];
    return d >= md->start && d < md->stop;
}

double gen_med_effect(const struct gen_member *m, int k, int s, int32_t d)
{
    const struct gen_med *md = &m->med[k];
    const struct gen_sym *sy = &m->sym[s];
    double full, ramp;

    if (!md->fresh || sy->cond != md->cond || d < md->start)
        return 0;
    full = md->effect * sy->weight;
    ramp = clampd((d - md->start) / 14.0, 0, 1);
    if (md->stop != GEN_NO_STOP && d >= md->stop) {
        /* Wears off within a week of stopping. */
        double ramp_at_stop = clampd((md->stop - md->start) / 14.0, 0, 1);
        ramp = ramp_at_stop * (1.0 - clampd((d - md->stop) / 7.0, 0, 1));
    }
    return full * ramp;
}

int gen_symptoms(const struct gen_member *m, uint64_t seed, int days, gsl_rng *r,
                 gen_symptom_fn emit, void *ctx)
{
    double x[GEN_MAX_SYMS];

    gen_rng_seed(r, seed, m->idx, GEN_S_SYMPTOMS);
    for (int s = 0; s < m->nsyms; s++)
        x[s] = m->sym[s].base;
    for (int32_t d = m->join; d < days; d++) {
        bool logs = gsl_rng_uniform(r) < m->log_p;
        int second = m->evening * 3600 + (int)gsl_rng_uniform_int(r, 3600);
        for (int s = 0; s < m->nsyms; s++) {
            const struct gen_sym *sy = &m->sym[s];
            /* AR(1) around the baseline, advanced every day whether logged or not. */
            x[s] = sy->base + sy->phi * (x[s] - sy->base) + gsl_ran_gaussian(r, sy->sigma);
            if (!logs || d < sy->start || gsl_rng_uniform(r) >= 0.8)
                continue;
            if (sy->med >= 0 && !gen_med_active(m, sy->med, d) &&
                (int64_t)d >= (int64_t)m->med[sy->med].stop + 5)
                continue; /* the side effect is gone a few days after stopping */
            double v = x[s];
            for (int k = 0; k < m->nmeds; k++)
                v -= gen_med_effect(m, k, s, d);
            int sev = (int)lround(clampd(v, 0, 10));
            if (emit(ctx, m, d, s, sev, second + s * 7) < 0)
                return -1;
        }
    }
    return 0;
}

int gen_rate_effect(const struct gen_member *m, int k, gsl_rng *r)
{
    const struct gen_med *md = &m->med[k];
    double e = md->fresh ? md->effect : 1.2 + gsl_ran_gaussian(r, 0.5);
    int level;

    if (gsl_rng_uniform(r) < 0.05)
        return 4;
    level = e >= 2.0 ? 3 : e >= 1.2 ? 2 : e >= 0.5 ? 1 : 0;
    /* People misjudge by a level now and then. */
    if (gsl_rng_uniform(r) < 0.2)
        level += gsl_rng_uniform(r) < 0.5 ? -1 : 1;
    return level < 0 ? 0 : level > 3 ? 3 : level;
}

int gen_rate_adherence(const struct gen_member *m)
{
    return m->adherence >= 0.93f ? 0 : m->adherence >= 0.75f ? 1 : m->adherence >= 0.45f ? 2 : 3;
}
