/* test_pipeline: the operators end to end: order independence, timers, SLA, signals, credits. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "customer_table.h"
#include "decay.h"
#include "pipeline.h"
#include "scoring.h"

#define DAY  RP_MS_DAY
#define HOUR RP_MS_HOUR
#define MIN  RP_MS_MIN
#define T0   (1767225600000LL) /* 2026-01-01T00:00:00Z */

/* ---- helpers ------------------------------------------------------------------------------ */

#define MAX_SIGS 4096
struct sink {
    struct rp_signal sig[MAX_SIGS];
    size_t n;
    struct rp_credit credit[64];
    size_t n_credits;
    int64_t now;
};

static void on_signal(void *opaque, const struct rp_signal *s)
{
    struct sink *k = opaque;
    cr_assert(k->n < MAX_SIGS);
    k->sig[k->n++] = *s;
}

static void on_credit(void *opaque, const struct rp_credit *c)
{
    struct sink *k = opaque;
    cr_assert(k->n_credits < 64);
    k->credit[k->n_credits++] = *c;
}

static int64_t now_ms(void *opaque)
{
    return ((struct sink *)opaque)->now++;
}

static struct rp_pipeline *mk(const struct rp_scoring_config *cfg, struct sink *k, bool route)
{
    struct rp_scoring_config def;
    if (!cfg) {
        rp_scoring_config_defaults(&def);
        cfg = &def;
    }
    memset(k, 0, sizeof(*k));
    struct rp_pipeline_hooks h = {.opaque = k,
                                  .on_signal = on_signal,
                                  .on_credit = route ? on_credit : NULL,
                                  .now_ms = now_ms};
    char err[256];
    struct rp_pipeline *p = rp_pipeline_create(cfg, &h, 16, err, sizeof(err));
    cr_assert(p, "%s", err);
    return p;
}

static struct rp_event ev(const char *cid, int64_t ts, enum rp_event_type type)
{
    struct rp_event e;
    memset(&e, 0, sizeof(e));
    cr_assert_eq(rp_cid_set(&e.cid, cid), RP_OK);
    e.ts_ms = ts;
    e.type = type;
    return e;
}

static void set_ref(struct rp_event *e, const char *ref)
{
    e->present |= RP_F_REF;
    e->ref.len = (uint8_t)strlen(ref);
    memcpy(e->ref.bytes, ref, e->ref.len);
}

/* Applies like `rapport score`: then moves the watermark to max ts - lateness. */
static enum rp_err feed(struct rp_pipeline *p, const struct rp_event *e, int64_t *max_ts)
{
    enum rp_err r = rp_pipeline_apply(p, e);
    if (r == RP_OK && e->ts_ms > *max_ts) {
        *max_ts = e->ts_ms;
        rp_pipeline_advance(p, *max_ts - 5 * MIN);
    }
    return r;
}

static struct rp_customer_view view(struct rp_pipeline *p, const char *cid, int64_t at)
{
    struct rp_cid c;
    rp_cid_set(&c, cid);
    struct rp_customer_view v;
    cr_assert_eq(rp_pipeline_view(p, &c, at, &v), RP_OK, "customer %s", cid);
    return v;
}

static bool cid_is(const struct rp_signal *s, const char *cid)
{
    return s->cid.len == strlen(cid) && memcmp(s->cid.bytes, cid, s->cid.len) == 0;
}

static size_t count(const struct sink *k, const char *cid, enum rp_signal_kind kind,
                    enum rp_transition tr)
{
    size_t n = 0;
    for (size_t i = 0; i < k->n; i++)
        if (cid_is(&k->sig[i], cid) && k->sig[i].kind == kind && k->sig[i].transition == tr)
            n++;
    return n;
}

static bool close_rel(double a, double b, double rel)
{
    return fabs(a - b) <= rel * fmax(fmax(fabs(a), fabs(b)), 1e-300) || a == b;
}

/* A deterministic mixed stream: 30 customers, 40 days, every event type but cross credits. */
static uint64_t rng_state;
static uint32_t rnd(void)
{
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(rng_state >> 33);
}

static size_t mixed_stream(struct rp_event *out, size_t cap)
{
    rng_state = 42;
    size_t n = 0;
    int64_t t = T0;
    int open_q[30] = {0}, open_c[30] = {0};
    int qstack[30][2], cstack[30];
    int next_ref = 0;
    while (n < cap) {
        t += 1 + rnd() % (90 * 1000); /* < 1.5 min apart */
        char cid[16];
        int who = (int)(rnd() % 30);
        snprintf(cid, sizeof(cid), "c%d", who);
        static const enum rp_event_type types[] = {
            RP_EV_VIEW,     RP_EV_CLICK,   RP_EV_LOGIN,     RP_EV_PURCHASE,   RP_EV_REFUND,
            RP_EV_QUESTION, RP_EV_REPLY,   RP_EV_COMPLAINT, RP_EV_RESOLUTION, RP_EV_REVIEW,
            RP_EV_NPS,      RP_EV_MENTION, RP_EV_SHARE,     RP_EV_ANSWER,     RP_EV_COMMENT};
        enum rp_event_type ty = types[rnd() % (sizeof(types) / sizeof(types[0]))];
        struct rp_event e = ev(cid, t, ty);
        char ref[16];
        switch (ty) {
        case RP_EV_PURCHASE:
        case RP_EV_REFUND:
            e.present |= RP_F_VALUE;
            e.value = 1 + rnd() % 200;
            break;
        case RP_EV_QUESTION:
        case RP_EV_REPLY:
            /* unique refs, replies only to open questions, at most 2 open: within the thread
             * bound (eviction when full is the one order-dependent part, documented) */
            if (ty == RP_EV_QUESTION ? open_q[who] >= 2 : open_q[who] == 0)
                continue;
            if (ty == RP_EV_QUESTION)
                qstack[who][open_q[who]++] = next_ref++;
            snprintf(ref, sizeof(ref), "q%d",
                     ty == RP_EV_QUESTION ? qstack[who][open_q[who] - 1]
                                          : qstack[who][--open_q[who]]);
            set_ref(&e, ref);
            break;
        case RP_EV_COMPLAINT:
        case RP_EV_RESOLUTION:
            if (ty == RP_EV_COMPLAINT ? open_c[who] >= 1 : open_c[who] == 0)
                continue;
            if (ty == RP_EV_COMPLAINT)
                cstack[who] = next_ref++;
            open_c[who] += ty == RP_EV_COMPLAINT ? 1 : -1;
            snprintf(ref, sizeof(ref), "k%d", cstack[who]);
            set_ref(&e, ref);
            break;
        case RP_EV_REVIEW:
            e.present |= RP_F_SCORE;
            e.score = 1 + (int)(rnd() % 5);
            break;
        case RP_EV_NPS:
            e.present |= RP_F_SCORE;
            e.score = (int)(rnd() % 11);
            break;
        default:
            break;
        }
        if (rnd() % 4 == 0) {
            e.present |= RP_F_SENTIMENT;
            e.sentiment = ((int)(rnd() % 201) - 100) / 100.0;
        }
        out[n++] = e;
    }
    return n;
}

static void expect_same_view(const struct rp_customer_view *a, const struct rp_customer_view *b,
                             double rel)
{
    const double fa[] = {a->churn_risk, a->advocate,         a->p_alive,        a->t_x_weeks,
                         a->T_weeks,    a->engagement_short, a->engagement_long};
    const double fb[] = {b->churn_risk, b->advocate,         b->p_alive,        b->t_x_weeks,
                         b->T_weeks,    b->engagement_short, b->engagement_long};
    for (size_t i = 0; i < sizeof(fa) / sizeof(fa[0]); i++)
        cr_expect(close_rel(fa[i], fb[i], rel), "%.*s field %zu: %.17g vs %.17g", a->cid.len,
                  a->cid.bytes, i, fa[i], fb[i]);
    cr_expect_eq(a->x, b->x);
    cr_expect_eq(a->segment, b->segment);
    cr_expect_eq(a->open_questions, b->open_questions);
    cr_expect_eq(a->open_complaints, b->open_complaints);
    cr_expect_eq(a->last_event_ms, b->last_event_ms);
    cr_expect_eq(a->n_churn_reasons, b->n_churn_reasons);
    cr_expect_eq(a->n_advocate_reasons, b->n_advocate_reasons);
    for (int i = 0; i < a->n_churn_reasons && i < b->n_churn_reasons; i++)
        cr_expect(close_rel(a->churn_reasons[i].weight, b->churn_reasons[i].weight, rel));
    for (int i = 0; i < a->n_advocate_reasons && i < b->n_advocate_reasons; i++)
        cr_expect(close_rel(a->advocate_reasons[i].weight, b->advocate_reasons[i].weight, rel));
}

