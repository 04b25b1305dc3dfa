/* tflite_import.c - translate an int8 TFLite flatbuffer into a tl_graph.
 *
 * Does, once and offline, what TFLite Micro does in each kernel's Prepare:
 * output sizes and padding, per-channel requantisation multipliers, the
 * activation clamp range, the ADD and SOFTMAX fixed-point constants. The
 * formulas (including where TFLite multiplies in float before widening to
 * double) are reproduced exactly, because the constants decide whether our
 * outputs equal TFLite Micro's byte for byte. Bias and the input zero point
 * are folded into one "effective bias" per output channel.
 *
 * Field numbers below are those of TFLite's schema.fbs.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tflite_reader.h"
#include "tinylarge/convert.h"
#include "tinylarge/device.h"

static const char *const builtin_names[] = {
    "ADD", "AVERAGE_POOL_2D", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D",
    "DEPTH_TO_SPACE", "DEQUANTIZE", "EMBEDDING_LOOKUP", "FLOOR", "FULLY_CONNECTED",
    "HASHTABLE_LOOKUP", "L2_NORMALIZATION", "L2_POOL_2D", "LOCAL_RESPONSE_NORMALIZATION",
    "LOGISTIC", "LSH_PROJECTION", "LSTM", "MAX_POOL_2D", "MUL", "RELU", "RELU_N1_TO_1",
    "RELU6", "RESHAPE", "RESIZE_BILINEAR", "RNN", "SOFTMAX", "SPACE_TO_DEPTH", "SVDF",
    "TANH", "CONCAT_EMBEDDINGS", "SKIP_GRAM", "CALL", "CUSTOM", "EMBEDDING_LOOKUP_SPARSE",
    "PAD", "UNIDIRECTIONAL_SEQUENCE_RNN", "GATHER", "BATCH_TO_SPACE_ND",
    "SPACE_TO_BATCH_ND", "TRANSPOSE", "MEAN", "SUB", "DIV", "SQUEEZE",
    "UNIDIRECTIONAL_SEQUENCE_LSTM", "STRIDED_SLICE", "BIDIRECTIONAL_SEQUENCE_RNN", "EXP",
    "TOPK_V2", "SPLIT", "LOG_SOFTMAX", "DELEGATE", "BIDIRECTIONAL_SEQUENCE_LSTM", "CAST",
    "PRELU", "MAXIMUM", "ARG_MAX", "MINIMUM", "LESS", "NEG", "PADV2", "GREATER",
    "GREATER_EQUAL", "LESS_EQUAL", "SELECT", "SLICE", "SIN", "TRANSPOSE_CONV",
    "SPARSE_TO_DENSE", "TILE", "EXPAND_DIMS", "EQUAL", "NOT_EQUAL", "LOG", "SUM", "SQRT",
    "RSQRT", "SHAPE", "POW", "ARG_MIN", "FAKE_QUANT", "REDUCE_PROD", "REDUCE_MAX", "PACK",
    "LOGICAL_OR", "ONE_HOT", "LOGICAL_AND", "LOGICAL_NOT", "UNPACK", "REDUCE_MIN",
    "FLOOR_DIV", "REDUCE_ANY", "SQUARE", "ZEROS_LIKE", "FILL", "FLOOR_MOD", "RANGE",
    "RESIZE_NEAREST_NEIGHBOR", "LEAKY_RELU", "SQUARED_DIFFERENCE", "MIRROR_PAD", "ABS",
    "SPLIT_V", "UNIQUE", "CEIL", "REVERSE_V2", "ADD_N", "GATHER_ND", "COS", "WHERE", "RANK",
    "ELU", "REVERSE_SEQUENCE", "MATRIX_DIAG", "QUANTIZE", "MATRIX_SET_DIAG", "ROUND",
    "HARD_SWISH", "IF", "WHILE", "NON_MAX_SUPPRESSION_V4", "NON_MAX_SUPPRESSION_V5",
    "SCATTER_ND", "SELECT_V2", "DENSIFY", "SEGMENT_SUM", "BATCH_MATMUL"
};
/* TFLite's schema numbers its builtins in this order: a wrong count would
 * misname every operator from the slip on. */
_Static_assert(sizeof builtin_names / sizeof builtin_names[0] == 127, "builtin names 0..126");


tl_status tl_tfl_fail(tl_tfl *im, tl_status status, const char *fmt, ...)
{
    if (im->error && im->error_size) {
        size_t used = 0;
        if (im->op_index >= 0) {
            int n = snprintf(im->error, im->error_size, "operator %d (%s): ", im->op_index, im->op_name);
            used = n > 0 ? (size_t)n : 0;
        }
        if (used < im->error_size) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(im->error + used, im->error_size - used, fmt, ap);
            va_end(ap);
        }
    }
    return status;
}

tl_status tl_tfl_malformed(tl_tfl *im, const char *what)
{
    return tl_tfl_fail(im, TL_ERR_FORMAT, "malformed flatbuffer: %s", what);
}


tl_status tl_tfl_read_tensor(tl_tfl *im, int32_t index, tl_tfl_tensor *t)
{
    memset(t, 0, sizeof *t);
    if (index < 0 || (uint32_t)index >= im->tensors.length) {
        return tl_tfl_fail(im, TL_ERR_BOUNDS, "tensor index %d out of range", index);
    }
    const tl_fb *fb = &im->fb;
    tl_fb_table tt, q, buf;
    tl_fb_vec shape, data;
    int has_q = 0;
    if (tl_fb_vector_table(fb, &im->tensors, (uint32_t)index, &tt) != 0 ||
        tl_fb_vector(fb, &tt, 0, 4, &shape) != 0 || tl_fb_u8(fb, &tt, 1, 0, &t->type) != 0 ||
        tl_fb_u32(fb, &tt, 2, 0, &t->buffer) != 0 || tl_fb_string(fb, &tt, 3, t->name, sizeof t->name) != 0 ||
        tl_fb_table_field(fb, &tt, 4, &q, &has_q) != 0 || tl_fb_u8(fb, &tt, 5, 0, &t->variable) != 0) {
        return tl_tfl_malformed(im, "tensor table");
    }
    if (shape.length < 1 || shape.length > TL_MAX_RANK) {
        return tl_tfl_fail(im, TL_ERR_UNSUPPORTED, "tensor %d '%s' has rank %u; supported ranks are 1 to 4",
                    index, t->name, shape.length);
    }
    t->rank = shape.length;
    for (uint32_t i = 0; i < TL_MAX_RANK; ++i) {
        int32_t d = i < shape.length ? tl_fb_vec_i32(fb, &shape, i) : 1;
        if (d < 1 || (uint32_t)d > TL_MAX_DIM) {
            return tl_tfl_fail(im, TL_ERR_SHAPE, "tensor %d '%s' has dimension %d out of range", index, t->name, d);
        }
        t->dims[i] = (uint32_t)d;
    }
    if (has_q) {
        if (tl_fb_vector(fb, &q, 2, 4, &t->scales) != 0 || tl_fb_vector(fb, &q, 3, 8, &t->zero_points) != 0) {
            return tl_tfl_malformed(im, "quantization table");
        }
        for (uint32_t i = 0; i < t->scales.length; ++i) {
            const float sc = tl_fb_vec_f32(fb, &t->scales, i);
            if (!(sc > 0.0f) || !isfinite(sc)) {
                return tl_tfl_fail(im, TL_ERR_QUANT, "tensor %d '%s' has scale %g; scales must be positive and finite",
                            index, t->name, (double)sc);
            }
        }
        if (t->scales.length) {
            t->scale = tl_fb_vec_f32(fb, &t->scales, 0);
        }
        if (t->zero_points.length) {
            int64_t zp = tl_fb_vec_i64(fb, &t->zero_points, 0);
            const int wide = t->type == TFL_INT16 || t->type == TFL_INT32;
            if (zp < (wide ? -32768 : -128) || zp > (wide ? 32767 : 127)) {
                return tl_tfl_fail(im, TL_ERR_QUANT, "tensor %d '%s' zero point %lld is outside %s",
                            index, t->name, (long long)zp, wide ? "int16" : "int8");
            }
            t->zero_point = (int32_t)zp;
        }
    }
    if (t->buffer >= im->buffers.length) {
        return tl_tfl_fail(im, TL_ERR_BOUNDS, "tensor %d '%s' refers to missing buffer %u", index, t->name, t->buffer);
    }
    if (tl_fb_vector_table(fb, &im->buffers, t->buffer, &buf) != 0 || tl_fb_vector(fb, &buf, 0, 1, &data) != 0) {
        return tl_tfl_malformed(im, "buffer table");
    }
    if (data.length) {
        t->data = fb->buf + data.start;
        t->data_size = data.length;
    } else {
        uint32_t ext_offset = 0;
        if (tl_fb_u32(fb, &buf, 1, 0, &ext_offset) != 0) {
            return tl_tfl_malformed(im, "buffer table");
        }
        if (ext_offset) {
            return tl_tfl_fail(im, TL_ERR_UNSUPPORTED, "tensor %d '%s' keeps its data outside the flatbuffer",
                        index, t->name);
        }
    }
    return TL_OK;
}

uint64_t tl_tfl_elements(const tl_tfl_tensor *t)
{
    return (uint64_t)t->dims[0] * t->dims[1] * t->dims[2] * t->dims[3];
}

const char *tl_tfl_type_name(uint8_t type)
{
    static const char *const names[] = { "float32", "float16", "int32", "uint8", "int64", "string", "bool", "int16",
                                         "complex64", "int8", "float64", "complex128", "uint64", "resource",
                                         "variant", "uint32", "uint16", "int4" };
    return type < sizeof names / sizeof names[0] ? names[type] : "?";
}

/* Our dtype of a TFLite activation type, 0 if we have none. */
static uint8_t activation_dtype(uint8_t type)
{
    switch (type) {
    case TFL_INT8: return TL_DTYPE_INT8;
    case TFL_INT16: return TL_DTYPE_INT16;
    case TFL_INT32: return TL_DTYPE_INT32;
    case TFL_FLOAT32: return TL_DTYPE_FLOAT32;
    default: return 0;
    }
}

static const char *dtype_label(uint8_t dtype)
{
    switch (dtype) {
    case TL_DTYPE_INT16: return "int16";
    case TL_DTYPE_INT32: return "int32";
    case TL_DTYPE_FLOAT32: return "float32";
    default: return "int8";
    }
}

/* The activation types an operator's import takes (beyond int8, it checks
 * the combinations itself); `inspect` reads them too. */
enum { T8 = 1, T16 = 2, T32 = 4, TF = 8 };

static uint8_t type_bit(uint8_t dtype)
{
    switch (dtype) {
    case TL_DTYPE_INT8: return T8;
    case TL_DTYPE_INT16: return T16;
    case TL_DTYPE_INT32: return T32;
    case TL_DTYPE_FLOAT32: return TF;
    default: return 0;
    }
}

/* Why the operator cannot take this tensor's type, and what to do. */
static tl_status refuse_type(tl_tfl *im, int32_t index, const char *name, uint8_t dtype)
{
    if (dtype == TL_DTYPE_FLOAT32) {
        return tl_tfl_fail(im, TL_ERR_UNSUPPORTED, "tensor %d '%s' is float32: a float model; quantise it at import "
                           "with --calibrate FILE.npy|DIR (samples of the model's input)", index, name);
    }
    return tl_tfl_fail(im, TL_ERR_UNSUPPORTED, "tensor %d '%s' has type %s; tinylarge runs this operator on %s "
                       "tensors", index, name, dtype_label(dtype), im->takes & T16 ? "int8 and int16" : "int8");
}

/* The graph index of a TFLite activation tensor, adding it on first use.
 * A type the operator being imported does not take (im->takes) is
 * refused with a message that names it. */
static tl_status activation(tl_tfl *im, int32_t index, uint16_t *out)
{
    if (index >= 0 && (uint32_t)index < im->tensors.length && im->map[index] >= 0) {
        const tl_tensor_rec *r = &im->g->tensors[im->map[index]].rec;
        if (im->takes && !(im->takes & type_bit(r->dtype))) {
            return refuse_type(im, index, im->g->tensors[im->map[index]].name, r->dtype);
        }
        *out = (uint16_t)im->map[index];
        return TL_OK;
    }
    tl_tfl_tensor t;
    tl_status s = tl_tfl_read_tensor(im, index, &t);
    if (s != TL_OK) {
        return s;
    }
    const uint8_t dtype = activation_dtype(t.type);
    if (!dtype) {
        return tl_tfl_fail(im, TL_ERR_UNSUPPORTED, "tensor %d '%s' has type %s; tinylarge runs int8, int16, int32 and "
                           "float32 tensors", index, t.name, tl_tfl_type_name(t.type));
    }
    if (im->takes && !(im->takes & type_bit(dtype))) {
        return refuse_type(im, index, t.name, dtype);
    }
    if (t.data) {
        return tl_tfl_fail(im, TL_ERR_UNSUPPORTED, "tensor %d '%s' is a constant where an activation was expected",
                    index, t.name);
    }
    if (t.scales.length > 1) {
        return tl_tfl_fail(im, TL_ERR_QUANT, "activation tensor %d '%s' is quantised per channel", index, t.name);
    }
    tl_tensor_rec rec;
    memset(&rec, 0, sizeof rec);
    rec.dtype = dtype;
    rec.rank = (uint8_t)t.rank;
    rec.kind = t.variable ? TL_TENSOR_STATE : TL_TENSOR_ACTIVATION;
    rec.quant = t.scales.length ? TL_QUANT_PER_TENSOR : TL_QUANT_NONE;
    memcpy(rec.dims, t.dims, sizeof rec.dims);
    if (tl_tfl_elements(&t) > 0x3FFFFFFFu) {
        return tl_tfl_fail(im, TL_ERR_SHAPE, "tensor %d '%s' is too large", index, t.name);
    }
    rec.data_size = (uint32_t)tl_tfl_elements(&t) * tl_dtype_bytes(dtype);
    rec.zero_point = t.zero_point;
    rec.scale = t.scale;
    int32_t gi = tl_graph_add_tensor(im->g, t.name, &rec, NULL, NULL, 0);
    if (gi < 0) {
        return tl_tfl_fail(im, TL_ERR_NOMEM, "out of memory");
    }
    im->map[index] = gi;
    *out = (uint16_t)gi;
    return TL_OK;
}

/* Maps TFLite's fused activation onto ours and sets the output clamp. */
static tl_status fused_activation(tl_tfl *im, uint8_t act, const tl_tfl_tensor *out, tl_op_rec *rec)
{
    switch (act) {
    case TFL_ACT_NONE: rec->activation = TL_ACT_NONE; break;
    case TFL_ACT_RELU: rec->activation = TL_ACT_RELU; break;
    case TFL_ACT_RELU6: rec->activation = TL_ACT_RELU6; break;
    case TFL_ACT_RELU_N1_TO_1: rec->activation = TL_ACT_RELU_N1_TO_1; break;
    default:
        return tl_tfl_fail(im, TL_ERR_UNSUPPORTED, "fused activation %u is not supported", act);
    }
    tl_activation_range(rec->activation, out->scale, out->zero_point, &rec->act_min, &rec->act_max);
    return TL_OK;
}

/* TFLite's ComputePaddingWithOffset, plus a check that the output size is
 * the one the padding scheme implies. */
