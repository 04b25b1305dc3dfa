/* tl_transpose_conv.c - TRANSPOSE_CONV of int8 tensors, or int16 ones
 * with int8 weights (TFLite's reference TransposeConv). TFLite scatters
 * each input pixel into an int32 (int16: int64) scratch of the output's
 * size; here each output gathers the input pixels that land on it, the
 * same integer sums without the scratch, then bias, requantisation,
 * offset and clamp as TFLite applies them. */
#include <string.h>

#include "kernels.h"
#include "op.h"

static int32_t load_in(const tl_tconv_params *p, int64_t i)
{
    return p->wide ? ((const int16_t *)p->input)[i] : ((const int8_t *)p->input)[i];
}

void tl_transpose_conv(const tl_tconv_params *p)
{
    for (int32_t b = 0; b < p->batches; ++b) {
        for (int32_t oy = 0; oy < p->out_h; ++oy) {
            for (int32_t ox = 0; ox < p->out_w; ++ox) {
                for (int32_t oc = 0; oc < p->out_c; ++oc) {
                    int64_t acc = 0;
                    for (int32_t ky = 0; ky < p->k_h; ++ky) {
                        const int32_t ty = oy + p->pad_top - ky; /* = iy * stride */
                        if (ty < 0 || ty % p->stride_h != 0 || ty / p->stride_h >= p->in_h) {
                            continue;
                        }
                        for (int32_t kx = 0; kx < p->k_w; ++kx) {
                            const int32_t tx = ox + p->pad_left - kx;
                            if (tx < 0 || tx % p->stride_w != 0 || tx / p->stride_w >= p->in_w) {
                                continue;
                            }
                            const int64_t at = (((int64_t)b * p->in_h + ty / p->stride_h) * p->in_w + tx / p->stride_w) * p->in_c;
                            const int8_t *w = p->filter + (((int64_t)oc * p->k_h + ky) * p->k_w + kx) * p->in_c;
                            for (int32_t ic = 0; ic < p->in_c; ++ic) {
                                acc += (int64_t)w[ic] * (load_in(p, at + ic) + p->input_offset);
                            }
                        }
                    }
                    int32_t v;
                    if (p->wide) {
                        if (p->bias64) {
                            int64_t bias;
                            memcpy(&bias, p->bias64 + 8 * oc, sizeof bias);
                            acc += bias;
                        }
                        v = tl_requantize64(acc, p->multiplier[oc], p->shift[oc]);
                    } else {
                        /* int32 sums, wrapping as TFLite's would */
                        const uint32_t sum = (uint32_t)(uint64_t)acc + (p->bias32 ? (uint32_t)p->bias32[oc] : 0u);
                        v = tl_requantize((int32_t)sum, p->multiplier[oc], p->shift[oc]);
                    }
                    v += p->output_offset;
                    v = v < p->act_min ? p->act_min : (v > p->act_max ? p->act_max : v);
                    const int64_t o = (((int64_t)b * p->out_h + oy) * p->out_w + ox) * p->out_c + oc;
                    if (p->wide) {
                        ((int16_t *)p->output)[o] = (int16_t)v;
                    } else {
                        ((int8_t *)p->output)[o] = (int8_t)v;
                    }
                }
            }
        }
    }
}

/* ---- the operator ---- */

/* int8 (zero points in range, an int32 bias) or int16 (no zero points, an
 * int64 bias within 2^46); 4-D shapes the filter and strides connect; the
 * padding inside the filter; multipliers the requantisation of the type
 * takes; an int8 sum of at most TL_MAX_DOT terms per output. */
