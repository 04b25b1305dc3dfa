/* builder.c - build device graphs operator by operator.
 *
 * The programmatic route to a .tlm model (the TFLite importer reads its
 * constants from a file instead): give float scales and int8 weights, get
 * an operator with TFLite-exact requantisation, output size and padding
 * derived, and weights stored in the encoding asked for.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tinylarge/convert.h"

int32_t tl_graph_add_activation(tl_graph *g, const char *name, uint32_t rank, const uint32_t *dims,
                                float scale, int32_t zero_point)
{
    if (rank < 1 || rank > TL_MAX_RANK) {
        return -1;
    }
    tl_tensor_rec rec;
    memset(&rec, 0, sizeof rec);
    rec.dtype = TL_DTYPE_INT8;
    rec.rank = (uint8_t)rank;
    rec.kind = TL_TENSOR_ACTIVATION;
    rec.quant = TL_QUANT_PER_TENSOR;
    uint64_t n = 1;
    for (uint32_t i = 0; i < TL_MAX_RANK; ++i) {
        rec.dims[i] = i < rank ? dims[i] : 1;
        n *= rec.dims[i];
    }
    if (n == 0 || n > 0x7FFFFFFFu) {
        return -1;
    }
    rec.data_size = (uint32_t)n;
    rec.zero_point = zero_point;
    rec.scale = scale;
    return tl_graph_add_tensor(g, name, &rec, NULL, NULL, 0);
}

static int32_t failed(char *error, size_t size, const char *what)
{
    if (error && size) {
        snprintf(error, size, "%s", what);
    }
    return -1;
}

static uint32_t same_pad(uint32_t in, uint32_t out, uint32_t k, uint32_t stride, uint32_t dilation)
{
    const int64_t total = (int64_t)(out - 1) * stride + (int64_t)(k - 1) * dilation + 1 - in;
    return total > 0 ? (uint32_t)(total / 2) : 0;
}

int32_t tl_graph_add_conv(tl_graph *g, uint16_t input, uint16_t output, const tl_conv_spec *spec,
                          char *error, size_t error_size)
{
    if (!g || !spec || input >= g->tensor_count || output >= g->tensor_count || !spec->weights) {
        return failed(error, error_size, "invalid arguments");
    }
    const tl_tensor_rec *in = &g->tensors[input].rec;
    const tl_tensor_rec *out = &g->tensors[output].rec;
    const int fc = spec->opcode == TL_OP_FULLY_CONNECTED;
    const int dw = spec->opcode == TL_OP_DEPTHWISE_CONV_2D;
    if (!fc && !dw && spec->opcode != TL_OP_CONV_2D) {
        return failed(error, error_size, "not a convolution-like operator");
    }
    tl_op_rec rec;
    memset(&rec, 0, sizeof rec);
    rec.opcode = spec->opcode;
    rec.input_count = 2;
    rec.inputs[0] = input;
    rec.inputs[2] = TL_NO_TENSOR;
    rec.output = output;
    rec.stride_h = rec.stride_w = rec.dilation_h = rec.dilation_w = 1;
    rec.filter_h = rec.filter_w = 1;
    rec.activation = spec->activation;
    uint32_t fdims[4], frank, out_c, in_c;
    if (fc) {
        in_c = in->dims[in->rank - 1];
        out_c = out->dims[out->rank - 1];
        if (in->data_size % in_c != 0 || out->data_size != in->data_size / in_c * out_c) {
            return failed(error, error_size, "fully-connected input and output sizes disagree");
        }
        frank = 2;
        fdims[0] = out_c;
        fdims[1] = in_c;
        fdims[2] = fdims[3] = 1;
    } else {
        if (in->rank != 4 || out->rank != 4 || !spec->stride_h || !spec->stride_w ||
            spec->stride_h > 255 || spec->stride_w > 255 || spec->k_h > 255 || spec->k_w > 255) {
            return failed(error, error_size, "convolution needs 4-D tensors and strides 1..255");
        }
        in_c = in->dims[3];
        out_c = out->dims[3];
        const uint32_t dh = spec->dilation_h ? spec->dilation_h : 1;
        const uint32_t dwl = spec->dilation_w ? spec->dilation_w : 1;
        if (dw && out_c % in_c != 0) {
            return failed(error, error_size, "depthwise output channels must be a multiple of input channels");
        }
        rec.stride_h = (uint8_t)spec->stride_h;
        rec.stride_w = (uint8_t)spec->stride_w;
        rec.dilation_h = (uint8_t)dh;
        rec.dilation_w = (uint8_t)dwl;
        rec.depth_multiplier = (uint8_t)(dw ? out_c / in_c : 0);
        if (spec->same_padding) {
            rec.pad_top = (int16_t)same_pad(in->dims[1], out->dims[1], spec->k_h, spec->stride_h, dh);
            rec.pad_left = (int16_t)same_pad(in->dims[2], out->dims[2], spec->k_w, spec->stride_w, dwl);
        }
        frank = 4;
        fdims[0] = dw ? 1 : out_c;
        fdims[1] = spec->k_h;
        fdims[2] = spec->k_w;
        fdims[3] = dw ? out_c : in_c;
    }
    const uint64_t count = (uint64_t)fdims[0] * fdims[1] * fdims[2] * fdims[3];
    int32_t *requant = malloc(2ull * out_c * sizeof *requant);
    int32_t *bias = malloc(out_c * sizeof *bias);
    if (!requant || !bias) {
        free(requant);
        free(bias);
        return failed(error, error_size, "out of memory");
    }
    uint32_t bad = 0;
    if (tl_conv_constants(spec->opcode, in->scale, in->zero_point, spec->weights, count,
                          spec->filter_scales, spec->scale_count, spec->bias, out->scale, out_c,
                          requant, bias, &bad) != TL_OK) {
        free(requant);
        free(bias);
        return failed(error, error_size, "requantisation scale or bias out of the device's range");
    }
    tl_activation_range(spec->activation, out->scale, out->zero_point, &rec.act_min, &rec.act_max);
    rec.input_offset = -in->zero_point;
    rec.output_offset = out->zero_point;

    /* The filter tensor, in the requested encoding. */
    tl_tensor_rec f;
    memset(&f, 0, sizeof f);
    f.kind = TL_TENSOR_CONST;
    f.rank = (uint8_t)frank;
    f.quant = spec->scale_count > 1 ? TL_QUANT_PER_CHANNEL : TL_QUANT_PER_TENSOR;
    memcpy(f.dims, fdims, sizeof f.dims);
    f.scale = spec->filter_scales[0];
    uint8_t *encoded = NULL;
    const void *data = spec->weights;
    tl_status s = TL_OK;
    f.dtype = spec->weight_dtype;
    if (spec->weight_dtype == TL_DTYPE_INT8) {
        f.data_size = (uint32_t)count;
    } else if (spec->weight_dtype == TL_DTYPE_INT4 && !dw) {
        s = tl_pack_int4(spec->weights, count, &encoded, &f.data_size);
        data = encoded;
    } else if (spec->weight_dtype == TL_DTYPE_SPARSE_INT8 && !dw) {
        s = tl_encode_sparse(spec->weights, out_c, fc ? 1 : spec->k_h, fc ? 1 : spec->k_w, in_c, &encoded,
                             &f.data_size);
        data = encoded;
    } else if (spec->weight_dtype == TL_DTYPE_BITMAP_INT8 && !dw) {
        s = tl_encode_bitmap(spec->weights, out_c, fc ? 1 : spec->k_h, fc ? 1 : spec->k_w, in_c, &encoded,
                             &f.data_size);
        data = encoded;
    } else if (spec->weight_dtype == TL_DTYPE_SMALLEST_SPARSE && !dw) {
        /* Pruned weights: the smallest of CSR, bitmap and dense, per tensor
         * (CSR pays off above ~3/4 sparsity, the bitmap above ~1/8). */
        f.dtype = TL_DTYPE_SPARSE_INT8;
        uint8_t *bitmap = NULL;
        uint32_t bitmap_size = 0;
        const uint32_t kh = fc ? 1 : spec->k_h, kw = fc ? 1 : spec->k_w;
        s = tl_encode_sparse(spec->weights, out_c, kh, kw, in_c, &encoded, &f.data_size);
        if (s == TL_OK) {
            s = tl_encode_bitmap(spec->weights, out_c, kh, kw, in_c, &bitmap, &bitmap_size);
        }
        if (s == TL_OK && bitmap_size < f.data_size) {
            free(encoded);
            encoded = bitmap;
            f.data_size = bitmap_size;
            f.dtype = TL_DTYPE_BITMAP_INT8;
        } else {
            free(bitmap);
        }
        if (s == TL_OK && f.data_size >= count) {
            free(encoded);
            encoded = NULL;
            f.data_size = (uint32_t)count;
            f.dtype = TL_DTYPE_INT8;
        }
        data = encoded ? (const void *)encoded : spec->weights;
    } else {
        s = TL_ERR_UNSUPPORTED;
    }
    int32_t op = -1;
    if (s != TL_OK) {
        failed(error, error_size, s == TL_ERR_QUANT ? "int4 weights must lie in [-8, 7]"
                                                    : "weight encoding not supported for this operator");
    } else {
        char name[160];
        snprintf(name, sizeof name, "%s/weights", g->tensors[output].name);
        const int32_t ft = tl_graph_add_tensor(g, name, &f, data, spec->filter_scales,
                                               spec->scale_count > 1 ? spec->scale_count : 0);
        if (ft >= 0) {
            rec.inputs[1] = (uint16_t)ft;
            op = tl_graph_add_op(g, &rec, requant, bias, out_c);
        }
        if (op < 0) {
            failed(error, error_size, "out of memory");
        }
    }
    free(encoded);
    free(requant);
    free(bias);
    return op;
}

