/* metrics: the engine's counters and gauges (SPEC §6), written lock-free, rendered for Prometheus.
 */
#ifndef RP_METRICS_H
#define RP_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "rp_err.h"
#include "signal.h"

/*
 * Design (Redis-style per-thread counters): every counter has exactly one writing thread, so an
 * increment is a relaxed load followed by a relaxed store of the sum (no read-modify-write, no
 * lock prefix: on x86-64 it compiles to a plain add through a register). Relaxed is enough
 * because a counter publishes nothing but its own value: a reader (the HTTP thread rendering
 * /metrics) only needs each load to be untorn, which _Atomic uint64_t guarantees, and it sums
 * the per-writer copies on read. Blocks written by different threads live on different cache
 * lines so writers never false-share.
 *
 * Two kinds of block:
 * - partition counters (struct rp_metrics_part): consumed / applied / dead-lettered per code /
 *   late / signals per kind and transition, per Kafka partition. Because the events of one
 *   partition may be applied by several workers, they are kept per (writer slot, partition): a
 *   writer slot is an index in [0, n_writers) that exactly one thread uses at a time (e.g. slot
 *   0 the consumer thread, slot 1 + w worker w). Rendering sums the slots of each partition.
 * - worker blocks (struct rp_metrics_worker): ring occupancy and the batch-duration histogram
 *   of one worker.
 * Gauges (rp_metrics_gauge_set) are plain relaxed stores: last writer wins, which is the meaning
 * of a gauge, so they may be written by any one thread at a time.
 *
 * Invariant (SPEC §1), per partition, once the engine is quiescent (all events of the partition
 * fully processed): consumed == applied + sum over codes of dead_lettered. While events are in
 * flight, consumed runs ahead (it is counted first), so a live reader may see consumed larger.
 */

/** Upper bounds (seconds) of rapport_batch_seconds's buckets; +Inf is implicit. */
#define RP_METRICS_BATCH_BUCKETS 14
extern const double rp_metrics_batch_bounds_s[RP_METRICS_BATCH_BUCKETS];

#define RP_METRICS_CACHELINE 64

/** A counter or gauge written by one thread at a time (see above). */
typedef _Atomic uint64_t rp_counter;

/** Partition counters of one writer slot. Written by the thread of that slot only. */
struct rp_metrics_part {
    rp_counter consumed;                               /* messages taken from Kafka */
    rp_counter applied;                                /* events applied to state */
    rp_counter dead_lettered[RP_ERR__DEAD_LETTER_END]; /* by enum rp_err code (0 unused) */
    rp_counter late; /* events behind the watermark on arrival (applied or too_late) */
    rp_counter signals[RP_KIND__COUNT][2]; /* [kind][enum rp_transition], by the partition's
                                              pipeline (event-triggered or timer) */
    rp_counter credits_new;      /* credits received for the partition's customers, taken */
    rp_counter credits_repeated; /* ... skipped: sent again by a re-processed event */
} __attribute__((aligned(RP_METRICS_CACHELINE)));

/** Per-worker block. Written by the thread that owns the worker only (gauges: see above). */
struct rp_metrics_worker {
    rp_counter ring_occupancy; /* gauge: batches waiting in this worker's ring */
    /* rapport_batch_seconds: per-bucket (non-cumulative) counts, bucket RP_METRICS_BATCH_BUCKETS
     * is +Inf; the sum in nanoseconds (exact integer, converted on render). There is no separate
     * count: _count is rendered as the sum of the buckets, so it always equals the +Inf bucket
     * even while a batch is being recorded. Use rp_metrics_observe_batch, not these fields. */
    rp_counter batch_bucket[RP_METRICS_BATCH_BUCKETS + 1];
    rp_counter batch_sum_ns;
} __attribute__((aligned(RP_METRICS_CACHELINE)));

struct rp_metrics;

/**
 * Creates the metrics of an engine with `n_writers` writer slots for partition counters,
 * `n_workers` workers and partitions 0..n_partitions-1. All counters start at zero.
 * Returns NULL and fills errstr on bad arguments or allocation failure.
 */
struct rp_metrics *rp_metrics_create(int n_writers, int n_workers, int n_partitions, char *errstr,
                                     size_t errstr_size);
/** Frees the metrics; no thread may still write to or render them. */
void rp_metrics_destroy(struct rp_metrics *m);

/** Number of partitions, workers and writer slots given at creation. */
int rp_metrics_n_partitions(const struct rp_metrics *m);
int rp_metrics_n_workers(const struct rp_metrics *m);
int rp_metrics_n_writers(const struct rp_metrics *m);

