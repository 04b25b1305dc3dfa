/* cmd_run.c - `tinylarge run model.tlm`: one inference on the device runtime.
 * Also the program that benchmarks count instructions of. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "options.h"
#include "tinylarge/convert.h"
#include "tinylarge/host.h"

static const char *type_name(uint32_t dtype)
{
    switch (dtype) {
    case TL_DTYPE_INT16: return "int16";
    case TL_DTYPE_INT32: return "int32";
    case TL_DTYPE_FLOAT32: return "float32";
    default: return "int8";
    }
}

/* Input k's bytes: the file given for it, or pseudo-random from the seed
 * (seed + k): int8 and int16 bytes as `--seed` describes, floats in
 * [-1, 1) from the same sequence. */
static int fill_input(const char *path, uint32_t k, const tl_tensor_rec *t, uint32_t seed, uint8_t *dst)
{
    if (path) {
        uint8_t *data;
        size_t size;
        if (tl_read_file(path, &data, &size) != TL_OK) {
            return tl_cli_fail("run", "%s: cannot read: %s", path, strerror(errno));
        }
        if (size != t->data_size) {
            free(data);
            return tl_cli_fail("run", "%s: holds %zu bytes but the model's input %u takes %u (%u %s values)", path,
                               size, k, t->data_size, t->data_size / tl_dtype_bytes(t->dtype), type_name(t->dtype));
        }
        memcpy(dst, data, size);
        free(data);
        return 0;
    }
    uint32_t s = seed + k;
    if (t->dtype == TL_DTYPE_FLOAT32) {
        for (uint32_t i = 0; i < t->data_size / 4; ++i) {
            s = s * 1103515245u + 12345u;
            const float v = (float)((int32_t)((s >> 16) & 0xff) - 128) / 128.0f;
            memcpy(dst + 4 * i, &v, 4);
        }
        return 0;
    }
    for (uint32_t i = 0; i < t->data_size; ++i) {
        s = s * 1103515245u + 12345u;
        dst[i] = (uint8_t)((s >> 16) & 0xff);
    }
    return 0;
}

void tl_cli_seed_inputs(tl_interp *it, uint32_t seed)
{
    for (uint32_t k = 0; k < it->model->header->input_count; ++k) {
        uint8_t *dst = (uint8_t *)tl_interp_input(it, k, NULL);
        fill_input(NULL, k, tl_model_io_tensor(it->model, k), seed, dst);
    }
}

static void print_values(const void *data, const tl_tensor_rec *t)
{
    const uint32_t count = t->data_size / tl_dtype_bytes(t->dtype);
    printf("output (%u %s values):", count, type_name(t->dtype));
    for (uint32_t i = 0; i < count; ++i) {
        printf("%s", i % 16 ? " " : "\n  ");
        switch (t->dtype) {
        case TL_DTYPE_INT16: printf("%d", ((const int16_t *)data)[i]); break;
        case TL_DTYPE_INT32: printf("%d", ((const int32_t *)data)[i]); break;
        case TL_DTYPE_FLOAT32: printf("%.6g", (double)((const float *)data)[i]); break;
        default: printf("%d", ((const int8_t *)data)[i]); break;
        }
    }
    printf("\n");
}