static tl_status padding(tl_tfl *im, uint8_t scheme, uint32_t in, uint32_t k, uint32_t stride,
                         uint32_t dilation, uint32_t out, int16_t *pad)
{
    const int64_t eff = (int64_t)(k - 1) * dilation + 1;
    int64_t expect;
    if (scheme == TFL_PAD_SAME) {
        expect = ((int64_t)in + stride - 1) / stride;
    } else if (scheme == TFL_PAD_VALID) {
        expect = ((int64_t)in + stride - eff) / stride;
    } else {
        return tl_tfl_fail(im, TL_ERR_UNSUPPORTED, "padding scheme %u is not supported", scheme);
    }
    if (expect != out) {
        return tl_tfl_fail(im, TL_ERR_SHAPE, "output size %u does not match input %u, filter %u, stride %u",
                    out, in, k, stride);
    }
    int64_t total = (int64_t)(out - 1) * stride + eff - in;
    *pad = (int16_t)(scheme == TFL_PAD_SAME && total > 0 ? total / 2 : 0);
    return TL_OK;
}

static tl_status filter_tensor(tl_tfl *im, int32_t index, uint32_t out_channels, tl_tfl_tensor *f,
                               uint16_t *graph_index)
{
    tl_status s = tl_tfl_read_tensor(im, index, f);
    if (s != TL_OK) {
        return s;
    }
    if (f->type != TFL_INT8 || !f->data) {
        return tl_tfl_fail(im, TL_ERR_UNSUPPORTED, "filter tensor %d '%s' must be a constant int8 tensor", index, f->name);
    }
    if (f->data_size != tl_tfl_elements(f)) {
        return tl_tfl_fail(im, TL_ERR_FORMAT, "filter tensor %d '%s' holds %u bytes for %llu elements", index,
                    f->name, f->data_size, (unsigned long long)tl_tfl_elements(f));
    }
    if (f->scales.length != 1 && f->scales.length != out_channels) {
        return tl_tfl_fail(im, TL_ERR_QUANT, "filter tensor %d '%s' has %u scales for %u output channels",
                    index, f->name, f->scales.length, out_channels);
    }
    for (uint32_t c = 0; c < f->zero_points.length; ++c) {
        if (tl_fb_vec_i64(&im->fb, &f->zero_points, c) != 0) {
            return tl_tfl_fail(im, TL_ERR_QUANT, "filter tensor %d '%s' has a non-zero zero point", index, f->name);
        }
    }
    float *scales = malloc(f->scales.length * sizeof *scales);
    if (!scales) {
        return tl_tfl_fail(im, TL_ERR_NOMEM, "out of memory");
    }
    for (uint32_t c = 0; c < f->scales.length; ++c) {
        scales[c] = tl_fb_vec_f32(&im->fb, &f->scales, c);
    }
    tl_tensor_rec rec;
    memset(&rec, 0, sizeof rec);
    rec.dtype = TL_DTYPE_INT8;
    rec.rank = (uint8_t)f->rank;
    rec.kind = TL_TENSOR_CONST;
    rec.quant = f->scales.length > 1 ? TL_QUANT_PER_CHANNEL : TL_QUANT_PER_TENSOR;
    memcpy(rec.dims, f->dims, sizeof rec.dims);
    rec.data_size = f->data_size;
    rec.scale = f->scale;
    int32_t gi = tl_graph_add_tensor(im->g, f->name, &rec, f->data, scales,
                                     f->scales.length > 1 ? f->scales.length : 0);
    free(scales);
    if (gi < 0) {
        return tl_tfl_fail(im, TL_ERR_NOMEM, "out of memory");
    }
    *graph_index = (uint16_t)gi;
    return TL_OK;
}

/* Requantisation and effective bias for CONV_2D / DEPTHWISE / FULLY_CONNECTED,
 * then the op itself. */
/* A constant bias vector as a graph tensor (int32 or int64), for the
 * operators that keep theirs apart from the requantisation (16x8
 * convolutions, TRANSPOSE_CONV). */
static tl_status bias_tensor(tl_tfl *im, int32_t index, uint8_t want_type, uint32_t count, uint16_t *graph_index)
{
    tl_tfl_tensor b;
    tl_status s = tl_tfl_read_tensor(im, index, &b);
    if (s != TL_OK) {
        return s;
    }
    const uint32_t bytes = want_type == TFL_INT64 ? 8u : 4u;
    if (!b.data || b.type != want_type || b.data_size != bytes * count) {
        return tl_tfl_fail(im, TL_ERR_FORMAT, "bias tensor %d '%s' must be a constant %s vector of %u values", index,
                           b.name, tl_tfl_type_name(want_type), count);
    }
    tl_tensor_rec t;
    memset(&t, 0, sizeof t);
    t.dtype = want_type == TFL_INT64 ? TL_DTYPE_INT64 : TL_DTYPE_INT32;
    t.rank = 1;
    t.kind = TL_TENSOR_CONST;
    t.dims[0] = count;
    t.dims[1] = t.dims[2] = t.dims[3] = 1;
    t.data_size = b.data_size;
    const int32_t gi = tl_graph_add_tensor(im->g, b.name, &t, b.data, NULL, 0);
    if (gi < 0) {
        return tl_tfl_fail(im, TL_ERR_NOMEM, "out of memory");
    }
    *graph_index = (uint16_t)gi;
    return TL_OK;
}

/* The 16x8 form (int16 activations, int8 weights): TFLite's per-channel
 * multipliers, no zero points, the bias an int64 (or int32) tensor. */
static tl_status add_conv16_op(tl_tfl *im, const tl_tfl_tensor *in, const tl_tfl_tensor *f, int32_t bias_index,
                               const tl_tfl_tensor *out, uint32_t out_c, tl_op_rec *rec)
{
    if (out->type != TFL_INT16 || in->zero_point != 0 || out->zero_point != 0) {
        return tl_tfl_fail(im, TL_ERR_QUANT, "16x8 needs an int16 output and zero points of 0");
    }
    int32_t *requant = malloc(2u * out_c * sizeof *requant), *unused = malloc(out_c * sizeof *unused);
    float *scales = malloc(f->scales.length * sizeof *scales);
    tl_status s = requant && unused && scales ? TL_OK : tl_tfl_fail(im, TL_ERR_NOMEM, "out of memory");
    for (uint32_t c = 0; s == TL_OK && c < f->scales.length; ++c) {
        scales[c] = tl_fb_vec_f32(&im->fb, &f->scales, c);
    }
    uint32_t bad = 0;
    if (s == TL_OK && tl_conv_constants(rec->opcode, in->scale, 0, (const int8_t *)f->data, tl_tfl_elements(f), scales,
                                        f->scales.length, NULL, out->scale, out_c, requant, unused, &bad) != TL_OK) {
        s = tl_tfl_fail(im, TL_ERR_QUANT, "channel %u: requantisation scale out of the device's range", bad);
    }
    if (s == TL_OK && bias_index >= 0) {
        tl_tfl_tensor b;
        if ((s = tl_tfl_read_tensor(im, bias_index, &b)) == TL_OK) {
            rec->p[TL_CONV16_ACC32] = b.type == TFL_INT32; /* TFLite takes either for 16x8 */
            s = bias_tensor(im, bias_index, b.type == TFL_INT32 ? TFL_INT32 : TFL_INT64, out_c, &rec->inputs[2]);
            rec->input_count = 3;
        }
    }
    for (uint32_t c = 0; s == TL_OK && c < out_c; ++c) {
        if (requant[out_c + c] > (rec->p[TL_CONV16_ACC32] ? 30 : 7)) {
            s = tl_tfl_fail(im, TL_ERR_QUANT, "channel %u: a multiplier above 2^7 is out of 16x8's range", c);
        }
    }
    if (s == TL_OK) {
        tl_activation_range16(rec->activation, out->scale, &rec->act_min, &rec->act_max);
        if (tl_graph_add_op(im->g, rec, requant, NULL, out_c) < 0) {
            s = tl_tfl_fail(im, TL_ERR_NOMEM, "out of memory");
        }
    }
    free(requant);
    free(unused);
    free(scales);
    return s;
}

static tl_status add_conv_op(tl_tfl *im, const tl_tfl_tensor *in, const tl_tfl_tensor *f,
                             int32_t bias_index, const tl_tfl_tensor *out, uint32_t out_c, tl_op_rec *rec)
{
    if (in->type == TFL_INT16) {
        return add_conv16_op(im, in, f, bias_index, out, out_c, rec);
    }
    if (out->type != TFL_INT8) {
        return tl_tfl_fail(im, TL_ERR_UNSUPPORTED, "an int8 input with an output of another type is not supported");
    }
    int32_t *requant = malloc(2u * out_c * sizeof *requant);
    int32_t *bias = calloc(out_c, sizeof *bias);
    float *scales = malloc(f->scales.length * sizeof *scales);
    if (!requant || !bias || !scales) {
        free(requant);
        free(bias);
        free(scales);
        return tl_tfl_fail(im, TL_ERR_NOMEM, "out of memory");
    }
    tl_status s = TL_OK;
    tl_tfl_tensor b;
    if (bias_index >= 0) {
        s = tl_tfl_read_tensor(im, bias_index, &b);
        if (s == TL_OK && (b.type != TFL_INT32 || !b.data || b.data_size != 4u * out_c)) {
            s = tl_tfl_fail(im, TL_ERR_FORMAT, "bias tensor %d '%s' must be a constant int32 vector of %u values",
                     bias_index, b.name, out_c);
        }
        if (s == TL_OK) {
            memcpy(bias, b.data, 4u * out_c);
        }
    }
    for (uint32_t c = 0; c < f->scales.length; ++c) {
        scales[c] = tl_fb_vec_f32(&im->fb, &f->scales, c);
    }
    uint32_t bad = 0;
    if (s == TL_OK) {
        s = tl_conv_constants(rec->opcode, in->scale, in->zero_point, (const int8_t *)f->data,
                              tl_tfl_elements(f), scales, f->scales.length, bias, out->scale, out_c,
                              requant, bias, &bad);
        if (s != TL_OK) {
            s = tl_tfl_fail(im, s, "channel %u: requantisation scale or bias out of the device's range", bad);
        }
    }
    if (s == TL_OK) {
        rec->input_offset = -in->zero_point;
        rec->output_offset = out->zero_point;
        if (tl_graph_add_op(im->g, rec, requant, bias, out_c) < 0) {
            s = tl_tfl_fail(im, TL_ERR_NOMEM, "out of memory");
        }
    }
    free(requant);
    free(bias);
    free(scales);
    return s;
}

/* What every operator's import step gets: the operator's tables, its
 * first input and output (read, and added to the graph as activations),
 * a record with the defaults filled in, and room for the options the
 * convolution-like operators share. */
typedef struct op_args {
    int32_t builtin;
    tl_fb_vec ins, outs;
    tl_fb_table opt;
    int has_opt;
    int32_t in_index, out_index;
    tl_tfl_tensor in, out;
    tl_op_rec rec;
    uint8_t act, pad_scheme;
    int32_t stride_w, stride_h, dil_w, dil_h;
} op_args;

static tl_status add_op(tl_tfl *im, const tl_op_rec *rec)
{
    if (tl_graph_add_op(im->g, rec, NULL, NULL, 0) < 0) {
        return tl_tfl_fail(im, TL_ERR_NOMEM, "out of memory");
    }
    return TL_OK;
}

/* CONV_2D, DEPTHWISE_CONV_2D */
static tl_status import_conv(tl_tfl *im, op_args *a)
{
    const tl_fb *fb = &im->fb;
    tl_status s;
    const int dw = a->builtin == TFL_DEPTHWISE_CONV_2D;
    int32_t depth_mult = 1;
    if (!a->has_opt || tl_fb_u8(fb, &a->opt, 0, 0, &a->pad_scheme) != 0 ||
        tl_fb_i32(fb, &a->opt, 1, 0, &a->stride_w) != 0 || tl_fb_i32(fb, &a->opt, 2, 0, &a->stride_h) != 0 ||
        (dw && tl_fb_i32(fb, &a->opt, 3, 1, &depth_mult) != 0) ||
        tl_fb_u8(fb, &a->opt, dw ? 4 : 3, 0, &a->act) != 0 ||
        tl_fb_i32(fb, &a->opt, dw ? 5 : 4, 1, &a->dil_w) != 0 ||
        tl_fb_i32(fb, &a->opt, dw ? 6 : 5, 1, &a->dil_h) != 0) {
        return tl_tfl_malformed(im, "convolution options");
    }
    if (a->ins.length < 2 || a->in.rank != 4 || a->out.rank != 4 || a->in.dims[0] != a->out.dims[0]) {
        return tl_tfl_fail(im, TL_ERR_SHAPE, "expects a 4-D input and output of one batch size, and a filter");
    }
    if (a->stride_w < 1 || a->stride_h < 1 || a->stride_w > 255 || a->stride_h > 255 || a->dil_w < 1 ||
        a->dil_h < 1 || a->dil_w > 255 || a->dil_h > 255) {
        return tl_tfl_fail(im, TL_ERR_UNSUPPORTED, "stride %dx%d / dilation %dx%d out of range",
                    a->stride_h, a->stride_w, a->dil_h, a->dil_w);
    }
    tl_tfl_tensor f;
    const uint32_t out_c = a->out.dims[3];
    if ((s = filter_tensor(im, tl_fb_vec_i32(fb, &a->ins, 1), out_c, &f, &a->rec.inputs[1])) != TL_OK) {
        return s;
    }
    if (dw ? (f.dims[0] != 1 || f.dims[3] != out_c || out_c % a->in.dims[3] != 0)
           : (f.dims[0] != out_c || f.dims[3] != a->in.dims[3])) {
        return tl_tfl_fail(im, TL_ERR_SHAPE, "filter shape does not match input and output channels");
    }
    if (dw) {
        a->rec.depth_multiplier = (uint8_t)(out_c / a->in.dims[3]);
        if (out_c / a->in.dims[3] > 255) {
            return tl_tfl_fail(im, TL_ERR_UNSUPPORTED, "depth multiplier above 255");
        }
    }
    a->rec.opcode = dw ? TL_OP_DEPTHWISE_CONV_2D : TL_OP_CONV_2D;
    a->rec.input_count = 2;
    a->rec.stride_h = (uint8_t)a->stride_h;
    a->rec.stride_w = (uint8_t)a->stride_w;
    a->rec.dilation_h = (uint8_t)a->dil_h;
    a->rec.dilation_w = (uint8_t)a->dil_w;
    if ((s = padding(im, a->pad_scheme, a->in.dims[1], f.dims[1], a->stride_h, a->dil_h, a->out.dims[1], &a->rec.pad_top)) != TL_OK ||
        (s = padding(im, a->pad_scheme, a->in.dims[2], f.dims[2], a->stride_w, a->dil_w, a->out.dims[2], &a->rec.pad_left)) != TL_OK ||
        (s = fused_activation(im, a->act, &a->out, &a->rec)) != TL_OK) {
        return s;
    }
    return add_conv_op(im, &a->in, &f, a->ins.length > 2 ? tl_fb_vec_i32(fb, &a->ins, 2) : -1, &a->out, out_c, &a->rec);
}

/* FULLY_CONNECTED */
static tl_status import_fully_connected(tl_tfl *im, op_args *a)
{
    const tl_fb *fb = &im->fb;
    tl_status s;
    uint8_t weights_format = 0;
    if (a->has_opt && (tl_fb_u8(fb, &a->opt, 0, 0, &a->act) != 0 || tl_fb_u8(fb, &a->opt, 1, 0, &weights_format) != 0)) {
        return tl_tfl_malformed(im, "fully-connected options");
    }
    if (weights_format != 0) {
        return tl_tfl_fail(im, TL_ERR_UNSUPPORTED, "shuffled weights format %u", weights_format);
    }
    if (a->ins.length < 2) {
        return tl_tfl_fail(im, TL_ERR_SHAPE, "expects an input and a filter");
    }
    tl_tfl_tensor f;
    tl_tfl_tensor probe;
    if ((s = tl_tfl_read_tensor(im, tl_fb_vec_i32(fb, &a->ins, 1), &probe)) != TL_OK) {
        return s;
    }
    const uint32_t out_c = probe.dims[0];
    if ((s = filter_tensor(im, tl_fb_vec_i32(fb, &a->ins, 1), out_c, &f, &a->rec.inputs[1])) != TL_OK) {
        return s;
    }
    if (f.rank != 2 || tl_tfl_elements(&a->in) % f.dims[1] != 0 ||
        tl_tfl_elements(&a->out) != tl_tfl_elements(&a->in) / f.dims[1] * out_c) {
        return tl_tfl_fail(im, TL_ERR_SHAPE, "filter [%u, %u] does not match input and output sizes",
                    f.dims[0], f.dims[1]);
    }
    a->rec.opcode = TL_OP_FULLY_CONNECTED;
    a->rec.input_count = 2;
    if ((s = fused_activation(im, a->act, &a->out, &a->rec)) != TL_OK) {
        return s;
    }
    return add_conv_op(im, &a->in, &f, a->ins.length > 2 ? tl_fb_vec_i32(fb, &a->ins, 2) : -1, &a->out, out_c, &a->rec);
}

