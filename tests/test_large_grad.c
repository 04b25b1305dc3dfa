/* test_large_grad.c - the training engine's arithmetic.
 *
 * Every layer's backward pass is checked against finite differences of the
 * loss: a small network with that layer in the middle, every parameter's
 * analytic gradient compared with (L(p + e) - L(p - e)) / 2e. Because the
 * layer sits between two trained layers, a wrong input gradient shows up
 * in the earlier layer's parameters. Also: forward values worked by hand,
 * the losses' gradients, optimiser steps and learning-rate schedules.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "conv_direct.h"
#include "test_util.h"
#include "tinylarge/large.h"

enum { BATCH = 3, CLASSES = 4 };

static float loss_of(tl_net *net, const float *x, const uint8_t *labels, uint64_t rng, float *dlogits)
{
    net->rng = rng; /* the same dropout mask every time */
    tl_net_forward(net, x, BATCH);
    const tl_node *out = &net->nodes[net->exits[0]];
    return tl_softmax_cross_entropy(out->out, labels, BATCH, CLASSES, 1.0f, dlogits, NULL);
}

/* Column-buffer budget for the convolutions (0: the default, one chunk). */
static size_t im2col_floats;
/* Width of the direct kernels the checked net uses (-1: finalize's choice). */
static int direct_lanes = -1;

/* Builds input(6x6x3) -> conv3x3(5) -> [layer under test] -> gap -> dense. */
typedef int (*add_layer)(tl_net *net, int x);

static void gradient_check(add_layer layer, const char *what)
{
    tl_net net;
    assert_int_equal(tl_net_init(&net, 6, 6, 3), TL_OK);
    int x = tl_net_conv(&net, 0, 5, 3, 1, 1);
    x = layer(&net, x);
    assert_true(x > 0);
    const int logits = tl_net_dense(&net, tl_net_global_avgpool(&net, x), CLASSES);
    assert_int_equal(tl_net_add_exit(&net, logits, 1.0f), TL_OK);
    net.im2col_floats = im2col_floats;
    assert_int_equal(tl_net_finalize(&net, BATCH, 7), TL_OK);
    if (direct_lanes >= 0) {
        net.conv_direct = direct_lanes;
    }
    test_rng r = { 3 };
    float x_in[BATCH * 6 * 6 * 3];
    for (size_t i = 0; i < sizeof x_in / sizeof x_in[0]; ++i) {
        x_in[i] = rng_float(&r, -1, 1);
    }
    for (size_t i = 0; i < net.param_count; ++i) {
        net.params[i] += rng_float(&r, -0.05f, 0.05f); /* biases and betas off zero */
    }
    const uint8_t labels[BATCH] = { 1, 3, 0 };
    const uint64_t rng = 12345;
    tl_net_zero_grads(&net);
    loss_of(&net, x_in, labels, rng, net.nodes[logits].dout);
    tl_net_backward(&net, BATCH);
    float *analytic = malloc(net.param_count * sizeof(float));
    memcpy(analytic, net.grads, net.param_count * sizeof(float));
    const float eps = 2e-3f;
    int checked = 0, bad = 0;
    for (size_t i = 0; i < net.param_count; i += 1 + net.param_count / 150) {
        const float keep = net.params[i];
        net.params[i] = keep + eps;
        const float up = loss_of(&net, x_in, labels, rng, NULL);
        net.params[i] = keep - eps;
        const float down = loss_of(&net, x_in, labels, rng, NULL);
        net.params[i] = keep;
        const float numeric = (up - down) / (2 * eps);
        const float err = fabsf(numeric - analytic[i]);
        if (err > 2e-3f + 3e-2f * fmaxf(fabsf(numeric), fabsf(analytic[i]))) {
            ++bad;
            print_message("%s: parameter %zu analytic %g numeric %g\n", what, i, (double)analytic[i],
                          (double)numeric);
        }
        ++checked;
    }
    assert_true(checked > 20);
    assert_int_equal(bad, 0);
    free(analytic);
    tl_net_free(&net);
}

static int l_conv_same(tl_net *n, int x) { return tl_net_conv(n, x, 4, 3, 1, 1); }
static int l_conv_stride2(tl_net *n, int x) { return tl_net_conv(n, x, 4, 3, 2, 0); }
static int l_conv_1x1(tl_net *n, int x) { return tl_net_conv(n, x, 6, 1, 1, 1); }
/* 16 output channels: the direct kernels' forward and filter gradient;
 * the second convolution (16 inputs) also their input gradient. */
static int l_conv_direct(tl_net *n, int x) { return tl_net_conv(n, tl_net_conv(n, x, 16, 3, 1, 1), 16, 3, 1, 1); }
static int l_dwconv(tl_net *n, int x) { return tl_net_dwconv(n, x, 3, 2, 1); }
static int l_dense(tl_net *n, int x) { return tl_net_dense(n, x, 7); }
static int l_batchnorm(tl_net *n, int x) { return tl_net_batchnorm(n, x); }
static int l_relu(tl_net *n, int x) { return tl_net_relu(n, x); }
static int l_relu6(tl_net *n, int x) { return tl_net_relu6(n, tl_net_conv(n, x, 4, 1, 1, 1)); }
static int l_maxpool(tl_net *n, int x) { return tl_net_maxpool(n, x, 2, 2); }
static int l_avgpool(tl_net *n, int x) { return tl_net_avgpool(n, x, 3, 1); }
static int l_residual(tl_net *n, int x) { return tl_net_add(n, x, tl_net_conv(n, x, 5, 3, 1, 1)); }
static int l_dropout(tl_net *n, int x) { return tl_net_dropout(n, x, 0.3f); }

static void test_gradients_conv(void **s) { (void)s; gradient_check(l_conv_same, "conv SAME"); gradient_check(l_conv_stride2, "conv stride 2 VALID"); gradient_check(l_conv_1x1, "conv 1x1"); }
/* Chunks of 5 output pixels for the layer under test (45 columns) and 8
 * for the stem (27): chunks start and end inside images (36 pixels each). */
static void test_gradients_conv_chunked(void **s)
{
    (void)s;
    im2col_floats = 5 * 45;
    gradient_check(l_conv_same, "conv SAME, chunks across images");
    gradient_check(l_conv_stride2, "conv stride 2, chunks across images");
    im2col_floats = 0;
}
/* The widths of direct kernels this CPU runs, widest first (an AVX-512
 * CPU also runs the AVX2 ones); returns how many. */
