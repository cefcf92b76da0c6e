/* scoring_config: the documented defaults of the relationship model, validation, fingerprint. */
#include "scoring_config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <xxhash.h>

#define MS_MIN  (60 * INT64_C(1000))
#define MS_HOUR (60 * MS_MIN)
#define MS_DAY  (24 * MS_HOUR)

void rp_scoring_config_defaults(struct rp_scoring_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->half_life_short_ms = 7 * MS_DAY;
    cfg->half_life_long_ms = 90 * MS_DAY;
    /* Engagement weights: light touches count little, acts that cost the customer effort more.
     * Purchases and refunds are tracked as transactions, not engagement (weight 0), so that a
     * customer who only buys is `transactional`. */
    static const double w[RP_EV__COUNT] = {
        [RP_EV_VIEW] = 0.2,       [RP_EV_CLICK] = 0.3,       [RP_EV_LOGIN] = 0.5,
        [RP_EV_EMAIL_OPEN] = 0.2, [RP_EV_LIKE] = 0.5,        [RP_EV_COMMENT] = 1.0,
        [RP_EV_SIGNUP] = 1.0,     [RP_EV_PURCHASE] = 0.0,    [RP_EV_REFUND] = 0.0,
        [RP_EV_QUESTION] = 0.5,   [RP_EV_REPLY] = 0.0,       [RP_EV_COMPLAINT] = 0.5,
        [RP_EV_RESOLUTION] = 0.0, [RP_EV_REVIEW] = 1.0,      [RP_EV_NPS] = 0.5,
        [RP_EV_MENTION] = 1.0,    [RP_EV_SHARE] = 1.5,       [RP_EV_REFERRAL] = 1.5,
        [RP_EV_ANSWER] = 1.5,     [RP_EV_UNSUBSCRIBE] = 0.0,
    };
    memcpy(cfg->weight, w, sizeof(w));
    cfg->rhythm_prior_gap_ms = 7 * MS_DAY;
    cfg->answer_sla_ms = 24 * MS_HOUR;
    cfg->complaint_sla_ms = 72 * MS_HOUR;
    cfg->half_life_friction_ms = 30 * MS_DAY;
    cfg->half_life_advocacy_ms = 180 * MS_DAY;
    for (int k = 0; k < RP_KIND__COUNT; k++) {
        cfg->enter[k] = 0.70;
        cfg->exit[k] = 0.50;
    }
    cfg->cooldown_ms = 7 * MS_DAY;
    /* Fader, Hardie & Lee (2005), CDNOW calibration, time unit one week. */
    cfg->bgnbd_r = 0.243;
    cfg->bgnbd_alpha = 4.414;
    cfg->bgnbd_a = 0.793;
    cfg->bgnbd_b = 2.426;
    cfg->bgnbd_unit_ms = 7 * MS_DAY;
    cfg->allowed_lateness_ms = 5 * MS_MIN;
    cfg->w_engagement_drop = 0.75; /* a drop to a fifth of the usual rate enters alone */
    cfg->w_silence = 0.60;
    cfg->w_low_p_alive = 0.50;
    /* an unanswered question alone reaches the 0.70 enter 44 h after it was asked (0.45 when
     * the 24 h SLA is missed, 0.75 at 48 h), an ignored complaint alone at 67.2 h (its weight
     * ramps to 0.75 at the 72 h SLA) */
    cfg->w_unanswered = 0.75;
    cfg->w_complaint = 0.75;
    cfg->w_negative_sentiment = 0.40;
    cfg->w_refunds = 0.35;
    cfg->w_unsubscribed = 0.95;
    cfg->w_referral_converted = 3.0;
    cfg->w_referral = 1.0;
    cfg->w_share = 0.5;
    cfg->w_helped = 1.0;
    cfg->w_promoter = 1.5;
    cfg->w_positive_review = 1.0;
    cfg->w_positive_mention = 0.5;
    cfg->advocate_saturation = 4.0;
    cfg->silence_start_gaps = 2.0;
    cfg->silence_full_gaps = 6.0;
    cfg->lapsed_silence_gaps = 10.0;
    cfg->lapsed_p_alive = 0.10;
    cfg->advocate_friction_hold = 0.3;
    cfg->new_customer_ms = 14 * MS_DAY;
}

