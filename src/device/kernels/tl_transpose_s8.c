/* tl_transpose_s8.c - TRANSPOSE of an int8 tensor (TFLite's reference
 * Transpose: pure data movement, so exact). Walks the output in order and
 * reads the input through the permuted strides. */
#include "kernels.h"

void tl_transpose_s8(const tl_transpose_params *p)
{
    int32_t stride[4];
    stride[3] = 1;
    for (int i = 2; i >= 0; --i) {
        stride[i] = stride[i + 1] * p->in_dims[i + 1];
    }
    const int32_t d0 = p->in_dims[p->perm[0]], d1 = p->in_dims[p->perm[1]];
    const int32_t d2 = p->in_dims[p->perm[2]], d3 = p->in_dims[p->perm[3]];
    const int32_t s0 = stride[p->perm[0]], s1 = stride[p->perm[1]];
    const int32_t s2 = stride[p->perm[2]], s3 = stride[p->perm[3]];
    int8_t *out = p->output;
    for (int32_t a = 0; a < d0; ++a) {
        for (int32_t b = 0; b < d1; ++b) {
            for (int32_t c = 0; c < d2; ++c) {
                const int8_t *row = p->input + a * s0 + b * s1 + c * s2;
                for (int32_t d = 0; d < d3; ++d) {
                    *out++ = row[d * s3];
                }
            }
        }
    }
}
