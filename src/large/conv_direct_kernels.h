/* conv_direct_kernels.h - the direct convolution kernels, written once for
 * any vector width. conv_direct.c includes this file once per instruction
 * set after defining:
 *   KERNEL       the function attribute naming the target (avx512f, ...)
 *   VEC          the vector type; LANES floats per vector
 *   VLOAD(p), VSTORE(p, v), VADD(a, b), VFMA(a, b, c) = a * b + c,
 *   VSET1(f), VZERO()
 *   BLOCK        output pixels a forward register block holds
 *   GRAD_IB      input channels a filter-gradient block holds
 *   NAME(f)      the set's name for function f
 * MAXV, the most output-channel vectors a block holds, is 3 at both widths
 * (conv_direct.c), so the filters are packed by the same rule.
 * Register budget per block: BLOCK * MAXV accumulators + MAXV filter
 * vectors + 1 broadcast for the forward pass (AVX-512: 7 x 3 + 4 = 25 of
 * 32; AVX2: 4 x 3 + 4 = 16 of 16), GRAD_IB * MAXV + MAXV + 1 for the filter
 * gradient (8 x 3 + 4 = 28 of 32; 4 x 3 + 4 = 16 of 16). More than the
 * registers hold spills an accumulator to the stack, and its chain of
 * fused multiply-adds then waits on memory: 7 x 2 blocks on AVX2 ran 25%
 * slower than im2col + OpenBLAS.
 */

/* out[j][v] (+)= init + sum over taps and input channels, for PB pixels x
 * NV vectors of output channels. x: the padded input at the block's first
 * pixel; w: the channel block's filters [KH][KW][XC][NV * LANES] (packed,
 * so they stream from memory in order); out rows oc floats apart. */
KERNEL INLINE void NAME(block)(const float *x, int xc, size_t x_row, int kh, int kw, const float *w, int oc,
                               const float *init, int accumulate, float *out, const int PB, const int NV)
{
    const int ws = NV * LANES;
    VEC acc[BLOCK][MAXV];
    for (int j = 0; j < PB; ++j) {
        for (int v = 0; v < NV; ++v) {
            acc[j][v] = init ? VLOAD(init + v * LANES) : VZERO();
        }
    }
    for (int ky = 0; ky < kh; ++ky) {
        for (int kx = 0; kx < kw; ++kx) {
            const float *xp = x + ky * x_row + (size_t)kx * xc;
            const float *wp = w + (size_t)(ky * kw + kx) * xc * ws;
            for (int i = 0; i < xc; ++i, wp += ws) {
                VEC wv[MAXV];
                for (int v = 0; v < NV; ++v) {
                    wv[v] = VLOAD(wp + v * LANES);
                }
                for (int j = 0; j < PB; ++j) {
                    const VEC s = VSET1(xp[(size_t)j * xc + i]);
                    for (int v = 0; v < NV; ++v) {
                        acc[j][v] = VFMA(s, wv[v], acc[j][v]);
                    }
                }
            }
        }
    }
    for (int j = 0; j < PB; ++j) {
        for (int v = 0; v < NV; ++v) {
            float *o = out + (size_t)j * oc + v * LANES;
            VSTORE(o, accumulate ? VADD(VLOAD(o), acc[j][v]) : acc[j][v]);
        }
    }
}

/* One output row: blocks of BLOCK pixels, then one block of the rest. */
KERNEL INLINE void NAME(row)(const float *x, int xc, size_t x_row, int kh, int kw, const float *w, int oc,
                             const float *init, int accumulate, float *out, int out_w, const int NV)
{
    int ox = 0;
    for (; ox + BLOCK <= out_w; ox += BLOCK) {
        NAME(block)(x + (size_t)ox * xc, xc, x_row, kh, kw, w, oc, init, accumulate, out + (size_t)ox * oc, BLOCK,
                    NV);
    }
    x += (size_t)ox * xc;
    out += (size_t)ox * oc;
    switch (out_w - ox) { /* a constant block width, so each is unrolled */
    case 1: NAME(block)(x, xc, x_row, kh, kw, w, oc, init, accumulate, out, 1, NV); break;
    case 2: NAME(block)(x, xc, x_row, kh, kw, w, oc, init, accumulate, out, 2, NV); break;
    case 3: NAME(block)(x, xc, x_row, kh, kw, w, oc, init, accumulate, out, 3, NV); break;
#if BLOCK > 4
    case 4: NAME(block)(x, xc, x_row, kh, kw, w, oc, init, accumulate, out, 4, NV); break;
    case 5: NAME(block)(x, xc, x_row, kh, kw, w, oc, init, accumulate, out, 5, NV); break;
    case 6: NAME(block)(x, xc, x_row, kh, kw, w, oc, init, accumulate, out, 6, NV); break;
#endif
    default: break;
    }
}