enum rp_err rp_scoring_config_validate(const struct rp_scoring_config *cfg, char *errstr,
                                       size_t errstr_size)
{
#define FAIL(...)                                                                                  \
    do {                                                                                           \
        if (errstr_size)                                                                           \
            snprintf(errstr, errstr_size, __VA_ARGS__);                                            \
        return RP_ERR_CONFIG;                                                                      \
    } while (0)
    if (cfg->half_life_short_ms <= 0 || cfg->half_life_long_ms <= 0 ||
        cfg->half_life_friction_ms <= 0 || cfg->half_life_advocacy_ms <= 0)
        FAIL("half-lives must be positive");
    if (cfg->half_life_short_ms >= cfg->half_life_long_ms)
        FAIL("half_life_short must be shorter than half_life_long");
    for (int k = 0; k < RP_KIND__COUNT; k++) {
        if (!(cfg->enter[k] > 0 && cfg->enter[k] <= 1 && cfg->exit[k] >= 0 &&
              cfg->exit[k] < cfg->enter[k]))
            FAIL("%s thresholds must satisfy 0 <= exit < enter <= 1", rp_signal_kind_name(k));
    }
    if (!(cfg->bgnbd_r > 0 && cfg->bgnbd_alpha > 0 && cfg->bgnbd_a > 0 && cfg->bgnbd_b > 0))
        FAIL("BG/NBD parameters r, alpha, a, b must be positive");
    if (cfg->bgnbd_unit_ms <= 0)
        FAIL("bgnbd time unit must be positive");
    if (cfg->allowed_lateness_ms < 0 || cfg->allowed_lateness_ms > 7 * MS_DAY)
        FAIL("allowed_lateness must be between 0 and 7d");
    if (cfg->answer_sla_ms <= 0 || cfg->complaint_sla_ms <= 0 || cfg->rhythm_prior_gap_ms <= 0)
        FAIL("answer_sla, complaint_sla and rhythm_prior_gap must be positive");
    if (cfg->cooldown_ms < 0)
        FAIL("cooldown must not be negative");
    if (!(cfg->advocate_saturation > 0))
        FAIL("advocate_saturation must be positive");
    if (!(cfg->silence_start_gaps >= 0 && cfg->silence_full_gaps > cfg->silence_start_gaps &&
          cfg->lapsed_silence_gaps > 0 && isfinite(cfg->silence_full_gaps) &&
          isfinite(cfg->lapsed_silence_gaps)))
        FAIL("silence gaps must satisfy 0 <= silence_start_gaps < silence_full_gaps, "
             "lapsed_silence_gaps > 0");
    if (!(cfg->lapsed_p_alive >= 0 && cfg->lapsed_p_alive <= 1 &&
          cfg->advocate_friction_hold >= 0 && cfg->advocate_friction_hold <= 1))
        FAIL("lapsed_p_alive and advocate_friction_hold must be in [0, 1]");
    if (cfg->new_customer_ms < 0)
        FAIL("new_customer must not be negative");
    {
        const double churn_w[] = {cfg->w_engagement_drop, cfg->w_silence,
                                  cfg->w_low_p_alive,     cfg->w_unanswered,
                                  cfg->w_complaint,       cfg->w_negative_sentiment,
                                  cfg->w_refunds,         cfg->w_unsubscribed};
        const double act_w[] = {cfg->w_referral_converted,
                                cfg->w_referral,
                                cfg->w_share,
                                cfg->w_helped,
                                cfg->w_promoter,
                                cfg->w_positive_review,
                                cfg->w_positive_mention};
        for (size_t i = 0; i < sizeof(churn_w) / sizeof(churn_w[0]); i++)
            if (!(churn_w[i] >= 0 && churn_w[i] <= 1))
                FAIL("churn_risk component weights must be in [0, 1]");
        for (size_t i = 0; i < sizeof(act_w) / sizeof(act_w[0]); i++)
            if (!(act_w[i] >= 0 && isfinite(act_w[i])))
                FAIL("advocacy act weights must be finite numbers >= 0");
    }
    for (int i = 0; i < RP_EV__COUNT; i++)
        if (!(cfg->weight[i] >= 0 && isfinite(cfg->weight[i])))
            FAIL("weight.%s must be a finite number >= 0", rp_event_type_name(i));
#undef FAIL
    return RP_OK;
}

uint64_t rp_scoring_config_fingerprint(const struct rp_scoring_config *cfg)
{
    /* The struct has no padding holes that matter: it was zeroed by _defaults before being set,
     * and every field is hashed as laid out. */
    return XXH3_64bits(cfg, sizeof(*cfg));
}
