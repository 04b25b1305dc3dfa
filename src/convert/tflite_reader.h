/* tflite_reader.h - reading a TFLite flatbuffer: its tensors and
 * operators, checked, for the importer (tflite_import.c), the survey and
 * the float-model path (tflite_float.c). Internal to src/convert. Field
 * numbers are those of TFLite's schema.fbs. */
#ifndef TL_TFLITE_READER_H
#define TL_TFLITE_READER_H

#include "flatbuffer.h"
#include "tinylarge/convert.h"

enum { TFL_FLOAT32 = 0, TFL_INT32 = 2, TFL_INT64 = 4, TFL_INT16 = 7, TFL_INT8 = 9 };
enum {
    TFL_ADD = 0, TFL_AVERAGE_POOL_2D = 1, TFL_CONV_2D = 3, TFL_DEPTHWISE_CONV_2D = 4,
    TFL_FULLY_CONNECTED = 9, TFL_MAX_POOL_2D = 17, TFL_RESHAPE = 22, TFL_SOFTMAX = 25,
    TFL_PAD = 34, TFL_TRANSPOSE = 39, TFL_MEAN = 40, TFL_PADV2 = 60, TFL_DEQUANTIZE = 6,
    TFL_QUANTIZE = 114, TFL_SVDF = 27, TFL_LOGISTIC = 14, TFL_TANH = 28, TFL_UNIDIRECTIONAL_SEQUENCE_LSTM = 44,
    TFL_CONCATENATION = 2, TFL_SQUEEZE = 43, TFL_STRIDED_SLICE = 45, TFL_SPLIT = 49, TFL_EXPAND_DIMS = 70,
    TFL_PACK = 83, TFL_UNPACK = 88, TFL_SPLIT_V = 102, TFL_MUL = 18, TFL_SUB = 41,
    TFL_RELU = 19, TFL_RELU_N1_TO_1_OP = 20, TFL_RELU6 = 21, TFL_LEAKY_RELU = 98,
    TFL_TRANSPOSE_CONV = 67, TFL_PRELU = 54, TFL_HARD_SWISH = 117,
    TFL_RESIZE_NEAREST_NEIGHBOR = 97, TFL_BATCH_MATMUL = 126, TFL_RESIZE_BILINEAR = 23
};
enum { TFL_PAD_SAME = 0, TFL_PAD_VALID = 1 };
enum { TFL_ACT_NONE = 0, TFL_ACT_RELU = 1, TFL_ACT_RELU_N1_TO_1 = 2, TFL_ACT_RELU6 = 3, TFL_ACT_TANH = 4 };


/* A model being read, and what is being done with it (for messages). */
typedef struct tl_tfl {
    tl_fb fb;
    tl_fb_table model;
    tl_fb_vec buffers, op_codes, tensors, operators;
    tl_fb_vec graph_inputs, graph_outputs;  /* of subgraph 0 */
    tl_graph *g;
    int32_t *map;          /* TFLite tensor index -> graph index, -1 if none */
    uint8_t *written;      /* graph tensor -> 1 once an operator (or the caller) writes it */
    uint32_t written_count;
    char *error;
    size_t error_size;
    int32_t op_index;      /* operator being imported, for messages */
    uint8_t takes;         /* the activation types the operator being imported takes
                              (tl_tfl_type_bit); 0: any (graph inputs) */
    char op_name[48];
} tl_tfl;

/* A TFLite tensor's description (not yet added to the graph). */
typedef struct tl_tfl_tensor {
    uint8_t type;
    uint32_t rank;
    uint32_t dims[TL_MAX_RANK];
    uint32_t buffer;
    char name[96];
    float scale;
    int32_t zero_point;
    tl_fb_vec scales;      /* per-channel scales (f32) */
    tl_fb_vec zero_points; /* per-channel zero points (i64) */
    uint8_t variable;      /* state kept between inferences (SVDF, LSTM) */
    const uint8_t *data;   /* constant data or NULL */
    uint32_t data_size;
} tl_tfl_tensor;

/* Reads the model and subgraph tables; subgraph 0's are the ones used.
 * TL_ERR_MAGIC for a file that is not TFLite, with a message. */
tl_status tl_tfl_open(tl_tfl *r, const uint8_t *data, size_t size, char *error, size_t error_size);

/* A message into r->error (prefixed by the operator being read, if any);
 * returns status. */
tl_status tl_tfl_fail(tl_tfl *r, tl_status status, const char *fmt, ...);
tl_status tl_tfl_malformed(tl_tfl *r, const char *what);

/* Tensor `index`: type, shape, quantisation, constant data. */
tl_status tl_tfl_read_tensor(tl_tfl *r, int32_t index, tl_tfl_tensor *t);

/* Operator i's table, builtin code and name; 0, or -1 if malformed. */
int tl_tfl_read_operator(tl_tfl *r, uint32_t i, tl_fb_table *op, int32_t *builtin, char *name, size_t name_size);

uint64_t tl_tfl_elements(const tl_tfl_tensor *t);
const char *tl_tfl_type_name(uint8_t type);

#endif /* TL_TFLITE_READER_H */