static tl_status check_tconv(const tl_model *m, const tl_op_rec *op)
{
    const tl_tensor_rec *in = tl_op_tensor(m, op->inputs[0]), *f = tl_op_tensor(m, op->inputs[1]);
    const tl_tensor_rec *out = tl_op_tensor(m, op->output);
    if ((op->input_count != 2 && op->input_count != 3) || !tl_op_is_activation(in) || in->dtype != out->dtype ||
        (in->dtype != TL_DTYPE_INT8 && in->dtype != TL_DTYPE_INT16) || f->kind != TL_TENSOR_CONST ||
        f->dtype != TL_DTYPE_INT8 || op->bias != TL_NONE) {
        return TL_ERR_FORMAT;
    }
    const int wide = in->dtype == TL_DTYPE_INT16;
    if (in->rank != 4 || out->rank != 4 || f->rank != 4 || in->dims[0] != out->dims[0] || f->dims[0] != out->dims[3] ||
        f->dims[3] != in->dims[3] || op->stride_h < 1 || op->stride_w < 1 || op->pad_top < 0 || op->pad_left < 0 ||
        op->pad_top >= (int32_t)f->dims[1] || op->pad_left >= (int32_t)f->dims[2] ||
        (uint64_t)f->dims[1] * f->dims[2] * f->dims[3] > TL_MAX_DOT) {
        return TL_ERR_SHAPE;
    }
    const uint32_t out_c = out->dims[3];
    if (op->input_count == 3) {
        const tl_tensor_rec *b = tl_op_tensor(m, op->inputs[2]);
        if (b->kind != TL_TENSOR_CONST || tl_tensor_elements(b) != out_c ||
            b->dtype != (wide ? TL_DTYPE_INT64 : TL_DTYPE_INT32)) {
            return TL_ERR_FORMAT;
        }
        for (uint32_t c = 0; wide && c < out_c; ++c) {
            int64_t v;
            memcpy(&v, m->weights + b->data_offset + 8 * c, sizeof v);
            if (v < -((int64_t)1 << 46) || v > ((int64_t)1 << 46)) {
                return TL_ERR_QUANT;
            }
        }
    }
    tl_status s = tl_op_check_int32_array(m, op->requant, 2ull * out_c);
    if (s != TL_OK) {
        return s;
    }
    const int32_t *mult = tl_op_weights_i32(m, op->requant), *shift = mult + out_c;
    for (uint32_t c = 0; c < out_c; ++c) {
        if (mult[c] < 0 || shift[c] < -31 || shift[c] > (wide ? 7 : 30)) {
            return TL_ERR_QUANT;
        }
    }
    const int32_t lo = wide ? -32768 : -128, hi = wide ? 32767 : 127;
    if ((wide ? (op->input_offset || op->output_offset)
              : (op->input_offset < -127 || op->input_offset > 128 || op->output_offset < -128 || op->output_offset > 127)) ||
        op->act_min < lo || op->act_max > hi) {
        return TL_ERR_QUANT;
    }
    return TL_OK;
}

static void run_tconv(const tl_interp *it, const tl_op_rec *op)
{
    const tl_model *m = it->model;
    const tl_tensor_rec *in = &m->tensors[op->inputs[0]], *f = &m->tensors[op->inputs[1]];
    const tl_tensor_rec *out = &m->tensors[op->output];
    tl_tconv_params p;
    p.wide = in->dtype == TL_DTYPE_INT16;
    p.input = tl_op_activation(it, op->inputs[0]);
    p.output = tl_op_activation(it, op->output);
    p.filter = tl_op_constant(m, op->inputs[1]);
    p.bias32 = op->input_count == 3 && !p.wide ? tl_op_constant(m, op->inputs[2]) : NULL;
    p.bias64 = op->input_count == 3 && p.wide ? tl_op_constant(m, op->inputs[2]) : NULL;
    p.batches = (int32_t)in->dims[0];
    p.in_h = (int32_t)in->dims[1];
    p.in_w = (int32_t)in->dims[2];
    p.in_c = (int32_t)in->dims[3];
    p.out_h = (int32_t)out->dims[1];
    p.out_w = (int32_t)out->dims[2];
    p.out_c = (int32_t)out->dims[3];
    p.k_h = (int32_t)f->dims[1];
    p.k_w = (int32_t)f->dims[2];
    p.stride_h = op->stride_h;
    p.stride_w = op->stride_w;
    p.pad_top = op->pad_top;
    p.pad_left = op->pad_left;
    p.input_offset = op->input_offset;
    p.output_offset = op->output_offset;
    p.multiplier = tl_op_weights_i32(m, op->requant);
    p.shift = p.multiplier + p.out_c;
    p.act_min = op->act_min;
    p.act_max = op->act_max;
    tl_transpose_conv(&p);
}

const tl_op_kind tl_op_transpose_conv = { "TRANSPOSE_CONV", 0, check_tconv, run_tconv };
