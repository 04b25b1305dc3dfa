/* fuse.c - graph rewrites that save device memory without changing results.
 *
 * Residual ADD fusion: in y = ADD(r, conv(x)), the convolution's output
 * lives only to be added to r, and r must stay alive while it is computed,
 * so three activation buffers are live at once. Fused, the convolution
 * requantises each value as before and immediately applies the ADD (same
 * integer arithmetic) against r at the same index, writing over r in place:
 * two buffers. Bit-exact by construction.
 */
#include <stdlib.h>
#include <string.h>

#include "tinylarge/convert.h"

/* Number of operators reading tensor t; *reader gets the last one. */
static uint32_t readers(const tl_graph *g, uint16_t t, uint32_t *reader)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < g->op_count; ++i) {
        for (uint32_t k = 0; k < g->ops[i].rec.input_count; ++k) {
            if (g->ops[i].rec.inputs[k] == t) {
                ++n;
                *reader = i;
            }
        }
    }
    return n;
}

static int32_t producer(const tl_graph *g, uint16_t t)
{
    for (uint32_t i = 0; i < g->op_count; ++i) {
        if (g->ops[i].rec.output == t) {
            return (int32_t)i;
        }
    }
    return -1; /* a model input */
}

static int is_model_output_or_exit(const tl_graph *g, uint16_t t)
{
    for (uint32_t i = 0; i < g->output_count; ++i) {
        if (g->outputs[i] == t) {
            return 1;
        }
    }
    for (uint32_t i = 0; i < g->exit_count; ++i) {
        if (g->exits[i].output == t) {
            return 1;
        }
    }
    return 0;
}

static void remove_op(tl_graph *g, uint32_t index)
{
    free(g->ops[index].requant);
    free(g->ops[index].bias);
    free(g->ops[index].residual_add);
    free(g->ops[index].block);
    memmove(&g->ops[index], &g->ops[index + 1], (g->op_count - index - 1) * sizeof g->ops[0]);
    --g->op_count;
    for (uint32_t i = 0; i < g->exit_count; ++i) {
        if (g->exits[i].op_end > index) {
            --g->exits[i].op_end;
        }
    }
}

tl_status tl_graph_fuse_residual_adds(tl_graph *g, uint32_t *fused)
{
    if (!g) {
        return TL_ERR_ARG;
    }
    uint32_t count = 0;
    for (uint32_t a = 0; a < g->op_count; ++a) {
        const tl_op_rec add = g->ops[a].rec;
        if (add.opcode != TL_OP_ADD) {
            continue;
        }
        /* Try each ADD input as the convolution's output. */
        for (uint32_t side = 0; side < 2; ++side) {
            const uint16_t x = add.inputs[side], r = add.inputs[1 - side];
            const int32_t c = producer(g, x);
            uint32_t last = 0;
            if (c < 0 || readers(g, x, &last) != 1 || is_model_output_or_exit(g, x) || x == r) {
                continue;
            }
            tl_gop *conv = &g->ops[c];
            if (conv->rec.opcode != TL_OP_CONV_2D || conv->rec.flags != 0 ||
                g->tensors[conv->rec.inputs[1]].rec.dtype != TL_DTYPE_INT8 ||
                producer(g, r) >= c || conv->rec.inputs[0] == r) {
                continue; /* r must be ready when the convolution runs */
            }
            /* Nothing between the convolution and the ADD may read r after
             * the fused op has overwritten it, or write it. */
            int clash = 0;
            for (uint32_t i = (uint32_t)c + 1; i < a && !clash; ++i) {
                for (uint32_t k = 0; k < g->ops[i].rec.input_count; ++k) {
                    clash |= g->ops[i].rec.inputs[k] == r;
                }
            }
            if (clash) {
                continue;
            }
            tl_residual_add *q = malloc(sizeof *q);
            if (!q) {
                return TL_ERR_NOMEM;
            }
            q->conv_is_input1 = side == 0;
            q->input1_offset = add.input_offset;
            q->input2_offset = add.p[TL_ADD_INPUT2_OFFSET];
            q->output_offset = add.output_offset;
            q->left_shift = add.p[TL_ADD_LEFT_SHIFT];
            q->input1_multiplier = add.p[TL_ADD_INPUT1_MULT];
            q->input1_shift = add.p[TL_ADD_INPUT1_SHIFT];
            q->input2_multiplier = add.p[TL_ADD_INPUT2_MULT];
            q->input2_shift = add.p[TL_ADD_INPUT2_SHIFT];
            q->output_multiplier = add.p[TL_ADD_OUTPUT_MULT];
            q->output_shift = add.p[TL_ADD_OUTPUT_SHIFT];
            q->act_min = add.act_min;
            q->act_max = add.act_max;
            conv->residual_add = q;
            conv->rec.flags = TL_OP_FLAG_RESIDUAL;
            conv->rec.input_count = 3;
            conv->rec.inputs[2] = r;
            conv->rec.output = add.output;
            /* The intermediate tensor x is no longer produced or read; it
             * stays in the table (named, planned, unused). */
            remove_op(g, a);
            --a;
            ++count;
            break;
        }
    }
    if (fused) {
        *fused = count;
    }
    return TL_OK;
}

