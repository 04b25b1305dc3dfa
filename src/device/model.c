/* model.c - load and validate a .tlm model in place.
 *
 * This is the device's only line of defence against a corrupt, truncated or
 * hostile model: every offset, size, count, shape, operator parameter and
 * quantisation constant is checked here, once, so that the interpreter and
 * kernels can run with no checks at all. Invariants established on success:
 *   - every record and array read later lies inside the buffer;
 *   - every activation tensor fits in the arena at its planned offset;
 *   - every operator's shapes agree, so kernels index within their tensors;
 *   - every accumulator fits in int32 and every shift is in range.
 * Arithmetic on untrusted values is done in 64 bits so it cannot wrap.
 */
#include <string.h>

#include "tinylarge/device.h"
#include "op.h"


typedef struct loader {
    tl_model *m;
    int32_t bad_op;
    int32_t bad_tensor;
} loader;

uint64_t tl_tensor_elements(const tl_tensor_rec *t)
{
    uint64_t n = 1;
    for (uint32_t i = 0; i < TL_MAX_RANK; ++i) {
        n *= t->dims[i];
    }
    return n;
}

/* Finds a section; fails on duplicates and on sections outside the body. */
static tl_status find_section(const tl_model *m, const tl_section_rec *secs,
                              uint32_t count, uint32_t kind, uint32_t body_end,
                              const tl_section_rec **out)
{
    *out = NULL;
    for (uint32_t i = 0; i < count; ++i) {
        if (secs[i].kind != kind) {
            continue;
        }
        if (*out) {
            return TL_ERR_FORMAT;
        }
        if (secs[i].offset % TL_ALIGN != 0 || secs[i].offset < m->header->header_size ||
            (uint64_t)secs[i].offset + secs[i].size > body_end) {
            return TL_ERR_BOUNDS;
        }
        *out = &secs[i];
    }
    return TL_OK;
}

static tl_status check_tensor(const tl_model *m, uint32_t index)
{
    const tl_tensor_rec *t = &m->tensors[index];
    if (t->rank < 1 || t->rank > TL_MAX_RANK) {
        return TL_ERR_SHAPE;
    }
    for (uint32_t i = 0; i < TL_MAX_RANK; ++i) {
        if (t->dims[i] < 1 || t->dims[i] > TL_MAX_DIM || (i >= t->rank && t->dims[i] != 1)) {
            return TL_ERR_SHAPE;
        }
    }
    const uint64_t n = tl_tensor_elements(t);
    if (n > 0x7FFFFFFFu) {
        return TL_ERR_SHAPE;
    }
    const int32_t zp_limit = t->dtype == TL_DTYPE_INT8 ? 128 : 32768;
    if (t->quant > TL_QUANT_PER_CHANNEL || t->zero_point < -zp_limit || t->zero_point >= zp_limit) {
        return TL_ERR_QUANT;
    }
    if (t->name != TL_NONE && t->name >= m->strings_size) {
        return TL_ERR_BOUNDS;
    }
    if (t->kind == TL_TENSOR_ACTIVATION || t->kind == TL_TENSOR_STATE) {
        const uint32_t bytes = tl_dtype_bytes(t->dtype);
        if (bytes == 0 || t->data_size != n * bytes) {
            return TL_ERR_FORMAT;
        }
        if (m->plan[index] == TL_NONE || m->plan[index] % bytes != 0 ||
            (uint64_t)m->plan[index] + t->data_size > m->header->arena_size) {
            return TL_ERR_ARENA;
        }
        return TL_OK;
    }
    if (t->kind != TL_TENSOR_CONST) {
        return TL_ERR_FORMAT;
    }
    if (m->plan[index] != TL_NONE || t->data_offset % 4 != 0 ||
        (uint64_t)t->data_offset + t->data_size > m->weights_size) {
        return TL_ERR_BOUNDS;
    }
    switch (t->dtype) {
    case TL_DTYPE_INT8:
        return t->data_size == n ? TL_OK : TL_ERR_FORMAT;
    case TL_DTYPE_INT16:
        return t->data_size == 2 * n ? TL_OK : TL_ERR_FORMAT;
    case TL_DTYPE_INT32:
        return t->data_size == 4 * n ? TL_OK : TL_ERR_FORMAT;
    case TL_DTYPE_INT64:
        return t->data_size == 8 * n && t->data_offset % 8 == 0 ? TL_OK : TL_ERR_FORMAT;
    case TL_DTYPE_INT4:
        return t->data_size == (n + 1) / 2 ? TL_OK : TL_ERR_FORMAT;
    case TL_DTYPE_SPARSE_INT8:
    case TL_DTYPE_BITMAP_INT8:
        return TL_OK; /* structure checked with its operator (check_sparse, check_bitmap) */
    default:
        return TL_ERR_UNSUPPORTED;
    }
}

