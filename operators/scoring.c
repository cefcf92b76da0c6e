/* scoring: churn_risk, advocate, segment and their reasons, from one customer's state at a time. */
#include "scoring.h"

#include <math.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "bgnbd.h"
#include "decay.h"

/* ceil(v) for 0 <= v < 2^63, inline (libm's is a call here, in a loop per reschedule). */
static double ceil_pos(double v)
{
    if (!(v < 9.2e18))
        return ceil(v);
    int64_t i = (int64_t)v; /* truncation = floor for v >= 0 */
    return (double)(i + ((double)i < v));
}

/* v clamped to [0, 1]; NaN stays NaN, -0 stays -0. With SSE2 as maxsd and minsd, which give
 * exactly that (on a NaN or a tie they return their second operand, v): the same bits as the
 * compares, without their branches (some 25 clamps per event in bench_pipeline). */
static inline double clamp01(double v)
{
#ifdef __SSE2__
    __m128d x = _mm_max_sd(_mm_setzero_pd(), _mm_set_sd(v));
    return _mm_cvtsd_f64(_mm_min_sd(_mm_set_sd(1.0), x));
#else
    return v < 0 ? 0 : v > 1 ? 1 : v;
#endif
}

/* The customer's own typical gap between active days, in ms: a mean gap shrunk towards the
 * prior, (span + k * prior) / (n - 1 + k). Order-independent (first/last day and count only). */
static double gap_ms(const struct rp_scoring_config *cfg, const struct rp_cust *c)
{
    double k = RP_RHYTHM_PRIOR_DAYS_WEIGHT;
    return ((double)c->span_days * (double)RP_MS_DAY + k * (double)cfg->rhythm_prior_gap_ms) /
           ((double)c->n_days - 1.0 + k);
}

/* End (exclusive) of the last active UTC day, in ms. */
static int64_t last_active_end(const struct rp_cust *c)
{
    return ((int64_t)c->first_day + c->span_days + 1) * RP_MS_DAY;
}

static const struct rp_ext_buy *buy_of(const struct rp_ctable *t, const struct rp_cust *c)
{
    uint32_t i = rp_ctable_links(t, c)->buy;
    return i ? rp_ctable_buy_at(t, i) : NULL;
}
static const struct rp_ext_talk *talk_of(const struct rp_ctable *t, const struct rp_cust *c)
{
    uint32_t i = rp_ctable_links(t, c)->talk;
    return i ? rp_ctable_talk_at(t, i) : NULL;
}

static const struct rp_ext_sig *sig_of(const struct rp_ctable *t, const struct rp_cust *c)
{
    return c->sig ? rp_ctable_sig_at(t, c->sig) : NULL;
}

static const struct rp_ext_adv *adv_of(const struct rp_ctable *t, const struct rp_cust *c)
{
    uint32_t i = rp_ctable_links(t, c)->adv;
    return i ? rp_ctable_adv_at(t, i) : NULL;
}

/* The weighted decayed acts at `as_of`, each in Ai[], and their sum (one order of operations for
 * rp_scoring_eval and rp_scoring_advocate_at, so that the two give the same bits). */
static double advocacy_sum(const struct rp_scoring_config *cfg, const struct rp_ext_adv *a,
                           int64_t as_of, double Ai[RP_ACT__COUNT])
{
    const double w[RP_ACT__COUNT] = {
        [RP_ACT_REFERRAL_CONVERTED] = cfg->w_referral_converted,
        [RP_ACT_REFERRAL] = cfg->w_referral,
        [RP_ACT_SHARE] = cfg->w_share,
        [RP_ACT_HELPED] = cfg->w_helped,
        [RP_ACT_PROMOTER] = cfg->w_promoter,
        [RP_ACT_POSITIVE_REVIEW] = cfg->w_positive_review,
        [RP_ACT_POSITIVE_MENTION] = cfg->w_positive_mention,
    };
    double f = rp_decay_factor(as_of - a->clock_ms, cfg->half_life_advocacy_ms);
    double A = 0;
    for (int i = 0; i < RP_ACT__COUNT; i++) {
        Ai[i] = w[i] * a->acts[i] * f;
        A += Ai[i];
    }
    return A;
}

/* The advocate score of a weighted sum A > 0. */
static double advocate_of(const struct rp_scoring_config *cfg, double A, bool open_friction)
{
    double adv = 1.0 - exp(-A / cfg->advocate_saturation);
    if (open_friction)
        adv *= cfg->advocate_friction_hold;
    return clamp01(adv);
}

