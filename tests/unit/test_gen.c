/* test_gen: the synthetic generator: determinism, valid events, time order, archetypes, skew,
 * daily cycle, pairing of conversations, referrals, and the exact --events count. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "gen.h"

#define MS_HOUR (3600 * INT64_C(1000))
#define MS_DAY  (24 * MS_HOUR)

static struct rp_gen *make(uint32_t customers, double days, uint64_t seed, uint64_t events)
{
    struct rp_gen_config cfg;
    rp_gen_config_defaults(&cfg);
    cfg.customers = customers;
    cfg.span_ms = (int64_t)(days * (double)MS_DAY);
    cfg.seed = seed;
    cfg.events = events;
    char err[256] = "";
    struct rp_gen *g = rp_gen_create(&cfg, err, sizeof(err));
    cr_assert_not_null(g, "rp_gen_create: %s", err);
    return g;
}

/* Customer index of a generated cid "c<i>". */
static uint32_t cust_index(const struct rp_cid *cid)
{
    cr_assert(cid->len >= 2 && cid->bytes[0] == 'c', "cid %.*s", cid->len, cid->bytes);
    char buf[16];
    memcpy(buf, cid->bytes + 1, cid->len - 1u);
    buf[cid->len - 1] = 0;
    return (uint32_t)strtoul(buf, NULL, 10);
}

static bool cid_eq(const struct rp_cid *a, const struct rp_cid *b)
{
    return a->len == b->len && memcmp(a->bytes, b->bytes, a->len) == 0;
}

/* FNV-1a over the msgpack encoding of the whole stream. */
static uint64_t stream_hash(uint32_t customers, uint64_t seed, uint64_t *count)
{
    struct rp_gen *g = make(customers, 20, seed, 0);
    struct rp_event ev;
    uint8_t buf[2048];
    uint64_t h = 1469598103934665603ULL, n = 0;
    while (rp_gen_next(g, &ev)) {
        size_t len = rp_event_encode_msgpack(&ev, buf, sizeof(buf));
        cr_assert_gt(len, 0);
        for (size_t i = 0; i < len; i++)
            h = (h ^ buf[i]) * 1099511628211ULL;
        n++;
    }
    rp_gen_destroy(g);
    *count = n;
    return h;
}

Test(gen, same_seed_same_bytes_other_seed_other_bytes)
{
    uint64_t n1, n2, n3;
    uint64_t a = stream_hash(500, 42, &n1);
    uint64_t b = stream_hash(500, 42, &n2);
    uint64_t c = stream_hash(500, 43, &n3);
    cr_assert_gt(n1, 5000, "only %llu events", (unsigned long long)n1);
    cr_assert_eq(n1, n2);
    cr_assert_eq(a, b, "same seed gave different streams");
    cr_assert_neq(a, c, "another seed gave the same stream");
}

/* Every event is valid per SPEC §1: it encodes in both formats, decodes back to the same event,
 * carries the fields its type requires, and the stream is in event-time order. */
