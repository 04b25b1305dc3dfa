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
    tl_residual_add *residual_add; /* fused ADD (flag TL_OP_FLAG_RESIDUAL); the
                                      writer stores it and sets rec.p[0] */
    uint8_t *block;           /* the constant block of an operator with many
                                 constants (SVDF, LSTM); the writer stores it
                                 and sets rec.requant (offset), rec.bias (bytes) */
    uint32_t block_size;
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
/* (bias may be NULL: then the record's `bias` is TL_NONE; 16x8 convolutions
 * keep theirs in a tensor.) */

/* Gives operator `op` a constant block (copied), see tl_gop.block. */
tl_status tl_graph_set_op_block(tl_graph *g, uint32_t op, const void *data, uint32_t size);

/* Sets (or replaces) a metadata entry. */
tl_status tl_graph_set_meta(tl_graph *g, const char *key, const char *value);

/* Fuses each ADD into the dense int8 CONV_2D that produces one of its
 * inputs, when that convolution's output feeds only the ADD and the other
 * input is ready by then: the convolution adds the residual as it writes,
 * in place, so the intermediate tensor never exists (ResNet blocks need one
 * activation buffer less). Outputs are unchanged bit for bit. Returns the
 * number of fusions through *fused. */
tl_status tl_graph_fuse_residual_adds(tl_graph *g, uint32_t *fused);

/* Cuts the graph after early exit `exit`: later operators and exits go,
 * the exit's output becomes the model's output, and tensors nothing uses
 * any more (their weights too) are removed. A depth-compressed variant. */
tl_status tl_graph_truncate_at_exit(tl_graph *g, uint32_t exit);

/* A deep copy of g into *out (tl_graph_free frees it). */
tl_status tl_graph_clone(const tl_graph *g, tl_graph *out);

/* The activations crossing the cut after the first k operators: made
 * before it (or the model's input) and read after it; up to `capacity` into
 * tensors, the count returned. */
uint32_t tl_graph_cut_tensors(const tl_graph *g, uint32_t k, uint16_t *tensors, uint32_t capacity);

/* Splits the model after its first k operators, keeping one half: the head
 * (keep_head 1: ops [0, k), its outputs the cut's tensors, the exits that
 * end by k) or the tail (ops [k, end), its inputs the cut's tensors, the
 * later exits). The cut's tensors keep their quantisation, so the tail run
 * on the head's outputs gives the whole model's answer, bit for bit.
 * TL_ERR_ARG: k not inside; TL_ERR_UNSUPPORTED: more than 8 tensors cross. */
tl_status tl_graph_cut(tl_graph *g, uint32_t k, int keep_head);

/* Removes tensors that no operator, input, output or exit refers to, and
 * renumbers the rest (keeps their order). */
tl_status tl_graph_compact(tl_graph *g);

/* Arena plan: offsets[t] for each activation tensor (TL_NONE for consts).
 * Tensors whose lifetimes overlap never share bytes, except where an
 * operator is known to work in place (RESHAPE, ADD, SOFTMAX, and a
 * convolution's fused residual) and that input dies there. Greedy by size, lowest fitting offset. */
tl_status tl_arena_layout(const tl_graph *g, uint32_t *offsets, uint32_t *arena_size);

/* Serialises the graph into a fresh heap buffer (caller frees). */
tl_status tl_graph_serialize(const tl_graph *g, uint8_t **out, size_t *out_size);

/* Imports an int8 TFLite flatbuffer. On failure `error` (if not NULL) gets a
 * sentence naming what is wrong, e.g. the unsupported operator and its index. */
tl_status tl_import_tflite(const uint8_t *data, size_t size, tl_graph *g, char *error,
                           size_t error_size);

/* How a model quantised at import compares with its float original, on
 * the calibration samples. */
typedef struct tl_calibration_report {
    uint32_t samples;
    uint32_t outputs;            /* values per sample */
    double mean_abs_diff;        /* |int8 model - float model|, in output units */
    double max_abs_diff;
    double output_lo, output_hi; /* the float outputs' range, for scale */
    double top1_agreement;       /* share of samples with the same largest output; -1: one output */
} tl_calibration_report;

/* Quantises a float32 TFLite model (one input, one output) at import:
 * `values` floats, a whole number of the model's inputs, are the
 * calibration samples that give the activations' ranges; weights int8 per
 * channel, activations int8 (int16 LSTM cells), the float interface kept by
 * QUANTIZE / DEQUANTIZE. Fills `report`. */
tl_status tl_import_tflite_calibrated(const uint8_t *data, size_t size, const float *samples, uint64_t values,
                                      tl_graph *g, tl_calibration_report *report, char *error, size_t error_size);

/* Float32 values from a NumPy .npy file (little-endian float32 or float64,
 * C order): their count and the array's shape (rank <= 8). */
tl_status tl_npy_read(const uint8_t *data, size_t size, float **values, uint64_t *count, uint64_t shape[8],
                      uint32_t *rank, char *error, size_t error_size);