static tl_op_rec plain_op(uint8_t opcode, uint16_t input, uint16_t output)
{
    tl_op_rec rec;
    memset(&rec, 0, sizeof rec);
    rec.opcode = opcode;
    rec.input_count = 1;
    rec.inputs[0] = input;
    rec.inputs[1] = rec.inputs[2] = TL_NO_TENSOR;
    rec.output = output;
    rec.stride_h = rec.stride_w = rec.dilation_h = rec.dilation_w = 1;
    rec.filter_h = rec.filter_w = 1;
    rec.act_min = -128;
    rec.act_max = 127;
    return rec;
}

static int valid_pair(const tl_graph *g, uint16_t input, uint16_t output)
{
    return g && input < g->tensor_count && output < g->tensor_count &&
           g->tensors[input].rec.kind == TL_TENSOR_ACTIVATION &&
           g->tensors[output].rec.kind == TL_TENSOR_ACTIVATION;
}

int32_t tl_graph_add_pool(tl_graph *g, uint8_t opcode, uint16_t input, uint16_t output,
                          uint32_t k_h, uint32_t k_w, uint32_t stride_h, uint32_t stride_w,
                          int same_padding, uint8_t activation)
{
    if (!valid_pair(g, input, output) || (opcode != TL_OP_AVERAGE_POOL_2D && opcode != TL_OP_MAX_POOL_2D) ||
        !k_h || !k_w || !stride_h || !stride_w || k_h > 255 || k_w > 255 || stride_h > 255 || stride_w > 255) {
        return -1;
    }
    const tl_tensor_rec *in = &g->tensors[input].rec, *out = &g->tensors[output].rec;
    if (in->rank != 4 || out->rank != 4) {
        return -1;
    }
    tl_op_rec rec = plain_op(opcode, input, output);
    rec.filter_h = (uint8_t)k_h;
    rec.filter_w = (uint8_t)k_w;
    rec.stride_h = (uint8_t)stride_h;
    rec.stride_w = (uint8_t)stride_w;
    if (same_padding) {
        rec.pad_top = (int16_t)same_pad(in->dims[1], out->dims[1], k_h, stride_h, 1);
        rec.pad_left = (int16_t)same_pad(in->dims[2], out->dims[2], k_w, stride_w, 1);
    }
    rec.activation = activation;
    tl_activation_range(activation, out->scale, out->zero_point, &rec.act_min, &rec.act_max);
    return tl_graph_add_op(g, &rec, NULL, NULL, 0);
}