const tl_tensor_rec *tl_op_tensor(const tl_model *m, uint16_t index)
{
    return index < m->header->tensor_count ? &m->tensors[index] : NULL;
}

int tl_op_is_activation(const tl_tensor_rec *t)
{
    return t && (t->kind == TL_TENSOR_ACTIVATION || t->kind == TL_TENSOR_STATE);
}

uint32_t tl_dtype_bytes(uint32_t dtype)
{
    switch (dtype) {
    case TL_DTYPE_INT8: return 1;
    case TL_DTYPE_INT16: return 2;
    case TL_DTYPE_INT32:
    case TL_DTYPE_FLOAT32: return 4;
    default: return 0;
    }
}

int tl_op_is_s8_activation(const tl_tensor_rec *t)
{
    return tl_op_is_activation(t) && t->dtype == TL_DTYPE_INT8;
}

tl_status tl_op_check_s8_output(const tl_model *m, const tl_op_rec *op)
{
    if (!tl_op_is_s8_activation(tl_op_tensor(m, op->output))) {
        return TL_ERR_FORMAT;
    }
    return op->act_min < -128 || op->act_max > 127 ? TL_ERR_QUANT : TL_OK;
}

tl_status tl_op_check_int32_array(const tl_model *m, uint32_t offset, uint64_t count)
{
    if (offset == TL_NONE || offset % 4 != 0 || (uint64_t)offset + 4 * count > m->weights_size) {
        return TL_ERR_BOUNDS;
    }
    return TL_OK;
}

int tl_op_valid_multiplier(int32_t multiplier, int32_t shift)
{
    return multiplier >= 0 && shift >= -31 && shift <= 30;
}

/* |bias| + dot * 128 * 128 must stay below 2^31 so the int32 accumulator
 * cannot overflow. */
tl_status tl_op_check_requant(const tl_model *m, const tl_op_rec *op, uint32_t channels, uint64_t dot)
{
    tl_status s = tl_op_check_int32_array(m, op->requant, 2ull * channels);
    if (s == TL_OK) {
        s = tl_op_check_int32_array(m, op->bias, channels);
    }
    if (s != TL_OK) {
        return s;
    }
    const int32_t *mult = (const int32_t *)(const void *)(m->weights + op->requant);
    const int32_t *shift = mult + channels;
    const int32_t *bias = (const int32_t *)(const void *)(m->weights + op->bias);
    const int64_t max_bias = INT32_MAX - (int64_t)dot * 128 * 128;
    for (uint32_t c = 0; c < channels; ++c) {
        if (!tl_op_valid_multiplier(mult[c], shift[c]) || bias[c] < -max_bias || bias[c] > max_bias) {
            return TL_ERR_QUANT;
        }
    }
    return TL_OK;
}

/* Every window must overlap the image, and padding may not exceed the
 * window span. */
