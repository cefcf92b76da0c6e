/* pipeline: one owner's operators glued together: state table, timers, scoring, signals, credits.
 */
#define _GNU_SOURCE /* qsort_r */
#include "pipeline.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conversation.h"
#include "customer_table.h"
#include "decay.h"
#include "scoring.h"
#include "signals.h"
#include "timers.h"

struct rp_pipeline {
    struct rp_scoring_config cfg;
    struct rp_pipeline_hooks hooks;
    uint64_t model; /* rp_scoring_config_fingerprint(&cfg) */
    int64_t watermark_ms;
    struct rp_ctable table;
    struct rp_timers timers;
    struct rp_pipeline_stats stats;
    int credit_depth; /* credits applied internally may cause credits: bounded recursion */
    /* by event type: the schedule after a new customer's first event of that type when it is an
     * engagement event (rp_scoring_first_touch) */
    uint8_t first_touch[RP_EV__COUNT];
};

struct rp_pipeline *rp_pipeline_create(const struct rp_scoring_config *cfg,
                                       const struct rp_pipeline_hooks *hooks,
                                       size_t expected_customers, char *errstr, size_t errstr_size)
{
    if (rp_scoring_config_validate(cfg, errstr, errstr_size) != RP_OK)
        return NULL;
    if (!hooks || !hooks->on_signal) {
        snprintf(errstr, errstr_size, "pipeline: hooks.on_signal is required");
        return NULL;
    }
    struct rp_pipeline *p = calloc(1, sizeof(*p));
    if (!p) {
        snprintf(errstr, errstr_size, "pipeline: out of memory");
        return NULL;
    }
    p->cfg = *cfg;
    p->hooks = *hooks;
    p->model = rp_scoring_config_fingerprint(cfg);
    p->watermark_ms = INT64_MIN;
    for (int k = 0; k < RP_EV__COUNT; k++)
        p->first_touch[k] = (uint8_t)rp_scoring_first_touch(cfg, cfg->weight[k]);
    if (rp_ctable_init(&p->table, expected_customers) || rp_timers_init(&p->timers)) {
        rp_pipeline_destroy(p);
        snprintf(errstr, errstr_size, "pipeline: out of memory for %zu customers",
                 expected_customers);
        return NULL;
    }
    return p;
}

void rp_pipeline_destroy(struct rp_pipeline *p)
{
    if (!p)
        return;
    rp_ctable_fini(&p->table);
    rp_timers_fini(&p->timers);
    free(p);
}

/* ---- evaluation and signals ---------------------------------------------------------------- */

static void emit(struct rp_pipeline *p, struct rp_cust *c, enum rp_signal_kind kind,
                 const struct rp_signal_step *st, const struct rp_score_parts *s,
                 enum rp_segment seg, int64_t as_of)
{
    struct rp_signal sig;
    memset(&sig, 0, sizeof(sig));
    rp_ctable_cid(&p->table, c, &sig.cid);
    sig.kind = kind;
    sig.transition = st->transition;
    sig.score = kind == RP_KIND_CHURN_RISK ? s->churn : s->advocate;
    sig.previous_score = st->previous_score;
    sig.threshold = st->threshold;
    sig.segment = seg;
    sig.n_reasons = rp_scoring_reasons(s, kind, sig.reasons);
    sig.as_of_ms = as_of;
    sig.emitted_at_ms = p->hooks.now_ms ? p->hooks.now_ms(p->hooks.opaque) : 0;
    sig.episode = st->episode;
    sig.model = p->model;
    sig.signal_id = rp_signal_id(&sig.cid, kind, sig.episode, sig.transition);
    p->stats.signals[kind][st->transition]++;
    p->hooks.on_signal(p->hooks.opaque, &sig);
}

/* Would an evaluation with scores `s` at `at` make a transition (without making it)? */
static bool would_transition(const struct rp_pipeline *p, const struct rp_cust *c,
                             const struct rp_scores *s, int64_t at)
{
    const struct rp_ext_sig *g = c->sig ? rp_ctable_sig_at(&p->table, c->sig) : NULL;
    for (int k = 0; k < RP_KIND__COUNT; k++) {
        double score = k == RP_KIND_CHURN_RISK ? s->churn : s->advocate;
        if (c->flags & (RP_CF_IN_EPISODE << k)) {
            if (score < p->cfg.exit[k])
                return true;
        } else if (score >= p->cfg.enter[k] &&
                   (!g || g->episode[k] == 0 || at - g->last_enter_ms[k] >= p->cfg.cooldown_ms)) {
            return true;
        }
    }
    return false;
}

/* Records the scores of the current state at `at` as the previous evaluation's (prev_q). */
static void record_prev_at(struct rp_pipeline *p, struct rp_cust *c, int64_t at)
{
    struct rp_scores s;
    rp_scoring_scores(&p->cfg, &p->table, c, at, &s);
    rp_signals_record_prev(c, RP_KIND_CHURN_RISK, s.churn);
    rp_signals_record_prev(c, RP_KIND_ADVOCATE, s.advocate);
}

/* Makes prev_q what it would be had the skipped evaluation (RP_CF_PREV_STALE) been made: the
 * evaluation of the current state at clock_ms + stale_dt (the state has not changed since). */
static void resolve_prev(struct rp_pipeline *p, struct rp_cust *c)
{
    record_prev_at(p, c, c->clock_ms + (int64_t)c->stale_dt);
    c->flags &= (uint8_t)~RP_CF_PREV_STALE;
}

/*
 * A copy of what an event may change in a customer's state and the scores read: the record, its
 * extension links and the extensions they point to (the signal episodes are not read by the
 * scores, and an event does not change them). An event that changes the state of a customer
 * whose last evaluation was skipped (RP_CF_PREV_STALE) keeps one, so that the skipped
 * evaluation is made only if the event's own evaluation makes a transition (it is then its
 * previous_score), on the state it was skipped on; most events make none.
 */
struct state_copy {
    struct rp_cust rec;
    struct rp_links links;
    struct rp_ext_buy buy;
    struct rp_ext_talk talk;
    struct rp_ext_adv adv;
};

