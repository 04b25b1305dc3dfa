/* device.h - the TinyML runtime: load a .tlm model and run it from an arena.
 *
 * C99, no heap, no stdio, no global state: everything lives in the caller's
 * tl_model / tl_interp structs and the caller's arena. The model bytes are
 * used in place (they may sit in flash); the runtime never writes to them.
 *
 * Typical use:
 *     tl_model m;  tl_interp it;
 *     tl_model_load(&m, bytes, len, 0);           // validates everything
 *     uint8_t arena[N];                           // N >= tl_model_arena_size(&m)
 *     tl_interp_init(&it, &m, arena, sizeof arena);
 *     memcpy(tl_interp_input(&it, 0, &n), sample, n);
 *     tl_interp_invoke(&it);                      // or run_to_exit for a cascade
 *     out = tl_interp_output(&it, 0, &n);
 */
#ifndef TINYLARGE_DEVICE_H
#define TINYLARGE_DEVICE_H

#include <stddef.h>
#include <stdint.h>

#include "tinylarge/format.h"
#include "tinylarge/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A validated view of a model buffer. All pointers point into that buffer. */
typedef struct tl_model {
    const uint8_t *base;
    uint32_t size;
    const tl_file_header *header;
    const tl_tensor_rec *tensors;
    const tl_op_rec *ops;
    const uint16_t *io;          /* inputs, then outputs */
    const tl_exit_rec *exits;
    const uint8_t *weights;
    uint32_t weights_size;
    const uint32_t *plan;        /* arena offset per tensor */
    const char *meta;
    uint32_t meta_size;
    const char *strings;
    uint32_t strings_size;
    const tl_trailer *trailer;
} tl_model;

/* Flags for tl_model_load. */
#define TL_LOAD_SKIP_DIGEST 1u   /* trust the bytes (e.g. re-boot of a model
                                    verified when it was installed) */

/* Checks every offset, size, shape, operator parameter and quantisation
 * value, and (unless TL_LOAD_SKIP_DIGEST) the SHA-256 digest. On success
 * the model can be run with no further checks; on failure *model is zeroed
 * and the status says what class of problem was found. The buffer must be
 * 4-byte aligned and outlive the model. */
tl_status tl_model_load(tl_model *model, const void *data, size_t size,
                        unsigned flags);

/* Like tl_model_load, but also reports where validation failed: the index
 * of the offending operator or tensor (or -1), for precise error messages. */
tl_status tl_model_load_ex(tl_model *model, const void *data, size_t size,
                           unsigned flags, int32_t *bad_op,
                           int32_t *bad_tensor);

/* Exact arena bytes the model needs (its offline plan), not an estimate. */
uint32_t tl_model_arena_size(const tl_model *model);

/* The value stored under `key` in the metadata section, or NULL. */
const char *tl_model_meta(const tl_model *model, const char *key);

/* Name of tensor `index` (may be ""). */
const char *tl_model_tensor_name(const tl_model *model, uint32_t index);

/* The tensor record of input `index` (outputs follow the inputs: index
 * input_count + k is output k), or NULL. */
const tl_tensor_rec *tl_model_io_tensor(const tl_model *model, uint32_t index);

/* Bytes of one element of an activation of this dtype (int8 1, int16 2,
 * int32 and float32 4), 0 for the weight encodings. */
uint32_t tl_dtype_bytes(uint32_t dtype);

/* Name of an opcode ("CONV_2D", ...), or "?" for an unknown one. */
const char *tl_opcode_name(uint32_t opcode);

/* 1 if operator `index` of m is run by its operator's int8-only kind (no
 * int16 activations, no int4, sparse or bitmap weights), which a firmware
 * built for m may then link instead of the full kind (`tinylarge
 * resolver`). Host builds only (src/device/op_int8_table.c). */
int tl_op_int8_accepts(const tl_model *m, uint32_t index);

/* The operator's multiply-accumulate count (0 for data movement ops). */
uint64_t tl_op_macs(const tl_model *model, uint32_t op_index);

/* Where a filter tensor's int8 weight values sit, whatever its encoding:
 * all of a dense int8 tensor, or the value[nnz] run that ends a CSR or bitmap
 * sparse one. The progressive stream splits exactly these bytes into bit
 * planes. `depthwise`: the tensor is read by DEPTHWISE_CONV_2D (1HWC). */
typedef struct tl_filter_values {
    uint32_t offset;     /* first value's byte offset in the tensor's data */
    uint32_t count;      /* values (one byte each) */
    uint32_t channels;   /* output channels */
} tl_filter_values;

/* TL_ERR_UNSUPPORTED for int4, non-constant or non-filter tensors. The model
 * must have passed tl_model_load. */
