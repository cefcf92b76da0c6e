/* tsan_ring: multi-threaded stress of the SPSC ring, built and run under ThreadSanitizer (plain
 * main, outside Criterion's forked runner): every value arrives once, in order, uncorrupted. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "ring.h"

#define N_ITEMS 2000000u

/* Items are pointers to heap records written by the producer and checked (then freed) by the
 * consumer: TSan reports a race if the ring's orders did not publish the record's contents. */
struct item {
    uint64_t seq;
    uint64_t check;
};

static struct rp_ring ring;

static void *producer(void *arg)
{
    (void)arg;
    void *burst[7];
    uint64_t seq = 0;
    while (seq < N_ITEMS) {
        size_t k = 1 + seq % 7;
        if (seq + k > N_ITEMS)
            k = N_ITEMS - seq;
        for (size_t i = 0; i < k; i++) {
            struct item *it = malloc(sizeof(*it));
            if (!it)
                abort();
            it->seq = seq + i;
            it->check = (seq + i) * 2654435761u;
            burst[i] = it;
        }
        size_t done = 0;
        while (done < k) /* retries while full */
            done += rp_ring_enqueue_bulk(&ring, burst + done, k - done);
        seq += k;
    }
    return NULL;
}

int main(void)
{
    if (rp_ring_init(&ring, 64) != 0)
        return 1;
    pthread_t th;
    if (pthread_create(&th, NULL, producer, NULL) != 0)
        return 1;
    uint64_t expect = 0;
    int bad = 0;
    void *out[16];
    while (expect < N_ITEMS) {
        size_t n = rp_ring_dequeue_burst(&ring, out, 1 + expect % 16);
        for (size_t i = 0; i < n; i++) {
            struct item *it = out[i];
            if (it->seq != expect || it->check != expect * 2654435761u) {
                if (bad++ < 5)
                    fprintf(stderr, "tsan_ring: got %llu, expected %llu\n",
                            (unsigned long long)it->seq, (unsigned long long)expect);
            }
            free(it);
            expect++;
        }
    }
    pthread_join(th, NULL);
    void *o;
    if (rp_ring_dequeue(&ring, &o)) {
        fprintf(stderr, "tsan_ring: ring not empty at the end\n");
        bad++;
    }
    rp_ring_fini(&ring);
    printf("tsan_ring: %u items, %d errors\n", N_ITEMS, bad);
    return bad ? 1 : 0;
}
