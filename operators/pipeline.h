/* pipeline: one owner's operators: customer state table, event-time timers, scoring, signals. */
#ifndef RP_PIPELINE_H
#define RP_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "event.h"
#include "scoring_config.h"
#include "signal.h"

/*
 * A pipeline is owned by exactly one thread (a worker in `rapport run`, the main thread in
 * `rapport score`) and is not thread-safe. It is pure: no I/O, no clock, no Kafka. Time is event
 * time: the owner feeds events with rp_pipeline_apply() and moves the watermark forward with
 * rp_pipeline_advance(); timers (silence, answer SLA, complaints) fire when the watermark passes
 * their due time. Signals come out through the on_signal hook, synchronously, on the owner's
 * thread.
 */
struct rp_pipeline;

/** Credit that one customer's event gives another customer (SPEC §2). */
enum rp_credit_kind {
    RP_CREDIT_REFERRED_BY = 0, /* to `to`: `from` referred you (remember it until first purchase) */
    RP_CREDIT_REFERRAL_CONVERTED, /* to `to`: `from`, whom you referred, made a first purchase */
};

struct rp_credit {
    enum rp_credit_kind kind;
    struct rp_cid to;   /* the credited customer: its owner must apply this */
    struct rp_cid from; /* the customer whose event caused it */
    int64_t ts_ms;      /* event time of the cause */
};

struct rp_pipeline_hooks {
    void *opaque;
    /** A transition happened. `sig` is valid only during the call. Required. */
    void (*on_signal)(void *opaque, const struct rp_signal *sig);
    /**
     * A credit for another customer. When NULL, the pipeline applies it to itself (one process
     * owns everybody, as in `rapport score`). The engine routes it to the owner of `c->to`.
     */
    void (*on_credit)(void *opaque, const struct rp_credit *c);
    /** Wall clock in ms for `emitted_at`; NULL = 0 (deterministic output in tests). */
    int64_t (*now_ms)(void *opaque);
};

/** Counters, monotonic; read by the owner thread only (the engine copies them out). */
struct rp_pipeline_stats {
    uint64_t applied;  /* events applied to state */
    uint64_t too_late; /* events refused as too_late */
    uint64_t credits_applied;
    uint64_t timers_fired;
    uint64_t signals[RP_KIND__COUNT][2]; /* [kind][transition] */
    uint64_t evaluations_skipped;        /* events and checks that could not make a transition */
    /* where the timer model's work goes (bench_pipeline prints them per event) */
    uint64_t reschedules;       /* next-check computations: one per event, check and look-ahead */
    uint64_t lookaheads;        /* deferred look-aheads made when their time came (not checks) */
    uint64_t lookahead_evals;   /* evaluations at the next checkpoint, ahead of time */
    uint64_t crossing_searches; /* of those, transitions placed to the minute (crossing()) */
    uint64_t holds; /* reschedules that filed no check: in a churn_risk episode no time can end */
    uint64_t held_checks; /* checks passed over while held, worked out at the next event/credit */
};

/**
 * Creates a pipeline. `cfg` is copied. `expected_customers` sizes the table (it grows anyway);
 * the index and the records for that many are faulted in here, off the event path (unless they
 * would take more than half the machine's memory). Returns NULL and fills errstr on failure.
 */
struct rp_pipeline *rp_pipeline_create(const struct rp_scoring_config *cfg,
                                       const struct rp_pipeline_hooks *hooks,
                                       size_t expected_customers, char *errstr, size_t errstr_size);
void rp_pipeline_destroy(struct rp_pipeline *p);

/**
 * Applies one validated event. Returns RP_OK, or RP_ERR_TOO_LATE (event time behind the current
 * watermark: nothing changed, the caller dead-letters it). Before applying, fires the timers of
 * this customer that are due at or before the event's time. May emit signals and credits.
 * Never allocates per event in steady state (the table grows geometrically).
 */
enum rp_err rp_pipeline_apply(struct rp_pipeline *p, const struct rp_event *ev);

/**
 * Optional cache hints for owners that see events ahead (a batch): they only issue prefetches,
 * change nothing and may be skipped. At 1 M+ customers the per-event cost is the cache misses
 * of the hash slot, the record, the cid bytes and the extensions; issuing them a few events
 * ahead overlaps them. Each stage reads only what the previous one fetched: stage 0 (about 8-12
 * events ahead) the hash slot; stage 1 (4-6 ahead) the record and its extension links; stage 2
 * (2-3 ahead) the cid bytes; stage 3 (1 ahead) the extensions.
 */
