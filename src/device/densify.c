/* densify.c - expand a model's packed filters (sparse or int4) to dense
 * int8 on the device, with no heap.
 *
 * A pruned model downloads small (its CSR or bitmap filters hold only the
 * non-zero weights) but runs slowly on a Cortex-M4: the sparse kernels spend
 * several instructions per non-zero on the index, the dense ones two MACs
 * per SMLAD. An int4 model downloads at half the bytes but its kernel
 * unpacks nibbles. A device with the flash for the dense form can have both:
 * it downloads and verifies the packed model, then installs this expansion.
 * The integers are unchanged (pruned weights become explicit zeros, nibbles
 * whole bytes), so the outputs are bit-identical.
 *
 * The expansion grows WEIGHTS in place: each packed filter's bytes are
 * replaced by its dense bytes, padded so that the growth is a multiple of 16
 * and every later offset keeps its alignment; every offset into WEIGHTS
 * (tensor data and channel scales, operator requantisation, bias and
 * residual blocks) and every section after WEIGHTS moves by the growth
 * before it.
 */
#include <string.h>

#include "tinylarge/device.h"

int tl_tensor_is_packed(const tl_tensor_rec *t)
{
    return t->kind == TL_TENSOR_CONST && (t->dtype == TL_DTYPE_SPARSE_INT8 || t->dtype == TL_DTYPE_BITMAP_INT8 ||
                                          t->dtype == TL_DTYPE_INT4);
}

/* Bytes of the dense filter: out_c * taps * in_c, the tensor's elements
 * (below 2^31: the loader checked). */
static uint32_t dense_bytes(const tl_tensor_rec *t)
{
    return (uint32_t)tl_tensor_elements(t);
}

uint32_t tl_model_packed_filters(const tl_model *model)
{
    uint32_t n = 0;
    for (uint32_t i = 0; model && model->header && i < model->header->tensor_count; ++i) {
        n += (uint32_t)tl_tensor_is_packed(&model->tensors[i]);
    }
    return n;
}

/* How much a packed filter grows (0 for any other tensor, and for a sparse
 * one no smaller than dense). The loader keeps the element count below
 * 2^31, so this fits. */
static uint32_t growth(const tl_tensor_rec *t)
{
    if (!tl_tensor_is_packed(t) || dense_bytes(t) <= t->data_size) {
        return 0;
    }
    return (dense_bytes(t) - t->data_size + 15u) & ~15u;
}

/* Whether WEIGHTS offset x points into a packed filter other than tensor
 * `self`: nothing in a valid model does, and the expansion would change
 * what it reads. */
static int inside_packed(const tl_model *m, uint32_t x, uint32_t self)
{
    for (uint32_t i = 0; x != TL_NONE && i < m->header->tensor_count; ++i) {
        const tl_tensor_rec *t = &m->tensors[i];
        if (i != self && tl_tensor_is_packed(t) && x >= t->data_offset && x < t->data_offset + t->data_size) {
            return 1;
        }
    }
    return 0;
}

/* Every offset into WEIGHTS must start a record, not sit inside a packed
 * filter, and packed filters must not share bytes. */
static tl_status check_offsets(const tl_model *m)
{
    for (uint32_t i = 0; i < m->header->tensor_count; ++i) {
        const tl_tensor_rec *t = &m->tensors[i];
        if (t->kind != TL_TENSOR_CONST) {
            continue;
        }
        /* (Two packed filters overlap exactly when one starts inside the other.) */
        if (inside_packed(m, t->data_offset, i) || inside_packed(m, t->channel_scales, TL_NONE)) {
            return TL_ERR_FORMAT;
        }
    }
    for (uint32_t k = 0; k < m->header->op_count; ++k) {
        const tl_op_rec *op = &m->ops[k];
        if (inside_packed(m, op->requant, TL_NONE) || inside_packed(m, op->bias, TL_NONE) ||
            ((op->flags & TL_OP_FLAG_RESIDUAL) && inside_packed(m, (uint32_t)op->p[0], TL_NONE))) {
            return TL_ERR_FORMAT;
        }
    }
    return TL_OK;
}

/* Where WEIGHTS offset x lands: moved by the growth of every packed filter
 * that starts before it. */