/* AVERAGE_POOL_2D, MAX_POOL_2D */
static tl_status import_pool(tl_tfl *im, op_args *a)
{
    const tl_fb *fb = &im->fb;
    tl_status s;
    int32_t fw = 0, fh = 0;
    if (!a->has_opt || tl_fb_u8(fb, &a->opt, 0, 0, &a->pad_scheme) != 0 ||
        tl_fb_i32(fb, &a->opt, 1, 0, &a->stride_w) != 0 || tl_fb_i32(fb, &a->opt, 2, 0, &a->stride_h) != 0 ||
        tl_fb_i32(fb, &a->opt, 3, 0, &fw) != 0 || tl_fb_i32(fb, &a->opt, 4, 0, &fh) != 0 ||
        tl_fb_u8(fb, &a->opt, 5, 0, &a->act) != 0) {
        return tl_tfl_malformed(im, "pooling options");
    }
    if (a->in.rank != 4 || a->out.rank != 4 || a->in.dims[3] != a->out.dims[3] || a->in.dims[0] != a->out.dims[0]) {
        return tl_tfl_fail(im, TL_ERR_SHAPE, "expects 4-D input and output with equal batch and channels");
    }
    if (fw < 1 || fh < 1 || fw > 255 || fh > 255 || a->stride_w < 1 || a->stride_h < 1 ||
        a->stride_w > 255 || a->stride_h > 255) {
        return tl_tfl_fail(im, TL_ERR_UNSUPPORTED, "window %dx%d / stride %dx%d out of range", fh, fw,
                    a->stride_h, a->stride_w);
    }
    if (a->in.zero_point != a->out.zero_point || a->in.scale != a->out.scale) {
        return tl_tfl_fail(im, TL_ERR_QUANT, "input and output quantisation differ");
    }
    a->rec.opcode = a->builtin == TFL_AVERAGE_POOL_2D ? TL_OP_AVERAGE_POOL_2D : TL_OP_MAX_POOL_2D;
    a->rec.filter_h = (uint8_t)fh;
    a->rec.filter_w = (uint8_t)fw;
    a->rec.stride_h = (uint8_t)a->stride_h;
    a->rec.stride_w = (uint8_t)a->stride_w;
    if ((s = padding(im, a->pad_scheme, a->in.dims[1], (uint32_t)fh, (uint32_t)a->stride_h, 1, a->out.dims[1], &a->rec.pad_top)) != TL_OK ||
        (s = padding(im, a->pad_scheme, a->in.dims[2], (uint32_t)fw, (uint32_t)a->stride_w, 1, a->out.dims[2], &a->rec.pad_left)) != TL_OK ||
        (s = fused_activation(im, a->act, &a->out, &a->rec)) != TL_OK) {
        return s;
    }
    if (a->in.type == TFL_INT16) {
        if (a->in.zero_point != 0) {
            return tl_tfl_fail(im, TL_ERR_QUANT, "int16 needs a zero point of 0");
        }
        tl_activation_range16(a->rec.activation, a->out.scale, &a->rec.act_min, &a->rec.act_max);
    }
    return add_op(im, &a->rec);
}

/* ADD */
/* An operand that may be a constant (int8 or int16, per tensor): as a
 * constant graph tensor, else as an activation. */
static tl_status operand(tl_tfl *im, int32_t index, uint16_t *graph_index)
{
    tl_tfl_tensor t;
    tl_status s = tl_tfl_read_tensor(im, index, &t);
    if (s != TL_OK || !t.data) {
        return s != TL_OK ? s : activation(im, index, graph_index);
    }
    const uint32_t bytes = t.type == TFL_INT16 ? 2u : 1u;
    if ((t.type != TFL_INT8 && t.type != TFL_INT16) || t.data_size != bytes * tl_tfl_elements(&t) || t.scales.length > 1) {
        return tl_tfl_fail(im, TL_ERR_UNSUPPORTED, "constant operand %d '%s' must be int8 or int16, quantised per tensor",
                           index, t.name);
    }
    tl_tensor_rec rec;
    memset(&rec, 0, sizeof rec);
    rec.dtype = bytes == 2 ? TL_DTYPE_INT16 : TL_DTYPE_INT8;
    rec.rank = (uint8_t)t.rank;
    rec.kind = TL_TENSOR_CONST;
    rec.quant = TL_QUANT_PER_TENSOR;
    memcpy(rec.dims, t.dims, sizeof rec.dims);
    rec.data_size = t.data_size;
    rec.zero_point = t.zero_point;
    rec.scale = t.scale;
    const int32_t gi = tl_graph_add_tensor(im->g, t.name, &rec, t.data, NULL, 0);
    if (gi < 0) {
        return tl_tfl_fail(im, TL_ERR_NOMEM, "out of memory");
    }
    *graph_index = (uint16_t)gi;
    return TL_OK;
}

/* ADD, SUB and MUL: int8, or int16 with zero points of 0; shapes that
 * broadcast (TFLite's rules, up to 4-D); a fused activation's clamp. */
static tl_status import_binary(tl_tfl *im, op_args *a)
{
    const tl_fb *fb = &im->fb;
    tl_status s;
    if (a->has_opt && tl_fb_u8(fb, &a->opt, 0, 0, &a->act) != 0) {
        return tl_tfl_malformed(im, "arithmetic options");
    }
    if (a->ins.length != 2) {
        return tl_tfl_fail(im, TL_ERR_SHAPE, "expects two inputs");
    }
    tl_tfl_tensor in2;
    const int32_t in2_index = tl_fb_vec_i32(fb, &a->ins, 1);
    if ((s = tl_tfl_read_tensor(im, in2_index, &in2)) != TL_OK) {
        return s;
    }
    const int wide = a->out.type == TFL_INT16;
    if (a->in.type != a->out.type || in2.type != a->out.type) {
        return tl_tfl_fail(im, TL_ERR_UNSUPPORTED, "inputs and output must share one type");
    }
    if (wide && (a->in.zero_point || in2.zero_point || a->out.zero_point)) {
        return tl_tfl_fail(im, TL_ERR_QUANT, "int16 operands need zero points of 0");
    }
    if (a->in.rank > 4 || in2.rank > 4 || a->out.rank > 4) {
        return tl_tfl_fail(im, TL_ERR_UNSUPPORTED, "broadcasting over more than 4 dimensions");
    }
    /* From the last dimension, over the largest rank: an input of higher
     * rank than the output must be 1 in the dimensions the output lacks. */
    const uint32_t rank = a->out.rank > a->in.rank ? (a->out.rank > in2.rank ? a->out.rank : in2.rank)
                                                   : (a->in.rank > in2.rank ? a->in.rank : in2.rank);
    for (uint32_t k = 1; k <= rank; ++k) {
        const uint32_t o = k <= a->out.rank ? a->out.dims[a->out.rank - k] : 1;
        const uint32_t d1 = k <= a->in.rank ? a->in.dims[a->in.rank - k] : 1, d2 = k <= in2.rank ? in2.dims[in2.rank - k] : 1;
        if ((d1 != 1 && d1 != o) || (d2 != 1 && d2 != o)) {
            return tl_tfl_fail(im, TL_ERR_SHAPE, "input shapes do not broadcast to the output's");
        }
    }
    if ((s = operand(im, in2_index, &a->rec.inputs[1])) != TL_OK ||
        (s = fused_activation(im, a->act, &a->out, &a->rec)) != TL_OK) {
        return s;
    }
    if (wide) {
        tl_activation_range16(a->rec.activation, a->out.scale, &a->rec.act_min, &a->rec.act_max);
    }
    a->rec.input_count = 2;
    if (a->builtin == TFL_MUL) {
        a->rec.opcode = TL_OP_MUL;
        a->rec.input_offset = -a->in.zero_point;
        a->rec.output_offset = a->out.zero_point;
        a->rec.p[TL_MUL_INPUT2_OFFSET] = -in2.zero_point;
        tl_quantize_multiplier((double)a->in.scale * (double)in2.scale / (double)a->out.scale, &a->rec.p[TL_MUL_MULT],
                               &a->rec.p[TL_MUL_SHIFT]);
        if (a->rec.p[TL_MUL_SHIFT] > 30) {
            return tl_tfl_fail(im, TL_ERR_QUANT, "output scale too small for the input scales");
        }
        return add_op(im, &a->rec);
    }
    a->rec.opcode = a->builtin == TFL_SUB ? TL_OP_SUB : TL_OP_ADD;
    if (tl_add_constants_shifted(a->in.scale, a->in.zero_point, in2.scale, in2.zero_point, a->out.scale,
                                 a->out.zero_point, wide ? 15 : 20, &a->rec) != TL_OK) {
        return tl_tfl_fail(im, TL_ERR_QUANT, "output scale too small for the input scales");
    }
    return add_op(im, &a->rec);
}

/* RESHAPE */
static tl_status import_reshape(tl_tfl *im, op_args *a)
{
    if (tl_tfl_elements(&a->in) != tl_tfl_elements(&a->out)) {
        return tl_tfl_fail(im, TL_ERR_SHAPE, "input and output sizes differ");
    }
    if (a->in.type != a->out.type) {
        return tl_tfl_fail(im, TL_ERR_QUANT, "input and output types differ");
    }
    a->rec.opcode = TL_OP_RESHAPE; /* the optional shape input is implied by the output */
    return add_op(im, &a->rec);
}

/* Data movement keeps the numbers: both sides quantised alike. */
static int same_quant(const tl_tfl_tensor *a, const tl_tfl_tensor *b)
{
    return a->type == b->type && a->zero_point == b->zero_point && fabsf(a->scale - b->scale) <= 1e-6f * b->scale;
}

/* TRANSPOSE, PAD, PADV2 */
static tl_status import_transpose_pad(tl_tfl *im, op_args *a)
{
    const tl_fb *fb = &im->fb;
    tl_status s = TL_OK;
    /* Data movement only: no rescaling, so input and output share their quantisation. */
    if (!same_quant(&a->in, &a->out) || a->in.rank != a->out.rank) {
        return tl_tfl_fail(im, TL_ERR_QUANT, "input and output must share rank, scale and zero point");
    }
    tl_tfl_tensor arg;
    const uint32_t want = a->builtin == TFL_TRANSPOSE ? a->in.rank : 2 * a->in.rank;
    if (a->ins.length < 2 || (s = tl_tfl_read_tensor(im, tl_fb_vec_i32(fb, &a->ins, 1), &arg)) != TL_OK) {
        return a->ins.length < 2 ? tl_tfl_fail(im, TL_ERR_FORMAT, "needs its second input (%s)",
                                     a->builtin == TFL_TRANSPOSE ? "the permutation" : "the paddings")
                              : s;
    }
    if (arg.type != TFL_INT32 || !arg.data || arg.data_size != 4 * want) {
        return tl_tfl_fail(im, TL_ERR_UNSUPPORTED, "its %s must be a constant int32 tensor of %u values",
                    a->builtin == TFL_TRANSPOSE ? "permutation" : "paddings", want);
    }
    int32_t v[2 * TL_MAX_RANK];
    for (uint32_t i = 0; i < want; ++i) {
        v[i] = (int32_t)((uint32_t)arg.data[4 * i] | (uint32_t)arg.data[4 * i + 1] << 8 |
                         (uint32_t)arg.data[4 * i + 2] << 16 | (uint32_t)arg.data[4 * i + 3] << 24);
    }
    if (a->builtin == TFL_TRANSPOSE) {
        a->rec.opcode = TL_OP_TRANSPOSE;
        uint32_t seen = 0;
        for (uint32_t i = 0; i < TL_MAX_RANK; ++i) {
            const int32_t k = i < a->in.rank ? v[i] : (int32_t)i; /* past the rank: in place */
            if (k < 0 || (uint32_t)k >= (i < a->in.rank ? a->in.rank : TL_MAX_RANK) || (seen & (1u << k))) {
                return tl_tfl_fail(im, TL_ERR_FORMAT, "permutation entry %d is not a dimension of its own", k);
            }
            seen |= 1u << k;
            if (a->out.dims[i] != a->in.dims[k]) {
                return tl_tfl_fail(im, TL_ERR_SHAPE, "permutation and output shape do not agree");
            }
            a->rec.p[TL_TRANSPOSE_PERM + i] = k;
        }
        return add_op(im, &a->rec);
    }
    a->rec.opcode = TL_OP_PAD;
    a->rec.p[TL_PAD_VALUE] = a->out.zero_point; /* PAD: the output's zero point, i.e. the real 0 */
    if (a->builtin == TFL_PADV2 && a->ins.length >= 3 && tl_fb_vec_i32(fb, &a->ins, 2) >= 0) {
        tl_tfl_tensor c;
        if ((s = tl_tfl_read_tensor(im, tl_fb_vec_i32(fb, &a->ins, 2), &c)) != TL_OK) {
            return s;
        }
        const uint32_t bytes = a->out.type == TFL_INT16 ? 2 : 1;
        if (!same_quant(&c, &a->out) || !c.data || c.data_size != bytes) {
            return tl_tfl_fail(im, TL_ERR_UNSUPPORTED, "its constant must be one value typed and quantised as the output");
        }
        a->rec.p[TL_PAD_VALUE] = bytes == 2 ? (int16_t)(c.data[0] | c.data[1] << 8) : (int8_t)c.data[0];
    }
    for (uint32_t i = 0; i < TL_MAX_RANK; ++i) {
        const int32_t before = i < a->in.rank ? v[2 * i] : 0, after = i < a->in.rank ? v[2 * i + 1] : 0;
        if (before < 0 || after < 0 || (int64_t)a->in.dims[i] + before + after != (int64_t)a->out.dims[i]) {
            return tl_tfl_fail(im, TL_ERR_SHAPE, "paddings and output shape do not agree");
        }
        a->rec.p[TL_PAD_BEFORE + i] = before;
        a->rec.p[TL_PAD_AFTER + i] = after;
    }
    return add_op(im, &a->rec);
}