tl_status tl_op_check_window(uint32_t in, uint32_t out, uint32_t k, uint32_t stride, uint32_t dilation,
                             int32_t pad)
{
    if (k < 1 || stride < 1 || dilation < 1 || pad < 0) {
        return TL_ERR_FORMAT;
    }
    const int64_t span = (int64_t)(k - 1) * dilation;
    if (pad > span || (int64_t)(out - 1) * stride - pad > (int64_t)in - 1) {
        return TL_ERR_SHAPE;
    }
    return TL_OK;
}

/* int8: offsets in int8 range, left shift <= 20 (so an input shifted left
 * stays below 2^28); int16 (wide): no offsets, left shift <= 15 (2^30);
 * multipliers >= 0 and right shifts only. */
tl_status tl_op_check_add_quant(const tl_residual_add *q, int wide)
{
    const int32_t lo = wide ? -32768 : -128, hi = wide ? 32767 : 127;
    if ((wide ? (q->input1_offset != 0 || q->input2_offset != 0 || q->output_offset != 0 || q->left_shift > 15)
              : (q->input1_offset < -127 || q->input1_offset > 128 || q->input2_offset < -127 ||
                 q->input2_offset > 128 || q->output_offset < -128 || q->output_offset > 127 || q->left_shift > 20)) ||
        q->left_shift < 0 || q->act_min < lo || q->act_max > hi ||
        q->act_min > q->act_max || q->conv_is_input1 < 0 || q->conv_is_input1 > 1) {
        return TL_ERR_QUANT;
    }
    const int32_t pairs[3][2] = { { q->input1_multiplier, q->input1_shift },
                                  { q->input2_multiplier, q->input2_shift },
                                  { q->output_multiplier, q->output_shift } };
    for (int i = 0; i < 3; ++i) {
        if (pairs[i][0] < 0 || pairs[i][1] < -31 || pairs[i][1] > 0) {
            return TL_ERR_QUANT;
        }
    }
    return TL_OK;
}

int tl_op_works_in_place(const tl_op_rec *op, uint32_t k)
{
    if (op->opcode == TL_OP_RESHAPE || op->opcode == TL_OP_ADD || op->opcode == TL_OP_SOFTMAX) {
        return 1;
    }
    return op->opcode == TL_OP_CONV_2D && (op->flags & TL_OP_FLAG_RESIDUAL) && k == 2 &&
           op->inputs[0] != op->inputs[2];
}

/* An output overlapping an input it does not work in place over would read
 * what it has just written (and overlapping copies are undefined in C). */
static tl_status check_aliasing(const tl_model *m, const tl_op_rec *op)
{
    const uint32_t out_at = m->plan[op->output], out_end = out_at + m->tensors[op->output].data_size;
    for (uint32_t k = 0; k < op->input_count; ++k) {
        const tl_tensor_rec *in = &m->tensors[op->inputs[k]];
        if (!tl_op_is_activation(in)) {
            continue;
        }
        const uint32_t at = m->plan[op->inputs[k]], end = at + in->data_size;
        const int same = at == out_at && end == out_end && in->dtype == m->tensors[op->output].dtype;
        if (at < out_end && out_at < end && !(same && tl_op_works_in_place(op, k))) {
            return TL_ERR_ARENA;
        }
    }
    return TL_OK;
}

/* What every operator shares (an activation output, inputs that exist, a
 * clamp in order, flags it knows, no output over an input), then the
 * operator's own checks. */
