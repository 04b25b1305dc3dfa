/* tflite_float.c - a float TFLite model quantised at import.
 *
 * Three passes over the calibration samples' worth of work:
 *   1. a float reference runs the model on each sample (the operators
 *      below, as TFLite's float reference kernels compute them) and keeps
 *      every activation's range, each LSTM's cell range, and the outputs;
 *   2. the int8 graph is built from those ranges: per-channel symmetric
 *      int8 weights, int32 biases at input x weight scale, asymmetric int8
 *      activations (fixed ranges where TFLite fixes them: softmax,
 *      logistic, tanh; shared where an operator moves data), an int16 cell
 *      at a power-of-two scale; QUANTIZE after the float input and
 *      DEQUANTIZE before each float output keep the model's interface;
 *   3. that graph runs on the device runtime over the same samples, and the
 *      report says how far its outputs are from the float model's.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tflite_reader.h"
#include "tinylarge/device.h"

enum { MAX_OP_INPUTS = 24 };

typedef struct fop {
    int32_t builtin;
    char name[48];
    int32_t in[MAX_OP_INPUTS];
    uint32_t n_in;
    int32_t out;
    tl_fb_table opt;
    int has_opt;
    float cell_lo, cell_hi;      /* LSTM: the cell state's range */
} fop;

typedef struct fmodel {
    tl_tfl r;
    uint32_t n;                  /* tensors */
    tl_tfl_tensor *t;
    float **v;                   /* values: activations and float constants */
    float *lo, *hi;              /* activations' ranges over the samples */
    fop *ops;
    uint32_t op_count;
    int32_t input, output;       /* the model's (one each) */
} fmodel;

static float relu_like(float x, uint8_t act)
{
    switch (act) {
    case 1: return x > 0 ? x : 0;                                    /* RELU */
    case 2: return x < -1 ? -1 : (x > 1 ? 1 : x);                    /* RELU_N1_TO_1 */
    case 3: return x < 0 ? 0 : (x > 6 ? 6 : x);                      /* RELU6 */
    default: return x;
    }
}

static uint8_t opt_u8(const fmodel *m, const fop *op, int id, uint8_t def)
{
    uint8_t v = def;
    if (op->has_opt) {
        tl_fb_u8(&m->r.fb, &op->opt, id, def, &v);
    }
    return v;
}

static int32_t opt_i32(const fmodel *m, const fop *op, int id, int32_t def)
{
    int32_t v = def;
    if (op->has_opt) {
        tl_fb_i32(&m->r.fb, &op->opt, id, def, &v);
    }
    return v;
}

static float opt_f32(const fmodel *m, const fop *op, int id, float def)
{
    float v = def;
    if (op->has_opt) {
        tl_fb_f32(&m->r.fb, &op->opt, id, def, &v);
    }
    return v;
}

static const tl_tfl_tensor *T(const fmodel *m, int32_t i)
{
    return &m->t[i];
}

/* TFLite's SAME/VALID padding: the rows before the first output. */
static int32_t pad_before(uint8_t scheme, int32_t in, int32_t k, int32_t stride, int32_t dilation, int32_t out)
{
    const int32_t total = (out - 1) * stride + (k - 1) * dilation + 1 - in;
    return scheme == 0 && total > 0 ? total / 2 : 0;
}

/* ---- the float reference ---- */

static void run_fc(fmodel *m, const fop *op)
{
    const tl_tfl_tensor *w = T(m, op->in[1]);
    const float *x = m->v[op->in[0]], *wv = m->v[op->in[1]];
    const float *b = op->n_in > 2 && op->in[2] >= 0 ? m->v[op->in[2]] : NULL;
    float *y = m->v[op->out];
    const uint32_t out_c = w->dims[0], k = w->dims[1];
    const uint64_t rows = tl_tfl_elements(T(m, op->in[0])) / k;
    const uint8_t act = opt_u8(m, op, 0, 0);
    for (uint64_t r = 0; r < rows; ++r) {
        for (uint32_t o = 0; o < out_c; ++o) {
            float acc = b ? b[o] : 0.0f;
            for (uint32_t d = 0; d < k; ++d) {
                acc += wv[(uint64_t)o * k + d] * x[r * k + d];
            }
            y[r * out_c + o] = relu_like(acc, act);
        }
    }
}

