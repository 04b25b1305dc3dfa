/* manifest.c - the manifest a device gets before it downloads, as CBOR
 * (RFC 8949, libcbor): a map with text keys, in the spirit of SUIT; the
 * signed manifest (a COSE_Sign1 envelope, RFC 9052) that the device's
 * update state machine checks (reader: src/device/update/manifest.c); and
 * the pre-shared key file of DTLS identities. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cbor.h>
#include <sodium.h>

#include "tinylarge/edge.h"
#include "tinylarge/update.h"

static int add(cbor_item_t *map, const char *key, cbor_item_t *value)
{
    if (!value) {
        return 0;
    }
    return cbor_map_add(map, (struct cbor_pair){ .key = cbor_move(cbor_build_string(key)), .value = cbor_move(value) });
}

tl_status tl_manifest_encode(const tl_manifest *m, uint8_t **out, size_t *size)
{
    *out = NULL;
    *size = 0;
    cbor_item_t *map = cbor_new_definite_map((m->tlp_bytes ? 9 : 7) + (m->planes > 0) + (m->envelope_size > 0));
    if (!map) {
        return TL_ERR_NOMEM;
    }
    int ok = add(map, "model", cbor_build_string(m->model)) && add(map, "version", cbor_build_uint32((uint32_t)m->version)) &&
             add(map, "variant", cbor_build_string(m->variant)) && add(map, "bytes", cbor_build_uint64(m->bytes)) &&
             add(map, "sha256", cbor_build_bytestring(m->sha256, 32)) &&
             add(map, "accuracy", cbor_build_float4(m->accuracy)) && add(map, "signed", cbor_build_bool(m->is_signed));
    if (ok && m->tlp_bytes) {
        ok = add(map, "tlp_bytes", cbor_build_uint64(m->tlp_bytes)) &&
             add(map, "tlp_signature", cbor_build_bytestring(m->tlp_signature, m->tlp_signed ? 64 : 0));
    }
    if (ok && m->planes > 0) {
        ok = add(map, "planes", cbor_build_uint8((uint8_t)m->planes));
    }
    if (ok && m->envelope_size > 0) {
        ok = add(map, "envelope", cbor_build_bytestring(m->envelope, m->envelope_size));
    }
    size_t capacity = 0;
    const size_t n = ok ? cbor_serialize_alloc(map, out, &capacity) : 0;
    cbor_decref(&map);
    if (!n) {
        free(*out);
        *out = NULL;
        return TL_ERR_NOMEM;
    }
    *size = n;
    return TL_OK;
}

static int key_is(const cbor_item_t *k, const char *name)
{
    return cbor_isa_string(k) && cbor_string_is_definite(k) && cbor_string_length(k) == strlen(name) &&
           !memcmp(cbor_string_handle(k), name, strlen(name));
}

static int text(const cbor_item_t *v, char *out, size_t size)
{
    if (!cbor_isa_string(v) || !cbor_string_is_definite(v) || cbor_string_length(v) >= size) {
        return 0;
    }
    memcpy(out, cbor_string_handle(v), cbor_string_length(v));
    out[cbor_string_length(v)] = '\0';
    return 1;
}

tl_status tl_manifest_decode(const uint8_t *data, size_t size, tl_manifest *m)
{
    memset(m, 0, sizeof *m);
    struct cbor_load_result result;
    cbor_item_t *map = cbor_load(data, size, &result);
    if (!map || result.error.code != CBOR_ERR_NONE || !cbor_isa_map(map) || !cbor_map_is_definite(map)) {
        if (map) {
            cbor_decref(&map);
        }
        return TL_ERR_FORMAT;
    }
    const struct cbor_pair *p = cbor_map_handle(map);
    int seen = 0, ok = 1;
    for (size_t i = 0; ok && i < cbor_map_size(map); ++i) {
        const cbor_item_t *k = p[i].key, *v = p[i].value;
        if (key_is(k, "model")) {
            ok = text(v, m->model, sizeof m->model), seen |= 1;
        } else if (key_is(k, "variant")) {
            ok = text(v, m->variant, sizeof m->variant), seen |= 2;
        } else if (key_is(k, "version")) {
            ok = cbor_isa_uint(v) && cbor_get_int(v) <= 0x7fffffff, seen |= 4;
            m->version = ok ? (int)cbor_get_int(v) : 0;
        } else if (key_is(k, "bytes")) {
            ok = cbor_isa_uint(v), seen |= 8;
            m->bytes = ok ? cbor_get_int(v) : 0;
        } else if (key_is(k, "sha256")) {
            ok = cbor_isa_bytestring(v) && cbor_bytestring_is_definite(v) && cbor_bytestring_length(v) == 32;
            if (ok) {
                memcpy(m->sha256, cbor_bytestring_handle(v), 32);
            }
            seen |= 16;
        } else if (key_is(k, "accuracy") && cbor_isa_float_ctrl(v) && cbor_float_get_width(v) != CBOR_FLOAT_0) {
            m->accuracy = (float)cbor_float_get_float(v);
        } else if (key_is(k, "signed") && cbor_isa_float_ctrl(v) && cbor_is_bool(v)) {
            m->is_signed = cbor_get_bool(v);
        } else if (key_is(k, "tlp_bytes")) {
            ok = cbor_isa_uint(v);
            m->tlp_bytes = ok ? cbor_get_int(v) : 0;
        } else if (key_is(k, "tlp_signature")) {
            ok = cbor_isa_bytestring(v) && cbor_bytestring_is_definite(v) &&
                 (cbor_bytestring_length(v) == 64 || cbor_bytestring_length(v) == 0);
            if (ok && cbor_bytestring_length(v) == 64) {
                memcpy(m->tlp_signature, cbor_bytestring_handle(v), 64);
                m->tlp_signed = 1;
            }
        } else if (key_is(k, "envelope")) {
            ok = cbor_isa_bytestring(v) && cbor_bytestring_is_definite(v) &&
                 cbor_bytestring_length(v) <= sizeof m->envelope;
            if (ok) {
                memcpy(m->envelope, cbor_bytestring_handle(v), cbor_bytestring_length(v));
                m->envelope_size = cbor_bytestring_length(v);
            }
        } else if (key_is(k, "planes")) {
            ok = cbor_isa_uint(v) && cbor_get_int(v) >= 1 && cbor_get_int(v) <= 8;
            m->planes = ok ? (int)cbor_get_int(v) : 0;
        } /* unknown keys are skipped: newer servers may say more */
    }
    cbor_decref(&map);
    return ok && seen == 31 && m->version > 0 ? TL_OK : TL_ERR_FORMAT;
}