static int direct_widths(int widths[2])
{
    const int widest = tl_conv_direct_available();
    int count = 0;
    if (widest >= 16) {
        widths[count++] = 16;
    }
    if (widest >= 8) {
        widths[count++] = 8;
    }
    return count;
}

static void test_gradients_conv_direct(void **s)
{
    (void)s;
    int widths[2];
    const int count = direct_widths(widths);
    if (count == 0) {
        print_message("this CPU has no direct convolution kernels (AVX2 or AVX-512); im2col covers every "
                      "convolution\n");
        skip();
    }
    for (int i = 0; i < count; ++i) {
        direct_lanes = widths[i];
        gradient_check(l_conv_direct, widths[i] == 16 ? "conv 16 channels, AVX-512 kernels"
                                                      : "conv 16 channels, AVX2 kernels");
    }
    direct_lanes = -1;
}

/* The direct kernels of every width the CPU runs against im2col + GEMM on
 * the same network, covering every register-block shape: pixel blocks
 * (rows of 15 and 11 = AVX-512 7+7+1 and 7+4, AVX2 4+4+4+3 and 4+4+3),
 * output-channel blocks (AVX-512: 16/48/32/80 = 1/3/2/3+2 vectors, 24 and
 * 8 left to im2col; AVX2: 16/48/24/8/32/80 = 2/3+3/3/1/2+2/3+3+2+2),
 * input channels (6 = one 4-block and 2 single channels of the AVX2
 * filter gradient, 6 singles of AVX-512's) and a 5x5 VALID window. */
static void test_conv_direct_matches_im2col(void **state)
{
    (void)state;
    int widths[2];
    const int count = direct_widths(widths);
    if (count == 0) {
        skip();
    }
    enum { B = 2 };
    tl_net net;
    assert_int_equal(tl_net_init(&net, 15, 15, 6), TL_OK);
    int x = tl_net_conv(&net, 0, 16, 3, 1, 1);
    x = tl_net_relu(&net, tl_net_conv(&net, x, 48, 3, 1, 1));
    x = tl_net_conv(&net, x, 24, 3, 1, 1);
    x = tl_net_conv(&net, x, 8, 3, 1, 1);
    x = tl_net_conv(&net, x, 32, 5, 1, 0);
    x = tl_net_conv(&net, x, 80, 3, 1, 1);
    const int logits = tl_net_dense(&net, tl_net_global_avgpool(&net, x), CLASSES);
    assert_int_equal(tl_net_add_exit(&net, logits, 1.0f), TL_OK);
    assert_int_equal(tl_net_finalize(&net, B, 5), TL_OK);
    assert_int_equal(net.conv_direct, widths[0]);
    test_rng r = { 11 };
    float in[B * 15 * 15 * 6];
    for (size_t i = 0; i < sizeof in / sizeof in[0]; ++i) {
        in[i] = rng_float(&r, -1, 1);
    }
    const uint8_t labels[B] = { 2, 1 };
    /* Run 0: im2col; runs 1..count: each width of direct kernels. */
    float *grads[3], logit_values[3][B * CLASSES];
    for (int run = 0; run <= count; ++run) {
        net.conv_direct = run == 0 ? 0 : widths[run - 1];
        for (int i = 0; i < net.count; ++i) { /* nothing left over from the other run */
            const size_t size = (size_t)B * net.nodes[i].h * net.nodes[i].w * net.nodes[i].c;
            for (size_t j = 0; j < size; ++j) {
                net.nodes[i].out[j] = net.nodes[i].dout[j] = NAN;
            }
        }
        tl_net_zero_grads(&net);
        tl_net_forward(&net, in, B);
        memcpy(logit_values[run], net.nodes[logits].out, sizeof logit_values[0]);
        tl_softmax_cross_entropy(net.nodes[logits].out, labels, B, CLASSES, 1.0f, net.nodes[logits].dout, NULL);
        tl_net_backward(&net, B);
        grads[run] = malloc(net.param_count * sizeof(float));
        memcpy(grads[run], net.grads, net.param_count * sizeof(float));
    }
    for (int run = 1; run <= count; ++run) {
        for (int i = 0; i < B * CLASSES; ++i) {
            assert_true(fabsf(logit_values[0][i] - logit_values[run][i]) < 1e-4f * (1 + fabsf(logit_values[0][i])));
        }
        float worst = 0, largest = 0;
        for (size_t i = 0; i < net.param_count; ++i) {
            worst = fmaxf(worst, fabsf(grads[0][i] - grads[run][i]));
            largest = fmaxf(largest, fabsf(grads[0][i]));
        }
        assert_true(largest > 0);
        assert_true(worst <= 1e-4f * largest);
    }
    for (int run = 0; run <= count; ++run) {
        free(grads[run]);
    }
    tl_net_free(&net);
}

/* The kernels' filter packing: blocks of output channels as the kernels
 * take them (3 vectors at a time, 4 = 2 + 2), each [rows][its channels],
 * one after another; every (channel, row) lands on its own place. */
static void test_conv_direct_filter_packing(void **state)
{
    (void)state;
    static const struct {
        int lanes, oc, blocks[3];
    } cases[] = {
        { 16, 16, { 16 } }, { 16, 48, { 48 } },     { 16, 64, { 32, 32 } }, { 16, 80, { 48, 32 } },
        { 16, 96, { 48, 48 } }, { 8, 8, { 8 } },   { 8, 16, { 16 } },      { 8, 24, { 24 } },
        { 8, 32, { 16, 16 } }, { 8, 40, { 24, 16 } }, { 8, 64, { 24, 24, 16 } },
    };
    enum { ROWS = 5 };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; ++k) {
        const int oc = cases[k].oc;
        unsigned char seen[96 * ROWS] = { 0 };
        int c0 = 0;
        for (int b = 0; b < 3 && cases[k].blocks[b]; c0 += cases[k].blocks[b++]) {
            for (int o = c0; o < c0 + cases[k].blocks[b]; ++o) {
                size_t first, stride;
                tl_conv_direct_filter_column(cases[k].lanes, oc, ROWS, o, &first, &stride);
                assert_int_equal(stride, cases[k].blocks[b]);
                assert_int_equal(first, (size_t)c0 * ROWS + (size_t)(o - c0));
                for (size_t r = 0; r < ROWS; ++r) {
                    assert_true(first + r * stride < (size_t)oc * ROWS);
                    assert_int_equal(seen[first + r * stride]++, 0);
                }
            }
        }
        assert_int_equal(c0, oc);
    }
}

