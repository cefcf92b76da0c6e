/* timers: an event-time hashed timing wheel of per-customer checks (silence, answer SLA, ...). */
#include "timers.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "decay.h"

#define WHEEL_MASK (RP_WHEEL_SLOTS - 1)
#define HALF_REV   (RP_WHEEL_SLOTS / 2)

/* Prefetch distances, in entries, of what process_slot reads: when a slot is popped, each
 * entry's record (one field of it: the pass does little else, so that 16 entries ahead left it
 * waiting on the misses); when firing, records, then their extension links (found from the
 * record), then the extensions (read from the links). */
#define PF_POP   32
#define PF_RECS  16
#define PF_LINKS 8
#define PF_EXTS  3

static int64_t minute_of(int64_t ms)
{
    int64_t m = ms / RP_MS_MIN;
    if (ms % RP_MS_MIN < 0)
        m--;
    return m;
}

int rp_timers_init(struct rp_timers *tm)
{
    memset(tm, 0, sizeof(*tm));
    tm->staged_min = UINT32_MAX;
    tm->idle_until = INT64_MIN;
    tm->slots = calloc(RP_WHEEL_SLOTS, sizeof(*tm->slots));
    return tm->slots ? 0 : -1;
}

void rp_timers_fini(struct rp_timers *tm)
{
    if (tm->slots)
        for (uint32_t i = 0; i < RP_WHEEL_SLOTS; i++)
            free(tm->slots[i].a);
    free(tm->slots);
    free(tm->far);
    free(tm->pending);
    free(tm->scratch);
    memset(tm, 0, sizeof(*tm));
}

static int vec_push(struct rp_timers *tm, struct rp_timer_vec *v, uint32_t x)
{
    if (v->n == v->cap) {
        uint32_t nc = v->cap ? v->cap * 2 : 4;
        uint32_t *a = realloc(v->a, nc * sizeof(*a));
        if (!a)
            return -1;
        tm->vec_bytes += (size_t)(nc - v->cap) * sizeof(*a);
        v->a = a;
        v->cap = nc;
    }
    v->a[v->n++] = x;
    return 0;
}

/* Pushes the staged entries into their slots (before any of their minutes is processed). A
 * filing touches a slot's header and the end of its array, two cache misses at a random
 * minute (the ring's headers alone are 1 MiB); in a batch both are fetched a few entries
 * ahead. */
static void flush_staged(struct rp_timers *tm)
{
    enum { PF_HEAD = 8, PF_TAIL = 4 };
    struct rp_timer_far *e = tm->staged;
    uint32_t n = tm->n_staged;
    for (uint32_t i = 0; i < n && i < PF_HEAD; i++)
        __builtin_prefetch(&tm->slots[e[i].minute & WHEEL_MASK]);
    for (uint32_t i = 0; i < n; i++) {
        if (i + PF_HEAD < n)
            __builtin_prefetch(&tm->slots[e[i + PF_HEAD].minute & WHEEL_MASK]);
        if (i + PF_TAIL < n) {
            const struct rp_timer_vec *v = &tm->slots[e[i + PF_TAIL].minute & WHEEL_MASK];
            if (v->n < v->cap)
                __builtin_prefetch(&v->a[v->n], 1);
        }
        /* (out of memory here: the invariant cannot be kept, as in migrate()) */
        if (vec_push(tm, &tm->slots[e[i].minute & WHEEL_MASK], e[i].cust))
            abort();
    }
    tm->in_slots += n;
    tm->n_staged = 0;
    tm->staged_min = UINT32_MAX;
}

/* Files one more entry for `idx` at minute `m` (not before the current minute). */
static int file(struct rp_timers *tm, struct rp_ctable *t, uint32_t idx, int64_t m)
{
    struct rp_cust *c = rp_ctable_rec(t, idx);
    if (tm->started && m < tm->cur_min)
        m = tm->cur_min;
    if (tm->started && m > tm->cur_min && m < tm->cur_min + RP_WHEEL_SLOTS) {
        if (tm->n_staged == RP_TIMERS_STAGED)
            flush_staged(tm);
        tm->staged[tm->n_staged++] = (struct rp_timer_far){idx, (uint32_t)m};
        if ((uint32_t)m < tm->staged_min)
            tm->staged_min = (uint32_t)m;
    } else if (tm->started && m < tm->cur_min + RP_WHEEL_SLOTS) {
        if (vec_push(tm, &tm->slots[m & WHEEL_MASK], idx))
            return -1;
        tm->in_slots++;
        if (m == tm->cur_min)
            tm->idle_until = INT64_MIN; /* (the minute has something new to process) */
    } else {
        if (tm->n_far == tm->cap_far) {
            size_t nc = tm->cap_far ? tm->cap_far * 2 : 256;
            struct rp_timer_far *f = realloc(tm->far, nc * sizeof(*f));
            if (!f)
                return -1;
            tm->far = f;
            tm->cap_far = nc;
        }
        tm->far[tm->n_far++] = (struct rp_timer_far){idx, (uint32_t)m};
    }
    if (c->filed_min == RP_NONE32 || (uint32_t)m < c->filed_min)
        c->filed_min = (uint32_t)m;
    return 0;
}

