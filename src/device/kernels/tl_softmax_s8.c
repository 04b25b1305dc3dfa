/* tl_softmax_s8.c - SOFTMAX over the last dimension, int8 in and out.
 *
 * Integer-only, bit-exact with TFLite: differences to the row maximum are
 * scaled by beta * input_scale into Q5.26, exponentiated in fixed point,
 * summed in Q12.19, and divided via a fixed-point reciprocal. The output
 * scale is 1/256 with zero point -128. Each output element depends only on
 * its own input element and the row's sums, so input and output may alias.
 */
#include "kernels.h"
#include "fixedpoint.h"

void tl_softmax_s8(const tl_softmax_params *p)
{
    enum { ACCUM_INT_BITS = 12 };
    for (int32_t r = 0; r < p->rows; ++r) {
        const int8_t *in = p->input + r * p->depth;
        int8_t *out = p->output + r * p->depth;
        int32_t max_in_row = -128;
        for (int32_t c = 0; c < p->depth; ++c) {
            if (in[c] > max_in_row) {
                max_in_row = in[c];
            }
        }
        int32_t sum_of_exps = 0;
        for (int32_t c = 0; c < p->depth; ++c) {
            const int32_t diff = in[c] - max_in_row;
            if (diff >= p->diff_min) {
                const int32_t scaled = tl_sat_rounding_doubling_high_mul(
                    diff * (1 << p->input_left_shift), p->input_multiplier);
                sum_of_exps += tl_fp_mul_pot(tl_fp_exp_negative_q5(scaled), -ACCUM_INT_BITS);
            }
        }
        /* 1 / sum: normalise the sum into [1, 2), take 1/(1+x), remember how
         * many bits above one were dropped. */
        const int headroom_plus_one = tl_count_leading_zeros((uint32_t)sum_of_exps);
        const int bits_over_unit = ACCUM_INT_BITS - headroom_plus_one;
        const int32_t shifted_sum_minus_one =
            (int32_t)(((uint32_t)sum_of_exps << headroom_plus_one) - ((uint32_t)1 << 31));
        const int32_t reciprocal = tl_fp_one_over_one_plus_x(shifted_sum_minus_one);
        const int exponent = bits_over_unit + 31 - 8;
        for (int32_t c = 0; c < p->depth; ++c) {
            const int32_t diff = in[c] - max_in_row;
            if (diff >= p->diff_min) {
                const int32_t scaled = tl_sat_rounding_doubling_high_mul(
                    diff * (1 << p->input_left_shift), p->input_multiplier);
                const int32_t e = tl_fp_exp_negative_q5(scaled);
                const int32_t unsat = tl_rounding_divide_by_pot(tl_fp_mul(reciprocal, e), exponent);
                out[c] = tl_clamp_s8(unsat - 128, -128, 127);
            } else {
                out[c] = -128;
            }
        }
    }
}
