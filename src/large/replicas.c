/* replicas.c - data-parallel training threads within one process.
 *
 * Replica 0 is the master network; the others are copies of its
 * architecture whose parameter pointer is the master's array (read-only
 * during forward and backward). Each thread takes a contiguous slice of the
 * batch, so the work per step is the single-threaded engine's, side by
 * side; then the gradients are summed and the batch-norm running
 * statistics averaged (each replica normalises with its own slice's
 * statistics, as data-parallel training across processes does).
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "tinylarge/large.h"

tl_status tl_replicas_init(tl_replicas *r, tl_net *master, int count)
{
    memset(r, 0, sizeof *r);
    if (!master || count < 1 || !master->params) {
        return TL_ERR_ARG;
    }
    r->master = master;
    r->count = count;
    if (count == 1) {
        return TL_OK;
    }
    r->extra = calloc((size_t)count - 1, sizeof *r->extra);
    if (!r->extra) {
        return TL_ERR_NOMEM;
    }
    const tl_node *in = &master->nodes[0];
    const tl_node *last = &master->nodes[master->exits[master->exit_count - 1]];
    const int slice = (master->batch + count - 1) / count;
    for (int t = 0; t < count - 1; ++t) {
        tl_net *n = &r->extra[t];
        tl_status s = tl_net_build_arch(n, master->arch, in->h, in->w, in->c, last->c);
        if (s == TL_OK) {
            s = tl_net_finalize(n, slice, 1);
        }
        if (s != TL_OK || n->param_count != master->param_count) {
            tl_replicas_free(r);
            return s != TL_OK ? s : TL_ERR_SHAPE;
        }
        free(n->params);
        n->params = master->params; /* shared, never freed by the replica */
        n->rng = master->rng ^ (0x9E3779B97F4A7C15ull * (uint64_t)(t + 1));
        for (int i = 0; i < n->count; ++i) {
            if (n->nodes[i].kind == TL_LAYER_BATCHNORM) {
                memcpy(n->nodes[i].running_mean, master->nodes[i].running_mean, (size_t)n->nodes[i].c * sizeof(float));
                memcpy(n->nodes[i].running_var, master->nodes[i].running_var, (size_t)n->nodes[i].c * sizeof(float));
            }
        }
    }
    return TL_OK;
}

void tl_replicas_free(tl_replicas *r)
{
    if (!r) {
        return;
    }
    for (int t = 0; t < r->count - 1 && r->extra; ++t) {
        r->extra[t].params = NULL; /* the master's */
        tl_net_free(&r->extra[t]);
    }
    free(r->extra);
    memset(r, 0, sizeof *r);
}

typedef struct job {
    tl_net *net;
    const float *x;
    const uint8_t *y;
    const float *teacher;
    int count, denominator;
    const tl_kd_params *kd;
    const tl_attention *at;
    const float *teacher_maps; /* this job's rows of at->teacher_maps */
    double loss;
    long hits;
} job;

/* The attention-transfer term at each matched node: its gradient seeds the
 * node's dout for the backward pass. Returns the term's mean loss. */
static double attention_terms(job *j, float share)
{
    const tl_attention_points *pts = j->at->points;
    int most = 0;
    for (int k = 0; k < pts->count; ++k) {
        most = pts->pixels[k] > most ? pts->pixels[k] : most;
    }
    float *q = malloc((size_t)most * sizeof(float));
    if (!q) {
        return NAN; /* reported as a diverged run */
    }
    double loss = 0;
    for (int k = 0; k < pts->count; ++k) {
        tl_node *n = &j->net->nodes[pts->student[k]];
        loss += tl_attention_loss(n->out, j->count, pts->pixels[k], n->c, j->teacher_maps + pts->offset[k],
                                  (size_t)pts->floats, j->at->beta, share, n->dout, q);
        n->grad_seed = 1;
    }
    free(q);
    return loss;
}