tl_status tl_graph_compact(tl_graph *g)
{
    if (!g) {
        return TL_ERR_ARG;
    }
    int32_t *map = malloc((g->tensor_count + 1) * sizeof *map);
    uint8_t *used = calloc(g->tensor_count + 1, 1);
    if (!map || !used) {
        free(map);
        free(used);
        return TL_ERR_NOMEM;
    }
    for (uint32_t i = 0; i < g->op_count; ++i) {
        for (uint32_t k = 0; k < g->ops[i].rec.input_count; ++k) {
            used[g->ops[i].rec.inputs[k]] = 1;
        }
        used[g->ops[i].rec.output] = 1;
    }
    for (uint32_t i = 0; i < g->input_count; ++i) used[g->inputs[i]] = 1;
    for (uint32_t i = 0; i < g->output_count; ++i) used[g->outputs[i]] = 1;
    for (uint32_t i = 0; i < g->exit_count; ++i) used[g->exits[i].output] = 1;
    uint32_t kept = 0;
    for (uint32_t t = 0; t < g->tensor_count; ++t) {
        if (used[t]) {
            map[t] = (int32_t)kept;
            g->tensors[kept++] = g->tensors[t];
        } else {
            map[t] = -1;
            free(g->tensors[t].name);
            free(g->tensors[t].data);
            free(g->tensors[t].channel_scales);
        }
    }
    g->tensor_count = kept;
    for (uint32_t i = 0; i < g->op_count; ++i) {
        tl_op_rec *r = &g->ops[i].rec;
        for (uint32_t k = 0; k < r->input_count; ++k) {
            r->inputs[k] = (uint16_t)map[r->inputs[k]];
        }
        r->output = (uint16_t)map[r->output];
    }
    for (uint32_t i = 0; i < g->input_count; ++i) g->inputs[i] = (uint16_t)map[g->inputs[i]];
    for (uint32_t i = 0; i < g->output_count; ++i) g->outputs[i] = (uint16_t)map[g->outputs[i]];
    for (uint32_t i = 0; i < g->exit_count; ++i) g->exits[i].output = (uint16_t)map[g->exits[i].output];
    free(map);
    free(used);
    return TL_OK;
}

tl_status tl_graph_truncate_at_exit(tl_graph *g, uint32_t exit)
{
    if (!g || exit >= g->exit_count) {
        return TL_ERR_ARG;
    }
    const tl_exit_rec keep = g->exits[exit];
    while (g->op_count > keep.op_end) {
        remove_op(g, g->op_count - 1);
    }
    g->exit_count = exit + 1;
    g->output_count = 1;
    g->outputs[0] = keep.output;
    return tl_graph_compact(g);
}

/* ---- splitting a model between device and edge ---- */

static void *copy_of(const void *p, size_t size)
{
    if (!p || size == 0) {
        return NULL;
    }
    void *q = malloc(size);
    if (q) {
        memcpy(q, p, size);
    }
    return q;
}

