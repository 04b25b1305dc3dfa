/* test_graph.c - arena planning, early exits and the graph builder.
 *
 * The planner is checked end to end: each model is also run with a plan in
 * which no two tensors share a byte, and the outputs must be identical. A
 * plan that let a live tensor be overwritten would make them differ.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "test_util.h"
#include "tiny_model.h"
#include "tinylarge/device.h"
#include "tinylarge/host.h"

/* Rewrites a serialised model's plan so every activation has its own bytes. */
static void unshare_plan(uint8_t *buf, size_t size)
{
    tl_file_header *h = (tl_file_header *)(void *)buf;
    const tl_section_rec *s = (const tl_section_rec *)(void *)(buf + h->section_table);
    tl_tensor_rec *tensors = NULL;
    uint32_t *plan = NULL;
    for (uint32_t i = 0; i < h->section_count; ++i) {
        if (s[i].kind == TL_SEC_TENSORS) {
            tensors = (tl_tensor_rec *)(void *)(buf + s[i].offset);
        } else if (s[i].kind == TL_SEC_PLAN) {
            plan = (uint32_t *)(void *)(buf + s[i].offset);
        }
    }
    uint32_t at = 0;
    for (uint32_t t = 0; t < h->tensor_count; ++t) {
        if (tensors[t].kind == TL_TENSOR_ACTIVATION) {
            plan[t] = at;
            at += tensors[t].data_size;
        }
    }
    h->arena_size = at;
    tl_trailer *tr = (tl_trailer *)(void *)(buf + size - sizeof(tl_trailer));
    crypto_hash_sha256(tr->sha256, buf, size - sizeof(tl_trailer));
}

/* Runs the model on `input`, returns the output bytes (caller frees). */
static int8_t *run(const uint8_t *buf, size_t size, const int8_t *input, uint32_t *out_size,
                   uint32_t *arena_out)
{
    tl_model m;
    assert_int_equal(tl_model_load(&m, buf, size, 0), TL_OK);
    uint8_t *arena = malloc(tl_model_arena_size(&m));
    /* Garbage in the arena must not matter. */
    memset(arena, 0xA5, tl_model_arena_size(&m));
    tl_interp it;
    assert_int_equal(tl_interp_init(&it, &m, arena, tl_model_arena_size(&m)), TL_OK);
    uint32_t in_size = 0;
    int8_t *in = tl_interp_input(&it, 0, &in_size);
    memcpy(in, input, in_size);
    assert_int_equal(tl_interp_invoke(&it), TL_OK);
    const int8_t *out = tl_interp_output(&it, 0, out_size);
    int8_t *copy = malloc(*out_size);
    memcpy(copy, out, *out_size);
    *arena_out = tl_model_arena_size(&m);
    free(arena);
    return copy;
}

static void check_plan_equivalence(uint8_t *buf, size_t size)
{
    test_rng r = { 99 };
    int8_t input[32768];
    for (size_t i = 0; i < sizeof input; ++i) {
        input[i] = (int8_t)rng_u32(&r);
    }
    uint32_t n1, n2, planned, unshared;
    int8_t *a = run(buf, size, input, &n1, &planned);
    unshare_plan(buf, size);
    int8_t *b = run(buf, size, input, &n2, &unshared);
    assert_int_equal(n1, n2);
    assert_memory_equal(a, b, n1);
    assert_true(planned < unshared); /* sharing saved memory */
    free(a);
    free(b);
}

static void test_plan_keeps_results(void **state)
{
    (void)state;
    uint8_t *buf;
    size_t size;
    assert_int_equal(tiny_model_bytes(3, &buf, &size), 0);
    check_plan_equivalence(buf, size);
    free(buf);
    static const char *const models[] = { "kws_ref_model", "vww_96_int8", "pretrainedResnet_quant", "ad01_int8" };
    for (int i = 0; i < 4; ++i) {
        char path[1024];
        snprintf(path, sizeof path, "%s/models/mlperf-tiny/%s.tflite", TL_SHARED_DIR, models[i]);
        uint8_t *data;
        size_t data_size;
        if (tl_read_file(path, &data, &data_size) != TL_OK) {
            continue; /* the golden test reports missing models */
        }
        tl_graph g;
        assert_int_equal(tl_import_tflite(data, data_size, &g, NULL, 0), TL_OK);
        assert_int_equal(tl_graph_serialize(&g, &buf, &size), TL_OK);
        tl_graph_free(&g);
        check_plan_equivalence(buf, size);
        free(buf);
        free(data);
    }
}

