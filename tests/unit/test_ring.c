/* test_ring: single-threaded semantics of the SPSC ring: full, empty, bulk, wrap-around. */
#include <criterion/criterion.h>
#include <stdint.h>

#include "ring.h"

static void *P(uintptr_t v)
{
    return (void *)v;
}

Test(ring, rejects_bad_sizes)
{
    struct rp_ring r;
    cr_expect_eq(rp_ring_init(&r, 0), -1);
    cr_expect_eq(rp_ring_init(&r, 1), -1);
    cr_expect_eq(rp_ring_init(&r, 6), -1);
    cr_assert_eq(rp_ring_init(&r, 8), 0);
    cr_expect_eq(rp_ring_capacity(&r), 8);
    rp_ring_fini(&r);
}

Test(ring, empty_then_full_then_empty)
{
    struct rp_ring r;
    cr_assert_eq(rp_ring_init(&r, 4), 0);
    void *o;
    cr_expect_not(rp_ring_dequeue(&r, &o), "a new ring is empty");
    for (uintptr_t i = 1; i <= 4; i++)
        cr_expect(rp_ring_enqueue(&r, P(i)));
    cr_expect_eq(rp_ring_count(&r), 4);
    cr_expect_not(rp_ring_enqueue(&r, P(5)), "capacity 4 holds exactly 4");
    for (uintptr_t i = 1; i <= 4; i++) {
        cr_assert(rp_ring_dequeue(&r, &o));
        cr_expect_eq((uintptr_t)o, i, "FIFO order");
    }
    cr_expect_not(rp_ring_dequeue(&r, &o));
    cr_expect_eq(rp_ring_count(&r), 0);
    rp_ring_fini(&r);
}

Test(ring, wraps_around_many_times)
{
    struct rp_ring r;
    cr_assert_eq(rp_ring_init(&r, 8), 0);
    uintptr_t next_in = 1, next_out = 1;
    for (int round = 0; round < 1000; round++) {
        int k = 1 + round % 7; /* odd strides cross the end of the slot array at every offset */
        for (int i = 0; i < k; i++)
            cr_assert(rp_ring_enqueue(&r, P(next_in++)));
        for (int i = 0; i < k; i++) {
            void *o;
            cr_assert(rp_ring_dequeue(&r, &o));
            cr_assert_eq((uintptr_t)o, next_out++);
        }
    }
    rp_ring_fini(&r);
}

Test(ring, bulk_partial)
{
    struct rp_ring r;
    cr_assert_eq(rp_ring_init(&r, 8), 0);
    void *in[12], *out[12];
    for (uintptr_t i = 0; i < 12; i++)
        in[i] = P(100 + i);
    cr_expect_eq(rp_ring_enqueue_bulk(&r, in, 5), 5);
    cr_expect_eq(rp_ring_enqueue_bulk(&r, in + 5, 7), 3, "only the free slots are filled");
    cr_expect_eq(rp_ring_enqueue_bulk(&r, in, 1), 0, "full");
    cr_expect_eq(rp_ring_dequeue_burst(&r, out, 3), 3);
    cr_expect_eq(rp_ring_dequeue_burst(&r, out + 3, 12), 5, "burst returns what is there");
    for (uintptr_t i = 0; i < 8; i++)
        cr_expect_eq((uintptr_t)out[i], 100 + i);
    cr_expect_eq(rp_ring_dequeue_burst(&r, out, 12), 0);
    rp_ring_fini(&r);
}
