/* engine_harness: the engine against librdkafka's in-process mock cluster, for the fault and
 * ThreadSanitizer tests (test_engine_faults.c, tests/tsan/tsan_engine.c). Header-only. */
#ifndef RP_ENGINE_HARNESS_H
#define RP_ENGINE_HARNESS_H

#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "engine.h"
#include "engine_int.h"
#include "gen.h"
#include "metrics.h"
#include "pipeline.h"

#define H_PARTS 4
#define H_BAD   10 /* malformed messages among the events: dead letters */

struct harness {
    rd_kafka_t *mrk; /* owns the mock cluster */
    rd_kafka_mock_cluster_t *mc;
    char bootstraps[256];
    char topic[64];
    struct rp_config cfg;
    struct rp_engine *e;
    pthread_t th;
    int rc;
    uint64_t n_msgs; /* events + bad messages produced */
    int64_t final_wm;
    uint64_t *ref_ids; /* signal ids of the reference pipeline (one process, like score) */
    size_t n_ref, cap_ref;
    char err[512];
};

static inline double h_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static inline void h_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static inline void h_ref_signal(void *opaque, const struct rp_signal *s)
{
    struct harness *h = opaque;
    if (h->n_ref == h->cap_ref) {
        h->cap_ref = h->cap_ref ? 2 * h->cap_ref : 256;
        h->ref_ids = realloc(h->ref_ids, h->cap_ref * sizeof(uint64_t));
    }
    h->ref_ids[h->n_ref++] = s->signal_id;
}

static inline int h_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Mock cluster of 3 brokers, topics, the population produced (msgpack, keyed by cid, murmur2),
 * the reference signals computed in-process, and the engine configuration. */
