/* tl_conv2d_s4.c - CONV_2D (and FULLY_CONNECTED) with packed int4 weights.
 *
 * Weights are signed 4-bit values in [-8, 7], two per byte, the element with
 * the even flat index (OHWI order) in the low nibble. They halve flash and
 * download bytes. The loops are the int8 kernel's (valid-tap rectangle,
 * effective bias, four output channels per pass). On a core with the DSP
 * extension the dot products read the packed words directly (dot4_s4_dsp);
 * elsewhere, and for rows starting on an odd weight, each valid filter row
 * is unpacked in chunks of CHUNK weights into a small stack buffer and fed
 * to the int8 dot product (dot.h).
 */
#include "dot.h"
#include "fixedpoint.h"
#include "kernels.h"

enum { CHUNK = 64 };

/* Sign-extends n int4 values starting at flat index `start` into out. */
static inline void unpack_s4(const uint8_t *packed, int32_t start, int32_t n, int8_t *out)
{
    int32_t i = 0;
    if (start & 1) { /* an odd start: the first value is a high nibble */
        out[i++] = (int8_t)((int8_t)(packed[start >> 1] & 0xF0) >> 4);
    }
    const uint8_t *p = packed + ((start + i) >> 1);
    for (; i + 1 < n; i += 2, ++p) {
        out[i] = (int8_t)((int8_t)(uint8_t)(*p << 4) >> 4);
        out[i + 1] = (int8_t)((int8_t)(*p & 0xF0) >> 4);
    }
    if (i < n) {
        out[i] = (int8_t)((int8_t)(uint8_t)(*p << 4) >> 4);
    }
}

#if defined(TL_DOT_DSP)
/* Halfword packing (PKHBT / PKHTB): (lo(a), lo(b)) and (hi(a), hi(b)). */
static inline int32_t tl_pack_lo(int32_t a, int32_t b)
{
    return (int32_t)(((uint32_t)a & 0xFFFFu) | ((uint32_t)b << 16));
}

static inline int32_t tl_pack_hi(int32_t a, int32_t b)
{
    return (int32_t)(((uint32_t)a >> 16) | ((uint32_t)b & 0xFFFF0000u));
}

/* s + 16 * (x . w) for the eight int4 weights in the word at w, the inputs
 * given as the pairs (x0,x4) (x2,x6) (x1,x5) (x3,x7). */
static inline int32_t dot8_s4(int32_t s, const int8_t *w, int32_t x04, int32_t x26, int32_t x15, int32_t x37)
{
    const uint32_t v = tl_load32(w);
    const uint32_t lo = (v << 4) & 0xF0F0F0F0u; /* w0 w2 w4 w6, each x16 in its byte */
    const uint32_t hi = v & 0xF0F0F0F0u;        /* w1 w3 w5 w7 */
    s = __smlad(x04, __sxtb16(lo), s);
    s = __smlad(x26, tl_sxtb16_ror8(lo), s);
    s = __smlad(x15, __sxtb16(hi), s);
    return __smlad(x37, tl_sxtb16_ror8(hi), s);
}

/* Eight weights a step straight from the packed bytes, no unpacking: one
 * word holds w0..w7 (w0 in the low nibble); masking each nibble into the
 * top of its byte makes SXTB16 yield the pairs (w0,w4) (w2,w6) (w1,w5)
 * (w3,w7), times 16, and the inputs are repacked into the same pairs once
 * for the four channels. Every product is a multiple of 16, so the sums
 * shift back exactly; |16 w| <= 128 keeps them within the loader's int8
 * accumulator bound. Needs even start indices; returns weights done. */
static inline int32_t dot4_s4_dsp(const int8_t *x, const uint8_t *packed, const int32_t *base, int32_t wo, int32_t n,
                                  int32_t acc[4])
{
    if (((base[0] | base[1] | base[2] | base[3] | wo) & 1) != 0) {
        return 0;
    }
    const int8_t *w0 = (const int8_t *)packed + ((base[0] + wo) >> 1);
    const int8_t *w1 = (const int8_t *)packed + ((base[1] + wo) >> 1);
    const int8_t *w2 = (const int8_t *)packed + ((base[2] + wo) >> 1);
    const int8_t *w3 = (const int8_t *)packed + ((base[3] + wo) >> 1);
    int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0, i = 0;
    for (; i + 8 <= n; i += 8) {
        const uint32_t xa = tl_load32(x + i), xb = tl_load32(x + i + 4);
        const int32_t ae = __sxtb16(xa), ao = tl_sxtb16_ror8(xa), be = __sxtb16(xb), bo = tl_sxtb16_ror8(xb);
        const int32_t x04 = tl_pack_lo(ae, be), x26 = tl_pack_hi(ae, be);
        const int32_t x15 = tl_pack_lo(ao, bo), x37 = tl_pack_hi(ao, bo);
        s0 = dot8_s4(s0, w0 + (i >> 1), x04, x26, x15, x37);
        s1 = dot8_s4(s1, w1 + (i >> 1), x04, x26, x15, x37);
        s2 = dot8_s4(s2, w2 + (i >> 1), x04, x26, x15, x37);
        s3 = dot8_s4(s3, w3 + (i >> 1), x04, x26, x15, x37);
    }
    acc[0] += s0 >> 4;
    acc[1] += s1 >> 4;
    acc[2] += s2 >> 4;
    acc[3] += s3 >> 4;
    return i;
}
#endif

