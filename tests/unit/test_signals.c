/* test_signals: hysteresis, cool-down and episodes of the enter/exit transitions. */
#include <criterion/criterion.h>
#include <string.h>

#include "decay.h"
#include "signals.h"

static struct rp_ctable table;
static struct rp_scoring_config cfg;

static void setup(void)
{
    cr_assert_eq(rp_ctable_init(&table, 16), 0);
    rp_scoring_config_defaults(&cfg);
}
static void teardown(void)
{
    rp_ctable_fini(&table);
}

TestSuite(signals, .init = setup, .fini = teardown);

static int step(struct rp_cust *c, double score, int64_t t, struct rp_signal_step *st)
{
    return rp_signals_step(&cfg, &table, c, RP_KIND_CHURN_RISK, score, t, st) ? 1 : 0;
}

Test(signals, hysteresis_and_cooldown)
{
    bool created;
    uint32_t i = rp_ctable_upsert(&table, "c", 1, rp_ctable_hash("c", 1), &created);
    struct rp_cust *c = rp_ctable_rec(&table, i);
    struct rp_signal_step st;
    int64_t t = 0, D = RP_MS_DAY;
    cr_expect_eq(step(c, 0.69, t, &st), 0, "below enter");
    cr_expect_eq(step(c, 0.70, t + 1, &st), 1, "enter at >= 0.70");
    cr_expect_eq(st.transition, RP_TR_ENTER);
    cr_expect_eq(st.episode, 1);
    cr_expect(fabs(st.previous_score - 0.69) < 1e-4);
    cr_expect_eq(st.threshold, 0.70);
    cr_expect_eq(step(c, 0.95, t + 2, &st), 0, "already in");
    cr_expect_eq(step(c, 0.60, t + 3, &st), 0, "hysteresis: no exit above 0.50");
    cr_expect_eq(step(c, 0.50, t + 4, &st), 0, "no exit at exactly 0.50");
    cr_expect_eq(step(c, 0.49, t + 5, &st), 1, "exit below 0.50");
    cr_expect_eq(st.transition, RP_TR_EXIT);
    cr_expect_eq(st.episode, 1);
    cr_expect_eq(st.threshold, 0.50);
    cr_expect_eq(step(c, 0.90, t + 1 + 7 * D - 1, &st), 0, "cool-down: no second enter in 7 d");
    cr_expect_eq(step(c, 0.90, t + 1 + 7 * D, &st), 1, "enter again after the cool-down");
    cr_expect_eq(st.episode, 2);
    cr_expect(fabs(st.previous_score - 0.90) < 1e-4);
    /* advocate is independent */
    cr_expect(!rp_signals_step(&cfg, &table, c, RP_KIND_ADVOCATE, 0.2, t + 8 * D, &st));
}