static void state_take(const struct rp_ctable *t, const struct rp_cust *c, struct state_copy *k)
{
    k->rec = *c;
    k->links = *rp_ctable_links(t, c);
    if (k->links.buy)
        k->buy = *rp_ctable_buy_at(t, k->links.buy);
    if (k->links.talk)
        k->talk = *rp_ctable_talk_at(t, k->links.talk);
    if (k->links.adv)
        k->adv = *rp_ctable_adv_at(t, k->links.adv);
}

/* Puts a copy back in place. (Extensions created since are not pointed to by the copy's links:
 * they stay as they are, unseen.) */
static void state_put(const struct rp_ctable *t, struct rp_cust *c, const struct state_copy *k)
{
    *c = k->rec;
    *rp_ctable_links(t, c) = k->links;
    if (k->links.buy)
        *rp_ctable_buy_at(t, k->links.buy) = k->buy;
    if (k->links.talk)
        *rp_ctable_talk_at(t, k->links.talk) = k->talk;
    if (k->links.adv)
        *rp_ctable_adv_at(t, k->links.adv) = k->adv;
}

/* resolve_prev on the state `before` (taken before an event changed it), recorded in the
 * current one. */
static void resolve_prev_before(struct rp_pipeline *p, struct rp_cust *c,
                                const struct state_copy *before)
{
    struct state_copy now;
    state_take(&p->table, c, &now);
    state_put(&p->table, c, before);
    resolve_prev(p, c);
    uint16_t q[RP_KIND__COUNT];
    memcpy(q, c->prev_q, sizeof(q));
    state_put(&p->table, c, &now);
    memcpy(c->prev_q, q, sizeof(q));
    c->flags &= (uint8_t)~RP_CF_PREV_STALE;
}

/* Evaluates customer `c` at `as_of` into `*s`, emits the transitions. `before`: the state the
 * skipped evaluation (RP_CF_PREV_STALE) was skipped on, when it has changed since (else NULL). */
static void evaluate(struct rp_pipeline *p, struct rp_cust *c, int64_t as_of,
                     struct rp_score_parts *s, const struct state_copy *before)
{
    rp_scoring_eval(&p->cfg, &p->table, c, as_of, s);
    if (c->flags & RP_CF_PREV_STALE) {
        /* previous_score is needed only by a transition; otherwise it is overwritten below */
        if (would_transition(p, c, &(struct rp_scores){s->churn, s->advocate}, as_of)) {
            if (before)
                resolve_prev_before(p, c, before);
            else
                resolve_prev(p, c);
        }
        c->flags &= (uint8_t)~RP_CF_PREV_STALE;
    }
    for (int k = 0; k < RP_KIND__COUNT; k++) {
        struct rp_signal_step st;
        double score = k == RP_KIND_CHURN_RISK ? s->churn : s->advocate;
        if (rp_signals_step(&p->cfg, &p->table, c, (enum rp_signal_kind)k, score, as_of, &st))
            emit(p, c, (enum rp_signal_kind)k, &st, s, rp_scoring_segment(&p->cfg, c, s, as_of),
                 as_of);
    }
}

/* How far the scores of `s` are past making a transition (>= 0: one of them is there, cool-down
 * aside): score - enter outside an episode, exit - score inside one. Only steers crossing(). */
static double margin(const struct rp_pipeline *p, const struct rp_cust *c,
                     const struct rp_scores *s)
{
    double m = -INFINITY;
    for (int k = 0; k < RP_KIND__COUNT; k++) {
        double score = k == RP_KIND_CHURN_RISK ? s->churn : s->advocate;
        double d =
            (c->flags & (RP_CF_IN_EPISODE << k)) ? p->cfg.exit[k] - score : score - p->cfg.enter[k];
        if (d > m)
            m = d;
    }
    return m;
}

/*
 * The first minute in (lo, hi] at which customer `c` (silent meanwhile) makes a transition,
 * knowing there is none in (lo, a0] (scores `s_a0` at a0, lo <= a0 < hi) and one at `hi`
 * (`s_hi`): the result of a bisection of (lo, hi] to the minute.
 *
 * Bisection costs a dozen or more evaluations for days. The same result is reached with fewer:
 * first a bracket [a, b] (no transition at a, one at b) is narrowed by Illinois false-position
 * steps on the scores' margin to their thresholds (a few evaluations: the scores are smooth
 * between their kinks), then the bisection runs as before, except that a midpoint at or before a
 * is answered "no" and one at or after b "yes" without an evaluation. Where the transition is
 * monotone in time on (lo, hi] (once there, it stays there: the usual case of a silent customer
 * drifting away) that is exactly the bisection's answer; the false-position steps only choose
 * where to look, every answer comes from an evaluation.
 */
static int64_t crossing(struct rp_pipeline *p, const struct rp_cust *c, int64_t lo, int64_t hi,
                        int64_t a0, const struct rp_scores *s_a0, const struct rp_scores *s_hi)
{
    struct rp_scores s;
    int64_t a = a0, b = hi;
    double fa = margin(p, c, s_a0), fb = margin(p, c, s_hi);
    int side = 0; /* which end the last step moved: -1 a, +1 b (Illinois) */
    for (int i = 0; i < 8 && b - a > 2 * RP_MS_MIN; i++) {
        int64_t t;
        if (fa < 0 && fb >= 0 && fb - fa > 0) {
            double x = (double)a + (double)(b - a) * (-fa / (fb - fa));
            /* stay strictly inside, a little away from the ends: progress on both sides */
            double lo_x = (double)a + RP_MS_MIN / 2, hi_x = (double)b - RP_MS_MIN / 2;
            t = (int64_t)(x < lo_x ? lo_x : x > hi_x ? hi_x : x);
        } else {
            t = a + (b - a) / 2; /* (cool-down or a kink: no usable slope) */
        }
        rp_scoring_scores(&p->cfg, &p->table, c, t, &s);
        double ft = margin(p, c, &s);
        if (would_transition(p, c, &s, t)) {
            b = t;
            fb = ft;
            if (side == +1)
                fa *= 0.5;
            side = +1;
        } else {
            a = t;
            fa = ft;
            if (side == -1)
                fb *= 0.5;
            side = -1;
        }
    }
    while (hi - lo > RP_MS_MIN) {
        int64_t mid = lo + (hi - lo) / 2;
        bool yes;
        if (mid <= a) {
            yes = false;
        } else if (mid >= b) {
            yes = true;
        } else {
            rp_scoring_scores(&p->cfg, &p->table, c, mid, &s);
            yes = would_transition(p, c, &s, mid);
            if (yes)
                b = mid;
            else
                a = mid;
        }
        if (yes)
            hi = mid;
        else
            lo = mid;
    }
    return hi;
}

