/* update.h - how a device takes a new model: the signed manifest and the
 * update state machine (src/device/update/), C99, no heap, no stdio.
 *
 * The edge offers a model with a signed manifest, in the spirit of IETF
 * SUIT (RFC 9019/9124): a COSE_Sign1 structure (RFC 9052, EdDSA) whose
 * payload names the model, its version and variant, a sequence number the
 * publisher only ever raises, the size and SHA-256 digest of the model,
 * the class of device it is built for and, for a progressive (.tlp) form,
 * the size of the stream and the digest of its header (which holds the
 * digest of every prefix). One signature covers all of it.
 *
 * The state machine is fed that manifest and then the model's 1024-byte
 * blocks, in any order and with repeats, as a radio delivers them. It
 * writes them into the slot that is not running (or a staging region for a
 * progressive stream), keeps a record of what it has in the caller's flash
 * so a download resumes after a power cut or a broken link, decodes
 * progressive prefixes as soon as they are whole, and installs only a model
 * whose digest and structure check out and whose sequence number is not
 * older than one the device already ran under that name. The running model
 * is never touched until then. Flash, the record's storage and the clock
 * are the caller's, through tl_update_io.
 *
 * docs/protocol.md gives the byte layout of the manifest.
 */
#ifndef TINYLARGE_UPDATE_H
#define TINYLARGE_UPDATE_H

#include <stddef.h>
#include <stdint.h>

#include "tinylarge/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the signed manifest ---- */

/* Keys of the manifest payload, a CBOR map with integer keys. */
typedef enum tl_manifest_key {
    TL_MANIFEST_MODEL = 1,          /* text, at most 63 bytes */
    TL_MANIFEST_VERSION = 2,        /* unsigned, 1 .. 2^31 - 1 */
    TL_MANIFEST_VARIANT = 3,        /* text, at most 31 bytes */
    TL_MANIFEST_SEQUENCE = 4,       /* unsigned, raised by every publication */
    TL_MANIFEST_SIZE = 5,           /* the .tlm's bytes */
    TL_MANIFEST_DIGEST = 6,         /* 32 bytes: the .tlm's digest, as its trailer holds it */
    TL_MANIFEST_TARGET = 7,         /* text: the device class it is built for, or "any" */
    TL_MANIFEST_STREAM_SIZE = 8,    /* the .tlp stream's bytes (absent or 0: none) */
    TL_MANIFEST_STREAM_HEADER = 9   /* 32 bytes: SHA-256 of the stream's header */
} tl_manifest_key;

#define TL_MANIFEST_MAX_MODEL 63u
#define TL_MANIFEST_MAX_VARIANT 31u
#define TL_MANIFEST_MAX_TARGET 31u
/* The whole COSE_Sign1 envelope: a payload of at most ~250 bytes, framing
 * and a 64-byte signature. */
#define TL_MANIFEST_MAX_ENVELOPE 512u
/* The COSE protected header every signed manifest carries: {1: -8}, the
 * algorithm EdDSA. */
#define TL_MANIFEST_PROTECTED "\xa1\x01\x27"
#define TL_MANIFEST_PROTECTED_SIZE 3u
#define TL_MANIFEST_ANY_TARGET "any"

typedef struct tl_signed_manifest {
    char model[TL_MANIFEST_MAX_MODEL + 1];
    uint32_t version;
    char variant[TL_MANIFEST_MAX_VARIANT + 1];
    uint64_t sequence;
    uint32_t size;
    uint8_t digest[32];
    char target[TL_MANIFEST_MAX_TARGET + 1];
    uint32_t stream_size;           /* 0: no progressive form */
    uint8_t stream_header_digest[32];
    int has_signature;              /* the envelope carries a 64-byte signature */
    int is_signed;                  /* ... and it held under the key given */
} tl_signed_manifest;

/* Reads a COSE_Sign1 envelope and, with public_key, checks its signature
 * over the COSE Sig_structure (is_signed = 1). Without a key nothing is
 * checked and is_signed is 0: only an insecure device reads manifests so.
 * TL_ERR_FORMAT: not a well-formed manifest (a required field missing, a
 * field too long or of the wrong type, bytes after the envelope);
 * TL_ERR_SIGNATURE: a key is given and the envelope is unsigned, signed
 * under another algorithm, or the signature does not hold (the fields are
 * then left as read, has_signature among them, and are not to be trusted). */
tl_status tl_manifest_open(const uint8_t *envelope, size_t size, const uint8_t *public_key,
                           tl_signed_manifest *manifest);

/* ---- the update state machine ---- */

