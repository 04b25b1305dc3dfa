/* dot.h - int8 dot products, the inner loop of every convolution.
 *
 * tl_dot4_s8 accumulates four dot products that share one input vector
 * (four output channels over one input window row), so each input byte
 * loaded feeds four multiply-accumulates. One portable C path, plus:
 *   - SSE2 (every x86-64): sign-extend to int16 and pmaddwd, 8 MACs an op;
 *   - Arm DSP extension (Cortex-M4/M7/M33): SXTB16 + SMLAD, 2 MACs an op.
 * All paths are exact: products of int8 values summed in int32 cannot
 * overflow within the loader's limits, so the order of summation does not
 * change the result.
 */
#ifndef TL_DOT_H
#define TL_DOT_H

#include <stdint.h>
#include <string.h>

#include "fixedpoint.h"

#if defined(__SSE2__) && !defined(TL_PORTABLE_KERNELS)
#include <emmintrin.h>
#define TL_DOT_SSE2 1
#elif defined(__ARM_FEATURE_DSP) && !defined(TL_PORTABLE_KERNELS)
#include <arm_acle.h>
#define TL_DOT_DSP 1
#endif

#if defined(TL_DOT_SSE2)
/* Low / high 8 bytes of v, sign-extended to int16. */
static inline __m128i tl_lo_s16(__m128i v)
{
    return _mm_srai_epi16(_mm_unpacklo_epi8(v, v), 8);
}

static inline __m128i tl_hi_s16(__m128i v)
{
    return _mm_srai_epi16(_mm_unpackhi_epi8(v, v), 8);
}

static inline int32_t tl_hsum_s32(__m128i v)
{
    v = _mm_add_epi32(v, _mm_shuffle_epi32(v, 0x4E));
    v = _mm_add_epi32(v, _mm_shuffle_epi32(v, 0xB1));
    return _mm_cvtsi128_si32(v);
}

/* x16 (the sign-extended input halves) dotted with 16 weights. */
static inline __m128i tl_madd16(__m128i xl, __m128i xh, const int8_t *w)
{
    const __m128i wv = _mm_loadu_si128((const __m128i *)(const void *)w);
    return _mm_add_epi32(_mm_madd_epi16(xl, tl_lo_s16(wv)), _mm_madd_epi16(xh, tl_hi_s16(wv)));
}
#endif

#if defined(TL_DOT_DSP)
static inline uint32_t tl_load32(const int8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4); /* one LDR: Cortex-M4 allows unaligned word loads */
    return v;
}

/* tl_requantize (fixedpoint.h) in about eight instructions where |acc| <
 * 2^30 and shift < 0, as for every output of the MLPerf models; the rest
 * take tl_requantize. Exact: TFLite's doubling high multiply is
 * floor((acc * m + 2^30) / 2^31), which is SMMULR's floor((2acc * m +
 * 2^31) / 2^32) once 2acc fits; its rounding shift (ties away from zero)
 * is (x + 2^(e-1) - (x < 0)) >> e, which cannot overflow as |x| < 2^30. */
static inline int32_t tl_requantize_dsp(int32_t acc, int32_t multiplier, int32_t shift)
{
    if (__builtin_expect((uint32_t)acc + 0x40000000u < 0x80000000u && shift < 0, 1)) {
        int32_t x;
        __asm__("smmulr %0, %1, %2" : "=r"(x) : "r"(acc * 2), "r"(multiplier));
        const int32_t e = -shift;
        return (x + (1 << (e - 1)) + (x >> 31)) >> e;
    }
    return tl_requantize(acc, multiplier, shift);
}

/* SXTB16 of v rotated right by 8: bytes 1 and 3 sign-extended to int16.
 * One instruction (the rotation is free in the encoding), which compilers
 * do not form from a C rotate. */
static inline int32_t tl_sxtb16_ror8(uint32_t v)
{
    int32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
    return r;
}
#endif

#if defined(TL_DOT_DSP)
/* The four-channel loop over len bytes (a multiple of 4) ending at x and
 * w0..w3, on the DSP extension. Written out: the loop needs exactly the 14
 * registers a Cortex-M4 has to give (4 sums, 5 bases, 1 index, 4
 * temporaries); gcc spilled three of them (28 instructions an iteration
 * instead of 25). The index runs from -len up to 0, so no end pointer is
 * needed. Out of line, because no caller with live values of its own
 * could give it all 14. */