/*
 * In an episode, can the scores of a customer who sends nothing more make a transition in
 * (after, until]? `now` is the full evaluation at `after`. No, when for each kind: in its
 * episode, a lower bound over the interval stays at or above the exit threshold (churn_risk:
 * the parts that only grow, rp_scoring_churn_floor; advocate: its value at `until`, where it is
 * lowest); outside, an upper bound stays below the enter threshold (churn_risk: the churn bound;
 * advocate: only falls). Spares the look-ahead evaluation of most customers in an episode.
 */
static bool transition_possible(struct rp_pipeline *p, const struct rp_cust *c, int64_t after,
                                int64_t until, const struct rp_score_parts *now)
{
    const struct rp_scoring_config *cfg = &p->cfg;
    if (c->flags & (RP_CF_IN_EPISODE << RP_KIND_CHURN_RISK)) {
        if (!(rp_scoring_churn_floor(now) >= cfg->exit[RP_KIND_CHURN_RISK] + 1e-12))
            return true;
    } else if (!(rp_scoring_churn_bound(cfg, &p->table, c, after, now, until) <
                 cfg->enter[RP_KIND_CHURN_RISK])) {
        return true;
    }
    if (c->flags & (RP_CF_IN_EPISODE << RP_KIND_ADVOCATE))
        return !(rp_scoring_advocate_at(cfg, &p->table, c, until) >=
                 cfg->exit[RP_KIND_ADVOCATE] + 1e-12);
    return !(now->advocate < cfg->enter[RP_KIND_ADVOCATE]);
}

/*
 * The next check of customer `idx` after `after`. Between two checks the customer's scores are
 * a function of time alone (no event of theirs comes in between, or it fires the check first),
 * so when the evaluation at the next checkpoint would make a transition, the moment the score
 * crosses its threshold is found (to the minute, crossing()) and the check is filed there:
 * signals carry the time of the crossing, not of the checkpoint after it, and a customer whose
 * score is past a threshold at the watermark has had the transition. `quiet_until` (>= after) is
 * a time up to which no transition can happen, known to the caller (a deferred look-ahead's), or
 * `after`: the crossing search starts there (same result, fewer evaluations).
 */
/*
 * The look-ahead of a silent customer from `after` (scores `now` there; churn NAN: not
 * evaluated) to the checkpoint `due`: evaluated there, and when that would make a transition,
 * the minute it happens (crossing()), which is returned instead of `due`. `quiet_until`: as
 * for reschedule().
 */
static int64_t look_ahead(struct rp_pipeline *p, const struct rp_cust *c, int64_t after,
                          int64_t due, const struct rp_score_parts *now, int64_t quiet_until)
{
    /* (the scores alone: the search reads nothing else) */
    struct rp_scores s, lo, at_after = {now->churn, now->advocate};
    rp_scoring_scores(&p->cfg, &p->table, c, due, &s);
    p->stats.lookahead_evals++;
    if (!would_transition(p, c, &s, due))
        return due;
    /* The search is of (after, due]; it can start from quiet_until, before which nothing can
     * happen, and needs the scores there. */
    int64_t a0 = after;
    const struct rp_scores *s0 = &at_after;
    if (quiet_until > after && quiet_until < due) {
        a0 = quiet_until;
        rp_scoring_scores(&p->cfg, &p->table, c, a0, &lo);
        s0 = &lo;
    } else if (isnan(now->churn)) { /* (an unevaluated event's: no scores) */
        rp_scoring_scores(&p->cfg, &p->table, c, after, &lo);
        s0 = &lo;
    }
    p->stats.crossing_searches++;
    return crossing(p, c, after, due, a0, s0, &s);
}

/* Files customer `idx`'s next check at `due` and sets its flags: quiet or not; `deferred`: the
 * look-ahead from `after` deferred to `due`, from silence checkpoint `ckpt` (-1: another kind
 * of due time). */
static void file_check(struct rp_pipeline *p, uint32_t idx, struct rp_cust *c, int64_t after,
                       int64_t due, bool quiet, bool deferred, int ckpt)
{
    /* (out of memory for a timer node: the check is lost, not the state) */
    if (rp_timers_schedule(&p->timers, &p->table, idx, due)) {
        c->due_ms = INT64_MAX;
        quiet = false;
        deferred = false;
    }
    if (deferred) {
        c->stale_dt = (uint32_t)(after - c->clock_ms);
        c->flags |= RP_CF_LOOKAHEAD;
        c->ckpt = ckpt >= 0 && ckpt < (int)RP_CKPT_NONE ? (uint8_t)ckpt : RP_CKPT_NONE;
    }
    if (quiet)
        c->flags |= RP_CF_QUIET;
    else
        c->flags &= (uint8_t)~RP_CF_QUIET;
}

/*
 * Holds a customer in a churn_risk episode (and in no advocate episode) whose scores at `after`
 * show that no time can make a transition (transition_possible() said no): churn_risk's parts
 * that only grow while nothing happens keep it at or above its exit threshold, and advocate,
 * below its enter threshold, only falls. Its checks would each be an evaluation that records
 * the scores as previous_score and files the next one, at times that depend on the state alone
 * (in an episode the next check does not read the scores), until an event or a credit: none is
 * filed, and release_hold() works out which of them would have come by then.
 */
static void hold(struct rp_pipeline *p, uint32_t idx, struct rp_cust *c, int64_t after)
{
    file_check(p, idx, c, after, INT64_MAX, false, false, -1);
    c->flags |= RP_CF_HELD;
    c->stale_dt = (uint32_t)(after - c->clock_ms);
    p->stats.holds++;
}

