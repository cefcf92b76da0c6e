/* config: the INI configuration file of SPEC §5, driven by one key table (parse, defaults, docs).
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "event.h"
#include "rp_err.h"
#include "signal.h"

/*
 * One table describes every key (Fluent Bit's config_map idea): its section, name, type, where
 * it lands in struct rp_config, its range and its meaning. The parser, the defaults
 * (rp_config_init), the duplicate check, the reference page and rp_config_keys() all walk this
 * table, so the documentation cannot drift from the code. Defaults are given as text and parsed
 * by the same code as the file; [scoring] keys have no default text: their defaults are whatever
 * rp_scoring_config_defaults() sets, and the reference formats the value found in a freshly
 * initialised struct, so it stays right when those defaults are tuned.
 *
 * The 20 `weight.<event type>` keys are one table row (a "family") expanded at first use over
 * rp_event_type_name(), so a new event type gets its key without touching this file.
 */

#define MS_S   INT64_C(1000)
#define MS_MIN (60 * MS_S)
#define MS_H   (60 * MS_MIN)
#define MS_D   (24 * MS_H)

enum key_type { KT_STRING, KT_INT, KT_INT64, KT_DOUBLE, KT_DURATION, KT_ENUM };

typedef int (*check_fn)(const struct rp_config *cfg, const void *field, char *why, size_t why_size);

struct key_def {
    const char *section;
    const char *key; /* for a family: the prefix, e.g. "weight." */
    enum key_type type;
    size_t offset;    /* into struct rp_config */
    const char *def;  /* default as text; NULL: set by rp_scoring_config_defaults() */
    const char *desc; /* Markdown; for a family, the text before the event name */
    double min, max;  /* numeric range (durations in ms), inclusive unless min_exclusive */
    bool min_exclusive;
    const char *const *enum_names; /* KT_ENUM: names indexed by value, NULL-terminated */
    check_fn check;                /* extra rule after parsing (NULL: none) */
    bool family;                   /* expanded over event types: offset is weight[0] */
};

static const char *const guarantee_names[] = {"at_least_once", "exactly_once", NULL};
static const char *const format_names[] = {"msgpack", "json", NULL};

static int check_topic(const struct rp_config *cfg, const void *field, char *why, size_t why_size);
static int check_listen(const struct rp_config *cfg, const void *field, char *why, size_t why_size);
static int check_pow2(const struct rp_config *cfg, const void *field, char *why, size_t why_size);

#define OFF(field) offsetof(struct rp_config, field)
#define SC(field)  offsetof(struct rp_config, scoring.field)
#define DAYS(n)    ((double)(n)*MS_D)
#define TOPIC(k, f, d, text)                                                                       \
    {                                                                                              \
        .section = "topics", .key = k, .type = KT_STRING, .offset = OFF(f), .def = d,              \
        .desc = text, .check = check_topic                                                         \
    }
#define DUR(s, k, off, d, lo, hi, text)                                                            \
    {                                                                                              \
        .section = s, .key = k, .type = KT_DURATION, .offset = off, .def = d, .desc = text,        \
        .min = lo, .max = hi                                                                       \
    }
#define DBL(k, off, lo, hi, excl, text)                                                            \
    {                                                                                              \
        .section = "scoring", .key = k, .type = KT_DOUBLE, .offset = off, .desc = text, .min = lo, \
        .max = hi, .min_exclusive = excl                                                           \
    }

