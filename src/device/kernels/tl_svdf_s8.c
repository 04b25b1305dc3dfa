/* tl_svdf_s8.c - SVDF with int8 input and output and an int8 or int16
 * state (TFLite Micro's EvalIntegerSvdfReference): the state slides one
 * step, each filter's feature dot product is requantised into its newest
 * slot, and each unit sums its filters' time dot products over the memory.
 * The sums need no scratch here: each output is accumulated on its own (in
 * uint32, so an overflow wraps as TFLite's int32 adds would, without
 * undefined behaviour). */
#include <string.h>

#include "kernels.h"
#include "op.h"

static uint32_t round4(uint32_t n)
{
    return (n + 3u) & ~3u;
}

void tl_svdf_s8(const tl_svdf_params *p)
{
    const int32_t n_filter = p->n_unit * p->rank;
    const int32_t total = p->batches * n_filter * p->n_memory;
    const int wide = p->state16 != NULL;
    const int32_t lo = wide ? -32768 : -128, hi = wide ? 32767 : 127;
    /* Slide the whole state one element left (as the reference does). */
    if (wide) {
        memmove(p->state16, p->state16 + 1, (size_t)(total - 1) * sizeof(int16_t));
    } else {
        memmove(p->state8, p->state8 + 1, (size_t)(total - 1));
    }
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *x = p->input + b * p->n_input;
        for (int32_t f = 0; f < n_filter; ++f) {
            const int8_t *w = p->feature_weights + f * p->n_input;
            int32_t dot = 0;
            for (int32_t c = 0; c < p->n_input; ++c) {
                dot += w[c] * (x[c] + p->input_offset);
            }
            int32_t v = tl_requantize(dot, p->feature_multiplier, p->feature_shift) + p->state_zero_point;
            v = v < lo ? lo : (v > hi ? hi : v);
            const int32_t at = (b * n_filter + f) * p->n_memory + p->n_memory - 1;
            if (wide) {
                p->state16[at] = (int16_t)v;
            } else {
                p->state8[at] = (int8_t)v;
            }
        }
        for (int32_t u = 0; u < p->n_unit; ++u) {
            uint32_t acc = p->bias ? (uint32_t)p->bias[u] : 0u;
            for (int32_t f = u * p->rank; f < (u + 1) * p->rank; ++f) {
                const int32_t at = (b * n_filter + f) * p->n_memory;
                for (int32_t j = 0; j < p->n_memory; ++j) {
                    const int32_t s = (wide ? p->state16[at + j] : p->state8[at + j]) - p->state_zero_point;
                    const int32_t w = wide ? p->time_weights16[f * p->n_memory + j] : p->time_weights8[f * p->n_memory + j];
                    acc += (uint32_t)(w * s);
                }
            }
            const int32_t v = tl_requantize((int32_t)acc, p->output_multiplier, p->output_shift) + p->output_offset;
            p->output[b * p->n_unit + u] = tl_clamp_s8(v, -128, 127);
        }
    }
}

/* ---- the operator ---- */

/* The constant block's parts: feature weights, time weights, bias. */
static void block_parts(const tl_op_rec *op, uint32_t n_filter, uint32_t n_input, uint32_t time_bytes,
                        uint32_t *time_at, uint32_t *bias_at)
{
    *time_at = round4(n_filter * n_input);
    *bias_at = *time_at + round4(n_filter * (uint32_t)op->p[TL_SVDF_MEMORY] * time_bytes);
}

