/* tl_conv2d_bitmap_s8.c - CONV_2D (and FULLY_CONNECTED) with pruned weights
 * in the bitmap encoding (docs/format.md):
 *   uint32 nnz; uint32 oc_start[out_c + 1];
 *   uint8 bitmap[out_c * k_h * k_w * ceil(in_c / 8)]   (bit c, LSB first: weight c of the row is non-zero)
 *   int8 value[nnz]                                     (the non-zero weights, row after row)
 * One bit per weight plus one byte per non-zero: smaller than dense int8
 * from about 1/8 sparsity on (the CSR encoding needs about 3/4). The kernel
 * walks each row's set bits; a padded tap adds zero point x its values.
 */
#include "kernels.h"
#include "fixedpoint.h"

/* Index of the lowest set bit of a non-zero byte. */
static int32_t lowest_bit(uint32_t bits)
{
#if defined(__GNUC__)
    return (int32_t)__builtin_ctz(bits);
#else
    int32_t n = 0;
    while (!(bits & 1u)) {
        bits >>= 1;
        ++n;
    }
    return n;
#endif
}

void tl_conv2d_bitmap_s8(const tl_conv_params *p)
{
    const uint8_t *blob = (const uint8_t *)p->filter;
    const uint32_t *header = (const uint32_t *)(const void *)blob;
    const uint32_t *oc_start = header + 1;
    const int32_t row_bytes = (p->in_c + 7) / 8;
    const int32_t taps = p->k_h * p->k_w;
    const uint8_t *bitmap = (const uint8_t *)(oc_start + p->out_c + 1);
    const int8_t *values = (const int8_t *)(bitmap + p->out_c * taps * row_bytes);
    const int32_t zero_point = -p->input_offset;

    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *image = p->input + b * p->in_h * p->in_w * p->in_c;
        int8_t *out = p->output + b * p->out_h * p->out_w * p->out_c;
        for (int32_t oy = 0; oy < p->out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_top;
            for (int32_t ox = 0; ox < p->out_w; ++ox, out += p->out_c) {
                const int32_t ix0 = ox * p->stride_w - p->pad_left;
                for (int32_t oc = 0; oc < p->out_c; ++oc) {
                    int32_t acc = p->bias[oc];
                    const int8_t *v = values + oc_start[oc];
                    const uint8_t *row = bitmap + oc * taps * row_bytes;
                    for (int32_t ky = 0; ky < p->k_h; ++ky) {
                        const int32_t iy = iy0 + ky * p->dilation_h;
                        for (int32_t kx = 0; kx < p->k_w; ++kx, row += row_bytes) {
                            const int32_t ix = ix0 + kx * p->dilation_w;
                            if (iy < 0 || iy >= p->in_h || ix < 0 || ix >= p->in_w) {
                                for (int32_t j = 0; j < row_bytes; ++j) {
                                    for (uint32_t bits = row[j]; bits; bits &= bits - 1u) {
                                        acc += zero_point * *v++;
                                    }
                                }
                                continue;
                            }
                            const int8_t *x = image + (iy * p->in_w + ix) * p->in_c;
                            for (int32_t j = 0; j < row_bytes; ++j, x += 8) {
                                for (uint32_t bits = row[j]; bits; bits &= bits - 1u) {
                                    acc += x[lowest_bit(bits)] * *v++;
                                }
                            }
                        }
                    }
                    acc = tl_requantize(acc, p->multiplier[oc], p->shift[oc]) + p->output_offset;
                    out[oc] = tl_clamp_s8(acc, p->act_min, p->act_max);
                }
            }
        }
    }
}
