/* update.c - the device's update state machine (update.h): signed manifest
 * in, blocks in any order, a verified model installed into the slot that is
 * not running.
 *
 * Invariants:
 * - The running slot is never written. A download goes to the other slot
 *   (a whole .tlm) or to staging (a .tlp stream, decoded into the other
 *   slot at the end); only a model that loads, whose digest is the
 *   manifest's, becomes active, and only by saving a record that says so.
 * - The record names the download in progress by its whole envelope, so a
 *   resumed download is the same signed model, block for block; blocks
 *   received since the last save are fetched again (rewriting the same
 *   bytes, which flash allows).
 * - Rollback: a name's sequence number never goes down. Names are signed,
 *   so a relabelled old model is refused by its signature, not here.
 */
#include <string.h>

#include "tinylarge/device.h"
#include "tinylarge/update.h"

const char *tl_update_reason_str(tl_update_reason reason)
{
    switch (reason) {
    case TL_REASON_NONE: return "none";
    case TL_REASON_UNSIGNED: return "the manifest is not signed and this device requires a signature";
    case TL_REASON_BAD_SIGNATURE: return "the manifest's signature does not hold under this device's key";
    case TL_REASON_MALFORMED: return "the manifest is malformed";
    case TL_REASON_WRONG_TARGET: return "the model is built for another class of device";
    case TL_REASON_ROLLBACK: return "older than a version this device already ran (rollback)";
    case TL_REASON_TOO_LARGE: return "the model does not fit this device's slots";
    case TL_REASON_NO_PROGRESSIVE: return "no progressive form to receive (or no RAM to decode it)";
    case TL_REASON_BAD_BLOCK: return "a block of the wrong number or size";
    case TL_REASON_BAD_STREAM_HEADER: return "the stream's header is not the one the manifest signs";
    case TL_REASON_BAD_MODEL: return "the download is not the model the manifest names";
    case TL_REASON_FLASH: return "the device's flash or record storage failed";
    }
    return "unknown reason";
}

/* ---- the record ---- */

static void record_digest(const tl_update_record *r, uint8_t out[32])
{
    tl_sha256 ctx;
    tl_sha256_init(&ctx);
    tl_sha256_update(&ctx, r, offsetof(tl_update_record, check));
    tl_sha256_final(&ctx, out);
}

int tl_update_record_valid(const tl_update_record *r)
{
    uint8_t digest[32];
    if (!r || memcmp(r->magic, TL_UPDATE_RECORD_MAGIC, 4) != 0 || r->format != TL_UPDATE_RECORD_FORMAT) {
        return 0;
    }
    record_digest(r, digest);
    return memcmp(digest, r->check, 32) == 0;
}

static tl_status fail(tl_update *u, tl_update_reason reason, tl_status status)
{
    u->reason = reason;
    return status;
}

static tl_status save(tl_update *u)
{
    u->record.counter++;
    record_digest(&u->record, u->record.check);
    u->unsaved = 0;
    return u->io.save(u->io.user, &u->record) == TL_OK ? TL_OK : fail(u, TL_REASON_FLASH, TL_ERR_IO);
}

static void drop_download(tl_update *u)
{
    u->record.envelope_size = 0;
    u->record.progressive = 0;
    u->record.received = 0;
    memset(u->record.envelope, 0, sizeof u->record.envelope);
    memset(u->record.blocks, 0, sizeof u->record.blocks);
    memset(&u->manifest, 0, sizeof u->manifest);
    u->blocks = 0;
    u->held = 0;
    u->planes_run = 0;
}

static uint64_t highest_sequence(const tl_update_record *r, const char *model)
{
    for (uint32_t i = 0; i < TL_UPDATE_NAMES; ++i) {
        if (r->highest[i].model[0] && strcmp(r->highest[i].model, model) == 0) {
            return r->highest[i].sequence;
        }
    }
    return 0;
}

/* The entry for `model`, else an empty one, else the one raised longest ago. */
static void raise_highest(tl_update_record *r, const char *model, uint64_t sequence)
{
    uint32_t pick = 0;
    for (uint32_t i = 0; i < TL_UPDATE_NAMES; ++i) {
        if (r->highest[i].model[0] && strcmp(r->highest[i].model, model) == 0) {
            pick = i;
            break;
        }
        if (!r->highest[i].model[0] ||
            (r->highest[pick].model[0] && r->highest[i].last_used < r->highest[pick].last_used)) {
            pick = i;
        }
    }
    if (strcmp(r->highest[pick].model, model) != 0) {
        memset(&r->highest[pick], 0, sizeof r->highest[pick]);
        memcpy(r->highest[pick].model, model, strlen(model) + 1); /* checked at most 63 by the manifest */
    }
    if (sequence > r->highest[pick].sequence) {
        r->highest[pick].sequence = sequence;
    }
    r->highest[pick].last_used = r->counter + 1;
}

