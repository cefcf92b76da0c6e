/* customer_table: per-customer state records, the cid hash index, the cid arena, extension pools.
 */
#ifndef RP_CUSTOMER_TABLE_H
#define RP_CUSTOMER_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "event.h"
#include "signal.h"

/*
 * Memory layout (target <= 128 bytes per customer, everything included):
 * - records: one 64-byte, cache-line-aligned struct rp_cust per customer, in 2 MiB chunks of
 *   RP_RECS_PER_CHUNK (growing never copies, and never over-allocates by 2x like a doubling
 *   array);
 * - index: open addressing with linear probing; slots of {32-bit hash tag, record index + 1};
 *   load <= 0.75; any capacity (the hash is mapped by multiply-shift, not masked, so a table sized
 *   for N customers holds ~N/0.75 slots, not the next power of two);
 * - cid bytes: an append-only arena of (1 length byte + bytes), addressed by a 32-bit offset;
 *   a customer's cid comes right after its extension links (struct rp_links, 12 bytes): every
 *   event reads both (the links to evaluate, the cid to know the customer), and together they
 *   are one cache line to fetch where they were two, the links at the end of the record's chunk
 *   and the cid here (rp_ctable_links);
 * - extensions (purchases, conversation, advocacy, signal episodes) only for the customers that
 *   need them, in chunked pools addressed by 32-bit indexes (0 = none); the links to the first
 *   three are before the cid, the one to the episodes (read with the record's flags) in the
 *   record. Customers are never deleted, so the pools need no free lists.
 * Nothing here is thread-safe: one owner thread (the pipeline's).
 */

#define RP_NONE32 UINT32_MAX

/* rp_cust.flags */
#define RP_CF_UNSUBSCRIBED 0x01u
#define RP_CF_IN_EPISODE   0x02u /* << kind: in an episode of that kind (entered, not exited) */
/* In a churn_risk episode that no time can end (pipeline.c): no check is filed; the checks
 * that would have come since clock_ms + stale_dt, none of which could make a transition, are
 * worked out when the customer's next event or credit comes. */
#define RP_CF_HELD       0x08u
#define RP_CF_HAS_EVENTS 0x10u /* at least one own event (credits alone do not set it) */
_Static_assert((RP_CF_IN_EPISODE << (RP_KIND__COUNT - 1)) < RP_CF_HELD, "flags overlap");
/* No enter can happen until due_ms unless the state changes: set by the pipeline's reschedule
 * outside any episode, with advocate below its enter threshold and the churn bound up to due_ms
 * below its own (an engagement event then needs no evaluation, pipeline.c). */
#define RP_CF_QUIET 0x20u
/* prev_q is stale: the previous evaluation, skipped, is that of the current state at
 * clock_ms + stale_dt. */
#define RP_CF_PREV_STALE 0x40u
/* The look-ahead of the last reschedule (evaluation at the next checkpoint, crossing search) is
 * deferred: due_ms is only a time before which churn_risk cannot reach its enter threshold, and
 * the reschedule is made there, from clock_ms + stale_dt, if no event came first (pipeline.c). */
#define RP_CF_LOOKAHEAD 0x80u

/** The hot per-customer record: exactly one cache line. */
struct rp_cust {
    int64_t clock_ms;   /* max own event time; eng_* are kept as of it */
    double eng_short;   /* decayed weighted interactions, short half-life */
    double eng_long;    /* decayed weighted interactions, long half-life */
    int64_t due_ms;     /* earliest pending timer check (INT64_MAX: none) */
    int32_t first_day;  /* first active UTC day (days since epoch); valid when n_days > 0 */
    uint16_t span_days; /* last active day - first_day (saturates at 65535) */
    uint16_t n_days;    /* distinct active days (saturates at 65535) */
    uint32_t cid_off;   /* cid in the arena */
    uint32_t sig;       /* rp_ext_sig index, 0 = none */
    uint32_t stale_dt;  /* RP_CF_PREV_STALE: the skipped evaluation was at clock_ms + this (ms);
                           RP_CF_LOOKAHEAD: the deferred reschedule is from clock_ms + this;
                           RP_CF_HELD: the hold began at clock_ms + this */
    uint32_t filed_min; /* earliest wheel minute with an entry for this record (RP_NONE32: none) */
    uint16_t prev_q[RP_KIND__COUNT]; /* score at the previous evaluation, x 65535 */
    uint8_t day_bits;                /* bit i: active on day (last active day - 1 - i), i < 8 */
    uint8_t flags;                   /* RP_CF_* */
    uint8_t ckpt; /* RP_CF_LOOKAHEAD: the silence checkpoint that is the deferred look-ahead's
                     checkpoint (rp_scoring_silence_checkpoint), or RP_CKPT_NONE */
    uint8_t pad_;
};
#define RP_CKPT_NONE 0xffu /* (another kind of due time, or checkpoint 255 and later) */

