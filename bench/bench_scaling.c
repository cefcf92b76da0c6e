/* bench_scaling: in-process scaling of the engine's workers, 1 vs 2 (vs more), without the
 * broker in the timed loop: a topic's messages are fetched into memory first, then fed to the
 * workers through the engine's own rings, batches and commit records, and timed until every one
 * is applied or dead-lettered. Signals are produced for real (to BROKERS). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine_int.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Every message of `topic` (partitions 0..n_parts-1), per partition, in offset order. */
static size_t fetch_all(const char *brokers, const char *topic, int32_t n_parts, size_t want,
                        rd_kafka_message_t ***per_part, size_t *counts)
{
    char err[256];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "bootstrap.servers", brokers, NULL, 0);
    rd_kafka_conf_set(c, "group.id", "bench-scaling-loader", NULL, 0);
    rd_kafka_conf_set(c, "enable.auto.commit", "false", NULL, 0);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof(err));
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(n_parts);
    for (int32_t p = 0; p < n_parts; p++) {
        rd_kafka_topic_partition_list_add(l, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
        per_part[p] = malloc(want * sizeof(rd_kafka_message_t *));
        counts[p] = 0;
    }
    rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    size_t got = 0;
    double deadline = now_s() + 120;
    while (got < want && now_s() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m)
            continue;
        if (m->err || m->partition < 0 || m->partition >= n_parts) {
            rd_kafka_message_destroy(m);
            continue;
        }
        per_part[m->partition][counts[m->partition]++] = m;
        got++;
    }
    /* messages must not outlive their consumer handle: rk is kept (not destroyed) until exit */
    return got;
}

static size_t next_pow2(size_t v)
{
    size_t p = 2;
    while (p < v)
        p <<= 1;
    return p;
}