static uint32_t moved(const tl_model *m, uint32_t x)
{
    if (x == TL_NONE) {
        return x;
    }
    uint32_t shift = 0;
    for (uint32_t i = 0; i < m->header->tensor_count; ++i) {
        if (tl_tensor_is_packed(&m->tensors[i]) && m->tensors[i].data_offset < x) {
            shift += growth(&m->tensors[i]);
        }
    }
    return x + shift;
}

tl_status tl_model_dense_size(const tl_model *model, uint32_t *size)
{
    if (!model || !model->header || !size) {
        return TL_ERR_ARG;
    }
    const tl_status s = check_offsets(model);
    if (s != TL_OK) {
        return s;
    }
    uint64_t total = model->size;
    for (uint32_t i = 0; i < model->header->tensor_count; ++i) {
        total += growth(&model->tensors[i]);
    }
    if (total > 0xFFFFFFF0u) {
        return TL_ERR_BOUNDS;
    }
    *size = (uint32_t)total;
    return TL_OK;
}

/* Writes the dense form of packed filter t at out (dense_bytes(t) bytes). */
static void expand(const tl_model *m, const tl_tensor_rec *t, int8_t *out)
{
    const uint8_t *blob = m->weights + t->data_offset;
    const uint32_t *words = (const uint32_t *)(const void *)blob;
    const uint32_t out_c = t->dims[0];
    const uint32_t taps = t->rank == 4 ? t->dims[1] * t->dims[2] : 1u;
    const uint32_t in_c = t->rank == 4 ? t->dims[3] : t->dims[1];
    const uint32_t rows = out_c * taps;
    memset(out, 0, dense_bytes(t));
    if (t->dtype == TL_DTYPE_INT4) { /* two per byte, the even index in the low nibble */
        const uint32_t n = dense_bytes(t);
        for (uint32_t i = 0; i < n; ++i) {
            const uint8_t nibble = (uint8_t)((blob[i / 2u] >> (4u * (i & 1u))) & 15u);
            out[i] = (int8_t)(nibble >= 8u ? (int)nibble - 16 : (int)nibble);
        }
    } else if (t->dtype == TL_DTYPE_SPARSE_INT8) { /* nnz, row_start[rows + 1], channel[nnz], value[nnz] */
        const uint32_t nnz = words[0];
        const uint16_t *channel = (const uint16_t *)(const void *)(blob + 4u + 4u * (rows + 1u));
        const int8_t *value = (const int8_t *)(blob + 4u + 4u * (rows + 1u) + 2u * nnz);
        for (uint32_t r = 0; r < rows; ++r) {
            for (uint32_t k = words[1 + r]; k < words[2 + r]; ++k) {
                out[(size_t)r * in_c + channel[k]] = value[k];
            }
        }
    } else { /* nnz, oc_start[out_c + 1], bitmap[rows][row bytes], value[nnz] */
        const uint32_t row_bytes = (in_c + 7u) / 8u;
        const uint8_t *bitmap = blob + 4u + 4u * (out_c + 1u);
        const int8_t *value = (const int8_t *)(bitmap + (size_t)rows * row_bytes);
        uint32_t k = 0;
        for (uint32_t r = 0; r < rows; ++r) {
            for (uint32_t c = 0; c < in_c; ++c) {
                if ((bitmap[(size_t)r * row_bytes + c / 8u] >> (c % 8u)) & 1u) {
                    out[(size_t)r * in_c + c] = value[k++];
                }
            }
        }
    }
}

/* The packed filter with the smallest data offset above `after` (or any,
 * with first set); tensor_count when there is none. Quadratic in the number
 * of tensors, which is small, and needs no memory. */
static uint32_t next_packed(const tl_model *m, uint32_t after, int first)
{
    uint32_t best = m->header->tensor_count;
    for (uint32_t i = 0; i < m->header->tensor_count; ++i) {
        const tl_tensor_rec *t = &m->tensors[i];
        if (tl_tensor_is_packed(t) && (first || t->data_offset > after) &&
            (best == m->header->tensor_count || t->data_offset < m->tensors[best].data_offset)) {
            best = i;
        }
    }
    return best;
}

