/* test_update.c - the signed manifest and the device's update state
 * machine, on a flash that behaves like NOR flash (erase sets 0xFF, a write
 * can only clear bits), so a write the machine did not erase for shows. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "test_util.h"
#include "tiny_model.h"
#include "tinylarge/convert.h"
#include "tinylarge/device.h"
#include "tinylarge/edge.h"
#include "tinylarge/update.h"

#define REGION_BYTES (256u << 10)

typedef struct fake_device {
    uint8_t *region[3];
    tl_update_record stored;
    int has_stored;
    int saves, fail_saves;
    uint32_t clock_ms;
    uint32_t prefix_planes[8];
    int prefixes, installs;
    uint8_t *work;
    uint32_t slot_bytes;         /* 0: REGION_BYTES */
    uint32_t dense_sizes[4];     /* of each install, with densify */
    int densified[4];
} fake_device;

static tl_status fake_erase(void *user, tl_update_region region, uint32_t offset, uint32_t size)
{
    fake_device *d = user;
    assert_true((uint64_t)offset + size <= REGION_BYTES);
    memset(d->region[region] + offset, 0xFF, size);
    return TL_OK;
}

static tl_status fake_write(void *user, tl_update_region region, uint32_t offset, const void *data, uint32_t size)
{
    fake_device *d = user;
    assert_true((uint64_t)offset + size <= REGION_BYTES);
    const uint8_t *p = data;
    for (uint32_t i = 0; i < size; ++i) {
        d->region[region][offset + i] &= p[i]; /* NOR: bits only go from 1 to 0 */
    }
    return TL_OK;
}

static const uint8_t *fake_map(void *user, tl_update_region region)
{
    return ((fake_device *)user)->region[region];
}

static tl_status fake_save(void *user, const tl_update_record *record)
{
    fake_device *d = user;
    if (d->fail_saves) {
        return TL_ERR_IO;
    }
    d->stored = *record;
    d->has_stored = 1;
    d->saves++;
    return TL_OK;
}

static uint32_t fake_now(void *user)
{
    return ((fake_device *)user)->clock_ms += 5;
}

static void fake_event(void *user, const tl_update_event *e)
{
    fake_device *d = user;
    if (e->kind == TL_UPDATE_PREFIX) {
        tl_model m;
        assert_int_equal(tl_model_load(&m, e->model, e->size, 0), TL_OK); /* a prefix is a runnable model */
        d->prefix_planes[d->prefixes++] = e->planes;
    } else {
        d->dense_sizes[d->installs & 3] = e->dense_size;
        d->densified[d->installs & 3] = e->densified;
        d->installs++;
    }
}

typedef struct keys {
    uint8_t pk[32], sk[64], other_pk[32], other_sk[64];
} keys;

static keys k;

static int setup(void **state)
{
    (void)state;
    if (sodium_init() < 0) {
        return -1;
    }
    crypto_sign_keypair(k.pk, k.sk);
    crypto_sign_keypair(k.other_pk, k.other_sk);
    return 0;
}

static void fake_init(fake_device *d)
{
    memset(d, 0, sizeof *d);
    for (int i = 0; i < 3; ++i) {
        d->region[i] = aligned_alloc(16, REGION_BYTES);
        memset(d->region[i], 0xFF, REGION_BYTES);
    }
    d->work = aligned_alloc(16, REGION_BYTES);
}

static void fake_free(fake_device *d)
{
    for (int i = 0; i < 3; ++i) {
        free(d->region[i]);
    }
    free(d->work);
}

static tl_update_io fake_io(fake_device *d)
{
    const uint32_t slot = d->slot_bytes ? d->slot_bytes : REGION_BYTES;
    tl_update_io io = { fake_erase, fake_write, fake_map, { slot, slot, REGION_BYTES }, fake_save, fake_now, fake_event, d };
    return io;
}

static tl_update_config secure_config(fake_device *d)
{
    tl_update_config c;
    memset(&c, 0, sizeof c);
    c.public_key = k.pk;
    c.target = "cortex-m4";
    c.work = d->work;
    c.work_size = REGION_BYTES;
    return c;
}

