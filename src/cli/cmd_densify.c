/* cmd_densify.c - `tinylarge densify MODEL.tlm -o OUT.tlm`: the model with
 * its sparse and int4 filters stored dense int8, as a device installs a
 * pruned or int4 download when it has the flash (tl_model_densify). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "options.h"
#include "tinylarge/convert.h"
#include "tinylarge/host.h"

int tl_cmd_densify(int argc, char **argv)
{
    const char *path = NULL, *out_path = NULL;
    const tl_opt options[] = {
        { "-o|--output", TL_OPT_TEXT, &out_path, 0, 0, "OUT.tlm", "where to write the dense model (required)", NULL },
        { NULL, TL_OPT_END, NULL, 0, 0, NULL, NULL, NULL },
    };
    const tl_command_spec spec = {
        "densify",
        "usage: tinylarge densify MODEL.tlm -o OUT.tlm\n\n"
        "Writes MODEL with every sparse (CSR or bitmap) and int4 filter expanded to\n"
        "dense int8: what a device installs when it downloads a pruned or int4 model\n"
        "and has the flash for the dense form. Outputs are bit-identical; the dense\n"
        "int8 kernels are faster on a Cortex-M4. The result has a fresh digest and no\n"
        "signature.",
        options, &path, 1, NULL
    };
    int positional;
    const int parsed = tl_opt_parse(&spec, argc, argv, &positional);
    if (parsed != TL_OPT_OK) {
        return parsed;
    }
    if (!path || !out_path) {
        return tl_cli_fail("densify", "usage: tinylarge densify MODEL.tlm -o OUT.tlm");
    }
    uint8_t *buffer;
    tl_model m;
    if (tl_cli_load_model("densify", path, &buffer, &m) != 0) {
        return 1;
    }
    uint32_t size = 0;
    tl_status s = tl_model_dense_size(&m, &size);
    uint8_t *out = s == TL_OK ? malloc(size) : NULL;
    if (s == TL_OK && !out) {
        s = TL_ERR_NOMEM;
    }
    if (s == TL_OK) {
        s = tl_model_densify(&m, out, size, &size);
    }
    int rc = 0;
    if (s != TL_OK) {
        rc = tl_cli_fail("densify", "%s: %s", path, tl_status_str(s));
    } else if (tl_write_file_atomic(out_path, out, size) != TL_OK) {
        rc = tl_cli_fail("densify", "%s: cannot write", out_path);
    } else {
        uint32_t int4 = 0;
        for (uint32_t i = 0; i < m.header->tensor_count; ++i) {
            int4 += tl_tensor_is_packed(&m.tensors[i]) && m.tensors[i].dtype == TL_DTYPE_INT4;
        }
        const uint32_t sparse = tl_model_packed_filters(&m) - int4;
        printf("densified %s: %u sparse and %u int4 filters made dense int8, %u -> %u bytes: %s\n", path, sparse,
               int4, m.size, size, out_path);
    }
    free(out);
    free(buffer);
    return rc;
}
