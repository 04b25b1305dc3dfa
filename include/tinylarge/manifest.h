/* manifest.h - what travels between the edge and a device before a download
 * (src/edge/manifest.c): the served manifest (CBOR, the planner's word),
 * the publisher's signed manifest sealed around update.h's fields, and the
 * /plan request, each written and read by one pair of functions. */
#ifndef TINYLARGE_MANIFEST_H
#define TINYLARGE_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "tinylarge/planner.h"
#include "tinylarge/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What a device is told before it downloads: sent as CBOR (docs/planner.md). */
typedef struct tl_manifest {
    char model[64];
    int version;
    char variant[32];
    uint64_t bytes;             /* the .tlm */
    uint8_t sha256[32];         /* its digest */
    float accuracy;
    int is_signed;
    uint64_t tlp_bytes;         /* its progressive stream (0: none) */
    uint8_t tlp_signature[64];  /* Ed25519 over the stream's 304-byte header */
    int tlp_signed;
    int planes;                 /* > 0: the planner wants this prefix run first */
    char then[32];              /* a better variant to fetch once this one runs ("": none) */
    uint16_t fetch_port;        /* the port that serves /model to this device (0: the
                                   one that answered the plan): where, not what, so
                                   no one's signature covers it */
    /* The signed manifest (update.h) the device checks; the fields above
     * are the server's word, this is the publisher's. 0 bytes: a version
     * published before manifests were signed. */
    uint8_t envelope[512];
    size_t envelope_size;
} tl_manifest;

/* The manifest as CBOR (a map with text keys, docs/planner.md). Caller frees. */
tl_status tl_manifest_encode(const tl_manifest *manifest, uint8_t **cbor, size_t *size);
tl_status tl_manifest_decode(const uint8_t *cbor, size_t size, tl_manifest *manifest);

/* What a device asks /plan: its profile, channel, deadline, who it is,
 * the model it wants (or none: by context), and its context pairs. One pair
 * of functions writes and reads the query, so client and server agree on
 * every key (docs/planner.md). */
typedef struct tl_plan_request {
    tl_device_profile profile;  /* flash, ram, macs, jpm, energy, ips, densify */
    double rate_bps;            /* rate */
    double deadline_s;          /* deadline (0: none) */
    char device[64];            /* device */
    char name[64];              /* name */
    char context[512];          /* every other pair, "k=v&k=v" */
} tl_plan_request;

/* "flash=..&ram=..&macs=..&rate=..[&ips=..][&densify=1][&deadline=..]
 * [&jpm=..&energy=..][&device=..][&name=..][&context pairs]".
 * TL_ERR_ARG if it does not fit `size`. */
tl_status tl_plan_request_encode(const tl_plan_request *request, char *query, size_t size);
/* Reads a query ("&"-joined pairs, `length` bytes). Numbers are read
 * whole (a trailing letter, an overflow or a NaN is an error) and checked:
 * flash, ram, macs, rate required; macs and rate positive; the rest not
 * negative; densify 0 or 1. TL_ERR_ARG with the reason in `error`. */
/* Whether the `n` bytes at key name a plan request's own key (its profile,
 * channel, device, name), not a context pair. */
int tl_plan_request_key(const char *key, size_t n);
tl_status tl_plan_request_decode(const char *query, size_t length, tl_plan_request *request, char *error,
                                 size_t error_size);

/* Writes a signed manifest (update.h): a COSE_Sign1 envelope whose EdDSA
 * signature covers every field; secret_key NULL: the same envelope with no
 * signature, which only an insecure device takes. TL_ERR_ARG for a field
 * out of range (empty or too long a name, version 0) or no room in out
 * (TL_MANIFEST_MAX_ENVELOPE bytes always suffice). */
struct tl_signed_manifest;
tl_status tl_manifest_seal(const struct tl_signed_manifest *manifest, const uint8_t *secret_key, uint8_t *out,
                           size_t capacity, size_t *size);

#ifdef __cplusplus
}
#endif

#endif /* TINYLARGE_MANIFEST_H */
