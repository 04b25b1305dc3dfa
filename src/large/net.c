/* net.c - building a network: nodes, shapes, the flat parameter array,
 * He initialisation, and the named architectures the CLI trains.
 *
 * Invariant: nodes only read earlier nodes, so the node list is already an
 * execution order (forward runs it front to back, backward back to front).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tinylarge/large.h"
#include "conv_direct.h"
#include "util.h"

static int push(tl_net *net, tl_layer_kind kind, int in0, int in1)
{
    if (!net || in0 < 0 || in0 >= net->count || in1 >= net->count || net->params) {
        return -1;
    }
    if (net->count == net->capacity) {
        int cap = net->capacity ? 2 * net->capacity : 16;
        tl_node *grown = realloc(net->nodes, (size_t)cap * sizeof *grown);
        if (!grown) {
            return -1;
        }
        net->nodes = grown;
        net->capacity = cap;
    }
    tl_node *n = &net->nodes[net->count];
    memset(n, 0, sizeof *n);
    n->kind = kind;
    n->in[0] = in0;
    n->in[1] = in1;
    const tl_node *src = &net->nodes[in0];
    n->h = src->h;
    n->w = src->w;
    n->c = src->c;
    n->k_h = n->k_w = n->stride_h = n->stride_w = 1;
    return net->count++;
}

tl_status tl_net_init(tl_net *net, int h, int w, int c)
{
    if (!net || h < 1 || w < 1 || c < 1) {
        return TL_ERR_ARG;
    }
    memset(net, 0, sizeof *net);
    net->nodes = calloc(16, sizeof *net->nodes);
    if (!net->nodes) {
        return TL_ERR_NOMEM;
    }
    net->capacity = 16;
    net->count = 1;
    net->nodes[0].kind = TL_LAYER_INPUT;
    net->nodes[0].in[0] = net->nodes[0].in[1] = -1;
    net->nodes[0].h = h;
    net->nodes[0].w = w;
    net->nodes[0].c = c;
    return TL_OK;
}

void tl_net_free(tl_net *net)
{
    if (!net) {
        return;
    }
    for (int i = 0; i < net->count; ++i) {
        tl_node *n = &net->nodes[i];
        free(n->running_mean);
        free(n->running_var);
        free(n->saved_mean);
        free(n->saved_invstd);
        free(n->out);
        free(n->dout);
        free(n->argmax);
        free(n->mask);
    }
    free(net->nodes);
    free(net->params);
    free(net->grads);
    free(net->scratch);
    free(net->scratch2);
    free(net->direct_in);
    free(net->direct_w);
    memset(net, 0, sizeof *net);
}

/* Output size and leading padding of a window over `in` pixels. */
static int window(int in, int k, int stride, int same, int *pad)
{
    if (same) {
        const int out = (in + stride - 1) / stride;
        const int total = (out - 1) * stride + k - in;
        *pad = total > 0 ? total / 2 : 0;
        return out;
    }
    *pad = 0;
    return in < k ? 0 : (in - k) / stride + 1;
}

static int spatial(tl_net *net, tl_layer_kind kind, int in, int k, int stride, int same)
{
    if (k < 1 || stride < 1) {
        return -1;
    }
    const int i = push(net, kind, in, -1);
    if (i < 0) {
        return -1;
    }
    tl_node *n = &net->nodes[i];
    n->k_h = n->k_w = k;
    n->stride_h = n->stride_w = stride;
    n->same = same;
    n->h = window(net->nodes[in].h, k, stride, same, &n->pad_top);
    n->w = window(net->nodes[in].w, k, stride, same, &n->pad_left);
    if (n->h < 1 || n->w < 1) {
        --net->count;
        return -1;
    }
    return i;
}

int tl_net_conv(tl_net *net, int in, int out_c, int k, int stride, int same)
{
    if (net && net->conv_widths) {
        /* Building a channel-pruned net: the widths come from the list. */
        if (net->conv_width_next >= net->conv_width_count) {
            return -1;
        }
        out_c = net->conv_widths[net->conv_width_next++];
    }
    if (out_c < 1) {
        return -1;
    }
    const int i = spatial(net, TL_LAYER_CONV, in, k, stride, same);
    if (i >= 0) {
        tl_node *n = &net->nodes[i];
        n->weight_count = (size_t)out_c * k * k * net->nodes[in].c;
        n->bias_count = (size_t)out_c;
        n->c = out_c;
    }
    return i;
}

int tl_net_dwconv(tl_net *net, int in, int k, int stride, int same)
{
    const int i = spatial(net, TL_LAYER_DWCONV, in, k, stride, same);
    if (i >= 0) {
        tl_node *n = &net->nodes[i];
        n->weight_count = (size_t)k * k * n->c;
        n->bias_count = (size_t)n->c;
    }
    return i;
}

