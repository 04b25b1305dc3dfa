/* export.c - from a trained float network to a device model (.tlm graph).
 *
 * Post-training quantisation as TFLite does it: per-output-channel
 * symmetric weights, asymmetric int8 activations whose ranges come from
 * float forward passes over calibration images, int32 biases at scale
 * input_scale * weight_scale. Batch norm is folded into the convolution in
 * front of it and ReLU/ReLU6 into the op producing its input, so a
 * conv -> BN -> ReLU chain is one device operator. The graph is built
 * through the builder (src/convert/builder.c), which computes the integer
 * constants exactly as the device runtime expects them.
 *
 * The device input is int8 = pixel - 128: the input tensor's scale is
 * 1 / (255 * std) and its zero point 255 * mean - 128 (rounded), which maps
 * the training normalisation (p / 255 - mean) / std onto it.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tinylarge/convert.h"
#include "tinylarge/device.h"
#include "tinylarge/host.h"
#include "tinylarge/large.h"
#include "util.h"

#define BN_EPS 1e-5f

#define fail tl_fail

static const char *layer_name(tl_layer_kind kind)
{
    static const char *const names[TL_LAYER_COUNT_] = {
        "input", "conv", "depthwise conv", "dense", "batch norm", "relu", "relu6", "max pool",
        "average pool", "global average pool", "add", "dropout"
    };
    return kind < TL_LAYER_COUNT_ ? names[kind] : "?";
}

/* Calibration: the range of every node's output over float forward passes. */
static tl_status calibrate(tl_net *net, const tl_dataset *ds, int images, float mean, float std,
                           float *lo, float *hi)
{
    const size_t sample = (size_t)ds->h * ds->w * ds->c;
    float *x = malloc((size_t)net->batch * sample * sizeof(float));
    uint8_t *y = malloc((size_t)net->batch);
    if (!x || !y) {
        free(x);
        free(y);
        return TL_ERR_NOMEM;
    }
    for (int i = 0; i < net->count; ++i) {
        lo[i] = INFINITY;
        hi[i] = -INFINITY;
    }
    const int saved = net->training;
    net->training = 0;
    const int n = images < ds->n ? images : ds->n;
    for (int first = 0; first < n; first += net->batch) {
        const int count = n - first < net->batch ? n - first : net->batch;
        tl_dataset_batch(ds, NULL, first, count, mean, std, 0, 0, NULL, x, y);
        tl_net_forward(net, x, count);
        for (int i = 0; i < net->count; ++i) {
            const tl_node *node = &net->nodes[i];
            const size_t size = (size_t)count * node->h * node->w * node->c;
            for (size_t k = 0; k < size; ++k) {
                lo[i] = node->out[k] < lo[i] ? node->out[k] : lo[i];
                hi[i] = node->out[k] > hi[i] ? node->out[k] : hi[i];
            }
        }
    }
    net->training = saved;
    free(x);
    free(y);
    return TL_OK;
}

/* Asymmetric int8 quantisation of [lo, hi] (always containing 0). */
static void activation_quant(float lo, float hi, float *scale, int32_t *zero_point)
{
    lo = lo < 0 ? lo : 0;
    hi = hi > 0 ? hi : 0;
    float s = (hi - lo) / 255.0f;
    s = s > 1e-8f ? s : 1e-8f;
    long zp = lroundf(-128.0f - lo / s);
    zp = zp < -128 ? -128 : (zp > 127 ? 127 : zp);
    *scale = s;
    *zero_point = (int32_t)zp;
}

static int readers(const tl_net *net, int node)
{
    int n = 0;
    for (int i = 1; i < net->count; ++i) {
        n += net->nodes[i].in[0] == node;
        n += net->nodes[i].in[1] == node;
    }
    return n;
}

