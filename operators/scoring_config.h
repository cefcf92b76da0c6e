/* scoring_config: every tunable of the relationship model, with the documented defaults. */
#ifndef RP_SCORING_CONFIG_H
#define RP_SCORING_CONFIG_H

#include <stdint.h>

#include "event.h"
#include "signal.h"

/*
 * All durations are in milliseconds of event time. The defaults live in one place,
 * rp_scoring_config_defaults() (scoring_config.c), and the configuration reference
 * (`rapport config --reference`, README) is generated from engine/config.c's key table, which
 * points into this struct.
 */
struct rp_scoring_config {
    /* engagement */
    int64_t half_life_short_ms;  /* default 7 d */
    int64_t half_life_long_ms;   /* default 90 d */
    double weight[RP_EV__COUNT]; /* engagement weight per event type */
    /* rhythm and silence */
    int64_t rhythm_prior_gap_ms; /* prior typical gap between active days, default 7 d */
    /* friction */
    int64_t answer_sla_ms;         /* a question unanswered past this is friction, default 24 h */
    int64_t complaint_sla_ms;      /* a complaint unresolved past this weighs fully, default 72 h */
    int64_t half_life_friction_ms; /* sentiment and refunds decay, default 30 d */
    /* advocacy */
    int64_t half_life_advocacy_ms; /* default 180 d */
    /* signals */
    double enter[RP_KIND__COUNT]; /* enter thresholds, default 0.70 */
    double exit[RP_KIND__COUNT];  /* exit thresholds, default 0.50 */
    int64_t cooldown_ms;          /* no second enter of a kind within this, default 7 d */
    /* BG/NBD population parameters (default: the published CDNOW fit) and their time unit */
    double bgnbd_r, bgnbd_alpha, bgnbd_a, bgnbd_b;
    int64_t bgnbd_unit_ms; /* default 1 week */
    /* time */
    int64_t allowed_lateness_ms; /* watermark = max event time - this, default 5 min */
    /* churn_risk component weights (noisy-OR), see scoring.c for their meaning */
    double w_engagement_drop, w_silence, w_low_p_alive, w_unanswered, w_complaint,
        w_negative_sentiment, w_refunds, w_unsubscribed;
    /* advocate act weights and saturation */
    double w_referral_converted, w_referral, w_share, w_helped, w_promoter, w_positive_review,
        w_positive_mention;
    double advocate_saturation; /* acts-weight at which advocate reaches 1 - 1/e */
    /* Shapes of the components (added with issue 3; see operators/MODEL.md). */
    double silence_start_gaps;     /* silence starts to count after this many own gaps, 2 */
    double silence_full_gaps;      /* ... and counts fully after this many, 6 */
    double lapsed_silence_gaps;    /* segment lapsed: silent this many gaps (and 30 d), 10 */
    double lapsed_p_alive;         /* segment lapsed: buyer with P(alive) below this, 0.10 */
    double advocate_friction_hold; /* advocate x this while friction is open, 0.3 */
    int64_t new_customer_ms;       /* segment new: first active day less than this ago, 14 d */
};

/** Fills `cfg` with the documented defaults. */
void rp_scoring_config_defaults(struct rp_scoring_config *cfg);

/** Checks cross-field rules (exit < enter, positive half-lives, ...). Writes a reason on error. */
enum rp_err rp_scoring_config_validate(const struct rp_scoring_config *cfg, char *errstr,
                                       size_t errstr_size);

/** Fingerprint of every field (the `model` of a signal): equal configs, equal fingerprints. */
uint64_t rp_scoring_config_fingerprint(const struct rp_scoring_config *cfg);

#endif
