/* tl_softmax_s8.c - SOFTMAX over the last dimension, int8 in and out.
 *
 * Integer-only, bit-exact with TFLite: differences to the row maximum are
 * scaled by beta * input_scale into Q5.26, exponentiated in fixed point,
 * summed in Q12.19, and divided via a fixed-point reciprocal. The output
 * scale is 1/256 with zero point -128, or for an int16 output (TFLite's
 * int8-in, int16-out softmax) 1/65536 with zero point -32768. Each output
 * element depends only on its own input element and the row's sums, so an
 * int8 input and output may alias.
 */
#include "kernels.h"
#include "op.h"
#include "fixedpoint.h"

void tl_softmax_s8(const tl_softmax_params *p)
{
    enum { ACCUM_INT_BITS = 12 };
    for (int32_t r = 0; r < p->rows; ++r) {
        const int8_t *in = p->input + r * p->depth;
        int8_t *out = p->output + r * p->depth;
        int32_t max_in_row = -128;
        for (int32_t c = 0; c < p->depth; ++c) {
            if (in[c] > max_in_row) {
                max_in_row = in[c];
            }
        }
        int32_t sum_of_exps = 0;
        for (int32_t c = 0; c < p->depth; ++c) {
            const int32_t diff = in[c] - max_in_row;
            if (diff >= p->diff_min) {
                const int32_t scaled = tl_sat_rounding_doubling_high_mul(
                    diff * (1 << p->input_left_shift), p->input_multiplier);
                sum_of_exps += tl_fp_mul_pot(tl_fp_exp_negative_q5(scaled), -ACCUM_INT_BITS);
            }
        }
        /* 1 / sum: normalise the sum into [1, 2), take 1/(1+x), remember how
         * many bits above one were dropped. */
        const int headroom_plus_one = tl_count_leading_zeros((uint32_t)sum_of_exps);
        const int bits_over_unit = ACCUM_INT_BITS - headroom_plus_one;
        const int32_t shifted_sum_minus_one =
            (int32_t)(((uint32_t)sum_of_exps << headroom_plus_one) - ((uint32_t)1 << 31));
        const int32_t reciprocal = tl_fp_one_over_one_plus_x(shifted_sum_minus_one);
        const int exponent = bits_over_unit + 31 - (p->output16 ? 16 : 8);
        int16_t *out16 = p->output16 ? p->output16 + r * p->depth : NULL;
        for (int32_t c = 0; c < p->depth; ++c) {
            const int32_t diff = in[c] - max_in_row;
            if (diff >= p->diff_min) {
                const int32_t scaled = tl_sat_rounding_doubling_high_mul(
                    diff * (1 << p->input_left_shift), p->input_multiplier);
                const int32_t e = tl_fp_exp_negative_q5(scaled);
                const int32_t unsat = tl_rounding_divide_by_pot(tl_fp_mul(reciprocal, e), exponent);
                if (out16) {
                    const int32_t v = unsat - 32768;
                    out16[c] = (int16_t)(v > 32767 ? 32767 : v);
                } else {
                    out[c] = tl_clamp_s8(unsat - 128, -128, 127);
                }
            } else if (out16) {
                out16[c] = -32768;
            } else {
                out[c] = -128;
            }
        }
    }
}

/* ---- the operator ---- */

#define TL_MAX_SOFTMAX_DEPTH 4095u  /* keeps the Q12.19 sum of exps in int32 */

/* int16 in and out of one shape: the tables' block, a shift that keeps the
 * scaled difference (|d| <= 65535) in int32. (A row's sum of exps, each at
 * most 32767, stays in int32 for any depth up to TL_MAX_DIM.) */
static tl_status check_softmax16(const tl_model *m, const tl_op_rec *op)
{
    const tl_tensor_rec *in = tl_op_tensor(m, op->inputs[0]), *out = tl_op_tensor(m, op->output);
    if (op->input_count != 1 || out->dtype != TL_DTYPE_INT16 || in->data_size != out->data_size ||
        in->rank != out->rank || in->dims[in->rank - 1] != out->dims[out->rank - 1]) {
        return TL_ERR_SHAPE;
    }
    if (op->requant % 4 != 0 || op->bias != 4u * TL_SOFTMAX16_LUT ||
        (uint64_t)op->requant + op->bias > m->weights_size) {
        return TL_ERR_BOUNDS;
    }
    const int32_t shift = op->p[TL_SOFTMAX_INPUT_LEFT_SHIFT];
    return tl_op_valid_multiplier(op->p[TL_SOFTMAX_INPUT_MULT], shift) && shift <= 14 ? TL_OK : TL_ERR_QUANT;
}