/* The single node reading `node`, or -1. */
static int only_reader(const tl_net *net, int node)
{
    if (readers(net, node) != 1) {
        return -1;
    }
    for (int i = 1; i < net->count; ++i) {
        if (net->nodes[i].in[0] == node || net->nodes[i].in[1] == node) {
            return i;
        }
    }
    return -1;
}

static int is_exit(const tl_net *net, int node)
{
    for (int e = 0; e < net->exit_count; ++e) {
        if (net->exits[e] == node) {
            return 1;
        }
    }
    return 0;
}

typedef struct exporter {
    tl_net *net;
    tl_graph *g;
    int *tensor;                /* device tensor holding each node's output, or -1 */
    int *fused;                 /* 1: folded into an earlier node's operator */
    const float *lo, *hi;
    const tl_export_options *opt;
    char *error;
    size_t error_size;
} exporter;

static int new_tensor(exporter *ex, int node, const char *suffix)
{
    const tl_node *n = &ex->net->nodes[node];
    float scale;
    int32_t zp;
    activation_quant(ex->lo[node], ex->hi[node], &scale, &zp);
    char name[64];
    snprintf(name, sizeof name, "n%d_%s%s", node, layer_name(n->kind), suffix);
    const uint32_t dims[4] = { 1, (uint32_t)n->h, (uint32_t)n->w, (uint32_t)n->c };
    const uint32_t flat[2] = { 1, (uint32_t)n->c };
    const int vector = n->h == 1 && n->w == 1 && (n->kind == TL_LAYER_DENSE);
    return tl_graph_add_activation(ex->g, name, vector ? 2 : 4, vector ? flat : dims, scale, zp);
}

/* conv / depthwise / dense, with a following batch norm folded in and a
 * following ReLU / ReLU6 fused. */
