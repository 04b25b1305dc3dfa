/* split_learning.c - what crosses a split-learning cut (large.h): the
 * device's half sends the cut's activations, the edge's half returns their
 * gradients; both as int8 with a float scale a sample (symmetric, rounded
 * to nearest) or as float32, counted. The training itself is the engine's:
 * tl_net_set_cut makes every pass go through here at the cut. */
#include <math.h>

#include "tinylarge/large.h"

/* A sample's int8 scale: symmetric, its largest magnitude at 127. */
static float sample_scale(const float *v, size_t n)
{
    float top = 0.0f;
    for (size_t i = 0; i < n; ++i) {
        top = fabsf(v[i]) > top ? fabsf(v[i]) : top;
    }
    return top / 127.0f;
}

void tl_cut_exchange(void *ctx, float *values, int count, size_t per_sample, int backward)
{
    tl_cut_link *link = ctx;
    const size_t bytes = link->bits == 8 ? per_sample + 4 : 4 * per_sample;
    if (backward) {
        link->bytes_down += (double)bytes * count;
    } else {
        link->bytes_up += (double)bytes * count;
        link->samples += count;
    }
    if (link->bits != 8) {
        return; /* float32: sent as it is */
    }
    for (int b = 0; b < count; ++b) {
        float *v = values + (size_t)b * per_sample;
        const float scale = sample_scale(v, per_sample);
        for (size_t i = 0; i < per_sample && scale > 0.0f; ++i) {
            v[i] = nearbyintf(v[i] / scale) * scale; /* what the other side decodes */
        }
    }
}

/* ---- split learning across processes ---- */

#include <stdlib.h>
#include <string.h>

enum { CUT_HEADER = 16 };
static const uint8_t cut_magic[4] = { 'T', 'L', 'C', 'X' };

/* Words and floats in the host's order: little-endian on every host the project builds for. */
static void put_u32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static uint32_t get_u32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }

size_t tl_cut_wire_size(int n, size_t per_sample, int bits, int with_labels)
{
    const size_t sample = bits == 8 ? 4 + per_sample : 4 * per_sample;
    return CUT_HEADER + (with_labels ? (size_t)n : 0) + (size_t)n * sample;
}

size_t tl_cut_encode(uint8_t *out, const float *values, const uint8_t *labels, int n, size_t per_sample, int bits)
{
    memcpy(out, cut_magic, 4);
    put_u32(out + 4, (uint32_t)n);
    put_u32(out + 8, (uint32_t)per_sample);
    out[12] = (uint8_t)bits;
    out[13] = labels != NULL;
    out[14] = out[15] = 0;
    uint8_t *p = out + CUT_HEADER;
    if (labels) {
        memcpy(p, labels, (size_t)n);
        p += n;
    }
    for (int b = 0; b < n; ++b) {
        const float *v = values + (size_t)b * per_sample;
        if (bits != 8) {
            memcpy(p, v, 4 * per_sample);
            p += 4 * per_sample;
            continue;
        }
        const float scale = sample_scale(v, per_sample); /* rounded as tl_cut_exchange rounds */
        memcpy(p, &scale, 4);
        p += 4;
        for (size_t i = 0; i < per_sample; ++i) {
            p[i] = (uint8_t)(int8_t)(scale > 0.0f ? nearbyintf(v[i] / scale) : 0.0f);
        }
        p += per_sample;
    }
    return (size_t)(p - out);
}

tl_status tl_cut_decode(const uint8_t *in, size_t size, size_t per_sample, int max_n, float *values, uint8_t *labels,
                        int *n, int *bits)
{
    if (size < CUT_HEADER || memcmp(in, cut_magic, 4) != 0) {
        return TL_ERR_FORMAT;
    }
    const uint32_t count = get_u32(in + 4);
    const int b = in[12], with_labels = in[13];
    if (get_u32(in + 8) != per_sample || count == 0 || count > (uint32_t)max_n || (b != 8 && b != 32) ||
        with_labels != (labels != NULL) || size != tl_cut_wire_size((int)count, per_sample, b, with_labels)) {
        return TL_ERR_SHAPE;
    }
    const uint8_t *p = in + CUT_HEADER;
    if (labels) {
        memcpy(labels, p, count);
        p += count;
    }
    for (uint32_t s = 0; s < count; ++s) {
        float *v = values + (size_t)s * per_sample;
        if (b != 8) {
            memcpy(v, p, 4 * per_sample);
            p += 4 * per_sample;
            continue;
        }
        float scale;
        memcpy(&scale, p, 4);
        p += 4;
        for (size_t i = 0; i < per_sample; ++i) {
            v[i] = (float)(int8_t)p[i] * scale;
        }
        p += per_sample;
    }
    *n = (int)count;
    *bits = b;
    return TL_OK;
}

