/* loss.c - softmax cross-entropy and knowledge distillation (Hinton's, the
 * decoupled form, the z-scored one and the correlation one).
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

/* Shared by every loss: the row scratch holds at most 256 classes. */
static int loss_shape_ok(int classes, int min_classes, float temperature)
{
    return classes <= 256 && classes >= min_classes && temperature > 0;
}

/* The mean over n samples, and the hits counted where asked for. */
static float mean_loss(double loss, int hits, int n, int *correct)
{
    if (correct) {
        *correct = hits;
    }
    return (float)(loss / n);
}

float tl_softmax_cross_entropy(const float *logits, const uint8_t *labels, int n, int classes,
                               float scale, float *dlogits, int *correct)
{
    double loss = 0, p[256];
    int hits = 0;
    if (!loss_shape_ok(classes, 1, 1.0f)) {
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
    return mean_loss(loss, hits, n, correct);
}

float tl_distillation_loss(const float *student, const float *teacher, const uint8_t *labels,
                           int n, int classes, float temperature, float alpha, float scale,
                           float *dlogits, int *correct)
{
    double loss = 0, ps[256], pt[256], p1[256];
    int hits = 0;
    if (!loss_shape_ok(classes, 1, temperature)) {
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
    return mean_loss(loss, hits, n, correct);
}

/* Below this the logits of a row are all alike: no scale to divide by. */
#define ZSCORE_EPS 1e-7
/* A softmax row closer than this to uniform (L2) has no ranking to match:
 * its correlation is taken as 0, as 1 / |p - 1/C| would blow the gradient
 * up near it. Such a row comes only from logits nearly all equal (within
 * about 1e-4 of each other at T 4). */
#define PEARSON_MIN_SPREAD 1e-6

/* z = (x - mean) / (std + eps) for one row, std with n - 1 (as the paper's
 * code has it); returns std. */
static double zscore_row(const float *x, int classes, double *z)
{
    double mean = 0, var = 0;
    for (int k = 0; k < classes; ++k) {
        mean += x[k];
    }
    mean /= classes;
    for (int k = 0; k < classes; ++k) {
        var += (x[k] - mean) * (x[k] - mean);
    }
    const double std = sqrt(var / (classes - 1));
    for (int k = 0; k < classes; ++k) {
        z[k] = (x[k] - mean) / (std + ZSCORE_EPS);
    }
    return std;
}

float tl_zscore_distillation_loss(const float *student, const float *teacher, const uint8_t *labels, int n,
                                  int classes, float temperature, float alpha, float weight, float scale,
                                  float *dlogits, int *correct)
{
    double loss = 0, zs[256], zt[256], ps[256], pt[256], p1[256], g[256];
    float us[256], ut[256];
    int hits = 0;
    if (!loss_shape_ok(classes, 2, temperature)) {
        return NAN;
    }
    const double t = temperature;
    for (int b = 0; b < n; ++b) {
        const float *s = student + (size_t)b * classes, *te = teacher + (size_t)b * classes;
        const double std_s = zscore_row(s, classes, zs);
        zscore_row(te, classes, zt);
        for (int k = 0; k < classes; ++k) {
            us[k] = (float)zs[k];
            ut[k] = (float)zt[k];
        }
        const double lse_s = softmax_row(us, classes, temperature, ps);
        softmax_row(ut, classes, temperature, pt);
        const double lse_1 = softmax_row(s, classes, 1.0f, p1);
        double kl = 0;
        for (int k = 0; k < classes; ++k) {
            if (pt[k] > 0) {
                kl += pt[k] * (log(pt[k]) - (us[k] / t - lse_s));
            }
        }
        loss += alpha * weight * t * t * kl + (1 - alpha) * (lse_1 - s[labels[b]]);
        hits += argmax(s, classes) == labels[b];
        if (!dlogits) {
            continue;
        }
        /* g = d/dz of the KL term; back through z = (s - mean) / (std + eps):
         * ds_k = (g_k - mean(g)) / (std + eps) - sum_j(g_j z_j) z_k / ((classes - 1) std),
         * the second part only where the row has a spread. */
        double g_mean = 0, g_dot_z = 0;
        for (int k = 0; k < classes; ++k) {
            g[k] = alpha * weight * t * (ps[k] - pt[k]);
            g_mean += g[k];
            g_dot_z += g[k] * zs[k];
        }
        g_mean /= classes;
        const double d = std_s + ZSCORE_EPS;
        const double spread = std_s > 0 ? g_dot_z / ((classes - 1) * std_s) : 0;
        for (int k = 0; k < classes; ++k) {
            const double ds = (g[k] - g_mean) / d - spread * zs[k];
            dlogits[(size_t)b * classes + k] = (float)((ds + (1 - alpha) * (p1[k] - (k == labels[b]))) * scale / n);
        }
    }
    return mean_loss(loss, hits, n, correct);
}

float tl_pearson_distillation_loss(const float *student, const float *teacher, const uint8_t *labels, int n,
                                   int classes, float temperature, float alpha, float weight, float scale,
                                   float *dlogits, int *correct)
{
    double loss = 0, ps[256], pt[256], p1[256], h[256];
    int hits = 0;
    if (!loss_shape_ok(classes, 2, temperature)) {
        return NAN;
    }
    const double t = temperature, uniform = 1.0 / classes, w = (double)alpha * weight * t * t;
    for (int b = 0; b < n; ++b) {
        const float *s = student + (size_t)b * classes, *te = teacher + (size_t)b * classes;
        softmax_row(s, classes, temperature, ps);
        softmax_row(te, classes, temperature, pt);
        const double lse_1 = softmax_row(s, classes, 1.0f, p1);
        /* Probabilities sum to 1, so their mean is 1 / classes. */
        double dot = 0, aa = 0, bb = 0;
        for (int k = 0; k < classes; ++k) {
            dot += (ps[k] - uniform) * (pt[k] - uniform);
            aa += (ps[k] - uniform) * (ps[k] - uniform);
            bb += (pt[k] - uniform) * (pt[k] - uniform);
        }
        const double na = sqrt(aa), nb = sqrt(bb), denom = na * nb;
        const int spread = na > PEARSON_MIN_SPREAD && nb > PEARSON_MIN_SPREAD;
        const double rho = spread ? dot / denom : 0;
        loss += w * (1 - rho) + (1 - alpha) * (lse_1 - s[labels[b]]);
        hits += argmax(s, classes) == labels[b];
        if (!dlogits) {
            continue;
        }
        /* h = d/dp_s of -w rho, through the centring (h is centred already)
         * and the softmax at T: d/ds_k = p_k (h_k - p.h) / T. */
        double ph = 0;
        for (int k = 0; k < classes; ++k) {
            const double a = ps[k] - uniform, bk = pt[k] - uniform;
            h[k] = spread ? -w * (bk / denom - dot * a / (aa * denom)) : 0;
            ph += ps[k] * h[k];
        }
        for (int k = 0; k < classes; ++k) {
            const double ds = ps[k] * (h[k] - ph) / t;
            dlogits[(size_t)b * classes + k] = (float)((ds + (1 - alpha) * (p1[k] - (k == labels[b]))) * scale / n);
        }
    }
    return mean_loss(loss, hits, n, correct);
}

/* log(sum over k != skip of exp(x[k] / t)); skip = -1 takes every class. */
static double log_sum_exp(const float *x, int classes, double t, int skip)
{
    double max = -INFINITY, sum = 0;
    for (int k = 0; k < classes; ++k) {
        max = k != skip && x[k] / t > max ? x[k] / t : max;
    }
    for (int k = 0; k < classes; ++k) {
        sum += k != skip ? exp(x[k] / t - max) : 0;
    }
    return max + log(sum);
}

float tl_decoupled_distillation_loss(const float *student, const float *teacher, const uint8_t *labels, int n,
                                     int classes, float temperature, float alpha, float beta, float scale,
                                     float *dlogits, int *correct)
{
    double loss = 0, p1[256];
    int hits = 0;
    if (!loss_shape_ok(classes, 2, temperature)) {
        return NAN;
    }
    const double t = temperature;
    for (int b = 0; b < n; ++b) {
        const float *s = student + (size_t)b * classes, *te = teacher + (size_t)b * classes;
        const int y = labels[b];
        /* Everything in logs from log-sum-exps, so a confident p_t of 1 - 1e-20
         * still has a finite log(1 - p_t). */
        const double ls_all = log_sum_exp(s, classes, t, -1), ls_rest = log_sum_exp(s, classes, t, y);
        const double lt_all = log_sum_exp(te, classes, t, -1), lt_rest = log_sum_exp(te, classes, t, y);
        const double log_ps = s[y] / t - ls_all, log_ps_rest = ls_rest - ls_all;
        const double log_qt = te[y] / t - lt_all, log_qt_rest = lt_rest - lt_all;
        const double ps = exp(log_ps), qt = exp(log_qt), qt_rest = exp(log_qt_rest);
        /* TCKD: KL between the binary (target, rest) splits. */
        const double tckd = qt * (log_qt - log_ps) + qt_rest * (log_qt_rest - log_ps_rest);
        const double lse_1 = softmax_row(s, classes, 1.0f, p1);
        /* One pass over the classes: NCKD, the KL divergence between the
         * non-target softmaxes p^ and q^, and the gradient, d/ds_k of
         * T^2 (alpha TCKD + beta NCKD) with u = s / T: alpha (p_t - q_t) at
         * the target, alpha p^_k (q_t - p_t) + beta (p^_k - q^_k) elsewhere. */
        double nckd = 0;
        for (int k = 0; k < classes; ++k) {
            double g = alpha * (ps - qt);
            if (k != y) {
                const double log_p = s[k] / t - ls_rest, log_q = te[k] / t - lt_rest;
                const double p_hat = exp(log_p), q_hat = exp(log_q);
                nckd += q_hat * (log_q - log_p);
                g = alpha * p_hat * (qt - ps) + beta * (p_hat - q_hat);
            }
            if (dlogits) {
                dlogits[(size_t)b * classes + k] = (float)((t * g + p1[k] - (k == y)) * scale / n);
            }
        }
        loss += lse_1 - s[y] + t * t * (alpha * tckd + beta * nckd);
        hits += argmax(s, classes) == y;
    }
    return mean_loss(loss, hits, n, correct);
}

/* ---- attention transfer (Zagoruyko & Komodakis 2017) ---- */

/* Below this norm a map is all zeros (a dead layer): left at zero. */
#define ATTENTION_EPS 1e-12

double tl_attention_map(const float *act, int pixels, int channels, float *q)
{
    double norm2 = 0;
    for (int p = 0; p < pixels; ++p) {
        const float *a = act + (size_t)p * channels;
        double sum = 0;
        for (int c = 0; c < channels; ++c) {
            sum += (double)a[c] * a[c];
        }
        q[p] = (float)(sum / channels);
        norm2 += (double)q[p] * q[p];
    }
    const double norm = sqrt(norm2);
    for (int p = 0; p < pixels; ++p) {
        q[p] = norm > ATTENTION_EPS ? (float)(q[p] / norm) : 0.0f;
    }
    return norm;
}

float tl_attention_loss(const float *act, int n, int pixels, int channels, const float *target, size_t target_stride,
                        float beta, float scale, float *dact, float *q)
{
    double total = 0;
    const double per = (double)beta / ((double)n * pixels); /* d(mean)/d(term), times beta / 2 * 2 */
    for (int b = 0; b < n; ++b) {
        const float *a = act + (size_t)b * pixels * channels, *t = target + (size_t)b * target_stride;
        const double norm = tl_attention_map(a, pixels, channels, q);
        double dot = 0;
        for (int p = 0; p < pixels; ++p) {
            const double d = (double)q[p] - t[p];
            total += d * d;
            dot += (double)q[p] * d;
        }
        if (!dact) {
            continue;
        }
        float *g = dact + (size_t)b * pixels * channels;
        for (int p = 0; p < pixels; ++p) {
            /* d/dQ of q = Q / |Q| is (I - q q^T) / |Q|; dQ_p/da_pc = 2 a_pc / C. */
            const double dq = norm > ATTENTION_EPS ? per * (((double)q[p] - t[p]) - q[p] * dot) / norm : 0;
            const double factor = (double)scale * dq * 2.0 / channels;
            for (int c = 0; c < channels; ++c) {
                g[(size_t)p * channels + c] = (float)(factor * a[(size_t)p * channels + c]);
            }
        }
    }
    return (float)(0.5 * beta * total / ((double)n * pixels));
}