/*
 * Ends the hold of customer `idx` (RP_CF_HELD) before an event or a credit at `until`, as if its
 * checks due by then had fired: the last of them is the skipped evaluation (RP_CF_PREV_STALE,
 * made if a transition needs it as previous_score), and the next one is filed when
 * `file_next` (a credit: no reschedule follows it), else left to the caller's reschedule.
 */
static void release_hold(struct rp_pipeline *p, uint32_t idx, struct rp_cust *c, int64_t until,
                         bool file_next)
{
    c->flags &= (uint8_t)~RP_CF_HELD;
    int64_t last = INT64_MIN;
    int64_t due =
        rp_scoring_next_check(&p->cfg, &p->table, c, c->clock_ms + (int64_t)c->stale_dt, NULL);
    while (due <= until) {
        last = due;
        p->stats.held_checks++;
        due = rp_scoring_next_check(&p->cfg, &p->table, c, due, NULL);
    }
    if (last != INT64_MIN) {
        if (last - c->clock_ms <= (int64_t)UINT32_MAX) {
            c->flags |= RP_CF_PREV_STALE;
            c->stale_dt = (uint32_t)(last - c->clock_ms);
        } else {
            record_prev_at(p, c, last); /* (too far from the clock to keep as stale_dt) */
        }
    }
    if (file_next)
        file_check(p, idx, c, last, due, false, false, -1);
}

static void reschedule(struct rp_pipeline *p, uint32_t idx, int64_t after,
                       const struct rp_score_parts *now, bool may_defer, int64_t quiet_until)
{
    struct rp_cust *c = rp_ctable_rec(&p->table, idx);
    /* (whatever was deferred or held is superseded) */
    c->flags &= (uint8_t) ~(RP_CF_LOOKAHEAD | RP_CF_HELD);
    p->stats.reschedules++;
    double ever;
    double at_due;
    int ckpt;
    int64_t due =
        rp_scoring_next_check_ex(&p->cfg, &p->table, c, after, now, &ever, &at_due, &ckpt);
    bool in_episode = c->flags & ((RP_CF_IN_EPISODE << RP_KIND_CHURN_RISK) |
                                  (RP_CF_IN_EPISODE << RP_KIND_ADVOCATE));
    double enter = p->cfg.enter[RP_KIND_CHURN_RISK];
    /* Quiet until `due`: no enter before it unless the state changes. The advocate score only
     * falls with time (its acts decay, friction can only start to hold it); `now` of an
     * unevaluated event has no advocate score, but such an event leaves it where the last
     * quiet evaluation had it, below the threshold. */
    bool quiet = !in_episode && !(now->advocate >= p->cfg.enter[RP_KIND_ADVOCATE]) &&
                 (due != INT64_MAX || ever < enter);
    bool deferred = false;
    if (may_defer && quiet && due != INT64_MAX && at_due >= enter &&
        after - c->clock_ms <= (int64_t)UINT32_MAX) {
        /* Outside any episode the look-ahead below (an evaluation at `due`, often a crossing
         * search of several more) is needed only if the customer stays silent long enough for
         * churn_risk to reach its threshold: file the check at a time before which it cannot
         * (silence solved for, every other part at its largest up to `due`), still quiet, and
         * make the look-ahead there if no event came first (fire()). It is the same
         * computation on the same state from the same `after`, so the same check results;
         * most customers with a next event before then never pay for it. */
        int64_t lb = rp_scoring_churn_enter_not_before(&p->cfg, &p->table, c, after, now, due);
        if (lb - after >= RP_MS_MIN) {
            due = lb;
            deferred = true;
        }
    }
    if (!deferred && due != INT64_MAX) {
        if (in_episode && !isnan(now->churn) && !transition_possible(p, c, after, due, now)) {
            quiet = false; /* (the look-ahead evaluation would find no transition at `due`) */
            if ((c->flags & RP_CF_IN_EPISODE << RP_KIND_ADVOCATE) == 0 &&
                after - c->clock_ms <= (int64_t)UINT32_MAX) {
                hold(p, idx, c, after);
                return;
            }
        } else if (in_episode || at_due >= enter) {
            /* Outside any episode only a churn_risk enter can happen by time alone: the cheap
             * bound (at_due) spares this evaluation at the checkpoint for most customers. */
            quiet = false;
            due = look_ahead(p, c, after, due, now, quiet_until);
        }
    }
    file_check(p, idx, c, after, due, quiet, deferred, ckpt);
}

/* Makes the look-ahead that reschedule() deferred (RP_CF_LOOKAHEAD), on the state it was
 * deferred on: not an evaluation, nothing is recorded. */
static void lookahead(struct rp_pipeline *p, uint32_t idx)
{
    struct rp_cust *c = rp_ctable_rec(&p->table, idx);
    int64_t after = c->clock_ms + (int64_t)c->stale_dt;
    /* (due_ms, the time the look-ahead was deferred to, is one before which churn_risk cannot
     * reach its threshold: nothing can happen in (after, due_ms]) */
    int64_t quiet_until = c->due_ms;
    struct rp_score_parts s;
    if (c->ckpt != RP_CKPT_NONE) {
        /* The checkpoint the look-ahead was deferred from is known: reschedule() would find it
         * again, and its bound there at or above the threshold (the same state from the same
         * `after`), and make the look-ahead; made here without the bounds. */
        c->flags &= (uint8_t)~RP_CF_LOOKAHEAD;
        p->stats.reschedules++;
        s.churn = NAN; /* (no scores at `after`: look_ahead evaluates there if it needs them) */
        int64_t due = rp_scoring_silence_checkpoint(&p->cfg, c, c->ckpt);
        due = look_ahead(p, c, after, due, &s, quiet_until);
        file_check(p, idx, c, after, due, false, false, -1);
        return;
    }
    rp_scoring_eval_inputs(&p->cfg, &p->table, c, after, &s);
    reschedule(p, idx, after, &s, false, quiet_until);
}