static void test_gradients_dwconv(void **s) { (void)s; gradient_check(l_dwconv, "depthwise stride 2"); }
static void test_gradients_dense(void **s) { (void)s; gradient_check(l_dense, "dense"); }
static void test_gradients_batchnorm(void **s) { (void)s; gradient_check(l_batchnorm, "batchnorm"); }
static void test_gradients_activations(void **s) { (void)s; gradient_check(l_relu, "relu"); gradient_check(l_relu6, "relu6"); }
static void test_gradients_pooling(void **s) { (void)s; gradient_check(l_maxpool, "maxpool"); gradient_check(l_avgpool, "avgpool"); }
static void test_gradients_residual(void **s) { (void)s; gradient_check(l_residual, "residual add"); }
static void test_gradients_dropout(void **s) { (void)s; gradient_check(l_dropout, "dropout"); }

/* A loss and each of its n gradient values are finite numbers. */
static void assert_all_finite(float loss, const float *d, int n)
{
    assert_true(isfinite(loss));
    for (int k = 0; k < n; ++k) {
        assert_true(isfinite(d[k]));
    }
}

/* Loss `kind` (0 cross-entropy, 1 Hinton's distillation, 2 the decoupled
 * one, 3 the z-scored one, 4 the correlation one) of two samples of five
 * classes. */
static float logit_loss(int kind, const float *s, const float *t, const uint8_t *labels, float scale, float *d)
{
    return kind == 0   ? tl_softmax_cross_entropy(s, labels, 2, 5, scale, d, NULL)
           : kind == 1 ? tl_distillation_loss(s, t, labels, 2, 5, 4.0f, 0.7f, scale, d, NULL)
           : kind == 2 ? tl_decoupled_distillation_loss(s, t, labels, 2, 5, 4.0f, 1.0f, 8.0f, scale, d, NULL)
           : kind == 3 ? tl_zscore_distillation_loss(s, t, labels, 2, 5, 2.0f, 0.7f, 3.0f, scale, d, NULL)
                       : tl_pearson_distillation_loss(s, t, labels, 2, 5, 2.0f, 0.5f, 2.0f, scale, d, NULL);
}

