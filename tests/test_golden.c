/* test_golden.c - the MLPerf Tiny reference models, end to end.
 *
 * Each model is imported from its .tflite file, loaded by the device
 * loader, and run on every golden input; the output must equal TensorFlow
 * Lite Micro's reference-kernel output byte for byte. The models live in
 * the shared folder beside the repository (TL_SHARED_DIR); without it the
 * test is skipped (exit 77), never silently passed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tinylarge/convert.h"
#include "tinylarge/device.h"
#include "tinylarge/host.h"

static const char *const models[] = { "kws_ref_model", "vww_96_int8", "pretrainedResnet_quant", "ad01_int8" };
/* TFLite Micro's arena for each model (../shared/anchors.md, x86-64): ours
 * must never be larger. */
static const uint32_t tflm_arena[] = { 24000, 103392, 55712, 3424 };

static void run_model(int index)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/models/mlperf-tiny/%s.tflite", TL_SHARED_DIR, models[index]);
    uint8_t *tflite, *tlm;
    size_t tflite_size, tlm_size;
    assert_int_equal(tl_read_file(path, &tflite, &tflite_size), TL_OK);
    tl_graph g;
    char error[256];
    assert_int_equal(tl_import_tflite(tflite, tflite_size, &g, error, sizeof error), TL_OK);
    assert_int_equal(tl_graph_serialize(&g, &tlm, &tlm_size), TL_OK);
    tl_graph_free(&g);
    free(tflite);

    tl_model m;
    assert_int_equal(tl_model_load(&m, tlm, tlm_size, 0), TL_OK);
    const uint32_t arena_size = tl_model_arena_size(&m);
    assert_true(arena_size > 0 && arena_size <= tflm_arena[index]);
    /* Exactly the planned arena is enough, and one byte less is refused. */
    uint8_t *arena = malloc(arena_size);
    tl_interp it;
    assert_int_equal(tl_interp_init(&it, &m, arena, arena_size - 1), TL_ERR_ARENA);
    assert_int_equal(tl_interp_init(&it, &m, arena, arena_size), TL_OK);
    for (int n = 1; n <= 4; ++n) {
        uint8_t *in, *expect;
        size_t in_size, expect_size;
        snprintf(path, sizeof path, "%s/models/mlperf-tiny/golden/%s/%d.in", TL_SHARED_DIR, models[index], n);
        assert_int_equal(tl_read_file(path, &in, &in_size), TL_OK);
        snprintf(path, sizeof path, "%s/models/mlperf-tiny/golden/%s/%d.out", TL_SHARED_DIR, models[index], n);
        assert_int_equal(tl_read_file(path, &expect, &expect_size), TL_OK);
        uint32_t size;
        int8_t *input = tl_interp_input(&it, 0, &size);
        assert_int_equal(size, in_size);
        memcpy(input, in, in_size);
        assert_int_equal(tl_interp_invoke(&it), TL_OK);
        const int8_t *out = tl_interp_output(&it, 0, &size);
        assert_int_equal(size, expect_size);
        assert_memory_equal(out, expect, expect_size);
        /* The single exit reports the same tensor and its arg-max. */
        tl_exit_result res;
        assert_int_equal(tl_interp_run_to_exit(&it, 0, &res), TL_OK);
        assert_ptr_equal(res.data, out);
        for (uint32_t k = 0; k < size; ++k) {
            assert_true(out[k] <= out[res.top_class]);
        }
        if (m.exits[0].kind == TL_EXIT_PROBS) {
            /* probability of the top class = (q + 128) / 256 */
            assert_int_equal(res.confidence, (uint32_t)(out[res.top_class] + 128) * 256);
        }
        free(in);
        free(expect);
    }
    free(arena);
    free(tlm);
}

static void test_kws(void **state) { (void)state; run_model(0); }
static void test_vww(void **state) { (void)state; run_model(1); }
static void test_ic(void **state) { (void)state; run_model(2); }
static void test_ad(void **state) { (void)state; run_model(3); }

int main(void)
{
    char probe[1024];
    snprintf(probe, sizeof probe, "%s/models/mlperf-tiny/kws_ref_model.tflite", TL_SHARED_DIR);
    if (access(probe, R_OK) != 0) {
        fprintf(stderr, "skipped: reference models not found under %s\n", TL_SHARED_DIR);
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kws),
        cmocka_unit_test(test_vww),
        cmocka_unit_test(test_ic),
        cmocka_unit_test(test_ad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