/* A due check: evaluate at the due time, then look for the next one. */
static void fire(void *opaque, uint32_t idx)
{
    struct rp_pipeline *p = opaque;
    struct rp_cust *c = rp_ctable_rec(&p->table, idx);
    if (c->flags & RP_CF_LOOKAHEAD) {
        p->stats.lookaheads++;
        lookahead(p, idx);
        return;
    }
    int64_t as_of = c->due_ms;
    if (as_of < c->clock_ms)
        as_of = c->clock_ms;
    p->stats.timers_fired++;
    struct rp_score_parts s;
    if ((c->flags & RP_CF_QUIET) && as_of - c->clock_ms <= (int64_t)UINT32_MAX) {
        /* Quiet up to this due time (the reschedule that filed it found no enter possible, and
         * no episode is open to exit): the evaluation would only record previous scores. It is
         * skipped as at a quiet event (made later if a transition needs it). */
        rp_scoring_eval_inputs(&p->cfg, &p->table, c, as_of, &s);
        c->flags |= RP_CF_PREV_STALE;
        c->stale_dt = (uint32_t)(as_of - c->clock_ms);
        p->stats.evaluations_skipped++;
    } else {
        evaluate(p, c, as_of, &s, NULL);
    }
    reschedule(p, idx, as_of, &s, true, as_of);
}

/* ---- state updates ------------------------------------------------------------------------- */

/* Marks UTC day `d` in a (first, span, count, bitmap) set of distinct days. Returns true when the
 * day was not counted yet. Exact for days no older than 8 days before the last one (the allowed
 * lateness is at most 7 d, so an accepted event never falls further back); an older day is
 * counted unless it is the first day or before it. */
static bool mark_day(int32_t *first, uint16_t *span, uint16_t *n, uint8_t *bits, int32_t d)
{
    if (*n == 0) {
        *first = d;
        *span = 0;
        *n = 1;
        *bits = 0;
        return true;
    }
    int64_t last = (int64_t)*first + *span;
    if (d > last) {
        int64_t shift = d - last;
        unsigned b = shift >= 9 ? 0u : (((unsigned)*bits << shift) | (1u << (shift - 1)));
        *bits = (uint8_t)b;
        int64_t ns = (int64_t)*span + shift;
        *span = (uint16_t)(ns > UINT16_MAX ? UINT16_MAX : ns);
    } else if (d == last) {
        return false;
    } else if (d >= last - 8) {
        uint8_t m = (uint8_t)(1u << (last - 1 - d));
        if (*bits & m)
            return false;
        *bits |= m;
        if (d < *first) { /* (a short history: the first day moves back) */
            int64_t ns = last - d;
            *first = d;
            *span = (uint16_t)(ns > UINT16_MAX ? UINT16_MAX : ns);
        }
    } else if (d < *first) {
        int64_t ns = last - d;
        *first = d;
        *span = (uint16_t)(ns > UINT16_MAX ? UINT16_MAX : ns);
    } else if (d == *first) {
        return false;
    }
    if (*n < UINT16_MAX)
        (*n)++;
    return true;
}

static void send_credit(struct rp_pipeline *p, enum rp_credit_kind kind, const struct rp_cid *to,
                        const struct rp_cid *from, int64_t ts)
{
    struct rp_credit cr = {.kind = kind, .to = *to, .from = *from, .ts_ms = ts};
    if (p->hooks.on_credit)
        p->hooks.on_credit(p->hooks.opaque, &cr);
    else if (p->credit_depth < 4) /* a credit causes at most one more: never loops */
        rp_pipeline_apply_credit(p, &cr);
}

static void move_group(double *v, int n, int64_t *clock, int64_t ts, int64_t half_life)
{
    if (ts > *clock) {
        double f = rp_decay_factor(ts - *clock, half_life);
        for (int i = 0; i < n; i++)
            v[i] *= f;
        *clock = ts;
    }
}

static void add_act(struct rp_pipeline *p, struct rp_cust *c, enum rp_act act, int64_t ts, double w)
{
    struct rp_ext_adv *a = rp_ctable_adv(&p->table, c, true);
    if (!a)
        return;
    move_group(a->acts, RP_ACT__COUNT, &a->clock_ms, ts, p->cfg.half_life_advocacy_ms);
    a->acts[act] += rp_decay_contrib(a->clock_ms, ts, w, p->cfg.half_life_advocacy_ms);
}

static void add_negative(struct rp_pipeline *p, struct rp_cust *c, int64_t ts, double w)
{
    struct rp_ext_buy *b = rp_ctable_buy(&p->table, c, true);
    if (!b)
        return;
    double v[3] = {b->money, b->refunds, b->neg};
    move_group(v, 3, &b->clock_ms, ts, p->cfg.half_life_friction_ms);
    b->money = v[0];
    b->refunds = v[1];
    b->neg = v[2] + rp_decay_contrib(b->clock_ms, ts, w, p->cfg.half_life_friction_ms);
}

/* Who referred this customer (explicit `referrer` first, else a REFERRED_BY credit). */
static bool referrer_of(struct rp_pipeline *p, const struct rp_event *ev,
                        const struct rp_ext_buy *b, struct rp_cid *out)
{
    if (ev && (ev->present & RP_F_REFERRER)) {
        *out = ev->referrer;
        return true;
    }
    if (b->bflags & RP_BF_REFERRED_BY) {
        const char *s = rp_ctable_str(&p->table, b->referrer_off, &out->len);
        memcpy(out->bytes, s, out->len);
        return true;
    }
    return false;
}

static void on_purchase(struct rp_pipeline *p, struct rp_cust *c, const struct rp_event *ev,
                        bool refund)
{
    struct rp_ext_buy *b = rp_ctable_buy(&p->table, c, true);
    if (!b)
        return;
    int64_t ts = ev->ts_ms, hl = p->cfg.half_life_friction_ms;
    double v[3] = {b->money, b->refunds, b->neg};
    move_group(v, 3, &b->clock_ms, ts, hl);
    v[refund ? 1 : 0] += rp_decay_contrib(b->clock_ms, ts, ev->value, hl);
    b->money = v[0];
    b->refunds = v[1];
    b->neg = v[2];
    if (refund)
        return;
    uint16_t before = b->n_pdays;
    mark_day(&b->first_pday, &b->pspan_days, &b->n_pdays, &b->pbits, rp_day_of(ts));
    struct rp_cid ref;
    if (before == 0 && b->n_pdays == 1 && !(b->bflags & RP_BF_CONVERTED) &&
        referrer_of(p, ev, b, &ref) &&
        !(ref.len == ev->cid.len && memcmp(ref.bytes, ev->cid.bytes, ref.len) == 0)) {
        b->bflags |= RP_BF_CONVERTED; /* once per referred customer */
        send_credit(p, RP_CREDIT_REFERRAL_CONVERTED, &ref, &ev->cid, ts);
    }
}

