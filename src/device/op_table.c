/* op_table.c - every operator the runtime has, by opcode: the table a
 * host build and a general-purpose firmware use. A firmware for known
 * models uses the table `tinylarge resolver MODEL.tlm...` writes instead,
 * and links only those kernels. */
#include "op.h"

extern const tl_op_kind tl_op_conv_2d, tl_op_depthwise_conv_2d, tl_op_fully_connected, tl_op_average_pool_2d,
    tl_op_max_pool_2d, tl_op_add, tl_op_reshape, tl_op_softmax, tl_op_transpose, tl_op_pad,
    tl_op_mean, tl_op_quantize, tl_op_dequantize, tl_op_svdf,
    tl_op_logistic, tl_op_tanh, tl_op_unidirectional_sequence_lstm,
    tl_op_strided_slice, tl_op_concatenation, tl_op_sub, tl_op_mul,
    tl_op_relu, tl_op_leaky_relu, tl_op_transpose_conv, tl_op_prelu,
    tl_op_hard_swish, tl_op_resize_nearest, tl_op_batch_matmul,
    tl_op_resize_bilinear;

const tl_op_kind *const tl_op_table[TL_OP_COUNT_] = {
    [TL_OP_CONV_2D] = &tl_op_conv_2d,
    [TL_OP_DEPTHWISE_CONV_2D] = &tl_op_depthwise_conv_2d,
    [TL_OP_FULLY_CONNECTED] = &tl_op_fully_connected,
    [TL_OP_AVERAGE_POOL_2D] = &tl_op_average_pool_2d,
    [TL_OP_MAX_POOL_2D] = &tl_op_max_pool_2d,
    [TL_OP_ADD] = &tl_op_add,
    [TL_OP_RESHAPE] = &tl_op_reshape,
    [TL_OP_SOFTMAX] = &tl_op_softmax,
    [TL_OP_TRANSPOSE] = &tl_op_transpose,
    [TL_OP_PAD] = &tl_op_pad,
    [TL_OP_MEAN] = &tl_op_mean,
    [TL_OP_QUANTIZE] = &tl_op_quantize,
    [TL_OP_DEQUANTIZE] = &tl_op_dequantize,
    [TL_OP_SVDF] = &tl_op_svdf,
    [TL_OP_LOGISTIC] = &tl_op_logistic,
    [TL_OP_TANH] = &tl_op_tanh,
    [TL_OP_LSTM] = &tl_op_unidirectional_sequence_lstm,
    [TL_OP_STRIDED_SLICE] = &tl_op_strided_slice,
    [TL_OP_CONCATENATION] = &tl_op_concatenation,
    [TL_OP_SUB] = &tl_op_sub,
    [TL_OP_MUL] = &tl_op_mul,
    [TL_OP_RELU] = &tl_op_relu,
    [TL_OP_LEAKY_RELU] = &tl_op_leaky_relu,
    [TL_OP_TRANSPOSE_CONV] = &tl_op_transpose_conv,
    [TL_OP_PRELU] = &tl_op_prelu,
    [TL_OP_HARD_SWISH] = &tl_op_hard_swish,
    [TL_OP_RESIZE_NEAREST_NEIGHBOR] = &tl_op_resize_nearest,
    [TL_OP_BATCH_MATMUL] = &tl_op_batch_matmul,
    [TL_OP_RESIZE_BILINEAR] = &tl_op_resize_bilinear,
};
