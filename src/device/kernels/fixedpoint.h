/* fixedpoint.h - integer requantisation arithmetic, bit-exact with TFLite.
 *
 * TFLite's int8 kernels scale an int32 accumulator by a real multiplier held
 * as (Q31 significand, power-of-two shift) and round twice: a rounding
 * doubling high multiply, then a rounding right shift. Reproducing that
 * exactly is what makes our outputs equal TFLite Micro's byte for byte.
 * The exp / reciprocal helpers below serve the int8 softmax and follow the
 * published gemmlowp fixed-point algorithms (Q-format polynomial for exp on
 * [-1/4, 0), barrel-shifter for the integer part, Newton-Raphson 1/(1+x)).
 */
#ifndef TL_FIXEDPOINT_H
#define TL_FIXEDPOINT_H

#include <stdint.h>

/* round(a * b / 2^31), saturating the single overflow case (-1 * -1).
 * TFLite computes (ab + nudge) / 2^31 truncating toward zero, with nudge
 * 2^30 for ab >= 0 and 1 - 2^30 otherwise; both cases equal
 * floor((ab + 2^30) / 2^31), i.e. one add and an arithmetic shift, which
 * on a Cortex-M4 is SMULL plus a few instructions instead of a 64-bit
 * signed division. (>> of a negative value is arithmetic on every
 * compiler we build with: GCC and Clang document it.) */
static inline int32_t tl_sat_rounding_doubling_high_mul(int32_t a, int32_t b)
{
    if (a == INT32_MIN && b == INT32_MIN) {
        return INT32_MAX;
    }
    return (int32_t)(((int64_t)a * (int64_t)b + ((int64_t)1 << 30)) >> 31);
}