int32_t tl_graph_add_add(tl_graph *g, uint16_t input1, uint16_t input2, uint16_t output, uint8_t activation)
{
    if (!valid_pair(g, input1, output) || !valid_pair(g, input2, output)) {
        return -1;
    }
    const tl_tensor_rec *a = &g->tensors[input1].rec, *b = &g->tensors[input2].rec;
    const tl_tensor_rec *out = &g->tensors[output].rec;
    tl_op_rec rec = plain_op(TL_OP_ADD, input1, output);
    rec.input_count = 2;
    rec.inputs[1] = input2;
    rec.activation = activation;
    if (tl_add_constants(a->scale, a->zero_point, b->scale, b->zero_point, out->scale, out->zero_point,
                         &rec) != TL_OK) {
        return -1;
    }
    tl_activation_range(activation, out->scale, out->zero_point, &rec.act_min, &rec.act_max);
    return tl_graph_add_op(g, &rec, NULL, NULL, 0);
}

int32_t tl_graph_add_reshape(tl_graph *g, uint16_t input, uint16_t output)
{
    if (!valid_pair(g, input, output) || g->tensors[input].rec.data_size != g->tensors[output].rec.data_size) {
        return -1;
    }
    tl_op_rec rec = plain_op(TL_OP_RESHAPE, input, output);
    return tl_graph_add_op(g, &rec, NULL, NULL, 0);
}