static const struct key_def key_table[] = {
    /* [topics] */
    TOPIC("input", topic_input, "rapport.interactions", "Input topic of interaction events."),
    TOPIC("churn_risk", topic_churn_risk, "rapport.signals.churn_risk",
          "Output topic of `churn_risk` signals."),
    TOPIC("advocate", topic_advocate, "rapport.signals.advocate",
          "Output topic of `advocate` signals."),
    TOPIC("dead_letter", topic_dead_letter, "rapport.dead_letter",
          "Where unusable messages go, unchanged, with `rapport.error` headers."),
    TOPIC("internal_prefix", topic_internal_prefix, "rapport.internal",
          "Prefix of the engine's own topics (state changelog, cross-customer credit)."),
    /* [engine] */
    {.section = "engine",
     .key = "workers",
     .type = KT_INT,
     .offset = OFF(workers),
     .def = "0",
     .desc = "Worker threads that own customers; 0 = one per core.",
     .min = 0,
     .max = 1024},
    {.section = "engine",
     .key = "guarantee",
     .type = KT_ENUM,
     .offset = OFF(guarantee),
     .def = "at_least_once",
     .enum_names = guarantee_names,
     .desc = "`at_least_once` (commit input offsets after outputs are durable) or `exactly_once` "
             "(one Kafka transaction for signals, changelog and offsets)."},
    DUR("engine", "allowed_lateness", SC(allowed_lateness_ms), NULL, 0, DAYS(7),
        "Watermark = largest event time seen minus this; older events are `too_late`."),
    DUR("engine", "idle_partition_timeout", OFF(idle_partition_timeout_ms), "30s", 1, DAYS(7),
        "A partition silent this long (wall clock), with its end confirmed by the broker, stops "
        "holding the watermark back (README, Architecture)."),
    DUR("engine", "shutdown_timeout", OFF(shutdown_timeout_ms), "30s", 1, DAYS(1),
        "Longest clean stop on SIGTERM/SIGINT (drain, flush, commit, leave the group)."),
    DUR("engine", "commit_interval", OFF(commit_interval_ms), "1s", 1, (double)MS_H,
        "How often input offsets (or transactions) are committed."),
    {.section = "engine",
     .key = "batch_size",
     .type = KT_INT,
     .offset = OFF(batch_size),
     .def = "512",
     .desc = "Events per batch handed to a worker ring.",
     .min = 1,
     .max = 65536},
    {.section = "engine",
     .key = "ring_size",
     .type = KT_INT,
     .offset = OFF(ring_size),
     .def = "256",
     .desc = "Batches per worker ring (a power of two).",
     .min = 2,
     .max = 65536,
     .check = check_pow2},
    {.section = "engine",
     .key = "expected_customers",
     .type = KT_INT64,
     .offset = OFF(expected_customers),
     .def = "100000",
     .desc = "Initial customer table size per worker (it grows as needed). The index and the "
             "records for that many customers (about 75 bytes each), and 44 bytes each of the "
             "memory their ids, extension links and extensions take, are allocated and faulted "
             "in at start, so that page faults stay off the event path; when that would take "
             "more than half the machine's memory they fault in on first use instead.",
     .min = 1,
     .max = 1e9},
    /* [scoring]: defaults from rp_scoring_config_defaults() */
    DUR("scoring", "half_life_short", SC(half_life_short_ms), NULL, 1, DAYS(3650),
        "Half-life of short-horizon engagement."),
    DUR("scoring", "half_life_long", SC(half_life_long_ms), NULL, 1, DAYS(3650),
        "Half-life of long-horizon engagement (must be longer than `half_life_short`)."),
    DUR("scoring", "half_life_friction", SC(half_life_friction_ms), NULL, 1, DAYS(3650),
        "Half-life of negative sentiment and refunds."),
    DUR("scoring", "half_life_advocacy", SC(half_life_advocacy_ms), NULL, 1, DAYS(3650),
        "Half-life of acts of advocacy."),
    DUR("scoring", "rhythm_prior_gap", SC(rhythm_prior_gap_ms), NULL, 1, DAYS(3650),
        "Prior typical gap between a customer's active days, before their own rhythm is known."),
    DUR("scoring", "answer_sla", SC(answer_sla_ms), NULL, 1, DAYS(3650),
        "A question unanswered past this counts as friction."),
    DUR("scoring", "complaint_sla", SC(complaint_sla_ms), NULL, 1, DAYS(3650),
        "A complaint unresolved past this weighs fully."),
    DUR("scoring", "cooldown", SC(cooldown_ms), NULL, 0, DAYS(3650),
        "No second `enter` of the same kind for a customer within this (event time) of the last "
        "one; a score still at or above the threshold when it ends enters then."),
    {.section = "scoring",
     .key = "weight.",
     .type = KT_DOUBLE,
     .offset = SC(weight[0]),
     .desc = "Engagement weight of one event of type",
     .min = 0,
     .max = 1e6,
     .family = true},
    DBL("churn_risk.enter", SC(enter[RP_KIND_CHURN_RISK]), 0, 1, true,
        "`churn_risk` enters at or above this score."),
    DBL("churn_risk.exit", SC(exit[RP_KIND_CHURN_RISK]), 0, 1, false,
        "`churn_risk` exits below this score (less than `churn_risk.enter`)."),
    DBL("advocate.enter", SC(enter[RP_KIND_ADVOCATE]), 0, 1, true,
        "`advocate` enters at or above this score."),
    DBL("advocate.exit", SC(exit[RP_KIND_ADVOCATE]), 0, 1, false,
        "`advocate` exits below this score (less than `advocate.enter`)."),
    DBL("bgnbd.r", SC(bgnbd_r), 0, 1e6, true, "BG/NBD population parameter r."),
    DBL("bgnbd.alpha", SC(bgnbd_alpha), 0, 1e6, true,
        "BG/NBD population parameter alpha (in `bgnbd.unit`s)."),
    DBL("bgnbd.a", SC(bgnbd_a), 0, 1e6, true, "BG/NBD population parameter a."),
    DBL("bgnbd.b", SC(bgnbd_b), 0, 1e6, true, "BG/NBD population parameter b."),
    DUR("scoring", "bgnbd.unit", SC(bgnbd_unit_ms), NULL, 1, DAYS(3650),
        "Time unit of the BG/NBD parameters (CDNOW fit: weeks)."),
    DBL("churn_weight.engagement_drop", SC(w_engagement_drop), 0, 1, false,
        "churn_risk weight (noisy-OR) of the short- vs long-horizon engagement drop."),
    DBL("churn_weight.silence", SC(w_silence), 0, 1, false,
        "churn_risk weight of silence beyond the customer's own rhythm."),
    DBL("churn_weight.low_p_alive", SC(w_low_p_alive), 0, 1, false,
        "churn_risk weight of 1 - P(alive) for buyers."),
    DBL("churn_weight.unanswered", SC(w_unanswered), 0, 1, false,
        "churn_risk weight of questions unanswered past `answer_sla`: 0.6 of it when the SLA is "
        "missed, all of it one more `answer_sla` later."),
    DBL("churn_weight.complaint", SC(w_complaint), 0, 1, false,
        "churn_risk weight of unresolved complaints."),
    DBL("churn_weight.negative_sentiment", SC(w_negative_sentiment), 0, 1, false,
        "churn_risk weight of decayed negative sentiment."),
    DBL("churn_weight.refunds", SC(w_refunds), 0, 1, false,
        "churn_risk weight of decayed refunds."),
    DBL("churn_weight.unsubscribed", SC(w_unsubscribed), 0, 1, false,
        "churn_risk weight of an `unsubscribe`."),
    DBL("advocate_weight.referral_converted", SC(w_referral_converted), 0, 1e6, false,
        "advocate weight of a referral whose referee made a first purchase."),
    DBL("advocate_weight.referral", SC(w_referral), 0, 1e6, false,
        "advocate weight of a referral."),
    DBL("advocate_weight.share", SC(w_share), 0, 1e6, false, "advocate weight of a share."),
    DBL("advocate_weight.helped", SC(w_helped), 0, 1e6, false,
        "advocate weight of an answer that helped another customer."),
    DBL("advocate_weight.promoter", SC(w_promoter), 0, 1e6, false,
        "advocate weight of an NPS of 9-10."),
    DBL("advocate_weight.positive_review", SC(w_positive_review), 0, 1e6, false,
        "advocate weight of a review of 4-5."),
    DBL("advocate_weight.positive_mention", SC(w_positive_mention), 0, 1e6, false,
        "advocate weight of a positive mention."),
    DBL("advocate_saturation", SC(advocate_saturation), 0, 1e6, true,
        "Decayed acts-weight at which `advocate` reaches 1 - 1/e (it saturates towards 1)."),
    DBL("advocate_friction_hold", SC(advocate_friction_hold), 0, 1, false,
        "`advocate` is multiplied by this while the customer has open friction (an open "
        "complaint or a question past `answer_sla`)."),
    DBL("silence_start_gaps", SC(silence_start_gaps), 0, 1e6, true,
        "Silence starts to count after this many of the customer's own typical gaps."),
    DBL("silence_full_gaps", SC(silence_full_gaps), 0, 1e6, true,
        "Silence counts fully after this many own gaps (more than `silence_start_gaps`)."),
    DBL("lapsed_silence_gaps", SC(lapsed_silence_gaps), 0, 1e6, true,
        "Segment `lapsed`: silent for this many own gaps (and at least 30 days)."),
    DBL("lapsed_p_alive", SC(lapsed_p_alive), 0, 1, false,
        "Segment `lapsed`: a buyer whose P(alive) is below this."),
    DUR("scoring", "new_customer", SC(new_customer_ms), NULL, 0, DAYS(3650),
        "Segment `new`: first active day less than this ago."),
    /* [output] */
    {.section = "output",
     .key = "format",
     .type = KT_ENUM,
     .offset = OFF(output_format),
     .def = "msgpack",
     .enum_names = format_names,
     .desc = "Encoding of signal values: `msgpack` or `json`."},
    /* [http] */
    {.section = "http",
     .key = "listen",
     .type = KT_STRING,
     .offset = OFF(http_listen),
     .def = "127.0.0.1:9464",
     .check = check_listen,
     .desc = "`HOST:PORT` of /metrics, /healthz, /readyz, /customers/{cid}; empty disables."},
};
#define N_KEY_DEFS (sizeof(key_table) / sizeof(key_table[0]))