int tl_net_dense(tl_net *net, int in, int out)
{
    if (out < 1) {
        return -1;
    }
    const int i = push(net, TL_LAYER_DENSE, in, -1);
    if (i >= 0) {
        tl_node *n = &net->nodes[i];
        const tl_node *src = &net->nodes[in];
        n->weight_count = (size_t)out * src->h * src->w * src->c;
        n->bias_count = (size_t)out;
        n->h = n->w = 1;
        n->c = out;
    }
    return i;
}

int tl_net_batchnorm(tl_net *net, int in)
{
    const int i = push(net, TL_LAYER_BATCHNORM, in, -1);
    if (i >= 0) {
        net->nodes[i].weight_count = net->nodes[i].bias_count = (size_t)net->nodes[i].c;
    }
    return i;
}

int tl_net_relu(tl_net *net, int in) { return push(net, TL_LAYER_RELU, in, -1); }
int tl_net_relu6(tl_net *net, int in) { return push(net, TL_LAYER_RELU6, in, -1); }
int tl_net_maxpool(tl_net *net, int in, int k, int stride) { return spatial(net, TL_LAYER_MAXPOOL, in, k, stride, 0); }
int tl_net_avgpool(tl_net *net, int in, int k, int stride) { return spatial(net, TL_LAYER_AVGPOOL, in, k, stride, 0); }

int tl_net_global_avgpool(tl_net *net, int in)
{
    const int i = push(net, TL_LAYER_GLOBAL_AVGPOOL, in, -1);
    if (i >= 0) {
        net->nodes[i].h = net->nodes[i].w = 1;
    }
    return i;
}

int tl_net_add(tl_net *net, int a, int b)
{
    if (!net || b < 0 || b >= net->count || a < 0 || a >= net->count) {
        return -1;
    }
    const tl_node *x = &net->nodes[a], *y = &net->nodes[b];
    if (x->h != y->h || x->w != y->w || x->c != y->c) {
        return -1;
    }
    return push(net, TL_LAYER_ADD, a, b);
}

int tl_net_dropout(tl_net *net, int in, float rate)
{
    if (!(rate >= 0.0f && rate < 1.0f)) {
        return -1;
    }
    const int i = push(net, TL_LAYER_DROPOUT, in, -1);
    if (i >= 0) {
        net->nodes[i].rate = rate;
    }
    return i;
}

tl_status tl_net_add_exit(tl_net *net, int node, float weight)
{
    if (!net || node < 0 || node >= net->count || net->exit_count >= TL_MAX_EXITS ||
        net->nodes[node].kind != TL_LAYER_DENSE || !(weight >= 0.0f)) {
        return TL_ERR_ARG;
    }
    net->exits[net->exit_count] = node;
    net->exit_weights[net->exit_count++] = weight;
    return TL_OK;
}

/* Standard normal from a xorshift stream (Box-Muller). */
static float gaussian(uint64_t *s)
{
    double u[2];
    for (int k = 0; k < 2; ++k) {
        *s ^= *s << 13;
        *s ^= *s >> 7;
        *s ^= *s << 17;
        u[k] = ((double)(*s >> 11) + 0.5) / 9007199254740992.0;
    }
    return (float)(sqrt(-2.0 * log(u[0])) * cos(6.283185307179586 * u[1]));
}