static void test_loss_gradients(void **state)
{
    (void)state;
    test_rng r = { 9 };
    float s[2 * 5], t[2 * 5], d[2 * 5];
    const uint8_t labels[2] = { 4, 1 };
    for (int i = 0; i < 10; ++i) {
        s[i] = rng_float(&r, -3, 3);
        t[i] = rng_float(&r, -3, 3);
    }
    for (int kind = 0; kind < 5; ++kind) {
        logit_loss(kind, s, t, labels, 0.5f, d);
        for (int i = 0; i < 10; ++i) {
            const float keep = s[i], e = 1e-3f;
            s[i] = keep + e;
            const float up = logit_loss(kind, s, t, labels, 1, NULL);
            s[i] = keep - e;
            const float down = logit_loss(kind, s, t, labels, 1, NULL);
            s[i] = keep;
            assert_true(fabsf(0.5f * (up - down) / (2 * e) - d[i]) < 2e-3f);
        }
    }
    /* Known values: uniform logits give log(classes); a student equal to
     * its teacher with alpha = 1 has zero distillation loss. */
    const float zero[4] = { 0 };
    const uint8_t one = 2;
    int correct = -1;
    assert_true(fabsf(tl_softmax_cross_entropy(zero, &one, 1, 4, 1, NULL, &correct) - logf(4)) < 1e-6f);
    assert_true(fabsf(tl_distillation_loss(s, s, labels, 2, 5, 3.0f, 1.0f, 1, NULL, NULL)) < 1e-6f);
    /* The decoupled loss of a student equal to its teacher is the
     * cross-entropy alone, whatever the weights. */
    const float ce = tl_softmax_cross_entropy(s, labels, 2, 5, 1, NULL, NULL);
    assert_true(fabsf(tl_decoupled_distillation_loss(s, s, labels, 2, 5, 4.0f, 1.0f, 8.0f, 1, NULL, NULL) - ce) <
                1e-5f);
    /* Hinton's KL term is TCKD + (1 - q_t) NCKD (Zhao et al. 2022, eq. 7):
     * with alpha 1 and beta 1 - q_t the decoupled loss minus its
     * cross-entropy is T^2 KL, which Hinton's loss gives at alpha 1. */
    double q[5], sum = 0;
    for (int k = 0; k < 5; ++k) {
        sum += q[k] = exp(t[k] / 4.0);
    }
    const float q_target = (float)(q[labels[0]] / sum);
    const float dkd = tl_decoupled_distillation_loss(s, t, labels, 1, 5, 4.0f, 1.0f, 1.0f - q_target, 1, NULL, NULL);
    const float ce0 = tl_softmax_cross_entropy(s, labels, 1, 5, 1, NULL, NULL);
    const float kl = tl_distillation_loss(s, t, labels, 1, 5, 4.0f, 1.0f, 1, NULL, NULL);
    assert_true(kl > 0.05f); /* the identity below is not 0 = 0 */
    assert_true(fabsf((dkd - ce0) - kl) < 1e-5f);
    /* A target-only teacher split (beta 0): TCKD by hand for one sample. */
    const float s1[2] = { 0, 0 }, t1[2] = { 4 * logf(3), 0 }; /* q = (3/4, 1/4) at T 4, p = (1/2, 1/2) */
    const uint8_t zero_label = 0;
    const double tckd = 0.75 * log(0.75 / 0.5) + 0.25 * log(0.25 / 0.5);
    const float got = tl_decoupled_distillation_loss(s1, t1, &zero_label, 1, 2, 4.0f, 1.0f, 0.0f, 1, NULL, NULL);
    assert_true(fabs(got - (log(2.0) + 16 * tckd)) < 1e-5);
    /* A student sure of the label (p_t = 1 - 1e-26 at T 4) still has a
     * finite log(1 - p_t): the loss and its gradient stay finite. */
    const float sure[3] = { 240, 0, 0 }, unsure_teacher[3] = { 1, 0.5f, 0 };
    float dsure[3];
    const float l_sure = tl_decoupled_distillation_loss(sure, unsure_teacher, &zero_label, 1, 3, 4.0f, 1.0f, 8.0f, 1,
                                                        dsure, NULL);
    assert_all_finite(l_sure, dsure, 3);
    assert_true(l_sure > 1.0f); /* TCKD is large: the teacher is far from sure */
    /* No non-target class: no decoupled loss. */
    assert_true(isnan(tl_decoupled_distillation_loss(s1, t1, &zero_label, 1, 1, 4.0f, 1.0f, 8.0f, 1, NULL, NULL)));

    /* The z-scored loss sees no scale or shift: a student 3 s + 5 of a
     * teacher s has no KL term left (the cross-entropy alone at alpha 0.7),
     * and its KL term's gradient sums to zero and is zero along the logits
     * themselves (moving along either changes no z-score). */
    float scaled[10], dz[10];
    for (int i = 0; i < 10; ++i) {
        scaled[i] = 3 * s[i] + 5;
    }
    const float ce_scaled = tl_softmax_cross_entropy(scaled, labels, 2, 5, 1, NULL, NULL);
    assert_true(fabsf(tl_zscore_distillation_loss(scaled, s, labels, 2, 5, 2.0f, 0.7f, 10.0f, 1, NULL, NULL) -
                      0.3f * ce_scaled) < 1e-5f);
    const float zkl = tl_zscore_distillation_loss(s, t, labels, 2, 5, 2.0f, 1.0f, 1.0f, 1, dz, NULL);
    assert_true(zkl > 0.05f);
    for (int b = 0; b < 2; ++b) {
        double along = 0, total = 0;
        for (int k = 0; k < 5; ++k) {
            total += dz[b * 5 + k];
            along += (double)dz[b * 5 + k] * s[b * 5 + k];
        }
        assert_true(fabs(total) < 1e-6 && fabs(along) < 1e-5);
    }
    /* By hand, one sample of two classes: two distinct logits z-score to
     * +-1 / sqrt 2 (std over n - 1), so at T 1 a teacher (1, 0) and a
     * student (-4, 6) are the softmaxes of (z, -z) and (-z, z): the loss is
     * weight * KL between those two. */
    const float up2[2] = { 1, 0 }, down2[2] = { -4, 6 };
    const double zz = 1 / sqrt(2.0), pu = 1 / (1 + exp(-2 * zz)), pd = 1 - pu;
    const double kl_opposite = pu * log(pu / pd) + pd * log(pd / pu);
    assert_true(fabs(tl_zscore_distillation_loss(down2, up2, &zero_label, 1, 2, 1.0f, 1.0f, 2.0f, 1, NULL, NULL) -
                     2 * kl_opposite) < 1e-5);
    /* Equal logits have no spread: z is all zeros, the loss stays finite. */
    const float flat[3] = { 2, 2, 2 };
    float dflat[3];
    assert_all_finite(tl_zscore_distillation_loss(flat, unsure_teacher, &zero_label, 1, 3, 2.0f, 0.7f, 10.0f, 1,
                                                  dflat, NULL), dflat, 3);
    assert_true(isnan(tl_zscore_distillation_loss(s1, t1, &zero_label, 1, 1, 2.0f, 0.7f, 10.0f, 1, NULL, NULL)));

    /* The correlation loss: none between a row and itself (the CE alone),
     * the most, 2 w T^2, against its mirror image about the uniform: at T 1
     * a teacher (log 3, 0) has softmax (3/4, 1/4), a student (0, log 3)
     * (1/4, 3/4), correlation -1. A uniform student stays finite. */
    assert_true(fabsf(tl_pearson_distillation_loss(s, s, labels, 2, 5, 4.0f, 0.5f, 2.0f, 1, NULL, NULL) -
                      0.5f * ce) < 1e-5f);
    const float teach2[2] = { logf(3), 0 }, mirror2[2] = { 0, logf(3) };
    assert_true(fabsf(tl_pearson_distillation_loss(mirror2, teach2, &zero_label, 1, 2, 1.0f, 1.0f, 3.0f, 1, NULL,
                                                   NULL) - 6.0f) < 1e-5f);
    assert_all_finite(tl_pearson_distillation_loss(flat, unsure_teacher, &zero_label, 1, 3, 4.0f, 0.5f, 2.0f, 1,
                                                   dflat, NULL), dflat, 3);
    /* Nor does a student a hair from uniform get a gradient of 1 / hair:
     * only the cross-entropy's, each value within (1 - alpha). */
    const float hair[3] = { 0, 1e-6f, 0 };
    tl_pearson_distillation_loss(hair, unsure_teacher, &zero_label, 1, 3, 4.0f, 0.5f, 2.0f, 1, dflat, NULL);
    for (int k = 0; k < 3; ++k) {
        assert_true(fabsf(dflat[k]) <= 0.5f);
    }
    assert_true(isnan(tl_pearson_distillation_loss(s1, t1, &zero_label, 1, 1, 4.0f, 0.5f, 2.0f, 1, NULL, NULL)));
    /* The training step's entry names its loss by kind; no other kind. */
    const tl_kd_params pearson = { TL_KD_PEARSON, 4.0f, 0.5f, 2.0f }, unknown = { (tl_kd_kind)9, 4.0f, 0.5f, 2.0f };
    assert_true(tl_kd_loss(&pearson, s, t, labels, 2, 5, 1, NULL, NULL) ==
                tl_pearson_distillation_loss(s, t, labels, 2, 5, 4.0f, 0.5f, 2.0f, 1, NULL, NULL));
    assert_true(isnan(tl_kd_loss(&unknown, s, t, labels, 2, 5, 1, NULL, NULL)));
}

/* Attention maps by hand: pixel activations (1, 1) and (2, 0) give mean
 * squares 1 and 2, scaled to unit length (1, 2) / sqrt 5; all zeros stay
 * zeros. The loss of a map against itself is 0, against another beta / 2
 * times the mean squared difference. */
static void test_attention_by_hand(void **state)
{
    (void)state;
    const float act[4] = { 1, 1, 2, 0 }, zeros[4] = { 0 };
    float q[2];
    assert_true(fabs(tl_attention_map(act, 2, 2, q) - sqrt(5.0)) < 1e-6);
    assert_true(fabsf(q[0] - 1 / sqrtf(5)) < 1e-6f && fabsf(q[1] - 2 / sqrtf(5)) < 1e-6f);
    assert_true(tl_attention_map(zeros, 2, 2, q) == 0 && q[0] == 0 && q[1] == 0);
    const float same[2] = { 1 / sqrtf(5), 2 / sqrtf(5) }, other[2] = { 1, 0 };
    float d[4], scratch[2];
    assert_true(fabsf(tl_attention_loss(act, 1, 2, 2, same, 2, 1000, 1, d, scratch)) < 1e-6f);
    for (int i = 0; i < 4; ++i) {
        assert_true(fabsf(d[i]) < 1e-4f);
    }
    const float d0 = 1 / sqrtf(5) - 1, d1 = 2 / sqrtf(5);
    const float want = 1000.0f / 2 * (d0 * d0 + d1 * d1) / 2;
    assert_true(fabsf(tl_attention_loss(act, 1, 2, 2, other, 2, 1000, 1, NULL, scratch) - want) < 1e-3f * want);
}