static tl_status check_op(const tl_model *m, uint32_t index)
{
    const tl_op_rec *op = &m->ops[index];
    if (op->opcode >= TL_OP_COUNT_ || !tl_op_table[op->opcode]) {
        return TL_ERR_UNSUPPORTED;
    }
    const tl_op_kind *kind = tl_op_table[op->opcode];
    if (!tl_op_is_activation(tl_op_tensor(m, op->output))) {
        return TL_ERR_FORMAT;
    }
    if (op->input_count < 1 || op->input_count > 3) {
        return TL_ERR_FORMAT;
    }
    for (uint32_t i = 0; i < op->input_count; ++i) {
        if (!tl_op_tensor(m, op->inputs[i])) {
            return TL_ERR_BOUNDS;
        }
    }
    if (op->act_min > op->act_max) {
        return TL_ERR_QUANT;
    }
    if (op->flags & ~TL_OP_FLAG_RESIDUAL) {
        return TL_ERR_FORMAT; /* a flag the format does not define */
    }
    if (op->flags & ~kind->flags_allowed) {
        return TL_ERR_UNSUPPORTED;
    }
    const tl_status s = check_aliasing(m, op);
    return s != TL_OK ? s : kind->check(m, op);
}

static tl_status check_exits(const tl_model *m)
{
    uint32_t previous_end = 0;
    for (uint32_t i = 0; i < m->header->exit_count; ++i) {
        const tl_exit_rec *e = &m->exits[i];
        const tl_tensor_rec *out = tl_op_tensor(m, e->output);
        if (!tl_op_is_activation(out) || (e->kind == TL_EXIT_PROBS && out->dtype != TL_DTYPE_INT8) ||
            e->op_end > m->header->op_count ||
            e->op_end < previous_end || e->kind > TL_EXIT_PROBS ||
            e->prob_zero_point < -128 || e->prob_zero_point > 127 ||
            e->prob_scale_q24 > (1u << 24)) {
            return TL_ERR_FORMAT;
        }
        previous_end = e->op_end;
    }
    return TL_OK;
}

static tl_status map_sections(tl_model *m)
{
    const tl_file_header *h = m->header;
    const uint32_t body_end = m->size - (uint32_t)sizeof(tl_trailer);
    if (h->section_count > TL_MAX_SECTIONS || h->section_table % 4 != 0 ||
        h->section_table < h->header_size ||
        (uint64_t)h->section_table + (uint64_t)h->section_count * sizeof(tl_section_rec) > body_end) {
        return TL_ERR_BOUNDS;
    }
    const tl_section_rec *secs = (const tl_section_rec *)(const void *)(m->base + h->section_table);
    const tl_section_rec *s[TL_SEC_STRINGS + 1];
    for (uint32_t kind = TL_SEC_TENSORS; kind <= TL_SEC_STRINGS; ++kind) {
        tl_status st = find_section(m, secs, h->section_count, kind, body_end, &s[kind]);
        if (st != TL_OK) {
            return st;
        }
    }
    for (uint32_t i = 0; i < h->section_count; ++i) {
        if (secs[i].kind < TL_SEC_TENSORS || secs[i].kind > TL_SEC_STRINGS) {
            return TL_ERR_FORMAT; /* unknown section in a known major version */
        }
    }
    if (!s[TL_SEC_TENSORS] || !s[TL_SEC_OPS] || !s[TL_SEC_IO] || !s[TL_SEC_WEIGHTS] ||
        !s[TL_SEC_PLAN]) {
        return TL_ERR_FORMAT;
    }
    const uint64_t io_count = (uint64_t)h->input_count + h->output_count;
    if (h->tensor_count == 0 || h->tensor_count >= TL_NO_TENSOR || h->op_count == 0 ||
        h->input_count == 0 || h->output_count == 0 ||
        s[TL_SEC_TENSORS]->size != (uint64_t)h->tensor_count * sizeof(tl_tensor_rec) ||
        s[TL_SEC_OPS]->size != (uint64_t)h->op_count * sizeof(tl_op_rec) ||
        s[TL_SEC_IO]->size != io_count * 2 ||
        s[TL_SEC_PLAN]->size != (uint64_t)h->tensor_count * 4) {
        return TL_ERR_FORMAT;
    }
    if (h->exit_count && (!s[TL_SEC_EXITS] ||
                          s[TL_SEC_EXITS]->size != (uint64_t)h->exit_count * sizeof(tl_exit_rec))) {
        return TL_ERR_FORMAT;
    }
    m->tensors = (const tl_tensor_rec *)(const void *)(m->base + s[TL_SEC_TENSORS]->offset);
    m->ops = (const tl_op_rec *)(const void *)(m->base + s[TL_SEC_OPS]->offset);
    m->io = (const uint16_t *)(const void *)(m->base + s[TL_SEC_IO]->offset);
    m->exits = h->exit_count ? (const tl_exit_rec *)(const void *)(m->base + s[TL_SEC_EXITS]->offset) : NULL;
    m->weights = m->base + s[TL_SEC_WEIGHTS]->offset;
    m->weights_size = s[TL_SEC_WEIGHTS]->size;
    m->plan = (const uint32_t *)(const void *)(m->base + s[TL_SEC_PLAN]->offset);
    if (s[TL_SEC_META]) {
        m->meta = (const char *)(m->base + s[TL_SEC_META]->offset);
        m->meta_size = s[TL_SEC_META]->size;
        if (m->meta_size && m->meta[m->meta_size - 1] != '\0') {
            return TL_ERR_FORMAT;
        }
    }
    if (s[TL_SEC_STRINGS]) {
        m->strings = (const char *)(m->base + s[TL_SEC_STRINGS]->offset);
        m->strings_size = s[TL_SEC_STRINGS]->size;
        if (m->strings_size && m->strings[m->strings_size - 1] != '\0') {
            return TL_ERR_FORMAT;
        }
    }
    return TL_OK;
}

