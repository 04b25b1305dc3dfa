/* tflite_builder.c - see tflite_builder.h. The model is first a tree of
 * nodes (tables, vectors, strings), then written depth first: a table with
 * its vtable just before it and placeholders for its children, then each
 * child after it, then the placeholders patched (offsets point forward).
 * Field numbers are those of TFLite's schema.fbs. */
#include <stdlib.h>
#include <string.h>

#include "tflite_builder.h"

enum { N_TABLE, N_BYTES, N_OFFSETS, N_STRING };

typedef struct node node;

typedef struct field {
    int id;
    char kind;      /* 'b' u8, 'i' i32, 'u' u32, 'f' f32, 'o' a child node */
    double value;
    node *child;
} field;

struct node {
    int type;
    field fields[16];
    int n_fields;
    uint8_t *bytes;  /* N_BYTES: the elements; N_STRING: the text */
    size_t len;      /* bytes */
    uint32_t count;  /* N_BYTES: elements */
    node *kids[64];
    int n_kids;
};

struct tfb {
    node *tensors[256];
    int n_tensors;
    node *buffers[256];
    int n_buffers;
    node *ops[128];
    int n_ops;
    int codes[64];
    int n_codes;
    node *all[4096];
    int n_all;
};

static node *new_node(tfb *b, int type)
{
    node *n = calloc(1, sizeof *n);
    n->type = type;
    b->all[b->n_all++] = n;
    return n;
}

static node *bytes_node(tfb *b, const void *data, uint32_t count, size_t elem)
{
    node *n = new_node(b, N_BYTES);
    n->len = count * elem;
    n->count = count;
    n->bytes = malloc(n->len ? n->len : 1);
    if (n->len) {
        memcpy(n->bytes, data, n->len);
    }
    return n;
}

static node *string_node(tfb *b, const char *s)
{
    node *n = new_node(b, N_STRING);
    n->len = strlen(s);
    n->bytes = malloc(n->len + 1);
    memcpy(n->bytes, s, n->len + 1);
    return n;
}

static void add_field(node *t, int id, char kind, double value, node *child)
{
    field *f = &t->fields[t->n_fields++];
    f->id = id;
    f->kind = kind;
    f->value = value;
    f->child = child;
}

tfb *tfb_new(void)
{
    tfb *b = calloc(1, sizeof *b);
    node *empty = new_node(b, N_TABLE); /* buffer 0: the empty one every model has */
    b->buffers[b->n_buffers++] = empty;
    return b;
}

void tfb_free(tfb *b)
{
    for (int i = 0; b && i < b->n_all; ++i) {
        free(b->all[i]->bytes);
        free(b->all[i]);
    }
    free(b);
}

int tfb_tensor(tfb *b, const char *name, int type, int rank, const int *shape, float scale, int64_t zero_point,
               const void *data, size_t data_size, int is_variable)
{
    node *t = new_node(b, N_TABLE);
    int32_t dims[8];
    for (int i = 0; i < rank; ++i) {
        dims[i] = shape[i];
    }
    add_field(t, 0, 'o', 0, bytes_node(b, dims, (uint32_t)rank, 4));
    add_field(t, 1, 'b', type, NULL);
    int buffer = 0;
    if (data) {
        node *buf = new_node(b, N_TABLE);
        add_field(buf, 0, 'o', 0, bytes_node(b, data, (uint32_t)data_size, 1));
        buffer = b->n_buffers;
        b->buffers[b->n_buffers++] = buf;
    }
    add_field(t, 2, 'u', buffer, NULL);
    add_field(t, 3, 'o', 0, string_node(b, name));
    if (scale > 0) {
        node *q = new_node(b, N_TABLE);
        add_field(q, 2, 'o', 0, bytes_node(b, &scale, 1, 4));
        add_field(q, 3, 'o', 0, bytes_node(b, &zero_point, 1, 8));
        add_field(t, 4, 'o', 0, q);
    }
    if (is_variable) {
        add_field(t, 5, 'b', 1, NULL);
    }
    b->tensors[b->n_tensors] = t;
    return b->n_tensors++;
}

void tfb_op(tfb *b, int builtin, const int *inputs, int n_in, const int *outputs, int n_out, int options_type,
            const tfb_opt *options)
{
    int code = 0;
    while (code < b->n_codes && b->codes[code] != builtin) {
        ++code;
    }
    if (code == b->n_codes) {
        b->codes[b->n_codes++] = builtin;
    }
    node *op = new_node(b, N_TABLE);
    int32_t v[32];
    add_field(op, 0, 'u', code, NULL);
    for (int i = 0; i < n_in; ++i) {
        v[i] = inputs[i];
    }
    add_field(op, 1, 'o', 0, bytes_node(b, v, (uint32_t)n_in, 4));
    for (int i = 0; i < n_out; ++i) {
        v[i] = outputs[i];
    }
    add_field(op, 2, 'o', 0, bytes_node(b, v, (uint32_t)n_out, 4));
    if (options) {
        node *opt = new_node(b, N_TABLE);
        for (const tfb_opt *o = options; o->kind; ++o) {
            add_field(opt, o->id, o->kind, o->value, NULL);
        }
        add_field(op, 3, 'b', options_type, NULL);
        add_field(op, 4, 'o', 0, opt);
    }
    b->ops[b->n_ops++] = op;
}