static void start(tl_update *u, fake_device *d, const tl_update_config *c)
{
    const tl_update_io io = fake_io(d);
    assert_int_equal(tl_update_start(u, c, &io, d->has_stored ? &d->stored : NULL), TL_OK);
}

/* A device with a key, no model and an empty record. */
static void fresh_device(fake_device *d, tl_update *u, tl_update_config *c)
{
    fake_init(d);
    *c = secure_config(d);
    start(u, d, c);
}

/* A model and its manifest's fields: name, version, sequence. */
typedef struct offer {
    uint8_t *model;
    size_t size;
    tl_signed_manifest m;
    uint8_t envelope[TL_MANIFEST_MAX_ENVELOPE];
    size_t envelope_size;
    uint8_t *stream;
    size_t stream_size;
    uint32_t plane_ends[8];
} offer;

/* Seeds from 100 up make the wide model (planes over several blocks). */
static void make_offer(offer *o, uint32_t seed, const char *name, uint32_t version, uint64_t sequence,
                       const uint8_t *sk)
{
    memset(o, 0, sizeof *o);
    assert_int_equal(seed >= 100 ? wide_model_bytes(seed, &o->model, &o->size)
                                 : tiny_model_bytes(seed, &o->model, &o->size), 0);
    tl_model loaded;
    assert_int_equal(tl_model_load(&loaded, o->model, o->size, 0), TL_OK);
    snprintf(o->m.model, sizeof o->m.model, "%s", name);
    snprintf(o->m.variant, sizeof o->m.variant, "e0-s0-int8");
    snprintf(o->m.target, sizeof o->m.target, "any");
    o->m.version = version;
    o->m.sequence = sequence;
    o->m.size = (uint32_t)o->size;
    memcpy(o->m.digest, loaded.trailer->sha256, 32);
    assert_int_equal(tl_progressive_encode(o->model, o->size, &o->stream, &o->stream_size, o->plane_ends), TL_OK);
    o->m.stream_size = (uint32_t)o->stream_size;
    crypto_hash_sha256(o->m.stream_header_digest, o->stream, sizeof(tl_progressive_header));
    assert_int_equal(tl_manifest_seal(&o->m, sk, o->envelope, sizeof o->envelope, &o->envelope_size), TL_OK);
}

static void reseal(offer *o, const uint8_t *sk)
{
    assert_int_equal(tl_manifest_seal(&o->m, sk, o->envelope, sizeof o->envelope, &o->envelope_size), TL_OK);
}

static void free_offer(offer *o)
{
    free(o->model);
    free(o->stream);
}

static const uint8_t *block_of(const offer *o, int progressive, uint32_t i, uint32_t *size)
{
    const size_t total = progressive ? o->stream_size : o->size;
    const size_t at = (size_t)i * TL_UPDATE_BLOCK_BYTES;
    *size = (uint32_t)(total - at < TL_UPDATE_BLOCK_BYTES ? total - at : TL_UPDATE_BLOCK_BYTES);
    return (progressive ? o->stream : o->model) + at;
}

static tl_status send_block(tl_update *u, const offer *o, int progressive, uint32_t i, int *installed)
{
    uint32_t n;
    const uint8_t *b = block_of(o, progressive, i, &n);
    return tl_update_block(u, i, b, n, installed);
}

/* Sends every missing block in order; returns the last block's status. */
static tl_status send_all(tl_update *u, const offer *o, int progressive, int *installed)
{
    tl_status s = TL_OK;
    uint32_t i;
    while (s == TL_OK && (i = tl_update_next_block(u)) != TL_UPDATE_NO_BLOCK) {
        s = send_block(u, o, progressive, i, installed);
    }
    return s;
}

static void install(tl_update *u, const offer *o)
{
    tl_update_verdict v;
    int installed = 0;
    assert_int_equal(tl_update_offer(u, o->envelope, o->envelope_size, 0, &v), TL_OK);
    assert_int_equal(v, TL_UPDATE_FETCH);
    assert_int_equal(send_all(u, o, 0, &installed), TL_OK);
    assert_int_equal(installed, 1);
}

