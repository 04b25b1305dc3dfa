/* tl_conv2d_sparse_s8.c - CONV_2D (and FULLY_CONNECTED) with pruned weights.
 *
 * The sparse encoding (docs/format.md) is a CSR grouped by filter tap: for
 * output channel oc and tap (ky, kx), row r = (oc * k_h + ky) * k_w + kx
 * holds the non-zero weights' input channels and values. Grouping by tap
 * lets the kernel check padding once per tap and then gather from one
 * contiguous input pixel, with no index arithmetic per weight.
 *   uint32 nnz; uint32 row_start[rows + 1]; uint16 channel[nnz]; int8 value[nnz]
 */
#include "kernels.h"
#include "fixedpoint.h"

void tl_conv2d_sparse_s8(const tl_conv_params *p)
{
    const uint8_t *blob = (const uint8_t *)p->filter;
    const uint32_t *header = (const uint32_t *)(const void *)blob;
    const uint32_t nnz = header[0];
    const uint32_t *row_start = header + 1;
    const int32_t rows = p->out_c * p->k_h * p->k_w;
    const uint16_t *channel = (const uint16_t *)(const void *)(row_start + rows + 1);
    const int8_t *value = (const int8_t *)(channel + nnz);
    const int32_t zero_point = -p->input_offset;

    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *image = p->input + b * p->in_h * p->in_w * p->in_c;
        int8_t *out = p->output + b * p->out_h * p->out_w * p->out_c;
        for (int32_t oy = 0; oy < p->out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_top;
            for (int32_t ox = 0; ox < p->out_w; ++ox, out += p->out_c) {
                const int32_t ix0 = ox * p->stride_w - p->pad_left;
                int32_t r = 0;
                for (int32_t oc = 0; oc < p->out_c; ++oc) {
                    int32_t acc = p->bias[oc];
                    for (int32_t ky = 0; ky < p->k_h; ++ky) {
                        const int32_t iy = iy0 + ky * p->dilation_h;
                        for (int32_t kx = 0; kx < p->k_w; ++kx, ++r) {
                            const int32_t ix = ix0 + kx * p->dilation_w;
                            const uint32_t end = row_start[r + 1];
                            if (iy < 0 || iy >= p->in_h || ix < 0 || ix >= p->in_w) {
                                for (uint32_t k = row_start[r]; k < end; ++k) {
                                    acc += zero_point * value[k];
                                }
                                continue;
                            }
                            const int8_t *x = image + (iy * p->in_w + ix) * p->in_c;
                            for (uint32_t k = row_start[r]; k < end; ++k) {
                                acc += x[channel[k]] * value[k];
                            }
                        }
                    }
                    acc = tl_requantize(acc, p->multiplier[oc], p->shift[oc]) + p->output_offset;
                    out[oc] = tl_clamp_s8(acc, p->act_min, p->act_max);
                }
            }
        }
    }
}
