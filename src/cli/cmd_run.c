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

int tl_cmd_run(int argc, char **argv)
{
    const char *path = NULL, *input = NULL, *output = NULL;
    uint32_t repeat = 1, seed = 1;
    const tl_opt options[] = {
        { "--input", TL_OPT_TEXT, &input, 0, 0, "FILE", "raw int8 input tensor (exactly the input's byte size);\n"
          "default: a pseudo-random tensor from --seed", NULL },
        { "--output", TL_OPT_TEXT, &output, 0, 0, "FILE", "also write the raw int8 output tensor to FILE", NULL },
        { "--repeat", TL_OPT_U32, &repeat, 1, 4294967295.0, "N", "run N inferences and report the mean time (default 1)",
          NULL },
        { "--seed", TL_OPT_U32, &seed, 0, 4294967295.0, "N", "seed of the pseudo-random input (default 1): byte i is\n"
          "(s >> 16) & 0xff after s = s * 1103515245 + 12345", NULL },
        { NULL, TL_OPT_END, NULL, 0, 0, NULL, NULL, NULL },
    };
    const tl_command_spec spec = {
        "run",
        "usage: tinylarge run MODEL.tlm [--input FILE] [--output FILE] [--repeat N] [--seed N]\n\n"
        "Runs the model through the device runtime (the same code as on a\n"
        "microcontroller) and prints the output tensor and the arena used.",
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
    const uint32_t arena_size = tl_model_arena_size(&m);
    uint8_t *arena = malloc(arena_size ? arena_size : 1);
    tl_interp it;
    if (!arena || tl_interp_init(&it, &m, arena, arena_size) != TL_OK) {
        free(arena);
        free(buf);
        return tl_cli_fail("run", "cannot set up an arena of %u bytes", arena_size);
    }
    uint32_t in_size;
    tl_interp_input(&it, 0, &in_size);
    int8_t *sample = malloc(in_size);
    int rc = 0;
    if (!sample) {
        rc = tl_cli_fail("run", "out of memory");
        goto done;
    }
    if (input) {
        uint8_t *data;
        size_t size;
        if (tl_read_file(input, &data, &size) != TL_OK) {
            rc = tl_cli_fail("run", "%s: cannot read: %s", input, strerror(errno));
            goto done;
        }
        if (size != in_size) {
            free(data);
            rc = tl_cli_fail("run", "%s: holds %zu bytes but the model's input takes %u", input, size, in_size);
            goto done;
        }
        memcpy(sample, data, size);
        free(data);
    } else {
        uint32_t s = seed;
        for (uint32_t i = 0; i < in_size; ++i) {
            s = s * 1103515245u + 12345u;
            sample[i] = (int8_t)((s >> 16) & 0xff);
        }
    }
    double elapsed = 0;
    for (uint32_t r = 0; r < repeat; ++r) {
        memcpy(tl_interp_input(&it, 0, NULL), sample, in_size);
        const double t0 = tl_monotonic_seconds();
        tl_status s = tl_interp_invoke(&it);
        elapsed += tl_monotonic_seconds() - t0;
        if (s != TL_OK) {
            rc = tl_cli_fail("run", "%s: inference failed: %s", path, tl_status_str(s));
            goto done;
        }
    }
    uint32_t out_size;
    const int8_t *out = tl_interp_output(&it, 0, &out_size);
    printf("output (%u bytes):", out_size);
    for (uint32_t i = 0; i < out_size; ++i) {
        printf("%s%d", i % 16 ? " " : "\n  ", out[i]);
    }
    printf("\n");
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
done:
    free(sample);
    free(arena);
    free(buf);
    return rc;
}
