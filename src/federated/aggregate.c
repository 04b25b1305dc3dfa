/* aggregate.c - combining clients' updates (the mean, robust rules) and
 * the server's optimiser (federated.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tinylarge/federated.h"

int tl_agg_parse(const char *text, tl_agg_rule *rule)
{
    memset(rule, 0, sizeof *rule);
    char *end = NULL;
    if (strcmp(text, "mean") == 0) {
        rule->kind = TL_AGG_MEAN;
        return 0;
    }
    if (strcmp(text, "median") == 0) {
        rule->kind = TL_AGG_MEDIAN;
        return 0;
    }
    if (strncmp(text, "trimmed:", 8) == 0) {
        rule->kind = TL_AGG_TRIMMED;
        rule->trim = strtof(text + 8, &end);
        return end != text + 8 && *end == '\0' && rule->trim >= 0.0f && rule->trim < 0.5f ? 0 : -1;
    }
    if (strncmp(text, "krum:", 5) == 0) {
        rule->kind = TL_AGG_KRUM;
        const long f = strtol(text + 5, &end, 10);
        rule->byzantine = (int)f;
        rule->select = 1;
        return end != text + 5 && *end == '\0' && f >= 0 && f < 10000 ? 0 : -1;
    }
    if (strncmp(text, "multikrum:", 10) == 0) {
        rule->kind = TL_AGG_MULTIKRUM;
        const long f = strtol(text + 10, &end, 10);
        if (end == text + 10 || *end != ':' || f < 0 || f >= 10000) {
            return -1;
        }
        const char *m_text = end + 1;
        const long m = strtol(m_text, &end, 10);
        rule->byzantine = (int)f;
        rule->select = (int)m;
        return end != m_text && *end == '\0' && m >= 1 && m < 10000 ? 0 : -1;
    }
    return -1;
}

const char *tl_agg_name(tl_agg_kind kind)
{
    static const char *const names[] = { "mean", "median", "trimmed mean", "Krum", "Multi-Krum" };
    return (unsigned)kind < 5 ? names[kind] : "?";
}

static int compare_float(const void *a, const void *b)
{
    const float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Krum's score of each update: the sum of its squared distances to its
 * count - f - 2 nearest others. */
static tl_status krum_scores(const float *const *u, int count, size_t dim, int f, double *score)
{
    double *dist = malloc(sizeof(double) * (size_t)count * (size_t)count);
    double *row = malloc(sizeof(double) * (size_t)count);
    if (!dist || !row) {
        free(dist);
        free(row);
        return TL_ERR_NOMEM;
    }
    for (int i = 0; i < count; ++i) {
        dist[(size_t)i * count + i] = 0.0;
        for (int j = i + 1; j < count; ++j) {
            double d = 0.0;
            for (size_t k = 0; k < dim; ++k) {
                const double e = (double)u[i][k] - (double)u[j][k];
                d += e * e;
            }
            dist[(size_t)i * count + j] = dist[(size_t)j * count + i] = d;
        }
    }
    const int nearest = count - f - 2;
    for (int i = 0; i < count; ++i) {
        int n = 0;
        for (int j = 0; j < count; ++j) {
            if (j != i) {
                row[n++] = dist[(size_t)i * count + j];
            }
        }
        /* The `nearest` smallest by partial selection. */
        double s = 0.0;
        for (int k = 0; k < nearest; ++k) {
            int best = k;
            for (int j = k + 1; j < n; ++j) {
                best = row[j] < row[best] ? j : best;
            }
            const double t = row[k];
            row[k] = row[best];
            row[best] = t;
            s += row[k];
        }
        score[i] = s;
    }
    free(dist);
    free(row);
    return TL_OK;
}

static void weighted_mean(const float *const *u, const double *w, const int *pick, int count, size_t dim, float *out)
{
    double total = 0.0;
    for (int i = 0; i < count; ++i) {
        total += w ? w[pick ? pick[i] : i] : 1.0;
    }
    for (size_t k = 0; k < dim; ++k) {
        double s = 0.0;
        for (int i = 0; i < count; ++i) {
            const int c = pick ? pick[i] : i;
            s += (w ? w[c] : 1.0) * (double)u[c][k];
        }
        out[k] = (float)(s / total);
    }
}

