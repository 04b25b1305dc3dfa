/* catalogue_build.c - the variant catalogue of a trained network, as
 * library code: every combination of structured pruning (channels), weight
 * sparsity (each pruned, then fine-tuned) and bits (int4 after
 * quantisation-aware fine-tuning), at every early exit; each variant
 * exported to DIR/NAME.tlm and measured on the device runtime (accuracy,
 * bytes, MACs, arena, its smallest useful progressive prefix, its dense
 * form) and, through the caller's callback, on the Cortex-M4. `tinylarge
 * compress` is its front; the planner reads what it builds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tinylarge/catalogue.h"
#include "tinylarge/convert.h"
#include "tinylarge/device.h"
#include "tinylarge/host.h"
#include "tinylarge/large.h"
#include "util.h"

#define fail tl_fail


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

/* A pruned or int4 variant's dense int8 form, which a densifying device
 * installs: its size, and its instructions when the runner is there. */
static void measure_dense(const tl_model *m, const tl_catalogue_spec *spec, tl_variant *v)
{
    v->dense_bytes = 0;
    v->dense_m4_instructions = -1;
    uint32_t size = 0;
    if (tl_model_packed_filters(m) == 0 || tl_model_dense_size(m, &size) != TL_OK) {
        return;
    }
    v->dense_bytes = size;
    if (v->m4_instructions <= 0 || !spec->measure) {
        return; /* not measured: the size is all there is to know */
    }
    uint8_t *dense = malloc(size);
    char path[4200];
    snprintf(path, sizeof path, "%.4000s/.%s.dense.tlm", spec->dir, v->name);
    if (dense && tl_model_densify(m, dense, size, &size) == TL_OK &&
        tl_write_file_atomic(path, dense, size) == TL_OK) {
        v->dense_m4_instructions = spec->measure(spec->measure_ctx, path);
        unlink(path);
    }
    free(dense);
}

/* Fine-tunes `from` into `to`: pruning to `sparsity` and/or quantisation-
 * aware training for `qat_bits` (0: none). */
static int fine_tune(const tl_catalogue_spec *spec, const char *from, const char *to, float channels, float sparsity,
                     int qat_bits, char *error, size_t error_size)
{
    const uint32_t epochs = spec->finetune_epochs, images = spec->finetune_limit, test_images = spec->limit;
    const float lr = spec->finetune_lr;
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
    cfg.data_dir = spec->data_dir;
    tl_train_report rep;
    tl_log(spec->log, spec->log_ctx, "fine-tuning%s%s%s (%u epoch%s on %u images)", channels > 0 ? ", channels removed" : "",
        sparsity > 0 ? ", pruning" : "", qat_bits ? ", quantisation-aware" : "", epochs, epochs == 1 ? "" : "s", images);
    return tl_train(&cfg, &rep, error, error_size) == TL_OK ? 0 : -1;
}