static void run_conv(fmodel *m, const fop *op, int depthwise)
{
    const tl_tfl_tensor *in = T(m, op->in[0]), *w = T(m, op->in[1]), *out = T(m, op->out);
    const float *x = m->v[op->in[0]], *wv = m->v[op->in[1]];
    const float *b = op->n_in > 2 && op->in[2] >= 0 ? m->v[op->in[2]] : NULL;
    float *y = m->v[op->out];
    const uint8_t scheme = opt_u8(m, op, 0, 0);
    const int32_t sw = opt_i32(m, op, 1, 1), sh = opt_i32(m, op, 2, 1);
    const uint8_t act = opt_u8(m, op, depthwise ? 4 : 3, 0);
    const int32_t dw = opt_i32(m, op, depthwise ? 5 : 4, 1), dh = opt_i32(m, op, depthwise ? 6 : 5, 1);
    const int32_t ih = (int32_t)in->dims[1], iw = (int32_t)in->dims[2], ic = (int32_t)in->dims[3];
    const int32_t oh = (int32_t)out->dims[1], ow = (int32_t)out->dims[2], oc = (int32_t)out->dims[3];
    const int32_t kh = (int32_t)w->dims[1], kw = (int32_t)w->dims[2];
    const int32_t pt = pad_before(scheme, ih, kh, sh, dh, oh), pl = pad_before(scheme, iw, kw, sw, dw, ow);
    for (uint32_t n = 0; n < in->dims[0]; ++n) {
        for (int32_t oy = 0; oy < oh; ++oy) {
            for (int32_t ox = 0; ox < ow; ++ox) {
                for (int32_t o = 0; o < oc; ++o) {
                    float acc = b ? b[o] : 0.0f;
                    for (int32_t ky = 0; ky < kh; ++ky) {
                        const int32_t y0 = oy * sh - pt + ky * dh;
                        for (int32_t kx = 0; kx < kw && y0 >= 0 && y0 < ih; ++kx) {
                            const int32_t x0 = ox * sw - pl + kx * dw;
                            if (x0 < 0 || x0 >= iw) {
                                continue;
                            }
                            const float *px = x + (((int64_t)n * ih + y0) * iw + x0) * ic;
                            if (depthwise) {
                                acc += wv[(ky * kw + kx) * oc + o] * px[o / (oc / ic)];
                            } else {
                                for (int32_t c = 0; c < ic; ++c) {
                                    acc += wv[((int64_t)(o * kh + ky) * kw + kx) * ic + c] * px[c];
                                }
                            }
                        }
                    }
                    y[(((int64_t)n * oh + oy) * ow + ox) * oc + o] = relu_like(acc, act);
                }
            }
        }
    }
}

static void run_pool(fmodel *m, const fop *op, int average)
{
    const tl_tfl_tensor *in = T(m, op->in[0]), *out = T(m, op->out);
    const float *x = m->v[op->in[0]];
    float *y = m->v[op->out];
    const uint8_t scheme = opt_u8(m, op, 0, 0), act = opt_u8(m, op, 5, 0);
    const int32_t sw = opt_i32(m, op, 1, 1), sh = opt_i32(m, op, 2, 1);
    const int32_t fw = opt_i32(m, op, 3, 1), fh = opt_i32(m, op, 4, 1);
    const int32_t ih = (int32_t)in->dims[1], iw = (int32_t)in->dims[2], c = (int32_t)in->dims[3];
    const int32_t oh = (int32_t)out->dims[1], ow = (int32_t)out->dims[2];
    const int32_t pt = pad_before(scheme, ih, fh, sh, 1, oh), pl = pad_before(scheme, iw, fw, sw, 1, ow);
    for (uint32_t n = 0; n < in->dims[0]; ++n) {
        for (int32_t oy = 0; oy < oh; ++oy) {
            for (int32_t ox = 0; ox < ow; ++ox) {
                for (int32_t ch = 0; ch < c; ++ch) {
                    float acc = average ? 0.0f : -INFINITY;
                    int32_t count = 0;
                    for (int32_t ky = 0; ky < fh; ++ky) {
                        for (int32_t kx = 0; kx < fw; ++kx) {
                            const int32_t y0 = oy * sh - pt + ky, x0 = ox * sw - pl + kx;
                            if (y0 < 0 || y0 >= ih || x0 < 0 || x0 >= iw) {
                                continue;
                            }
                            const float v = x[(((int64_t)n * ih + y0) * iw + x0) * c + ch];
                            acc = average ? acc + v : (v > acc ? v : acc);
                            ++count;
                        }
                    }
                    y[(((int64_t)n * oh + oy) * ow + ox) * c + ch] =
                        relu_like(average ? acc / (float)(count ? count : 1) : acc, act);
                }
            }
        }
    }
}

static void run_softmax(fmodel *m, const fop *op)
{
    const tl_tfl_tensor *in = T(m, op->in[0]);
    const uint32_t depth = in->dims[in->rank - 1];
    const uint64_t rows = tl_tfl_elements(in) / depth;
    const float beta = opt_f32(m, op, 0, 1.0f);
    const float *x = m->v[op->in[0]];
    float *y = m->v[op->out];
    for (uint64_t r = 0; r < rows; ++r) {
        float max = x[r * depth];
        for (uint32_t i = 1; i < depth; ++i) {
            max = x[r * depth + i] > max ? x[r * depth + i] : max;
        }
        float sum = 0;
        for (uint32_t i = 0; i < depth; ++i) {
            sum += expf((x[r * depth + i] - max) * beta);
        }
        for (uint32_t i = 0; i < depth; ++i) {
            y[r * depth + i] = expf((x[r * depth + i] - max) * beta) / sum;
        }
    }
}

static float sigmoidf(float x)
{
    return 1.0f / (1.0f + expf(-x));
}

/* TFLite's LSTM tensors (see tflite_import.c): input and recurrent weights
 * per gate (input, forget, cell, output), biases, hidden and cell state. */
enum { LSTM_WX = 1, LSTM_WH = 5, LSTM_B = 12, LSTM_H = 18, LSTM_C = 19 };

