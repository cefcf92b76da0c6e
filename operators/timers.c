/* timers: an event-time hashed timing wheel of per-customer checks (silence, answer SLA, ...). */
#define _GNU_SOURCE /* qsort_r */
#include "timers.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "decay.h"

/* A ref names a list entry: a record index (its intrusive link) or, with this bit, a node. */
#define TREF_NODE  (1u << 31)
#define WHEEL_MASK (RP_WHEEL_SLOTS - 1)
#define HALF_REV   (RP_WHEEL_SLOTS / 2)

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
    tm->heads = malloc(RP_WHEEL_SLOTS * sizeof(*tm->heads));
    if (!tm->heads)
        return -1;
    memset(tm->heads, 0xff, RP_WHEEL_SLOTS * sizeof(*tm->heads));
    tm->overflow = RP_NONE32;
    tm->free_nodes = RP_NONE32;
    return 0;
}

void rp_timers_fini(struct rp_timers *tm)
{
    free(tm->heads);
    free(tm->nodes);
    free(tm->scratch);
    memset(tm, 0, sizeof(*tm));
}

static uint32_t node_alloc(struct rp_timers *tm)
{
    if (tm->free_nodes != RP_NONE32) {
        uint32_t i = tm->free_nodes;
        tm->free_nodes = tm->nodes[i].next;
        return i;
    }
    if (tm->n_nodes == tm->cap_nodes) {
        uint32_t nc = tm->cap_nodes ? tm->cap_nodes * 2 : 1024;
        if (nc >= TREF_NODE)
            return RP_NONE32;
        struct rp_timer_node *n = realloc(tm->nodes, nc * sizeof(*n));
        if (!n)
            return RP_NONE32;
        tm->nodes = n;
        tm->cap_nodes = nc;
    }
    return tm->n_nodes++;
}

static void node_free(struct rp_timers *tm, uint32_t i)
{
    tm->nodes[i].next = tm->free_nodes;
    tm->free_nodes = i;
}

static uint32_t *next_of(struct rp_timers *tm, struct rp_ctable *t, uint32_t ref)
{
    if (ref & TREF_NODE)
        return &tm->nodes[ref & ~TREF_NODE].next;
    return &rp_ctable_rec(t, ref)->t_next;
}

/* Files one more entry for `idx` at minute `m` (not before the current minute). */
static int file(struct rp_timers *tm, struct rp_ctable *t, uint32_t idx, int64_t m)
{
    struct rp_cust *c = rp_ctable_rec(t, idx);
    bool ring = tm->started && m < tm->cur_min + RP_WHEEL_SLOTS;
    if (tm->started && m < tm->cur_min)
        m = tm->cur_min;
    uint32_t ref;
    if (ring && !(c->flags & RP_CF_IN_WHEEL)) {
        ref = idx; /* the record's own link: no allocation */
        c->flags |= RP_CF_IN_WHEEL;
    } else {
        uint32_t n = node_alloc(tm);
        if (n == RP_NONE32)
            return -1;
        tm->nodes[n].cust = idx;
        tm->nodes[n].minute = (uint32_t)m;
        ref = n | TREF_NODE;
    }
    uint32_t *head = ring ? &tm->heads[m & WHEEL_MASK] : &tm->overflow;
    if (ring && m == tm->cur_min)
        tm->cur_dirty = 1;
    *next_of(tm, t, ref) = *head;
    *head = ref;
    if (ring)
        tm->in_slots++;
    else
        tm->in_overflow++;
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
    if (c->filed_min != RP_NONE32 && (int64_t)c->filed_min <= m)
        return 0; /* an earlier entry will pop first and re-file if needed */
    return file(tm, t, idx, m);
}

int rp_timers_schedule(struct rp_timers *tm, struct rp_ctable *t, uint32_t idx, int64_t due_ms)
{
    assert(idx < TREF_NODE);
    rp_ctable_rec(t, idx)->due_ms = due_ms;
    return ensure(tm, t, idx);
}

/* Moves overflow entries that now fall inside the ring into their slots. */
static void migrate(struct rp_timers *tm, struct rp_ctable *t)
{
    uint32_t *pp = &tm->overflow;
    while (*pp != RP_NONE32) {
        uint32_t ref = *pp;
        struct rp_timer_node *n = &tm->nodes[ref & ~TREF_NODE];
        int64_t m = n->minute;
        if (m < tm->cur_min + RP_WHEEL_SLOTS) {
            *pp = n->next;
            if (m < tm->cur_min)
                m = tm->cur_min;
            n->next = tm->heads[m & WHEEL_MASK];
            tm->heads[m & WHEEL_MASK] = ref;
            tm->in_overflow--;
            tm->in_slots++;
        } else {
            pp = &n->next;
        }
    }
    (void)t;
}

static int cmp_due(const void *a, const void *b, void *table)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    int64_t dx = rp_ctable_rec(table, x)->due_ms, dy = rp_ctable_rec(table, y)->due_ms;
    if (dx != dy)
        return dx < dy ? -1 : 1;
    return x < y ? -1 : x > y;
}

