/* tl_mul.c - MUL of int8 or int16 tensors of broadcasting shapes (TFLite's
 * reference MulElementwise: the offset product requantised once). */
#include "kernels.h"
#include "op.h"

int32_t tl_mul_fn(int32_t a, int32_t b, const void *quant)
{
    const tl_mul_quant *q = quant;
    const int32_t v = tl_requantize((a + q->input1_offset) * (b + q->input2_offset), q->multiplier, q->shift) +
                      q->output_offset;
    return v < q->act_min ? q->act_min : (v > q->act_max ? q->act_max : v);
}

/* ---- the operator ---- */

static void mul_quant(const tl_op_rec *op, tl_mul_quant *q)
{
    q->input1_offset = op->input_offset;
    q->input2_offset = op->p[TL_MUL_INPUT2_OFFSET];
    q->output_offset = op->output_offset;
    q->multiplier = op->p[TL_MUL_MULT];
    q->shift = op->p[TL_MUL_SHIFT];
    q->act_min = op->act_min;
    q->act_max = op->act_max;
}

/* The product of two offset int8 values (255 * 255) or two int16 ones
 * (2^30) stays in int32. */
static tl_status check_mul(const tl_model *m, const tl_op_rec *op)
{
    int wide;
    tl_status s = tl_op_check_broadcast(m, op, &wide);
    if (s != TL_OK) {
        return s;
    }
    tl_mul_quant q;
    mul_quant(op, &q);
    const int32_t lo = wide ? -32768 : -128, hi = wide ? 32767 : 127;
    if ((wide ? (q.input1_offset || q.input2_offset || q.output_offset)
              : (q.input1_offset < -127 || q.input1_offset > 128 || q.input2_offset < -127 || q.input2_offset > 128 ||
                 q.output_offset < -128 || q.output_offset > 127)) ||
        !tl_op_valid_multiplier(q.multiplier, q.shift) || q.act_min < lo || q.act_max > hi) {
        return TL_ERR_QUANT;
    }
    return TL_OK;
}

static void run_mul(const tl_interp *it, const tl_op_rec *op)
{
    tl_broadcast_params p;
    tl_mul_quant q;
    tl_op_broadcast_params(it, op, &p);
    mul_quant(op, &q);
    tl_broadcast_apply(&p, tl_mul_fn, &q);
}

const tl_op_kind tl_op_mul = { "MUL", 0, check_mul, run_mul };