_Static_assert(sizeof(enum rp_guarantee) == sizeof(int), "enum stored as int");
_Static_assert(sizeof(enum rp_output_format) == sizeof(int), "enum stored as int");

/* [kafka] keys rapport sets when the file does not; any other librdkafka property may be given. */
static const struct {
    const char *key, *value, *desc;
} kafka_defaults[] = {
    {"bootstrap.servers", "127.0.0.1:9092", "Brokers to bootstrap from."},
    {"group.id", "rapport", "Consumer group: instances with the same id split the partitions."},
};
#define N_KAFKA_DEFAULTS (sizeof(kafka_defaults) / sizeof(kafka_defaults[0]))

static const struct {
    const char *name, *desc;
} sections[] = {
    {"kafka", "Passed verbatim to librdkafka (consumer and producer), in file order; librdkafka "
              "checks each key and value when the file is loaded (an unknown property or a bad "
              "value is an error naming its line)."},
    {"topics", "Kafka topic names."},
    {"engine", "Threads, time and delivery guarantee."},
    {"scoring", "The relationship model: half-lives, weights, thresholds, BG/NBD."},
    {"output", "Signal encoding."},
    {"http", "The operations HTTP server."},
};
#define N_SECTIONS (sizeof(sections) / sizeof(sections[0]))

/* ---- the expanded key list (families unrolled), built once ---- */

#define EKEY_NAME_MAX 64
struct ekey {
    const struct key_def *def;
    size_t offset;
    char name[EKEY_NAME_MAX];      /* key within its section */
    char full[EKEY_NAME_MAX + 16]; /* "section.key" */
};
#define N_EKEYS_MAX (N_KEY_DEFS + RP_EV__COUNT + N_KAFKA_DEFAULTS)

static struct ekey ekeys[N_EKEYS_MAX];
static size_t n_ekeys; /* table keys (not [kafka]) */
static const char *all_names[N_EKEYS_MAX + 1];
static size_t n_all_names; /* [kafka] defaults + table keys */
static pthread_once_t ekeys_once = PTHREAD_ONCE_INIT;

static void ekeys_build(void)
{
    for (size_t k = 0; k < N_KAFKA_DEFAULTS; k++) {
        /* the names of [kafka] defaults live in a small static buffer of their own */
        static char kafka_full[N_KAFKA_DEFAULTS][EKEY_NAME_MAX + 16];
        snprintf(kafka_full[k], sizeof(kafka_full[k]), "kafka.%s", kafka_defaults[k].key);
        all_names[n_all_names++] = kafka_full[k];
    }
    for (size_t i = 0; i < N_KEY_DEFS; i++) {
        const struct key_def *d = &key_table[i];
        int n = d->family ? RP_EV__COUNT : 1;
        for (int j = 0; j < n; j++) {
            struct ekey *e = &ekeys[n_ekeys++];
            e->def = d;
            if (d->family) {
                snprintf(e->name, sizeof(e->name), "%s%s", d->key, rp_event_type_name(j));
                e->offset = d->offset + (size_t)j * sizeof(double);
            } else {
                snprintf(e->name, sizeof(e->name), "%s", d->key);
                e->offset = d->offset;
            }
            snprintf(e->full, sizeof(e->full), "%s.%s%s", d->section, d->key,
                     d->family ? rp_event_type_name(j) : "");
            all_names[n_all_names++] = e->full;
        }
    }
    all_names[n_all_names] = NULL;
}

static void ekeys_ensure(void)
{
    pthread_once(&ekeys_once, ekeys_build);
}

size_t rp_config_keys(const char *const **keys_out)
{
    ekeys_ensure();
    *keys_out = all_names;
    return n_all_names;
}

static const struct ekey *ekey_find(const char *section, const char *key)
{
    for (size_t i = 0; i < n_ekeys; i++)
        if (strcmp(ekeys[i].def->section, section) == 0 && strcmp(ekeys[i].name, key) == 0)
            return &ekeys[i];
    return NULL;
}

static bool section_known(const char *name)
{
    for (size_t i = 0; i < N_SECTIONS; i++)
        if (strcmp(sections[i].name, name) == 0)
            return true;
    return false;
}