tl_status tl_filter_values_of(const tl_model *model, uint32_t tensor, int depthwise, tl_filter_values *v);

/* Sum of output channel `channel`'s weights (0 if there is no such
 * channel): the term each effective bias folds in (bias - zp * sum). */
int32_t tl_filter_channel_sum(const tl_model *model, uint32_t tensor, int depthwise, uint32_t channel);

/* May the output of `op` share input k's arena bytes? Where element i is
 * read before element i is written and nothing else is read after it
 * (RESHAPE, ADD, SOFTMAX, a convolution's fused residual): the model
 * compiler plans only these in place, and the loader refuses any other
 * overlap of an operator's output with its inputs. */
int tl_op_works_in_place(const tl_op_rec *op, uint32_t k);

/* An interpreter: one model bound to one arena. Several interpreters may
 * share one model. */
typedef struct tl_interp {
    const tl_model *model;
    uint8_t *arena;
    uint32_t arena_size;
    uint32_t next_op;    /* ops [0, next_op) have run on the current input */
} tl_interp;

/* Binds the model to an arena (4-byte aligned, at least
 * tl_model_arena_size bytes) and resets the model's state tensors. */
tl_status tl_interp_init(tl_interp *it, const tl_model *model, void *arena,
                         size_t arena_size);

/* State tensors (an SVDF's or LSTM's memory of earlier inputs) carry over
 * from one inference to the next; this forgets them, as at init. */
void tl_interp_reset_state(tl_interp *it);

/* Where to write input `index` (its byte size goes to *size; its element
 * type is the input tensor's dtype, tl_model_io_tensor). Asking for an
 * input starts a new inference: the next run begins at the first operator. */
int8_t *tl_interp_input(tl_interp *it, uint32_t index, uint32_t *size);

/* Runs every operator. */
tl_status tl_interp_invoke(tl_interp *it);

/* Result of running up to an early exit. */
typedef struct tl_exit_result {
    const int8_t *data;      /* the exit's output tensor, in the arena */
    uint32_t size;           /* bytes */
    uint32_t top_class;      /* index of the largest output value */
    uint32_t confidence;     /* top-1 probability scaled to 0..65535;
                                0 when the exit is not a softmax */
} tl_exit_result;

/* Runs operators up to early exit `exit_index` and reports its output.
 * Resumes where the previous call stopped, so a cascade asks exit 0, then
 * (if not confident) exit 1, ... and never runs an operator twice. */
tl_status tl_interp_run_to_exit(tl_interp *it, uint32_t exit_index,
                                tl_exit_result *result);

/* Runs the next operator only (for per-operator profiling and debugging);
 * TL_ERR_STATE once every operator has run. */
tl_status tl_interp_step(tl_interp *it);

/* Output `index` after a run (its byte size goes to *size). */
const int8_t *tl_interp_output(const tl_interp *it, uint32_t index,
                               uint32_t *size);

/* Split inference: the device runs operators [0, k), packs the activations
 * crossing the cut (made before it, or the input, and read after it; in
 * tensor order) and sends them; the edge, holding the same model, unpacks
 * them into its own arena and runs [k, end): the same answer as one run.
 * tl_model_cut_bytes: their size (0 when k is the operator count). */
uint32_t tl_model_cut_bytes(const tl_model *model, uint32_t k);
/* After exactly [0, k) have run: the crossing bytes into out. TL_ERR_STATE:
 * not at k; TL_ERR_ARENA: capacity below tl_model_cut_bytes. */
tl_status tl_interp_cut_save(const tl_interp *it, uint32_t k, int8_t *out, uint32_t capacity, uint32_t *size);
/* The crossing bytes into this arena; the next run starts at operator k.
 * TL_ERR_SHAPE: size is not tl_model_cut_bytes; TL_ERR_ARG: k out of range. */
tl_status tl_interp_cut_restore(tl_interp *it, uint32_t k, const int8_t *in, uint32_t size);
/* Runs the operators not yet run (after a restore, the edge's half). */
tl_status tl_interp_finish(tl_interp *it);

/* Decodes the first `size` bytes of a progressive (.tlp) stream into a .tlm
 * in `out` (out_capacity >= the header's model_size; no heap): the
 * skeleton plus the weight bits of every complete bit plane received, the
 * missing low bits set to the midpoint (unbiased rounding), and a fresh
 * digest. Each complete prefix is checked against its SHA-256 first. On
 * success *planes is how many planes (1..8) the model carries and *model_size
 * its size; TL_ERR_TRUNCATED if not even the skeleton and plane 7 arrived. */
