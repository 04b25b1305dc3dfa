/* tl_pad_s8.c - PAD / PADV2 of an int8 or int16 tensor (TFLite's
 * reference Pad: data movement and a constant, so exact). The output is
 * filled with the value, then each innermost row of the input is copied
 * into place. */
#include <string.h>

#include "kernels.h"
#include "op.h"

void tl_pad_s8(const tl_pad_params *p)
{
    int32_t od[4];
    for (int i = 0; i < 4; ++i) {
        od[i] = p->before[i] + p->in_dims[i] + p->after[i];
    }
    const size_t n = (size_t)od[0] * (size_t)od[1] * (size_t)od[2] * (size_t)od[3], e = (size_t)p->element_size;
    if (e == 1) {
        memset(p->output, p->value, n);
    } else {
        for (size_t i = 0; i < n; ++i) {
            ((int16_t *)p->output)[i] = (int16_t)p->value;
        }
    }
    const uint8_t *in = p->input;
    for (int32_t a = 0; a < p->in_dims[0]; ++a) {
        for (int32_t b = 0; b < p->in_dims[1]; ++b) {
            for (int32_t c = 0; c < p->in_dims[2]; ++c) {
                const int32_t oa = a + p->before[0], ob = b + p->before[1], oc = c + p->before[2];
                uint8_t *row = (uint8_t *)p->output +
                               ((((size_t)oa * (size_t)od[1] + (size_t)ob) * (size_t)od[2] + (size_t)oc) * (size_t)od[3] +
                                (size_t)p->before[3]) * e;
                memcpy(row, in, (size_t)p->in_dims[3] * e);
                in += (size_t)p->in_dims[3] * e;
            }
        }
    }
}

/* ---- the operator ---- */

/* PAD: int8 or int16 in and out alike, rows added within bounds, none
 * past the rank, an output that is the input grown by them, a value of the
 * element type. */
static tl_status check_pad(const tl_model *m, const tl_op_rec *op)
{
    const tl_tensor_rec *in = tl_op_tensor(m, op->inputs[0]), *out = tl_op_tensor(m, op->output);
    if (op->input_count != 1 || !tl_op_is_activation(in) || in->rank != out->rank || in->dtype != out->dtype ||
        (in->dtype != TL_DTYPE_INT8 && in->dtype != TL_DTYPE_INT16)) {
        return TL_ERR_FORMAT;
    }
    const int32_t limit = in->dtype == TL_DTYPE_INT8 ? 128 : 32768;
    if (op->p[TL_PAD_VALUE] < -limit || op->p[TL_PAD_VALUE] >= limit) {
        return TL_ERR_QUANT;
    }
    for (uint32_t i = 0; i < TL_MAX_RANK; ++i) {
        const int32_t before = op->p[TL_PAD_BEFORE + i], after = op->p[TL_PAD_AFTER + i];
        if (before < 0 || after < 0 || before > (int32_t)TL_MAX_DIM || after > (int32_t)TL_MAX_DIM ||
            (i >= in->rank && (before || after))) {
            return TL_ERR_FORMAT;
        }
        if ((uint64_t)out->dims[i] != (uint64_t)in->dims[i] + (uint64_t)before + (uint64_t)after) {
            return TL_ERR_SHAPE;
        }
    }
    return TL_OK;
}

static void run_pad(const tl_interp *it, const tl_op_rec *op)
{
    const tl_tensor_rec *in = &it->model->tensors[op->inputs[0]];
    tl_pad_params p;
    p.input = tl_op_activation(it, op->inputs[0]);
    p.output = tl_op_activation(it, op->output);
    for (int i = 0; i < 4; ++i) {
        p.in_dims[i] = (int32_t)in->dims[i];
        p.before[i] = op->p[TL_PAD_BEFORE + i];
        p.after[i] = op->p[TL_PAD_AFTER + i];
    }
    p.value = op->p[TL_PAD_VALUE];
    p.element_size = (int32_t)tl_dtype_bytes(in->dtype);
    tl_pad_s8(&p);
}

const tl_op_kind tl_op_pad = { "PAD", 0, check_pad, run_pad };
