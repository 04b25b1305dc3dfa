/* tl_add_s8.c - ADD of two int8 tensors of one shape.
 *
 * Both inputs are brought to a common scale (shifted left by left_shift for
 * headroom, then scaled by multipliers below one), summed, and requantised,
 * with TFLite's rounding at each step. Element i is read before it is
 * written, so the output may share memory with either input.
 */
#include "kernels.h"
#include "op.h"
#include "fixedpoint.h"

void tl_add_s8(const tl_add_params *p)
{
    const tl_residual_add q = p->quant;
    for (int32_t i = 0; i < p->size; ++i) {
        p->output[i] = tl_add_element(p->input1[i], p->input2[i], &q);
    }
}

/* ---- the operator ---- */

static tl_status check_add(const tl_model *m, const tl_op_rec *op)
{
    tl_status s = tl_op_check_s8_output(m, op);
    if (s != TL_OK) {
        return s;
    }
    const tl_tensor_rec *a = tl_op_tensor(m, op->inputs[0]);
    const tl_tensor_rec *b = tl_op_tensor(m, op->inputs[1]);
    const tl_tensor_rec *out = tl_op_tensor(m, op->output);
    if (op->input_count != 2 || !tl_op_is_s8_activation(a) || !tl_op_is_s8_activation(b)) {
        return TL_ERR_FORMAT;
    }
    if (a->data_size != out->data_size || b->data_size != out->data_size) {
        return TL_ERR_SHAPE;
    }
    const tl_residual_add q = {
        0, op->input_offset, op->p[TL_ADD_INPUT2_OFFSET], op->output_offset, op->p[TL_ADD_LEFT_SHIFT],
        op->p[TL_ADD_INPUT1_MULT], op->p[TL_ADD_INPUT1_SHIFT], op->p[TL_ADD_INPUT2_MULT],
        op->p[TL_ADD_INPUT2_SHIFT], op->p[TL_ADD_OUTPUT_MULT], op->p[TL_ADD_OUTPUT_SHIFT],
        op->act_min, op->act_max
    };
    return tl_op_check_add_quant(&q);
}

static void run_add(const tl_interp *it, const tl_op_rec *op)
{
    tl_add_params p;
    p.input1 = tl_op_activation(it, op->inputs[0]);
    p.input2 = tl_op_activation(it, op->inputs[1]);
    p.output = tl_op_activation(it, op->output);
    p.size = (int32_t)it->model->tensors[op->output].data_size;
    p.quant.conv_is_input1 = 0;
    p.quant.input1_offset = op->input_offset;
    p.quant.input2_offset = op->p[TL_ADD_INPUT2_OFFSET];
    p.quant.output_offset = op->output_offset;
    p.quant.left_shift = op->p[TL_ADD_LEFT_SHIFT];
    p.quant.input1_multiplier = op->p[TL_ADD_INPUT1_MULT];
    p.quant.input1_shift = op->p[TL_ADD_INPUT1_SHIFT];
    p.quant.input2_multiplier = op->p[TL_ADD_INPUT2_MULT];
    p.quant.input2_shift = op->p[TL_ADD_INPUT2_SHIFT];
    p.quant.output_multiplier = op->p[TL_ADD_OUTPUT_MULT];
    p.quant.output_shift = op->p[TL_ADD_OUTPUT_SHIFT];
    p.quant.act_min = op->act_min;
    p.quant.act_max = op->act_max;
    tl_add_s8(&p);
}

const tl_op_kind tl_op_add = { "ADD", 0, check_add, run_add };
