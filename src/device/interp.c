/* interp.c - run a validated model's operators from the caller's arena.
 *
 * Nothing here checks shapes or offsets: tl_model_load() already did, so
 * each step hands a record to its operator (op.h), which turns it into
 * kernel parameters (pointers into the weights and the arena) and calls the
 * kernel. Execution can pause at an
 * early exit and resume, which is how the on-device cascade works.
 */
#include <string.h>

#include "tinylarge/device.h"
#include "op.h"

static int8_t *activation(const tl_interp *it, uint16_t tensor)
{
    return (int8_t *)(it->arena + it->model->plan[tensor]);
}

/* Every record was accepted by its operator's check, so its kind is linked. */
static void run_op(const tl_interp *it, const tl_op_rec *op)
{
    tl_op_table[op->opcode]->run(it, op);
}

tl_status tl_interp_init(tl_interp *it, const tl_model *model, void *arena, size_t arena_size)
{
    if (!it || !model || !model->header || (!arena && tl_model_arena_size(model) > 0)) {
        return TL_ERR_ARG;
    }
    if (arena_size < tl_model_arena_size(model)) {
        return TL_ERR_ARENA;
    }
    if ((uintptr_t)arena % 4 != 0) {
        return TL_ERR_ARENA; /* int16, int32 and float tensors sit at aligned offsets */
    }
    it->model = model;
    it->arena = (uint8_t *)arena;
    it->arena_size = (uint32_t)(arena_size > 0xFFFFFFFFu ? 0xFFFFFFFFu : arena_size);
    it->next_op = 0;
    tl_interp_reset_state(it);
    return TL_OK;
}

/* As TFLite Micro resets variable tensors: int8 ones to their zero point,
 * the others to zero. */
void tl_interp_reset_state(tl_interp *it)
{
    if (!it || !it->model) {
        return;
    }
    const tl_model *m = it->model;
    for (uint32_t t = 0; t < m->header->tensor_count; ++t) {
        const tl_tensor_rec *r = &m->tensors[t];
        if (r->kind == TL_TENSOR_STATE) {
            memset(activation(it, (uint16_t)t), r->dtype == TL_DTYPE_INT8 ? r->zero_point : 0, r->data_size);
        }
    }
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

/* The index of the largest element (the first of equals). */
static uint32_t top_index(const void *data, uint32_t dtype, uint32_t count)
{
    uint32_t best = 0;
    for (uint32_t i = 1; i < count; ++i) {
        int larger;
        switch (dtype) {
        case TL_DTYPE_INT16: larger = ((const int16_t *)data)[i] > ((const int16_t *)data)[best]; break;
        case TL_DTYPE_INT32: larger = ((const int32_t *)data)[i] > ((const int32_t *)data)[best]; break;
        case TL_DTYPE_FLOAT32: larger = ((const float *)data)[i] > ((const float *)data)[best]; break;
        default: larger = ((const int8_t *)data)[i] > ((const int8_t *)data)[best]; break;
        }
        best = larger ? i : best;
    }
    return best;
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
    const tl_tensor_rec *t = &it->model->tensors[e->output];
    const uint32_t size = t->data_size;
    const uint32_t best = top_index(data, t->dtype, size / tl_dtype_bytes(t->dtype));
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