struct views {
    struct rp_customer_view v[64];
    size_t n;
};
static void collect(void *opaque, const struct rp_customer_view *v)
{
    struct views *vs = opaque;
    cr_assert(vs->n < 64);
    vs->v[vs->n++] = *v;
}

/* ---- tests -------------------------------------------------------------------------------- */

Test(pipeline, shuffled_within_lateness_gives_the_same_state)
{
    enum { N = 6000 };
    static struct rp_event in[N], sh[N];
    size_t n = mixed_stream(in, N);
    cr_assert(n <= N);
    /* Shuffle inside blocks of events less than 5 minutes apart in event time: each event of a
     * block is at or after (block max - lateness), so it is never too late. */
    memcpy(sh, in, sizeof(in));
    rng_state = 7;
    for (size_t s = 0; s < n;) {
        size_t e = s;
        while (e < n && sh[e].ts_ms - sh[s].ts_ms < 5 * MIN)
            e++;
        for (size_t k = e - s; k > 1; k--) { /* i from e - 1 down to s + 1 */
            size_t i = s + k - 1;
            size_t j = s + rnd() % (i - s + 1);
            struct rp_event t = sh[i];
            sh[i] = sh[j];
            sh[j] = t;
        }
        s = e;
    }
    cr_assert(memcmp(in, sh, sizeof(in)) != 0, "the shuffle must change the order");
    static struct sink ka, kb;
    struct rp_pipeline *a = mk(NULL, &ka, false), *b = mk(NULL, &kb, false);
    int64_t ma = INT64_MIN, mb = INT64_MIN;
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(feed(a, &in[i], &ma), RP_OK);
        cr_assert_eq(feed(b, &sh[i], &mb), RP_OK, "event %zu refused", i);
    }
    cr_assert_eq(rp_pipeline_customers(a), rp_pipeline_customers(b));
    /* Compare every customer's state at the end and 3 days later (decay of every value). */
    for (int64_t later = 0; later <= 3 * DAY; later += 3 * DAY) {
        static struct views va, vb;
        va.n = vb.n = 0;
        rp_pipeline_foreach(a, ma + later, collect, &va);
        rp_pipeline_foreach(b, mb + later, collect, &vb);
        cr_assert_eq(va.n, vb.n);
        for (size_t i = 0; i < va.n; i++)
            expect_same_view(&va.v[i], &vb.v[i], 1e-9);
    }
    rp_pipeline_destroy(a);
    rp_pipeline_destroy(b);
}

Test(pipeline, ten_years_of_event_time_stay_finite_and_exact)
{
    static struct sink k;
    struct rp_scoring_config cfg;
    rp_scoring_config_defaults(&cfg);
    struct rp_pipeline *p = mk(&cfg, &k, false);
    int64_t m = INT64_MIN, t = T0;
    long double want_s = 0, want_l = 0;
    int days = 3653, purchases = 0;
    int64_t first_buy = 0, last_buy = 0;
    for (int d = 0; d < days; d++) {
        t = T0 + d * DAY + 9 * HOUR;
        struct rp_event e = ev("tenyears", t, RP_EV_LOGIN);
        cr_assert_eq(feed(p, &e, &m), RP_OK);
        if (d % 30 == 0) {
            struct rp_event b = ev("tenyears", t + MIN, RP_EV_PURCHASE);
            b.present |= RP_F_VALUE;
            b.value = 10;
            cr_assert_eq(feed(p, &b, &m), RP_OK);
            if (!purchases++)
                first_buy = d;
            last_buy = d;
        }
    }
    int64_t end = t + MIN;
    for (int d = 0; d < days; d++) { /* the exact decayed sums, in long double */
        long double age = (long double)(end - (T0 + d * DAY + 9 * HOUR));
        want_s += cfg.weight[RP_EV_LOGIN] * exp2l(-age / cfg.half_life_short_ms);
        want_l += cfg.weight[RP_EV_LOGIN] * exp2l(-age / cfg.half_life_long_ms);
    }
    struct rp_customer_view v = view(p, "tenyears", end);
    cr_expect(isfinite(v.churn_risk) && isfinite(v.advocate) && isfinite(v.p_alive));
    cr_expect(close_rel(v.engagement_short, (double)want_s, 1e-9), "%.17g vs %.17Lg",
              v.engagement_short, want_s);
    cr_expect(close_rel(v.engagement_long, (double)want_l, 1e-9), "%.17g vs %.17Lg",
              v.engagement_long, want_l);
    cr_expect_eq(v.x, (uint32_t)purchases - 1);
    cr_expect(fabs(v.t_x_weeks - (last_buy - first_buy) / 7.0) < 1e-12);
    cr_expect(v.segment == RP_SEG_ENGAGED, "segment %s", rp_segment_name(v.segment));
    cr_expect(v.churn_risk < 0.5, "a daily customer is not at risk: %f", v.churn_risk);
    /* then 10 years of silence: decays to 0, never NaN */
    rp_pipeline_advance(p, end + 3653 * DAY);
    v = view(p, "tenyears", end + 3653 * DAY);
    cr_expect(isfinite(v.engagement_short) && v.engagement_short >= 0 &&
              v.engagement_short < 1e-100);
    cr_expect(v.segment == RP_SEG_LAPSED, "segment %s", rp_segment_name(v.segment));
    cr_expect(count(&k, "tenyears", RP_KIND_CHURN_RISK, RP_TR_ENTER) == 1);
    rp_pipeline_destroy(p);
}

/* Only the unanswered-question component counts, and one overdue question enters. */
static void sla_config(struct rp_scoring_config *cfg)
{
    rp_scoring_config_defaults(cfg);
    cfg->w_engagement_drop = cfg->w_silence = 0;
    cfg->w_unanswered = 1.0; /* one question, when its SLA is missed: 0.6 */
    cfg->enter[RP_KIND_CHURN_RISK] = 0.55;
    cfg->exit[RP_KIND_CHURN_RISK] = 0.30;
}

Test(pipeline, question_unanswered_past_sla_fires_exactly_when_the_watermark_passes)
{
    struct rp_scoring_config cfg;
    sla_config(&cfg);
    static struct sink k;
    struct rp_pipeline *p = mk(&cfg, &k, false);
    int64_t m = INT64_MIN, asked = T0 + 3 * HOUR + 17 * 1000 + 5; /* not on a minute */
    struct rp_event q = ev("asker", asked, RP_EV_QUESTION);
    set_ref(&q, "t1");
    cr_assert_eq(feed(p, &q, &m), RP_OK);
    /* a second customer asks and is answered within the SLA */
    struct rp_event q2 = ev("served", asked + 1, RP_EV_QUESTION);
    set_ref(&q2, "t2");
    cr_assert_eq(feed(p, &q2, &m), RP_OK);
    struct rp_event r2 = ev("other", asked + cfg.answer_sla_ms - 1, RP_EV_VIEW);
    struct rp_event a2 = ev("served", asked + cfg.answer_sla_ms - 2 * MIN, RP_EV_REPLY);
    set_ref(&a2, "t2");
    cr_assert_eq(feed(p, &a2, &m), RP_OK);
    (void)r2;
    rp_pipeline_advance(p, asked + cfg.answer_sla_ms - 1);
    cr_expect_eq(k.n, 0, "nothing before asked + SLA");
    struct rp_customer_view v = view(p, "asker", asked + cfg.answer_sla_ms - 1);
    cr_expect_eq(v.churn_risk, 0.0);
    rp_pipeline_advance(p, asked + cfg.answer_sla_ms);
    cr_assert_eq(k.n, 1, "the watermark passed asked + SLA: one signal, got %zu", k.n);
    cr_expect(cid_is(&k.sig[0], "asker"));
    cr_expect_eq(k.sig[0].transition, RP_TR_ENTER);
    cr_expect_eq(k.sig[0].as_of_ms, asked + cfg.answer_sla_ms);
    cr_expect_eq(k.sig[0].reasons[0].code, RP_R_UNANSWERED_QUESTION);
    cr_expect(fabs(k.sig[0].score - 0.6) < 1e-12);
    /* the served customer never gets friction */
    rp_pipeline_advance(p, asked + 10 * cfg.answer_sla_ms);
    cr_expect_eq(count(&k, "served", RP_KIND_CHURN_RISK, RP_TR_ENTER), 0);
    v = view(p, "served", asked + 10 * cfg.answer_sla_ms);
    cr_expect_eq(v.churn_risk, 0.0);
    cr_expect_eq(v.open_questions, 0);
    /* a late reply closes it: exit */
    struct rp_event a1 = ev("asker", asked + 10 * cfg.answer_sla_ms, RP_EV_REPLY);
    set_ref(&a1, "t1");
    cr_assert_eq(feed(p, &a1, &m), RP_OK);
    cr_expect_eq(count(&k, "asker", RP_KIND_CHURN_RISK, RP_TR_EXIT), 1);
    rp_pipeline_destroy(p);
}

