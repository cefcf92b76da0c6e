/* bench_pipeline: one thread through the operator pipeline: decode, apply, timers, signal
 * encoding, on a pre-generated msgpack buffer, at 100 k, 1 M and 10 M customers (issue 3).
 *
 * Usage: bench_pipeline [CUSTOMERS...]   (default: 100000 1000000 10000000)
 *   env RP_BENCH_EVENTS_PER_CUSTOMER (default 3): events = max(that x customers, 3 M)
 *
 * The stream (own seeded generator, so that the bench does not depend on `rapport gen`):
 *   - first touch: every customer appears once (a signup or a view), in random order, so the
 *     table really holds all the customers; then Zipf-ish traffic: 80 % of the events go to a
 *     hot fifth of the customers (as a Zipf exponent near 1 would), 20 % uniformly to everybody;
 *   - a realistic mix of types (engagement mostly; purchases, conversations, voice, advocacy,
 *     referrals with targets, unsubscribes); refs pair questions with replies some of the time;
 *   - event time advances over 60 days, with 10 % of the events up to 2 minutes out of order;
 *   - events are decoded in one pass from the concatenated stream (rp_event_decode_msgpack_next),
 *     as `rapport score` reads its input;
 *   - the owner moves the watermark to max ts - 5 min after each event (like `rapport score`),
 *     so timers fire as the stream goes; signals are encoded as msgpack (as the engine does).
 *
 * Printed per size: the pipeline's rate, decode alone, state per customer, the counts of the
 * timer model's work, a digest of the signals (same code, same digest: a speed-up must keep it),
 * and the reference, a naive decode-and-update loop on the same stream (naive();
 * env RP_BENCH_NO_NAIVE=1 skips it). With env RP_BENCH_STATE=1 also, for checking a change that
 * may reorder signals across customers within a watermark step (no contract fixes that order):
 * a digest of the signals in any order, and one of every customer's state viewed after the run.
 */
#define _GNU_SOURCE /* RUSAGE_THREAD */
#include <linux/perf_event.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <math.h>
#include <msgpack.h>
#include <xxhash.h>

#include "event.h"
#include "pipeline.h"
#include "signal.h"

#define T0   1767225600000LL /* 2026-01-01 */
#define SPAN (60LL * 86400000LL)
#define LATE (5LL * 60000LL)

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Kernel time of this thread (page faults of new state, mostly: the kernel zeroes each page). */
static double sys_s(void)
{
    struct rusage u;
    getrusage(RUSAGE_THREAD, &u);
    return (double)u.ru_stime.tv_sec + (double)u.ru_stime.tv_usec * 1e-6;
}

/* CPU time of this thread: on a shared machine the wall clock also counts other processes. */
static double cpu_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Hardware counters of this thread (user space) around the timed loop: instructions per event
 * are stable on a shared machine where time is not. Absent (no perf_event access): -1. */
static int counter_open(uint64_t config)
{
    struct perf_event_attr a;
    memset(&a, 0, sizeof(a));
    a.size = sizeof(a);
    a.type = PERF_TYPE_HARDWARE;
    a.config = config;
    a.disabled = 1;
    a.exclude_kernel = 1;
    a.exclude_hv = 1;
    return (int)syscall(SYS_perf_event_open, &a, 0, -1, -1, 0);
}

static void counter_start(int fd)
{
    if (fd >= 0) {
        ioctl(fd, PERF_EVENT_IOC_RESET, 0);
        ioctl(fd, PERF_EVENT_IOC_ENABLE, 0);
    }
}

static double counter_stop(int fd)
{
    uint64_t v = 0;
    if (fd < 0)
        return -1;
    ioctl(fd, PERF_EVENT_IOC_DISABLE, 0);
    if (read(fd, &v, sizeof(v)) != (ssize_t)sizeof(v))
        return -1;
    return (double)v;
}

static uint64_t rng = 88172645463325252ULL;
static inline uint64_t rnd(void)
{
    /* xorshift64*: fast, seeded, the same stream on every run */
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 2685821657736338717ULL;
}

static void set_cid(struct rp_cid *c, uint64_t i)
{
    /* "c" + decimal, without snprintf (the generator is not what is measured, but it is long) */
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + i % 10);
        i /= 10;
    } while (i);
    c->bytes[0] = 'c';
    for (int k = 0; k < n; k++)
        c->bytes[1 + k] = tmp[n - 1 - k];
    c->len = (uint8_t)(n + 1);
}

