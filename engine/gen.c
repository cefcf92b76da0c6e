/* gen: the synthetic interaction generator: archetypes, Zipf activity, a daily cycle, merged into
 * one event-time ordered stream with two heaps and no allocation per event. */
#include "gen.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MS_MIN  (60 * INT64_C(1000))
#define MS_HOUR (60 * MS_MIN)
#define MS_DAY  (24 * MS_HOUR)
#define NEVER   INT64_MAX

/* ------------------------------------------------------------------------------------------ */
/* Archetype behaviour tables                                                                  */
/* ------------------------------------------------------------------------------------------ */

static const char *const arch_names[RP_ARCH__COUNT] = {
    "loyal",          "advocate",           "drifting",
    "silent_churner", "ignored_complainer", "served_complainer",
    "transactional",  "window_shopper",     "unsubscriber",
};

const char *rp_archetype_name(enum rp_archetype a)
{
    return (unsigned)a < RP_ARCH__COUNT ? arch_names[a] : NULL;
}

int rp_archetype_parse(const char *s, size_t len)
{
    for (int i = 0; i < RP_ARCH__COUNT; i++)
        if (strlen(arch_names[i]) == len && memcmp(arch_names[i], s, len) == 0)
            return i;
    return -1;
}

/*
 * Session model: a customer comes back every `gap_days` on average (at full activity and Zipf
 * multiplier 1), gaps drawn from a Gamma(k) law (k = `regularity`: 1 is Poisson, larger is more
 * regular, as steady customers are), and does `per_session` events on average in a session,
 * seconds to minutes apart. The event types of a session are drawn from `mix` (relative weights;
 * reply, resolution, signup and unsubscribe never come from it: they are follow-ups).
 */
struct arch_profile {
    double gap_days;
    double per_session;
    int regularity;
    double mix[RP_EV__COUNT];
};

/* clang-format off */
#define MIX(view, click, login, email, like, comment, purchase, refund, question, complaint,       \
            review, nps, mention, share, referral, answer)                                         \
    {[RP_EV_VIEW] = view, [RP_EV_CLICK] = click, [RP_EV_LOGIN] = login,                          \
     [RP_EV_EMAIL_OPEN] = email, [RP_EV_LIKE] = like, [RP_EV_COMMENT] = comment,                 \
     [RP_EV_PURCHASE] = purchase, [RP_EV_REFUND] = refund, [RP_EV_QUESTION] = question,          \
     [RP_EV_COMPLAINT] = complaint, [RP_EV_REVIEW] = review, [RP_EV_NPS] = nps,                  \
     [RP_EV_MENTION] = mention, [RP_EV_SHARE] = share, [RP_EV_REFERRAL] = referral,              \
     [RP_EV_ANSWER] = answer}
static const struct arch_profile profiles[RP_ARCH__COUNT] = {
    /*                          view click login email like comm purch refund quest compl review nps mention share refer answer */
    [RP_ARCH_LOYAL] = {2.0, 3.0, 4, MIX(30, 18, 12, 10, 8, 4, 10, 0.3, 1.5, 0.3, 0.6, 0.5, 0.4, 0.5, 0, 0.2)},
    [RP_ARCH_ADVOCATE] = {1.5, 3.5, 4, MIX(20, 12, 8, 6, 10, 8, 8, 0, 1, 0, 4, 1.5, 5, 8, 1.2, 5)},
    [RP_ARCH_DRIFTING] = {2.0, 3.0, 3, MIX(32, 20, 12, 12, 7, 3, 9, 0.3, 1.2, 0.3, 0.5, 0.3, 0.2, 0.3, 0, 0)},
    [RP_ARCH_SILENT_CHURNER] = {2.0, 3.0, 3, MIX(30, 18, 12, 10, 8, 4, 12, 0.4, 1.5, 0.3, 0.5, 0.3, 0.3, 0.4, 0, 0)},
    [RP_ARCH_IGNORED_COMPLAINER] = {2.5, 2.5, 2, MIX(25, 15, 10, 6, 2, 6, 6, 3, 10, 9, 2.5, 1.5, 3, 0, 0, 0)},
    [RP_ARCH_SERVED_COMPLAINER] = {2.0, 3.0, 3, MIX(28, 16, 11, 8, 7, 5, 10, 0.5, 5, 3, 1.5, 1, 0.5, 0.5, 0, 0)},
    [RP_ARCH_TRANSACTIONAL] = {7.0, 1.5, 4, MIX(30, 5, 3, 7, 0, 0, 55, 1, 0.5, 0.2, 0.5, 0.3, 0, 0, 0, 0)},
    [RP_ARCH_WINDOW_SHOPPER] = {1.5, 3.0, 2, MIX(50, 30, 4, 8, 5, 1, 1.2, 0, 0.5, 0.1, 0.2, 0.1, 0.1, 0.2, 0, 0)},
    [RP_ARCH_UNSUBSCRIBER] = {2.5, 2.5, 2, MIX(30, 18, 10, 14, 6, 3, 9, 0.5, 1, 0.3, 0.5, 0.3, 0.2, 0.3, 0, 0)},
};
/* clang-format on */

/* Default mix, in percent of the population. */
static const double default_mix[RP_ARCH__COUNT] = {
    [RP_ARCH_LOYAL] = 28,
    [RP_ARCH_ADVOCATE] = 8,
    [RP_ARCH_DRIFTING] = 12,
    [RP_ARCH_SILENT_CHURNER] = 10,
    [RP_ARCH_IGNORED_COMPLAINER] = 6,
    [RP_ARCH_SERVED_COMPLAINER] = 8,
    [RP_ARCH_TRANSACTIONAL] = 16,
    [RP_ARCH_WINDOW_SHOPPER] = 8,
    [RP_ARCH_UNSUBSCRIBER] = 4,
};

/* Share of loyal, transactional and window-shopper customers who are not customers yet at the
 * start: they sign up during the span, on their own or when an advocate refers them. */