/* The engagement sums decayed to `as_of` (rp_decay_at for both). */
static inline void decayed_engagement(const struct rp_scoring_config *cfg, const struct rp_cust *c,
                                      int64_t as_of, double *eng_short, double *eng_long)
{
    double fs, fl;
    rp_decay_factor_pair(as_of - c->clock_ms, cfg->half_life_short_ms, cfg->half_life_long_ms, &fs,
                         &fl);
    *eng_short = c->eng_short * fs;
    *eng_long = c->eng_long * fl;
}

/* The engagement parts of churn_risk at `as_of` of a customer with an active day, from the sums
 * decayed to it: the drop into *drop (left as it is when there is none), silence in own gaps and
 * its part. One code for rp_scoring_eval and rp_scoring_scores (the same bits). */
static inline void engagement_parts(const struct rp_scoring_config *cfg, const struct rp_cust *c,
                                    int64_t as_of, double eng_short, double eng_long, double *drop,
                                    double *silence_gaps, double *silence)
{
    /* Rates are decayed sums over the decayed length of the observed history: a customer seen
     * for less than a half-life is not compared against an empty past. */
    int64_t tenure = as_of - (int64_t)c->first_day * RP_MS_DAY;
    if (tenure >= 2 * cfg->half_life_short_ms && eng_long > 0) {
        double ts = (double)tenure, hs = (double)cfg->half_life_short_ms,
               hl = (double)cfg->half_life_long_ms;
        /* Cheap bound first (the common case at an event): 1 - 2^-x >= min(x, 1) / 2, so the
         * expected short weight is at most e_up; when even that leaves the ratio at or above
         * RP_DROP_START there is no drop, and no exp2 to pay. */
        double x = ts / hl < 1.0 ? ts / hl : 1.0;
        double e_up = eng_long / (hl * x * 0.5) * hs;
        if (eng_short + RP_DROP_PSEUDO < RP_DROP_START * (e_up + RP_DROP_PSEUDO)) {
            double es, el;
            rp_exp2_pair(-ts / hs, -ts / hl, &es, &el);
            double win_s = hs * (1.0 - es), win_l = hl * (1.0 - el);
            /* The usual rate would put `expected` weight in the short window; the ratio is
             * shrunk towards 1 by RP_DROP_PSEUDO so that a customer with little activity is not
             * read as a drop when a few light touches happen not to come. */
            double expected = eng_long / win_l * win_s;
            double ratio = (eng_short + RP_DROP_PSEUDO) / (expected + RP_DROP_PSEUDO);
            *drop = cfg->w_engagement_drop *
                    clamp01((RP_DROP_START - ratio) / (RP_DROP_START - RP_DROP_FULL));
        }
    }
    /* silence against the customer's own rhythm */
    int64_t silent = as_of - last_active_end(c);
    *silence_gaps = silent > 0 ? (double)silent / gap_ms(cfg, c) : 0.0;
    *silence = cfg->w_silence * clamp01((*silence_gaps - cfg->silence_start_gaps) /
                                        (cfg->silence_full_gaps - cfg->silence_start_gaps));
}

/* What rp_scoring_eval and rp_scoring_eval_inputs share: the components that need no
 * transcendental function of time beyond the friction decay (one code path, so the two give the
 * same bits). */
#if defined(__GNUC__) && !defined(__clang__)
/* (keeps GCC from turning the zeroing loop below back into a memset, i.e. a `rep stos`) */
__attribute__((optimize("no-tree-loop-distribute-patterns")))
#endif
static void
eval_inputs(const struct rp_scoring_config *cfg, const struct rp_ctable *t, const struct rp_cust *c,
            int64_t as_of, struct rp_score_parts *out)
{
    /* (field by field, not memset: this runs for every event and check, and a memset of the
     * struct compiles to a `rep stos`, slow to start on this machine's AMD cores) */
    out->churn = out->advocate = 0.0;
    double *part = out->part;
    for (int r = 0; r < RP_R__COUNT; r++)
        part[r] = 0.0;
    out->p_alive = 1.0;
    out->x = 0;
    out->t_x_weeks = out->T_weeks = 0.0;
    out->eng_short = out->eng_long = 0.0;
    out->silence_gaps = 0.0;
    out->buyer = out->open_friction = false;
    out->fr = (struct rp_conv_friction){0};
    if (c->flags & RP_CF_HAS_EVENTS)
        decayed_engagement(cfg, c, as_of, &out->eng_short, &out->eng_long);

    /* purchases: BG/NBD inputs (P(alive) itself in rp_scoring_eval), refunds against spend */
    const struct rp_ext_buy *b = buy_of(t, c);
    if (b && b->n_pdays > 0) {
        out->buyer = true;
        out->x = b->n_pdays - 1u;
        double unit = (double)cfg->bgnbd_unit_ms;
        out->t_x_weeks = (double)b->pspan_days * (double)RP_MS_DAY / unit;
        int64_t T_days = (int64_t)rp_day_of(as_of) - b->first_pday;
        if (T_days < b->pspan_days)
            T_days = b->pspan_days;
        out->T_weeks = (double)T_days * (double)RP_MS_DAY / unit;
    }
    if (b && b->refunds > 0) /* same clock and half-life: the ratio needs no decay */
        part[RP_R_REFUNDS] = cfg->w_refunds * (b->refunds / (b->refunds + b->money));
    if (b && b->neg > 0) {
        double neg = rp_decay_at(b->neg, b->clock_ms, as_of, cfg->half_life_friction_ms);
        part[RP_R_NEGATIVE_SENTIMENT] = cfg->w_negative_sentiment * (1.0 - rp_exp2(-neg));
    }

    /* conversation friction */
    const struct rp_ext_talk *k = talk_of(t, c);
    if (k) {
        rp_conv_friction(k, as_of, cfg->answer_sla_ms, cfg->complaint_sla_ms, &out->fr);
        part[RP_R_UNANSWERED_QUESTION] = cfg->w_unanswered * out->fr.unanswered;
        part[RP_R_OPEN_COMPLAINT] = cfg->w_complaint * out->fr.complaint;
        out->open_friction = out->fr.open_complaints > 0 || out->fr.overdue_questions > 0;
    }
    if (c->flags & RP_CF_UNSUBSCRIBED)
        part[RP_R_UNSUBSCRIBED] = cfg->w_unsubscribed;
}