static uint64_t pick_customer(uint64_t n)
{
    uint64_t r = rnd();
    uint64_t hot = n / 5 ? n / 5 : 1;
    if ((r & 0xff) < 205) /* 80 %: the hot fifth, itself skewed to its low ids */
        return (r >> 8) % hot;
    return (r >> 8) % n;
}

static enum rp_event_type pick_type(void)
{
    /* per-mille weights */
    static const struct {
        enum rp_event_type t;
        int w;
    } mix[] = {
        {RP_EV_VIEW, 330},    {RP_EV_CLICK, 200},  {RP_EV_LOGIN, 100},   {RP_EV_EMAIL_OPEN, 80},
        {RP_EV_LIKE, 50},     {RP_EV_COMMENT, 30}, {RP_EV_PURCHASE, 60}, {RP_EV_REFUND, 5},
        {RP_EV_QUESTION, 20}, {RP_EV_REPLY, 18},   {RP_EV_COMPLAINT, 6}, {RP_EV_RESOLUTION, 5},
        {RP_EV_REVIEW, 10},   {RP_EV_NPS, 10},     {RP_EV_MENTION, 10},  {RP_EV_SHARE, 15},
        {RP_EV_REFERRAL, 5},  {RP_EV_ANSWER, 5},   {RP_EV_SIGNUP, 10},   {RP_EV_UNSUBSCRIBE, 1},
    };
    int r = (int)(rnd() % 970), acc = 0;
    for (size_t i = 0; i < sizeof(mix) / sizeof(mix[0]); i++) {
        acc += mix[i].w;
        if (r < acc)
            return mix[i].t;
    }
    return RP_EV_VIEW;
}

static void make_event(struct rp_event *ev, uint64_t cust, uint64_t n_customers, int64_t ts,
                       enum rp_event_type type)
{
    static const char *const channels[] = {"web", "app", "email", "social", "support", "store"};
    memset(ev, 0, sizeof(*ev));
    set_cid(&ev->cid, cust);
    ev->ts_ms = ts;
    ev->type = type;
    uint64_t r = rnd();
    const char *ch = channels[r % 6];
    ev->channel_len = (uint8_t)strlen(ch);
    memcpy(ev->channel, ch, ev->channel_len);
    ev->present = RP_F_CHANNEL;
    switch (type) {
    case RP_EV_PURCHASE:
    case RP_EV_REFUND:
        ev->value = (double)(r % 20000) / 100.0;
        ev->present |= RP_F_VALUE;
        break;
    case RP_EV_QUESTION:
    case RP_EV_REPLY:
    case RP_EV_COMPLAINT:
    case RP_EV_RESOLUTION: {
        /* a few refs per customer: replies meet their questions some of the time */
        char *b = ev->ref.bytes;
        b[0] = 't';
        b[1] = (char)('0' + (r >> 8) % 3);
        ev->ref.len = 2;
        ev->present |= RP_F_REF;
        break;
    }
    case RP_EV_REVIEW:
        ev->score = (int32_t)(1 + (r >> 8) % 5);
        ev->present |= RP_F_SCORE;
        break;
    case RP_EV_NPS:
        ev->score = (int32_t)((r >> 8) % 11);
        ev->present |= RP_F_SCORE;
        break;
    case RP_EV_MENTION:
        ev->sentiment = ((double)((r >> 8) % 201) - 100.0) / 100.0;
        ev->present |= RP_F_SENTIMENT;
        break;
    case RP_EV_REFERRAL:
    case RP_EV_ANSWER:
        set_cid(&ev->target, (r >> 8) % n_customers);
        ev->present |= RP_F_TARGET;
        break;
    default:
        if ((r >> 8) % 10 == 0) {
            ev->sentiment = ((double)((r >> 16) % 201) - 100.0) / 100.0;
            ev->present |= RP_F_SENTIMENT;
        }
        break;
    }
}

struct buf {
    uint8_t *p;
    size_t len, cap;
};