tl_status tl_split_check(const tl_net *net, int cut)
{
    if (cut < 1 || cut >= net->count - 1) {
        return TL_ERR_ARG;
    }
    for (int e = 0; e < net->exit_count; ++e) {
        if (net->exits[e] <= cut) {
            return TL_ERR_SHAPE; /* an exit on the device's side would need a loss there */
        }
    }
    for (int i = cut + 1; i < net->count; ++i) {
        for (int k = 0; k < 2; ++k) {
            if (net->nodes[i].in[k] >= 0 && net->nodes[i].in[k] < cut) {
                return TL_ERR_SHAPE; /* a skip connection over the cut */
            }
        }
    }
    return TL_OK;
}

tl_status tl_split_edge_step(tl_net *net, tl_optim *opt, const uint8_t *decay, int cut, const float *cut_values,
                             const uint8_t *labels, int n, float *cut_gradient, double *loss, int *hits)
{
    if (n < 1 || n > net->batch) {
        return TL_ERR_ARG;
    }
    tl_net_zero_grads(net);
    tl_net_forward_after(net, cut_values, n, cut);
    for (int e = 0; e < net->exit_count; ++e) {
        tl_node *out = &net->nodes[net->exits[e]];
        int h = 0;
        const float l = tl_softmax_cross_entropy(out->out, labels, n, out->c, net->exit_weights[e], out->dout, &h);
        if (e == net->exit_count - 1) {
            *loss = l;
            *hits = h;
        }
    }
    tl_net_backward_after(net, n, cut);
    memcpy(cut_gradient, net->nodes[cut].dout, (size_t)n * tl_net_node_values(net, cut) * sizeof(float));
    tl_optim_step(opt, net->params, net->grads, decay);
    return TL_OK;
}

tl_status tl_split_device_step(tl_net *net, tl_optim *opt, const uint8_t *decay, int cut, const float *x,
                               const uint8_t *labels, int n, tl_split_send send, void *ctx, float *cut_gradient)
{
    if (n < 1 || n > net->batch) {
        return TL_ERR_ARG;
    }
    tl_net_zero_grads(net);
    tl_net_forward_until(net, x, n, cut);
    const tl_status s = send(ctx, net->nodes[cut].out, labels, n, tl_net_node_values(net, cut), cut_gradient);
    if (s != TL_OK) {
        return s; /* nothing learned from this batch */
    }
    tl_net_backward_until(net, cut_gradient, n, cut);
    tl_optim_step(opt, net->params, net->grads, decay);
    return TL_OK;
}

/* The device's half's state, node by node: weights, biases, batch norm's
 * running statistics. */
static size_t half_floats(const tl_net *net, int cut, float *out, const float *in, tl_net *into)
{
    size_t at = 0;
    for (int i = 1; i <= cut; ++i) {
        const tl_node *n = &net->nodes[i];
        tl_node *d = into ? &into->nodes[i] : NULL;
        const float *parts[4] = { net->params + n->weight_at, net->params + n->bias_at, n->running_mean,
                                  n->running_var };
        float *dst[4] = { d ? into->params + d->weight_at : NULL, d ? into->params + d->bias_at : NULL,
                          d ? d->running_mean : NULL, d ? d->running_var : NULL };
        const size_t counts[4] = { n->weight_count, n->bias_count, n->running_mean ? (size_t)n->c : 0,
                                   n->running_var ? (size_t)n->c : 0 };
        for (int k = 0; k < 4; ++k) {
            if (out && counts[k]) {
                memcpy(out + at, parts[k], counts[k] * sizeof(float));
            }
            if (in && dst[k] && counts[k]) {
                memcpy(dst[k], in + at, counts[k] * sizeof(float));
            }
            at += counts[k];
        }
    }
    return at;
}

size_t tl_split_half_floats(const tl_net *net, int cut)
{
    return half_floats(net, cut, NULL, NULL, NULL);
}

void tl_split_half_pack(const tl_net *net, int cut, float *out)
{
    half_floats(net, cut, out, NULL, NULL);
}

void tl_split_half_unpack(tl_net *net, int cut, const float *in)
{
    half_floats(net, cut, NULL, in, net);
}

/* ---- the edge's side of split learning, as a server runs it ---- */

#include <stdio.h>

enum { SPLIT_SERVER_BATCH = 256 }; /* the most samples a request may carry */

struct tl_split_server {
    tl_net net;
    tl_optim opt;
    uint8_t *decay;
    tl_checkpoint_info info;
    int cut;
    size_t values;              /* a sample's at the cut */
    const char *out;
    float *cut_values, *cut_gradient;
    uint8_t labels[SPLIT_SERVER_BATCH];
    long steps, samples;
    double loss;                /* the last step's */
    int hits;
};