static tl_status check_svdf(const tl_model *m, const tl_op_rec *op)
{
    tl_status s = tl_op_check_s8_output(m, op);
    if (s != TL_OK) {
        return s;
    }
    const tl_tensor_rec *in = tl_op_tensor(m, op->inputs[0]), *state = tl_op_tensor(m, op->inputs[1]);
    const tl_tensor_rec *out = tl_op_tensor(m, op->output);
    if (op->input_count != 2 || !tl_op_is_s8_activation(in) || state->kind != TL_TENSOR_STATE ||
        (state->dtype != TL_DTYPE_INT8 && state->dtype != TL_DTYPE_INT16)) {
        return TL_ERR_FORMAT;
    }
    const int32_t rank = op->p[TL_SVDF_RANK], memory = op->p[TL_SVDF_MEMORY];
    if (in->rank != 2 || out->rank != 2 || state->rank != 2 || rank < 1 || memory < 1 ||
        rank > (int32_t)TL_MAX_DIM || memory > (int32_t)TL_MAX_DIM) {
        return TL_ERR_SHAPE;
    }
    const uint64_t batches = in->dims[0], n_input = in->dims[1], n_unit = out->dims[1];
    const uint64_t n_filter = n_unit * (uint64_t)rank;
    if (out->dims[0] != batches || state->dims[0] != batches || state->dims[1] != n_filter * (uint64_t)memory ||
        n_input > TL_MAX_DOT) {
        return TL_ERR_SHAPE;
    }
    const uint32_t time_bytes = tl_dtype_bytes(state->dtype);
    uint32_t time_at, bias_at;
    block_parts(op, (uint32_t)n_filter, (uint32_t)n_input, time_bytes, &time_at, &bias_at);
    const uint64_t need = (uint64_t)bias_at + (op->p[TL_SVDF_HAS_BIAS] ? 4 * n_unit : 0);
    if (op->requant % 4 != 0 || op->bias != need || (uint64_t)op->requant + op->bias > m->weights_size ||
        op->p[TL_SVDF_HAS_BIAS] < 0 || op->p[TL_SVDF_HAS_BIAS] > 1) {
        return TL_ERR_BOUNDS;
    }
    const int32_t zp_limit = state->dtype == TL_DTYPE_INT8 ? 128 : 32768;
    if (!tl_op_valid_multiplier(op->p[TL_SVDF_FEATURE_MULT], op->p[TL_SVDF_FEATURE_SHIFT]) ||
        !tl_op_valid_multiplier(op->p[TL_SVDF_OUTPUT_MULT], op->p[TL_SVDF_OUTPUT_SHIFT]) ||
        op->p[TL_SVDF_STATE_ZERO_POINT] < -zp_limit || op->p[TL_SVDF_STATE_ZERO_POINT] >= zp_limit ||
        op->input_offset < -127 || op->input_offset > 128 || op->output_offset < -128 || op->output_offset > 127) {
        return TL_ERR_QUANT;
    }
    return TL_OK;
}

static void run_svdf(const tl_interp *it, const tl_op_rec *op)
{
    const tl_model *m = it->model;
    const tl_tensor_rec *in = &m->tensors[op->inputs[0]], *state = &m->tensors[op->inputs[1]];
    const tl_tensor_rec *out = &m->tensors[op->output];
    tl_svdf_params p;
    p.input = tl_op_activation(it, op->inputs[0]);
    p.output = tl_op_activation(it, op->output);
    const int wide = state->dtype == TL_DTYPE_INT16;
    p.state8 = wide ? NULL : tl_op_activation(it, op->inputs[1]);
    p.state16 = wide ? (int16_t *)(void *)tl_op_activation(it, op->inputs[1]) : NULL;
    p.batches = (int32_t)in->dims[0];
    p.n_input = (int32_t)in->dims[1];
    p.n_unit = (int32_t)out->dims[1];
    p.rank = op->p[TL_SVDF_RANK];
    p.n_memory = op->p[TL_SVDF_MEMORY];
    uint32_t time_at, bias_at;
    block_parts(op, (uint32_t)(p.n_unit * p.rank), (uint32_t)p.n_input, wide ? 2u : 1u, &time_at, &bias_at);
    const uint8_t *block = m->weights + op->requant;
    p.feature_weights = (const int8_t *)block;
    p.time_weights8 = wide ? NULL : (const int8_t *)(block + time_at);
    p.time_weights16 = wide ? (const int16_t *)(const void *)(block + time_at) : NULL;
    p.bias = op->p[TL_SVDF_HAS_BIAS] ? (const int32_t *)(const void *)(block + bias_at) : NULL;
    p.input_offset = op->input_offset;
    p.output_offset = op->output_offset;
    p.state_zero_point = op->p[TL_SVDF_STATE_ZERO_POINT];
    p.feature_multiplier = op->p[TL_SVDF_FEATURE_MULT];
    p.feature_shift = op->p[TL_SVDF_FEATURE_SHIFT];
    p.output_multiplier = op->p[TL_SVDF_OUTPUT_MULT];
    p.output_shift = op->p[TL_SVDF_OUTPUT_SHIFT];
    tl_svdf_s8(&p);
}

const tl_op_kind tl_op_svdf = { "SVDF", 0, check_svdf, run_svdf };