void rp_scoring_eval_inputs(const struct rp_scoring_config *cfg, const struct rp_ctable *t,
                            const struct rp_cust *c, int64_t as_of, struct rp_score_parts *out)
{
    eval_inputs(cfg, t, c, as_of, out);
    out->churn = NAN;
    out->advocate = NAN;
}

void rp_scoring_eval(const struct rp_scoring_config *cfg, const struct rp_ctable *t,
                     const struct rp_cust *c, int64_t as_of, struct rp_score_parts *out)
{
    eval_inputs(cfg, t, c, as_of, out);
    double *part = out->part;

    /* engagement and its drop (short-horizon rate against long-horizon rate), silence */
    if (c->n_days > 0)
        engagement_parts(cfg, c, as_of, out->eng_short, out->eng_long, &part[RP_R_ENGAGEMENT_DROP],
                         &out->silence_gaps, &part[RP_R_SILENCE]);

    /* purchases: BG/NBD P(alive) */
    if (out->buyer) {
        out->p_alive = rp_bgnbd_p_alive(cfg->bgnbd_r, cfg->bgnbd_alpha, cfg->bgnbd_a, cfg->bgnbd_b,
                                        out->x, out->t_x_weeks, out->T_weeks);
        if (out->x >= 1)
            part[RP_R_LOW_P_ALIVE] = cfg->w_low_p_alive * (1.0 - out->p_alive);
    }

    /* churn_risk: noisy-OR of the components */
    double keep = 1.0;
    for (int r = RP_R_ENGAGEMENT_DROP; r <= RP_R_UNSUBSCRIBED; r++)
        keep *= 1.0 - clamp01(part[r]);
    out->churn = clamp01(1.0 - keep);

    /* advocate: saturating sum of weighted decayed acts, held down by open friction */
    const struct rp_ext_adv *a = adv_of(t, c);
    if (a) {
        static const enum rp_reason_code code[RP_ACT__COUNT] = {
            RP_R_REFERRALS_CONVERTED, RP_R_REFERRALS, RP_R_SHARES,
            RP_R_HELPED_OTHERS,       RP_R_PROMOTER,  RP_R_POSITIVE_REVIEWS,
            RP_R_POSITIVE_REVIEWS,
        };
        double Ai[RP_ACT__COUNT];
        double A = advocacy_sum(cfg, a, as_of, Ai);
        if (A > 0) {
            out->advocate = advocate_of(cfg, A, out->open_friction);
            for (int i = 0; i < RP_ACT__COUNT; i++)
                part[code[i]] += out->advocate * Ai[i] / A;
        }
    }
}

