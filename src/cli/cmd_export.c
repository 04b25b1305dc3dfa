/* cmd_export.c - `tinylarge export CKPT -o model.tlm`: a trained network
 * to a device model, with its accuracy on the device runtime. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "options.h"
#include "tinylarge/convert.h"
#include "tinylarge/large.h"
#include "tinylarge/host.h"

/* The device half (ops [0, k)) to `out` and the edge half beside it,
 * OUT.edge.tlm; each says how many bytes cross the cut. */
static int write_split(const tl_graph *whole, uint32_t k, const char *out)
{
    if (k >= whole->op_count) {
        return tl_cli_fail("export", "--split %u: the model has %u operators (the cut must leave one on each side)", k,
                           whole->op_count);
    }
    char edge_path[4200];
    const size_t stem = strlen(out) > 4 && !strcmp(out + strlen(out) - 4, ".tlm") ? strlen(out) - 4 : strlen(out);
    snprintf(edge_path, sizeof edge_path, "%.*s.edge.tlm", (int)stem, out);
    tl_graph head, tail;
    uint8_t *head_bytes = NULL, *tail_bytes = NULL;
    size_t head_size = 0, tail_size = 0;
    tl_status s = tl_graph_clone(whole, &head);
    if (s == TL_OK && (s = tl_graph_clone(whole, &tail)) != TL_OK) {
        tl_graph_free(&head);
    }
    if (s != TL_OK) {
        return tl_cli_fail("export", "out of memory");
    }
    uint16_t crossing[8];
    const uint32_t n = tl_graph_cut_tensors(whole, k, crossing, 8);
    uint32_t bytes = 0;
    for (uint32_t i = 0; i < n && i < 8; ++i) {
        bytes += whole->tensors[crossing[i]].rec.data_size;
    }
    s = tl_graph_cut(&head, k, 1);
    if (s == TL_OK) {
        s = tl_graph_cut(&tail, k, 0);
    }
    if (s == TL_OK) {
        s = tl_graph_serialize(&head, &head_bytes, &head_size);
    }
    if (s == TL_OK) {
        s = tl_graph_serialize(&tail, &tail_bytes, &tail_size);
    }
    int rc = 0;
    if (s != TL_OK) {
        rc = tl_cli_fail("export", "--split %u: %s", k,
                         s == TL_ERR_UNSUPPORTED ? "more than 8 tensors cross that cut" : tl_status_str(s));
    } else if (tl_write_file_atomic(out, head_bytes, head_size) != TL_OK ||
               tl_write_file_atomic(edge_path, tail_bytes, tail_size) != TL_OK) {
        rc = tl_cli_fail("export", "%s or %s: cannot write", out, edge_path);
    } else {
        printf("split after operator %u: device half %s (%u operators, %zu bytes), edge half %s (%u operators, %zu "
               "bytes); %u tensor%s of %u bytes cross\n", k, out, head.op_count, head_size, edge_path, tail.op_count,
               tail_size, n, n == 1 ? "" : "s", bytes);
    }
    free(head_bytes);
    free(tail_bytes);
    tl_graph_free(&head);
    tl_graph_free(&tail);
    return rc;
}