tl_status tl_fed_aggregate(const tl_agg_rule *rule, const float *const *u, const double *w, int count, size_t dim,
                           float *out)
{
    if (!rule || !u || !out || count < 1) {
        return TL_ERR_ARG;
    }
    switch (rule->kind) {
    case TL_AGG_MEAN:
        weighted_mean(u, w, NULL, count, dim, out);
        return TL_OK;
    case TL_AGG_MEDIAN:
    case TL_AGG_TRIMMED: {
        const int drop = rule->kind == TL_AGG_TRIMMED ? (int)floorf(rule->trim * (float)count) : 0;
        if (count - 2 * drop < 1) {
            return TL_ERR_ARG;
        }
        float *column = malloc(sizeof(float) * (size_t)count);
        if (!column) {
            return TL_ERR_NOMEM;
        }
        for (size_t k = 0; k < dim; ++k) {
            for (int i = 0; i < count; ++i) {
                column[i] = u[i][k];
            }
            qsort(column, (size_t)count, sizeof(float), compare_float);
            if (rule->kind == TL_AGG_MEDIAN) {
                out[k] = count % 2 ? column[count / 2] : 0.5f * (column[count / 2 - 1] + column[count / 2]);
            } else {
                double s = 0.0;
                for (int i = drop; i < count - drop; ++i) {
                    s += column[i];
                }
                out[k] = (float)(s / (count - 2 * drop));
            }
        }
        free(column);
        return TL_OK;
    }
    case TL_AGG_KRUM:
    case TL_AGG_MULTIKRUM: {
        const int f = rule->byzantine, m = rule->kind == TL_AGG_KRUM ? 1 : rule->select;
        if (count < 2 * f + 3 || m < 1 || m > count) {
            return TL_ERR_ARG;
        }
        double *score = malloc(sizeof(double) * (size_t)count);
        int *pick = malloc(sizeof(int) * (size_t)count);
        tl_status s = score && pick ? krum_scores(u, count, dim, f, score) : TL_ERR_NOMEM;
        if (s == TL_OK) {
            for (int i = 0; i < count; ++i) {
                pick[i] = i;
            }
            for (int k = 0; k < m; ++k) { /* the m lowest scores, ties to the lower index */
                int best = k;
                for (int j = k + 1; j < count; ++j) {
                    if (score[pick[j]] < score[pick[best]] ||
                        (score[pick[j]] == score[pick[best]] && pick[j] < pick[best])) {
                        best = j;
                    }
                }
                const int t = pick[k];
                pick[k] = pick[best];
                pick[best] = t;
            }
            weighted_mean(u, w, pick, m, dim, out);
        }
        free(score);
        free(pick);
        return s;
    }
    }
    return TL_ERR_ARG;
}

tl_status tl_server_opt_init(tl_server_opt *opt, tl_server_kind kind, float lr, size_t dim, size_t params)
{
    memset(opt, 0, sizeof *opt);
    if (!(lr > 0.0f) || (unsigned)kind > TL_SERVER_YOGI || params > dim) {
        return TL_ERR_ARG;
    }
    opt->kind = kind;
    opt->lr = lr;
    opt->beta1 = 0.9f;
    opt->beta2 = 0.99f;
    opt->tau = 1e-3f;
    opt->dim = dim;
    opt->params = params;
    if (kind != TL_SERVER_AVG) {
        opt->m = calloc(params ? params : 1, sizeof(float));
        opt->v = malloc((params ? params : 1) * sizeof(float));
        if (!opt->m || !opt->v) {
            tl_server_opt_free(opt);
            return TL_ERR_NOMEM;
        }
        /* Reddi et al. start v at tau^2, so the first steps are not huge. */
        for (size_t i = 0; i < params; ++i) {
            opt->v[i] = opt->tau * opt->tau;
        }
    }
    return TL_OK;
}

void tl_server_opt_free(tl_server_opt *opt)
{
    free(opt->m);
    free(opt->v);
    opt->m = opt->v = NULL;
}

void tl_server_opt_apply(tl_server_opt *opt, float *global, const float *update)
{
    for (size_t i = opt->params; i < opt->dim; ++i) {
        global[i] += update[i]; /* statistics: the clients' mean */
    }
    if (opt->kind == TL_SERVER_AVG) {
        for (size_t i = 0; i < opt->params; ++i) {
            global[i] += opt->lr * update[i];
        }
        return;
    }
    const float b1 = opt->beta1, b2 = opt->beta2;
    for (size_t i = 0; i < opt->params; ++i) {
        const float d = update[i], d2 = d * d;
        opt->m[i] = b1 * opt->m[i] + (1.0f - b1) * d;
        if (opt->kind == TL_SERVER_ADAM) {
            opt->v[i] = b2 * opt->v[i] + (1.0f - b2) * d2;
        } else { /* Yogi: v moves toward d^2 by a step of fixed size */
            const float diff = opt->v[i] - d2;
            opt->v[i] -= (1.0f - b2) * d2 * (diff > 0.0f ? 1.0f : (diff < 0.0f ? -1.0f : 0.0f));
        }
        global[i] += opt->lr * opt->m[i] / (sqrtf(opt->v[i]) + opt->tau);
    }
}
