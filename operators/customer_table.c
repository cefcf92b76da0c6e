/* customer_table: per-customer state records, the cid hash index, the cid arena, extension pools.
 */
#include "customer_table.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <xxhash.h>

#define MAX_LOAD_NUM 3 /* grow above 3/4 full */
#define MAX_LOAD_DEN 4

#define RP_NEW_AHEAD 8 /* records fetched ahead of their creation (rp_ctable_upsert) */

#define HUGE_PAGE ((size_t)2 << 20)

#if defined(__SANITIZE_ADDRESS__)
#define RP_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RP_ASAN 1
#endif
#endif

/* Memory for the big arrays, zeroed. From 2 MiB up it comes straight from mmap, 2 MiB-aligned
 * and marked for transparent huge pages: lookups are random over hundreds of MiB, and with
 * 4 KiB pages every one of them would also miss the TLB. Fresh anonymous pages are zero, so
 * nothing is written here (a memset wrote every page once more after the kernel had cleared
 * it). Freed with big_free and the same size. Under AddressSanitizer everything comes from
 * (intercepted) malloc, so that its checks cover these arrays too. */
static void *big_zalloc(size_t bytes)
{
#ifndef RP_ASAN
    if (bytes >= HUGE_PAGE) {
        size_t rounded = (bytes + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
        /* one huge page more than needed, then the unaligned ends given back */
        char *raw = mmap(NULL, rounded + HUGE_PAGE, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (raw == MAP_FAILED)
            return NULL;
        char *p = (char *)(((uintptr_t)raw + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
        if (p > raw)
            munmap(raw, (size_t)(p - raw));
        munmap(p + rounded, (size_t)(raw + HUGE_PAGE - p));
#ifdef MADV_HUGEPAGE
        madvise(p, rounded, MADV_HUGEPAGE); /* a hint: failure only costs speed */
#endif
        return p;
    }
#endif
    /* (2 MiB-aligned from 2 MiB up here too: a record's links are found from its address) */
    size_t align = bytes >= HUGE_PAGE ? HUGE_PAGE : 64;
    void *p = aligned_alloc(align, (bytes + align - 1) & ~(align - 1));
    if (p)
        memset(p, 0, bytes);
    return p;
}

/* Faults in (and so zeroes) the pages of a fresh big_zalloc block now rather than on their first
 * use: at start-up, not on the event path, where each first touch of a 2 MiB page costs the
 * kernel's zeroing (and on a VM whose memory the host backs lazily, ~5 ms more: 2.1 s of the
 * 10 M-customer bench_pipeline's first 10 M events went to it). */
static void prefault(void *p, size_t bytes)
{
#ifdef RP_ASAN
    (void)p, (void)bytes; /* (big_zalloc's memset has written every page) */
#else
    if (!p || bytes < HUGE_PAGE)
        return; /* (from malloc: already written by its memset) */
#ifdef MADV_POPULATE_WRITE
    size_t rounded = (bytes + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
    if (madvise(p, rounded, MADV_POPULATE_WRITE) == 0)
        return;
#endif
    for (size_t i = 0; i < bytes; i += 4096) /* (an older kernel: touch every page) */
        ((volatile char *)p)[i] = 0;
#endif
}

static void big_free(void *p, size_t bytes)
{
#ifndef RP_ASAN
    if (p && bytes >= HUGE_PAGE) {
        munmap(p, (bytes + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1));
        return;
    }
#endif
    (void)bytes;
    free(p);
}

/*
 * Chunks smaller than 2 MiB (the extension pools' and the cid arena's) are carved from shared
 * 2 MiB slabs (big_zalloc: huge pages), first fit. At 10 M customers these chunks span hundreds
 * of MiB read at random, one lookup or more per event, and in 4 KiB pages each of those also
 * missed the TLB: bench_pipeline ran 5 % faster at 10 M customers with huge pages there. A
 * slab per pool, or 2 MiB chunks, would leave up to 2 MiB unused per pool (10 bytes per
 * customer at 1 M); shared slabs leave at most one partly used. Slabs are freed with the table.
 */
_Static_assert(((size_t)sizeof(struct rp_ext_buy) << RP_BUYS_SHIFT) <= HUGE_PAGE &&
                   ((size_t)sizeof(struct rp_ext_talk) << RP_TALKS_SHIFT) <= HUGE_PAGE &&
                   ((size_t)sizeof(struct rp_ext_adv) << RP_ADVS_SHIFT) <= HUGE_PAGE &&
                   ((size_t)sizeof(struct rp_ext_sig) << RP_SIGS_SHIFT) <= HUGE_PAGE &&
                   ((size_t)1 << RP_ARENA_SHIFT) <= HUGE_PAGE,
               "chunks carved from slabs fit in one");

/* Room for n more slabs in the list. */
static int slabs_grow(struct rp_slabs *s, uint32_t n)
{
    if (s->cap - s->n >= n)
        return 0;
    uint32_t nc = s->cap ? s->cap : 16;
    while (nc - s->n < n)
        nc *= 2;
    struct rp_slab *a = realloc(s->slab, nc * sizeof(*a));
    if (!a)
        return -1;
    s->slab = a;
    s->cap = nc;
    return 0;
}

/* n empty slabs, faulted in now (rp_ctable_init: RP_SLABS_RESERVE_PER_CUSTOMER). */
static int slabs_reserve(struct rp_slabs *s, size_t n)
{
#ifdef RP_ASAN
    (void)s, (void)n; /* (a slab per chunk under ASan: nothing to fault in ahead) */
    return 0;
#else
    if (n > UINT32_MAX / 2 || slabs_grow(s, (uint32_t)n))
        return -1;
    for (size_t i = 0; i < n; i++) {
        char *p = big_zalloc(HUGE_PAGE);
        if (!p)
            return -1;
        prefault(p, HUGE_PAGE);
        s->slab[s->n++] = (struct rp_slab){p, 0};
        s->bytes += HUGE_PAGE;
    }
    return 0;
#endif
}

static void *slab_alloc(struct rp_slabs *s, size_t bytes)
{
    bytes = (bytes + 63) & ~(size_t)63;
    if (bytes > HUGE_PAGE)
        return NULL;
    for (uint32_t i = s->n; i-- > 0;) {
        struct rp_slab *b = &s->slab[i];
        if (HUGE_PAGE - b->used >= bytes) {
            char *p = b->base + b->used;
            b->used += (uint32_t)bytes;
            return p;
        }
    }
    if (slabs_grow(s, 1))
        return NULL;
#ifdef RP_ASAN
    size_t size = bytes, used = HUGE_PAGE; /* (a slab per chunk: ASan sees where each ends) */
#else
    size_t size = HUGE_PAGE, used = bytes;
#endif
    char *p = big_zalloc(size);
    if (!p)
        return NULL;
    s->slab[s->n++] = (struct rp_slab){p, (uint32_t)used};
    s->bytes += size;
    return p;
}

static void slabs_fini(struct rp_slabs *s)
{
    for (uint32_t i = 0; i < s->n; i++)
        big_free(s->slab[i].base, HUGE_PAGE);
    free(s->slab);
    memset(s, 0, sizeof(*s));
}

static int pool_init(struct rp_pool *p, size_t elem_size, unsigned shift, struct rp_slabs *slabs)
{
    memset(p, 0, sizeof(*p));
    p->elem_size = (uint32_t)elem_size;
    p->shift = shift;
    p->count = 1; /* index 0 means "none" */
    p->slabs = slabs;
    return 0;
}

static void pool_fini(struct rp_pool *p)
{
    if (!p->slabs) /* (chunks from slabs go with the slabs) */
        for (uint32_t i = 0; i < p->n_chunks; i++)
            big_free(p->chunks[i], (size_t)p->elem_size << p->shift);
    free(p->chunks);
    memset(p, 0, sizeof(*p));
}

/* Appends one zeroed chunk to a pool; returns it, or NULL when out of memory. */
static void *pool_add_chunk(struct rp_pool *p)
{
    if (p->n_chunks == p->cap_chunks) {
        uint32_t nc = p->cap_chunks ? p->cap_chunks * 2 : 16;
        void **c = realloc(p->chunks, nc * sizeof(*c));
        if (!c)
            return NULL;
        p->chunks = c;
        p->cap_chunks = nc;
    }
    /* Records are 64 bytes: chunks are cache-line aligned so that each record is one line
     * (record chunks, from big_zalloc, are 2 MiB-aligned: one huge page each). */
    size_t bytes = (size_t)p->elem_size << p->shift;
    void *mem = p->slabs ? slab_alloc(p->slabs, bytes) : big_zalloc(bytes);
    assert(p->slabs || !mem || ((uintptr_t)mem & (bytes - 1)) == 0);
    if (mem)
        p->chunks[p->n_chunks++] = mem;
    return mem;
}

uint32_t rp_pool_alloc(struct rp_pool *p)
{
    uint64_t i = p->count;
    if (i >= RP_NONE32 - 1)
        return 0;
    if ((i >> p->shift) >= p->n_chunks && !pool_add_chunk(p))
        return 0;
    /* (zero: chunks are zeroed when allocated, and no element is handed out twice) */
    p->count = (uint32_t)i + 1;
    return (uint32_t)i;
}

/* Allocates and faults in the chunks for elements [0, n) of a pool whose chunks are 2 MiB or
 * more (the records). */
static int pool_reserve(struct rp_pool *p, size_t n)
{
    size_t per = (size_t)1 << p->shift, bytes = (size_t)p->elem_size << p->shift;
    if (p->slabs || (n + per - 1) / per > UINT32_MAX)
        return -1;
    while ((size_t)p->n_chunks * per < n) {
        void *mem = pool_add_chunk(p);
        if (!mem)
            return -1;
        prefault(mem, bytes);
    }
    return 0;
}

static size_t pool_bytes(const struct rp_pool *p)
{
    size_t chunks = p->slabs ? 0 : (size_t)p->n_chunks * ((size_t)p->elem_size << p->shift);
    return chunks + p->cap_chunks * sizeof(void *); /* (slabs are counted once, by the table) */
}

/* Slot of a hash in [0, cap): multiply-shift ("fastrange"), so cap needs not be a power of 2. */
static inline size_t home_slot(uint64_t h, size_t cap)
{
    return (size_t)(((unsigned __int128)(h & 0xffffffffu) * cap) >> 32);
}

static size_t cap_for(size_t n)
{
    size_t cap = n * MAX_LOAD_DEN / MAX_LOAD_NUM + 64;
    return cap;
}

int rp_ctable_init(struct rp_ctable *t, size_t expected)
{
    memset(t, 0, sizeof(*t));
    if (expected < 1024)
        expected = 1024;
    t->cap = cap_for(expected);
    t->slots = big_zalloc(t->cap * sizeof(*t->slots));
    if (!t->slots)
        return -1;
    pool_init(&t->recs, sizeof(struct rp_cust), RP_RECS_SHIFT, NULL); /* 2 MiB chunks */
    /* What is sized by the expected count is faulted in now: the index, the records, and the
     * first slabs of the cid arena and the extensions (which grow with what customers do:
     * RP_SLABS_RESERVE_PER_CUSTOMER), unless that would take more than half the machine's
     * memory: an expected count set far too high then costs address space only, as before,
     * not an out-of-memory kill at start. */
    /* (record 0 is the pools' "none") */
    size_t recs = (expected / RP_RECS_PER_CHUNK + 1) * RP_RECS_CHUNK_BYTES;
    size_t slabs = expected * RP_SLABS_RESERVE_PER_CUSTOMER / HUGE_PAGE;
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages > 0 && page > 0 &&
        t->cap * sizeof(*t->slots) + recs + slabs * HUGE_PAGE <= (size_t)pages / 2 * (size_t)page) {
        prefault(t->slots, t->cap * sizeof(*t->slots));
        if (pool_reserve(&t->recs, expected + 1) || slabs_reserve(&t->slabs, slabs))
            return -1;
    }
    pool_init(&t->buys, sizeof(struct rp_ext_buy), RP_BUYS_SHIFT, &t->slabs);
    pool_init(&t->talks, sizeof(struct rp_ext_talk), RP_TALKS_SHIFT, &t->slabs);
    pool_init(&t->advs, sizeof(struct rp_ext_adv), RP_ADVS_SHIFT, &t->slabs);
    pool_init(&t->sigs, sizeof(struct rp_ext_sig), RP_SIGS_SHIFT, &t->slabs);
    return 0;
}

void rp_ctable_fini(struct rp_ctable *t)
{
    big_free(t->slots, t->cap * sizeof(*t->slots));
    pool_fini(&t->recs);
    pool_fini(&t->buys);
    pool_fini(&t->talks);
    pool_fini(&t->advs);
    pool_fini(&t->sigs);
    free(t->arena); /* (its chunks are in the slabs) */
    slabs_fini(&t->slabs);
    memset(t, 0, sizeof(*t));
}

uint64_t rp_ctable_hash(const char *bytes, size_t len)
{
    return XXH3_64bits(bytes, len);
}

/*
 * a[0, len) == b[0, len), reading those bytes only. glibc's memcmp reads a whole 32-byte vector
 * (masked) from the first byte, so a lookup's comparison touched the arena line after the stored
 * cid's about half the time, short as cids are: one more random line per lookup, prefetched or
 * not, where lookups are bound by how many lines are in flight at once (~11 ns per random line at
 * 1 M customers on the 2-vCPU machine, against ~170 ns for one alone). Up to 16 bytes, two
 * overlapping loads from each end.
 */
/* The first and the last w bytes of a and b equal (w = 4 or 8, a constant once inlined: plain
 * loads): the whole of them for w <= len <= 2 w. */
static inline bool ends_eq(const char *a, const char *b, size_t len, size_t w)
{
    uint64_t a0 = 0, a1 = 0, b0 = 0, b1 = 0;
    memcpy(&a0, a, w);
    memcpy(&b0, b, w);
    memcpy(&a1, a + len - w, w);
    memcpy(&b1, b + len - w, w);
    return ((a0 ^ b0) | (a1 ^ b1)) == 0;
}

static inline bool cid_eq(const char *a, const char *b, size_t len)
{
    if (len >= 8 && len <= 16)
        return ends_eq(a, b, len, 8);
    if (len >= 4 && len < 8)
        return ends_eq(a, b, len, 4);
    if (len > 16)
        return memcmp(a, b, len) == 0;
    for (size_t i = 0; i < len; i++)
        if (a[i] != b[i])
            return false;
    return true;
}

static inline bool same_cid(const struct rp_ctable *t, uint32_t idx, const char *bytes, size_t len)
{
    uint8_t l;
    const char *s = rp_ctable_str(t, rp_ctable_rec(t, idx)->cid_off, &l);
    return l == len && cid_eq(s, bytes, len);
}

uint32_t rp_ctable_find(const struct rp_ctable *t, const char *bytes, size_t len, uint64_t h)
{
    uint32_t tag = (uint32_t)(h >> 32);
    size_t i = home_slot(h, t->cap);
    for (;;) {
        uint64_t s = t->slots[i];
        if (s == 0)
            return RP_NONE32;
        if ((uint32_t)(s >> 32) == tag) {
            uint32_t idx = (uint32_t)s - 1;
            if (same_cid(t, idx, bytes, len))
                return idx;
        }
        if (++i == t->cap)
            i = 0;
    }
}

/*
 * Cache hints must survive GCC's interprocedural analysis, which counts a prefetch as no side
 * effect (GCC 12's modref): a call to a function that only reads memory and prefetches, and
 * returns nothing used, is deleted as dead. rp_ctable_prefetch's stage 1 had been deleted that
 * way (it found the record and threw the index away), and so were the record and extension
 * hints of the functions below when one called another. So the internal helpers are inlined
 * before that analysis runs (always_inline: inlined early, their prefetches then stand in the
 * caller's body, where they are kept), and the exported hints are kept out of it (noipa: a
 * caller elsewhere, or a link-time optimiser, treats them as opaque calls).
 */
#if defined(__GNUC__) && !defined(__clang__)
#define RP_PREFETCHER __attribute__((noipa))
#else
#define RP_PREFETCHER
#endif
#define RP_HINT_INLINE static inline __attribute__((always_inline))

/* An extension's lines (both, when it straddles two: pool elements of 48, 56 or 64 bytes are
 * not line-aligned), by pool index, with no branch on the index or on the straddle. Whether a
 * customer has an extension is as random as the customers are: with a branch on each, the hints
 * of bench_pipeline ran 3.7 % slower at 1 M customers (session 20, 4 alternated pairs). Index 0
 * (none) fetches element 0 of the first chunk, never handed out: a harmless line. (The one
 * branch, on a pool with no chunk yet, goes the same way for every customer once in use.) */
#define PREFETCH_EXT(pool, i, type, shift)                                                         \
    do {                                                                                           \
        if ((pool)->n_chunks) {                                                                    \
            const char *e_ = (const char *)RP_POOL_ELEM(pool, i, type, shift);                     \
            __builtin_prefetch(e_);                                                                \
            __builtin_prefetch(e_ + sizeof(type) - 1);                                             \
        }                                                                                          \
    } while (0)

/* The lines of a customer's links and cid (rp_ctable_links: the links, then the length byte,
 * then the bytes of a cid as long as the longest interned): one line, unless the entry crosses
 * into the next. (The comparison, cid_eq, reads only the string's bytes.) */
RP_HINT_INLINE void prefetch_entry(const struct rp_ctable *t, const struct rp_cust *c)
{
    const char *entry = (const char *)rp_ctable_links(t, c);
    __builtin_prefetch(entry);
    __builtin_prefetch(entry + sizeof(struct rp_links) + t->str_max);
}

RP_HINT_INLINE void prefetch_rec(const struct rp_ctable *t, uint32_t idx, int stage)
{
    const struct rp_cust *c = rp_ctable_rec(t, idx);
    if (stage == 0) {
        __builtin_prefetch(c);
        return;
    }
    if (stage == 1) {
        prefetch_entry(t, c);
        return;
    }
    const struct rp_links *l = rp_ctable_links(t, c);
    PREFETCH_EXT(&t->buys, l->buy, struct rp_ext_buy, RP_BUYS_SHIFT);
    PREFETCH_EXT(&t->talks, l->talk, struct rp_ext_talk, RP_TALKS_SHIFT);
    PREFETCH_EXT(&t->advs, l->adv, struct rp_ext_adv, RP_ADVS_SHIFT);
    /* (the signal episodes, read by every reschedule of a customer who has had a signal: in
     * bench_pipeline at 1 M customers, 3 % of the time sat on that read in
     * rp_scoring_next_check_ex before this hint) */
    PREFETCH_EXT(&t->sigs, c->sig, struct rp_ext_sig, RP_SIGS_SHIFT);
}

/*
 * The index lines that the lookup hints fetch for home slot i: its own line and the next
 * RP_IDX_MORE_LINES, the lines where linear probing puts nearly every entry (at the highest
 * load, 3/4, 99.4 % of them lie within 24 slots of home). A customer found in none of them gets
 * no hint, and its event waits on the index, the record, the links and the extensions one after
 * the other (~0.7 us). With the home line alone, and the next one for home slots not among the
 * first two of their line, that was 3.6 % of bench_pipeline's events at 1 M customers; with 3
 * more lines it is 0.5 % (at 10 M too), and the run ~4 % faster, the fetches of the extra lines
 * included (bench/RESULTS.md, session 19). (Robin Hood order keeps entries nearer home, 99.8 %
 * within the next line, but measured 3-4 % slower with two lines fetched, first touches and the
 * rest alike, and no faster than linear probing with three.)
 */
#define RP_IDX_MORE_LINES 3

/* End (exclusive) of the slots those lines hold. */
static inline size_t fetched_end(size_t i, size_t cap)
{
    size_t end = (i | 7) + 1 + 8 * RP_IDX_MORE_LINES;
    return end < cap ? end : cap;
}

RP_PREFETCHER uint32_t rp_ctable_prefetch_find(const struct rp_ctable *t, uint64_t h)
{
    /* The slot's line and the next ones are in cache after stage 0 (fetched_end): look for the
     * tag along the probe sequence as far as those lines go. */
    size_t i = home_slot(h, t->cap);
    size_t end = fetched_end(i, t->cap);
    uint32_t tag = (uint32_t)(h >> 32);
    for (; i < end; i++) {
        uint64_t s = t->slots[i];
        if (s == 0)
            return RP_NONE32; /* a new customer: nothing to fetch */
        if ((uint32_t)(s >> 32) == tag) {
            uint32_t idx = (uint32_t)s - 1;
            prefetch_rec(t, idx, 0);
            return idx;
        }
    }
    return RP_NONE32;
}

RP_PREFETCHER void rp_ctable_prefetch_idx(const struct rp_ctable *t, uint32_t idx, int stage)
{
    if (idx == RP_NONE32)
        return;
    /* stage 2 (the record in cache): its links and cid; stage 3: the extensions */
    prefetch_rec(t, idx, stage == 2 ? 1 : 2);
}

RP_PREFETCHER void rp_ctable_prefetch(const struct rp_ctable *t, uint64_t h, int stage)
{
    if (stage == 0) {
        size_t i = home_slot(h, t->cap);
        __builtin_prefetch(&t->slots[i]);
        size_t end = fetched_end(i, t->cap);
        for (size_t k = (i | 7) + 1; k < end; k += 8)
            __builtin_prefetch(&t->slots[k]); /* (where displaced entries go) */
    } else if (stage == 1)
        rp_ctable_prefetch_find(t, h);
    else
        rp_ctable_prefetch_idx(t, rp_ctable_prefetch_find(t, h), stage);
}

RP_PREFETCHER void rp_ctable_prefetch_rec(const struct rp_ctable *t, uint32_t idx, int stage)
{
    prefetch_rec(t, idx, stage);
}

static int grow(struct rp_ctable *t)
{
    size_t ncap = t->cap * 2;
    uint64_t *ns = big_zalloc(ncap * sizeof(*ns));
    if (!ns)
        return -1;
    for (size_t j = 0; j < t->cap; j++) {
        uint64_t s = t->slots[j];
        if (!s)
            continue;
        /* Re-hash from the stored cid: the slot keeps only 32 bits of the hash. */
        uint32_t idx = (uint32_t)s - 1;
        uint8_t l;
        const char *b = rp_ctable_str(t, rp_ctable_rec(t, idx)->cid_off, &l);
        size_t i = home_slot(rp_ctable_hash(b, l), ncap);
        while (ns[i])
            if (++i == ncap)
                i = 0;
        ns[i] = s;
    }
    big_free(t->slots, t->cap * sizeof(*t->slots));
    t->slots = ns;
    t->cap = ncap;
    return 0;
}

/* Appends `head` zero bytes, then the string as (length byte, bytes); returns the offset of the
 * length byte, or RP_NONE32. An entry never crosses from one arena chunk into the next. */
static uint32_t arena_put(struct rp_ctable *t, const char *bytes, size_t len, uint32_t head)
{
    assert(len >= 1 && len <= RP_CID_MAX);
    const uint32_t chunk_size = 1u << RP_ARENA_SHIFT;
    if (t->n_arena == 0 || t->arena_used + head + 1 + len > chunk_size) {
        if (t->n_arena == 4096) /* 32-bit offsets: 4096 chunks of 1 MiB */
            return RP_NONE32;
        if (t->n_arena == t->cap_arena) {
            uint32_t nc = t->cap_arena ? t->cap_arena * 2 : 16;
            char **a = realloc(t->arena, nc * sizeof(*a));
            if (!a)
                return RP_NONE32;
            t->arena = a;
            t->cap_arena = nc;
        }
        char *c = slab_alloc(&t->slabs, chunk_size);
        if (!c)
            return RP_NONE32;
        t->arena[t->n_arena++] = c;
        t->arena_used = 0;
    }
    uint32_t at = t->arena_used;
    char *p = t->arena[t->n_arena - 1] + at;
    memset(p, 0, head);
    p += head;
    p[0] = (char)len;
    memcpy(p + 1, bytes, len);
    uint32_t off = ((t->n_arena - 1) << RP_ARENA_SHIFT) | (at + head);
    t->arena_used = at + head + 1 + (uint32_t)len;
    if (len > t->str_max)
        t->str_max = (uint8_t)len;
    return off;
}

uint32_t rp_ctable_intern(struct rp_ctable *t, const char *bytes, size_t len)
{
    return arena_put(t, bytes, len, 0);
}

uint32_t rp_ctable_upsert(struct rp_ctable *t, const char *bytes, size_t len, uint64_t h,
                          bool *created)
{
    uint32_t tag = (uint32_t)(h >> 32);
    size_t i = home_slot(h, t->cap);
    for (;;) {
        uint64_t s = t->slots[i];
        if (s == 0)
            break;
        if ((uint32_t)(s >> 32) == tag) {
            uint32_t idx = (uint32_t)s - 1;
            if (same_cid(t, idx, bytes, len)) {
                *created = false;
                return idx;
            }
        }
        if (++i == t->cap)
            i = 0;
    }
    /* Absent: grow first if this insert would pass the load limit, then insert. */
    if ((size_t)(t->n + 1) * MAX_LOAD_DEN > t->cap * MAX_LOAD_NUM) {
        if (grow(t))
            return RP_NONE32;
        i = home_slot(h, t->cap);
        while (t->slots[i])
            if (++i == t->cap)
                i = 0;
    }
    uint32_t off = arena_put(t, bytes, len, (uint32_t)sizeof(struct rp_links));
    if (off == RP_NONE32)
        return RP_NONE32;
    uint32_t idx = rp_pool_alloc(&t->recs);
    if (idx == 0 || idx >= UINT32_MAX - 1)
        return RP_NONE32;
    struct rp_cust *c = rp_ctable_rec(t, idx);
    /* Records are handed out in order, and a new one is written at once: the one handed out
     * RP_NEW_AHEAD creations from now is fetched (for writing), so that its creation does not
     * wait on memory. (The lookup hints cannot: they find no record for a new customer. In
     * bench_pipeline's first touches at 1 M customers the first write to a new record was most
     * of the time spent in the table. The links and the cid are written at the arena's end.) */
    if ((idx & ((1u << RP_RECS_SHIFT) - 1)) + RP_NEW_AHEAD < RP_RECS_PER_CHUNK)
        __builtin_prefetch(c + RP_NEW_AHEAD, 1);
    c->cid_off = off;
    c->due_ms = INT64_MAX;
    c->filed_min = RP_NONE32;
    t->slots[i] = ((uint64_t)tag << 32) | (uint64_t)(idx + 1);
    t->n++;
    *created = true;
    return idx;
}

uint32_t rp_ctable_upsert_hinted(struct rp_ctable *t, const char *bytes, size_t len, uint64_t h,
                                 uint32_t hint, bool *created)
{
    /* (record indexes are never reused: a hint whose cid is this one is this customer; one
     * that is no record's is not read) */
    if (hint != 0 && hint < t->recs.count && same_cid(t, hint, bytes, len)) {
        *created = false;
        return hint;
    }
    return rp_ctable_upsert(t, bytes, len, h, created);
}

void rp_ctable_cid(const struct rp_ctable *t, const struct rp_cust *c, struct rp_cid *out)
{
    const char *s = rp_ctable_str(t, c->cid_off, &out->len);
    memcpy(out->bytes, s, out->len);
}

#define EXT_GETTER(name, field, pool, type)                                                        \
    type *name(struct rp_ctable *t, struct rp_cust *c, bool create)                                \
    {                                                                                              \
        struct rp_links *e = rp_ctable_links(t, c);                                                \
        if (!e->field) {                                                                           \
            if (!create)                                                                           \
                return NULL;                                                                       \
            uint32_t i = rp_pool_alloc(&t->pool);                                                  \
            if (!i)                                                                                \
                return NULL;                                                                       \
                                                                                                   \
            e->field = i;                                                                          \
        }                                                                                          \
        return name##_at(t, e->field);                                                             \
    }

EXT_GETTER(rp_ctable_buy, buy, buys, struct rp_ext_buy)
EXT_GETTER(rp_ctable_talk, talk, talks, struct rp_ext_talk)
EXT_GETTER(rp_ctable_adv, adv, advs, struct rp_ext_adv)

struct rp_ext_sig *rp_ctable_sig(struct rp_ctable *t, struct rp_cust *c, bool create)
{
    if (!c->sig) {
        if (!create)
            return NULL;
        uint32_t i = rp_pool_alloc(&t->sigs);
        if (!i)
            return NULL;
        c->sig = i;
        struct rp_ext_sig *s = rp_ctable_sig_at(t, i);
        for (int k = 0; k < RP_KIND__COUNT; k++)
            s->last_enter_ms[k] = INT64_MIN;
        return s;
    }
    return rp_ctable_sig_at(t, c->sig);
}

size_t rp_ctable_bytes(const struct rp_ctable *t)
{
    return t->cap * sizeof(*t->slots) + pool_bytes(&t->recs) + pool_bytes(&t->buys) +
           pool_bytes(&t->talks) + pool_bytes(&t->advs) + pool_bytes(&t->sigs) + t->slabs.bytes +
           t->slabs.cap * sizeof(struct rp_slab) + t->cap_arena * sizeof(char *);
}
