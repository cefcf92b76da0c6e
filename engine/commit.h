/* commit: per-partition tracking of dispatched batches, for at-least-once offset commits. */
#ifndef RP_COMMIT_H
#define RP_COMMIT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/*
 * Every batch of one partition that the consumer thread hands to a worker gets a tracking record
 * in that partition's log, in offset order. The record counts references: 1 held by the worker
 * until it has processed the batch, plus 1 per produce (signal, dead letter, credit) issued because
 * of it, dropped by the delivery report. An offset may be committed once every record up to it
 * has dropped to zero references: everything those messages caused is acknowledged by the broker.
 *
 * Threads: the log (head, tail, committed) belongs to the consumer thread; only `refs` and
 * `failed` of a record are touched by workers and the producer's delivery-report thread.
 */
struct rp_track {
    _Atomic int32_t refs;   /* worker's 1 + produces in flight */
    _Atomic int32_t failed; /* a produce caused by this batch failed for good */
    int64_t end_offset;     /* last offset of the batch + 1: what a commit after it stores */
    /* input partitions: the watermark (ms) up to which the partition's pipeline had fired its
     * timers, all under this record or older ones, when the worker dropped its reference; set
     * before that release, read after the acquire that sees refs == 0 */
    int64_t wm;
    /* input partitions: the credits partition's applied prefix (every credit below this offset
     * had been applied to the pipeline, under this record or older ones) when the worker dropped
     * its reference; -1 unknown. Same publication as `wm`. */
    int64_t cr;
};

struct rp_commit_log {
    struct rp_track *recs;
    uint32_t mask;
    uint64_t head;          /* next record to hand out */
    uint64_t tail;          /* oldest record not yet folded into `committable` */
    int64_t committable;    /* offset up to which everything is acknowledged (-1: nothing yet) */
    int64_t committable_wm; /* max `wm` of the records folded into `committable` */
    int64_t committable_cr; /* max `cr` of the records folded into `committable` (-1: none) */
    int64_t committed;      /* last offset sent in a commit (-1: none) */
};

/** `capacity` records, a power of two. Returns 0 or -1 (nomem / bad size). */
int rp_commit_log_init(struct rp_commit_log *log, uint32_t capacity);
void rp_commit_log_fini(struct rp_commit_log *log);
/** Forgets every record (partition revoked or newly assigned); `committed` starts at `from`. */
void rp_commit_log_reset(struct rp_commit_log *log, int64_t from);
/** True when no record can be handed out until older ones complete. */
bool rp_commit_log_full(const struct rp_commit_log *log);
/** Hands out the next record (refs = 1, for the worker) for a batch ending at `end_offset`. */
struct rp_track *rp_commit_log_push(struct rp_commit_log *log, int64_t end_offset);
/**
 * Folds completed records (in order) into `committable`. Stops at the first record still
 * referenced; sets *failed when it meets a failed one (which is never passed). Returns true when
 * `committable` moved.
 */
bool rp_commit_log_advance(struct rp_commit_log *log, bool *failed);
/** True when every handed-out record has completed (after rp_commit_log_advance). */
bool rp_commit_log_drained(const struct rp_commit_log *log);

/** Worker / producer side: one more reference (before issuing a produce for it). */
static inline void rp_track_ref(struct rp_track *t)
{
    /* relaxed: the caller already holds a reference, so refs cannot be 0 here and nobody can
     * observe a completion that this increment would have to undo */
    atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
}

/** Drops a reference (worker done, or delivery report). `ok` false marks the record failed. */
static inline void rp_track_unref(struct rp_track *t, bool ok)
{
    if (!ok)
        atomic_store_explicit(&t->failed, 1, memory_order_relaxed);
    /* release: the failed flag (and the worker's metric updates) happen before the consumer
     * thread's acquire load sees refs reach 0 */
    atomic_fetch_sub_explicit(&t->refs, 1, memory_order_release);
}

#endif