/* The header's own fields, the same for a whole file and one arriving:
 * points the model at the buffer. */
static tl_status check_header(tl_model *m, const void *data)
{
    m->base = (const uint8_t *)data;
    m->header = (const tl_file_header *)data;
    const tl_file_header *h = m->header;
    if (memcmp(h->magic, TL_MAGIC, 4) != 0) {
        return TL_ERR_MAGIC;
    }
    if (h->version_major != TL_FORMAT_MAJOR) {
        return TL_ERR_VERSION;
    }
    if (h->header_size != sizeof(tl_file_header) || h->file_size < h->header_size + sizeof(tl_trailer)) {
        return TL_ERR_FORMAT;
    }
    if (h->arena_size > TL_MAX_ARENA_BYTES) {
        return TL_ERR_ARENA;
    }
    return TL_OK;
}

/* The records once the sections are mapped: tensors, model inputs and
 * outputs, operators, exits. A file still arriving (`whole` 0) leaves its
 * constants and operators to tl_model_check_op_prefix. */
static tl_status check_tables(loader *ld, int whole)
{
    const tl_model *m = ld->m;
    const tl_file_header *h = m->header;
    tl_status s;
    for (uint32_t t = 0; t < h->tensor_count; ++t) {
        s = whole || m->tensors[t].kind != TL_TENSOR_CONST ? check_tensor(m, t) : TL_OK;
        if (s != TL_OK) {
            ld->bad_tensor = (int32_t)t;
            return s;
        }
    }
    for (uint32_t i = 0; i < h->input_count + h->output_count; ++i) {
        if (!tl_op_is_activation(tl_op_tensor(m, m->io[i]))) {
            return TL_ERR_FORMAT;
        }
    }
    for (uint32_t i = 0; whole && i < h->op_count; ++i) {
        s = check_op(m, i);
        if (s != TL_OK) {
            ld->bad_op = (int32_t)i;
            return s;
        }
    }
    return check_exits(m);
}