/* The attention loss's gradient against finite differences: two samples of
 * 3 pixels x 4 channels, targets in rows 5 floats apart, scale 0.5. */
static void test_attention_gradient(void **state)
{
    (void)state;
    enum { N = 2, P = 3, C = 4, STRIDE = 5 };
    test_rng r = { 21 };
    float act[N * P * C], target[N * STRIDE], d[N * P * C], q[P];
    for (int i = 0; i < N * P * C; ++i) {
        act[i] = rng_float(&r, -1, 1);
    }
    for (int b = 0; b < N; ++b) {
        float raw[P * C];
        for (int i = 0; i < P * C; ++i) {
            raw[i] = rng_float(&r, -1, 1);
        }
        tl_attention_map(raw, P, C, target + b * STRIDE);
    }
    tl_attention_loss(act, N, P, C, target, STRIDE, 50, 0.5f, d, q);
    const float eps = 1e-3f;
    for (int i = 0; i < N * P * C; ++i) {
        const float keep = act[i];
        act[i] = keep + eps;
        const float up = tl_attention_loss(act, N, P, C, target, STRIDE, 50, 0.5f, NULL, q);
        act[i] = keep - eps;
        const float down = tl_attention_loss(act, N, P, C, target, STRIDE, 50, 0.5f, NULL, q);
        act[i] = keep;
        const float numeric = 0.5f * (up - down) / (2 * eps);
        assert_true(fabsf(numeric - d[i]) < 2e-3f + 2e-2f * fabsf(numeric));
    }
}

/* Where attention is matched: the last node of each size both networks
 * have (the student's stage outputs, the teacher's block outputs), in the
 * student's order; none shared is an error. */
static void test_attention_match(void **state)
{
    (void)state;
    tl_net student, teacher, tiny;
    assert_int_equal(tl_net_build_arch(&student, "student", 28, 28, 1, 10), TL_OK);
    assert_int_equal(tl_net_build_arch(&teacher, "teacher", 28, 28, 1, 10), TL_OK);
    assert_int_equal(tl_net_build_arch(&tiny, "student-tiny", 28, 28, 1, 10), TL_OK);
    tl_attention_points p;
    assert_int_equal(tl_attention_match(&student, &teacher, &p), TL_OK);
    assert_int_equal(p.count, 3);
    const int pixels[3] = { 784, 196, 49 };
    for (int k = 0; k < 3; ++k) {
        assert_int_equal(p.pixels[k], pixels[k]);
        assert_int_equal(student.nodes[p.student[k]].kind, TL_LAYER_RELU);
        assert_int_equal(teacher.nodes[p.teacher[k]].kind, TL_LAYER_RELU);
        assert_int_equal(student.nodes[p.student[k]].h * student.nodes[p.student[k]].w, pixels[k]);
        assert_int_equal(teacher.nodes[p.teacher[k]].h * teacher.nodes[p.teacher[k]].w, pixels[k]);
        /* the next node of the student changes the size (a pool or the head) */
        assert_int_not_equal(student.nodes[p.student[k] + 1].h, student.nodes[p.student[k]].h);
    }
    assert_int_equal(p.offset[1], 784);
    assert_int_equal(p.offset[2], 980);
    assert_int_equal(p.floats, 1029);
    /* student-tiny starts with a stride-2 convolution: 14x14 and 7x7 only */
    assert_int_equal(tl_attention_match(&tiny, &teacher, &p), TL_OK);
    assert_int_equal(p.count, 2);
    assert_int_equal(p.pixels[0], 196);
    assert_int_equal(p.floats, 245);
    tl_net flat;
    assert_int_equal(tl_net_init(&flat, 5, 5, 1), TL_OK);
    assert_true(tl_net_dense(&flat, tl_net_conv(&flat, 0, 4, 5, 1, 0), 10) > 0); /* 1x1 only */
    assert_int_equal(tl_attention_match(&flat, &teacher, &p), TL_ERR_SHAPE);
    tl_net_free(&student);
    tl_net_free(&teacher);
    tl_net_free(&tiny);
    tl_net_free(&flat);
}

/* A gradient seeded at an inner node (grad_seed) reaches the parameters
 * beside the exit's: cross-entropy + an attention term at the ReLU that a
 * max pool reads, against finite differences over the whole network. */
static float ce_plus_attention(tl_net *net, const float *x, const uint8_t *labels, int relu, const float *target,
                               int backward)
{
    tl_net_forward(net, x, BATCH);
    tl_node *out = &net->nodes[net->exits[0]], *r = &net->nodes[relu];
    float q[36];
    float loss = tl_softmax_cross_entropy(out->out, labels, BATCH, CLASSES, 1.0f, backward ? out->dout : NULL, NULL);
    loss += tl_attention_loss(r->out, BATCH, r->h * r->w, r->c, target, (size_t)r->h * r->w, 20, 1.0f,
                              backward ? r->dout : NULL, q);
    if (backward) {
        r->grad_seed = 1;
        tl_net_zero_grads(net);
        tl_net_backward(net, BATCH);
    }
    return loss;
}

