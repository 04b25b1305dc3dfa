/* progressive.c - decode a bit-plane progressive stream (.tlp) prefix into a
 * runnable .tlm, on the device, with no heap.
 *
 * A device downloading a model can start inferring once the skeleton and the
 * most significant plane have arrived, and upgrade as more planes come in:
 * the weights' scales do not change, only their precision. Layout in
 * include/tinylarge/format.h; encoder in src/convert/progressive.c.
 */
#include <string.h>

#include "tinylarge/device.h"

static tl_status check_prefix(const uint8_t *stream, size_t end, const uint8_t digest[32])
{
    uint8_t got[32];
    tl_sha256 ctx;
    tl_sha256_init(&ctx);
    /* The digest covers the stream with the digests themselves zeroed. */
    const size_t digests_at = offsetof(tl_progressive_header, plane_sha256);
    static const uint8_t zeros[8 * 32] = { 0 };
    tl_sha256_update(&ctx, stream, digests_at);
    tl_sha256_update(&ctx, zeros, sizeof zeros);
    tl_sha256_update(&ctx, stream + digests_at + sizeof zeros, end - digests_at - sizeof zeros);
    tl_sha256_final(&ctx, got);
    return memcmp(got, digest, 32) == 0 ? TL_OK : TL_ERR_DIGEST;
}

/* Effective biases were computed for the full weights (bias - zp * sum(w));
 * with coarser weights each channel's sum changed, so every op reading a
 * progressive filter gets bias += input_offset * (sum(w') - sum(w)). */
static tl_status fix_biases(const tl_progressive_header *h, const tl_progressive_tensor *t, const int32_t *sums,
                            uint8_t *out)
{
    tl_model m;
    /* The structure is the skeleton's, validated here before it is used. */
    tl_status s = tl_model_load(&m, out, h->model_size, TL_LOAD_SKIP_DIGEST);
    if (s != TL_OK) {
        return s;
    }
    for (uint32_t i = 0; i < h->tensor_count; ++i) {
        tl_progressive_tensor cur;
        memcpy(&cur, &t[i], sizeof cur);
        if (cur.tensor >= m.header->tensor_count) {
            return TL_ERR_BOUNDS;
        }
        for (uint32_t k = 0; k < m.header->op_count; ++k) {
            const tl_op_rec *op = &m.ops[k];
            const int depthwise = op->opcode == TL_OP_DEPTHWISE_CONV_2D;
            if (op->inputs[1] != cur.tensor ||
                (op->opcode != TL_OP_CONV_2D && !depthwise && op->opcode != TL_OP_FULLY_CONNECTED)) {
                continue;
            }
            /* The record must name exactly this filter's values. */
            tl_filter_values v;
            if (tl_filter_values_of(&m, cur.tensor, depthwise, &v) != TL_OK ||
                cur.model_offset != (uint64_t)(m.weights - m.base) + m.tensors[cur.tensor].data_offset + v.offset ||
                cur.count != v.count || (uint64_t)cur.sums + v.channels > h->sum_count) {
                return TL_ERR_BOUNDS;
            }
            /* The sums come from the stream: the arithmetic is done wide and
             * a bias that would leave int32 refused (an int8 or int16 input's
             * offset is far below 2^16, so the product fits in 64 bits). */
            if (op->input_offset < -65536 || op->input_offset > 65536) {
                return TL_ERR_FORMAT;
            }
            int32_t *bias = (int32_t *)(void *)(out + (m.weights - m.base) + op->bias);
            for (uint32_t c = 0; c < v.channels; ++c) {
                const int64_t total = tl_filter_channel_sum(&m, cur.tensor, depthwise, c);
                const int64_t fixed = (int64_t)bias[c] + (int64_t)op->input_offset * (total - sums[cur.sums + c]);
                if (fixed < INT32_MIN || fixed > INT32_MAX) {
                    return TL_ERR_FORMAT;
                }
                bias[c] = (int32_t)fixed;
            }
        }
    }
    return TL_OK;
}