static tl_status load(loader *ld, const void *data, size_t size, unsigned flags)
{
    tl_model *m = ld->m;
    if ((uintptr_t)data % 4 != 0) {
        return TL_ERR_ARG;
    }
    if (size < sizeof(tl_file_header) + sizeof(tl_trailer)) {
        return TL_ERR_TRUNCATED;
    }
    tl_status s = check_header(m, data);
    if (s != TL_OK) {
        return s;
    }
    if (m->header->file_size > size) {
        return TL_ERR_TRUNCATED;
    }
    m->size = m->header->file_size;
    m->trailer = (const tl_trailer *)(const void *)(m->base + m->size - sizeof(tl_trailer));
    if (m->size % 4 != 0 || memcmp(m->trailer->magic, TL_TRAILER_MAGIC, 4) != 0) {
        return TL_ERR_TRUNCATED;
    }
    if (!(flags & TL_LOAD_SKIP_DIGEST)) {
        uint8_t digest[32];
        tl_sha256 ctx;
        tl_sha256_init(&ctx);
        tl_sha256_update(&ctx, m->base, m->size - sizeof(tl_trailer));
        tl_sha256_final(&ctx, digest);
        if (memcmp(digest, m->trailer->sha256, 32) != 0) {
            return TL_ERR_DIGEST;
        }
    }
    s = map_sections(m);
    return s != TL_OK ? s : check_tables(ld, 1);
}

/* A file still arriving in order: its header, section table and every
 * section but WEIGHTS must be held; its activation tensors, inputs,
 * outputs and exits are checked now, its constants and operators one by one
 * as their bytes come (tl_model_check_op_prefix). weights_size counts the
 * weight bytes held. No trailer yet, so no digest. */
tl_status tl_model_load_prefix(tl_model *model, const void *data, size_t received)
{
    if (!model || !data || (uintptr_t)data % 4 != 0) {
        return TL_ERR_ARG;
    }
    memset(model, 0, sizeof *model);
    if (received < sizeof(tl_file_header)) {
        return TL_ERR_TRUNCATED;
    }
    loader ld = { model, -1, -1 };
    tl_model *m = model;
    tl_status s = check_header(m, data);
    const tl_file_header *h = m->header;
    if (s == TL_OK && (h->file_size % 4 != 0 || h->section_count > TL_MAX_SECTIONS)) {
        s = TL_ERR_FORMAT;
    } else if (s == TL_OK && (h->section_table % 4 != 0 || h->section_table < h->header_size)) {
        s = TL_ERR_BOUNDS; /* as map_sections says, before the table is read */
    } else if (s == TL_OK &&
               (uint64_t)h->section_table + (uint64_t)h->section_count * sizeof(tl_section_rec) > received) {
        s = TL_ERR_TRUNCATED;
    }
    if (s == TL_OK) {
        const tl_section_rec *secs = (const tl_section_rec *)(const void *)(m->base + h->section_table);
        for (uint32_t i = 0; i < h->section_count && s == TL_OK; ++i) {
            if (secs[i].kind != TL_SEC_WEIGHTS && (uint64_t)secs[i].offset + secs[i].size > received) {
                s = TL_ERR_TRUNCATED;
            }
        }
    }
    if (s == TL_OK) {
        m->size = h->file_size;
        s = map_sections(m);
    }
    if (s == TL_OK) {
        const uint32_t at = (uint32_t)(m->weights - m->base);
        const size_t held = received > m->size - sizeof(tl_trailer) ? m->size - sizeof(tl_trailer) : received;
        m->weights_size = held <= at ? 0 : (held - at < m->weights_size ? (uint32_t)(held - at) : m->weights_size);
        s = check_tables(&ld, 0);
    }
    if (s != TL_OK) {
        memset(model, 0, sizeof *model);
    }
    return s;
}

/* Operator `index` of a prefix: its constant inputs and its own record
 * checked against the weight bytes held, as the whole-file loader does. A
 * bound failure may only mean that its bytes are not all in yet. */