/* One operator of a TFLite model as tl_tflite_survey sees it. */
typedef struct tl_tflite_op_info {
    uint32_t index;
    char name[48];              /* "CONV_2D", "CUSTOM ethos-u", "builtin 150" */
    int supported;              /* the importer translates this operator (given int8 tensors) */
    char types[96];             /* its tensors' types, "int8 int8 int32 -> int8" */
    int float_activations;      /* an activation (non-constant tensor) is float32 or float16,
                                   where the import of this operator does not take it */
    int int16_activations;      /* ... is int16 (TFLite's 16x8 quantisation), likewise */
} tl_tflite_op_info;

/* Walks a TFLite flatbuffer's operators without importing it: each one's
 * name, its tensors' types, and whether the importer translates it, so a
 * model's every gap can be named at once (the importer stops at the first).
 * fn is called once an operator. */
tl_status tl_tflite_survey(const uint8_t *data, size_t size, void (*fn)(void *ctx, const tl_tflite_op_info *op),
                           void *ctx, char *error, size_t error_size);

/* ---- Quantisation constants (src/convert/quant.c), computed exactly as
 * TensorFlow Lite Micro prepares its kernels, so results match it. ---- */

/* TFLite's QuantizeMultiplier: real = q * 2^shift / 2^31, q in [2^30, 2^31). */
void tl_quantize_multiplier(double real, int32_t *multiplier, int32_t *shift);

/* Output clamp for a fused activation (tl_activation) on an int8 output. */
void tl_activation_range(uint8_t activation, float scale, int32_t zero_point,
                         int16_t *act_min, int16_t *act_max);

/* The same clamp for an int16 output (symmetric: zero point 0). */
void tl_activation_range16(uint8_t activation, float scale, int16_t *act_min, int16_t *act_max);

/* Requantisation (mult[C] then shift[C]) and effective bias (bias - in_zp *
 * sum(w)) of a CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED op. weights are
 * int8 in OHWI (depthwise 1HWC) order, `count` values in all; filter_scales
 * has 1 or out_c entries; bias may be NULL. Returns TL_ERR_QUANT (with
 * *bad_channel set) when a channel's constants are out of device range. */
tl_status tl_conv_constants(uint8_t opcode, float input_scale, int32_t input_zero_point,
                            const int8_t *weights, uint64_t count, const float *filter_scales,
                            uint32_t scale_count, const int32_t *bias, float output_scale,
                            uint32_t out_c, int32_t *requant, int32_t *effective_bias,
                            uint32_t *bad_channel);

/* ADD constants into rec (offsets and p[]); TL_ERR_QUANT if out of range. */
tl_status tl_add_constants(float scale1, int32_t zp1, float scale2, int32_t zp2,
                           float out_scale, int32_t out_zp, tl_op_rec *rec);
/* The same with another headroom: 20 bits for int8, 15 for int16 (ADD, SUB). */
tl_status tl_add_constants_shifted(float scale1, int32_t zp1, float scale2, int32_t zp2, float out_scale,
                                   int32_t out_zp, int left_shift, tl_op_rec *rec);

/* SOFTMAX constants into rec->p[]; TL_ERR_QUANT if out of range. */
tl_status tl_softmax_constants(float beta, float input_scale, tl_op_rec *rec);

/* LOGISTIC's and TANH's int8 constants: the input scaled into Q4.27
 * (multiplier, left shift) and the radius beyond which they saturate. */
tl_status tl_sigmoid_constants(float input_scale, int32_t *multiplier, int32_t *shift, int32_t *radius);

/* The two tables of TFLite's int16 softmax (exp on [-10, 0], 1 / (1 + x)
 * on [0, 1]), built as its Prepare builds them. */
void tl_softmax16_tables(int16_t exp_lut[513], int16_t reciprocal_lut[513]);

/* MEAN's requantisation over `count` values: in_scale / out_scale with
 * 1 / count folded in, as TFLite's QuantizedMeanOrSum does it. */
tl_status tl_mean_constants(float input_scale, float output_scale, uint32_t count, int32_t *multiplier,
                            int32_t *shift);

/* ---- Progressive coding (src/convert/progressive.c) ---- */

/* Encodes a .tlm as a bit-plane progressive stream (.tlp, format.h): every
 * dense int8 weight tensor split into 8 planes, most significant first, so
 * any prefix ending on a plane boundary decodes (tl_progressive_decode)
 * into a runnable model. *plane_ends gets the stream size at the end of
 * each plane (8 values; may be NULL). Caller frees *out. */
tl_status tl_progressive_encode(const uint8_t *tlm, size_t size, uint8_t **out, size_t *out_size,
                                uint32_t *plane_ends);

/* ---- Encodings of weights (src/convert/encode.c) ---- */

/* Packs int8 values in [-8, 7] two per byte, even index in the low nibble. */
tl_status tl_pack_int4(const int8_t *values, uint64_t count, uint8_t **packed, uint32_t *size);

