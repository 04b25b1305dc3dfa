/* manifest.c - the manifest a device gets before it downloads, as CBOR
 * (RFC 8949, libcbor): a map with text keys, in the spirit of SUIT; the
 * signed manifest (a COSE_Sign1 envelope, RFC 9052) that the device's
 * update state machine checks (reader: src/device/update/manifest.c); and
 * the pre-shared key file of DTLS identities. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cbor.h>
#include <sodium.h>

#include "tinylarge/manifest.h"
#include "tinylarge/coap.h"
#include "tinylarge/update.h"
#include "tinylarge/host.h"

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
    cbor_item_t *map = cbor_new_definite_map((m->tlp_bytes ? 9 : 7) + (m->planes > 0) + (m->envelope_size > 0) +
                                              (m->fetch_port > 0) + (m->then[0] != '\0'));
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
    if (ok && m->then[0]) {
        ok = add(map, "then", cbor_build_string(m->then));
    }
    if (ok && m->fetch_port > 0) {
        ok = add(map, "port", cbor_build_uint16(m->fetch_port));
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

/* Walks the item heads with libcbor's streaming decoder: every definite
 * array or map must have room for its items in the bytes left (one byte
 * each at least) and every string its bytes. cbor_load allocates what a
 * head claims before reading the items, so a 10-byte input claiming
 * 2^32 items would ask for 32 GB (found by fuzz_edge). */
typedef struct heads {
    size_t left;                    /* bytes after the head being read */
    int fit;
} heads;

static void array_fits(void *ctx, size_t items)
{
    heads *h = ctx;
    h->fit &= items <= h->left;
}

static void map_fits(void *ctx, size_t pairs)
{
    heads *h = ctx;
    h->fit &= pairs <= h->left / 2;
}

static int heads_fit(const uint8_t *data, size_t size)
{
    struct cbor_callbacks callbacks = cbor_empty_callbacks;
    callbacks.array_start = array_fits;
    callbacks.map_start = map_fits;
    heads h = { 0, 1 };
    for (size_t at = 0; at < size && h.fit;) {
        h.left = size - at;
        const struct cbor_decoder_result r = cbor_stream_decode(data + at, size - at, &callbacks, &h);
        if (r.status != CBOR_DECODER_FINISHED || r.read == 0) {
            return 0; /* malformed, or a string longer than what is left */
        }
        at += r.read;
        h.left = size - at;
    }
    return h.fit;
}

