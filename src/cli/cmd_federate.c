/* cmd_federate.c - `tinylarge federate`: federated learning simulated in
 * one process (src/federated/simulate.c), a progress line per round and
 * the rounds as JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "options.h"
#include "tinylarge/federated.h"
#include "tinylarge/host.h"

/* "iid", "dirichlet:0.5", "shards:2" */
static int parse_partition(const char *text, tl_fed_config *cfg)
{
    char *end = NULL;
    if (strcmp(text, "iid") == 0) {
        cfg->partition = TL_PARTITION_IID;
        return 0;
    }
    if (strncmp(text, "dirichlet:", 10) == 0) {
        cfg->partition = TL_PARTITION_DIRICHLET;
        cfg->alpha = strtod(text + 10, &end);
        return end != text + 10 && *end == '\0' && cfg->alpha > 0.0 && cfg->alpha < 1e6 ? 0 : -1;
    }
    if (strncmp(text, "shards:", 7) == 0) {
        cfg->partition = TL_PARTITION_LABELS;
        const long k = strtol(text + 7, &end, 10);
        cfg->labels_per_shard = (int)k;
        return end != text + 7 && *end == '\0' && k >= 1 && k <= 255 ? 0 : -1;
    }
    return -1;
}

/* "fedavg", "fedprox:0.01", "fedadam", "fedyogi" */
static int parse_strategy(const char *text, tl_fed_config *cfg, int server_lr_given)
{
    char *end = NULL;
    cfg->prox_mu = 0.0f;
    cfg->server = TL_SERVER_AVG;
    if (strcmp(text, "fedavg") == 0) {
        return 0;
    }
    if (strncmp(text, "fedprox:", 8) == 0) {
        cfg->prox_mu = strtof(text + 8, &end);
        return end != text + 8 && *end == '\0' && cfg->prox_mu >= 0.0f && cfg->prox_mu < 100.0f ? 0 : -1;
    }
    if (strcmp(text, "fedadam") == 0 || strcmp(text, "fedyogi") == 0) {
        cfg->server = text[3] == 'a' ? TL_SERVER_ADAM : TL_SERVER_YOGI;
        if (!server_lr_given) {
            cfg->server_lr = 0.01f; /* Reddi et al.'s best server rates are around 1e-2 */
        }
        return 0;
    }
    return -1;
}

/* "0.2:sign-flip", "0.2:scale", "0.2:label-flip" */
static int parse_attackers(const char *text, tl_fed_config *cfg)
{
    char *end = NULL;
    cfg->attackers = strtof(text, &end);
    if (end == text || *end != ':' || !(cfg->attackers >= 0.0f && cfg->attackers < 1.0f)) {
        return -1;
    }
    static const char *const kinds[] = { "sign-flip", "scale", "label-flip" };
    for (int k = 0; k < 3; ++k) {
        if (strcmp(end + 1, kinds[k]) == 0) {
            cfg->attack = (tl_attack_kind)(k + 1);
            return 0;
        }
    }
    return -1;
}

