/* tl_sigmoid_ops.c - what LOGISTIC and TANH share: the checks of their
 * records and the step from a record to kernel parameters. */
#include "kernels.h"
#include "op.h"

tl_status tl_op_check_sigmoid(const tl_model *m, const tl_op_rec *op)
{
    tl_status s = tl_op_check_s8_output(m, op);
    if (s != TL_OK) {
        return s;
    }
    const tl_tensor_rec *in = tl_op_tensor(m, op->inputs[0]), *out = tl_op_tensor(m, op->output);
    if (op->input_count != 1 || !tl_op_is_s8_activation(in)) {
        return TL_ERR_FORMAT;
    }
    if (in->data_size != out->data_size) {
        return TL_ERR_SHAPE;
    }
    /* Inside the radius, |x - zp| * 2^shift stays below 2^31 (x - zp is at
     * most 255 in magnitude). */
    const int32_t shift = op->p[TL_SIGMOID_SHIFT], radius = op->p[TL_SIGMOID_RADIUS];
    if (!tl_op_valid_multiplier(op->p[TL_SIGMOID_MULT], shift) || radius < 0 ||
        (shift > 0 && (int64_t)(radius < 256 ? radius : 256) << shift > INT32_MAX) || op->input_offset < -127 ||
        op->input_offset > 128) {
        return TL_ERR_QUANT;
    }
    return TL_OK;
}

void tl_op_sigmoid_params(const tl_interp *it, const tl_op_rec *op, tl_sigmoid_params *p)
{
    p->input = tl_op_activation(it, op->inputs[0]);
    p->output = tl_op_activation(it, op->output);
    p->count = (int32_t)it->model->tensors[op->output].data_size;
    p->input_offset = op->input_offset;
    p->multiplier = op->p[TL_SIGMOID_MULT];
    p->shift = op->p[TL_SIGMOID_SHIFT];
    p->radius = op->p[TL_SIGMOID_RADIUS];
}