/* ---- writing ---- */

typedef struct out {
    uint8_t *buf;
    size_t size, cap;
} out;

static size_t reserve(out *o, size_t bytes, size_t align)
{
    while (o->size % align) {
        o->size++;
    }
    if (o->size + bytes > o->cap) {
        o->cap = (o->size + bytes) * 2 + 64;
        o->buf = realloc(o->buf, o->cap);
    }
    const size_t at = o->size;
    memset(o->buf + at, 0, bytes);
    o->size += bytes;
    return at;
}

static void put32(out *o, size_t at, uint32_t v)
{
    memcpy(o->buf + at, &v, 4);
}

static size_t write_node(out *o, node *n)
{
    if (n->type == N_BYTES || n->type == N_STRING) {
        const size_t at = reserve(o, 4 + n->len + (n->type == N_STRING), 4);
        put32(o, at, n->type == N_STRING ? (uint32_t)n->len : n->count);
        memcpy(o->buf + at + 4, n->bytes, n->len);
        return at;
    }
    if (n->type == N_OFFSETS) {
        const size_t at = reserve(o, 4 + 4 * (size_t)n->n_kids, 4);
        put32(o, at, (uint32_t)n->n_kids);
        for (int i = 0; i < n->n_kids; ++i) {
            const size_t slot = at + 4 + 4 * (size_t)i, child = write_node(o, n->kids[i]);
            put32(o, slot, (uint32_t)(child - slot));
        }
        return at;
    }
    int max_id = -1;
    for (int i = 0; i < n->n_fields; ++i) {
        max_id = n->fields[i].id > max_id ? n->fields[i].id : max_id;
    }
    const size_t vt_size = 4 + 2 * (size_t)(max_id + 1);
    const size_t vt = reserve(o, vt_size, 2);
    const size_t table = reserve(o, 4, 4);
    size_t slots[16];
    for (int i = 0; i < n->n_fields; ++i) {
        const field *f = &n->fields[i];
        const size_t bytes = f->kind == 'b' ? 1 : 4;
        slots[i] = reserve(o, bytes, bytes);
        if (f->kind == 'b') {
            o->buf[slots[i]] = (uint8_t)(int)f->value;
        } else if (f->kind == 'f') {
            const float v = (float)f->value;
            memcpy(o->buf + slots[i], &v, 4);
        } else if (f->kind != 'o') {
            put32(o, slots[i], (uint32_t)(int64_t)f->value);
        }
    }
    const size_t table_size = o->size - table;
    uint16_t head[2] = { (uint16_t)vt_size, (uint16_t)table_size };
    memcpy(o->buf + vt, head, 4);
    for (int i = 0; i < n->n_fields; ++i) {
        const uint16_t off = (uint16_t)(slots[i] - table);
        memcpy(o->buf + vt + 4 + 2 * (size_t)n->fields[i].id, &off, 2);
    }
    put32(o, table, (uint32_t)(table - vt));
    for (int i = 0; i < n->n_fields; ++i) {
        if (n->fields[i].kind == 'o') {
            const size_t child = write_node(o, n->fields[i].child);
            put32(o, slots[i], (uint32_t)(child - slots[i]));
        }
    }
    return table;
}

static node *offsets_node(tfb *b, node **kids, int n)
{
    node *v = new_node(b, N_OFFSETS);
    for (int i = 0; i < n; ++i) {
        v->kids[v->n_kids++] = kids[i];
    }
    return v;
}

uint8_t *tfb_finish(tfb *b, const int *inputs, int n_in, const int *outputs, int n_out, size_t *size)
{
    node *sg = new_node(b, N_TABLE);
    int32_t v[16];
    add_field(sg, 0, 'o', 0, offsets_node(b, b->tensors, b->n_tensors));
    for (int i = 0; i < n_in; ++i) {
        v[i] = inputs[i];
    }
    add_field(sg, 1, 'o', 0, bytes_node(b, v, (uint32_t)n_in, 4));
    for (int i = 0; i < n_out; ++i) {
        v[i] = outputs[i];
    }
    add_field(sg, 2, 'o', 0, bytes_node(b, v, (uint32_t)n_out, 4));
    add_field(sg, 3, 'o', 0, offsets_node(b, b->ops, b->n_ops));
    node *codes[64];
    for (int i = 0; i < b->n_codes; ++i) {
        codes[i] = new_node(b, N_TABLE);
        add_field(codes[i], 0, 'b', b->codes[i] < 127 ? b->codes[i] : 127, NULL);
        add_field(codes[i], 2, 'i', 1, NULL);
        add_field(codes[i], 3, 'i', b->codes[i], NULL);
    }
    node *model = new_node(b, N_TABLE);
    add_field(model, 0, 'u', 3, NULL);
    add_field(model, 1, 'o', 0, offsets_node(b, codes, b->n_codes));
    add_field(model, 2, 'o', 0, offsets_node(b, &sg, 1));
    add_field(model, 4, 'o', 0, offsets_node(b, b->buffers, b->n_buffers));
    out o = { NULL, 0, 0 };
    reserve(&o, 8, 4);
    memcpy(o.buf + 4, "TFL3", 4);
    const size_t root = write_node(&o, model);
    put32(&o, 0, (uint32_t)root);
    *size = o.size;
    return o.buf;
}