static void a_sealed_manifest_opens_with_every_field_and_a_flipped_bit_in_any_byte_is_refused(void **state)
{
    (void)state;
    offer o;
    make_offer(&o, 3, "fashion", 7, 123456789012ull, k.sk);
    tl_signed_manifest m;
    assert_int_equal(tl_manifest_open(o.envelope, o.envelope_size, k.pk, &m), TL_OK);
    assert_string_equal(m.model, "fashion");
    assert_string_equal(m.variant, "e0-s0-int8");
    assert_string_equal(m.target, "any");
    assert_int_equal(m.version, 7);
    assert_true(m.sequence == 123456789012ull);
    assert_int_equal(m.size, o.size);
    assert_memory_equal(m.digest, o.m.digest, 32);
    assert_int_equal(m.stream_size, o.stream_size);
    assert_memory_equal(m.stream_header_digest, o.m.stream_header_digest, 32);
    assert_true(m.is_signed);
    /* Any byte changed, any truncation: refused (the signature covers the
     * payload; the framing must parse exactly). */
    for (size_t i = 0; i < o.envelope_size; ++i) {
        for (int flip = 1; flip <= 0x80; flip <<= 7) {
            o.envelope[i] ^= (uint8_t)flip;
            if (tl_manifest_open(o.envelope, o.envelope_size, k.pk, &m) == TL_OK) {
                fail_msg("byte %zu ^ %d still opens", i, flip);
            }
            o.envelope[i] ^= (uint8_t)flip;
        }
    }
    for (size_t n = 0; n < o.envelope_size; ++n) {
        assert_int_not_equal(tl_manifest_open(o.envelope, n, k.pk, &m), TL_OK);
    }
    assert_int_equal(tl_manifest_open(o.envelope, o.envelope_size, k.other_pk, &m), TL_ERR_SIGNATURE);
    assert_true(m.has_signature);
    /* Unsigned: read without a key, refused with one. */
    reseal(&o, NULL);
    assert_int_equal(tl_manifest_open(o.envelope, o.envelope_size, NULL, &m), TL_OK);
    assert_false(m.is_signed);
    assert_int_equal(tl_manifest_open(o.envelope, o.envelope_size, k.pk, &m), TL_ERR_SIGNATURE);
    assert_false(m.has_signature);
    /* Fields out of range are not sealed. */
    o.m.version = 0;
    assert_int_equal(tl_manifest_seal(&o.m, k.sk, o.envelope, sizeof o.envelope, &o.envelope_size), TL_ERR_ARG);
    o.m.version = 1;
    o.m.model[0] = '\0';
    assert_int_equal(tl_manifest_seal(&o.m, k.sk, o.envelope, sizeof o.envelope, &o.envelope_size), TL_ERR_ARG);
    free_offer(&o);
}