static void build_stream(struct buf *b, uint64_t n_customers, uint64_t n_events)
{
    b->cap = n_events * 96;
    b->p = malloc(b->cap);
    if (!b->p) {
        fprintf(stderr, "out of memory for the stream\n");
        exit(1);
    }
    b->len = 0;
    /* first touches in a scrambled order: i * P mod n is a permutation (P prime > n) */
    const uint64_t P = 2654435761ULL, off = rnd() % n_customers;
    struct rp_event ev;
    for (uint64_t i = 0; i < n_events; i++) {
        int64_t ts = T0 + (int64_t)((double)SPAN * (double)i / (double)n_events);
        if (rnd() % 10 == 0)
            ts -= (int64_t)(rnd() % 120000); /* up to 2 min out of order, within lateness */
        uint64_t cust;
        enum rp_event_type type;
        if (i < n_customers) {
            cust = (i * P + off) % n_customers;
            type = rnd() % 4 == 0 ? RP_EV_SIGNUP : RP_EV_VIEW;
        } else {
            cust = pick_customer(n_customers);
            type = pick_type();
        }
        make_event(&ev, cust, n_customers, ts, type);
        size_t n = rp_event_encode_msgpack(&ev, b->p + b->len, b->cap - b->len);
        if (n == 0) {
            fprintf(stderr, "stream buffer too small\n");
            exit(1);
        }
        b->len += n;
    }
}

struct sink {
    uint8_t out[RP_SIGNAL_ENCODED_MAX];
    uint64_t signals, bytes;
    uint64_t digest;        /* chained XXH64 of every encoded signal, in emission order */
    uint64_t set_digest;    /* sum of their XXH64s: the same for the same signals in any order */
    uint64_t noprev_digest; /* the same sum with previous_score left out (set to 0) */
    bool check;             /* RP_BENCH_STATE: the second digest too (not part of the pipeline) */
};

static void view_digest(void *opaque, const struct rp_customer_view *v)
{
    *(uint64_t *)opaque += XXH64(v, sizeof(*v), 0); /* (views are zeroed before they are filled) */
}

static void on_signal(void *opaque, const struct rp_signal *s)
{
    struct sink *k = opaque;
    size_t n = rp_signal_encode_msgpack(s, k->out, sizeof(k->out));
    /* emitted_at is 0 here (no clock hook): the same code gives the same digest, so a speed-up
     * of the operators can be checked for identical signals at 1 M and 10 M customers */
    k->digest = XXH64(k->out, n, k->digest);
    if (k->check) {
        k->set_digest += XXH64(k->out, n, 0);
        /* A change of which checks exist moves previous_score (the score at the previous
         * evaluation) and nothing else: this digest shows that nothing else moved. */
        struct rp_signal t = *s;
        t.previous_score = 0;
        size_t m = rp_signal_encode_msgpack(&t, k->out, sizeof(k->out));
        k->noprev_digest += XXH64(k->out, m, 0);
    }
    k->bytes += n;
    k->signals++;
}

/*
 * The reference point, measured on the same stream in the same run: "a naive
 * decode-and-update loop without timers or signals". msgpack-c's msgpack_unpack_next per event
 * (a zone per message), the keys found by name, a chained hash table of malloc'd customers
 * keyed by the cid string, two decayed engagement sums updated with libm's exp2. No scores, no
 * timers, no signals, no prefetching.
 */
struct naive_cust {
    struct naive_cust *next;
    int64_t clock_ms;
    double eng_short, eng_long;
    uint8_t len;
    char cid[64];
};

static double naive_weight(const char *t, size_t n)
{
    static const struct {
        const char *name;
        double w;
    } tab[] = {{"view", 0.2},      {"click", 0.3},    {"login", 0.5},  {"email_open", 0.2},
               {"like", 0.5},      {"comment", 1.0},  {"signup", 1.0}, {"question", 0.5},
               {"complaint", 0.5}, {"review", 1.0},   {"nps", 0.5},    {"mention", 1.0},
               {"share", 1.5},     {"referral", 1.5}, {"answer", 1.5}};
    for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
        if (strlen(tab[i].name) == n && memcmp(tab[i].name, t, n) == 0)
            return tab[i].w;
    return 0.0;
}

