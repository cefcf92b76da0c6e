/* metrics: per-writer lock-free counters summed on read, rendered as Prometheus text (SPEC §6). */
#include "metrics.h"

#include <assert.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* Bucket bounds chosen around a batch of 512 events at 1-10 M events/s/core (50-500 us), with
 * room on both sides: a tiny batch at idle and a stalled one (GC-free C, so seconds mean trouble).
 */
const double rp_metrics_batch_bounds_s[RP_METRICS_BATCH_BUCKETS] = {
    1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 0.1, 1, 10,
};
/* The same bounds in integer nanoseconds, so that observing needs no floating point. */
static const uint64_t batch_bounds_ns[RP_METRICS_BATCH_BUCKETS] = {
    10000,   25000,   50000,    100000,   250000,    500000,     1000000,
    2500000, 5000000, 10000000, 25000000, 100000000, 1000000000, 10000000000,
};

/* Gauges of one partition, on their own cache line (their writer may differ per partition). */
struct part_gauges {
    rp_counter watermark_ms; /* int64 stored as its two's complement; INT64_MIN = unknown */
    rp_counter lag;          /* int64 likewise (librdkafka reports -1 for unknown) */
    rp_counter assigned;     /* 0 or 1 */
    rp_counter idle;         /* 0 or 1: left out of the watermark */
    rp_counter customers;    /* of the partition's pipeline */
    rp_counter state_bytes;
} __attribute__((aligned(RP_METRICS_CACHELINE)));

struct rp_metrics {
    int n_writers, n_workers, n_partitions;
    struct rp_metrics_part *parts; /* [writer * n_partitions + partition] */
    struct rp_metrics_worker *workers;
    struct part_gauges *gauges; /* [partition] */
    /* the engine watermark, on its own line: written by the thread that computes the minimum */
    struct {
        rp_counter ms;
    } __attribute__((aligned(RP_METRICS_CACHELINE))) watermark;
};

#define UNKNOWN_MS INT64_MIN

static void *alloc_lines(size_t n, size_t size)
{
    size_t bytes = n * size; /* size is a multiple of the cache line (aligned structs) */
    if (n != 0 && bytes / n != size)
        return NULL;
    void *p = aligned_alloc(RP_METRICS_CACHELINE, bytes ? bytes : RP_METRICS_CACHELINE);
    if (p)
        memset(p, 0, bytes); /* all-zero bytes are valid zero atomics on every platform we run */
    return p;
}

struct rp_metrics *rp_metrics_create(int n_writers, int n_workers, int n_partitions, char *errstr,
                                     size_t errstr_size)
{
    if (n_writers < 1 || n_workers < 1 || n_partitions < 1 || n_writers > 4096 ||
        n_workers > 4096 || n_partitions > 1 << 20) {
        if (errstr_size)
            snprintf(errstr, errstr_size,
                     "metrics: bad sizes (writers %d, workers %d, partitions %d)", n_writers,
                     n_workers, n_partitions);
        return NULL;
    }
    struct rp_metrics *m = alloc_lines(1, sizeof(*m));
    if (m) {
        m->n_writers = n_writers;
        m->n_workers = n_workers;
        m->n_partitions = n_partitions;
        m->parts = alloc_lines((size_t)n_writers * (size_t)n_partitions, sizeof(*m->parts));
        m->workers = alloc_lines((size_t)n_workers, sizeof(*m->workers));
        m->gauges = alloc_lines((size_t)n_partitions, sizeof(*m->gauges));
    }
    if (!m || !m->parts || !m->workers || !m->gauges) {
        rp_metrics_destroy(m);
        if (errstr_size)
            snprintf(errstr, errstr_size, "metrics: out of memory");
        return NULL;
    }
    for (int p = 0; p < n_partitions; p++) {
        atomic_init(&m->gauges[p].watermark_ms, (uint64_t)UNKNOWN_MS);
        atomic_init(&m->gauges[p].lag, (uint64_t)INT64_C(-1));
    }
    atomic_init(&m->watermark.ms, (uint64_t)UNKNOWN_MS);
    return m;
}

void rp_metrics_destroy(struct rp_metrics *m)
{
    if (!m)
        return;
    free(m->parts);
    free(m->workers);
    free(m->gauges);
    free(m);
}

int rp_metrics_n_partitions(const struct rp_metrics *m)
{
    return m->n_partitions;
}

int rp_metrics_n_workers(const struct rp_metrics *m)
{
    return m->n_workers;
}

int rp_metrics_n_writers(const struct rp_metrics *m)
{
    return m->n_writers;
}