tl_status tl_progressive_decode(const uint8_t *stream, size_t size, uint8_t *out, size_t out_capacity,
                                uint32_t *planes, uint32_t *model_size)
{
    if (!stream || !out || !planes || !model_size) {
        return TL_ERR_ARG;
    }
    tl_progressive_header h;
    if (size < sizeof h) {
        return TL_ERR_TRUNCATED;
    }
    memcpy(&h, stream, sizeof h);
    if (memcmp(h.magic, TL_PROGRESSIVE_MAGIC, 4) != 0) {
        return TL_ERR_MAGIC;
    }
    const uint64_t table = (uint64_t)h.tensor_count * sizeof(tl_progressive_tensor) + (uint64_t)h.sum_count * 4;
    const uint64_t skeleton_at = sizeof h + table;
    const uint64_t planes_at = skeleton_at + h.skeleton_size;
    if (h.header_size != sizeof h || h.planes != 8 || h.plane_size != (h.weight_count + 7) / 8 ||
        h.model_size != (uint64_t)h.skeleton_size + h.weight_count || h.model_size < sizeof(tl_trailer) ||
        h.tensor_count > 0x10000u || h.sum_count > 0x1000000u) {
        return TL_ERR_FORMAT;
    }
    if (out_capacity < h.model_size) {
        return TL_ERR_ARG;
    }
    /* How many complete planes arrived. */
    uint32_t have = 0;
    while (have < 8 && planes_at + (uint64_t)(have + 1) * h.plane_size <= size) {
        ++have;
    }
    if (have == 0) {
        return TL_ERR_TRUNCATED;
    }
    tl_status s = check_prefix(stream, (size_t)(planes_at + (uint64_t)have * h.plane_size), h.plane_sha256[have - 1]);
    if (s != TL_OK) {
        return s;
    }
    /* The skeleton holds everything but the listed weights, in model order:
     * copy it around the holes, then fill the holes from the planes. */
    const tl_progressive_tensor *t = (const tl_progressive_tensor *)(const void *)(stream + sizeof h);
    uint64_t model_at = 0, skel_at = 0, weight_index = 0;
    const uint8_t *skel = stream + skeleton_at;
    const uint8_t *plane0 = stream + planes_at;
    /* Missing low bits: the midpoint of what they could be, 2^(m-1) - 1/2 for
     * m missing bits, which is not an integer: alternate 2^(m-1) and
     * 2^(m-1) - 1 so the rounding error averages to zero (a constant fill
     * biases every weight the same way, and that adds up across a layer). */
    const uint8_t fill = have < 8 ? (uint8_t)(1u << (7 - have)) : 0;
    for (uint32_t i = 0; i <= h.tensor_count; ++i) {
        tl_progressive_tensor cur;
        if (i < h.tensor_count) {
            memcpy(&cur, &t[i], sizeof cur);
        } else {
            cur.model_offset = h.model_size;
            cur.count = 0;
        }
        if (cur.model_offset < model_at || (uint64_t)cur.model_offset + cur.count > h.model_size) {
            return TL_ERR_BOUNDS;
        }
        const uint64_t gap = cur.model_offset - model_at;
        if (skel_at + gap > h.skeleton_size || weight_index + cur.count > h.weight_count) {
            return TL_ERR_BOUNDS; /* the planes hold weight_count weights, no more */
        }
        memcpy(out + model_at, skel + skel_at, (size_t)gap);
        skel_at += gap;
        model_at = cur.model_offset;
        for (uint32_t k = 0; k < cur.count; ++k, ++weight_index) {
            uint8_t v = (uint8_t)(fill - (fill ? (weight_index & 1) : 0));
            for (uint32_t p = 0; p < have; ++p) {
                const uint8_t bit = (plane0[(uint64_t)p * h.plane_size + (weight_index >> 3)] >> (weight_index & 7)) & 1;
                v |= (uint8_t)(bit << (7 - p));
            }
            out[model_at + k] = v;
        }
        model_at += cur.count;
    }
    if (skel_at != h.skeleton_size || weight_index != h.weight_count) {
        return TL_ERR_FORMAT;
    }
    if (have < 8) {
        s = fix_biases(&h, t, (const int32_t *)(const void *)(stream + sizeof h +
                                                              (size_t)h.tensor_count * sizeof *t), out);
        if (s != TL_OK) {
            return s;
        }
    }
    /* A fresh digest for the decoded model. */
    tl_trailer *tr = (tl_trailer *)(void *)(out + h.model_size - sizeof *tr);
    tl_sha256 ctx;
    tl_sha256_init(&ctx);
    tl_sha256_update(&ctx, out, h.model_size - sizeof *tr);
    tl_sha256_final(&ctx, tr->sha256);
    if (have < 8) {
        tr->signature_alg = TL_SIG_NONE; /* a coarser prefix is not the signed model */
    }
    /* What was decoded is checked whole, as any model is, before anyone
     * runs it: the stream's digests say only that these are the bytes the
     * publisher sent, and the biases were rewritten since. */
    tl_model decoded;
    s = tl_model_load(&decoded, out, h.model_size, 0);
    if (s != TL_OK) {
        return s;
    }
    *planes = have;
    *model_size = h.model_size;
    return TL_OK;
}