int tl_cmd_run(int argc, char **argv)
{
    const char *path = NULL, *output = NULL;
    tl_opt_list inputs = { { NULL }, 0 };
    uint32_t repeat = 1, seed = 1;
    const tl_opt options[] = {
        { "--input", TL_OPT_LIST, &inputs, 0, 0, "FILE", "one per model input, in the model's input order: the\n"
          "tensor's raw little-endian bytes (int8, int16, int32 or float32\n"
          "as `inspect` names it); default: pseudo-random from --seed", NULL },
        { "--output", TL_OPT_TEXT, &output, 0, 0, "FILE", "also write the first output's raw bytes to FILE", NULL },
        { "--repeat", TL_OPT_U32, &repeat, 1, 4294967295.0, "N", "run N inferences and report the mean time (default 1)",
          NULL },
        { "--seed", TL_OPT_U32, &seed, 0, 4294967295.0, "N", "seed of the pseudo-random input (default 1): byte i is\n"
          "(s >> 16) & 0xff after s = s * 1103515245 + 12345 (input k: seed + k)", NULL },
        { NULL, TL_OPT_END, NULL, 0, 0, NULL, NULL, NULL },
    };
    const tl_command_spec spec = {
        "run",
        "usage: tinylarge run MODEL.tlm [--input FILE]... [--output FILE] [--repeat N] [--seed N]\n\n"
        "Runs the model through the device runtime (the same code as on a\n"
        "microcontroller) and prints the first output tensor and the arena used.\n"
        "A model with state (SVDF, LSTM) runs its --repeat inferences in sequence.",
        options, &path, 1, NULL
    };
    int positional;
    const int parsed = tl_opt_parse(&spec, argc, argv, &positional);
    if (parsed != TL_OPT_OK) {
        return parsed;
    }
    if (!path) {
        tl_opt_usage(&spec, stderr);
        return tl_cli_fail("run", "need a .tlm file");
    }
    uint8_t *buf;
    tl_model m;
    if (tl_cli_load_model("run", path, &buf, &m)) {
        return 1;
    }
    const uint32_t n_inputs = m.header->input_count;
    if (inputs.count && (uint32_t)inputs.count != n_inputs) {
        free(buf);
        return tl_cli_fail("run", "%s takes %u input%s; %d --input given (one per input, in order)", path, n_inputs,
                           n_inputs == 1 ? "" : "s", inputs.count);
    }
    const uint32_t arena_size = tl_model_arena_size(&m);
    uint8_t *arena = aligned_alloc(16, (arena_size + 15) / 16 * 16 + 16);
    tl_interp it;
    if (!arena || tl_interp_init(&it, &m, arena, arena_size) != TL_OK) {
        free(arena);
        free(buf);
        return tl_cli_fail("run", "cannot set up an arena of %u bytes", arena_size);
    }
    uint8_t *samples[8] = { NULL };
    int rc = 0;
    for (uint32_t k = 0; k < n_inputs && rc == 0; ++k) {
        const tl_tensor_rec *t = tl_model_io_tensor(&m, k);
        samples[k] = malloc(t->data_size ? t->data_size : 1);
        rc = !samples[k] ? tl_cli_fail("run", "out of memory")
                         : fill_input(inputs.count ? inputs.item[k] : NULL, k, t, seed, samples[k]);
    }
    double elapsed = 0;
    for (uint32_t r = 0; r < repeat && rc == 0; ++r) {
        for (uint32_t k = 0; k < n_inputs; ++k) {
            uint32_t size;
            uint8_t *dst = (uint8_t *)tl_interp_input(&it, k, &size);
            memcpy(dst, samples[k], size);
        }
        const double t0 = tl_monotonic_seconds();
        tl_status s = tl_interp_invoke(&it);
        elapsed += tl_monotonic_seconds() - t0;
        if (s != TL_OK) {
            rc = tl_cli_fail("run", "%s: inference failed: %s", path, tl_status_str(s));
        }
    }
    if (rc == 0) {
        uint32_t out_size;
        const int8_t *out = tl_interp_output(&it, 0, &out_size);
        print_values(out, tl_model_io_tensor(&m, n_inputs));
        if (m.header->exit_count) {
            tl_exit_result res;
            /* Re-reading the final exit costs nothing: every operator already ran. */
            if (tl_interp_run_to_exit(&it, m.header->exit_count - 1, &res) == TL_OK &&
                m.exits[m.header->exit_count - 1].kind == TL_EXIT_PROBS) {
                printf("top class: %u (confidence %.3f)\n", res.top_class, res.confidence / 65536.0);
            }
        }
        printf("arena: %u bytes\n", arena_size);
        printf("model: %u bytes\n", m.size);
        printf("time: %.3f ms per inference (mean of %u, host)\n", 1e3 * elapsed / repeat, repeat);
        if (output && tl_write_file_atomic(output, out, out_size) != TL_OK) {
            rc = tl_cli_fail("run", "%s: cannot write: %s", output, strerror(errno));
        }
    }
    for (uint32_t k = 0; k < 8; ++k) {
        free(samples[k]);
    }
    free(arena);
    free(buf);
    return rc;
}