static void naive(const struct buf *b, uint64_t n_customers)
{
    size_t nb = 1;
    while (nb < n_customers)
        nb <<= 1;
    struct naive_cust **bucket = calloc(nb, sizeof(*bucket));
    if (!bucket) {
        fprintf(stderr, "out of memory for the naive table\n");
        exit(1);
    }
    const double hs = 7 * 86400000.0, hl = 90 * 86400000.0;
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    uint64_t n = 0, customers = 0;
    double t0 = now_s(), c0 = cpu_s();
    while (msgpack_unpack_next(&u, (const char *)b->p, b->len, &off) == MSGPACK_UNPACK_SUCCESS) {
        if (u.data.type != MSGPACK_OBJECT_MAP)
            continue;
        const char *cid = NULL, *type = NULL;
        size_t cid_len = 0, type_len = 0;
        int64_t ts = 0;
        for (uint32_t i = 0; i < u.data.via.map.size; i++) {
            const msgpack_object_kv *kv = &u.data.via.map.ptr[i];
            if (kv->key.type != MSGPACK_OBJECT_STR)
                continue;
            const char *k = kv->key.via.str.ptr;
            uint32_t kl = kv->key.via.str.size;
            if (kl == 3 && memcmp(k, "cid", 3) == 0 && kv->val.type == MSGPACK_OBJECT_STR) {
                cid = kv->val.via.str.ptr;
                cid_len = kv->val.via.str.size;
            } else if (kl == 2 && memcmp(k, "ts", 2) == 0 &&
                       kv->val.type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
                ts = (int64_t)kv->val.via.u64;
            } else if (kl == 4 && memcmp(k, "type", 4) == 0 && kv->val.type == MSGPACK_OBJECT_STR) {
                type = kv->val.via.str.ptr;
                type_len = kv->val.via.str.size;
            }
        }
        if (!cid || !type || cid_len >= sizeof(((struct naive_cust *)0)->cid))
            continue;
        size_t h = (size_t)XXH64(cid, cid_len, 0) & (nb - 1);
        struct naive_cust *c = bucket[h];
        while (c && !(c->len == cid_len && memcmp(c->cid, cid, cid_len) == 0))
            c = c->next;
        if (!c) {
            c = calloc(1, sizeof(*c));
            if (!c) {
                fprintf(stderr, "out of memory for a naive customer\n");
                exit(1);
            }
            memcpy(c->cid, cid, cid_len);
            c->len = (uint8_t)cid_len;
            c->clock_ms = ts;
            c->next = bucket[h];
            bucket[h] = c;
            customers++;
        }
        if (ts > c->clock_ms) {
            c->eng_short *= exp2(-(double)(ts - c->clock_ms) / hs);
            c->eng_long *= exp2(-(double)(ts - c->clock_ms) / hl);
            c->clock_ms = ts;
        }
        double w = naive_weight(type, type_len);
        c->eng_short += w * exp2(-(double)(c->clock_ms - ts) / hs);
        c->eng_long += w * exp2(-(double)(c->clock_ms - ts) / hl);
        n++;
    }
    double t1 = now_s(), c1 = cpu_s();
    msgpack_unpacked_destroy(&u);
    printf("  naive     %6.2f M events/s of CPU time, %.2f M/s wall (%llu events, %llu customers: "
           "msgpack-c + chained hash + 2 decayed sums, no scores/timers/signals)\n",
           (double)n / (c1 - c0) / 1e6, (double)n / (t1 - t0) / 1e6, (unsigned long long)n,
           (unsigned long long)customers);
    for (size_t i = 0; i < nb; i++)
        for (struct naive_cust *c = bucket[i], *nx; c; c = nx) {
            nx = c->next;
            free(c);
        }
    free(bucket);
}

