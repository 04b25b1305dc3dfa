/* op.h - the operator registry: what the loader and the interpreter know
 * of an operator, one entry per kernel.
 *
 * An operator is one record of this kind, defined beside its kernel in
 * src/device/kernels/: a name, the checks tl_model_load() runs on each of
 * its records (shapes, constants, everything its kernel will trust) and the
 * step that turns a record into kernel parameters. tl_op_table, indexed by
 * opcode, lists the operators a build runs: src/device/op_table.c has them
 * all, and `tinylarge resolver` writes a table with only those a set of
 * models uses, so that firmware links no other kernel. Adding an operator
 * means its kernel file and one line of the table.
 */
#ifndef TL_OP_H
#define TL_OP_H

#include "tinylarge/device.h"

typedef struct tl_op_kind {
    const char *name;        /* TFLite's name of the operator */
    uint8_t flags_allowed;   /* tl_op_rec.flags this operator understands */
    /* Checks a record (inputs exist, output is an activation: done before). */
    tl_status (*check)(const tl_model *m, const tl_op_rec *op);
    /* Runs a record that check() accepted. */
    void (*run)(const tl_interp *it, const tl_op_rec *op);
} tl_op_kind;

/* Indexed by opcode; NULL where this build does not run the operator. */
extern const tl_op_kind *const tl_op_table[TL_OP_COUNT_];

/* The int8-only kinds by opcode (src/device/op_int8_table.c, host builds):
 * what `tinylarge resolver` may put in a firmware's table instead. */
extern const tl_op_kind *const tl_op_int8_table[TL_OP_COUNT_];

/* ---- for checks (src/device/model.c) ---- */

/* The tensor record at `index`, or NULL when out of range. */
const tl_tensor_rec *tl_op_tensor(const tl_model *m, uint16_t index);

/* 1 if t exists and lives in the arena. */
int tl_op_is_activation(const tl_tensor_rec *t);

/* 1 if t is an int8 activation (most kernels' only kind). */
int tl_op_is_s8_activation(const tl_tensor_rec *t);

/* The output is an int8 activation and the clamp lies in int8: what
 * every operator with an int8 output checks first. */
tl_status tl_op_check_s8_output(const tl_model *m, const tl_op_rec *op);

/* A WEIGHTS array of `count` int32 values at `offset`. */
tl_status tl_op_check_int32_array(const tl_model *m, uint32_t offset, uint64_t count);

/* Requantisation constants and effective biases of a convolution-like op
 * whose dot products have `dot` terms. */
tl_status tl_op_check_requant(const tl_model *m, const tl_op_rec *op, uint32_t channels, uint64_t dot);

/* Window geometry shared by convolutions and pooling. */
tl_status tl_op_check_window(uint32_t in, uint32_t out, uint32_t k, uint32_t stride, uint32_t dilation,
                             int32_t pad);

/* ADD-style constants (offsets, shifts, multipliers, clamp), int8 or (wide)
 * int16. */
tl_status tl_op_check_add_quant(const tl_residual_add *q, int wide);

/* Two inputs (the second may be a constant) and an output, all int8 or
 * all int16 (*wide), whose shapes broadcast (TFLite's rules, up to 4-D). */
tl_status tl_op_check_broadcast(const tl_model *m, const tl_op_rec *op, int *wide);

/* A multiplier/shift pair as TFLite's MultiplyByQuantizedMultiplier takes it. */
int tl_op_valid_multiplier(int32_t multiplier, int32_t shift);

/* ---- for run steps (src/device/interp.c) ---- */

static inline int8_t *tl_op_activation(const tl_interp *it, uint16_t tensor)
{
    return (int8_t *)(it->arena + it->model->plan[tensor]);
}

static inline const void *tl_op_constant(const tl_model *m, uint16_t tensor)
{
    return m->weights + m->tensors[tensor].data_offset;
}

static inline const int32_t *tl_op_weights_i32(const tl_model *m, uint32_t offset)
{
    return (const int32_t *)(const void *)(m->weights + offset);
}

struct tl_broadcast_params;
/* The broadcast walk's parameters from a checked record. */
void tl_op_broadcast_params(const tl_interp *it, const tl_op_rec *op, struct tl_broadcast_params *p);

/* Layer pipelining (pipeline.c): an int8 CONV_2D or FULLY_CONNECTED with
 * dense int8 weights can run output channels [first, end) alone, as their
 * filter rows arrive; the record must have passed its check. */
int tl_conv_runs_by_channel(const tl_model *m, const tl_op_rec *op);
void tl_conv_run_channels(const tl_interp *it, const tl_op_rec *op, uint32_t first, uint32_t end);

#endif /* TL_OP_H */