void rp_scoring_scores(const struct rp_scoring_config *cfg, const struct rp_ctable *t,
                       const struct rp_cust *c, int64_t as_of, struct rp_scores *out)
{
    const struct rp_links *l = rp_ctable_links(t, c);
    if (l->buy | l->talk | l->adv) {
        struct rp_score_parts s;
        rp_scoring_eval(cfg, t, c, as_of, &s);
        out->churn = s.churn;
        out->advocate = s.advocate;
        return;
    }
    /* Engagement alone: rp_scoring_eval's other parts are 0, and each multiplies its noisy-OR
     * by exactly 1 (1 - clamp01(0)); there is no act, so no advocate. What is left is computed
     * by the same code, in the same order. */
    double es = 0.0, el = 0.0, drop = 0.0, gaps, sil = 0.0;
    if (c->flags & RP_CF_HAS_EVENTS)
        decayed_engagement(cfg, c, as_of, &es, &el);
    if (c->n_days > 0)
        engagement_parts(cfg, c, as_of, es, el, &drop, &gaps, &sil);
    double keep = 1.0;
    keep *= 1.0 - clamp01(drop);
    keep *= 1.0 - clamp01(sil);
    if (c->flags & RP_CF_UNSUBSCRIBED)
        keep *= 1.0 - clamp01(cfg->w_unsubscribed);
    out->churn = clamp01(1.0 - keep);
    out->advocate = 0.0;
}

double rp_scoring_advocate_at(const struct rp_scoring_config *cfg, const struct rp_ctable *t,
                              const struct rp_cust *c, int64_t at)
{
    const struct rp_ext_adv *a = adv_of(t, c);
    if (!a)
        return 0.0;
    double Ai[RP_ACT__COUNT];
    double A = advocacy_sum(cfg, a, at, Ai);
    if (!(A > 0))
        return 0.0;
    bool open_friction = false;
    const struct rp_ext_talk *k = talk_of(t, c);
    if (k) {
        struct rp_conv_friction fr;
        rp_conv_friction(k, at, cfg->answer_sla_ms, cfg->complaint_sla_ms, &fr);
        open_friction = fr.open_complaints > 0 || fr.overdue_questions > 0;
    }
    return advocate_of(cfg, A, open_friction);
}

double rp_scoring_churn_floor(const struct rp_score_parts *s)
{
    static const enum rp_reason_code grows[] = {
        RP_R_SILENCE,        RP_R_LOW_P_ALIVE, RP_R_UNANSWERED_QUESTION,
        RP_R_OPEN_COMPLAINT, RP_R_REFUNDS,     RP_R_UNSUBSCRIBED,
    };
    double keep = 1.0;
    for (size_t i = 0; i < sizeof(grows) / sizeof(grows[0]); i++)
        keep *= 1.0 - clamp01(s->part[grows[i]]);
    return clamp01(1.0 - keep);
}

enum rp_segment rp_scoring_segment(const struct rp_scoring_config *cfg, const struct rp_cust *c,
                                   const struct rp_score_parts *s, int64_t as_of)
{
    if (c->flags & RP_CF_UNSUBSCRIBED)
        return RP_SEG_LAPSED;
    if (c->n_days > 0 && s->silence_gaps >= cfg->lapsed_silence_gaps &&
        as_of - last_active_end(c) >= RP_LAPSED_MIN_SILENCE_MS)
        return RP_SEG_LAPSED;
    if (s->buyer && s->x >= 1 && s->p_alive < cfg->lapsed_p_alive)
        return RP_SEG_LAPSED;
    if ((c->flags & (RP_CF_IN_EPISODE << RP_KIND_CHURN_RISK)) ||
        s->churn >= cfg->enter[RP_KIND_CHURN_RISK])
        return RP_SEG_AT_RISK;
    if ((c->flags & (RP_CF_IN_EPISODE << RP_KIND_ADVOCATE)) ||
        s->advocate >= cfg->enter[RP_KIND_ADVOCATE])
        return RP_SEG_ADVOCATE;
    if (c->n_days == 0 || as_of - (int64_t)c->first_day * RP_MS_DAY < cfg->new_customer_ms)
        return RP_SEG_NEW;
    if (s->buyer && s->eng_long < RP_TRANSACTIONAL_MAX_LONG)
        return RP_SEG_TRANSACTIONAL;
    return RP_SEG_ENGAGED;
}

uint8_t rp_scoring_reasons(const struct rp_score_parts *s, enum rp_signal_kind kind,
                           struct rp_reason out[RP_SIGNAL_MAX_REASONS])
{
    int lo = kind == RP_KIND_CHURN_RISK ? RP_R_ENGAGEMENT_DROP : RP_R_REFERRALS_CONVERTED;
    int hi = kind == RP_KIND_CHURN_RISK ? RP_R_UNSUBSCRIBED : RP_R_POSITIVE_REVIEWS;
    uint8_t n = 0;
    for (int r = lo; r <= hi; r++) {
        double w = s->part[r];
        if (!(w > 1e-12))
            continue;
        /* insertion into the top list, largest first; equal weights keep code order */
        int i = n < RP_SIGNAL_MAX_REASONS ? n : RP_SIGNAL_MAX_REASONS;
        while (i > 0 && out[i - 1].weight < w) {
            if (i < RP_SIGNAL_MAX_REASONS)
                out[i] = out[i - 1];
            i--;
        }
        if (i < RP_SIGNAL_MAX_REASONS) {
            out[i].code = (enum rp_reason_code)r;
            out[i].weight = w;
            if (n < RP_SIGNAL_MAX_REASONS)
                n++;
        }
    }
    return n;
}