static void test_reshape_is_planned_in_place(void **state)
{
    (void)state;
    tl_graph g;
    tiny_model_ids ids;
    assert_int_equal(tiny_model_build(&g, 4, &ids), 0);
    uint32_t *plan = malloc(g.tensor_count * sizeof *plan);
    uint32_t arena;
    assert_int_equal(tl_arena_layout(&g, plan, &arena), TL_OK);
    assert_int_equal(plan[ids.pooled], plan[ids.flat]);
    /* Constants have no arena offset; activations all fit. */
    for (uint32_t t = 0; t < g.tensor_count; ++t) {
        if (g.tensors[t].rec.kind == TL_TENSOR_CONST) {
            assert_int_equal(plan[t], TL_NONE);
        } else {
            assert_true(plan[t] + g.tensors[t].rec.data_size <= arena);
        }
    }
    free(plan);
    tl_graph_free(&g);
}

static void test_cascade_runs_each_operator_once(void **state)
{
    (void)state;
    uint8_t *buf;
    size_t size;
    assert_int_equal(tiny_model_bytes(5, &buf, &size), 0);
    tl_model m;
    assert_int_equal(tl_model_load(&m, buf, size, 0), TL_OK);
    assert_int_equal(m.header->exit_count, 2);
    uint8_t *arena = malloc(tl_model_arena_size(&m));
    tl_interp it;
    assert_int_equal(tl_interp_init(&it, &m, arena, tl_model_arena_size(&m)), TL_OK);
    test_rng r = { 5 };
    for (int sample = 0; sample < 20; ++sample) {
        uint32_t in_size = 0;
        int8_t *in = tl_interp_input(&it, 0, &in_size);
        for (uint32_t i = 0; i < in_size; ++i) {
            in[i] = (int8_t)rng_u32(&r);
        }
        int8_t keep[192];
        memcpy(keep, in, in_size);
        tl_exit_result e0, e1;
        assert_int_equal(tl_interp_run_to_exit(&it, 0, &e0), TL_OK);
        assert_int_equal(it.next_op, m.exits[0].op_end);
        assert_int_equal(e0.size, 5);
        /* confidence is the top probability, (q + 128) / 256 */
        assert_int_equal(e0.confidence, (uint32_t)(e0.data[e0.top_class] + 128) * 256);
        int sum = 0;
        for (int k = 0; k < 5; ++k) {
            sum += e0.data[k] + 128;
        }
        assert_true(sum >= 250 && sum <= 262); /* probabilities add up to ~1 */
        assert_int_equal(tl_interp_run_to_exit(&it, 1, &e1), TL_OK);
        assert_int_equal(it.next_op, m.header->op_count);
        /* An exit already passed may have been overwritten: refused. */
        assert_int_equal(tl_interp_run_to_exit(&it, 0, &e0), TL_ERR_STATE);
        assert_int_equal(tl_interp_run_to_exit(&it, 2, &e0), TL_ERR_ARG);
        /* Stepping one operator at a time gives the same answer. */
        memcpy(tl_interp_input(&it, 0, NULL), keep, in_size);
        uint32_t steps = 0;
        while (tl_interp_step(&it) == TL_OK) {
            ++steps;
        }
        assert_int_equal(steps, m.header->op_count);
        assert_memory_equal(tl_interp_output(&it, 0, NULL), e1.data, 5);
        /* The cascade's final answer equals a plain full invoke. */
        int8_t cascade[5];
        memcpy(cascade, e1.data, 5);
        memcpy(tl_interp_input(&it, 0, NULL), keep, in_size);
        assert_int_equal(tl_interp_invoke(&it), TL_OK);
        uint32_t out_size;
        assert_memory_equal(tl_interp_output(&it, 0, &out_size), cascade, 5);
    }
    free(arena);
    free(buf);
}