tl_status tl_split_server_open(const tl_split_server_options *o, tl_split_server **server, char *error,
                               size_t error_size)
{
    tl_split_server *s = calloc(1, sizeof *s);
    if (!s) {
        return TL_ERR_NOMEM;
    }
    *server = NULL;
    tl_status st = tl_checkpoint_load(o->checkpoint, SPLIT_SERVER_BATCH, &s->net, NULL, &s->info, error, error_size);
    if (st != TL_OK) {
        free(s);
        return st;
    }
    st = tl_split_check(&s->net, o->cut);
    if (st != TL_OK) {
        snprintf(error, error_size, "%s: node %d cannot split %s: the cut is a node from 1 to %d with no exit at or "
                 "below it and no skip connection over it", o->checkpoint, o->cut, s->info.arch, s->net.count - 2);
        tl_net_free(&s->net);
        free(s);
        return st;
    }
    s->cut = o->cut;
    s->values = tl_net_node_values(&s->net, o->cut);
    s->out = o->out;
    s->net.training = 1;
    s->decay = tl_net_decay_mask(&s->net);
    s->cut_values = malloc((size_t)SPLIT_SERVER_BATCH * s->values * sizeof(float));
    s->cut_gradient = malloc((size_t)SPLIT_SERVER_BATCH * s->values * sizeof(float));
    memset(&s->opt, 0, sizeof s->opt);
    if (!s->decay || !s->cut_values || !s->cut_gradient || tl_optim_init(&s->opt, s->net.param_count) != TL_OK) {
        tl_split_server_close(s);
        return TL_ERR_NOMEM;
    }
    s->opt.kind = TL_OPTIM_SGD;
    s->opt.lr = o->lr > 0.0f ? o->lr : 0.05f;
    s->opt.momentum = 0.9f;
    s->opt.weight_decay = 5e-4f;
    *server = s;
    return TL_OK;
}

void tl_split_server_close(tl_split_server *s)
{
    if (!s) {
        return;
    }
    tl_optim_free(&s->opt);
    tl_net_free(&s->net);
    free(s->decay);
    free(s->cut_values);
    free(s->cut_gradient);
    free(s);
}

void tl_split_server_describe(const tl_split_server *s, char *text, size_t size)
{
    snprintf(text, size, "arch=%s&cut=%d&values=%zu&batch=%d&classes=%d&steps=%ld&samples=%ld&loss=%.4f&train_accuracy=%.4f",
             s->info.arch, s->cut, s->values, SPLIT_SERVER_BATCH, s->info.classes, s->steps, s->samples, s->loss,
             s->steps ? (double)s->hits / (double)s->samples : 0.0);
}

tl_status tl_split_server_train(tl_split_server *s, const uint8_t *message, size_t size, uint8_t **answer,
                                size_t *answer_size, char *error, size_t error_size)
{
    int n = 0, bits = 0;
    *answer = NULL;
    const tl_status st = tl_cut_decode(message, size, s->values, SPLIT_SERVER_BATCH, s->cut_values, s->labels, &n,
                                       &bits);
    if (st != TL_OK) {
        snprintf(error, error_size, "a split step takes %s's cut (node %d): \"TLCX\", 1 to %d samples of %zu values "
                 "with their labels (%zu bytes did not add up)", s->info.arch, s->cut, SPLIT_SERVER_BATCH, s->values,
                 size);
        return st;
    }
    for (int i = 0; i < n; ++i) {
        if (s->labels[i] >= s->info.classes) {
            snprintf(error, error_size, "label %d of sample %d: %s has %d classes", s->labels[i], i, s->info.arch,
                     s->info.classes);
            return TL_ERR_ARG;
        }
    }
    *answer = malloc(tl_cut_wire_size(n, s->values, bits, 0));
    if (!*answer) {
        return TL_ERR_NOMEM;
    }
    double loss = 0.0;
    int hits = 0;
    const tl_status stepped = tl_split_edge_step(&s->net, &s->opt, s->decay, s->cut, s->cut_values, s->labels, n,
                                                 s->cut_gradient, &loss, &hits);
    if (stepped != TL_OK) {
        free(*answer);
        *answer = NULL;
        snprintf(error, error_size, "%d samples: the edge's half takes 1 to %d", n, s->net.batch);
        return stepped;
    }
    *answer_size = tl_cut_encode(*answer, s->cut_gradient, NULL, n, s->values, bits);
    s->steps++;
    s->samples += n;
    s->loss = loss;
    s->hits += hits;
    return TL_OK;
}

tl_status tl_split_server_join(tl_split_server *s, const uint8_t *half, size_t size, char *error, size_t error_size)
{
    const size_t want = tl_split_half_floats(&s->net, s->cut) * sizeof(float);
    if (size != want) {
        snprintf(error, error_size, "the device's half of %s up to node %d is %zu bytes (float32), not %zu", s->info.arch,
                 s->cut, want, size);
        return TL_ERR_SHAPE;
    }
    if (!s->out) {
        snprintf(error, error_size, "this server keeps no joined model (serve --split-out FILE)");
        return TL_ERR_STATE;
    }
    float *floats = malloc(size);
    if (!floats) {
        return TL_ERR_NOMEM;
    }
    memcpy(floats, half, size); /* the message's bytes need not be aligned */
    tl_split_half_unpack(&s->net, s->cut, floats);
    free(floats);
    s->info.accuracy = 0.0f; /* not measured here: the edge has no test set */
    const tl_status st = tl_checkpoint_save(s->out, &s->net, NULL, &s->info);
    if (st != TL_OK) {
        snprintf(error, error_size, "%s: cannot write the joined model: %s", s->out, tl_status_str(st));
    }
    return st;
}
