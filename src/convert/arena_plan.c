/* arena_plan.c - offline activation memory plan.
 *
 * Computes, for every activation tensor, its byte offset in one arena, so
 * the device needs no allocator and the arena size is exact. Steps:
 *   1. lifetimes: [producer op, last consumer op] (inputs live from the
 *      start, outputs to the end, early-exit outputs until their exit);
 *   2. in place: RESHAPE, ADD, SOFTMAX (and a convolution's fused residual)
 *      write element i only after reading element i, so their output shares
 *      that input's bytes when the input dies at the op (tensors merged into
 *      one buffer, lifetimes united);
 *   3. greedy: buffers largest first, each at the lowest offset that does
 *      not overlap a placed buffer whose lifetime intersects its own, and
 *      aligned to its elements (2 or 4 bytes for int16, int32 and float).
 * A state tensor (SVDF, LSTM) lives through the whole model, so it never
 * shares bytes with anything and keeps its value to the next inference.
 */
#include <stdlib.h>
#include <string.h>

#include "tinylarge/convert.h"
#include "tinylarge/device.h"

typedef struct buffer {
    uint32_t size;
    uint32_t align;
    int32_t first, last;
    uint32_t offset;
    int placed;
} buffer;

static uint32_t find_root(uint32_t *parent, uint32_t t)
{
    while (parent[t] != t) {
        parent[t] = parent[parent[t]];
        t = parent[t];
    }
    return t;
}

static int is_arena_tensor(const tl_tensor_rec *t)
{
    return t->kind == TL_TENSOR_ACTIVATION || t->kind == TL_TENSOR_STATE;
}

static int by_size_desc(const void *a, const void *b, void *ctx)
{
    const buffer *bufs = ctx;
    const uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    if (bufs[x].size != bufs[y].size) {
        return bufs[x].size > bufs[y].size ? -1 : 1;
    }
    return x < y ? -1 : (x > y); /* stable: deterministic plans */
}

/* Insertion sort with context (qsort_r is not portable C11). */
static void sort_indices(uint32_t *idx, uint32_t n, buffer *bufs)
{
    for (uint32_t i = 1; i < n; ++i) {
        uint32_t v = idx[i];
        uint32_t j = i;
        while (j > 0 && by_size_desc(&v, &idx[j - 1], bufs) < 0) {
            idx[j] = idx[j - 1];
            --j;
        }
        idx[j] = v;
    }
}

