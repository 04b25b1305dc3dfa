/* graph.c - the host-side model graph (IR) that every model source builds. */
#include <stdlib.h>
#include <string.h>

#include "tinylarge/convert.h"

void tl_graph_free(tl_graph *g)
{
    if (!g) {
        return;
    }
    for (uint32_t i = 0; i < g->tensor_count; ++i) {
        free(g->tensors[i].name);
        free(g->tensors[i].data);
        free(g->tensors[i].channel_scales);
    }
    for (uint32_t i = 0; i < g->op_count; ++i) {
        free(g->ops[i].requant);
        free(g->ops[i].bias);
        free(g->ops[i].residual_add);
        free(g->ops[i].block);
    }
    free(g->tensors);
    free(g->ops);
    free(g->meta);
    memset(g, 0, sizeof *g);
}

static void *dup_bytes(const void *src, size_t size)
{
    if (!src || size == 0) {
        return NULL;
    }
    void *p = malloc(size);
    if (p) {
        memcpy(p, src, size);
    }
    return p;
}

int32_t tl_graph_add_tensor(tl_graph *g, const char *name, const tl_tensor_rec *rec,
                            const void *data, const float *channel_scales,
                            uint32_t channel_count)
{
    if (g->tensor_count >= TL_NO_TENSOR - 1) {
        return -1;
    }
    tl_gtensor *grown = realloc(g->tensors, (g->tensor_count + 1) * sizeof *grown);
    if (!grown) {
        return -1;
    }
    g->tensors = grown;
    tl_gtensor *t = &g->tensors[g->tensor_count];
    memset(t, 0, sizeof *t);
    t->rec = *rec;
    t->name = dup_bytes(name ? name : "", strlen(name ? name : "") + 1);
    t->data = dup_bytes(data, rec->kind == TL_TENSOR_CONST ? rec->data_size : 0);
    t->channel_scales = dup_bytes(channel_scales, channel_count * sizeof(float));
    t->channel_count = t->channel_scales ? channel_count : 0;
    if (!t->name || (data && rec->data_size && !t->data)) {
        free(t->name);
        free(t->data);
        free(t->channel_scales);
        return -1;
    }
    return (int32_t)g->tensor_count++;
}

int32_t tl_graph_add_op(tl_graph *g, const tl_op_rec *rec, const int32_t *requant,
                        const int32_t *bias, uint32_t channels)
{
    tl_gop *grown = realloc(g->ops, (g->op_count + 1) * sizeof *grown);
    if (!grown) {
        return -1;
    }
    g->ops = grown;
    tl_gop *op = &g->ops[g->op_count];
    memset(op, 0, sizeof *op);
    op->rec = *rec;
    op->channels = channels;
    if (channels) {
        op->requant = dup_bytes(requant, 2u * channels * sizeof(int32_t));
        op->bias = bias ? dup_bytes(bias, channels * sizeof(int32_t)) : NULL;
        if (!op->requant || (bias && !op->bias)) {
            free(op->requant);
            free(op->bias);
            return -1;
        }
    }
    return (int32_t)g->op_count++;
}

tl_status tl_graph_set_op_block(tl_graph *g, uint32_t op, const void *data, uint32_t size)
{
    if (!g || op >= g->op_count || !data || size == 0) {
        return TL_ERR_ARG;
    }
    uint8_t *copy = dup_bytes(data, size);
    if (!copy) {
        return TL_ERR_NOMEM;
    }
    free(g->ops[op].block);
    g->ops[op].block = copy;
    g->ops[op].block_size = size;
    return TL_OK;
}

tl_status tl_graph_set_meta(tl_graph *g, const char *key, const char *value)
{
    /* Rebuild without the old entry, then append the new one. */
    const size_t key_len = strlen(key) + 1, value_len = strlen(value) + 1;
    char *fresh = malloc(g->meta_size + key_len + value_len);
    if (!fresh) {
        return TL_ERR_NOMEM;
    }
    uint32_t used = 0, pos = 0;
    while (pos < g->meta_size) {
        const char *k = g->meta + pos;
        const char *v = k + strlen(k) + 1;
        const uint32_t entry = (uint32_t)(strlen(k) + strlen(v) + 2);
        if (strcmp(k, key) != 0) {
            memcpy(fresh + used, k, entry);
            used += entry;
        }
        pos += entry;
    }
    memcpy(fresh + used, key, key_len);
    memcpy(fresh + used + key_len, value, value_len);
    free(g->meta);
    g->meta = fresh;
    g->meta_size = used + (uint32_t)(key_len + value_len);
    return TL_OK;
}