int tl_cmd_export(int argc, char **argv)
{
    const char *ckpt = NULL, *out = NULL, *data = NULL;
    uint32_t limit = 0, calibration = 500, cut = UINT32_MAX, split = 0;
    int int4 = 0, sparse = 0;
    const tl_opt options[] = {
        { "-o|--output", TL_OPT_TEXT, &out, 0, 0, "FILE", "the .tlm model to write (required)", NULL },
        { "--int4", TL_OPT_FLAG, &int4, 0, 0, NULL, "packed int4 weights (half the bytes)", NULL },
        { "--sparse", TL_OPT_FLAG, &sparse, 0, 0, NULL, "sparse encoding for pruned conv/dense weights", NULL },
        { "--exit", TL_OPT_U32, &cut, 0, 255, "K", "keep only the network up to early exit K (0 = first)", NULL },
        { "--split", TL_OPT_U32, &split, 1, 65535, "K", "write the device half (the first K operators) to -o and\n"
          "the edge half (the rest) beside it as NAME.edge.tlm (tinylarge split says\n"
          "which K)", NULL },
        { "--calibration", TL_OPT_U32, &calibration, 1, 4294967295.0, "N", "training images for activation ranges\n"
          "(default 500)", NULL },
        { "--limit", TL_OPT_U32, &limit, 0, 4294967295.0, "N", "test images to measure on (default: all)", NULL },
        { "--data", TL_OPT_TEXT, &data, 0, 0, "DIR", "dataset folder: IDX or .npy files (default Fashion-MNIST)", NULL },
        { NULL, TL_OPT_END, NULL, 0, 0, NULL, NULL, NULL },
    };
    const tl_command_spec spec = {
        "export",
        "usage: tinylarge export CKPT -o MODEL.tlm [--int4 | --sparse] [--exit K] [--split K] [--calibration N]\n"
        "                        [--limit N] [--data DIR]\n\n"
        "Quantises a training checkpoint into the .tlm device format (batch norm\n"
        "folded, ReLU fused, per-channel int8 weights, int8 activations calibrated on\n"
        "training images), then measures its accuracy through the device runtime\n"
        "beside the float network's, on the same test images.",
        options, &ckpt, 1, NULL
    };
    int positional;
    const int parsed = tl_opt_parse(&spec, argc, argv, &positional);
    if (parsed != TL_OPT_OK) {
        return parsed;
    }
    if (!ckpt || !out) {
        tl_opt_usage(&spec, stderr);
        return tl_cli_fail("export", "need a checkpoint and -o MODEL.tlm");
    }
    char error[512] = "";
    tl_net net;
    tl_checkpoint_info info;
    if (tl_checkpoint_load(ckpt, 128, &net, NULL, &info, error, sizeof error) != TL_OK) {
        return tl_cli_fail("export", "%s", error);
    }
    tl_dataset train, test;
    if (tl_dataset_load_dir(data, 1, (int)calibration, &train, error, sizeof error) != TL_OK) {
        tl_net_free(&net);
        return tl_cli_fail("export", "%s", error);
    }
    if (tl_dataset_load_dir(data, 0, (int)limit, &test, error, sizeof error) != TL_OK) {
        tl_dataset_free(&train);
        tl_net_free(&net);
        return tl_cli_fail("export", "%s", error);
    }
    if (int4 && sparse) {
        tl_net_free(&net);
        tl_dataset_free(&train);
        tl_dataset_free(&test);
        return tl_cli_fail("export", "--int4 and --sparse do not combine (yet)");
    }
    tl_export_options opt = { (int)calibration,
                              int4 ? TL_DTYPE_INT4 : (sparse ? TL_DTYPE_SPARSE_INT8 : TL_DTYPE_INT8) };
    tl_graph g;
    tl_status s = tl_export_net(&net, &info, &train, &opt, &g, error, sizeof error);
    int rc = 0;
    uint8_t *tlm = NULL;
    size_t tlm_size = 0;
    float float_acc[TL_MAX_EXITS], device_acc[16];
    int exits = 0;
    if (s != TL_OK) {
        rc = tl_cli_fail("export", "%s: %s", ckpt, error);
        goto done;
    }
    tl_evaluate(&net, &test, info.mean, info.std, float_acc, NULL);
    if (cut != UINT32_MAX) {
        if (cut >= g.exit_count) {
            rc = tl_cli_fail("export", "%s: --exit %u, but the network has %u exit%s", ckpt, cut, g.exit_count,
                             g.exit_count == 1 ? "" : "s");
            goto done;
        }
        tl_graph_truncate_at_exit(&g, cut);
    }
    char text[32];
    snprintf(text, sizeof text, "%d", test.n);
    tl_graph_set_meta(&g, "test_images", text);
    s = tl_graph_serialize(&g, &tlm, &tlm_size);
    if (s == TL_OK) {
        s = tl_runtime_accuracy(tlm, tlm_size, &test, device_acc, &exits);
    }
    if (s == TL_OK) {
        /* Record the measured accuracy in the model, then write it. */
        free(tlm);
        tlm = NULL;
        snprintf(text, sizeof text, "%.4f", (double)device_acc[exits - 1]);
        tl_graph_set_meta(&g, "accuracy", text);
        s = tl_graph_serialize(&g, &tlm, &tlm_size);
    }
    if (s != TL_OK) {
        rc = tl_cli_fail("export", "%s: the exported model does not run: %s", ckpt, tl_status_str(s));
        goto done;
    }
    if (split && write_split(&g, split, out) != 0) {
        rc = 1;
        goto done;
    }
    if (!split && tl_write_file_atomic(out, tlm, tlm_size) != TL_OK) {
        rc = tl_cli_fail("export", "%s: cannot write", out);
        goto done;
    }
    printf("exported %s -> %s: %zu bytes%s, %s weights, %d exit%s\n", ckpt, out, tlm_size, split ? " (whole)" : "",
           int4 ? "int4" : (sparse ? "sparse int8" : "int8"),
           exits, exits > 1 ? "s" : "");
    for (int e = 0; e < exits; ++e) {
        printf("exit %d: float accuracy %.4f, device (quantised) accuracy %.4f on %d test images (%+.2f points)\n", e,
               (double)float_acc[e], (double)device_acc[e], test.n, 100.0 * (double)(device_acc[e] - float_acc[e]));
    }
done:
    free(tlm);
    tl_graph_free(&g);
    tl_dataset_free(&train);
    tl_dataset_free(&test);
    tl_net_free(&net);
    return rc;
}
