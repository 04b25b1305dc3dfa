/* test_export.c - trained network -> device model.
 *
 * A student is trained briefly on real Fashion-MNIST, exported (batch norm
 * folded, int8 per-channel weights, calibrated activations) and run through
 * the device runtime: its accuracy must stay within a few points of the
 * float network's on the same images (the full-data figure is in
 * docs/benchmarks.md). Also int4 and multi-exit exports, and the errors.
 */
#include <math.h>
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
#include "tinylarge/large.h"

static char dir[64];
static tl_dataset train, test;

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/tl_export_XXXXXX");
    if (!mkdtemp(dir)) {
        return -1;
    }
    if (access(TL_FASHION_MNIST_DIR "/train-images-idx3-ubyte.gz", R_OK) != 0) {
        return 0; /* tests skip */
    }
    char error[256];
    if (tl_fashion_mnist_load(NULL, 1, 400, &train, error, sizeof error) != TL_OK ||
        tl_fashion_mnist_load(NULL, 0, 500, &test, error, sizeof error) != TL_OK) {
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tl_dataset_free(&train);
    tl_dataset_free(&test);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Trains `arch` a little and returns the checkpoint path. */
static const char *trained(const char *arch)
{
    static char path[128];
    snprintf(path, sizeof path, "%s/%s.tlc", dir, arch);
    if (access(path, R_OK) == 0) {
        return path;
    }
    tl_train_config cfg;
    tl_train_defaults(&cfg);
    cfg.arch = arch;
    cfg.epochs = 3;
    cfg.batch = 32;
    cfg.lr = 0.1f;
    cfg.warmup_epochs = 0;
    cfg.limit_train = 800;
    cfg.limit_test = 200;
    cfg.out = path;
    cfg.quiet = 1;
    tl_train_report rep;
    char error[256];
    assert_int_equal(tl_train(&cfg, &rep, error, sizeof error), TL_OK);
    return path;
}

/* Exports and compares float and device accuracy on the test images. */
static void export_and_compare(const char *arch, uint8_t dtype, float tolerance, int want_exits)
{
    char error[256];
    tl_net net;
    tl_checkpoint_info info;
    assert_int_equal(tl_checkpoint_load(trained(arch), 64, &net, NULL, &info, error, sizeof error), TL_OK);
    tl_export_options opt = { 300, dtype };
    tl_graph g;
    assert_int_equal(tl_export_net(&net, &info, &train, &opt, &g, error, sizeof error), TL_OK);
    uint8_t *buf;
    size_t size;
    assert_int_equal(tl_graph_serialize(&g, &buf, &size), TL_OK);
    float device[16], floats[TL_MAX_EXITS];
    int exits = 0;
    assert_int_equal(tl_device_accuracy(buf, size, &test, device, &exits), TL_OK);
    assert_int_equal(exits, want_exits);
    tl_evaluate(&net, &test, info.mean, info.std, floats, NULL);
    for (int e = 0; e < exits; ++e) {
        print_message("%s %s exit %d: float %.4f device %.4f\n", arch, dtype == TL_DTYPE_INT4 ? "int4" : "int8", e,
                      (double)floats[e], (double)device[e]);
        assert_true(floats[e] > 0.3f);                       /* learned: chance is 0.1 */
        assert_true(fabsf(device[e] - floats[e]) <= tolerance);
    }
    /* The model passes the device loader and declares its input. */
    tl_model m;
    assert_int_equal(tl_model_load(&m, buf, size, 0), TL_OK);
    assert_string_equal(tl_model_meta(&m, "input"), "int8 = pixel - 128, 28x28x1");
    free(buf);
    tl_graph_free(&g);
    tl_net_free(&net);
}

static void test_int8_export_keeps_accuracy(void **state)
{
    (void)state;
    if (!train.n) {
        skip();
    }
    export_and_compare("student", TL_DTYPE_INT8, 0.03f, 1);
}

static void test_depthwise_export(void **state)
{
    (void)state;
    if (!train.n) {
        skip();
    }
    export_and_compare("student-tiny", TL_DTYPE_INT8, 0.04f, 1);
}

static void test_multi_exit_export(void **state)
{
    (void)state;
    if (!train.n) {
        skip();
    }
    export_and_compare("student-exits", TL_DTYPE_INT8, 0.04f, 2);
}

static void test_int4_export_runs(void **state)
{
    (void)state;
    if (!train.n) {
        skip();
    }
    /* Post-training int4 loses more; quantisation-aware training is the fix. */
    export_and_compare("student", TL_DTYPE_INT4, 0.25f, 1);
}

static void test_unexportable_network_is_named(void **state)
{
    (void)state;
    if (!train.n) {
        skip();
    }
    tl_net net;
    assert_int_equal(tl_net_init(&net, 28, 28, 1), TL_OK);
    const int bn = tl_net_batchnorm(&net, 0);               /* batch norm on the input: no conv to fold into */
    const int logits = tl_net_dense(&net, tl_net_global_avgpool(&net, bn), 10);
    assert_int_equal(tl_net_add_exit(&net, logits, 1.0f), TL_OK);
    assert_int_equal(tl_net_finalize(&net, 8, 1), TL_OK);
    tl_checkpoint_info info;
    memset(&info, 0, sizeof info);
    info.mean = TL_FASHION_MNIST_MEAN;
    info.std = TL_FASHION_MNIST_STD;
    tl_graph g;
    char error[256];
    assert_int_equal(tl_export_net(&net, &info, &train, NULL, &g, error, sizeof error), TL_ERR_UNSUPPORTED);
    assert_non_null(strstr(error, "node 1 (batch norm) cannot be exported"));
    tl_net_free(&net);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_int8_export_keeps_accuracy),
        cmocka_unit_test(test_depthwise_export),
        cmocka_unit_test(test_multi_exit_export),
        cmocka_unit_test(test_int4_export_runs),
        cmocka_unit_test(test_unexportable_network_is_named),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