static void run_lstm(fmodel *m, fop *op)
{
    const tl_tfl_tensor *in = T(m, op->in[0]), *out = T(m, op->out);
    const int time_major = opt_u8(m, op, 3, 0) != 0;
    const float clip = opt_f32(m, op, 1, 0.0f);
    const uint32_t batches = time_major ? in->dims[1] : in->dims[0], steps = time_major ? in->dims[0] : in->dims[1];
    const uint32_t n_in = in->dims[2], n_state = out->dims[2];
    float *h = m->v[op->in[LSTM_H]], *c = m->v[op->in[LSTM_C]];
    float gates[4][256];
    for (uint32_t b = 0; b < batches; ++b) {
        for (uint32_t t = 0; t < steps; ++t) {
            const uint64_t at = time_major ? (uint64_t)t * batches + b : (uint64_t)b * steps + t;
            const float *x = m->v[op->in[0]] + at * n_in;
            float *hb = h + (uint64_t)b * n_state, *cb = c + (uint64_t)b * n_state;
            for (int g = 0; g < 4; ++g) {
                const float *wx = m->v[op->in[LSTM_WX + g]], *wh = m->v[op->in[LSTM_WH + g]], *bias = m->v[op->in[LSTM_B + g]];
                for (uint32_t o = 0; o < n_state; ++o) {
                    float acc = bias[o];
                    for (uint32_t d = 0; d < n_in; ++d) {
                        acc += wx[(uint64_t)o * n_in + d] * x[d];
                    }
                    for (uint32_t d = 0; d < n_state; ++d) {
                        acc += wh[(uint64_t)o * n_state + d] * hb[d];
                    }
                    gates[g][o] = g == 2 ? tanhf(acc) : sigmoidf(acc);
                }
            }
            for (uint32_t o = 0; o < n_state; ++o) {
                float cv = gates[1][o] * cb[o] + gates[0][o] * gates[2][o];
                if (clip > 0) {
                    cv = cv > clip ? clip : (cv < -clip ? -clip : cv);
                }
                cb[o] = cv;
                op->cell_lo = cv < op->cell_lo ? cv : op->cell_lo;
                op->cell_hi = cv > op->cell_hi ? cv : op->cell_hi;
                hb[o] = gates[3][o] * tanhf(cv);
            }
            memcpy(m->v[op->out] + at * n_state, hb, n_state * sizeof(float));
        }
    }
}

static void run_op(fmodel *m, fop *op)
{
    float *y = m->v[op->out];
    const uint64_t n = tl_tfl_elements(T(m, op->out));
    switch (op->builtin) {
    case TFL_FULLY_CONNECTED: run_fc(m, op); break;
    case TFL_CONV_2D: run_conv(m, op, 0); break;
    case TFL_DEPTHWISE_CONV_2D: run_conv(m, op, 1); break;
    case TFL_AVERAGE_POOL_2D: run_pool(m, op, 1); break;
    case TFL_MAX_POOL_2D: run_pool(m, op, 0); break;
    case TFL_SOFTMAX: run_softmax(m, op); break;
    case TFL_UNIDIRECTIONAL_SEQUENCE_LSTM: run_lstm(m, op); break;
    case TFL_RESHAPE: memcpy(y, m->v[op->in[0]], n * sizeof(float)); break;
    case TFL_ADD: {
        const uint8_t act = opt_u8(m, op, 0, 0);
        for (uint64_t i = 0; i < n; ++i) {
            y[i] = relu_like(m->v[op->in[0]][i] + m->v[op->in[1]][i], act);
        }
        break;
    }
    case TFL_LOGISTIC:
    case TFL_TANH:
        for (uint64_t i = 0; i < n; ++i) {
            y[i] = op->builtin == TFL_TANH ? tanhf(m->v[op->in[0]][i]) : sigmoidf(m->v[op->in[0]][i]);
        }
        break;
    default:
        break; /* refused when the model was read */
    }
}

/* ---- reading the float model ---- */

static int float_op_supported(int32_t builtin)
{
    switch (builtin) {
    case TFL_FULLY_CONNECTED: case TFL_CONV_2D: case TFL_DEPTHWISE_CONV_2D: case TFL_AVERAGE_POOL_2D:
    case TFL_MAX_POOL_2D: case TFL_SOFTMAX: case TFL_UNIDIRECTIONAL_SEQUENCE_LSTM: case TFL_RESHAPE:
    case TFL_ADD: case TFL_LOGISTIC: case TFL_TANH:
        return 1;
    default:
        return 0;
    }
}

static void free_model(fmodel *m)
{
    for (uint32_t i = 0; m->v && i < m->n; ++i) {
        free(m->v[i]);
    }
    free(m->v);
    free(m->t);
    free(m->lo);
    free(m->hi);
    free(m->ops);
}