/* A residual block: in -conv-> a -conv-> m -conv-> b; y = ADD(a, b)
 * (+ a second reader of b if asked). */
static void residual_graph(tl_graph *g, int second_reader)
{
    memset(g, 0, sizeof *g);
    test_rng r = { 77 };
    const uint32_t d[4] = { 1, 6, 6, 8 }, flat[2] = { 1, 288 };
    const uint16_t in = (uint16_t)tl_graph_add_activation(g, "in", 4, d, 0.05f, 3);
    const uint16_t a = (uint16_t)tl_graph_add_activation(g, "a", 4, d, 0.04f, -128);
    const uint16_t m = (uint16_t)tl_graph_add_activation(g, "m", 4, d, 0.03f, -128);
    const uint16_t b = (uint16_t)tl_graph_add_activation(g, "b", 4, d, 0.05f, 2);
    const uint16_t y = (uint16_t)tl_graph_add_activation(g, "y", 4, d, 0.07f, -5);
    g->inputs[g->input_count++] = in;
    int8_t w[8 * 3 * 3 * 8];
    float scales[8];
    int32_t bias[8];
    const uint16_t from[3] = { in, a, m }, to[3] = { a, m, b };
    for (int layer = 0; layer < 3; ++layer) {
        for (size_t i = 0; i < sizeof w; ++i) {
            w[i] = (int8_t)rng_int(&r, -127, 127);
        }
        for (int c = 0; c < 8; ++c) {
            scales[c] = rng_float(&r, 0.002f, 0.006f);
            bias[c] = rng_int(&r, -300, 300);
        }
        tl_conv_spec spec;
        memset(&spec, 0, sizeof spec);
        spec.opcode = TL_OP_CONV_2D;
        spec.weight_dtype = TL_DTYPE_INT8;
        spec.activation = layer < 2 ? TL_ACT_RELU : TL_ACT_NONE;
        spec.same_padding = 1;
        spec.stride_h = spec.stride_w = 1;
        spec.k_h = spec.k_w = 3;
        spec.weights = w;
        spec.filter_scales = scales;
        spec.scale_count = 8;
        spec.bias = bias;
        assert_true(tl_graph_add_conv(g, from[layer], to[layer], &spec, NULL, 0) >= 0);
    }
    assert_true(tl_graph_add_add(g, a, b, y, TL_ACT_RELU) >= 0);
    g->outputs[g->output_count++] = y;
    if (second_reader) {
        const uint16_t f = (uint16_t)tl_graph_add_activation(g, "b_flat", 2, flat, 0.05f, 2);
        assert_true(tl_graph_add_reshape(g, b, f) >= 0);
        g->outputs[g->output_count++] = f;
    }
    assert_int_equal(tl_graph_add_exit(g, y, g->op_count), TL_OK);
}

static void test_residual_fusion_is_exact_and_saves_memory(void **state)
{
    (void)state;
    tl_graph plain, fused;
    residual_graph(&plain, 0);
    residual_graph(&fused, 0);
    uint32_t count = 0;
    assert_int_equal(tl_graph_fuse_residual_adds(&fused, &count), TL_OK);
    assert_int_equal(count, 1);
    assert_int_equal(fused.op_count, plain.op_count - 1);
    assert_int_equal(fused.ops[2].rec.flags, TL_OP_FLAG_RESIDUAL);
    uint8_t *pb, *fb;
    size_t ps, fs;
    assert_int_equal(tl_graph_serialize(&plain, &pb, &ps), TL_OK);
    assert_int_equal(tl_graph_serialize(&fused, &fb, &fs), TL_OK);
    test_rng r = { 8 };
    int8_t input[288];
    for (int trial = 0; trial < 10; ++trial) {
        for (size_t i = 0; i < sizeof input; ++i) {
            input[i] = (int8_t)rng_u32(&r);
        }
        uint32_t n1, n2, arena_plain, arena_fused;
        int8_t *a = run(pb, ps, input, &n1, &arena_plain);
        int8_t *b = run(fb, fs, input, &n2, &arena_fused);
        assert_int_equal(n1, n2);
        assert_memory_equal(a, b, n1);
        assert_int_equal(arena_plain, 3 * 288);  /* a, m and b live at the last conv... */
        assert_int_equal(arena_fused, 2 * 288);  /* ...fused: y written over a */
        free(a);
        free(b);
    }
    check_plan_equivalence(fb, fs);
    free(pb);
    free(fb);
    tl_graph_free(&plain);
    tl_graph_free(&fused);
    /* b has a second reader: it must exist, so no fusion. */
    residual_graph(&plain, 1);
    assert_int_equal(tl_graph_fuse_residual_adds(&plain, &count), TL_OK);
    assert_int_equal(count, 0);
    tl_graph_free(&plain);
}