tl_status tl_catalogue_build(const tl_catalogue_spec *spec, tl_variant *out, int capacity, int *count_out,
                             char *error, size_t error_size)
{
    *count_out = 0;
    tl_dataset train, test;
    if (tl_dataset_load_dir(spec->data_dir, 1, (int)spec->calibration, &train, error, error_size) != TL_OK ||
        tl_dataset_load_dir(spec->data_dir, 0, (int)spec->limit, &test, error, error_size) != TL_OK) {
        return TL_ERR_IO;
    }
    int count = 0;
    tl_status rc = TL_OK;
    for (int ci = 0; ci < spec->channel_count && rc == TL_OK; ++ci) {
        /* Structured pruning first: a narrower network, fine-tuned. */
        char slim[4096], tag[16] = "";
        const char *base = spec->checkpoint;
        const int cpct = (int)(spec->channels[ci] * 100 + 0.5f);
        if (cpct > 0) {
            snprintf(slim, sizeof slim, "%.4000s/channels-%02d.tlc", spec->dir, cpct);
            snprintf(tag, sizeof tag, "-c%02d", cpct);
            if (fine_tune(spec, spec->checkpoint, slim, spec->channels[ci], 0, 0, error, error_size)) {
                rc = TL_ERR_IO;
                break;
            }
            base = slim;
        }
        for (int si = 0; si < spec->sparsity_count && rc == TL_OK; ++si) {
            /* The checkpoint for this sparsity: the base, or pruned + fine-tuned. */
            char pruned[4096];
            const char *source = base;
            if (spec->sparsity[si] > 0) {
                snprintf(pruned, sizeof pruned, "%.4000s/pruned%s-%02d.tlc", spec->dir, tag, (int)(spec->sparsity[si] * 100 + 0.5f));
                if (fine_tune(spec, base, pruned, 0, spec->sparsity[si], 0, error, error_size)) {
                    rc = TL_ERR_IO;
                    break;
                }
                source = pruned;
            }
            for (int bi = 0; bi < spec->bits_count && rc == TL_OK; ++bi) {
                const int bits = spec->bits[bi];
                /* int4: quantisation-aware fine-tuning first (keeping any pruning). */
                char qat[4200];
                const char *weights = source;
                if (bits == 4) {
                    snprintf(qat, sizeof qat, "%.4000s/qat4%s-s%02d.tlc", spec->dir, tag, (int)(spec->sparsity[si] * 100 + 0.5f));
                    if (fine_tune(spec, source, qat, 0, spec->sparsity[si], 4, error, error_size)) {
                        rc = TL_ERR_IO;
                        break;
                    }
                    weights = qat;
                }
                tl_net net;
                tl_checkpoint_info info;
                if ((rc = tl_checkpoint_load(weights, 128, &net, NULL, &info, error, error_size)) != TL_OK) {
                    break;
                }
                tl_export_options opt = { (int)spec->calibration,
                                          bits == 4 ? TL_DTYPE_INT4
                                          : (spec->sparsity[si] > 0 ? TL_DTYPE_SPARSE_INT8 : TL_DTYPE_INT8) };
                for (int e = 0; e < net.exit_count && rc == TL_OK; ++e) {
                    if (count == capacity) {
                        rc = fail(error, error_size, TL_ERR_BOUNDS, "more than %d variants", capacity);
                        break;
                    }
                    tl_graph g;
                    if ((rc = tl_export_net(&net, &info, &train, &opt, &g, error, error_size)) != TL_OK) {
                        break;
                    }
                    if (e + 1 < net.exit_count) {
                        tl_graph_truncate_at_exit(&g, (uint32_t)e);
                    }
                    tl_variant *v = &out[count];
                    memset(v, 0, sizeof *v);
                    if (snprintf(v->name, sizeof v->name, "e%d%s-s%02d-int%d", e, tag,
                                 (int)(spec->sparsity[si] * 100 + 0.5f), bits) >= (int)sizeof v->name) {
                        tl_graph_free(&g);
                        rc = fail(error, error_size, TL_ERR_ARG, "variant name too long");
                        break;
                    }
                    v->exit = e;
                    v->sparsity = spec->sparsity[si];
                    v->bits = bits;
                    uint8_t *buf = NULL;
                    size_t size = 0;
                    float acc[16];
                    int exits = 0;
                    char path[4200];
                    snprintf(path, sizeof path, "%.4000s/%s.tlm", spec->dir, v->name);
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
                        rc = fail(error, error_size, s, "%s: %s", path, tl_status_str(s));
                        break;
                    }
                    v->accuracy = acc[exits - 1];
                    v->bytes = size;
                    v->arena = tl_model_arena_size(&m);
                    for (uint32_t k = 0; k < m.header->op_count; ++k) {
                        v->macs += tl_op_macs(&m, k);
                    }
                    v->m4_instructions = spec->measure ? spec->measure(spec->measure_ctx, path) : -1;
                    v->dense_m4_instructions = -1;
                    measure_dense(&m, spec, v);
                    measure_prefix(buf, size, &test, v);
                    char line[320];
                    int n = snprintf(line, sizeof line, "%-14s accuracy %.4f, %7llu bytes, %9llu MACs, arena %6llu, M4 %lld"
                                     " instructions", v->name, (double)v->accuracy, (unsigned long long)v->bytes,
                                     (unsigned long long)v->macs, (unsigned long long)v->arena,
                                     (long long)v->m4_instructions);
                    if (v->dense_bytes && n > 0 && (size_t)n < sizeof line) {
                        n += snprintf(line + n, sizeof line - (size_t)n, "; dense %llu bytes, M4 %lld",
                                      (unsigned long long)v->dense_bytes, (long long)v->dense_m4_instructions);
                    }
                    if (v->prefix_planes && n > 0 && (size_t)n < sizeof line) {
                        snprintf(line + n, sizeof line - (size_t)n, "; %u planes (%llu bytes) give %.4f", v->prefix_planes,
                                 (unsigned long long)v->prefix_bytes, (double)v->prefix_accuracy);
                    }
                    tl_log(spec->log, spec->log_ctx, "%s", line);
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
    *count_out = count;
    return rc;
}
