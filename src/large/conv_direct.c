/* conv_direct.c - direct convolution kernels for stride-1 convolutions.
 *
 * im2col + GEMM copies every input pixel KH*KW times, OpenBLAS packs the
 * copy again, and the input gradient needs a zeroed column buffer and a
 * col2im scatter. These kernels read a zero-padded copy of one image
 * instead and keep a block of 7 output pixels x up to 48 output channels in
 * registers across the whole KH*KW*C reduction (each step: 3 filter vectors,
 * 7 broadcast inputs, 21 fused multiply-adds). The input gradient of a
 * stride-1 convolution is the same computation on the padded output
 * gradient with the filters turned round, so one kernel serves both.
 *
 * Built for AVX-512 (16 floats per vector, fused multiply-add intrinsics)
 * and chosen at run time; elsewhere tl_conv_direct_available() is 0 and the
 * layers use im2col + GEMM.
 */
#include <string.h>

#include "conv_direct.h"

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)

#include <immintrin.h>

#define KERNEL __attribute__((target("avx512f")))
#define INLINE static inline __attribute__((always_inline))

enum { LANES = 16, BLOCK = 7 }; /* BLOCK: 28, 14 and 7 pixel rows split evenly */

int tl_conv_direct_available(void)
{
    /* libgcc fills the CPU model before main; finalize may run on several
     * threads at once, so no __builtin_cpu_init here. */
    return __builtin_cpu_supports("avx512f") != 0;
}

/* out[j][v] (+)= init + sum over taps and input channels, for PB pixels x
 * NV vectors of output channels. x: the padded input at the block's first
 * pixel; w: filters [KH][KW][XC][OC] at the block's first output channel. */
KERNEL INLINE void block(const float *x, int xc, size_t x_row, int kh, int kw, const float *w, int oc,
                         const float *init, int accumulate, float *out, const int PB, const int NV)
{
    __m512 acc[BLOCK][3];
    for (int j = 0; j < PB; ++j) {
        for (int v = 0; v < NV; ++v) {
            acc[j][v] = init ? _mm512_loadu_ps(init + v * LANES) : _mm512_setzero_ps();
        }
    }
    for (int ky = 0; ky < kh; ++ky) {
        for (int kx = 0; kx < kw; ++kx) {
            const float *xp = x + ky * x_row + (size_t)kx * xc;
            const float *wp = w + (size_t)(ky * kw + kx) * xc * oc;
            for (int i = 0; i < xc; ++i, wp += oc) {
                __m512 wv[3];
                for (int v = 0; v < NV; ++v) {
                    wv[v] = _mm512_loadu_ps(wp + v * LANES);
                }
                for (int j = 0; j < PB; ++j) {
                    const __m512 s = _mm512_set1_ps(xp[(size_t)j * xc + i]);
                    for (int v = 0; v < NV; ++v) {
                        acc[j][v] = _mm512_fmadd_ps(s, wv[v], acc[j][v]);
                    }
                }
            }
        }
    }
    for (int j = 0; j < PB; ++j) {
        for (int v = 0; v < NV; ++v) {
            float *o = out + (size_t)j * oc + v * LANES;
            _mm512_storeu_ps(o, accumulate ? _mm512_add_ps(_mm512_loadu_ps(o), acc[j][v]) : acc[j][v]);
        }
    }
}

/* One output row: blocks of BLOCK pixels, then single pixels. */
KERNEL INLINE void row(const float *x, int xc, size_t x_row, int kh, int kw, const float *w, int oc,
                       const float *init, int accumulate, float *out, int out_w, const int NV)
{
    int ox = 0;
    for (; ox + BLOCK <= out_w; ox += BLOCK) {
        block(x + (size_t)ox * xc, xc, x_row, kh, kw, w, oc, init, accumulate, out + (size_t)ox * oc, BLOCK, NV);
    }
    for (; ox < out_w; ++ox) {
        block(x + (size_t)ox * xc, xc, x_row, kh, kw, w, oc, init, accumulate, out + (size_t)ox * oc, 1, NV);
    }
}

KERNEL static void image(const float *padded, int pad_w, int xc, int kh, int kw, const float *w, int oc,
                         const float *bias, int accumulate, float *out, int out_h, int out_w)
{
    const size_t x_row = (size_t)pad_w * xc;
    for (int oy = 0; oy < out_h; ++oy) {
        const float *x = padded + oy * x_row;
        float *o = out + (size_t)oy * out_w * oc;
        for (int c0 = 0; c0 < oc; ) {
            const int left = (oc - c0) / LANES;
            const int nv = left >= 3 && left != 4 ? 3 : left >= 2 ? 2 : 1; /* 4 = 2 + 2 */
            const float *init = bias ? bias + c0 : NULL;
            if (nv == 3) {
                row(x, xc, x_row, kh, kw, w + c0, oc, init, accumulate, o + c0, out_w, 3);
            } else if (nv == 2) {
                row(x, xc, x_row, kh, kw, w + c0, oc, init, accumulate, o + c0, out_w, 2);
            } else {
                row(x, xc, x_row, kh, kw, w + c0, oc, init, accumulate, o + c0, out_w, 1);
            }
            c0 += nv * LANES;
        }
    }
}

/* The zero-padded copy of one input image. */
static void pad_image(const tl_conv_direct_shape *s, const float *in, float *padded)
{
    const int pad_h = s->out_h + s->k_h - 1, pad_w = s->out_w + s->k_w - 1;
    const size_t pixel = (size_t)s->in_c * sizeof(float);
    memset(padded, 0, (size_t)pad_h * pad_w * pixel);
    for (int y = 0; y < s->in_h; ++y) {
        memcpy(padded + ((size_t)(y + s->pad_top) * pad_w + s->pad_left) * s->in_c, in + (size_t)y * s->in_w * s->in_c,
               (size_t)s->in_w * pixel);
    }
}

