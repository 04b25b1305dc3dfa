/* cmd_split_learn.c - `tinylarge split-learn CKPT --edge HOST:PORT`: a
 * host-class device's split learning with the edge (`serve --split-learn`):
 * it trains its half of the network (nodes up to the edge's cut) on its
 * own data, sending each batch's activations at the cut with their labels
 * and learning from the gradients the edge sends back; at the end its half
 * is joined into the edge's model. `--simulate OUT` runs the edge's half
 * in this process instead (the same code, no network). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "options.h"
#include "tinylarge/host.h"
#include "tinylarge/large.h"
#include "tinylarge/offload.h"

/* Where a batch's cut goes: the edge over CoAP, or a split server here. */
typedef struct split_link {
    tl_offload_client *edge;    /* NULL: simulated */
    tl_split_server *local;
    int bits;
    double timeout;
    uint8_t *message;
    double bytes_up, bytes_down;
    char error[512];
} split_link;

static tl_status send_cut(void *ctx, const float *cut_values, const uint8_t *labels, int n, size_t per_sample,
                          float *cut_gradient)
{
    split_link *l = ctx;
    const size_t size = tl_cut_encode(l->message, cut_values, labels, n, per_sample, l->bits);
    uint8_t *answer = NULL;
    size_t answer_size = 0;
    tl_status s = l->edge ? tl_offload_request(l->edge, "split", "step=train", l->message, size, l->timeout, &answer,
                                               &answer_size, l->error, sizeof l->error)
                          : tl_split_server_train(l->local, l->message, size, &answer, &answer_size, l->error,
                                                  sizeof l->error);
    int got = 0, bits = 0;
    if (s == TL_OK) {
        s = tl_cut_decode(answer, answer_size, per_sample, n, cut_gradient, NULL, &got, &bits);
        if (s != TL_OK || got != n) {
            snprintf(l->error, sizeof l->error, "the edge's answer is not the gradient of %d samples at the cut", n);
            s = TL_ERR_FORMAT;
        }
    }
    l->bytes_up += (double)size;
    l->bytes_down += (double)answer_size;
    free(answer);
    return s;
}

/* The edge's "k=v&k=v" description: the value of key as a number (-1 if missing). */
static double described(const char *text, const char *key)
{
    char value[64];
    return tl_text_value(text, key, value, sizeof value)[0] ? strtod(value, NULL) : -1.0;
}

