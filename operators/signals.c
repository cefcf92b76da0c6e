/* signals: enter/exit transitions of a score with hysteresis and cool-down, episode counting. */
#include "signals.h"

#include <math.h>

bool rp_signals_step(const struct rp_scoring_config *cfg, struct rp_ctable *t, struct rp_cust *c,
                     enum rp_signal_kind kind, double score, int64_t as_of,
                     struct rp_signal_step *out)
{
    uint8_t bit = (uint8_t)(RP_CF_IN_EPISODE << kind);
    double prev = rp_signals_prev(c, kind);
    bool fired = false;
    if (!(c->flags & bit)) {
        if (score >= cfg->enter[kind]) {
            struct rp_ext_sig *e = rp_ctable_sig(t, c, true);
            if (e &&
                (e->episode[kind] == 0 || as_of - e->last_enter_ms[kind] >= cfg->cooldown_ms)) {
                e->episode[kind]++;
                e->last_enter_ms[kind] = as_of;
                c->flags |= bit;
                out->transition = RP_TR_ENTER;
                out->threshold = cfg->enter[kind];
                out->episode = e->episode[kind];
                fired = true;
            }
        }
    } else if (score < cfg->exit[kind]) {
        const struct rp_ext_sig *e = rp_ctable_sig(t, c, false);
        c->flags &= (uint8_t)~bit;
        out->transition = RP_TR_EXIT;
        out->threshold = cfg->exit[kind];
        out->episode = e ? e->episode[kind] : 0;
        fired = true;
    }
    out->previous_score = prev;
    rp_signals_record_prev(c, kind, score);
    return fired;
}