Test(gen, events_valid_round_trip_and_ordered)
{
    struct rp_gen *g = make(800, 30, 7, 0);
    struct rp_event ev, back;
    char buf[2048], detail[256];
    int64_t last = INT64_MIN;
    uint64_t n = 0, per_type[RP_EV__COUNT] = {0};
    while (rp_gen_next(g, &ev)) {
        n++;
        cr_assert_geq(ev.ts_ms, last, "event %llu goes back in time", (unsigned long long)n);
        last = ev.ts_ms;
        cr_assert_geq(ev.ts_ms, INT64_C(1767225600000));
        cr_assert_lt(ev.ts_ms, INT64_C(1767225600000) + 30 * MS_DAY);
        per_type[ev.type]++;
        for (int fmt = 0; fmt < 2; fmt++) {
            size_t len = fmt ? rp_event_encode_json(&ev, buf, sizeof(buf))
                             : rp_event_encode_msgpack(&ev, buf, sizeof(buf));
            cr_assert_gt(len, 0);
            enum rp_err rc = rp_event_decode(buf, len, &back, detail, sizeof(detail));
            cr_assert_eq(rc, RP_OK, "event %llu (%s) rejected: %s: %s", (unsigned long long)n,
                         rp_event_type_name(ev.type), rp_strerror(rc), detail);
            cr_assert_eq(back.ts_ms, ev.ts_ms);
            cr_assert_eq(back.type, ev.type);
            cr_assert_eq(back.present, ev.present, "present bits differ for %s",
                         rp_event_type_name(ev.type));
            cr_assert(cid_eq(&back.cid, &ev.cid));
            if (ev.present & RP_F_VALUE)
                cr_assert_eq(back.value, ev.value);
            if (ev.present & RP_F_SENTIMENT)
                cr_assert_eq(back.sentiment, ev.sentiment);
            if (ev.present & RP_F_SCORE)
                cr_assert_eq(back.score, ev.score);
            if (ev.present & RP_F_REF)
                cr_assert(back.ref.len == ev.ref.len &&
                          memcmp(back.ref.bytes, ev.ref.bytes, ev.ref.len) == 0);
            if (ev.present & RP_F_TARGET)
                cr_assert(cid_eq(&back.target, &ev.target));
            if (ev.present & RP_F_REFERRER)
                cr_assert(cid_eq(&back.referrer, &ev.referrer));
        }
        /* the fields each type requires (SPEC §1), checked here too in case the decoder is lax */
        switch (ev.type) {
        case RP_EV_PURCHASE:
        case RP_EV_REFUND:
            cr_assert(ev.present & RP_F_VALUE);
            cr_assert(ev.value >= 0 && isfinite(ev.value));
            break;
        case RP_EV_NPS:
            cr_assert(ev.present & RP_F_SCORE);
            cr_assert(ev.score >= 0 && ev.score <= 10);
            break;
        case RP_EV_REVIEW:
            cr_assert(ev.present & RP_F_SCORE);
            cr_assert(ev.score >= 1 && ev.score <= 5);
            break;
        case RP_EV_QUESTION:
        case RP_EV_REPLY:
        case RP_EV_COMPLAINT:
        case RP_EV_RESOLUTION:
            cr_assert(ev.present & RP_F_REF);
            break;
        case RP_EV_REFERRAL:
        case RP_EV_ANSWER:
            cr_assert(ev.present & RP_F_TARGET);
            cr_assert(!cid_eq(&ev.target, &ev.cid), "%s to oneself", rp_event_type_name(ev.type));
            break;
        default:
            break;
        }
        if (ev.present & RP_F_SENTIMENT)
            cr_assert(ev.sentiment >= -1 && ev.sentiment <= 1);
        if (ev.present & RP_F_REFERRER)
            cr_assert(ev.type == RP_EV_PURCHASE || ev.type == RP_EV_SIGNUP);
    }
    cr_assert_eq(n, rp_gen_count(g));
    /* the whole vocabulary shows up in a month of 800 customers */
    for (int t = 0; t < RP_EV__COUNT; t++)
        cr_assert_gt(per_type[t], 0, "no %s event", rp_event_type_name(t));
    rp_gen_destroy(g);
}

Test(gen, archetype_proportions_follow_the_mix)
{
    struct rp_gen_config cfg;
    rp_gen_config_defaults(&cfg);
    cfg.customers = 10000;
    char err[256];
    cr_assert_eq(rp_gen_mix_parse(&cfg, "advocate=20,window_shopper=0", err, sizeof(err)), RP_OK,
                 "%s", err);
    struct rp_gen *g = rp_gen_create(&cfg, err, sizeof(err));
    cr_assert_not_null(g, "%s", err);
    double sum = 0;
    for (int a = 0; a < RP_ARCH__COUNT; a++)
        sum += cfg.mix[a];
    uint32_t count[RP_ARCH__COUNT] = {0};
    for (uint32_t i = 0; i < rp_gen_customers(g); i++)
        count[rp_gen_archetype(g, i)]++;
    for (int a = 0; a < RP_ARCH__COUNT; a++) {
        double want = cfg.mix[a] / sum, got = count[a] / 10000.0;
        cr_assert(fabs(got - want) < 0.005, "%s: %.4f of customers, want %.4f",
                  rp_archetype_name(a), got, want);
    }
    cr_assert_eq(count[RP_ARCH_WINDOW_SHOPPER], 0);
    /* the archetypes are spread over the ids, not in blocks */
    uint32_t first_half_adv = 0;
    for (uint32_t i = 0; i < 5000; i++)
        first_half_adv += rp_gen_archetype(g, i) == RP_ARCH_ADVOCATE;
    cr_assert(first_half_adv > count[RP_ARCH_ADVOCATE] * 0.4 &&
              first_half_adv < count[RP_ARCH_ADVOCATE] * 0.6);
    rp_gen_destroy(g);
}