static void test_builder_rejects_bad_requests(void **state)
{
    (void)state;
    tl_graph g;
    memset(&g, 0, sizeof g);
    const uint32_t d4[4] = { 1, 4, 4, 2 }, d2[2] = { 1, 3 }, flat[2] = { 1, 32 };
    const uint16_t a = (uint16_t)tl_graph_add_activation(&g, "a", 4, d4, 0.1f, 0);
    const uint16_t b = (uint16_t)tl_graph_add_activation(&g, "b", 2, d2, 0.1f, 0);
    const uint16_t c = (uint16_t)tl_graph_add_activation(&g, "c", 2, flat, 0.1f, 0);
    assert_int_equal(tl_graph_add_activation(&g, "bad", 5, d4, 0.1f, 0), -1);
    assert_int_equal(tl_graph_add_reshape(&g, a, b), -1);                 /* sizes differ */
    assert_int_equal(tl_graph_add_pool(&g, TL_OP_ADD, a, a, 2, 2, 1, 1, 0, 0), -1);
    assert_int_equal(tl_graph_add_add(&g, a, b, 77, TL_ACT_NONE), -1);     /* no tensor 77 */
    int8_t w[3 * 32];
    memset(w, 9, sizeof w);
    const float scale = 0.01f;
    tl_conv_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.opcode = TL_OP_FULLY_CONNECTED;
    spec.weight_dtype = TL_DTYPE_INT4;
    spec.k_h = spec.k_w = 1;
    spec.weights = w;
    spec.filter_scales = &scale;
    spec.scale_count = 1;
    char error[128];
    assert_int_equal(tl_graph_add_conv(&g, a, b, &spec, error, sizeof error), -1);
    assert_string_equal(error, "fully-connected input and output sizes disagree");
    assert_int_equal(tl_graph_add_conv(&g, c, b, &spec, error, sizeof error), -1); /* 9 is not int4 */
    assert_string_equal(error, "int4 weights must lie in [-8, 7]");
    spec.opcode = TL_OP_ADD;
    assert_int_equal(tl_graph_add_conv(&g, a, b, &spec, error, sizeof error), -1);
    assert_string_equal(error, "not a convolution-like operator");
    assert_int_equal(tl_graph_add_exit(&g, b, 5), TL_ERR_ARG);             /* past the ops */
    uint8_t *out;
    size_t out_size;
    assert_int_equal(tl_graph_serialize(&g, &out, &out_size), TL_ERR_ARG); /* no operators */
    tl_graph_free(&g);
}

static void test_atomic_write(void **state)
{
    (void)state;
    char dir[] = "/tmp/tl_test_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/model.tlm", dir);
    const char first[] = "first", second[] = "second version";
    assert_int_equal(tl_write_file_atomic(path, first, sizeof first), TL_OK);
    assert_int_equal(tl_write_file_atomic(path, second, sizeof second), TL_OK);
    uint8_t *back;
    size_t size;
    assert_int_equal(tl_read_file(path, &back, &size), TL_OK);
    assert_int_equal(size, sizeof second);
    assert_memory_equal(back, second, size);
    free(back);
    /* A folder that does not exist: an error, and no stray files. */
    char missing[300];
    snprintf(missing, sizeof missing, "%s/no/such/dir/model.tlm", dir);
    assert_int_equal(tl_write_file_atomic(missing, first, sizeof first), TL_ERR_IO);
    assert_int_equal(tl_read_file(missing, &back, &size), TL_ERR_IO);
    unlink(path);
    assert_int_equal(rmdir(dir), 0); /* empty: no temporary file was left */
}