/* SOFTMAX */
static tl_status import_softmax(tl_tfl *im, op_args *a)
{
    const tl_fb *fb = &im->fb;
    float beta = 1.0f;
    if (a->has_opt && tl_fb_f32(fb, &a->opt, 0, 1.0f, &beta) != 0) {
        return tl_tfl_malformed(im, "softmax options");
    }
    if (tl_tfl_elements(&a->in) != tl_tfl_elements(&a->out) || a->in.dims[a->in.rank - 1] != a->out.dims[a->out.rank - 1]) {
        return tl_tfl_fail(im, TL_ERR_SHAPE, "input and output shapes differ");
    }
    if (a->in.type == TFL_INT16) { /* int16 in and out: TFLite Micro's tables and scaling */
        if (a->out.type != TFL_INT16 || a->out.zero_point != 0 ||
            fabsf(a->out.scale - 1.0f / 32768) > 1e-3f * (1.0f / 32768)) {
            return tl_tfl_fail(im, TL_ERR_QUANT, "an int16 softmax's output must be int16 at scale 1/32768, zero point 0");
        }
        a->rec.opcode = TL_OP_SOFTMAX;
        tl_quantize_multiplier((double)a->in.scale * (double)beta / (10.0 / 65535.0), &a->rec.p[TL_SOFTMAX_INPUT_MULT],
                               &a->rec.p[TL_SOFTMAX_INPUT_LEFT_SHIFT]);
        if (a->rec.p[TL_SOFTMAX_INPUT_LEFT_SHIFT] > 14) {
            return tl_tfl_fail(im, TL_ERR_QUANT, "input scale %g gives a softmax multiplier out of range", a->in.scale);
        }
        int16_t luts[2 * 513];
        tl_softmax16_tables(luts, luts + 513);
        const int32_t op = tl_graph_add_op(im->g, &a->rec, NULL, NULL, 0);
        const tl_status s = op < 0 ? TL_ERR_NOMEM : tl_graph_set_op_block(im->g, (uint32_t)op, luts, sizeof luts);
        return s == TL_OK ? TL_OK : tl_tfl_fail(im, s, "out of memory");
    }
    const int out16 = im->g->tensors[a->rec.output].rec.dtype == TL_DTYPE_INT16;
    if (im->g->tensors[a->rec.inputs[0]].rec.dtype != TL_DTYPE_INT8 ||
        (!out16 && im->g->tensors[a->rec.output].rec.dtype != TL_DTYPE_INT8)) {
        return tl_tfl_fail(im, TL_ERR_UNSUPPORTED, "runs on an int8 input with an int8 or int16 output, or int16 in and out");
    }
    if (out16 ? (a->out.zero_point != -32768 || fabsf(a->out.scale - 1.0f / 65536) > 1e-3f * (1.0f / 65536))
              : (a->out.zero_point != -128 || fabsf(a->out.scale - 1.0f / 256) > 1e-6f * (1.0f / 256))) {
        return tl_tfl_fail(im, TL_ERR_QUANT, "the output must have scale 1/256 and zero point -128 (int8) or scale "
                    "1/65536 and zero point -32768 (int16)");
    }
    a->rec.opcode = TL_OP_SOFTMAX;
    if (tl_softmax_constants(beta, a->in.scale, &a->rec) != TL_OK) {
        return tl_tfl_fail(im, TL_ERR_QUANT, "input scale %g gives a softmax multiplier out of range", a->in.scale);
    }
    return add_op(im, &a->rec);
}

/* Input i, a constant int32 vector of 1 to `max` values (an axis list,
 * a permutation, a shape): its values and count. */
static tl_status int32_vector(tl_tfl *im, op_args *a, uint32_t i, const char *what, int32_t *v, uint32_t max,
                              uint32_t *count)
{
    tl_tfl_tensor t;
    tl_status s;
    if (a->ins.length <= i) {
        return tl_tfl_fail(im, TL_ERR_FORMAT, "needs its input %u (%s)", i, what);
    }
    if ((s = tl_tfl_read_tensor(im, tl_fb_vec_i32(&im->fb, &a->ins, i), &t)) != TL_OK) {
        return s;
    }
    if (t.type != TFL_INT32 || !t.data || t.data_size % 4 != 0 || t.data_size / 4 > max || t.data_size == 0) {
        return tl_tfl_fail(im, TL_ERR_UNSUPPORTED, "its %s must be a constant int32 tensor of 1 to %u values", what, max);
    }
    *count = t.data_size / 4;
    for (uint32_t k = 0; k < *count; ++k) {
        v[k] = (int32_t)((uint32_t)t.data[4 * k] | (uint32_t)t.data[4 * k + 1] << 8 |
                         (uint32_t)t.data[4 * k + 2] << 16 | (uint32_t)t.data[4 * k + 3] << 24);
    }
    return TL_OK;
}

/* MEAN over a constant list of axes (negative ones count from the end),
 * with or without keep_dims: the output holds the kept dimensions in order. */
static tl_status import_mean(tl_tfl *im, op_args *a)
{
    int32_t axes[TL_MAX_RANK * 2];
    uint32_t count = 0;
    tl_status s = int32_vector(im, a, 1, "axes", axes, TL_MAX_RANK * 2, &count);
    if (s != TL_OK) {
        return s;
    }
    a->rec.opcode = TL_OP_MEAN;
    uint64_t kept = 1, n = 1;
    for (uint32_t k = 0; k < count; ++k) {
        const int32_t axis = axes[k] < 0 ? axes[k] + (int32_t)a->in.rank : axes[k];
        if (axis < 0 || axis >= (int32_t)a->in.rank) {
            return tl_tfl_fail(im, TL_ERR_FORMAT, "axis %d is not a dimension of the rank-%u input", axes[k], a->in.rank);
        }
        a->rec.p[TL_MEAN_REDUCE + axis] = 1;
    }
    for (uint32_t i = 0; i < TL_MAX_RANK; ++i) {
        kept *= a->rec.p[TL_MEAN_REDUCE + i] ? 1u : a->in.dims[i];
        n *= a->rec.p[TL_MEAN_REDUCE + i] ? a->in.dims[i] : 1u;
    }
    if (kept != tl_tfl_elements(&a->out)) {
        return tl_tfl_fail(im, TL_ERR_SHAPE, "the output does not hold the dimensions left after the mean");
    }
    const int wide = a->in.type == TFL_INT16;
    if (a->out.type != a->in.type) {
        return tl_tfl_fail(im, TL_ERR_UNSUPPORTED, "input and output must share a type");
    }
    if (n > (wide ? (1u << 14) : (1u << 22))) {
        return tl_tfl_fail(im, TL_ERR_UNSUPPORTED, "a mean over %llu values; at most 2^%d are supported",
                    (unsigned long long)n, wide ? 14 : 22);
    }
    if (tl_mean_constants(a->in.scale, a->out.scale, (uint32_t)n, &a->rec.p[TL_MEAN_MULT],
                          &a->rec.p[TL_MEAN_SHIFT]) != TL_OK) {
        return tl_tfl_fail(im, TL_ERR_QUANT, "input and output scales give a multiplier out of range");
    }
    a->rec.input_offset = -a->in.zero_point;
    a->rec.output_offset = a->out.zero_point;
    return add_op(im, &a->rec);
}

/* QUANTIZE (to int8, int16 or int32, from any of them or float32) and
 * DEQUANTIZE (int8 or int16 to float32), per-tensor. */
static tl_status import_quantize(tl_tfl *im, op_args *a)
{
    const tl_tensor_rec *in = &im->g->tensors[a->rec.inputs[0]].rec, *out = &im->g->tensors[a->rec.output].rec;
    const int dequantize = a->builtin == TFL_DEQUANTIZE;
    if (dequantize ? (out->dtype != TL_DTYPE_FLOAT32 || in->dtype == TL_DTYPE_FLOAT32 || in->dtype == TL_DTYPE_INT32)
                   : out->dtype == TL_DTYPE_FLOAT32) {
        return tl_tfl_fail(im, TL_ERR_UNSUPPORTED, "from %s to %s is not supported", dtype_label(in->dtype),
                    dtype_label(out->dtype));
    }
    if (tl_tfl_elements(&a->in) != tl_tfl_elements(&a->out)) {
        return tl_tfl_fail(im, TL_ERR_SHAPE, "input and output sizes differ");
    }
    const tl_tfl_tensor *q = dequantize ? &a->in : &a->out; /* the quantised side */
    if (q->scales.length != 1) {
        return tl_tfl_fail(im, TL_ERR_QUANT, "needs one scale (per-tensor quantisation)");
    }
    a->rec.opcode = dequantize ? TL_OP_DEQUANTIZE : TL_OP_QUANTIZE;
    a->rec.input_offset = -a->in.zero_point;
    a->rec.output_offset = a->out.zero_point;
    if (in->dtype == TL_DTYPE_FLOAT32 || dequantize) {
        const float scale = q->scale;
        memcpy(&a->rec.p[TL_QUANTIZE_SCALE_BITS], &scale, sizeof scale);
    } else {
        if (a->in.scales.length != 1) {
            return tl_tfl_fail(im, TL_ERR_QUANT, "its input needs one scale (per-tensor quantisation)");
        }
        tl_quantize_multiplier((double)a->in.scale / (double)a->out.scale, &a->rec.p[TL_QUANTIZE_MULT],
                               &a->rec.p[TL_QUANTIZE_SHIFT]);
        if (a->rec.p[TL_QUANTIZE_SHIFT] > 30) {
            return tl_tfl_fail(im, TL_ERR_QUANT, "input and output scales give a multiplier out of range");
        }
    }
    return add_op(im, &a->rec);
}

/* A constant tensor of the given type and element count, or a message. */
static tl_status constant_of(tl_tfl *im, op_args *a, uint32_t i, uint8_t type, uint64_t count, const char *what,
                             tl_tfl_tensor *t)
{
    tl_status s;
    if (a->ins.length <= i || tl_fb_vec_i32(&im->fb, &a->ins, i) < 0) {
        return tl_tfl_fail(im, TL_ERR_FORMAT, "needs its input %u (%s)", i, what);
    }
    if ((s = tl_tfl_read_tensor(im, tl_fb_vec_i32(&im->fb, &a->ins, i), t)) != TL_OK) {
        return s;
    }
    const uint32_t bytes = type == TFL_INT8 ? 1 : type == TFL_INT16 ? 2 : 4;
    if (t->type != type || !t->data || t->data_size != count * bytes) {
        return tl_tfl_fail(im, TL_ERR_UNSUPPORTED, "its %s must be a constant %s tensor of %llu values", what,
                    tl_tfl_type_name(type), (unsigned long long)count);
    }
    return TL_OK;
}

/* SVDF, integer: int8 input and output, int8 or int16 state (a variable
 * tensor) and time weights of the state's type; the constants go into the
 * operator's block (format.h, TL_SVDF_*). */
static tl_status import_svdf(tl_tfl *im, op_args *a)
{
    const tl_fb *fb = &im->fb;
    int32_t rank = 0;
    if (!a->has_opt || tl_fb_i32(fb, &a->opt, 0, 0, &rank) != 0 || tl_fb_u8(fb, &a->opt, 1, 0, &a->act) != 0) {
        return tl_tfl_malformed(im, "SVDF options");
    }
    if (a->ins.length != 5) {
        return tl_tfl_fail(im, TL_ERR_FORMAT, "needs 5 inputs (input, feature weights, time weights, bias, state)");
    }
    tl_status s;
    uint16_t state_index;
    if ((s = activation(im, tl_fb_vec_i32(fb, &a->ins, 4), &state_index)) != TL_OK) {
        return s;
    }
    const tl_tensor_rec *in = &im->g->tensors[a->rec.inputs[0]].rec, *out = &im->g->tensors[a->rec.output].rec;
    const tl_tensor_rec *state = &im->g->tensors[state_index].rec;
    if (in->dtype != TL_DTYPE_INT8 || out->dtype != TL_DTYPE_INT8 ||
        (state->dtype != TL_DTYPE_INT8 && state->dtype != TL_DTYPE_INT16) || state->kind != TL_TENSOR_STATE) {
        return tl_tfl_fail(im, TL_ERR_UNSUPPORTED, "runs with an int8 input and output and an int8 or int16 variable state");
    }
    /* A fused activation is not applied: TFLite Micro's integer SVDF only
     * clamps to int8 (the quantiser puts a RELU's floor at the output's
     * zero point). */
    if (a->in.rank != 2 || a->out.rank != 2 || rank < 1 || a->out.dims[1] * (uint64_t)rank > TL_MAX_DIM) {
        return tl_tfl_fail(im, TL_ERR_SHAPE, "expects a 2-D input and output and a rank of at least 1");
    }
    const uint32_t n_input = a->in.dims[1], n_unit = a->out.dims[1], n_filter = n_unit * (uint32_t)rank;
    const uint32_t n_memory = state->dims[1] / (n_filter ? n_filter : 1);
    if (state->rank != 2 || state->dims[0] != a->in.dims[0] || n_memory == 0 ||
        state->dims[1] != n_memory * n_filter || a->out.dims[0] != a->in.dims[0]) {
        return tl_tfl_fail(im, TL_ERR_SHAPE, "state, input and output shapes do not agree");
    }
    tl_tfl_tensor wf, wt, bias, st;
    const int wide = state->dtype == TL_DTYPE_INT16;
    if ((s = constant_of(im, a, 1, TFL_INT8, (uint64_t)n_filter * n_input, "feature weights", &wf)) != TL_OK ||
        (s = constant_of(im, a, 2, wide ? TFL_INT16 : TFL_INT8, (uint64_t)n_filter * n_memory, "time weights", &wt)) != TL_OK) {
        return s;
    }
    const int has_bias = tl_fb_vec_i32(fb, &a->ins, 3) >= 0;
    if (has_bias && (s = constant_of(im, a, 3, TFL_INT32, n_unit, "bias", &bias)) != TL_OK) {
        return s;
    }
    if ((s = tl_tfl_read_tensor(im, tl_fb_vec_i32(fb, &a->ins, 4), &st)) != TL_OK) {
        return s;
    }
    /* TFLite Micro's PrepareSvdf: the products in float, then widened. */
    const double scale1 = (double)(a->in.scale * wf.scale / st.scale);
    const double scale2 = (double)(st.scale * wt.scale / a->out.scale);
    a->rec.opcode = TL_OP_SVDF;
    a->rec.input_count = 2;
    a->rec.inputs[1] = state_index;
    a->rec.input_offset = -a->in.zero_point;
    a->rec.output_offset = a->out.zero_point;
    a->rec.p[TL_SVDF_RANK] = rank;
    a->rec.p[TL_SVDF_MEMORY] = (int32_t)n_memory;
    a->rec.p[TL_SVDF_STATE_ZERO_POINT] = st.zero_point;
    a->rec.p[TL_SVDF_HAS_BIAS] = has_bias;
    tl_quantize_multiplier(scale1, &a->rec.p[TL_SVDF_FEATURE_MULT], &a->rec.p[TL_SVDF_FEATURE_SHIFT]);
    tl_quantize_multiplier(scale2, &a->rec.p[TL_SVDF_OUTPUT_MULT], &a->rec.p[TL_SVDF_OUTPUT_SHIFT]);
    if (!(scale1 > 0) || !(scale2 > 0) || a->rec.p[TL_SVDF_FEATURE_SHIFT] > 30 || a->rec.p[TL_SVDF_OUTPUT_SHIFT] > 30) {
        return tl_tfl_fail(im, TL_ERR_QUANT, "scales give a multiplier out of range");
    }
    const uint32_t time_at = (n_filter * n_input + 3u) & ~3u;
    const uint32_t bias_at = time_at + ((n_filter * n_memory * (wide ? 2u : 1u) + 3u) & ~3u);
    const uint32_t size = bias_at + (has_bias ? 4u * n_unit : 0u);
    uint8_t *block = calloc(size, 1);
    if (!block) {
        return tl_tfl_fail(im, TL_ERR_NOMEM, "out of memory");
    }
    memcpy(block, wf.data, wf.data_size);
    memcpy(block + time_at, wt.data, wt.data_size);
    if (has_bias) {
        memcpy(block + bias_at, bias.data, bias.data_size);
    }
    const int32_t op = tl_graph_add_op(im->g, &a->rec, NULL, NULL, 0);
    s = op < 0 ? TL_ERR_NOMEM : tl_graph_set_op_block(im->g, (uint32_t)op, block, size);
    free(block);
    return s == TL_OK ? TL_OK : tl_tfl_fail(im, s, "out of memory");
}

/* TFLite's CheckedLog2: log2 of a scale, and whether it is a power of two
 * (a scale that is not a positive finite number is neither). */
