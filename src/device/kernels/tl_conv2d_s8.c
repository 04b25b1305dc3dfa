/* tl_conv2d_s8.c - CONV_2D (and FULLY_CONNECTED) with dense int8 weights.
 *
 * No im2col buffer: the kernel walks the input window in place. The bias it
 * receives is the "effective bias" bias - in_zp * sum(w), so an interior
 * pixel needs only sum(x * w) and no per-element offset add. A padded tap is
 * treated as an input equal to the zero point, which contributes exactly
 * what TFLite's "skip the tap" contributes once the bias is folded.
 * Interior pixels with dilation 1 read each filter row as one contiguous run
 * of k_w * in_c bytes and compute four output channels per pass so every
 * input byte loaded serves four multiply-accumulates.
 */
#include "kernels.h"
#include "fixedpoint.h"

static inline int8_t finish(const tl_conv_params *p, int32_t acc, int32_t oc)
{
    acc = tl_requantize(acc, p->multiplier[oc], p->shift[oc]) + p->output_offset;
    return tl_clamp_s8(acc, p->act_min, p->act_max);
}

/* Interior pixel, dilation 1: rows of k_w * in_c contiguous bytes. */
static void conv_pixel_interior(const tl_conv_params *p, const int8_t *window,
                                int8_t *out)
{
    const int8_t *filter = (const int8_t *)p->filter;
    const int32_t row_len = p->k_w * p->in_c;
    const int32_t row_stride = p->in_w * p->in_c;
    const int32_t filter_size = p->k_h * row_len;
    int32_t oc = 0;
    for (; oc + 4 <= p->out_c; oc += 4) {
        int32_t a0 = p->bias[oc], a1 = p->bias[oc + 1];
        int32_t a2 = p->bias[oc + 2], a3 = p->bias[oc + 3];
        const int8_t *w0 = filter + oc * filter_size;
        const int8_t *w1 = w0 + filter_size;
        const int8_t *w2 = w1 + filter_size;
        const int8_t *w3 = w2 + filter_size;
        const int8_t *x = window;
        for (int32_t ky = 0; ky < p->k_h; ++ky) {
            for (int32_t i = 0; i < row_len; ++i) {
                const int32_t xv = x[i];
                a0 += xv * w0[i];
                a1 += xv * w1[i];
                a2 += xv * w2[i];
                a3 += xv * w3[i];
            }
            x += row_stride;
            w0 += row_len;
            w1 += row_len;
            w2 += row_len;
            w3 += row_len;
        }
        out[oc] = finish(p, a0, oc);
        out[oc + 1] = finish(p, a1, oc + 1);
        out[oc + 2] = finish(p, a2, oc + 2);
        out[oc + 3] = finish(p, a3, oc + 3);
    }
    for (; oc < p->out_c; ++oc) {
        int32_t acc = p->bias[oc];
        const int8_t *w = filter + oc * filter_size;
        const int8_t *x = window;
        for (int32_t ky = 0; ky < p->k_h; ++ky) {
            for (int32_t i = 0; i < row_len; ++i) {
                acc += x[i] * w[i];
            }
            x += row_stride;
            w += row_len;
        }
        out[oc] = finish(p, acc, oc);
    }
}

/* Any pixel: per-tap bounds checks, padded taps read as the zero point. */
static void conv_pixel_general(const tl_conv_params *p, const int8_t *image,
                               int32_t iy0, int32_t ix0, int8_t *out)
{
    const int8_t *filter = (const int8_t *)p->filter;
    const int32_t zero_point = -p->input_offset;
    const int32_t filter_size = p->k_h * p->k_w * p->in_c;
    for (int32_t oc = 0; oc < p->out_c; ++oc) {
        int32_t acc = p->bias[oc];
        const int8_t *w = filter + oc * filter_size;
        for (int32_t ky = 0; ky < p->k_h; ++ky) {
            const int32_t iy = iy0 + ky * p->dilation_h;
            for (int32_t kx = 0; kx < p->k_w; ++kx, w += p->in_c) {
                const int32_t ix = ix0 + kx * p->dilation_w;
                if (iy < 0 || iy >= p->in_h || ix < 0 || ix >= p->in_w) {
                    for (int32_t c = 0; c < p->in_c; ++c) {
                        acc += zero_point * w[c];
                    }
                    continue;
                }
                const int8_t *x = image + (iy * p->in_w + ix) * p->in_c;
                for (int32_t c = 0; c < p->in_c; ++c) {
                    acc += x[c] * w[c];
                }
            }
        }
        out[oc] = finish(p, acc, oc);
    }
}

void tl_conv2d_s8(const tl_conv_params *p)
{
    const int32_t span_h = (p->k_h - 1) * p->dilation_h;
    const int32_t span_w = (p->k_w - 1) * p->dilation_w;
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *image = p->input + b * p->in_h * p->in_w * p->in_c;
        int8_t *out = p->output + b * p->out_h * p->out_w * p->out_c;
        for (int32_t oy = 0; oy < p->out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_top;
            const int rows_inside = iy0 >= 0 && iy0 + span_h < p->in_h;
            for (int32_t ox = 0; ox < p->out_w; ++ox, out += p->out_c) {
                const int32_t ix0 = ox * p->stride_w - p->pad_left;
                if (rows_inside && p->dilation_w == 1 && ix0 >= 0 &&
                    ix0 + span_w < p->in_w && p->dilation_h == 1) {
                    conv_pixel_interior(p, image + (iy0 * p->in_w + ix0) * p->in_c, out);
                } else {
                    conv_pixel_general(p, image, iy0, ix0, out);
                }
            }
        }
    }
}