void tl_conv_direct_image(const tl_conv_direct_shape *s, const float *in, const float *w, const float *bias,
                          int accumulate, float *out, float *padded)
{
    pad_image(s, in, padded);
    image(padded, s->out_w + s->k_w - 1, s->in_c, s->k_h, s->k_w, w, s->out_c, bias, accumulate, out, s->out_h,
          s->out_w);
}

/* The filter gradient of one image: dw[ky][kx][i][o] += sum over output
 * pixels p of x(p shifted by ky, kx)[i] * dy[p][o], for IB input channels x
 * NV vectors of output channels held in registers over the whole image.
 * x: the padded input at (ky, kx) and the block's first input channel; dy
 * and dw at the block's first output channel. */
KERNEL INLINE void grad_block(const float *x, int xc, int pad_w, const float *dy, int out_h, int out_w, int oc,
                              float *dw, const int IB, const int NV)
{
    __m512 acc[8][3];
    for (int i = 0; i < IB; ++i) {
        for (int v = 0; v < NV; ++v) {
            acc[i][v] = _mm512_loadu_ps(dw + (size_t)i * oc + v * LANES);
        }
    }
    for (int oy = 0; oy < out_h; ++oy) {
        const float *xr = x + (size_t)oy * pad_w * xc;
        const float *dr = dy + (size_t)oy * out_w * oc;
        for (int ox = 0; ox < out_w; ++ox, xr += xc, dr += oc) {
            __m512 d[3];
            for (int v = 0; v < NV; ++v) {
                d[v] = _mm512_loadu_ps(dr + v * LANES);
            }
            for (int i = 0; i < IB; ++i) {
                const __m512 s = _mm512_set1_ps(xr[i]);
                for (int v = 0; v < NV; ++v) {
                    acc[i][v] = _mm512_fmadd_ps(s, d[v], acc[i][v]);
                }
            }
        }
    }
    for (int i = 0; i < IB; ++i) {
        for (int v = 0; v < NV; ++v) {
            _mm512_storeu_ps(dw + (size_t)i * oc + v * LANES, acc[i][v]);
        }
    }
}

/* Blocks of 8 input channels, then single ones, for NV vectors. */
KERNEL INLINE void grad_channels(const float *x, int xc, int pad_w, const float *dy, int out_h, int out_w, int oc,
                                 float *dw, const int NV)
{
    int i = 0;
    for (; i + 8 <= xc; i += 8) {
        grad_block(x + i, xc, pad_w, dy, out_h, out_w, oc, dw + (size_t)i * oc, 8, NV);
    }
    for (; i < xc; ++i) {
        grad_block(x + i, xc, pad_w, dy, out_h, out_w, oc, dw + (size_t)i * oc, 1, NV);
    }
}

KERNEL static void grad_image(const float *padded, int pad_w, int xc, int kh, int kw, const float *dy, int oc,
                              int out_h, int out_w, float *dw)
{
    for (int ky = 0; ky < kh; ++ky) {
        for (int kx = 0; kx < kw; ++kx) {
            const float *x = padded + ((size_t)ky * pad_w + kx) * xc;
            float *d = dw + (size_t)(ky * kw + kx) * xc * oc;
            for (int c0 = 0; c0 < oc;) {
                const int left = (oc - c0) / LANES;
                const int nv = left >= 3 && left != 4 ? 3 : left >= 2 ? 2 : 1;
                if (nv == 3) {
                    grad_channels(x, xc, pad_w, dy + c0, out_h, out_w, oc, d + c0, 3);
                } else if (nv == 2) {
                    grad_channels(x, xc, pad_w, dy + c0, out_h, out_w, oc, d + c0, 2);
                } else {
                    grad_channels(x, xc, pad_w, dy + c0, out_h, out_w, oc, d + c0, 1);
                }
                c0 += nv * LANES;
            }
        }
    }
}

void tl_conv_direct_filter_grad(const tl_conv_direct_shape *s, const float *in, const float *dy, float *dw,
                                float *padded)
{
    const int pad_w = s->out_w + s->k_w - 1;
    pad_image(s, in, padded);
    grad_image(padded, pad_w, s->in_c, s->k_h, s->k_w, dy, s->out_c, s->out_h, s->out_w, dw);
}

#else /* no direct kernels on this compiler or CPU */

int tl_conv_direct_available(void)
{
    return 0;
}

void tl_conv_direct_image(const tl_conv_direct_shape *s, const float *in, const float *w, const float *bias,
                          int accumulate, float *out, float *padded)
{
    (void)s, (void)in, (void)w, (void)bias, (void)accumulate, (void)out, (void)padded;
}

void tl_conv_direct_filter_grad(const tl_conv_direct_shape *s, const float *in, const float *dy, float *dw,
                                float *padded)
{
    (void)s, (void)in, (void)dy, (void)dw, (void)padded;
}

#endif

size_t tl_conv_direct_padded_size(const tl_conv_direct_shape *s)
{
    return (size_t)(s->out_h + s->k_h - 1) * (s->out_w + s->k_w - 1) * s->in_c;
}

int tl_conv_direct_shape_ok(const tl_conv_direct_shape *s)
{
    /* Every input pixel lands inside the padded image (pad bottom/right >= 0). */
    return s->out_c % 16 == 0 && s->pad_top >= 0 && s->pad_left >= 0 &&
           s->pad_top + s->in_h <= s->out_h + s->k_h - 1 && s->pad_left + s->in_w <= s->out_w + s->k_w - 1;
}