static tl_status read_model(fmodel *m, const uint8_t *data, size_t size, char *error, size_t error_size)
{
    tl_tfl *r = &m->r;
    tl_status s = tl_tfl_open(r, data, size, error, error_size);
    if (s != TL_OK) {
        return s;
    }
    if (r->graph_inputs.length != 1 || r->graph_outputs.length != 1) {
        return tl_tfl_fail(r, TL_ERR_UNSUPPORTED, "calibration takes a model of one input and one output");
    }
    m->n = r->tensors.length;
    m->op_count = r->operators.length;
    m->t = calloc(m->n, sizeof *m->t);
    m->v = calloc(m->n, sizeof *m->v);
    m->lo = malloc(m->n * sizeof *m->lo);
    m->hi = malloc(m->n * sizeof *m->hi);
    m->ops = calloc(m->op_count, sizeof *m->ops);
    if (!m->t || !m->v || !m->lo || !m->hi || !m->ops) {
        return tl_tfl_fail(r, TL_ERR_NOMEM, "out of memory");
    }
    for (uint32_t i = 0; i < m->n; ++i) {
        m->lo[i] = INFINITY;
        m->hi[i] = -INFINITY;
        if ((s = tl_tfl_read_tensor(r, (int32_t)i, &m->t[i])) != TL_OK) {
            return s;
        }
        const tl_tfl_tensor *t = &m->t[i];
        const uint64_t n = tl_tfl_elements(t);
        if (t->type == TFL_FLOAT32 && n < (1u << 26)) {
            m->v[i] = calloc(n ? n : 1, sizeof(float));
            if (!m->v[i]) {
                return tl_tfl_fail(r, TL_ERR_NOMEM, "out of memory");
            }
            if (t->data) {
                if (t->data_size != 4 * n) {
                    return tl_tfl_fail(r, TL_ERR_FORMAT, "tensor %u '%s' holds %u bytes for %llu floats", i, t->name,
                                       t->data_size, (unsigned long long)n);
                }
                memcpy(m->v[i], t->data, t->data_size);
            }
        }
    }
    m->input = tl_fb_vec_i32(&r->fb, &r->graph_inputs, 0);
    m->output = tl_fb_vec_i32(&r->fb, &r->graph_outputs, 0);
    if (m->input < 0 || (uint32_t)m->input >= m->n || m->output < 0 || (uint32_t)m->output >= m->n ||
        !m->v[m->input] || !m->v[m->output]) {
        return tl_tfl_fail(r, TL_ERR_UNSUPPORTED, "calibration takes a model with a float32 input and output");
    }
    for (uint32_t i = 0; i < m->op_count; ++i) {
        fop *op = &m->ops[i];
        tl_fb_table t;
        tl_fb_vec ins, outs;
        r->op_index = -1;
        if (tl_tfl_read_operator(r, i, &t, &op->builtin, op->name, sizeof op->name) != 0 ||
            tl_fb_vector(&r->fb, &t, 1, 4, &ins) != 0 || tl_fb_vector(&r->fb, &t, 2, 4, &outs) != 0 ||
            tl_fb_table_field(&r->fb, &t, 4, &op->opt, &op->has_opt) != 0) {
            return tl_tfl_malformed(r, "operator table");
        }
        r->op_index = (int32_t)i;
        snprintf(r->op_name, sizeof r->op_name, "%s", op->name);
        if (!float_op_supported(op->builtin)) {
            return tl_tfl_fail(r, TL_ERR_UNSUPPORTED, "not supported in a float model yet");
        }
        if (outs.length != 1 || ins.length < 1 || ins.length > MAX_OP_INPUTS) {
            return tl_tfl_fail(r, TL_ERR_UNSUPPORTED, "%u inputs and %u outputs", ins.length, outs.length);
        }
        op->n_in = ins.length;
        op->out = tl_fb_vec_i32(&r->fb, &outs, 0);
        for (uint32_t k = 0; k < ins.length; ++k) {
            op->in[k] = tl_fb_vec_i32(&r->fb, &ins, k);
            if (op->in[k] >= (int32_t)m->n) {
                return tl_tfl_fail(r, TL_ERR_BOUNDS, "input %u names tensor %d of %u", k, op->in[k], m->n);
            }
        }
        if (op->out < 0 || (uint32_t)op->out >= m->n || !m->v[op->out] || op->in[0] < 0 || !m->v[op->in[0]]) {
            return tl_tfl_fail(r, TL_ERR_UNSUPPORTED, "takes and gives float32 tensors only here");
        }
        /* Every float input the kernel reads must be there: a conv or FC
         * bias may be left out; an LSTM reads its weights, biases and
         * states, and has no peepholes, projection or layer norm. */
        const int lstm = op->builtin == TFL_UNIDIRECTIONAL_SEQUENCE_LSTM;
        if (lstm && op->n_in != 24) {
            return tl_tfl_fail(r, TL_ERR_FORMAT, "needs 24 inputs, has %u", op->n_in);
        }
        for (uint32_t k = 1; k < op->n_in && op->builtin != TFL_RESHAPE; ++k) {
            const int variant = lstm && ((k >= 9 && k < 12) || k == 16 || k == 17 || k >= 20);
            const int may_miss = variant || (!lstm && k == 2);
            if (variant && op->in[k] >= 0) {
                return tl_tfl_fail(r, TL_ERR_UNSUPPORTED, "peephole, projection and layer-norm LSTMs are not supported");
            }
            if (op->in[k] < 0 ? !may_miss : !m->v[op->in[k]]) {
                return tl_tfl_fail(r, TL_ERR_UNSUPPORTED, "input %u must be a float32 tensor", k);
            }
        }
        if (op->builtin == TFL_UNIDIRECTIONAL_SEQUENCE_LSTM &&
            (T(m, op->in[0])->rank != 3 || T(m, op->out)->rank != 3 || T(m, op->out)->dims[2] > 256 ||
             opt_u8(m, op, 0, 0) != TFL_ACT_TANH)) {
            return tl_tfl_fail(r, TL_ERR_UNSUPPORTED, "an LSTM of a 3-D input, at most 256 units, tanh");
        }
        op->cell_lo = INFINITY;
        op->cell_hi = -INFINITY;
    }
    r->op_index = -1;
    return TL_OK;
}

