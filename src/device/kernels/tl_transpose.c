/* tl_transpose.c - TRANSPOSE of a tensor of 1-, 2- or 4-byte elements
 * (TFLite's reference Transpose: pure data movement, so exact). Walks the
 * output in order and reads the input through the permuted strides. */
#include <string.h>

#include "kernels.h"
#include "op.h"

void tl_transpose(const tl_transpose_params *p)
{
    int32_t stride[4];
    stride[3] = p->element_size;
    for (int i = 2; i >= 0; --i) {
        stride[i] = stride[i + 1] * p->in_dims[i + 1];
    }
    const int32_t d0 = p->in_dims[p->perm[0]], d1 = p->in_dims[p->perm[1]];
    const int32_t d2 = p->in_dims[p->perm[2]], d3 = p->in_dims[p->perm[3]];
    const int32_t s0 = stride[p->perm[0]], s1 = stride[p->perm[1]];
    const int32_t s2 = stride[p->perm[2]], s3 = stride[p->perm[3]];
    const size_t size = (size_t)p->element_size;
    const uint8_t *in = p->input;
    uint8_t *out = p->output;
    for (int32_t a = 0; a < d0; ++a) {
        for (int32_t b = 0; b < d1; ++b) {
            for (int32_t c = 0; c < d2; ++c) {
                const uint8_t *row = in + a * s0 + b * s1 + c * s2;
                if (size == 1) { /* int8, the common case: a byte at a time */
                    for (int32_t d = 0; d < d3; ++d) {
                        *out++ = row[d * s3];
                    }
                } else {
                    for (int32_t d = 0; d < d3; ++d, out += size) {
                        memcpy(out, row + d * s3, size);
                    }
                }
            }
        }
    }
}

/* ---- the operator ---- */

/* TRANSPOSE: one element type in and out (not int64), a permutation of
 * the four dimensions that leaves those past the rank in place, and an
 * output shaped accordingly. */
static tl_status check_transpose(const tl_model *m, const tl_op_rec *op)
{
    const tl_tensor_rec *in = tl_op_tensor(m, op->inputs[0]), *out = tl_op_tensor(m, op->output);
    if (op->input_count != 1 || !tl_op_is_activation(in) || !tl_op_is_activation(out) || in->dtype != out->dtype ||
        in->rank != out->rank || tl_dtype_bytes(in->dtype) == 8) {
        return TL_ERR_FORMAT;
    }
    uint32_t seen = 0;
    for (uint32_t i = 0; i < TL_MAX_RANK; ++i) {
        const int32_t k = op->p[TL_TRANSPOSE_PERM + i];
        if (k < 0 || k >= (int32_t)TL_MAX_RANK || (seen & (1u << k)) || (i >= in->rank && k != (int32_t)i)) {
            return TL_ERR_FORMAT;
        }
        seen |= 1u << k;
        if (out->dims[i] != in->dims[k]) {
            return TL_ERR_SHAPE;
        }
    }
    return TL_OK;
}

static void run_transpose(const tl_interp *it, const tl_op_rec *op)
{
    const tl_tensor_rec *in = &it->model->tensors[op->inputs[0]];
    tl_transpose_params p;
    p.input = tl_op_activation(it, op->inputs[0]);
    p.output = tl_op_activation(it, op->output);
    p.element_size = (int32_t)tl_dtype_bytes(in->dtype);
    for (int i = 0; i < 4; ++i) {
        p.in_dims[i] = (int32_t)in->dims[i];
        p.perm[i] = op->p[TL_TRANSPOSE_PERM + i];
    }
    tl_transpose(&p);
}

const tl_op_kind tl_op_transpose = { "TRANSPOSE", 0, check_transpose, run_transpose };
