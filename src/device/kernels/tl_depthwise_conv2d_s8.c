/* tl_depthwise_conv2d_s8.c - DEPTHWISE_CONV_2D, int8, per-channel requant.
 *
 * Output channel oc = ic * depth_multiplier + m reads only input channel ic.
 * Filter [1, k_h, k_w, out_c]. Like the dense kernel it gets the effective
 * bias and reads padded taps as the zero point.
 * With depth multiplier 1 (the common case) each pixel's channels are
 * accumulated over its valid taps (a rectangle) a group at a time, the
 * accumulators staying in registers: 16 channels with SSE2, 4 with the Arm
 * DSP extension (SXTB16 + SMLABB/SMLATT) or portable C.
 */
#include "dot.h"
#include "fixedpoint.h"
#include "kernels.h"

/* Adds zp * w over the padded taps (outside the valid rectangle) for the
 * n channels starting at w (filter pointer at channel c, tap 0). */
static inline void add_padding(int32_t *acc, int32_t n, const int8_t *w, int32_t channels,
                               int32_t k_h, int32_t k_w, int32_t ky0, int32_t ky1, int32_t kx0,
                               int32_t kx1, int32_t zero_point)
{
    for (int32_t ky = 0; ky < k_h; ++ky) {
        for (int32_t kx = 0; kx < k_w; ++kx) {
            if (ky >= ky0 && ky < ky1 && kx >= kx0 && kx < kx1) {
                continue;
            }
            const int8_t *wt = w + (ky * k_w + kx) * channels;
            for (int32_t i = 0; i < n; ++i) {
                acc[i] += zero_point * wt[i];
            }
        }
    }
}

#if defined(TL_DOT_DSP)
/* The valid taps of one output pixel (a rectangle of the filter). */
typedef struct dw_window {
    const int8_t *x;          /* input, channel 0 at the first valid tap */
    const int8_t *w;          /* filter, channel 0 at the first valid tap */
    int32_t rows, span;       /* valid tap rows; bytes of one valid row */
    int32_t x_row, w_row;     /* bytes from one tap row to the next */
    int32_t ky0, ky1, kx0, kx1;
    int padded;
} dw_window;

/* Every channel group of one pixel with dilation 1 on the Arm DSP
 * extension: input and filter advance by the same step (one channel row),
 * so one index walks both. Out of line on purpose: inlined into the pixel
 * loops, gcc kept their counters in registers and spilled the tap loop's
 * (21 instructions a tap); on its own the tap loop needs 12 registers. */
static void __attribute__((noinline)) depthwise_pixel_dsp(const tl_conv_params *params,
                                                          const dw_window *win, int8_t *out)
{
    const tl_conv_params p = *params;
    const dw_window v = *win;
    const int32_t channels = p.out_c;
    const int8_t *filter = (const int8_t *)p.filter;
    const int32_t zero_point = -p.input_offset;
    /* The zero point in both halves, for the padded taps. */
    const int32_t zp2 = (int32_t)(((uint32_t)zero_point << 16) | ((uint32_t)zero_point & 0xFFFF));
    for (int32_t c = 0; c + 4 <= channels; c += 4) {
        int32_t a0 = p.bias[c], a1 = p.bias[c + 1], a2 = p.bias[c + 2], a3 = p.bias[c + 3];
        const int8_t *xr = v.x + c, *wr = v.w + c;
        for (int32_t r = 0; r < v.rows; ++r, xr += v.x_row, wr += v.w_row) {
            for (int32_t i = 0; i < v.span; i += channels) {
                /* Even channels from SXTB16, odd from SXTB16 ROR 8;
                 * SMLABB / SMLATT take the low / high halves. */
                const uint32_t xv = tl_load32(xr + i), wv = tl_load32(wr + i);
                const int32_t xe = __sxtb16(xv), we = __sxtb16(wv);
                const int32_t xo = tl_sxtb16_ror8(xv), wo = tl_sxtb16_ror8(wv);
                a0 = __smlabb(xe, we, a0);
                a2 = __smlatt(xe, we, a2);
                a1 = __smlabb(xo, wo, a1);
                a3 = __smlatt(xo, wo, a3);
            }
        }
        if (v.padded) {
            const int8_t *wt = filter + c;
            for (int32_t ky = 0; ky < p.k_h; ++ky) {
                for (int32_t kx = 0; kx < p.k_w; ++kx, wt += channels) {
                    if (ky >= v.ky0 && ky < v.ky1 && kx >= v.kx0 && kx < v.kx1) {
                        continue;
                    }
                    const uint32_t wv = tl_load32(wt);
                    const int32_t we = __sxtb16(wv), wo = tl_sxtb16_ror8(wv);
                    a0 = __smlabb(zp2, we, a0);
                    a2 = __smlatt(zp2, we, a2);
                    a1 = __smlabb(zp2, wo, a1);
                    a3 = __smlatt(zp2, wo, a3);
                }
            }
        }
        const int32_t acc[4] = { a0, a1, a2, a3 };
        for (int32_t k = 0; k < 4; ++k) {
            const int32_t q = tl_requantize_dsp(acc[k], p.multiplier[c + k], p.shift[c + k]);
            out[c + k] = tl_clamp_s8(q + p.output_offset, p.act_min, p.act_max);
        }
    }
}
#endif