/* ---- durations ---- */

int rp_duration_parse(const char *s, int64_t *out_ms)
{
    if (!s || *s < '0' || *s > '9') /* no sign, no blank, not empty */
        return -1;
    uint64_t v = 0;
    const char *p = s;
    while (*p >= '0' && *p <= '9') {
        if (v > (uint64_t)INT64_MAX / 10)
            return -1;
        v = v * 10 + (uint64_t)(*p - '0');
        if (v > (uint64_t)INT64_MAX)
            return -1;
        p++;
    }
    int64_t mult;
    if (*p == '\0' || strcmp(p, "ms") == 0)
        mult = 1;
    else if (strcmp(p, "s") == 0)
        mult = MS_S;
    else if (strcmp(p, "m") == 0)
        mult = MS_MIN;
    else if (strcmp(p, "h") == 0)
        mult = MS_H;
    else if (strcmp(p, "d") == 0)
        mult = MS_D;
    else
        return -1;
    if (v > (uint64_t)(INT64_MAX / mult))
        return -1;
    *out_ms = (int64_t)v * mult;
    return 0;
}

/* Largest unit that divides the value exactly, so that "7d" reads back as "7d". */
static void format_duration(int64_t ms, char *buf, size_t size)
{
    static const struct {
        int64_t ms;
        const char *unit;
    } units[] = {{MS_D, "d"}, {MS_H, "h"}, {MS_MIN, "m"}, {MS_S, "s"}};
    if (ms == 0) {
        snprintf(buf, size, "0s");
        return;
    }
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
        if (ms % units[i].ms == 0) {
            snprintf(buf, size, "%lld%s", (long long)(ms / units[i].ms), units[i].unit);
            return;
        }
    snprintf(buf, size, "%lldms", (long long)ms);
}

/* Shortest %g text that reads back as the same double. */
static void format_double(double v, char *buf, size_t size)
{
    if (v == floor(v) && fabs(v) < 1e15) { /* integers in full: "1000000", not "1e+06" */
        snprintf(buf, size, "%.0f", v);
        return;
    }
    /* tried in a local buffer: also keeps GCC's -O3 + UBSan "null destination" warning away */
    char text[32];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(text, sizeof(text), "%.*g", prec, v);
        if (strtod(text, NULL) == v)
            break;
    }
    snprintf(buf, size, "%s", text);
}

/* ---- checks ---- */

static int check_topic(const struct rp_config *cfg, const void *field, char *why, size_t why_size)
{
    (void)cfg;
    const char *t = *(char *const *)field;
    size_t n = strlen(t);
    if (n == 0 || n > 249) {
        snprintf(why, why_size, "a topic name must have 1 to 249 characters");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-')) {
            snprintf(why, why_size, "a topic name may only hold [a-zA-Z0-9._-]");
            return -1;
        }
    }
    return 0;
}

static int check_listen(const struct rp_config *cfg, const void *field, char *why, size_t why_size)
{
    (void)cfg;
    const char *l = *(char *const *)field;
    if (*l == '\0')
        return 0; /* disabled */
    const char *colon = strrchr(l, ':');
    if (!colon) {
        snprintf(why, why_size, "expected HOST:PORT (or empty to disable)");
        return -1;
    }
    if (l[0] == '[' && (colon == l || colon[-1] != ']')) {
        snprintf(why, why_size, "an IPv6 host must be bracketed: [::1]:9464");
        return -1;
    }
    if (l[0] != '[' && memchr(l, ':', (size_t)(colon - l))) {
        snprintf(why, why_size, "an IPv6 host must be bracketed: [::1]:9464");
        return -1;
    }
    const char *p = colon + 1;
    long port = 0;
    if (*p == '\0') {
        snprintf(why, why_size, "missing port");
        return -1;
    }
    for (; *p; p++) {
        if (*p < '0' || *p > '9' || (port = port * 10 + (*p - '0')) > 65535) {
            snprintf(why, why_size, "port must be a number in [0, 65535]");
            return -1;
        }
    }
    return 0;
}

static int check_pow2(const struct rp_config *cfg, const void *field, char *why, size_t why_size)
{
    (void)cfg;
    int v = *(const int *)field;
    if (v <= 0 || (v & (v - 1)) != 0) {
        snprintf(why, why_size, "must be a power of two");
        return -1;
    }
    return 0;
}

/* ---- setting one value ---- */