static tl_status export_conv(exporter *ex, int i)
{
    tl_net *net = ex->net;
    const tl_node *n = &net->nodes[i];
    const int out_c = n->c;
    const size_t count = n->weight_count;
    const size_t per = count / (size_t)out_c;
    float *w = malloc(count * sizeof(float));
    float *b = malloc((size_t)out_c * sizeof(float));
    int8_t *q = malloc(count);
    float *scales = malloc((size_t)out_c * sizeof(float));
    int32_t *bias = malloc((size_t)out_c * sizeof(int32_t));
    if (!w || !b || !q || !scales || !bias) {
        free(w); free(b); free(q); free(scales); free(bias);
        return fail(ex->error, ex->error_size, TL_ERR_NOMEM, "out of memory");
    }
    memcpy(w, net->params + n->weight_at, count * sizeof(float));
    memcpy(b, net->params + n->bias_at, (size_t)out_c * sizeof(float));
    int last = i;
    /* Fold y = gamma (x - mean) / sqrt(var + eps) + beta into w and b. */
    int next = only_reader(net, i);
    if (next > 0 && net->nodes[next].kind == TL_LAYER_BATCHNORM && !is_exit(net, i)) {
        const tl_node *bn = &net->nodes[next];
        const float *gamma = net->params + bn->weight_at, *beta = net->params + bn->bias_at;
        for (int c = 0; c < out_c; ++c) {
            const float k = gamma[c] / sqrtf(bn->running_var[c] + BN_EPS);
            if (n->kind == TL_LAYER_DWCONV) {
                for (size_t t = 0; t < per; ++t) {
                    w[t * (size_t)out_c + c] *= k; /* 1HWC: channel innermost */
                }
            } else {
                for (size_t t = 0; t < per; ++t) {
                    w[(size_t)c * per + t] *= k;
                }
            }
            b[c] = (b[c] - bn->running_mean[c]) * k + beta[c];
        }
        ex->fused[next] = 1;
        last = next;
        next = only_reader(net, next);
    }
    uint8_t activation = TL_ACT_NONE;
    if (next > 0 && !is_exit(net, last) &&
        (net->nodes[next].kind == TL_LAYER_RELU || net->nodes[next].kind == TL_LAYER_RELU6)) {
        activation = net->nodes[next].kind == TL_LAYER_RELU ? TL_ACT_RELU : TL_ACT_RELU6;
        ex->fused[next] = 1;
        last = next;
    }
    /* Weights: per output channel, symmetric. */
    const int int4 = ex->opt->weight_dtype == TL_DTYPE_INT4 && n->kind != TL_LAYER_DWCONV;
    const float qmax = int4 ? 7.0f : 127.0f;
    for (int c = 0; c < out_c; ++c) {
        float m = 0;
        for (size_t t = 0; t < per; ++t) {
            const size_t at = n->kind == TL_LAYER_DWCONV ? t * (size_t)out_c + c : (size_t)c * per + t;
            m = fabsf(w[at]) > m ? fabsf(w[at]) : m;
        }
        scales[c] = m > 0 ? m / qmax : 1e-8f;
        for (size_t t = 0; t < per; ++t) {
            const size_t at = n->kind == TL_LAYER_DWCONV ? t * (size_t)out_c + c : (size_t)c * per + t;
            long v = lroundf(w[at] / scales[c]);
            q[at] = (int8_t)(v < -qmax ? -qmax : (v > qmax ? qmax : v));
        }
    }
    const tl_tensor_rec *in_t = &ex->g->tensors[ex->tensor[n->in[0]]].rec;
    for (int c = 0; c < out_c; ++c) {
        const double v = round((double)b[c] / ((double)in_t->scale * (double)scales[c]));
        bias[c] = (int32_t)(v > 1e9 ? 1e9 : (v < -1e9 ? -1e9 : v));
    }
    const int out = new_tensor(ex, last, "");
    tl_conv_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.opcode = n->kind == TL_LAYER_CONV ? TL_OP_CONV_2D
                : n->kind == TL_LAYER_DWCONV ? TL_OP_DEPTHWISE_CONV_2D : TL_OP_FULLY_CONNECTED;
    spec.weight_dtype = n->kind == TL_LAYER_DWCONV ? TL_DTYPE_INT8 : ex->opt->weight_dtype;
    if (spec.weight_dtype == TL_DTYPE_SPARSE_INT8) {
        spec.weight_dtype = TL_DTYPE_SMALLEST_SPARSE; /* per tensor: CSR, bitmap or dense, whichever is smallest */
    }
    spec.activation = activation;
    spec.same_padding = n->same;
    spec.stride_h = (uint32_t)n->stride_h;
    spec.stride_w = (uint32_t)n->stride_w;
    spec.dilation_h = spec.dilation_w = 1;
    spec.k_h = (uint32_t)n->k_h;
    spec.k_w = (uint32_t)n->k_w;
    spec.weights = q;
    spec.filter_scales = scales;
    spec.scale_count = (uint32_t)out_c;
    spec.bias = bias;
    char why[128] = "";
    const int op = out < 0 ? -1 : tl_graph_add_conv(ex->g, (uint16_t)ex->tensor[n->in[0]], (uint16_t)out, &spec,
                                                    why, sizeof why);
    free(w); free(b); free(q); free(scales); free(bias);
    if (op < 0) {
        return fail(ex->error, ex->error_size, TL_ERR_QUANT, "node %d (%s): %s", i, layer_name(n->kind), why);
    }
    for (int k = i; k <= last; ++k) {
        ex->tensor[k] = out;
    }
    return TL_OK;
}

