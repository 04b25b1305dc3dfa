/* optim.c - SGD with momentum and weight decay, AdamW, and learning-rate
 * schedules (constant, step, cosine, each with an optional linear warm-up).
 *
 * The optimiser's state (moments, step count) is part of a checkpoint, so a
 * resumed run continues exactly where it stopped.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tinylarge/large.h"

tl_status tl_optim_init(tl_optim *opt, size_t param_count)
{
    if (!opt) {
        return TL_ERR_ARG;
    }
    opt->count = param_count;
    opt->step = 0;
    opt->m = calloc(param_count ? param_count : 1, sizeof(float));
    opt->v = calloc(param_count ? param_count : 1, sizeof(float));
    if (!opt->m || !opt->v) {
        tl_optim_free(opt);
        return TL_ERR_NOMEM;
    }
    return TL_OK;
}

void tl_optim_free(tl_optim *opt)
{
    if (opt) {
        free(opt->m);
        free(opt->v);
        opt->m = opt->v = NULL;
    }
}

float tl_optim_lr(const tl_optim *opt)
{
    const long s = opt->step;
    if (opt->warmup_steps > 0 && s < opt->warmup_steps) {
        return opt->lr * (float)(s + 1) / (float)opt->warmup_steps;
    }
    switch (opt->schedule) {
    case TL_SCHED_STEP:
        return opt->step_every > 0 ? opt->lr * powf(opt->step_gamma, (float)(s / opt->step_every)) : opt->lr;
    case TL_SCHED_COSINE: {
        const long span = opt->total_steps - opt->warmup_steps;
        if (span <= 0) {
            return opt->lr;
        }
        double t = (double)(s - opt->warmup_steps) / (double)span;
        t = t > 1 ? 1 : t;
        return (float)(0.5 * opt->lr * (1.0 + cos(3.141592653589793 * t)));
    }
    default:
        return opt->lr;
    }
}

void tl_optim_step(tl_optim *opt, float *params, const float *grads, const uint8_t *decay)
{
    const float lr = tl_optim_lr(opt);
    opt->step++;
    if (opt->kind == TL_OPTIM_SGD) {
        /* v = momentum * v + g + wd * w;  w -= lr * v */
        for (size_t i = 0; i < opt->count; ++i) {
            const float g = grads[i] + (decay && decay[i] ? opt->weight_decay * params[i] : 0.0f);
            opt->m[i] = opt->momentum * opt->m[i] + g;
            params[i] -= lr * opt->m[i];
        }
        return;
    }
    /* AdamW: decoupled weight decay (Loshchilov & Hutter 2019). */
    const double c1 = 1.0 - pow(opt->beta1, (double)opt->step);
    const double c2 = 1.0 - pow(opt->beta2, (double)opt->step);
    for (size_t i = 0; i < opt->count; ++i) {
        const float g = grads[i];
        opt->m[i] = opt->beta1 * opt->m[i] + (1 - opt->beta1) * g;
        opt->v[i] = opt->beta2 * opt->v[i] + (1 - opt->beta2) * g * g;
        const double mhat = opt->m[i] / c1, vhat = opt->v[i] / c2;
        if (decay && decay[i]) {
            params[i] -= lr * opt->weight_decay * params[i];
        }
        params[i] -= (float)(lr * mhat / (sqrt(vhat) + opt->eps));
    }
}
