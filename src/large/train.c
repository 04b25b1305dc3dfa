/* train.c - the training loop: data, forward, losses at every exit
 * (cross-entropy, or distillation from a teacher), backward, optimiser
 * step; an evaluation and an atomic checkpoint after every epoch.
 *
 * Reads top to bottom in one sitting: tl_train() is the whole story.
 * Determinism: shuffling and augmentation are seeded by (seed, epoch), the
 * dropout stream and optimiser state live in the checkpoint, so a resumed
 * run reproduces an uninterrupted one (with the same thread count).
 */
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cblas.h>
#ifdef TL_HAVE_MPI
#include <mpi.h>
#endif

#include "tinylarge/large.h"
#include "tinylarge/host.h"
#include "logit_cache.h"
#include "util.h"

/* Data parallelism: under mpirun every process takes a slice of each global
 * batch, gradients are summed with MPI_Allreduce, and every process applies
 * the same update, so the weights stay identical. A plain run (no mpirun)
 * never initialises MPI. */
typedef struct ranks {
    int rank, size;
} ranks;

#ifdef TL_HAVE_MPI
static void finalize_mpi(void)
{
    int done = 0;
    MPI_Finalized(&done);
    if (!done) {
        MPI_Finalize();
    }
}
#endif

static ranks ranks_init(void)
{
    ranks r = { 0, 1 };
#ifdef TL_HAVE_MPI
    if (getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE")) {
        int started = 0;
        MPI_Initialized(&started);
        if (!started) {
            MPI_Init(NULL, NULL);
            atexit(finalize_mpi);
        }
        MPI_Comm_rank(MPI_COMM_WORLD, &r.rank);
        MPI_Comm_size(MPI_COMM_WORLD, &r.size);
    }
#endif
    return r;
}