static void a_whole_model_installs_from_blocks_in_any_order_with_repeats_and_the_next_goes_to_the_other_slot(void **state)
{
    (void)state;
    fake_device d;
    tl_update u;
    tl_update_config c;
    fresh_device(&d, &u, &c);
    uint32_t size;
    assert_null(tl_update_active(&u, &size));
    offer a, b;
    make_offer(&a, 1, "fashion", 1, 10, k.sk);
    make_offer(&b, 2, "fashion", 2, 11, k.sk);
    tl_update_verdict v;
    assert_int_equal(tl_update_offer(&u, a.envelope, a.envelope_size, 0, &v), TL_OK);
    assert_int_equal(v, TL_UPDATE_FETCH);
    const uint32_t n = tl_update_block_count(&u);
    assert_int_equal(n, (a.size + 1023) / 1024);
    /* Every block twice, in a shuffled order. */
    uint32_t order[2 * 256];
    assert_true(n <= 256);
    for (uint32_t i = 0; i < 2 * n; ++i) {
        order[i] = i % n;
    }
    test_rng rng = { 7 };
    for (uint32_t i = 2 * n - 1; i > 0; --i) {
        const uint32_t j = rng_u32(&rng) % (i + 1), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    int installed = 0, installs = 0;
    for (uint32_t i = 0; i < 2 * n; ++i) {
        uint32_t bytes;
        const uint8_t *blk = block_of(&a, 0, order[i], &bytes);
        if (installs) {
            /* after the install, a straggler is no download's: out of order */
            assert_int_equal(tl_update_block(&u, order[i], blk, bytes, &installed), TL_ERR_STATE);
            continue;
        }
        assert_int_equal(tl_update_block(&u, order[i], blk, bytes, &installed), TL_OK);
        installs += installed;
    }
    assert_int_equal(installs, 1);
    assert_int_equal(d.installs, 1);
    const uint8_t *active = tl_update_active(&u, &size);
    assert_int_equal(size, a.size);
    assert_memory_equal(active, a.model, a.size);
    assert_int_equal(u.record.active, TL_REGION_SLOT_A);
    /* The same offer again: current. The next version: slot B, while slot A
     * keeps answering until the switch. */
    assert_int_equal(tl_update_offer(&u, a.envelope, a.envelope_size, 0, &v), TL_OK);
    assert_int_equal(v, TL_UPDATE_CURRENT);
    assert_int_equal(tl_update_offer(&u, b.envelope, b.envelope_size, 0, &v), TL_OK);
    assert_int_equal(send_block(&u, &b, 0, 0, &installed), TL_OK);
    assert_memory_equal(d.region[TL_REGION_SLOT_A], a.model, a.size);
    assert_int_equal(send_all(&u, &b, 0, &installed), TL_OK);
    assert_int_equal(installed, 1);
    assert_int_equal(u.record.active, TL_REGION_SLOT_B);
    assert_memory_equal(tl_update_active(&u, &size), b.model, b.size);
    /* The first version again is now a rollback. */
    assert_int_equal(tl_update_offer(&u, a.envelope, a.envelope_size, 0, &v), TL_ERR_VERSION);
    free_offer(&a);
    free_offer(&b);
    fake_free(&d);
}

static void bad_blocks_and_a_tampered_model_are_refused_and_the_running_model_stays(void **state)
{
    (void)state;
    fake_device d;
    tl_update u;
    tl_update_config c;
    fresh_device(&d, &u, &c);
    offer a, b;
    make_offer(&a, 1, "fashion", 1, 1, k.sk);
    make_offer(&b, 2, "fashion", 2, 2, k.sk);
    install(&u, &a);
    tl_update_verdict v;
    int installed = 0;
    assert_int_equal(tl_update_offer(&u, b.envelope, b.envelope_size, 0, &v), TL_OK);
    const uint32_t n = tl_update_block_count(&u);
    uint8_t block[TL_UPDATE_BLOCK_BYTES];
    assert_int_equal(tl_update_block(&u, n, block, sizeof block, &installed), TL_ERR_BOUNDS);
    assert_int_equal(u.reason, TL_REASON_BAD_BLOCK);
    assert_int_equal(tl_update_block(&u, 0, block, 100, &installed), TL_ERR_TRUNCATED);
    assert_int_equal(tl_update_block(&u, n - 1, block, sizeof block, &installed), TL_ERR_TRUNCATED);
    /* A byte changed on the way: found when the last block is in. */
    b.model[b.size / 2] ^= 0x40;
    assert_int_equal(send_all(&u, &b, 0, &installed), TL_ERR_DIGEST);
    assert_int_equal(u.reason, TL_REASON_BAD_MODEL);
    assert_int_equal(installed, 0);
    uint32_t size;
    assert_memory_equal(tl_update_active(&u, &size), a.model, a.size);
    assert_int_equal(tl_update_next_block(&u), TL_UPDATE_NO_BLOCK); /* the bad download is dropped */
    assert_true(tl_update_record_valid(&d.stored));
    assert_int_equal(d.stored.active, TL_REGION_SLOT_A);
    /* Offered again, it starts over and installs when the bytes are right. */
    b.model[b.size / 2] ^= 0x40;
    install(&u, &b);
    assert_memory_equal(tl_update_active(&u, &size), b.model, b.size);
    free_offer(&a);
    free_offer(&b);
    fake_free(&d);
}

static void rollbacks_foreign_keys_unsigned_and_unfit_manifests_are_refused_with_their_reason(void **state)
{
    (void)state;
    fake_device d;
    tl_update u;
    tl_update_config c;
    fresh_device(&d, &u, &c);
    offer o;
    make_offer(&o, 1, "fashion", 3, 5, k.sk);
    install(&u, &o);
    tl_update_verdict v;
    /* An older sequence under the same name, even as a higher version. */
    o.m.sequence = 4;
    o.m.version = 99;
    reseal(&o, k.sk);
    assert_int_equal(tl_update_offer(&u, o.envelope, o.envelope_size, 0, &v), TL_ERR_VERSION);
    assert_int_equal(u.reason, TL_REASON_ROLLBACK);
    assert_non_null(strstr(tl_update_reason_str(u.reason), "rollback"));
    /* Relabelled by someone without the key: the signature breaks. */
    o.m.sequence = 6;
    reseal(&o, k.sk);
    size_t at = 0;
    while (at + 7 <= o.envelope_size && memcmp(o.envelope + at, "fashion", 7) != 0) {
        ++at;
    }
    assert_true(at + 7 <= o.envelope_size);
    o.envelope[at] = 'F';
    assert_int_equal(tl_update_offer(&u, o.envelope, o.envelope_size, 0, &v), TL_ERR_SIGNATURE);
    assert_int_equal(u.reason, TL_REASON_BAD_SIGNATURE);
    reseal(&o, k.other_sk);
    assert_int_equal(tl_update_offer(&u, o.envelope, o.envelope_size, 0, &v), TL_ERR_SIGNATURE);
    assert_int_equal(u.reason, TL_REASON_BAD_SIGNATURE);
    reseal(&o, NULL);
    assert_int_equal(tl_update_offer(&u, o.envelope, o.envelope_size, 0, &v), TL_ERR_SIGNATURE);
    assert_int_equal(u.reason, TL_REASON_UNSIGNED);
    snprintf(o.m.target, sizeof o.m.target, "riscv-e20");
    reseal(&o, k.sk);
    assert_int_equal(tl_update_offer(&u, o.envelope, o.envelope_size, 0, &v), TL_ERR_UNSUPPORTED);
    assert_int_equal(u.reason, TL_REASON_WRONG_TARGET);
    snprintf(o.m.target, sizeof o.m.target, "cortex-m4"); /* its own class fits */
    o.m.size = REGION_BYTES + 1;
    reseal(&o, k.sk);
    assert_int_equal(tl_update_offer(&u, o.envelope, o.envelope_size, 0, &v), TL_ERR_ARG);
    assert_int_equal(u.reason, TL_REASON_TOO_LARGE);
    o.m.size = (uint32_t)o.size;
    reseal(&o, k.sk);
    assert_int_equal(tl_update_offer(&u, o.envelope, o.envelope_size, 0, &v), TL_OK);
    assert_int_equal(v, TL_UPDATE_FETCH);
    /* Another name starts its own sequence: switching models by context is
     * not a rollback. */
    offer other;
    make_offer(&other, 2, "keywords", 1, 1, k.sk);
    assert_int_equal(tl_update_offer(&u, other.envelope, other.envelope_size, 0, &v), TL_OK);
    /* A device with no key takes nothing unless made insecure on purpose. */
    c.public_key = NULL;
    start(&u, &d, &c);
    assert_int_equal(tl_update_offer(&u, other.envelope, other.envelope_size, 0, &v), TL_ERR_SIGNATURE);
    assert_int_equal(u.reason, TL_REASON_UNSIGNED);
    c.allow_unsigned = 1;
    start(&u, &d, &c);
    reseal(&other, NULL);
    assert_int_equal(tl_update_offer(&u, other.envelope, other.envelope_size, 0, &v), TL_OK);
    free_offer(&o);
    free_offer(&other);
    fake_free(&d);
}

static void a_download_resumes_from_the_saved_record_after_a_power_cut(void **state)
{
    (void)state;
    fake_device d;
    fake_init(&d);
    tl_update u;
    tl_update_config c = secure_config(&d);
    c.save_every = 2;
    start(&u, &d, &c);
    offer o;
    make_offer(&o, 4, "fashion", 1, 1, k.sk);
    tl_update_verdict v;
    int installed = 0;
    assert_int_equal(tl_update_offer(&u, o.envelope, o.envelope_size, 0, &v), TL_OK);
    const uint32_t n = tl_update_block_count(&u);
    assert_true(n >= 4);
    for (uint32_t i = 0; i < 3; ++i) { /* the record is saved after blocks 0-1; block 2 is not in it */
        assert_int_equal(send_block(&u, &o, 0, i, &installed), TL_OK);
    }
    /* Power cut: a new machine from the stored record. */
    start(&u, &d, &c);
    assert_int_equal(tl_update_next_block(&u), 2);
    assert_int_equal(tl_update_offer(&u, o.envelope, o.envelope_size, 0, &v), TL_OK);
    assert_int_equal(tl_update_next_block(&u), 2); /* resumed, not restarted */
    assert_int_equal(send_all(&u, &o, 0, &installed), TL_OK); /* block 2 rewritten with the same bytes */
    assert_int_equal(installed, 1);
    uint32_t size;
    assert_memory_equal(tl_update_active(&u, &size), o.model, o.size);
    /* After another power cut the device still runs it. */
    start(&u, &d, &c);
    assert_memory_equal(tl_update_active(&u, &size), o.model, o.size);
    /* A torn record is told apart; a machine started on it has no model. */
    tl_update_record torn = d.stored;
    torn.active_version ^= 1;
    const tl_update_io io = fake_io(&d);
    assert_int_equal(tl_update_start(&u, &c, &io, &torn), TL_ERR_DIGEST);
    assert_null(tl_update_active(&u, &size));
    /* If the record cannot be saved, the switch does not happen. */
    start(&u, &d, &c);
    offer next;
    make_offer(&next, 5, "fashion", 2, 2, k.sk);
    assert_int_equal(tl_update_offer(&u, next.envelope, next.envelope_size, 0, &v), TL_OK);
    d.fail_saves = 1;
    assert_int_equal(send_all(&u, &next, 0, &installed), TL_ERR_IO);
    assert_int_equal(installed, 0);
    assert_memory_equal(tl_update_active(&u, &size), o.model, o.size);
    free_offer(&o);
    free_offer(&next);
    fake_free(&d);
}

static void progressive_prefixes_run_before_the_stream_completes_and_the_whole_model_installs(void **state)
{
    (void)state;
    fake_device d;
    tl_update u;
    tl_update_config c;
    fresh_device(&d, &u, &c);
    offer o;
    make_offer(&o, 106, "fashion", 1, 1, k.sk);
    tl_update_verdict v;
    int installed = 0;
    /* A header that is not the signed one is refused, block 0 not kept. */
    assert_int_equal(tl_update_offer(&u, o.envelope, o.envelope_size, 1, &v), TL_OK);
    assert_int_equal(tl_update_block_count(&u), (o.stream_size + 1023) / 1024);
    o.stream[40] ^= 1;
    assert_int_equal(send_block(&u, &o, 1, 0, &installed), TL_ERR_DIGEST);
    assert_int_equal(u.reason, TL_REASON_BAD_STREAM_HEADER);
    assert_int_equal(tl_update_next_block(&u), 0);
    o.stream[40] ^= 1;
    assert_int_equal(send_all(&u, &o, 1, &installed), TL_OK);
    assert_int_equal(installed, 1);
    /* Each prefix from 4 planes up that ended inside the stream ran. */
    int expected = 0;
    uint32_t last = 0;
    const uint32_t blocks = (uint32_t)((o.stream_size + 1023) / 1024);
    for (uint32_t b = 0; b + 1 < blocks; ++b) { /* the last block installs instead */
        uint32_t planes = 0;
        while (planes < 8 && o.plane_ends[planes] <= (b + 1) * 1024) {
            ++planes;
        }
        if (planes >= 4 && planes < 8 && planes > last) {
            ++expected;
            last = planes;
        }
    }
    assert_true(d.prefixes >= 1);
    assert_int_equal(d.prefixes, expected);
    for (int i = 1; i < d.prefixes; ++i) {
        assert_true(d.prefix_planes[i] > d.prefix_planes[i - 1]);
    }
    uint32_t size;
    assert_memory_equal(tl_update_active(&u, &size), o.model, o.size);
    /* Without work RAM a device cannot take the progressive form. */
    tl_update_config bare = c;
    bare.work = NULL;
    start(&u, &d, &bare);
    offer next;
    make_offer(&next, 7, "fashion", 2, 2, k.sk);
    assert_int_equal(tl_update_offer(&u, next.envelope, next.envelope_size, 1, &v), TL_ERR_ARG);
    assert_int_equal(u.reason, TL_REASON_NO_PROGRESSIVE);
    free_offer(&o);
    free_offer(&next);
    fake_free(&d);
}

static void a_packed_model_is_installed_dense_when_it_fits_and_as_it_came_when_not(void **state)
{
    (void)state;
    fake_device d;
    tl_update u;
    tl_update_config c;
    fresh_device(&d, &u, &c);
    c.densify = 1;
    start(&u, &d, &c);
    offer o; /* the tiny model has int4, CSR and bitmap filters */
    make_offer(&o, 8, "fashion", 1, 1, k.sk);
    install(&u, &o);
    tl_model packed, dense;
    assert_int_equal(tl_model_load(&packed, o.model, o.size, 0), TL_OK);
    uint32_t want = 0, size = 0;
    assert_int_equal(tl_model_dense_size(&packed, &want), TL_OK);
    assert_true(d.densified[0]);
    assert_int_equal(d.dense_sizes[0], want);
    const uint8_t *active = tl_update_active(&u, &size);
    assert_int_equal(size, want);
    assert_int_equal(tl_model_load(&dense, active, size, 0), TL_OK);
    assert_int_equal(tl_model_packed_filters(&dense), 0);
    /* The record keeps the manifest's digest: the same offer is current. */
    tl_update_verdict v;
    assert_int_equal(tl_update_offer(&u, o.envelope, o.envelope_size, 0, &v), TL_OK);
    assert_int_equal(v, TL_UPDATE_CURRENT);
    /* A slot big enough for the packed model only: installed as it came. */
    fake_free(&d);
    fake_init(&d);
    d.slot_bytes = (uint32_t)o.size;
    assert_true(want > o.size);
    c.work = d.work;
    start(&u, &d, &c);
    install(&u, &o);
    assert_false(d.densified[0]);
    assert_int_equal(d.dense_sizes[0], want);
    assert_memory_equal(tl_update_active(&u, &size), o.model, o.size);
    free_offer(&o);
    fake_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_sealed_manifest_opens_with_every_field_and_a_flipped_bit_in_any_byte_is_refused),
        cmocka_unit_test(a_whole_model_installs_from_blocks_in_any_order_with_repeats_and_the_next_goes_to_the_other_slot),
        cmocka_unit_test(bad_blocks_and_a_tampered_model_are_refused_and_the_running_model_stays),
        cmocka_unit_test(rollbacks_foreign_keys_unsigned_and_unfit_manifests_are_refused_with_their_reason),
        cmocka_unit_test(a_download_resumes_from_the_saved_record_after_a_power_cut),
        cmocka_unit_test(progressive_prefixes_run_before_the_stream_completes_and_the_whole_model_installs),
        cmocka_unit_test(a_packed_model_is_installed_dense_when_it_fits_and_as_it_came_when_not),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
