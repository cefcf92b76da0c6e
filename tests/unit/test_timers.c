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

/* The current minute's entries that are not due yet wait in the pending heap; the watermark
 * steps through that minute a second at a time, and dues move while they wait there: earlier
 * within the minute (the entry waits under its old, later due), later within it, to the next
 * minute, and away. Every check fires at the first step that reaches its due, never before. */
Test(timers, watermark_steps_within_a_minute_fire_each_due_on_time)
{
    enum { N = 60 };
    uint32_t id[N];
    int64_t due[N]; /* the due each customer has now (INT64_MAX once fired or dropped) */
    int64_t m0 = T0 + RP_MS_HOUR;
    for (int i = 0; i < N; i++) {
        id[i] = cust(i);
        due[i] = m0 + (int64_t)((i * 37) % N) * 1000 + 500; /* spread over the minute */
        rp_timers_schedule(&tm, &table, id[i], due[i]);
    }
    int64_t moved_earlier = -1, moved_later = -1, moved_next = -1, dropped = -1;
    for (int64_t w = m0 - 1000; w <= m0 + 2 * RP_MS_MIN; w += 1000) {
        if (w == m0 + 10000) {
            /* all four wait in the pending heap now (due after w, within the minute) */
            for (int i = 0;
                 i < N && (moved_earlier < 0 || moved_later < 0 || moved_next < 0 || dropped < 0);
                 i++) {
                int64_t d = due[i];
                if (d < m0 + 40000 || d == INT64_MAX)
                    continue;
                if (moved_earlier < 0)
                    moved_earlier = i, due[i] = m0 + 15200;
                else if (moved_later < 0)
                    moved_later = i, due[i] = d + 9000 < m0 + RP_MS_MIN ? d + 9000 : d + 1;
                else if (moved_next < 0)
                    moved_next = i, due[i] = m0 + RP_MS_MIN + 30000;
                else
                    dropped = i, due[i] = INT64_MAX;
                rp_timers_schedule(&tm, &table, id[i], due[i]);
            }
            cr_assert(dropped >= 0);
        }
        size_t before = n_fired;
        rp_timers_advance(&tm, &table, w, fire, NULL);
        for (size_t f = before; f < n_fired; f++) {
            int i = 0;
            while (i < N && id[i] != fired[f])
                i++;
            cr_assert(i < N);
            cr_expect_eq(fired_at[f], due[i], "customer %d fired at its due", i);
            cr_expect(due[i] <= w && due[i] > w - 1000, "customer %d fired at the first step", i);
            if (f > before)
                cr_expect(fired_at[f - 1] <= fired_at[f], "due order within a step");
            due[i] = INT64_MAX;
        }
        for (int i = 0; i < N; i++)
            cr_expect(due[i] > w, "customer %d due %lld not fired by %lld", i, (long long)due[i],
                      (long long)w);
    }
    cr_expect_eq(n_fired, N - 1, "all but the dropped one fired once (%zu)", n_fired);
}

/* Each customer fires twice: its check reschedules itself to 2 minutes later, once. */
static int refired[4096];
static void fire_then_again(void *opaque, uint32_t idx)
{
    (void)opaque;
    struct rp_cust *c = rp_ctable_rec(&table, idx);
    cr_assert(n_fired < 4096 && idx < 4096);
    fired[n_fired] = idx;
    fired_at[n_fired++] = c->due_ms;
    rp_timers_schedule(&tm, &table, idx, refired[idx]++ ? INT64_MAX : c->due_ms + 2 * RP_MS_MIN);
}

/* Filings for later minutes wait in a staging batch (more of them than it holds, so that it
 * also flushes when full), and checks filed by firings land minutes ahead, inside the same
 * advance: one advance over four days fires every check, the re-filed ones too, each at its
 * due and in due order. */
Test(timers, staged_filings_fire_in_the_advance_that_reaches_them)
{
    enum { N = 3 * RP_TIMERS_STAGED + 17 };
    rp_timers_advance(&tm, &table, T0, fire_then_again, NULL); /* (started: filings are staged) */
    memset(refired, 0, sizeof(refired));
    for (int i = 0; i < N; i++)
        rp_timers_schedule(&tm, &table, cust(i), T0 + (int64_t)(i % 300 + 1) * 13 * RP_MS_MIN + i);
    rp_timers_advance(&tm, &table, T0 + 4 * RP_MS_DAY, fire_then_again, NULL);
    cr_assert_eq(n_fired, 2 * N, "every check and every re-filed one fired (%zu)", n_fired);
    for (size_t f = 1; f < n_fired; f++)
        cr_assert(fired_at[f - 1] <= fired_at[f], "in due order");
    for (int i = 0; i < N; i++)
        cr_assert_eq(refired[cust(i)], 2);
}

