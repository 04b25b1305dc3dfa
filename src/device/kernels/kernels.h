/* kernels.h - the int8 operator kernels of the device runtime.
 *
 * One kernel per file (tl_<op>_<type>.c); each is a stateless function over
 * a plain parameter struct and caller-owned memory. Kernels trust their
 * parameters: tl_model_load() has already checked every shape, offset and
 * constant, so the hot loops carry no checks. Arithmetic matches TFLite's
 * reference kernels bit for bit (int32 accumulators, see fixedpoint.h).
 */
#ifndef TL_KERNELS_H
#define TL_KERNELS_H

#include <stdint.h>

#include "fixedpoint.h"
#include "tinylarge/format.h"

/* Convolution-like ops: CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED
 * (which runs as a 1x1 convolution over a [batches, 1, 1, depth] input).
 * Shapes: input [batches, in_h, in_w, in_c]; output [batches, out_h, out_w,
 * out_c]; filter [out_c, k_h, k_w, in_c] (depthwise: [1, k_h, k_w, out_c]). */
typedef struct tl_conv_params {
    const int8_t *input;
    int8_t *output;
    const void *filter;          /* int8, packed int4 or sparse, per kernel */
    const int32_t *bias;         /* effective bias: bias - in_zp * sum(w) */
    const int32_t *multiplier;   /* per output channel */
    const int32_t *shift;        /* per output channel */
    int32_t batches;
    int32_t in_h, in_w, in_c;
    int32_t out_h, out_w, out_c;
    int32_t out_stride;          /* tl_conv2d_s8: bytes from one output pixel to the next
                                    (out_c, or more for a slice of the channels) */
    int32_t k_h, k_w;
    int32_t stride_h, stride_w;
    int32_t dilation_h, dilation_w;
    int32_t pad_top, pad_left;
    int32_t depth_multiplier;    /* depthwise only */
    int32_t input_offset;        /* -input zero point */
    int32_t output_offset;       /* output zero point */
    int32_t act_min, act_max;
    /* Optional fused ADD (NULL: none): out = ADD(conv result, residual),
     * residual shaped like the output; may alias the output. */
    const int8_t *residual;
    const tl_residual_add *residual_add;
} tl_conv_params;

void tl_conv2d_s8(const tl_conv_params *p);
void tl_conv2d_s4(const tl_conv_params *p);
void tl_conv2d_sparse_s8(const tl_conv_params *p);
void tl_conv2d_bitmap_s8(const tl_conv_params *p);
void tl_depthwise_conv2d_s8(const tl_conv_params *p);

/* The same three with int16 activations (TFLite's 16x8): no zero points,
 * int64 bias (bias64, raw bytes: it may sit 4-byte aligned) or int32 bias
 * (bias32, accumulating in int32 as TFLite then does), either or none. */
typedef struct tl_conv16_params {
    const int16_t *input;
    int16_t *output;
    const int8_t *filter;        /* OHWI, or 1HWC for depthwise */
    const uint8_t *bias64;
    const int32_t *bias32;
    const int32_t *multiplier, *shift;
    int32_t batches, in_h, in_w, in_c, out_h, out_w, out_c, k_h, k_w;
    int32_t stride_h, stride_w, dilation_h, dilation_w, pad_top, pad_left;
    int32_t depthwise, depth_multiplier;
    int32_t act_min, act_max;
} tl_conv16_params;

void tl_conv2d_s16(const tl_conv16_params *p);

/* TRANSPOSE_CONV, int8 or (wide) int16 with int8 weights; the output
 * [batches][out_h][out_w][out_c] gathers its input pixels (see the file). */
typedef struct tl_tconv_params {
    const void *input;
    void *output;
    const int8_t *filter;                /* [out_c][k_h][k_w][in_c] */
    const int32_t *bias32;               /* int8, or NULL */
    const uint8_t *bias64;               /* int16, raw bytes, or NULL */
    const int32_t *multiplier, *shift;
    int32_t wide;
    int32_t batches, in_h, in_w, in_c, out_h, out_w, out_c, k_h, k_w;
    int32_t stride_h, stride_w, pad_top, pad_left;
    int32_t input_offset, output_offset, act_min, act_max;
} tl_tconv_params;

