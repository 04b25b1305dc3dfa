/* cmd_inspect.c - `tinylarge inspect model.tlm`: graph, sizes, MACs, arena. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "options.h"
#include "tinylarge/convert.h"
#include "tinylarge/host.h"

static void print_shape(const tl_tensor_rec *t)
{
    putchar('[');
    for (uint32_t i = 0; i < t->rank; ++i) {
        printf(i ? ",%u" : "%u", t->dims[i]);
    }
    putchar(']');
}

static const char *dtype_name(uint8_t dtype)
{
    switch (dtype) {
    case TL_DTYPE_INT8: return "int8";
    case TL_DTYPE_INT32: return "int32";
    case TL_DTYPE_INT4: return "int4";
    case TL_DTYPE_SPARSE_INT8: return "sparse-int8";
    case TL_DTYPE_BITMAP_INT8: return "bitmap-int8";
    case TL_DTYPE_INT16: return "int16";
    case TL_DTYPE_FLOAT32: return "float32";
    default: return "?";
    }
}

/* An input's or output's element type and quantisation. */
static void print_type(const tl_tensor_rec *t)
{
    if (t->dtype == TL_DTYPE_FLOAT32) {
        printf(" float32");
    } else {
        printf(" %s (scale %g, zero point %d)", dtype_name(t->dtype), (double)t->scale, t->zero_point);
    }
}

/* What a TFLite model holds, operator by operator, and what tinylarge
 * lacks to import it: every gap at once, where import stops at the first. */
typedef struct survey {
    uint32_t unsupported, float_ops, int16_ops;
    char names[64][48];
    uint32_t counts[64];
    uint32_t kinds;
} survey;

static void survey_op(void *ctx, const tl_tflite_op_info *op)
{
    survey *s = ctx;
    const char *verdict = !op->supported           ? "not supported"
                          : op->float_activations ? "float: import --calibrate"
                          : op->int16_activations ? "not with int16 activations"
                                                  : "supported";
    printf("  %-4u %-32s %-40s %s\n", op->index, op->name, op->types, verdict);
    s->float_ops += op->float_activations != 0;
    s->int16_ops += op->int16_activations != 0;
    if (op->supported) {
        return;
    }
    s->unsupported++;
    for (uint32_t i = 0; i < s->kinds; ++i) {
        if (!strcmp(s->names[i], op->name)) {
            s->counts[i]++;
            return;
        }
    }
    if (s->kinds < 64) {
        snprintf(s->names[s->kinds], sizeof s->names[0], "%s", op->name);
        s->counts[s->kinds++] = 1;
    }
}

static int inspect_tflite(const char *path, const uint8_t *data, size_t size)
{
    survey s;
    memset(&s, 0, sizeof s);
    char error[512];
    printf("%s: TFLite model, %zu bytes (not yet a device model: `tinylarge import` makes one)\n", path, size);
    printf("  %-4s %-32s %-40s %s\n", "#", "operator", "tensor types (inputs -> outputs)", "tinylarge");
    if (tl_tflite_survey(data, size, survey_op, &s, error, sizeof error) != TL_OK) {
        return tl_cli_fail("inspect", "%s: %s", path, error);
    }
    if (s.unsupported == 0 && s.float_ops == 0 && s.int16_ops == 0) {
        printf("every operator is supported: `tinylarge import %s -o MODEL.tlm`\n", path);
        return 0;
    }
    if (s.unsupported) {
        printf("operators tinylarge does not run yet:");
        for (uint32_t i = 0; i < s.kinds; ++i) {
            printf("%s %s x%u", i ? "," : "", s.names[i], s.counts[i]);
        }
        putchar('\n');
        uint32_t custom = 0;
        for (uint32_t i = 0; i < s.kinds; ++i) {
            custom += !strncmp(s.names[i], "CUSTOM", 6);
        }
        if (custom) {
            printf("%u of them custom operators: an accelerator's compiled subgraph or a vendor's own kernels, which\n"
                   "only that runtime runs: export the model without them (e.g. before an NPU compiler ran)\n",
                   custom);
        }
    }
    if (s.float_ops) {
        printf("%u operators have float activations: a float model; `tinylarge import %s -o MODEL.tlm\n"
               "--calibrate FILE.npy|DIR` quantises it to int8 from samples of its input\n",
               s.float_ops, path);
    }
    if (s.int16_ops) {
        printf("%u operators have int16 activations (16x8 quantisation): not supported yet; quantise with\n"
               "int8 activations to import it today\n",
               s.int16_ops);
    }
    return 0;
}

