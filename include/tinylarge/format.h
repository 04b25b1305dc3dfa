/* format.h - the .tlm device model container, as laid out in the file.
 *
 * One header shared by the writer (host) and the loader (device), so the two
 * can never disagree. Every record is fixed-size, naturally aligned and
 * little-endian; sections start on 16-byte boundaries, so a device maps the
 * file straight from flash and reads these structs in place (zero copy).
 * docs/format.md is the prose description of the same layout.
 *
 * Invariant: nothing here is trusted by the device before tl_model_load()
 * has checked it (see src/device/model.c).
 */
#ifndef TINYLARGE_FORMAT_H
#define TINYLARGE_FORMAT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TL_MAGIC "TLM1"
#define TL_TRAILER_MAGIC "TLMS"
#define TL_FORMAT_MAJOR 1u
#define TL_FORMAT_MINOR 0u
#define TL_ALIGN 16u
#define TL_NONE 0xFFFFFFFFu     /* "no offset" in a uint32 field */
#define TL_NO_TENSOR 0xFFFFu    /* "no tensor" in a uint16 tensor index */
#define TL_MAX_RANK 4u
#define TL_MAX_SECTIONS 16u

/* Limits the loader enforces so int32 accumulators cannot overflow and
 * loops stay bounded; see docs/format.md "Validation". */
#define TL_MAX_DIM 65535u
#define TL_MAX_DOT 32768u       /* elements summed into one accumulator */

typedef enum tl_section_kind {
    TL_SEC_TENSORS = 1,   /* tl_tensor_rec[count] */
    TL_SEC_OPS = 2,       /* tl_op_rec[count], in execution order */
    TL_SEC_IO = 3,        /* uint16 tensor indices: inputs then outputs */
    TL_SEC_EXITS = 4,     /* tl_exit_rec[count] */
    TL_SEC_WEIGHTS = 5,   /* constant data; records point into it */
    TL_SEC_PLAN = 6,      /* uint32 arena offset per tensor (TL_NONE: const) */
    TL_SEC_META = 7,      /* "key\0value\0" pairs, UTF-8 */
    TL_SEC_STRINGS = 8    /* NUL-terminated names, referenced by offset */
} tl_section_kind;

typedef enum tl_dtype {
    TL_DTYPE_INT8 = 1,
    TL_DTYPE_INT32 = 2,
    TL_DTYPE_INT4 = 3,         /* packed two per byte, low nibble first */
    TL_DTYPE_SPARSE_INT8 = 4,  /* tap-grouped CSR, see docs/format.md */
    TL_DTYPE_BITMAP_INT8 = 5,  /* one bit per weight + the non-zero values, see docs/format.md */
    TL_DTYPE_INT16 = 6,        /* 16x8 activations, int16 state */
    TL_DTYPE_FLOAT32 = 7,      /* a float model's inputs and outputs (QUANTIZE, DEQUANTIZE) */
    TL_DTYPE_INT64 = 8         /* constants only: the biases of 16x8 convolutions */
} tl_dtype;

typedef enum tl_tensor_kind {
    TL_TENSOR_ACTIVATION = 0,  /* lives in the arena at its planned offset */
    TL_TENSOR_CONST = 1,       /* lives in the WEIGHTS section */
    TL_TENSOR_STATE = 2        /* an activation kept from one inference to the
                                  next (SVDF, LSTM state): its own arena bytes,
                                  set to its zero point by tl_interp_init */
} tl_tensor_kind;

typedef enum tl_quant_kind {
    TL_QUANT_NONE = 0,
    TL_QUANT_PER_TENSOR = 1,
    TL_QUANT_PER_CHANNEL = 2
} tl_quant_kind;