void tl_transpose_conv(const tl_tconv_params *p);

/* Pooling over [batches, in_h, in_w, channels]; input and output share
 * quantisation (TFLite requires it). */
typedef struct tl_pool_params {
    const void *input;           /* int8, or int16 for the _s16 kernels */
    void *output;
    int32_t batches;
    int32_t in_h, in_w, channels;
    int32_t out_h, out_w;
    int32_t k_h, k_w;
    int32_t stride_h, stride_w;
    int32_t pad_top, pad_left;
    int32_t act_min, act_max;
} tl_pool_params;

void tl_avg_pool2d_s8(const tl_pool_params *p);
void tl_max_pool2d_s8(const tl_pool_params *p);
void tl_avg_pool2d_s16(const tl_pool_params *p);
void tl_max_pool2d_s16(const tl_pool_params *p);

/* One element of ADD, TFLite's arithmetic: both inputs shifted left for
 * headroom, scaled to a common scale (multipliers below one), summed,
 * requantised and clamped. */
static inline int32_t tl_scale_below_one(int32_t x, int32_t multiplier, int32_t shift)
{
    return tl_rounding_divide_by_pot(tl_sat_rounding_doubling_high_mul(x, multiplier), -shift);
}

/* ADD (sign 1) or SUB (sign -1) of one element pair, clamped: int8
 * (left shift 20) or int16 (left shift 15, zero offsets) alike. */
static inline int32_t tl_add_value(int32_t a, int32_t b, const tl_residual_add *q, int32_t sign)
{
    const int32_t sa = (q->input1_offset + a) * (1 << q->left_shift);
    const int32_t sb = (q->input2_offset + b) * (1 << q->left_shift);
    const int32_t sum = tl_scale_below_one(sa, q->input1_multiplier, q->input1_shift) +
                        sign * tl_scale_below_one(sb, q->input2_multiplier, q->input2_shift);
    const int32_t out = tl_scale_below_one(sum, q->output_multiplier, q->output_shift) + q->output_offset;
    return out < q->act_min ? q->act_min : (out > q->act_max ? q->act_max : out);
}

/* The int8 ADD the convolution kernel fuses, written out rather than as
 * tl_add_value(a, b, q, 1): built on it, arm-none-eabi-gcc allocated the
 * whole convolution kernel's registers differently and KWS took 160 more
 * Cortex-M4 instructions per CONV_2D. */
static inline int8_t tl_add_element(int32_t a, int32_t b, const tl_residual_add *q)
{
    const int32_t sa = (q->input1_offset + a) * (1 << q->left_shift);
    const int32_t sb = (q->input2_offset + b) * (1 << q->left_shift);
    const int32_t sum = tl_scale_below_one(sa, q->input1_multiplier, q->input1_shift) +
                        tl_scale_below_one(sb, q->input2_multiplier, q->input2_shift);
    const int32_t out = tl_scale_below_one(sum, q->output_multiplier, q->output_shift) + q->output_offset;
    return (int8_t)(out < q->act_min ? q->act_min : (out > q->act_max ? q->act_max : out));
}

/* An element-wise op of two tensors broadcast to the output (4-D views,
 * right-aligned as TFLite broadcasts: a dim of 1 repeats), int8 or int16
 * elements (element_size 1 or 2), the element function given. */
typedef int32_t (*tl_element_fn)(int32_t a, int32_t b, const void *ctx);

typedef struct tl_broadcast_params {
    const void *input1, *input2;
    void *output;
    int32_t element_size;
    int32_t dims1[4], dims2[4], out_dims[4];
} tl_broadcast_params;

void tl_broadcast_apply(const tl_broadcast_params *p, tl_element_fn fn, const void *ctx);