tl_status tl_arena_layout(const tl_graph *g, uint32_t *offsets, uint32_t *arena_size)
{
    const uint32_t n = g->tensor_count;
    int32_t *first = malloc(n * sizeof *first);
    int32_t *last = malloc(n * sizeof *last);
    uint32_t *parent = malloc(n * sizeof *parent);
    buffer *bufs = calloc(n, sizeof *bufs);
    uint32_t *order = malloc(n * sizeof *order);
    if (!first || !last || !parent || !bufs || !order) {
        free(first); free(last); free(parent); free(bufs); free(order);
        return TL_ERR_NOMEM;
    }
    const int32_t end = (int32_t)g->op_count;
    for (uint32_t t = 0; t < n; ++t) {
        first[t] = end;
        last[t] = -1;
        parent[t] = t;
    }
    for (uint32_t i = 0; i < g->input_count; ++i) {
        first[g->inputs[i]] = 0;
        last[g->inputs[i]] = 0;
    }
    for (int32_t i = 0; i < end; ++i) {
        const tl_op_rec *op = &g->ops[i].rec;
        if (first[op->output] > i) {
            first[op->output] = i;
        }
        if (last[op->output] < i) {
            last[op->output] = i;
        }
        for (uint32_t k = 0; k < op->input_count; ++k) {
            if (last[op->inputs[k]] < i) {
                last[op->inputs[k]] = i;
            }
        }
    }
    for (uint32_t i = 0; i < g->output_count; ++i) {
        last[g->outputs[i]] = end;
    }
    for (uint32_t t = 0; t < n; ++t) {
        if (g->tensors[t].rec.kind == TL_TENSOR_STATE) {
            first[t] = 0;
            last[t] = end;
        }
    }
    for (uint32_t i = 0; i < g->exit_count; ++i) {
        const int32_t until = (int32_t)g->exits[i].op_end - 1;
        if (last[g->exits[i].output] < until) {
            last[g->exits[i].output] = until;
        }
    }
    /* In-place merges: output joins the first activation input that dies here
     * and is not a model output (those must survive). */
    for (int32_t i = 0; i < end; ++i) {
        const tl_op_rec *op = &g->ops[i].rec;
        for (uint32_t k = 0; k < op->input_count; ++k) {
            const uint16_t in = op->inputs[k];
            if (tl_op_works_in_place(op, k) && g->tensors[in].rec.kind == TL_TENSOR_ACTIVATION && last[in] == i &&
                g->tensors[op->output].rec.kind == TL_TENSOR_ACTIVATION &&
                g->tensors[in].rec.data_size == g->tensors[op->output].rec.data_size &&
                g->tensors[in].rec.dtype == g->tensors[op->output].rec.dtype &&
                find_root(parent, in) != find_root(parent, op->output)) {
                parent[find_root(parent, op->output)] = find_root(parent, in);
                break;
            }
        }
    }
    uint32_t count = 0;
    for (uint32_t t = 0; t < n; ++t) {
        if (!is_arena_tensor(&g->tensors[t].rec)) {
            continue;
        }
        const uint32_t r = find_root(parent, t);
        buffer *b = &bufs[r];
        if (!b->placed) { /* "placed" doubles as "seen" until placement */
            b->placed = 1;
            b->align = 1;
            b->first = first[t];
            b->last = last[t];
            order[count++] = r;
        }
        if (g->tensors[t].rec.data_size > b->size) {
            b->size = g->tensors[t].rec.data_size;
        }
        const uint32_t align = tl_dtype_bytes(g->tensors[t].rec.dtype);
        if (align > b->align) {
            b->align = align;
        }
        if (first[t] < b->first) {
            b->first = first[t];
        }
        if (last[t] > b->last) {
            b->last = last[t];
        }
    }
    for (uint32_t i = 0; i < count; ++i) {
        bufs[order[i]].placed = 0;
    }
    sort_indices(order, count, bufs);
    uint32_t total = 0;
    for (uint32_t i = 0; i < count; ++i) {
        buffer *b = &bufs[order[i]];
        /* Candidate offsets: 0 and the end of every conflicting placed buffer;
         * take the lowest one that collides with none. */
        uint64_t best = UINT64_MAX;
        for (uint32_t j = 0; j <= i; ++j) {
            uint64_t candidate = 0;
            if (j < i) {
                const buffer *o = &bufs[order[j]];
                if (o->last < b->first || o->first > b->last) {
                    continue;
                }
                candidate = (uint64_t)o->offset + o->size;
                candidate = (candidate + b->align - 1) / b->align * b->align;
            }
            int fits = 1;
            for (uint32_t k = 0; k < i && fits; ++k) {
                const buffer *o = &bufs[order[k]];
                if (o->last < b->first || o->first > b->last) {
                    continue;
                }
                if (candidate < (uint64_t)o->offset + o->size && o->offset < candidate + b->size) {
                    fits = 0;
                }
            }
            if (fits && candidate < best) {
                best = candidate;
            }
        }
        if (best + b->size > 0xFFFFFFF0u) {
            free(first); free(last); free(parent); free(bufs); free(order);
            return TL_ERR_ARENA;
        }
        b->offset = (uint32_t)best;
        b->placed = 1;
        if (b->offset + b->size > total) {
            total = b->offset + b->size;
        }
    }
    for (uint32_t t = 0; t < n; ++t) {
        offsets[t] = is_arena_tensor(&g->tensors[t].rec) ? bufs[find_root(parent, t)].offset : TL_NONE;
    }
    *arena_size = total;
    free(first); free(last); free(parent); free(bufs); free(order);
    return TL_OK;
}