void rp_pipeline_prefetch(struct rp_pipeline *p, const struct rp_event *ev, int stage);

/**
 * The same with the event's cid hash computed once (rp_pipeline_cid_hash) by an owner that
 * keeps it beside the event: rp_pipeline_prefetch and rp_pipeline_apply hash the cid at each
 * call (5 times per event with the 4 stages). The owner also keeps `*rec` beside the event,
 * set to UINT32_MAX (none) when the event is decoded: stage 1 sets it to the record it found,
 * and stages 2 and 3 start from it instead of looking for the record again (stage 0 leaves it
 * alone; an event that never got stage 1 gets nothing from stages 2 and 3).
 */
uint64_t rp_pipeline_cid_hash(const struct rp_event *ev);
void rp_pipeline_prefetch_hashed(struct rp_pipeline *p, uint64_t cid_hash, int stage,
                                 uint32_t *rec);
/** rp_pipeline_apply with `cid_hash` == rp_pipeline_cid_hash(ev). */
enum rp_err rp_pipeline_apply_hashed(struct rp_pipeline *p, const struct rp_event *ev,
                                     uint64_t cid_hash);
/** rp_pipeline_apply_hashed with the record that prefetch stage 1 found for the event (`rec`,
 * as rp_pipeline_prefetch_hashed left it; UINT32_MAX: none): taken without a lookup when its
 * cid is the event's (it is unless two cids share the index tag), else looked up. A found
 * record's extensions are taken to be fetched already (stage 3, after stage 1: owners run the
 * stages in order); without a hint they are fetched here. */
enum rp_err rp_pipeline_apply_hinted(struct rp_pipeline *p, const struct rp_event *ev,
                                     uint64_t cid_hash, uint32_t rec);

/** Applies a credit routed from another owner (or from on_credit == NULL internally). */
void rp_pipeline_apply_credit(struct rp_pipeline *p, const struct rp_credit *c);

/**
 * Moves the watermark to `watermark_ms` (ignored when not larger than the current one) and fires
 * every timer due before it, in due-time order. May emit signals.
 */
void rp_pipeline_advance(struct rp_pipeline *p, int64_t watermark_ms);

/** The current watermark (INT64_MIN before the first advance). */
int64_t rp_pipeline_watermark(const struct rp_pipeline *p);

/** A read-only view of one customer's scores, evaluated at time `at_ms` (SPEC §4 --state-out). */
struct rp_customer_view {
    struct rp_cid cid;
    double churn_risk, advocate;
    enum rp_segment segment;
    double p_alive;
    uint32_t x;       /* repeat purchase days */
    double t_x_weeks; /* last - first purchase day, in weeks of 7 days (0 when no purchase) */
    double T_weeks;   /* at_ms's UTC day - first purchase day, in weeks (0 when no purchase) */
    double engagement_short, engagement_long; /* decayed to at_ms */
    uint8_t n_churn_reasons, n_advocate_reasons;
    struct rp_reason churn_reasons[RP_SIGNAL_MAX_REASONS];
    struct rp_reason advocate_reasons[RP_SIGNAL_MAX_REASONS];
    int64_t last_event_ms;
    uint32_t open_questions, open_complaints;
    bool unsubscribed;
};

/** Fills `out` for `cid` at time `at_ms`; RP_ERR_NOT_FOUND when the customer is unknown here. */
enum rp_err rp_pipeline_view(struct rp_pipeline *p, const struct rp_cid *cid, int64_t at_ms,
                             struct rp_customer_view *out);

/** Calls `fn` for every customer, in ascending cid byte order (deterministic), viewed at `at_ms`.
 */
enum rp_err rp_pipeline_foreach(struct rp_pipeline *p, int64_t at_ms,
                                void (*fn)(void *opaque, const struct rp_customer_view *v),
                                void *opaque);

size_t rp_pipeline_customers(const struct rp_pipeline *p);
/** Bytes of memory held for customer state (table, records, strings, timers). */
size_t rp_pipeline_state_bytes(const struct rp_pipeline *p);
const struct rp_pipeline_stats *rp_pipeline_stats(const struct rp_pipeline *p);

/** Writes a view as one JSON object (SPEC §4 --state-out fields), NUL-terminated; returns length or
 * 0. */
size_t rp_customer_view_json(const struct rp_customer_view *v, char *out, size_t cap);

#endif