/* w: filters packed by channel block (tl_conv_direct_filter_column). */
KERNEL static void NAME(image)(const float *padded, int pad_w, int xc, int kh, int kw, const float *w, int oc,
                               const float *bias, int accumulate, float *out, int out_h, int out_w)
{
    const size_t x_row = (size_t)pad_w * xc, rows = (size_t)kh * kw * xc;
    for (int oy = 0; oy < out_h; ++oy) {
        const float *x = padded + oy * x_row;
        float *o = out + (size_t)oy * out_w * oc;
        for (int c0 = 0; c0 < oc;) {
            const int nv = block_vectors((oc - c0) / LANES);
            const float *init = bias ? bias + c0 : NULL, *wb = w + (size_t)c0 * rows;
            if (nv == 3) {
                NAME(row)(x, xc, x_row, kh, kw, wb, oc, init, accumulate, o + c0, out_w, 3);
            } else if (nv == 2) {
                NAME(row)(x, xc, x_row, kh, kw, wb, oc, init, accumulate, o + c0, out_w, 2);
            } else {
                NAME(row)(x, xc, x_row, kh, kw, wb, oc, init, accumulate, o + c0, out_w, 1);
            }
            c0 += nv * LANES;
        }
    }
}

/* The filter gradient of one image: dw[ky][kx][i][o] += sum over output
 * pixels p of x(p shifted by ky, kx)[i] * dy[p][o], for IB input channels x
 * NV vectors of output channels held in registers over the whole image.
 * x: the padded input at (ky, kx) and the block's first input channel; dy
 * and dw at the block's first output channel. */
KERNEL INLINE void NAME(grad_block)(const float *x, int xc, int pad_w, const float *dy, int out_h, int out_w, int oc,
                                    float *dw, const int IB, const int NV)
{
    VEC acc[GRAD_IB][MAXV];
    for (int i = 0; i < IB; ++i) {
        for (int v = 0; v < NV; ++v) {
            acc[i][v] = VLOAD(dw + (size_t)i * oc + v * LANES);
        }
    }
    for (int oy = 0; oy < out_h; ++oy) {
        const float *xr = x + (size_t)oy * pad_w * xc;
        const float *dr = dy + (size_t)oy * out_w * oc;
        for (int ox = 0; ox < out_w; ++ox, xr += xc, dr += oc) {
            VEC d[MAXV];
            for (int v = 0; v < NV; ++v) {
                d[v] = VLOAD(dr + v * LANES);
            }
            for (int i = 0; i < IB; ++i) {
                const VEC s = VSET1(xr[i]);
                for (int v = 0; v < NV; ++v) {
                    acc[i][v] = VFMA(s, d[v], acc[i][v]);
                }
            }
        }
    }
    for (int i = 0; i < IB; ++i) {
        for (int v = 0; v < NV; ++v) {
            VSTORE(dw + (size_t)i * oc + v * LANES, acc[i][v]);
        }
    }
}

/* Blocks of GRAD_IB input channels, then single ones, for NV vectors. */
KERNEL INLINE void NAME(grad_channels)(const float *x, int xc, int pad_w, const float *dy, int out_h, int out_w,
                                       int oc, float *dw, const int NV)
{
    int i = 0;
    for (; i + GRAD_IB <= xc; i += GRAD_IB) {
        NAME(grad_block)(x + i, xc, pad_w, dy, out_h, out_w, oc, dw + (size_t)i * oc, GRAD_IB, NV);
    }
    for (; i < xc; ++i) {
        NAME(grad_block)(x + i, xc, pad_w, dy, out_h, out_w, oc, dw + (size_t)i * oc, 1, NV);
    }
}

KERNEL static void NAME(grad_image)(const float *padded, int pad_w, int xc, int kh, int kw, const float *dy, int oc,
                                    int out_h, int out_w, float *dw)
{
    for (int ky = 0; ky < kh; ++ky) {
        for (int kx = 0; kx < kw; ++kx) {
            const float *x = padded + ((size_t)ky * pad_w + kx) * xc;
            float *d = dw + (size_t)(ky * kw + kx) * xc * oc;
            for (int c0 = 0; c0 < oc;) {
                const int nv = block_vectors((oc - c0) / LANES);
                if (nv == 3) {
                    NAME(grad_channels)(x, xc, pad_w, dy + c0, out_h, out_w, oc, d + c0, 3);
                } else if (nv == 2) {
                    NAME(grad_channels)(x, xc, pad_w, dy + c0, out_h, out_w, oc, d + c0, 2);
                } else {
                    NAME(grad_channels)(x, xc, pad_w, dy + c0, out_h, out_w, oc, d + c0, 1);
                }
                c0 += nv * LANES;
            }
        }
    }
}