/* Runs the tail on the head's outputs (in the head's output order, which
 * is the tail's input order) and returns the tail's output 0. */
static int8_t *run_halves(const uint8_t *hb, size_t hs, const uint8_t *tb, size_t ts, const int8_t *input,
                          uint32_t *out_size)
{
    tl_model hm, tm;
    assert_int_equal(tl_model_load(&hm, hb, hs, 0), TL_OK);
    assert_int_equal(tl_model_load(&tm, tb, ts, 0), TL_OK);
    assert_int_equal(hm.header->output_count, tm.header->input_count);
    uint8_t *ha = malloc(tl_model_arena_size(&hm) + 1), *ta = malloc(tl_model_arena_size(&tm) + 1);
    tl_interp hi, ti;
    assert_int_equal(tl_interp_init(&hi, &hm, ha, tl_model_arena_size(&hm)), TL_OK);
    assert_int_equal(tl_interp_init(&ti, &tm, ta, tl_model_arena_size(&tm)), TL_OK);
    uint32_t n = 0;
    int8_t *in = tl_interp_input(&hi, 0, &n);
    memcpy(in, input, n);
    assert_int_equal(tl_interp_invoke(&hi), TL_OK);
    for (uint32_t i = 0; i < hm.header->output_count; ++i) {
        uint32_t sent = 0, want = 0;
        const int8_t *out = tl_interp_output(&hi, i, &sent);
        int8_t *to = tl_interp_input(&ti, i, &want);
        assert_int_equal(sent, want);
        memcpy(to, out, sent);
    }
    assert_int_equal(tl_interp_invoke(&ti), TL_OK);
    const int8_t *out = tl_interp_output(&ti, 0, out_size);
    int8_t *copy = malloc(*out_size);
    memcpy(copy, out, *out_size);
    free(ha);
    free(ta);
    return copy;
}

/* Every cut of a model: the device half and the edge half together answer
 * as the whole model, byte for byte. */