#define TL_UPDATE_BLOCK_BYTES 1024u     /* CoAP Block2 with SZX 6 (RFC 7959) */
#define TL_UPDATE_MAX_BLOCKS 8192u      /* the largest download a record tracks: 8 MiB */
#define TL_UPDATE_NAMES 8u              /* model names whose highest sequence is remembered */
#define TL_UPDATE_NO_SLOT 0xFFFFFFFFu
#define TL_UPDATE_NO_BLOCK 0xFFFFFFFFu
#define TL_UPDATE_RECORD_MAGIC "TLUR"
#define TL_UPDATE_RECORD_FORMAT 1u

/* Flash regions the caller provides: the two model slots and, for
 * progressive streams, a staging region the stream is received into. */
typedef enum tl_update_region {
    TL_REGION_SLOT_A = 0,
    TL_REGION_SLOT_B = 1,
    TL_REGION_STAGING = 2
} tl_update_region;

/* What the device keeps in flash: the running model, the highest sequence
 * seen per name, and the download in progress. The caller stores it as it
 * is given (save) and hands it back at start; the `check` digest tells a
 * torn write (keep two copies and start from the newest good one). */
typedef struct tl_update_record {
    char magic[4];                  /* "TLUR" */
    uint32_t format;                /* TL_UPDATE_RECORD_FORMAT */
    uint32_t counter;               /* raised by every save: the newer copy wins */
    uint32_t active;                /* TL_REGION_SLOT_A/B or TL_UPDATE_NO_SLOT */
    uint32_t active_size;
    uint32_t active_version;
    uint64_t active_sequence;
    char active_model[TL_MANIFEST_MAX_MODEL + 1];
    char active_variant[TL_MANIFEST_MAX_VARIANT + 1];
    uint8_t active_digest[32];
    struct {
        char model[TL_MANIFEST_MAX_MODEL + 1];
        uint64_t sequence;
        uint32_t last_used;         /* the counter when last raised: the oldest entry makes room */
        uint32_t reserved;
    } highest[TL_UPDATE_NAMES];
    /* The download in progress (envelope_size 0: none). */
    uint32_t envelope_size;
    uint32_t progressive;           /* receiving the .tlp form into staging */
    uint32_t received;              /* blocks marked in `blocks` */
    uint32_t reserved;
    uint8_t envelope[TL_MANIFEST_MAX_ENVELOPE];
    uint8_t blocks[TL_UPDATE_MAX_BLOCKS / 8];
    uint8_t check[32];              /* SHA-256 of everything above */
} tl_update_record;

/* Whether a stored record is whole (magic, format, check digest). */
int tl_update_record_valid(const tl_update_record *record);

typedef enum tl_update_event_kind {
    TL_UPDATE_PREFIX = 1,           /* a progressive prefix decoded: runnable now */
    TL_UPDATE_INSTALLED = 2         /* a verified model is now the running one */
} tl_update_event_kind;

typedef struct tl_update_event {
    tl_update_event_kind kind;
    const uint8_t *model;           /* valid until the next call into the machine */
    uint32_t size;
    uint32_t planes;                /* 1..8 for a prefix, 8 when installed */
    uint32_t elapsed_ms;            /* since the offer that started the download */
    const tl_signed_manifest *manifest;
    /* Installed with densify: the dense form's size, whether it went in
     * instead of the packed model (0: kept as it came: no packed filters,
     * not enough slot or work RAM, or the expansion failed, dense_status). */
    uint32_t dense_size;
    int densified;
    tl_status dense_status;
} tl_update_event;

typedef struct tl_update_io {
    /* Flash: erase (to the erased state) and write within a region; map
     * gives the region's bytes for reading (memory-mapped flash on a
     * microcontroller), 16-byte aligned. */
    tl_status (*erase)(void *user, tl_update_region region, uint32_t offset, uint32_t size);
    tl_status (*write)(void *user, tl_update_region region, uint32_t offset, const void *data, uint32_t size);
    const uint8_t *(*map)(void *user, tl_update_region region);
    uint32_t region_size[3];
    /* Stores the record (all or nothing, as far as the caller can). */
    tl_status (*save)(void *user, const tl_update_record *record);
    uint32_t (*now_ms)(void *user);
    void (*on_event)(void *user, const tl_update_event *event);   /* may be NULL */
    void *user;
} tl_update_io;

typedef struct tl_update_config {
    const uint8_t *public_key;      /* the publisher's Ed25519 key */
    int allow_unsigned;             /* insecure: no key, unsigned manifests taken */
    const char *target;             /* this device's class, e.g. "cortex-m4" */
    /* RAM a progressive stream is decoded into (>= the model's size);
     * NULL: progressive offers are refused, whole models only. */
    uint8_t *work;
    uint32_t work_size;
    uint32_t first_planes;          /* smallest prefix worth running (0: 4) */
    /* Install a pruned or int4 model with its filters made dense int8
     * (tl_model_densify: same answers, the dense kernels' speed) when the
     * dense form fits the slot and the work RAM; else as it came. The
     * record keeps the manifest's digest, so the offer stays "current". */
    int densify;
    uint32_t save_every;            /* blocks between record saves (0: 16) */
} tl_update_config;

