/* tl_quantize.c - QUANTIZE and DEQUANTIZE: from one number type to another
 * (int8, int16, int32, float32), as TFLite's reference Requantize,
 * AffineQuantize and Dequantize do it. The only operators with floating
 * point on the device, for a float model's inputs and outputs; a Cortex-M4F
 * gives the same bits as the host (one IEEE-754 division or product per
 * element, nothing to fuse). */
#include <string.h>

#include "kernels.h"
#include "op.h"

static int32_t load_int(const void *data, uint32_t dtype, int32_t i)
{
    switch (dtype) {
    case TL_DTYPE_INT16: return ((const int16_t *)data)[i];
    case TL_DTYPE_INT32: return ((const int32_t *)data)[i];
    default: return ((const int8_t *)data)[i];
    }
}

static void store_int(void *data, uint32_t dtype, int32_t i, int64_t v)
{
    const int64_t lo = dtype == TL_DTYPE_INT8 ? -128 : dtype == TL_DTYPE_INT16 ? -32768 : INT32_MIN;
    const int64_t hi = dtype == TL_DTYPE_INT8 ? 127 : dtype == TL_DTYPE_INT16 ? 32767 : INT32_MAX;
    v = v < lo ? lo : (v > hi ? hi : v);
    switch (dtype) {
    case TL_DTYPE_INT16: ((int16_t *)data)[i] = (int16_t)v; break;
    case TL_DTYPE_INT32: ((int32_t *)data)[i] = (int32_t)v; break;
    default: ((int8_t *)data)[i] = (int8_t)v; break;
    }
}

/* round(q), halves away from zero, as roundf, clamped to int32 (no libm). */
static int64_t round_to_int(float q)
{
    if (!(q > -2147483648.0f)) {
        return q != q ? 0 : INT32_MIN; /* NaN quantises to 0 */
    }
    if (q >= 2147483648.0f) {
        return INT32_MAX;
    }
    const int32_t t = (int32_t)q; /* toward zero; q - t is exact */
    const float frac = q - (float)t;
    return (int64_t)t + (frac >= 0.5f ? 1 : (frac <= -0.5f ? -1 : 0));
}

void tl_quantize(const tl_quantize_params *p)
{
    if (p->in_dtype == TL_DTYPE_FLOAT32) {
        const float *in = p->input;
        for (int32_t i = 0; i < p->count; ++i) {
            store_int(p->output, p->out_dtype, i, round_to_int(in[i] / p->scale) + p->output_offset);
        }
        return;
    }
    if (p->out_dtype == TL_DTYPE_FLOAT32) {
        float *out = p->output;
        for (int32_t i = 0; i < p->count; ++i) {
            out[i] = p->scale * (float)(load_int(p->input, p->in_dtype, i) + p->input_offset);
        }
        return;
    }
    for (int32_t i = 0; i < p->count; ++i) {
        int64_t x = (int64_t)load_int(p->input, p->in_dtype, i) + p->input_offset;
        x = x < INT32_MIN ? INT32_MIN : (x > INT32_MAX ? INT32_MAX : x);
        store_int(p->output, p->out_dtype, i, (int64_t)tl_requantize((int32_t)x, p->multiplier, p->shift) + p->output_offset);
    }
}

/* ---- the operators ---- */

static float scale_of(const tl_op_rec *op)
{
    float f;
    const int32_t bits = op->p[TL_QUANTIZE_SCALE_BITS];
    memcpy(&f, &bits, sizeof f);
    return f;
}

static tl_status check_quantize(const tl_model *m, const tl_op_rec *op)
{
    const tl_tensor_rec *in = tl_op_tensor(m, op->inputs[0]), *out = tl_op_tensor(m, op->output);
    if (op->input_count != 1 || !tl_op_is_activation(in) || in->data_size / tl_dtype_bytes(in->dtype) !=
                                                              out->data_size / tl_dtype_bytes(out->dtype)) {
        return TL_ERR_SHAPE;
    }
    const int to_float = out->dtype == TL_DTYPE_FLOAT32, from_float = in->dtype == TL_DTYPE_FLOAT32;
    if ((op->opcode == TL_OP_DEQUANTIZE) != to_float || (from_float && to_float)) {
        return TL_ERR_FORMAT;
    }
    const float scale = scale_of(op);
    if ((from_float || to_float) && !(scale > 0.0f && scale < 3.0e38f)) {
        return TL_ERR_QUANT;
    }
    if (!from_float && !to_float && !tl_op_valid_multiplier(op->p[TL_QUANTIZE_MULT], op->p[TL_QUANTIZE_SHIFT])) {
        return TL_ERR_QUANT;
    }
    return TL_OK;
}

static void run_quantize(const tl_interp *it, const tl_op_rec *op)
{
    const tl_tensor_rec *in = &it->model->tensors[op->inputs[0]], *out = &it->model->tensors[op->output];
    tl_quantize_params p;
    p.input = tl_op_activation(it, op->inputs[0]);
    p.output = tl_op_activation(it, op->output);
    p.in_dtype = in->dtype;
    p.out_dtype = out->dtype;
    p.count = (int32_t)(out->data_size / tl_dtype_bytes(out->dtype));
    p.input_offset = op->input_offset;
    p.output_offset = op->output_offset;
    p.multiplier = op->p[TL_QUANTIZE_MULT];
    p.shift = op->p[TL_QUANTIZE_SHIFT];
    p.scale = scale_of(op);
    tl_quantize(&p);
}

const tl_op_kind tl_op_quantize = { "QUANTIZE", 0, check_quantize, run_quantize };
const tl_op_kind tl_op_dequantize = { "DEQUANTIZE", 0, check_quantize, run_quantize };
