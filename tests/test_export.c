/* test_export.c - trained network -> device model.
 *
 * A student is trained briefly on real Fashion-MNIST, exported (batch norm
 * folded, int8 per-channel weights, calibrated activations) and run through
 * the device runtime: its accuracy must stay within a few points of the
 * float network's on the same images (the full-data figure is in
 * docs/benchmarks.md). Also int4 and multi-exit exports, and the errors.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tinylarge/convert.h"
#include "tinylarge/device.h"
#include "tinylarge/host.h"
#include "tinylarge/large.h"

static char dir[64];
static tl_dataset train, test;

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/tl_export_XXXXXX");
    if (!mkdtemp(dir)) {
        return -1;
    }
    if (access(TL_FASHION_MNIST_DIR "/train-images-idx3-ubyte.gz", R_OK) != 0) {
        return 0; /* tests skip */
    }
    char error[256];
    if (tl_dataset_load_dir(NULL, 1, 400, &train, error, sizeof error) != TL_OK ||
        tl_dataset_load_dir(NULL, 0, 500, &test, error, sizeof error) != TL_OK) {
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tl_dataset_free(&train);
    tl_dataset_free(&test);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Trains `arch` a little and returns the checkpoint path. */
static const char *trained(const char *arch)
{
    static char path[128];
    snprintf(path, sizeof path, "%s/%s.tlc", dir, arch);
    if (access(path, R_OK) == 0) {
        return path;
    }
    tl_train_config cfg;
    tl_train_defaults(&cfg);
    cfg.arch = arch;
    cfg.epochs = 3;
    cfg.batch = 32;
    cfg.lr = 0.1f;
    cfg.warmup_epochs = 0;
    cfg.limit_train = 800;
    cfg.limit_test = 200;
    cfg.out = path;
    cfg.quiet = 1;
    tl_train_report rep;
    char error[256];
    assert_int_equal(tl_train(&cfg, &rep, error, sizeof error), TL_OK);
    return path;
}

/* The trained network of an architecture, loaded for batches of 64. */
static void load_trained(const char *arch, tl_net *net, tl_checkpoint_info *info)
{
    char error[256];
    assert_int_equal(tl_checkpoint_load(trained(arch), 64, net, NULL, info, error, sizeof error), TL_OK);
}

/* A short fine-tuning run from the trained student into `path`. */
static tl_train_config fine_tuning(const char *path, float lr)
{
    tl_train_config cfg;
    tl_train_defaults(&cfg);
    cfg.init = trained("student");
    cfg.batch = 32;
    cfg.lr = lr;
    cfg.warmup_epochs = 0;
    cfg.limit_train = 800;
    cfg.limit_test = 200;
    cfg.out = path;
    cfg.quiet = 1;
    return cfg;
}

/* Runs a fine-tuning configuration and loads its checkpoint for batches of
 * 64; the report is for the test's own checks. */
static void fine_tune(const tl_train_config *cfg, tl_net *net, tl_checkpoint_info *info, tl_train_report *rep)
{
    char error[256];
    assert_int_equal(tl_train(cfg, rep, error, sizeof error), TL_OK);
    assert_int_equal(tl_checkpoint_load(cfg->out, 64, net, NULL, info, error, sizeof error), TL_OK);
}

/* Serialises g (and frees it), then measures the model on the test images
 * through the device runtime; returns the model bytes (caller frees). */
static uint8_t *serialize_and_measure(tl_graph *g, size_t *size, float *accuracy, int *exits)
{
    uint8_t *buf;
    assert_int_equal(tl_graph_serialize(g, &buf, size), TL_OK);
    tl_graph_free(g);
    assert_int_equal(tl_runtime_accuracy(buf, *size, &test, accuracy, exits), TL_OK);
    return buf;
}

/* The trained `arch` (into net, info) exported with `dtype` weights and
 * measured on the device runtime. */
static uint8_t *export_trained(const char *arch, uint8_t dtype, tl_net *net, tl_checkpoint_info *info, size_t *size,
                               float *accuracy, int *exits)
{
    char error[256];
    load_trained(arch, net, info);
    tl_export_options opt = { 300, dtype };
    tl_graph g;
    assert_int_equal(tl_export_net(net, info, &train, &opt, &g, error, sizeof error), TL_OK);
    return serialize_and_measure(&g, size, accuracy, exits);
}

/* Exports and compares float and device accuracy on the test images. */
static void export_and_compare(const char *arch, uint8_t dtype, float tolerance, int want_exits)
{
    tl_net net;
    tl_checkpoint_info info;
    size_t size;
    float device[16], floats[TL_MAX_EXITS];
    int exits = 0;
    uint8_t *buf = export_trained(arch, dtype, &net, &info, &size, device, &exits);
    assert_int_equal(exits, want_exits);
    tl_evaluate(&net, &test, info.mean, info.std, floats, NULL);
    for (int e = 0; e < exits; ++e) {
        print_message("%s %s exit %d: float %.4f device %.4f\n", arch, dtype == TL_DTYPE_INT4 ? "int4" : "int8", e,
                      (double)floats[e], (double)device[e]);
        assert_true(floats[e] > 0.3f);                       /* learned: chance is 0.1 */
        assert_true(fabsf(device[e] - floats[e]) <= tolerance);
    }
    /* The model passes the device loader and declares its input. */
    tl_model m;
    assert_int_equal(tl_model_load(&m, buf, size, 0), TL_OK);
    assert_string_equal(tl_model_meta(&m, "input"), "int8 = pixel - 128, 28x28x1");
    free(buf);
    tl_net_free(&net);
}

static void test_int8_export_keeps_accuracy(void **state)
{
    (void)state;
    if (!train.n) {
        skip();
    }
    export_and_compare("student", TL_DTYPE_INT8, 0.03f, 1);
}

static void test_depthwise_export(void **state)
{
    (void)state;
    if (!train.n) {
        skip();
    }
    export_and_compare("student-tiny", TL_DTYPE_INT8, 0.04f, 1);
}

static void test_multi_exit_export(void **state)
{
    (void)state;
    if (!train.n) {
        skip();
    }
    export_and_compare("student-exits", TL_DTYPE_INT8, 0.04f, 2);
}

static void test_int4_export_runs(void **state)
{
    (void)state;
    if (!train.n) {
        skip();
    }
    /* Post-training int4 loses more; quantisation-aware training is the fix. */
    export_and_compare("student", TL_DTYPE_INT4, 0.25f, 1);
}

/* A pruned model's progressive stream splits its sparse values into planes
 * (the index structure travels in the skeleton), so a sparse variant also
 * runs from its first planes. `bd` is the dense export of the same weights:
 * its channel sums, counted here by hand, are what the sparse encodings'
 * sums must be. */
static void check_sparse_progressive(const uint8_t *bd, size_t sd, const uint8_t *bs, size_t ss, float whole)
{
    tl_model md, ms;
    assert_int_equal(tl_model_load(&md, bd, sd, 0), TL_OK);
    assert_int_equal(tl_model_load(&ms, bs, ss, 0), TL_OK);
    assert_int_equal(md.header->op_count, ms.header->op_count);
    int sparse = 0;
    for (uint32_t k = 0; k < ms.header->op_count; ++k) {
        const tl_op_rec *op = &ms.ops[k];
        if (op->opcode != TL_OP_CONV_2D && op->opcode != TL_OP_FULLY_CONNECTED) {
            continue;
        }
        const tl_tensor_rec *fs = &ms.tensors[op->inputs[1]], *fd = &md.tensors[md.ops[k].inputs[1]];
        if (fs->dtype != TL_DTYPE_SPARSE_INT8 && fs->dtype != TL_DTYPE_BITMAP_INT8) {
            continue;
        }
        ++sparse;
        tl_filter_values v;
        assert_int_equal(tl_filter_values_of(&ms, op->inputs[1], 0, &v), TL_OK);
        assert_int_equal(v.channels, fd->dims[0]);
        const uint32_t per = fd->data_size / fd->dims[0];
        uint32_t nonzero = 0;
        for (uint32_t c = 0; c < v.channels; ++c) {
            const int8_t *w = (const int8_t *)(md.weights + fd->data_offset) + (size_t)c * per;
            int32_t sum = 0;
            for (uint32_t j = 0; j < per; ++j) {
                sum += w[j];
                nonzero += w[j] != 0;
            }
            assert_int_equal(tl_filter_channel_sum(&ms, op->inputs[1], 0, c), sum);
        }
        assert_int_equal(v.count, nonzero); /* the values are the non-zeros, no more */
    }
    assert_true(sparse > 0);
    assert_int_equal(tl_filter_values_of(&ms, ms.header->tensor_count, 0, NULL), TL_ERR_ARG);

    uint8_t *stream;
    size_t stream_size;
    uint32_t ends[8], planes, model_size;
    assert_int_equal(tl_progressive_encode(bs, ss, &stream, &stream_size, ends), TL_OK);
    tl_progressive_header h;
    memcpy(&h, stream, sizeof h);
    const tl_progressive_tensor *t = (const tl_progressive_tensor *)(const void *)(stream + sizeof h);
    int split_sparse = 0;
    for (uint32_t i = 0; i < h.tensor_count; ++i) {
        split_sparse += ms.tensors[t[i].tensor].dtype != TL_DTYPE_INT8;
    }
    assert_int_equal(split_sparse, sparse); /* every sparse filter goes into the planes */
    uint8_t *out = aligned_alloc(16, (ss + 15) / 16 * 16);
    assert_int_equal(tl_progressive_decode(stream, stream_size, out, ss, &planes, &model_size), TL_OK);
    assert_int_equal(planes, 8);
    assert_int_equal(model_size, ss);
    assert_memory_equal(out, bs, ss); /* all planes: the very model */
    float acc[8];
    for (int p = 0; p < 7; ++p) {
        assert_int_equal(tl_progressive_decode(stream, ends[p], out, ss, &planes, &model_size), TL_OK);
        assert_int_equal(planes, (uint32_t)p + 1);
        tl_model m;
        assert_int_equal(tl_model_load(&m, out, model_size, 0), TL_OK);
        /* Structure intact, values right in their top p + 1 bits. */
        const uint8_t keep = (uint8_t)(0xFFu << (7 - p));
        for (uint32_t i = 0; i < h.tensor_count; ++i) {
            const tl_tensor_rec *f = &ms.tensors[t[i].tensor];
            const size_t at = (size_t)(ms.weights - ms.base) + f->data_offset;
            assert_memory_equal(out + at, bs + at, t[i].model_offset - at);
            for (uint32_t j = 0; j < t[i].count; ++j) {
                assert_int_equal(out[t[i].model_offset + j] & keep, bs[t[i].model_offset + j] & keep);
            }
        }
        /* Every effective bias follows its channel's new sum (checked above
         * against the dense twin for the whole model). */
        for (uint32_t k = 0; k < ms.header->op_count; ++k) {
            const tl_op_rec *op = &ms.ops[k];
            if ((op->opcode != TL_OP_CONV_2D && op->opcode != TL_OP_FULLY_CONNECTED) ||
                ms.tensors[op->inputs[1]].dtype == TL_DTYPE_INT8) {
                continue;
            }
            const int32_t *b0 = (const int32_t *)(const void *)(ms.weights + op->bias);
            const int32_t *b1 = (const int32_t *)(const void *)(m.weights + op->bias);
            for (uint32_t c = 0; c < ms.tensors[op->inputs[1]].dims[0]; ++c) {
                const int32_t moved = tl_filter_channel_sum(&m, op->inputs[1], 0, c) -
                                      tl_filter_channel_sum(&ms, op->inputs[1], 0, c);
                assert_int_equal(b1[c] - b0[c], op->input_offset * moved);
            }
        }
        int exits;
        float a[16];
        assert_int_equal(tl_runtime_accuracy(out, model_size, &test, a, &exits), TL_OK);
        acc[p] = a[0];
        print_message("sparse progressive: %d planes, %u bytes, accuracy %.4f\n", p + 1, ends[p], (double)acc[p]);
    }
    acc[7] = whole;
    print_message("sparse progressive: 8 planes, %u bytes, accuracy %.4f\n", ends[7], (double)whole);
    assert_true(acc[5] >= whole - 0.03f); /* 6 of 8 planes: nearly there (biases corrected) */
    assert_true(acc[1] < whole - 0.1f);   /* 2 planes: much coarser */
    free(out);
    free(stream);
}

/* Raw output of one model on a pseudo-random input. */
static void run_once(const uint8_t *model, size_t size, uint32_t seed, int8_t *output, uint32_t capacity)
{
    tl_model m;
    assert_int_equal(tl_model_load(&m, model, size, 0), TL_OK);
    void *arena = aligned_alloc(16, (m.header->arena_size + 15) / 16 * 16 + 16);
    tl_interp it;
    assert_int_equal(tl_interp_init(&it, &m, arena, m.header->arena_size + 16), TL_OK);
    uint32_t n = 0;
    int8_t *in = tl_interp_input(&it, 0, &n);
    for (uint32_t i = 0; i < n; ++i) {
        seed = seed * 1103515245u + 12345u;
        in[i] = (int8_t)(seed >> 16);
    }
    assert_int_equal(tl_interp_invoke(&it), TL_OK);
    const int8_t *out = tl_interp_output(&it, 0, &n);
    assert_true(n <= capacity);
    memcpy(output, out, n);
    free(arena);
}

/* The sparse model made dense, as a device installs a pruned download: the
 * filters become their dense twin's bytes, everything else keeps its
 * content at its moved offset, and the answers are bit-identical. */
static void check_densify(const uint8_t *bd, size_t sd, const uint8_t *bs, size_t ss, float whole)
{
    tl_model md, ms, mx;
    assert_int_equal(tl_model_load(&md, bd, sd, 0), TL_OK);
    assert_int_equal(tl_model_load(&ms, bs, ss, 0), TL_OK);
    uint32_t size = 0;
    assert_int_equal(tl_model_dense_size(&ms, &size), TL_OK);
    assert_true(size > ss && size <= sd + 16 * ms.header->tensor_count);
    uint8_t *out = aligned_alloc(16, (size + 15) / 16 * 16);
    uint32_t written = 0;
    assert_int_equal(tl_model_densify(&ms, out, size - 1, &written), TL_ERR_ARG); /* no room */
    assert_int_equal(tl_model_densify(&ms, out, size, &written), TL_OK);
    assert_int_equal(written, size);
    assert_int_equal(tl_model_load(&mx, out, size, 0), TL_OK);
    assert_int_equal(mx.trailer->signature_alg, TL_SIG_NONE);
    assert_int_equal(tl_model_arena_size(&mx), tl_model_arena_size(&ms)); /* the planner's premise */
    int made_dense = 0;
    for (uint32_t k = 0; k < ms.header->op_count; ++k) {
        const tl_op_rec *op = &mx.ops[k];
        if (op->opcode == TL_OP_CONV_2D || op->opcode == TL_OP_DEPTHWISE_CONV_2D ||
            op->opcode == TL_OP_FULLY_CONNECTED) {
            const tl_tensor_rec *fx = &mx.tensors[op->inputs[1]], *fd = &md.tensors[md.ops[k].inputs[1]];
            made_dense += ms.tensors[op->inputs[1]].dtype != TL_DTYPE_INT8;
            assert_int_equal(fx->dtype, TL_DTYPE_INT8);
            assert_int_equal(fx->data_size, fd->data_size);
            assert_memory_equal(mx.weights + fx->data_offset, md.weights + fd->data_offset, fd->data_size);
            const uint32_t c = mx.tensors[op->output].dims[mx.tensors[op->output].rank - 1];
            assert_memory_equal(mx.weights + op->bias, ms.weights + ms.ops[k].bias, 4 * c);
            assert_memory_equal(mx.weights + op->requant, ms.weights + ms.ops[k].requant, 8 * c);
        }
    }
    assert_true(made_dense > 0);
    int8_t a[64], b[64];
    for (uint32_t seed = 1; seed <= 5; ++seed) {
        run_once(bs, ss, seed, a, sizeof a);
        run_once(out, size, seed, b, sizeof b);
        assert_memory_equal(a, b, mx.tensors[mx.io[mx.header->input_count]].data_size);
    }
    int exits;
    float acc[16];
    assert_int_equal(tl_runtime_accuracy(out, size, &test, acc, &exits), TL_OK);
    assert_true(acc[0] == whole);
    /* A model with nothing sparse comes out as it was, bar the signature. */
    uint8_t *same = aligned_alloc(16, (sd + 15) / 16 * 16);
    assert_int_equal(tl_model_dense_size(&md, &size), TL_OK);
    assert_int_equal(size, sd);
    assert_int_equal(tl_model_densify(&md, same, sd, &written), TL_OK);
    assert_memory_equal(same, bd, sd - sizeof(tl_trailer));
    /* An offset into a sparse filter is refused, not moved somewhere wrong. */
    uint8_t *bad = aligned_alloc(16, (ss + 15) / 16 * 16);
    memcpy(bad, bs, ss);
    tl_model mb;
    assert_int_equal(tl_model_load(&mb, bad, ss, 0), TL_OK);
    for (uint32_t k = 0; k < mb.header->op_count; ++k) {
        const tl_tensor_rec *f = &mb.tensors[mb.ops[k].inputs[1]];
        if (f->dtype == TL_DTYPE_SPARSE_INT8 || f->dtype == TL_DTYPE_BITMAP_INT8) {
            tl_op_rec *op = (tl_op_rec *)(uintptr_t)&mb.ops[k];
            op->requant = f->data_offset + 4;
            break;
        }
    }
    assert_int_equal(tl_model_dense_size(&mb, &size), TL_ERR_FORMAT);
    assert_int_equal(tl_model_densify(&mb, out, sd + 4096, &written), TL_ERR_FORMAT);
    free(bad);
    free(same);
    free(out);
}

/* An int4 model made dense: every nibble becomes its int8 byte, and the
 * int8 kernels give the int4 kernel's very answers. */
static void test_int4_densify(void **state)
{
    (void)state;
    if (!train.n) {
        skip();
    }
    tl_net net;
    tl_checkpoint_info info;
    size_t size;
    float a4[16], a8[16];
    int exits;
    uint8_t *b4 = export_trained("student", TL_DTYPE_INT4, &net, &info, &size, a4, &exits);
    tl_model m4, m8;
    assert_int_equal(tl_model_load(&m4, b4, size, 0), TL_OK);
    uint32_t dense_size = 0, written = 0;
    assert_int_equal(tl_model_dense_size(&m4, &dense_size), TL_OK);
    uint8_t *b8 = aligned_alloc(16, (dense_size + 15) / 16 * 16);
    assert_int_equal(tl_model_densify(&m4, b8, dense_size, &written), TL_OK);
    assert_int_equal(tl_model_load(&m8, b8, written, 0), TL_OK);
    assert_int_equal(tl_model_arena_size(&m8), tl_model_arena_size(&m4));
    int unpacked = 0;
    for (uint32_t i = 0; i < m4.header->tensor_count; ++i) {
        const tl_tensor_rec *t4 = &m4.tensors[i], *t8 = &m8.tensors[i];
        if (t4->kind != TL_TENSOR_CONST || t4->dtype != TL_DTYPE_INT4) {
            assert_int_equal(t8->dtype, t4->dtype);
            continue;
        }
        ++unpacked;
        assert_int_equal(t8->dtype, TL_DTYPE_INT8);
        const uint8_t *packed = m4.weights + t4->data_offset;
        const int8_t *w = (const int8_t *)(m8.weights + t8->data_offset);
        for (uint32_t k = 0; k < t8->data_size; ++k) {
            const int nibble = (packed[k / 2] >> (4 * (k % 2))) & 15;
            assert_int_equal(w[k], nibble < 8 ? nibble : nibble - 16);
        }
    }
    assert_true(unpacked > 0);
    int8_t o4[64], o8[64];
    const uint32_t out_bytes = m4.tensors[m4.io[m4.header->input_count]].data_size;
    for (uint32_t seed = 1; seed <= 3; ++seed) {
        run_once(b4, size, seed, o4, sizeof o4);
        run_once(b8, written, seed, o8, sizeof o8);
        assert_memory_equal(o4, o8, out_bytes);
    }
    assert_int_equal(tl_runtime_accuracy(b8, written, &test, a8, &exits), TL_OK);
    assert_true(a8[0] == a4[0]);
    print_message("int4 %zu bytes -> dense int8 %u bytes, accuracy %.4f both\n", size, written, (double)a8[0]);
    free(b8);
    free(b4);
    tl_net_free(&net);
}

/* Pruned (magnitude, gradual, fine-tuned) then exported with the sparse
 * encoding: the zeros are exact, MACs drop, accuracy holds. */
static void test_pruned_sparse_export(void **state)
{
    (void)state;
    if (!train.n) {
        skip();
    }
    char path[128], error[256];
    snprintf(path, sizeof path, "%s/pruned.tlc", dir);
    tl_train_config cfg = fine_tuning(path, 0.02f);
    cfg.prune = 0.6f;
    cfg.epochs = 2;
    tl_train_report rep;
    tl_net net;
    tl_checkpoint_info info;
    fine_tune(&cfg, &net, &info, &rep);
    uint8_t *prunable = tl_net_decay_mask(&net);
    size_t total = 0, zeros = 0;
    for (size_t i = 0; i < net.param_count; ++i) {
        total += prunable[i];
        zeros += prunable[i] && net.params[i] == 0.0f;
    }
    assert_true(fabsf((float)zeros / (float)total - 0.6f) < 0.01f); /* exactly the target, kept zero */
    free(prunable);
    tl_export_options dense = { 300, TL_DTYPE_INT8 }, sparse = { 300, TL_DTYPE_SPARSE_INT8 };
    tl_graph gd, gs;
    assert_int_equal(tl_export_net(&net, &info, &train, &dense, &gd, error, sizeof error), TL_OK);
    assert_int_equal(tl_export_net(&net, &info, &train, &sparse, &gs, error, sizeof error), TL_OK);
    size_t sd, ss;
    float ad[16], as[16];
    int exits;
    uint8_t *bd = serialize_and_measure(&gd, &sd, ad, &exits);
    uint8_t *bs = serialize_and_measure(&gs, &ss, as, &exits);
    assert_true(ad[0] == as[0]); /* same integers, another encoding: same answers */
    tl_model md, ms;
    assert_int_equal(tl_model_load(&md, bd, sd, 0), TL_OK);
    assert_int_equal(tl_model_load(&ms, bs, ss, 0), TL_OK);
    uint64_t macs_d = 0, macs_s = 0;
    for (uint32_t i = 0; i < md.header->op_count; ++i) {
        macs_d += tl_op_macs(&md, i);
        macs_s += tl_op_macs(&ms, i);
    }
    assert_true(macs_s < macs_d / 2); /* 60% of the weights are gone */
    check_sparse_progressive(bd, sd, bs, ss, as[0]);
    check_densify(bd, sd, bs, ss, as[0]);
    free(bd);
    free(bs);
    tl_net_free(&net);
}

static uint64_t model_macs(const tl_model *m)
{
    uint64_t macs = 0;
    for (uint32_t i = 0; i < m->header->op_count; ++i) {
        macs += tl_op_macs(m, i);
    }
    return macs;
}

/* Structured pruning: filters whose batch norm is dead (gamma = beta = 0)
 * go first, and removing them changes no answer; compute and arena shrink;
 * a pruned, fine-tuned network saves, loads and exports like any other. */
static void test_channel_pruning(void **state)
{
    (void)state;
    if (!train.n) {
        skip();
    }
    char error[256];
    tl_net net, slim;
    tl_checkpoint_info info;
    load_trained("student", &net, &info);
    for (int i = 1; i < net.count; ++i) { /* kill the upper half of every batch norm's channels */
        tl_node *n = &net.nodes[i];
        if (n->kind == TL_LAYER_BATCHNORM) {
            for (int c = n->c / 2; c < n->c; ++c) {
                net.params[n->weight_at + (size_t)c] = 0.0f;
                net.params[n->bias_at + (size_t)c] = 0.0f;
            }
        }
    }
    assert_int_equal(tl_net_prune_channels(&net, 0.5f, 64, &slim), TL_OK);
    assert_string_equal(slim.arch, "student@0.50");
    int widths[8], count = 0, w = 0;
    for (int i = 0; i < slim.count; ++i) {
        if (slim.nodes[i].kind == TL_LAYER_CONV) {
            widths[w++] = slim.nodes[i].c;
        }
    }
    assert_int_equal(w, 4);
    assert_int_equal(widths[0], 12); /* 24, 24, 48, 64 halved */
    assert_int_equal(widths[3], 32);
    assert_true(slim.param_count < net.param_count / 3);
    float acc_full, acc_slim, loss_full, loss_slim;
    tl_evaluate(&net, &test, info.mean, info.std, &acc_full, &loss_full);
    tl_evaluate(&slim, &test, info.mean, info.std, &acc_slim, &loss_slim);
    print_message("dead half removed: accuracy %.4f -> %.4f, loss %.5f -> %.5f\n", (double)acc_full,
                  (double)acc_slim, (double)loss_full, (double)loss_slim);
    assert_true(acc_full == acc_slim);
    assert_true(fabsf(loss_full - loss_slim) < 1e-4f);
    /* Exported: fewer MACs, a smaller arena, fewer bytes. */
    tl_export_options opt = { 300, TL_DTYPE_INT8 };
    tl_graph gf, gs;
    assert_int_equal(tl_export_net(&net, &info, &train, &opt, &gf, error, sizeof error), TL_OK);
    snprintf(info.arch, sizeof info.arch, "%s", slim.arch);
    assert_int_equal(tl_export_net(&slim, &info, &train, &opt, &gs, error, sizeof error), TL_OK);
    size_t sf, ss;
    float af[16], as[16];
    int exits;
    uint8_t *bf = serialize_and_measure(&gf, &sf, af, &exits);
    uint8_t *bs = serialize_and_measure(&gs, &ss, as, &exits);
    tl_model mf, ms;
    assert_int_equal(tl_model_load(&mf, bf, sf, 0), TL_OK);
    assert_int_equal(tl_model_load(&ms, bs, ss, 0), TL_OK);
    print_message("MACs %llu -> %llu, arena %u -> %u, bytes %zu -> %zu\n", (unsigned long long)model_macs(&mf),
                  (unsigned long long)model_macs(&ms), tl_model_arena_size(&mf), tl_model_arena_size(&ms), sf, ss);
    assert_true(model_macs(&ms) < model_macs(&mf) * 4 / 10);
    assert_true(tl_model_arena_size(&ms) < tl_model_arena_size(&mf));
    assert_true(ss < sf / 2);
    free(bf);
    free(bs);
    /* Pruned once is pruned: prune the original at the combined rate instead. */
    tl_net twice;
    assert_int_equal(tl_net_prune_channels(&slim, 0.5f, 64, &twice), TL_ERR_ARG);
    assert_int_equal(tl_net_prune_channels(&net, 0.0f, 64, &twice), TL_ERR_ARG);
    tl_net_free(&slim);
    tl_net_free(&net);
    /* Residual blocks: convolutions that feed an add keep every filter. */
    tl_net teacher;
    assert_int_equal(tl_net_build_arch(&teacher, "teacher", 28, 28, 1, 10), TL_OK);
    int tw[32], full[32], tc, fc;
    assert_int_equal(tl_conv_widths(&teacher, 0.5f, tw, 32, &tc), TL_OK);
    assert_int_equal(tl_conv_widths(&teacher, 0.0f, full, 32, &fc), TL_OK);
    int narrowed = 0;
    for (int i = 0; i < tc; ++i) {
        narrowed += tw[i] < full[i];
    }
    assert_int_equal(narrowed, 6); /* the first convolution of each of the 6 blocks */
    tl_net_free(&teacher);
    (void)count;
    /* Through training: --init with prune_channels, fine-tuned, saved, loaded. */
    char path[128];
    snprintf(path, sizeof path, "%s/slim.tlc", dir);
    tl_train_config cfg = fine_tuning(path, 0.02f);
    cfg.prune_channels = 0.5f;
    cfg.epochs = 1;
    tl_train_report rep;
    fine_tune(&cfg, &net, &info, &rep);
    assert_string_equal(info.arch, "student@0.50");
    assert_true(rep.test_accuracy[0] > 0.3f);
    tl_net_free(&net);
    cfg.init = path; /* pruning a pruned checkpoint: a clear error */
    assert_int_equal(tl_train(&cfg, &rep, error, sizeof error), TL_ERR_ARG);
    assert_non_null(strstr(error, "already channel-pruned"));
}

/* The cascade: threshold 0 stops everything at exit 0, a threshold above
 * any probability sends everything to the last exit, one in between splits
 * the samples and the MACs. */
static void test_cascade(void **state)
{
    (void)state;
    if (!train.n) {
        skip();
    }
    tl_net net;
    tl_checkpoint_info info;
    size_t size;
    float acc[16];
    int exits;
    uint8_t *buf = export_trained("student-exits", TL_DTYPE_INT8, &net, &info, &size, acc, &exits);
    assert_int_equal(exits, 2);
    tl_cascade_report all0, all1, mid;
    assert_int_equal(tl_runtime_cascade(buf, size, &test, 0.0f, &all0), TL_OK);
    assert_int_equal(tl_runtime_cascade(buf, size, &test, 1.0f, &all1), TL_OK);
    assert_int_equal(tl_runtime_cascade(buf, size, &test, 0.8f, &mid), TL_OK);
    assert_true(all0.share[0] == 1.0f && all0.cascade_accuracy == acc[0]);
    assert_true(all0.mean_macs == (double)all0.macs[0]);
    assert_true(all1.share[1] == 1.0f && all1.cascade_accuracy == acc[1]);
    assert_true(all1.mean_macs == (double)all1.macs[1]);
    assert_true(all0.macs[0] < all0.macs[1]);
    assert_true(all0.accuracy[0] == acc[0] && all0.accuracy[1] == acc[1]);
    assert_true(fabsf(mid.share[0] + mid.share[1] - 1.0f) < 1e-6f);
    assert_true(mid.mean_macs >= (double)mid.macs[0] && mid.mean_macs <= (double)mid.macs[1]);
    print_message("cascade at 0.8: %.1f%% stop at exit 0, accuracy %.4f, %.0f MACs (exit 0 %.4f, exit 1 %.4f)\n",
                  100.0 * mid.share[0], (double)mid.cascade_accuracy, mid.mean_macs, (double)acc[0], (double)acc[1]);
    free(buf);
    tl_net_free(&net);
}

/* A multi-exit model cut at exit 0: smaller, and it answers as exit 0. */
static void test_truncated_exit(void **state)
{
    (void)state;
    if (!train.n) {
        skip();
    }
    char error[256];
    tl_net net;
    tl_checkpoint_info info;
    load_trained("student-exits", &net, &info);
    tl_graph full, cut;
    assert_int_equal(tl_export_net(&net, &info, &train, NULL, &full, error, sizeof error), TL_OK);
    assert_int_equal(tl_export_net(&net, &info, &train, NULL, &cut, error, sizeof error), TL_OK);
    assert_int_equal(tl_graph_truncate_at_exit(&cut, 0), TL_OK);
    assert_int_equal(tl_graph_truncate_at_exit(&cut, 3), TL_ERR_ARG);
    assert_true(cut.op_count < full.op_count && cut.tensor_count < full.tensor_count);
    size_t sf, sc;
    float af[16], ac[16];
    int ef, ec;
    uint8_t *bf = serialize_and_measure(&full, &sf, af, &ef);
    uint8_t *bc = serialize_and_measure(&cut, &sc, ac, &ec);
    assert_true(sc < sf / 3); /* the trunk after exit 0 holds most weights */
    assert_int_equal(ef, 2);
    assert_int_equal(ec, 1);
    assert_true(ac[0] == af[0]);
    free(bf);
    free(bc);
    tl_net_free(&net);
}

/* Quantisation-aware training: the fake-quantised weights lie on the
 * export's grid, the float weights come back, and the int4 device model
 * answers like the fake-quantised float network. */
static void test_quantisation_aware_training(void **state)
{
    (void)state;
    if (!train.n) {
        skip();
    }
    char path[128], error[256];
    snprintf(path, sizeof path, "%s/qat.tlc", dir);
    tl_train_config cfg = fine_tuning(path, 0.002f);
    cfg.qat_bits = 4;
    cfg.epochs = 1;
    tl_train_report rep;
    tl_net net;
    tl_checkpoint_info info;
    fine_tune(&cfg, &net, &info, &rep);
    float *shadow = malloc(net.param_count * sizeof(float));
    float *before = malloc(net.param_count * sizeof(float));
    memcpy(before, net.params, net.param_count * sizeof(float));
    tl_fake_quantize(&net, 4, shadow);
    /* A conv layer's channel 0: at most 15 distinct values (int4 grid). */
    const tl_node *conv = NULL;
    for (int i = 0; i < net.count && !conv; ++i) {
        conv = net.nodes[i].kind == TL_LAYER_CONV ? &net.nodes[i] : NULL;
    }
    const size_t per = conv->weight_count / (size_t)conv->c;
    float seen[16];
    int distinct = 0;
    for (size_t t = 0; t < per; ++t) {
        const float v = net.params[conv->weight_at + t];
        int known = 0;
        for (int k = 0; k < distinct; ++k) {
            known |= seen[k] == v;
        }
        if (!known) {
            assert_true(distinct < 15);
            seen[distinct++] = v;
        }
    }
    float fake[TL_MAX_EXITS];
    tl_evaluate(&net, &test, info.mean, info.std, fake, NULL);
    tl_restore_weights(&net, shadow);
    assert_memory_equal(net.params, before, net.param_count * sizeof(float));
    tl_export_options opt = { 300, TL_DTYPE_INT4 };
    tl_graph g;
    assert_int_equal(tl_export_net(&net, &info, &train, &opt, &g, error, sizeof error), TL_OK);
    size_t size;
    float device[16];
    int exits;
    uint8_t *buf = serialize_and_measure(&g, &size, device, &exits);
    print_message("QAT int4: fake-quantised float %.4f, device %.4f\n", (double)fake[0], (double)device[0]);
    assert_true(fabsf(device[0] - fake[0]) < 0.03f); /* only activation rounding differs */
    free(buf);
    free(shadow);
    free(before);
    tl_net_free(&net);
}

/* Bit-plane progressive prefixes of an exported student: more planes, not
 * worse beyond noise; five planes close to the whole model. */
static void test_progressive_prefix_accuracy(void **state)
{
    (void)state;
    if (!train.n) {
        skip();
    }
    char error[256];
    tl_net net;
    tl_checkpoint_info info;
    load_trained("student", &net, &info);
    tl_graph g;
    assert_int_equal(tl_export_net(&net, &info, &train, NULL, &g, error, sizeof error), TL_OK);
    uint8_t *tlm, *stream;
    size_t size, stream_size;
    uint32_t ends[8];
    assert_int_equal(tl_graph_serialize(&g, &tlm, &size), TL_OK);
    assert_int_equal(tl_progressive_encode(tlm, size, &stream, &stream_size, ends), TL_OK);
    uint8_t *out = aligned_alloc(16, (size + 15) / 16 * 16);
    float acc[8];
    for (int p = 0; p < 8; ++p) {
        uint32_t planes, model_size;
        assert_int_equal(tl_progressive_decode(stream, ends[p], out, size, &planes, &model_size), TL_OK);
        float a[16];
        int exits;
        assert_int_equal(tl_runtime_accuracy(out, model_size, &test, a, &exits), TL_OK);
        acc[p] = a[0];
        print_message("progressive: %d planes, %u bytes, accuracy %.4f\n", p + 1, ends[p], (double)acc[p]);
    }
    for (int p = 3; p < 7; ++p) {
        assert_true(acc[p + 1] >= acc[p] - 0.02f); /* ordered, up to noise */
    }
    assert_true(acc[4] >= acc[7] - 0.03f);          /* 5 of 8 planes: nearly there */
    assert_true(acc[1] < acc[7] - 0.1f);            /* 2 planes: much coarser */
    free(out);
    free(stream);
    free(tlm);
    tl_graph_free(&g);
    tl_net_free(&net);
}

static void test_unexportable_network_is_named(void **state)
{
    (void)state;
    if (!train.n) {
        skip();
    }
    tl_net net;
    assert_int_equal(tl_net_init(&net, 28, 28, 1), TL_OK);
    const int bn = tl_net_batchnorm(&net, 0);               /* batch norm on the input: no conv to fold into */
    const int logits = tl_net_dense(&net, tl_net_global_avgpool(&net, bn), 10);
    assert_int_equal(tl_net_add_exit(&net, logits, 1.0f), TL_OK);
    assert_int_equal(tl_net_finalize(&net, 8, 1), TL_OK);
    tl_checkpoint_info info;
    memset(&info, 0, sizeof info);
    info.mean = TL_FASHION_MNIST_MEAN;
    info.std = TL_FASHION_MNIST_STD;
    tl_graph g;
    char error[256];
    assert_int_equal(tl_export_net(&net, &info, &train, NULL, &g, error, sizeof error), TL_ERR_UNSUPPORTED);
    assert_non_null(strstr(error, "node 1 (batch norm) cannot be exported"));
    tl_net_free(&net);
}

/* The catalogue builder as library code: the M4 figure comes from the
 * caller's callback (here a stand-in that counts its calls and returns a
 * size-derived figure), every variant file is written, names are unique. */
typedef struct fake_m4 {
    int calls;
} fake_m4;

static int64_t fake_measure(void *ctx, const char *path)
{
    fake_m4 *f = ctx;
    ++f->calls;
    uint8_t *bytes;
    size_t size;
    return tl_read_file(path, &bytes, &size) == TL_OK ? (free(bytes), (int64_t)size * 10) : -1;
}

static void the_catalogue_builder_measures_through_its_callback(void **state)
{
    (void)state;
    if (!train.n) {
        skip();
    }
    char out_dir[160], error[512];
    snprintf(out_dir, sizeof out_dir, "%s/catalogue", dir);
    assert_int_equal(mkdir(out_dir, 0755), 0);
    tl_catalogue_spec spec;
    memset(&spec, 0, sizeof spec);
    fake_m4 m4 = { 0 };
    spec.checkpoint = trained("student-exits");
    spec.dir = out_dir;
    spec.channels[0] = 0;
    spec.channel_count = 1;
    spec.sparsity[0] = 0;
    spec.sparsity_count = 1;
    spec.bits[0] = 8;
    spec.bits_count = 1;
    spec.finetune_epochs = 1;
    spec.finetune_limit = 200;
    spec.finetune_lr = 0.002f;
    spec.limit = 200;
    spec.calibration = 100;
    spec.measure = fake_measure;
    spec.measure_ctx = &m4;
    tl_variant v[8];
    int count = 0;
    assert_int_equal(tl_catalogue_build(&spec, v, 8, &count, error, sizeof error), TL_OK);
    assert_int_equal(count, 2); /* one variant per exit */
    assert_int_equal(m4.calls, 2);
    for (int i = 0; i < count; ++i) {
        assert_true(v[i].m4_instructions == (int64_t)v[i].bytes * 10);
        assert_true(v[i].accuracy > 0.2f && v[i].bytes > 0 && v[i].macs > 0);
        char path[512];
        snprintf(path, sizeof path, "%.160s/%.31s.tlm", out_dir, v[i].name);
        assert_int_equal(access(path, R_OK), 0);
    }
    assert_string_not_equal(v[0].name, v[1].name);
    assert_true(v[0].macs < v[1].macs); /* the early exit is cheaper */
    /* Too small a table is refused, not overrun. */
    assert_int_equal(tl_catalogue_build(&spec, v, 1, &count, error, sizeof error), TL_ERR_BOUNDS);
    assert_non_null(strstr(error, "more than 1 variants"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_int8_export_keeps_accuracy),
        cmocka_unit_test(test_depthwise_export),
        cmocka_unit_test(test_multi_exit_export),
        cmocka_unit_test(test_int4_export_runs),
        cmocka_unit_test(test_pruned_sparse_export),
        cmocka_unit_test(test_int4_densify),
        cmocka_unit_test(test_channel_pruning),
        cmocka_unit_test(test_cascade),
        cmocka_unit_test(test_truncated_exit),
        cmocka_unit_test(test_quantisation_aware_training),
        cmocka_unit_test(test_progressive_prefix_accuracy),
        cmocka_unit_test(test_unexportable_network_is_named),
        cmocka_unit_test(the_catalogue_builder_measures_through_its_callback),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
