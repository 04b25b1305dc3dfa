/* tl_broadcast.c - the walk every broadcasting element-wise operator shares
 * (ADD, SUB, MUL): the output in order, each input read through strides
 * that are 0 along its dims of 1 (TFLite's BroadcastBinaryFunction4DSlow
 * order). The element functions are in each operator's file. */
#include "kernels.h"
#include "op.h"

void tl_broadcast_apply(const tl_broadcast_params *p, tl_element_fn fn, const void *ctx)
{
    int32_t s1[4], s2[4];
    int32_t a = 1, b = 1;
    for (int i = 3; i >= 0; --i) {
        s1[i] = p->dims1[i] == 1 ? 0 : a;
        s2[i] = p->dims2[i] == 1 ? 0 : b;
        a *= p->dims1[i];
        b *= p->dims2[i];
    }
    int32_t o = 0;
    for (int32_t i0 = 0; i0 < p->out_dims[0]; ++i0) {
        for (int32_t i1 = 0; i1 < p->out_dims[1]; ++i1) {
            for (int32_t i2 = 0; i2 < p->out_dims[2]; ++i2) {
                for (int32_t i3 = 0; i3 < p->out_dims[3]; ++i3, ++o) {
                    const int32_t es = p->element_size;
                    const int32_t x = tl_load_s8_s16(p->input1, es, i0 * s1[0] + i1 * s1[1] + i2 * s1[2] + i3 * s1[3]);
                    const int32_t y = tl_load_s8_s16(p->input2, es, i0 * s2[0] + i1 * s2[1] + i2 * s2[2] + i3 * s2[3]);
                    tl_store_s8_s16(p->output, es, o, fn(x, y, ctx));
                }
            }
        }
    }
}

/* ---- for the operators ---- */

/* A tensor's dims right-aligned in four (TFLite broadcasts from the last). */
static void extended(const tl_tensor_rec *t, int32_t dims[4])
{
    for (uint32_t i = 0; i < 4; ++i) {
        dims[i] = i + t->rank < 4 ? 1 : (int32_t)t->dims[i + t->rank - 4];
    }
}

tl_status tl_op_check_broadcast(const tl_model *m, const tl_op_rec *op, int *wide)
{
    const tl_tensor_rec *a = tl_op_tensor(m, op->inputs[0]), *b = tl_op_tensor(m, op->inputs[1]);
    const tl_tensor_rec *out = tl_op_tensor(m, op->output);
    /* The second operand may be a constant (a bias, a scale, PRELU's alpha). */
    if (op->input_count != 2 || !tl_op_is_activation(a) || (!tl_op_is_activation(b) && b->kind != TL_TENSOR_CONST) ||
        a->dtype != out->dtype ||
        b->dtype != out->dtype || (out->dtype != TL_DTYPE_INT8 && out->dtype != TL_DTYPE_INT16)) {
        return TL_ERR_FORMAT;
    }
    int32_t da[4], db[4], dout[4];
    extended(a, da);
    extended(b, db);
    extended(out, dout);
    for (int i = 0; i < 4; ++i) {
        if ((da[i] != 1 && da[i] != dout[i]) || (db[i] != 1 && db[i] != dout[i])) {
            return TL_ERR_SHAPE;
        }
    }
    *wide = out->dtype == TL_DTYPE_INT16;
    return TL_OK;
}

void tl_op_broadcast_params(const tl_interp *it, const tl_op_rec *op, tl_broadcast_params *p)
{
    const tl_model *m = it->model;
    p->input1 = tl_op_activation(it, op->inputs[0]);
    p->input2 = m->tensors[op->inputs[1]].kind == TL_TENSOR_CONST ? tl_op_constant(m, op->inputs[1])
                                                                  : tl_op_activation(it, op->inputs[1]);
    p->output = tl_op_activation(it, op->output);
    p->element_size = (int32_t)tl_dtype_bytes(m->tensors[op->output].dtype);
    extended(&m->tensors[op->inputs[0]], p->dims1);
    extended(&m->tensors[op->inputs[1]], p->dims2);
    extended(&m->tensors[op->output], p->out_dims);
}