/* The int4 value at flat index i. */
static inline int32_t s4_at(const uint8_t *packed, int32_t i)
{
    const uint8_t b = packed[i >> 1];
    return (i & 1) ? (int8_t)(b & 0xF0) >> 4 : (int8_t)(uint8_t)(b << 4) >> 4;
}

/* The sum of n int4 values starting at flat index `start`: what a padded
 * tap, whose input is the zero point, contributes per unit. Two values a
 * byte: one at a time cost the int4 student 11% more M4 instructions. */
static inline int32_t sum_s4(const uint8_t *packed, int32_t start, int32_t n)
{
    const int32_t end = start + n;
    int32_t sum = 0, i = start;
    if ((i & 1) && i < end) {
        sum += s4_at(packed, i++);
    }
    for (; i + 1 < end; i += 2) {
        const uint8_t b = packed[i >> 1];
        sum += ((int8_t)(uint8_t)(b << 4) >> 4) + ((int8_t)(b & 0xF0) >> 4);
    }
    if (i < end) {
        sum += s4_at(packed, i);
    }
    return sum;
}

/* acc[k] += x . w_k over n weights starting at flat index wo + k*filter_size. */
static inline void dot4_s4(const int8_t *x, const uint8_t *packed, const int32_t *base, int32_t wo, int32_t n,
                           int32_t acc[4])
{
    int8_t w[4][CHUNK];
    int32_t done = 0;
#if defined(TL_DOT_DSP)
    done = dot4_s4_dsp(x, packed, base, wo, n, acc);
#endif
    if (n - done <= 8) { /* a short row or tail: not worth a buffer */
        for (; done < n; ++done) {
            const int32_t xv = x[done];
            for (int32_t k = 0; k < 4; ++k) {
                acc[k] += xv * s4_at(packed, base[k] + wo + done);
            }
        }
        return;
    }
    for (; done < n; done += CHUNK) {
        const int32_t len = n - done < CHUNK ? n - done : CHUNK;
        for (int32_t k = 0; k < 4; ++k) {
            unpack_s4(packed, base[k] + wo + done, len, w[k]);
        }
        tl_dot4_s8(x + done, w[0], w[1], w[2], w[3], len, acc);
    }
}

void tl_conv2d_s4(const tl_conv_params *params)
{
    const tl_conv_params p = *params; /* local: int8 stores cannot alias it */
    const uint8_t *packed = (const uint8_t *)p.filter;
    const int32_t zero_point = -p.input_offset;
    const int32_t row_len = p.k_w * p.in_c;
    const int32_t row_stride = p.in_w * p.in_c;
    const int32_t filter_size = p.k_h * row_len;
    for (int32_t b = 0; b < p.batches; ++b) {
        const int8_t *image = p.input + b * p.in_h * row_stride;
        int8_t *out = p.output + b * p.out_h * p.out_w * p.out_c;
        for (int32_t oy = 0; oy < p.out_h; ++oy) {
            const int32_t iy0 = oy * p.stride_h - p.pad_top;
            int32_t ky0, ky1;
            tl_valid_taps(iy0, p.k_h, p.dilation_h, p.in_h, &ky0, &ky1);
            for (int32_t ox = 0; ox < p.out_w; ++ox, out += p.out_c) {
                const int32_t ix0 = ox * p.stride_w - p.pad_left;
                int32_t kx0, kx1;
                tl_valid_taps(ix0, p.k_w, p.dilation_w, p.in_w, &kx0, &kx1);
                const int padded = zero_point != 0 && (ky0 > 0 || ky1 < p.k_h || kx0 > 0 || kx1 < p.k_w);
                for (int32_t oc = 0; oc < p.out_c; oc += 4) {
                    const int32_t n = p.out_c - oc < 4 ? p.out_c - oc : 4;
                    int32_t base[4], acc[4];
                    for (int32_t k = 0; k < 4; ++k) {
                        const int32_t c = oc + (k < n ? k : n - 1);
                        base[k] = c * filter_size;
                        acc[k] = p.bias[c];
                    }
                    for (int32_t ky = ky0; ky < ky1; ++ky) {
                        const int8_t *x = image + (iy0 + ky * p.dilation_h) * row_stride;
                        if (p.dilation_w == 1) {
                            dot4_s4(x + (ix0 + kx0) * p.in_c, packed, base, ky * row_len + kx0 * p.in_c,
                                    (kx1 - kx0) * p.in_c, acc);
                            continue;
                        }
                        for (int32_t kx = kx0; kx < kx1; ++kx) {
                            dot4_s4(x + (ix0 + kx * p.dilation_w) * p.in_c, packed, base,
                                    (ky * p.k_w + kx) * p.in_c, p.in_c, acc);
                        }
                    }
                    if (padded) {
                        for (int32_t ky = 0; ky < p.k_h; ++ky) {
                            for (int32_t kx = 0; kx < p.k_w; ++kx) {
                                if (ky >= ky0 && ky < ky1 && kx >= kx0 && kx < kx1) {
                                    continue;
                                }
                                for (int32_t k = 0; k < 4; ++k) {
                                    acc[k] += zero_point * sum_s4(packed, base[k] + (ky * p.k_w + kx) * p.in_c, p.in_c);
                                }
                            }
                        }
                    }
                    for (int32_t k = 0; k < n; ++k) {
                        const int32_t v = tl_requantize(acc[k], p.multiplier[oc + k], p.shift[oc + k]);
                        out[oc + k] = tl_clamp_s8(v + p.output_offset, p.act_min, p.act_max);
                    }
                }
            }
        }
    }
}
