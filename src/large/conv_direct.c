/* conv_direct.c - direct convolution kernels for stride-1 convolutions.
 *
 * im2col + GEMM copies every input pixel KH*KW times, OpenBLAS packs the
 * copy again, and the input gradient needs a zeroed column buffer and a
 * col2im scatter. These kernels read a zero-padded copy of one image
 * instead and keep a block of output pixels x up to 3 vectors of output
 * channels in registers across the whole KH*KW*C reduction (each step: the
 * filter vectors, one broadcast input and one fused multiply-add per vector
 * for each pixel).
 * The input gradient of a stride-1 convolution is the same computation on
 * the padded output gradient with the filters turned round, so one kernel
 * serves both.
 *
 * Built twice from conv_direct_kernels.h: for AVX-512 (16 floats a vector,
 * blocks of 7 pixels x 48 channels) and for AVX2 with FMA (8 floats, 4 x
 * 24), the widest the CPU runs chosen at run time; elsewhere
 * tl_conv_direct_available() is 0 and the layers use im2col + GEMM. The
 * filters come packed by block of output channels, so a block reads its
 * filters in order (read with a stride of all the output channels, the
 * teacher's 96- and 192-channel layers missed the cache on AVX2).
 */
#include <string.h>

#include "conv_direct.h"

/* Most vectors of output channels a register block holds (both widths). */
#define MAXV 3

/* Vectors of output channels the next register block takes, of `left`:
 * MAXV where that does not leave an awkward rest (4 = 2 + 2). Also decides
 * how the filters are packed. */
static inline int block_vectors(int left)
{
    return left >= MAXV && left != MAXV + 1 ? MAXV : left >= 2 ? 2 : 1;
}

#if defined(__GNUC__) && defined(__x86_64__)

#include <immintrin.h>

#define INLINE static inline __attribute__((always_inline))

/* BLOCK (pixels a register block holds) is set per instruction set. */

int tl_conv_direct_available(void)
{
    /* libgcc fills the CPU model before main; finalize may run on several
     * threads at once, so no __builtin_cpu_init here. */
    if (__builtin_cpu_supports("avx512f")) {
        return 16;
    }
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? 8 : 0;
}

#define KERNEL __attribute__((target("avx512f")))
#define VEC __m512
#define LANES 16
#define VLOAD(p) _mm512_loadu_ps(p)
#define VSTORE(p, v) _mm512_storeu_ps((p), (v))
#define VADD(a, b) _mm512_add_ps((a), (b))
#define VFMA(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define VSET1(f) _mm512_set1_ps(f)
#define VZERO() _mm512_setzero_ps()
#define BLOCK 7
#define GRAD_IB 8
#define NAME(f) f##_avx512
#include "conv_direct_kernels.h"
#undef KERNEL
#undef VEC
#undef LANES
#undef VLOAD
#undef VSTORE
#undef VADD
#undef VFMA
#undef VSET1
#undef VZERO
#undef BLOCK
#undef GRAD_IB
#undef NAME

#define KERNEL __attribute__((target("avx2,fma")))
#define VEC __m256
#define LANES 8
#define VLOAD(p) _mm256_loadu_ps(p)
#define VSTORE(p, v) _mm256_storeu_ps((p), (v))
#define VADD(a, b) _mm256_add_ps((a), (b))
#define VFMA(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#define VSET1(f) _mm256_set1_ps(f)
#define VZERO() _mm256_setzero_ps()
#define BLOCK 4
#define GRAD_IB 4
#define NAME(f) f##_avx2
#include "conv_direct_kernels.h"

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

void tl_conv_direct_image(const tl_conv_direct_shape *s, int lanes, const float *in, const float *w,
                          const float *bias, int accumulate, float *out, float *padded)
{
    pad_image(s, in, padded);
    const int pad_w = s->out_w + s->k_w - 1;
    if (lanes == 16) {
        image_avx512(padded, pad_w, s->in_c, s->k_h, s->k_w, w, s->out_c, bias, accumulate, out, s->out_h, s->out_w);
    } else {
        image_avx2(padded, pad_w, s->in_c, s->k_h, s->k_w, w, s->out_c, bias, accumulate, out, s->out_h, s->out_w);
    }
}

void tl_conv_direct_filter_grad(const tl_conv_direct_shape *s, int lanes, const float *in, const float *dy,
                                float *dw, float *padded)
{
    pad_image(s, in, padded);
    const int pad_w = s->out_w + s->k_w - 1;
    if (lanes == 16) {
        grad_image_avx512(padded, pad_w, s->in_c, s->k_h, s->k_w, dy, s->out_c, s->out_h, s->out_w, dw);
    } else {
        grad_image_avx2(padded, pad_w, s->in_c, s->k_h, s->k_w, dy, s->out_c, s->out_h, s->out_w, dw);
    }
}

#else /* no direct kernels on this compiler or CPU */

int tl_conv_direct_available(void)
{
    return 0;
}

void tl_conv_direct_image(const tl_conv_direct_shape *s, int lanes, const float *in, const float *w,
                          const float *bias, int accumulate, float *out, float *padded)
{
    (void)s, (void)lanes, (void)in, (void)w, (void)bias, (void)accumulate, (void)out, (void)padded;
}

void tl_conv_direct_filter_grad(const tl_conv_direct_shape *s, int lanes, const float *in, const float *dy,
                                float *dw, float *padded)
{
    (void)s, (void)lanes, (void)in, (void)dy, (void)dw, (void)padded;
}

#endif

void tl_conv_direct_filter_column(int lanes, int oc, size_t rows, int o, size_t *first, size_t *stride)
{
    int c0 = 0, width = lanes;
    while (c0 < oc) {
        width = block_vectors((oc - c0) / lanes) * lanes;
        if (o < c0 + width) {
            break;
        }
        c0 += width;
    }
    *first = (size_t)c0 * rows + (size_t)(o - c0);
    *stride = (size_t)width;
}

size_t tl_conv_direct_padded_size(const tl_conv_direct_shape *s)
{
    return (size_t)(s->out_h + s->k_h - 1) * (s->out_w + s->k_w - 1) * s->in_c;
}

int tl_conv_direct_shape_ok(const tl_conv_direct_shape *s, int lanes)
{
    /* Every input pixel lands inside the padded image (pad bottom/right >= 0). */
    return lanes > 0 && s->out_c % lanes == 0 && s->pad_top >= 0 && s->pad_left >= 0 &&
           s->pad_top + s->in_h <= s->out_h + s->k_h - 1 && s->pad_left + s->in_w <= s->out_w + s->k_w - 1;
}
