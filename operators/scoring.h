/* scoring: churn_risk, advocate, segment and their reasons, from one customer's state at a time. */
#ifndef RP_SCORING_H
#define RP_SCORING_H

#include <stdbool.h>
#include <stdint.h>

#include "conversation.h"
#include "customer_table.h"
#include "scoring_config.h"
#include "signal.h"

/* Shape constants that are not configuration (documented in operators/MODEL.md). */
#define RP_RHYTHM_PRIOR_DAYS_WEIGHT 2.0  /* pseudo-gaps of rhythm_prior_gap in the mean gap */
#define RP_DROP_PSEUDO              0.25 /* pseudo-weight that shrinks the drop ratio to 1 */
#define RP_DROP_START               0.8  /* short/long rate ratio below which drop counts ... */
#define RP_DROP_FULL                0.2  /* ... and at or below which it counts fully */
#define RP_LAPSED_MIN_SILENCE_MS    (30 * 86400000LL)
#define RP_TRANSACTIONAL_MAX_LONG   2.0    /* buyers with less long engagement are transactional */
#define RP_SILENCE_MAX_GAPS         1000.0 /* no silence checks beyond this many gaps */

/** Everything a score evaluation yields (also the body of a customer view). */
struct rp_score_parts {
    double churn, advocate;
    double part[RP_R__COUNT]; /* contribution of each reason: w_i*c_i (churn), share (advocate) */
    double p_alive;
    uint32_t x;
    double t_x_weeks, T_weeks;
    double eng_short, eng_long; /* decayed to as_of */
    double silence_gaps;        /* time since the last active day, in the customer's own gaps */
    bool buyer;                 /* at least one purchase day */
    bool open_friction;         /* open complaint or overdue question */
    struct rp_conv_friction fr;
};

/** Evaluates customer `c` at event time `as_of` (values are decayed forward, never backward). */
void rp_scoring_eval(const struct rp_scoring_config *cfg, const struct rp_ctable *t,
                     const struct rp_cust *c, int64_t as_of, struct rp_score_parts *out);

/** The two scores alone. */
struct rp_scores {
    double churn, advocate;
};

/**
 * The scores of rp_scoring_eval at `as_of` (the same bits), without the parts: for a customer
 * with engagement alone (no purchase, conversation or advocacy extension) about two thirds of
 * the evaluation's instructions (the full evaluation for anyone else). For the searches of a
 * transition's time (pipeline.c), which read the scores only.
 */
void rp_scoring_scores(const struct rp_scoring_config *cfg, const struct rp_ctable *t,
                       const struct rp_cust *c, int64_t as_of, struct rp_scores *out);

/**
 * Only the parts of an evaluation that rp_scoring_churn_bound and rp_scoring_next_check read
 * (engagement sums, BG/NBD inputs, refunds, negative sentiment, friction, unsubscribed), with the
 * same values as rp_scoring_eval gives them; churn and advocate are NAN, the other parts 0. For
 * scheduling after an event that cannot make a transition (pipeline.c).
 */
void rp_scoring_eval_inputs(const struct rp_scoring_config *cfg, const struct rp_ctable *t,
                            const struct rp_cust *c, int64_t as_of, struct rp_score_parts *out);

/** The segment after the scores and the episode flags (c->flags). */
enum rp_segment rp_scoring_segment(const struct rp_scoring_config *cfg, const struct rp_cust *c,
                                   const struct rp_score_parts *s, int64_t as_of);

/** Up to RP_SIGNAL_MAX_REASONS reasons of `kind`, largest first (ties: by code). */
uint8_t rp_scoring_reasons(const struct rp_score_parts *s, enum rp_signal_kind kind,
                           struct rp_reason out[RP_SIGNAL_MAX_REASONS]);

/**
 * An upper bound of churn_risk at any time in (after, until] (until = INT64_MAX: ever) if the
 * customer sends nothing more, from the evaluation `s` at `after`: what only decays is taken as
 * is, what grows with silence (silence, drop, 1 - P(alive), SLA components) at its largest.
 */
double rp_scoring_churn_bound(const struct rp_scoring_config *cfg, const struct rp_ctable *t,
                              const struct rp_cust *c, int64_t after,
                              const struct rp_score_parts *s, int64_t until);