static int cmp_desc(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* Share of all events carried by the most active 10 % of customers. */
static double top_decile_share(double zipf_s)
{
    struct rp_gen_config cfg;
    rp_gen_config_defaults(&cfg);
    cfg.customers = 2000;
    cfg.zipf_s = zipf_s;
    cfg.mix[RP_ARCH_DRIFTING] = cfg.mix[RP_ARCH_SILENT_CHURNER] = cfg.mix[RP_ARCH_UNSUBSCRIBER] = 0;
    char err[256];
    struct rp_gen *g = rp_gen_create(&cfg, err, sizeof(err));
    cr_assert_not_null(g, "%s", err);
    uint64_t *per = calloc(2000, sizeof(*per)), total = 0;
    struct rp_event ev;
    while (rp_gen_next(g, &ev)) {
        per[cust_index(&ev.cid)]++;
        total++;
    }
    qsort(per, 2000, sizeof(*per), cmp_desc);
    uint64_t top = 0;
    for (int i = 0; i < 200; i++)
        top += per[i];
    free(per);
    rp_gen_destroy(g);
    return (double)top / (double)total;
}

Test(gen, zipf_skew_between_customers)
{
    double skewed = top_decile_share(0.8), even = top_decile_share(0.0);
    cr_log_info("top 10%% of customers carry %.1f%% of events (zipf 0.8), %.1f%% (zipf 0)",
                100 * skewed, 100 * even);
    cr_assert_geq(skewed, 0.35, "top decile carries only %.3f", skewed);
    cr_assert_geq(skewed, even + 0.12, "skewed %.3f vs even %.3f", skewed, even);
}

Test(gen, daily_cycle)
{
    struct rp_gen *g = make(1000, 30, 3, 0);
    uint64_t hours[24] = {0};
    struct rp_event ev;
    while (rp_gen_next(g, &ev))
        hours[(ev.ts_ms % MS_DAY) / MS_HOUR]++;
    uint64_t night = hours[2] + hours[3] + hours[4], evening = hours[19] + hours[20] + hours[21];
    uint64_t lo = UINT64_MAX, hi = 0;
    for (int h = 0; h < 24; h++) {
        lo = hours[h] < lo ? hours[h] : lo;
        hi = hours[h] > hi ? hours[h] : hi;
    }
    cr_assert_gt(lo, 0);
    cr_assert_geq((double)hi / (double)lo, 4.0, "flat hour histogram: max %llu min %llu",
                  (unsigned long long)hi, (unsigned long long)lo);
    cr_assert_geq(evening, 4 * night, "evening %llu night %llu", (unsigned long long)evening,
                  (unsigned long long)night);
    rp_gen_destroy(g);
}

Test(gen, exact_event_count_spans_about_the_days)
{
    struct rp_gen *g = make(1000, 10, 5, 20000);
    struct rp_event ev;
    int64_t first = 0, last = 0;
    uint64_t n = 0;
    while (rp_gen_next(g, &ev)) {
        if (n++ == 0)
            first = ev.ts_ms;
        last = ev.ts_ms;
    }
    cr_assert_eq(n, 20000);
    cr_assert(!rp_gen_next(g, &ev), "more events after the end");
    double days = (double)(last - first) / (double)MS_DAY;
    cr_assert(days > 8.0 && days < 12.5, "20000 events spanned %.2f days, want about 10", days);
    rp_gen_destroy(g);
}

#ifndef __SANITIZE_ADDRESS__ /* ASan owns malloc; the count below runs in the plain builds */
/* Counting allocator: glibc's own entry points under the standard names, counted while
 * `counting` is set, so that a test can say "no allocation at all in this loop". */
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);
static volatile int counting;
static volatile long n_allocs;
void *malloc(size_t n)
{
    n_allocs += counting;
    return __libc_malloc(n);
}
void *calloc(size_t n, size_t size)
{
    n_allocs += counting;
    return __libc_calloc(n, size);
}
void *realloc(void *p, size_t n)
{
    n_allocs += counting;
    return __libc_realloc(p, n);
}