static bool is_blank(char c)
{
    /* a newline cannot occur: lines are split on it */
    return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

static void range_text(const struct key_def *d, char *buf, size_t size)
{
    char lo[32], hi[32];
    if (d->type == KT_DURATION) {
        format_duration((int64_t)d->min, lo, sizeof(lo));
        format_duration((int64_t)d->max, hi, sizeof(hi));
    } else if (d->type == KT_INT || d->type == KT_INT64) {
        snprintf(lo, sizeof(lo), "%lld", (long long)d->min);
        snprintf(hi, sizeof(hi), "%lld", (long long)d->max);
    } else {
        format_double(d->min, lo, sizeof(lo));
        format_double(d->max, hi, sizeof(hi));
    }
    snprintf(buf, size, "%s%s, %s]", d->min_exclusive ? "(" : "[", lo, hi);
}

static bool in_range(const struct key_def *d, double v)
{
    return (d->min_exclusive ? v > d->min : v >= d->min) && v <= d->max;
}

/* Parses `value` as key `e` into cfg. Returns 0, -1 with a reason in `why`, or RP_ERR_NOMEM. */
static int set_value(struct rp_config *cfg, const struct ekey *e, const char *value, char *why,
                     size_t why_size)
{
    const struct key_def *d = e->def;
    void *field = (char *)cfg + e->offset;
    char range[80];
    switch (d->type) {
    case KT_STRING: {
        char *copy = strdup(value);
        if (!copy)
            return RP_ERR_NOMEM;
        char **slot = field;
        char *old = *slot;
        *slot = copy;
        if (d->check && d->check(cfg, field, why, why_size) != 0) {
            *slot = old;
            free(copy);
            return -1;
        }
        free(old);
        return 0;
    }
    case KT_INT:
    case KT_INT64: {
        char *end;
        errno = 0;
        long long v = strtoll(value, &end, 10);
        if (*value == '\0' || *end != '\0' || errno == ERANGE || is_blank(value[0])) {
            snprintf(why, why_size, "not an integer: \"%s\"", value);
            return -1;
        }
        if (!in_range(d, (double)v)) {
            range_text(d, range, sizeof(range));
            snprintf(why, why_size, "%lld is out of range %s", v, range);
            return -1;
        }
        if (d->type == KT_INT) {
            int old = *(int *)field;
            *(int *)field = (int)v;
            if (d->check && d->check(cfg, field, why, why_size) != 0) {
                *(int *)field = old;
                return -1;
            }
        } else {
            *(int64_t *)field = (int64_t)v;
        }
        return 0;
    }
    case KT_DOUBLE: {
        char *end;
        double v = strtod(value, &end);
        if (*value == '\0' || *end != '\0' || is_blank(value[0]) || !isfinite(v)) {
            snprintf(why, why_size, "not a finite number: \"%s\"", value);
            return -1;
        }
        if (!in_range(d, v)) {
            range_text(d, range, sizeof(range));
            snprintf(why, why_size, "%s is out of range %s", value, range);
            return -1;
        }
        *(double *)field = v;
        return 0;
    }
    case KT_DURATION: {
        int64_t ms;
        if (rp_duration_parse(value, &ms) != 0) {
            snprintf(why, why_size,
                     "not a duration: \"%s\" (expected a whole number with ms, s, m, h or d)",
                     value);
            return -1;
        }
        if (!in_range(d, (double)ms)) {
            range_text(d, range, sizeof(range));
            snprintf(why, why_size, "%s is out of range %s", value, range);
            return -1;
        }
        *(int64_t *)field = ms;
        return 0;
    }
    case KT_ENUM:
        for (int i = 0; d->enum_names[i]; i++)
            if (strcmp(d->enum_names[i], value) == 0) {
                *(int *)field = i;
                return 0;
            }
        {
            size_t off = (size_t)snprintf(why, why_size, "\"%s\" is not one of", value);
            for (int i = 0; d->enum_names[i] && off < why_size; i++)
                off += (size_t)snprintf(why + off, why_size - off, "%s %s", i ? "," : "",
                                        d->enum_names[i]);
        }
        return -1;
    }
    assert(!"unreachable key type");
    return -1;
}

/* ---- lifetime ---- */

static void kafka_free(struct rp_kv *kv, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(kv[i].key);
        free(kv[i].value);
    }
    free(kv);
}

void rp_config_fini(struct rp_config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < N_KEY_DEFS; i++)
        if (key_table[i].type == KT_STRING) {
            char **slot = (char **)((char *)cfg + key_table[i].offset);
            free(*slot);
            *slot = NULL;
        }
    kafka_free(cfg->kafka, cfg->n_kafka);
    cfg->kafka = NULL;
    cfg->n_kafka = 0;
}

static int kafka_push(struct rp_kv **kv, size_t *n, const char *key, const char *value)
{
    /* Grows one by one: a config has a handful of [kafka] keys, parsed once. */
    struct rp_kv *grown = realloc(*kv, (*n + 1) * sizeof(**kv));
    if (!grown)
        return RP_ERR_NOMEM;
    *kv = grown;
    char *k = strdup(key), *v = strdup(value);
    if (!k || !v) {
        free(k);
        free(v);
        return RP_ERR_NOMEM;
    }
    grown[*n].key = k;
    grown[*n].value = v;
    (*n)++;
    return 0;
}

int rp_config_init(struct rp_config *cfg)
{
    ekeys_ensure();
    memset(cfg, 0, sizeof(*cfg));
    rp_scoring_config_defaults(&cfg->scoring);
    char why[256];
    for (size_t i = 0; i < n_ekeys; i++) {
        if (!ekeys[i].def->def)
            continue;
        int rc = set_value(cfg, &ekeys[i], ekeys[i].def->def, why, sizeof(why));
        if (rc == RP_ERR_NOMEM) {
            rp_config_fini(cfg);
            return RP_ERR_NOMEM;
        }
        assert(rc == 0 && "a default in the key table does not parse");
    }
    for (size_t k = 0; k < N_KAFKA_DEFAULTS; k++)
        if (kafka_push(&cfg->kafka, &cfg->n_kafka, kafka_defaults[k].key,
                       kafka_defaults[k].value) != 0) {
            rp_config_fini(cfg);
            return RP_ERR_NOMEM;
        }
    return RP_OK;
}

/* Deep copy, so that a failed load leaves the caller's config as it was. */
static int config_copy(struct rp_config *dst, const struct rp_config *src)
{
    *dst = *src;
    dst->kafka = NULL;
    dst->n_kafka = 0;
    for (size_t i = 0; i < N_KEY_DEFS; i++)
        if (key_table[i].type == KT_STRING)
            *(char **)((char *)dst + key_table[i].offset) = NULL;
    for (size_t i = 0; i < N_KEY_DEFS; i++) {
        if (key_table[i].type != KT_STRING)
            continue;
        const char *s = *(char *const *)((const char *)src + key_table[i].offset);
        if (s && !(*(char **)((char *)dst + key_table[i].offset) = strdup(s))) {
            rp_config_fini(dst);
            return RP_ERR_NOMEM;
        }
    }
    for (size_t k = 0; k < src->n_kafka; k++)
        if (kafka_push(&dst->kafka, &dst->n_kafka, src->kafka[k].key, src->kafka[k].value)) {
            rp_config_fini(dst);
            return RP_ERR_NOMEM;
        }
    return RP_OK;
}

const char *rp_config_kafka_get(const struct rp_config *cfg, const char *key)
{
    for (size_t i = 0; i < cfg->n_kafka; i++)
        if (strcmp(cfg->kafka[i].key, key) == 0)
            return cfg->kafka[i].value;
    return NULL;
}

