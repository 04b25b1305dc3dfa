/* prune_channels.c - structured (channel) pruning: whole filters leave a
 * convolution, and with them the matching batch-norm channels and input
 * channels of every consumer, so compute, weights and activations all
 * shrink (unlike magnitude pruning, which only zeroes weights).
 *
 * A pruned network is the same architecture with narrower convolutions:
 * "ARCH@F" (e.g. "student@0.50") rebuilds ARCH with every prunable
 * convolution keeping round(c * (1 - F)) filters, so checkpoints of pruned
 * networks load like any other. A convolution is prunable unless its
 * channels reach a residual add (both sides of an add must keep the same
 * channels). Filters are ranked by the |gamma| of the batch norm that
 * follows them (network slimming, Liu et al. 2017) or, without one, by
 * their L1 norm (Li et al. 2017); the weakest go.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tinylarge/large.h"

/* ok[i] = 1 for each prunable convolution node. */
static tl_status prunable_convs(const tl_net *net, int *ok)
{
    int *root = malloc((size_t)net->count * sizeof *root); /* the node that sets each node's channels */
    if (!root) {
        return TL_ERR_NOMEM;
    }
    for (int i = 0; i < net->count; ++i) {
        const tl_node *n = &net->nodes[i];
        ok[i] = 0;
        switch (n->kind) {
        case TL_LAYER_CONV:
            root[i] = i;
            ok[i] = 1;
            break;
        case TL_LAYER_INPUT:
        case TL_LAYER_DENSE:
            root[i] = -1; /* fixed channels: the image, the classes */
            break;
        case TL_LAYER_ADD:
            for (int k = 0; k < 2; ++k) {
                if (root[n->in[k]] >= 0) {
                    ok[root[n->in[k]]] = 0;
                }
            }
            root[i] = -1;
            break;
        default: /* batch norm, activations, pools, dropout, depthwise: channel by channel */
            root[i] = root[n->in[0]];
            break;
        }
    }
    /* A channel group that reaches an add through pass-through layers: the
     * add above saw the root directly, so nothing else to do. */
    free(root);
    return TL_OK;
}

int tl_prune_width(int channels, float fraction)
{
    const int keep = (int)lroundf((float)channels * (1.0f - fraction));
    return keep < 1 ? 1 : keep > channels ? channels : keep;
}

tl_status tl_conv_widths(const tl_net *net, float fraction, int *widths, int capacity, int *count)
{
    int *ok = malloc((size_t)net->count * sizeof *ok);
    if (!ok) {
        return TL_ERR_NOMEM;
    }
    tl_status s = prunable_convs(net, ok);
    *count = 0;
    for (int i = 0; s == TL_OK && i < net->count; ++i) {
        if (net->nodes[i].kind != TL_LAYER_CONV) {
            continue;
        }
        if (*count == capacity) {
            s = TL_ERR_BOUNDS;
            break;
        }
        widths[(*count)++] = ok[i] ? tl_prune_width(net->nodes[i].c, fraction) : net->nodes[i].c;
    }
    free(ok);
    return s;
}

typedef struct ranked {
    float score;
    int channel;
} ranked;

static int by_score_desc(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    if (x->score != y->score) {
        return x->score < y->score ? 1 : -1;
    }
    return x->channel - y->channel; /* ties: the lower index stays */
}

static int by_channel(const void *a, const void *b)
{
    return ((const ranked *)a)->channel - ((const ranked *)b)->channel;
}

/* The batch norm reading node i directly, or -1. */
static int following_batchnorm(const tl_net *net, int i)
{
    for (int j = i + 1; j < net->count; ++j) {
        if (net->nodes[j].kind == TL_LAYER_BATCHNORM && net->nodes[j].in[0] == i) {
            return j;
        }
    }
    return -1;
}

