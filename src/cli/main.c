/* main.c - the tinylarge command line tool: one front for every part. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "tinylarge/convert.h"
#include "tinylarge/host.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    { "import", tl_cmd_import, "convert an int8 .tflite model into a .tlm device model" },
    { "inspect", tl_cmd_inspect, "print a .tlm model's graph, sizes, MACs and arena" },
    { "run", tl_cmd_run, "run a .tlm model on the device runtime" },
    { "train", tl_cmd_train, "train a network on a dataset folder, Fashion-MNIST by default (LargeML engine)" },
    { "distill", tl_cmd_distill, "train a student from a teacher's softened outputs" },
    { "eval", tl_cmd_eval, "test accuracy of a training checkpoint" },
    { "export", tl_cmd_export, "quantise a checkpoint into a .tlm device model" },
    { "serve", tl_cmd_serve, "the edge server: plans and serves models over CoAP" },
    { "device", tl_cmd_device, "a device's update rounds: plan, download, verify, switch slots" },
    { "cascade", tl_cmd_cascade, "run a multi-exit model's early-exit cascade: accuracy and MACs per threshold" },
    { "context", tl_cmd_context, "set a device's context on the edge server (Observe notifies it)" },
    { "library", tl_cmd_library, "the model library: add, list, show, remove models" },
    { "keygen", tl_cmd_keygen, "create an Ed25519 key pair for signing models" },
    { "sign", tl_cmd_sign, "sign a .tlm model (Ed25519 over its digest)" },
    { "verify", tl_cmd_verify, "check a model's digest and signature" },
    { "plan", tl_cmd_plan, "choose the variant a device should download (in-situ planner)" },
    { "federate", tl_cmd_federate, "federated learning simulated: clients train on shards, the server aggregates" },
    { "split", tl_cmd_split, "where to cut a device model between the device and the edge, for a link" },
    { "pipeline", tl_cmd_pipeline, "how soon a device answers while its model is still arriving (layer pipeline)" },
    { "split-learn", tl_cmd_split_learn, "split learning: train a device's half of a network with the edge's" },
    { "learn", tl_cmd_learn, "on-device transfer learning: adapt a model's head to a device's own data" },
    { "densify", tl_cmd_densify, "expand a pruned model's sparse filters to dense int8 (as a device installs it)" },
    { "progressive", tl_cmd_progressive, "bit-plane progressive stream of a model: encode, measure, decode" },
    { "sim", tl_cmd_sim, "simulate a city of devices on 6G cells: radio, mobility, edge, three-tier library" },
    { "resolver", tl_cmd_resolver, "the operator table of a firmware that runs just the given models" },
    { "compress", tl_cmd_compress, "build the variant catalogue (exit x sparsity x bits) of a checkpoint" },
};

static void usage(FILE *out)
{
    fprintf(out, "usage: tinylarge COMMAND [ARGS...]\n\n"
                 "TinyML and LargeML as one system: models for microcontrollers.\n\n"
                 "commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; ++i) {
        fprintf(out, "  %-11s %s\n", commands[i].name, commands[i].summary);
    }
    fprintf(out, "\n'tinylarge COMMAND --help' describes one command.\n");
}

int tl_cli_fail(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "tinylarge %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 1;
}

int tl_cli_host_port(const char *cmd, const char *server, char *host, size_t size, uint16_t *port)
{
    uint32_t p = *port;
    const char *colon = strrchr(server, ':');
    snprintf(host, size, "%.*s", colon ? (int)(colon - server) : (int)strlen(server), server);
    if (colon && (tl_cli_parse_u32(colon + 1, &p) || p == 0 || p > 65535)) {
        return tl_cli_fail(cmd, "bad server port in '%s'", server);
    }
    *port = (uint16_t)p;
    return 0;
}

int tl_cli_parse_u32(const char *text, uint32_t *out)
{
    if (!text || !*text || *text == '-') {
        return -1;
    }
    char *end;
    errno = 0;
    unsigned long v = strtoul(text, &end, 10);
    if (errno || *end || v > 0xFFFFFFFFul) {
        return -1;
    }
    *out = (uint32_t)v;
    return 0;
}

int tl_cli_parse_int_list(const char *text, int *out, int capacity, int lo, int hi)
{
    int count = 0;
    const char *p = text;
    while (*p) {
        char *end = NULL;
        errno = 0;
        const long v = strtol(p, &end, 10);
        if (end == p || errno || v < lo || v > hi || count == capacity || (*end != ',' && *end != '\0')) {
            return -1;
        }
        out[count++] = (int)v;
        p = *end ? end + 1 : end;
    }
    return count;
}

int tl_cli_load_model(const char *cmd, const char *path, uint8_t **buffer, tl_model *model)
{
    size_t size;
    tl_status s = tl_read_file(path, buffer, &size);
    if (s != TL_OK) {
        return tl_cli_fail(cmd, "%s: cannot read: %s", path, strerror(errno));
    }
    int32_t bad_op = -1, bad_tensor = -1;
    s = tl_model_load_ex(model, *buffer, size, 0, &bad_op, &bad_tensor);
    if (s != TL_OK) {
        free(*buffer);
        *buffer = NULL;
        if (bad_op >= 0) {
            return tl_cli_fail(cmd, "%s: not a valid model: operator %d: %s", path, bad_op, tl_status_str(s));
        }
        if (bad_tensor >= 0) {
            return tl_cli_fail(cmd, "%s: not a valid model: tensor %d: %s", path, bad_tensor, tl_status_str(s));
        }
        return tl_cli_fail(cmd, "%s: not a valid model: %s", path, tl_status_str(s));
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("tinylarge 0.1.0 (model format %u.%u)\n", TL_FORMAT_MAJOR, TL_FORMAT_MINOR);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; ++i) {
        if (!strcmp(argv[1], commands[i].name)) {
            return commands[i].run(argc - 1, argv + 1);
        }
    }
    fprintf(stderr, "tinylarge: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
