/* fuzz_loader.c - libFuzzer target for the device loader and interpreter.
 *
 * The digest check is skipped so mutations reach the structural checks;
 * whatever loads is made dense (tl_model_densify) and run on every exit. Any out-of-bounds access or
 * undefined behaviour is a finding (built with ASan + UBSan).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tinylarge/device.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
        if (tl_progressive_decode(buf, size, decoded, sizeof decoded, &planes, &model_size) == TL_OK) {
            memcpy(buf, decoded, model_size < size ? model_size : size);
            size = model_size < size ? model_size : size;
        }
    }
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
