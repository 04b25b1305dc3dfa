/* cmd_compress.c - `tinylarge compress CKPT --out-dir DIR`: the variant
 * catalogue. A grid over depth (early exit), parameters (magnitude
 * sparsity, fine-tuned) and bits (int8 / int4); every variant is exported,
 * run through the device runtime for its accuracy, measured (bytes, MACs,
 * arena, Cortex-M4 instructions under QEMU when available) and written with
 * a CSV and JSON table and a Pareto plot (accuracy vs bytes, gnuplot).
 * This table is what the in-situ planner chooses from.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "options.h"
#include "tinylarge/convert.h"
#include "tinylarge/device.h"
#include "tinylarge/catalogue.h"
#include "tinylarge/large.h"
#include "tinylarge/host.h"


static void log_line(void *ctx, const char *line)
{
    (void)ctx;
    fprintf(stderr, "compress: %s\n", line);
}

static int parse_list(const char *text, float *out, int max)
{
    int n = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", text);
    for (char *tok = strtok(buf, ","); tok && n < max; tok = strtok(NULL, ",")) {
        char *end;
        out[n] = strtof(tok, &end);
        if (*end || end == tok) {
            return -1;
        }
        ++n;
    }
    return n;
}

/* Cortex-M4 instructions of one inference, measured in QEMU with the
 * runner image (ctx), or -1: the catalogue builder's measurement. */
static int64_t m4_instructions(void *ctx, const char *model_path)
{
    int64_t instructions = -1;
    return tl_cli_m4_measure(ctx, model_path, &instructions, NULL, 0) == 0 ? instructions : -1;
}

/* pareto.png with gnuplot, when it is installed. */
static void plot(const char *dir)
{
    if (system("command -v gnuplot >/dev/null 2>&1") != 0) {
        fprintf(stderr, "compress: gnuplot not installed: no pareto.png (apt-get install gnuplot-nox)\n");
        return;
    }
    char script[4096], cmd[4200];
    snprintf(script, sizeof script, "%s/pareto.gp", dir);
    FILE *f = fopen(script, "w");
    if (!f) {
        return;
    }
    fprintf(f, "set terminal pngcairo size 900,600\nset output '%s/pareto.png'\n"
               "set datafile separator ','\nset key bottom right\nset grid\n"
               "set title 'tinylarge variant catalogue: accuracy vs model bytes'\n"
               "set xlabel 'model bytes'\nset ylabel 'test accuracy (device runtime)'\n"
               "plot '%s/catalogue.csv' skip 1 using 6:5 with points pt 7 ps 1.2 title 'variants', \\\n"
               "     '< (head -1 %s/catalogue.csv; tail -n +2 %s/catalogue.csv | awk -F, \"\\$10 == 1\" | sort -t, -k6 -n)' "
               "skip 1 using 6:5 with linespoints lw 2 pt 6 ps 1.8 title 'Pareto front', \\\n"
               "     '%s/catalogue.csv' skip 1 using 6:5:1 with labels offset 0,1 font ',8' notitle\n",
            dir, dir, dir, dir, dir);
    fclose(f);
    snprintf(cmd, sizeof cmd, "gnuplot '%s' 2>/dev/null", script);
    if (system(cmd) != 0) {
        fprintf(stderr, "compress: gnuplot failed: no pareto.png\n");
    }
}