/* The churn bound is inlined where it is used: called with constant `until`, `stop` and
 * `with_silence` it is specialised for each call (rp_scoring_next_check_ex asks for two
 * bounds per reschedule, about 2 per event): 5 % fewer instructions per event in
 * bench_pipeline than as a call. */
#define INLINE_BOUND static inline __attribute__((always_inline))

/* What the churn bound computes from `after` alone, kept for a second bound from the same
 * evaluation (rp_scoring_next_check_ex asks for two). */
struct bound_cache {
    bool have_e, have_k;
    double e_num, e_den; /* the largest E that counts, e_num / e_den (e_den 0: infinite) */
    double keep0; /* what does not depend on `until`: negative sentiment, refunds, unsubscribed */
};

/*
 * The long window at a tenure `tl` of exactly 2 short half-lives, where the churn bound takes
 * the drop of every customer younger than that: hl * (1 - 2^(-tl / hl)), a function of the two
 * half-lives alone, kept from the last call (the same bits; 1 % of bench_pipeline's
 * instructions per event at 1 M customers, most of them first seen in the last two weeks).
 * Per thread: a pipeline, its configuration and its calls belong to one thread; another
 * configuration recomputes it.
 */
static double young_win_l(const struct rp_scoring_config *cfg, double tl)
{
    static _Thread_local struct {
        int64_t hs, hl;
        double win_l;
    } memo;
    if (memo.hs != cfg->half_life_short_ms || memo.hl != cfg->half_life_long_ms) {
        double hl = (double)cfg->half_life_long_ms;
        memo.win_l = hl * (1.0 - rp_exp2(-tl / hl));
        memo.hs = cfg->half_life_short_ms;
        memo.hl = cfg->half_life_long_ms;
    }
    return memo.win_l;
}

/* The drop's c in the churn bound, for the predicted short weight E = e_num / e_den (e_den 0:
 * infinite) and the short sum s_min: (START - ratio) / (START - FULL) with ratio =
 * (s_min + P) / (E + P), as one fraction (the three divisions were most of the bound's latency;
 * the bound is only compared, and rounding is covered by the hair added to E). Grows with E,
 * falls with s_min. */
static inline double drop_c(double e_num, double e_den, double s_min)
{
    double d = e_num + RP_DROP_PSEUDO * e_den;
    return clamp01((RP_DROP_START * d - (s_min + RP_DROP_PSEUDO) * e_den) /
                   ((RP_DROP_START - RP_DROP_FULL) * d));
}

