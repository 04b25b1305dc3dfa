/* encode.c - compact weight encodings the device kernels consume directly:
 * packed int4 (bit-level compression) and tap-grouped sparse (pruning). */
#include <stdlib.h>
#include <string.h>

#include "tinylarge/convert.h"

tl_status tl_pack_int4(const int8_t *values, uint64_t count, uint8_t **packed, uint32_t *size)
{
    if (!values || !packed || !size || count == 0 || count > 0xFFFFFFFEull) {
        return TL_ERR_ARG;
    }
    const uint32_t bytes = (uint32_t)((count + 1) / 2);
    uint8_t *out = calloc(bytes, 1);
    if (!out) {
        return TL_ERR_NOMEM;
    }
    for (uint64_t i = 0; i < count; ++i) {
        if (values[i] < -8 || values[i] > 7) {
            free(out);
            return TL_ERR_QUANT;
        }
        const uint8_t nibble = (uint8_t)values[i] & 0x0F;
        out[i / 2] |= (uint8_t)(i & 1 ? nibble << 4 : nibble);
    }
    *packed = out;
    *size = bytes;
    return TL_OK;
}

/* Non-zero weights, and a zeroed blob of `bytes` for an encoding of them. */
static uint64_t count_nonzero(const int8_t *weights, uint64_t count)
{
    uint64_t nnz = 0;
    for (uint64_t i = 0; i < count; ++i) {
        nnz += weights[i] != 0;
    }
    return nnz;
}

static tl_status new_blob(uint64_t bytes, uint8_t **out)
{
    if (bytes > 0x7FFFFFFFu) {
        return TL_ERR_BOUNDS;
    }
    *out = calloc(1, bytes);
    return *out ? TL_OK : TL_ERR_NOMEM;
}

tl_status tl_encode_bitmap(const int8_t *weights, uint32_t out_c, uint32_t k_h, uint32_t k_w, uint32_t in_c,
                           uint8_t **blob, uint32_t *size)
{
    if (!weights || !blob || !size || !out_c || !k_h || !k_w || !in_c) {
        return TL_ERR_ARG;
    }
    const uint64_t taps = (uint64_t)k_h * k_w, row_bytes = (in_c + 7u) / 8u;
    const uint64_t nnz = count_nonzero(weights, out_c * taps * in_c);
    const uint64_t bitmap_bytes = out_c * taps * row_bytes;
    const uint64_t bytes = 4 + 4 * ((uint64_t)out_c + 1) + bitmap_bytes + nnz;
    uint8_t *out;
    const tl_status s = new_blob(bytes, &out);
    if (s != TL_OK) {
        return s;
    }
    uint32_t *words = (uint32_t *)(void *)out;
    uint32_t *oc_start = words + 1;
    uint8_t *bitmap = (uint8_t *)(oc_start + out_c + 1);
    int8_t *value = (int8_t *)(bitmap + bitmap_bytes);
    words[0] = (uint32_t)nnz;
    uint32_t k = 0;
    for (uint32_t oc = 0; oc < out_c; ++oc) {
        oc_start[oc] = k;
        for (uint64_t t = 0; t < taps; ++t) {
            const int8_t *w = weights + (oc * taps + t) * in_c;
            uint8_t *row = bitmap + (oc * taps + t) * row_bytes;
            for (uint32_t c = 0; c < in_c; ++c) {
                if (w[c]) {
                    row[c / 8] |= (uint8_t)(1u << (c % 8));
                    value[k++] = w[c];
                }
            }
        }
    }
    oc_start[out_c] = k;
    *blob = out;
    *size = (uint32_t)bytes;
    return TL_OK;
}

tl_status tl_encode_sparse(const int8_t *weights, uint32_t out_c, uint32_t k_h, uint32_t k_w,
                           uint32_t in_c, uint8_t **blob, uint32_t *size)
{
    if (!weights || !blob || !size || !out_c || !k_h || !k_w || !in_c || in_c > 65536) {
        return TL_ERR_ARG;
    }
    const uint64_t rows = (uint64_t)out_c * k_h * k_w;
    const uint64_t nnz = count_nonzero(weights, rows * in_c);
    const uint64_t bytes = 4 + 4 * (rows + 1) + 3 * nnz;
    uint8_t *out;
    const tl_status s = new_blob(bytes, &out);
    if (s != TL_OK) {
        return s;
    }
    uint32_t *words = (uint32_t *)(void *)out;
    uint32_t *row_start = words + 1;
    uint16_t *channel = (uint16_t *)(void *)(row_start + rows + 1);
    int8_t *value = (int8_t *)(channel + nnz);
    words[0] = (uint32_t)nnz;
    uint32_t k = 0;
    for (uint64_t r = 0; r < rows; ++r) {
        row_start[r] = k;
        for (uint32_t c = 0; c < in_c; ++c) {
            const int8_t w = weights[r * in_c + c];
            if (w) {
                channel[k] = (uint16_t)c;
                value[k] = w;
                ++k;
            }
        }
    }
    row_start[rows] = k;
    *blob = out;
    *size = (uint32_t)bytes;
    return TL_OK;
}
