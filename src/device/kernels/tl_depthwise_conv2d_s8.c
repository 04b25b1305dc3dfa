/* tl_depthwise_conv2d_s8.c - DEPTHWISE_CONV_2D, int8, per-channel requant.
 *
 * Output channel oc = ic * depth_multiplier + m reads only input channel ic.
 * Filter [1, k_h, k_w, out_c]. Like the dense kernel it gets the effective
 * bias and reads padded taps as the zero point.
 * With depth multiplier 1 (the common case) each pixel's channels are
 * accumulated over its valid taps (a rectangle) a group at a time, the
 * accumulators staying in registers: 16 channels with SSE2, 4 in portable
 * C. The Arm DSP extension has its own path (depthwise_dsp: a table of
 * each pixel's taps, SXTB16 + SMLABB/SMLATT, 4 channels at a time).
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
/* Limits of the DSP path's stack tables: taps of the filter, and channels
 * of the zero-point row that padded taps read. Larger layers take
 * depthwise_general. */
#define DW_TAPS_MAX 49
#define DW_CHANNELS_MAX 256

/* Every channel group of one pixel on the Arm DSP extension. taps[t] is
 * where tap t's channels start: the input, or for a padded tap a row of
 * zero points, so border pixels run the same loop as interior ones with no
 * correction afterwards (adding zp x w over the padded taps, once a
 * quarter of KWS's depthwise time). Out of line on purpose: inlined into
 * the pixel loops, gcc spilled the tap loop's registers. */
static void __attribute__((noinline)) depthwise_pixel_dsp(const tl_conv_params *params,
                                                          const int8_t *const *taps, int32_t count,
                                                          int8_t *out)
{
    const int32_t channels = params->out_c;
    const int8_t *filter = (const int8_t *)params->filter;
    const int32_t *bias = params->bias, *multiplier = params->multiplier, *shift = params->shift;
    const int32_t output_offset = params->output_offset;
    const int32_t act_min = params->act_min, act_max = params->act_max;
    for (int32_t c = 0; c + 4 <= channels; c += 4) {
        int32_t a0 = bias[c], a1 = bias[c + 1], a2 = bias[c + 2], a3 = bias[c + 3];
        const int8_t *w = filter + c;
        for (int32_t t = 0; t < count; ++t, w += channels) {
            /* Even channels from SXTB16, odd from SXTB16 ROR 8;
             * SMLABB / SMLATT take the low / high halves. */
            const uint32_t xv = tl_load32(taps[t] + c), wv = tl_load32(w);
            const int32_t xe = __sxtb16(xv), we = __sxtb16(wv);
            const int32_t xo = tl_sxtb16_ror8(xv), wo = tl_sxtb16_ror8(wv);
            a0 = __smlabb(xe, we, a0);
            a2 = __smlatt(xe, we, a2);
            a1 = __smlabb(xo, wo, a1);
            a3 = __smlatt(xo, wo, a3);
        }
        const int32_t acc[4] = { a0, a1, a2, a3 };
        for (int32_t k = 0; k < 4; ++k) {
            const int32_t q = tl_requantize_dsp(acc[k], multiplier[c + k], shift[c + k]);
            out[c + k] = tl_clamp_s8(q + output_offset, act_min, act_max);
        }
    }
}

/* The whole layer on the DSP path (depth multiplier 1, within the limits). */
static void depthwise_dsp(const tl_conv_params *params)
{
    const tl_conv_params p = *params;
    const int32_t channels = p.out_c;
    const int32_t row_stride = p.in_w * channels;
    int8_t zero_row[DW_CHANNELS_MAX];
    const int8_t *taps[DW_TAPS_MAX];
    for (int32_t c = 0; c < channels; ++c) {
        zero_row[c] = (int8_t)-p.input_offset;
    }
    for (int32_t b = 0; b < p.batches; ++b) {
        const int8_t *image = p.input + b * p.in_h * row_stride;
        int8_t *out = p.output + b * p.out_h * p.out_w * channels;
        for (int32_t oy = 0; oy < p.out_h; ++oy) {
            const int32_t iy0 = oy * p.stride_h - p.pad_top;
            for (int32_t ox = 0; ox < p.out_w; ++ox, out += channels) {
                const int32_t ix0 = ox * p.stride_w - p.pad_left;
                int32_t t = 0;
                for (int32_t ky = 0; ky < p.k_h; ++ky) {
                    const int32_t iy = iy0 + ky * p.dilation_h;
                    for (int32_t kx = 0; kx < p.k_w; ++kx, ++t) {
                        const int32_t ix = ix0 + kx * p.dilation_w;
                        taps[t] = iy >= 0 && iy < p.in_h && ix >= 0 && ix < p.in_w
                                      ? image + iy * row_stride + ix * channels
                                      : zero_row;
                    }
                }
                depthwise_pixel_dsp(&p, taps, t, out);
                /* The last channels % 4, one at a time. */
                for (int32_t c = channels & ~3; c < channels; ++c) {
                    int32_t acc = p.bias[c];
                    for (int32_t i = 0; i < t; ++i) {
                        acc += taps[i][c] * ((const int8_t *)p.filter)[i * channels + c];
                    }
                    const int32_t q = tl_requantize_dsp(acc, p.multiplier[c], p.shift[c]);
                    out[c] = tl_clamp_s8(q + p.output_offset, p.act_min, p.act_max);
                }
            }
        }
    }
}
#endif

#if !defined(TL_DOT_DSP) /* the DSP build runs depthwise_dsp, else depthwise_general */
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
                            a0 += x[0] * w[0];
                            a1 += x[1] * w[1];
                            a2 += x[2] * w[2];
                            a3 += x[3] * w[3];
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
#endif

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
#if defined(TL_DOT_DSP)
    /* Layers beyond the tap table's limits take the general loop: rare
     * enough not to carry a second depth-multiplier-one path in flash. */
    if (p->depth_multiplier == 1 && p->k_h * p->k_w <= DW_TAPS_MAX && p->out_c <= DW_CHANNELS_MAX) {
        depthwise_dsp(p);
    } else {
        depthwise_general(p);
    }
#else
    if (p->depth_multiplier == 1) {
        depthwise_multiplier_one(p);
    } else {
        depthwise_general(p);
    }
#endif
}