INLINE_BOUND double churn_bound_ex(const struct rp_scoring_config *cfg, const struct rp_ctable *t,
                                   const struct rp_cust *c, int64_t after,
                                   const struct rp_score_parts *s, int64_t until, double stop,
                                   struct bound_cache *bc, bool with_silence)
{
    /* The parts are multiplied in order of cost; once the bound reaches `stop` (the threshold
     * the caller compares it with) the rest cannot bring it below, and are skipped. */
    if (!bc->have_k) {
        bc->keep0 = (1.0 - clamp01(s->part[RP_R_NEGATIVE_SENTIMENT])) *
                    (1.0 - clamp01(s->part[RP_R_REFUNDS])) *
                    (1.0 - clamp01(s->part[RP_R_UNSUBSCRIBED]));
        bc->have_k = true;
    }
    double keep = bc->keep0;
    if (until != INT64_MAX && (s->fr.open_complaints || s->fr.open_questions)) {
        /* the open threads at `until`, exactly (no thread opens or closes meanwhile) */
        struct rp_conv_friction fr;
        rp_conv_friction(talk_of(t, c), until, cfg->answer_sla_ms, cfg->complaint_sla_ms, &fr);
        keep *= 1.0 - cfg->w_complaint * fr.complaint;
        keep *= 1.0 - cfg->w_unanswered * fr.unanswered;
    } else {
        /* with no end, every open thread may come to weigh fully */
        if (s->fr.open_complaints)
            keep *= 1.0 - cfg->w_complaint;
        if (s->fr.open_questions)
            keep *= 1.0 - cfg->w_unanswered;
    }
    if (c->n_days > 0 && with_silence) {
        /* silence only grows: its value at `until` bounds it */
        double sil = 1.0;
        if (until != INT64_MAX) {
            int64_t silent = until - last_active_end(c);
            double gaps = silent > 0 ? (double)silent / gap_ms(cfg, c) : 0.0;
            sil = clamp01((gaps - cfg->silence_start_gaps) /
                          (cfg->silence_full_gaps - cfg->silence_start_gaps));
        }
        keep *= 1.0 - cfg->w_silence * sil;
    }
    if (1.0 - keep >= stop)
        return 1.0 - keep; /* (the costlier parts last, skipped when the answer is known) */
    /* The drop counts only from 2 short half-lives of tenure on (rp_scoring_eval), and tenure
     * only grows: when it is still shorter than that at `until`, the drop is 0 throughout. */
    bool drop_possible = until == INT64_MAX ||
                         until - (int64_t)c->first_day * RP_MS_DAY >= 2 * cfg->half_life_short_ms;
    if (s->eng_long > 0 && c->n_days > 0 && drop_possible) {
        /* While silent the short sum only decays (smallest at `until`), and the short weight
         * the long rate predicts, E(t) = L(t) / win_l(t) * win_s(t), only falls: d ln E / dt =
         * -ln2/h_l + g(h_s) - g(h_l) with g(h) = (ln2/h) / (2^(T/h) - 1) = (1/T) u / (e^u - 1),
         * u = T ln2 / h, and u / (e^u - 1) falls as u grows, so g(h_s) <= g(h_l). Its largest
         * value that counts is at `after`, or where the drop starts to count if that is later
         * (a hair more, for rounding). */
        double hs = (double)cfg->half_life_short_ms, hl = (double)cfg->half_life_long_ms;
        if (!bc->have_e) {
            /* (before 2 short half-lives of tenure there is no drop: E from there on) */
            int64_t first = (int64_t)c->first_day * RP_MS_DAY;
            int64_t from = first + 2 * cfg->half_life_short_ms;
            double L = s->eng_long; /* (the long sum at `after`, decayed to `from` if later) */
            bool young = from > after;
            if (young)
                L *= rp_exp2(-(double)(from - after) / hl);
            else
                from = after;
            double tl = (double)(from - first);
            double win_l, win_s;
            if (young) { /* (tl is 2 short half-lives: the same windows every time) */
                win_l = young_win_l(cfg, tl);
                win_s = hs * (1.0 - 0.25); /* (rp_exp2(-2) is exactly 0.25) */
            } else {
                double el, es;
                rp_exp2_pair(-tl / hl, -tl / hs, &el, &es);
                win_l = hl * (1.0 - el), win_s = hs * (1.0 - es);
            }
            /* E = L / win_l * win_s (a hair more), kept as a fraction (below) */
            bc->e_num = L * win_s * (1.0 + 1e-9);
            bc->e_den = win_l > 0 ? win_l : 0.0;
            bc->have_e = true;
        }
        double s_min = 0.0;
        if (until != INT64_MAX)
            s_min = s->eng_short * rp_exp2(-(double)(until - after) / hs);
        keep *= 1.0 - cfg->w_engagement_drop * drop_c(bc->e_num, bc->e_den, s_min);
    }
    if (1.0 - keep >= stop)
        return 1.0 - keep;
    if (s->buyer && s->x >= 1) {
        /* P(alive) only falls as T grows: its value at `until` bounds it */
        double p = 0.0;
        if (until != INT64_MAX) {
            double T = s->T_weeks + (double)(until - after) / (double)cfg->bgnbd_unit_ms + 1.0 / 7;
            p = rp_bgnbd_p_alive(cfg->bgnbd_r, cfg->bgnbd_alpha, cfg->bgnbd_a, cfg->bgnbd_b, s->x,
                                 s->t_x_weeks, T);
        }
        keep *= 1.0 - cfg->w_low_p_alive * (1.0 - p);
    }
    return 1.0 - keep;
}

INLINE_BOUND double churn_bound(const struct rp_scoring_config *cfg, const struct rp_ctable *t,
                                const struct rp_cust *c, int64_t after,
                                const struct rp_score_parts *s, int64_t until, double stop,
                                struct bound_cache *bc)
{
    return churn_bound_ex(cfg, t, c, after, s, until, stop, bc, true);
}

int64_t rp_scoring_churn_enter_not_before(const struct rp_scoring_config *cfg,
                                          const struct rp_ctable *t, const struct rp_cust *c,
                                          int64_t after, const struct rp_score_parts *s,
                                          int64_t until)
{
    if (c->n_days == 0 || !(cfg->w_silence > 0) || until <= after)
        return after;
    struct bound_cache bc = {0};
    /* K: the keep of every part but silence, at its smallest over (after, until] */
    double K = 1.0 - churn_bound_ex(cfg, t, c, after, s, until, INFINITY, &bc, false);
    double enter = cfg->enter[RP_KIND_CHURN_RISK];
    /* 1 - K (1 - w_silence sil) >= enter  <=>  sil >= sigma */
    double sigma = K > 0 ? (1.0 - (1.0 - enter) / K) / cfg->w_silence : -1.0;
    if (!(sigma > 0 && sigma <= 1))
        return after; /* the other parts may reach it alone (or rounding at the edge) */
    double s0 = cfg->silence_start_gaps, s1 = cfg->silence_full_gaps;
    double when = (double)last_active_end(c) + (s0 + sigma * (s1 - s0)) * gap_ms(cfg, c);
    if (!(when < 9.2e18))
        return until;
    int64_t lb = (int64_t)when - 1; /* (a millisecond short of the solution: rounding) */
    return lb <= after ? after : lb > until ? until : lb;
}

