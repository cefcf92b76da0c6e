/* test_timers: the event-time wheel: due-time order, lazy re-filing, overflow, big jumps. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "decay.h"
#include "timers.h"

static struct rp_ctable table;
static struct rp_timers tm;
static uint32_t fired[4096];
static int64_t fired_at[4096];
static size_t n_fired;

static void fire(void *opaque, uint32_t idx)
{
    (void)opaque;
    struct rp_cust *c = rp_ctable_rec(&table, idx);
    cr_assert(n_fired < 4096);
    fired[n_fired] = idx;
    fired_at[n_fired++] = c->due_ms;
    rp_timers_schedule(&tm, &table, idx, INT64_MAX);
}

static void setup(void)
{
    cr_assert_eq(rp_ctable_init(&table, 16), 0);
    cr_assert_eq(rp_timers_init(&tm), 0);
    n_fired = 0;
}
static void teardown(void)
{
    rp_timers_fini(&tm);
    rp_ctable_fini(&table);
}
TestSuite(timers, .init = setup, .fini = teardown);

static uint32_t cust(int i)
{
    char b[16];
    int n = snprintf(b, sizeof(b), "c%d", i);
    bool created;
    return rp_ctable_upsert(&table, b, (size_t)n, rp_ctable_hash(b, (size_t)n), &created);
}

#define T0 (1767225600000LL)

Test(timers, fires_in_due_order_and_only_when_due)
{
    int64_t dues[] = {T0 + 5 * RP_MS_MIN + 7, T0 + 3,
                      T0 + 90 * RP_MS_DAY,    T0 + 5 * RP_MS_MIN,
                      T0 + 400 * RP_MS_DAY,   T0 + 2 * RP_MS_HOUR};
    for (int i = 0; i < 6; i++)
        rp_timers_schedule(&tm, &table, cust(i), dues[i]);
    rp_timers_advance(&tm, &table, T0 + 2, fire, NULL);
    cr_expect_eq(n_fired, 0);
    rp_timers_advance(&tm, &table, T0 + 5 * RP_MS_MIN + 6, fire, NULL);
    cr_assert_eq(n_fired, 2);
    cr_expect_eq(fired_at[0], T0 + 3);
    cr_expect_eq(fired_at[1], T0 + 5 * RP_MS_MIN);
    rp_timers_advance(&tm, &table, T0 + 5 * RP_MS_MIN + 7, fire, NULL);
    cr_expect_eq(n_fired, 3, "exactly at its due ms");
    rp_timers_advance(&tm, &table, T0 + 500 * RP_MS_DAY, fire, NULL); /* beyond the ring */
    cr_assert_eq(n_fired, 6);
    for (size_t i = 1; i < n_fired; i++)
        cr_expect(fired_at[i - 1] <= fired_at[i], "due order");
    cr_expect_eq(fired_at[5], T0 + 400 * RP_MS_DAY);
}

Test(timers, later_due_refiles_lazily_earlier_due_files_again)
{
    uint32_t a = cust(1), b = cust(2);
    rp_timers_schedule(&tm, &table, a, T0 + RP_MS_HOUR);
    rp_timers_advance(&tm, &table, T0, fire, NULL);
    rp_timers_schedule(&tm, &table, a, T0 + 3 * RP_MS_HOUR); /* later: nothing filed */
    rp_timers_schedule(&tm, &table, b, T0 + 5 * RP_MS_HOUR);
    rp_timers_schedule(&tm, &table, b, T0 + 10 * RP_MS_MIN); /* earlier: filed again */
    rp_timers_advance(&tm, &table, T0 + 2 * RP_MS_HOUR, fire, NULL);
    cr_assert_eq(n_fired, 1);
    cr_expect_eq(fired[0], b);
    cr_expect_eq(fired_at[0], T0 + 10 * RP_MS_MIN);
    rp_timers_advance(&tm, &table, T0 + 6 * RP_MS_HOUR, fire, NULL);
    cr_assert_eq(n_fired, 2, "a fires once at its moved due; b's stale entry is dropped");
    cr_expect_eq(fired[1], a);
    cr_expect_eq(fired_at[1], T0 + 3 * RP_MS_HOUR);
}

Test(timers, many_customers_over_years)
{
    for (int i = 0; i < 3000; i++)
        rp_timers_schedule(&tm, &table, cust(i), T0 + (int64_t)(i * 7919 % 3000) * RP_MS_DAY / 3);
    for (int64_t w = T0; w < T0 + 1100 * RP_MS_DAY; w += 37 * RP_MS_HOUR)
        rp_timers_advance(&tm, &table, w, fire, NULL);
    cr_expect_eq(n_fired, 3000);
    for (size_t i = 1; i < n_fired; i++)
        cr_expect(fired_at[i - 1] <= fired_at[i]);
}