Test(pipeline, reply_before_question_closes_it)
{
    struct rp_scoring_config cfg;
    sla_config(&cfg);
    static struct sink k;
    struct rp_pipeline *p = mk(&cfg, &k, false);
    int64_t m = INT64_MIN;
    struct rp_event r = ev("x", T0 + MIN, RP_EV_REPLY), q = ev("x", T0, RP_EV_QUESTION);
    set_ref(&r, "z");
    set_ref(&q, "z");
    cr_assert_eq(feed(p, &r, &m), RP_OK);
    cr_assert_eq(feed(p, &q, &m), RP_OK); /* 1 minute late: within the lateness */
    rp_pipeline_advance(p, T0 + 5 * DAY);
    cr_expect_eq(k.n, 0);
    cr_expect_eq(view(p, "x", T0 + 5 * DAY).open_questions, 0);
    rp_pipeline_destroy(p);
}

Test(pipeline, silence_timer_fires_without_a_new_event)
{
    static struct sink k;
    struct rp_pipeline *p = mk(NULL, &k, false);
    int64_t m = INT64_MIN;
    for (int d = 0; d < 60; d++) { /* a daily visitor for two months */
        struct rp_event e = ev("quiet", T0 + d * DAY + 10 * HOUR, RP_EV_LOGIN);
        cr_assert_eq(feed(p, &e, &m), RP_OK);
        struct rp_event o = ev("busy", T0 + d * DAY + 11 * HOUR, RP_EV_LOGIN);
        cr_assert_eq(feed(p, &o, &m), RP_OK);
    }
    int64_t last = T0 + 59 * DAY + 10 * HOUR;
    /* "busy" goes on, "quiet" sends nothing more */
    for (int d = 60; d < 120; d++) {
        struct rp_event o = ev("busy", T0 + d * DAY + 11 * HOUR, RP_EV_LOGIN);
        cr_assert_eq(feed(p, &o, &m), RP_OK);
        if (d == 61)
            cr_expect_eq(count(&k, "quiet", RP_KIND_CHURN_RISK, RP_TR_ENTER), 0,
                         "not after one quiet day");
    }
    cr_assert_eq(count(&k, "quiet", RP_KIND_CHURN_RISK, RP_TR_ENTER), 1);
    cr_expect_eq(count(&k, "busy", RP_KIND_CHURN_RISK, RP_TR_ENTER), 0);
    const struct rp_signal *s = NULL;
    for (size_t i = 0; i < k.n; i++)
        if (cid_is(&k.sig[i], "quiet"))
            s = &k.sig[i];
    cr_assert(s);
    cr_expect(s->as_of_ms > last + 2 * DAY && s->as_of_ms < last + 30 * DAY, "as_of %lld",
              (long long)(s->as_of_ms - last));
    bool silence = false;
    for (int i = 0; i < s->n_reasons; i++)
        silence |= s->reasons[i].code == RP_R_SILENCE;
    cr_expect(silence, "SILENCE is a reason");
    cr_expect(s->score >= 0.70);
    cr_expect_eq(s->segment, RP_SEG_AT_RISK);
    cr_expect(rp_pipeline_stats(p)->timers_fired > 0);
    rp_pipeline_destroy(p);
}

Test(pipeline, ignored_complaint_enters_and_resolution_exits)
{
    static struct sink k;
    struct rp_pipeline *p = mk(NULL, &k, false);
    int64_t m = INT64_MIN;
    struct rp_event c = ev("angry", T0, RP_EV_COMPLAINT);
    set_ref(&c, "k1");
    cr_assert_eq(feed(p, &c, &m), RP_OK);
    struct rp_event c2 = ev("served", T0, RP_EV_COMPLAINT);
    set_ref(&c2, "k2");
    cr_assert_eq(feed(p, &c2, &m), RP_OK);
    struct rp_event r2 = ev("served", T0 + 6 * HOUR, RP_EV_RESOLUTION);
    set_ref(&r2, "k2");
    cr_assert_eq(feed(p, &r2, &m), RP_OK);
    /* 0.75 x age/72h reaches 0.70 at 67.2 h: the check is filed at that crossing (to the
     * minute), not at the 72 h SLA moment */
    int64_t cross = T0 + 672 * HOUR / 10;
    rp_pipeline_advance(p, cross - 1);
    cr_expect_eq(k.n, 0);
    rp_pipeline_advance(p, cross + MIN);
    cr_assert_eq(count(&k, "angry", RP_KIND_CHURN_RISK, RP_TR_ENTER), 1);
    cr_expect(k.sig[0].as_of_ms >= cross && k.sig[0].as_of_ms <= cross + MIN, "as_of %lld",
              (long long)(k.sig[0].as_of_ms - cross));
    cr_expect(k.sig[0].score >= 0.70 && k.sig[0].score < 0.7005, "score %f", k.sig[0].score);
    cr_expect_eq(k.sig[0].reasons[0].code, RP_R_OPEN_COMPLAINT);
    rp_pipeline_advance(p, T0 + 72 * HOUR);
    cr_expect_eq(count(&k, "served", RP_KIND_CHURN_RISK, RP_TR_ENTER), 0);
    struct rp_event r = ev("angry", T0 + 80 * HOUR, RP_EV_RESOLUTION);
    set_ref(&r, "k1");
    cr_assert_eq(feed(p, &r, &m), RP_OK);
    cr_expect_eq(count(&k, "angry", RP_KIND_CHURN_RISK, RP_TR_EXIT), 1);
    cr_expect_eq(k.sig[k.n - 1].episode, 1);
    rp_pipeline_destroy(p);
}

Test(pipeline, too_late_is_refused_and_changes_nothing)
{
    static struct sink k;
    struct rp_pipeline *p = mk(NULL, &k, false);
    int64_t m = INT64_MIN;
    struct rp_event e = ev("a", T0, RP_EV_VIEW);
    cr_assert_eq(feed(p, &e, &m), RP_OK);
    rp_pipeline_advance(p, T0 + HOUR);
    cr_expect_eq(rp_pipeline_watermark(p), T0 + HOUR);
    struct rp_event late = ev("b", T0 + HOUR - 1, RP_EV_VIEW);
    cr_expect_eq(rp_pipeline_apply(p, &late), RP_ERR_TOO_LATE);
    cr_expect_eq(rp_pipeline_customers(p), 1, "no customer created");
    struct rp_event late_a = ev("a", T0 + 1, RP_EV_PURCHASE);
    late_a.present |= RP_F_VALUE;
    late_a.value = 5;
    cr_expect_eq(rp_pipeline_apply(p, &late_a), RP_ERR_TOO_LATE);
    cr_expect_eq(view(p, "a", T0 + HOUR).x, 0);
    cr_expect_eq(rp_pipeline_stats(p)->too_late, 2);
    cr_expect_eq(rp_pipeline_stats(p)->applied, 1);
    struct rp_event ok = ev("b", T0 + HOUR, RP_EV_VIEW); /* at the watermark: accepted */
    cr_expect_eq(rp_pipeline_apply(p, &ok), RP_OK);
    rp_pipeline_advance(p, T0); /* the watermark never goes back */
    cr_expect_eq(rp_pipeline_watermark(p), T0 + HOUR);
    rp_pipeline_destroy(p);
}

static void advocate_acts(struct rp_pipeline *p, const char *cid, int64_t t, int n, int64_t *m)
{
    for (int i = 0; i < n; i++) {
        struct rp_event s = ev(cid, t + i * HOUR, RP_EV_SHARE);
        cr_assert_eq(feed(p, &s, m), RP_OK);
    }
}

