/* tl_conv2d_s8.c - CONV_2D (and FULLY_CONNECTED) with dense int8 weights.
 *
 * No im2col buffer: the kernel walks the input window in place. The bias it
 * receives is the "effective bias" bias - in_zp * sum(w), so a valid tap
 * needs only sum(x * w); a padded tap is treated as an input equal to the
 * zero point (zp * sum(w) over the tap), which is exactly what TFLite's
 * "skip the tap" contributes once the bias is folded.
 * A pixel's valid taps form a rectangle; with dilation 1 each valid filter
 * row is one contiguous run of bytes in both input and filter, so border
 * pixels run as fast as interior ones. Four output channels are computed
 * per pass, so each input byte loaded feeds four multiply-accumulates
 * (dot.h). With a fused residual ADD, each output value is requantised as
 * usual and then added to the residual element at the same index (TFLite's
 * ADD arithmetic); the residual is read just before that element is
 * written, so the output may overwrite the residual in place.
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
    const tl_residual_add no_add = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
    const tl_residual_add add = p.residual_add ? *p.residual_add : no_add;

    for (int32_t b = 0; b < p.batches; ++b) {
        const int8_t *image = p.input + b * p.in_h * row_stride;
        int8_t *out = p.output + b * p.out_h * p.out_w * p.out_stride;
        for (int32_t oy = 0; oy < p.out_h; ++oy) {
            const int32_t iy0 = oy * p.stride_h - p.pad_top;
            int32_t ky0, ky1;
            tl_valid_taps(iy0, p.k_h, p.dilation_h, p.in_h, &ky0, &ky1);
            for (int32_t ox = 0; ox < p.out_w; ++ox, out += p.out_stride) {
                const int32_t ix0 = ox * p.stride_w - p.pad_left;
                int32_t kx0, kx1;
                tl_valid_taps(ix0, p.k_w, p.dilation_w, p.in_w, &kx0, &kx1);
                const int padded = zero_point != 0 &&
                                   (ky0 > 0 || ky1 < p.k_h || kx0 > 0 || kx1 < p.k_w);
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
                    for (int32_t ky = ky0; ky < ky1; ++ky) {
                        const int8_t *x = image + (iy0 + ky * p.dilation_h) * row_stride;
                        if (p.dilation_w == 1) {
                            const int32_t wo = ky * row_len + kx0 * p.in_c;
                            tl_dot4_s8(x + (ix0 + kx0) * p.in_c, w[0] + wo, w[1] + wo, w[2] + wo,
                                       w[3] + wo, (kx1 - kx0) * p.in_c, acc);
                            continue;
                        }
                        for (int32_t kx = kx0; kx < kx1; ++kx) {
                            const int32_t wo = (ky * p.k_w + kx) * p.in_c;
                            tl_dot4_s8(x + (ix0 + kx * p.dilation_w) * p.in_c, w[0] + wo, w[1] + wo,
                                       w[2] + wo, w[3] + wo, p.in_c, acc);
                        }
                    }
                    if (padded) {
                        for (int32_t ky = 0; ky < p.k_h; ++ky) {
                            for (int32_t kx = 0; kx < p.k_w; ++kx) {
                                if (ky >= ky0 && ky < ky1 && kx >= kx0 && kx < kx1) {
                                    continue;
                                }
                                const int32_t wo = (ky * p.k_w + kx) * p.in_c;
                                for (int32_t k = 0; k < 4; ++k) {
                                    acc[k] += zero_point * tl_sum_s8(w[k] + wo, p.in_c);
                                }
                            }
                        }
                    }
                    for (int32_t k = 0; k < n; ++k) {
                        const int32_t v = tl_requantize(acc[k], p.multiplier[oc + k], p.shift[oc + k]);
                        int8_t q = tl_clamp_s8(v + p.output_offset, p.act_min, p.act_max);
                        if (p.residual) {
                            const int8_t r = p.residual[(out - p.output) + oc + k];
                            q = add.conv_is_input1 ? tl_add_element(q, r, &add) : tl_add_element(r, q, &add);
                        }
                        out[oc + k] = q;
                    }
                }
            }
        }
    }
}
