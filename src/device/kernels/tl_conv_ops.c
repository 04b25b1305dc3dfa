/* tl_conv_ops.c - the convolution-like operators: CONV_2D,
 * DEPTHWISE_CONV_2D and FULLY_CONNECTED (a 1x1 convolution over
 * [batches, 1, 1, depth]). Their checks and their step to the kernel of the
 * filter's encoding: dense int8, packed int4, sparse or bitmap.
 */
#include <string.h>

#include "kernels.h"
#include "op.h"

/* Sparse filter blob: nnz, row_start[rows + 1], channel[nnz], value[nnz]. */
static tl_status check_sparse(const tl_model *m, const tl_tensor_rec *f, uint32_t rows,
                              uint32_t in_c)
{
    if (f->data_size < 8) {
        return TL_ERR_FORMAT;
    }
    const uint32_t *words = (const uint32_t *)(const void *)(m->weights + f->data_offset);
    const uint64_t nnz = words[0];
    const uint64_t need = 4 + 4 * ((uint64_t)rows + 1) + 3 * nnz;
    if (need != f->data_size) {
        return TL_ERR_FORMAT;
    }
    const uint32_t *row_start = words + 1;
    if (row_start[0] != 0 || row_start[rows] != nnz) {
        return TL_ERR_FORMAT;
    }
    for (uint32_t r = 0; r < rows; ++r) {
        if (row_start[r + 1] < row_start[r]) {
            return TL_ERR_FORMAT;
        }
    }
    const uint16_t *channel = (const uint16_t *)(const void *)(row_start + rows + 1);
    for (uint64_t k = 0; k < nnz; ++k) {
        if (channel[k] >= in_c) {
            return TL_ERR_BOUNDS;
        }
    }
    return TL_OK;
}

static uint32_t popcount8(uint32_t v)
{
    v = v - ((v >> 1) & 0x55u);
    v = (v & 0x33u) + ((v >> 2) & 0x33u);
    return (v + (v >> 4)) & 0x0Fu;
}

/* The bitmap encoding: sizes, each output channel's value count equal to
 * the bits set in its rows, no bits past in_c. */
static tl_status check_bitmap(const tl_model *m, const tl_tensor_rec *f, uint32_t out_c, uint32_t taps,
                              uint32_t in_c)
{
    if (f->data_size < 8) {
        return TL_ERR_FORMAT;
    }
    const uint32_t *words = (const uint32_t *)(const void *)(m->weights + f->data_offset);
    const uint64_t nnz = words[0], row_bytes = (in_c + 7u) / 8u;
    const uint64_t need = 4 + 4 * ((uint64_t)out_c + 1) + (uint64_t)out_c * taps * row_bytes + nnz;
    if (need != f->data_size) {
        return TL_ERR_FORMAT;
    }
    const uint32_t *oc_start = words + 1;
    const uint8_t *row = (const uint8_t *)(oc_start + out_c + 1);
    const uint32_t last_mask = in_c % 8u ? (0xFFu << (in_c % 8u)) & 0xFFu : 0u;
    if (oc_start[0] != 0 || oc_start[out_c] != nnz) {
        return TL_ERR_FORMAT;
    }
    for (uint32_t oc = 0; oc < out_c; ++oc) {
        uint64_t bits = 0;
        for (uint32_t t = 0; t < taps; ++t, row += row_bytes) {
            for (uint64_t j = 0; j < row_bytes; ++j) {
                bits += popcount8(row[j]);
            }
            if (row[row_bytes - 1] & last_mask) {
                return TL_ERR_BOUNDS; /* a weight past the last input channel */
            }
        }
        if (oc_start[oc + 1] < oc_start[oc] || oc_start[oc + 1] - oc_start[oc] != bits) {
            return TL_ERR_FORMAT;
        }
    }
    return TL_OK;
}