tl_status tl_model_check_op_prefix(const tl_model *model, uint32_t index)
{
    if (!model || !model->header || index >= model->header->op_count) {
        return TL_ERR_ARG;
    }
    const tl_op_rec *op = &model->ops[index];
    for (uint32_t i = 0; i < op->input_count && i < 3; ++i) {
        const tl_tensor_rec *t = tl_op_tensor(model, op->inputs[i]);
        if (t && t->kind == TL_TENSOR_CONST) {
            const tl_status s = check_tensor(model, op->inputs[i]);
            if (s != TL_OK) {
                return s;
            }
        }
    }
    return check_op(model, index);
}

tl_status tl_model_load_ex(tl_model *model, const void *data, size_t size, unsigned flags,
                           int32_t *bad_op, int32_t *bad_tensor)
{
    if (!model || !data) {
        return TL_ERR_ARG;
    }
    memset(model, 0, sizeof *model);
    loader ld = { model, -1, -1 };
    tl_status s = load(&ld, data, size, flags);
    if (s != TL_OK) {
        memset(model, 0, sizeof *model);
    }
    if (bad_op) {
        *bad_op = ld.bad_op;
    }
    if (bad_tensor) {
        *bad_tensor = ld.bad_tensor;
    }
    return s;
}

tl_status tl_model_load(tl_model *model, const void *data, size_t size, unsigned flags)
{
    return tl_model_load_ex(model, data, size, flags, NULL, NULL);
}

uint32_t tl_model_arena_size(const tl_model *model)
{
    return model && model->header ? model->header->arena_size : 0;
}

const char *tl_model_meta(const tl_model *model, const char *key)
{
    if (!model || !model->meta || !key) {
        return NULL;
    }
    const char *p = model->meta;
    const char *end = model->meta + model->meta_size;
    while (p < end) {
        const char *value = p + strlen(p) + 1;
        if (value >= end) {
            return NULL;
        }
        if (strcmp(p, key) == 0) {
            return value;
        }
        p = value + strlen(value) + 1;
    }
    return NULL;
}

const char *tl_model_tensor_name(const tl_model *model, uint32_t index)
{
    if (!model || !model->header || index >= model->header->tensor_count ||
        model->tensors[index].name == TL_NONE || !model->strings) {
        return "";
    }
    return model->strings + model->tensors[index].name;
}

const tl_tensor_rec *tl_model_io_tensor(const tl_model *model, uint32_t index)
{
    if (!model || !model->header || index >= model->header->input_count + model->header->output_count) {
        return NULL;
    }
    return &model->tensors[model->io[index]];
}

const char *tl_opcode_name(uint32_t opcode)
{
    return opcode < TL_OP_COUNT_ && tl_op_table[opcode] ? tl_op_table[opcode]->name : "?";
}

uint64_t tl_op_macs(const tl_model *model, uint32_t op_index)
{
    if (!model || !model->header || op_index >= model->header->op_count) {
        return 0;
    }
    const tl_op_rec *op = &model->ops[op_index];
    const tl_tensor_rec *out = &model->tensors[op->output];
    switch (op->opcode) {
    case TL_OP_CONV_2D:
    case TL_OP_FULLY_CONNECTED: {
        const tl_tensor_rec *f = &model->tensors[op->inputs[1]];
        const uint64_t out_c = f->dims[0];
        const uint64_t pixels = tl_tensor_elements(out) / out_c;
        if (f->dtype == TL_DTYPE_SPARSE_INT8 || f->dtype == TL_DTYPE_BITMAP_INT8) {
            const uint32_t *words = (const uint32_t *)(const void *)(model->weights + f->data_offset);
            return pixels * words[0];
        }
        return tl_tensor_elements(out) * (tl_tensor_elements(f) / out_c);
    }
    case TL_OP_DEPTHWISE_CONV_2D: {
        const tl_tensor_rec *f = &model->tensors[op->inputs[1]];
        return tl_tensor_elements(out) * f->dims[1] * f->dims[2];
    }
    case TL_OP_SVDF: { /* each filter: a feature dot product and a time one */
        const tl_tensor_rec *in = &model->tensors[op->inputs[0]];
        const uint64_t filters = (uint64_t)out->dims[1] * (uint32_t)op->p[TL_SVDF_RANK];
        return in->dims[0] * filters * (in->dims[1] + (uint32_t)op->p[TL_SVDF_MEMORY]);
    }
    default:
        return 0;
    }
}