struct rp_metrics_part *rp_metrics_part(struct rp_metrics *m, int writer, int partition)
{
    assert(writer >= 0 && writer < m->n_writers);
    assert(partition >= 0 && partition < m->n_partitions);
    return &m->parts[(size_t)writer * (size_t)m->n_partitions + (size_t)partition];
}

struct rp_metrics_worker *rp_metrics_worker(struct rp_metrics *m, int worker)
{
    assert(worker >= 0 && worker < m->n_workers);
    return &m->workers[worker];
}

void rp_metrics_observe_batch(struct rp_metrics_worker *w, uint64_t ns)
{
    int b = 0;
    while (b < RP_METRICS_BATCH_BUCKETS && ns > batch_bounds_ns[b])
        b++;
    /* Sum before bucket: a reader derives _count from the buckets, so it may see the new sum
     * with the old count for an instant, never a count whose sum is missing. Both relaxed: the
     * exposition format does not promise a consistent snapshot, only untorn values. */
    rp_metrics_add(&w->batch_sum_ns, ns);
    rp_metrics_add(&w->batch_bucket[b], 1);
}

void rp_metrics_set_partition_watermark(struct rp_metrics *m, int partition, int64_t ms)
{
    assert(partition >= 0 && partition < m->n_partitions);
    rp_metrics_gauge_set(&m->gauges[partition].watermark_ms, (uint64_t)ms);
}

void rp_metrics_set_partition_lag(struct rp_metrics *m, int partition, int64_t lag)
{
    assert(partition >= 0 && partition < m->n_partitions);
    rp_metrics_gauge_set(&m->gauges[partition].lag, (uint64_t)lag);
}

void rp_metrics_set_partition_idle(struct rp_metrics *m, int partition, bool idle)
{
    assert(partition >= 0 && partition < m->n_partitions);
    rp_metrics_gauge_set(&m->gauges[partition].idle, idle);
}

void rp_metrics_set_partition_state(struct rp_metrics *m, int partition, uint64_t customers,
                                    uint64_t bytes)
{
    assert(partition >= 0 && partition < m->n_partitions);
    rp_metrics_gauge_set(&m->gauges[partition].customers, customers);
    rp_metrics_gauge_set(&m->gauges[partition].state_bytes, bytes);
}

void rp_metrics_set_partition_assigned(struct rp_metrics *m, int partition, bool assigned)
{
    assert(partition >= 0 && partition < m->n_partitions);
    rp_metrics_gauge_set(&m->gauges[partition].assigned, assigned ? 1 : 0);
}

void rp_metrics_set_watermark(struct rp_metrics *m, int64_t ms)
{
    rp_metrics_gauge_set(&m->watermark.ms, (uint64_t)ms);
}

