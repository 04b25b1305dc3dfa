/* convert.h - host-side model compiler: graph IR, TFLite import, arena
 * planning and .tlm writing.
 *
 * Every route to a device model (importing a .tflite file today, exporting a
 * trained checkpoint later) builds a tl_graph and hands it to the writer, so
 * planning, layout and digests live in one place. Host code (C11, heap).
 */
#ifndef TINYLARGE_CONVERT_H
#define TINYLARGE_CONVERT_H

#include <stddef.h>
#include <stdint.h>

#include "tinylarge/format.h"
#include "tinylarge/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A tensor of the graph. Constants own their data. */
typedef struct tl_gtensor {
    char *name;
    tl_tensor_rec rec;        /* data_offset/name fields are set by the writer */
    uint8_t *data;            /* constants only */
    float *channel_scales;    /* per-channel quantisation, or NULL */
    uint32_t channel_count;
} tl_gtensor;

/* An operator of the graph. requant holds mult[C] then shift[C]. */
typedef struct tl_gop {
    tl_op_rec rec;            /* requant/bias offsets are set by the writer */
    int32_t *requant;
    int32_t *bias;            /* effective bias, C values */
    uint32_t channels;
} tl_gop;

typedef struct tl_graph {
    tl_gtensor *tensors;
    uint32_t tensor_count;
    tl_gop *ops;
    uint32_t op_count;
    uint16_t inputs[8];
    uint32_t input_count;
    uint16_t outputs[8];
    uint32_t output_count;
    tl_exit_rec exits[16];
    uint32_t exit_count;
    char *meta;               /* "key\0value\0" pairs */
    uint32_t meta_size;
} tl_graph;

void tl_graph_free(tl_graph *g);

/* Adds a tensor (copying name, data and scales); returns its index or -1. */
int32_t tl_graph_add_tensor(tl_graph *g, const char *name, const tl_tensor_rec *rec,
                            const void *data, const float *channel_scales,
                            uint32_t channel_count);

/* Appends an operator (copying the arrays); returns its index or -1. */
int32_t tl_graph_add_op(tl_graph *g, const tl_op_rec *rec, const int32_t *requant,
                        const int32_t *bias, uint32_t channels);

/* Sets (or replaces) a metadata entry. */
tl_status tl_graph_set_meta(tl_graph *g, const char *key, const char *value);

/* Arena plan: offsets[t] for each activation tensor (TL_NONE for consts).
 * Tensors whose lifetimes overlap never share bytes, except where an
 * operator is known to work in place (RESHAPE, ADD, SOFTMAX) and its input
 * dies there. Greedy by size, lowest fitting offset. */
tl_status tl_plan_arena(const tl_graph *g, uint32_t *offsets, uint32_t *arena_size);

/* Serialises the graph into a fresh heap buffer (caller frees). */
tl_status tl_graph_serialize(const tl_graph *g, uint8_t **out, size_t *out_size);

/* Writes `size` bytes to `path` atomically: a temporary file in the same
 * folder, fsync, then rename, so a crash never leaves a half-written file. */
tl_status tl_write_file_atomic(const char *path, const void *data, size_t size);

/* Reads a whole file into a 16-byte-aligned heap buffer (caller frees). */
tl_status tl_read_file(const char *path, uint8_t **out, size_t *out_size);

/* Imports an int8 TFLite flatbuffer. On failure `error` (if not NULL) gets a
 * sentence naming what is wrong, e.g. the unsupported operator and its index. */
tl_status tl_import_tflite(const uint8_t *data, size_t size, tl_graph *g, char *error,
                           size_t error_size);

/* TFLite's QuantizeMultiplier: real = q * 2^shift / 2^31, q in [2^30, 2^31). */
void tl_quantize_multiplier(double real, int32_t *multiplier, int32_t *shift);

#ifdef __cplusplus
}
#endif

#endif /* TINYLARGE_CONVERT_H */
