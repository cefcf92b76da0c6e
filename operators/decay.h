/* decay: exponential half-life decay over event time, and order-independent decayed sums. */
#ifndef RP_DECAY_H
#define RP_DECAY_H

#include <math.h>
#include <stdint.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

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

/* 2^(i/32), i = 0..31, correctly rounded */
static const double rp_exp2_table[32] = {
    0x1.0000000000000p+0, 0x1.059b0d3158574p+0, 0x1.0b5586cf9890fp+0, 0x1.11301d0125b51p+0,
    0x1.172b83c7d517bp+0, 0x1.1d4873168b9aap+0, 0x1.2387a6e756238p+0, 0x1.29e9df51fdee1p+0,
    0x1.306fe0a31b715p+0, 0x1.371a7373aa9cbp+0, 0x1.3dea64c123422p+0, 0x1.44e086061892dp+0,
    0x1.4bfdad5362a27p+0, 0x1.5342b569d4f82p+0, 0x1.5ab07dd485429p+0, 0x1.6247eb03a5585p+0,
    0x1.6a09e667f3bcdp+0, 0x1.71f75e8ec5f74p+0, 0x1.7a11473eb0187p+0, 0x1.82589994cce13p+0,
    0x1.8ace5422aa0dbp+0, 0x1.93737b0cdc5e5p+0, 0x1.9c49182a3f090p+0, 0x1.a5503b23e255dp+0,
    0x1.ae89f995ad3adp+0, 0x1.b7f76f2fb5e47p+0, 0x1.c199bdd85529cp+0, 0x1.cb720dcef9069p+0,
    0x1.d5818dcfba487p+0, 0x1.dfc97337b9b5fp+0, 0x1.ea4afa2a490dap+0, 0x1.f50765b6e4540p+0,
};
/* e^(r ln2) - 1 = r (C1 + r (C2 + ... + r C6)), Taylor */
#define RP_EXP2_C1    0x1.62e42fefa39efp-1
#define RP_EXP2_C2    0x1.ebfbdff82c58fp-3
#define RP_EXP2_C3    0x1.c6b08d704a0c0p-5
#define RP_EXP2_C4    0x1.3b2ab6fba4e77p-7
#define RP_EXP2_C5    0x1.5d87fe78a6731p-10
#define RP_EXP2_C6    0x1.430912f86c787p-13
#define RP_EXP2_SHIFT 0x1.8p52 /* adding it rounds x * 32 to an integer in the low bits */

/*
 * 2^x, inline. Why not libm's exp2: it is called about ten times per event (decays, windows,
 * bounds) and the call with its special-case checks costs ~40 instructions; this is ~20, with
 * the same accuracy class (within 2 ulp of the true value; the unit test checks it against
 * libm over the whole range used). Method: x = n/32 + r with |r| <= 1/64; 2^x = 2^(n>>5) *
 * T[n&31] * 2^r, with T[i] = 2^(i/32) correctly rounded and 2^r = e^(r ln2) by its Taylor
 * polynomial to degree 6 (truncation < 4e-18 relative). Outside [-1000, 1000] (and for NaN)
 * libm answers, so underflow to subnormals, overflow and NaN behave exactly as exp2's.
 */
static inline double rp_exp2(double x)
{
    if (!(fabs(x) <= 1000.0)) /* (NaN too; one compare, not two) */
        return exp2(x);
    double kd = x * 32.0 + RP_EXP2_SHIFT;
    uint64_t ki;
    memcpy(&ki, &kd, sizeof(ki));
    kd -= RP_EXP2_SHIFT;
    int64_t n = (int64_t)(ki - UINT64_C(0x4338000000000000)); /* round(x * 32) */
    double r = x - kd * (1.0 / 32.0);                         /* exact: |r| <= 1/64 */
    double q = r * (RP_EXP2_C1 +
                    r * (RP_EXP2_C2 +
                         r * (RP_EXP2_C3 + r * (RP_EXP2_C4 + r * (RP_EXP2_C5 + r * RP_EXP2_C6)))));
    double t = rp_exp2_table[n & 31];
    uint64_t tb;
    memcpy(&tb, &t, sizeof(tb));
    tb += (uint64_t)(n >> 5) << 52; /* times 2^(n>>5): stays normal for |x| <= 1000 */
    memcpy(&t, &tb, sizeof(t));
    return t + t * q;
}

/*
 * 2^x0 and 2^x1 at once, with the same bits as two rp_exp2 calls: the same operations in the two
 * lanes of SSE2 registers (IEEE double arithmetic lane by lane, no fused multiply-add without
 * -march), for the pairs the model computes together (two half-lives of the same time: the
 * engagement sums, the rate windows): about 55 instructions instead of 78.
 */
