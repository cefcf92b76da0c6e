/* conversation: questions/complaints paired with replies/resolutions by `ref`, in either order. */
#include "conversation.h"

#include <xxhash.h>

uint32_t rp_conv_ref_hash(const char *bytes, size_t len)
{
    return (uint32_t)XXH3_64bits(bytes, len);
}

/* The kind that closes `k` (question <-> reply, complaint <-> resolution). */
static enum rp_thread_kind partner(enum rp_thread_kind k)
{
    switch (k) {
    case RP_TH_QUESTION:
        return RP_TH_REPLY;
    case RP_TH_REPLY:
        return RP_TH_QUESTION;
    case RP_TH_COMPLAINT:
        return RP_TH_RESOLUTION;
    case RP_TH_RESOLUTION:
        return RP_TH_COMPLAINT;
    default:
        return RP_TH_FREE;
    }
}

static bool is_tomb(uint8_t k)
{
    return k == RP_TH_REPLY || k == RP_TH_RESOLUTION;
}

/* Adds (kind, ref, ts), merging with an identical entry (earliest time wins: order-free). */
static void put(struct rp_ext_talk *t, enum rp_thread_kind kind, uint32_t ref, int64_t ts)
{
    int free_slot = -1, victim = -1;
    for (int i = 0; i < RP_THREADS_MAX; i++) {
        if (t->kind[i] == kind && t->ref_hash[i] == ref) {
            if (ts < t->at_ms[i])
                t->at_ms[i] = ts;
            return;
        }
        if (t->kind[i] == RP_TH_FREE) {
            if (free_slot < 0)
                free_slot = i;
            continue;
        }
        /* Victim when full: a tombstone before any open thread, then the oldest. */
        if (victim < 0) {
            victim = i;
        } else {
            bool vt = is_tomb(t->kind[victim]), it = is_tomb(t->kind[i]);
            if ((it && !vt) || (it == vt && t->at_ms[i] < t->at_ms[victim]))
                victim = i;
        }
    }
    int s = free_slot >= 0 ? free_slot : victim;
    t->kind[s] = (uint8_t)kind;
    t->ref_hash[s] = ref;
    t->at_ms[s] = ts;
}

static void pair_or_put(struct rp_ext_talk *t, enum rp_thread_kind kind, uint32_t ref, int64_t ts)
{
    enum rp_thread_kind p = partner(kind);
    for (int i = 0; i < RP_THREADS_MAX; i++) {
        if (t->kind[i] == p && t->ref_hash[i] == ref) {
            t->kind[i] = RP_TH_FREE; /* the pair is complete: no friction, nothing kept */
            return;
        }
    }
    put(t, kind, ref, ts);
}

void rp_conv_open(struct rp_ext_talk *t, enum rp_thread_kind kind, uint32_t ref, int64_t ts)
{
    pair_or_put(t, kind, ref, ts);
}

void rp_conv_close(struct rp_ext_talk *t, enum rp_thread_kind kind, uint32_t ref, int64_t ts)
{
    pair_or_put(t, kind, ref, ts);
}

void rp_conv_friction(const struct rp_ext_talk *t, int64_t as_of, int64_t answer_sla_ms,
                      int64_t complaint_sla_ms, struct rp_conv_friction *out)
{
    out->open_questions = out->open_complaints = out->overdue_questions = 0;
    double keep = 1.0, keep_q = 1.0;
    for (int i = 0; i < RP_THREADS_MAX; i++) {
        int64_t age = as_of - t->at_ms[i];
        if (t->kind[i] == RP_TH_QUESTION) {
            out->open_questions++;
            if (age >= answer_sla_ms) {
                out->overdue_questions++;
                int64_t over = age - answer_sla_ms;
                double ramp = over >= answer_sla_ms ? 1.0 : (double)over / (double)answer_sla_ms;
                keep_q *= 1.0 - (RP_UNANSWERED_AT_SLA + (1.0 - RP_UNANSWERED_AT_SLA) * ramp);
            }
        } else if (t->kind[i] == RP_TH_COMPLAINT) {
            out->open_complaints++;
            if (age > 0) {
                double ramp =
                    age >= complaint_sla_ms ? 1.0 : (double)age / (double)complaint_sla_ms;
                keep *= 1.0 - ramp;
            }
        }
    }
    out->unanswered = 1.0 - keep_q;
    out->complaint = 1.0 - keep;
}

int64_t rp_conv_next_due(const struct rp_ext_talk *t, int64_t after, int64_t answer_sla_ms,
                         int64_t complaint_sla_ms)
{
    int64_t due = INT64_MAX;
    for (int i = 0; i < RP_THREADS_MAX; i++) {
        int64_t d;
        if (t->kind[i] == RP_TH_QUESTION) {
            d = t->at_ms[i] + answer_sla_ms;
            if (d <= after) /* overdue: its weight grows until one more SLA has passed */
                d += answer_sla_ms;
        } else if (t->kind[i] == RP_TH_COMPLAINT)
            d = t->at_ms[i] + complaint_sla_ms;
        else
            continue;
        if (d > after && d < due)
            due = d;
    }
    return due;
}