/* A residual ADD fused into a dense int8 CONV_2D. */
static tl_status check_residual(const tl_model *m, const tl_op_rec *op, const tl_tensor_rec *f,
                                const tl_tensor_rec *out)
{
    const tl_tensor_rec *r = tl_op_tensor(m, op->inputs[2]);
    if (op->opcode != TL_OP_CONV_2D || f->dtype != TL_DTYPE_INT8 || op->input_count != 3) {
        return TL_ERR_UNSUPPORTED;
    }
    if (!tl_op_is_s8_activation(r) || r->data_size != out->data_size) {
        return TL_ERR_SHAPE;
    }
    const uint32_t at = (uint32_t)op->p[0];
    if (at % 4 != 0 || (uint64_t)at + sizeof(tl_residual_add) > m->weights_size) {
        return TL_ERR_BOUNDS;
    }
    return tl_op_check_add_quant((const tl_residual_add *)(const void *)(m->weights + at), 0);
}

/* The shapes a convolution-like record implies, checked. */
typedef struct conv_shape {
    uint32_t batches, in_h, in_w, in_c, k_h, k_w, out_c, out_h, out_w;
    uint64_t dot;                /* terms summed into one output */
} conv_shape;

/* A record's shape, read without checks: what the run steps use (the
 * loader checked it once, through conv_geometry below); `bytes` the
 * input's element size (a constant at the run steps' calls: the int8 path
 * divides by nothing more). */
static void run_shape(const tl_op_rec *op, const tl_tensor_rec *in, const tl_tensor_rec *f,
                      const tl_tensor_rec *out, uint32_t bytes, conv_shape *g)
{
    if (op->opcode == TL_OP_FULLY_CONNECTED) {
        /* A fully-connected layer is a 1x1 convolution over [batches, 1, 1, depth]. */
        g->out_c = f->dims[0];
        g->in_c = f->dims[1];
        g->batches = in->data_size / bytes / g->in_c;
        g->in_h = g->in_w = g->out_h = g->out_w = g->k_h = g->k_w = 1;
    } else {
        g->batches = in->dims[0];
        g->in_h = in->dims[1];
        g->in_w = in->dims[2];
        g->in_c = in->dims[3];
        g->out_h = out->dims[1];
        g->out_w = out->dims[2];
        g->out_c = out->dims[3];
        g->k_h = f->dims[1];
        g->k_w = f->dims[2];
    }
}

static tl_status conv_geometry(const tl_op_rec *op, const tl_tensor_rec *in, const tl_tensor_rec *f,
                               const tl_tensor_rec *out, conv_shape *g)
{
    const uint32_t bytes = tl_dtype_bytes(in->dtype);
    const int fc = op->opcode == TL_OP_FULLY_CONNECTED;
    if (fc ? f->rank != 2 : in->rank != 4 || out->rank != 4 || f->rank != 4) {
        return TL_ERR_SHAPE;
    }
    run_shape(op, in, f, out, bytes, g);
    if (fc) {
        if (tl_tensor_elements(in) % g->in_c != 0 || tl_tensor_elements(out) != (uint64_t)g->batches * g->out_c) {
            return TL_ERR_SHAPE;
        }
        if (op->stride_h != 1 || op->stride_w != 1 || op->dilation_h != 1 || op->dilation_w != 1 ||
            op->pad_top != 0 || op->pad_left != 0) {
            return TL_ERR_FORMAT;
        }
    } else {
        if (out->dims[0] != g->batches) {
            return TL_ERR_SHAPE;
        }
        tl_status s = tl_op_check_window(g->in_h, g->out_h, g->k_h, op->stride_h, op->dilation_h, op->pad_top);
        if (s == TL_OK) {
            s = tl_op_check_window(g->in_w, g->out_w, g->k_w, op->stride_w, op->dilation_w, op->pad_left);
        }
        if (s != TL_OK) {
            return s;
        }
        if (op->opcode == TL_OP_DEPTHWISE_CONV_2D) {
            if (f->dims[0] != 1 || f->dims[3] != g->out_c || op->depth_multiplier < 1 ||
                (uint64_t)g->in_c * op->depth_multiplier != g->out_c || f->dtype != TL_DTYPE_INT8) {
                return TL_ERR_SHAPE;
            }
        } else if (f->dims[0] != g->out_c || f->dims[3] != g->in_c) {
            return TL_ERR_SHAPE;
        }
    }
    g->dot = (uint64_t)g->k_h * g->k_w * (op->opcode == TL_OP_DEPTHWISE_CONV_2D ? 1 : g->in_c);
    if (g->dot > TL_MAX_DOT || out->data_size != tl_tensor_elements(out) * bytes) {
        return TL_ERR_SHAPE;
    }
    return TL_OK;
}