/* ---- the parser ---- */

struct parse {
    const char *name;
    char *errstr;
    size_t errstr_size;
    int line;
    char section[64];
    int seen_line[N_EKEYS_MAX]; /* line where each table key was set, 0 = not yet */
    /* [kafka] keys of this file, in file order, with the line that set them */
    struct rp_kv *kafka;
    int *kafka_line;
    size_t n_kafka;
    /* scratch librdkafka conf the [kafka] keys are tried on as they are read (NULL until the
     * first one): librdkafka's own checks, at load time with the line, not when clients start */
    rd_kafka_conf_t *kconf;
};

__attribute__((format(printf, 3, 4))) static int fail(struct parse *p, const char *key,
                                                      const char *fmt, ...)
{
    if (p->errstr_size == 0)
        return RP_ERR_CONFIG;
    int off;
    if (p->section[0])
        off = snprintf(p->errstr, p->errstr_size, "%s:%d: [%s]%s%s: ", p->name, p->line, p->section,
                       key ? " " : "", key ? key : "");
    else
        off = snprintf(p->errstr, p->errstr_size, "%s:%d: %s%s", p->name, p->line, key ? key : "",
                       key ? ": " : "");
    if (off >= 0 && (size_t)off < p->errstr_size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->errstr + off, p->errstr_size - (size_t)off, fmt, ap);
        va_end(ap);
    }
    return RP_ERR_CONFIG;
}

static char *trim(char *s)
{
    while (is_blank(*s))
        s++;
    char *end = s + strlen(s);
    while (end > s && is_blank(end[-1]))
        *--end = '\0';
    return s;
}

/* The rest of a line after a value or header: blank, or a comment. */
static bool rest_is_comment(const char *s)
{
    while (is_blank(*s))
        s++;
    return *s == '\0' || *s == '#' || *s == ';';
}

/*
 * Value syntax: a double-quoted string ("..." with \" \\ \n \t escapes) keeps every character
 * including '#' and blanks; an unquoted value ends at a '#' that follows a blank (an inline
 * comment) and is trimmed. Decodes in place.
 */
static int parse_value(struct parse *p, const char *key, char *v, char **out)
{
    if (*v == '"') {
        char *r = v + 1, *w = v;
        for (;; r++) {
            if (*r == '\0')
                return fail(p, key, "unterminated quoted value");
            if (*r == '"')
                break;
            if (*r == '\\') {
                r++;
                switch (*r) {
                case '"':
                case '\\':
                    *w++ = *r;
                    break;
                case 'n':
                    *w++ = '\n';
                    break;
                case 't':
                    *w++ = '\t';
                    break;
                default:
                    return fail(p, key, "bad escape in quoted value (use \\\", \\\\, \\n, \\t)");
                }
                continue;
            }
            *w++ = *r;
        }
        if (!rest_is_comment(r + 1))
            return fail(p, key, "unexpected text after the closing quote");
        *w = '\0';
        *out = v;
        return 0;
    }
    for (char *c = v; *c; c++)
        if (*c == '#' && (c == v || is_blank(c[-1]))) {
            *c = '\0';
            break;
        }
    *out = trim(v);
    return 0;
}

static int parse_kafka(struct parse *p, const char *key, const char *value)
{
    for (const char *c = key; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '.' || *c == '_' || *c == '-'))
            return fail(p, key, "a librdkafka property name may only hold [a-zA-Z0-9._-]");
    for (size_t i = 0; i < p->n_kafka; i++)
        if (strcmp(p->kafka[i].key, key) == 0)
            return fail(p, key, "duplicate key (first set on line %d)", p->kafka_line[i]);
    /*
     * librdkafka checks the name and the value's syntax and range in rd_kafka_conf_set(); a
     * generic conf accepts both producer and consumer properties, and the engine sets every key
     * on its consumers and every key but the consumer-only ones on its producer, so a key this
     * accepts is accepted there too. Settings checked only by rd_kafka_new() (how properties go
     * together, file paths) are still found when the engine creates its clients. Keys are tried
     * in file order on one conf, as the engine applies them, so that a plugin named in
     * plugin.library.paths is loaded (as librdkafka does) before the properties it adds.
     */
    if (!p->kconf && !(p->kconf = rd_kafka_conf_new()))
        return RP_ERR_NOMEM;
    char why[512];
    why[0] = '\0';
    if (rd_kafka_conf_set(p->kconf, key, value, why, sizeof(why)) != RD_KAFKA_CONF_OK)
        return fail(p, key, "%s", why[0] ? why : "rejected by librdkafka");
    int *lines = realloc(p->kafka_line, (p->n_kafka + 1) * sizeof(int));
    if (!lines)
        return RP_ERR_NOMEM;
    p->kafka_line = lines;
    lines[p->n_kafka] = p->line;
    return kafka_push(&p->kafka, &p->n_kafka, key, value);
}

static int parse_line(struct parse *p, struct rp_config *cfg, char *line)
{
    char *s = trim(line);
    if (*s == '\0' || *s == '#' || *s == ';')
        return 0;
    if (*s == '[') {
        char *close = strchr(s, ']');
        p->section[0] = '\0'; /* a bad header leaves no section for the message */
        if (!close)
            return fail(p, NULL, "section header without ']'");
        if (!rest_is_comment(close + 1))
            return fail(p, NULL, "unexpected text after the section header");
        *close = '\0';
        char *name = trim(s + 1);
        if (*name == '\0')
            return fail(p, NULL, "empty section name");
        if (!section_known(name))
            return fail(p, NULL,
                        "[%.64s]: unknown section (expected kafka, topics, engine, "
                        "scoring, output or http)",
                        name);
        snprintf(p->section, sizeof(p->section), "%s", name);
        return 0;
    }
    char *eq = strchr(s, '=');
    if (!eq)
        return fail(p, NULL, "expected `key = value`, got \"%.64s\"", s);
    *eq = '\0';
    char *key = trim(s);
    if (*key == '\0')
        return fail(p, NULL, "missing key before '='");
    if (p->section[0] == '\0')
        return fail(p, key, "key outside a section (add a [section] header above it)");
    char *value = NULL;
    int rc = parse_value(p, key, trim(eq + 1), &value);
    if (rc)
        return rc;
    if (strcmp(p->section, "kafka") == 0)
        return parse_kafka(p, key, value);
    const struct ekey *e = ekey_find(p->section, key);
    if (!e)
        return fail(p, key, "unknown key");
    size_t idx = (size_t)(e - ekeys);
    if (p->seen_line[idx])
        return fail(p, key, "duplicate key (first set on line %d)", p->seen_line[idx]);
    char why[256];
    rc = set_value(cfg, e, value, why, sizeof(why));
    if (rc == RP_ERR_NOMEM)
        return rc;
    if (rc)
        return fail(p, key, "%s", why);
    p->seen_line[idx] = p->line;
    return 0;
}