/* Serialises `item` into out (capacity bytes); 0 if it does not fit. */
static size_t serialize_into(const cbor_item_t *item, uint8_t *out, size_t capacity)
{
    return item ? cbor_serialize(item, out, capacity) : 0;
}

static int put(cbor_item_t *map, uint8_t key, cbor_item_t *value)
{
    if (!value) {
        return 0;
    }
    return cbor_map_add(map, (struct cbor_pair){ .key = cbor_move(cbor_build_uint8(key)), .value = cbor_move(value) });
}

static int text_fits(const char *s, size_t max)
{
    const size_t n = strlen(s);
    return n > 0 && n <= max;
}

tl_status tl_manifest_seal(const tl_signed_manifest *m, const uint8_t *secret_key, uint8_t *out, size_t capacity,
                           size_t *size)
{
    *size = 0;
    if (!text_fits(m->model, TL_MANIFEST_MAX_MODEL) || !text_fits(m->variant, TL_MANIFEST_MAX_VARIANT) ||
        !text_fits(m->target, TL_MANIFEST_MAX_TARGET) || m->version == 0 || m->version > 0x7fffffffu || m->size == 0) {
        return TL_ERR_ARG;
    }
    /* The payload: integer keys in ascending order (update.h). */
    cbor_item_t *map = cbor_new_definite_map(m->stream_size ? 9 : 7);
    int ok = map && put(map, TL_MANIFEST_MODEL, cbor_build_string(m->model)) &&
             put(map, TL_MANIFEST_VERSION, cbor_build_uint32(m->version)) &&
             put(map, TL_MANIFEST_VARIANT, cbor_build_string(m->variant)) &&
             put(map, TL_MANIFEST_SEQUENCE, cbor_build_uint64(m->sequence)) &&
             put(map, TL_MANIFEST_SIZE, cbor_build_uint32(m->size)) &&
             put(map, TL_MANIFEST_DIGEST, cbor_build_bytestring(m->digest, 32)) &&
             put(map, TL_MANIFEST_TARGET, cbor_build_string(m->target));
    if (ok && m->stream_size) {
        ok = put(map, TL_MANIFEST_STREAM_SIZE, cbor_build_uint32(m->stream_size)) &&
             put(map, TL_MANIFEST_STREAM_HEADER, cbor_build_bytestring(m->stream_header_digest, 32));
    }
    uint8_t payload[TL_MANIFEST_MAX_ENVELOPE], to_sign[TL_MANIFEST_MAX_ENVELOPE + 32], signature[64] = { 0 };
    const size_t payload_size = ok ? serialize_into(map, payload, sizeof payload) : 0;
    if (map) {
        cbor_decref(&map);
    }
    if (!payload_size) {
        return TL_ERR_ARG;
    }
    const uint8_t *protected_bytes = (const uint8_t *)(secret_key ? TL_MANIFEST_PROTECTED : "");
    const size_t protected_size = secret_key ? TL_MANIFEST_PROTECTED_SIZE : 0;
    if (secret_key) {
        /* Sig_structure = ["Signature1", protected, external_aad, payload] */
        cbor_item_t *sig = cbor_new_definite_array(4);
        ok = sig && cbor_array_push(sig, cbor_move(cbor_build_string("Signature1"))) &&
             cbor_array_push(sig, cbor_move(cbor_build_bytestring(protected_bytes, protected_size))) &&
             cbor_array_push(sig, cbor_move(cbor_build_bytestring(payload, 0))) &&
             cbor_array_push(sig, cbor_move(cbor_build_bytestring(payload, payload_size)));
        const size_t n = ok ? serialize_into(sig, to_sign, sizeof to_sign) : 0;
        if (sig) {
            cbor_decref(&sig);
        }
        if (!n || crypto_sign_detached(signature, NULL, to_sign, n, secret_key) != 0) {
            return TL_ERR_ARG;
        }
    }
    cbor_item_t *envelope = cbor_new_definite_array(4);
    ok = envelope && cbor_array_push(envelope, cbor_move(cbor_build_bytestring(protected_bytes, protected_size))) &&
         cbor_array_push(envelope, cbor_move(cbor_new_definite_map(0))) &&
         cbor_array_push(envelope, cbor_move(cbor_build_bytestring(payload, payload_size))) &&
         cbor_array_push(envelope, cbor_move(cbor_build_bytestring(signature, secret_key ? 64 : 0)));
    cbor_item_t *tagged = ok ? cbor_build_tag(18, envelope) : NULL; /* COSE_Sign1 */
    const size_t n = tagged ? serialize_into(tagged, out, capacity) : 0;
    if (tagged) {
        cbor_decref(&tagged);
    }
    if (envelope) {
        cbor_decref(&envelope);
    }
    if (!n) {
        return TL_ERR_ARG;
    }
    *size = n;
    return TL_OK;
}

