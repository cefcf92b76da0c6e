/* test_bgnbd: P(alive) of the BG/NBD model against the published CDNOW reference values. */
#include <criterion/criterion.h>
#include <math.h>

#include "bgnbd.h"

static double cdnow(double x, double t_x, double T)
{
    return rp_bgnbd_p_alive(0.243, 4.414, 0.793, 2.426, x, t_x, T);
}

Test(bgnbd, reference_values_of_the_paper)
{
    /* data/cdnow/README.md: (x, t_x, T) -> P(alive), 4 decimals */
    cr_expect(fabs(cdnow(2, 30.43, 38.86) - 0.7266) < 5e-5, "%f", cdnow(2, 30.43, 38.86));
    cr_expect(fabs(cdnow(1, 1.71, 38.86) - 0.2121) < 5e-5, "%f", cdnow(1, 1.71, 38.86));
    cr_expect(fabs(cdnow(10, 34.14, 38.86) - 0.8153) < 5e-5, "%f", cdnow(10, 34.14, 38.86));
}

Test(bgnbd, no_repeat_purchase_is_alive)
{
    cr_expect_eq(cdnow(0, 0, 38.86), 1.0);
    cr_expect_eq(cdnow(0, 0, 1e9), 1.0);
}

Test(bgnbd, bounded_and_monotone_in_T)
{
    double prev = 1.0;
    for (double T = 10; T < 1e7; T *= 3) {
        double p = cdnow(5, 10, T);
        cr_expect(p >= 0 && p <= 1 && isfinite(p), "T=%g p=%g", T, p);
        cr_expect(p <= prev, "P(alive) must not grow with T (T=%g)", T);
        prev = p;
    }
    cr_expect(isfinite(cdnow(60000, 1e5, 1e6)));
    /* bought at the very end of the window: the most alive it can be */
    cr_expect(cdnow(3, 20, 20) > cdnow(3, 10, 20));
}
