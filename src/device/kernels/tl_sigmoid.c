/* tl_sigmoid.c - LOGISTIC and TANH, int8 and int16, one kernel loop each
 * for both functions.
 *
 * int8 (TFLite's reference integer Logistic and Tanh): an input beyond the
 * radius saturates; inside it, x - zero point is scaled into Q4.27 and
 * gemmlowp's fixed-point function (fixedpoint.h) gives a Q0.31 value,
 * rounded to 8 bits: LOGISTIC's output at scale 1/256, zero point -128,
 * TANH's at 1/128, zero point 0. int16 (TFLite's reference_integer_ops on
 * int16): the input scaled into the sigmoid table's units, looked up,
 * interpolated (sigmoid16.h). Output may alias the input. */
#include "kernels.h"
#include "op.h"
#include "sigmoid16.h"

static void sigmoid_s8(const tl_sigmoid_params *p, int tanh)
{
    for (int32_t i = 0; i < p->count; ++i) {
        const int32_t x = p->input[i] + p->input_offset;
        if (x <= -p->radius) {
            p->output[i] = -128;
        } else if (x >= p->radius) {
            p->output[i] = 127;
        } else {
            const int32_t q4 = tl_requantize(x, p->multiplier, p->shift);
            const int32_t v = tanh ? tl_rounding_divide_by_pot(tl_fp_tanh(q4, 4), 24)
                                   : tl_rounding_divide_by_pot(tl_fp_logistic(q4, 4), 23) - 128;
            p->output[i] = tl_clamp_s8(v, -128, 127);
        }
    }
}

void tl_logistic_s8(const tl_sigmoid_params *p)
{
    sigmoid_s8(p, 0);
}

void tl_tanh_s8(const tl_sigmoid_params *p)
{
    sigmoid_s8(p, 1);
}

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

/* ---- the operators ---- */

/* int8 in and out of one size, constants that keep the scaled input inside
 * Q4.27; or int16 in and out. */
static tl_status check_sigmoid(const tl_model *m, const tl_op_rec *op)
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

static void run_sigmoid(const tl_interp *it, const tl_op_rec *op)
{
    const int tanh = op->opcode == TL_OP_TANH;
    if (it->model->tensors[op->inputs[0]].dtype == TL_DTYPE_INT16) {
        tl_sigmoid16_params p;
        p.input = (const int16_t *)(const void *)tl_op_activation(it, op->inputs[0]);
        p.output = (int16_t *)(void *)tl_op_activation(it, op->output);
        p.count = (int32_t)(it->model->tensors[op->output].data_size / 2u);
        p.multiplier = op->p[TL_SIGMOID_MULT];
        p.shift = op->p[TL_SIGMOID_SHIFT];
        p.tanh = tanh;
        tl_sigmoid16(&p);
        return;
    }
    tl_sigmoid_params p;
    p.input = tl_op_activation(it, op->inputs[0]);
    p.output = tl_op_activation(it, op->output);
    p.count = (int32_t)it->model->tensors[op->output].data_size;
    p.input_offset = op->input_offset;
    p.multiplier = op->p[TL_SIGMOID_MULT];
    p.shift = op->p[TL_SIGMOID_SHIFT];
    p.radius = op->p[TL_SIGMOID_RADIUS];
    sigmoid_s8(&p, tanh);
}

const tl_op_kind tl_op_logistic = { "LOGISTIC", 0, check_sigmoid, run_sigmoid };
const tl_op_kind tl_op_tanh = { "TANH", 0, check_sigmoid, run_sigmoid };
