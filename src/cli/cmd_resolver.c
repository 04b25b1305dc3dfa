/* cmd_resolver.c - `tinylarge resolver MODEL.tlm... -o ops.c`: the operator
 * table of a firmware that runs just these models, so that it links no
 * other kernel (see src/device/op.h). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "options.h"
#include "tinylarge/host.h"

/* An operator's descriptor is named after it: CONV_2D -> tl_op_conv_2d. */
static void symbol_of(const char *name, char *out, size_t size)
{
    size_t n = (size_t)snprintf(out, size, "tl_op_");
    for (; *name && n + 1 < size; ++name) {
        out[n++] = (char)tolower((unsigned char)*name);
    }
    out[n] = '\0';
}

int tl_cmd_resolver(int argc, char **argv)
{
    const char *output = NULL;
    const char *paths[TL_OPT_LIST_MAX] = { NULL };
    const tl_opt options[] = {
        { "-o|--output", TL_OPT_TEXT, &output, 0, 0, "FILE.c", "where to write the table (required)", NULL },
        { NULL, TL_OPT_END, NULL, 0, 0, NULL, NULL, NULL },
    };
    const tl_command_spec spec = {
        "resolver",
        "usage: tinylarge resolver MODEL.tlm [MODEL.tlm...] -o FILE.c\n\n"
        "Writes the operator table (tl_op_table) of a firmware that runs these models:\n"
        "only their operators are listed, so only their kernels are linked; where every\n"
        "use of an operator is int8 (activations and dense weights), its int8-only kind,\n"
        "so no int16, int4, sparse or bitmap kernel is linked either. Build the firmware\n"
        "with -DTL_OP_RESOLVER=FILE.c; a model using another operator or element type is\n"
        "then refused at load (unsupported operator).",
        options, paths, TL_OPT_LIST_MAX, NULL
    };
    int count;
    const int parsed = tl_opt_parse(&spec, argc, argv, &count);
    if (parsed != TL_OPT_OK) {
        return parsed;
    }
    if (count < 1 || !output) {
        return tl_cli_fail("resolver", "usage: tinylarge resolver MODEL.tlm [MODEL.tlm...] -o FILE.c");
    }
    int used[TL_OP_COUNT_] = { 0 }, wide[TL_OP_COUNT_] = { 0 }; /* wide: some use needs the full kind */
    for (int i = 0; i < count; ++i) {
        uint8_t *buf;
        tl_model m;
        if (tl_cli_load_model("resolver", paths[i], &buf, &m)) {
            return 1;
        }
        for (uint32_t k = 0; k < m.header->op_count; ++k) {
            used[m.ops[k].opcode] = 1;
            wide[m.ops[k].opcode] |= !tl_op_int8_accepts(&m, k);
        }
        free(buf);
    }
    size_t cap = 16384, len = 0;
    char *text = malloc(cap);
    if (!text) {
        return tl_cli_fail("resolver", "out of memory");
    }
#define EMIT(...)                                                                  \
    do {                                                                           \
        int n_ = snprintf(text + len, cap - len, __VA_ARGS__);                     \
        len += n_ > 0 && (size_t)n_ < cap - len ? (size_t)n_ : 0;                  \
    } while (0)
    EMIT("/* Written by `tinylarge resolver`: the operators of");
    for (int i = 0; i < count; ++i) {
        const char *base = strrchr(paths[i], '/');
        EMIT(" %.200s", base ? base + 1 : paths[i]);
    }
    EMIT(". */\n#include \"op.h\"\n\n");
    char symbol[64];
    for (uint32_t op = 0; op < TL_OP_COUNT_; ++op) {
        if (used[op]) {
            symbol_of(tl_opcode_name(op), symbol, sizeof symbol);
            EMIT("extern const tl_op_kind %s%s;\n", symbol, wide[op] ? "" : "_int8");
        }
    }
    EMIT("\nconst tl_op_kind *const tl_op_table[TL_OP_COUNT_] = {\n");
    for (uint32_t op = 0; op < TL_OP_COUNT_; ++op) {
        if (used[op]) {
            symbol_of(tl_opcode_name(op), symbol, sizeof symbol);
            EMIT("    [%u] = &%s%s,\n", op, symbol, wide[op] ? "" : "_int8");
        }
    }
    EMIT("};\n");
#undef EMIT
    const tl_status s = tl_write_file_atomic(output, text, len);
    free(text);
    if (s != TL_OK) {
        return tl_cli_fail("resolver", "%s: cannot write", output);
    }
    int n = 0, narrow = 0;
    for (uint32_t op = 0; op < TL_OP_COUNT_; ++op) {
        n += used[op];
        narrow += used[op] && !wide[op];
    }
    printf("%s: %d of %d operators, %d of them int8 only\n", output, n, TL_OP_COUNT_ - 1, narrow);
    return 0;
}
