/* cmd_import.c - `tinylarge import model.tflite -o model.tlm`. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "options.h"
#include "tinylarge/convert.h"
#include "tinylarge/host.h"

int tl_cmd_import(int argc, char **argv)
{
    const char *in = NULL, *out = NULL;
    tl_opt_list metas = { { NULL }, 0 };
    const tl_opt options[] = {
        { "-o|--output", TL_OPT_TEXT, &out, 0, 0, "FILE", "where to write the .tlm model (required)", NULL },
        { "--meta", TL_OPT_LIST, &metas, 0, 0, "KEY=VALUE", "add a metadata entry (task, labels, ...)", NULL },
        { NULL, TL_OPT_END, NULL, 0, 0, NULL, NULL, NULL },
    };
    const tl_command_spec spec = {
        "import",
        "usage: tinylarge import MODEL.tflite -o MODEL.tlm [--meta KEY=VALUE]...\n\n"
        "Converts an int8 TensorFlow Lite model into the .tlm device format:\n"
        "requantisation constants computed offline, an exact arena plan, and a\n"
        "SHA-256 digest. Supported operators: CONV_2D, DEPTHWISE_CONV_2D,\n"
        "FULLY_CONNECTED, AVERAGE_POOL_2D, MAX_POOL_2D, ADD, RESHAPE, SOFTMAX.",
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
    tl_status s = tl_import_tflite(data, size, &g, error, sizeof error);
    free(data);
    if (s != TL_OK) {
        return tl_cli_fail("import", "%s: %s", in, error[0] ? error : tl_status_str(s));
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
