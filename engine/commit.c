/* commit: per-partition tracking of dispatched batches, for at-least-once offset commits. */
#include "commit.h"

#include <stdlib.h>

int rp_commit_log_init(struct rp_commit_log *log, uint32_t capacity)
{
    if (capacity < 2 || (capacity & (capacity - 1)) != 0)
        return -1;
    log->recs = calloc(capacity, sizeof(*log->recs));
    if (!log->recs)
        return -1;
    log->mask = capacity - 1;
    rp_commit_log_reset(log, -1);
    return 0;
}

void rp_commit_log_fini(struct rp_commit_log *log)
{
    free(log->recs);
    log->recs = NULL;
}

void rp_commit_log_reset(struct rp_commit_log *log, int64_t from)
{
    log->head = log->tail = 0;
    log->committable = from;
    log->committed = from;
    log->committable_wm = INT64_MIN;
    log->committable_cr = -1;
}

bool rp_commit_log_full(const struct rp_commit_log *log)
{
    return log->head - log->tail > log->mask;
}

struct rp_track *rp_commit_log_push(struct rp_commit_log *log, int64_t end_offset)
{
    struct rp_track *t = &log->recs[log->head & log->mask];
    /* relaxed: the record reaches the worker through the ring's release/acquire pair */
    atomic_store_explicit(&t->refs, 1, memory_order_relaxed);
    atomic_store_explicit(&t->failed, 0, memory_order_relaxed);
    t->end_offset = end_offset;
    t->wm = INT64_MIN;
    t->cr = -1;
    log->head++;
    return t;
}

bool rp_commit_log_advance(struct rp_commit_log *log, bool *failed)
{
    bool moved = false;
    while (log->tail < log->head) {
        struct rp_track *t = &log->recs[log->tail & log->mask];
        /* acquire: pairs with the release in rp_track_unref, so `failed` is read after it was
         * set by whoever dropped a reference */
        if (atomic_load_explicit(&t->refs, memory_order_acquire) != 0)
            break;
        if (atomic_load_explicit(&t->failed, memory_order_relaxed)) {
            *failed = true;
            break;
        }
        if (t->wm > log->committable_wm)
            log->committable_wm = t->wm;
        if (t->cr > log->committable_cr)
            log->committable_cr = t->cr;
        if (t->end_offset > log->committable) {
            log->committable = t->end_offset;
            moved = true;
        }
        log->tail++;
    }
    return moved;
}

bool rp_commit_log_drained(const struct rp_commit_log *log)
{
    return log->tail == log->head;
}