/* No allocation per event: after a warm-up (the follow-up heap may double a few times while the
 * open conversations build up), a month of 2000 customers is generated with no malloc at all. */
Test(gen, no_allocation_per_event)
{
    struct rp_gen *g = make(2000, 30, 8, 0);
    struct rp_event ev;
    for (int i = 0; i < 1000; i++)
        cr_assert(rp_gen_next(g, &ev));
    uint64_t n = 0;
    counting = 1;
    while (rp_gen_next(g, &ev))
        n++;
    counting = 0;
    cr_assert_gt(n, 30000);
    cr_assert_eq(n_allocs, 0, "%ld allocations over %llu events", n_allocs, (unsigned long long)n);
    rp_gen_destroy(g);
}
#endif

/* Fewer events than customers: most customers show up once or not at all, yet the events still
 * spread over the span (not all at its start) and every time stays valid. */
Test(gen, sparse_population_spreads_over_the_span)
{
    struct rp_gen *g = make(100000, 30, 2, 20000);
    struct rp_event ev;
    uint64_t n = 0, second_half = 0;
    int64_t last = 0;
    const int64_t start = INT64_C(1767225600000);
    while (rp_gen_next(g, &ev)) {
        n++;
        cr_assert(ev.ts_ms >= start && ev.ts_ms < start + 40 * MS_DAY, "ts %lld",
                  (long long)ev.ts_ms);
        cr_assert_geq(ev.ts_ms, last);
        last = ev.ts_ms;
        second_half += ev.ts_ms >= start + 15 * MS_DAY;
    }
    cr_assert_eq(n, 20000);
    cr_assert_gt(last, start + 20 * MS_DAY, "20000 events ended on day %.1f",
                 (double)(last - start) / MS_DAY);
    cr_assert_gt(second_half, 5000);
    rp_gen_destroy(g);
}