/* MUL's constants: (a + input1_offset) (b + input2_offset) requantised. */
typedef struct tl_mul_quant {
    int32_t input1_offset, input2_offset, output_offset;
    int32_t multiplier, shift;
    int32_t act_min, act_max;
} tl_mul_quant;

/* The broadcast walk's element functions: ADD and SUB (ctx a
 * tl_residual_add), MUL (a tl_mul_quant). */
int32_t tl_add_fn(int32_t a, int32_t b, const void *quant);
int32_t tl_sub_fn(int32_t a, int32_t b, const void *quant);
int32_t tl_mul_fn(int32_t a, int32_t b, const void *quant);

/* RELU-like activations (see format.h, TL_RELU_*), int8 or int16. */
typedef struct tl_relu_params {
    const void *input;
    void *output;
    int32_t element_size, count;
    int32_t input_offset, output_offset;
    int32_t multiplier, shift;
    int32_t leaky, alpha_multiplier, alpha_shift;
    int32_t act_min, act_max;
} tl_relu_params;

void tl_relu(const tl_relu_params *p);

/* PRELU's constants (see format.h, TL_PRELU_*). */
typedef struct tl_prelu_quant {
    int32_t input_offset, alpha_offset, output_offset;
    int32_t multiplier, shift, alpha_multiplier, alpha_shift;
} tl_prelu_quant;

int32_t tl_prelu_fn(int32_t x, int32_t alpha, const void *quant);

/* HARD_SWISH (see format.h, TL_HARD_SWISH_*), int8. */
typedef struct tl_hard_swish_params {
    const int8_t *input;
    int8_t *output;
    int32_t count, input_offset, output_offset;
    int32_t reluish_multiplier, reluish_exponent, output_multiplier, output_exponent;
} tl_hard_swish_params;

void tl_hard_swish(const tl_hard_swish_params *p);

/* RESIZE_NEAREST_NEIGHBOR and RESIZE_BILINEAR, NHWC, int8 or int16 (see
 * format.h, TL_RESIZE_*): nearest copies the input row and column its maps
 * name; bilinear reads the scales. */
typedef struct tl_resize_params {
    const void *input;
    void *output;
    int32_t element_size, batches, in_h, in_w, channels, out_h, out_w;
    const int32_t *row_map, *column_map;   /* nearest */
    int32_t scale_h, scale_w, half_pixel;  /* bilinear */
} tl_resize_params;

void tl_resize_nearest(const tl_resize_params *p);
void tl_resize_bilinear(const tl_resize_params *p);

/* BATCH_MATMUL, int8 (see format.h, TL_BATCH_MATMUL_*): batches of
 * rows x depth times depth x cols; a batch count of 1 repeats. */
typedef struct tl_batch_matmul_params {
    const int8_t *lhs, *rhs;
    int8_t *output;
    int32_t lhs_batches[2], rhs_batches[2], out_batches[2];
    int32_t rows, depth, cols, adj_x, adj_y;
    int32_t lhs_offset, rhs_offset, output_offset, multiplier, shift, act_min, act_max;
} tl_batch_matmul_params;

void tl_batch_matmul_s8(const tl_batch_matmul_params *p);

/* Element-wise add of two same-shape tensors; output may alias an input.
 * quant.conv_is_input1 is unused here. */
typedef struct tl_add_params {
    const int8_t *input1;
    const int8_t *input2;
    int8_t *output;
    int32_t size;
    tl_residual_add quant;
} tl_add_params;

void tl_add_s8(const tl_add_params *p);

/* Softmax over the last dimension; output may alias the input. */
typedef struct tl_softmax_params {
    const int8_t *input;
    int8_t *output;
    int16_t *output16;           /* non-NULL: an int16 output here instead */
    int32_t rows, depth;
    int32_t input_multiplier, input_left_shift, diff_min;
} tl_softmax_params;

void tl_softmax_s8(const tl_softmax_params *p);