static void test_attention_seeded_backward(void **state)
{
    (void)state;
    tl_net net;
    assert_int_equal(tl_net_init(&net, 6, 6, 2), TL_OK);
    const int relu = tl_net_relu(&net, tl_net_conv(&net, 0, 4, 3, 1, 1));
    const int pooled = tl_net_maxpool(&net, relu, 2, 2);
    const int logits = tl_net_dense(&net, tl_net_global_avgpool(&net, tl_net_conv(&net, pooled, 5, 3, 1, 1)), CLASSES);
    assert_int_equal(tl_net_add_exit(&net, logits, 1.0f), TL_OK);
    assert_int_equal(tl_net_finalize(&net, BATCH, 9), TL_OK);
    test_rng r = { 17 };
    float x[BATCH * 6 * 6 * 2], target[BATCH * 36];
    for (size_t i = 0; i < sizeof x / sizeof x[0]; ++i) {
        x[i] = rng_float(&r, -1, 1);
    }
    for (int b = 0; b < BATCH; ++b) {
        float raw[36];
        for (int i = 0; i < 36; ++i) {
            raw[i] = rng_float(&r, 0, 1);
        }
        tl_attention_map(raw, 36, 1, target + b * 36);
    }
    const uint8_t labels[BATCH] = { 0, 2, 3 };
    ce_plus_attention(&net, x, labels, relu, target, 1);
    assert_int_equal(net.nodes[relu].grad_seed, 0); /* backward clears it */
    float *analytic = malloc(net.param_count * sizeof(float));
    memcpy(analytic, net.grads, net.param_count * sizeof(float));
    const float eps = 2e-3f;
    int bad = 0;
    float largest_gap = 0;
    for (size_t i = 0; i < net.param_count; ++i) {
        const float keep = net.params[i];
        net.params[i] = keep + eps;
        const float up = ce_plus_attention(&net, x, labels, relu, target, 0);
        net.params[i] = keep - eps;
        const float down = ce_plus_attention(&net, x, labels, relu, target, 0);
        net.params[i] = keep;
        const float numeric = (up - down) / (2 * eps);
        bad += fabsf(numeric - analytic[i]) > 2e-3f + 3e-2f * fabsf(numeric);
        largest_gap = fmaxf(largest_gap, fabsf(numeric));
    }
    assert_true(largest_gap > 1e-3f);
    assert_int_equal(bad, 0);
    /* Without the seed the attention term's gradient is lost: the first
     * convolution's gradients then differ. */
    ce_plus_attention(&net, x, labels, relu, target, 1);
    memcpy(analytic, net.grads, net.param_count * sizeof(float));
    tl_net_forward(&net, x, BATCH);
    tl_softmax_cross_entropy(net.nodes[logits].out, labels, BATCH, CLASSES, 1.0f, net.nodes[logits].dout, NULL);
    tl_net_zero_grads(&net);
    tl_net_backward(&net, BATCH);
    const tl_node *conv1 = &net.nodes[1];
    float moved = 0;
    for (size_t i = 0; i < conv1->weight_count; ++i) {
        moved = fmaxf(moved, fabsf(analytic[conv1->weight_at + i] - net.grads[conv1->weight_at + i]));
    }
    assert_true(moved > 1e-4f);
    free(analytic);
    tl_net_free(&net);
}

/* Forward values worked by hand. */
static void test_forward_by_hand(void **state)
{
    (void)state;
    tl_net net;
    assert_int_equal(tl_net_init(&net, 3, 3, 1), TL_OK);
    const int conv = tl_net_conv(&net, 0, 1, 3, 1, 0);         /* 3x3 VALID -> 1x1 */
    const int logits = tl_net_dense(&net, conv, 2);
    assert_int_equal(tl_net_add_exit(&net, logits, 1.0f), TL_OK);
    assert_int_equal(tl_net_finalize(&net, 1, 1), TL_OK);
    float *p = net.params;
    for (int i = 0; i < 9; ++i) {
        p[net.nodes[conv].weight_at + i] = (float)(i + 1);   /* 1..9 */
    }
    p[net.nodes[conv].bias_at] = 0.5f;
    p[net.nodes[logits].weight_at] = 2.0f;
    p[net.nodes[logits].weight_at + 1] = -1.0f;
    p[net.nodes[logits].bias_at] = 1.0f;
    p[net.nodes[logits].bias_at + 1] = 0.0f;
    const float x[9] = { 1, 0, 0, 0, 1, 0, 0, 0, 1 };          /* picks 1 + 5 + 9 */
    tl_net_forward(&net, x, 1);
    assert_true(fabsf(net.nodes[conv].out[0] - 15.5f) < 1e-5f);
    assert_true(fabsf(net.nodes[logits].out[0] - 32.0f) < 1e-5f);
    assert_true(fabsf(net.nodes[logits].out[1] + 15.5f) < 1e-5f);
    tl_net_free(&net);
    /* Batch norm in eval mode uses the running statistics. */
    assert_int_equal(tl_net_init(&net, 1, 1, 2), TL_OK);
    const int bn = tl_net_batchnorm(&net, 0);
    const int out = tl_net_dense(&net, bn, 2);
    assert_int_equal(tl_net_add_exit(&net, out, 1.0f), TL_OK);
    assert_int_equal(tl_net_finalize(&net, 1, 1), TL_OK);
    net.nodes[bn].running_mean[0] = 1.0f;
    net.nodes[bn].running_var[0] = 4.0f;
    net.params[net.nodes[bn].weight_at] = 3.0f;  /* gamma */
    net.params[net.nodes[bn].bias_at] = 0.25f;   /* beta */
    net.training = 0;
    const float v[2] = { 5.0f, 0.0f };
    tl_net_forward(&net, v, 1);
    assert_true(fabsf(net.nodes[bn].out[0] - (3.0f * 4.0f / sqrtf(4.0f + 1e-5f) + 0.25f)) < 1e-4f);
    tl_net_free(&net);
}

static void test_optimisers_and_schedules(void **state)
{
    (void)state;
    tl_optim opt;
    memset(&opt, 0, sizeof opt);
    assert_int_equal(tl_optim_init(&opt, 2), TL_OK);
    opt.kind = TL_OPTIM_SGD;
    opt.lr = 0.1f;
    opt.momentum = 0.9f;
    float w[2] = { 1.0f, -2.0f };
    const float g[2] = { 0.5f, 1.0f };
    tl_optim_step(&opt, w, g, NULL);          /* v = g */
    assert_true(fabsf(w[0] - 0.95f) < 1e-6f);
    tl_optim_step(&opt, w, g, NULL);          /* v = 0.9 g + g */
    assert_true(fabsf(w[0] - (0.95f - 0.1f * 0.95f)) < 1e-6f);
    tl_optim_free(&opt);
    /* AdamW's first step moves each weight by ~lr against its gradient. */
    memset(&opt, 0, sizeof opt);
    tl_optim_init(&opt, 2);
    opt.kind = TL_OPTIM_ADAMW;
    opt.lr = 0.01f;
    opt.beta1 = 0.9f;
    opt.beta2 = 0.999f;
    opt.eps = 1e-8f;
    opt.weight_decay = 0.5f;
    const uint8_t decay[2] = { 1, 0 };
    float a[2] = { 1.0f, 1.0f };
    tl_optim_step(&opt, a, g, decay);
    assert_true(fabsf(a[0] - (1.0f - 0.01f * 0.5f - 0.01f)) < 1e-5f); /* decayed */
    assert_true(fabsf(a[1] - (1.0f - 0.01f)) < 1e-5f);
    /* Schedules. */
    opt.lr = 1.0f;
    opt.schedule = TL_SCHED_COSINE;
    opt.total_steps = 100;
    opt.warmup_steps = 10;
    opt.step = 0;
    assert_true(fabsf(tl_optim_lr(&opt) - 0.1f) < 1e-6f);   /* warm-up: 1/10 */
    opt.step = 55;
    assert_true(fabsf(tl_optim_lr(&opt) - 0.5f) < 1e-6f);   /* half way */
    opt.step = 100;
    assert_true(tl_optim_lr(&opt) < 1e-6f);
    opt.schedule = TL_SCHED_STEP;
    opt.warmup_steps = 0;
    opt.step_every = 30;
    opt.step_gamma = 0.1f;
    opt.step = 65;
    assert_true(fabsf(tl_optim_lr(&opt) - 0.01f) < 1e-6f);
    tl_optim_free(&opt);
}