#define POOL_SHARE 0.25
/* Share of referrals whose target signs up and buys (the others invite a prospect who never
 * comes: target "p<n>"). */
#define REFERRAL_CONVERSION 0.55
/* Activity left to an unsubscriber after unsubscribing. */
#define UNSUB_ACTIVITY 0.15
/* Drifting activity is exp(-DRIFT_RATE * u), u = elapsed fraction of the span (~5 % at the end). */
#define DRIFT_RATE 3.0
/* Zipf multiplier: FLOOR + (1 - FLOOR) * zipf, capped, so that the lightest customers still come
 * back now and then and the heaviest do not swamp a small population. */
#define ZIPF_FLOOR 0.25
#define ZIPF_CAP   40.0
/* A customer whose mean gap between sessions exceeds this (days) has stopped: it also keeps
 * every time computation far from int64 overflow. */
#define MAX_GAP_DAYS 36500.0

/* Hour-of-day profile (UTC taken as the customers' local time): quiet nights, a lunch bump and an
 * evening peak, as web and app traffic have. Relative weights. */
static const double hour_weight[24] = {3, 2, 1.2, 1, 1,   1.5, 3,   5,  6,  6, 6, 6.5,
                                       8, 7, 6,   6, 6.5, 7,   8.5, 10, 10, 9, 7, 5};

/* ------------------------------------------------------------------------------------------ */
/* Random numbers: xoshiro256** seeded by splitmix64 (fast, good, the same integers everywhere) */
/* ------------------------------------------------------------------------------------------ */

