/* ring: bounded single-producer/single-consumer ring of pointers (DPDK rte_ring style). */
#ifndef RP_RING_H
#define RP_RING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/*
 * Why our own and not ck_ring: ck_ring's SPSC path is equally good, but its API hands out a
 * caller-allocated buffer of `struct ck_ring_buffer` and a size that must be a power of two with
 * one slot lost; this one is ~60 lines, header-only, has bulk operations and per-side cached
 * copies of the other side's index, and every memory order is justified below.
 *
 * Layout: the producer writes `head` and the consumer writes `tail`, each on its own cache line,
 * so that the two threads never write the same line. Each side also keeps a private cached copy
 * of the other side's index (on its own line) and reloads it (acquire) only when the cached value
 * says the ring is full/empty: in steady state an enqueue or dequeue touches no shared line but
 * the slots and its own index.
 *
 * Indices are free-running 64-bit counters (never wrap in practice); slot = index & mask.
 * Invariant: 0 <= head - tail <= capacity.
 */

#define RP_CACHELINE 64

struct rp_ring {
    /* producer side */
    _Alignas(RP_CACHELINE) _Atomic uint64_t head; /* next slot to write; written by producer */
    uint64_t prod_tail_cache;                     /* producer's last view of tail */
    /* consumer side */
    _Alignas(RP_CACHELINE) _Atomic uint64_t tail; /* next slot to read; written by consumer */
    uint64_t cons_head_cache;                     /* consumer's last view of head */
    /* read-only after init */
    _Alignas(RP_CACHELINE) uint64_t mask;
    uint64_t capacity;
    void **slots;
};

/** Initialises a ring of `capacity` slots (a power of two >= 2). Returns 0 or -1 (bad size/nomem).
 */
static inline int rp_ring_init(struct rp_ring *r, size_t capacity)
{
    if (capacity < 2 || (capacity & (capacity - 1)) != 0)
        return -1;
    r->slots = calloc(capacity, sizeof(void *));
    if (!r->slots)
        return -1;
    atomic_init(&r->head, 0);
    atomic_init(&r->tail, 0);
    r->prod_tail_cache = 0;
    r->cons_head_cache = 0;
    r->mask = capacity - 1;
    r->capacity = capacity;
    return 0;
}

static inline void rp_ring_fini(struct rp_ring *r)
{
    free(r->slots);
    r->slots = NULL;
}

/**
 * Producer only. Enqueues up to `n` pointers from `objs`; returns how many were enqueued (all or
 * a prefix: 0 when full).
 */
static inline size_t rp_ring_enqueue_bulk(struct rp_ring *r, void *const *objs, size_t n)
{
    /* relaxed: only this thread writes head */
    uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    uint64_t free_slots = r->capacity - (head - r->prod_tail_cache);
    if (free_slots < n) {
        /* acquire: pairs with the consumer's release store of tail, so that the consumer's reads
         * of the slots it freed happen before our writes into them (no overwrite of a slot that
         * is still being read) */
        r->prod_tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
        free_slots = r->capacity - (head - r->prod_tail_cache);
        if (n > free_slots)
            n = free_slots;
    }
    for (size_t i = 0; i < n; i++)
        r->slots[(head + i) & r->mask] = objs[i];
    /* release: publishes the slot writes above before the new head is visible to the consumer */
    atomic_store_explicit(&r->head, head + n, memory_order_release);
    return n;
}

/** Producer only. Enqueues one pointer; false when the ring is full. */
static inline bool rp_ring_enqueue(struct rp_ring *r, void *obj)
{
    return rp_ring_enqueue_bulk(r, &obj, 1) == 1;
}

/** Consumer only. Dequeues up to `n` pointers into `objs`; returns how many (0 when empty). */
static inline size_t rp_ring_dequeue_burst(struct rp_ring *r, void **objs, size_t n)
{
    /* relaxed: only this thread writes tail */
    uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    uint64_t avail = r->cons_head_cache - tail;
    if (avail < n) {
        /* acquire: pairs with the producer's release store of head: the slot contents written
         * before that store are visible to our reads below */
        r->cons_head_cache = atomic_load_explicit(&r->head, memory_order_acquire);
        avail = r->cons_head_cache - tail;
        if (n > avail)
            n = avail;
    }
    for (size_t i = 0; i < n; i++)
        objs[i] = r->slots[(tail + i) & r->mask];
    /* release: our slot reads above complete before the producer may see the slots as free */
    atomic_store_explicit(&r->tail, tail + n, memory_order_release);
    return n;
}

/** Consumer only. Dequeues one pointer into *obj; false when empty. */
static inline bool rp_ring_dequeue(struct rp_ring *r, void **obj)
{
    return rp_ring_dequeue_burst(r, obj, 1) == 1;
}

/**
 * Any thread: an approximate count of queued entries (exact when called by either side while the
 * other is quiet). relaxed: a monitoring value, it publishes nothing.
 */
static inline size_t rp_ring_count(const struct rp_ring *r)
{
    uint64_t t = atomic_load_explicit(&((struct rp_ring *)r)->tail, memory_order_relaxed);
    uint64_t h = atomic_load_explicit(&((struct rp_ring *)r)->head, memory_order_relaxed);
    return h >= t ? (size_t)(h - t) : 0;
}

static inline size_t rp_ring_capacity(const struct rp_ring *r)
{
    return (size_t)r->capacity;
}

#endif