tl_status tl_export_net(tl_net *net, const tl_checkpoint_info *info, const tl_dataset *calibration,
                        const tl_export_options *options, tl_graph *g, char *error, size_t error_size)
{
    tl_export_options defaults = { 500, TL_DTYPE_INT8 };
    const tl_export_options *opt = options ? options : &defaults;
    memset(g, 0, sizeof *g);
    float *lo = malloc((size_t)net->count * sizeof(float));
    float *hi = malloc((size_t)net->count * sizeof(float));
    int *tensor = malloc((size_t)net->count * sizeof(int));
    int *fused = calloc((size_t)net->count, sizeof(int));
    if (!lo || !hi || !tensor || !fused) {
        free(lo); free(hi); free(tensor); free(fused);
        return fail(error, error_size, TL_ERR_NOMEM, "out of memory");
    }
    tl_status s = calibrate(net, calibration, opt->calibration_images > 0 ? opt->calibration_images : 500,
                            info->mean, info->std, lo, hi);
    exporter ex = { net, g, tensor, fused, lo, hi, opt, error, error_size };
    for (int i = 0; i < net->count; ++i) {
        tensor[i] = -1;
    }
    /* The input: int8 = pixel - 128 (see the file comment). */
    if (s == TL_OK) {
        const tl_node *in = &net->nodes[0];
        const uint32_t dims[4] = { 1, (uint32_t)in->h, (uint32_t)in->w, (uint32_t)in->c };
        tensor[0] = tl_graph_add_activation(g, "input", 4, dims, 1.0f / (255.0f * info->std),
                                            (int32_t)lroundf(255.0f * info->mean - 128.0f));
        g->inputs[g->input_count++] = (uint16_t)tensor[0];
    }
    for (int i = 1; s == TL_OK && i < net->count; ++i) {
        const tl_node *n = &net->nodes[i];
        if (fused[i]) {
            continue;
        }
        switch (n->kind) {
        case TL_LAYER_CONV:
        case TL_LAYER_DWCONV:
        case TL_LAYER_DENSE:
            s = export_conv(&ex, i);
            break;
        case TL_LAYER_DROPOUT:
            tensor[i] = tensor[n->in[0]]; /* identity at inference */
            break;
        case TL_LAYER_MAXPOOL:
        case TL_LAYER_AVGPOOL:
        case TL_LAYER_GLOBAL_AVGPOOL: {
            /* Pooling keeps its input's quantisation (TFLite requires it). */
            const tl_tensor_rec *src = &g->tensors[tensor[n->in[0]]].rec;
            const uint32_t dims[4] = { 1, (uint32_t)n->h, (uint32_t)n->w, (uint32_t)n->c };
            char name[48];
            snprintf(name, sizeof name, "n%d_%s", i, layer_name(n->kind));
            const int out = tl_graph_add_activation(g, name, 4, dims, src->scale, src->zero_point);
            const int global = n->kind == TL_LAYER_GLOBAL_AVGPOOL;
            const tl_node *from = &net->nodes[n->in[0]];
            const int op = out < 0 ? -1 : tl_graph_add_pool(
                g, n->kind == TL_LAYER_MAXPOOL ? TL_OP_MAX_POOL_2D : TL_OP_AVERAGE_POOL_2D, (uint16_t)tensor[n->in[0]],
                (uint16_t)out, (uint32_t)(global ? from->h : n->k_h), (uint32_t)(global ? from->w : n->k_w),
                (uint32_t)(global ? 1 : n->stride_h), (uint32_t)(global ? 1 : n->stride_w), 0, TL_ACT_NONE);
            if (op < 0) {
                s = fail(error, error_size, TL_ERR_UNSUPPORTED, "node %d (%s): window too large for the device", i,
                         layer_name(n->kind));
            }
            tensor[i] = out;
            break;
        }
        case TL_LAYER_ADD: {
            int last = i;
            uint8_t act = TL_ACT_NONE;
            const int next = only_reader(net, i);
            if (next > 0 && (net->nodes[next].kind == TL_LAYER_RELU || net->nodes[next].kind == TL_LAYER_RELU6)) {
                act = net->nodes[next].kind == TL_LAYER_RELU ? TL_ACT_RELU : TL_ACT_RELU6;
                fused[next] = 1;
                last = next;
            }
            const int out = new_tensor(&ex, last, "");
            if (out < 0 || tl_graph_add_add(g, (uint16_t)tensor[n->in[0]], (uint16_t)tensor[n->in[1]], (uint16_t)out,
                                            act) < 0) {
                s = fail(error, error_size, TL_ERR_QUANT, "node %d (add): scales out of the device's range", i);
            }
            tensor[i] = tensor[last] = out;
            break;
        }
        default:
            s = fail(error, error_size, TL_ERR_UNSUPPORTED,
                     "node %d (%s) cannot be exported: the device has no such operator on its own "
                     "(batch norm must follow a convolution, ReLU a convolution or add)", i, layer_name(n->kind));
            break;
        }
        /* Every exit ends in a softmax: the device's cascade reads probabilities. */
        if (s == TL_OK && is_exit(net, i)) {
            const uint32_t dims[2] = { 1, (uint32_t)n->c };
            char name[32];
            snprintf(name, sizeof name, "exit%d", i);
            const int probs = tl_graph_add_activation(g, name, 2, dims, 1.0f / 256.0f, -128);
            if (probs < 0 || tl_graph_add_softmax(g, (uint16_t)tensor[i], (uint16_t)probs, 1.0f) < 0 ||
                tl_graph_add_exit(g, (uint16_t)probs, g->op_count) != TL_OK) {
                s = fail(error, error_size, TL_ERR_QUANT, "node %d: cannot add its softmax exit", i);
            }
            if (i == net->exits[net->exit_count - 1]) {
                g->outputs[g->output_count++] = (uint16_t)probs;
            }
        }
    }
    if (s == TL_OK) {
        char text[64];
        /* Fashion-MNIST's names when the shape is its own; class numbers
         * for any other data (the data folder does not name its classes). */
        const int fashion = info->h == 28 && info->w == 28 && info->c == 1 && info->classes == 10;
        char labels[512] = "";
        for (int k = 0; !fashion && k < info->classes && strlen(labels) + 12 < sizeof labels; ++k) {
            snprintf(labels + strlen(labels), sizeof labels - strlen(labels), "%s%d", k ? "," : "", k);
        }
        s = tl_graph_set_meta(g, "task", fashion ? "Fashion-MNIST classification" : "image classification");
        if (s == TL_OK) s = tl_graph_set_meta(g, "architecture", info->arch);
        snprintf(text, sizeof text, "int8 = pixel - 128, %dx%dx%d", info->h, info->w, info->c);
        if (s == TL_OK) s = tl_graph_set_meta(g, "input", text);
        if (s == TL_OK) s = tl_graph_set_meta(g, "labels", fashion ? "T-shirt/top,Trouser,Pullover,Dress,Coat,Sandal,"
                                                                     "Shirt,Sneaker,Bag,Ankle boot" : labels);
        snprintf(text, sizeof text, "%.4f", (double)info->accuracy);
        if (s == TL_OK) s = tl_graph_set_meta(g, "float_accuracy", text);
    }
    if (s != TL_OK) {
        tl_graph_free(g);
    }
    free(lo); free(hi); free(tensor); free(fused);
    return s;
}

