/* cbor.c - a bounds-checked CBOR reader for the device (see cbor.h). */
#include "cbor.h"

int tl_cbor_head(tl_cbor *c, int *major, uint64_t *argument)
{
    if (c->at >= c->end) {
        return 0;
    }
    const uint8_t first = *c->at++;
    const unsigned info = first & 31u;
    *major = first >> 5;
    if (info < 24) {
        *argument = info;
        return 1;
    }
    if (info > 27) {
        return 0; /* reserved, or an indefinite length: not in a manifest */
    }
    const size_t n = (size_t)1 << (info - 24);
    if ((size_t)(c->end - c->at) < n) {
        return 0;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) {
        v = v << 8 | *c->at++;
    }
    *argument = v;
    return 1;
}

int tl_cbor_string(tl_cbor *c, int major, const uint8_t **bytes, size_t *size)
{
    int got;
    uint64_t n;
    if (!tl_cbor_head(c, &got, &n) || got != major || (major != TL_CBOR_BYTES && major != TL_CBOR_TEXT) ||
        n > (uint64_t)(c->end - c->at)) {
        return 0;
    }
    *bytes = c->at;
    *size = (size_t)n;
    c->at += n;
    return 1;
}

int tl_cbor_uint(tl_cbor *c, uint64_t *value)
{
    int major;
    return tl_cbor_head(c, &major, value) && major == TL_CBOR_UINT;
}

int tl_cbor_skip(tl_cbor *c, int depth)
{
    int major;
    uint64_t n;
    if (depth < 0 || !tl_cbor_head(c, &major, &n)) {
        return 0;
    }
    switch (major) {
    case TL_CBOR_BYTES:
    case TL_CBOR_TEXT:
        if (n > (uint64_t)(c->end - c->at)) {
            return 0;
        }
        c->at += n;
        return 1;
    case TL_CBOR_ARRAY:
    case TL_CBOR_MAP: {
        /* Each element is at least one byte: a count beyond what is left is
         * malformed, and the loop stays bounded by the input. */
        const uint64_t items = major == TL_CBOR_MAP ? 2 * n : n;
        if (n > (uint64_t)(c->end - c->at) || items > (uint64_t)(c->end - c->at)) {
            return 0;
        }
        for (uint64_t i = 0; i < items; ++i) {
            if (!tl_cbor_skip(c, depth - 1)) {
                return 0;
            }
        }
        return 1;
    }
    case TL_CBOR_TAG:
        return tl_cbor_skip(c, depth - 1);
    default: /* integers and simple values carry no more bytes than their head */
        return 1;
    }
}