/* ---- the download ---- */

static uint32_t download_bytes(const tl_update *u)
{
    return u->record.progressive ? u->manifest.stream_size : u->manifest.size;
}

static tl_update_region inactive_slot(const tl_update *u)
{
    return u->record.active == TL_REGION_SLOT_A ? TL_REGION_SLOT_B : TL_REGION_SLOT_A;
}

static tl_update_region download_region(const tl_update *u)
{
    return u->record.progressive ? TL_REGION_STAGING : inactive_slot(u);
}

static int has_block(const tl_update *u, uint32_t i)
{
    return (u->record.blocks[i >> 3] >> (i & 7)) & 1;
}

static uint32_t blocks_of(uint32_t bytes)
{
    return (uint32_t)(((uint64_t)bytes + TL_UPDATE_BLOCK_BYTES - 1) / TL_UPDATE_BLOCK_BYTES);
}

/* Raises the mark below which every block is held: blocks mostly arrive in
 * order, so finding the next one wanted costs nothing per block instead of
 * a scan from block 0 (a square of the block count over a download). */
static void raise_held(tl_update *u)
{
    while (u->held < u->blocks && has_block(u, u->held)) {
        ++u->held;
    }
}

/* Whether a manifest fits this device (target, size, form); the reason if not. */
static tl_update_reason unfit(const tl_update *u, const tl_signed_manifest *m, int progressive)
{
    if (strcmp(m->target, TL_MANIFEST_ANY_TARGET) != 0 && (!u->config.target || strcmp(m->target, u->config.target))) {
        return TL_REASON_WRONG_TARGET;
    }
    if (progressive && (m->stream_size < sizeof(tl_progressive_header) || !u->config.work ||
                        u->config.work_size < m->size)) {
        return TL_REASON_NO_PROGRESSIVE;
    }
    const uint32_t bytes = progressive ? m->stream_size : m->size;
    const uint32_t blocks = blocks_of(bytes);
    const tl_update_region slot = inactive_slot(u);
    if (m->size > u->io.region_size[slot] || blocks > TL_UPDATE_MAX_BLOCKS ||
        (progressive && bytes > u->io.region_size[TL_REGION_STAGING])) {
        return TL_REASON_TOO_LARGE;
    }
    return TL_REASON_NONE;
}

/* Opens a manifest under this device's policy: a key, or an explicit
 * choice to run unsigned models. */
static tl_status open_manifest(tl_update *u, const uint8_t *envelope, size_t size, tl_signed_manifest *m)
{
    if (!u->config.public_key && !u->config.allow_unsigned) {
        return fail(u, TL_REASON_UNSIGNED, TL_ERR_SIGNATURE); /* no key and not insecure: nothing is taken */
    }
    const tl_status s = tl_manifest_open(envelope, size, u->config.public_key, m);
    if (s == TL_ERR_SIGNATURE) {
        return fail(u, m->has_signature ? TL_REASON_BAD_SIGNATURE : TL_REASON_UNSIGNED, s);
    }
    return s == TL_OK ? TL_OK : fail(u, TL_REASON_MALFORMED, s);
}

