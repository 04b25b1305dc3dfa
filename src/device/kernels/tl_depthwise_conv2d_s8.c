/* tl_depthwise_conv2d_s8.c - DEPTHWISE_CONV_2D, int8, per-channel requant.
 *
 * Output channel oc = ic * depth_multiplier + m reads only input channel ic.
 * Filter [1, k_h, k_w, out_c]. Like the dense kernel it gets the effective
 * bias and reads padded taps as the zero point.
 * With depth multiplier 1 (the common case) channels are the inner loop:
 * for each pixel, 16 channels at a time are accumulated over all taps, so
 * input and filter are read contiguously (SSE2 does the 16 at once).
 */
#include "dot.h"
#include "fixedpoint.h"
#include "kernels.h"

enum { CHUNK = 16 };

/* acc[i] += x[i] * w[i], i < n (n <= CHUNK). */
static inline void mac_chunk(int32_t *acc, const int8_t *x, const int8_t *w, int32_t n)
{
    for (int32_t i = 0; i < n; ++i) {
        acc[i] += x[i] * w[i];
    }
}

static void depthwise_multiplier_one(const tl_conv_params *params)
{
    const tl_conv_params p = *params;
    const int8_t *filter = (const int8_t *)p.filter;
    const int32_t zero_point = -p.input_offset;
    const int32_t channels = p.out_c;
    const int32_t row_stride = p.in_w * channels;
    for (int32_t b = 0; b < p.batches; ++b) {
        const int8_t *image = p.input + b * p.in_h * row_stride;
        int8_t *out = p.output + b * p.out_h * p.out_w * channels;
        for (int32_t oy = 0; oy < p.out_h; ++oy) {
            const int32_t iy0 = oy * p.stride_h - p.pad_top;
            for (int32_t ox = 0; ox < p.out_w; ++ox, out += channels) {
                const int32_t ix0 = ox * p.stride_w - p.pad_left;
                for (int32_t c0 = 0; c0 < channels; c0 += CHUNK) {
                    const int32_t n = channels - c0 < CHUNK ? channels - c0 : CHUNK;
                    int32_t acc[CHUNK];
#if defined(TL_DOT_SSE2)
                    __m128i s0 = _mm_setzero_si128(), s1 = s0, s2 = s0, s3 = s0;
#endif
                    for (int32_t i = 0; i < n; ++i) {
                        acc[i] = p.bias[c0 + i];
                    }
                    for (int32_t ky = 0; ky < p.k_h; ++ky) {
                        const int32_t iy = iy0 + ky * p.dilation_h;
                        for (int32_t kx = 0; kx < p.k_w; ++kx) {
                            const int32_t ix = ix0 + kx * p.dilation_w;
                            const int8_t *w = filter + (ky * p.k_w + kx) * channels + c0;
                            if (iy < 0 || iy >= p.in_h || ix < 0 || ix >= p.in_w) {
                                for (int32_t i = 0; i < n; ++i) {
                                    acc[i] += zero_point * w[i];
                                }
                                continue;
                            }
                            const int8_t *x = image + iy * row_stride + ix * channels + c0;
#if defined(TL_DOT_SSE2)
                            if (n == CHUNK) {
                                /* 16 products as int16 pairs (lo, hi), widened to int32. */
                                const __m128i xv = _mm_loadu_si128((const __m128i *)(const void *)x);
                                const __m128i wv = _mm_loadu_si128((const __m128i *)(const void *)w);
                                const __m128i xl = tl_lo_s16(xv), wl = tl_lo_s16(wv);
                                const __m128i xh = tl_hi_s16(xv), wh = tl_hi_s16(wv);
                                const __m128i pl_lo = _mm_mullo_epi16(xl, wl), pl_hi = _mm_mulhi_epi16(xl, wl);
                                const __m128i ph_lo = _mm_mullo_epi16(xh, wh), ph_hi = _mm_mulhi_epi16(xh, wh);
                                s0 = _mm_add_epi32(s0, _mm_unpacklo_epi16(pl_lo, pl_hi));
                                s1 = _mm_add_epi32(s1, _mm_unpackhi_epi16(pl_lo, pl_hi));
                                s2 = _mm_add_epi32(s2, _mm_unpacklo_epi16(ph_lo, ph_hi));
                                s3 = _mm_add_epi32(s3, _mm_unpackhi_epi16(ph_lo, ph_hi));
                                continue;
                            }
#endif
                            mac_chunk(acc, x, w, n);
                        }
                    }
#if defined(TL_DOT_SSE2)
                    if (n == CHUNK) {
                        int32_t sums[CHUNK];
                        _mm_storeu_si128((__m128i *)(void *)(sums + 0), s0);
                        _mm_storeu_si128((__m128i *)(void *)(sums + 4), s1);
                        _mm_storeu_si128((__m128i *)(void *)(sums + 8), s2);
                        _mm_storeu_si128((__m128i *)(void *)(sums + 12), s3);
                        for (int32_t i = 0; i < CHUNK; ++i) {
                            acc[i] += sums[i];
                        }
                    }
#endif
                    for (int32_t i = 0; i < n; ++i) {
                        const int32_t v = tl_requantize(acc[i], p.multiplier[c0 + i], p.shift[c0 + i]);
                        out[c0 + i] = tl_clamp_s8(v + p.output_offset, p.act_min, p.act_max);
                    }
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
