/* infer_service.c - the edge's inference service (infer.h): requests queue
 * in arrival order; one worker thread takes up to max_batch of them once
 * the oldest has waited max_wait_s (or the batch is full), runs them as one
 * forward pass of the large engine (its BLAS threads do the work) and
 * leaves the answers for the caller's loop to collect. One lock guards the
 * queue and the answers; the forward pass runs without it. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tinylarge/infer.h"
#include "tinylarge/large.h"

typedef struct answer {
    void *tag;
    int label;
} answer;

struct tl_infer_service {
    tl_net net;
    tl_checkpoint_info info;
    int max_batch, max_queue, classes;
    double max_wait_s;
    size_t input_size;
    pthread_t worker;
    int started;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int stopping;
    /* requests: a ring of max_queue slots */
    int8_t *inputs;
    void **tags;
    double *arrived;
    int head, queued;
    int running;
    /* answers: a ring too */
    answer *answers;
    float *probabilities;
    int answer_head, answered;
    long batches, requests;
    float *x;                   /* the batch's float input */
};

static double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static struct timespec deadline_of(double monotonic)
{
    struct timespec t;
    t.tv_sec = (time_t)monotonic;
    t.tv_nsec = (long)((monotonic - (double)t.tv_sec) * 1e9);
    return t;
}

/* Runs the batch [first, first + n) of the ring (copied out under the lock). */
static void run_batch(tl_infer_service *s, const int8_t *inputs, void *const *tags, int n)
{
    const size_t in = s->input_size;
    const float mean = s->info.mean, std = s->info.std;
    for (int b = 0; b < n; ++b) {
        for (size_t i = 0; i < in; ++i) {
            /* The device's int8 (pixel - 128) back to the engine's normalised pixel. */
            s->x[(size_t)b * in + i] = ((float)(inputs[(size_t)b * in + i] + 128) / 255.0f - mean) / std;
        }
    }
    tl_net_forward(&s->net, s->x, n);
    const tl_node *out = &s->net.nodes[s->net.exits[s->net.exit_count - 1]];
    pthread_mutex_lock(&s->lock);
    for (int b = 0; b < n; ++b) {
        const float *logits = out->out + (size_t)b * (size_t)s->classes;
        const int slot = (s->answer_head + s->answered) % s->max_queue;
        float *p = s->probabilities + (size_t)slot * (size_t)s->classes;
        float top = logits[0], sum = 0.0f;
        int label = 0;
        for (int k = 1; k < s->classes; ++k) {
            if (logits[k] > top) {
                top = logits[k];
                label = k;
            }
        }
        for (int k = 0; k < s->classes; ++k) {
            p[k] = expf(logits[k] - top);
            sum += p[k];
        }
        for (int k = 0; k < s->classes; ++k) {
            p[k] /= sum;
        }
        s->answers[slot] = (answer){ tags[b], label };
        s->answered++;
    }
    s->running = 0;
    s->batches++;
    s->requests += n;
    pthread_mutex_unlock(&s->lock);
}

static void *worker(void *arg)
{
    tl_infer_service *s = arg;
    int8_t *inputs = malloc(s->input_size * (size_t)s->max_batch);
    void **tags = malloc(sizeof(void *) * (size_t)s->max_batch);
    pthread_mutex_lock(&s->lock);
    while (!s->stopping && inputs && tags) {
        if (s->queued == 0) {
            pthread_cond_wait(&s->wake, &s->lock);
            continue;
        }
        /* The oldest waits up to max_wait_s for others to share its batch. */
        const double until = s->arrived[s->head] + s->max_wait_s;
        if (s->queued < s->max_batch && now_seconds() < until) {
            const struct timespec t = deadline_of(until);
            pthread_cond_timedwait(&s->wake, &s->lock, &t);
            continue;
        }
        const int n = s->queued < s->max_batch ? s->queued : s->max_batch;
        for (int b = 0; b < n; ++b) {
            const int slot = (s->head + b) % s->max_queue;
            memcpy(inputs + (size_t)b * s->input_size, s->inputs + (size_t)slot * s->input_size, s->input_size);
            tags[b] = s->tags[slot];
        }
        s->head = (s->head + n) % s->max_queue;
        s->queued -= n;
        s->running = n;
        pthread_mutex_unlock(&s->lock);
        run_batch(s, inputs, tags, n);
        pthread_mutex_lock(&s->lock);
    }
    pthread_mutex_unlock(&s->lock);
    free(inputs);
    free(tags);
    return NULL;
}