int32_t tl_graph_add_softmax(tl_graph *g, uint16_t input, uint16_t output, float beta)
{
    if (!valid_pair(g, input, output)) {
        return -1;
    }
    tl_op_rec rec = plain_op(TL_OP_SOFTMAX, input, output);
    if (tl_softmax_constants(beta, g->tensors[input].rec.scale, &rec) != TL_OK) {
        return -1;
    }
    return tl_graph_add_op(g, &rec, NULL, NULL, 0);
}

tl_status tl_graph_add_exit(tl_graph *g, uint16_t output, uint32_t op_end)
{
    if (!g || output >= g->tensor_count || op_end > g->op_count ||
        g->exit_count >= sizeof g->exits / sizeof g->exits[0] ||
        (g->exit_count && g->exits[g->exit_count - 1].op_end > op_end)) {
        return TL_ERR_ARG;
    }
    tl_exit_rec *e = &g->exits[g->exit_count++];
    memset(e, 0, sizeof *e);
    e->output = output;
    e->op_end = op_end;
    for (uint32_t i = 0; i < op_end; ++i) {
        if (g->ops[i].rec.output == output && g->ops[i].rec.opcode == TL_OP_SOFTMAX &&
            g->tensors[output].rec.dtype == TL_DTYPE_INT8) { /* confidence is defined on int8 probabilities */
            const tl_tensor_rec *t = &g->tensors[output].rec;
            e->kind = TL_EXIT_PROBS;
            e->prob_zero_point = t->zero_point;
            e->prob_scale_q24 = (uint32_t)(t->scale * (float)(1 << 24) + 0.5f);
        }
    }
    return TL_OK;
}

