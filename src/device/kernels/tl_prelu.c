/* tl_prelu.c - PRELU of int8 tensors (TFLite's reference
 * BroadcastPrelu4DSlow): the identity's requantisation where the input is
 * not negative, the product with alpha's requantisation where it is; alpha
 * broadcast to the input through the shared walk. */
#include "kernels.h"
#include "op.h"

int32_t tl_prelu_fn(int32_t x, int32_t alpha, const void *quant)
{
    const tl_prelu_quant *q = quant;
    const int32_t v = x + q->input_offset;
    const int32_t r = v >= 0 ? tl_requantize(v, q->multiplier, q->shift)
                             : tl_requantize(v * (alpha + q->alpha_offset), q->alpha_multiplier, q->alpha_shift);
    const int32_t out = r + q->output_offset;
    return out < -128 ? -128 : (out > 127 ? 127 : out);
}

/* ---- the operator ---- */

static void prelu_quant(const tl_op_rec *op, tl_prelu_quant *q)
{
    q->input_offset = op->input_offset;
    q->alpha_offset = op->p[TL_PRELU_ALPHA_OFFSET];
    q->output_offset = op->output_offset;
    q->multiplier = op->p[TL_PRELU_MULT];
    q->shift = op->p[TL_PRELU_SHIFT];
    q->alpha_multiplier = op->p[TL_PRELU_ALPHA_MULT];
    q->alpha_shift = op->p[TL_PRELU_ALPHA_SHIFT];
}

/* int8 only; |x - zp| <= 255 and |alpha - zp| <= 255: left shifts up to
 * 15 keep every product in int32. */
static tl_status check_prelu(const tl_model *m, const tl_op_rec *op)
{
    int wide;
    tl_status s = tl_op_check_broadcast(m, op, &wide);
    if (s != TL_OK) {
        return s;
    }
    tl_prelu_quant q;
    prelu_quant(op, &q);
    if (wide || q.input_offset < -127 || q.input_offset > 128 || q.alpha_offset < -127 || q.alpha_offset > 128 ||
        q.output_offset < -128 || q.output_offset > 127 || !tl_op_valid_multiplier(q.multiplier, q.shift) ||
        !tl_op_valid_multiplier(q.alpha_multiplier, q.alpha_shift) || q.shift > 15 || q.alpha_shift > 15) {
        return TL_ERR_QUANT;
    }
    return TL_OK;
}

static void run_prelu(const tl_interp *it, const tl_op_rec *op)
{
    tl_broadcast_params p;
    tl_prelu_quant q;
    tl_op_broadcast_params(it, op, &p);
    prelu_quant(op, &q);
    tl_broadcast_apply(&p, tl_prelu_fn, &q);
}

const tl_op_kind tl_op_prelu = { "PRELU", 0, check_prelu, run_prelu };
