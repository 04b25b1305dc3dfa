/* tl_conv2d_s4.c - CONV_2D (and FULLY_CONNECTED) with packed int4 weights.
 *
 * Weights are signed 4-bit values in [-8, 7], two per byte, the element with
 * the even flat index (OHWI order) in the low nibble. They halve flash and
 * download bytes. The loops are the int8 kernel's (valid-tap rectangle,
 * effective bias, four output channels per pass): each valid filter row is
 * unpacked in chunks of CHUNK weights into a small stack buffer and fed to
 * the same dot product (dot.h), so the unpacking costs about one
 * instruction per weight on top of the int8 kernel.
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

/* acc[k] += x . w_k over n weights starting at flat index wo + k*filter_size. */
static inline void dot4_s4(const int8_t *x, const uint8_t *packed, const int32_t *base, int32_t wo, int32_t n,
                           int32_t acc[4])
{
    int8_t w[4][CHUNK];
    for (int32_t done = 0; done < n; done += CHUNK) {
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
                        int8_t w[CHUNK];
                        for (int32_t ky = 0; ky < p.k_h; ++ky) {
                            for (int32_t kx = 0; kx < p.k_w; ++kx) {
                                if (ky >= ky0 && ky < ky1 && kx >= kx0 && kx < kx1) {
                                    continue;
                                }
                                for (int32_t k = 0; k < 4; ++k) {
                                    for (int32_t done = 0; done < p.in_c; done += CHUNK) {
                                        const int32_t len = p.in_c - done < CHUNK ? p.in_c - done : CHUNK;
                                        unpack_s4(packed, base[k] + (ky * p.k_w + kx) * p.in_c + done, len, w);
                                        acc[k] += zero_point * tl_sum_s8(w, len);
                                    }
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