static void run(uint64_t n_customers, uint64_t per_customer)
{
    rng = 88172645463325252ULL; /* the same stream for a size whatever ran before */
    uint64_t n_events = n_customers * per_customer;
    if (n_events < 3000000)
        n_events = 3000000;
    struct buf b;
    double g0 = now_s();
    build_stream(&b, n_customers, n_events);
    double g1 = now_s();

    /* decode only, for reference (the decoder's share of the pipeline) */
    struct rp_event ev;
    char detail[128];
    double d0 = now_s(), dc0 = cpu_s();
    size_t pos = 0;
    uint64_t decoded = 0;
    while (pos < b.len) {
        size_t n;
        enum rp_err r =
            rp_event_decode_msgpack_next(b.p + pos, b.len - pos, &ev, &n, detail, sizeof(detail));
        if (n == 0 || n == (size_t)-1)
            break;
        if (r == RP_OK)
            decoded++;
        pos += n;
    }
    double d1 = now_s(), dc1 = cpu_s();

    struct rp_scoring_config cfg;
    rp_scoring_config_defaults(&cfg);
    struct sink sink = {.check = getenv("RP_BENCH_STATE") != NULL};
    struct rp_pipeline_hooks hooks = {.opaque = &sink, .on_signal = on_signal};
    char err[256];
    double cr0 = now_s();
    struct rp_pipeline *p = rp_pipeline_create(&cfg, &hooks, n_customers, err, sizeof(err));
    double cr1 = now_s();
    if (!p) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
    uint64_t applied = 0, rejected = 0, first_phase = 0;
    double t_first = 0;
    int64_t max_ts = INT64_MIN;
    int fd_ins = counter_open(PERF_COUNT_HW_INSTRUCTIONS),
        fd_cyc = counter_open(PERF_COUNT_HW_CPU_CYCLES);
    counter_start(fd_ins);
    counter_start(fd_cyc);
    double k0 = sys_s(), k_first = k0;
    double t0 = now_s(), c0 = cpu_s();
    /* Decode into a small ring ahead of apply and prefetch in stages (rp_pipeline_prefetch),
     * as a worker that holds a batch does, hashing each cid once: the index lines as an event
     * is decoded (AHEAD - 1 events ahead), the record D1 ahead, its links and cid D2 ahead,
     * the extensions (read from the links) D3 ahead. (7/4/2 since the links came with the cid:
     * +1.3 % against 6/3/1 at 1 M customers, in 7 pairs.) */
    enum { AHEAD = 16, D1 = 7, D2 = 4, D3 = 2 };
    static struct rp_event ring[AHEAD];
    uint64_t hash[AHEAD]; /* each event's cid hash, computed once (rp_pipeline_cid_hash) */
    uint32_t rec[AHEAD];  /* its record, as stage 1 found it */
    bool ok[AHEAD];
    uint64_t n_in = 0, n_out = 0;
    pos = 0;
    for (;;) {
        while (n_in - n_out < AHEAD && pos < b.len) {
            struct rp_event *e = &ring[n_in % AHEAD];
            size_t n;
            ok[n_in % AHEAD] = rp_event_decode_msgpack_next(b.p + pos, b.len - pos, e, &n, detail,
                                                            sizeof(detail)) == RP_OK;
            if (n == 0 || n == (size_t)-1) {
                pos = b.len;
                break;
            }
            rec[n_in % AHEAD] = UINT32_MAX; /* none, until stage 1 finds it */
            if (ok[n_in % AHEAD]) {         /* stage 0 as it is decoded: AHEAD - 1 events ahead */
                hash[n_in % AHEAD] = rp_pipeline_cid_hash(e);
                rp_pipeline_prefetch_hashed(p, hash[n_in % AHEAD], 0, &rec[n_in % AHEAD]);
            }
            pos += n;
            n_in++;
        }
        if (n_out == n_in)
            break;
        if (n_out + D1 < n_in && ok[(n_out + D1) % AHEAD])
            rp_pipeline_prefetch_hashed(p, hash[(n_out + D1) % AHEAD], 1,
                                        &rec[(n_out + D1) % AHEAD]);
        if (n_out + D2 < n_in && ok[(n_out + D2) % AHEAD])
            rp_pipeline_prefetch_hashed(p, hash[(n_out + D2) % AHEAD], 2,
                                        &rec[(n_out + D2) % AHEAD]);
        if (n_out + D3 < n_in && ok[(n_out + D3) % AHEAD])
            rp_pipeline_prefetch_hashed(p, hash[(n_out + D3) % AHEAD], 3,
                                        &rec[(n_out + D3) % AHEAD]);
        struct rp_event *e = &ring[n_out % AHEAD];
        if (ok[n_out % AHEAD]) {
            if (rp_pipeline_apply_hinted(p, e, hash[n_out % AHEAD], rec[n_out % AHEAD]) == RP_OK) {
                applied++;
                if (e->ts_ms > max_ts) {
                    max_ts = e->ts_ms;
                    rp_pipeline_advance(p, max_ts - LATE);
                }
            } else {
                rejected++;
            }
        } else {
            rejected++;
        }
        n_out++;
        if (n_out == n_customers) {
            t_first = now_s();
            k_first = sys_s();
            first_phase = n_out;
        }
    }
    double t1 = now_s(), c1 = cpu_s();
    double k1 = sys_s();
    double ins = counter_stop(fd_ins), cyc = counter_stop(fd_cyc);
    if (fd_ins >= 0)
        close(fd_ins);
    if (fd_cyc >= 0)
        close(fd_cyc);
    size_t customers = rp_pipeline_customers(p), bytes = rp_pipeline_state_bytes(p);
    const struct rp_pipeline_stats *st = rp_pipeline_stats(p);
    double secs = t1 - t0;
    printf("customers %10zu  events %10llu  (%.1f bytes/event, generated in %.1f s)\n", customers,
           (unsigned long long)applied, (double)b.len / (double)n_events, g1 - g0);
    printf("  pipeline  %6.2f M events/s of CPU time, %.2f M/s of wall clock (%.2f s CPU, %.2f s "
           "wall; wall: first touches %.2f M/s, then %.2f M/s)\n",
           (double)applied / (c1 - c0) / 1e6, (double)applied / secs / 1e6, c1 - c0, secs,
           first_phase ? (double)first_phase / (t_first - t0) / 1e6 : 0.0,
           first_phase ? (double)(applied - first_phase) / (t1 - t_first) / 1e6 : 0.0);
    printf("  created in %.2f s (not timed: the index, the records and the first slabs of ids and "
           "extensions for the expected customers are faulted in at creation)\n",
           cr1 - cr0);
    printf("  of the CPU time %.2f s in the kernel (%.0f %%: page faults of new state; first "
           "touches %.2f s, then %.2f s)\n",
           k1 - k0, 100.0 * (k1 - k0) / (c1 - c0), k_first - k0, k1 - k_first);
    if (ins >= 0 && cyc >= 0)
        printf("  per event %6.0f instructions, %.0f cycles (user space, IPC %.2f)\n",
               ins / (double)n_events, cyc / (double)n_events, cyc > 0 ? ins / cyc : 0.0);
    printf("  decode    %6.2f M events/s of CPU time alone, %.2f M/s wall (%llu ok)\n",
           (double)decoded / (dc1 - dc0) / 1e6, (double)decoded / (d1 - d0) / 1e6,
           (unsigned long long)decoded);
    printf("  state     %6.1f bytes/customer  (%.1f MiB)\n", (double)bytes / (double)customers,
           (double)bytes / 1048576.0);
    printf("  timers fired %llu, evaluations skipped %llu, signals %llu (%llu bytes msgpack, "
           "digest %016llx), too_late %llu, credits %llu, rejected %llu\n",
           (unsigned long long)st->timers_fired, (unsigned long long)st->evaluations_skipped,
           (unsigned long long)sink.signals, (unsigned long long)sink.bytes,
           (unsigned long long)sink.digest, (unsigned long long)st->too_late,
           (unsigned long long)st->credits_applied, (unsigned long long)rejected);
    double ne = (double)applied;
    printf("  per event: %.2f checks fired, %.2f deferred look-aheads, %.2f reschedules, %.2f "
           "look-ahead evaluations, %.3f crossing searches, %.2f evaluations skipped, %.3f holds "
           "(%.3f checks passed over)\n",
           (double)st->timers_fired / ne, (double)st->lookaheads / ne, (double)st->reschedules / ne,
           (double)st->lookahead_evals / ne, (double)st->crossing_searches / ne,
           (double)st->evaluations_skipped / ne, (double)st->holds / ne,
           (double)st->held_checks / ne);
    if (sink.check) {
        /* Every customer viewed at the last watermark (untimed; for checking that a change
         * keeps the state as well as the signals). */
        uint64_t sd = 0;
        if (rp_pipeline_foreach(p, rp_pipeline_watermark(p), view_digest, &sd) == RP_OK)
            printf("  signal digest in any order %016llx (without previous_score %016llx), state "
                   "digest %016llx (every customer viewed at the last watermark)\n",
                   (unsigned long long)sink.set_digest, (unsigned long long)sink.noprev_digest,
                   (unsigned long long)sd);
    }
    fflush(stdout);
    rp_pipeline_destroy(p);
    if (!getenv("RP_BENCH_NO_NAIVE"))
        naive(&b, n_customers);
    free(b.p);
}

int main(int argc, char **argv)
{
    uint64_t per = 3;
    const char *e = getenv("RP_BENCH_EVENTS_PER_CUSTOMER");
    if (e && atoi(e) > 0)
        per = (uint64_t)atoi(e);
    if (argc > 1) {
        for (int i = 1; i < argc; i++)
            run(strtoull(argv[i], NULL, 10), per);
    } else {
        run(100000, per);
        run(1000000, per);
        run(10000000, per);
    }
    return 0;
}
