/* test_infer.c - the edge's inference service (infer.h): answers equal a
 * forward pass of the same checkpoint one input at a time, requests that
 * arrive together share batches, a full queue refuses, a bad checkpoint is
 * named; and the device's offload policy (offload.h). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "tinylarge/infer.h"
#include "tinylarge/large.h"
#include "tinylarge/offload.h"

enum { H = 16, W = 16, CLASSES = 3, REQUESTS = 40 };

static char checkpoint[64];

/* A student-tiny at its initial weights, as a checkpoint. */
static int make_checkpoint(void **state)
{
    (void)state;
    snprintf(checkpoint, sizeof checkpoint, "/tmp/tl_infer_%d.tlc", (int)getpid());
    tl_net net;
    assert_int_equal(tl_net_build_arch(&net, "student-tiny", H, W, 1, CLASSES), TL_OK);
    assert_int_equal(tl_net_finalize(&net, 1, 7), TL_OK);
    tl_checkpoint_info info;
    memset(&info, 0, sizeof info);
    snprintf(info.arch, sizeof info.arch, "student-tiny");
    info.h = H;
    info.w = W;
    info.c = 1;
    info.classes = CLASSES;
    info.mean = 0.3f;
    info.std = 0.35f;
    assert_int_equal(tl_checkpoint_save(checkpoint, &net, NULL, &info), TL_OK);
    tl_net_free(&net);
    return 0;
}

static int remove_checkpoint(void **state)
{
    (void)state;
    remove(checkpoint);
    return 0;
}

static void input_of(int r, int8_t *x)
{
    for (int i = 0; i < H * W; ++i) {
        x[i] = (int8_t)(((r * 37 + i * 11) % 256) - 128);
    }
}

/* The label a single forward pass gives, as the service should. */
static int direct_label(tl_net *net, const tl_checkpoint_info *info, int r, float *p)
{
    int8_t x8[H * W];
    float x[H * W];
    input_of(r, x8);
    for (int i = 0; i < H * W; ++i) {
        x[i] = ((float)(x8[i] + 128) / 255.0f - info->mean) / info->std;
    }
    tl_net_forward(net, x, 1);
    const float *logits = net->nodes[net->exits[net->exit_count - 1]].out;
    int best = 0;
    float sum = 0.0f;
    for (int k = 1; k < CLASSES; ++k) {
        best = logits[k] > logits[best] ? k : best;
    }
    for (int k = 0; k < CLASSES; ++k) {
        p[k] = expf(logits[k] - logits[best]);
        sum += p[k];
    }
    for (int k = 0; k < CLASSES; ++k) {
        p[k] /= sum;
    }
    return best;
}

typedef struct answers {
    int label[REQUESTS];
    float p[REQUESTS][CLASSES];
    int count;
} answers;

static void keep(void *ctx, void *tag, int label, const float *p)
{
    answers *a = ctx;
    const int r = (int)(intptr_t)tag;
    a->label[r] = label;
    memcpy(a->p[r], p, sizeof(float) * CLASSES);
    a->count++;
}

static void wait_for_all(tl_infer_service *s, answers *a, int want)
{
    for (int spins = 0; a->count < want && spins < 20000; ++spins) {
        tl_infer_collect(s, keep, a);
        const struct timespec t = { 0, 1000000 };
        nanosleep(&t, NULL);
    }
    assert_int_equal(a->count, want);
}

static void answers_equal_a_forward_pass_of_the_same_model_and_requests_share_batches(void **state)
{
    (void)state;
    char error[256] = "";
    tl_infer_service *s = NULL;
    const tl_infer_options o = { checkpoint, 16, 0.05, 0 };
    assert_int_equal(tl_infer_open(&o, &s, error, sizeof error), TL_OK);
    assert_int_equal(tl_infer_input_size(s), H * W);
    assert_int_equal(tl_infer_classes(s), CLASSES);
    int8_t x[H * W];
    for (int r = 0; r < REQUESTS; ++r) {
        input_of(r, x);
        assert_int_equal(tl_infer_submit(s, x, (void *)(intptr_t)r), TL_OK);
    }
    answers a;
    memset(&a, 0, sizeof a);
    wait_for_all(s, &a, REQUESTS);
    assert_int_equal(tl_infer_pending(s), 0);
    long batches = 0, requests = 0;
    tl_infer_counts(s, &batches, &requests);
    assert_int_equal(requests, REQUESTS);
    assert_true(batches >= 3 && batches < REQUESTS); /* 40 queued at once: batches of up to 16 */
    tl_net net;
    tl_checkpoint_info info;
    assert_int_equal(tl_checkpoint_load(checkpoint, 1, &net, NULL, &info, error, sizeof error), TL_OK);
    net.training = 0;
    for (int r = 0; r < REQUESTS; ++r) {
        float p[CLASSES];
        assert_int_equal(a.label[r], direct_label(&net, &info, r, p));
        for (int k = 0; k < CLASSES; ++k) {
            assert_true(fabsf(a.p[r][k] - p[k]) < 1e-5f);
        }
    }
    tl_net_free(&net);
    tl_infer_close(s);
}

