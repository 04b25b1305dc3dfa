/* tl_relu.c - RELU, RELU6, RELU_N1_TO_1 and LEAKY_RELU of int8 or int16
 * tensors (TFLite Micro's ReluQuantized and QuantizeLeakyRelu): each value
 * less the input's zero point, requantised (by alpha's multiplier below zero
 * for LEAKY_RELU), plus the output's zero point, clamped. Output may alias
 * the input. */
#include "kernels.h"
#include "op.h"

void tl_relu(const tl_relu_params *p)
{
    for (int32_t i = 0; i < p->count; ++i) {
        const int32_t x = tl_load_s8_s16(p->input, p->element_size, i) + p->input_offset;
        const int leaky = p->leaky && x < 0;
        const int32_t v = tl_requantize(x, leaky ? p->alpha_multiplier : p->multiplier, leaky ? p->alpha_shift : p->shift) +
                    p->output_offset;
        tl_store_s8_s16(p->output, p->element_size, i, v < p->act_min ? p->act_min : (v > p->act_max ? p->act_max : v));
    }
}

/* ---- the operators ---- */

/* int8 or int16 in and out alike, of one size; multipliers TFLite's
 * requantisation takes; the clamp and offsets within the type (|x - zp| is
 * at most 65535, so a left shift up to 15 stays in int32). */
static tl_status check_relu(const tl_model *m, const tl_op_rec *op)
{
    const tl_tensor_rec *in = tl_op_tensor(m, op->inputs[0]), *out = tl_op_tensor(m, op->output);
    if (op->input_count != 1 || !tl_op_is_activation(in) || in->dtype != out->dtype ||
        (in->dtype != TL_DTYPE_INT8 && in->dtype != TL_DTYPE_INT16)) {
        return TL_ERR_FORMAT;
    }
    if (in->data_size != out->data_size) {
        return TL_ERR_SHAPE;
    }
    const int32_t limit = in->dtype == TL_DTYPE_INT8 ? 128 : 32768;
    const int leaky = op->opcode == TL_OP_LEAKY_RELU;
    if (!tl_op_valid_multiplier(op->p[TL_RELU_MULT], op->p[TL_RELU_SHIFT]) || op->p[TL_RELU_SHIFT] > 15 ||
        (leaky && (!tl_op_valid_multiplier(op->p[TL_RELU_ALPHA_MULT], op->p[TL_RELU_ALPHA_SHIFT]) ||
                   op->p[TL_RELU_ALPHA_SHIFT] > 15)) ||
        op->input_offset < -limit + 1 || op->input_offset > limit || op->output_offset < -limit ||
        op->output_offset >= limit || op->act_min < -limit || op->act_max >= limit) {
        return TL_ERR_QUANT;
    }
    return TL_OK;
}

static void run_relu(const tl_interp *it, const tl_op_rec *op)
{
    tl_relu_params p;
    p.input = tl_op_activation(it, op->inputs[0]);
    p.output = tl_op_activation(it, op->output);
    p.element_size = (int32_t)tl_dtype_bytes(it->model->tensors[op->output].dtype);
    p.count = (int32_t)(it->model->tensors[op->output].data_size / (uint32_t)p.element_size);
    p.input_offset = op->input_offset;
    p.output_offset = op->output_offset;
    p.multiplier = op->p[TL_RELU_MULT];
    p.shift = op->p[TL_RELU_SHIFT];
    p.leaky = op->opcode == TL_OP_LEAKY_RELU;
    p.alpha_multiplier = op->p[TL_RELU_ALPHA_MULT];
    p.alpha_shift = op->p[TL_RELU_ALPHA_SHIFT];
    p.act_min = op->act_min;
    p.act_max = op->act_max;
    tl_relu(&p);
}

const tl_op_kind tl_op_relu = { "RELU", 0, check_relu, run_relu };
const tl_op_kind tl_op_leaky_relu = { "LEAKY_RELU", 0, check_relu, run_relu };
