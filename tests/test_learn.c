/* test_learn.c - on-device transfer learning (src/device/learn): the head
 * learns a task its shipped weights get wrong, the int8 model written back
 * answers as the float head does, the same samples give the same bytes, the
 * delta is the head's change, and bad calls are refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test_util.h"
#include "tiny_model.h"
#include "tinylarge/device.h"
#include "tinylarge/learn.h"

#define FEATURES 16
#define CLASSES 4

/* Four clusters of int8 features; a sample is its class's centre plus noise. */
typedef struct task {
    int8_t centre[CLASSES][FEATURES];
    test_rng rng;
} task;

static void task_init(task *t, uint64_t seed)
{
    t->rng.s = 0x9E3779B97F4A7C15ull ^ seed;
    for (int k = 0; k < CLASSES; ++k) {
        for (int i = 0; i < FEATURES; ++i) {
            t->centre[k][i] = (int8_t)rng_int(&t->rng, -100, 100);
        }
    }
}

static uint32_t task_sample(task *t, int8_t *x)
{
    const uint32_t label = rng_u32(&t->rng) % CLASSES;
    for (int i = 0; i < FEATURES; ++i) {
        const int32_t v = t->centre[label][i] + rng_int(&t->rng, -25, 25);
        x[i] = (int8_t)(v > 127 ? 127 : (v < -128 ? -128 : v));
    }
    return label;
}

typedef struct fixture {
    uint8_t *bytes;
    size_t size;
    tl_model model;
    uint8_t arena[256] __attribute__((aligned(16)));
    tl_interp it;
    float work[4096];
} fixture;

static void fixture_open(fixture *f, uint32_t seed)
{
    assert_int_equal(head_model_bytes(seed, FEATURES, CLASSES, &f->bytes, &f->size), 0);
    assert_int_equal(tl_model_load(&f->model, f->bytes, f->size, 0), TL_OK);
    assert_int_equal(tl_interp_init(&f->it, &f->model, f->arena, sizeof f->arena), TL_OK);
}

/* The class an int8 model picks for features x (the model's input is the features). */
static uint32_t model_predicts(const tl_model *m, const int8_t *x)
{
    uint8_t arena[256] __attribute__((aligned(16)));
    tl_interp it;
    assert_int_equal(tl_interp_init(&it, m, arena, sizeof arena), TL_OK);
    memcpy(tl_interp_input(&it, 0, NULL), x, FEATURES);
    tl_exit_result r;
    assert_int_equal(tl_interp_run_to_exit(&it, 0, &r), TL_OK);
    return r.top_class;
}

/* Learns from `samples` samples of the task through the interpreter. */
static void learn(fixture *f, tl_learner *l, task *t, int samples)
{
    int8_t x[FEATURES];
    for (int i = 0; i < samples; ++i) {
        const uint32_t label = task_sample(t, x);
        memcpy(tl_interp_input(&f->it, 0, NULL), x, FEATURES);
        const int8_t *features = NULL;
        assert_int_equal(tl_learn_features(l, &f->it, &features), TL_OK);
        assert_memory_equal(features, x, FEATURES);
        assert_int_equal(tl_learn_add(l, features, label), TL_OK);
    }
}

