/* fuzz_update.c - libFuzzer target for the signed manifest reader and the
 * update state machine.
 *
 * A mutated manifest would fail its signature before its fields are read,
 * so the harness signs what the fuzzer writes: the first bytes are a
 * manifest payload, wrapped here in a COSE_Sign1 envelope under a key the
 * harness holds, so mutations reach the payload decoder, the offer's checks
 * and the block path; the rest of the input is fed as blocks. Raw inputs go
 * to the envelope reader too, with and without a key.
 * Checking a signature is slow under the sanitizers, so only inputs with
 * flag bit 2 are signed and offered to a device with the key; the rest go
 * unsigned to an insecure device, through the same decoder and machine.
 *   byte 0: flags (bit 0 progressive, bit 2 signed, to a device with a key)
 *   byte 1: payload length n; then n payload bytes; then blocks:
 *   each block 2 bytes of index, then up to 1024 bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "tinylarge/update.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REGION (64u << 10)

typedef struct flash {
    uint8_t region[3][REGION] __attribute__((aligned(16)));
    uint8_t work[REGION] __attribute__((aligned(16)));
    tl_update_record saved;
} flash;

static tl_status erase(void *user, tl_update_region r, uint32_t offset, uint32_t n)
{
    flash *f = user;
    if ((uint64_t)offset + n > REGION) {
        abort(); /* the machine must never reach past a region it was told the size of */
    }
    memset(f->region[r] + offset, 0xFF, n);
    return TL_OK;
}

static tl_status write_flash(void *user, tl_update_region r, uint32_t offset, const void *p, uint32_t n)
{
    flash *f = user;
    if ((uint64_t)offset + n > REGION) {
        abort();
    }
    memcpy(f->region[r] + offset, p, n);
    return TL_OK;
}

static const uint8_t *map(void *user, tl_update_region r)
{
    return ((flash *)user)->region[r];
}

static tl_status save(void *user, const tl_update_record *record)
{
    ((flash *)user)->saved = *record;
    return TL_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t pk[32], sk[64];
    static flash *f;
    if (!f) {
        uint8_t seed[32] = { 1 };
        if (sodium_init() < 0 || !(f = calloc(1, sizeof *f))) {
            abort();
        }
        crypto_sign_seed_keypair(pk, sk, seed);
    }
    tl_signed_manifest m;
    if (tl_manifest_open(data, size, NULL, &m) == TL_OK) {
        tl_manifest_open(data, size, pk, &m);
    }
    if (size < 2 || (size_t)data[1] + 2 > size) {
        return 0;
    }
    const uint8_t flags = data[0], n = data[1];
    const int secure = flags & 4;
    const uint8_t *payload = data + 2;
    /* COSE_Sign1: 18([h'a10127', {}, payload, signature]) */
    uint8_t envelope[TL_MANIFEST_MAX_ENVELOPE], to_sign[320];
    size_t at = 0, s = 0;
    static const uint8_t head[] = { 0xd2, 0x84, 0x43, 0xa1, 0x01, 0x27, 0xa0, 0x58 };
    memcpy(envelope, head, sizeof head);
    at = sizeof head;
    envelope[at++] = n;
    memcpy(envelope + at, payload, n);
    at += n;
    envelope[at++] = 0x58;
    envelope[at++] = secure ? 64 : 0;
    /* The Sig_structure as the device rebuilds it: shortest heads. */
    static const uint8_t context[] = { 0x84, 0x6a, 'S', 'i', 'g', 'n', 'a', 't', 'u', 'r', 'e', '1', 0x43, 0xa1,
                                       0x01, 0x27, 0x40 };
    memcpy(to_sign, context, sizeof context);
    s = sizeof context;
    if (n < 24) {
        to_sign[s++] = (uint8_t)(0x40 | n);
    } else {
        to_sign[s++] = 0x58;
        to_sign[s++] = n;
    }
    memcpy(to_sign + s, payload, n);
    s += n;
    if (secure) {
        crypto_sign_detached(envelope + at, NULL, to_sign, s, sk);
        at += 64;
    }

    const tl_update_io io = { erase, write_flash, map, { REGION, REGION, REGION }, save, NULL, NULL, f };
    tl_update_config config;
    memset(&config, 0, sizeof config);
    config.public_key = secure ? pk : NULL;
    config.allow_unsigned = !secure;
    config.target = "cortex-m4";
    config.work = f->work;
    config.work_size = REGION;
    static tl_update u;
    tl_update_start(&u, &config, &io, NULL);
    tl_update_verdict verdict;
    if (tl_update_offer(&u, envelope, at, flags & 1, &verdict) != TL_OK || verdict != TL_UPDATE_FETCH) {
        return 0;
    }
    for (size_t p = 2 + (size_t)n; p + 2 <= size;) {
        const uint32_t index = (uint32_t)data[p] | (uint32_t)data[p + 1] << 8;
        p += 2;
        const size_t take = size - p < TL_UPDATE_BLOCK_BYTES ? size - p : TL_UPDATE_BLOCK_BYTES;
        int installed;
        tl_update_block(&u, index % (tl_update_block_count(&u) + 1), data + p, (uint32_t)take, &installed);
        p += take;
        /* Also a restart from the record, as after a power cut. */
        if ((index & 0x8000) && tl_update_start(&u, &config, &io, &f->saved) != TL_OK) {
            abort();
        }
    }
    return 0;
}