static void test_architectures_build(void **state)
{
    (void)state;
    for (const char *const *name = tl_arch_names(); *name; ++name) {
        tl_net net;
        assert_int_equal(tl_net_build_arch(&net, *name, 28, 28, 1, 10), TL_OK);
        assert_int_equal(tl_net_finalize(&net, 2, 1), TL_OK);
        assert_non_null(tl_arch_describe(*name));
        const tl_node *out = &net.nodes[net.exits[net.exit_count - 1]];
        assert_int_equal(out->c, 10);
        /* The size --help states ("~45 K", "~1.56 M") is the built one, within 10%. */
        const char *tilde = strrchr(tl_arch_describe(*name), '~');
        if (tilde) {
            char unit = 0;
            double stated = 0.0;
            assert_int_equal(sscanf(tilde, "~%lf %c", &stated, &unit), 2);
            stated *= unit == 'M' ? 1e6 : unit == 'K' ? 1e3 : 0.0;
            assert_true(fabs((double)net.param_count - stated) <= 0.1 * stated);
        }
        if (!strncmp(*name, "student", 7)) {
            assert_true(net.param_count < 60000); /* issue 3's small student */
        }
        if (!strcmp(*name, "teacher")) {
            assert_true(net.param_count > 1000000);
        }
        if (!strcmp(*name, "student-exits")) {
            assert_int_equal(net.exit_count, 2);
        }
        tl_net_free(&net);
    }
    tl_net net;
    assert_int_equal(tl_net_build_arch(&net, "no-such-arch", 28, 28, 1, 10), TL_ERR_ARG);
    assert_null(tl_arch_describe("no-such-arch"));
    /* Bad layer requests are refused. */
    assert_int_equal(tl_net_init(&net, 4, 4, 1), TL_OK);
    assert_int_equal(tl_net_conv(&net, 0, 3, 5, 1, 0), -1);   /* window larger than input */
    assert_int_equal(tl_net_add(&net, 0, tl_net_conv(&net, 0, 2, 1, 1, 1)), -1); /* shapes differ */
    assert_int_equal(tl_net_dropout(&net, 0, 1.5f), -1);
    assert_int_equal(tl_net_finalize(&net, 1, 1), TL_ERR_ARG); /* no exit */
    tl_net_free(&net);
}

/* An in-process link for tl_split_device_step: the cut's values and
 * labels encoded, decoded as the edge would, its step, the gradient back
 * through the wire (float32). */
typedef struct split_wire {
    tl_net *edge;
    tl_optim *opt;
    const uint8_t *decay;
    int cut;
    uint8_t *bytes;
    int steps;
} split_wire;

static tl_status through_wire(void *ctx, const float *cut_values, const uint8_t *labels, int n, size_t per_sample,
                              float *cut_gradient)
{
    split_wire *w = ctx;
    const size_t up = tl_cut_encode(w->bytes, cut_values, labels, n, per_sample, 32);
    assert_int_equal(up, tl_cut_wire_size(n, per_sample, 32, 1));
    float *values = malloc((size_t)n * per_sample * sizeof(float));
    uint8_t got_labels[256];
    int got = 0, bits = 0, hits = 0;
    double loss = 0.0;
    assert_int_equal(tl_cut_decode(w->bytes, up, per_sample, n, values, got_labels, &got, &bits), TL_OK);
    assert_int_equal(got, n);
    assert_int_equal(bits, 32);
    assert_memory_equal(got_labels, labels, (size_t)n);
    assert_int_equal(tl_split_edge_step(w->edge, w->opt, w->decay, w->cut, values, got_labels, n, values, &loss, &hits),
                     TL_OK);
    const size_t down = tl_cut_encode(w->bytes, values, NULL, n, per_sample, 32);
    assert_int_equal(tl_cut_decode(w->bytes, down, per_sample, n, cut_gradient, NULL, &got, &bits), TL_OK);
    free(values);
    w->steps++;
    return TL_OK;
}

/* Split learning across processes: the device's half and the edge's half,
 * each its own network and optimiser and a float32 link between, take the
 * same step as one network: each half's weights equal the unsplit ones bit
 * for bit. With int8 on the link they stay close; the wire refuses what
 * does not add up; the halves join. */