/* x / 2^exponent rounded to nearest, ties away from zero. 0 <= exponent <= 31. */
static inline int32_t tl_rounding_divide_by_pot(int32_t x, int exponent)
{
    const int32_t mask = (int32_t)(((int64_t)1 << exponent) - 1);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* x * 2^exponent, saturated to int32 (exponent >= 0). */
static inline int32_t tl_sat_shift_left(int32_t x, int exponent)
{
    int64_t r = (int64_t)x * ((int64_t)1 << exponent);
    if (r > INT32_MAX) {
        return INT32_MAX;
    }
    if (r < INT32_MIN) {
        return INT32_MIN;
    }
    return (int32_t)r;
}

/* acc * multiplier * 2^shift with TFLite's double rounding; shift in
 * [-31, 30] and multiplier >= 0 (both checked at load, so the doubling high
 * multiply's one overflow case, INT32_MIN * INT32_MIN, cannot occur). A left
 * shift that would overflow int32 is undefined in the reference; here it
 * saturates. */
static inline int32_t tl_requantize(int32_t acc, int32_t multiplier, int shift)
{
    if (shift > 0) { /* a multiplier above one: rare */
        return tl_sat_rounding_doubling_high_mul(tl_sat_shift_left(acc, shift), multiplier);
    }
    const int32_t high = (int32_t)(((int64_t)acc * multiplier + ((int64_t)1 << 30)) >> 31);
    return tl_rounding_divide_by_pot(high, -shift);
}

/* TFLite's 64-bit MultiplyByQuantizedMultiplier (16x8 kernels): the
 * multiplier cut to 16 bits, one rounding shift of 15 - shift; |acc| below
 * 2^47 and shift below 8 (checked at load) keep it exact in int64. */
static inline int32_t tl_requantize64(int64_t acc, int32_t multiplier, int shift)
{
    const int64_t reduced = multiplier < 0x7FFF0000 ? (multiplier + (1 << 15)) >> 16 : 0x7FFF;
    const int total_shift = 15 - shift;
    return (int32_t)((acc * reduced + ((int64_t)1 << (total_shift - 1))) >> total_shift);
}

/* ---- Softmax helpers: fixed-point numbers with a given count of integer
 * bits, stored in int32 (value = raw / 2^(31 - integer_bits)). ---- */

/* Multiply two fixed-point values: the result has the summed integer bits. */
static inline int32_t tl_fp_mul(int32_t a, int32_t b)
{
    return tl_sat_rounding_doubling_high_mul(a, b);
}

/* Multiply by 2^exponent with rounding (negative) or saturation (positive). */
static inline int32_t tl_fp_mul_pot(int32_t x, int exponent)
{
    if (exponent < 0) {
        return tl_rounding_divide_by_pot(x, -exponent);
    }
    /* Saturate when |x| would leave the int32 range, as gemmlowp does with
     * a symmetric threshold. */
    const int32_t threshold = (int32_t)(((int64_t)1 << (31 - exponent)) - 1);
    if (x > threshold) {
        return INT32_MAX;
    }
    if (x < -threshold) {
        return INT32_MIN;
    }
    return (int32_t)((uint32_t)x << exponent);
}

/* exp(a) for a in [-1/4, 0), a and result with 0 integer bits: Taylor
 * expansion around -1/8. */
static inline int32_t tl_fp_exp_quarter(int32_t a)
{
    const int32_t exp_minus_one_eighth = 1895147668; /* exp(-1/8) in Q0.31 */
    const int32_t one_third = 715827883;             /* 1/3 in Q0.31 */
    int32_t x = a + (1 << 28);                       /* a + 1/8 */
    int32_t x2 = tl_fp_mul(x, x);
    int32_t x3 = tl_fp_mul(x2, x);
    int32_t x4 = tl_fp_mul(x2, x2);
    int32_t x4_over_4 = tl_fp_mul_pot(x4, -2);
    int32_t poly = tl_fp_mul_pot(tl_fp_mul(x4_over_4 + x3, one_third) + x2, -1);
    return exp_minus_one_eighth + tl_fp_mul(exp_minus_one_eighth, x + poly);
}

/* exp(a) for a <= 0, a with `int_bits` integer bits (1..6), result with 0
 * integer bits: exp of a's part in [-1/4, 0), times exp(-2^k) for each
 * higher bit set (gemmlowp's barrel shifter; below -32 the result is 0). */
static inline int32_t tl_fp_exp_negative(int32_t a, int int_bits)
{
    const int frac_bits = 31 - int_bits;
    const int32_t one_quarter = 1 << (frac_bits - 2);
    const int32_t mask = one_quarter - 1;
    const int32_t a_mod_quarter_minus_quarter = (a & mask) - one_quarter;
    int32_t result = tl_fp_exp_quarter(tl_fp_mul_pot(a_mod_quarter_minus_quarter, int_bits));
    const int32_t remainder = a_mod_quarter_minus_quarter - a;
    /* exp(-2^k) for k = -2 .. 4, applied for each set bit of the remainder. */
    static const int32_t exp_minus_pot[7] = {
        1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242
    };
    for (int k = 0; k < 7 && k - 2 < int_bits; ++k) {
        if (remainder & (1 << (frac_bits - 2 + k))) {
            result = tl_fp_mul(result, exp_minus_pot[k]);
        }
    }
    if (int_bits > 5 && a < -(1 << (frac_bits + 5))) {
        result = 0;
    }
    return a == 0 ? INT32_MAX : result;
}

/* exp(a) for a <= 0 with 5 integer bits (the softmax's). */
static inline int32_t tl_fp_exp_negative_q5(int32_t a)
{
    return tl_fp_exp_negative(a, 5);
}

/* 1 / (1 + x) for x in [0, 1), x and result with 0 integer bits. Three
 * Newton-Raphson steps in Q2.29 starting from 48/17 - 32/17 * d. */
static inline int32_t tl_fp_one_over_one_plus_x(int32_t a)
{
    const int64_t sum = (int64_t)a + INT32_MAX;
    const int32_t half_denominator = (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
    const int32_t c48_over_17 = 1515870810;
    const int32_t cneg32_over_17 = -1010580540;
    const int32_t one_q2 = 1 << 29;
    int32_t x = c48_over_17 + tl_fp_mul(half_denominator, cneg32_over_17);
    for (int i = 0; i < 3; ++i) {
        int32_t hd_x = tl_fp_mul(half_denominator, x);
        int32_t one_minus = one_q2 - hd_x;
        x = x + tl_fp_mul_pot(tl_fp_mul(x, one_minus), 2);
    }
    return tl_fp_mul_pot(x, 1);
}

/* (1 - x) / (1 + x) for x in [0, 1), 0 integer bits: the same
 * Newton-Raphson reciprocal of (1 + x) / 2, then x' - 1 in Q2.29. */
static inline int32_t tl_fp_one_minus_x_over_one_plus_x(int32_t a)
{
    const int64_t sum = (int64_t)a + INT32_MAX;
    const int32_t half_denominator = (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
    const int32_t one_q2 = 1 << 29;
    int32_t x = 1515870810 + tl_fp_mul(half_denominator, -1010580540);
    for (int i = 0; i < 3; ++i) {
        int32_t one_minus = one_q2 - tl_fp_mul(half_denominator, x);
        x = x + tl_fp_mul_pot(tl_fp_mul(x, one_minus), 2);
    }
    return tl_fp_mul_pot(x - one_q2, 2);
}

/* logistic(a) = 1 / (1 + exp(-a)), a with `int_bits` integer bits, the
 * result with 0 (gemmlowp's logistic: computed on |a|, 1 - it for a < 0). */
static inline int32_t tl_fp_logistic(int32_t a, int int_bits)
{
    if (a == 0) {
        return 1 << 30; /* one half */
    }
    const int32_t abs_a = a > 0 ? a : -a;
    const int32_t positive = tl_fp_one_over_one_plus_x(tl_fp_exp_negative(-abs_a, int_bits));
    return a > 0 ? positive : INT32_MAX - positive;
}

/* tanh(a), a with `int_bits` integer bits, the result with 0: (1 - e) /
 * (1 + e) with e = exp(-2|a|), read as exp of the same raw value with one
 * more integer bit (gemmlowp's ExactMulByPot<1>). */
static inline int32_t tl_fp_tanh(int32_t a, int int_bits)
{
    if (a == 0) {
        return 0;
    }
    const int32_t n = a < 0 ? a : -a;
    const int32_t t = tl_fp_one_minus_x_over_one_plus_x(tl_fp_exp_negative(n, int_bits + 1));
    return a < 0 ? -t : t;
}

static inline int tl_count_leading_zeros(uint32_t x)
{
    if (x == 0) {
        return 32;
    }
    int n = 0;
    while (!(x & 0x80000000u)) {
        x <<= 1;
        ++n;
    }
    return n;
}

#endif /* TL_FIXEDPOINT_H */
