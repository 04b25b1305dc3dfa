/* tl_resize_nearest.c - RESIZE_NEAREST_NEIGHBOR of an NHWC tensor of 1- or
 * 2-byte elements. Which input row and column each output row and column
 * takes is worked out at import exactly as TFLite does (in float, with its
 * align_corners and half_pixel_centers) and kept in the operator's block,
 * so the device only copies. */
#include <string.h>

#include "kernels.h"
#include "op.h"

void tl_resize_nearest(const tl_resize_nearest_params *p)
{
    const uint32_t pixel = (uint32_t)(p->channels * p->element_size);
    const uint8_t *in = p->input;
    uint8_t *out = p->output;
    for (int32_t b = 0; b < p->batches; ++b) {
        const uint8_t *image = in + (uint32_t)(b * p->in_h * p->in_w) * pixel;
        for (int32_t y = 0; y < p->out_h; ++y) {
            const uint8_t *row = image + (uint32_t)(p->row_map[y] * p->in_w) * pixel;
            for (int32_t x = 0; x < p->out_w; ++x) {
                memcpy(out, row + (uint32_t)p->column_map[x] * pixel, pixel);
                out += pixel;
            }
        }
    }
}

/* ---- the operator ---- */

/* Rank-4 input and output of one element type, batches and channels
 * alike; the block holds one int32 source index per output row, then per
 * output column, each inside the input. */
static tl_status check_resize_nearest(const tl_model *m, const tl_op_rec *op)
{
    const tl_tensor_rec *in = tl_op_tensor(m, op->inputs[0]), *out = tl_op_tensor(m, op->output);
    if (op->input_count != 1 || !tl_op_is_activation(in) || !tl_op_is_activation(out) || in->dtype != out->dtype ||
        (in->dtype != TL_DTYPE_INT8 && in->dtype != TL_DTYPE_INT16)) {
        return TL_ERR_FORMAT;
    }
    if (in->rank != 4 || out->rank != 4 || in->dims[0] != out->dims[0] || in->dims[3] != out->dims[3]) {
        return TL_ERR_SHAPE;
    }
    const uint32_t entries = out->dims[1] + out->dims[2];
    if (op->requant % 4 != 0 || op->bias != 4u * entries || (uint64_t)op->requant + op->bias > m->weights_size) {
        return TL_ERR_BOUNDS;
    }
    const int32_t *map = (const int32_t *)(const void *)(m->weights + op->requant);
    for (uint32_t i = 0; i < entries; ++i) {
        const uint32_t limit = i < out->dims[1] ? in->dims[1] : in->dims[2];
        if (map[i] < 0 || (uint32_t)map[i] >= limit) {
            return TL_ERR_BOUNDS;
        }
    }
    return TL_OK;
}

static void run_resize_nearest(const tl_interp *it, const tl_op_rec *op)
{
    const tl_tensor_rec *in = &it->model->tensors[op->inputs[0]], *out = &it->model->tensors[op->output];
    tl_resize_nearest_params p;
    p.input = tl_op_activation(it, op->inputs[0]);
    p.output = tl_op_activation(it, op->output);
    p.element_size = (int32_t)tl_dtype_bytes(in->dtype);
    p.batches = (int32_t)in->dims[0];
    p.in_h = (int32_t)in->dims[1];
    p.in_w = (int32_t)in->dims[2];
    p.channels = (int32_t)in->dims[3];
    p.out_h = (int32_t)out->dims[1];
    p.out_w = (int32_t)out->dims[2];
    p.row_map = (const int32_t *)(const void *)(it->model->weights + op->requant);
    p.column_map = p.row_map + p.out_h;
    tl_resize_nearest(&p);
}

const tl_op_kind tl_op_resize_nearest = { "RESIZE_NEAREST_NEIGHBOR", 0, check_resize_nearest, run_resize_nearest };