tl_status tl_net_finalize(tl_net *net, int batch, uint64_t seed)
{
    if (!net || batch < 1 || net->params || net->exit_count == 0) {
        return TL_ERR_ARG;
    }
    size_t count = 0, scratch = 0, direct_in = 1, direct_w = 1;
    for (int i = 0; i < net->count; ++i) {
        tl_node *n = &net->nodes[i];
        n->weight_at = count;
        count += n->weight_count;
        n->bias_at = count;
        count += n->bias_count;
        if (n->kind == TL_LAYER_CONV) {
            /* im2col rows for one chunk of output pixels (util.h). */
            const size_t k = (size_t)n->k_h * n->k_w * net->nodes[n->in[0]].c;
            const size_t cols = k * tl_conv_chunk(net->im2col_floats, k, (size_t)batch * n->h * n->w);
            scratch = cols > scratch ? cols : scratch;
            /* The direct kernels' padded image (input forward, output
             * gradient backward) and filters, for the stride-1 layers
             * they can run. */
            if (n->stride_h == 1 && n->stride_w == 1) {
                const tl_node *src = &net->nodes[n->in[0]];
                const tl_conv_direct_shape fwd = tl_conv_direct_forward(src, n), bwd = tl_conv_direct_backward(src, n);
                const size_t pf = tl_conv_direct_padded_size(&fwd), pb = tl_conv_direct_padded_size(&bwd);
                direct_in = pf > direct_in ? pf : direct_in;
                direct_in = pb > direct_in ? pb : direct_in;
                direct_w = n->weight_count > direct_w ? n->weight_count : direct_w;
            }
        }
    }
    /* scratch2 also holds batch norm's per-channel factors and partial sums (5 x channels). */
    for (int i = 0; i < net->count; ++i) {
        const size_t need = 5 * (size_t)net->nodes[i].c;
        scratch = need > scratch ? need : scratch;
    }
    net->param_count = count;
    net->batch = batch;
    net->params = calloc(count ? count : 1, sizeof(float));
    net->grads = calloc(count ? count : 1, sizeof(float));
    net->scratch_size = scratch;
    net->scratch = malloc((scratch ? scratch : 1) * sizeof(float));
    net->scratch2 = malloc((scratch ? scratch : 1) * sizeof(float));
    net->conv_direct = tl_conv_direct_available();
    net->direct_in = malloc(direct_in * sizeof(float));
    net->direct_w = malloc(direct_w * sizeof(float));
    if (!net->params || !net->grads || !net->scratch || !net->scratch2 || !net->direct_in || !net->direct_w) {
        return TL_ERR_NOMEM;
    }
    uint64_t rng = seed * 0x9E3779B97F4A7C15ull + 1;
    for (int i = 0; i < net->count; ++i) {
        tl_node *n = &net->nodes[i];
        const size_t size = (size_t)batch * n->h * n->w * n->c;
        n->out = calloc(size, sizeof(float));
        n->dout = calloc(size, sizeof(float));
        if (!n->out || !n->dout) {
            return TL_ERR_NOMEM;
        }
        float *w = net->params + n->weight_at;
        const tl_node *src = n->in[0] >= 0 ? &net->nodes[n->in[0]] : NULL;
        switch (n->kind) {
        case TL_LAYER_CONV:
        case TL_LAYER_DWCONV:
        case TL_LAYER_DENSE: {
            /* He (Kaiming) normal: std = sqrt(2 / fan_in). */
            const size_t fan_in = n->kind == TL_LAYER_DENSE ? (size_t)src->h * src->w * src->c
                                : n->kind == TL_LAYER_DWCONV ? (size_t)n->k_h * n->k_w
                                : (size_t)n->k_h * n->k_w * src->c;
            const float std = sqrtf(2.0f / (float)fan_in);
            for (size_t k = 0; k < n->weight_count; ++k) {
                w[k] = std * gaussian(&rng);
            }
            break;
        }
        case TL_LAYER_BATCHNORM:
            for (size_t k = 0; k < n->weight_count; ++k) {
                w[k] = 1.0f; /* gamma; beta (the bias slice) starts at 0 */
            }
            n->running_mean = calloc((size_t)n->c, sizeof(float));
            n->running_var = malloc((size_t)n->c * sizeof(float));
            n->saved_mean = calloc((size_t)n->c, sizeof(float));
            n->saved_invstd = calloc((size_t)n->c, sizeof(float));
            if (!n->running_mean || !n->running_var || !n->saved_mean || !n->saved_invstd) {
                return TL_ERR_NOMEM;
            }
            for (int c = 0; c < n->c; ++c) {
                n->running_var[c] = 1.0f;
            }
            break;
        case TL_LAYER_MAXPOOL:
            n->argmax = malloc(size * sizeof(int32_t));
            if (!n->argmax) {
                return TL_ERR_NOMEM;
            }
            break;
        case TL_LAYER_DROPOUT:
            n->mask = malloc(size);
            if (!n->mask) {
                return TL_ERR_NOMEM;
            }
            break;
        default:
            break;
        }
    }
    net->rng = rng | 1;
    net->training = 1;
    return TL_OK;
}

uint8_t *tl_net_decay_mask(const tl_net *net)
{
    uint8_t *mask = calloc(net->param_count ? net->param_count : 1, 1);
    if (!mask) {
        return NULL;
    }
    for (int i = 0; i < net->count; ++i) {
        const tl_node *n = &net->nodes[i];
        if (n->kind == TL_LAYER_CONV || n->kind == TL_LAYER_DWCONV || n->kind == TL_LAYER_DENSE) {
            memset(mask + n->weight_at, 1, n->weight_count);
        }
    }
    return mask;
}

/* The last node of each spatial size (above 1x1, the input aside). */
static int last_of_size(const tl_net *net, int h, int w)
{
    int last = -1;
    for (int i = 1; i < net->count; ++i) {
        if (net->nodes[i].h == h && net->nodes[i].w == w) {
            last = i;
        }
    }
    return last;
}

tl_status tl_attention_match(const tl_net *student, const tl_net *teacher, tl_attention_points *points)
{
    memset(points, 0, sizeof *points);
    for (int i = 1; i < student->count; ++i) {
        const tl_node *n = &student->nodes[i];
        if (n->h * n->w <= 1 || last_of_size(student, n->h, n->w) != i) {
            continue; /* a 1x1 map says nothing; only a size's last node */
        }
        const int t = last_of_size(teacher, n->h, n->w);
        if (t < 0) {
            continue;
        }
        if (points->count == TL_ATTENTION_MAX) {
            return TL_ERR_SHAPE;
        }
        const int k = points->count++;
        points->student[k] = i;
        points->teacher[k] = t;
        points->pixels[k] = n->h * n->w;
        points->offset[k] = points->floats;
        points->floats += n->h * n->w;
    }
    return points->count > 0 ? TL_OK : TL_ERR_SHAPE;
}