/* 16x8: int16 in and out, int8 filter, an int64 or int32 bias or none,
 * per-channel multipliers whose shifts the 64-bit requantisation takes,
 * and biases small enough that the int64 sum stays below 2^47. */
static tl_status check_conv16(const tl_model *m, const tl_op_rec *op)
{
    const tl_tensor_rec *in = tl_op_tensor(m, op->inputs[0]), *f = tl_op_tensor(m, op->inputs[1]);
    const tl_tensor_rec *out = tl_op_tensor(m, op->output);
    if ((op->input_count != 2 && op->input_count != 3) || out->dtype != TL_DTYPE_INT16 || !f ||
        f->kind != TL_TENSOR_CONST || f->dtype != TL_DTYPE_INT8 || op->bias != TL_NONE) {
        return TL_ERR_FORMAT;
    }
    conv_shape g;
    tl_status s = conv_geometry(op, in, f, out, &g);
    if (s != TL_OK) {
        return s;
    }
    const int acc32 = op->p[TL_CONV16_ACC32];
    if (acc32 < 0 || acc32 > 1 || op->input_offset != 0 || op->output_offset != 0) {
        return TL_ERR_QUANT;
    }
    if (op->input_count == 3) {
        const tl_tensor_rec *b = tl_op_tensor(m, op->inputs[2]);
        if (b->kind != TL_TENSOR_CONST || tl_tensor_elements(b) != g.out_c ||
            b->dtype != (acc32 ? TL_DTYPE_INT32 : TL_DTYPE_INT64)) {
            return TL_ERR_FORMAT;
        }
        for (uint32_t c = 0; !acc32 && c < g.out_c; ++c) {
            int64_t v;
            memcpy(&v, m->weights + b->data_offset + 8 * c, sizeof v);
            if (v < -((int64_t)1 << 46) || v > ((int64_t)1 << 46)) {
                return TL_ERR_QUANT;
            }
        }
    } else if (acc32) {
        return TL_ERR_FORMAT;
    }
    if ((s = tl_op_check_int32_array(m, op->requant, 2ull * g.out_c)) != TL_OK) {
        return s;
    }
    const int32_t *mult = tl_op_weights_i32(m, op->requant), *shift = mult + g.out_c;
    for (uint32_t c = 0; c < g.out_c; ++c) {
        if (mult[c] < 0 || shift[c] < -31 || shift[c] > (acc32 ? 30 : 7)) {
            return TL_ERR_QUANT;
        }
    }
    return TL_OK;
}

static tl_status check_conv(const tl_model *m, const tl_op_rec *op)
{
    const tl_tensor_rec *in = tl_op_tensor(m, op->inputs[0]);
    if (tl_op_is_activation(in) && in->dtype == TL_DTYPE_INT16 && !(op->flags & TL_OP_FLAG_RESIDUAL)) {
        return check_conv16(m, op);
    }
    tl_status s = tl_op_check_s8_output(m, op);
    if (s != TL_OK) {
        return s;
    }
    const tl_tensor_rec *f = tl_op_tensor(m, op->inputs[1]);
    const tl_tensor_rec *out = tl_op_tensor(m, op->output);
    const int fused = (op->flags & TL_OP_FLAG_RESIDUAL) != 0;
    if (op->input_count != (fused ? 3 : 2) || !tl_op_is_s8_activation(in) || !f || f->kind != TL_TENSOR_CONST) {
        return TL_ERR_FORMAT;
    }
    if (fused) {
        s = check_residual(m, op, f, out);
        if (s != TL_OK) {
            return s;
        }
    }
    conv_shape g;
    if ((s = conv_geometry(op, in, f, out, &g)) != TL_OK) {
        return s;
    }
    if (f->dtype == TL_DTYPE_SPARSE_INT8 || f->dtype == TL_DTYPE_BITMAP_INT8) {
        s = f->dtype == TL_DTYPE_SPARSE_INT8 ? check_sparse(m, f, g.out_c * g.k_h * g.k_w, g.in_c)
                                             : check_bitmap(m, f, g.out_c, g.k_h * g.k_w, g.in_c);
        if (s != TL_OK) {
            return s;
        }
    } else if (f->dtype != TL_DTYPE_INT8 && f->dtype != TL_DTYPE_INT4) {
        return TL_ERR_UNSUPPORTED;
    }
    if (op->input_offset < -127 || op->input_offset > 128 ||
        op->output_offset < -128 || op->output_offset > 127) {
        return TL_ERR_QUANT;
    }
    return tl_op_check_requant(m, op, g.out_c, g.dot);
}

