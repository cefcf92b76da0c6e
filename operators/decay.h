/* decay: exponential half-life decay over event time, and order-independent decayed sums. */
#ifndef RP_DECAY_H
#define RP_DECAY_H

#include <math.h>
#include <stdint.h>

#define RP_MS_MIN  (60 * INT64_C(1000))
#define RP_MS_HOUR (60 * RP_MS_MIN)
#define RP_MS_DAY  (24 * RP_MS_HOUR)

/*
 * A decayed sum is kept "as of" a clock t_c (the largest event time that touched it):
 *   v(t_c) = sum_i w_i * 2^(-(t_c - t_i) / h).
 * Adding w at t >= t_c first moves the sum to t (v *= 2^(-(t - t_c)/h)), then adds w; adding w at
 * t < t_c (a late event) adds w * 2^(-(t_c - t)/h). Both give the same value, up to rounding,
 * whatever the arrival order, which is what makes out-of-order events inside the allowed lateness
 * exact. Values only ever shrink towards 0 as time passes, so ten years of event time stay finite
 * (2^(-x) underflows gracefully to 0, never to NaN or infinity).
 */

/** The factor 2^(-dt/h) for dt >= 0 ms (dt <= 0 gives 1: never grow a value backwards). */
static inline double rp_decay_factor(int64_t dt_ms, int64_t half_life_ms)
{
    if (dt_ms <= 0)
        return 1.0;
    return exp2(-(double)dt_ms / (double)half_life_ms);
}

/** The value `v` kept as of `clock_ms`, seen at `at_ms` (>= clock_ms; earlier is left as is). */
static inline double rp_decay_at(double v, int64_t clock_ms, int64_t at_ms, int64_t half_life_ms)
{
    return v * rp_decay_factor(at_ms - clock_ms, half_life_ms);
}

/**
 * The contribution, as of the group clock `clock_ms`, of a weight `w` added at event time `t_ms`.
 * The caller first moves every value of the group to max(clock, t) (rp_decay_factor), so t <= the
 * clock here and a late event is decayed to the clock.
 */
static inline double rp_decay_contrib(int64_t clock_ms, int64_t t_ms, double w,
                                      int64_t half_life_ms)
{
    return w * rp_decay_factor(clock_ms - t_ms, half_life_ms);
}

/** Floor division of an event time into its UTC day number (days since 1970-01-01). */
static inline int32_t rp_day_of(int64_t ms)
{
    int64_t d = ms / RP_MS_DAY;
    if (ms % RP_MS_DAY < 0)
        d--;
    return (int32_t)d;
}

#endif