/**
 * The next time strictly after `after` at which the scores should be looked at again without a
 * new event (SLA moments, silence thresholds), or INT64_MAX. `now` is the evaluation at `after`:
 * silence checks are skipped for a customer outside any episode whose churn_risk could not
 * reach the enter threshold however long the silence (most one-visit customers), so that
 * timers cost nothing for them. In an episode `now` is not read (it may be NULL).
 */
int64_t rp_scoring_next_check(const struct rp_scoring_config *cfg, const struct rp_ctable *t,
                              const struct rp_cust *c, int64_t after,
                              const struct rp_score_parts *now);

/** rp_scoring_next_check, and (each when not NULL) in `*bound_ever` the churn bound for all time
 * it computed to decide on silence checks (NAN when it did not compute one: in an episode, no
 * active day, unsubscribed), in `*bound_due` the churn bound up to the returned due time outside
 * any episode (rp_scoring_churn_bound; NAN in an episode or without a due time). The two share
 * what depends on `after` alone; each stops early, at some value >= the churn_risk enter
 * threshold, once it is known to reach it (they are only compared with it). */
int64_t rp_scoring_next_check_ex(const struct rp_scoring_config *cfg, const struct rp_ctable *t,
                                 const struct rp_cust *c, int64_t after,
                                 const struct rp_score_parts *now, double *bound_ever,
                                 double *bound_due, int *silence_checkpoint);

/** The time of silence checkpoint `i` (0, 1, ...) of customer `c` (with an active day), as
 * rp_scoring_next_check_ex computes it; that function's `*silence_checkpoint` (when not NULL)
 * gets the i of the checkpoint it returns, or -1 when its due time is another one's. */
int64_t rp_scoring_silence_checkpoint(const struct rp_scoring_config *cfg, const struct rp_cust *c,
                                      int i);

/**
 * A lower bound of churn_risk at any time after the full evaluation `s` while the customer sends
 * nothing more: the noisy-OR of the parts that only grow or stay while nothing happens (silence,
 * 1 - P(alive), overdue questions, open complaints, refunds, unsubscribed) at their values in
 * `s`; the engagement drop and negative sentiment, which may fall, left out.
 */
double rp_scoring_churn_floor(const struct rp_score_parts *s);

/**
 * The advocate score at `at`, computed as rp_scoring_eval computes it (the same bits). While the
 * customer sends nothing, it only falls: its acts decay and friction can only open.
 */
double rp_scoring_advocate_at(const struct rp_scoring_config *cfg, const struct rp_ctable *t,
                              const struct rp_cust *c, int64_t at);

/** What the next-check computation decides for a new customer after their first event, an
 * engagement event of weight `w` (rp_scoring_first_touch). */
enum rp_first_touch {
    RP_FT_COMPUTE = 0, /* depends on the time of day of the event: compute it */
    RP_FT_NO_CHECK,    /* no check (churn_risk could not reach its threshold by silence) */
    RP_FT_CHECKPOINT,  /* silence checkpoint 0, quiet, with no look-ahead before it */
};

/**
 * The next-check decision for every new customer whose first event is an engagement event (no
 * negative sentiment) of weight `w`: their state differs only by the event's time, and the churn
 * bounds that decide are monotone in its time of day, so their values at its ends (with a
 * margin for rounding) decide for every time at once. What rp_scoring_next_check_ex and the
 * reschedule after it (pipeline.c) would decide, or RP_FT_COMPUTE when the ends disagree.
 */
enum rp_first_touch rp_scoring_first_touch(const struct rp_scoring_config *cfg, double w);

/**
 * A time before which churn_risk cannot reach its enter threshold if the customer sends nothing
 * more, from the evaluation `s` at `after` and the churn bound up to `until` (> after): every part
 * but silence at its largest over (after, until] (rp_scoring_churn_bound), silence (which only
 * grows) solved for. Returns `after` when no later time can be given, at most `until`.
 */
int64_t rp_scoring_churn_enter_not_before(const struct rp_scoring_config *cfg,
                                          const struct rp_ctable *t, const struct rp_cust *c,
                                          int64_t after, const struct rp_score_parts *s,
                                          int64_t until);

#endif