static int checked_log2(float x, int *log2)
{
    *log2 = 0;
    if (!(x > 0.0f) || !isfinite(x)) {
        return 0;
    }
    const float l = logf(x) * (1.0f / logf(2.0f)), rounded = roundf(l);
    *log2 = (int)rounded;
    return fabsf(l - rounded) < 1e-3f;
}

/* int16 LOGISTIC and TANH: TFLite Micro's Prepare (inputs with 3 integer
 * bits, the output in Q0.15), a power-of-two input scale resolved here so
 * the device has one form: (x * multiplier + rounding) >> shift. */
static tl_status import_sigmoid16(tl_tfl *im, op_args *a)
{
    const int logistic = a->builtin == TFL_LOGISTIC;
    int in_log2, out_log2;
    if (a->out.type != TFL_INT16 || a->in.zero_point != 0 || a->out.zero_point != 0 ||
        !checked_log2(a->out.scale, &out_log2) || out_log2 != -15) {
        return tl_tfl_fail(im, TL_ERR_QUANT, "int16 needs zero points of 0 and an int16 output at scale 1/32768");
    }
    int pot = checked_log2(a->in.scale, &in_log2);
    int32_t shift = 12 + in_log2, multiplier;
    pot = pot && (shift == 0 || (!logistic && shift == 1));
    if (pot) {
        multiplier = 3 << shift;
        shift = 0;
    } else {
        double m = (double)a->in.scale * 4096.0 * 3.0;
        shift = 0;
        while (m <= 32767.0 / 2.0 && shift <= 30) {
            ++shift;
            m *= 2.0;
        }
        if (m > 65535.0) {
            return tl_tfl_fail(im, TL_ERR_QUANT, "input scale %g is too large for int16", (double)a->in.scale);
        }
        multiplier = (int32_t)m;
    }
    a->rec.opcode = logistic ? TL_OP_LOGISTIC : TL_OP_TANH;
    a->rec.p[TL_SIGMOID_MULT] = multiplier;
    a->rec.p[TL_SIGMOID_SHIFT] = shift;
    return add_op(im, &a->rec);
}

/* LOGISTIC and TANH, int8: TFLite Micro's Prepare (4 integer bits for the
 * scaled input; the multiplier from frexp, rounded; the radius beyond which
 * the output saturates); int16 above. */
static tl_status import_sigmoid(tl_tfl *im, op_args *a)
{
    const int logistic = a->builtin == TFL_LOGISTIC;
    if (tl_tfl_elements(&a->in) != tl_tfl_elements(&a->out)) {
        return tl_tfl_fail(im, TL_ERR_SHAPE, "input and output sizes differ");
    }
    if (a->in.type == TFL_INT16) {
        return import_sigmoid16(im, a);
    }
    if (logistic ? a->out.zero_point != -128 : a->out.zero_point != 0) {
        return tl_tfl_fail(im, TL_ERR_QUANT, "the output's zero point must be %d", logistic ? -128 : 0);
    }
    int32_t mult, shift, radius;
    if (tl_sigmoid_constants(a->in.scale, &mult, &shift, &radius) != TL_OK) {
        return tl_tfl_fail(im, TL_ERR_QUANT, "input scale %g gives constants out of range", (double)a->in.scale);
    }
    a->rec.opcode = logistic ? TL_OP_LOGISTIC : TL_OP_TANH;
    a->rec.input_offset = -a->in.zero_point;
    a->rec.p[TL_SIGMOID_MULT] = mult;
    a->rec.p[TL_SIGMOID_SHIFT] = shift;
    a->rec.p[TL_SIGMOID_RADIUS] = radius;
    return add_op(im, &a->rec);
}

/* TFLite's LSTM tensors: 1..4 input weights and 5..8 recurrent weights
 * (gates input, forget, cell, output), 12..15 the gate biases, 18 the
 * hidden state, 19 the cell state; peepholes (9..11), projection (16, 17)
 * and layer norm (20..23) are variants TFLite Micro's kernel refuses too. */
enum { LSTM_INPUT_WEIGHTS = 1, LSTM_RECURRENT_WEIGHTS = 5, LSTM_BIAS = 12, LSTM_HIDDEN = 18, LSTM_CELL = 19 };

/* UNIDIRECTIONAL_SEQUENCE_LSTM, int8 activations and weights, int16 cell:
 * TFLite Micro's Prepare (gates into Q3.12, their outputs in Q0.15, the
 * products' multipliers, the cell's power-of-two scale and clip). */
static tl_status import_lstm(tl_tfl *im, op_args *a)
{
    const tl_fb *fb = &im->fb;
    float cell_clip = 0.0f, proj_clip = 0.0f;
    uint8_t time_major = 0;
    if (!a->has_opt || tl_fb_u8(fb, &a->opt, 0, 0, &a->act) != 0 || tl_fb_f32(fb, &a->opt, 1, 0.0f, &cell_clip) != 0 ||
        tl_fb_f32(fb, &a->opt, 2, 0.0f, &proj_clip) != 0 || tl_fb_u8(fb, &a->opt, 3, 0, &time_major) != 0) {
        return tl_tfl_malformed(im, "LSTM options");
    }
    if (a->ins.length != 24) {
        return tl_tfl_fail(im, TL_ERR_FORMAT, "needs 24 inputs, has %u", a->ins.length);
    }
    for (uint32_t i = 9; i < 24; ++i) {
        if ((i < 12 || (i >= 16 && i < 18) || i >= 20) && tl_fb_vec_i32(fb, &a->ins, i) >= 0) {
            return tl_tfl_fail(im, TL_ERR_UNSUPPORTED,
                               "peephole, projection and layer-norm LSTMs are not supported (input %u)", i);
        }
    }
    if (a->act != TFL_ACT_TANH) {
        return tl_tfl_fail(im, TL_ERR_UNSUPPORTED, "only tanh as the cell gate's activation is supported");
    }
    const tl_tensor_rec *in = &im->g->tensors[a->rec.inputs[0]].rec, *out = &im->g->tensors[a->rec.output].rec;
    if (in->dtype != TL_DTYPE_INT8 || out->dtype != TL_DTYPE_INT8) {
        return tl_tfl_fail(im, TL_ERR_UNSUPPORTED, "runs with int8 activations (a float LSTM needs `import --calibrate`)");
    }
    if (a->in.rank != 3 || a->out.rank != 3 || a->out.dims[0] != a->in.dims[0] || a->out.dims[1] != a->in.dims[1]) {
        return tl_tfl_fail(im, TL_ERR_SHAPE, "expects a 3-D input and output with the same batches and time steps");
    }
    tl_status s;
    tl_tfl_tensor hidden, cell;
    const int32_t hidden_at = tl_fb_vec_i32(fb, &a->ins, LSTM_HIDDEN), cell_at = tl_fb_vec_i32(fb, &a->ins, LSTM_CELL);
    if ((s = tl_tfl_read_tensor(im, hidden_at, &hidden)) != TL_OK || (s = tl_tfl_read_tensor(im, cell_at, &cell)) != TL_OK) {
        return s;
    }
    tl_lstm_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.time_major = time_major != 0;
    spec.batches = time_major ? a->in.dims[1] : a->in.dims[0];
    spec.n_input = a->in.dims[2];
    spec.n_state = a->out.dims[2];
    if (hidden.type != TFL_INT8 || !hidden.variable || tl_tfl_elements(&hidden) != (uint64_t)spec.batches * spec.n_state ||
        cell.type != TFL_INT16 || !cell.variable || tl_tfl_elements(&cell) != (uint64_t)spec.batches * spec.n_state ||
        cell.zero_point != 0 || im->map[hidden_at] >= 0 || im->map[cell_at] >= 0) {
        return tl_tfl_fail(im, TL_ERR_UNSUPPORTED, "needs its own int8 hidden state and symmetric int16 cell state, "
                           "both variable, of batch x %u", spec.n_state);
    }
    tl_tfl_tensor wx[4], wh[4], bias[4];
    int8_t *weights = malloc(4u * spec.n_state * (spec.n_input + spec.n_state));
    int32_t *biases = malloc(16u * spec.n_state);
    s = weights && biases ? TL_OK : tl_tfl_fail(im, TL_ERR_NOMEM, "out of memory");
    for (uint32_t g = 0; g < 4 && s == TL_OK; ++g) {
        if ((s = constant_of(im, a, LSTM_INPUT_WEIGHTS + g, TFL_INT8, (uint64_t)spec.n_state * spec.n_input,
                             "input weights", &wx[g])) != TL_OK ||
            (s = constant_of(im, a, LSTM_RECURRENT_WEIGHTS + g, TFL_INT8, (uint64_t)spec.n_state * spec.n_state,
                             "recurrent weights", &wh[g])) != TL_OK ||
            (s = constant_of(im, a, LSTM_BIAS + g, TFL_INT32, spec.n_state, "gate bias", &bias[g])) != TL_OK) {
            break;
        }
        if (wx[g].scales.length != 1 || wh[g].scales.length != 1) {
            s = tl_tfl_fail(im, TL_ERR_QUANT, "LSTM weights must be quantised per tensor");
            break;
        }
        memcpy(weights + g * spec.n_state * spec.n_input, wx[g].data, wx[g].data_size);
        memcpy(weights + 4u * spec.n_state * spec.n_input + g * spec.n_state * spec.n_state, wh[g].data, wh[g].data_size);
        memcpy(biases + g * spec.n_state, bias[g].data, bias[g].data_size);
        spec.input_weight_scales[g] = wx[g].scale;
        spec.recurrent_weight_scales[g] = wh[g].scale;
    }
    if (s == TL_OK) {
        spec.input_weights = weights;
        spec.recurrent_weights = weights + 4u * spec.n_state * spec.n_input;
        spec.bias = biases;
        spec.hidden_scale = hidden.scale;
        spec.hidden_zero_point = hidden.zero_point;
        spec.cell_scale = cell.scale;
        spec.cell_clip = cell_clip;
        spec.name = a->out.name;
        char why[128];
        uint16_t h;
        if (tl_graph_add_lstm(im->g, a->rec.inputs[0], a->rec.output, &spec, &h, why, sizeof why) < 0) {
            s = tl_tfl_fail(im, TL_ERR_QUANT, "%s", why);
        } else {
            im->map[hidden_at] = h;
            im->map[cell_at] = (int32_t)im->g->tensor_count - 1;
        }
    }
    free(weights);
    free(biases);
    return s;
}

/* A STRIDED_SLICE record from `in` (graph tensor) to TFLite output `out`. */
static tl_status add_slice(tl_tfl *im, op_args *a, uint16_t in, int32_t out, const int32_t begin[4], const int32_t step[4],
                           int32_t shrink)
{
    tl_tfl_tensor o;
    tl_status s = tl_tfl_read_tensor(im, out, &o);
    if (s != TL_OK) {
        return s;
    }
    if (!same_quant(&a->in, &o)) {
        return tl_tfl_fail(im, TL_ERR_QUANT, "input and output %d must share type, scale and zero point", out);
    }
    tl_op_rec rec = a->rec;
    rec.opcode = TL_OP_STRIDED_SLICE;
    rec.input_count = 1;
    rec.inputs[0] = in;
    if ((s = activation(im, out, &rec.output)) != TL_OK) {
        return s;
    }
    for (int i = 0; i < 4; ++i) {
        rec.p[TL_SLICE_BEGIN + i] = begin[i];
        rec.p[TL_SLICE_STRIDE + i] = step[i];
    }
    rec.p[TL_SLICE_SHRINK] = shrink;
    return add_op(im, &rec);
}

/* STRIDED_SLICE: begin, end and strides resolved as TFLite's
 * StartForAxis / StopForAxis do (masks, negative indices, clamping). */
static tl_status import_strided_slice(tl_tfl *im, op_args *a)
{
    const tl_fb *fb = &im->fb;
    int32_t begin_mask = 0, end_mask = 0, ellipsis = 0, new_axis = 0, shrink = 0;
    uint8_t offset = 0;
    if (a->has_opt && (tl_fb_i32(fb, &a->opt, 0, 0, &begin_mask) != 0 || tl_fb_i32(fb, &a->opt, 1, 0, &end_mask) != 0 ||
                       tl_fb_i32(fb, &a->opt, 2, 0, &ellipsis) != 0 || tl_fb_i32(fb, &a->opt, 3, 0, &new_axis) != 0 ||
                       tl_fb_i32(fb, &a->opt, 4, 0, &shrink) != 0 || tl_fb_u8(fb, &a->opt, 5, 0, &offset) != 0)) {
        return tl_tfl_malformed(im, "strided slice options");
    }
    if (ellipsis || new_axis) {
        return tl_tfl_fail(im, TL_ERR_UNSUPPORTED, "ellipsis and new-axis masks are not supported");
    }
    int32_t b[TL_MAX_RANK], e[TL_MAX_RANK], st[TL_MAX_RANK];
    uint32_t nb = 0, ne = 0, ns = 0;
    tl_status s;
    if ((s = int32_vector(im, a, 1, "begin", b, TL_MAX_RANK, &nb)) != TL_OK ||
        (s = int32_vector(im, a, 2, "end", e, TL_MAX_RANK, &ne)) != TL_OK ||
        (s = int32_vector(im, a, 3, "strides", st, TL_MAX_RANK, &ns)) != TL_OK) {
        return s;
    }
    if (nb != a->in.rank || ne != a->in.rank || ns != a->in.rank) {
        return tl_tfl_fail(im, TL_ERR_SHAPE, "begin, end and strides must have the input's rank");
    }
    int32_t begin[4] = { 0, 0, 0, 0 }, step[4] = { 1, 1, 1, 1 };
    uint64_t n = 1;
    for (uint32_t i = 0; i < a->in.rank; ++i) {
        const int32_t dim = (int32_t)a->in.dims[i], stride = st[i];
        if (stride == 0) {
            return tl_tfl_fail(im, TL_ERR_FORMAT, "stride 0 on axis %u", i);
        }
        int32_t start, stop;
        if (begin_mask >> i & 1) {
            start = stride > 0 ? 0 : dim - 1;
        } else {
            start = b[i] < 0 ? b[i] + dim : b[i];
            start = stride > 0 ? (start < 0 ? 0 : (start > dim ? dim : start)) : (start < -1 ? -1 : (start > dim - 1 ? dim - 1 : start));
        }
        if (shrink >> i & 1) {
            stop = start + 1;
        } else if (end_mask >> i & 1) {
            stop = stride > 0 ? dim : -1;
        } else {
            const int32_t end = offset ? b[i] + e[i] : e[i];
            stop = end < 0 ? end + dim : end;
            stop = stride > 0 ? (stop < 0 ? 0 : (stop > dim ? dim : stop)) : (stop < -1 ? -1 : (stop > dim - 1 ? dim - 1 : stop));
        }
        const int32_t span = stride > 0 ? stop - start : start - stop, size = stride > 0 ? stride : -stride;
        const int32_t count = span <= 0 ? 0 : (span + size - 1) / size;
        if (count == 0) {
            return tl_tfl_fail(im, TL_ERR_UNSUPPORTED, "an empty slice on axis %u", i);
        }
        begin[i] = start;
        step[i] = shrink >> i & 1 ? 1 : stride;
        n *= (uint64_t)count;
    }
    if (n != tl_tfl_elements(&a->out)) {
        return tl_tfl_fail(im, TL_ERR_SHAPE, "the output does not hold the slice's %llu values", (unsigned long long)n);
    }
    return add_slice(im, a, a->rec.inputs[0], a->out_index, begin, step, shrink & 15);
}