tl_status tl_manifest_decode(const uint8_t *data, size_t size, tl_manifest *m)
{
    memset(m, 0, sizeof *m);
    if (!heads_fit(data, size)) {
        return TL_ERR_FORMAT;
    }
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
        } else if (key_is(k, "signed") && cbor_isa_float_ctrl(v) && cbor_float_get_width(v) == CBOR_FLOAT_0 &&
                   cbor_is_bool(v)) { /* cbor_is_bool asserts on a float: a half-float "signed" aborted the device */
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
        } else if (key_is(k, "then")) {
            ok = text(v, m->then, sizeof m->then) && m->then[0];
        } else if (key_is(k, "port")) {
            ok = cbor_isa_uint(v) && cbor_get_int(v) >= 1 && cbor_get_int(v) <= 65535;
            m->fetch_port = ok ? (uint16_t)cbor_get_int(v) : 0;
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

/* ---- the /plan query ---- */

tl_status tl_plan_request_encode(const tl_plan_request *r, char *query, size_t size)
{
    const tl_device_profile *d = &r->profile;
    /* %.17g: every number reads back as it was (a rate of 0.5 bit/s
     * written as "0" would be refused by the server). */
    int n = snprintf(query, size, "flash=%llu&ram=%llu&macs=%.17g&rate=%.17g", (unsigned long long)d->flash_bytes,
                     (unsigned long long)d->ram_bytes, d->macs_per_second, r->rate_bps);
    if (n >= 0 && (size_t)n < size && d->instructions_per_second > 0) {
        n += snprintf(query + n, size - (size_t)n, "&ips=%.17g", d->instructions_per_second);
    }
    if (n >= 0 && (size_t)n < size && d->densify) {
        n += snprintf(query + n, size - (size_t)n, "&densify=1");
    }
    if (n >= 0 && (size_t)n < size && r->deadline_s > 0) {
        n += snprintf(query + n, size - (size_t)n, "&deadline=%.17g", r->deadline_s);
    }
    if (n >= 0 && (size_t)n < size && d->joules_per_mac > 0 && d->energy_budget_j > 0) {
        n += snprintf(query + n, size - (size_t)n, "&jpm=%.17g&energy=%.17g", d->joules_per_mac, d->energy_budget_j);
    }
    if (n >= 0 && (size_t)n < size && r->device[0]) {
        n += snprintf(query + n, size - (size_t)n, "&device=%s", r->device);
    }
    if (n >= 0 && (size_t)n < size && r->name[0]) {
        n += snprintf(query + n, size - (size_t)n, "&name=%s", r->name);
    }
    if (n >= 0 && (size_t)n < size && r->context[0]) {
        n += snprintf(query + n, size - (size_t)n, "&%s", r->context);
    }
    return n >= 0 && (size_t)n < size ? TL_OK : TL_ERR_ARG;
}

/* A whole, finite, non-negative number. */
static int read_number(const char *text, double *out)
{
    if (!text[0]) {
        return 0;
    }
    char *end;
    errno = 0;
    const double v = strtod(text, &end);
    if (*end || errno == ERANGE || !isfinite(v) || v < 0) {
        return 0;
    }
    *out = v;
    return 1;
}

/* Every key of a plan request that is not context: numbers[] first, in the
 * order decode stores them. */
static const char *const plan_keys[] = { "flash", "ram", "macs", "rate", "deadline", "jpm", "energy", "ips",
                                         "densify", "device", "name", "form" };
enum { PLAN_NUMBERS = 8, PLAN_KEYS = sizeof plan_keys / sizeof plan_keys[0] };

static int plan_key_index(const char *key, size_t n)
{
    for (int i = 0; i < PLAN_KEYS; ++i) {
        if (strlen(plan_keys[i]) == n && !strncmp(plan_keys[i], key, n)) {
            return i;
        }
    }
    return -1;
}

int tl_plan_request_key(const char *key, size_t n)
{
    return plan_key_index(key, n) >= 0;
}

tl_status tl_plan_request_decode(const char *query, size_t length, tl_plan_request *r, char *error,
                                 size_t error_size)
{
    memset(r, 0, sizeof *r);
    if (memchr(query, '\0', length)) {
        snprintf(error, error_size, "the query holds a NUL byte");
        return TL_ERR_ARG; /* everything after it would be read as gone */
    }
    unsigned seen = 0;
    size_t used = 0;
    for (const char *p = query, *end = query + length; p && p < end;) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(stop - p));
        char key[16] = "", value[128];
        const size_t key_len = eq ? (size_t)(eq - p) : 0, value_len = eq ? (size_t)(stop - eq - 1) : 0;
        if (eq && key_len > 0 && key_len < sizeof key && value_len < sizeof value) {
            memcpy(key, p, key_len);
            key[key_len] = '\0';
            memcpy(value, eq + 1, value_len);
            value[value_len] = '\0';
        }
        const int index = key[0] ? plan_key_index(key, strlen(key)) : -1;
        const int which = index < PLAN_NUMBERS ? index : -1;
        double v = 0;
        uint64_t bytes = 0;
        if (which >= 0) {
            const int ok = which <= 1 ? tl_text_digits(value, UINT64_MAX, &bytes) : read_number(value, &v);
            if (!ok) {
                snprintf(error, error_size, "%s= takes %s, not '%.40s'", key,
                         which <= 1 ? "a whole number of bytes" : "a non-negative number", value);
                return TL_ERR_ARG;
            }
            seen |= 1u << which;
            switch (which) {
            case 0: r->profile.flash_bytes = bytes; break;
            case 1: r->profile.ram_bytes = bytes; break;
            case 2: r->profile.macs_per_second = v; break;
            case 3: r->rate_bps = v; break;
            case 4: r->deadline_s = v; break;
            case 5: r->profile.joules_per_mac = v; break;
            case 6: r->profile.energy_budget_j = v; break;
            default: r->profile.instructions_per_second = v; break;
            }
        } else if (!strcmp(key, "densify")) {
            if (strcmp(value, "0") != 0 && strcmp(value, "1") != 0) {
                snprintf(error, error_size, "densify takes 0 or 1");
                return TL_ERR_ARG;
            }
            r->profile.densify = value[0] == '1';
        } else if (!strcmp(key, "device") || !strcmp(key, "name")) {
            char *dst = key[0] == 'd' ? r->device : r->name;
            if (value_len >= 64) {
                snprintf(error, error_size, "%s= is longer than 63 bytes", key);
                return TL_ERR_ARG;
            }
            memcpy(dst, value, value_len + 1);
        } else if (strcmp(key, "form") != 0 && stop > p) {
            /* a context pair, kept as it came: key=value, nothing else */
            const size_t n = (size_t)(stop - p);
            if (!eq || key_len == 0) {
                snprintf(error, error_size, "context pair '%.*s' is not key=value", (int)(n < 40 ? n : 40), p);
                return TL_ERR_ARG;
            }
            if (used + n + 2 > sizeof r->context) {
                snprintf(error, error_size, "context too long");
                return TL_ERR_ARG;
            }
            used += (size_t)snprintf(r->context + used, sizeof r->context - used, "%s%.*s", used ? "&" : "", (int)n, p);
        }
        p = amp ? amp + 1 : NULL;
    }
    if ((seen & 15u) != 15u) {
        snprintf(error, error_size, "plan needs flash, ram, macs and rate (and a name or a context)");
        return TL_ERR_ARG;
    }
    if (!(r->rate_bps > 0) || !(r->profile.macs_per_second > 0)) {
        snprintf(error, error_size, "rate and macs must be positive, jpm, energy and ips not negative");
        return TL_ERR_ARG;
    }
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