Test(pipeline, referral_converts_across_customers)
{
    static struct sink k;
    struct rp_pipeline *p = mk(NULL, &k, false);
    int64_t m = INT64_MIN;
    struct rp_event r = ev("alice", T0, RP_EV_REFERRAL);
    r.present |= RP_F_TARGET;
    rp_cid_set(&r.target, "bob");
    cr_assert_eq(feed(p, &r, &m), RP_OK);
    struct rp_customer_view va = view(p, "alice", T0);
    cr_expect_eq(va.advocate_reasons[0].code, RP_R_REFERRALS);
    cr_expect_eq(va.n_advocate_reasons, 1);
    /* bob buys (no referrer field): alice gets REFERRALS_CONVERTED, once */
    for (int i = 0; i < 3; i++) {
        struct rp_event b = ev("bob", T0 + (1 + i) * DAY, RP_EV_PURCHASE);
        b.present |= RP_F_VALUE;
        b.value = 20;
        cr_assert_eq(feed(p, &b, &m), RP_OK);
    }
    va = view(p, "alice", T0 + 4 * DAY);
    cr_expect_eq(va.advocate_reasons[0].code, RP_R_REFERRALS_CONVERTED);
    struct rp_scoring_config d;
    rp_scoring_config_defaults(&d);
    double A = d.w_referral_converted * exp2(-3.0 * DAY / d.half_life_advocacy_ms) +
               d.w_referral * exp2(-4.0 * DAY / d.half_life_advocacy_ms);
    cr_expect(fabs(va.advocate - (1 - exp(-A / d.advocate_saturation))) < 1e-12,
              "converted once: %.12f", va.advocate);
    /* a purchase with an explicit referrer credits that referrer */
    struct rp_event c = ev("carol", T0 + 5 * DAY, RP_EV_PURCHASE);
    c.present |= RP_F_VALUE | RP_F_REFERRER;
    c.value = 1;
    rp_cid_set(&c.referrer, "dave");
    cr_assert_eq(feed(p, &c, &m), RP_OK);
    cr_expect_eq(view(p, "dave", T0 + 5 * DAY).advocate_reasons[0].code, RP_R_REFERRALS_CONVERTED);
    cr_expect_eq(rp_pipeline_stats(p)->credits_applied, 3); /* referred_by + 2 conversions */
    /* an answer to another customer counts for the one who answers */
    struct rp_event a = ev("erin", T0 + 6 * DAY, RP_EV_ANSWER);
    a.present |= RP_F_TARGET;
    rp_cid_set(&a.target, "bob");
    cr_assert_eq(feed(p, &a, &m), RP_OK);
    struct rp_customer_view ve = view(p, "erin", T0 + 6 * DAY);
    cr_expect_eq(ve.n_advocate_reasons, 1);
    cr_expect_eq(ve.advocate_reasons[0].code, RP_R_HELPED_OTHERS);
    rp_pipeline_destroy(p);
}

Test(pipeline, credits_are_routed_when_a_hook_is_given)
{
    static struct sink k;
    struct rp_pipeline *p = mk(NULL, &k, true);
    int64_t m = INT64_MIN;
    struct rp_event b = ev("bob", T0, RP_EV_PURCHASE);
    b.present |= RP_F_VALUE | RP_F_REFERRER;
    b.value = 3;
    rp_cid_set(&b.referrer, "alice");
    cr_assert_eq(feed(p, &b, &m), RP_OK);
    cr_assert_eq(k.n_credits, 1);
    cr_expect_eq(k.credit[0].kind, RP_CREDIT_REFERRAL_CONVERTED);
    cr_expect(k.credit[0].to.len == 5 && memcmp(k.credit[0].to.bytes, "alice", 5) == 0);
    cr_expect_eq(k.credit[0].ts_ms, T0);
    struct rp_cid alice;
    rp_cid_set(&alice, "alice");
    struct rp_customer_view v;
    cr_expect_eq(rp_pipeline_view(p, &alice, T0, &v), RP_ERR_NOT_FOUND, "not applied here");
    rp_pipeline_apply_credit(p, &k.credit[0]); /* what the owner of alice does */
    cr_expect_eq(rp_pipeline_view(p, &alice, T0, &v), RP_OK);
    cr_expect_eq(v.advocate_reasons[0].code, RP_R_REFERRALS_CONVERTED);
    rp_pipeline_destroy(p);
}

Test(pipeline, advocate_enters_and_is_held_down_by_an_open_complaint)
{
    static struct sink k;
    struct rp_pipeline *p = mk(NULL, &k, false);
    int64_t m = INT64_MIN;
    advocate_acts(p, "fan", T0, 12, &m); /* 12 shares x 0.5 = 6: 1 - e^-1.5 = 0.78 */
    cr_expect_eq(count(&k, "fan", RP_KIND_ADVOCATE, RP_TR_ENTER), 1);
    cr_expect_eq(view(p, "fan", T0 + DAY).segment, RP_SEG_ADVOCATE);
    int64_t t2 = T0 + DAY;
    struct rp_event c = ev("fan2", t2, RP_EV_COMPLAINT);
    set_ref(&c, "x");
    cr_assert_eq(feed(p, &c, &m), RP_OK);
    advocate_acts(p, "fan2", t2 + MIN, 12, &m);
    cr_expect_eq(count(&k, "fan2", RP_KIND_ADVOCATE, RP_TR_ENTER), 0, "held down");
    struct rp_event r = ev("fan2", t2 + 13 * HOUR, RP_EV_RESOLUTION);
    set_ref(&r, "x");
    cr_assert_eq(feed(p, &r, &m), RP_OK);
    cr_expect_eq(count(&k, "fan2", RP_KIND_ADVOCATE, RP_TR_ENTER), 1, "released");
    rp_pipeline_destroy(p);
}

/* The first signal of `kind` and `tr` for `cid` (NULL: none). */
static const struct rp_signal *find(const struct sink *k, const char *cid, enum rp_signal_kind kind,
                                    enum rp_transition tr, int nth)
{
    for (size_t i = 0; i < k->n; i++)
        if (cid_is(&k->sig[i], cid) && k->sig[i].kind == kind && k->sig[i].transition == tr &&
            nth-- == 0)
            return &k->sig[i];
    return NULL;
}

/* SPEC §2: "a customer ... whose question nobody answers must be signalled without a new event
 * from them", with the default weights: 0.75 x 0.6 = 0.45 when the 24 h SLA is missed, then
 * growing to 0.75 at 48 h: 0.70 at 44 h. */
Test(pipeline, a_question_nobody_answers_alone_enters_with_the_defaults)
{
    static struct sink k;
    struct rp_pipeline *p = mk(NULL, &k, false);
    struct rp_scoring_config d;
    rp_scoring_config_defaults(&d);
    int64_t m = INT64_MIN, asked = T0 + 7 * HOUR;
    struct rp_event q = ev("asker", asked, RP_EV_QUESTION);
    set_ref(&q, "q1");
    cr_assert_eq(feed(p, &q, &m), RP_OK);
    rp_pipeline_advance(p, asked + d.answer_sla_ms);
    cr_expect_eq(k.n, 0);
    cr_expect(fabs(view(p, "asker", asked + d.answer_sla_ms).churn_risk - 0.45) < 1e-12);
    int64_t cross = asked + d.answer_sla_ms + d.answer_sla_ms * 5 / 6; /* 44 h */
    rp_pipeline_advance(p, cross - MIN - 1);
    cr_expect_eq(k.n, 0, "nothing before 44 h");
    rp_pipeline_advance(p, asked + 30 * DAY);
    const struct rp_signal *s = find(&k, "asker", RP_KIND_CHURN_RISK, RP_TR_ENTER, 0);
    cr_assert(s, "no churn_risk enter for an unanswered question");
    cr_expect(s->as_of_ms >= cross - MIN && s->as_of_ms <= cross + MIN, "as_of - 44 h = %lld ms",
              (long long)(s->as_of_ms - cross));
    cr_expect_eq(s->reasons[0].code, RP_R_UNANSWERED_QUESTION);
    cr_expect(s->score >= 0.70 && s->score < 0.7005, "score %f", s->score);
    rp_pipeline_destroy(p);
}

/* SPEC §3 forbids a second enter *within* the cool-down: a score still at or above the enter
 * threshold when it ends enters then, with no event needed (churn_risk of a customer who
 * unsubscribed, who has no silence checks; advocate, which only falls with time). */