tl_status tl_model_densify(const tl_model *model, uint8_t *out, size_t capacity, uint32_t *out_size)
{
    uint32_t size;
    tl_status s = tl_model_dense_size(model, &size);
    if (s != TL_OK || !out || !out_size) {
        return s != TL_OK ? s : TL_ERR_ARG;
    }
    if (capacity < size) {
        return TL_ERR_ARG;
    }
    const tl_model *m = model;
    const uint32_t grown = size - m->size;
    const uint32_t weights_at = (uint32_t)(m->weights - m->base);
    const uint32_t weights_end = weights_at + m->weights_size;
    /* Before WEIGHTS: as it was; WEIGHTS: gaps copied, packed filters
     * expanded; after WEIGHTS (up to the trailer): moved by the growth. */
    memcpy(out, m->base, weights_at);
    uint32_t from = 0, to = weights_at;
    for (uint32_t i = next_packed(m, 0, 1); i < m->header->tensor_count;
         i = next_packed(m, m->tensors[i].data_offset, 0)) {
        const tl_tensor_rec *t = &m->tensors[i];
        const uint32_t slot = t->data_size + growth(t), dense = dense_bytes(t);
        memcpy(out + to, m->weights + from, t->data_offset - from);
        to += t->data_offset - from;
        expand(m, t, (int8_t *)(out + to));
        memset(out + to + dense, 0, slot - dense);
        to += slot;
        from = t->data_offset + t->data_size;
    }
    memcpy(out + to, m->weights + from, m->weights_size - from);
    memcpy(out + weights_end + grown, m->base + weights_end, m->size - weights_end);

    /* Offsets. The loader checked every record, so each is in range. */
    tl_file_header *h = (tl_file_header *)(void *)out;
    h->file_size = size;
    if (h->section_table >= weights_end) {
        h->section_table += grown;
    }
    tl_section_rec *sec = (tl_section_rec *)(void *)(out + h->section_table);
    uint32_t tensors_at = 0, ops_at = 0;
    for (uint32_t k = 0; k < h->section_count; ++k) {
        if (sec[k].kind == TL_SEC_WEIGHTS) {
            sec[k].size += grown;
        } else if (sec[k].offset >= weights_end) {
            sec[k].offset += grown;
        }
        tensors_at = sec[k].kind == TL_SEC_TENSORS ? sec[k].offset : tensors_at;
        ops_at = sec[k].kind == TL_SEC_OPS ? sec[k].offset : ops_at;
    }
    tl_tensor_rec *tensors = (tl_tensor_rec *)(void *)(out + tensors_at);
    for (uint32_t i = 0; i < h->tensor_count; ++i) {
        if (tensors[i].kind != TL_TENSOR_CONST) {
            continue;
        }
        tensors[i].data_offset = moved(m, m->tensors[i].data_offset);
        tensors[i].channel_scales = moved(m, m->tensors[i].channel_scales);
        if (tl_tensor_is_packed(&m->tensors[i])) {
            tensors[i].dtype = TL_DTYPE_INT8;
            tensors[i].data_size = dense_bytes(&m->tensors[i]);
        }
    }
    tl_op_rec *ops = (tl_op_rec *)(void *)(out + ops_at);
    for (uint32_t k = 0; k < h->op_count; ++k) {
        ops[k].requant = moved(m, m->ops[k].requant);
        ops[k].bias = moved(m, m->ops[k].bias);
        if (m->ops[k].flags & TL_OP_FLAG_RESIDUAL) {
            ops[k].p[0] = (int32_t)moved(m, (uint32_t)m->ops[k].p[0]);
        }
    }
    /* A new digest; the signature was over the downloaded model's. */
    tl_trailer *tr = (tl_trailer *)(void *)(out + size - sizeof *tr);
    tr->signature_alg = TL_SIG_NONE;
    tr->key_id = 0;
    memset(tr->signature, 0, sizeof tr->signature);
    tl_sha256 ctx;
    tl_sha256_init(&ctx);
    tl_sha256_update(&ctx, out, size - sizeof *tr);
    tl_sha256_final(&ctx, tr->sha256);
    tl_model check;
    s = tl_model_load(&check, out, size, 0);
    if (s != TL_OK) {
        return s;
    }
    *out_size = size;
    return TL_OK;
}