/* SOFTMAX, int16 in and out (see format.h, TL_SOFTMAX16_*): output scale
 * 1/32768, zero point 0. Output may alias the input. */
#define TL_SOFTMAX16_LUT 513
typedef struct tl_softmax16_params {
    const int16_t *input;
    int16_t *output;
    int32_t rows, depth;
    int32_t input_multiplier, input_shift;
    const int16_t *exp_lut, *reciprocal_lut;     /* TL_SOFTMAX16_LUT entries each */
} tl_softmax16_params;

void tl_softmax_s16(const tl_softmax16_params *p);

/* Permutes the four dimensions: output dimension i is input dimension
 * perm[i]. Output must not alias the input. */
typedef struct tl_transpose_params {
    const void *input;
    void *output;
    int32_t element_size;  /* 1, 2 or 4 bytes */
    int32_t in_dims[4];
    int32_t perm[4];
} tl_transpose_params;

void tl_transpose(const tl_transpose_params *p);

/* Pads each of the four dimensions with `value`: before[i] rows ahead and
 * after[i] behind; int8 or int16 elements (element_size 1 or 2). Output
 * must not alias the input. */
typedef struct tl_pad_params {
    const void *input;
    void *output;
    int32_t in_dims[4];
    int32_t before[4], after[4];
    int32_t value;
    int32_t element_size;
} tl_pad_params;

void tl_pad_s8(const tl_pad_params *p);

/* The mean over the dimensions marked in reduce[] (the output holds the
 * others in order); multiplier and shift fold in_scale / out_scale and
 * 1 / count. Output must not alias the input. */
typedef struct tl_mean_params {
    const void *input;
    void *output;
    int32_t element_size;        /* 1: int8, 2: int16 */
    int32_t in_dims[4];
    int32_t reduce[4];
    int32_t input_offset;        /* -input zero point */
    int32_t output_offset;       /* output zero point */
    int32_t multiplier, shift;
} tl_mean_params;

void tl_mean(const tl_mean_params *p);

/* Element-wise conversion between int8, int16, int32 and float32 (see
 * format.h, TL_QUANTIZE_*). Output must not alias the input. */
typedef struct tl_quantize_params {
    const void *input;
    void *output;
    uint32_t in_dtype, out_dtype;
    int32_t count;
    int32_t input_offset;        /* -input zero point */
    int32_t output_offset;       /* output zero point */
    int32_t multiplier, shift;   /* integer to integer */
    float scale;                 /* float: the output's scale (QUANTIZE) or the input's (DEQUANTIZE) */
} tl_quantize_params;

void tl_quantize(const tl_quantize_params *p);

/* SVDF (see format.h, TL_SVDF_*): the state (int8 or int16: exactly one of
 * state8 / state16 is set, and the time weights of the same type) is
 * updated in place; bias may be NULL. */
typedef struct tl_svdf_params {
    const int8_t *input;         /* [batches][n_input] */
    int8_t *output;              /* [batches][n_unit] */
    int8_t *state8;              /* [batches][n_unit * rank][n_memory] */
    int16_t *state16;
    const int8_t *feature_weights;      /* [n_unit * rank][n_input] */
    const int8_t *time_weights8;        /* [n_unit * rank][n_memory] */
    const int16_t *time_weights16;
    const int32_t *bias;                /* [n_unit] */
    int32_t batches, n_input, n_unit, rank, n_memory;
    int32_t input_offset, output_offset, state_zero_point;
    int32_t feature_multiplier, feature_shift, output_multiplier, output_shift;
} tl_svdf_params;

void tl_svdf_s8(const tl_svdf_params *p);

/* LOGISTIC and TANH, int8 (see format.h, TL_SIGMOID_*). */
typedef struct tl_sigmoid_params {
    const int8_t *input;
    int8_t *output;
    int32_t count;
    int32_t input_offset;        /* -input zero point */
    int32_t multiplier, shift;   /* into Q4.27 */
    int32_t radius;              /* |x - zp| at or beyond it saturates */
} tl_sigmoid_params;