tl_status tl_infer_open(const tl_infer_options *o, tl_infer_service **out, char *error, size_t error_size)
{
    *out = NULL;
    tl_infer_service *s = calloc(1, sizeof *s);
    if (!s) {
        return TL_ERR_NOMEM;
    }
    s->max_batch = o->max_batch > 0 ? o->max_batch : 32;
    s->max_queue = o->max_queue > 0 ? o->max_queue : 1024;
    s->max_wait_s = o->max_wait_s >= 0.0 ? o->max_wait_s : 0.002;
    if (s->max_queue < s->max_batch) {
        s->max_queue = s->max_batch;
    }
    tl_status st = tl_checkpoint_load(o->checkpoint, s->max_batch, &s->net, NULL, &s->info, error, error_size);
    if (st != TL_OK) {
        free(s);
        return st;
    }
    s->net.training = 0;
    s->classes = s->info.classes;
    s->input_size = (size_t)s->info.h * (size_t)s->info.w * (size_t)s->info.c;
    s->inputs = malloc(s->input_size * (size_t)s->max_queue);
    s->tags = malloc(sizeof(void *) * (size_t)s->max_queue);
    s->arrived = malloc(sizeof(double) * (size_t)s->max_queue);
    s->answers = malloc(sizeof(answer) * (size_t)s->max_queue);
    s->probabilities = malloc(sizeof(float) * (size_t)s->max_queue * (size_t)s->classes);
    s->x = malloc(sizeof(float) * s->input_size * (size_t)s->max_batch);
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->wake, NULL);
    if (!s->inputs || !s->tags || !s->arrived || !s->answers || !s->probabilities || !s->x) {
        tl_infer_close(s);
        return TL_ERR_NOMEM;
    }
    if (pthread_create(&s->worker, NULL, worker, s) != 0) {
        tl_infer_close(s);
        snprintf(error, error_size, "cannot start the inference worker thread");
        return TL_ERR_IO;
    }
    s->started = 1;
    *out = s;
    return TL_OK;
}

void tl_infer_close(tl_infer_service *s)
{
    if (!s) {
        return;
    }
    if (s->started) {
        pthread_mutex_lock(&s->lock);
        s->stopping = 1;
        pthread_cond_signal(&s->wake);
        pthread_mutex_unlock(&s->lock);
        pthread_join(s->worker, NULL);
    }
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->wake);
    tl_net_free(&s->net);
    free(s->inputs);
    free(s->tags);
    free(s->arrived);
    free(s->answers);
    free(s->probabilities);
    free(s->x);
    free(s);
}

size_t tl_infer_input_size(const tl_infer_service *s)
{
    return s->input_size;
}

int tl_infer_classes(const tl_infer_service *s)
{
    return s->classes;
}

tl_status tl_infer_submit(tl_infer_service *s, const int8_t *input, void *tag)
{
    pthread_mutex_lock(&s->lock);
    /* Queued, running and uncollected answers share the bound: the answer
     * ring can always take what is queued. */
    if (s->queued + s->running + s->answered >= s->max_queue) {
        pthread_mutex_unlock(&s->lock);
        return TL_ERR_ARENA;
    }
    const int slot = (s->head + s->queued) % s->max_queue;
    memcpy(s->inputs + (size_t)slot * s->input_size, input, s->input_size);
    s->tags[slot] = tag;
    s->arrived[slot] = now_seconds();
    s->queued++;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->lock);
    return TL_OK;
}

int tl_infer_collect(tl_infer_service *s, void (*fn)(void *ctx, void *tag, int label, const float *probabilities),
                     void *ctx)
{
    float *p = malloc(sizeof(float) * (size_t)s->classes);
    int count = 0;
    for (;;) {
        pthread_mutex_lock(&s->lock);
        if (s->answered == 0 || !p) {
            pthread_mutex_unlock(&s->lock);
            break;
        }
        const int slot = s->answer_head;
        const answer a = s->answers[slot];
        memcpy(p, s->probabilities + (size_t)slot * (size_t)s->classes, sizeof(float) * (size_t)s->classes);
        s->answer_head = (s->answer_head + 1) % s->max_queue;
        s->answered--;
        pthread_mutex_unlock(&s->lock);
        fn(ctx, a.tag, a.label, p); /* outside the lock: it may submit again */
        ++count;
    }
    free(p);
    return count;
}

int tl_infer_pending(tl_infer_service *s)
{
    pthread_mutex_lock(&s->lock);
    const int n = s->queued + s->running + s->answered;
    pthread_mutex_unlock(&s->lock);
    return n;
}

void tl_infer_counts(tl_infer_service *s, long *batches, long *requests)
{
    pthread_mutex_lock(&s->lock);
    *batches = s->batches;
    *requests = s->requests;
    pthread_mutex_unlock(&s->lock);
}
