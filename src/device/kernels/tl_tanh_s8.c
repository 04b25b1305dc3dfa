/* tl_tanh_s8.c - TANH of an int8 tensor (TFLite's reference integer Tanh): the output
 * at scale 1/128, zero point 0. An input beyond the radius
 * saturates; inside it, x - zero point is scaled into Q4.27 and the
 * fixed-point function (fixedpoint.h, gemmlowp's) gives a Q0.31 value,
 * rounded to the output's 8 bits. Output may alias the input. */
#include "kernels.h"
#include "op.h"

void tl_tanh_s8(const tl_sigmoid_params *p)
{
    for (int32_t i = 0; i < p->count; ++i) {
        const int32_t x = p->input[i] + p->input_offset;
        if (x <= -p->radius) {
            p->output[i] = -128;
        } else if (x >= p->radius) {
            p->output[i] = 127;
        } else {
            const int32_t q4 = tl_requantize(x, p->multiplier, p->shift);
            const int32_t v = tl_rounding_divide_by_pot(tl_fp_tanh(q4, 4), 24) + (0);
            p->output[i] = tl_clamp_s8(v, -128, 127);
        }
    }
}

/* ---- the operator ---- */

static tl_status check_tanh(const tl_model *m, const tl_op_rec *op)
{
    return tl_op_check_sigmoid(m, op);
}

static void run_tanh(const tl_interp *it, const tl_op_rec *op)
{
    if (tl_op_run_sigmoid16(it, op)) {
        return;
    }
    tl_sigmoid_params p;
    tl_op_sigmoid_params(it, op, &p);
    tl_tanh_s8(&p);
}

const tl_op_kind tl_op_tanh = { "TANH", 0, check_tanh, run_tanh };
