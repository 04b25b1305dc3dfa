/* tl_conv2d_s8.c - CONV_2D (and FULLY_CONNECTED) with dense int8 weights.
 *
 * No im2col buffer: the kernel walks the input window in place. The bias it
 * receives is the "effective bias" bias - in_zp * sum(w), so a valid tap
 * needs only sum(x * w); a padded tap is treated as an input equal to the
 * zero point (zp * sum(w) over the tap), which is exactly what TFLite's
 * "skip the tap" contributes once the bias is folded.
 * Interior pixels with dilation 1 read each filter row as one contiguous
 * run of k_w * in_c bytes; four output channels are computed per pass so
 * each input byte loaded feeds four multiply-accumulates (dot.h).
 */
#include "dot.h"
#include "fixedpoint.h"
#include "kernels.h"

void tl_conv2d_s8(const tl_conv_params *params)
{
    /* A local copy: stores through int8_t pointers may alias anything, and
     * would otherwise force a reload of every parameter after each store. */
    const tl_conv_params p = *params;
    const int8_t *filter = (const int8_t *)p.filter;
    const int32_t zero_point = -p.input_offset;
    const int32_t row_len = p.k_w * p.in_c;
    const int32_t row_stride = p.in_w * p.in_c;
    const int32_t filter_size = p.k_h * row_len;
    const int32_t span_h = (p.k_h - 1) * p.dilation_h;
    const int32_t span_w = (p.k_w - 1) * p.dilation_w;
    const int dense_rows = p.dilation_w == 1;

    for (int32_t b = 0; b < p.batches; ++b) {
        const int8_t *image = p.input + b * p.in_h * row_stride;
        int8_t *out = p.output + b * p.out_h * p.out_w * p.out_c;
        for (int32_t oy = 0; oy < p.out_h; ++oy) {
            const int32_t iy0 = oy * p.stride_h - p.pad_top;
            const int rows_inside = iy0 >= 0 && iy0 + span_h < p.in_h;
            for (int32_t ox = 0; ox < p.out_w; ++ox, out += p.out_c) {
                const int32_t ix0 = ox * p.stride_w - p.pad_left;
                const int inside = rows_inside && ix0 >= 0 && ix0 + span_w < p.in_w;
                const int8_t *window = image + iy0 * row_stride + ix0 * p.in_c;
                for (int32_t oc = 0; oc < p.out_c; oc += 4) {
                    /* Four channels at a time; a short last block repeats its
                     * last channel and stores only the real ones. */
                    const int32_t n = p.out_c - oc < 4 ? p.out_c - oc : 4;
                    const int8_t *w[4];
                    int32_t acc[4];
                    for (int32_t k = 0; k < 4; ++k) {
                        const int32_t c = oc + (k < n ? k : n - 1);
                        w[k] = filter + c * filter_size;
                        acc[k] = p.bias[c];
                    }
                    if (inside && dense_rows) {
                        for (int32_t ky = 0; ky < p.k_h; ++ky) {
                            const int32_t wo = ky * row_len;
                            tl_dot4_s8(window + ky * p.dilation_h * row_stride, w[0] + wo, w[1] + wo,
                                       w[2] + wo, w[3] + wo, row_len, acc);
                        }
                    } else {
                        for (int32_t ky = 0; ky < p.k_h; ++ky) {
                            const int32_t iy = iy0 + ky * p.dilation_h;
                            for (int32_t kx = 0; kx < p.k_w; ++kx) {
                                const int32_t ix = ix0 + kx * p.dilation_w;
                                const int32_t wo = (ky * p.k_w + kx) * p.in_c;
                                if (iy < 0 || iy >= p.in_h || ix < 0 || ix >= p.in_w) {
                                    for (int32_t k = 0; k < 4; ++k) {
                                        acc[k] += zero_point * tl_sum_s8(w[k] + wo, p.in_c);
                                    }
                                } else {
                                    tl_dot4_s8(image + iy * row_stride + ix * p.in_c, w[0] + wo, w[1] + wo,
                                               w[2] + wo, w[3] + wo, p.in_c, acc);
                                }
                            }
                        }
                    }
                    for (int32_t k = 0; k < n; ++k) {
                        const int32_t v = tl_requantize(acc[k], p.multiplier[oc + k], p.shift[oc + k]);
                        out[oc + k] = tl_clamp_s8(v + p.output_offset, p.act_min, p.act_max);
                    }
                }
            }
        }
    }
}