void tl_logistic_s8(const tl_sigmoid_params *p);
void tl_tanh_s8(const tl_sigmoid_params *p);

/* LOGISTIC or TANH of int16 (zero points 0, output at 1/32768): x scaled
 * by (x * multiplier + rounding) >> shift into the sigmoid table's units. */
typedef struct tl_sigmoid16_params {
    const int16_t *input;
    int16_t *output;
    int32_t count, multiplier, shift, tanh;
} tl_sigmoid16_params;

void tl_sigmoid16(const tl_sigmoid16_params *p);

/* UNIDIRECTIONAL_SEQUENCE_LSTM, 8x8->16 (see format.h, tl_lstm_header):
 * the hidden and cell states are updated in place; buffers holds four
 * rows of buffer_stride int16 each (the gates' working space). */
typedef struct tl_lstm_params {
    const tl_lstm_header *header;
    const int8_t *input;
    int8_t *output;
    int8_t *hidden;              /* [batches][n_state] */
    int16_t *cell;               /* [batches][n_state] */
    int16_t *buffers;
    int32_t buffer_stride;
    const int8_t *input_weights;       /* [4][n_state][n_input] */
    const int8_t *recurrent_weights;   /* [4][n_state][n_state] */
    const int32_t *bias;               /* [4][n_state] */
    int32_t batches, time_steps, n_input, n_state;
} tl_lstm_params;

void tl_lstm_s8(const tl_lstm_params *p);

/* A strided slice of a [4]-dim view, element_size bytes per element:
 * output (i0..i3) = input (begin[k] + i_k * step[k]). */
typedef struct tl_slice_params {
    const uint8_t *input;
    uint8_t *output;
    int32_t element_size;
    int32_t in_dims[4];
    int32_t begin[4], step[4], counts[4];
} tl_slice_params;

void tl_strided_slice(const tl_slice_params *p);

/* Copies an input of [outer][count][inner] elements into the output
 * [outer][out_axis][inner] at `offset` along the middle axis. */
typedef struct tl_place_params {
    const uint8_t *input;
    uint8_t *output;
    int32_t element_size;
    int32_t outer, inner, out_axis, offset, count;
} tl_place_params;

void tl_place(const tl_place_params *p);

/* The taps of a window that fall inside the image along one axis: the
 * window starts at `origin`, has k taps `dilation` apart; the image has
 * `size` pixels. Valid taps are [*lo, *hi) (empty when *lo == *hi). Since
 * validity is separable, a pixel's valid taps form a rectangle. */
static inline void tl_valid_taps(int32_t origin, int32_t k, int32_t dilation, int32_t size,
                                 int32_t *lo, int32_t *hi)
{
    int32_t l = origin < 0 ? (-origin + dilation - 1) / dilation : 0;
    int32_t h = size - origin <= 0 ? 0 : (size - origin + dilation - 1) / dilation;
    h = h > k ? k : h;
    *lo = l > h ? h : l;
    *hi = h;
}

/* Saturating int8 output with the activation clamp. */
static inline int8_t tl_clamp_s8(int32_t v, int32_t lo, int32_t hi)
{
    return (int8_t)(v < lo ? lo : (v > hi ? hi : v));
}

/* Element `i` of an int8 (element_size 1) or int16 (2) tensor, for the
 * kernels that run both through one loop. */
static inline int32_t tl_load_s8_s16(const void *base, int32_t element_size, int32_t i)
{
    return element_size == 2 ? ((const int16_t *)base)[i] : ((const int8_t *)base)[i];
}

/* Stores v, already clamped to the element's type. */
static inline void tl_store_s8_s16(void *base, int32_t element_size, int32_t i, int32_t v)
{
    if (element_size == 2) {
        ((int16_t *)base)[i] = (int16_t)v;
    } else {
        ((int8_t *)base)[i] = (int8_t)v;
    }
}

#endif /* TL_KERNELS_H */