/* Runs the float model on one sample: states from zero, ranges widened. */
static void run_sample(fmodel *m, const float *sample)
{
    for (uint32_t i = 0; i < m->n; ++i) {
        if (m->t[i].variable && m->v[i]) {
            memset(m->v[i], 0, tl_tfl_elements(&m->t[i]) * sizeof(float));
        }
    }
    memcpy(m->v[m->input], sample, tl_tfl_elements(T(m, m->input)) * sizeof(float));
    for (uint32_t i = 0; i < m->op_count; ++i) {
        run_op(m, &m->ops[i]);
    }
    for (uint32_t i = 0; i < m->n; ++i) {
        if (!m->v[i] || m->t[i].data) {
            continue;
        }
        const uint64_t n = tl_tfl_elements(&m->t[i]);
        for (uint64_t k = 0; k < n; ++k) {
            const float v = m->v[i][k];
            m->lo[i] = v < m->lo[i] ? v : m->lo[i];
            m->hi[i] = v > m->hi[i] ? v : m->hi[i];
        }
    }
}

/* ---- the quantised graph ---- */

typedef struct qbuild {
    fmodel *m;
    tl_graph *g;
    int32_t *map;                /* TFLite tensor -> graph int8 tensor */
} qbuild;

/* Asymmetric int8 parameters covering [lo, hi] and zero. */
static void range_quant(float lo, float hi, float *scale, int32_t *zp)
{
    lo = lo < 0 ? lo : 0;
    hi = hi > 0 ? hi : 0;
    if (!(hi - lo > 1e-8f)) {
        hi = lo + 1e-8f;
    }
    *scale = (hi - lo) / 255.0f;
    const float z = roundf(-128.0f - lo / *scale);
    *zp = z < -128 ? -128 : (z > 127 ? 127 : (int32_t)z);
}

static int32_t int8_tensor(qbuild *q, int32_t index, float scale, int32_t zp)
{
    if (q->map[index] >= 0) {
        return q->map[index];
    }
    const tl_tfl_tensor *t = T(q->m, index);
    const int32_t gi = tl_graph_add_activation(q->g, t->name, t->rank, t->dims, scale, zp);
    q->map[index] = gi;
    return gi;
}

static int32_t calibrated(qbuild *q, int32_t index)
{
    float scale;
    int32_t zp;
    range_quant(q->m->lo[index], q->m->hi[index], &scale, &zp);
    return int8_tensor(q, index, scale, zp);
}

/* A float graph tensor beside an int8 one, and the op between them. */
static tl_status float_edge(qbuild *q, int32_t int8_index, const char *name, int dequantize, int32_t *float_index)
{
    tl_tensor_rec rec = q->g->tensors[int8_index].rec;
    rec.dtype = TL_DTYPE_FLOAT32;
    rec.data_size *= 4;
    rec.zero_point = 0;
    const int32_t f = tl_graph_add_tensor(q->g, name, &rec, NULL, NULL, 0);
    if (f < 0) {
        return TL_ERR_NOMEM;
    }
    const tl_tensor_rec *qt = &q->g->tensors[int8_index].rec;
    tl_op_rec op;
    memset(&op, 0, sizeof op);
    op.opcode = dequantize ? TL_OP_DEQUANTIZE : TL_OP_QUANTIZE;
    op.input_count = 1;
    op.inputs[0] = (uint16_t)(dequantize ? int8_index : f);
    op.inputs[1] = op.inputs[2] = TL_NO_TENSOR;
    op.output = (uint16_t)(dequantize ? f : int8_index);
    op.act_min = -128;
    op.act_max = 127;
    op.input_offset = dequantize ? -qt->zero_point : 0;
    op.output_offset = dequantize ? 0 : qt->zero_point;
    memcpy(&op.p[TL_QUANTIZE_SCALE_BITS], &qt->scale, sizeof(float));
    *float_index = f;
    return tl_graph_add_op(q->g, &op, NULL, NULL, 0) < 0 ? TL_ERR_NOMEM : TL_OK;
}

/* Symmetric int8 of `count` values in `channels` rows: scale per row. */
static void symmetric(const float *w, uint64_t count, uint32_t channels, int channel_last, int8_t *out, float *scales)
{
    const uint64_t per = count / channels;
    for (uint32_t c = 0; c < channels; ++c) {
        float max = 0;
        for (uint64_t k = 0; k < per; ++k) {
            const float v = fabsf(w[channel_last ? k * channels + c : c * per + k]);
            max = v > max ? v : max;
        }
        scales[c] = max > 0 ? max / 127.0f : 1.0f;
    }
    for (uint64_t i = 0; i < count; ++i) {
        const uint32_t c = channel_last ? (uint32_t)(i % channels) : (uint32_t)(i / per);
        const float v = roundf(w[i] / scales[c]);
        out[i] = (int8_t)(v < -127 ? -127 : (v > 127 ? 127 : v));
    }
}

static int32_t bias_q(float b, float scale)
{
    const double v = round((double)b / (double)scale);
    return v < -2147483647.0 ? -2147483647 : (v > 2147483647.0 ? 2147483647 : (int32_t)v);
}

static uint8_t our_activation(uint8_t tfl)
{
    switch (tfl) {
    case 1: return TL_ACT_RELU;
    case 2: return TL_ACT_RELU_N1_TO_1;
    case 3: return TL_ACT_RELU6;
    default: return TL_ACT_NONE;
    }
}