enum rp_first_touch rp_scoring_first_touch(const struct rp_scoring_config *cfg, double w)
{
    /* The state after the event: one active day d, no span, eng_short = eng_long = w as of the
     * event's time d * DAY + delta (0 <= delta < DAY), nothing else. The next-check computation
     * reads delta in two places only: the long sum taken to 2 short half-lives of tenure
     * (L = w 2^(-(2 h_s - delta) / h_l), larger for a larger delta; young throughout when
     * 2 h_s >= DAY), and the short sum at checkpoint 0 (s = w 2^(-(DAY + ck - delta) / h_s),
     * larger too). The drop's c grows with L and falls with s: its bounds over the day come
     * from the ends. m: a margin far above rounding. */
    const double m = 1e-9;
    double enter = cfg->enter[RP_KIND_CHURN_RISK];
    int64_t hs_ms = cfg->half_life_short_ms;
    if (2 * hs_ms < RP_MS_DAY || !(w >= 0))
        return RP_FT_COMPUTE;
    double hs = (double)hs_ms, hl = (double)cfg->half_life_long_ms;
    double win_l = young_win_l(cfg, (double)(2 * hs_ms)), win_s = hs * (1.0 - 0.25);
    double L_lo = w * rp_exp2(-(double)(2 * hs_ms) / hl) * (1.0 - m);
    double L_hi = w * rp_exp2(-(double)(2 * hs_ms - RP_MS_DAY) / hl) * (1.0 + m);
    /* E = L / win_l * win_s with its hair, as churn_bound_ex keeps it */
    double e_den = win_l > 0 ? win_l : 0.0;
    double e_lo = L_lo * win_s * (1.0 + 1e-9), e_hi = L_hi * win_s * (1.0 + 1e-9);

    /* Silence checks at all: the bound with no end (silence full), as churn_bound_ex has it. */
    double keep = 1.0;
    keep *= 1.0 - cfg->w_silence * 1.0;
    bool checks;
    if (1.0 - keep >= enter) {
        checks = true; /* (the same operations: the same bits) */
    } else if (!(w > 0)) {
        checks = false; /* (no drop, no purchase: the bound is silence alone) */
    } else {
        double lo = 1.0 - keep * (1.0 - cfg->w_engagement_drop * drop_c(e_lo, e_den, 0.0));
        double hi = 1.0 - keep * (1.0 - cfg->w_engagement_drop * drop_c(e_hi, e_den, 0.0));
        if (lo >= enter + m)
            checks = true;
        else if (hi < enter - m)
            checks = false;
        else
            return RP_FT_COMPUTE;
    }
    if (!checks)
        return RP_FT_NO_CHECK;

    /* Checkpoint 0, ck after the end of the day, and the bound up to it: no deferral and no
     * look-ahead when it stays below the threshold. */
    struct rp_cust one = {.n_days = 1};
    double g = gap_ms(cfg, &one);
    double ck = ceil_pos(cfg->silence_start_gaps * g);
    if (!(ck < 1e15))
        return RP_FT_COMPUTE;
    int64_t silent = (int64_t)ck;
    double gaps = silent > 0 ? (double)silent / g : 0.0;
    double sil = clamp01((gaps - cfg->silence_start_gaps) /
                         (cfg->silence_full_gaps - cfg->silence_start_gaps));
    keep = 1.0;
    keep *= 1.0 - cfg->w_silence * sil;
    double hi = 1.0 - keep;
    if (w > 0 && RP_MS_DAY + silent >= 2 * hs_ms) {
        double s_lo = w * rp_exp2(-(double)(RP_MS_DAY + silent) / hs) * (1.0 - m);
        hi = 1.0 - keep * (1.0 - cfg->w_engagement_drop * drop_c(e_hi, e_den, s_lo));
    }
    return hi < enter - m ? RP_FT_CHECKPOINT : RP_FT_COMPUTE;
}

double rp_scoring_churn_bound(const struct rp_scoring_config *cfg, const struct rp_ctable *t,
                              const struct rp_cust *c, int64_t after,
                              const struct rp_score_parts *s, int64_t until)
{
    struct bound_cache bc = {0};
    return churn_bound(cfg, t, c, after, s, until, INFINITY, &bc);
}