static void run_conv16(const tl_interp *it, const tl_op_rec *op)
{
    const tl_model *m = it->model;
    const tl_tensor_rec *in = &m->tensors[op->inputs[0]], *f = &m->tensors[op->inputs[1]];
    const tl_tensor_rec *out = &m->tensors[op->output];
    conv_shape g;
    run_shape(op, in, f, out, 2, &g);
    tl_conv16_params p;
    p.input = (const int16_t *)(const void *)tl_op_activation(it, op->inputs[0]);
    p.output = (int16_t *)(void *)tl_op_activation(it, op->output);
    p.filter = tl_op_constant(m, op->inputs[1]);
    const int has_bias = op->input_count == 3;
    p.bias64 = has_bias && !op->p[TL_CONV16_ACC32] ? tl_op_constant(m, op->inputs[2]) : NULL;
    p.bias32 = has_bias && op->p[TL_CONV16_ACC32] ? tl_op_constant(m, op->inputs[2]) : NULL;
    p.multiplier = tl_op_weights_i32(m, op->requant);
    p.shift = p.multiplier + g.out_c;
    p.batches = (int32_t)g.batches;
    p.in_h = (int32_t)g.in_h;
    p.in_w = (int32_t)g.in_w;
    p.in_c = (int32_t)g.in_c;
    p.out_h = (int32_t)g.out_h;
    p.out_w = (int32_t)g.out_w;
    p.out_c = (int32_t)g.out_c;
    p.k_h = (int32_t)g.k_h;
    p.k_w = (int32_t)g.k_w;
    p.stride_h = op->stride_h;
    p.stride_w = op->stride_w;
    p.dilation_h = op->dilation_h;
    p.dilation_w = op->dilation_w;
    p.pad_top = op->pad_top;
    p.pad_left = op->pad_left;
    p.depthwise = op->opcode == TL_OP_DEPTHWISE_CONV_2D;
    p.depth_multiplier = op->depth_multiplier ? op->depth_multiplier : 1;
    p.act_min = op->act_min;
    p.act_max = op->act_max;
    tl_conv2d_s16(&p);
}

/* The int8 kernels' parameters of a record check_conv accepted. */
static void conv_params(const tl_interp *it, const tl_op_rec *op, tl_conv_params *params)
{
    const tl_model *m = it->model;
    const tl_tensor_rec *in = &m->tensors[op->inputs[0]];
    const tl_tensor_rec *f = &m->tensors[op->inputs[1]];
    const tl_tensor_rec *out = &m->tensors[op->output];
    tl_conv_params p;
    p.input = tl_op_activation(it, op->inputs[0]);
    p.output = tl_op_activation(it, op->output);
    p.filter = tl_op_constant(m, op->inputs[1]);
    p.multiplier = tl_op_weights_i32(m, op->requant);
    p.bias = tl_op_weights_i32(m, op->bias);
    p.stride_h = op->stride_h;
    p.stride_w = op->stride_w;
    p.dilation_h = op->dilation_h;
    p.dilation_w = op->dilation_w;
    p.pad_top = op->pad_top;
    p.pad_left = op->pad_left;
    p.depth_multiplier = op->depth_multiplier;
    p.input_offset = op->input_offset;
    p.output_offset = op->output_offset;
    p.act_min = op->act_min;
    p.act_max = op->act_max;
    p.residual = NULL;
    p.residual_add = NULL;
    if (op->flags & TL_OP_FLAG_RESIDUAL) {
        p.residual = tl_op_activation(it, op->inputs[2]);
        p.residual_add = (const tl_residual_add *)(const void *)(m->weights + (uint32_t)op->p[0]);
    }
    conv_shape g;
    run_shape(op, in, f, out, 1, &g);
    p.batches = (int32_t)g.batches;
    p.in_h = (int32_t)g.in_h;
    p.in_w = (int32_t)g.in_w;
    p.in_c = (int32_t)g.in_c;
    p.out_h = (int32_t)g.out_h;
    p.out_w = (int32_t)g.out_w;
    p.out_c = (int32_t)g.out_c;
    p.out_stride = p.out_c;
    p.k_h = (int32_t)g.k_h;
    p.k_w = (int32_t)g.k_w;
    p.shift = p.multiplier + p.out_c;
    *params = p;
}

