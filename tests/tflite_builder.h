/* tflite_builder.h - writes small TFLite flatbuffers for the importer's
 * tests: tensors (with per-tensor quantisation and constant data) and
 * operators (with their options as field id / value pairs), serialised
 * front to back so every offset points forward, as TFLite's files do. */
#ifndef TL_TFLITE_BUILDER_H
#define TL_TFLITE_BUILDER_H

#include <stddef.h>
#include <stdint.h>

typedef struct tfb tfb;

/* An option of an operator's builtin options table. */
typedef struct tfb_opt {
    int id;
    char kind;     /* 'b' byte/bool, 'i' int32, 'f' float32; 0 ends a list */
    double value;
} tfb_opt;

tfb *tfb_new(void);
void tfb_free(tfb *b);

/* A tensor: TFLite type code (0 float32, 2 int32, 7 int16, 9 int8), shape,
 * quantisation (scale <= 0: none), constant data (NULL: an activation).
 * Returns its index. */
int tfb_tensor(tfb *b, const char *name, int type, int rank, const int *shape, float scale, int64_t zero_point,
               const void *data, size_t data_size, int is_variable);

/* An operator: builtin code, inputs (-1: left out), outputs, the builtin
 * options table's union type and fields (may be NULL). */
void tfb_op(tfb *b, int builtin, const int *inputs, int n_in, const int *outputs, int n_out, int options_type,
            const tfb_opt *options);

/* The model's inputs and outputs, then the flatbuffer (caller frees). */
uint8_t *tfb_finish(tfb *b, const int *inputs, int n_in, const int *outputs, int n_out, size_t *size);

#endif /* TL_TFLITE_BUILDER_H */