int64_t rp_scoring_next_check(const struct rp_scoring_config *cfg, const struct rp_ctable *t,
                              const struct rp_cust *c, int64_t after,
                              const struct rp_score_parts *now)
{
    return rp_scoring_next_check_ex(cfg, t, c, after, now, NULL, NULL, NULL);
}

int64_t rp_scoring_next_check_ex(const struct rp_scoring_config *cfg, const struct rp_ctable *t,
                                 const struct rp_cust *c, int64_t after,
                                 const struct rp_score_parts *now, double *bound_ever,
                                 double *bound_due, int *silence_checkpoint)
{
    struct bound_cache bc = {0};
    if (bound_ever)
        *bound_ever = NAN;
    if (bound_due)
        *bound_due = NAN;
    if (silence_checkpoint)
        *silence_checkpoint = -1;
    int64_t due = INT64_MAX;
    const struct rp_ext_talk *k = talk_of(t, c);
    if (k)
        due = rp_conv_next_due(k, after, cfg->answer_sla_ms, cfg->complaint_sla_ms);
    bool in_episode = c->flags & ((RP_CF_IN_EPISODE << RP_KIND_CHURN_RISK) |
                                  (RP_CF_IN_EPISODE << RP_KIND_ADVOCATE));
    /* The end of a cool-down that holds back an enter: a score still at or above its enter
     * threshold then makes the enter (SPEC §3 forbids a second enter only *within* it), with
     * no event needed. Only customers who left an episode within a cool-down of entering it
     * have one. */
    const struct rp_ext_sig *sg = sig_of(t, c);
    if (sg) {
        for (int kind = 0; kind < RP_KIND__COUNT; kind++) {
            if ((c->flags & (RP_CF_IN_EPISODE << kind)) || sg->episode[kind] == 0)
                continue;
            int64_t end = sg->last_enter_ms[kind] + cfg->cooldown_ms;
            if (end > after && end < due)
                due = end;
        }
    }
    bool silence_checks = false;
    if (c->n_days > 0 && (in_episode || !(c->flags & RP_CF_UNSUBSCRIBED))) {
        if (in_episode) {
            silence_checks = true;
        } else {
            double ever =
                churn_bound(cfg, t, c, after, now, INT64_MAX, cfg->enter[RP_KIND_CHURN_RISK], &bc);
            if (bound_ever)
                *bound_ever = ever;
            silence_checks = ever >= cfg->enter[RP_KIND_CHURN_RISK];
        }
    }
    if (silence_checks) {
        /* Silence checks: where the silence component starts to count, where it counts fully,
         * then every x1.5 (the engagement drop and P(alive) keep moving while silence is
         * full), up to RP_SILENCE_MAX_GAPS gaps. Checkpoints need not be dense: a crossing
         * between two of them is found by the look-ahead in pipeline.c (reschedule). */
        double g = gap_ms(cfg, c);
        double s0 = cfg->silence_start_gaps, s1 = cfg->silence_full_gaps;
        int64_t base = last_active_end(c);
        double grow = s1;
        for (int i = 0;; i++) {
            if (i > 1)
                grow *= 1.5;
            double gaps = i == 0 ? s0 : grow;
            /* (in an episode the checks go on: an exit by decay can come arbitrarily late, and
             * the checkpoints grow geometrically, so there are few of them) */
            if (gaps > RP_SILENCE_MAX_GAPS && !in_episode)
                break;
            double when = (double)base + ceil_pos(gaps * g);
            if (when >= 9.2e18)
                break;
            int64_t d = (int64_t)when;
            if (d > after) {
                if (d < due) {
                    due = d;
                    if (silence_checkpoint)
                        *silence_checkpoint = i;
                }
                break; /* the thresholds increase: the first one after `after` is the next */
            }
        }
    }
    if (bound_due && due != INT64_MAX && !in_episode)
        *bound_due = churn_bound(cfg, t, c, after, now, due, cfg->enter[RP_KIND_CHURN_RISK], &bc);
    return due;
}

int64_t rp_scoring_silence_checkpoint(const struct rp_scoring_config *cfg, const struct rp_cust *c,
                                      int i)
{
    /* (the same operations as the loop of rp_scoring_next_check_ex, so the same bits) */
    double g = gap_ms(cfg, c);
    double grow = cfg->silence_full_gaps;
    for (int k = 2; k <= i; k++)
        grow *= 1.5;
    double gaps = i == 0 ? cfg->silence_start_gaps : grow;
    return (int64_t)((double)last_active_end(c) + ceil_pos(gaps * g));
}