/** Links to the extensions of a customer with more than engagement (pool indexes, 0 = none):
 * one per customer, just before its cid in the arena (rp_ctable_links). Packed (alignment 1):
 * arena entries are not padded to align them (3 bytes per customer with 8-byte cids); x86
 * reads them unaligned at no cost. */
struct __attribute__((packed)) rp_links {
    uint32_t buy, talk, adv;
};

/** Signal episodes: only for customers who entered an episode once. */
struct rp_ext_sig {
    int64_t last_enter_ms[RP_KIND__COUNT]; /* event time of the last enter (INT64_MIN: never) */
    uint32_t episode[RP_KIND__COUNT];      /* enters so far */
};

/* rp_ext_buy.bflags */
#define RP_BF_CONVERTED   0x01u /* a REFERRAL_CONVERTED credit was sent for this customer */
#define RP_BF_REFERRED_BY 0x02u /* referrer_off holds who referred this customer */

/**
 * Purchases (BG/NBD inputs, monetary value) and the other friction values: everything decayed
 * with the friction half-life shares one clock, so a customer with negative sentiment but no
 * purchase needs no separate extension.
 */
struct rp_ext_buy {
    int64_t clock_ms;    /* max time of an event that touched money, refunds or neg */
    double money;        /* decayed purchase value (friction half-life) */
    double refunds;      /* decayed refund value (friction half-life) */
    double neg;          /* decayed negative sentiment (friction half-life) */
    int32_t first_pday;  /* first purchase UTC day; valid when n_pdays > 0 */
    uint16_t pspan_days; /* last purchase day - first purchase day (saturates) */
    uint16_t n_pdays;    /* distinct purchase days; x = n_pdays - 1 */
    uint8_t pbits;       /* bit i: purchase on (last purchase day - 1 - i) */
    uint8_t bflags;      /* RP_BF_* */
    uint8_t pad_[2];
    uint32_t referrer_off; /* arena offset of the referrer's cid (RP_BF_REFERRED_BY) */
};

#define RP_THREADS_MAX 4 /* open questions/complaints (and early-reply tombstones) per customer */
enum rp_thread_kind {
    RP_TH_FREE = 0,
    RP_TH_QUESTION,   /* open question, opened at `at` */
    RP_TH_COMPLAINT,  /* open complaint */
    RP_TH_REPLY,      /* tombstone: a reply that arrived before its question */
    RP_TH_RESOLUTION, /* tombstone: a resolution that arrived before its complaint */
};

/** Conversation: open threads by ref (32-bit hash: a collision needs two of one customer's
 * at most 4 live refs to share it). */
struct rp_ext_talk {
    int64_t at_ms[RP_THREADS_MAX];
    uint32_t ref_hash[RP_THREADS_MAX];
    uint8_t kind[RP_THREADS_MAX]; /* enum rp_thread_kind */
    uint32_t pad_;
};

/** Categories of advocacy acts (decayed counts, advocacy half-life). */
enum rp_act {
    RP_ACT_REFERRAL_CONVERTED = 0,
    RP_ACT_REFERRAL,
    RP_ACT_SHARE,
    RP_ACT_HELPED,
    RP_ACT_PROMOTER,
    RP_ACT_POSITIVE_REVIEW,
    RP_ACT_POSITIVE_MENTION,
    RP_ACT__COUNT
};

struct rp_ext_adv {
    int64_t clock_ms;
    double acts[RP_ACT__COUNT];
};

/** 2 MiB regions (huge pages) that the chunks smaller than that are carved from. */
struct rp_slab {
    char *base;
    uint32_t used; /* bytes handed out */
};
struct rp_slabs {
    struct rp_slab *slab;
    uint32_t n, cap;
    size_t bytes; /* all slabs together */
};

/** A pool of fixed-size elements in chunks; index 0 is reserved for "none". An index is
 * (chunk << shift) | slot: the k-th element handed out has index k. */
