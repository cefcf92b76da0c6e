/* signals: enter/exit transitions of a score with hysteresis and cool-down, episode counting. */
#ifndef RP_SIGNALS_H
#define RP_SIGNALS_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>

#include "customer_table.h"
#include "scoring_config.h"
#include "signal.h"

/*
 * Per customer and kind: `in episode` (RP_CF_IN_EPISODE << kind), the number of enters so far and
 * the event time of the last enter (in rp_ext_sig, created at the first enter), and the score at
 * the previous evaluation (rp_cust.prev_q, 16-bit fixed point: previous_score is reported to
 * 1/65535). enter: not in an episode, score >= enter threshold, and no enter within the cool-down;
 *   exit:  in an episode and score < exit threshold (hysteresis: between the two, nothing).
 */
struct rp_signal_step {
    enum rp_transition transition;
    double previous_score;
    double threshold;
    uint32_t episode;
};

/**
 * Records the evaluation of `score` for `kind` at `as_of`. Returns true (and fills `out`) on a
 * transition. `t` is needed to create the rp_ext_sig on the first enter; returns false without a
 * transition when that allocation fails.
 */
bool rp_signals_step(const struct rp_scoring_config *cfg, struct rp_ctable *t, struct rp_cust *c,
                     enum rp_signal_kind kind, double score, int64_t as_of,
                     struct rp_signal_step *out);

/** Records `score` as the score at the previous evaluation of `kind` (fixed point). */
static inline void rp_signals_record_prev(struct rp_cust *c, enum rp_signal_kind kind, double score)
{
    double q = score * 65535.0;
    c->prev_q[kind] = (uint16_t)(q <= 0 ? 0 : q >= 65535.0 ? 65535 : lrint(q));
}

/** The score at the previous evaluation of `kind` (fixed point). */
static inline double rp_signals_prev(const struct rp_cust *c, enum rp_signal_kind kind)
{
    return c->prev_q[kind] / 65535.0;
}

#endif