static tl_status quantise_conv(qbuild *q, const fop *op, int32_t in, int32_t out)
{
    fmodel *m = q->m;
    const int fc = op->builtin == TFL_FULLY_CONNECTED, dw = op->builtin == TFL_DEPTHWISE_CONV_2D;
    const tl_tfl_tensor *w = T(m, op->in[1]);
    const uint64_t count = tl_tfl_elements(w);
    const uint32_t out_c = dw ? w->dims[3] : w->dims[0];
    int8_t *wq = malloc(count);
    float *scales = malloc(out_c * sizeof *scales);
    int32_t *bias = calloc(out_c, sizeof *bias);
    if (!wq || !scales || !bias) {
        free(wq);
        free(scales);
        free(bias);
        return TL_ERR_NOMEM;
    }
    symmetric(m->v[op->in[1]], count, out_c, dw, wq, scales);
    const float in_scale = q->g->tensors[in].rec.scale;
    const float *b = op->n_in > 2 && op->in[2] >= 0 ? m->v[op->in[2]] : NULL;
    for (uint32_t c = 0; c < out_c; ++c) {
        bias[c] = b ? bias_q(b[c], in_scale * scales[c]) : 0;
    }
    tl_conv_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.opcode = fc ? TL_OP_FULLY_CONNECTED : dw ? TL_OP_DEPTHWISE_CONV_2D : TL_OP_CONV_2D;
    spec.weight_dtype = TL_DTYPE_INT8;
    spec.activation = our_activation(opt_u8(m, op, fc ? 0 : dw ? 4 : 3, 0));
    spec.same_padding = !fc && opt_u8(m, op, 0, 0) == 0;
    spec.stride_w = fc ? 1 : (uint32_t)opt_i32(m, op, 1, 1);
    spec.stride_h = fc ? 1 : (uint32_t)opt_i32(m, op, 2, 1);
    spec.dilation_w = fc ? 1 : (uint32_t)opt_i32(m, op, dw ? 5 : 4, 1);
    spec.dilation_h = fc ? 1 : (uint32_t)opt_i32(m, op, dw ? 6 : 5, 1);
    spec.k_h = fc ? 1 : w->dims[1];
    spec.k_w = fc ? 1 : w->dims[2];
    spec.weights = wq;
    spec.filter_scales = scales;
    spec.scale_count = out_c;
    spec.bias = bias;
    char why[128];
    const int32_t index = tl_graph_add_conv(q->g, (uint16_t)in, (uint16_t)out, &spec, why, sizeof why);
    free(wq);
    free(scales);
    free(bias);
    return index < 0 ? tl_tfl_fail(&m->r, TL_ERR_QUANT, "%s", why) : TL_OK;
}

static tl_status quantise_lstm(qbuild *q, const fop *op, int32_t in, int32_t out)
{
    fmodel *m = q->m;
    const tl_tfl_tensor *x = T(m, op->in[0]), *y = T(m, op->out);
    tl_lstm_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.time_major = opt_u8(m, op, 3, 0) != 0;
    spec.batches = spec.time_major ? x->dims[1] : x->dims[0];
    spec.n_input = x->dims[2];
    spec.n_state = y->dims[2];
    const uint64_t nx = (uint64_t)spec.n_state * spec.n_input, nh = (uint64_t)spec.n_state * spec.n_state;
    int8_t *w = malloc(4 * (nx + nh));
    int32_t *bias = malloc(4 * spec.n_state * sizeof *bias);
    if (!w || !bias) {
        free(w);
        free(bias);
        return TL_ERR_NOMEM;
    }
    const tl_tensor_rec *out_rec = &q->g->tensors[out].rec, *in_rec = &q->g->tensors[in].rec;
    for (int g = 0; g < 4; ++g) {
        symmetric(m->v[op->in[LSTM_WX + g]], nx, 1, 0, w + g * nx, &spec.input_weight_scales[g]);
        symmetric(m->v[op->in[LSTM_WH + g]], nh, 1, 0, w + 4 * nx + g * nh, &spec.recurrent_weight_scales[g]);
        for (uint32_t o = 0; o < spec.n_state; ++o) {
            bias[g * spec.n_state + o] = bias_q(m->v[op->in[LSTM_B + g]][o], in_rec->scale * spec.input_weight_scales[g]);
        }
    }
    spec.input_weights = w;
    spec.recurrent_weights = w + 4 * nx;
    spec.bias = bias;
    spec.hidden_scale = out_rec->scale; /* the output is the hidden state */
    spec.hidden_zero_point = out_rec->zero_point;
    /* The cell at the smallest power-of-two scale that holds its range. */
    const float cell_max = fmaxf(fabsf(op->cell_lo), fabsf(op->cell_hi));
    spec.cell_scale = ldexpf(1.0f, (int)ceilf(log2f(fmaxf(cell_max, 1e-6f) / 32767.0f)));
    spec.cell_clip = opt_f32(m, op, 1, 0.0f);
    spec.name = y->name;
    char why[128];
    uint16_t hidden;
    const int32_t index = tl_graph_add_lstm(q->g, (uint16_t)in, (uint16_t)out, &spec, &hidden, why, sizeof why);
    free(w);
    free(bias);
    return index < 0 ? tl_tfl_fail(&m->r, TL_ERR_QUANT, "%s", why) : TL_OK;
}

