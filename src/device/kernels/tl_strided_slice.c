/* tl_strided_slice.c - STRIDED_SLICE of a tensor of any element type
 * (TFLite's reference StridedSlice: data movement, exact). The importer
 * resolves begin, end, strides and the masks into a start and a step per
 * axis; SPLIT, SPLIT_V and UNPACK arrive as one slice per output. */
#include <string.h>

#include "kernels.h"
#include "op.h"

void tl_strided_slice(const tl_slice_params *p)
{
    int32_t stride[4];
    stride[3] = 1;
    for (int i = 2; i >= 0; --i) {
        stride[i] = stride[i + 1] * p->in_dims[i + 1];
    }
    const size_t e = (size_t)p->element_size;
    uint8_t *out = p->output;
    for (int32_t a = 0; a < p->counts[0]; ++a) {
        for (int32_t b = 0; b < p->counts[1]; ++b) {
            for (int32_t c = 0; c < p->counts[2]; ++c) {
                const int32_t base = (p->begin[0] + a * p->step[0]) * stride[0] + (p->begin[1] + b * p->step[1]) * stride[1] +
                                     (p->begin[2] + c * p->step[2]) * stride[2] + p->begin[3];
                if (p->step[3] == 1) { /* a contiguous row */
                    memcpy(out, p->input + (size_t)base * e, (size_t)p->counts[3] * e);
                    out += (size_t)p->counts[3] * e;
                    continue;
                }
                for (int32_t d = 0; d < p->counts[3]; ++d, out += e) {
                    memcpy(out, p->input + (size_t)(base + d * p->step[3]) * e, e);
                }
            }
        }
    }
}

/* ---- the operator ---- */

/* The output's dims with a 1 put back at each shrunk axis. */
static int slice_counts(const tl_tensor_rec *out, int32_t shrink, int32_t counts[4])
{
    uint32_t k = 0;
    for (int i = 0; i < 4; ++i) {
        counts[i] = (shrink >> i) & 1 ? 1 : (int32_t)(k < out->rank ? out->dims[k++] : 1);
    }
    return k == out->rank || (out->rank == 1 && out->dims[0] == 1);
}

static tl_status check_slice(const tl_model *m, const tl_op_rec *op)
{
    const tl_tensor_rec *in = tl_op_tensor(m, op->inputs[0]), *out = tl_op_tensor(m, op->output);
    if (op->input_count != 1 || !tl_op_is_activation(in) || in->dtype != out->dtype) {
        return TL_ERR_FORMAT;
    }
    const int32_t shrink = op->p[TL_SLICE_SHRINK];
    int32_t counts[4];
    if (shrink < 0 || shrink > 15 || !slice_counts(out, shrink, counts)) {
        return TL_ERR_SHAPE;
    }
    uint64_t n = 1;
    for (int i = 0; i < 4; ++i) {
        /* Every index read, first and last, lies inside the input. */
        const int64_t first = op->p[TL_SLICE_BEGIN + i], step = op->p[TL_SLICE_STRIDE + i];
        const int64_t last = first + (int64_t)(counts[i] - 1) * step;
        if (step == 0 || step < -(int64_t)TL_MAX_DIM || step > (int64_t)TL_MAX_DIM || first < 0 || last < 0 ||
            first >= in->dims[i] || last >= in->dims[i]) {
            return TL_ERR_SHAPE;
        }
        n *= (uint64_t)counts[i];
    }
    return n * tl_dtype_bytes(out->dtype) == out->data_size ? TL_OK : TL_ERR_SHAPE;
}

static void run_slice(const tl_interp *it, const tl_op_rec *op)
{
    const tl_tensor_rec *in = &it->model->tensors[op->inputs[0]], *out = &it->model->tensors[op->output];
    tl_slice_params p;
    p.input = (const uint8_t *)tl_op_activation(it, op->inputs[0]);
    p.output = (uint8_t *)tl_op_activation(it, op->output);
    p.element_size = (int32_t)tl_dtype_bytes(in->dtype);
    slice_counts(out, op->p[TL_SLICE_SHRINK], p.counts);
    for (int i = 0; i < 4; ++i) {
        p.in_dims[i] = (int32_t)in->dims[i];
        p.begin[i] = op->p[TL_SLICE_BEGIN + i];
        p.step[i] = op->p[TL_SLICE_STRIDE + i];
    }
    tl_strided_slice(&p);
}

const tl_op_kind tl_op_strided_slice = { "STRIDED_SLICE", 0, check_slice, run_slice };
