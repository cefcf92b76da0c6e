/* test_decay: half-life decay and order-independent decayed sums over event time. */
#include <criterion/criterion.h>
#include <math.h>

#include "decay.h"

Test(decay, one_half_life_halves_a_weight)
{
    int64_t h = 7 * RP_MS_DAY;
    cr_expect(fabs(rp_decay_at(1.0, 0, h, h) - 0.5) < 1e-6);
    cr_expect(fabs(rp_decay_at(3.0, 1000, 1000 + 2 * h, h) - 0.75) < 1e-6);
    cr_expect(fabs(rp_decay_contrib(h, 0, 1.0, h) - 0.5) < 1e-6);
    cr_expect_eq(rp_decay_factor(-5, h), 1.0, "never grows a value backwards");
}

Test(decay, ten_years_stay_finite)
{
    int64_t h = 7 * RP_MS_DAY, ten_years = 3653 * RP_MS_DAY;
    double f = rp_decay_factor(ten_years, h);
    cr_expect(isfinite(f) && f >= 0 && f < 1e-100);
    cr_expect_eq(rp_decay_factor(INT64_MAX, h), 0.0);
}

Test(decay, day_of_floors)
{
    cr_expect_eq(rp_day_of(0), 0);
    cr_expect_eq(rp_day_of(RP_MS_DAY - 1), 0);
    cr_expect_eq(rp_day_of(RP_MS_DAY), 1);
    cr_expect_eq(rp_day_of(852076800000LL), 9862); /* 1997-01-01 */
}
