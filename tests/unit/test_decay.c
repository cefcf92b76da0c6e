/* test_decay: half-life decay and order-independent decayed sums over event time. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

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

/* rp_exp2 (inline, table + polynomial) against libm's exp2: within 2 ulp over the range the
 * decays and bounds use, and libm's own answers outside it. */
Test(decay, fast_exp2_matches_libm)
{
    double worst = 0;
    uint64_t s = 88172645463325252ULL;
    for (int i = 0; i < 2000000; i++) {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        double u = (double)((s * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
        double x = i % 4 == 0   ? -u
                   : i % 4 == 1 ? -1100.0 * u
                   : i % 4 == 2 ? 64.0 * u - 32.0
                                : -0.02 * u;
        double want = exp2(x), got = rp_exp2(x);
        double ulp = nextafter(want, INFINITY) - want;
        double e = fabs(got - want) / (ulp > 0 ? ulp : 1e-300);
        if (want >= 0x1p-1000 && e > worst)
            worst = e;
        if (x < -1000.0)
            cr_assert_eq(got, want, "outside the fast range libm answers: x=%a", x);
    }
    cr_expect(worst <= 2.0, "worst error %.2f ulp", worst);
    cr_expect_eq(rp_exp2(0.0), 1.0);
    cr_expect_eq(rp_exp2(-1.0), 0.5);
    cr_expect_eq(rp_exp2(10.0), 1024.0);
    cr_expect(isnan(rp_exp2(NAN)));
    cr_expect_eq(rp_exp2(-INFINITY), 0.0);
}

static uint64_t bits_of(double v)
{
    uint64_t b;
    memcpy(&b, &v, sizeof(b));
    return b;
}

/* rp_exp2_pair gives exactly rp_exp2's bits in both lanes, for any mix of arguments: in the fast
 * range, at and past its edges, where libm answers (one lane or both), and NaN. */
Test(decay, exp2_pair_is_two_exp2_bit_for_bit)
{
    static const double edge[] = {
        0.0,       -0.0,      1.0,        -1.0,
        -2.0,      1000.0,    -1000.0,    1000.0000000000001,
        -1001.,    -1100.0,   1023.999,   -1074.5,
        -0.5,      0x1p-60,   -0x1p-60,   1.0 / 64,
        -1.0 / 64, 31.0 / 64, NAN,        INFINITY,
        -INFINITY, -999.999,  -14.0 / 90, 2.5e-10,
    };
    const size_t ne = sizeof(edge) / sizeof(edge[0]);
    uint64_t s = 0x9e3779b97f4a7c15ULL;
    for (int i = 0; i < 400000; i++) {
        double x[2];
        for (int k = 0; k < 2; k++) {
            s ^= s >> 12;
            s ^= s << 25;
            s ^= s >> 27;
            uint64_t r = s * 2685821657736338717ULL;
            double u = (double)(r >> 11) / 9007199254740992.0;
            x[k] = (r & 7) == 0   ? edge[(r >> 3) % ne]
                   : (r & 7) == 1 ? -1100.0 * u
                   : (r & 7) == 2 ? 2100.0 * u - 1050.0
                                  : -60.0 * u;
        }
        double y0, y1;
        rp_exp2_pair(x[0], x[1], &y0, &y1);
        double w0 = rp_exp2(x[0]), w1 = rp_exp2(x[1]);
        if (isnan(w0))
            cr_assert(isnan(y0), "x0=%a", x[0]);
        else
            cr_assert_eq(bits_of(y0), bits_of(w0), "x0=%a: %a, rp_exp2 %a", x[0], y0, w0);
        if (isnan(w1))
            cr_assert(isnan(y1), "x1=%a", x[1]);
        else
            cr_assert_eq(bits_of(y1), bits_of(w1), "x1=%a: %a, rp_exp2 %a", x[1], y1, w1);
    }
}
