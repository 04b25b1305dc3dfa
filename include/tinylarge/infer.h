/* infer.h - the edge's inference service (src/large/infer_service.c): a
 * model of the large engine (a checkpoint: the teacher, or any float
 * model) answering devices' inputs, the requests that arrive within a
 * short wait run together as one batch on a worker thread. The edge
 * server (`serve --edge-model`) feeds it CoAP /infer requests from its
 * one-threaded loop: submit, then collect the answers as they are ready. */
#ifndef TINYLARGE_INFER_H
#define TINYLARGE_INFER_H

#include <stddef.h>
#include <stdint.h>

#include "tinylarge/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tl_infer_service tl_infer_service;

typedef struct tl_infer_options {
    const char *checkpoint;     /* the model (.tlc) */
    int max_batch;              /* requests a batch runs at most (default 32) */
    double max_wait_s;          /* how long the first of a batch waits for others
                                   (default 0.002 s; 0: run what is queued at once) */
    int max_queue;              /* requests waiting at most (default 1024); more are refused */
} tl_infer_options;

/* Loads the checkpoint and starts the worker. error says why not. */
tl_status tl_infer_open(const tl_infer_options *options, tl_infer_service **service, char *error,
                        size_t error_size);
void tl_infer_close(tl_infer_service *service);

/* What a request holds: the model's input, int8 (pixel - 128, as the device
 * models take it), h x w x c values; and the classes of an answer. */
size_t tl_infer_input_size(const tl_infer_service *service);
int tl_infer_classes(const tl_infer_service *service);

/* Queues one request; `tag` comes back with its answer. TL_ERR_ARENA: the
 * queue is full (the caller answers "busy"). */
tl_status tl_infer_submit(tl_infer_service *service, const int8_t *input, void *tag);

/* Hands over the answers ready since the last call: fn(ctx, tag, class,
 * probabilities[classes]) each, in the caller's thread. The count. */
int tl_infer_collect(tl_infer_service *service,
                     void (*fn)(void *ctx, void *tag, int label, const float *probabilities), void *ctx);

/* Requests queued, running or answered but not collected. */
int tl_infer_pending(tl_infer_service *service);

/* Batches run and requests answered so far (their ratio: the mean batch). */
void tl_infer_counts(tl_infer_service *service, long *batches, long *requests);

#ifdef __cplusplus
}
#endif

#endif /* TINYLARGE_INFER_H */
