/* tl_pool_ops.c - AVERAGE_POOL_2D and MAX_POOL_2D: their checks and their
 * step to the kernels (tl_avg_pool2d_s8.c, tl_max_pool2d_s8.c, and
 * tl_pool2d_s16.c for int16).
 */
#include "kernels.h"
#include "op.h"

/* int8, or int16 in and out with the clamp in int16. */
static tl_status check_pool(const tl_model *m, const tl_op_rec *op)
{
    const tl_tensor_rec *in = tl_op_tensor(m, op->inputs[0]);
    const tl_tensor_rec *out = tl_op_tensor(m, op->output);
    tl_status s;
    if (tl_op_is_activation(in) && in->dtype == TL_DTYPE_INT16) {
        if (op->input_count != 1 || !tl_op_is_activation(out) || out->dtype != TL_DTYPE_INT16) {
            return TL_ERR_FORMAT;
        }
        if (op->act_min > op->act_max) {
            return TL_ERR_QUANT;
        }
    } else if ((s = tl_op_check_s8_output(m, op)) != TL_OK) {
        return s;
    } else if (op->input_count != 1 || !tl_op_is_s8_activation(in)) {
        return TL_ERR_FORMAT;
    }
    if (in->rank != 4 || out->rank != 4 || in->dims[0] != out->dims[0] ||
        in->dims[3] != out->dims[3]) {
        return TL_ERR_SHAPE;
    }
    s = tl_op_check_window(in->dims[1], out->dims[1], op->filter_h, op->stride_h, 1,
                               op->pad_top);
    if (s == TL_OK) {
        s = tl_op_check_window(in->dims[2], out->dims[2], op->filter_w, op->stride_w, 1, op->pad_left);
    }
    if (s == TL_OK && (uint64_t)op->filter_h * op->filter_w > TL_MAX_DOT) {
        s = TL_ERR_SHAPE;
    }
    return s;
}

static void pool_params(const tl_interp *it, const tl_op_rec *op, tl_pool_params *params)
{
    const tl_tensor_rec *in = &it->model->tensors[op->inputs[0]];
    const tl_tensor_rec *out = &it->model->tensors[op->output];
    tl_pool_params p;
    p.input = tl_op_activation(it, op->inputs[0]);
    p.output = tl_op_activation(it, op->output);
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
    *params = p;
}

static void run_pool(const tl_interp *it, const tl_op_rec *op)
{
    tl_pool_params p;
    pool_params(it, op, &p);
    const int wide = it->model->tensors[op->inputs[0]].dtype == TL_DTYPE_INT16;
    if (op->opcode == TL_OP_AVERAGE_POOL_2D) {
        (wide ? tl_avg_pool2d_s16 : tl_avg_pool2d_s8)(&p);
    } else {
        (wide ? tl_max_pool2d_s16 : tl_max_pool2d_s8)(&p);
    }
}

/* The int8-only kinds (see tl_op_conv_2d_int8): no int16 kernels linked. */
static tl_status check_pool_int8(const tl_model *m, const tl_op_rec *op)
{
    const tl_tensor_rec *in = tl_op_tensor(m, op->inputs[0]);
    return in && in->dtype == TL_DTYPE_INT8 ? check_pool(m, op) : TL_ERR_UNSUPPORTED;
}

/* One run function a kind, so that each links one kernel. */
static void run_avg_pool_int8(const tl_interp *it, const tl_op_rec *op)
{
    tl_pool_params p;
    pool_params(it, op, &p);
    tl_avg_pool2d_s8(&p);
}

static void run_max_pool_int8(const tl_interp *it, const tl_op_rec *op)
{
    tl_pool_params p;
    pool_params(it, op, &p);
    tl_max_pool2d_s8(&p);
}

const tl_op_kind tl_op_average_pool_2d = { "AVERAGE_POOL_2D", 0, check_pool, run_pool };
const tl_op_kind tl_op_max_pool_2d = { "MAX_POOL_2D", 0, check_pool, run_pool };
const tl_op_kind tl_op_average_pool_2d_int8 = { "AVERAGE_POOL_2D", 0, check_pool_int8, run_avg_pool_int8 };
const tl_op_kind tl_op_max_pool_2d_int8 = { "MAX_POOL_2D", 0, check_pool_int8, run_max_pool_int8 };