/*
 * Rules between two keys (rp_scoring_config_validate() checks them too, but cannot say where):
 * `lo` must be less than `hi`. A breach is reported at the line of the key this file set, the
 * later one when it set both, as "FILE:LINE: [section] key: VALUE must be ... than OTHER (VALUE)".
 */
static const struct {
    const char *section, *lo, *hi;
    const char *lo_must, *hi_must; /* "must be ... than" as said of lo, of hi */
} cross_rules[] = {
    {"scoring", "half_life_short", "half_life_long", "shorter", "longer"},
    {"scoring", "churn_risk.exit", "churn_risk.enter", "less", "greater"},
    {"scoring", "advocate.exit", "advocate.enter", "less", "greater"},
};

static void format_value(const struct rp_config *cfg, const struct ekey *e, char *buf, size_t size);

static double key_number(const struct rp_config *cfg, const struct ekey *e)
{
    const void *field = (const char *)cfg + e->offset;
    switch (e->def->type) {
    case KT_DURATION:
    case KT_INT64:
        return (double)*(const int64_t *)field; /* durations <= 3650d: exact in a double */
    case KT_DOUBLE:
        return *(const double *)field;
    case KT_INT:
    case KT_ENUM:
        return (double)*(const int *)field;
    case KT_STRING:
        break;
    }
    assert(!"cross rule on a key that is not a number");
    return 0;
}

static int check_cross(struct parse *p, const struct rp_config *cfg)
{
    for (size_t r = 0; r < sizeof(cross_rules) / sizeof(cross_rules[0]); r++) {
        const struct ekey *lo = ekey_find(cross_rules[r].section, cross_rules[r].lo);
        const struct ekey *hi = ekey_find(cross_rules[r].section, cross_rules[r].hi);
        assert(lo && hi && "a cross rule names a key the table lacks");
        if (key_number(cfg, lo) < key_number(cfg, hi))
            continue;
        int lo_line = p->seen_line[lo - ekeys], hi_line = p->seen_line[hi - ekeys];
        if (lo_line == 0 && hi_line == 0)
            continue; /* neither set here: left to rp_scoring_config_validate() */
        bool lo_named = lo_line > hi_line;
        const struct ekey *named = lo_named ? lo : hi, *other = lo_named ? hi : lo;
        char v_named[96], v_other[96];
        format_value(cfg, named, v_named, sizeof(v_named));
        format_value(cfg, other, v_other, sizeof(v_other));
        p->line = lo_named ? lo_line : hi_line;
        snprintf(p->section, sizeof(p->section), "%s", cross_rules[r].section);
        return fail(p, named->name, "%s must be %s than %s (%s)", v_named,
                    lo_named ? cross_rules[r].lo_must : cross_rules[r].hi_must, other->name,
                    v_other);
    }
    return 0;
}

/* [kafka] after a load: the file's keys in file order, then earlier keys the file did not set. */
static int kafka_merge(struct parse *p, struct rp_config *cfg)
{
    for (size_t i = 0; i < cfg->n_kafka; i++) {
        bool overridden = false;
        for (size_t j = 0; j < p->n_kafka && !overridden; j++)
            overridden = strcmp(p->kafka[j].key, cfg->kafka[i].key) == 0;
        if (!overridden &&
            kafka_push(&p->kafka, &p->n_kafka, cfg->kafka[i].key, cfg->kafka[i].value) != 0)
            return RP_ERR_NOMEM;
    }
    kafka_free(cfg->kafka, cfg->n_kafka);
    cfg->kafka = p->kafka;
    cfg->n_kafka = p->n_kafka;
    p->kafka = NULL;
    p->n_kafka = 0;
    return 0;
}

int rp_config_load_string(struct rp_config *cfg, const char *name, const char *text, size_t len,
                          char *errstr, size_t errstr_size)
{
    ekeys_ensure();
    if (errstr_size)
        errstr[0] = '\0';
    struct parse *p = calloc(1, sizeof(*p));
    char *buf = malloc(len + 1);
    struct rp_config work;
    if (!p || !buf || config_copy(&work, cfg) != 0) {
        free(p);
        free(buf);
        if (errstr_size)
            snprintf(errstr, errstr_size, "%s: out of memory", name);
        return RP_ERR_NOMEM;
    }
    p->name = name;
    p->errstr = errstr;
    p->errstr_size = errstr_size;
    memcpy(buf, text, len);
    buf[len] = '\0';

    int rc = 0;
    size_t pos = 0;
    if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
        pos = 3; /* UTF-8 byte order mark */
    while (pos < len && rc == 0) {
        p->line++;
        char *line = buf + pos;
        char *nl = memchr(line, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - line) : len - pos;
        line[n] = '\0';
        pos += n + 1;
        if (strlen(line) != n)
            rc = fail(p, NULL, "NUL byte in line");
        else
            rc = parse_line(p, &work, line);
    }
    if (rc == 0)
        rc = check_cross(p, &work);
    if (rc == 0) {
        char why[256];
        p->line = 0;
        if (rp_scoring_config_validate(&work.scoring, why, sizeof(why)) != RP_OK) {
            if (errstr_size)
                snprintf(errstr, errstr_size, "%s: [scoring] %s", name, why);
            rc = RP_ERR_CONFIG;
        }
    }
    if (rc == 0)
        rc = kafka_merge(p, &work);
    if (rc == RP_ERR_NOMEM && errstr_size)
        snprintf(errstr, errstr_size, "%s: out of memory", name);
    if (rc == 0) {
        rp_config_fini(cfg);
        *cfg = work;
    } else {
        rp_config_fini(&work);
    }
    kafka_free(p->kafka, p->n_kafka);
    free(p->kafka_line);
    if (p->kconf)
        rd_kafka_conf_destroy(p->kconf);
    free(p);
    free(buf);
    return rc;
}

