/* tl_hard_swish.c - HARD_SWISH of int8 tensors, x * relu6(x + 3) / 6, in
 * TFLite's 16-bit fixed point (reference_ops::HardSwish): the input moved
 * up 7 bits, a "relu-ish" factor in [0, 1] from it (3.0 at 32768), their
 * product truncated (not rounded: TFLite measured rounding to bias the
 * result) and shifted down to the output scale. */
#include "kernels.h"
#include "op.h"

static int32_t clamp16(int64_t v)
{
    return v < -32768 ? -32768 : (v > 32767 ? 32767 : (int32_t)v);
}

/* int16 Q15 products: rounded, and truncated toward zero. */
static int32_t mul16_rounded(int32_t a, int32_t b)
{
    if (a == -32768 && b == -32768) {
        return 32767;
    }
    const int32_t ab = a * b;
    return (ab + (ab >= 0 ? (1 << 14) : 1 - (1 << 14))) / (1 << 15);
}

static int32_t mul16_truncated(int32_t a, int32_t b)
{
    if (a == -32768 && b == -32768) {
        return 32767;
    }
    return (a * b) / (1 << 15);
}

static int32_t shift_left16(int32_t v, int32_t amount)
{
    return clamp16((int64_t)v * ((int64_t)1 << amount));
}

void tl_hard_swish(const tl_hard_swish_params *p)
{
    const int32_t exponent = p->reluish_exponent;
    for (int32_t i = 0; i < p->count; ++i) {
        const int32_t hires = (p->input[i] + p->input_offset) * (1 << 7);
        const int32_t preshift = mul16_rounded(hires, p->output_multiplier);
        int32_t reluish = hires;
        if (exponent > 0) {
            /* all but the last bit first, so any saturation that matters
             * happens in the last step */
            reluish = shift_left16(reluish, exponent - 1);
        }
        reluish = mul16_rounded(reluish, p->reluish_multiplier);
        if (exponent > 0) {
            reluish = shift_left16(reluish, 1);
        } else if (exponent < 0) {
            reluish = tl_rounding_divide_by_pot(reluish, -exponent);
        }
        reluish = (reluish + 32768) >> 1; /* [-1, 1] to [0, 1] */
        int32_t out = tl_rounding_divide_by_pot(mul16_truncated(reluish, preshift), -p->output_exponent) +
                      p->output_offset;
        out = out < -128 ? -128 : (out > 127 ? 127 : out);
        p->output[i] = (int8_t)out;
    }
}

/* ---- the operator ---- */

/* int8 in and out of one size; Q15 multipliers in [0, 32767], the output
 * exponent not above 0 (TFLite's own condition), the relu-ish one within
 * 31 bits either way. */
static tl_status check_hard_swish(const tl_model *m, const tl_op_rec *op)
{
    const tl_tensor_rec *in = tl_op_tensor(m, op->inputs[0]), *out = tl_op_tensor(m, op->output);
    if (op->input_count != 1 || !tl_op_is_s8_activation(in) || tl_op_check_s8_output(m, op) != TL_OK) {
        return TL_ERR_FORMAT;
    }
    if (in->data_size != out->data_size) {
        return TL_ERR_SHAPE;
    }
    const int32_t *p = op->p;
    if (op->input_offset < -127 || op->input_offset > 128 || op->output_offset < -128 || op->output_offset > 127 ||
        p[TL_HARD_SWISH_RELUISH_MULT] < 0 || p[TL_HARD_SWISH_RELUISH_MULT] > 32767 ||
        p[TL_HARD_SWISH_OUTPUT_MULT] < 0 || p[TL_HARD_SWISH_OUTPUT_MULT] > 32767 ||
        p[TL_HARD_SWISH_RELUISH_EXPONENT] < -31 || p[TL_HARD_SWISH_RELUISH_EXPONENT] > 31 ||
        p[TL_HARD_SWISH_OUTPUT_EXPONENT] < -31 || p[TL_HARD_SWISH_OUTPUT_EXPONENT] > 0) {
        return TL_ERR_QUANT;
    }
    return TL_OK;
}

static void run_hard_swish(const tl_interp *it, const tl_op_rec *op)
{
    tl_hard_swish_params p;
    p.input = tl_op_activation(it, op->inputs[0]);
    p.output = tl_op_activation(it, op->output);
    p.count = (int32_t)it->model->tensors[op->output].data_size;
    p.input_offset = op->input_offset;
    p.output_offset = op->output_offset;
    p.reluish_multiplier = op->p[TL_HARD_SWISH_RELUISH_MULT];
    p.reluish_exponent = op->p[TL_HARD_SWISH_RELUISH_EXPONENT];
    p.output_multiplier = op->p[TL_HARD_SWISH_OUTPUT_MULT];
    p.output_exponent = op->p[TL_HARD_SWISH_OUTPUT_EXPONENT];
    tl_hard_swish(&p);
}

const tl_op_kind tl_op_hard_swish = { "HARD_SWISH", 0, check_hard_swish, run_hard_swish };