/* Makes sure that a live entry exists at or before the customer's due minute. */
static int ensure(struct rp_timers *tm, struct rp_ctable *t, uint32_t idx)
{
    struct rp_cust *c = rp_ctable_rec(t, idx);
    if (c->due_ms == INT64_MAX)
        return 0;
    int64_t m = minute_of(c->due_ms);
    if (tm->started && m < tm->cur_min)
        m = tm->cur_min;
    if (c->filed_min != RP_NONE32 && (int64_t)c->filed_min <= m &&
        !(tm->started && m == tm->cur_min && c->filed_min == (uint32_t)m))
        return 0; /* an earlier entry will pop first and re-file if needed */
    /* (Due within the current minute with an entry filed there: that entry may wait among the
     * pending under an older, later due. Another one is filed; the one left over finds the due
     * moved on when it pops, as any stale entry.) */
    return file(tm, t, idx, m);
}

int rp_timers_schedule(struct rp_timers *tm, struct rp_ctable *t, uint32_t idx, int64_t due_ms)
{
    rp_ctable_rec(t, idx)->due_ms = due_ms;
    return ensure(tm, t, idx);
}

/* Moves overflow entries that now fall inside the ring into their slots. */
static void migrate(struct rp_timers *tm)
{
    for (size_t i = 0; i < tm->n_far;) {
        int64_t m = tm->far[i].minute;
        if (m < tm->cur_min + RP_WHEEL_SLOTS) {
            if (m < tm->cur_min)
                m = tm->cur_min;
            if (vec_push(tm, &tm->slots[m & WHEEL_MASK], tm->far[i].cust))
                abort(); /* cannot keep the timer invariant without it */
            tm->in_slots++;
            tm->far[i] = tm->far[--tm->n_far];
        } else {
            i++;
        }
    }
}

static int key_less(const struct rp_timer_key *a, const struct rp_timer_key *b)
{
    return a->due_ms != b->due_ms ? a->due_ms < b->due_ms : a->cust < b->cust;
}

/* Sorts by (due, record index): the order firing must follow (deterministic). The keys carry the
 * due time, so no comparison reads a record, and the sort is inline (qsort's calls through a
 * function pointer cost ~175 instructions per event in bench_pipeline): an iterative quicksort
 * (median of three, the smaller side first so the stack stays below 64 levels) down to runs of
 * 16, which an insertion sort finishes. Slots range from a handful of entries to tens of
 * thousands (silence checkpoints cluster on day boundaries). */
static void sort_keys(struct rp_timer_key *k, size_t n)
{
    size_t stack[128], sp = 0, lo = 0, hi = n; /* [lo, hi) */
    for (;;) {
        while (hi - lo > 16) {
            size_t mid = lo + (hi - lo) / 2;
            struct rp_timer_key *a = &k[lo], *b = &k[mid], *c = &k[hi - 1], t;
            if (key_less(b, a)) {
                t = *a, *a = *b, *b = t;
            }
            if (key_less(c, b)) {
                t = *b, *b = *c, *c = t;
                if (key_less(b, a)) {
                    t = *a, *a = *b, *b = t;
                }
            }
            struct rp_timer_key pivot = k[mid];
            size_t i = lo, j = hi - 1;
            for (;;) { /* Hoare partition: [lo, i) <= pivot <= (j, hi) */
                while (key_less(&k[i], &pivot))
                    i++;
                while (key_less(&pivot, &k[j]))
                    j--;
                if (i >= j)
                    break;
                t = k[i], k[i] = k[j], k[j] = t;
                i++, j--;
            }
            /* [lo, j] and [j + 1, hi): push the larger, go on with the smaller */
            size_t split = j + 1;
            if (split - lo < hi - split) {
                stack[sp++] = split, stack[sp++] = hi;
                hi = split;
            } else {
                stack[sp++] = lo, stack[sp++] = split;
                lo = split;
            }
        }
        if (sp == 0)
            break;
        hi = stack[--sp];
        lo = stack[--sp];
    }
    for (size_t i = 1; i < n; i++) {
        struct rp_timer_key x = k[i];
        size_t j = i;
        while (j > 0 && key_less(&x, &k[j - 1])) {
            k[j] = k[j - 1];
            j--;
        }
        k[j] = x;
    }
}