tl_status tl_update_start(tl_update *u, const tl_update_config *config, const tl_update_io *io,
                          const tl_update_record *saved)
{
    if (!u || !config || !io || !io->erase || !io->write || !io->map || !io->save) {
        return TL_ERR_ARG;
    }
    memset(u, 0, sizeof *u);
    u->config = *config;
    u->io = *io;
    if (!u->config.first_planes) {
        u->config.first_planes = 4;
    }
    if (!u->config.save_every) {
        u->config.save_every = 16;
    }
    const int valid = tl_update_record_valid(saved);
    if (valid) {
        u->record = *saved;
    } else {
        memcpy(u->record.magic, TL_UPDATE_RECORD_MAGIC, 4);
        u->record.format = TL_UPDATE_RECORD_FORMAT;
        u->record.active = TL_UPDATE_NO_SLOT;
    }
    tl_update_record *r = &u->record;
    if (r->active != TL_UPDATE_NO_SLOT && (r->active > TL_REGION_SLOT_B || r->active_size > io->region_size[r->active])) {
        r->active = TL_UPDATE_NO_SLOT; /* a record from another layout: its slot cannot be trusted */
    }
    r->active_model[TL_MANIFEST_MAX_MODEL] = '\0';
    r->active_variant[TL_MANIFEST_MAX_VARIANT] = '\0';
    for (uint32_t i = 0; i < TL_UPDATE_NAMES; ++i) {
        r->highest[i].model[TL_MANIFEST_MAX_MODEL] = '\0';
    }
    /* Take up the download in progress only if its manifest still holds
     * under today's key and still fits. */
    if (r->envelope_size) {
        tl_signed_manifest m;
        if (r->envelope_size > TL_MANIFEST_MAX_ENVELOPE || open_manifest(u, r->envelope, r->envelope_size, &m) != TL_OK ||
            unfit(u, &m, (int)r->progressive) != TL_REASON_NONE) {
            drop_download(u);
        } else {
            u->manifest = m;
            u->blocks = blocks_of(download_bytes(u));
            r->received = 0;
            for (uint32_t i = 0; i < TL_UPDATE_MAX_BLOCKS; ++i) {
                if (has_block(u, i) && i >= u->blocks) {
                    r->blocks[i >> 3] &= (uint8_t)~(1u << (i & 7)); /* beyond the end: never ours */
                }
                r->received += (uint32_t)has_block(u, i);
            }
            raise_held(u);
        }
        u->reason = TL_REASON_NONE;
    }
    if (u->io.now_ms) {
        u->started_ms = u->io.now_ms(u->io.user);
    }
    return saved && !valid ? TL_ERR_DIGEST : TL_OK;
}

tl_status tl_update_offer(tl_update *u, const uint8_t *envelope, size_t size, int progressive,
                          tl_update_verdict *verdict)
{
    u->reason = TL_REASON_NONE;
    tl_signed_manifest m;
    tl_status s = open_manifest(u, envelope, size, &m);
    if (s != TL_OK) {
        return s;
    }
    const tl_update_record *r = &u->record;
    if (m.sequence < highest_sequence(r, m.model)) {
        return fail(u, TL_REASON_ROLLBACK, TL_ERR_VERSION);
    }
    if (r->active != TL_UPDATE_NO_SLOT && strcmp(r->active_model, m.model) == 0 && r->active_sequence == m.sequence &&
        memcmp(r->active_digest, m.digest, 32) == 0) {
        *verdict = TL_UPDATE_CURRENT;
        return TL_OK;
    }
    const tl_update_reason reason = unfit(u, &m, progressive);
    if (reason != TL_REASON_NONE) {
        return fail(u, reason, reason == TL_REASON_WRONG_TARGET ? TL_ERR_UNSUPPORTED : TL_ERR_ARG);
    }
    *verdict = TL_UPDATE_FETCH;
    if (r->envelope_size == size && memcmp(r->envelope, envelope, size) == 0 && r->progressive == (uint32_t)!!progressive) {
        return TL_OK; /* the download in progress: resume it */
    }
    drop_download(u);
    u->manifest = m;
    u->record.progressive = (uint32_t)!!progressive;
    u->record.envelope_size = (uint32_t)size;
    memcpy(u->record.envelope, envelope, size);
    u->blocks = blocks_of(download_bytes(u));
    u->started_ms = u->io.now_ms ? u->io.now_ms(u->io.user) : 0;
    if (u->io.erase(u->io.user, download_region(u), 0, download_bytes(u)) != TL_OK) {
        drop_download(u);
        return fail(u, TL_REASON_FLASH, TL_ERR_IO);
    }
    return save(u);
}

uint32_t tl_update_block_count(const tl_update *u)
{
    return u->record.envelope_size ? u->blocks : 0;
}

uint32_t tl_update_next_block(const tl_update *u)
{
    if (!u->record.envelope_size) {
        return TL_UPDATE_NO_BLOCK;
    }
    for (uint32_t i = u->held; i < u->blocks; ++i) {
        if (!has_block(u, i)) {
            return i;
        }
    }
    return TL_UPDATE_NO_BLOCK;
}

static uint32_t elapsed_ms(const tl_update *u)
{
    return u->io.now_ms ? u->io.now_ms(u->io.user) - u->started_ms : 0;
}

static void report(tl_update *u, tl_update_event *e)
{
    if (u->io.on_event) {
        e->elapsed_ms = elapsed_ms(u);
        e->manifest = &u->manifest;
        u->io.on_event(u->io.user, e);
    }
}

/* A device with nothing to run decodes each whole prefix of planes as it
 * completes (first_planes and up), into its work RAM. */
