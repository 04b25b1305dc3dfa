/* manifest.c - reading and checking a signed manifest on the device: a
 * COSE_Sign1 envelope (RFC 9052) around a CBOR map with integer keys
 * (update.h). The signature is checked over the COSE Sig_structure,
 *   ["Signature1", protected, h'', payload],
 * hashed where the payload lies, with only its few bytes of framing built
 * here. The host side that writes envelopes is src/edge/manifest.c. */
#include <string.h>

#include "cbor.h"
#include "tinylarge/ed25519.h"
#include "tinylarge/update.h"

#define COSE_SIGN1_TAG 18u

/* A CBOR head (major type, argument) into out; returns its length. */
static size_t put_head(uint8_t out[9], int major, uint64_t n)
{
    const uint8_t m = (uint8_t)(major << 5);
    if (n < 24) {
        out[0] = (uint8_t)(m | n);
        return 1;
    }
    const int bytes = n <= 0xff ? 1 : n <= 0xffff ? 2 : n <= 0xffffffffu ? 4 : 8;
    out[0] = (uint8_t)(m | (bytes == 1 ? 24 : bytes == 2 ? 25 : bytes == 4 ? 26 : 27));
    for (int i = 0; i < bytes; ++i) {
        out[1 + i] = (uint8_t)(n >> (8 * (bytes - 1 - i)));
    }
    return 1 + (size_t)bytes;
}

static int read_text(tl_cbor *c, char *out, size_t capacity)
{
    const uint8_t *bytes;
    size_t n;
    if (!tl_cbor_string(c, TL_CBOR_TEXT, &bytes, &n) || n == 0 || n >= capacity) {
        return 0;
    }
    for (size_t i = 0; i < n; ++i) {
        if (bytes[i] == 0) {
            return 0; /* a NUL would cut the name short where it is compared */
        }
    }
    memcpy(out, bytes, n);
    out[n] = '\0';
    return 1;
}

static int read_digest(tl_cbor *c, uint8_t out[32])
{
    const uint8_t *bytes;
    size_t n;
    if (!tl_cbor_string(c, TL_CBOR_BYTES, &bytes, &n) || n != 32) {
        return 0;
    }
    memcpy(out, bytes, 32);
    return 1;
}

static int read_u32(tl_cbor *c, uint32_t max, uint32_t *out)
{
    uint64_t v;
    if (!tl_cbor_uint(c, &v) || v > max) {
        return 0;
    }
    *out = (uint32_t)v;
    return 1;
}

static tl_status read_payload(const uint8_t *payload, size_t size, tl_signed_manifest *m)
{
    tl_cbor c = { payload, payload + size };
    int major;
    uint64_t pairs;
    if (!tl_cbor_head(&c, &major, &pairs) || major != TL_CBOR_MAP || pairs > size) {
        return TL_ERR_FORMAT;
    }
    unsigned seen = 0;
    for (uint64_t i = 0; i < pairs; ++i) {
        uint64_t key;
        if (!tl_cbor_uint(&c, &key)) {
            return TL_ERR_FORMAT;
        }
        int ok;
        switch (key) {
        case TL_MANIFEST_MODEL: ok = read_text(&c, m->model, sizeof m->model); break;
        case TL_MANIFEST_VERSION: ok = read_u32(&c, 0x7fffffffu, &m->version) && m->version > 0; break;
        case TL_MANIFEST_VARIANT: ok = read_text(&c, m->variant, sizeof m->variant); break;
        case TL_MANIFEST_SEQUENCE: ok = tl_cbor_uint(&c, &m->sequence); break;
        case TL_MANIFEST_SIZE: ok = read_u32(&c, 0xffffffffu, &m->size) && m->size > 0; break;
        case TL_MANIFEST_DIGEST: ok = read_digest(&c, m->digest); break;
        case TL_MANIFEST_TARGET: ok = read_text(&c, m->target, sizeof m->target); break;
        case TL_MANIFEST_STREAM_SIZE: ok = read_u32(&c, 0xffffffffu, &m->stream_size); break;
        case TL_MANIFEST_STREAM_HEADER: ok = read_digest(&c, m->stream_header_digest); break;
        default: ok = tl_cbor_skip(&c, 4); break; /* a newer publisher may say more */
        }
        if (!ok || (key < 32 && (seen >> key) & 1u)) {
            return TL_ERR_FORMAT; /* a field given twice is as suspect as a bad one */
        }
        seen |= key < 32 ? 1u << key : 0;
    }
    const unsigned required = 1u << TL_MANIFEST_MODEL | 1u << TL_MANIFEST_VERSION | 1u << TL_MANIFEST_VARIANT |
                              1u << TL_MANIFEST_SEQUENCE | 1u << TL_MANIFEST_SIZE | 1u << TL_MANIFEST_DIGEST |
                              1u << TL_MANIFEST_TARGET;
    const int has_stream_header = (seen >> TL_MANIFEST_STREAM_HEADER) & 1u;
    if ((seen & required) != required || c.at != c.end || (m->stream_size > 0) != has_stream_header) {
        return TL_ERR_FORMAT;
    }
    return TL_OK;
}

