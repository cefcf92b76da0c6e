/* timers: an event-time hashed timing wheel of per-customer checks (silence, answer SLA, ...). */
#ifndef RP_TIMERS_H
#define RP_TIMERS_H

#include <stddef.h>
#include <stdint.h>

#include "customer_table.h"

/*
 * Each customer has at most one pending check: rp_cust.due_ms, its earliest due time. The wheel
 * files customers by due minute in a ring of RP_WHEEL_SLOTS one-minute slots (45 days); dues
 * further away wait in an overflow array that is folded into the ring every half revolution.
 *
 * Filing is lazy, so that the per-event cost is near zero: when an event moves a due LATER,
 * nothing is re-filed (the old entry pops, sees the due moved, and files itself once more); only
 * a due EARLIER than the earliest filed entry (rp_cust.filed_min) files a new one. Stale entries
 * are dropped when they pop. Invariant: when due_ms != INT64_MAX there is a live entry at a
 * minute <= max(due minute, current minute). An entry for a later minute of the ring may wait in
 * a staging batch (rp_timers.staged) until it is pushed into its slot, always before that
 * minute is processed.
 *
 * A slot is a small array of record indexes, not a linked list through the records: popping a
 * slot then reads one contiguous array and can prefetch every record at once, instead of
 * chasing one cache miss per entry. Arrays keep their capacity, so steady state allocates
 * nothing.
 */
#define RP_WHEEL_BITS  16
#define RP_WHEEL_SLOTS (1u << RP_WHEEL_BITS)

struct rp_timer_vec {
    uint32_t *a;
    uint32_t n, cap;
};

#define RP_TIMERS_STAGED 256

struct rp_timer_far {
    uint32_t cust;   /* record index */
    uint32_t minute; /* the minute it is filed for */
};

/** A popped entry with its due time, sorted by (due, record index) before firing. */
struct rp_timer_key {
    int64_t due_ms;
    uint32_t cust;
    uint32_t pad_;
};

struct rp_timers {
    struct rp_timer_vec *slots; /* RP_WHEEL_SLOTS arrays of record indexes */
    struct rp_timer_far *far;   /* entries due beyond the ring */
    size_t n_far, cap_far;
    int64_t cur_min; /* minute being processed; entries before it have popped */
    int started;     /* cur_min is set (at the first advance) */
    /* A watermark at or below this has nothing to fire (rp_timers_idle): the end of cur_min,
     * or just before the earliest pending due, once cur_min is processed and until something
     * is filed into it again. INT64_MIN: unknown. */
    int64_t idle_until;
    size_t in_slots;
    size_t vec_bytes; /* capacity of the slot arrays, in bytes */
    /* The entries of cur_min that were popped but are not due yet (due later in that minute,
     * past the watermark): a binary min-heap by (due, record index), so that each watermark
     * step within the minute pops only what fell due, not the whole slot again. */
    struct rp_timer_key *pending;
    size_t n_pending, cap_pending;
    struct rp_timer_key *scratch; /* the slot being processed, then its due entries sorted */
    size_t cap_scratch;
    /* Entries for minutes after cur_min, not yet pushed into their slots: they are pushed in
     * batches (flush_staged in timers.c), each slot's array fetched ahead, rather than one
     * cache miss per filing; always before a minute they are for is processed. */
    struct rp_timer_far staged[RP_TIMERS_STAGED];
    uint32_t n_staged;
    uint32_t staged_min; /* the earliest minute staged */
};

/** Called for a customer whose due time is <= the watermark: it must evaluate the customer at
 * rec->due_ms and reschedule (rp_timers_schedule with a due strictly later, or INT64_MAX). */
typedef void (*rp_timer_fire_fn)(void *opaque, uint32_t idx);

int rp_timers_init(struct rp_timers *tm);
void rp_timers_fini(struct rp_timers *tm);

/** Sets customer `idx`'s due time and files it when needed. Returns 0 or -1 (out of memory). */
int rp_timers_schedule(struct rp_timers *tm, struct rp_ctable *t, uint32_t idx, int64_t due_ms);

/** True when an advance to `watermark_ms` would do nothing: the common case in a stream,
 * where the watermark moves after every event and checks come by the minute. (Inline: it
 * spares most advances a call; 2.7 M of them in bench_pipeline's 3 M events at 1 M
 * customers.) */
static inline int rp_timers_idle(const struct rp_timers *tm, int64_t watermark_ms)
{
    return watermark_ms <= tm->idle_until;
}

/** Fires, in due-time order, every customer due at or before `watermark_ms`. */
void rp_timers_advance(struct rp_timers *tm, struct rp_ctable *t, int64_t watermark_ms,
                       rp_timer_fire_fn fire, void *opaque);

size_t rp_timers_bytes(const struct rp_timers *tm);

#endif