static void try_prefix(tl_update *u)
{
    if (u->record.active != TL_UPDATE_NO_SLOT || !u->io.on_event || u->planes_run >= 7) {
        return;
    }
    const uint32_t next = tl_update_next_block(u);
    const uint64_t contiguous = next == TL_UPDATE_NO_BLOCK ? download_bytes(u) : (uint64_t)next * TL_UPDATE_BLOCK_BYTES;
    const uint8_t *stream = u->io.map(u->io.user, TL_REGION_STAGING);
    if (contiguous < sizeof(tl_progressive_header)) {
        return;
    }
    tl_progressive_header h;
    memcpy(&h, stream, sizeof h); /* block 0 was checked against the signed digest */
    const uint64_t planes_at = (uint64_t)h.header_size + (uint64_t)h.tensor_count * sizeof(tl_progressive_tensor) +
                               (uint64_t)h.sum_count * 4u + h.skeleton_size;
    uint32_t planes = 0;
    while (planes < 8 && h.plane_size && planes_at + (uint64_t)(planes + 1) * h.plane_size <= contiguous) {
        ++planes;
    }
    if (planes < u->config.first_planes || planes <= u->planes_run || planes >= 8) {
        return;
    }
    uint32_t got = 0, size = 0;
    if (tl_progressive_decode(stream, (size_t)contiguous, u->config.work, u->config.work_size, &got, &size) == TL_OK) {
        u->planes_run = got;
        tl_update_event e;
        memset(&e, 0, sizeof e);
        e.kind = TL_UPDATE_PREFIX;
        e.model = u->config.work;
        e.size = size;
        e.planes = got;
        report(u, &e);
    }
}

/* A verified packed model in `slot`, expanded in work RAM and written back
 * dense when it fits both. Only a flash failure is an error: anything else
 * leaves the model as it came (e->dense_status says why). */
static tl_status densify_in_place(tl_update *u, tl_update_region slot, tl_model *model, tl_update_event *e)
{
    uint32_t dense = 0;
    if (!tl_model_packed_filters(model)) {
        return TL_OK;
    }
    e->dense_status = tl_model_dense_size(model, &dense);
    e->dense_size = dense;
    if (e->dense_status != TL_OK || dense > u->io.region_size[slot] || !u->config.work || dense > u->config.work_size) {
        return TL_OK;
    }
    e->dense_status = tl_model_densify(model, u->config.work, u->config.work_size, &dense);
    if (e->dense_status != TL_OK) {
        return TL_OK;
    }
    if (u->io.erase(u->io.user, slot, 0, dense) != TL_OK || u->io.write(u->io.user, slot, 0, u->config.work, dense) != TL_OK) {
        return TL_ERR_IO;
    }
    const tl_status s = tl_model_load(model, u->io.map(u->io.user, slot), dense, 0);
    if (s != TL_OK) {
        return TL_ERR_IO; /* written, but not read back as written */
    }
    e->densified = 1;
    e->size = dense;
    return TL_OK;
}

/* Every block is in: check the model and make it the running one. */
static tl_status finish(tl_update *u, int *installed)
{
    const tl_update_region slot = inactive_slot(u);
    const tl_signed_manifest *m = &u->manifest;
    tl_status s = TL_OK;
    if (u->record.progressive) {
        uint32_t planes = 0, size = 0;
        s = tl_progressive_decode(u->io.map(u->io.user, TL_REGION_STAGING), m->stream_size, u->config.work,
                                  u->config.work_size, &planes, &size);
        if (s == TL_OK && (planes != 8 || size != m->size)) {
            s = TL_ERR_FORMAT;
        }
        if (s == TL_OK && (u->io.erase(u->io.user, slot, 0, size) != TL_OK ||
                           u->io.write(u->io.user, slot, 0, u->config.work, size) != TL_OK)) {
            drop_download(u);
            save(u);
            return fail(u, TL_REASON_FLASH, TL_ERR_IO);
        }
    }
    tl_model model;
    const uint8_t *bytes = u->io.map(u->io.user, slot);
    if (s == TL_OK) {
        s = tl_model_load(&model, bytes, m->size, 0);
    }
    if (s == TL_OK && memcmp(model.trailer->sha256, m->digest, 32) != 0) {
        s = TL_ERR_DIGEST;
    }
    if (s != TL_OK) {
        drop_download(u);
        save(u);
        return fail(u, TL_REASON_BAD_MODEL, s);
    }
    tl_update_event e;
    memset(&e, 0, sizeof e);
    e.kind = TL_UPDATE_INSTALLED;
    e.planes = 8;
    e.size = m->size;
    u->dense_size = 0;
    u->densified = 0;
    u->dense_status = TL_OK;
    if (u->config.densify) {
        s = densify_in_place(u, slot, &model, &e);
        u->dense_size = e.dense_size;
        u->densified = e.densified;
        u->dense_status = e.dense_status;
        if (s != TL_OK) {
            drop_download(u);
            save(u);
            return fail(u, TL_REASON_FLASH, s);
        }
    }
    const tl_update_record before = u->record;
    tl_update_record *r = &u->record;
    r->active = slot;
    r->active_size = e.size;
    r->active_version = m->version;
    r->active_sequence = m->sequence;
    memcpy(r->active_model, m->model, sizeof r->active_model);
    memcpy(r->active_variant, m->variant, sizeof r->active_variant);
    memcpy(r->active_digest, m->digest, 32);
    raise_highest(r, m->model, m->sequence);
    const tl_signed_manifest installed_manifest = *m;
    drop_download(u);
    if (save(u) != TL_OK) {
        u->record = before; /* not switched: the old model stays the running one */
        u->manifest = installed_manifest;
        return TL_ERR_IO;
    }
    u->manifest = installed_manifest; /* for the event; no download is in progress */
    *installed = 1;
    e.model = bytes;
    report(u, &e);
    return TL_OK;
}