static int write_json(const char *path, const tl_fed_config *cfg, const tl_fed_report *r, const char *strategy,
                      const char *aggregate, const char *compress)
{
    size_t cap = 4096 + (size_t)r->rounds_run * 200, len = 0;
    char *text = malloc(cap);
    if (!text) {
        return 1;
    }
#define PUT(...) len += (size_t)snprintf(text + len, cap - len, __VA_ARGS__)
    char hex[65];
    for (int i = 0; i < 32; ++i) {
        snprintf(hex + 2 * i, 3, "%02x", r->model_sha256[i]);
    }
    PUT("{\n  \"arch\": \"%s\",\n  \"clients\": %d,\n  \"per_round\": %d,\n  \"strategy\": \"%s\",\n"
        "  \"aggregate\": \"%s\",\n  \"compress\": \"%s\",\n  \"secagg\": %s,\n  \"dropout\": %g,\n"
        "  \"seed\": %llu,\n  \"parameters\": %zu,\n  \"initial_accuracy\": %.4f,\n  \"rounds\": [\n",
        cfg->init ? cfg->init : cfg->arch, cfg->clients, cfg->per_round, strategy, aggregate, compress, cfg->secagg ? "true" : "false",
        (double)cfg->dropout, (unsigned long long)cfg->seed, r->dim, (double)r->initial_accuracy);
    for (int i = 0; i < r->rounds_run; ++i) {
        const tl_fed_round *x = &r->rounds[i];
        PUT("    {\"round\": %d, \"accuracy\": %.4f, \"bytes_up\": %.0f, \"bytes_down\": %.0f, "
            "\"cloud_bytes_up\": %.0f, \"seconds\": %.3f, \"air_seconds\": %.3f, \"clients\": %d, \"dropped\": %d, \"epsilon\": %.4f}%s\n",
            x->round, (double)x->accuracy, x->bytes_up, x->bytes_down, x->cloud_bytes_up, x->seconds, x->air_seconds,
            x->clients,
            x->dropped, x->epsilon, i + 1 < r->rounds_run ? "," : "");
    }
    PUT("  ],\n  \"final_accuracy\": %.4f,\n  \"epsilon\": %.4f,\n  \"secagg_server_seconds\": %.3f,\n"
        "  \"model_sha256\": \"%s\"\n}\n",
        (double)r->final_accuracy, r->epsilon, r->secagg_server_seconds, hex);
#undef PUT
    const int rc = tl_write_file_atomic(path, text, len) != TL_OK;
    free(text);
    return rc;
}