/* The pending heap: push and pop of a binary min-heap by (due, record index). */
static void pending_push(struct rp_timers *tm, struct rp_timer_key key)
{
    if (tm->n_pending == tm->cap_pending) {
        size_t nc = tm->cap_pending ? tm->cap_pending * 2 : 256;
        struct rp_timer_key *h = realloc(tm->pending, nc * sizeof(*h));
        if (!h)
            abort(); /* cannot keep the timer invariant without it */
        tm->pending = h;
        tm->cap_pending = nc;
    }
    struct rp_timer_key *h = tm->pending;
    size_t i = tm->n_pending++;
    while (i > 0 && key_less(&key, &h[(i - 1) / 2])) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = key;
}

static uint32_t pending_pop(struct rp_timers *tm)
{
    struct rp_timer_key *h = tm->pending;
    uint32_t top = h[0].cust;
    struct rp_timer_key last = h[--tm->n_pending];
    size_t n = tm->n_pending, i = 0;
    for (;;) {
        size_t l = 2 * i + 1;
        if (l >= n)
            break;
        if (l + 1 < n && key_less(&h[l + 1], &h[l]))
            l++;
        if (!key_less(&h[l], &last))
            break;
        h[i] = h[l];
        i = l;
    }
    h[i] = last;
    return top;
}

static void scratch_reserve(struct rp_timers *tm, size_t n)
{
    if (n <= tm->cap_scratch)
        return;
    size_t nc = tm->cap_scratch ? tm->cap_scratch : 1024;
    while (nc < n)
        nc *= 2;
    struct rp_timer_key *s = realloc(tm->scratch, nc * sizeof(*s));
    if (!s)
        abort();
    tm->scratch = s;
    tm->cap_scratch = nc;
}

/* Pops the entries of minute m's slot, and the pending ones due by W; fires the customers due at
 * or before W. m is the current minute: what is not due yet but due within it is kept pending. */
static void process_slot(struct rp_timers *tm, struct rp_ctable *t, int64_t m, int64_t W,
                         rp_timer_fire_fn fire, void *opaque)
{
    struct rp_timer_vec *v = &tm->slots[m & WHEEL_MASK];
    while (v->n || (tm->n_pending && tm->pending[0].due_ms <= W)) {
        /* Take the array (firing may file new entries into this very slot), then the pending
         * entries that fell due. */
        size_t n = v->n;
        scratch_reserve(tm, n);
        for (size_t i = 0; i < n; i++)
            tm->scratch[i].cust = v->a[i];
        v->n = 0;
        tm->in_slots -= n;
        while (tm->n_pending && tm->pending[0].due_ms <= W) {
            scratch_reserve(tm, n + 1);
            tm->scratch[n++].cust = pending_pop(tm);
        }
        /* Scattered records: fetched a window ahead. (All at once floods the caches: a slot
         * can hold tens of thousands of entries, as silence checkpoints cluster on the same
         * minute, and the first records fetched are evicted before they are read.) */
        for (size_t i = 0; i < n && i < PF_POP; i++)
            __builtin_prefetch(rp_ctable_rec(t, tm->scratch[i].cust));
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            if (i + PF_POP < n)
                __builtin_prefetch(rp_ctable_rec(t, tm->scratch[i + PF_POP].cust));
            uint32_t idx = tm->scratch[i].cust;
            struct rp_cust *c = rp_ctable_rec(t, idx);
            if (c->filed_min == (uint32_t)m)
                c->filed_min = RP_NONE32; /* later entries, if any, are stale: ensure() below */
            if (c->due_ms <= W) {
                tm->scratch[k++] = (struct rp_timer_key){.due_ms = c->due_ms, .cust = idx};
            } else if (minute_of(c->due_ms) <= m) {
                if (c->filed_min == RP_NONE32) {
                    pending_push(tm, (struct rp_timer_key){.due_ms = c->due_ms, .cust = idx});
                    c->filed_min = (uint32_t)m;
                }
            } else if (ensure(tm, t, idx)) {
                abort();
            }
        }
        /* Fire in due-time order (ties by record index: deterministic). */
        sort_keys(tm->scratch, k);
        /* What firing reads, in stages ahead of it: the record again (a large slot has evicted
         * it since), its extension links, then the extensions. */
        for (size_t i = 0; i < k && i < PF_RECS; i++)
            rp_ctable_prefetch_rec(t, tm->scratch[i].cust, 0);
        for (size_t i = 0; i < k && i < PF_LINKS; i++)
            rp_ctable_prefetch_rec(t, tm->scratch[i].cust, 1);
        for (size_t i = 0; i < k && i < PF_EXTS; i++)
            rp_ctable_prefetch_rec(t, tm->scratch[i].cust, 2);
        for (size_t i = 0; i < k; i++) {
            uint32_t idx = tm->scratch[i].cust;
            if (i + PF_RECS < k)
                rp_ctable_prefetch_rec(t, tm->scratch[i + PF_RECS].cust, 0);
            if (i + PF_LINKS < k)
                rp_ctable_prefetch_rec(t, tm->scratch[i + PF_LINKS].cust, 1);
            if (i + PF_EXTS < k)
                rp_ctable_prefetch_rec(t, tm->scratch[i + PF_EXTS].cust, 2);
            /* A customer listed twice fires once: the first firing moved its due on. */
            if (rp_ctable_rec(t, idx)->due_ms <= W)
                fire(opaque, idx);
            else if (ensure(tm, t, idx))
                abort();
        }
    }
    /* A popped slot is not used again before a revolution (45 days of event time): give its
     * array back, so that memory follows the live entries, not the busiest minute ever. */
    if (v->cap > 16 || (tm->n_pending == 0 && v->cap)) {
        tm->vec_bytes -= (size_t)v->cap * sizeof(uint32_t);
        free(v->a);
        v->a = NULL;
        v->cap = 0;
    }
    /* The next minutes' slots, read when the watermark reaches them (a few dozen events later
     * in a stream): the header after next, and the next one's array (its header was fetched
     * here a minute ago). */
    __builtin_prefetch(&tm->slots[(m + 2) & WHEEL_MASK]);
    const struct rp_timer_vec *nv = &tm->slots[(m + 1) & WHEEL_MASK];
    if (nv->n) {
        __builtin_prefetch(nv->a);
        if (nv->n > 16)
            __builtin_prefetch(nv->a + 16);
    }
}