/* SPLIT, SPLIT_V and UNPACK: one slice per output along the axis. */
static tl_status import_split(tl_tfl *im, op_args *a)
{
    const tl_fb *fb = &im->fb;
    int32_t axis = 0, num = 0, sizes[64];
    uint32_t count = 0;
    tl_status s;
    if (a->builtin == TFL_UNPACK) {
        if (!a->has_opt || tl_fb_i32(fb, &a->opt, 0, 0, &num) != 0 || tl_fb_i32(fb, &a->opt, 1, 0, &axis) != 0) {
            return tl_tfl_malformed(im, "unpack options");
        }
    } else if ((s = int32_vector(im, a, a->builtin == TFL_SPLIT ? 0 : 2, "axis", &axis, 1, &count)) != TL_OK) {
        return s;
    }
    axis = axis < 0 ? axis + (int32_t)a->in.rank : axis;
    if (axis < 0 || axis >= (int32_t)a->in.rank) {
        return tl_tfl_fail(im, TL_ERR_FORMAT, "axis %d is not a dimension of the input", axis);
    }
    const uint32_t k = a->outs.length, dim = a->in.dims[axis];
    if (a->builtin == TFL_SPLIT_V) {
        if ((s = int32_vector(im, a, 1, "sizes", sizes, 64, &count)) != TL_OK) {
            return s;
        }
        int32_t known = 0, unknown = -1;
        for (uint32_t j = 0; j < count; ++j) {
            if (sizes[j] < 0) {
                unknown = (int32_t)j;
            } else {
                known += sizes[j];
            }
        }
        if (unknown >= 0) {
            sizes[unknown] = (int32_t)dim - known;
        }
    } else {
        for (uint32_t j = 0; j < k; ++j) {
            sizes[j] = a->builtin == TFL_UNPACK ? 1 : (int32_t)(dim / (k ? k : 1));
        }
        count = k;
    }
    int32_t at = 0;
    for (uint32_t j = 0; j < count; ++j) {
        at += sizes[j] > 0 ? sizes[j] : 0;
    }
    if (count != k || at != (int32_t)dim) {
        return tl_tfl_fail(im, TL_ERR_SHAPE, "%u outputs do not divide the %u entries of axis %d", k, dim, axis);
    }
    at = 0;
    for (uint32_t j = 0; j < k; ++j) {
        int32_t begin[4] = { 0, 0, 0, 0 };
        const int32_t step[4] = { 1, 1, 1, 1 };
        begin[axis] = at;
        at += sizes[j];
        if ((s = add_slice(im, a, a->rec.inputs[0], tl_fb_vec_i32(fb, &a->outs, j), begin, step,
                           a->builtin == TFL_UNPACK ? 1 << axis : 0)) != TL_OK) {
            return s;
        }
    }
    return TL_OK;
}

/* CONCATENATION and PACK: one record per input, each placing it along the
 * axis of the output. */
static tl_status import_concatenation(tl_tfl *im, op_args *a)
{
    const tl_fb *fb = &im->fb;
    const int pack = a->builtin == TFL_PACK;
    int32_t axis = 0;
    if (a->has_opt && (tl_fb_i32(fb, &a->opt, pack ? 1 : 0, 0, &axis) != 0 || (!pack && tl_fb_u8(fb, &a->opt, 1, 0, &a->act) != 0))) {
        return tl_tfl_malformed(im, "concatenation options");
    }
    if (a->act != TFL_ACT_NONE) {
        return tl_tfl_fail(im, TL_ERR_UNSUPPORTED, "a fused activation on a concatenation is not supported");
    }
    axis = axis < 0 ? axis + (int32_t)a->out.rank : axis;
    if (axis < 0 || axis >= (int32_t)a->out.rank) {
        return tl_tfl_fail(im, TL_ERR_FORMAT, "axis %d is not a dimension of the output", axis);
    }
    int32_t offset = 0;
    tl_status s;
    for (uint32_t j = 0; j < a->ins.length; ++j) {
        tl_tfl_tensor t;
        const int32_t index = tl_fb_vec_i32(fb, &a->ins, j);
        if ((s = tl_tfl_read_tensor(im, index, &t)) != TL_OK) {
            return s;
        }
        if (!same_quant(&t, &a->out)) {
            return tl_tfl_fail(im, TL_ERR_QUANT, "input %u and the output must share type, scale and zero point", j);
        }
        tl_op_rec rec = a->rec;
        rec.opcode = TL_OP_CONCATENATION;
        if ((s = activation(im, index, &rec.inputs[0])) != TL_OK) {
            return s;
        }
        const int32_t count = pack ? 1 : (int32_t)t.dims[axis];
        rec.p[TL_PLACE_AXIS] = axis;
        rec.p[TL_PLACE_OFFSET] = offset;
        rec.p[TL_PLACE_COUNT] = count;
        offset += count;
        if ((s = add_op(im, &rec)) != TL_OK) {
            return s;
        }
    }
    if (offset != (int32_t)a->out.dims[axis]) {
        return tl_tfl_fail(im, TL_ERR_SHAPE, "the inputs fill %d of the output's %u entries along axis %d", offset,
                           a->out.dims[axis], axis);
    }
    return TL_OK;
}

/* The quantised level of a real value on a tensor's grid, clamped to its
 * type (TFLite's roundf(x / scale) + zero point). */
static int32_t level(float x, const tl_tfl_tensor *t, int32_t lo, int32_t hi)
{
    const float q = roundf(x / t->scale) + (float)t->zero_point;
    if (q != q) { /* a scale of 0 at 0: no level; the lowest keeps the clamp valid */
        return lo;
    }
    return q < (float)lo ? lo : (q > (float)hi ? hi : (int32_t)q);
}

/* RELU, RELU6, RELU_N1_TO_1 and LEAKY_RELU, int8 or int16: TFLite Micro's
 * Prepare (identity multiplier in_scale / out_scale computed in float,
 * alpha's likewise, the clamp at the quantised 0, 6, -1 and 1). */
static tl_status import_relu(tl_tfl *im, op_args *a)
{
    if (tl_tfl_elements(&a->in) != tl_tfl_elements(&a->out) || a->in.type != a->out.type) {
        return tl_tfl_fail(im, TL_ERR_SHAPE, "input and output differ in size or type");
    }
    const int32_t lo = a->out.type == TFL_INT16 ? -32768 : -128, hi = a->out.type == TFL_INT16 ? 32767 : 127;
    a->rec.opcode = a->builtin == TFL_LEAKY_RELU ? TL_OP_LEAKY_RELU : TL_OP_RELU;
    a->rec.input_offset = -a->in.zero_point;
    a->rec.output_offset = a->out.zero_point;
    a->rec.act_min = (int16_t)lo;
    a->rec.act_max = (int16_t)hi;
    tl_quantize_multiplier((double)(a->in.scale / a->out.scale), &a->rec.p[TL_RELU_MULT], &a->rec.p[TL_RELU_SHIFT]);
    if (a->builtin == TFL_LEAKY_RELU) {
        float alpha = 0.0f;
        if (a->has_opt && tl_fb_f32(&im->fb, &a->opt, 0, 0.0f, &alpha) != 0) {
            return tl_tfl_malformed(im, "leaky relu options");
        }
        tl_quantize_multiplier((double)(a->in.scale * alpha / a->out.scale), &a->rec.p[TL_RELU_ALPHA_MULT],
                               &a->rec.p[TL_RELU_ALPHA_SHIFT]);
    } else {
        a->rec.act_min = (int16_t)level(a->builtin == TFL_RELU_N1_TO_1_OP ? -1.0f : 0.0f, &a->out, lo, hi);
        if (a->builtin != TFL_RELU) {
            a->rec.act_max = (int16_t)level(a->builtin == TFL_RELU6 ? 6.0f : 1.0f, &a->out, lo, hi);
        }
    }
    if (a->rec.p[TL_RELU_SHIFT] > 15 || a->rec.p[TL_RELU_ALPHA_SHIFT] > 15) {
        return tl_tfl_fail(im, TL_ERR_QUANT, "input and output scales give a multiplier out of range");
    }
    return add_op(im, &a->rec);
}

/* TRANSPOSE_CONV (int8, or int16 with an int64 bias): the padding TFLite
 * Micro computes from the output's size, per-channel multipliers as a
 * convolution's. */
static tl_status import_transpose_conv(tl_tfl *im, op_args *a)
{
    const tl_fb *fb = &im->fb;
    if (a->has_opt && (tl_fb_u8(fb, &a->opt, 0, 0, &a->pad_scheme) != 0 || tl_fb_i32(fb, &a->opt, 1, 1, &a->stride_w) != 0 ||
                       tl_fb_i32(fb, &a->opt, 2, 1, &a->stride_h) != 0 || tl_fb_u8(fb, &a->opt, 3, 0, &a->act) != 0)) {
        return tl_tfl_malformed(im, "transpose convolution options");
    }
    const int wide = a->in.type == TFL_INT16;
    if (a->out.type != a->in.type || (wide && (a->in.zero_point || a->out.zero_point))) {
        return tl_tfl_fail(im, TL_ERR_QUANT, "input and output must share a type (int16: zero points of 0)");
    }
    if (a->in.rank != 4 || a->out.rank != 4 || a->stride_w < 1 || a->stride_h < 1 || a->stride_w > 255 || a->stride_h > 255) {
        return tl_tfl_fail(im, TL_ERR_SHAPE, "expects a 4-D input and output and strides of 1 to 255");
    }
    tl_status s;
    tl_tfl_tensor f;
    const uint32_t out_c = a->out.dims[3];
    if ((s = filter_tensor(im, tl_fb_vec_i32(fb, &a->ins, 1), out_c, &f, &a->rec.inputs[1])) != TL_OK) {
        return s;
    }
    if (f.rank != 4 || f.dims[0] != out_c || f.dims[3] != a->in.dims[3]) {
        return tl_tfl_fail(im, TL_ERR_SHAPE, "filter shape does not match input and output channels");
    }
    int16_t pads[2];
    const int32_t strides[2] = { a->stride_h, a->stride_w };
    for (int k = 0; k < 2; ++k) { /* the output as a convolution's input must give back this input */
        const int32_t size = (int32_t)a->out.dims[1 + k], kernel = (int32_t)f.dims[1 + k], stride = strides[k];
        const int32_t back = a->pad_scheme == TFL_PAD_SAME ? (size + stride - 1) / stride : (size + stride - kernel) / stride;
        const int32_t total = (back - 1) * stride + kernel - size;
        if (back != (int32_t)a->in.dims[1 + k]) {
            return tl_tfl_fail(im, TL_ERR_SHAPE, "output size %d does not match input %u, filter %d, stride %d", size,
                               a->in.dims[1 + k], kernel, stride);
        }
        pads[k] = (int16_t)(total > 0 ? total / 2 : 0);
    }
    a->rec.opcode = TL_OP_TRANSPOSE_CONV;
    a->rec.input_count = 2;
    a->rec.stride_h = (uint8_t)a->stride_h;
    a->rec.stride_w = (uint8_t)a->stride_w;
    a->rec.pad_top = pads[0];
    a->rec.pad_left = pads[1];
    a->rec.input_offset = -a->in.zero_point;
    a->rec.output_offset = a->out.zero_point;
    if ((s = fused_activation(im, a->act, &a->out, &a->rec)) != TL_OK) {
        return s;
    }
    if (wide) {
        tl_activation_range16(a->rec.activation, a->out.scale, &a->rec.act_min, &a->rec.act_max);
    }
    if (a->ins.length > 3 && tl_fb_vec_i32(fb, &a->ins, 3) >= 0) {
        if ((s = bias_tensor(im, tl_fb_vec_i32(fb, &a->ins, 3), wide ? TFL_INT64 : TFL_INT32, out_c, &a->rec.inputs[2])) != TL_OK) {
            return s;
        }
        a->rec.input_count = 3;
    }
    int32_t *requant = malloc(2u * out_c * sizeof *requant), *unused = malloc(out_c * sizeof *unused);
    float *scales = malloc(f.scales.length * sizeof *scales);
    s = requant && unused && scales ? TL_OK : tl_tfl_fail(im, TL_ERR_NOMEM, "out of memory");
    for (uint32_t c = 0; s == TL_OK && c < f.scales.length; ++c) {
        scales[c] = tl_fb_vec_f32(fb, &f.scales, c);
    }
    uint32_t bad = 0;
    if (s == TL_OK && tl_conv_constants(TL_OP_CONV_2D, a->in.scale, 0, (const int8_t *)f.data, tl_tfl_elements(&f), scales,
                                        f.scales.length, NULL, a->out.scale, out_c, requant, unused, &bad) != TL_OK) {
        s = tl_tfl_fail(im, TL_ERR_QUANT, "channel %u: requantisation scale out of the device's range", bad);
    }
    for (uint32_t c = 0; s == TL_OK && wide && c < out_c; ++c) {
        if (requant[out_c + c] > 7) {
            s = tl_tfl_fail(im, TL_ERR_QUANT, "channel %u: a multiplier above 2^7 is out of 16x8's range", c);
        }
    }
    if (s == TL_OK && tl_graph_add_op(im->g, &a->rec, requant, NULL, out_c) < 0) {
        s = tl_tfl_fail(im, TL_ERR_NOMEM, "out of memory");
    }
    free(requant);
    free(unused);
    free(scales);
    return s;
}

/* PRELU, int8: TFLite Micro's two multipliers (in_scale / out_scale and
 * in_scale x alpha_scale / out_scale, in double); alpha broadcast to the
 * input, a constant or an activation. */
static tl_status import_prelu(tl_tfl *im, op_args *a)
{
    tl_tfl_tensor alpha;
    tl_status s = TL_OK;
    if (a->ins.length != 2 || (s = tl_tfl_read_tensor(im, tl_fb_vec_i32(&im->fb, &a->ins, 1), &alpha)) != TL_OK) {
        return a->ins.length != 2 ? tl_tfl_fail(im, TL_ERR_FORMAT, "expects an input and alpha") : s;
    }
    if (alpha.type != TFL_INT8 || a->out.type != TFL_INT8 || tl_tfl_elements(&a->in) != tl_tfl_elements(&a->out)) {
        return tl_tfl_fail(im, TL_ERR_UNSUPPORTED, "runs on int8 input, alpha and output of one size");
    }
    for (uint32_t k = 1; k <= alpha.rank; ++k) {
        const uint32_t d = alpha.dims[alpha.rank - k], o = k <= a->out.rank ? a->out.dims[a->out.rank - k] : 0;
        if (d != 1 && d != o) {
            return tl_tfl_fail(im, TL_ERR_SHAPE, "alpha does not broadcast to the input");
        }
    }
    if ((s = operand(im, tl_fb_vec_i32(&im->fb, &a->ins, 1), &a->rec.inputs[1])) != TL_OK) {
        return s;
    }
    a->rec.opcode = TL_OP_PRELU;
    a->rec.input_count = 2;
    a->rec.input_offset = -a->in.zero_point;
    a->rec.output_offset = a->out.zero_point;
    a->rec.p[TL_PRELU_ALPHA_OFFSET] = -alpha.zero_point;
    tl_quantize_multiplier((double)a->in.scale / (double)a->out.scale, &a->rec.p[TL_PRELU_MULT], &a->rec.p[TL_PRELU_SHIFT]);
    tl_quantize_multiplier((double)a->in.scale * (double)alpha.scale / (double)a->out.scale, &a->rec.p[TL_PRELU_ALPHA_MULT],
                           &a->rec.p[TL_PRELU_ALPHA_SHIFT]);
    if (a->rec.p[TL_PRELU_SHIFT] > 15 || a->rec.p[TL_PRELU_ALPHA_SHIFT] > 15) {
        return tl_tfl_fail(im, TL_ERR_QUANT, "scales give a multiplier out of range");
    }
    return add_op(im, &a->rec);
}

/* TFLite's DownScaleInt32ToInt16Multiplier: a Q31 multiplier to Q15,
 * rounded, saturating at the top. */
