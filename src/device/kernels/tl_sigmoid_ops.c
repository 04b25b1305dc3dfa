/* tl_sigmoid_ops.c - what LOGISTIC and TANH share: the checks of their
 * records, the step from a record to kernel parameters, and their int16
 * kernel (TFLite's reference_integer_ops Logistic and Tanh on int16: the
 * input scaled into the sigmoid table's units, looked up, interpolated). */
#include "kernels.h"
#include "op.h"
#include "sigmoid16.h"

void tl_sigmoid16(const tl_sigmoid16_params *p)
{
    for (int32_t i = 0; i < p->count; ++i) {
        p->output[i] = p->tanh ? tl_tanh_s16(p->input[i], p->multiplier, p->shift)
                               : tl_sigmoid_s16_scaled(p->input[i], p->multiplier, p->shift);
    }
}

/* int16 in and out of one size, zero points of 0 (the output at 1/32768,
 * which the importer checks); |x| * multiplier stays in int32. */
static tl_status check_sigmoid16(const tl_model *m, const tl_op_rec *op)
{
    const tl_tensor_rec *in = tl_op_tensor(m, op->inputs[0]), *out = tl_op_tensor(m, op->output);
    if (op->input_count != 1 || !tl_op_is_activation(out) || out->dtype != TL_DTYPE_INT16) {
        return TL_ERR_FORMAT;
    }
    if (in->data_size != out->data_size) {
        return TL_ERR_SHAPE;
    }
    const int32_t multiplier = op->p[TL_SIGMOID_MULT], shift = op->p[TL_SIGMOID_SHIFT];
    if (op->input_offset != 0 || op->output_offset != 0 || multiplier < 0 || multiplier > 65535 || shift < 0 ||
        shift > 31) {
        return TL_ERR_QUANT;
    }
    return TL_OK;
}

tl_status tl_op_check_sigmoid(const tl_model *m, const tl_op_rec *op)
{
    const tl_tensor_rec *first = tl_op_tensor(m, op->inputs[0]);
    if (tl_op_is_activation(first) && first->dtype == TL_DTYPE_INT16) {
        return check_sigmoid16(m, op);
    }
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

int tl_op_run_sigmoid16(const tl_interp *it, const tl_op_rec *op)
{
    if (it->model->tensors[op->inputs[0]].dtype != TL_DTYPE_INT16) {
        return 0;
    }
    tl_sigmoid16_params p;
    p.input = (const int16_t *)(const void *)tl_op_activation(it, op->inputs[0]);
    p.output = (int16_t *)(void *)tl_op_activation(it, op->output);
    p.count = (int32_t)(it->model->tensors[op->output].data_size / 2u);
    p.multiplier = op->p[TL_SIGMOID_MULT];
    p.shift = op->p[TL_SIGMOID_SHIFT];
    p.tanh = op->opcode == TL_OP_TANH;
    tl_sigmoid16(&p);
    return 1;
}