/* A configuration file is small; refuse anything larger than this rather than read it all. */
#define CONFIG_MAX_BYTES (1 << 20)

int rp_config_load(struct rp_config *cfg, const char *path, char *errstr, size_t errstr_size)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errstr_size)
            snprintf(errstr, errstr_size, "%s: %s", path, strerror(errno));
        return RP_ERR_IO;
    }
    char *buf = malloc(CONFIG_MAX_BYTES + 1);
    if (!buf) {
        fclose(f);
        if (errstr_size)
            snprintf(errstr, errstr_size, "%s: out of memory", path);
        return RP_ERR_NOMEM;
    }
    size_t n = fread(buf, 1, CONFIG_MAX_BYTES + 1, f);
    int err = ferror(f) ? errno : 0;
    fclose(f);
    int rc;
    if (err) {
        if (errstr_size)
            snprintf(errstr, errstr_size, "%s: %s", path, strerror(err));
        rc = RP_ERR_IO;
    } else if (n > CONFIG_MAX_BYTES) {
        if (errstr_size)
            snprintf(errstr, errstr_size, "%s: larger than %d bytes", path, CONFIG_MAX_BYTES);
        rc = RP_ERR_CONFIG;
    } else {
        rc = rp_config_load_string(cfg, path, buf, n, errstr, errstr_size);
    }
    free(buf);
    return rc;
}

/* ---- the reference page ---- */

static void format_value(const struct rp_config *cfg, const struct ekey *e, char *buf, size_t size)
{
    const void *field = (const char *)cfg + e->offset;
    switch (e->def->type) {
    case KT_STRING: {
        const char *s = *(char *const *)field;
        snprintf(buf, size, "%s", s && *s ? s : "\"\"");
        return;
    }
    case KT_INT:
        snprintf(buf, size, "%d", *(const int *)field);
        return;
    case KT_INT64:
        snprintf(buf, size, "%lld", (long long)*(const int64_t *)field);
        return;
    case KT_DOUBLE:
        format_double(*(const double *)field, buf, size);
        return;
    case KT_DURATION:
        format_duration(*(const int64_t *)field, buf, size);
        return;
    case KT_ENUM:
        snprintf(buf, size, "%s", e->def->enum_names[*(const int *)field]);
        return;
    }
}

int rp_config_format_value(const struct rp_config *cfg, const char *section, const char *key,
                           char *buf, size_t size)
{
    ekeys_ensure();
    if (strcmp(section, "kafka") == 0) {
        const char *v = rp_config_kafka_get(cfg, key);
        if (!v)
            return RP_ERR_NOT_FOUND;
        snprintf(buf, size, "%s", v);
        return RP_OK;
    }
    const struct ekey *e = ekey_find(section, key);
    if (!e)
        return RP_ERR_NOT_FOUND;
    format_value(cfg, e, buf, size);
    return RP_OK;
}

void rp_config_reference(FILE *out)
{
    ekeys_ensure();
    struct rp_config def;
    if (rp_config_init(&def) != RP_OK) {
        fprintf(out, "(out of memory)\n");
        return;
    }
    fprintf(out, "# rapport configuration reference\n\n"
                 "One INI file: `[section]` headers, `key = value` lines, `#` or `;` comments "
                 "(a `#` after a blank also ends an unquoted value; quote values that hold one: "
                 "`\"...\"`). Durations are whole numbers with a unit: `ms`, `s`, `m`, `h`, `d` "
                 "(a bare number is milliseconds). Unknown sections or keys, bad values and "
                 "duplicate keys are errors that name the file, line and key.\n");
    for (size_t s = 0; s < N_SECTIONS; s++) {
        fprintf(out, "\n## [%s]\n\n%s\n\n| key | default | meaning |\n|---|---|---|\n",
                sections[s].name, sections[s].desc);
        if (strcmp(sections[s].name, "kafka") == 0) {
            for (size_t k = 0; k < N_KAFKA_DEFAULTS; k++)
                fprintf(out, "| `%s` | `%s` | %s |\n", kafka_defaults[k].key,
                        kafka_defaults[k].value, kafka_defaults[k].desc);
            fprintf(out, "| any other | (librdkafka's) | Any librdkafka property, e.g. "
                         "`security.protocol`, `sasl.*`, `ssl.*`: see librdkafka's "
                         "CONFIGURATION.md. |\n");
            continue;
        }
        for (size_t i = 0; i < n_ekeys; i++) {
            const struct ekey *e = &ekeys[i];
            if (strcmp(e->def->section, sections[s].name) != 0)
                continue;
            char val[96];
            format_value(&def, e, val, sizeof(val));
            fprintf(out, "| `%s` | `%s` | ", e->name, val);
            if (e->def->family)
                fprintf(out, "%s `%s`.", e->def->desc, e->name + strlen(e->def->key));
            else
                fprintf(out, "%s", e->def->desc);
            if (e->def->type == KT_DOUBLE || e->def->type == KT_DURATION ||
                e->def->type == KT_INT || e->def->type == KT_INT64) {
                char range[80];
                range_text(e->def, range, sizeof(range));
                fprintf(out, " Range %s.", range);
            }
            fprintf(out, " |\n");
        }
    }
    rp_config_fini(&def);
}