int tl_cmd_compress(int argc, char **argv)
{
    const char *ckpt = NULL, *dir = NULL, *runner = NULL, *data = NULL, *sparsity_list = NULL, *bits_list = NULL,
               *channels_list = NULL;
    float sparsity[8] = { 0.0f, 0.5f, 0.75f }, bits_f[4] = { 8, 4 }, channels[4] = { 0.0f };
    int n_sparsity = 3, n_bits = 2, n_channels = 1;
    uint32_t ft_epochs = 1, ft_limit = 10000, limit = 2000, calibration = 500;
    float ft_lr = 0.002f;
    const tl_opt options[] = {
        { "--out-dir", TL_OPT_TEXT, &dir, 0, 0, "DIR", "where to write (created if missing; required)", NULL },
        { "--channels", TL_OPT_TEXT, &channels_list, 0, 0, "LIST", "fractions of each convolution's filters removed\n"
          "(structured pruning, then fine-tuned; default 0): variants e0-c50-...", NULL },
        { "--sparsity", TL_OPT_TEXT, &sparsity_list, 0, 0, "LIST", "comma-separated fractions (default 0,0.5,0.75)", NULL },
        { "--bits", TL_OPT_TEXT, &bits_list, 0, 0, "LIST", "8 and/or 4 (default 8,4)", NULL },
        { "--finetune-epochs", TL_OPT_U32, &ft_epochs, 1, 4294967295.0, "N", "fine-tuning epochs per sparsity (default 1)",
          NULL },
        { "--finetune-limit", TL_OPT_U32, &ft_limit, 1, 4294967295.0, "N", "training images for fine-tuning (default\n"
          "10000)", NULL },
        { "--finetune-lr", TL_OPT_FLOAT, &ft_lr, 1e-12, 1e6, "X", "fine-tuning learning rate (default 0.002)", NULL },
        { "--limit", TL_OPT_U32, &limit, 1, 4294967295.0, "N", "test images for accuracy (default 2000)", NULL },
        { "--calibration", TL_OPT_U32, &calibration, 1, 4294967295.0, "N", "training images for activation ranges\n"
          "(default 500)", NULL },
        { "--data", TL_OPT_TEXT, &data, 0, 0, "DIR", "dataset folder: IDX or .npy files (default Fashion-MNIST)", NULL },
        { "--m4-runner", TL_OPT_TEXT, &runner, 0, 0, "ELF", "Cortex-M4 runner image (default: firmware/fw_runner.elf\n"
          "beside this program; measured when qemu-system-arm exists)", NULL },
        { NULL, TL_OPT_END, NULL, 0, 0, NULL, NULL, NULL },
    };
    const tl_command_spec spec = {
        "compress",
        "usage: tinylarge compress CKPT --out-dir DIR [options]\n\n"
        "Builds the variant catalogue of a trained network: every combination of\n"
        "early exit, weight sparsity (pruned, then fine-tuned) and weight bits,\n"
        "exported to .tlm and measured on the device runtime. Writes the models,\n"
        "catalogue.csv, catalogue.json and pareto.png (accuracy vs bytes) in DIR.",
        options, &ckpt, 1, NULL
    };
    int positional;
    const int parsed = tl_opt_parse(&spec, argc, argv, &positional);
    if (parsed != TL_OPT_OK) {
        return parsed;
    }
    if (sparsity_list) {
        n_sparsity = parse_list(sparsity_list, sparsity, 8);
        for (int k = 0; k < n_sparsity; ++k) {
            n_sparsity = sparsity[k] >= 0 && sparsity[k] < 1 ? n_sparsity : -1;
        }
        if (n_sparsity < 1) {
            fprintf(stderr, "tinylarge compress: --sparsity takes fractions in [0, 1), like 0,0.5,0.75\n");
            return 2;
        }
    }
    if (channels_list) {
        n_channels = parse_list(channels_list, channels, 4);
        for (int k = 0; k < n_channels; ++k) {
            n_channels = channels[k] >= 0 && channels[k] < 1 ? n_channels : -1;
        }
        if (n_channels < 1) {
            fprintf(stderr, "tinylarge compress: --channels takes fractions of filters to remove in [0, 1), like 0,0.5\n");
            return 2;
        }
    }
    if (bits_list) {
        n_bits = parse_list(bits_list, bits_f, 4);
        for (int k = 0; k < n_bits; ++k) {
            n_bits = bits_f[k] == 8 || bits_f[k] == 4 ? n_bits : -1;
        }
        if (n_bits < 1) {
            fprintf(stderr, "tinylarge compress: --bits takes 8 and/or 4, like 8,4\n");
            return 2;
        }
    }
    if (!ckpt || !dir) {
        tl_opt_usage(&spec, stderr);
        return tl_cli_fail("compress", "need a checkpoint and --out-dir DIR");
    }
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        return tl_cli_fail("compress", "%s: cannot create: %s", dir, strerror(errno));
    }
    char default_runner[4200];
    if (!runner) {
        runner = tl_cli_default_runner(default_runner, sizeof default_runner);
    }
    char error[512] = "";
    tl_catalogue_spec build;
    memset(&build, 0, sizeof build);
    build.checkpoint = ckpt;
    build.dir = dir;
    build.data_dir = data;
    memcpy(build.channels, channels, sizeof build.channels);
    build.channel_count = n_channels;
    memcpy(build.sparsity, sparsity, sizeof build.sparsity);
    build.sparsity_count = n_sparsity;
    for (int k = 0; k < n_bits; ++k) {
        build.bits[k] = (int)bits_f[k];
    }
    build.bits_count = n_bits;
    build.finetune_epochs = ft_epochs;
    build.finetune_limit = ft_limit;
    build.finetune_lr = ft_lr;
    build.limit = limit;
    build.calibration = calibration;
    build.measure = tl_cli_m4_available(runner) ? m4_instructions : NULL;
    build.measure_ctx = (void *)(uintptr_t)runner;
    build.log = log_line;
    tl_variant table[TL_CATALOGUE_MAX_VARIANTS];
    int count = 0;
    if (tl_catalogue_build(&build, table, TL_CATALOGUE_MAX_VARIANTS, &count, error, sizeof error) != TL_OK) {
        return tl_cli_fail("compress", "%s", error);
    }
    tl_catalogue_mark_pareto(table, count);
    if (tl_catalogue_write(dir, table, count, error, sizeof error) != TL_OK) {
        return tl_cli_fail("compress", "%s", error);
    }
    plot(dir);
    printf("%-14s %6s %8s %5s %8s %8s %10s %7s %12s %s\n", "variant", "exit", "sparsity", "bits", "accuracy", "bytes",
           "MACs", "arena", "M4 instr", "Pareto");
    for (int i = 0; i < count; ++i) {
        const tl_variant *v = &table[i];
        printf("%-14s %6d %8.2f %5d %8.4f %8llu %10llu %7llu %12lld %s\n", v->name, v->exit, (double)v->sparsity,
               v->bits, (double)v->accuracy, (unsigned long long)v->bytes, (unsigned long long)v->macs,
               (unsigned long long)v->arena, (long long)v->m4_instructions, v->pareto ? "*" : "");
    }
    printf("catalogue: %s/catalogue.csv, %s/catalogue.json, %s/pareto.png\n", dir, dir, dir);
    return 0;
}
