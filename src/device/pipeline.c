/* pipeline.c - layer-pipelined inference: run a model while it arrives.
 *
 * A device with a pending input need not wait for the whole model: the
 * writer lays the weights out in the order the operators read them, so
 * operator i can run as soon as the bytes it reads are in, while the radio
 * brings the rest. The first full answer then comes at about
 * max(download, compute) instead of their sum (the idea of SLIDE,
 * arXiv 2512.20946).
 *
 * Nothing runs unchecked: each operator passes the loader's own checks
 * against the bytes held before it runs (tl_model_check_op_prefix; a
 * convolution's first channels, against the per-channel constants held), the
 * file is hashed as it comes, and the answer counts only once the whole
 * file has passed tl_model_load's checks and its digest. The caller still
 * compares that digest with the signed manifest's before trusting it.
 */
#include <string.h>

#include "op.h"
#include "tinylarge/device.h"

/* Within an operator: a convolution or fully connected layer can run the
 * output channels whose filter rows are in (OHWI keeps a channel's rows
 * together, and the writer puts the per-channel constants first). How many
 * of operator `index`'s channels can run now, in fours as the kernel runs
 * them, or all of them: 0 unless its requantisation,
 * biases and fused-add constants are all held and its record passes its
 * checks as the file declares it (those checks read only records and those
 * held constants; the whole file is checked again at the end). */
static uint32_t channels_ready(tl_pipeline *p, uint32_t index)
{
    tl_model *m = &p->model;
    const tl_op_rec *op = &m->ops[index];
    const uint32_t count = m->header->tensor_count;
    if (op->opcode >= TL_OP_COUNT_ || op->input_count < 2 || op->inputs[0] >= count || op->inputs[1] >= count ||
        op->output >= count || !tl_conv_runs_by_channel(m, op)) {
        return 0;
    }
    const tl_tensor_rec *f = &m->tensors[op->inputs[1]];
    const uint64_t held = m->weights_size, channels = f->dims[0];
    if (channels == 0 || (uint64_t)op->requant + 8 * channels > held ||
        (op->bias != TL_NONE && (uint64_t)op->bias + 4 * channels > held) ||
        ((op->flags & TL_OP_FLAG_RESIDUAL) && (uint64_t)(uint32_t)op->p[0] + sizeof(tl_residual_add) > held)) {
        return 0;
    }
    m->weights_size = p->weights_total;
    const tl_status s = tl_model_check_op_prefix(m, index);
    m->weights_size = (uint32_t)held;
    if (s != TL_OK || f->data_offset >= held) {
        return 0;
    }
    const uint64_t rows = (held - f->data_offset) / (f->data_size / channels);
    return rows < channels ? (uint32_t)rows & ~3u : (uint32_t)channels; /* in fours, as the kernel runs them */
}

tl_status tl_pipeline_begin(tl_pipeline *p, const void *file, size_t received, void *arena, size_t arena_size)
{
    if (!p || !file) {
        return TL_ERR_ARG;
    }
    memset(p, 0, sizeof *p);
    tl_status s = tl_model_load_prefix(&p->model, file, received);
    if (s != TL_OK) {
        return s;
    }
    s = tl_interp_init(&p->interp, &p->model, arena, arena_size);
    if (s != TL_OK) {
        memset(p, 0, sizeof *p);
        return s;
    }
    const tl_file_header *h = p->model.header;
    const tl_section_rec *secs = (const tl_section_rec *)(const void *)(p->model.base + h->section_table);
    for (uint32_t i = 0; i < h->section_count; ++i) {
        p->weights_total = secs[i].kind == TL_SEC_WEIGHTS ? secs[i].size : p->weights_total;
    }
    tl_sha256_init(&p->hash);
    return TL_OK;
}

int8_t *tl_pipeline_input(tl_pipeline *p, uint32_t index, uint32_t *size)
{
    return p && p->model.header ? tl_interp_input(&p->interp, index, size) : NULL;
}

/* The whole file is in: the digest of what was hashed on the way must be
 * the trailer's, and the structure must pass the full loader. */
static tl_status verify(tl_pipeline *p)
{
    const uint8_t *base = p->model.base;
    const uint32_t size = p->model.size;
    uint8_t digest[32];
    tl_sha256_final(&p->hash, digest);
    const tl_trailer *trailer = (const tl_trailer *)(const void *)(base + size - sizeof(tl_trailer));
    tl_status s = memcmp(trailer->magic, TL_TRAILER_MAGIC, 4) != 0 ? TL_ERR_TRUNCATED
                  : memcmp(digest, trailer->sha256, 32) != 0   ? TL_ERR_DIGEST
                                                               : TL_OK;
    if (s == TL_OK) {
        /* Reloaded in place: the interpreter keeps pointing at p->model. */
        s = tl_model_load(&p->model, base, size, TL_LOAD_SKIP_DIGEST);
    }
    if (s != TL_OK) {
        memset(&p->model, 0, sizeof p->model);
        p->failed = 1;
        return s;
    }
    p->verified = 1;
    return TL_OK;
}

tl_status tl_pipeline_step(tl_pipeline *p, size_t received, uint32_t *ran)
{
    if (!p || !ran) {
        return TL_ERR_ARG;
    }
    *ran = 0;
    if (p->failed || !p->model.header) {
        return TL_ERR_STATE;
    }
    const uint32_t size = p->model.size;
    const uint32_t body = size - (uint32_t)sizeof(tl_trailer);
    const uint32_t held = received > size ? size : (uint32_t)received;
    if (held > p->hashed && p->hashed < body) {
        const uint32_t end = held < body ? held : body;
        tl_sha256_update(&p->hash, p->model.base + p->hashed, end - p->hashed);
        p->hashed = end;
    }
    if (!p->verified) {
        if (held == size) {
            const tl_status s = verify(p);
            if (s != TL_OK) {
                return s;
            }
        } else {
            /* The weight bytes held grow; the checks see only those. */
            const uint32_t at = (uint32_t)(p->model.weights - p->model.base);
            const uint32_t in = held < body ? held : body;
            const uint32_t have = in <= at ? 0 : (in - at < p->weights_total ? in - at : p->weights_total);
            p->model.weights_size = have > p->model.weights_size ? have : p->model.weights_size;
        }
    }
    tl_interp *it = &p->interp;
    if (it->next_op >= p->model.header->op_count) {
        return TL_OK;
    }
    const tl_op_rec *op = &p->model.ops[it->next_op];
    if (!p->verified && tl_model_check_op_prefix(&p->model, it->next_op) != TL_OK) {
        /* Its bytes are not all in yet (the whole file decides): run the
         * channels that are. */
        const uint32_t ready = channels_ready(p, it->next_op);
        if (ready > p->channels_done) {
            tl_conv_run_channels(it, op, p->channels_done, ready);
            p->channels_done = ready;
            *ran = 1;
        }
        return TL_OK;
    }
    *ran = 1;
    if (p->channels_done) {
        tl_conv_run_channels(it, op, p->channels_done, p->model.tensors[op->inputs[1]].dims[0]);
        p->channels_done = 0;
        ++it->next_op;
        return TL_OK;
    }
    return tl_interp_step(it);
}

int tl_pipeline_done(const tl_pipeline *p)
{
    return p && p->verified && p->model.header && p->interp.next_op >= p->model.header->op_count;
}

const int8_t *tl_pipeline_output(const tl_pipeline *p, uint32_t index, uint32_t *size)
{
    return tl_pipeline_done(p) ? tl_interp_output(&p->interp, index, size) : NULL;
}
