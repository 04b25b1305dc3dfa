/* tl_resize.c - RESIZE_NEAREST_NEIGHBOR and RESIZE_BILINEAR of an NHWC
 * tensor of int8 or int16 elements; input and output share quantisation,
 * so stored values are copied or interpolated as they are.
 *
 * Nearest: which input row and column each output row and column takes is
 * worked out at import exactly as TFLite does (in float, with its
 * align_corners and half_pixel_centers) and kept in the operator's block,
 * so the device only copies. Bilinear: TFLite's integer arithmetic
 * (reference ResizeBilinearInteger), source positions in 1/1024ths of a
 * pixel, the four neighbours weighed in int64 and rounded half away from
 * zero. */
#include <string.h>

#include "kernels.h"
#include "op.h"

void tl_resize_nearest(const tl_resize_params *p)
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

/* Where output index i falls in the input, in 1/1024ths, and the two input
 * indices around it. */
static void source_position(int32_t i, int32_t scale_10, int32_t half_pixel, int32_t in_size, int32_t *at,
                            int32_t *lower, int32_t *upper)
{
    *at = half_pixel ? i * scale_10 + scale_10 / 2 - (1 << 9) : i * scale_10;
    const int32_t lo = *at / (1 << 10), hi = (*at + (1 << 10) - 1) / (1 << 10);
    *lower = lo > 0 ? lo : 0;
    *upper = hi < in_size - 1 ? hi : in_size - 1;
}

void tl_resize_bilinear(const tl_resize_params *p)
{
    const int32_t c_n = p->channels, es = p->element_size;
    int32_t o = 0;
    for (int32_t b = 0; b < p->batches; ++b) {
        const int32_t image = b * p->in_h * p->in_w;
        for (int32_t y = 0; y < p->out_h; ++y) {
            int32_t in_y, y0, y1;
            source_position(y, p->scale_h, p->half_pixel, p->in_h, &in_y, &y0, &y1);
            const int64_t wy1 = in_y - (1 << 10) * y0, wy0 = (1 << 10) - wy1;
            for (int32_t x = 0; x < p->out_w; ++x) {
                int32_t in_x, x0, x1;
                source_position(x, p->scale_w, p->half_pixel, p->in_w, &in_x, &x0, &x1);
                const int64_t wx1 = in_x - (1 << 10) * x0, wx0 = (1 << 10) - wx1;
                const int32_t p00 = (image + y0 * p->in_w + x0) * c_n, p10 = (image + y1 * p->in_w + x0) * c_n;
                const int32_t p01 = (image + y0 * p->in_w + x1) * c_n, p11 = (image + y1 * p->in_w + x1) * c_n;
                for (int32_t c = 0; c < c_n; ++c, ++o) {
                    const void *in = p->input;
                    const int64_t sum = tl_load_s8_s16(in, es, p00 + c) * wy0 * wx0 + tl_load_s8_s16(in, es, p10 + c) * wy1 * wx0 +
                                        tl_load_s8_s16(in, es, p01 + c) * wy0 * wx1 + tl_load_s8_s16(in, es, p11 + c) * wy1 * wx1;
                    /* rounded half away from zero, 20 fraction bits */
                    const int64_t rounded = (sum + (sum > 0 ? (1 << 19) : -(1 << 19))) / (1 << 20);
                    tl_store_s8_s16(p->output, es, o, (int32_t)rounded);
                }
            }
        }
    }
}

/* ---- the operators ---- */

/* Rank-4 input and output of one element type (int8 or int16), batches and
 * channels alike: what both resizes check first. */
static tl_status check_resize_tensors(const tl_model *m, const tl_op_rec *op)
{
    const tl_tensor_rec *in = tl_op_tensor(m, op->inputs[0]), *out = tl_op_tensor(m, op->output);
    if (op->input_count != 1 || !tl_op_is_activation(in) || !tl_op_is_activation(out) || in->dtype != out->dtype ||
        (in->dtype != TL_DTYPE_INT8 && in->dtype != TL_DTYPE_INT16)) {
        return TL_ERR_FORMAT;
    }
    if (in->rank != 4 || out->rank != 4 || in->dims[0] != out->dims[0] || in->dims[3] != out->dims[3]) {
        return TL_ERR_SHAPE;
    }
    return TL_OK;
}