/* rp_timers_idle (the advance a pipeline skips) never hides a check that is due: with dues at
 * any millisecond, moved earlier and later between steps (into the current minute too), and the
 * watermark stepping a few seconds at a time, skipping the advances it calls idle leaves no
 * check due unfired, and many steps are idle. */
Test(timers, skipping_idle_advances_leaves_nothing_due)
{
    uint64_t r = 99991;
#define RND() (r = r * 6364136223846793005ULL + 1442695040888963407ULL, r >> 33)
    uint32_t ids[200];
    for (int i = 0; i < 200; i++) {
        ids[i] = cust(i);
        rp_timers_schedule(&tm, &table, ids[i], T0 + (int64_t)(RND() % (20 * RP_MS_MIN)));
    }
    int idle = 0, steps = 0;
    for (int64_t w = T0; w < T0 + 30 * RP_MS_MIN; w += (int64_t)(RND() % 7000)) {
        if (RND() % 3 == 0) { /* a due moved: earlier or later, maybe into this very minute */
            uint32_t id = ids[RND() % 200];
            int64_t within = RND() % 2 ? 10000 : 3 * RP_MS_MIN; /* (often before the next step) */
            rp_timers_schedule(&tm, &table, id, w + (int64_t)(RND() % (uint64_t)within));
        }
        bool skip = rp_timers_idle(&tm, w);
        if (!skip) /* (as rp_pipeline_advance) */
            rp_timers_advance(&tm, &table, w, fire, NULL);
        for (int i = 0; i < 200; i++) /* (firing moves a due to INT64_MAX) */
            cr_assert(rp_ctable_rec(&table, ids[i])->due_ms > w, "c%d due at %lld left at %lld%s",
                      i, (long long)(rp_ctable_rec(&table, ids[i])->due_ms - T0),
                      (long long)(w - T0), skip ? " (idle)" : "");
        idle += skip;
        steps++;
    }
    cr_expect(idle > steps / 3, "%d of %d steps idle", idle, steps);
#undef RND
}

/* A check filed before the first advance, due within the minute that advance reaches, fires in
 * it (the first advance starts the wheel at that minute and moves the check into its slot). */
Test(timers, the_first_advance_fires_what_is_due_in_its_minute)
{
    uint32_t a = cust(1);
    rp_timers_schedule(&tm, &table, a, T0 + 5000);
    rp_timers_advance(&tm, &table, T0 + 10000, fire, NULL);
    cr_assert_eq(n_fired, 1, "fired %zu", n_fired);
    cr_expect_eq(fired_at[0], T0 + 5000);
}

/* The entries that fall due in one advance fire in (due, record index) order, whatever their
 * number (the sort's insertion runs of up to 16 keys and its quicksort above), ties on the due
 * time included, and with an overdue check among them (its due 60 days before theirs). */
Test(timers, a_minute_fires_in_due_then_index_order_at_every_size)
{
    static const size_t sizes[] = {2, 5, 16, 17, 300, 3000};
    uint64_t rng = 0x9e3779b97f4a7c15ULL;
    int next = 0;
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        size_t n = sizes[s];
        int64_t minute = T0 + (int64_t)(s + 1) * RP_MS_DAY;
        n_fired = 0;
        for (size_t i = 0; i < n; i++) {
            rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
            /* a few distinct due times when small (ties), any millisecond of the minute else */
            int64_t off = (int64_t)((rng >> 33) % (n < 20 ? 3 : RP_MS_MIN));
            rp_timers_schedule(&tm, &table, cust(next++), minute + off);
        }
        rp_timers_advance(&tm, &table, minute + RP_MS_MIN - 1, fire, NULL);
        cr_assert_eq(n_fired, n, "size %zu: %zu fired", n, n_fired);
        for (size_t i = 1; i < n; i++)
            cr_assert(fired_at[i - 1] < fired_at[i] ||
                          (fired_at[i - 1] == fired_at[i] && fired[i - 1] < fired[i]),
                      "size %zu: out of order at %zu", n, i);
    }
    /* an overdue check (filed once the wheel is at `now`, with a due 60 days back: filed into
     * the current minute) sorted with current ones of that minute */
    int64_t now = T0 + 70 * RP_MS_DAY;
    rp_timers_advance(&tm, &table, now, fire, NULL);
    n_fired = 0;
    uint32_t late = cust(next++);
    for (int i = 0; i < 20; i++)
        rp_timers_schedule(&tm, &table, cust(next++), now + 20 - i);
    rp_timers_schedule(&tm, &table, late, now - 60 * RP_MS_DAY);
    rp_timers_advance(&tm, &table, now + RP_MS_MIN - 1, fire, NULL);
    cr_assert_eq(n_fired, 21);
    cr_expect_eq(fired[0], late);
    for (size_t i = 1; i < n_fired; i++)
        cr_assert(fired_at[i - 1] <= fired_at[i], "overdue: out of order at %zu", i);
}