static uint64_t load(const rp_counter *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

void rp_metrics_part_totals(const struct rp_metrics *m, int partition,
                            struct rp_metrics_part_totals *out)
{
    assert(partition >= 0 && partition < m->n_partitions);
    memset(out, 0, sizeof(*out));
    for (int w = 0; w < m->n_writers; w++) {
        const struct rp_metrics_part *p =
            &m->parts[(size_t)w * (size_t)m->n_partitions + (size_t)partition];
        out->consumed += load(&p->consumed);
        out->applied += load(&p->applied);
        out->late += load(&p->late);
        out->credits_new += load(&p->credits_new);
        out->credits_repeated += load(&p->credits_repeated);
        for (int k = 0; k < RP_KIND__COUNT; k++)
            for (int t = 0; t < 2; t++)
                out->signals[k][t] += load(&p->signals[k][t]);
        for (int c = 1; c < RP_ERR__DEAD_LETTER_END; c++) {
            uint64_t v = load(&p->dead_lettered[c]);
            out->dead_lettered_by_code[c] += v;
            out->dead_lettered += v;
        }
    }
}

bool rp_metrics_partition_balanced(const struct rp_metrics *m, int partition)
{
    struct rp_metrics_part_totals t;
    rp_metrics_part_totals(m, partition, &t);
    return t.consumed == t.applied + t.dead_lettered;
}

/* The batch histogram summed over workers, added to out's batch fields. */
static void batch_totals(const struct rp_metrics *m, struct rp_metrics_worker_totals *out)
{
    for (int i = 0; i < m->n_workers; i++) {
        const struct rp_metrics_worker *w = &m->workers[i];
        out->batch_sum_ns += load(&w->batch_sum_ns);
        for (int b = 0; b <= RP_METRICS_BATCH_BUCKETS; b++) {
            uint64_t v = load(&w->batch_bucket[b]);
            out->batch_bucket[b] += v;
            out->batch_count += v;
        }
    }
}

void rp_metrics_worker_totals(const struct rp_metrics *m, struct rp_metrics_worker_totals *out)
{
    memset(out, 0, sizeof(*out));
    for (int p = 0; p < m->n_partitions; p++) {
        struct rp_metrics_part_totals t;
        rp_metrics_part_totals(m, p, &t);
        for (int k = 0; k < RP_KIND__COUNT; k++)
            for (int r = 0; r < 2; r++)
                out->signals[k][r] += t.signals[k][r];
        out->customers += load(&m->gauges[p].customers);
        out->state_bytes += load(&m->gauges[p].state_bytes);
    }
    batch_totals(m, out);
}

/* ---- rendering ---- */

static void header(FILE *out, const char *name, const char *type, const char *help)
{
    fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A partition is shown while assigned, and afterwards if it ever counted anything (so that a
 * counter does not vanish and reappear as a reset when a partition moves away and back). */
static bool part_shown(const struct rp_metrics *m, int p, const struct rp_metrics_part_totals *t)
{
    bool signalled = false;
    for (int k = 0; k < RP_KIND__COUNT; k++)
        signalled = signalled || t->signals[k][0] || t->signals[k][1];
    return load(&m->gauges[p].assigned) || t->consumed || t->applied || t->dead_lettered ||
           t->late || t->credits_new || t->credits_repeated || signalled;
}

int rp_metrics_write(const struct rp_metrics *m, FILE *out)
{
    /* Totals are summed once per partition up front, so that every family below prints the
     * same snapshot of a partition (consumed is never shown from a later read than applied). */
    struct rp_metrics_part_totals *tot = calloc((size_t)m->n_partitions, sizeof(*tot));
    if (!tot)
        return RP_ERR_NOMEM;
    for (int p = 0; p < m->n_partitions; p++)
        rp_metrics_part_totals(m, p, &tot[p]);

    header(out, "rapport_events_consumed_total", "counter",
           "Messages consumed from the input topic, per partition.");
    for (int p = 0; p < m->n_partitions; p++)
        if (part_shown(m, p, &tot[p]))
            fprintf(out, "rapport_events_consumed_total{partition=\"%d\"} %" PRIu64 "\n", p,
                    tot[p].consumed);
    header(out, "rapport_events_applied_total", "counter",
           "Events applied to customer state, per partition.");
    for (int p = 0; p < m->n_partitions; p++)
        if (part_shown(m, p, &tot[p]))
            fprintf(out, "rapport_events_applied_total{partition=\"%d\"} %" PRIu64 "\n", p,
                    tot[p].applied);
    header(out, "rapport_events_dead_lettered_total", "counter",
           "Messages sent to the dead-letter topic, per partition and error code.");
    for (int p = 0; p < m->n_partitions; p++)
        if (part_shown(m, p, &tot[p]))
            for (int c = 1; c < RP_ERR__DEAD_LETTER_END; c++)
                fprintf(out,
                        "rapport_events_dead_lettered_total{partition=\"%d\",code=\"%s\"} %" PRIu64
                        "\n",
                        p, rp_strerror((enum rp_err)c), tot[p].dead_lettered_by_code[c]);
    header(out, "rapport_events_late_total", "counter",
           "Events whose time was behind the watermark on arrival, per partition.");
    for (int p = 0; p < m->n_partitions; p++)
        if (part_shown(m, p, &tot[p]))
            fprintf(out, "rapport_events_late_total{partition=\"%d\"} %" PRIu64 "\n", p,
                    tot[p].late);

    header(out, "rapport_credits_received_total", "counter",
           "Credits from other customers' events received for the partition's customers: new "
           "ones, and repeats of a credit already taken (skipped).");
    for (int p = 0; p < m->n_partitions; p++)
        if (part_shown(m, p, &tot[p]))
            fprintf(out,
                    "rapport_credits_received_total{partition=\"%d\",result=\"new\"} %" PRIu64 "\n"
                    "rapport_credits_received_total{partition=\"%d\",result=\"repeat\"} %" PRIu64
                    "\n",
                    p, tot[p].credits_new, p, tot[p].credits_repeated);

    header(out, "rapport_signals_total", "counter",
           "Signals emitted, per partition (of the customer), kind and transition.");
    for (int p = 0; p < m->n_partitions; p++)
        if (part_shown(m, p, &tot[p]))
            for (int k = 0; k < RP_KIND__COUNT; k++)
                for (int t = 0; t < 2; t++)
                    fprintf(out,
                            "rapport_signals_total{partition=\"%d\",kind=\"%s\",transition=\"%s\"} "
                            "%" PRIu64 "\n",
                            p, rp_signal_kind_name((enum rp_signal_kind)k),
                            rp_transition_name((enum rp_transition)t), tot[p].signals[k][t]);
    header(out, "rapport_customers", "gauge",
           "Customers held in memory by this instance, per assigned partition.");
    for (int p = 0; p < m->n_partitions; p++)
        if (load(&m->gauges[p].assigned))
            fprintf(out, "rapport_customers{partition=\"%d\"} %" PRIu64 "\n", p,
                    load(&m->gauges[p].customers));
    header(out, "rapport_state_bytes", "gauge",
           "Bytes of customer state held by this instance, per assigned partition.");
    for (int p = 0; p < m->n_partitions; p++)
        if (load(&m->gauges[p].assigned))
            fprintf(out, "rapport_state_bytes{partition=\"%d\"} %" PRIu64 "\n", p,
                    load(&m->gauges[p].state_bytes));

    header(out, "rapport_watermark_ms", "gauge",
           "Event-time watermark in ms since the epoch: the engine's (no label) and per assigned "
           "partition.");
    int64_t wm = (int64_t)load(&m->watermark.ms);
    if (wm != UNKNOWN_MS)
        fprintf(out, "rapport_watermark_ms %" PRId64 "\n", wm);
    for (int p = 0; p < m->n_partitions; p++) {
        int64_t pwm = (int64_t)load(&m->gauges[p].watermark_ms);
        if (load(&m->gauges[p].assigned) && pwm != UNKNOWN_MS)
            fprintf(out, "rapport_watermark_ms{partition=\"%d\"} %" PRId64 "\n", p, pwm);
    }
    header(out, "rapport_partition_idle", "gauge",
           "1 when an assigned partition is idle and left out of the watermark (silent for "
           "idle_partition_timeout, its end confirmed by the broker), else 0.");
    for (int p = 0; p < m->n_partitions; p++)
        if (load(&m->gauges[p].assigned))
            fprintf(out, "rapport_partition_idle{partition=\"%d\"} %" PRIu64 "\n", p,
                    load(&m->gauges[p].idle));
    header(out, "rapport_consumer_lag", "gauge",
           "Messages between the consumer position and the end of each assigned partition.");
    for (int p = 0; p < m->n_partitions; p++) {
        int64_t lag = (int64_t)load(&m->gauges[p].lag);
        if (load(&m->gauges[p].assigned) && lag >= 0)
            fprintf(out, "rapport_consumer_lag{partition=\"%d\"} %" PRId64 "\n", p, lag);
    }
    header(out, "rapport_ring_occupancy", "gauge", "Batches waiting in each worker's ring.");
    for (int w = 0; w < m->n_workers; w++)
        fprintf(out, "rapport_ring_occupancy{worker=\"%d\"} %" PRIu64 "\n", w,
                load(&m->workers[w].ring_occupancy));

    struct rp_metrics_worker_totals wt = {0}; /* (only its batch fields: the rest is above) */
    batch_totals(m, &wt);
    header(out, "rapport_batch_seconds", "histogram",
           "Time a worker takes to apply one batch of events.");
    uint64_t cum = 0;
    for (int b = 0; b < RP_METRICS_BATCH_BUCKETS; b++) {
        cum += wt.batch_bucket[b];
        fprintf(out, "rapport_batch_seconds_bucket{le=\"%g\"} %" PRIu64 "\n",
                rp_metrics_batch_bounds_s[b], cum);
    }
    cum += wt.batch_bucket[RP_METRICS_BATCH_BUCKETS];
    fprintf(out, "rapport_batch_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n", cum);
    fprintf(out, "rapport_batch_seconds_sum %" PRIu64 ".%09" PRIu64 "\n",
            wt.batch_sum_ns / 1000000000u, wt.batch_sum_ns % 1000000000u);
    fprintf(out, "rapport_batch_seconds_count %" PRIu64 "\n", cum);
    free(tot);
    return ferror(out) ? RP_ERR_IO : RP_OK;
}

int rp_metrics_render(const struct rp_metrics *m, char **text_out, size_t *len_out)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return RP_ERR_NOMEM;
    int rc = rp_metrics_write(m, f);
    if (fclose(f) != 0 && rc == RP_OK)
        rc = RP_ERR_NOMEM;
    if (rc != RP_OK) {
        free(text);
        return rc == RP_ERR_IO ? RP_ERR_NOMEM : rc;
    }
    *text_out = text;
    *len_out = len;
    return RP_OK;
}

int rp_metrics_http_render(void *metrics, char **body_out, size_t *len_out)
{
    return rp_metrics_render(metrics, body_out, len_out);
}