static void learning_lifts_the_head_from_chance_to_near_perfect_and_the_int8_model_agrees(void **state)
{
    (void)state;
    fixture f;
    fixture_open(&f, 3);
    tl_learner l;
    assert_int_equal(tl_learn_init(&l, &f.model, f.work, sizeof f.work, NULL), TL_OK);
    assert_int_equal(l.head_op, 0);
    assert_int_equal(l.inputs, FEATURES);
    assert_int_equal(l.classes, CLASSES);
    task t;
    task_init(&t, 11);
    task probe = t; /* the same centres, its own noise */
    probe.rng.s ^= 0x5555;
    int8_t x[FEATURES];
    int shipped = 0;
    for (int i = 0; i < 400; ++i) {
        const uint32_t label = task_sample(&probe, x);
        shipped += model_predicts(&f.model, x) == label;
    }
    learn(&f, &l, &t, 200);
    assert_int_equal(l.samples, 200);
    static uint8_t adapted[4096] __attribute__((aligned(16)));
    uint32_t size = 0;
    assert_int_equal(tl_learn_write_model(&l, adapted, sizeof adapted, &size), TL_OK);
    assert_int_equal(size, f.size);
    tl_model m2;
    assert_int_equal(tl_model_load(&m2, adapted, size, 0), TL_OK); /* its digest checks */
    assert_int_equal(m2.trailer->signature_alg, TL_SIG_NONE);
    int float_hits = 0, int8_hits = 0, agree = 0;
    probe.rng.s ^= 0x1234;
    for (int i = 0; i < 400; ++i) {
        const uint32_t label = task_sample(&probe, x);
        const uint32_t a = tl_learn_predict(&l, x), b = model_predicts(&m2, x);
        float_hits += a == label;
        int8_hits += b == label;
        agree += a == b;
    }
    assert_true(shipped < 250);     /* random weights: far from the task */
    assert_true(float_hits >= 392); /* >= 98% */
    assert_true(int8_hits >= 388);
    assert_true(agree >= 388);
    free(f.bytes);
}

static void the_same_samples_give_the_same_bytes_and_the_delta_is_the_heads_change(void **state)
{
    (void)state;
    static uint8_t out[2][4096] __attribute__((aligned(16)));
    float delta[2][CLASSES * FEATURES + CLASSES];
    for (int run = 0; run < 2; ++run) {
        fixture f;
        fixture_open(&f, 5);
        tl_learner l;
        assert_int_equal(tl_learn_init(&l, &f.model, f.work, sizeof f.work, NULL), TL_OK);
        assert_int_equal(tl_learn_delta_count(&l), CLASSES * FEATURES + CLASSES);
        assert_int_equal(tl_learn_delta(&l, delta[run], tl_learn_delta_count(&l)), TL_OK);
        for (uint32_t i = 0; i < tl_learn_delta_count(&l); ++i) {
            assert_true(delta[run][i] == 0.0f); /* nothing learnt yet */
        }
        task t;
        task_init(&t, 21);
        learn(&f, &l, &t, 64);
        uint32_t size;
        assert_int_equal(tl_learn_write_model(&l, out[run], sizeof out[run], &size), TL_OK);
        assert_int_equal(tl_learn_delta(&l, delta[run], tl_learn_delta_count(&l)), TL_OK);
        float moved = 0.0f;
        for (uint32_t i = 0; i < tl_learn_delta_count(&l); ++i) {
            assert_true(delta[run][i] == l.weight[i] - l.weight0[i]);
            moved += delta[run][i] < 0 ? -delta[run][i] : delta[run][i];
        }
        assert_true(moved > 0.1f);
        /* Only the head's bytes and its trailer differ from the shipped model. */
        assert_memory_equal(out[run], f.bytes, 64);
        free(f.bytes);
    }
    assert_memory_equal(out[0], out[1], sizeof out[0]);
    assert_memory_equal(delta[0], delta[1], sizeof delta[0]);
}

static void a_backbone_runs_before_the_head_of_the_tiny_model(void **state)
{
    (void)state;
    uint8_t *bytes;
    size_t size;
    assert_int_equal(tiny_model_bytes(7, &bytes, &size), 0);
    tl_model m;
    assert_int_equal(tl_model_load(&m, bytes, size, 0), TL_OK);
    static uint8_t arena[8192] __attribute__((aligned(16)));
    tl_interp it;
    assert_int_equal(tl_interp_init(&it, &m, arena, sizeof arena), TL_OK);
    static float work[8192];
    tl_learner l;
    assert_true(tl_learn_work_size(&m, NULL) > 0);
    assert_true(tl_learn_work_size(&m, NULL) <= sizeof work);
    assert_int_equal(tl_learn_init(&l, &m, work, sizeof work, NULL), TL_OK);
    /* The last exit's head: the FULLY_CONNECTED of exit 1, over 16 features. */
    assert_int_equal(m.ops[l.head_op].opcode, TL_OP_FULLY_CONNECTED);
    assert_int_equal(l.inputs, 16);
    assert_int_equal(l.classes, 5);
    int8_t *in = tl_interp_input(&it, 0, NULL);
    for (int i = 0; i < 8 * 8 * 3; ++i) {
        in[i] = (int8_t)(i * 37);
    }
    const int8_t *features = NULL;
    assert_int_equal(tl_learn_features(&l, &it, &features), TL_OK);
    assert_int_equal(it.next_op, l.head_op);
    int8_t copy[16];
    memcpy(copy, features, sizeof copy);
    /* The shipped head, read into float, predicts what the int8 model does. */
    tl_exit_result r;
    assert_int_equal(tl_interp_run_to_exit(&it, 1, &r), TL_OK);
    assert_int_equal(tl_learn_predict(&l, copy), r.top_class);
    free(bytes);
}