/* Builder only: pruned weights stored in whichever of the CSR, bitmap and
 * dense encodings is smallest for each tensor. */
#define TL_DTYPE_SMALLEST_SPARSE 0x80

/* Encodes an OHWI filter in the bitmap sparse format (docs/format.md). */
tl_status tl_encode_bitmap(const int8_t *weights, uint32_t out_c, uint32_t k_h, uint32_t k_w, uint32_t in_c,
                           uint8_t **blob, uint32_t *size);

/* Encodes an OHWI filter in the tap-grouped sparse format (docs/format.md). */
tl_status tl_encode_sparse(const int8_t *weights, uint32_t out_c, uint32_t k_h, uint32_t k_w,
                           uint32_t in_c, uint8_t **blob, uint32_t *size);

/* ---- Building graphs (src/convert/builder.c) ---- */

/* Adds an int8 activation tensor of the given shape and quantisation. */
int32_t tl_graph_add_activation(tl_graph *g, const char *name, uint32_t rank,
                                const uint32_t *dims, float scale, int32_t zero_point);

/* Describes a convolution-like operator for tl_graph_add_conv. */
typedef struct tl_conv_spec {
    uint8_t opcode;            /* TL_OP_CONV_2D, _DEPTHWISE_CONV_2D, _FULLY_CONNECTED */
    uint8_t weight_dtype;      /* TL_DTYPE_INT8, _INT4, _SPARSE_INT8, _BITMAP_INT8 or TL_DTYPE_SMALLEST_SPARSE */
    uint8_t activation;        /* tl_activation */
    uint8_t same_padding;      /* 1: SAME, 0: VALID */
    uint32_t stride_h, stride_w, dilation_h, dilation_w;
    uint32_t k_h, k_w;         /* filter window (1x1 for fully connected) */
    const int8_t *weights;     /* OHWI, or 1HWC for depthwise, or [O, K] */
    const float *filter_scales;
    uint32_t scale_count;      /* 1 (per tensor) or out_c (per channel) */
    const int32_t *bias;       /* may be NULL */
} tl_conv_spec;

/* Appends a convolution-like op from `input` to `output` (existing
 * activation tensors); returns the op index or -1, with a reason in error. */
int32_t tl_graph_add_conv(tl_graph *g, uint16_t input, uint16_t output, const tl_conv_spec *spec,
                          char *error, size_t error_size);

/* AVERAGE_POOL_2D / MAX_POOL_2D; input and output must share quantisation. */
int32_t tl_graph_add_pool(tl_graph *g, uint8_t opcode, uint16_t input, uint16_t output,
                          uint32_t k_h, uint32_t k_w, uint32_t stride_h, uint32_t stride_w,
                          int same_padding, uint8_t activation);

/* Element-wise ADD of two same-size activations. */
int32_t tl_graph_add_add(tl_graph *g, uint16_t input1, uint16_t input2, uint16_t output,
                         uint8_t activation);

/* RESHAPE (same element count; planned in place). */
int32_t tl_graph_add_reshape(tl_graph *g, uint16_t input, uint16_t output);

/* SOFTMAX over the last dimension; output scale 1/256, zero point -128. */
int32_t tl_graph_add_softmax(tl_graph *g, uint16_t input, uint16_t output, float beta);

/* An integer LSTM (TFLite's 8x8->16) for tl_graph_add_lstm: int8 weights
 * per tensor, gates in the order input, forget, cell, output. */
typedef struct tl_lstm_spec {
    int time_major;                 /* 1: input [time, batch, n_input] */
    uint32_t batches, n_input, n_state;
    const int8_t *input_weights;    /* [4][n_state][n_input] */
    const int8_t *recurrent_weights;/* [4][n_state][n_state] */
    const int32_t *bias;            /* [4][n_state], at input scale x weight scale */
    float input_weight_scales[4], recurrent_weight_scales[4];
    float hidden_scale;             /* the hidden state's (and the output's) */
    int32_t hidden_zero_point;
    float cell_scale;               /* int16 cell, a power of two */
    float cell_clip;                /* 0: none */
    const char *name;               /* names its state tensors */
} tl_lstm_spec;

/* UNIDIRECTIONAL_SEQUENCE_LSTM from `input` to `output` (int8, [batch,
 * time, ..] or time-major): adds its hidden and cell state tensors and its
 * constant block, with TFLite Micro's constants. Returns the op index or
 * -1 with a reason; *hidden gets the hidden state tensor's index. */
int32_t tl_graph_add_lstm(tl_graph *g, uint16_t input, uint16_t output, const tl_lstm_spec *spec, uint16_t *hidden,
                          char *error, size_t error_size);

/* Declares an early exit: running ops [0, op_end) yields `output`. Exits
 * must be added in order of op_end. */
tl_status tl_graph_add_exit(tl_graph *g, uint16_t output, uint32_t op_end);

#ifdef __cplusplus
}
#endif

#endif /* TINYLARGE_CONVERT_H */