/* Conversation pairing and the behaviour of the archetypes it is built to show. */
Test(gen, archetype_behaviour)
{
    const uint32_t N = 3000;
    const double days = 90;
    struct rp_gen *g = make(N, days, 11, 0);
    const int64_t start = INT64_C(1767225600000), span = (int64_t)(days * MS_DAY);
    int64_t *first_q = calloc(N, sizeof(int64_t)); /* time of the customer's first question */
    int64_t *last_ev = calloc(N, sizeof(int64_t));
    int64_t *unsub_at = calloc(N, sizeof(int64_t));
    uint32_t *q_open = calloc(N, sizeof(uint32_t)), *n_unsub = calloc(N, sizeof(uint32_t));
    uint64_t *early = calloc(N, sizeof(uint64_t)), *late = calloc(N, sizeof(uint64_t));
    uint64_t replies = 0, slow_served = 0, ignored_answered = 0, referred_signups = 0;
    uint64_t referred_first_purchases = 0, referrals_to_customers = 0, adv_acts = 0, other_acts = 0;
    struct rp_event ev;
    while (rp_gen_next(g, &ev)) {
        uint32_t i = cust_index(&ev.cid);
        enum rp_archetype a = rp_gen_archetype(g, i);
        last_ev[i] = ev.ts_ms;
        double u = (double)(ev.ts_ms - start) / (double)span;
        if (u < 0.25)
            early[i]++;
        else if (u >= 0.75)
            late[i]++;
        switch (ev.type) {
        case RP_EV_QUESTION:
            if (!first_q[i])
                first_q[i] = ev.ts_ms;
            q_open[i]++;
            break;
        case RP_EV_REPLY:
        case RP_EV_RESOLUTION:
            cr_assert(a != RP_ARCH_IGNORED_COMPLAINER, "an ignored complainer got an answer");
            if (ev.type == RP_EV_REPLY) {
                cr_assert_gt(q_open[i], 0, "reply to no question");
                q_open[i]--;
                replies++;
            }
            (void)ignored_answered;
            break;
        case RP_EV_UNSUBSCRIBE:
            n_unsub[i]++;
            unsub_at[i] = ev.ts_ms;
            break;
        case RP_EV_SIGNUP:
            if (ev.present & RP_F_REFERRER) {
                referred_signups++;
                cr_assert_eq(rp_gen_archetype(g, cust_index(&ev.referrer)), RP_ARCH_ADVOCATE);
            }
            break;
        case RP_EV_PURCHASE:
            if (ev.present & RP_F_REFERRER)
                referred_first_purchases++;
            break;
        case RP_EV_REFERRAL:
            if (ev.target.bytes[0] == 'c')
                referrals_to_customers++;
            /* fall through */
        case RP_EV_SHARE:
        case RP_EV_ANSWER:
            if (a == RP_ARCH_ADVOCATE)
                adv_acts++;
            else
                other_acts++;
            break;
        default:
            break;
        }
    }
    cr_assert_gt(replies, 100);
    (void)slow_served;
    cr_assert_gt(referred_signups, 20, "only %llu referred signups",
                 (unsigned long long)referred_signups);
    cr_assert_leq(referred_signups, referrals_to_customers);
    /* every referred signup is followed by its first purchase, carrying the referrer (a few may
     * fall past the end of the span) */
    cr_assert_geq(referred_first_purchases + 5, referred_signups);
    cr_assert_gt(adv_acts, 5 * other_acts, "advocacy acts: advocates %llu, others %llu",
                 (unsigned long long)adv_acts, (unsigned long long)other_acts);

    uint64_t drift_early = 0, drift_late = 0, loyal_early = 0, loyal_late = 0;
    for (uint32_t i = 0; i < N; i++) {
        enum rp_archetype a = rp_gen_archetype(g, i);
        switch (a) {
        case RP_ARCH_SILENT_CHURNER:
            /* stops at 30-60 % of the span; a session begun before may run a few minutes on */
            cr_assert_lt(last_ev[i], start + (int64_t)(0.60 * span) + MS_HOUR,
                         "silent churner c%u still active", i);
            break;
        case RP_ARCH_UNSUBSCRIBER:
            cr_assert_eq(n_unsub[i], 1, "unsubscriber c%u: %u unsubscribes", i, n_unsub[i]);
            cr_assert(unsub_at[i] >= start + (int64_t)(0.35 * span) &&
                      unsub_at[i] <= start + (int64_t)(0.65 * span));
            break;
        case RP_ARCH_DRIFTING:
            drift_early += early[i];
            drift_late += late[i];
            break;
        case RP_ARCH_LOYAL:
            loyal_early += early[i];
            loyal_late += late[i];
            /* fall through */
        default:
            cr_assert_eq(n_unsub[i], 0);
            break;
        }
    }
    cr_assert_lt(drift_late * 5, drift_early, "drifting: first quarter %llu, last quarter %llu",
                 (unsigned long long)drift_early, (unsigned long long)drift_late);
    /* loyal customers keep up (late joiners from the pool even add to the last quarter) */
    cr_assert_gt(loyal_late, loyal_early * 0.8);
    free(first_q);
    free(last_ev);
    free(unsub_at);
    free(q_open);
    free(n_unsub);
    free(early);
    free(late);
    rp_gen_destroy(g);
}

