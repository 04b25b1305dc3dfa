/* tlm_write.c - serialise a tl_graph into the .tlm container.
 *
 * Layout (docs/format.md): header, section table, then the record sections,
 * then WEIGHTS, each on a 16-byte boundary, then the 128-byte trailer with
 * the SHA-256 (libsodium) of everything before it. The arena plan is made
 * here, so every written model carries an exact, offline plan.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "tinylarge/convert.h"

static uint64_t align_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) / a * a;
}

typedef struct layout {
    uint64_t size;
} layout;

/* Reserves `size` bytes aligned to `align`; returns the offset. */
static uint64_t reserve(layout *l, uint64_t size, uint64_t align)
{
    l->size = align_up(l->size, align);
    const uint64_t at = l->size;
    l->size += size;
    return at;
}

tl_status tl_graph_serialize(const tl_graph *g, uint8_t **out, size_t *out_size)
{
    if (!g || !out || !out_size || g->tensor_count == 0 || g->op_count == 0) {
        return TL_ERR_ARG;
    }
    *out = NULL;
    *out_size = 0;
    uint32_t *plan = malloc(g->tensor_count * sizeof *plan);
    tl_tensor_rec *tensors = calloc(g->tensor_count, sizeof *tensors);
    tl_op_rec *ops = calloc(g->op_count, sizeof *ops);
    uint32_t *name_at = calloc(g->tensor_count, sizeof *name_at);
    if (!plan || !tensors || !ops || !name_at) {
        free(plan); free(tensors); free(ops); free(name_at);
        return TL_ERR_NOMEM;
    }
    uint32_t arena_size = 0;
    tl_status status = tl_arena_layout(g, plan, &arena_size);
    if (status != TL_OK) {
        free(plan); free(tensors); free(ops); free(name_at);
        return status;
    }

    /* WEIGHTS layout (relative to the section), in the order the operators
     * read it: each operator's requantisation, bias and blocks, then its
     * constant inputs. A device receiving the file in order can then run an
     * operator as soon as its bytes are in (layer-pipelined inference,
     * docs/update.md). Constants no operator reads follow. */
    layout w = { 0 }, str = { 0 };
    uint8_t *placed = calloc(g->tensor_count, 1);
    if (!placed) {
        free(plan); free(tensors); free(ops); free(name_at);
        return TL_ERR_NOMEM;
    }
    for (uint32_t t = 0; t < g->tensor_count; ++t) {
        tensors[t] = g->tensors[t].rec;
        tensors[t].data_offset = TL_NONE;
        tensors[t].channel_scales = TL_NONE;
        name_at[t] = (uint32_t)reserve(&str, strlen(g->tensors[t].name) + 1, 1);
        tensors[t].name = name_at[t];
    }
    for (uint32_t i = 0; i <= g->op_count; ++i) {
        const int all = i == g->op_count; /* the last pass: what no operator read */
        if (!all) {
            /* Per-channel constants first: a device can then run the output
             * channels whose filter rows have arrived (tl_pipeline). */
            ops[i] = g->ops[i].rec;
            ops[i].requant = TL_NONE;
            ops[i].bias = TL_NONE;
            if (g->ops[i].channels) {
                ops[i].requant = (uint32_t)reserve(&w, 8ull * g->ops[i].channels, 4);
                ops[i].bias = g->ops[i].bias ? (uint32_t)reserve(&w, 4ull * g->ops[i].channels, 4) : TL_NONE;
            }
            if (g->ops[i].residual_add) {
                ops[i].p[0] = (int32_t)reserve(&w, sizeof(tl_residual_add), 4);
            }
            if (g->ops[i].block_size) {
                ops[i].requant = (uint32_t)reserve(&w, g->ops[i].block_size, 4);
                ops[i].bias = g->ops[i].block_size;
            }
        }
        const uint32_t count = all ? g->tensor_count : g->ops[i].rec.input_count;
        for (uint32_t j = 0; j < count; ++j) {
            const uint32_t t = all ? j : g->ops[i].rec.inputs[j];
            if (t >= g->tensor_count || placed[t]) {
                continue;
            }
            const tl_gtensor *gt = &g->tensors[t];
            placed[t] = 1;
            if (gt->rec.kind == TL_TENSOR_CONST) {
                tensors[t].data_offset = (uint32_t)reserve(&w, gt->rec.data_size, 16);
            }
            if (gt->channel_count) {
                tensors[t].channel_scales = (uint32_t)reserve(&w, 4ull * gt->channel_count, 4);
            }
        }
    }
    free(placed);

    /* File layout. */
    struct { uint32_t kind; uint64_t size; uint32_t count; uint64_t offset; } sec[8];
    uint32_t nsec = 0;
    const uint32_t io_count = g->input_count + g->output_count;
#define ADD_SECTION(k, s, c) do { sec[nsec].kind = (k); sec[nsec].size = (s); sec[nsec].count = (c); ++nsec; } while (0)
    ADD_SECTION(TL_SEC_TENSORS, (uint64_t)g->tensor_count * sizeof(tl_tensor_rec), g->tensor_count);
    ADD_SECTION(TL_SEC_OPS, (uint64_t)g->op_count * sizeof(tl_op_rec), g->op_count);
    ADD_SECTION(TL_SEC_IO, 2ull * io_count, io_count);
    if (g->exit_count) {
        ADD_SECTION(TL_SEC_EXITS, (uint64_t)g->exit_count * sizeof(tl_exit_rec), g->exit_count);
    }
    ADD_SECTION(TL_SEC_PLAN, 4ull * g->tensor_count, g->tensor_count);
    ADD_SECTION(TL_SEC_META, g->meta_size, 0);
    ADD_SECTION(TL_SEC_STRINGS, str.size, g->tensor_count);
    ADD_SECTION(TL_SEC_WEIGHTS, w.size, 0);
#undef ADD_SECTION
    layout file = { sizeof(tl_file_header) };
    const uint64_t table_at = reserve(&file, nsec * sizeof(tl_section_rec), 16);
    for (uint32_t i = 0; i < nsec; ++i) {
        sec[i].offset = reserve(&file, sec[i].size, TL_ALIGN);
    }
    const uint64_t trailer_at = reserve(&file, sizeof(tl_trailer), TL_ALIGN);
    if (file.size > 0x7FFFFFFFu) {
        free(plan); free(tensors); free(ops); free(name_at);
        return TL_ERR_BOUNDS;
    }
    uint8_t *buf = calloc(1, file.size);
    if (!buf) {
        free(plan); free(tensors); free(ops); free(name_at);
        return TL_ERR_NOMEM;
    }

    tl_file_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, TL_MAGIC, 4);
    h.version_major = TL_FORMAT_MAJOR;
    h.version_minor = TL_FORMAT_MINOR;
    h.header_size = sizeof h;
    h.file_size = (uint32_t)file.size;
    h.section_count = nsec;
    h.section_table = (uint32_t)table_at;
    h.arena_size = arena_size;
    h.tensor_count = g->tensor_count;
    h.op_count = g->op_count;
    h.input_count = g->input_count;
    h.output_count = g->output_count;
    h.exit_count = g->exit_count;
    memcpy(buf, &h, sizeof h);

    uint8_t *weights = NULL;
    for (uint32_t i = 0; i < nsec; ++i) {
        tl_section_rec r = { sec[i].kind, (uint32_t)sec[i].offset, (uint32_t)sec[i].size, sec[i].count };
        memcpy(buf + table_at + i * sizeof r, &r, sizeof r);
        uint8_t *dst = buf + sec[i].offset;
        switch (sec[i].kind) {
        case TL_SEC_TENSORS: memcpy(dst, tensors, sec[i].size); break;
        case TL_SEC_OPS: memcpy(dst, ops, sec[i].size); break;
        case TL_SEC_IO:
            memcpy(dst, g->inputs, 2ull * g->input_count);
            memcpy(dst + 2ull * g->input_count, g->outputs, 2ull * g->output_count);
            break;
        case TL_SEC_EXITS: memcpy(dst, g->exits, sec[i].size); break;
        case TL_SEC_PLAN: memcpy(dst, plan, sec[i].size); break;
        case TL_SEC_META: if (g->meta_size) memcpy(dst, g->meta, g->meta_size); break;
        case TL_SEC_STRINGS:
            for (uint32_t t = 0; t < g->tensor_count; ++t) {
                strcpy((char *)dst + name_at[t], g->tensors[t].name);
            }
            break;
        case TL_SEC_WEIGHTS: weights = dst; break;
        default: break;
        }
    }
    for (uint32_t t = 0; t < g->tensor_count; ++t) {
        const tl_gtensor *gt = &g->tensors[t];
        if (gt->rec.kind == TL_TENSOR_CONST && gt->rec.data_size) {
            memcpy(weights + tensors[t].data_offset, gt->data, gt->rec.data_size);
        }
        if (gt->channel_count) {
            memcpy(weights + tensors[t].channel_scales, gt->channel_scales, 4ull * gt->channel_count);
        }
    }
    for (uint32_t i = 0; i < g->op_count; ++i) {
        if (g->ops[i].channels) {
            memcpy(weights + ops[i].requant, g->ops[i].requant, 8ull * g->ops[i].channels);
            if (g->ops[i].bias) {
                memcpy(weights + ops[i].bias, g->ops[i].bias, 4ull * g->ops[i].channels);
            }
        }
        if (g->ops[i].residual_add) {
            memcpy(weights + (uint32_t)ops[i].p[0], g->ops[i].residual_add, sizeof(tl_residual_add));
        }
        if (g->ops[i].block_size) {
            memcpy(weights + ops[i].requant, g->ops[i].block, g->ops[i].block_size);
        }
    }
    tl_trailer tr;
    memset(&tr, 0, sizeof tr);
    memcpy(tr.magic, TL_TRAILER_MAGIC, 4);
    tr.signature_alg = TL_SIG_NONE;
    crypto_hash_sha256(tr.sha256, buf, trailer_at);
    memcpy(buf + trailer_at, &tr, sizeof tr);

    free(plan); free(tensors); free(ops); free(name_at);
    *out = buf;
    *out_size = file.size;
    return TL_OK;
}