typedef enum tl_opcode {
    TL_OP_CONV_2D = 1,
    TL_OP_DEPTHWISE_CONV_2D = 2,
    TL_OP_FULLY_CONNECTED = 3,
    TL_OP_AVERAGE_POOL_2D = 4,
    TL_OP_MAX_POOL_2D = 5,
    TL_OP_ADD = 6,
    TL_OP_RESHAPE = 7,
    TL_OP_SOFTMAX = 8,
    TL_OP_TRANSPOSE = 9,
    TL_OP_PAD = 10,
    TL_OP_MEAN = 11,
    TL_OP_QUANTIZE = 12,
    TL_OP_DEQUANTIZE = 13,
    TL_OP_SVDF = 14,
    TL_OP_LOGISTIC = 15,
    TL_OP_TANH = 16,
    TL_OP_LSTM = 17,       /* TFLite's UNIDIRECTIONAL_SEQUENCE_LSTM */
    TL_OP_STRIDED_SLICE = 18,
    TL_OP_CONCATENATION = 19,
    TL_OP_SUB = 20,
    TL_OP_MUL = 21,
    TL_OP_RELU = 22,       /* RELU, RELU6, RELU_N1_TO_1 */
    TL_OP_LEAKY_RELU = 23,
    TL_OP_TRANSPOSE_CONV = 24,
    TL_OP_PRELU = 25,
    TL_OP_HARD_SWISH = 26,
    TL_OP_RESIZE_NEAREST_NEIGHBOR = 27,
    TL_OP_BATCH_MATMUL = 28,
    TL_OP_RESIZE_BILINEAR = 29,
    TL_OP_COUNT_ = 30
} tl_opcode;

typedef enum tl_activation {
    TL_ACT_NONE = 0,
    TL_ACT_RELU = 1,
    TL_ACT_RELU6 = 2,
    TL_ACT_RELU_N1_TO_1 = 3
} tl_activation;

typedef enum tl_exit_kind {
    TL_EXIT_RAW = 0,     /* output is not a probability vector */
    TL_EXIT_PROBS = 1    /* output is a softmax: confidence is defined */
} tl_exit_kind;

/* The largest arena a loader accepts (64 MiB): far above a
 * microcontroller's RAM and any model this runtime is for, and low enough
 * that a host tool that allocates the arena a file claims cannot be made
 * to ask for gigabytes by one forged header field. */
#define TL_MAX_ARENA_BYTES (64u << 20)

/* 64 bytes at offset 0. */
typedef struct tl_file_header {
    char magic[4];             /* "TLM1" */
    uint16_t version_major;    /* readers refuse a major they do not know */
    uint16_t version_minor;    /* minors only add; older readers may load */
    uint32_t header_size;      /* sizeof(tl_file_header) */
    uint32_t file_size;        /* whole file including the trailer */
    uint32_t flags;            /* reserved, 0 */
    uint32_t section_count;    /* entries in the section table */
    uint32_t section_table;    /* offset of tl_section_rec[section_count] */
    uint32_t arena_size;       /* exact arena bytes the plan needs */
    uint32_t tensor_count;
    uint32_t op_count;
    uint32_t input_count;
    uint32_t output_count;
    uint32_t exit_count;
    uint32_t reserved[3];
} tl_file_header;

/* 16 bytes each. */
typedef struct tl_section_rec {
    uint32_t kind;     /* tl_section_kind */
    uint32_t offset;   /* from the start of the file, multiple of 16 */
    uint32_t size;     /* bytes */
    uint32_t count;    /* records, where the section holds records */
} tl_section_rec;

/* 48 bytes each. Dimensions are NHWC for activations, OHWI for conv and
 * fully-connected filters and 1HWC for depthwise filters (as in TFLite). */
typedef struct tl_tensor_rec {
    uint8_t dtype;               /* tl_dtype */
    uint8_t rank;                /* 1..4 */
    uint8_t kind;                /* tl_tensor_kind */
    uint8_t quant;               /* tl_quant_kind */
    uint32_t dims[TL_MAX_RANK];  /* unused trailing dims are 1 */
    uint32_t data_offset;        /* const: offset in WEIGHTS; else TL_NONE */
    uint32_t data_size;          /* bytes of data (const or activation) */
    int32_t zero_point;
    float scale;                 /* per-tensor scale (host use only) */
    uint32_t channel_scales;     /* per-channel float scales in WEIGHTS */
    uint32_t name;               /* offset in STRINGS, or TL_NONE */
    uint32_t reserved;
} tl_tensor_rec;

/* 80 bytes each. All requantisation constants are computed offline by the
 * converter, so the device does no floating point and no preparation. */