Test(gen, served_complainers_are_answered_within_hours)
{
    struct rp_gen_config cfg;
    rp_gen_config_defaults(&cfg);
    cfg.customers = 300;
    cfg.span_ms = 60 * MS_DAY;
    char err[256];
    cr_assert_eq(rp_gen_mix_parse(&cfg, "only:served_complainer=1", err, sizeof(err)), RP_OK);
    struct rp_gen *g = rp_gen_create(&cfg, err, sizeof(err));
    cr_assert_not_null(g, "%s", err);
    /* ref -> time asked, in a small open-addressed table keyed by the ref string */
    enum { CAP = 1 << 16 };
    struct slot {
        char ref[24];
        int64_t ts;
    } *tab = calloc(CAP, sizeof(*tab));
    struct rp_event ev;
    uint64_t asked = 0, answered = 0;
    int64_t worst = 0;
    while (rp_gen_next(g, &ev)) {
        if (!(ev.present & RP_F_REF))
            continue;
        char key[24];
        snprintf(key, sizeof(key), "%.*s", ev.ref.len, ev.ref.bytes);
        uint64_t h = 1469598103934665603ULL;
        for (char *p = key; *p; p++)
            h = (h ^ (uint8_t)*p) * 1099511628211ULL;
        size_t s = h & (CAP - 1);
        bool opens = ev.type == RP_EV_QUESTION || ev.type == RP_EV_COMPLAINT;
        while (tab[s].ref[0] && strcmp(tab[s].ref, key) != 0)
            s = (s + 1) & (CAP - 1);
        if (opens) {
            cr_assert_eq(tab[s].ref[0], 0, "ref %s reused", key);
            strcpy(tab[s].ref, key);
            tab[s].ts = ev.ts_ms;
            asked++;
        } else {
            cr_assert_str_eq(tab[s].ref, key, "answer to unknown ref %s", key);
            int64_t d = ev.ts_ms - tab[s].ts;
            cr_assert_geq(d, 0);
            worst = d > worst ? d : worst;
            answered++;
        }
    }
    cr_assert_gt(asked, 500);
    /* only those asked in the last hours of the span may be left unanswered */
    cr_assert_geq(answered, asked - asked / 50);
    cr_assert_leq(worst, 12 * MS_HOUR, "worst answer time %.1f h", worst / 3600000.0);
    free(tab);
    rp_gen_destroy(g);
}

Test(gen, labels_and_mix_parsing)
{
    struct rp_gen_config cfg;
    rp_gen_config_defaults(&cfg);
    char err[256];
    cr_assert_neq(rp_gen_mix_parse(&cfg, "nobody=3", err, sizeof(err)), RP_OK);
    cr_assert(strstr(err, "nobody"));
    cr_assert_neq(rp_gen_mix_parse(&cfg, "loyal=-1", err, sizeof(err)), RP_OK);
    cr_assert_neq(rp_gen_mix_parse(&cfg, "loyal", err, sizeof(err)), RP_OK);
    cr_assert_neq(rp_gen_mix_parse(&cfg, "only:loyal=0", err, sizeof(err)), RP_OK);
    cr_assert_eq(cfg.mix[RP_ARCH_LOYAL], 28, "a failed parse must leave the mix alone");
    cr_assert_eq(rp_gen_mix_parse(&cfg, "only:loyal=1,drifting=3", err, sizeof(err)), RP_OK);
    cr_assert_eq(cfg.mix[RP_ARCH_DRIFTING], 3);
    cr_assert_eq(cfg.mix[RP_ARCH_ADVOCATE], 0);
    for (int a = 0; a < RP_ARCH__COUNT; a++)
        cr_assert_eq(rp_archetype_parse(rp_archetype_name(a), strlen(rp_archetype_name(a))), a);

    cfg.customers = 10;
    struct rp_gen *g = rp_gen_create(&cfg, err, sizeof(err));
    cr_assert_not_null(g);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    cr_assert_eq(rp_gen_write_labels(g, f), RP_OK);
    fclose(f);
    cr_assert(strncmp(text, "cid,archetype\nc0,", 17) == 0, "%s", text);
    int lines = 0;
    for (char *p = text; *p; p++)
        lines += *p == '\n';
    cr_assert_eq(lines, 11);
    free(text);
    rp_gen_destroy(g);

    cfg.customers = 0;
    cr_assert_null(rp_gen_create(&cfg, err, sizeof(err)));
    cr_assert(strstr(err, "customers"));
}
