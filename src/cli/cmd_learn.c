/* cmd_learn.c - `tinylarge learn MODEL.tlm --data DIR -o ADAPTED.tlm`: the
 * device's on-device transfer learning (src/device/learn), run on the host
 * over a device's own distribution (a subset of classes, shifted pixels),
 * with its accuracy on that distribution before and after. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "options.h"
#include "tinylarge/host.h"
#include "tinylarge/large.h"
#include "tinylarge/learn.h"

int tl_cmd_learn(int argc, char **argv)
{
    const char *model_path = NULL, *out = NULL, *data = NULL, *classes = NULL, *shift_text = "none";
    const char *delta_path = NULL, *samples_path = NULL;
    uint32_t samples = 200, test_limit = 0, seed = 1;
    tl_learn_config cfg = tl_learn_defaults();
    const tl_opt options[] = {
        { "-o|--output", TL_OPT_TEXT, &out, 0, 0, "FILE", "the adapted .tlm model to write (required)", NULL },
        { "--data", TL_OPT_TEXT, &data, 0, 0, "DIR", "dataset folder: IDX or .npy files (default Fashion-MNIST);\n"
          "local samples come from its train split, the measure from its test split", NULL },
        { "--classes", TL_OPT_TEXT, &classes, 0, 0, "LIST", "the classes the device sees, e.g. 0,3,5 (default: all)",
          NULL },
        { "--shift", TL_OPT_TEXT, &shift_text, 0, 0, "KIND:X", "the device's covariate shift: rotate:DEGREES,\n"
          "brightness:DELTA, noise:SIGMA or none (default)", NULL },
        { "--samples", TL_OPT_U32, &samples, 1, 1000000, "N", "local labelled samples to learn from (default 200)",
          NULL },
        { "--test", TL_OPT_U32, &test_limit, 0, 4294967295.0, "N", "test images to measure on (default: all kept)",
          NULL },
        { "--lr", TL_OPT_FLOAT, &cfg.learning_rate, 1e-6, 9.99, "X", "SGD step size (default 0.01)", NULL },
        { "--momentum", TL_OPT_FLOAT, &cfg.momentum, 0, 0.999, "X", "momentum (default 0)", NULL },
        { "--anchor", TL_OPT_FLOAT, &cfg.anchor, 0, 0.999, "X", "L2 pull toward the shipped head (default 0.001)",
          NULL },
        { "--replay", TL_OPT_U32, &cfg.replay, 0, 64, "N", "replayed steps after each new sample (default 4)", NULL },
        { "--memory", TL_OPT_U32, &cfg.memory, 0, 65536, "N", "samples remembered for replay (default 256)", NULL },
        { "--seed", TL_OPT_U32, &seed, 0, 4294967295.0, "S", "which samples, their order, the noise (default 1)",
          NULL },
        { "--delta", TL_OPT_TEXT, &delta_path, 0, 0, "FILE", "also write the head's delta (float32, little-endian:\n"
          "[classes][features] weights, then biases) for federated learning", NULL },
        { "--samples-out", TL_OPT_TEXT, &samples_path, 0, 0, "FILE", "also write the samples learnt from, in order,\n"
          "as a sample log (learn.h) the Cortex-M4 image replays", NULL },
        { NULL, TL_OPT_END, NULL, 0, 0, NULL, NULL, NULL },
    };
    const tl_command_spec spec = {
        "learn",
        "usage: tinylarge learn MODEL.tlm -o ADAPTED.tlm [--data DIR] [--classes LIST] [--shift KIND:X]\n"
        "                       [--samples N] [--test N] [--lr X] [--momentum X] [--anchor X] [--replay N]\n"
        "                       [--memory N] [--seed S] [--delta FILE] [--samples-out FILE]\n\n"
        "On-device transfer learning, as a device runs it (src/device/learn): the\n"
        "backbone frozen, the classifier head trained in float from the device's own\n"
        "activations, then quantised back into the model. The device's distribution\n"
        "is the dataset's kept classes with the shift applied; accuracy on its test\n"
        "images is printed before and after.",
        options, &model_path, 1, NULL
    };
    int positional;
    const int parsed = tl_opt_parse(&spec, argc, argv, &positional);
    if (parsed != TL_OPT_OK) {
        return parsed;
    }
    if (!model_path || !out) {
        tl_opt_usage(&spec, stderr);
        return tl_cli_fail("learn", "need a model and -o ADAPTED.tlm");
    }
    int keep[256], kept = 0;
    if (classes && (kept = tl_cli_parse_int_list(classes, keep, 256, 0, 255)) <= 0) {
        return tl_cli_fail("learn", "--classes %s: expected class numbers separated by commas, e.g. 0,3,5", classes);
    }
    tl_shift_kind shift;
    double amount;
    if (tl_shift_parse(shift_text, &shift, &amount) != 0) {
        return tl_cli_fail("learn", "--shift %s: expected rotate:DEGREES, brightness:DELTA, noise:SIGMA or none",
                           shift_text);
    }
    uint8_t *buffer = NULL;
    tl_model model;
    if (tl_cli_load_model("learn", model_path, &buffer, &model) != 0) {
        return 1;
    }
    const size_t work_size = tl_learn_work_size(&model, &cfg);
    if (work_size == 0) {
        free(buffer);
        return tl_cli_fail("learn", "%s: no head to learn (the last exit must come from an int8 FULLY_CONNECTED "
                           "operator with float scales)", model_path);
    }
    char error[512] = "";
    tl_dataset train = { 0 }, test = { 0 };
    int rc = 0;
    void *work = NULL, *arena = NULL;
    uint8_t *adapted = NULL, *log = NULL;
    float *delta = NULL;
    if (tl_dataset_load_shifted(data, 1, keep, kept, shift, amount, seed, &train, error, sizeof error) != TL_OK ||
        tl_dataset_load_shifted(data, 0, keep, kept, shift, amount, seed, &test, error, sizeof error) != TL_OK) {
        rc = tl_cli_fail("learn", "%s", error);
        goto done;
    }
    if (test_limit > 0 && (int)test_limit < test.n) {
        test.n = (int)test_limit;
    }
    const size_t sample_size = (size_t)train.h * train.w * train.c;
    const uint32_t arena_size = tl_model_arena_size(&model);
    work = malloc(work_size);
    arena = malloc(arena_size + 1);
    adapted = malloc(model.size);
    if (!work || !arena || !adapted) {
        rc = tl_cli_fail("learn", "out of memory");
        goto done;
    }
    tl_learner learner;
    tl_interp it;
    tl_status s = tl_learn_init(&learner, &model, work, work_size, &cfg);
    if (s == TL_OK) {
        s = tl_interp_init(&it, &model, arena, arena_size);
    }
    uint32_t input_size = 0;
    int8_t *input = s == TL_OK ? tl_interp_input(&it, 0, &input_size) : NULL;
    if (s != TL_OK || !input || input_size != sample_size) {
        rc = tl_cli_fail("learn", "%s: the model does not take the data's %dx%dx%d images (%s)", model_path, train.h,
                         train.w, train.c, s != TL_OK ? tl_status_str(s) : "input size differs");
        goto done;
    }
    if ((int)learner.classes < train.classes) {
        rc = tl_cli_fail("learn", "%s: the head has %u outputs, the data %d classes", model_path, learner.classes,
                         train.classes);
        goto done;
    }
    if (train.n == 0 || test.n == 0) {
        rc = tl_cli_fail("learn", "%s: no samples of the kept classes", data ? data : "the dataset");
        goto done;
    }
    float acc[16];
    int exits = 0;
    if (tl_runtime_accuracy(buffer, model.size, &test, acc, &exits) != TL_OK || exits < 1) {
        rc = tl_cli_fail("learn", "%s: does not run", model_path);
        goto done;
    }
    const float before = acc[exits - 1];

    uint32_t *order = malloc(sizeof(uint32_t) * (size_t)train.n);
    if (!order) {
        rc = tl_cli_fail("learn", "out of memory");
        goto done;
    }
    tl_shuffle(order, train.n, seed, 0);
    if (samples_path) {
        const size_t log_size = sizeof(tl_samples_header) + (size_t)samples * (1 + sample_size);
        log = malloc(log_size);
        if (!log) {
            free(order);
            rc = tl_cli_fail("learn", "out of memory");
            goto done;
        }
        tl_samples_header h = { { 'T', 'L', 'L', 'S' }, samples, (uint32_t)sample_size, 0 };
        memcpy(log, &h, sizeof h);
    }
    s = tl_learn_dataset(&learner, &it, &train, order, samples, log);
    if (s != TL_OK) {
        free(order);
        rc = tl_cli_fail("learn", "%s: %s", model_path, tl_status_str(s));
        goto done;
    }
    free(order);
    /* The float head on the test images, before quantising it back. */
    int hits = 0;
    for (int i = 0; i < test.n; ++i) {
        tl_dataset_device_input(&test, (uint32_t)i, tl_interp_input(&it, 0, NULL));
        const int8_t *features = NULL;
        if (tl_learn_features(&learner, &it, &features) == TL_OK &&
            tl_learn_predict(&learner, features) == test.labels[i]) {
            ++hits;
        }
    }
    uint32_t adapted_size = 0;
    s = tl_learn_write_model(&learner, adapted, model.size, &adapted_size);
    if (s == TL_OK) {
        s = tl_runtime_accuracy(adapted, adapted_size, &test, acc, &exits);
    }
    if (s != TL_OK) {
        rc = tl_cli_fail("learn", "%s: the adapted model does not run: %s", model_path, tl_status_str(s));
        goto done;
    }
    const float after = acc[exits - 1];
    if (tl_write_file_atomic(out, adapted, adapted_size) != TL_OK) {
        rc = tl_cli_fail("learn", "%s: cannot write", out);
        goto done;
    }
    if (delta_path) {
        const uint32_t n = tl_learn_delta_count(&learner);
        delta = malloc(sizeof(float) * n);
        if (!delta || tl_learn_delta(&learner, delta, n) != TL_OK ||
            tl_write_file_atomic(delta_path, delta, sizeof(float) * n) != TL_OK) {
            rc = tl_cli_fail("learn", "%s: cannot write", delta_path);
            goto done;
        }
    }
    if (log && tl_write_file_atomic(samples_path, log,
                                    sizeof(tl_samples_header) + (size_t)samples * (1 + sample_size)) != TL_OK) {
        rc = tl_cli_fail("learn", "%s: cannot write", samples_path);
        goto done;
    }
    printf("learn %s: head = operator %u (FULLY_CONNECTED %u -> %u), work buffer %zu bytes beside the %u-byte arena\n",
           model_path, learner.head_op, learner.inputs, learner.classes, work_size, arena_size);
    printf("device data: classes %s, shift %s; %u local samples, %d test images\n", classes ? classes : "all",
           shift_text, samples, test.n);
    printf("accuracy before: %.4f (the model as shipped)\n", (double)before);
    printf("accuracy after:  %.4f (%+.2f points; int8 head in %s), float head %.4f\n", (double)after,
           100.0 * (double)(after - before), out, (double)hits / test.n);
done:
    free(delta);
    free(log);
    free(adapted);
    free(arena);
    free(work);
    tl_dataset_free(&train);
    tl_dataset_free(&test);
    free(buffer);
    return rc;
}