static void run_conv(const tl_interp *it, const tl_op_rec *op)
{
    if (it->model->tensors[op->inputs[0]].dtype == TL_DTYPE_INT16) {
        run_conv16(it, op);
        return;
    }
    const tl_tensor_rec *f = &it->model->tensors[op->inputs[1]];
    tl_conv_params p;
    conv_params(it, op, &p);
    if (op->opcode == TL_OP_DEPTHWISE_CONV_2D) {
        tl_depthwise_conv2d_s8(&p);
    } else if (f->dtype == TL_DTYPE_INT4) {
        tl_conv2d_s4(&p);
    } else if (f->dtype == TL_DTYPE_SPARSE_INT8) {
        tl_conv2d_sparse_s8(&p);
    } else if (f->dtype == TL_DTYPE_BITMAP_INT8) {
        tl_conv2d_bitmap_s8(&p);
    } else {
        tl_conv2d_s8(&p);
    }
}

int tl_conv_runs_by_channel(const tl_model *m, const tl_op_rec *op)
{
    return (op->opcode == TL_OP_CONV_2D || op->opcode == TL_OP_FULLY_CONNECTED) &&
           m->tensors[op->inputs[0]].dtype == TL_DTYPE_INT8 && m->tensors[op->inputs[1]].dtype == TL_DTYPE_INT8;
}

void tl_conv_run_channels(const tl_interp *it, const tl_op_rec *op, uint32_t first, uint32_t end)
{
    tl_conv_params p;
    conv_params(it, op, &p);
    const int32_t c = (int32_t)first;
    p.filter = (const int8_t *)p.filter + c * p.k_h * p.k_w * p.in_c; /* OHWI: a channel's rows are contiguous */
    p.bias += c;
    p.multiplier += c;
    p.shift += c;
    p.output += c;
    p.residual = p.residual ? p.residual + c : NULL;
    p.out_c = (int32_t)(end - first); /* out_stride stays the whole output's */
    tl_conv2d_s8(&p);
}

/* The int8-only kinds: int8 activations and dense int8 weights, so a
 * firmware whose models need nothing else (`tinylarge resolver` picks
 * these) links neither the 16x8, int4, sparse nor bitmap kernels. */
static tl_status check_conv_int8(const tl_model *m, const tl_op_rec *op)
{
    const tl_tensor_rec *in = tl_op_tensor(m, op->inputs[0]), *f = tl_op_tensor(m, op->inputs[1]);
    if (!in || in->dtype != TL_DTYPE_INT8 || !f || f->dtype != TL_DTYPE_INT8) {
        return TL_ERR_UNSUPPORTED;
    }
    return check_conv(m, op);
}

static void run_conv_int8(const tl_interp *it, const tl_op_rec *op)
{
    tl_conv_params p;
    conv_params(it, op, &p);
    if (op->opcode == TL_OP_DEPTHWISE_CONV_2D) {
        tl_depthwise_conv2d_s8(&p);
    } else {
        tl_conv2d_s8(&p);
    }
}

const tl_op_kind tl_op_conv_2d = { "CONV_2D", TL_OP_FLAG_RESIDUAL, check_conv, run_conv };
const tl_op_kind tl_op_conv_2d_int8 = { "CONV_2D", TL_OP_FLAG_RESIDUAL, check_conv_int8, run_conv_int8 };
const tl_op_kind tl_op_depthwise_conv_2d_int8 = { "DEPTHWISE_CONV_2D", 0, check_conv_int8, run_conv_int8 };
const tl_op_kind tl_op_fully_connected_int8 = { "FULLY_CONNECTED", 0, check_conv_int8, run_conv_int8 };
const tl_op_kind tl_op_depthwise_conv_2d = { "DEPTHWISE_CONV_2D", 0, check_conv, run_conv };
const tl_op_kind tl_op_fully_connected = { "FULLY_CONNECTED", 0, check_conv, run_conv };