static void check_every_cut(tl_graph *whole, int *split_residual)
{
    uint8_t *wb;
    size_t ws;
    assert_int_equal(tl_graph_serialize(whole, &wb, &ws), TL_OK);
    test_rng r = { 5 };
    int8_t input[32768];
    for (size_t i = 0; i < sizeof input; ++i) {
        input[i] = (int8_t)rng_u32(&r);
    }
    uint32_t want_size, arena;
    int8_t *want = run(wb, ws, input, &want_size, &arena);
    for (uint32_t k = 1; k < whole->op_count; ++k) {
        uint16_t crossing[8];
        const uint32_t n = tl_graph_cut_tensors(whole, k, crossing, 8);
        tl_graph head, tail;
        assert_int_equal(tl_graph_clone(whole, &head), TL_OK);
        assert_int_equal(tl_graph_clone(whole, &tail), TL_OK);
        assert_int_equal(tl_graph_cut(&head, k, 1), TL_OK);
        assert_int_equal(tl_graph_cut(&tail, k, 0), TL_OK);
        assert_int_equal(head.op_count, k);
        assert_int_equal(tail.op_count, whole->op_count - k);
        assert_int_equal(head.output_count, n);
        *split_residual |= n > 1; /* a cut inside a residual block sends its skip too */
        uint8_t *hb, *tb;
        size_t hs, ts;
        assert_int_equal(tl_graph_serialize(&head, &hb, &hs), TL_OK);
        assert_int_equal(tl_graph_serialize(&tail, &tb, &ts), TL_OK);
        uint32_t got_size = 0;
        int8_t *got = run_halves(hb, hs, tb, ts, input, &got_size);
        assert_int_equal(got_size, want_size);
        assert_memory_equal(got, want, want_size);
        free(got);
        /* The same cut without cutting the file: the device runs [0, k) of
         * the whole model and packs what crosses; the edge, with its own
         * copy and arena, restores it and runs the rest. */
        tl_model m;
        assert_int_equal(tl_model_load(&m, wb, ws, 0), TL_OK);
        uint32_t crossing_bytes = 0;
        for (uint32_t i = 0; i < n; ++i) {
            crossing_bytes += whole->tensors[crossing[i]].rec.data_size;
        }
        assert_int_equal(tl_model_cut_bytes(&m, k), crossing_bytes);
        uint8_t *da = malloc(tl_model_arena_size(&m)), *ea = malloc(tl_model_arena_size(&m));
        memset(ea, 0x5A, tl_model_arena_size(&m)); /* the edge's arena holds nothing of the device's */
        tl_interp dev, edge;
        assert_int_equal(tl_interp_init(&dev, &m, da, tl_model_arena_size(&m)), TL_OK);
        assert_int_equal(tl_interp_init(&edge, &m, ea, tl_model_arena_size(&m)), TL_OK);
        uint32_t in_size = 0;
        int8_t *dev_in = tl_interp_input(&dev, 0, &in_size);
        memcpy(dev_in, input, in_size);
        for (uint32_t op = 0; op < k; ++op) {
            assert_int_equal(tl_interp_step(&dev), TL_OK);
        }
        int8_t *packed = malloc(crossing_bytes + 1);
        uint32_t packed_size = 0;
        assert_int_equal(tl_interp_cut_save(&dev, k, packed, crossing_bytes - 1, &packed_size), TL_ERR_ARENA);
        assert_int_equal(tl_interp_cut_save(&dev, k + 1, packed, crossing_bytes, &packed_size), TL_ERR_STATE);
        assert_int_equal(tl_interp_cut_save(&dev, k, packed, crossing_bytes, &packed_size), TL_OK);
        assert_int_equal(packed_size, crossing_bytes);
        assert_int_equal(tl_interp_cut_restore(&edge, k, packed, packed_size - 1), TL_ERR_SHAPE);
        assert_int_equal(tl_interp_cut_restore(&edge, k, packed, packed_size), TL_OK);
        assert_int_equal(tl_interp_finish(&edge), TL_OK);
        uint32_t edge_size = 0;
        const int8_t *edge_out = tl_interp_output(&edge, 0, &edge_size);
        assert_int_equal(edge_size, want_size);
        assert_memory_equal(edge_out, want, want_size);
        free(packed);
        free(da);
        free(ea);
        free(hb);
        free(tb);
        tl_graph_free(&head);
        tl_graph_free(&tail);
    }
    tl_graph head;
    assert_int_equal(tl_graph_clone(whole, &head), TL_OK);
    assert_int_equal(tl_graph_cut(&head, 0, 1), TL_ERR_ARG); /* a half with no operator */
    assert_int_equal(tl_graph_cut(&head, whole->op_count, 1), TL_ERR_ARG);
    tl_graph_free(&head);
    free(want);
    free(wb);
}

static void every_cut_of_a_model_answers_as_the_whole_model(void **state)
{
    (void)state;
    tl_graph g;
    int residual = 0;
    residual_graph(&g, 0);
    check_every_cut(&g, &residual);
    assert_true(residual); /* the cut between the ADD's inputs sends two tensors */
    tl_graph_free(&g);
    tiny_model_ids ids;
    assert_int_equal(tiny_model_build(&g, 11, &ids), 0);
    check_every_cut(&g, &residual);
    tl_graph_free(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plan_keeps_results),
        cmocka_unit_test(test_reshape_is_planned_in_place),
        cmocka_unit_test(test_cascade_runs_each_operator_once),
        cmocka_unit_test(test_residual_fusion_is_exact_and_saves_memory),
        cmocka_unit_test(test_builder_rejects_bad_requests),
        cmocka_unit_test(test_atomic_write),
        cmocka_unit_test(every_cut_of_a_model_answers_as_the_whole_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
