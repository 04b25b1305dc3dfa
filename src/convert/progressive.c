/* progressive.c - encode a .tlm as a bit-plane progressive stream (.tlp).
 *
 * The skeleton (everything but the int8 weight values: tables, biases,
 * requantisation constants, the arena plan, the index structure of sparse
 * filters) comes first, then the weights' bit planes from the sign bit down.
 * A receiver holding the skeleton and k planes has every weight to k bits of
 * precision (a pruned weight stays exactly zero); the decoder
 * (src/device/progressive.c) rebuilds a normal .tlm from any such prefix.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "tinylarge/convert.h"
#include "tinylarge/device.h"

static int by_offset(const void *a, const void *b)
{
    const tl_progressive_tensor *x = a, *y = b;
    return x->model_offset < y->model_offset ? -1 : (x->model_offset > y->model_offset);
}

tl_status tl_progressive_encode(const uint8_t *tlm, size_t size, uint8_t **out, size_t *out_size,
                                uint32_t *plane_ends)
{
    if (!tlm || !out || !out_size) {
        return TL_ERR_ARG;
    }
    *out = NULL;
    *out_size = 0;
    tl_model m;
    tl_status s = tl_model_load(&m, tlm, size, 0);
    if (s != TL_OK) {
        return s;
    }
    const uint32_t base = (uint32_t)(m.weights - m.base);
    tl_progressive_tensor *t = malloc((m.header->tensor_count + 1) * sizeof *t);
    if (!t) {
        return TL_ERR_NOMEM;
    }
    /* The int8 filters of convolution-like ops, dense or sparse (for sparse
     * ones only the values: their structure stays in the skeleton); int4
     * and everything else stay in the skeleton. */
    uint32_t n = 0, sums = 0;
    uint64_t weights = 0;
    uint8_t *depthwise = calloc(m.header->tensor_count + 1, 1);
    if (!depthwise) {
        free(t);
        return TL_ERR_NOMEM;
    }
    for (uint32_t i = 0; i < m.header->tensor_count; ++i) {
        int filter = 0;
        for (uint32_t k = 0; k < m.header->op_count && !filter; ++k) {
            const tl_op_rec *op = &m.ops[k];
            filter = (op->opcode == TL_OP_CONV_2D || op->opcode == TL_OP_DEPTHWISE_CONV_2D ||
                      op->opcode == TL_OP_FULLY_CONNECTED) && op->inputs[1] == i;
            depthwise[i] = filter && op->opcode == TL_OP_DEPTHWISE_CONV_2D;
        }
        tl_filter_values v;
        if (filter && tl_filter_values_of(&m, i, depthwise[i], &v) == TL_OK && v.count > 0) {
            t[n].model_offset = base + m.tensors[i].data_offset + v.offset;
            t[n].count = v.count;
            t[n].tensor = i;
            t[n].sums = sums;
            sums += v.channels;
            weights += v.count;
            ++n;
        }
    }
    qsort(t, n, sizeof *t, by_offset);
    tl_progressive_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, TL_PROGRESSIVE_MAGIC, 4);
    h.header_size = sizeof h;
    h.model_size = m.size;
    h.skeleton_size = (uint32_t)(m.size - weights);
    h.tensor_count = n;
    h.weight_count = (uint32_t)weights;
    h.plane_size = (uint32_t)((weights + 7) / 8);
    h.planes = 8;
    h.sum_count = sums;
    const size_t table = (size_t)n * sizeof *t + (size_t)sums * 4;
    const size_t planes_at = sizeof h + table + h.skeleton_size;
    const size_t total = planes_at + 8ull * h.plane_size;
    uint8_t *buf = calloc(1, total);
    if (!buf) {
        free(t);
        return TL_ERR_NOMEM;
    }
    memcpy(buf + sizeof h, t, (size_t)n * sizeof *t);
    int32_t *sum = (int32_t *)(void *)(buf + sizeof h + (size_t)n * sizeof *t);
    for (uint32_t i = 0; i < n; ++i) {
        tl_filter_values v;
        tl_filter_values_of(&m, t[i].tensor, depthwise[t[i].tensor], &v); /* succeeded above */
        for (uint32_t c = 0; c < v.channels; ++c) {
            sum[t[i].sums + c] = tl_filter_channel_sum(&m, t[i].tensor, depthwise[t[i].tensor], c);
        }
    }
    /* Skeleton: the model without the listed weight ranges; the weights
     * themselves, in the same order, into the planes. */
    uint8_t *skel = buf + sizeof h + table;
    uint8_t *planes = buf + planes_at;
    size_t skel_at = 0, at = 0;
    uint64_t w = 0;
    for (uint32_t i = 0; i <= n; ++i) {
        const uint32_t next = i < n ? t[i].model_offset : m.size;
        memcpy(skel + skel_at, tlm + at, next - at);
        skel_at += next - at;
        at = next;
        if (i == n) {
            break;
        }
        for (uint32_t k = 0; k < t[i].count; ++k, ++w) {
            const uint8_t v = tlm[at + k];
            for (uint32_t p = 0; p < 8; ++p) {
                if ((v >> (7 - p)) & 1) {
                    planes[(size_t)p * h.plane_size + (w >> 3)] |= (uint8_t)(1u << (w & 7));
                }
            }
        }
        at += t[i].count;
    }
    /* Digests of every prefix, computed with the digest field zeroed. */
    memcpy(buf, &h, sizeof h);
    for (uint32_t p = 0; p < 8; ++p) {
        const size_t end = planes_at + (size_t)(p + 1) * h.plane_size;
        crypto_hash_sha256(h.plane_sha256[p], buf, end);
        if (plane_ends) {
            plane_ends[p] = (uint32_t)end;
        }
    }
    memcpy(buf, &h, sizeof h);
    free(depthwise);
    free(t);
    *out = buf;
    *out_size = total;
    return TL_OK;
}
