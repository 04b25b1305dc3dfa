/* tl_concatenation.c - CONCATENATION (and PACK) of tensors of any element
 * type (TFLite's reference Concatenation: data movement, exact). One
 * record per input, so an operator of any number of inputs fits the
 * format: each copies its input into its place along the axis. */
#include <string.h>

#include "kernels.h"
#include "op.h"

void tl_place(const tl_place_params *p)
{
    const size_t e = (size_t)p->element_size;
    const size_t row = (size_t)p->count * (size_t)p->inner * e, out_row = (size_t)p->out_axis * (size_t)p->inner * e;
    for (int32_t o = 0; o < p->outer; ++o) {
        memcpy(p->output + (size_t)o * out_row + (size_t)p->offset * (size_t)p->inner * e, p->input + (size_t)o * row, row);
    }
}

/* ---- the operator ---- */

/* Products of the output's dims before and after the axis. */
static void around(const tl_tensor_rec *out, int32_t axis, uint64_t *outer, uint64_t *inner)
{
    *outer = *inner = 1;
    for (int32_t i = 0; i < (int32_t)TL_MAX_RANK; ++i) {
        if (i < axis) {
            *outer *= out->dims[i];
        } else if (i > axis) {
            *inner *= out->dims[i];
        }
    }
}

static tl_status check_place(const tl_model *m, const tl_op_rec *op)
{
    const tl_tensor_rec *in = tl_op_tensor(m, op->inputs[0]), *out = tl_op_tensor(m, op->output);
    if (op->input_count != 1 || !tl_op_is_activation(in) || in->dtype != out->dtype) {
        return TL_ERR_FORMAT;
    }
    const int32_t axis = op->p[TL_PLACE_AXIS], offset = op->p[TL_PLACE_OFFSET], count = op->p[TL_PLACE_COUNT];
    if (axis < 0 || axis >= (int32_t)out->rank || count < 1 || offset < 0 ||
        (int64_t)offset + count > (int64_t)out->dims[axis]) {
        return TL_ERR_SHAPE;
    }
    uint64_t outer, inner;
    around(out, axis, &outer, &inner);
    return outer * (uint64_t)count * inner * tl_dtype_bytes(in->dtype) == in->data_size ? TL_OK : TL_ERR_SHAPE;
}

static void run_place(const tl_interp *it, const tl_op_rec *op)
{
    const tl_tensor_rec *out = &it->model->tensors[op->output];
    tl_place_params p;
    uint64_t outer, inner;
    around(out, op->p[TL_PLACE_AXIS], &outer, &inner);
    p.input = (const uint8_t *)tl_op_activation(it, op->inputs[0]);
    p.output = (uint8_t *)tl_op_activation(it, op->output);
    p.element_size = (int32_t)tl_dtype_bytes(out->dtype);
    p.outer = (int32_t)outer;
    p.inner = (int32_t)inner;
    p.out_axis = (int32_t)out->dims[op->p[TL_PLACE_AXIS]];
    p.offset = op->p[TL_PLACE_OFFSET];
    p.count = op->p[TL_PLACE_COUNT];
    tl_place(&p);
}

const tl_op_kind tl_op_concatenation = { "CONCATENATION", 0, check_place, run_place };
