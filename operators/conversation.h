/* conversation: questions/complaints paired with replies/resolutions by `ref`, in either order. */
#ifndef RP_CONVERSATION_H
#define RP_CONVERSATION_H

#include <stdbool.h>
#include <stdint.h>

#include "customer_table.h"

/*
 * A customer has at most RP_THREADS_MAX threads. A question (complaint) opens a thread at its
 * event time; the reply (resolution) with the same ref closes it. A reply that arrives before its
 * question (out of order) leaves a tombstone, which the question then consumes: the pair is
 * closed in either order, so the state does not depend on arrival order. When all slots are
 * taken, the oldest tombstone is dropped first, then the oldest open thread (a bounded state that
 * forgets the oldest conversation rather than growing).
 */

/** Hash of a ref's bytes (threads are matched by it). */
uint32_t rp_conv_ref_hash(const char *bytes, size_t len);

/** A question (RP_TH_QUESTION) or complaint (RP_TH_COMPLAINT) with `ref` at `ts`. */
void rp_conv_open(struct rp_ext_talk *t, enum rp_thread_kind kind, uint32_t ref, int64_t ts);

/** A reply (RP_TH_REPLY) or resolution (RP_TH_RESOLUTION) with `ref` at `ts`. */
void rp_conv_close(struct rp_ext_talk *t, enum rp_thread_kind kind, uint32_t ref, int64_t ts);

/* An open question weighs nothing within the answer SLA, RP_UNANSWERED_AT_SLA from the moment
 * the SLA is missed, and then more the longer it stays unanswered, fully one more SLA later
 * (asked + 2 x answer_sla): a question nobody answers ends up weighing as much as an ignored
 * complaint, so it alone can make a churn_risk signal (SPEC §2). */
#define RP_UNANSWERED_AT_SLA 0.6

/** Friction at `as_of`: how the open threads weigh. Both weights only grow with `as_of` while
 * no thread opens or closes (the churn bounds rely on it). */
struct rp_conv_friction {
    uint32_t open_questions, open_complaints;
    uint32_t overdue_questions; /* open questions with as_of >= asked + answer_sla */
    double unanswered;          /* noisy-OR of the overdue questions' weights (above) */
    double complaint;           /* noisy-OR of min(1, age / complaint_sla) over open complaints */
};
void rp_conv_friction(const struct rp_ext_talk *t, int64_t as_of, int64_t answer_sla_ms,
                      int64_t complaint_sla_ms, struct rp_conv_friction *out);

/** The earliest SLA moment (asked + answer_sla, asked + 2 x answer_sla where an unanswered
 * question reaches its full weight, opened + complaint_sla) strictly after `after`, or
 * INT64_MAX. */
int64_t rp_conv_next_due(const struct rp_ext_talk *t, int64_t after, int64_t answer_sla_ms,
                         int64_t complaint_sla_ms);

#endif