int tl_cmd_federate(int argc, char **argv)
{
    tl_fed_config cfg;
    tl_fed_defaults(&cfg);
    const char *partition = "iid", *strategy = "fedavg", *aggregate = "mean", *attackers = NULL;
    const char *compress = "none", *json = NULL;
    uint32_t seed = 1;
    float server_lr = 0.0f;
    int has_server_lr = 0, selection = 0, cosine = 0;
    double dp_epsilon = 0.0;
    const tl_opt options[] = {
        { "--arch", TL_OPT_TEXT, &cfg.arch, 0, 0, "NAME", "the architecture every client trains (default student)",
          NULL },
        { "--init", TL_OPT_TEXT, &cfg.init, 0, 0, "CKPT", "start from this checkpoint (its architecture) instead\n"
          "of a fresh network", NULL },
        { "--data", TL_OPT_TEXT, &cfg.data_dir, 0, 0, "DIR", "dataset folder: IDX or .npy (default Fashion-MNIST)",
          NULL },
        { "--clients", TL_OPT_INT, &cfg.clients, 1, 100000, "N", "clients, each with a shard (default 10)", NULL },
        { "--per-round", TL_OPT_INT, &cfg.per_round, 1, 4096, "K", "clients chosen each round (default 10)", NULL },
        { "--partition", TL_OPT_TEXT, &partition, 0, 0, "KIND", "iid (default), dirichlet:ALPHA or shards:K\n"
          "(K labels per client)", NULL },
        { "--rounds", TL_OPT_INT, &cfg.rounds, 1, 100000, "R", "rounds (default 10)", NULL },
        { "--local-epochs", TL_OPT_INT, &cfg.local_epochs, 1, 1000, "E", "epochs each client trains a round (default 1)",
          NULL },
        { "--batch", TL_OPT_INT, &cfg.batch, 1, 4096, "B", "local batch (default 32)", NULL },
        { "--lr", TL_OPT_FLOAT, &cfg.lr, 1e-6, 10, "X", "local SGD rate (default 0.05)", NULL },
        { "--lr-schedule", TL_OPT_CHOICE, &cosine, 0, 0, "constant|cosine", "the local rate over the rounds: the\n"
          "same (default), or a cosine from --lr down toward 0", NULL },
        { "--strategy", TL_OPT_TEXT, &strategy, 0, 0, "S", "fedavg (default), fedprox:MU, fedadam or fedyogi", NULL },
        { "--server-lr", TL_OPT_FLOAT, &server_lr, 1e-6, 10, "X", "the server's step (FedAvg 1, adaptive 0.01)", NULL },
        { "--aggregate", TL_OPT_TEXT, &aggregate, 0, 0, "RULE", "mean (default), median, trimmed:BETA, krum:F or\n"
          "multikrum:F:M", NULL },
        { "--attackers", TL_OPT_TEXT, &attackers, 0, 0, "F:KIND", "a fraction of clients attacking: sign-flip,\n"
          "scale (x10) or label-flip, e.g. 0.2:sign-flip", NULL },
        { "--selection", TL_OPT_CHOICE, &selection, 0, 0, "uniform|aware", "who takes part: uniformly (default), or\n"
          "by channel and battery (docs/federated.md)", NULL },
        { "--secagg", TL_OPT_FLAG, &cfg.secagg, 0, 0, NULL, "secure aggregation: the server sees only the sum", NULL },
        { "--secagg-threshold", TL_OPT_FLOAT, &cfg.secagg_threshold, 0.1, 0.99, "F", "shares that rebuild a secret, a\n"
          "fraction of the neighbours (default 0.5: more than half)", NULL },
        { "--fixed-point", TL_OPT_FLAG, &cfg.fixed_point, 0, 0, NULL, "sum fixed-point updates as --secagg does,\n"
          "without the masks", NULL },
        { "--dropout", TL_OPT_FLOAT, &cfg.dropout, 0, 0.99, "P", "chance a chosen client drops before sending", NULL },
        { "--compress", TL_OPT_TEXT, &compress, 0, 0, "KIND", "updates on the air: none (float32, default), int8,\n"
          "int8z (int8 deflated) or topk:RATIO", NULL },
        { "--dp-clip", TL_OPT_FLOAT, &cfg.dp_clip, 0, 1e6, "C", "clip each update to this L2 norm", NULL },
        { "--dp-noise", TL_OPT_FLOAT, &cfg.dp_noise, 0, 1e3, "SIGMA", "Gaussian noise, SIGMA x C on the sum", NULL },
        { "--mcu", TL_OPT_FLOAT, &cfg.mcu, 0, 1, "F", "a fraction of clients that are MCU-class: they get the\n"
          "int8 model and learn its head on the device runtime", NULL },
        { "--mcu-samples", TL_OPT_INT, &cfg.mcu_samples, 1, 1000000, "N", "samples an MCU-class client learns from\n"
          "a round (default 200)", NULL },
        { "--dp-epsilon", TL_OPT_DOUBLE, &dp_epsilon, 0.01, 1000, "EPS", "with --dp-clip: the noise that spends this\n"
          "epsilon (delta 1e-5) over the run, from the accountant", NULL },
        { "--edges", TL_OPT_INT, &cfg.edges, 0, 4096, "E", "two levels: clients -> E edge aggregators -> cloud", NULL },
        { "--edge-rounds", TL_OPT_INT, &cfg.edge_rounds, 1, 100000, "R", "rounds between the cloud's aggregations\n"
          "(default 1)", NULL },
        { "--train-limit", TL_OPT_INT, &cfg.train_limit, 0, 100000000, "N", "training images dealt (default all)",
          NULL },
        { "--test", TL_OPT_INT, &cfg.test_limit, 0, 100000000, "N", "test images measured (default all)", NULL },
        { "--threads", TL_OPT_INT, &cfg.threads, 1, 64, "T", "clients trained at once (default 2)", NULL },
        { "--split-cut", TL_OPT_INT, &cfg.split_cut, 1, 100000, "NODE", "SplitFed: host-class clients train split after\n"
          "this node (train --split-cut): activations up, gradients down, the\n"
          "device halves averaged each round", NULL },
        { "--split-bits", TL_OPT_INT, &cfg.split_bits, 8, 32, "8|32", "what crosses the cut (default 8)", NULL },
        { "--seed", TL_OPT_U32, &seed, 0, 4294967295.0, "S", "the run's seed (default 1)", NULL },
        { "--out", TL_OPT_TEXT, &cfg.out, 0, 0, "CKPT", "write the global model's checkpoint", NULL },
        { "--json", TL_OPT_TEXT, &json, 0, 0, "FILE", "write the rounds, final accuracy and model digest", NULL },
        { NULL, TL_OPT_END, NULL, 0, 0, NULL, NULL, NULL },
    };
    const tl_command_spec spec = {
        "federate",
        "usage: tinylarge federate [--arch NAME] [--data DIR] [--clients N] [--per-round K] [--partition KIND]\n"
        "                          [--rounds R] [--local-epochs E] [--strategy S] [--aggregate RULE]\n"
        "                          [--attackers F:KIND] [--secagg] [--dropout P] [--compress KIND]\n"
        "                          [--dp-clip C --dp-noise SIGMA] [--edges E] [--split-cut NODE] [--seed S]\n"
        "                          [--json FILE] ...\n\n"
        "Federated learning simulated in one process: N clients, each with a shard of\n"
        "the dataset, train locally each round they are chosen; the server combines\n"
        "their updates into the global model with the same code the edge runs.\n"
        "A line per round on stderr; the global model's accuracy on the test split.",
        options, NULL, 0, NULL
    };
    int positional;
    int parsed = tl_opt_parse(&spec, argc, argv, &positional);
    if (parsed != TL_OPT_OK) {
        return parsed;
    }
    for (int i = 1; i < argc; ++i) {
        has_server_lr |= strcmp(argv[i], "--server-lr") == 0;
    }
    cfg.seed = seed;
    cfg.selection = selection ? TL_SELECT_AWARE : TL_SELECT_UNIFORM;
    cfg.lr_schedule = cosine ? TL_SCHED_COSINE : TL_SCHED_CONSTANT;
    if (has_server_lr) {
        cfg.server_lr = server_lr;
    }
    if (parse_partition(partition, &cfg) != 0) {
        return tl_cli_fail("federate", "--partition %s: expected iid, dirichlet:ALPHA (> 0) or shards:K", partition);
    }
    if (parse_strategy(strategy, &cfg, has_server_lr) != 0) {
        return tl_cli_fail("federate", "--strategy %s: expected fedavg, fedprox:MU, fedadam or fedyogi", strategy);
    }
    if (tl_agg_parse(aggregate, &cfg.rule) != 0) {
        return tl_cli_fail("federate", "--aggregate %s: expected mean, median, trimmed:BETA (0 to 0.5), krum:F or "
                           "multikrum:F:M", aggregate);
    }
    if (attackers && parse_attackers(attackers, &cfg) != 0) {
        return tl_cli_fail("federate", "--attackers %s: expected FRACTION:KIND, KIND sign-flip, scale or label-flip",
                           attackers);
    }
    if (tl_compress_parse(compress, &cfg.compress) != 0) {
        return tl_cli_fail("federate", "--compress %s: expected none, int8, int8z or topk:RATIO (0 to 1)", compress);
    }
    if (dp_epsilon > 0.0) {
        if (!(cfg.dp_clip > 0.0f) || cfg.dp_noise > 0.0f) {
            return tl_cli_fail("federate", "--dp-epsilon needs --dp-clip and sets the noise itself (no --dp-noise)");
        }
        cfg.dp_noise = (float)tl_dp_noise_for((double)cfg.per_round / cfg.clients, cfg.rounds, 1e-5, dp_epsilon);
        if (!(cfg.dp_noise > 0.0f)) {
            return tl_cli_fail("federate", "--dp-epsilon %g: no noise up to 10^4 x the clip reaches it", dp_epsilon);
        }
        fprintf(stderr, "federate: noise multiplier %.4f spends epsilon %g (delta 1e-5) over %d rounds\n",
                (double)cfg.dp_noise, dp_epsilon, cfg.rounds);
    }
    tl_fed_report report;
    char error[512] = "";
    const tl_status s = tl_fed_run(&cfg, &report, error, sizeof error);
    if (s != TL_OK) {
        tl_fed_report_free(&report);
        return tl_cli_fail("federate", "%s", error[0] ? error : tl_status_str(s));
    }
    if (report.rank != 0) { /* under mpirun: process 0 reports */
        tl_fed_report_free(&report);
        return 0;
    }
    printf("federated: accuracy %.4f -> %.4f after %d rounds", (double)report.initial_accuracy,
           (double)report.final_accuracy, report.rounds_run);
    if (report.epsilon > 0.0) {
        printf(", (epsilon %.2f, delta 1e-5)", report.epsilon);
    }
    printf("\nmodel sha256 ");
    for (int i = 0; i < 32; ++i) {
        printf("%02x", report.model_sha256[i]);
    }
    printf("\n");
    int rc = 0;
    if (json && write_json(json, &cfg, &report, strategy, aggregate, compress) != 0) {
        rc = tl_cli_fail("federate", "%s: cannot write", json);
    }
    tl_fed_report_free(&report);
    return rc;
}