static inline void rp_exp2_pair(double x0, double x1, double *y0, double *y1)
{
#ifdef __SSE2__
    /* The constants as 16-byte vectors, each read with one load: volatile, since GCC otherwise
     * turns a vector of two equal doubles back into an 8-byte load and an unpack (no SSE3). */
    static const volatile __m128d kv[11] = {
        {-0.0, -0.0},
        {1000.0, 1000.0},
        {32.0, 32.0},
        {RP_EXP2_SHIFT, RP_EXP2_SHIFT},
        {1.0 / 32.0, 1.0 / 32.0},
        {RP_EXP2_C1, RP_EXP2_C1},
        {RP_EXP2_C2, RP_EXP2_C2},
        {RP_EXP2_C3, RP_EXP2_C3},
        {RP_EXP2_C4, RP_EXP2_C4},
        {RP_EXP2_C5, RP_EXP2_C5},
        {RP_EXP2_C6, RP_EXP2_C6},
    };
    static const volatile __m128i ki[2] = {
        {0x4338000000000000LL, 0x4338000000000000LL},
        {(long long)0xfff0000000000000ULL, (long long)0xfff0000000000000ULL},
    };
    const __m128d sign = kv[0], lim = kv[1], k32 = kv[2], shift = kv[3], inv32 = kv[4], c1 = kv[5],
                  c2 = kv[6], c3 = kv[7], c4 = kv[8], c5 = kv[9], c6 = kv[10];
    const __m128i bias = ki[0], hi12 = ki[1];
    __m128d x = _mm_set_pd(x1, x0);
    if (_mm_movemask_pd(_mm_cmple_pd(_mm_andnot_pd(sign, x), lim)) != 3) { /* (NaN too) */
        *y0 = rp_exp2(x0);
        *y1 = rp_exp2(x1);
        return;
    }
    __m128d kd = _mm_add_pd(_mm_mul_pd(x, k32), shift);
    __m128i n = _mm_sub_epi64(_mm_castpd_si128(kd), bias); /* round(x * 32) */
    kd = _mm_sub_pd(kd, shift);
    __m128d r = _mm_sub_pd(x, _mm_mul_pd(kd, inv32));
    __m128d q = _mm_add_pd(c5, _mm_mul_pd(r, c6));
    q = _mm_add_pd(c4, _mm_mul_pd(r, q));
    q = _mm_add_pd(c3, _mm_mul_pd(r, q));
    q = _mm_add_pd(c2, _mm_mul_pd(r, q));
    q = _mm_add_pd(c1, _mm_mul_pd(r, q));
    q = _mm_mul_pd(r, q);
    int64_t n0 = _mm_cvtsi128_si64(n), n1 = _mm_cvtsi128_si64(_mm_unpackhi_epi64(n, n));
    __m128d t = _mm_set_pd(rp_exp2_table[n1 & 31], rp_exp2_table[n0 & 31]);
    /* (n >> 5) << 52, as rp_exp2: bits 5..16 of n moved to 52..63 */
    __m128i e = _mm_and_si128(_mm_slli_epi64(n, 47), hi12);
    t = _mm_castsi128_pd(_mm_add_epi64(_mm_castpd_si128(t), e));
    __m128d y = _mm_add_pd(t, _mm_mul_pd(t, q));
    *y0 = _mm_cvtsd_f64(y);
    *y1 = _mm_cvtsd_f64(_mm_unpackhi_pd(y, y));
#else
    *y0 = rp_exp2(x0);
    *y1 = rp_exp2(x1);
#endif
}

/** The factor 2^(-dt/h) for dt >= 0 ms (dt <= 0 gives 1: never grow a value backwards). */
static inline double rp_decay_factor(int64_t dt_ms, int64_t half_life_ms)
{
    if (dt_ms <= 0)
        return 1.0;
    return rp_exp2(-(double)dt_ms / (double)half_life_ms);
}

/** rp_decay_factor for two half-lives of the same dt at once (rp_exp2_pair: the same bits). */
static inline void rp_decay_factor_pair(int64_t dt_ms, int64_t half_life0_ms, int64_t half_life1_ms,
                                        double *f0, double *f1)
{
    if (dt_ms <= 0) {
        *f0 = *f1 = 1.0;
        return;
    }
    rp_exp2_pair(-(double)dt_ms / (double)half_life0_ms, -(double)dt_ms / (double)half_life1_ms, f0,
                 f1);
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
