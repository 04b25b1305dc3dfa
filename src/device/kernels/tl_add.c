/* tl_add.c - ADD and SUB: two int8 tensors of one shape added in a plain
 * loop, and, through the broadcast walk, int8 or int16 tensors of
 * broadcasting shapes added or subtracted (TFLite's reference Sub is ADD's
 * arithmetic with the second input's scaled value taken away).
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

int32_t tl_add_fn(int32_t a, int32_t b, const void *quant)
{
    return tl_add_value(a, b, quant, 1);
}

int32_t tl_sub_fn(int32_t a, int32_t b, const void *quant)
{
    return tl_add_value(a, b, quant, -1);
}

/* ---- the operator ---- */

/* An ADD / SUB record's constants as tl_residual_add. */
static void add_quant(const tl_op_rec *op, tl_residual_add *q)
{
    q->conv_is_input1 = 0;
    q->input1_offset = op->input_offset;
    q->input2_offset = op->p[TL_ADD_INPUT2_OFFSET];
    q->output_offset = op->output_offset;
    q->left_shift = op->p[TL_ADD_LEFT_SHIFT];
    q->input1_multiplier = op->p[TL_ADD_INPUT1_MULT];
    q->input1_shift = op->p[TL_ADD_INPUT1_SHIFT];
    q->input2_multiplier = op->p[TL_ADD_INPUT2_MULT];
    q->input2_shift = op->p[TL_ADD_INPUT2_SHIFT];
    q->output_multiplier = op->p[TL_ADD_OUTPUT_MULT];
    q->output_shift = op->p[TL_ADD_OUTPUT_SHIFT];
    q->act_min = op->act_min;
    q->act_max = op->act_max;
}

/* Two int8 or int16 tensors broadcast to the output, the ADD constants of
 * their type (ADD's and SUB's alike). */
static tl_status check_add(const tl_model *m, const tl_op_rec *op)
{
    int wide;
    tl_status s = tl_op_check_broadcast(m, op, &wide);
    if (s != TL_OK) {
        return s;
    }
    tl_residual_add q;
    add_quant(op, &q);
    return tl_op_check_add_quant(&q, wide);
}

static void run_add(const tl_interp *it, const tl_op_rec *op)
{
    const tl_model *m = it->model;
    const uint32_t n = m->tensors[op->output].data_size;
    if (m->tensors[op->output].dtype == TL_DTYPE_INT8 && m->tensors[op->inputs[0]].data_size == n &&
        m->tensors[op->inputs[1]].data_size == n) { /* same shapes: the plain loop */
        tl_add_params p;
        p.input1 = tl_op_activation(it, op->inputs[0]);
        p.input2 = tl_op_activation(it, op->inputs[1]);
        p.output = tl_op_activation(it, op->output);
        p.size = (int32_t)n;
        add_quant(op, &p.quant);
        tl_add_s8(&p);
        return;
    }
    tl_broadcast_params p;
    tl_residual_add q;
    tl_op_broadcast_params(it, op, &p);
    add_quant(op, &q);
    tl_broadcast_apply(&p, tl_add_fn, &q);
}

static void run_sub(const tl_interp *it, const tl_op_rec *op)
{
    tl_broadcast_params p;
    tl_residual_add q;
    tl_op_broadcast_params(it, op, &p);
    add_quant(op, &q);
    tl_broadcast_apply(&p, tl_sub_fn, &q);
}

const tl_op_kind tl_op_add = { "ADD", 0, check_add, run_add };
const tl_op_kind tl_op_sub = { "SUB", 0, check_add, run_sub };