static void bad_calls_are_refused(void **state)
{
    (void)state;
    fixture f;
    fixture_open(&f, 9);
    tl_learner l;
    const size_t need = tl_learn_work_size(&f.model, NULL);
    assert_true(need > 0);
    assert_int_equal(tl_learn_init(&l, &f.model, f.work, need - 1, NULL), TL_ERR_ARENA);
    assert_int_equal(tl_learn_init(&l, &f.model, (uint8_t *)f.work + 1, need, NULL), TL_ERR_ARG);
    tl_learn_config bad = tl_learn_defaults();
    bad.learning_rate = 0.0f;
    assert_int_equal(tl_learn_init(&l, &f.model, f.work, sizeof f.work, &bad), TL_ERR_ARG);
    bad = tl_learn_defaults();
    bad.memory = 0; /* replay needs a memory */
    assert_int_equal(tl_learn_init(&l, &f.model, f.work, sizeof f.work, &bad), TL_ERR_ARG);
    bad.replay = 0;
    assert_int_equal(tl_learn_init(&l, &f.model, f.work, sizeof f.work, &bad), TL_OK);
    assert_int_equal(tl_learn_init(&l, &f.model, f.work, sizeof f.work, NULL), TL_OK);
    const int8_t x[FEATURES] = { 0 };
    assert_int_equal(tl_learn_add(&l, x, CLASSES), TL_ERR_ARG);
    assert_int_equal(l.samples, 0);
    static uint8_t out[4096] __attribute__((aligned(16)));
    uint32_t size = 0;
    assert_int_equal(tl_learn_write_model(&l, out, f.size - 1, &size), TL_ERR_ARENA);
    assert_int_equal(tl_learn_write_model(&l, out + 1, sizeof out - 1, &size), TL_ERR_ARG);
    float delta[4];
    assert_int_equal(tl_learn_delta(&l, delta, 4), TL_ERR_ARG);
    free(f.bytes);

    /* The tiny model cut at exit 0, whose head has sparse weights: not trainable. */
    tl_graph g;
    assert_int_equal(tiny_model_build(&g, 7, NULL), 0);
    assert_int_equal(tl_graph_truncate_at_exit(&g, 0), TL_OK);
    uint8_t *cut;
    size_t cut_size;
    assert_int_equal(tl_graph_serialize(&g, &cut, &cut_size), TL_OK);
    tl_graph_free(&g);
    tl_model m;
    assert_int_equal(tl_model_load(&m, cut, cut_size, 0), TL_OK);
    assert_int_equal(m.header->exit_count, 1);
    assert_int_equal(tl_learn_work_size(&m, NULL), 0);
    assert_int_equal(tl_learn_init(&l, &m, f.work, sizeof f.work, NULL), TL_ERR_UNSUPPORTED);
    free(cut);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(learning_lifts_the_head_from_chance_to_near_perfect_and_the_int8_model_agrees),
        cmocka_unit_test(the_same_samples_give_the_same_bytes_and_the_delta_is_the_heads_change),
        cmocka_unit_test(a_backbone_runs_before_the_head_of_the_tiny_model),
        cmocka_unit_test(bad_calls_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