/* The block holds one int32 source index per output row, then per output
 * column, each inside the input. */
static tl_status check_resize_nearest(const tl_model *m, const tl_op_rec *op)
{
    tl_status s = check_resize_tensors(m, op);
    if (s != TL_OK) {
        return s;
    }
    const tl_tensor_rec *in = tl_op_tensor(m, op->inputs[0]), *out = tl_op_tensor(m, op->output);
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

/* Scales in 1/1024ths (`p[0]` rows, `p[1]` columns, `p[2]`
 * half_pixel_centers) that keep every position in int32 and every lower
 * neighbour inside the input (TFLite would read past the image for some
 * extreme ratios; the loader refuses those). */
static tl_status check_resize_bilinear(const tl_model *m, const tl_op_rec *op)
{
    tl_status s = check_resize_tensors(m, op);
    if (s != TL_OK) {
        return s;
    }
    if ((uint32_t)op->p[TL_RESIZE_HALF_PIXEL] > 1) {
        return TL_ERR_FORMAT;
    }
    const tl_tensor_rec *in = tl_op_tensor(m, op->inputs[0]), *out = tl_op_tensor(m, op->output);
    for (int axis = 0; axis < 2; ++axis) {
        const int32_t scale = op->p[axis == 0 ? TL_RESIZE_SCALE_H : TL_RESIZE_SCALE_W];
        const int32_t in_size = (int32_t)in->dims[1 + axis], out_size = (int32_t)out->dims[1 + axis];
        if (scale < 0 || (int64_t)out_size * scale + scale > INT32_MAX) {
            return TL_ERR_QUANT;
        }
        int32_t at, lower, upper;
        source_position(out_size - 1, scale, op->p[TL_RESIZE_HALF_PIXEL], in_size, &at, &lower, &upper);
        if (lower > in_size - 1) {
            return TL_ERR_QUANT;
        }
    }
    return TL_OK;
}

static void resize_params(const tl_interp *it, const tl_op_rec *op, tl_resize_params *p)
{
    const tl_tensor_rec *in = &it->model->tensors[op->inputs[0]], *out = &it->model->tensors[op->output];
    p->input = tl_op_activation(it, op->inputs[0]);
    p->output = tl_op_activation(it, op->output);
    p->element_size = (int32_t)tl_dtype_bytes(in->dtype);
    p->batches = (int32_t)in->dims[0];
    p->in_h = (int32_t)in->dims[1];
    p->in_w = (int32_t)in->dims[2];
    p->channels = (int32_t)in->dims[3];
    p->out_h = (int32_t)out->dims[1];
    p->out_w = (int32_t)out->dims[2];
    p->row_map = p->column_map = NULL;
    p->scale_h = op->p[TL_RESIZE_SCALE_H];
    p->scale_w = op->p[TL_RESIZE_SCALE_W];
    p->half_pixel = op->p[TL_RESIZE_HALF_PIXEL];
}

static void run_resize_nearest(const tl_interp *it, const tl_op_rec *op)
{
    tl_resize_params p;
    resize_params(it, op, &p);
    p.row_map = (const int32_t *)(const void *)(it->model->weights + op->requant);
    p.column_map = p.row_map + p.out_h;
    tl_resize_nearest(&p);
}

static void run_resize_bilinear(const tl_interp *it, const tl_op_rec *op)
{
    tl_resize_params p;
    resize_params(it, op, &p);
    tl_resize_bilinear(&p);
}

const tl_op_kind tl_op_resize_nearest = { "RESIZE_NEAREST_NEIGHBOR", 0, check_resize_nearest, run_resize_nearest };
const tl_op_kind tl_op_resize_bilinear = { "RESIZE_BILINEAR", 0, check_resize_bilinear, run_resize_bilinear };
