/* tl_mean.c - MEAN of an int8 or int16 tensor over any of its dimensions
 * (TFLite's reference QuantizedMeanOrSum, which TFLite Micro runs for both:
 * a raw int32 sum per output, the input zero point taken off count times,
 * one requantisation whose multiplier already holds 1 / count). */
#include "kernels.h"
#include "op.h"

void tl_mean(const tl_mean_params *p)
{
    int32_t stride[4], outer[4], inner[4], count = 1;
    stride[3] = 1;
    for (int i = 2; i >= 0; --i) {
        stride[i] = stride[i + 1] * p->in_dims[i + 1];
    }
    for (int i = 0; i < 4; ++i) {
        outer[i] = p->reduce[i] ? 1 : p->in_dims[i];
        inner[i] = p->reduce[i] ? p->in_dims[i] : 1;
        count *= inner[i];
    }
    const int32_t zero_sum = p->input_offset * count, es = p->element_size;
    const int32_t lo = es == 2 ? -32768 : -128, hi = es == 2 ? 32767 : 127;
    int32_t o = 0;
    for (int32_t a = 0; a < outer[0]; ++a) {
        for (int32_t b = 0; b < outer[1]; ++b) {
            for (int32_t c = 0; c < outer[2]; ++c) {
                for (int32_t d = 0; d < outer[3]; ++d) {
                    const int32_t base = a * stride[0] + b * stride[1] + c * stride[2] + d * stride[3];
                    int32_t sum = 0;
                    for (int32_t e = 0; e < inner[0]; ++e) {
                        for (int32_t f = 0; f < inner[1]; ++f) {
                            for (int32_t g = 0; g < inner[2]; ++g) {
                                const int32_t row = base + e * stride[0] + f * stride[1] + g * stride[2];
                                for (int32_t h = 0; h < inner[3]; ++h) {
                                    sum += tl_load_s8_s16(p->input, es, row + h * stride[3]);
                                }
                            }
                        }
                    }
                    int32_t v = tl_requantize(sum + zero_sum, p->multiplier, p->shift) + p->output_offset;
                    tl_store_s8_s16(p->output, es, o++, v < lo ? lo : (v > hi ? hi : v));
                }
            }
        }
    }
}

/* ---- the operator ---- */

/* |sum - zp * count| <= 256 * count (int8) or 65536 * count (int16) < 2^31 */
#define TL_MAX_MEAN_COUNT (1u << 22)
#define TL_MAX_MEAN_COUNT16 (1u << 14)

/* int8 or int16 in and out alike; offsets within the type. */
static tl_status check_mean(const tl_model *m, const tl_op_rec *op)
{
    const tl_tensor_rec *in = tl_op_tensor(m, op->inputs[0]), *out = tl_op_tensor(m, op->output);
    if (op->input_count != 1 || !tl_op_is_activation(in) || !tl_op_is_activation(out) || in->dtype != out->dtype ||
        (in->dtype != TL_DTYPE_INT8 && in->dtype != TL_DTYPE_INT16)) {
        return TL_ERR_FORMAT;
    }
    const int wide = in->dtype == TL_DTYPE_INT16;
    const int32_t limit = wide ? 32768 : 128;
    uint64_t kept = 1, count = 1;
    for (uint32_t i = 0; i < TL_MAX_RANK; ++i) {
        const int32_t r = op->p[TL_MEAN_REDUCE + i];
        if (r < 0 || r > 1 || (i >= in->rank && r)) {
            return TL_ERR_FORMAT;
        }
        kept *= r ? 1u : in->dims[i];
        count *= r ? in->dims[i] : 1u;
    }
    if (kept * tl_dtype_bytes(out->dtype) != out->data_size || count > (wide ? TL_MAX_MEAN_COUNT16 : TL_MAX_MEAN_COUNT)) {
        return TL_ERR_SHAPE;
    }
    if (!tl_op_valid_multiplier(op->p[TL_MEAN_MULT], op->p[TL_MEAN_SHIFT]) || op->input_offset < -limit + 1 ||
        op->input_offset > limit || op->output_offset < -limit || op->output_offset >= limit) {
        return TL_ERR_QUANT;
    }
    return TL_OK;
}

static void run_mean(const tl_interp *it, const tl_op_rec *op)
{
    const tl_tensor_rec *in = &it->model->tensors[op->inputs[0]];
    tl_mean_params p;
    p.input = tl_op_activation(it, op->inputs[0]);
    p.output = tl_op_activation(it, op->output);
    p.element_size = (int32_t)tl_dtype_bytes(in->dtype);
    for (int i = 0; i < 4; ++i) {
        p.in_dims[i] = (int32_t)in->dims[i];
        p.reduce[i] = op->p[TL_MEAN_REDUCE + i];
    }
    p.input_offset = op->input_offset;
    p.output_offset = op->output_offset;
    p.multiplier = op->p[TL_MEAN_MULT];
    p.shift = op->p[TL_MEAN_SHIFT];
    tl_mean(&p);
}

const tl_op_kind tl_op_mean = { "MEAN", 0, check_mean, run_mean };