/* Why the last offer or block was refused (tl_update.reason). */
typedef enum tl_update_reason {
    TL_REASON_NONE = 0,
    TL_REASON_UNSIGNED,             /* no signature, and the device needs one */
    TL_REASON_BAD_SIGNATURE,
    TL_REASON_MALFORMED,            /* the manifest is not well formed */
    TL_REASON_WRONG_TARGET,
    TL_REASON_ROLLBACK,             /* older than what the device ran under that name */
    TL_REASON_TOO_LARGE,            /* does not fit a slot, the staging region or the record */
    TL_REASON_NO_PROGRESSIVE,       /* a progressive form asked for without one, or without work RAM */
    TL_REASON_BAD_BLOCK,            /* a block of the wrong size or number */
    TL_REASON_BAD_STREAM_HEADER,    /* the stream's header is not the one the manifest signed */
    TL_REASON_BAD_MODEL,            /* the whole download is not the model the manifest names */
    TL_REASON_FLASH                 /* the caller's flash or record storage failed */
} tl_update_reason;

const char *tl_update_reason_str(tl_update_reason reason);

typedef struct tl_update {
    tl_update_config config;
    tl_update_io io;
    tl_update_record record;
    tl_signed_manifest manifest;    /* of the download in progress */
    uint32_t blocks;                /* the download's block count */
    uint32_t held;                  /* every block below this one is held */
    uint32_t started_ms;
    uint32_t planes_run;            /* the largest prefix reported */
    uint32_t unsaved;               /* blocks received since the last save */
    tl_update_reason reason;
    /* The last install's densifying (as its event said). */
    uint32_t dense_size;
    int densified;
    tl_status dense_status;
} tl_update;

/* The machine's word after a step, as one flat record: what a client
 * (in this process, or a gateway across a serial link, update_link.h)
 * needs to go on. */
typedef struct tl_update_state {
    tl_status status;               /* of the step */
    tl_update_reason reason;        /* why, when refused */
    uint32_t verdict;               /* after an offer: tl_update_verdict */
    uint32_t installed;             /* the step installed a model */
    uint32_t next_block;            /* TL_UPDATE_NO_BLOCK: none wanted */
    uint32_t block_count;
    uint32_t received;
    char slot;                      /* the running slot: 'a', 'b', or 0 for none */
    uint32_t is_signed;             /* the download's manifest held under the key */
    uint32_t version;               /* the running model's */
    uint64_t sequence;
    uint32_t size;                  /* the running model's bytes (dense if made so) */
    uint32_t dense_size;            /* the last install's dense form (0: none) */
    uint32_t densified;
    tl_status dense_status;
} tl_update_state;

void tl_update_state_of(const tl_update *update, tl_status status, tl_update_state *state);

/* Starts the machine from a stored record (NULL or invalid: a device with
 * no model). A download in progress in the record is taken up again: its
 * manifest is checked anew and the blocks it holds are kept. */
tl_status tl_update_start(tl_update *update, const tl_update_config *config, const tl_update_io *io,
                          const tl_update_record *saved);

typedef enum tl_update_verdict {
    TL_UPDATE_CURRENT = 1,          /* the device runs this model already */
    TL_UPDATE_FETCH = 2             /* send blocks (tl_update_next_block says which) */
} tl_update_verdict;

/* Offers a manifest; progressive asks for the .tlp form. The same manifest
 * and form as the download in progress resumes it; another starts anew
 * (the running model stays either way). On refusal, a status and
 * update->reason. */
tl_status tl_update_offer(tl_update *update, const uint8_t *envelope, size_t size, int progressive,
                          tl_update_verdict *verdict);

/* Blocks of the download, and the first one still missing
 * (TL_UPDATE_NO_BLOCK: none, or no download). */
uint32_t tl_update_block_count(const tl_update *update);
uint32_t tl_update_next_block(const tl_update *update);

/* One block: block `index` of the download, TL_UPDATE_BLOCK_BYTES long but
 * for the last. A block already held is ignored. When the last one
 * arrives the model is checked and, if it is the one the manifest names,
 * installed (*installed = 1); if not, the download is dropped and the
 * running model stays (TL_ERR_DIGEST or the loader's status). */
tl_status tl_update_block(tl_update *update, uint32_t index, const void *data, uint32_t size, int *installed);

/* Saves the record now (a caller that knows the link broke keeps every
 * block it got, not only those up to the last periodic save). */
tl_status tl_update_checkpoint(tl_update *update);

/* The running model (NULL: none). */
const uint8_t *tl_update_active(const tl_update *update, uint32_t *size);

#ifdef __cplusplus
}
#endif

#endif /* TINYLARGE_UPDATE_H */