tl_status tl_runtime_accuracy(const uint8_t *buf, size_t size, const tl_dataset *ds, float *accuracy, int *exit_count)
{
    tl_model m;
    tl_status s = tl_model_load(&m, buf, size, 0);
    if (s != TL_OK) {
        return s;
    }
    uint8_t *arena = malloc(tl_model_arena_size(&m) + 1);
    tl_interp it;
    if (!arena || tl_interp_init(&it, &m, arena, tl_model_arena_size(&m)) != TL_OK) {
        free(arena);
        return TL_ERR_NOMEM;
    }
    const uint32_t exits = m.header->exit_count;
    long hits[16] = { 0 };
    const size_t sample = (size_t)ds->h * ds->w * ds->c;
    for (int i = 0; i < ds->n; ++i) {
        uint32_t n = 0;
        int8_t *in = tl_interp_input(&it, 0, &n);
        if (n != sample) {
            free(arena);
            return TL_ERR_SHAPE;
        }
        tl_dataset_device_input(ds, (uint32_t)i, in);
        for (uint32_t e = 0; e < exits && e < 16; ++e) {
            tl_exit_result r;
            if (tl_interp_run_to_exit(&it, e, &r) == TL_OK && r.top_class == ds->labels[i]) {
                ++hits[e];
            }
        }
    }
    for (uint32_t e = 0; e < exits && e < 16; ++e) {
        accuracy[e] = ds->n ? (float)hits[e] / (float)ds->n : 0.0f;
    }
    if (exit_count) {
        *exit_count = (int)exits;
    }
    free(arena);
    return TL_OK;
}