tl_status tl_progressive_decode(const uint8_t *stream, size_t size, uint8_t *out, size_t out_capacity,
                                uint32_t *planes, uint32_t *model_size);

/* Packed filters made dense (src/device/densify.c): a pruned (CSR or
 * bitmap) or int4 model downloads small, and a device with the flash for the
 * dense int8 form installs that instead, for the dense kernels' speed with
 * bit-identical outputs. tl_model_dense_size gives the expanded size (the
 * model's own when it has no packed filter; TL_ERR_FORMAT when an offset
 * points into a packed filter). tl_model_densify writes the expansion of a loaded model into
 * `out` (capacity >= that size, not overlapping the model), with a fresh
 * digest and no signature (verify the downloaded model first), and checks
 * it loads. */
tl_status tl_model_dense_size(const tl_model *model, uint32_t *size);
/* Whether a tensor is a filter the expansion unpacks: constant, and sparse
 * (CSR or bitmap) or int4; and how many of a model's tensors are. */
int tl_tensor_is_packed(const tl_tensor_rec *tensor);
uint32_t tl_model_packed_filters(const tl_model *model);

/* Elements of a tensor: the product of its dimensions. */
uint64_t tl_tensor_elements(const tl_tensor_rec *tensor);
tl_status tl_model_densify(const tl_model *model, uint8_t *out, size_t capacity, uint32_t *size);

/* SHA-256 (FIPS 180-4), used to check a model's digest on the device. */
typedef struct tl_sha256 {
    uint32_t state[8];
    uint64_t length;
    uint8_t block[64];
    uint32_t fill;
} tl_sha256;

void tl_sha256_init(tl_sha256 *ctx);
void tl_sha256_update(tl_sha256 *ctx, const void *data, size_t size);
void tl_sha256_final(tl_sha256 *ctx, uint8_t digest[32]);

/* ---- a model still arriving (pipeline.c) ---- */

/* Checks what a file arriving in order already holds: its header, section
 * table and every section but WEIGHTS (else TL_ERR_TRUNCATED: call again
 * with more), its activation tensors and exits. weights_size is the weight
 * bytes held; constants and operators are checked one by one with
 * tl_model_check_op_prefix. Nothing here checks the digest. */
tl_status tl_model_load_prefix(tl_model *model, const void *data, size_t received);

/* Operator `index` of such a prefix, with its constant inputs, checked as
 * tl_model_load checks it, against the weight bytes held so far. */
tl_status tl_model_check_op_prefix(const tl_model *model, uint32_t index);

/* Layer-pipelined inference: a device with a pending input runs each
 * operator as soon as the bytes it reads have arrived, so the answer comes
 * at about max(download, compute) instead of their sum. The model file
 * must arrive in order into one buffer that stays put (`received` = bytes
 * of it held); the answer counts only once the whole file has passed the
 * loader and its own digest (compare model.trailer->sha256 with the signed
 * manifest's before trusting it).
 *     tl_pipeline_begin(&p, slot, held, arena, n);   // once the tables are in
 *     memcpy(tl_pipeline_input(&p, 0, &n), sample, n);
 *     each time bytes arrive: do tl_pipeline_step(&p, held, &ran); while (ran);
 *     if (tl_pipeline_done(&p)) out = tl_pipeline_output(&p, 0, &n); */
typedef struct tl_pipeline {
    tl_model model;          /* weights_size grows with the bytes held */
    tl_interp interp;
    tl_sha256 hash;          /* of the file's bytes held so far */
    uint32_t hashed;         /* bytes hashed */
    uint32_t weights_total;  /* the WEIGHTS section's size */
    uint32_t channels_done;  /* of the next operator, run ahead of its last rows */
    uint8_t verified;        /* the whole file passed tl_model_load */
    uint8_t failed;          /* it did not: the answer is void */
} tl_pipeline;

tl_status tl_pipeline_begin(tl_pipeline *p, const void *file, size_t received, void *arena, size_t arena_size);
int8_t *tl_pipeline_input(tl_pipeline *p, uint32_t index, uint32_t *size);

/* Hashes the bytes new since the last call and runs the next operator if
 * its bytes are in (*ran = 1). When the whole file is held it is verified
 * first; a file that fails gives its status, and every later step
 * TL_ERR_STATE. */
tl_status tl_pipeline_step(tl_pipeline *p, size_t received, uint32_t *ran);

/* 1 once every operator has run on the verified model. */
int tl_pipeline_done(const tl_pipeline *p);
const int8_t *tl_pipeline_output(const tl_pipeline *p, uint32_t index, uint32_t *size);

#ifdef __cplusplus
}
#endif

#endif /* TINYLARGE_DEVICE_H */