tl_status tl_update_block(tl_update *u, uint32_t index, const void *data, uint32_t size, int *installed)
{
    *installed = 0;
    u->reason = TL_REASON_NONE;
    if (!u->record.envelope_size) {
        return TL_ERR_STATE;
    }
    const uint32_t total = download_bytes(u);
    if (index >= u->blocks) {
        return fail(u, TL_REASON_BAD_BLOCK, TL_ERR_BOUNDS);
    }
    const uint32_t expected = index + 1 < u->blocks ? TL_UPDATE_BLOCK_BYTES : total - index * TL_UPDATE_BLOCK_BYTES;
    if (size != expected || !data) {
        return fail(u, TL_REASON_BAD_BLOCK, TL_ERR_TRUNCATED);
    }
    if (has_block(u, index)) {
        return TL_OK;
    }
    if (u->record.progressive && index == 0) {
        /* The header holds every prefix's digest: it must be the signed one. */
        uint8_t digest[32];
        tl_sha256 ctx;
        tl_sha256_init(&ctx);
        tl_sha256_update(&ctx, data, sizeof(tl_progressive_header));
        tl_sha256_final(&ctx, digest);
        if (memcmp(digest, u->manifest.stream_header_digest, 32) != 0) {
            return fail(u, TL_REASON_BAD_STREAM_HEADER, TL_ERR_DIGEST);
        }
    }
    if (u->io.write(u->io.user, download_region(u), index * TL_UPDATE_BLOCK_BYTES, data, size) != TL_OK) {
        return fail(u, TL_REASON_FLASH, TL_ERR_IO);
    }
    u->record.blocks[index >> 3] |= (uint8_t)(1u << (index & 7));
    u->record.received++;
    raise_held(u);
    u->unsaved++;
    if (u->record.received == u->blocks) {
        return finish(u, installed);
    }
    if (u->unsaved >= u->config.save_every) {
        const tl_status s = save(u);
        if (s != TL_OK) {
            return s;
        }
    }
    if (u->record.progressive) {
        try_prefix(u);
    }
    return TL_OK;
}

void tl_update_state_of(const tl_update *u, tl_status status, tl_update_state *st)
{
    memset(st, 0, sizeof *st);
    const tl_update_record *r = &u->record;
    st->status = status;
    st->reason = u->reason;
    st->next_block = tl_update_next_block(u);
    st->block_count = tl_update_block_count(u);
    st->received = r->envelope_size ? r->received : 0;
    st->is_signed = (uint32_t)u->manifest.is_signed;
    if (r->active != TL_UPDATE_NO_SLOT) {
        st->slot = r->active == TL_REGION_SLOT_A ? 'a' : 'b';
        st->version = r->active_version;
        st->sequence = r->active_sequence;
        st->size = r->active_size;
    }
    st->dense_size = u->dense_size;
    st->densified = (uint32_t)u->densified;
    st->dense_status = u->dense_status;
}

tl_status tl_update_checkpoint(tl_update *u)
{
    return u->unsaved ? save(u) : TL_OK;
}

const uint8_t *tl_update_active(const tl_update *u, uint32_t *size)
{
    if (u->record.active == TL_UPDATE_NO_SLOT) {
        *size = 0;
        return NULL;
    }
    *size = u->record.active_size;
    return u->io.map(u->io.user, (tl_update_region)u->record.active);
}