static __attribute__((noinline, unused)) void tl_dot4_s8_dsp(const int8_t *x, const int8_t *w0,
                                                             const int8_t *w1, const int8_t *w2,
                                                             const int8_t *w3, int32_t len,
                                                             int32_t *s0, int32_t *s1,
                                                             int32_t *s2, int32_t *s3)
{
    /* gcc 12 finds 14 registers for the asm only when one is named. */
    register int32_t a0 __asm__("r0") = *s0;
    int32_t a1 = *s1, a2 = *s2, a3 = *s3;
    int32_t at = -len;
    int32_t xe, xo, t, te;
    __asm__("1:\n\t"
            "ldr %[xo], [%[x], %[at]]\n\t"
            "sxtb16 %[xe], %[xo]\n\t"
            "sxtb16 %[xo], %[xo], ror #8\n\t"
            "ldr %[t], [%[w0], %[at]]\n\t"
            "sxtb16 %[te], %[t]\n\t"
            "smlad %[a0], %[xe], %[te], %[a0]\n\t"
            "sxtb16 %[t], %[t], ror #8\n\t"
            "smlad %[a0], %[xo], %[t], %[a0]\n\t"
            "ldr %[t], [%[w1], %[at]]\n\t"
            "sxtb16 %[te], %[t]\n\t"
            "smlad %[a1], %[xe], %[te], %[a1]\n\t"
            "sxtb16 %[t], %[t], ror #8\n\t"
            "smlad %[a1], %[xo], %[t], %[a1]\n\t"
            "ldr %[t], [%[w2], %[at]]\n\t"
            "sxtb16 %[te], %[t]\n\t"
            "smlad %[a2], %[xe], %[te], %[a2]\n\t"
            "sxtb16 %[t], %[t], ror #8\n\t"
            "smlad %[a2], %[xo], %[t], %[a2]\n\t"
            "ldr %[t], [%[w3], %[at]]\n\t"
            "sxtb16 %[te], %[t]\n\t"
            "smlad %[a3], %[xe], %[te], %[a3]\n\t"
            "sxtb16 %[t], %[t], ror #8\n\t"
            "smlad %[a3], %[xo], %[t], %[a3]\n\t"
            "adds %[at], %[at], #4\n\t"
            "bne 1b"
            : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [at] "+r"(at),
              [xe] "=&r"(xe), [xo] "=&r"(xo), [t] "=&r"(t), [te] "=&r"(te)
            : [x] "r"(x), [w0] "r"(w0), [w1] "r"(w1), [w2] "r"(w2), [w3] "r"(w3)
            : "cc", "memory");
    *s0 = a0;
    *s1 = a1;
    *s2 = a2;
    *s3 = a3;
}
#endif

/* acc[k] += sum_i x[i] * wk[i] for the four weight rows w0..w3. */
static inline void tl_dot4_s8(const int8_t *x, const int8_t *w0, const int8_t *w1,
                              const int8_t *w2, const int8_t *w3, int32_t n, int32_t acc[4])
{
    int32_t i = 0;
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
#if defined(TL_DOT_SSE2)
    if (n >= 16) {
        __m128i s0 = _mm_setzero_si128(), s1 = s0, s2 = s0, s3 = s0;
        for (; i + 16 <= n; i += 16) {
            const __m128i xv = _mm_loadu_si128((const __m128i *)(const void *)(x + i));
            const __m128i xl = tl_lo_s16(xv), xh = tl_hi_s16(xv);
            s0 = _mm_add_epi32(s0, tl_madd16(xl, xh, w0 + i));
            s1 = _mm_add_epi32(s1, tl_madd16(xl, xh, w1 + i));
            s2 = _mm_add_epi32(s2, tl_madd16(xl, xh, w2 + i));
            s3 = _mm_add_epi32(s3, tl_madd16(xl, xh, w3 + i));
        }
        a0 += tl_hsum_s32(s0);
        a1 += tl_hsum_s32(s1);
        a2 += tl_hsum_s32(s2);
        a3 += tl_hsum_s32(s3);
    }
#elif defined(TL_DOT_DSP)
    if (n >= 4) {
        i = n & ~3;
        tl_dot4_s8_dsp(x + i, w0 + i, w1 + i, w2 + i, w3 + i, i, &a0, &a1, &a2, &a3);
    }
#endif
    for (; i < n; ++i) {
        const int32_t xv = x[i];
        a0 += xv * w0[i];
        a1 += xv * w1[i];
        a2 += xv * w2[i];
        a3 += xv * w3[i];
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

/* sum_i x[i] * w[i]. */
static inline int32_t tl_dot_s8(const int8_t *x, const int8_t *w, int32_t n)
{
    int32_t i = 0, acc = 0;
#if defined(TL_DOT_SSE2)
    if (n >= 16) {
        __m128i s = _mm_setzero_si128();
        for (; i + 16 <= n; i += 16) {
            const __m128i xv = _mm_loadu_si128((const __m128i *)(const void *)(x + i));
            s = _mm_add_epi32(s, tl_madd16(tl_lo_s16(xv), tl_hi_s16(xv), w + i));
        }
        acc = tl_hsum_s32(s);
    }
#elif defined(TL_DOT_DSP)
    for (; i + 4 <= n; i += 4) {
        const uint32_t xv = tl_load32(x + i), wv = tl_load32(w + i);
        acc = __smlad(__sxtb16(xv), __sxtb16(wv), acc);
        acc = __smlad(tl_sxtb16_ror8(xv), tl_sxtb16_ror8(wv), acc);
    }
#endif
    for (; i < n; ++i) {
        acc += x[i] * w[i];
    }
    return acc;
}

/* sum_i w[i]: what a padded tap (input = zero point) contributes, per unit. */
static inline int32_t tl_sum_s8(const int8_t *w, int32_t n)
{
    int32_t acc = 0;
    for (int32_t i = 0; i < n; ++i) {
        acc += w[i];
    }
    return acc;
}

#endif /* TL_DOT_H */
