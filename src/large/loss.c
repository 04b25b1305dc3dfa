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

/* The soft part of a distillation loss for one row (student s, teacher te,
 * label y): returns its value and writes its gradient d/ds into g. The
 * cross-entropy every loss adds, and the batch mean, are distill_rows'. */
typedef double soft_term_fn(const float *s, const float *te, int y, int classes, const tl_kd_params *kd, double *g);

/* sum over rows of soft(row) + ce_weight * CE(row), as a mean over the n
 * rows; the gradient * scale into dlogits (may be NULL). */
static float distill_rows(soft_term_fn *soft, double ce_weight, int min_classes, const tl_kd_params *kd,
                          const float *student, const float *teacher, const uint8_t *labels, int n, int classes,
                          float scale, float *dlogits, int *correct)
{
    double loss = 0, p1[256], g[256];
    int hits = 0;
    if (!loss_shape_ok(classes, min_classes, kd->temperature)) {
        return NAN;
    }
    for (int b = 0; b < n; ++b) {
        const float *s = student + (size_t)b * classes, *te = teacher + (size_t)b * classes;
        const int y = labels[b];
        const double lse_1 = softmax_row(s, classes, 1.0f, p1);
        loss += soft(s, te, y, classes, kd, g) + ce_weight * (lse_1 - s[y]);
        hits += argmax(s, classes) == y;
        for (int k = 0; dlogits && k < classes; ++k) {
            dlogits[(size_t)b * classes + k] = (float)((g[k] + ce_weight * (p1[k] - (k == y))) * scale / n);
        }
    }
    return mean_loss(loss, hits, n, correct);
}

/* Hinton's: alpha T^2 KL(pt || ps); d/ds of T^2 KL is T (ps - pt). */
static double hinton_term(const float *s, const float *te, int y, int classes, const tl_kd_params *kd, double *g)
{
    double ps[256], pt[256];
    const double t = kd->temperature;
    (void)y;
    const double lse_s = softmax_row(s, classes, kd->temperature, ps);
    softmax_row(te, classes, kd->temperature, pt);
    /* KL(pt || ps) = sum pt (log pt - log ps), log ps = s/T - lse_s */
    double kl = 0;
    for (int k = 0; k < classes; ++k) {
        if (pt[k] > 0) {
            kl += pt[k] * (log(pt[k]) - (s[k] / t - lse_s));
        }
        g[k] = kd->alpha * t * (ps[k] - pt[k]);
    }
    return kd->alpha * t * t * kl;
}