Test(pipeline, an_enter_held_back_by_the_cooldown_is_made_when_it_ends)
{
    static struct sink k;
    struct rp_pipeline *p = mk(NULL, &k, false);
    struct rp_scoring_config d;
    rp_scoring_config_defaults(&d);
    int64_t m = INT64_MIN;
    struct rp_event c = ev("leaver", T0, RP_EV_COMPLAINT);
    set_ref(&c, "k1");
    cr_assert_eq(feed(p, &c, &m), RP_OK);
    /* the fan: enters, a complaint holds the score down (exit), resolved an hour later */
    advocate_acts(p, "fan", T0, 12, &m);
    struct rp_event fc = ev("fan", T0 + DAY, RP_EV_COMPLAINT);
    set_ref(&fc, "f1");
    cr_assert_eq(feed(p, &fc, &m), RP_OK);
    struct rp_event fr = ev("fan", T0 + DAY + HOUR, RP_EV_RESOLUTION);
    set_ref(&fr, "f1");
    cr_assert_eq(feed(p, &fr, &m), RP_OK);
    struct rp_event r = ev("leaver", T0 + 80 * HOUR, RP_EV_RESOLUTION);
    set_ref(&r, "k1");
    cr_assert_eq(feed(p, &r, &m), RP_OK);
    struct rp_event u = ev("leaver", T0 + 4 * DAY, RP_EV_UNSUBSCRIBE);
    cr_assert_eq(feed(p, &u, &m), RP_OK);
    cr_expect_eq(count(&k, "fan", RP_KIND_ADVOCATE, RP_TR_EXIT), 1);
    cr_expect_eq(count(&k, "fan", RP_KIND_ADVOCATE, RP_TR_ENTER), 1, "held by the cool-down");
    cr_expect_eq(count(&k, "leaver", RP_KIND_CHURN_RISK, RP_TR_ENTER), 1,
                 "unsubscribed within the cool-down: held");
    rp_pipeline_advance(p, T0 + 60 * DAY);
    const struct rp_signal *e1 = find(&k, "leaver", RP_KIND_CHURN_RISK, RP_TR_ENTER, 0),
                           *e2 = find(&k, "leaver", RP_KIND_CHURN_RISK, RP_TR_ENTER, 1);
    cr_assert(e1 && e2, "the unsubscribed customer enters again when the cool-down ends");
    cr_expect_eq(e2->as_of_ms, e1->as_of_ms + d.cooldown_ms);
    cr_expect_eq(e2->reasons[0].code, RP_R_UNSUBSCRIBED);
    cr_expect_eq(e2->episode, 2);
    const struct rp_signal *a1 = find(&k, "fan", RP_KIND_ADVOCATE, RP_TR_ENTER, 0),
                           *a2 = find(&k, "fan", RP_KIND_ADVOCATE, RP_TR_ENTER, 1);
    cr_assert(a1 && a2, "the advocate enters again when the cool-down ends");
    cr_expect_eq(a2->as_of_ms, a1->as_of_ms + d.cooldown_ms);
    cr_expect(a2->score >= 0.70);
    rp_pipeline_destroy(p);
}

/* A credit from another customer's event fires the credited customer's due checks first, as
 * that customer's own event would: their signals keep their own time. */
Test(pipeline, a_credit_does_not_move_the_credited_customers_checks)
{
    static struct sink k;
    struct rp_pipeline *p = mk(NULL, &k, false);
    int64_t m = INT64_MIN;
    struct rp_event c = ev("alice", T0 + HOUR, RP_EV_COMPLAINT);
    set_ref(&c, "k1");
    cr_assert_eq(feed(p, &c, &m), RP_OK);
    /* bob's first purchase names alice as referrer, long after her check is due */
    struct rp_event b = ev("bob", T0 + 100 * HOUR, RP_EV_PURCHASE);
    b.present |= RP_F_VALUE | RP_F_REFERRER;
    b.value = 10;
    rp_cid_set(&b.referrer, "alice");
    cr_assert_eq(feed(p, &b, &m), RP_OK);
    cr_expect_eq(rp_pipeline_stats(p)->credits_applied, 1);
    const struct rp_signal *s = find(&k, "alice", RP_KIND_CHURN_RISK, RP_TR_ENTER, 0);
    cr_assert(s);
    int64_t cross = T0 + HOUR + 672 * HOUR / 10; /* her complaint alone: 67.2 h */
    cr_expect(s->as_of_ms >= cross && s->as_of_ms <= cross + MIN, "as_of - cross = %lld ms",
              (long long)(s->as_of_ms - cross));
    cr_expect(s->score >= 0.70 && s->score < 0.7005, "score %f", s->score);
    rp_pipeline_destroy(p);
}

/* An episode ends when its score falls below the exit threshold, however long that takes: the
 * checks of a customer in an episode do not stop after RP_SILENCE_MAX_GAPS of silence. */
Test(pipeline, an_episode_exits_by_decay_however_late)
{
    struct rp_scoring_config cfg;
    rp_scoring_config_defaults(&cfg);
    cfg.half_life_advocacy_ms = 1500 * DAY;
    static struct sink k;
    struct rp_pipeline *p = mk(&cfg, &k, false);
    int64_t m = INT64_MIN;
    for (int day = 0; day < 60; day++) { /* a daily visitor: a gap of about a day */
        struct rp_event e = ev("fan", T0 + day * DAY, RP_EV_LOGIN);
        cr_assert_eq(feed(p, &e, &m), RP_OK);
    }
    advocate_acts(p, "fan", T0 + 59 * DAY + HOUR, 12, &m);
    cr_assert_eq(count(&k, "fan", RP_KIND_ADVOCATE, RP_TR_ENTER), 1);
    /* 6 decays to 4 ln 2 (advocate 0.5) in log2(6 / 2.77) = 1.11 half-lives: ~1,670 days, far
     * beyond 1,000 gaps of silence */
    rp_pipeline_advance(p, T0 + 4000 * DAY);
    const struct rp_signal *s = find(&k, "fan", RP_KIND_ADVOCATE, RP_TR_EXIT, 0);
    cr_assert(s, "no advocate exit");
    cr_expect(s->as_of_ms > T0 + 1700 * DAY && s->as_of_ms < T0 + 1760 * DAY, "exit on day %lld",
              (long long)((s->as_of_ms - T0) / DAY));
    cr_expect(view(p, "fan", s->as_of_ms).advocate < 0.5);
    cr_expect(view(p, "fan", s->as_of_ms - MIN).advocate >= 0.5, "found to the minute");
    rp_pipeline_destroy(p);
}

/* An engagement event on a quiet customer is not evaluated; the next event that changes the
 * state keeps a copy of it, and its own evaluation, when it makes a transition, takes
 * previous_score from the skipped evaluation of that copy: the state as it was, not as the
 * event left it (here a refund that changes the purchase extension, with churn_risk's enter
 * threshold lowered so that the refund alone enters). */
Test(pipeline, previous_score_of_a_skipped_evaluation_is_of_the_state_before_the_event)
{
    static struct sink k;
    struct rp_scoring_config cfg;
    rp_scoring_config_defaults(&cfg);
    cfg.enter[RP_KIND_CHURN_RISK] = 0.30;
    cfg.exit[RP_KIND_CHURN_RISK] = 0.20;
    struct rp_pipeline *p = mk(&cfg, &k, false);
    int64_t m = INT64_MIN, t = 0;
    for (int d = 0; d < 40; d++) { /* a daily visitor who buys every fourth day */
        t = T0 + d * DAY + 9 * HOUR;
        struct rp_event e = ev("c", t, RP_EV_LOGIN);
        cr_assert_eq(feed(p, &e, &m), RP_OK);
        if (d % 4 == 0) {
            struct rp_event b = ev("c", t + MIN, RP_EV_PURCHASE);
            b.present |= RP_F_VALUE;
            b.value = 20;
            cr_assert_eq(feed(p, &b, &m), RP_OK);
        }
    }
    uint64_t skipped = rp_pipeline_stats(p)->evaluations_skipped;
    t += DAY;
    struct rp_event last = ev("c", t, RP_EV_LOGIN);
    cr_assert_eq(feed(p, &last, &m), RP_OK);
    cr_assert_eq(rp_pipeline_stats(p)->evaluations_skipped, skipped + 1,
                 "the last login is applied without an evaluation");
    /* the skipped evaluation: the state now, at the login's time */
    struct rp_customer_view before = view(p, "c", t);
    cr_assert(before.churn_risk < 0.30, "churn_risk %f", before.churn_risk);
    cr_assert_eq(k.n, 0);
    struct rp_event r = ev("c", t + HOUR, RP_EV_REFUND);
    r.present |= RP_F_VALUE;
    r.value = 5000;
    cr_assert_eq(feed(p, &r, &m), RP_OK);
    cr_assert_eq(count(&k, "c", RP_KIND_CHURN_RISK, RP_TR_ENTER), 1);
    const struct rp_signal *s = &k.sig[0];
    cr_expect_eq(s->as_of_ms, t + HOUR);
    cr_expect(s->score >= 0.30, "score %f", s->score);
    cr_expect(fabs(s->previous_score - before.churn_risk) <= 0.5 / 65535 + 1e-12,
              "previous_score %.6f, the skipped evaluation %.6f (after the refund at that time: "
              "%.6f)",
              s->previous_score, before.churn_risk, view(p, "c", t).churn_risk);
    rp_pipeline_destroy(p);
}

/* A daily visitor for 30 days who then goes silent: churn_risk enters (silence and the drop)
 * about 7.7 days after the last active day, and from then on the silence part alone keeps it
 * above its exit threshold, whatever the time: no check is filed (a hold). Returns the time of
 * silence checkpoint `gaps` (own gaps after the last active day), as MODEL.md defines them. */
