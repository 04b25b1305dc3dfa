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


/* The smallest bit-plane prefix of a model's progressive stream whose
 * accuracy is within one point of the whole model's (the planner offers
 * it when the whole model would miss a deadline). */
static void measure_prefix(const uint8_t *model, size_t size, const tl_dataset *test, tl_variant *v)
{
    uint8_t *tlp = NULL, *decoded = aligned_alloc(16, (size + 16) / 16 * 16);
    size_t tlp_size = 0;
    uint32_t ends[8];
    if (decoded && tl_progressive_encode(model, size, &tlp, &tlp_size, ends) == TL_OK && ends[0] < ends[7]) {
        for (uint32_t planes = 2; planes < 8; ++planes) {
            uint32_t got = 0, decoded_size = 0;
            float acc[16];
            int exits = 0;
            if (tl_progressive_decode(tlp, ends[planes - 1], decoded, size, &got, &decoded_size) == TL_OK &&
                tl_runtime_accuracy(decoded, decoded_size, test, acc, &exits) == TL_OK &&
                acc[exits - 1] >= v->accuracy - 0.01f) {
                v->prefix_planes = planes;
                v->prefix_bytes = ends[planes - 1];
                v->prefix_accuracy = acc[exits - 1];
                break;
            }
        }
    }
    free(tlp);
    free(decoded);
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

/* Cortex-M4 instructions of one inference, measured in QEMU, or -1. */
static int64_t m4_instructions(const char *runner, const char *model_path)
{
    if (!runner || access(runner, R_OK) != 0 || system("command -v qemu-system-arm >/dev/null 2>&1") != 0) {
        return -1;
    }
    char cmd[9000];
    snprintf(cmd, sizeof cmd,
             "qemu-system-arm -M mps2-an386 -nographic -monitor none -serial none "
             "-semihosting-config enable=on,target=native,arg=runner,arg='%s' -icount shift=0 -kernel '%s' 2>&1",
             model_path, runner);
    FILE *p = popen(cmd, "r");
    if (!p) {
        return -1;
    }
    char line[512];
    long ticks = -1;
    while (fgets(line, sizeof line, p)) {
        if (!strncmp(line, "timer ticks: ", 13)) {
            ticks = strtol(line + 13, NULL, 10);
        }
    }
    pclose(p);
    return ticks < 0 ? -1 : ticks * 40;
}

/* A pruned or int4 variant's dense int8 form, which a densifying device
 * installs: its size, and its instructions when the runner is there. */
static void measure_dense(const tl_model *m, const char *runner, const char *dir, tl_variant *v)
{
    v->dense_bytes = 0;
    v->dense_m4_instructions = -1;
    uint32_t size = 0;
    if (tl_model_packed_filters(m) == 0 || tl_model_dense_size(m, &size) != TL_OK) {
        return;
    }
    v->dense_bytes = size;
    if (v->m4_instructions <= 0) {
        return; /* no runner: the size is all there is to know */
    }
    uint8_t *dense = malloc(size);
    char path[4200];
    snprintf(path, sizeof path, "%s/.%s.dense.tlm", dir, v->name);
    if (dense && tl_model_densify(m, dense, size, &size) == TL_OK &&
        tl_write_file_atomic(path, dense, size) == TL_OK) {
        v->dense_m4_instructions = m4_instructions(runner, path);
        unlink(path);
    }
    free(dense);
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

/* Fine-tunes `from` into `to`: pruning to `sparsity` and/or quantisation-
 * aware training for `qat_bits` (0: none). */
static int fine_tune(const char *from, const char *to, float channels, float sparsity, int qat_bits,
                     uint32_t epochs, uint32_t images, uint32_t test_images, float lr, char *error, size_t error_size)
{
    tl_train_config cfg;
    tl_train_defaults(&cfg);
    cfg.init = from;
    cfg.prune_channels = channels;
    cfg.prune = sparsity;
    cfg.qat_bits = qat_bits;
    cfg.epochs = (int)epochs;
    cfg.lr = lr;
    cfg.warmup_epochs = 0;
    cfg.limit_train = (int)images;
    cfg.limit_test = (int)test_images;
    cfg.out = to;
    cfg.quiet = 1;
    tl_train_report rep;
    fprintf(stderr, "compress: fine-tuning%s%s%s (%u epoch%s on %u images)\n", channels > 0 ? ", channels removed" : "",
            sparsity > 0 ? ", pruning" : "", qat_bits ? ", quantisation-aware" : "", epochs, epochs == 1 ? "" : "s",
            images);
    return tl_train(&cfg, &rep, error, error_size) == TL_OK ? 0 : -1;
}

int tl_cmd_compress(int argc, char **argv)
{
    const char *ckpt = NULL, *dir = NULL, *runner = NULL, *sparsity_list = NULL, *bits_list = NULL,
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
        /* firmware/fw_runner.elf beside the tinylarge binary (the build tree). */
        char self[4096];
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        if (n > 0) {
            self[n] = '\0';
            char *cut = strrchr(self, '/');
            if (cut) {
                *cut = '\0';
            }
            snprintf(default_runner, sizeof default_runner, "%s/firmware/fw_runner.elf", self);
            runner = default_runner;
        }
    }
    char error[512] = "";
    tl_dataset train, test;
    if (tl_dataset_load_dir(NULL, 1, (int)calibration, &train, error, sizeof error) != TL_OK ||
        tl_dataset_load_dir(NULL, 0, (int)limit, &test, error, sizeof error) != TL_OK) {
        return tl_cli_fail("compress", "%s", error);
    }
    tl_variant table[64];
    int count = 0, rc = 0;
    for (int ci = 0; ci < n_channels && rc == 0; ++ci) {
        /* Structured pruning first: a narrower network, fine-tuned. */
        char slim[4096], tag[16] = "";
        const char *base = ckpt;
        const int cpct = (int)(channels[ci] * 100 + 0.5f);
        if (cpct > 0) {
            snprintf(slim, sizeof slim, "%s/channels-%02d.tlc", dir, cpct);
            snprintf(tag, sizeof tag, "-c%02d", cpct);
            if (fine_tune(ckpt, slim, channels[ci], 0, 0, ft_epochs, ft_limit, limit, ft_lr, error, sizeof error)) {
                rc = tl_cli_fail("compress", "%s", error);
                break;
            }
            base = slim;
        }
        for (int si = 0; si < n_sparsity && rc == 0; ++si) {
            /* The checkpoint for this sparsity: the base, or pruned + fine-tuned. */
            char pruned[4096];
            const char *source = base;
            if (sparsity[si] > 0) {
                snprintf(pruned, sizeof pruned, "%s/pruned%s-%02d.tlc", dir, tag, (int)(sparsity[si] * 100 + 0.5f));
                if (fine_tune(base, pruned, 0, sparsity[si], 0, ft_epochs, ft_limit, limit, ft_lr, error,
                              sizeof error)) {
                    rc = tl_cli_fail("compress", "%s", error);
                    break;
                }
                source = pruned;
            }
            for (int bi = 0; bi < n_bits && rc == 0; ++bi) {
                const int bits = (int)bits_f[bi];
                /* int4: quantisation-aware fine-tuning first (keeping any pruning). */
                char qat[4200];
                const char *weights = source;
                if (bits == 4) {
                    snprintf(qat, sizeof qat, "%s/qat4%s-s%02d.tlc", dir, tag, (int)(sparsity[si] * 100 + 0.5f));
                    if (fine_tune(source, qat, 0, sparsity[si], 4, ft_epochs, ft_limit, limit, ft_lr, error,
                                  sizeof error)) {
                        rc = tl_cli_fail("compress", "%s", error);
                        break;
                    }
                    weights = qat;
                }
                tl_net net;
                tl_checkpoint_info info;
                if (tl_checkpoint_load(weights, 128, &net, NULL, &info, error, sizeof error) != TL_OK) {
                    rc = tl_cli_fail("compress", "%s", error);
                    break;
                }
                tl_export_options opt = { (int)calibration,
                                          bits == 4 ? TL_DTYPE_INT4
                                          : (sparsity[si] > 0 ? TL_DTYPE_SPARSE_INT8 : TL_DTYPE_INT8) };
                for (int e = 0; e < net.exit_count && count < 64; ++e) {
                    tl_graph g;
                    if (tl_export_net(&net, &info, &train, &opt, &g, error, sizeof error) != TL_OK) {
                        rc = tl_cli_fail("compress", "%s: %s", source, error);
                        break;
                    }
                    if (e + 1 < net.exit_count) {
                        tl_graph_truncate_at_exit(&g, (uint32_t)e);
                    }
                    tl_variant *v = &table[count];
                    memset(v, 0, sizeof *v);
                    if (snprintf(v->name, sizeof v->name, "e%d%s-s%02d-int%d", e, tag,
                                 (int)(sparsity[si] * 100 + 0.5f), bits) >= (int)sizeof v->name) {
                        tl_graph_free(&g);
                        rc = tl_cli_fail("compress", "variant name too long");
                        break;
                    }
                    v->exit = e;
                    v->sparsity = sparsity[si];
                    v->bits = bits;
                    uint8_t *buf = NULL;
                    size_t size = 0;
                    float acc[16];
                    int exits = 0;
                    char path[4200];
                    snprintf(path, sizeof path, "%s/%s.tlm", dir, v->name);
                    tl_status s = tl_graph_serialize(&g, &buf, &size);
                    if (s == TL_OK) {
                        s = tl_runtime_accuracy(buf, size, &test, acc, &exits);
                    }
                    if (s == TL_OK) {
                        char text[32];
                        snprintf(text, sizeof text, "%.4f", (double)acc[exits - 1]);
                        tl_graph_set_meta(&g, "accuracy", text);
                        snprintf(text, sizeof text, "%s", v->name);
                        tl_graph_set_meta(&g, "variant", text);
                        free(buf);
                        buf = NULL;
                        s = tl_graph_serialize(&g, &buf, &size);
                    }
                    tl_model m;
                    if (s == TL_OK) {
                        s = tl_model_load(&m, buf, size, 0);
                    }
                    if (s == TL_OK) {
                        s = tl_write_file_atomic(path, buf, size);
                    }
                    if (s != TL_OK) {
                        free(buf);
                        tl_graph_free(&g);
                        rc = tl_cli_fail("compress", "%s: %s", path, tl_status_str(s));
                        break;
                    }
                    v->accuracy = acc[exits - 1];
                    v->bytes = size;
                    v->arena = tl_model_arena_size(&m);
                    for (uint32_t k = 0; k < m.header->op_count; ++k) {
                        v->macs += tl_op_macs(&m, k);
                    }
                    v->m4_instructions = m4_instructions(runner, path);
                    measure_dense(&m, runner, dir, v);
                    measure_prefix(buf, size, &test, v);
                    fprintf(stderr,
                            "compress: %-14s accuracy %.4f, %7llu bytes, %9llu MACs, arena %6llu, M4 %lld instructions",
                            v->name, (double)v->accuracy, (unsigned long long)v->bytes, (unsigned long long)v->macs,
                            (unsigned long long)v->arena, (long long)v->m4_instructions);
                    if (v->dense_bytes) {
                        fprintf(stderr, "; dense %llu bytes, M4 %lld", (unsigned long long)v->dense_bytes,
                                (long long)v->dense_m4_instructions);
                    }
                    if (v->prefix_planes) {
                        fprintf(stderr, "; %u planes (%llu bytes) give %.4f", v->prefix_planes,
                                (unsigned long long)v->prefix_bytes, (double)v->prefix_accuracy);
                    }
                    fprintf(stderr, "\n");
                    free(buf);
                    tl_graph_free(&g);
                    ++count;
                }
                tl_net_free(&net);
            }
        }
    }
    tl_dataset_free(&train);
    tl_dataset_free(&test);
    if (rc != 0) {
        return rc;
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