/* Sum of `count` floats (in place) across processes. */
static void sum_across(const ranks *r, float *data, size_t count)
{
#ifdef TL_HAVE_MPI
    if (r->size > 1) {
        MPI_Allreduce(MPI_IN_PLACE, data, (int)count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    }
#else
    (void)r;
    (void)data;
    (void)count;
#endif
}

/* Batch-norm running statistics: the mean over processes, so all agree. */
static void average_bn_stats(const ranks *r, tl_net *net)
{
    if (r->size <= 1) {
        return;
    }
    for (int i = 0; i < net->count; ++i) {
        tl_node *n = &net->nodes[i];
        if (n->kind == TL_LAYER_BATCHNORM) {
            sum_across(r, n->running_mean, (size_t)n->c);
            sum_across(r, n->running_var, (size_t)n->c);
            for (int c = 0; c < n->c; ++c) {
                n->running_mean[c] /= (float)r->size;
                n->running_var[c] /= (float)r->size;
            }
        }
    }
}

void tl_train_defaults(tl_train_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->arch = "student";
    cfg->epochs = 10;
    cfg->batch = 128;
    /* Training threads split each batch (src/large/replicas.c). One by
     * default: results are then bit-reproducible, and OpenBLAS's own threads
     * cost more than they give on this engine's small GEMMs (measured: 459
     * vs 212 images/s for the student on 2 cores). */
    cfg->threads = 1;
    cfg->augment = 1;
    cfg->seed = 1;
    cfg->optimizer = TL_OPTIM_SGD;
    cfg->lr = 0.05f;
    cfg->momentum = 0.9f;
    cfg->weight_decay = 5e-4f;
    cfg->schedule = TL_SCHED_COSINE;
    cfg->warmup_epochs = 1;
    cfg->temperature = 4.0f;
    cfg->alpha = 0.7f;
    /* The decoupled loss's published CIFAR settings (Zhao et al. 2022: alpha
     * 1, beta 8, ramped in over 20 of 240 epochs); 2 epochs here is the same
     * share of a 25-epoch run. */
    cfg->dkd_alpha = 1.0f;
    cfg->dkd_beta = 8.0f;
    cfg->dkd_warmup = 2.0f;
    /* With alpha 0.7: 0.3 CE + 7 T^2 KL, near the z-scored loss's published
     * 0.1 CE + 9 T^2 KL (Sun et al. 2024), whose KL on unit-spread logits is
     * small. */
    cfg->zkd_weight = 10.0f;
    /* DIST's CIFAR weights (beta = gamma = 2 beside a CE of weight 1):
     * with alpha 0.5, the same ratio of cross-entropy to correlation. */
    cfg->pkd_weight = 2.0f;
}

#define fail tl_large_fail

static int compare_float(const void *a, const void *b)
{
    const float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : (x > y);
}

float tl_prune_magnitude(tl_net *net, const uint8_t *prunable, float fraction)
{
    size_t n = 0;
    for (size_t i = 0; i < net->param_count; ++i) {
        n += prunable[i] != 0;
    }
    if (n == 0 || !(fraction > 0)) {
        return 0.0f;
    }
    float *mags = malloc(n * sizeof(float));
    if (!mags) {
        return 0.0f;
    }
    size_t k = 0;
    for (size_t i = 0; i < net->param_count; ++i) {
        if (prunable[i]) {
            mags[k++] = fabsf(net->params[i]);
        }
    }
    qsort(mags, n, sizeof(float), compare_float);
    size_t cut = (size_t)((double)fraction * (double)n);
    cut = cut >= n ? n - 1 : cut;
    const float threshold = mags[cut];
    free(mags);
    size_t zeros = 0;
    for (size_t i = 0; i < net->param_count; ++i) {
        if (prunable[i]) {
            if (fabsf(net->params[i]) < threshold) {
                net->params[i] = 0.0f;
            }
            zeros += net->params[i] == 0.0f;
        }
    }
    return (float)zeros / (float)n;
}

void tl_fake_quantize(tl_net *net, int bits, float *shadow)
{
    memcpy(shadow, net->params, net->param_count * sizeof(float));
    for (int i = 0; i < net->count; ++i) {
        const tl_node *n = &net->nodes[i];
        if (n->kind != TL_LAYER_CONV && n->kind != TL_LAYER_DENSE && n->kind != TL_LAYER_DWCONV) {
            continue;
        }
        const int dw = n->kind == TL_LAYER_DWCONV;
        const float qmax = (dw ? 8 : bits) == 4 ? 7.0f : 127.0f;
        const size_t channels = (size_t)n->c, per = n->weight_count / channels;
        float *w = net->params + n->weight_at;
        for (size_t c = 0; c < channels; ++c) {
            float m = 0;
            for (size_t t = 0; t < per; ++t) {
                const float v = fabsf(w[dw ? t * channels + c : c * per + t]);
                m = v > m ? v : m;
            }
            if (m == 0) {
                continue;
            }
            const float scale = m / qmax;
            for (size_t t = 0; t < per; ++t) {
                float *v = &w[dw ? t * channels + c : c * per + t];
                float q = roundf(*v / scale);
                q = q > qmax ? qmax : (q < -qmax ? -qmax : q);
                *v = q * scale;
            }
        }
    }
}

void tl_restore_weights(tl_net *net, const float *shadow)
{
    memcpy(net->params, shadow, net->param_count * sizeof(float));
}

/* Pruned weights stay zero: re-apply after every optimiser step. */
static void keep_pruned(tl_net *net, const uint8_t *pruned)
{
    for (size_t i = 0; i < net->param_count; ++i) {
        if (pruned[i]) {
            net->params[i] = 0.0f;
        }
    }
}

tl_status tl_evaluate(tl_net *net, const tl_dataset *ds, float mean, float std, float *accuracy, float *loss)
{
    const int saved = net->training;
    net->training = 0;
    const size_t sample = (size_t)ds->h * ds->w * ds->c;
    float *x = malloc((size_t)net->batch * sample * sizeof(float));
    uint8_t *y = malloc((size_t)net->batch);
    if (!x || !y) {
        free(x);
        free(y);
        net->training = saved;
        return TL_ERR_NOMEM;
    }
    long correct[TL_MAX_EXITS] = { 0 };
    double total_loss = 0;
    for (int first = 0; first < ds->n; first += net->batch) {
        const int count = ds->n - first < net->batch ? ds->n - first : net->batch;
        tl_dataset_batch(ds, NULL, first, count, mean, std, 0, 0, NULL, x, y);
        tl_net_forward(net, x, count);
        for (int e = 0; e < net->exit_count; ++e) {
            const tl_node *out = &net->nodes[net->exits[e]];
            int hits = 0;
            const float l = tl_softmax_cross_entropy(out->out, y, count, out->c, 1, NULL, &hits);
            correct[e] += hits;
            if (e == net->exit_count - 1) {
                total_loss += (double)l * count;
            }
        }
    }
    for (int e = 0; e < net->exit_count; ++e) {
        accuracy[e] = ds->n ? (float)correct[e] / (float)ds->n : 0.0f;
    }
    if (loss) {
        *loss = ds->n ? (float)(total_loss / ds->n) : 0.0f;
    }
    free(x);
    free(y);
    net->training = saved;
    return TL_OK;
}

tl_status tl_evaluate_mean(tl_net *const *nets, const float *means, const float *stds, int count,
                           const tl_dataset *ds, int flip, float *accuracy)
{
    if (!nets || count < 1 || !ds || !accuracy) {
        return TL_ERR_ARG;
    }
    int batch = nets[0]->batch;
    for (int m = 0; m < count; ++m) {
        const tl_node *in = &nets[m]->nodes[0], *out = &nets[m]->nodes[nets[m]->exits[nets[m]->exit_count - 1]];
        if (in->h != ds->h || in->w != ds->w || in->c != ds->c || out->c != ds->classes) {
            return TL_ERR_SHAPE;
        }
        batch = nets[m]->batch < batch ? nets[m]->batch : batch;
    }
    const size_t sample = (size_t)ds->h * ds->w * ds->c;
    float *x = malloc((size_t)batch * sample * sizeof(float));
    float *sum = malloc((size_t)batch * ds->classes * sizeof(float));
    if (!x || !sum) {
        free(x);
        free(sum);
        return TL_ERR_NOMEM;
    }
    long correct = 0;
    for (int first = 0; first < ds->n; first += batch) {
        const int n = ds->n - first < batch ? ds->n - first : batch;
        memset(sum, 0, (size_t)n * ds->classes * sizeof(float));
        for (int m = 0; m < count; ++m) {
            tl_net *net = nets[m];
            const int saved = net->training;
            net->training = 0;
            for (int mirror = 0; mirror <= (flip ? 1 : 0); ++mirror) {
                const tl_view view = { 0, 0, mirror, 0, 0, 0 };
                for (int b = 0; b < n; ++b) {
                    tl_dataset_view(ds, (uint32_t)(first + b), means[m], stds[m], view, x + (size_t)b * sample);
                }
                tl_net_forward(net, x, n);
                const float *logits = net->nodes[net->exits[net->exit_count - 1]].out;
                for (size_t i = 0; i < (size_t)n * ds->classes; ++i) {
                    sum[i] += logits[i];
                }
            }
            net->training = saved;
        }
        for (int b = 0; b < n; ++b) {
            const float *row = sum + (size_t)b * ds->classes;
            int best = 0;
            for (int c = 1; c < ds->classes; ++c) {
                best = row[c] > row[best] ? c : best;
            }
            correct += best == ds->labels[first + b];
        }
    }
    *accuracy = ds->n ? (float)correct / (float)ds->n : 0.0f;
    free(x);
    free(sum);
    return TL_OK;
}

/* A progress bar of 24 cells, done of total filled. */
enum { BAR_CELLS = 24 };
static void fill_bar(char bar[BAR_CELLS + 1], long done, long total)
{
    const long filled = total > 0 ? done * BAR_CELLS / total : BAR_CELLS;
    for (int i = 0; i < BAR_CELLS; ++i) {
        bar[i] = i < filled ? '#' : '.';
    }
    bar[BAR_CELLS] = '\0';
}

/* One line of progress: a bar that redraws itself on a terminal. */
static void progress(const tl_train_config *cfg, int epoch, int done, int total, float loss, float acc,
                     double rate, double eta)
{
    if (cfg->quiet || !cfg->progress) {
        return;
    }
    char bar[BAR_CELLS + 1];
    fill_bar(bar, done, total);
    fprintf(stderr, "\repoch %d/%d [%s] %d/%d loss %.4f acc %.3f %.0f img/s ETA %.0fs   ", epoch + 1,
            cfg->epochs, bar, done, total, (double)loss, (double)acc, rate, eta);
    fflush(stderr);
}

/* Teacher logits, cached: the teacher runs once over the training images
 * (the threads each on a slice, with a teacher of their own) instead of on
 * every batch, which saves its forward pass every epoch (measured on one
 * thread: 212 s over the training set against ~70 s for an epoch of the
 * student; 500 s and ~140 s before the direct convolution kernels).
 * With views == 0 it scores the un-augmented images, and the student's
 * shifted and flipped views get their clean image's soft targets. With
 * views == K it scores K fixed augmented views of every image (tl_view_of),
 * and the student trains on those very views, so teacher and student always
 * see the same pixels: consistent teaching at K passes' cost, after Shen &
 * Xing's fast knowledge distillation (2022) and Beyer et al. (2022). */
typedef struct teacher_job {
    const char *const *paths; /* the teacher, or an ensemble whose logits are averaged */
    int path_count;
    const tl_dataset *data;
    int first, count, batch; /* rows: view * data->n + image */
    int views, cutout, flip;
    uint64_t seed;
    float *logits; /* [max(views, 1) * data->n, classes], this job's rows */
    const tl_attention_points *points; /* attention maps wanted (NULL: none) */
    float *maps;   /* [rows, points->floats] */
    atomic_long *rows_done;   /* shared by the jobs: rows scored, for progress */
    atomic_int *jobs_ended;   /* shared: jobs that have returned */
    tl_status status;
    char error[256];
} teacher_job;

/* A teacher must read the data's images and score its classes. */
static tl_status teacher_fits(const tl_net *t, const tl_dataset *d, const char *path, char *error, size_t size)
{
    const tl_node *in = &t->nodes[0], *out = &t->nodes[t->exits[t->exit_count - 1]];
    if (in->h != d->h || in->w != d->w || in->c != d->c) {
        return fail(error, size, TL_ERR_SHAPE, "%s: the teacher takes %dx%dx%d images, the data has %dx%dx%d", path,
                    in->h, in->w, in->c, d->h, d->w, d->c);
    }
    if (out->c != d->classes) {
        return fail(error, size, TL_ERR_SHAPE, "%s: the teacher has %d outputs, the data %d classes", path, out->c,
                    d->classes);
    }
    return TL_OK;
}

/* Mirrors a batch of NHWC images left to right, in place. */
static void mirror_batch(float *x, int n, int h, int w, int c)
{
    for (long row = 0; row < (long)n * h; ++row) {
        float *p = x + (size_t)row * w * c;
        for (int a = 0, b = w - 1; a < b; ++a, --b) {
            for (int k = 0; k < c; ++k) {
                const float t = p[a * c + k];
                p[a * c + k] = p[b * c + k];
                p[b * c + k] = t;
            }
        }
    }
}

/* The teacher's logits of n images into dst; with `flip`, the mean of its
 * logits of each image and of its mirror (a better teacher at twice the
 * cost: 94.51% against 94.32% for the reference teacher). x is left as it
 * came. */
static void teacher_scores(tl_net *t, float *x, int n, int flip, float *dst)
{
    const tl_node *in = &t->nodes[0], *out = &t->nodes[t->exits[t->exit_count - 1]];
    const size_t size = (size_t)n * out->c;
    tl_net_forward(t, x, n);
    memcpy(dst, out->out, size * sizeof(float));
    if (flip) {
        mirror_batch(x, n, in->h, in->w, in->c);
        tl_net_forward(t, x, n);
        for (size_t i = 0; i < size; ++i) {
            dst[i] = 0.5f * (dst[i] + out->out[i]);
        }
        mirror_batch(x, n, in->h, in->w, in->c);
    }
}

/* The attention maps of the n samples of the teacher's last forward pass
 * at its matched nodes, [n, points->floats]. */
static void teacher_maps(const tl_net *t, const tl_attention_points *points, int n, float *dst)
{
    for (int k = 0; k < points->count; ++k) {
        const tl_node *node = &t->nodes[points->teacher[k]];
        for (int b = 0; b < n; ++b) {
            tl_attention_map(node->out + (size_t)b * points->pixels[k] * node->c, points->pixels[k], node->c,
                             dst + (size_t)b * points->floats + points->offset[k]);
        }
    }
}

/* One teacher's pass over the job's rows: its logits into j->logits (the
 * first teacher) or added to them (the others of an ensemble, scored into
 * `scratch`, batch x classes floats). */
static void teacher_job_pass(teacher_job *j, int k, float *x, float *scratch)
{
    tl_net t;
    tl_checkpoint_info ti;
    j->status = tl_checkpoint_load(j->paths[k], j->batch, &t, NULL, &ti, j->error, sizeof j->error);
    if (j->status != TL_OK) {
        return;
    }
    t.training = 0;
    const tl_dataset *d = j->data;
    j->status = teacher_fits(&t, d, j->paths[k], j->error, sizeof j->error);
    const size_t sample = (size_t)d->h * d->w * d->c;
    for (int done = 0; j->status == TL_OK && done < j->count; done += j->batch) {
        const int n = j->count - done < j->batch ? j->count - done : j->batch;
        for (int b = 0; b < n; ++b) {
            const int row = j->first + done + b, image = row % d->n, view = row / d->n;
            const tl_view clean = { 0, 0, 0, 0, 0, 0 };
            tl_dataset_view(d, (uint32_t)image, ti.mean, ti.std,
                            j->views ? tl_view_of(j->seed, (uint32_t)image, view, d->h, d->w, j->cutout) : clean,
                            x + (size_t)b * sample);
        }
        float *dst = j->logits + (size_t)(j->first + done) * d->classes;
        teacher_scores(&t, x, n, j->flip, k == 0 ? dst : scratch);
        for (size_t i = 0; k > 0 && i < (size_t)n * d->classes; ++i) {
            dst[i] += scratch[i];
        }
        if (j->points) {
            teacher_maps(&t, j->points, n, j->maps + (size_t)(j->first + done) * j->points->floats);
        }
        atomic_fetch_add(j->rows_done, n);
    }
    tl_net_free(&t);
}

static void teacher_job_run(teacher_job *j)
{
    const tl_dataset *d = j->data;
    float *x = malloc((size_t)j->batch * d->h * d->w * d->c * sizeof(float));
    float *scratch = malloc((size_t)j->batch * d->classes * sizeof(float));
    j->status = x && scratch ? TL_OK : TL_ERR_NOMEM;
    if (!x || !scratch) {
        snprintf(j->error, sizeof j->error, "out of memory");
    }
    /* One teacher at a time: an ensemble costs no more memory than its
     * largest member. */
    for (int k = 0; j->status == TL_OK && k < j->path_count; ++k) {
        teacher_job_pass(j, k, x, scratch);
    }
    const size_t floats = (size_t)j->count * d->classes;
    float *logits = j->logits + (size_t)j->first * d->classes;
    for (size_t i = 0; j->status == TL_OK && j->path_count > 1 && i < floats; ++i) {
        logits[i] /= (float)j->path_count;
    }
    free(x);
    free(scratch);
}

static void *teacher_job_main(void *arg)
{
    teacher_job *j = arg;
    teacher_job_run(j);
    atomic_fetch_add(j->jobs_ended, 1);
    return NULL;
}

/* Progress of the teacher's pass, which takes longer than an epoch of the
 * student (4 views: 12 to 41 minutes on one thread in docs/benchmarks.md):
 * a bar on a terminal, a line at each tenth otherwise, then the total
 * (`last`). */
static void teacher_progress(const tl_train_config *cfg, long done, long rows, double seconds, int *tenths, int last)
{
    if (cfg->quiet || rows <= 0) {
        return;
    }
    const double rate = seconds > 0 ? (double)done / seconds : 0.0;
    if (last) {
        fprintf(stderr, "%steacher logits ready: %ld images scored in %.0f s (%.0f images/s)%s\n",
                cfg->progress ? "\r" : "", done, seconds, rate, cfg->progress ? "          " : "");
        return;
    }
    const int tenth = (int)(done * 10 / rows);
    if (done >= rows || (!cfg->progress && tenth <= *tenths)) {
        return;
    }
    *tenths = tenth;
    const double eta = rate > 0 ? (double)(rows - done) / rate : 0.0;
    if (cfg->progress) {
        char bar[BAR_CELLS + 1];
        fill_bar(bar, done, rows);
        fprintf(stderr, "\rteacher [%s] %ld/%ld images %.0f img/s ETA %.0fs   ", bar, done, rows, rate, eta);
    } else {
        fprintf(stderr, "teacher: %ld/%ld images scored (%ld%%), %.0f images/s, ETA %.0f s\n", done, rows,
                done * 100 / rows, rate, eta);
    }
    fflush(stderr);
}

static tl_status teacher_cache(const tl_train_config *cfg, const char *const *paths, int path_count,
                               const tl_dataset *train, const tl_attention_points *points, float **logits,
                               float **maps, char *error, size_t error_size)
{
    const int threads = cfg->threads > 1 ? cfg->threads : 1;
    const long rows = (long)train->n * (cfg->teacher_views > 0 ? cfg->teacher_views : 1);
    *logits = rows <= INT_MAX ? malloc((size_t)rows * train->classes * sizeof(float)) : NULL;
    *maps = points && rows <= INT_MAX ? malloc((size_t)rows * points->floats * sizeof(float)) : NULL;
    teacher_job *jobs = calloc((size_t)threads, sizeof *jobs);
    pthread_t *tids = calloc((size_t)threads, sizeof *tids);
    tl_status s = *logits && (*maps || !points) && jobs && tids ? TL_OK
                                                                : fail(error, error_size, TL_ERR_NOMEM, "out of memory");
    const double t0 = tl_monotonic_seconds();
    int started = 0;
    atomic_long rows_done = 0;
    atomic_int jobs_ended = 0;
    for (int t = 0; s == TL_OK && t < threads; ++t) {
        teacher_job *j = &jobs[t];
        j->rows_done = &rows_done;
        j->jobs_ended = &jobs_ended;
        j->paths = paths;
        j->path_count = path_count;
        j->data = train;
        j->first = (int)(rows * t / threads);
        j->count = (int)(rows * (t + 1) / threads) - j->first;
        j->batch = cfg->batch;
        j->views = cfg->teacher_views;
        j->cutout = cfg->cutout;
        j->flip = cfg->teacher_flip;
        j->seed = cfg->seed;
        j->logits = *logits;
        j->points = points;
        j->maps = *maps;
        if (pthread_create(&tids[t], NULL, teacher_job_main, j) != 0) {
            s = fail(error, error_size, TL_ERR_STATE, "cannot start a thread for the teacher");
            break;
        }
        started++;
    }
    int tenths = 0;
    while (!cfg->quiet && atomic_load(&jobs_ended) < started) { /* quiet runs (tests) just join */
        const struct timespec pause = { 0, 250000000 };
        nanosleep(&pause, NULL);
        teacher_progress(cfg, atomic_load(&rows_done), rows * path_count, tl_monotonic_seconds() - t0, &tenths, 0);
    }
    for (int t = 0; t < started; ++t) {
        pthread_join(tids[t], NULL);
        if (s == TL_OK && jobs[t].status != TL_OK) {
            s = fail(error, error_size, jobs[t].status, "%s", jobs[t].error);
        }
    }
    if (s == TL_OK) {
        teacher_progress(cfg, atomic_load(&rows_done), rows * path_count, tl_monotonic_seconds() - t0, &tenths, 1);
    }
    free(jobs);
    free(tids);
    if (s != TL_OK) {
        free(*logits);
        free(*maps);
        *logits = *maps = NULL;
    }
    return s;
}

tl_status tl_train(const tl_train_config *cfg, tl_train_report *report, char *error, size_t error_size)
{
    if (!cfg || !report || cfg->epochs < 1 || cfg->batch < 1 || !(cfg->lr > 0)) {
        return fail(error, error_size, TL_ERR_ARG, "epochs, batch and learning rate must be positive");
    }
    if (cfg->teacher_views < 0 || cfg->teacher_views > TL_TEACHER_VIEWS_MAX ||
        (cfg->teacher_views > 0 && (!cfg->teacher || !cfg->augment))) {
        return fail(error, error_size, TL_ERR_ARG, "teacher views must be 0 to %d, and need a teacher and augmentation",
                    TL_TEACHER_VIEWS_MAX);
    }
    if (cfg->teacher_cache && (!cfg->teacher || cfg->teacher_live)) {
        return fail(error, error_size, TL_ERR_ARG, "a teacher cache needs a teacher that is not run live");
    }
    if (cfg->more_teacher_count < 0 || cfg->more_teacher_count > TL_TEACHERS_MAX - 1 ||
        (cfg->more_teacher_count > 0 && (!cfg->teacher || cfg->teacher_live || cfg->attention > 0))) {
        return fail(error, error_size, TL_ERR_ARG,
                    "an ensemble is 2 to %d teachers, scored once before training (not live, not with attention "
                    "transfer)", TL_TEACHERS_MAX);
    }
    for (int k = 0; k < cfg->more_teacher_count; ++k) {
        if (!cfg->more_teachers[k]) {
            return fail(error, error_size, TL_ERR_ARG, "teacher %d of the ensemble has no checkpoint", k + 2);
        }
    }
    if (!(cfg->attention >= 0) || !isfinite(cfg->attention) ||
        (cfg->attention > 0 && (!cfg->teacher || cfg->teacher_cache || cfg->teacher_flip))) {
        return fail(error, error_size, TL_ERR_ARG,
                    "attention transfer needs a teacher and a finite non-negative weight, and does not go with a "
                    "teacher cache or the teacher's mirror images");
    }
    if (cfg->cutout < 0 || cfg->cutout > TL_CUTOUT_MAX || (cfg->cutout > 0 && !cfg->augment)) {
        return fail(error, error_size, TL_ERR_ARG, "cutout must be 0 to %d pixels, and needs augmentation",
                    TL_CUTOUT_MAX);
    }
    if (!(cfg->temperature > 0) || !(cfg->alpha >= 0) || !(cfg->dkd_alpha >= 0) || !(cfg->dkd_beta >= 0) ||
        !(cfg->dkd_warmup >= 0) || !(cfg->zkd_weight >= 0) || !(cfg->pkd_weight >= 0)) {
        return fail(error, error_size, TL_ERR_ARG,
                    "distillation needs a positive temperature and non-negative weights and warm-up");
    }
    if (cfg->kd != TL_KD_HINTON && cfg->kd != TL_KD_DECOUPLED && cfg->kd != TL_KD_ZSCORE &&
        cfg->kd != TL_KD_PEARSON) {
        return fail(error, error_size, TL_ERR_ARG, "unknown distillation loss %d", (int)cfg->kd);
    }
    memset(report, 0, sizeof *report);
    const ranks rk = ranks_init();
    tl_train_config local = *cfg;
    if (rk.rank != 0) {
        local.quiet = 1; /* one voice: rank 0 logs and writes checkpoints */
        local.out = NULL;
    }
    cfg = &local;
    openblas_set_num_threads(1); /* parallelism comes from the training threads */
    tl_dataset train, test;
    tl_status s = tl_dataset_load_dir(cfg->data_dir, 1, cfg->limit_train, &train, error, error_size);
    if (s != TL_OK) {
        return s;
    }
    s = tl_dataset_load_dir(cfg->data_dir, 0, cfg->limit_test, &test, error, error_size);
    if (s != TL_OK) {
        tl_dataset_free(&train);
        return s;
    }
    tl_net net, teacher;
    tl_optim opt;
    memset(&teacher, 0, sizeof teacher);
    memset(&opt, 0, sizeof opt);
    tl_checkpoint_info info;
    memset(&info, 0, sizeof info);
    int start_epoch = 0;
    if (cfg->resume) {
        s = tl_checkpoint_load(cfg->resume, cfg->batch, &net, &opt, &info, error, error_size);
        start_epoch = info.epoch;
    } else if (cfg->init) {
        /* Warm start: the checkpoint's weights and statistics, a fresh run. */
        s = tl_checkpoint_load(cfg->init, cfg->batch, &net, NULL, &info, error, error_size);
        if (s == TL_OK && cfg->prune_channels > 0) {
            /* Structured pruning: a narrower copy, then fine-tuning below. */
            tl_net slim;
            s = tl_net_prune_channels(&net, cfg->prune_channels, cfg->batch, &slim);
            tl_net_free(&net);
            if (s != TL_OK) {
                fail(error, error_size, s, "%s: cannot prune %.2f of its channels (%s)", cfg->init,
                     (double)cfg->prune_channels, s == TL_ERR_ARG ? "already channel-pruned, or a bad fraction"
                                                                  : tl_status_str(s));
            } else {
                net = slim;
                snprintf(info.arch, sizeof info.arch, "%s", net.arch);
            }
        }
        if (s == TL_OK) {
            s = tl_optim_init(&opt, net.param_count);
        }
        info.epoch = 0;
    } else {
        s = tl_net_build_arch(&net, cfg->arch, train.h, train.w, train.c, train.classes);
        if (s == TL_OK) {
            s = tl_net_finalize(&net, cfg->batch, cfg->seed);
        }
        if (s == TL_OK) {
            s = tl_optim_init(&opt, net.param_count);
        }
        if (s != TL_OK) {
            fail(error, error_size, s, "cannot build architecture '%s'", cfg->arch);
        }
        snprintf(info.arch, sizeof info.arch, "%s", cfg->arch);
        info.h = train.h;
        info.w = train.w;
        info.c = train.c;
        info.classes = train.classes;
        info.mean = TL_FASHION_MNIST_MEAN;
        info.std = TL_FASHION_MNIST_STD;
        info.seed = cfg->seed;
    }
    float *cached_logits = NULL, *slice_logits = NULL;
    if (s == TL_OK && cfg->teacher && cfg->teacher_live) {
        tl_checkpoint_info ti;
        s = tl_checkpoint_load(cfg->teacher, cfg->batch, &teacher, NULL, &ti, error, error_size);
        if (s == TL_OK) {
            teacher.training = 0;
            s = teacher_fits(&teacher, &train, cfg->teacher, error, error_size);
        }
    }
    /* Attention transfer: where the student's maps meet the teacher's. */
    tl_attention_points points;
    memset(&points, 0, sizeof points);
    if (s == TL_OK && cfg->attention > 0) {
        tl_net probe;
        memset(&probe, 0, sizeof probe);
        if (!cfg->teacher_live) {
            s = tl_checkpoint_load(cfg->teacher, 1, &probe, NULL, NULL, error, error_size);
        }
        if (s == TL_OK && tl_attention_match(&net, cfg->teacher_live ? &teacher : &probe, &points) != TL_OK) {
            s = fail(error, error_size, TL_ERR_SHAPE,
                     "%s: the student and the teacher share no feature-map size to match attention at "
                     "(or more than %d)", cfg->teacher, TL_ATTENTION_MAX);
        }
        tl_net_free(&probe);
    }
    const tl_attention_points *at_points = cfg->attention > 0 ? &points : NULL;
    float *cached_maps = NULL, *slice_maps = NULL;
    /* Cached teacher logits: from the cache file when it holds this run's,
     * else from the teacher's pass (then saved to the file). */
    uint8_t key[TL_LOGIT_CACHE_KEY];
    const char *teachers[TL_TEACHERS_MAX] = { cfg->teacher };
    const int teacher_count = 1 + cfg->more_teacher_count;
    for (int k = 1; k < teacher_count; ++k) {
        teachers[k] = cfg->more_teachers[k - 1];
    }
    const int use_cache = s == TL_OK && cfg->teacher && !cfg->teacher_live && cfg->teacher_cache;
    if (use_cache) {
        s = tl_logit_cache_key(teachers, teacher_count, &train, cfg->seed, cfg->teacher_views, cfg->cutout,
                               cfg->teacher_flip, train.classes, key, error, error_size);
    }
    if (s == TL_OK && use_cache) {
        char why[512] = "";
        if (tl_logit_cache_read(cfg->teacher_cache, key, &cached_logits, why, sizeof why) == TL_LOGIT_CACHE_READ) {
            report->teacher_cache_read = 1;
            if (!cfg->quiet) {
                fprintf(stderr, "teacher logits read from %s (%zu rows)\n", cfg->teacher_cache,
                        tl_logit_cache_rows(key));
            }
        } else if (!cfg->quiet) {
            fprintf(stderr, "%s; running the teacher\n", why);
        }
    }
    if (s == TL_OK && cfg->teacher && !cfg->teacher_live && !cached_logits) {
        if (!cfg->quiet && teacher_count > 1) {
            fprintf(stderr, "an ensemble of %d teachers, scored one after the other; their logits are averaged\n",
                    teacher_count);
        }
        if (!cfg->quiet && cfg->teacher_views > 0) {
            fprintf(stderr, "running the teacher once over %d views of each of %d training images (%d thread%s)\n",
                    cfg->teacher_views, train.n, cfg->threads > 1 ? cfg->threads : 1, cfg->threads > 1 ? "s" : "");
        } else if (!cfg->quiet) {
            fprintf(stderr, "running the teacher once over %d training images (%d thread%s)\n", train.n,
                    cfg->threads > 1 ? cfg->threads : 1, cfg->threads > 1 ? "s" : "");
        }
        s = teacher_cache(cfg, teachers, teacher_count, &train, at_points, &cached_logits, &cached_maps, error,
                          error_size);
        /* One writer under MPI. A cache that cannot be written costs the
         * next run the teacher's pass, not this run its training. */
        if (s == TL_OK && use_cache && rk.rank == 0) {
            if (tl_logit_cache_write(cfg->teacher_cache, key, cached_logits) == TL_OK) {
                report->teacher_cache_written = 1;
                if (!cfg->quiet) {
                    fprintf(stderr, "teacher logits saved to %s\n", cfg->teacher_cache);
                }
            } else if (!cfg->quiet) {
                fprintf(stderr, "warning: cannot write the teacher cache %s; training goes on without it\n",
                        cfg->teacher_cache);
            }
        }
    }
    if (s == TL_OK && cfg->teacher) {
        slice_logits = malloc((size_t)cfg->batch * train.classes * sizeof(float));
        slice_maps = at_points ? malloc((size_t)cfg->batch * points.floats * sizeof(float)) : NULL;
        if (!slice_logits || (at_points && !slice_maps)) {
            s = fail(error, error_size, TL_ERR_NOMEM, "out of memory");
        }
    }
    const int steps_per_epoch = (train.n + cfg->batch - 1) / cfg->batch;
    const int views = cfg->teacher_views; /* checked above: > 0 only with a teacher */
    /* The schedule's settings come from the command line even on resume. */
    opt.kind = cfg->optimizer;
    opt.lr = cfg->lr;
    opt.momentum = cfg->momentum;
    opt.weight_decay = cfg->weight_decay;
    opt.beta1 = 0.9f;
    opt.beta2 = 0.999f;
    opt.eps = 1e-8f;
    opt.schedule = cfg->schedule;
    opt.warmup_steps = cfg->warmup_epochs * steps_per_epoch;
    opt.total_steps = (long)cfg->epochs * steps_per_epoch;
    opt.step_every = steps_per_epoch * (cfg->epochs >= 3 ? cfg->epochs / 3 : 1);
    opt.step_gamma = 0.1f;

    const size_t sample = (size_t)train.h * train.w * train.c;
    float *x = malloc((size_t)cfg->batch * sample * sizeof(float));
    uint8_t *y = malloc((size_t)cfg->batch);
    uint32_t *order = malloc((size_t)train.n * sizeof(uint32_t));
    int *chosen = malloc((size_t)cfg->batch * sizeof(int)); /* each sample's teacher view */
    uint8_t *decay = s == TL_OK ? tl_net_decay_mask(&net) : NULL;
    uint8_t *pruned = cfg->prune > 0 && s == TL_OK ? calloc(net.param_count, 1) : NULL;
    float *shadow = cfg->qat_bits && s == TL_OK ? malloc(net.param_count * sizeof(float)) : NULL;
    if (s == TL_OK && cfg->qat_bits && !shadow) {
        s = fail(error, error_size, TL_ERR_NOMEM, "out of memory");
    }
    if (s == TL_OK && (!x || !y || !order || !chosen || !decay || (cfg->prune > 0 && !pruned))) {
        s = fail(error, error_size, TL_ERR_NOMEM, "out of memory");
    }
    /* Training threads: replicas sharing the parameters, one BLAS thread each. */
    tl_replicas reps;
    memset(&reps, 0, sizeof reps);
    if (s == TL_OK && (s = tl_replicas_init(&reps, &net, cfg->threads > 1 ? cfg->threads : 1)) != TL_OK) {
        fail(error, error_size, s, "cannot set up %d training threads", cfg->threads);
    }
    if (s == TL_OK && !cfg->quiet) {
        fprintf(stderr, "training %s (%zu parameters) on %d images, testing on %d, %d epochs of %d steps%s",
                info.arch, net.param_count, train.n, test.n, cfg->epochs, steps_per_epoch,
                !cfg->teacher                ? ""
                : cfg->kd == TL_KD_DECOUPLED ? ", distilling from the teacher (decoupled loss)"
                : cfg->kd == TL_KD_ZSCORE    ? ", distilling from the teacher (z-scored logits)"
                : cfg->kd == TL_KD_PEARSON   ? ", distilling from the teacher (correlation)"
                                             : ", distilling from the teacher");
        if (cfg->more_teacher_count > 0) {
            fprintf(stderr, " (an ensemble of %d)", 1 + cfg->more_teacher_count);
        }
        if (cfg->teacher && cfg->teacher_flip) {
            fprintf(stderr, " and its mirror images");
        }
        if (at_points) {
            fprintf(stderr, ", attention transfer at %d map size%s (beta %g)", points.count,
                    points.count > 1 ? "s" : "", (double)cfg->attention);
        }
        if (cfg->cutout > 0) {
            fprintf(stderr, ", cutout %dx%d", cfg->cutout, cfg->cutout);
        }
        fprintf(stderr, rk.size > 1 ? ", %d processes (MPI)\n" : "\n", rk.size);
    }
    const double started = tl_monotonic_seconds();
    long images = 0;
    for (int epoch = start_epoch; s == TL_OK && epoch < cfg->epochs; ++epoch) {
        if (pruned) {
            /* Gradual pruning (Zhu & Gupta 2017): the target is approached
             * on a cubic curve and held for the last epoch of fine-tuning. */
            const int ramp = cfg->epochs > 1 ? cfg->epochs - 1 : 1;
            const float t = (float)(epoch + 1) / (float)ramp;
            const float frac = cfg->prune * (1.0f - powf(1.0f - (t < 1 ? t : 1), 3.0f));
            const float now_zero = tl_prune_magnitude(&net, decay, frac);
            for (size_t i = 0; i < net.param_count; ++i) {
                pruned[i] = decay[i] && net.params[i] == 0.0f;
            }
            if (!cfg->quiet) {
                fprintf(stderr, "epoch %d/%d: %.1f%% of weights pruned\n", epoch + 1, cfg->epochs, 100.0 * now_zero);
            }
        }
        tl_shuffle(order, train.n, cfg->seed, epoch);
        uint64_t aug_rng = ((cfg->seed + 7) * 0x9E3779B97F4A7C15ull) ^ ((uint64_t)(epoch + 1) << 32) ^ 1;
        net.training = 1;
        double loss_sum = 0;
        long hits_sum = 0, seen = 0;
        const double epoch_start = tl_monotonic_seconds();
        for (int step = 0; step < steps_per_epoch; ++step) {
            /* This process's slice of the global batch. */
            const int global_first = step * cfg->batch;
            const int global_count = train.n - global_first < cfg->batch ? train.n - global_first : cfg->batch;
            const int first = global_first + (int)((long)global_count * rk.rank / rk.size);
            const int count = global_first + (int)((long)global_count * (rk.rank + 1) / rk.size) - first;
            if (count > 0 && views > 0) {
                tl_dataset_batch_views(&train, order, first, count, info.mean, info.std, cfg->seed, views, cfg->cutout,
                                       &aug_rng, x, y, chosen);
            } else if (count > 0) {
                tl_dataset_batch(&train, order, first, count, info.mean, info.std, cfg->augment, cfg->cutout,
                                 &aug_rng, x, y);
            }
            /* Teacher logits (distillation) for this slice, then forward, losses
             * and backward across the training threads. */
            const float *teacher_logits = NULL;
            if (cached_logits && count > 0) {
                for (int b = 0; b < count; ++b) {
                    const size_t row = (size_t)(views > 0 ? chosen[b] : 0) * train.n + order[first + b];
                    memcpy(slice_logits + (size_t)b * train.classes, cached_logits + row * train.classes,
                           train.classes * sizeof(float));
                    if (cached_maps) {
                        memcpy(slice_maps + (size_t)b * points.floats, cached_maps + row * points.floats,
                               (size_t)points.floats * sizeof(float));
                    }
                }
                teacher_logits = slice_logits;
            } else if (cfg->teacher && count > 0) {
                teacher_scores(&teacher, x, count, cfg->teacher_flip, slice_logits);
                if (at_points) {
                    teacher_maps(&teacher, at_points, count, slice_maps);
                }
                teacher_logits = slice_logits;
            }
            const tl_attention at = { at_points, cfg->attention, slice_maps };
            if (shadow) {
                tl_fake_quantize(&net, cfg->qat_bits, shadow); /* forward/backward on the device's grid */
            }
            tl_kd_params kd = { cfg->kd, cfg->temperature, cfg->alpha,
                                cfg->kd == TL_KD_PEARSON ? cfg->pkd_weight : cfg->zkd_weight };
            if (cfg->kd == TL_KD_DECOUPLED) {
                const double done = epoch + (double)step / steps_per_epoch;
                const float ramp = cfg->dkd_warmup > 0 && done < cfg->dkd_warmup ? (float)(done / cfg->dkd_warmup) : 1;
                kd.alpha = cfg->dkd_alpha * ramp;
                kd.beta = cfg->dkd_beta * ramp;
            }
            tl_replicas_train_step(&reps, x, y, count, global_count, teacher_logits, &kd, at_points ? &at : NULL,
                                   &loss_sum, &hits_sum);
            if (shadow) {
                tl_restore_weights(&net, shadow); /* the update goes to the float weights */
            }
            sum_across(&rk, net.grads, net.param_count);
            tl_optim_step(&opt, net.params, net.grads, decay);
            if (pruned) {
                keep_pruned(&net, pruned);
            }
            seen += count;
            images += count;
            const double elapsed = tl_monotonic_seconds() - epoch_start;
            progress(cfg, epoch, step + 1, steps_per_epoch, (float)(loss_sum / seen), (float)hits_sum / seen,
                     seen / elapsed, elapsed / (step + 1) * (steps_per_epoch - step - 1));
        }
        if (!isfinite(loss_sum)) {
            s = fail(error, error_size, TL_ERR_STATE, "training diverged (loss is not finite) in epoch %d; "
                     "try a lower --lr", epoch + 1);
            break;
        }
        float totals[3] = { (float)loss_sum, (float)hits_sum, (float)seen };
        sum_across(&rk, totals, 3);
        average_bn_stats(&rk, &net);
        report->train_loss = totals[0] / totals[2];
        report->train_accuracy = totals[1] / totals[2];
        tl_evaluate(&net, &test, info.mean, info.std, report->test_accuracy, NULL);
        report->exit_count = net.exit_count;
        report->epochs_run++;
        info.epoch = epoch + 1;
        info.accuracy = report->test_accuracy[net.exit_count - 1];
        if (cfg->out && (s = tl_checkpoint_save(cfg->out, &net, &opt, &info)) != TL_OK) {
            fail(error, error_size, s, "%s: cannot write the checkpoint", cfg->out);
            break;
        }
        if (!cfg->quiet) {
            if (cfg->progress) {
                fputc('\n', stderr);
            }
            fprintf(stderr, "epoch %d/%d: loss %.4f, train accuracy %.4f, test accuracy", epoch + 1, cfg->epochs,
                    (double)report->train_loss, (double)report->train_accuracy);
            for (int e = 0; e < net.exit_count; ++e) {
                fprintf(stderr, "%s%.4f", e ? " / " : " ", (double)report->test_accuracy[e]);
            }
            fprintf(stderr, ", %.0f images/s, lr %.4g\n", totals[2] / (tl_monotonic_seconds() - epoch_start), (double)tl_optim_lr(&opt));
        }
    }
    report->param_count = net.param_count;
    report->rank = rk.rank;
    report->processes = rk.size;
    report->seconds = tl_monotonic_seconds() - started;
    report->images_per_second = report->seconds > 0 ? (double)images * rk.size / report->seconds : 0;
    free(x);
    free(y);
    free(order);
    free(chosen);
    tl_replicas_free(&reps);
    free(shadow);
    free(decay);
    free(pruned);
    tl_optim_free(&opt);
    tl_net_free(&net);
    tl_net_free(&teacher);
    free(cached_logits);
    free(slice_logits);
    free(cached_maps);
    free(slice_maps);
    tl_dataset_free(&train);
    tl_dataset_free(&test);
    return s;
}