typedef struct tl_op_rec {
    uint8_t opcode;              /* tl_opcode */
    uint8_t activation;          /* tl_activation (informative: act_min/max rule) */
    uint8_t input_count;         /* 1..3 */
    uint8_t flags;               /* reserved, 0 */
    uint16_t inputs[3];          /* tensor indices; unused: TL_NO_TENSOR */
    uint16_t output;             /* tensor index */
    uint8_t stride_h, stride_w;
    uint8_t dilation_h, dilation_w;
    uint8_t filter_h, filter_w;  /* pooling window */
    uint8_t depth_multiplier;    /* depthwise only */
    uint8_t reserved0;
    int16_t pad_top, pad_left;   /* padding before the first row/column */
    int16_t act_min, act_max;    /* output clamp, int8 range */
    int32_t input_offset;        /* -input zero point */
    int32_t output_offset;       /* output zero point */
    uint32_t requant;            /* WEIGHTS: int32 mult[C] then int32 shift[C];
                                    SVDF, LSTM: the offset of the constant block */
    uint32_t bias;               /* WEIGHTS: int32 effective bias[C];
                                    SVDF, LSTM: the constant block's bytes */
    int32_t p[9];                /* op-specific constants, see docs/format.md */
} tl_op_rec;

/* CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED with int16 activations
 * (TFLite's 16x8): inputs[2] is the bias (an int64 or int32 constant, or
 * absent), `requant` the per-channel multipliers and shifts, `bias`
 * TL_NONE; no zero points; p[TL_CONV16_ACC32] is 1 when the bias is int32,
 * for then TFLite accumulates in int32 and requantises as the int8 kernels
 * do, else in int64 with its 64-bit requantisation. */
enum { TL_CONV16_ACC32 = 1 };

/* TRANSPOSE_CONV (int8, or int16 activations with an int64 bias):
 * inputs[0] the input, inputs[1] the filter [out_c, k_h, k_w, in_c],
 * inputs[2] the bias (int32 for int8, int64 for int16) or absent;
 * `requant` per-channel multipliers and shifts, `bias` TL_NONE; stride
 * and the padding before the first row and column in the record. */

/* tl_op_rec.flags */
#define TL_OP_FLAG_RESIDUAL 1u  /* CONV_2D fused with a following ADD: inputs[2]
                                   is the residual, p[0] the WEIGHTS offset of a
                                   tl_residual_add block */

/* The constants of an ADD fused into a convolution (13 int32, in WEIGHTS).
 * The convolution's requantised, clamped output is one ADD input, the
 * residual tensor the other. */
typedef struct tl_residual_add {
    int32_t conv_is_input1;      /* 1: conv output is ADD input 1, residual input 2 */
    int32_t input1_offset, input2_offset, output_offset;
    int32_t left_shift;
    int32_t input1_multiplier, input1_shift;
    int32_t input2_multiplier, input2_shift;
    int32_t output_multiplier, output_shift;
    int32_t act_min, act_max;
} tl_residual_add;

/* Meaning of tl_op_rec.p[] per operator. */
/* ADD and SUB (int8, or int16 with no offsets and a left shift of 15;
 * shapes that broadcast): */
enum {
    TL_ADD_INPUT2_OFFSET = 0, TL_ADD_LEFT_SHIFT = 1,
    TL_ADD_INPUT1_MULT = 2, TL_ADD_INPUT1_SHIFT = 3,
    TL_ADD_INPUT2_MULT = 4, TL_ADD_INPUT2_SHIFT = 5,
    TL_ADD_OUTPUT_MULT = 6, TL_ADD_OUTPUT_SHIFT = 7
};
/* MUL (int8, or int16 with no offsets; shapes that broadcast):
 * (x1 - zp1)(x2 - zp2) requantised by (mult, shift), plus the output's zero
 * point, clamped. input_offset is -zp1. */
enum { TL_MUL_INPUT2_OFFSET = 0, TL_MUL_MULT = 1, TL_MUL_SHIFT = 2 };
/* RELU (and RELU6, RELU_N1_TO_1) and LEAKY_RELU, int8 or int16:
 * x - input zero point (`input_offset` is -zp) requantised by the
 * identity pair, or for LEAKY_RELU below zero by the alpha pair, plus the
 * output's zero point, clamped to [act_min, act_max]. */
