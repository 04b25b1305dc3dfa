/* tl_depthwise_conv2d_s8.c - DEPTHWISE_CONV_2D, int8, per-channel requant.
 *
 * Output channel oc = ic * depth_multiplier + m reads only input channel ic.
 * Filter [1, k_h, k_w, out_c]. Like the dense kernel it gets the effective
 * bias and reads padded taps as the zero point; interior pixels skip the
 * bounds checks.
 */
#include "kernels.h"
#include "fixedpoint.h"

void tl_depthwise_conv2d_s8(const tl_conv_params *p)
{
    const int8_t *filter = (const int8_t *)p->filter;
    const int32_t zero_point = -p->input_offset;
    const int32_t mult = p->depth_multiplier;
    const int32_t span_h = (p->k_h - 1) * p->dilation_h;
    const int32_t span_w = (p->k_w - 1) * p->dilation_w;
    const int32_t pixel_stride = p->in_c;
    const int32_t row_stride = p->in_w * p->in_c;
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *image = p->input + b * p->in_h * p->in_w * p->in_c;
        int8_t *out = p->output + b * p->out_h * p->out_w * p->out_c;
        for (int32_t oy = 0; oy < p->out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_top;
            for (int32_t ox = 0; ox < p->out_w; ++ox, out += p->out_c) {
                const int32_t ix0 = ox * p->stride_w - p->pad_left;
                const int inside = iy0 >= 0 && iy0 + span_h < p->in_h &&
                                   ix0 >= 0 && ix0 + span_w < p->in_w;
                for (int32_t ic = 0; ic < p->in_c; ++ic) {
                    for (int32_t m = 0; m < mult; ++m) {
                        const int32_t oc = ic * mult + m;
                        int32_t acc = p->bias[oc];
                        const int8_t *w = filter + oc;
                        if (inside) {
                            const int8_t *x = image + iy0 * row_stride + ix0 * pixel_stride + ic;
                            for (int32_t ky = 0; ky < p->k_h; ++ky) {
                                const int8_t *xr = x + ky * p->dilation_h * row_stride;
                                for (int32_t kx = 0; kx < p->k_w; ++kx) {
                                    acc += xr[kx * p->dilation_w * pixel_stride] * w[0];
                                    w += p->out_c;
                                }
                            }
                        } else {
                            for (int32_t ky = 0; ky < p->k_h; ++ky) {
                                const int32_t iy = iy0 + ky * p->dilation_h;
                                for (int32_t kx = 0; kx < p->k_w; ++kx, w += p->out_c) {
                                    const int32_t ix = ix0 + kx * p->dilation_w;
                                    const int32_t xv = (iy < 0 || iy >= p->in_h || ix < 0 || ix >= p->in_w)
                                        ? zero_point : image[iy * row_stride + ix * pixel_stride + ic];
                                    acc += xv * w[0];
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
}