int tl_cmd_split_learn(int argc, char **argv)
{
    const char *ckpt = NULL, *edge_text = NULL, *simulate = NULL, *data = NULL, *psk_file = NULL, *out = NULL;
    uint32_t epochs = 1, batch = 32, limit = 0, seed = 1, cut = 0;
    int bits_choice = 0;
    float lr = 0.05f;
    double timeout = 10.0;
    const tl_opt options[] = {
        { "--edge", TL_OPT_TEXT, &edge_text, 0, 0, "HOST:PORT", "the edge server (serve --split-learn)", NULL },
        { "--simulate", TL_OPT_TEXT, &simulate, 0, 0, "OUT.tlc", "no network: the edge's half of CKPT runs here (the\n"
          "server's code) and the joined model goes to OUT.tlc (needs --cut)", NULL },
        { "--cut", TL_OPT_U32, &cut, 1, 100000, "NODE", "with --simulate: the last node of the device's half", NULL },
        { "--data", TL_OPT_TEXT, &data, 0, 0, "DIR", "the device's data: IDX or .npy files (default Fashion-MNIST)",
          NULL },
        { "--limit", TL_OPT_U32, &limit, 0, 4294967295.0, "N", "use the first N training images (default all)", NULL },
        { "--epochs", TL_OPT_U32, &epochs, 1, 100000, "E", "passes over the data (default 1)", NULL },
        { "--batch", TL_OPT_U32, &batch, 1, 256, "B", "samples a step (default 32)", NULL },
        { "--bits", TL_OPT_CHOICE, &bits_choice, 0, 0, "8|32", "what crosses the cut: int8 with a scale a sample\n"
          "(default) or float32", NULL },
        { "--lr", TL_OPT_FLOAT, &lr, 1e-6, 10, "X", "the device's SGD rate (default 0.05; momentum 0.9)", NULL },
        { "--seed", TL_OPT_U32, &seed, 0, 4294967295.0, "S", "the order of the samples (default 1)", NULL },
        { "--psk", TL_OPT_TEXT, &psk_file, 0, 0, "FILE", "DTLS with this identity ('identity hex-key')", NULL },
        { "--timeout", TL_OPT_DOUBLE, &timeout, 0.01, 3600, "S", "wait this long for each answer (default 10)", NULL },
        { "--out", TL_OPT_TEXT, &out, 0, 0, "FILE", "also write the device's own checkpoint (its half trained)",
          NULL },
        { NULL, TL_OPT_END, NULL, 0, 0, NULL, NULL, NULL },
    };
    const tl_command_spec spec = {
        "split-learn",
        "usage: tinylarge split-learn CKPT (--edge HOST:PORT | --simulate OUT.tlc --cut NODE) [--data DIR]\n"
        "                             [--limit N] [--epochs E] [--batch B] [--bits 8|32] [--lr X] [--seed S]\n"
        "                             [--psk FILE] [--timeout S] [--out FILE]\n\n"
        "Split learning as a host-class device runs it: CKPT (the same architecture as\n"
        "the edge's) is the device's starting point; the edge says where the cut is\n"
        "(GET /split). Each batch runs through the device's half, its activations at\n"
        "the cut go to the edge with their labels (POST /split?step=train), the edge's\n"
        "half learns and answers their gradient, and the device's half learns from it.\n"
        "At the end the device's half is sent (step=join) and the edge writes the whole\n"
        "model. The device's raw data never leaves it; its labels and activations do.",
        options, &ckpt, 1, NULL
    };
    int positional;
    const int parsed = tl_opt_parse(&spec, argc, argv, &positional);
    if (parsed != TL_OPT_OK) {
        return parsed;
    }
    if (!ckpt || (!edge_text == !simulate)) {
        tl_opt_usage(&spec, stderr);
        return tl_cli_fail("split-learn", "need CKPT and one of --edge HOST:PORT or --simulate OUT.tlc");
    }
    if (simulate && cut == 0) {
        return tl_cli_fail("split-learn", "--simulate needs --cut NODE (with --edge the edge says it)");
    }
    split_link link;
    memset(&link, 0, sizeof link);
    link.bits = bits_choice == 0 ? 8 : 32;
    link.timeout = timeout;
    char error[512] = "", describe[512] = "";
    int rc = 0;
    tl_net net;
    tl_checkpoint_info info;
    tl_optim opt;
    memset(&opt, 0, sizeof opt);
    tl_dataset train;
    memset(&train, 0, sizeof train);
    uint8_t *decay = NULL, *answer = NULL, *y = NULL;
    float *x = NULL, *gradient = NULL, *half = NULL;
    uint32_t *order = NULL;
    if (tl_checkpoint_load(ckpt, (int)batch, &net, NULL, &info, error, sizeof error) != TL_OK) {
        return tl_cli_fail("split-learn", "%s", error);
    }
    size_t answer_size = 0;
    if (edge_text) {
        char host[256];
        uint16_t port = 5683;
        tl_psk psk;
        if (tl_cli_host_port("split-learn", edge_text, host, sizeof host, &port) != 0) {
            rc = 1;
            goto done;
        }
        if (psk_file && tl_psk_read(psk_file, &psk, 1, error, sizeof error) != 1) {
            rc = tl_cli_fail("split-learn", "--psk %s: %s", psk_file, error);
            goto done;
        }
        if (tl_offload_connect(host, port, psk_file ? &psk : NULL, &link.edge, error, sizeof error) != TL_OK ||
            tl_offload_request(link.edge, "split", NULL, NULL, 0, timeout, &answer, &answer_size, error,
                               sizeof error) != TL_OK) {
            rc = tl_cli_fail("split-learn", "--edge %s: %s", edge_text, error);
            goto done;
        }
        snprintf(describe, sizeof describe, "%s", (const char *)answer);
        free(answer);
        answer = NULL;
        cut = (uint32_t)described(describe, "cut");
        char arch[64];
        tl_text_value(describe, "arch", arch, sizeof arch);
        if (strcmp(arch, info.arch) != 0 || described(describe, "classes") != info.classes) {
            rc = tl_cli_fail("split-learn", "%s is a %s of %d classes; the edge's half is of a %s (%s)", ckpt, info.arch,
                             info.classes, arch[0] ? arch : "(unknown)", describe);
            goto done;
        }
        if (described(describe, "batch") < (double)batch) {
            rc = tl_cli_fail("split-learn", "--batch %u: the edge takes at most %.0f samples a step", batch,
                             described(describe, "batch"));
            goto done;
        }
    } else {
        const tl_split_server_options so = { ckpt, (int)cut, 0.05f, simulate };
        if (tl_split_server_open(&so, &link.local, error, sizeof error) != TL_OK) {
            rc = tl_cli_fail("split-learn", "%s", error[0] ? error : "out of memory");
            goto done;
        }
    }
    if (tl_split_check(&net, (int)cut) != TL_OK) {
        rc = tl_cli_fail("split-learn", "%s: node %u cannot split %s (nodes 1 to %d; no exit at or below the cut, no "
                         "skip connection over it)", ckpt, cut, info.arch, net.count - 2);
        goto done;
    }
    const size_t per = tl_net_node_values(&net, (int)cut);
    if (tl_dataset_load_dir(data ? data : TL_FASHION_MNIST_DIR, 1, (int)limit, &train, error, sizeof error) != TL_OK) {
        rc = tl_cli_fail("split-learn", "%s", error);
        goto done;
    }
    if (train.h != info.h || train.w != info.w || train.c != info.c) {
        rc = tl_cli_fail("split-learn", "%s: images of %dx%dx%d, %s takes %dx%dx%d", data ? data : TL_FASHION_MNIST_DIR,
                         train.h, train.w, train.c, ckpt, info.h, info.w, info.c);
        goto done;
    }
    net.training = 1;
    decay = tl_net_decay_mask(&net);
    x = malloc((size_t)batch * (size_t)train.h * train.w * train.c * sizeof(float));
    y = malloc(batch);
    gradient = malloc((size_t)batch * per * sizeof(float));
    order = malloc((size_t)train.n * sizeof *order);
    link.message = malloc(tl_cut_wire_size((int)batch, per, link.bits, 1));
    if (!decay || !x || !y || !gradient || !order || !link.message || tl_optim_init(&opt, net.param_count) != TL_OK) {
        rc = tl_cli_fail("split-learn", "out of memory");
        goto done;
    }
    opt.kind = TL_OPTIM_SGD;
    opt.lr = lr;
    opt.momentum = 0.9f;
    opt.weight_decay = 5e-4f;
    printf("split learning %s: the device's half is nodes 1 to %u (its output %dx%dx%d), %zu values a sample cross "
           "at %d bits; %d images\n", info.arch, cut, net.nodes[cut].h, net.nodes[cut].w, net.nodes[cut].c, per,
           link.bits, train.n);
    uint64_t rng = seed;
    long steps = 0;
    const double t0 = tl_monotonic_seconds();
    for (uint32_t e = 0; e < epochs && rc == 0; ++e) {
        tl_shuffle(order, train.n, seed, (int)e);
        for (int first = 0; first < train.n; first += (int)batch) {
            const int n = train.n - first < (int)batch ? train.n - first : (int)batch;
            tl_dataset_batch(&train, order, first, n, info.mean, info.std, 0, 0, &rng, x, y);
            if (tl_split_device_step(&net, &opt, decay, (int)cut, x, y, n, send_cut, &link, gradient) != TL_OK) {
                rc = tl_cli_fail("split-learn", "step %ld: %s", steps + 1, link.error);
                break;
            }
            ++steps;
        }
        if (rc == 0 && link.edge) {
            tl_offload_request(link.edge, "split", NULL, NULL, 0, timeout, &answer, &answer_size, error, sizeof error);
        }
        if (rc == 0) {
            if (!link.edge) {
                tl_split_server_describe(link.local, describe, sizeof describe);
            } else if (answer) {
                snprintf(describe, sizeof describe, "%s", (const char *)answer);
            }
            free(answer);
            answer = NULL;
            printf("epoch %u/%u: %ld steps, %.2f MB up, %.2f MB down, %.1f s; the edge's last loss %.4f\n", e + 1,
                   epochs, steps, link.bytes_up / 1e6, link.bytes_down / 1e6, tl_monotonic_seconds() - t0,
                   described(describe, "loss"));
            fflush(stdout);
        }
    }
    if (rc != 0) {
        goto done;
    }
    const size_t floats = tl_split_half_floats(&net, (int)cut);
    half = malloc(floats * sizeof(float));
    if (!half) {
        rc = tl_cli_fail("split-learn", "out of memory");
        goto done;
    }
    tl_split_half_pack(&net, (int)cut, half);
    const tl_status joined = link.edge ? tl_offload_request(link.edge, "split", "step=join", (const uint8_t *)half,
                                                            floats * sizeof(float), timeout, &answer, &answer_size,
                                                            error, sizeof error)
                                       : tl_split_server_join(link.local, (const uint8_t *)half,
                                                              floats * sizeof(float), error, sizeof error);
    if (joined != TL_OK) {
        rc = tl_cli_fail("split-learn", "joining the halves: %s", error);
        goto done;
    }
    printf("joined: the device's half (%zu values) sent to the edge%s%s\n", floats, simulate ? ", written to " : "",
           simulate ? simulate : "");
    if (out && tl_checkpoint_save(out, &net, NULL, &info) != TL_OK) {
        rc = tl_cli_fail("split-learn", "%s: cannot write", out);
    }
done:
    free(answer);
    free(half);
    free(link.message);
    free(order);
    free(gradient);
    free(y);
    free(x);
    free(decay);
    tl_optim_free(&opt);
    tl_dataset_free(&train);
    tl_offload_disconnect(link.edge);
    tl_split_server_close(link.local);
    tl_net_free(&net);
    return rc;
}