static tl_status check_softmax(const tl_model *m, const tl_op_rec *op)
{
    const tl_tensor_rec *in = tl_op_tensor(m, op->inputs[0]), *out = tl_op_tensor(m, op->output);
    if (tl_op_is_activation(in) && in->dtype == TL_DTYPE_INT16) {
        return check_softmax16(m, op);
    }
    if (op->input_count != 1 || !tl_op_is_s8_activation(in) ||
        (out->dtype != TL_DTYPE_INT8 && out->dtype != TL_DTYPE_INT16)) {
        return TL_ERR_FORMAT;
    }
    if (in->data_size * tl_dtype_bytes(out->dtype) != out->data_size || in->rank != out->rank ||
        in->dims[in->rank - 1] != out->dims[out->rank - 1] || in->dims[in->rank - 1] > TL_MAX_SOFTMAX_DEPTH) {
        return TL_ERR_SHAPE;
    }
    /* Differences below diff_min are skipped; the ones used are scaled by
     * 2^left_shift and must stay in int32. */
    const int32_t shift = op->p[TL_SOFTMAX_INPUT_LEFT_SHIFT];
    const int32_t diff_min = op->p[TL_SOFTMAX_DIFF_MIN];
    if (op->p[TL_SOFTMAX_INPUT_MULT] <= 0 || shift < 0 || shift > 30 || diff_min > 0 || diff_min < -255 ||
        ((uint64_t)(-(int64_t)diff_min) << shift) > INT32_MAX) {
        return TL_ERR_QUANT;
    }
    return TL_OK;
}

static void run_softmax16(const tl_interp *it, const tl_op_rec *op)
{
    const tl_tensor_rec *in = &it->model->tensors[op->inputs[0]];
    tl_softmax16_params p;
    p.input = (const int16_t *)(const void *)tl_op_activation(it, op->inputs[0]);
    p.output = (int16_t *)(void *)tl_op_activation(it, op->output);
    p.depth = (int32_t)in->dims[in->rank - 1];
    p.rows = (int32_t)(in->data_size / 2u / (uint32_t)p.depth);
    p.input_multiplier = op->p[TL_SOFTMAX_INPUT_MULT];
    p.input_shift = op->p[TL_SOFTMAX_INPUT_LEFT_SHIFT];
    p.exp_lut = (const int16_t *)(const void *)(it->model->weights + op->requant);
    p.reciprocal_lut = p.exp_lut + TL_SOFTMAX16_LUT;
    tl_softmax_s16(&p);
}

static void run_softmax_int8(const tl_interp *it, const tl_op_rec *op)
{
    const tl_tensor_rec *in = &it->model->tensors[op->inputs[0]];
    tl_softmax_params p;
    p.input = tl_op_activation(it, op->inputs[0]);
    p.output = tl_op_activation(it, op->output);
    p.output16 = it->model->tensors[op->output].dtype == TL_DTYPE_INT16 ? (int16_t *)(void *)p.output : NULL;
    p.depth = (int32_t)in->dims[in->rank - 1];
    p.rows = (int32_t)(in->data_size / (uint32_t)p.depth);
    p.input_multiplier = op->p[TL_SOFTMAX_INPUT_MULT];
    p.input_left_shift = op->p[TL_SOFTMAX_INPUT_LEFT_SHIFT];
    p.diff_min = op->p[TL_SOFTMAX_DIFF_MIN];
    tl_softmax_s8(&p);
}

static void run_softmax(const tl_interp *it, const tl_op_rec *op)
{
    if (it->model->tensors[op->inputs[0]].dtype == TL_DTYPE_INT16) {
        run_softmax16(it, op);
    } else {
        run_softmax_int8(it, op);
    }
}

/* The int8-only kind (see tl_op_conv_2d_int8): no int16 kernel linked. */
static tl_status check_softmax_int8(const tl_model *m, const tl_op_rec *op)
{
    const tl_tensor_rec *in = tl_op_tensor(m, op->inputs[0]);
    return in && in->dtype == TL_DTYPE_INT8 ? check_softmax(m, op) : TL_ERR_UNSUPPORTED;
}

const tl_op_kind tl_op_softmax = { "SOFTMAX", 0, check_softmax, run_softmax };
const tl_op_kind tl_op_softmax_int8 = { "SOFTMAX", 0, check_softmax_int8, run_softmax_int8 };