enum { TL_RELU_MULT = 0, TL_RELU_SHIFT = 1, TL_RELU_ALPHA_MULT = 2, TL_RELU_ALPHA_SHIFT = 3 };
/* PRELU (int8; alpha broadcast to the input, a constant or not): x - zp
 * requantised by (p[1], p[2]) where it is >= 0, else (x - zp)(alpha -
 * alpha zp) by (p[3], p[4]); plus the output's zero point, clamped.
 * `input_offset` is -zp, p[0] -alpha zp. */
enum { TL_PRELU_ALPHA_OFFSET = 0, TL_PRELU_MULT = 1, TL_PRELU_SHIFT = 2, TL_PRELU_ALPHA_MULT = 3,
       TL_PRELU_ALPHA_SHIFT = 4 };
/* HARD_SWISH (int8): Q15 multipliers and their exponents, as TFLite
 * prepares them: relu-ish = in_scale / 128 / (3 / 32768), output =
 * in_scale / 128 / out_scale. */
/* BATCH_MATMUL (int8): lhs [.., rows, depth] (adj_x: [.., depth, rows])
 * times rhs [.., depth, cols] (adj_y: [.., cols, depth]); `input_offset`
 * -lhs zp, p[2] -rhs zp, requantised by (p[3], p[4]), plus the output's
 * zero point, clamped to [act_min, act_max]. */
enum { TL_BATCH_MATMUL_ADJ_X = 0, TL_BATCH_MATMUL_ADJ_Y = 1, TL_BATCH_MATMUL_RHS_OFFSET = 2, TL_BATCH_MATMUL_MULT = 3,
       TL_BATCH_MATMUL_SHIFT = 4 };
/* RESIZE_BILINEAR (int8, int16; input and output share quantisation):
 * TFLite's scales in 1/1024ths of an input pixel per output pixel, rows
 * and columns (align_corners folded in), and half_pixel_centers. */
enum { TL_RESIZE_SCALE_H = 0, TL_RESIZE_SCALE_W = 1, TL_RESIZE_HALF_PIXEL = 2 };
enum { TL_HARD_SWISH_RELUISH_MULT = 0, TL_HARD_SWISH_RELUISH_EXPONENT = 1, TL_HARD_SWISH_OUTPUT_MULT = 2,
       TL_HARD_SWISH_OUTPUT_EXPONENT = 3 };
enum {
    TL_SOFTMAX_INPUT_MULT = 0, TL_SOFTMAX_INPUT_LEFT_SHIFT = 1,
    TL_SOFTMAX_DIFF_MIN = 2
};
/* SOFTMAX with int16 input (and output): p[0], p[1] scale the differences
 * so that [-65535, 0] spans [-10, 0]; `requant` / `bias` hold the block of
 * TFLite's two 513-entry int16 tables, exp on [-10, 0] then 1 / (1 + x) on
 * [0, 1]. */
/* TRANSPOSE: output dimension i is input dimension p[TL_TRANSPOSE_PERM + i]
 * (four entries; past the tensors' rank, i itself). */
enum { TL_TRANSPOSE_PERM = 0 };
/* PAD: rows added before and after each of the four dimensions, and the
 * int8 value they hold (the output's zero point for TFLite's PAD, the
 * constant for PADV2). */
enum { TL_PAD_BEFORE = 0, TL_PAD_AFTER = 4, TL_PAD_VALUE = 8 };
/* MEAN: p[TL_MEAN_REDUCE + i] is 1 where dimension i is averaged away; the
 * sum of (x - input zero point) over them is rescaled by (mult, shift),
 * which fold in_scale / out_scale and 1 / count as TFLite does. */
enum { TL_MEAN_REDUCE = 0, TL_MEAN_MULT = 4, TL_MEAN_SHIFT = 5 };
/* QUANTIZE between integer types: (x - input zp) * (mult, shift) + output
 * zp, clamped to the output type. From float32: round(x / scale) + output
 * zp, with scale the IEEE-754 bits of a float. DEQUANTIZE (to float32):
 * scale * (x - input zp). */
