/* tl_add_s8.c - ADD of two int8 tensors of one shape.
 *
 * Both inputs are brought to a common scale (shifted left by left_shift for
 * headroom, then scaled by multipliers below one), summed, and requantised,
 * with TFLite's rounding at each step. Element i is read before it is
 * written, so the output may share memory with either input.
 */
#include "kernels.h"
#include "fixedpoint.h"

void tl_add_s8(const tl_add_params *p)
{
    const tl_residual_add q = p->quant;
    for (int32_t i = 0; i < p->size; ++i) {
        p->output[i] = tl_add_element(p->input1[i], p->input2[i], &q);
    }
}