tl_status tl_manifest_open(const uint8_t *envelope, size_t size, const uint8_t *public_key,
                           tl_signed_manifest *manifest)
{
    memset(manifest, 0, sizeof *manifest);
    if (!envelope || size > TL_MANIFEST_MAX_ENVELOPE) {
        return TL_ERR_FORMAT;
    }
    tl_cbor c = { envelope, envelope + size };
    int major;
    uint64_t n;
    if (!tl_cbor_head(&c, &major, &n)) {
        return TL_ERR_FORMAT;
    }
    if (major == TL_CBOR_TAG && n == COSE_SIGN1_TAG && !tl_cbor_head(&c, &major, &n)) {
        return TL_ERR_FORMAT; /* the tag is optional (RFC 9052, 4.2) */
    }
    const uint8_t *protected_bytes, *payload, *signature;
    size_t protected_size, payload_size, signature_size;
    if (major != TL_CBOR_ARRAY || n != 4 || !tl_cbor_string(&c, TL_CBOR_BYTES, &protected_bytes, &protected_size)) {
        return TL_ERR_FORMAT;
    }
    tl_cbor peek = c;
    if (!tl_cbor_head(&peek, &major, &n) || major != TL_CBOR_MAP ||
        !tl_cbor_skip(&c, 4) /* the unprotected header: a map, nothing in it trusted */ ||
        !tl_cbor_string(&c, TL_CBOR_BYTES, &payload, &payload_size) ||
        !tl_cbor_string(&c, TL_CBOR_BYTES, &signature, &signature_size) || c.at != c.end ||
        (signature_size != 0 && signature_size != 64)) {
        return TL_ERR_FORMAT;
    }
    tl_status s = read_payload(payload, payload_size, manifest);
    if (s != TL_OK) {
        memset(manifest, 0, sizeof *manifest);
        return s;
    }
    manifest->has_signature = signature_size == 64;
    if (!public_key) {
        return TL_OK; /* insecure: read, not checked */
    }
    if (signature_size != 64 || protected_size != TL_MANIFEST_PROTECTED_SIZE ||
        memcmp(protected_bytes, TL_MANIFEST_PROTECTED, TL_MANIFEST_PROTECTED_SIZE) != 0) {
        return TL_ERR_SIGNATURE; /* unsigned, or not EdDSA */
    }
    static const uint8_t context[] = { 0x84, 0x6a, 'S', 'i', 'g', 'n', 'a', 't', 'u', 'r', 'e', '1' };
    uint8_t head[9];
    tl_ed25519_check check;
    tl_ed25519_check_init(&check, signature, public_key);
    tl_ed25519_check_update(&check, context, sizeof context);
    tl_ed25519_check_update(&check, head, put_head(head, TL_CBOR_BYTES, protected_size));
    tl_ed25519_check_update(&check, protected_bytes, protected_size);
    tl_ed25519_check_update(&check, "\x40", 1); /* external_aad: empty */
    tl_ed25519_check_update(&check, head, put_head(head, TL_CBOR_BYTES, payload_size));
    tl_ed25519_check_update(&check, payload, payload_size);
    s = tl_ed25519_check_final(&check);
    manifest->is_signed = s == TL_OK;
    return s;
}