enum { TL_QUANTIZE_MULT = 0, TL_QUANTIZE_SHIFT = 1, TL_QUANTIZE_SCALE_BITS = 2 };
/* STRIDED_SLICE (any element type; also SPLIT, SPLIT_V and UNPACK, one
 * slice per output): output element (i0..i3) is input element
 * (begin[k] + i_k * stride[k]); the counts are the output's dims with a 1
 * put back at each axis in the shrink mask (p[8], bit k: axis k). */
enum { TL_SLICE_BEGIN = 0, TL_SLICE_STRIDE = 4, TL_SLICE_SHRINK = 8 };
/* CONCATENATION (any element type; also PACK): one record per input, each
 * copying its input into the output at `offset` along `axis` (of the
 * output's dims), `count` entries deep. */
enum { TL_PLACE_AXIS = 0, TL_PLACE_OFFSET = 1, TL_PLACE_COUNT = 2 };
/* LOGISTIC, TANH (int8): x - input zero point, if inside +-radius, scaled
 * by (mult, left shift) into Q4.27, then gemmlowp's fixed-point function;
 * the output is LOGISTIC's at scale 1/256, zero point -128, TANH's at
 * 1/128, zero point 0. */
enum { TL_SIGMOID_MULT = 0, TL_SIGMOID_SHIFT = 1, TL_SIGMOID_RADIUS = 2 };
/* SVDF (int8 input and output; int8 or int16 state and time weights):
 * inputs[0] the input [batch, n_input], inputs[1] the state tensor [batch,
 * n_memory * n_filter]; `requant` / `bias` hold the WEIGHTS offset and size
 * of the constant block: feature weights int8 [n_filter][n_input], time
 * weights (the state's type) [n_filter][n_memory], then the int32 bias
 * [n_unit] if any, each part starting on 4 bytes. n_filter = n_unit * rank. */
enum {
    TL_SVDF_RANK = 0, TL_SVDF_MEMORY = 1, TL_SVDF_FEATURE_MULT = 2, TL_SVDF_FEATURE_SHIFT = 3,
    TL_SVDF_OUTPUT_MULT = 4, TL_SVDF_OUTPUT_SHIFT = 5, TL_SVDF_STATE_ZERO_POINT = 6, TL_SVDF_HAS_BIAS = 7
};

/* 16 bytes each. Running ops [0, op_end) produces this exit's output;
 * exits are ordered by op_end so a cascade resumes where it stopped. */
typedef struct tl_exit_rec {
    uint16_t output;             /* tensor index */
    uint8_t kind;                /* tl_exit_kind */
    uint8_t reserved0;
    uint32_t op_end;
    int32_t prob_zero_point;     /* probability = (q - zp) * prob_scale_q24 / 2^24 */
    uint32_t prob_scale_q24;
} tl_exit_rec;

/* 128 bytes at file_size - 128. The digest covers bytes [0, file_size - 128);
 * the signature (Ed25519) is over the 32-byte digest. */
typedef struct tl_trailer {
    char magic[4];               /* "TLMS" */
    uint32_t signature_alg;      /* 0: unsigned, 1: Ed25519 */
    uint32_t key_id;             /* which server key signed, 0 if unsigned */
    uint32_t reserved0;
    uint8_t sha256[32];
    uint8_t signature[64];
    uint8_t reserved[16];
} tl_trailer;

#define TL_SIG_NONE 0u
#define TL_SIG_ED25519 1u

/* ---- Progressive (bit-plane) stream, .tlp: a transport encoding of a
 * .tlm whose int8 weights arrive most significant bit plane first, so a
 * prefix ending on a plane boundary decodes into a valid, coarser model.
 *   tl_progressive_header
 *   tl_progressive_tensor[tensor_count]   which weights are split into planes
 *   int32 sums[sum_count]                 each output channel's sum of weights
 *                                         (the decoder corrects the effective
 *                                         biases, bias - zp * sum(w), with it)
 *   skeleton: the .tlm with those weight bytes left out (skeleton_size)
 *   plane 7 (sign), plane 6, ..., plane 0: each the bits of all listed
 *   weights in order, packed 8 to a byte, LSB first (plane_size bytes each)
 * plane_sha256[k] is the SHA-256 of everything before the end of plane
 * 7 - k, so each prefix can be checked on its own. ---- */
