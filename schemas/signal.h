/* signal: the churn-risk / advocate signal of SPEC §3: encode as msgpack or JSON, decode back. */
#ifndef RP_SIGNAL_H
#define RP_SIGNAL_H

#include <stddef.h>
#include <stdint.h>

#include "event.h"
#include "rp_err.h"

enum rp_signal_kind { RP_KIND_CHURN_RISK = 0, RP_KIND_ADVOCATE = 1, RP_KIND__COUNT };
enum rp_transition { RP_TR_ENTER = 0, RP_TR_EXIT = 1 };

/** Segments of SPEC §2. */
enum rp_segment {
    RP_SEG_NEW = 0,
    RP_SEG_ENGAGED,
    RP_SEG_TRANSACTIONAL,
    RP_SEG_AT_RISK,
    RP_SEG_LAPSED,
    RP_SEG_ADVOCATE,
    RP_SEG__COUNT
};

/** Reason codes of SPEC §3 (the contributions that made a score). */
enum rp_reason_code {
    /* churn_risk */
    RP_R_ENGAGEMENT_DROP = 0,
    RP_R_SILENCE,
    RP_R_LOW_P_ALIVE,
    RP_R_UNANSWERED_QUESTION,
    RP_R_OPEN_COMPLAINT,
    RP_R_NEGATIVE_SENTIMENT,
    RP_R_REFUNDS,
    RP_R_UNSUBSCRIBED,
    /* advocate */
    RP_R_REFERRALS_CONVERTED,
    RP_R_REFERRALS,
    RP_R_SHARES,
    RP_R_HELPED_OTHERS,
    RP_R_PROMOTER,
    RP_R_POSITIVE_REVIEWS,
    RP_R__COUNT
};

const char *rp_signal_kind_name(enum rp_signal_kind k);
const char *rp_transition_name(enum rp_transition t);
const char *rp_segment_name(enum rp_segment s);
const char *rp_reason_name(enum rp_reason_code r);
/** Parsers for the names above; return -1 when unknown. */
int rp_signal_kind_parse(const char *s, size_t len);
int rp_transition_parse(const char *s, size_t len);
int rp_segment_parse(const char *s, size_t len);
int rp_reason_parse(const char *s, size_t len);

#define RP_SIGNAL_MAX_REASONS 3

struct rp_reason {
    enum rp_reason_code code;
    double weight; /* contribution to the score, > 0; reasons are sorted largest first */
};

/** One signal (SPEC §3). */
struct rp_signal {
    uint64_t signal_id; /* rp_signal_id(cid, kind, episode, transition); wire: 16 hex digits */
    struct rp_cid cid;
    enum rp_signal_kind kind;
    enum rp_transition transition;
    double score;
    double previous_score;
    double threshold;
    enum rp_segment segment;
    uint8_t n_reasons; /* 0..RP_SIGNAL_MAX_REASONS */
    struct rp_reason reasons[RP_SIGNAL_MAX_REASONS];
    int64_t as_of_ms;      /* event time of the transition */
    int64_t emitted_at_ms; /* wall clock */
    uint32_t episode;      /* number of `enter`s of this kind for this customer so far */
    uint64_t model;        /* fingerprint of the scoring configuration; wire: 16 hex digits */
};

/** The deterministic signal id: XXH64 over (cid bytes, kind, episode, transition). */
uint64_t rp_signal_id(const struct rp_cid *cid, enum rp_signal_kind kind, uint32_t episode,
                      enum rp_transition transition);

/**
 * Encodes a signal as a msgpack map into `out` (capacity `cap`). Returns the number of bytes, or
 * 0 when `cap` is too small. RP_SIGNAL_ENCODED_MAX bytes always suffice. Allocates nothing.
 */
size_t rp_signal_encode_msgpack(const struct rp_signal *s, void *out, size_t cap);
/** Same as one JSON object, no newline, NUL-terminated; returns the length (without NUL) or 0. */
size_t rp_signal_encode_json(const struct rp_signal *s, char *out, size_t cap);
#define RP_SIGNAL_ENCODED_MAX 1024

/** Decodes what the encoders wrote (msgpack or JSON, auto-detected). For tests and tools. */
enum rp_err rp_signal_decode(const void *buf, size_t len, struct rp_signal *s, char *detail,
                             size_t detail_size);

#endif
