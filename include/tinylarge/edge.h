/* edge.h - the edge server's in-situ model selection and delivery.
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
    /* The smallest progressive prefix within a point of the whole (0: none):
     * a device can run it after prefix_bytes of the .tlp stream. */
    uint32_t prefix_planes;
    uint64_t prefix_bytes;
    float prefix_accuracy;
    /* A pruned or int4 variant's dense int8 form (tl_model_densify), which a
     * densifying device installs when it fits the flash: its bytes (0: the
     * variant has no packed filters) and M4 instructions (-1: not measured).
     * The arena is the same. */
    uint64_t dense_bytes;
    int64_t dense_m4_instructions;
} tl_variant;

typedef struct tl_device_profile {
    uint64_t flash_bytes;       /* room for the model (one slot) */
    uint64_t ram_bytes;         /* room for the arena */
    double macs_per_second;     /* sustained int8 MAC rate */
    double joules_per_mac;      /* energy per MAC (0: not limited) */
    double energy_budget_j;     /* energy allowed per inference (0: not limited) */
    /* > 0: instructions per second (a Cortex-M4 at f Hz: about f). When
     * every variant of the catalogue has measured m4_instructions, they time
     * the inference instead of its MACs: a sparse or int4 kernel does fewer
     * or the same MACs in more instructions. */
    double instructions_per_second;
    /* The device makes packed variants dense when the dense form fits its
     * flash (`tinylarge device --densify`): those run as dense int8. */
    int densify;
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
    int prefix_planes;          /* > 0: run this progressive prefix first (the deadline is met by it) */
    double download_s, inference_s, energy_j;
    int by_instructions;        /* inference timed by measured M4 instructions, not MACs */
    uint64_t dense_bytes;       /* > 0: the device will install the dense form, this big */
    char reason[256];           /* why this one, or why none fits */
} tl_plan;

/* Chooses the variant of highest accuracy that fits flash, RAM, deadline
 * (download + first inference, seconds; 0: none) and energy; ties go to
 * fewer bytes, then the faster inference. Inference takes MACs / MAC rate,
 * or instructions / instruction rate (see tl_device_profile); energy is that
 * time at the device's power, MAC rate * joules per MAC. A variant with a progressive prefix is also
 * a candidate as that prefix (first inference after prefix_bytes, at
 * prefix_accuracy): it wins only where the whole variant would miss the
 * deadline. TL_ERR_UNSUPPORTED when none fits, with the constraint that
 * excluded the last candidates named in plan->reason. */
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

/* Writes a signed manifest (update.h): a COSE_Sign1 envelope whose EdDSA
 * signature covers every field; secret_key NULL: the same envelope with no
 * signature, which only an insecure device takes. TL_ERR_ARG for a field
 * out of range (empty or too long a name, version 0) or no room in out
 * (TL_MANIFEST_MAX_ENVELOPE bytes always suffice). */
struct tl_signed_manifest;
tl_status tl_manifest_seal(const struct tl_signed_manifest *manifest, const uint8_t *secret_key, uint8_t *out,
                           size_t capacity, size_t *size);

/* Checks the digest (the device loader) and the signature. TL_ERR_SIGNATURE
 * for an unsigned model, another key's or a forged signature. */
tl_status tl_model_verify(const uint8_t *model, size_t size, const uint8_t public_key[TL_PUBLIC_KEY_BYTES]);

/* ---- the model library (src/edge/library.c; backends in db_sqlite.c, db_pg.c) ---- */

typedef struct tl_library tl_library;

/* Opens (creating if needed) a library and brings its schema up to date
 * (numbered migrations). `target` is a SQLite file, or a PostgreSQL
 * connection string ("postgresql://...", "host=... dbname=..."). */
tl_status tl_library_open(const char *target, tl_library **library, char *error, size_t error_size);
void tl_library_close(tl_library *library);

/* Publishes a model's catalogue (DIR/catalogue.csv and its .tlm files) as
 * the next version of `name`: every variant stored with its digest and its
 * progressive (.tlp) form; with secret_key, each model is signed and each
 * .tlp header (which holds the digest of every prefix) gets a detached
 * signature. tags are "key=value" context strings. All or nothing. */
tl_status tl_library_publish(tl_library *library, const char *name, const char *catalogue_dir,
                             const uint8_t *secret_key, const char *const *tags, int tag_count, int *version,
                             char *error, size_t error_size);

/* The latest version's variants of `name` (for the planner). */
tl_status tl_library_variants(tl_library *library, const char *name, tl_variant *variants, int capacity,
                              int *count, int *version, char *error, size_t error_size);

/* One variant's bytes, the .tlm or (progressive != 0) its .tlp stream;
 * 16-byte aligned, caller frees. */
tl_status tl_library_model(tl_library *library, const char *name, int version, const char *variant,
                           int progressive, uint8_t **data, size_t *size, char *error, size_t error_size);

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
    /* The signed manifest (update.h) the device checks; the fields above
     * are the server's word, this is the publisher's. 0 bytes: a version
     * published before manifests were signed. */
    uint8_t envelope[512];
    size_t envelope_size;
} tl_manifest;

tl_status tl_library_manifest(tl_library *library, const char *name, int version, const char *variant,
                              tl_manifest *manifest, char *error, size_t error_size);