static void depthwise_multiplier_one(const tl_conv_params *params)
{
    const tl_conv_params p = *params; /* local: int8 stores cannot alias it */
    const int8_t *filter = (const int8_t *)p.filter;
    const int32_t zero_point = -p.input_offset;
    const int32_t channels = p.out_c;
    const int32_t row_stride = p.in_w * channels;
    const int32_t tap_x = p.dilation_w * channels;
    for (int32_t b = 0; b < p.batches; ++b) {
        const int8_t *image = p.input + b * p.in_h * row_stride;
        int8_t *out = p.output + b * p.out_h * p.out_w * channels;
        for (int32_t oy = 0; oy < p.out_h; ++oy) {
            const int32_t iy0 = oy * p.stride_h - p.pad_top;
            int32_t ky0, ky1;
            tl_valid_taps(iy0, p.k_h, p.dilation_h, p.in_h, &ky0, &ky1);
            for (int32_t ox = 0; ox < p.out_w; ++ox, out += channels) {
                const int32_t ix0 = ox * p.stride_w - p.pad_left;
                int32_t kx0, kx1;
                tl_valid_taps(ix0, p.k_w, p.dilation_w, p.in_w, &kx0, &kx1);
                const int padded = zero_point != 0 &&
                                   (ky0 > 0 || ky1 < p.k_h || kx0 > 0 || kx1 < p.k_w);
                /* Pointer to input channel 0 at the first valid tap. */
                const int8_t *origin = image + (iy0 + ky0 * p.dilation_h) * row_stride +
                                       (ix0 + kx0 * p.dilation_w) * channels;
                int32_t c = 0;
#if defined(TL_DOT_DSP)
                if (p.dilation_w == 1) {
                    const dw_window win = { origin, filter + (ky0 * p.k_w + kx0) * channels,
                                            ky1 - ky0, (kx1 - kx0) * channels,
                                            p.dilation_h * row_stride, p.k_w * channels,
                                            ky0, ky1, kx0, kx1, padded };
                    depthwise_pixel_dsp(&p, &win, out);
                    c = channels & ~3;
                }
#endif
#if defined(TL_DOT_SSE2)
                for (; c + 16 <= channels; c += 16) {
                    /* 16 channels: int16 products (lo, hi halves) widened to int32. */
                    __m128i s0 = _mm_setzero_si128(), s1 = s0, s2 = s0, s3 = s0;
                    for (int32_t ky = ky0; ky < ky1; ++ky) {
                        const int8_t *x = origin + (ky - ky0) * p.dilation_h * row_stride + c;
                        const int8_t *w = filter + (ky * p.k_w + kx0) * channels + c;
                        for (int32_t kx = kx0; kx < kx1; ++kx, x += tap_x, w += channels) {
                            const __m128i xv = _mm_loadu_si128((const __m128i *)(const void *)x);
                            const __m128i wv = _mm_loadu_si128((const __m128i *)(const void *)w);
                            const __m128i xl = tl_lo_s16(xv), wl = tl_lo_s16(wv);
                            const __m128i xh = tl_hi_s16(xv), wh = tl_hi_s16(wv);
                            const __m128i l_lo = _mm_mullo_epi16(xl, wl), l_hi = _mm_mulhi_epi16(xl, wl);
                            const __m128i h_lo = _mm_mullo_epi16(xh, wh), h_hi = _mm_mulhi_epi16(xh, wh);
                            s0 = _mm_add_epi32(s0, _mm_unpacklo_epi16(l_lo, l_hi));
                            s1 = _mm_add_epi32(s1, _mm_unpackhi_epi16(l_lo, l_hi));
                            s2 = _mm_add_epi32(s2, _mm_unpacklo_epi16(h_lo, h_hi));
                            s3 = _mm_add_epi32(s3, _mm_unpackhi_epi16(h_lo, h_hi));
                        }
                    }
                    int32_t acc[16];
                    _mm_storeu_si128((__m128i *)(void *)(acc + 0), s0);
                    _mm_storeu_si128((__m128i *)(void *)(acc + 4), s1);
                    _mm_storeu_si128((__m128i *)(void *)(acc + 8), s2);
                    _mm_storeu_si128((__m128i *)(void *)(acc + 12), s3);
                    for (int32_t i = 0; i < 16; ++i) {
                        acc[i] += p.bias[c + i];
                    }
                    if (padded) {
                        add_padding(acc, 16, filter + c, channels, p.k_h, p.k_w, ky0, ky1, kx0, kx1, zero_point);
                    }
                    for (int32_t i = 0; i < 16; ++i) {
                        const int32_t v = tl_requantize(acc[i], p.multiplier[c + i], p.shift[c + i]);
                        out[c + i] = tl_clamp_s8(v + p.output_offset, p.act_min, p.act_max);
                    }
                }
#endif
                for (; c + 4 <= channels; c += 4) {
                    /* Four channels in registers over all valid taps. */
                    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
                    for (int32_t ky = ky0; ky < ky1; ++ky) {
                        const int8_t *x = origin + (ky - ky0) * p.dilation_h * row_stride + c;
                        const int8_t *w = filter + (ky * p.k_w + kx0) * channels + c;
                        for (int32_t kx = kx0; kx < kx1; ++kx, x += tap_x, w += channels) {
#if defined(TL_DOT_DSP)
                            /* Even channels from SXTB16, odd from SXTB16 ROR 8;
                             * SMLABB / SMLATT take the low / high halves. */
                            const uint32_t xv = tl_load32(x), wv = tl_load32(w);
                            const int32_t xe = __sxtb16(xv), we = __sxtb16(wv);
                            const int32_t xo = tl_sxtb16_ror8(xv), wo = tl_sxtb16_ror8(wv);
                            a0 = __smlabb(xe, we, a0);
                            a2 = __smlatt(xe, we, a2);
                            a1 = __smlabb(xo, wo, a1);
                            a3 = __smlatt(xo, wo, a3);
#else
                            a0 += x[0] * w[0];
                            a1 += x[1] * w[1];
                            a2 += x[2] * w[2];
                            a3 += x[3] * w[3];
#endif
                        }
                    }
                    int32_t acc[4] = { a0 + p.bias[c], a1 + p.bias[c + 1], a2 + p.bias[c + 2], a3 + p.bias[c + 3] };
                    if (padded) {
                        add_padding(acc, 4, filter + c, channels, p.k_h, p.k_w, ky0, ky1, kx0, kx1, zero_point);
                    }
                    for (int32_t i = 0; i < 4; ++i) {
                        const int32_t v = tl_requantize(acc[i], p.multiplier[c + i], p.shift[c + i]);
                        out[c + i] = tl_clamp_s8(v + p.output_offset, p.act_min, p.act_max);
                    }
                }
                for (; c < channels; ++c) {
                    int32_t acc = p.bias[c];
                    for (int32_t ky = ky0; ky < ky1; ++ky) {
                        const int8_t *x = origin + (ky - ky0) * p.dilation_h * row_stride + c;
                        const int8_t *w = filter + (ky * p.k_w + kx0) * channels + c;
                        for (int32_t kx = kx0; kx < kx1; ++kx, x += tap_x, w += channels) {
                            acc += x[0] * w[0];
                        }
                    }
                    if (padded) {
                        add_padding(&acc, 1, filter + c, channels, p.k_h, p.k_w, ky0, ky1, kx0, kx1, zero_point);
                    }
                    const int32_t v = tl_requantize(acc, p.multiplier[c], p.shift[c]);
                    out[c] = tl_clamp_s8(v + p.output_offset, p.act_min, p.act_max);
                }
            }
        }
    }
}