static int64_t held_visitor(struct rp_pipeline *p, struct sink *k, int64_t *m, double gaps,
                            bool buyer)
{
    for (int d = 0; d < 30; d++) {
        struct rp_event e = ev("c", T0 + d * DAY + 9 * HOUR, RP_EV_LOGIN);
        cr_assert_eq(feed(p, &e, m), RP_OK);
        if (buyer && (d == 0 || d == 25)) { /* (x = 1: 1 - P(alive) keeps growing) */
            struct rp_event b = ev("c", T0 + d * DAY + 10 * HOUR, RP_EV_PURCHASE);
            b.present |= RP_F_VALUE;
            b.value = 30;
            cr_assert_eq(feed(p, &b, m), RP_OK);
        }
    }
    uint64_t holds = rp_pipeline_stats(p)->holds;
    rp_pipeline_advance(p, T0 + 40 * DAY);
    cr_assert_eq(count(k, "c", RP_KIND_CHURN_RISK, RP_TR_ENTER), 1);
    cr_assert_gt(rp_pipeline_stats(p)->holds, holds, "no hold");
    /* the mean gap: (span + 2 x 7 d) / (days - 1 + 2) */
    double g = (29.0 * DAY + 2 * 7.0 * DAY) / (30 - 1 + 2);
    return T0 + 30 * DAY + (int64_t)ceil(gaps * g);
}

/* A pipeline where one comment weighs enough to end a held visitor's episode. */
static struct rp_pipeline *mk_heavy_comment(struct sink *k)
{
    struct rp_scoring_config cfg;
    rp_scoring_config_defaults(&cfg);
    cfg.weight[RP_EV_COMMENT] = 100;
    return mk(&cfg, k, false);
}

/* The held visitor's comment at `t` ends the episode, with the score at `at_check` (the last
 * check the hold passed over) as previous_score. */
static void expect_exit_after_hold(struct rp_pipeline *p, struct sink *k, int64_t *m, int64_t t,
                                   double at_check)
{
    struct rp_event e = ev("c", t, RP_EV_COMMENT);
    cr_assert_eq(feed(p, &e, m), RP_OK);
    const struct rp_signal *s = find(k, "c", RP_KIND_CHURN_RISK, RP_TR_EXIT, 0);
    cr_assert(s, "no exit");
    cr_expect_eq(s->as_of_ms, t);
    cr_expect(fabs(s->previous_score - at_check) <= 0.5 / 65535 + 1e-12,
              "previous_score %.6f, churn_risk at the last check %.6f", s->previous_score,
              at_check);
}

/* A held customer's checks are not filed, yet previous_score of the transition an event makes
 * is the score at the last check that would have fired before the event (silence checkpoints
 * at 2, 6, 9, 13.5, 20.25 own gaps of ~1.39 days: the one at 13.5 gaps, 18.7 days after the last
 * active day; the event at 26 days, with a weight large enough to end the episode). */
Test(pipeline, previous_score_after_a_hold_is_of_the_last_check_it_passed_over)
{
    static struct sink k;
    struct rp_pipeline *p = mk_heavy_comment(&k);
    int64_t m = INT64_MIN;
    int64_t last_check = held_visitor(p, &k, &m, 13.5, false);
    int64_t t = T0 + 56 * DAY;
    uint64_t fired = rp_pipeline_stats(p)->timers_fired;
    rp_pipeline_advance(p, t - HOUR);
    cr_expect_eq(rp_pipeline_stats(p)->timers_fired, fired, "a held customer's checks fired");
    double at_check = view(p, "c", last_check).churn_risk;
    double before = view(p, "c", last_check - 3 * DAY).churn_risk,
           at_t = view(p, "c", t).churn_risk;
    /* (the scores at the checks around it differ: a wrong check would show) */
    cr_assert(fabs(at_check - before) > 0.01 && fabs(at_check - at_t) > 0.001,
              "churn_risk %.4f, 3 days before %.4f, at the event %.4f", at_check, before, at_t);
    expect_exit_after_hold(p, &k, &m, t, at_check);
    cr_expect_geq(rp_pipeline_stats(p)->held_checks, 3, "checks passed over: %llu",
                  (unsigned long long)rp_pipeline_stats(p)->held_checks);
    rp_pipeline_destroy(p);
}

/* The same more than 49.7 days after the customer's clock, past what stale_dt holds: the last
 * check passed over (45.5625 gaps, 63 days after the last active day) is evaluated when the hold
 * ends. A buyer, so that churn_risk still grows there (1 - P(alive)) and tells the checks apart. */
Test(pipeline, previous_score_after_a_long_hold_is_of_the_last_check_it_passed_over)
{
    static struct sink k;
    struct rp_pipeline *p = mk_heavy_comment(&k);
    int64_t m = INT64_MIN;
    int64_t last_check = held_visitor(p, &k, &m, 45.5625, true);
    int64_t t = T0 + 100 * DAY;
    cr_assert_gt(last_check - (T0 + 29 * DAY + 10 * HOUR), (int64_t)UINT32_MAX);
    double at_check = view(p, "c", last_check).churn_risk;
    double before = view(p, "c", T0 + 30 * DAY + 42 * DAY).churn_risk; /* the check before */
    cr_assert(fabs(at_check - before) > 0.001 && fabs(at_check - view(p, "c", t).churn_risk) > 1e-4,
              "churn_risk %.5f, at the check before %.5f, at the event %.5f", at_check, before,
              view(p, "c", t).churn_risk);
    expect_exit_after_hold(p, &k, &m, t, at_check);
    rp_pipeline_destroy(p);
}

/* A credit applies no reschedule: it ends a hold with the next check filed, which then fires
 * at its time as if the customer had never been held. */
Test(pipeline, a_credit_ends_a_hold_with_the_next_check_filed)
{
    static struct sink k;
    struct rp_pipeline *p = mk(NULL, &k, false);
    int64_t m = INT64_MIN;
    int64_t next = held_visitor(p, &k, &m, 20.25, false); /* the first check after the credit */
    struct rp_credit cr = {.kind = RP_CREDIT_REFERRED_BY, .ts_ms = T0 + 50 * DAY};
    rp_cid_set(&cr.to, "c");
    rp_cid_set(&cr.from, "friend");
    rp_pipeline_advance(p, T0 + 50 * DAY);
    rp_pipeline_apply_credit(p, &cr);
    uint64_t fired = rp_pipeline_stats(p)->timers_fired;
    rp_pipeline_advance(p, next - 1);
    cr_expect_eq(rp_pipeline_stats(p)->timers_fired, fired);
    rp_pipeline_advance(p, next);
    cr_expect_eq(rp_pipeline_stats(p)->timers_fired, fired + 1, "the check after the credit");
    rp_pipeline_destroy(p);
}

/* A table of one customer, "c", for tests that set its record by hand. */
static struct rp_cust *one_record(struct rp_ctable *t)
{
    cr_assert_eq(rp_ctable_init(t, 16), 0);
    bool created;
    uint32_t idx = rp_ctable_upsert(t, "c", 1, rp_ctable_hash("c", 1), &created);
    cr_assert_neq(idx, RP_NONE32);
    return rp_ctable_rec(t, idx);
}

/* The scores alone (rp_scoring_scores: what the searches for a transition's time evaluate) are
 * the bits of the full evaluation's: for customers with engagement alone, which have code of
 * their own there, and with extensions, from their last event to years after it. */
Test(pipeline, the_scores_alone_are_the_full_evaluations_bits)
{
    struct rp_scoring_config cfg;
    rp_scoring_config_defaults(&cfg);
    struct rp_ctable t;
    struct rp_cust *c = one_record(&t);
    uint64_t r = 88172645463325252ULL;
#define RND() (r ^= r << 13, r ^= r >> 7, r ^= r << 17, r)
    int compared = 0;
    for (int k = 0; k < 3000; k++) {
        if (k == 2000) { /* the rest with extensions: the full evaluation's own path */
            struct rp_ext_buy *b = rp_ctable_buy(&t, c, true);
            b->n_pdays = 3;
            b->pspan_days = 20;
            b->first_pday = rp_day_of(T0);
            b->clock_ms = T0 + 30 * DAY;
            b->money = 40;
            b->neg = 0.5;
            struct rp_ext_adv *a = rp_ctable_adv(&t, c, true);
            a->clock_ms = T0 + 25 * DAY;
            a->acts[RP_ACT_SHARE] = 2;
        }
        c->flags =
            (uint8_t)((k % 7 ? RP_CF_HAS_EVENTS : 0) | (k % 5 == 0 ? RP_CF_UNSUBSCRIBED : 0));
        c->clock_ms = T0 + (int64_t)(RND() % (200 * DAY));
        c->eng_short = (double)(RND() % 1000) / 100.0;
        c->eng_long = c->eng_short + (double)(RND() % 4000) / 100.0;
        int32_t last = rp_day_of(c->clock_ms);
        c->span_days = (uint16_t)(RND() % 150);
        c->first_day = last - c->span_days;
        c->n_days = (c->flags & RP_CF_HAS_EVENTS) ? (uint16_t)(1 + RND() % (c->span_days + 1)) : 0;
        for (int i = 0; i < 40; i++) {
            /* from the clock on: a minute apart to three years, spread on a log scale */
            int64_t at = c->clock_ms + (int64_t)exp2((double)(RND() % 3500) / 100.0);
            struct rp_score_parts full;
            struct rp_scores alone;
            rp_scoring_eval(&cfg, &t, c, at, &full);
            rp_scoring_scores(&cfg, &t, c, at, &alone);
            cr_assert(memcmp(&alone.churn, &full.churn, sizeof(double)) == 0 &&
                          memcmp(&alone.advocate, &full.advocate, sizeof(double)) == 0,
                      "state %d at +%lld ms: churn %.17g / %.17g, advocate %.17g / %.17g", k,
                      (long long)(at - c->clock_ms), alone.churn, full.churn, alone.advocate,
                      full.advocate);
            compared++;
        }
    }
#undef RND
    cr_expect_eq(compared, 3000 * 40);
    rp_ctable_fini(&t);
}