static int32_t q15_multiplier(int32_t q31)
{
    return q31 >= INT32_MAX - (1 << 15) ? 32767 : (q31 + (1 << 15)) >> 16;
}

/* HARD_SWISH (int8): the Q15 multipliers TFLite's HardSwishPrepare makes,
 * its arithmetic in float as there. */
static tl_status import_hard_swish(tl_tfl *im, op_args *a)
{
    if (tl_tfl_elements(&a->in) != tl_tfl_elements(&a->out) || a->in.type != TFL_INT8 || a->out.type != TFL_INT8) {
        return tl_tfl_fail(im, TL_ERR_SHAPE, "runs on int8 input and output of one size");
    }
    const float hires_scale = (1.0f / 128.0f) * a->in.scale, reluish_scale = 3.0f / 32768.0f;
    int32_t q31, exponent;
    a->rec.opcode = TL_OP_HARD_SWISH;
    a->rec.input_offset = -a->in.zero_point;
    a->rec.output_offset = a->out.zero_point;
    tl_quantize_multiplier((double)(hires_scale / a->out.scale), &q31, &exponent);
    a->rec.p[TL_HARD_SWISH_OUTPUT_MULT] = q15_multiplier(q31);
    a->rec.p[TL_HARD_SWISH_OUTPUT_EXPONENT] = exponent;
    tl_quantize_multiplier((double)(hires_scale / reluish_scale), &q31, &exponent);
    a->rec.p[TL_HARD_SWISH_RELUISH_MULT] = q15_multiplier(q31);
    a->rec.p[TL_HARD_SWISH_RELUISH_EXPONENT] = exponent;
    if (a->rec.p[TL_HARD_SWISH_OUTPUT_EXPONENT] > 0) {
        return tl_tfl_fail(im, TL_ERR_QUANT, "output scale is below input scale / 128");
    }
    return add_op(im, &a->rec);
}

/* TFLite's GetNearestNeighbor: which input index output index i reads. */
static int32_t nearest_source(int32_t i, int32_t in_size, int32_t out_size, int align_corners, int half_pixel)
{
    const float scale = align_corners && out_size > 1 ? (float)(in_size - 1) / (float)(out_size - 1)
                                                      : (float)in_size / (float)out_size;
    const float at = ((float)i + (half_pixel ? 0.5f : 0.0f)) * scale;
    int32_t v = align_corners ? (int32_t)roundf(at) : (int32_t)floorf(at);
    v = v < in_size - 1 ? v : in_size - 1;
    return half_pixel && v < 0 ? 0 : v;
}

/* TFLite's ResizeBilinearInteger scale: input pixels per output pixel in
 * 1/1024ths, rounded. */
static int32_t bilinear_scale(int32_t in_size, int32_t out_size, int align_corners)
{
    if (align_corners && out_size > 1) {
        return (int32_t)(((int64_t)(in_size - 1) * 1024 + (out_size - 1) / 2) / (out_size - 1));
    }
    return (int32_t)(((int64_t)in_size * 1024 + out_size / 2) / out_size);
}

/* RESIZE_NEAREST_NEIGHBOR and RESIZE_BILINEAR (int8, int16, NHWC): the
 * size input a constant, input and output sharing quantisation. Nearest:
 * the source row and column of each output row and column into the
 * operator's block; bilinear: TFLite's integer scales. */
static tl_status import_resize(tl_tfl *im, op_args *a)
{
    const int bilinear = a->builtin == TFL_RESIZE_BILINEAR;
    uint8_t align_corners = 0, half_pixel = 0;
    if (a->has_opt && (tl_fb_u8(&im->fb, &a->opt, bilinear ? 2 : 0, 0, &align_corners) != 0 ||
                       tl_fb_u8(&im->fb, &a->opt, bilinear ? 3 : 1, 0, &half_pixel) != 0)) {
        return tl_tfl_malformed(im, "resize options");
    }
    int32_t size[2];
    uint32_t n = 0;
    tl_status s = int32_vector(im, a, 1, "size", size, 2, &n);
    if (s != TL_OK) {
        return s;
    }
    if (a->in.rank != 4 || a->out.rank != 4 || n != 2 || (int32_t)a->out.dims[1] != size[0] ||
        (int32_t)a->out.dims[2] != size[1] || a->in.dims[0] != a->out.dims[0] || a->in.dims[3] != a->out.dims[3]) {
        return tl_tfl_fail(im, TL_ERR_SHAPE, "needs NHWC input and output and an output of the given size");
    }
    if (a->in.type != a->out.type || a->in.scale != a->out.scale || a->in.zero_point != a->out.zero_point) {
        return tl_tfl_fail(im, TL_ERR_QUANT, "input and output must share type and quantisation");
    }
    if (bilinear && align_corners && half_pixel) {
        return tl_tfl_fail(im, TL_ERR_FORMAT, "align_corners and half_pixel_centers exclude each other");
    }
    a->rec.input_count = 1;
    if (bilinear) {
        a->rec.opcode = TL_OP_RESIZE_BILINEAR;
        a->rec.p[TL_RESIZE_SCALE_H] = bilinear_scale((int32_t)a->in.dims[1], size[0], align_corners);
        a->rec.p[TL_RESIZE_SCALE_W] = bilinear_scale((int32_t)a->in.dims[2], size[1], align_corners);
        a->rec.p[TL_RESIZE_HALF_PIXEL] = half_pixel != 0;
        return add_op(im, &a->rec);
    }
    const uint32_t entries = a->out.dims[1] + a->out.dims[2];
    int32_t *map = malloc(4u * entries);
    if (!map) {
        return tl_tfl_fail(im, TL_ERR_NOMEM, "out of memory");
    }
    for (uint32_t i = 0; i < entries; ++i) {
        const int row = i < a->out.dims[1];
        const int32_t at = (int32_t)(row ? i : i - a->out.dims[1]);
        map[i] = nearest_source(at, (int32_t)a->in.dims[row ? 1 : 2], (int32_t)a->out.dims[row ? 1 : 2], align_corners,
                                half_pixel);
    }
    a->rec.opcode = TL_OP_RESIZE_NEAREST_NEIGHBOR;
    const int32_t op = tl_graph_add_op(im->g, &a->rec, NULL, NULL, 0);
    s = op < 0 ? TL_ERR_NOMEM : tl_graph_set_op_block(im->g, (uint32_t)op, map, 4u * entries);
    free(map);
    return s == TL_OK ? TL_OK : tl_tfl_fail(im, s, "out of memory");
}

/* BATCH_MATMUL (int8, ranks 2 to 4): rhs an activation or a constant;
 * TFLite's multiplier (the scales' product in float, then divided in
 * double). */
static tl_status import_batch_matmul(tl_tfl *im, op_args *a)
{
    uint8_t adj_x = 0, adj_y = 0;
    if (a->has_opt && (tl_fb_u8(&im->fb, &a->opt, 0, 0, &adj_x) != 0 || tl_fb_u8(&im->fb, &a->opt, 1, 0, &adj_y) != 0)) {
        return tl_tfl_malformed(im, "batch matmul options");
    }
    tl_tfl_tensor rhs;
    tl_status s = TL_OK;
    if (a->ins.length != 2 || (s = tl_tfl_read_tensor(im, tl_fb_vec_i32(&im->fb, &a->ins, 1), &rhs)) != TL_OK) {
        return a->ins.length != 2 ? tl_tfl_fail(im, TL_ERR_FORMAT, "expects two inputs") : s;
    }
    if (rhs.type != TFL_INT8 || a->out.type != TFL_INT8) {
        return tl_tfl_fail(im, TL_ERR_UNSUPPORTED, "runs on int8 inputs and output");
    }
    if (a->in.rank < 2 || rhs.rank < 2 || a->out.rank < 2 || a->in.rank > 4 || rhs.rank > 4 || a->out.rank > 4) {
        return tl_tfl_fail(im, TL_ERR_UNSUPPORTED, "inputs and output of rank 2 to 4");
    }
    const uint32_t depth = adj_x ? a->in.dims[a->in.rank - 2] : a->in.dims[a->in.rank - 1];
    if ((adj_y ? rhs.dims[rhs.rank - 1] : rhs.dims[rhs.rank - 2]) != depth) {
        return tl_tfl_fail(im, TL_ERR_SHAPE, "inner dimensions differ");
    }
    /* The output is [batches, rows of lhs, columns of rhs]; each batch
     * dimension of an input matches the output's or is 1. */
    const uint32_t rows = adj_x ? a->in.dims[a->in.rank - 1] : a->in.dims[a->in.rank - 2];
    const uint32_t cols = adj_y ? rhs.dims[rhs.rank - 2] : rhs.dims[rhs.rank - 1];
    if (a->out.dims[a->out.rank - 2] != rows || a->out.dims[a->out.rank - 1] != cols || depth > 33000) {
        return tl_tfl_fail(im, TL_ERR_SHAPE, "output shape does not follow from the inputs'");
    }
    for (uint32_t k = 3; k <= 4; ++k) {
        const uint32_t o = k <= a->out.rank ? a->out.dims[a->out.rank - k] : 1;
        const uint32_t l = k <= a->in.rank ? a->in.dims[a->in.rank - k] : 1, r = k <= rhs.rank ? rhs.dims[rhs.rank - k] : 1;
        if ((l != 1 && l != o) || (r != 1 && r != o)) {
            return tl_tfl_fail(im, TL_ERR_SHAPE, "batch dimensions do not broadcast to the output's");
        }
    }
    if ((s = operand(im, tl_fb_vec_i32(&im->fb, &a->ins, 1), &a->rec.inputs[1])) != TL_OK ||
        (s = fused_activation(im, TFL_ACT_NONE, &a->out, &a->rec)) != TL_OK) {
        return s;
    }
    a->rec.opcode = TL_OP_BATCH_MATMUL;
    a->rec.input_count = 2;
    a->rec.input_offset = -a->in.zero_point;
    a->rec.output_offset = a->out.zero_point;
    a->rec.p[TL_BATCH_MATMUL_ADJ_X] = adj_x != 0;
    a->rec.p[TL_BATCH_MATMUL_ADJ_Y] = adj_y != 0;
    a->rec.p[TL_BATCH_MATMUL_RHS_OFFSET] = -rhs.zero_point;
    tl_quantize_multiplier((double)(a->in.scale * rhs.scale) / (double)a->out.scale, &a->rec.p[TL_BATCH_MATMUL_MULT],
                           &a->rec.p[TL_BATCH_MATMUL_SHIFT]);
    if (rhs.zero_point < -128 || rhs.zero_point > 127 || a->rec.p[TL_BATCH_MATMUL_SHIFT] > 30 ||
        a->rec.p[TL_BATCH_MATMUL_SHIFT] < -31) {
        return tl_tfl_fail(im, TL_ERR_QUANT, "zero point or scales out of int8's range");
    }
    return add_op(im, &a->rec);
}

/* The operators the importer translates: one line each. */

typedef struct op_importer {
    int32_t builtin;
    tl_status (*import)(tl_tfl *im, op_args *a);
    uint8_t types;
    uint8_t data_input;     /* which input is the one activation read first (SPLIT: 1) */
    uint8_t outputs;        /* 0: exactly one; 1: any number (SPLIT, UNPACK) */
} op_importer;

static const op_importer importers[] = {
    { TFL_CONV_2D, import_conv, T8 | T16, 0, 0 },
    { TFL_DEPTHWISE_CONV_2D, import_conv, T8 | T16, 0, 0 },
    { TFL_FULLY_CONNECTED, import_fully_connected, T8 | T16, 0, 0 },
    { TFL_AVERAGE_POOL_2D, import_pool, T8 | T16, 0, 0 },
    { TFL_MAX_POOL_2D, import_pool, T8 | T16, 0, 0 },
    { TFL_ADD, import_binary, T8 | T16, 0, 0 },
    { TFL_SUB, import_binary, T8 | T16, 0, 0 },
    { TFL_MUL, import_binary, T8 | T16, 0, 0 },
    { TFL_RELU, import_relu, T8 | T16, 0, 0 },
    { TFL_RELU6, import_relu, T8 | T16, 0, 0 },
    { TFL_RELU_N1_TO_1_OP, import_relu, T8 | T16, 0, 0 },
    { TFL_LEAKY_RELU, import_relu, T8 | T16, 0, 0 },
    { TFL_TRANSPOSE_CONV, import_transpose_conv, T8 | T16, 2, 0 },
    { TFL_PRELU, import_prelu, T8, 0, 0 },
    { TFL_HARD_SWISH, import_hard_swish, T8, 0, 0 },
    { TFL_RESIZE_NEAREST_NEIGHBOR, import_resize, T8 | T16, 0, 0 },
    { TFL_RESIZE_BILINEAR, import_resize, T8 | T16, 0, 0 },
    { TFL_BATCH_MATMUL, import_batch_matmul, T8, 0, 0 },
    { TFL_RESHAPE, import_reshape, T8 | T16 | T32 | TF, 0, 0 },
    { TFL_TRANSPOSE, import_transpose_pad, T8 | T16 | T32 | TF, 0, 0 },
    { TFL_PAD, import_transpose_pad, T8 | T16, 0, 0 },
    { TFL_PADV2, import_transpose_pad, T8 | T16, 0, 0 },
    { TFL_SOFTMAX, import_softmax, T8 | T16, 0, 0 },
    { TFL_MEAN, import_mean, T8 | T16, 0, 0 },
    { TFL_QUANTIZE, import_quantize, T8 | T16 | T32 | TF, 0, 0 },
    { TFL_DEQUANTIZE, import_quantize, T8 | T16 | TF, 0, 0 },
    { TFL_SVDF, import_svdf, T8 | T16, 0, 0 },
    { TFL_LOGISTIC, import_sigmoid, T8 | T16, 0, 0 },
    { TFL_TANH, import_sigmoid, T8 | T16, 0, 0 },
    { TFL_UNIDIRECTIONAL_SEQUENCE_LSTM, import_lstm, T8 | T16, 0, 0 },
    { TFL_STRIDED_SLICE, import_strided_slice, T8 | T16 | T32 | TF, 0, 0 },
    { TFL_SPLIT, import_split, T8 | T16 | T32 | TF, 1, 1 },
    { TFL_SPLIT_V, import_split, T8 | T16 | T32 | TF, 0, 1 },
    { TFL_UNPACK, import_split, T8 | T16 | T32 | TF, 0, 1 },
    { TFL_CONCATENATION, import_concatenation, T8 | T16 | T32 | TF, 0, 0 },
    { TFL_PACK, import_concatenation, T8 | T16 | T32 | TF, 0, 0 },
    { TFL_SQUEEZE, import_reshape, T8 | T16 | T32 | TF, 0, 0 },
    { TFL_EXPAND_DIMS, import_reshape, T8 | T16 | T32 | TF, 0, 0 },
};

static const op_importer *importer_of(int32_t builtin)
{
    for (size_t i = 0; i < sizeof importers / sizeof importers[0]; ++i) {
        if (importers[i].builtin == builtin) {
            return &importers[i];
        }
    }
    return NULL;
}