static tl_status quantise_op(qbuild *q, const fop *op)
{
    fmodel *m = q->m;
    const int32_t in = q->map[op->in[0]];
    const tl_tensor_rec *in_rec = &q->g->tensors[in].rec;
    int32_t out;
    switch (op->builtin) {
    case TFL_FULLY_CONNECTED:
    case TFL_CONV_2D:
    case TFL_DEPTHWISE_CONV_2D:
        return (out = calibrated(q, op->out)) < 0 ? TL_ERR_NOMEM : quantise_conv(q, op, in, out);
    case TFL_UNIDIRECTIONAL_SEQUENCE_LSTM:
        return (out = calibrated(q, op->out)) < 0 ? TL_ERR_NOMEM : quantise_lstm(q, op, in, out);
    case TFL_AVERAGE_POOL_2D:
    case TFL_MAX_POOL_2D: {
        /* Pooling keeps its input's quantisation (TFLite requires it). */
        out = int8_tensor(q, op->out, in_rec->scale, in_rec->zero_point);
        const int avg = op->builtin == TFL_AVERAGE_POOL_2D;
        return out < 0 || tl_graph_add_pool(q->g, avg ? TL_OP_AVERAGE_POOL_2D : TL_OP_MAX_POOL_2D, (uint16_t)in,
                                             (uint16_t)out, (uint32_t)opt_i32(m, op, 4, 1), (uint32_t)opt_i32(m, op, 3, 1),
                                             (uint32_t)opt_i32(m, op, 2, 1), (uint32_t)opt_i32(m, op, 1, 1),
                                             opt_u8(m, op, 0, 0) == 0, our_activation(opt_u8(m, op, 5, 0))) < 0
                   ? tl_tfl_fail(&m->r, TL_ERR_QUANT, "cannot build the pooling")
                   : TL_OK;
    }
    case TFL_RESHAPE:
        out = int8_tensor(q, op->out, in_rec->scale, in_rec->zero_point);
        return out < 0 || tl_graph_add_reshape(q->g, (uint16_t)in, (uint16_t)out) < 0 ? TL_ERR_NOMEM : TL_OK;
    case TFL_SOFTMAX:
        out = int8_tensor(q, op->out, 1.0f / 256, -128);
        return out < 0 || tl_graph_add_softmax(q->g, (uint16_t)in, (uint16_t)out, opt_f32(m, op, 0, 1.0f)) < 0
                   ? tl_tfl_fail(&m->r, TL_ERR_QUANT, "its input range gives a softmax multiplier out of range")
                   : TL_OK;
    case TFL_ADD: {
        const int32_t in2 = q->map[op->in[1]];
        out = calibrated(q, op->out);
        return out < 0 || in2 < 0 ||
                       tl_graph_add_add(q->g, (uint16_t)in, (uint16_t)in2, (uint16_t)out,
                                        our_activation(opt_u8(m, op, 0, 0))) < 0
                   ? tl_tfl_fail(&m->r, TL_ERR_QUANT, "its ranges give ADD constants out of range")
                   : TL_OK;
    }
    case TFL_LOGISTIC:
    case TFL_TANH: {
        const int logistic = op->builtin == TFL_LOGISTIC;
        out = int8_tensor(q, op->out, logistic ? 1.0f / 256 : 1.0f / 128, logistic ? -128 : 0);
        tl_op_rec rec;
        memset(&rec, 0, sizeof rec);
        rec.opcode = logistic ? TL_OP_LOGISTIC : TL_OP_TANH;
        rec.input_count = 1;
        rec.inputs[0] = (uint16_t)in;
        rec.inputs[1] = rec.inputs[2] = TL_NO_TENSOR;
        rec.output = (uint16_t)out;
        rec.act_min = -128;
        rec.act_max = 127;
        rec.input_offset = -in_rec->zero_point;
        if (out < 0 || tl_sigmoid_constants(in_rec->scale, &rec.p[TL_SIGMOID_MULT], &rec.p[TL_SIGMOID_SHIFT],
                                            &rec.p[TL_SIGMOID_RADIUS]) != TL_OK) {
            return tl_tfl_fail(&m->r, TL_ERR_QUANT, "its input range gives constants out of range");
        }
        return tl_graph_add_op(q->g, &rec, NULL, NULL, 0) < 0 ? TL_ERR_NOMEM : TL_OK;
    }
    default:
        return TL_ERR_UNSUPPORTED;
    }
}

static tl_status build_graph(fmodel *m, tl_graph *g)
{
    qbuild q = { m, g, malloc(m->n * sizeof(int32_t)) };
    if (!q.map) {
        return tl_tfl_fail(&m->r, TL_ERR_NOMEM, "out of memory");
    }
    for (uint32_t i = 0; i < m->n; ++i) {
        q.map[i] = -1;
    }
    tl_status s = TL_OK;
    int32_t f;
    const int32_t in = calibrated(&q, m->input);
    if (in < 0 || float_edge(&q, in, T(m, m->input)->name, 0, &f) != TL_OK) {
        s = tl_tfl_fail(&m->r, TL_ERR_NOMEM, "out of memory");
    } else {
        g->inputs[g->input_count++] = (uint16_t)f;
    }
    for (uint32_t i = 0; i < m->op_count && s == TL_OK; ++i) {
        m->r.op_index = (int32_t)i;
        snprintf(m->r.op_name, sizeof m->r.op_name, "%s", m->ops[i].name);
        if (q.map[m->ops[i].in[0]] < 0) {
            s = tl_tfl_fail(&m->r, TL_ERR_UNSUPPORTED, "its input is a constant");
            break;
        }
        s = quantise_op(&q, &m->ops[i]);
    }
    m->r.op_index = -1;
    char name[160];
    snprintf(name, sizeof name, "%s/float", T(m, m->output)->name);
    if (s == TL_OK && (q.map[m->output] < 0 || float_edge(&q, q.map[m->output], name, 1, &f) != TL_OK)) {
        s = tl_tfl_fail(&m->r, TL_ERR_FORMAT, "the model's output is produced by no operator");
    }
    if (s == TL_OK) {
        g->outputs[g->output_count++] = (uint16_t)f;
        if (tl_graph_add_exit(g, (uint16_t)f, g->op_count) != TL_OK ||
            tl_graph_set_meta(g, "source_format", "tflite-float") != TL_OK) {
            s = tl_tfl_fail(&m->r, TL_ERR_NOMEM, "out of memory");
        }
    }
    free(q.map);
    return s;
}