static void *run_job(void *arg)
{
    job *j = arg;
    tl_net *net = j->net;
    tl_net_zero_grads(net);
    if (j->count == 0) {
        return NULL;
    }
    tl_net_forward(net, j->x, j->count);
    const float share = (float)j->count / (float)j->denominator;
    for (int e = 0; e < net->exit_count; ++e) {
        tl_node *out = &net->nodes[net->exits[e]];
        const float w = net->exit_weights[e] * share;
        int hits = 0;
        const tl_kd_params *kd = j->kd;
        const float l = !j->teacher || !kd
                            ? tl_softmax_cross_entropy(out->out, j->y, j->count, out->c, w, out->dout, &hits)
                            : tl_kd_loss(kd, out->out, j->teacher, j->y, j->count, out->c, w, out->dout, &hits);
        if (e == net->exit_count - 1) {
            j->loss = (double)l * j->count;
            j->hits = hits;
        }
    }
    if (j->at && j->teacher_maps) {
        j->loss += attention_terms(j, share) * j->count;
    }
    tl_net_backward(net, j->count);
    return NULL;
}

tl_status tl_replicas_train_step(tl_replicas *r, const float *x, const uint8_t *y, int count, int denominator,
                                 const float *teacher_logits, const tl_kd_params *kd, const tl_attention *at,
                                 double *loss_sum, long *hits)
{
    enum { MAX_THREADS = 64 };
    job jobs[MAX_THREADS];
    pthread_t threads[MAX_THREADS];
    const int n = r->count < MAX_THREADS ? r->count : MAX_THREADS;
    const size_t sample = (size_t)r->master->nodes[0].h * r->master->nodes[0].w * r->master->nodes[0].c;
    const int classes = r->master->nodes[r->master->exits[r->master->exit_count - 1]].c;
    for (int t = 0; t < n; ++t) {
        const int first = (int)((long)count * t / n), end = (int)((long)count * (t + 1) / n);
        jobs[t] = (job){ t == 0 ? r->master : &r->extra[t - 1], x + (size_t)first * sample, y + first,
                         teacher_logits ? teacher_logits + (size_t)first * classes : NULL, end - first, denominator,
                         kd, at, at && at->teacher_maps ? at->teacher_maps + (size_t)first * at->points->floats : NULL,
                         0, 0 };
    }
    int started = 1;
    for (int t = 1; t < n; ++t, ++started) {
        if (pthread_create(&threads[t], NULL, run_job, &jobs[t]) != 0) {
            break;
        }
    }
    run_job(&jobs[0]);
    /* A thread that could not start runs here, after the others. */
    for (int t = started; t < n; ++t) {
        run_job(&jobs[t]);
    }
    for (int t = 1; t < started; ++t) {
        pthread_join(threads[t], NULL);
    }
    tl_net *m = r->master;
    for (int t = 1; t < n; ++t) {
        const float *g = r->extra[t - 1].grads;
        for (size_t i = 0; i < m->param_count; ++i) {
            m->grads[i] += g[i];
        }
    }
    for (int t = 0; t < n; ++t) {
        *loss_sum += jobs[t].loss;
        *hits += jobs[t].hits;
    }
    if (n > 1) {
        /* Running statistics: the replicas' mean, back to every replica. */
        for (int i = 0; i < m->count; ++i) {
            tl_node *bn = &m->nodes[i];
            if (bn->kind != TL_LAYER_BATCHNORM) {
                continue;
            }
            for (int c = 0; c < bn->c; ++c) {
                float mean = bn->running_mean[c], var = bn->running_var[c];
                for (int t = 1; t < n; ++t) {
                    mean += r->extra[t - 1].nodes[i].running_mean[c];
                    var += r->extra[t - 1].nodes[i].running_var[c];
                }
                bn->running_mean[c] = mean / (float)n;
                bn->running_var[c] = var / (float)n;
            }
            for (int t = 1; t < n; ++t) {
                memcpy(r->extra[t - 1].nodes[i].running_mean, bn->running_mean, (size_t)bn->c * sizeof(float));
                memcpy(r->extra[t - 1].nodes[i].running_var, bn->running_var, (size_t)bn->c * sizeof(float));
            }
        }
    }
    return TL_OK;
}
