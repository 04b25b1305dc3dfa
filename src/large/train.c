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

void tl_mpi_world(int *rank, int *size)
{
    *rank = 0;
    *size = 1;
#ifdef TL_HAVE_MPI
    if (getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE")) {
        int started = 0;
        MPI_Initialized(&started);
        if (!started) {
            MPI_Init(NULL, NULL);
            atexit(finalize_mpi);
        }
        MPI_Comm_rank(MPI_COMM_WORLD, rank);
        MPI_Comm_size(MPI_COMM_WORLD, size);
    }
#endif
}

static ranks ranks_init(int alone)
{
    ranks r = { 0, 1 };
    if (!alone) {
        tl_mpi_world(&r.rank, &r.size);
    }
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

#define fail tl_fail

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

/* A line of the run's log: to the caller's log callback, else stderr. */
#define say(cfg, ...) \
    tl_log((cfg)->quiet ? NULL : (cfg)->log ? (cfg)->log : tl_log_stderr, (cfg)->log_ctx, __VA_ARGS__)

tl_status tl_train_check(const tl_train_config *cfg, char *error, size_t error_size)
{
    if (!cfg || cfg->epochs < 1 || cfg->batch < 1 || !(cfg->lr > 0)) {
        return fail(error, error_size, TL_ERR_ARG, "epochs, batch and learning rate must be positive");
    }
    if (!cfg->resume && !cfg->init && (!cfg->arch || !tl_arch_describe(cfg->arch))) {
        return fail(error, error_size, TL_ERR_ARG, "unknown architecture '%s' (see --help)",
                    cfg->arch ? cfg->arch : "");
    }
    if (cfg->split_cut > 0 && (cfg->threads > 1 || (cfg->split_bits != 8 && cfg->split_bits != 32))) {
        return fail(error, error_size, TL_ERR_ARG, "split learning takes one training thread and 8 or 32 bits at "
                    "the cut");
    }
    if (cfg->prune_channels > 0 && !cfg->init) {
        return fail(error, error_size, TL_ERR_ARG, "pruning channels needs the trained network to prune (init)");
    }
    if (cfg->teacher_views < 0 || cfg->teacher_views > TL_TEACHER_VIEWS_MAX) {
        return fail(error, error_size, TL_ERR_ARG, "teacher views must be 0 to %d", TL_TEACHER_VIEWS_MAX);
    }
    if (cfg->teacher_views > 0 && !cfg->augment) {
        return fail(error, error_size, TL_ERR_ARG, "teacher views are augmented views; they cannot go without "
                                                   "augmentation");
    }
    if (cfg->cutout < 0 || cfg->cutout > TL_CUTOUT_MAX) {
        return fail(error, error_size, TL_ERR_ARG, "cutout must be 0 to %d pixels", TL_CUTOUT_MAX);
    }
    if (cfg->cutout > 0 && !cfg->augment) {
        return fail(error, error_size, TL_ERR_ARG, "cutout is an augmentation; it cannot go without augmentation");
    }
    if ((cfg->teacher_views > 0 || cfg->teacher_cache || cfg->teacher_live || cfg->teacher_flip ||
         cfg->more_teacher_count > 0 || cfg->attention > 0) && !cfg->teacher) {
        return fail(error, error_size, TL_ERR_ARG, "the teacher's options need a teacher");
    }
    if (cfg->teacher_cache && cfg->teacher_live) {
        return fail(error, error_size, TL_ERR_ARG, "a teacher cache keeps the logits of a teacher run once; it cannot "
                                                   "go with a live teacher");
    }
    if (cfg->more_teacher_count < 0 || cfg->more_teacher_count > TL_TEACHERS_MAX - 1) {
        return fail(error, error_size, TL_ERR_ARG, "an ensemble is 2 to %d teachers", TL_TEACHERS_MAX);
    }
    if (cfg->more_teacher_count > 0 && (cfg->teacher_live || cfg->attention > 0)) {
        return fail(error, error_size, TL_ERR_ARG, "an ensemble of teachers is scored once before training; it "
                    "cannot go with %s", cfg->teacher_live ? "a live teacher" : "attention transfer");
    }
    for (int k = 0; k < cfg->more_teacher_count; ++k) {
        if (!cfg->more_teachers[k]) {
            return fail(error, error_size, TL_ERR_ARG, "teacher %d of the ensemble has no checkpoint", k + 2);
        }
    }
    if (!(cfg->attention >= 0) || !isfinite(cfg->attention)) {
        return fail(error, error_size, TL_ERR_ARG, "attention transfer needs a finite non-negative weight");
    }
    if (cfg->attention > 0 && (cfg->teacher_cache || cfg->teacher_flip)) {
        return fail(error, error_size, TL_ERR_ARG, "attention transfer needs the teacher's feature maps, which "
                                                   "neither a teacher cache nor the teacher's mirror images keep");
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
    return TL_OK;
}

/* ---- the teacher, one source whatever its kind ---- */

/* A live network scored on every batch, or logits (and attention maps)
 * from one pass before training, computed or read from the cache file. */
typedef struct teacher_source {
    int present, live;
    tl_net net;                 /* live */
    float *logits, *maps;       /* cached: rows view * n + image */
    float *slice_logits, *slice_maps;
    tl_attention_points points; /* attention transfer: where the maps meet */
    const tl_attention_points *at_points; /* &points, or NULL */
} teacher_source;

static tl_status teacher_open(teacher_source *t, const tl_train_config *cfg, const tl_net *student,
                              const tl_dataset *train, int rank, tl_train_report *report, char *error,
                              size_t error_size)
{
    memset(t, 0, sizeof *t);
    if (!cfg->teacher) {
        return TL_OK;
    }
    t->present = 1;
    t->live = cfg->teacher_live;
    tl_status s = TL_OK;
    if (t->live) {
        tl_checkpoint_info ti;
        s = tl_checkpoint_load(cfg->teacher, cfg->batch, &t->net, NULL, &ti, error, error_size);
        if (s == TL_OK) {
            t->net.training = 0;
            s = teacher_fits(&t->net, train, cfg->teacher, error, error_size);
        }
    }
    /* Attention transfer: where the student's maps meet the teacher's. */
    if (s == TL_OK && cfg->attention > 0) {
        tl_net probe;
        memset(&probe, 0, sizeof probe);
        if (!t->live) {
            s = tl_checkpoint_load(cfg->teacher, 1, &probe, NULL, NULL, error, error_size);
        }
        if (s == TL_OK && tl_attention_match(student, t->live ? &t->net : &probe, &t->points) != TL_OK) {
            s = fail(error, error_size, TL_ERR_SHAPE,
                     "%s: the student and the teacher share no feature-map size to match attention at "
                     "(or more than %d)", cfg->teacher, TL_ATTENTION_MAX);
        }
        tl_net_free(&probe);
        t->at_points = &t->points;
    }
    /* Cached teacher logits: from the cache file when it holds this run's,
     * else from the teacher's pass (then saved to the file). */
    uint8_t key[TL_LOGIT_CACHE_KEY];
    const char *teachers[TL_TEACHERS_MAX] = { cfg->teacher };
    const int teacher_count = 1 + cfg->more_teacher_count;
    for (int k = 1; k < teacher_count; ++k) {
        teachers[k] = cfg->more_teachers[k - 1];
    }
    const int use_cache = s == TL_OK && !t->live && cfg->teacher_cache;
    if (use_cache) {
        s = tl_logit_cache_key(teachers, teacher_count, train, cfg->seed, cfg->teacher_views, cfg->cutout,
                               cfg->teacher_flip, train->classes, key, error, error_size);
    }
    if (s == TL_OK && use_cache) {
        char why[512] = "";
        if (tl_logit_cache_read(cfg->teacher_cache, key, &t->logits, why, sizeof why) == TL_LOGIT_CACHE_READ) {
            report->teacher_cache_read = 1;
            say(cfg, "teacher logits read from %s (%zu rows)", cfg->teacher_cache, tl_logit_cache_rows(key));
        } else {
            say(cfg, "%s; running the teacher", why);
        }
    }
    if (s == TL_OK && !t->live && !t->logits) {
        if (teacher_count > 1) {
            say(cfg, "an ensemble of %d teachers, scored one after the other; their logits are averaged",
                teacher_count);
        }
        const int threads = cfg->threads > 1 ? cfg->threads : 1;
        if (cfg->teacher_views > 0) {
            say(cfg, "running the teacher once over %d views of each of %d training images (%d thread%s)",
                cfg->teacher_views, train->n, threads, threads > 1 ? "s" : "");
        } else {
            say(cfg, "running the teacher once over %d training images (%d thread%s)", train->n, threads,
                threads > 1 ? "s" : "");
        }
        s = teacher_cache(cfg, teachers, teacher_count, train, t->at_points, &t->logits, &t->maps, error, error_size);
        /* One writer under MPI. A cache that cannot be written costs the
         * next run the teacher's pass, not this run its training. */
        if (s == TL_OK && use_cache && rank == 0) {
            if (tl_logit_cache_write(cfg->teacher_cache, key, t->logits) == TL_OK) {
                report->teacher_cache_written = 1;
                say(cfg, "teacher logits saved to %s", cfg->teacher_cache);
            } else {
                say(cfg, "warning: cannot write the teacher cache %s; training goes on without it", cfg->teacher_cache);
            }
        }
    }
    if (s == TL_OK) {
        t->slice_logits = malloc((size_t)cfg->batch * train->classes * sizeof(float));
        t->slice_maps = t->at_points ? malloc((size_t)cfg->batch * t->points.floats * sizeof(float)) : NULL;
        if (!t->slice_logits || (t->at_points && !t->slice_maps)) {
            s = fail(error, error_size, TL_ERR_NOMEM, "out of memory");
        }
    }
    return s;
}

/* The teacher's logits (and maps) for a batch: rows of the cache, or the
 * live network on the very pixels the student sees. NULL: no teacher. */
static const float *teacher_batch(teacher_source *t, const tl_train_config *cfg, const tl_dataset *train, float *x,
                                  int count, const uint32_t *order, int first, const int *chosen)
{
    if (!t->present || count <= 0) {
        return NULL;
    }
    if (t->logits) {
        for (int b = 0; b < count; ++b) {
            const size_t row = (size_t)(cfg->teacher_views > 0 ? chosen[b] : 0) * train->n + order[first + b];
            memcpy(t->slice_logits + (size_t)b * train->classes, t->logits + row * train->classes,
                   train->classes * sizeof(float));
            if (t->maps) {
                memcpy(t->slice_maps + (size_t)b * t->points.floats, t->maps + row * t->points.floats,
                       (size_t)t->points.floats * sizeof(float));
            }
        }
    } else {
        teacher_scores(&t->net, x, count, cfg->teacher_flip, t->slice_logits);
        if (t->at_points) {
            teacher_maps(&t->net, t->at_points, count, t->slice_maps);
        }
    }
    return t->slice_logits;
}

static void teacher_close(teacher_source *t)
{
    tl_net_free(&t->net);
    free(t->logits);
    free(t->maps);
    free(t->slice_logits);
    free(t->slice_maps);
    memset(t, 0, sizeof *t);
}

/* ---- the trainer ---- */

struct tl_trainer {
    tl_train_config cfg;        /* the caller's, adjusted for this process's MPI rank */
    ranks rk;
    const tl_dataset *train, *test;
    tl_net net;
    tl_optim opt;
    tl_checkpoint_info info;
    teacher_source teacher;
    tl_replicas reps;
    int steps_per_epoch;
    int step;                   /* steps done in the current epoch (0: none begun) */
    float *x, *shadow;
    uint8_t *y, *decay, *pruned;
    uint32_t *order;
    int *chosen;                /* each sample's teacher view */
    uint64_t aug_rng;
    double loss_sum, started, epoch_start;
    long hits_sum, seen, images;
    const float *prox_center;   /* FedProx: mu/2 |w - center|^2 joins the loss */
    float prox_mu;
    tl_cut_link cut_link;       /* split learning's count, when the caller gives none */
};

/* The network: resumed, warm-started (and perhaps channel-pruned), or built. */
static tl_status open_network(tl_trainer *t, char *error, size_t error_size)
{
    const tl_train_config *cfg = &t->cfg;
    tl_checkpoint_info *info = &t->info;
    tl_status s;
    if (cfg->resume) {
        return tl_checkpoint_load(cfg->resume, cfg->batch, &t->net, &t->opt, info, error, error_size);
    }
    if (cfg->init) {
        /* Warm start: the checkpoint's weights and statistics, a fresh run. */
        s = tl_checkpoint_load(cfg->init, cfg->batch, &t->net, NULL, info, error, error_size);
        if (s == TL_OK && cfg->prune_channels > 0) {
            /* Structured pruning: a narrower copy, then fine-tuning. */
            tl_net slim;
            s = tl_net_prune_channels(&t->net, cfg->prune_channels, cfg->batch, &slim);
            tl_net_free(&t->net);
            if (s != TL_OK) {
                fail(error, error_size, s, "%s: cannot prune %.2f of its channels (%s)", cfg->init,
                     (double)cfg->prune_channels, s == TL_ERR_ARG ? "already channel-pruned, or a bad fraction"
                                                                  : tl_status_str(s));
            } else {
                t->net = slim;
                snprintf(info->arch, sizeof info->arch, "%s", t->net.arch);
            }
        }
        if (s == TL_OK) {
            s = tl_optim_init(&t->opt, t->net.param_count);
        }
        info->epoch = 0;
        return s;
    }
    s = tl_net_build_arch(&t->net, cfg->arch, t->train->h, t->train->w, t->train->c, t->train->classes);
    if (s == TL_OK) {
        s = tl_net_finalize(&t->net, cfg->batch, cfg->seed);
    }
    if (s == TL_OK) {
        s = tl_optim_init(&t->opt, t->net.param_count);
    }
    if (s != TL_OK) {
        fail(error, error_size, s, "cannot build architecture '%s'", cfg->arch);
    }
    snprintf(info->arch, sizeof info->arch, "%s", cfg->arch);
    info->h = t->train->h;
    info->w = t->train->w;
    info->c = t->train->c;
    info->classes = t->train->classes;
    info->mean = TL_FASHION_MNIST_MEAN;
    info->std = TL_FASHION_MNIST_STD;
    info->seed = cfg->seed;
    return s;
}

/* The optimiser's settings come from the configuration even on resume. */
static void set_schedule(tl_trainer *t)
{
    const tl_train_config *cfg = &t->cfg;
    tl_optim *opt = &t->opt;
    opt->kind = cfg->optimizer;
    opt->lr = cfg->lr;
    opt->momentum = cfg->momentum;
    opt->weight_decay = cfg->weight_decay;
    opt->beta1 = 0.9f;
    opt->beta2 = 0.999f;
    opt->eps = 1e-8f;
    opt->schedule = cfg->schedule;
    opt->warmup_steps = cfg->warmup_epochs * t->steps_per_epoch;
    opt->total_steps = (long)cfg->epochs * t->steps_per_epoch;
    opt->step_every = t->steps_per_epoch * (cfg->epochs >= 3 ? cfg->epochs / 3 : 1);
    opt->step_gamma = 0.1f;
}

static void announce(const tl_trainer *t)
{
    const tl_train_config *cfg = &t->cfg;
    char line[512];
    int n = snprintf(line, sizeof line, "training %s (%zu parameters) on %d images, testing on %d, %d epochs of %d steps%s",
                     t->info.arch, t->net.param_count, t->train->n, t->test->n, cfg->epochs, t->steps_per_epoch,
                     !cfg->teacher                ? ""
                     : cfg->kd == TL_KD_DECOUPLED ? ", distilling from the teacher (decoupled loss)"
                     : cfg->kd == TL_KD_ZSCORE    ? ", distilling from the teacher (z-scored logits)"
                     : cfg->kd == TL_KD_PEARSON   ? ", distilling from the teacher (correlation)"
                                                  : ", distilling from the teacher");
    if (n > 0 && (size_t)n < sizeof line && cfg->more_teacher_count > 0) {
        n += snprintf(line + n, sizeof line - (size_t)n, " (an ensemble of %d)", 1 + cfg->more_teacher_count);
    }
    if (n > 0 && (size_t)n < sizeof line && cfg->teacher && cfg->teacher_flip) {
        n += snprintf(line + n, sizeof line - (size_t)n, " and its mirror images");
    }
    if (n > 0 && (size_t)n < sizeof line && t->teacher.at_points) {
        n += snprintf(line + n, sizeof line - (size_t)n, ", attention transfer at %d map size%s (beta %g)",
                      t->teacher.points.count, t->teacher.points.count > 1 ? "s" : "", (double)cfg->attention);
    }
    if (n > 0 && (size_t)n < sizeof line && cfg->cutout > 0) {
        n += snprintf(line + n, sizeof line - (size_t)n, ", cutout %dx%d", cfg->cutout, cfg->cutout);
    }
    if (n > 0 && (size_t)n < sizeof line && t->rk.size > 1) {
        snprintf(line + n, sizeof line - (size_t)n, ", %d processes (MPI)", t->rk.size);
    }
    say(cfg, "%s", line);
}

tl_status tl_trainer_init(tl_trainer **out, const tl_train_config *config, const tl_dataset *train,
                          const tl_dataset *test, tl_train_report *report, char *error, size_t error_size)
{
    *out = NULL;
    tl_status s = tl_train_check(config, error, error_size);
    if (s != TL_OK) {
        return s;
    }
    tl_trainer *t = calloc(1, sizeof *t);
    if (!t) {
        return fail(error, error_size, TL_ERR_NOMEM, "out of memory");
    }
    memset(report, 0, sizeof *report);
    t->rk = ranks_init(config->alone);
    t->cfg = *config;
    if (t->rk.rank != 0) {
        t->cfg.quiet = 1; /* one voice: rank 0 logs and writes checkpoints */
        t->cfg.out = NULL;
    }
    const tl_train_config *cfg = &t->cfg;
    t->train = train;
    t->test = test;
    openblas_set_num_threads(1); /* parallelism comes from the training threads */
    s = open_network(t, error, error_size);
    if (s == TL_OK) {
        s = teacher_open(&t->teacher, cfg, &t->net, train, t->rk.rank, report, error, error_size);
    }
    t->steps_per_epoch = (train->n + cfg->batch - 1) / cfg->batch;
    set_schedule(t);
    const size_t sample = (size_t)train->h * train->w * train->c;
    t->x = malloc((size_t)cfg->batch * sample * sizeof(float));
    t->y = malloc((size_t)cfg->batch);
    t->order = malloc((size_t)train->n * sizeof(uint32_t));
    t->chosen = malloc((size_t)cfg->batch * sizeof(int));
    t->decay = s == TL_OK ? tl_net_decay_mask(&t->net) : NULL;
    t->pruned = cfg->prune > 0 && s == TL_OK ? calloc(t->net.param_count, 1) : NULL;
    t->shadow = cfg->qat_bits && s == TL_OK ? malloc(t->net.param_count * sizeof(float)) : NULL;
    if (s == TL_OK && (!t->x || !t->y || !t->order || !t->chosen || !t->decay || (cfg->prune > 0 && !t->pruned) ||
                       (cfg->qat_bits && !t->shadow))) {
        s = fail(error, error_size, TL_ERR_NOMEM, "out of memory");
    }
    /* Split learning: every pass crosses the cut through tl_cut_exchange. */
    if (s == TL_OK && cfg->split_cut > 0) {
        tl_cut_link *link = cfg->split_link ? cfg->split_link : &t->cut_link;
        link->bits = cfg->split_bits;
        const tl_status cs = tl_net_set_cut(&t->net, cfg->split_cut, tl_cut_exchange, link);
        if (cs != TL_OK) {
            s = fail(error, error_size, cs, "cannot cut %s after node %d: %s (its nodes: 0, the input, to %d)",
                     t->net.arch, cfg->split_cut,
                     cs == TL_ERR_SHAPE ? "a skip connection crosses it" : "it is not inside the network",
                     t->net.count - 1);
        } else {
            const tl_node *n = &t->net.nodes[cfg->split_cut];
            say(cfg, "split learning: the device's half is nodes 1-%d (to %s, %dx%dx%d), the edge's the rest; "
                "%d-bit activations up and gradients down", cfg->split_cut, n->name, n->h, n->w, n->c,
                cfg->split_bits);
        }
    }
    /* Training threads: replicas sharing the parameters, one BLAS thread each. */
    if (s == TL_OK && (s = tl_replicas_init(&t->reps, &t->net, cfg->threads > 1 ? cfg->threads : 1)) != TL_OK) {
        fail(error, error_size, s, "cannot set up %d training threads", cfg->threads);
    }
    if (s != TL_OK) {
        tl_trainer_free(t);
        return s;
    }
    announce(t);
    t->started = tl_monotonic_seconds();
    *out = t;
    return TL_OK;
}

int tl_trainer_epochs_done(const tl_trainer *t)
{
    return t->info.epoch;
}

tl_net *tl_trainer_net(tl_trainer *t)
{
    return &t->net;
}

/* An epoch begins: the pruning target of this epoch, the shuffle, the
 * augmentation stream. */
static void begin_epoch(tl_trainer *t)
{
    const tl_train_config *cfg = &t->cfg;
    const int epoch = t->info.epoch;
    if (t->pruned) {
        /* Gradual pruning (Zhu & Gupta 2017): the target is approached on a
         * cubic curve and held for the last epoch of fine-tuning. */
        const int ramp = cfg->epochs > 1 ? cfg->epochs - 1 : 1;
        const float u = (float)(epoch + 1) / (float)ramp;
        const float frac = cfg->prune * (1.0f - powf(1.0f - (u < 1 ? u : 1), 3.0f));
        const float now_zero = tl_prune_magnitude(&t->net, t->decay, frac);
        for (size_t i = 0; i < t->net.param_count; ++i) {
            t->pruned[i] = t->decay[i] && t->net.params[i] == 0.0f;
        }
        say(cfg, "epoch %d/%d: %.1f%% of weights pruned", epoch + 1, cfg->epochs, 100.0 * now_zero);
    }
    tl_shuffle(t->order, t->train->n, cfg->seed, epoch);
    t->aug_rng = ((cfg->seed + 7) * 0x9E3779B97F4A7C15ull) ^ ((uint64_t)(epoch + 1) << 32) ^ 1;
    t->net.training = 1;
    t->loss_sum = 0;
    t->hits_sum = 0;
    t->seen = 0;
    t->epoch_start = tl_monotonic_seconds();
}

tl_status tl_trainer_step(tl_trainer *t)
{
    const tl_train_config *cfg = &t->cfg;
    const tl_dataset *train = t->train;
    if (t->step == 0) {
        begin_epoch(t);
    }
    const int step = t->step, epoch = t->info.epoch, views = cfg->teacher_views;
    /* This process's slice of the global batch. */
    const int global_first = step * cfg->batch;
    const int global_count = train->n - global_first < cfg->batch ? train->n - global_first : cfg->batch;
    const int first = global_first + (int)((long)global_count * t->rk.rank / t->rk.size);
    const int count = global_first + (int)((long)global_count * (t->rk.rank + 1) / t->rk.size) - first;
    if (count > 0 && views > 0) {
        tl_dataset_batch_views(train, t->order, first, count, t->info.mean, t->info.std, cfg->seed, views, cfg->cutout,
                               &t->aug_rng, t->x, t->y, t->chosen);
    } else if (count > 0) {
        tl_dataset_batch(train, t->order, first, count, t->info.mean, t->info.std, cfg->augment, cfg->cutout,
                         &t->aug_rng, t->x, t->y);
    }
    /* Teacher logits (distillation) for this slice, then forward, losses
     * and backward across the training threads. */
    const float *teacher_logits = teacher_batch(&t->teacher, cfg, train, t->x, count, t->order, first, t->chosen);
    const tl_attention at = { t->teacher.at_points, cfg->attention, t->teacher.slice_maps };
    if (t->shadow) {
        tl_fake_quantize(&t->net, cfg->qat_bits, t->shadow); /* forward/backward on the device's grid */
    }
    tl_kd_params kd = { cfg->kd, cfg->temperature, cfg->alpha,
                        cfg->kd == TL_KD_PEARSON ? cfg->pkd_weight : cfg->zkd_weight };
    if (cfg->kd == TL_KD_DECOUPLED) {
        const double done = epoch + (double)step / t->steps_per_epoch;
        const float ramp = cfg->dkd_warmup > 0 && done < cfg->dkd_warmup ? (float)(done / cfg->dkd_warmup) : 1;
        kd.alpha = cfg->dkd_alpha * ramp;
        kd.beta = cfg->dkd_beta * ramp;
    }
    tl_replicas_train_step(&t->reps, t->x, t->y, count, global_count, teacher_logits, &kd,
                           t->teacher.at_points ? &at : NULL, &t->loss_sum, &t->hits_sum);
    if (t->shadow) {
        tl_restore_weights(&t->net, t->shadow); /* the update goes to the float weights */
    }
    sum_across(&t->rk, t->net.grads, t->net.param_count);
    if (t->prox_center) {
        for (size_t i = 0; i < t->net.param_count; ++i) {
            t->net.grads[i] += t->prox_mu * (t->net.params[i] - t->prox_center[i]);
        }
    }
    tl_optim_step(&t->opt, t->net.params, t->net.grads, t->decay);
    if (t->pruned) {
        keep_pruned(&t->net, t->pruned);
    }
    t->seen += count;
    t->images += count;
    t->step++;
    const double elapsed = tl_monotonic_seconds() - t->epoch_start;
    progress(cfg, epoch, t->step, t->steps_per_epoch, (float)(t->loss_sum / t->seen), (float)t->hits_sum / t->seen,
             t->seen / elapsed, elapsed / t->step * (t->steps_per_epoch - t->step));
    return TL_OK;
}

/* The epoch ends: its figures across processes, the test accuracy, the
 * checkpoint. */
static tl_status end_epoch(tl_trainer *t, tl_train_report *report, char *error, size_t error_size)
{
    const tl_train_config *cfg = &t->cfg;
    const int epoch = t->info.epoch;
    t->step = 0;
    if (!isfinite(t->loss_sum)) {
        return fail(error, error_size, TL_ERR_STATE, "training diverged (loss is not finite) in epoch %d; "
                    "try a lower --lr", epoch + 1);
    }
    float totals[3] = { (float)t->loss_sum, (float)t->hits_sum, (float)t->seen };
    sum_across(&t->rk, totals, 3);
    average_bn_stats(&t->rk, &t->net);
    report->train_loss = totals[0] / totals[2];
    report->train_accuracy = totals[1] / totals[2];
    tl_evaluate(&t->net, t->test, t->info.mean, t->info.std, report->test_accuracy, NULL);
    report->exit_count = t->net.exit_count;
    report->epochs_run++;
    t->info.epoch = epoch + 1;
    t->info.accuracy = report->test_accuracy[t->net.exit_count - 1];
    tl_status s = TL_OK;
    if (cfg->out && (s = tl_checkpoint_save(cfg->out, &t->net, &t->opt, &t->info)) != TL_OK) {
        return fail(error, error_size, s, "%s: cannot write the checkpoint", cfg->out);
    }
    if (!cfg->quiet && cfg->progress && !cfg->log) {
        fputc('\n', stderr); /* below the progress bar */
    }
    char line[400];
    int n = snprintf(line, sizeof line, "epoch %d/%d: loss %.4f, train accuracy %.4f, test accuracy", epoch + 1,
                     cfg->epochs, (double)report->train_loss, (double)report->train_accuracy);
    for (int e = 0; e < t->net.exit_count && n > 0 && (size_t)n < sizeof line; ++e) {
        n += snprintf(line + n, sizeof line - (size_t)n, "%s%.4f", e ? " / " : " ", (double)report->test_accuracy[e]);
    }
    if (n > 0 && (size_t)n < sizeof line) {
        snprintf(line + n, sizeof line - (size_t)n, ", %.0f images/s, lr %.4g",
                 totals[2] / (tl_monotonic_seconds() - t->epoch_start), (double)tl_optim_lr(&t->opt));
    }
    say(cfg, "%s", line);
    return TL_OK;
}

tl_status tl_trainer_epoch(tl_trainer *t, tl_train_report *report, char *error, size_t error_size)
{
    while (t->step < t->steps_per_epoch) {
        const tl_status s = tl_trainer_step(t);
        if (s != TL_OK) {
            return s;
        }
    }
    return end_epoch(t, report, error, error_size);
}

tl_status tl_trainer_evaluate(tl_trainer *t, const tl_dataset *ds, float *accuracy)
{
    return tl_evaluate(&t->net, ds, t->info.mean, t->info.std, accuracy, NULL);
}

tl_status tl_trainer_save(const tl_trainer *t, const char *path)
{
    return tl_checkpoint_save(path, &t->net, &t->opt, &t->info);
}

void tl_trainer_finish(const tl_trainer *t, tl_train_report *report)
{
    report->param_count = t->net.param_count;
    report->rank = t->rk.rank;
    report->processes = t->rk.size;
    report->seconds = tl_monotonic_seconds() - t->started;
    report->images_per_second = report->seconds > 0 ? (double)t->images * t->rk.size / report->seconds : 0;
}

void tl_trainer_free(tl_trainer *t)
{
    if (!t) {
        return;
    }
    free(t->x);
    free(t->y);
    free(t->order);
    free(t->chosen);
    tl_replicas_free(&t->reps);
    free(t->shadow);
    free(t->decay);
    free(t->pruned);
    tl_optim_free(&t->opt);
    tl_net_free(&t->net);
    teacher_close(&t->teacher);
    free(t);
}

/* The whole run, as `tinylarge train` and `distill` do it: the data, the
 * trainer, its epochs. */
tl_status tl_train(const tl_train_config *cfg, tl_train_report *report, char *error, size_t error_size)
{
    if (!cfg || !report) {
        return fail(error, error_size, TL_ERR_ARG, "no configuration");
    }
    tl_status s = tl_train_check(cfg, error, error_size);
    if (s != TL_OK) {
        return s;
    }
    tl_dataset train, test;
    s = tl_dataset_load_dir(cfg->data_dir, 1, cfg->limit_train, &train, error, error_size);
    if (s != TL_OK) {
        return s;
    }
    s = tl_dataset_load_dir(cfg->data_dir, 0, cfg->limit_test, &test, error, error_size);
    if (s != TL_OK) {
        tl_dataset_free(&train);
        return s;
    }
    tl_trainer *t = NULL;
    s = tl_trainer_init(&t, cfg, &train, &test, report, error, error_size);
    while (s == TL_OK && tl_trainer_epochs_done(t) < cfg->epochs) {
        s = tl_trainer_epoch(t, report, error, error_size);
    }
    if (t) {
        tl_trainer_finish(t, report);
        tl_trainer_free(t);
    }
    tl_dataset_free(&train);
    tl_dataset_free(&test);
    return s;
}

tl_status tl_trainer_restart(tl_trainer *t, const tl_dataset *train, uint64_t seed)
{
    if (!t || !train || train->n < 1 || train->h != t->train->h || train->w != t->train->w ||
        train->c != t->train->c) {
        return TL_ERR_ARG;
    }
    if (train->n > t->train->n) {
        uint32_t *order = realloc(t->order, (size_t)train->n * sizeof(uint32_t));
        if (!order) {
            return TL_ERR_NOMEM;
        }
        t->order = order;
    }
    t->train = train;
    t->cfg.seed = seed;
    t->info.epoch = 0;
    t->step = 0;
    t->steps_per_epoch = (train->n + t->cfg.batch - 1) / t->cfg.batch;
    set_schedule(t);
    t->opt.step = 0;
    if (t->opt.m) {
        memset(t->opt.m, 0, t->opt.count * sizeof(float));
    }
    if (t->opt.v) {
        memset(t->opt.v, 0, t->opt.count * sizeof(float));
    }
    return TL_OK;
}

void tl_trainer_set_rate(tl_trainer *t, float lr)
{
    t->cfg.lr = lr;
    t->opt.lr = lr;
}

void tl_trainer_set_proximal(tl_trainer *t, const float *center, float mu)
{
    t->prox_center = mu > 0 ? center : NULL;
    t->prox_mu = mu;
}
