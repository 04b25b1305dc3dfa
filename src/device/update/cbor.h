/* cbor.h - the little of CBOR (RFC 8949) a device needs to read a signed
 * manifest: definite-length items only, no floats, no heap. Every read
 * checks the input's end; a malformed item makes the reader fail, never
 * read past the buffer. */
#ifndef TL_DEVICE_CBOR_H
#define TL_DEVICE_CBOR_H

#include <stddef.h>
#include <stdint.h>

typedef struct tl_cbor {
    const uint8_t *at, *end;
} tl_cbor;

enum { TL_CBOR_UINT = 0, TL_CBOR_NINT = 1, TL_CBOR_BYTES = 2, TL_CBOR_TEXT = 3, TL_CBOR_ARRAY = 4,
       TL_CBOR_MAP = 5, TL_CBOR_TAG = 6, TL_CBOR_SIMPLE = 7 };

/* The next item's major type and argument (a length, count, value or tag);
 * 0 on malformed or indefinite-length input. */
int tl_cbor_head(tl_cbor *c, int *major, uint64_t *argument);
/* A byte or text string: where its bytes are and how many. */
int tl_cbor_string(tl_cbor *c, int major, const uint8_t **bytes, size_t *size);
int tl_cbor_uint(tl_cbor *c, uint64_t *value);
/* Skips one whole item, nested at most `depth` deep. */
int tl_cbor_skip(tl_cbor *c, int depth);

#endif /* TL_DEVICE_CBOR_H */