/* ---- the report: the int8 model against the float one ---- */

static tl_status compare(fmodel *m, const tl_graph *g, const float *samples, uint32_t count, const float *want,
                         tl_calibration_report *report)
{
    uint8_t *bytes = NULL;
    size_t size = 0;
    tl_status s = tl_graph_serialize(g, &bytes, &size);
    tl_model model;
    if (s == TL_OK) {
        s = tl_model_load(&model, bytes, size, 0);
    }
    const uint32_t arena_size = s == TL_OK ? tl_model_arena_size(&model) : 0;
    uint8_t *arena = s == TL_OK ? aligned_alloc(16, (arena_size + 15) / 16 * 16 + 16) : NULL;
    tl_interp it;
    if (s == TL_OK && (!arena || tl_interp_init(&it, &model, arena, arena_size) != TL_OK)) {
        s = TL_ERR_NOMEM;
    }
    const uint64_t in_n = tl_tfl_elements(T(m, m->input)), out_n = tl_tfl_elements(T(m, m->output));
    double sum = 0, max = 0, range_lo = INFINITY, range_hi = -INFINITY;
    uint32_t agree = 0;
    for (uint32_t k = 0; k < count && s == TL_OK; ++k) {
        tl_interp_reset_state(&it);
        memcpy(tl_interp_input(&it, 0, NULL), samples + k * in_n, in_n * sizeof(float));
        s = tl_interp_invoke(&it);
        const float *got = (const float *)(const void *)tl_interp_output(&it, 0, NULL);
        const float *ref = want + k * out_n;
        uint64_t top_got = 0, top_ref = 0;
        for (uint64_t i = 0; s == TL_OK && i < out_n; ++i) {
            const double d = fabs((double)got[i] - ref[i]);
            sum += d;
            max = d > max ? d : max;
            range_lo = ref[i] < range_lo ? ref[i] : range_lo;
            range_hi = ref[i] > range_hi ? ref[i] : range_hi;
            top_got = got[i] > got[top_got] ? i : top_got;
            top_ref = ref[i] > ref[top_ref] ? i : top_ref;
        }
        agree += top_got == top_ref;
    }
    if (s == TL_OK) {
        report->samples = count;
        report->outputs = (uint32_t)out_n;
        report->mean_abs_diff = sum / ((double)count * (double)out_n);
        report->max_abs_diff = max;
        report->output_lo = range_lo;
        report->output_hi = range_hi;
        report->top1_agreement = out_n > 1 ? (double)agree / count : -1.0;
    }
    free(arena);
    free(bytes);
    return s == TL_OK ? TL_OK : tl_tfl_fail(&m->r, s, "the quantised model does not run: %s", tl_status_str(s));
}

tl_status tl_import_tflite_calibrated(const uint8_t *data, size_t size, const float *samples, uint64_t values,
                                      tl_graph *g, tl_calibration_report *report, char *error, size_t error_size)
{
    if (!data || !g || !report || (!samples && values)) {
        return TL_ERR_ARG;
    }
    memset(g, 0, sizeof *g);
    memset(report, 0, sizeof *report);
    fmodel m;
    memset(&m, 0, sizeof m);
    tl_status s = read_model(&m, data, size, error, error_size);
    const uint64_t in_n = s == TL_OK ? tl_tfl_elements(T(&m, m.input)) : 1;
    const uint32_t count = (uint32_t)(values / in_n);
    if (s == TL_OK && (values == 0 || values % in_n != 0 || values / in_n > 1000000)) {
        s = tl_tfl_fail(&m.r, TL_ERR_SHAPE, "%llu calibration values are not a whole number of the model's inputs "
                        "(%llu values each)", (unsigned long long)values, (unsigned long long)in_n);
    }
    const uint64_t out_n = s == TL_OK ? tl_tfl_elements(T(&m, m.output)) : 0;
    float *want = s == TL_OK ? malloc((size_t)(count * out_n) * sizeof(float)) : NULL;
    if (s == TL_OK && !want) {
        s = tl_tfl_fail(&m.r, TL_ERR_NOMEM, "out of memory");
    }
    for (uint32_t k = 0; k < count && s == TL_OK; ++k) {
        run_sample(&m, samples + k * in_n);
        memcpy(want + k * out_n, m.v[m.output], out_n * sizeof(float));
    }
    if (s == TL_OK) {
        s = build_graph(&m, g);
    }
    if (s == TL_OK) {
        s = compare(&m, g, samples, count, want, report);
    }
    free(want);
    free_model(&m);
    if (s != TL_OK) {
        tl_graph_free(g);
        memset(g, 0, sizeof *g);
    }
    return s;
}
