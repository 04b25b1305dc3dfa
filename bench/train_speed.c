/* train_speed.c - training throughput of the LargeML engine: images per
 * second for forward + backward + SGD step of a named architecture on
 * 28x28x1 inputs (the data's values do not change the work). The libtorch
 * twin is bench/torch/train_speed.cpp; bench/run-training.sh runs both.
 * KERNELS picks the stride-1 convolutions' kernels: "best" (default: the
 * widest direct kernels the CPU runs), "avx512", "avx2" or "im2col", so
 * one binary compares them on one machine.
 * usage: train_speed ARCH IMAGES BATCH THREADS [KERNELS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>

#include "tinylarge/large.h"
#include "tinylarge/host.h"

int main(int argc, char **argv)
{
    if (argc != 5 && argc != 6) {
        fprintf(stderr, "usage: train_speed ARCH IMAGES BATCH THREADS [best|avx512|avx2|im2col]\n");
        return 2;
    }
    const char *arch = argv[1], *kernels = argc == 6 ? argv[5] : "best";
    const int images = atoi(argv[2]), batch = atoi(argv[3]), threads = atoi(argv[4]);
    const int widest = tl_conv_direct_available();
    const int lanes = !strcmp(kernels, "best")     ? widest
                      : !strcmp(kernels, "avx512") ? 16
                      : !strcmp(kernels, "avx2")   ? 8
                      : !strcmp(kernels, "im2col") ? 0
                                                   : -1;
    if (lanes < 0 || lanes > widest) {
        fprintf(stderr, "train_speed: kernels '%s': not one this CPU runs (best, %sim2col)\n", kernels,
                widest >= 16 ? "avx512, avx2, " : widest >= 8 ? "avx2, " : "");
        return 2;
    }
    openblas_set_num_threads(1); /* threads are training replicas (src/large/replicas.c) */
    tl_net net;
    if (tl_net_build_arch(&net, arch, 28, 28, 1, 10) != TL_OK || tl_net_finalize(&net, batch, 1) != TL_OK) {
        fprintf(stderr, "train_speed: cannot build %s\n", arch);
        return 1;
    }
    tl_optim opt = { 0 };
    tl_optim_init(&opt, net.param_count);
    opt.kind = TL_OPTIM_SGD;
    opt.lr = 0.01f;
    opt.momentum = 0.9f;
    opt.weight_decay = 5e-4f;
    uint8_t *decay = tl_net_decay_mask(&net);
    float *x = malloc((size_t)batch * 784 * sizeof(float));
    uint8_t *y = malloc((size_t)batch);
    uint64_t s = 88172645463325252ull;
    for (int i = 0; i < batch * 784; ++i) {
        s ^= s << 13; s ^= s >> 7; s ^= s << 17;
        x[i] = (float)(s >> 40) / 16777216.0f * 2 - 1;
    }
    for (int i = 0; i < batch; ++i) {
        y[i] = (uint8_t)(i % 10);
    }
    tl_replicas reps;
    if (tl_replicas_init(&reps, &net, threads > 0 ? threads : 1) != TL_OK) {
        fprintf(stderr, "train_speed: cannot start %d threads\n", threads);
        return 1;
    }
    net.conv_direct = lanes;
    for (int t = 0; t < reps.count - 1; ++t) {
        reps.extra[t].conv_direct = lanes;
    }
    const int steps = images / batch;
    double start = 0;
    for (int step = -1; step < steps; ++step) { /* step -1 warms up */
        if (step == 0) {
            start = tl_monotonic_seconds();
        }
        double loss = 0;
        long hits = 0;
        tl_replicas_train_step(&reps, x, y, batch, batch, NULL, NULL, NULL, &loss, &hits);
        tl_optim_step(&opt, net.params, net.grads, decay);
    }
    const double seconds = tl_monotonic_seconds() - start;
    printf("%.1f\n", steps * batch / seconds);
    free(x);
    free(y);
    tl_replicas_free(&reps);
    free(decay);
    tl_optim_free(&opt);
    tl_net_free(&net);
    return 0;
}
