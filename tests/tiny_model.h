/* tiny_model.h - a small synthetic model that uses every operator, every
 * weight encoding and two early exits; built with the graph builder. */
#ifndef TL_TINY_MODEL_H
#define TL_TINY_MODEL_H

#include "tinylarge/convert.h"

/* Tensor indices the tests look at. */
typedef struct tiny_model_ids {
    uint16_t input, exit0, exit1, pooled, flat;
} tiny_model_ids;

/* Builds the graph; returns 0 on success. Weights come from `seed`. */
int tiny_model_build(tl_graph *g, uint32_t seed, tiny_model_ids *ids);

/* Builds and serialises it (caller frees *buf). */
int tiny_model_bytes(uint32_t seed, uint8_t **buf, size_t *size);

/* One fully connected layer of 1024 x 16 int8 weights and a softmax: big
 * enough that a progressive stream's planes span several 1 KB blocks. */
int wide_model_bytes(uint32_t seed, uint8_t **buf, size_t *size);

/* A classifier head alone: int8 features [1, features] -> FULLY_CONNECTED
 * (random int8 weights) -> logits -> SOFTMAX, one exit: what on-device
 * learning trains, with the features given directly as the input. */
int head_model_bytes(uint32_t seed, uint32_t features, uint32_t classes, uint8_t **buf, size_t *size);

/* [1,2,3,4] -> TRANSPOSE (perm) -> [1,4,2,3] -> PAD (pad_before1 rows before
 * dimension 1, 1 after it, 2 after dimension 2, 1 after dimension 3, value 3)
 * -> [1,6,4,4] when pad_before1 is 1; serialised (not loaded: a bad perm or
 * padding gives a model the loader must refuse). 0 on success. */
int transpose_pad_model_bytes(const int32_t *perm, int32_t pad_before1, uint8_t **bytes, size_t *size);

/* A model of one operator: `op` (its opcode, p[], offsets, clamp) from an
 * int8 input of in_dims to an int8 output of out_dims (rank 4 each; scale
 * 0.1, zero point 0). 0 on success. */
int single_op_model_bytes(const tl_op_rec *op, const uint32_t in_dims[4], const uint32_t out_dims[4],
                          uint8_t **bytes, size_t *size);

#endif /* TL_TINY_MODEL_H */