tl_status tl_graph_clone(const tl_graph *g, tl_graph *out)
{
    memset(out, 0, sizeof *out);
    *out = *g;
    out->tensors = calloc(g->tensor_count + 1, sizeof *out->tensors);
    out->ops = calloc(g->op_count + 1, sizeof *out->ops);
    out->meta = copy_of(g->meta, g->meta_size);
    int ok = out->tensors && out->ops && (!g->meta_size || out->meta);
    out->tensor_count = 0;
    out->op_count = 0;
    for (uint32_t t = 0; ok && t < g->tensor_count; ++t) {
        const tl_gtensor *a = &g->tensors[t];
        tl_gtensor *b = &out->tensors[t];
        *b = *a;
        b->name = a->name ? copy_of(a->name, strlen(a->name) + 1) : NULL;
        b->data = copy_of(a->data, a->data ? a->rec.data_size : 0);
        b->channel_scales = copy_of(a->channel_scales, sizeof(float) * a->channel_count);
        out->tensor_count = t + 1;
        ok = (!a->name || b->name) && (!a->data || !a->rec.data_size || b->data) &&
             (!a->channel_scales || !a->channel_count || b->channel_scales);
    }
    for (uint32_t i = 0; ok && i < g->op_count; ++i) {
        const tl_gop *a = &g->ops[i];
        tl_gop *b = &out->ops[i];
        *b = *a;
        b->requant = copy_of(a->requant, sizeof(int32_t) * 2 * a->channels);
        b->bias = copy_of(a->bias, sizeof(int32_t) * a->channels);
        b->residual_add = copy_of(a->residual_add, a->residual_add ? sizeof *a->residual_add : 0);
        b->block = copy_of(a->block, a->block_size);
        out->op_count = i + 1;
        ok = (!a->requant || !a->channels || b->requant) && (!a->bias || !a->channels || b->bias) &&
             (!a->residual_add || b->residual_add) && (!a->block || !a->block_size || b->block);
    }
    if (!ok) {
        tl_graph_free(out);
        memset(out, 0, sizeof *out);
        return TL_ERR_NOMEM;
    }
    return TL_OK;
}

uint32_t tl_graph_cut_tensors(const tl_graph *g, uint32_t k, uint16_t *tensors, uint32_t capacity)
{
    uint32_t n = 0;
    for (uint32_t t = 0; t < g->tensor_count; ++t) {
        if (g->tensors[t].data) {
            continue; /* a constant: each half keeps its own */
        }
        const int32_t made = producer(g, (uint16_t)t);
        int is_input = 0;
        for (uint32_t i = 0; i < g->input_count; ++i) {
            is_input |= g->inputs[i] == t;
        }
        if (made < 0 ? !is_input : (uint32_t)made >= k) {
            continue;
        }
        int read_after = 0;
        for (uint32_t op = k; op < g->op_count && !read_after; ++op) {
            for (uint32_t j = 0; j < g->ops[op].rec.input_count; ++j) {
                read_after |= g->ops[op].rec.inputs[j] == t;
            }
        }
        if (read_after) {
            if (n < capacity) {
                tensors[n] = (uint16_t)t;
            }
            ++n;
        }
    }
    return n;
}

tl_status tl_graph_cut(tl_graph *g, uint32_t k, int keep_head)
{
    if (!g || k == 0 || k >= g->op_count) {
        return TL_ERR_ARG; /* both halves hold an operator */
    }
    uint16_t cut[8];
    const uint32_t n = tl_graph_cut_tensors(g, k, cut, 8);
    if (n == 0 || n > 8) {
        return TL_ERR_UNSUPPORTED;
    }
    /* The exits that end on this side, renumbered for the tail. */
    uint32_t kept = 0;
    for (uint32_t i = 0; i < g->exit_count; ++i) {
        if (keep_head ? g->exits[i].op_end <= k : g->exits[i].op_end > k) {
            g->exits[kept++] = g->exits[i];
        }
    }
    g->exit_count = kept;
    if (keep_head) {
        while (g->op_count > k) {
            remove_op(g, g->op_count - 1);
        }
        memcpy(g->outputs, cut, n * sizeof cut[0]);
        g->output_count = n;
    } else {
        for (uint32_t i = 0; i < k; ++i) {
            remove_op(g, 0); /* exits' op_end move down with it */
        }
        memcpy(g->inputs, cut, n * sizeof cut[0]);
        g->input_count = n;
    }
    return tl_graph_compact(g);
}
