/* tl_conv_ops.c - the convolution-like operators: CONV_2D,
 * DEPTHWISE_CONV_2D and FULLY_CONNECTED (a 1x1 convolution over
 * [batches, 1, 1, depth]). Their checks and their step to the kernel of the
 * filter's encoding: dense int8, packed int4, sparse or bitmap.
 */
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
    return tl_op_check_add_quant((const tl_residual_add *)(const void *)(m->weights + at));
}

static tl_status check_conv(const tl_model *m, const tl_op_rec *op)
{
    tl_status s = tl_op_check_s8_output(m, op);
    if (s != TL_OK) {
        return s;
    }
    const tl_tensor_rec *in = tl_op_tensor(m, op->inputs[0]);
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
    uint32_t batches, in_h, in_w, in_c, k_h, k_w, out_c, out_h, out_w;
    if (op->opcode == TL_OP_FULLY_CONNECTED) {
        if (f->rank != 2) {
            return TL_ERR_SHAPE;
        }
        out_c = f->dims[0];
        in_c = f->dims[1];
        k_h = k_w = in_h = in_w = out_h = out_w = 1;
        const uint64_t n = tl_tensor_elements(in);
        if (n % in_c != 0) {
            return TL_ERR_SHAPE;
        }
        batches = (uint32_t)(n / in_c);
        if (tl_tensor_elements(out) != (uint64_t)batches * out_c) {
            return TL_ERR_SHAPE;
        }
        if (op->stride_h != 1 || op->stride_w != 1 || op->dilation_h != 1 ||
            op->dilation_w != 1 || op->pad_top != 0 || op->pad_left != 0) {
            return TL_ERR_FORMAT;
        }
    } else {
        if (in->rank != 4 || out->rank != 4 || f->rank != 4) {
            return TL_ERR_SHAPE;
        }
        batches = in->dims[0];
        in_h = in->dims[1];
        in_w = in->dims[2];
        in_c = in->dims[3];
        k_h = f->dims[1];
        k_w = f->dims[2];
        out_h = out->dims[1];
        out_w = out->dims[2];
        out_c = out->dims[3];
        if (out->dims[0] != batches) {
            return TL_ERR_SHAPE;
        }
        s = tl_op_check_window(in_h, out_h, k_h, op->stride_h, op->dilation_h, op->pad_top);
        if (s == TL_OK) {
            s = tl_op_check_window(in_w, out_w, k_w, op->stride_w, op->dilation_w, op->pad_left);
        }
        if (s != TL_OK) {
            return s;
        }
        if (op->opcode == TL_OP_DEPTHWISE_CONV_2D) {
            if (f->dims[0] != 1 || f->dims[3] != out_c || op->depth_multiplier < 1 ||
                (uint64_t)in_c * op->depth_multiplier != out_c || f->dtype != TL_DTYPE_INT8) {
                return TL_ERR_SHAPE;
            }
        } else if (f->dims[0] != out_c || f->dims[3] != in_c) {
            return TL_ERR_SHAPE;
        }
    }
    const uint64_t dot = (uint64_t)k_h * k_w * (op->opcode == TL_OP_DEPTHWISE_CONV_2D ? 1 : in_c);
    if (dot > TL_MAX_DOT) {
        return TL_ERR_SHAPE;
    }
    if (f->dtype == TL_DTYPE_SPARSE_INT8 || f->dtype == TL_DTYPE_BITMAP_INT8) {
        s = f->dtype == TL_DTYPE_SPARSE_INT8 ? check_sparse(m, f, out_c * k_h * k_w, in_c)
                                                       : check_bitmap(m, f, out_c, k_h * k_w, in_c);
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
    return tl_op_check_requant(m, op, out_c, dot);
}

static void run_conv(const tl_interp *it, const tl_op_rec *op)
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
    if (op->opcode == TL_OP_FULLY_CONNECTED) {
        /* A fully-connected layer is a 1x1 convolution over [batches, 1, 1, depth]. */
        p.out_c = (int32_t)f->dims[0];
        p.in_c = (int32_t)f->dims[1];
        p.batches = (int32_t)(in->data_size / (uint32_t)p.in_c);
        p.in_h = p.in_w = p.out_h = p.out_w = p.k_h = p.k_w = 1;
    } else {
        p.batches = (int32_t)in->dims[0];
        p.in_h = (int32_t)in->dims[1];
        p.in_w = (int32_t)in->dims[2];
        p.in_c = (int32_t)in->dims[3];
        p.out_h = (int32_t)out->dims[1];
        p.out_w = (int32_t)out->dims[2];
        p.out_c = (int32_t)out->dims[3];
        p.k_h = (int32_t)f->dims[1];
        p.k_w = (int32_t)f->dims[2];
    }
    p.shift = p.multiplier + p.out_c;
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

const tl_op_kind tl_op_conv_2d = { "CONV_2D", TL_OP_FLAG_RESIDUAL, check_conv, run_conv };
const tl_op_kind tl_op_depthwise_conv_2d = { "DEPTHWISE_CONV_2D", 0, check_conv, run_conv };
const tl_op_kind tl_op_fully_connected = { "FULLY_CONNECTED", 0, check_conv, run_conv };