tl_status tl_runtime_cascade(const uint8_t *buf, size_t size, const tl_dataset *ds, float threshold,
                            tl_cascade_report *r)
{
    memset(r, 0, sizeof *r);
    r->threshold = threshold;
    tl_model m;
    tl_status s = tl_model_load(&m, buf, size, 0);
    if (s != TL_OK) {
        return s;
    }
    const uint32_t exits = m.header->exit_count < TL_MAX_EXITS ? m.header->exit_count : TL_MAX_EXITS;
    r->exits = (int)exits;
    for (uint32_t e = 0; e < exits; ++e) {
        for (uint32_t k = 0; k < m.exits[e].op_end; ++k) {
            r->macs[e] += tl_op_macs(&m, k);
        }
    }
    uint8_t *arena = malloc(tl_model_arena_size(&m) + 1);
    tl_interp it;
    if (!arena || tl_interp_init(&it, &m, arena, tl_model_arena_size(&m)) != TL_OK) {
        free(arena);
        return TL_ERR_NOMEM;
    }
    /* confidence is the top-1 probability in 1/65535ths */
    const double bar = threshold <= 0 ? 0 : threshold >= 1 ? 65536 : (double)threshold * 65535.0;
    long hits[TL_MAX_EXITS] = { 0 }, stops[TL_MAX_EXITS] = { 0 }, stop_hits[TL_MAX_EXITS] = { 0 }, right = 0;
    double macs = 0;
    const size_t sample = (size_t)ds->h * ds->w * ds->c;
    for (int i = 0; i < ds->n && s == TL_OK; ++i) {
        uint32_t n = 0;
        int8_t *in = tl_interp_input(&it, 0, &n);
        if (n != sample) {
            s = TL_ERR_SHAPE;
            break;
        }
        tl_dataset_device_input(ds, (uint32_t)i, in);
        int stopped = -1;
        for (uint32_t e = 0; e < exits; ++e) {
            tl_exit_result res;
            if ((s = tl_interp_run_to_exit(&it, e, &res)) != TL_OK) {
                break;
            }
            const int correct = res.top_class == ds->labels[i];
            hits[e] += correct;
            if (stopped < 0 && ((double)res.confidence >= bar || e + 1 == exits)) {
                stopped = (int)e; /* the device would stop here; run on to measure the rest */
                ++stops[e];
                stop_hits[e] += correct;
                right += correct;
                macs += (double)r->macs[e];
            }
        }
    }
    free(arena);
    if (s != TL_OK) {
        return s;
    }
    for (uint32_t e = 0; e < exits; ++e) {
        r->accuracy[e] = ds->n ? (float)hits[e] / (float)ds->n : 0;
        r->share[e] = ds->n ? (float)stops[e] / (float)ds->n : 0;
        r->stop_accuracy[e] = stops[e] ? (float)stop_hits[e] / (float)stops[e] : 0;
    }
    r->cascade_accuracy = ds->n ? (float)right / (float)ds->n : 0;
    r->mean_macs = ds->n ? macs / ds->n : 0;
    return TL_OK;
}
