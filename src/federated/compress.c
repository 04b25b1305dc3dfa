/* compress.c - what a client's update costs on the air (federated.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "tinylarge/federated.h"

int tl_compress_parse(const char *text, tl_compression *c)
{
    memset(c, 0, sizeof *c);
    if (strcmp(text, "none") == 0 || strcmp(text, "fp32") == 0) {
        return 0;
    }
    if (strcmp(text, "int8") == 0 || strcmp(text, "int8z") == 0) {
        c->kind = text[4] == 'z' ? TL_COMPRESS_INT8Z : TL_COMPRESS_INT8;
        return 0;
    }
    if (strncmp(text, "topk:", 5) == 0) {
        char *end = NULL;
        c->kind = TL_COMPRESS_TOPK;
        c->ratio = strtof(text + 5, &end);
        return end != text + 5 && *end == '\0' && c->ratio > 0.0f && c->ratio <= 1.0f ? 0 : -1;
    }
    return -1;
}

static size_t topk_count(const tl_compression *c, size_t dim)
{
    const size_t k = (size_t)ceil((double)c->ratio * (double)dim);
    return k < 1 ? 1 : (k > dim ? dim : k);
}

size_t tl_compress_bytes(const tl_compression *c, size_t dim)
{
    switch (c->kind) {
    case TL_COMPRESS_INT8:
    case TL_COMPRESS_INT8Z:
        return dim + 4 * ((dim + TL_COMPRESS_BLOCK - 1) / TL_COMPRESS_BLOCK);
    case TL_COMPRESS_TOPK:
        return 8 * topk_count(c, dim);
    default:
        return 4 * dim;
    }
}

static uint64_t next_u64(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static float uniform01(uint64_t *s)
{
    return (float)(next_u64(s) >> 40) * (1.0f / 16777216.0f);
}

static int compare_desc(const void *a, const void *b)
{
    const float x = *(const float *)a, y = *(const float *)b;
    return (x < y) - (x > y);
}

/* int8 with stochastic rounding, per block of TL_COMPRESS_BLOCK values;
 * with wire[dim + 4 x blocks] not NULL, the bytes sent too: the int8
 * values, then the float scales. */
static void quantise_int8(float *u, size_t dim, uint64_t *rng, uint8_t *wire)
{
    for (size_t at = 0, block = 0; at < dim; at += TL_COMPRESS_BLOCK, ++block) {
        const size_t n = dim - at < TL_COMPRESS_BLOCK ? dim - at : TL_COMPRESS_BLOCK;
        float top = 0.0f;
        for (size_t i = 0; i < n; ++i) {
            top = fabsf(u[at + i]) > top ? fabsf(u[at + i]) : top;
        }
        const float scale = top / 127.0f;
        for (size_t i = 0; i < n; ++i) {
            float q = 0.0f;
            if (scale > 0.0f) {
                /* Stochastic rounding: E[q] = u / scale, so the mean of many
                 * clients' updates is not biased toward zero. */
                const float x = u[at + i] / scale, lo = floorf(x);
                q = lo + (uniform01(rng) < x - lo ? 1.0f : 0.0f);
                q = q > 127.0f ? 127.0f : (q < -127.0f ? -127.0f : q);
                u[at + i] = q * scale;
            }
            if (wire) {
                wire[at + i] = (uint8_t)(int8_t)q;
            }
        }
        if (wire) {
            memcpy(wire + dim + 4 * block, &scale, 4);
        }
    }
}

size_t tl_compress_apply(const tl_compression *c, float *u, float *residual, size_t dim, uint64_t *rng)
{
    if (c->kind == TL_COMPRESS_INT8) {
        quantise_int8(u, dim, rng, NULL);
    } else if (c->kind == TL_COMPRESS_INT8Z) {
        /* The bytes themselves, deflated: what a client would send. */
        const size_t raw = tl_compress_bytes(c, dim);
        uLongf packed_size = compressBound((uLong)raw);
        uint8_t *wire = malloc(raw), *packed = malloc(packed_size);
        int ok = wire && packed;
        if (ok) {
            quantise_int8(u, dim, rng, wire);
            ok = compress2(packed, &packed_size, wire, (uLong)raw, 6) == Z_OK;
        }
        free(wire);
        free(packed);
        return ok ? (size_t)packed_size + 4 : 0; /* + its raw length, for the server's inflate */
    } else if (c->kind == TL_COMPRESS_TOPK) {
        const size_t k = topk_count(c, dim);
        float *mag = malloc(dim * sizeof(float));
        if (!mag) {
            return 0;
        }
        for (size_t i = 0; i < dim; ++i) {
            if (residual) {
                u[i] += residual[i];
            }
            mag[i] = fabsf(u[i]);
        }
        qsort(mag, dim, sizeof(float), compare_desc);
        const float cut = mag[k - 1];
        size_t kept = 0;
        for (size_t i = 0; i < dim; ++i) {
            /* Ties at the cut: the first ones, up to k in all. */
            const int keep = kept < k && fabsf(u[i]) >= cut;
            kept += (size_t)keep;
            if (residual) {
                residual[i] = keep ? 0.0f : u[i];
            }
            if (!keep) {
                u[i] = 0.0f;
            }
        }
        free(mag);
    }
    return tl_compress_bytes(c, dim);
}