/* A deferred look-ahead finds its checkpoint again from the index that the next-check
 * computation gave (rp_scoring_silence_checkpoint), to the millisecond, for every checkpoint. */
Test(pipeline, a_silence_checkpoint_is_found_again_from_its_index)
{
    struct rp_scoring_config cfg;
    rp_scoring_config_defaults(&cfg);
    struct rp_ctable t;
    struct rp_cust *c = one_record(&t);
    const uint16_t spans[] = {0, 1, 9, 40, 300}, ns[] = {1, 2, 5, 13, 120};
    int seen = 0;
    for (size_t k = 0; k < sizeof(spans) / sizeof(spans[0]); k++) {
        c->flags = RP_CF_HAS_EVENTS | (k % 2 ? (uint8_t)(RP_CF_IN_EPISODE << RP_KIND_CHURN_RISK)
                                             : 0); /* (in an episode the checks go on) */
        c->first_day = rp_day_of(T0) - spans[k];
        c->span_days = spans[k];
        c->n_days = ns[k];
        c->eng_long = 50.0; /* (so that the silence checks exist outside an episode too) */
        c->eng_short = 1.0;
        c->clock_ms = T0;
        int64_t after = T0;
        for (int step = 0; step < 40; step++) {
            struct rp_score_parts s;
            rp_scoring_eval_inputs(&cfg, &t, c, after, &s);
            int i;
            int64_t due = rp_scoring_next_check_ex(&cfg, &t, c, after, &s, NULL, NULL, &i);
            if (due == INT64_MAX)
                break;
            cr_assert(i >= 0, "a silence checkpoint (no thread, no cool-down)");
            cr_assert_eq(rp_scoring_silence_checkpoint(&cfg, c, i), due, "span %u, checkpoint %d",
                         spans[k], i);
            seen++;
            after = due;
        }
    }
    cr_assert(seen > 20, "%d checkpoints", seen);
    rp_ctable_fini(&t);
}

/* Checks one first-touch decision (rp_scoring_first_touch) against the next-check computation
 * for a new customer with one engagement event of weight w at ts. */
static void check_first_touch(const struct rp_scoring_config *cfg, struct rp_ctable *t,
                              struct rp_cust *c, double w, int64_t ts, enum rp_first_touch ft)
{
    uint32_t cid_off = c->cid_off; /* (the record's cid, and its links before it, stay) */
    memset(c, 0, sizeof(*c));      /* (as apply_state leaves a new record: one event, one day) */
    c->cid_off = cid_off;
    c->flags = RP_CF_HAS_EVENTS;
    c->clock_ms = ts;
    c->eng_short = c->eng_long = w;
    c->first_day = rp_day_of(ts);
    c->n_days = 1;
    struct rp_score_parts s;
    rp_scoring_eval_inputs(cfg, t, c, ts, &s);
    double ever, at_due;
    int ckpt;
    int64_t due = rp_scoring_next_check_ex(cfg, t, c, ts, &s, &ever, &at_due, &ckpt);
    double enter = cfg->enter[RP_KIND_CHURN_RISK];
    if (ft == RP_FT_NO_CHECK) {
        cr_assert(due == INT64_MAX && ever < enter, "w %g at %lld: due %lld, bound %.12f", w,
                  (long long)(ts - (int64_t)c->first_day * DAY), (long long)due, ever);
    } else {
        cr_assert_eq(ft, RP_FT_CHECKPOINT);
        cr_assert(due == rp_scoring_silence_checkpoint(cfg, c, 0) && ckpt == 0 && ever >= enter &&
                      at_due < enter,
                  "w %g at %lld: due %lld, checkpoint %d, bounds %.12f %.12f", w,
                  (long long)(ts - (int64_t)c->first_day * DAY), (long long)due, ckpt, ever,
                  at_due);
    }
}

/* A new customer's first engagement event files what the next-check computation would, decided
 * ahead for its weight whatever its time of day (rp_scoring_first_touch), or is computed. */
Test(pipeline, a_first_touch_schedule_decided_ahead_is_the_computed_one)
{
    struct rp_ctable t;
    struct rp_cust *c = one_record(&t);
    /* times of day: both ends and between, on a few days */
    int64_t offs[40] = {0, 1, 60000, 6 * 3600000LL, 12 * 3600000LL, DAY - 60000, DAY - 1};
    uint64_t r = 12345;
    for (int i = 7; i < 40; i++) {
        r = r * 6364136223846793005ULL + 1442695040888963407ULL;
        offs[i] = (int64_t)((r >> 11) % (uint64_t)DAY);
    }
    /* the defaults, and a low enter threshold, where the bound up to checkpoint 0 reaches it
     * (a look-ahead or a deferral) for heavier first events */
    for (int variant = 0; variant < 2; variant++) {
        struct rp_scoring_config cfg;
        rp_scoring_config_defaults(&cfg);
        if (variant) {
            cfg.enter[RP_KIND_CHURN_RISK] = 0.2;
            cfg.exit[RP_KIND_CHURN_RISK] = 0.1;
        }
        int decided[3] = {0, 0, 0}, checked = 0;
        /* the default weights, and a sweep fine enough to pass where a decision changes */
        for (int k = -RP_EV__COUNT; k < 8000; k++) {
            double w = k < 0 ? cfg.weight[k + RP_EV__COUNT] : k * 0.0005;
            enum rp_first_touch ft = rp_scoring_first_touch(&cfg, w);
            decided[ft]++;
            if (ft == RP_FT_COMPUTE)
                continue;
            for (int d = 0; d < 3; d++)
                for (int i = 0; i < 40; i += k < 0 ? 1 : 13, checked++)
                    check_first_touch(&cfg, &t, c, w, T0 + d * 997 * DAY + offs[i], ft);
        }
        /* every default engagement weight is decided; the sweeps meet both decisions (the
         * defaults) and, between, weights whose decision depends on the time of day */
        static const enum rp_event_type eng[] = {RP_EV_VIEW,       RP_EV_CLICK, RP_EV_LOGIN,
                                                 RP_EV_EMAIL_OPEN, RP_EV_LIKE,  RP_EV_COMMENT,
                                                 RP_EV_SIGNUP};
        for (size_t i = 0; !variant && i < sizeof(eng) / sizeof(eng[0]); i++)
            cr_expect_neq(rp_scoring_first_touch(&cfg, cfg.weight[eng[i]]), RP_FT_COMPUTE,
                          "type %d", eng[i]);
        cr_expect(decided[RP_FT_CHECKPOINT] > 0 && decided[RP_FT_COMPUTE] > 0 &&
                      (variant || decided[RP_FT_NO_CHECK] > 0),
                  "variant %d: no check %d, checkpoint %d, computed %d", variant,
                  decided[RP_FT_NO_CHECK], decided[RP_FT_CHECKPOINT], decided[RP_FT_COMPUTE]);
        cr_expect(checked > 10000, "%d", checked);
        /* a short half-life makes some customers old enough for a drop within their first
         * day: not decided ahead */
        cfg.half_life_short_ms = 6 * 3600000LL;
        cr_expect_eq(rp_scoring_first_touch(&cfg, 1.0), RP_FT_COMPUTE);
    }
    rp_ctable_fini(&t);
}

