/* interp.c - run a validated model's operators from the caller's arena.
 *
 * Nothing here checks shapes or offsets: tl_model_load() already did, so
 * each step just turns a record into kernel parameters (pointers into the
 * weights and the arena) and calls the kernel. Execution can pause at an
 * early exit and resume, which is how the on-device cascade works.
 */
#include <string.h>

#include "tinylarge/device.h"
#include "kernels/kernels.h"

static int8_t *activation(const tl_interp *it, uint16_t tensor)
{
    return (int8_t *)(it->arena + it->model->plan[tensor]);
}

static const void *constant(const tl_model *m, uint16_t tensor)
{
    return m->weights + m->tensors[tensor].data_offset;
}

static const int32_t *weights_i32(const tl_model *m, uint32_t offset)
{
    return (const int32_t *)(const void *)(m->weights + offset);
}

static void run_conv(const tl_interp *it, const tl_op_rec *op)
{
    const tl_model *m = it->model;
    const tl_tensor_rec *in = &m->tensors[op->inputs[0]];
    const tl_tensor_rec *f = &m->tensors[op->inputs[1]];
    const tl_tensor_rec *out = &m->tensors[op->output];
    tl_conv_params p;
    p.input = activation(it, op->inputs[0]);
    p.output = activation(it, op->output);
    p.filter = constant(m, op->inputs[1]);
    p.multiplier = weights_i32(m, op->requant);
    p.bias = weights_i32(m, op->bias);
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
        p.residual = activation(it, op->inputs[2]);
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

static void run_pool(const tl_interp *it, const tl_op_rec *op)
{
    const tl_tensor_rec *in = &it->model->tensors[op->inputs[0]];
    const tl_tensor_rec *out = &it->model->tensors[op->output];
    tl_pool_params p;
    p.input = activation(it, op->inputs[0]);
    p.output = activation(it, op->output);
    p.batches = (int32_t)in->dims[0];
    p.in_h = (int32_t)in->dims[1];
    p.in_w = (int32_t)in->dims[2];
    p.channels = (int32_t)in->dims[3];
    p.out_h = (int32_t)out->dims[1];
    p.out_w = (int32_t)out->dims[2];
    p.k_h = op->filter_h;
    p.k_w = op->filter_w;
    p.stride_h = op->stride_h;
    p.stride_w = op->stride_w;
    p.pad_top = op->pad_top;
    p.pad_left = op->pad_left;
    p.act_min = op->act_min;
    p.act_max = op->act_max;
    if (op->opcode == TL_OP_AVERAGE_POOL_2D) {
        tl_avg_pool2d_s8(&p);
    } else {
        tl_max_pool2d_s8(&p);
    }
}

static void run_add(const tl_interp *it, const tl_op_rec *op)
{
    tl_add_params p;
    p.input1 = activation(it, op->inputs[0]);
    p.input2 = activation(it, op->inputs[1]);
    p.output = activation(it, op->output);
    p.size = (int32_t)it->model->tensors[op->output].data_size;
    p.quant.conv_is_input1 = 0;
    p.quant.input1_offset = op->input_offset;
    p.quant.input2_offset = op->p[TL_ADD_INPUT2_OFFSET];
    p.quant.output_offset = op->output_offset;
    p.quant.left_shift = op->p[TL_ADD_LEFT_SHIFT];
    p.quant.input1_multiplier = op->p[TL_ADD_INPUT1_MULT];
    p.quant.input1_shift = op->p[TL_ADD_INPUT1_SHIFT];
    p.quant.input2_multiplier = op->p[TL_ADD_INPUT2_MULT];
    p.quant.input2_shift = op->p[TL_ADD_INPUT2_SHIFT];
    p.quant.output_multiplier = op->p[TL_ADD_OUTPUT_MULT];
    p.quant.output_shift = op->p[TL_ADD_OUTPUT_SHIFT];
    p.quant.act_min = op->act_min;
    p.quant.act_max = op->act_max;
    tl_add_s8(&p);
}

static void run_softmax(const tl_interp *it, const tl_op_rec *op)
{
    const tl_tensor_rec *in = &it->model->tensors[op->inputs[0]];
    tl_softmax_params p;
    p.input = activation(it, op->inputs[0]);
    p.output = activation(it, op->output);
    p.depth = (int32_t)in->dims[in->rank - 1];
    p.rows = (int32_t)(in->data_size / (uint32_t)p.depth);
    p.input_multiplier = op->p[TL_SOFTMAX_INPUT_MULT];
    p.input_left_shift = op->p[TL_SOFTMAX_INPUT_LEFT_SHIFT];
    p.diff_min = op->p[TL_SOFTMAX_DIFF_MIN];
    tl_softmax_s8(&p);
}

static void run_transpose(const tl_interp *it, const tl_op_rec *op)
{
    const tl_tensor_rec *in = &it->model->tensors[op->inputs[0]];
    tl_transpose_params p;
    p.input = activation(it, op->inputs[0]);
    p.output = activation(it, op->output);
    for (int i = 0; i < 4; ++i) {
        p.in_dims[i] = (int32_t)in->dims[i];
        p.perm[i] = op->p[TL_TRANSPOSE_PERM + i];
    }
    tl_transpose_s8(&p);
}

static void run_pad(const tl_interp *it, const tl_op_rec *op)
{
    const tl_tensor_rec *in = &it->model->tensors[op->inputs[0]];
    tl_pad_params p;
    p.input = activation(it, op->inputs[0]);
    p.output = activation(it, op->output);
    for (int i = 0; i < 4; ++i) {
        p.in_dims[i] = (int32_t)in->dims[i];
        p.before[i] = op->p[TL_PAD_BEFORE + i];
        p.after[i] = op->p[TL_PAD_AFTER + i];
    }
    p.value = (int8_t)op->p[TL_PAD_VALUE];
    tl_pad_s8(&p);
}

static void run_op(const tl_interp *it, const tl_op_rec *op)
{
    switch (op->opcode) {
    case TL_OP_CONV_2D:
    case TL_OP_DEPTHWISE_CONV_2D:
    case TL_OP_FULLY_CONNECTED:
        run_conv(it, op);
        break;
    case TL_OP_AVERAGE_POOL_2D:
    case TL_OP_MAX_POOL_2D:
        run_pool(it, op);
        break;
    case TL_OP_ADD:
        run_add(it, op);
        break;
    case TL_OP_SOFTMAX:
        run_softmax(it, op);
        break;
    case TL_OP_TRANSPOSE:
        run_transpose(it, op);
        break;
    case TL_OP_PAD:
        run_pad(it, op);
        break;
    case TL_OP_RESHAPE: {
        /* Usually planned in place (same offset): then there is nothing to do. */
        int8_t *dst = activation(it, op->output);
        const int8_t *src = activation(it, op->inputs[0]);
        if (dst != src) {
            memmove(dst, src, it->model->tensors[op->output].data_size);
        }
        break;
    }
    default:
        break; /* unreachable: the loader rejects unknown opcodes */
    }
}

tl_status tl_interp_init(tl_interp *it, const tl_model *model, void *arena, size_t arena_size)
{
    if (!it || !model || !model->header || (!arena && tl_model_arena_size(model) > 0)) {
        return TL_ERR_ARG;
    }
    if (arena_size < tl_model_arena_size(model)) {
        return TL_ERR_ARENA;
    }
    it->model = model;
    it->arena = (uint8_t *)arena;
    it->arena_size = (uint32_t)(arena_size > 0xFFFFFFFFu ? 0xFFFFFFFFu : arena_size);
    it->next_op = 0;
    return TL_OK;
}

int8_t *tl_interp_input(tl_interp *it, uint32_t index, uint32_t *size)
{
    if (!it || !it->model || index >= it->model->header->input_count) {
        return NULL;
    }
    const uint16_t tensor = it->model->io[index];
    it->next_op = 0;
    if (size) {
        *size = it->model->tensors[tensor].data_size;
    }
    return activation(it, tensor);
}

static tl_status run_until(tl_interp *it, uint32_t end)
{
    if (!it || !it->model) {
        return TL_ERR_ARG;
    }
    if (it->next_op > end) {
        return TL_ERR_STATE; /* that exit's output may already be overwritten */
    }
    for (; it->next_op < end; ++it->next_op) {
        run_op(it, &it->model->ops[it->next_op]);
    }
    return TL_OK;
}

tl_status tl_interp_step(tl_interp *it)
{
    if (!it || !it->model) {
        return TL_ERR_ARG;
    }
    if (it->next_op >= it->model->header->op_count) {
        return TL_ERR_STATE;
    }
    run_op(it, &it->model->ops[it->next_op++]);
    return TL_OK;
}

tl_status tl_interp_invoke(tl_interp *it)
{
    if (!it || !it->model) {
        return TL_ERR_ARG;
    }
    it->next_op = 0;
    return run_until(it, it->model->header->op_count);
}

tl_status tl_interp_run_to_exit(tl_interp *it, uint32_t exit_index, tl_exit_result *result)
{
    if (!it || !it->model || !result || exit_index >= it->model->header->exit_count) {
        return TL_ERR_ARG;
    }
    const tl_exit_rec *e = &it->model->exits[exit_index];
    tl_status s = run_until(it, e->op_end);
    if (s != TL_OK) {
        return s;
    }
    const int8_t *data = activation(it, e->output);
    const uint32_t size = it->model->tensors[e->output].data_size;
    uint32_t best = 0;
    for (uint32_t i = 1; i < size; ++i) {
        if (data[i] > data[best]) {
            best = i;
        }
    }
    result->data = data;
    result->size = size;
    result->top_class = best;
    result->confidence = 0;
    if (e->kind == TL_EXIT_PROBS) {
        /* (q - zp) <= 255 and scale <= 2^24, so the product fits in 32 bits. */
        const uint32_t q = (uint32_t)(data[best] - e->prob_zero_point);
        const uint32_t c = (q * e->prob_scale_q24) >> 8;
        result->confidence = c > 65535u ? 65535u : c;
    }
    return TL_OK;
}

const int8_t *tl_interp_output(const tl_interp *it, uint32_t index, uint32_t *size)
{
    if (!it || !it->model || index >= it->model->header->output_count) {
        return NULL;
    }
    const uint16_t tensor = it->model->io[it->model->header->input_count + index];
    if (size) {
        *size = it->model->tensors[tensor].data_size;
    }
    return activation(it, tensor);
}

/* ---- split inference ---- */

/* 1 if activation tensor t crosses the cut after k operators. */
static int crosses(const tl_model *m, uint16_t t, uint32_t k)
{
    if (m->tensors[t].data_offset != TL_NONE) {
        return 0; /* a constant: both sides hold the model */
    }
    int made_before = 0;
    for (uint32_t i = 0; i < m->header->input_count; ++i) {
        made_before |= m->io[i] == t;
    }
    for (uint32_t op = 0; op < k && !made_before; ++op) {
        made_before = m->ops[op].output == t;
    }
    if (!made_before) {
        return 0;
    }
    for (uint32_t op = k; op < m->header->op_count; ++op) {
        for (uint32_t j = 0; j < m->ops[op].input_count; ++j) {
            if (m->ops[op].inputs[j] == t) {
                return 1;
            }
        }
    }
    return 0;
}

uint32_t tl_model_cut_bytes(const tl_model *m, uint32_t k)
{
    uint32_t bytes = 0;
    for (uint32_t t = 0; k < m->header->op_count && t < m->header->tensor_count; ++t) {
        bytes += crosses(m, (uint16_t)t, k) ? m->tensors[t].data_size : 0;
    }
    return bytes;
}

tl_status tl_interp_cut_save(const tl_interp *it, uint32_t k, int8_t *out, uint32_t capacity, uint32_t *size)
{
    if (!it || !it->model || k > it->model->header->op_count) {
        return TL_ERR_ARG;
    }
    if (it->next_op != k) {
        return TL_ERR_STATE;
    }
    const tl_model *m = it->model;
    const uint32_t need = tl_model_cut_bytes(m, k);
    if (capacity < need) {
        return TL_ERR_ARENA;
    }
    uint32_t at = 0;
    for (uint32_t t = 0; t < m->header->tensor_count && at < need; ++t) {
        if (crosses(m, (uint16_t)t, k)) {
            memcpy(out + at, activation(it, (uint16_t)t), m->tensors[t].data_size);
            at += m->tensors[t].data_size;
        }
    }
    *size = need;
    return TL_OK;
}

tl_status tl_interp_cut_restore(tl_interp *it, uint32_t k, const int8_t *in, uint32_t size)
{
    if (!it || !it->model || k >= it->model->header->op_count) {
        return TL_ERR_ARG;
    }
    const tl_model *m = it->model;
    if (size != tl_model_cut_bytes(m, k)) {
        return TL_ERR_SHAPE;
    }
    uint32_t at = 0;
    for (uint32_t t = 0; t < m->header->tensor_count && at < size; ++t) {
        if (crosses(m, (uint16_t)t, k)) {
            memcpy(activation(it, (uint16_t)t), in + at, m->tensors[t].data_size);
            at += m->tensors[t].data_size;
        }
    }
    it->next_op = k;
    return TL_OK;
}

tl_status tl_interp_finish(tl_interp *it)
{
    if (!it || !it->model) {
        return TL_ERR_ARG;
    }
    return run_until(it, it->model->header->op_count);
}
