/* fuzz_loader.c - libFuzzer target for the device loader and interpreter.
 *
 * The digest check is skipped so mutations reach the structural checks
 * (a progressive stream's plane digests are recomputed for the same reason);
 * whatever loads is made dense (tl_model_densify) and run on every exit.
 * The same bytes also go through the layer pipeline as if arriving in
 * blocks, with the digest recomputed so they reach its end; what it
 * answers must be what the whole model answers. Any out-of-bounds access or
 * undefined behaviour is a finding (built with ASan + UBSan).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tinylarge/device.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Runs buf[0, size) through a pipeline fed 200 bytes at a time; whatever
 * it answers must equal the whole model's answer on the same input. */
static void pipeline(uint8_t *buf, size_t size)
{
    const tl_file_header *h = (const tl_file_header *)(const void *)buf;
    if (size >= sizeof(tl_file_header) + sizeof(tl_trailer) && h->file_size == size && size % 4 == 0) {
        tl_sha256 ctx;
        tl_trailer *t = (tl_trailer *)(void *)(buf + size - sizeof(tl_trailer));
        tl_sha256_init(&ctx);
        tl_sha256_update(&ctx, buf, size - sizeof(tl_trailer));
        tl_sha256_final(&ctx, t->sha256);
    }
    tl_model probe;
    size_t held = 0;
    tl_status s = TL_ERR_TRUNCATED;
    while (s == TL_ERR_TRUNCATED && held < size) {
        held = size - held > 200 ? held + 200 : size;
        s = tl_model_load_prefix(&probe, buf, held);
    }
    if (s != TL_OK || tl_model_arena_size(&probe) > (1u << 24)) {
        return;
    }
    const uint32_t arena_size = tl_model_arena_size(&probe);
    uint8_t *arena = aligned_alloc(16, arena_size / 16 * 16 + 16);
    uint8_t *arena2 = aligned_alloc(16, arena_size / 16 * 16 + 16);
    tl_pipeline p;
    if (arena && arena2 && tl_pipeline_begin(&p, buf, held, arena, arena_size) == TL_OK) {
        uint32_t n = 0, ran = 0;
        memset(tl_pipeline_input(&p, 0, &n), 5, n);
        for (s = TL_OK; s == TL_OK;) {
            do {
                s = tl_pipeline_step(&p, held, &ran);
            } while (s == TL_OK && ran);
            if (held == size) {
                break;
            }
            held = size - held > 200 ? held + 200 : size;
        }
        tl_model m;
        tl_interp it;
        if (tl_pipeline_done(&p) && tl_model_load(&m, buf, size, 0) == TL_OK &&
            tl_interp_init(&it, &m, arena2, arena_size) == TL_OK) {
            memset(tl_interp_input(&it, 0, &n), 5, n);
            tl_interp_invoke(&it);
            uint32_t a = 0, b = 0;
            const int8_t *x = tl_pipeline_output(&p, 0, &a), *y = tl_interp_output(&it, 0, &b);
            if (a != b || memcmp(x, y, a) != 0) {
                abort(); /* the pipeline answered otherwise than the model */
            }
        }
    }
    free(arena);
    free(arena2);
}

/* A progressive stream's plane digests made right for its bytes, as an
 * attacker who controls the whole stream could: mutations then reach the
 * decoder's structure checks and its arithmetic, not only the digest. */
static void redigest_planes(uint8_t *buf, size_t size)
{
    tl_progressive_header h;
    if (size < sizeof h) {
        return;
    }
    memcpy(&h, buf, sizeof h);
    const uint64_t planes_at = sizeof h + (uint64_t)h.tensor_count * sizeof(tl_progressive_tensor) +
                               (uint64_t)h.sum_count * 4 + h.skeleton_size;
    memset(h.plane_sha256, 0, sizeof h.plane_sha256);
    memcpy(buf, &h, sizeof h);
    for (uint64_t k = 0; k < 8 && planes_at + (k + 1) * (uint64_t)h.plane_size <= size; ++k) {
        tl_sha256 ctx;
        tl_sha256_init(&ctx);
        tl_sha256_update(&ctx, buf, (size_t)(planes_at + (k + 1) * (uint64_t)h.plane_size));
        tl_sha256_final(&ctx, h.plane_sha256[k]);
    }
    memcpy(buf, &h, sizeof h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *buf = aligned_alloc(16, (size + 16) / 16 * 16);
    if (!buf) {
        return 0;
    }
    memcpy(buf, data, size);
    /* A progressive stream (a prefix of one): decode into a bounded buffer,
     * then the decoded model goes through the same loader and interpreter. */
    if (size >= 4 && memcmp(data, TL_PROGRESSIVE_MAGIC, 4) == 0) {
        static uint8_t decoded[1 << 16] __attribute__((aligned(16)));
        uint32_t planes, model_size;
        redigest_planes(buf, size);
        if (tl_progressive_decode(buf, size, decoded, sizeof decoded, &planes, &model_size) == TL_OK) {
            memcpy(buf, decoded, model_size < size ? model_size : size);
            size = model_size < size ? model_size : size;
        }
    }
    pipeline(buf, size);
    tl_model m;
    if (tl_model_load(&m, buf, size, TL_LOAD_SKIP_DIGEST) != TL_OK) {
        free(buf);
        return 0;
    }
    /* What loads can be made dense (or is refused), and the dense form is
     * exactly as big as announced. */
    static uint8_t dense[1 << 17] __attribute__((aligned(16)));
    uint32_t dense_size = 0, written = 0;
    if (tl_model_dense_size(&m, &dense_size) == TL_OK && dense_size <= sizeof dense &&
        tl_model_densify(&m, dense, sizeof dense, &written) == TL_OK && written != dense_size) {
        abort();
    }
    if (tl_model_arena_size(&m) <= (1u << 24)) {
        uint8_t *arena = malloc(tl_model_arena_size(&m) + 1);
        tl_interp it;
        if (arena && tl_interp_init(&it, &m, arena, tl_model_arena_size(&m)) == TL_OK) {
            uint32_t n = 0;
            int8_t *in = tl_interp_input(&it, 0, &n);
            memset(in, 7, n);
            tl_interp_invoke(&it);
            tl_interp_input(&it, 0, NULL);
            for (uint32_t e = 0; e < m.header->exit_count; ++e) {
                tl_exit_result r;
                tl_interp_run_to_exit(&it, e, &r);
            }
        }
        free(arena);
    }
    free(buf);
    return 0;
}
