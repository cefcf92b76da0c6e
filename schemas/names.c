/* names: wire names of event types, signal kinds, transitions, segments and reason codes. */
#include <string.h>

#include "event.h"
#include "signal.h"

static const char *const event_types[RP_EV__COUNT] = {
    "view",     "click",   "login",    "email_open", "like",      "comment",     "signup",
    "purchase", "refund",  "question", "reply",      "complaint", "resolution",  "review",
    "nps",      "mention", "share",    "referral",   "answer",    "unsubscribe",
};
static const char *const kinds[RP_KIND__COUNT] = {"churn_risk", "advocate"};
static const char *const transitions[2] = {"enter", "exit"};
static const char *const segments[RP_SEG__COUNT] = {"new",     "engaged", "transactional",
                                                    "at_risk", "lapsed",  "advocate"};
static const char *const reasons[RP_R__COUNT] = {
    "ENGAGEMENT_DROP",
    "SILENCE",
    "LOW_P_ALIVE",
    "UNANSWERED_QUESTION",
    "OPEN_COMPLAINT",
    "NEGATIVE_SENTIMENT",
    "REFUNDS",
    "UNSUBSCRIBED",
    "REFERRALS_CONVERTED",
    "REFERRALS",
    "SHARES",
    "HELPED_OTHERS",
    "PROMOTER",
    "POSITIVE_REVIEWS",
};

static int lookup(const char *const *names, int n, const char *s, size_t len)
{
    for (int i = 0; i < n; i++)
        if (strlen(names[i]) == len && memcmp(names[i], s, len) == 0)
            return i;
    return -1;
}

#define NAME_OF(table, n, v) ((unsigned)(v) < (unsigned)(n) ? table[v] : NULL)

const char *rp_event_type_name(enum rp_event_type t)
{
    return NAME_OF(event_types, RP_EV__COUNT, t);
}
int rp_event_type_parse(const char *s, size_t len)
{
    return lookup(event_types, RP_EV__COUNT, s, len);
}
const char *rp_signal_kind_name(enum rp_signal_kind k)
{
    return NAME_OF(kinds, RP_KIND__COUNT, k);
}
int rp_signal_kind_parse(const char *s, size_t len)
{
    return lookup(kinds, RP_KIND__COUNT, s, len);
}
const char *rp_transition_name(enum rp_transition t)
{
    return NAME_OF(transitions, 2, t);
}
int rp_transition_parse(const char *s, size_t len)
{
    return lookup(transitions, 2, s, len);
}
const char *rp_segment_name(enum rp_segment s)
{
    return NAME_OF(segments, RP_SEG__COUNT, s);
}
int rp_segment_parse(const char *s, size_t len)
{
    return lookup(segments, RP_SEG__COUNT, s, len);
}
const char *rp_reason_name(enum rp_reason_code r)
{
    return NAME_OF(reasons, RP_R__COUNT, r);
}
int rp_reason_parse(const char *s, size_t len)
{
    return lookup(reasons, RP_R__COUNT, s, len);
}