float tl_distillation_loss(const float *student, const float *teacher, const uint8_t *labels,
                           int n, int classes, float temperature, float alpha, float scale,
                           float *dlogits, int *correct)
{
    const tl_kd_params kd = { TL_KD_HINTON, temperature, alpha, 0 };
    return tl_kd_loss(&kd, student, teacher, labels, n, classes, scale, dlogits, correct);
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

/* The z-scored KL: alpha beta T^2 KL(softmax(z_t / T) || softmax(z_s / T)). */
static double zscore_term(const float *s, const float *te, int y, int classes, const tl_kd_params *kd, double *g)
{
    double zs[256], zt[256], ps[256], pt[256];
    float us[256], ut[256];
    const double t = kd->temperature;
    (void)y;
    if (classes < 2) {
        return NAN; /* distill_rows refuses these; says so to the compiler */
    }
    const double std_s = zscore_row(s, classes, zs);
    zscore_row(te, classes, zt);
    for (int k = 0; k < classes; ++k) {
        us[k] = (float)zs[k];
        ut[k] = (float)zt[k];
    }
    const double lse_s = softmax_row(us, classes, kd->temperature, ps);
    softmax_row(ut, classes, kd->temperature, pt);
    /* gz = d/dz of the term; back through z = (s - mean) / (std + eps):
     * ds_k = (gz_k - mean(gz)) / (std + eps) - sum_j(gz_j z_j) z_k / ((classes - 1) std),
     * the second part only where the row has a spread. */
    double kl = 0, gz[256], gz_mean = 0, gz_dot_z = 0;
    for (int k = 0; k < classes; ++k) {
        if (pt[k] > 0) {
            kl += pt[k] * (log(pt[k]) - (us[k] / t - lse_s));
        }
        gz[k] = kd->alpha * kd->beta * t * (ps[k] - pt[k]);
        gz_mean += gz[k];
        gz_dot_z += gz[k] * zs[k];
    }
    gz_mean /= classes;
    const double d = std_s + ZSCORE_EPS;
    const double spread = std_s > 0 ? gz_dot_z / ((classes - 1) * std_s) : 0;
    for (int k = 0; k < classes; ++k) {
        g[k] = (gz[k] - gz_mean) / d - spread * zs[k];
    }
    return kd->alpha * kd->beta * t * t * kl;
}

float tl_zscore_distillation_loss(const float *student, const float *teacher, const uint8_t *labels, int n,
                                  int classes, float temperature, float alpha, float weight, float scale,
                                  float *dlogits, int *correct)
{
    const tl_kd_params kd = { TL_KD_ZSCORE, temperature, alpha, weight };
    return tl_kd_loss(&kd, student, teacher, labels, n, classes, scale, dlogits, correct);
}

/* The correlation term: alpha beta T^2 (1 - rho) of the two softmaxes. */
static double pearson_term(const float *s, const float *te, int y, int classes, const tl_kd_params *kd, double *g)
{
    double ps[256], pt[256];
    const double t = kd->temperature, uniform = 1.0 / classes, w = (double)kd->alpha * kd->beta * t * t;
    (void)y;
    softmax_row(s, classes, kd->temperature, ps);
    softmax_row(te, classes, kd->temperature, pt);
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
    /* h = d/dp_s of -w rho, through the centring (h is centred already)
     * and the softmax at T: d/ds_k = p_k (h_k - p.h) / T. */
    double h[256], ph = 0;
    for (int k = 0; k < classes; ++k) {
        const double a = ps[k] - uniform, bk = pt[k] - uniform;
        h[k] = spread ? -w * (bk / denom - dot * a / (aa * denom)) : 0;
        ph += ps[k] * h[k];
    }
    for (int k = 0; k < classes; ++k) {
        g[k] = ps[k] * (h[k] - ph) / t;
    }
    return w * (1 - rho);
}

float tl_pearson_distillation_loss(const float *student, const float *teacher, const uint8_t *labels, int n,
                                   int classes, float temperature, float alpha, float weight, float scale,
                                   float *dlogits, int *correct)
{
    const tl_kd_params kd = { TL_KD_PEARSON, temperature, alpha, weight };
    return tl_kd_loss(&kd, student, teacher, labels, n, classes, scale, dlogits, correct);
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

/* The decoupled term: T^2 (alpha TCKD + beta NCKD), its cross-entropy at
 * full weight. */
static double decoupled_term(const float *s, const float *te, int y, int classes, const tl_kd_params *kd, double *g)
{
    const double t = kd->temperature, alpha = kd->alpha, beta = kd->beta;
    /* Everything in logs from log-sum-exps, so a confident p_t of 1 - 1e-20
     * still has a finite log(1 - p_t). */
    const double ls_all = log_sum_exp(s, classes, t, -1), ls_rest = log_sum_exp(s, classes, t, y);
    const double lt_all = log_sum_exp(te, classes, t, -1), lt_rest = log_sum_exp(te, classes, t, y);
    const double log_ps = s[y] / t - ls_all, log_ps_rest = ls_rest - ls_all;
    const double log_qt = te[y] / t - lt_all, log_qt_rest = lt_rest - lt_all;
    const double ps = exp(log_ps), qt = exp(log_qt), qt_rest = exp(log_qt_rest);
    /* TCKD: KL between the binary (target, rest) splits. */
    const double tckd = qt * (log_qt - log_ps) + qt_rest * (log_qt_rest - log_ps_rest);
    /* One pass over the classes: NCKD, the KL divergence between the
     * non-target softmaxes p^ and q^, and the gradient, d/ds_k of
     * T^2 (alpha TCKD + beta NCKD) with u = s / T: alpha (p_t - q_t) at
     * the target, alpha p^_k (q_t - p_t) + beta (p^_k - q^_k) elsewhere. */
    double nckd = 0;
    for (int k = 0; k < classes; ++k) {
        double gu = alpha * (ps - qt);
        if (k != y) {
            const double log_p = s[k] / t - ls_rest, log_q = te[k] / t - lt_rest;
            const double p_hat = exp(log_p), q_hat = exp(log_q);
            nckd += q_hat * (log_q - log_p);
            gu = alpha * p_hat * (qt - ps) + beta * (p_hat - q_hat);
        }
        g[k] = t * gu;
    }
    return t * t * (alpha * tckd + beta * nckd);
}

float tl_decoupled_distillation_loss(const float *student, const float *teacher, const uint8_t *labels, int n,
                                     int classes, float temperature, float alpha, float beta, float scale,
                                     float *dlogits, int *correct)
{
    const tl_kd_params kd = { TL_KD_DECOUPLED, temperature, alpha, beta };
    return tl_kd_loss(&kd, student, teacher, labels, n, classes, scale, dlogits, correct);
}

float tl_kd_loss(const tl_kd_params *kd, const float *student, const float *teacher, const uint8_t *labels, int n,
                 int classes, float scale, float *dlogits, int *correct)
{
    switch (kd->kind) {
    case TL_KD_HINTON:
        return distill_rows(hinton_term, 1 - kd->alpha, 1, kd, student, teacher, labels, n, classes, scale,
                            dlogits, correct);
    case TL_KD_DECOUPLED:
        return distill_rows(decoupled_term, 1, 2, kd, student, teacher, labels, n, classes, scale, dlogits,
                            correct);
    case TL_KD_ZSCORE:
        return distill_rows(zscore_term, 1 - kd->alpha, 2, kd, student, teacher, labels, n, classes, scale,
                            dlogits, correct);
    case TL_KD_PEARSON:
        return distill_rows(pearson_term, 1 - kd->alpha, 2, kd, student, teacher, labels, n, classes, scale,
                            dlogits, correct);
    }
    return NAN;
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
