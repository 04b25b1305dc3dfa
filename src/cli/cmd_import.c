/* cmd_import.c - `tinylarge import model.tflite -o model.tlm`. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "tinylarge/convert.h"
#include "tinylarge/host.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: tinylarge import MODEL.tflite -o MODEL.tlm [--meta KEY=VALUE]...\n\n"
                 "Converts an int8 TensorFlow Lite model into the .tlm device format:\n"
                 "requantisation constants computed offline, an exact arena plan, and a\n"
                 "SHA-256 digest. Supported operators: CONV_2D, DEPTHWISE_CONV_2D,\n"
                 "FULLY_CONNECTED, AVERAGE_POOL_2D, MAX_POOL_2D, ADD, RESHAPE, SOFTMAX.\n\n"
                 "  -o, --output FILE     where to write the .tlm model (required)\n"
                 "  --meta KEY=VALUE      add a metadata entry (task, labels, ...)\n");
}

int tl_cmd_import(int argc, char **argv)
{
    const char *in = NULL, *out = NULL;
    const char *metas[32];
    int meta_count = 0;
    for (int i = 1; i < argc; ++i) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else if ((!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output")) && i + 1 < argc) {
            out = argv[++i];
        } else if (!strcmp(argv[i], "--meta") && i + 1 < argc) {
            if (meta_count == 32 || !strchr(argv[i + 1], '=')) {
                return tl_cli_fail("import", "--meta takes KEY=VALUE (at most 32)");
            }
            metas[meta_count++] = argv[++i];
        } else if (argv[i][0] == '-') {
            usage(stderr);
            return tl_cli_fail("import", "unknown or incomplete option '%s'", argv[i]);
        } else if (!in) {
            in = argv[i];
        } else {
            return tl_cli_fail("import", "unexpected argument '%s'", argv[i]);
        }
    }
    if (!in || !out) {
        usage(stderr);
        return tl_cli_fail("import", "need an input .tflite file and -o OUTPUT");
    }
    uint8_t *data;
    size_t size;
    if (tl_read_file(in, &data, &size) != TL_OK) {
        return tl_cli_fail("import", "%s: cannot read: %s", in, strerror(errno));
    }
    tl_graph g;
    char error[512];
    tl_status s = tl_import_tflite(data, size, &g, error, sizeof error);
    free(data);
    if (s != TL_OK) {
        return tl_cli_fail("import", "%s: %s", in, error[0] ? error : tl_status_str(s));
    }
    const char *base = strrchr(in, '/');
    s = tl_graph_set_meta(&g, "source", base ? base + 1 : in);
    for (int i = 0; s == TL_OK && i < meta_count; ++i) {
        char key[128];
        const char *eq = strchr(metas[i], '=');
        snprintf(key, sizeof key, "%.*s", (int)(eq - metas[i]), metas[i]);
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
    s = tl_model_load(&check, tlm, tlm_size, 0);
    if (s == TL_OK) {
        s = tl_write_file_atomic(out, tlm, tlm_size);
        if (s != TL_OK) {
            free(tlm);
            return tl_cli_fail("import", "%s: cannot write: %s", out, strerror(errno));
        }
    } else {
        free(tlm);
        return tl_cli_fail("import", "%s: produced an invalid model (%s); this is a bug", in, tl_status_str(s));
    }
    printf("imported %s -> %s: %u operators, %u tensors, %zu bytes, arena %u bytes\n", in, out, ops,
           tensors, tlm_size, tl_model_arena_size(&check));
    free(tlm);
    return 0;
}