static void remember_referrer(struct rp_pipeline *p, struct rp_cust *c, const struct rp_cid *from)
{
    struct rp_ext_buy *b = rp_ctable_buy(&p->table, c, true);
    if (!b || (b->bflags & RP_BF_REFERRED_BY))
        return; /* the first referrer keeps the credit */
    uint32_t off = rp_ctable_intern(&p->table, from->bytes, from->len);
    if (off == RP_NONE32)
        return;
    b->referrer_off = off;
    b->bflags |= RP_BF_REFERRED_BY;
}

static bool is_active(enum rp_event_type t)
{
    /* Replies and resolutions are the business's acts; an unsubscribe is leaving. */
    return t != RP_EV_REPLY && t != RP_EV_RESOLUTION && t != RP_EV_UNSUBSCRIBE;
}

static void apply_state(struct rp_pipeline *p, struct rp_cust *c, const struct rp_event *ev)
{
    const struct rp_scoring_config *cfg = &p->cfg;
    int64_t ts = ev->ts_ms;
    if (!(c->flags & RP_CF_HAS_EVENTS)) {
        c->clock_ms = ts;
        c->flags |= RP_CF_HAS_EVENTS;
    } else if (ts > c->clock_ms) {
        double fs, fl;
        rp_decay_factor_pair(ts - c->clock_ms, cfg->half_life_short_ms, cfg->half_life_long_ms, &fs,
                             &fl);
        c->eng_short *= fs;
        c->eng_long *= fl;
        c->clock_ms = ts;
    }
    double w = cfg->weight[ev->type];
    if (w > 0) {
        /* (w * the factors of a late event's age: rp_decay_contrib for both half-lives) */
        double fs, fl;
        rp_decay_factor_pair(c->clock_ms - ts, cfg->half_life_short_ms, cfg->half_life_long_ms, &fs,
                             &fl);
        c->eng_short += w * fs;
        c->eng_long += w * fl;
    }
    if (is_active(ev->type))
        mark_day(&c->first_day, &c->span_days, &c->n_days, &c->day_bits, rp_day_of(ts));
    if ((ev->present & RP_F_SENTIMENT) && ev->sentiment < 0)
        add_negative(p, c, ts, -ev->sentiment);

    switch (ev->type) {
    case RP_EV_PURCHASE:
        on_purchase(p, c, ev, false);
        break;
    case RP_EV_REFUND:
        on_purchase(p, c, ev, true);
        break;
    case RP_EV_SIGNUP:
        if (ev->present & RP_F_REFERRER)
            remember_referrer(p, c, &ev->referrer);
        break;
    case RP_EV_QUESTION:
    case RP_EV_COMPLAINT:
    case RP_EV_REPLY:
    case RP_EV_RESOLUTION: {
        struct rp_ext_talk *k = rp_ctable_talk(&p->table, c, true);
        if (!k)
            break;
        enum rp_thread_kind tk = ev->type == RP_EV_QUESTION    ? RP_TH_QUESTION
                                 : ev->type == RP_EV_COMPLAINT ? RP_TH_COMPLAINT
                                 : ev->type == RP_EV_REPLY     ? RP_TH_REPLY
                                                               : RP_TH_RESOLUTION;
        uint32_t h = rp_conv_ref_hash(ev->ref.bytes, ev->ref.len);
        if (tk == RP_TH_QUESTION || tk == RP_TH_COMPLAINT)
            rp_conv_open(k, tk, h, ts);
        else
            rp_conv_close(k, tk, h, ts);
        break;
    }
    case RP_EV_NPS:
        if (ev->score >= 9)
            add_act(p, c, RP_ACT_PROMOTER, ts, 1.0);
        else if (ev->score <= 6) /* detractor: 0 weighs 1, 6 weighs 1/7 */
            add_negative(p, c, ts, (7.0 - ev->score) / 7.0);
        break;
    case RP_EV_REVIEW:
        if (ev->score >= 4)
            add_act(p, c, RP_ACT_POSITIVE_REVIEW, ts, 1.0);
        else if (ev->score <= 2) /* 1 weighs 1, 2 weighs 1/2 */
            add_negative(p, c, ts, (3.0 - ev->score) / 2.0);
        break;
    case RP_EV_MENTION:
        if ((ev->present & RP_F_SENTIMENT) && ev->sentiment > 0)
            add_act(p, c, RP_ACT_POSITIVE_MENTION, ts, 1.0);
        break;
    case RP_EV_SHARE:
        add_act(p, c, RP_ACT_SHARE, ts, 1.0);
        break;
    case RP_EV_REFERRAL:
        add_act(p, c, RP_ACT_REFERRAL, ts, 1.0);
        if ((ev->present & RP_F_TARGET) &&
            !(ev->target.len == ev->cid.len &&
              memcmp(ev->target.bytes, ev->cid.bytes, ev->cid.len) == 0))
            send_credit(p, RP_CREDIT_REFERRED_BY, &ev->target, &ev->cid, ts);
        break;
    case RP_EV_ANSWER:
        add_act(p, c, RP_ACT_HELPED, ts, 1.0);
        break;
    case RP_EV_UNSUBSCRIBE:
        c->flags |= RP_CF_UNSUBSCRIBED;
        break;
    default:
        break;
    }
}

