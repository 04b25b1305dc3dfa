/* tl_add_s8.c - ADD of two int8 tensors of one shape.
 *
 * Both inputs are brought to a common scale (shifted left by left_shift for
 * headroom, then scaled by multipliers below one), summed, and requantised,
 * with TFLite's rounding at each step. Element i is read before it is
 * written, so the output may share memory with either input.
 */
#include "kernels.h"
#include "fixedpoint.h"

static inline int32_t scale_below_one(int32_t x, int32_t multiplier, int32_t shift)
{
    return tl_rounding_divide_by_pot(tl_sat_rounding_doubling_high_mul(x, multiplier), -shift);
}

void tl_add_s8(const tl_add_params *p)
{
    for (int32_t i = 0; i < p->size; ++i) {
        const int32_t a = (p->input1_offset + p->input1[i]) * (1 << p->left_shift);
        const int32_t b = (p->input2_offset + p->input2[i]) * (1 << p->left_shift);
        const int32_t sum = scale_below_one(a, p->input1_multiplier, p->input1_shift) +
                            scale_below_one(b, p->input2_multiplier, p->input2_shift);
        const int32_t out = scale_below_one(sum, p->output_multiplier, p->output_shift) +
                            p->output_offset;
        p->output[i] = tl_clamp_s8(out, p->act_min, p->act_max);
    }
}
