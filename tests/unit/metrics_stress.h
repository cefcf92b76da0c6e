/* metrics_stress: concurrent writers and a reader on struct rp_metrics, shared by test_metrics.c
 * (Criterion) and tsan_metrics.c (standalone, for ThreadSanitizer). */
#ifndef RP_METRICS_STRESS_H
#define RP_METRICS_STRESS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "metrics.h"

/*
 * Concurrency: W writer threads count into their own slots of every partition and observe
 * batches while a reader renders and sums. Each counter read must never go backwards (coherence
 * of one atomic), and once the writers are joined the totals must be exact. tsan_metrics.c runs
 * this under ThreadSanitizer: the design claims no data race, so TSan must stay silent.
 */
#define T_WRITERS    3
#define T_PARTITIONS 4
#define T_ROUNDS     200000

struct writer_arg {
    struct rp_metrics *m;
    int slot;
};

static void *writer(void *p)
{
    struct writer_arg *a = p;
    struct rp_metrics_worker *w = rp_metrics_worker(a->m, a->slot);
    for (int i = 0; i < T_ROUNDS; i++) {
        struct rp_metrics_part *part = rp_metrics_part(a->m, a->slot, i % T_PARTITIONS);
        rp_metrics_add(&part->consumed, 1);
        if (i % 10 == 0)
            rp_metrics_add(&part->dead_lettered[RP_ERR_MALFORMED], 1);
        else
            rp_metrics_add(&part->applied, 1);
        rp_metrics_add(&part->signals[RP_KIND_ADVOCATE][RP_TR_ENTER], 1);
        /* (partition `slot`'s gauges: one writer each, as a worker owns its partitions') */
        rp_metrics_set_partition_state(a->m, a->slot, (uint64_t)i, 2 * (uint64_t)i);
        if (i % 100 == 0)
            rp_metrics_observe_batch(w, (uint64_t)(i % 7) * 100000);
    }
    return NULL;
}

static atomic_bool writers_done;

static void *reader(void *p)
{
    struct rp_metrics *m = p;
    uint64_t last_consumed = 0, last_signals = 0, last_batches = 0;
    long *bad = calloc(1, sizeof(long));
    int renders = 0;
    /* at least a few renders even if the writers finish first */
    while (!atomic_load(&writers_done) || renders < 3) {
        uint64_t consumed = 0;
        for (int p2 = 0; p2 < T_PARTITIONS; p2++) {
            struct rp_metrics_part_totals t;
            rp_metrics_part_totals(m, p2, &t);
            consumed += t.consumed;
        }
        struct rp_metrics_worker_totals wt;
        rp_metrics_worker_totals(m, &wt);
        if (consumed < last_consumed || wt.signals[RP_KIND_ADVOCATE][RP_TR_ENTER] < last_signals ||
            wt.batch_count < last_batches)
            (*bad)++;
        last_consumed = consumed;
        last_signals = wt.signals[RP_KIND_ADVOCATE][RP_TR_ENTER];
        last_batches = wt.batch_count;
        char *text;
        size_t len;
        if (rp_metrics_render(m, &text, &len) != RP_OK)
            (*bad)++;
        else
            free(text);
        renders++;
    }
    return bad;
}

static long run_concurrent(void)
{
    struct rp_metrics *m = rp_metrics_create(T_WRITERS, T_WRITERS, T_PARTITIONS, NULL, 0);
    pthread_t wt[T_WRITERS], rt;
    struct writer_arg args[T_WRITERS];
    atomic_store(&writers_done, false);
    pthread_create(&rt, NULL, reader, m);
    for (int i = 0; i < T_WRITERS; i++) {
        args[i] = (struct writer_arg){m, i};
        pthread_create(&wt[i], NULL, writer, &args[i]);
    }
    for (int i = 0; i < T_WRITERS; i++)
        pthread_join(wt[i], NULL);
    atomic_store(&writers_done, true);
    void *res;
    pthread_join(rt, &res);
    long bad = *(long *)res;
    free(res);
    /* exact once quiescent */
    uint64_t consumed = 0;
    for (int p = 0; p < T_PARTITIONS; p++) {
        struct rp_metrics_part_totals t;
        rp_metrics_part_totals(m, p, &t);
        consumed += t.consumed;
        if (!rp_metrics_partition_balanced(m, p) ||
            t.consumed != (uint64_t)T_WRITERS * T_ROUNDS / T_PARTITIONS)
            bad += 1000;
    }
    struct rp_metrics_worker_totals tot;
    rp_metrics_worker_totals(m, &tot);
    if (consumed != (uint64_t)T_WRITERS * T_ROUNDS ||
        tot.signals[RP_KIND_ADVOCATE][RP_TR_ENTER] != (uint64_t)T_WRITERS * T_ROUNDS ||
        tot.batch_count != (uint64_t)T_WRITERS * (T_ROUNDS / 100) ||
        tot.customers != (uint64_t)T_WRITERS * (T_ROUNDS - 1))
        bad += 1000000;
    rp_metrics_destroy(m);
    return bad;
}

#endif
