/* cmd_progressive.c - `tinylarge progressive`: encode a model as a bit-plane
 * progressive stream, report what each prefix gives, decode a prefix. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "options.h"
#include "tinylarge/convert.h"
#include "tinylarge/large.h"
#include "tinylarge/host.h"

int tl_cmd_progressive(int argc, char **argv)
{
    const char *in = NULL, *out = NULL;
    int decode = 0, accuracy = 0;
    uint32_t limit = 2000, bytes = 0;
    const tl_opt options[] = {
        { "-o|--output", TL_OPT_TEXT, &out, 0, 0, "FILE", "the stream (or, with --decode, the model) to write", NULL },
        { "--accuracy", TL_OPT_FLAG, &accuracy, 0, 0, NULL, "measure every prefix on the test split", NULL },
        { "--limit", TL_OPT_U32, &limit, 1, 4294967295.0, "N", "test images for --accuracy (default 2000)", NULL },
        { "--decode", TL_OPT_FLAG, &decode, 0, 0, NULL, "rebuild a model from a stream", NULL },
        { "--bytes", TL_OPT_U32, &bytes, 1, 4294967295.0, "N", "with --decode: the stream's first N bytes only", NULL },
        { NULL, TL_OPT_END, NULL, 0, 0, NULL, NULL, NULL },
    };
    const tl_command_spec spec = {
        "progressive",
        "usage: tinylarge progressive MODEL.tlm -o STREAM.tlp [--accuracy] [--limit N]\n"
        "       tinylarge progressive --decode STREAM.tlp [--bytes N] -o MODEL.tlm\n\n"
        "Encodes a model's int8 weights (dense or sparse; int4 ones stay whole) as\n"
        "bit planes, most significant first, so that any prefix of the stream that\n"
        "ends on a plane boundary decodes into a valid, coarser model: a device can\n"
        "start inferring before the download completes. --accuracy measures every\n"
        "prefix on the Fashion-MNIST test split (first --limit images). --decode\n"
        "rebuilds a model from the first --bytes bytes of a stream (default: all of\n"
        "it).",
        options, &in, 1, NULL
    };
    int positional;
    const int parsed = tl_opt_parse(&spec, argc, argv, &positional);
    if (parsed != TL_OPT_OK) {
        return parsed;
    }
    if (!in || !out) {
        tl_opt_usage(&spec, stderr);
        return tl_cli_fail("progressive", "need an input and -o OUTPUT");
    }
    uint8_t *data;
    size_t size;
    if (tl_read_file(in, &data, &size) != TL_OK) {
        return tl_cli_fail("progressive", "%s: cannot read", in);
    }
    int rc = 0;
    if (decode) {
        const size_t have = bytes && bytes < size ? bytes : size;
        tl_progressive_header h;
        if (size < sizeof h) {
            free(data);
            return tl_cli_fail("progressive", "%s: not a progressive stream (too short)", in);
        }
        memcpy(&h, data, sizeof h);
        uint8_t *model = aligned_alloc(16, ((size_t)h.model_size + 16) / 16 * 16);
        uint32_t planes = 0, model_size = 0;
        tl_status s = model ? tl_progressive_decode(data, have, model, h.model_size, &planes, &model_size)
                            : TL_ERR_NOMEM;
        if (s != TL_OK) {
            rc = tl_cli_fail("progressive", "%s: cannot decode %zu bytes: %s", in, have, tl_status_str(s));
        } else if (tl_write_file_atomic(out, model, model_size) != TL_OK) {
            rc = tl_cli_fail("progressive", "%s: cannot write", out);
        } else {
            printf("decoded %zu of %zu bytes of %s -> %s: %u of 8 bit planes, %u bytes\n", have, size, in, out,
                   planes, model_size);
        }
        free(model);
        free(data);
        return rc;
    }
    uint8_t *stream;
    size_t stream_size;
    uint32_t ends[8];
    tl_status s = tl_progressive_encode(data, size, &stream, &stream_size, ends);
    if (s != TL_OK) {
        free(data);
        return tl_cli_fail("progressive", "%s: not a valid model: %s", in, tl_status_str(s));
    }
    if (tl_write_file_atomic(out, stream, stream_size) != TL_OK) {
        free(data);
        free(stream);
        return tl_cli_fail("progressive", "%s: cannot write", out);
    }
    printf("encoded %s (%zu bytes) -> %s (%zu bytes)\n", in, size, out, stream_size);
    tl_dataset test;
    char error[512];
    if (accuracy && tl_dataset_load_dir(NULL, 0, (int)limit, &test, error, sizeof error) != TL_OK) {
        rc = tl_cli_fail("progressive", "%s", error);
        accuracy = 0;
    }
    printf("%6s %10s %8s%s\n", "planes", "prefix B", "of all", accuracy ? "   accuracy" : "");
    uint8_t *model = aligned_alloc(16, (size + 16) / 16 * 16);
    for (int p = 0; p < 8 && model; ++p) {
        printf("%6d %10u %7.1f%%", p + 1, ends[p], 100.0 * ends[p] / (double)stream_size);
        uint32_t planes, model_size;
        if (accuracy && tl_progressive_decode(stream, ends[p], model, size, &planes, &model_size) == TL_OK) {
            float acc[16];
            int exits;
            if (tl_runtime_accuracy(model, model_size, &test, acc, &exits) == TL_OK) {
                printf("   %.4f", (double)acc[exits - 1]);
            }
        }
        printf("\n");
    }
    if (accuracy) {
        tl_dataset_free(&test);
    }
    free(model);
    free(stream);
    free(data);
    return rc;
}