/*
 * Can this event, applied to a customer that is quiet (RP_CF_QUIET) at a time >= its clock, be
 * left unevaluated? True for the engagement types without negative sentiment: they change
 * nothing but the engagement sums and the active days, so at the event's time
 * - silence is 0 (the event's day is the last active day: ts >= clock >= every earlier event);
 * - the drop ratio (S + p) / (E + p) moves towards dS / dE = win_l / win_s >= 1 (both sums get
 *   the same weight at the same time): it does not fall, or ends >= 1, where the drop is 0;
 *   tenure is unchanged (or starts: a first active day has no drop);
 * - P(alive), refunds, friction, sentiment and advocacy are untouched.
 * So churn_risk is at most what it was just before the event, below the enter threshold by the
 * quiet bound, and advocate is unchanged: neither can enter, and no episode is open to exit.
 */
static bool only_lowers_churn(const struct rp_event *ev)
{
    switch (ev->type) {
    case RP_EV_VIEW:
    case RP_EV_CLICK:
    case RP_EV_LOGIN:
    case RP_EV_EMAIL_OPEN:
    case RP_EV_LIKE:
    case RP_EV_COMMENT:
    case RP_EV_SIGNUP: /* (a referrer is remembered: no score reads it) */
        return !((ev->present & RP_F_SENTIMENT) && ev->sentiment < 0);
    default:
        return false;
    }
}

/* ---- the public operations ----------------------------------------------------------------- */

enum rp_err rp_pipeline_apply(struct rp_pipeline *p, const struct rp_event *ev)
{
    if (ev->ts_ms < p->watermark_ms) {
        p->stats.too_late++;
        return RP_ERR_TOO_LATE;
    }
    return rp_pipeline_apply_hashed(p, ev, rp_ctable_hash(ev->cid.bytes, ev->cid.len));
}

uint64_t rp_pipeline_cid_hash(const struct rp_event *ev)
{
    return rp_ctable_hash(ev->cid.bytes, ev->cid.len);
}

void rp_pipeline_prefetch_hashed(struct rp_pipeline *p, uint64_t cid_hash, int stage, uint32_t *rec)
{
    if (stage == 0)
        rp_ctable_prefetch(&p->table, cid_hash, 0);
    else if (stage == 1)
        *rec = rp_ctable_prefetch_find(&p->table, cid_hash);
    else
        rp_ctable_prefetch_idx(&p->table, *rec, stage);
}

enum rp_err rp_pipeline_apply_hashed(struct rp_pipeline *p, const struct rp_event *ev, uint64_t h)
{
    return rp_pipeline_apply_hinted(p, ev, h, RP_NONE32);
}

enum rp_err rp_pipeline_apply_hinted(struct rp_pipeline *p, const struct rp_event *ev, uint64_t h,
                                     uint32_t rec)
{
    if (ev->ts_ms < p->watermark_ms) {
        p->stats.too_late++;
        return RP_ERR_TOO_LATE;
    }
    bool created;
    uint32_t idx = rp_ctable_upsert_hinted(&p->table, ev->cid.bytes, ev->cid.len, h, rec, &created);
    if (idx == RP_NONE32)
        return RP_ERR_NOMEM;
    struct rp_cust *c = rp_ctable_rec(&p->table, idx);
    /* The extensions, read first by the evaluation below: fetched while the due checks and
     * apply_state run, unless the owner's hints found this record (they fetched its extensions
     * an event or two ahead: once more was ~48 instructions per event in bench_pipeline, for
     * lines already on their way). Others, like `rapport score`, give none. */
    if (idx != rec)
        rp_ctable_prefetch_rec(&p->table, idx, 2);
    /* This customer's own checks that fall due by this event's time fire first, so that what a
     * check sees depends on the customer's own events only, not on other customers' traffic. */
    if (c->flags & RP_CF_HELD)
        release_hold(p, idx, c, ev->ts_ms, false);
    while (c->due_ms <= ev->ts_ms)
        fire(p, idx);
    bool skip = (c->flags & RP_CF_QUIET) && ev->ts_ms >= c->clock_ms && only_lowers_churn(ev);
    /* The state is about to change under a skipped evaluation: it is kept (state_copy) for the
     * evaluation below, which makes the skipped one only if it makes a transition. */
    struct state_copy before;
    bool stale = (c->flags & RP_CF_PREV_STALE) && !skip;
    if (stale)
        state_take(&p->table, c, &before);
    apply_state(p, c, ev);
    int64_t as_of = c->clock_ms; /* a late event is evaluated at the customer's clock */
    struct rp_score_parts s;
    if (created && only_lowers_churn(ev)) {
        /* A new customer's first engagement event: both scores are exactly 0 (no tenure for a
         * drop, no silence, nothing else held), which is what the new record's prev_q already
         * says; only what scheduling reads is computed, unless the schedule was decided for
         * every such customer ahead (the same as reschedule() below would file). */
        enum rp_first_touch ft = (enum rp_first_touch)p->first_touch[ev->type];
        if (ft != RP_FT_COMPUTE) {
            p->stats.evaluations_skipped++;
            p->stats.reschedules++;
            int64_t due =
                ft == RP_FT_CHECKPOINT ? rp_scoring_silence_checkpoint(&p->cfg, c, 0) : INT64_MAX;
            file_check(p, idx, c, as_of, due, true, false, -1);
            p->stats.applied++;
            return RP_OK;
        }
        rp_scoring_eval_inputs(&p->cfg, &p->table, c, as_of, &s);
        p->stats.evaluations_skipped++;
    } else if (skip) {
        /* No transition is possible (only_lowers_churn): the evaluation that would only have
         * recorded the scores as previous_score is skipped (made later if a transition needs
         * it), and only what scheduling reads is computed. */
        rp_scoring_eval_inputs(&p->cfg, &p->table, c, as_of, &s);
        c->flags |= RP_CF_PREV_STALE;
        c->stale_dt = 0;
        p->stats.evaluations_skipped++;
    } else {
        evaluate(p, c, as_of, &s, stale ? &before : NULL);
    }
    reschedule(p, idx, as_of, &s, true, as_of);
    p->stats.applied++;
    return RP_OK;
}

void rp_pipeline_prefetch(struct rp_pipeline *p, const struct rp_event *ev, int stage)
{
    rp_ctable_prefetch(&p->table, rp_ctable_hash(ev->cid.bytes, ev->cid.len), stage);
}