/* Any depth multiplier: one output channel at a time. */
static void depthwise_general(const tl_conv_params *params)
{
    const tl_conv_params p = *params;
    const int8_t *filter = (const int8_t *)p.filter;
    const int32_t zero_point = -p.input_offset;
    const int32_t row_stride = p.in_w * p.in_c;
    for (int32_t b = 0; b < p.batches; ++b) {
        const int8_t *image = p.input + b * p.in_h * row_stride;
        int8_t *out = p.output + b * p.out_h * p.out_w * p.out_c;
        for (int32_t oy = 0; oy < p.out_h; ++oy) {
            const int32_t iy0 = oy * p.stride_h - p.pad_top;
            for (int32_t ox = 0; ox < p.out_w; ++ox, out += p.out_c) {
                const int32_t ix0 = ox * p.stride_w - p.pad_left;
                for (int32_t oc = 0; oc < p.out_c; ++oc) {
                    const int32_t ic = oc / p.depth_multiplier;
                    int32_t acc = p.bias[oc];
                    for (int32_t ky = 0; ky < p.k_h; ++ky) {
                        const int32_t iy = iy0 + ky * p.dilation_h;
                        for (int32_t kx = 0; kx < p.k_w; ++kx) {
                            const int32_t ix = ix0 + kx * p.dilation_w;
                            const int32_t w = filter[(ky * p.k_w + kx) * p.out_c + oc];
                            const int inside = iy >= 0 && iy < p.in_h && ix >= 0 && ix < p.in_w;
                            acc += (inside ? image[iy * row_stride + ix * p.in_c + ic] : zero_point) * w;
                        }
                    }
                    const int32_t v = tl_requantize(acc, p.multiplier[oc], p.shift[oc]);
                    out[oc] = tl_clamp_s8(v + p.output_offset, p.act_min, p.act_max);
                }
            }
        }
    }
}

void tl_depthwise_conv2d_s8(const tl_conv_params *p)
{
    if (p->depth_multiplier == 1) {
        depthwise_multiplier_one(p);
    } else {
        depthwise_general(p);
    }
}