/* Pops every entry of minute m's slot; fires the customers due at or before W. */
static void process_slot(struct rp_timers *tm, struct rp_ctable *t, int64_t m, int64_t W,
                         rp_timer_fire_fn fire, void *opaque)
{
    uint32_t *head = &tm->heads[m & WHEEL_MASK];
    uint32_t deferred = RP_NONE32; /* not due yet, due within this same minute: keep in slot */
    size_t n_deferred = 0;
    int64_t next_due = INT64_MAX;
    while (*head != RP_NONE32) {
        /* Detach the list: firing may file new entries into this very slot. */
        size_t n = 0;
        for (uint32_t r = *head; r != RP_NONE32; r = *next_of(tm, t, r)) {
            if (n == tm->cap_scratch) {
                size_t nc = tm->cap_scratch ? tm->cap_scratch * 2 : 1024;
                uint32_t *s = realloc(tm->scratch, nc * sizeof(*s));
                if (!s)
                    abort(); /* cannot keep the timer invariant without it */
                tm->scratch = s;
                tm->cap_scratch = nc;
            }
            tm->scratch[n++] = r;
        }
        *head = RP_NONE32;
        tm->in_slots -= n;
        /* The records are scattered: fetch them all before looking at any. */
        for (size_t i = 0; i < n; i++) {
            uint32_t r = tm->scratch[i];
            if (!(r & TREF_NODE))
                __builtin_prefetch(rp_ctable_rec(t, r));
        }
        /* Resolve refs to customers, releasing nodes and intrusive links. */
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            uint32_t r = tm->scratch[i], idx;
            if (r & TREF_NODE) {
                idx = tm->nodes[r & ~TREF_NODE].cust;
                node_free(tm, r & ~TREF_NODE);
            } else {
                idx = r;
                rp_ctable_rec(t, idx)->flags &= (uint8_t)~RP_CF_IN_WHEEL;
            }
            struct rp_cust *c = rp_ctable_rec(t, idx);
            if (c->filed_min == (uint32_t)m)
                c->filed_min = RP_NONE32; /* later entries, if any, are stale: ensure() below */
            if (c->due_ms <= W) {
                tm->scratch[k++] = idx;
            } else if (minute_of(c->due_ms) <= m) {
                /* due later within this minute: stays filed here */
                if (c->due_ms < next_due)
                    next_due = c->due_ms;
                if (!(c->flags & RP_CF_IN_WHEEL) && c->filed_min == RP_NONE32) {
                    c->flags |= RP_CF_IN_WHEEL;
                    c->t_next = deferred;
                    deferred = idx;
                    c->filed_min = (uint32_t)m;
                    n_deferred++;
                } else if (c->filed_min == RP_NONE32) {
                    uint32_t nd = node_alloc(tm);
                    if (nd == RP_NONE32)
                        abort();
                    tm->nodes[nd] = (struct rp_timer_node){idx, deferred, (uint32_t)m};
                    deferred = nd | TREF_NODE;
                    c->filed_min = (uint32_t)m;
                    n_deferred++;
                }
            } else if (ensure(tm, t, idx)) {
                abort();
            }
        }
        /* Fire in due-time order (ties by record index: deterministic). */
        qsort_r(tm->scratch, k, sizeof(uint32_t), cmp_due, t);
        for (size_t i = 0; i < k; i++) /* and what firing reads next: the extension links */
            rp_ctable_prefetch_rec(t, tm->scratch[i]);
        for (size_t i = 0; i < k; i++) {
            uint32_t idx = tm->scratch[i];
            struct rp_cust *c = rp_ctable_rec(t, idx);
            /* A customer listed twice fires once: the first firing moved its due on. */
            if (c->due_ms <= W)
                fire(opaque, idx);
            else if (ensure(tm, t, idx))
                abort();
        }
    }
    *head = deferred;
    tm->in_slots += n_deferred;
    tm->cur_dirty = 0;
    tm->cur_next_due = next_due;
}

void rp_timers_advance(struct rp_timers *tm, struct rp_ctable *t, int64_t W, rp_timer_fire_fn fire,
                       void *opaque)
{
    int64_t target = minute_of(W);
    if (!tm->started) {
        /* The first advance: start at the earliest filed minute (all wait in the overflow). */
        int64_t start = target;
        for (uint32_t r = tm->overflow; r != RP_NONE32; r = tm->nodes[r & ~TREF_NODE].next)
            if ((int64_t)tm->nodes[r & ~TREF_NODE].minute < start)
                start = tm->nodes[r & ~TREF_NODE].minute;
        tm->cur_min = start;
        tm->started = 1;
        migrate(tm, t);
    }
    if (target < tm->cur_min)
        return;
    /* The common case in a stream: the watermark moves within the minute already processed,
     * nothing new was filed there and nothing left there is due yet. */
    if (target == tm->cur_min && !tm->cur_dirty && W < tm->cur_next_due)
        return;
    for (;;) {
        if (tm->in_slots == 0 && tm->cur_min < target) {
            /* Nothing in the ring: jump to the next half revolution (or the target). */
            int64_t next_mig = (tm->cur_min | (HALF_REV - 1)) + 1;
            tm->cur_min = tm->in_overflow == 0 || next_mig > target ? target : next_mig;
            if (tm->cur_min % HALF_REV == 0)
                migrate(tm, t);
            continue;
        }
        process_slot(tm, t, tm->cur_min, W, fire, opaque);
        if (tm->cur_min >= target)
            break;
        tm->cur_min++;
        if (tm->cur_min % HALF_REV == 0)
            migrate(tm, t);
    }
}

size_t rp_timers_bytes(const struct rp_timers *tm)
{
    return RP_WHEEL_SLOTS * sizeof(*tm->heads) + tm->cap_nodes * sizeof(*tm->nodes) +
           tm->cap_scratch * sizeof(*tm->scratch);
}
