/* tsan_engine: the engine's threads under ThreadSanitizer (plain main, outside Criterion): the
 * consumer thread, 2 workers, the producer's delivery reports, and concurrent readers (metrics
 * render, /customers lookups through the worker mailboxes, readiness) on librdkafka's mock
 * cluster, with a leader change in the middle; then a clean stop. Non-zero exit on failure. */
#include "../unit/engine_harness.h"
#include "c11_threads_tsan.h"

static _Atomic int readers_stop;
static _Atomic uint64_t lookups_ok;

static void *reader(void *arg)
{
    struct harness *h = arg;
    uint32_t i = 0;
    while (!atomic_load_explicit(&readers_stop, memory_order_relaxed)) {
        char *text = NULL;
        size_t len;
        if (rp_metrics_render(rp_engine_metrics(h->e), &text, &len) == 0)
            free(text);
        (void)rp_engine_ready(h->e);
        struct rp_cid cid;
        rp_gen_cid(i++ % 200, &cid);
        char *json = NULL;
        size_t jl;
        if (rp_engine_customer(h->e, cid.bytes, cid.len, 2000, &json, &jl) == RP_OK) {
            atomic_fetch_add(&lookups_ok, 1);
            free(json);
        }
        h_sleep_ms(2);
    }
    return NULL;
}

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        fprintf(stderr, "tsan_engine: " __VA_ARGS__);                                              \
        fprintf(stderr, "\n");                                                                     \
        return 1;                                                                                  \
    } while (0)

int main(void)
{
    struct harness h;
    if (!h_setup(&h, "tsan", 200, 6000, 2))
        FAIL("setup: %s", h.err);
    if (!h_start(&h))
        FAIL("start: %s", h.err);
    pthread_t rd[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&rd[i], NULL, reader, &h);
    if (!h_wait_consumed(&h, h.n_msgs / 2, 120))
        FAIL("consumed %" PRIu64 " of %" PRIu64 " (first half)", h_consumed(&h), h.n_msgs);
    for (int p = 0; p < H_PARTS; p++)
        rd_kafka_mock_partition_set_leader(h.mc, h.topic, p, 1 + (p + 1) % 3);
    if (!h_wait_consumed(&h, h.n_msgs, 180))
        FAIL("consumed %" PRIu64 " of %" PRIu64, h_consumed(&h), h.n_msgs);
    if (!h_wait_final(&h, 120))
        FAIL("the watermark did not reach the end of the data");
    atomic_store(&readers_stop, 1);
    for (int i = 0; i < 2; i++)
        pthread_join(rd[i], NULL);
    uint64_t dead;
    if (!h_balanced(&h, &dead) || dead != H_BAD)
        FAIL("metrics not balanced (dead letters %" PRIu64 ")", dead);
    if (h_stop(&h) != 0)
        FAIL("rp_engine_run failed");
    uint64_t counted = h_signals_counted(&h);
    uint64_t *ids;
    size_t n = h_read_signals(&h, counted, counted, &ids, 60);
    free(ids);
    if (n != counted)
        FAIL("%zu signals in the topics, %" PRIu64 " counted", n, counted);
    if (atomic_load(&lookups_ok) == 0)
        FAIL("no customer lookup succeeded");
    if (h_committed_total(&h) != (int64_t)h.n_msgs)
        FAIL("committed offsets do not cover the input");
    printf("tsan_engine: %" PRIu64 " messages, %zu signals, %" PRIu64 " lookups: ok\n", h.n_msgs, n,
           atomic_load(&lookups_ok));
    h_teardown(&h);
    return 0;
}