static void a_full_queue_refuses_and_a_bad_checkpoint_is_named(void **state)
{
    (void)state;
    char error[256] = "";
    tl_infer_service *s = NULL;
    /* A long wait keeps the first batch queued while the queue fills. */
    const tl_infer_options o = { checkpoint, 4, 0.5, 4 };
    assert_int_equal(tl_infer_open(&o, &s, error, sizeof error), TL_OK);
    int8_t x[H * W];
    input_of(0, x);
    for (int r = 0; r < 4; ++r) {
        assert_int_equal(tl_infer_submit(s, x, (void *)(intptr_t)r), TL_OK);
    }
    assert_int_equal(tl_infer_submit(s, x, (void *)(intptr_t)4), TL_ERR_ARENA);
    answers a;
    memset(&a, 0, sizeof a);
    wait_for_all(s, &a, 4);
    assert_int_equal(tl_infer_submit(s, x, (void *)(intptr_t)4), TL_OK); /* room again once collected */
    wait_for_all(s, &a, 5);
    tl_infer_close(s);
    const tl_infer_options bad = { "/nonexistent/teacher.tlc", 4, 0.001, 0 };
    assert_int_not_equal(tl_infer_open(&bad, &s, error, sizeof error), TL_OK);
    assert_null(s);
    assert_non_null(strstr(error, "/nonexistent/teacher.tlc"));
}

static void the_cascade_offloads_its_target_share_and_less_as_the_round_trip_nears_the_deadline(void **state)
{
    (void)state;
    tl_offload_policy p;
    tl_offload_policy_init(&p, 0.5f, 0.1, 0.2);
    assert_int_equal(tl_offload_decide(&p, 0.49f), 1); /* a fixed threshold: below it goes */
    assert_int_equal(tl_offload_decide(&p, 0.51f), 0);
    tl_offload_policy_init(&p, -1.0f, 0.1, 0.2);
    int sent = 0;
    for (int i = 0; i < 10000; ++i) { /* confidences spread evenly over [0, 1) */
        sent += tl_offload_decide(&p, (float)((i * 7919) % 10000) / 10000.0f);
    }
    assert_true(sent > 850 && sent < 1150); /* about the target 10% */
    assert_true(fabs(tl_offload_share(&p) - 0.1) < 1e-9); /* no round trip measured yet */
    tl_offload_observe(&p, 0.05, 1); /* a fast edge: the whole target */
    assert_true(fabs(tl_offload_share(&p) - 0.1) < 1e-9);
    for (int i = 0; i < 50; ++i) {
        tl_offload_observe(&p, 0.4, 1); /* twice the deadline: a slow link or a loaded edge */
    }
    assert_true(tl_offload_share(&p) < 0.03);
    sent = 0;
    for (int i = 0; i < 10000; ++i) {
        sent += tl_offload_decide(&p, (float)((i * 7919) % 10000) / 10000.0f);
    }
    assert_true(sent < 500); /* it offloads less */
    tl_offload_policy_init(&p, -1.0f, 0.1, 0.2);
    tl_offload_observe(&p, 0.0, 0); /* a lost answer counts as the whole deadline */
    assert_true(fabs(p.rtt_s - 0.2) < 1e-9);
    assert_int_equal(p.answered, 0);
}

/* A softmax exit's int8 probabilities as TFLite writes them: p = (q + 128) / 256. */
static void confidence_is_the_top_probability_the_margin_or_one_less_the_normalised_entropy(void **state)
{
    (void)state;
    const int32_t zp = -128;
    const uint32_t scale_q24 = 1u << 16;
    const int8_t half_quarter_quarter[3] = { -64, 0, -64 }; /* 0.25, 0.5, 0.25 */
    assert_true(fabsf(tl_offload_confidence(TL_CONFIDENCE_TOP1, half_quarter_quarter, 3, zp, scale_q24) - 0.5f) < 1e-6f);
    assert_true(fabsf(tl_offload_confidence(TL_CONFIDENCE_MARGIN, half_quarter_quarter, 3, zp, scale_q24) - 0.25f) <
                1e-6f);
    const double h = -(0.5 * log(0.5) + 2 * 0.25 * log(0.25));
    assert_true(fabs(tl_offload_confidence(TL_CONFIDENCE_ENTROPY, half_quarter_quarter, 3, zp, scale_q24) -
                     (1.0 - h / log(3.0))) < 1e-6);
    const int8_t even[2] = { 0, 0 }; /* 0.5, 0.5: no idea at all */
    assert_true(tl_offload_confidence(TL_CONFIDENCE_MARGIN, even, 2, zp, scale_q24) == 0.0f);
    assert_true(fabsf(tl_offload_confidence(TL_CONFIDENCE_ENTROPY, even, 2, zp, scale_q24)) < 1e-6f);
    const int8_t sure[3] = { 127, -128, -128 }; /* 255/256, 0, 0 */
    assert_true(tl_offload_confidence(TL_CONFIDENCE_ENTROPY, sure, 3, zp, scale_q24) > 0.97f);
    assert_true(tl_offload_confidence(TL_CONFIDENCE_MARGIN, sure, 3, zp, scale_q24) > 0.99f);
    tl_confidence_measure m;
    assert_int_equal(tl_confidence_measure_parse("entropy", &m), TL_OK);
    assert_int_equal(m, TL_CONFIDENCE_ENTROPY);
    assert_int_equal(tl_confidence_measure_parse("margin", &m), TL_OK);
    assert_int_equal(m, TL_CONFIDENCE_MARGIN);
    assert_int_equal(tl_confidence_measure_parse("votes", &m), TL_ERR_ARG);
    assert_int_equal(tl_confidence_measure_parse(NULL, &m), TL_ERR_ARG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(answers_equal_a_forward_pass_of_the_same_model_and_requests_share_batches),
        cmocka_unit_test(a_full_queue_refuses_and_a_bad_checkpoint_is_named),
        cmocka_unit_test(the_cascade_offloads_its_target_share_and_less_as_the_round_trip_nears_the_deadline),
        cmocka_unit_test(confidence_is_the_top_probability_the_margin_or_one_less_the_normalised_entropy),
    };
    return cmocka_run_group_tests(tests, make_checkpoint, remove_checkpoint);
}
