/* tl_softmax_s16.c - SOFTMAX with int16 input and output (TFLite's
 * reference SoftmaxInt16): each difference to the row's maximum scaled so
 * that [-65535, 0] spans [-10, 0], exp from a 513-entry table, the sum's
 * reciprocal from a second table, the products rounded to Q0.15. The
 * tables are built by the importer as TFLite builds them (gen_lut) and sit
 * in the operator's constant block. */
#include "kernels.h"

/* TFLite's generic_int16_table_lookup: 512 intervals of 128, linear. */
static int16_t table_lookup(int16_t value, const int16_t *lut)
{
    const uint16_t index = (uint16_t)(256 + (value >> 7));
    const int16_t offset = (int16_t)(value & 0x7f);
    const int16_t base = lut[index];
    const int16_t slope = (int16_t)(lut[index + 1] - lut[index]);
    const int32_t delta = ((int32_t)slope * offset + 64) >> 7;
    return (int16_t)(base + delta);
}

void tl_softmax_s16(const tl_softmax16_params *p)
{
    for (int32_t r = 0; r < p->rows; ++r) {
        const int16_t *in = p->input + r * p->depth;
        int16_t *out = p->output + r * p->depth;
        int16_t max = -32768;
        for (int32_t c = 0; c < p->depth; ++c) {
            max = in[c] > max ? in[c] : max;
        }
        int32_t sum = 0; /* Q16.15; the exps wait in the output (element c read before it is written) */
        for (int32_t c = 0; c < p->depth; ++c) {
            const int32_t scaled = tl_requantize(in[c] - max, p->input_multiplier, p->input_shift) + 32767;
            out[c] = table_lookup((int16_t)(scaled < -32768 ? -32768 : (scaled > 32767 ? 32767 : scaled)), p->exp_lut);
            sum += out[c];
        }
        const int headroom_plus_one = tl_count_leading_zeros((uint32_t)sum);
        const int32_t shifted = (int32_t)((((int64_t)sum << (headroom_plus_one - 1)) + (1 << 13)) >> 14);
        const int32_t sym = shifted - ((1 << 15) + (1 << 16));
        const int16_t reciprocal =
            table_lookup((int16_t)(sym < -32768 ? -32768 : (sym > 32767 ? 32767 : sym)), p->reciprocal_lut);
        const int right_shift = 31 - headroom_plus_one;
        for (int32_t c = 0; c < p->depth; ++c) {
            const int32_t v = (int32_t)(((int64_t)out[c] * reciprocal + ((int64_t)1 << (right_shift - 1))) >> right_shift);
            out[c] = (int16_t)(v < 0 ? 0 : (v > 32767 ? 32767 : v));
        }
    }
}