struct rp_pool {
    void **chunks;
    uint32_t n_chunks, cap_chunks;
    uint32_t count; /* the next index to hand out (index 0 is never handed out) */
    uint32_t elem_size;
    unsigned shift;         /* chunk of (1 << shift) element slots */
    struct rp_slabs *slabs; /* where chunks come from (NULL: chunks of 2 MiB and more) */
};

struct rp_ctable {
    uint64_t *slots; /* (tag << 32) | (record index + 1); 0 = empty */
    size_t cap;      /* number of slots */
    struct rp_pool recs;
    struct rp_pool buys, talks, advs, sigs;
    struct rp_slabs slabs; /* the chunks of the extension pools and of the arena */
    char **arena;
    uint32_t n_arena, cap_arena;
    uint32_t arena_used; /* bytes used in the last arena chunk */
    uint8_t str_max;     /* the longest string interned, in bytes (for the cid prefetch) */
    uint32_t n;          /* customers */
};

/*
 * Bytes of slabs (the cid arena's and the extensions' chunks) faulted in at start per expected
 * customer. Memory that is first touched on the event path stalls it while the kernel zeroes a
 * 2 MiB page (and, on a VM whose host backs memory lazily, for up to ~5 ms per page): 0.01 to
 * 0.10 s of bench_pipeline's 0.8-1.1 s at 1 M customers. A floor of what populations use, so
 * that it is rarely faulted in for nothing (it counts as state either way): the cids alone
 * take their length + 13 (with their links); bench_pipeline's mix takes about 45 bytes per
 * customer in all, a `rapport gen` population (60 days, most customers buyers) about 135.
 */
#define RP_SLABS_RESERVE_PER_CUSTOMER 44

/** Sizes the index for `expected` customers and faults it in with the records for that many
 * (customer_table.c: unless that would take more than half the machine's memory). */
int rp_ctable_init(struct rp_ctable *t, size_t expected);
void rp_ctable_fini(struct rp_ctable *t);

/* Elements per chunk (1 << shift) of the table's pools, fixed so that the typed accessors below
 * compile to a shift, a mask and a constant multiply (reading the shift and the element size from
 * the pool and multiplying cost more, at about 25 such lookups per event). */
#define RP_RECS_SHIFT       15 /* 2 MiB chunks of records: one huge page each */
#define RP_RECS_CHUNK_BYTES ((size_t)sizeof(struct rp_cust) << RP_RECS_SHIFT)
#define RP_RECS_PER_CHUNK   ((uint32_t)1 << RP_RECS_SHIFT) /* (all of a chunk is records) */
#define RP_BUYS_SHIFT       14
#define RP_TALKS_SHIFT      12
#define RP_ADVS_SHIFT       12
#define RP_SIGS_SHIFT       12

#define RP_POOL_ELEM(p, i, type, shift)                                                            \
    ((type *)((char *)(p)->chunks[(uint32_t)(i) >> (shift)] +                                      \
              (size_t)((uint32_t)(i) & ((1u << (shift)) - 1)) * sizeof(type)))

#define RP_ARENA_SHIFT 20 /* 1 MiB arena chunks */

/** The extension links of a record: in the arena, just before its cid (one line with it). */
static inline struct rp_links *rp_ctable_links(const struct rp_ctable *t, const struct rp_cust *c)
{
    /* (the links are in the cid's arena chunk: customer_table.c) */
    uint32_t off = c->cid_off - (uint32_t)sizeof(struct rp_links);
    return (struct rp_links *)(t->arena[off >> RP_ARENA_SHIFT] +
                               (off & ((1u << RP_ARENA_SHIFT) - 1)));
}

/** Hands out a zeroed element; returns its index, or 0 when out of memory. */
uint32_t rp_pool_alloc(struct rp_pool *p);

static inline struct rp_cust *rp_ctable_rec(const struct rp_ctable *t, uint32_t idx)
{
    return RP_POOL_ELEM(&t->recs, idx, struct rp_cust, RP_RECS_SHIFT);
}

/** The hash every lookup uses (XXH3 of the cid bytes). */
uint64_t rp_ctable_hash(const char *bytes, size_t len);

/** Index of the customer `cid`, or RP_NONE32. */
uint32_t rp_ctable_find(const struct rp_ctable *t, const char *bytes, size_t len, uint64_t h);

/**
 * Index of the customer `cid`, created (zeroed state) when absent (*created = true).
 * RP_NONE32 when out of memory.
 */
