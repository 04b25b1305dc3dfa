/* tl_conv2d_s4.c - CONV_2D (and FULLY_CONNECTED) with packed int4 weights.
 *
 * Weights are signed 4-bit values in [-8, 7], two per byte, the element with
 * the even flat index (OHWI order) in the low nibble. They halve flash and
 * download bytes; the arithmetic after unpacking is the int8 kernel's.
 */
#include "kernels.h"
#include "fixedpoint.h"

static inline int32_t weight_s4(const uint8_t *packed, int32_t index)
{
    const uint8_t byte = packed[index >> 1];
    /* Shift the nibble to the top, then arithmetic-shift back to sign-extend. */
    const int8_t top = (int8_t)((index & 1) ? (byte & 0xF0) : (uint8_t)(byte << 4));
    return top >> 4;
}

void tl_conv2d_s4(const tl_conv_params *p)
{
    const uint8_t *packed = (const uint8_t *)p->filter;
    const int32_t zero_point = -p->input_offset;
    const int32_t filter_size = p->k_h * p->k_w * p->in_c;
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *image = p->input + b * p->in_h * p->in_w * p->in_c;
        int8_t *out = p->output + b * p->out_h * p->out_w * p->out_c;
        for (int32_t oy = 0; oy < p->out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_top;
            for (int32_t ox = 0; ox < p->out_w; ++ox, out += p->out_c) {
                const int32_t ix0 = ox * p->stride_w - p->pad_left;
                for (int32_t oc = 0; oc < p->out_c; ++oc) {
                    int32_t acc = p->bias[oc];
                    int32_t w = oc * filter_size;
                    for (int32_t ky = 0; ky < p->k_h; ++ky) {
                        const int32_t iy = iy0 + ky * p->dilation_h;
                        for (int32_t kx = 0; kx < p->k_w; ++kx, w += p->in_c) {
                            const int32_t ix = ix0 + kx * p->dilation_w;
                            const int inside = iy >= 0 && iy < p->in_h && ix >= 0 && ix < p->in_w;
                            const int8_t *x = image + (iy * p->in_w + ix) * p->in_c;
                            for (int32_t c = 0; c < p->in_c; ++c) {
                                acc += (inside ? x[c] : zero_point) * weight_s4(packed, w + c);
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