struct rng {
    uint64_t s[4];
};

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(struct rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* Uniform in [0, 1). */
static double rng_unif(struct rng *r)
{
    return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

/* Uniform in (0, 1], safe for log(). */
static double rng_unif_pos(struct rng *r)
{
    return ((double)(rng_next(r) >> 11) + 1.0) * 0x1.0p-53;
}

static double rng_range(struct rng *r, double lo, double hi)
{
    return lo + (hi - lo) * rng_unif(r);
}

/* Uniform integer in [0, n), n >= 1 (Lemire's multiply-shift; the tiny bias is irrelevant). */
static uint32_t rng_below(struct rng *r, uint32_t n)
{
    return (uint32_t)(((rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

static double rng_exp(struct rng *r, double mean)
{
    return -mean * log(rng_unif_pos(r));
}

/* Gamma(k, 1) for a small integer k: the sum of k unit exponentials. */
static double rng_gamma_int(struct rng *r, int k)
{
    double p = 1.0;
    for (int i = 0; i < k; i++)
        p *= rng_unif_pos(r);
    return -log(p);
}

static double rng_normal(struct rng *r)
{
    /* Box-Muller; one of the pair is thrown away to keep the generator stateless. */
    return sqrt(-2.0 * log(rng_unif_pos(r))) * cos(2.0 * M_PI * rng_unif(r));
}

/* ------------------------------------------------------------------------------------------ */
/* State                                                                                       */
/* ------------------------------------------------------------------------------------------ */

#define C_PENDING_SIGNUP (1u << 0) /* in the pool: not joined yet; first event will be signup */
#define C_UNSUBSCRIBED   (1u << 1)
#define C_PURCHASED      (1u << 2)
#define C_CLAIMED        (1u << 3) /* a referral chose it as its target */

/* One customer (48 bytes). */
struct cust {
    int64_t next_ms;   /* time of its next session event or signup; NEVER when it has no more */
    int64_t stop_ms;   /* silent churner: no session starts after this; NEVER otherwise */
    float gap_days;    /* mean gap between sessions at full activity, Zipf and scale applied */
    float activity;    /* Zipf multiplier */
    uint32_t referrer; /* index + 1 of the advocate who referred it; 0: none */
    uint16_t left;     /* events left in the current session */
    uint16_t n_questions;
    uint16_t n_complaints;
    uint8_t arch;
    uint8_t flags;
};

/* A scheduled follow-up: the business's reply or resolution, an unsubscribe, the first purchase
 * of a referred customer. */
struct followup {
    int64_t ts;
    uint64_t seq; /* insertion order: breaks ties so that the stream is deterministic */
    uint32_t cust;
    uint16_t refno;
    uint8_t type; /* enum rp_event_type */
};

struct hent {
    int64_t t;
    uint32_t c;
};

struct rp_gen {
    struct rp_gen_config cfg;
    struct rng rng;
    int64_t end_ms;
    struct cust *cust;
    uint32_t n;
    /* 4-ary min-heap of customers by (next_ms, index); room for n + pool_len entries */
    struct hent *heap;
    uint32_t heap_len;
    /* min-heap of follow-ups by (ts, seq) */
    struct followup *fu;
    size_t fu_len, fu_cap;
    uint64_t fu_seq;
    /* pool of customers who join during the span, latest organic join first; claimed from the
     * front by referrals */
    uint32_t *pool;
    uint32_t pool_len, pool_next;
    uint64_t prospects;                            /* referral targets who never come */
    double type_cum[RP_ARCH__COUNT][RP_EV__COUNT]; /* cumulative type weights */
    double hour_cum[24];
    uint64_t count;
    bool done;
};

/* ------------------------------------------------------------------------------------------ */
/* Config                                                                                      */
/* ------------------------------------------------------------------------------------------ */

void rp_gen_config_defaults(struct rp_gen_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->customers = 1000;
    cfg->seed = 1;
    cfg->start_ms = INT64_C(1767225600000); /* 2026-01-01T00:00:00Z */
    cfg->span_ms = 30 * MS_DAY;
    cfg->events = 0;
    memcpy(cfg->mix, default_mix, sizeof(default_mix));
    cfg->zipf_s = 0.8;
}

int rp_gen_mix_parse(struct rp_gen_config *cfg, const char *s, char *errstr, size_t errstr_size)
{
    double mix[RP_ARCH__COUNT];
    memcpy(mix, cfg->mix, sizeof(mix));
    if (strncmp(s, "only:", 5) == 0) {
        memset(mix, 0, sizeof(mix));
        s += 5;
    }
    while (*s) {
        const char *eq = strchr(s, '=');
        const char *comma = strchr(s, ',');
        if (!comma)
            comma = s + strlen(s);
        if (!eq || eq > comma) {
            snprintf(errstr, errstr_size, "mix: expected NAME=WEIGHT at '%.*s'", (int)(comma - s),
                     s);
            return RP_ERR_INVALID_ARG;
        }
        int a = rp_archetype_parse(s, (size_t)(eq - s));
        if (a < 0) {
            snprintf(errstr, errstr_size, "mix: unknown archetype '%.*s'", (int)(eq - s), s);
            return RP_ERR_INVALID_ARG;
        }
        char num[32];
        size_t nl = (size_t)(comma - eq - 1);
        if (nl == 0 || nl >= sizeof(num)) {
            snprintf(errstr, errstr_size, "mix: bad weight for %s", arch_names[a]);
            return RP_ERR_INVALID_ARG;
        }
        memcpy(num, eq + 1, nl);
        num[nl] = 0;
        char *endp;
        errno = 0;
        double w = strtod(num, &endp);
        if (errno || *endp || !(w >= 0) || !isfinite(w)) {
            snprintf(errstr, errstr_size, "mix: bad weight '%s' for %s", num, arch_names[a]);
            return RP_ERR_INVALID_ARG;
        }
        mix[a] = w;
        s = *comma ? comma + 1 : comma;
    }
    double sum = 0;
    for (int i = 0; i < RP_ARCH__COUNT; i++)
        sum += mix[i];
    if (!(sum > 0)) {
        snprintf(errstr, errstr_size, "mix: the weights sum to zero");
        return RP_ERR_INVALID_ARG;
    }
    memcpy(cfg->mix, mix, sizeof(mix));
    return RP_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Heaps                                                                                       */
/* ------------------------------------------------------------------------------------------ */

/*
 * The customer heap is 4-ary with the key stored inline ({time, index}, 16 bytes): the four
 * children of a node share one cache line and a sift-down never touches the customer records,
 * which is what dominates at a million customers. Decrease-key (a referral bringing a sign-up
 * forward) pushes a second entry; an entry whose time is no longer its customer's next_ms is
 * stale and skipped when it reaches the top.
 */
static inline bool hent_less(struct hent a, struct hent b)
{
    return a.t < b.t || (a.t == b.t && a.c < b.c);
}

static void cheap_up(struct rp_gen *g, uint32_t i)
{
    struct hent e = g->heap[i];
    while (i > 0) {
        uint32_t p = (i - 1) / 4;
        if (!hent_less(e, g->heap[p]))
            break;
        g->heap[i] = g->heap[p];
        i = p;
    }
    g->heap[i] = e;
}

static void cheap_down(struct rp_gen *g, uint32_t i)
{
    struct hent e = g->heap[i];
    uint32_t n = g->heap_len;
    for (;;) {
        uint32_t first = 4 * i + 1;
        if (first >= n)
            break;
        uint32_t m = first, last = first + 4 < n ? first + 4 : n;
        for (uint32_t k = first + 1; k < last; k++)
            if (hent_less(g->heap[k], g->heap[m]))
                m = k;
        if (!hent_less(g->heap[m], e))
            break;
        g->heap[i] = g->heap[m];
        i = m;
    }
    g->heap[i] = e;
}

static void cheap_push(struct rp_gen *g, uint32_t c)
{
    g->heap[g->heap_len] = (struct hent){g->cust[c].next_ms, c};
    g->heap_len++;
    cheap_up(g, g->heap_len - 1);
}

/* Removes the top entry. */
static void cheap_pop(struct rp_gen *g)
{
    g->heap_len--;
    if (g->heap_len > 0) {
        g->heap[0] = g->heap[g->heap_len];
        cheap_down(g, 0);
    }
}

/* Drops stale entries from the top; returns the time of the top customer's next event. */
static int64_t cheap_top(struct rp_gen *g)
{
    while (g->heap_len > 0 && g->heap[0].t != g->cust[g->heap[0].c].next_ms)
        cheap_pop(g);
    return g->heap_len ? g->heap[0].t : NEVER;
}

static inline bool fu_less(const struct followup *a, const struct followup *b)
{
    return a->ts < b->ts || (a->ts == b->ts && a->seq < b->seq);
}

/* Schedules a follow-up. The heap grows by doubling when full (rare: its size is bounded by the
 * open conversations), so this allocates nothing in the steady state. */
static int fu_push(struct rp_gen *g, int64_t ts, uint32_t c, enum rp_event_type type,
                   uint16_t refno)
{
    if (g->fu_len == g->fu_cap) {
        size_t cap = g->fu_cap * 2;
        struct followup *p = realloc(g->fu, cap * sizeof(*p));
        if (!p)
            return RP_ERR_NOMEM;
        g->fu = p;
        g->fu_cap = cap;
    }
    struct followup f = {
        .ts = ts, .seq = g->fu_seq++, .cust = c, .refno = refno, .type = (uint8_t)type};
    size_t i = g->fu_len++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!fu_less(&f, &g->fu[p]))
            break;
        g->fu[i] = g->fu[p];
        i = p;
    }
    g->fu[i] = f;
    return RP_OK;
}

static struct followup fu_pop(struct rp_gen *g)
{
    struct followup top = g->fu[0];
    struct followup last = g->fu[--g->fu_len];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1;
        if (l >= g->fu_len)
            break;
        size_t m = l;
        if (l + 1 < g->fu_len && fu_less(&g->fu[l + 1], &g->fu[l]))
            m = l + 1;
        if (!fu_less(&g->fu[m], &last))
            break;
        g->fu[i] = g->fu[m];
        i = m;
    }
    if (g->fu_len > 0)
        g->fu[i] = last;
    return top;
}

/* ------------------------------------------------------------------------------------------ */
/* Behaviour                                                                                   */
/* ------------------------------------------------------------------------------------------ */

/* Elapsed fraction of the span at `t` (may exceed 1 when --events runs past the span). */
static double span_frac(const struct rp_gen *g, int64_t t)
{
    double u = (double)(t - g->cfg.start_ms) / (double)g->cfg.span_ms;
    return u < 0 ? 0 : u;
}

/* Activity level of customer `c` at `t`, relative to its full activity: in (0, 1]. */
static double activity_at(const struct rp_gen *g, const struct cust *c, int64_t t)
{
    if (c->arch == RP_ARCH_DRIFTING)
        return exp(-DRIFT_RATE * span_frac(g, t));
    if (c->flags & C_UNSUBSCRIBED)
        return UNSUB_ACTIVITY;
    return 1.0;
}

/* A time of day in ms, drawn from the hourly profile. */
static int64_t sample_time_of_day(struct rp_gen *g)
{
    double u = rng_unif(&g->rng) * g->hour_cum[23];
    int h = 0;
    while (h < 23 && u >= g->hour_cum[h])
        h++;
    return h * MS_HOUR + (int64_t)(rng_unif(&g->rng) * (double)MS_HOUR);
}

static double hour_accept(const struct rp_gen *g, int64_t t)
{
    static const double max_w = 10.0; /* max of hour_weight */
    int64_t h = ((t % MS_DAY) + MS_DAY) % MS_DAY / MS_HOUR;
    (void)g;
    return hour_weight[h] / max_w;
}

/*
 * When customer `c` (last seen at `t`) starts its next session. Gaps of a day or more land on a
 * day drawn from the Gamma gap and at a time of day drawn from the daily profile, which keeps the
 * day-level regularity of steady customers; shorter gaps (heavy users) are Gamma gaps thinned by
 * the daily profile. Returns NEVER when the customer has stopped.
 */
static int64_t next_session(struct rp_gen *g, const struct cust *c, int64_t t)
{
    const struct arch_profile *p = &profiles[c->arch];
    double mean_days = c->gap_days / activity_at(g, c, t);
    if (c->arch == RP_ARCH_DRIFTING && mean_days < MAX_GAP_DAYS) /* the decay at mid-gap: no lag */
        mean_days =
            c->gap_days / activity_at(g, c, t + (int64_t)(0.5 * mean_days * (double)MS_DAY));
    if (!(mean_days < MAX_GAP_DAYS)) /* also catches an activity that underflowed to 0 */
        return NEVER;
    int64_t next;
    if (mean_days >= 1.0) {
        double gap = mean_days * rng_gamma_int(&g->rng, p->regularity) / p->regularity;
        int64_t target = t + (int64_t)(gap * (double)MS_DAY);
        int64_t day = target / MS_DAY;
        next = day * MS_DAY + sample_time_of_day(g);
        if (next <= t)
            next += MS_DAY;
    } else {
        /* thinning: candidates at the peak-hour rate, accepted by the hour's weight; the mean
         * acceptance is hour_mean/hour_max, so candidates come that much faster */
        double cand_days = mean_days * (g->hour_cum[23] / 24.0) / 10.0;
        next = t;
        do {
            double gap = cand_days * rng_gamma_int(&g->rng, p->regularity) / p->regularity;
            next += 1000 + (int64_t)(gap * (double)MS_DAY);
        } while (rng_unif(&g->rng) >= hour_accept(g, next));
    }
    if (next > c->stop_ms)
        return NEVER;
    return next;
}

/* Number of events in a new session: 1 + geometric, mean per_session. */
static uint16_t session_length(struct rp_gen *g, const struct cust *c)
{
    double extra = profiles[c->arch].per_session - 1.0;
    if (extra <= 0)
        return 1;
    /* geometric on {0, 1, ...} with mean `extra` */
    double q = extra / (1.0 + extra);
    uint16_t k = 1;
    while (k < 60 && rng_unif(&g->rng) < q)
        k++;
    return k;
}

static enum rp_event_type draw_type(struct rp_gen *g, const struct cust *c)
{
    const double *cum = g->type_cum[c->arch];
    double u = rng_unif(&g->rng) * cum[RP_EV__COUNT - 1];
    int t = 0;
    while (t < RP_EV__COUNT - 1 && u >= cum[t])
        t++;
    return (enum rp_event_type)t;
}

/* Writes the decimal digits of `v` at `out`; returns their number (1..20). snprintf costs more
 * than the rest of an event put together, and every event carries two or three numbers. */
static size_t put_dec(char *out, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

void rp_gen_cid(uint32_t i, struct rp_cid *cid)
{
    cid->bytes[0] = 'c';
    cid->len = (uint8_t)(1 + put_dec(cid->bytes + 1, i));
}

/* ref "<kind><customer>.<n>": q for questions and their replies, t for complaint tickets */
static void set_ref(struct rp_ref *ref, char kind, uint32_t cust, uint16_t n)
{
    size_t len = 0;
    ref->bytes[len++] = kind;
    len += put_dec(ref->bytes + len, cust);
    ref->bytes[len++] = '.';
    len += put_dec(ref->bytes + len, n);
    ref->len = (uint8_t)len;
}

static void set_channel(struct rp_event *ev, const char *ch)
{
    size_t n = strlen(ch);
    memcpy(ev->channel, ch, n);
    ev->channel_len = (uint8_t)n;
    ev->present |= RP_F_CHANNEL;
}

static double money(struct rng *r, double median, double sigma)
{
    double v = median * exp(sigma * rng_normal(r));
    return round(v * 100.0) / 100.0;
}

static void set_sentiment(struct rp_event *ev, double s)
{
    if (s > 1)
        s = 1;
    if (s < -1)
        s = -1;
    ev->sentiment = round(s * 100.0) / 100.0;
    ev->present |= RP_F_SENTIMENT;
}

/* How long the business takes to answer a question (ms); NEVER for ignored complainers. Most
 * answers come within hours, well inside the default 24 h SLA. */
static int64_t reply_delay(struct rp_gen *g, const struct cust *c)
{
    if (c->arch == RP_ARCH_IGNORED_COMPLAINER)
        return NEVER;
    if (c->arch == RP_ARCH_SERVED_COMPLAINER)
        return (int64_t)(rng_range(&g->rng, 0.25, 6.0) * (double)MS_HOUR);
    return (int64_t)(rng_range(&g->rng, 0.5, 16.0) * (double)MS_HOUR);
}

static int64_t resolution_delay(struct rp_gen *g, const struct cust *c)
{
    if (c->arch == RP_ARCH_IGNORED_COMPLAINER)
        return NEVER;
    if (c->arch == RP_ARCH_SERVED_COMPLAINER)
        return (int64_t)(rng_range(&g->rng, 1.0, 12.0) * (double)MS_HOUR);
    return (int64_t)(rng_range(&g->rng, 2.0, 48.0) * (double)MS_HOUR);
}

/* A referral by customer `ci` at `t`: picks its target and, when it converts, makes a pool
 * customer sign up soon (referred by `ci`). */
static void referral_target(struct rp_gen *g, uint32_t ci, int64_t t, struct rp_event *ev)
{
    if (rng_unif(&g->rng) < REFERRAL_CONVERSION) {
        while (g->pool_next < g->pool_len) {
            uint32_t j = g->pool[g->pool_next++];
            struct cust *cj = &g->cust[j];
            if (!(cj->flags & C_PENDING_SIGNUP) || cj->next_ms <= t)
                continue; /* joined on its own already */
            cj->flags |= C_CLAIMED;
            cj->referrer = ci + 1;
            int64_t join = t + MS_MIN * 10 + (int64_t)rng_exp(&g->rng, (double)MS_DAY);
            if (join < cj->next_ms) {
                cj->next_ms = join;
                cheap_push(g, j); /* decrease-key: the old entry is now stale */
            }
            rp_gen_cid(j, &ev->target);
            ev->present |= RP_F_TARGET;
            return;
        }
    }
    ev->target.bytes[0] = 'p';
    ev->target.len = (uint8_t)(1 + put_dec(ev->target.bytes + 1, ++g->prospects));
    ev->present |= RP_F_TARGET;
}

/* Fills the fields of a session event of type `type` by customer `ci` at `t`. */
static void fill_session_event(struct rp_gen *g, uint32_t ci, int64_t t, enum rp_event_type type,
                               struct rp_event *ev)
{
    struct cust *c = &g->cust[ci];
    struct rng *r = &g->rng;
    bool unhappy = c->arch == RP_ARCH_IGNORED_COMPLAINER;
    bool fan = c->arch == RP_ARCH_ADVOCATE;
    if (type == RP_EV_EMAIL_OPEN && (c->flags & C_UNSUBSCRIBED))
        type = RP_EV_VIEW; /* no more emails to open */
    if (type == RP_EV_ANSWER && g->n < 2)
        type = RP_EV_COMMENT;
    ev->type = type;
    switch (type) {
    case RP_EV_VIEW:
    case RP_EV_CLICK:
    case RP_EV_LOGIN:
    case RP_EV_LIKE:
        set_channel(ev, rng_unif(r) < 0.6 ? "web" : "app");
        break;
    case RP_EV_EMAIL_OPEN:
        set_channel(ev, "email");
        break;
    case RP_EV_COMMENT:
        set_channel(ev, "social");
        set_sentiment(ev, unhappy ? rng_range(r, -0.9, -0.2)
                          : fan   ? rng_range(r, 0.3, 1.0)
                                  : rng_range(r, -0.3, 0.6));
        break;
    case RP_EV_PURCHASE:
        ev->value = money(r, c->arch == RP_ARCH_TRANSACTIONAL ? 60.0 : 35.0, 0.7);
        ev->present |= RP_F_VALUE;
        set_channel(ev, rng_unif(r) < 0.15 ? "store" : rng_unif(r) < 0.6 ? "web" : "app");
        if (c->referrer && !(c->flags & C_PURCHASED)) {
            rp_gen_cid(c->referrer - 1, &ev->referrer);
            ev->present |= RP_F_REFERRER;
        }
        c->flags |= C_PURCHASED;
        break;
    case RP_EV_REFUND:
        ev->value = money(r, 30.0, 0.6);
        ev->present |= RP_F_VALUE;
        set_channel(ev, "web");
        break;
    case RP_EV_QUESTION: {
        uint16_t n = ++c->n_questions;
        set_ref(&ev->ref, 'q', ci, n);
        ev->present |= RP_F_REF;
        set_channel(ev, "support");
        if (unhappy)
            set_sentiment(ev, rng_range(r, -0.7, -0.1));
        int64_t d = reply_delay(g, c);
        if (d != NEVER)
            (void)fu_push(g, t + d, ci, RP_EV_REPLY, n); /* on NOMEM the question stays open */
        break;
    }
    case RP_EV_COMPLAINT: {
        uint16_t n = ++c->n_complaints;
        set_ref(&ev->ref, 't', ci, n);
        ev->present |= RP_F_REF;
        set_channel(ev, "support");
        set_sentiment(ev, unhappy ? rng_range(r, -0.95, -0.5) : rng_range(r, -0.6, -0.2));
        int64_t d = resolution_delay(g, c);
        if (d != NEVER)
            (void)fu_push(g, t + d, ci, RP_EV_RESOLUTION, n);
        break;
    }
    case RP_EV_REVIEW: {
        int s;
        if (fan)
            s = rng_unif(r) < 0.8 ? 5 : 4;
        else if (unhappy)
            s = 1 + (int)rng_below(r, 2);
        else if (c->arch == RP_ARCH_SERVED_COMPLAINER)
            s = 3 + (int)rng_below(r, 3);
        else
            s = 3 + (int)rng_below(r, 2) + (rng_unif(r) < 0.3 ? 1 : 0);
        ev->score = s;
        ev->present |= RP_F_SCORE;
        set_sentiment(ev, (s - 3) / 2.0);
        set_channel(ev, "web");
        break;
    }
    case RP_EV_NPS: {
        int s;
        if (fan)
            s = 9 + (int)rng_below(r, 2);
        else if (unhappy)
            s = (int)rng_below(r, 5);
        else if (c->arch == RP_ARCH_LOYAL)
            s = 7 + (int)rng_below(r, 3); /* mostly passives, a few promoters */
        else
            s = 5 + (int)rng_below(r, 4);
        ev->score = s;
        ev->present |= RP_F_SCORE;
        set_channel(ev, "email");
        break;
    }
    case RP_EV_MENTION:
        set_channel(ev, "social");
        set_sentiment(ev, unhappy ? rng_range(r, -0.95, -0.4)
                          : fan   ? rng_range(r, 0.4, 1.0)
                                  : rng_range(r, -0.4, 0.6));
        break;
    case RP_EV_SHARE:
        set_channel(ev, "social");
        break;
    case RP_EV_REFERRAL:
        set_channel(ev, rng_unif(r) < 0.5 ? "email" : "social");
        referral_target(g, ci, t, ev);
        break;
    case RP_EV_ANSWER: {
        uint32_t j = rng_below(r, g->n);
        if (j == ci)
            j = (j + 1) % g->n;
        rp_gen_cid(j, &ev->target);
        ev->present |= RP_F_TARGET;
        set_channel(ev, "web");
        break;
    }
    default:
        /* reply, resolution, signup and unsubscribe have zero weight in every profile */
        break;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Construction                                                                                */
/* ------------------------------------------------------------------------------------------ */

static double followup_share(enum rp_archetype a)
{
    const struct arch_profile *p = &profiles[a];
    if (a == RP_ARCH_IGNORED_COMPLAINER)
        return 0;
    double tot = 0;
    for (int t = 0; t < RP_EV__COUNT; t++)
        tot += p->mix[t];
    return (p->mix[RP_EV_QUESTION] + p->mix[RP_EV_COMPLAINT]) / tot;
}

/* Expected number of events of customer `c` in the span at its current gap_days: used to scale
 * activity to a requested event count (sessions over its active days, times events per session,
 * plus the replies and resolutions its questions and complaints bring). */
static double expected_events(const struct rp_gen *g, const struct cust *c, int64_t join_ms,
                              int64_t unsub_ms)
{
    const struct arch_profile *p = &profiles[c->arch];
    double span_days = (double)g->cfg.span_ms / (double)MS_DAY;
    double from = (double)(join_ms - g->cfg.start_ms) / (double)MS_DAY;
    double to = span_days;
    if (c->stop_ms != NEVER)
        to = (double)(c->stop_ms - g->cfg.start_ms) / (double)MS_DAY;
    if (to <= from)
        return 1; /* the signup */
    double active_days;
    if (c->arch == RP_ARCH_DRIFTING) {
        double k = DRIFT_RATE / span_days;
        active_days = (exp(-k * from) - exp(-k * to)) / k;
    } else if (unsub_ms != NEVER) {
        double u = (double)(unsub_ms - g->cfg.start_ms) / (double)MS_DAY;
        active_days = (u - from) + UNSUB_ACTIVITY * (to - u);
    } else {
        active_days = to - from;
    }
    double sessions = active_days / c->gap_days;
    return sessions * p->per_session * (1.0 + followup_share(c->arch));
}

struct join_order {
    int64_t join_ms;
    uint32_t idx;
};

static int join_cmp(const void *a, const void *b)
{
    const struct join_order *x = a, *y = b;
    /* latest join first; index breaks ties so that the order is the same everywhere */
    if (x->join_ms != y->join_ms)
        return x->join_ms > y->join_ms ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Gives every archetype its exact quota of the population (largest remainder), then shuffles. */
static void assign_archetypes(struct rp_gen *g)
{
    double sum = 0;
    for (int a = 0; a < RP_ARCH__COUNT; a++)
        sum += g->cfg.mix[a];
    uint32_t quota[RP_ARCH__COUNT], given = 0;
    double rem[RP_ARCH__COUNT];
    for (int a = 0; a < RP_ARCH__COUNT; a++) {
        double exact = (double)g->n * g->cfg.mix[a] / sum;
        quota[a] = (uint32_t)floor(exact);
        rem[a] = exact - quota[a];
        given += quota[a];
    }
    while (given < g->n) {
        int best = 0;
        for (int a = 1; a < RP_ARCH__COUNT; a++)
            if (rem[a] > rem[best])
                best = a;
        quota[best]++;
        rem[best] = -1;
        given++;
    }
    uint32_t i = 0;
    for (int a = 0; a < RP_ARCH__COUNT; a++)
        for (uint32_t k = 0; k < quota[a]; k++)
            g->cust[i++].arch = (uint8_t)a;
    for (uint32_t k = g->n - 1; k > 0; k--) {
        uint32_t j = rng_below(&g->rng, k + 1);
        uint8_t t = g->cust[k].arch;
        g->cust[k].arch = g->cust[j].arch;
        g->cust[j].arch = t;
    }
}

/* Zipf activity: a random rank per customer, weight (rank+1)^-s normalised to mean 1, mixed with
 * a floor and capped (see ZIPF_FLOOR). Uses g->pool as scratch for the rank permutation. */
static void assign_activity(struct rp_gen *g)
{
    uint32_t *perm = g->pool;
    for (uint32_t i = 0; i < g->n; i++)
        perm[i] = i;
    for (uint32_t k = g->n - 1; k > 0; k--) {
        uint32_t j = rng_below(&g->rng, k + 1);
        uint32_t t = perm[k];
        perm[k] = perm[j];
        perm[j] = t;
    }
    double s = g->cfg.zipf_s, sum = 0;
    for (uint32_t r = 0; r < g->n; r++)
        sum += pow((double)r + 1.0, -s);
    double mean = sum / g->n;
    for (uint32_t r = 0; r < g->n; r++) {
        double z = pow((double)r + 1.0, -s) / mean;
        double m = ZIPF_FLOOR + (1.0 - ZIPF_FLOOR) * z;
        g->cust[perm[r]].activity = (float)(m < ZIPF_CAP ? m : ZIPF_CAP);
    }
}

/* First session of a customer present from the start. */
static int64_t first_session(struct rp_gen *g, const struct cust *c)
{
    int64_t start = g->cfg.start_ms;
    if (c->gap_days < 1.0)
        return next_session(g, c, start);
    /* a uniform phase within one mean gap, as a renewal process that has run for a while: a
     * customer whose gap is longer than the span may well not show up in it at all */
    double off = rng_unif(&g->rng) * c->gap_days;
    if (off > MAX_GAP_DAYS)
        return NEVER;
    int64_t day = (start + (int64_t)(off * (double)MS_DAY)) / MS_DAY;
    int64_t t = day * MS_DAY + sample_time_of_day(g);
    if (t < start)
        t += MS_DAY;
    return t > c->stop_ms ? NEVER : t;
}

struct rp_gen *rp_gen_create(const struct rp_gen_config *cfg, char *errstr, size_t errstr_size)
{
#define FAIL(...)                                                                                  \
    do {                                                                                           \
        if (errstr_size)                                                                           \
            snprintf(errstr, errstr_size, __VA_ARGS__);                                            \
        rp_gen_destroy(g);                                                                         \
        return NULL;                                                                               \
    } while (0)
    struct rp_gen *g = NULL;
    if (cfg->customers < 1 || cfg->customers > UINT32_MAX / 2)
        FAIL("customers must be between 1 and %u", UINT32_MAX / 2);
    if (cfg->span_ms <= 0 || cfg->span_ms > 100 * 365 * MS_DAY)
        FAIL("the span must be positive and at most 100 years");
    if (cfg->start_ms < 0 || cfg->start_ms > RP_TS_MAX - 200 * 365 * MS_DAY)
        FAIL("the start time is out of range");
    if (!(cfg->zipf_s >= 0 && cfg->zipf_s <= 4))
        FAIL("the Zipf exponent must be in [0, 4]");
    double mix_sum = 0;
    for (int a = 0; a < RP_ARCH__COUNT; a++) {
        if (!(cfg->mix[a] >= 0 && isfinite(cfg->mix[a])))
            FAIL("mix weight of %s must be a finite number >= 0", arch_names[a]);
        mix_sum += cfg->mix[a];
    }
    if (!(mix_sum > 0))
        FAIL("the mix weights sum to zero");

    g = calloc(1, sizeof(*g));
    if (!g)
        FAIL("out of memory");
    g->cfg = *cfg;
    g->n = cfg->customers;
    g->end_ms = cfg->start_ms + cfg->span_ms;
    uint64_t sm = cfg->seed;
    for (int i = 0; i < 4; i++)
        g->rng.s[i] = splitmix64(&sm);
    g->cust = calloc(g->n, sizeof(*g->cust));
    /* every customer once, plus one decrease-key entry per pool customer at most */
    g->heap = calloc((size_t)g->n * 2, sizeof(*g->heap));
    g->pool = calloc(g->n, sizeof(*g->pool));
    g->fu_cap = g->n / 4 + 1024;
    g->fu = malloc(g->fu_cap * sizeof(*g->fu));
    if (!g->cust || !g->heap || !g->pool || !g->fu)
        FAIL("out of memory for %u customers", (unsigned)g->n);

    double acc = 0;
    for (int h = 0; h < 24; h++)
        g->hour_cum[h] = acc += hour_weight[h];
    for (int a = 0; a < RP_ARCH__COUNT; a++) {
        acc = 0;
        for (int t = 0; t < RP_EV__COUNT; t++)
            g->type_cum[a][t] = acc += profiles[a].mix[t];
    }

    assign_archetypes(g);
    assign_activity(g);

    /* per-customer timeline: pool joins, stops and unsubscribes */
    int64_t start = cfg->start_ms, span = cfg->span_ms;
    double expected = 0;
    for (uint32_t i = 0; i < g->n; i++) {
        struct cust *c = &g->cust[i];
        c->stop_ms = NEVER;
        c->gap_days = (float)(profiles[c->arch].gap_days / c->activity);
        int64_t join = start, unsub = NEVER;
        if (c->arch == RP_ARCH_SILENT_CHURNER)
            c->stop_ms = start + (int64_t)(rng_range(&g->rng, 0.30, 0.60) * (double)span);
        if (c->arch == RP_ARCH_UNSUBSCRIBER) {
            unsub = start + (int64_t)(rng_range(&g->rng, 0.35, 0.65) * (double)span);
            if (fu_push(g, unsub, i, RP_EV_UNSUBSCRIBE, 0) != RP_OK)
                FAIL("out of memory");
        }
        if ((c->arch == RP_ARCH_LOYAL || c->arch == RP_ARCH_TRANSACTIONAL ||
             c->arch == RP_ARCH_WINDOW_SHOPPER) &&
            rng_unif(&g->rng) < POOL_SHARE) {
            join = start + (int64_t)(rng_range(&g->rng, 0.10, 0.60) * (double)span);
            c->flags |= C_PENDING_SIGNUP;
            c->next_ms = join;
            g->pool[g->pool_len++] = i;
        }
        expected += expected_events(g, c, join, unsub);
    }
    if (cfg->events > 0) {
        /* scale every customer's activity so that about cfg->events fall in the span; sign-ups
         * and unsubscribes are one event each whatever the activity */
        double fixed = 0;
        for (uint32_t i = 0; i < g->n; i++)
            fixed +=
                (g->cust[i].flags & C_PENDING_SIGNUP) || g->cust[i].arch == RP_ARCH_UNSUBSCRIBER;
        double want = (double)cfg->events - fixed;
        if (want < 0.1 * (double)cfg->events)
            want = 0.1 * (double)cfg->events;
        double scale = want / (expected > 0 ? expected : 1);
        for (uint32_t i = 0; i < g->n; i++)
            g->cust[i].gap_days = (float)(g->cust[i].gap_days / scale);
    }
    for (uint32_t i = 0; i < g->n; i++) {
        struct cust *c = &g->cust[i];
        if (!(c->flags & C_PENDING_SIGNUP))
            c->next_ms = first_session(g, c);
    }
    if (g->pool_len > 0) {
        struct join_order *jo = malloc(g->pool_len * sizeof(*jo));
        if (!jo)
            FAIL("out of memory");
        for (uint32_t k = 0; k < g->pool_len; k++)
            jo[k] = (struct join_order){g->cust[g->pool[k]].next_ms, g->pool[k]};
        qsort(jo, g->pool_len, sizeof(*jo), join_cmp);
        for (uint32_t k = 0; k < g->pool_len; k++)
            g->pool[k] = jo[k].idx;
        free(jo);
    }
    for (uint32_t i = 0; i < g->n; i++)
        if (g->cust[i].next_ms != NEVER)
            cheap_push(g, i);
    return g;
#undef FAIL
}

void rp_gen_destroy(struct rp_gen *g)
{
    if (!g)
        return;
    free(g->cust);
    free(g->heap);
    free(g->pool);
    free(g->fu);
    free(g);
}

/* ------------------------------------------------------------------------------------------ */
/* The stream                                                                                  */
/* ------------------------------------------------------------------------------------------ */

/* Emits the follow-up at the top of its heap into `ev`. */
static void emit_followup(struct rp_gen *g, struct rp_event *ev)
{
    struct followup f = fu_pop(g);
    struct cust *c = &g->cust[f.cust];
    ev->ts_ms = f.ts;
    rp_gen_cid(f.cust, &ev->cid);
    switch ((enum rp_event_type)f.type) {
    case RP_EV_REPLY:
        ev->type = RP_EV_REPLY;
        set_ref(&ev->ref, 'q', f.cust, f.refno);
        ev->present |= RP_F_REF;
        set_channel(ev, "support");
        break;
    case RP_EV_RESOLUTION:
        ev->type = RP_EV_RESOLUTION;
        set_ref(&ev->ref, 't', f.cust, f.refno);
        ev->present |= RP_F_REF;
        set_channel(ev, "support");
        break;
    case RP_EV_UNSUBSCRIBE:
        ev->type = RP_EV_UNSUBSCRIBE;
        set_channel(ev, "email");
        c->flags |= C_UNSUBSCRIBED;
        break;
    default: /* RP_EV_PURCHASE: a referred customer's first purchase */
        fill_session_event(g, f.cust, f.ts, RP_EV_PURCHASE, ev);
        break;
    }
}

/* Emits the next event of the customer at the top of its heap into `ev` and reschedules it. */
static void emit_customer(struct rp_gen *g, struct rp_event *ev)
{
    uint32_t ci = g->heap[0].c;
    struct cust *c = &g->cust[ci];
    int64_t t = c->next_ms, next;
    ev->ts_ms = t;
    rp_gen_cid(ci, &ev->cid);
    if (c->flags & C_PENDING_SIGNUP) {
        c->flags &= (uint8_t)~C_PENDING_SIGNUP;
        ev->type = RP_EV_SIGNUP;
        set_channel(ev, "web");
        if (c->referrer) {
            rp_gen_cid(c->referrer - 1, &ev->referrer);
            ev->present |= RP_F_REFERRER;
            int64_t d = (int64_t)(rng_range(&g->rng, 5.0 / 60.0, 48.0) * (double)MS_HOUR);
            (void)fu_push(g, t + d, ci, RP_EV_PURCHASE, 0);
        }
        next = next_session(g, c, t);
    } else {
        if (c->left == 0)
            c->left = session_length(g, c);
        fill_session_event(g, ci, t, draw_type(g, c), ev);
        c->left--;
        if (c->left > 0)
            next = t + 1000 + (int64_t)rng_exp(&g->rng, 90000.0); /* seconds to minutes apart */
        else
            next = next_session(g, c, t);
    }
    c->next_ms = next;
    /* heap[0] is still this customer's entry: a referral above may have pushed another
     * customer's sign-up, but at least 10 minutes after `t`, so below the top */
    if (next == NEVER) {
        cheap_pop(g);
    } else {
        g->heap[0].t = next;
        cheap_down(g, 0);
    }
}

bool rp_gen_next(struct rp_gen *g, struct rp_event *ev)
{
    if (g->done)
        return false;
    if (g->cfg.events > 0 && g->count >= g->cfg.events) {
        g->done = true;
        return false;
    }
    int64_t ct = cheap_top(g);
    int64_t ft = g->fu_len ? g->fu[0].ts : NEVER;
    int64_t t = ft <= ct ? ft : ct;
    if (t == NEVER || (g->cfg.events == 0 && t >= g->end_ms)) {
        g->done = true;
        return false;
    }
    memset(ev, 0, sizeof(*ev));
    if (ft <= ct)
        emit_followup(g, ev);
    else
        emit_customer(g, ev);
    g->count++;
    ev->id.len = (uint8_t)put_dec(ev->id.bytes, g->count);
    ev->present |= RP_F_ID;
    return true;
}

uint64_t rp_gen_count(const struct rp_gen *g)
{
    return g->count;
}

uint32_t rp_gen_customers(const struct rp_gen *g)
{
    return g->n;
}

enum rp_archetype rp_gen_archetype(const struct rp_gen *g, uint32_t i)
{
    return (enum rp_archetype)g->cust[i].arch;
}

double rp_gen_activity(const struct rp_gen *g, uint32_t i)
{
    return g->cust[i].activity;
}

int64_t rp_gen_end_ms(const struct rp_gen *g)
{
    return g->end_ms;
}

int rp_gen_write_labels(const struct rp_gen *g, FILE *out)
{
    fprintf(out, "cid,archetype\n");
    for (uint32_t i = 0; i < g->n; i++)
        fprintf(out, "c%u,%s\n", (unsigned)i, arch_names[g->cust[i].arch]);
    return ferror(out) ? RP_ERR_IO : RP_OK;
}
