/* tl_conv2d_s16.c - CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED with
 * int16 activations and int8 weights (TFLite's 16x8 reference kernels:
 * symmetric activations, so no zero points; an int64 accumulator with the
 * 64-bit requantisation, or an int32 one when the bias is int32). The
 * operator's checks and run step are in tl_conv_ops.c. */
#include <string.h>

#include "kernels.h"

void tl_conv2d_s16(const tl_conv16_params *p)
{
    const int8_t *w = p->filter;
    for (int32_t b = 0; b < p->batches; ++b) {
        for (int32_t oy = 0; oy < p->out_h; ++oy) {
            const int32_t y0 = oy * p->stride_h - p->pad_top;
            for (int32_t ox = 0; ox < p->out_w; ++ox) {
                const int32_t x0 = ox * p->stride_w - p->pad_left;
                for (int32_t oc = 0; oc < p->out_c; ++oc) {
                    int64_t acc = 0;
                    for (int32_t ky = 0; ky < p->k_h; ++ky) {
                        const int32_t iy = y0 + ky * p->dilation_h;
                        if (iy < 0 || iy >= p->in_h) {
                            continue;
                        }
                        for (int32_t kx = 0; kx < p->k_w; ++kx) {
                            const int32_t ix = x0 + kx * p->dilation_w;
                            if (ix < 0 || ix >= p->in_w) {
                                continue;
                            }
                            const int16_t *px = p->input + (((int64_t)b * p->in_h + iy) * p->in_w + ix) * p->in_c;
                            if (p->depthwise) {
                                acc += (int64_t)w[(ky * p->k_w + kx) * p->out_c + oc] * px[oc / p->depth_multiplier];
                            } else {
                                const int8_t *wr = w + (((int64_t)oc * p->k_h + ky) * p->k_w + kx) * p->in_c;
                                for (int32_t ic = 0; ic < p->in_c; ++ic) {
                                    acc += (int64_t)(wr[ic] * px[ic]);
                                }
                            }
                        }
                    }
                    int32_t v;
                    if (p->bias32) {
                        acc += p->bias32[oc];
                        /* int32 accumulation, wrapping as TFLite's would */
                        v = tl_requantize((int32_t)(uint32_t)(uint64_t)acc, p->multiplier[oc], p->shift[oc]);
                    } else {
                        if (p->bias64) {
                            int64_t bias;
                            memcpy(&bias, p->bias64 + 8 * oc, sizeof bias); /* 4-byte aligned only */
                            acc += bias;
                        }
                        v = tl_requantize64(acc, p->multiplier[oc], p->shift[oc]);
                    }
                    v = v < p->act_min ? p->act_min : (v > p->act_max ? p->act_max : v);
                    p->output[(((int64_t)b * p->out_h + oy) * p->out_w + ox) * p->out_c + oc] = (int16_t)v;
                }
            }
        }
    }
}