static void split_halves_in_two_networks_take_the_unsplit_step(void **state)
{
    (void)state;
    enum { SPLIT_BATCH = 4, CUT = 6 };
    tl_net whole, device, edge;
    tl_net *nets[3] = { &whole, &device, &edge };
    tl_optim opts[3];
    for (int k = 0; k < 3; ++k) {
        assert_int_equal(tl_net_build_arch(nets[k], "student-tiny", 16, 16, 1, 3), TL_OK);
        assert_int_equal(tl_net_finalize(nets[k], SPLIT_BATCH, 7), TL_OK);
        nets[k]->training = 1;
        memset(&opts[k], 0, sizeof opts[k]);
        assert_int_equal(tl_optim_init(&opts[k], nets[k]->param_count), TL_OK);
        opts[k].kind = TL_OPTIM_SGD;
        opts[k].lr = 0.05f;
        opts[k].momentum = 0.9f;
        opts[k].weight_decay = 5e-4f;
    }
    assert_int_equal(tl_split_check(&device, CUT), TL_OK);
    assert_int_equal(tl_split_check(&device, 0), TL_ERR_ARG);
    assert_int_equal(tl_split_check(&device, device.exits[0]), TL_ERR_ARG); /* the last node: nothing for the edge */
    uint8_t *decay = tl_net_decay_mask(&whole);
    float x[SPLIT_BATCH * 256];
    const uint8_t y[SPLIT_BATCH] = { 0, 1, 2, 1 };
    uint64_t rng = 3;
    const size_t per = tl_net_node_values(&device, CUT);
    float *gradient = malloc(SPLIT_BATCH * per * sizeof(float));
    uint8_t *wire = malloc(tl_cut_wire_size(SPLIT_BATCH, per, 32, 1));
    for (int step = 0; step < 3; ++step) {
        for (int i = 0; i < SPLIT_BATCH * 256; ++i) {
            rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
            x[i] = (float)(rng >> 40) / (float)(1 << 24) - 0.5f;
        }
        /* unsplit */
        tl_net_zero_grads(&whole);
        tl_net_forward(&whole, x, SPLIT_BATCH);
        tl_node *out = &whole.nodes[whole.exits[0]];
        tl_softmax_cross_entropy(out->out, y, SPLIT_BATCH, out->c, whole.exit_weights[0], out->dout, NULL);
        tl_net_backward(&whole, SPLIT_BATCH);
        tl_optim_step(&opts[0], whole.params, whole.grads, decay);
        /* split: the device's step, its values through the wire to the edge's step and back */
        split_wire w = { &edge, &opts[2], decay, CUT, wire, 0 };
        assert_int_equal(tl_split_device_step(&device, &opts[1], decay, CUT, x, y, SPLIT_BATCH, through_wire, &w,
                                              gradient),
                         TL_OK);
        assert_int_equal(w.steps, 1);
    }
    /* Each half's weights: the unsplit network's, bit for bit. */
    for (int i = 1; i < whole.count; ++i) {
        const tl_node *w = &whole.nodes[i];
        const tl_net *half = i <= CUT ? &device : &edge;
        assert_memory_equal(half->params + w->weight_at, whole.params + w->weight_at, w->weight_count * sizeof(float));
        assert_memory_equal(half->params + w->bias_at, whole.params + w->bias_at, w->bias_count * sizeof(float));
    }
    /* The device's half joins the edge's: the whole network's state. */
    float *half = malloc(tl_split_half_floats(&device, CUT) * sizeof(float));
    tl_split_half_pack(&device, CUT, half);
    tl_split_half_unpack(&edge, CUT, half);
    assert_memory_equal(edge.params, whole.params, whole.param_count * sizeof(float));
    for (int i = 1; i < whole.count; ++i) {
        if (whole.nodes[i].running_mean) {
            assert_memory_equal(edge.nodes[i].running_mean, whole.nodes[i].running_mean,
                                (size_t)whole.nodes[i].c * sizeof(float));
        }
    }
    /* int8 on the wire: each value within half a step of its sample's scale. */
    tl_net_forward_until(&device, x, SPLIT_BATCH, CUT);
    const float *v = device.nodes[CUT].out;
    const size_t size8 = tl_cut_encode(wire, v, y, SPLIT_BATCH, per, 8);
    assert_int_equal(size8, 16 + SPLIT_BATCH + SPLIT_BATCH * (4 + per));
    float *back = malloc(SPLIT_BATCH * per * sizeof(float));
    uint8_t labels[SPLIT_BATCH];
    int n = 0, bits = 0;
    assert_int_equal(tl_cut_decode(wire, size8, per, SPLIT_BATCH, back, labels, &n, &bits), TL_OK);
    for (int b = 0; b < SPLIT_BATCH; ++b) {
        float top = 0.0f;
        for (size_t i = 0; i < per; ++i) {
            top = fabsf(v[b * per + i]) > top ? fabsf(v[b * per + i]) : top;
        }
        for (size_t i = 0; i < per; ++i) {
            assert_true(fabsf(back[b * per + i] - v[b * per + i]) <= 0.5f * top / 127.0f + 1e-6f);
        }
    }
    /* What does not add up is refused. */
    assert_int_equal(tl_cut_decode(wire, size8 - 1, per, SPLIT_BATCH, back, labels, &n, &bits), TL_ERR_SHAPE);
    assert_int_equal(tl_cut_decode(wire, size8, per + 1, SPLIT_BATCH, back, labels, &n, &bits), TL_ERR_SHAPE);
    assert_int_equal(tl_cut_decode(wire, size8, per, SPLIT_BATCH - 1, back, labels, &n, &bits), TL_ERR_SHAPE);
    assert_int_equal(tl_cut_decode(wire, size8, per, SPLIT_BATCH, back, NULL, &n, &bits), TL_ERR_SHAPE); /* labels came */
    wire[0] = 'X';
    assert_int_equal(tl_cut_decode(wire, size8, per, SPLIT_BATCH, back, labels, &n, &bits), TL_ERR_FORMAT);
    assert_int_equal(tl_cut_decode(wire, 3, per, SPLIT_BATCH, back, labels, &n, &bits), TL_ERR_FORMAT);
    free(back);
    free(half);
    free(wire);
    free(gradient);
    free(decay);
    for (int k = 0; k < 3; ++k) {
        tl_optim_free(&opts[k]);
        tl_net_free(nets[k]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gradients_conv),
        cmocka_unit_test(split_halves_in_two_networks_take_the_unsplit_step),
        cmocka_unit_test(test_gradients_conv_chunked),
        cmocka_unit_test(test_gradients_conv_direct),
        cmocka_unit_test(test_conv_direct_matches_im2col),
        cmocka_unit_test(test_conv_direct_filter_packing),
        cmocka_unit_test(test_gradients_dwconv),
        cmocka_unit_test(test_gradients_dense),
        cmocka_unit_test(test_gradients_batchnorm),
        cmocka_unit_test(test_gradients_activations),
        cmocka_unit_test(test_gradients_pooling),
        cmocka_unit_test(test_gradients_residual),
        cmocka_unit_test(test_gradients_dropout),
        cmocka_unit_test(test_loss_gradients),
        cmocka_unit_test(test_attention_by_hand),
        cmocka_unit_test(test_attention_gradient),
        cmocka_unit_test(test_attention_match),
        cmocka_unit_test(test_attention_seeded_backward),
        cmocka_unit_test(test_forward_by_hand),
        cmocka_unit_test(test_optimisers_and_schedules),
        cmocka_unit_test(test_architectures_build),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
