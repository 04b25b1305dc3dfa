/* flatbuffer.c - bounds-checked FlatBuffers reading (see flatbuffer.h). */
#include <string.h>

#include "flatbuffer.h"

static int in_bounds(const tl_fb *fb, size_t pos, size_t len)
{
    return pos <= fb->size && len <= fb->size - pos;
}

static uint32_t rd32(const tl_fb *fb, size_t pos)
{
    uint32_t v;
    memcpy(&v, fb->buf + pos, 4);
    return v;
}

static uint16_t rd16(const tl_fb *fb, size_t pos)
{
    uint16_t v;
    memcpy(&v, fb->buf + pos, 2);
    return v;
}

static int table_at(const tl_fb *fb, size_t pos, tl_fb_table *t)
{
    if (!in_bounds(fb, pos, 4)) {
        return -1;
    }
    const int64_t vt = (int64_t)pos - (int32_t)rd32(fb, pos);
    if (vt < 0 || !in_bounds(fb, (size_t)vt, 4)) {
        return -1;
    }
    t->pos = pos;
    t->vtable = (size_t)vt;
    t->vt_size = rd16(fb, t->vtable);
    const uint16_t table_size = rd16(fb, t->vtable + 2);
    if (t->vt_size < 4 || t->vt_size % 2 != 0 || !in_bounds(fb, t->vtable, t->vt_size) ||
        !in_bounds(fb, pos, table_size)) {
        return -1;
    }
    return 0;
}

int tl_fb_root(const tl_fb *fb, tl_fb_table *root)
{
    if (!in_bounds(fb, 0, 8)) {
        return -1;
    }
    return table_at(fb, rd32(fb, 0), root);
}

size_t tl_fb_field(const tl_fb *fb, const tl_fb_table *t, int id)
{
    const size_t slot = 4 + 2 * (size_t)id;
    if (slot + 2 > t->vt_size) {
        return 0;
    }
    const uint16_t off = rd16(fb, t->vtable + slot);
    return off ? t->pos + off : 0;
}

static int scalar(const tl_fb *fb, const tl_fb_table *t, int id, size_t size, size_t *pos)
{
    *pos = tl_fb_field(fb, t, id);
    if (*pos && !in_bounds(fb, *pos, size)) {
        return -1;
    }
    return 0;
}

int tl_fb_u8(const tl_fb *fb, const tl_fb_table *t, int id, uint8_t def, uint8_t *out)
{
    size_t pos;
    if (scalar(fb, t, id, 1, &pos) != 0) {
        return -1;
    }
    *out = pos ? fb->buf[pos] : def;
    return 0;
}

int tl_fb_i32(const tl_fb *fb, const tl_fb_table *t, int id, int32_t def, int32_t *out)
{
    size_t pos;
    if (scalar(fb, t, id, 4, &pos) != 0) {
        return -1;
    }
    *out = pos ? (int32_t)rd32(fb, pos) : def;
    return 0;
}

int tl_fb_u32(const tl_fb *fb, const tl_fb_table *t, int id, uint32_t def, uint32_t *out)
{
    size_t pos;
    if (scalar(fb, t, id, 4, &pos) != 0) {
        return -1;
    }
    *out = pos ? rd32(fb, pos) : def;
    return 0;
}

int tl_fb_f32(const tl_fb *fb, const tl_fb_table *t, int id, float def, float *out)
{
    size_t pos;
    if (scalar(fb, t, id, 4, &pos) != 0) {
        return -1;
    }
    if (pos) {
        memcpy(out, fb->buf + pos, 4);
    } else {
        *out = def;
    }
    return 0;
}

/* Follows the uoffset stored at field `id`; 0 if absent. */
static int deref(const tl_fb *fb, const tl_fb_table *t, int id, size_t *target)
{
    size_t pos;
    if (scalar(fb, t, id, 4, &pos) != 0) {
        return -1;
    }
    if (!pos) {
        *target = 0;
        return 0;
    }
    *target = pos + rd32(fb, pos);
    return *target >= fb->size ? -1 : 0;
}

int tl_fb_vector(const tl_fb *fb, const tl_fb_table *t, int id, size_t elem_size, tl_fb_vec *out)
{
    size_t at;
    out->start = 0;
    out->length = 0;
    if (deref(fb, t, id, &at) != 0) {
        return -1;
    }
    if (!at) {
        return 0;
    }
    if (!in_bounds(fb, at, 4)) {
        return -1;
    }
    out->length = rd32(fb, at);
    out->start = at + 4;
    if (elem_size && (uint64_t)out->length * elem_size > fb->size) {
        return -1;
    }
    return in_bounds(fb, out->start, (size_t)out->length * elem_size) ? 0 : -1;
}

int tl_fb_table_field(const tl_fb *fb, const tl_fb_table *t, int id, tl_fb_table *out, int *present)
{
    size_t at;
    *present = 0;
    if (deref(fb, t, id, &at) != 0) {
        return -1;
    }
    if (!at) {
        return 0;
    }
    *present = 1;
    return table_at(fb, at, out);
}

int tl_fb_vector_table(const tl_fb *fb, const tl_fb_vec *v, uint32_t i, tl_fb_table *out)
{
    if (i >= v->length) {
        return -1;
    }
    const size_t slot = v->start + 4 * (size_t)i;
    return table_at(fb, slot + rd32(fb, slot), out);
}

int tl_fb_string(const tl_fb *fb, const tl_fb_table *t, int id, char *out, size_t out_size)
{
    tl_fb_vec v;
    out[0] = '\0';
    if (tl_fb_vector(fb, t, id, 1, &v) != 0) {
        return -1;
    }
    size_t n = v.length < out_size - 1 ? v.length : out_size - 1;
    memcpy(out, fb->buf + v.start, n);
    out[n] = '\0';
    return 0;
}

int32_t tl_fb_vec_i32(const tl_fb *fb, const tl_fb_vec *v, uint32_t i)
{
    return (int32_t)rd32(fb, v->start + 4 * (size_t)i);
}

float tl_fb_vec_f32(const tl_fb *fb, const tl_fb_vec *v, uint32_t i)
{
    float f;
    memcpy(&f, fb->buf + v->start + 4 * (size_t)i, 4);
    return f;
}

int64_t tl_fb_vec_i64(const tl_fb *fb, const tl_fb_vec *v, uint32_t i)
{
    int64_t x;
    memcpy(&x, fb->buf + v->start + 8 * (size_t)i, 8);
    return x;
}
