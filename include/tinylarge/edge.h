/* edge.h - the edge server's in-situ model selection (issue 5, in progress).
 *
 * The planner picks, from a model's variant catalogue, the variant that a
 * device should download now: the most accurate one that fits the device's
 * flash and RAM, whose download plus first inference meet the deadline over
 * the current radio channel, and whose inference fits the energy budget.
 * docs/planner.md documents the cost model.
 */
#ifndef TINYLARGE_EDGE_H
#define TINYLARGE_EDGE_H

#include <stddef.h>
#include <stdint.h>

#include "tinylarge/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One row of a catalogue (catalogue.csv from `tinylarge compress`). */
typedef struct tl_variant {
    char name[32];
    int exit;
    float sparsity;
    int bits;
    float accuracy;
    uint64_t bytes;
    uint64_t macs;
    uint64_t arena;
    int64_t m4_instructions;    /* -1 if not measured */
} tl_variant;

typedef struct tl_device_profile {
    uint64_t flash_bytes;       /* room for the model (one slot) */
    uint64_t ram_bytes;         /* room for the arena */
    double macs_per_second;     /* sustained int8 MAC rate */
    double joules_per_mac;      /* energy per MAC (0: not limited) */
    double energy_budget_j;     /* energy allowed per inference (0: not limited) */
} tl_device_profile;

typedef struct tl_channel {
    double bandwidth_hz;        /* with snr_db: rate = efficiency * B * log2(1 + SNR) */
    double snr_db;
    double efficiency;          /* share of the Shannon rate achieved (default 0.5) */
    double measured_bps;        /* > 0: a measured rate, used instead */
    double rtt_s;               /* round trip per block */
    uint32_t block_bytes;       /* CoAP block size (RFC 7959), default 1024 */
} tl_channel;

/* Achievable bits per second of a channel. */
double tl_channel_rate(const tl_channel *channel);

/* Seconds to download `bytes` (payload time + one round trip per block). */
double tl_download_seconds(const tl_channel *channel, uint64_t bytes);

typedef struct tl_plan {
    int index;                  /* chosen variant, or -1 */
    double download_s, inference_s, energy_j;
    char reason[256];           /* why this one, or why none fits */
} tl_plan;

/* Chooses the variant of highest accuracy that fits flash, RAM, deadline
 * (download + first inference, seconds; 0: none) and energy; ties go to
 * fewer bytes, then fewer MACs. TL_ERR_UNSUPPORTED when none fits, with the
 * constraint that excluded the last candidates named in plan->reason. */
tl_status tl_plan_choose(const tl_variant *variants, int count, const tl_device_profile *device,
                         const tl_channel *channel, double deadline_s, tl_plan *plan);

/* Reads catalogue.csv into at most `capacity` variants. */
tl_status tl_catalogue_read_csv(const char *path, tl_variant *variants, int capacity, int *count, char *error,
                                size_t error_size);

/* ---- signing (src/edge/sign.c, Ed25519 via libsodium) ---- */

#define TL_PUBLIC_KEY_BYTES 32
#define TL_SECRET_KEY_BYTES 64

/* Creates a key pair: the secret key file readable by its owner only
 * (created with mode 0600, never overwritten), the public key beside it.
 * Files are one line of hex after a one-line label. */
tl_status tl_keygen(const char *secret_path, const char *public_path);
tl_status tl_key_read(const char *path, int secret, uint8_t *key, char *error, size_t error_size);

/* Signs a model in place: Ed25519 over its 32-byte SHA-256 digest, written
 * into the trailer with key_id = the public key's first 4 bytes. The digest
 * does not cover the trailer, so signing leaves it unchanged. */
tl_status tl_model_sign(uint8_t *model, size_t size, const uint8_t secret_key[TL_SECRET_KEY_BYTES]);

/* Checks the digest (the device loader) and the signature. TL_ERR_SIGNATURE
 * for an unsigned model, another key's or a forged signature. */
tl_status tl_model_verify(const uint8_t *model, size_t size, const uint8_t public_key[TL_PUBLIC_KEY_BYTES]);

/* ---- the model library (src/edge/library.c, SQLite) ---- */

typedef struct tl_library tl_library;

/* Opens (creating if needed) a library file and brings its schema up to
 * date (migrations keyed by PRAGMA user_version). */
tl_status tl_library_open(const char *path, tl_library **library, char *error, size_t error_size);
void tl_library_close(tl_library *library);

/* Publishes a model's catalogue (DIR/catalogue.csv and its .tlm files) as
 * the next version of `name`: every variant stored with its digest, signed
 * with secret_key when not NULL; tags are "key=value" context strings. */
tl_status tl_library_publish(tl_library *library, const char *name, const char *catalogue_dir,
                             const uint8_t *secret_key, const char *const *tags, int tag_count, int *version,
                             char *error, size_t error_size);

/* The latest version's variants of `name` (for the planner). */
tl_status tl_library_variants(tl_library *library, const char *name, tl_variant *variants, int capacity,
                              int *count, int *version, char *error, size_t error_size);

/* One variant's model bytes (caller frees). */
tl_status tl_library_model(tl_library *library, const char *name, int version, const char *variant,
                           uint8_t **data, size_t *size, char *error, size_t error_size);

/* Calls `fn` for every model: name, latest version, variant count, tags. */
tl_status tl_library_list(tl_library *library,
                          void (*fn)(void *ctx, const char *name, int version, int variants, const char *tags),
                          void *ctx, char *error, size_t error_size);

/* Removes a model, every version. TL_ERR_ARG if there is no such model. */
tl_status tl_library_remove(tl_library *library, const char *name, char *error, size_t error_size);

/* ---- CoAP server and device client (src/edge/server.c, device_client.c) ---- */

/* Serves the library on host:port (UDP) until SIGINT/SIGTERM; -1 with a
 * message if it cannot start. */
int tl_serve(const char *db, const char *host, uint16_t port, char *error, size_t error_size);

/* One update round of a device whose model slots live in `slots`: plan,
 * download, verify (signature with public_key, or digest if NULL), install
 * in the inactive slot and switch. msg says what happened. */
tl_status tl_device_update(const char *host, uint16_t port, const char *name, const tl_device_profile *device,
                           double rate_bps, const uint8_t *public_key, const char *slots, char *msg, size_t msg_size);

/* The active slot record: slot letter, version, variant; 0 if none. */
int tl_device_active(const char *slots, char *slot, int *version, char *variant);

#ifdef __cplusplus
}
#endif

#endif /* TINYLARGE_EDGE_H */