int32_t tl_graph_add_lstm(tl_graph *g, uint16_t input, uint16_t output, const tl_lstm_spec *spec, uint16_t *hidden,
                          char *error, size_t error_size)
{
    if (!g || !spec || input >= g->tensor_count || output >= g->tensor_count || !spec->input_weights ||
        !spec->recurrent_weights || !spec->bias || spec->batches == 0 || spec->n_state == 0 || spec->n_input == 0) {
        return failed(error, error_size, "invalid arguments");
    }
    const uint32_t b = spec->batches, n_state = spec->n_state, n_input = spec->n_input;
    const tl_tensor_rec *in = &g->tensors[input].rec;
    if (!(spec->cell_scale > 0) || !(spec->hidden_scale > 0) || spec->hidden_zero_point < -128 ||
        spec->hidden_zero_point > 127) {
        return failed(error, error_size, "cell or hidden state quantisation out of range");
    }
    tl_lstm_header k;
    memset(&k, 0, sizeof k);
    k.time_major = spec->time_major != 0;
    k.input_offset = -in->zero_point;
    k.hidden_offset = -spec->hidden_zero_point;
    k.hidden_zero_point = spec->hidden_zero_point;
    /* TFLite Micro's PrepareGateParametersInteger: gates into Q3.12 (its
     * float constant is 2^-12), their outputs in Q0.15 (2^-15). */
    const float gate_in_scale = 0.00024414062f, gate_out_scale = 0.00003051757f;
    for (uint32_t gate = 0; gate < 4; ++gate) {
        tl_quantize_multiplier((double)(in->scale * spec->input_weight_scales[gate]) / (double)gate_in_scale,
                               &k.input_mult[gate], &k.input_shift[gate]);
        tl_quantize_multiplier((double)(spec->hidden_scale * spec->recurrent_weight_scales[gate]) / (double)gate_in_scale,
                               &k.recurrent_mult[gate], &k.recurrent_shift[gate]);
    }
    tl_quantize_multiplier((double)gate_out_scale * (double)spec->cell_scale / (double)spec->cell_scale,
                           &k.forget_mult, &k.forget_shift);
    tl_quantize_multiplier((double)gate_out_scale * (double)gate_out_scale / (double)spec->cell_scale, &k.update_mult,
                           &k.update_shift);
    tl_quantize_multiplier((double)gate_out_scale * (double)gate_out_scale / (double)spec->hidden_scale, &k.hidden_mult,
                           &k.hidden_shift);
    /* CheckedLog2 in float, as TFLite Micro rounds the cell's scale. */
    k.cell_scale_power = (int32_t)roundf(logf(spec->cell_scale) * (1.0f / logf(2.0f)));
    if (spec->cell_clip > 0) {
        const double q = (double)spec->cell_clip / (double)spec->cell_scale;
        k.cell_clip = (int32_t)(int16_t)(q < -32768.0 ? -32768.0 : (q > 32767.0 ? 32767.0 : q));
    }
    if (k.cell_scale_power < -28 || k.cell_scale_power > 2) {
        return failed(error, error_size, "cell state scale out of range");
    }
    char name[256];
    snprintf(name, sizeof name, "%s/hidden", spec->name ? spec->name : "lstm");
    const uint32_t state_dims[4] = { b, n_state, 1, 1 };
    const int32_t h = tl_graph_add_activation(g, name, 2, state_dims, spec->hidden_scale, spec->hidden_zero_point);
    if (h < 0) {
        return failed(error, error_size, "out of memory");
    }
    g->tensors[h].rec.kind = TL_TENSOR_STATE;
    /* The cell state with the four gate buffers after it: [5, batch, n_state]. */
    tl_tensor_rec rec;
    memset(&rec, 0, sizeof rec);
    rec.dtype = TL_DTYPE_INT16;
    rec.rank = 3;
    rec.kind = TL_TENSOR_STATE;
    rec.quant = TL_QUANT_PER_TENSOR;
    rec.dims[0] = 5;
    rec.dims[1] = b;
    rec.dims[2] = n_state;
    rec.dims[3] = 1;
    rec.data_size = 2u * 5u * b * n_state;
    rec.scale = spec->cell_scale;
    snprintf(name, sizeof name, "%s/cell", spec->name ? spec->name : "lstm");
    const int32_t c = tl_graph_add_tensor(g, name, &rec, NULL, NULL, 0);
    const uint32_t wx_bytes = (4u * n_state * n_input + 3u) & ~3u, wh_bytes = (4u * n_state * n_state + 3u) & ~3u;
    const uint32_t size = (uint32_t)sizeof k + wx_bytes + wh_bytes + 16u * n_state;
    uint8_t *block = calloc(size, 1);
    if (c < 0 || !block) {
        free(block);
        return failed(error, error_size, "out of memory");
    }
    memcpy(block, &k, sizeof k);
    memcpy(block + sizeof k, spec->input_weights, 4u * n_state * n_input);
    memcpy(block + sizeof k + wx_bytes, spec->recurrent_weights, 4u * n_state * n_state);
    memcpy(block + sizeof k + wx_bytes + wh_bytes, spec->bias, 16u * n_state);
    tl_op_rec op = plain_op(TL_OP_LSTM, input, output);
    op.input_count = 3;
    op.inputs[1] = (uint16_t)h;
    op.inputs[2] = (uint16_t)c;
    const int32_t index = tl_graph_add_op(g, &op, NULL, NULL, 0);
    const tl_status s = index < 0 ? TL_ERR_NOMEM : tl_graph_set_op_block(g, (uint32_t)index, block, size);
    free(block);
    if (s != TL_OK) {
        return failed(error, error_size, "out of memory");
    }
    if (hidden) {
        *hidden = (uint16_t)h;
    }
    return index;
}