static tl_status import_op(tl_tfl *im, const tl_fb_table *op, int32_t builtin)
{
    const tl_fb *fb = &im->fb;
    const op_importer *kind = importer_of(builtin);
    if (!kind) {
        return tl_tfl_fail(im, TL_ERR_UNSUPPORTED, "operator is not supported by tinylarge");
    }
    op_args a;
    memset(&a, 0, sizeof a);
    a.builtin = builtin;
    if (tl_fb_vector(fb, op, 1, 4, &a.ins) != 0 || tl_fb_vector(fb, op, 2, 4, &a.outs) != 0 ||
        tl_fb_table_field(fb, op, 4, &a.opt, &a.has_opt) != 0) {
        return tl_tfl_malformed(im, "operator table");
    }
    if (kind->outputs ? a.outs.length < 1 || a.outs.length > 64 : a.outs.length != 1) {
        return tl_tfl_fail(im, TL_ERR_UNSUPPORTED, "%u outputs; %s", a.outs.length,
                           kind->outputs ? "1 to 64 are supported" : "exactly one is supported");
    }
    if (a.ins.length <= kind->data_input || a.ins.length > 24) {
        return tl_tfl_fail(im, TL_ERR_UNSUPPORTED, "%u inputs is not supported", a.ins.length);
    }
    a.rec.inputs[0] = a.rec.inputs[1] = a.rec.inputs[2] = TL_NO_TENSOR;
    a.rec.stride_h = a.rec.stride_w = a.rec.dilation_h = a.rec.dilation_w = 1;
    a.rec.filter_h = a.rec.filter_w = 1;
    a.rec.act_min = -128;
    a.rec.act_max = 127;
    a.rec.input_count = 1;
    a.stride_w = a.stride_h = a.dil_w = a.dil_h = 1;
    a.act = TFL_ACT_NONE;
    a.pad_scheme = TFL_PAD_VALID;
    a.in_index = tl_fb_vec_i32(fb, &a.ins, kind->data_input);
    a.out_index = tl_fb_vec_i32(fb, &a.outs, 0);
    tl_status s;
    im->takes = kind->types;
    if ((s = tl_tfl_read_tensor(im, a.in_index, &a.in)) != TL_OK || (s = tl_tfl_read_tensor(im, a.out_index, &a.out)) != TL_OK ||
        (s = activation(im, a.in_index, &a.rec.inputs[0])) != TL_OK ||
        (s = activation(im, a.out_index, &a.rec.output)) != TL_OK || (s = kind->import(im, &a)) != TL_OK) {
        im->takes = 0;
        return s;
    }
    im->takes = 0;
    return TL_OK;
}

/* Operator i's table and what it is: its builtin code (the deprecated
 * byte of older files taken into account) and a name for messages, a
 * custom operator by its own name. 0, or -1 on a malformed table. */
int tl_tfl_read_operator(tl_tfl *im, uint32_t i, tl_fb_table *op, int32_t *builtin, char *name, size_t name_size)
{
    const tl_fb *fb = &im->fb;
    tl_fb_table code;
    uint32_t code_index;
    uint8_t deprecated = 0;
    *builtin = 0;
    if (tl_fb_vector_table(fb, &im->operators, i, op) != 0 || tl_fb_u32(fb, op, 0, 0, &code_index) != 0 ||
        code_index >= im->op_codes.length || tl_fb_vector_table(fb, &im->op_codes, code_index, &code) != 0 ||
        tl_fb_u8(fb, &code, 0, 0, &deprecated) != 0 || tl_fb_i32(fb, &code, 3, 0, builtin) != 0) {
        return -1;
    }
    if ((int32_t)(int8_t)deprecated > *builtin) {
        *builtin = (int8_t)deprecated;
    }
    char custom[40] = "";
    if (*builtin >= 0 && (size_t)*builtin < sizeof builtin_names / sizeof builtin_names[0]) {
        snprintf(name, name_size, "%s", builtin_names[*builtin]);
    } else {
        snprintf(name, name_size, "builtin %d", *builtin);
    }
    if (*builtin == 32 && tl_fb_string(fb, &code, 1, custom, sizeof custom) == 0 && custom[0]) {
        snprintf(name, name_size, "CUSTOM %s", custom); /* whose: an NPU's, a vendor's */
    }
    return 0;
}

tl_status tl_tfl_open(tl_tfl *r, const uint8_t *data, size_t size, char *error, size_t error_size)
{
    memset(r, 0, sizeof *r);
    r->fb.buf = data;
    r->fb.size = size;
    r->error = error;
    r->error_size = error_size;
    r->op_index = -1;
    if (error && error_size) {
        error[0] = '\0';
    }
    const tl_fb *fb = &r->fb;
    if (!data || size < 8 || memcmp(data + 4, "TFL3", 4) != 0) {
        return tl_tfl_fail(r, TL_ERR_MAGIC, "not a TFLite flatbuffer (no TFL3 identifier)");
    }
    tl_fb_vec subgraphs;
    tl_fb_table sg;
    if (tl_fb_root(fb, &r->model) != 0 || tl_fb_vector(fb, &r->model, 1, 4, &r->op_codes) != 0 ||
        tl_fb_vector(fb, &r->model, 2, 4, &subgraphs) != 0 || tl_fb_vector(fb, &r->model, 4, 4, &r->buffers) != 0 ||
        subgraphs.length < 1 || tl_fb_vector_table(fb, &subgraphs, 0, &sg) != 0 ||
        tl_fb_vector(fb, &sg, 0, 4, &r->tensors) != 0 || tl_fb_vector(fb, &sg, 1, 4, &r->graph_inputs) != 0 ||
        tl_fb_vector(fb, &sg, 2, 4, &r->graph_outputs) != 0 || tl_fb_vector(fb, &sg, 3, 4, &r->operators) != 0) {
        return tl_tfl_malformed(r, "model or subgraph table");
    }
    if (subgraphs.length > 1) {
        return tl_tfl_fail(r, TL_ERR_UNSUPPORTED, "the model has %u subgraphs; only one is supported",
                           subgraphs.length);
    }
    if (r->operators.length == 0) {
        return tl_tfl_fail(r, TL_ERR_FORMAT, "the model has no operators");
    }
    if (r->graph_inputs.length < 1 || r->graph_inputs.length > 8 || r->graph_outputs.length < 1 ||
        r->graph_outputs.length > 8) {
        return tl_tfl_fail(r, TL_ERR_UNSUPPORTED, "%u inputs and %u outputs; 1 to 8 of each are supported",
                           r->graph_inputs.length, r->graph_outputs.length);
    }
    return TL_OK;
}

/* Operators run in order: each activation the graph's operators from
 * `first` on read must be a model input or written by an operator before
 * (else the arena plan gives it no bytes of its own, and TFLite would read
 * garbage), and none writes a tensor it reads (it would read what it has
 * just written). Marks what they write. */
static tl_status reads_written(tl_tfl *im, uint32_t first)
{
    const tl_graph *g = im->g;
    uint8_t *w = realloc(im->written, g->tensor_count + 1u);
    if (!w) {
        return tl_tfl_fail(im, TL_ERR_NOMEM, "out of memory");
    }
    memset(w + im->written_count, 0, g->tensor_count + 1u - im->written_count);
    im->written = w;
    im->written_count = g->tensor_count + 1u;
    for (uint32_t i = 0; i < g->input_count; ++i) {
        w[g->inputs[i]] = 1;
    }
    for (uint32_t i = first; i < g->op_count; ++i) {
        const tl_op_rec *op = &g->ops[i].rec;
        for (uint32_t k = 0; k < op->input_count; ++k) {
            const uint16_t t = op->inputs[k];
            if (t < g->tensor_count && g->tensors[t].rec.kind == TL_TENSOR_ACTIVATION && !w[t]) {
                return tl_tfl_fail(im, TL_ERR_FORMAT, "reads tensor '%s' before any operator writes it",
                                   g->tensors[t].name);
            }
        }
        for (uint32_t k = 0; k < op->input_count; ++k) {
            if (op->inputs[k] == op->output) {
                return tl_tfl_fail(im, TL_ERR_FORMAT, "writes tensor '%s', which it reads",
                                   g->tensors[op->output].name);
            }
        }
        w[op->output] = 1;
    }
    return TL_OK;
}

static tl_status import(tl_tfl *im)
{
    const tl_fb *fb = &im->fb;
    const tl_fb_vec graph_in = im->graph_inputs, graph_out = im->graph_outputs;
    im->map = malloc((im->tensors.length + 1) * sizeof *im->map);
    if (!im->map) {
        return tl_tfl_fail(im, TL_ERR_NOMEM, "out of memory");
    }
    for (uint32_t i = 0; i < im->tensors.length; ++i) {
        im->map[i] = -1;
    }
    tl_status s;
    for (uint32_t i = 0; i < graph_in.length; ++i) {
        uint16_t gi;
        if ((s = activation(im, tl_fb_vec_i32(fb, &graph_in, i), &gi)) != TL_OK) {
            return s;
        }
        im->g->inputs[im->g->input_count++] = gi;
    }
    for (uint32_t i = 0; i < im->operators.length; ++i) {
        tl_fb_table op;
        int32_t builtin;
        im->op_index = -1;
        if (tl_tfl_read_operator(im, i, &op, &builtin, im->op_name, sizeof im->op_name) != 0) {
            return tl_tfl_malformed(im, "operator or operator code table");
        }
        im->op_index = (int32_t)i;
        const uint32_t first = im->g->op_count;
        if ((s = import_op(im, &op, builtin)) != TL_OK || (s = reads_written(im, first)) != TL_OK) {
            return s;
        }
    }
    im->op_index = -1;
    for (uint32_t i = 0; i < graph_out.length; ++i) {
        const int32_t t = tl_fb_vec_i32(fb, &graph_out, i);
        if (t < 0 || (uint32_t)t >= im->tensors.length || im->map[t] < 0 || !im->written[im->map[t]]) {
            return tl_tfl_fail(im, TL_ERR_FORMAT, "model output %u (tensor %d) is produced by no operator", i, t);
        }
        im->g->outputs[im->g->output_count++] = (uint16_t)im->map[t];
    }
    if (tl_graph_fuse_residual_adds(im->g, NULL) != TL_OK) {
        return tl_tfl_fail(im, TL_ERR_NOMEM, "out of memory");
    }
    /* One exit: the first output, after the whole graph. */
    if (tl_graph_add_exit(im->g, im->g->outputs[0], im->g->op_count) != TL_OK) {
        return tl_tfl_fail(im, TL_ERR_FORMAT, "cannot declare the model's exit");
    }
    return tl_graph_set_meta(im->g, "source_format", "tflite");
}

/* The last word is the device's: the graph, written as a model, must pass
 * the loader. Each importer checks what its operator needs, so this only
 * turns a check an importer missed (fuzzing finds them) into a refusal
 * instead of a file the device would refuse. */
static tl_status device_accepts(tl_tfl *im)
{
    uint8_t *tlm = NULL;
    size_t tlm_size = 0;
    tl_status s = tl_graph_serialize(im->g, &tlm, &tlm_size);
    if (s != TL_OK) {
        return tl_tfl_fail(im, s, "the imported graph cannot be written: %s", tl_status_str(s));
    }
    tl_model m;
    int32_t bad_op = -1, bad_tensor = -1;
    s = tl_model_load_ex(&m, tlm, tlm_size, 0, &bad_op, &bad_tensor);
    free(tlm);
    if (s == TL_OK) {
        return TL_OK;
    }
    if (bad_op >= 0 && (uint32_t)bad_op < im->g->op_count) {
        return tl_tfl_fail(im, s, "the device would refuse the imported graph's operator %d (%s): %s", (int)bad_op,
                           tl_opcode_name(im->g->ops[bad_op].rec.opcode), tl_status_str(s));
    }
    return tl_tfl_fail(im, s, "the device would refuse the imported graph (%s, tensor %d)", tl_status_str(s),
                       (int)bad_tensor);
}

tl_status tl_import_tflite(const uint8_t *data, size_t size, tl_graph *g, char *error, size_t error_size)
{
    if (error && error_size) {
        error[0] = '\0';
    }
    if (!data || !g) {
        return TL_ERR_ARG;
    }
    memset(g, 0, sizeof *g);
    tl_tfl im;
    tl_status s = tl_tfl_open(&im, data, size, error, error_size);
    im.g = g;
    if (s == TL_OK) {
        s = import(&im);
    }
    if (s == TL_OK) {
        s = device_accepts(&im);
    }
    free(im.map);
    free(im.written);
    if (s != TL_OK) {
        tl_graph_free(g);
    }
    return s;
}

/* ---- the survey: every operator, imported or not ---- */



/* A tensor's type, and whether it is a constant (it has data). */
static int survey_tensor(tl_tfl *im, int32_t index, uint8_t *type, int *constant)
{
    const tl_fb *fb = &im->fb;
    tl_fb_table tt, buf;
    tl_fb_vec data;
    uint32_t buffer = 0;
    *type = 0xff;
    *constant = 0;
    if (index < 0 || (uint32_t)index >= im->tensors.length || tl_fb_vector_table(fb, &im->tensors, (uint32_t)index, &tt) != 0 ||
        tl_fb_u8(fb, &tt, 1, 0, type) != 0 || tl_fb_u32(fb, &tt, 2, 0, &buffer) != 0) {
        return -1;
    }
    if (buffer < im->buffers.length && tl_fb_vector_table(fb, &im->buffers, buffer, &buf) == 0 &&
        tl_fb_vector(fb, &buf, 0, 1, &data) == 0) {
        *constant = data.length > 0;
    }
    return 0;
}

static void append_types(tl_tfl *im, const tl_fb_vec *v, uint8_t takes, char *out, size_t size,
                         tl_tflite_op_info *info)
{
    for (uint32_t i = 0; i < v->length; ++i) {
        const int32_t t = tl_fb_vec_i32(&im->fb, v, i);
        const size_t n = strlen(out);
        uint8_t type;
        int constant;
        if (t < 0) {
            snprintf(out + n, size - n, "%s-", n ? " " : ""); /* an optional input left out */
            continue;
        }
        if (survey_tensor(im, t, &type, &constant) != 0) {
            snprintf(out + n, size - n, "%s?", n ? " " : "");
            continue;
        }
        snprintf(out + n, size - n, "%s%s", n ? " " : "", tl_tfl_type_name(type));
        /* Only the types the operator's import does not take count. */
        info->float_activations |= !constant && ((type == TFL_FLOAT32 && !(takes & TF)) || type == 1 /* float16 */);
        info->int16_activations |= !constant && type == TFL_INT16 && !(takes & T16);
    }
}

tl_status tl_tflite_survey(const uint8_t *data, size_t size, void (*fn)(void *ctx, const tl_tflite_op_info *op),
                           void *ctx, char *error, size_t error_size)
{
    if (error && error_size) {
        error[0] = '\0';
    }
    if (!data || !fn) {
        return TL_ERR_ARG;
    }
    tl_tfl im;
    const tl_status opened = tl_tfl_open(&im, data, size, error, error_size);
    if (opened != TL_OK && opened != TL_ERR_UNSUPPORTED) {
        return opened; /* an unsupported shape still has operators to list */
    }
    if (error && error_size) {
        error[0] = '\0';
    }
    const tl_fb *fb = &im.fb;
    for (uint32_t i = 0; i < im.operators.length; ++i) {
        tl_fb_table op;
        tl_fb_vec ins, outs;
        int32_t builtin;
        tl_tflite_op_info info;
        memset(&info, 0, sizeof info);
        info.index = i;
        if (tl_tfl_read_operator(&im, i, &op, &builtin, info.name, sizeof info.name) != 0 ||
            tl_fb_vector(fb, &op, 1, 4, &ins) != 0 || tl_fb_vector(fb, &op, 2, 4, &outs) != 0) {
            return tl_tfl_malformed(&im, "operator table");
        }
        const op_importer *kind = importer_of(builtin);
        const uint8_t takes = kind ? kind->types : T8;
        info.supported = kind != NULL;
        append_types(&im, &ins, takes, info.types, sizeof info.types, &info);
        const size_t n = strlen(info.types);
        snprintf(info.types + n, sizeof info.types - n, " ->");
        char out_types[48] = "";
        append_types(&im, &outs, takes, out_types, sizeof out_types, &info);
        const size_t m = strlen(info.types);
        snprintf(info.types + m, sizeof info.types - m, " %s", out_types);
        fn(ctx, &info);
    }
    return TL_OK;
}
