/* loss.c - softmax cross-entropy and knowledge distillation.
 *
 * Softmaxes subtract the row maximum first (stable for any logits).
 * Gradients are of the *mean* loss over the batch, times `scale` (the
 * exit's weight in a multi-exit network).
 */
#include <math.h>
#include <stdlib.h>

#include "tinylarge/large.h"

/* p = softmax(x / t) for one row; returns log(sum(exp(x / t - max))). */
static double softmax_row(const float *x, int classes, float t, double *p)
{
    double max = x[0] / t;
    for (int k = 1; k < classes; ++k) {
        max = x[k] / t > max ? x[k] / t : max;
    }
    double sum = 0;
    for (int k = 0; k < classes; ++k) {
        p[k] = exp(x[k] / t - max);
        sum += p[k];
    }
    for (int k = 0; k < classes; ++k) {
        p[k] /= sum;
    }
    return max + log(sum);
}

static int argmax(const float *x, int classes)
{
    int best = 0;
    for (int k = 1; k < classes; ++k) {
        best = x[k] > x[best] ? k : best;
    }
    return best;
}

float tl_softmax_cross_entropy(const float *logits, const uint8_t *labels, int n, int classes,
                               float scale, float *dlogits, int *correct)
{
    double loss = 0, p[256];
    int hits = 0;
    if (classes > 256) {
        return NAN;
    }
    for (int b = 0; b < n; ++b) {
        const float *x = logits + (size_t)b * classes;
        const double lse = softmax_row(x, classes, 1.0f, p);
        loss += lse - x[labels[b]];
        hits += argmax(x, classes) == labels[b];
        if (dlogits) {
            for (int k = 0; k < classes; ++k) {
                dlogits[(size_t)b * classes + k] = (float)((p[k] - (k == labels[b])) * scale / n);
            }
        }
    }
    if (correct) {
        *correct = hits;
    }
    return (float)(loss / n);
}

float tl_distillation_loss(const float *student, const float *teacher, const uint8_t *labels,
                           int n, int classes, float temperature, float alpha, float scale,
                           float *dlogits, int *correct)
{
    double loss = 0, ps[256], pt[256], p1[256];
    int hits = 0;
    if (classes > 256 || !(temperature > 0)) {
        return NAN;
    }
    const double t = temperature;
    for (int b = 0; b < n; ++b) {
        const float *s = student + (size_t)b * classes, *te = teacher + (size_t)b * classes;
        const double lse_s = softmax_row(s, classes, temperature, ps);
        softmax_row(te, classes, temperature, pt);
        const double lse_1 = softmax_row(s, classes, 1.0f, p1);
        /* KL(pt || ps) = sum pt (log pt - log ps), log ps = s/T - lse_s */
        double kl = 0;
        for (int k = 0; k < classes; ++k) {
            if (pt[k] > 0) {
                kl += pt[k] * (log(pt[k]) - (s[k] / t - lse_s));
            }
        }
        loss += alpha * t * t * kl + (1 - alpha) * (lse_1 - s[labels[b]]);
        hits += argmax(s, classes) == labels[b];
        if (dlogits) {
            for (int k = 0; k < classes; ++k) {
                /* d/ds of T^2 KL is T (ps - pt); of CE it is p1 - onehot. */
                const double g = alpha * t * (ps[k] - pt[k]) + (1 - alpha) * (p1[k] - (k == labels[b]));
                dlogits[(size_t)b * classes + k] = (float)(g * scale / n);
            }
        }
    }
    if (correct) {
        *correct = hits;
    }
    return (float)(loss / n);
}