void rp_pipeline_apply_credit(struct rp_pipeline *p, const struct rp_credit *cr)
{
    bool created;
    uint64_t h = rp_ctable_hash(cr->to.bytes, cr->to.len);
    uint32_t idx = rp_ctable_upsert(&p->table, cr->to.bytes, cr->to.len, h, &created);
    if (idx == RP_NONE32)
        return;
    struct rp_cust *c = rp_ctable_rec(&p->table, idx);
    /* As before an event of the customer's own: the checks due by the credit's time fire
     * first, so that their transitions keep their own time (as_of), whatever the traffic of
     * the customer who caused the credit. */
    if (c->flags & RP_CF_HELD)
        release_hold(p, idx, c, cr->ts_ms, true);
    while (c->due_ms <= cr->ts_ms)
        fire(p, idx);
    if (c->flags & RP_CF_LOOKAHEAD)
        lookahead(p, idx); /* on the state it was deferred on, before the credit changes it */
    p->credit_depth++;
    p->stats.credits_applied++;
    /* A credit changes the state without a reschedule: the quiet bound no longer holds, and a
     * skipped evaluation must be made on the state it was skipped on. */
    if (c->flags & RP_CF_PREV_STALE)
        resolve_prev(p, c);
    c->flags &= (uint8_t)~RP_CF_QUIET;
    switch (cr->kind) {
    case RP_CREDIT_REFERRED_BY: {
        struct rp_ext_buy *b = rp_ctable_buy(&p->table, c, true);
        /* Only a customer who has not bought yet can convert. */
        if (b && b->n_pdays == 0)
            remember_referrer(p, c, &cr->from);
        break;
    }
    case RP_CREDIT_REFERRAL_CONVERTED: {
        add_act(p, c, RP_ACT_REFERRAL_CONVERTED, cr->ts_ms, 1.0);
        int64_t as_of = cr->ts_ms > c->clock_ms ? cr->ts_ms : c->clock_ms;
        struct rp_score_parts s;
        evaluate(p, c, as_of, &s, NULL);
        break;
    }
    }
    p->credit_depth--;
}

void rp_pipeline_advance(struct rp_pipeline *p, int64_t watermark_ms)
{
    if (watermark_ms <= p->watermark_ms)
        return;
    p->watermark_ms = watermark_ms;
    if (!rp_timers_idle(&p->timers, watermark_ms))
        rp_timers_advance(&p->timers, &p->table, watermark_ms, fire, p);
}

int64_t rp_pipeline_watermark(const struct rp_pipeline *p)
{
    return p->watermark_ms;
}

size_t rp_pipeline_customers(const struct rp_pipeline *p)
{
    return p->table.n;
}

size_t rp_pipeline_state_bytes(const struct rp_pipeline *p)
{
    return sizeof(*p) + rp_ctable_bytes(&p->table) + rp_timers_bytes(&p->timers);
}

const struct rp_pipeline_stats *rp_pipeline_stats(const struct rp_pipeline *p)
{
    return &p->stats;
}

/* ---- views --------------------------------------------------------------------------------- */

static void fill_view(struct rp_pipeline *p, uint32_t idx, int64_t at_ms,
                      struct rp_customer_view *v)
{
    const struct rp_cust *c = rp_ctable_rec(&p->table, idx);
    struct rp_score_parts s;
    rp_scoring_eval(&p->cfg, &p->table, c, at_ms, &s);
    memset(v, 0, sizeof(*v));
    rp_ctable_cid(&p->table, c, &v->cid);
    v->churn_risk = s.churn;
    v->advocate = s.advocate;
    v->segment = rp_scoring_segment(&p->cfg, c, &s, at_ms);
    v->p_alive = s.p_alive;
    v->x = s.x;
    v->t_x_weeks = s.t_x_weeks;
    v->T_weeks = s.T_weeks;
    v->engagement_short = s.eng_short;
    v->engagement_long = s.eng_long;
    v->n_churn_reasons = rp_scoring_reasons(&s, RP_KIND_CHURN_RISK, v->churn_reasons);
    v->n_advocate_reasons = rp_scoring_reasons(&s, RP_KIND_ADVOCATE, v->advocate_reasons);
    v->last_event_ms = (c->flags & RP_CF_HAS_EVENTS) ? c->clock_ms : INT64_MIN;
    v->open_questions = s.fr.open_questions;
    v->open_complaints = s.fr.open_complaints;
    v->unsubscribed = (c->flags & RP_CF_UNSUBSCRIBED) != 0;
}

enum rp_err rp_pipeline_view(struct rp_pipeline *p, const struct rp_cid *cid, int64_t at_ms,
                             struct rp_customer_view *out)
{
    uint32_t idx =
        rp_ctable_find(&p->table, cid->bytes, cid->len, rp_ctable_hash(cid->bytes, cid->len));
    if (idx == RP_NONE32)
        return RP_ERR_NOT_FOUND;
    fill_view(p, idx, at_ms, out);
    return RP_OK;
}

static int cmp_cid(const void *a, const void *b, void *table)
{
    const struct rp_ctable *t = table;
    uint8_t la, lb;
    const char *sa = rp_ctable_str(t, rp_ctable_rec(t, *(const uint32_t *)a)->cid_off, &la);
    const char *sb = rp_ctable_str(t, rp_ctable_rec(t, *(const uint32_t *)b)->cid_off, &lb);
    int r = memcmp(sa, sb, la < lb ? la : lb);
    if (r)
        return r;
    return (int)la - (int)lb;
}

enum rp_err rp_pipeline_foreach(struct rp_pipeline *p, int64_t at_ms,
                                void (*fn)(void *opaque, const struct rp_customer_view *v),
                                void *opaque)
{
    uint32_t n = p->table.n;
    uint32_t *order = malloc((n ? n : 1) * sizeof(*order));
    if (!order)
        return RP_ERR_NOMEM;
    for (uint32_t i = 0; i < n; i++)
        order[i] = i + 1; /* (the k-th record created is record k; 0 is the pools' "none") */
    qsort_r(order, n, sizeof(*order), cmp_cid, &p->table);
    struct rp_customer_view v;
    for (uint32_t i = 0; i < n; i++) {
        fill_view(p, order[i], at_ms, &v);
        fn(opaque, &v);
    }
    free(order);
    return RP_OK;
}
