/* flatbuffer.h - a minimal, bounds-checked FlatBuffers reader.
 *
 * Just what reading a .tflite file needs: tables, scalar fields, vectors,
 * strings and sub-tables. Every offset is checked against the buffer before
 * it is followed, so a corrupt .tflite gives an error, never a wild read.
 */
#ifndef TL_FLATBUFFER_H
#define TL_FLATBUFFER_H

#include <stddef.h>
#include <stdint.h>

typedef struct tl_fb {
    const uint8_t *buf;
    size_t size;
} tl_fb;

typedef struct tl_fb_table {
    size_t pos;        /* table start */
    size_t vtable;     /* vtable start */
    uint16_t vt_size;  /* vtable bytes */
} tl_fb_table;

typedef struct tl_fb_vec {
    size_t start;      /* first element */
    uint32_t length;   /* elements */
} tl_fb_vec;

/* All return 0 on success, -1 on a malformed buffer. */
int tl_fb_root(const tl_fb *fb, tl_fb_table *root);
/* Position of field `id`, or 0 if absent (defaults apply). */
size_t tl_fb_field(const tl_fb *fb, const tl_fb_table *t, int id);
int tl_fb_u8(const tl_fb *fb, const tl_fb_table *t, int id, uint8_t def, uint8_t *out);
int tl_fb_i32(const tl_fb *fb, const tl_fb_table *t, int id, int32_t def, int32_t *out);
int tl_fb_u32(const tl_fb *fb, const tl_fb_table *t, int id, uint32_t def, uint32_t *out);
int tl_fb_f32(const tl_fb *fb, const tl_fb_table *t, int id, float def, float *out);
/* Absent vector: length 0. elem_size bounds-checks the whole vector. */
int tl_fb_vector(const tl_fb *fb, const tl_fb_table *t, int id, size_t elem_size, tl_fb_vec *out);
/* Absent table: *present = 0. */
int tl_fb_table_field(const tl_fb *fb, const tl_fb_table *t, int id, tl_fb_table *out, int *present);
/* Element i of a vector of tables. */
int tl_fb_vector_table(const tl_fb *fb, const tl_fb_vec *v, uint32_t i, tl_fb_table *out);
/* A string field copied (truncated) into out; absent: "". */
int tl_fb_string(const tl_fb *fb, const tl_fb_table *t, int id, char *out, size_t out_size);

int32_t tl_fb_vec_i32(const tl_fb *fb, const tl_fb_vec *v, uint32_t i);
float tl_fb_vec_f32(const tl_fb *fb, const tl_fb_vec *v, uint32_t i);
int64_t tl_fb_vec_i64(const tl_fb *fb, const tl_fb_vec *v, uint32_t i);

#endif /* TL_FLATBUFFER_H */