/* The filter's shape as the sparse encodings see it: out_c, taps (k_h * k_w,
 * 1 for a dense layer) and in_c, from OHWI or [O, K]. */
static void filter_geometry(const tl_tensor_rec *f, uint32_t *out_c, uint32_t *taps, uint32_t *in_c)
{
    *out_c = f->dims[0];
    *taps = f->rank == 4 ? f->dims[1] * f->dims[2] : 1u;
    *in_c = f->rank == 4 ? f->dims[3] : f->dims[1];
}

tl_status tl_filter_values_of(const tl_model *model, uint32_t tensor, int depthwise, tl_filter_values *v)
{
    if (!model || !model->header || !v || tensor >= model->header->tensor_count) {
        return TL_ERR_ARG;
    }
    const tl_tensor_rec *f = &model->tensors[tensor];
    if (f->kind != TL_TENSOR_CONST || (f->rank != 4 && f->rank != 2)) {
        return TL_ERR_UNSUPPORTED;
    }
    uint32_t out_c, taps, in_c;
    filter_geometry(f, &out_c, &taps, &in_c);
    const uint32_t *words = (const uint32_t *)(const void *)(model->weights + f->data_offset);
    v->channels = depthwise ? f->dims[3] : out_c;
    switch (f->dtype) {
    case TL_DTYPE_INT8:
        v->offset = 0;
        v->count = f->data_size;
        return TL_OK;
    case TL_DTYPE_SPARSE_INT8: /* nnz, row_start[rows + 1], channel[nnz], value[nnz] */
        v->count = words[0];
        v->offset = 4u + 4u * (out_c * taps + 1u) + 2u * words[0];
        return depthwise ? TL_ERR_UNSUPPORTED : TL_OK;
    case TL_DTYPE_BITMAP_INT8: /* nnz, oc_start[out_c + 1], bitmap[rows][row bytes], value[nnz] */
        v->count = words[0];
        v->offset = 4u + 4u * (out_c + 1u) + out_c * taps * ((in_c + 7u) / 8u);
        return depthwise ? TL_ERR_UNSUPPORTED : TL_OK;
    default:
        return TL_ERR_UNSUPPORTED;
    }
}

int32_t tl_filter_channel_sum(const tl_model *model, uint32_t tensor, int depthwise, uint32_t channel)
{
    tl_filter_values v;
    if (tl_filter_values_of(model, tensor, depthwise, &v) != TL_OK || channel >= v.channels) {
        return 0;
    }
    const tl_tensor_rec *f = &model->tensors[tensor];
    const int8_t *w = (const int8_t *)(model->weights + f->data_offset + v.offset);
    const uint32_t *words = (const uint32_t *)(const void *)(model->weights + f->data_offset);
    uint32_t out_c, taps, in_c, first, count, stride = 1;
    filter_geometry(f, &out_c, &taps, &in_c);
    if (f->dtype == TL_DTYPE_SPARSE_INT8) { /* rows (oc * taps) .. ((oc + 1) * taps) */
        first = words[1 + channel * taps];
        count = words[1 + (channel + 1) * taps] - first;
    } else if (f->dtype == TL_DTYPE_BITMAP_INT8) {
        first = words[1 + channel];
        count = words[2 + channel] - first;
    } else if (depthwise) { /* 1HWC: channel c every out_c bytes */
        first = channel;
        count = v.count / v.channels;
        stride = v.channels;
    } else {
        count = v.count / v.channels;
        first = channel * count;
    }
    int32_t sum = 0;
    for (uint32_t k = 0; k < count; ++k) {
        sum += w[first + (size_t)k * stride];
    }
    return sum;
}