uint32_t rp_ctable_upsert(struct rp_ctable *t, const char *bytes, size_t len, uint64_t h,
                          bool *created);

/** rp_ctable_upsert, taking `hint` (a record index this table gave, e.g. by
 * rp_ctable_prefetch_find; RP_NONE32: none) when its cid is `bytes`: no index lookup then. */
uint32_t rp_ctable_upsert_hinted(struct rp_ctable *t, const char *bytes, size_t len, uint64_t h,
                                 uint32_t hint, bool *created);

/** The cid bytes of an arena offset: *len gets the length. Valid until rp_ctable_fini. */
static inline const char *rp_ctable_str(const struct rp_ctable *t, uint32_t off, uint8_t *len)
{
    const char *p = t->arena[off >> RP_ARENA_SHIFT] + (off & ((1u << RP_ARENA_SHIFT) - 1));
    *len = (uint8_t)p[0];
    return p + 1;
}

/** Cache hints for a lookup of `h` (see rp_pipeline_prefetch): stage 0 the slot's line (and the
 * next RP_IDX_MORE_LINES, where displaced entries go: customer_table.c), stage 1 the record of
 * the first probe that carries the hash's tag, stage 2 its extension links and cid bytes, stage
 * 3 the extensions (both lines of one that straddles two). */
void rp_ctable_prefetch(const struct rp_ctable *t, uint64_t h, int stage);

/** Stage 1 of the above on its own: prefetches the record of the first probe that carries the
 * tag of `h` and returns its index (RP_NONE32: none in the lines stage 0 fetched, e.g. a new
 * customer), so that stages 2 and 3 (rp_ctable_prefetch_idx) need not look for it again. */
uint32_t rp_ctable_prefetch_find(const struct rp_ctable *t, uint64_t h);
/** Stages 2 and 3 for the record rp_ctable_prefetch_find returned (RP_NONE32: nothing). */
void rp_ctable_prefetch_idx(const struct rp_ctable *t, uint32_t idx, int stage);

/** Cache hints for record `idx`: stage 0 fetches the record, stage 1 (the record in cache) its
 * extension links and cid, stage 2 (both in cache) the extensions, signal episodes included. */
void rp_ctable_prefetch_rec(const struct rp_ctable *t, uint32_t idx, int stage);

/** Copies a string (1..64 bytes) into the arena; returns its offset or RP_NONE32. */
uint32_t rp_ctable_intern(struct rp_ctable *t, const char *bytes, size_t len);

void rp_ctable_cid(const struct rp_ctable *t, const struct rp_cust *c, struct rp_cid *out);

/** Extensions, created on demand (`create`); NULL when absent (or out of memory). */
struct rp_ext_buy *rp_ctable_buy(struct rp_ctable *t, struct rp_cust *c, bool create);
struct rp_ext_talk *rp_ctable_talk(struct rp_ctable *t, struct rp_cust *c, bool create);
struct rp_ext_adv *rp_ctable_adv(struct rp_ctable *t, struct rp_cust *c, bool create);
struct rp_ext_sig *rp_ctable_sig(struct rp_ctable *t, struct rp_cust *c, bool create);

/** The extensions by their (non-zero) pool index: rp_links' buy, talk and adv, rp_cust's sig. */
static inline struct rp_ext_buy *rp_ctable_buy_at(const struct rp_ctable *t, uint32_t i)
{
    return RP_POOL_ELEM(&t->buys, i, struct rp_ext_buy, RP_BUYS_SHIFT);
}
static inline struct rp_ext_talk *rp_ctable_talk_at(const struct rp_ctable *t, uint32_t i)
{
    return RP_POOL_ELEM(&t->talks, i, struct rp_ext_talk, RP_TALKS_SHIFT);
}
static inline struct rp_ext_adv *rp_ctable_adv_at(const struct rp_ctable *t, uint32_t i)
{
    return RP_POOL_ELEM(&t->advs, i, struct rp_ext_adv, RP_ADVS_SHIFT);
}
static inline struct rp_ext_sig *rp_ctable_sig_at(const struct rp_ctable *t, uint32_t i)
{
    return RP_POOL_ELEM(&t->sigs, i, struct rp_ext_sig, RP_SIGS_SHIFT);
}

/** Bytes held: index, records, arena, pools (capacity, not just use). */
size_t rp_ctable_bytes(const struct rp_ctable *t);

#endif
