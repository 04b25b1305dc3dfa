/* cmd_import.c - `tinylarge import model.tflite -o model.tlm`. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "options.h"
#include "tinylarge/convert.h"
#include "tinylarge/host.h"
#include "tinylarge/large.h"

/* Appends one calibration file's floats (.npy, or raw little-endian
 * float32 .bin) to *all. */
static int add_samples(const char *path, float **all, uint64_t *count)
{
    uint8_t *data;
    size_t size;
    if (tl_read_file(path, &data, &size) != TL_OK) {
        return tl_cli_fail("import", "%s: cannot read: %s", path, strerror(errno));
    }
    float *values = NULL;
    uint64_t n = 0, shape[8];
    uint32_t rank;
    char error[256];
    const size_t len = strlen(path);
    if (len > 4 && !strcmp(path + len - 4, ".bin")) {
        if (size % 4 != 0) {
            free(data);
            return tl_cli_fail("import", "%s: %zu bytes is not a whole number of float32 values", path, size);
        }
        n = size / 4;
        values = malloc(size ? size : 1);
        if (values) {
            memcpy(values, data, size);
        }
    } else if (tl_npy_read(data, size, &values, &n, shape, &rank, error, sizeof error) != TL_OK) {
        free(data);
        return tl_cli_fail("import", "%s: %s", path, error);
    }
    free(data);
    float *grown = values ? realloc(*all, (size_t)(*count + n) * sizeof **all + 1) : NULL;
    if (!grown) {
        free(values);
        return tl_cli_fail("import", "out of memory");
    }
    memcpy(grown + *count, values, (size_t)n * sizeof *values);
    free(values);
    *all = grown;
    *count += n;
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The calibration samples: one .npy / .bin file; an image dataset folder
 * (MNIST-style IDX or x_train.npy, as `train --data` reads it: the first
 * `limit` training images, pixels / 255); or every .npy / .bin in a folder
 * (in name order). */
static int load_samples(const char *path, uint32_t limit, float **all, uint64_t *count)
{
    *all = NULL;
    *count = 0;
    DIR *dir = opendir(path);
    if (!dir) {
        return errno == ENOTDIR ? add_samples(path, all, count)
                                : tl_cli_fail("import", "%s: cannot read: %s", path, strerror(errno));
    }
    tl_dataset images;
    char why[256];
    if (tl_dataset_load_dir(path, 1, (int)limit, &images, why, sizeof why) == TL_OK) {
        closedir(dir);
        const uint64_t n = (uint64_t)images.n * images.h * images.w * images.c;
        *all = malloc((size_t)(n ? n : 1) * sizeof **all);
        if (!*all) {
            tl_dataset_free(&images);
            return tl_cli_fail("import", "out of memory");
        }
        for (uint64_t i = 0; i < n; ++i) {
            (*all)[i] = images.pixels[i] / 255.0f;
        }
        *count = n;
        tl_dataset_free(&images);
        return 0;
    }
    char **names = NULL;
    size_t n = 0;
    int rc = 0;
    for (struct dirent *e; (e = readdir(dir)) != NULL;) {
        const size_t len = strlen(e->d_name);
        if (len > 4 && (!strcmp(e->d_name + len - 4, ".npy") || !strcmp(e->d_name + len - 4, ".bin"))) {
            char **grown = realloc(names, (n + 1) * sizeof *names);
            if (!grown || !(grown[n] = malloc(strlen(path) + len + 2))) {
                names = grown ? grown : names;
                rc = tl_cli_fail("import", "out of memory");
                break;
            }
            names = grown;
            sprintf(names[n++], "%s/%s", path, e->d_name);
        }
    }
    closedir(dir);
    if (names) {
        qsort(names, n, sizeof *names, by_name);
    }
    for (size_t i = 0; i < n && rc == 0; ++i) {
        rc = add_samples(names[i], all, count);
    }
    if (rc == 0 && n == 0) {
        rc = tl_cli_fail("import", "%s: no .npy or .bin calibration files", path);
    }
    for (size_t i = 0; i < n; ++i) {
        free(names[i]);
    }
    free(names);
    if (rc != 0) {
        free(*all);
        *all = NULL;
    }
    return rc;
}

int tl_cmd_import(int argc, char **argv)
{
    const char *in = NULL, *out = NULL, *calibrate = NULL;
    uint32_t samples_limit = 500;
    tl_opt_list metas = { { NULL }, 0 };
    const tl_opt options[] = {
        { "-o|--output", TL_OPT_TEXT, &out, 0, 0, "FILE", "where to write the .tlm model (required)", NULL },
        { "--calibrate", TL_OPT_TEXT, &calibrate, 0, 0, "FILE.npy|DIR", "a float32 model: quantise it at import from\n"
          "these samples of its input (a .npy array [N, ...], raw float32\n"
          ".bin, or a folder of them); reports how far the int8 model's\n"
          "outputs are from the float model's on them; an image dataset\n"
          "folder (IDX or x_train.npy) gives its training images / 255", NULL },
        { "--samples", TL_OPT_U32, &samples_limit, 1, 1000000, "N", "at most N images from a dataset folder (default 500)",
          NULL },
        { "--meta", TL_OPT_LIST, &metas, 0, 0, "KEY=VALUE", "add a metadata entry (task, labels, ...)", NULL },
        { NULL, TL_OPT_END, NULL, 0, 0, NULL, NULL, NULL },
    };
    const tl_command_spec spec = {
        "import",
        "usage: tinylarge import MODEL.tflite -o MODEL.tlm [--calibrate FILE.npy|DIR] [--meta KEY=VALUE]...\n\n"
        "Converts a TensorFlow Lite model into the .tlm device format:\n"
        "requantisation constants computed offline, an exact arena plan, and a\n"
        "SHA-256 digest. An integer model (int8, or int16 activations where an\n"
        "operator takes them) imports as it is; a float32 model is quantised\n"
        "from calibration samples (--calibrate). `tinylarge inspect MODEL.tflite`\n"
        "lists what a model needs and what tinylarge runs.",
        options, &in, 1, NULL
    };
    int positional;
    const int parsed = tl_opt_parse(&spec, argc, argv, &positional);
    if (parsed != TL_OPT_OK) {
        return parsed;
    }
    if (!in || !out) {
        tl_opt_usage(&spec, stderr);
        return tl_cli_fail("import", "need an input .tflite file and -o OUTPUT");
    }
    for (int i = 0; i < metas.count; ++i) {
        if (!strchr(metas.item[i], '=')) {
            return tl_cli_fail("import", "--meta takes KEY=VALUE, not '%s'", metas.item[i]);
        }
    }
    uint8_t *data;
    size_t size;
    if (tl_read_file(in, &data, &size) != TL_OK) {
        return tl_cli_fail("import", "%s: cannot read: %s", in, strerror(errno));
    }
    tl_graph g;
    char error[512];
    tl_status s;
    tl_calibration_report report;
    if (calibrate) {
        float *samples;
        uint64_t values;
        if (load_samples(calibrate, samples_limit, &samples, &values)) {
            free(data);
            return 1;
        }
        s = tl_import_tflite_calibrated(data, size, samples, values, &g, &report, error, sizeof error);
        free(samples);
    } else {
        s = tl_import_tflite(data, size, &g, error, sizeof error);
    }
    free(data);
    if (s != TL_OK) {
        return tl_cli_fail("import", "%s: %s", in, error[0] ? error : tl_status_str(s));
    }
    if (calibrate) {
        printf("calibrated on %u samples of %s; the int8 model against the float one: mean |difference| %.4g, "
               "max %.4g (outputs span %.4g to %.4g)", report.samples, calibrate, report.mean_abs_diff,
               report.max_abs_diff, report.output_lo, report.output_hi);
        if (report.top1_agreement >= 0) {
            printf(", the same top output on %.1f%%", 100.0 * report.top1_agreement);
        }
        printf("\n");
    }
    const char *base = strrchr(in, '/');
    s = tl_graph_set_meta(&g, "source", base ? base + 1 : in);
    for (int i = 0; s == TL_OK && i < metas.count; ++i) {
        char key[128];
        const char *eq = strchr(metas.item[i], '=');
        snprintf(key, sizeof key, "%.*s", (int)(eq - metas.item[i]), metas.item[i]);
        s = tl_graph_set_meta(&g, key, eq + 1);
    }
    uint8_t *tlm = NULL;
    size_t tlm_size = 0;
    if (s == TL_OK) {
        s = tl_graph_serialize(&g, &tlm, &tlm_size);
    }
    const uint32_t ops = g.op_count, tensors = g.tensor_count;
    tl_graph_free(&g);
    if (s != TL_OK) {
        return tl_cli_fail("import", "%s: cannot build the model: %s", in, tl_status_str(s));
    }
    /* Re-validate with the device loader before writing: never publish a
     * file the device would refuse. */
    tl_model check;
    int32_t bad_op = -1, bad_tensor = -1;
    s = tl_model_load_ex(&check, tlm, tlm_size, 0, &bad_op, &bad_tensor);
    if (s == TL_OK) {
        s = tl_write_file_atomic(out, tlm, tlm_size);
        if (s != TL_OK) {
            free(tlm);
            return tl_cli_fail("import", "%s: cannot write: %s", out, strerror(errno));
        }
    } else {
        free(tlm);
        return tl_cli_fail("import", "%s: produced an invalid model (%s at operator %d, tensor %d); this is a bug", in,
                           tl_status_str(s), (int)bad_op, (int)bad_tensor);
    }
    printf("imported %s -> %s: %u operators, %u tensors, %zu bytes, arena %u bytes\n", in, out, ops,
           tensors, tlm_size, tl_model_arena_size(&check));
    free(tlm);
    return 0;
}