/* The model for a context "key=value&key=value": one whose tags all hold in
 * the context; the most specific (most tags) wins. TL_ERR_ARG if none. */
tl_status tl_library_match(tl_library *library, const char *context, char *name, size_t name_size, char *error,
                           size_t error_size);

/* How well a model's tags ("k=v,k=v", as tl_library_list gives them) fit
 * a context ("k=v&k=v"): the number of tags if all hold, else -1. */
int tl_context_fit(const char *context, const char *tags);

/* A number that changes whenever a version is published or removed (the
 * server polls it to notify observers of a better variant). */
tl_status tl_library_generation(tl_library *library, int64_t *generation);

/* Calls `fn` for every model: name, latest version, variant count, tags. */
tl_status tl_library_list(tl_library *library,
                          void (*fn)(void *ctx, const char *name, int version, int variants, const char *tags),
                          void *ctx, char *error, size_t error_size);

/* Removes a model, every version. TL_ERR_ARG if there is no such model. */
tl_status tl_library_remove(tl_library *library, const char *name, char *error, size_t error_size);

/* ---- CoAP server and device client (src/edge/server.c, device_client.c, manifest.c) ---- */

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
tl_status tl_plan_request_decode(const char *query, size_t length, tl_plan_request *request, char *error,
                                 size_t error_size);

/* Reads a pre-shared key file: lines "identity hex-key [operator]"; '#'
 * starts a comment. Returns the number of entries (< 0: error). */
typedef struct tl_psk {
    char identity[64];
    uint8_t key[64];
    size_t key_size;
    int operator_role;          /* may set other devices' context */
} tl_psk;
int tl_psk_read(const char *path, tl_psk *entries, int capacity, char *error, size_t error_size);

typedef struct tl_serve_options {
    const char *library;        /* SQLite file or PostgreSQL connection string */
    const char *host;           /* default 127.0.0.1 */
    uint16_t port;              /* default 5683 (5684 with DTLS) */
    const char *psk_file;       /* non-NULL: DTLS with these identities only */
    double poll_seconds;        /* how often to look for new versions (default 1) */
    int quiet;
} tl_serve_options;

/* Serves the library until SIGINT/SIGTERM; -1 with a message if it cannot
 * start. Resources: /plan (observable), /model (block-wise), /context. */
int tl_serve(const tl_serve_options *options, char *error, size_t error_size);

/* What the device client reports as it goes (may be NULL). */
typedef void (*tl_device_log_fn)(void *ctx, const char *line);
/* Called whenever a model becomes runnable: a progressive prefix of
 * `planes` planes (< 8) or a complete, verified model (planes 8). */
typedef void (*tl_device_model_fn)(void *ctx, const uint8_t *model, size_t size, const tl_manifest *manifest,
                                   int planes, double seconds);

typedef struct tl_device_options {
    const char *host;
    uint16_t port;
    const char *device_id;      /* names the device to the server (context) */
    const char *name;           /* a model by name, or NULL: chosen by context */
    const char *context;        /* "task=fashion&location=hall" */
    tl_device_profile profile;
    double rate_bps;            /* channel rate reported to the planner */
    double deadline_s;          /* download + first inference (0: none) */
    double link_bps;            /* > 0: emulate a link this slow (paces blocks) */
    const uint8_t *public_key;  /* the publisher's; NULL only with insecure */
    int insecure;               /* take unsigned manifests (no key): a choice made on purpose */
    const char *slots;          /* folder with the two slots */
    /* Or a gateway: the update machine runs on a device reached over a
     * serial link, this Unix socket (QEMU's -serial unix:PATH); with
     * run_remote, the device runs its model at the end and its output is
     * logged ("output: ..."). */
    const char *uart;
    int run_remote;
    const tl_psk *psk;          /* non-NULL: DTLS with this identity */
    int progressive;            /* download the .tlp stream; run prefixes */
    int first_planes;           /* smallest prefix worth running (default 4) */
    int densify;                /* install a sparse model's dense form when it fits the flash */
    double watch_seconds;       /* > 0: observe /plan this long and follow */
    int max_updates;            /* stop watching after this many installs (0: none) */
    double block_timeout_s;     /* no answer for this long: give up (default 10) */
    tl_device_log_fn log;
    tl_device_model_fn on_model;
    void *ctx;
} tl_device_options;

/* Update rounds of a device, through the device's update state machine
 * (update.h) over files in `slots`: plan, offer the signed manifest,
 * download into the inactive slot (resuming a broken transfer), verify
 * digest and signature, refuse a rollback, switch; with watch_seconds,
 * follow Observe notifications. msg says how the last round ended. */
tl_status tl_device_run(const tl_device_options *options, char *msg, size_t msg_size);

/* POSTs K=V pairs ("a=1&b=2"; NULL: just GET) to /context for `device`;
 * reply gets the device's context as the server now holds it, or why not. */
tl_status tl_context_set(const char *host, uint16_t port, const tl_psk *psk, const char *device, const char *pairs,
                         char *reply, size_t reply_size);

/* The running model as the device's update record says: slot letter,
 * version, variant[40] and model[64] (may be NULL); 0 if none. */
int tl_device_active(const char *slots, char *slot, int *version, char *variant, char *model);

#ifdef __cplusplus
}
#endif

#endif /* TINYLARGE_EDGE_H */