void rp_timers_advance(struct rp_timers *tm, struct rp_ctable *t, int64_t W, rp_timer_fire_fn fire,
                       void *opaque)
{
    int64_t target = minute_of(W);
    if (!tm->started) {
        /* The first advance: start at the earliest filed minute (all wait in the overflow). */
        int64_t start = target;
        for (size_t i = 0; i < tm->n_far; i++)
            if ((int64_t)tm->far[i].minute < start)
                start = tm->far[i].minute;
        tm->cur_min = start;
        tm->started = 1;
        migrate(tm);
    }
    if (target < tm->cur_min)
        return;
    /* The common case in a stream: the watermark moves within the minute already processed,
     * nothing new was filed there and nothing left there is due yet (rp_timers_idle; callers
     * like rp_pipeline_advance ask first and spare the call). Not before a first advance has
     * processed its minute: the checks filed before it were just moved into that minute's
     * slot. (Staged entries are for minutes after cur_min.) */
    if (rp_timers_idle(tm, W))
        return;
    for (;;) {
        /* Staged entries that may be for a minute up to the target go into their slots first
         * (firing may stage more, hence in the loop). */
        if (tm->n_staged && (int64_t)tm->staged_min <= target)
            flush_staged(tm);
        if (tm->in_slots == 0 && tm->n_pending == 0 && tm->cur_min < target) {
            /* Nothing in the ring: jump to the next half revolution (or the target). */
            int64_t next_mig = (tm->cur_min | (HALF_REV - 1)) + 1;
            tm->cur_min = tm->n_far == 0 || next_mig > target ? target : next_mig;
            if (tm->cur_min % HALF_REV == 0)
                migrate(tm);
            continue;
        }
        process_slot(tm, t, tm->cur_min, W, fire, opaque);
        if (tm->cur_min >= target) {
            /* Nothing more until the minute ends or the earliest pending entry falls due,
             * unless something is filed into this minute (file()). */
            int64_t end = tm->cur_min < INT64_MAX / RP_MS_MIN - 1
                              ? (tm->cur_min + 1) * RP_MS_MIN - 1
                              : INT64_MIN; /* (no shortcut at the end of time) */
            if (tm->n_pending && tm->pending[0].due_ms - 1 < end)
                end = tm->pending[0].due_ms - 1;
            tm->idle_until = end;
            break;
        }
        assert(tm->n_pending == 0); /* (the minute is over: all of it was due) */
        tm->cur_min++;
        if (tm->cur_min % HALF_REV == 0)
            migrate(tm);
    }
}

size_t rp_timers_bytes(const struct rp_timers *tm)
{
    return RP_WHEEL_SLOTS * sizeof(*tm->slots) + tm->vec_bytes + tm->cap_far * sizeof(*tm->far) +
           tm->cap_pending * sizeof(*tm->pending) + tm->cap_scratch * sizeof(*tm->scratch);
}