static int run(const char *brokers, const char *topic, int32_t n_parts, size_t n, int workers)
{
    char err[512], ini[1024];
    struct rp_config cfg;
    rp_config_init(&cfg);
    snprintf(
        ini, sizeof(ini),
        "[kafka]\nbootstrap.servers = %s\n[topics]\ninput = %s\nchurn_risk = %s.scaling.churn\n"
        "advocate = %s.scaling.advocate\ndead_letter = %s.scaling.dlq\n"
        "internal_prefix = %s.scaling\n[http]\nlisten =\n",
        brokers, topic, topic, topic, topic, topic);
    if (rp_config_load_string(&cfg, "bench.ini", ini, strlen(ini), err, sizeof(err))) {
        fprintf(stderr, "bench_scaling: %s\n", err);
        return 1;
    }
    rd_kafka_message_t **msgs[64];
    size_t counts[64];
    size_t got = fetch_all(brokers, topic, n_parts, n, msgs, counts);
    if (got < n) {
        fprintf(stderr, "bench_scaling: fetched %zu of %zu\n", got, n);
        return 1;
    }

    struct rp_engine e;
    memset(&e, 0, sizeof(e));
    e.cfg = &cfg;
    e.n_workers = workers;
    e.n_parts = n_parts;
    e.batch_size = (size_t)cfg.batch_size;
    e.credits_topic = malloc(strlen(topic) + 32);
    sprintf(e.credits_topic, "%s.scaling.credits", topic);
    if (rp_out_create(&e, err, sizeof(err)) != RP_OK) {
        fprintf(stderr, "bench_scaling: %s\n", err);
        return 1;
    }
    e.metrics = rp_metrics_create(1 + workers, workers, n_parts, err, sizeof(err));
    for (int t = 0; t < RP_T__COUNT; t++) {
        e.parts[t] = calloc((size_t)n_parts, sizeof(struct rp_part));
        for (int32_t p = 0; p < n_parts; p++) {
            struct rp_part *pt = &e.parts[t][p];
            pt->topic = (enum rp_topic_kind)t;
            pt->partition = p;
            pt->restore_wm = INT64_MIN;
            atomic_init(&pt->max_ts, INT64_MIN);
            atomic_init(&pt->worker, p % workers);
            rp_commit_log_init(&pt->log, 1024);
            rp_commit_log_reset(&pt->log, -1);
            pt->assigned = true;
            if (t == RP_T_INPUT) {
                atomic_store(&pt->active, 1);
                atomic_store(&pt->last_wall_ms, rp_wall_ms());
            }
        }
    }
    size_t pool = (size_t)cfg.ring_size + 16;
    e.workers = calloc((size_t)workers, sizeof(struct rp_worker));
    for (int i = 0; i < workers; i++) {
        struct rp_worker *w = &e.workers[i];
        w->e = &e;
        w->idx = i;
        w->mw = rp_metrics_worker(e.metrics, i);
        pthread_mutex_init(&w->mb.lock, NULL);
        w->pl = calloc((size_t)n_parts, sizeof(*w->pl));
        w->hctx = calloc((size_t)n_parts, sizeof(*w->hctx));
        w->hold = calloc((size_t)n_parts, sizeof(*w->hold));
        w->hold_ns = calloc((size_t)n_parts, sizeof(*w->hold_ns));
        w->cq = calloc((size_t)n_parts, sizeof(*w->cq));
        w->free = calloc(pool, sizeof(*w->free));
        rp_ring_init(&w->ring, next_pow2((size_t)cfg.ring_size));
        rp_ring_init(&w->ret, next_pow2(pool));
        for (size_t k = 0; k < pool; k++)
            w->free[w->n_free++] =
                calloc(1, sizeof(struct rp_batch) + e.batch_size * sizeof(rd_kafka_message_t *));
        rp_worker_start(w);
    }
    /* ASSIGN controls: pipelines created by their workers */
    for (int32_t p = 0; p < n_parts; p++) {
        struct rp_worker *w = &e.workers[p % workers];
        struct rp_batch *b = w->free[--w->n_free];
        b->type = RP_B_ASSIGN;
        b->part = &e.parts[RP_T_INPUT][p];
        b->n = 0;
        while (!rp_ring_enqueue(&w->ring, b))
            ;
    }

    /* the timed loop: batches of one partition each, round robin, as the consumer thread */
    size_t pos[64] = {0};
    size_t fed = 0;
    double t0 = now_s();
    while (fed < n) {
        bool progress = false;
        for (int32_t p = 0; p < n_parts; p++) {
            if (pos[p] >= counts[p])
                continue;
            struct rp_part *pt = &e.parts[RP_T_INPUT][p];
            struct rp_worker *w = &e.workers[p % workers];
            void *r[64];
            size_t k;
            while ((k = rp_ring_dequeue_burst(&w->ret, r, 64)) > 0)
                for (size_t i = 0; i < k; i++)
                    w->free[w->n_free++] = r[i];
            bool failed = false;
            rp_commit_log_advance(&pt->log, &failed);
            if (w->n_free == 0 || rp_commit_log_full(&pt->log) ||
                rp_ring_count(&w->ring) >= rp_ring_capacity(&w->ring))
                continue;
            struct rp_batch *b = w->free[--w->n_free];
            b->type = RP_B_DATA;
            b->part = pt;
            b->n = 0;
            while (b->n < e.batch_size && pos[p] < counts[p])
                b->msgs[b->n++] = msgs[p][pos[p]++];
            b->track = rp_commit_log_push(&pt->log, b->msgs[b->n - 1]->offset + 1);
            while (!rp_ring_enqueue(&w->ring, b))
                ;
            fed += b->n;
            progress = true;
        }
        rd_kafka_poll(e.prod, 0);
        if (!progress) {
            struct timespec ts = {0, 50000};
            nanosleep(&ts, NULL);
        }
    }
    for (;;) { /* until every message is applied or dead-lettered */
        uint64_t done = 0;
        for (int32_t p = 0; p < n_parts; p++) {
            struct rp_metrics_part_totals t;
            rp_metrics_part_totals(e.metrics, p, &t);
            done += t.applied + t.dead_lettered;
        }
        if (done >= n)
            break;
        rd_kafka_poll(e.prod, 0);
        struct timespec ts = {0, 100000};
        nanosleep(&ts, NULL);
    }
    double dt = now_s() - t0;
    struct rp_metrics_worker_totals wt;
    rp_metrics_worker_totals(e.metrics, &wt);
    printf("workers %d: %zu events in %.3f s = %.0f ev/s (%" PRIu64 " customers)\n", workers, n, dt,
           n / dt, wt.customers);
    for (int i = 0; i < workers; i++)
        rp_worker_join(&e.workers[i]);
    rd_kafka_flush(e.prod, 10000);
    return 0; /* the process exits: the rest is freed with it */
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: bench_scaling BROKERS TOPIC PARTITIONS N [WORKERS...]\n"
                        "  e.g. bench_scaling 127.0.0.1:19092 bench-e2e-xxxx 4 1000000 1 2\n");
        return 2;
    }
    int32_t parts = atoi(argv[3]);
    size_t n = strtoull(argv[4], NULL, 10);
    if (parts < 1 || parts > 64)
        return 2;
    for (int i = 5; i < argc; i++)
        if (run(argv[1], argv[2], parts, n, atoi(argv[i])) != 0)
            return 1;
    return 0;
}