static inline bool h_setup(struct harness *h, const char *name, uint32_t customers, uint64_t events,
                           int workers)
{
    memset(h, 0, sizeof(*h));
    char e2[512];
    rd_kafka_conf_t *mconf = rd_kafka_conf_new();
    rd_kafka_conf_set(mconf, "log_level", "3", NULL, 0);
    h->mrk = rd_kafka_new(RD_KAFKA_PRODUCER, mconf, e2, sizeof(e2));
    if (!h->mrk)
        return false;
    h->mc = rd_kafka_mock_cluster_new(h->mrk, 3);
    if (!h->mc)
        return false;
    snprintf(h->bootstraps, sizeof(h->bootstraps), "%s", rd_kafka_mock_cluster_bootstraps(h->mc));
    snprintf(h->topic, sizeof(h->topic), "h-%s", name);
    const char *suffix[] = {"", ".churn", ".advocate", ".dlq", ".internal.credits"};
    for (int i = 0; i < 5; i++) {
        char t[128];
        snprintf(t, sizeof(t), "%s%s", h->topic, suffix[i]);
        if (rd_kafka_mock_topic_create(h->mc, t, H_PARTS, 3))
            return false;
    }

    /* the reference: one pipeline over the whole stream, as `rapport score` */
    if (rp_config_init(&h->cfg) != 0)
        return false;
    struct rp_pipeline_hooks hooks = {.opaque = h, .on_signal = h_ref_signal};
    struct rp_pipeline *ref =
        rp_pipeline_create(&h->cfg.scoring, &hooks, customers, e2, sizeof(e2));
    if (!ref)
        return false;

    rd_kafka_conf_t *pc = rd_kafka_conf_new();
    rd_kafka_conf_set(pc, "bootstrap.servers", h->bootstraps, NULL, 0);
    rd_kafka_conf_set(pc, "partitioner", "murmur2_random", NULL, 0);
    rd_kafka_conf_set(pc, "enable.idempotence", "true", NULL, 0);
    rd_kafka_conf_set(pc, "linger.ms", "20", NULL, 0);
    rd_kafka_t *prod = rd_kafka_new(RD_KAFKA_PRODUCER, pc, e2, sizeof(e2));
    if (!prod)
        return false;
    struct rp_gen_config gc;
    rp_gen_config_defaults(&gc);
    gc.customers = customers;
    gc.events = events;
    gc.seed = 3;
    gc.span_ms = 60LL * 86400000;
    struct rp_gen *g = rp_gen_create(&gc, e2, sizeof(e2));
    if (!g)
        return false;
    struct rp_event ev;
    uint8_t buf[512];
    int64_t max_ts = INT64_MIN;
    uint64_t i = 0;
    while (rp_gen_next(g, &ev)) {
        size_t n = rp_event_encode_msgpack(&ev, buf, sizeof(buf));
        if (ev.ts_ms > max_ts)
            max_ts = ev.ts_ms;
        rp_pipeline_apply(ref, &ev);
        while (rd_kafka_producev(prod, RD_KAFKA_V_TOPIC(h->topic),
                                 RD_KAFKA_V_KEY(ev.cid.bytes, ev.cid.len), RD_KAFKA_V_VALUE(buf, n),
                                 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                 RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(prod, 10);
        h->n_msgs++;
        if (++i % (events / H_BAD) == 0) { /* a bad message now and then */
            static const char bad[] = "{\"cid\":\"broken";
            rd_kafka_producev(prod, RD_KAFKA_V_TOPIC(h->topic), RD_KAFKA_V_KEY("bad", 3),
                              RD_KAFKA_V_VALUE((void *)bad, sizeof(bad) - 1),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
            h->n_msgs++;
        }
    }
    rp_gen_destroy(g);
    bool ok = rd_kafka_flush(prod, 30000) == 0;
    rd_kafka_destroy(prod);
    rp_pipeline_destroy(ref);
    qsort(h->ref_ids, h->n_ref, sizeof(uint64_t), h_cmp_u64);
    h->final_wm = max_ts - h->cfg.scoring.allowed_lateness_ms;

    /* H_KDEBUG=eos,msg (for instance) shows librdkafka's debug log of the engine's clients */
    char ini[2048], dbg[128] = "";
    if (getenv("H_KDEBUG"))
        snprintf(dbg, sizeof(dbg), "debug = %s\n", getenv("H_KDEBUG"));
    snprintf(ini, sizeof(ini),
             "[kafka]\nbootstrap.servers = %s\ngroup.id = g-%s\n%s"
             /* No periodic metadata refresh (topic.metadata.refresh.interval.ms) shorter than
              * the default: leaders that move are found from the errors anyway. At 1 s it fired
              * with the mock's first JoinGroup answer (3 s, same start), and librdkafka 2.0.2,
              * as group leader waiting for the assignor's metadata, took that refresh for a
              * change of subscription and joined again (cooperative-sticky); the mock answers
              * such a JoinGroup only ~45 s later, when the refresh coincided again: an engine
              * never assigned, "consumed 0" (4 times in about 60 runs of test_engine_faults). */
             /* one request in flight: see MOCK_LOSS_PCT in test_engine_faults.c */
             "max.in.flight.requests.per.connection = 1\n"
             "[topics]\ninput = %s\nchurn_risk = %s.churn\nadvocate = %s.advocate\n"
             "dead_letter = %s.dlq\ninternal_prefix = %s.internal\n"
             "[engine]\nworkers = %d\nidle_partition_timeout = 1s\ncommit_interval = 200ms\n"
             "shutdown_timeout = 20s\nbatch_size = 64\nring_size = 8\n"
             "[http]\nlisten =\n",
             h->bootstraps, name, dbg, h->topic, h->topic, h->topic, h->topic, h->topic, workers);
    if (rp_config_load_string(&h->cfg, "harness.ini", ini, strlen(ini), h->err, sizeof(h->err)) !=
        0)
        return false;
    return ok;
}

static inline void *h_run(void *arg)
{
    struct harness *h = arg;
    h->rc = rp_engine_run(h->e);
    return NULL;
}

static inline bool h_start(struct harness *h)
{
    h->e = rp_engine_create(&h->cfg, h->err, sizeof(h->err));
    if (!h->e)
        return false;
    return pthread_create(&h->th, NULL, h_run, h) == 0;
}

static inline uint64_t h_consumed(struct harness *h)
{
    uint64_t c = 0;
    for (int p = 0; p < H_PARTS; p++) {
        struct rp_metrics_part_totals t;
        rp_metrics_part_totals(rp_engine_metrics(h->e), p, &t);
        c += t.consumed;
    }
    return c;
}

static inline bool h_balanced(struct harness *h, uint64_t *dead)
{
    *dead = 0;
    for (int p = 0; p < H_PARTS; p++) {
        struct rp_metrics_part_totals t;
        rp_metrics_part_totals(rp_engine_metrics(h->e), p, &t);
        *dead += t.dead_lettered;
        if (t.consumed != t.applied + t.dead_lettered)
            return false;
    }
    return true;
}

/* On stderr, when a wait fails: what each partition consumed, the consumer thread's state of each
 * partition, the producer's queue and the engine's metrics, to tell a stalled fetch, skipped
 * offsets and unacknowledged outputs from a slow engine. */
static inline void h_dump(struct harness *h, const char *why)
{
    fprintf(stderr, "--- %s: %s\n", h->topic, why);
    for (int p = 0; p < H_PARTS; p++) {
        struct rp_metrics_part_totals t;
        rp_metrics_part_totals(rp_engine_metrics(h->e), p, &t);
        fprintf(stderr, "partition %d consumed %" PRIu64 "\n", p, t.consumed);
    }
    /* the consumer thread's own view (read without synchronisation: a diagnostic after a
     * failure, never on a passing run): a held batch, a full commit log (outputs not yet
     * acknowledged), the producer's queue */
    for (int t = 0; t < RP_T__COUNT; t++)
        for (int p = 0; p < h->e->n_parts; p++) {
            const struct rp_part *pt = &h->e->parts[t][p];
            fprintf(stderr,
                    "%s %d: assigned %d pending %d rewind %" PRId64 " commit log %" PRIu64
                    " in use, committable %" PRId64 ", committed %" PRId64 "\n",
                    t == RP_T_INPUT ? "input" : "credits", p, pt->assigned, pt->pending, pt->rewind,
                    pt->log.head - pt->log.tail, pt->log.committable, pt->log.committed);
        }
    fprintf(stderr, "producer queue %d\n", rd_kafka_outq_len(h->e->prod));
    rp_metrics_write(rp_engine_metrics(h->e), stderr);
    fprintf(stderr, "---\n");
}

static inline bool h_wait_consumed(struct harness *h, uint64_t n, double secs)
{
    double end = h_now() + secs;
    while (h_now() < end) {
        if (h_consumed(h) >= n)
            return true;
        h_sleep_ms(20);
    }
    char why[96];
    snprintf(why, sizeof(why), "consumed %" PRIu64 " of %" PRIu64 " after %.0f s", h_consumed(h), n,
             secs);
    h_dump(h, why);
    return false;
}

/* Waits until the engine's watermark reached the end of the data (every partition idle). */
static inline bool h_wait_final(struct harness *h, double secs)
{
    char want[64];
    snprintf(want, sizeof(want), "\nrapport_watermark_ms %" PRId64 "\n", h->final_wm);
    double end = h_now() + secs;
    while (h_now() < end) {
        char *text = NULL;
        size_t len;
        if (rp_metrics_render(rp_engine_metrics(h->e), &text, &len) == 0) {
            bool ok = strstr(text, want) != NULL;
            free(text);
            if (ok)
                return true;
        }
        h_sleep_ms(50);
    }
    return false;
}

static inline uint64_t h_signals_counted(struct harness *h)
{
    struct rp_metrics_worker_totals t;
    rp_metrics_worker_totals(rp_engine_metrics(h->e), &t);
    uint64_t n = 0;
    for (int k = 0; k < RP_KIND__COUNT; k++)
        n += t.signals[k][0] + t.signals[k][1];
    return n;
}

static inline int h_stop(struct harness *h)
{
    rp_engine_stop(h->e);
    pthread_join(h->th, NULL);
    return h->rc;
}

/* Reads `want` messages from the output topics (deadline); fills sorted ids; returns count. */
/* Reads the signal topics from the start until `want` signals were read, or `enough` were read
 * and nothing more came for 3 s, or `secs` passed. */
static inline size_t h_read_signals(struct harness *h, size_t want, size_t enough,
                                    uint64_t **ids_out, double secs)
{
    char e2[256];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "bootstrap.servers", h->bootstraps, NULL, 0);
    rd_kafka_conf_set(c, "group.id", "h-reader", NULL, 0);
    rd_kafka_conf_set(c, "enable.auto.commit", "false", NULL, 0);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, e2, sizeof(e2));
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(2 * H_PARTS);
    char t1[128], t2[128];
    snprintf(t1, sizeof(t1), "%s.churn", h->topic);
    snprintf(t2, sizeof(t2), "%s.advocate", h->topic);
    for (int p = 0; p < H_PARTS; p++) {
        rd_kafka_topic_partition_list_add(l, t1, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
        rd_kafka_topic_partition_list_add(l, t2, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    }
    rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    uint64_t *ids = calloc(want + 1, sizeof(uint64_t));
    size_t n = 0;
    double end = h_now() + secs, last = h_now();
    while (n < want && h_now() < end && !(n >= enough && h_now() - last > 3)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m)
            continue;
        last = h_now();
        struct rp_signal s;
        if (!m->err && rp_signal_decode(m->payload, m->len, &s, NULL, 0) == RP_OK)
            ids[n++] = s.signal_id;
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    qsort(ids, n, sizeof(uint64_t), h_cmp_u64);
    *ids_out = ids;
    return n;
}

/* Distinct ids of `a` (sorted) also in `b` (sorted). */
static inline size_t h_common(const uint64_t *a, size_t na, const uint64_t *b, size_t nb,
                              size_t *da)
{
    size_t i = 0, j = 0, both = 0, distinct = 0;
    while (i < na) {
        if (i > 0 && a[i] == a[i - 1]) {
            i++;
            continue;
        }
        distinct++;
        while (j < nb && b[j] < a[i])
            j++;
        if (j < nb && b[j] == a[i])
            both++;
        i++;
    }
    *da = distinct;
    return both;
}

/* Sum of the committed input offsets of the engine's group (after it stopped). */
static inline int64_t h_committed_total(struct harness *h)
{
    char e2[256], gid[128];
    snprintf(gid, sizeof(gid), "%s", rp_config_kafka_get(&h->cfg, "group.id"));
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "bootstrap.servers", h->bootstraps, NULL, 0);
    rd_kafka_conf_set(c, "group.id", gid, NULL, 0);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, e2, sizeof(e2));
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(H_PARTS);
    for (int p = 0; p < H_PARTS; p++)
        rd_kafka_topic_partition_list_add(l, h->topic, p);
    int64_t total = -1;
    if (rd_kafka_committed(rk, l, 10000) == 0) {
        total = 0;
        for (int p = 0; p < H_PARTS; p++)
            total += l->elems[p].offset > 0 ? l->elems[p].offset : 0;
    }
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_destroy(rk);
    return total;
}

static inline void h_teardown(struct harness *h)
{
    rp_engine_destroy(h->e);
    h->e = NULL;
    rp_config_fini(&h->cfg);
    if (h->mc)
        rd_kafka_mock_cluster_destroy(h->mc);
    if (h->mrk)
        rd_kafka_destroy(h->mrk);
    free(h->ref_ids);
}

#endif