tl_status tl_net_prune_channels(const tl_net *src, float fraction, int batch, tl_net *dst)
{
    memset(dst, 0, sizeof *dst);
    if (!(fraction > 0.0f && fraction < 1.0f) || strchr(src->arch, '@')) {
        return TL_ERR_ARG; /* one pruning per network: prune the original at the combined rate instead */
    }
    char arch[sizeof src->arch];
    if (snprintf(arch, sizeof arch, "%s@%.2f", src->arch, (double)fraction) >= (int)sizeof arch) {
        return TL_ERR_ARG;
    }
    const tl_node *in = &src->nodes[0];
    const int classes = src->nodes[src->exits[src->exit_count - 1]].c;
    tl_status s = tl_net_build_arch(dst, arch, in->h, in->w, in->c, classes);
    if (s == TL_OK) {
        s = tl_net_finalize(dst, batch, 1);
    }
    if (s == TL_OK && dst->count != src->count) {
        s = TL_ERR_SHAPE;
    }
    int **kept = calloc((size_t)src->count, sizeof *kept); /* kept source channels of each node's output */
    ranked *rank = NULL;
    if (s == TL_OK && !kept) {
        s = TL_ERR_NOMEM;
    }
    for (int i = 0; s == TL_OK && i < src->count; ++i) {
        const tl_node *a = &src->nodes[i];
        tl_node *b = &dst->nodes[i];
        if (a->kind != b->kind || a->h != b->h || a->w != b->w) {
            s = TL_ERR_SHAPE;
            break;
        }
        if (!(kept[i] = malloc((size_t)a->c * sizeof(int)))) {
            s = TL_ERR_NOMEM;
            break;
        }
        if (a->kind == TL_LAYER_CONV && b->c < a->c) {
            /* Rank the filters; keep the strongest, in their original order. */
            free(rank);
            rank = malloc((size_t)a->c * sizeof *rank);
            if (!rank) {
                s = TL_ERR_NOMEM;
                break;
            }
            const int bn = following_batchnorm(src, i);
            const size_t per = a->weight_count / (size_t)a->c;
            for (int o = 0; o < a->c; ++o) {
                float score = 0;
                if (bn >= 0) {
                    score = fabsf(src->params[src->nodes[bn].weight_at + (size_t)o]);
                } else {
                    for (size_t k = 0; k < per; ++k) {
                        score += fabsf(src->params[a->weight_at + (size_t)o * per + k]);
                    }
                }
                rank[o] = (ranked){ score, o };
            }
            qsort(rank, (size_t)a->c, sizeof *rank, by_score_desc);
            qsort(rank, (size_t)b->c, sizeof *rank, by_channel);
            for (int o = 0; o < b->c; ++o) {
                kept[i][o] = rank[o].channel;
            }
        } else if (a->kind == TL_LAYER_CONV || a->kind == TL_LAYER_INPUT || a->kind == TL_LAYER_DENSE ||
                   a->kind == TL_LAYER_ADD) {
            for (int o = 0; o < a->c; ++o) {
                kept[i][o] = o;
            }
        } else {
            memcpy(kept[i], kept[a->in[0]], (size_t)b->c * sizeof(int));
        }
        /* Copy the kept slices of the parameters and statistics. */
        const int *ko = kept[i], *ki = a->kind == TL_LAYER_INPUT ? NULL : kept[a->in[0]];
        const float *pa = src->params;
        float *pb = dst->params;
        const int ci_a = a->kind == TL_LAYER_INPUT ? 0 : src->nodes[a->in[0]].c;
        const int ci_b = a->kind == TL_LAYER_INPUT ? 0 : dst->nodes[b->in[0]].c;
        switch (a->kind) {
        case TL_LAYER_CONV:
            for (int o = 0; o < b->c; ++o) {
                for (int t = 0; t < a->k_h * a->k_w; ++t) {
                    for (int c = 0; c < ci_b; ++c) {
                        pb[b->weight_at + ((size_t)o * a->k_h * a->k_w + (size_t)t) * (size_t)ci_b + (size_t)c] =
                            pa[a->weight_at + ((size_t)ko[o] * a->k_h * a->k_w + (size_t)t) * (size_t)ci_a +
                               (size_t)ki[c]];
                    }
                }
                pb[b->bias_at + (size_t)o] = pa[a->bias_at + (size_t)ko[o]];
            }
            break;
        case TL_LAYER_DWCONV:
            for (int t = 0; t < a->k_h * a->k_w; ++t) {
                for (int c = 0; c < b->c; ++c) {
                    pb[b->weight_at + (size_t)t * (size_t)b->c + (size_t)c] =
                        pa[a->weight_at + (size_t)t * (size_t)a->c + (size_t)ko[c]];
                }
            }
            for (int c = 0; c < b->c; ++c) {
                pb[b->bias_at + (size_t)c] = pa[a->bias_at + (size_t)ko[c]];
            }
            break;
        case TL_LAYER_DENSE: {
            /* Input flattened NHWC: position p, channel c at p * C + c. */
            const tl_node *sa = &src->nodes[a->in[0]];
            const size_t positions = (size_t)sa->h * sa->w;
            for (int o = 0; o < a->c; ++o) {
                for (size_t p = 0; p < positions; ++p) {
                    for (int c = 0; c < ci_b; ++c) {
                        pb[b->weight_at + (size_t)o * positions * (size_t)ci_b + p * (size_t)ci_b + (size_t)c] =
                            pa[a->weight_at + (size_t)o * positions * (size_t)ci_a + p * (size_t)ci_a + (size_t)ki[c]];
                    }
                }
                pb[b->bias_at + (size_t)o] = pa[a->bias_at + (size_t)o];
            }
            break;
        }
        case TL_LAYER_BATCHNORM:
            for (int c = 0; c < b->c; ++c) {
                pb[b->weight_at + (size_t)c] = pa[a->weight_at + (size_t)ko[c]];
                pb[b->bias_at + (size_t)c] = pa[a->bias_at + (size_t)ko[c]];
                b->running_mean[c] = a->running_mean[ko[c]];
                b->running_var[c] = a->running_var[ko[c]];
            }
            break;
        default:
            break; /* no parameters */
        }
    }
    free(rank);
    if (kept) {
        for (int i = 0; i < src->count; ++i) {
            free(kept[i]);
        }
        free(kept);
    }
    if (s != TL_OK) {
        tl_net_free(dst);
    }
    return s;
}
