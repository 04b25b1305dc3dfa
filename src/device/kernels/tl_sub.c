/* tl_sub.c - SUB of int8 or int16 tensors of broadcasting shapes
 * (TFLite's reference Sub: ADD's arithmetic with the second input's
 * scaled value taken away). */
#include "kernels.h"
#include "op.h"

int32_t tl_sub_fn(int32_t a, int32_t b, const void *quant)
{
    return tl_add_value(a, b, quant, -1);
}

/* ---- the operator ---- */

static tl_status check_sub(const tl_model *m, const tl_op_rec *op)
{
    int wide;
    tl_status s = tl_op_check_broadcast(m, op, &wide);
    if (s != TL_OK) {
        return s;
    }
    tl_residual_add q;
    tl_op_add_quant(op, &q);
    return tl_op_check_add_quant(&q, wide);
}

static void run_sub(const tl_interp *it, const tl_op_rec *op)
{
    tl_broadcast_params p;
    tl_residual_add q;
    tl_op_broadcast_params(it, op, &p);
    tl_op_add_quant(op, &q);
    tl_broadcast_apply(&p, tl_sub_fn, &q);
}

const tl_op_kind tl_op_sub = { "SUB", 0, check_sub, run_sub };