/**
 * The counters of `partition` owned by writer slot `writer`: valid until rp_metrics_destroy.
 * Only the thread using that slot may count into it. Asserts both indexes are in range.
 */
struct rp_metrics_part *rp_metrics_part(struct rp_metrics *m, int writer, int partition);
/** The block of worker `worker`, valid until rp_metrics_destroy. Asserts range. */
struct rp_metrics_worker *rp_metrics_worker(struct rp_metrics *m, int worker);

/** Adds `n` to a counter. Caller must be the counter's only writer (no RMW: see above). */
static inline void rp_metrics_add(rp_counter *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

/** Sets a gauge (any one thread at a time). */
static inline void rp_metrics_gauge_set(rp_counter *g, uint64_t v)
{
    atomic_store_explicit(g, v, memory_order_relaxed);
}

/** Records one batch of a worker that took `ns` nanoseconds (worker's own thread only). */
void rp_metrics_observe_batch(struct rp_metrics_worker *w, uint64_t ns);

/**
 * Per-partition gauges, set by the thread that owns the partition's consumption (any one thread
 * at a time): the partition's watermark (ms since the epoch; event time minus allowed lateness),
 * its consumer lag (messages between the committed/position offset and the high watermark) and
 * whether it is assigned. Unassigned partitions with all-zero counters are not rendered.
 */
void rp_metrics_set_partition_watermark(struct rp_metrics *m, int partition, int64_t ms);
void rp_metrics_set_partition_lag(struct rp_metrics *m, int partition, int64_t lag);
void rp_metrics_set_partition_assigned(struct rp_metrics *m, int partition, bool assigned);
/** Whether the partition is idle: left out of the engine's watermark (engine.c, every 200 ms). */
void rp_metrics_set_partition_idle(struct rp_metrics *m, int partition, bool idle);
/** The customers and bytes of state of the partition's pipeline (0 and 0 once it is gone); set
 * by the worker that owns the pipeline. Rendered while the partition is assigned. */
void rp_metrics_set_partition_state(struct rp_metrics *m, int partition, uint64_t customers,
                                    uint64_t bytes);
/** The engine watermark (minimum over active partitions), rendered without a partition label. */
void rp_metrics_set_watermark(struct rp_metrics *m, int64_t ms);

/** Totals of one partition summed over writer slots (for tests, logs and the invariant). */
struct rp_metrics_part_totals {
    uint64_t consumed, applied, dead_lettered, late;
    uint64_t credits_new, credits_repeated;
    uint64_t dead_lettered_by_code[RP_ERR__DEAD_LETTER_END];
    uint64_t signals[RP_KIND__COUNT][2];
};
void rp_metrics_part_totals(const struct rp_metrics *m, int partition,
                            struct rp_metrics_part_totals *out);
/** consumed == applied + dead_lettered for `partition` (meaningful when quiescent, see above). */
bool rp_metrics_partition_balanced(const struct rp_metrics *m, int partition);

/** Totals of the instance: signals[kind][transition] and customers and state bytes summed over
 * partitions, batches over workers. */
struct rp_metrics_worker_totals {
    uint64_t signals[RP_KIND__COUNT][2];
    uint64_t customers, state_bytes;
    uint64_t batch_count, batch_sum_ns;
    uint64_t batch_bucket[RP_METRICS_BATCH_BUCKETS + 1]; /* non-cumulative */
};
void rp_metrics_worker_totals(const struct rp_metrics *m, struct rp_metrics_worker_totals *out);

/**
 * Writes every metric in the Prometheus text exposition format 0.0.4 (HELP and TYPE lines,
 * histogram _bucket{le}/_sum/_count) to `out`. Any thread; reads are relaxed and lock-free.
 * Returns 0 or RP_ERR_IO when writing fails.
 */
int rp_metrics_write(const struct rp_metrics *m, FILE *out);
/**
 * Same into a new NUL-terminated buffer: *text_out is malloc'd (caller frees), *len_out its
 * length without the NUL. Returns 0 or RP_ERR_NOMEM.
 */
int rp_metrics_render(const struct rp_metrics *m, char **text_out, size_t *len_out);
/**
 * rp_metrics_render with the signature of rp_http_handlers.metrics (`metrics` is the struct
 * rp_metrics), for an engine whose /metrics shows nothing else.
 */
int rp_metrics_http_render(void *metrics, char **body_out, size_t *len_out);

#endif