int tl_cmd_inspect(int argc, char **argv)
{
    const char *path = NULL;
    const tl_opt options[] = {
        { NULL, TL_OPT_END, NULL, 0, 0, NULL, NULL, NULL },
    };
    const tl_command_spec spec = {
        "inspect",
        "usage: tinylarge inspect MODEL.tlm\n"
        "       tinylarge inspect MODEL.tflite\n\n"
        "Validates the model as the device would and prints its metadata,\n"
        "operators (shapes, weight encoding, MACs), exits, and the sizes that\n"
        "matter on a device: model bytes, weight bytes and the exact arena.\n"
        "A TFLite model is listed operator by operator with its tensors' types\n"
        "and whether tinylarge imports each, naming every gap at once.",
        options, &path, 1, NULL
    };
    int positional;
    const int parsed = tl_opt_parse(&spec, argc, argv, &positional);
    if (parsed != TL_OPT_OK) {
        return parsed;
    }
    if (!path) {
        tl_opt_usage(&spec, stderr);
        return tl_cli_fail("inspect", "need a .tlm file");
    }
    uint8_t *raw;
    size_t raw_size;
    if (tl_read_file(path, &raw, &raw_size) == TL_OK) {
        const int tflite = raw_size >= 8 && !memcmp(raw + 4, "TFL3", 4);
        const int rc = tflite ? inspect_tflite(path, raw, raw_size) : -1;
        free(raw);
        if (tflite) {
            return rc;
        }
    }
    uint8_t *buf;
    tl_model m;
    if (tl_cli_load_model("inspect", path, &buf, &m)) {
        return 1;
    }
    const tl_file_header *h = m.header;
    printf("%s: tinylarge model, format %u.%u, %u bytes, digest ok, %s\n", path, h->version_major,
           h->version_minor, m.size, m.trailer->signature_alg == TL_SIG_ED25519 ? "signed" : "unsigned");
    printf("metadata:\n");
    for (const char *p = m.meta; p && p < m.meta + m.meta_size;) {
        const char *v = p + strlen(p) + 1;
        printf("  %s = %s\n", p, v);
        p = v + strlen(v) + 1;
    }
    printf("operators: %u\n", h->op_count);
    printf("  %-4s %-18s %-8s %-22s %-20s %12s\n", "#", "op", "weights", "input", "output", "MACs");
    uint64_t total_macs = 0;
    for (uint32_t i = 0; i < h->op_count; ++i) {
        const tl_op_rec *op = &m.ops[i];
        const tl_tensor_rec *in = &m.tensors[op->inputs[0]];
        const tl_tensor_rec *out = &m.tensors[op->output];
        const char *wfmt = "-";
        if (op->input_count > 1 && m.tensors[op->inputs[1]].kind == TL_TENSOR_CONST) {
            wfmt = dtype_name(m.tensors[op->inputs[1]].dtype);
        }
        const uint64_t macs = tl_op_macs(&m, i);
        total_macs += macs;
        printf("  %-4u %-18s %-8s ", i,
               (op->flags & TL_OP_FLAG_RESIDUAL) ? "CONV_2D+ADD" : tl_opcode_name(op->opcode), wfmt);
        char shape[64];
        int n = 0;
        for (uint32_t d = 0; d < in->rank; ++d) {
            n += snprintf(shape + n, sizeof shape - (size_t)n, d ? ",%u" : "[%u", in->dims[d]);
        }
        snprintf(shape + n, sizeof shape - (size_t)n, "]%s%s", in->dtype == TL_DTYPE_INT8 ? "" : " ",
                 in->dtype == TL_DTYPE_INT8 ? "" : dtype_name(in->dtype));
        printf("%-22s ", shape);
        n = 0;
        for (uint32_t d = 0; d < out->rank; ++d) {
            n += snprintf(shape + n, sizeof shape - (size_t)n, d ? ",%u" : "[%u", out->dims[d]);
        }
        snprintf(shape + n, sizeof shape - (size_t)n, "]%s%s", out->dtype == TL_DTYPE_INT8 ? "" : " ",
                 out->dtype == TL_DTYPE_INT8 ? "" : dtype_name(out->dtype));
        printf("%-20s %12llu\n", shape, (unsigned long long)macs);
    }
    uint64_t weight_bytes = 0;
    for (uint32_t t = 0; t < h->tensor_count; ++t) {
        if (m.tensors[t].kind == TL_TENSOR_CONST) {
            weight_bytes += m.tensors[t].data_size;
        }
    }
    for (uint32_t i = 0; i < h->op_count; ++i) {
        weight_bytes += m.ops[i].opcode == TL_OP_SVDF ? m.ops[i].bias : 0; /* its constant block */
    }
    printf("inputs:");
    for (uint32_t i = 0; i < h->input_count; ++i) {
        const tl_tensor_rec *t = &m.tensors[m.io[i]];
        printf(" %s ", tl_model_tensor_name(&m, m.io[i]));
        print_shape(t);
        print_type(t);
    }
    printf("\noutputs:");
    for (uint32_t i = 0; i < h->output_count; ++i) {
        const tl_tensor_rec *t = &m.tensors[m.io[h->input_count + i]];
        printf(" %s ", tl_model_tensor_name(&m, m.io[h->input_count + i]));
        print_shape(t);
        print_type(t);
    }
    printf("\nexits: %u\n", h->exit_count);
    for (uint32_t i = 0; i < h->exit_count; ++i) {
        uint64_t macs = 0;
        for (uint32_t k = 0; k < m.exits[i].op_end; ++k) {
            macs += tl_op_macs(&m, k);
        }
        printf("  exit %u: after operator %u, %s, %llu MACs\n", i, m.exits[i].op_end,
               m.exits[i].kind == TL_EXIT_PROBS ? "probabilities" : "raw output", (unsigned long long)macs);
    }
    printf("total: %llu MACs, %llu weight bytes, %u model bytes, arena %u bytes\n",
           (unsigned long long)total_macs, (unsigned long long)weight_bytes, m.size, h->arena_size);
    /* What a device with --densify would keep in flash. */
    uint32_t dense_size;
    const uint32_t packed = tl_model_packed_filters(&m);
    if (packed && tl_model_dense_size(&m, &dense_size) == TL_OK) {
        printf("made dense (tinylarge densify): %u model bytes, %u packed filters as int8\n", dense_size, packed);
    }
    free(buf);
    return 0;
}