#define TL_PROGRESSIVE_MAGIC "TLP1"

typedef struct tl_progressive_header {
    char magic[4];               /* "TLP1" */
    uint32_t header_size;        /* sizeof(tl_progressive_header) */
    uint32_t model_size;         /* the decoded .tlm's size */
    uint32_t skeleton_size;
    uint32_t tensor_count;
    uint32_t weight_count;       /* int8 weights split into planes, in all */
    uint32_t plane_size;         /* ceil(weight_count / 8) */
    uint32_t planes;             /* 8 */
    uint32_t sum_count;          /* int32 channel sums after the tensor table */
    uint32_t reserved[3];
    uint8_t plane_sha256[8][32]; /* digest of the stream up to the end of each plane */
} tl_progressive_header;

typedef struct tl_progressive_tensor {
    uint32_t model_offset;       /* where the weights sit in the .tlm */
    uint32_t count;              /* bytes (= int8 weights) */
    uint32_t tensor;             /* its index in the model's tensor table */
    uint32_t sums;               /* index of its first channel sum */
} tl_progressive_tensor;

/* UNIDIRECTIONAL_SEQUENCE_LSTM, int8 activations and weights, int16 cell
 * (TFLite's 8x8->16 integer LSTM, as TFLite Micro runs it): inputs[0] the
 * input [batch, time, n_input] ([time, batch, n_input] when time-major),
 * inputs[1] the hidden state (int8 state tensor, batch x n_state),
 * inputs[2] the cell state and the operator's working rows (int16 state
 * tensor [5, batch, n_state]: row 0 the cell, rows 1..4 four gate
 * buffers); the output [.., .., n_state] int8. `requant` / `bias` hold the
 * constant block: this header, then the input weights int8 [4][n_state]
 * [n_input], the recurrent weights int8 [4][n_state][n_state] and the gate
 * biases int32 [4][n_state], gates in the order input, forget, cell,
 * output, each part starting on 4 bytes. */
enum { TL_LSTM_INPUT_GATE = 0, TL_LSTM_FORGET_GATE = 1, TL_LSTM_CELL_GATE = 2, TL_LSTM_OUTPUT_GATE = 3 };

typedef struct tl_lstm_header {
    int32_t time_major;          /* 1: input [time, batch, n_input] */
    int32_t cell_scale_power;    /* the cell state's scale is 2^cell_scale_power */
    int32_t cell_clip;           /* quantised clip of the cell state, 0: none */
    int32_t input_offset;        /* -input zero point */
    int32_t hidden_offset;       /* -hidden state zero point */
    int32_t hidden_zero_point;
    int32_t input_mult[4], input_shift[4];         /* input FC into Q3.12, per gate */
    int32_t recurrent_mult[4], recurrent_shift[4]; /* recurrent FC into Q3.12, per gate */
    int32_t forget_mult, forget_shift;   /* forget gate x cell -> cell */
    int32_t update_mult, update_shift;   /* input gate x cell gate -> cell */
    int32_t hidden_mult, hidden_shift;   /* tanh(cell) x output gate -> hidden */
} tl_lstm_header;

/* C99 compile-time size checks: a mismatch fails to build on any target. */
typedef char tl_check_header_size[(sizeof(tl_file_header) == 64) ? 1 : -1];
typedef char tl_check_section_size[(sizeof(tl_section_rec) == 16) ? 1 : -1];
typedef char tl_check_tensor_size[(sizeof(tl_tensor_rec) == 48) ? 1 : -1];
typedef char tl_check_op_size[(sizeof(tl_op_rec) == 80) ? 1 : -1];
typedef char tl_check_exit_size[(sizeof(tl_exit_rec) == 16) ? 1 : -1];
typedef char tl_check_trailer_size[(sizeof(tl_trailer) == 128) ? 1 : -1];
typedef char tl_check_residual_size[(sizeof(tl_residual_add) == 52) ? 1 : -1];
typedef char tl_check_lstm_header_size[(sizeof(tl_lstm_header) == 112) ? 1 : -1];
typedef char tl_check_progressive_size[(sizeof(tl_progressive_header) == 304) ? 1 : -1];

#ifdef __cplusplus
}
#endif

#endif /* TINYLARGE_FORMAT_H */