static int hex_value(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

int tl_psk_read(const char *path, tl_psk *entries, int capacity, char *error, size_t error_size)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(error, error_size, "%s: cannot open the pre-shared key file", path);
        return -1;
    }
    char line[512];
    int count = 0, number = 0;
    while (fgets(line, sizeof line, f)) {
        ++number;
        char *hash = strchr(line, '#');
        if (hash) {
            *hash = '\0';
        }
        char id[128], hex[200], role[32] = "";
        const int n = sscanf(line, "%127s %199s %31s", id, hex, role);
        if (n <= 0) {
            continue;
        }
        const size_t hl = n >= 2 ? strlen(hex) : 0;
        if (n < 2 || strlen(id) >= sizeof entries[0].identity || hl < 8 || hl % 2 || hl / 2 > sizeof entries[0].key ||
            (n == 3 && strcmp(role, "operator") != 0) || count >= capacity) {
            snprintf(error, error_size, "%s:%d: expected 'identity hex-key [operator]' (key 4..64 bytes)%s", path,
                     number, count >= capacity ? ", or too many entries" : "");
            fclose(f);
            return -1;
        }
        tl_psk *e = &entries[count];
        memset(e, 0, sizeof *e);
        memcpy(e->identity, id, strlen(id) + 1); /* length checked above */
        for (size_t i = 0; i < hl / 2; ++i) {
            const int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
            if (hi < 0 || lo < 0) {
                snprintf(error, error_size, "%s:%d: the key is not hexadecimal", path, number);
                fclose(f);
                return -1;
            }
            e->key[i] = (uint8_t)(hi * 16 + lo);
        }
        e->key_size = hl / 2;
        e->operator_role = n == 3;
        ++count;
    }
    fclose(f);
    return count;
}