Test(pipeline, segments)
{
    static struct sink k;
    struct rp_pipeline *p = mk(NULL, &k, false);
    int64_t m = INT64_MIN;
    int64_t now = T0 + 60 * DAY;
    for (int d = 0; d < 60; d++) {
        int64_t t = T0 + d * DAY;
        if (d % 2 == 0) {
            struct rp_event e = ev("engaged", t, RP_EV_LOGIN);
            cr_assert_eq(feed(p, &e, &m), RP_OK);
            struct rp_event c = ev("engaged", t + 1, RP_EV_COMMENT);
            cr_assert_eq(feed(p, &c, &m), RP_OK);
        }
        if (d % 10 == 0) {
            struct rp_event b = ev("buyer", t + 2, RP_EV_PURCHASE);
            b.present |= RP_F_VALUE;
            b.value = 30;
            cr_assert_eq(feed(p, &b, &m), RP_OK);
        }
        if (d == 10) {
            struct rp_event u = ev("gone", t + 3, RP_EV_UNSUBSCRIBE);
            cr_assert_eq(feed(p, &u, &m), RP_OK);
        }
        if (d == 20) {
            struct rp_event f = ev("fan", t + 4, RP_EV_LOGIN);
            cr_assert_eq(feed(p, &f, &m), RP_OK);
        }
        if (d == 50) {
            struct rp_event c = ev("risky", t + 5, RP_EV_COMPLAINT);
            set_ref(&c, "r");
            cr_assert_eq(feed(p, &c, &m), RP_OK);
            advocate_acts(p, "fan", t + 6, 12, &m);
        }
        if (d == 58) {
            struct rp_event n = ev("newbie", t + 7, RP_EV_SIGNUP);
            cr_assert_eq(feed(p, &n, &m), RP_OK);
        }
    }
    rp_pipeline_advance(p, now);
    cr_expect_eq(view(p, "engaged", now).segment, RP_SEG_ENGAGED);
    cr_expect_eq(view(p, "buyer", now).segment, RP_SEG_TRANSACTIONAL);
    cr_expect_eq(view(p, "newbie", now).segment, RP_SEG_NEW);
    cr_expect_eq(view(p, "gone", now).segment, RP_SEG_LAPSED);
    cr_expect_eq(view(p, "risky", now).segment, RP_SEG_AT_RISK);
    cr_expect_eq(view(p, "fan", now).segment, RP_SEG_ADVOCATE);
    cr_expect_eq(count(&k, "gone", RP_KIND_CHURN_RISK, RP_TR_ENTER), 1);
    cr_expect_eq(count(&k, "risky", RP_KIND_CHURN_RISK, RP_TR_ENTER), 1);
    cr_expect_eq(count(&k, "fan", RP_KIND_ADVOCATE, RP_TR_ENTER), 1);
    cr_expect_eq(count(&k, "engaged", RP_KIND_CHURN_RISK, RP_TR_ENTER), 0);
    rp_pipeline_destroy(p);
}

/* mixed_stream through one pipeline whose clock reads `clock0`, the watermark moved to max ts -
 * lateness after every `step` events (1: as `rapport score` does; 0: only at the end, as an
 * engine that advances per batch or idle tick may), then past every timer. */
/* The cache hints of an owner that decodes ahead (rp_pipeline_prefetch_hashed), as the worker
 * and bench_pipeline issue them, plus hints that are off: a record found for another event, none
 * at all, stages out of order. They must change nothing. Returns the record that stage 1 found
 * for event i (rp_pipeline_apply_hinted). */
static uint32_t hint(struct rp_pipeline *p, const struct rp_event *in, size_t n, size_t i,
                     uint32_t rec[])
{
    for (int stage = 0; stage < 4; stage++) {
        size_t j = i + (size_t)(3 - stage); /* stage 0 three events ahead, ..., stage 3 at i */
        if (j < n)
            rp_pipeline_prefetch_hashed(p, rp_pipeline_cid_hash(&in[j]), stage, &rec[j % 4]);
    }
    uint32_t off = i % 3 == 0 ? rec[(i + 1) % 4] : UINT32_MAX; /* another event's, or none */
    rp_pipeline_prefetch_hashed(p, rp_pipeline_cid_hash(&in[i]), 3 - (int)(i % 2), &off);
    uint32_t found = rec[i % 4];
    rec[i % 4] = UINT32_MAX; /* (the slot is reused three events on) */
    return found;
}

static size_t run_stream_ex(struct sink *k, int64_t clock0, size_t step, bool hinted)
{
    enum { N = 4000 };
    static struct rp_event in[N];
    size_t n = mixed_stream(in, N);
    cr_assert(n <= N);
    struct rp_pipeline *p = mk(NULL, k, false);
    k->now = clock0;
    int64_t m = INT64_MIN;
    uint32_t rec[4] = {UINT32_MAX, UINT32_MAX, UINT32_MAX, UINT32_MAX};
    for (size_t i = 0; i < n; i++) {
        if (hinted) {
            uint32_t found = hint(p, in, n, i, rec);
            /* the record apply is told of: the one stage 1 found, another event's, none, one
             * the table never gave (past the last, the pools' "none") */
            static const uint32_t bogus[] = {0x7ffffff0u, 0};
            uint32_t told = i % 4 == 0   ? found
                            : i % 4 == 1 ? rec[(i + 2) % 4]
                            : i % 4 == 2 ? UINT32_MAX
                                         : bogus[(i / 4) % 2];
            cr_assert_eq(rp_pipeline_apply_hinted(p, &in[i], rp_pipeline_cid_hash(&in[i]), told),
                         RP_OK);
        } else {
            cr_assert_eq(rp_pipeline_apply(p, &in[i]), RP_OK);
        }
        if (in[i].ts_ms > m)
            m = in[i].ts_ms;
        if (step && i % step == step - 1)
            rp_pipeline_advance(p, m - 5 * MIN);
    }
    rp_pipeline_advance(p, m + 60 * DAY);
    rp_pipeline_destroy(p);
    return k->n;
}

static size_t run_stream(struct sink *k, int64_t clock0, size_t step)
{
    return run_stream_ex(k, clock0, step, false);
}

Test(pipeline, cache_hints_change_nothing)
{
    static struct sink a, b;
    size_t na = run_stream_ex(&a, 0, 1, false), nb = run_stream_ex(&b, 0, 1, true);
    cr_assert(na > 5, "the stream must produce signals (%zu)", na);
    cr_assert_eq(na, nb);
    for (size_t i = 0; i < na; i++)
        cr_expect(memcmp(&a.sig[i], &b.sig[i], sizeof(a.sig[i])) == 0, "signal %zu differs", i);
}

Test(pipeline, determinism_same_events_same_signals_but_emitted_at)
{
    static struct sink a, b;
    size_t na = run_stream(&a, 1000, 1), nb = run_stream(&b, 999999, 1);
    cr_assert_eq(na, nb);
    cr_assert(na > 5, "the stream must produce signals (%zu)", na);
    for (size_t i = 0; i < na; i++) {
        struct rp_signal x = a.sig[i], y = b.sig[i];
        cr_expect_neq(x.emitted_at_ms, y.emitted_at_ms);
        x.emitted_at_ms = y.emitted_at_ms = 0;
        cr_expect(memcmp(&x, &y, sizeof(x)) == 0, "signal %zu differs", i);
        cr_expect_eq(x.signal_id, rp_signal_id(&x.cid, x.kind, x.episode, x.transition));
    }
}

static int cmp_signal(const void *a, const void *b)
{
    const struct rp_signal *x = a, *y = b;
    if (x->signal_id != y->signal_id)
        return x->signal_id < y->signal_id ? -1 : 1;
    return (x->as_of_ms > y->as_of_ms) - (x->as_of_ms < y->as_of_ms);
}

/* The engine moves the watermark per batch, `rapport score` per event: the signals may come in
 * another order across customers, never with other contents. */
Test(pipeline, signals_do_not_depend_on_how_often_the_watermark_moves)
{
    static struct sink a, b;
    size_t na = run_stream(&a, 0, 1);
    cr_assert(na > 5, "the stream must produce signals (%zu)", na);
    qsort(a.sig, na, sizeof(a.sig[0]), cmp_signal);
    const size_t steps[] = {7, 64, 1000, 0};
    for (size_t s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
        size_t nb = run_stream(&b, 0, steps[s]);
        cr_assert_eq(nb, na, "step %zu: %zu signals, %zu per event", steps[s], nb, na);
        qsort(b.sig, nb, sizeof(b.sig[0]), cmp_signal);
        for (size_t i = 0; i < na; i++) {
            const struct rp_signal *x = &a.sig[i], *y = &b.sig[i];
            cr_expect(x->signal_id == y->signal_id && x->as_of_ms == y->as_of_ms &&
                          x->score == y->score && x->previous_score == y->previous_score &&
                          x->segment == y->segment && x->n_reasons == y->n_reasons &&
                          x->episode == y->episode,
                      "step %zu: signal %zu differs", steps[s], i);
        }
    }
}
